package engine

import (
	"strings"

	"github.com/annslicer/annslicer/tree"
)

// The current-layout tree of an anndata < 0.7 input (merge_legacy.go),
// made anew at each Root from what inspectLegacy found; its arrays open
// the input's own when they are asked for.

func (v *legacyView) root() (tree.Group, error) {
	base, err := v.src.Root()
	if err != nil {
		return nil, err
	}
	attrs, err := base.Attrs()
	if err != nil {
		base.Close()
		return nil, err
	}
	r := &vgroup{path: "/", attrs: attrs, closer: base.Close}
	raw := false
	for _, k := range v.kids {
		switch {
		case strings.HasPrefix(k.Name, "raw."):
			// anndata reads raw.X, raw.var and raw.varm as raw (and
			// nothing else of that name)
			if !raw {
				raw = true
				r.kids = append(r.kids, v.rawKid(base))
			}
		case v.frames[k.Name] != nil:
			r.kids = append(r.kids, v.frameKid(base, k.Name, k.Name, "/"+k.Name))
		case v.mappings[k.Name]:
			r.kids = append(r.kids, mappingKid(base, k.Name, k.Name, "/"+k.Name))
		case k.Name == "X":
			r.kids = append(r.kids, matrixKid(base, "X", "X", k.IsGroup))
		case k.Name == "uns" && len(v.hideUns) > 0:
			r.kids = append(r.kids, vkid{name: "uns", group: func() (tree.Group, error) {
				g, err := base.Group("uns")
				if err != nil {
					return nil, err
				}
				return &hideGroup{inGroup: g, hide: v.hideUns}, nil
			}})
		default:
			r.kids = append(r.kids, passKid(base, k))
		}
	}
	if len(v.graphs) > 0 {
		r.kids = append(r.kids, v.obspKid(base))
	}
	// anndata reads a missing mapping as an empty one and writes it so:
	// with them, the view merges with current files too, which have them
	for _, name := range []string{"obsm", "varm", "layers", "obsp", "varp"} {
		if r.kid(name) == nil {
			r.kids = append(r.kids, emptyDict("", name))
		}
	}
	return r, nil
}

// passKid is member k of the input's root, as it is.
func passKid(base tree.Group, k tree.Child) vkid {
	if k.IsGroup {
		return vkid{name: k.Name, group: func() (tree.Group, error) { return base.Group(k.Name) }}
	}
	return vkid{name: k.Name, array: func() (tree.Array, error) { return base.Array(k.Name) }}
}

// currentMatrixAttrs are the attributes current anndata writes for a
// matrix stored with old ones (h5sparse_format; none for a dense array).
func currentMatrixAttrs(attrs tree.Attrs, isGroup bool) tree.Attrs {
	if tree.AttrString(attrs, "encoding-type") != "" {
		return attrs
	}
	if !isGroup {
		return encAttrs("array", "0.2.0")
	}
	f := tree.AttrString(attrs, "h5sparse_format")
	shape, ok := tree.AttrInts(attrs, "h5sparse_shape")
	if f == "" || !ok {
		return attrs
	}
	return encAttrs(f+"_matrix", "0.1.0", "shape", shape)
}

// matrixKid is the input's matrix at path p (X, raw.X, a graph), named
// name, with current attributes.
func matrixKid(base tree.Group, p, name string, isGroup bool) vkid {
	if isGroup {
		return vkid{name: name, group: func() (tree.Group, error) {
			g, err := openGroupAt(base, p)
			if err != nil {
				return nil, err
			}
			attrs, err := g.Attrs()
			if err != nil {
				g.Close()
				return nil, err
			}
			return &attrsGroup{inGroup: g, attrs: currentMatrixAttrs(attrs, true)}, nil
		}}
	}
	return vkid{name: name, array: func() (tree.Array, error) {
		a, err := openArrayAt(base, p)
		if err != nil {
			return nil, err
		}
		attrs, err := a.Attrs()
		if err != nil {
			a.Close()
			return nil, err
		}
		return &attrsArray{Array: a, attrs: currentMatrixAttrs(attrs, false)}, nil
	}}
}

// frameKid is the dataframe of record array rec, named name, at path.
func (v *legacyView) frameKid(base tree.Group, rec, name, path string) vkid {
	f := v.frames[rec]
	return vkid{name: name, group: func() (tree.Group, error) {
		cols := make([]string, 0, len(f.fields))
		for _, fl := range f.fields {
			cols = append(cols, fl.Name)
		}
		g := &vgroup{path: path, attrs: encAttrs("dataframe", "0.2.0", "_index", f.index.Name, "column-order", cols)}
		g.kids = append(g.kids, strKid(path, f.index.Name, f.strs[f.index.Name]))
		for _, fl := range f.fields {
			p := path + "/" + fl.Name
			field := vkid{name: fl.Name, array: func() (tree.Array, error) {
				a, err := base.Array(rec)
				if err != nil {
					return nil, err
				}
				return newFieldArray(a, fl, p, true), nil
			}}
			switch s, c := f.strs[fl.Name], f.cats[fl.Name]; {
			case s != nil:
				g.kids = append(g.kids, strKid(path, fl.Name, s))
			case c != nil:
				g.kids = append(g.kids, catKid(base, p, fl.Name, field, c))
			default:
				g.kids = append(g.kids, field)
			}
		}
		return g, nil
	}}
}

func strKid(dir, name string, strs []string) vkid {
	return vkid{name: name, array: func() (tree.Array, error) {
		return &strArray{path: dir + "/" + name, strs: strs}, nil
	}}
}

// catKid is a column of codes with its categories from uns, as the
// categorical anndata makes of it (pd.Categorical.from_codes: not ordered).
func catKid(base tree.Group, path, name string, codes vkid, c *legacyCat) vkid {
	codes.name = "codes"
	cats := vkid{name: "categories", array: func() (tree.Array, error) {
		a, err := openArrayAt(base, "uns/"+c.member)
		if err != nil {
			return nil, err
		}
		return &attrsArray{Array: a, attrs: encAttrs("array", "0.2.0")}, nil
	}}
	if c.strs != nil {
		cats = strKid(path, "categories", c.strs)
	}
	return vkid{name: name, group: func() (tree.Group, error) {
		return &vgroup{path: path, attrs: encAttrs("categorical", "0.2.0", "ordered", false), kids: []vkid{cats, codes}}, nil
	}}
}

// mappingKid is record array rec (obsm, varm) as a mapping of one array
// per field, named name, at path.
func mappingKid(base tree.Group, rec, name, path string) vkid {
	return vkid{name: name, group: func() (tree.Group, error) {
		a, err := base.Array(rec)
		if err != nil {
			return nil, err
		}
		dt := a.DType()
		a.Close()
		g := &vgroup{path: path, attrs: encAttrs("dict", "0.1.0")}
		for _, f := range dt.Rec.Fields {
			if f.Name == "" {
				continue
			}
			g.kids = append(g.kids, vkid{name: f.Name, array: func() (tree.Array, error) {
				a, err := base.Array(rec)
				if err != nil {
					return nil, err
				}
				return newFieldArray(a, f, path+"/"+f.Name, false), nil
			}})
		}
		return g, nil
	}}
}

// rawKid is raw.X, raw.var and raw.varm as the raw group.
func (v *legacyView) rawKid(base tree.Group) vkid {
	return vkid{name: "raw", group: func() (tree.Group, error) {
		g := &vgroup{path: "/raw", attrs: encAttrs("raw", "0.1.0")}
		for _, k := range v.kids {
			switch {
			case k.Name == "raw.X":
				g.kids = append(g.kids, matrixKid(base, "raw.X", "X", k.IsGroup))
			case k.Name == "raw.var" && v.frames[k.Name] != nil:
				g.kids = append(g.kids, v.frameKid(base, "raw.var", "var", "/raw/var"))
			case k.Name == "raw.varm" && v.mappings[k.Name]:
				g.kids = append(g.kids, mappingKid(base, "raw.varm", "varm", "/raw/varm"))
			case k.Name == "raw.var" || k.Name == "raw.varm":
				kk := passKid(base, k)
				kk.name = strings.TrimPrefix(k.Name, "raw.")
				g.kids = append(g.kids, kk)
			}
		}
		if g.kid("varm") == nil { // as anndata writes raw
			g.kids = append(g.kids, emptyDict("/raw", "varm"))
		}
		return g, nil
	}}
}

// obspKid holds the neighbors graphs anndata moves out of uns.
func (v *legacyView) obspKid(base tree.Group) vkid {
	return vkid{name: "obsp", group: func() (tree.Group, error) {
		uns, err := base.Group("uns")
		if err != nil {
			return nil, err
		}
		defer uns.Close()
		ng, err := uns.Group("neighbors")
		if err != nil {
			return nil, err
		}
		kids, err := ng.Children()
		ng.Close()
		if err != nil {
			return nil, err
		}
		g := &vgroup{path: "/obsp", attrs: encAttrs("dict", "0.1.0")}
		for _, k := range kids {
			for _, name := range v.graphs {
				if k.Name == name {
					g.kids = append(g.kids, matrixKid(base, "uns/neighbors/"+name, name, k.IsGroup))
				}
			}
		}
		return g, nil
	}}
}

// emptyDict is an empty mapping, member name of the group at dir.
func emptyDict(dir, name string) vkid {
	return vkid{name: name, group: func() (tree.Group, error) {
		return &vgroup{path: dir + "/" + name, attrs: encAttrs("dict", "0.1.0")}, nil
	}}
}

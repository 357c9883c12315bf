package engine

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// The nodes of the current-layout view of an anndata < 0.7 input
// (merge_legacy.go): groups made of members opened on demand, a record
// field as an array of its own, strings decoded once, and source nodes
// with the attributes current anndata writes. They read the input through
// its own tree, so h5ad and zarr inputs are viewed alike.

func encAttrs(typ, version string, kv ...any) tree.Attrs {
	a := tree.Attrs{"encoding-type": json.RawMessage(`"` + typ + `"`), "encoding-version": json.RawMessage(`"` + version + `"`)}
	for i := 0; i+1 < len(kv); i += 2 {
		a = tree.WithAttr(a, kv[i].(string), kv[i+1])
	}
	return a
}

// vkid is a member of a vgroup: exactly one of group and array is set.
type vkid struct {
	name  string
	group func() (tree.Group, error)
	array func() (tree.Array, error)
}

// vgroup is a group of the view: its attributes and members are the
// view's; the members are opened when asked for. Paths with slashes are
// walked member by member, as the engine asks "obs/louvain/codes".
type vgroup struct {
	path   string
	attrs  tree.Attrs
	kids   []vkid
	closer func() // the root: releases the input's root
}

func (g *vgroup) Path() string               { return g.path }
func (g *vgroup) Attrs() (tree.Attrs, error) { return g.attrs, nil }
func (g *vgroup) Close() {
	if g.closer != nil {
		g.closer()
		g.closer = nil
	}
}

func (g *vgroup) Children() ([]tree.Child, error) {
	out := make([]tree.Child, len(g.kids))
	for i, k := range g.kids {
		out[i] = tree.Child{Name: k.name, IsGroup: k.group != nil}
	}
	return out, nil
}

func (g *vgroup) kid(name string) *vkid {
	for i := range g.kids {
		if g.kids[i].name == name {
			return &g.kids[i]
		}
	}
	return nil
}

func (g *vgroup) Group(name string) (tree.Group, error) {
	head, rest, deep := strings.Cut(strings.Trim(name, "/"), "/")
	k := g.kid(head)
	if k == nil || k.group == nil {
		return nil, fmt.Errorf("%s: no such group", nodePath(g.path, name))
	}
	sg, err := k.group()
	if err != nil || !deep {
		return sg, err
	}
	defer sg.Close()
	return sg.Group(rest)
}

func (g *vgroup) Array(name string) (tree.Array, error) {
	head, rest, deep := strings.Cut(strings.Trim(name, "/"), "/")
	k := g.kid(head)
	switch {
	case k == nil:
	case !deep && k.array != nil:
		return k.array()
	case deep && k.group != nil:
		sg, err := k.group()
		if err != nil {
			return nil, err
		}
		defer sg.Close()
		return sg.Array(rest)
	}
	return nil, fmt.Errorf("%s: no such array", nodePath(g.path, name))
}

// openGroupAt opens the input's group at a slash path, member by member.
func openGroupAt(root tree.Group, p string) (tree.Group, error) {
	parts := strings.Split(p, "/")
	g, err := root.Group(parts[0])
	for _, name := range parts[1:] {
		if err != nil {
			return nil, err
		}
		var sg tree.Group
		sg, err = g.Group(name)
		g.Close()
		g = sg
	}
	return g, err
}

// openArrayAt opens the input's array at a slash path.
func openArrayAt(root tree.Group, p string) (tree.Array, error) {
	dir, base := splitElemPath(p)
	if dir == "" {
		return root.Array(base)
	}
	g, err := openGroupAt(root, dir)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	return g.Array(base)
}

// inGroup names an embedded input group (a field named Group would
// clash with the method).
type inGroup = tree.Group

// attrsGroup is an input's group with the view's attributes (a sparse
// matrix of h5sparse attributes as current anndata describes it).
type attrsGroup struct {
	inGroup
	attrs tree.Attrs
}

func (g *attrsGroup) Attrs() (tree.Attrs, error) { return g.attrs, nil }

// attrsArray is an input's array with the view's attributes. Its rows are
// the input's own reader, so where they lie plainly in a file the merge
// still copies them file to file.
type attrsArray struct {
	tree.Array
	attrs tree.Attrs
}

func (a *attrsArray) Attrs() (tree.Attrs, error) { return a.attrs, nil }

// fieldArray is field f of a 1-D record array as an array of its own:
// (rows,) for a scalar field of a dataframe, (rows, *f.Shape) for a
// sub-array, and (rows, 1) for a scalar field of obsm, as anndata (and
// zarrad.Prepare, for a zarr shard) makes an embedding of one.
type fieldArray struct {
	rec   tree.Array // owned
	f     zarr.Field
	path  string
	shape []int64
}

func newFieldArray(rec tree.Array, f zarr.Field, path string, column bool) *fieldArray {
	shape := []int64{rec.Shape()[0]}
	for _, d := range f.Shape {
		shape = append(shape, int64(d))
	}
	if f.Shape == nil && !column {
		shape = append(shape, 1)
	}
	return &fieldArray{rec: rec, f: f, path: path, shape: shape}
}

func (a *fieldArray) Path() string               { return a.path }
func (a *fieldArray) Close()                     { a.rec.Close() }
func (a *fieldArray) Attrs() (tree.Attrs, error) { return encAttrs("array", "0.2.0"), nil }
func (a *fieldArray) Shape() []int64             { return a.shape }
func (a *fieldArray) DType() tree.DType          { return a.f.Type }
func (a *fieldArray) Rows() tree.RowReader {
	return &fieldRows{rr: a.rec.Rows(), f: a.f, recSize: int64(a.rec.DType().Size), path: a.path}
}
func (a *fieldArray) Strings([]int64) ([]string, error) {
	return nil, fmt.Errorf("%s holds numbers, not strings", a.path)
}

type fieldRows struct {
	rr      tree.RowReader
	f       zarr.Field
	recSize int64
	path    string
}

func (r *fieldRows) RowBytes() int64 { return int64(r.f.Size()) }

// ReadRows reads the records of the rows asked for, a window at a time,
// and cuts the field out of each.
func (r *fieldRows) ReadRows(p []byte, row0 int64) error {
	fs := int64(r.f.Size())
	if int64(len(p))%fs != 0 {
		return fmt.Errorf("%s: %d bytes are not whole rows of %d", r.path, len(p), fs)
	}
	step := max(1, int64(mergeWindow)/r.recSize)
	for done := int64(0); done < int64(len(p))/fs; done += step {
		k := min(step, int64(len(p))/fs-done)
		bp := image.GetBuf(k * r.recSize)
		buf := (*bp)[:k*r.recSize]
		err := r.rr.ReadRows(buf, row0+done)
		if err == nil {
			r.f.Cut(p[done*fs:(done+k)*fs], buf, int(r.recSize))
		}
		image.PutBuf(bp)
		if err != nil {
			return err
		}
	}
	return nil
}

// strArray is a string array held decoded: a record's fixed-length
// string field, which current anndata writes as a string array.
type strArray struct {
	path string
	strs []string
}

func (a *strArray) Path() string { return a.path }
func (a *strArray) Close()       {}
func (a *strArray) Attrs() (tree.Attrs, error) {
	return encAttrs("string-array", "0.2.0"), nil
}
func (a *strArray) Shape() []int64       { return []int64{int64(len(a.strs))} }
func (a *strArray) DType() tree.DType    { return tree.DType{Kind: 'O', Order: '|'} }
func (a *strArray) Rows() tree.RowReader { return a }
func (a *strArray) RowBytes() int64      { return 0 }
func (a *strArray) ReadRows([]byte, int64) error {
	return fmt.Errorf("%s holds variable-length strings, read with Strings", a.path)
}

func (a *strArray) Strings(rows []int64) ([]string, error) {
	if rows == nil {
		return append([]string(nil), a.strs...), nil
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		if r < 0 || r >= int64(len(a.strs)) {
			return nil, fmt.Errorf("%s: row %d outside its %d strings", a.path, r, len(a.strs))
		}
		out[i] = a.strs[r]
	}
	return out, nil
}

// hideGroup is an input's group without some members; hide[name] nil
// hides the member, a non-nil map hides members below it.
type hideGroup struct {
	inGroup
	hide map[string]map[string]bool
}

func (h *hideGroup) Children() ([]tree.Child, error) {
	kids, err := h.inGroup.Children()
	if err != nil {
		return nil, err
	}
	out := kids[:0:0]
	for _, k := range kids {
		if sub, ok := h.hide[k.Name]; !ok || sub != nil {
			out = append(out, k)
		}
	}
	return out, nil
}

func (h *hideGroup) Group(name string) (tree.Group, error) {
	head, rest, deep := strings.Cut(strings.Trim(name, "/"), "/")
	sub, ok := h.hide[head]
	switch {
	case ok && sub == nil:
		return nil, fmt.Errorf("%s: no such group", nodePath(h.Path(), name))
	case !ok:
		return h.inGroup.Group(name)
	}
	g, err := h.inGroup.Group(head)
	if err != nil {
		return nil, err
	}
	hg := &hideGroup{inGroup: g, hide: map[string]map[string]bool{}}
	for k := range sub {
		hg.hide[k] = nil
	}
	if !deep {
		return hg, nil
	}
	defer hg.Close()
	return hg.Group(rest)
}

func (h *hideGroup) Array(name string) (tree.Array, error) {
	head, rest, deep := strings.Cut(strings.Trim(name, "/"), "/")
	sub, ok := h.hide[head]
	if ok && (sub == nil || deep && sub[strings.SplitN(rest, "/", 2)[0]]) {
		return nil, fmt.Errorf("%s: no such array", nodePath(h.Path(), name))
	}
	return h.inGroup.Array(name)
}

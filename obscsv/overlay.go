package obscsv

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/annslicer/annslicer/tree"
)

// Overlay returns a source whose obs holds `column` as that categorical
// (replacing an obs column of the same name), everything else as src.
//
// The overlay is a tree of in-memory nodes over src's, so the rules take
// obs/column by rows like any categorical and every encoder writes it as
// it writes the others: codes in the smallest signed integer pandas gives
// (int8 below 127 categories...), categories as strings, ordered false. A
// replaced column keeps its place in obs's column-order; a new one comes
// last. The overlay lists the paths it changes in Overlaid, so an h5ad
// encoder never copies them from src's file. It borrows src: close src,
// not the overlay, when done.
func Overlay(src *tree.Source, column string, codes []int32, categories []string) (*tree.Source, error) {
	if column == "" || strings.Contains(column, "/") {
		return nil, fmt.Errorf("%s: %q cannot be an obs column name", src.Path, column)
	}
	if int64(len(codes)) != src.NObs {
		return nil, fmt.Errorf("%s: %d codes for %d cells", src.Path, len(codes), src.NObs)
	}
	seen := make(map[string]bool, len(categories))
	for _, c := range categories {
		if seen[c] {
			return nil, fmt.Errorf("%s: obs column %q: category %q appears twice", src.Path, column, c)
		}
		seen[c] = true
	}
	for i, c := range codes {
		if c < -1 || int(c) >= len(categories) {
			return nil, fmt.Errorf("%s: obs column %q: code %d of cell %d is not one of its %d categories", src.Path, column, c, i, len(categories))
		}
	}
	o := &overlay{src: src, column: column, cats: categories}
	o.dt, o.codes = codeBytes(codes, len(categories))
	if err := o.inspect(); err != nil {
		return nil, err
	}
	over := []string{"/obs/" + column}
	if o.hideOld {
		over = append(over, "/obs/__categories")
	}
	return &tree.Source{Path: src.Path, NObs: src.NObs, Native: src.Native, Overlaid: over, Parts: src.Parts,
		Root: func() (tree.Group, error) {
			g, err := src.Root()
			if err != nil {
				return nil, err
			}
			return &rootNode{base: g, o: o}, nil
		}}, nil
}

// codeBytes packs the codes in the dtype pandas' Categorical gives them
// for n categories (coerce_indexer_dtype), which anndata writes as is.
func codeBytes(codes []int32, n int) (tree.DType, []byte) {
	size := 8
	switch {
	case n < 127:
		size = 1
	case n < 32767:
		size = 2
	case n < 2147483647:
		size = 4
	}
	order := byte('<')
	if size == 1 {
		order = '|'
	}
	raw := make([]byte, len(codes)*size)
	for i, c := range codes {
		switch size {
		case 1:
			raw[i] = byte(int8(c))
		case 2:
			binary.LittleEndian.PutUint16(raw[2*i:], uint16(int16(c)))
		case 4:
			binary.LittleEndian.PutUint32(raw[4*i:], uint32(c))
		default:
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(int64(c)))
		}
	}
	return tree.DType{Kind: 'i', Size: size, Order: order}, raw
}

type overlay struct {
	src     *tree.Source
	column  string
	cats    []string
	dt      tree.DType
	codes   []byte
	hideOld bool // obs/__categories holds the replaced column's (anndata 0.7)
}

// inspect checks src has an obs dataframe the column can join, and finds
// what of the replaced column must be hidden.
func (o *overlay) inspect() error {
	root, err := o.src.Root()
	if err != nil {
		return fmt.Errorf("%s: %w", o.src.Path, err)
	}
	defer root.Close()
	obs, err := obsGroup(o.src, root)
	if err != nil {
		return err
	}
	defer obs.Close()
	attrs, err := obs.Attrs()
	if err != nil {
		return fmt.Errorf("%s: %w", o.src.Path, err)
	}
	if tree.AttrString(attrs, "_index") == o.column {
		return fmt.Errorf("%s: %q is the name of obs's index array, not a column; name the CSV column otherwise", o.src.Path, o.column)
	}
	old, err := tree.ChildGroup(obs, "__categories")
	if err != nil {
		return fmt.Errorf("%s: %w", o.src.Path, err)
	}
	if old != nil {
		defer old.Close()
		kids, err := old.Children()
		if err != nil {
			return fmt.Errorf("%s: %w", o.src.Path, err)
		}
		for _, k := range kids {
			o.hideOld = o.hideOld || k.Name == o.column
		}
	}
	return nil
}

// obsGroup opens src's obs, which must be a dataframe group (anndata
// 0.7 on; older files hold one record array).
func obsGroup(src *tree.Source, root tree.Group) (tree.Group, error) {
	kids, err := root.Children()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.Path, err)
	}
	for _, k := range kids {
		if k.Name != "obs" {
			continue
		}
		if !k.IsGroup {
			return nil, fmt.Errorf("%s: obs is one record array (anndata < 0.7), which a CSV column cannot join; rewrite the file with anndata >= 0.7", src.Path)
		}
		g, err := root.Group("obs")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.Path, err)
		}
		return g, nil
	}
	return nil, fmt.Errorf("%s: no obs; not an AnnData file", src.Path)
}

// splitFirst splits "a/b/c" into "a" and "b/c".
func splitFirst(p string) (string, string, bool) {
	p = strings.Trim(p, "/")
	head, rest, ok := strings.Cut(p, "/")
	return head, rest, ok
}

// base is the source node an overlay node wraps (a named embedding,
// so the wrappers can define Group).
type base = tree.Group

// rootNode is src's root with obs overlaid.
type rootNode struct {
	base
	o *overlay
}

func (r *rootNode) Group(name string) (tree.Group, error) {
	head, rest, deep := splitFirst(name)
	if head != "obs" {
		return r.base.Group(name)
	}
	g, err := r.base.Group("obs")
	if err != nil {
		return nil, err
	}
	obs := &obsNode{base: g, o: r.o}
	if !deep {
		return obs, nil
	}
	defer obs.Close()
	return obs.Group(rest)
}

func (r *rootNode) Array(name string) (tree.Array, error) {
	head, rest, deep := splitFirst(name)
	if head != "obs" || !deep {
		return r.base.Array(name)
	}
	g, err := r.base.Group("obs")
	if err != nil {
		return nil, err
	}
	obs := &obsNode{base: g, o: r.o}
	defer obs.Close()
	return obs.Array(rest)
}

// obsNode is src's obs with the column replaced or added.
type obsNode struct {
	base
	o *overlay
}

func (g *obsNode) Attrs() (tree.Attrs, error) {
	attrs, err := g.base.Attrs()
	if err != nil {
		return nil, err
	}
	var order []string
	if raw, ok := attrs["column-order"]; ok {
		// h5py reads an empty list back as float64 []: no names either way
		var any []any
		if err := json.Unmarshal(raw, &any); err != nil {
			return nil, fmt.Errorf("%s: column-order is not a list: %v", g.Path(), err)
		}
		for _, v := range any {
			if s, ok := v.(string); ok {
				order = append(order, s)
			}
		}
	}
	for _, n := range order {
		if n == g.o.column {
			return attrs, nil // replaced in place
		}
	}
	return tree.WithAttr(attrs, "column-order", append(order, g.o.column)), nil
}

func (g *obsNode) Children() ([]tree.Child, error) {
	kids, err := g.base.Children()
	if err != nil {
		return nil, err
	}
	out := make([]tree.Child, 0, len(kids)+1)
	found := false
	for _, k := range kids {
		if k.Name == g.o.column {
			k.IsGroup, found = true, true
		}
		out = append(out, k)
	}
	if !found {
		out = append(out, tree.Child{Name: g.o.column, IsGroup: true})
	}
	return out, nil
}

func (g *obsNode) Group(name string) (tree.Group, error) {
	head, rest, deep := splitFirst(name)
	switch {
	case head == g.o.column:
		c := &catNode{o: g.o, path: nodePath(g.Path(), head)}
		if deep {
			return nil, fmt.Errorf("%s/%s: no such group", c.path, rest)
		}
		return c, nil
	case head == "__categories" && g.o.hideOld:
		old, err := g.base.Group("__categories")
		if err != nil {
			return nil, err
		}
		h := &hideNode{base: old, hide: g.o.column}
		if !deep {
			return h, nil
		}
		defer h.Close()
		return h.Group(rest)
	}
	return g.base.Group(name)
}

func (g *obsNode) Array(name string) (tree.Array, error) {
	head, rest, deep := splitFirst(name)
	switch {
	case head == g.o.column && deep:
		c := &catNode{o: g.o, path: nodePath(g.Path(), head)}
		return c.Array(rest)
	case head == g.o.column:
		return nil, fmt.Errorf("%s: a group (the CSV's categorical), not an array", nodePath(g.Path(), head))
	case head == "__categories" && g.o.hideOld && deep:
		if rest == g.o.column {
			return nil, fmt.Errorf("%s/%s: no such array", g.Path(), name)
		}
	}
	return g.base.Array(name)
}

func nodePath(dir, name string) string { return strings.TrimSuffix(dir, "/") + "/" + name }

// hideNode is anndata 0.7's obs/__categories without the replaced
// column's categories (the new column holds its own).
type hideNode struct {
	base
	hide string
}

func (h *hideNode) Children() ([]tree.Child, error) {
	kids, err := h.base.Children()
	if err != nil {
		return nil, err
	}
	out := kids[:0:0]
	for _, k := range kids {
		if k.Name != h.hide {
			out = append(out, k)
		}
	}
	return out, nil
}

func (h *hideNode) Group(name string) (tree.Group, error) {
	if head, _, _ := splitFirst(name); head == h.hide {
		return nil, fmt.Errorf("%s/%s: no such group", h.Path(), name)
	}
	return h.base.Group(name)
}

func (h *hideNode) Array(name string) (tree.Array, error) {
	if head, _, _ := splitFirst(name); head == h.hide {
		return nil, fmt.Errorf("%s/%s: no such array", h.Path(), name)
	}
	return h.base.Array(name)
}

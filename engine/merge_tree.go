package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/annslicer/annslicer/tree"
)

// Reading a merge input's elements by path through package tree.

func splitElemPath(p string) (dir, base string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

// groupAtPath opens the group at path p ("" is the root itself, not to be
// closed: close is a no-op then).
func groupAtPath(root tree.Group, p string) (g tree.Group, close func(), err error) {
	if p == "" {
		return root, func() {}, nil
	}
	g, err = root.Group(p)
	if err != nil {
		return nil, nil, err
	}
	return g, g.Close, nil
}

// statAt reports whether element p exists, and whether it is a group.
func statAt(root tree.Group, p string) (exists, isGroup bool) {
	if p == "" {
		return true, true
	}
	dir, base := splitElemPath(p)
	g, done, err := groupAtPath(root, dir)
	if err != nil {
		return false, false
	}
	defer done()
	kids, err := g.Children()
	if err != nil {
		return false, false
	}
	for _, k := range kids {
		if k.Name == base {
			return true, k.IsGroup
		}
	}
	return false, false
}

func hasAt(root tree.Group, p string) bool {
	ok, _ := statAt(root, p)
	return ok
}

func isGroupAt(root tree.Group, p string) bool {
	_, g := statAt(root, p)
	return g
}

// isNullAt reports whether element p is anndata's None (encoding-type
// "null", as anndata >= 0.12 writes an absent raw to zarr).
func isNullAt(root tree.Group, p string) bool {
	exists, isGroup := statAt(root, p)
	if !exists {
		return false
	}
	var attrs tree.Attrs
	if isGroup {
		attrs, _ = attrsAtPath(root, p)
	} else if a, err := root.Array(p); err == nil {
		attrs, _ = a.Attrs()
		a.Close()
	}
	return tree.AttrString(attrs, "encoding-type") == "null"
}

// attrsAtPath reads the attributes of group p.
func attrsAtPath(root tree.Group, p string) (tree.Attrs, error) {
	g, done, err := groupAtPath(root, p)
	if err != nil {
		return nil, err
	}
	defer done()
	return g.Attrs()
}

// elemAttrs reads the attributes of the group or the array at p.
func elemAttrs(root tree.Group, p string, isGroup bool) (tree.Attrs, error) {
	if isGroup {
		return attrsAtPath(root, p)
	}
	a, err := root.Array(p)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	return a.Attrs()
}

// childrenAt lists group p's members, sorted by name (HDF5 and zarr list
// them in different orders).
func childrenAt(root tree.Group, p string) ([]tree.Child, error) {
	g, done, err := groupAtPath(root, p)
	if err != nil {
		return nil, err
	}
	defer done()
	kids, err := g.Children()
	if err != nil {
		return nil, err
	}
	kids = slices.Clone(kids)
	slices.SortFunc(kids, func(a, b tree.Child) int { return strings.Compare(a.Name, b.Name) })
	return kids, nil
}

// intsAt reads n elements of a 1-D integer array from element e0.
func intsAt(a tree.Array, e0, n int64) ([]int64, error) {
	ic, ok := intCodecOf(a.DType())
	if !ok {
		return nil, fmt.Errorf("%s is not an integer array", a.Path())
	}
	raw := make([]byte, n*int64(ic.Size))
	if err := a.Rows().ReadRows(raw, e0); err != nil {
		return nil, err
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = ic.Get(raw[i*ic.Size:])
	}
	return out, nil
}

func isInt(dt tree.DType) bool { return dt.Kind == 'i' || dt.Kind == 'u' }

// outInts is the dtype of signed little-endian integers of w bytes.
func outInts(w int) tree.DType {
	o := byte('<')
	if w == 1 {
		o = '|'
	}
	return tree.DType{Kind: 'i', Size: w, Order: o}
}

// varIndex reads a var dataframe's index and the name of its array.
func varIndex(src *tree.Source, root tree.Group, p string) ([]string, string, error) {
	attrs, err := attrsAtPath(root, p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %v", src.Path, err)
	}
	if _, ok := attrs["_index"]; !ok {
		return nil, "", fmt.Errorf("%s: %s has no _index attribute; not an AnnData dataframe", src.Path, p)
	}
	idx := tree.AttrString(attrs, "_index")
	a, err := root.Array(p + "/" + idx)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %s index: %v", src.Path, p, err)
	}
	defer a.Close()
	if a.DType().Kind != 'O' || len(a.Shape()) != 1 {
		return nil, "", fmt.Errorf("%s: the index of %s is not a string array", src.Path, p)
	}
	names, err := a.Strings(nil)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %s: %v", src.Path, a.Path(), err)
	}
	return names, idx, nil
}

// ---------------------------------------------------------------- equality

// sameElement reports whether element p holds the same content in both
// inputs: the same members, dtypes, shapes and values, and the same
// anndata attributes.
func sameElement(a, b tree.Group, p, skip string) (bool, error) {
	if p == skip {
		return true, nil
	}
	ea, ga := statAt(a, p)
	eb, gb := statAt(b, p)
	if ea != eb || ga != gb {
		return false, nil
	}
	if !ga {
		return sameArray(a, b, p)
	}
	aa, err := attrsAtPath(a, p)
	if err != nil {
		return false, err
	}
	ab, err := attrsAtPath(b, p)
	if err != nil {
		return false, err
	}
	if !sameAttrs(aa, ab) {
		return false, nil
	}
	ka, err := childrenAt(a, p)
	if err != nil {
		return false, err
	}
	kb, err := childrenAt(b, p)
	if err != nil {
		return false, err
	}
	if !slices.Equal(ka, kb) {
		return false, nil
	}
	for _, k := range ka {
		if same, err := sameElement(a, b, p+"/"+k.Name, skip); err != nil || !same {
			return false, err
		}
	}
	return true, nil
}

// sameAttrs compares the attributes anndata reads.
func sameAttrs(a, b tree.Attrs) bool {
	for _, name := range []string{"encoding-type", "encoding-version", "_index", "column-order", "ordered"} {
		ra, oka := a[name]
		rb, okb := b[name]
		if oka != okb || (oka && !sameJSON(ra, rb)) {
			return false
		}
	}
	return true
}

func sameJSON(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func sameArray(ra, rb tree.Group, p string) (bool, error) {
	a, err := ra.Array(p)
	if err != nil {
		return false, err
	}
	defer a.Close()
	b, err := rb.Array(p)
	if err != nil {
		return false, err
	}
	defer b.Close()
	if !slices.Equal(a.Shape(), b.Shape()) || a.DType() != b.DType() {
		return false, nil
	}
	aa, err := a.Attrs()
	if err != nil {
		return false, err
	}
	ab, err := b.Attrs()
	if err != nil {
		return false, err
	}
	if !sameAttrs(aa, ab) {
		return false, nil
	}
	if a.DType().Kind == 'O' {
		va, err := a.Strings(nil)
		if err != nil {
			return false, err
		}
		vb, err := b.Strings(nil)
		if err != nil {
			return false, err
		}
		return slices.Equal(va, vb), nil
	}
	if len(a.Shape()) == 0 {
		return false, nil // not compared: treated as different
	}
	ka, kb := a.Rows(), b.Rows()
	rows := a.Shape()[0]
	step := max(1, int64(mergeWindow)/max(1, ka.RowBytes()))
	for r := int64(0); r < rows; r += step {
		k := min(step, rows-r)
		ba, bb := make([]byte, k*ka.RowBytes()), make([]byte, k*kb.RowBytes())
		if err := ka.ReadRows(ba, r); err != nil {
			return false, err
		}
		if err := kb.ReadRows(bb, r); err != nil {
			return false, err
		}
		if !bytes.Equal(ba, bb) {
			return false, nil
		}
	}
	return true, nil
}

// mergeWindow bounds the bytes a fill or a comparison reads at once.
const mergeWindow = 8 << 20

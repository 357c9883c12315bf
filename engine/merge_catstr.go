package engine

import (
	"fmt"

	"github.com/annslicer/annslicer/tree"
)

// A string column that is categorical in some inputs and plain strings in
// others: anndata writes every string column it reads as a categorical,
// so a shard a user has edited holds a categorical where the untouched
// shards (written by the Python tool, which keeps strings) hold strings.
// The merge makes it a categorical: the categories united in order of
// first appearance, a plain input's values taking their place in the
// union in the order they appear, and that input's codes kept in memory
// (four bytes a cell, like the strings merge keeps anyway).

// stringsOf reads input e's plain string column p (nil, nil when it is
// not one).
func stringsOf(e *openInput, p string) ([]string, error) {
	if isGroupAt(e.root, p) {
		return nil, nil
	}
	a, err := e.root.Array(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", e.src.Path, p, err)
	}
	defer a.Close()
	if sh := a.Shape(); a.DType().Kind != 'O' || len(sh) != 1 || sh[0] != e.src.NObs {
		return nil, nil
	}
	strs, err := a.Strings(nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", e.src.Path, p, err)
	}
	return strs, nil
}

// isStringCategorical reports whether input e's element p is a
// categorical with string categories.
func isStringCategorical(e *openInput, p string) bool {
	attrs, err := attrsAtPath(e.root, p)
	if err != nil || tree.Encoding(attrs) != "categorical" {
		return false
	}
	cats, err := e.root.Array(p + "/categories")
	if err != nil {
		return false
	}
	defer cats.Close()
	return cats.DType().Kind == 'O'
}

// codesFor numbers strings by the union of categories, adding new values
// in order of appearance.
func (c *catMerge) codesFor(strs []string) []int32 {
	codes := make([]int32, len(strs))
	for k, v := range strs {
		codes[k] = c.code(v)
	}
	c.differ, c.ordered = true, false
	return codes
}

// catFromStrings takes input i's plain strings into categorical n.
func (m *merger) catFromStrings(n *mnode, e *openInput, i int, strs []string) {
	c := n.cat
	if c.codes == nil {
		c.codes = make([][]int32, len(m.inputs))
	}
	c.codes[i] = c.codesFor(strs)
}

// stringsBecomeCat turns string column n into a categorical when input i
// holds it as one: the strings of the inputs before become codes.
func (m *merger) stringsBecomeCat(n *mnode, e *openInput, i int) error {
	c := &catMerge{strs: true, catDT: tree.DType{Kind: 'O', Order: '|'}, codesW: 1, seen: true,
		pos: map[string]int32{}, to: make([][]int32, len(m.inputs)), codes: make([][]int32, len(m.inputs))}
	for j := 0; j < i; j++ {
		in := m.inputs[j]
		if n.absent != nil && n.absent[j] {
			continue
		}
		strs, err := m.strsOf(n).Slice(int(in.row0), int(in.row0+in.nobs))
		if err != nil {
			return err
		}
		c.codes[j] = c.codesFor(strs)
	}
	srcAt := map[string]tree.Attrs{}
	for _, s := range []string{"", "categories", "codes"} {
		p := n.path
		if s != "" {
			p += "/" + s
		}
		attrs, err := elemAttrs(e.root, p, s == "")
		if err != nil {
			return fmt.Errorf("%s: %s: %v", e.src.Path, p, err)
		}
		srcAt[s] = attrs
	}
	if n.strs != nil {
		n.strs.Close()
	}
	n.mkind, n.enc, n.cat, n.strs, n.srcAt = kCat, "categorical", c, nil, srcAt
	return nil
}

// int32Part serves codes held in memory as type oc.
func int32Part(vals []int32, oc Ints) mpart {
	return func(e *openInput, p []byte, off int64) error {
		return byUnits(p, off, int64(oc.Size), func(buf []byte, u0 int64) error {
			for j := 0; j*oc.Size < len(buf); j++ {
				oc.Put(buf[j*oc.Size:], int64(vals[u0+int64(j)]))
			}
			return nil
		})
	}
}

package obscsv

import (
	"encoding/json"
	"fmt"

	"github.com/annslicer/annslicer/tree"
)

// The overlaid column's nodes, in memory: a categorical group as anndata
// writes one (encoding-type categorical 0.2.0, ordered false), its codes
// (a plain array) and its categories (a string array).

func attrs(kv ...string) tree.Attrs {
	a := tree.Attrs{}
	for i := 0; i < len(kv); i += 2 {
		a[kv[i]] = json.RawMessage(kv[i+1])
	}
	return a
}

type catNode struct {
	o    *overlay
	path string
}

func (c *catNode) Path() string { return c.path }
func (c *catNode) Close()       {}
func (c *catNode) Attrs() (tree.Attrs, error) {
	return attrs("encoding-type", `"categorical"`, "encoding-version", `"0.2.0"`, "ordered", "false"), nil
}

func (c *catNode) Children() ([]tree.Child, error) {
	return []tree.Child{{Name: "categories"}, {Name: "codes"}}, nil
}

func (c *catNode) Group(name string) (tree.Group, error) {
	return nil, fmt.Errorf("%s/%s: no such group", c.path, name)
}

func (c *catNode) Array(name string) (tree.Array, error) {
	switch name {
	case "codes":
		return &codesNode{path: c.path + "/codes", dt: c.o.dt, raw: c.o.codes}, nil
	case "categories":
		return &catsNode{path: c.path + "/categories", cats: c.o.cats}, nil
	}
	return nil, fmt.Errorf("%s/%s: no such array", c.path, name)
}

// codesNode is the column's codes, one per cell.
type codesNode struct {
	path string
	dt   tree.DType
	raw  []byte
}

func (a *codesNode) Path() string { return a.path }
func (a *codesNode) Close()       {}
func (a *codesNode) Attrs() (tree.Attrs, error) {
	return attrs("encoding-type", `"array"`, "encoding-version", `"0.2.0"`), nil
}
func (a *codesNode) Shape() []int64       { return []int64{int64(len(a.raw) / a.dt.Size)} }
func (a *codesNode) DType() tree.DType    { return a.dt }
func (a *codesNode) Rows() tree.RowReader { return a }
func (a *codesNode) RowBytes() int64      { return int64(a.dt.Size) }

func (a *codesNode) ReadRows(p []byte, row0 int64) error {
	off := row0 * int64(a.dt.Size)
	if row0 < 0 || off+int64(len(p)) > int64(len(a.raw)) {
		return fmt.Errorf("%s: rows from %d (%d bytes) outside its %d cells", a.path, row0, len(p), len(a.raw)/a.dt.Size)
	}
	copy(p, a.raw[off:])
	return nil
}

func (a *codesNode) Strings([]int64) ([]string, error) {
	return nil, fmt.Errorf("%s holds integers, not strings", a.path)
}

// catsNode is the column's categories.
type catsNode struct {
	path string
	cats []string
}

func (a *catsNode) Path() string { return a.path }
func (a *catsNode) Close()       {}
func (a *catsNode) Attrs() (tree.Attrs, error) {
	return attrs("encoding-type", `"string-array"`, "encoding-version", `"0.2.0"`), nil
}
func (a *catsNode) Shape() []int64       { return []int64{int64(len(a.cats))} }
func (a *catsNode) DType() tree.DType    { return tree.DType{Kind: 'O', Order: '|'} }
func (a *catsNode) Rows() tree.RowReader { return noRows{a.path} }

func (a *catsNode) Strings(rows []int64) ([]string, error) {
	if rows == nil {
		return append([]string(nil), a.cats...), nil
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		if r < 0 || r >= int64(len(a.cats)) {
			return nil, fmt.Errorf("%s: row %d outside its %d categories", a.path, r, len(a.cats))
		}
		out[i] = a.cats[r]
	}
	return out, nil
}

// noRows is the row reader of a string array: strings are read with
// Strings, never as raw rows.
type noRows struct{ path string }

func (n noRows) RowBytes() int64 { return 0 }
func (n noRows) ReadRows([]byte, int64) error {
	return fmt.Errorf("%s holds variable-length strings, read with Strings", n.path)
}

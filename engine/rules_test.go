package engine

// The rules on an in-memory tree: no files, no Python. The tree is a tiny
// AnnData (CSR X, an obs frame with a categorical, a CSR obsp graph, var,
// uns); the plan of a shuffled shard is checked path by path: shapes,
// dtypes, attributes, and the bytes its fills make.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/annslicer/annslicer/tree"
)

type memNode struct {
	path  string
	attrs tree.Attrs
	// a group
	kids   []tree.Child
	groups map[string]*memNode
	arrays map[string]*memNode
	// an array
	dt    tree.DType
	shape []int64
	raw   []byte
	strs  []string
}

func (n *memNode) Path() string               { return n.path }
func (n *memNode) Attrs() (tree.Attrs, error) { return n.attrs, nil }
func (n *memNode) Close()                     {}
func (n *memNode) Children() ([]tree.Child, error) {
	return n.kids, nil
}

func (n *memNode) Group(name string) (tree.Group, error) {
	if g, ok := n.groups[name]; ok {
		return g, nil
	}
	return nil, fmt.Errorf("%s/%s: no such group", n.path, name)
}

func (n *memNode) Array(name string) (tree.Array, error) {
	if a, ok := n.arrays[name]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("%s/%s: no such array", n.path, name)
}

func (n *memNode) Shape() []int64       { return n.shape }
func (n *memNode) DType() tree.DType    { return n.dt }
func (n *memNode) Rows() tree.RowReader { return n }
func (n *memNode) RowBytes() int64 {
	b := int64(n.dt.Size)
	for _, d := range n.shape[min(1, len(n.shape)):] {
		b *= d
	}
	return b
}

func (n *memNode) ReadRows(p []byte, row0 int64) error {
	off := row0 * n.RowBytes()
	if off+int64(len(p)) > int64(len(n.raw)) {
		return fmt.Errorf("%s: read past the end", n.path)
	}
	copy(p, n.raw[off:])
	return nil
}

func (n *memNode) Strings(rows []int64) ([]string, error) {
	if rows == nil {
		return n.strs, nil
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = n.strs[r]
	}
	return out, nil
}

func attrs(kv ...any) tree.Attrs {
	a := tree.Attrs{}
	for i := 0; i < len(kv); i += 2 {
		raw, _ := json.Marshal(kv[i+1])
		a[kv[i].(string)] = raw
	}
	return a
}

func group(parent *memNode, name string, a tree.Attrs) *memNode {
	g := &memNode{path: strings.TrimSuffix(parent.path, "/") + "/" + name, attrs: a,
		groups: map[string]*memNode{}, arrays: map[string]*memNode{}}
	parent.kids = append(parent.kids, tree.Child{Name: name, IsGroup: true})
	parent.groups[name] = g
	return g
}

func le(vals any) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, vals)
	return b.Bytes()
}

func array(parent *memNode, name string, dt string, shape []int64, vals any) *memNode {
	a := &memNode{path: strings.TrimSuffix(parent.path, "/") + "/" + name, attrs: tree.Attrs{}, shape: shape}
	if s, ok := vals.([]string); ok {
		a.dt, a.strs = tree.DType{Kind: 'O', Order: '|'}, s
	} else {
		a.dt = tree.DType{Kind: dt[1], Size: int(dt[2] - '0'), Order: dt[0]}
		a.raw = le(vals)
	}
	parent.kids = append(parent.kids, tree.Child{Name: name})
	parent.arrays[name] = a
	return a
}

func csrGroup(parent *memNode, name string, shape []int64, data []float64, indices []int32, indptr []int64) {
	g := group(parent, name, attrs("encoding-type", "csr_matrix", "encoding-version", "0.1.0", "shape", shape))
	array(g, "data", "<f8", []int64{int64(len(data))}, data)
	array(g, "indices", "<i4", []int64{int64(len(indices))}, indices)
	array(g, "indptr", "<i8", []int64{int64(len(indptr))}, indptr)
}

// memAnnData: 4 cells, 3 genes.
func memAnnData() *tree.Source {
	root := &memNode{path: "/", attrs: attrs("encoding-type", "anndata", "encoding-version", "0.1.0"),
		groups: map[string]*memNode{}, arrays: map[string]*memNode{}}
	// X rows: 0: {0:1, 2:2}  1: {1:3}  2: {}  3: {0:4, 2:5}
	csrGroup(root, "X", []int64{4, 3}, []float64{1, 2, 3, 4, 5}, []int32{0, 2, 1, 0, 2}, []int64{0, 2, 3, 3, 5})
	obs := group(root, "obs", attrs("encoding-type", "dataframe", "_index", "_index", "column-order", []string{"n", "ct"}))
	array(obs, "_index", "", []int64{4}, []string{"a", "b", "c", "d"})
	array(obs, "n", "<i8", []int64{4}, []int64{10, 20, 30, 40})
	ct := group(obs, "ct", attrs("encoding-type", "categorical", "ordered", false))
	array(ct, "codes", "|i1", []int64{4}, []int8{0, 1, 0, 1})
	array(ct, "categories", "", []int64{2}, []string{"x", "y"})
	obsp := group(root, "obsp", attrs("encoding-type", "dict"))
	// graph rows: 0: {1:1, 3:2}  1: {0:3, 3:4}  2: {3:5}  3: {1:6, 2:7}
	csrGroup(obsp, "conn", []int64{4, 4}, []float64{1, 2, 3, 4, 5, 6, 7}, []int32{1, 3, 0, 3, 3, 1, 2}, []int64{0, 2, 4, 5, 7})
	v := group(root, "var", attrs("encoding-type", "dataframe", "_index", "_index", "column-order", []string{}))
	array(v, "_index", "", []int64{3}, []string{"g0", "g1", "g2"})
	uns := group(root, "uns", attrs("encoding-type", "dict"))
	array(uns, "k", "<i8", []int64{2}, []int64{7, 8})
	return &tree.Source{Path: "mem.h5ad", NObs: 4, Root: func() (tree.Group, error) { return root, nil }}
}

func planBytes(t *testing.T, a *tree.PlanArray) []byte {
	t.Helper()
	n := int64(a.DType.Size) * a.RowElems()
	if len(a.Shape) > 0 {
		n *= a.Shape[0]
	}
	raw := make([]byte, n)
	if err := a.Fill(raw, 0); err != nil {
		t.Fatalf("/%s: %v", a.Path, err)
	}
	// the same bytes made in two ranges, split inside an element
	if n > 3 {
		part := make([]byte, n)
		if err := a.Fill(part[:3], 0); err != nil {
			t.Fatal(err)
		}
		if err := a.Fill(part[3:], 3); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(part, raw) {
			t.Errorf("/%s: bytes made by range differ from the whole", a.Path)
		}
	}
	return raw
}

func TestRulesOnMemoryTree(t *testing.T) {
	src := memAnnData()
	rows := []int64{3, 1} // a shuffled shard: cells d, b
	z, err := PlanShard(src, rows)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if z.Cells != 2 {
		t.Errorf("Cells %d, want 2", z.Cells)
	}
	var groups []string
	gattrs := map[string]tree.Attrs{}
	for _, g := range z.Groups {
		groups = append(groups, g.Path)
		gattrs[g.Path] = g.Attrs
	}
	if want := []string{"", "X", "obs", "obs/ct", "obsp", "obsp/conn"}; !slices.Equal(groups, want) {
		t.Errorf("groups %q, want %q", groups, want)
	}
	if s, _ := tree.AttrInts(gattrs["X"], "shape"); !slices.Equal(s, []int64{2, 3}) {
		t.Errorf("X shape %v, want [2 3]", s)
	}
	if s, _ := tree.AttrInts(gattrs["obsp/conn"], "shape"); !slices.Equal(s, []int64{2, 2}) {
		t.Errorf("obsp/conn shape %v, want [2 2]", s)
	}
	if tree.AttrString(gattrs["obs/ct"], "encoding-type") != "categorical" {
		t.Errorf("obs/ct lost its attributes: %v", gattrs["obs/ct"])
	}
	var verb []string
	for _, v := range z.Verbatim {
		verb = append(verb, v.Path+"="+v.Node)
	}
	if want := []string{"obs/ct/categories=/obs/ct/categories", "var=/var", "uns=/uns"}; !slices.Equal(verb, want) {
		t.Errorf("verbatim %q, want %q", verb, want)
	}

	type want struct {
		dtype string
		shape []int64
		bytes []byte
		strs  []string
	}
	wants := map[string]want{
		"X/data":            {"<f8", []int64{3}, le([]float64{4, 5, 3}), nil},
		"X/indices":         {"<i4", []int64{3}, le([]int32{0, 2, 1}), nil},
		"X/indptr":          {"<i8", []int64{3}, le([]int64{0, 2, 3}), nil},
		"obs/_index":        {"|O", []int64{2}, nil, []string{"d", "b"}},
		"obs/n":             {"<i8", []int64{2}, le([]int64{40, 20}), nil},
		"obs/ct/codes":      {"|i1", []int64{2}, le([]int8{1, 1}), nil},
		"obsp/conn/data":    {"<f8", []int64{2}, le([]float64{6, 4}), nil},
		"obsp/conn/indices": {"<i4", []int64{2}, le([]int32{1, 0}), nil},
		"obsp/conn/indptr":  {"<i8", []int64{3}, le([]int64{0, 1, 2}), nil},
		"obs/ct/categories": {"|O", []int64{2}, nil, []string{"x", "y"}},
		"var/_index":        {"|O", []int64{3}, nil, []string{"g0", "g1", "g2"}},
		"uns/k":             {"<i8", []int64{2}, le([]int64{7, 8}), nil},
	}
	check := func(a *tree.PlanArray) {
		w, ok := wants[a.Path]
		if !ok {
			t.Errorf("unexpected array /%s", a.Path)
			return
		}
		delete(wants, a.Path)
		if a.DType.String() != w.dtype || !slices.Equal(a.Shape, w.shape) {
			t.Errorf("/%s: %s %v, want %s %v", a.Path, a.DType, a.Shape, w.dtype, w.shape)
			return
		}
		if w.strs != nil {
			if !slices.Equal(a.Strs, w.strs) {
				t.Errorf("/%s: %q, want %q", a.Path, a.Strs, w.strs)
			}
			return
		}
		if got := planBytes(t, a); !bytes.Equal(got, w.bytes) {
			t.Errorf("/%s: bytes %v, want %v", a.Path, got, w.bytes)
		}
	}
	for _, a := range z.Arrays {
		check(a)
	}
	for _, p := range []string{"obs/ct/categories", "var/_index", "uns/k"} {
		if _, ok := wants[p]; !ok {
			t.Errorf("/%s is in the plan before its verbatim element is expanded", p)
		}
	}
	n := len(z.Arrays)
	if err := z.ExpandVerbatim(); err != nil {
		t.Fatal(err)
	}
	if len(z.Verbatim) != 0 {
		t.Errorf("verbatim entries left after expansion: %v", z.Verbatim)
	}
	for _, a := range z.Arrays[n:] {
		check(a)
	}
	for p := range wants {
		t.Errorf("/%s missing from the plan", p)
	}
	groups = groups[:0]
	for _, g := range z.Groups {
		groups = append(groups, g.Path)
	}
	if !slices.Contains(groups, "var") || !slices.Contains(groups, "uns") {
		t.Errorf("expanded groups %q lack var or uns", groups)
	}
}

// A source's plans after the first make their lists at their size once
// (tree.Source.NewPlan): growing them anew for every shard was a third of
// the garbage of sizing a 100,000-shard mount.
func TestLaterPlansMakeTheirListsOnce(t *testing.T) {
	src := memAnnData()
	first, err := PlanShard(src, []int64{3, 1})
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	z, err := PlanShard(src, []int64{0, 2})
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	for _, l := range []struct {
		name     string
		len, cap int
	}{{"Groups", len(z.Groups), cap(z.Groups)}, {"Arrays", len(z.Arrays), cap(z.Arrays)},
		{"Holds", len(z.Holds), cap(z.Holds)}, {"Verbatim", len(z.Verbatim), cap(z.Verbatim)}} {
		if l.cap != l.len {
			t.Errorf("%s: %d made room for %d: grown, not made at the first plan's size", l.name, l.len, l.cap)
		}
	}
	if len(z.Groups) != len(first.Groups) || len(z.Arrays) != len(first.Arrays) {
		t.Errorf("the second plan has %d groups and %d arrays, the first %d and %d", len(z.Groups), len(z.Arrays), len(first.Groups), len(first.Arrays))
	}
}

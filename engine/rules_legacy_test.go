package engine

import (
	"bytes"
	"slices"
	"testing"

	"github.com/annslicer/annslicer/tree"
)

// anndata < 0.7's neighbors graphs in uns (h5sparse CSR, cells × cells)
// are induced on the shard's cells like obsp's; the rest of uns, and a
// "distances" that is not cells × cells, are copied whole.
func TestLegacyUnsGraphsAreInduced(t *testing.T) {
	src := memAnnData()
	root, _ := src.Root()
	uns := root.(*memNode).groups["uns"]
	nb := group(uns, "neighbors", attrs())
	// graph rows: 0: {1:1, 3:2}  1: {0:3, 3:4}  2: {3:5}  3: {1:6, 2:7}
	g := group(nb, "connectivities", attrs("h5sparse_format", "csr", "h5sparse_shape", []int64{4, 4}))
	array(g, "data", "<f8", []int64{7}, []float64{1, 2, 3, 4, 5, 6, 7})
	array(g, "indices", "<i4", []int64{7}, []int32{1, 3, 0, 3, 3, 1, 2})
	array(g, "indptr", "<i8", []int64{5}, []int64{0, 2, 4, 5, 7})
	csrGroup(nb, "distances", []int64{4, 3}, []float64{1}, []int32{0}, []int64{0, 1, 1, 1, 1}) // not a cell graph
	array(nb, "params", "<i8", []int64{1}, []int64{15})

	z, err := PlanShard(src, []int64{3, 1})
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var groups, verb []string
	for _, g := range z.Groups {
		groups = append(groups, g.Path)
	}
	for _, v := range z.Verbatim {
		verb = append(verb, v.Path+"="+v.Node)
	}
	if want := []string{"", "X", "obs", "obs/ct", "obsp", "obsp/conn", "uns", "uns/neighbors", "uns/neighbors/connectivities"}; !slices.Equal(groups, want) {
		t.Errorf("groups %q, want %q", groups, want)
	}
	if want := []string{"obs/ct/categories=/obs/ct/categories", "var=/var", "uns/k=/uns/k",
		"uns/neighbors/distances=/uns/neighbors/distances", "uns/neighbors/params=/uns/neighbors/params"}; !slices.Equal(verb, want) {
		t.Errorf("verbatim %q, want %q", verb, want)
	}
	for _, g := range z.Groups {
		if g.Path == "uns/neighbors/connectivities" {
			if s, _ := tree.AttrInts(g.Attrs, "h5sparse_shape"); !slices.Equal(s, []int64{2, 2}) {
				t.Errorf("h5sparse_shape %v, want [2 2]", s)
			}
		}
	}
	wants := map[string][]byte{
		"uns/neighbors/connectivities/data":    le([]float64{6, 4}),
		"uns/neighbors/connectivities/indices": le([]int32{1, 0}),
		"uns/neighbors/connectivities/indptr":  le([]int64{0, 1, 2}),
	}
	for _, a := range z.Arrays {
		if w, ok := wants[a.Path]; ok {
			if got := planBytes(t, a); !bytes.Equal(got, w) {
				t.Errorf("/%s: bytes %v, want %v", a.Path, got, w)
			}
			delete(wants, a.Path)
		}
	}
	for p := range wants {
		t.Errorf("/%s missing from the plan", p)
	}
}

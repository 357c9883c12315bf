package engine

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// Two anndata < 0.7 inputs (in memory, as layout reads such a file: obs,
// var, raw.var, obsm as record arrays, categories in uns, a neighbors
// graph in uns) merged into the current layout, as current anndata reads
// them: obs a dataframe whose index is the first field, "ct" a categorical
// (codes below its uns categories' length), "bad" left as integers (a code
// past its categories), strings decoded, obsm one array per field, raw a
// group, the graph in obsp and out of uns with the moved categories, and
// the mappings anndata always writes (layers, varm...) there, empty.

// recArray packs rows (one []any per record, in field order) as a record
// array of fields.
func recArray(t *testing.T, parent *memNode, name string, fields []zarr.Field, rows [][]any) {
	t.Helper()
	dt, err := zarr.NewRecord(fields)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, len(rows)*dt.Size)
	for r, vals := range rows {
		rec := raw[r*dt.Size:]
		for i, f := range dt.Rec.Fields {
			switch v := vals[i].(type) {
			case string:
				copy(rec[f.Offset:f.Offset+f.Size()], v)
			default:
				copy(rec[f.Offset:], le(v))
			}
		}
	}
	parent.kids = append(parent.kids, tree.Child{Name: name})
	parent.arrays[name] = &memNode{path: "/" + name, attrs: tree.Attrs{}, dt: dt, shape: []int64{int64(len(rows))}, raw: raw}
}

func dtype(s string) tree.DType {
	d, err := zarr.ParseDType(s)
	if err != nil {
		panic(err)
	}
	return d
}

// legacyInput: cells named by names, ct codes, bad codes; 2 genes.
func legacyInput(t *testing.T, names []string, ct, bad []int8) *tree.Source {
	n := int64(len(names))
	root := &memNode{path: "/", attrs: tree.Attrs{}, groups: map[string]*memNode{}, arrays: map[string]*memNode{}}
	x := make([]float32, 2*n)
	for i := range x {
		x[i] = float32(i)
	}
	array(root, "X", "<f4", []int64{n, 2}, x)
	obsF := []zarr.Field{{Name: "index", Type: dtype("|S2")}, {Name: "ct", Type: dtype("|i1")},
		{Name: "n", Type: dtype("<i8")}, {Name: "lab", Type: dtype("|S3")}, {Name: "bad", Type: dtype("|i1")}}
	var obs, obsm [][]any
	for i, c := range names {
		obs = append(obs, []any{c, ct[i], int64(10 * i), "l" + c, bad[i]})
		obsm = append(obsm, []any{[]float32{float32(i), -float32(i)}, float64(i) / 2})
	}
	recArray(t, root, "obs", obsF, obs)
	recArray(t, root, "obsm", []zarr.Field{{Name: "X_pca", Type: dtype("<f4"), Shape: []int{2}}, {Name: "s", Type: dtype("<f8")}}, obsm)
	varF := []zarr.Field{{Name: "index", Type: dtype("|S2")}, {Name: "m", Type: dtype("<f4")}}
	recArray(t, root, "var", varF, [][]any{{"g0", float32(1)}, {"g1", float32(2)}})
	recArray(t, root, "raw.var", varF[:1], [][]any{{"g0"}, {"g1"}})
	array(root, "raw.X", "<f4", []int64{n, 2}, x)
	uns := group(root, "uns", tree.Attrs{})
	array(uns, "ct_categories", "", []int64{2}, []string{"x", "y"})
	array(uns, "bad_categories", "", []int64{1}, []string{"q"})
	array(uns, "k", "<i8", []int64{1}, []int64{7})
	nb := group(uns, "neighbors", tree.Attrs{})
	// cell i is linked to cell (i+1) mod n
	var data []float64
	var indices []int32
	var indptr []int64
	for i := int64(0); i < n; i++ {
		data, indices, indptr = append(data, float64(i+1)), append(indices, int32((i+1)%n)), append(indptr, i)
	}
	g := group(nb, "connectivities", attrs("h5sparse_format", "csr", "h5sparse_shape", []int64{n, n}))
	array(g, "data", "<f8", []int64{n}, data)
	array(g, "indices", "<i4", []int64{n}, indices)
	array(g, "indptr", "<i8", []int64{n + 1}, append(indptr, n))
	array(group(nb, "params", tree.Attrs{}), "k", "<i8", []int64{1}, []int64{3})
	return &tree.Source{Path: strings.Join(names, "") + ".h5ad", NObs: n, Root: func() (tree.Group, error) { return root, nil }}
}

func TestMergeLegacyInputsAsCurrentAnndataReadsThem(t *testing.T) {
	srcs := map[string]*tree.Source{
		"a": legacyInput(t, []string{"a0", "a1", "a2"}, []int8{0, 1, 1}, []int8{0, 2, 0}),
		"b": legacyInput(t, []string{"b0", "b1"}, []int8{1, 0}, []int8{2, 0}),
	}
	g, err := PlanMerge([]string{"a", "b"}, MergeOptions{Join: "inner", Open: func(p string) (*tree.Source, error) { return srcs[p], nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	z := g.Plan
	if err := z.ExpandVerbatim(); err != nil { // var, uns, categories: from the view
		t.Fatal(err)
	}
	groups := map[string]tree.Attrs{}
	for _, pg := range z.Groups {
		groups[pg.Path] = pg.Attrs
	}
	encOf := func(p string) string { return tree.AttrString(groups[p], "encoding-type") }
	for p, want := range map[string]string{"obs": "dataframe", "obs/ct": "categorical", "var": "dataframe",
		"obsm": "dict", "obsp/connectivities": "csr_matrix", "raw": "raw", "raw/var": "dataframe"} {
		if got := encOf(p); got != want {
			t.Errorf("/%s: encoding %q, want %q", p, got, want)
		}
	}
	if tree.AttrString(groups["obs"], "_index") != "index" {
		t.Errorf("obs index attribute %s, want \"index\"", groups["obs"]["_index"])
	}
	if s, _ := tree.AttrInts(groups["obsp/connectivities"], "shape"); !slices.Equal(s, []int64{5, 5}) {
		t.Errorf("obsp/connectivities shape %v, want [5 5]", s)
	}
	in := func(p string) bool {
		_, ok := arrayIn(z, p)
		_, isGroup := groups[p]
		return ok || isGroup
	}
	for _, p := range []string{"uns/ct_categories", "uns/neighbors/connectivities", "obs/ct/ct_categories"} {
		if in(p) {
			t.Errorf("/%s is in the output; anndata moves it", p)
		}
	}
	// empty mappings as anndata writes them: mergeable with current files
	for _, p := range []string{"uns/neighbors", "uns/neighbors/params", "uns/k", "obs/bad", "raw/X", "varm", "layers", "raw/varm"} {
		if !in(p) {
			t.Errorf("/%s is not in the output", p)
		}
	}
	strsOf := func(p string) []string { _, _, s := planned(t, z, p); return s }
	intsOf := func(p string) []int64 { dt, b, _ := planned(t, z, p); return ints64(t, dt, b) }
	checks := []struct {
		path      string
		got, want any
	}{
		{"obs/index", strsOf("obs/index"), []string{"a0", "a1", "a2", "b0", "b1"}},
		{"obs/lab", strsOf("obs/lab"), []string{"la0", "la1", "la2", "lb0", "lb1"}},
		{"obs/ct/codes", intsOf("obs/ct/codes"), []int64{0, 1, 1, 1, 0}},
		{"obs/ct/categories", strsOf("obs/ct/categories"), []string{"x", "y"}},
		{"obs/bad", intsOf("obs/bad"), []int64{0, 2, 0, 2, 0}},
		{"obs/n", intsOf("obs/n"), []int64{0, 10, 20, 0, 10}},
		{"uns/bad_categories", strsOf("uns/bad_categories"), []string{"q"}},
		{"uns/neighbors/params/k", intsOf("uns/neighbors/params/k"), []int64{3}},
		{"var/index", strsOf("var/index"), []string{"g0", "g1"}},
		{"raw/var/index", strsOf("raw/var/index"), []string{"g0", "g1"}},
		{"obsp/connectivities/indices", intsOf("obsp/connectivities/indices"), []int64{1, 2, 0, 4, 3}},
		{"obsp/connectivities/indptr", intsOf("obsp/connectivities/indptr"), []int64{0, 1, 2, 3, 4, 5}},
	}
	for _, c := range checks {
		if !slices.Equal(toStrs(c.got), toStrs(c.want)) {
			t.Errorf("/%s: %v, want %v", c.path, c.got, c.want)
		}
	}
	a, _ := arrayIn(z, "obsm/X_pca")
	_, pca, _ := planned(t, z, "obsm/X_pca")
	if !slices.Equal(a.Shape, []int64{5, 2}) || !slices.Equal(floats32(pca), []float64{0, 0, 1, -1, 2, -2, 0, 0, 1, -1}) {
		t.Errorf("/obsm/X_pca: shape %v, values %v", a.Shape, floats32(pca))
	}
	s, _ := arrayIn(z, "obsm/s")
	_, sb, _ := planned(t, z, "obsm/s")
	if !slices.Equal(s.Shape, []int64{5, 1}) || math.Float64frombits(binary.LittleEndian.Uint64(sb[16:])) != 1 {
		t.Errorf("/obsm/s: shape %v, bytes %v; want (5, 1), a scalar field as a column", s.Shape, sb)
	}
	for _, p := range []string{"X", "raw/X"} {
		a, _ := arrayIn(z, p)
		_, b, _ := planned(t, z, p)
		if !slices.Equal(a.Shape, []int64{5, 2}) || floats32(b)[7] != 1 {
			t.Errorf("/%s: shape %v, values %v", p, a.Shape, floats32(b))
		}
	}
}

func arrayIn(z *tree.Plan, p string) (*tree.PlanArray, bool) {
	for _, a := range z.Arrays {
		if a.Path == p {
			return a, true
		}
	}
	return nil, false
}

func toStrs(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []int64:
		out := make([]string, len(x))
		for i, n := range x {
			out[i] = strings.Repeat("|", int(n+1)) // distinct per value, -1 included
		}
		return out
	}
	return nil
}

// What current anndata cannot read either is refused in one line.
func TestMergeLegacyRefusals(t *testing.T) {
	src := legacyInput(t, []string{"a0", "a1"}, []int8{0, 1}, []int8{0, 0})
	root, _ := src.Root()
	uns := root.(*memNode).groups["uns"]
	array(uns, "n_categories", "", []int64{1}, []string{"z"}) // obs/n holds int64 10, 0: past it
	array(uns, "lab_categories", "", []int64{4}, []string{"a", "b", "c", "d"})
	_, err := PlanMerge([]string{"a"}, MergeOptions{Join: "inner", Open: func(string) (*tree.Source, error) { return src, nil }})
	if err == nil || !strings.Contains(err.Error(), `column "lab" has categories in uns/lab_categories`) || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %v, want one line refusing the string column with categories", err)
	}
}

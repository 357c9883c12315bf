package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/layout/zarrad"
	"github.com/annslicer/annslicer/tree"
)

// The merge rules on two tiny AnnData inputs, one zarr store and one h5ad
// file (written by the encoders from hand-made plans), whose genes differ
// (reordered, one each of their own) and whose categories differ: the
// merged arrays' bytes, read through the plan's fills as an encoder does
// and in small windows out of order, are the ones worked out by hand.

type tinyInput struct {
	cells, genes []string
	cats         []string
	codes        []int8
	x            [][][2]float64 // per cell: (column, value), columns sorted
	graph        [][][2]float64 // per cell: (cell, value)
	pca          []float32      // cells x 2
}

func attrsOf(t *testing.T, kv ...any) tree.Attrs {
	a := tree.Attrs{}
	for i := 0; i < len(kv); i += 2 {
		raw, err := json.Marshal(kv[i+1])
		if err != nil {
			t.Fatal(err)
		}
		a[kv[i].(string)] = raw
	}
	return a
}

func (in tinyInput) plan(t *testing.T) *tree.Plan {
	n := int64(len(in.cells))
	z := &tree.Plan{Cells: n}
	g := func(p string, kv ...any) {
		z.Groups = append(z.Groups, tree.PlanGroup{Path: p, Attrs: attrsOf(t, kv...)})
	}
	strs := func(p string, s []string) {
		z.Arrays = append(z.Arrays, &tree.PlanArray{Path: p, Attrs: attrsOf(t, "encoding-type", "string-array", "encoding-version", "0.2.0"),
			DType: tree.DType{Kind: 'O', Order: '|'}, Shape: []int64{int64(len(s))}, Strs: s})
	}
	arr := func(p string, dt tree.DType, shape []int64, raw []byte) {
		z.Arrays = append(z.Arrays, &tree.PlanArray{Path: p, Attrs: tree.Attrs{}, DType: dt, Shape: shape, Fill: bytesFill(raw)})
	}
	csr := func(p string, rows [][][2]float64, ncols int64) {
		g(p, "encoding-type", "csr_matrix", "encoding-version", "0.1.0", "shape", []int64{n, ncols})
		ptr := []int64{0}
		var idx []int32
		var data []float32
		for _, r := range rows {
			for _, e := range r {
				idx, data = append(idx, int32(e[0])), append(data, float32(e[1]))
			}
			ptr = append(ptr, int64(len(idx)))
		}
		arr(p+"/data", tree.DType{Kind: 'f', Size: 4, Order: '<'}, []int64{int64(len(data))}, le(data))
		arr(p+"/indices", tree.DType{Kind: 'i', Size: 4, Order: '<'}, []int64{int64(len(idx))}, le(idx))
		arr(p+"/indptr", tree.DType{Kind: 'i', Size: 8, Order: '<'}, []int64{n + 1}, le(ptr))
	}
	g("", "encoding-type", "anndata", "encoding-version", "0.1.0")
	g("obs", "encoding-type", "dataframe", "encoding-version", "0.2.0", "_index", "_index", "column-order", []string{"ct"})
	strs("obs/_index", in.cells)
	g("obs/ct", "encoding-type", "categorical", "encoding-version", "0.2.0", "ordered", false)
	strs("obs/ct/categories", in.cats)
	arr("obs/ct/codes", tree.DType{Kind: 'i', Size: 1, Order: '|'}, []int64{n}, le(in.codes))
	g("var", "encoding-type", "dataframe", "encoding-version", "0.2.0", "_index", "_index", "column-order", []string{})
	strs("var/_index", in.genes)
	csr("X", in.x, int64(len(in.genes)))
	g("obsm", "encoding-type", "dict", "encoding-version", "0.1.0")
	arr("obsm/pca", tree.DType{Kind: 'f', Size: 4, Order: '<'}, []int64{n, 2}, le(in.pca))
	g("obsp", "encoding-type", "dict", "encoding-version", "0.1.0")
	csr("obsp/conn", in.graph, n)
	return z
}

var tinyA = tinyInput{
	cells: []string{"a0", "a1", "a2"}, genes: []string{"g0", "g1", "g2"},
	cats: []string{"x", "y"}, codes: []int8{0, 1, 0},
	x:     [][][2]float64{{{0, 1}, {2, 2}}, {{1, 3}}, {}},
	graph: [][][2]float64{{{1, 5}}, {}, {}},
	pca:   []float32{1, 2, 3, 4, 5, 6},
}

var tinyB = tinyInput{
	cells: []string{"b0", "b1"}, genes: []string{"g2", "g0", "g3"},
	cats: []string{"y", "z"}, codes: []int8{1, 0},
	x:     [][][2]float64{{{0, 4}, {1, 6}}, {{2, 7}}},
	graph: [][][2]float64{{}, {{0, 8}}},
	pca:   []float32{7, 8, 9, 10},
}

// writeWhole writes plan z as a complete, uncompressed .h5ad at p (its
// arrays plain in the file, as a merge's spans copy them), and gives
// where its arrays lie.
func writeWhole(t *testing.T, z *tree.Plan, p string) []image.Extent {
	t.Helper()
	extents, err := h5ad.Encode(z, p, "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := image.WriteExtents(context.Background(), f, extents, 1<<20, nil); err != nil {
		t.Fatal(err)
	}
	return extents
}

// tinyInputs writes A as a zarr store and B as an h5ad file.
func tinyInputs(t *testing.T) []string {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.zarr"), filepath.Join(dir, "b.h5ad")
	if err := zarrad.Write(tinyA.plan(t), a, zarrad.AnnDataBlosc); err != nil {
		t.Fatal(err)
	}
	if _, err := h5ad.Encode(tinyB.plan(t), b, "gzip"); err != nil {
		t.Fatal(err)
	}
	return []string{a, b}
}

func openTiny(p string) (*tree.Source, error) {
	if filepath.Ext(p) == ".zarr" {
		return zarrad.OpenTree(p, zarr.NewCache(1<<20))
	}
	src, err := h5ad.Open(p)
	if err != nil {
		return nil, err
	}
	s := src.Tree()
	s.Closer = src.Close
	return s, nil
}

// planned reads a merged array whole, then again in 3-byte windows from
// the end backwards: a fill depends on its offset only.
func planned(t *testing.T, z *tree.Plan, path string) (tree.DType, []byte, []string) {
	t.Helper()
	for _, a := range z.Arrays {
		if a.Path != path {
			continue
		}
		if a.DType.Kind == 'O' {
			strs, err := a.AllStrs()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return a.DType, nil, strs
		}
		size := a.RowElems() * a.Shape[0] * int64(a.DType.Size)
		whole := make([]byte, size)
		if err := a.Fill(whole, 0); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		back := make([]byte, size)
		for off := (size - 1) / 3 * 3; off >= 0; off -= 3 {
			if err := a.Fill(back[off:min(size, off+3)], off); err != nil {
				t.Fatalf("%s at %d: %v", path, off, err)
			}
		}
		if !slices.Equal(whole, back) {
			t.Fatalf("%s: windows read backwards differ from the whole", path)
		}
		return a.DType, whole, nil
	}
	t.Fatalf("no array %s in the plan", path)
	return tree.DType{}, nil, nil
}

func ints64(t *testing.T, dt tree.DType, b []byte) []int64 {
	ic, ok := intCodecOf(dt)
	if !ok {
		t.Fatalf("dtype %s is not an integer type", dt)
	}
	out := make([]int64, len(b)/ic.Size)
	for i := range out {
		out[i] = ic.Get(b[i*ic.Size:])
	}
	return out
}

func floats32(b []byte) []float64 {
	out := make([]float64, len(b)/4)
	for i := range out {
		out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return out
}

func TestMergeRulesOnZarrAndH5ADInputs(t *testing.T) {
	inputs := tinyInputs(t)
	for _, c := range []struct {
		join            string
		genes           []string
		indptr, indices []int64
		data            []float64
	}{
		// outer: A's columns keep their order (converted), B's are
		// reordered (rows rebuilt and re-sorted)
		{"outer", []string{"g0", "g1", "g2", "g3"}, []int64{0, 2, 3, 3, 5, 6}, []int64{0, 2, 1, 0, 2, 3}, []float64{1, 2, 3, 6, 4, 7}},
		// inner: g1 (A's) and g3 (B's) are dropped with their entries
		{"inner", []string{"g0", "g2"}, []int64{0, 2, 2, 2, 4, 4}, []int64{0, 1, 0, 1}, []float64{1, 2, 6, 4}},
	} {
		// the second time, inputs are reopened for each read
		for _, open := range []int{poolSize, 1} {
			t.Run(fmt.Sprintf("%s_%d_open", c.join, open), func(t *testing.T) {
				g, err := PlanMerge(inputs, MergeOptions{Join: c.join, Open: openTiny})
				if err != nil {
					t.Fatal(err)
				}
				defer g.Close()
				g.m.inputPool.max = open
				g.m.inputPool.evict()
				z := g.Plan
				if z.Cells != 5 {
					t.Errorf("%d cells, want 5", z.Cells)
				}
				if _, _, s := planned(t, z, "obs/_index"); !slices.Equal(s, []string{"a0", "a1", "a2", "b0", "b1"}) {
					t.Errorf("obs names %v", s)
				}
				if _, _, s := planned(t, z, "var/_index"); !slices.Equal(s, c.genes) {
					t.Errorf("var names %v, want %v", s, c.genes)
				}
				dt, b, _ := planned(t, z, "X/indptr")
				if got := ints64(t, dt, b); !slices.Equal(got, c.indptr) {
					t.Errorf("X/indptr %v, want %v", got, c.indptr)
				}
				dt, b, _ = planned(t, z, "X/indices")
				if got := ints64(t, dt, b); !slices.Equal(got, c.indices) {
					t.Errorf("X/indices %v, want %v", got, c.indices)
				}
				if _, b, _ = planned(t, z, "X/data"); !slices.Equal(floats32(b), c.data) {
					t.Errorf("X/data %v, want %v", floats32(b), c.data)
				}
				// categories: the sorted union; B's codes renumbered
				if _, _, s := planned(t, z, "obs/ct/categories"); !slices.Equal(s, []string{"x", "y", "z"}) {
					t.Errorf("categories %v", s)
				}
				dt, b, _ = planned(t, z, "obs/ct/codes")
				if got := ints64(t, dt, b); !slices.Equal(got, []int64{0, 1, 0, 2, 1}) {
					t.Errorf("codes %v", got)
				}
				// obsp: block-diagonal, B's columns shifted by A's cells
				dt, b, _ = planned(t, z, "obsp/conn/indptr")
				if got := ints64(t, dt, b); !slices.Equal(got, []int64{0, 1, 1, 1, 1, 2}) {
					t.Errorf("obsp indptr %v", got)
				}
				dt, b, _ = planned(t, z, "obsp/conn/indices")
				if got := ints64(t, dt, b); !slices.Equal(got, []int64{1, 3}) {
					t.Errorf("obsp indices %v", got)
				}
				if _, b, _ = planned(t, z, "obsm/pca"); !slices.Equal(floats32(b), []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
					t.Errorf("obsm/pca %v", floats32(b))
				}
				for _, p := range z.Groups {
					if p.Path == "X" {
						if sh, _ := tree.AttrInts(p.Attrs, "shape"); !slices.Equal(sh, []int64{5, int64(len(c.genes))}) {
							t.Errorf("X shape %v", sh)
						}
					}
				}
			})
		}
	}
}

// An input whose sparse matrix is stored otherwise than the first's is
// refused before anything is planned, naming the input and the element.
func TestMergeRefusesMismatchedInputs(t *testing.T) {
	inputs := tinyInputs(t)
	c := tinyB
	c.pca = []float32{7, 8, 9, 10, 11, 12}
	p := c.plan(t)
	for _, a := range p.Arrays {
		if a.Path == "obsm/pca" {
			a.Shape = []int64{2, 3}
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.zarr")
	if err := zarrad.Write(p, bad, nil); err != nil {
		t.Fatal(err)
	}
	_, err := PlanMerge([]string{inputs[0], bad}, MergeOptions{Join: "outer", Open: openTiny})
	want := bad + ": obsm/pca has shape [2 3]; expected 2 in dimension 1"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// A window covering several h5ad inputs is copied file to file: every
// file its spans name stays open until the writer asks again, however few
// inputs the pool keeps open.
func TestMergeSpansKeepTheirFilesOpen(t *testing.T) {
	dir := t.TempDir()
	var inputs []string
	for k, in := range []tinyInput{tinyA, tinyA, tinyA} {
		p := filepath.Join(dir, fmt.Sprintf("in%d.h5ad", k))
		writeWhole(t, in.plan(t), p)
		inputs = append(inputs, p)
	}
	g, err := PlanMerge(inputs, MergeOptions{Join: "outer", Open: openTiny})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.m.inputPool.max = 1
	g.m.inputPool.evict() // only the template stays open
	for _, a := range g.Plan.Arrays {
		if a.Path != "obsm/pca" {
			continue
		}
		size := a.Shape[0] * a.RowElems() * int64(a.DType.Size)
		want := make([]byte, size)
		if err := a.Fill(want, 0); err != nil {
			t.Fatal(err)
		}
		_, spans, ok := a.Spans(4, size-8)
		if !ok {
			t.Fatal("no spans for plain rows of h5ad inputs")
		}
		files := map[*os.File]bool{}
		var got []byte
		for _, sp := range spans {
			b := make([]byte, sp.Len)
			if _, err := sp.File.ReadAt(b, sp.Off); err != nil {
				t.Fatalf("reading a span: %v", err)
			}
			files[sp.File] = true
			got = append(got, b...)
		}
		if len(files) != 3 || !slices.Equal(got, want[4:size-4]) {
			t.Errorf("spans over %d files give %v, want %v", len(files), got, want[4:size-4])
		}
		return
	}
	t.Fatal("no obsm/pca in the plan")
}

// promote is numpy's result_type for the dtypes of merged numeric obs
// columns; the table is numpy's (np.result_type of each pair, rows and
// columns i1 i2 i4 i8 u1 u2 u4 u8 f4 f8), printed by numpy 2.
func TestPromoteIsNumpysResultType(t *testing.T) {
	names := strings.Fields("i1 i2 i4 i8 u1 u2 u4 u8 f4 f8")
	table := []string{
		"i1 i2 i4 i8 i2 i4 i8 f8 f4 f8",
		"i2 i2 i4 i8 i2 i4 i8 f8 f4 f8",
		"i4 i4 i4 i8 i4 i4 i8 f8 f8 f8",
		"i8 i8 i8 i8 i8 i8 i8 f8 f8 f8",
		"i2 i2 i4 i8 u1 u2 u4 u8 f4 f8",
		"i4 i4 i4 i8 u2 u2 u4 u8 f4 f8",
		"i8 i8 i8 i8 u4 u4 u4 u8 f8 f8",
		"f8 f8 f8 f8 u8 u8 u8 u8 f8 f8",
		"f4 f4 f8 f8 f4 f4 f8 f8 f4 f8",
		"f8 f8 f8 f8 f8 f8 f8 f8 f8 f8",
	}
	dt := func(s string) tree.DType {
		d := tree.DType{Kind: s[0], Size: int(s[1] - '0'), Order: '<'}
		if d.Size == 1 {
			d.Order = '|'
		}
		return d
	}
	for r, a := range names {
		for c, want := range strings.Fields(table[r]) {
			got, ok := promote(dt(a), dt(names[c]))
			if !ok || got != dt(want) {
				t.Errorf("promote(%s, %s) = %v %v, want %s", a, names[c], got, ok, want)
			}
		}
	}
	for _, bad := range []string{"b1", "f2"} {
		if _, ok := promote(dt(bad), dt("i4")); ok {
			t.Errorf("promote(%s, i4) should be refused", bad)
		}
	}
}

// raggedForm is awkward's form of a list of int64 per cell (offsets of
// type ot).
func raggedForm(ot string) string {
	return `{"class": "ListOffsetArray", "offsets": "` + ot + `", "content": {"class": "NumpyArray", "primitive": "int64", "inner_shape": [], "parameters": {}, "form_key": "node1"}, "parameters": {}, "form_key": "node0"}`
}

// withRagged is in's plan with obsm/ragged, an awkward list array of
// the given offsets and content.
func withRagged(t *testing.T, in tinyInput, form string, offsets, data []int64) *tree.Plan {
	return withAwk(t, in, "ragged", form, int64(len(offsets)-1), "node0-offsets", offsets, "node1-data", data)
}

// withAwk is in's plan with obsm/name, an awkward array of the given
// length whose int64 buffers follow as name, values pairs.
func withAwk(t *testing.T, in tinyInput, name, form string, length int64, bufs ...any) *tree.Plan {
	z := in.plan(t)
	z.Groups = append(z.Groups, tree.PlanGroup{Path: "obsm/" + name, Attrs: attrsOf(t, "encoding-type", "awkward-array", "encoding-version", "0.1.0",
		"form", form, "length", length)})
	i8 := tree.DType{Kind: 'i', Size: 8, Order: '<'}
	for k := 0; k < len(bufs); k += 2 {
		v := bufs[k+1].([]int64)
		z.Arrays = append(z.Arrays, &tree.PlanArray{Path: "obsm/" + name + "/" + bufs[k].(string), Attrs: tree.Attrs{}, DType: i8,
			Shape: []int64{int64(len(v))}, Fill: bytesFill(le(v))})
	}
	return z
}

// Awkward arrays of one form are concatenated as ak.concatenate does: the
// content runs end to end, the second input's offsets shifted by the
// first's content (and by its own first offset: B's list content starts
// after two unused elements, which are left out).
func TestMergeConcatenatesAwkwardLists(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.zarr"), filepath.Join(dir, "b.h5ad")
	// A: [[1, 2], [], [3]]; B: [[4], [5, 6]]
	if err := zarrad.Write(withRagged(t, tinyA, raggedForm("i64"), []int64{0, 2, 2, 3}, []int64{1, 2, 3}), a, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h5ad.Encode(withRagged(t, tinyB, raggedForm("i64"), []int64{2, 3, 5}, []int64{9, 9, 4, 5, 6}), b, "gzip"); err != nil {
		t.Fatal(err)
	}
	g, err := PlanMerge([]string{a, b}, MergeOptions{Join: "inner", Open: openTiny})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	dt, raw, _ := planned(t, g.Plan, "obsm/ragged/node0-offsets")
	if got := ints64(t, dt, raw); !slices.Equal(got, []int64{0, 2, 2, 3, 4, 6}) {
		t.Errorf("offsets %v", got)
	}
	dt, raw, _ = planned(t, g.Plan, "obsm/ragged/node1-data")
	if got := ints64(t, dt, raw); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("content %v", got)
	}
	for _, p := range g.Plan.Groups {
		if p.Path == "obsm/ragged" && string(p.Attrs["length"]) != "5" {
			t.Errorf("length %s, want 5", p.Attrs["length"])
		}
	}

	// another form (32-bit offsets) is refused, naming the input
	c := filepath.Join(dir, "c.zarr")
	if err := zarrad.Write(withRagged(t, tinyB, raggedForm("i32"), []int64{0, 1, 3}, []int64{4, 5, 6}), c, nil); err != nil {
		t.Fatal(err)
	}
	_, err = PlanMerge([]string{a, c}, MergeOptions{Join: "inner", Open: openTiny})
	if err == nil || !strings.Contains(err.Error(), c+": obsm/ragged is an awkward array of another form than in "+a) {
		t.Errorf("another form: got %v", err)
	}

	// an input without it: left out (obsm is inner-joined on its keys)
	d := filepath.Join(dir, "d.zarr")
	if err := zarrad.Write(tinyB.plan(t), d, nil); err != nil {
		t.Fatal(err)
	}
	g, err = PlanMerge([]string{a, d}, MergeOptions{Join: "inner", Open: openTiny})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if !slices.ContainsFunc(g.Warnings, func(w string) bool { return strings.Contains(w, "obsm/ragged is not in every input") }) {
		t.Errorf("warnings %v", g.Warnings)
	}
	for _, p := range g.Plan.Groups {
		if p.Path == "obsm/ragged" {
			t.Errorf("obsm/ragged planned though %s lacks it", d)
		}
	}
}

// An option's index is shifted by the content before as offsets are;
// missing entries (-1) stay missing.
func TestMergeConcatenatesAwkwardOptions(t *testing.T) {
	const form = `{"class": "IndexedOptionArray", "index": "i64", "content": {"class": "NumpyArray", "primitive": "int64", "inner_shape": [], "parameters": {}, "form_key": "node1"}, "parameters": {}, "form_key": "node0"}`
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.h5ad"), filepath.Join(dir, "b.zarr")
	// A: [10, None, 11]; B: [None, 12] (its content's first element unused)
	if _, err := h5ad.Encode(withAwk(t, tinyA, "opt", form, 3, "node0-index", []int64{0, -1, 1}, "node1-data", []int64{10, 11}), a, "gzip"); err != nil {
		t.Fatal(err)
	}
	if err := zarrad.Write(withAwk(t, tinyB, "opt", form, 2, "node0-index", []int64{-1, 1}, "node1-data", []int64{7, 12}), b, nil); err != nil {
		t.Fatal(err)
	}
	g, err := PlanMerge([]string{a, b}, MergeOptions{Join: "inner", Open: openTiny})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	dt, raw, _ := planned(t, g.Plan, "obsm/opt/node0-index")
	if got := ints64(t, dt, raw); !slices.Equal(got, []int64{0, -1, 1, -1, 3}) {
		t.Errorf("index %v", got)
	}
	dt, raw, _ = planned(t, g.Plan, "obsm/opt/node1-data")
	if got := ints64(t, dt, raw); !slices.Equal(got, []int64{10, 11, 7, 12}) {
		t.Errorf("content %v", got)
	}
}

// A collection keeps every input open (up to poolSize) while its reads
// jump between them, as a shuffled shard's do: with 4 open, a mount of 10
// files reopened an input for nearly every read (50 s instead of 14). A
// merge may keep fewer (OpenAtOnce) and still reads the same bytes.
func TestInterleavedReadsKeepACollectionsInputsOpen(t *testing.T) {
	tiny := tinyInputs(t)
	var inputs []string
	for range 3 {
		inputs = append(inputs, tiny...) // 6 inputs
	}
	for _, c := range []struct {
		atOnce   int
		maxOpens int
	}{{0, len(inputs)}, {1, 1 << 30}} {
		opens := 0
		g, err := PlanMerge(inputs, MergeOptions{Join: "outer", OpenAtOnce: c.atOnce, Open: func(p string) (*tree.Source, error) {
			opens++
			return openTiny(p)
		}})
		if err != nil {
			t.Fatal(err)
		}
		_, want, _ := planned(t, g.Plan, "X/data")
		var x *tree.PlanArray
		for _, a := range g.Plan.Arrays {
			if a.Path == "X/data" {
				x = a
			}
		}
		es := int64(x.DType.Size)
		got := make([]byte, len(want))
		for pass := 0; pass < 3; pass++ {
			for k := int64(len(want))/es - 1; k >= 0; k-- { // last element first: every input in turn
				if err := x.Fill(got[k*es:(k+1)*es], k*es); err != nil {
					t.Fatal(err)
				}
			}
		}
		g.Close()
		if !bytes.Equal(got, want) {
			t.Errorf("OpenAtOnce %d: X/data read element by element differs from its whole", c.atOnce)
		}
		if opens > c.maxOpens {
			t.Errorf("OpenAtOnce %d: %d inputs opened %d times; interleaved reads reopen them", c.atOnce, len(inputs), opens)
		}
	}
}

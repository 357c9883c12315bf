package engine

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/annslicer/annslicer/internal/spill"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarrad"
	"github.com/annslicer/annslicer/tree"
)

// withObsStrings adds string columns to an input's obs: cols maps a
// column to its strings (one per cell) or, for a categorical, to its
// categories after which codes follow.
func withObsStrings(t *testing.T, z *tree.Plan, order []string, cols map[string][]string, cats map[string][]int8) *tree.Plan {
	for i, g := range z.Groups {
		if g.Path == "obs" {
			z.Groups[i].Attrs = tree.WithAttr(g.Attrs, "column-order", append([]string{"ct"}, order...))
		}
	}
	strAttrs := attrsOf(t, "encoding-type", "string-array", "encoding-version", "0.2.0")
	for _, c := range order {
		s := cols[c]
		if codes, ok := cats[c]; ok {
			z.Groups = append(z.Groups, tree.PlanGroup{Path: "obs/" + c, Attrs: attrsOf(t, "encoding-type", "categorical", "encoding-version", "0.2.0", "ordered", false)})
			z.Arrays = append(z.Arrays,
				&tree.PlanArray{Path: "obs/" + c + "/categories", Attrs: strAttrs, DType: tree.DType{Kind: 'O', Order: '|'}, Shape: []int64{int64(len(s))}, Strs: s},
				&tree.PlanArray{Path: "obs/" + c + "/codes", Attrs: tree.Attrs{}, DType: tree.DType{Kind: 'i', Size: 1, Order: '|'}, Shape: []int64{int64(len(codes))}, Fill: bytesFill(le(codes))})
			continue
		}
		z.Arrays = append(z.Arrays, &tree.PlanArray{Path: "obs/" + c, Attrs: strAttrs, DType: tree.DType{Kind: 'O', Order: '|'}, Shape: []int64{int64(len(s))}, Strs: s})
	}
	return z
}

// A merge whose string columns go to scratch files (every list, however
// short) writes the same bytes, .h5ad and .zarr, as one holding them in
// memory: obs names made unique with the keys, a column both inputs
// have, one only the first has (a categorical with missing codes), one
// that is strings in the first and categorical in the second.
func TestSpilledStringsWriteTheSameFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.h5ad"), filepath.Join(dir, "b.h5ad")
	za := withObsStrings(t, tinyA.plan(t), []string{"both", "onlyA", "mix"}, map[string][]string{
		"both": {"p", "", "ü-long string"}, "onlyA": {"u", "v", "u"}, "mix": {"m", "n", "m"}}, nil)
	zb := withObsStrings(t, tinyB.plan(t), []string{"both", "mix"}, map[string][]string{
		"both": {"q", "p"}, "mix": {"n", "o"}}, map[string][]int8{"mix": {1, 0}})
	if _, err := h5ad.Encode(za, a, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h5ad.Encode(zb, b, "gzip"); err != nil {
		t.Fatal(err)
	}
	keys := InputKeys{Keys: []string{"A", "B"}, Sep: "-", IndexUnique: true}
	write := func(spilled bool, out string) {
		t.Helper()
		old := spill.After
		if spilled {
			spill.After = 0
		}
		defer func() { spill.After = old }()
		g, err := PlanMerge([]string{a, b}, MergeOptions{Join: "outer", Keys: keys, Open: openTiny, SpillStrings: spilled})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		lists := 0
		for _, x := range g.Plan.Arrays {
			if x.StrList != nil {
				lists++
			}
		}
		if spilled != (lists == 2) { // obs names and "both"
			t.Fatalf("spilled %v: %d string lists in the plan", spilled, lists)
		}
		if _, err := h5ad.Encode(g.Plan, out+".h5ad", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := h5ad.Encode(g.Plan, out+".gz.h5ad", "gzip"); err != nil { // libhdf5's encoder
			t.Fatal(err)
		}
		if err := zarrad.Write(g.Plan, out+".zarr", nil); err != nil {
			t.Fatal(err)
		}
		// the names read back as they are written
		if _, _, s := planned(t, g.Plan, "obs/_index"); len(s) != 5 || s[0] != "a0-A" || s[4] != "b1-B" {
			t.Fatalf("obs names %q", s)
		}
	}
	mem, disk := filepath.Join(dir, "mem"), filepath.Join(dir, "disk")
	write(false, mem)
	write(true, disk)
	for _, ext := range []string{".h5ad", ".gz.h5ad"} {
		x, err1 := os.ReadFile(mem + ext)
		y, err2 := os.ReadFile(disk + ext)
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s: the spilled merge wrote other bytes (%v, %v)", ext, err1, err2)
		}
	}
	files := 0
	filepath.WalkDir(mem+".zarr", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(mem+".zarr", p)
		x, _ := os.ReadFile(p)
		y, err := os.ReadFile(filepath.Join(disk+".zarr", rel))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("zarr %s: the spilled merge wrote other bytes (%v)", rel, err)
		}
		files++
		return nil
	})
	if files < 10 {
		t.Fatalf("%d zarr files compared", files)
	}
}

// Writing a merge copies its inputs' bytes file to file with no more than
// OpenAtOnce inputs open as Sources, however many inputs a window covers
// (each open .h5ad holds libhdf5's caches: 200 held at once took a 2M-cell
// merge to 170 MB); the bytes copied are the plan's.
func TestWritingAMergeHoldsFewInputsOpen(t *testing.T) {
	dir := t.TempDir()
	var inputs []string
	for k := range 12 {
		in := tinyA
		if k%2 == 1 {
			in = tinyB
		}
		p := filepath.Join(dir, fmt.Sprintf("in%d.h5ad", k))
		writeWhole(t, in.plan(t), p)
		inputs = append(inputs, p)
	}
	var mu sync.Mutex
	live, most := 0, 0
	open := func(p string) (*tree.Source, error) {
		s, err := openTiny(p)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		live++
		most = max(most, live)
		mu.Unlock()
		closer := s.Closer
		s.Closer = func() {
			mu.Lock()
			live--
			mu.Unlock()
			closer()
		}
		return s, nil
	}
	g, err := PlanMerge(inputs, MergeOptions{Join: "outer", OpenAtOnce: 2, Open: open})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	want := map[string][]byte{}
	for _, a := range g.Plan.Arrays {
		if a.Fill != nil && len(a.Shape) > 0 {
			_, want[a.Path], _ = planned(t, g.Plan, a.Path)
		}
	}
	mu.Lock()
	most = live
	mu.Unlock()
	out := filepath.Join(dir, "merged.h5ad")
	extents := writeWhole(t, g.Plan, out)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, e := range extents {
		got := make([]byte, e.Size)
		if _, err := f.ReadAt(got, e.Off); err != nil {
			t.Fatal(err)
		}
		if w, ok := want[e.Name[1:]]; !ok || !bytes.Equal(got, w) {
			t.Errorf("%s: the written bytes are not the plan's", e.Name)
		}
	}
	if most > 2 {
		t.Errorf("%d inputs open at once while writing, with OpenAtOnce 2", most)
	}
}

// cutSpans takes any byte range out of a part's pieces.
func TestCutSpans(t *testing.T) {
	whole := []image.Span{{Off: 100, Len: 10}, {Off: 500, Len: 5}, {Off: 50, Len: 20}}
	flat := func(sp []image.Span) (out []int64) {
		for _, s := range sp {
			for k := int64(0); k < s.Len; k++ {
				out = append(out, s.Off+k)
			}
		}
		return out
	}
	all := flat(whole)
	for off := int64(0); off <= 35; off++ {
		for n := int64(0); off+n <= 35; n++ {
			got := cutSpans([]image.Span{{Off: 1, Len: 1}}, whole, off, n)
			if want := append([]int64{1}, all[off:off+n]...); !slices.Equal(flat(got), want) {
				t.Fatalf("[%d, +%d): %v, want %v", off, n, got, want)
			}
		}
	}
}

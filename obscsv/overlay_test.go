package obscsv_test

// Overlay through the real pipeline: a real h5ad source and a real zarr
// source, overlaid with a column from a CSV, one shuffled shard planned
// by engine.PlanShard and written by the h5ad encoder and by the zarr
// encoder, then read back by current anndata (testdata/check_overlay.py):
// obs/C is the CSV's categorical, everything else is source[rows].

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/layout/zarrad"
	"github.com/annslicer/annslicer/obscsv"
	"github.com/annslicer/annslicer/tree"
)

const sample = "../testdata/sample.h5ad"

var python = filepath.Join("..", ".venv", "bin", "python")

var (
	zarrOnce sync.Once
	zarrPath string
	zarrErr  error
)

// sampleZarr is testdata/sample.h5ad written as a zarr store by current
// anndata, once per run.
func sampleZarr(t *testing.T) string {
	zarrOnce.Do(func() {
		dir, err := os.MkdirTemp("", "obscsv-test-")
		if err != nil {
			zarrErr = err
			return
		}
		zarrPath = filepath.Join(dir, "sample.zarr")
		out, err := exec.Command(python, "-c", `
import sys, warnings
warnings.filterwarnings("ignore")
import anndata as ad
ad.read_h5ad(sys.argv[1]).write_zarr(sys.argv[2])
`, sample, zarrPath).CombinedOutput()
		if err != nil {
			zarrErr = fmt.Errorf("writing %s with %s: %v\n%s", zarrPath, python, err, out)
		}
	})
	if zarrErr != nil {
		t.Fatal(zarrErr)
	}
	return zarrPath
}

var (
	v07Once sync.Once
	v07Path string
	v07Err  error
)

// v07 is testdata/make_fixtures.py's anndata 0.7 layout file (a
// categorical is a codes array naming obs/__categories/C), written by
// Debian's anndata 0.8, once per run.
func v07(t *testing.T) string {
	v07Once.Do(func() {
		dir, err := os.MkdirTemp("", "obscsv-test-")
		if err != nil {
			v07Err = err
			return
		}
		v07Path = filepath.Join(dir, "v07.h5ad")
		out, err := exec.Command("/usr/bin/python3", "-c", `
import sys, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, sys.argv[1])
import make_fixtures
make_fixtures.write_v07(sys.argv[2])
`, filepath.Join("..", "testdata"), dir).CombinedOutput()
		if err != nil {
			v07Err = fmt.Errorf("writing %s: %v\n%s", v07Path, err, out)
		}
	})
	if v07Err != nil {
		t.Fatal(v07Err)
	}
	return v07Path
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range []string{zarrPath, v07Path} {
		if p != "" {
			os.RemoveAll(filepath.Dir(p))
		}
	}
	os.Exit(code)
}

func openSource(t *testing.T, path string) *tree.Source {
	t.Helper()
	if strings.HasSuffix(path, ".zarr") {
		src, err := zarrad.OpenTree(path, zarr.NewCache(16<<20))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(src.Close)
		return src
	}
	s, err := h5ad.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	src := s.Tree()
	t.Cleanup(s.Close)
	return src
}

// metaCSV writes a CSV keyed by a "barcode" column (not the first) with
// the obs names, some padded with spaces, in reverse order, plus extra
// rows of no cell; column holds 11 guides and some empty values.
func metaCSV(t *testing.T, names []string, column string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "other,barcode,%s\n", column)
	b.WriteString("x,not_a_cell,guide_zz\n")
	for i := len(names) - 1; i >= 0; i-- {
		v := fmt.Sprintf("guide_%d", (i*7)%11)
		if i%13 == 0 {
			v = ""
		}
		name := names[i]
		if i%5 == 0 {
			name = " " + name + " "
		}
		fmt.Fprintf(&b, "%d,%q,%s\n", i, name, v)
	}
	p := filepath.Join(t.TempDir(), "meta.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// shardRows are a shuffled third of the cells.
func shardRows(n int64) []int64 {
	var rows []int64
	for r := n - 1; r >= 0; r -= 3 {
		rows = append(rows, (r*37)%n)
	}
	return rows
}

func TestOverlayThroughPlanShardAndBothEncoders(t *testing.T) {
	for _, source := range []string{"h5ad", "zarr", "v07"} {
		for _, column := range []string{"cell_type", "guide"} { // replaced, new
			for _, out := range []string{"h5ad", "zarr"} {
				t.Run(source+"/"+column+"/to_"+out, func(t *testing.T) {
					path := sample
					switch source {
					case "zarr":
						path = sampleZarr(t)
					case "v07":
						path = v07(t)
					}
					overlayShard(t, path, column, out)
				})
			}
		}
	}
}

func overlayShard(t *testing.T, path, column, out string) {
	src := openSource(t, path)
	names, err := obscsv.ObsNames(src)
	if err != nil {
		t.Fatal(err)
	}
	csv := metaCSV(t, names, column)
	codes, cats, err := obscsv.Column(csv, "barcode", column, names)
	if err != nil {
		t.Fatal(err)
	}
	ov, err := obscsv.Overlay(src, column, codes, cats)
	if err != nil {
		t.Fatal(err)
	}
	rows := shardRows(src.NObs)
	z, err := engine.PlanShard(ov, rows)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var before []tree.PlanVerbatim
	before = append(before, z.Verbatim...)
	dir := t.TempDir()
	shard := filepath.Join(dir, "shard."+out)
	if out == "zarr" {
		if err := zarrad.Write(z, shard, nil); err != nil {
			t.Fatal(err)
		}
	} else {
		writeH5AD(t, z, shard)
	}
	rowsFile := filepath.Join(dir, "rows.json")
	b, _ := json.Marshal(rows)
	if err := os.WriteFile(rowsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := exec.Command(python, filepath.Join("testdata", "check_overlay.py"), path, shard, rowsFile, csv, "barcode", column).CombinedOutput()
	if err != nil {
		t.Fatalf("check_overlay.py: %v\n%s", err, res)
	}
	t.Log(strings.TrimSpace(string(res)))
	if _, native := src.Native.(*h5ad.Source); native && out == "h5ad" {
		nativeCopies(t, before, z.Verbatim, ov.Overlaid)
	}
}

func writeH5AD(t *testing.T, z *tree.Plan, path string) {
	t.Helper()
	extents, err := h5ad.Encode(z, path, "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := image.WriteExtents(context.Background(), f, extents, 8<<20, nil); err != nil {
		t.Fatal(err)
	}
}

// nativeCopies checks the h5ad encoder still copied every verbatim
// element of the h5ad source with H5Ocopy (they stay in the plan's
// Verbatim) but the overlaid ones (the column's categories, anndata 0.7's
// __categories holding the replaced column's): expanded from the tree.
func nativeCopies(t *testing.T, before, after []tree.PlanVerbatim, overlaid []string) {
	t.Helper()
	var want, expanded []string
	for _, v := range before {
		over := false
		for _, p := range overlaid {
			over = over || v.Node == p || strings.HasPrefix(v.Node, p+"/")
		}
		if over {
			expanded = append(expanded, v.Node)
		} else {
			want = append(want, v.Node)
		}
	}
	var got []string
	for _, v := range after {
		got = append(got, v.Node)
	}
	if len(expanded) == 0 || fmt.Sprint(got) != fmt.Sprint(want) || len(want) < 3 {
		t.Fatalf("verbatim elements copied natively: %v; want %v (all but %v)", got, want, expanded)
	}
}

func TestOverlayErrors(t *testing.T) {
	src := openSource(t, sample)
	n := int(src.NObs)
	zeros := make([]int32, n)
	for _, tc := range []struct {
		name, column string
		codes        []int32
		cats         []string
		want         string
	}{
		{"codes for other cells", "g", zeros[:n-1], []string{"a"}, "502 codes for 503 cells"},
		{"a code past the categories", "g", append(append([]int32{}, zeros[:n-1]...), 1), []string{"a"}, "code 1 of cell 502 is not one of its 1 categories"},
		{"a code below -1", "g", append([]int32{-2}, zeros[1:]...), []string{"a"}, "code -2 of cell 0"},
		{"a category twice", "g", zeros, []string{"a", "a"}, `category "a" appears twice`},
		{"a path for a name", "a/b", zeros, []string{"a"}, `"a/b" cannot be an obs column name`},
		{"the index's name", "_index", zeros, []string{"a"}, `"_index" is the name of obs's index array`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := obscsv.Overlay(src, tc.column, tc.codes, tc.cats)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), sample+": ") {
				t.Fatalf("got %v, want %q naming the source", err, tc.want)
			}
		})
	}
}

// The overlay's nodes answer paths as the sources' do ("obs/guide/codes"),
// and the codes take the smallest signed integer pandas gives.
func TestOverlayNodes(t *testing.T) {
	src := openSource(t, sample)
	n := int(src.NObs)
	for _, tc := range []struct {
		ncats int
		dtype string
	}{{1, "|i1"}, {126, "|i1"}, {127, "<i2"}, {32766, "<i2"}, {32767, "<i4"}} {
		cats := make([]string, tc.ncats)
		for i := range cats {
			cats[i] = fmt.Sprint("g", i)
		}
		codes := make([]int32, n)
		for i := range codes {
			codes[i] = int32(i%(tc.ncats+1)) - 1
		}
		ov, err := obscsv.Overlay(src, "guide", codes, cats)
		if err != nil {
			t.Fatal(err)
		}
		root, err := ov.Root()
		if err != nil {
			t.Fatal(err)
		}
		a, err := root.Array("obs/guide/codes")
		if err != nil {
			t.Fatal(err)
		}
		if a.DType().String() != tc.dtype || a.Shape()[0] != int64(n) {
			t.Errorf("%d categories: codes %s %v, want %s", tc.ncats, a.DType(), a.Shape(), tc.dtype)
		}
		c, err := root.Array("/obs/guide/categories")
		if err != nil {
			t.Fatal(err)
		}
		last, err := c.Strings([]int64{int64(tc.ncats - 1)})
		if err != nil || last[0] != cats[tc.ncats-1] {
			t.Errorf("last category %v %v", last, err)
		}
		if _, err := root.Array("obs/guide"); err == nil {
			t.Error("the categorical group opened as an array")
		}
		root.Close()
	}
}

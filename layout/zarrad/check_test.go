package zarrad

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annslicer/annslicer/layout/zarr"
)

// Declared shapes of zarr v3 stores (written here with the zarr package:
// zarr-python 3 is not on the test machine) are held to storage and to
// n_obs/n_vars when the store is opened. The v2 cases run against
// anndata's own stores in cmd/annslicer/corrupt_zarr_test.go.

const nCells, nGenes = 10, 3

// v3Store writes a small AnnData store in zarr v3: 10 cells x 3 genes, the
// obs index in chunks of 4 (sharded when shard is set), X dense in chunks
// of 4 rows with its middle chunk left out (all fill values, as zarr-python
// 3 leaves such chunks out), obsm/pca 10 x 2.
func v3Store(t *testing.T, shard bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s.zarr")
	attr := func(kv ...string) zarr.Attrs {
		a := zarr.Attrs{}
		for i := 0; i < len(kv); i += 2 {
			a[kv[i]] = json.RawMessage(kv[i+1])
		}
		return a
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(zarr.CreateGroup(dir, "", 3, attr("encoding-type", `"anndata"`, "encoding-version", `"0.1.0"`)))
	df := attr("encoding-type", `"dataframe"`, "encoding-version", `"0.2.0"`, "_index", `"_index"`, "column-order", `[]`)
	must(zarr.CreateGroup(dir, "obs", 3, df))
	must(zarr.CreateGroup(dir, "var", 3, df))
	str := func(p string, n, chunk int, sharded bool) {
		m := zarr.ArrayMeta{Format: 3, Shape: []int{n}, Chunks: []int{chunk}, DType: zarr.MustDType("|O")}
		if sharded {
			m.Chunks = []int{2 * chunk}
			m.Shard = &zarr.Sharding{Chunks: []int{chunk}, IndexCodecs: []zarr.Codec{zarr.CRC32C{}}}
		}
		w, err := zarr.CreateArray(dir, p, m, attr("encoding-type", `"string-array"`, "encoding-version", `"0.2.0"`))
		must(err)
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("%s%d", p[:1], i)
		}
		must(w.WriteAllStrings(s))
	}
	str("obs/_index", nCells, 4, shard)
	str("var/_index", nGenes, 2, false)
	dense := func(p string, shape, chunks []int, skip []int) {
		m := zarr.ArrayMeta{Format: 3, Shape: shape, Chunks: chunks, DType: zarr.MustDType("<f4"), FillValue: json.RawMessage("0")}
		w, err := zarr.CreateArray(dir, p, m, attr("encoding-type", `"array"`, "encoding-version", `"0.2.0"`))
		must(err)
		raw := make([]byte, m.RawChunkSize())
		for i := range raw {
			raw[i] = byte(i%7 + 1)
		}
		for r := 0; r*chunks[0] < shape[0]; r++ {
			if skip != nil && r == skip[0] {
				continue
			}
			must(w.WriteChunk([]int{r, 0}, raw))
		}
	}
	dense("X", []int{nCells, nGenes}, []int{4, nGenes}, []int{1})
	must(zarr.CreateGroup(dir, "obsm", 3, nil))
	dense("obsm/pca", []int{nCells, 2}, []int{4, 2}, nil)
	return dir
}

// setShape rewrites the shape (and chunk shape, when given) in a zarr.json.
func setShape(t *testing.T, dir, p string, shape, chunks []int) {
	t.Helper()
	f := filepath.Join(dir, filepath.FromSlash(p), "zarr.json")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["shape"] = shape
	if chunks != nil {
		doc["chunk_grid"] = map[string]any{"name": "regular", "configuration": map[string]any{"chunk_shape": chunks}}
	}
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestV3StoreOpensWithImplicitChunks(t *testing.T) {
	for _, shard := range []bool{false, true} {
		src, err := Open(v3Store(t, shard), nil)
		if err != nil {
			t.Fatalf("shard=%v: %v", shard, err)
		}
		if src.NObs != nCells || src.NVars != nGenes {
			t.Fatalf("n_obs %d n_vars %d, want %d %d", src.NObs, src.NVars, nCells, nGenes)
		}
	}
}

func TestV3DeclaredShapesAreHeldToStorage(t *testing.T) {
	const big = 1 << 40
	cases := []struct {
		name  string
		shard bool
		edit  func(t *testing.T, dir string)
		wants []string
	}{
		{"obs index 2^40 long", false, func(t *testing.T, d string) { setShape(t, d, "obs/_index", []int{big}, nil) }, []string{"obs/_index", "missing chunk", "1099511627776"}},
		{"obs index chunks [1] of 2^40", false, func(t *testing.T, d string) { setShape(t, d, "obs/_index", []int{big}, []int{1}) }, []string{"obs/_index", "missing chunk", "1099511627776"}},
		{"sharded obs index 2^40 long", true, func(t *testing.T, d string) { setShape(t, d, "obs/_index", []int{big}, nil) }, []string{"obs/_index", "missing chunk"}},
		{"obs index chunk missing", false, func(t *testing.T, d string) {
			if err := os.Remove(filepath.Join(d, "obs", "_index", "c", "1")); err != nil {
				t.Fatal(err)
			}
		}, []string{"obs/_index/c/1", "missing chunk"}},
		{"var index 2^40 long", false, func(t *testing.T, d string) { setShape(t, d, "var/_index", []int{big}, nil) }, []string{"var/_index", "missing chunk"}},
		{"obsm [10, 2^40]", false, func(t *testing.T, d string) { setShape(t, d, "obsm/pca", []int{nCells, big}, nil) }, []string{"obsm/pca", "fill values"}},
		{"obsm [2000, 2^40]", false, func(t *testing.T, d string) { setShape(t, d, "obsm/pca", []int{2000, big}, nil) }, []string{"obsm/pca", "10 cells"}},
		{"X [10, 2^40]", false, func(t *testing.T, d string) { setShape(t, d, "X", []int{nCells, big}, nil) }, []string{"/X", "10 cells x 3 genes"}},
		{"X chunks [1, 1] of 2^40 rows", false, func(t *testing.T, d string) { setShape(t, d, "X", []int{big, nGenes}, []int{1, 1}) }, []string{"/X", "10 cells"}},
		{"X chunk of 2^40 elements", false, func(t *testing.T, d string) { setShape(t, d, "X", []int{nCells, nGenes}, []int{big, nGenes}) }, []string{"X/zarr.json", "per chunk"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := v3Store(t, c.shard)
			c.edit(t, dir)
			_, err := Open(dir, nil)
			if err == nil {
				t.Fatal("opened")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("not one line: %q", msg)
			}
			for _, w := range c.wants {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
		})
	}
}

// In v3 a missing chunk reads as fill values, so a chunk that is there but
// cannot be read (a symlink loop, a dangling link) must fail, not read as
// fill.
func TestV3UnreadableChunkIsNotFill(t *testing.T) {
	for _, target := range []string{"0", "nowhere"} {
		dir := v3Store(t, false)
		if err := os.MkdirAll(filepath.Join(dir, "X", "c", "1"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(dir, "X", "c", "1", "0")); err != nil {
			t.Fatal(err)
		}
		src, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := src.Store.Array("X")
		if err != nil {
			t.Fatal(err)
		}
		err = NewRows(a).ReadRows(make([]byte, 4*nGenes*nCells), 0)
		want := map[string]string{"0": "symlink loop", "nowhere": "dangling symlink"}[target]
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "X/c/1/0") {
			t.Errorf("link to %s: %v, want %q", target, err, want)
		}
	}
}

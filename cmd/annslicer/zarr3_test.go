package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A zarr v3 mount, sharded or not, serves stores byte for byte what
// `materialize --zarr-version 3 --compression none` writes with the same
// flags (one definition of the bytes: zarrad.Entries and zarrad.Write),
// and current anndata reads them as source[rows]. Shards of 7 rows take
// inner chunks of 7; of 1000, more rows than any array has.
func TestZarrV3MountServesTheMaterializedStores(t *testing.T) {
	needFUSE(t)
	needCurrent(t)
	for _, src := range []string{"eco.h5ad", "gen_noawk_v3s.zarr"} {
		for _, layout := range [][]string{{}, {"--zarr-shard-size", "7"}, {"--zarr-shard-size", "1000"}} {
			t.Run(src+strings.Join(layout, ""), func(t *testing.T) {
				path := currentFixture(t, src)
				args := append([]string{"--format", "zarr", "--zarr-version", "3", "--size", "25", "--shuffle", "--seed", "5"}, layout...)
				m := mount(t, path, args...)
				mat := filepath.Join(t.TempDir(), "mat")
				mustSlice(t, append([]string{"materialize", path, mat, "--compression", "none"}, args...)...)
				var virtual []string
				for k := 0; ; k++ {
					name := fmt.Sprintf("shard_%d.zarr", k)
					if _, err := os.Stat(filepath.Join(mat, name)); err != nil {
						break
					}
					virtual = append(virtual, filepath.Join(m.dir, name))
					sameTree(t, filepath.Join(m.dir, name), filepath.Join(mat, name))
				}
				if len(virtual) < 2 {
					t.Fatalf("materialize wrote %d shards", len(virtual))
				}
				if ok, text := checkCurrent(path, virtual, "--size", "25"); !ok {
					t.Errorf("current anndata on the v3 mount:\n%s", text)
				}
				// shards.json says how to materialize the same shards
				man, err := os.ReadFile(filepath.Join(m.dir, "shards.json"))
				want := `"zarr_version": 3,`
				if len(layout) > 0 {
					want += "\n  \"zarr_shard_size\": " + layout[1] + ","
				}
				if err != nil || !strings.Contains(string(man), want) {
					t.Errorf("shards.json lacks %s: %v\n%s", want, err, man)
				}
			})
		}
	}
}

// v3 shards say what they are: zarr.json documents only, the sharding
// codec with --zarr-shard-size, compression inside the shards, consolidated
// metadata; and current anndata reads them without a single warning.
func TestZarrV3ShardsAreV3(t *testing.T) {
	needCurrent(t)
	src := currentFixture(t, "eco.h5ad")
	prefix := filepath.Join(t.TempDir(), "s")
	mustSlice(t, "slice", src, prefix, "--size", "50", "--format", "zarr", "--zarr-version", "3", "--zarr-shard-size", "16", "--compression", "gzip")
	store := prefix + "_shard_0.zarr"
	read := "import sys, anndata; a = anndata.read_zarr(sys.argv[1]); a.raw.X; print(a.shape)"
	if out, err := exec.Command(currentPython, "-W", "error", "-c", read, store).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "(50, 50)" {
		t.Errorf("anndata.read_zarr with warnings as errors: %v\n%s", err, out)
	}
	err := filepath.WalkDir(store, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".z") {
			t.Errorf("v2 document %s in a v3 store", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(store, "obs", "n_genes", "values", "zarr.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name": "sharding_indexed"`, `"chunk_shape": [
        16
      ]`, `"name": "gzip"`, `"name": "crc32c"`, `"node_type": "array"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("obs/n_genes/values/zarr.json lacks %s:\n%s", want, b)
		}
	}
	// 50 rows in shards of 16: four shard files, c/0 .. c/3
	ents, _ := os.ReadDir(filepath.Join(store, "obs", "n_genes", "values", "c"))
	if len(ents) != 4 {
		t.Errorf("obs/n_genes/values has %d shard files, want 4", len(ents))
	}
	root, _ := os.ReadFile(filepath.Join(store, "zarr.json"))
	if !strings.Contains(string(root), `"consolidated_metadata"`) || !strings.Contains(string(root), `"obs/n_genes/values"`) {
		t.Errorf("root zarr.json has no consolidated metadata:\n%.400s", root)
	}
}

// Zarr flags that cannot apply are usage errors (exit 2) naming the flag,
// and nothing is written.
func TestZarrV3FlagErrors(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	src := fixture("full.h5ad")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"slice", src, filepath.Join(dir, "o"), "--format", "zarr", "--zarr-shard-size", "100"}, "--zarr-shard-size needs --zarr-version 3"},
		{[]string{"materialize", src, filepath.Join(dir, "m"), "--format", "zarr", "--zarr-version", "4"}, "--zarr-version 4 is not supported: use 2"},
		{[]string{"slice", src, filepath.Join(dir, "o"), "--zarr-version", "3"}, "--zarr-version and --zarr-shard-size apply to zarr output only"},
		{[]string{"slice", src, filepath.Join(dir, "o"), "--format", "zarr", "--zarr-version", "3", "--zarr-shard-size", "-5"}, "--zarr-shard-size must be a positive number of rows"},
		{[]string{"slice", src, filepath.Join(dir, "o"), "--format", "zarr", "--zarr-version", "3", "--compression", "zlib"}, "--compression zlib has no zarr v3 codec"},
		{[]string{"mount", src, filepath.Join(dir, "mnt"), "--format", "h5ad", "--zarr-version", "3"}, "apply to zarr output only"},
		{[]string{"merge", filepath.Join(dir, "x.h5ad"), src, "--zarr-version", "3"}, "apply to zarr output only"},
		{[]string{"merge", filepath.Join(dir, "x.zarr"), src, "--zarr-shard-size", "10"}, "--zarr-shard-size needs --zarr-version 3"},
		{[]string{"slice", src, filepath.Join(dir, "o"), "--format", "zarr", "--zarr-version", "three"}, `--zarr-version: "three" is not a whole number`},
	} {
		r := annslicer(t, c.args...)
		if msg := strings.TrimSpace(r.stderr); r.code != 2 || !strings.Contains(msg, c.want) || strings.Count(msg, "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, r.code, msg, c.want)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("output left behind: %v", left)
	}
}

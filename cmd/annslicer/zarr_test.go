package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Zarr in and out: shards written as zarr are checked with
// testdata/check_zarr_shards.py (anndata.read_zarr equals source[rows]
// element by element; zarr.open sees the source's tree, dtypes and
// attributes); zarr sources are written from the fixtures by anndata.

var zarrFixtures sync.Map // name -> *zarrFixtureOnce

type zarrFixtureOnce struct {
	once sync.Once
	err  error
}

// zarrFixture is fixture name (an .h5ad) rewritten by anndata.write_zarr.
func zarrFixture(t *testing.T, name string) string {
	t.Helper()
	needPython(t)
	out := fixture(strings.TrimSuffix(name, ".h5ad") + ".zarr")
	v, _ := zarrFixtures.LoadOrStore(name, &zarrFixtureOnce{})
	z := v.(*zarrFixtureOnce)
	z.once.Do(func() {
		script := "import sys, warnings; warnings.filterwarnings('ignore'); import anndata; anndata.read_h5ad(sys.argv[1]).write_zarr(sys.argv[2])"
		if b, err := exec.Command(python, "-c", script, fixture(name), out).CombinedOutput(); err != nil {
			z.err = fmt.Errorf("write_zarr %s: %v\n%s", name, err, b)
		}
	})
	if z.err != nil {
		t.Fatal(z.err)
	}
	return out
}

// zarrShardDirs lists prefix_shard_N.zarr in shard order.
func zarrShardDirs(t *testing.T, prefix string) []string { return shardPaths(t, prefix, ".zarr") }

func checkZarrShards(t *testing.T, source string, shards []string, extra ...string) {
	t.Helper()
	runOracle(t, "check_zarr_shards.py", source, shards, extra...)
}

func TestZarrShardsFromH5ADEqualSourceRows(t *testing.T) {
	needPython(t)
	cases := []struct {
		fixture string
		args    []string
		check   []string
		shards  int
	}{
		{"full.h5ad", []string{"--size", "200"}, []string{"--order", "contiguous", "--size", "200", "--compressor", "blosc"}, 3},
		{"full.h5ad", []string{"--size", "150", "--shuffle", "--seed", "7", "--compression", "none"}, []string{"--size", "150", "--compressor", "none"}, 4},
		{"v07.h5ad", []string{"--size", "50", "--shuffle", "--seed", "2"}, []string{"--size", "50"}, 3},
		{"compressed_lzf.h5ad", []string{"--size", "100", "--compression", "zstd"}, []string{"--order", "contiguous", "--size", "100"}, 3},
		{"int64idx.h5ad", []string{"--size", "64", "--shuffle", "--seed", "3"}, []string{"--size", "64"}, 4},
		{"dense.h5ad", []string{"--size", "30", "--compression", "gzip"}, []string{"--order", "contiguous", "--size", "30"}, 4},
	}
	for _, c := range cases {
		name := strings.TrimSuffix(c.fixture, ".h5ad") + strings.ReplaceAll(strings.Join(c.args, ""), "--", "_")
		t.Run(name, func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "out")
			mustSlice(t, append([]string{"slice", fixture(c.fixture), prefix, "--format", "zarr"}, c.args...)...)
			dirs := zarrShardDirs(t, prefix)
			if len(dirs) != c.shards {
				t.Fatalf("got %d shards %v, want %d", len(dirs), dirs, c.shards)
			}
			checkZarrShards(t, fixture(c.fixture), dirs, c.check...)
		})
	}
}

func TestZarrSourceShardsEqualSourceRows(t *testing.T) {
	needPython(t)
	cases := []struct {
		fixture string
		args    []string
		check   []string
		shards  int
	}{
		{"full.h5ad", []string{"--size", "200", "--shuffle", "--seed", "5"}, []string{"--size", "200", "--compressor", "blosc"}, 3},
		{"full.h5ad", []string{"--size", "250", "--compression", "none"}, []string{"--order", "contiguous", "--size", "250", "--compressor", "none"}, 3},
		{"dense.h5ad", []string{"--size", "40", "--shuffle", "--seed", "1"}, []string{"--size", "40"}, 3},
	}
	for _, c := range cases {
		name := strings.TrimSuffix(c.fixture, ".h5ad") + strings.ReplaceAll(strings.Join(c.args, ""), "--", "_")
		t.Run(name, func(t *testing.T) {
			src := zarrFixture(t, c.fixture)
			prefix := filepath.Join(t.TempDir(), "out")
			mustSlice(t, append([]string{"slice", src, prefix, "--format", "zarr"}, c.args...)...)
			dirs := zarrShardDirs(t, prefix)
			if len(dirs) != c.shards {
				t.Fatalf("got %d shards %v, want %d", len(dirs), dirs, c.shards)
			}
			checkZarrShards(t, src, dirs, c.check...)
		})
	}
}

// treeBytes reads every file under dir: relative path -> content.
func treeBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, got, want string) {
	t.Helper()
	g, w := treeBytes(t, got), treeBytes(t, want)
	for p, b := range w {
		if gb, ok := g[p]; !ok {
			t.Errorf("%s: missing %s", got, p)
		} else if !bytes.Equal(gb, b) {
			t.Errorf("%s/%s differs from %s/%s", got, p, want, p)
		}
	}
	for p := range g {
		if _, ok := w[p]; !ok {
			t.Errorf("%s: unexpected %s", got, p)
		}
	}
}

// A zarr mount serves uncompressed stores that are byte for byte what
// `materialize --format zarr --compression none` writes, and that
// anndata.read_zarr and zarr.open read as source[rows].
func TestZarrMountServesTheMaterializedStores(t *testing.T) {
	needFUSE(t)
	for _, c := range []struct {
		source func(t *testing.T) string
		name   string
		args   []string
		check  []string
		n      int
	}{
		{func(*testing.T) string { return fixture("full.h5ad") }, "h5ad", []string{"--size", "200", "--shuffle", "--seed", "3"}, []string{"--size", "200"}, 3},
		{func(t *testing.T) string { return zarrFixture(t, "full.h5ad") }, "zarr", []string{"--size", "300"}, []string{"--order", "contiguous", "--size", "300"}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := c.source(t)
			m := mount(t, src, append([]string{"--format", "zarr"}, c.args...)...)
			mat := filepath.Join(t.TempDir(), "mat")
			mustSlice(t, append([]string{"materialize", src, mat, "--format", "zarr", "--compression", "none"}, c.args...)...)
			var virtual []string
			for k := 0; k < c.n; k++ {
				name := fmt.Sprintf("shard_%d.zarr", k)
				virtual = append(virtual, filepath.Join(m.dir, name))
				sameTree(t, filepath.Join(m.dir, name), filepath.Join(mat, name))
			}
			if _, err := os.Stat(filepath.Join(m.dir, fmt.Sprintf("shard_%d.zarr", c.n))); err == nil {
				t.Errorf("more than %d shards mounted", c.n)
			}
			checkZarrShards(t, src, virtual, append(c.check, "--compressor", "none")...)
		})
	}
}

// corruptZarr copies the zarr version of full.h5ad and breaks it.
func corruptZarr(t *testing.T, breakIt func(dir string) error) string {
	t.Helper()
	src := zarrFixture(t, "full.h5ad")
	dir := filepath.Join(t.TempDir(), "bad.zarr")
	if out, err := exec.Command("cp", "-r", src, dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := breakIt(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func rewrite(file string, f func(string) string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return os.WriteFile(file, []byte(f(string(b))), 0o644)
}

// Corrupt or unsupported stores: one line naming the file and the problem,
// exit 1, nothing written.
func TestBadZarrStoresFailCleanly(t *testing.T) {
	needPython(t)
	cases := []struct {
		name   string
		breaks func(dir string) error
		wants  []string
	}{
		{"bad JSON", func(d string) error {
			return os.WriteFile(filepath.Join(d, "X", "data", ".zarray"), []byte(`{"zarr_format": 2, "shape": [`), 0o644)
		}, []string{"X/data/.zarray"}},
		{"unknown codec", func(d string) error {
			return rewrite(filepath.Join(d, "layers", "dense", ".zarray"), func(s string) string {
				return strings.Replace(s, `"blosc"`, `"snappy9"`, 1)
			})
		}, []string{"layers/dense/.zarray", "unknown compressor", "snappy9"}},
		// (a missing chunk of any other array reads as its fill value, as in
		// zarr-python, which leaves such chunks out when it writes)
		{"missing index chunk", func(d string) error { return os.Remove(filepath.Join(d, "obs", "_index", "0")) }, []string{"obs/_index/0", "missing chunk"}},
		{"wrong chunk size", func(d string) error {
			// a valid Blosc chunk of 10 float64s where 503 are due
			script := "import sys, numpy as np, numcodecs; open(sys.argv[1], 'wb').write(numcodecs.Blosc(cname='lz4').encode(np.zeros(10)))"
			if out, err := exec.Command(python, "-c", script, filepath.Join(d, "obsm", "X_pca", "0.0")).CombinedOutput(); err != nil {
				return fmt.Errorf("%v %s", err, out)
			}
			return nil
		}, []string{"obsm/X_pca/0.0", "4024"}},
		{"not AnnData", func(d string) error {
			return os.RemoveAll(filepath.Join(d, "obs"))
		}, []string{"bad.zarr", "not an AnnData store"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := corruptZarr(t, c.breaks)
			for _, format := range []string{"zarr", "h5ad"} {
				out := t.TempDir()
				r := annslicer(t, "slice", src, filepath.Join(out, "o"), "--size", "100", "--format", format)
				if r.code != 1 {
					t.Errorf("--format %s: exit %d, want 1 (stderr %q)", format, r.code, r.stderr)
				}
				msg := strings.TrimSuffix(r.stderr, "\n")
				if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "annslicer: ") {
					t.Errorf("want one line starting with 'annslicer: ', got %q", r.stderr)
				}
				for _, w := range c.wants {
					if !strings.Contains(msg, w) {
						t.Errorf("message %q lacks %q", msg, w)
					}
				}
				if left, _ := os.ReadDir(out); len(left) != 0 {
					t.Errorf("output left behind: %v", left)
				}
			}
		})
	}
}

func TestZarrFlagsAndOutputs(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	r := annslicer(t, "slice", fixture("full.h5ad"), filepath.Join(dir, "o"), "--format", "zarr", "--compression", "lzf")
	if r.code != 2 || !strings.Contains(r.stderr, "lzf") {
		t.Errorf("--compression lzf for zarr: exit %d %q, want a usage error", r.code, r.stderr)
	}
	r = annslicer(t, "slice", fixture("full.h5ad"), filepath.Join(dir, "o"), "--format", "parquet")
	if r.code != 2 || !strings.Contains(r.stderr, "parquet") {
		t.Errorf("--format parquet: exit %d %q, want a usage error", r.code, r.stderr)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("output left behind: %v", left)
	}
	out := filepath.Join(dir, "m")
	mustSlice(t, "materialize", fixture("full.h5ad"), out, "--format", "zarr", "--size", "300")
	names := func() []string {
		ents, _ := os.ReadDir(out)
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		return n
	}
	if got := strings.Join(names(), " "); got != "shard_0.zarr shard_1.zarr" {
		t.Fatalf("materialize wrote %q", got)
	}
	before := treeBytes(t, filepath.Join(out, "shard_0.zarr"))
	r = annslicer(t, "materialize", fixture("full.h5ad"), out, "--format", "zarr", "--size", "300", "--shuffle", "--seed", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "shard_0.zarr") || !strings.Contains(r.stderr, "--overwrite") {
		t.Fatalf("want a refusal naming the store and --overwrite, got exit %d %q", r.code, r.stderr)
	}
	mustSlice(t, "materialize", fixture("full.h5ad"), out, "--format", "zarr", "--size", "300", "--shuffle", "--seed", "1", "--overwrite")
	if got := strings.Join(names(), " "); got != "shard_0.zarr shard_1.zarr" {
		t.Fatalf("after --overwrite the directory holds %q", got)
	}
	after := treeBytes(t, filepath.Join(out, "shard_0.zarr"))
	if bytes.Equal(before[filepath.Join("obs", "_index", "0")], after[filepath.Join("obs", "_index", "0")]) {
		t.Error("--overwrite did not replace the shard")
	}
	checkZarrShards(t, fixture("full.h5ad"), []string{filepath.Join(out, "shard_0.zarr"), filepath.Join(out, "shard_1.zarr")}, "--size", "300")
}

// asH5AD is anndata's own h5ad of a zarr store: the reference whose HDF5
// types and attributes h5ad shards of that store must carry.
func asH5AD(t *testing.T, store string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(store), ".zarr")+".h5ad")
	script := "import sys, warnings; warnings.filterwarnings('ignore'); import anndata; anndata.read_zarr(sys.argv[1]).write_h5ad(sys.argv[2])"
	if b, err := exec.Command(python, "-c", script, store, out).CombinedOutput(); err != nil {
		t.Fatalf("write_h5ad of %s: %v\n%s", store, err, b)
	}
	return out
}

// h5ad shards of a zarr source hold source[rows] with the HDF5 types and
// attributes anndata writes for the same data (check_shards.py against
// anndata's h5ad of the store); anndata 0.7's layout survives h5ad -> zarr
// -> h5ad with its categories references.
func TestH5ADShardsOfAZarrSource(t *testing.T) {
	needPython(t)
	src := zarrFixture(t, "full.h5ad")
	ref := asH5AD(t, src)
	for _, c := range []struct {
		args  []string
		check []string
	}{
		{[]string{"--size", "200", "--shuffle", "--seed", "4"}, []string{"--size", "200"}},
		{[]string{"--size", "250", "--compression", "gzip"}, []string{"--order", "contiguous", "--size", "250"}},
	} {
		t.Run(strings.ReplaceAll(strings.Join(c.args, ""), "--", "_"), func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "out")
			mustSlice(t, append([]string{"slice", src, prefix}, c.args...)...)
			checkShards(t, ref, shardFiles(t, prefix), c.check...)
		})
	}
	t.Run("v07 round trip", func(t *testing.T) {
		dir := t.TempDir()
		mustSlice(t, "slice", fixture("v07.h5ad"), filepath.Join(dir, "whole"), "--size", "1000", "--format", "zarr")
		store := filepath.Join(dir, "v07.zarr")
		if err := os.Rename(filepath.Join(dir, "whole_shard_0.zarr"), store); err != nil {
			t.Fatal(err)
		}
		prefix := filepath.Join(dir, "out")
		mustSlice(t, "slice", store, prefix, "--size", "50", "--shuffle", "--seed", "2")
		checkShards(t, fixture("v07.h5ad"), shardFiles(t, prefix), "--size", "50")
	})
}

func TestMountOfAZarrSourceServesH5AD(t *testing.T) {
	needFUSE(t)
	src := zarrFixture(t, "full.h5ad")
	args := []string{"--size", "200", "--shuffle", "--seed", "6"}
	m := mount(t, src, args...)
	want := materialized(t, src, 3, args...)
	for k, v := range m.shards(3) {
		if !sameBytes(readAll(t, []string{v}), readAll(t, want[k:k+1])) {
			t.Errorf("%s differs from materialized %s", v, want[k])
		}
	}
	checkShards(t, asH5AD(t, src), m.shards(3), "--size", "200")
}

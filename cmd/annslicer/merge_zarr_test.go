package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Merge with zarr: .zarr inputs (alone or mixed with .h5ad) and .zarr
// outputs. The oracle is merge_test.go's, reading .zarr paths with
// anndata.read_zarr (the HDF5-level type check is skipped for a zarr
// output; check_zarr_shards.py checks a zarr output's tree, dtypes,
// attributes and compressor where the merge is of one shard).

const zarrReaderPy = `import anndata as ad  # noqa: E402
_read_h5ad = ad.read_h5ad


def _read_any(p, *args, **kw):
    if str(p).rstrip("/").endswith(".zarr"):
        return ad.read_zarr(p)
    return _read_h5ad(p, *args, **kw)


ad.read_h5ad = _read_any
`

var checkMergeZarrPy = strings.NewReplacer(
	"import anndata as ad  # noqa: E402\n", zarrReaderPy,
	"    h5_types(problems, a.source, a.merged)\n", "    if not a.merged.rstrip('/').endswith('.zarr'):\n        h5_types(problems, a.source, a.merged)\n",
).Replace(checkMergePy)

func runZarrMergeChecks(t *testing.T, c *mergeChecks) {
	t.Helper()
	if !strings.Contains(checkMergeZarrPy, "_read_any") || !strings.Contains(checkMergeZarrPy, "if not a.merged") {
		t.Fatal("the zarr merge oracle could not be derived from checkMergePy")
	}
	c.runOracle(t, "check_merge_zarr.py", checkMergeZarrPy)
}

// noWorkLeft fails when a merge left its work directory or temporary
// store next to the output.
func noWorkLeft(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary %s left in %s", e.Name(), dir)
		}
	}
}

func TestMergeZarrShardsRestoresTheSource(t *testing.T) {
	needPython(t)
	checks := &mergeChecks{dir: t.TempDir()}
	src := fixture("full.h5ad")
	contiguous := []string{"--size", "100"}
	shuffled := []string{"--size", "100", "--shuffle", "--seed", "7"}
	slice := func(name, format string, args []string) []string {
		dir := filepath.Join(checks.dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		prefix := filepath.Join(dir, "s")
		mustSlice(t, append([]string{"slice", src, prefix, "--format", format}, args...)...)
		if format == "zarr" {
			return zarrShardDirs(t, prefix)
		}
		return shardFiles(t, prefix)
	}
	zc, zs := slice("zc", "zarr", contiguous), slice("zs", "zarr", shuffled)
	hc, hs := slice("hc", "h5ad", contiguous), slice("hs", "h5ad", shuffled)
	if len(zc) != 6 || len(zs) != 6 || len(hc) != 6 || len(hs) != 6 {
		t.Fatalf("shard counts %d %d %d %d, want 6", len(zc), len(zs), len(hc), len(hs))
	}
	// every other shard as h5ad: the same rows, formats mixed
	mixed := slices.Clone(zs)
	for i := 0; i < len(mixed); i += 2 {
		mixed[i] = hs[i]
	}
	cases := []struct {
		name       string
		inputs     []string // what merge is given (a glob is fine)
		shards     []string
		contiguous bool
	}{
		{"zarr_contiguous", []string{filepath.Join(checks.dir, "zc", "s_shard_*.zarr")}, zc, true},
		{"zarr_shuffled", zs, zs, false},
		{"h5ad_contiguous", []string{filepath.Join(checks.dir, "hc", "s_shard_*.h5ad")}, hc, true},
		{"mixed_shuffled", mixed, mixed, false},
	}
	for _, c := range cases {
		for _, ext := range []string{".zarr", ".h5ad"} {
			if c.name == "h5ad_contiguous" && ext == ".h5ad" {
				continue // merge_test.go's
			}
			name := c.name + strings.ReplaceAll(ext, ".", "_")
			t.Run(name, func(t *testing.T) {
				out := filepath.Join(checks.dir, "out_"+name)
				if err := os.Mkdir(out, 0o755); err != nil {
					t.Fatal(err)
				}
				merged := filepath.Join(out, "merged"+ext)
				r := mustMerge(t, append([]string{merged}, c.inputs...)...)
				if r.stderr != "" {
					t.Errorf("merging shards of one source should warn about nothing, got %q", r.stderr)
				}
				noWorkLeft(t, out)
				job := []string{"roundtrip", "--source", src, "--merged", merged}
				if c.contiguous {
					job = append(job, "--contiguous")
				}
				checks.add(name, append(job, c.shards...)...)
			})
		}
	}
	// one shard merged to .zarr: its zarr tree, dtypes, attributes and
	// compressor are the source's as anndata writes them
	one := slice("one", "zarr", []string{"--size", "1000"})
	merged := filepath.Join(checks.dir, "one", "merged.zarr")
	mustMerge(t, merged, one[0])
	checkZarrShards(t, src, []string{merged}, "--order", "contiguous", "--compressor", "blosc")
	if _, err := os.Stat(filepath.Join(merged, ".zmetadata")); err != nil {
		t.Errorf("no consolidated metadata: %v", err)
	}
	runZarrMergeChecks(t, checks)
}

// asZarr writes the given h5ad files as zarr stores in dir, with anndata.
func asZarr(t *testing.T, dir string, files ...string) []string {
	t.Helper()
	script := "import sys, os, warnings; warnings.filterwarnings('ignore'); import anndata\n" +
		"for p in sys.argv[2:]: anndata.read_h5ad(p).write_zarr(os.path.join(sys.argv[1], os.path.basename(p)[:-5] + '.zarr'))"
	if out, err := exec.Command(python, append([]string{"-c", script, dir}, files...)...).CombinedOutput(); err != nil {
		t.Fatalf("write_zarr: %v\n%s", err, out)
	}
	var out []string
	for _, f := range files {
		out = append(out, filepath.Join(dir, strings.TrimSuffix(filepath.Base(f), ".h5ad")+".zarr"))
	}
	return out
}

func TestMergeZarrJoinsMatchAnndataConcat(t *testing.T) {
	needPython(t)
	in := mergeInputs(t)
	dir := t.TempDir()
	checks := &mergeChecks{dir: dir}
	z := asZarr(t, dir, in("j0.h5ad", "j1.h5ad", "j2.h5ad", "d0.h5ad", "d1.h5ad")...)
	for _, join := range []string{"outer", "inner"} {
		for _, set := range []struct {
			name   string
			inputs []string
			warns  []string
		}{
			{"sparse", z[:3], []string{"layers/extra", "obs/only_here", "obsm/X_umap", "varm", "varp"}},
			{"mixed", []string{z[0], in("j1.h5ad")[0], z[2]}, []string{"layers/extra", "obs/only_here", "obsm/X_umap"}},
			{"dense", z[3:], nil},
		} {
			out := filepath.Join(dir, "out_"+set.name+"_"+join)
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			merged := filepath.Join(out, "merged.zarr")
			r := mustMerge(t, append([]string{"--join", join, merged}, set.inputs...)...)
			for _, w := range set.warns {
				if w == "obs/only_here" && join == "outer" { // kept, filled where missing
					if strings.Contains(r.stderr, w) {
						t.Errorf("%s %s: a warning about %s (kept with --join outer): %q", set.name, join, w, r.stderr)
					}
					continue
				}
				if !strings.Contains(r.stderr, "annslicer: warning: "+w+" ") {
					t.Errorf("%s %s: no warning about %s in %q", set.name, join, w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, ".merge-") {
				t.Errorf("%s %s: a warning names the work directory: %q", set.name, join, r.stderr)
			}
			noWorkLeft(t, out)
			checks.add(set.name+"_"+join, append([]string{"concat", "--join", join, "--merged", merged}, set.inputs...)...)
		}
	}
	runZarrMergeChecks(t, checks)
}

// A corrupt zarr input: one line naming the store and the problem, exit
// 1, nothing written (no output, no work directory), whatever the output.
func TestMergeBadZarrInputsFailCleanly(t *testing.T) {
	needPython(t)
	cases := []struct {
		name   string
		breaks func(dir string) error
		wants  []string
	}{
		{"bad JSON", func(d string) error {
			return os.WriteFile(filepath.Join(d, "X", "data", ".zarray"), []byte(`{"zarr_format": 2, "shape": [`), 0o644)
		}, []string{"bad.zarr", "X/data/.zarray"}},
		{"missing index chunk", func(d string) error { return os.Remove(filepath.Join(d, "obs", "_index", "0")) }, []string{"bad.zarr", "obs/_index/0", "missing chunk"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := corruptZarr(t, c.breaks)
			for _, ext := range []string{".zarr", ".h5ad"} {
				out := t.TempDir()
				r := annslicer(t, "merge", filepath.Join(out, "m"+ext), fixture("full.h5ad"), bad)
				if r.code != 1 {
					t.Errorf("%s: exit %d, want 1 (stderr %q)", ext, r.code, r.stderr)
				}
				msg := strings.TrimSuffix(r.stderr, "\n")
				if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "annslicer: ") {
					t.Errorf("%s: want one line starting with 'annslicer: ', got %q", ext, r.stderr)
				}
				for _, w := range c.wants {
					if !strings.Contains(msg, w) {
						t.Errorf("%s: message %q lacks %q", ext, msg, w)
					}
				}
				if left, _ := os.ReadDir(out); len(left) != 0 {
					t.Errorf("%s: output left behind: %v", ext, left)
				}
			}
		})
	}
}

func TestMergeZarrOutputNeedsOverwrite(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "m.zarr")
	src := zarrFixture(t, "dense.h5ad")
	mustMerge(t, out, src)
	r := annslicer(t, "merge", out, src)
	if r.code != 1 || !strings.Contains(r.stderr, "--overwrite") {
		t.Errorf("existing output: exit %d, stderr %q; want a refusal naming --overwrite", r.code, r.stderr)
	}
	mustMerge(t, "--overwrite", out, src, fixture("dense.h5ad"))
	noWorkLeft(t, dir)
	checks := &mergeChecks{dir: dir}
	checks.add("dense_twice", "concat", "--join", "outer", "--merged", out, src, fixture("dense.h5ad"))
	runZarrMergeChecks(t, checks)
	r = annslicer(t, "merge", filepath.Join(dir, "m.loom"), src)
	if r.code == 0 || !strings.Contains(r.stderr, ".h5ad or .zarr") {
		t.Errorf("bad output extension: exit %d, stderr %q", r.code, r.stderr)
	}
}

// Merging writes the output and nothing else: no input is staged as an
// h5ad copy, no merged h5ad precedes a .zarr output (the plan reads every
// input, h5ad or zarr, where it is). Measured by what the process wrote
// to disk (rusage: bytes of pages dirtied, deleted files included)
// against the output's own allocated size, with TMPDIR and the output
// directory empty afterwards. The source is bench-shaped (1 MB chunks),
// so the output's metadata files do not dominate.
func TestMergeWritesOnlyItsOutput(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "mid.h5ad")
	if out, err := exec.Command(python, filepath.Join(repoRoot, "testdata", "make_bench.py"), src,
		"--cells", "20000", "--genes", "2000", "--density", "0.05", "--no-verify").CombinedOutput(); err != nil {
		t.Fatalf("make_bench.py: %v\n%s", err, out)
	}
	zprefix, hprefix := filepath.Join(dir, "z"), filepath.Join(dir, "h")
	mustSlice(t, "slice", src, zprefix, "--size", "5000", "--format", "zarr")
	mustSlice(t, "slice", src, hprefix, "--size", "5000")
	zs, hs := zarrShardDirs(t, zprefix), shardFiles(t, hprefix)
	if len(zs) != 4 || len(hs) != 4 {
		t.Fatalf("got %d and %d shards, want 4", len(zs), len(hs))
	}
	mixed := []string{zs[0], hs[1], zs[2], hs[3]}
	for _, c := range []struct {
		name   string
		inputs []string
	}{{"zarr", zs}, {"mixed", mixed}} {
		for _, ext := range []string{".zarr", ".h5ad"} {
			t.Run(c.name+strings.ReplaceAll(ext, ".", "_"), func(t *testing.T) {
				out, tmp := t.TempDir(), t.TempDir()
				merged := filepath.Join(out, "merged"+ext)
				cmd := exec.Command(binPath, append([]string{"merge", merged}, c.inputs...)...)
				cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("merge: %v: %s", err, b)
				}
				written := cmd.ProcessState.SysUsage().(*syscall.Rusage).Oublock * 512
				size := allocated(t, merged)
				if written < size/2 {
					t.Fatalf("the process wrote %d bytes for a %d-byte output: this filesystem does not account writes, the test cannot measure", written, size)
				}
				// a staged copy of any input, or a merged h5ad before the
				// store, is at least a quarter of the output
				if written > size+size/5+1<<20 {
					t.Errorf("merge wrote %d bytes to disk for a %d-byte output: something besides the output was written", written, size)
				}
				noWorkLeft(t, out)
				if left, _ := os.ReadDir(tmp); len(left) != 0 {
					t.Errorf("left in TMPDIR: %v", left)
				}
			})
		}
	}
}

// allocated is the disk space the files under p take (their blocks).
func allocated(t *testing.T, p string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(p, func(_ string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			n += info.Sys().(*syscall.Stat_t).Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

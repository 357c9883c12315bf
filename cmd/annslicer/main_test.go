package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// The tests run the real binary on fixtures written by Python anndata, and
// check every shard with testdata/check_shards.py (anndata and h5py read
// each element and compare it with source[rows]). Every checker runs under
// two oracles: Debian's anndata 0.8 (python: the 0.7 layout, old readers)
// and the project venv's current anndata / zarr 3 (currentPython, made by
// scripts/setup.sh from testdata/requirements-current.txt): users read our
// shards with both.

var (
	binPath  string // the annslicer binary under test
	fixtures string // directory of fixtures from testdata/make_fixtures.py
	repoRoot string
	pyErr    error // why Python fixtures are unavailable, if they are
)

// python is Debian's interpreter (anndata 0.8): it writes the fixtures.
const python = "/usr/bin/python3"

var (
	currentPython string // the project venv's interpreter: current anndata, zarr 3
	currentErr    error  // why it is unusable, if it is
)

// currentVersions is what the venv must hold for the current oracle to
// mean anything (scripts/setup.sh installs the pinned versions).
const currentVersions = `
import anndata, zarr, h5py
from packaging.version import Version as V
assert V(anndata.__version__) >= V("0.12"), anndata.__version__
assert V(zarr.__version__) >= V("3"), zarr.__version__
`

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	tmp, err := os.MkdirTemp("", "annslicer-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binPath = filepath.Join(tmp, "annslicer")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building annslicer: %v\n%s", err, out)
		return 1
	}
	currentPython = filepath.Join(repoRoot, ".venv", "bin", "python")
	if out, err := exec.Command(currentPython, "-c", currentVersions).CombinedOutput(); err != nil {
		currentErr = fmt.Errorf("the current-anndata venv %s is unusable (run make setup): %v\n%s", currentPython, err, out)
	}
	fixtures = filepath.Join(tmp, "fixtures")
	if out, err := exec.Command(python, filepath.Join(repoRoot, "testdata", "make_fixtures.py"), fixtures).CombinedOutput(); err != nil {
		pyErr = fmt.Errorf("making fixtures with Python anndata: %v\n%s", err, out)
	}
	defer stopOracleServers()
	return m.Run()
}

// needPython skips without Python anndata, or fails when CI requires it.
func needPython(t *testing.T) {
	t.Helper()
	if pyErr == nil {
		return
	}
	if os.Getenv("ANNSLICER_REQUIRE_PYTHON") == "1" {
		t.Fatalf("ANNSLICER_REQUIRE_PYTHON=1 but %v", pyErr)
	}
	t.Skipf("Python anndata unavailable: %v", pyErr)
}

// needCurrent skips without the venv's current anndata, or fails when CI
// requires Python.
func needCurrent(t *testing.T) {
	t.Helper()
	if currentErr == nil {
		return
	}
	if os.Getenv("ANNSLICER_REQUIRE_PYTHON") == "1" {
		t.Fatalf("ANNSLICER_REQUIRE_PYTHON=1 but %v", currentErr)
	}
	t.Skipf("current anndata unavailable: %v", currentErr)
}

// oracles are the interpreters every checker runs under: Debian's anndata
// 0.8, then the venv's current anndata (a missing venv fails under
// ANNSLICER_REQUIRE_PYTHON=1, else only the old oracle runs, said in the log).
func oracles(t *testing.T) []string {
	t.Helper()
	if currentErr != nil {
		if os.Getenv("ANNSLICER_REQUIRE_PYTHON") == "1" {
			t.Fatalf("ANNSLICER_REQUIRE_PYTHON=1 but %v", currentErr)
		}
		t.Logf("checking with anndata 0.8 only: %v", currentErr)
		return []string{python}
	}
	return []string{python, currentPython}
}

func fixture(name string) string { return filepath.Join(fixtures, name) }

type result struct {
	code   int
	stdout string
	stderr string
}

func annslicer(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running annslicer: %v", err)
	}
	return result{code, o.String(), e.String()}
}

func mustSlice(t *testing.T, args ...string) {
	t.Helper()
	if r := annslicer(t, args...); r.code != 0 {
		t.Fatalf("annslicer %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
}

// shardFiles lists prefix_shard_N.h5ad in shard order (numeric).
func shardFiles(t *testing.T, prefix string) []string { return shardPaths(t, prefix, ".h5ad") }

// shardPaths lists prefix_shard_N<ext> in shard order (numeric).
func shardPaths(t *testing.T, prefix, ext string) []string {
	t.Helper()
	files, err := filepath.Glob(prefix + "_shard_*" + ext)
	if err != nil {
		t.Fatal(err)
	}
	num := func(p string) int {
		var n int
		fmt.Sscanf(strings.TrimSuffix(p[strings.LastIndex(p, "_shard_")+7:], ext), "%d", &n)
		return n
	}
	sort.Slice(files, func(i, j int) bool { return num(files[i]) < num(files[j]) })
	return files
}

// checkShards runs the Python oracle on the shards of source.
func checkShards(t *testing.T, source string, shards []string, extra ...string) {
	t.Helper()
	runOracle(t, "check_shards.py", source, shards, extra...)
}

// runOracle runs a checker of testdata/ on shards; it fails the test on
// any difference from source[rows].
func runOracle(t *testing.T, script, source string, shards []string, extra ...string) {
	t.Helper()
	for _, py := range oracles(t) {
		runOracleWith(t, py, script, source, shards, extra...)
	}
}

// runOracleWith runs a checker of testdata/ under one interpreter.
func runOracleWith(t *testing.T, py, script, source string, shards []string, extra ...string) {
	t.Helper()
	args := append(append([]string{"--source", source}, extra...), shards...)
	if ok, out := runChecker(py, script, args); !ok {
		t.Fatalf("%s (%s) failed:\n%s", script, py, out)
	}
}

func TestSliceShardsEqualSourceRows(t *testing.T) {
	needPython(t)
	cases := []struct {
		fixture string
		args    []string
		check   []string
		shards  int
	}{
		{"full.h5ad", []string{"--size", "100"}, []string{"--order", "contiguous", "--size", "100"}, 6},
		{"full.h5ad", []string{"--size", "100", "--shuffle", "--seed", "7"}, []string{"--size", "100"}, 6},
		{"full.h5ad", []string{"--size", "1000"}, []string{"--order", "contiguous", "--size", "1000"}, 1},
		{"full.h5ad", []string{"--size", "250", "--compression", "gzip"}, []string{"--order", "contiguous", "--size", "250"}, 3},
		{"full.h5ad", []string{"--size", "250", "--compression", "lzf", "--shuffle", "--seed", "1"}, []string{"--size", "250"}, 3},
		{"v07.h5ad", []string{"--size", "50"}, []string{"--order", "contiguous", "--size", "50"}, 3},
		{"v07.h5ad", []string{"--size", "50", "--shuffle", "--seed", "2"}, []string{"--size", "50"}, 3},
		{"int64idx.h5ad", []string{"--size", "64", "--shuffle", "--seed", "3"}, []string{"--size", "64"}, 4},
		{"dense.h5ad", []string{"--size", "30"}, []string{"--order", "contiguous", "--size", "30"}, 4},
		{"compressed_gzip.h5ad", []string{"--size", "100", "--shuffle", "--seed", "4"}, []string{"--size", "100"}, 3},
		{"compressed_lzf.h5ad", []string{"--size", "100"}, []string{"--order", "contiguous", "--size", "100"}, 3},
		{"compressed_lzf.h5ad", []string{"--size", "100", "--compression", "lzf"}, []string{"--order", "contiguous", "--size", "100"}, 3},
		{"nullable_string.h5ad", []string{"--size", "20", "--shuffle", "--seed", "5"}, []string{"--size", "20"}, 4},
	}
	for _, c := range cases {
		name := strings.TrimSuffix(c.fixture, ".h5ad") + strings.ReplaceAll(strings.Join(c.args, ""), "--", "_")
		t.Run(name, func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "out")
			mustSlice(t, append([]string{"slice", fixture(c.fixture), prefix}, c.args...)...)
			files := shardFiles(t, prefix)
			if len(files) != c.shards {
				t.Fatalf("got %d shards %v, want %d", len(files), files, c.shards)
			}
			checkShards(t, fixture(c.fixture), files, c.check...)
		})
	}
}

func readAll(t *testing.T, files []string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func sameBytes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestShuffleSeedIsReproducibleAndNoSeedIsFresh(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	slice := func(name string, extra ...string) [][]byte {
		prefix := filepath.Join(dir, name)
		mustSlice(t, append([]string{"slice", fixture("full.h5ad"), prefix, "--size", "200", "--shuffle"}, extra...)...)
		return readAll(t, shardFiles(t, prefix))
	}
	a, b := slice("a", "--seed", "11"), slice("b", "--seed", "11")
	if !sameBytes(a, b) {
		t.Error("the same seed gave different shards")
	}
	if c := slice("c", "--seed", "12"); sameBytes(a, c) {
		t.Error("seeds 11 and 12 gave the same shards")
	}
	if d, e := slice("d"), slice("e"); sameBytes(d, e) {
		t.Error("two unseeded shuffles gave the same shards")
	}
}

func TestMaterializeWritesTheSameBytesAsSlice(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "s")
	mustSlice(t, "slice", fixture("full.h5ad"), prefix, "--size", "120", "--shuffle", "--seed", "9")
	outdir := filepath.Join(dir, "m")
	mustSlice(t, "materialize", fixture("full.h5ad"), outdir, "--size", "120", "--shuffle", "--seed", "9")
	sliced := shardFiles(t, prefix)
	var mat []string
	for k := range sliced {
		mat = append(mat, filepath.Join(outdir, fmt.Sprintf("shard_%d.h5ad", k)))
	}
	if !sameBytes(readAll(t, sliced), readAll(t, mat)) {
		t.Fatal("materialize and slice wrote different bytes for the same plan")
	}
	checkShards(t, fixture("full.h5ad"), mat, "--size", "120")
}

func TestDebugPrintsOneLinePerShard(t *testing.T) {
	needPython(t)
	r := annslicer(t, "--debug", "slice", fixture("full.h5ad"), filepath.Join(t.TempDir(), "o"), "--size", "200")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	if n := strings.Count(r.stderr, "shard "); n != 3 {
		t.Errorf("want 3 shard lines with --debug, got %d:\n%s", n, r.stderr)
	}
	r = annslicer(t, "slice", fixture("full.h5ad"), filepath.Join(t.TempDir(), "o"), "--size", "200")
	if r.stderr != "" {
		t.Errorf("without --debug and a terminal, stderr should stay quiet, got %q", r.stderr)
	}
}

// Bad input: one line on stderr naming the file, non-zero exit, nothing
// left in the output directory.
func TestBadInputFailsCleanly(t *testing.T) {
	needPython(t)
	notDir := filepath.Join(t.TempDir(), "plainfile")
	os.WriteFile(notDir, []byte("x"), 0o644)
	cases := []struct {
		name  string
		args  func(out string) []string
		wants []string // substrings of the message
		code  int
	}{
		{"missing file", func(o string) []string { return []string{"slice", fixture("nope.h5ad"), o} }, []string{"nope.h5ad", "no such file"}, 1},
		{"not HDF5", func(o string) []string { return []string{"slice", fixture("not_hdf5.h5ad"), o} }, []string{"not_hdf5.h5ad", "not an HDF5 file"}, 1},
		{"HDF5 but not AnnData", func(o string) []string { return []string{"slice", fixture("not_anndata.h5"), o} }, []string{"not_anndata.h5", "not an AnnData file"}, 1},
		{"truncated", func(o string) []string { return []string{"slice", fixture("truncated.h5ad"), o} }, []string{"truncated.h5ad", "truncated"}, 1},
		{"CSC matrix", func(o string) []string { return []string{"slice", fixture("csc.h5ad"), o} }, []string{"csc.h5ad", "CSC", "tocsr"}, 1},
		{"size zero", func(o string) []string { return []string{"slice", fixture("full.h5ad"), o, "--size", "0"} }, []string{"--size"}, 2},
		{"seed without shuffle", func(o string) []string { return []string{"slice", fixture("full.h5ad"), o, "--seed", "1"} }, []string{"--seed", "--shuffle"}, 2},
		{"bad compression", func(o string) []string {
			return []string{"slice", fixture("full.h5ad"), o, "--compression", "zip"}
		}, []string{"zip"}, 2},
		{"unwritable output", func(o string) []string { return []string{"slice", fixture("full.h5ad"), filepath.Join(notDir, "x")} }, []string{"plainfile", "cannot write"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			r := annslicer(t, c.args(filepath.Join(dir, "out"))...)
			wantCleanFailure(t, r, c.code, c.wants, dir)
		})
	}
}

func TestExistingOutputNeedsOverwrite(t *testing.T) {
	needPython(t)
	prefix := filepath.Join(t.TempDir(), "o")
	mustSlice(t, "slice", fixture("full.h5ad"), prefix, "--size", "300")
	before := readAll(t, shardFiles(t, prefix))
	r := annslicer(t, "slice", fixture("full.h5ad"), prefix, "--size", "300", "--shuffle", "--seed", "1")
	if r.code == 0 || !strings.Contains(r.stderr, "o_shard_0.h5ad") || !strings.Contains(r.stderr, "--overwrite") {
		t.Fatalf("want a refusal naming the file and --overwrite, got exit %d %q", r.code, r.stderr)
	}
	if !sameBytes(before, readAll(t, shardFiles(t, prefix))) {
		t.Fatal("a refused run changed existing shards")
	}
	mustSlice(t, "slice", fixture("full.h5ad"), prefix, "--size", "300", "--shuffle", "--seed", "1", "--overwrite")
	files := shardFiles(t, prefix)
	if sameBytes(before, readAll(t, files)) {
		t.Fatal("--overwrite did not replace the shards")
	}
	checkShards(t, fixture("full.h5ad"), files, "--size", "300")
}

func TestNamesFileChoosesOutputPaths(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	names := []string{filepath.Join(dir, "a.h5ad"), filepath.Join(dir, "b.h5ad"), filepath.Join(dir, "c.h5ad")}
	list := filepath.Join(dir, "names.txt")
	os.WriteFile(list, []byte(strings.Join(names, "\n")+"\n"), 0o644)
	mustSlice(t, "slice", fixture("full.h5ad"), filepath.Join(dir, "unused"), "--size", "200", "--names", list)
	checkShards(t, fixture("full.h5ad"), names, "--order", "contiguous", "--size", "200")

	short := filepath.Join(dir, "short.txt")
	os.WriteFile(short, []byte(filepath.Join(dir, "x.h5ad")+"\n"), 0o644)
	r := annslicer(t, "slice", fixture("full.h5ad"), filepath.Join(dir, "unused"), "--size", "200", "--names", short)
	if r.code != 2 || !strings.Contains(r.stderr, "short.txt") || !strings.Contains(r.stderr, "1 names for 3 shards") {
		t.Fatalf("too few names: exit %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.h5ad")); err == nil {
		t.Fatal("a shard was written despite too few names")
	}
}

// Ctrl-C in the middle of a run leaves nothing behind: neither temporary
// files nor the shards already finished. The signal is sent at states of
// the run (it has begun writing, a few shards are done, most are), never
// after a delay: a delay can end before the run handles signals (it is
// still loading on a busy machine), and the signal then kills it outright.
// Any file in the output directory exists only after the handler is in.
func TestInterruptLeavesNoOutput(t *testing.T) {
	src := bigSource(t)
	outDir := filepath.Join(t.TempDir(), "out")
	os.Mkdir(outDir, 0o755)
	for _, files := range []int{1, 8, 24} {
		s := start(t, "slice", src, filepath.Join(outDir, "s"), "--size", "2000", "--shuffle", "--seed", "1", "--overwrite")
		if s.waitFor(func() bool { return touched(outDir, nil) >= files }) {
			s.cmd.Process.Signal(os.Interrupt)
		}
		code, sig := s.wait()
		left, _ := os.ReadDir(outDir)
		if code == 0 { // finished before the signal: every shard, no temporaries
			if len(left) != 30 {
				t.Errorf("completed run left %d files, want 30", len(left))
			}
		} else {
			if code != 130 || !strings.Contains(s.stderr.String(), "interrupted") {
				t.Errorf("interrupted run: exit %d (signal %v) %q", code, sig, s.stderr.String())
			}
			if len(left) != 0 {
				t.Errorf("interrupted run left %d files", len(left))
			}
		}
		for _, f := range left {
			os.RemoveAll(filepath.Join(outDir, f.Name()))
		}
	}
}

func TestEmptySourceGivesOneEmptyShard(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "empty.h5ad")
	script := `
import sys, warnings
warnings.filterwarnings("ignore")
import anndata, numpy as np, scipy.sparse as sp, pandas as pd
a = anndata.AnnData(X=sp.csr_matrix((0, 5), dtype=np.float32), obs=pd.DataFrame(index=pd.Index([], dtype=str)),
                    var=pd.DataFrame(index=[f"g{i}" for i in range(5)]))
a.obs["c"] = pd.Categorical([], categories=["a", "b"])
a.write_h5ad(sys.argv[1])
`
	if out, err := exec.Command(python, "-c", script, src).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustSlice(t, "slice", src, filepath.Join(dir, "e"), "--size", "10")
	check := `
import sys, warnings
warnings.filterwarnings("ignore")
import anndata
a = anndata.read_h5ad(sys.argv[1])
assert a.shape == (0, 5), a.shape
assert list(a.obs["c"].cat.categories) == ["a", "b"]
`
	if out, err := exec.Command(python, "-c", check, filepath.Join(dir, "e_shard_0.h5ad")).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// wantCleanFailure checks a failed run: its exit code, one line on stderr
// saying what is wrong (wants), and nothing left in dir.
func wantCleanFailure(t *testing.T, r result, code int, wants []string, dir string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "annslicer: ") {
		t.Errorf("want one line starting with 'annslicer: ', got %q", r.stderr)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q lacks %q", msg, w)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("output left behind: %v", left)
	}
}

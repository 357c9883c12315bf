package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Python package installs like any package: `pip install ./python` in a
// fresh plain venv (build isolation on, no system site packages), next to
// current anndata (the versions of testdata/requirements-current.txt, so
// pip's cache serves them), and finds the binary next to the venv's
// interpreter, in ANNSLICER_BIN, on PATH, in the checkout's bin/, or says
// clearly that it is missing.
func TestPythonPackageInstallsInAPlainVenv(t *testing.T) {
	t.Parallel() // the slow ecosystem tests overlap one another (2 cores)
	needCurrent(t)
	dir := t.TempDir()
	venv := filepath.Join(dir, "venv")
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir // not the checkout: imports must come from the venv
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	home := "HOME=" + os.Getenv("HOME") // pip's cache
	base := []string{home, "PATH=/usr/bin:/bin"}
	run(base, python, "-m", "venv", venv)
	py := filepath.Join(venv, "bin", "python")
	run(base, py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
		"-c", filepath.Join(repoRoot, "testdata", "requirements-current.txt"),
		filepath.Join(repoRoot, "python"), "anndata")

	// installed into site-packages, the package has no checkout bin/ in reach
	script := `
import os, sys, warnings
warnings.filterwarnings("ignore")
import annslicer, anndata
assert annslicer.__file__.startswith(sys.prefix), annslicer.__file__
want, fixture, out = sys.argv[1:4]
if want == "missing":
    try:
        annslicer.find_binary()
    except FileNotFoundError as e:
        msg = str(e)
        assert "ANNSLICER_BIN" in msg and "PATH" in msg and os.path.join(sys.prefix, "bin") in msg, msg
        print("missing:", msg)
        sys.exit(0)
    sys.exit("found a binary that should not be found: " + annslicer.find_binary())
got = annslicer.find_binary()
assert os.path.samefile(got, want), (got, want)
paths = annslicer.shard_h5ad(fixture, out, shard_size=200)
annslicer.merge_out_of_core(paths, out + "_merged.h5ad", validate=True)
a, b = anndata.read_h5ad(fixture), anndata.read_h5ad(out + "_merged.h5ad")
assert a.shape == b.shape and list(a.obs_names) == list(b.obs_names)
assert (a.X != b.X).nnz == 0
print("ok", anndata.__version__, got)
`
	check := func(env []string, want, out string) string {
		t.Helper()
		return run(env, py, "-c", script, want, fixture("full.h5ad"), filepath.Join(dir, out))
	}
	if o := check(base, "missing", "x"); !strings.Contains(o, "not found") {
		t.Fatalf("no clear error without a binary: %s", o)
	}
	check([]string{home, "PATH=/usr/bin:/bin", "ANNSLICER_BIN=" + binPath}, binPath, "env")
	pathDir := filepath.Join(dir, "onpath")
	os.Mkdir(pathDir, 0o755)
	os.Symlink(binPath, filepath.Join(pathDir, "annslicer"))
	check([]string{home, "PATH=" + pathDir + ":/usr/bin:/bin"}, filepath.Join(pathDir, "annslicer"), "path")
	// next to the interpreter, the venv not activated (PATH lacks it)
	next := filepath.Join(venv, "bin", "annslicer")
	if err := os.Symlink(binPath, next); err != nil {
		t.Fatal(err)
	}
	if o := check(base, next, "next"); !strings.Contains(o, "ok 0.12") {
		t.Fatalf("want current anndata in the fresh venv: %s", o)
	}
}

// In a checkout, the package imported from python/ finds bin/annslicer
// (what `make build` leaves) when nothing else provides a binary.
func TestPythonPackageFindsTheCheckoutsBinary(t *testing.T) {
	needCurrent(t)
	checkout := t.TempDir()
	if err := os.CopyFS(filepath.Join(checkout, "python"), os.DirFS(filepath.Join(repoRoot, "python"))); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(checkout, "bin"), 0o755)
	want := filepath.Join(checkout, "bin", "annslicer")
	if err := os.Symlink(binPath, want); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(currentPython, "-c", "import annslicer, sys; print(annslicer.find_binary())")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "PYTHONPATH=" + filepath.Join(checkout, "python")}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Fatalf("find_binary in a checkout: %v %q, want %s", err, out, want)
	}
}

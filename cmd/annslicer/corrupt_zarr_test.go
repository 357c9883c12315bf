package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Corrupt zarr sources: every variant of a good store, sliced to h5ad and
// to zarr under a 1 GiB memory limit and a 60 s deadline, must
// either succeed with shards equal to what anndata reads from that same
// store (the shard checkers), or fail with exit 1, one line, and nothing
// left in the output directory. A signal, a panic, a Go fatal error or a
// timeout fails the test. The store is anndata's write_zarr of full.h5ad
// (zarr v2, Blosc lz4, one chunk per array, 503 cells x 37 genes).

const (
	corruptDeadline = 60 * time.Second
	twoTo40         = "1099511627776" // 2^40
)

// limitedRun runs the binary under the corruption tests' memory limit
// (corruptMemLimitKiB) and deadline; a signal (a crash, or the kernel
// ending a run that outgrew the limit) fails the test. The limit is
// RLIMIT_DATA (ulimit -d: heap, anonymous mappings, thread stacks: the
// memory a process can write), not RLIMIT_AS (ulimit -v): the Go runtime
// reserves address space it never touches, so a 1 GiB address-space
// limit made valid runs fail at random with "out of memory" while about
// 150 MB was in use.
func limitedRun(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), corruptDeadline)
	defer cancel()
	// glibc reserves 64 MiB of address space per thread arena: with its
	// default, an address-space limit measures threads, not memory.
	cmd := exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", `ulimit -d "$1" && shift && exec "$@"`, "sh",
		strconv.Itoa(corruptMemLimitKiB), binPath}, args...)...)
	cmd.Env = append(os.Environ(), "MALLOC_ARENA_MAX=2")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("annslicer %s: still running after %v", strings.Join(args, " "), corruptDeadline)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("annslicer %s: killed by %v; stderr: %s", strings.Join(args, " "), ws.Signal(), firstLines(e.String()))
		}
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running annslicer: %v", err)
	}
	return result{code, o.String(), e.String()}
}

func firstLines(s string) string {
	lines := strings.SplitN(s, "\n", 6)
	return strings.Join(lines[:min(len(lines), 5)], "\n")
}

// Editing helpers: each returns a breaker for corruptZarr.

func editJSON(rel, old, new string) func(string) error {
	return func(d string) error {
		f := filepath.Join(d, rel)
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte(old)) {
			return fmt.Errorf("%s does not contain %q: %s", rel, old, b)
		}
		return os.WriteFile(f, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644)
	}
}

// flipBit flips bit (0-7) of the byte at off (negative: from the end).
func flipBit(rel string, off, bit int) func(string) error {
	return func(d string) error {
		f := filepath.Join(d, rel)
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if off < 0 {
			off += len(b)
		}
		b[off] ^= 1 << bit
		return os.WriteFile(f, b, 0o644)
	}
}

func truncateTo(rel string, frac float64) func(string) error {
	return func(d string) error {
		f := filepath.Join(d, rel)
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		return os.Truncate(f, int64(float64(st.Size())*frac))
	}
}

// garble overwrites n bytes in the middle of a file with a fixed pattern.
func garble(rel string, n int) func(string) error {
	return func(d string) error {
		f := filepath.Join(d, rel)
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		mid := len(b) / 2
		for i := 0; i < n && mid+i < len(b); i++ {
			b[mid+i] = byte(0xA5 ^ i*37)
		}
		return os.WriteFile(f, b, 0o644)
	}
}

// editMeta rewrites a JSON document (m) with a Python statement, as
// zarr-python writes it.
func editMeta(rel, stmt string) func(string) error {
	return func(d string) error {
		script := "import sys, json\nm = json.load(open(sys.argv[1]))\n" + stmt +
			"\njson.dump(m, open(sys.argv[1], 'w'), indent=4, sort_keys=True)\n"
		if out, err := exec.Command(python, "-c", script, filepath.Join(d, rel)).CombinedOutput(); err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	}
}

// pyChunk rewrites an array's chunk 0 (and its .zarray shape) with values
// computed by Python from the current ones (v, numpy), Blosc lz4 as
// anndata writes it.
func pyChunk(rel, expr string) func(string) error {
	return func(d string) error {
		script := `import sys, json, numpy as np, zarr, numcodecs
a = zarr.open_array(sys.argv[1], mode="r")
v = a[...]
v = np.asarray(` + expr + `, dtype=a.dtype)
meta = json.load(open(sys.argv[1] + "/.zarray"))
meta["shape"] = list(v.shape)
meta["chunks"] = list(v.shape)
json.dump(meta, open(sys.argv[1] + "/.zarray", "w"), indent=4, sort_keys=True)
open(sys.argv[1] + "/0", "wb").write(numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1).encode(np.ascontiguousarray(v)))
`
		if out, err := exec.Command(python, "-c", script, filepath.Join(d, rel)).CombinedOutput(); err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	}
}

func consolidate(d string) error {
	script := "import sys, zarr; zarr.consolidate_metadata(sys.argv[1])"
	if out, err := exec.Command(python, "-c", script, d).CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

func both(fs ...func(string) error) func(string) error {
	return func(d string) error {
		for _, f := range fs {
			if err := f(d); err != nil {
				return err
			}
		}
		return nil
	}
}

type zarrCorruptCase struct {
	name   string
	breaks func(dir string) error
	// wants are fragments the one-line error must hold (when it fails).
	wants []string
}

func corruptZarrCases() []zarrCorruptCase {
	symlinkLoop := func(rel string) func(string) error {
		return func(d string) error {
			f := filepath.Join(d, rel)
			if err := os.RemoveAll(f); err != nil {
				return err
			}
			return os.Symlink(filepath.Base(f), f)
		}
	}
	return []zarrCorruptCase{
		// chunk files
		{"truncated X data chunk", truncateTo("X/data/0", 0.5), []string{"X/data/0"}},
		{"truncated obs index chunk", truncateTo("obs/_index/0", 0.1), []string{"obs/_index/0"}},
		{"empty dense layer chunk", truncateTo("layers/dense/0.0", 0), []string{"layers/dense/0.0"}},
		{"garbled X indices chunk", garble("X/indices/0", 64), nil},
		{"garbled var index chunk", garble("var/_index/0", 16), nil},
		{"bit flip in blosc header", flipBit("obsm/X_pca/0.0", 5, 3), []string{"obsm/X_pca/0.0"}},
		{"bit flip in dense layer data", flipBit("layers/dense/0.0", -40, 6), nil},
		{"bit flip in string column data", flipBit("obs/barcode/0", -9, 2), nil},
		{"chunk of the wrong size", func(d string) error {
			b, err := os.ReadFile(filepath.Join(d, "obs/i32/0"))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(d, "obs/f64/0"), b, 0o644)
		}, []string{"obs/f64/0"}},
		{"missing chunk", func(d string) error { return os.Remove(filepath.Join(d, "obsm/X_umap/0.0")) }, []string{"obsm/X_umap/0.0", "missing chunk"}},
		{"missing obs index chunk", func(d string) error { return os.Remove(filepath.Join(d, "obs/_index/0")) }, []string{"obs/_index/0", "missing chunk"}},
		{"directory as chunk", func(d string) error {
			f := filepath.Join(d, "X/indptr/0")
			if err := os.Remove(f); err != nil {
				return err
			}
			return os.Mkdir(f, 0o755)
		}, []string{"X/indptr/0", "is a directory"}},
		{"FIFO as chunk", func(d string) error {
			f := filepath.Join(d, "obsm/X_pca/0.0")
			if err := os.Remove(f); err != nil {
				return err
			}
			return syscall.Mkfifo(f, 0o644)
		}, []string{"obsm/X_pca/0.0", "not a regular file"}},
		{"symlink loop chunk", symlinkLoop("X/data/0"), []string{"X/data/0", "symlink loop"}},
		{"symlink loop metadata", symlinkLoop("obs/f64/.zarray"), []string{"obs/f64/.zarray", "symlink loop"}},
		{"symlink loop group", symlinkLoop("uns/nested"), []string{"uns/nested", "symlink loop"}},
		// metadata
		{"bit flip in zarray brace", flipBit("layers/dense/.zarray", 0, 0), []string{"layers/dense/.zarray"}}, // '{' -> 'z'
		{"bit flip in shape digit", editMeta("layers/dense/.zarray", `m["shape"] = [503, 36]`), []string{"layers/dense", "[503 36]", "37 genes"}},
		{"bit flip in dtype", editJSON("obs/f64/.zarray", `"<f8"`, `"<f9"`), []string{"obs/f64/.zarray", "<f9"}},
		{"wrong dtype same size", editJSON("obs/f64/.zarray", `"<f8"`, `"<i8"`), nil},
		{"wrong dtype other size", editJSON("obsm/X_pca/.zarray", `"<f8"`, `"<f4"`), []string{"obsm/X_pca/0.0"}},
		{"compressor removed", editMeta("X/data/.zarray", `m["compressor"] = None`), []string{"X/data/0"}},
		{"truncated zarray", truncateTo("var/mean/.zarray", 0.5), []string{"var/mean/.zarray"}},
		{"garbled zattrs", garble("obs/.zattrs", 4), []string{"obs/.zattrs"}},
		{"zgroup of format 3", editJSON(".zgroup", "2", "3"), []string{".zgroup", "zarr_format"}},
		// declared sizes
		{"obs index 2^40 long", editMeta("obs/_index/.zarray", `m["shape"] = [2**40]`), []string{"obs/_index", twoTo40, "missing chunk"}},
		{"obs index chunks [1] of 2^40", editMeta("obs/_index/.zarray", `m["shape"] = [2**40]; m["chunks"] = [1]`), []string{"obs/_index", twoTo40, "missing chunk"}},
		{"obs column chunks [1] of 2^40", editMeta("obs/f64/.zarray", `m["shape"] = [2**40]; m["chunks"] = [1]`), []string{"obs/f64", twoTo40}},
		{"var index 2^40 long", editMeta("var/_index/.zarray", `m["shape"] = [2**40]`), []string{"var/_index", twoTo40}},
		{"obsm [2000, 2^40]", editMeta("obsm/X_pca/.zarray", `m["shape"] = [2000, 2**40]`), []string{"obsm/X_pca", "2000", "503 cells"}},
		{"obsm [503, 2^40]", editMeta("obsm/X_pca/.zarray", `m["shape"] = [503, 2**40]`), []string{"obsm/X_pca", twoTo40}},
		{"obsm chunks [1, 1]", editMeta("obsm/X_umap/.zarray", `m["chunks"] = [1, 1]`), []string{"obsm/X_umap", "decoded bytes"}},
		{"dense layer [503, 2^40]", editMeta("layers/u16/.zarray", `m["shape"] = [503, 2**40]`), []string{"layers/u16", twoTo40}},
		{"uns array 2^40 long", editMeta("uns/arr/.zarray", `m["shape"] = [2**40]`), []string{"uns/arr", twoTo40}},
		{"chunk of 2^40 elements", editMeta("uns/arr/.zarray", `m["chunks"] = [2**40]`), []string{"uns/arr/.zarray", "per chunk"}},
		{"huge string itemsize", editJSON("uns/title/.zarray", `"<U17"`, `"<U99999999999"`), []string{"uns/title/.zarray"}},
		// consolidated metadata
		{"zmetadata bit flip", both(consolidate, flipBit(".zmetadata", 0, 1)), []string{".zmetadata"}},
		{"zmetadata truncated", both(consolidate, truncateTo(".zmetadata", 0.6)), []string{".zmetadata"}},
		{"zmetadata obs index 2^40", both(consolidate, editMeta(".zmetadata", `m["metadata"]["obs/_index/.zarray"]["shape"] = [2**40]`)), []string{"obs/_index", twoTo40}},
		// CSR structure (checked by the engine's gather)
		{"indptr past nnz", pyChunk("X/indptr", "np.concatenate([v[:-1], [v[-1] + 500]])"), []string{"X"}},
		{"negative indptr", pyChunk("layers/counts/indptr", "np.concatenate([[-7], v[1:]])"), []string{"layers/counts"}},
		{"data shorter than indices", pyChunk("obsp/distances/data", "v[: v.size // 2]"), []string{"obsp/distances"}},
		{"indptr not monotonic", pyChunk("X/indptr", "np.concatenate([v[:100], [v[300]], v[101:]])"), []string{"X"}},
		{"indices past n_vars", pyChunk("X/indices", "np.concatenate([v[:7], [1000000], v[8:]])"), []string{"X"}},
		{"negative indices", pyChunk("raw/X/indices", "np.concatenate([[-5], v[1:]])"), []string{"raw/X"}},
		{"X shape attribute 2^40 genes", editMeta("X/.zattrs", `m["shape"] = [503, 2**40]`), []string{"X", twoTo40}},
	}
}

func TestCorruptZarrSourcesFailCleanlyOrSliceExactly(t *testing.T) {
	needPython(t)
	cases := corruptZarrCases()
	if len(cases) < 25 {
		t.Fatalf("only %d corrupt variants", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := corruptZarr(t, c.breaks)
			for _, format := range []string{"h5ad", "zarr"} {
				out := t.TempDir()
				prefix := filepath.Join(out, "o")
				r := limitedRun(t, "slice", src, prefix, "--size", "200", "--format", format)
				if r.code == 0 {
					sliceMatchesStore(t, src, prefix, format)
					continue
				}
				if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "fatal error") {
					t.Fatalf("--format %s: crashed (exit %d): %s", format, r.code, firstLines(r.stderr))
				}
				t.Logf("--format %s: %s", format, strings.TrimSpace(r.stderr))
				wantCleanFailure(t, r, 1, c.wants, out)
			}
		})
	}
}

// sliceMatchesStore checks the shards of a successful run against what
// anndata reads from the (corrupt) store itself.
func sliceMatchesStore(t *testing.T, src, prefix, format string) {
	t.Helper()
	if format == "zarr" {
		checkZarrShards(t, src, zarrShardDirs(t, prefix), "--order", "contiguous", "--size", "200")
		return
	}
	checkShards(t, asH5AD(t, src), shardFiles(t, prefix), "--order", "contiguous", "--size", "200")
}

// A merge whose zarr input declares 2^40 cells fails at once, leaving
// neither output nor work directory. (A staging directory left by a merge
// that was killed is swept by the next run: output_safety_test.go.)
func TestMergeOfCorruptZarrLeavesNothing(t *testing.T) {
	needPython(t)
	src := corruptZarr(t, editMeta("obs/_index/.zarray", `m["shape"] = [2**40]`))
	for _, output := range []string{"m.h5ad", "m.zarr"} {
		out := t.TempDir()
		r := limitedRun(t, "merge", filepath.Join(out, output), src)
		wantCleanFailure(t, r, 1, []string{"obs/_index", "missing chunk"}, out)
	}
}

// A merge interrupted while it works (SIGINT, SIGTERM or SIGHUP) removes
// its staging directory (work files and temporaries) and exits 130:
// nothing is left next to the output. The merge is frozen (SIGSTOP) once
// its staging directory is seen, so the signal arrives mid-work whatever the load.
func TestInterruptedZarrMergeLeavesNothing(t *testing.T) {
	needPython(t)
	good := zarrFixture(t, "full.h5ad")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			for attempt := 0; attempt < 20; attempt++ {
				out := t.TempDir()
				cmd := exec.Command(binPath, "merge", filepath.Join(out, "m.zarr"), good, good, good, good)
				var e bytes.Buffer
				cmd.Stderr = &e
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				exited := make(chan error, 1)
				go func() { exited <- cmd.Wait() }()
				if !stopInWork(cmd.Process.Pid, out, exited) {
					continue // finished before it could be caught: try again
				}
				syscall.Kill(cmd.Process.Pid, sig)
				syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
				err := <-exited
				ee, ok := err.(*exec.ExitError)
				if !ok {
					t.Fatalf("merge was not stopped by %v: %v; stderr %q", sig, err, e.String())
				}
				if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() && ws.ExitStatus() == 2 {
					t.Fatalf("merge crashed: %s", firstLines(e.String()))
				}
				if left, _ := os.ReadDir(out); len(left) != 0 {
					t.Fatalf("left behind after %v: %v", sig, left)
				}
				return
			}
			t.Fatal("the merge never ran long enough to be interrupted")
		})
	}
}

// stopInWork freezes process pid once a run's staging directory appears in
// dir; false when the process ended first or the directory was already
// gone when it froze (then it is resumed and reaped).
func stopInWork(pid int, dir string, exited chan error) bool {
	for {
		select {
		case err := <-exited:
			exited <- err
			return false
		default:
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".annslicer-") {
				syscall.Kill(pid, syscall.SIGSTOP)
				if _, err := os.Stat(filepath.Join(dir, e.Name())); err == nil {
					return true
				}
				syscall.Kill(pid, syscall.SIGCONT)
				<-exited
				return false
			}
		}
		time.Sleep(time.Millisecond)
	}
}

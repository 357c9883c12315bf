package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sources written by current anndata (testdata/make_current_fixtures.py:
// gen_adata, zarr v2, zarr v3, sharded zarr v3, nullable strings, record
// arrays...) are sliced, mounted and merged in both formats, and every
// output is read back with current anndata and compared element by element
// with source[rows] (testdata/check_current.py).

var (
	currentOnce sync.Once
	currentDir  string
	currentFail error
)

// currentFixture is the path of a fixture of make_current_fixtures.py,
// written once per test binary by the venv's current anndata.
func currentFixture(t *testing.T, name string) string {
	t.Helper()
	needCurrent(t)
	currentOnce.Do(func() {
		currentDir = filepath.Join(filepath.Dir(fixtures), "current")
		out, err := exec.Command(currentPython, filepath.Join(repoRoot, "testdata", "make_current_fixtures.py"), currentDir).CombinedOutput()
		if err != nil {
			currentFail = fmt.Errorf("make_current_fixtures.py: %v\n%s", err, out)
		}
	})
	if currentFail != nil {
		t.Fatal(currentFail)
	}
	return filepath.Join(currentDir, name)
}

// checkCurrent runs check_current.py: whether every output matched
// source[rows], and what it printed.
func checkCurrent(source string, outputs []string, extra ...string) (bool, string) {
	return runChecker(currentPython, "check_current.py", append(append([]string{"--source", source}, extra...), outputs...))
}

// knownFailures are the combinations (fixture, or "fixture op") that fail
// today, with the text the failure must still show (parts separated by
// "…" must all appear). They are asserted, not skipped: a fix makes its row
// fail the test until the row is removed. A "fixture op" row takes
// precedence over a "fixture" row. Mounts of refused sources mount, and
// every shard read fails with EIO; the reason is on the mount's stderr.
var knownFailures = map[string]string{}

// currentSources are the fixtures of make_current_fixtures.py.
func currentSources() []string {
	var out []string
	for _, n := range []string{"plain", "gen", "gen_noawk", "eco", "stridx", "awk"} {
		out = append(out, n+".h5ad", n+"_v2.zarr", n+"_v3.zarr", n+"_v3s.zarr")
	}
	return out
}

// expectation is what a combination must do by table: "" = work and
// match, else fail showing that text.
func expectation(table map[string]string, fixture, op string) string {
	if w, ok := table[fixture+" "+op]; ok {
		return w
	}
	return table[fixture]
}

// outcome checks one combination against its row of table; text is every
// message the run and the check printed.
func outcome(t *testing.T, table map[string]string, fixture, op string, ok bool, text string) {
	t.Helper()
	want := expectation(table, fixture, op)
	switch {
	case want == "" && !ok:
		t.Errorf("%s %s failed:\n%s", fixture, op, text)
	case want != "" && ok:
		t.Errorf("%s %s now works: remove its row from the known failures (%q)", fixture, op, want)
	case want != "" && !containsAll(text, strings.Split(want, "…")):
		t.Errorf("%s %s fails differently from its known failure (%q):\n%s", fixture, op, want, text)
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// checkTable fails on a row naming no combination: it would excuse
// nothing and hide a typo.
func checkTable(t *testing.T, table map[string]string, sources []string, ops []currentOp) {
	t.Helper()
	names := map[string]bool{}
	for _, o := range ops {
		names[o.name] = true
	}
	srcs := map[string]bool{}
	for _, s := range sources {
		srcs[s] = true
	}
	for k := range table {
		f, op, _ := strings.Cut(k, " ")
		if !srcs[f] || (op != "" && !names[op]) {
			t.Errorf("known-failure row %q names no combination of the test", k)
		}
	}
}

type currentOp struct {
	name string
	run  func(t *testing.T, src string, size int) (ok bool, text string)
}

// annslicerText runs the binary; ok and stderr.
func annslicerText(t *testing.T, args ...string) (bool, string) {
	t.Helper()
	r := annslicer(t, args...)
	return r.code == 0, r.stderr
}

// sliceAndCheck slices src to format (extra: more flags, e.g. the zarr
// version) and checks the shards.
func sliceAndCheck(format string, shuffle bool, extra ...string) func(t *testing.T, src string, size int) (bool, string) {
	return func(t *testing.T, src string, size int) (bool, string) {
		prefix := filepath.Join(t.TempDir(), "s")
		n := fmt.Sprint(size)
		args := append([]string{"slice", src, prefix, "--size", n, "--format", format}, extra...)
		check := []string{"--size", n, "--order", "contiguous"}
		if shuffle {
			args = append(args, "--shuffle", "--seed", "3")
			check = check[:2]
		}
		if ok, msg := annslicerText(t, args...); !ok {
			return false, msg
		}
		return checkCurrent(src, shardPaths(t, prefix, "."+format), check...)
	}
}

func mountAndCheck(format string, extra ...string) func(t *testing.T, src string, size int) (bool, string) {
	return func(t *testing.T, src string, size int) (bool, string) {
		needFUSE(t)
		n := fmt.Sprint(size)
		m, msg := tryMount(t, src, append([]string{"--format", format, "--size", n, "--shuffle", "--seed", "5"}, extra...)...)
		if m == nil {
			return false, msg
		}
		entries, err := os.ReadDir(m.dir)
		if err != nil {
			return false, err.Error()
		}
		var shards []string
		for k := 0; ; k++ { // shard order, numeric
			name := fmt.Sprintf("shard_%d.%s", k, format)
			if !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == name }) {
				break
			}
			shards = append(shards, filepath.Join(m.dir, name))
		}
		ok, text := checkCurrent(src, shards, "--size", n)
		if !ok { // why the shards could not be read: the mount's log
			m.stop(t)
			text += m.stderr.String()
		}
		return ok, text
	}
}

// mergeAndCheck slices contiguously, merges the shards back and checks the
// merged output is the source, in order, except obsp: merge stacks graphs
// block-diagonally (as anndata.concat(pairwise=True)), so the edges
// between shards are gone.
// mergeAndCheck: extra flags go to both the slice and the merge.
func mergeAndCheck(format string, extra ...string) func(t *testing.T, src string, size int) (bool, string) {
	return func(t *testing.T, src string, size int) (bool, string) {
		dir := t.TempDir()
		prefix := filepath.Join(dir, "s")
		if ok, msg := annslicerText(t, append([]string{"slice", src, prefix, "--size", fmt.Sprint(size), "--format", format}, extra...)...); !ok {
			return false, msg
		}
		merged := filepath.Join(dir, "merged."+format)
		if ok, msg := annslicerText(t, append(append([]string{"merge", merged}, shardPaths(t, prefix, "."+format)...), extra...)...); !ok {
			return false, msg
		}
		return checkCurrent(src, []string{merged}, "--order", "contiguous", "--obsp-blocks", fmt.Sprint(size))
	}
}

var currentOps = opsWithZarrShards("10")

// opsWithZarrShards are the operations checked on every source, the
// sharded zarr v3 ones with shards of n entries.
func opsWithZarrShards(n string) []currentOp {
	return []currentOp{
		{"slice-h5ad", sliceAndCheck("h5ad", false)},
		{"slice-h5ad-shuffle", sliceAndCheck("h5ad", true)},
		{"slice-zarr", sliceAndCheck("zarr", false)},
		{"slice-zarr-shuffle", sliceAndCheck("zarr", true)},
		{"mount-h5ad", mountAndCheck("h5ad")},
		{"mount-zarr", mountAndCheck("zarr")},
		{"merge-h5ad", mergeAndCheck("h5ad")},
		{"merge-zarr", mergeAndCheck("zarr")},
		// zarr v3 outputs, as anndata >= 0.12 writes them (several shards
		// per array, the last one partial)
		{"slice-zarr3", sliceAndCheck("zarr", false, "--zarr-version", "3")},
		{"slice-zarr3-sharded-shuffle", sliceAndCheck("zarr", true, "--zarr-version", "3", "--zarr-shard-size", n, "--compression", "zstd")},
		{"mount-zarr3-sharded", mountAndCheck("zarr", "--zarr-version", "3", "--zarr-shard-size", n)},
		{"merge-zarr3-sharded", mergeAndCheck("zarr", "--zarr-version", "3", "--zarr-shard-size", n)},
	}
}

func TestCurrentAnndataSources(t *testing.T) {
	t.Parallel() // the slow ecosystem tests overlap one another (2 cores)
	needCurrent(t)
	checkTable(t, knownFailures, currentSources(), currentOps)
	for _, src := range currentSources() {
		t.Run(src, func(t *testing.T) {
			path := currentFixture(t, src)
			for _, op := range currentOps {
				t.Run(op.name, func(t *testing.T) {
					ok, text := op.run(t, path, 25)
					outcome(t, knownFailures, src, op.name, ok, text)
				})
			}
		})
	}
}

// tryMount is mount() for sources that may be refused: nil and the
// message when `annslicer mount` exits before mounting.
func tryMount(t *testing.T, source string, args ...string) (*mounted, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := &mounted{dir: dir, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	m.cmd = exec.Command(binPath, append([]string{"mount", source, dir}, args...)...)
	m.cmd.Stderr = m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	// mounting is not timed: the loop ends when the mount appears or the
	// process exits; the deadline only stops a hung mount from hanging CI
	deadline := time.Now().Add(2 * time.Minute)
	for !isMounted(dir) {
		select {
		case err := <-m.done:
			return nil, fmt.Sprintf("mount exited: %v\n%s", err, m.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.cmd.Process.Kill()
			t.Fatalf("not mounted after 2 minutes\n%s", m.stderr)
		}
	}
	t.Cleanup(func() { m.stop(t) })
	return m, ""
}

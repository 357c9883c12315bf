package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Output safety (issue 9): a failed, interrupted or killed run leaves every
// pre-existing file exactly as it was and nothing partial under a final
// name; inputs are never replaced; a set of shards is never mixed with an
// earlier one.

// dirState is every entry under dir (hidden ones too) with its bytes, or
// "<dir>" for directories.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			out[rel] = "<dir>"
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameState fails unless dir holds exactly what before recorded.
func sameState(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := dirState(t, dir)
	var diffs []string
	for p, b := range before {
		if a, ok := after[p]; !ok {
			diffs = append(diffs, "missing "+p)
		} else if a != b {
			diffs = append(diffs, "changed "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, "new "+p)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s differs from before the run: %s", dir, strings.Join(diffs, ", "))
	}
}

var big struct {
	once sync.Once
	path string
	err  error
}

// bigSource is an h5ad of 60,000 cells (30 shards of 2,000), large enough
// that a run is still writing when a test signals it.
func bigSource(t *testing.T) string {
	t.Helper()
	needPython(t)
	big.once.Do(func() {
		big.path = filepath.Join(filepath.Dir(binPath), "big.h5ad")
		if out, err := exec.Command(python, filepath.Join(repoRoot, "testdata", "make_bench.py"), big.path, "--cells", "60000", "--genes", "3000", "--no-verify").CombinedOutput(); err != nil {
			big.err = fmt.Errorf("make_bench: %v\n%s", err, out)
		}
	})
	if big.err != nil {
		t.Fatal(big.err)
	}
	return big.path
}

// started is a run of the binary in the background.
type started struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

func start(t *testing.T, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.Command(binPath, args...), done: make(chan struct{})}
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-s.done })
	return s
}

func (s *started) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *started) wait() (code int, sig syscall.Signal) {
	<-s.done
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, ws.Signal()
		}
		return ee.ExitCode(), 0
	}
	return 0, 0
}

// stamps identifies every file under dir by inode, size and mtime: cheap
// enough to poll, and a file replaced by a rename gets a new stamp.
func stamps(dir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			rel, _ := filepath.Rel(dir, p)
			out[rel] = fmt.Sprintf("%d %d %d", info.Sys().(*syscall.Stat_t).Ino, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return out
}

// touched counts the files under dir that are new or replaced since
// before: the progress of a run, wherever it writes.
func touched(dir string, before map[string]string) int {
	n := 0
	for p, st := range stamps(dir) {
		if before[p] != st {
			n++
		}
	}
	return n
}

// waitFor polls until cond holds or the run ends; it reports whether cond
// held while the run was still going. It asserts nothing about time: the
// run being done first is an outcome the callers handle.
func (s *started) waitFor(cond func() bool) bool {
	for !s.exited() {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// signalMidRun starts `slice` over an existing set of shards in dir, sends
// sig once the run is writing (new files exist), and returns the exit.
// A run that finished before the signal could land is tried again.
func signalMidRun(t *testing.T, dir string, sig syscall.Signal, args ...string) (code int, signaled syscall.Signal, stderr string, pid int) {
	t.Helper()
	return signalAfter(t, dir, 8, sig, args...)
}

// signalAfter is signalMidRun once files files under dir are new or
// replaced.
func signalAfter(t *testing.T, dir string, files int, sig syscall.Signal, args ...string) (code int, signaled syscall.Signal, stderr string, pid int) {
	t.Helper()
	for try := 0; try < 5; try++ {
		before := stamps(dir)
		s := start(t, args...)
		// A few shards' worth: some are complete (and, before output
		// sets, already renamed over the previous ones).
		if !s.waitFor(func() bool { return touched(dir, before) >= files }) {
			code, _ := s.wait()
			t.Fatalf("the run ended (exit %d) before writing anything: %s", code, s.stderr.String())
		}
		s.cmd.Process.Signal(sig)
		code, signaled := s.wait()
		if code == 0 && signaled == 0 {
			t.Logf("try %d: the run finished before %v arrived; again", try, sig)
			continue
		}
		return code, signaled, s.stderr.String(), s.cmd.Process.Pid
	}
	t.Fatalf("five runs finished before %v arrived", sig)
	return
}

// SIGINT, SIGTERM and SIGHUP in the middle of an --overwrite run: exit
// 130, and the previous shards are still there, byte for byte, with
// nothing new beside them (no staging directory, no temporary).
func TestSignalMidRunKeepsPreviousShards(t *testing.T) {
	src := bigSource(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			prefix := filepath.Join(dir, "s")
			mustSlice(t, "slice", src, prefix, "--size", "2000")
			before := dirState(t, dir)
			code, signaled, stderr, _ := signalMidRun(t, dir, sig, "slice", src, prefix, "--size", "2000", "--shuffle", "--seed", "3", "--overwrite")
			if code != 130 || !strings.Contains(stderr, "interrupted") {
				t.Errorf("want exit 130 and 'interrupted', got exit %d (signal %v): %q", code, signaled, stderr)
			}
			sameState(t, dir, before)
		})
	}
}

// The same for a zarr run, whose shards are written in groups: no group
// may appear before the whole set is done.
func TestSignalMidZarrRunKeepsPreviousStores(t *testing.T) {
	src := bigSource(t)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "z")
	mustSlice(t, "slice", src, prefix, "--size", "6000", "--format", "zarr")
	before := dirState(t, dir)
	code, signaled, stderr, _ := signalMidRun(t, dir, syscall.SIGTERM, "slice", src, prefix, "--size", "6000", "--format", "zarr", "--shuffle", "--seed", "3", "--overwrite")
	if code != 130 || !strings.Contains(stderr, "interrupted") {
		t.Errorf("want exit 130 and 'interrupted', got exit %d (signal %v): %q", code, signaled, stderr)
	}
	sameState(t, dir, before)
}

// A signal mid-merge (merge checks for it between inputs): exit 130, the
// previous OUTPUT unchanged, nothing beside it. Merge used to die of the
// signal, leaving its temporary file.
func TestSignalMidMergeKeepsPreviousOutput(t *testing.T) {
	src := bigSource(t)
	shards := filepath.Join(t.TempDir(), "s")
	mustSlice(t, "slice", src, shards, "--size", "1000")
	dir := t.TempDir()
	out := filepath.Join(dir, "merged.h5ad")
	mustMerge(t, out, shards+"_shard_*.h5ad")
	before := dirState(t, dir)
	code, signaled, stderr, _ := signalAfter(t, dir, 1, syscall.SIGTERM, "merge", out, shards+"_shard_*.h5ad", "--overwrite")
	if code != 130 || !strings.Contains(stderr, "interrupted") {
		t.Errorf("want exit 130 and 'interrupted', got exit %d (signal %v): %q", code, signaled, stderr)
	}
	sameState(t, dir, before)
}

// kill -9 mid-run: every final name still holds its previous, whole
// shard; the only leftover is the run's staging directory, which the next
// run removes (and says so with --debug).
func TestKill9LeavesOnlyAStagingDirectory(t *testing.T) {
	src := bigSource(t)
	// A temporary directory of its own: any annslicer run removes the
	// scratch of dead processes from its temporary directory, so a run of
	// another test suite on the machine could take the killed run's
	// scratch before this test looks for it (seen with two suites at once).
	t.Setenv("TMPDIR", t.TempDir())
	dir := t.TempDir()
	prefix := filepath.Join(dir, "s")
	mustSlice(t, "slice", src, prefix, "--size", "2000")
	before := dirState(t, dir)
	code, signaled, _, pid := signalMidRun(t, dir, syscall.SIGKILL, "slice", src, prefix, "--size", "2000", "--shuffle", "--seed", "5", "--overwrite")
	if signaled != syscall.SIGKILL {
		t.Fatalf("want the run killed, got exit %d", code)
	}
	after := dirState(t, dir)
	var stage string
	for p, b := range after {
		top := strings.Split(p, string(filepath.Separator))[0]
		if strings.HasPrefix(top, ".annslicer-") {
			stage = top
			continue
		}
		if before[p] != b {
			t.Errorf("%s changed or appeared after kill -9", p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s is gone after kill -9", p)
		}
	}
	if stage == "" {
		t.Fatal("no staging directory after kill -9 mid-run")
	}
	// The source's scratch (the template of its verbatim elements) is in
	// the temporary directory; it goes too.
	scratch, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("annslicer-src-%d-*", pid)))
	if len(scratch) == 0 {
		t.Errorf("no scratch directory of process %d in %s", pid, os.TempDir())
	}
	r := annslicer(t, "--debug", "slice", src, prefix, "--size", "2000", "--shuffle", "--seed", "5", "--overwrite")
	if r.code != 0 {
		t.Fatalf("the next run: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, stage) || !strings.Contains(r.stderr, "no longer running") {
		t.Errorf("--debug does not tell the stale %s was removed: %q", stage, r.stderr)
	}
	for _, sc := range scratch {
		if _, err := os.Stat(sc); err == nil {
			t.Errorf("scratch %s of the killed run is still there", sc)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 30 {
		t.Errorf("after the next run: %d entries, want the 30 shards", len(ents))
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("%s left after the next run", e.Name())
		}
	}
}

// A signal that arrives before the source is even opened (here: while the
// names file, a FIFO, is being read) is handled: exit 130, nothing written.
// The handler used to be installed only after opening and planning the
// source, so such a signal killed the run outright.
func TestSignalBeforeOpeningTheSourceIsHandled(t *testing.T) {
	needPython(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			os.Mkdir(out, 0o755)
			fifo := filepath.Join(dir, "names")
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			s := start(t, "slice", fixture("full.h5ad"), filepath.Join(out, "x"), "--size", "200", "--names", fifo)
			// Opening the FIFO for writing succeeds once the run has it open
			// for reading: then it is inside main, reading --names.
			var w *os.File
			if !s.waitFor(func() bool {
				var err error
				w, err = os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
				return err == nil
			}) {
				t.Fatalf("the run ended before reading its names: %s", s.stderr.String())
			}
			s.cmd.Process.Signal(sig)
			names := []string{filepath.Join(out, "a.h5ad"), filepath.Join(out, "b.h5ad"), filepath.Join(out, "c.h5ad")}
			w.Write([]byte(strings.Join(names, "\n") + "\n"))
			w.Close()
			code, signaled := s.wait()
			if code != 130 || !strings.Contains(s.stderr.String(), "interrupted") {
				t.Errorf("want exit 130 and 'interrupted', got exit %d (signal %v): %q", code, signaled, s.stderr.String())
			}
			if left, _ := os.ReadDir(out); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// A name given twice in --names (also as another spelling of the same
// path) is refused before anything is written.
func TestDuplicateNamesAreRefused(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	os.Symlink(out, filepath.Join(dir, "link"))
	a := filepath.Join(out, "a.h5ad")
	for name, second := range map[string]string{
		"same":    a,
		"dotted":  filepath.Join(out, ".", "a.h5ad"),
		"symlink": filepath.Join(dir, "link", "a.h5ad"),
	} {
		t.Run(name, func(t *testing.T) {
			list := filepath.Join(dir, "names-"+name)
			os.WriteFile(list, []byte(strings.Join([]string{a, filepath.Join(out, "b.h5ad"), second}, "\n")), 0o644)
			r := annslicer(t, "slice", fixture("full.h5ad"), filepath.Join(dir, "unused"), "--size", "200", "--names", list)
			wantCleanFailure(t, r, 2, []string{"names-" + name, "a.h5ad", "shards 0 and 2"}, out)
		})
	}
}

// An output that is the input (by --names, by a prefix, through a symlink
// or a hard link, inside a zarr input) is refused even with --overwrite,
// and the input is untouched.
func TestOutputThatIsTheInputIsRefused(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.h5ad")
	b, err := os.ReadFile(fixture("full.h5ad"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(in, b, 0o644)
	os.Symlink(in, filepath.Join(dir, "sym.h5ad"))
	os.Link(in, filepath.Join(dir, "hard.h5ad"))
	// The input named as a shard of a prefix: the new shard 0, or a
	// shard of an earlier set the new one would remove.
	pin := filepath.Join(dir, "p_shard_0.h5ad")
	os.WriteFile(pin, b, 0o644)
	qin := filepath.Join(dir, "q_shard_3.h5ad")
	os.WriteFile(qin, b, 0o644)
	zin := filepath.Join(dir, "zin.zarr")
	mustSlice(t, "slice", in, filepath.Join(dir, "zz"), "--size", "1000", "--format", "zarr")
	os.Rename(filepath.Join(dir, "zz_shard_0.zarr"), zin)
	names := func(n ...string) string {
		p := filepath.Join(t.TempDir(), "names")
		os.WriteFile(p, []byte(strings.Join(n, "\n")+"\n"), 0o644)
		return p
	}
	cases := []struct {
		name string
		args []string
	}{
		{"names", []string{"slice", in, "x", "--size", "1000", "--names", names(in)}},
		{"relative spelling", []string{"slice", in, "x", "--size", "1000", "--names", names(filepath.Join(dir, ".", "in.h5ad"))}},
		{"symlink", []string{"slice", in, "x", "--size", "1000", "--names", names(filepath.Join(dir, "sym.h5ad"))}},
		{"hard link", []string{"slice", in, "x", "--size", "1000", "--names", names(filepath.Join(dir, "hard.h5ad"))}},
		{"prefix", []string{"slice", pin, filepath.Join(dir, "p"), "--size", "1000"}},
		{"prefix, earlier shard", []string{"slice", qin, filepath.Join(dir, "q"), "--size", "1000"}},
		{"inside a zarr input", []string{"slice", zin, filepath.Join(zin, "x"), "--size", "1000"}},
		{"zarr input as output", []string{"slice", zin, filepath.Join(dir, "zin.zarr"), "--names", names(zin), "--format", "zarr"}},
		{"merge", []string{"merge", in, filepath.Join(dir, "sym.h5ad")}},
		{"merge zarr", []string{"merge", zin, filepath.Join(dir, ".", "zin.zarr")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := dirState(t, dir)
			r := annslicer(t, append(c.args, "--overwrite")...)
			if r.code == 0 || !strings.Contains(r.stderr, "input") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("want a one-line refusal about the input, got exit %d %q", r.code, r.stderr)
			}
			sameState(t, dir, before)
		})
	}
}

// Re-slicing a prefix into fewer shards with --overwrite replaces the
// whole set: shards beyond the new count go too (atomically with the
// rest), so a later merge of PREFIX_shard_* gives the source back. Without
// --overwrite, leftovers of an earlier set are refused by name.
func TestResliceWithAnotherSizeReplacesTheWholeSet(t *testing.T) {
	needPython(t)
	for _, c := range []struct {
		name   string
		format string
		cmd    func(dir string, size string) []string
		shards func(dir string) []string
	}{
		{"slice", "h5ad", func(d, size string) []string {
			return []string{"slice", fixture("full.h5ad"), filepath.Join(d, "p"), "--size", size}
		}, func(d string) []string { return shardFiles(t, filepath.Join(d, "p")) }},
		{"slice zarr", "zarr", func(d, size string) []string {
			return []string{"slice", fixture("full.h5ad"), filepath.Join(d, "p"), "--size", size, "--format", "zarr"}
		}, func(d string) []string { return zarrShardDirs(t, filepath.Join(d, "p")) }},
		{"materialize", "h5ad", func(d, size string) []string {
			return []string{"materialize", fixture("full.h5ad"), filepath.Join(d, "m"), "--size", size}
		}, func(d string) []string { return numbered(t, filepath.Join(d, "m", "shard_*.h5ad")) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			mustSlice(t, c.cmd(dir, "100")...)
			if n := len(c.shards(dir)); n != 6 {
				t.Fatalf("%d shards of 100, want 6", n)
			}
			// Without --overwrite, with the names of the new set free:
			// refused for the leftovers, nothing changed.
			for _, p := range c.shards(dir)[:3] {
				os.RemoveAll(p)
			}
			before := dirState(t, dir)
			r := annslicer(t, c.cmd(dir, "250")...)
			if r.code == 0 || !strings.Contains(r.stderr, "_3."+c.format) || !strings.Contains(r.stderr, "--overwrite") {
				t.Errorf("want a refusal naming the leftovers and --overwrite, got exit %d %q", r.code, r.stderr)
			}
			sameState(t, dir, before)
			// With --overwrite: exactly the new set, which merges back to
			// the source.
			mustSlice(t, append(c.cmd(dir, "250"), "--overwrite")...)
			got := c.shards(dir)
			if len(got) != 3 {
				t.Fatalf("after re-slicing into 3: %v", got)
			}
			if c.format == "zarr" {
				checkZarrShards(t, fixture("full.h5ad"), got, "--order", "contiguous", "--size", "250")
			} else {
				checkShards(t, fixture("full.h5ad"), got, "--order", "contiguous", "--size", "250")
			}
			glob := strings.Replace(got[0], "_0."+c.format, "_*."+c.format, 1)
			merged := filepath.Join(t.TempDir(), "merged.h5ad")
			mustMerge(t, merged, glob)
			same := "import sys, warnings; warnings.filterwarnings('ignore'); import anndata; m, s = anndata.read_h5ad(sys.argv[1]), anndata.read_h5ad(sys.argv[2]); " +
				"assert list(m.obs_names) == list(s.obs_names), (m.n_obs, s.n_obs)"
			if out, err := exec.Command(python, "-c", same, merged, fixture("full.h5ad")).CombinedOutput(); err != nil {
				t.Errorf("merging %s does not give the source's cells back: %v\n%s", glob, err, out)
			}
		})
	}
}

// A full filesystem mid-run: a one-line message naming the filesystem,
// the previous outputs unchanged, nothing else left. Real: a small tmpfs
// holding the previous outputs, filled up to a few KB. The amounts free
// put the failure in our writes, in libhdf5's writes, and in libhdf5's
// flush when a shard is closed (which said "code -1"); one worker makes
// the place of the failure the same every run.
func TestFullDiskKeepsPreviousOutputs(t *testing.T) {
	needPython(t)
	for _, c := range []struct {
		name string
		fs   string // size of the tmpfs
		old  []string
		free int64
		run  []string
	}{
		{"h5ad", "2m", []string{"--size", "100", "--compression", "gzip"}, 8 << 10, []string{"--size", "100"}},
		{"h5ad at close", "2m", []string{"--size", "100", "--compression", "gzip"}, 100 << 10, []string{"--size", "100"}},
		{"h5ad gzip", "2m", []string{"--size", "100", "--compression", "gzip"}, 8 << 10, []string{"--size", "100", "--compression", "gzip"}},
		{"h5ad gzip at close", "2m", []string{"--size", "100", "--compression", "gzip"}, 160 << 10, []string{"--size", "100", "--compression", "gzip"}},
		{"zarr", "8m", []string{"--size", "250", "--format", "zarr"}, 8 << 10, []string{"--size", "250", "--format", "zarr", "--compression", "none"}},
		{"merge", "2m", nil, 200 << 10, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+c.fs, "tmpfs", dir).CombinedOutput(); err != nil {
				t.Fatalf("mount a tmpfs (the test runs as root): %v %s", err, out)
			}
			t.Cleanup(func() { exec.Command("umount", dir).Run() })
			prefix := filepath.Join(dir, "p")
			args := append(append([]string{"slice", fixture("full.h5ad"), prefix}, c.run...), "--overwrite")
			if c.name == "merge" {
				mustMerge(t, prefix+".h5ad", fixture("full.h5ad"))
				args = []string{"merge", prefix + ".h5ad", fixture("full.h5ad"), fixture("full.h5ad"), "--overwrite"}
			} else {
				mustSlice(t, append([]string{"slice", fixture("full.h5ad"), prefix}, c.old...)...)
			}
			fill(t, filepath.Join(dir, "filler"), c.free)
			before := dirState(t, dir)
			cmd := exec.Command(binPath, args...)
			cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			msg := strings.TrimSpace(stderr.String())
			if code := cmd.ProcessState.ExitCode(); code != 1 || err == nil || strings.Contains(msg, "\n") || !strings.Contains(msg, "no space left on device tmpfs") || !strings.Contains(msg, dir) {
				t.Errorf("want exit 1 and one line 'no space left on device tmpfs (... mounted on %s ...)', got exit %d %q", dir, code, msg)
			}
			if strings.Contains(msg, ".annslicer-") || strings.Contains(msg, "code -1") {
				t.Errorf("the message names a temporary or says nothing: %q", msg)
			}
			sameState(t, dir, before)
		})
	}
}

// fill writes a file taking all but about free bytes of its filesystem.
func fill(t *testing.T, path string, free int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	n := int64(st.Bavail)*st.Bsize - free
	if n <= 0 {
		t.Fatalf("only %d bytes free in %s", int64(st.Bavail)*st.Bsize, filepath.Dir(path))
	}
	if err := os.WriteFile(path, make([]byte, n), 0o644); err != nil {
		t.Fatal(err)
	}
}

// numbered lists the files matching pattern (one * for a number) in
// numeric order.
func numbered(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(pattern, "*")
	num := func(p string) int {
		var n int
		fmt.Sscanf(p[i:], "%d", &n)
		return n
	}
	sort.Slice(files, func(a, b int) bool { return num(files[a]) < num(files[b]) })
	return files
}

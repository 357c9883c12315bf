package materialize

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A commit that fails part way puts every previous output back (files and
// zarr directories) and leaves nothing new; one that succeeds replaces
// them all and removes the extras.
func TestCommitIsAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	a, z, b, extra := filepath.Join(dir, "a.h5ad"), filepath.Join(dir, "z.zarr"), filepath.Join(dir, "b.h5ad"), filepath.Join(dir, "a_extra.h5ad")
	prepare := func() *Set {
		write(t, a, "old a")
		write(t, filepath.Join(z, ".zgroup"), "old z")
		write(t, extra, "old extra")
		os.Remove(b)
		s, err := NewSet([]string{a, z, b}, SetOptions{Overwrite: true, Extra: []string{extra}})
		if err != nil {
			t.Fatal(err)
		}
		write(t, s.Temp(0), "new a")
		write(t, filepath.Join(s.Temp(1), ".zgroup"), "new z")
		return s
	}
	// b was never written: the commit fails after a and z were set aside.
	s := prepare()
	if err := s.Commit(context.Background()); err == nil || !strings.Contains(err.Error(), "b.h5ad") {
		t.Fatalf("want a failure naming b.h5ad, got %v", err)
	}
	if read(t, a) != "old a" || read(t, filepath.Join(z, ".zgroup")) != "old z" || read(t, extra) != "old extra" {
		t.Error("a failed commit did not put the previous outputs back")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("after a failed commit: %v, want a.h5ad, a_extra.h5ad and z.zarr", ents)
	}
	// All written: all replaced, the extra gone, no staging left.
	s = prepare()
	write(t, s.Temp(2), "new b")
	if err := s.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if read(t, a) != "new a" || read(t, filepath.Join(z, ".zgroup")) != "new z" || read(t, b) != "new b" {
		t.Error("a commit did not put the new outputs in place")
	}
	ents, _ = os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("after a commit: %v, want a.h5ad, b.h5ad and z.zarr", ents)
	}
	// Cancelled before: nothing happens.
	s, _ = NewSet([]string{a}, SetOptions{Overwrite: true})
	write(t, s.Temp(0), "newer a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Commit(ctx); err == nil || read(t, a) != "new a" {
		t.Errorf("a cancelled commit: %v, a holds %q", err, read(t, a))
	}
}

// The staging directory of a process killed while renaming: what it had
// moved aside comes back where the final name is empty, and it goes.
func TestStaleStagingIsRemovedAndRestores(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stage := filepath.Join(dir, ".annslicer-"+itoa(dead.Process.Pid)+"-123")
	write(t, filepath.Join(stage, "host"), hostname())
	write(t, filepath.Join(stage, "old", "z.zarr", ".zgroup"), "old z") // final missing: put back
	write(t, filepath.Join(stage, "old", "a.h5ad"), "old a")            // final present: the new one stays
	write(t, filepath.Join(stage, "new", "b.h5ad"), "partial")
	write(t, filepath.Join(dir, "a.h5ad"), "new a")
	other := filepath.Join(dir, ".annslicer-"+itoa(dead.Process.Pid)+"-456")
	write(t, filepath.Join(other, "host"), "another-host")
	var logged []string
	s, err := NewSet([]string{filepath.Join(dir, "c.h5ad")}, SetOptions{Log: func(m string) { logged = append(logged, m) }})
	if err != nil {
		t.Fatal(err)
	}
	s.Abort()
	if _, err := os.Stat(stage); err == nil {
		t.Error("the stale staging directory is still there")
	}
	if _, err := os.Stat(other); err != nil {
		t.Error("the staging directory of another host was removed")
	}
	if read(t, filepath.Join(dir, "z.zarr", ".zgroup")) != "old z" || read(t, filepath.Join(dir, "a.h5ad")) != "new a" {
		t.Error("moved-aside outputs were not put back as they should")
	}
	all := strings.Join(logged, "\n")
	if !strings.Contains(all, "put back "+filepath.Join(dir, "z.zarr")) || !strings.Contains(all, "removed "+stage+", left by process") {
		t.Errorf("log: %q", logged)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A staging directory without its host file is being made, maybe by a run
// on another host sharing the directory (a split run on a cluster), whose
// PID means nothing here: it is left alone even when no process here has
// that PID. (It was removed, and that run's shards with it.)
func TestStagingBeingMadeIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	making := filepath.Join(dir, ".annslicer-"+itoa(dead.Process.Pid)+"-789")
	write(t, filepath.Join(making, "new", "shard_1.h5ad"), "being written")
	s, err := NewSet([]string{filepath.Join(dir, "shard_0.h5ad")}, SetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	write(t, s.Temp(0), "shard 0")
	if err := s.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if read(t, filepath.Join(making, "new", "shard_1.h5ad")) != "being written" {
		t.Error("another run's staging directory was touched")
	}
}

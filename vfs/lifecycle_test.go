package vfs

// The mount's failure paths and lifecycle: writes refused, a changed
// source failing reads, the watcher, unmount, bad names, the memory file
// and the size of the requests the kernel sends (vfs_test.go: the fake
// source, mounting, and reads).

import (
	"bytes"
	"errors"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/annslicer/annslicer/layout/image"
)

func TestWritesFailWithEROFS(t *testing.T) {
	src := newFakeSource()
	_, mnt := mountT(t, src, Options{})
	p := func(s string) string { return filepath.Join(mnt, s) }
	openWith := func(name string, flag int) func() error {
		return func() error {
			f, err := os.OpenFile(p(name), flag, 0o644)
			if err == nil {
				f.Close()
			}
			return err
		}
	}
	tests := []struct {
		name string
		op   func() error
	}{
		{"open O_WRONLY", openWith("shard_0.h5ad", os.O_WRONLY)},
		{"open O_RDWR", openWith("shard_0.h5ad", os.O_RDWR)},
		{"open O_TRUNC", openWith("shard_1.h5ad", os.O_RDONLY|os.O_TRUNC)},
		{"open O_APPEND", openWith(ManifestName, os.O_WRONLY|os.O_APPEND)},
		{"open tree file for writing", openWith("shard_2.zarr/X/0.0", os.O_RDWR)},
		{"create in root", openWith("new.h5ad", os.O_CREATE|os.O_WRONLY)},
		{"create in tree", openWith("shard_2.zarr/X/2.0", os.O_CREATE|os.O_WRONLY)},
		{"write file", func() error { return os.WriteFile(p("shard_3.h5ad"), []byte("x"), 0o644) }},
		{"mkdir", func() error { return os.Mkdir(p("d"), 0o755) }},
		{"mkdir in tree", func() error { return os.Mkdir(p("shard_2.zarr/d"), 0o755) }},
		{"rename file", func() error { return os.Rename(p("shard_0.h5ad"), p("x.h5ad")) }},
		{"rename in tree", func() error { return os.Rename(p("shard_2.zarr/X/0.0"), p("shard_2.zarr/X/9.0")) }},
		{"remove file", func() error { return os.Remove(p("shard_1.h5ad")) }},
		{"remove tree file", func() error { return os.Remove(p("shard_2.zarr/.zgroup")) }},
		{"remove dir", func() error { return os.Remove(p("shard_2.zarr/uns")) }},
		{"chmod", func() error { return os.Chmod(p("shard_0.h5ad"), 0o666) }},
		{"chmod dir", func() error { return os.Chmod(p("shard_2.zarr"), 0o777) }},
		{"chown", func() error { return os.Chown(p("shard_0.h5ad"), 1, 1) }},
		{"chtimes", func() error { return os.Chtimes(p("shard_0.h5ad"), time.Now(), time.Now()) }},
		{"truncate", func() error { return os.Truncate(p("shard_0.h5ad"), 10) }},
		{"symlink", func() error { return os.Symlink("shard_0.h5ad", p("link")) }},
		{"link", func() error { return os.Link(p("shard_0.h5ad"), p("hard")) }},
		{"setxattr", func() error { return syscall.Setxattr(p("shard_0.h5ad"), "user.x", []byte("1"), 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, syscall.EROFS) {
				t.Errorf("got %v, want EROFS", err)
			}
		})
	}
	// Nothing changed.
	got, err := os.ReadFile(p("shard_0.h5ad"))
	if err != nil || !bytes.Equal(got, src.files[0].data) {
		t.Errorf("shard_0.h5ad changed: %d bytes, %v", len(got), err)
	}
}

func TestCheckErrorFailsReadsWithEIO(t *testing.T) {
	src := newFakeSource()
	var logs syncBuffer
	_, mnt := mountT(t, src, Options{CheckInterval: -1, Logger: log.New(&logs, "", 0)})
	f0 := src.files[0]

	f, err := os.Open(filepath.Join(mnt, "shard_0.h5ad"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	// The head is now in the page cache: reading it again costs no ReadAt.
	reads := f0.reads.Load()
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	if f0.reads.Load() != reads {
		t.Fatalf("re-reading the head reached the image: the page cache is not kept")
	}
	const tailOff = 3 << 20
	if f0.maxTo.Load() > tailOff {
		t.Fatalf("read-ahead reached %d: the tail is no longer a fresh region", f0.maxTo.Load())
	}
	if _, err := os.Stat(filepath.Join(mnt, "shard_1.h5ad")); err != nil { // built, never opened
		t.Fatal(err)
	}

	src.fail(errors.New("fake.h5ad: size changed"))

	t.Run("read of a fresh region", func(t *testing.T) {
		if _, err := f.ReadAt(make([]byte, 4096), tailOff); !errors.Is(err, syscall.EIO) {
			t.Errorf("got %v, want EIO", err)
		}
	})
	t.Run("open of another file", func(t *testing.T) {
		if _, err := os.ReadFile(filepath.Join(mnt, "shard_1.h5ad")); !errors.Is(err, syscall.EIO) {
			t.Errorf("got %v, want EIO", err)
		}
	})
	t.Run("lookup of an unbuilt shard", func(t *testing.T) {
		if _, err := os.ReadFile(filepath.Join(mnt, "shard_2.zarr", ".zgroup")); !errors.Is(err, syscall.EIO) {
			t.Errorf("got %v, want EIO", err)
		}
		if n := src.openTree[2].Load(); n != 0 {
			t.Errorf("tree built %d times after the source changed", n)
		}
	})
	t.Run("read of a page-cached region", func(t *testing.T) {
		// The failed check dropped the kernel's cache asynchronously.
		waitFor(t, func() bool {
			_, err := f.ReadAt(head, 0)
			return errors.Is(err, syscall.EIO)
		}, "cached head still served after Check failed")
	})
	t.Run("source stays failed", func(t *testing.T) {
		src.checkErr.Store(nil)
		if _, err := f.ReadAt(head, 1<<20); !errors.Is(err, syscall.EIO) {
			t.Errorf("got %v, want EIO", err)
		}
	})
	if !strings.Contains(logs.String(), "fake.h5ad: size changed") {
		t.Errorf("log %q does not name the error", logs.String())
	}
}

func TestWatcherDropsPageCacheWithoutRequests(t *testing.T) {
	src := newFakeSource()
	_, mnt := mountT(t, src, Options{CheckInterval: 20 * time.Millisecond, Logger: log.New(io.Discard, "", 0)})
	f, err := os.Open(filepath.Join(mnt, "shard_1.h5ad"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.ReadAll(f); err != nil { // whole file in the page cache
		t.Fatal(err)
	}
	src.fail(errors.New("source replaced"))
	waitFor(t, func() bool {
		_, err := f.ReadAt(make([]byte, 100), 500)
		return errors.Is(err, syscall.EIO)
	}, "page-cached bytes still served after the source changed")
}

func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUnmountLeavesNoMount(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipOrFail(t, "%v", err)
	}
	t.Run("Server.Unmount", func(t *testing.T) {
		srv, mnt := mountT(t, newFakeSource(), Options{})
		if !isMounted(t, mnt) {
			t.Fatal("not mounted")
		}
		if err := srv.Unmount(); err != nil {
			t.Fatal(err)
		}
		if isMounted(t, mnt) {
			t.Error("still mounted")
		}
		srv.Wait() // returns at once
	})
	t.Run("Unmount(mountpoint)", func(t *testing.T) {
		srv, mnt := mountT(t, newFakeSource(), Options{})
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		if err := Unmount(mnt); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not return after Unmount(mountpoint)")
		}
		if isMounted(t, mnt) {
			t.Error("still mounted")
		}
	})
	t.Run("busy mount is detached", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("lazy detach needs root")
		}
		src := newFakeSource()
		srv, mnt := mountT(t, src, Options{})
		f, err := os.Open(filepath.Join(mnt, "shard_1.h5ad"))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Unmount(); err != nil {
			t.Fatal(err)
		}
		if isMounted(t, mnt) {
			t.Error("still mounted")
		}
		// The open file keeps working until closed.
		got, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(got, src.files[1].data) {
			t.Errorf("open file after detach: %d bytes, %v", len(got), err)
		}
		f.Close()
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not return after the last file closed")
		}
	})
}

func TestMountRejectsBadShardNames(t *testing.T) {
	for _, names := range [][]string{{"a", "a"}, {"x/y"}, {ManifestName}, {""}, {".."}} {
		src := &memorySource{}
		bad := &namedSource{memorySource: src, names: names}
		if _, err := Mount(t.TempDir(), bad, Options{}); err == nil {
			t.Errorf("names %q: Mount succeeded", names)
		}
	}
}

type namedSource struct {
	*memorySource
	names []string
}

func (n *namedSource) Shards() []ShardInfo {
	var s []ShardInfo
	for _, name := range n.names {
		s = append(s, ShardInfo{Name: name})
	}
	return s
}

func TestMountMemoryFile(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipOrFail(t, "%v", err)
	}
	mnt := t.TempDir()
	srv, err := MountMemoryFile(mnt, 5<<20+3, Options{})
	if err != nil {
		skipOrFail(t, "%v", err)
	}
	t.Cleanup(func() { srv.Unmount() })
	got, err := os.ReadFile(filepath.Join(mnt, MemoryFileName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, PseudoRandom(5<<20+3, 1)) {
		t.Error("memory file bytes differ")
	}
}

// sizeRecorder is an in-memory image that records the size of every read.
type sizeRecorder struct {
	image.Bytes
	mu    sync.Mutex
	sizes map[int]int
}

func (s *sizeRecorder) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	s.sizes[len(p)]++
	s.mu.Unlock()
	return s.Bytes.ReadAt(p, off)
}

type recordingSource struct {
	memorySource
	f *sizeRecorder
}

func (r *recordingSource) OpenFile(int) (image.File, error) { return r.f, nil }

// The kernel's FUSE read-ahead is 128 KiB whatever the filesystem asks
// for; Mount raises it (as root) so that buffered sequential reads arrive
// as 1 MiB requests.
func TestSequentialReadsArriveAsOneMiBRequests(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("raising the read-ahead needs root")
	}
	const size = 16 << 20
	f := &sizeRecorder{Bytes: PseudoRandom(size, 3), sizes: map[int]int{}}
	_, mnt := mountT(t, &recordingSource{f: f}, Options{})
	r, err := os.Open(filepath.Join(mnt, MemoryFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.CopyBuffer(io.Discard, r, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sizes[1<<20]*(1<<20) < size*3/4 {
		t.Errorf("read sizes %v: want mostly 1 MiB requests", f.sizes)
	}
}

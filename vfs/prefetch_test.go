package vfs

import (
	"bytes"
	"errors"
	"io"
	"log"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// With Prefetch, opening a file shard makes all of it into the kernel's
// page cache: once the prefetch is done, reading the whole shard reaches
// the image not once, and gives its exact bytes and size (a store past
// the end would grow the file). Without Prefetch the same reads reach
// the image: the test can tell the two apart.
func TestPrefetchFillsThePageCache(t *testing.T) {
	for _, prefetch := range []bool{true, false} {
		t.Run(map[bool]string{true: "prefetch", false: "none"}[prefetch], func(t *testing.T) {
			src := newFakeSource()
			srv, mnt := mountT(t, src, Options{Prefetch: prefetch})
			path := filepath.Join(mnt, "shard_0.h5ad")
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close() // open until the end: the kernel keeps the shard's pages
			if _, err := f.ReadAt(make([]byte, 10), 5); err != nil {
				t.Fatal(err)
			}
			if prefetch {
				for deadline := time.Now().Add(20 * time.Second); srv.st.prefetch.busy(); time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("prefetch still running after 20 s")
					}
				}
				if n := srv.st.prefetch.stored.Load(); n == 0 {
					t.Fatal("nothing stored in the page cache")
				}
			}
			before := src.files[0].reads.Load()
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, src.files[0].data) {
				t.Fatalf("read %d bytes, not the shard's %d", len(got), len(src.files[0].data))
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != src.files[0].Size() {
				t.Fatalf("size after prefetch: %v %v, want %d", fi, err, src.files[0].Size())
			}
			reads := src.files[0].reads.Load() - before
			if prefetch && reads != 0 {
				t.Errorf("%d reads reached the image after the prefetch, want 0", reads)
			}
			if !prefetch && reads == 0 {
				t.Errorf("no read reached the image without prefetch: the page cache was warm already, the test shows nothing")
			}
		})
	}
}

// A mount whose prefetch is running unmounts at once: the prefetch holds
// no file of the mount open, and stops at the next piece.
func TestUnmountDuringPrefetch(t *testing.T) {
	src := newFakeSource()
	src.files[0] = &countingFile{data: PseudoRandom(64<<20, 12)}
	srv, mnt := mountT(t, src, Options{Prefetch: true})
	f, err := os.Open(filepath.Join(mnt, "shard_0.h5ad"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Unmount() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Unmount during a prefetch: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Unmount still waiting after 20 s")
	}
	srv.Wait()
}

// Pages the prefetch stored are dropped like any others once the source
// changes: reads then fail with EIO, never serve the old bytes.
func TestPrefetchedPagesDroppedWhenTheSourceChanges(t *testing.T) {
	src := newFakeSource()
	srv, mnt := mountT(t, src, Options{Prefetch: true, CheckInterval: 20 * time.Millisecond, Logger: log.New(io.Discard, "", 0)})
	f, err := os.Open(filepath.Join(mnt, "shard_0.h5ad"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	waitFor(t, func() bool { return !srv.st.prefetch.busy() }, "prefetch still running")
	if srv.st.prefetch.stored.Load() == 0 {
		t.Fatal("nothing prefetched")
	}
	src.fail(errors.New("source replaced"))
	waitFor(t, func() bool {
		_, err := f.ReadAt(make([]byte, 100), 2<<20)
		return errors.Is(err, syscall.EIO)
	}, "prefetched bytes still served after the source changed")
}

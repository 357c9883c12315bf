package h5ad

import (
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func pinTestFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "src.h5ad")
	if err := os.WriteFile(p, []byte("0123456789abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Without a lease, a write right after pinning (same size, possibly the
// same clock tick as the file's last change) still fails Check: PinFile
// waits until the file's ctime has settled.
func TestPinWithoutLeaseCatchesAnImmediateWrite(t *testing.T) {
	for _, change := range []string{"write", "touch"} {
		t.Run(change, func(t *testing.T) {
			path := pinTestFile(t)
			p, err := pinFile(path, false)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if ok, _ := p.Leased(); ok {
				t.Fatal("leased")
			}
			if err := p.Check(); err != nil {
				t.Fatalf("check before the change: %v", err)
			}
			if change == "write" {
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteAt([]byte("X"), 3)
				f.Close()
			} else {
				now := time.Now()
				os.Chtimes(path, now, now)
			}
			if p.Check() == nil {
				t.Fatalf("%s right after pinning: Check passed", change)
			}
		})
	}
}

// With a lease, a writer's open waits until Check has recorded the change
// and let it go; a rename over the file is no change (the pinned inode
// keeps its bytes).
func TestPinLeaseHoldsWritersUntilTheChangeIsRecorded(t *testing.T) {
	path := pinTestFile(t)
	p, err := PinFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if ok, why := p.Leased(); !ok {
		t.Fatalf("no lease: %v", why)
	}
	other := filepath.Join(filepath.Dir(path), "other")
	os.WriteFile(other, []byte("new content....."), 0o644)
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err != nil {
		t.Fatalf("after a rename over the pinned file: %v", err)
	}

	path = pinTestFile(t)
	p2, err := PinFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	sigio := make(chan os.Signal, 1)
	signal.Notify(sigio, syscall.SIGIO)
	defer signal.Stop(sigio)
	opened := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			f.Close()
		}
		opened <- err
	}()
	<-sigio
	select {
	case err := <-opened:
		t.Fatalf("the writer's open returned (%v) before the lease was released", err)
	default:
	}
	if p2.Check() == nil {
		t.Fatal("Check passed while a writer waits")
	}
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	if p2.Check() == nil {
		t.Fatal("the change did not stick")
	}
}

func TestPinRefusesAFileOpenForWriting(t *testing.T) {
	path := pinTestFile(t)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if p, err := PinFile(path); err == nil {
		p.Close()
		t.Fatal("pinned a file open for writing")
	}
}

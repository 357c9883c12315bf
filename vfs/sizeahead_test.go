package vfs

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// sizingSource is a fakeSource that knows its file shards' sizes without
// building them (FileSizer, AheadSizer), counting each kind of call and
// noting any that comes after the mount ended.
type sizingSource struct {
	*fakeSource
	lookups, ahead atomic.Int64
	ended          atomic.Bool
	lateCalls      atomic.Int64
}

func (s *sizingSource) FileSize(i int) (int64, error) {
	s.lookups.Add(1)
	return s.files[i].Size(), nil
}

func (s *sizingSource) FileSizeAhead(i int) (int64, error) {
	time.Sleep(20 * time.Millisecond) // long enough to be running at unmount
	if s.ended.Load() {
		s.lateCalls.Add(1)
	}
	s.ahead.Add(1)
	return s.files[i].Size(), nil
}

// Listing the root sizes every file shard ahead, on other goroutines, so
// the stats of `ls -l` that follow find their sizes made; the sizes are the
// same; and the mount's end waits for that work (the source is closed
// after it).
func TestListingSizesShardsAhead(t *testing.T) {
	src := &sizingSource{fakeSource: newFakeSource()}
	_, mnt := mountT(t, src, Options{})
	openRoot(t, mnt) // opening the root starts sizing ahead
	waitFor(t, func() bool { return src.ahead.Load() == 3 }, "the three file shards sized ahead")
	if _, err := os.ReadDir(mnt); err != nil { // READDIRPLUS: the sizes made
		t.Fatal(err)
	}
	for i, sh := range src.shards {
		fi, err := os.Stat(filepath.Join(mnt, sh.Name))
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := src.files[i]; ok && fi.Size() != f.Size() {
			t.Errorf("%s: size %d, want %d", sh.Name, fi.Size(), f.Size())
		}
	}
	if n := src.lookups.Load(); n != 0 {
		t.Errorf("%d lookups sized a shard again after it was sized ahead", n)
	}
	for i := range src.shards {
		if n := src.openFile[i].Load(); n != 0 {
			t.Errorf("shard %d built %d times by stats", i, n)
		}
	}

	// Many shards, unmounted while they are being sized.
	many := &sizingSource{fakeSource: newFakeSource()}
	for i := 4; i < 64; i++ {
		many.shards = append(many.shards, ShardInfo{Name: "x" + string(rune('A'+i)) + ".h5ad"})
		many.files[i] = many.files[0]
	}
	srv2, mnt2 := mountT(t, many, Options{})
	openRoot(t, mnt2)
	time.Sleep(30 * time.Millisecond)
	if err := srv2.Unmount(); err != nil {
		t.Fatal(err)
	}
	srv2.Wait()
	many.ended.Store(true)
	time.Sleep(60 * time.Millisecond)
	if n := many.lateCalls.Load(); n != 0 {
		t.Errorf("%d shards were sized after the mount ended", n)
	}
	if n := many.ahead.Load(); n >= 63 {
		t.Errorf("sizing ahead did not stop at unmount: %d of 63 sized", n)
	}
}

// openRoot opens the mount's root (OPENDIR) and closes it, reading nothing.
func openRoot(t *testing.T, mnt string) {
	t.Helper()
	f, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

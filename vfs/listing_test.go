package vfs

import (
	"errors"
	"fmt"
	"github.com/annslicer/annslicer/layout/image"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// lookedUp reports whether shard i was looked up: a file shard has its
// size pinned, a tree shard was built.
func lookedUp(st *state, i int) bool { return st.sizes[i].Load() > 0 }

// fileShardsOnly is the fake source without its tree shard.
func fileShardsOnly() *fakeSource {
	src := newFakeSource()
	src.shards = []ShardInfo{src.shards[0], src.shards[1], {Name: "shard_2.h5ad", Cells: 0}}
	src.files[2] = src.files[3]
	return src
}

// A listing of the root answers with every file shard's attributes
// (READDIRPLUS): `ls -l` of 20,000 shards then needs no lookup of its own
// per shard (2.8 s before, 1.7 s after), when the source sizes shards
// without building them (FileSizer, as the engine's mounts). A zarr
// shard's entry is its directory's attributes, with no tree built: a
// plain `ls` builds none.
func TestListingGivesFileShardsAttributes(t *testing.T) {
	files := fileShardsOnly()
	srv, mnt := mountT(t, &sizingSource{fakeSource: files}, Options{})
	if _, err := os.ReadDir(mnt); err != nil { // getdents only: no stat
		t.Fatal(err)
	}
	for i, sh := range files.shards {
		if !lookedUp(srv.st, i) {
			t.Errorf("%s: not looked up by the listing", sh.Name)
		}
	}
	for i, sh := range files.shards {
		fi, err := os.Stat(filepath.Join(mnt, sh.Name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != files.files[i].Size() {
			t.Errorf("%s: size %d, want %d", sh.Name, fi.Size(), files.files[i].Size())
		}
	}

	// with a tree shard too, the listing gives the file shards'
	// attributes and builds no tree
	mixed := newFakeSource()
	srv2, mnt2 := mountT(t, &sizingSource{fakeSource: mixed}, Options{})
	if _, err := os.ReadDir(mnt2); err != nil {
		t.Fatal(err)
	}
	for i, sh := range mixed.shards {
		if !sh.IsTree() && !lookedUp(srv2.st, i) {
			t.Errorf("%s: not looked up by the listing of a mount with a tree shard", sh.Name)
		}
	}
	if n := mixed.openTree[2].Load(); n != 0 {
		t.Errorf("the zarr shard was built %d times by a listing", n)
	}
}

// Extended attributes: there are none, and the kernel is told so once
// (ENOSYS) for the whole mount, so that `ls -l` does not ask the server
// twice per file; callers see EOPNOTSUPP, as on a file system without
// them (ENODATA before).
func TestNoExtendedAttributes(t *testing.T) {
	src := newFakeSource()
	_, mnt := mountT(t, src, Options{})
	buf := make([]byte, 64)
	for _, name := range []string{"shard_0.h5ad", "shard_1.h5ad", "shard_2.zarr", ".", ManifestName} {
		p := filepath.Join(mnt, name)
		// what `ls -l` asks (its ACL question the kernel answers itself)
		for _, attr := range []string{"security.selinux", "user.x"} {
			if _, err := unix.Lgetxattr(p, attr, buf); !errors.Is(err, unix.EOPNOTSUPP) {
				t.Errorf("getxattr %s %s: %v, want EOPNOTSUPP", name, attr, err)
			}
		}
		if _, err := unix.Listxattr(p, buf); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
			t.Errorf("listxattr %s: %v", name, err)
		}
	}
}

// A file's close() sends no flush to the server (FOPEN_NOFLUSH; the
// first ENOSYS stops them on older kernels): nothing is written.
func TestClosesSendNoFlush(t *testing.T) {
	src := newFakeSource()
	_, mnt := mountT(t, src, Options{})
	before := flushes.Load()
	for range 5 {
		for _, name := range []string{"shard_0.h5ad", ManifestName, "shard_2.zarr/X/0.0"} {
			f, err := os.Open(filepath.Join(mnt, name))
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	if n := flushes.Load() - before; n > 1 {
		t.Errorf("%d flushes reached the server for 15 closes", n)
	}
}

// manySource is n file shards of a few bytes each, sized without being
// built.
type manySource struct{ n int }

func (m manySource) Shards() []ShardInfo {
	sh := make([]ShardInfo, m.n)
	for i := range sh {
		sh[i] = ShardInfo{Name: fmt.Sprintf("shard_%d.h5ad", i), Cells: 1}
	}
	return sh
}
func (m manySource) Manifest() image.File                { return image.Bytes("{}\n") }
func (m manySource) OpenFile(i int) (image.File, error)  { return image.Bytes(fmt.Sprint(i)), nil }
func (m manySource) OpenTree(int) ([]image.Entry, error) { return nil, errors.New("no trees") }
func (m manySource) Check() error                        { return nil }
func (m manySource) FileSize(i int) (int64, error)       { return int64(len(fmt.Sprint(i))), nil }

// liveObjects is the number of objects on the Go heap after a
// collection. (Not bytes: go-fuse's request buffers, 1 MiB each, grow
// with the requests in flight, whatever was listed.)
func liveObjects() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapObjects)
}

// Listing and stat'ing every shard of a mount leaves nothing behind per
// shard: file shards have no node (the bridge's tables and the root's
// children grew by a node per shard the kernel had looked up: ~550 bytes
// each, 55 MB at 100,000 shards), and the listing is made at each request.
// The shards still read back right after.
func TestListedShardsHoldNoMemory(t *testing.T) {
	const n = 20000
	srv, mnt := mountT(t, manySource{n}, Options{})
	before := liveObjects()
	for range 2 { // ls -l, twice
		es, err := os.ReadDir(mnt)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != n+1 {
			t.Fatalf("%d entries, want %d", len(es), n+1)
		}
		for _, e := range es {
			if _, err := os.Lstat(filepath.Join(mnt, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	grown := liveObjects() - before
	if k := len(srv.st.root.Children()); k > 1 { // shards.json's node
		t.Errorf("the root holds %d nodes after listing %d shards", k, n)
	}
	// the sizes are pinned in an array made at mount; a node per shard
	// was ~550 bytes in 6 objects or so
	if grown > n/10 {
		t.Errorf("the heap grew by %d objects listing %d shards", grown, n)
	}
	t.Logf("heap grown by %d objects listing %d shards", grown, n)
	for _, i := range []int{0, 7, n - 1} {
		b, err := os.ReadFile(filepath.Join(mnt, fmt.Sprintf("shard_%d.h5ad", i)))
		if err != nil || string(b) != fmt.Sprint(i) {
			t.Errorf("shard_%d.h5ad: %q, %v", i, b, err)
		}
	}
}

// treesSource is n tree shards of a few directories and files each.
type treesSource struct {
	n      int
	builds atomic.Int64
	change atomic.Bool // a rebuild gives other sizes
}

func (m *treesSource) Shards() []ShardInfo {
	sh := make([]ShardInfo, m.n)
	for i := range sh {
		sh[i] = ShardInfo{Name: fmt.Sprintf("shard_%d.zarr", i), Cells: 1}
	}
	return sh
}
func (m *treesSource) Manifest() image.File             { return image.Bytes("{}\n") }
func (m *treesSource) OpenFile(int) (image.File, error) { return nil, errors.New("no files") }
func (m *treesSource) Check() error                     { return nil }
func (m *treesSource) OpenTree(i int) ([]image.Entry, error) {
	m.builds.Add(1)
	v := fmt.Sprint(i)
	if m.change.Load() {
		v += "!"
	}
	return []image.Entry{
		{Path: ".zgroup", File: image.Bytes(`{"zarr_format":2}`)},
		{Path: "X/.zarray", File: image.Bytes(v)},
		{Path: "X/0.0", File: image.Bytes(v + v)},
		{Path: "obs/_index/.zarray", File: image.Bytes(v)},
		{Path: "obs/_index/0", File: image.Bytes(v + v + v)},
		{Path: "uns/.zgroup", File: image.Bytes(`{}`)},
	}, nil
}

// Walking every file of every zarr shard (du) leaves nothing behind per
// shard: a tree has no nodes of its own, its built shape stays in the
// bounded cache (go-fuse's nodes of every tree looked up stayed: ~600
// bytes a file or directory). Each file reads back right after; and a
// tree rebuilt (after an eviction) with other sizes fails with EIO
// rather than serve what the kernel was not told.
func TestWalkedTreesHoldNoMemory(t *testing.T) {
	const n = 2000
	src := &treesSource{n: n}
	srv, mnt := mountT(t, src, Options{MaxImages: 4})
	// warm up: go-fuse's request buffers grow with the requests in flight
	for i := range 20 {
		if _, err := os.ReadFile(filepath.Join(mnt, fmt.Sprintf("shard_%d.zarr/X/0.0", i))); err != nil {
			t.Fatal(err)
		}
	}
	before := liveObjects()
	files := 0
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if _, err := os.Lstat(p); err != nil {
			return err
		}
		if !d.IsDir() {
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 6*n+1 {
		t.Fatalf("%d files walked, want %d", files, 6*n+1)
	}
	grown := liveObjects() - before
	if k := len(srv.st.root.Children()); k > 1 {
		t.Errorf("the root holds %d nodes after walking %d trees", k, n)
	}
	// a tree's ten nodes were ~5.5 KB in tens of objects; its built shape
	// stays only in the cache (4 trees), go-fuse's pools come and go
	if grown > n {
		t.Errorf("the heap grew by %d objects walking %d trees", grown, n)
	}
	t.Logf("heap grown by %d objects walking %d trees (%d builds)", grown, n, src.builds.Load())
	for _, i := range []int{0, 7, n - 1} {
		b, err := os.ReadFile(filepath.Join(mnt, fmt.Sprintf("shard_%d.zarr/obs/_index/0", i)))
		if want := strings.Repeat(fmt.Sprint(i), 3); err != nil || string(b) != want {
			t.Errorf("shard_%d.zarr/obs/_index/0: %q, %v; want %q", i, b, err, want)
		}
	}
	src.change.Store(true)
	if _, err := os.ReadFile(filepath.Join(mnt, "shard_5.zarr/X/0.0")); !errors.Is(err, syscall.EIO) {
		t.Errorf("a tree rebuilt with other sizes: %v, want EIO", err)
	}
}

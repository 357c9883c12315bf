package vfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/annslicer/annslicer/layout/image"
)

// countingFile is an in-memory image that counts its reads and remembers
// the furthest byte any read reached.
type countingFile struct {
	data  image.Bytes
	reads atomic.Int64
	maxTo atomic.Int64
}

func (c *countingFile) Size() int64 { return c.data.Size() }

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	end := off + int64(len(p))
	for {
		m := c.maxTo.Load()
		if end <= m || c.maxTo.CompareAndSwap(m, end) {
			break
		}
	}
	return c.data.ReadAt(p, off)
}

// fakeSource serves a few file shards and one tree shard from memory and
// counts how often images are built.
type fakeSource struct {
	shards   []ShardInfo
	files    map[int]*countingFile
	trees    map[int][]image.Entry
	manifest []byte

	openFile  [8]atomic.Int64 // OpenFile calls per shard
	openTree  [8]atomic.Int64
	checks    atomic.Int64
	checkErr  atomic.Pointer[error]
	buildWait time.Duration
}

func newFakeSource() *fakeSource {
	s := &fakeSource{
		shards: []ShardInfo{
			{Name: "shard_0.h5ad", Cells: 100},
			{Name: "shard_1.h5ad", Cells: 40},
			{Name: "shard_2.zarr", Cells: 70},
			{Name: "shard_3.h5ad", Cells: 0},
		},
		files: map[int]*countingFile{
			0: {data: PseudoRandom(3<<20+17, 10)},
			1: {data: PseudoRandom(1<<20, 11)},
			3: {data: image.Bytes{}},
		},
		trees: map[int][]image.Entry{
			2: {
				{Path: ".zgroup", File: image.Bytes(`{"zarr_format":2}`)},
				{Path: ".zmetadata", File: PseudoRandom(3000, 20)},
				{Path: "X/.zarray", File: image.Bytes(`{"chunks":[50,10]}`)},
				{Path: "X/0.0", File: PseudoRandom(700<<10, 21)},
				{Path: "X/1.0", File: PseudoRandom(123457, 22)},
				{Path: "obs/_index/0", File: PseudoRandom(5000, 23)},
				{Path: "obs/cell_type/codes/0", File: PseudoRandom(70, 24)},
				{Path: "uns/empty", File: image.Bytes{}},
			},
		},
	}
	s.manifest = []byte(`{"source":"fake.h5ad","shards":[{"name":"shard_0.h5ad","cells":100}]}` + "\n")
	return s
}

func (s *fakeSource) Shards() []ShardInfo  { return s.shards }
func (s *fakeSource) Manifest() image.File { return image.Bytes(s.manifest) }
func (s *fakeSource) OpenFile(i int) (image.File, error) {
	s.openFile[i].Add(1)
	time.Sleep(s.buildWait)
	f, ok := s.files[i]
	if !ok {
		return nil, fmt.Errorf("shard %d is not a file", i)
	}
	return f, nil
}
func (s *fakeSource) OpenTree(i int) ([]image.Entry, error) {
	s.openTree[i].Add(1)
	time.Sleep(s.buildWait)
	es, ok := s.trees[i]
	if !ok {
		return nil, fmt.Errorf("shard %d is not a tree", i)
	}
	return es, nil
}
func (s *fakeSource) Check() error {
	s.checks.Add(1)
	if p := s.checkErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *fakeSource) fail(err error) { s.checkErr.Store(&err) }

// want returns every file path of the mount (relative) and its content.
func (s *fakeSource) want() map[string][]byte {
	m := map[string][]byte{ManifestName: s.manifest}
	for i, f := range s.files {
		m[s.shards[i].Name] = f.data
	}
	for i, es := range s.trees {
		for _, e := range es {
			b := make([]byte, e.File.Size())
			e.File.ReadAt(b, 0)
			m[s.shards[i].Name+"/"+e.Path] = b
		}
	}
	return m
}

// fuseRequired reports whether a missing FUSE must fail the test.
func fuseRequired() bool { return os.Getenv("ANNSLICER_REQUIRE_FUSE") == "1" }

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if fuseRequired() {
		t.Fatalf("FUSE unavailable (ANNSLICER_REQUIRE_FUSE=1): "+format, args...)
	}
	t.Skipf("FUSE unavailable: "+format, args...)
}

// mountT mounts src in a fresh temporary directory and unmounts it in
// Cleanup, checking that no mount is left behind.
func mountT(t testing.TB, src Source, opts Options) (*Server, string) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipOrFail(t, "%v", err)
	}
	mnt := t.TempDir()
	if opts.Logger == nil {
		opts.Logger = log.New(testWriter{t}, "", 0)
	}
	srv, err := Mount(mnt, src, opts)
	if err != nil {
		skipOrFail(t, "%v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
		if isMounted(t, mnt) {
			t.Errorf("%s still mounted after Unmount", mnt)
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	return srv, mnt
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mountInfo returns the /proc/self/mountinfo line of mnt, or "".
func mountInfo(t testing.TB, mnt string) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && fields[4] == mnt {
			return sc.Text()
		}
	}
	return ""
}

func isMounted(t testing.TB, mnt string) bool { return mountInfo(t, mnt) != "" }

func TestMountIsReadOnlyFuseWithOneMiBReads(t *testing.T) {
	_, mnt := mountT(t, newFakeSource(), Options{})
	line := mountInfo(t, mnt)
	if line == "" {
		t.Fatalf("%s not in /proc/self/mountinfo", mnt)
	}
	fields := strings.Fields(line)
	if !slices.Contains(strings.Split(fields[5], ","), "ro") {
		t.Errorf("mount options %q lack ro", fields[5])
	}
	if !strings.Contains(line, " - fuse.annslicer annslicer ") {
		t.Errorf("mountinfo %q: want type fuse.annslicer, source annslicer", line)
	}
	if !strings.Contains(line, "max_read=1048576") {
		t.Errorf("mountinfo %q: want max_read=1048576", line)
	}
}

func TestReaddirListsNamesWithoutBuildingImages(t *testing.T) {
	src := newFakeSource()
	_, mnt := mountT(t, src, Options{})
	des, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
		if wantDir := strings.HasSuffix(de.Name(), ".zarr"); de.IsDir() != wantDir {
			t.Errorf("%s: IsDir %v", de.Name(), de.IsDir())
		}
	}
	want := []string{"shard_0.h5ad", "shard_1.h5ad", "shard_2.zarr", "shard_3.h5ad", ManifestName}
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Errorf("readdir: %q, want %q", names, want)
	}
	for i := range src.shards {
		if n := src.openFile[i].Load() + src.openTree[i].Load(); n != 0 {
			t.Errorf("readdir built shard %d (%d calls)", i, n)
		}
	}
}

func TestLookupBuildsOnlyThatShardOnce(t *testing.T) {
	src := newFakeSource()
	src.buildWait = 50 * time.Millisecond
	_, mnt := mountT(t, src, Options{})

	// Eight concurrent stats of one unbuilt shard build it once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fi, err := os.Stat(filepath.Join(mnt, "shard_0.h5ad"))
			if err != nil {
				t.Error(err)
			} else if fi.Size() != src.files[0].Size() {
				t.Errorf("size %d, want %d", fi.Size(), src.files[0].Size())
			}
		}()
	}
	wg.Wait()
	if _, err := os.ReadFile(filepath.Join(mnt, "shard_0.h5ad")); err != nil {
		t.Fatal(err)
	}
	got := []int64{src.openFile[0].Load(), src.openFile[1].Load(), src.openTree[2].Load(), src.openFile[3].Load()}
	if !slices.Equal(got, []int64{1, 0, 0, 0}) {
		t.Errorf("builds per shard after stat+read of shard 0: %v, want [1 0 0 0]", got)
	}
	if _, err := os.Stat(filepath.Join(mnt, "shard_2.zarr", "X", "0.0")); err != nil {
		t.Fatal(err)
	}
	if n := src.openTree[2].Load(); n != 1 {
		t.Errorf("tree built %d times, want 1", n)
	}
}

func TestSizesAndTreeMatchImages(t *testing.T) {
	src := newFakeSource()
	_, mnt := mountT(t, src, Options{})
	want := src.want()
	got := map[string]int64{}
	dirs := map[string]bool{}
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs[rel] = true
			if fi.Mode().Perm() != 0o555 {
				t.Errorf("%s: mode %v, want dr-xr-xr-x", rel, fi.Mode())
			}
			return nil
		}
		if fi.Mode() != 0o444 {
			t.Errorf("%s: mode %v, want -r--r--r--", rel, fi.Mode())
		}
		got[rel] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range want {
		if got[p] != int64(len(b)) {
			t.Errorf("%s: size %d, want %d", p, got[p], len(b))
		}
	}
	if len(got) != len(want) {
		t.Errorf("files %v, want %d files", got, len(want))
	}
	wantDirs := []string{".", "shard_2.zarr", "shard_2.zarr/X", "shard_2.zarr/obs", "shard_2.zarr/obs/_index",
		"shard_2.zarr/obs/cell_type", "shard_2.zarr/obs/cell_type/codes", "shard_2.zarr/uns"}
	for _, d := range wantDirs {
		if !dirs[d] {
			t.Errorf("directory %s missing", d)
		}
	}
	if len(dirs) != len(wantDirs) {
		t.Errorf("directories %v, want %v", dirs, wantDirs)
	}
}

func TestManifestContent(t *testing.T) {
	src := newFakeSource()
	_, mnt := mountT(t, src, Options{})
	b, err := os.ReadFile(filepath.Join(mnt, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, src.manifest) {
		t.Errorf("shards.json = %q, want %q", b, src.manifest)
	}
}

func TestReadsAreByteExact(t *testing.T) {
	src := newFakeSource()
	_, mnt := mountT(t, src, Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	for p, want := range src.want() {
		t.Run(p, func(t *testing.T) {
			f, err := os.Open(filepath.Join(mnt, p))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("ReadAll: %d bytes differ from the image (%d bytes)", len(got), len(want))
			}
			for range 50 {
				checkPread(t, f, want, rng)
			}
		})
	}
}

// checkPread reads a random range (sometimes past the end) and compares.
func checkPread(t testing.TB, f *os.File, want []byte, rng *rand.Rand) {
	t.Helper()
	size := int64(len(want))
	off := rng.Int64N(size + 10)
	n := rng.IntN(3 << 20)
	if rng.IntN(4) == 0 {
		n = rng.IntN(100)
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, off)
	wantN := max(0, min(int64(n), size-off))
	if int64(got) != wantN {
		t.Fatalf("pread(%d, +%d) = %d bytes (%v), want %d", off, n, got, err, wantN)
	}
	if err != nil && !(errors.Is(err, io.EOF) && int64(got) < int64(n)) {
		t.Fatalf("pread(%d, +%d): %v", off, n, err)
	}
	if got > 0 && !bytes.Equal(buf[:got], want[off:off+int64(got)]) {
		t.Fatalf("pread(%d, +%d): bytes differ", off, n)
	}
}

func TestConcurrentReadersSameAndDifferentFiles(t *testing.T) {
	src := newFakeSource()
	_, mnt := mountT(t, src, Options{})
	want := src.want()
	paths := []string{"shard_0.h5ad", "shard_0.h5ad", "shard_0.h5ad", "shard_1.h5ad",
		"shard_0.h5ad", "shard_2.zarr/X/0.0", "shard_1.h5ad", "shard_2.zarr/X/1.0"}
	var wg sync.WaitGroup
	for g, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 3 {
				f, err := os.Open(filepath.Join(mnt, p))
				if err != nil {
					t.Error(err)
					return
				}
				got, err := io.ReadAll(f)
				if err != nil || !bytes.Equal(got, want[p]) {
					t.Errorf("reader %d: %s: ReadAll %d bytes, %v; want %d equal bytes", g, p, len(got), err, len(want[p]))
				}
				for range 20 {
					checkPread(t, f, want[p], rng)
				}
				f.Close()
			}
		}()
	}
	wg.Wait()
}

func TestEvictedImageIsRebuiltWithSameBytes(t *testing.T) {
	src := newFakeSource()
	_, mnt := mountT(t, src, Options{MaxImages: 1})
	for _, name := range []string{"shard_0.h5ad", "shard_1.h5ad"} {
		if _, err := os.Stat(filepath.Join(mnt, name)); err != nil {
			t.Fatal(err)
		}
	}
	// shard_1 evicted shard_0: reading shard_0 (not in the page cache yet)
	// builds it again.
	got, err := os.ReadFile(filepath.Join(mnt, "shard_0.h5ad"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src.files[0].data) {
		t.Error("bytes differ after rebuild")
	}
	if n := src.openFile[0].Load(); n != 2 {
		t.Errorf("shard_0 built %d times, want 2 (lookup, then read after eviction)", n)
	}
}

func TestEvictedTreeIsRebuiltWithSameBytes(t *testing.T) {
	src := newFakeSource()
	src.shards = append(src.shards, ShardInfo{Name: "shard_4.zarr", Cells: 5})
	src.trees[4] = []image.Entry{{Path: ".zgroup", File: image.Bytes(`{"zarr_format":2}`)}}
	_, mnt := mountT(t, src, Options{MaxImages: 1})
	for _, name := range []string{"shard_2.zarr/X/1.0", "shard_4.zarr/.zgroup"} {
		if _, err := os.Stat(filepath.Join(mnt, name)); err != nil {
			t.Fatal(err)
		}
	}
	// shard_4.zarr evicted shard_2.zarr's files: reading one of them (not
	// in the page cache yet) builds the tree again, with the same bytes.
	got, err := os.ReadFile(filepath.Join(mnt, "shard_2.zarr/X/1.0"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte(src.trees[2][4].File.(image.Bytes))) {
		t.Error("bytes differ after rebuild")
	}
	if n := src.openTree[2].Load(); n != 2 {
		t.Errorf("shard_2.zarr built %d times, want 2 (lookup, then read after eviction)", n)
	}
}

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

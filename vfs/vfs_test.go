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

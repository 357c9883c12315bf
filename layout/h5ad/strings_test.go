package h5ad

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/annslicer/annslicer/tree"
)

// h5pyOut runs a Python snippet with h5py on path (sys.argv[1]).
func h5pyOut(t *testing.T, code, path string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join("..", "..", ".venv", "bin", "python"), "-c", "import sys, h5py; "+code, path).Output()
	if err != nil {
		t.Fatalf("h5py of the project venv (make test installs it): %v", err)
	}
	return strings.TrimSpace(string(out))
}

// openObsIndex opens path as a source and its obs index as an array.
func openObsIndex(t *testing.T, path string) (*Source, tree.Array) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	root, err := s.Tree().Root()
	if err != nil {
		t.Fatal(err)
	}
	obs, err := root.Group("obs")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := obs.Array("_index")
	if err != nil {
		t.Fatal(err)
	}
	return s, idx
}

// A source's names read a few rows at a time, in order (20,000 shards of
// 10 cells) or out of order (shuffled shards), are the file's names, and
// their global heap collection is read and parsed once, not once a call.
func TestStringsReadEachCollectionOnce(t *testing.T) {
	path := filepath.Join("testdata", "tiny.h5ad")
	want := strings.Split(h5pyOut(t, "print('\\n'.join(h5py.File(sys.argv[1])['obs/_index'].asstr()[()]))", path), "\n")
	for _, order := range []string{"in order", "shuffled"} {
		t.Run(order, func(t *testing.T) {
			s, idx := openObsIndex(t, path)
			rows := make([]int64, len(want))
			for i := range rows {
				rows[i] = int64(i)
			}
			if order == "shuffled" {
				for i := range rows {
					rows[i] = int64((i*5 + 3) % len(want)) // a permutation: 5 is prime to 12
				}
			}
			s.heaps.loads = 0
			var got []string
			for i := 0; i < len(rows); i += 2 {
				part, err := idx.Strings(rows[i:min(i+2, len(rows))])
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, part...)
			}
			for i, r := range rows {
				if got[i] != want[r] {
					t.Fatalf("row %d: %q, want %q", r, got[i], want[r])
				}
			}
			if s.heaps.loads != 1 {
				t.Errorf("%d calls parsed the names' collection %d times, want once", len(rows)/2, s.heaps.loads)
			}
		})
	}
}

// A file whose string lengths change after its checks (a descriptor now
// claims 4 GiB) is refused before any arena of that size is made.
func TestStringsLongerThanTheFileAreRefused(t *testing.T) {
	src := filepath.Join("testdata", "tiny.h5ad")
	off, err := strconv.ParseInt(h5pyOut(t, "print(h5py.File(sys.argv[1])['obs/_index'].id.get_offset())", src), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tiny.h5ad")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, idx := openObsIndex(t, path)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, off+16); err != nil { // row 1's length
		t.Fatal(err)
	}
	f.Close()
	_, err = idx.Strings([]int64{0, 1, 2})
	if err == nil || !strings.Contains(err.Error(), "more bytes than the file holds") {
		t.Fatalf("got %v, want a refusal of strings longer than the file", err)
	}
}

// Within a scope of rows, shuffled reads of them are the file's names,
// read in one pass over the heap for the whole scope and kept nowhere
// after (without one, the source keeps every collection a shuffled read
// touched); rows outside the scope still read as before.
func TestScopedRowsAreReadTogetherAndNotKept(t *testing.T) {
	path := filepath.Join("testdata", "tiny.h5ad")
	want := strings.Split(h5pyOut(t, "print('\\n'.join(h5py.File(sys.argv[1])['obs/_index'].asstr()[()]))", path), "\n")
	s, idx := openObsIndex(t, path)
	shards := [][]int64{{7, 2, 5}, {0, 6, 3, 2}}
	end := s.ScopeRows(append(append([]int64{}, shards[0]...), shards[1]...))
	s.heaps.loads = 0
	for _, rows := range append(shards, []int64{11, 1}) {
		got, err := idx.Strings(rows)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rows {
			if got[i] != want[r] {
				t.Fatalf("row %d: %q, want %q", r, got[i], want[r])
			}
		}
	}
	end()
	if s.heaps.loads != 1 { // the scope's pass (rows 11 and 1 find it among the recent)
		t.Errorf("the names' collection was parsed %d times, want once", s.heaps.loads)
	}
	s.heaps.mu.Lock()
	kept := len(s.heaps.cols)
	s.heaps.mu.Unlock()
	if kept != 0 {
		t.Errorf("%d collections kept, want none", kept)
	}
	if s.scope.Load() != nil {
		t.Error("the scope outlived its end")
	}
}

package h5ad

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A source's names read a few rows at a time, in order (20,000 shards of
// 10 cells) or out of order (shuffled shards), are the file's names, and
// their global heap collection is read and parsed once, not once a call.
func TestStringsReadEachCollectionOnce(t *testing.T) {
	path := filepath.Join("testdata", "tiny.h5ad")
	out, err := exec.Command(filepath.Join("..", "..", ".venv", "bin", "python"), "-c",
		"import sys, h5py; print('\\n'.join(h5py.File(sys.argv[1])['obs/_index'].asstr()[()]))", path).Output()
	if err != nil {
		t.Fatalf("h5py of the project venv (make test installs it): %v", err)
	}
	want := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, order := range []string{"in order", "shuffled"} {
		t.Run(order, func(t *testing.T) {
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
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

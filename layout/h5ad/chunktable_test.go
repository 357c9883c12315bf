package h5ad

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/annslicer/annslicer/layout/h5"
)

// The chunk tables read from a dataset's chunk B-tree are libhdf5's
// answers, chunk by chunk: trees of one node and of several levels, 1-D
// and 2-D, chunks never written, and a file in the newer format (layout
// version 4, no such tree) whose table libhdf5 still fills on demand.
func TestChunkTablesAreLibhdf5s(t *testing.T) {
	dir := t.TempDir()
	path := tinyWithUns(t, dir, `
u.create_dataset("few", data=np.arange(100, dtype="f4"), chunks=(30,))
many = u.create_dataset("many", shape=(10000,), dtype="i8", chunks=(7,))
many[:5000] = np.arange(5000)
many[7000:7014] = 1  # chunks 1000 and 1001; the others after 714 unwritten
u.create_dataset("wide", data=np.ones((3000, 5), "f8"), chunks=(10, 5))
`)
	latest := filepath.Join(dir, "chunks-latest.h5ad")
	h5pyOut(t, `
import numpy as np
s = h5py.File(sys.argv[1].replace("-latest", ""), "r")
d = h5py.File(sys.argv[1], "w", libver="latest")
for k, v in s.attrs.items():
    d.attrs[k] = v
for k in s:
    s.copy(s[k], d, name=k)
d["uns"].create_dataset("v4", data=np.arange(1000, dtype="i4"), chunks=(10,), maxshape=(None,))
d.close()
`, latest)
	for _, c := range []struct {
		file, ds string
		fromTree bool
	}{{path, "uns/few", true}, {path, "uns/many", true}, {path, "uns/wide", true}, {latest, "uns/v4", false}} {
		t.Run(filepath.Base(c.file)+":"+c.ds, func(t *testing.T) {
			s, err := Open(c.file)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ds, err := s.Root.OpenDataset(c.ds)
			if err != nil {
				t.Fatal(err)
			}
			defer ds.Close()
			a := s.Array(ds)
			if a.chunkRows == 0 {
				t.Fatalf("%s is not read by chunks", c.ds)
			}
			coord := make([]int64, len(ds.Dims))
			for k := range a.addrs {
				known := a.addrs[k].Load()
				if c.fromTree && known == 0 {
					t.Fatalf("chunk %d of %d not in the table read from the tree", k, len(a.addrs))
				}
				if !c.fromTree && known != 0 {
					t.Fatalf("chunk %d known before it was asked for, without a tree to read", k)
				}
				coord[0] = int64(k) * a.chunkRows
				want, err := ds.ChunkAddr(coord)
				if err != nil {
					t.Fatal(err)
				}
				got, err := a.chunkAddr(int64(k))
				if err != nil || got != want {
					t.Fatalf("chunk %d: table says %d (%v), libhdf5 %d", k, got, err, want)
				}
			}
		})
	}
}

// Every chunk a dataset lists (for the checks of a source's extents and
// strings) is libhdf5's: address, stored size, filter mask and offset,
// whether walked from the B-tree or asked of libhdf5 one by one.
func TestChunkListsAreLibhdf5s(t *testing.T) {
	path := tinyWithUns(t, t.TempDir(), `
many = u.create_dataset("many", shape=(10000,), dtype="i8", chunks=(7,))
many[:5000] = np.arange(5000)
u.create_dataset("gz", data=np.arange(5000) % 7, chunks=(100,), compression="gzip")
u.create_dataset("tiles", data=np.ones((100, 40), "f4"), chunks=(10, 8))
`)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range []string{"uns/many", "uns/gz", "uns/tiles"} {
		ds, err := s.Root.OpenDataset(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ds.Chunks(s.reader())
		if err != nil {
			t.Fatal(err)
		}
		// the B-tree walk itself, which Chunks uses when it agrees
		hdr, _ := ds.HeaderAddr()
		var walked []string
		if err := h5.WalkChunks(s.reader(), hdr, 1<<20, func(off []uint64, at int64, size, mask uint32) error {
			walked = append(walked, fmt.Sprint(off[:len(off)-1], mask, at, size))
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n, _ := ds.NumChunks()
		if int64(len(got)) != n || n == 0 {
			t.Fatalf("%s: %d chunks listed, libhdf5 counts %d", name, len(got), n)
		}
		for i := range got {
			want, err := ds.ChunkInfo(int64(i))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got[i]) != fmt.Sprint(want) {
				t.Fatalf("%s: chunk %d listed as %+v, libhdf5 says %+v", name, i, got[i], want)
			}
			if w := fmt.Sprint(want.Offset, want.Mask, want.Addr, want.Size); i >= len(walked) || walked[i] != w {
				t.Fatalf("%s: chunk %d walked as %v, libhdf5 says %s", name, i, walked[min(i, len(walked)-1)], w)
			}
		}
		ds.Close()
	}
}

// tinyWithUns copies testdata/tiny.h5ad into dir as chunks.h5ad and runs
// the h5py lines add on it (u is its uns group, np numpy).
func tinyWithUns(t *testing.T, dir, add string) string {
	t.Helper()
	tiny, err := os.ReadFile(filepath.Join("testdata", "tiny.h5ad"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "chunks.h5ad")
	if err := os.WriteFile(path, tiny, 0o644); err != nil {
		t.Fatal(err)
	}
	h5pyOut(t, "\nimport numpy as np\nf = h5py.File(sys.argv[1], \"a\")\nu = f[\"uns\"]\n"+add+"\nf.close()\n", path)
	return path
}

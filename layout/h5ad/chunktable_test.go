package h5ad

import (
	"os"
	"path/filepath"
	"testing"
)

// The chunk tables read from a dataset's chunk B-tree are libhdf5's
// answers, chunk by chunk: trees of one node and of several levels, 1-D
// and 2-D, chunks never written, and a file in the newer format (layout
// version 4, no such tree) whose table libhdf5 still fills on demand.
func TestChunkTablesAreLibhdf5s(t *testing.T) {
	dir := t.TempDir()
	tiny, err := os.ReadFile(filepath.Join("testdata", "tiny.h5ad"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "chunks.h5ad")
	if err := os.WriteFile(path, tiny, 0o644); err != nil {
		t.Fatal(err)
	}
	h5pyOut(t, `
import numpy as np
f = h5py.File(sys.argv[1], "a")
u = f["uns"]
u.create_dataset("few", data=np.arange(100, dtype="f4"), chunks=(30,))
many = u.create_dataset("many", shape=(10000,), dtype="i8", chunks=(7,))
many[:5000] = np.arange(5000)
many[7000:7014] = 1  # chunks 1000 and 1001; the others after 714 unwritten
u.create_dataset("wide", data=np.ones((3000, 5), "f8"), chunks=(10, 5))
f.close()
`, path)
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

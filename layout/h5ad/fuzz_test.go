package h5ad

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/annslicer/annslicer/layout/h5"
)

// Fuzz targets for the parsers of untrusted bytes in this package: the
// global heap collection parser, descriptor resolution, and a whole source
// (open, validate, read every row-sliced array, read strings and copy the
// verbatim elements through libhdf5 as shard building does). A SIGSEGV
// inside libhdf5 cannot be recovered by Go: it kills the fuzz worker, which
// the fuzzer reports as a crash, so validation must keep libhdf5 from
// ever being handed what it would crash on. `go test` replays the corpus
// under testdata/fuzz/.

func tinyH5AD(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "tiny.h5ad"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// heapSeed is a valid collection with two objects and trailing free space.
func heapSeed() []byte {
	b := make([]byte, 96)
	copy(b, "GCOL\x01")
	binary.LittleEndian.PutUint64(b[8:], 96)
	put := func(p int, idx uint16, size uint64) {
		binary.LittleEndian.PutUint16(b[p:], idx)
		binary.LittleEndian.PutUint64(b[p+8:], size)
	}
	put(16, 1, 5)
	copy(b[32:], "hello")
	put(40, 2, 3)
	copy(b[56:], "abc")
	put(64, 0, 32)
	return b
}

func FuzzParseCollection(f *testing.F) {
	f.Add(heapSeed())
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := parseCollection(b)
		if err != nil {
			return
		}
		// What libhdf5 would copy for an object must lie inside b.
		for idx, o := range objs {
			if o[1] == missingObj {
				continue
			}
			if idx == 0 || o[0] < 16 || int64(o[0])+int64(o[1]) > int64(len(b)) {
				t.Fatalf("object %d at %d, %d bytes, outside a %d-byte collection", idx, o[0], o[1], len(b))
			}
		}
	})
}

// FuzzVlenString resolves a descriptor against a file of fuzzed bytes
// through the Source's cached heap reader.
func FuzzVlenString(f *testing.F) {
	seed := append(make([]byte, 64), heapSeed()...)
	desc := make([]byte, 16)
	binary.LittleEndian.PutUint32(desc, 5)
	binary.LittleEndian.PutUint64(desc[4:], 64)
	binary.LittleEndian.PutUint32(desc[12:], 1)
	f.Add(seed, desc)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, file, desc []byte) {
		if len(desc) < 16 {
			return
		}
		p := filepath.Join(dir, "heap")
		if err := os.WriteFile(p, file, 0o644); err != nil {
			t.Fatal(err)
		}
		raw, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		s := &Source{Path: p, raw: raw, size: int64(len(file))}
		str, err := s.VlenString(desc)
		if err == nil && int64(len(str)) != int64(binary.LittleEndian.Uint32(desc)) {
			t.Fatalf("string of %d bytes for a descriptor of length %d", len(str), binary.LittleEndian.Uint32(desc))
		}
	})
}

// FuzzOpenH5AD opens a mutated tiny.h5ad and, when it is accepted, does
// what slicing does with it: reads every row-sliced array by rows (sparse
// ones through their indptr), reads strings, and copies the verbatim
// elements and attributes into a new file.
func FuzzOpenH5AD(f *testing.F) {
	f.Add(tinyH5AD(f))
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, b []byte) {
		// A fresh name each time: libhdf5 recognises a file it still has
		// open (by inode) and would reuse its cached state.
		n++
		p := filepath.Join(dir, fmt.Sprintf("in%d.h5ad", n))
		defer os.Remove(p)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p)
		if err != nil {
			return
		}
		defer s.Close()
		exercise(t, s, filepath.Join(dir, "out.h5"))
	})
}

// exercise reads and copies what a shard build would; errors are fine,
// panics and crashes are not.
func exercise(t *testing.T, s *Source, out string) {
	for _, g := range []string{"X", "layers/dense", "obsm/pca", "obs/score", "raw/X"} {
		readElement(s, g)
	}
	if obs, err := s.Root.OpenGroup("obs"); err == nil {
		if kids, err := obs.Children(); err == nil {
			for _, k := range kids {
				if k.IsGroup || k.Other {
					continue
				}
				if ds, err := obs.OpenDataset(k.Name); err == nil {
					if ds.VlenString && len(ds.Dims) == 1 {
						ds.ReadStrings(nil)
						if d := s.VlenDescriptors(ds); d != nil {
							buf := make([]byte, ds.Dims[0]*vlenDescSize)
							if d.ReadRows(buf, 0) == nil {
								for i := int64(0); i < ds.Dims[0]; i++ {
									s.VlenString(buf[i*vlenDescSize:])
								}
							}
						}
					}
					ds.Close()
				}
			}
		}
		obs.Close()
	}
	f, err := h5.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root, err := f.Root()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	s.Root.CopyAttrsTo(&root.Object)
	for _, name := range []string{"var", "varm", "uns", "raw", "obs"} {
		if s.Root.Has(name) {
			root.CopyFrom(s.Root, name, name)
		}
	}
}

// readElement reads a dense array whole by rows, or a CSR matrix row by
// row through its indptr, as the gathers do.
func readElement(s *Source, path string) {
	if !s.Root.Has(path) {
		return
	}
	if !s.Root.IsGroup(path) {
		ds, err := s.Root.OpenDataset(path)
		if err != nil {
			return
		}
		defer ds.Close()
		a := s.Array(ds)
		if len(ds.Dims) == 0 || a.RowBytes() <= 0 {
			return
		}
		buf := make([]byte, ds.Dims[0]*a.RowBytes())
		a.ReadRows(buf, 0)
		for r := int64(0); r < ds.Dims[0]; r++ {
			a.ReadRows(buf[:a.RowBytes()], r)
		}
		return
	}
	g, err := s.Root.OpenGroup(path)
	if err != nil {
		return
	}
	defer g.Close()
	var ds [3]*h5.Dataset
	for i, n := range []string{"indptr", "indices", "data"} {
		if ds[i], err = g.OpenDataset(n); err != nil {
			return
		}
		defer ds[i].Close()
		if len(ds[i].Dims) != 1 {
			return
		}
	}
	ptr, err := ds[0].ReadInt64s(0, ds[0].Dims[0])
	if err != nil {
		return
	}
	for _, d := range ds[1:] {
		a := s.Array(d)
		for i := 0; i+1 < len(ptr); i++ {
			n := ptr[i+1] - ptr[i]
			if n < 0 || n > 1<<20 {
				continue
			}
			a.ReadRows(make([]byte, n*a.RowBytes()), ptr[i])
		}
	}
}

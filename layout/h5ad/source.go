// Package h5ad knows AnnData's layout on HDF5: it opens sources lazily
// (shapes, dtypes, encodings; no matrix data), reads arrays by row range,
// and holds shard images (a libhdf5 skeleton plus generated extents).
package h5ad

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/annslicer/annslicer/layout/image"

	"github.com/annslicer/annslicer/layout/h5"
)

// Source is an AnnData file opened for reading.
type Source struct {
	Path string
	File *h5.File
	Root *h5.Group
	NObs int64
	raw  *os.File // pread path for plain arrays, bypassing libhdf5
	base int64    // file addresses count from here (user block size)
	size int64

	mu     sync.Mutex
	chunks map[string][]atomic.Int64 // per dataset path: chunk offsets, shared by all shards
	heaps  heapCache
	scr    scratch
	meta   metaCache                // attributes and listings, read once (tree.go)
	sizers sizerCache               // of its plans' structures (sizer.go)
	nodes  nodeCache                // groups and arrays, opened once (tree.go)
	scope  atomic.Pointer[rowScope] // rows a group of shards reads (rowscope.go)
}

// Open opens path as an AnnData source, checking it is one.
func Open(path string) (*Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file", path)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, expected an .h5ad file", path)
	}
	if !h5.IsHDF5(path) {
		return nil, fmt.Errorf("%s: not an HDF5 file (an .h5ad file is HDF5)", path)
	}
	f, err := h5.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v; the file may be truncated or corrupt", path, err)
	}
	s := &Source{Path: path, File: f, size: st.Size()}
	if s.Root, err = f.Root(); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if s.raw, err = os.Open(path); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if s.base, err = f.BaseAddr(); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	// A file this process has checked and that has not changed since is
	// not walked again: a merge or a collection reopens its inputs as it
	// writes (an input pool holds a bounded number open), and the checks
	// cost more than the open (a millisecond for a small file).
	id, idErr := identityOf(s.raw)
	if n, seen := checked.Load(id); seen && idErr == nil {
		s.NObs = n.(int64)
		return s, nil
	}
	// Strings first: the checks after them read attributes through libhdf5.
	if err := s.checkVlen(); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), path+": "))
	}
	if err := s.check(); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if idErr == nil {
		checked.Store(id, s.NObs)
	}
	return s, nil
}

func (s *Source) Close() {
	s.nodes.close()
	s.removeScratch()
	if s.raw != nil {
		s.raw.Close()
	}
	if s.Root != nil {
		s.Root.Close()
	}
	s.File.Close()
}

// check validates the AnnData root and finds n_obs.
func (s *Source) check() error {
	if et, ok := s.Root.AttrString("encoding-type"); ok && et != "anndata" {
		return fmt.Errorf("not an AnnData file (root encoding-type is %q)", et)
	}
	if !s.Root.Has("obs") {
		return errors.New("not an AnnData file (no obs element); expected a file written by anndata")
	}
	n, err := s.indexLength("obs")
	if err != nil {
		return err
	}
	s.NObs = n
	if err := s.checkLengths(); err != nil {
		return err
	}
	for _, p := range []string{"X", "raw/X"} {
		if err := s.rejectCSC(p); err != nil {
			return err
		}
	}
	for _, g := range []string{"layers", "obsm"} {
		if !s.Root.IsGroup(g) {
			continue
		}
		grp, err := s.Root.OpenGroup(g)
		if err != nil {
			return err
		}
		kids, err := grp.Children()
		grp.Close()
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := s.rejectCSC(g + "/" + k.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Source) rejectCSC(path string) error {
	if !s.Root.IsGroup(path) {
		return nil
	}
	g, err := s.Root.OpenGroup(path)
	if err != nil {
		return err
	}
	defer g.Close()
	if EncodingOf(&g.Object) == "csc_matrix" {
		return fmt.Errorf("%s is a CSC matrix, which cannot be sliced by rows without reading it whole; convert it to CSR first (in Python: adata.%s = adata.%s.tocsr(), then write_h5ad)", path, pyName(path), pyName(path))
	}
	return nil
}

func pyName(path string) string {
	switch path {
	case "X":
		return "X"
	case "raw/X":
		return "raw.X"
	}
	for _, g := range []string{"layers/", "obsm/"} {
		if len(path) > len(g) && path[:len(g)] == g {
			return g[:len(g)-1] + "['" + path[len(g):] + "']"
		}
	}
	return path
}

// EncodingOf is an element's encoding-type, inferring it for files written
// before anndata 0.8 that lack the attribute on some elements.
func EncodingOf(o *h5.Object) string {
	if et, ok := o.AttrString("encoding-type"); ok {
		return et
	}
	if f, ok := o.AttrString("h5sparse_format"); ok {
		return f + "_matrix"
	}
	return ""
}

// ShapeAttr is the attribute carrying a sparse matrix's shape.
func ShapeAttr(o *h5.Object) string {
	if o.HasAttr("shape") {
		return "shape"
	}
	if o.HasAttr("h5sparse_shape") {
		return "h5sparse_shape"
	}
	return ""
}

// Array reads a dataset by rows as raw bytes. Where its bytes lie as-is in
// the file (contiguous, or chunked without filters) it uses pread, keeping
// libhdf5 (which serialises its calls) off the hot path; otherwise libhdf5
// reads and decompresses.
type Array struct {
	DS        *h5.Dataset
	src       string // source path, for messages
	rows      int64  // rows the dataset declares: every read must lie inside
	file      *os.File
	off       int64 // contiguous: file offset of row 0; else -1
	rowBytes  int64
	chunkRows int64          // unfiltered chunks spanning whole rows: rows per chunk
	addrs     []atomic.Int64 // chunk file offsets + 2, found lazily; 0 unknown, 1 unwritten
	base      int64          // libhdf5's chunk addresses count from here (a user block's end)
}

// Array wraps ds for row reads; ds must stay open while the Array is used.
func (s *Source) Array(ds *h5.Dataset) *Array {
	a := &Array{DS: ds, src: s.Path, rows: 1, rowBytes: int64(ds.ElemSize), off: -1}
	if len(ds.Dims) > 0 {
		a.rows, a.rowBytes = max(ds.Dims[0], 0), ds.RowBytes()
	}
	if ds.Plain() {
		a.file, a.off = s.raw, ds.Offset()
		// pread must stay inside the dataset's own bytes, whatever its
		// declared shape says.
		if st := ds.StorageSize(); a.rowBytes > 0 && st/a.rowBytes < a.rows {
			a.rows = st / a.rowBytes
		}
		return a
	}
	// The chunk table is sized by the chunk count: only for counts that
	// checked sources have (Open ties every row-sliced element to the obs
	// index's storage); others read through libhdf5.
	if c := ds.Chunk(); c != nil && !ds.Filtered() && len(ds.Dims) > 0 && slices.Equal(c[1:], ds.Dims[1:]) && c[0] > 0 && (ds.Dims[0]+c[0]-1)/c[0] <= maxChunkTable {
		a.file, a.chunkRows, a.base = s.raw, c[0], s.base
		a.addrs = s.chunkTable(ds, c[0], (ds.Dims[0]+c[0]-1)/c[0])
	}
	return a
}

const maxChunkTable = 1 << 24

// inside checks that rows [row0, row0+n) of the dataset exist: a corrupt
// index (an indptr past nnz) must be an error, never a read of other bytes.
func (a *Array) inside(row0, n int64) error {
	if row0 < 0 || n < 0 || row0 > a.rows || n > a.rows-row0 {
		return fmt.Errorf("%s: %s: rows %d to %d requested but it holds %d; the file is corrupt (an index into it points past its end)", a.src, a.DS.Path, row0, row0+n, a.rows)
	}
	return nil
}

func (a *Array) RowBytes() int64 { return a.rowBytes }

// ReadRows fills p (a whole number of rows) from rows starting at row0.
func (a *Array) ReadRows(p []byte, row0 int64) error {
	if len(p) == 0 {
		return nil
	}
	if a.rowBytes <= 0 || int64(len(p))%a.rowBytes != 0 {
		return fmt.Errorf("%s: %s: read of %d bytes is not a whole number of %d-byte rows", a.src, a.DS.Path, len(p), a.rowBytes)
	}
	if err := a.inside(row0, int64(len(p))/a.rowBytes); err != nil {
		return err
	}
	switch {
	case a.off >= 0:
		return a.pread(p, a.off+row0*a.rowBytes)
	case a.chunkRows > 0:
		for len(p) > 0 {
			c := row0 / a.chunkRows
			n := min(int64(len(p))/a.rowBytes, (c+1)*a.chunkRows-row0)
			addr, err := a.chunkAddr(c)
			if err != nil {
				return err
			}
			// chunks stored one after another are read as one
			for next := c + 1; addr >= 0 && n < int64(len(p))/a.rowBytes; next++ {
				na, err := a.chunkAddr(next)
				if err != nil || na != addr+(next-c)*a.chunkRows*a.rowBytes {
					break
				}
				n = min(int64(len(p))/a.rowBytes, (next+1)*a.chunkRows-row0)
			}
			part := p[:n*a.rowBytes]
			if addr < 0 { // never written: libhdf5 knows the fill value
				err = a.DS.ReadRows(part, row0, n)
			} else {
				err = a.pread(part, addr+(row0-c*a.chunkRows)*a.rowBytes)
			}
			if err != nil {
				return err
			}
			p, row0 = p[len(part):], row0+n
		}
		return nil
	}
	return a.DS.ReadRows(p, row0, int64(len(p))/a.rowBytes)
}

// FileSpans gives the file ranges holding rows [row0, row0+n) as they are
// stored, or false when they are not plain bytes in the file.
func (a *Array) FileSpans(row0, n int64, out []image.Span) ([]image.Span, bool) {
	add := func(off, l int64) {
		if k := len(out) - 1; k >= 0 && out[k].Off+out[k].Len == off {
			out[k].Len += l
			return
		}
		out = append(out, image.Span{Off: off, Len: l})
	}
	if a.inside(row0, n) != nil {
		return out, false // ReadRows gives the error
	}
	switch {
	case n == 0:
		return out, true
	case a.off >= 0:
		add(a.off+row0*a.rowBytes, n*a.rowBytes)
		return out, true
	case a.chunkRows > 0:
		for n > 0 {
			c := row0 / a.chunkRows
			k := min(n, (c+1)*a.chunkRows-row0)
			addr, err := a.chunkAddr(c)
			if err != nil || addr < 0 {
				return out, false
			}
			add(addr+(row0-c*a.chunkRows)*a.rowBytes, k*a.rowBytes)
			row0, n = row0+k, n-k
		}
		return out, true
	}
	return out, false
}

// File is the source file that FileSpans refer to.
func (a *Array) File() *os.File { return a.file }

func (a *Array) chunkAddr(c int64) (int64, error) {
	if v := a.addrs[c].Load(); v != 0 {
		return v - 2, nil
	}
	coord := make([]int64, len(a.DS.Dims))
	coord[0] = c * a.chunkRows
	addr, err := a.DS.ChunkAddr(coord)
	if err != nil {
		return 0, err
	}
	if addr >= 0 {
		addr += a.base
	}
	a.addrs[c].Store(addr + 2)
	return addr, nil
}

func (a *Array) pread(p []byte, off int64) error {
	_, err := a.file.ReadAt(p, off)
	if err == io.EOF {
		err = fmt.Errorf("%s: file ends inside %s; it is truncated", a.src, a.DS.Path)
	}
	return err
}

// fileIdentity tells a file and its contents apart: a change in place
// moves its mtime and ctime, a replacement its inode.
type fileIdentity struct {
	dev, ino, size             uint64
	mtimeSec, mtimeNs, ctimeNs int64
	ctimeSec                   int64
}

// checked holds the identities of the files whose strings, headers and
// lengths (checkVlen, check) passed in this process, with their n_obs.
var checked sync.Map

func identityOf(f *os.File) (fileIdentity, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fileIdentity{}, err
	}
	return fileIdentity{dev: uint64(st.Dev), ino: st.Ino, size: uint64(st.Size),
		mtimeSec: st.Mtim.Sec, mtimeNs: st.Mtim.Nsec, ctimeSec: st.Ctim.Sec, ctimeNs: st.Ctim.Nsec}, nil
}

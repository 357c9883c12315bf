package h5ad

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/annslicer/annslicer/layout/h5"
)

// Variable-length strings are stored as 16-byte descriptors (length, global
// heap collection address, object index) whose bytes live in global heap
// collections. libhdf5 reads a scattered selection of them very slowly
// (seconds for 10 000 rows), so shuffled shards read the descriptors with
// the row gather and resolve them here, from cached parsed collections.

const vlenDescSize = 16 // uint32 length, 8-byte address, uint32 index

// VlenDescriptors is an Array over the raw descriptors of a contiguous,
// unfiltered 1-D string dataset, or nil when the fast path does not apply
// (the caller then reads through libhdf5).
func (s *Source) VlenDescriptors(ds *h5.Dataset) *Array {
	if !ds.VlenString || len(ds.Dims) != 1 || !ds.Plain() {
		return nil
	}
	if a, l, err := s.File.Sizes(); err != nil || a != 8 || l != 8 {
		return nil
	}
	a := &Array{DS: ds, src: s.Path, rows: ds.Dims[0], file: s.raw, off: ds.Offset(), rowBytes: vlenDescSize}
	if st := ds.StorageSize(); st/vlenDescSize < a.rows {
		a.rows = st / vlenDescSize
	}
	return a
}

// heapCache keeps parsed global heap collections, bounded in bytes.
type heapCache struct {
	mu    sync.Mutex
	cols  map[int64]*collection
	bytes int64
}

const heapCacheBytes = 64 << 20

type collection struct {
	data []byte
	objs [][2]int64 // by object index: offset in data, size
}

// VlenString resolves one descriptor to its string.
func (s *Source) VlenString(desc []byte) (string, error) {
	b, err := s.vlenBytes(desc)
	return string(b), err
}

// vlenBytes is VlenString's bytes, in the heap cache: not to be changed.
func (s *Source) vlenBytes(desc []byte) ([]byte, error) {
	n := int64(binary.LittleEndian.Uint32(desc))
	if n == 0 {
		return nil, nil
	}
	addr := int64(binary.LittleEndian.Uint64(desc[4:]))
	idx := int(binary.LittleEndian.Uint32(desc[12:]))
	c, err := s.collection(addr)
	if err != nil {
		return nil, err
	}
	if idx < 1 || idx >= len(c.objs) || c.objs[idx][1] != n {
		return nil, fmt.Errorf("%s: a string points to object %d of the global heap at %d, which is missing or of another length; the file is corrupt", s.Path, idx, addr)
	}
	o := c.objs[idx][0]
	return c.data[o : o+n : o+n], nil
}

// collection is the parsed global heap collection at file address addr
// (relative to the user block's end, as descriptors hold it).
func (s *Source) collection(rel int64) (*collection, error) {
	addr := rel + s.base
	s.heaps.mu.Lock()
	defer s.heaps.mu.Unlock()
	if c, ok := s.heaps.cols[addr]; ok {
		return c, nil
	}
	var head [16]byte
	if addr < 0 || addr > s.size-16 {
		return nil, fmt.Errorf("%s: global heap address %d is outside the file; the file is corrupt", s.Path, addr)
	}
	if _, err := s.raw.ReadAt(head[:], addr); err != nil {
		return nil, fmt.Errorf("%s: reading global heap at %d: %v", s.Path, addr, err)
	}
	size := int64(binary.LittleEndian.Uint64(head[8:]))
	if string(head[:4]) != "GCOL" || head[4] != 1 || size < 16 || size > 1<<32 {
		return nil, fmt.Errorf("%s: no global heap collection at %d; the file may be corrupt", s.Path, addr)
	}
	if size > s.size-addr {
		return nil, fmt.Errorf("%s: global heap at %d runs past the end of the file; the file is truncated or corrupt", s.Path, addr)
	}
	c := &collection{data: make([]byte, size)}
	if _, err := s.raw.ReadAt(c.data, addr); err != nil {
		return nil, fmt.Errorf("%s: reading global heap at %d: %v", s.Path, addr, err)
	}
	var err error
	if c.objs, err = parseCollection(c.data); err != nil {
		return nil, fmt.Errorf("%s: global heap at %d: %v", s.Path, addr, err)
	}
	if s.heaps.cols == nil || s.heaps.bytes+size > heapCacheBytes {
		s.heaps.cols, s.heaps.bytes = map[int64]*collection{}, 0
	}
	s.heaps.cols[addr] = c
	s.heaps.bytes += size
	return c, nil
}

package h5ad

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/image"
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
	// recent are the last collections read for rows in order, not kept in
	// cols: shards of a few cells each take their names from the same
	// collection, which was parsed again for each of 20,000 shards.
	recent [4]*collection
	next   int
	loads  int // collections read and parsed, for tests
}

// heapCacheBytes bounds a source's cached collections (compacted bytes
// and object tables): the names of a 2M-cell source fit, which shuffled
// shards read from all over the heap, each shard from every collection.
const heapCacheBytes = 64 << 20

// collection is a parsed global heap collection, compacted: its objects'
// bytes one after another (no headers, no padding: half a collection of
// short names), objs giving each one's place in data.
type collection struct {
	addr int64
	data []byte
	objs []heapObj // by object index
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
	c, err := s.collection(int64(binary.LittleEndian.Uint64(desc[4:])), true)
	if err != nil {
		return nil, err
	}
	return c.object(s, desc)
}

// object is the bytes of the string desc describes, which lies in c.
func (c *collection) object(s *Source, desc []byte) ([]byte, error) {
	n := int64(binary.LittleEndian.Uint32(desc))
	idx := int(binary.LittleEndian.Uint32(desc[12:]))
	if n == 0 {
		return nil, nil
	}
	if idx < 1 || idx >= len(c.objs) || int64(c.objs[idx][1]) != n {
		return nil, fmt.Errorf("%s: a string points to object %d of the global heap at %d, which is missing or of another length; the file is corrupt", s.Path, idx, c.addr)
	}
	o := int64(c.objs[idx][0])
	return c.data[o : o+n : o+n], nil
}

// collection is the parsed global heap collection at file address addr
// (relative to the user block's end, as descriptors hold it), from the
// heap cache, where it is kept if keep is true.
func (s *Source) collection(rel int64, keep bool) (*collection, error) {
	addr := rel + s.base
	s.heaps.mu.Lock()
	defer s.heaps.mu.Unlock()
	if c, ok := s.heaps.cols[addr]; ok {
		return c, nil
	}
	for _, c := range s.heaps.recent {
		if c != nil && c.addr == rel {
			return c, nil
		}
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
	s.heaps.loads++
	pb := image.GetBuf(size) // raw is only parsed: its strings are copied out below
	defer image.PutBuf(pb)
	raw := (*pb)[:size]
	if _, err := s.raw.ReadAt(raw, addr); err != nil {
		return nil, fmt.Errorf("%s: reading global heap at %d: %v", s.Path, addr, err)
	}
	c := &collection{addr: rel}
	var err error
	if c.objs, err = parseCollection(raw); err != nil {
		return nil, fmt.Errorf("%s: global heap at %d: %v", s.Path, addr, err)
	}
	total := 0
	for _, o := range c.objs {
		if o[1] != missingObj {
			total += int(o[1])
		}
	}
	c.data = make([]byte, 0, total)
	for i, o := range c.objs {
		if o[1] != missingObj {
			c.objs[i][0] = uint32(len(c.data))
			c.data = append(c.data, raw[o[0]:o[0]+o[1]]...)
		}
	}
	if !keep {
		s.heaps.recent[s.heaps.next] = c
		s.heaps.next = (s.heaps.next + 1) % len(s.heaps.recent)
		return c, nil
	}
	cost := int64(len(c.data)) + int64(len(c.objs))*int64(unsafe.Sizeof(heapObj{}))
	if s.heaps.cols == nil || s.heaps.bytes+cost > heapCacheBytes {
		s.heaps.cols, s.heaps.bytes = map[int64]*collection{}, 0
	}
	s.heaps.cols[addr] = c
	s.heaps.bytes += cost
	return c, nil
}

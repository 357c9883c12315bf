package h5ad

import (
	"sync/atomic"

	"github.com/annslicer/annslicer/layout/h5"
)

// chunkTable is the chunk-offset table of a dataset whose unfiltered
// chunks span whole rows (chunkRows each), one per source so every shard
// reuses it: entry c is chunk c's file offset + 2, 1 when it was never
// written, 0 while unknown (Array.chunkAddr then asks libhdf5). A new
// table is filled at once from the dataset's chunk B-tree.
func (s *Source) chunkTable(ds *h5.Dataset, chunkRows, n int64) []atomic.Int64 {
	s.mu.Lock()
	if s.chunks == nil {
		s.chunks = map[string][]atomic.Int64{}
	}
	t, ok := s.chunks[ds.Path]
	if !ok {
		t = make([]atomic.Int64, n)
		s.chunks[ds.Path] = t
	}
	s.mu.Unlock()
	if !ok {
		s.readChunkTree(ds, chunkRows, t)
	}
	return t
}

// readChunkTree fills t from the chunk B-tree, when the dataset has one
// that h5.WalkChunks reads and libhdf5 gives the same offsets for its
// first, middle and last chunk; otherwise t is left to fill lazily.
// (Another shard may use t meanwhile: it asks libhdf5, for the same
// answers.)
func (s *Source) readChunkTree(ds *h5.Dataset, chunkRows int64, t []atomic.Int64) {
	hdr, err := ds.HeaderAddr()
	if err != nil || hdr < 0 || len(t) == 0 {
		return
	}
	found := make([]int64, len(t))
	rank := len(ds.Dims)
	err = h5.WalkChunks(s.reader(), hdr, int64(len(t)), func(off []uint64, at int64, _, _ uint32) error {
		if len(off) != rank+1 || off[0]%uint64(chunkRows) != 0 || off[0]/uint64(chunkRows) >= uint64(len(t)) {
			return errHeader
		}
		for _, o := range off[1:] {
			if o != 0 { // a chunk not spanning whole rows
				return errHeader
			}
		}
		if at < 0 || at > s.size-s.base {
			return errHeader
		}
		found[off[0]/uint64(chunkRows)] = s.base + at + 2
		return nil
	})
	if err != nil {
		return
	}
	for i, v := range found {
		if v == 0 {
			found[i] = 1 // not in the tree: never written
		}
	}
	coord := make([]int64, rank)
	for _, c := range []int64{0, int64(len(t)) / 2, int64(len(t)) - 1} {
		coord[0] = c * chunkRows
		addr, err := ds.ChunkAddr(coord)
		if addr >= 0 {
			addr += s.base // libhdf5 counts from the base; pread from the file's start
		}
		if err != nil || addr+2 != found[c] {
			return
		}
	}
	for i, v := range found {
		t[i].Store(v)
	}
}

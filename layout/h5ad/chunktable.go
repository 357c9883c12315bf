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

// readChunkTree fills t from the chunk list walked from the dataset's
// B-tree (h5.Dataset.WalkedChunks: only when libhdf5 agrees with it);
// otherwise t is left to fill lazily. (Another shard may use t meanwhile:
// it asks libhdf5, for the same answers.)
func (s *Source) readChunkTree(ds *h5.Dataset, chunkRows int64, t []atomic.Int64) {
	cs, ok := ds.WalkedChunks(s.reader())
	if !ok {
		return
	}
	found := make([]int64, len(t))
	for _, ci := range cs {
		c := ci.Offset[0] / chunkRows
		if ci.Offset[0]%chunkRows != 0 || c < 0 || c >= int64(len(t)) || ci.Addr < 0 || ci.Addr > s.size-s.base {
			return
		}
		for _, o := range ci.Offset[1:] {
			if o != 0 { // a chunk not spanning whole rows
				return
			}
		}
		found[c] = s.base + ci.Addr + 2 // libhdf5 counts from the base; pread from the file's start
	}
	for i, v := range found {
		if v == 0 {
			v = 1 // not in the tree: never written
		}
		t[i].Store(v)
	}
}

package h5ad

import (
	"slices"
	"sync"
)

// A scope of rows: the rows a group of shuffled shards is about to read
// (materialize plans 26 shards of 10,000 cells at a time). Without it each
// shard's names come from every heap collection, which the source then
// keeps (all of them, 50 MB for a 2M-cell source's names) for the next
// shard. Within a scope, a per-cell string array's names of every row of
// the scope are read in one pass over the heap, once (collections not
// kept), and the shards' reads are answered from them: the group's names
// are held, no more.

type rowScope struct {
	rows   []int64 // sorted, distinct
	mu     sync.Mutex
	tables map[string]*scopeTable // by dataset path
}

type scopeTable struct {
	once sync.Once
	strs []string // the names of rows, in order
	err  error
}

// ScopeRows readies reads of rows (any order, repeats allowed) until end
// is called; the reads of rows outside it, or in order, go on as before.
// One scope at a time: a later call replaces an earlier one.
func (s *Source) ScopeRows(rows []int64) (end func()) {
	sorted := slices.Clone(rows)
	slices.Sort(sorted)
	sc := &rowScope{rows: slices.Compact(sorted), tables: map[string]*scopeTable{}}
	s.scope.Store(sc)
	return func() { s.scope.CompareAndSwap(sc, nil) }
}

// scopedStrings answers a read of a 1-D string array's rows from the
// scope, when rows are out of order and all in it (ok false: read them
// otherwise).
func (a *h5Array) scopedStrings(rows []int64) (strs []string, ok bool, err error) {
	sc := a.src.scope.Load()
	if sc == nil || len(rows) == 0 || slices.IsSorted(rows) {
		return nil, false, nil
	}
	at := make([]int, len(rows))
	for i, r := range rows {
		k, found := slices.BinarySearch(sc.rows, r)
		if !found {
			return nil, false, nil
		}
		at[i] = k
	}
	sc.mu.Lock()
	t := sc.tables[a.ds.Path]
	if t == nil {
		t = &scopeTable{}
		sc.tables[a.ds.Path] = t
	}
	sc.mu.Unlock()
	// the scope's rows in order: one pass over the heap, nothing kept
	t.once.Do(func() { t.strs, t.err = a.Strings(sc.rows) })
	if t.err != nil {
		return nil, true, t.err
	}
	out := make([]string, len(rows))
	for i, k := range at {
		out[i] = t.strs[k]
	}
	return out, true, nil
}

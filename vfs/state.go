package vfs

import (
	"container/list"
	"fmt"
	"log"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/annslicer/annslicer/layout/image"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// state is what every node of one mount shares.
type state struct {
	src      Source
	log      *log.Logger
	shards   []ShardInfo
	byName   *nameIndex
	manifest image.File
	mtime    time.Time
	root     *rootDir
	owner    fuse.Owner                  // of every file and directory
	server   atomic.Pointer[fuse.Server] // set when the kernel connects

	images *cache[image.File]
	trees  *cache[*treeIndex]

	failed atomic.Pointer[error] // latched Check error

	// sizes pins what the kernel may have been told of each shard: a
	// file shard's size + 1, a tree shard's treeIndex.pin (0: not yet)
	sizes     []atomic.Int64
	treeLen   []atomic.Int32 // a tree shard's nodes, once built (dropPageCache)
	ahead     sync.Once
	quit      chan struct{} // closed when the mount ends: background work stops
	quitOnce  sync.Once
	aheadDone sync.WaitGroup // sizing ahead, prefetching
	aheadMu   sync.Mutex     // goAhead against stopAhead
	prefetch  *prefetcher    // nil without Options.Prefetch
}

func newState(src Source, opts Options) (*state, error) {
	st := &state{
		src:      src,
		log:      opts.Logger,
		shards:   src.Shards(),
		manifest: src.Manifest(),
		mtime:    time.Now(),
		quit:     make(chan struct{}),
	}
	st.sizes = make([]atomic.Int64, len(st.shards))
	for i, sh := range st.shards {
		switch {
		case sh.Name == "" || sh.Name == "." || sh.Name == ".." || strings.ContainsAny(sh.Name, "/\x00"):
			return nil, fmt.Errorf("vfs: shard %d: bad name %q", i, sh.Name)
		case sh.Name == ManifestName:
			return nil, fmt.Errorf("vfs: shard %d: name %q is reserved", i, sh.Name)
		}
	}
	if len(st.shards) >= 1<<31 {
		return nil, fmt.Errorf("vfs: %d shards: at most %d", len(st.shards), 1<<31-1)
	}
	var dup int
	if st.byName, dup = newNameIndex(st.shards); dup >= 0 {
		return nil, fmt.Errorf("vfs: shard %d: duplicate name %q", dup, st.shards[dup].Name)
	}
	st.images = newCache(opts.MaxImages, src.OpenFile)
	// Built trees (their files and their shape) stay in a cache bounded
	// like the images'.
	st.trees = newCache(opts.MaxImages, func(i int) (*treeIndex, error) {
		entries, err := src.OpenTree(i)
		if err != nil {
			return nil, err
		}
		return newTreeIndex(entries)
	})
	if opts.Prefetch {
		st.prefetch = newPrefetcher(len(st.shards))
	}
	if st.hasTrees() {
		st.treeLen = make([]atomic.Int32, len(st.shards))
	}
	return st, nil
}

// hasTrees reports whether any shard is a directory tree.
func (st *state) hasTrees() bool {
	for _, sh := range st.shards {
		if sh.IsTree() {
			return true
		}
	}
	return false
}

// fileSize is file shard i's size: from the source's FileSize when it has
// one (nothing built: a stat of thousands of shards stays cheap), else
// from its image. The first size found is kept: a rebuilt image must have
// it (readShard).
func (st *state) fileSize(i int) (int64, error) {
	if v := st.sizes[i].Load(); v > 0 {
		return v - 1, nil
	}
	var n int64
	if fs, ok := st.src.(FileSizer); ok {
		var err error
		if n, err = fs.FileSize(i); err != nil {
			return 0, err
		}
	} else {
		f, err := st.images.get(i)
		if err != nil {
			return 0, err
		}
		n = f.Size()
	}
	if !st.sizes[i].CompareAndSwap(0, n+1) {
		return st.sizes[i].Load() - 1, nil // a concurrent first lookup won
	}
	return n, nil
}

// sizeKnown reports whether file shard i's size is known, or can be
// without building its image.
func (st *state) sizeKnown(i int) bool {
	_, ok := st.src.(FileSizer)
	return ok || st.sizes[i].Load() > 0
}

// sizeAhead starts finding every file shard's size on every core when
// the root is first listed, in the order the listing's READDIRPLUS looks
// them up. Each lookup then finds its size made; a listing of 20,000
// shards otherwise waited for each size in turn, on one core.
func (st *state) sizeAhead() {
	as, ok := st.src.(AheadSizer)
	if !ok {
		return
	}
	st.ahead.Do(func() {
		var next atomic.Int64
		for range runtime.GOMAXPROCS(0) {
			st.goAhead(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= len(st.shards) || st.failed.Load() != nil {
						return
					}
					select {
					case <-st.quit:
						return
					default:
					}
					if st.shards[i].IsTree() || st.sizes[i].Load() > 0 {
						continue
					}
					// an error is left for the lookup to report
					if n, err := as.FileSizeAhead(i); err == nil {
						st.sizes[i].CompareAndSwap(0, n+1)
					}
				}
			})
		}
	})
}

// stopAhead ends sizing ahead and prefetching and waits
// for them: the source is closed once the mount ends.
func (st *state) stopAhead() {
	st.aheadMu.Lock()
	st.quitOnce.Do(func() { close(st.quit) })
	st.aheadMu.Unlock()
	st.aheadDone.Wait()
}

// goAhead runs fn in the background unless the mount is ending; stopAhead
// waits for it. (A WaitGroup must not be added to while it is waited on
// with nothing left: hence the lock.)
func (st *state) goAhead(fn func()) {
	st.aheadMu.Lock()
	defer st.aheadMu.Unlock()
	select {
	case <-st.quit:
		return
	default:
	}
	st.aheadDone.Add(1)
	go func() {
		defer st.aheadDone.Done()
		fn()
	}()
}

// check calls Source.Check, latching the first error: from then on every
// open and read fails, and the kernel page cache of every file is dropped
// so that no stale byte is served from it either.
func (st *state) check() error {
	if p := st.failed.Load(); p != nil {
		return *p
	}
	err := st.src.Check()
	if err == nil {
		return nil
	}
	if st.failed.CompareAndSwap(nil, &err) {
		st.log.Printf("source changed, every read now fails with EIO: %v", err)
		// Not inline: invalidating pages waits for reads in flight,
		// possibly the one that called check.
		go st.dropPageCache()
	}
	return *st.failed.Load()
}

// errno logs err (with what failed) and returns EIO.
func (st *state) errno(what string, err error) syscall.Errno {
	st.log.Printf("%s: %v", what, err)
	return syscall.EIO
}

// dropPageCache asks the kernel to forget the cached content of every file
// it may hold: shards.json (the bridge's only file), every file shard
// sized and every node of every tree built (shardFS's).
func (st *state) dropPageCache() {
	if n := st.root.manifestNode(); n != nil {
		n.NotifyContent(0, 0) // ENOENT if the kernel forgot it: nothing cached then
	}
	srv := st.server.Load()
	if srv == nil {
		return
	}
	for i := range st.sizes {
		if st.sizes[i].Load() == 0 {
			continue
		}
		if !st.shards[i].IsTree() {
			srv.InodeNotify(fileShardNode0+uint64(i), 0, 0)
			continue
		}
		for k := range int(st.treeLen[i].Load()) {
			srv.InodeNotify(treeNodeID(i, k), 0, 0)
		}
	}
}

// cache builds values by shard index at most once at a time and keeps the
// max most recently used. Errors are not cached.
type cache[T any] struct {
	build func(int) (T, error)
	max   int

	mu  sync.Mutex
	lru *list.List // of *cacheEntry[T], most recent first
	m   map[int]*cacheEntry[T]
}

type cacheEntry[T any] struct {
	i    int
	done chan struct{}
	v    T
	err  error
	elem *list.Element
}

func newCache[T any](max int, build func(int) (T, error)) *cache[T] {
	return &cache[T]{build: build, max: max, lru: list.New(), m: map[int]*cacheEntry[T]{}}
}

func (c *cache[T]) get(i int) (T, error) {
	c.mu.Lock()
	e := c.m[i]
	if e != nil {
		c.lru.MoveToFront(e.elem)
		c.mu.Unlock()
		<-e.done
		return e.v, e.err
	}
	e = &cacheEntry[T]{i: i, done: make(chan struct{})}
	e.elem = c.lru.PushFront(e)
	c.m[i] = e
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*cacheEntry[T])
		delete(c.m, old.i) // waiters keep their pointer
	}
	c.mu.Unlock()

	e.v, e.err = c.build(i)
	close(e.done)
	if e.err != nil {
		c.mu.Lock()
		if c.m[i] == e {
			c.lru.Remove(e.elem)
			delete(c.m, i)
		}
		c.mu.Unlock()
	}
	return e.v, e.err
}

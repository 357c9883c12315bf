package vfs

import (
	"sync"
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// prefetcher makes whole file shards ahead of their reads (Options.Prefetch).
//
// Why: a training loader opens its shards and then reads each in small
// pieces all over it (h5py: an indptr slice, then a few hundred rows of
// data and indices). Through the mount each such read gathers its rows
// from the source a row at a time, and the loader waits for it: its first
// pass over virtual shuffled shards ran at 0.7 of its speed over the same
// shards materialized, while once a shard had been read through with large
// reads (its bytes in the kernel's page cache) it ran as fast. A shard's
// first open queues it here; one goroutine makes each queued shard's
// bytes, in the order the shards were opened, and hands them to the
// kernel's page cache (FUSE notify-store), where the loader's
// reads find them without reaching the mount. It runs beside the reader
// on the machine's other cores; it holds 128 KiB, and never a file of
// the mount open (a prefetch through the mountpoint itself would make an
// unmount fail as busy while it runs).
type prefetcher struct {
	mu     sync.Mutex
	queue  []int    // shards opened, not yet made
	queued []uint64 // bitset: ever queued (each shard is made once)
	// served: of each queued shard not yet made, a bitset of the blocks
	// (prefetchBlock bytes) the mount has already served whole to the
	// kernel, which the prefetch then skips: anndata reads most of a
	// shard (obs, var, every layer) as it opens it, while the prefetch
	// of that very shard starts.
	served map[int][]uint64
	wake   chan struct{}
	start  sync.Once

	stored atomic.Int64 // bytes handed to the kernel (tests)
}

func newPrefetcher(shards int) *prefetcher {
	return &prefetcher{queued: make([]uint64, (shards+63)/64), served: map[int][]uint64{}, wake: make(chan struct{}, 1)}
}

// prefetchBlock is the unit of what was served: the kernel reads a
// shard in pieces of 128 KiB and more, aligned to pages.
const prefetchBlock = 128 << 10

// read notes that the mount served [off, off+n) of file shard i.
func (st *state) read(i int, off, n int64) {
	p := st.prefetch
	if p == nil || n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	bits := p.served[i]
	if bits == nil {
		return // not queued, or made already
	}
	for b := (off + prefetchBlock - 1) / prefetchBlock; (b+1)*prefetchBlock <= off+n; b++ {
		if int(b/64) < len(bits) {
			bits[b/64] |= 1 << (b % 64)
		}
	}
}

// servedBlock reports whether block b of shard i was served whole.
func (p *prefetcher) servedBlock(i int, b int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	bits := p.served[i]
	return int(b/64) < len(bits) && bits[b/64]&(1<<(b%64)) != 0
}

// opened queues file shard i the first time it is opened.
func (st *state) opened(i int) {
	p := st.prefetch
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.queued[i/64]&(1<<(i%64)) != 0 {
		p.mu.Unlock()
		return
	}
	p.queued[i/64] |= 1 << (i % 64)
	p.queue = append(p.queue, i)
	var blocks int64
	if v := st.sizes[i].Load(); v > 0 {
		blocks = (v - 1 + prefetchBlock - 1) / prefetchBlock
	}
	p.served[i] = make([]uint64, (blocks+63)/64+1)
	p.mu.Unlock()
	p.start.Do(func() { st.goAhead(st.prefetchLoop) })
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *prefetcher) next() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		p.queue = nil // a long run's backing array is let go
		return 0, false
	}
	i := p.queue[0]
	p.queue = p.queue[1:]
	return i, true
}

// prefetchLoop makes the queued shards until the mount ends (stopAhead
// waits for it: the source is closed after).
func (st *state) prefetchLoop() {
	buf := make([]byte, prefetchBlock)
	for {
		select {
		case <-st.quit:
			return
		case <-st.prefetch.wake:
		}
		for {
			i, ok := st.prefetch.next()
			if !ok {
				break
			}
			if !st.prefetchShard(i, buf) {
				return
			}
		}
	}
}

// prefetchShard makes file shard i and stores its bytes in the kernel's
// page cache, a block at a time from its end backwards: a reader going
// through the shard from its start (cat, a copy) and the prefetch then
// meet once, instead of both making every block. A block is small enough
// that its gather runs on one core (engine's gathers split only past 512
// runs), leaving the others to the reader's own requests. A read error is
// left to the reader's own read to report; it returns false when the
// mount is ending or failed.
func (st *state) prefetchShard(i int, buf []byte) bool {
	srv := st.server.Load()
	if srv == nil {
		return true
	}
	size, err := st.fileSize(i)
	if err != nil {
		return true
	}
	defer func() {
		st.prefetch.mu.Lock()
		delete(st.prefetch.served, i)
		st.prefetch.mu.Unlock()
	}()
	for b := (size+prefetchBlock-1)/prefetchBlock - 1; b >= 0; b-- {
		select {
		case <-st.quit:
			return false
		default:
		}
		if st.prefetch.servedBlock(i, b) {
			continue
		}
		off := b * prefetchBlock
		n := min(prefetchBlock, size-off) // never past size: a store past the end grows the kernel's idea of the file
		r, errno := st.readShard(i, buf[:n], off)
		if errno != 0 {
			return st.failed.Load() == nil
		}
		data, status := r.Bytes(buf[:n])
		if status == fuse.OK && st.failed.Load() == nil {
			status = srv.InodeNotifyStoreCache(fileShardNode0+uint64(i), off, data)
		}
		r.Done()
		if status != fuse.OK {
			// ENOENT: the kernel forgot the shard (closed and evicted);
			// its next open queues nothing, its reads come to the mount
			return st.failed.Load() == nil
		}
		if st.failed.Load() != nil {
			// the source changed before or while the block was stored:
			// the page cache may have been dropped before it landed
			srv.InodeNotify(fileShardNode0+uint64(i), off, n)
			return false
		}
		st.prefetch.stored.Add(int64(len(data)))
	}
	return true
}

// busy reports whether a shard is queued or being made (tests).
func (p *prefetcher) busy() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) > 0 || len(p.served) > 0
}

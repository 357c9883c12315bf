package zarr

import (
	"container/list"
	"sync"
)

// DefaultCacheBytes bounds the cache Open makes when given none.
const DefaultCacheBytes = 64 << 20

// Cache holds decoded chunks, least recently used first out, up to a byte
// budget. Reading a compressed store by ranges touches each chunk many times
// (row after row, and FUSE reads in parallel), so a chunk is decoded once
// and shared. Concurrent loads of the same chunk wait for the first instead
// of decoding it again. A Cache may be shared by several stores; keys are
// chunk file paths.
type Cache struct {
	mu      sync.Mutex
	max     int64
	used    int64
	ll      *list.List // of *cacheEntry, front = most recent
	entries map[string]*list.Element
	loading map[string]*cacheLoad
	readFn  func(string) ([]byte, error) // SetReadFile; nil: os.ReadFile
}

type cacheEntry struct {
	key  string
	val  any
	size int64
}

type cacheLoad struct {
	done chan struct{}
	val  any
	err  error
}

// NewCache makes a cache holding at most maxBytes of decoded chunks; 0
// disables caching (every read decodes).
func NewCache(maxBytes int64) *Cache {
	return &Cache{max: maxBytes, ll: list.New(), entries: map[string]*list.Element{}, loading: map[string]*cacheLoad{}}
}

// get returns the cached value for key, or calls load (once, however many
// goroutines ask at the same time) and keeps its result if it fits.
func (c *Cache) get(key string, load func() (any, int64, error)) (any, error) {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.ll.MoveToFront(el)
		v := el.Value.(*cacheEntry).val
		c.mu.Unlock()
		return v, nil
	}
	if l, ok := c.loading[key]; ok {
		c.mu.Unlock()
		<-l.done
		return l.val, l.err
	}
	l := &cacheLoad{done: make(chan struct{})}
	c.loading[key] = l
	c.mu.Unlock()

	v, size, err := load()
	l.val, l.err = v, err

	c.mu.Lock()
	delete(c.loading, key)
	if err == nil && size <= c.max {
		c.entries[key] = c.ll.PushFront(&cacheEntry{key, v, size})
		c.used += size
		for c.used > c.max {
			last := c.ll.Back()
			e := last.Value.(*cacheEntry)
			c.ll.Remove(last)
			delete(c.entries, e.key)
			c.used -= e.size
		}
	}
	c.mu.Unlock()
	close(l.done)
	return v, err
}

// Used is the number of bytes currently held.
func (c *Cache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

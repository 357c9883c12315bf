package h5w

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"

	"github.com/annslicer/annslicer/layout/h5"
)

// The global heap: variable-length strings live in collections ("GCOL"),
// each at least 4 KiB (libhdf5 reads that much before it reads a
// collection's size) and of at most 65,535 objects (16-bit indices).
const (
	minCollection = 4096
	maxObjects    = 0xffff
	maxCollection = 1 << 20 // bytes of strings before a new collection
)

type collection struct {
	addr      uint64
	first, n  int // strings [first, first+n)
	used, end int // bytes used, and the collection's size
}

// heap holds the file's strings as the slices they were given in (a
// merged obs index is millions of them: no copy, no per-string table).
type heap struct {
	parts  [][]string
	starts []int // index of each part's first string
	n      int
	colls  []collection
}

// add appends strings and gives the index of the first.
func (h *heap) add(ss []string) int {
	first := h.n
	if len(ss) > 0 {
		h.parts = append(h.parts, ss)
		h.starts = append(h.starts, first)
		h.n += len(ss)
	}
	return first
}

// cursor walks the strings in order from string k.
type cursor struct {
	h    *heap
	p, i int // part, index in it
}

func (h *heap) at(k int) cursor {
	p := sort.SearchInts(h.starts, k+1) - 1
	if p < 0 {
		return cursor{h: h, p: len(h.parts)}
	}
	return cursor{h: h, p: p, i: k - h.starts[p]}
}

func (c *cursor) next() string {
	for c.p < len(c.h.parts) && c.i >= len(c.h.parts[c.p]) {
		c.p, c.i = c.p+1, 0
	}
	s := c.h.parts[c.p][c.i]
	c.i++
	return s
}

// place lays the collections out from address cur and gives the end.
func (h *heap) place(cur uint64) uint64 {
	p := packer{cur: cur}
	c := h.at(0)
	for k := 0; k < h.n; k++ {
		if p.add(len(c.next())) {
			h.colls = append(h.colls, p.closed)
		}
	}
	if p.col.n > 0 {
		h.colls = append(h.colls, p.close())
	}
	return p.cur
}

// packer fills collections with strings in order, as many as fit: place
// lays a file's heap out with it, Sizer sizes one.
type packer struct {
	cur    uint64     // where the open collection starts, or the next one
	col    collection // the open collection (n 0: none)
	k      int        // strings so far
	closed collection // the last collection closed
}

// add adds a string of l bytes, and reports whether that closed the
// collection before it (now in closed).
func (p *packer) add(l int) (closed bool) {
	size := 16 + pad8(l)
	if p.col.n > 0 && (p.col.n >= maxObjects || p.col.used+size > maxCollection) {
		p.closed, closed = p.close(), true
	}
	if p.col.n == 0 {
		p.col = collection{addr: p.cur, first: p.k, used: 16}
	}
	p.col.used += size
	p.col.n++
	p.k++
	return closed
}

// close ends the open collection and gives it.
func (p *packer) close() collection {
	c := p.col
	c.end = max(minCollection, c.used)
	p.cur += uint64(c.end)
	p.col = collection{}
	return c
}

// heapIDs gives the heap ID of each string once the heap is placed.
type heapIDs struct{ h *heap }

func (h *heap) ids() *heapIDs { return &heapIDs{h} }

// writeTo writes the collections to w, one at a time through *buf.
func (h *heap) writeTo(w io.Writer, buf *[]byte) error {
	c := h.at(0)
	for _, col := range h.colls {
		b := append((*buf)[:0], 'G', 'C', 'O', 'L', 1, 0, 0, 0)
		b = binary.LittleEndian.AppendUint64(b, uint64(col.end))
		for k := 0; k < col.n; k++ {
			s := c.next()
			b = binary.LittleEndian.AppendUint16(b, uint16(k+1))
			b = append(b, 0, 0, 0, 0, 0, 0) // reference count, reserved
			b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
			b = append(b, s...)
			b = append(b, make([]byte, pad8(len(s))-len(s))...)
		}
		if free := col.end - col.used; free >= 16 {
			// object 0: the free space, its own header included
			b = append(b, make([]byte, 8)...)
			b = binary.LittleEndian.AppendUint64(b, uint64(free))
		}
		b = append(b, make([]byte, col.end-len(b))...)
		*buf = b
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// fillIDs writes the heap IDs of strings [first, first+n) into the
// variable-length slots of b, elements of type t in order.
func fillIDs(b []byte, t h5.TypeInfo, ids *heapIDs, first, n int) error {
	slots := vlenSlots(t, 0, nil)
	if len(slots) == 0 {
		return nil
	}
	elems := len(b) / max(1, t.Size)
	if elems*len(slots) != n {
		return fmt.Errorf("%d strings for %d slots", n, elems*len(slots))
	}
	if n == 0 {
		return nil
	}
	h := ids.h
	c := h.at(first)
	ci := sort.Search(len(h.colls), func(i int) bool { return h.colls[i].first+h.colls[i].n > first })
	k := first
	for e := 0; e < elems; e++ {
		for _, s := range slots {
			for k >= h.colls[ci].first+h.colls[ci].n {
				ci++
			}
			col := h.colls[ci]
			p := b[e*t.Size+s:]
			binary.LittleEndian.PutUint32(p, uint32(len(c.next())))
			binary.LittleEndian.PutUint64(p[4:], col.addr)
			binary.LittleEndian.PutUint32(p[12:], uint32(k-col.first+1))
			k++
		}
	}
	return nil
}

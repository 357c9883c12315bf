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

// heap holds the file's strings as the slices or lists they were given
// in (a merged obs index is millions of them: no copy, no per-string
// table).
type heap struct {
	parts  []heapPart
	starts []int // index of each part's first string
	n      int
	colls  []collection
}

// heapPart is a slice of strings, or a list read back in order.
type heapPart struct {
	ss []string
	l  StrList
}

func (p heapPart) len() int {
	if p.l != nil {
		return p.l.Len()
	}
	return len(p.ss)
}

// add appends strings and gives the index of the first.
func (h *heap) add(p heapPart) int {
	first := h.n
	if n := p.len(); n > 0 {
		h.parts = append(h.parts, p)
		h.starts = append(h.starts, first)
		h.n += n
	}
	return first
}

// each calls f with strings [lo, hi) in order (s valid during the call
// only), stopping at f's first error.
func (h *heap) each(lo, hi int, f func(s string) error) error {
	if lo >= hi {
		return nil
	}
	p := sort.SearchInts(h.starts, lo+1) - 1
	if p < 0 || hi > h.n {
		return fmt.Errorf("h5w: strings [%d, %d) of a heap of %d", lo, hi, h.n)
	}
	for k := lo; k < hi; p++ {
		part := h.parts[p]
		from, to := k-h.starts[p], min(part.len(), hi-h.starts[p])
		if part.l != nil {
			if err := part.l.Each(from, to, f); err != nil {
				return err
			}
		} else {
			for _, s := range part.ss[from:to] {
				if err := f(s); err != nil {
					return err
				}
			}
		}
		k += to - from
	}
	return nil
}

// place lays the collections out from address cur and gives the end.
func (h *heap) place(cur uint64) (uint64, error) {
	p := packer{cur: cur}
	err := h.each(0, h.n, func(s string) error {
		if p.add(len(s)) {
			h.colls = append(h.colls, p.closed)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if p.col.n > 0 {
		h.colls = append(h.colls, p.close())
	}
	return p.cur, nil
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
	for _, col := range h.colls {
		b := append((*buf)[:0], 'G', 'C', 'O', 'L', 1, 0, 0, 0)
		b = binary.LittleEndian.AppendUint64(b, uint64(col.end))
		k := 0
		err := h.each(col.first, col.first+col.n, func(s string) error {
			k++
			b = binary.LittleEndian.AppendUint16(b, uint16(k))
			b = append(b, 0, 0, 0, 0, 0, 0) // reference count, reserved
			b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
			b = append(b, s...)
			b = append(b, make([]byte, pad8(len(s))-len(s))...)
			return nil
		})
		if err != nil {
			return err
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
	ci := sort.Search(len(h.colls), func(i int) bool { return h.colls[i].first+h.colls[i].n > first })
	k, e, si := first, 0, 0
	return h.each(first, first+n, func(s string) error {
		for k >= h.colls[ci].first+h.colls[ci].n {
			ci++
		}
		col := h.colls[ci]
		p := b[e*t.Size+slots[si]:]
		binary.LittleEndian.PutUint32(p, uint32(len(s)))
		binary.LittleEndian.PutUint64(p[4:], col.addr)
		binary.LittleEndian.PutUint32(p[12:], uint32(k-col.first+1))
		k++
		if si++; si == len(slots) {
			si, e = 0, e+1
		}
		return nil
	})
}

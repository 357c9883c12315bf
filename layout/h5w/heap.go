package h5w

import (
	"encoding/binary"
	"fmt"

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

type heap struct {
	strs  []string
	colls []collection
}

// add appends strings and gives the index of the first.
func (h *heap) add(ss []string) int {
	first := len(h.strs)
	h.strs = append(h.strs, ss...)
	return first
}

// place lays the collections out from address cur and gives the end.
func (h *heap) place(cur uint64) uint64 {
	for i := 0; i < len(h.strs); {
		c := collection{addr: cur, first: i, used: 16}
		for i < len(h.strs) && c.n < maxObjects && (c.n == 0 || c.used+16+pad8(len(h.strs[i])) <= maxCollection) {
			c.used += 16 + pad8(len(h.strs[i]))
			c.n++
			i++
		}
		c.end = max(minCollection, c.used)
		h.colls = append(h.colls, c)
		cur += uint64(c.end)
	}
	return cur
}

type heapIDs struct {
	addr  []uint64
	index []uint32
	lens  []uint32
}

func (h *heap) ids() *heapIDs {
	ids := &heapIDs{addr: make([]uint64, len(h.strs)), index: make([]uint32, len(h.strs)), lens: make([]uint32, len(h.strs))}
	for _, c := range h.colls {
		for k := 0; k < c.n; k++ {
			ids.addr[c.first+k] = c.addr
			ids.index[c.first+k] = uint32(k + 1)
			ids.lens[c.first+k] = uint32(len(h.strs[c.first+k]))
		}
	}
	return ids
}

func (h *heap) appendTo(b []byte) []byte {
	for _, c := range h.colls {
		start := len(b)
		b = append(b, 'G', 'C', 'O', 'L', 1, 0, 0, 0)
		b = binary.LittleEndian.AppendUint64(b, uint64(c.end))
		for k := 0; k < c.n; k++ {
			s := h.strs[c.first+k]
			b = binary.LittleEndian.AppendUint16(b, uint16(k+1))
			b = append(b, 0, 0, 0, 0, 0, 0) // reference count, reserved
			b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
			b = append(b, s...)
			b = append(b, make([]byte, pad8(len(s))-len(s))...)
		}
		if free := c.end - c.used; free >= 16 {
			// object 0: the free space, its own header included
			b = append(b, make([]byte, 8)...)
			b = binary.LittleEndian.AppendUint64(b, uint64(free))
		}
		b = append(b, make([]byte, c.end-(len(b)-start))...)
	}
	return b
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
	k := first
	for e := 0; e < elems; e++ {
		for _, s := range slots {
			p := b[e*t.Size+s:]
			binary.LittleEndian.PutUint32(p, ids.lens[k])
			binary.LittleEndian.PutUint64(p[4:], ids.addr[k])
			binary.LittleEndian.PutUint32(p[12:], ids.index[k])
			k++
		}
	}
	return nil
}

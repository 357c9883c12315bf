package h5ad

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// parseCollection parses a global heap collection (b holds exactly the
// size its header declares) into its object table: by object index, the
// offset in b and the size of each object's bytes. It walks the objects as
// libhdf5 does when it loads the collection, and refuses every layout on
// which that walk would leave the collection, loop, or record an object
// running past its end: libhdf5 only asserts these, so a collection that
// passes here is one libhdf5 can load and read objects of safely.
// heapObj is an object of a collection: its offset in the collection and
// its size (a collection is at most 4 GiB: collection() refuses larger).
// Half the size of two int64s: a source's tables hold one per string.
type heapObj [2]uint32

// missingObj is the size of an index no object has: no object is that
// long, so no string's length matches it.
const missingObj = ^uint32(0)

func parseCollection(b []byte) ([]heapObj, error) {
	if len(b) < 16 || string(b[:4]) != "GCOL" || b[4] != 1 {
		return nil, errors.New("not a global heap collection")
	}
	size := int64(binary.LittleEndian.Uint64(b[8:]))
	if size != int64(len(b)) {
		return nil, fmt.Errorf("collection size %d does not match the %d bytes read", size, len(b))
	}
	var objs []heapObj
	for p := int64(16); p < size; {
		if p+16 > size { // too small for an object header: free space
			break
		}
		idx := int(binary.LittleEndian.Uint16(b[p:]))
		osz := binary.LittleEndian.Uint64(b[p+8:])
		if idx == 0 { // free space, its size counting its header
			if osz < 16 || osz > uint64(size-p) {
				return nil, fmt.Errorf("free space of %d bytes at offset %d does not fit the collection", osz, p)
			}
			p += int64(osz)
			continue
		}
		if osz > uint64(size-p-16) || p+16+(int64(osz)+7)/8*8 > size {
			return nil, fmt.Errorf("object %d of %d bytes at offset %d runs past the collection's end", idx, osz, p)
		}
		for len(objs) <= idx {
			objs = append(objs, heapObj{0, missingObj})
		}
		objs[idx] = heapObj{uint32(p + 16), uint32(osz)}
		p += 16 + (int64(osz)+7)/8*8
	}
	return objs, nil
}

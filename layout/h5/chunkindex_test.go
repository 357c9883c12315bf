package h5

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// chunkFile lays out a version 1 object header at 0 whose layout message
// points at a chunk B-tree at 256: a root of level 1 over two leaves,
// chunks of 10 elements of a 1-D dataset at addresses 1000 + offset.
func chunkFile() []byte {
	b := make([]byte, 1024)
	le := binary.LittleEndian
	// header: version 1, 1 message, refcount 1, 48 bytes of messages
	b[0] = 1
	le.PutUint16(b[2:], 1)
	le.PutUint32(b[4:], 1)
	le.PutUint32(b[8:], 40)
	m := b[16:]
	le.PutUint16(m[0:], msgLayout)
	le.PutUint16(m[2:], 32)
	l := m[8:]
	l[0], l[1], l[2] = 3, 2, 2 // version 3, chunked, rank + 1
	le.PutUint64(l[3:], 256)   // B-tree
	le.PutUint32(l[11:], 10)   // chunk of 10 elements
	le.PutUint32(l[15:], 4)    // of 4 bytes
	node := func(at int, level byte, keys []uint64, children []uint64) {
		n := b[at:]
		copy(n, "TREE")
		n[4], n[5] = 1, level
		le.PutUint16(n[6:], uint16(len(children)))
		p := 24
		for i, k := range keys {
			le.PutUint32(n[p:], 40) // chunk bytes
			le.PutUint64(n[p+8:], k)
			p += 8 + 16
			if i < len(children) {
				le.PutUint64(n[p:], children[i])
				p += 8
			}
		}
	}
	node(256, 1, []uint64{0, 20, 40}, []uint64{400, 600})
	node(400, 0, []uint64{0, 10, 20}, []uint64{1000, 1010})
	node(600, 0, []uint64{20, 30, 40}, []uint64{1020, 1030})
	return b
}

func bytesReader(b []byte) HeaderReader { return ReaderAt(bytes.NewReader(b), 0, int64(len(b))) }

func TestWalkChunksReadsEveryLeaf(t *testing.T) {
	var got []int64
	err := WalkChunks(bytesReader(chunkFile()), 0, 4, func(off []uint64, at int64, size, mask uint32) error {
		if int64(off[0])+1000 != at || off[1] != 0 || size != 40 || mask != 0 {
			t.Errorf("chunk at %v has address %d, size %d, mask %d", off, at, size, mask)
		}
		got = append(got, at)
		return nil
	})
	if err != nil || len(got) != 4 {
		t.Fatalf("walked %v: %v", got, err)
	}
	// a loop back to the root, and more chunks than the dataset has, are corrupt
	b := chunkFile()
	binary.LittleEndian.PutUint64(b[600+24+24:], 256)
	b[600+5] = 1
	if err := WalkChunks(bytesReader(b), 0, 4, func([]uint64, int64, uint32, uint32) error { return nil }); !errors.Is(err, ErrHeader) {
		t.Errorf("a node pointing back up: %v", err)
	}
	if err := WalkChunks(bytesReader(chunkFile()), 0, 3, func([]uint64, int64, uint32, uint32) error { return nil }); !errors.Is(err, ErrHeader) {
		t.Errorf("four chunks where three fit: %v", err)
	}
}

// Untrusted bytes: the walk ends, without a panic, whatever they say.
func FuzzWalkChunks(f *testing.F) {
	f.Add(chunkFile(), int64(4))
	f.Fuzz(func(t *testing.T, b []byte, max int64) {
		if max < 0 || max > 1<<20 {
			return
		}
		WalkChunks(bytesReader(b), 0, max, func([]uint64, int64, uint32, uint32) error { return nil })
	})
}

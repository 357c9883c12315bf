package h5

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A chunked dataset in the format h5py writes by default (data layout
// message of version 3) finds its chunks through a version 1 B-tree.
// libhdf5 answers one chunk's address per call (H5Dget_chunk_info_by_coord,
// ~10 µs, under its global lock, from the tree's root each time), and
// 1.10 has no call listing them all; a slice of a 333 MB source asked
// 8,500 times. WalkChunks reads the tree once instead. Its bytes are
// untrusted: every node is bounded, visited once, and of a lower level
// than its parent.

const msgLayout = 0x08

// ErrNoChunkTree says the dataset's chunks are not indexed by a version 1
// B-tree this walk reads (another layout version or index type): ask
// libhdf5.
var ErrNoChunkTree = errors.New("chunks not indexed by a version 1 B-tree")

// WalkChunks calls put with the offset (in elements, one per dimension,
// and a last 0), file address, stored size and filter mask of every chunk
// written, in offset order, for the dataset whose object header is at
// addr. Addresses are relative to the file's base, as read takes them.
// maxChunks bounds the walk (the dataset's chunk count).
func WalkChunks(read HeaderReader, addr int64, maxChunks int64, put func(offset []uint64, at int64, size, mask uint32) error) error {
	var layout []byte
	if _, err := WalkHeader(read, addr, func(m Message) error {
		if m.Type == msgLayout && m.Flags&0x02 == 0 {
			layout = m.Data
		}
		return nil
	}); err != nil {
		return err
	}
	// version 3, class 2 (chunked), dimensionality, B-tree address, sizes
	if len(layout) < 3 || layout[0] != 3 || layout[1] != 2 {
		return ErrNoChunkTree
	}
	nd := int(layout[2]) // rank + 1 (the element's size)
	if nd < 2 || nd > 33 || len(layout) < 3+8+4*nd {
		return ErrHeader
	}
	root := int64(binary.LittleEndian.Uint64(layout[3:]))
	if root == -1 { // undefined: no chunk written yet
		return nil
	}
	keySize := int64(8 + 8*nd)
	seen := map[int64]bool{}
	nodes, found := int64(0), int64(0)
	var walk func(at int64, below int) error
	walk = func(at int64, below int) error {
		nodes++
		if seen[at] || nodes > 2*maxChunks+64 {
			return fmt.Errorf("chunk B-tree: %w", ErrHeader)
		}
		seen[at] = true
		h, err := read(at, 24)
		if err != nil {
			return err
		}
		level, entries := int(h[5]), int64(binary.LittleEndian.Uint16(h[6:]))
		if string(h[:4]) != "TREE" || h[4] != 1 || level >= below {
			return fmt.Errorf("chunk B-tree node: %w", ErrHeader)
		}
		b, err := read(at+24, entries*(keySize+8)+keySize)
		if err != nil {
			return err
		}
		offset := make([]uint64, nd)
		for i := int64(0); i < entries; i++ {
			k := b[i*(keySize+8):]
			child := int64(binary.LittleEndian.Uint64(k[keySize:]))
			if level > 0 {
				if err := walk(child, level); err != nil {
					return err
				}
				continue
			}
			if found++; found > maxChunks {
				return fmt.Errorf("chunk B-tree: more chunks than the dataset holds: %w", ErrHeader)
			}
			for d := range offset {
				offset[d] = binary.LittleEndian.Uint64(k[8+8*d:])
			}
			if err := put(offset, child, binary.LittleEndian.Uint32(k), binary.LittleEndian.Uint32(k[4:])); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root, 64)
}

// Chunks lists every chunk written of a chunked dataset, as ChunkInfo
// does one by one; read reads the file at addresses relative to its base.
// ChunkInfo(i) walks the chunks up to i in libhdf5 1.10, so a loop over
// them costs the square of their number (1.2 s to open a 2M-cell file):
// the B-tree walk (WalkedChunks) is used when libhdf5 agrees with it.
func (d *Dataset) Chunks(read HeaderReader) ([]ChunkInfo, error) {
	if out, ok := d.WalkedChunks(read); ok {
		return out, nil
	}
	n, err := d.NumChunks()
	if err != nil {
		return nil, err
	}
	out := make([]ChunkInfo, 0, n)
	for i := int64(0); i < n; i++ {
		ci, err := d.ChunkInfo(i)
		if err != nil {
			return nil, err
		}
		out = append(out, ci)
	}
	return out, nil
}

// WalkedChunks is the chunk list walked from the dataset's B-tree
// (WalkChunks), in offset order, when libhdf5 counts as many chunks and
// gives the same 8 of them, spread over the list; ok is false otherwise
// (no such tree, a corrupt one, a disagreement).
func (d *Dataset) WalkedChunks(read HeaderReader) (out []ChunkInfo, ok bool) {
	n, err := d.NumChunks()
	hdr, herr := d.HeaderAddr()
	if err != nil || herr != nil || hdr < 0 || n <= 0 {
		return nil, false
	}
	out = make([]ChunkInfo, 0, n)
	err = WalkChunks(read, hdr, n, func(off []uint64, at int64, size, mask uint32) error {
		ci := ChunkInfo{Mask: mask, Addr: at, Size: int64(size), Offset: make([]int64, len(d.Dims))}
		for i := range ci.Offset {
			if i < len(off) {
				ci.Offset[i] = int64(off[i])
			}
		}
		out = append(out, ci)
		return nil
	})
	if err != nil || int64(len(out)) != n || !d.agrees(out) {
		return nil, false
	}
	return out, true
}

// agrees asks libhdf5 for 8 chunks spread over the list, the first and
// the last among them (a ChunkInfo costs its index: the 8, at most 8
// times the list's length).
func (d *Dataset) agrees(cs []ChunkInfo) bool {
	n := int64(len(cs))
	for k := int64(0); k < 8; k++ {
		i := k * (n - 1) / 7
		ci, err := d.ChunkInfo(i)
		if err != nil || !sameChunk(ci, cs[i]) {
			return false
		}
	}
	return true
}

func sameChunk(a, b ChunkInfo) bool {
	if a.Mask != b.Mask || a.Addr != b.Addr || a.Size != b.Size || len(a.Offset) != len(b.Offset) {
		return false
	}
	for i := range a.Offset {
		if a.Offset[i] != b.Offset[i] {
			return false
		}
	}
	return true
}

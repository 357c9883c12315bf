package h5

import (
	"encoding/binary"
	"errors"
	"io"
)

// The object header walk below is the one place annslicer reads HDF5
// object headers in Go: layout/h5ad checks a source's headers with it
// before libhdf5 follows what they say, and Close puts back the times
// libhdf5 stamps into copied headers (times.go). It reads untrusted
// bytes, so every length is bounded.

// HeaderReader reads n bytes at file offset off.
type HeaderReader func(off, n int64) ([]byte, error)

// ReaderAt reads r as a HeaderReader: addresses count from base (the
// end of a user block), and every read must lie inside size bytes.
func ReaderAt(r io.ReaderAt, base, size int64) HeaderReader {
	return func(off, n int64) ([]byte, error) {
		off += base
		if off < 0 || n < 0 || off > size || n > size-off {
			return nil, ErrHeader
		}
		b := make([]byte, n)
		if _, err := r.ReadAt(b, off); err != nil {
			return nil, err
		}
		return b, nil
	}
}

// Message is one object header message, as it lies in the file.
type Message struct {
	Type  int64
	Flags byte
	Off   int64 // file offset of Data
	Data  []byte
}

// Header is what WalkHeader learnt of the header's prefix.
type Header struct {
	Version int   // 1 or 2
	Flags   byte  // version 2's header flags
	Chunk0  int64 // version 2: length of the first chunk from the header's address, checksum included
}

const (
	msgContinuation = 0x10
	maxMsgType      = 0x18 // the last message type libhdf5 1.10 knows
	maxHeaderBlocks = 4096
	maxHeaderBlock  = 1 << 24
)

// ErrHeader is the error of a malformed object header.
var ErrHeader = errors.New("object header is corrupt")

// WalkHeader calls fn for each message of the object header at addr
// (version 1 or 2), in the order they lie, following continuation blocks
// (which it does not pass to fn).
func WalkHeader(read HeaderReader, addr int64, fn func(Message) error) (Header, error) {
	var h Header
	first, err := read(addr, 16)
	if err != nil {
		return h, err
	}
	type block struct {
		off, n int64
		v2     bool
	}
	var todo []block
	order := false // version 2: messages carry a creation order (header flag bit 2)
	v2 := string(first[:4]) == "OHDR"
	switch {
	case first[0] == 1 && !v2:
		h.Version = 1
		todo = append(todo, block{addr + 16, int64(binary.LittleEndian.Uint32(first[8:])), false})
	case v2 && first[4] == 2:
		flags := first[5]
		p := int64(6)
		if flags&0x20 != 0 {
			p += 16
		}
		if flags&0x10 != 0 {
			p += 4
		}
		w := int64(1) << (flags & 3)
		sz, err := read(addr+p, w)
		if err != nil {
			return h, err
		}
		var n uint64
		for i := int64(0); i < w; i++ {
			n |= uint64(sz[i]) << (8 * i)
		}
		if n > maxHeaderBlock {
			return h, ErrHeader
		}
		order = flags&0x04 != 0
		h.Version, h.Flags, h.Chunk0 = 2, flags, p+w+int64(n)+4
		// chunk #0: n bytes of messages, then its checksum
		todo = append(todo, block{addr + p + w, int64(n) + 4, true})
	default:
		return h, ErrHeader
	}
	seen := map[int64]bool{}
	for k := 0; len(todo) > 0; k++ {
		b := todo[0]
		todo = todo[1:]
		if k >= maxHeaderBlocks || seen[b.off] || b.n < 0 || b.n > maxHeaderBlock {
			return h, ErrHeader
		}
		seen[b.off] = true
		data, err := read(b.off, b.n)
		if err != nil {
			return h, err
		}
		end := int64(len(data))
		p := int64(0)
		if b.v2 {
			end -= 4 // checksum
			if k > 0 {
				if end < 4 || string(data[:4]) != "OCHK" {
					return h, ErrHeader
				}
				p = 4
			}
		}
		for {
			var m Message
			var size int64
			if b.v2 {
				if p+4 > end {
					break
				}
				m.Type, size, m.Flags = int64(data[p]), int64(binary.LittleEndian.Uint16(data[p+1:])), data[p+3]
				p += 4
				if order {
					p += 2
				}
			} else {
				if p+8 > end {
					break
				}
				m.Type, size, m.Flags = int64(binary.LittleEndian.Uint16(data[p:])), int64(binary.LittleEndian.Uint16(data[p+2:])), data[p+4]
				p += 8
			}
			// Unknown message types are kept by libhdf5 as opaque blobs that
			// its object copy then mishandles (SIGSEGV in H5O_copy_header_map).
			if p+size > end || m.Type > maxMsgType || (!b.v2 && size%8 != 0) {
				return h, ErrHeader
			}
			m.Off, m.Data = b.off+p, data[p:p+size]
			p += size
			if m.Type == msgContinuation && m.Flags&0x02 == 0 {
				if size < 16 {
					return h, ErrHeader
				}
				todo = append(todo, block{int64(binary.LittleEndian.Uint64(m.Data)), int64(binary.LittleEndian.Uint64(m.Data[8:])), b.v2})
				continue
			}
			if err := fn(m); err != nil {
				return h, err
			}
		}
	}
	return h, nil
}

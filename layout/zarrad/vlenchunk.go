package zarrad

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/annslicer/annslicer/layout/zarr"
)

// vlenChunk is an uncompressed string chunk of a mounted tree: its bytes
// (numcodecs' VLenUTF8, as zarr.EncodeVlenUTF8) are made on read from its
// strings, which a verbatim array's plan shares with every other shard
// (tree.Source.VerbatimStrings). A mount held each built tree's encoded
// copy of var's names instead: 35 MB for the 256 trees it keeps, 10,000
// genes each.
type vlenChunk struct {
	strs []string // then pad empty strings (a last chunk's)
	pad  int
	size int64
}

func newVlenChunk(strs []string, pad int) vlenChunk {
	return vlenChunk{strs: strs, pad: pad, size: int64(zarr.VlenUTF8Size(strs) + 4*pad)}
}

func (v vlenChunk) Size() int64 { return v.size }

func (v vlenChunk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("vlen chunk: negative offset")
	}
	if off >= v.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), v.size)
	var pos int64 // of the next byte made
	// put places b, made at pos, where it overlaps [off, end); false once
	// the range is made
	put := func(b string) bool {
		if next := pos + int64(len(b)); next > off {
			lo := max(off-pos, 0)
			hi := min(int64(len(b)), end-pos)
			copy(p[pos+lo-off:], b[lo:hi])
		}
		pos += int64(len(b))
		return pos < end
	}
	var hdr [4]byte
	length := func(n int) string {
		binary.LittleEndian.PutUint32(hdr[:], uint32(n))
		return string(hdr[:]) // small: no allocation
	}
	if put(length(len(v.strs) + v.pad)) {
		for _, s := range v.strs {
			// skip whole strings before off without making them
			if w := int64(4 + len(s)); pos+w <= off {
				pos += w
				continue
			}
			if !put(length(len(s))) || !put(s) {
				break
			}
		}
		for k := 0; k < v.pad && pos < end; k++ {
			put(length(0))
		}
	}
	n := int(end - off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

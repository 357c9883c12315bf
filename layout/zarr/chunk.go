package zarr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// EncodeChunk encodes one full chunk of raw element bytes (RawChunkSize
// bytes, C order, the dtype's byte order) into a chunk file's contents.
// With no codecs it returns raw itself.
func (m *ArrayMeta) EncodeChunk(raw []byte) ([]byte, error) {
	if m.DType.Kind == 'O' {
		return nil, fmt.Errorf("EncodeChunk on a string array (use EncodeStrings)")
	}
	if len(raw) != m.RawChunkSize() {
		return nil, fmt.Errorf("chunk has %d bytes, want %d (%v × %d)", len(raw), m.RawChunkSize(), m.Chunks, m.DType.Size)
	}
	if m.Shard != nil {
		return m.encodeShard(raw, nil)
	}
	return encodeBytes(m.Codecs, raw)
}

// EncodeStrings encodes one full chunk of strings (ChunkLen of them, C
// order) of an 'O' array: vlen-utf8, then the codecs.
func (m *ArrayMeta) EncodeStrings(s []string) ([]byte, error) {
	if m.DType.Kind != 'O' {
		return nil, fmt.Errorf("EncodeStrings on a %s array", m.DType)
	}
	if len(s) != m.ChunkLen() {
		return nil, fmt.Errorf("chunk has %d strings, want %d", len(s), m.ChunkLen())
	}
	if m.Shard != nil {
		return m.encodeShard(nil, s)
	}
	return encodeBytes(m.Codecs, EncodeVlenUTF8(s))
}

func encodeBytes(codecs []Codec, b []byte) ([]byte, error) {
	for _, c := range codecs {
		var err error
		if b, err = c.Encode(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func decodeBytes(codecs []Codec, b []byte, size int) ([]byte, error) {
	for i := len(codecs) - 1; i >= 0; i-- {
		want := -1
		if i == 0 {
			want = size
		}
		var err error
		if b, err = codecs[i].Decode(b, want); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// EncodeVlenUTF8 is numcodecs' VLenUTF8 encoding (also the v3 vlen-utf8
// codec): a little-endian uint32 count, then per item a uint32 byte length
// and the UTF-8 bytes.
func EncodeVlenUTF8(s []string) []byte {
	b := make([]byte, 0, VlenUTF8Size(s))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	for _, x := range s {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(x)))
		b = append(b, x...)
	}
	return b
}

// VlenUTF8Size is len(EncodeVlenUTF8(s)) without encoding: the size of an
// uncompressed string chunk, for serving one virtually.
func VlenUTF8Size(s []string) int {
	n := 4 + 4*len(s)
	for _, x := range s {
		n += len(x)
	}
	return n
}

// DecodeVlenUTF8 reverses EncodeVlenUTF8, requiring want items (-1: any).
func DecodeVlenUTF8(b []byte, want int) ([]string, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("vlen-utf8: %d bytes, too short for a header", len(b))
	}
	n := int(binary.LittleEndian.Uint32(b))
	if want >= 0 && n != want {
		return nil, fmt.Errorf("vlen-utf8: chunk holds %d items, want %d", n, want)
	}
	if n > (len(b)-4)/4 {
		return nil, fmt.Errorf("vlen-utf8: %d items cannot fit in %d bytes", n, len(b))
	}
	out := make([]string, n)
	pos := 4
	for i := range out {
		if pos+4 > len(b) {
			return nil, fmt.Errorf("vlen-utf8: truncated at item %d", i)
		}
		l := int(binary.LittleEndian.Uint32(b[pos:]))
		pos += 4
		if l > len(b)-pos {
			return nil, fmt.Errorf("vlen-utf8: item %d runs past the end", i)
		}
		out[i] = string(b[pos : pos+l])
		pos += l
	}
	if pos != len(b) {
		return nil, fmt.Errorf("vlen-utf8: %d trailing bytes", len(b)-pos)
	}
	return out, nil
}

// decodeChunk turns a chunk file's bytes into the chunk's elements: []byte
// (RawChunkSize bytes) or, for 'O' arrays, []string.
func (m *ArrayMeta) decodeChunk(data []byte) (any, error) {
	if m.Shard != nil {
		return m.decodeShard(data)
	}
	return decodePlain(m.DType, m.Codecs, m.ChunkLen(), data)
}

func decodePlain(dt DType, codecs []Codec, n int, data []byte) (any, error) {
	if dt.Kind == 'O' {
		b, err := decodeBytes(codecs, data, -1)
		if err != nil {
			return nil, err
		}
		return DecodeVlenUTF8(b, n)
	}
	want := n * dt.Size
	b, err := decodeBytes(codecs, data, want)
	if err != nil {
		return nil, err
	}
	if len(b) != want {
		return nil, fmt.Errorf("chunk decodes to %d bytes, want %d", len(b), want)
	}
	return b, nil
}

// ---- sharding ----

const shardMissing = math.MaxUint64

func (m *ArrayMeta) innerGrid() []int {
	g := make([]int, len(m.Chunks))
	for i := range g {
		g[i] = m.Chunks[i] / m.Shard.Chunks[i]
	}
	return g
}

func (m *ArrayMeta) shardIndexSize() int {
	n := 16 * product(m.innerGrid())
	return n + 4*len(m.Shard.IndexCodecs) // only CRC32C is allowed
}

func (m *ArrayMeta) decodeShard(data []byte) (any, error) {
	s := m.Shard
	data, err := decodeBytes(m.Codecs, data, -1)
	if err != nil {
		return nil, err
	}
	isz := m.shardIndexSize()
	if len(data) < isz {
		return nil, fmt.Errorf("shard of %d bytes is shorter than its %d-byte index", len(data), isz)
	}
	var ix []byte
	if s.IndexAtStart {
		ix = data[:isz]
	} else {
		ix = data[len(data)-isz:]
	}
	if ix, err = decodeBytes(s.IndexCodecs, ix, -1); err != nil {
		return nil, fmt.Errorf("shard index: %v", err)
	}
	grid := m.innerGrid()
	ninner := product(grid)
	innerLen := product(s.Chunks)
	var raw []byte
	var strs []string
	if m.DType.Kind == 'O' {
		strs = make([]string, m.ChunkLen())
		fill := fillString(m.fillJV())
		for i := range strs {
			strs[i] = fill
		}
	} else {
		raw = bytes.Repeat(m.fillElement(), m.ChunkLen())
	}
	pos := make([]int, len(grid))
	for k := 0; k < ninner; k++ {
		off := binary.LittleEndian.Uint64(ix[16*k:])
		n := binary.LittleEndian.Uint64(ix[16*k+8:])
		if off == shardMissing && n == shardMissing {
			nextIndex(pos, grid)
			continue
		}
		if off > uint64(len(data)) || n > uint64(len(data))-off {
			return nil, fmt.Errorf("shard index entry %d (offset %d, length %d) outside the %d-byte shard", k, off, n, len(data))
		}
		v, err := decodePlain(m.DType, s.Codecs, innerLen, data[off:off+n])
		if err != nil {
			return nil, fmt.Errorf("inner chunk %v: %v", pos, err)
		}
		origin := make([]int, len(pos))
		for d := range pos {
			origin[d] = pos[d] * s.Chunks[d]
		}
		if m.DType.Kind == 'O' {
			copyBlockStrings(strs, m.Chunks, origin, v.([]string), s.Chunks, true)
		} else {
			copyBlock(raw, m.Chunks, origin, v.([]byte), s.Chunks, m.DType.Size, true)
		}
		nextIndex(pos, grid)
	}
	if strs != nil {
		return strs, nil
	}
	return raw, nil
}

func (m *ArrayMeta) encodeShard(raw []byte, strs []string) ([]byte, error) {
	s := m.Shard
	grid := m.innerGrid()
	ninner := product(grid)
	innerLen := product(s.Chunks)
	index := make([]byte, 16*ninner)
	var body []byte
	if s.IndexAtStart {
		body = make([]byte, m.shardIndexSize())
	}
	pos := make([]int, len(grid))
	fill := bytes.Repeat(m.fillElement(), innerLen)
	for k := 0; k < ninner; k++ {
		origin := make([]int, len(pos))
		for d := range pos {
			origin[d] = pos[d] * s.Chunks[d]
		}
		var enc []byte
		var err error
		if strs != nil {
			in := make([]string, innerLen)
			copyBlockStrings(strs, m.Chunks, origin, in, s.Chunks, false)
			enc, err = encodeBytes(s.Codecs, EncodeVlenUTF8(in))
		} else {
			in := make([]byte, innerLen*m.DType.Size)
			copyBlock(raw, m.Chunks, origin, in, s.Chunks, m.DType.Size, false)
			if bytes.Equal(in, fill) {
				// Like zarr-python (write_empty_chunks=False): an inner
				// chunk of fill values is left out of the shard.
				binary.LittleEndian.PutUint64(index[16*k:], shardMissing)
				binary.LittleEndian.PutUint64(index[16*k+8:], shardMissing)
				nextIndex(pos, grid)
				continue
			}
			enc, err = encodeBytes(s.Codecs, in)
		}
		if err != nil {
			return nil, err
		}
		binary.LittleEndian.PutUint64(index[16*k:], uint64(len(body)))
		binary.LittleEndian.PutUint64(index[16*k+8:], uint64(len(enc)))
		body = append(body, enc...)
		nextIndex(pos, grid)
	}
	ix, err := encodeBytes(s.IndexCodecs, index)
	if err != nil {
		return nil, err
	}
	if s.IndexAtStart {
		copy(body, ix)
	} else {
		body = append(body, ix...)
	}
	return encodeBytes(m.Codecs, body)
}

// nextIndex advances a C-order multi-index within grid.
func nextIndex(pos, grid []int) {
	for d := len(pos) - 1; d >= 0; d-- {
		pos[d]++
		if pos[d] < grid[d] {
			return
		}
		pos[d] = 0
	}
}

// copyBlock copies between a block of shape bshape and the region of big
// (shape bigShape) starting at origin; into=true writes block into big.
func copyBlock(big []byte, bigShape, origin []int, block []byte, bshape []int, item int, into bool) {
	r := len(bshape)
	if r == 0 {
		if into {
			copy(big, block[:item])
		} else {
			copy(block, big[:item])
		}
		return
	}
	row := bshape[r-1] * item
	rows := product(bshape[:r-1])
	pos := make([]int, r-1)
	for k := 0; k < rows; k++ {
		off := 0
		for d := 0; d < r-1; d++ {
			off = off*bigShape[d] + origin[d] + pos[d]
		}
		off = (off*bigShape[r-1] + origin[r-1]) * item
		if into {
			copy(big[off:off+row], block[k*row:(k+1)*row])
		} else {
			copy(block[k*row:(k+1)*row], big[off:off+row])
		}
		nextIndex(pos, bshape[:r-1])
	}
}

func copyBlockStrings(big []string, bigShape, origin []int, block []string, bshape []int, into bool) {
	r := len(bshape)
	if r == 0 {
		if into {
			big[0] = block[0]
		} else {
			block[0] = big[0]
		}
		return
	}
	row := bshape[r-1]
	rows := product(bshape[:r-1])
	pos := make([]int, r-1)
	for k := 0; k < rows; k++ {
		off := 0
		for d := 0; d < r-1; d++ {
			off = off*bigShape[d] + origin[d] + pos[d]
		}
		off = off*bigShape[r-1] + origin[r-1]
		if into {
			copy(big[off:off+row], block[k*row:(k+1)*row])
		} else {
			copy(block[k*row:(k+1)*row], big[off:off+row])
		}
		nextIndex(pos, bshape[:r-1])
	}
}

// DecodeFixedStrings turns 'S' or 'U' elements into strings, dropping the
// trailing NULs numpy pads with.
func DecodeFixedStrings(dt DType, raw []byte) ([]string, error) {
	n := len(raw) / dt.Size
	out := make([]string, n)
	o := dt.order()
	for i := range out {
		e := raw[i*dt.Size : (i+1)*dt.Size]
		if dt.Kind == 'S' {
			out[i] = string(bytes.TrimRight(e, "\x00"))
			continue
		}
		rs := make([]rune, 0, len(e)/4)
		for j := 0; j+4 <= len(e); j += 4 {
			rs = append(rs, rune(o.Uint32(e[j:])))
		}
		for len(rs) > 0 && rs[len(rs)-1] == 0 {
			rs = rs[:len(rs)-1]
		}
		for _, r := range rs {
			if !utf8.ValidRune(r) {
				return nil, fmt.Errorf("invalid UTF-32 code point %#x", r)
			}
		}
		out[i] = string(rs)
	}
	return out, nil
}

// ShardMissing is the offset and length a shard index gives an inner chunk
// that is not in the shard (it reads as the fill value).
const ShardMissing = uint64(shardMissing)

// InnerChunks is the number of inner chunks of one shard.
func (m *ArrayMeta) InnerChunks() int { return product(m.innerGrid()) }

// ShardIndexSize is the byte size of a shard's encoded index.
func (m *ArrayMeta) ShardIndexSize() int { return m.shardIndexSize() }

// ShardIndex is a shard's encoded index (index codecs applied) from each
// inner chunk's offset and length in the shard, C order of the inner grid;
// ShardMissing for both marks an absent inner chunk. Writers that lay out
// a shard themselves (streaming it, or serving it virtually) append it.
func (m *ArrayMeta) ShardIndex(offs, lens []uint64) ([]byte, error) {
	if m.Shard == nil {
		return nil, fmt.Errorf("ShardIndex on an array without sharding")
	}
	n := m.InnerChunks()
	if len(offs) != n || len(lens) != n {
		return nil, fmt.Errorf("shard index of %d/%d entries, want %d", len(offs), len(lens), n)
	}
	index := make([]byte, 16*n)
	for k := range n {
		binary.LittleEndian.PutUint64(index[16*k:], offs[k])
		binary.LittleEndian.PutUint64(index[16*k+8:], lens[k])
	}
	return encodeBytes(m.Shard.IndexCodecs, index)
}

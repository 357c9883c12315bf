package zarrad

// Zarr format 3 output: zarr.json documents as zarr-python 3 (anndata >=
// 0.12) writes them, consolidated metadata inline in the root zarr.json,
// and optionally the sharding codec. A shard's bytes have one definition,
// used by the mount (shardEntries) and by writing (writeShards): the
// inner chunks that hold rows, in order, then the index (crc32c); inner
// chunks wholly past the array's end are absent from the index, so every
// size is known from the shape alone.

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/annslicer/annslicer/internal/filewrite"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// Layout is how a store is laid out: its zarr format and, in format 3,
// the sharding codec. The zero Layout is zarr v2, anndata's default.
type Layout struct {
	Version int // zarr format: 2 (also when 0) or 3
	// ShardRows (v3 only): each array of one or more dimensions (but
	// record arrays: see meta) is stored with the sharding codec, a shard holding this many first-axis rows;
	// 0 stores arrays unsharded.
	ShardRows int
}

func (l Layout) version() int {
	if l.Version == 0 {
		return 2
	}
	return l.Version
}

// Check reports a layout that cannot be written, in the CLI's words.
func (l Layout) Check() error {
	switch l.version() {
	case 2:
		if l.ShardRows != 0 {
			return fmt.Errorf("--zarr-shard-size needs --zarr-version 3 (zarr v2 has no sharding)")
		}
	case 3:
		if l.ShardRows < 0 {
			return fmt.Errorf("--zarr-shard-size must be a positive number of rows, got %d", l.ShardRows)
		}
	default:
		return fmt.Errorf("--zarr-version %d is not supported: use 2 (the default, as anndata writes) or 3", l.Version)
	}
	return nil
}

// Codec is the compressor of a --compression name (CodecByName) in this
// layout: zarr-python 3 has no zlib codec of its own (it would read
// numcodecs' with a warning), so v3 takes gzip instead.
func (l Layout) Codec(name string) (zarr.Codec, error) {
	c, err := CodecByName(name)
	if err != nil {
		return nil, err
	}
	if _, zlib := c.(zarr.Zlib); zlib && l.version() == 3 {
		return nil, fmt.Errorf("--compression zlib has no zarr v3 codec that zarr-python reads without a warning: use gzip (the same deflate stream, with a gzip header), blosc, zstd or none")
	}
	return c, nil
}

// shard gives m (an array of one or more dimensions) the sharding codec:
// shards of ShardRows rows, inner chunks of the largest divisor of
// ShardRows not above the rows of an unsharded chunk, the compressor
// inside, and the index as zarr-python writes it (little-endian, crc32c).
func (l Layout) shard(m *zarr.ArrayMeta) {
	inner := append([]int(nil), m.Chunks...)
	inner[0] = largestDivisor(l.ShardRows, m.Chunks[0])
	m.Chunks[0] = l.ShardRows
	m.Shard = &zarr.Sharding{Chunks: inner, Codecs: m.Codecs, IndexCodecs: []zarr.Codec{zarr.CRC32C{}}}
	m.Codecs = nil
}

// largestDivisor is the largest divisor of n not above limit (at least 1).
func largestDivisor(n, limit int) int {
	if limit >= n {
		return n
	}
	for d := max(1, limit); d > 1; d-- {
		if n%d == 0 {
			return d
		}
	}
	return 1
}

// array is a as this layout stores it. anndata writes numpy unicode
// arrays ('U': string scalars too) to zarr v3 as variable-length strings
// (data_type "string"), and so does this encoder.
func (l Layout) array(a *tree.PlanArray) (*tree.PlanArray, error) {
	if l.version() != 3 || a.DType.Kind != 'U' || a.DType.Rec != nil {
		return a, nil
	}
	n := a.RowElems()
	if len(a.Shape) > 0 {
		n *= a.Shape[0]
	}
	raw := make([]byte, n*int64(a.DType.Size))
	if len(raw) > 0 {
		if err := a.Fill(raw, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", a.Path, err)
		}
	}
	strs := make([]string, n)
	size := a.DType.Size
	for i := range strs {
		rs := make([]rune, 0, size/4)
		for j := i * size; j+4 <= (i+1)*size; j += 4 {
			var r rune
			if a.DType.Order == '>' {
				r = rune(binary.BigEndian.Uint32(raw[j:]))
			} else {
				r = rune(binary.LittleEndian.Uint32(raw[j:]))
			}
			rs = append(rs, r)
		}
		for len(rs) > 0 && rs[len(rs)-1] == 0 {
			rs = rs[:len(rs)-1]
		}
		for _, r := range rs {
			if !utf8.ValidRune(r) {
				return nil, fmt.Errorf("/%s: invalid UTF-32 code point %#x", a.Path, r)
			}
		}
		strs[i] = string(rs)
	}
	return &tree.PlanArray{Path: a.Path, Attrs: a.Attrs, DType: tree.DType{Kind: 'O', Order: '|'},
		Shape: a.Shape, Strs: strs}, nil
}

// entriesV3 are Entries in zarr format 3.
func entriesV3(z *tree.Plan, l Layout) ([]image.Entry, error) {
	var out []image.Entry
	var rootAttrs zarr.Attrs
	nodes := map[string]zarr.V3Node{}
	for _, g := range z.Groups {
		if g.Path == "" {
			rootAttrs = g.Attrs // written last, with the consolidated metadata
			continue
		}
		b, err := zarr.MarshalGroupZarrJSON(g.Attrs)
		if err != nil {
			return nil, fmt.Errorf("/%s: %v", g.Path, err)
		}
		out = append(out, image.Entry{Path: tree.Join(g.Path, "zarr.json"), File: image.Bytes(b)})
		nodes[g.Path] = zarr.V3Node{Attrs: g.Attrs}
	}
	for _, a := range z.Arrays {
		a, err := l.array(a)
		if err != nil {
			return nil, err
		}
		m := meta(a, nil, l)
		b, err := m.MarshalZarrJSON(a.Attrs)
		if err != nil {
			return nil, fmt.Errorf("/%s: %v", a.Path, err)
		}
		out = append(out, image.Entry{Path: tree.Join(a.Path, "zarr.json"), File: image.Bytes(b)})
		nodes[a.Path] = zarr.V3Node{Meta: &m, Attrs: a.Attrs}
		if m.Shard != nil {
			es, err := shardEntries(a, &m)
			if err != nil {
				return nil, err
			}
			out = append(out, es...)
		} else {
			es, err := chunkEntries(a, &m)
			if err != nil {
				return nil, err
			}
			out = append(out, es...)
		}
	}
	b, err := zarr.MarshalConsolidatedZarrJSON(rootAttrs, nodes)
	if err != nil {
		return nil, err
	}
	return append(out, image.Entry{Path: "zarr.json", File: image.Bytes(b)}), nil
}

// innerMeta is a sharded array's inner chunking as an unsharded array:
// its chunks are the inner chunks of every shard, in order (arrays are
// chunked along the first axis only, so inner chunk c of shard s is chunk
// s*per+c of this).
func innerMeta(m *zarr.ArrayMeta) zarr.ArrayMeta {
	im := *m
	im.Chunks, im.Codecs, im.Shard = m.Shard.Chunks, m.Shard.Codecs, nil
	return im
}

// shardSpan is the inner chunks [lo, hi) of shard s.
func shardSpan(a *tree.PlanArray, m, im *zarr.ArrayMeta, s int) (lo, hi int) {
	per := m.InnerChunks()
	return s * per, min((s+1)*per, nChunks(a, im))
}

// shardIndex is the encoded index of a shard whose present inner chunks
// (the first ones) have the given lengths, laid out one after another.
func shardIndex(m *zarr.ArrayMeta, lens []uint64) ([]byte, error) {
	n := m.InnerChunks()
	offs, all := make([]uint64, n), make([]uint64, n)
	var off uint64
	for k := range n {
		if k < len(lens) {
			offs[k], all[k] = off, lens[k]
			off += lens[k]
		} else {
			offs[k], all[k] = zarr.ShardMissing, zarr.ShardMissing
		}
	}
	return m.ShardIndex(offs, all)
}

// stringShard is shard s of a string array, its inner chunks encoded with
// the inner codecs (none for a mount).
func stringShard(a *tree.PlanArray, m *zarr.ArrayMeta, s int) ([]byte, error) {
	im := innerMeta(m)
	lo, hi := shardSpan(a, m, &im, s)
	var body []byte
	var lens []uint64
	for c := lo; c < hi; c++ {
		strs, err := chunkStrings(a, &im, c)
		if err != nil {
			return nil, err
		}
		enc, err := im.EncodeStrings(strs)
		if err != nil {
			return nil, fmt.Errorf("/%s: %v", a.Path, err)
		}
		body = append(body, enc...)
		lens = append(lens, uint64(len(enc)))
	}
	ix, err := shardIndex(m, lens)
	if err != nil {
		return nil, fmt.Errorf("/%s: %v", a.Path, err)
	}
	return append(body, ix...), nil
}

// shardEntries are a sharded array's shard files, uncompressed.
func shardEntries(a *tree.PlanArray, m *zarr.ArrayMeta) ([]image.Entry, error) {
	var out []image.Entry
	im := innerMeta(m)
	for s := 0; s < nChunks(a, m); s++ {
		p := tree.Join(a.Path, m.ChunkKey(chunkIndex(m, s)))
		if a.DType.Kind == 'O' {
			b, err := stringShard(a, m, s)
			if err != nil {
				return nil, err
			}
			out = append(out, image.Entry{Path: p, File: image.Bytes(b)})
			continue
		}
		lo, hi := shardSpan(a, m, &im, s)
		size := uint64(im.RawChunkSize())
		lens := make([]uint64, hi-lo)
		for k := range lens {
			lens[k] = size
		}
		ix, err := shardIndex(m, lens)
		if err != nil {
			return nil, fmt.Errorf("/%s: %v", a.Path, err)
		}
		first, last := chunk(a, &im, lo), chunk(a, &im, hi-1)
		body := &chunkFile{a: a, start: first.start, valid: last.start + last.valid - first.start,
			size: int64(hi-lo) * int64(size)}
		out = append(out, image.Entry{Path: p, File: &shardFile{body: body, index: ix}})
	}
	return out, nil
}

// shardFile is an uncompressed shard: its inner chunks (a byte range of
// the array, zero-padded to whole inner chunks), then its index.
type shardFile struct {
	body  *chunkFile
	index []byte
}

func (f *shardFile) Size() int64 { return f.body.size + int64(len(f.index)) }

func (f *shardFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.Size() {
		return 0, io.EOF
	}
	n := 0
	if off < f.body.size {
		k := min(int64(len(p)), f.body.size-off)
		m, err := f.body.ReadAt(p[:k], off)
		if err != nil && err != io.EOF {
			return m, err
		}
		n = m
	}
	if n < len(p) {
		ioff := off + int64(n) - f.body.size
		n += copy(p[n:], f.index[ioff:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// writeShards writes a sharded array: its inner chunks are generated and
// encoded as an unsharded array's chunks are (writeChunks), then appended
// in order to their shard's file, whose index closes it.
func writeShards(a *tree.PlanArray, w *zarr.ArrayWriter) error {
	m := w.Meta
	im := innerMeta(m)
	if a.DType.Kind == 'O' {
		for s := 0; s < nChunks(a, m); s++ {
			b, err := stringShard(a, m, s)
			if err != nil {
				return err
			}
			if err := writeShardFile(w, s, b); err != nil {
				return err
			}
		}
		return nil
	}
	n := nChunks(a, &im)
	if n == 0 {
		return nil
	}
	per := m.InnerChunks()
	sw := &shardWriter{w: w, m: m, s: -1}
	defer sw.abort()
	encs := make([][]byte, n)
	put := func(c int, raw []byte) error {
		if len(im.Codecs) == 0 {
			encs[c] = append([]byte(nil), raw...) // raw is the window, reused
			return nil
		}
		enc, err := im.EncodeChunk(raw)
		if err != nil {
			return fmt.Errorf("/%s: %v", a.Path, err)
		}
		encs[c] = enc
		return nil
	}
	flush := func(c0, c1 int) error {
		for c := c0; c < c1; c++ {
			if err := sw.add(c/per, encs[c], c+1 == n || (c+1)%per == 0); err != nil {
				return err
			}
			encs[c] = nil
		}
		return nil
	}
	return writeChunks(a, &im, put, flush)
}

// shardWriter appends inner chunks to one shard file at a time.
type shardWriter struct {
	w    *zarr.ArrayWriter
	m    *zarr.ArrayMeta
	s    int
	f    *os.File
	lens []uint64
}

// add appends an encoded inner chunk to shard s; last closes the shard.
func (sw *shardWriter) add(s int, enc []byte, last bool) error {
	if sw.f == nil {
		file, err := sw.w.ChunkFile(chunkIndex(sw.m, s))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		if sw.f, err = os.Create(file); err != nil {
			return err
		}
		sw.s, sw.lens = s, sw.lens[:0]
	}
	if _, err := (filewrite.Writer{W: sw.f}).Write(enc); err != nil {
		return err
	}
	sw.lens = append(sw.lens, uint64(len(enc)))
	if !last {
		return nil
	}
	ix, err := shardIndex(sw.m, sw.lens)
	if err != nil {
		return err
	}
	_, err = sw.f.Write(ix)
	if cerr := sw.f.Close(); err == nil {
		err = cerr
	}
	sw.f = nil
	return err
}

func (sw *shardWriter) abort() {
	if sw.f != nil {
		sw.f.Close()
	}
}

func writeShardFile(w *zarr.ArrayWriter, s int, b []byte) error {
	file, err := w.ChunkFile(chunkIndex(w.Meta, s))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return filewrite.WriteFile(file, b, 0o644)
}

package zarr

import (
	"bytes"
	"testing"
)

// Chunk decoding fuzz targets: each codec on its own, vlen-utf8, the
// sharding index, and whole chunks through the pipeline a zarr.json or
// .zarray describes.

// decodeBudget is what decoding an input of n bytes may allocate when it
// expects size bytes (-1: unknown). Real compressed data may expand (zstd
// run-length blocks by up to 2^15), a declaration may not.
func decodeBudget(n, size int) uint64 {
	b := uint64(4<<20) + 64*uint64(n)
	if size > 0 {
		b += 3 * uint64(size)
	} else {
		b += 1 << 15 * uint64(n)
	}
	return b
}

// fuzzSize maps a fuzzed number to an expected size: -1 or up to 1 MiB.
func fuzzSize(s int32) int {
	if s < 0 {
		return -1
	}
	return int(s) % (1 << 20)
}

func fuzzCodec(f *testing.F, c Codec) {
	for _, raw := range [][]byte{nil, []byte("hello hello hello hello"), bytes.Repeat([]byte{0, 1, 2, 3}, 1000)} {
		enc, err := c.Encode(raw)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc, int32(len(raw)))
		f.Add(enc, int32(-1))
	}
	f.Fuzz(func(t *testing.T, data []byte, s int32) {
		size := fuzzSize(s)
		withinBudget(t, decodeBudget(len(data), size), func() {
			out, err := c.Decode(data, size)
			if err == nil && size >= 0 && len(out) > size {
				t.Fatalf("decoded %d bytes, more than the %d asked for", len(out), size)
			}
		})
	})
}

func FuzzDecodeBlosc(f *testing.F) {
	fuzzCodec(f, Blosc{CName: "lz4", CLevel: 5, Shuffle: ByteShuffle, TypeSize: 4})
}
func FuzzDecodeZstd(f *testing.F) { fuzzCodec(f, Zstd{Level: 3}) }
func FuzzDecodeGzip(f *testing.F) { fuzzCodec(f, Gzip{Level: 1}) }
func FuzzDecodeZlib(f *testing.F) { fuzzCodec(f, Zlib{Level: 1}) }

func FuzzDecodeVlenUTF8(f *testing.F) {
	f.Add(EncodeVlenUTF8([]string{"a", "", "cell_0001", "é"}), int32(4))
	f.Add(EncodeVlenUTF8(nil), int32(-1))
	f.Fuzz(func(t *testing.T, data []byte, s int32) {
		want := fuzzSize(s)
		withinBudget(t, decodeBudget(len(data), -1), func() {
			out, err := DecodeVlenUTF8(data, want)
			if err == nil && want >= 0 && len(out) != want {
				t.Fatalf("%d items, want %d", len(out), want)
			}
		})
	})
}

// shardMetas are the sharded layouts FuzzShardIndex decodes with.
func shardMetas() []*ArrayMeta {
	var ms []*ArrayMeta
	for _, dt := range []string{"<u2", "|O"} {
		for _, start := range []bool{false, true} {
			for _, crc := range []bool{false, true} {
				m := &ArrayMeta{Format: 3, Shape: []int{10, 4}, Chunks: []int{4, 4}, DType: MustDType(dt),
					Shard: &Sharding{Chunks: []int{2, 2}, IndexAtStart: start}}
				if crc {
					m.Shard.IndexCodecs = []Codec{CRC32C{}}
				}
				if dt == "|O" {
					m.Shard.Codecs = []Codec{Zstd{Level: 1}}
				}
				ms = append(ms, m)
			}
		}
	}
	return ms
}

func FuzzShardIndex(f *testing.F) {
	ms := shardMetas()
	for i, m := range ms {
		var enc []byte
		var err error
		if m.DType.Kind == 'O' {
			s := make([]string, m.ChunkLen())
			for k := range s {
				s[k] = string(rune('a' + k%26))
			}
			enc, err = m.EncodeStrings(s)
		} else {
			raw := make([]byte, m.RawChunkSize())
			for k := range raw {
				raw[k] = byte(k / 5)
			}
			enc, err = m.EncodeChunk(raw)
		}
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc, uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		m := ms[int(which)%len(ms)]
		withinBudget(t, decodeBudget(len(data), m.ChunkBytes()), func() {
			v, err := m.decodeChunk(data)
			if err != nil {
				return
			}
			switch x := v.(type) {
			case []byte:
				if len(x) != m.RawChunkSize() {
					t.Fatalf("shard decodes to %d bytes, want %d", len(x), m.RawChunkSize())
				}
			case []string:
				if len(x) != m.ChunkLen() {
					t.Fatalf("shard decodes to %d strings, want %d", len(x), m.ChunkLen())
				}
			}
		})
	})
}

// fuzzPipeline decodes a chunk through the array a fuzzed metadata
// document describes, when that array's chunks are small enough to test.
func fuzzPipeline(f *testing.F, format int, parse func([]byte) (*ArrayMeta, error)) {
	metas := []ArrayMeta{
		{Format: format, Shape: []int{10}, Chunks: []int{4}, DType: MustDType("<f4"), Codecs: []Codec{Blosc{CName: "lz4", CLevel: 5, Shuffle: 1}}},
		{Format: format, Shape: []int{10}, Chunks: []int{4}, DType: MustDType("|O"), Codecs: []Codec{Zstd{Level: 1}}},
		{Format: format, Shape: []int{3, 3}, Chunks: []int{2, 3}, DType: MustDType("<i8"), Codecs: []Codec{Gzip{Level: 1}}},
		{Format: format, Shape: []int{3, 3}, Chunks: []int{2, 3}, DType: MustDType(">i4"), Codecs: []Codec{Zlib{Level: 1}}},
	}
	if format == 3 {
		metas = append(metas, *shardMetas()[3], *shardMetas()[5])
	}
	for _, m := range metas {
		var doc, enc []byte
		var err error
		if format == 2 {
			doc, err = m.MarshalZarray()
		} else {
			doc, err = m.MarshalZarrJSON(nil)
		}
		if err != nil {
			f.Fatal(err)
		}
		if m.DType.Kind == 'O' {
			s := make([]string, m.ChunkLen())
			for k := range s {
				s[k] = "cell"
			}
			enc, err = m.EncodeStrings(s)
		} else {
			enc, err = m.EncodeChunk(make([]byte, m.RawChunkSize()))
		}
		if err != nil {
			f.Fatal(err)
		}
		f.Add(doc, enc)
	}
	f.Fuzz(func(t *testing.T, doc, chunk []byte) {
		m, err := parse(doc)
		if err != nil || m.ChunkBytes() > 1<<20 {
			return
		}
		withinBudget(t, decodeBudget(len(chunk), m.ChunkBytes())+docBudget(len(doc)), func() {
			_, _ = m.decodeChunk(chunk)
		})
	})
}

func FuzzChunkV2(f *testing.F) { fuzzPipeline(f, 2, parseZarray) }

func FuzzChunkV3(f *testing.F) {
	fuzzPipeline(f, 3, func(b []byte) (*ArrayMeta, error) {
		n, err := parseZarrJSON(b)
		if err != nil {
			return nil, err
		}
		if n.meta == nil {
			return nil, ErrNotExist
		}
		return n.meta, nil
	})
}

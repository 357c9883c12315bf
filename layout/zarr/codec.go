package zarr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// Codec is one bytes-to-bytes stage of a chunk's encoding: a v2 compressor
// or a v3 bytes-to-bytes codec. Both metadata forms decode to the same
// values (Blosc, Zstd, Gzip, Zlib, CRC32C), chosen by id as compress/* and
// archive/zip choose theirs.
type Codec interface {
	// ID is the numcodecs id written in v2 metadata ("blosc", "zstd", ...).
	ID() string
	// Encode compresses one chunk. It must be safe for concurrent use.
	Encode(raw []byte) ([]byte, error)
	// Decode reverses Encode. size is the expected decoded length, or -1;
	// it is a hint for allocation, callers check the length themselves.
	Decode(enc []byte, size int) ([]byte, error)

	// config is the codec's configuration in the given metadata format,
	// without the v2 "id" (fields in the order zarr-python writes them).
	config(format int) obj
	v3Name() string
}

// codecFactory builds a codec from its configuration object (v2: the
// compressor object itself; v3: the "configuration" member, maybe nil).
type codecFactory func(cfg *jvalue, format int) (Codec, error)

// codecsByID maps v2 ids and v3 names to codecs.
var codecsByID = map[string]codecFactory{
	"blosc":  newBloscFromConfig,
	"zstd":   newZstdFromConfig,
	"gzip":   newGzipFromConfig,
	"zlib":   newZlibFromConfig,
	"crc32c": func(*jvalue, int) (Codec, error) { return CRC32C{}, nil },
}

// knownUnsupported are numcodecs compressors and filters that are real but
// not implemented here, so they get "unsupported", not "unknown".
var knownUnsupported = map[string]bool{
	"lz4": true, "bz2": true, "lzma": true, "zfpy": true, "blosc2": true,
	"delta": true, "fixedscaleoffset": true, "quantize": true, "astype": true,
	"bitround": true, "packbits": true, "categorize": true, "shuffle": true,
	"fletcher32": true, "crc32": true, "adler32": true, "jenkins_lookup3": true,
	"vlen-bytes": true, "vlen-array": true, "json": true, "json2": true,
	"pickle": true, "msgpack2": true, "base64": true, "pcodec": true,
}

// compressorFromV2 reads a v2 "compressor" value (null means none).
func compressorFromV2(v *jvalue) (Codec, error) {
	if v == nil || v.kind == jNull {
		return nil, nil
	}
	if v.kind != jObject {
		return nil, fmt.Errorf("compressor must be an object or null, not %s", jsonText(v))
	}
	idv, ok := v.get("id")
	if !ok || idv.kind != jString {
		return nil, fmt.Errorf("compressor has no string \"id\"")
	}
	f, ok := codecsByID[idv.str]
	if !ok || idv.str == "crc32c" {
		if knownUnsupported[idv.str] {
			return nil, unsupported("unsupported compressor %q", idv.str)
		}
		return nil, unsupported("unknown compressor %q", idv.str)
	}
	c, err := f(v, 2)
	if err != nil {
		return nil, fmt.Errorf("compressor %q: %v", idv.str, err)
	}
	return c, nil
}

// codecV2JSON is the v2 "compressor" object for c.
func codecV2JSON(c Codec) any {
	if c == nil {
		return nil
	}
	m := map[string]any{"id": c.ID()}
	for _, e := range c.config(2) {
		m[e.k] = e.v
	}
	return m
}

func codecV3JSON(c Codec) obj {
	o := obj{{"name", c.v3Name()}}
	if cfg := c.config(3); cfg != nil {
		o = append(o, kv{"configuration", cfg})
	}
	return o
}

// cfgInt reads an integer member, def when absent.
func cfgInt(cfg *jvalue, key string, def int) (int, error) {
	v, ok := cfg.get(key)
	if !ok || v.kind == jNull {
		return def, nil
	}
	if v.kind != jNumber || v.isFloatLiteral() {
		return 0, fmt.Errorf("%q must be an integer, not %s", key, jsonText(v))
	}
	var n int
	if _, err := fmt.Sscan(v.num, &n); err != nil {
		return 0, fmt.Errorf("%q: %v", key, err)
	}
	return n, nil
}

func cfgBool(cfg *jvalue, key string) (bool, error) {
	v, ok := cfg.get(key)
	if !ok || v.kind == jNull {
		return false, nil
	}
	if v.kind != jBool {
		return false, fmt.Errorf("%q must be a boolean, not %s", key, jsonText(v))
	}
	return v.b, nil
}

// readAllLimit reads a decompressed stream, refusing more than size bytes
// (MaxChunkBytes when the size is not known) so a corrupt or hostile chunk
// cannot exhaust memory.
func readAllLimit(r io.Reader, size, encLen int) ([]byte, error) {
	limit := size
	if size < 0 || size > MaxChunkBytes {
		limit = MaxChunkBytes
	}
	// Deflate expands at most 1032:1, so the buffer is sized by the data
	// actually present, never by the declared size alone.
	hint := min(limit, 1032*encLen+1024)
	buf := bytes.NewBuffer(make([]byte, 0, hint))
	n, err := io.Copy(buf, io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("decodes to more than the expected %d bytes", limit)
	}
	return buf.Bytes(), nil
}

// ---- zstd ----

// Zstd is numcodecs' Zstd and the v3 "zstd" codec.
type Zstd struct {
	Level    int
	Checksum bool
}

func newZstdFromConfig(cfg *jvalue, format int) (Codec, error) {
	lv, err := cfgInt(cfg, "level", 0)
	if err != nil {
		return nil, err
	}
	ck, err := cfgBool(cfg, "checksum")
	if err != nil {
		return nil, err
	}
	return Zstd{Level: lv, Checksum: ck}, nil
}

func (Zstd) ID() string     { return "zstd" }
func (Zstd) v3Name() string { return "zstd" }

func (z Zstd) config(format int) obj {
	if format == 2 && !z.Checksum {
		return obj{{"level", z.Level}} // numcodecs 0.11 has no checksum option
	}
	return obj{{"level", z.Level}, {"checksum", z.Checksum}}
}

var (
	zstdDecOnce sync.Once
	zstdDec     *zstd.Decoder
	zstdDecErr  error
	zstdEncMu   sync.Mutex
	zstdEncs    = map[zstdEncKey]*zstd.Encoder{}
)

type zstdEncKey struct {
	Zstd
	single bool
}

func (z Zstd) Encode(raw []byte) ([]byte, error) {
	// numcodecs' decoder needs the frame content size, which klauspost
	// leaves out of multi-segment frames under 256 bytes; single-segment
	// frames always carry it. Larger frames carry it anyway and stay
	// multi-segment, so decoders need not allocate a window of the whole
	// content.
	key := zstdEncKey{z, len(raw) < 256}
	zstdEncMu.Lock()
	enc, ok := zstdEncs[key]
	if !ok {
		lv := zstd.SpeedDefault
		if z.Level != 0 {
			lv = zstd.EncoderLevelFromZstd(z.Level)
		}
		var err error
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(lv), zstd.WithEncoderCRC(z.Checksum),
			zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true), zstd.WithSingleSegment(key.single))
		if err != nil {
			zstdEncMu.Unlock()
			return nil, err
		}
		zstdEncs[key] = enc
	}
	zstdEncMu.Unlock()
	return enc.EncodeAll(raw, nil), nil // EncodeAll is safe for concurrent use
}

func (Zstd) Decode(enc []byte, size int) ([]byte, error) {
	zstdDecOnce.Do(func() {
		// The memory bound stops a frame header declaring a huge
		// content size from allocating it.
		zstdDec, zstdDecErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxChunkBytes))
	})
	if zstdDecErr != nil {
		return nil, zstdDecErr
	}
	// A frame that declares more than the chunk holds is corrupt: refuse it
	// before DecodeAll sizes its output by the declaration.
	var h zstd.Header
	hasFCS := h.Decode(enc) == nil && h.HasFCS
	if hasFCS && size >= 0 && h.FrameContentSize > uint64(size) {
		return nil, fmt.Errorf("zstd: frame declares %d bytes, want %d", h.FrameContentSize, size)
	}
	var dst []byte
	if hasFCS && size > 0 && h.FrameContentSize == uint64(size) {
		dst = make([]byte, 0, size) // what the frame itself says it holds
	}
	out, err := zstdDec.DecodeAll(enc, dst)
	if err != nil {
		return nil, fmt.Errorf("zstd: %v", err)
	}
	if size >= 0 && len(out) != size {
		return nil, fmt.Errorf("zstd: decodes to %d bytes, want %d", len(out), size)
	}
	return out, nil
}

// ---- gzip, zlib ----

// Gzip is numcodecs' GZip and the v3 "gzip" codec.
type Gzip struct{ Level int }

func newGzipFromConfig(cfg *jvalue, format int) (Codec, error) {
	lv, err := deflateLevel(cfg)
	return Gzip{Level: lv}, err
}

// deflateLevel reads the "level" of a gzip or zlib codec (default 1).
func deflateLevel(cfg *jvalue) (int, error) {
	lv, err := cfgInt(cfg, "level", 1)
	if err != nil {
		return 0, err
	}
	if lv < 0 || lv > 9 {
		return 0, fmt.Errorf("level %d out of range 0..9", lv)
	}
	return lv, nil
}

func (Gzip) ID() string              { return "gzip" }
func (Gzip) v3Name() string          { return "gzip" }
func (g Gzip) config(format int) obj { return obj{{"level", g.Level}} }

func (g Gzip) Encode(raw []byte) ([]byte, error) {
	return deflate(raw, func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriterLevel(w, g.Level) })
}

func (Gzip) Decode(enc []byte, size int) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(enc))
	return inflate("gzip", r, err, size, len(enc))
}

// deflate compresses raw through a writer made by open.
func deflate(raw []byte, open func(io.Writer) (io.WriteCloser, error)) ([]byte, error) {
	var buf bytes.Buffer
	w, err := open(&buf)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// inflate reads a whole decompressed chunk of at most size bytes from r
// (opened with err), naming the codec in errors.
func inflate(codec string, r io.Reader, err error, size, encLen int) ([]byte, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %v", codec, err)
	}
	out, err := readAllLimit(r, size, encLen)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", codec, err)
	}
	return out, nil
}

// Zlib is numcodecs' Zlib; in v3 it is written as "numcodecs.zlib", the
// name zarr-python 3 gives it.
type Zlib struct{ Level int }

func newZlibFromConfig(cfg *jvalue, format int) (Codec, error) {
	lv, err := deflateLevel(cfg)
	return Zlib{Level: lv}, err
}

func (Zlib) ID() string              { return "zlib" }
func (Zlib) v3Name() string          { return "numcodecs.zlib" }
func (z Zlib) config(format int) obj { return obj{{"level", z.Level}} }

func (z Zlib) Encode(raw []byte) ([]byte, error) {
	return deflate(raw, func(w io.Writer) (io.WriteCloser, error) { return zlib.NewWriterLevel(w, z.Level) })
}

func (Zlib) Decode(enc []byte, size int) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(enc))
	return inflate("zlib", r, err, size, len(enc))
}

// ---- crc32c ----

// CRC32C is the v3 "crc32c" codec: a little-endian CRC-32C appended to the
// data. zarr-python 3 puts it on shard indexes.
type CRC32C struct{}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (CRC32C) ID() string     { return "crc32c" }
func (CRC32C) v3Name() string { return "crc32c" }
func (CRC32C) config(int) obj { return nil }
func (CRC32C) Encode(raw []byte) ([]byte, error) {
	return binary.LittleEndian.AppendUint32(append([]byte(nil), raw...), crc32.Checksum(raw, castagnoli)), nil
}

func (CRC32C) Decode(enc []byte, size int) ([]byte, error) {
	if len(enc) < 4 {
		return nil, fmt.Errorf("crc32c: %d bytes, too short for a checksum", len(enc))
	}
	data := enc[:len(enc)-4]
	if got, want := crc32.Checksum(data, castagnoli), binary.LittleEndian.Uint32(enc[len(enc)-4:]); got != want {
		return nil, fmt.Errorf("crc32c: checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	return data, nil
}

// CodecIDs lists the codec ids this package reads and writes.
func CodecIDs() []string {
	ids := make([]string, 0, len(codecsByID))
	for id := range codecsByID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

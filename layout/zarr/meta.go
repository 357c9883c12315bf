package zarr

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// ArrayMeta describes an array in either metadata format. It is a plain
// value: the reader fills it from .zarray or zarr.json, writers fill it by
// hand, and the document and chunk functions below are pure, which is what
// lets the FUSE mount serve virtual stores without writing anything.
type ArrayMeta struct {
	Format int   // 2 or 3
	Shape  []int // elements per dimension; empty for a 0-d array
	// Chunks is the chunk shape (the shard shape when Shard is set). Edge
	// chunks are stored full size, padded with the fill value.
	Chunks []int
	DType  DType
	// FillValue is the fill value's JSON as found in the metadata; nil
	// means null. Missing chunks read as this value (null reads as zeros).
	FillValue json.RawMessage
	// Codecs is the bytes-to-bytes stage in encode order. v2 allows at most
	// one (its "compressor"); nil or empty means uncompressed.
	Codecs []Codec
	// Separator is the chunk key separator, "." or "/". Empty means the
	// format's default and, in v2, that "dimension_separator" is absent
	// from .zarray (as zarr-python writes it unless asked).
	Separator string
	// V2ChunkKeys selects the v3 "v2" chunk key encoding ("0.0" rather
	// than "c/0/0").
	V2ChunkKeys bool
	// Shard is set for a v3 array whose array-to-bytes codec is
	// sharding_indexed.
	Shard *Sharding
}

// Sharding is the v3 sharding_indexed codec: each chunk file (a shard)
// holds inner chunks, each encoded separately, plus an index of
// (offset, length) pairs.
type Sharding struct {
	Chunks       []int   // inner chunk shape; divides the shard shape
	Codecs       []Codec // inner bytes-to-bytes codecs (after "bytes"/"vlen-utf8")
	IndexCodecs  []Codec // index bytes-to-bytes codecs; only CRC32C keeps its size known
	IndexAtStart bool
}

// product of dims; 1 for none.
func product(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// Len is the number of elements.
func (m *ArrayMeta) Len() int { return product(m.Shape) }

// ChunkLen is the number of elements in one (full-size) chunk.
func (m *ArrayMeta) ChunkLen() int { return product(m.Chunks) }

// Grid is the number of chunks along each dimension.
func (m *ArrayMeta) Grid() []int {
	g := make([]int, len(m.Shape))
	for i := range m.Shape {
		g[i] = (m.Shape[i] + m.Chunks[i] - 1) / m.Chunks[i]
	}
	return g
}

// RawChunkSize is the byte size of a chunk before any codec: every chunk,
// edge chunks included, is ChunkLen elements (zarr v2 and v3 both pad edge
// chunks to full size). With no Codecs and no Shard it is the chunk file's
// size. It is -1 for string arrays of kind 'O', whose size depends on the
// text.
func (m *ArrayMeta) RawChunkSize() int {
	if m.DType.Kind == 'O' {
		return -1
	}
	return m.ChunkLen() * m.DType.Size
}

// ChunkKey is the chunk's file path relative to the array, e.g. "0.1"
// (v2), "c/0/1" (v3 default encoding) or "0" for a 0-d v2 array.
func (m *ArrayMeta) ChunkKey(idx []int) string {
	sep := m.Separator
	v3default := m.Format == 3 && !m.V2ChunkKeys
	if sep == "" {
		if v3default {
			sep = "/"
		} else {
			sep = "."
		}
	}
	var sb strings.Builder
	if v3default {
		sb.WriteString("c")
		for _, i := range idx {
			sb.WriteString(sep)
			sb.WriteString(strconv.Itoa(i))
		}
		return sb.String()
	}
	if len(idx) == 0 {
		return "0"
	}
	for k, i := range idx {
		if k > 0 {
			sb.WriteString(sep)
		}
		sb.WriteString(strconv.Itoa(i))
	}
	return sb.String()
}

// Validate checks that the description is complete and consistent, and
// parses FillValue.
func (m *ArrayMeta) Validate() error {
	if m.Format != 2 && m.Format != 3 {
		return fmt.Errorf("zarr_format %d is not 2 or 3", m.Format)
	}
	if len(m.Chunks) != len(m.Shape) {
		return fmt.Errorf("chunks %v and shape %v differ in rank", m.Chunks, m.Shape)
	}
	for i := range m.Shape {
		if m.Shape[i] < 0 || m.Chunks[i] <= 0 {
			return fmt.Errorf("bad shape %v or chunks %v", m.Shape, m.Chunks)
		}
	}
	switch m.DType.Kind {
	case 'b', 'i', 'u', 'f', 'c', 'S', 'U', 'O':
	case 'V':
		if m.DType.Rec == nil {
			return unsupported("unsupported dtype %q (raw bytes)", m.DType.String())
		}
	default:
		return unsupported("unsupported dtype %q", m.DType.String())
	}
	if err := m.checkSizes(); err != nil {
		return err
	}
	if m.Separator != "" && m.Separator != "." && m.Separator != "/" {
		return fmt.Errorf("bad dimension separator %q", m.Separator)
	}
	if m.Format == 2 {
		if len(m.Codecs) > 1 {
			return fmt.Errorf("zarr v2 has one compressor, not %d codecs", len(m.Codecs))
		}
		if m.Shard != nil || m.V2ChunkKeys {
			return fmt.Errorf("sharding and chunk key encodings are zarr v3 only")
		}
	}
	for _, c := range m.Codecs {
		if c == nil {
			return fmt.Errorf("nil codec")
		}
	}
	if s := m.Shard; s != nil {
		if len(s.Chunks) != len(m.Chunks) {
			return fmt.Errorf("shard inner chunks %v and chunks %v differ in rank", s.Chunks, m.Chunks)
		}
		for i := range s.Chunks {
			if s.Chunks[i] <= 0 || m.Chunks[i]%s.Chunks[i] != 0 {
				return fmt.Errorf("inner chunk shape %v does not divide shard shape %v", s.Chunks, m.Chunks)
			}
		}
		if 16*(m.ChunkLen()/product(s.Chunks)) > MaxChunkBytes {
			return fmt.Errorf("inner chunk shape %v makes a shard index of more than %d bytes", s.Chunks, MaxChunkBytes)
		}
		for _, c := range s.IndexCodecs {
			if _, ok := c.(CRC32C); !ok {
				return unsupported("shard index codec %q not supported (only crc32c)", c.v3Name())
			}
		}
	}
	var fv *jvalue
	if len(m.FillValue) > 0 {
		var err error
		if fv, err = parseJSON(m.FillValue); err != nil {
			return fmt.Errorf("fill_value: %v", err)
		}
	}
	if m.DType.Kind != 'O' {
		if _, err := m.DType.fillBytes(fv); err != nil {
			return err
		}
	}
	return nil
}

// fillJV is the parsed fill value (nil for null). It is parsed on each use,
// rarely (once per array read, per shard or per chunk written), so that an
// ArrayMeta stays a plain value, safe to share and to edit.
func (m *ArrayMeta) fillJV() *jvalue {
	if len(m.FillValue) == 0 {
		return nil
	}
	fv, err := parseJSON(m.FillValue)
	if err != nil {
		return nil // reported by Validate
	}
	return fv
}

// fillElement is one element holding the fill value, in the dtype's byte
// order; zeros when the fill value is null or invalid (Validate reports it).
func (m *ArrayMeta) fillElement() []byte {
	b, err := m.DType.fillBytes(m.fillJV())
	if err != nil {
		return make([]byte, m.DType.Size)
	}
	return b
}

// ---- v2 documents ----

// parseZarray reads a v2 .zarray document.
func parseZarray(data []byte) (*ArrayMeta, error) {
	doc, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	return zarrayFromJSON(doc, data)
}

// zarrayFromJSON reads a parsed .zarray; src is the text doc's spans point
// into (the .zarray file or .zmetadata).
func zarrayFromJSON(doc *jvalue, src []byte) (*ArrayMeta, error) {
	if doc.kind != jObject {
		return nil, fmt.Errorf("not a JSON object")
	}
	for _, k := range []string{"zarr_format", "shape", "chunks", "dtype", "compressor", "fill_value", "order"} {
		if _, ok := doc.get(k); !ok {
			return nil, fmt.Errorf("missing %q", k)
		}
	}
	m := &ArrayMeta{}
	zf, _ := doc.get("zarr_format")
	if zf.kind != jNumber || zf.num != "2" {
		return nil, unsupported("zarr_format %s is not 2", jsonText(zf))
	}
	m.Format = 2
	var err error
	if m.Shape, err = intList(doc, "shape"); err != nil {
		return nil, err
	}
	if m.Chunks, err = intList(doc, "chunks"); err != nil {
		return nil, err
	}
	dv, _ := doc.get("dtype")
	dt, err := dtypeFromV2(dv)
	if err != nil {
		return nil, err
	}
	m.DType = dt
	ov, _ := doc.get("order")
	if ov.kind != jString || (ov.str != "C" && ov.str != "F") {
		return nil, fmt.Errorf("bad order %s", jsonText(ov))
	}
	if ov.str == "F" {
		return nil, unsupported("order \"F\" (Fortran) arrays are not supported")
	}
	cv, _ := doc.get("compressor")
	c, err := compressorFromV2(cv)
	if err != nil {
		return nil, err
	}
	if c != nil {
		m.Codecs = []Codec{c}
	}
	fv, _ := doc.get("filters")
	vlen := false
	if fv != nil && fv.kind != jNull {
		if fv.kind != jArray {
			return nil, fmt.Errorf("filters must be a list or null")
		}
		for _, f := range fv.arr {
			idv, ok := f.get("id")
			if !ok || idv.kind != jString {
				return nil, fmt.Errorf("filter has no string \"id\"")
			}
			switch {
			case idv.str == "vlen-utf8" && dt.Kind == 'O' && !vlen:
				vlen = true
			case knownUnsupported[idv.str]:
				return nil, unsupported("unsupported filter %q", idv.str)
			default:
				return nil, unsupported("unknown filter %q", idv.str)
			}
		}
	}
	if dt.Kind == 'O' && !vlen {
		return nil, unsupported("object dtype \"|O\" without a vlen-utf8 filter is not supported")
	}
	if sv, ok := doc.get("dimension_separator"); ok && sv.kind != jNull {
		if sv.kind != jString {
			return nil, fmt.Errorf("bad dimension_separator %s", jsonText(sv))
		}
		m.Separator = sv.str
	}
	fill, _ := doc.get("fill_value")
	if fill.kind != jNull {
		m.FillValue = json.RawMessage(jsonSource(src, fill))
	}
	m.setTypeSize()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// setTypeSize gives Blosc the element size numcodecs would take from the
// buffer (one byte for vlen-encoded strings).
func (m *ArrayMeta) setTypeSize() {
	ts := m.DType.Size
	if ts == 0 {
		ts = 1
	}
	fix := func(cs []Codec) {
		for i, c := range cs {
			if b, ok := c.(Blosc); ok && b.TypeSize == 0 {
				b.TypeSize = ts
				cs[i] = b
			}
		}
	}
	fix(m.Codecs)
	if m.Shard != nil {
		fix(m.Shard.Codecs)
	}
}

func intList(doc *jvalue, key string) ([]int, error) {
	v, _ := doc.get(key)
	if v == nil || v.kind != jArray {
		return nil, fmt.Errorf("%q must be a list of integers, not %s", key, jsonText(v))
	}
	out := make([]int, len(v.arr))
	for i, e := range v.arr {
		if e.kind != jNumber || e.isFloatLiteral() {
			return nil, fmt.Errorf("%q must be a list of integers, not %s", key, jsonText(v))
		}
		n, err := strconv.Atoi(e.num)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", key, err)
		}
		out[i] = n
	}
	return out, nil
}

// MarshalZarray is the v2 .zarray document, byte for byte as zarr-python
// 2.13 writes it (sorted keys, 4-space indent, no trailing newline).
func (m *ArrayMeta) MarshalZarray() ([]byte, error) {
	if m.Format != 2 {
		return nil, fmt.Errorf("MarshalZarray on a zarr v%d array", m.Format)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	fill, err := m.DType.fillJSON(m.fillJV(), 2)
	if err != nil {
		return nil, err
	}
	var comp Codec
	if len(m.Codecs) == 1 {
		comp = m.Codecs[0]
	}
	var filters any
	if m.DType.Kind == 'O' {
		filters = []any{map[string]any{"id": "vlen-utf8"}}
	}
	doc := map[string]any{
		"chunks":      m.Chunks,
		"compressor":  codecV2JSON(comp),
		"dtype":       m.DType.v2JSON(),
		"fill_value":  fill,
		"filters":     filters,
		"order":       "C",
		"shape":       m.Shape,
		"zarr_format": 2,
	}
	if m.Separator != "" {
		doc["dimension_separator"] = m.Separator
	}
	return pyDumps(doc, 4)
}

// MarshalZattrs is a v2 .zattrs document as zarr-python writes it: keys
// sorted, values re-printed in Python's style.
func MarshalZattrs(attrs Attrs) ([]byte, error) {
	return pyDumps(attrsAny(attrs), 4)
}

func attrsAny(attrs Attrs) map[string]any {
	m := make(map[string]any, len(attrs))
	for k, v := range attrs {
		m[k] = rawJSON(v)
	}
	return m
}

// ZgroupJSON is the v2 .zgroup document.
func ZgroupJSON() []byte { return []byte("{\n    \"zarr_format\": 2\n}") }

// MarshalConsolidated is a v2 .zmetadata document as zarr-python's
// consolidate_metadata writes it. docs maps store keys ("X/.zarray",
// ".zattrs", ...) to the documents' JSON.
func MarshalConsolidated(docs map[string][]byte) ([]byte, error) {
	md := make(map[string]any, len(docs))
	for k, v := range docs {
		md[k] = rawJSON(v)
	}
	b, err := pyDumps(map[string]any{"metadata": md, "zarr_consolidated_format": 1}, 4)
	if err != nil {
		return nil, fmt.Errorf(".zmetadata: %v", err)
	}
	return b, nil
}

// jsonSource is the text of v within the document it was parsed from.
func jsonSource(src []byte, v *jvalue) []byte {
	if src == nil || v.end > len(src) {
		b, _ := pyDumps(v, -1)
		return b
	}
	return append([]byte(nil), src[v.start:v.end]...)
}

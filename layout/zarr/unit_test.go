package zarr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestPythonFloatRepr(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1, "1.0"}, {7.5, "7.5"}, {-3.25, "-3.25"},
		{1e15, "1000000000000000.0"}, {1e16, "1e+16"}, {1.5e16, "1.5e+16"}, {1e20, "1e+20"},
		{0.0001, "0.0001"}, {0.00001, "1e-05"}, {1.5e-7, "1.5e-07"}, {1.5e-300, "1.5e-300"},
		{0.1, "0.1"}, {1.0 / 3, "0.3333333333333333"}, {123456789.125, "123456789.125"},
		{math.MaxFloat64, "1.7976931348623157e+308"}, {5e-324, "5e-324"},
		{math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
	}
	for _, tt := range tests {
		if got := pyFloatRepr(tt.f); got != tt.want {
			t.Errorf("pyFloatRepr(%v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestAttributesArePrintedAsPythonWould(t *testing.T) {
	attrs := Attrs{
		"b":      json.RawMessage(`[1, 2.0, 1E5, -0, 12345678901234567890]`),
		"a":      json.RawMessage(`{"z": null, "y": {}, "x": []}`),
		"\u00e9": json.RawMessage(`"tab\tquote\" \u007f \ud83d\ude00 \/"`),
		"nan":    json.RawMessage(`NaN`),
	}
	got, err := MarshalZattrs(attrs)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
    "a": {
        "x": [],
        "y": {},
        "z": null
    },
    "b": [
        1,
        2.0,
        100000.0,
        0,
        12345678901234567890
    ],
    "nan": NaN,
    "\u00e9": "tab\tquote\" \u007f \ud83d\ude00 /"
}`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := MarshalZattrs(Attrs{"x": json.RawMessage(`{`)}); err == nil {
		t.Error("bad attribute JSON accepted")
	}
}

// A virtual store is served from ArrayMeta values built by hand: its
// documents must be what zarr-python writes for the same array.
func TestHandBuiltMetadataMatchesZarrPythonFormatting(t *testing.T) {
	m := ArrayMeta{Format: 2, Shape: []int{5, 3}, Chunks: []int{2, 3}, DType: MustDType("<f4"), FillValue: json.RawMessage("0")}
	got, err := m.MarshalZarray()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
    "chunks": [
        2,
        3
    ],
    "compressor": null,
    "dtype": "<f4",
    "fill_value": 0.0,
    "filters": null,
    "order": "C",
    "shape": [
        5,
        3
    ],
    "zarr_format": 2
}`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	s := ArrayMeta{Format: 2, Shape: []int{4}, Chunks: []int{4}, DType: MustDType("|O"), FillValue: json.RawMessage("0"),
		Codecs: []Codec{Blosc{CName: "lz4", CLevel: 5, Shuffle: ByteShuffle}}, Separator: "/"}
	got, err = s.MarshalZarray()
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"compressor": {
        "blocksize": 0,
        "clevel": 5,
        "cname": "lz4",
        "id": "blosc",
        "shuffle": 1
    },
    "dimension_separator": "/",
    "dtype": "|O",
    "fill_value": 0,
    "filters": [
        {
            "id": "vlen-utf8"
        }
    ],`} {
		if !strings.Contains(string(got), frag) {
			t.Errorf("got\n%s\nwant it to contain\n%s", got, frag)
		}
	}
}

func TestChunkKeys(t *testing.T) {
	tests := []struct {
		m    ArrayMeta
		idx  []int
		want string
	}{
		{ArrayMeta{Format: 2}, []int{1, 2}, "1.2"},
		{ArrayMeta{Format: 2, Separator: "/"}, []int{1, 2}, "1/2"},
		{ArrayMeta{Format: 2}, nil, "0"},
		{ArrayMeta{Format: 3}, []int{1, 2}, "c/1/2"},
		{ArrayMeta{Format: 3, Separator: "."}, []int{1, 2}, "c.1.2"},
		{ArrayMeta{Format: 3}, nil, "c"},
		{ArrayMeta{Format: 3, V2ChunkKeys: true}, []int{3, 0}, "3.0"},
		{ArrayMeta{Format: 3, V2ChunkKeys: true, Separator: "/"}, []int{3, 0}, "3/0"},
		{ArrayMeta{Format: 3, V2ChunkKeys: true}, nil, "0"},
	}
	for _, tt := range tests {
		if got := tt.m.ChunkKey(tt.idx); got != tt.want {
			t.Errorf("%+v ChunkKey(%v) = %s, want %s", tt.m, tt.idx, got, tt.want)
		}
	}
	m := ArrayMeta{Format: 2, Shape: []int{5, 3}, Chunks: []int{2, 2}}
	if got := strings.Join(m.ChunkKeys(), " "); got != "0.0 0.1 1.0 1.1 2.0 2.1" {
		t.Errorf("ChunkKeys = %s", got)
	}
}

// Uncompressed chunks have a size known from metadata alone, edge chunks
// included (they are stored full size), which is what virtual stores need.
func TestUncompressedChunkSizeIsKnownUpFront(t *testing.T) {
	m := ArrayMeta{Format: 2, Shape: []int{5, 3}, Chunks: []int{2, 2}, DType: MustDType("<f8")}
	if m.RawChunkSize() != 32 {
		t.Fatalf("RawChunkSize = %d", m.RawChunkSize())
	}
	raw := bytes.Repeat([]byte{1}, 32)
	enc, err := m.EncodeChunk(raw)
	if err != nil || !bytes.Equal(enc, raw) {
		t.Errorf("EncodeChunk without codecs = %x, %v", enc, err)
	}
	if _, err := m.EncodeChunk(raw[:24]); err == nil || !strings.Contains(err.Error(), "chunk has 24 bytes, want 32") {
		t.Errorf("short chunk: %v", err)
	}
	s := ArrayMeta{Format: 2, Shape: []int{3}, Chunks: []int{2}, DType: MustDType("|O")}
	if s.RawChunkSize() != -1 {
		t.Errorf("string RawChunkSize = %d", s.RawChunkSize())
	}
	b, err := s.EncodeStrings([]string{"ab", ""})
	if err != nil || !bytes.Equal(b, []byte("\x02\x00\x00\x00\x02\x00\x00\x00ab\x00\x00\x00\x00")) {
		t.Errorf("EncodeStrings = %q, %v", b, err)
	}
	if n := VlenUTF8Size([]string{"ab", ""}); n != len(b) {
		t.Errorf("VlenUTF8Size = %d, want %d", n, len(b))
	}
}

func TestFillValueBytes(t *testing.T) {
	tests := []struct {
		dt, fill string
		want     string // hex
	}{
		{"<f8", `"NaN"`, "000000000000f87f"},
		{"<f4", `"NaN"`, "0000c07f"},
		{">f4", `"Infinity"`, "7f800000"},
		{"<f4", `"0x7fc00001"`, "0100c07f"},
		{"<f2", `1.5`, "003e"},
		{"<f2", `65504`, "ff7b"},
		{"<f2", `1e-7`, "0200"},
		{"<f2", `1e6`, "007c"},
		{"<i2", `-2`, "feff"},
		{">u4", `7`, "00000007"},
		{"<i4", `3.0`, "03000000"},
		{"|b1", `true`, "01"},
		{"|b1", `0`, "00"},
		{"<c8", `[1.0, "NaN"]`, "0000803f0000c07f"},
		{"|S3", `"YWI="`, "616200"},
		{"<U2", `"\u00e9"`, "e900000000000000"},
		{"<f8", `null`, "0000000000000000"},
	}
	for _, tt := range tests {
		m := ArrayMeta{Format: 2, Shape: []int{1}, Chunks: []int{1}, DType: MustDType(tt.dt), FillValue: json.RawMessage(tt.fill)}
		if err := m.Validate(); err != nil {
			t.Errorf("%s %s: %v", tt.dt, tt.fill, err)
			continue
		}
		if got := fmt.Sprintf("%x", m.fillElement()); got != tt.want {
			t.Errorf("%s fill %s = %s, want %s", tt.dt, tt.fill, got, tt.want)
		}
	}
}

func TestCacheEvictsLeastRecentlyUsedWithinBudget(t *testing.T) {
	c := NewCache(100)
	loads := 0
	get := func(key string, size int64) {
		t.Helper()
		v, err := c.get(key, func() (any, int64, error) { loads++; return key, size, nil })
		if err != nil || v != key {
			t.Fatalf("get(%s) = %v, %v", key, v, err)
		}
	}
	get("a", 40)
	get("b", 40)
	get("a", 40) // hit; a is now most recent
	get("c", 40) // evicts b
	if loads != 3 || c.Used() != 80 {
		t.Fatalf("loads %d used %d", loads, c.Used())
	}
	get("a", 40)
	if loads != 3 {
		t.Error("a was evicted instead of b")
	}
	get("b", 40)
	if loads != 4 {
		t.Error("b was not evicted")
	}
	get("huge", 1000) // larger than the budget: returned, not kept
	get("huge", 1000)
	if loads != 6 || c.Used() > 100 {
		t.Errorf("loads %d used %d", loads, c.Used())
	}
}

func TestCacheLoadsEachKeyOnceUnderConcurrency(t *testing.T) {
	c := NewCache(1 << 20)
	var mu sync.Mutex
	loads := 0
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _ := c.get("k", func() (any, int64, error) {
				mu.Lock()
				loads++
				mu.Unlock()
				<-release
				return 42, 8, nil
			})
			if v != 42 {
				t.Errorf("got %v", v)
			}
		}()
	}
	close(release)
	wg.Wait()
	if loads != 1 {
		t.Errorf("%d loads, want 1", loads)
	}
}

// ReadRange is called from many FUSE threads at once on one store.
func TestConcurrentRangeReadsAgree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c.zarr")
	m := ArrayMeta{Format: 2, Shape: []int{50, 7}, Chunks: []int{8, 3}, DType: MustDType("<i4"),
		Codecs: []Codec{Blosc{CName: "lz4", CLevel: 5, Shuffle: ByteShuffle}}}
	raw := randomValues(m.DType, 350, 7)
	w, err := CreateArray(dir, "", m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAll(raw); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, &Options{Cache: NewCache(3 * 96)}) // forces evictions
	a := openArray(t, s, "")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for row := g; row < 50; row += 3 {
				n := min(5, 50-row) * 7
				got, err := a.ReadRange(row*7, n)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(got, raw[row*28:row*28+n*4]) {
					t.Errorf("rows from %d differ", row)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

// zarr-python 3 writes consolidated metadata inline in the root zarr.json.
func TestReadsV3InlineConsolidatedMetadata(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "v3.zarr")
	arr := func(shape string) string {
		return `{"shape": ` + shape + `, "data_type": "int16", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
		"chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}}, "fill_value": 0,
		"codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 0, "checksum": false}}],
		"attributes": {"k": "v"}, "dimension_names": null, "zarr_format": 3, "node_type": "array", "storage_transformers": []}`
	}
	writeTestFile(t, dir+"/zarr.json", `{"attributes": {"a": 1}, "zarr_format": 3, "consolidated_metadata": {"kind": "inline",
	  "must_understand": false, "metadata": {"x": `+arr("[3]")+`, "g": {"attributes": {}, "zarr_format": 3,
	  "consolidated_metadata": null, "node_type": "group"}, "g/y": `+arr("[2]")+`}}, "node_type": "group"}`)
	b, _ := Zstd{}.Encode([]byte{1, 0, 2, 0})
	writeTestFile(t, dir+"/x/c/0", string(b))
	s := openStore(t, dir, nil)
	if !s.Consolidated() {
		t.Error("inline consolidated metadata not used")
	}
	g, err := s.Group("")
	if err != nil {
		t.Fatal(err)
	}
	kids, err := g.Children()
	if err != nil || fmt.Sprint(kids) != "[{g false} {x true}]" {
		t.Errorf("children %v, %v", kids, err)
	}
	sub, _ := s.Group("g")
	kids, _ = sub.Children()
	if fmt.Sprint(kids) != "[{y true}]" {
		t.Errorf("g children %v", kids)
	}
	a := openArray(t, s, "x")
	got, err := a.ReadRange(0, 3)
	if err != nil || !bytes.Equal(got, []byte{1, 0, 2, 0, 0, 0}) {
		t.Errorf("x = %v, %v", got, err)
	}
	if string(a.Attrs["k"]) != `"v"` || a.Meta.DType.String() != "<i2" {
		t.Errorf("attrs %s dtype %s", a.Attrs, a.Meta.DType)
	}
}

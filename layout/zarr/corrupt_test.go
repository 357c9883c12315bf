package zarr

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTestFile(t *testing.T, file, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editFile replaces old with new in a file, failing if old is absent.
func editFile(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q:\n%s", file, old, b)
	}
	writeTestFile(t, file, strings.Replace(string(b), old, new, 1))
}

const v2Zarray = `{"chunks": [4], "compressor": null, "dtype": "<f8", "fill_value": 0.0, "filters": null, "order": "C", "shape": [10], "zarr_format": 2}`

// Each corrupt store gives a one-line error naming the file and the fault.
func TestCorruptStoresGiveOneLineErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // dir is the store; array "a"
		read  bool                           // the error comes from reading chunk 0
		file  string                         // relative to dir, the file the error names
		msg   string
		kind  error
	}{
		{name: "bad JSON", file: "a/.zarray", msg: "bad JSON at offset 29: unexpected end",
			setup: func(t *testing.T, dir string) { writeTestFile(t, dir+"/a/.zarray", `{"zarr_format": 2, "shape": [`) }},
		{name: "not an object", file: "a/.zarray", msg: "not a JSON object",
			setup: func(t *testing.T, dir string) { writeTestFile(t, dir+"/a/.zarray", `[1]`) }},
		{name: "unknown compressor", file: "a/.zarray", msg: `unknown compressor "foo"`, kind: ErrUnsupported,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"compressor": null`, `"compressor": {"id": "foo"}`)
			}},
		{name: "compressor without id", file: "a/.zarray", msg: `compressor has no string "id"`,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"compressor": null`, `"compressor": {"level": 1}`)
			}},
		{name: "bad blosc cname", file: "a/.zarray", msg: `compressor "blosc": unknown cname "snappy"`,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"compressor": null`, `"compressor": {"id": "blosc", "cname": "snappy", "clevel": 5, "shuffle": 1}`)
			}},
		{name: "unsupported dtype", file: "a/.zarray", msg: `unsupported dtype "<M8[ns]"`, kind: ErrUnsupported,
			setup: func(t *testing.T, dir string) { editFile(t, dir+"/a/.zarray", `"<f8"`, `"<M8[ns]"`) }},
		{name: "nested structured dtype", file: "a/.zarray", msg: `structured dtype field "x" is itself structured (nested records are not supported)`, kind: ErrUnsupported,
			setup: func(t *testing.T, dir string) { editFile(t, dir+"/a/.zarray", `"<f8"`, `[["x", [["y", "<f8"]]]]`) }},
		{name: "empty sub-array field", file: "a/.zarray", msg: `structured dtype field "x" has sub-array shape [0] (want a list of positive integers)`, kind: ErrUnsupported,
			setup: func(t *testing.T, dir string) { editFile(t, dir+"/a/.zarray", `"<f8"`, `[["x", "<f4", [0]]]`) }},
		{name: "object field", file: "a/.zarray", msg: `unsupported dtype "|O" in a structured dtype (object fields are not supported)`, kind: ErrUnsupported,
			setup: func(t *testing.T, dir string) { editFile(t, dir+"/a/.zarray", `"<f8"`, `[["x", "|O"]]`) }},
		{name: "missing chunks", file: "a/.zarray", msg: `missing "chunks"`,
			setup: func(t *testing.T, dir string) { editFile(t, dir+"/a/.zarray", `"chunks": [4], `, ``) }},
		{name: "shape not integers", file: "a/.zarray", msg: `"shape" must be a list of integers, not [10.5]`,
			setup: func(t *testing.T, dir string) { editFile(t, dir+"/a/.zarray", `[10]`, `[10.5]`) }},
		{name: "rank mismatch", file: "a/.zarray", msg: `chunks [4] and shape [10 2] differ in rank`,
			setup: func(t *testing.T, dir string) { editFile(t, dir+"/a/.zarray", `[10]`, `[10, 2]`) }},
		{name: "fortran order", file: "a/.zarray", msg: `order "F" (Fortran) arrays are not supported`, kind: ErrUnsupported,
			setup: func(t *testing.T, dir string) { editFile(t, dir+"/a/.zarray", `"C"`, `"F"`) }},
		{name: "bad fill value", file: "a/.zarray", msg: `bad fill_value "abc" for dtype <f8`,
			setup: func(t *testing.T, dir string) { editFile(t, dir+"/a/.zarray", `0.0`, `"abc"`) }},
		{name: "int fill out of range", file: "a/.zarray", msg: `bad fill_value 300 for dtype |u1`,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"dtype": "<f8", "fill_value": 0.0`, `"dtype": "|u1", "fill_value": 300`)
			}},
		{name: "object without vlen-utf8", file: "a/.zarray", msg: `object dtype "|O" without a vlen-utf8 filter is not supported`, kind: ErrUnsupported,
			setup: func(t *testing.T, dir string) { editFile(t, dir+"/a/.zarray", `"<f8"`, `"|O"`) }},
		{name: "vlen-bytes filter", file: "a/.zarray", msg: `unsupported filter "vlen-bytes"`, kind: ErrUnsupported,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"dtype": "<f8", "fill_value": 0.0, "filters": null`, `"dtype": "|O", "fill_value": 0, "filters": [{"id": "vlen-bytes"}]`)
			}},
		{name: "wrong zarr_format", file: "a/.zarray", msg: `zarr_format 3 is not 2`, kind: ErrUnsupported,
			setup: func(t *testing.T, dir string) { editFile(t, dir+"/a/.zarray", `"zarr_format": 2`, `"zarr_format": 3`) }},
		{name: "attrs not an object", file: "a/.zattrs", msg: `attributes must be a JSON object`,
			setup: func(t *testing.T, dir string) { writeTestFile(t, dir+"/a/.zattrs", `[]`) }},
		{name: "chunk of wrong size", read: true, file: "a/0", msg: `chunk decodes to 3 bytes, want 32`,
			setup: func(t *testing.T, dir string) { writeTestFile(t, dir+"/a/0", "abc") }},
		{name: "corrupt blosc chunk", read: true, file: "a/0", msg: `blosc: corrupt header`,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"compressor": null`, `"compressor": {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}`)
				writeTestFile(t, dir+"/a/0", "\x02\x01\x21\x08"+strings.Repeat("\xff", 40))
			}},
		{name: "blosc chunk of wrong size", read: true, file: "a/0", msg: `blosc: header says 16 decoded bytes, want 32`,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"compressor": null`, `"compressor": {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}`)
				b, _ := Blosc{CName: "lz4", CLevel: 5, Shuffle: 1, TypeSize: 8}.Encode(make([]byte, 16))
				writeTestFile(t, dir+"/a/0", string(b))
			}},
		{name: "corrupt zstd chunk", read: true, file: "a/0", msg: `zstd: invalid input: magic number mismatch`,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"compressor": null`, `"compressor": {"id": "zstd", "level": 1}`)
				writeTestFile(t, dir+"/a/0", "not zstd at all")
			}},
		{name: "gzip chunk too large", read: true, file: "a/0", msg: `gzip: decodes to more than the expected 32 bytes`,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"compressor": null`, `"compressor": {"id": "gzip", "level": 1}`)
				b, _ := Gzip{Level: 1}.Encode(make([]byte, 33))
				writeTestFile(t, dir+"/a/0", string(b))
			}},
		{name: "corrupt zlib chunk", read: true, file: "a/0", msg: `zlib: zlib: invalid header`,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"compressor": null`, `"compressor": {"id": "zlib", "level": 1}`)
				writeTestFile(t, dir+"/a/0", "nope")
			}},
		{name: "vlen chunk with wrong count", read: true, file: "a/0", msg: `vlen-utf8: chunk holds 2 items, want 4`,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"dtype": "<f8", "fill_value": 0.0, "filters": null`, `"dtype": "|O", "fill_value": 0, "filters": [{"id": "vlen-utf8"}]`)
				writeTestFile(t, dir+"/a/0", string(EncodeVlenUTF8([]string{"a", "b"})))
			}},
		{name: "truncated vlen chunk", read: true, file: "a/0", msg: `vlen-utf8: item 3 runs past the end`,
			setup: func(t *testing.T, dir string) {
				editFile(t, dir+"/a/.zarray", `"dtype": "<f8", "fill_value": 0.0, "filters": null`, `"dtype": "|O", "fill_value": 0, "filters": [{"id": "vlen-utf8"}]`)
				b := EncodeVlenUTF8([]string{"a", "b", "c", "dddd"})
				writeTestFile(t, dir+"/a/0", string(b[:len(b)-1]))
			}},
		{name: "bad consolidated metadata", file: ".zmetadata", msg: `bad JSON at offset 1: want object key`,
			setup: func(t *testing.T, dir string) { writeTestFile(t, dir+"/.zmetadata", `{]`) }},
		{name: "consolidated format 2", file: ".zmetadata", msg: `zarr_consolidated_format 2 is not 1`, kind: ErrUnsupported,
			setup: func(t *testing.T, dir string) {
				writeTestFile(t, dir+"/.zmetadata", `{"metadata": {}, "zarr_consolidated_format": 2}`)
			}},
		{name: "bad document inside consolidated metadata", file: "a/.zarray", msg: `unknown compressor "foo"`,
			setup: func(t *testing.T, dir string) {
				writeTestFile(t, dir+"/.zmetadata", `{"metadata": {".zgroup": {"zarr_format": 2}, "a/.zarray": `+
					strings.Replace(v2Zarray, `"compressor": null`, `"compressor": {"id": "foo"}`, 1)+`}, "zarr_consolidated_format": 1}`)
			}},
		{name: "missing array", file: "b", msg: `no array or group (no .zarray or .zgroup)`, kind: ErrNotExist,
			setup: func(t *testing.T, dir string) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s.zarr")
			writeTestFile(t, dir+"/.zgroup", `{"zarr_format": 2}`)
			writeTestFile(t, dir+"/a/.zarray", v2Zarray)
			tt.setup(t, dir)
			err := openAndRead(dir, strings.SplitN(tt.file, "/", 2)[0], tt.read)
			want := "zarr: " + filepath.Join(dir, tt.file) + ": " + tt.msg
			if err == nil || err.Error() != want {
				t.Fatalf("error\n  %v\nwant\n  %s", err, want)
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("%v is not %v", err, tt.kind)
			}
		})
	}
}

func openAndRead(dir, array string, read bool) error {
	s, err := Open(dir, nil)
	if err != nil {
		return err
	}
	if array == ".zmetadata" {
		array = "a"
	}
	a, err := s.Array(array)
	if err != nil {
		return err
	}
	if !read {
		return nil
	}
	if a.Meta.DType.IsString() {
		_, err = a.ReadStrings(0, 4)
	} else {
		_, err = a.ReadRange(0, 4)
	}
	return err
}

const v3Zarray = `{"zarr_format": 3, "node_type": "array", "shape": [10], "data_type": "float64",
 "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4]}},
 "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
 "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}], "attributes": {}}`

func TestCorruptV3StoresGiveOneLineErrors(t *testing.T) {
	shard := `[{"name": "sharding_indexed", "configuration": {"chunk_shape": [2],
	  "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
	  "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]}}]`
	tests := []struct {
		name  string
		old   string // replaced in zarr.json by new
		new   string
		chunk string // written as chunk c/0 when set
		read  bool
		file  string
		msg   string
		kind  error
	}{
		{name: "missing data_type", old: `"data_type": "float64",`, new: ``, file: "a/zarr.json", msg: `missing "data_type"`},
		{name: "unknown data_type", old: `"float64"`, new: `"int128"`, file: "a/zarr.json", msg: `unsupported data_type "int128"`, kind: ErrUnsupported},
		{name: "unknown codec", old: `}}], "attributes"`, new: `}}, {"name": "foo"}], "attributes"`, file: "a/zarr.json", msg: `unknown codec "foo"`, kind: ErrUnsupported},
		{name: "transpose", old: `"codecs": [`, new: `"codecs": [{"name": "transpose", "configuration": {"order": [0]}}, `, file: "a/zarr.json", msg: ``},
		{name: "no bytes codec", old: `{"name": "bytes", "configuration": {"endian": "little"}}`, new: `{"name": "gzip", "configuration": {"level": 1}}`,
			file: "a/zarr.json", msg: `codec "gzip" before the array-to-bytes codec`},
		{name: "missing endian", old: `, "configuration": {"endian": "little"}`, new: ``, file: "a/zarr.json", msg: `"bytes" codec needs "endian" for <f8`},
		{name: "rectilinear grid", old: `"regular"`, new: `"rectilinear"`, file: "a/zarr.json",
			msg: `chunk_grid {"configuration": {"chunk_shape": [4]}, "name": "rectilinear"} is not supported (only "regular")`, kind: ErrUnsupported},
		{name: "bad node_type", old: `"array"`, new: `"table"`, file: "a/zarr.json", msg: `unknown node_type "table"`},
		{name: "storage transformers", old: `"attributes": {}`, new: `"attributes": {}, "storage_transformers": [{"name": "x"}]`, file: "a/zarr.json",
			msg: `storage_transformers are not supported`, kind: ErrUnsupported},
		{name: "index_location", old: `"codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]`, new: `"codecs": ` + strings.Replace(shard, `"crc32c"}]`, `"crc32c"}], "index_location": "middle"`, 1),
			file: "a/zarr.json", msg: `sharding_indexed: bad index_location "middle"`},
		{name: "shard index out of range", old: `"codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]`, new: `"codecs": ` + shard,
			chunk: shardWithIndex([][2]uint64{{0, 16}, {8, 100}}, true), read: true, file: "a/c/0",
			msg: `shard index entry 1 (offset 8, length 100) outside the 68-byte shard`},
		{name: "shard index checksum", old: `"codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]`, new: `"codecs": ` + shard,
			chunk: shardWithIndex([][2]uint64{{0, 16}, {0, 16}}, false), read: true, file: "a/c/0",
			msg: `shard index: crc32c: checksum mismatch (stored 00000000, computed`},
		{name: "shard too short", old: `"codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]`, new: `"codecs": ` + shard,
			chunk: "xx", read: true, file: "a/c/0", msg: `shard of 2 bytes is shorter than its 36-byte index`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s.zarr")
			writeTestFile(t, dir+"/zarr.json", `{"zarr_format": 3, "node_type": "group", "attributes": {}}`)
			writeTestFile(t, dir+"/a/zarr.json", strings.Replace(v3Zarray, tt.old, tt.new, 1))
			if tt.chunk != "" {
				writeTestFile(t, dir+"/a/c/0", tt.chunk)
			}
			err := openAndRead(dir, "a", tt.read)
			if tt.msg == "" { // accepted: an identity transpose is plain C order
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			want := "zarr: " + filepath.Join(dir, tt.file) + ": " + tt.msg
			if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error\n  %v\nwant\n  %s", err, want)
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("%v is not %v", err, tt.kind)
			}
		})
	}
	t.Run("non-identity transpose", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "s.zarr")
		j := strings.Replace(strings.Replace(v3Zarray, `[10]`, `[2, 2]`, 1), `[4]`, `[2, 2]`, 1)
		j = strings.Replace(j, `"codecs": [`, `"codecs": [{"name": "transpose", "configuration": {"order": [1, 0]}}, `, 1)
		writeTestFile(t, dir+"/zarr.json", j)
		_, err := Open(dir, nil)
		if err == nil {
			var s *Store
			s, _ = Open(dir, nil)
			_, err = s.Array("")
		}
		wantErr(t, err, filepath.Join(dir, "zarr.json"), "transpose codec (non-C order) is not supported")
	})
}

// shardWithIndex is a shard of two inner chunks of two float64 (32 bytes of
// data) followed by the given index and a CRC32C (zero when !goodCRC).
func shardWithIndex(entries [][2]uint64, goodCRC bool) string {
	data := make([]byte, 32)
	idx := make([]byte, 0, 16*len(entries))
	for _, e := range entries {
		idx = appendU64(appendU64(idx, e[0]), e[1])
	}
	if goodCRC {
		idx, _ = CRC32C{}.Encode(idx)
	} else {
		idx = append(idx, 0, 0, 0, 0)
	}
	return string(append(data, idx...))
}

func appendU64(b []byte, v uint64) []byte {
	for i := 0; i < 8; i++ {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func TestOpenRejectsWhatIsNotAStore(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir, nil)
	wantErr(t, err, "zarr: "+dir+": not a zarr store (no .zgroup, .zarray or zarr.json)")
	_, err = Open(filepath.Join(dir, "missing"), nil)
	wantErr(t, err, "zarr: "+filepath.Join(dir, "missing")+": cannot open store: no such file or directory")
	if !errors.Is(err, ErrNotExist) {
		t.Errorf("%v is not ErrNotExist", err)
	}
	writeTestFile(t, dir+"/f", "x")
	_, err = Open(dir+"/f", nil)
	wantErr(t, err, "not a directory")
}

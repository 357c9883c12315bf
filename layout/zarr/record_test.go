package zarr

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// zarr-python 2.13 writes an aligned record's padding as fields named ""
// of raw bytes; the document must come back byte for byte.
const alignedZarray = `{
    "chunks": [
        1
    ],
    "compressor": {
        "blocksize": 0,
        "clevel": 5,
        "cname": "lz4",
        "id": "blosc",
        "shuffle": 1
    },
    "dtype": [
        [
            "a",
            "|i1"
        ],
        [
            "",
            "|V7"
        ],
        [
            "b",
            "<f8"
        ],
        [
            "c",
            "|S3"
        ],
        [
            "",
            "|V5"
        ]
    ],
    "fill_value": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "filters": null,
    "order": "C",
    "shape": [
        5
    ],
    "zarr_format": 2
}`

func fieldList(d DType) string {
	var s []string
	for _, f := range d.Rec.Fields {
		s = append(s, f.Name+":"+f.Type.String()+"@"+itoa(f.Offset))
	}
	return strings.Join(s, " ")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestRecordV2DescrParsesAndPrintsBack(t *testing.T) {
	m, err := parseZarray([]byte(alignedZarray))
	if err != nil {
		t.Fatal(err)
	}
	if m.DType.Kind != 'V' || m.DType.Size != 24 || m.DType.String() != "|V24" {
		t.Fatalf("dtype %+v", m.DType)
	}
	if got, want := fieldList(m.DType), "a:|i1@0 :|V7@1 b:<f8@8 c:|S3@16 :|V5@19"; got != want {
		t.Errorf("fields %s, want %s", got, want)
	}
	if b := m.fillElement(); !bytes.Equal(b, make([]byte, 24)) {
		t.Errorf("fill %x", b)
	}
	got, err := m.MarshalZarray()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != alignedZarray {
		t.Errorf("MarshalZarray:\n%s\nwant\n%s", got, alignedZarray)
	}
	// anndata's rank_genes_groups names, with zarr-python 3's fill ("0" in
	// each field) and byte orders kept per field
	doc := strings.Replace(alignedZarray, `"fill_value": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"`, `"fill_value": "MAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMAAAAAAAAAA="`, 1)
	doc = doc[:strings.Index(doc, `"dtype"`)] + `"dtype": [["0", "<U6"], ["1", ">U2"], ["n", ">i8"]], ` + doc[strings.Index(doc, `"fill_value"`):]
	m, err = parseZarray([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fieldList(m.DType), "0:<U6@0 1:>U2@24 n:>i8@32"; got != want || m.DType.Size != 40 {
		t.Errorf("fields %s size %d, want %s size 40", got, m.DType.Size, want)
	}
	if b := m.fillElement(); b[0] != '0' || b[24] != '0' || len(b) != 40 {
		t.Errorf("fill %x", b)
	}
	if !m.DType.Equal(m.DType) || m.DType.Equal(MustDType("<f8")) {
		t.Error("Equal")
	}
}

// zarr-python 2.13 writes a sub-array field (anndata < 0.7's obsm: a
// cell's embedding in one field) as [name, typestr, shape]; numpy's
// dtype([("X_pca", "<f4", (3,)), ("n", "i1"), ("m", ">i2", (2, 2))]) is
// 21 bytes, its fields packed.
const subArrayZarray = `{
    "chunks": [
        2
    ],
    "compressor": null,
    "dtype": [
        [
            "X_pca",
            "<f4",
            [
                3
            ]
        ],
        [
            "n",
            "|i1"
        ],
        [
            "m",
            ">i2",
            [
                2,
                2
            ]
        ]
    ],
    "fill_value": null,
    "filters": null,
    "order": "C",
    "shape": [
        5
    ],
    "zarr_format": 2
}`

func TestRecordSubArrayFieldsParseAndPrintBack(t *testing.T) {
	m, err := parseZarray([]byte(subArrayZarray))
	if err != nil {
		t.Fatal(err)
	}
	d := m.DType
	if d.Kind != 'V' || d.Size != 21 || !d.HasSubArrays() {
		t.Fatalf("dtype %+v", d)
	}
	var got []string
	for _, f := range d.Rec.Fields {
		got = append(got, fmt.Sprintf("%s:%s%v@%d=%d", f.Name, f.Type, f.Shape, f.Offset, f.Size()))
	}
	if want := "X_pca:<f4[3]@0=12 n:|i1[]@12=1 m:>i2[2 2]@13=8"; strings.Join(got, " ") != want {
		t.Errorf("fields %s, want %s", strings.Join(got, " "), want)
	}
	if d.Rec.Fields[1].Shape != nil || d.Rec.Fields[2].Elems() != 4 {
		t.Errorf("scalar field shape %v, sub-array elements %d", d.Rec.Fields[1].Shape, d.Rec.Fields[2].Elems())
	}
	if b := m.fillElement(); !bytes.Equal(b, make([]byte, 21)) {
		t.Errorf("fill %x", b)
	}
	out, err := m.MarshalZarray()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != subArrayZarray {
		t.Errorf("MarshalZarray:\n%s\nwant\n%s", out, subArrayZarray)
	}
	// the shape is part of the type: same bytes, other fields
	flat, err := NewRecord([]Field{{Name: "X_pca", Type: MustDType("<f4"), Shape: []int{3}}, {Name: "n", Type: MustDType("|i1")}, {Name: "m", Type: MustDType(">i2"), Shape: []int{4}}})
	if err != nil {
		t.Fatal(err)
	}
	if flat.Size != d.Size || flat.Equal(d) || !d.Equal(d) {
		t.Errorf("Equal: %v %v (sizes %d %d)", flat.Equal(d), d.Equal(d), flat.Size, d.Size)
	}
	if _, err := d.v3JSON(); err == nil || !strings.Contains(err.Error(), `structured field "X_pca" is a sub-array of shape [3], which has no zarr v3 form`) {
		t.Errorf("v3 form: %v", err)
	}
}

func TestRecordV3DataTypeParsesAndPrintsBack(t *testing.T) {
	// what zarr-python 3.1.6 writes (fields of every kind, no endian on "bytes")
	dt := `{"name": "structured", "configuration": {"fields": [["b", "bool"], ["i1", "int8"], ["u2", "uint16"], ` +
		`["f2", "float16"], ["c8", "complex64"], ["s", {"name": "null_terminated_bytes", "configuration": {"length_bytes": 3}}], ` +
		`["u", {"name": "fixed_length_utf32", "configuration": {"length_bytes": 8}}], ["f8", "float64"]]}}`
	doc := strings.Replace(v3Zarray, `"float64"`, dt, 1)
	doc = strings.Replace(doc, `{"name": "bytes", "configuration": {"endian": "little"}}`, `{"name": "bytes"}, {"name": "zstd", "configuration": {"level": 0, "checksum": false}}`, 1)
	doc = strings.Replace(doc, `"fill_value": 0`, `"fill_value": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAADAAAAAA"`, 1)
	n, err := parseZarrJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	d := n.meta.DType
	if got, want := fieldList(d), "b:|b1@0 i1:|i1@1 u2:<u2@2 f2:<f2@4 c8:<c8@6 s:|S3@14 u:<U2@17 f8:<f8@25"; got != want || d.Size != 33 {
		t.Errorf("fields %s size %d, want %s size 33", got, d.Size, want)
	}
	out, err := n.meta.MarshalZarrJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	json.Unmarshal(out, &a)
	json.Unmarshal([]byte(doc), &b)
	for _, k := range []string{"data_type", "fill_value", "codecs"} {
		ga, _ := json.Marshal(a[k])
		gb, _ := json.Marshal(b[k])
		if !bytes.Equal(ga, gb) {
			t.Errorf("%s: wrote %s, want %s", k, ga, gb)
		}
	}
	// a v2 source's big-endian field has no v3 form
	m2, err := parseZarray([]byte(strings.Replace(alignedZarray, `"<f8"`, `">f8"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	m2.Format, m2.FillValue, m2.Codecs = 3, nil, nil
	_, err = m2.MarshalZarrJSON(nil)
	wantErr(t, err, `structured field "b" is big-endian (>f8), which has no zarr v3 form`)
	// a null fill becomes zeros in v3, which requires one
	m2.DType = d
	m2.FillValue = nil
	out, err = m2.MarshalZarrJSON(nil)
	if err != nil || !strings.Contains(string(out), `"fill_value": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"`) {
		t.Errorf("null fill in v3: %v\n%s", err, out)
	}
}

func TestRecordRefusals(t *testing.T) {
	for _, tt := range []struct{ dtype, msg string }{
		{`[["x", [["y", "<f8"]]]]`, `structured dtype field "x" is itself structured (nested records are not supported)`},
		{`[["x", "<f4", [0]]]`, `structured dtype field "x" has sub-array shape [0] (want a list of positive integers)`},
		{`[["x", "<f4", []]]`, `structured dtype field "x" has sub-array shape [] (want a list of positive integers)`},
		{`[["x", "<f4", [2.0]]]`, `structured dtype field "x" has sub-array shape [2.0] (want a list of positive integers)`},
		{`[["x", "<f4", [2], 1]]`, `bad structured dtype entry ["x", "<f4", [2], 1] (want [name, typestr] or [name, typestr, shape])`},
		{`[["x", "<f4", [65536, 65536]]]`, `structured dtype field "x" is a sub-array of shape [65536 65536], more than`},
		{`[[["title", "x"], "<f4"]]`, `structured dtype field ["title", "x"] has a title (not supported)`},
		{`[["x", "|O"]]`, `unsupported dtype "|O" in a structured dtype (object fields are not supported)`},
		{`[["x", "<f4"], ["x", "<i4"]]`, `structured dtype has two fields named "x"`},
		{`[]`, `structured dtype without fields`},
		{`[["x", "<M8[ns]"]]`, `unsupported dtype "<M8[ns]"`},
		{`"|V8"`, `unsupported dtype "|V8"`},
	} {
		doc := strings.Replace(alignedZarray, alignedZarray[strings.Index(alignedZarray, `"dtype"`):strings.Index(alignedZarray, `"fill_value"`)], `"dtype": `+tt.dtype+`, `, 1)
		doc = strings.Replace(doc, `"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"`, `null`, 1)
		_, err := parseZarray([]byte(doc))
		wantErr(t, err, tt.msg)
	}
	for _, tt := range []struct{ dt, codec, fill, msg string }{
		{`{"name": "structured", "configuration": {"fields": [["x", {"name": "structured", "configuration": {"fields": [["y", "int8"]]}}]]}}`,
			`{"name": "bytes"}`, `"AA=="`, `structured field "x" is itself structured (nested records are not supported)`},
		{`{"name": "structured", "configuration": {"fields": [["x", "string"]]}}`, `{"name": "bytes"}`, `""`, `unsupported data_type "string" of structured field "x"`},
		{`{"name": "structured", "configuration": {"fields": [["x", "int16"]]}}`, `{"name": "bytes", "configuration": {"endian": "big"}}`, `"AAA="`,
			`"bytes" codec with endian "big" on a structured data type`},
		{`{"name": "structured", "configuration": {"fields": [["x", "int16"]]}}`, `{"name": "bytes"}`, `0`, `bad fill_value 0 for a structured dtype of 2 bytes`},
		{`{"name": "structured", "configuration": {"fields": [["x", "int16"]]}}`, `{"name": "bytes"}`, `"AAAAAAAA"`, `bad fill_value "AAAAAAAA" for a structured dtype of 2 bytes`},
	} {
		doc := strings.Replace(v3Zarray, `"float64"`, tt.dt, 1)
		doc = strings.Replace(doc, `{"name": "bytes", "configuration": {"endian": "little"}}`, tt.codec, 1)
		doc = strings.Replace(doc, `"fill_value": 0`, `"fill_value": `+tt.fill, 1)
		_, err := parseZarrJSON([]byte(doc))
		wantErr(t, err, tt.msg)
	}
}

// currentPython is the project venv's interpreter (zarr-python 3).
const currentPython = "../../.venv/bin/python"

func requireCurrentPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(currentPython); err != nil {
		if os.Getenv("ANNSLICER_REQUIRE_PYTHON") == "1" {
			t.Fatal("no venv: ", err)
		}
		t.Skip("no venv (scripts/setup.sh --test makes it): ", err)
	}
}

// pyRecords is what records.py dump prints for one array.
type pyRecords struct {
	Fields   [][3]any `json:"fields"`
	ItemSize int      `json:"itemsize"`
	Shape    []int    `json:"shape"`
	Hex      string   `json:"hex"`
}

func recordsPy(t *testing.T, py string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(py, append([]string{"testdata/records.py"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s records.py %s: %v\n%s", py, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func dumpRecords(t *testing.T, py, store string) map[string]pyRecords {
	t.Helper()
	var got map[string]pyRecords
	if err := json.Unmarshal(recordsPy(t, py, "dump", store), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// sameRecords compares an array Go reads with what zarr-python read: the
// bytes, and each field's name (numpy names padding f<i>), typestr and
// offset.
func sameRecords(t *testing.T, who string, a *Array, want pyRecords, raw []byte) {
	t.Helper()
	d := a.Meta.DType
	if d.Rec == nil || d.Size != want.ItemSize || len(d.Rec.Fields) != len(want.Fields) {
		t.Fatalf("%s: dtype %s %v, want %d bytes, fields %v", who, d, d.Rec, want.ItemSize, want.Fields)
	}
	for i, f := range d.Rec.Fields {
		name := f.Name
		if name == "" {
			name = "f" + itoa(i)
		}
		w := want.Fields[i]
		if name != w[0] || f.Type.String() != w[1] || float64(f.Offset) != w[2] {
			t.Errorf("%s: field %d is %s %s @%d, want %v", who, i, name, f.Type, f.Offset, w)
		}
	}
	if hex.EncodeToString(raw) != want.Hex {
		t.Errorf("%s: bytes\n%x\nwant\n%s", who, raw, want.Hex)
	}
}

// Record arrays written by zarr-python 2.13 (v2) and 3 (v2 and v3) read as
// they do; Go writes them again (v2 and v3, other chunks and codecs) and
// both zarr-pythons read the same values and fields from Go's stores.
func TestRecordsRoundTripThroughZarrPython(t *testing.T) {
	t.Parallel() // waits on subprocesses
	requirePython(t)
	requireCurrentPython(t)
	pys := map[string]string{"zarr2": python, "zarr3": currentPython}
	for _, src := range []struct{ py, format string }{{"zarr2", "2"}, {"zarr3", "2"}, {"zarr3", "3"}} {
		t.Run(src.py+"_v"+src.format, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "py.zarr")
			recordsPy(t, pys[src.py], "make", dir, src.format)
			want := dumpRecords(t, pys[src.py], dir)
			s := openStore(t, dir, nil)
			outs := map[string]string{"2": filepath.Join(t.TempDir(), "go2.zarr"), "3": filepath.Join(t.TempDir(), "go3.zarr")}
			for f, out := range outs {
				if err := CreateGroup(out, "", map[string]int{"2": 2, "3": 3}[f], nil); err != nil {
					t.Fatal(err)
				}
			}
			written := map[string][]string{}
			for name, w := range want {
				a := openArray(t, s, name)
				raw, err := a.ReadRange(0, a.Meta.Len())
				if err != nil {
					t.Fatal(err)
				}
				sameRecords(t, "Go reads "+name, a, w, raw)
				for f, out := range outs {
					m := *a.Meta
					m.Format = map[string]int{"2": 2, "3": 3}[f]
					m.Chunks = []int{4}
					m.Codecs = []Codec{Blosc{CName: "zstd", CLevel: 3, Shuffle: ByteShuffle}}
					m.Shard, m.V2ChunkKeys, m.Separator = nil, false, ""
					if m.Format == 3 {
						m.Codecs = []Codec{Gzip{Level: 1}}
					}
					aw, err := CreateArray(out, name, m, Attrs{"encoding-type": []byte(`"rec-array"`)})
					if f == "3" && strings.Contains(fieldList(m.DType), ">") {
						wantErr(t, err, "is big-endian", "which has no zarr v3 form")
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					if err := aw.WriteAll(raw); err != nil {
						t.Fatal(err)
					}
					written[f] = append(written[f], name)
				}
			}
			for f, out := range outs {
				readers := []string{"zarr3"}
				if f == "2" {
					readers = append(readers, "zarr2")
				}
				gs := openStore(t, out, nil)
				for _, r := range readers {
					got := dumpRecords(t, pys[r], out)
					for _, name := range written[f] {
						a := openArray(t, gs, name)
						raw, _ := a.ReadRange(0, a.Meta.Len())
						sameRecords(t, r+" reads Go's v"+f+" "+name, a, got[name], raw)
						sameRecords(t, r+" reads Go's v"+f+" "+name+" as the source", a, want[name], raw)
					}
				}
			}
			if len(written["2"]) != len(want) {
				t.Errorf("wrote %v of %d arrays in v2", written["2"], len(want))
			}
		})
	}
}

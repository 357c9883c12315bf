package h5w

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/annslicer/annslicer/layout/h5"
)

// pythons are the readers every file must satisfy: current h5py (the
// project venv, libhdf5 2.x) and Debian's (libhdf5 1.10).
func pythons(t *testing.T) []string {
	var out []string
	if p, err := filepath.Abs("../../.venv/bin/python"); err == nil {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	out = append(out, "/usr/bin/python3")
	return out
}

// dump reads every object of path with h5py: {path: {attrs, dtype, shape, value}}.
const dumpPy = `
import sys, json, h5py, numpy as np
def val(v):
    if isinstance(v, h5py.Reference):
        return "ref:" + f[v].name
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        if v.dtype.names:
            return [[val(x) for x in r] for r in v.tolist()]
        return [val(x) for x in v.tolist()]
    if isinstance(v, (np.generic,)):
        return val(v.item())
    if isinstance(v, tuple):
        return [val(x) for x in v]
    if isinstance(v, list):
        return [val(x) for x in v]
    if isinstance(v, float) and v != v:
        return "nan"
    return v
out = {}
f = h5py.File(sys.argv[1], "r")
def visit(name, o):
    e = {"attrs": {k: val(o.attrs[k]) for k in sorted(o.attrs)}}
    if len(o.attrs) != len(e["attrs"]):  # libhdf5's count (H5Oget_info) against its iteration
        e["attrs"]["COUNT MISMATCH"] = len(o.attrs)
    if isinstance(o, h5py.Dataset):
        e["dtype"] = str(o.dtype)
        e["shape"] = list(o.shape)
        v = o[()]
        if o.dtype.kind == "O":
            v = np.array(o.asstr()[()], dtype=object) if o.shape else o.asstr()[()]
        e["value"] = val(v)
    out["/" + name] = e
visit("", f)
f.visititems(visit)
json.dump(out, sys.stdout, sort_keys=True)
`

func readBack(t *testing.T, path string) map[string]any {
	t.Helper()
	var first map[string]any
	for _, py := range pythons(t) {
		out, err := exec.Command(py, "-c", dumpPy, path).Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				t.Fatalf("%s cannot read the file: %s", py, ee.Stderr)
			}
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = got
		} else if !reflect.DeepEqual(first, got) {
			t.Errorf("readers disagree:\n%v\n%v", first, got)
		}
	}
	return first
}

func writeLayout(t *testing.T, l *Layout, fill func(p Placed) []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.h5")
	b := make([]byte, l.Size)
	copy(b, l.Super)
	meta, err := l.MetaBytes()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(meta)) != l.MetaLen {
		t.Fatalf("metadata: %d bytes written, %d laid out", len(meta), l.MetaLen)
	}
	copy(b[l.MetaOff:], meta)
	for _, e := range l.Extents {
		copy(b[e.Off:], fill(e))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func le64s(vs ...int64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func TestEveryKindReadsBack(t *testing.T) {
	path, _ := everyKind(t)
	got := readBack(t, path)
	checkEveryKind(t, got)
}

// everyKind writes a file holding every kind of object and attribute the
// writer makes.
func everyKind(t *testing.T) (string, *Object) {
	vlen := h5.TypeInfo{Class: h5.ClassString, Vlen: true, Cset: 1, Size: 8}
	i64 := h5.TypeInfo{Class: h5.ClassInt, Size: 8, Signed: true}
	f64 := h5.TypeInfo{Class: h5.ClassFloat, Size: 8}
	f := New()
	root := f.Root()
	root.Attr("encoding-type", vlen, nil, make([]byte, 16), []string{"anndata"})
	obs := root.Group("obs")
	obs.Attr("column-order", vlen, []int64{2}, make([]byte, 32), []string{"a", "ü"})
	obs.Attr("n", i64, nil, le64s(7), nil)
	obs.Attr("empty", f64, []int64{0}, nil, nil)
	obs.Attr("flag", h5.TypeInfo{Class: h5.ClassBool, Size: 1}, nil, []byte{1}, nil)
	obs.Dataset("_index", vlen, []int64{3}).Strings([]string{"c1", "", "c3"})
	x := obs.Dataset("x", f64, []int64{2, 2})
	x.Reserve(32)
	obs.Dataset("big", h5.TypeInfo{Class: h5.ClassFloat, Size: 4, BigEndian: true}, []int64{1}).Reserve(4)
	obs.Dataset("u8", h5.TypeInfo{Class: h5.ClassInt, Size: 1}, []int64{0})
	obs.Dataset("s", h5.TypeInfo{Class: h5.ClassString, Size: 2}, []int64{2}).Data([]byte("abcd"), nil)
	obs.Dataset("b", h5.TypeInfo{Class: h5.ClassBool, Size: 1}, []int64{3}).Data([]byte{1, 0, 1}, nil)
	obs.Dataset("sc", f64, nil).Data(le64s(int64(math.Float64bits(2.5))), nil)
	obs.Dataset("str", vlen, nil).Data(make([]byte, 16), []string{"hello"})
	i32 := h5.TypeInfo{Class: h5.ClassInt, Size: 4, Signed: true}
	rec := h5.TypeInfo{Class: h5.ClassCompound, Size: 24, Members: []h5.Member{
		{Name: "x", Offset: 0, Type: f64},
		{Name: "y", Offset: 8, Type: h5.TypeInfo{Class: h5.ClassArray, Size: 8, Dims: []int{2}, Elem: &i32}},
		{Name: "z", Offset: 16, Type: vlen},
	}}
	ft := FileType(rec)
	if ft.Size != 32 || ft.Members[2].Offset != 16 {
		t.Fatalf("file layout of the record: %+v", ft)
	}
	raw := make([]byte, 2*ft.Size)
	binary.LittleEndian.PutUint64(raw, math.Float64bits(1))
	binary.LittleEndian.PutUint32(raw[8:], 1)
	binary.LittleEndian.PutUint32(raw[12:], 2)
	binary.LittleEndian.PutUint64(raw[32:], math.Float64bits(2))
	binary.LittleEndian.PutUint32(raw[40:], 3)
	binary.LittleEndian.PutUint32(raw[44:], 4)
	obs.Dataset("rec", rec, []int64{2}).Data(raw, []string{"p", "q"})
	obs.AttrRef("ref", obs, "x")
	many := root.Group("many")
	for i := 0; i < 40; i++ { // more than libhdf5's 8 compact links
		many.Group(string(rune('a'+i%26)) + string(rune('0'+i/26)))
	}
	l, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	path := writeLayout(t, l, func(p Placed) []byte {
		if p.Obj == x {
			return le64s(int64(math.Float64bits(1)), int64(math.Float64bits(2)), int64(math.Float64bits(3)), int64(math.Float64bits(4)))
		}
		return []byte{0x40, 0x49, 0x0f, 0xdb} // 3.1415927 big-endian
	})
	return path, x
}

func checkEveryKind(t *testing.T, got map[string]any) {
	want := map[string]any{
		"/":           map[string]any{"attrs": map[string]any{"encoding-type": "anndata"}},
		"/obs/_index": map[string]any{"attrs": map[string]any{}, "dtype": "object", "shape": []any{3.0}, "value": []any{"c1", "", "c3"}},
		"/obs/x":      map[string]any{"attrs": map[string]any{}, "dtype": "float64", "shape": []any{2.0, 2.0}, "value": []any{[]any{1.0, 2.0}, []any{3.0, 4.0}}},
		"/obs/big":    map[string]any{"attrs": map[string]any{}, "dtype": ">f4", "shape": []any{1.0}, "value": []any{3.1415927410125732}},
		"/obs/u8":     map[string]any{"attrs": map[string]any{}, "dtype": "uint8", "shape": []any{0.0}, "value": []any{}},
		"/obs/s":      map[string]any{"attrs": map[string]any{}, "dtype": "|S2", "shape": []any{2.0}, "value": []any{"ab", "cd"}},
		"/obs/b":      map[string]any{"attrs": map[string]any{}, "dtype": "bool", "shape": []any{3.0}, "value": []any{true, false, true}},
		"/obs/sc":     map[string]any{"attrs": map[string]any{}, "dtype": "float64", "shape": []any{}, "value": 2.5},
		"/obs/str":    map[string]any{"attrs": map[string]any{}, "dtype": "object", "shape": []any{}, "value": "hello"},
		"/obs/rec": map[string]any{"attrs": map[string]any{}, "dtype": "[('x', '<f8'), ('y', '<i4', (2,)), ('z', 'O')]", "shape": []any{2.0},
			"value": []any{[]any{1.0, []any{1.0, 2.0}, "p"}, []any{2.0, []any{3.0, 4.0}, "q"}}},
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s:\n got %v\nwant %v", k, got[k], v)
		}
	}
	attrs := got["/obs"].(map[string]any)["attrs"]
	wantAttrs := map[string]any{"column-order": []any{"a", "ü"}, "n": 7.0, "empty": []any{}, "flag": true, "ref": "ref:/obs/x"}
	if !reflect.DeepEqual(attrs, wantAttrs) {
		t.Errorf("/obs attrs:\n got %v\nwant %v", attrs, wantAttrs)
	}
	if n := 0; true {
		for k := range got {
			if len(k) > 6 && k[:6] == "/many/" {
				n++
			}
		}
		if n != 40 {
			t.Errorf("/many holds %d groups, want 40", n)
		}
	}
}

// TestManyStringsSpanCollections: more strings than a global heap
// collection holds (65,535 objects, or 1 MiB), in two datasets and an
// attribute, read back in order.
func TestManyStringsSpanCollections(t *testing.T) {
	vlen := h5.TypeInfo{Class: h5.ClassString, Vlen: true, Cset: 1, Size: 8}
	mk := func(n int, tag string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = tag + strings.Repeat("x", i%37) + strconv.Itoa(i)
		}
		return out
	}
	a, b := mk(150000, "a"), mk(70000, "b")
	f := New()
	g := f.Root().Group("g")
	g.Attr("names", vlen, []int64{3}, make([]byte, 48), []string{"p", "", "q"})
	// a's IDs are made as the metadata is written, in windows (Strings)
	g.Dataset("a", vlen, []int64{int64(len(a))}).Strings(a)
	g.Dataset("b", vlen, []int64{int64(len(b))}).Data(make([]byte, VlenSize*len(b)), b)
	l, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	path := writeLayout(t, l, nil)
	const check = `
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
print(json.dumps({"a": list(f["g/a"].asstr()[()]), "b": list(f["g/b"].asstr()[()]), "names": list(f["g"].attrs["names"])}))
`
	for _, py := range pythons(t) {
		out, err := exec.Command(py, "-c", check, path).Output()
		if err != nil {
			t.Fatalf("%s: %v", py, err)
		}
		var got map[string][]string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got["a"], a) || !reflect.DeepEqual(got["b"], b) || !reflect.DeepEqual(got["names"], []string{"p", "", "q"}) {
			t.Errorf("%s reads other strings back (%d and %d of them)", py, len(got["a"]), len(got["b"]))
		}
	}
}

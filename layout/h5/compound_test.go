package h5

import (
	"bytes"
	"encoding/binary"
	"math"
	"path/filepath"
	"reflect"
	"testing"
)

// A compound dataset written member layout by member layout (a
// variable-length UTF-8 string, a big-endian int64, h5py's bool enum, a
// fixed-length string) reads back member by member, gzip-chunked or not.
func TestCompoundWriteAndReadMembers(t *testing.T) {
	members := []Member{
		{Name: "txt", Offset: 0, Type: TypeInfo{Class: ClassString, Vlen: true, Cset: 1, Size: 8}},
		{Name: "big", Offset: 8, Type: TypeInfo{Class: ClassInt, Size: 8, Signed: true, BigEndian: true}},
		{Name: "flag", Offset: 16, Type: TypeInfo{Class: ClassBool, Size: 1}},
		{Name: "raw", Offset: 17, Type: TypeInfo{Class: ClassString, Size: 3}},
	}
	txt := []string{"a", "", "é😀", "long text"}
	big := []int64{1, -2, 1 << 40, 7}
	flags := []byte{1, 0, 1, 1}
	raws := []string{"ab\x00", "\x00\x00\x00", "xyz", "q\x00\x00"}
	raw := make([]byte, 4*20)
	for e := range txt {
		r := raw[e*20:]
		binary.BigEndian.PutUint64(r[8:], uint64(big[e]))
		r[16] = flags[e]
		copy(r[17:], raws[e])
	}
	for _, l := range []Layout{{}, {Chunk: []int64{3}, Filter: Gzip, Level: 4}} {
		path := filepath.Join(t.TempDir(), "c.h5")
		f, err := Create(path)
		if err != nil {
			t.Fatal(err)
		}
		root, _ := f.Root()
		ds, err := root.CreateTyped("rec", TypeInfo{Class: ClassCompound, Size: 20, Members: members}, []int64{4}, l)
		if err != nil {
			t.Fatal(err)
		}
		if err := ds.WriteRecords(raw, []int{0}, txt); err != nil {
			t.Fatal(err)
		}
		if err := ds.WriteRecords(raw, []int{0}, txt[:3]); err == nil {
			t.Error("WriteRecords with too few strings")
		}
		ds.Close()
		f, root, ds = reopenDataset(t, f, root, path, "rec")
		ti, _ := ds.TypeInfo()
		if ti.Class != ClassCompound || ti.Size != 20 || ds.ElemSize != 20 {
			t.Errorf("type %+v, element size %d", ti, ds.ElemSize)
		}
		got, err := ds.Members()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, members) {
			t.Errorf("members\n%+v\nwant\n%+v", got, members)
		}
		s, err := ds.ReadMemberStrings(0)
		if err != nil || !reflect.DeepEqual(s, txt) {
			t.Errorf("txt %q, %v", s, err)
		}
		b, err := ds.ReadMember(1, 8)
		if err != nil || len(b) != 32 || int64(binary.BigEndian.Uint64(b[16:])) != 1<<40 {
			t.Errorf("big %x, %v", b, err)
		}
		b, err = ds.ReadMember(2, 1)
		if err != nil || !bytes.Equal(b, flags) {
			t.Errorf("flag %x, %v", b, err)
		}
		b, err = ds.ReadMember(3, 3)
		if err != nil || string(b) != "ab\x00\x00\x00\x00xyzq\x00\x00" {
			t.Errorf("raw %q, %v", b, err)
		}
		ds.Close()
		root.Close()
		f.Close()
	}
}

// A record array whose strings are all fixed-length is plain bytes (raw
// copyable, sized by its element); a variable-length string member makes
// it variable.
func TestCompoundWithFixedStringsIsNotVariable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.h5")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root, _ := f.Root()
	defer root.Close()
	fixed := TypeInfo{Class: ClassCompound, Size: 7, Members: []Member{
		{Name: "name", Offset: 0, Type: TypeInfo{Class: ClassString, Size: 3}},
		{Name: "v", Offset: 3, Type: TypeInfo{Class: ClassInt, Size: 4, Signed: true}},
	}}
	ds, err := root.CreateTyped("fixed", fixed, []int64{3, 2}, Layout{})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if ds.Variable || ds.VlenString || ds.ElemSize != 7 {
		t.Errorf("fixed-string record: Variable %v, element size %d", ds.Variable, ds.ElemSize)
	}
	raw := bytes.Repeat([]byte("abc\x01\x00\x00\x00"), 6)
	if err := ds.WriteAll(raw); err != nil {
		t.Fatal(err)
	}
	if got, err := ds.ReadAll(); err != nil || !bytes.Equal(got, raw) {
		t.Errorf("ReadAll %x, %v", got, err)
	}
	vl := fixed
	vl.Members = append([]Member{{Name: "s", Offset: 7, Type: TypeInfo{Class: ClassString, Vlen: true, Cset: 1, Size: 8}}}, fixed.Members...)
	vl.Size = 15
	ds2, err := root.CreateTyped("vlen", vl, []int64{2}, Layout{})
	if err != nil {
		t.Fatal(err)
	}
	defer ds2.Close()
	if !ds2.Variable {
		t.Error("a record with a variable-length string member is not Variable")
	}
}

// Array members (numpy sub-array fields, as h5py writes anndata < 0.7's
// obsm: X_pca, 50 float32 a cell) are created and described with their
// element type and dims, and read member by member as packed bytes.
func TestCompoundArrayMembers(t *testing.T) {
	f32 := TypeInfo{Class: ClassFloat, Size: 4}
	i16 := TypeInfo{Class: ClassInt, Size: 2, Signed: true, BigEndian: true}
	members := []Member{
		{Name: "X_pca", Offset: 0, Type: TypeInfo{Class: ClassArray, Size: 12, Dims: []int{3}, Elem: &f32}},
		{Name: "n", Offset: 12, Type: TypeInfo{Class: ClassInt, Size: 1, Signed: true}},
		{Name: "m", Offset: 13, Type: TypeInfo{Class: ClassArray, Size: 8, Dims: []int{2, 2}, Elem: &i16}},
	}
	raw := make([]byte, 2*21)
	for e := 0; e < 2; e++ {
		r := raw[e*21:]
		for k := 0; k < 3; k++ {
			binary.LittleEndian.PutUint32(r[4*k:], math.Float32bits(float32(10*e+k)))
		}
		r[12] = byte(e + 1)
		for k := 0; k < 4; k++ {
			binary.BigEndian.PutUint16(r[13+2*k:], uint16(100*e+k))
		}
	}
	path := filepath.Join(t.TempDir(), "c.h5")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := f.Root()
	ds, err := root.CreateTyped("rec", TypeInfo{Class: ClassCompound, Size: 21, Members: members}, []int64{2}, Layout{Chunk: []int64{1}, Filter: Gzip, Level: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.WriteRecords(raw, nil, nil); err != nil {
		t.Fatal(err)
	}
	ds.Close()
	bad := TypeInfo{Class: ClassCompound, Size: 4, Members: []Member{{Name: "a", Type: TypeInfo{Class: ClassArray, Size: 4, Elem: &f32}}}}
	if _, err := root.CreateTyped("bad", bad, []int64{1}, Layout{}); err == nil {
		t.Error("an array member without dims was created")
	}
	f, root, ds = reopenDataset(t, f, root, path, "rec")
	defer f.Close()
	defer root.Close()
	defer ds.Close()
	got, err := ds.Members()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, members) {
		t.Errorf("members\n%+v\nwant\n%+v", got, members)
	}
	b, err := ds.ReadMember(0, 12)
	if err != nil || !bytes.Equal(b, append(append([]byte{}, raw[0:12]...), raw[21:33]...)) {
		t.Errorf("X_pca %x, %v", b, err)
	}
	b, err = ds.ReadMember(2, 8)
	if err != nil || !bytes.Equal(b, append(append([]byte{}, raw[13:21]...), raw[34:42]...)) {
		t.Errorf("m %x, %v", b, err)
	}
	all, err := ds.ReadAll()
	if err != nil || !bytes.Equal(all, raw) {
		t.Errorf("records %x, %v", all, err)
	}
}

// reopenDataset closes root and f and opens dataset name of path again,
// so that a test reads what reached the file.
func reopenDataset(t *testing.T, f *File, root *Group, path, name string) (*File, *Group, *Dataset) {
	t.Helper()
	root.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	root, _ = f.Root()
	ds, err := root.OpenDataset(name)
	if err != nil {
		t.Fatal(err)
	}
	return f, root, ds
}

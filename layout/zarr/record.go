package zarr

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Structured (record) dtypes: numpy's kind 'V' with named fields, as
// scanpy's rank_genes_groups and anndata's record arrays in uns hold them.
// Every writer lays the fields out one after the other: zarr-python 2 and
// numpy's descr spell padding as fields named "" of raw bytes ("|V7"),
// zarr-python 3 and anndata repack (no padding at all). So a field's offset
// is always the sum of the sizes before it, and a structured dtype is its
// list of fields. A field may be a sub-array (numpy's ("X_pca", "<f4",
// (50,)), HDF5's array member): anndata < 0.7 wrote obsm and varm as one
// record array per axis whose fields are a cell's embedding. Nested
// records are refused: no AnnData writer makes them, and guessing their
// layout would be wrong.

// Record is the field list of a structured dtype. It is shared between
// copies of a DType and never modified.
type Record struct {
	Fields []Field
}

// Field is one field of a record.
type Field struct {
	Name   string
	Offset int // bytes from the start of the element
	// Type is a plain dtype: 'b', 'i', 'u', 'f', 'c', 'S', 'U', or 'V'
	// (raw bytes, numpy "|V7", what numpy's descr calls padding). For a
	// sub-array field it is the type of one element of the sub-array.
	Type DType
	// Shape is a sub-array field's shape (C order), nil for a scalar
	// field: the field holds Type.Size × the product of Shape bytes.
	Shape []int
}

// maxSubArrayRank bounds a sub-array field's rank (numpy allows 64, HDF5
// 32; anndata's embeddings have one).
const maxSubArrayRank = 32

// Size is the field's size in bytes: its type's, times the sub-array's
// element count.
func (f Field) Size() int {
	n := f.Type.Size
	for _, d := range f.Shape {
		n *= d
	}
	return n
}

// Elems is the number of Type values in the field (1 unless a sub-array).
func (f Field) Elems() int {
	n := 1
	for _, d := range f.Shape {
		n *= d
	}
	return n
}

// Cut copies field f of each record in recs (whole records of recSize
// bytes) into dst, packed: the field as an array of its own (anndata < 0.7
// obsm's X_pca out of its record array, an obs column out of the record).
func (f Field) Cut(dst, recs []byte, recSize int) {
	fs := f.Size()
	for r := 0; r < len(recs)/recSize && (r+1)*fs <= len(dst); r++ {
		copy(dst[r*fs:(r+1)*fs], recs[r*recSize+f.Offset:])
	}
}

// HasSubArrays reports whether a record dtype has a sub-array field.
func (d DType) HasSubArrays() bool {
	if d.Rec == nil {
		return false
	}
	for _, f := range d.Rec.Fields {
		if f.Shape != nil {
			return true
		}
	}
	return false
}

// NewRecord is the structured dtype of fields laid out in order (their
// Offset is set here).
func NewRecord(fields []Field) (DType, error) {
	if len(fields) == 0 {
		return DType{}, unsupported("structured dtype without fields")
	}
	seen := map[string]bool{}
	fs := make([]Field, len(fields))
	off := 0
	for i, f := range fields {
		t := f.Type
		switch {
		case t.Rec != nil:
			return DType{}, unsupported("structured dtype field %q is itself structured (nested records are not supported)", f.Name)
		case t.Kind == 'O':
			return DType{}, unsupported("structured dtype field %q is an object field (only fixed-size fields are supported)", f.Name)
		case t.Size <= 0:
			return DType{}, unsupported("structured dtype field %q has size %d", f.Name, t.Size)
		}
		if len(f.Shape) > maxSubArrayRank {
			return DType{}, unsupported("structured dtype field %q is a sub-array of rank %d (at most %d)", f.Name, len(f.Shape), maxSubArrayRank)
		}
		elems := 1
		for _, d := range f.Shape {
			// a numpy dimension of 0 makes a field of no bytes, which
			// neither HDF5 nor the offsets here can hold
			if d <= 0 || d > maxItemSize {
				return DType{}, unsupported("structured dtype field %q is a sub-array of shape %v", f.Name, f.Shape)
			}
			if elems *= d; elems > maxItemSize {
				return DType{}, unsupported("structured dtype field %q is a sub-array of shape %v, more than %d bytes", f.Name, f.Shape, maxItemSize)
			}
		}
		if f.Name != "" { // numpy names padding "" (and any number of them)
			if seen[f.Name] {
				return DType{}, fmt.Errorf("structured dtype has two fields named %q", f.Name)
			}
			seen[f.Name] = true
		}
		var shape []int
		if len(f.Shape) > 0 { // an empty shape is numpy's scalar field
			shape = append([]int(nil), f.Shape...)
		}
		fs[i] = Field{Name: f.Name, Offset: off, Type: t, Shape: shape}
		if off += t.Size * elems; off > maxItemSize {
			return DType{}, unsupported("structured dtype of more than %d bytes per element", maxItemSize)
		}
	}
	return DType{Kind: 'V', Size: off, Order: '|', Rec: &Record{Fields: fs}}, nil
}

// Equal reports whether two dtypes are the same, fields included.
func (d DType) Equal(e DType) bool {
	if d.Kind != e.Kind || d.Size != e.Size || d.Order != e.Order || (d.Rec == nil) != (e.Rec == nil) {
		return false
	}
	if d.Rec == nil {
		return true
	}
	if len(d.Rec.Fields) != len(e.Rec.Fields) {
		return false
	}
	for i, f := range d.Rec.Fields {
		g := e.Rec.Fields[i]
		if f.Name != g.Name || f.Offset != g.Offset || !f.Type.Equal(g.Type) || !slices.Equal(f.Shape, g.Shape) {
			return false
		}
	}
	return true
}

// parseFieldType parses a field's numpy typestr: ParseDType's, or raw
// bytes "|Vn".
func parseFieldType(s string) (DType, error) {
	if len(s) > 2 && s[0] == '|' && s[1] == 'V' {
		n, err := strconv.Atoi(s[2:])
		if err != nil || n <= 0 || n > maxItemSize {
			return DType{}, unsupported("unsupported dtype %q", s)
		}
		return DType{Kind: 'V', Size: n, Order: '|'}, nil
	}
	d, err := ParseDType(s)
	if err == nil && d.Kind == 'O' {
		return DType{}, unsupported("unsupported dtype %q in a structured dtype (object fields are not supported)", s)
	}
	return d, err
}

// dtypeFromV2 reads a v2 "dtype": a typestr, or a structured dtype's descr
// (a list of [name, typestr] pairs, or [name, typestr, shape] for a
// sub-array field, as numpy's descr and zarr-python 2 write it).
func dtypeFromV2(v *jvalue) (DType, error) {
	switch v.kind {
	case jString:
		return ParseDType(v.str)
	case jArray:
	default:
		return DType{}, unsupported("unsupported dtype %s", jsonText(v))
	}
	fields := make([]Field, 0, len(v.arr))
	for _, e := range v.arr {
		if e.kind != jArray || len(e.arr) < 2 {
			return DType{}, fmt.Errorf("bad structured dtype entry %s (want [name, typestr])", jsonText(e))
		}
		name, typ := e.arr[0], e.arr[1]
		if name.kind != jString {
			return DType{}, unsupported("structured dtype field %s has a title (not supported)", jsonText(name))
		}
		if len(e.arr) > 3 {
			return DType{}, fmt.Errorf("bad structured dtype entry %s (want [name, typestr] or [name, typestr, shape])", jsonText(e))
		}
		var shape []int
		if len(e.arr) == 3 {
			var err error
			if shape, err = subArrayShape(name.str, e.arr[2]); err != nil {
				return DType{}, err
			}
		}
		if typ.kind == jArray {
			return DType{}, unsupported("structured dtype field %q is itself structured (nested records are not supported)", name.str)
		}
		if typ.kind != jString {
			return DType{}, fmt.Errorf("bad structured dtype entry %s", jsonText(e))
		}
		t, err := parseFieldType(typ.str)
		if err != nil {
			return DType{}, err
		}
		fields = append(fields, Field{Name: name.str, Type: t, Shape: shape})
	}
	return NewRecord(fields)
}

// subArrayShape reads a v2 sub-array field's shape: a list of positive
// integers (numpy also accepts a bare integer there; zarr-python 2 always
// writes the list numpy's descr holds).
func subArrayShape(field string, v *jvalue) ([]int, error) {
	bad := func() ([]int, error) {
		return nil, unsupported("structured dtype field %q has sub-array shape %s (want a list of positive integers)", field, jsonText(v))
	}
	if v.kind != jArray || len(v.arr) == 0 {
		return bad()
	}
	shape := make([]int, len(v.arr))
	for i, d := range v.arr {
		if d.kind != jNumber || d.isFloatLiteral() {
			return bad()
		}
		n, err := strconv.Atoi(d.num)
		if err != nil || n <= 0 {
			return bad()
		}
		shape[i] = n
	}
	return shape, nil
}

// v2JSON is the v2 "dtype" value: the typestr, or the descr list.
func (d DType) v2JSON() any {
	if d.Rec == nil {
		return d.String()
	}
	out := make([]any, len(d.Rec.Fields))
	for i, f := range d.Rec.Fields {
		if f.Shape != nil {
			out[i] = []any{f.Name, f.Type.String(), f.Shape}
		} else {
			out[i] = []any{f.Name, f.Type.String()}
		}
	}
	return out
}

// v3 fixed-size types that have a configuration (zarr-python 3's names).
var v3Sized = map[string]byte{"fixed_length_utf32": 'U', "null_terminated_bytes": 'S', "raw_bytes": 'V'}

// dtypeFromV3JSON reads a v3 "data_type": a name, or zarr-python 3's
// structured type {"name": "structured", "configuration": {"fields":
// [[name, data_type], ...]}} whose fields are little-endian (the "bytes"
// codec has no endian for it).
func dtypeFromV3JSON(v *jvalue) (DType, error) {
	if v.kind == jString {
		return dtypeFromV3(v.str)
	}
	name, _ := v.get("name")
	if name != nil && name.kind == jString && (name.str == "fixed_length_utf32" || name.str == "null_terminated_bytes") {
		// fixed-size text, as zarr-python 3 writes numpy 'U' and 'S' arrays
		return v3SizedType(v, name, "")
	}
	if v.kind != jObject || name == nil || name.kind != jString || name.str != "structured" {
		return DType{}, unsupported("unsupported data_type %s", jsonText(v))
	}
	cfg, _ := v.get("configuration")
	list, _ := cfg.get("fields")
	if list == nil || list.kind != jArray {
		return DType{}, fmt.Errorf("structured data_type without a \"fields\" list: %s", jsonText(v))
	}
	fields := make([]Field, 0, len(list.arr))
	for _, e := range list.arr {
		if e.kind != jArray || len(e.arr) != 2 || e.arr[0].kind != jString {
			return DType{}, fmt.Errorf("bad structured data_type field %s (want [name, data_type])", jsonText(e))
		}
		t, err := v3FieldType(e.arr[0].str, e.arr[1])
		if err != nil {
			return DType{}, err
		}
		fields = append(fields, Field{Name: e.arr[0].str, Type: t})
	}
	return NewRecord(fields)
}

func v3FieldType(field string, v *jvalue) (DType, error) {
	if v.kind == jString {
		d, ok := v3Names[v.str]
		if !ok || d.Kind == 'O' {
			return DType{}, unsupported("unsupported data_type %s of structured field %q", jsonText(v), field)
		}
		return d, nil
	}
	name, _ := v.get("name")
	if name != nil && name.kind == jString && name.str == "structured" {
		return DType{}, unsupported("structured field %q is itself structured (nested records are not supported)", field)
	}
	return v3SizedType(v, name, field)
}

// v3SizedType reads a fixed-size type with a length_bytes configuration
// (a structured field's when field is not "").
func v3SizedType(v, name *jvalue, field string) (DType, error) {
	of := ""
	if field != "" {
		of = fmt.Sprintf(" of structured field %q", field)
	}
	cfg, _ := v.get("configuration")
	n, _ := cfg.get("length_bytes")
	if name == nil || v3Sized[name.str] == 0 || n == nil || n.kind != jNumber || n.isFloatLiteral() {
		return DType{}, unsupported("unsupported data_type %s%s", jsonText(v), of)
	}
	size, err := strconv.Atoi(n.num)
	k := v3Sized[name.str]
	if err != nil || size <= 0 || size > maxItemSize || (k == 'U' && size%4 != 0) {
		return DType{}, fmt.Errorf("bad length_bytes %s%s", n.num, of)
	}
	d := DType{Kind: k, Size: size, Order: '|'}
	if k == 'U' {
		d.Order = '<'
	}
	return d, nil
}

// v3JSON is the v3 "data_type" value of a structured dtype, as
// zarr-python 3 writes it. Its fields must be little-endian: the v3 form
// has no byte order for them.
func (d DType) v3JSON() (any, error) {
	fields := make([]any, len(d.Rec.Fields))
	for i, f := range d.Rec.Fields {
		t := f.Type
		if f.Shape != nil {
			// zarr-python 3 has no data type for a sub-array field: it
			// stores one as raw bytes, and reads none back as a sub-array
			return nil, unsupported("structured field %q is a sub-array of shape %v, which has no zarr v3 form (zarr-python 3 would keep only its raw bytes)", f.Name, f.Shape)
		}
		if t.Order == '>' {
			return nil, unsupported("structured field %q is big-endian (%s), which has no zarr v3 form", f.Name, t)
		}
		var ft any
		if t.Kind == 'V' {
			ft = obj{{"name", "raw_bytes"}, {"configuration", obj{{"length_bytes", t.Size}}}}
		} else {
			var err error
			if ft, err = t.v3DataType(); err != nil {
				return nil, err
			}
		}
		fields[i] = []any{f.Name, ft}
	}
	return obj{{"name", "structured"}, {"configuration", obj{{"fields", fields}}}}, nil
}

// v3DataType is the v3 "data_type" value of d as zarr-python 3 writes it:
// a name, a fixed-size text type with its length, or a structured type.
func (d DType) v3DataType() (any, error) {
	switch {
	case d.Rec != nil:
		return d.v3JSON()
	case d.Kind == 'U':
		return obj{{"name", "fixed_length_utf32"}, {"configuration", obj{{"length_bytes", d.Size}}}}, nil
	case d.Kind == 'S':
		return obj{{"name", "null_terminated_bytes"}, {"configuration", obj{{"length_bytes", d.Size}}}}, nil
	}
	return d.V3Name()
}

// recordFill is a structured fill value's bytes: base64 of one element, as
// zarr-python writes it (shorter is padded with zeros).
func recordFill(d DType, fv *jvalue) ([]byte, error) {
	b := make([]byte, d.Size)
	if fv == nil || fv.kind == jNull {
		return b, nil
	}
	v, err := base64.StdEncoding.DecodeString(fv.str)
	if fv.kind != jString || err != nil || len(v) > d.Size {
		return nil, fmt.Errorf("bad fill_value %s for a structured dtype of %d bytes (want base64 of one element)", jsonText(fv), d.Size)
	}
	copy(b, v)
	return b, nil
}

// ZeroFill is the fill value of zeros for dtype d, as zarr-python 2 writes
// a structured array's default fill (base64 of a zero element).
func ZeroFill(d DType) json.RawMessage {
	return json.RawMessage(strconv.Quote(base64.StdEncoding.EncodeToString(make([]byte, d.Size))))
}

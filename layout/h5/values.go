package h5

// #include <stdlib.h>
// #include "values.h"
// #include "helpers.h"
import "C"

import (
	"fmt"

	"unsafe"
)

// Class is the kind of an HDF5 datatype, as far as AnnData needs it.
type Class int

const (
	ClassInt Class = iota
	ClassFloat
	ClassString
	ClassBool // h5py's numpy bool: an enum of int8 {FALSE: 0, TRUE: 1}
	ClassReference
	ClassOther // opaque, arrays, other enums...
	// ClassCompound is a compound (numpy record array); see compound.go.
	ClassCompound
	// ClassArray is an array type of Elem (a numpy sub-array field, as
	// h5py writes one: anndata < 0.7's obsm X_pca holds 50 float32 a cell).
	ClassArray
)

// TypeInfo describes a datatype: enough to name its numpy dtype and to
// create the same type again.
type TypeInfo struct {
	Class     Class
	Size      int // bytes per element (for variable-length strings, of the descriptor)
	BigEndian bool
	Signed    bool
	Vlen      bool // variable-length string
	Cset      int  // string character set: 0 ASCII, 1 UTF-8
	// Members of a compound, for CreateTyped (Dataset.Members reads them).
	Members []Member
	// Dims and Elem of an array type: Size is Elem.Size times the
	// product of Dims.
	Dims []int
	Elem *TypeInfo
}

func typeInfo(c C.ans_type_info) TypeInfo {
	t := TypeInfo{Class: Class(c.cls), Size: int(c.size), BigEndian: c.big_endian != 0,
		Signed: c.is_signed != 0, Vlen: c.vlen != 0, Cset: int(c.cset)}
	if c.ndims <= 0 {
		return t
	}
	elem := t
	a := TypeInfo{Class: ClassArray, Size: elem.Size, Elem: &elem, Dims: make([]int, int(c.ndims))}
	for i := range a.Dims {
		a.Dims[i] = int(c.dims[i])
		a.Size *= a.Dims[i]
	}
	return a
}

// cTypeInfo is t for ans_make_type_info: an array type as its element's
// type with dims.
func cTypeInfo(t TypeInfo) (C.ans_type_info, error) {
	var dims []int
	if t.Class == ClassArray {
		if t.Elem == nil || t.Elem.Class == ClassArray || t.Elem.Class == ClassCompound || len(t.Dims) == 0 || len(t.Dims) > C.ANS_MAX_ARRAY_RANK {
			return C.ans_type_info{}, fmt.Errorf("array type of %d dimensions of %+v (want 1 to %d of a plain type)", len(t.Dims), t.Elem, C.ANS_MAX_ARRAY_RANK)
		}
		dims, t = t.Dims, *t.Elem
	}
	c := C.ans_type_info{cls: C.int(t.Class), size: C.int(t.Size), big_endian: cbool(t.BigEndian),
		is_signed: cbool(t.Signed), vlen: cbool(t.Vlen), cset: C.int(t.Cset), ndims: C.int(len(dims))}
	for i, d := range dims {
		c.dims[i] = C.int64_t(d)
	}
	return c, nil
}

// TypeInfo describes the dataset's datatype.
func (d *Dataset) TypeInfo() (TypeInfo, error) {
	var c C.ans_type_info
	if C.ans_ds_type_info(d.id, &c) < 0 {
		return TypeInfo{}, fail("read the type of", d.Path)
	}
	return typeInfo(c), nil
}

// Len is the number of elements (1 for a scalar dataset).
func (d *Dataset) Len() int64 {
	n := int64(1)
	for _, x := range d.Dims {
		n *= x
	}
	return n
}

// ReadAll reads the whole dataset (any rank, 0-d too) as raw bytes in its
// own type. For small datasets and fixed-size types.
func (d *Dataset) ReadAll() ([]byte, error) {
	if d.VlenString || d.Variable {
		return nil, fmt.Errorf("%s: ReadAll on variable-length data", d.Path)
	}
	buf := make([]byte, d.Len()*int64(d.ElemSize)+1)
	if d.Len() > 0 && C.ans_read_all(d.id, unsafe.Pointer(&buf[0])) < 0 {
		return nil, fail("read", d.Path)
	}
	return buf[:len(buf)-1], nil
}

// ReadAllStrings reads every string of a variable-length string dataset of
// any rank, in C order.
func (d *Dataset) ReadAllStrings() ([]string, error) {
	var n C.size_t
	p := C.ans_read_all_strings(d.id, &n)
	if p == nil {
		return nil, fail("read strings of", d.Path)
	}
	defer C.ans_free_strings(p, n)
	ptrs := unsafe.Slice(p, int(n)+1)
	out := make([]string, int(n))
	for i := range out {
		if ptrs[i] != nil {
			out[i] = C.GoString(ptrs[i])
		}
	}
	return out, nil
}

// AttrNames lists the object's attributes in name order.
func (o *Object) AttrNames() ([]string, error) {
	n := int(C.ans_attr_count(o.id))
	if n < 0 {
		return nil, fail("list the attributes of", o.Path)
	}
	out := make([]string, 0, n)
	buf := make([]byte, 4096)
	for i := 0; i < n; i++ {
		l := int(C.ans_attr_name(o.id, C.int(i), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))))
		if l < 0 || l >= len(buf) {
			return nil, fail("list the attributes of", o.Path)
		}
		out = append(out, string(buf[:l]))
	}
	return out, nil
}

// AttrValue is an attribute read as a Go value: string, int64, float64 or
// bool when Scalar, else []string, []int64, []float64 or []bool (1-D or
// flattened). References and other types give an error from Attr.
type AttrValue struct {
	Type   TypeInfo
	Scalar bool
	Value  any
}

// Attr reads attribute name as a Go value.
func (o *Object) Attr(name string) (AttrValue, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var c C.ans_type_info
	var rank C.int
	var np C.int64_t
	if C.ans_attr_type_info(o.id, cs, &c, &rank, &np) < 0 {
		return AttrValue{}, fail("open attribute "+name+" of", o.Path)
	}
	v := AttrValue{Type: typeInfo(c), Scalar: rank == 0}
	n := int(np)
	if n < 0 {
		return v, fmt.Errorf("%s: attribute %q is empty (null dataspace)", o.Path, name)
	}
	switch v.Type.Class {
	case ClassString:
		s, ok := o.AttrStrings(name)
		if !ok {
			return v, fail("read attribute "+name+" of", o.Path)
		}
		if v.Scalar {
			v.Value = s[0]
		} else {
			v.Value = s
		}
	case ClassInt:
		x := make([]int64, n+1)
		if n > 0 && C.ans_attr_read_i64(o.id, cs, (*C.int64_t)(unsafe.Pointer(&x[0]))) < 0 {
			return v, fail("read attribute "+name+" of", o.Path)
		}
		if v.Scalar {
			v.Value = x[0]
		} else {
			v.Value = x[:n]
		}
	case ClassFloat:
		x := make([]float64, n+1)
		if n > 0 && C.ans_attr_read_f64(o.id, cs, (*C.double)(unsafe.Pointer(&x[0]))) < 0 {
			return v, fail("read attribute "+name+" of", o.Path)
		}
		if v.Scalar {
			v.Value = x[0]
		} else {
			v.Value = x[:n]
		}
	case ClassBool:
		x := make([]byte, n+1)
		if n > 0 && C.ans_attr_read_raw(o.id, cs, unsafe.Pointer(&x[0])) < 0 {
			return v, fail("read attribute "+name+" of", o.Path)
		}
		b := make([]bool, n)
		for i := range b {
			b[i] = x[i] != 0
		}
		if v.Scalar {
			v.Value = b[0]
		} else {
			v.Value = b
		}
	case ClassReference:
		return v, fmt.Errorf("%s: attribute %q is an object reference", o.Path, name)
	default:
		return v, fmt.Errorf("%s: attribute %q has an unsupported type (class %d)", o.Path, name, v.Type.Class)
	}
	return v, nil
}

// ---- creating ----

// CreateTyped creates a dataset of type t (little-endian unless
// t.BigEndian) with the given shape.
func (g *Group) CreateTyped(name string, t TypeInfo, dims []int64, l Layout) (*Dataset, error) {
	if t.Class == ClassCompound {
		return g.createCompound(name, t, dims, l)
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	path := join(g.Path, name)
	cdims, chunk, ext := l.cArgs(dims)
	id := C.ans_create_typed_dataset(g.id, cs, C.int(t.Class), C.int(t.Size), cbool(t.BigEndian), cbool(t.Signed),
		cbool(t.Vlen), C.int(t.Cset), C.int(len(dims)), &cdims[0], ext, chunk, C.int(l.Filter), C.int(l.Level))
	if id < 0 {
		return nil, fail("create dataset", path)
	}
	return newDataset(id, path, g.file)
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// WriteAll writes the whole dataset (any rank) from raw bytes in its type.
func (d *Dataset) WriteAll(raw []byte) error {
	if d.Len() == 0 {
		return nil
	}
	if int64(len(raw)) < d.Len()*int64(d.ElemSize) {
		return fmt.Errorf("%s: WriteAll with %d bytes, want %d", d.Path, len(raw), d.Len()*int64(d.ElemSize))
	}
	if C.ans_write_all(d.id, unsafe.Pointer(&raw[0])) < 0 {
		return fail("write", d.Path)
	}
	return nil
}

// WriteAttrString writes a scalar variable-length UTF-8 string attribute,
// as h5py writes a str.
func (o *Object) WriteAttrString(name, s string) error {
	cn, cv := C.CString(name), C.CString(s)
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(cv))
	if C.ans_write_attr_scalar_string(o.id, cn, cv) < 0 {
		return fail("write attribute "+name+" of", o.Path)
	}
	return nil
}

// WriteAttrInt64s writes an int64 attribute, scalar (one value) or 1-D.
func (o *Object) WriteAttrInt64s(name string, v []int64, scalar bool) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	buf := append(append([]int64(nil), v...), 0)
	if C.ans_write_attr_i64s(o.id, cn, (*C.int64_t)(unsafe.Pointer(&buf[0])), C.size_t(len(v)), cbool(scalar)) < 0 {
		return fail("write attribute "+name+" of", o.Path)
	}
	return nil
}

// WriteAttrFloat64 writes a scalar float64 attribute.
func (o *Object) WriteAttrFloat64(name string, v float64) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	if C.ans_write_attr_f64_scalar(o.id, cn, C.double(v)) < 0 {
		return fail("write attribute "+name+" of", o.Path)
	}
	return nil
}

// WriteAttrBools writes a bool attribute (h5py's enum type), scalar or 1-D.
func (o *Object) WriteAttrBools(name string, v []bool, scalar bool) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	buf := make([]int8, len(v)+1)
	for i, b := range v {
		if b {
			buf[i] = 1
		}
	}
	if C.ans_write_attr_bools(o.id, cn, (*C.int8_t)(unsafe.Pointer(&buf[0])), C.size_t(len(v)), cbool(scalar)) < 0 {
		return fail("write attribute "+name+" of", o.Path)
	}
	return nil
}

// AttrRefPath is the path of the object a scalar object-reference
// attribute points to.
func (o *Object) AttrRefPath(name string) (string, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	buf := make([]byte, 4096)
	n := int(C.ans_attr_ref_path(o.id, cs, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))))
	if n < 0 || n >= len(buf) {
		return "", fail("dereference attribute "+name+" of", o.Path)
	}
	return string(buf[:n]), nil
}

// WriteAttrRef writes a scalar object-reference attribute pointing to
// target, a path relative to group loc.
func (o *Object) WriteAttrRef(name string, loc *Group, target string) error {
	cn, ct := C.CString(name), C.CString(target)
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(ct))
	if C.ans_write_attr_ref(o.id, cn, loc.id, ct) < 0 {
		return fail("write attribute "+name+" of", o.Path)
	}
	return nil
}

// OpenObject opens the group or dataset at path (relative to g) as an
// Object, e.g. to write attributes.
func (g *Group) OpenObject(path string) (*Object, error) {
	defer quietThread()()
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	id := C.H5Oopen(g.id, cs, C.H5P_DEFAULT)
	if id < 0 {
		return nil, fail("open", join(g.Path, path))
	}
	return &Object{id: id, Path: join(g.Path, path), file: g.file}, nil
}

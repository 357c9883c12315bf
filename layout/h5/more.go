package h5

// #include <stdlib.h>
// #include "more.h"
// #include "helpers.h"
import "C"

import (
	"unsafe"
)

// CreateIntDataset creates a dataset of little-endian signed integers of
// the given byte width (1, 2, 4 or 8): for arrays whose values outgrow
// every input's type (a merged indptr past 2^31-1, more categories).
func (g *Group) CreateIntDataset(name string, width int, dims []int64, l Layout) (*Dataset, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	path := join(g.Path, name)
	cdims := make([]C.hsize_t, len(dims)+1)
	for i, d := range dims {
		cdims[i] = C.hsize_t(d)
	}
	ext := C.int(0)
	if l.Extent {
		ext = 1
	}
	id := C.ans_create_int_dataset(g.id, cs, C.int(width), C.int(len(dims)), &cdims[0], ext)
	if id < 0 {
		return nil, fail("create dataset", path)
	}
	return newDataset(id, path, g.file)
}

// WriteStringRows writes strs at rows [row0, row0+len(strs)) of a 1-D
// variable-length string dataset, so a long column is written in parts.
func (d *Dataset) WriteStringRows(strs []string, row0 int64, cset int) error {
	n := len(strs)
	if n == 0 {
		return nil
	}
	// one C block for the bytes, one for the pointers: not a malloc per string
	total := 0
	for _, s := range strs {
		total += len(s) + 1
	}
	block := C.malloc(C.size_t(total))
	defer C.free(block)
	ptrs := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(ptrs)
	bytes := unsafe.Slice((*byte)(block), total)
	arr := unsafe.Slice((**C.char)(ptrs), n)
	pos := 0
	for i, s := range strs {
		copy(bytes[pos:], s)
		bytes[pos+len(s)] = 0
		arr[i] = (*C.char)(unsafe.Pointer(&bytes[pos]))
		pos += len(s) + 1
	}
	if C.ans_write_string_rows(d.id, C.hsize_t(row0), &arr[0], C.size_t(n), C.int(cset)) < 0 {
		return fail("write strings of", d.Path)
	}
	return nil
}

// AttrStrings reads a string attribute (scalar or 1-D) as strings; ok is
// false when it is absent or not strings.
func (o *Object) AttrStrings(name string) ([]string, bool) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var n C.size_t
	p := C.ans_attr_strings(o.id, cs, &n)
	if p == nil {
		return nil, false
	}
	ptrs := unsafe.Slice(p, int(n)+1)
	out := make([]string, int(n))
	for i := range out {
		out[i] = C.GoString(ptrs[i])
		C.free(unsafe.Pointer(ptrs[i]))
	}
	C.free(unsafe.Pointer(p))
	return out, true
}

// WriteAttrStrings writes (replacing) a 1-D attribute of variable-length
// UTF-8 strings, the type h5py gives a list of str.
func (o *Object) WriteAttrStrings(name string, vals []string) error {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var first **C.char
	if len(vals) > 0 {
		arr := make([]*C.char, len(vals))
		for i, s := range vals {
			arr[i] = C.CString(s)
			defer C.free(unsafe.Pointer(arr[i]))
		}
		pin := C.malloc(C.size_t(len(arr)) * C.size_t(unsafe.Sizeof(uintptr(0))))
		defer C.free(pin)
		copy(unsafe.Slice((**C.char)(pin), len(arr)), arr)
		first = (**C.char)(pin)
	}
	if C.ans_write_attr_strings(o.id, cs, first, C.size_t(len(vals))) < 0 {
		return fail("write attribute "+name+" of", o.Path)
	}
	return nil
}

// WriteAttrFloat64s writes (replacing) a 1-D float64 attribute.
func (o *Object) WriteAttrFloat64s(name string, vals []float64) error {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var p *C.double
	if len(vals) > 0 {
		p = (*C.double)(unsafe.Pointer(&vals[0]))
	}
	if C.ans_write_attr_f64s(o.id, cs, p, C.size_t(len(vals))) < 0 {
		return fail("write attribute "+name+" of", o.Path)
	}
	return nil
}

// SameType reports whether two datasets, possibly of different files,
// have equal datatypes (class, width, byte order, sign, string kind).
func (d *Dataset) SameType(o *Dataset) bool { return C.ans_ds_types_equal(d.id, o.id) == 1 }

// Signed reports whether an integer dataset holds signed integers.
func (d *Dataset) Signed() bool { return C.ans_ds_int_signed(d.id) == 1 }

// AttrBool reads a scalar integer, enum or bool attribute as a truth
// value; ok is false when it is absent or not such a scalar.
func (o *Object) AttrBool(name string) (v, ok bool) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	r := C.ans_attr_truth(o.id, cs)
	return r == 1, r >= 0
}

// ObjectAddr is the file address of the object at path, relative to g.
func (g *Group) ObjectAddr(path string) (uint64, error) {
	defer quietThread()()
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	a := int64(C.ans_object_addr(g.id, cs))
	if a < 0 {
		return 0, fail("find", join(g.Path, path))
	}
	return uint64(a), nil
}

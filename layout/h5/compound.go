package h5

// #include <stdlib.h>
// #include "compound.h"
// #include "helpers.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// Member is one member of a compound type (a field of a numpy record).
type Member struct {
	Name   string
	Offset int
	Type   TypeInfo
}

// Members describes the members of a compound dataset's type, in order.
func (d *Dataset) Members() ([]Member, error) {
	n := int(C.ans_ds_compound_nmembers(d.id))
	if n < 0 {
		return nil, fmt.Errorf("%s: not a compound dataset", d.Path)
	}
	out := make([]Member, n)
	buf := make([]byte, 4096)
	for i := range out {
		var off C.int64_t
		var ti C.ans_type_info
		if C.ans_ds_compound_member(d.id, C.int(i), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &off, &ti) < 0 {
			return nil, fail(fmt.Sprintf("describe member %d of", i), d.Path)
		}
		out[i] = Member{Name: C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), Offset: int(off), Type: typeInfo(ti)}
	}
	return out, nil
}

// ReadMember reads member i of every element (any rank, C order), packed,
// in the member's own type. Not for variable-length strings (see
// ReadMemberStrings).
func (d *Dataset) ReadMember(i int, size int) ([]byte, error) {
	buf := make([]byte, d.Len()*int64(size)+1)
	if d.Len() > 0 && C.ans_read_member(d.id, C.int(i), unsafe.Pointer(&buf[0])) < 0 {
		return nil, fail(fmt.Sprintf("read member %d of", i), d.Path)
	}
	return buf[:len(buf)-1], nil
}

// ReadMemberStrings reads member i, a variable-length string, of every
// element.
func (d *Dataset) ReadMemberStrings(i int) ([]string, error) {
	var n C.size_t
	p := C.ans_read_member_strings(d.id, C.int(i), &n)
	if p == nil {
		return nil, fail(fmt.Sprintf("read member %d of", i), d.Path)
	}
	defer C.ans_free_strings(p, n)
	ptrs := unsafe.Slice(p, int(n)+1)
	out := make([]string, int(n))
	for k := range out {
		if ptrs[k] != nil {
			out[k] = C.GoString(ptrs[k])
		}
	}
	return out, nil
}

// createCompound creates a dataset of compound type t (t.Size bytes,
// t.Members). A compound holding variable-length strings has no fixed
// extent to write in place: give it no Layout.Extent.
func (g *Group) createCompound(name string, t TypeInfo, dims []int64, l Layout) (*Dataset, error) {
	path := join(g.Path, name)
	if len(t.Members) == 0 {
		return nil, fmt.Errorf("%s: compound type without members", path)
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	n := len(t.Members)
	names := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(names)
	nameSlice := unsafe.Slice((**C.char)(names), n)
	offs := make([]C.int64_t, n)
	types := make([]C.ans_type_info, n)
	for i, m := range t.Members {
		if m.Type.Class == ClassCompound {
			return nil, fmt.Errorf("%s: nested compound member %q", path, m.Name)
		}
		var err error
		if types[i], err = cTypeInfo(m.Type); err != nil {
			return nil, fmt.Errorf("%s: member %q: %v", path, m.Name, err)
		}
		nameSlice[i] = C.CString(m.Name)
		defer C.free(unsafe.Pointer(nameSlice[i]))
		offs[i] = C.int64_t(m.Offset)
	}
	cdims, chunk, ext := l.cArgs(dims)
	id := C.ans_create_compound_dataset(g.id, cs, C.int(t.Size), C.int(n), (**C.char)(names), &offs[0], &types[0],
		C.int(len(dims)), &cdims[0], ext, chunk, C.int(l.Filter), C.int(l.Level))
	if id < 0 {
		return nil, fail("create dataset", path)
	}
	return newDataset(id, path, g.file)
}

// WriteRecords writes every element of a compound dataset: raw holds the
// records in the dataset's layout, except its variable-length string
// members (at byte offsets vlen of each record), which are strs[e*len(vlen)+k].
func (d *Dataset) WriteRecords(raw []byte, vlen []int, strs []string) error {
	n := d.Len()
	if n == 0 {
		return nil
	}
	if int64(len(raw)) != n*int64(d.ElemSize) || int64(len(strs)) != n*int64(len(vlen)) {
		return fmt.Errorf("%s: WriteRecords with %d bytes and %d strings for %d records", d.Path, len(raw), len(strs), n)
	}
	size := 1
	for _, s := range strs {
		size += len(s) + 1
	}
	blob := C.malloc(C.size_t(size))
	defer C.free(blob)
	b := unsafe.Slice((*byte)(blob), size)
	soffs := make([]C.int64_t, len(strs)+1)
	pos := 0
	for i, s := range strs {
		soffs[i] = C.int64_t(pos)
		pos += copy(b[pos:], s)
		b[pos] = 0
		pos++
	}
	voffs := make([]C.int64_t, len(vlen)+1)
	for k, o := range vlen {
		voffs[k] = C.int64_t(o)
	}
	if C.ans_write_compound(d.id, unsafe.Pointer(&raw[0]), C.size_t(n), C.size_t(d.ElemSize), C.int(len(vlen)),
		&voffs[0], (*C.char)(blob), &soffs[0]) < 0 {
		return fail("write", d.Path)
	}
	return nil
}

// Package h5 is annslicer's access to HDF5: gonum.org/v1/hdf5 opens files,
// groups and datasets; thin C helpers (helpers.c) add what it lacks —
// attribute copy, H5Ocopy, early-allocated contiguous datasets and their
// file offsets, raw reads in the file's own type, the LZF filter.
package h5

// #cgo pkg-config: hdf5 liblzf
// #include <stdlib.h>
// #include "helpers.h"
// #include "storage.h"
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"gonum.org/v1/hdf5"
)

// quiet turns off libhdf5's error printing for the calling thread: in a
// thread-safe libhdf5 that setting is per thread, and Go moves goroutines
// between threads, so it is renewed before the calls that may fail.
func quiet() { C.ans_quiet() }

// quietThread locks the goroutine to its thread and silences libhdf5's
// error printing there, for calls into libhdf5 made directly rather than
// through our helpers (which silence their own thread): printing is per
// thread, and Go may run the next call on a thread never silenced, which
// printed "HDF5-DIAG: Error detected" for a probe expected to fail (seen
// with a thousand inputs). The returned func unlocks.
func quietThread() func() {
	runtime.LockOSThread()
	quiet()
	return runtime.UnlockOSThread
}

func init() {
	if C.ans_init() < 0 {
		panic("h5: cannot initialise libhdf5 or register the LZF filter")
	}
}

// lastError is libhdf5's innermost message for the failed call. The
// stack is per thread: a caller whose failing call may be slow locks its
// goroutine to its thread (Encode, Close, Open) or the message is lost.
func lastError() string {
	var buf [512]C.char
	C.ans_last_error(&buf[0], C.size_t(len(buf)))
	return C.GoString(&buf[0])
}

func fail(what, path string) error {
	msg := lastError()
	if msg == "" || msg == " ()" {
		return fmt.Errorf("%s %s failed", what, path)
	}
	return fmt.Errorf("%s %s: %s", what, path, msg)
}

// IsHDF5 reports whether the file carries an HDF5 signature.
func IsHDF5(path string) bool {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	quiet()
	return hdf5.IsHDF5(path)
}

// File is an open HDF5 file.
type File struct {
	gf   *hdf5.File
	id   C.hid_t
	Path string

	mu      sync.Mutex
	touched []touched // copied headers whose times to put back on Close
}

// Open opens an existing file read-only.
func Open(path string) (*File, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	quiet()
	f, err := hdf5.OpenFile(path, hdf5.F_ACC_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("cannot open: %s", trimH5(lastError(), err))
	}
	return &File{gf: f, id: C.hid_t(f.ID()), Path: path}, nil
}

func trimH5(msg string, err error) string {
	if msg != "" && msg != " ()" {
		return msg
	}
	return err.Error()
}

// Create creates (truncating) a file whose objects carry no timestamps, so
// the same calls always give the same bytes.
func Create(path string) (*File, error) { return create(path, false) }

// CreateV18 is Create in the HDF5 1.8 file format (superblock 2, object
// headers 2), which layout/h5w can extend.
func CreateV18(path string) (*File, error) { return create(path, true) }

func create(path string, v18 bool) (*File, error) {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	id := C.ans_create_file(cs, cbool(v18))
	if id < 0 {
		return nil, fail("create", path)
	}
	return &File{id: id, Path: path}, nil
}

func (f *File) Close() error {
	defer quietThread()() // the error stack is per thread: see lastError
	f.mu.Lock()
	ts := f.touched
	f.touched = nil
	f.mu.Unlock()
	var base int64
	var stillOpen error
	if len(ts) > 0 {
		base = int64(C.ans_userblock(f.id))
		// the headers are patched on disk once libhdf5 has let go of
		// them, which it does only when nothing of the file is open
		if base < 0 || C.H5Fget_obj_count(f.id, C.H5F_OBJ_ALL|C.H5F_OBJ_LOCAL) != 1 {
			stillOpen = fmt.Errorf("close %s: objects of it are still open, so copied objects' times cannot be restored", f.Path)
		}
	}
	if f.gf != nil {
		// gonum says only "code -1": libhdf5's own message says what
		// failed (a full disk when flushing, say).
		if err := f.gf.Close(); err != nil {
			return fmt.Errorf("close %s: %s", f.Path, trimH5(lastError(), err))
		}
	} else if C.H5Fclose(f.id) < 0 {
		return fail("close", f.Path)
	}
	if stillOpen != nil {
		return stillOpen
	}
	return f.restoreTimes(ts, base)
}

// Root is the file's root group.
func (f *File) Root() (*Group, error) { return f.openGroup(f.id, "/", "/") }

func (f *File) openGroup(loc C.hid_t, name, path string) (*Group, error) {
	defer quietThread()()
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	id := C.H5Gopen2(loc, cs, C.H5P_DEFAULT)
	if id < 0 {
		return nil, fail("open group", path)
	}
	return &Group{Object{id: id, Path: path, file: f}}, nil
}

// Object is an open group or dataset.
type Object struct {
	id   C.hid_t
	Path string
	file *File
}

func (o *Object) Close() { C.H5Oclose(o.id) }

// File is the file the object lives in.
func (o *Object) File() *File { return o.file }

// AttrString reads a string attribute; ok is false when it is absent or
// not a string.
func (o *Object) AttrString(name string) (string, bool) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	buf := make([]byte, 4096)
	n := C.ans_attr_string(o.id, cs, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	if n < 0 {
		return "", false
	}
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), true
}

// AttrInts reads an integer attribute (scalar or 1-D) as int64s.
func (o *Object) AttrInts(name string) ([]int64, bool) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	out := make([]int64, 32)
	n := C.ans_attr_int64s(o.id, cs, (*C.int64_t)(unsafe.Pointer(&out[0])), C.int(len(out)))
	if n < 0 {
		return nil, false
	}
	return out[:n], true
}

// HasAttr reports whether the attribute exists.
func (o *Object) HasAttr(name string) bool {
	defer quietThread()()
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.H5Aexists(o.id, cs) > 0
}

// CopyAttrsTo copies every attribute verbatim (type, shape, value) except
// the skipped ones; object references are re-pointed into dst's file.
func (o *Object) CopyAttrsTo(dst *Object, skip ...string) error {
	var cs [2]*C.char
	for i := 0; i < len(skip) && i < 2; i++ {
		cs[i] = C.CString(skip[i])
		defer C.free(unsafe.Pointer(cs[i]))
	}
	if C.ans_copy_attrs(o.id, dst.id, cs[0], cs[1]) < 0 {
		return fail("copy attributes of", o.Path)
	}
	return nil
}

// WriteAttrInts writes integers as attribute name of o, in the type that
// attribute has on like (the source element), so dtypes never change.
func (o *Object) WriteAttrInts(name string, like *Object, vals []int64) error {
	defer quietThread()()
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	a := C.H5Aopen(like.id, cs, C.H5P_DEFAULT)
	if a < 0 {
		return fail("open attribute "+name+" of", like.Path)
	}
	defer C.H5Aclose(a)
	t := C.H5Aget_type(a)
	defer C.H5Tclose(t)
	if C.ans_write_attr_int64s(o.id, cs, t, (*C.int64_t)(unsafe.Pointer(&vals[0])), C.int(len(vals))) < 0 {
		return fail("write attribute "+name+" of", o.Path)
	}
	return nil
}

// Group is an open group.
type Group struct{ Object }

// Child is one member of a group.
type Child struct {
	Name    string
	IsGroup bool
	Other   bool // neither group nor dataset (committed type, broken link)
}

// Children lists members in name order, as h5py does.
func (g *Group) Children() ([]Child, error) {
	n := int(C.ans_child_count(g.id))
	if n < 0 {
		return nil, fail("list", g.Path)
	}
	out := make([]Child, 0, n)
	buf := make([]byte, 4096)
	for i := 0; i < n; i++ {
		var kind C.int
		l := C.ans_child_name(g.id, C.int(i), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &kind)
		if l < 0 {
			return nil, fail("list", g.Path)
		}
		out = append(out, Child{Name: string(buf[:l]), IsGroup: kind == 1, Other: kind == 2})
	}
	return out, nil
}

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// Has reports whether the group has a member of that name.
func (g *Group) Has(name string) bool {
	defer quietThread()()
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.H5Lexists(g.id, cs, C.H5P_DEFAULT) > 0
}

// IsGroup reports whether member name is a group.
func (g *Group) IsGroup(name string) bool {
	defer quietThread()()
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	if C.H5Lexists(g.id, cs, C.H5P_DEFAULT) <= 0 {
		return false
	}
	id := C.H5Oopen(g.id, cs, C.H5P_DEFAULT)
	if id < 0 {
		return false
	}
	defer C.H5Oclose(id)
	return C.H5Iget_type(id) == C.H5I_GROUP
}

func (g *Group) OpenGroup(name string) (*Group, error) {
	return g.file.openGroup(g.id, name, join(g.Path, name))
}

func (g *Group) OpenDataset(name string) (*Dataset, error) {
	defer quietThread()()
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	path := join(g.Path, name)
	id := C.H5Dopen2(g.id, cs, C.H5P_DEFAULT)
	if id < 0 {
		return nil, fail("open dataset", path)
	}
	return newDataset(id, path, g.file)
}

func newDataset(id C.hid_t, path string, f *File) (*Dataset, error) {
	d := &Dataset{Object: Object{id: id, Path: path, file: f}}
	space := C.H5Dget_space(id)
	defer C.H5Sclose(space)
	rank := int(C.H5Sget_simple_extent_ndims(space))
	if rank < 0 {
		d.Close()
		return nil, fail("read shape of", path)
	}
	dims := make([]C.hsize_t, rank+1)
	C.H5Sget_simple_extent_dims(space, &dims[0], nil)
	for i := 0; i < rank; i++ {
		d.Dims = append(d.Dims, int64(dims[i]))
	}
	t := C.H5Dget_type(id)
	defer C.H5Tclose(t)
	d.ElemSize = int(C.H5Tget_size(t))
	d.VlenString = C.ans_is_vlen_string(t) == 1
	if !d.VlenString {
		var offs [64]C.int64_t
		if n := int(C.ans_compound_vlen_string_offsets(t, &offs[0], C.int(len(offs)))); n > 0 {
			for _, o := range offs[:n] {
				d.VlenStringFields = append(d.VlenStringFields, int64(o))
			}
		}
	}
	d.Variable = C.ans_needs_conversion_walk(t) == 1 || C.H5Tdetect_class(t, C.H5T_REFERENCE) > 0
	d.IsInteger = C.H5Tget_class(t) == C.H5T_INTEGER
	d.BigEndian = C.H5Tget_class(t) != C.H5T_STRING && C.H5Tget_order(t) == C.H5T_ORDER_BE
	return d, nil
}

// CreateGroup creates a member group (no timestamps).
func (g *Group) CreateGroup(name string) (*Group, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	path := join(g.Path, name)
	id := C.ans_create_group(g.id, cs)
	if id < 0 {
		return nil, fail("create group", path)
	}
	return &Group{Object{id: id, Path: path, file: g.file}}, nil
}

// CopyFrom copies src's member name, whole, to member dstName of g.
func (g *Group) CopyFrom(src *Group, name, dstName string) error {
	cs, cd := C.CString(name), C.CString(dstName)
	defer C.free(unsafe.Pointer(cs))
	defer C.free(unsafe.Pointer(cd))
	var t *C.ans_touched
	var n C.size_t
	st := C.ans_copy_object(src.id, cs, g.id, cd, &t, &n)
	if n > 0 {
		g.file.noteTouched(unsafe.Slice(t, int(n)))
	}
	C.free(unsafe.Pointer(t))
	if st < 0 {
		return fail("copy", join(src.Path, name))
	}
	return nil
}

// Filter selects the compression of a chunked dataset.
type Filter int

const (
	NoFilter Filter = iota
	Gzip
	LZF
)

// Layout says how a new dataset stores its bytes.
type Layout struct {
	// Extent: contiguous, allocated at creation and never filled, so its
	// bytes occupy a fixed range of the file that is written afterwards.
	Extent bool
	Chunk  []int64 // chunked when non-nil (and not Extent)
	Filter Filter
	Level  int
}

// cArgs converts a shape and layout for ans_create_*dataset.
func (l Layout) cArgs(dims []int64) (cdims []C.hsize_t, chunk *C.hsize_t, ext C.int) {
	cdims = make([]C.hsize_t, len(dims)+1)
	for i, d := range dims {
		cdims[i] = C.hsize_t(d)
	}
	if l.Chunk != nil && !l.Extent {
		cc := make([]C.hsize_t, len(dims)+1)
		for i, c := range l.Chunk {
			cc[i] = C.hsize_t(c)
		}
		chunk = &cc[0]
	}
	if l.Extent {
		ext = 1
	}
	return cdims, chunk, ext
}

// CreateDataset creates a dataset with like's datatype and the given shape.
func (g *Group) CreateDataset(name string, like *Dataset, dims []int64, l Layout) (*Dataset, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	path := join(g.Path, name)
	t := C.H5Dget_type(like.id)
	defer C.H5Tclose(t)
	cdims, chunk, ext := l.cArgs(dims)
	id := C.ans_create_dataset(g.id, cs, t, C.int(len(dims)), &cdims[0], ext, chunk, C.int(l.Filter), C.int(l.Level))
	if id < 0 {
		return nil, fail("create dataset", path)
	}
	return newDataset(id, path, g.file)
}

// Dataset is an open dataset.
type Dataset struct {
	Object
	Dims       []int64
	ElemSize   int
	VlenString bool
	// VlenStringFields: a compound (record array) whose only variable-length
	// parts are string members; their byte offsets in a record.
	VlenStringFields []int64
	Variable         bool // holds variable-length data or references: not raw-copyable
	IsInteger        bool
	BigEndian        bool
}

// RowBytes is the byte size of one index along the first axis.
func (d *Dataset) RowBytes() int64 {
	n := int64(d.ElemSize)
	for _, x := range d.Dims[1:] {
		n *= x
	}
	return n
}

// Offset is the file offset of a contiguous dataset's bytes, or -1 when it
// has none (chunked, compact, or never allocated).
func (d *Dataset) Offset() int64 { return int64(C.ans_ds_offset(d.id)) }

// Plain reports whether the bytes lie as-is in one contiguous file range
// (no filters), so they can be read with pread, bypassing libhdf5.
func (d *Dataset) Plain() bool {
	return C.ans_ds_layout(d.id) == C.H5D_CONTIGUOUS && C.ans_ds_nfilters(d.id) == 0 && d.Offset() >= 0
}

// ReadRows reads rows [row0, row0+n) as raw bytes in the dataset's type.
func (d *Dataset) ReadRows(buf []byte, row0, n int64) error {
	if n == 0 {
		return nil
	}
	if int64(len(buf)) < n*d.RowBytes() {
		return errors.New("h5: ReadRows buffer too small")
	}
	if C.ans_read_rows(d.id, C.hsize_t(row0), C.hsize_t(n), unsafe.Pointer(&buf[0])) < 0 {
		return fail("read", d.Path)
	}
	return nil
}

// WriteRows writes rows [row0, row0+n) from raw bytes in the dataset's type.
func (d *Dataset) WriteRows(buf []byte, row0, n int64) error {
	if n == 0 {
		return nil
	}
	if C.ans_write_rows(d.id, C.hsize_t(row0), C.hsize_t(n), unsafe.Pointer(&buf[0])) < 0 {
		return fail("write", d.Path)
	}
	return nil
}

// ReadInt64s reads elements [row0, row0+n) of a 1-D integer dataset.
func (d *Dataset) ReadInt64s(row0, n int64) ([]int64, error) {
	out := make([]int64, n+1)
	if n > 0 && C.ans_read_int64s(d.id, C.hsize_t(row0), C.hsize_t(n), (*C.int64_t)(unsafe.Pointer(&out[0]))) < 0 {
		return nil, fail("read", d.Path)
	}
	return out[:n], nil
}

// ReadInt64Points reads the given elements of a 1-D integer dataset.
func (d *Dataset) ReadInt64Points(rows []int64) ([]int64, error) {
	out := make([]int64, len(rows)+1)
	if len(rows) > 0 && C.ans_read_int64_points(d.id, (*C.hsize_t)(unsafe.Pointer(&rows[0])), C.size_t(len(rows)), (*C.int64_t)(unsafe.Pointer(&out[0]))) < 0 {
		return nil, fail("read", d.Path)
	}
	return out[:len(rows)], nil
}

// ReadStrings reads a 1-D variable-length string dataset: the given rows in
// their order, or all of it when rows is nil. cset is the character set.
func (d *Dataset) ReadStrings(rows []int64) (strs []string, cset int, err error) {
	n := d.Dims[0]
	var rp *C.hsize_t
	if rows != nil {
		n = int64(len(rows))
		if n > 0 {
			rp = (*C.hsize_t)(unsafe.Pointer(&rows[0]))
		}
	}
	var cs C.int
	p := C.ans_read_strings(d.id, rp, C.size_t(n), &cs)
	if p == nil {
		return nil, 0, fail("read strings of", d.Path)
	}
	defer C.ans_free_strings(p, C.size_t(n))
	ptrs := unsafe.Slice(p, n)
	strs = make([]string, n)
	for i, s := range ptrs {
		if s != nil {
			strs[i] = C.GoString(s)
		}
	}
	return strs, int(cs), nil
}

// WriteStrings writes a whole 1-D variable-length string dataset. The
// strings go to C in one block (NUL-separated) rather than one allocation
// each.
func (d *Dataset) WriteStrings(strs []string, cset int) error {
	n := len(strs)
	if n == 0 {
		return nil
	}
	total := 0
	for _, s := range strs {
		total += len(s) + 1
	}
	block := unsafe.Slice((*byte)(C.malloc(C.size_t(total))), total)
	defer C.free(unsafe.Pointer(&block[0]))
	ptrs := unsafe.Slice((**C.char)(C.malloc(C.size_t(n)*C.size_t(unsafe.Sizeof(uintptr(0))))), n)
	defer C.free(unsafe.Pointer(&ptrs[0]))
	at := 0
	for i, s := range strs {
		copy(block[at:], s)
		block[at+len(s)] = 0
		ptrs[i] = (*C.char)(unsafe.Pointer(&block[at]))
		at += len(s) + 1
	}
	if C.ans_write_strings(d.id, &ptrs[0], C.size_t(n), C.int(cset)) < 0 {
		return fail("write strings of", d.Path)
	}
	return nil
}

// Flush asks libhdf5 to write out what it buffers for the file.
func (f *File) Flush() error {
	defer quietThread()()
	if C.H5Fflush(f.id, C.H5F_SCOPE_GLOBAL) < 0 {
		return fail("flush", f.Path)
	}
	return nil
}

// Chunk is the chunk shape of a chunked dataset, nil otherwise.
func (d *Dataset) Chunk() []int64 {
	var dims [32]C.hsize_t
	r := int(C.ans_ds_chunk(d.id, &dims[0], 32))
	if r == 0 {
		return nil
	}
	out := make([]int64, r)
	for i := range out {
		out[i] = int64(dims[i])
	}
	return out
}

// Filtered reports whether the dataset's chunks pass through filters.
func (d *Dataset) Filtered() bool { return C.ans_ds_nfilters(d.id) > 0 }

// ChunkAddr is the file offset of the chunk whose first element is at
// coord; -1 when that chunk was never written (it reads as the fill value).
func (d *Dataset) ChunkAddr(coord []int64) (int64, error) {
	c := make([]C.hsize_t, len(coord)+1)
	for i, x := range coord {
		c[i] = C.hsize_t(x)
	}
	var mask C.unsigned
	var size C.hsize_t
	a := int64(C.ans_chunk_addr(d.id, &c[0], &mask, &size))
	if a == -2 {
		return 0, fail("locate a chunk of", d.Path)
	}
	return a, nil
}

// Sizes are the file's byte widths of addresses and lengths.
func (f *File) Sizes() (addr, length int, err error) {
	var a, l C.size_t
	if C.ans_file_sizes(f.id, &a, &l) < 0 {
		return 0, 0, fail("read the superblock of", f.Path)
	}
	return int(a), int(l), nil
}

// OpenRW opens an existing file for reading and writing.
func OpenRW(path string) (*File, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	quiet()
	f, err := hdf5.OpenFile(path, hdf5.F_ACC_RDWR)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s for writing: %s", path, trimH5(lastError(), err))
	}
	return &File{gf: f, id: C.hid_t(f.ID()), Path: path}, nil
}

// WriteChunk writes the chunk starting at coord, already passed through
// the dataset's filters except those whose bit is set in mask.
func (d *Dataset) WriteChunk(coord []int64, mask uint32, data []byte) error {
	c := make([]C.hsize_t, len(coord)+1)
	for i, x := range coord {
		c[i] = C.hsize_t(x)
	}
	if C.ans_write_chunk(d.id, &c[0], C.uint32_t(mask), unsafe.Pointer(&data[0]), C.size_t(len(data))) < 0 {
		return fail("write a chunk of", d.Path)
	}
	return nil
}

// LZFCompress compresses src into dst as the LZF filter does; it returns 0
// when the result would not fit in dst (the chunk is then stored raw).
func LZFCompress(dst, src []byte) int {
	if len(src) == 0 || len(dst) == 0 {
		return 0
	}
	return int(C.ans_lzf_compress(unsafe.Pointer(&src[0]), C.size_t(len(src)), unsafe.Pointer(&dst[0]), C.size_t(len(dst))))
}

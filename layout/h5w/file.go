// Package h5w writes HDF5 files in Go: the subset an h5ad skeleton uses
// (groups with their links in the object header, attributes, contiguous
// datasets of numbers, bools, strings, records and references,
// variable-length strings in global heap collections), in the file format
// libhdf5 1.8 and later read (superblock 2, object headers 2).
//
// Why not libhdf5: it serialises every call behind one lock and decides
// where things go only as it writes them, so a shard's size was known only
// after building it (8 ms a shard). Here the layout is arithmetic: the
// bytes and the size of a skeleton come from the plan alone, on any core.
//
// A file is either complete (New: our superblock at 0) or an extension of
// a file libhdf5 wrote (Append: a per-source template holding the verbatim
// elements; our objects link to its objects by address, and our root
// replaces its root in the superblock).
package h5w

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/annslicer/annslicer/layout/h5"
)

// Undef is HDF5's undefined address.
const Undef = ^uint64(0)

const superSize = 48 // superblock version 2 or 3 with 8-byte offsets

// Extents of alignFrom bytes or more start on a page: the kernel copies
// page-aligned ranges between files (copy_file_range: merge, a shard's
// bytes taken from its source) without moving them through the CPU, and
// page cache reads of a large array start on a page. The padding is
// zeros, at most a page per large array.
const (
	alignFrom = 64 << 10
	alignTo   = 4096
)

// ErrUnsupported wraps what this writer does not express (an attribute
// over 64 KiB, say); callers fall back to libhdf5.
var ErrUnsupported = errors.New("not written by the Go HDF5 writer")

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// File is an HDF5 file being described; Finish lays it out.
type File struct {
	base     int64  // the first address of our objects
	template []byte // the template's superblock (Append), nil for New
	root     *Object
	objs     []*Object // creation order, root first
	// Resolve gives the address of an object inside the template, by the
	// template path of an external link's target plus the rest of the
	// path ("3/cat"); references into the template need it.
	Resolve func(path string) (uint64, bool)
}

// New starts a file of its own.
func New() *File {
	f := &File{base: superSize}
	f.root = &Object{f: f, group: true}
	f.objs = []*Object{f.root}
	return f
}

// Append starts objects after an existing file of size size whose first
// superSize bytes are super (version 2 or 3): Finish gives the superblock
// to write over it, with our root and the new end of file.
func Append(super []byte, size int64) (*File, error) {
	if len(super) < superSize || string(super[:8]) != "\x89HDF\r\n\x1a\n" || (super[8] != 2 && super[8] != 3) || super[9] != 8 || super[10] != 8 {
		return nil, unsupported("the template's superblock is not version 2 or 3 with 8-byte addresses")
	}
	f := &File{base: size, template: append([]byte(nil), super[:superSize]...)}
	f.root = &Object{f: f, group: true}
	f.objs = []*Object{f.root}
	return f, nil
}

// Root is the root group.
func (f *File) Root() *Object { return f.root }

type link struct {
	name  string
	obj   *Object
	addr  uint64 // an object of the template
	tpath string // its path in the template
}

type attr struct {
	name  string
	v     *AttrValue
	first int    // the heap index of v.strs[0]
	ref   string // a reference's target, relative to refIn
	refIn *Object
}

// Object is a group or a dataset.
type Object struct {
	f     *File
	name  string
	group bool
	links []link
	attrs []attr

	t      h5.TypeInfo
	shape  []int64
	data   []byte   // written in the metadata area (nil for Strings)
	size   int      // bytes in the metadata area: len(data), or a descriptor per string
	strs   []string // the variable-length strings of data, in order
	list   StrList  // Strings' elements instead of strs (StringList)
	first  int      // the heap index of strs[0]
	extent int64    // bytes placed after the metadata, filled by the caller

	addr, dataAddr uint64
}

// Has reports whether g links name.
func (g *Object) Has(name string) bool {
	for _, l := range g.links {
		if l.name == name {
			return true
		}
	}
	return false
}

// Group creates a group in g.
func (g *Object) Group(name string) *Object {
	o := &Object{f: g.f, name: name, group: true}
	g.links = append(g.links, link{name: name, obj: o})
	g.f.objs = append(g.f.objs, o)
	return o
}

// LinkTemplate links name in g to the object at addr in the template,
// whose path there is tpath.
func (g *Object) LinkTemplate(name string, addr uint64, tpath string) {
	g.links = append(g.links, link{name: name, addr: addr, tpath: tpath})
}

// Dataset creates a dataset of type t (as h5.Group.CreateTyped takes it:
// a variable-length string is any size; records are laid out for the
// file, see FileType) and shape (nil: a scalar). Give it its bytes with
// Data or Reserve.
func (g *Object) Dataset(name string, t h5.TypeInfo, shape []int64) *Object {
	o := &Object{f: g.f, name: name, t: t, shape: shape}
	g.links = append(g.links, link{name: name, obj: o})
	g.f.objs = append(g.f.objs, o)
	return o
}

// Data sets the dataset's bytes, in the file's layout; strs fill its
// variable-length string slots in order (element by element).
func (d *Object) Data(raw []byte, strs []string) { d.data, d.size, d.strs = raw, len(raw), strs }

// Strings sets a variable-length string dataset's elements: its bytes
// are their heap IDs, made as the metadata is written (a merged obs index
// of millions of names needs no buffer of them).
func (d *Object) Strings(strs []string) { d.data, d.size, d.strs = nil, VlenSize*len(strs), strs }

// StringList is Strings with elements read back in order from l (held
// outside the Go heap: a merge's names), read as the file is laid out and
// again as its heap and IDs are written.
func (d *Object) StringList(l StrList) {
	d.data, d.size, d.strs, d.list = nil, VlenSize*l.Len(), nil, l
}

// StrList is strings read back in order (tree.StrList).
type StrList interface {
	Len() int
	// Each calls f with strings [lo, hi) in order, stopping at f's first
	// error; s is valid during the call only.
	Each(lo, hi int, f func(s string) error) error
}

// Reserve places the dataset's n bytes after the metadata; Finish says
// where.
func (d *Object) Reserve(n int64) { d.extent = n }

// Attr writes an attribute of type t and shape (nil: scalar) with raw
// bytes in the file's layout, strs filling its string slots.
func (o *Object) Attr(name string, t h5.TypeInfo, shape []int64, raw []byte, strs []string) {
	o.attrs = append(o.attrs, attr{name: name, v: newAttrValue(t, shape, raw, strs)})
}

// GrowAttrs makes room for n more attributes.
func (o *Object) GrowAttrs(n int) { o.attrs = slices.Grow(o.attrs, n) }

// AttrRef writes a scalar object reference to target, a path relative
// to group in.
func (o *Object) AttrRef(name string, in *Object, target string) {
	o.attrs = append(o.attrs, attr{name: name, v: refValue, ref: target, refIn: in})
}

// FileType is t with every variable-length string member VlenSize bytes
// and the members of a record packed in order, as h5py lays records out
// in a file (in memory a string member is a pointer).
func FileType(t h5.TypeInfo) h5.TypeInfo {
	switch t.Class {
	case h5.ClassString:
		if t.Vlen {
			t.Size = VlenSize
		}
	case h5.ClassArray:
		if t.Elem != nil {
			e := FileType(*t.Elem)
			n := t.Size / max(1, t.Elem.Size)
			t.Elem, t.Size = &e, e.Size*n
		}
	case h5.ClassCompound:
		if len(vlenSlots(t, 0, nil)) == 0 {
			return t
		}
		ms := make([]h5.Member, len(t.Members))
		off := 0
		for i, m := range t.Members {
			m.Type = FileType(m.Type)
			m.Offset = off
			off += m.Type.Size
			ms[i] = m
		}
		t.Members, t.Size = ms, off
	}
	return t
}

// Placed is where a reserved dataset's bytes go.
type Placed struct {
	Obj  *Object
	Off  int64
	Size int64
}

// Layout is a finished file: Super at 0 (over the template's, for
// Append), MetaLen bytes of metadata at MetaOff (WriteMeta), then the
// reserved extents up to Size.
type Layout struct {
	Super   []byte
	MetaOff int64
	MetaLen int64
	Extents []Placed
	Size    int64

	f     *File // until the metadata is written
	sizes []int
	heap  *heap
}

func pad8(n int) int { return (n + 7) &^ 7 }

// Size is the size of the finished file, without making its bytes.
func (f *File) Size() (int64, error) {
	_, _, _, _, end, err := f.place()
	return int64(end), err
}

// place gives every object, string and extent its address: object
// headers, global heap collections, small data, then the reserved
// extents. It returns the headers' sizes, the heap, the extents and the
// end of the metadata and of the file.
func (f *File) place() ([]int, *heap, []Placed, uint64, uint64, error) {
	// every header's size first (addresses are fixed-size)
	sizes := make([]int, len(f.objs))
	cur := uint64(f.base)
	var msgs []byte
	for i, o := range f.objs {
		var err error
		if msgs, err = o.messages(nil, msgs[:0]); err != nil {
			return nil, nil, nil, 0, 0, err
		}
		sizes[i] = headerSize(len(msgs))
		o.addr = cur
		cur += uint64(sizes[i])
	}
	parts := 0
	for _, o := range f.objs {
		parts += len(o.attrs) + 1
	}
	h := &heap{parts: make([]heapPart, 0, parts), starts: make([]int, 0, parts)}
	for _, o := range f.objs {
		for i := range o.attrs {
			o.attrs[i].first = h.add(heapPart{ss: o.attrs[i].v.strs})
		}
		o.first = h.add(heapPart{ss: o.strs, l: o.list})
	}
	cur, err := h.place(cur)
	if err != nil {
		return nil, nil, nil, 0, 0, err
	}
	for _, o := range f.objs {
		o.dataAddr = Undef
		if !o.group && o.size > 0 {
			o.dataAddr = cur
			cur += uint64(o.size)
		}
	}
	metaEnd := cur
	var ext []Placed
	for _, o := range f.objs {
		if !o.group && o.extent > 0 {
			cur = extentAt(cur, o.extent)
			o.dataAddr = cur
			ext = append(ext, Placed{Obj: o, Off: int64(cur), Size: o.extent})
			cur += uint64(o.extent)
		}
	}
	return sizes, h, ext, metaEnd, cur, nil
}

// extentAt is where an extent of n bytes goes with the file at cur: a
// large one starts on a page (place and Sizer both ask here).
func extentAt(cur uint64, n int64) uint64 {
	if n >= alignFrom {
		return (cur + alignTo - 1) &^ (alignTo - 1)
	}
	return cur
}

// Finish lays the file out; WriteMeta then makes its metadata.
func (f *File) Finish() (*Layout, error) {
	sizes, h, ext, metaEnd, cur, err := f.place()
	if err != nil {
		return nil, err
	}
	return &Layout{Super: f.super(cur), MetaOff: f.base, MetaLen: int64(metaEnd) - f.base, Extents: ext, Size: int64(cur),
		f: f, sizes: sizes, heap: h}, nil
}

// metaChunk is the most bytes of string IDs made at once.
const metaChunk = 256 << 10

// WriteMeta writes the metadata (MetaLen bytes, to go at MetaOff) to w,
// a header, a heap collection or a window of string IDs at a time, and
// lets go of the file's objects: it is called once.
func (l *Layout) WriteMeta(w io.Writer) error {
	f := l.f
	if f == nil {
		return errors.New("h5w: the metadata was written already")
	}
	l.f = nil
	var buf, msgs []byte
	ids := l.heap.ids()
	for i, o := range f.objs {
		var err error
		if msgs, err = o.messages(ids, msgs[:0]); err != nil {
			return err
		}
		buf = appendHeader(buf[:0], msgs)
		if len(buf) != l.sizes[i] {
			return fmt.Errorf("h5w: the header of %q changed size", o.name)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	if err := l.heap.writeTo(w, &buf); err != nil {
		return err
	}
	for _, o := range f.objs {
		if o.dataAddr == Undef || o.extent != 0 {
			continue
		}
		t := FileType(o.t)
		per := len(vlenSlots(t, 0, nil))
		esz := max(1, t.Size)
		step := max(1, metaChunk/esz) * esz
		for off := 0; off < o.size; off += step {
			n := min(step, o.size-off)
			buf = append(buf[:0], make([]byte, n)...)
			if o.data != nil {
				copy(buf, o.data[off:off+n])
			}
			first := o.first + off/esz*per
			if err := fillIDs(buf, t, ids, first, n/esz*per); err != nil {
				return fmt.Errorf("%s: %v", o.name, err)
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
	}
	return nil
}

// MetaBytes is WriteMeta into memory.
func (l *Layout) MetaBytes() ([]byte, error) {
	var b bytes.Buffer
	b.Grow(int(l.MetaLen))
	err := l.WriteMeta(&b)
	return b.Bytes(), err
}

func (f *File) super(eof uint64) []byte {
	s := make([]byte, superSize)
	if f.template != nil {
		copy(s, f.template)
	} else {
		copy(s, "\x89HDF\r\n\x1a\n")
		s[8], s[9], s[10] = 2, 8, 8
		binary.LittleEndian.PutUint64(s[20:], Undef) // no superblock extension
	}
	binary.LittleEndian.PutUint64(s[12:], 0) // base address
	binary.LittleEndian.PutUint64(s[28:], eof)
	binary.LittleEndian.PutUint64(s[36:], f.root.addr)
	binary.LittleEndian.PutUint32(s[44:], h5.Checksum(s[:44]))
	return s
}

// messages appends o's header messages to b (each: type, body size,
// flags, body, as they lie in a version-2 header); with ids nil, heap IDs
// and addresses are left zero (sizes only). One buffer for every message
// of every header: a mount sizes thousands of shards, and building each
// message apart was a third of the bytes it allocated.
func (o *Object) messages(ids *heapIDs, b []byte) ([]byte, error) {
	var err error
	// msg appends a message whose body body appends
	msg := func(typ, flags byte, body func(b []byte) []byte) {
		if err != nil {
			return
		}
		start := len(b)
		b = append(b, typ, 0, 0, flags)
		b = body(b)
		n := len(b) - start - 4
		if n > 0xffff {
			err = unsupported("%s: a header message of %d bytes", o.name, n)
			return
		}
		binary.LittleEndian.PutUint16(b[start+1:], uint16(n))
	}
	undefs := func(b []byte) []byte { // an info message: no creation order, no dense storage
		b = append(b, 0, 0)
		b = binary.LittleEndian.AppendUint64(b, Undef)
		return binary.LittleEndian.AppendUint64(b, Undef)
	}
	if o.group {
		msg(0x02, 0, undefs)                                           // link info: links in this header
		msg(0x0a, 1, func(b []byte) []byte { return append(b, 0, 0) }) // group info: defaults
		for _, l := range o.links {
			msg(0x06, 0, func(b []byte) []byte { return appendLink(b, l) })
		}
	} else {
		ft := FileType(o.t)
		enc, terr := dtype(ft)
		if terr != nil {
			return nil, unsupported("%s: %v", o.name, terr)
		}
		msg(0x01, 0, func(b []byte) []byte { return appendDataspace(b, o.shape) })
		msg(0x03, 1, func(b []byte) []byte { return append(b, enc...) })
		fill := byte(0x0a) // allocated late, filled if set: as h5py
		if len(vlenSlots(ft, 0, nil)) > 0 {
			fill = 0x02
		}
		msg(0x05, 1, func(b []byte) []byte { return append(b, 3, fill) })
		n := int64(o.size)
		if o.extent > 0 {
			n = o.extent
		}
		addr := o.dataAddr
		if ids == nil || n == 0 {
			addr = Undef
		}
		msg(0x08, 0, func(b []byte) []byte {
			b = append(b, 3, 1) // version 3, contiguous
			b = binary.LittleEndian.AppendUint64(b, addr)
			return binary.LittleEndian.AppendUint64(b, uint64(n))
		})
	}
	if len(o.attrs) > 0 {
		// attribute info, as libhdf5 writes it: without one, libhdf5
		// counts no attribute in a version-2 header (H5Oget_info's
		// num_attrs is 0) though iterating finds them all
		msg(0x15, 0x04, undefs)
	}
	for i := range o.attrs {
		msg(0x0c, 0, func(b []byte) []byte {
			var aerr error
			if b, aerr = o.attrs[i].appendTo(b, o, ids); aerr != nil && err == nil {
				err = aerr
			}
			return b
		})
	}
	return b, err
}

func appendLink(b []byte, l link) []byte {
	flags := byte(0)
	if len(l.name) > 0xff {
		flags |= 1
	}
	if !isASCII(l.name) {
		flags |= 0x10
	}
	b = append(b, 1, flags)
	if flags&0x10 != 0 {
		b = append(b, 1) // UTF-8
	}
	if len(l.name) > 0xff {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(l.name)))
	} else {
		b = append(b, byte(len(l.name)))
	}
	b = append(b, l.name...)
	addr := l.addr
	if l.obj != nil {
		addr = l.obj.addr
	}
	return binary.LittleEndian.AppendUint64(b, addr)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func appendDataspace(b []byte, shape []int64) []byte {
	if shape == nil {
		return append(b, 2, 0, 0, 0) // scalar
	}
	b = append(b, 2, byte(len(shape)), 0, 1)
	for _, d := range shape {
		b = binary.LittleEndian.AppendUint64(b, uint64(d))
	}
	return b
}

// appendTo appends the attribute message's body to b.
func (a *attr) appendTo(b []byte, o *Object, ids *heapIDs) ([]byte, error) {
	v := a.v
	enc, err := v.enc, v.encErr
	if err != nil {
		return b, unsupported("%s: attribute %q: %v", o.name, a.name, err)
	}
	if len(a.name)+1 > 0xffff || !utf8.ValidString(a.name) {
		return b, unsupported("%s: attribute name %q", o.name, a.name)
	}
	dsLen := 4 + 8*len(v.shape)
	b = append(b, 3, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(a.name)+1))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(enc)))
	b = binary.LittleEndian.AppendUint16(b, uint16(dsLen))
	if isASCII(a.name) {
		b = append(b, 0)
	} else {
		b = append(b, 1)
	}
	b = append(b, a.name...)
	b = append(b, 0)
	b = append(b, enc...)
	b = appendDataspace(b, v.shape)
	start := len(b)
	b = append(b, v.raw...)
	if ids != nil {
		if err := fillIDs(b[start:], v.ft, ids, a.first, len(v.strs)); err != nil {
			return b, fmt.Errorf("%s: attribute %q: %v", o.name, a.name, err)
		}
		if a.ref != "" {
			addr, err := o.f.resolve(a.refIn, a.ref)
			if err != nil {
				return b, err
			}
			binary.LittleEndian.PutUint64(b[start:], addr)
		}
	}
	return b, nil
}

// resolve finds the address of path below group in.
func (f *File) resolve(in *Object, path string) (uint64, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	g := in
	for i, p := range parts {
		var l *link
		for k := range g.links {
			if g.links[k].name == p {
				l = &g.links[k]
			}
		}
		if l == nil {
			return 0, fmt.Errorf("%s: no object %q to reference", g.name, path)
		}
		if l.obj == nil {
			if i == len(parts)-1 {
				return l.addr, nil
			}
			if f.Resolve != nil {
				if a, ok := f.Resolve(l.tpath + "/" + strings.Join(parts[i+1:], "/")); ok {
					return a, nil
				}
			}
			return 0, unsupported("a reference into the template (%s)", path)
		}
		if i == len(parts)-1 {
			return l.obj.addr, nil
		}
		g = l.obj
	}
	return 0, fmt.Errorf("empty reference")
}

// headerSize is the size of an object header (version 2) holding msgs.
// headerSize is the size of a version-2 header of n bytes of messages.
func headerSize(n int) int { return 6 + widthOf(n) + n + 4 }

func widthOf(n int) int {
	switch {
	case n < 1<<8:
		return 1
	case n < 1<<16:
		return 2
	case n < 1<<32:
		return 4
	}
	return 8
}

// appendHeader appends a version-2 header holding msgs (messages).
func appendHeader(b []byte, msgs []byte) []byte {
	n := len(msgs)
	start := len(b)
	w := widthOf(n)
	flags := map[int]byte{1: 0, 2: 1, 4: 2, 8: 3}[w]
	b = append(b, 'O', 'H', 'D', 'R', 2, flags)
	for i := 0; i < w; i++ {
		b = append(b, byte(uint64(n)>>(8*i)))
	}
	b = append(b, msgs...)
	return binary.LittleEndian.AppendUint32(b, h5.Checksum(b[start:]))
}

// Reserved reports whether the dataset's bytes are placed after the
// metadata (Reserve with n > 0).
func (d *Object) Reserved() bool { return d.extent > 0 }

// Find is the object of ours at path (from the root).
func (f *File) Find(path string) (*Object, error) {
	o := f.root
	for _, p := range strings.Split(strings.Trim(path, "/"), "/") {
		if p == "" {
			continue
		}
		var next *Object
		for _, l := range o.links {
			if l.name == p {
				next = l.obj
			}
		}
		if next == nil {
			return nil, fmt.Errorf("/%s: no such object written", path)
		}
		o = next
	}
	return o, nil
}

// Exists reports whether path, relative to group in, names an object
// (ours or the template's).
func (f *File) Exists(in *Object, path string) bool {
	_, err := f.resolve(in, path)
	return err == nil
}

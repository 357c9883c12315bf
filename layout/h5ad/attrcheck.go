package h5ad

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/annslicer/annslicer/layout/h5"
)

// Attribute values of variable-length type (h5py writes every str
// attribute so: encoding-type, _index, column-order) are descriptors into
// the global heap too, and libhdf5 dereferences them as blindly when it
// reads an attribute or copies an object (a corrupt length made H5Ocopy
// memset gigabytes). libhdf5 offers no way to read a descriptor without
// following it, so the object header is parsed here, each attribute
// message's descriptors are resolved as dataset strings are, and the
// count of those found must equal the count libhdf5 reports.

// vlenAttr is one attribute's variable-length descriptors.
type vlenAttr struct {
	base  int64  // bytes per sequence element (1 for strings)
	descs []byte // 16-byte descriptors
}

// headerReader reads n bytes at file offset off.
type headerReader = h5.HeaderReader

const (
	msgAttribute   = 0x0C
	msgDatatype    = 0x03
	msgSymbolTable = 0x11
	msgLayout      = 0x08
)

var errHeader = h5.ErrHeader

// headerVlenAttrs parses the object header at addr (version 1 or 2, with
// its continuation blocks) and returns the variable-length attributes and
// the datatype message (a dataset's), if any.
func headerVlenAttrs(read headerReader, addr int64) (out []vlenAttr, dtype []byte, err error) {
	out, dtype, _, err = parseHeader(read, addr)
	return out, dtype, err
}

// parseHeader is headerVlenAttrs that also returns the symbol table
// message (an old-style group's), if any.
func parseHeader(read headerReader, addr int64) (out []vlenAttr, dtype, stab []byte, err error) {
	_, err = h5.WalkHeader(read, addr, func(m h5.Message) error {
		switch {
		case m.Flags&0x02 != 0 && m.Type == msgAttribute:
			// A shared attribute lives in a file-wide table anndata files
			// never have; libhdf5 crashes closing the file after failing
			// to decode a falsely flagged one.
			return fmt.Errorf("shared attribute message: %w", errHeader)
		case m.Flags&0x02 != 0: // shared (committed) type: not parsed
		case m.Type == msgSymbolTable:
			stab = m.Data
		case m.Type == msgLayout:
			return checkLayout(m.Data)
		case m.Type == msgDatatype:
			if _, _, err := checkDatatype(m.Data, 0); err != nil {
				return err
			}
			dtype = m.Data
		case m.Type == msgAttribute:
			a, ok, err := attrVlen(m.Data)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return out, dtype, stab, nil
}

// attrVlen parses an attribute message; ok is false unless its datatype is
// variable-length (class 9).
func attrVlen(d []byte) (vlenAttr, bool, error) {
	if len(d) < 8 {
		return vlenAttr{}, false, errHeader
	}
	v := d[0]
	nameN, dtN, dsN := int64(binary.LittleEndian.Uint16(d[2:])), int64(binary.LittleEndian.Uint16(d[4:])), int64(binary.LittleEndian.Uint16(d[6:]))
	pad := func(n int64) int64 { return n }
	p := int64(8)
	switch v {
	case 1:
		pad = func(n int64) int64 { return (n + 7) / 8 * 8 }
	case 2:
	case 3:
		p = 9
	default:
		return vlenAttr{}, false, errHeader
	}
	if v >= 2 && d[1]&^0x03 != 0 {
		return vlenAttr{}, false, fmt.Errorf("attribute message flags %#x: %w", d[1], errHeader)
	}
	// The name: NUL-terminated exactly at its stated length, as libhdf5
	// requires.
	if nameN < 1 || p+nameN > int64(len(d)) || bytes.IndexByte(d[p:p+nameN], 0) != int(nameN-1) {
		return vlenAttr{}, false, fmt.Errorf("attribute name length: %w", errHeader)
	}
	shared := v >= 2 && d[1]&0x01 != 0
	p += pad(nameN)
	if p+dtN > int64(len(d)) {
		return vlenAttr{}, false, errHeader
	}
	dt := d[p : p+dtN]
	p += pad(dtN)
	if p+dsN > int64(len(d)) {
		return vlenAttr{}, false, errHeader
	}
	ds := d[p : p+dsN]
	p += pad(dsN)
	if p > int64(len(d)) {
		return vlenAttr{}, false, errHeader
	}
	n, err := spaceCount(ds)
	if err != nil {
		return vlenAttr{}, false, err
	}
	if shared {
		return vlenAttr{}, false, nil // shared datatype: not parsed; counts will differ
	}
	if _, _, err := checkDatatype(dt, 0); err != nil {
		return vlenAttr{}, false, err
	}
	// The value must lie inside the message (libhdf5 1.10 copies it
	// without checking).
	esz := int64(binary.LittleEndian.Uint32(dt[4:]))
	if esz == 0 || (n > 0 && esz > (int64(len(d))-p)/n) {
		return vlenAttr{}, false, fmt.Errorf("attribute value larger than its message: %w", errHeader)
	}
	if dt[0]&0x0f != 9 {
		return vlenAttr{}, false, nil
	}
	// libhdf5 sizes what it reads by the base type (a string's characters
	// too), so a corrupt base size must be caught like a corrupt length.
	if len(dt) < 16 {
		return vlenAttr{}, false, errHeader
	}
	base := int64(binary.LittleEndian.Uint32(dt[12:]))
	if dt[1]&0x0f == 1 && base != 1 {
		return vlenAttr{}, false, fmt.Errorf("a string attribute with %d-byte characters: %w", base, errHeader)
	}
	if n > (int64(len(d))-p)/vlenDescSize {
		return vlenAttr{}, false, errHeader
	}
	return vlenAttr{base: base, descs: d[p : p+n*vlenDescSize]}, true, nil
}

// spaceCount is the element count of a dataspace message.
func spaceCount(ds []byte) (int64, error) {
	if len(ds) < 4 {
		return 0, errHeader
	}
	rank, at := int(ds[1]), 8
	if rank > 32 {
		return 0, errHeader
	}
	switch ds[0] {
	case 1:
	case 2:
		at = 4
		if ds[3] == 2 { // null dataspace
			return 0, nil
		}
	default:
		return 0, errHeader
	}
	n := int64(1)
	for i := 0; i < rank; i++ {
		if at+8 > len(ds) {
			return 0, errHeader
		}
		d := binary.LittleEndian.Uint64(ds[at:])
		if d > 1<<32 || n*int64(d) > 1<<32 {
			return 0, errHeader
		}
		n *= int64(d)
		at += 8
	}
	return n, nil
}

// checkHeader checks an object's header before libhdf5 decodes its
// attributes: every attribute message must be well formed (libhdf5 1.10
// crashes later, in H5Fclose, after failing to decode a corrupt one), and
// the variable-length values of attributes are resolved. For a dataset of
// strings (dsStrings) it also checks the base type of its datatype
// message, which libhdf5 sizes every string read by.
func (v *vlenChecker) checkHeader(o *h5.Object, addr int64, dsStrings bool) error {
	what := o.Path
	if addr < 0 {
		return fmt.Errorf("%s: the object header address is unknown, so its attributes cannot be checked", what)
	}
	attrs, dtype, err := headerVlenAttrs(v.reader(), addr)
	if err != nil {
		return fmt.Errorf("%s: reading its object header: %v; the file is corrupt", what, err)
	}
	if dsStrings && (len(dtype) < 16 || dtype[0]&0x0f != 9 || binary.LittleEndian.Uint32(dtype[12:]) != 1) {
		return fmt.Errorf("%s: its string datatype is not stored as one of 1-byte characters; the file is corrupt", what)
	}
	nvar, nnested, err := o.AttrCounts()
	if err != nil {
		return err
	}
	if nnested > 0 {
		return fmt.Errorf("%s has attributes with variable-length data inside compound types, which annslicer cannot check", what)
	}
	if len(attrs) != nvar {
		return fmt.Errorf("%s: found %d of its %d string attributes in its object header (shared or densely stored attributes are not supported); the file may be corrupt", what, len(attrs), nvar)
	}
	v.what = what + " (an attribute)"
	for _, a := range attrs {
		v.base = a.base
		if err := v.check(a.descs); err != nil {
			return err
		}
	}
	return nil
}

// checkLocalHeap bounds what libhdf5 allocates to list an old-style group:
// the data segment of its local heap (of link names), whose size the heap
// header declares, must lie inside the file.
func (v *vlenChecker) checkLocalHeap(what string, addr int64) error {
	read := v.reader()
	_, _, stab, err := parseHeader(read, addr)
	if err != nil {
		return fmt.Errorf("%s: reading its object header: %v; the file is corrupt", what, err)
	}
	if stab == nil {
		return nil // new-style group: links in the header or a fractal heap
	}
	bad := fmt.Errorf("%s: its local heap of member names is corrupt; the file is corrupt", what)
	if len(stab) < 16 {
		return bad
	}
	h, err := read(int64(binary.LittleEndian.Uint64(stab[8:])), 32)
	if err != nil || string(h[:4]) != "HEAP" || h[4] != 0 {
		return bad
	}
	size, at := binary.LittleEndian.Uint64(h[8:]), binary.LittleEndian.Uint64(h[24:])
	if size > uint64(v.s.size) || at > uint64(v.s.size) {
		return bad
	}
	if _, err := read(int64(at), int64(size)); err != nil {
		return bad
	}
	return nil
}

// reader reads n bytes at a file address of the source (relative to the
// user block's end), refusing ranges outside the file.
func (v *vlenChecker) reader() headerReader { return v.s.reader() }

// reader reads the source's bytes at addresses relative to its base (the
// end of a user block), inside the file.
func (s *Source) reader() headerReader { return h5.ReaderAt(s.raw, s.base, s.size) }

// checkLayout checks a data layout message's chunk dimensions: libhdf5
// divides by them when it opens the dataset (a zero one raised SIGFPE).
func checkLayout(m []byte) error {
	bad := fmt.Errorf("data layout message: %w", errHeader)
	if len(m) < 2 {
		return bad
	}
	var nd, w, p int
	switch m[0] {
	case 1, 2: // rank, class, 5 reserved bytes, address, rank dims of 4 bytes
		if len(m) < 3 {
			return bad
		}
		if m[2] != 2 {
			return nil // not chunked
		}
		nd, w, p = int(m[1]), 4, 8+8
	case 3: // rank+1 dims of 4 bytes after the B-tree address
		if len(m) < 3 {
			return bad
		}
		if m[1] != 2 {
			return nil // not chunked
		}
		nd, w, p = int(m[2]), 4, 3+8
	case 4: // flags, rank+1, encoded dim width, dims
		if len(m) < 5 {
			return bad
		}
		if m[1] != 2 {
			return nil // not chunked
		}
		nd, w, p = int(m[3]), int(m[4]), 5
	default:
		return bad
	}
	if nd < 1 || nd > 33 || w < 1 || w > 8 || len(m) < p+nd*w {
		return bad
	}
	for i := 0; i < nd; i++ {
		var d uint64
		for j := 0; j < w; j++ {
			d |= uint64(m[p+i*w+j]) << (8 * j)
		}
		if d == 0 {
			return fmt.Errorf("data layout message: a chunk dimension of 0: %w", errHeader)
		}
	}
	return nil
}

package h5ad

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// libhdf5 1.10 decodes datatype messages trusting their sizes: an enum
// whose base type claims 0 bytes made it memcpy out of bounds. Every
// datatype message (of a dataset or an attribute) is therefore checked
// here, from the raw header, before libhdf5 decodes it: its layout must be
// consistent, recursively, and every size within bounds.

const maxTypeSize = 1 << 30

// checkDatatype checks the datatype message at the start of b and returns
// its encoded length and its element size.
func checkDatatype(b []byte, depth int) (n int, size int64, err error) {
	bad := func(why string) (int, int64, error) {
		return 0, 0, fmt.Errorf("datatype message: %s: %w", why, errHeader)
	}
	if depth > 16 {
		return bad("nested too deep")
	}
	if len(b) < 8 {
		return bad("truncated")
	}
	class, version := b[0]&0x0f, b[0]>>4
	bits := int(b[1]) | int(b[2])<<8 | int(b[3])<<16
	size = int64(binary.LittleEndian.Uint32(b[4:]))
	if version < 1 || version > 4 {
		return bad(fmt.Sprintf("version %d", version))
	}
	if size == 0 || size > maxTypeSize {
		return bad(fmt.Sprintf("element size %d", size))
	}
	p := 8
	switch class {
	case 0, 4: // integer, bitfield
		if len(b) < p+4 {
			return bad("truncated")
		}
		off, prec := int64(binary.LittleEndian.Uint16(b[p:])), int64(binary.LittleEndian.Uint16(b[p+2:]))
		if size > 16 || prec == 0 || off+prec > 8*size {
			return bad(fmt.Sprintf("%d-byte integer with %d bits at %d", size, prec, off))
		}
		p += 4
	case 1: // float
		if len(b) < p+12 {
			return bad("truncated")
		}
		off, prec := int64(binary.LittleEndian.Uint16(b[p:])), int64(binary.LittleEndian.Uint16(b[p+2:]))
		epos, esize, mpos, msize := int64(b[p+4]), int64(b[p+5]), int64(b[p+6]), int64(b[p+7])
		if size > 16 || prec == 0 || off+prec > 8*size || esize == 0 || msize == 0 || epos+esize > prec || mpos+msize > prec {
			return bad("inconsistent floating-point layout")
		}
		p += 12
	case 2: // time
		if len(b) < p+2 {
			return bad("truncated")
		}
		p += 2
	case 3: // string: padding and character set
		if bits&0x0f > 2 || (bits>>4)&0x0f > 1 {
			return bad("string padding or character set")
		}
	case 7: // reference: to an object or a region
		if bits&0x0f > 1 {
			return bad("reference kind")
		}
	case 5: // opaque: a NUL-padded tag
		p += bits & 0xff
	case 6: // compound
		k, err := checkCompound(b, p, version, bits&0xffff, size, depth)
		if err != nil {
			return 0, 0, err
		}
		p = k
	case 8: // enum: base integer type, names, values
		bn, bsize, err := checkDatatype(b[p:], depth+1)
		if err != nil {
			return 0, 0, err
		}
		if b[p]&0x0f != 0 || bsize != size {
			return bad("enum base is not an integer of its size")
		}
		p += bn
		nm := bits & 0xffff
		for i := 0; i < nm; i++ {
			k, err := typeName(b, p, version < 3)
			if err != nil {
				return 0, 0, err
			}
			p = k
		}
		if int64(len(b)-p) < int64(nm)*size {
			return bad("enum values truncated")
		}
		p += nm * int(size)
	case 9: // variable-length: a sequence or a string (padding, set)
		if bits&0x0f > 1 || (bits>>4)&0x0f > 2 || (bits>>8)&0x0f > 1 {
			return bad("variable-length kind, padding or character set")
		}
		bn, _, err := checkDatatype(b[p:], depth+1)
		if err != nil {
			return 0, 0, err
		}
		p += bn
	case 10: // array: dims, then base type
		if len(b) < p+1 {
			return bad("truncated")
		}
		nd := int(b[p])
		p++
		if version < 3 {
			p += 3
		}
		if nd == 0 || nd > 32 || len(b) < p+4*nd {
			return bad("array dimensions")
		}
		count := int64(1)
		for i := 0; i < nd; i++ {
			count *= int64(binary.LittleEndian.Uint32(b[p+4*i:]))
			if count > maxTypeSize {
				return bad("array too large")
			}
		}
		p += 4 * nd
		if version < 3 {
			p += 4 * nd // permutation indices
		}
		if p > len(b) {
			return bad("truncated")
		}
		bn, bsize, err := checkDatatype(b[p:], depth+1)
		if err != nil {
			return 0, 0, err
		}
		if count*bsize != size {
			return bad("array size does not match its elements")
		}
		p += bn
	default:
		return bad(fmt.Sprintf("class %d", class))
	}
	if p > len(b) {
		return bad("truncated")
	}
	return p, size, nil
}

// typeName skips a NUL-terminated name (padded to 8 bytes when pad).
func typeName(b []byte, p int, pad bool) (int, error) {
	if p > len(b) {
		return 0, errHeader
	}
	z := bytes.IndexByte(b[p:], 0)
	if z < 0 {
		return 0, fmt.Errorf("datatype member name not terminated: %w", errHeader)
	}
	n := z + 1
	if pad {
		n = (n + 7) / 8 * 8
	}
	if p+n > len(b) {
		return 0, errHeader
	}
	return p + n, nil
}

// checkCompound checks a compound's members: each inside the compound.
func checkCompound(b []byte, p int, version byte, nm int, size int64, depth int) (int, error) {
	offBytes := 1 // version 3: member offsets in as few bytes as the size needs
	for s := size - 1; s >= 256; s >>= 8 {
		offBytes++
	}
	for i := 0; i < nm; i++ {
		k, err := typeName(b, p, version < 3)
		if err != nil {
			return 0, err
		}
		p = k
		var off int64
		switch version {
		case 1:
			// offset (4), dimensionality (1), reserved (3), permutation
			// (4), reserved (4), four dimension sizes (16)
			if len(b) < p+32 {
				return 0, errHeader
			}
			off = int64(binary.LittleEndian.Uint32(b[p:]))
			if b[p+4] > 4 { // dimensionality of old array members
				return 0, errHeader
			}
			p += 32
		case 2:
			if len(b) < p+4 {
				return 0, errHeader
			}
			off = int64(binary.LittleEndian.Uint32(b[p:]))
			p += 4
		default:
			if len(b) < p+offBytes {
				return 0, errHeader
			}
			for j := 0; j < offBytes; j++ {
				off |= int64(b[p+j]) << (8 * j)
			}
			p += offBytes
		}
		if p > len(b) {
			return 0, errHeader
		}
		mn, msize, err := checkDatatype(b[p:], depth+1)
		if err != nil {
			return 0, err
		}
		if off+msize > size {
			return 0, fmt.Errorf("compound member outside the compound: %w", errHeader)
		}
		p += mn
	}
	return p, nil
}

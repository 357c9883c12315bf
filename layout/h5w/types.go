package h5w

import (
	"encoding/binary"
	"fmt"

	"github.com/annslicer/annslicer/layout/h5"
)

// VlenSize is the size of a variable-length string in a dataset or
// attribute: its length, then the global heap ID (collection address and
// object index).
const VlenSize = 16

// dtype encodes a datatype message body as libhdf5 1.8+ writes it for the
// same type (checked against files h5py wrote: testdata/ref.py).
func dtype(t h5.TypeInfo) ([]byte, error) {
	var b []byte
	head := func(class, version byte, bits0, bits1, bits2 byte, size int) {
		b = append(b, version<<4|class, bits0, bits1, bits2)
		b = binary.LittleEndian.AppendUint32(b, uint32(size))
	}
	order := byte(0)
	if t.BigEndian {
		order = 1
	}
	switch t.Class {
	case h5.ClassInt:
		if t.Size < 1 || t.Size > 8 {
			return nil, fmt.Errorf("an integer of %d bytes", t.Size)
		}
		sign := byte(0)
		if t.Signed {
			sign = 8
		}
		head(0, 1, order|sign, 0, 0, t.Size)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, uint16(8*t.Size))
	case h5.ClassFloat:
		var expLoc, expSize, mantSize byte
		var bias uint32
		switch t.Size {
		case 2:
			expLoc, expSize, mantSize, bias = 10, 5, 10, 15
		case 4:
			expLoc, expSize, mantSize, bias = 23, 8, 23, 127
		case 8:
			expLoc, expSize, mantSize, bias = 52, 11, 52, 1023
		default:
			return nil, fmt.Errorf("a float of %d bytes", t.Size)
		}
		// mantissa normalization 2 (msb implied), sign at the top bit
		head(1, 1, order|0x20, byte(8*t.Size-1), 0, t.Size)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, uint16(8*t.Size))
		b = append(b, expLoc, expSize, 0, mantSize)
		b = binary.LittleEndian.AppendUint32(b, bias)
	case h5.ClassString:
		if t.Vlen {
			// a sequence of type 1 (string), null-terminated, of the
			// character set, over unsigned bytes
			head(9, 1, 1, byte(t.Cset&0xf), 0, VlenSize)
			b = append(b, 0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0)
		} else {
			// numpy "S": null-padded
			head(3, 1, 1|byte(t.Cset&0xf)<<4, 0, 0, t.Size)
		}
	case h5.ClassBool:
		// h5py's bool: an enum of int8, FALSE 0 and TRUE 1
		head(8, 3, 2, 0, 0, 1)
		b = append(b, 0x10, 8, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0)
		b = append(b, "FALSE\x00TRUE\x00"...)
		b = append(b, 0, 1)
	case h5.ClassReference:
		head(7, 1, 0, 0, 0, 8) // an object reference: the object's address
	case h5.ClassCompound:
		n := len(t.Members)
		head(6, 3, byte(n), byte(n>>8), 0, t.Size)
		w := offsetWidth(t.Size)
		for _, m := range t.Members {
			if m.Offset+m.Type.Size > t.Size {
				return nil, fmt.Errorf("member %q ends past the record", m.Name)
			}
			b = append(b, m.Name...)
			b = append(b, 0)
			for i := 0; i < w; i++ {
				b = append(b, byte(m.Offset>>(8*i)))
			}
			mt, err := dtype(m.Type)
			if err != nil {
				return nil, fmt.Errorf("member %q: %v", m.Name, err)
			}
			b = append(b, mt...)
		}
	case h5.ClassArray:
		if t.Elem == nil || len(t.Dims) == 0 {
			return nil, fmt.Errorf("an array type without element or dimensions")
		}
		head(10, 3, 0, 0, 0, t.Size)
		b = append(b, byte(len(t.Dims)))
		for _, d := range t.Dims {
			b = binary.LittleEndian.AppendUint32(b, uint32(d))
		}
		et, err := dtype(*t.Elem)
		if err != nil {
			return nil, err
		}
		b = append(b, et...)
	default:
		return nil, fmt.Errorf("an HDF5 type of class %d", t.Class)
	}
	return b, nil
}

// offsetWidth is the size of a compound member's offset field: the bytes
// needed to hold the compound's size.
func offsetWidth(size int) int {
	switch {
	case size < 1<<8:
		return 1
	case size < 1<<16:
		return 2
	case size < 1<<24:
		return 3
	}
	return 4
}

// vlenSlots lists where an element of type t holds variable-length
// strings, in order.
func vlenSlots(t h5.TypeInfo, base int, out []int) []int {
	switch t.Class {
	case h5.ClassString:
		if t.Vlen {
			out = append(out, base)
		}
	case h5.ClassCompound:
		for _, m := range t.Members {
			out = vlenSlots(m.Type, base+m.Offset, out)
		}
	case h5.ClassArray:
		if t.Elem != nil {
			n := t.Size / max(1, t.Elem.Size)
			for i := 0; i < n; i++ {
				out = vlenSlots(*t.Elem, base+i*t.Elem.Size, out)
			}
		}
	}
	return out
}

// size is t's element size in the file (a variable-length string's is
// VlenSize, whatever t.Size says: the in-memory descriptor differs).
func size(t h5.TypeInfo) int {
	if t.Class == h5.ClassString && t.Vlen {
		return VlenSize
	}
	return t.Size
}

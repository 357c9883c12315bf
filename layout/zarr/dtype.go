package zarr

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DType is an element type in numpy's typestr terms ("<f4", "|b1", "|O"),
// the vocabulary of v2 metadata and of AnnData; v3 data_type names map onto
// it, with the byte order taken from the v3 "bytes" codec.
type DType struct {
	// Kind is numpy's kind: 'b' bool, 'i' int, 'u' uint, 'f' float,
	// 'c' complex, 'S' fixed bytes, 'U' fixed UTF-32 text, 'O' variable
	// length UTF-8 string (v2 "|O" with vlen-utf8, v3 "string"), 'V'
	// structured (record) with Rec set.
	Kind byte
	// Size is the item size in bytes; 0 for 'O'.
	Size int
	// Order is '<' little, '>' big or '|' not applicable (one byte, 'O',
	// 'V': a record's fields have their own).
	Order byte
	// Rec lists the fields of a structured dtype (Kind 'V', see record.go);
	// nil for every other kind. A pointer keeps DType comparable; compare
	// structured dtypes with Equal.
	Rec *Record
}

// ParseDType parses a numpy typestr as found in a v2 .zarray.
func ParseDType(s string) (DType, error) {
	if len(s) < 2 {
		return DType{}, unsupported("unsupported dtype %q", s)
	}
	d := DType{Order: s[0], Kind: s[1]}
	if d.Order != '<' && d.Order != '>' && d.Order != '|' {
		return DType{}, unsupported("unsupported dtype %q", s)
	}
	if d.Kind == 'O' {
		if s != "|O" {
			return DType{}, unsupported("unsupported dtype %q", s)
		}
		return d, nil
	}
	n, err := strconv.Atoi(s[2:])
	if err != nil || n <= 0 || n > maxItemSize/4 {
		return DType{}, unsupported("unsupported dtype %q", s)
	}
	ok := false
	switch d.Kind {
	case 'b':
		ok = n == 1
	case 'i', 'u':
		ok = n == 1 || n == 2 || n == 4 || n == 8
	case 'f':
		ok = n == 2 || n == 4 || n == 8
	case 'c':
		ok = n == 8 || n == 16
	case 'S':
		d.Size, ok = n, true
	case 'U':
		d.Size, ok = 4*n, true
	}
	if !ok {
		return DType{}, unsupported("unsupported dtype %q", s)
	}
	if d.Size == 0 {
		d.Size = n
	}
	// A multi-byte number needs a byte order.
	if d.Order == '|' && d.Size > 1 && d.Kind != 'S' {
		return DType{}, unsupported("unsupported dtype %q", s)
	}
	return d, nil
}

// MustDType is ParseDType for constant typestrs.
func MustDType(s string) DType {
	d, err := ParseDType(s)
	if err != nil {
		panic(err)
	}
	return d
}

// String returns the numpy typestr.
func (d DType) String() string {
	switch d.Kind {
	case 'O':
		return "|O"
	case 'U':
		return fmt.Sprintf("%cU%d", d.Order, d.Size/4)
	}
	return fmt.Sprintf("%c%c%d", d.Order, d.Kind, d.Size)
}

// IsString reports whether elements are text (read with ReadStrings).
func (d DType) IsString() bool { return d.Kind == 'O' || d.Kind == 'U' || d.Kind == 'S' }

var v3Names = map[string]DType{
	"bool": {Kind: 'b', Size: 1, Order: '|'}, "int8": {Kind: 'i', Size: 1, Order: '|'}, "uint8": {Kind: 'u', Size: 1, Order: '|'},
	"int16": {Kind: 'i', Size: 2, Order: '<'}, "int32": {Kind: 'i', Size: 4, Order: '<'}, "int64": {Kind: 'i', Size: 8, Order: '<'},
	"uint16": {Kind: 'u', Size: 2, Order: '<'}, "uint32": {Kind: 'u', Size: 4, Order: '<'}, "uint64": {Kind: 'u', Size: 8, Order: '<'},
	"float16": {Kind: 'f', Size: 2, Order: '<'}, "float32": {Kind: 'f', Size: 4, Order: '<'}, "float64": {Kind: 'f', Size: 8, Order: '<'},
	"complex64": {Kind: 'c', Size: 8, Order: '<'}, "complex128": {Kind: 'c', Size: 16, Order: '<'},
	"string": {Kind: 'O', Size: 0, Order: '|'},
}

// V3Name is the v3 data_type name (byte order is the bytes codec's business).
func (d DType) V3Name() (string, error) {
	if d.Rec != nil {
		return "structured", nil
	}
	for name, v := range v3Names {
		if v.Kind == d.Kind && v.Size == d.Size {
			return name, nil
		}
	}
	return "", unsupported("dtype %s has no zarr v3 data type", d)
}

func dtypeFromV3(name string) (DType, error) {
	d, ok := v3Names[name]
	if !ok {
		return DType{}, unsupported("unsupported data_type %q", name)
	}
	return d, nil
}

// withOrder sets the byte order of a multi-byte type.
func (d DType) withOrder(big bool) DType {
	if d.Size > 1 && d.Kind != 'S' && d.Kind != 'V' {
		if big {
			d.Order = '>'
		} else {
			d.Order = '<'
		}
	}
	return d
}

func (d DType) order() binary.ByteOrder {
	if d.Order == '>' {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// fillBytes is one element holding the fill value, in d's byte order.
// A null fill value reads as zeros (zarr-python leaves such chunks
// uninitialised; zeros are the deterministic choice).
func (d DType) fillBytes(fv *jvalue) ([]byte, error) {
	if d.Kind == 'V' {
		return recordFill(d, fv)
	}
	b := make([]byte, d.Size)
	if fv == nil || fv.kind == jNull {
		return b, nil
	}
	bad := func() ([]byte, error) {
		return nil, fmt.Errorf("bad fill_value %s for dtype %s", jsonText(fv), d)
	}
	o := d.order()
	switch d.Kind {
	case 'b':
		switch {
		case fv.kind == jBool:
			if fv.b {
				b[0] = 1
			}
		case fv.kind == jNumber && !fv.isFloatLiteral():
			if fv.num != "0" {
				b[0] = 1
			}
		default:
			return bad()
		}
	case 'i', 'u':
		if fv.kind != jNumber {
			return bad()
		}
		var u uint64
		if fv.isFloatLiteral() {
			f, err := parseFloatLiteral(fv.num)
			if err != nil || f != math.Trunc(f) || math.IsInf(f, 0) {
				return bad()
			}
			if d.Kind == 'i' {
				u = uint64(int64(f))
			} else {
				u = uint64(f)
			}
		} else if d.Kind == 'i' {
			v, err := strconv.ParseInt(fv.num, 10, d.Size*8)
			if err != nil {
				return bad()
			}
			u = uint64(v)
		} else {
			v, err := strconv.ParseUint(fv.num, 10, d.Size*8)
			if err != nil {
				return bad()
			}
			u = v
		}
		putUint(o, b, u)
	case 'f':
		f, raw, err := floatFill(fv, d.Size)
		if err != nil {
			return bad()
		}
		if raw != nil {
			putUint(o, b, *raw)
			break
		}
		putFloat(o, b, f)
	case 'c':
		if fv.kind != jArray || len(fv.arr) != 2 {
			return bad()
		}
		for i, part := range fv.arr {
			f, raw, err := floatFill(part, d.Size/2)
			if err != nil {
				return bad()
			}
			half := b[i*d.Size/2 : (i+1)*d.Size/2]
			if raw != nil {
				putUint(o, half, *raw)
			} else {
				putFloat(o, half, f)
			}
		}
	case 'S':
		if fv.kind != jString {
			return bad()
		}
		v, err := base64.StdEncoding.DecodeString(fv.str)
		if err != nil || len(v) > d.Size {
			return bad()
		}
		copy(b, v)
	case 'U':
		if fv.kind != jString {
			return bad()
		}
		i := 0
		for _, r := range fv.str {
			if i+4 > len(b) {
				return bad()
			}
			o.PutUint32(b[i:], uint32(r))
			i += 4
		}
	}
	return b, nil
}

// floatFill reads a float fill value: a number, "NaN"/"Infinity"/
// "-Infinity", or (v3) a hex string of the raw bits, returned in raw.
func floatFill(fv *jvalue, size int) (float64, *uint64, error) {
	switch fv.kind {
	case jNumber:
		f, err := parseFloatLiteral(fv.num)
		return f, nil, err
	case jString:
		switch fv.str {
		case "NaN", "Infinity", "-Infinity":
			f, _ := parseFloatLiteral(fv.str)
			return f, nil, nil
		}
		if strings.HasPrefix(fv.str, "0x") && len(fv.str) == 2+2*size {
			u, err := strconv.ParseUint(fv.str[2:], 16, 64)
			return 0, &u, err
		}
	}
	return 0, nil, fmt.Errorf("bad float fill value")
}

func putUint(o binary.ByteOrder, b []byte, u uint64) {
	switch len(b) {
	case 1:
		b[0] = byte(u)
	case 2:
		o.PutUint16(b, uint16(u))
	case 4:
		o.PutUint32(b, uint32(u))
	case 8:
		o.PutUint64(b, u)
	}
}

func putFloat(o binary.ByteOrder, b []byte, f float64) {
	switch len(b) {
	case 2:
		o.PutUint16(b, float16bits(f))
	case 4:
		o.PutUint32(b, math.Float32bits(float32(f)))
	case 8:
		o.PutUint64(b, math.Float64bits(f))
	}
}

// float16bits converts to IEEE half precision, rounding to nearest even.
func float16bits(f float64) uint16 {
	b := math.Float32bits(float32(f))
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff:
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127 > 15:
		return sign | 0x7c00
	case exp-127 >= -14:
		h := uint32(exp-127+15)<<10 | man>>13
		rem := man & 0x1fff
		if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
			h++ // may carry into the exponent, which is still right
		}
		return sign | uint16(h)
	case exp-127 >= -25:
		man |= 0x800000
		shift := uint(-14-(exp-127)) + 13
		h := man >> shift
		rem := man & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	return sign
}

// fillString is the string a missing element of an 'O' array reads as.
func fillString(fv *jvalue) string {
	if fv != nil && fv.kind == jString {
		return fv.str
	}
	return ""
}

// fillJSON is the fill value as zarr-python writes it into metadata for
// dtype d (encode_fill_value): floats as floats or "NaN"/"Infinity", ints as
// ints, bools as bools, strings verbatim.
func (d DType) fillJSON(fv *jvalue, format int) (any, error) {
	if fv == nil || fv.kind == jNull {
		if format == 3 {
			// v3 requires a fill value; zeros is what null reads as.
			switch d.Kind {
			case 'O':
				return "", nil
			case 'b':
				return false, nil
			case 'f':
				return pyFloat(0), nil
			case 'c':
				return []any{pyFloat(0), pyFloat(0)}, nil
			case 'V':
				return base64.StdEncoding.EncodeToString(make([]byte, d.Size)), nil
			}
			return 0, nil
		}
		return nil, nil
	}
	if _, err := d.fillBytes(fv); err != nil && d.Kind != 'O' {
		return nil, err
	}
	floatJSON := func(v *jvalue, size int) any {
		f, raw, _ := floatFill(v, size)
		if raw != nil {
			if format == 3 {
				return v.str
			}
			switch size {
			case 4:
				f = float64(math.Float32frombits(uint32(*raw)))
			case 8:
				f = math.Float64frombits(*raw)
			default:
				return v.str
			}
		}
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "Infinity"
		case math.IsInf(f, -1):
			return "-Infinity"
		}
		return pyFloat(f)
	}
	switch d.Kind {
	case 'b':
		if fv.kind == jBool {
			return fv.b, nil
		}
		return fv.num != "0", nil
	case 'i', 'u':
		if fv.isFloatLiteral() {
			f, _ := parseFloatLiteral(fv.num)
			return int64(f), nil
		}
		if fv.num == "-0" {
			return 0, nil
		}
		return pyInt(fv.num), nil
	case 'f':
		return floatJSON(fv, d.Size), nil
	case 'c':
		return []any{floatJSON(fv.arr[0], d.Size/2), floatJSON(fv.arr[1], d.Size/2)}, nil
	case 'O':
		if format == 3 {
			return fillString(fv), nil
		}
	}
	return fv.toAny(), nil // 'S', 'U', 'V': the string verbatim
}

func jsonText(v *jvalue) string {
	if v == nil {
		return "null"
	}
	b, err := pyDumps(v, -1)
	if err != nil {
		return "?"
	}
	s := string(b)
	if utf8.RuneCountInString(s) > 100 {
		s = string([]rune(s)[:100]) + "…"
	}
	return s
}

package h5w

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/annslicer/annslicer/layout/h5"
)

// The attribute values h5py writes for Python values, with the methods of
// h5.Object of the same names (layout/h5ad writes attributes through
// either).

var (
	vlenUTF8  = h5.TypeInfo{Class: h5.ClassString, Vlen: true, Cset: 1}
	int64LE   = h5.TypeInfo{Class: h5.ClassInt, Size: 8, Signed: true}
	float64LE = h5.TypeInfo{Class: h5.ClassFloat, Size: 8}
	boolEnum  = h5.TypeInfo{Class: h5.ClassBool, Size: 1}
)

// AttrValue is an attribute's value as h5w writes it: its type, shape,
// bytes and strings, made once (CaptureAttr) and added to any number of
// objects (AddAttr), never changed: the shards of a mount carry the same
// few attributes, which were converted again for each.
type AttrValue struct {
	t      h5.TypeInfo
	ft     h5.TypeInfo // FileType(t)
	shape  []int64     // nil: scalar
	raw    []byte
	strs   []string
	enc    []byte // ft's encoding (a datatype message)
	encErr error
}

func newAttrValue(t h5.TypeInfo, shape []int64, raw []byte, strs []string) *AttrValue {
	v := &AttrValue{t: t, ft: FileType(t), shape: shape, raw: raw, strs: strs}
	v.enc, v.encErr = dtype(v.ft)
	return v
}

// refValue is every object reference's value before it is resolved.
var refValue = newAttrValue(h5.TypeInfo{Class: h5.ClassReference, Size: 8}, nil, make([]byte, 8), nil)

// CaptureAttr is the value that write, calling one of the WriteAttr
// methods once, gives its attribute.
func CaptureAttr(write func(o *Object) error) (*AttrValue, error) {
	var o Object
	if err := write(&o); err != nil {
		return nil, err
	}
	if len(o.attrs) != 1 || o.attrs[0].ref != "" {
		return nil, fmt.Errorf("h5w: %d attributes captured, not one value", len(o.attrs))
	}
	return o.attrs[0].v, nil
}

// AddAttr writes attribute name with value v.
func (o *Object) AddAttr(name string, v *AttrValue) {
	o.attrs = append(o.attrs, attr{name: name, v: v})
}

func shape1(n int, scalar bool) []int64 {
	if scalar {
		return nil
	}
	return []int64{int64(n)}
}

// WriteAttrString writes a scalar variable-length UTF-8 string (a str).
func (o *Object) WriteAttrString(name, s string) error {
	o.Attr(name, vlenUTF8, nil, make([]byte, VlenSize), []string{s})
	return nil
}

// WriteAttrStrings writes a 1-D array of them (a list of str).
func (o *Object) WriteAttrStrings(name string, ss []string) error {
	o.Attr(name, vlenUTF8, []int64{int64(len(ss))}, make([]byte, VlenSize*len(ss)), ss)
	return nil
}

// WriteAttrInt64s writes int64s, scalar (one value) or 1-D.
func (o *Object) WriteAttrInt64s(name string, v []int64, scalar bool) error {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	o.Attr(name, int64LE, shape1(len(v), scalar), b, nil)
	return nil
}

// WriteAttrFloat64 writes a scalar float64.
func (o *Object) WriteAttrFloat64(name string, v float64) error {
	o.Attr(name, float64LE, nil, binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)), nil)
	return nil
}

// WriteAttrFloat64s writes a 1-D float64 array (h5py writes [] so).
func (o *Object) WriteAttrFloat64s(name string, v []float64) error {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	o.Attr(name, float64LE, []int64{int64(len(v))}, b, nil)
	return nil
}

// WriteAttrBools writes bools (h5py's enum), scalar or 1-D.
func (o *Object) WriteAttrBools(name string, v []bool, scalar bool) error {
	b := make([]byte, len(v))
	for i, x := range v {
		if x {
			b[i] = 1
		}
	}
	o.Attr(name, boolEnum, shape1(len(v), scalar), b, nil)
	return nil
}

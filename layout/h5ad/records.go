package h5ad

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// Record arrays (numpy structured arrays: scanpy's rank_genes_groups,
// anndata's rec-array) between HDF5 compounds and zarr structured dtypes,
// converted as anndata converts them when it writes what it read:
//
//   - to zarr (anndata's _to_fixed_length_strings): a variable-length
//     string member becomes a "<U" field as long as its longest value in
//     UTF-8 bytes; other members keep their type and byte order; fields are
//     packed in member order.
//   - to h5ad (anndata's _to_hdf5_vlen_strings): a "U" field becomes a
//     variable-length UTF-8 string member; "S" a fixed-length (null-padded,
//     ASCII) string, bools h5py's enum, numbers the same type; packed in
//     field order.
//
// Record arrays live in uns, or are the obs, var, obsm and varm of an
// anndata < 0.7 file (obsm's fields are sub-arrays: X_pca, 50 float32 a
// cell), and are small: both conversions hold the whole array in memory,
// up to maxRecordBytes.

const maxRecordBytes = 256 << 20

// ---- HDF5 compound → zarr record ----

// h5RecArray is a compound dataset converted, whole, to a zarr record array.
type h5RecArray struct {
	*h5Array
	raw []byte
}

func (a *h5RecArray) Rows() tree.RowReader {
	rb := int64(a.dt.Size)
	for _, d := range a.ds.Dims[min(1, len(a.ds.Dims)):] {
		rb *= d
	}
	return &heldRows{raw: a.raw, rowBytes: rb}
}

// heldRows serves rows of an array held in memory.
type heldRows struct {
	raw      []byte
	rowBytes int64
}

func (m *heldRows) RowBytes() int64 { return m.rowBytes }
func (m *heldRows) ReadRows(p []byte, row0 int64) error {
	off := row0 * m.rowBytes
	if off < 0 || off+int64(len(p)) > int64(len(m.raw)) {
		return fmt.Errorf("rows %d.. outside a %d-byte record array", row0, len(m.raw))
	}
	copy(p, m.raw[off:])
	return nil
}

// h5Records reads the compound dataset of a (an HDF5 record array) as a
// zarr record array. It closes a on error. h5py's complex numbers are
// compounds too ({r, i} of one float type): those are complex arrays,
// read as they are.
func h5Records(a *h5Array) (tree.Array, error) {
	if dt, ok, err := h5Complex(a.ds); ok || err != nil {
		if err != nil {
			a.ds.Close()
			return nil, err
		}
		a.dt = dt
		return a, nil
	}
	r, err := readH5Records(a)
	if err != nil {
		a.ds.Close()
		return nil, err
	}
	return r, nil
}

// h5Complex recognises h5py's complex type: members "r" and "i" of one
// float type (4 or 8 bytes), packed in that order.
func h5Complex(ds *h5.Dataset) (zarr.DType, bool, error) {
	ms, err := ds.Members()
	if err != nil {
		return zarr.DType{}, false, err
	}
	if len(ms) != 2 || ms[0].Name != "r" || ms[1].Name != "i" {
		return zarr.DType{}, false, nil
	}
	r, i := ms[0].Type, ms[1].Type
	if r.Class != h5.ClassFloat || i.Class != r.Class || i.Size != r.Size || i.BigEndian != r.BigEndian || (r.Size != 4 && r.Size != 8) || ms[0].Offset != 0 || ms[1].Offset != r.Size || ds.ElemSize != 2*r.Size {
		return zarr.DType{}, false, nil
	}
	order := byte('<')
	if r.BigEndian {
		order = '>'
	}
	return zarr.DType{Kind: 'c', Size: 2 * r.Size, Order: order}, true, nil
}

// complexH5Type is h5py's compound for a numpy complex dtype.
func complexH5Type(dt zarr.DType) h5.TypeInfo {
	f := h5.TypeInfo{Class: h5.ClassFloat, Size: dt.Size / 2, BigEndian: dt.Order == '>'}
	return h5.TypeInfo{Class: h5.ClassCompound, Size: dt.Size, Members: []h5.Member{
		{Name: "r", Offset: 0, Type: f}, {Name: "i", Offset: f.Size, Type: f}}}
}

func readH5Records(a *h5Array) (*h5RecArray, error) {
	ds := a.ds
	members, err := ds.Members()
	if err != nil {
		return nil, err
	}
	n := ds.Len()
	if n*int64(ds.ElemSize) > maxRecordBytes {
		return nil, fmt.Errorf("%s is a record array of %d bytes; annslicer converts record arrays in memory, up to %d MiB", ds.Path, n*int64(ds.ElemSize), maxRecordBytes>>20)
	}
	fields := make([]zarr.Field, len(members))
	cols := make([][]byte, len(members)) // each field's values, packed, in the zarr field type
	for i, m := range members {
		where := fmt.Sprintf("%s (record field %q)", ds.Path, m.Name)
		var t zarr.DType
		var shape []int
		switch {
		case m.Type.Class == h5.ClassString && m.Type.Vlen:
			strs, err := ds.ReadMemberStrings(i)
			if err != nil {
				return nil, err
			}
			t, cols[i], err = utf32Column(where, strs)
			if err != nil {
				return nil, err
			}
		case m.Type.Class == h5.ClassCompound:
			return nil, fmt.Errorf("%s: record field %q is itself a record (nested compound), which annslicer cannot convert to zarr; write h5ad shards, or flatten it with anndata first", ds.Path, m.Name)
		case m.Type.Class == h5.ClassArray:
			// a sub-array field (anndata < 0.7's obsm: X_pca, 50 floats a
			// cell): its element type, and its shape
			e := *m.Type.Elem
			switch {
			case e.Class == h5.ClassCompound:
				return nil, fmt.Errorf("%s: record field %q is an array of records (nested compound), which annslicer cannot convert; flatten it with anndata first", ds.Path, m.Name)
			case e.Class == h5.ClassString && e.Vlen:
				return nil, fmt.Errorf("%s: record field %q is an array of variable-length strings, which annslicer cannot convert; convert it with anndata first", ds.Path, m.Name)
			}
			if t, err = h5DType(where, e); err != nil {
				return nil, err
			}
			shape = m.Type.Dims
			if cols[i], err = ds.ReadMember(i, m.Type.Size); err != nil {
				return nil, err
			}
		default:
			if t, err = h5DType(where, m.Type); err != nil {
				return nil, err
			}
			if cols[i], err = ds.ReadMember(i, t.Size); err != nil {
				return nil, err
			}
		}
		fields[i] = zarr.Field{Name: m.Name, Type: t, Shape: shape}
	}
	dt, err := zarr.NewRecord(fields)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", ds.Path, err)
	}
	if n*int64(dt.Size) > maxRecordBytes {
		return nil, fmt.Errorf("%s is a record array of %d bytes as zarr; annslicer converts record arrays in memory, up to %d MiB", ds.Path, n*int64(dt.Size), maxRecordBytes>>20)
	}
	raw := make([]byte, n*int64(dt.Size))
	for e := int64(0); e < n; e++ {
		rec := raw[e*int64(dt.Size):]
		for i, f := range dt.Rec.Fields {
			sz := int64(f.Size())
			copy(rec[f.Offset:f.Offset+f.Size()], cols[i][e*sz:(e+1)*sz])
		}
	}
	a.dt = dt
	return &h5RecArray{h5Array: a, raw: raw}, nil
}

// utf32Column encodes strings as numpy "<U" values of the longest one's
// UTF-8 length in characters, as anndata sizes them (at least 1).
func utf32Column(where string, strs []string) (zarr.DType, []byte, error) {
	chars := 1
	for _, s := range strs {
		if !utf8.ValidString(s) {
			return zarr.DType{}, nil, fmt.Errorf("%s holds a string that is not valid UTF-8, which a zarr record cannot hold", where)
		}
		chars = max(chars, len(s))
	}
	t := zarr.DType{Kind: 'U', Size: 4 * chars, Order: '<'}
	out := make([]byte, len(strs)*t.Size)
	for i, s := range strs {
		p := out[i*t.Size:]
		k := 0
		for _, r := range s {
			binary.LittleEndian.PutUint32(p[k:], uint32(r))
			k += 4
		}
	}
	return t, out, nil
}

// ---- zarr record → HDF5 compound ----

// vlenSlot is the size of a variable-length string in a compound record
// (a char * in memory, as libhdf5 and h5py lay it out).
const vlenSlot = 8

// recordH5Type is the HDF5 compound type anndata (h5py) writes for a
// record dtype, or for complex numbers.
func recordH5Type(dt zarr.DType) (h5.TypeInfo, error) {
	if dt.Kind == 'c' {
		return complexH5Type(dt), nil
	}
	t := h5.TypeInfo{Class: h5.ClassCompound}
	off := 0
	for _, f := range dt.Rec.Fields {
		var mt h5.TypeInfo
		switch f.Type.Kind {
		case 'U':
			mt = h5.TypeInfo{Class: h5.ClassString, Vlen: true, Cset: 1, Size: vlenSlot}
		case 'b', 'i', 'u', 'f', 'S':
			var err error
			if mt, err = h5Type(f.Type); err != nil {
				return t, err
			}
		default:
			return t, fmt.Errorf("record field %q of dtype %s has no h5ad form in annslicer (it writes numbers, bools and strings); write zarr shards, or convert the field with anndata first", f.Name, f.Type)
		}
		if f.Shape != nil {
			if f.Type.Kind == 'U' {
				// h5py would need an array of variable-length strings,
				// which annslicer neither reads nor writes
				return t, fmt.Errorf("record field %q is a sub-array of text (%s, shape %v), which annslicer cannot write to h5ad (nor to zarr, which has no sub-array form current anndata reads); convert the field with anndata first", f.Name, f.Type, f.Shape)
			}
			// h5py writes a numpy sub-array field as an HDF5 array member
			elem := mt
			mt = h5.TypeInfo{Class: h5.ClassArray, Size: elem.Size * f.Elems(), Dims: f.Shape, Elem: &elem}
		}
		t.Members = append(t.Members, h5.Member{Name: f.Name, Offset: off, Type: mt})
		off += mt.Size
	}
	t.Size = off
	return t, nil
}

// hasText reports whether a record dtype has "U" fields, which become
// variable-length strings: such records are written through libhdf5
// (h5writer.records), not as raw bytes.
func hasText(dt zarr.DType) bool {
	if dt.Rec == nil {
		return false
	}
	for _, f := range dt.Rec.Fields {
		if f.Type.Kind == 'U' {
			return true
		}
	}
	return false
}

// records writes a record array with text fields as an HDF5 compound with
// variable-length string members, and its attributes.
func (w *h5writer) records(g *h5.Group, name string, t h5.TypeInfo, a *tree.PlanArray) error {
	raw, strs, err := recordBytes(a, t)
	if err != nil {
		return err
	}
	var vlen []int
	for i, f := range a.DType.Rec.Fields {
		if f.Type.Kind == 'U' {
			vlen = append(vlen, t.Members[i].Offset)
		}
	}
	l := w.chunked(a.Shape, int64(t.Size)*a.RowElems())
	ds, err := g.CreateTyped(name, t, a.Shape, l)
	if err != nil {
		return err
	}
	defer ds.Close()
	if err := ds.WriteRecords(raw, vlen, strs); err != nil {
		return err
	}
	return w.attrs(&ds.Object, a.Path, a.Attrs)
}

// recordBytes reads a record array with text fields as elements of t (in
// memory for libhdf5, or the file's layout for layout/h5w): the other
// fields at t's member offsets, the text decoded into strs, element by
// element, field by field.
func recordBytes(a *tree.PlanArray, t h5.TypeInfo) ([]byte, []string, error) {
	n := int64(1)
	for _, d := range a.Shape {
		n *= d
	}
	dt := a.DType
	if n*int64(max(dt.Size, t.Size)) > maxRecordBytes {
		return nil, nil, fmt.Errorf("/%s is a record array of %d elements; annslicer converts record arrays in memory, up to %d MiB", a.Path, n, maxRecordBytes>>20)
	}
	src := make([]byte, n*int64(dt.Size))
	if len(src) > 0 {
		if err := a.Fill(src, 0); err != nil {
			return nil, nil, err
		}
	}
	raw := make([]byte, n*int64(t.Size))
	texts := 0
	for _, f := range dt.Rec.Fields {
		if f.Type.Kind == 'U' {
			texts++
		}
	}
	strs := make([]string, 0, n*int64(texts))
	for e := int64(0); e < n; e++ {
		in, out := src[e*int64(dt.Size):], raw[e*int64(t.Size):]
		for i, f := range dt.Rec.Fields {
			v := in[f.Offset : f.Offset+f.Size()]
			if f.Type.Kind != 'U' {
				copy(out[t.Members[i].Offset:], v)
				continue
			}
			s, err := utf32String(f.Type, v)
			if err != nil {
				return nil, nil, fmt.Errorf("/%s: record %d, field %q: %v", a.Path, e, f.Name, err)
			}
			strs = append(strs, s)
		}
	}
	return raw, strs, nil
}

// utf32String decodes a numpy "U" value (trailing NULs are padding).
func utf32String(t zarr.DType, v []byte) (string, error) {
	o := binary.ByteOrder(binary.LittleEndian)
	if t.Order == '>' {
		o = binary.BigEndian
	}
	end := len(v)
	for end >= 4 && o.Uint32(v[end-4:end]) == 0 {
		end -= 4
	}
	rs := make([]rune, 0, end/4)
	for k := 0; k < end; k += 4 {
		r := o.Uint32(v[k:])
		if r == 0 {
			return "", fmt.Errorf("a string with a NUL inside, which an HDF5 variable-length string cannot hold")
		}
		if r > utf8.MaxRune || (r >= 0xD800 && r <= 0xDFFF) {
			return "", fmt.Errorf("invalid code point U+%X", r)
		}
		rs = append(rs, rune(r))
	}
	return string(rs), nil
}

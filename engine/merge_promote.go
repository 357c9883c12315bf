package engine

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/annslicer/annslicer/tree"
)

// Numeric obs columns whose dtype differs across inputs (int32 in one
// shard, int64 or float32 in another, as edits in pandas leave them):
// anndata.concat gives numpy's common type, and so do we, converting each
// input's values as they are read. Only dataframe columns: a matrix's
// dtype never changes. Booleans mixed with numbers and float16 are
// refused (pandas makes objects of them, which anndata cannot write).

// promote is numpy's common type of two integer or float dtypes.
func promote(a, b tree.DType) (tree.DType, bool) {
	num := func(d tree.DType) bool {
		return (d.Kind == 'i' || d.Kind == 'u' || d.Kind == 'f' && d.Size >= 4) && d.Size <= 8
	}
	if !num(a) || !num(b) {
		return tree.DType{}, false
	}
	if a.Kind == 'f' || b.Kind == 'f' {
		size := 4
		for _, d := range []tree.DType{a, b} {
			need := d.Size // a float holding every integer of d.Size bytes
			if d.Kind != 'f' {
				need = min(8, 2*d.Size)
			}
			size = max(size, need)
		}
		return tree.DType{Kind: 'f', Size: size, Order: '<'}, true
	}
	if a.Kind == b.Kind {
		out := outInts(max(a.Size, b.Size))
		out.Kind = a.Kind
		return out, true
	}
	s, u := a, b
	if s.Kind == 'u' {
		s, u = b, a
	}
	switch {
	case s.Size > u.Size:
		return outInts(s.Size), true
	case 2*u.Size <= 8:
		return outInts(2 * u.Size), true
	}
	return tree.DType{Kind: 'f', Size: 8, Order: '<'}, true
}

// promoteCol takes input e's dtype dt of numeric column n into the
// column's common type, or refuses it.
func (m *merger) promoteCol(n *mnode, e *openInput, dt tree.DType) error {
	cur := n.dt
	if n.outDT.Kind != 0 {
		cur = n.outDT
	}
	out, ok := promote(cur, dt)
	if !n.col || len(n.shape) != 1 || !ok {
		return m.errf(e, "%s has a different dtype than in %s; annslicer never converts dtypes: convert one with anndata first", n.path, m.refPath(n))
	}
	// set even when out is the first input's dtype: this input's values
	// are converted as they are read
	n.outDT = out
	return nil
}

// colDType is the dtype of a merged dense column: the inputs' common
// type, float64 for integers some inputs lack (pandas' missing value is
// NaN).
func colDType(n *mnode) tree.DType {
	dt := n.dt
	if n.outDT.Kind != 0 {
		dt = n.outDT
	}
	if n.absent != nil && (dt.Kind == 'i' || dt.Kind == 'u') {
		return tree.DType{Kind: 'f', Size: 8, Order: '<'}
	}
	return dt
}

// numPart reads an input's numeric column as dtype out.
func numPart(path string, out tree.DType) mpart {
	var order binary.ByteOrder = binary.LittleEndian
	if out.Order == '>' {
		order = binary.BigEndian
	}
	osz := int64(out.Size)
	return func(e *openInput, p []byte, off int64) error {
		a, err := e.array(path)
		if err != nil {
			return err
		}
		in := a.DType()
		if _, ok := promote(in, in); !ok {
			return fmt.Errorf("%s: %s: cannot convert dtype %c%d", e.src.Path, path, in.Kind, in.Size)
		}
		rr, err := e.reader(path)
		if err != nil {
			return err
		}
		ic, isInt := intCodecOf(in)
		var inOrder binary.ByteOrder = binary.LittleEndian
		if in.Order == '>' {
			inOrder = binary.BigEndian
		}
		oc, outInt := intCodecOf(out)
		return byUnits(p, off, osz, func(buf []byte, u0 int64) error {
			k := int64(len(buf)) / osz
			raw := make([]byte, k*int64(in.Size))
			if err := rr.ReadRows(raw, u0); err != nil {
				return err
			}
			for j := int64(0); j < k; j++ {
				src, dst := raw[j*int64(in.Size):], buf[j*osz:]
				if isInt && outInt {
					oc.Put(dst, ic.Get(src))
					continue
				}
				var f float64
				switch {
				case isInt && ic.Unsigned && ic.Size == 8:
					f = float64(uint64(ic.Get(src)))
				case isInt:
					f = float64(ic.Get(src))
				case in.Size == 4:
					f = float64(math.Float32frombits(inOrder.Uint32(src)))
				default:
					f = math.Float64frombits(inOrder.Uint64(src))
				}
				if out.Size == 4 {
					order.PutUint32(dst, math.Float32bits(float32(f)))
				} else {
					order.PutUint64(dst, math.Float64bits(f))
				}
			}
			return nil
		})
	}
}

package engine

import (
	"fmt"
	"os"

	"github.com/annslicer/annslicer/layout/image"
)

// Which part each input contributes to each merged array. Decisions that
// depend on an input's own types or column map are taken when the part is
// read (the input is open then), so nothing per input is kept but the
// offsets and the row tables.

// denseStack stacks a dense array's rows (obsp: as diagonal blocks; joined
// on var: scattered to the output's columns).
func (ob *outBuilder) denseStack(n *mnode, shape []int64) *mstack {
	m := ob.m
	esz := int64(n.dt.Size)
	outRB := esz
	for _, d := range shape[1:] {
		outRB *= d
	}
	path := n.path
	s := &mstack{inputPool: m.inputPool}
	for i, in := range m.inputs {
		row0 := in.row0
		p := func(e *openInput, p []byte, off int64) error {
			if n.graph {
				return denseGraphPart(path, row0, m.n, esz)(e, p, off)
			}
			cm, err := e.colMap(n.axis)
			if err != nil {
				return err
			}
			if cm != nil {
				if len(shape) != 2 {
					return fmt.Errorf("%s: %s: expected a 2-D array, got shape %v", e.src.Path, path, shape)
				}
				return denseScatterPart(path, cm, esz)(e, p, off)
			}
			return e.readAt(path, p, off)
		}
		var sp mpartSpans
		if !n.graph {
			sp = func(e *openInput, off, k int64) (*os.File, []image.Span, bool) {
				if cm, err := e.colMap(n.axis); err != nil || cm != nil {
					return nil, nil, false
				}
				return plainSpans(path, 0)(e, off, k)
			}
		}
		s.add(i, in.nobs*outRB, p, sp)
	}
	return s
}

// csrStacks stack a sparse matrix's data, indices and indptr (output
// integer types oi and op).
func (ob *outBuilder) csrStacks(n *mnode, oi, op Ints) (data, indices, indptr *mstack) {
	m := ob.m
	esz := int64(n.dt.Size)
	dataPath, idxPath, ptrPath := n.path+"/data", n.path+"/indices", n.path+"/indptr"
	data, indices, indptr = &mstack{inputPool: m.inputPool}, &mstack{inputPool: m.inputPool}, &mstack{inputPool: m.inputPool}
	indptr.head = make([]byte, op.Size) // row 0 starts at entry 0
	for i, in := range m.inputs {
		p0, base, nobs, row0 := n.p0[i], n.base[i], in.nobs, in.row0
		if rp := n.rowPtr[i]; rp != nil {
			// columns out of order or dropped: rebuilt row by row
			data.add(i, n.nnz[i]*esz, csrRowsPart(n, i, false, esz, oi), nil)
			indices.add(i, n.nnz[i]*int64(oi.Size), csrRowsPart(n, i, true, esz, oi), nil)
			indptr.add(i, nobs*int64(op.Size), intsPart(rp[1:], base, op), nil)
			continue
		}
		data.add(i, n.nnz[i]*esz, plainPart(dataPath, p0*esz), plainSpans(dataPath, p0*esz))
		plain := func(e *openInput) bool {
			if n.graph || !e.sameInts(idxPath, oi) {
				return false
			}
			cm, err := e.colMap(n.axis)
			return err == nil && cm == nil
		}
		idx := func(e *openInput, p []byte, off int64) error {
			if plain(e) {
				return e.readAt(idxPath, p, p0*int64(oi.Size)+off)
			}
			var f func(int64) (int64, error)
			switch cm, err := e.colMap(n.axis); {
			case err != nil:
				return err
			case n.graph:
				f = func(v int64) (int64, error) {
					if v < 0 || v >= nobs {
						return 0, fmt.Errorf("column index %d out of range; the sparse matrix is corrupt", v)
					}
					return v + row0, nil
				}
			case cm != nil:
				f = func(v int64) (int64, error) {
					if v < 0 || v >= int64(len(cm.To)) {
						return 0, fmt.Errorf("column index %d out of range; the sparse matrix is corrupt", v)
					}
					return int64(cm.To[v]), nil
				}
			}
			return e.convert(idxPath, p0, oi, f, p, off)
		}
		idxSpans := func(e *openInput, off, k int64) (*os.File, []image.Span, bool) {
			if !plain(e) {
				return nil, nil, false
			}
			return plainSpans(idxPath, p0*int64(oi.Size))(e, off, k)
		}
		indices.add(i, n.nnz[i]*int64(oi.Size), idx, idxSpans)
		shift := func(v int64) (int64, error) { return v - p0 + base, nil }
		indptr.add(i, nobs*int64(op.Size), func(e *openInput, p []byte, off int64) error {
			return e.convert(ptrPath, 1, op, shift, p, off)
		}, nil)
	}
	return data, indices, indptr
}

// codesStack stacks a categorical's codes, renumbered into the union of
// categories when they differ, widened when the union needs it.
func (ob *outBuilder) codesStack(n *mnode, oc Ints) *mstack {
	m := ob.m
	c := n.cat
	path := n.path + "/codes"
	s := &mstack{inputPool: m.inputPool}
	for i, in := range m.inputs {
		if n.absent != nil && n.absent[i] {
			none := make([]byte, oc.Size)
			oc.Put(none, -1)
			s.add(i, in.nobs*int64(oc.Size), constPart(none), nil)
			continue
		}
		if c.codes != nil && c.codes[i] != nil { // plain strings, numbered when scanned
			s.add(i, in.nobs*int64(oc.Size), int32Part(c.codes[i], oc), nil)
			continue
		}
		var f func(int64) (int64, error)
		if to := c.to[i]; to != nil {
			f = func(v int64) (int64, error) {
				if v < 0 {
					return -1, nil
				}
				if v >= int64(len(to)) {
					return 0, fmt.Errorf("code %d has no category; the categorical is corrupt", v)
				}
				return int64(to[v]), nil
			}
		}
		plain := func(e *openInput) bool { return f == nil && e.sameInts(path, oc) }
		p := func(e *openInput, p []byte, off int64) error {
			if plain(e) {
				return e.readAt(path, p, off)
			}
			return e.convert(path, 0, oc, f, p, off)
		}
		sp := func(e *openInput, off, k int64) (*os.File, []image.Span, bool) {
			if !plain(e) {
				return nil, nil, false
			}
			return plainSpans(path, 0)(e, off, k)
		}
		s.add(i, in.nobs*int64(oc.Size), p, sp)
	}
	return s
}

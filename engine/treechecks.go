package engine

import (
	"fmt"

	"github.com/annslicer/annslicer/tree"
)

// The checks of checks.go as the rules (rules.go) apply them to a source's
// element tree, h5ad or zarr alike.

// checkCSR validates a sparse matrix before anything is read by it: the
// arrays' kinds and lengths, the shape against n_obs and var, indptr's
// ends, then (rowRanges) each shard row's range inside data.
func (b *zbuilder) checkCSR(where string, c *zcsr, attrs tree.Attrs) error {
	if stringKind(c.data.DType().Kind) {
		return fmt.Errorf("%s/data holds strings; a sparse matrix must be numeric (convert it with anndata first)", where)
	}
	for _, a := range []tree.Array{c.data, c.indices, c.indptr} {
		if len(a.Shape()) != 1 {
			return fmt.Errorf("%s has shape %v; a sparse matrix's arrays are 1-D", a.Path(), a.Shape())
		}
	}
	ic, isInt := intCodecOf(c.indptr.DType())
	xc, ok := intCodecOf(c.indices.DType())
	if !ok || !isInt {
		return fmt.Errorf("%s: indices and indptr must be integer arrays; the sparse matrix is corrupt", where)
	}
	shape, ok := tree.AttrInts(attrs, c.shapeAttr)
	if !ok || len(shape) != 2 {
		return fmt.Errorf("%s: sparse matrix without a 2-element shape attribute", where)
	}
	ps := c.indptr.Shape()
	if shape[0] != b.t.NObs || ps[0] != shape[0]+1 {
		return fmt.Errorf("%s: sparse matrix of shape %v with indptr of shape %v, but the source has %d cells", where, shape, ps, b.t.NObs)
	}
	if err := b.ax.checkShape(where, shape); err != nil {
		return err
	}
	if err := checkIndexWidth(where, shape, xc); err != nil {
		return err
	}
	c.ncols, c.ptrCodec = shape[1], ic
	ends, err := readInts(c.indptr.Rows(), ic, []int64{0, b.t.NObs})
	if err != nil {
		return err
	}
	nnz := c.data.Shape()[0]
	if err := CheckCSRSpan(where, ends[0], ends[1], nnz, c.indices.Shape()[0]); err != nil {
		return err
	}
	c.starts, c.newPtr, err = b.rowRanges(c.indptr, ic, where, nnz, c.ncols)
	return err
}

// readInts reads elements pts of a 1-D integer array.
func readInts(rr RowReader, ic Ints, pts []int64) ([]int64, error) {
	raw := make([]byte, int64(len(pts))*rr.RowBytes())
	if err := denseRows(rr, pts)(raw, 0); err != nil {
		return nil, err
	}
	out := make([]int64, len(pts))
	for i := range out {
		out[i] = ic.Get(raw[i*ic.Size:])
	}
	return out, nil
}

// elemBytes is a dtype's element size for row bounds; a string ('O')
// counts as a 16-byte reference.
func elemBytes(dt tree.DType) int {
	if dt.Kind == 'O' {
		return 16
	}
	return dt.Size
}

// checkDense bounds a per-cell array's row, and holds a dense X, layer or
// raw X to var's width.
func (b *zbuilder) checkDense(a tree.Array) error {
	if err := checkRowBytes(a.Path(), a.Shape(), elemBytes(a.DType())); err != nil {
		return err
	}
	if b.ax.wantCols(a.Path()) < 0 {
		return nil
	}
	if stringKind(a.DType().Kind) {
		return fmt.Errorf("%s holds strings; a matrix (X, a layer, raw/X) must be numeric (convert it with anndata first)", a.Path())
	}
	if len(a.Shape()) == 2 {
		return b.ax.checkShape(a.Path(), a.Shape())
	}
	return nil
}

// treeAxes finds the column counts a source's matrices must have: n_vars
// from var's index, raw/var's for raw/X (-1 where there is none).
func treeAxes(root tree.Group, nObs int64) axes {
	a := axes{nObs: nObs, nVars: frameLen(root, "var"), nRawVars: -1}
	if raw, err := tree.ChildGroup(root, "raw"); err == nil && raw != nil {
		a.nRawVars = frameLen(raw, "var")
		raw.Close()
	}
	return a
}

// frameLen is the length of dataframe name in g: its index's (anndata 0.7
// on), or its own for the record arrays of older files; -1 if unknown.
func frameLen(g tree.Group, name string) int64 {
	fg, err := tree.ChildGroup(g, name)
	if err != nil {
		return -1
	}
	if fg == nil {
		return vectorLen(g, name)
	}
	defer fg.Close()
	attrs, err := fg.Attrs()
	if err != nil {
		return -1
	}
	idx := tree.AttrString(attrs, "_index")
	if idx == "" {
		return -1
	}
	return vectorLen(fg, idx)
}

// vectorLen is the length of g's 1-D array name, or -1.
func vectorLen(g tree.Group, name string) int64 {
	a, err := g.Array(name)
	if err != nil {
		return -1
	}
	defer a.Close()
	if sh := a.Shape(); len(sh) == 1 {
		return sh[0]
	}
	return -1
}

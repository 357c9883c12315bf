package engine

import (
	"fmt"

	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/h5ad"
)

// The checks of checks.go as build.go applies them to an h5ad source.

// checkCSR validates a sparse matrix before anything is read by it: the
// arrays' kinds and lengths, the shape against n_obs and var, indptr's
// ends, then (rowRanges) each shard row's range inside data.
func (b *builder) checkCSR(c *csrParts) error {
	g := c.g
	if err := h5Numeric(c.data, g.Path+"/data", "a sparse matrix"); err != nil {
		return err
	}
	for _, ds := range []*h5.Dataset{c.data, c.indices, c.indptr} {
		if len(ds.Dims) != 1 {
			return fmt.Errorf("%s has shape %v; a sparse matrix's arrays are 1-D", ds.Path, ds.Dims)
		}
	}
	if !c.indices.IsInteger || !c.indptr.IsInteger {
		return fmt.Errorf("%s: indices and indptr must be integer arrays; the sparse matrix is corrupt", g.Path)
	}
	shape, ok := g.AttrInts(c.shapeAttr)
	if !ok || len(shape) != 2 {
		return fmt.Errorf("%s: sparse matrix without a 2-element shape attribute", g.Path)
	}
	if shape[0] != b.src.NObs || c.indptr.Dims[0] != shape[0]+1 {
		return fmt.Errorf("%s: sparse matrix of shape %v with indptr of length %v, but the file has %d cells", g.Path, shape, c.indptr.Dims, b.src.NObs)
	}
	if err := b.ax.checkShape(g.Path, shape); err != nil {
		return err
	}
	if err := checkIndexWidth(g.Path, shape, codecOf(c.indices)); err != nil {
		return err
	}
	c.ncols = shape[1]
	ends, err := c.indptr.ReadInt64Points([]int64{0, b.src.NObs})
	if err != nil {
		return err
	}
	nnz := c.data.Dims[0]
	if err := CheckCSRSpan(g.Path, ends[0], ends[1], nnz, c.indices.Dims[0]); err != nil {
		return err
	}
	c.starts, c.newPtr, err = b.rowRanges(c.indptr, g.Path, nnz, c.ncols)
	return err
}

// h5Numeric refuses string (or other non-numeric) data where anndata
// requires numbers, naming what is there instead of letting libhdf5 fail
// on it later.
func h5Numeric(ds *h5.Dataset, where, what string) error {
	t, err := ds.TypeInfo()
	if err != nil {
		return err
	}
	switch t.Class {
	case h5.ClassString:
		return fmt.Errorf("%s holds strings; %s must be numeric (convert it with anndata first)", where, what)
	case h5.ClassReference:
		return fmt.Errorf("%s holds object references; %s must be numeric", where, what)
	}
	return nil // numbers, bools, and compounds such as h5py's complex
}

// checkDense bounds a dense per-cell array's row, and holds a dense X,
// layer or raw X to var's width.
func (b *builder) checkDense(ds *h5.Dataset) error {
	if err := checkRowBytes(ds.Path, ds.Dims, ds.ElemSize); err != nil {
		return err
	}
	if b.ax.wantCols(ds.Path) < 0 {
		return nil
	}
	if err := h5Numeric(ds, ds.Path, "a matrix (X, a layer, raw/X)"); err != nil {
		return err
	}
	if len(ds.Dims) == 2 {
		return b.ax.checkShape(ds.Path, ds.Dims)
	}
	return nil
}

// h5Axes finds the column counts a source's matrices must have: n_vars
// from var's index, raw/var's for raw/X (-1 where there is none).
func h5Axes(src *h5ad.Source) axes {
	a := axes{nObs: src.NObs, nVars: h5FrameLen(src.Root, "var"), nRawVars: -1}
	if src.Root.IsGroup("raw") {
		if raw, err := src.Root.OpenGroup("raw"); err == nil {
			a.nRawVars = h5FrameLen(raw, "var")
			raw.Close()
		}
	}
	return a
}

// h5FrameLen is the length of dataframe name in g: its index's (anndata
// 0.7 on), or its own for the record arrays of older files; -1 if unknown.
func h5FrameLen(g *h5.Group, name string) int64 {
	if !g.Has(name) {
		return -1
	}
	if !g.IsGroup(name) {
		ds, err := g.OpenDataset(name)
		if err != nil {
			return -1
		}
		defer ds.Close()
		if len(ds.Dims) != 1 {
			return -1
		}
		return ds.Dims[0]
	}
	fg, err := g.OpenGroup(name)
	if err != nil {
		return -1
	}
	defer fg.Close()
	idx, ok := fg.AttrString("_index")
	if !ok {
		return -1
	}
	return h5FrameLen(fg, idx)
}

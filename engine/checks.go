package engine

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Checks on what a source declares, made before a gather reads a byte or
// allocates a buffer by it: a shard must hold exactly source[rows] or the
// run must fail, and memory must stay bounded by the shard, never by a
// number written in metadata. The rules (rules.go, through
// treechecks.go) apply them to every source, whatever its format; merge's
// scan of a CSR input (materialize/merge_plan.go) applies the same rule as
// CheckCSRSpan.

// MaxRowBytes bounds one cell's record in any array a shard gathers by
// rows (a row of X, a layer, an obsm matrix, a dense obsp graph): every
// buffer of a gather or of a compressed chunk holds at least one row, so a
// declared shape of [n, 2^40] would otherwise be an allocation of 2^43
// bytes. 64 MiB is 8M float64 columns per cell, far beyond any AnnData
// element (60k genes are 480 KB).
const MaxRowBytes = 64 << 20

// checkRowBytes refuses an array whose row (every element with one index
// along the first axis) is negative, overflows, or exceeds MaxRowBytes.
func checkRowBytes(where string, shape []int64, elemSize int) error {
	n := uint64(max(elemSize, 0))
	if n > MaxRowBytes { // a 0-d or 1-D array's row is one element
		return fmt.Errorf("%s declares %d-byte elements, more than annslicer's limit of %d MiB per cell; the dtype is corrupt", where, n, MaxRowBytes>>20)
	}
	for _, d := range shape[min(1, len(shape)):] {
		if d < 0 {
			return fmt.Errorf("%s declares shape %v, with a negative dimension; the file is corrupt", where, shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > MaxRowBytes {
			return fmt.Errorf("%s declares shape %v: %s per cell, more than annslicer's limit of %d MiB per cell; the shape is corrupt", where, shape, rowSize(hi, lo), MaxRowBytes>>20)
		}
		n = lo
	}
	return nil
}

func rowSize(hi, lo uint64) string {
	if hi != 0 || lo > math.MaxInt64 {
		return "more than 2^63 bytes"
	}
	return fmt.Sprintf("%d bytes", lo)
}

// CheckCSRSpan is the whole-matrix rule for a CSR matrix's arrays: data
// and indices hold the same number of entries, and indptr runs from
// first = indptr[0] >= 0 to last = indptr[n_rows] within them. merge
// checks its inputs by the same rule.
func CheckCSRSpan(where string, first, last, nData, nIndices int64) error {
	if nData != nIndices {
		return fmt.Errorf("%s: data holds %d entries but indices holds %d; the sparse matrix is corrupt", where, nData, nIndices)
	}
	if first < 0 || last < first || last > nData {
		return fmt.Errorf("%s: indptr runs from %d to %d but data holds %d entries; the sparse matrix is corrupt", where, first, last, nData)
	}
	return nil
}

// checkRowSpans is what makes a gather exact: each shard row i takes
// entries [starts[i], ends[i]) of data and indices, which must lie inside
// the nnz entries they hold and not run backwards. Together with
// CheckCSRSpan, every byte a shard copies is an entry of the matrix.
//
// A row also holds at most ncols entries (each column once, as scipy's
// canonical format has it): data declared 2^40 long in never-written HDF5
// chunks costs nothing to store, and an indptr pointing across it would
// otherwise make a shard of terabytes (an obsp row: held in memory).
func checkRowSpans(where string, rows, starts, ends []int64, nnz, ncols int64) error {
	for i, s := range starts {
		e := ends[i]
		if e < s {
			return fmt.Errorf("%s: indptr decreases at row %d (from %d to %d); the sparse matrix is corrupt", where, rows[i], s, e)
		}
		if s < 0 || e > nnz {
			return fmt.Errorf("%s: indptr gives row %d the entries [%d, %d) but data holds %d entries; the sparse matrix is corrupt", where, rows[i], s, e, nnz)
		}
		if e-s > ncols {
			return fmt.Errorf("%s: indptr gives row %d %d entries but the matrix has %d columns; the sparse matrix is corrupt, or holds duplicate entries (sum them with scipy's sum_duplicates first)", where, rows[i], e-s, ncols)
		}
	}
	return nil
}

// Column counts an element must have, found from var and raw/var (-1:
// unknown, not checked).
type axes struct {
	nObs, nVars, nRawVars int64
}

// wantCols is the column count the element at path (rooted, "/X") must
// have: n_vars for X and layers, raw/var's length for raw/X, n_obs for an
// obsp graph; -1 for obsm (any width).
func (a axes) wantCols(path string) int64 {
	p := strings.TrimPrefix(path, "/")
	dir, _, nested := strings.Cut(p, "/")
	switch {
	case p == "X" || (dir == "layers" && nested && strings.Count(p, "/") == 1):
		return a.nVars
	case p == "raw/X":
		return a.nRawVars
	case dir == "obsp" && nested:
		return a.nObs
	}
	return -1
}

// colsNoun says where wantCols's n comes from, for messages.
func colsNoun(path string, n int64) string {
	switch p := strings.TrimPrefix(path, "/"); {
	case p == "raw/X":
		return fmt.Sprintf("raw/var holds %d genes", n)
	case strings.HasPrefix(p, "obsp/"):
		return fmt.Sprintf("the source has %d cells", n)
	}
	return fmt.Sprintf("var holds %d genes", n)
}

// checkShape refuses a matrix shape (a sparse group's shape attribute, or
// a dense per-cell matrix's dims) that anndata could not read back: rows
// other than n_obs, negative columns, or columns other than what var (or
// raw/var) says.
func (a axes) checkShape(path string, shape []int64) error {
	if len(shape) != 2 {
		return fmt.Errorf("%s has shape %v; expected (%d, n_cols)", path, shape, a.nObs)
	}
	if shape[0] != a.nObs {
		return fmt.Errorf("%s has shape %v but the source has %d cells; the matrix is corrupt", path, shape, a.nObs)
	}
	if shape[1] < 0 {
		return fmt.Errorf("%s has shape %v, with a negative column count; the matrix is corrupt", path, shape)
	}
	if want := a.wantCols(path); want >= 0 && shape[1] != want {
		return fmt.Errorf("%s has shape %v but %s; anndata could not read its shards back: the matrix is corrupt", path, shape, colsNoun(path, want))
	}
	return nil
}

// shardPtr fills the shard's indptr from its rows' ranges (already
// checked by checkRowSpans), refusing a total that overflows: rows of a
// corrupt, non-monotonic indptr may each span all of data.
func shardPtr(where string, starts, ends, newPtr []int64) error {
	for i, s := range starts {
		n := newPtr[i] + (ends[i] - s)
		if n < newPtr[i] {
			return fmt.Errorf("%s: the shard's rows hold more than 2^63 entries; indptr is corrupt", where)
		}
		newPtr[i+1] = n
	}
	return nil
}

// Column indices themselves are not checked against n_cols: a shard
// copies them as they are in the source (so it holds exactly source[rows],
// as anndata's own row slicing would), mostly by copy_file_range without
// passing through memory, and a mount serves them lazily. Checking each
// one would cost a pass over all the indices a shard gathers (measured on
// 200k x 10k, nnz 2 x 19.9M int32: slice --size 20000 takes 0.75 s; the
// scan alone runs at ~1.1 GB/s specialised, ~0.2 GB/s through Ints.Get,
// i.e. +0.15 to +0.8 s, +20% to +100%) and, under a mount, could only fail
// a read half-way through a shard rather than refuse it up front.

// checkIndexWidth refuses a column count that the indices' integer type
// cannot address (2^40 columns with int32 indices): scipy cannot index
// such a matrix, and no index could point at most of its columns.
func checkIndexWidth(where string, shape []int64, ic Ints) error {
	if shape[1] > 0 && !ic.Holds(shape[1]-1) {
		return fmt.Errorf("%s has shape %v but its indices are %d-bit integers, which cannot address %d columns; the shape is corrupt", where, shape, 8*ic.Size, shape[1])
	}
	return nil
}

// MaxWholeStrings bounds a string array copied whole (var's index, uns):
// the element tree holds its strings in memory, so a declared length of
// 2^40 would be an allocation of 16 TiB before a chunk is read. 16M
// strings is far beyond any var (genes, peaks) or uns array.
const MaxWholeStrings = 1 << 24

// checkWholeStrings refuses a string array with more elements than
// MaxWholeStrings, counting without overflow.
func checkWholeStrings(where string, shape []int64) error {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("%s declares shape %v, with a negative dimension; the file is corrupt", where, shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > MaxWholeStrings {
			return fmt.Errorf("%s declares shape %v: more strings than annslicer's limit of %d for an element copied whole; the shape is corrupt", where, shape, MaxWholeStrings)
		}
		n = lo
	}
	return nil
}

// stringKind: numpy dtype kinds of strings, which a matrix (X, a layer,
// raw/X, a sparse matrix's data) may not hold: anndata requires numbers.
func stringKind(k byte) bool { return k == 'O' || k == 'S' || k == 'U' }

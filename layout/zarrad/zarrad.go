// Package zarrad knows AnnData's layout on Zarr: it opens a zarr store as
// an AnnData source (checking every metadata document and chunk file up
// front, so a corrupt store fails before anything is written) and reads its
// arrays by rows, through the zarr package's shared chunk cache.
package zarrad

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/annslicer/annslicer/layout/zarr"
)

// Source is an AnnData zarr store opened for reading.
type Source struct {
	Path  string
	Store *zarr.Store
	NObs  int64
	// NVars is the length of the var index, -1 when there is no var.
	NVars    int64
	rawNVars int64 // the same for raw/var
}

// Open opens the store at path as an AnnData source. It reads every
// metadata document (so bad JSON or an unknown codec is reported now) and,
// for zarr v2 stores, checks that every chunk file exists: zarr-python 2
// (anndata's writer) writes every chunk, so a missing one means the store
// is incomplete, not that it holds fill values.
func Open(path string, cache *zarr.Cache) (*Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file or directory", path)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory (a .zarr store is a directory)", path)
	}
	store, err := zarr.Open(path, &zarr.Options{Cache: cache})
	if err != nil {
		return nil, err
	}
	s := &Source{Path: path, Store: store}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Source) errorf(format string, a ...any) error {
	return fmt.Errorf("%s: %s", s.Path, fmt.Sprintf(format, a...))
}

func (s *Source) check() error {
	root, err := s.Store.Group("")
	if err != nil {
		return err
	}
	if et, ok := AttrString(root.Attrs, "encoding-type"); ok && et != "anndata" {
		return s.errorf("not an AnnData store (root encoding-type is %q)", et)
	}
	obs, err := s.Store.Stat("obs")
	if err != nil {
		if errors.Is(err, zarr.ErrNotExist) {
			return s.errorf("not an AnnData store (no obs element); expected a store written by anndata")
		}
		return err
	}
	if !obs.IsArray {
		idx, ok := AttrString(obs.Attrs, "_index")
		if !ok {
			return s.errorf("obs has no _index attribute; not an AnnData dataframe")
		}
		a, err := s.indexArray("obs", idx)
		if err != nil {
			return err
		}
		if len(a.Meta.Shape) != 1 {
			return s.errorf("obs index %q is not 1-D", idx)
		}
		if err := s.checkStorage(a, true); err != nil {
			return err
		}
		s.NObs = int64(a.Meta.Shape[0])
	} else {
		a, err := s.Store.Array("obs")
		if err != nil {
			return err
		}
		if len(a.Meta.Shape) == 0 {
			return s.errorf("obs is a 0-d array")
		}
		if err := s.checkStorage(a, true); err != nil {
			return err
		}
		s.NObs = int64(a.Meta.Shape[0])
	}
	if s.NVars, err = s.indexLen("var"); err != nil {
		return err
	}
	if s.rawNVars, err = s.indexLen("raw/var"); err != nil {
		return err
	}
	if err := s.walk(root); err != nil {
		return err
	}
	for _, p := range []string{"X", "raw/X"} {
		if err := s.rejectCSC(p); err != nil {
			return err
		}
	}
	for _, g := range []string{"layers", "obsm"} {
		n, err := s.Store.Stat(g)
		if err != nil || n.IsArray {
			continue
		}
		grp, err := s.Store.Group(g)
		if err != nil {
			return err
		}
		kids, err := grp.Children()
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := s.rejectCSC(g + "/" + k.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// walk opens every node below g, checking metadata, the declared shape
// against the store's cells and genes, and the chunk files.
func (s *Source) walk(g *zarr.Group) error {
	kids, err := g.Children()
	if err != nil {
		return err
	}
	for _, k := range kids {
		p := k.Name
		if g.Path != "" {
			p = g.Path + "/" + k.Name
		}
		if !k.IsArray {
			sub, err := s.Store.Group(p)
			if err != nil {
				return err
			}
			if err := s.checkSparseShape(sub); err != nil {
				return err
			}
			if err := s.walk(sub); err != nil {
				return err
			}
			continue
		}
		a, err := s.Store.Array(p)
		if err != nil {
			return err
		}
		if err := s.checkShape(a); err != nil {
			return err
		}
		if err := s.checkStorage(a, false); err != nil {
			return err
		}
	}
	return nil
}

func (s *Source) rejectCSC(path string) error {
	n, err := s.Store.Stat(path)
	if err != nil || n.IsArray {
		return nil
	}
	if et, _ := AttrString(n.Attrs, "encoding-type"); et == "csc_matrix" {
		py := strings.ReplaceAll(path, "/", ".")
		return s.errorf("%s is a CSC matrix, which cannot be sliced by rows without reading it whole; convert it to CSR first (in Python: adata.%s = adata.%s.tocsr(), then write_zarr)", path, py, py)
	}
	return nil
}

// AttrString reads a string attribute.
func AttrString(a zarr.Attrs, name string) (string, bool) {
	raw, ok := a[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// Rows reads whole rows (indices along the first axis) of a fixed-size
// array as raw bytes in the array's dtype and byte order. A 0-d array has
// one row.
type Rows struct {
	A        *zarr.Array
	rowElems int64
	rowBytes int64
}

// NewRows wraps a for row reads.
func NewRows(a *zarr.Array) *Rows {
	n := int64(1)
	for _, d := range a.Meta.Shape[min(1, len(a.Meta.Shape)):] {
		n *= int64(d)
	}
	return &Rows{A: a, rowElems: n, rowBytes: n * int64(a.Meta.DType.Size)}
}

func (r *Rows) RowBytes() int64 { return r.rowBytes }

// ReadRows fills p (a whole number of rows) from rows starting at row0.
func (r *Rows) ReadRows(p []byte, row0 int64) error {
	if len(p) == 0 {
		return nil
	}
	return r.A.ReadRowsInto(p, int(row0))
}

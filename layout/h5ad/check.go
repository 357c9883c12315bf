package h5ad

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/annslicer/annslicer/layout/h5"
)

// Sizes declared in metadata are trusted by nothing: before any allocation
// is sized by n_obs (shard names, row lists) the obs index must be backed
// by the bytes the file stores for it, and every element sliced by rows
// must declare exactly n_obs rows (var elements n_vars), so that no other
// declared length can ask for more than the file holds.

// bigDeclared is the declared size above which a chunked dataset must be
// backed by written chunks: smaller ones cost little even when mostly fill.
const bigDeclared = 64 << 20

// declaredBytes is the byte size a dataset's shape and type declare (for
// variable-length data, of its descriptors), or an error when it
// overflows or a dimension is negative.
func declaredBytes(ds *h5.Dataset, desc int) (int64, error) {
	n := uint64(ds.ElemSize)
	if ds.Variable {
		n = uint64(desc)
	}
	for _, d := range ds.Dims {
		if d < 0 {
			return 0, fmt.Errorf("%s declares a negative or huge dimension (shape %v); the file is corrupt", ds.Path, udims(ds.Dims))
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > 1<<62 {
			return 0, fmt.Errorf("%s declares shape %v, more bytes than any file holds; the file is corrupt", ds.Path, udims(ds.Dims))
		}
		n = lo
	}
	return int64(n), nil
}

// udims prints dimensions as libhdf5 holds them (unsigned).
func udims(d []int64) []uint64 {
	out := make([]uint64, len(d))
	for i, x := range d {
		out[i] = uint64(x)
	}
	return out
}

// checkStorage refuses a dataset whose declared size is not backed by
// storage: contiguous and compact data must be stored whole; chunked data
// must have its chunks written when strict (an index, whose length sizes
// allocations) or when it declares more than bigDeclared bytes.
func (s *Source) checkStorage(ds *h5.Dataset, strict bool) error {
	desc, err := s.File.VlenDiskSize()
	if err != nil {
		return err
	}
	need, err := declaredBytes(ds, desc)
	if err != nil || need == 0 {
		return err
	}
	if !ds.IsChunked() {
		if st := ds.StorageSize(); st < need {
			return fmt.Errorf("%s declares shape %v (%d bytes) but the file stores %d bytes for it; the file is truncated or corrupt", ds.Path, udims(ds.Dims), need, st)
		}
		return nil
	}
	if !strict && need <= bigDeclared {
		return nil
	}
	c := ds.Chunk()
	if len(c) != len(ds.Dims) {
		return fmt.Errorf("%s: chunk shape %v does not match shape %v; the file is corrupt", ds.Path, c, udims(ds.Dims))
	}
	want := int64(1)
	for i, d := range ds.Dims {
		if c[i] <= 0 {
			return fmt.Errorf("%s: chunk shape %v is invalid; the file is corrupt", ds.Path, c)
		}
		want *= (d + c[i] - 1) / c[i] // no overflow: need bounds the product of dims
	}
	got, err := ds.NumChunks()
	if err != nil {
		return err
	}
	if got < want {
		return fmt.Errorf("%s declares shape %v (%d chunks) but the file stores %d chunks of it; the file is truncated or corrupt", ds.Path, udims(ds.Dims), want, got)
	}
	return nil
}

// lengthOf is an element's length along its first axis: a dataset's first
// dimension, a sparse matrix's shape (after checking its arrays agree), a
// dataframe's index length; ok is false for groups without one (dicts).
func (s *Source) lengthOf(g *h5.Group, name string) (n int64, cols int64, ok bool, err error) {
	if !g.IsGroup(name) {
		ds, err := g.OpenDataset(name)
		if err != nil {
			return 0, 0, false, err
		}
		defer ds.Close()
		if err := s.checkStorage(ds, false); err != nil {
			return 0, 0, false, err
		}
		if len(ds.Dims) == 0 {
			return 0, 0, false, fmt.Errorf("%s is a scalar, not an array with a row per item", ds.Path)
		}
		cols = -1
		if len(ds.Dims) > 1 {
			cols = ds.Dims[1]
		}
		return ds.Dims[0], cols, true, nil
	}
	sg, err := g.OpenGroup(name)
	if err != nil {
		return 0, 0, false, err
	}
	defer sg.Close()
	switch enc := EncodingOf(&sg.Object); enc {
	case "csr_matrix", "csc_matrix":
		return s.sparseShape(sg, enc)
	case "dataframe":
		idx, ok := sg.AttrString("_index")
		if !ok || !sg.Has(idx) {
			return 0, 0, false, fmt.Errorf("%s is a dataframe without its _index; the file is corrupt", sg.Path)
		}
		n, _, _, err := s.lengthOf(sg, idx)
		return n, -1, true, err
	case "categorical":
		n, _, _, err := s.lengthOf(sg, "codes")
		return n, -1, true, err
	}
	if sg.Has("values") && strings.HasPrefix(EncodingOf(&sg.Object), "nullable") {
		n, _, _, err := s.lengthOf(sg, "values")
		return n, -1, true, err
	}
	return 0, 0, false, nil
}

// sparseShape checks a sparse matrix's arrays against its shape attribute:
// indptr one longer than the compressed axis, data as long as indices.
func (s *Source) sparseShape(g *h5.Group, enc string) (rows, cols int64, ok bool, err error) {
	shape, ok := g.AttrInts(ShapeAttr(&g.Object))
	if !ok || len(shape) != 2 || shape[0] < 0 || shape[1] < 0 || shape[0] > 1<<48 || shape[1] > 1<<48 {
		return 0, 0, false, fmt.Errorf("%s: sparse matrix with shape attribute %v; expected two non-negative sizes; the file is corrupt", g.Path, shape)
	}
	var ln [3]int64
	for i, a := range []string{"indptr", "indices", "data"} {
		if g.IsGroup(a) || !g.Has(a) {
			return 0, 0, false, fmt.Errorf("%s: sparse matrix without a %s array; the file is corrupt", g.Path, a)
		}
		ds, err := g.OpenDataset(a)
		if err != nil {
			return 0, 0, false, err
		}
		err = s.checkStorage(ds, false)
		if err == nil && len(ds.Dims) != 1 {
			err = fmt.Errorf("%s is not 1-D (shape %v); the file is corrupt", ds.Path, udims(ds.Dims))
		}
		if err == nil {
			ln[i] = ds.Dims[0]
		}
		ds.Close()
		if err != nil {
			return 0, 0, false, err
		}
	}
	major := shape[0]
	if enc == "csc_matrix" {
		major = shape[1]
	}
	if ln[0] != major+1 {
		return 0, 0, false, fmt.Errorf("%s: indptr has %d entries but the shape attribute %v needs %d; the file is corrupt", g.Path, ln[0], shape, major+1)
	}
	if ln[1] != ln[2] {
		return 0, 0, false, fmt.Errorf("%s: data holds %d entries but indices holds %d; the file is corrupt", g.Path, ln[2], ln[1])
	}
	return shape[0], shape[1], true, nil
}

// indexLength is the length of a dataframe's index (or, for the oldest
// files, of its record array), checked against the bytes stored for it.
func (s *Source) indexLength(name string) (int64, error) {
	if !s.Root.IsGroup(name) {
		ds, err := s.Root.OpenDataset(name)
		if err != nil {
			return 0, err
		}
		defer ds.Close()
		if err := s.checkStorage(ds, true); err != nil {
			return 0, err
		}
		if len(ds.Dims) != 1 {
			return 0, fmt.Errorf("%s is not 1-D (shape %v); not an AnnData dataframe", name, udims(ds.Dims))
		}
		return ds.Dims[0], nil
	}
	g, err := s.Root.OpenGroup(name)
	if err != nil {
		return 0, err
	}
	defer g.Close()
	idx, ok := g.AttrString("_index")
	if !ok {
		return 0, fmt.Errorf("%s has no _index attribute; not an AnnData dataframe", name)
	}
	if !g.Has(idx) {
		return 0, fmt.Errorf("%s index %q is missing; the file is corrupt", name, idx)
	}
	member := idx
	if g.IsGroup(idx) {
		// a pandas "string" index: anndata writes it as a nullable
		// string array, whose values hold one string per row
		if member, err = nullableValues(g, idx); err != nil {
			return 0, fmt.Errorf("%s index %q: %v", name, idx, err)
		}
	}
	ds, err := g.OpenDataset(member)
	if err != nil {
		return 0, fmt.Errorf("%s index %q: %v", name, idx, err)
	}
	defer ds.Close()
	if len(ds.Dims) != 1 {
		return 0, fmt.Errorf("%s index %q is not 1-D", name, idx)
	}
	if err := s.checkStorage(ds, true); err != nil {
		return 0, err
	}
	return ds.Dims[0], nil
}

// axis says what an element's axes must count.
type axis struct {
	rows int64
	cols int64 // -1: not checked
}

// checkLengths ties every element to n_obs and n_vars: X, layers, obsm,
// obsp, obs columns and raw/X have a row per cell; var columns, varm and
// varp a row per gene (raw/var and raw/varm per raw gene).
func (s *Source) checkLengths() error {
	nvars := int64(-1)
	if s.Root.Has("var") {
		n, err := s.indexLength("var")
		if err != nil {
			return err
		}
		nvars = n
	}
	obs, vars := axis{s.NObs, -1}, axis{nvars, -1}
	checks := []struct {
		path  string
		whole bool // the element itself, not its members
		want  axis
	}{
		{"X", true, axis{s.NObs, nvars}},
		{"layers", false, axis{s.NObs, nvars}},
		{"obsm", false, obs},
		{"obsp", false, axis{s.NObs, s.NObs}},
		{"obs", false, obs},
		{"var", false, vars},
		{"varm", false, vars},
		{"varp", false, axis{nvars, nvars}},
	}
	for _, c := range checks {
		if err := s.checkElement(s.Root, c.path, c.whole, c.want); err != nil {
			return err
		}
	}
	if !s.Root.IsGroup("raw") {
		return nil
	}
	raw, err := s.Root.OpenGroup("raw")
	if err != nil {
		return err
	}
	defer raw.Close()
	rawVars := int64(-1)
	if raw.Has("var") {
		n, _, ok, err := s.lengthOf(raw, "var")
		if err != nil {
			return err
		}
		if ok {
			rawVars = n
		}
	}
	for _, c := range []struct {
		path  string
		whole bool
		want  axis
	}{{"X", true, axis{s.NObs, rawVars}}, {"var", false, axis{rawVars, -1}}, {"varm", false, axis{rawVars, -1}}} {
		if err := s.checkElement(raw, c.path, c.whole, c.want); err != nil {
			return err
		}
	}
	return nil
}

// checkElement checks element path of g (or, unless whole, each of its
// members) against want.
func (s *Source) checkElement(g *h5.Group, path string, whole bool, want axis) error {
	if !g.Has(path) || want.rows < 0 {
		return nil
	}
	if whole || !g.IsGroup(path) {
		return s.checkOne(g, path, want)
	}
	sg, err := g.OpenGroup(path)
	if err != nil {
		return err
	}
	defer sg.Close()
	kids, err := sg.Children()
	if err != nil {
		return err
	}
	for _, k := range kids {
		// categories count categories, not cells; anndata 0.7 kept them
		// in __categories.
		if k.Other || k.Name == "__categories" {
			continue
		}
		if err := s.checkOne(sg, k.Name, want); err != nil {
			return err
		}
	}
	return nil
}

func (s *Source) checkOne(g *h5.Group, name string, want axis) error {
	n, cols, ok, err := s.lengthOf(g, name)
	if err != nil || !ok {
		return err
	}
	p := joinPath(g.Path, name)
	what := "cells"
	if want.rows != s.NObs {
		what = "genes"
	}
	if n != want.rows {
		return fmt.Errorf("%s has %d rows but the file has %d %s; the file is corrupt", p, n, want.rows, what)
	}
	if want.cols >= 0 && cols >= 0 && cols != want.cols {
		return fmt.Errorf("%s has %d columns but %d are expected (one per %s); the file is corrupt", p, cols, want.cols, colWhat(want, s.NObs))
	}
	return nil
}

func colWhat(want axis, nobs int64) string {
	if want.cols == nobs && want.rows == nobs {
		return "cell"
	}
	return "gene"
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return name
	}
	return strings.TrimPrefix(dir, "/") + "/" + name
}

// nullableValues is the path, relative to g, of the values of g's member
// idx when that is a nullable string array (the only group an index may be).
func nullableValues(g *h5.Group, idx string) (string, error) {
	ig, err := g.OpenGroup(idx)
	if err != nil {
		return "", err
	}
	defer ig.Close()
	if et, _ := ig.AttrString("encoding-type"); et != "nullable-string-array" {
		return "", fmt.Errorf("is a group of encoding %q; an index is a string array or a nullable string array", et)
	}
	if !ig.Has("values") || ig.IsGroup("values") {
		return "", fmt.Errorf("is a nullable string array without its values; the file is corrupt")
	}
	return idx + "/values", nil
}

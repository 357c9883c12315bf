package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/layout/zarrad"
)

// An element tree is an AnnData source, h5ad or zarr, seen the way a zarr
// shard is written: groups and arrays with JSON attributes, numpy dtypes,
// fixed-size arrays read by rows and string arrays read as strings.

type tchild struct {
	name    string
	isGroup bool
}

type tnode interface {
	path() string
	attrs() (zarr.Attrs, error)
	close()
}

type tgroup interface {
	tnode
	children() ([]tchild, error)
	group(name string) (tgroup, error)
	array(name string) (tarray, error)
}

type tarray interface {
	tnode
	shape() []int64
	dtype() zarr.DType // Kind 'O' for variable-length strings
	// rows reads a fixed-size array (0-d: one row) as raw bytes.
	rows() RowReader
	// strings reads a string array ('O') at rows of its first axis, in
	// that order (whole rows of a multi-dimensional one); nil: all of it.
	strings(rows []int64) ([]string, error)
}

// Tree is an AnnData source opened as an element tree, for writing zarr
// shards from it (and h5ad shards from a zarr source).
type Tree struct {
	Path  string
	NObs  int64
	root  func() (tgroup, error)
	close func()
}

// Close releases the source.
func (t *Tree) Close() {
	if t.close != nil {
		t.close()
	}
}

// ---- h5ad ----

// H5ADTree views an open h5ad source as an element tree. The source stays
// the caller's.
func H5ADTree(src *h5ad.Source) *Tree {
	return &Tree{Path: src.Path, NObs: src.NObs, root: func() (tgroup, error) {
		g, err := src.File.Root()
		if err != nil {
			return nil, err
		}
		return &h5Group{src: src, g: g}, nil
	}}
}

type h5Group struct {
	src *h5ad.Source
	g   *h5.Group
}

func (g *h5Group) path() string               { return g.g.Path }
func (g *h5Group) close()                     { g.g.Close() }
func (g *h5Group) attrs() (zarr.Attrs, error) { return h5Attrs(&g.g.Object) }

func (g *h5Group) children() ([]tchild, error) {
	kids, err := g.g.Children()
	if err != nil {
		return nil, err
	}
	out := make([]tchild, 0, len(kids))
	for _, k := range kids {
		if k.Other {
			return nil, fmt.Errorf("%s: %q is neither a group nor a dataset (a committed type or broken link), which zarr cannot hold", g.g.Path, k.Name)
		}
		out = append(out, tchild{k.Name, k.IsGroup})
	}
	return out, nil
}

func (g *h5Group) group(name string) (tgroup, error) {
	sg, err := g.g.OpenGroup(name)
	if err != nil {
		return nil, err
	}
	return &h5Group{src: g.src, g: sg}, nil
}

func (g *h5Group) array(name string) (tarray, error) {
	ds, err := g.g.OpenDataset(name)
	if err != nil {
		return nil, err
	}
	a := &h5Array{src: g.src, ds: ds}
	t, err := ds.TypeInfo()
	if err == nil && t.Class == h5.ClassCompound {
		return h5Records(a) // a record array (structured.go)
	}
	if err == nil {
		a.dt, err = h5DType(ds.Path, t)
	}
	if err != nil {
		ds.Close()
		return nil, err
	}
	return a, nil
}

type h5Array struct {
	src *h5ad.Source
	ds  *h5.Dataset
	dt  zarr.DType
}

func (a *h5Array) path() string               { return a.ds.Path }
func (a *h5Array) close()                     { a.ds.Close() }
func (a *h5Array) attrs() (zarr.Attrs, error) { return h5Attrs(&a.ds.Object) }
func (a *h5Array) shape() []int64             { return a.ds.Dims }
func (a *h5Array) dtype() zarr.DType          { return a.dt }

func (a *h5Array) rows() RowReader {
	if len(a.ds.Dims) == 0 {
		return &h5Scalar{ds: a.ds}
	}
	return a.src.Array(a.ds)
}

func (a *h5Array) strings(rows []int64) ([]string, error) {
	ds := a.ds
	if rows == nil || len(ds.Dims) != 1 {
		all, err := ds.ReadAllStrings()
		if err != nil || rows == nil {
			return all, err
		}
		per := int64(len(all)) / max(1, ds.Dims[0])
		out := make([]string, 0, int64(len(rows))*per)
		for _, r := range rows {
			out = append(out, all[r*per:(r+1)*per]...)
		}
		return out, nil
	}
	desc := a.src.VlenDescriptors(ds)
	if desc == nil || Contiguous(rows) {
		s, _, err := ds.ReadStrings(rows)
		return s, err
	}
	const vd = 16
	raw := make([]byte, int64(len(rows))*vd)
	if err := denseRows(desc, rows)(raw, 0); err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i := range out {
		var err error
		if out[i], err = a.src.VlenString(raw[i*vd:]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// h5Scalar reads a 0-d dataset as one row.
type h5Scalar struct{ ds *h5.Dataset }

func (s *h5Scalar) RowBytes() int64 { return int64(s.ds.ElemSize) }
func (s *h5Scalar) ReadRows(p []byte, row0 int64) error {
	if len(p) == 0 {
		return nil
	}
	b, err := s.ds.ReadAll()
	if err != nil {
		return err
	}
	copy(p, b)
	return nil
}

// h5DType names an HDF5 type as a numpy dtype.
func h5DType(where string, t h5.TypeInfo) (zarr.DType, error) {
	order := byte('<')
	if t.BigEndian {
		order = '>'
	}
	if t.Size == 1 {
		order = '|'
	}
	switch t.Class {
	case h5.ClassInt:
		k := byte('u')
		if t.Signed {
			k = 'i'
		}
		return zarr.DType{Kind: k, Size: t.Size, Order: order}, nil
	case h5.ClassFloat:
		if t.Size == 2 || t.Size == 4 || t.Size == 8 {
			return zarr.DType{Kind: 'f', Size: t.Size, Order: order}, nil
		}
	case h5.ClassBool:
		return zarr.DType{Kind: 'b', Size: 1, Order: '|'}, nil
	case h5.ClassString:
		if t.Vlen {
			return zarr.DType{Kind: 'O', Order: '|'}, nil
		}
		return zarr.DType{Kind: 'S', Size: t.Size, Order: '|'}, nil
	case h5.ClassReference:
		return zarr.DType{}, fmt.Errorf("%s holds object references, which zarr cannot hold", where)
	}
	return zarr.DType{}, fmt.Errorf("%s has an HDF5 type (class %d, %d bytes) that zarr shards do not support", where, t.Class, t.Size)
}

// h5Attrs converts an object's attributes to JSON as anndata writes them
// to zarr: strings, numbers, booleans and lists of them.
func h5Attrs(o *h5.Object) (zarr.Attrs, error) {
	names, err := o.AttrNames()
	if err != nil {
		return nil, err
	}
	out := zarr.Attrs{}
	for _, n := range names {
		v, err := o.Attr(n)
		if err != nil && v.Type.Class == h5.ClassReference && v.Scalar {
			// anndata 0.7's categories: in zarr that layout names the
			// categories by their path relative to the codes' group.
			var p string
			if p, err = o.AttrRefPath(n); err == nil {
				parent := o.Path[:strings.LastIndex(o.Path, "/")+1]
				v.Value = strings.TrimPrefix(p, parent)
			}
		}
		if err != nil {
			if v.Type.Class == h5.ClassReference {
				return nil, fmt.Errorf("%s: attribute %q holds object references, which zarr cannot hold", o.Path, n)
			}
			return nil, err
		}
		raw, err := attrJSON(v.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: attribute %q: %v", o.Path, n, err)
		}
		out[n] = raw
	}
	return out, nil
}

func attrJSON(v any) (json.RawMessage, error) {
	switch x := v.(type) {
	case float64:
		return json.RawMessage(floatJSON(x)), nil
	case []float64:
		b := []byte{'['}
		for i, f := range x {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, floatJSON(f)...)
		}
		return append(b, ']'), nil
	}
	return json.Marshal(v)
}

// floatJSON writes a float as Python's json does (NaN and infinities as
// bare words, which zarr-python reads back).
func floatJSON(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		s = strconv.FormatFloat(f, 'f', 1, 64)
	}
	return s
}

// ---- zarr ----

// ZarrTree opens the zarr store at path as an element tree.
func ZarrTree(path string, cache *zarr.Cache) (*Tree, error) {
	src, err := zarrad.Open(path, cache)
	if err != nil {
		return nil, err
	}
	return &Tree{Path: path, NObs: src.NObs, root: func() (tgroup, error) {
		g, err := src.Store.Group("")
		if err != nil {
			return nil, err
		}
		return &zGroup{s: src.Store, g: g}, nil
	}}, nil
}

type zGroup struct {
	s *zarr.Store
	g *zarr.Group
}

func (g *zGroup) path() string               { return "/" + g.g.Path }
func (g *zGroup) close()                     {}
func (g *zGroup) attrs() (zarr.Attrs, error) { return g.g.Attrs, nil }

func (g *zGroup) sub(name string) string {
	if g.g.Path == "" {
		return name
	}
	return g.g.Path + "/" + name
}

func (g *zGroup) children() ([]tchild, error) {
	kids, err := g.g.Children()
	if err != nil {
		return nil, err
	}
	out := make([]tchild, len(kids))
	for i, k := range kids {
		out[i] = tchild{k.Name, !k.IsArray}
	}
	return out, nil
}

func (g *zGroup) group(name string) (tgroup, error) {
	sg, err := g.s.Group(g.sub(name))
	if err != nil {
		return nil, err
	}
	return &zGroup{s: g.s, g: sg}, nil
}

func (g *zGroup) array(name string) (tarray, error) {
	a, err := g.s.Array(g.sub(name))
	if err != nil {
		return nil, err
	}
	sh := make([]int64, len(a.Meta.Shape))
	for i, d := range a.Meta.Shape {
		sh[i] = int64(d)
	}
	return &zArray{a: a, sh: sh}, nil
}

type zArray struct {
	a  *zarr.Array
	sh []int64
}

func (a *zArray) path() string               { return "/" + a.a.Path }
func (a *zArray) close()                     {}
func (a *zArray) attrs() (zarr.Attrs, error) { return a.a.Attrs, nil }
func (a *zArray) shape() []int64             { return a.sh }
func (a *zArray) dtype() zarr.DType          { return a.a.Meta.DType }
func (a *zArray) rows() RowReader            { return zarrad.NewRows(a.a) }

func (a *zArray) strings(rows []int64) ([]string, error) {
	total := a.a.Meta.Len()
	if rows == nil {
		return a.a.ReadStrings(0, total)
	}
	per := 1
	if len(a.sh) > 0 && a.sh[0] > 0 {
		per = total / int(a.sh[0])
	}
	out := make([]string, 0, len(rows)*per)
	if Contiguous(rows) && len(rows) > 0 {
		return a.a.ReadStrings(int(rows[0])*per, len(rows)*per)
	}
	for _, r := range rows {
		s, err := a.a.ReadStrings(int(r)*per, per)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

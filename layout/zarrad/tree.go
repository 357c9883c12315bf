package zarrad

// The zarr store as a format-neutral element tree (package tree).

import (
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// OpenTree opens the zarr store at path as an element tree.
func OpenTree(path string, cache *zarr.Cache) (*tree.Source, error) {
	src, err := Open(path, cache)
	if err != nil {
		return nil, err
	}
	return &tree.Source{Path: path, NObs: src.NObs, Native: src, Root: func() (tree.Group, error) {
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

func (g *zGroup) Path() string               { return "/" + g.g.Path }
func (g *zGroup) Close()                     {}
func (g *zGroup) Attrs() (tree.Attrs, error) { return g.g.Attrs, nil }

func (g *zGroup) sub(name string) string {
	if g.g.Path == "" {
		return name
	}
	return g.g.Path + "/" + name
}

func (g *zGroup) Children() ([]tree.Child, error) {
	kids, err := g.g.Children()
	if err != nil {
		return nil, err
	}
	out := make([]tree.Child, len(kids))
	for i, k := range kids {
		out[i] = tree.Child{Name: k.Name, IsGroup: !k.IsArray}
	}
	return out, nil
}

func (g *zGroup) Group(name string) (tree.Group, error) {
	sg, err := g.s.Group(g.sub(name))
	if err != nil {
		return nil, err
	}
	return &zGroup{s: g.s, g: sg}, nil
}

func (g *zGroup) Array(name string) (tree.Array, error) {
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

func (a *zArray) Path() string               { return "/" + a.a.Path }
func (a *zArray) Close()                     {}
func (a *zArray) Attrs() (tree.Attrs, error) { return a.a.Attrs, nil }
func (a *zArray) Shape() []int64             { return a.sh }
func (a *zArray) DType() tree.DType          { return a.a.Meta.DType }
func (a *zArray) Rows() tree.RowReader       { return NewRows(a.a) }

func (a *zArray) Strings(rows []int64) ([]string, error) {
	total := a.a.Meta.Len()
	if rows == nil {
		return a.a.ReadStrings(0, total)
	}
	per := 1
	if len(a.sh) > 0 && a.sh[0] > 0 {
		per = total / int(a.sh[0])
	}
	out := make([]string, 0, len(rows)*per)
	if contiguous(rows) && len(rows) > 0 {
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

// contiguous reports whether rows are consecutive and increasing.
func contiguous(rows []int64) bool {
	for i := 1; i < len(rows); i++ {
		if rows[i] != rows[i-1]+1 {
			return false
		}
	}
	return true
}

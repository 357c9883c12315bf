package tree

import (
	"fmt"
	"sort"
	"strings"
)

// PlanSource is a plan read back as a source: its groups and arrays as a
// tree whose fixed-size arrays read through their Fills and whose string
// arrays are the strings the plan holds. A collection of files is one
// source this way: the merge of the files (engine.PlanMerge) is a plan
// whose arrays read the files by range, so every rule that cuts outputs
// from a source (shards, shuffles, selections by obs, mounts) cuts them
// from the concatenated atlas with no copy of it, and with the merge's
// semantics (var joined, categories united) defined once.
//
// The plan's verbatim elements are expanded first (a plan source has no
// native handle). Closing the source closes the plan.
func PlanSource(p *Plan, path string) (*Source, error) {
	if err := p.ExpandVerbatim(); err != nil {
		return nil, err
	}
	ps := &planSource{path: path, groups: map[string]*planNode{}}
	for i := range p.Groups {
		g := &p.Groups[i]
		ps.groups[g.Path] = &planNode{ps: ps, path: g.Path, attrs: g.Attrs}
	}
	if ps.groups[""] == nil {
		return nil, fmt.Errorf("%s: the plan has no root group", path)
	}
	for i := range p.Groups {
		if g := &p.Groups[i]; g.Path != "" {
			parent, ok := ps.groups[parentOf(g.Path)]
			if !ok {
				return nil, fmt.Errorf("%s: /%s has no parent group in the plan", path, g.Path)
			}
			parent.kids = append(parent.kids, Child{Name: baseOf(g.Path), IsGroup: true})
		}
	}
	ps.arrays = map[string]*PlanArray{}
	for _, a := range p.Arrays {
		parent, ok := ps.groups[parentOf(a.Path)]
		if !ok {
			return nil, fmt.Errorf("%s: /%s has no parent group in the plan", path, a.Path)
		}
		parent.kids = append(parent.kids, Child{Name: baseOf(a.Path)})
		ps.arrays[a.Path] = a
	}
	return &Source{
		Path:   path,
		NObs:   p.Cells,
		Root:   func() (Group, error) { return ps.groups[""], nil },
		Closer: p.Close,
	}, nil
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func baseOf(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

type planSource struct {
	path   string
	groups map[string]*planNode
	arrays map[string]*PlanArray
}

// planNode is a group of a plan source. Nodes are shared, not opened:
// Close does nothing (the source's Close releases the plan).
type planNode struct {
	ps    *planSource
	path  string
	attrs Attrs
	kids  []Child
}

func (g *planNode) Path() string          { return "/" + g.path }
func (g *planNode) Attrs() (Attrs, error) { return g.attrs, nil }
func (g *planNode) Close()                {}
func (g *planNode) Children() ([]Child, error) {
	kids := append([]Child(nil), g.kids...)
	// sorted like the groups of the formats the plan came from (HDF5 and
	// zarr both list members by name)
	sort.Slice(kids, func(i, j int) bool { return kids[i].Name < kids[j].Name })
	return kids, nil
}

func (g *planNode) Group(name string) (Group, error) {
	if sg, ok := g.ps.groups[Join(g.path, name)]; ok {
		return sg, nil
	}
	return nil, fmt.Errorf("%s: no group %s", g.ps.path, "/"+Join(g.path, name))
}

func (g *planNode) Array(name string) (Array, error) {
	if a, ok := g.ps.arrays[Join(g.path, name)]; ok {
		return &planArray{ps: g.ps, a: a}, nil
	}
	return nil, fmt.Errorf("%s: no array %s", g.ps.path, "/"+Join(g.path, name))
}

// planArray is an array of a plan source.
type planArray struct {
	ps *planSource
	a  *PlanArray
}

func (x *planArray) Path() string          { return "/" + x.a.Path }
func (x *planArray) Attrs() (Attrs, error) { return x.a.Attrs, nil }
func (x *planArray) Close()                {}
func (x *planArray) Shape() []int64        { return x.a.Shape }
func (x *planArray) DType() DType          { return x.a.DType }
func (x *planArray) Rows() RowReader {
	return planRows{a: x.a, rowBytes: x.a.RowElems() * int64(x.a.DType.Size)}
}

func (x *planArray) Strings(rows []int64) ([]string, error) {
	if x.a.DType.Kind != 'O' {
		return nil, fmt.Errorf("%s: /%s is not a string array", x.ps.path, x.a.Path)
	}
	per := x.a.RowElems()
	if rows == nil {
		return x.a.AllStrs()
	}
	n := int64(x.a.NumStrs())
	out := make([]string, 0, int64(len(rows))*per)
	for _, r := range rows {
		if r < 0 || (r+1)*per > n {
			return nil, fmt.Errorf("%s: /%s: row %d out of range", x.ps.path, x.a.Path, r)
		}
		strs, err := x.a.StrsIn(int(r*per), int((r+1)*per))
		if err != nil {
			return nil, err
		}
		out = append(out, strs...)
	}
	return out, nil
}

type planRows struct {
	a        *PlanArray
	rowBytes int64
}

func (r planRows) RowBytes() int64 { return r.rowBytes }
func (r planRows) ReadRows(p []byte, row0 int64) error {
	if r.a.Fill == nil {
		return fmt.Errorf("/%s: no bytes to read", r.a.Path)
	}
	return r.a.Fill(p, row0*r.rowBytes)
}

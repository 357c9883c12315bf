package h5ad

// The h5ad source as a format-neutral element tree (package tree), seen
// the way anndata writes the same values to zarr: JSON attributes, numpy
// dtypes, strings read as strings.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// Tree views the open source as an element tree. The source stays
// the caller's.
func (src *Source) Tree() *tree.Source {
	return &tree.Source{Path: src.Path, NObs: src.NObs, Native: src, Root: func() (tree.Group, error) {
		n, err := src.nodes.get("/", func() (tree.Node, error) {
			g, err := src.File.Root()
			if err != nil {
				return nil, err
			}
			return &h5Group{src: src, g: g, shared: true}, nil
		})
		if err != nil {
			return nil, err
		}
		return n.(tree.Group), nil
	}}
}

// nodeCache holds the source's groups and arrays, opened once and shared
// by every plan: a mount plans thousands of shards from one source, and
// opening each element through libhdf5 again cost most of a plan. Shared
// nodes ignore Close; Source.Close closes them.
type nodeCache struct {
	mu  sync.Mutex
	m   map[string]tree.Node
	all []func()
}

func (c *nodeCache) get(path string, open func() (tree.Node, error)) (tree.Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.m[path]; ok {
		return n, nil
	}
	n, err := open()
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]tree.Node{}
	}
	c.m[path] = n
	switch x := n.(type) {
	case *h5Group:
		c.all = append(c.all, x.g.Close)
	case *h5Array:
		c.all = append(c.all, x.ds.Close)
	case *h5RecArray:
		c.all = append(c.all, x.ds.Close)
	}
	return n, nil
}

func (c *nodeCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.all) - 1; i >= 0; i-- {
		c.all[i]()
	}
	c.m, c.all = nil, nil
}

type h5Group struct {
	src    *Source
	g      *h5.Group
	shared bool // in the source's nodeCache
}

func (g *h5Group) Path() string { return g.g.Path }

func (g *h5Group) Close() {
	if !g.shared {
		g.g.Close()
	}
}

func (g *h5Group) Attrs() (tree.Attrs, error) { return g.src.attrsOf(&g.g.Object) }

// A mount plans every shard from the same source: its attributes and
// listings are read through libhdf5 once (the source is pinned) and kept,
// which made planning a shard several times cheaper.
type metaCache struct {
	attrs sync.Map // object path -> tree.Attrs
	kids  sync.Map // group path -> []tree.Child
}

// attrsOf is h5Attrs, kept: every caller gets the same map, which nobody
// changes (tree.Node.Attrs; a changed attribute is a copy, tree.WithAttr).
// A copy per call was an eighth of what sizing a mount's shards allocated.
func (src *Source) attrsOf(o *h5.Object) (tree.Attrs, error) {
	if a, ok := src.meta.attrs.Load(o.Path); ok {
		return a.(tree.Attrs), nil
	}
	a, err := h5Attrs(o)
	if err != nil {
		return nil, err
	}
	src.meta.attrs.Store(o.Path, a)
	return a, nil
}

// Children is the listing kept: every caller gets the same slice, which
// nobody changes (tree.Group.Children).
func (g *h5Group) Children() ([]tree.Child, error) {
	if k, ok := g.src.meta.kids.Load(g.g.Path); ok {
		return k.([]tree.Child), nil
	}
	out, err := g.children()
	if err == nil {
		g.src.meta.kids.Store(g.g.Path, out)
	}
	return out, err
}

func (g *h5Group) children() ([]tree.Child, error) {
	kids, err := g.g.Children()
	if err != nil {
		return nil, err
	}
	out := make([]tree.Child, 0, len(kids))
	for _, k := range kids {
		if k.Other {
			return nil, fmt.Errorf("%s: %q is neither a group nor a dataset (a committed type or broken link); annslicer reads only groups and datasets", g.g.Path, k.Name)
		}
		out = append(out, tree.Child{Name: k.Name, IsGroup: k.IsGroup})
	}
	return out, nil
}

func (g *h5Group) Group(name string) (tree.Group, error) {
	n, err := g.src.nodes.get(childPath(g.g.Path, name), func() (tree.Node, error) {
		sg, err := g.g.OpenGroup(name)
		if err != nil {
			return nil, err
		}
		return &h5Group{src: g.src, g: sg, shared: true}, nil
	})
	if err != nil {
		return nil, err
	}
	if sg, ok := n.(*h5Group); ok {
		return sg, nil
	}
	return nil, fmt.Errorf("%s: not a group", childPath(g.g.Path, name))
}

func childPath(dir, name string) string { return strings.TrimSuffix(dir, "/") + "/" + name }

func (g *h5Group) Array(name string) (tree.Array, error) {
	n, err := g.src.nodes.get(childPath(g.g.Path, name), func() (tree.Node, error) {
		a, err := g.openArray(name)
		if err != nil {
			return nil, err
		}
		switch x := a.(type) {
		case *h5Array:
			x.shared = true
		case *h5RecArray:
			x.shared = true
		}
		return a, nil
	})
	if err != nil {
		return nil, err
	}
	if a, ok := n.(tree.Array); ok {
		return a, nil
	}
	return nil, fmt.Errorf("%s: not a dataset", childPath(g.g.Path, name))
}

func (g *h5Group) openArray(name string) (tree.Array, error) {
	ds, err := g.g.OpenDataset(name)
	if err != nil {
		return nil, err
	}
	a := &h5Array{src: g.src, ds: ds}
	t, err := ds.TypeInfo()
	if err == nil && t.Class == h5.ClassCompound {
		return h5Records(a) // a record array (records.go)
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
	src    *Source
	ds     *h5.Dataset
	dt     tree.DType
	shared bool // in the source's nodeCache

	once sync.Once
	rd   *Array // a shared array's reader, made once

	descOnce sync.Once
	desc     *Array // a shared string array's descriptors: asking libhdf5 (locked) per shard cost a tenth of a mount's stat
}

// descriptors is the source's VlenDescriptors of the array, made once for
// a shared array.
func (a *h5Array) descriptors() *Array {
	if !a.shared {
		return a.src.VlenDescriptors(a.ds)
	}
	a.descOnce.Do(func() { a.desc = a.src.VlenDescriptors(a.ds) })
	return a.desc
}

func (a *h5Array) Path() string { return a.ds.Path }

func (a *h5Array) Close() {
	if !a.shared {
		a.ds.Close()
	}
}
func (a *h5Array) Attrs() (tree.Attrs, error) { return a.src.attrsOf(&a.ds.Object) }
func (a *h5Array) Shape() []int64             { return a.ds.Dims }
func (a *h5Array) DType() tree.DType          { return a.dt }

func (a *h5Array) Rows() tree.RowReader {
	if len(a.ds.Dims) == 0 {
		return &h5Scalar{ds: a.ds}
	}
	if !a.shared {
		return a.src.Array(a.ds)
	}
	a.once.Do(func() { a.rd = a.src.Array(a.ds) }) // immutable once made
	return a.rd
}

func (a *h5Array) Strings(rows []int64) ([]string, error) {
	ds := a.ds
	if len(ds.Dims) != 1 {
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
	desc := a.descriptors()
	if desc == nil {
		s, _, err := ds.ReadStrings(rows)
		return s, err
	}
	if strs, ok, err := a.scopedStrings(rows); ok {
		return strs, err
	}
	if rows == nil { // all of them: straight from the heap too (libhdf5 converts strings one by one, slowly)
		rows = make([]int64, ds.Dims[0])
		for i := range rows {
			rows[i] = int64(i)
		}
	}
	const vd = 16
	raw := make([]byte, int64(len(rows))*vd)
	// The descriptors are read in source order, nearby ones together: a
	// shuffled shard's 10,000 names were 10,000 reads of 16 bytes.
	var runs image.Runs
	runs.Reset(vd, 0)
	for i, r := range rows {
		runs.Add(int64(i), r, 1)
	}
	runs.Sort()
	if err := image.ReadRuns(desc, vd, runs.List, raw); err != nil {
		return nil, err
	}
	// The strings share one allocation: a collection's plan holds every
	// input's obs names for the whole run, and a million small string
	// allocations made each collector cycle mark a million objects (a
	// third of the CPU of a shuffled slice of 10 files of 100k cells).
	// Each string is copied in as it is found, in heap order: a shuffled
	// shard's names lie all over the heap, and each collection is then
	// fetched once (the heap cache is bounded) and held by nothing after.
	at := make([]int, len(rows)+1)
	for i := range rows {
		at[i+1] = at[i] + int(binary.LittleEndian.Uint32(raw[i*vd:]))
	}
	// The lengths are checked against the heap's objects only as they are
	// copied: bound the arena by the file first (h5py stores each string
	// once), so a file changed since its checks cannot ask for terabytes.
	if int64(at[len(rows)]) > a.src.size {
		return nil, fmt.Errorf("%s: %s: its strings add up to more bytes than the file holds; the file is corrupt or changed while being read", a.src.Path, ds.Path)
	}
	order := make([]int32, len(rows))
	for i := range order {
		order[i] = int32(i)
	}
	heapOrder(order, raw)
	// Rows in order (a contiguous shard, a filter) find their names in a
	// few collections no other shard reads: those are not cached. Rows out
	// of order (a shuffle) read names from the whole heap, as every other
	// shard does: those are.
	keep := !slices.IsSorted(rows)
	arena := make([]byte, at[len(rows)])
	var c *collection
	for _, i := range order {
		d := raw[int(i)*vd:]
		if binary.LittleEndian.Uint32(d) == 0 {
			continue
		}
		if addr := int64(binary.LittleEndian.Uint64(d[4:])); c == nil || c.addr != addr {
			var err error
			if c, err = a.src.collection(addr, keep); err != nil {
				return nil, err
			}
		}
		b, err := c.object(a.src, d)
		if err != nil {
			return nil, err
		}
		copy(arena[at[i]:at[i+1]], b)
	}
	out := make([]string, len(rows))
	for i := range out {
		if at[i+1] > at[i] {
			out[i] = unsafe.String(&arena[at[i]], at[i+1]-at[i])
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
func h5DType(where string, t h5.TypeInfo) (tree.DType, error) {
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
		return tree.DType{Kind: k, Size: t.Size, Order: order}, nil
	case h5.ClassFloat:
		if t.Size == 2 || t.Size == 4 || t.Size == 8 {
			return tree.DType{Kind: 'f', Size: t.Size, Order: order}, nil
		}
	case h5.ClassBool:
		return tree.DType{Kind: 'b', Size: 1, Order: '|'}, nil
	case h5.ClassString:
		if t.Vlen {
			return tree.DType{Kind: 'O', Order: '|'}, nil
		}
		return tree.DType{Kind: 'S', Size: t.Size, Order: '|'}, nil
	case h5.ClassReference:
		return tree.DType{}, fmt.Errorf("%s holds object references, which annslicer cannot take by rows or write to zarr", where)
	case h5.ClassArray:
		// an array type is read only as a record field (a sub-array);
		// elsewhere it would be an array of elements that are arrays
		return tree.DType{}, fmt.Errorf("%s has an HDF5 array type (%v per element) outside a record, which annslicer cannot take by rows or write to zarr", where, t.Dims)
	}
	return tree.DType{}, fmt.Errorf("%s has an HDF5 type (class %d, %d bytes) that annslicer cannot take by rows or write to zarr yet", where, t.Class, t.Size)
}

// h5Attrs converts an object's attributes to JSON as anndata writes them
// to zarr: strings, numbers, booleans and lists of them.
func h5Attrs(o *h5.Object) (tree.Attrs, error) {
	names, err := o.AttrNames()
	if err != nil {
		return nil, err
	}
	out := tree.Attrs{}
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
				return nil, fmt.Errorf("%s: attribute %q holds object references, which annslicer cannot write to zarr", o.Path, n)
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
		return json.RawMessage(zarr.PyFloat(x)), nil
	case []float64:
		b := []byte{'['}
		for i, f := range x {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, zarr.PyFloat(f)...)
		}
		return append(b, ']'), nil
	}
	return json.Marshal(v)
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

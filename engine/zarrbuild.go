package engine

import (
	"encoding/json"
	"fmt"

	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/zarr"
)

// A ZarrShard is one shard of a source as a zarr v2 store, not yet written:
// its groups and arrays with their attributes, each array's bytes made by
// range (fixed-size) or held (strings, O(shard)). The rules of what a shard
// holds are build.go's: X/layers/obsm/raw X rows, obs columns rows,
// categories copied, obsp induced sub-graph, everything else verbatim.
type ZarrShard struct {
	Cells  int64
	groups []zgroupOut
	arrays []*zarrayOut
	nodes  []tnode // source nodes the fills read through
}

type zgroupOut struct {
	path  string // relative to the store, "" for the root
	attrs zarr.Attrs
}

type zarrayOut struct {
	path  string
	attrs zarr.Attrs
	dtype zarr.DType
	shape []int64
	fill  h5ad.Fill // fixed-size: the array's C-order bytes by range
	strs  []string  // 'O': every element, C order
}

// Close releases the source handles the shard reads through.
func (z *ZarrShard) Close() {
	for _, n := range z.nodes {
		n.close()
	}
	z.nodes = nil
}

// BuildZarr lays out shard `rows` of the source as a zarr store.
func (t *Tree) BuildZarr(rows []int64) (*ZarrShard, error) {
	root, err := t.root()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Path, err)
	}
	z := &ZarrShard{Cells: int64(len(rows))}
	b := &zbuilder{t: t, rows: rows, z: z, ax: treeAxes(root, t.NObs)}
	err = b.root(root)
	root.close()
	if err != nil {
		z.Close()
		return nil, fmt.Errorf("%s: %w", t.Path, err)
	}
	return z, nil
}

type zbuilder struct {
	t    *Tree
	rows []int64
	z    *ZarrShard
	pos  map[int64]int64
	ax   axes // column counts elements must have
}

func join2(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func (b *zbuilder) keep(n tnode) { b.z.nodes = append(b.z.nodes, n) }

func (b *zbuilder) addGroup(dst string, attrs zarr.Attrs) {
	b.z.groups = append(b.z.groups, zgroupOut{dst, attrs})
}

func (b *zbuilder) addArray(a *zarrayOut) { b.z.arrays = append(b.z.arrays, a) }

func (b *zbuilder) root(g tgroup) error {
	attrs, err := g.attrs()
	if err != nil {
		return err
	}
	b.addGroup("", attrs)
	kids, err := g.children()
	if err != nil {
		return err
	}
	for _, k := range kids {
		switch k.name {
		case "X", "obs":
			err = b.rowElement(g, k, "")
		case "layers", "obsm":
			err = b.mapping(g, k, "", b.rowElement)
		case "obsp":
			err = b.mapping(g, k, "", b.graphElement)
		case "raw":
			err = b.mapping(g, k, "", func(s tgroup, k tchild, dst string) error {
				if k.name == "X" {
					return b.rowElement(s, k, dst)
				}
				return b.copyNode(s, k, dst)
			})
		default:
			err = b.copyNode(g, k, "")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type elemFn func(s tgroup, k tchild, dst string) error

func (b *zbuilder) mapping(s tgroup, k tchild, dst string, fn elemFn) error {
	if !k.isGroup {
		return b.copyNode(s, k, dst)
	}
	sg, err := s.group(k.name)
	if err != nil {
		return err
	}
	defer sg.close()
	d := join2(dst, k.name)
	if err := b.groupAttrs(sg, d); err != nil {
		return err
	}
	kids, err := sg.children()
	if err != nil {
		return err
	}
	for _, c := range kids {
		if err := fn(sg, c, d); err != nil {
			return err
		}
	}
	return nil
}

// groupAttrs adds group d with sg's attributes; a shape attribute counting
// the cells (anndata 0.7's raw group) is rewritten for the shard.
func (b *zbuilder) groupAttrs(sg tgroup, d string) error {
	attrs, err := sg.attrs()
	if err != nil {
		return err
	}
	if shape, ok := attrInts(attrs, "shape"); ok && len(shape) > 0 && shape[0] == b.t.NObs {
		shape[0] = int64(len(b.rows))
		attrs = withAttr(attrs, "shape", shape)
	}
	b.addGroup(d, attrs)
	return nil
}

func attrInts(a zarr.Attrs, name string) ([]int64, bool) {
	raw, ok := a[name]
	if !ok {
		return nil, false
	}
	var v []int64
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return v, true
}

func attrString(a zarr.Attrs, name string) string {
	var s string
	if raw, ok := a[name]; ok {
		json.Unmarshal(raw, &s)
	}
	return s
}

func withAttr(a zarr.Attrs, name string, v any) zarr.Attrs {
	out := make(zarr.Attrs, len(a))
	for k, x := range a {
		out[k] = x
	}
	raw, _ := json.Marshal(v)
	out[name] = raw
	return out
}

// encodingOf is an element's encoding-type, inferred for old files.
func encodingOf(a zarr.Attrs) string {
	if et := attrString(a, "encoding-type"); et != "" {
		return et
	}
	if f := attrString(a, "h5sparse_format"); f != "" {
		return f + "_matrix"
	}
	return ""
}

func shapeAttrName(a zarr.Attrs) string {
	if _, ok := a["shape"]; ok {
		return "shape"
	}
	if _, ok := a["h5sparse_shape"]; ok {
		return "h5sparse_shape"
	}
	return ""
}

func (b *zbuilder) rowElement(s tgroup, k tchild, dst string) error {
	if !k.isGroup {
		return b.rowArray(s, k.name, dst)
	}
	sg, err := s.group(k.name)
	if err != nil {
		return err
	}
	defer sg.close()
	attrs, err := sg.attrs()
	if err != nil {
		return err
	}
	switch encodingOf(attrs) {
	case "csr_matrix":
		return b.csr(sg, attrs, join2(dst, k.name))
	case "csc_matrix":
		return fmt.Errorf("%s is a CSC matrix, which cannot be sliced by rows; convert it to CSR first", sg.path())
	case "awkward-array":
		return fmt.Errorf("%s is an awkward array, which annslicer does not support yet", sg.path())
	}
	d := join2(dst, k.name)
	if err := b.groupAttrs(sg, d); err != nil {
		return err
	}
	kids, err := sg.children()
	if err != nil {
		return err
	}
	cat := encodingOf(attrs) == "categorical"
	for _, c := range kids {
		if c.name == "__categories" || (cat && c.name == "categories") {
			err = b.copyNode(sg, c, d)
		} else {
			err = b.rowElement(sg, c, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *zbuilder) rowArray(s tgroup, name, dst string) error {
	a, err := s.array(name)
	if err != nil {
		return err
	}
	sh := a.shape()
	if len(sh) == 0 || sh[0] != b.t.NObs {
		a.close()
		return fmt.Errorf("%s has shape %v but the source has %d cells; it is not a per-cell array", a.path(), sh, b.t.NObs)
	}
	if err := b.checkDense(a); err != nil {
		a.close()
		return err
	}
	attrs, err := a.attrs()
	if err != nil {
		a.close()
		return err
	}
	out := &zarrayOut{path: join2(dst, name), attrs: attrs, dtype: a.dtype(),
		shape: append([]int64{int64(len(b.rows))}, sh[1:]...)}
	if a.dtype().Kind == 'O' {
		defer a.close()
		if out.strs, err = a.strings(b.rows); err != nil {
			return err
		}
	} else {
		b.keep(a)
		out.fill = denseRows(a.rows(), b.rows)
	}
	b.addArray(out)
	return nil
}

// copyNode copies element k of s, whole, to dst.
func (b *zbuilder) copyNode(s tgroup, k tchild, dst string) error {
	if k.isGroup {
		sg, err := s.group(k.name)
		if err != nil {
			return err
		}
		defer sg.close()
		attrs, err := sg.attrs()
		if err != nil {
			return err
		}
		d := join2(dst, k.name)
		b.addGroup(d, attrs)
		kids, err := sg.children()
		if err != nil {
			return err
		}
		for _, c := range kids {
			if err := b.copyNode(sg, c, d); err != nil {
				return err
			}
		}
		return nil
	}
	a, err := s.array(k.name)
	if err != nil {
		return err
	}
	if err := checkRowBytes(a.path(), a.shape(), elemBytes(a.dtype())); err != nil {
		a.close()
		return err
	}
	attrs, err := a.attrs()
	if err != nil {
		a.close()
		return err
	}
	out := &zarrayOut{path: join2(dst, k.name), attrs: attrs, dtype: a.dtype(), shape: a.shape()}
	if a.dtype().Kind == 'O' {
		defer a.close()
		if err := checkWholeStrings(a.path(), out.shape); err != nil {
			return err
		}
		if out.strs, err = a.strings(nil); err != nil {
			return err
		}
		if len(out.shape) == 0 {
			// a scalar string: anndata writes it as numpy unicode
			out.dtype, out.fill, out.strs = unicodeScalar(out.strs[0])
		}
	} else {
		b.keep(a)
		rr := a.rows()
		n := int64(1)
		if len(out.shape) > 0 {
			n = out.shape[0]
		}
		out.fill = gatherFill(rr, rr.RowBytes(), func(u0, u1 int64, emit func(dst, src, n int64)) {
			if u1 > n {
				u1 = n
			}
			if u0 < u1 {
				emit(u0, u0, u1-u0)
			}
		})
	}
	b.addArray(out)
	return nil
}

// unicodeScalar is s as a 0-d numpy '<U' array: UTF-32LE code points.
func unicodeScalar(s string) (zarr.DType, h5ad.Fill, []string) {
	rs := []rune(s)
	n := max(1, len(rs))
	raw := make([]byte, 4*n)
	for i, r := range rs {
		raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(r), byte(r>>8), byte(r>>16), byte(r>>24)
	}
	return zarr.DType{Kind: 'U', Size: 4 * n, Order: '<'}, bytesFill(raw), nil
}

// ---- CSR ----

type zcsr struct {
	data, indices, indptr tarray
	starts, newPtr        []int64
	ncols                 int64
	shapeAttr             string
	ptrCodec              Ints
}

func (c *zcsr) closeAll() {
	for _, a := range []tarray{c.data, c.indices, c.indptr} {
		if a != nil {
			a.close()
		}
	}
}

func intCodecOf(dt zarr.DType) (Ints, bool) {
	if dt.Kind != 'i' && dt.Kind != 'u' {
		return Ints{}, false
	}
	return Ints{Size: dt.Size, BE: dt.Order == '>', Unsigned: dt.Kind == 'u'}, true
}

func (b *zbuilder) openCSR(g tgroup, attrs zarr.Attrs) (*zcsr, error) {
	c := &zcsr{shapeAttr: shapeAttrName(attrs)}
	for _, p := range []struct {
		name string
		a    *tarray
	}{{"data", &c.data}, {"indices", &c.indices}, {"indptr", &c.indptr}} {
		var err error
		if *p.a, err = g.array(p.name); err != nil {
			c.closeAll()
			return nil, fmt.Errorf("%s: sparse matrix without %s: %v", g.path(), p.name, err)
		}
	}
	if err := b.checkCSR(g.path(), c, attrs); err != nil {
		c.closeAll()
		return nil, err
	}
	return c, nil
}

// rowRanges reads indptr only at the shard's rows: O(shard) memory. Each
// row's range must lie inside the nnz entries of data and indices.
func (b *zbuilder) rowRanges(indptr tarray, ic Ints, where string, nnz, ncols int64) (starts, newPtr []int64, err error) {
	m := len(b.rows)
	starts = make([]int64, m)
	newPtr = make([]int64, m+1)
	if m == 0 {
		return starts, newPtr, nil
	}
	pts := make([]int64, 0, m+1)
	pairs := !Contiguous(b.rows)
	if pairs {
		for _, r := range b.rows {
			pts = append(pts, r, r+1)
		}
	} else {
		for i := 0; i <= m; i++ {
			pts = append(pts, b.rows[0]+int64(i))
		}
	}
	rr := indptr.rows()
	raw := make([]byte, int64(len(pts))*rr.RowBytes())
	if err := denseRows(rr, pts)(raw, 0); err != nil {
		return nil, nil, err
	}
	sz := ic.Size
	ends := make([]int64, m)
	for i := range b.rows {
		if pairs {
			starts[i], ends[i] = ic.Get(raw[2*i*sz:]), ic.Get(raw[(2*i+1)*sz:])
		} else {
			starts[i], ends[i] = ic.Get(raw[i*sz:]), ic.Get(raw[(i+1)*sz:])
		}
	}
	if err := checkRowSpans(where, b.rows, starts, ends, nnz, ncols); err != nil {
		return nil, nil, err
	}
	return starts, newPtr, shardPtr(where, starts, ends, newPtr)
}

func (b *zbuilder) csrGroup(attrs zarr.Attrs, c *zcsr, d string, shape []int64) {
	b.addGroup(d, withAttr(attrs, c.shapeAttr, shape))
}

func (b *zbuilder) csrArray(d, name string, a tarray, n int64, fill h5ad.Fill) error {
	attrs, err := a.attrs()
	if err != nil {
		return err
	}
	b.addArray(&zarrayOut{path: join2(d, name), attrs: attrs, dtype: a.dtype(), shape: []int64{n}, fill: fill})
	return nil
}

func (b *zbuilder) csr(g tgroup, attrs zarr.Attrs, d string) error {
	c, err := b.openCSR(g, attrs)
	if err != nil {
		return err
	}
	b.keep(c.data)
	b.keep(c.indices)
	b.keep(c.indptr)
	m := int64(len(b.rows))
	nnz := c.newPtr[m]
	b.csrGroup(attrs, c, d, []int64{m, c.ncols})
	dr, ir := c.data.rows(), c.indices.rows()
	if err := b.csrArray(d, "data", c.data, nnz, csrElems(dr, c.starts, c.newPtr)); err != nil {
		return err
	}
	if err := b.csrArray(d, "indices", c.indices, nnz, csrElems(ir, c.starts, c.newPtr)); err != nil {
		return err
	}
	return b.csrArray(d, "indptr", c.indptr, m+1, intsFill(c.newPtr, c.ptrCodec))
}

// ---- obsp ----

func (b *zbuilder) graphElement(s tgroup, k tchild, dst string) error {
	if b.pos == nil {
		b.pos = positions(b.rows)
	}
	if !k.isGroup {
		return b.inducedDense(s, k.name, dst)
	}
	g, err := s.group(k.name)
	if err != nil {
		return err
	}
	defer g.close()
	attrs, err := g.attrs()
	if err != nil {
		return err
	}
	if enc := encodingOf(attrs); enc != "csr_matrix" {
		return fmt.Errorf("%s: obsp element of encoding %q; only CSR and dense graphs are supported", g.path(), enc)
	}
	c, err := b.openCSR(g, attrs)
	if err != nil {
		return err
	}
	defer c.closeAll()
	ic, ok := intCodecOf(c.indices.dtype())
	if !ok {
		return fmt.Errorf("%s: sparse indices are not integers", c.indices.path())
	}
	m := int64(len(b.rows))
	newPtr, newIdx, newData, err := inducedGraph(len(b.rows), b.pos, c.starts, c.newPtr, c.indices.rows(), c.data.rows(), ic)
	if err != nil {
		return err
	}
	nnz := int64(len(newIdx))
	d := join2(dst, k.name)
	b.csrGroup(attrs, c, d, []int64{m, m})
	if err := b.csrArray(d, "data", c.data, nnz, bytesFill(newData)); err != nil {
		return err
	}
	if err := b.csrArray(d, "indices", c.indices, nnz, intsFill(newIdx, ic)); err != nil {
		return err
	}
	return b.csrArray(d, "indptr", c.indptr, m+1, intsFill(newPtr, c.ptrCodec))
}

func (b *zbuilder) inducedDense(s tgroup, name, dst string) error {
	a, err := s.array(name)
	if err != nil {
		return err
	}
	sh := a.shape()
	n := b.t.NObs
	if len(sh) != 2 || sh[0] != n || sh[1] != n || a.dtype().Kind == 'O' {
		a.close()
		return fmt.Errorf("%s: obsp element of shape %v; expected a %d x %d graph", a.path(), sh, n, n)
	}
	if err := checkRowBytes(a.path(), sh, a.dtype().Size); err != nil {
		a.close()
		return err
	}
	attrs, err := a.attrs()
	if err != nil {
		a.close()
		return err
	}
	b.keep(a)
	m := int64(len(b.rows))
	src := a.rows()
	rowFill := inducedDense(src, b.rows, src.RowBytes()/n)
	b.addArray(&zarrayOut{path: join2(dst, name), attrs: attrs, dtype: a.dtype(), shape: []int64{m, m}, fill: rowFill})
	return nil
}

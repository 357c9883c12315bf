package engine

import (
	"fmt"

	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/tree"
)

// PlanShard applies the rules to the source rows `rows` (in output order):
// the result is the shard as an element tree any encoder writes.
func PlanShard(t *tree.Source, rows []int64) (*tree.Plan, error) {
	root, err := t.Root()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Path, err)
	}
	z := t.NewPlan(int64(len(rows)))
	z.Expand = expandVerbatim
	b := &zbuilder{t: t, rows: rows, z: z, ax: treeAxes(root, t.NObs)}
	err = b.root(root)
	root.Close()
	if err != nil {
		z.Close()
		return nil, fmt.Errorf("%s: %w", t.Path, err)
	}
	t.NotePlan(z)
	return z, nil
}

type zbuilder struct {
	t    *tree.Source
	rows []int64
	z    *tree.Plan
	pos  map[int64]int64
	ax   axes // column counts elements must have
}

func (b *zbuilder) keep(n tree.Node) { b.z.Holds = append(b.z.Holds, n) }

func (b *zbuilder) addGroup(dst string, attrs tree.Attrs) {
	b.z.Groups = append(b.z.Groups, tree.PlanGroup{Path: dst, Attrs: attrs})
}

func (b *zbuilder) addArray(a *tree.PlanArray) { b.z.Arrays = append(b.z.Arrays, a) }

func (b *zbuilder) root(g tree.Group) error {
	attrs, err := g.Attrs()
	if err != nil {
		return err
	}
	b.addGroup("", attrs)
	kids, err := g.Children()
	if err != nil {
		return err
	}
	for _, k := range kids {
		switch k.Name {
		case "X", "obs", "raw.X": // raw.X: anndata < 0.7 kept raw at the root
			err = b.rowElement(g, k, "")
		case "obsm":
			if !k.IsGroup {
				// anndata < 0.7: one record array, a row per cell
				err = b.rowElement(g, k, "")
				break
			}
			err = b.mapping(g, k, "", b.rowElement)
		case "layers":
			err = b.mapping(g, k, "", b.rowElement)
		case "uns":
			err = b.uns(g, k) // anndata < 0.7's graphs are cells × cells (rules_legacy.go)
		case "obsp":
			err = b.mapping(g, k, "", b.graphElement)
		case "raw":
			err = b.mapping(g, k, "", func(s tree.Group, k tree.Child, dst string) error {
				if k.Name == "X" {
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

type elemFn func(s tree.Group, k tree.Child, dst string) error

func (b *zbuilder) mapping(s tree.Group, k tree.Child, dst string, fn elemFn) error {
	if !k.IsGroup {
		return b.copyNode(s, k, dst)
	}
	sg, err := s.Group(k.Name)
	if err != nil {
		return err
	}
	defer sg.Close()
	d := tree.Join(dst, k.Name)
	if err := b.groupAttrs(sg, d); err != nil {
		return err
	}
	kids, err := sg.Children()
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
func (b *zbuilder) groupAttrs(sg tree.Group, d string) error {
	attrs, err := sg.Attrs()
	if err != nil {
		return err
	}
	if shape, ok := tree.AttrInts(attrs, "shape"); ok && len(shape) > 0 && shape[0] == b.t.NObs {
		shape[0] = int64(len(b.rows))
		attrs = tree.WithAttr(attrs, "shape", shape)
	}
	b.addGroup(d, attrs)
	return nil
}

func shapeAttrName(a tree.Attrs) string {
	if _, ok := a["shape"]; ok {
		return "shape"
	}
	if _, ok := a["h5sparse_shape"]; ok {
		return "h5sparse_shape"
	}
	return ""
}

func (b *zbuilder) rowElement(s tree.Group, k tree.Child, dst string) error {
	if !k.IsGroup {
		return b.rowArray(s, k.Name, dst)
	}
	sg, attrs, err := tree.OpenGroup(s, k.Name)
	if err != nil {
		return err
	}
	defer sg.Close()
	switch tree.Encoding(attrs) {
	case "csr_matrix":
		return b.csr(sg, attrs, tree.Join(dst, k.Name))
	case "csc_matrix":
		return fmt.Errorf("%s is a CSC matrix, which cannot be sliced by rows; convert it to CSR first", sg.Path())
	case "awkward-array":
		return b.awkward(sg, attrs, tree.Join(dst, k.Name))
	}
	d := tree.Join(dst, k.Name)
	if err := b.groupAttrs(sg, d); err != nil {
		return err
	}
	kids, err := sg.Children()
	if err != nil {
		return err
	}
	cat := tree.Encoding(attrs) == "categorical"
	for _, c := range kids {
		if c.Name == "__categories" || (cat && c.Name == "categories") {
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

func (b *zbuilder) rowArray(s tree.Group, name, dst string) error {
	a, err := s.Array(name)
	if err != nil {
		return err
	}
	sh := a.Shape()
	if len(sh) == 0 || sh[0] != b.t.NObs {
		a.Close()
		return fmt.Errorf("%s has shape %v but the source has %d cells; it is not a per-cell array", a.Path(), sh, b.t.NObs)
	}
	if err := b.checkDense(a); err != nil {
		a.Close()
		return err
	}
	attrs, err := a.Attrs()
	if err != nil {
		a.Close()
		return err
	}
	out := &tree.PlanArray{Path: tree.Join(dst, name), Attrs: attrs, DType: a.DType(),
		Shape: append([]int64{int64(len(b.rows))}, sh[1:]...)}
	if a.DType().Kind == 'O' {
		defer a.Close()
		if out.Strs, err = a.Strings(b.rows); err != nil {
			return err
		}
	} else {
		b.keep(a)
		rr := a.Rows()
		rowsOf(out, rr, denseMapper(b.rows))
	}
	b.addArray(out)
	return nil
}

// copyNode records element k of s as copied whole to dst: the encoder
// copies it natively or has it expanded (expandNode).
func (b *zbuilder) copyNode(s tree.Group, k tree.Child, dst string) error {
	b.z.Verbatim = append(b.z.Verbatim, tree.PlanVerbatim{
		Path: tree.Join(dst, k.Name), Node: nodePath(s.Path(), k.Name), IsGroup: k.IsGroup})
	return nil
}

// unicodeScalar is s as a 0-d numpy '<U' array: UTF-32LE code points.
func unicodeScalar(s string) (tree.DType, image.Fill, []string) {
	rs := []rune(s)
	n := max(1, len(rs))
	raw := make([]byte, 4*n)
	for i, r := range rs {
		raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(r), byte(r>>8), byte(r>>16), byte(r>>24)
	}
	return tree.DType{Kind: 'U', Size: 4 * n, Order: '<'}, bytesFill(raw), nil
}

// ---- CSR ----

type zcsr struct {
	data, indices, indptr tree.Array
	starts, newPtr        []int64
	ncols                 int64
	shapeAttr             string
	ptrCodec              Ints
}

func (c *zcsr) closeAll() {
	for _, a := range []tree.Array{c.data, c.indices, c.indptr} {
		if a != nil {
			a.Close()
		}
	}
}

func intCodecOf(dt tree.DType) (Ints, bool) {
	if dt.Kind != 'i' && dt.Kind != 'u' {
		return Ints{}, false
	}
	return Ints{Size: dt.Size, BE: dt.Order == '>', Unsigned: dt.Kind == 'u'}, true
}

func (b *zbuilder) openCSR(g tree.Group, attrs tree.Attrs) (*zcsr, error) {
	c := &zcsr{shapeAttr: shapeAttrName(attrs)}
	for _, p := range []struct {
		name string
		a    *tree.Array
	}{{"data", &c.data}, {"indices", &c.indices}, {"indptr", &c.indptr}} {
		var err error
		if *p.a, err = g.Array(p.name); err != nil {
			c.closeAll()
			return nil, fmt.Errorf("%s: sparse matrix without %s: %v", g.Path(), p.name, err)
		}
	}
	if err := b.checkCSR(g.Path(), c, attrs); err != nil {
		c.closeAll()
		return nil, err
	}
	return c, nil
}

// rowRanges reads indptr only at the shard's rows: O(shard) memory. Each
// row's range must lie inside the nnz entries of data and indices.
func (b *zbuilder) rowRanges(indptr tree.Array, ic Ints, where string, nnz, ncols int64) (starts, newPtr []int64, err error) {
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
	rr := indptr.Rows()
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

func (b *zbuilder) csrGroup(attrs tree.Attrs, c *zcsr, d string, shape []int64) {
	b.addGroup(d, tree.WithAttr(attrs, c.shapeAttr, shape))
}

// csrArray adds a CSR part: computed bytes (fill), or runs of src's rows
// (src and m; fill nil).
func (b *zbuilder) csrArray(d, name string, a tree.Array, n int64, fill image.Fill, src RowReader, m runMapper) error {
	attrs, err := a.Attrs()
	if err != nil {
		return err
	}
	out := &tree.PlanArray{Path: tree.Join(d, name), Attrs: attrs, DType: a.DType(), Shape: []int64{n}, Fill: fill}
	if src != nil {
		rowsOf(out, src, m)
	}
	b.addArray(out)
	return nil
}

func (b *zbuilder) csr(g tree.Group, attrs tree.Attrs, d string) error {
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
	dr, ir := c.data.Rows(), c.indices.Rows()
	mapper := csrMapper(c.starts, c.newPtr)
	if err := b.csrArray(d, "data", c.data, nnz, nil, dr, mapper); err != nil {
		return err
	}
	if err := b.csrArray(d, "indices", c.indices, nnz, nil, ir, mapper); err != nil {
		return err
	}
	return b.csrArray(d, "indptr", c.indptr, m+1, intsFill(c.newPtr, c.ptrCodec), nil, nil)
}

// ---- obsp ----

func (b *zbuilder) graphElement(s tree.Group, k tree.Child, dst string) error {
	if b.pos == nil {
		b.pos = positions(b.rows)
	}
	if !k.IsGroup {
		return b.inducedDense(s, k.Name, dst)
	}
	g, attrs, err := tree.OpenGroup(s, k.Name)
	if err != nil {
		return err
	}
	defer g.Close()
	if enc := tree.Encoding(attrs); enc != "csr_matrix" {
		return fmt.Errorf("%s: obsp element of encoding %q; only CSR and dense graphs are supported", g.Path(), enc)
	}
	c, err := b.openCSR(g, attrs)
	if err != nil {
		return err
	}
	defer c.closeAll()
	ic, ok := intCodecOf(c.indices.DType())
	if !ok {
		return fmt.Errorf("%s: sparse indices are not integers", c.indices.Path())
	}
	m := int64(len(b.rows))
	newPtr, newIdx, newData, err := inducedGraph(len(b.rows), b.pos, c.starts, c.newPtr, c.indices.Rows(), c.data.Rows(), ic)
	if err != nil {
		return err
	}
	nnz := int64(len(newIdx))
	d := tree.Join(dst, k.Name)
	b.csrGroup(attrs, c, d, []int64{m, m})
	if err := b.csrArray(d, "data", c.data, nnz, bytesFill(newData), nil, nil); err != nil {
		return err
	}
	if err := b.csrArray(d, "indices", c.indices, nnz, intsFill(newIdx, ic), nil, nil); err != nil {
		return err
	}
	return b.csrArray(d, "indptr", c.indptr, m+1, intsFill(newPtr, c.ptrCodec), nil, nil)
}

func (b *zbuilder) inducedDense(s tree.Group, name, dst string) error {
	a, err := s.Array(name)
	if err != nil {
		return err
	}
	sh := a.Shape()
	n := b.t.NObs
	if len(sh) != 2 || sh[0] != n || sh[1] != n || a.DType().Kind == 'O' {
		a.Close()
		return fmt.Errorf("%s: obsp element of shape %v; expected a %d x %d graph", a.Path(), sh, n, n)
	}
	if err := checkRowBytes(a.Path(), sh, a.DType().Size); err != nil {
		a.Close()
		return err
	}
	attrs, err := a.Attrs()
	if err != nil {
		a.Close()
		return err
	}
	b.keep(a)
	m := int64(len(b.rows))
	src := a.Rows()
	rowFill := inducedDense(src, b.rows, src.RowBytes()/n)
	b.addArray(&tree.PlanArray{Path: tree.Join(dst, name), Attrs: attrs, DType: a.DType(), Shape: []int64{m, m}, Fill: rowFill})
	return nil
}

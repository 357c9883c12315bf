package engine

import (
	"fmt"
	"sort"

	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
)

// Compression of written arrays: "" writes a shard image (uncompressed,
// contiguous, byte-identical to the mounted shard); "gzip" and "lzf" write
// chunked, filtered datasets through libhdf5.
type Compression string

// Shard is a built shard file: with no compression, its skeleton is on
// disk and Extents are the ranges still to generate (materialize fills
// them in place, mount serves them on read); with compression the file is
// complete. Close releases the source handles the extents read through.
type Shard struct {
	Extents []image.Extent
	keep    []*h5.Dataset
}

func (s *Shard) Close() {
	for _, ds := range s.keep {
		ds.Close()
	}
	s.keep = nil
}

// BuildH5AD writes shard `rows` of src to path.
func BuildH5AD(src *h5ad.Source, rows []int64, path string, comp Compression) (*Shard, error) {
	var sk sink
	switch comp {
	case "":
		sk = &extentSink{}
	case "gzip":
		sk = &filterSink{filter: h5.Gzip, level: 4}
	case "lzf":
		sk = &filterSink{filter: h5.LZF}
	default:
		return nil, fmt.Errorf("unknown compression %q (use gzip or lzf)", comp)
	}
	f, err := startFromTemplate(src, path)
	if err != nil {
		return nil, err
	}
	b := &builder{src: src, rows: rows, sink: sk, ax: h5Axes(src)}
	root, err := f.Root()
	if err == nil {
		err = b.root(src.Root, root)
		root.Close()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	sh := &Shard{keep: b.keep}
	if es, ok := sk.(*extentSink); ok {
		sh.Extents = es.extents
	} else {
		sh.Close() // compressed: every array is already written
	}
	if err != nil {
		sh.Close()
		return nil, err
	}
	return sh, nil
}

type builder struct {
	src  *h5ad.Source
	rows []int64 // source rows in shard order
	sink sink
	pos  map[int64]int64 // source row -> shard position (obsp only)
	keep []*h5.Dataset   // source arrays the extents read from
	ax   axes            // column counts elements must have
}

// array wraps a source dataset for gathers and keeps it open for them.
func (b *builder) array(ds *h5.Dataset) *h5ad.Array {
	b.keep = append(b.keep, ds)
	return b.src.Array(ds)
}

// root writes the elements that depend on the shard's rows; the root's
// attributes and the verbatim elements come with the template.
func (b *builder) root(s, d *h5.Group) error {
	kids, err := s.Children()
	if err != nil {
		return err
	}
	for _, k := range kids {
		if verbatim(k.Name) {
			continue
		}
		switch k.Name {
		case "X", "obs":
			err = b.rowElement(s, d, k.Name)
		case "layers", "obsm":
			err = b.mapping(s, d, k.Name, b.rowElement)
		case "obsp":
			err = b.mapping(s, d, k.Name, b.graphElement)
		case "raw":
			err = b.mapping(s, d, k.Name, func(s, d *h5.Group, name string) error {
				if name == "X" {
					return b.rowElement(s, d, name)
				}
				return d.CopyFrom(s, name, name)
			})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// mapping handles a group of elements (layers, obsm, obsp, raw), each by fn.
func (b *builder) mapping(s, d *h5.Group, name string, fn func(s, d *h5.Group, name string) error) error {
	if !s.IsGroup(name) {
		return d.CopyFrom(s, name, name)
	}
	sg, dg, kids, err := b.enterGroup(s, d, name)
	if err != nil {
		return err
	}
	defer sg.Close()
	defer dg.Close()
	for _, k := range kids {
		if err := fn(sg, dg, k.Name); err != nil {
			return err
		}
	}
	return nil
}

// enterGroup opens source group name, creates its shard twin with the
// same attributes, and lists the source group's members.
func (b *builder) enterGroup(s, d *h5.Group, name string) (sg, dg *h5.Group, kids []h5.Child, err error) {
	if sg, err = s.OpenGroup(name); err != nil {
		return nil, nil, nil, err
	}
	if dg, err = d.CreateGroup(name); err == nil {
		if err = b.copyAttrs(sg, dg); err == nil {
			if kids, err = sg.Children(); err == nil {
				return sg, dg, kids, nil
			}
		}
		dg.Close()
	}
	sg.Close()
	return nil, nil, nil, err
}

// copyAttrs copies a group's attributes; a shape attribute counting the
// cells (anndata 0.7's raw group) is rewritten for the shard.
func (b *builder) copyAttrs(sg, dg *h5.Group) error {
	shape, ok := sg.AttrInts("shape")
	if !ok || len(shape) == 0 || shape[0] != b.src.NObs {
		return sg.CopyAttrsTo(&dg.Object)
	}
	if err := sg.CopyAttrsTo(&dg.Object, "shape"); err != nil {
		return err
	}
	shape[0] = int64(len(b.rows))
	return dg.WriteAttrInts("shape", &sg.Object, shape)
}

// rowElement writes element name as its rows b.rows: any array whose first
// axis is the cells, a CSR matrix, or a group of such (dataframe,
// categorical, nullable arrays).
func (b *builder) rowElement(s, d *h5.Group, name string) error {
	if !s.IsGroup(name) {
		return b.rowDataset(s, d, name)
	}
	sg, err := s.OpenGroup(name)
	if err != nil {
		return err
	}
	enc := h5ad.EncodingOf(&sg.Object)
	sg.Close()
	switch enc {
	case "csr_matrix":
		return b.csr(s, d, name)
	case "csc_matrix":
		return fmt.Errorf("%s is a CSC matrix, which cannot be sliced by rows; convert it to CSR first", sg.Path)
	case "awkward-array":
		return fmt.Errorf("%s is an awkward array, which annslicer does not support yet", sg.Path)
	}
	return b.rowGroup(s, d, name, enc)
}

func (b *builder) rowGroup(s, d *h5.Group, name, enc string) error {
	sg, dg, kids, err := b.enterGroup(s, d, name)
	if err != nil {
		return err
	}
	defer sg.Close()
	defer dg.Close()
	// anndata 0.7 codes point into __categories by object reference: the
	// target must exist in the shard before the codes' attributes are copied.
	sort.SliceStable(kids, func(i, j int) bool { return kids[i].Name == "__categories" && kids[j].Name != "__categories" })
	for _, k := range kids {
		if k.Name == "__categories" || (enc == "categorical" && k.Name == "categories") {
			err = dg.CopyFrom(sg, k.Name, k.Name)
		} else {
			err = b.rowElement(sg, dg, k.Name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) rowDataset(s, d *h5.Group, name string) error {
	ds, err := s.OpenDataset(name)
	if err != nil {
		return err
	}
	if len(ds.Dims) == 0 || ds.Dims[0] != b.src.NObs || ds.VlenString || ds.Variable {
		defer ds.Close()
	}
	if len(ds.Dims) == 0 || ds.Dims[0] != b.src.NObs {
		return fmt.Errorf("%s has shape %v but the file has %d cells; it is not a per-cell array", ds.Path, ds.Dims, b.src.NObs)
	}
	if err := b.checkDense(ds); err != nil {
		if !(ds.VlenString || ds.Variable) {
			ds.Close()
		}
		return err
	}
	m := int64(len(b.rows))
	if ds.VlenString && len(ds.Dims) == 1 {
		strs, cset, err := b.readStrings(ds)
		if err != nil {
			return err
		}
		out, err := d.CreateDataset(name, ds, []int64{m}, h5.Layout{})
		if err != nil {
			return err
		}
		defer out.Close()
		if err := out.WriteStrings(strs, cset); err != nil {
			return err
		}
		return ds.CopyAttrsTo(&out.Object)
	}
	if ds.Variable {
		return fmt.Errorf("%s holds variable-length or reference data that annslicer cannot slice", ds.Path)
	}
	dims := append([]int64{m}, ds.Dims[1:]...)
	arr := b.array(ds)
	return b.sink.array(d, name, ds, dims, gen{
		denseRows(arr, b.rows), gatherSpans(arr, arr.RowBytes(), denseMapper(b.rows))})
}

// readStrings reads a string column at the shard's rows by gathering their
// descriptors and resolving them from the global heap (libhdf5 when the
// column is not stored plainly).
func (b *builder) readStrings(ds *h5.Dataset) ([]string, int, error) {
	desc := b.src.VlenDescriptors(ds)
	if desc == nil {
		return ds.ReadStrings(b.rows)
	}
	_, cset, err := ds.ReadStrings([]int64{})
	if err != nil {
		return nil, 0, err
	}
	raw := make([]byte, int64(len(b.rows))*vlenDesc)
	if err := denseRows(desc, b.rows)(raw, 0); err != nil {
		return nil, 0, err
	}
	strs := make([]string, len(b.rows))
	for i := range strs {
		if strs[i], err = b.src.VlenString(raw[i*vlenDesc:]); err != nil {
			return nil, 0, err
		}
	}
	return strs, cset, nil
}

const vlenDesc = 16

// csrParts opens a CSR group's arrays and finds, for each shard row, where
// its entries start in the source and the shard's new indptr.
type csrParts struct {
	g                     *h5.Group
	data, indices, indptr *h5.Dataset
	starts, newPtr        []int64
	ncols                 int64
	shapeAttr             string
}

// Close releases the group and indptr; data and indices are closed by
// whoever reads them (the builder keeps them for the extents).
func (c *csrParts) Close() {
	if c.indptr != nil {
		c.indptr.Close()
	}
	c.g.Close()
}

func (c *csrParts) closeArrays() {
	for _, ds := range []*h5.Dataset{c.data, c.indices} {
		if ds != nil {
			ds.Close()
		}
	}
}

func (b *builder) openCSR(s *h5.Group, name string) (*csrParts, error) {
	g, err := s.OpenGroup(name)
	if err != nil {
		return nil, err
	}
	c := &csrParts{g: g, shapeAttr: h5ad.ShapeAttr(&g.Object)}
	for _, p := range []struct {
		name string
		ds   **h5.Dataset
	}{{"data", &c.data}, {"indices", &c.indices}, {"indptr", &c.indptr}} {
		if *p.ds, err = g.OpenDataset(p.name); err != nil {
			c.closeArrays()
			c.Close()
			return nil, fmt.Errorf("%s: sparse matrix without %s: %v", g.Path, p.name, err)
		}
	}
	if err := b.checkCSR(c); err != nil {
		c.closeArrays()
		c.Close()
		return nil, err
	}
	return c, nil
}

// rowRanges reads indptr only at the shard's rows: O(shard) memory. Each
// row's range must lie inside the nnz entries of data and indices.
func (b *builder) rowRanges(indptr *h5.Dataset, where string, nnz, ncols int64) (starts, newPtr []int64, err error) {
	m := len(b.rows)
	starts = make([]int64, m)
	newPtr = make([]int64, m+1)
	if m == 0 {
		return starts, newPtr, nil
	}
	var ends []int64
	if Contiguous(b.rows) {
		v, err := indptr.ReadInt64s(b.rows[0], int64(m)+1)
		if err != nil {
			return nil, nil, err
		}
		copy(starts, v[:m])
		ends = v[1:]
	} else {
		// rows r and r+1 of indptr for each shard row, read through the
		// same merged, sorted gather as the arrays themselves
		pts := make([]int64, 2*m)
		for i, r := range b.rows {
			pts[2*i], pts[2*i+1] = r, r+1
		}
		arr := b.src.Array(indptr)
		raw := make([]byte, int64(len(pts))*arr.RowBytes())
		if err := denseRows(arr, pts)(raw, 0); err != nil {
			return nil, nil, err
		}
		c, sz := codecOf(indptr), indptr.ElemSize
		ends = make([]int64, m)
		for i := range b.rows {
			starts[i], ends[i] = c.Get(raw[2*i*sz:]), c.Get(raw[(2*i+1)*sz:])
		}
	}
	if err := checkRowSpans(where, b.rows, starts, ends, nnz, ncols); err != nil {
		return nil, nil, err
	}
	return starts, newPtr, shardPtr(where, starts, ends, newPtr)
}

func (b *builder) csr(s, d *h5.Group, name string) error {
	c, err := b.openCSR(s, name)
	if err != nil {
		return err
	}
	defer c.Close()
	m := int64(len(b.rows))
	nnz := c.newPtr[m]
	elems := func(ds *h5.Dataset) gen {
		arr := b.array(ds)
		return gen{csrElems(arr, c.starts, c.newPtr), gatherSpans(arr, arr.RowBytes(), csrMapper(c.starts, c.newPtr))}
	}
	return b.writeCSR(c, d, name, []int64{m, c.ncols}, []array{
		{"data", c.data, []int64{nnz}, elems(c.data)},
		{"indices", c.indices, []int64{nnz}, elems(c.indices)},
		{"indptr", c.indptr, []int64{m + 1}, gen{fill: intsFill(c.newPtr, codecOf(c.indptr))}},
	})
}

type array struct {
	name string
	like *h5.Dataset
	dims []int64
	gen  gen
}

// gen makes an array's bytes: fill always works; spans, when not nil, may
// name file ranges to copy instead.
type gen struct {
	fill  image.Fill
	spans image.Spans
}

func (b *builder) writeCSR(c *csrParts, d *h5.Group, name string, shape []int64, arrays []array) error {
	dg, err := d.CreateGroup(name)
	if err != nil {
		return err
	}
	defer dg.Close()
	if err := c.g.CopyAttrsTo(&dg.Object, c.shapeAttr); err != nil {
		return err
	}
	if err := dg.WriteAttrInts(c.shapeAttr, &c.g.Object, shape); err != nil {
		return err
	}
	for _, a := range arrays {
		if err := b.sink.array(dg, a.name, a.like, a.dims, a.gen); err != nil {
			return err
		}
	}
	return nil
}

// codecOf is the integer dtype of a dataset.
func codecOf(ds *h5.Dataset) Ints {
	return Ints{Size: ds.ElemSize, BE: ds.BigEndian, Unsigned: !ds.Signed()}
}

// graphElement writes an obsp element as the induced sub-graph of the
// shard's cells: rows and columns both restricted to them, columns renumbered.
func (b *builder) graphElement(s, d *h5.Group, name string) error {
	if b.pos == nil {
		b.pos = positions(b.rows)
	}
	if s.IsGroup(name) {
		g, err := s.OpenGroup(name)
		if err != nil {
			return err
		}
		enc := h5ad.EncodingOf(&g.Object)
		g.Close()
		if enc != "csr_matrix" {
			return fmt.Errorf("%s/%s: obsp element of encoding %q; only CSR and dense graphs are supported", s.Path, name, enc)
		}
		return b.inducedCSR(s, d, name)
	}
	return b.inducedDense(s, d, name)
}

func (b *builder) inducedCSR(s, d *h5.Group, name string) error {
	c, err := b.openCSR(s, name)
	if err != nil {
		return err
	}
	defer c.Close()
	defer c.closeArrays() // read now, into memory
	ic := codecOf(c.indices)
	m := int64(len(b.rows))
	newPtr, newIdx, newData, err := inducedGraph(len(b.rows), b.pos, c.starts, c.newPtr, b.src.Array(c.indices), b.src.Array(c.data), ic)
	if err != nil {
		return err
	}
	nnz := int64(len(newIdx))
	return b.writeCSR(c, d, name, []int64{m, m}, []array{
		{"data", c.data, []int64{nnz}, gen{fill: bytesFill(newData)}},
		{"indices", c.indices, []int64{nnz}, gen{fill: intsFill(newIdx, ic)}},
		{"indptr", c.indptr, []int64{m + 1}, gen{fill: intsFill(newPtr, codecOf(c.indptr))}},
	})
}

func grow(b []byte, n int64) []byte {
	if int64(cap(b)) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// inducedDense: output row j is source row rows[j] at columns rows.
func (b *builder) inducedDense(s, d *h5.Group, name string) error {
	ds, err := s.OpenDataset(name)
	if err != nil {
		return err
	}
	if len(ds.Dims) != 2 || ds.Dims[0] != b.src.NObs || ds.Dims[1] != b.src.NObs || ds.Variable {
		ds.Close()
		return fmt.Errorf("%s: obsp element of shape %v; expected a %d x %d graph", ds.Path, ds.Dims, b.src.NObs, b.src.NObs)
	}
	if err := checkRowBytes(ds.Path, ds.Dims, ds.ElemSize); err != nil {
		ds.Close()
		return err
	}
	m := int64(len(b.rows))
	fill := inducedDense(b.array(ds), b.rows, int64(ds.ElemSize))
	return b.sink.array(d, name, ds, []int64{m, m}, gen{fill: fill})
}

// sink creates an array in a shard and arranges for its bytes.
type sink interface {
	array(g *h5.Group, name string, like *h5.Dataset, dims []int64, gen gen) error
}

func byteSize(like *h5.Dataset, dims []int64) int64 {
	n := int64(like.ElemSize)
	for _, d := range dims {
		n *= d
	}
	return n
}

// extentSink reserves each array's bytes and records how to make them.
type extentSink struct{ extents []image.Extent }

func (s *extentSink) array(g *h5.Group, name string, like *h5.Dataset, dims []int64, gen gen) error {
	ds, err := g.CreateDataset(name, like, dims, h5.Layout{Extent: true})
	if err != nil {
		return err
	}
	defer ds.Close()
	if err := like.CopyAttrsTo(&ds.Object); err != nil {
		return err
	}
	size := byteSize(like, dims)
	if size == 0 {
		return nil
	}
	off := ds.Offset()
	if off < 0 {
		return fmt.Errorf("%s: libhdf5 gave no file offset for an early-allocated dataset", ds.Path)
	}
	s.extents = append(s.extents, image.Extent{Name: ds.Path, Off: off, Size: size, Fill: gen.fill, Spans: gen.spans})
	return nil
}

// filterSink writes chunked, compressed arrays (see writeChunks).
type filterSink struct {
	filter h5.Filter
	level  int
}

func (s *filterSink) array(g *h5.Group, name string, like *h5.Dataset, dims []int64, gen gen) error {
	rowBytes := byteSize(like, dims[1:])
	l := h5.Layout{}
	if dims[0] > 0 && rowBytes > 0 {
		l.Chunk = append([]int64{min(dims[0], max(1, h5ad.ChunkTarget/rowBytes))}, dims[1:]...)
		l.Filter, l.Level = s.filter, s.level
	}
	ds, err := g.CreateDataset(name, like, dims, l)
	if err != nil {
		return err
	}
	defer ds.Close()
	if err := like.CopyAttrsTo(&ds.Object); err != nil {
		return err
	}
	if rowBytes == 0 || dims[0] == 0 {
		return nil
	}
	return h5ad.WriteChunks(ds, dims[0], rowBytes, l.Chunk[0], gen.fill, s.filter, s.level)
}

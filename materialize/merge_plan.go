package materialize

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/h5ad"
)

// The merge plan: a tree of the output's elements, built from the first
// input (the template), then checked against every input, which also
// records what each contributes (rows, sparse entries, var names,
// categories). Nothing is written until every input has passed.

type kind int

const (
	kGroup     kind = iota // children merged one by one (raw, nullable arrays, ...)
	kMapping               // layers, obsm, obsp: keys not in every input are dropped
	kFrame                 // dataframe: columns not in every input are dropped
	kCopy                  // the first input's element, copied whole (uns, ...)
	kSameCopy              // copied whole, and must be equal in every input (0.7 __categories)
	kVarFrame              // var, raw/var: copied when identical everywhere, else the index only
	kIfSameVar             // varm, varp, raw/varm: copied when var is identical, else dropped
	kCSR                   // CSR matrix: rows stacked (obsp: block-diagonal)
	kDense                 // fixed-size array: rows stacked
	kStrings               // variable-length strings: rows stacked
	kCat                   // categorical: codes stacked, categories unified
	kCodes07               // anndata 0.7 categorical codes (categories in __categories)
)

type node struct {
	name, path string // member name; path from the root ("obs/cell_type")
	kind       kind
	kids       []*node
	optional   bool     // may be dropped when not in every input
	dropped    string   // why it is left out
	axis       *varAxis // its columns are this var's genes (X, layers, raw/X)
	shapeAxis  *varAxis // group whose shape attribute counts cells and genes (0.7 raw)
	graph      bool     // obsp element: block-diagonal
	enc        string   // encoding of a group in the template

	// per input
	nnz  []int64 // kCSR: entries contributed (after the join)
	p0   []int64 // kCSR: indptr[0]
	base []int64 // kCSR: output entry where each input's entries start

	// output
	cols             int64 // kCSR: columns; kDense: trailing size check
	total            int64 // kCSR: entries
	idxSame, ptrSame bool  // kCSR: every input's indices / indptr have the template's type
	idxW, ptrW       int   // kCSR: widest indices / indptr of the inputs
	cat              *catMerge
	arrays           map[string]*outArray // by member ("" for a dataset leaf)
	dropCols         []string             // kFrame: columns left out
}

// catMerge unifies a categorical's categories across inputs.
type catMerge struct {
	strs     bool       // categories are strings
	first    []string   // the template's (strings)
	firstRaw []byte     // the template's (numbers, raw bytes)
	sets     [][]string // the union so far (one set), once categories differ
	differ   bool
	ordered  bool
	union    []string
	codesW   int
	sameType bool // every input's codes have the template's type
}

// outArray is an array of the output whose bytes are written in place.
type outArray struct {
	path string
	off  int64 // file offset, -1 when empty
	size int64
	ints engine.Ints // integer arrays: their type
}

// varAxis is a var dataframe (var, raw/var) and how inputs align on it.
type varAxis struct {
	path    string
	join    string
	nIn     []int64 // per input: number of genes
	first   []string
	index   string // name of the first's index dataset
	same    bool   // every input's var group equals the first's
	sameIdx bool   // every input has the first's var names, in order
	pending int    // inputs identical to the first before a join started
	j       *engine.Join
	out     []string // output names when joined
	nOut    int64
}

type mergeInput struct {
	path string
	nobs int64
	row0 int64
}

type merger struct {
	o      MergeOptions
	inputs []*mergeInput
	n      int64
	tpl    *h5ad.Source // the first input, open from plan to write
	root   *node
	axes   []*varAxis
	warns  []string
	leaves []*node // output arrays, in tree order
}

func (m *merger) warn(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	if !slices.Contains(m.warns, s) {
		m.warns = append(m.warns, s)
	}
}

func child(parent *node, name string, k kind) *node {
	p := name
	if parent != nil && parent.path != "" {
		p = parent.path + "/" + name
	}
	n := &node{name: name, path: p, kind: k}
	if parent != nil {
		parent.kids = append(parent.kids, n)
	}
	return n
}

// ---------------------------------------------------------------- build

func (m *merger) build() error {
	t := m.tpl.Root
	m.root = &node{kind: kGroup}
	kids, err := t.Children()
	if err != nil {
		return err
	}
	varAx := m.axis("var")
	for _, k := range kids {
		var err error
		switch k.Name {
		case "X":
			err = m.rowElement(m.root, "X", varAx)
		case "obs":
			if !k.IsGroup {
				return fmt.Errorf("%s: obs is a record array (an anndata < 0.7 file), which annslicer cannot merge; rewrite it with a current anndata", m.tpl.Path)
			}
			err = m.frame(m.root, "obs", false)
		case "var":
			child(m.root, "var", kVarFrame).axis = varAx
		case "layers", "obsm", "obsp":
			if !k.IsGroup {
				child(m.root, k.Name, kCopy)
				continue
			}
			err = m.mapping(k.Name, varAx)
		case "varm", "varp":
			child(m.root, k.Name, kIfSameVar).axis = varAx
		case "raw":
			err = m.raw()
		default: // uns and anything else: the first input's
			child(m.root, k.Name, kCopy)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *merger) axis(p string) *varAxis {
	a := &varAxis{path: p, join: m.o.Join, nIn: make([]int64, len(m.inputs))}
	m.axes = append(m.axes, a)
	return a
}

func (m *merger) mapping(name string, varAx *varAxis) error {
	g := child(m.root, name, kMapping)
	tg, err := m.tpl.Root.OpenGroup(name)
	if err != nil {
		return err
	}
	kids, err := tg.Children()
	tg.Close()
	if err != nil {
		return err
	}
	for _, k := range kids {
		var ax *varAxis
		if name == "layers" {
			ax = varAx
		}
		if name == "obsp" {
			err = m.graphElement(g, k.Name)
		} else {
			err = m.rowElement(g, k.Name, ax)
		}
		if err != nil {
			return err
		}
		g.kids[len(g.kids)-1].optional = true
	}
	return nil
}

func (m *merger) raw() error {
	if !m.tpl.Root.IsGroup("raw") {
		child(m.root, "raw", kCopy)
		return nil
	}
	g := child(m.root, "raw", kGroup)
	g.optional = true
	ax := m.axis("raw/var")
	g.shapeAxis = ax
	tg, err := m.tpl.Root.OpenGroup("raw")
	if err != nil {
		return err
	}
	g.enc = h5ad.EncodingOf(&tg.Object)
	kids, err := tg.Children()
	tg.Close()
	if err != nil {
		return err
	}
	for _, k := range kids {
		switch k.Name {
		case "X":
			err = m.rowElement(g, "X", ax)
		case "var":
			child(g, "var", kVarFrame).axis = ax
		case "varm":
			child(g, "varm", kIfSameVar).axis = ax
		default:
			child(g, k.Name, kCopy)
		}
		if err != nil {
			return err
		}
	}
	if !slices.ContainsFunc(g.kids, func(n *node) bool { return n.name == "var" }) {
		return fmt.Errorf("%s: raw has no var dataframe; not an AnnData raw element", m.tpl.Path)
	}
	return nil
}

// rowElement plans an element whose first axis is the cells.
func (m *merger) rowElement(parent *node, name string, ax *varAxis) error {
	p := child(parent, name, kDense)
	p.axis = ax
	t := m.tpl.Root
	if !t.IsGroup(p.path) {
		ds, err := t.OpenDataset(p.path)
		if err != nil {
			return fmt.Errorf("%s: %v", m.tpl.Path, err)
		}
		defer ds.Close()
		switch {
		case ds.VlenString && len(ds.Dims) == 1:
			p.kind, p.axis = kStrings, nil
		case ds.Variable:
			return fmt.Errorf("%s: %s holds variable-length or reference data that annslicer cannot merge", m.tpl.Path, p.path)
		case ds.HasAttr("categories") && parent.kind == kFrame:
			p.kind, p.axis = kCodes07, nil
		}
		if len(ds.Dims) < 2 {
			p.axis = nil
		}
		if p.kind == kDense && len(ds.Dims) > 1 {
			p.cols = ds.Dims[1]
		}
		return nil
	}
	g, err := t.OpenGroup(p.path)
	if err != nil {
		return err
	}
	p.enc = h5ad.EncodingOf(&g.Object)
	g.Close()
	switch p.enc {
	case "csr_matrix":
		p.kind = kCSR
		return m.csrTemplate(p)
	case "csc_matrix":
		return fmt.Errorf("%s: %s is a CSC matrix, which cannot be merged by rows; convert it to CSR first", m.tpl.Path, p.path)
	case "awkward-array":
		return fmt.Errorf("%s: %s is an awkward array, which annslicer does not support yet", m.tpl.Path, p.path)
	case "categorical":
		p.kind, p.axis = kCat, nil
		return nil
	case "dataframe":
		parent.kids = parent.kids[:len(parent.kids)-1]
		return m.frame(parent, name, true)
	}
	p.kind, p.axis = kGroup, nil
	tg, err := t.OpenGroup(p.path)
	if err != nil {
		return err
	}
	kids, err := tg.Children()
	tg.Close()
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := m.rowElement(p, k.Name, nil); err != nil {
			return err
		}
	}
	return nil
}

func (m *merger) csrTemplate(p *node) error {
	g, err := m.tpl.Root.OpenGroup(p.path)
	if err != nil {
		return err
	}
	defer g.Close()
	shape, ok := g.AttrInts(h5ad.ShapeAttr(&g.Object))
	if !ok || len(shape) != 2 {
		return fmt.Errorf("%s: %s: sparse matrix without a 2-element shape attribute", m.tpl.Path, p.path)
	}
	p.cols = shape[1]
	return nil
}

func (m *merger) graphElement(parent *node, name string) error {
	p := child(parent, name, kDense)
	p.graph = true
	t := m.tpl.Root
	if !t.IsGroup(p.path) {
		return nil
	}
	g, err := t.OpenGroup(p.path)
	if err != nil {
		return err
	}
	p.enc = h5ad.EncodingOf(&g.Object)
	g.Close()
	if p.enc != "csr_matrix" {
		return fmt.Errorf("%s: %s: obsp element of encoding %q; only CSR and dense graphs can be merged", m.tpl.Path, p.path, p.enc)
	}
	p.kind = kCSR
	return m.csrTemplate(p)
}

// frame plans a dataframe: its index, then every column.
func (m *merger) frame(parent *node, name string, optional bool) error {
	f := child(parent, name, kFrame)
	f.optional = optional
	f.enc = "dataframe"
	g, err := m.tpl.Root.OpenGroup(f.path)
	if err != nil {
		return err
	}
	idx, ok := g.AttrString("_index")
	kids, err := g.Children()
	g.Close()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %s has no _index attribute; not an AnnData dataframe", m.tpl.Path, f.path)
	}
	for _, k := range kids {
		if k.Name == "__categories" {
			child(f, k.Name, kSameCopy)
			continue
		}
		if err := m.rowElement(f, k.Name, nil); err != nil {
			return err
		}
		f.kids[len(f.kids)-1].optional = k.Name != idx
	}
	// anndata 0.7 codes point into __categories by reference: it must
	// exist in the output before the codes' attributes are copied
	slices.SortStableFunc(f.kids, func(a, b *node) int {
		if a.name == "__categories" && b.name != "__categories" {
			return -1
		}
		return 0
	})
	return nil
}

// ---------------------------------------------------------------- scan

// scanInput checks input i against the plan and records what it brings.
// vars, when not nil, holds its var names read ahead (readVars).
func (m *merger) scanInput(i int, src *h5ad.Source, vars map[string]varRead) error {
	m.inputs[i].nobs = src.NObs
	if vars == nil {
		vars = m.readVars(src)
	}
	// var first: the genes' count is what X and layers are checked against
	for _, a := range m.axes {
		if v, ok := vars[a.path]; ok {
			if err := m.scanVar(a, src, i, v); err != nil {
				return err
			}
		}
	}
	return m.scan(m.root, src, i)
}

// varRead is a var dataframe's index, read ahead of the scan.
type varRead struct {
	names []string
	index string
	err   error
}

// readVars reads the index of every var axis the input has.
func (m *merger) readVars(src *h5ad.Source) map[string]varRead {
	out := map[string]varRead{}
	for _, a := range m.axes {
		if a.path != "var" && !src.Root.IsGroup(a.path) {
			continue
		}
		var v varRead
		if !src.Root.IsGroup(a.path) {
			v.err = m.errf(src, "%s is not a dataframe; not an AnnData file of a supported version", a.path)
		} else {
			v.names, v.index, v.err = varIndex(src, a.path)
		}
		out[a.path] = v
	}
	return out
}

func (m *merger) errf(src *h5ad.Source, format string, a ...any) error {
	return fmt.Errorf("%s: %s", src.Path, fmt.Sprintf(format, a...))
}

func kindName(enc string, isGroup bool) string {
	switch {
	case enc == "csr_matrix":
		return "a CSR matrix"
	case enc == "csc_matrix":
		return "a CSC matrix"
	case enc == "":
		if isGroup {
			return "a group"
		}
		return "a dense array"
	}
	return "of encoding " + enc
}

func (m *merger) elementKind(src *h5ad.Source, p string) string {
	if !src.Root.IsGroup(p) {
		return kindName("", false)
	}
	g, err := src.Root.OpenGroup(p)
	if err != nil {
		return "unreadable"
	}
	defer g.Close()
	return kindName(h5ad.EncodingOf(&g.Object), true)
}

func (m *merger) mismatch(src *h5ad.Source, p string) error {
	return m.errf(src, "%s is %s but %s in %s; inputs must store it the same way to be merged (rewrite one with anndata so both match)",
		p, m.elementKind(src, p), m.elementKind(m.tpl, p), m.tpl.Path)
}

func (m *merger) scan(n *node, src *h5ad.Source, i int) error {
	if n.dropped != "" {
		return nil
	}
	if n.path != "" && !src.Root.Has(n.path) {
		if n.optional {
			n.dropped = fmt.Sprintf("%s is not in every input (not in %s); left out of the merge", n.path, src.Path)
			return nil
		}
		return m.errf(src, "has no %s, which %s has; inputs must have the same elements to be merged", n.path, m.tpl.Path)
	}
	switch n.kind {
	case kCopy, kIfSameVar:
		return nil
	case kSameCopy:
		if i == 0 {
			return nil
		}
		same, err := sameElement(m.tpl, src, n.path, "")
		if err != nil {
			return err
		}
		if !same {
			return m.errf(src, "the categories in %s differ from those of %s; merging anndata 0.7 categoricals with different categories is not supported: rewrite the files with anndata >= 0.8 (read_h5ad, then write_h5ad)", n.path, m.tpl.Path)
		}
		return nil
	case kVarFrame:
		return nil // scanned first, by scanInput
	case kGroup, kMapping, kFrame:
		return m.scanGroup(n, src, i)
	case kCSR:
		return m.scanCSR(n, src, i)
	case kCat:
		return m.scanCat(n, src, i)
	}
	// datasets: kDense, kStrings, kCodes07
	if src.Root.IsGroup(n.path) {
		return m.mismatch(src, n.path)
	}
	ds, err := src.Root.OpenDataset(n.path)
	if err != nil {
		return fmt.Errorf("%s: %v", src.Path, err)
	}
	defer ds.Close()
	td, err := m.tpl.Root.OpenDataset(n.path)
	if err != nil {
		return err
	}
	defer td.Close()
	nobs := src.NObs
	if len(ds.Dims) == 0 || ds.Dims[0] != nobs {
		return m.errf(src, "%s has shape %v but the file has %d cells; it is not a per-cell array", n.path, ds.Dims, nobs)
	}
	if n.kind == kStrings {
		if !ds.VlenString || len(ds.Dims) != 1 {
			return m.errf(src, "%s is not a string array as in %s; inputs must store it the same way to be merged", n.path, m.tpl.Path)
		}
		return nil
	}
	if !ds.SameType(td) {
		return m.errf(src, "%s has a different dtype than in %s; annslicer never converts dtypes: convert one with anndata first", n.path, m.tpl.Path)
	}
	if len(ds.Dims) != len(td.Dims) {
		return m.errf(src, "%s has shape %v but %v in %s", n.path, ds.Dims, td.Dims, m.tpl.Path)
	}
	for d := 1; d < len(ds.Dims); d++ {
		want := td.Dims[d]
		switch {
		case d == 1 && n.axis != nil:
			want = n.axis.nIn[i]
		case n.graph:
			want = nobs
		}
		if ds.Dims[d] != want {
			return m.errf(src, "%s has shape %v; expected %d in dimension %d", n.path, ds.Dims, want, d)
		}
	}
	if n.graph && len(ds.Dims) != 2 {
		return m.errf(src, "%s: obsp element of shape %v; expected a cells x cells graph", n.path, ds.Dims)
	}
	if n.kind == kCodes07 && !ds.HasAttr("categories") {
		return m.errf(src, "%s is not a categorical as in %s", n.path, m.tpl.Path)
	}
	return nil
}

func (m *merger) scanGroup(n *node, src *h5ad.Source, i int) error {
	if n.path != "" {
		g, err := m.inputGroup(src, n.path)
		if err != nil {
			return err
		}
		enc := h5ad.EncodingOf(&g.Object)
		idx, _ := g.AttrString("_index")
		kids, err := g.Children()
		g.Close()
		if err != nil {
			return fmt.Errorf("%s: %v", src.Path, err)
		}
		if n.kind != kMapping && enc != n.enc && n.path != "raw" {
			return m.mismatch(src, n.path)
		}
		if n.kind == kFrame {
			tg, err := m.tpl.Root.OpenGroup(n.path)
			if err != nil {
				return err
			}
			tidx, _ := tg.AttrString("_index")
			tg.Close()
			if idx != tidx {
				return m.errf(src, "%s keeps its index in %q but %s in %q; rewrite one with anndata", n.path, idx, m.tpl.Path, tidx)
			}
		}
		if n.kind == kMapping || n.kind == kFrame {
			for _, k := range kids {
				if k.Name == "__categories" {
					continue
				}
				if !slices.ContainsFunc(n.kids, func(c *node) bool { return c.name == k.Name }) {
					m.warn("%s/%s is not in every input (not in %s); left out of the merge", n.path, k.Name, m.tpl.Path)
				}
			}
		}
	} else if i > 0 {
		for _, name := range []string{"X", "layers", "obsm", "obsp", "raw"} {
			if !m.tpl.Root.Has(name) && src.Root.Has(name) {
				m.warn("%s is not in every input (not in %s); left out of the merge", name, m.tpl.Path)
			}
		}
	}
	for _, k := range n.kids {
		if err := m.scan(k, src, i); err != nil {
			return err
		}
	}
	return nil
}

// inputGroup opens group path of input src, which must be a group as in
// the first input.
func (m *merger) inputGroup(src *h5ad.Source, path string) (*h5.Group, error) {
	if !src.Root.IsGroup(path) {
		return nil, m.mismatch(src, path)
	}
	g, err := src.Root.OpenGroup(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", src.Path, err)
	}
	return g, nil
}

func (m *merger) scanCSR(n *node, src *h5ad.Source, i int) error {
	g, err := m.inputGroup(src, n.path)
	if err != nil {
		return err
	}
	defer g.Close()
	if h5ad.EncodingOf(&g.Object) != "csr_matrix" {
		return m.mismatch(src, n.path)
	}
	var ds [3]*h5.Dataset
	for k, name := range []string{"data", "indices", "indptr"} {
		if ds[k], err = g.OpenDataset(name); err != nil {
			return m.errf(src, "%s: sparse matrix without %s", n.path, name)
		}
		defer ds[k].Close()
	}
	data, indices, indptr := ds[0], ds[1], ds[2]
	var tds [3]*h5.Dataset
	for k, name := range []string{"data", "indices", "indptr"} {
		if tds[k], err = m.tpl.Root.OpenDataset(n.path + "/" + name); err != nil {
			return err
		}
		defer tds[k].Close()
	}
	shape, ok := g.AttrInts(h5ad.ShapeAttr(&g.Object))
	if !ok || len(shape) != 2 {
		return m.errf(src, "%s: sparse matrix without a 2-element shape attribute", n.path)
	}
	nobs := src.NObs
	want := n.cols
	switch {
	case n.axis != nil:
		want = n.axis.nIn[i]
	case n.graph:
		want = nobs
	}
	if shape[0] != nobs || shape[1] != want {
		return m.errf(src, "%s has shape %v; expected (%d, %d)", n.path, shape, nobs, want)
	}
	if !data.SameType(tds[0]) {
		return m.errf(src, "%s/data has a different dtype than in %s; annslicer never converts dtypes: convert one with anndata first", n.path, m.tpl.Path)
	}
	if !indices.IsInteger || !indptr.IsInteger || len(indptr.Dims) != 1 || indptr.Dims[0] != nobs+1 {
		return m.errf(src, "%s: indices and indptr must be integer arrays, indptr of length %d; the sparse matrix is corrupt", n.path, nobs+1)
	}
	if i == 0 {
		n.nnz, n.p0, n.base = make([]int64, len(m.inputs)), make([]int64, len(m.inputs)), make([]int64, len(m.inputs))
		n.idxSame, n.ptrSame = true, true
	}
	n.idxSame = n.idxSame && indices.SameType(tds[1])
	n.ptrSame = n.ptrSame && indptr.SameType(tds[2])
	n.idxW, n.ptrW = max(n.idxW, indices.ElemSize), max(n.ptrW, indptr.ElemSize)
	first, err := indptr.ReadInt64s(0, 1)
	if err != nil {
		return err
	}
	last, err := indptr.ReadInt64s(nobs, 1)
	if err != nil {
		return err
	}
	nnz := last[0] - first[0]
	if nnz < 0 || first[0] < 0 || last[0] > data.Dims[0] || last[0] > indices.Dims[0] {
		return m.errf(src, "%s: indptr runs from %d to %d but data holds %d entries; the sparse matrix is corrupt", n.path, first[0], last[0], data.Dims[0])
	}
	n.p0[i], n.nnz[i] = first[0], nnz
	return nil
}

func (m *merger) scanCat(n *node, src *h5ad.Source, i int) error {
	g, err := m.inputGroup(src, n.path)
	if err != nil {
		return err
	}
	enc := h5ad.EncodingOf(&g.Object)
	ordered, _ := g.AttrBool("ordered")
	g.Close()
	if enc != "categorical" {
		return m.mismatch(src, n.path)
	}
	codes, err := src.Root.OpenDataset(n.path + "/codes")
	if err != nil {
		return m.errf(src, "%s: categorical without codes", n.path)
	}
	defer codes.Close()
	cats, err := src.Root.OpenDataset(n.path + "/categories")
	if err != nil {
		return m.errf(src, "%s: categorical without categories", n.path)
	}
	defer cats.Close()
	tc, err := m.tpl.Root.OpenDataset(n.path + "/codes")
	if err != nil {
		return err
	}
	defer tc.Close()
	if !codes.IsInteger || len(codes.Dims) != 1 || codes.Dims[0] != src.NObs {
		return m.errf(src, "%s/codes has shape %v but the file has %d cells", n.path, codes.Dims, src.NObs)
	}
	if i == 0 {
		n.cat = &catMerge{strs: cats.VlenString, ordered: ordered, sameType: true}
	}
	c := n.cat
	c.sameType = c.sameType && codes.SameType(tc)
	c.codesW = max(c.codesW, codes.ElemSize)
	if c.strs != cats.VlenString {
		return m.errf(src, "%s has %s categories but %s has %s ones", n.path, strKind(cats.VlenString), m.tpl.Path, strKind(c.strs))
	}
	if c.strs {
		strs, err := readStrings(src, cats)
		if err != nil {
			return err
		}
		if i == 0 {
			c.first = strs
		} else if !slices.Equal(strs, c.first) {
			c.differ = true
			if ordered || c.ordered {
				return m.errf(src, "%s is an ordered categorical whose categories differ from those in %s; their orders cannot be merged: make the categories equal first (in Python: adata.obs[col] = adata.obs[col].cat.set_categories(...))", n.path, m.tpl.Path)
			}
			if c.sets == nil {
				c.sets = [][]string{c.first}
			}
			c.sets = append(c.sets, strs)
			c.sets = [][]string{engine.UnionSorted(c.sets...)}
		}
		return nil
	}
	raw := make([]byte, cats.Dims[0]*cats.RowBytes())
	if err := cats.ReadRows(raw, 0, cats.Dims[0]); err != nil {
		return err
	}
	if i == 0 {
		c.firstRaw = raw
		return nil
	}
	tcats, err := m.tpl.Root.OpenDataset(n.path + "/categories")
	if err != nil {
		return err
	}
	defer tcats.Close()
	if !cats.SameType(tcats) || !bytes.Equal(raw, c.firstRaw) {
		return m.errf(src, "%s has other categories than in %s; merging numeric categoricals with different categories is not supported: make them equal first", n.path, m.tpl.Path)
	}
	return nil
}

func strKind(s bool) string {
	if s {
		return "string"
	}
	return "numeric"
}

// scanVar reads an input's var names and compares its var with the first's.
func (m *merger) scanVar(a *varAxis, src *h5ad.Source, i int, v varRead) error {
	names, idx, err := v.names, v.index, v.err
	if err != nil {
		return err
	}
	a.nIn[i] = int64(len(names))
	if i == 0 {
		a.first, a.index, a.same, a.sameIdx = names, idx, true, true
		return nil
	}
	if slices.Equal(names, a.first) {
		if a.j != nil {
			err = a.j.Add(names)
		} else {
			a.pending++
		}
		if err != nil {
			return fmt.Errorf("%s: %v", src.Path, err)
		}
		if a.same { // the index is equal: compare the rest
			if a.same, err = sameElement(m.tpl, src, a.path, a.path+"/"+a.index); err != nil {
				return err
			}
		}
		return nil
	}
	a.same, a.sameIdx = false, false
	if a.j == nil {
		if a.j, err = engine.NewJoin(a.join, a.first); err != nil {
			return fmt.Errorf("%s: %s: %v", m.tpl.Path, a.path, err)
		}
		for ; a.pending > 0; a.pending-- {
			a.j.Add(a.first)
		}
	}
	if err := a.j.Add(names); err != nil {
		return fmt.Errorf("%s: %s: %v", src.Path, a.path, err)
	}
	return nil
}

// varNames reads a var dataframe's index.
func varNames(src *h5ad.Source, p string) ([]string, error) {
	names, _, err := varIndex(src, p)
	return names, err
}

// varIndex reads a var dataframe's index and the name of its dataset.
func varIndex(src *h5ad.Source, p string) ([]string, string, error) {
	g, err := src.Root.OpenGroup(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %v", src.Path, err)
	}
	idx, ok := g.AttrString("_index")
	g.Close()
	if !ok {
		return nil, "", fmt.Errorf("%s: %s has no _index attribute; not an AnnData dataframe", src.Path, p)
	}
	ds, err := src.Root.OpenDataset(p + "/" + idx)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %s index: %v", src.Path, p, err)
	}
	defer ds.Close()
	if !ds.VlenString || len(ds.Dims) != 1 {
		return nil, "", fmt.Errorf("%s: the index of %s is not a string array", src.Path, p)
	}
	names, err := readStrings(src, ds)
	return names, idx, err
}

// finish fixes the joins once every input is scanned.
func (a *varAxis) finish() {
	if a.sameIdx {
		a.nOut = int64(len(a.first))
		return
	}
	a.out = a.j.Finish()
	a.nOut = int64(len(a.out))
}

// colMap is how input src's columns land on this axis; nil when they
// land where they are.
func (a *varAxis) colMap(src *h5ad.Source) (*engine.ColMap, error) {
	if a.sameIdx {
		return nil, nil
	}
	names, err := varNames(src, a.path)
	if err != nil {
		return nil, err
	}
	cm := a.j.Map(names)
	if cm.Identity {
		return nil, nil
	}
	return cm, nil
}

// ---------------------------------------------------------------- equality

// sameElement reports whether element p holds the same content in both
// files: the same members, dataset types, shapes and values, and the same
// anndata attributes.
func sameElement(sa, sb *h5ad.Source, p, skip string) (bool, error) {
	if p == skip {
		return true, nil
	}
	a, b := sa.Root, sb.Root
	if a.IsGroup(p) != b.IsGroup(p) {
		return false, nil
	}
	if !a.IsGroup(p) {
		return sameDataset(sa, sb, p)
	}
	ga, err := a.OpenGroup(p)
	if err != nil {
		return false, err
	}
	defer ga.Close()
	gb, err := b.OpenGroup(p)
	if err != nil {
		return false, err
	}
	defer gb.Close()
	if !sameAttrs(&ga.Object, &gb.Object) {
		return false, nil
	}
	ka, err := ga.Children()
	if err != nil {
		return false, err
	}
	kb, err := gb.Children()
	if err != nil {
		return false, err
	}
	if !slices.Equal(ka, kb) {
		return false, nil
	}
	for _, k := range ka {
		if same, err := sameElement(sa, sb, p+"/"+k.Name, skip); err != nil || !same {
			return false, err
		}
	}
	return true, nil
}

func sameAttrs(a, b *h5.Object) bool {
	for _, name := range []string{"encoding-type", "encoding-version", "_index", "column-order"} {
		va, oka := a.AttrStrings(name)
		vb, okb := b.AttrStrings(name)
		if oka != okb || !slices.Equal(va, vb) {
			return false
		}
	}
	oa, oka := a.AttrBool("ordered")
	ob, okb := b.AttrBool("ordered")
	return oka == okb && oa == ob
}

func sameDataset(sa, sb *h5ad.Source, p string) (bool, error) {
	a, b := sa.Root, sb.Root
	da, err := a.OpenDataset(p)
	if err != nil {
		return false, err
	}
	defer da.Close()
	db, err := b.OpenDataset(p)
	if err != nil {
		return false, err
	}
	defer db.Close()
	if !slices.Equal(da.Dims, db.Dims) || !da.SameType(db) || !sameAttrs(&da.Object, &db.Object) {
		return false, nil
	}
	if da.VlenString && len(da.Dims) == 1 {
		va, err := readStrings(sa, da)
		if err != nil {
			return false, err
		}
		vb, err := readStrings(sb, db)
		if err != nil {
			return false, err
		}
		return slices.Equal(va, vb), nil
	}
	if da.Variable || len(da.Dims) == 0 {
		return false, nil // not compared: treated as different
	}
	n := da.Dims[0] * da.RowBytes()
	ba, bb := make([]byte, n), make([]byte, n)
	if err := da.ReadRows(ba, 0, da.Dims[0]); err != nil {
		return false, err
	}
	if err := db.ReadRows(bb, 0, db.Dims[0]); err != nil {
		return false, err
	}
	return bytes.Equal(ba, bb), nil
}

// ---------------------------------------------------------------- finish

// finish fixes the output's sizes and types once every input is scanned.
func (m *merger) finish() {
	for _, a := range m.axes {
		a.finish()
	}
	m.walk(m.root, func(n *node) {
		if n.dropped != "" {
			m.warn("%s", n.dropped)
		}
		switch n.kind {
		case kIfSameVar:
			if !n.axis.same && m.nonEmpty(n.path) {
				m.warn("%s is dropped: %s differs across inputs, and %s is aligned to it", n.path, n.axis.path, n.path)
			}
		case kVarFrame:
			if !n.axis.same && n.axis.sameIdx {
				m.warn("%s columns differ across inputs; only its index is kept", n.path)
			}
		case kFrame:
			for _, k := range n.kids {
				if k.dropped != "" {
					n.dropCols = append(n.dropCols, k.name)
				}
			}
		case kCat:
			c := n.cat
			if c.differ {
				c.union = c.sets[0]
				c.sets = nil
				l := int64(len(c.union))
				// pandas' codes dtype for that many categories
				w := 8
				switch {
				case l < 127:
					w = 1
				case l < 32767:
					w = 2
				case l < 1<<31-1:
					w = 4
				}
				c.codesW = max(c.codesW, w)
			}
		}
	})
}

func (m *merger) nonEmpty(p string) bool {
	if !m.tpl.Root.IsGroup(p) {
		return true
	}
	g, err := m.tpl.Root.OpenGroup(p)
	if err != nil {
		return true
	}
	defer g.Close()
	kids, err := g.Children()
	return err != nil || len(kids) > 0
}

// walk visits n and its kept descendants, parents first.
func (m *merger) walk(n *node, fn func(*node)) {
	fn(n)
	for _, k := range n.kids {
		if k.dropped == "" {
			m.walk(k, fn)
		} else {
			fn(k)
		}
	}
}

package engine

import (
	"fmt"
	"slices"

	"github.com/annslicer/annslicer/internal/spill"
	"github.com/annslicer/annslicer/tree"
)

// The merge rules: a tree of the output's elements, built from the first
// input (the template), then checked against every input (merge_scan.go),
// which also records what each contributes (rows, sparse entries, var
// names, categories). Nothing is planned for output until every input has
// passed; the output is then one tree.Plan (merge_out.go) whose arrays are
// made by range from the inputs (merge_fill.go). Every input is read
// through package tree, so h5ad and zarr inputs mix freely.

type mkind int

const (
	kGroup     mkind = iota // children merged one by one (raw, nullable arrays, ...)
	kMapping                // layers, obsm, obsp: keys not in every input are dropped
	kFrame                  // dataframe: columns not in every input are dropped
	kCopy                   // the first input's element, copied whole (uns, ...)
	kSameCopy               // copied whole, and must be equal in every input (0.7 __categories)
	kVarFrame               // var, raw/var: copied when identical everywhere, else the index only
	kIfSameVar              // varm, varp, raw/varm: copied when var is identical, else dropped
	kCSR                    // CSR matrix: rows stacked (obsp: block-diagonal)
	kDense                  // fixed-size array: rows stacked
	kStrings                // variable-length strings: rows stacked
	kCat                    // categorical: codes stacked, categories unified
	kCodes07                // anndata 0.7 categorical codes (categories in __categories)
	kLabel                  // the label column naming each cell's input (merge_label.go)
	kAwk                    // awkward array: every buffer's runs stacked (merge_awk.go)
)

type mnode struct {
	name, path string // member name; path from the root ("obs/cell_type")
	mkind      mkind
	kids       []*mnode
	optional   bool     // may be dropped when not in every input
	dropped    string   // why it is left out
	axis       *varAxis // its columns are this var's genes (X, layers, raw/X)
	shapeAxis  *varAxis // group whose shape attribute counts cells and genes (0.7 raw)
	graph      bool     // obsp element: block-diagonal
	enc        string   // encoding of a group in the template

	// the template's
	dt    tree.DType // kDense, kCodes07, kStrings: the array's; kCSR: data's
	shape []int64    // kDense, kCodes07: the array's
	idxDT tree.DType // kCSR: indices'
	ptrDT tree.DType // kCSR: indptr's

	// per input
	nnz    []int64        // kCSR: entries contributed (after the join)
	p0     []int64        // kCSR: indptr[0]
	base   []int64        // kCSR: output entry where each input's entries start
	rowPtr [][]int64      // kCSR: per input whose entries are remapped row by row, kept entries before each row
	strs   *spill.Strings // kStrings: every input's rows, in order

	// output
	cols             int64 // kCSR: columns; kDense: trailing size check
	total            int64 // kCSR: entries
	idxSame, ptrSame bool  // kCSR: every input's indices / indptr have the template's type
	idxW, ptrW       int   // kCSR: widest indices / indptr of the inputs
	cat              *catMerge
	awk              *awkMerge
	dropCols         []string // kFrame: columns left out
	addCols          []string // kFrame (outer join): columns first seen in a later input, in order

	// obs columns not in every input (merge_obs.go)
	col    bool                  // a dataframe column: dropped (inner) or filled (outer) where absent
	absent []bool                // per input, once some input lacks it: filled with missing values
	src    int                   // the input it was planned from (0: the first)
	outDT  tree.DType            // a numeric column whose dtype differs across inputs: their common type
	srcAt  map[string]tree.Attrs // src > 0: attributes of it ("") and its arrays, read when planned
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
	j       *Join
	out     []string // output names when joined
	nOut    int64
}

type mergeInput struct {
	path string
	nobs int64
	row0 int64
}

type merger struct {
	join      string
	inputs    []*mergeInput
	n         int64
	inputPool *inputPool
	tpl       *openInput // the first input, open for the whole merge
	bt        *openInput // the input elements are being planned from (tpl, or one adding obs columns)
	root      *mnode
	axes      []*varAxis
	warns     []string
	keys      InputKeys
	obsIdx    *mnode // obs's index (its names)
	spill     bool   // long string columns go to scratch files (MergeOptions.SpillStrings)
}

func (m *merger) warn(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	if !slices.Contains(m.warns, s) {
		m.warns = append(m.warns, s)
	}
}

func mchild(parent *mnode, name string, k mkind) *mnode {
	p := name
	if parent != nil && parent.path != "" {
		p = parent.path + "/" + name
	}
	n := &mnode{name: name, path: p, mkind: k}
	if parent != nil {
		parent.kids = append(parent.kids, n)
	}
	return n
}

func (m *merger) tplPath() string { return m.tpl.src.Path }

// ---------------------------------------------------------------- build

func (m *merger) build() error {
	m.bt = m.tpl
	t := m.tpl.root
	m.root = &mnode{mkind: kGroup}
	kids, err := t.Children()
	if err != nil {
		return fmt.Errorf("%s: %v", m.tplPath(), err)
	}
	varAx := m.axis("var")
	for _, k := range kids {
		if isNullAt(t, k.Name) {
			continue // anndata's None (raw, written by anndata >= 0.12): absent
		}
		var err error
		switch k.Name {
		case "X":
			err = m.rowElement(m.root, "X", varAx)
		case "obs":
			if !k.IsGroup { // an anndata < 0.7 input is seen as a current one (merge_legacy.go)
				return fmt.Errorf("%s: obs is not a group; not an AnnData dataframe", m.tplPath())
			}
			err = m.frame(m.root, "obs", false)
		case "var":
			mchild(m.root, "var", kVarFrame).axis = varAx
		case "layers", "obsm", "obsp":
			if !k.IsGroup {
				mchild(m.root, k.Name, kCopy)
				continue
			}
			err = m.mapping(k.Name, varAx)
		case "varm", "varp":
			mchild(m.root, k.Name, kIfSameVar).axis = varAx
		case "raw":
			err = m.raw(k.IsGroup)
		default: // uns and anything else: the first input's
			mchild(m.root, k.Name, kCopy)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *merger) axis(p string) *varAxis {
	a := &varAxis{path: p, join: m.join, nIn: make([]int64, len(m.inputs))}
	m.axes = append(m.axes, a)
	return a
}

func (m *merger) mapping(name string, varAx *varAxis) error {
	g := mchild(m.root, name, kMapping)
	kids, err := childrenAt(m.tpl.root, name)
	if err != nil {
		return fmt.Errorf("%s: %v", m.tplPath(), err)
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

func (m *merger) raw(isGroup bool) error {
	if !isGroup {
		mchild(m.root, "raw", kCopy)
		return nil
	}
	g := mchild(m.root, "raw", kGroup)
	g.optional = true
	ax := m.axis("raw/var")
	g.shapeAxis = ax
	attrs, err := attrsAtPath(m.tpl.root, "raw")
	if err != nil {
		return fmt.Errorf("%s: %v", m.tplPath(), err)
	}
	g.enc = tree.Encoding(attrs)
	kids, err := childrenAt(m.tpl.root, "raw")
	if err != nil {
		return fmt.Errorf("%s: %v", m.tplPath(), err)
	}
	for _, k := range kids {
		switch k.Name {
		case "X":
			err = m.rowElement(g, "X", ax)
		case "var":
			mchild(g, "var", kVarFrame).axis = ax
		case "varm":
			mchild(g, "varm", kIfSameVar).axis = ax
		default:
			mchild(g, k.Name, kCopy)
		}
		if err != nil {
			return err
		}
	}
	if !slices.ContainsFunc(g.kids, func(n *mnode) bool { return n.name == "var" }) {
		return fmt.Errorf("%s: raw has no var dataframe; not an AnnData raw element", m.tplPath())
	}
	return nil
}

// rowElement plans an element whose first axis is the cells.
func (m *merger) rowElement(parent *mnode, name string, ax *varAxis) error {
	p := mchild(parent, name, kDense)
	p.axis = ax
	t := m.bt.root
	_, isGroup := statAt(t, p.path)
	if !isGroup {
		a, err := t.Array(p.path)
		if err != nil {
			return fmt.Errorf("%s: %s: %v", m.bt.src.Path, p.path, err)
		}
		defer a.Close()
		attrs, err := a.Attrs()
		if err != nil {
			return fmt.Errorf("%s: %s: %v", m.bt.src.Path, p.path, err)
		}
		p.dt, p.shape = a.DType(), a.Shape()
		_, hasCats := attrs["categories"]
		switch {
		case p.dt.Kind == 'O' && len(p.shape) == 1:
			p.mkind, p.axis = kStrings, nil
		case p.dt.Kind == 'O':
			return fmt.Errorf("%s: %s holds variable-length or reference data that annslicer cannot merge", m.bt.src.Path, p.path)
		case hasCats && parent.mkind == kFrame:
			p.mkind, p.axis = kCodes07, nil
		}
		if len(p.shape) < 2 {
			p.axis = nil
		}
		if p.mkind == kDense && len(p.shape) > 1 {
			p.cols = p.shape[1]
		}
		return nil
	}
	attrs, err := attrsAtPath(t, p.path)
	if err != nil {
		return fmt.Errorf("%s: %v", m.bt.src.Path, err)
	}
	p.enc = tree.Encoding(attrs)
	switch p.enc {
	case "csr_matrix":
		p.mkind = kCSR
		return m.csrTemplate(p, attrs)
	case "csc_matrix":
		return fmt.Errorf("%s: %s is a CSC matrix, which cannot be merged by rows; convert it to CSR first", m.bt.src.Path, p.path)
	case "awkward-array":
		return m.awkTemplate(p, attrs)
	case "categorical":
		p.mkind, p.axis = kCat, nil
		return nil
	case "dataframe":
		parent.kids = parent.kids[:len(parent.kids)-1]
		return m.frame(parent, name, true)
	}
	p.mkind, p.axis = kGroup, nil
	kids, err := childrenAt(t, p.path)
	if err != nil {
		return fmt.Errorf("%s: %v", m.bt.src.Path, err)
	}
	for _, k := range kids {
		if err := m.rowElement(p, k.Name, nil); err != nil {
			return err
		}
	}
	return nil
}

func (m *merger) csrTemplate(p *mnode, attrs tree.Attrs) error {
	shape, ok := tree.AttrInts(attrs, shapeAttrName(attrs))
	if !ok || len(shape) != 2 {
		return fmt.Errorf("%s: %s: sparse matrix without a 2-element shape attribute", m.bt.src.Path, p.path)
	}
	p.cols = shape[1]
	return nil
}

func (m *merger) graphElement(parent *mnode, name string) error {
	p := mchild(parent, name, kDense)
	p.graph = true
	t := m.bt.root
	if _, isGroup := statAt(t, p.path); !isGroup {
		a, err := t.Array(p.path)
		if err != nil {
			return fmt.Errorf("%s: %s: %v", m.bt.src.Path, p.path, err)
		}
		p.dt, p.shape = a.DType(), a.Shape()
		a.Close()
		return nil
	}
	attrs, err := attrsAtPath(t, p.path)
	if err != nil {
		return fmt.Errorf("%s: %v", m.bt.src.Path, err)
	}
	p.enc = tree.Encoding(attrs)
	if p.enc != "csr_matrix" {
		return fmt.Errorf("%s: %s: obsp element of encoding %q; only CSR and dense graphs can be merged", m.bt.src.Path, p.path, p.enc)
	}
	p.mkind = kCSR
	return m.csrTemplate(p, attrs)
}

// frame plans a dataframe: its index, then every column.
func (m *merger) frame(parent *mnode, name string, optional bool) error {
	f := mchild(parent, name, kFrame)
	f.optional = optional
	f.enc = "dataframe"
	attrs, err := attrsAtPath(m.bt.root, f.path)
	if err != nil {
		return fmt.Errorf("%s: %v", m.bt.src.Path, err)
	}
	idx := tree.AttrString(attrs, "_index")
	_, ok := attrs["_index"]
	kids, err := childrenAt(m.bt.root, f.path)
	if err != nil {
		return fmt.Errorf("%s: %v", m.bt.src.Path, err)
	}
	if !ok {
		return fmt.Errorf("%s: %s has no _index attribute; not an AnnData dataframe", m.bt.src.Path, f.path)
	}
	if f.path == "obs" {
		if err := m.checkLabelName(idx); err != nil {
			return err
		}
	}
	for _, k := range kids {
		if k.Name == "__categories" {
			mchild(f, k.Name, kSameCopy)
			continue
		}
		if m.isLabel(f, k.Name) {
			labelNode(f, k.Name)
			continue
		}
		if err := m.rowElement(f, k.Name, nil); err != nil {
			return err
		}
		c := f.kids[len(f.kids)-1]
		c.optional, c.col = k.Name != idx, k.Name != idx
		if f.path == "obs" && k.Name == idx {
			m.obsIdx = c
		}
	}
	return nil
}

// walk visits n and its kept descendants, parents first (dropped ones
// are visited, not their children).
func (m *merger) walk(n *mnode, fn func(*mnode)) {
	fn(n)
	for _, k := range n.kids {
		if k.dropped == "" {
			m.walk(k, fn)
		} else {
			fn(k)
		}
	}
}

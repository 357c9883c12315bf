package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/annslicer/annslicer/tree"
)

// The merged output as a tree.Plan: groups and attributes from the first
// input (shapes and column lists fixed for the merge), its copied
// elements, and every stacked array as a stack of the inputs' parts.

type outBuilder struct {
	m *merger
	z *tree.Plan
	b *zbuilder // copies the first input's elements whole
}

func (m *merger) output() (*tree.Plan, error) {
	z := &tree.Plan{Cells: m.n}
	ob := &outBuilder{m: m, z: z, b: &zbuilder{t: m.tpl.src, z: z}}
	attrs, err := m.tpl.root.Attrs()
	if err == nil {
		z.Groups = append(z.Groups, tree.PlanGroup{Path: "", Attrs: attrs})
		err = ob.kids(m.root)
	}
	// the pool is released last, after the template's arrays
	z.Holds = append(z.Holds, poolCloser{m.inputPool})
	if err != nil {
		z.Close()
		return nil, fmt.Errorf("%s: %w", m.tplPath(), err)
	}
	return z, nil
}

func (ob *outBuilder) kids(n *mnode) error {
	for _, k := range n.kids {
		if k.dropped != "" {
			continue
		}
		if err := ob.mnode(k); err != nil {
			return err
		}
	}
	return nil
}

func (ob *outBuilder) group(p string, attrs tree.Attrs) {
	ob.z.Groups = append(ob.z.Groups, tree.PlanGroup{Path: p, Attrs: attrs})
}

func (ob *outBuilder) array(a *tree.PlanArray) { ob.z.Arrays = append(ob.z.Arrays, a) }

// copy plans the first input's element p as it is: a verbatim element,
// which an encoder of the input's format copies natively (h5ad: H5Ocopy,
// every HDF5 type, attribute and reference kept) and any other expands
// from the tree.
func (ob *outBuilder) copy(p string) error {
	exists, isGroup := statAt(ob.m.tpl.root, p)
	if !exists {
		return fmt.Errorf("%s: no such element", p)
	}
	ob.z.Source, ob.z.Expand = ob.m.tpl.src, expandVerbatim
	ob.z.Verbatim = append(ob.z.Verbatim, tree.PlanVerbatim{Path: p, Node: "/" + p, IsGroup: isGroup})
	return nil
}

// tplAttrs are the attributes of the first input's array p.
func (ob *outBuilder) tplAttrs(p string) (tree.Attrs, error) {
	a, err := ob.m.tpl.root.Array(p)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	return a.Attrs()
}

func (ob *outBuilder) mnode(n *mnode) error {
	m := ob.m
	switch n.mkind {
	case kCopy, kSameCopy:
		return ob.copy(n.path)
	case kIfSameVar, kVarFrame:
		if n.axis.same {
			return ob.copy(n.path)
		}
		if !isGroupAt(m.tpl.root, n.path) {
			return nil
		}
		attrs, err := attrsAtPath(m.tpl.root, n.path)
		if err != nil {
			return err
		}
		if n.mkind == kIfSameVar {
			ob.group(n.path, attrs)
			return nil
		}
		return ob.indexOnly(n, attrs)
	case kGroup, kMapping, kFrame:
		return ob.groupNode(n)
	case kCSR:
		return ob.csr(n)
	case kCat:
		return ob.cat(n)
	case kAwk:
		return ob.awk(n)
	case kLabel:
		return ob.label(n)
	}
	if n.mkind == kDense && (n.absent != nil || n.outDT.Kind != 0) {
		return ob.absentDense(n)
	}
	if n.absent != nil && n.col && n.mkind == kStrings {
		return ob.absentStrings(n)
	}
	attrs, err := ob.attrsOf(n, "")
	if err != nil {
		return err
	}
	if n.mkind == kStrings {
		a := &tree.PlanArray{Path: n.path, Attrs: attrs, DType: n.dt, Shape: []int64{m.n}}
		if strs, inMem := m.strsOf(n).Mem(); inMem {
			a.Strs = strs
		} else {
			a.StrList = n.strs
		}
		ob.array(a)
		n.strs = nil
		return nil
	}
	shape := append([]int64{m.n}, n.shape[1:]...)
	switch {
	case n.graph:
		shape[1] = m.n
	case n.axis != nil:
		shape[1] = n.axis.nOut
	}
	s := ob.denseStack(n, shape)
	ob.array(&tree.PlanArray{Path: n.path, Attrs: attrs, DType: n.dt, Shape: shape, Fill: s.fill, Spans: s.spansFn()})
	return nil
}

// indexOnly plans a joined var: its index alone, as anndata.concat does.
func (ob *outBuilder) indexOnly(n *mnode, attrs tree.Attrs) error {
	idx := tree.AttrString(attrs, "_index")
	ob.group(n.path, tree.WithAttr(attrs, "column-order", []string{}))
	iattrs, err := ob.tplAttrs(n.path + "/" + idx)
	if err != nil {
		return err
	}
	names := n.axis.out
	if n.axis.sameIdx {
		names = n.axis.first
	}
	ob.array(&tree.PlanArray{Path: n.path + "/" + idx, Attrs: iattrs, DType: tree.DType{Kind: 'O', Order: '|'},
		Shape: []int64{int64(len(names))}, Strs: names})
	return nil
}

func (ob *outBuilder) groupNode(n *mnode) error {
	m := ob.m
	attrs, err := ob.attrsOf(n, "")
	if err != nil {
		return err
	}
	if shape, ok := tree.AttrInts(attrs, "shape"); n.shapeAxis != nil && ok && len(shape) == 2 && shape[0] == m.inputs[0].nobs {
		attrs = tree.WithAttr(attrs, "shape", []int64{m.n, n.shapeAxis.nOut})
	}
	if len(n.dropCols) > 0 || len(n.addCols) > 0 {
		cols := slices.Clone(columnOrder(attrs))
		cols = slices.DeleteFunc(cols, func(c string) bool { return slices.Contains(n.dropCols, c) })
		cols = append(cols, n.addCols...)
		if cols == nil {
			cols = []string{}
		}
		attrs = tree.WithAttr(attrs, "column-order", cols)
	}
	ob.group(n.path, attrs)
	return ob.kids(n)
}

// intsOut is the dtype of an integer array the inputs hold as types of
// up to w bytes: the template's when every input has it and it is wide
// enough, else signed little-endian of width w.
func intsOut(same bool, tpl tree.DType, w int) (tree.DType, Ints) {
	dt := outInts(w)
	if same && w == tpl.Size {
		dt = tpl
	}
	ic, _ := intCodecOf(dt)
	return dt, ic
}

func (ob *outBuilder) csr(n *mnode) error {
	m := ob.m
	attrs, err := attrsAtPath(m.tpl.root, n.path)
	if err != nil {
		return err
	}
	cols := m.csrCols(n)
	ob.group(n.path, tree.WithAttr(attrs, shapeAttrName(attrs), []int64{m.n, cols}))
	var at [3]tree.Attrs
	for k, name := range []string{"data", "indices", "indptr"} {
		if at[k], err = ob.tplAttrs(n.path + "/" + name); err != nil {
			return err
		}
	}
	// integer types hold what they must: column numbers, then entry counts
	// (int64 once the total passes 2^31-1); otherwise the inputs' own type
	idxDT, oi := intsOut(n.idxSame, n.idxDT, WidthFor(max(cols-1, 0), n.idxW))
	ptrDT, op := intsOut(n.ptrSame, n.ptrDT, WidthFor(n.total, n.ptrW))
	data, indices, indptr := ob.csrStacks(n, oi, op)
	ob.array(&tree.PlanArray{Path: n.path + "/data", Attrs: at[0], DType: n.dt, Shape: []int64{n.total}, Fill: data.fill, Spans: data.spansFn()})
	ob.array(&tree.PlanArray{Path: n.path + "/indices", Attrs: at[1], DType: idxDT, Shape: []int64{n.total}, Fill: indices.fill, Spans: indices.spansFn()})
	ob.array(&tree.PlanArray{Path: n.path + "/indptr", Attrs: at[2], DType: ptrDT, Shape: []int64{m.n + 1}, Fill: indptr.fill})
	return nil
}

func (ob *outBuilder) cat(n *mnode) error {
	m := ob.m
	c := n.cat
	attrs, err := ob.attrsOf(n, "")
	if err != nil {
		return err
	}
	var was bool
	if raw, ok := attrs["ordered"]; ok {
		json.Unmarshal(raw, &was)
	}
	if was != c.ordered {
		attrs = tree.WithAttr(attrs, "ordered", c.ordered)
	}
	ob.group(n.path, attrs)
	cattrs, err := ob.attrsOf(n, "categories")
	if err != nil {
		return err
	}
	switch {
	case !c.differ && n.src == 0:
		err = ob.copy(n.path + "/categories")
	case c.strs:
		ob.array(&tree.PlanArray{Path: n.path + "/categories", Attrs: cattrs, DType: c.catDT,
			Shape: []int64{int64(len(c.union))}, Strs: c.union})
	default: // numbers, each category's bytes
		raw := []byte(strings.Join(c.union, ""))
		ob.array(&tree.PlanArray{Path: n.path + "/categories", Attrs: cattrs, DType: c.catDT,
			Shape: []int64{int64(len(c.union))}, Fill: func(p []byte, off int64) error {
				if off+int64(len(p)) > int64(len(raw)) {
					return fmt.Errorf("read past the categories' end")
				}
				copy(p, raw[off:])
				return nil
			}})
	}
	if err != nil {
		return err
	}
	cattrs, err = ob.attrsOf(n, "codes")
	if err != nil {
		return err
	}
	dt, oc := intsOut(c.sameType, c.codesDT, c.codesW)
	s := ob.codesStack(n, oc)
	ob.array(&tree.PlanArray{Path: n.path + "/codes", Attrs: cattrs, DType: dt, Shape: []int64{m.n}, Fill: s.fill, Spans: s.spansFn()})
	return nil
}

// csrCols is the number of columns of merged CSR matrix n: the cells for
// an obsp graph, the joined genes for an element on a var axis, else the
// template's.
func (m *merger) csrCols(n *mnode) int64 {
	switch {
	case n.graph:
		return m.n
	case n.axis != nil:
		return n.axis.nOut
	}
	return n.cols
}

package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/annslicer/annslicer/tree"
)

// Checking every input against the plan, and recording what it brings.

// scanInput checks input i against the plan and records what it brings.
func (m *merger) scanInput(i int, e *openInput) error {
	m.inputs[i].nobs = e.src.NObs
	// var first: the genes' count is what X and layers are checked against
	for _, a := range m.axes {
		if a.path != "var" && !isGroupAt(e.root, a.path) {
			continue
		}
		if !isGroupAt(e.root, a.path) {
			return m.errf(e, "%s is not a dataframe; not an AnnData file of a supported version", a.path)
		}
		names, idx, err := varIndex(e.src, e.root, a.path)
		if err != nil {
			return err
		}
		if err := m.scanVar(a, e, i, names, idx); err != nil {
			return err
		}
	}
	return m.scan(m.root, e, i)
}

func (m *merger) errf(e *openInput, format string, a ...any) error {
	return fmt.Errorf("%s: %s", e.src.Path, fmt.Sprintf(format, a...))
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

func elementKind(root tree.Group, p string) string {
	if !isGroupAt(root, p) {
		return kindName("", false)
	}
	attrs, err := attrsAtPath(root, p)
	if err != nil {
		return "unreadable"
	}
	return kindName(tree.Encoding(attrs), true)
}

func (m *merger) mismatch(e *openInput, p string) error {
	return m.errf(e, "%s is %s but %s in %s; inputs must store it the same way to be merged (rewrite one with anndata so both match)",
		p, elementKind(e.root, p), elementKind(m.tpl.root, p), m.tplPath())
}

func (m *merger) scan(n *mnode, e *openInput, i int) error {
	if n.dropped != "" {
		return nil
	}
	// anndata writes None as an element of encoding null (raw, at the root)
	if n.path != "" && (!hasAt(e.root, n.path) || !strings.Contains(n.path, "/") && isNullAt(e.root, n.path)) {
		if n.col && m.join == "outer" {
			m.markAbsent(n, i)
			return nil
		}
		if n.optional {
			n.dropped = fmt.Sprintf("%s is not in every input (not in %s); left out of the merge", n.path, e.src.Path)
			return nil
		}
		return m.errf(e, "has no %s, which %s has; inputs must have the same elements to be merged", n.path, m.tplPath())
	}
	switch n.mkind {
	case kCopy, kIfSameVar, kLabel:
		return nil
	case kSameCopy:
		if i == 0 {
			return nil
		}
		same, err := sameElement(m.tpl.root, e.root, n.path, "")
		if err != nil {
			return fmt.Errorf("%s: %s: %v", e.src.Path, n.path, err)
		}
		if !same {
			return m.errf(e, "the categories in %s differ from those of %s; merging anndata 0.7 categoricals with different categories is not supported: rewrite the files with anndata >= 0.8 (read_h5ad, then write_h5ad)", n.path, m.tplPath())
		}
		return nil
	case kVarFrame:
		return nil // scanned first, by scanInput
	case kGroup, kMapping, kFrame:
		return m.scanGroup(n, e, i)
	case kCSR:
		return m.scanCSR(n, e, i)
	case kCat:
		return m.scanCat(n, e, i)
	case kAwk:
		return m.scanAwk(n, e, i)
	}
	// arrays: kDense, kStrings, kCodes07
	if isGroupAt(e.root, n.path) {
		if n.mkind == kStrings && n.col && isStringCategorical(e, n.path) {
			if err := m.stringsBecomeCat(n, e, i); err != nil {
				return err
			}
			return m.scanCat(n, e, i)
		}
		return m.mismatchNode(e, n)
	}
	a, err := e.root.Array(n.path)
	if err != nil {
		return fmt.Errorf("%s: %s: %v", e.src.Path, n.path, err)
	}
	defer a.Close()
	nobs := e.src.NObs
	sh := a.Shape()
	if len(sh) == 0 || sh[0] != nobs {
		return m.errf(e, "%s has shape %v but the file has %d cells; it is not a per-cell array", n.path, sh, nobs)
	}
	if n.mkind == kStrings {
		if a.DType().Kind != 'O' || len(sh) != 1 {
			return m.errf(e, "%s is not a string array as in %s; inputs must store it the same way to be merged", n.path, m.refPath(n))
		}
		strs, err := a.Strings(nil)
		if err != nil {
			return fmt.Errorf("%s: %s: %v", e.src.Path, n.path, err)
		}
		if int64(len(strs)) != nobs {
			return m.errf(e, "%s holds %d strings but the file has %d cells", n.path, len(strs), nobs)
		}
		if n == m.obsIdx && m.keys.IndexUnique {
			// anndata.concat's index_unique: name + Sep + the input's key
			suffix := m.keys.Sep + m.keys.Keys[i]
			unique := make([]string, len(strs))
			for k, s := range strs {
				unique[k] = s + suffix
			}
			strs = unique
		}
		return m.strsOf(n).Append(strs...)
	}
	if a.DType() != n.dt {
		if err := m.promoteCol(n, e, a.DType()); err != nil {
			return err
		}
	}
	if len(sh) != len(n.shape) {
		return m.errf(e, "%s has shape %v but %v in %s", n.path, sh, n.shape, m.refPath(n))
	}
	for d := 1; d < len(sh); d++ {
		want := n.shape[d]
		switch {
		case d == 1 && n.axis != nil:
			want = n.axis.nIn[i]
		case n.graph:
			want = nobs
		}
		if sh[d] != want {
			return m.errf(e, "%s has shape %v; expected %d in dimension %d", n.path, sh, want, d)
		}
	}
	if n.graph && len(sh) != 2 {
		return m.errf(e, "%s: obsp element of shape %v; expected a cells x cells graph", n.path, sh)
	}
	if err := checkRowBytes(a.Path(), sh, n.dt.Size); err != nil {
		return fmt.Errorf("%s: %v", e.src.Path, err)
	}
	if n.mkind == kCodes07 {
		attrs, err := a.Attrs()
		if err != nil {
			return fmt.Errorf("%s: %s: %v", e.src.Path, n.path, err)
		}
		if _, ok := attrs["categories"]; !ok {
			return m.errf(e, "%s is not a categorical as in %s", n.path, m.refPath(n))
		}
	}
	return nil
}

func (m *merger) scanGroup(n *mnode, e *openInput, i int) error {
	if n.path != "" {
		if !isGroupAt(e.root, n.path) {
			return m.mismatchNode(e, n)
		}
		attrs, err := attrsAtPath(e.root, n.path)
		if err != nil {
			return fmt.Errorf("%s: %v", e.src.Path, err)
		}
		kids, err := childrenAt(e.root, n.path)
		if err != nil {
			return fmt.Errorf("%s: %v", e.src.Path, err)
		}
		if n.mkind != kMapping && tree.Encoding(attrs) != n.enc && n.path != "raw" {
			return m.mismatchNode(e, n)
		}
		if n.mkind == kFrame {
			tattrs, err := attrsAtPath(m.tpl.root, n.path)
			if err != nil {
				return err
			}
			idx, tidx := tree.AttrString(attrs, "_index"), tree.AttrString(tattrs, "_index")
			if idx != tidx {
				return m.errf(e, "%s keeps its index in %q but %s in %q; rewrite one with anndata", n.path, idx, m.tplPath(), tidx)
			}
		}
		if n.mkind == kFrame && m.join == "outer" {
			if err := m.addColumns(n, e, i, attrs); err != nil {
				return err
			}
		}
		if n.mkind == kMapping || n.mkind == kFrame {
			for _, k := range kids {
				if k.Name == "__categories" {
					continue
				}
				if !slices.ContainsFunc(n.kids, func(c *mnode) bool { return c.name == k.Name }) && !m.isLabel(n, k.Name) {
					m.warn("%s/%s is not in every input (not in %s); left out of the merge", n.path, k.Name, m.tplPath())
				}
			}
		}
	} else if i > 0 {
		for _, name := range []string{"X", "layers", "obsm", "obsp", "raw"} {
			if !hasAt(m.tpl.root, name) && hasAt(e.root, name) && !isNullAt(e.root, name) {
				m.warn("%s is not in every input (not in %s); left out of the merge", name, m.tplPath())
			}
		}
	}
	for _, k := range n.kids {
		if err := m.scan(k, e, i); err != nil {
			return err
		}
	}
	return nil
}

// groupOf reads the attributes of group p of input e, which must be a
// group of encoding enc as in the first input.
func (m *merger) groupOf(e *openInput, p, enc string) (tree.Attrs, error) {
	if !isGroupAt(e.root, p) {
		return nil, m.mismatch(e, p)
	}
	attrs, err := attrsAtPath(e.root, p)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", e.src.Path, err)
	}
	if tree.Encoding(attrs) != enc {
		return nil, m.mismatch(e, p)
	}
	return attrs, nil
}

func (m *merger) scanCSR(n *mnode, e *openInput, i int) error {
	attrs, err := m.groupOf(e, n.path, "csr_matrix")
	if err != nil {
		return err
	}
	var arr [3]tree.Array
	for k, name := range []string{"data", "indices", "indptr"} {
		if arr[k], err = e.root.Array(n.path + "/" + name); err != nil {
			return m.errf(e, "%s: sparse matrix without %s", n.path, name)
		}
		defer arr[k].Close()
	}
	data, indices, indptr := arr[0], arr[1], arr[2]
	shape, ok := tree.AttrInts(attrs, shapeAttrName(attrs))
	if !ok || len(shape) != 2 {
		return m.errf(e, "%s: sparse matrix without a 2-element shape attribute", n.path)
	}
	nobs := e.src.NObs
	want := n.cols
	switch {
	case n.axis != nil:
		want = n.axis.nIn[i]
	case n.graph:
		want = nobs
	}
	if shape[0] != nobs || shape[1] != want {
		return m.errf(e, "%s has shape %v; expected (%d, %d)", n.path, shape, nobs, want)
	}
	if i == 0 {
		n.dt, n.idxDT, n.ptrDT = data.DType(), indices.DType(), indptr.DType()
		n.nnz, n.p0, n.base = make([]int64, len(m.inputs)), make([]int64, len(m.inputs)), make([]int64, len(m.inputs))
		n.rowPtr = make([][]int64, len(m.inputs))
		n.idxSame, n.ptrSame = true, true
	}
	if data.DType() != n.dt {
		return m.errf(e, "%s/data has a different dtype than in %s; annslicer never converts dtypes: convert one with anndata first", n.path, m.tplPath())
	}
	if stringKind(data.DType().Kind) || len(data.Shape()) != 1 || len(indices.Shape()) != 1 {
		return m.errf(e, "%s: data and indices must be 1-D numeric arrays; the sparse matrix is corrupt", n.path)
	}
	ps := indptr.Shape()
	if !isInt(indices.DType()) || !isInt(indptr.DType()) || len(ps) != 1 || ps[0] != nobs+1 {
		return m.errf(e, "%s: indices and indptr must be integer arrays, indptr of length %d; the sparse matrix is corrupt", n.path, nobs+1)
	}
	n.idxSame = n.idxSame && indices.DType() == n.idxDT
	n.ptrSame = n.ptrSame && indptr.DType() == n.ptrDT
	n.idxW, n.ptrW = max(n.idxW, indices.DType().Size), max(n.ptrW, indptr.DType().Size)
	ends, err := intsAt(indptr, 0, 1)
	if err == nil {
		var last []int64
		last, err = intsAt(indptr, nobs, 1)
		ends = append(ends, last...)
	}
	if err != nil {
		return fmt.Errorf("%s: %s/indptr: %v", e.src.Path, n.path, err)
	}
	first, end := ends[0], ends[1]
	nnz := end - first
	if nnz < 0 || first < 0 || end > data.Shape()[0] || end > indices.Shape()[0] {
		return m.errf(e, "%s: indptr runs from %d to %d but data holds %d entries; the sparse matrix is corrupt", n.path, first, end, data.Shape()[0])
	}
	n.p0[i], n.nnz[i] = first, nnz
	return nil
}

func strKind(s bool) string {
	if s {
		return "string"
	}
	return "numeric"
}

// scanVar takes an input's var names and compares its var with the first's.
func (m *merger) scanVar(a *varAxis, e *openInput, i int, names []string, idx string) error {
	a.nIn[i] = int64(len(names))
	if i == 0 {
		a.first, a.index, a.same, a.sameIdx = names, idx, true, true
		return nil
	}
	var err error
	if slices.Equal(names, a.first) {
		if a.j != nil {
			err = a.j.Add(names)
		} else {
			a.pending++
		}
		if err != nil {
			return fmt.Errorf("%s: %v", e.src.Path, err)
		}
		if a.same { // the index is equal: compare the rest
			if a.same, err = sameElement(m.tpl.root, e.root, a.path, a.path+"/"+a.index); err != nil {
				return fmt.Errorf("%s: %s: %v", e.src.Path, a.path, err)
			}
		}
		return nil
	}
	a.same, a.sameIdx = false, false
	if a.j == nil {
		if a.j, err = NewJoin(a.join, a.first); err != nil {
			return fmt.Errorf("%s: %s: %v", m.tplPath(), a.path, err)
		}
		for ; a.pending > 0; a.pending-- {
			a.j.Add(a.first)
		}
	}
	if err := a.j.Add(names); err != nil {
		return fmt.Errorf("%s: %s: %v", e.src.Path, a.path, err)
	}
	return nil
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

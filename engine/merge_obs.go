package engine

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/annslicer/annslicer/internal/spill"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/tree"
)

// Dataframe columns (obs) that differ across inputs, as
// anndata.concat(join=...) makes them: with --join inner a column not in
// every input is left out; with --join outer it is kept, after the first
// input's columns in the order inputs bring them, with missing values
// where an input lacks it. What "missing" is depends on the column, as
// anndata.concat gives it and anndata writes it:
//
//	categorical   code -1
//	float         NaN (same dtype)
//	integer       float64, NaN (pandas has no missing integers)
//	bool          nullable-boolean (mask set where missing)
//	strings       categorical of the sorted distinct values, code -1
//	              (anndata writes concat's object column so)
//	nullable-*    mask set, values 0 or ""
//
// Categories are united in order of first appearance (the first input
// holding the column first), codes renumbered per input as they are
// read; a categorical stays ordered only if every input holding it has
// the same ordered categories. Numeric columns whose dtypes differ get
// numpy's common type (merge_promote.go); string columns categorical in
// some inputs become categoricals (merge_catstr.go). Any other column
// stored differently across inputs is refused before anything is written.

// catMerge unites a categorical's categories across the inputs holding it.
type catMerge struct {
	strs     bool       // categories are strings (else numbers, keyed by their bytes)
	catDT    tree.DType // the first holder's categories
	codesDT  tree.DType // the first holder's codes
	codesW   int        // widest codes of the holders, then what the union needs
	sameType bool       // every holder's codes have codesDT
	seen     bool
	ordered  bool             // every holder so far is ordered, with the same categories
	first    int              // how many categories the first holder has (union[:first])
	union    []string         // first-appearance order
	pos      map[string]int32 // category -> its number in union
	differ   bool
	to       [][]int32 // per input whose categories differ from the first holder's: its codes' new numbers
	codes    [][]int32 // per input holding plain strings: their codes (merge_catstr.go)
}

// refPath is the input node n was planned from.
func (m *merger) refPath(n *mnode) string { return m.inputs[n.src].path }

// mismatchNode: input e stores n otherwise than the input n was planned from.
func (m *merger) mismatchNode(e *openInput, n *mnode) error {
	if n.src == 0 {
		return m.mismatch(e, n.path)
	}
	isGroup := n.mkind == kCat || n.mkind == kGroup || n.mkind == kCSR || n.mkind == kFrame || n.mkind == kAwk
	return m.errf(e, "%s is %s but %s in %s; inputs must store it the same way to be merged (rewrite one with anndata so both match)",
		n.path, elementKind(e.root, n.path), kindName(n.enc, isGroup), m.refPath(n))
}

// columnOrder reads a dataframe's column-order attribute (a list, or one
// string in some writers' files).
func columnOrder(attrs tree.Attrs) []string {
	raw, ok := attrs["column-order"]
	if !ok {
		return nil
	}
	var cols []string
	if json.Unmarshal(raw, &cols) == nil {
		return cols
	}
	var one string
	if json.Unmarshal(raw, &one) == nil && one != "" {
		return []string{one}
	}
	return nil
}

// addColumns plans, from input i, the columns of frame f that no earlier
// input has (outer join), in input i's column order; the earlier inputs
// lack them.
func (m *merger) addColumns(f *mnode, e *openInput, i int, attrs tree.Attrs) error {
	for _, name := range columnOrder(attrs) {
		if slices.ContainsFunc(f.kids, func(c *mnode) bool { return c.name == name }) || !hasAt(e.root, f.path+"/"+name) {
			continue
		}
		if m.isLabel(f, name) { // overwritten: its place only
			c := labelNode(f, name)
			for j := 0; j < i; j++ {
				m.markAbsent(c, j)
			}
			f.addCols = append(f.addCols, name)
			continue
		}
		before := len(f.kids)
		m.bt = e
		err := m.rowElement(f, name, nil)
		m.bt = m.tpl
		if err != nil {
			return err
		}
		for _, c := range f.kids[before:] {
			c.optional, c.col = true, true
			if err := m.plannedFrom(c, e, i); err != nil {
				return err
			}
			for j := 0; j < i; j++ {
				m.markAbsent(c, j)
			}
		}
		f.addCols = append(f.addCols, name)
	}
	return nil
}

// plannedFrom records that n (and what it holds) was planned from input
// i: the output takes their attributes from it.
func (m *merger) plannedFrom(n *mnode, e *openInput, i int) error {
	n.src, n.srcAt = i, map[string]tree.Attrs{}
	subs := []string{""}
	if n.mkind == kCat {
		subs = append(subs, "categories", "codes")
	}
	for _, s := range subs {
		p := n.path
		if s != "" {
			p += "/" + s
		}
		attrs, err := elemAttrs(e.root, p, isGroupAt(e.root, p))
		if err != nil {
			return fmt.Errorf("%s: %s: %v", e.src.Path, p, err)
		}
		n.srcAt[s] = attrs
	}
	for _, k := range n.kids {
		if err := m.plannedFrom(k, e, i); err != nil {
			return err
		}
	}
	return nil
}

// strsOf is string column n's list, made on first use.
func (m *merger) strsOf(n *mnode) *spill.Strings {
	if n.strs == nil {
		n.strs = &spill.Strings{Spill: m.spill}
	}
	return n.strs
}

// markAbsent records that input i lacks n (and what it holds).
func (m *merger) markAbsent(n *mnode, i int) {
	if n.absent == nil {
		n.absent = make([]bool, len(m.inputs))
	}
	n.absent[i] = true
	if n.mkind == kStrings { // placeholders: the rows keep their places
		// a failed write to the scratch file is kept by the list and
		// returned by its next use
		m.strsOf(n).AppendEmpty(int(m.inputs[i].nobs))
	}
	for _, k := range n.kids {
		m.markAbsent(k, i)
	}
}

// fillable says why a column some inputs lack cannot be filled ("" if it can).
func fillable(n *mnode) string {
	switch n.mkind {
	case kCat, kStrings, kLabel:
		return ""
	case kDense:
		if len(n.shape) == 1 && strings.ContainsRune("fiub", rune(n.dt.Kind)) {
			return ""
		}
		return fmt.Sprintf("an array of dtype %c%d and shape %v", n.dt.Kind, n.dt.Size, n.shape)
	case kGroup:
		switch n.enc {
		case "nullable-integer", "nullable-boolean", "nullable-string-array":
			return ""
		}
	}
	if n.enc != "" {
		return "of encoding " + n.enc
	}
	return "an anndata 0.7 categorical"
}

// checkAbsent refuses, before anything is written, a column some inputs
// lack that has no missing value to fill them with.
func (m *merger) checkAbsent() error {
	var first error
	m.walk(m.root, func(n *mnode) {
		if first != nil || n.dropped != "" || !n.col || n.absent == nil {
			return
		}
		if why := fillable(n); why != "" {
			var lack []string
			for i, a := range n.absent {
				if a {
					lack = append(lack, m.inputs[i].path)
				}
			}
			more := ""
			if len(lack) > 1 {
				more = fmt.Sprintf(" and %d more", len(lack)-1)
			}
			first = fmt.Errorf("%s: %s is not in every input (not in %s%s) and, %s, has no missing value to fill them with; add it to every input, or merge with --join inner to leave it out",
				m.refPath(n), n.path, lack[0], more, why)
		}
	})
	return first
}

// scanCat reads input i's categories of n and unites them.
func (m *merger) scanCat(n *mnode, e *openInput, i int) error {
	if !isGroupAt(e.root, n.path) {
		if n.col && n.cat != nil && n.cat.strs {
			strs, err := stringsOf(e, n.path)
			if err != nil {
				return err
			}
			if strs != nil {
				m.catFromStrings(n, e, i, strs)
				return nil
			}
		}
		return m.mismatchNode(e, n)
	}
	attrs, err := attrsAtPath(e.root, n.path)
	if err != nil {
		return fmt.Errorf("%s: %v", e.src.Path, err)
	}
	if tree.Encoding(attrs) != "categorical" {
		return m.mismatchNode(e, n)
	}
	var ordered bool
	if raw, ok := attrs["ordered"]; ok {
		json.Unmarshal(raw, &ordered)
	}
	codes, err := e.root.Array(n.path + "/codes")
	if err != nil {
		return m.errf(e, "%s: categorical without codes", n.path)
	}
	defer codes.Close()
	cats, err := e.root.Array(n.path + "/categories")
	if err != nil {
		return m.errf(e, "%s: categorical without categories", n.path)
	}
	defer cats.Close()
	if sh := codes.Shape(); !isInt(codes.DType()) || len(sh) != 1 || sh[0] != e.src.NObs {
		return m.errf(e, "%s/codes has shape %v but the file has %d cells", n.path, sh, e.src.NObs)
	}
	isStr := cats.DType().Kind == 'O'
	c := n.cat
	if c == nil {
		c = &catMerge{strs: isStr, catDT: cats.DType(), codesDT: codes.DType(), sameType: true, to: make([][]int32, len(m.inputs))}
		n.cat = c
	}
	c.sameType = c.sameType && codes.DType() == c.codesDT
	c.codesW = max(c.codesW, codes.DType().Size)
	if c.strs != isStr {
		return m.errf(e, "%s has %s categories but %s has %s ones; convert one first", n.path, strKind(isStr), m.refPath(n), strKind(c.strs))
	}
	if !isStr && cats.DType() != c.catDT {
		return m.errf(e, "%s has categories of another dtype than in %s; annslicer never converts dtypes: convert one with anndata first", n.path, m.refPath(n))
	}
	keys, err := categoryKeys(cats)
	if err != nil {
		return fmt.Errorf("%s: %s: %v", e.src.Path, cats.Path(), err)
	}
	if !c.seen {
		c.seen, c.ordered, c.first, c.union = true, ordered, len(keys), keys
		c.pos = make(map[string]int32, len(keys))
		for k, v := range keys {
			c.pos[v] = int32(k)
		}
		return nil
	}
	if slices.Equal(keys, c.union[:c.first]) {
		c.ordered = c.ordered && ordered
		return nil
	}
	c.differ, c.ordered = true, false
	to := make([]int32, len(keys))
	for k, v := range keys {
		to[k] = c.code(v)
	}
	c.to[i] = to
	return nil
}

// categoryKeys are a categorical's categories: its strings, or each
// number's bytes.
func categoryKeys(cats tree.Array) ([]string, error) {
	if cats.DType().Kind == 'O' {
		return cats.Strings(nil)
	}
	sh := cats.Shape()
	if len(sh) != 1 {
		return nil, fmt.Errorf("shape %v; expected a 1-D array", sh)
	}
	rr := cats.Rows()
	unit := rr.RowBytes()
	raw := make([]byte, sh[0]*unit)
	if err := rr.ReadRows(raw, 0); err != nil {
		return nil, err
	}
	keys := make([]string, sh[0])
	for k := range keys {
		keys[k] = string(raw[int64(k)*unit : int64(k+1)*unit])
	}
	return keys, nil
}

// finishCat fixes the codes' width once every input is scanned.
func (m *merger) finishCat(c *catMerge) {
	if c == nil {
		return
	}
	c.pos = nil
	if c.differ {
		c.codesW = max(c.codesW, pandasCodesWidth(len(c.union)))
	}
}

// pandasCodesWidth is the width of pandas' codes for l categories.
func pandasCodesWidth(l int) int {
	switch {
	case l < 127:
		return 1
	case l < 32767:
		return 2
	case l < 1<<31-1:
		return 4
	}
	return 8
}

// ---------------------------------------------------------------- output

// attrsOf are the attributes of n (sub: of its array sub) in the input it
// was planned from.
func (ob *outBuilder) attrsOf(n *mnode, sub string) (tree.Attrs, error) {
	if n.srcAt != nil {
		a, ok := n.srcAt[sub]
		if !ok {
			return nil, fmt.Errorf("%s: no attributes of %s/%s", ob.m.refPath(n), n.path, sub)
		}
		return a, nil
	}
	p := n.path
	if sub != "" {
		p += "/" + sub
	}
	if isGroupAt(ob.m.tpl.root, p) {
		return attrsAtPath(ob.m.tpl.root, p)
	}
	return ob.tplAttrs(p)
}

// nanOf is numpy's NaN (the quiet NaN with no payload; Go's math.NaN()
// has one) of float dtype dt, in its byte order.
func nanOf(dt tree.DType) []byte {
	b := make([]byte, dt.Size)
	var order binary.ByteOrder = binary.LittleEndian
	if dt.Order == '>' {
		order = binary.BigEndian
	}
	switch dt.Size {
	case 2:
		order.PutUint16(b, 0x7e00)
	case 4:
		order.PutUint32(b, 0x7fc00000)
	default:
		order.PutUint64(b, 0x7ff8000000000000)
	}
	return b
}

// constPart repeats unit (an absent input's missing values).
func constPart(unit []byte) mpart {
	return func(e *openInput, p []byte, off int64) error {
		u := int64(len(unit))
		for k := range p {
			p[k] = unit[(off+int64(k))%u]
		}
		return nil
	}
}

// absentStack stacks a dense column's rows, the inputs lacking it giving
// missing (a repeated unit) and the others present(i).
func (ob *outBuilder) absentStack(n *mnode, esz int64, missing []byte, present func(i int) (mpart, mpartSpans)) *mstack {
	s := &mstack{inputPool: ob.m.inputPool}
	for i, in := range ob.m.inputs {
		if n.absent != nil && n.absent[i] {
			s.add(i, in.nobs*esz, constPart(missing), nil)
			continue
		}
		p, sp := present(i)
		s.add(i, in.nobs*esz, p, sp)
	}
	return s
}

// asIs: an input's rows as they are.
func asIs(path string) func(int) (mpart, mpartSpans) {
	return func(int) (mpart, mpartSpans) { return plainPart(path, 0), plainSpans(path, 0) }
}

// asType: an input's rows as numbers of dtype out (as they are when the
// input has that dtype).
func asType(path string, out tree.DType) func(int) (mpart, mpartSpans) {
	return func(int) (mpart, mpartSpans) {
		conv := numPart(path, out)
		same := func(e *openInput) bool {
			a, err := e.array(path)
			return err == nil && a.DType() == out
		}
		p := func(e *openInput, b []byte, off int64) error {
			if same(e) {
				return e.readAt(path, b, off)
			}
			return conv(e, b, off)
		}
		sp := func(e *openInput, off, k int64) (*os.File, []image.Span, bool) {
			if !same(e) {
				return nil, nil, false
			}
			return plainSpans(path, 0)(e, off, k)
		}
		return p, sp
	}
}

// absentDense plans a dense column some inputs lack or whose dtype
// differs across inputs (missing values and types as anndata.concat
// gives them), or a nullable column's values (zero) or mask (set) where
// the column is missing.
func (ob *outBuilder) absentDense(n *mnode) error {
	m := ob.m
	attrs, err := ob.attrsOf(n, "")
	if err != nil {
		return err
	}
	shape := []int64{m.n}
	esz := int64(n.dt.Size)
	arr := func(p string, a tree.Attrs, dt tree.DType, s *mstack) {
		ob.array(&tree.PlanArray{Path: p, Attrs: a, DType: dt, Shape: shape, Fill: s.fill, Spans: s.spansFn()})
	}
	switch {
	case !n.col && n.name == "mask":
		arr(n.path, attrs, n.dt, ob.absentStack(n, esz, []byte{1}, asIs(n.path)))
	case !n.col:
		arr(n.path, attrs, n.dt, ob.absentStack(n, esz, make([]byte, esz), asIs(n.path)))
	case n.dt.Kind == 'b':
		ob.group(n.path, tree.Attrs{
			"encoding-type":    json.RawMessage(`"nullable-boolean"`),
			"encoding-version": json.RawMessage(`"0.1.0"`),
		})
		arr(n.path+"/values", attrs, n.dt, ob.absentStack(n, esz, []byte{0}, asIs(n.path)))
		mask := &mnode{absent: n.absent}
		arr(n.path+"/mask", attrs, n.dt, ob.absentStack(mask, esz, []byte{1}, func(int) (mpart, mpartSpans) {
			return constPart([]byte{0}), nil
		}))
	default: // numbers: their common type, NaN where missing
		out := colDType(n)
		arr(n.path, attrs, out, ob.absentStack(n, int64(out.Size), nanOf(out), asType(n.path, out)))
	}
	return nil
}

// absentStrings plans a string column some inputs lack as anndata writes
// concat's result: a categorical of its sorted distinct values, code -1
// where missing.
func (ob *outBuilder) absentStrings(n *mnode) error {
	m := ob.m
	attrs, err := ob.attrsOf(n, "")
	if err != nil {
		return err
	}
	pos := map[string]int64{}
	for i, in := range m.inputs {
		if n.absent[i] {
			continue
		}
		err := m.strsOf(n).Each(int(in.row0), int(in.row0+in.nobs), func(v string) error {
			if _, ok := pos[v]; !ok {
				pos[strings.Clone(v)] = 0
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	cats := make([]string, 0, len(pos))
	for v := range pos {
		cats = append(cats, v)
	}
	slices.Sort(cats)
	for k, v := range cats {
		pos[v] = int64(k)
	}
	ob.group(n.path, tree.Attrs{
		"encoding-type":    json.RawMessage(`"categorical"`),
		"encoding-version": json.RawMessage(`"0.2.0"`),
		"ordered":          json.RawMessage(`false`),
	})
	ob.array(&tree.PlanArray{Path: n.path + "/categories", Attrs: attrs, DType: n.dt, Shape: []int64{int64(len(cats))}, Strs: cats})
	dt := outInts(pandasCodesWidth(len(cats)))
	oc, _ := intCodecOf(dt)
	strs, absent, rows := m.strsOf(n), n.absent, m.inputs
	n.strs = nil
	fill := func(p []byte, off int64) error {
		return byUnits(p, off, int64(oc.Size), func(buf []byte, u0 int64) error {
			k := 0 // the input holding row u0
			for k+1 < len(rows) && rows[k+1].row0 <= u0 {
				k++
			}
			j := 0
			return strs.Each(int(u0), int(u0)+len(buf)/oc.Size, func(v string) error {
				r := u0 + int64(j)
				for k+1 < len(rows) && rows[k+1].row0 <= r {
					k++
				}
				code := int64(-1)
				if !absent[k] {
					code = pos[v]
				}
				oc.Put(buf[j*oc.Size:], code)
				j++
				return nil
			})
		})
	}
	ob.array(&tree.PlanArray{Path: n.path + "/codes", Attrs: tree.Attrs{
		"encoding-type":    json.RawMessage(`"array"`),
		"encoding-version": json.RawMessage(`"0.2.0"`),
	}, DType: dt, Shape: []int64{m.n}, Fill: fill})
	return nil
}

// code is v's position in the union of categories, v added last when new.
func (c *catMerge) code(v string) int32 {
	p, ok := c.pos[v]
	if !ok {
		p = int32(len(c.union))
		c.pos[v] = p
		c.union = append(c.union, v)
	}
	return p
}

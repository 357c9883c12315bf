package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"

	"github.com/annslicer/annslicer/tree"
)

// Merging awkward arrays (anndata.concat's ak.concatenate along axis 0)
// when every input holds the element with the same form. Each input uses
// one contiguous run of every node's elements (the whole array at the
// root; through a list's offsets, the content run they span), so every
// buffer of the output is the inputs' runs end to end, as each row-stacked
// array is: only the integers that point into a content change, shifted by
// the content elements the inputs before contributed (as csrStacks shifts
// indptr by the running number of entries). The form model and its
// classes are awkward.go's.

// awkMerge is a merged awkward array: the template's form and its buffers
// in the order the form is walked (the same for every input).
type awkMerge struct {
	form awkForm
	raw  any // the whole form, as JSON values: what inputs are compared by
	bufs []*awkMBuf
}

// awkMBuf is one buffer ("{form_key}-{role}") of a merged awkward array.
type awkMBuf struct {
	name  string
	role  string // data, mask: copied; offsets, index: shifted
	dt    tree.DType
	start []int64 // per input: the first element of its run
	count []int64 // per input: the elements it contributes
	first []int64 // offsets, index: per input, the content run's first element (subtracted)
	clen  []int64 // offsets, index: per input, the content run's length (added to the following inputs)
	total int64
}

// awkTemplate plans awkward array p from the template's attributes.
func (m *merger) awkTemplate(p *mnode, attrs tree.Attrs) error {
	p.mkind, p.axis = kAwk, nil
	p.awk = &awkMerge{}
	f := []byte(tree.AttrString(attrs, "form"))
	err := json.Unmarshal(f, &p.awk.form)
	if err == nil {
		err = json.Unmarshal(f, &p.awk.raw)
	}
	if err != nil {
		return fmt.Errorf("%s: %s: awkward array whose form attribute is not a JSON awkward form (%v)", m.bt.src.Path, p.path, err)
	}
	return nil
}

// scanAwk checks input i's awkward array n against the template's form
// and records the run of every buffer it contributes.
func (m *merger) scanAwk(n *mnode, e *openInput, i int) error {
	attrs, err := m.groupOf(e, n.path, "awkward-array")
	if err != nil {
		return err
	}
	var form any
	if err := json.Unmarshal([]byte(tree.AttrString(attrs, "form")), &form); err != nil {
		return m.errf(e, "%s: awkward array whose form attribute is not a JSON awkward form (%v)", n.path, err)
	}
	// compared whole, not as awkForm: fields the rows do not depend on
	// (a mask's valid_when, a primitive) still change the values.
	// Differing forms would need awkward's type unification (unions,
	// options, widened numbers): not done here
	if !reflect.DeepEqual(form, n.awk.raw) {
		return m.errf(e, "%s is an awkward array of another form than in %s; annslicer merges awkward arrays of one form only (rewrite them with one type)", n.path, m.tplPath())
	}
	var length int64
	if raw, ok := attrs["length"]; !ok || json.Unmarshal(raw, &length) != nil {
		return m.errf(e, "%s: awkward array without an integer length attribute", n.path)
	}
	if length != e.src.NObs {
		return m.errf(e, "%s: awkward array of length %d but the file has %d cells; it is not a per-cell array", n.path, length, e.src.NObs)
	}
	w := &awkWalk{m: m, n: n, e: e, i: i}
	if err := w.node(&n.awk.form, 0, length); err != nil {
		return err
	}
	if w.k != len(n.awk.bufs) {
		return m.errf(e, "%s: awkward array whose buffers differ from those of %s", n.path, m.tplPath())
	}
	return nil
}

type awkWalk struct {
	m *merger
	n *mnode
	e *openInput
	i int
	k int // next buffer, in walk order
}

// buf opens buffer role of node f, whose elements [start, start+count)
// input i contributes, and records the run.
func (w *awkWalk) buf(f *awkForm, role string, start, count int64) (*awkMBuf, tree.Array, error) {
	a := w.n.awk
	name := f.FormKey + "-" + role
	arr, err := w.e.array(w.n.path + "/" + name)
	if err != nil {
		return nil, nil, err
	}
	sh := arr.Shape()
	if len(sh) != 1 || sh[0] < start+count || arr.DType().Kind == 'O' {
		return nil, nil, w.m.errf(w.e, "%s/%s has shape %v and dtype %s but its awkward form needs elements [%d, %d); the file is corrupt", w.n.path, name, sh, arr.DType(), start, start+count)
	}
	if w.i == 0 {
		nin := len(w.m.inputs)
		a.bufs = append(a.bufs, &awkMBuf{name: name, role: role, dt: arr.DType(), start: make([]int64, nin), count: make([]int64, nin),
			first: make([]int64, nin), clen: make([]int64, nin)})
	}
	if w.k >= len(a.bufs) || a.bufs[w.k].name != name {
		return nil, nil, w.m.errf(w.e, "%s: awkward array whose buffers differ from those of %s", w.n.path, w.m.tplPath())
	}
	b := a.bufs[w.k]
	w.k++
	if arr.DType() != b.dt {
		return nil, nil, w.m.errf(w.e, "%s/%s has dtype %s but %s in %s; annslicer never converts dtypes", w.n.path, name, arr.DType(), b.dt, w.m.tplPath())
	}
	b.start[w.i], b.count[w.i] = start, count
	return b, arr, nil
}

// node records the buffers of form node f over its elements [start,
// start+count), then its content's run.
func (w *awkWalk) node(f *awkForm, start, count int64) error {
	where := func() string { return fmt.Sprintf("%s: awkward node %q", w.n.path, f.FormKey) }
	needContent := func() error {
		if f.Content == nil {
			return w.m.errf(w.e, "%s has no content", where())
		}
		return nil
	}
	switch f.Class {
	case "NumpyArray":
		inner := int64(1)
		for _, d := range f.InnerShape {
			inner *= d
		}
		_, _, err := w.buf(f, "data", start*inner, count*inner)
		return err
	case "ListOffsetArray":
		if err := needContent(); err != nil {
			return err
		}
		b, arr, err := w.buf(f, "offsets", start, count+1)
		if err != nil {
			return err
		}
		ends, err := intsAt(arr, start, 1)
		if err == nil {
			var last []int64
			last, err = intsAt(arr, start+count, 1)
			ends = append(ends, last...)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %v", w.e.src.Path, where(), err)
		}
		if ends[0] < 0 || ends[1] < ends[0] {
			return w.m.errf(w.e, "%s: offsets run from %d to %d; the file is corrupt", where(), ends[0], ends[1])
		}
		b.first[w.i], b.clen[w.i] = ends[0], ends[1]-ends[0]
		return w.node(f.Content, ends[0], ends[1]-ends[0])
	case "RegularArray":
		if err := needContent(); err != nil || f.Size < 0 {
			return w.m.errf(w.e, "%s is a regular array without content or size", where())
		}
		return w.node(f.Content, start*f.Size, count*f.Size)
	case "IndexedOptionArray", "IndexedArray":
		if err := needContent(); err != nil {
			return err
		}
		b, arr, err := w.buf(f, "index", start, count)
		if err != nil {
			return err
		}
		// the index points anywhere in the content: the run is the
		// content's elements up to the last one pointed at
		idx, err := intsAt(arr, start, count)
		if err != nil {
			return fmt.Errorf("%s: %s: %v", w.e.src.Path, where(), err)
		}
		maxRef := int64(-1)
		for _, v := range idx {
			if v < 0 && f.Class == "IndexedArray" {
				return w.m.errf(w.e, "%s: negative index; the file is corrupt", where())
			}
			maxRef = max(maxRef, v)
		}
		b.first[w.i], b.clen[w.i] = 0, maxRef+1
		return w.node(f.Content, 0, maxRef+1)
	case "ByteMaskedArray":
		if err := needContent(); err != nil {
			return err
		}
		if _, _, err := w.buf(f, "mask", start, count); err != nil {
			return err
		}
		return w.node(f.Content, start, count)
	case "UnmaskedArray":
		if err := needContent(); err != nil {
			return err
		}
		return w.node(f.Content, start, count)
	case "EmptyArray":
		if count != 0 {
			return w.m.errf(w.e, "%s is empty but holds %d elements; the file is corrupt", where(), count)
		}
		return nil
	case "RecordArray":
		for _, c := range f.Contents {
			if err := w.node(c, start, count); err != nil {
				return err
			}
		}
		return nil
	}
	return w.m.errf(w.e, "%s is of class %s, which annslicer cannot merge yet (lists, regular arrays, records, options and numbers can); drop it from obsm", where(), f.Class)
}

// awk plans merged awkward array n: the template's group with the merged
// length, and every buffer a stack of the inputs' runs.
func (ob *outBuilder) awk(n *mnode) error {
	m := ob.m
	attrs, err := attrsAtPath(m.tpl.root, n.path)
	if err != nil {
		return err
	}
	ob.group(n.path, tree.WithAttr(attrs, "length", m.n))
	for _, b := range n.awk.bufs {
		path := n.path + "/" + b.name
		battrs, err := ob.tplAttrs(path)
		if err != nil {
			return err
		}
		s := &mstack{inputPool: m.inputPool}
		esz := int64(b.dt.Size)
		var base int64 // content elements of the inputs before
		for i := range m.inputs {
			start, count := b.start[i], b.count[i]
			switch b.role {
			case "offsets":
				// a list's n rows have n+1 offsets: every input after the
				// first leaves out its leading one, the previous input's end
				if i > 0 {
					start, count = start+1, count-1
				}
				fallthrough
			case "index":
				ic, ok := intCodecOf(b.dt)
				if !ok {
					return fmt.Errorf("%s is not an integer array", path)
				}
				shift := base - b.first[i]
				f := func(v int64) (int64, error) {
					if v < 0 { // an option's missing entry
						return v, nil
					}
					return v + shift, nil
				}
				s.add(i, count*esz, func(e *openInput, p []byte, off int64) error {
					return e.convert(path, start, ic, f, p, off)
				}, nil)
				base += b.clen[i]
			default:
				s.add(i, count*esz, plainPart(path, start*esz), plainSpans(path, start*esz))
			}
			b.total += count
		}
		if b.role == "offsets" || b.role == "index" {
			if hi := intMax(b.dt); base > hi {
				return fmt.Errorf("%s: the merged content holds %d elements, more than %s can count; rewrite the inputs with 64-bit offsets", path, base, b.dt)
			}
		}
		ob.array(&tree.PlanArray{Path: path, Attrs: battrs, DType: b.dt, Shape: []int64{b.total}, Fill: s.fill, Spans: s.spansFn()})
	}
	return nil
}

// intMax is the largest value integer type dt holds.
func intMax(dt tree.DType) int64 {
	bits := dt.Size * 8
	if dt.Kind == 'i' {
		bits--
	}
	if bits >= 63 {
		return math.MaxInt64
	}
	return 1<<bits - 1
}

package engine

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/annslicer/annslicer/tree"
)

// Awkward arrays (anndata's "awkward-array" encoding: a group whose
// attribute "form" is awkward's JSON form and whose members are the form's
// buffers, "{form_key}-{role}") taken by rows. A selection at one level of
// the form is a list of source runs (start, count) laid end to end in the
// output — the same (starts, ptr) pair a CSR gather uses — and each form
// node turns its selection into its buffers and its content's selection:
// a list's offsets say which content elements a row spans, a regular
// array's size multiplies, a record passes the selection to every field.

// awkForm is the part of an awkward form the rows of an array depend on.
type awkForm struct {
	Class      string         `json:"class"`
	FormKey    string         `json:"form_key"`
	Offsets    string         `json:"offsets"`
	Size       int64          `json:"size"`
	InnerShape []int64        `json:"inner_shape"`
	Content    *awkForm       `json:"content"`
	Contents   []*awkForm     `json:"contents"`
	Parameters map[string]any `json:"parameters"`
}

// awkward adds rows b.rows of the awkward array sg (attrs its attributes)
// at d.
func (b *zbuilder) awkward(sg tree.Group, attrs tree.Attrs, d string) error {
	var form awkForm
	if err := json.Unmarshal([]byte(tree.AttrString(attrs, "form")), &form); err != nil {
		return fmt.Errorf("%s: awkward array whose form attribute is not a JSON awkward form (%v)", sg.Path(), err)
	}
	var length int64
	if raw, ok := attrs["length"]; !ok || json.Unmarshal(raw, &length) != nil {
		return fmt.Errorf("%s: awkward array without an integer length attribute", sg.Path())
	}
	if length != b.t.NObs {
		return fmt.Errorf("%s: awkward array of length %d but the source has %d cells; it is not a per-cell array", sg.Path(), length, b.t.NObs)
	}
	m := int64(len(b.rows))
	ptr := make([]int64, m+1)
	for i := range ptr {
		ptr[i] = int64(i)
	}
	b.addGroup(d, tree.WithAttr(attrs, "length", m))
	a := &awk{b: b, g: sg, d: d}
	return a.node(&form, b.rows, ptr, length)
}

type awk struct {
	b          *zbuilder
	g          tree.Group
	d          string
	contentLen int64 // set by index: the content's length it was checked against
}

// node adds the buffers of form node f for the selection (starts, ptr):
// output elements [ptr[i], ptr[i+1]) are source elements starting at
// starts[i]. n is the number of elements the node holds in the source.
func (a *awk) node(f *awkForm, starts, ptr []int64, n int64) error {
	for i, s := range starts {
		if s < 0 || s+ptr[i+1]-ptr[i] > n {
			return fmt.Errorf("%s: awkward node %q: elements [%d, %d) lie outside its %d elements; the file is corrupt", a.g.Path(), f.FormKey, s, s+ptr[i+1]-ptr[i], n)
		}
	}
	switch f.Class {
	case "NumpyArray":
		inner := int64(1)
		for _, d := range f.InnerShape {
			inner *= d
		}
		if inner != 1 {
			scaled := func(v []int64) []int64 {
				out := make([]int64, len(v))
				for i, x := range v {
					out[i] = x * inner
				}
				return out
			}
			starts, ptr = scaled(starts), scaled(ptr)
		}
		arr, err := a.buffer(f, "data", n*inner)
		if err != nil {
			return err
		}
		total := ptr[len(ptr)-1]
		rr := arr.Rows()
		out := &tree.PlanArray{Path: tree.Join(a.d, arr.name), Attrs: arr.attrs, DType: arr.a.DType(), Shape: []int64{total}}
		rowsOf(out, rr, csrMapper(starts, ptr))
		a.b.addArray(out)
		return nil
	case "ListOffsetArray":
		arr, err := a.buffer(f, "offsets", n+1)
		if err != nil {
			return err
		}
		ic, ok := intCodecOf(arr.a.DType())
		if !ok {
			return fmt.Errorf("%s: offsets of awkward node %q are not integers", a.g.Path(), f.FormKey)
		}
		offs, childStarts, childPtr, err := a.offsets(arr, ic, starts, ptr, n)
		if err != nil {
			return err
		}
		a.b.addArray(&tree.PlanArray{Path: tree.Join(a.d, arr.name), Attrs: arr.attrs, DType: arr.a.DType(),
			Shape: []int64{int64(len(offs))}, Fill: intsFill(offs, ic)})
		if f.Content == nil {
			return fmt.Errorf("%s: awkward node %q has no content", a.g.Path(), f.FormKey)
		}
		return a.node(f.Content, childStarts, childPtr, arr.last)
	case "RegularArray":
		if f.Content == nil || f.Size < 0 {
			return fmt.Errorf("%s: awkward node %q is a regular array without content or size", a.g.Path(), f.FormKey)
		}
		cs := make([]int64, len(starts))
		cp := make([]int64, len(ptr))
		for i := range starts {
			cs[i] = starts[i] * f.Size
		}
		for i := range ptr {
			cp[i] = ptr[i] * f.Size
		}
		return a.node(f.Content, cs, cp, n*f.Size)
	case "IndexedOptionArray", "IndexedArray":
		// the selected entries of the index, renumbered in order; the
		// content keeps just the elements they point at (-1: missing)
		arr, err := a.buffer(f, "index", n)
		if err != nil {
			return err
		}
		ic, ok := intCodecOf(arr.a.DType())
		if !ok || f.Content == nil {
			return fmt.Errorf("%s: awkward node %q: an index of integers over a content is expected", a.g.Path(), f.FormKey)
		}
		idx, cs, err := a.index(arr, ic, starts, ptr, f.Class == "IndexedOptionArray")
		if err != nil {
			return err
		}
		a.b.addArray(&tree.PlanArray{Path: tree.Join(a.d, arr.name), Attrs: arr.attrs, DType: arr.a.DType(),
			Shape: []int64{int64(len(idx))}, Fill: intsFill(idx, ic)})
		cp := make([]int64, len(cs)+1)
		for i := range cs {
			cp[i+1] = int64(i + 1)
		}
		return a.node(f.Content, cs, cp, a.contentLen)
	case "ByteMaskedArray":
		// one mask byte per element, taken like the content's elements
		arr, err := a.buffer(f, "mask", n)
		if err != nil {
			return err
		}
		rr := arr.Rows()
		a.b.addArray(&tree.PlanArray{Path: tree.Join(a.d, arr.name), Attrs: arr.attrs, DType: arr.a.DType(),
			Shape: []int64{ptr[len(ptr)-1]}, Fill: csrElems(rr, starts, ptr)})
		if f.Content == nil {
			return fmt.Errorf("%s: awkward node %q has no content", a.g.Path(), f.FormKey)
		}
		return a.node(f.Content, starts, ptr, n)
	case "UnmaskedArray":
		if f.Content == nil {
			return fmt.Errorf("%s: awkward node %q has no content", a.g.Path(), f.FormKey)
		}
		return a.node(f.Content, starts, ptr, n)
	case "EmptyArray":
		if ptr[len(ptr)-1] != 0 {
			return fmt.Errorf("%s: awkward node %q is empty but rows are taken from it; the file is corrupt", a.g.Path(), f.FormKey)
		}
		return nil
	case "RecordArray":
		for _, c := range f.Contents {
			if err := a.node(c, starts, ptr, n); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s: awkward node %q of class %s cannot be taken by rows yet (lists, regular arrays, records and numbers can); convert it or drop it from obsm", a.g.Path(), f.FormKey, f.Class)
}

type awkBuffer struct {
	a     tree.Array
	name  string
	attrs tree.Attrs
	last  int64 // ListOffsetArray: the content's length, offsets' last value
}

func (x *awkBuffer) Rows() tree.RowReader { return x.a.Rows() }

// buffer opens buffer role of node f, which must hold want elements.
func (a *awk) buffer(f *awkForm, role string, want int64) (*awkBuffer, error) {
	if f.FormKey == "" || strings.Contains(f.FormKey, "/") {
		return nil, fmt.Errorf("%s: awkward node of class %s has no usable form_key %q", a.g.Path(), f.Class, f.FormKey)
	}
	name := f.FormKey + "-" + role
	arr, err := a.g.Array(name)
	if err != nil {
		return nil, fmt.Errorf("%s: awkward buffer %s: %v", a.g.Path(), name, err)
	}
	a.b.keep(arr)
	sh := arr.Shape()
	if len(sh) != 1 || sh[0] < want || arr.DType().Kind == 'O' {
		return nil, fmt.Errorf("%s has shape %v and dtype %s but its awkward form needs %d fixed-size elements; the file is corrupt", arr.Path(), sh, arr.DType(), want)
	}
	attrs, err := arr.Attrs()
	if err != nil {
		return nil, err
	}
	return &awkBuffer{a: arr, name: name, attrs: attrs}, nil
}

// offsets reads a list's offsets at the selection and returns the output
// offsets (from 0) and the content's selection.
func (a *awk) offsets(arr *awkBuffer, ic Ints, starts, ptr []int64, n int64) (offs, cs, cp []int64, err error) {
	rr := arr.Rows()
	sz := rr.RowBytes()
	var buf []byte
	lastRaw := make([]byte, sz)
	if err := rr.ReadRows(lastRaw, n); err != nil { // offsets[n]: the content's length
		return nil, nil, nil, err
	}
	arr.last = ic.Get(lastRaw)
	offs = make([]int64, 1, ptr[len(ptr)-1]+1)
	cp = []int64{0}
	for i, s := range starts {
		c := ptr[i+1] - ptr[i]
		if c == 0 {
			continue
		}
		buf = grow(buf, (c+1)*sz)
		if err := rr.ReadRows(buf, s); err != nil {
			return nil, nil, nil, err
		}
		first := ic.Get(buf)
		prev := first
		base := offs[len(offs)-1]
		for j := int64(1); j <= c; j++ {
			v := ic.Get(buf[j*sz:])
			if v < prev || v > arr.last {
				return nil, nil, nil, fmt.Errorf("%s: offsets decrease or pass the content's %d elements at %d; the file is corrupt", arr.a.Path(), arr.last, s+j)
			}
			offs = append(offs, base+v-first)
			prev = v
		}
		if first < 0 {
			return nil, nil, nil, fmt.Errorf("%s: negative offset at %d; the file is corrupt", arr.a.Path(), s)
		}
		cs = append(cs, first)
		cp = append(cp, cp[len(cp)-1]+prev-first)
	}
	return offs, cs, cp, nil
}

// index reads an index at the selection: the output index (kept entries
// renumbered 0, 1, ... in order; -1 kept when option) and the content
// elements the kept entries point at, in that order.
func (a *awk) index(arr *awkBuffer, ic Ints, starts, ptr []int64, option bool) (idx, cs []int64, err error) {
	rr := arr.Rows()
	sz := rr.RowBytes()
	var buf []byte
	idx = make([]int64, 0, ptr[len(ptr)-1])
	maxRef := int64(-1)
	for i, s := range starts {
		c := ptr[i+1] - ptr[i]
		if c == 0 {
			continue
		}
		buf = grow(buf, c*sz)
		if err := rr.ReadRows(buf, s); err != nil {
			return nil, nil, err
		}
		for j := int64(0); j < c; j++ {
			v := ic.Get(buf[j*sz:])
			switch {
			case v < 0 && option:
				idx = append(idx, -1)
			case v < 0:
				return nil, nil, fmt.Errorf("%s: negative index at %d; the file is corrupt", arr.a.Path(), s+j)
			default:
				idx = append(idx, int64(len(cs)))
				cs = append(cs, v)
				maxRef = max(maxRef, v)
			}
		}
	}
	// the content holds at least the elements pointed at; node checks
	// every run against this length
	a.contentLen = maxRef + 1
	return idx, cs, nil
}

package tree

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/annslicer/annslicer/layout/image"
)

// A Plan is one output (a shard, a merged file) as an element tree not yet
// written: its groups and arrays with their attributes, each array's bytes
// made by range (fixed-size) or held (strings, O(output)). Encoders write
// it; nothing in it knows the format it came from or goes to.
type Plan struct {
	Cells  int64
	Groups []PlanGroup // parents before children
	Arrays []*PlanArray
	Holds  []Node // source nodes the fills read through, closed by Close

	// Verbatim are source elements the output holds whole and unchanged
	// (var, uns, a categorical's categories...). An encoder of the source's
	// own format copies them natively (h5ad: H5Ocopy, which keeps every
	// HDF5 type, attribute and reference, even those the tree cannot
	// express); any other calls ExpandVerbatim first, which turns them into
	// Groups and Arrays read from the tree.
	Verbatim []PlanVerbatim
	Source   *Source // the tree Verbatim's nodes are in
	// Expand appends v's element, read from Source, to the plan as groups
	// and arrays (set by whoever adds Verbatim entries: the rules).
	Expand func(p *Plan, v PlanVerbatim) error
}

// PlanVerbatim is a source element copied whole into the output.
type PlanVerbatim struct {
	Path    string // output path, as PlanGroup's
	Node    string // the element's path in Source ("/uns")
	IsGroup bool
}

// ExpandVerbatim turns every Verbatim entry into groups and arrays (see
// Plan.Verbatim), for encoders that cannot copy a source's elements
// natively. Their groups come after the plan's others: their parents are
// always among those.
func (p *Plan) ExpandVerbatim() error {
	vs := p.Verbatim
	p.Verbatim = nil
	for _, v := range vs {
		if p.Expand == nil {
			return fmt.Errorf("/%s: a verbatim element with no way to read it", v.Path)
		}
		if err := p.Expand(p, v); err != nil {
			return err
		}
	}
	return nil
}

// NewPlan is an empty plan of cells cells from s, its lists made as long
// as those of s's last plan (NotePlan): every shard of a source has the
// same elements, and growing the lists anew for each made a third of the
// garbage of sizing a 100,000-shard mount.
func (s *Source) NewPlan(cells int64) *Plan {
	return &Plan{
		Cells:    cells,
		Source:   s,
		Groups:   make([]PlanGroup, 0, s.planLens[0].Load()),
		Arrays:   make([]*PlanArray, 0, s.planLens[1].Load()),
		Holds:    make([]Node, 0, s.planLens[2].Load()),
		Verbatim: make([]PlanVerbatim, 0, s.planLens[3].Load()),
	}
}

// NotePlan records p's list lengths for s's next plans.
func (s *Source) NotePlan(p *Plan) {
	for i, n := range []int{len(p.Groups), len(p.Arrays), len(p.Holds), len(p.Verbatim)} {
		s.planLens[i].Store(int32(min(n, 1<<16)))
	}
}

// PlanGroup is an output group.
type PlanGroup struct {
	Path  string // relative to the root, "" for the root
	Attrs Attrs
}

// PlanArray is an output array.
type PlanArray struct {
	Path   string
	Attrs  Attrs
	DType  DType
	Shape  []int64
	Fill   image.Fill    // fixed-size: the array's C-order bytes by range
	Spans  image.Spans   // may be nil: where Fill's bytes lie plainly in a file
	Gather *image.Gather // may be nil: Fill's bytes as runs of a source's rows
	Strs   []string      // 'O': every element, C order
	// 'O', instead of Strs: every element, C order, held out of the Go
	// heap (a merge's names, internal/spill). Read it through NumStrs and
	// EachStr, which take either.
	StrList StrList
}

// StrList is a string array's elements, read back in order.
type StrList interface {
	Len() int
	// Each calls f with elements [lo, hi) in order, stopping at f's
	// first error; s is valid during the call only.
	Each(lo, hi int, f func(s string) error) error
}

// NumStrs is the number of a string array's elements (Strs or StrList).
func (a *PlanArray) NumStrs() int {
	if a.StrList != nil {
		return a.StrList.Len()
	}
	return len(a.Strs)
}

// EachStr calls f with a string array's elements [lo, hi) in order
// (Strs or StrList); s is valid during the call only.
func (a *PlanArray) EachStr(lo, hi int, f func(s string) error) error {
	if a.StrList != nil {
		return a.StrList.Each(lo, hi, f)
	}
	if lo < 0 || lo > hi || hi > len(a.Strs) {
		return fmt.Errorf("/%s: elements [%d, %d) of %d", a.Path, lo, hi, len(a.Strs))
	}
	for _, s := range a.Strs[lo:hi] {
		if err := f(s); err != nil {
			return err
		}
	}
	return nil
}

// StrsIn gives a string array's elements [lo, hi) as Go strings: a part
// of Strs itself, or StrList's read back (what holding them costs again).
func (a *PlanArray) StrsIn(lo, hi int) ([]string, error) {
	if a.StrList == nil {
		if lo < 0 || lo > hi || hi > len(a.Strs) {
			return nil, fmt.Errorf("/%s: elements [%d, %d) of %d", a.Path, lo, hi, len(a.Strs))
		}
		return a.Strs[lo:hi], nil
	}
	out := make([]string, 0, max(0, hi-lo))
	err := a.StrList.Each(lo, hi, func(s string) error {
		out = append(out, strings.Clone(s))
		return nil
	})
	return out, err
}

// AllStrs gives every element of a string array as Go strings (StrsIn):
// for the encoders that cannot take them in order, libhdf5's.
func (a *PlanArray) AllStrs() ([]string, error) { return a.StrsIn(0, a.NumStrs()) }

// Close releases the source handles the plan reads through.
func (p *Plan) Close() {
	for _, n := range p.Holds {
		n.Close()
	}
	p.Holds = nil
}

// DropStrings lets go of the string arrays' elements, once an encoder
// has written them (an h5ad skeleton holds them in its heap): the names
// of a 2M-cell merge are 60 MB that its output's check has no use for.
func (p *Plan) DropStrings() {
	for _, a := range p.Arrays {
		a.Strs, a.StrList = nil, nil
	}
}

// RowElems is the number of elements per first-axis index (1 for 0-d).
func (a *PlanArray) RowElems() int64 {
	n := int64(1)
	for _, d := range a.Shape[min(1, len(a.Shape)):] {
		n *= d
	}
	return n
}

// Join is a child's path in the slash-separated paths of a plan.
func Join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// AttrInts reads an integer list attribute.
func AttrInts(a Attrs, name string) ([]int64, bool) {
	raw, ok := a[name]
	if !ok {
		return nil, false
	}
	if v, ok := plainInts(raw); ok {
		return v, true
	}
	var v []int64
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return v, true
}

// plainInts reads a JSON list of integers written plainly ("[2,10]", or
// with a space after each comma, as Python writes them) without the
// decoder: planning reads the shape of every sparse matrix of every shard
// (a mount of 100,000 shards made 36 MB of garbage doing it). Anything
// else (other spacing, exponents, 19 digits and more) is for json.
func plainInts(b []byte) ([]int64, bool) {
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, false
	}
	b = b[1 : len(b)-1]
	out := make([]int64, 0, 2)
	for len(b) > 0 {
		neg := b[0] == '-'
		if neg {
			b = b[1:]
		}
		n := 0
		for n < len(b) && b[n] >= '0' && b[n] <= '9' {
			n++
		}
		if n == 0 || n > 18 || (n > 1 && b[0] == '0') {
			return nil, false
		}
		var v int64
		for _, c := range b[:n] {
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		out = append(out, v)
		b = b[n:]
		if len(b) == 0 {
			break
		}
		if b[0] != ',' || len(b) == 1 {
			return nil, false
		}
		b = b[1:]
		if b[0] == ' ' {
			b = b[1:]
		}
		if len(b) == 0 { // "[0, ]"
			return nil, false
		}
	}
	return out, true
}

// AttrString reads a string attribute ("" when absent or not a string).
func AttrString(a Attrs, name string) string {
	raw, ok := a[name]
	if !ok {
		return ""
	}
	// a plain JSON string is its bytes between the quotes (planning asks
	// for encoding-type and the like of every element of every shard)
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && plainJSON(raw[1:n-1]) {
		return string(raw[1 : n-1])
	}
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// plainJSON reports whether b, inside a JSON string, needs no decoding:
// printable ASCII without escapes.
func plainJSON(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x80 || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

// WithAttr is a copy of a with name set to v.
func WithAttr(a Attrs, name string, v any) Attrs {
	out := make(Attrs, len(a))
	for k, x := range a {
		out[k] = x
	}
	raw, _ := json.Marshal(v)
	out[name] = raw
	return out
}

// Encoding is an element's encoding-type, inferred for old files.
func Encoding(a Attrs) string {
	if et := AttrString(a, "encoding-type"); et != "" {
		return et
	}
	if f := AttrString(a, "h5sparse_format"); f != "" {
		return f + "_matrix"
	}
	return ""
}

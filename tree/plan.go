package tree

import (
	"encoding/json"

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
	Copies []PlanCopy // elements only the source's own format can hold
	Holds  []Node     // source nodes the fills read through, closed by Close
}

// PlanCopy is a source element the tree cannot carry (an HDF5 compound
// dataset in uns): an encoder of the source's format copies it as it is
// through From.Native (HDF5 H5Ocopy keeps every type); any other encoder
// fails with Err, why the tree could not carry it.
type PlanCopy struct {
	Path     string // in the output
	From     *Source
	FromPath string
	Err      error
}

// PlanGroup is an output group.
type PlanGroup struct {
	Path  string // relative to the root, "" for the root
	Attrs Attrs
}

// PlanArray is an output array.
type PlanArray struct {
	Path  string
	Attrs Attrs
	DType DType
	Shape []int64
	Fill  image.Fill  // fixed-size: the array's C-order bytes by range
	Spans image.Spans // may be nil: where Fill's bytes lie plainly in a file
	Strs  []string    // 'O': every element, C order
}

// Close releases the source handles the plan reads through.
func (p *Plan) Close() {
	for _, n := range p.Holds {
		n.Close()
	}
	p.Holds = nil
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
	var v []int64
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return v, true
}

// AttrString reads a string attribute ("" when absent or not a string).
func AttrString(a Attrs, name string) string {
	var s string
	if raw, ok := a[name]; ok {
		json.Unmarshal(raw, &s)
	}
	return s
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

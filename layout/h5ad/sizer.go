package h5ad

// A shard's size from the plan, without describing it to h5w.

import (
	"hash/maphash"
	"slices"
	"sync"

	"github.com/annslicer/annslicer/layout/h5w"
	"github.com/annslicer/annslicer/tree"
)

// sizers keeps, by a plan's structure (sizeKey), the h5w.Sizer of a plan
// described in full: every other plan of that structure (the shards of a
// mount) is sized from its arrays' contents alone. A Sizer is used once
// it gave the size the full description gave for a second plan; a
// mismatch (a structure the key missed) stops its use.
type sizerCache struct {
	mu sync.Mutex
	m  map[uint64]*sizerEntry
}

type sizerEntry struct {
	s      *h5w.Sizer
	arrays []int // object i's plan array, -1 for a group
	agreed int   // plans whose full size it gave
	bad    bool
}

// sizersOf is the cache of plans of native (their template is its), or
// of plans with no template (nil).
func sizersOf(native *Source) *sizerCache {
	if native != nil {
		return &native.sizers
	}
	return &plainSizers
}

var plainSizers sizerCache

// trustAfter is how many plans a Sizer must have sized right, its own
// among them, before it is used instead of describing the plan.
const trustAfter = 2

var seed = maphash.MakeSeed()

// sizeKey hashes what decides a plan's headers: its groups, arrays and
// verbatim elements, their paths, types and ranks, and their attributes
// with every number's digits zeroed (a shard's shape attribute differs
// from another's only there: same type, same bytes). ok is false for
// plans whose contents change a header's size (text in records, numpy
// unicode scalars).
func sizeKey(z *tree.Plan, native *Source) (key uint64, ok bool) {
	var h maphash.Hash
	h.SetSeed(seed)
	w := func(s string) { h.WriteString(s); h.WriteByte(0) }
	if native != nil && len(z.Verbatim) > 0 {
		for _, v := range z.Verbatim {
			w(v.Path)
			w(v.Node)
			if v.IsGroup {
				h.WriteByte(1)
			}
		}
	}
	h.WriteByte(2)
	var names []string
	attrs := func(a tree.Attrs) {
		names = names[:0]
		for k := range a {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			w(k)
			writeShapeOfJSON(&h, a[k])
		}
		h.WriteByte(3)
	}
	for _, g := range z.Groups {
		w(g.Path)
		attrs(g.Attrs)
	}
	for _, a := range z.Arrays {
		dt := a.DType
		if dt.Rec != nil || (dt.Kind == 'U' && len(a.Shape) == 0) || a.StrList != nil {
			// (a list of strings is a merge's, sized once: Sizer reads
			// Strs only)
			return 0, false
		}
		w(a.Path)
		h.Write([]byte{dt.Kind, dt.Order, byte(dt.Size), byte(dt.Size >> 8), byte(len(a.Shape))})
		for _, d := range a.Shape[min(1, len(a.Shape)):] {
			// the row's shape sets nothing in a header, but keep plans
			// of other row sizes apart anyway
			h.Write([]byte{byte(d), byte(d >> 8), byte(d >> 16), byte(d >> 24)})
		}
		attrs(a.Attrs)
	}
	return h.Sum64(), true
}

// writeShapeOfJSON writes raw JSON with each number's digits as '0' (a
// run of more than 18 digits kept whole: it may not fit an int64, which
// changes its type); strings are kept whole.
func writeShapeOfJSON(h *maphash.Hash, raw []byte) {
	inStr, esc := false, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inStr:
			h.WriteByte(c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
			h.WriteByte(c)
		case c >= '0' && c <= '9':
			j := i
			for j < len(raw) && raw[j] >= '0' && raw[j] <= '9' {
				j++
			}
			if j-i > 18 {
				h.Write(raw[i:j])
			} else {
				for range j - i {
					h.WriteByte('0')
				}
			}
			i = j - 1
		default:
			h.WriteByte(c)
		}
	}
	h.WriteByte(0)
}

// size is plan z's size by e's Sizer: its arrays' contents as goArray
// gives them to h5w.
func (e *sizerEntry) size(z *tree.Plan) int64 {
	return e.s.Size(func(i int) h5w.Contents {
		k := e.arrays[i]
		if k < 0 {
			return h5w.Contents{}
		}
		a := z.Arrays[k]
		switch {
		case a.DType.Kind == 'O':
			return h5w.Contents{Strs: a.Strs, Size: h5w.VlenSize * len(a.Strs)}
		case len(a.Shape) == 0:
			return h5w.Contents{Size: a.DType.Size}
		}
		return h5w.Contents{Extent: a.RowElems() * a.Shape[0] * int64(a.DType.Size)}
	})
}

// lookup is the trusted Sizer for key, if any.
func (c *sizerCache) lookup(key uint64) *sizerEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil && !e.bad && e.agreed >= trustAfter {
		return e
	}
	return nil
}

// learn records that plan z, described as d, is n bytes: a Sizer is made
// for its structure, or checked against it.
func (c *sizerCache) learn(key uint64, z *tree.Plan, d *goFile, n int64) {
	c.mu.Lock()
	e := c.m[key]
	c.mu.Unlock()
	if e == nil {
		s, err := d.f.Sizer()
		if err != nil {
			return
		}
		e = &sizerEntry{s: s, arrays: objectArrays(z, s)}
		if e.arrays == nil {
			e.bad = true
		}
		c.mu.Lock()
		if c.m == nil {
			c.m = map[uint64]*sizerEntry{}
		}
		if old := c.m[key]; old != nil {
			e = old
		} else {
			if len(c.m) >= 256 { // a bound: start over
				clear(c.m)
			}
			c.m[key] = e
		}
		c.mu.Unlock()
	}
	if e.bad {
		return
	}
	got := e.size(z)
	c.mu.Lock()
	if got == n {
		e.agreed++
	} else {
		e.bad = true
	}
	c.mu.Unlock()
}

// objectArrays maps the Sizer's objects to z's arrays as describeGo made
// them: the root, the groups but the root, then a dataset per array; nil
// if the objects are not those.
func objectArrays(z *tree.Plan, s *h5w.Sizer) []int {
	var out []int
	out = append(out, -1)
	for _, g := range z.Groups {
		if g.Path != "" {
			out = append(out, -1)
		}
	}
	for k := range z.Arrays {
		out = append(out, k)
	}
	if len(out) != s.Objects() {
		return nil
	}
	for i, k := range out {
		if s.Group(i) != (k < 0) {
			return nil
		}
	}
	return out
}

package engine

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Var joins for merge: which genes the merged file keeps, and for each
// input where its columns go. Merged arrays are then produced window by
// window: sparse column indices remapped (entries of dropped genes left
// out, rows re-sorted when the order changes), dense rows scattered.

// Join is the var axis of a merge whose inputs do not all have the same
// var names. Outer keeps the union: the first input's order, then new
// names in order of first appearance. Inner keeps the names every input
// has, in the first input's order. Memory is O(union), whatever the number
// of inputs.
type Join struct {
	Outer  bool
	names  []string         // outer: the union so far; inner: the first input's
	pos    map[string]int64 // name -> index in names
	count  []int32          // inner: how many inputs hold names[i]
	inputs int
	out    []string         // the result, once Finish has run
	outPos map[string]int64 // name -> output column
}

// NewJoin starts a join with the first input's var names.
func NewJoin(how string, first []string) (*Join, error) {
	if how != "outer" && how != "inner" {
		return nil, fmt.Errorf("unknown join %q (use outer or inner)", how)
	}
	j := &Join{Outer: how == "outer", pos: make(map[string]int64, len(first))}
	if d, ok := duplicate(first); ok {
		return nil, dupError(d)
	}
	j.names = append(j.names, first...)
	for i, n := range first {
		j.pos[n] = int64(i)
	}
	if !j.Outer {
		j.count = make([]int32, len(first))
		for i := range j.count {
			j.count[i] = 1
		}
	}
	j.inputs = 1
	return j, nil
}

func dupError(name string) error {
	return fmt.Errorf("var name %q appears more than once, so joining genes by name is ambiguous; make var names unique first (in Python: adata.var_names_make_unique())", name)
}

func duplicate(names []string) (string, bool) {
	seen := make(map[string]struct{}, len(names))
	for _, n := range names {
		if _, ok := seen[n]; ok {
			return n, true
		}
		seen[n] = struct{}{}
	}
	return "", false
}

// Add takes one more input's var names into the join.
func (j *Join) Add(names []string) error {
	if d, ok := duplicate(names); ok {
		return dupError(d)
	}
	j.inputs++
	for _, n := range names {
		p, ok := j.pos[n]
		switch {
		case j.Outer && !ok:
			j.pos[n] = int64(len(j.names))
			j.names = append(j.names, n)
		case !j.Outer && ok:
			j.count[p]++
		}
	}
	return nil
}

// Finish fixes the output names; call it after the last Add.
func (j *Join) Finish() []string {
	if j.out != nil {
		return j.out
	}
	if j.Outer {
		j.out, j.outPos = j.names, j.pos
	} else {
		j.out = []string{}
		j.outPos = map[string]int64{}
		for i, n := range j.names {
			if int(j.count[i]) == j.inputs {
				j.outPos[n] = int64(len(j.out))
				j.out = append(j.out, n)
			}
		}
	}
	j.names, j.pos, j.count = nil, nil, nil
	return j.out
}

// Map is where an input with these var names puts its columns.
func (j *Join) Map(names []string) *ColMap {
	out := j.Finish()
	to := make([]int32, len(names))
	for i, n := range names {
		if p, ok := j.outPos[n]; ok {
			to[i] = int32(p)
		} else {
			to[i] = -1
		}
	}
	return NewColMap(to, int64(len(out)))
}

// ColMap sends input column c to output column To[c], or drops it (-1).
type ColMap struct {
	To       []int32
	NOut     int64
	Identity bool // To[c] == c for every c, and as many columns out as in
	Drops    bool // some columns are dropped
	Monotone bool // kept columns keep their order, so sorted rows stay sorted
}

func NewColMap(to []int32, nOut int64) *ColMap {
	m := &ColMap{To: to, NOut: nOut, Identity: int64(len(to)) == nOut, Monotone: true}
	last := int32(-1)
	for c, t := range to {
		if t != int32(c) {
			m.Identity = false
		}
		if t < 0 {
			m.Drops = true
			continue
		}
		if t < last {
			m.Monotone = false
		}
		last = t
	}
	return m
}

// Ints reads and writes integers of one dtype: width, byte order, sign.
type Ints struct {
	Size     int
	BE       bool
	Unsigned bool
}

func (c Ints) order() binary.ByteOrder {
	if c.BE {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

func (c Ints) Get(b []byte) int64 {
	switch c.Size {
	case 8:
		return int64(c.order().Uint64(b))
	case 4:
		if c.Unsigned {
			return int64(c.order().Uint32(b))
		}
		return int64(int32(c.order().Uint32(b)))
	case 2:
		if c.Unsigned {
			return int64(c.order().Uint16(b))
		}
		return int64(int16(c.order().Uint16(b)))
	default:
		if c.Unsigned {
			return int64(b[0])
		}
		return int64(int8(b[0]))
	}
}

func (c Ints) Put(b []byte, v int64) {
	switch c.Size {
	case 8:
		c.order().PutUint64(b, uint64(v))
	case 4:
		c.order().PutUint32(b, uint32(v))
	case 2:
		c.order().PutUint16(b, uint16(v))
	default:
		b[0] = byte(v)
	}
}

// Holds reports whether v fits the type.
func (c Ints) Holds(v int64) bool {
	if c.Size >= 8 {
		return v >= 0 || !c.Unsigned
	}
	bits := uint(c.Size * 8)
	if c.Unsigned {
		return v >= 0 && v < int64(1)<<bits
	}
	return v >= -(int64(1)<<(bits-1)) && v < int64(1)<<(bits-1)
}

// WidthFor is the smallest signed integer width (at least min bytes)
// holding every value in [0, v].
func WidthFor(v int64, min int) int {
	for _, w := range []int{1, 2, 4} {
		if w >= min && v < int64(1)<<(uint(w*8)-1) {
			return w
		}
	}
	return 8
}

// ConvertInts re-encodes n integers from in (type ic) into out (type oc),
// passing each through f when f is not nil.
func ConvertInts(in []byte, ic Ints, out []byte, oc Ints, n int, f func(int64) int64) {
	for i := 0; i < n; i++ {
		v := ic.Get(in[i*ic.Size:])
		if f != nil {
			v = f(v)
		}
		oc.Put(out[i*oc.Size:], v)
	}
}

// CountKept counts the entries whose column is kept.
func (m *ColMap) CountKept(idx []byte, ic Ints, n int) (int64, error) {
	var k int64
	for i := 0; i < n; i++ {
		c := ic.Get(idx[i*ic.Size:])
		if c < 0 || c >= int64(len(m.To)) {
			return 0, fmt.Errorf("column index %d out of range [0, %d)", c, len(m.To))
		}
		if m.To[c] >= 0 {
			k++
		}
	}
	return k, nil
}

// CSRWindow remaps a window of CSR rows: row r holds input entries
// [ptr[r]-ptr[0], ptr[r+1]-ptr[0]) of idx/data. Kept entries go to
// outIdx/outData (sorted by output column within each row when the map
// reorders columns); counts[r] receives each row's kept count. Returns the
// number of entries written.
func (m *ColMap) CSRWindow(ptr []int64, idx []byte, ic Ints, data []byte, esz int,
	outIdx []byte, oc Ints, outData []byte, counts []int64) (int64, error) {
	base := ptr[0]
	var w int64
	var row []int64 // pairs of (output column, input entry) for sorting
	for r := 0; r+1 < len(ptr); r++ {
		start := w
		a, b := ptr[r]-base, ptr[r+1]-base
		if m.Monotone {
			for e := a; e < b; e++ {
				c := ic.Get(idx[e*int64(ic.Size):])
				if c < 0 || c >= int64(len(m.To)) {
					return 0, fmt.Errorf("column index %d out of range [0, %d)", c, len(m.To))
				}
				t := m.To[c]
				if t < 0 {
					continue
				}
				oc.Put(outIdx[w*int64(oc.Size):], int64(t))
				copy(outData[w*int64(esz):(w+1)*int64(esz)], data[e*int64(esz):])
				w++
			}
		} else {
			row = row[:0]
			for e := a; e < b; e++ {
				c := ic.Get(idx[e*int64(ic.Size):])
				if c < 0 || c >= int64(len(m.To)) {
					return 0, fmt.Errorf("column index %d out of range [0, %d)", c, len(m.To))
				}
				if t := m.To[c]; t >= 0 {
					row = append(row, int64(t)<<32|e)
				}
			}
			// a window holds fewer than 2^32 entries: (column, entry)
			// packed in one int64 sorts by column, ties in entry order
			slices.Sort(row)
			for _, p := range row {
				t, e := p>>32, p&(1<<32-1)
				oc.Put(outIdx[w*int64(oc.Size):], t)
				copy(outData[w*int64(esz):(w+1)*int64(esz)], data[e*int64(esz):])
				w++
			}
		}
		counts[r] = w - start
	}
	return w, nil
}

// DenseRows scatters n rows of in (len(m.To) elements of esz bytes each)
// into out (m.NOut elements per row); columns no input value lands on
// are zero.
func (m *ColMap) DenseRows(in []byte, n int, esz int, out []byte) {
	inRow, outRow := len(m.To)*esz, int(m.NOut)*esz
	clear(out[:n*outRow])
	for r := 0; r < n; r++ {
		src, dst := in[r*inRow:], out[r*outRow:]
		for c, t := range m.To {
			if t >= 0 {
				copy(dst[int(t)*esz:int(t+1)*esz], src[c*esz:(c+1)*esz])
			}
		}
	}
}

// Package selection computes the outputs of a run as row selections from
// a source's obs: fixed-size shards (an engine.Plan), one output per
// category of a categorical column (--obs-column, --always-include), or
// the cells a column marks true (filter). Every kind is an engine.Outputs,
// so slice, materialize and mount write any of them the same way.
package selection

import (
	"fmt"
	"math"

	"github.com/annslicer/annslicer/engine"
)

// Kinds of a Set.
const (
	Shards     = "shards"     // fixed-size shards: Plan
	ByCategory = "obs_column" // one output per category of Column
	Filtered   = "filter"     // the cells where Column is true
)

// Set is the outputs of a run. Selections hold their rows once (one flat
// table for all categories, the always-included rows once, shared), in
// ascending source order; a Plan holds none.
type Set struct {
	Kind   string
	NObs   int64
	Column string   // the obs column (not for Shards)
	Always []string // --always-include categories (ByCategory)
	// Empty lists the categories without cells (ByCategory): they have no
	// output, and the user is told.
	Empty  []string
	plan   *engine.Plan
	outs   []output
	shared rowList
	// a share of the outputs (Part, split.go): the global indices of
	// this set's outputs; nil for the whole set
	pick  []int
	split Split
}

type output struct {
	name     string // file name stem: "shard_3", a sanitised category, "filtered"
	category string // ByCategory: the category as Python prints it
	own      rowList
}

var _ engine.Outputs = (*Set)(nil)

// FromPlan is the fixed-size shards of p: shard_0, shard_1, ...
func FromPlan(p *engine.Plan) *Set { return &Set{Kind: Shards, NObs: p.N, plan: p} }

// Plan is the plan of a Shards set, else nil.
func (s *Set) Plan() *engine.Plan { return s.plan }

func (s *Set) Shards() int {
	if s.pick != nil {
		return len(s.pick)
	}
	if s.plan != nil {
		return s.plan.Shards()
	}
	return len(s.outs)
}

func (s *Set) Count(k int) int64 {
	if s.pick != nil {
		if k < 0 || k >= len(s.pick) {
			return 0
		}
		k = s.pick[k]
	}
	if s.plan != nil {
		return s.plan.Count(k)
	}
	if k < 0 || k >= len(s.outs) {
		return 0
	}
	return int64(s.outs[k].own.Len() + s.shared.Len())
}

// Rows are output k's source rows: for a selection its own rows and the
// shared (always-included) ones merged in source order, as the Python
// tool writes them.
func (s *Set) Rows(k int) []int64 {
	k = s.Index(k)
	if s.plan != nil {
		return s.plan.Rows(k)
	}
	a, b := s.outs[k].own, s.shared
	rows := make([]int64, 0, a.Len()+b.Len())
	i, j := 0, 0
	for i < a.Len() && j < b.Len() {
		if x, y := a.At(i), b.At(j); x < y {
			rows = append(rows, x)
			i++
		} else {
			rows = append(rows, y)
			j++
		}
	}
	for ; i < a.Len(); i++ {
		rows = append(rows, a.At(i))
	}
	for ; j < b.Len(); j++ {
		rows = append(rows, b.At(j))
	}
	return rows
}

// Name is output k's file name stem (without the format's extension).
func (s *Set) Name(k int) string {
	k = s.Index(k)
	if s.plan != nil {
		return fmt.Sprintf("shard_%d", k)
	}
	return s.outs[k].name
}

// Category is output k's category (ByCategory), as Python prints it.
func (s *Set) Category(k int) string {
	k = s.Index(k)
	if s.plan != nil || k < 0 || k >= len(s.outs) {
		return ""
	}
	return s.outs[k].category
}

// MaxCount is the most rows of any output.
func (s *Set) MaxCount() int64 {
	if s.plan != nil && s.pick == nil {
		return s.plan.Count(0)
	}
	var m int64
	for k := range s.Shards() {
		m = max(m, s.Count(k))
	}
	return m
}

// rowList is an ascending list of rows: 4 bytes a row when every row
// fits, 8 otherwise.
type rowList struct {
	u32 []uint32
	i64 []int64
}

func (l rowList) Len() int { return len(l.u32) + len(l.i64) }

func (l rowList) At(i int) int64 {
	if l.i64 != nil {
		return l.i64[i]
	}
	return int64(l.u32[i])
}

// rowTable is the rows of several lists in one allocation.
type rowTable struct {
	u32 []uint32
	i64 []int64
}

func newRowTable(nobs int64, n int) rowTable {
	if nobs <= math.MaxUint32 {
		return rowTable{u32: make([]uint32, n)}
	}
	return rowTable{i64: make([]int64, n)}
}

func (t rowTable) set(i int, row int64) {
	if t.i64 != nil {
		t.i64[i] = row
	} else {
		t.u32[i] = uint32(row)
	}
}

func (t rowTable) slice(lo, hi int) rowList {
	if t.i64 != nil {
		return rowList{i64: t.i64[lo:hi:hi]}
	}
	return rowList{u32: t.u32[lo:hi:hi]}
}

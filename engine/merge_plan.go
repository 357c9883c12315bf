package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/annslicer/annslicer/tree"
)

// MergeOptions of a merge plan.
type MergeOptions struct {
	Join string    // "outer" or "inner": how differing var names combine
	Keys InputKeys // anndata.concat's keys, label and index_unique
	Open Opener
	Ctx  context.Context // cancelled: stop between inputs
	// Scanned, when not nil, hears of each input once it is checked.
	Scanned func(i int, path string, cells int64, took time.Duration)
	// OpenAtOnce bounds the inputs kept open (0: poolSize). A merge's
	// encoder asks for the inputs in order, array by array, and keeps
	// few; a collection's shuffled shards read every input for each
	// window, so with fewer open than they have every read reopens one.
	OpenAtOnce int
	// SpillStrings keeps long string columns (obs names, string columns
	// of obs) in scratch files instead of the Go heap: for a plan that is
	// only encoded, which reads them in order. A collection's plan is read
	// by rows (its shuffled shards' names) and keeps them in memory.
	SpillStrings bool
}

// Merged is the plan of a merge: the output as one tree.Plan, whose
// arrays read the inputs by range, and what the merge left out.
type Merged struct {
	Plan     *tree.Plan
	Warnings []string
	m        *merger
}

// Parts are the inputs, in order, with the rows their cells take.
func (g *Merged) Parts() []tree.Part {
	var out []tree.Part
	for _, in := range g.m.inputs {
		out = append(out, tree.Part{Path: in.path, Row0: in.row0, NObs: in.nobs})
	}
	return out
}

// Close releases the inputs the plan reads.
func (g *Merged) Close() { g.Plan.Close() }

// PlanMerge checks every input (in order) against the first and plans
// their merge: cells stacked in input order, var joined (outer or inner),
// obs columns and mapping keys not in every input left out, categories
// unified, sparse matrices stacked (obsp block-diagonal). Nothing is read
// for the output's arrays yet: their fills read the inputs, opened on
// demand, when an encoder asks.
func PlanMerge(inputs []string, o MergeOptions) (*Merged, error) {
	if o.Ctx == nil {
		o.Ctx = context.Background()
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("no inputs to merge")
	}
	if err := o.Keys.check(len(inputs)); err != nil {
		return nil, err
	}
	// anndata < 0.7 inputs are merged as current anndata reads them
	m := &merger{join: o.Join, keys: o.Keys, spill: o.SpillStrings, inputPool: newInputPool(currentLayout(o.Open), inputs, o.OpenAtOnce)}
	m.inputPool.ctx = o.Ctx
	for _, p := range inputs {
		m.inputs = append(m.inputs, &mergeInput{path: p})
	}
	ok := false
	defer func() {
		if !ok {
			m.inputPool.closeAll()
		}
	}()
	var err error
	if m.tpl, err = m.inputPool.get(0); err != nil {
		return nil, err
	}
	if err := m.build(); err != nil {
		return nil, err
	}
	if err := m.checkIndex(); err != nil {
		return nil, err
	}
	// the next input is opened (and checked) while this one is scanned
	var ahead sync.WaitGroup
	defer ahead.Wait()
	for i, in := range m.inputs {
		if err := o.Ctx.Err(); err != nil {
			return nil, err
		}
		if i+1 < len(m.inputs) {
			m.inputPool.prefetch(i+1, &ahead)
		}
		start := time.Now()
		if err := m.inputPool.with(i, func(e *openInput) error { return m.scanInput(i, e) }); err != nil {
			return nil, err
		}
		in.row0 = m.n
		m.n += in.nobs
		if o.Scanned != nil {
			o.Scanned(i, in.path, in.nobs, time.Since(start))
		}
	}
	if err := m.finish(); err != nil {
		return nil, err
	}
	if err := m.remapRows(o.Ctx); err != nil {
		return nil, err
	}
	m.walk(m.root, func(n *mnode) {
		if n.dropped != "" || n.mkind != kCSR {
			return
		}
		for i := range m.inputs {
			n.base[i] = n.total
			n.total += n.nnz[i]
		}
	})
	plan, err := m.output()
	if err != nil {
		return nil, err
	}
	ok = true
	return &Merged{Plan: plan, Warnings: m.warns, m: m}, nil
}

// finish fixes the output's sizes and types once every input is scanned.
func (m *merger) finish() error {
	for _, a := range m.axes {
		a.finish()
	}
	m.walk(m.root, func(n *mnode) {
		if n.dropped != "" && n.mkind != kLabel { // the label is placed anew
			m.warn("%s", n.dropped)
		}
		switch n.mkind {
		case kIfSameVar:
			if !n.axis.same && m.nonEmpty(n.path) {
				m.warn("%s is dropped: %s differs across inputs, and %s is aligned to it", n.path, n.axis.path, n.path)
			}
		case kVarFrame:
			if !n.axis.same && n.axis.sameIdx {
				m.warn("%s columns differ across inputs; only its index is kept", n.path)
			}
		case kFrame:
			for _, k := range n.kids {
				if k.dropped != "" {
					n.dropCols = append(n.dropCols, k.name)
				}
			}
		case kCat:
			m.finishCat(n.cat)
		}
	})
	m.placeLabel()
	return m.checkAbsent()
}

func (m *merger) nonEmpty(p string) bool {
	if !isGroupAt(m.tpl.root, p) {
		return true
	}
	kids, err := childrenAt(m.tpl.root, p)
	return err != nil || len(kids) > 0
}

// remapRows counts, for each sparse element joined on var, the entries
// of every input whose columns move out of order or are dropped, row by
// row: those rows are rebuilt (merge_fill.go), and the output's indptr
// comes from these counts. O(cells) integers, read once.
func (m *merger) remapRows(ctx context.Context) error {
	var csrs []*mnode
	m.walk(m.root, func(n *mnode) {
		if n.dropped == "" && n.mkind == kCSR && n.axis != nil && !n.axis.sameIdx {
			csrs = append(csrs, n)
		}
	})
	if len(csrs) == 0 {
		return nil
	}
	for i := range m.inputs {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := m.inputPool.with(i, func(e *openInput) error {
			for _, n := range csrs {
				cm, err := e.colMap(n.axis)
				if err != nil {
					return err
				}
				if cm == nil || (!cm.Drops && cm.Monotone) {
					continue
				}
				if n.rowPtr[i], err = keptPerRow(e, n, i, cm); err != nil {
					return fmt.Errorf("%s: %s: %v", e.src.Path, n.path, err)
				}
				n.nnz[i] = n.rowPtr[i][len(n.rowPtr[i])-1]
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// keptPerRow is, for each row of input i's matrix n, the number of kept
// entries before it (cumulative, from 0).
func keptPerRow(e *openInput, n *mnode, i int, cm *ColMap) ([]int64, error) {
	indptr, err := e.array(n.path + "/indptr")
	if err != nil {
		return nil, err
	}
	nobs := e.src.NObs
	ptr, err := intsAt(indptr, 0, nobs+1)
	if err != nil {
		return nil, err
	}
	out := make([]int64, nobs+1)
	for r := int64(0); r < nobs; r++ {
		if ptr[r+1] < ptr[r] {
			return nil, fmt.Errorf("indptr decreases at row %d; the sparse matrix is corrupt", r)
		}
		out[r+1] = out[r] + ptr[r+1] - ptr[r]
	}
	if !cm.Drops {
		return out, nil
	}
	indices, err := e.array(n.path + "/indices")
	if err != nil {
		return nil, err
	}
	ic, _ := intCodecOf(indices.DType())
	rr := indices.Rows()
	step := int64(mergeWindow / ic.Size)
	var buf []byte
	r := int64(0)
	kept := int64(0)
	for e0 := ptr[0]; e0 < ptr[nobs]; e0 += step {
		k := min(step, ptr[nobs]-e0)
		buf = grow(buf, k*int64(ic.Size))
		if err := rr.ReadRows(buf, e0); err != nil {
			return nil, err
		}
		for j := int64(0); j < k; j++ {
			for ptr[r+1] <= e0+j { // entries of row r are done
				out[r+1] = kept
				r++
			}
			c := ic.Get(buf[j*int64(ic.Size):])
			if c < 0 || c >= int64(len(cm.To)) {
				return nil, fmt.Errorf("column index %d out of range [0, %d)", c, len(cm.To))
			}
			if cm.To[c] >= 0 {
				kept++
			}
		}
	}
	for ; r < nobs; r++ {
		out[r+1] = kept
	}
	return out, nil
}

package materialize

import (
	"context"
	"fmt"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/h5ad"
)

// MergeOptions of a merge.
type MergeOptions struct {
	Join      string // "outer" (default) or "inner": how differing var names combine
	Overwrite bool
	Warn      func(msg string) // hears about elements left out; may be nil
	Progress  Progress         // one "shard" per input; may be nil
	Ctx       context.Context  // cancelled (Ctrl-C): stop between inputs, leave nothing new
	Log       func(msg string) // housekeeping (--debug); may be nil
}

// Merge writes the inputs, cells stacked in input order, to output (.h5ad,
// or .zarr by its extension; inputs of either format, see merge_zarr.go).
//
// It streams: the output's skeleton (groups, attributes, small elements)
// is written with libhdf5 with every large array allocated in place, then
// each input's arrays are copied into their extents (copy_file_range where
// the bytes can move as they are, windows of a few MB where indices are
// remapped or integers widened). Memory is bounded by one input's
// per-cell strings and a few windows, whatever the number of inputs.
// The output is an output set of one (outset.go): written in a staging
// directory, checked (shapes, indptr), then renamed into place; on any
// error or interrupt nothing is left behind and an existing OUTPUT is
// unchanged.
func Merge(output string, inputs []string, o MergeOptions) (err error) {
	if o.Join == "" {
		o.Join = "outer"
	}
	if o.Join != "outer" && o.Join != "inner" {
		return fmt.Errorf("--join %q: use outer or inner", o.Join)
	}
	if len(inputs) == 0 {
		return fmt.Errorf("no inputs to merge")
	}
	if o.Ctx == nil {
		o.Ctx = context.Background()
	}
	if needsZarrMerge(output, inputs) {
		return mergeZarr(output, inputs, o) // see merge_zarr.go
	}
	set, err := NewSet([]string{output}, SetOptions{Overwrite: o.Overwrite, Inputs: inputs, Log: o.Log})
	if err != nil {
		return err
	}
	defer set.Abort()
	if err := mergeH5AD(set.Temp(0), inputs, o); err != nil {
		return set.Err(err)
	}
	return set.Err(set.Commit(o.Ctx))
}

// mergeH5AD writes the merge of h5ad inputs as the file tmp, and checks it.
func mergeH5AD(tmp string, inputs []string, o MergeOptions) (err error) {
	m := &merger{o: o}
	for _, p := range inputs {
		m.inputs = append(m.inputs, &mergeInput{path: p})
	}
	if m.tpl, err = h5ad.Open(inputs[0]); err != nil {
		return err
	}
	defer m.tpl.Close()
	if err := m.plan(); err != nil {
		return err
	}
	if o.Warn != nil {
		for _, w := range m.warns {
			o.Warn(w)
		}
	}
	if err := m.write(tmp); err != nil {
		return err
	}
	if err := o.Ctx.Err(); err != nil {
		return err
	}
	if err := m.validate(tmp); err != nil {
		return fmt.Errorf("%s: the merged file failed its check (%v); nothing was written", tmp, err)
	}
	return nil
}

// plan checks every input and sizes the output.
func (m *merger) plan() error {
	if err := m.build(); err != nil {
		return err
	}
	ahead := m.openAhead()
	defer ahead.stop()
	for i, in := range m.inputs {
		if err := m.o.Ctx.Err(); err != nil {
			return err
		}
		src, vars := m.tpl, map[string]varRead(nil)
		if i > 0 {
			o := <-ahead.ch
			if o.err != nil {
				return o.err
			}
			src, vars = o.src, o.vars
		}
		err := m.scanInput(i, src, vars)
		if i > 0 {
			src.Close()
		}
		if err != nil {
			return err
		}
		in.row0 = m.n
		m.n += in.nobs
	}
	m.finish()
	// An inner join drops entries: count what each input keeps.
	need := false
	m.walk(m.root, func(n *node) {
		if n.dropped == "" && n.kind == kCSR && n.axis != nil && !n.axis.sameIdx && !n.axis.j.Outer {
			need = true
		}
	})
	if need {
		for i := range m.inputs {
			if err := m.withInput(i, func(src *h5ad.Source) error { return m.countKept(i, src) }); err != nil {
				return err
			}
		}
	}
	m.walk(m.root, func(n *node) {
		if n.dropped != "" || n.kind != kCSR {
			return
		}
		for i := range m.inputs {
			n.base[i] = n.total
			n.total += n.nnz[i]
		}
	})
	return nil
}

// ahead opens the inputs after the first and reads their var names on a
// goroutine, one or two inputs ahead of the scan: the names are decoded
// while the scan waits on libhdf5.
type ahead struct {
	ch   chan opened
	quit chan struct{}
}

type opened struct {
	src  *h5ad.Source
	vars map[string]varRead
	err  error
}

func (m *merger) openAhead() *ahead {
	a := &ahead{ch: make(chan opened, 1), quit: make(chan struct{})}
	go func() {
		defer close(a.ch)
		for _, in := range m.inputs[1:] {
			var o opened
			if o.src, o.err = h5ad.Open(in.path); o.err == nil {
				o.vars = m.readVars(o.src)
			}
			select {
			case a.ch <- o:
			case <-a.quit:
				if o.src != nil {
					o.src.Close()
				}
				return
			}
			if o.err != nil {
				return
			}
		}
	}()
	return a
}

// stop ends the read-ahead and closes what it opened but nobody took.
func (a *ahead) stop() {
	close(a.quit)
	for o := range a.ch {
		if o.src != nil {
			o.src.Close()
		}
	}
}

// withInput opens input i (the template stays open) for fn. An interrupt
// takes effect here, between inputs.
func (m *merger) withInput(i int, fn func(*h5ad.Source) error) error {
	if err := m.o.Ctx.Err(); err != nil {
		return err
	}
	if i == 0 {
		return fn(m.tpl)
	}
	src, err := h5ad.Open(m.inputs[i].path)
	if err != nil {
		return err
	}
	defer src.Close()
	return fn(src)
}

// countKept counts, for each sparse element joined on var, the entries of
// input i whose gene survives the join.
func (m *merger) countKept(i int, src *h5ad.Source) error {
	maps := map[*varAxis]*mapOnce{}
	var err error
	m.walk(m.root, func(n *node) {
		if err != nil || n.dropped != "" || n.kind != kCSR || n.axis == nil {
			return
		}
		mo := maps[n.axis]
		if mo == nil {
			mo = &mapOnce{}
			mo.cm, mo.err = n.axis.colMap(src)
			maps[n.axis] = mo
		}
		if err = mo.err; err != nil || mo.cm == nil || !mo.cm.Drops {
			return
		}
		var ds *h5.Dataset
		if ds, err = src.Root.OpenDataset(n.path + "/indices"); err != nil {
			return
		}
		defer ds.Close()
		n.nnz[i], err = countKept(src, ds, n.p0[i], n.nnz[i], mo.cm)
		if err != nil {
			err = fmt.Errorf("%s: %s: %v", src.Path, n.path, err)
		}
	})
	return err
}

type mapOnce struct {
	cm  *engine.ColMap
	err error
}

package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/annslicer/annslicer/tree"
)

// The inputs of a merge, opened on demand. A merge may have hundreds of
// inputs and an encoder asks for one output array at a time, each made of
// every input's part: holding them all open would exhaust descriptors (and
// memory, for libhdf5's caches), so at most poolSize stay open, the least
// recently used closed first. The first input (the template: uns, var,
// the copied elements) stays open for the whole merge.

// Opener opens an input as an element tree (h5ad or zarr by its path).
type Opener func(path string) (*tree.Source, error)

// poolSize bounds the inputs open at once, for descriptors and memory:
// an open .h5ad holds 1.5-3 MB (libhdf5's metadata cache and its index
// among it), so a merge of 40 shards peaked at 160 MB with 32 open and at
// 115 MB with 16. A merge itself keeps fewer (MergeOptions.OpenAtOnce,
// MergeOpenAtOnce); a collection needs this many: its shuffled shards read
// from every input at once, and with 4 open, a mount of 10 files read
// through took 50 s instead of 14.
const poolSize = 16

// MergeOpenAtOnce is what a merge keeps open: its output is written
// array by array, each walking the inputs in order, so an input reopened
// one array later costs little. 20 shards of 10,000 cells: peak RSS 68 MB
// instead of 93 with 16 open, in the same 0.40-0.48 s (420 opens instead
// of 156); 200 shards of 2M cells: 170-176 MB instead of 193-225.
const MergeOpenAtOnce = 4

type inputPool struct {
	ctx   context.Context // cancelled: fills fail, so a writer stops
	open  Opener
	paths []string
	max   int
	files *inputFiles // the inputs as plain files, for spans
	book  *spanBook   // where the arrays' parts lie in those files

	mu      sync.Mutex
	ents    map[int]*openInput
	loading map[int]chan struct{} // inputs being opened
	tick    int64
	closed  bool
}

// openInput is an open input, with the arrays and column maps the fills
// asked of it.
type openInput struct {
	i    int
	src  *tree.Source
	root tree.Group
	refs int
	used int64

	mu     sync.Mutex
	arrays map[string]tree.Array
	rows   map[string]tree.RowReader
	cms    map[*varAxis]*ColMap
}

// newInputPool keeps at most most of paths open (0 or less: poolSize).
func newInputPool(open Opener, paths []string, most int) *inputPool {
	if most <= 0 {
		most = poolSize
	}
	p := &inputPool{ctx: context.Background(), open: open, paths: paths, max: most, files: newInputFiles(paths), ents: map[int]*openInput{}, loading: map[int]chan struct{}{}}
	p.book = &spanBook{pool: p}
	return p
}

// get opens input i (or finds it open, or waits while another caller
// opens it); put gives it back. Opening happens outside the lock, so a
// scan may open the next input while fills read others.
func (p *inputPool) get(i int) (*openInput, error) {
	p.mu.Lock()
	for {
		p.tick++
		if e, ok := p.ents[i]; ok {
			e.refs++
			e.used = p.tick
			p.mu.Unlock()
			return e, nil
		}
		ch, busy := p.loading[i]
		if !busy {
			break
		}
		p.mu.Unlock()
		<-ch
		p.mu.Lock()
	}
	ch := make(chan struct{})
	p.loading[i] = ch
	p.evict()
	p.mu.Unlock()
	e, err := p.load(i)
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.loading, i)
	close(ch)
	if err == nil && p.closed {
		e.close()
		err = fmt.Errorf("%s: the merge is over", p.paths[i])
	}
	if err != nil {
		return nil, err
	}
	e.refs, e.used = 1, p.tick
	p.ents[i] = e
	return e, nil
}

func (p *inputPool) load(i int) (*openInput, error) {
	src, err := p.open(p.paths[i])
	if err != nil {
		return nil, err
	}
	root, err := src.Root()
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("%s: %v", src.Path, err)
	}
	return &openInput{i: i, src: src, root: root,
		arrays: map[string]tree.Array{}, rows: map[string]tree.RowReader{}, cms: map[*varAxis]*ColMap{}}, nil
}

// prefetch opens input i in the background (an error is the caller's to
// meet when it gets the input itself).
func (p *inputPool) prefetch(i int, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if e, err := p.get(i); err == nil {
			p.put(e)
		}
	}()
}

func (p *inputPool) put(e *openInput) {
	p.mu.Lock()
	e.refs--
	p.mu.Unlock()
}

// evict closes the least recently used idle inputs while too many are
// open (never the template).
// The inputs are asked for in order, over and over (every output array
// walks them all), so the one needed furthest ahead is the one used last:
// evicting it keeps the others open for the next pass, where evicting the
// least recently used would close each input just before it is needed.
func (p *inputPool) evict() {
	for len(p.ents) >= p.max {
		var old *openInput
		for _, e := range p.ents {
			if e.refs == 0 && e.i != 0 && (old == nil || e.used > old.used) {
				old = e
			}
		}
		if old == nil {
			return // all busy: go over the bound for a while
		}
		delete(p.ents, old.i)
		old.close()
	}
}

func (e *openInput) close() {
	for _, a := range e.arrays {
		a.Close()
	}
	e.arrays = nil
	e.root.Close()
	e.src.Close()
}

// closeAll releases every input (the plan is done with).
func (p *inputPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.files.closeAll()
	for i, e := range p.ents {
		e.close()
		delete(p.ents, i)
	}
}

// with runs fn on input i, opened for it.
func (p *inputPool) with(i int, fn func(e *openInput) error) error {
	e, err := p.get(i)
	if err != nil {
		return err
	}
	defer p.put(e)
	return fn(e)
}

// array is the input's array at path (relative to the root), kept open
// with the input.
func (e *openInput) array(path string) (tree.Array, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a, ok := e.arrays[path]; ok {
		return a, nil
	}
	a, err := e.root.Array(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", e.src.Path, path, err)
	}
	e.arrays[path] = a
	return a, nil
}

// reader is the row reader of the input's array at path.
func (e *openInput) reader(path string) (tree.RowReader, error) {
	a, err := e.array(path)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.rows[path]; ok {
		return r, nil
	}
	r := a.Rows()
	e.rows[path] = r
	return r, nil
}

// colMap is how the input's columns land on axis a (nil: where they are).
func (e *openInput) colMap(a *varAxis) (*ColMap, error) {
	if a == nil || a.sameIdx {
		return nil, nil
	}
	e.mu.Lock()
	cm, ok := e.cms[a]
	e.mu.Unlock()
	if ok {
		return cm, nil
	}
	names, _, err := varIndex(e.src, e.root, a.path)
	if err != nil {
		return nil, err
	}
	cm = a.j.Map(names)
	if cm.Identity {
		cm = nil
	}
	e.mu.Lock()
	e.cms[a] = cm
	e.mu.Unlock()
	return cm, nil
}

// poolCloser releases the pool when the plan is closed (the last of the
// plan's Holds, after the template's arrays).
type poolCloser struct{ p *inputPool }

func (c poolCloser) Path() string               { return "" }
func (c poolCloser) Attrs() (tree.Attrs, error) { return nil, nil }
func (c poolCloser) Close()                     { c.p.closeAll() }

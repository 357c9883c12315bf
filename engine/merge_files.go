package engine

import (
	"os"
	"slices"
	"sync"

	"github.com/annslicer/annslicer/layout/image"
)

// inputFiles are a merge's inputs opened as plain files, for the spans a
// writer copies from (mstack.spansFn): a descriptor each, none of the
// caches an input opened as a Source holds. At most maxInputFiles stay
// open when idle; those the writer's last window names are never closed.
type inputFiles struct {
	paths []string

	mu    sync.Mutex
	open  map[int]*inputFile
	shut  bool
	sameK map[int]bool // whether input i's Source reads the file opened here
}

type inputFile struct {
	f    *os.File
	refs int
}

const maxInputFiles = 256

func newInputFiles(paths []string) *inputFiles {
	return &inputFiles{paths: paths, open: map[int]*inputFile{}, sameK: map[int]bool{}}
}

// get opens input i's file (or finds it open) and pins it until release.
func (c *inputFiles) get(i int) (*os.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.open[i]; ok {
		e.refs++
		return e.f, nil
	}
	if c.shut {
		return nil, os.ErrClosed
	}
	f, err := os.Open(c.paths[i])
	if err != nil {
		return nil, err
	}
	for k, e := range c.open {
		if len(c.open) < maxInputFiles {
			break
		}
		if e.refs == 0 { // any idle one: a descriptor costs little to reopen
			e.f.Close()
			delete(c.open, k)
		}
	}
	c.open[i] = &inputFile{f: f, refs: 1}
	return f, nil
}

// release unpins the files of inputs ins (one get each).
func (c *inputFiles) release(ins []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, i := range ins {
		if e, ok := c.open[i]; ok {
			e.refs--
		}
	}
}

// same reports whether f, the file input i's Source reads, is the file
// at its path (opened here): spans name offsets in the Source's file.
func (c *inputFiles) same(i int, f *os.File) bool {
	c.mu.Lock()
	same, ok := c.sameK[i]
	c.mu.Unlock()
	if ok {
		return same
	}
	a, err1 := f.Stat()
	b, err2 := os.Stat(c.paths[i])
	same = err1 == nil && err2 == nil && os.SameFile(a, b)
	c.mu.Lock()
	c.sameK[i] = same
	c.mu.Unlock()
	return same
}

// closeAll closes every file (the plan is done with).
func (c *inputFiles) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shut = true
	for i, e := range c.open {
		e.f.Close()
		delete(c.open, i)
	}
}

// spanBook learns where the parts of a merge's arrays lie in their
// inputs' files: when a window first asks for a part of input i, input i
// is opened once and asked for every part of it in every array. Asked
// array by array, with few inputs open, each array's first window over
// an input reopened it.
type spanBook struct {
	pool *inputPool
	mu   sync.Mutex
	segs map[int][]*mseg // by input: the parts that may lie plainly in it
}

// maxWholeSpans bounds the pieces of a part remembered (a chunked input
// array's chunks).
const maxWholeSpans = 4096

func (b *spanBook) add(g *mseg) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.segs == nil {
		b.segs = map[int][]*mseg{}
	}
	b.segs[g.in] = append(b.segs[g.in], g)
}

// whole is where g's whole part lies in its input's file, or nil.
func (b *spanBook) whole(g *mseg) []image.Span {
	b.mu.Lock()
	defer b.mu.Unlock()
	if g.known {
		return g.whole
	}
	e, err := b.pool.get(g.in)
	if err != nil {
		return nil // Fill reports it
	}
	defer b.pool.put(e)
	for _, h := range b.segs[g.in] { // g among them (mstack.spansFn)
		if h.known {
			continue
		}
		h.known = true
		f, spans, ok := h.spans(e, 0, h.size)
		if ok && f != nil && len(spans) <= maxWholeSpans && b.pool.files.same(h.in, f) {
			h.whole = slices.Clone(spans)
		}
	}
	return g.whole
}

package engine

import (
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/annslicer/annslicer/layout/image"
)

// The bytes of a merged array, by range: the concatenation of one part per
// input (its rows, or its sparse entries), each read from that input as it
// is, converted (integers widened, column or category numbers remapped) or
// rebuilt row by row (columns of a join out of order or dropped). Every
// part is computed from its offset alone (the row tables of merge_plan.go
// say where a byte lies), so the encoders' sequential windows cost one
// read of what they cover, and so would any other order.

// mpart produces bytes [off, off+len(p)) of one input's part of an array.
type mpart func(e *openInput, p []byte, off int64) error

// mpartSpans says where bytes [off, off+n) of a part lie in the input's
// file, when they lie there as they are.
type mpartSpans func(e *openInput, off, n int64) (*os.File, []image.Span, bool)

type mseg struct {
	in        int
	off, size int64
	mpart     mpart
	spans     mpartSpans // may be nil

	// where the whole part lies in its input's file, learnt the first
	// time a window asks (known); nil: not as it is, or in too many pieces
	// (spanBook, under its lock)
	whole []image.Span
	known bool
}

// mstack is an output array made of its inputs' parts, after head (fixed
// leading bytes: indptr's first 0).
type mstack struct {
	inputPool *inputPool
	head      []byte
	segs      []mseg // by offset, after head

	// pinned are the inputs whose files the last spans name: kept open
	// until the writer asks again, having copied from them
	mu     sync.Mutex
	pinned []int
}

func (s *mstack) add(in int, size int64, p mpart, sp mpartSpans) {
	off := int64(len(s.head))
	if k := len(s.segs); k > 0 {
		off = s.segs[k-1].off + s.segs[k-1].size
	}
	s.segs = append(s.segs, mseg{in: in, off: off, size: size, mpart: p, spans: sp})
}

func (s *mstack) fill(p []byte, off int64) error {
	if err := s.inputPool.ctx.Err(); err != nil {
		return err
	}
	end := off + int64(len(p))
	if off < int64(len(s.head)) {
		n := copy(p, s.head[off:])
		p, off = p[n:], off+int64(n)
	}
	k := sort.Search(len(s.segs), func(k int) bool { return s.segs[k].off+s.segs[k].size > off })
	for ; k < len(s.segs) && off < end; k++ {
		g := s.segs[k]
		if g.size == 0 {
			continue
		}
		n := min(end, g.off+g.size) - off
		err := s.inputPool.with(g.in, func(e *openInput) error { return g.mpart(e, p[:n], off-g.off) })
		if err != nil {
			return err
		}
		p, off = p[n:], off+n
	}
	if len(p) > 0 {
		return fmt.Errorf("read of %d bytes past the merged array's end", len(p))
	}
	return nil
}

// spansFn lets a writer copy file to file the windows whose every part
// is an input's bytes stored as they are (a window may cover several
// inputs: each span names its file).
//
// A window of a small array covers hundreds of inputs (a 2M-cell merge's
// obs columns: 40 KB an input). Where each part lies in its file is
// learnt once, its input opened for that alone and given back; the spans
// name the inputs' plain files (inputFiles), not their open Sources: held
// open for the copy, 200 inputs' libhdf5 caches took a merge to 170 MB,
// and reopening them window after window was most of its opens.
func (s *mstack) spansFn() image.Spans {
	for k := range s.segs {
		if s.segs[k].spans != nil {
			s.inputPool.book.add(&s.segs[k])
		}
	}
	return func(off, n int64) (*os.File, []image.Span, bool) {
		if off < int64(len(s.head)) || n <= 0 {
			return nil, nil, false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		files := s.inputPool.files
		files.release(s.pinned)
		s.pinned = s.pinned[:0]
		end := off + n
		var all []image.Span
		var first *os.File
		k := sort.Search(len(s.segs), func(k int) bool { return s.segs[k].off+s.segs[k].size > off })
		for ; k < len(s.segs) && off < end; k++ {
			g := &s.segs[k]
			if g.size == 0 {
				continue
			}
			if g.spans == nil {
				return nil, nil, false
			}
			whole := s.inputPool.book.whole(g)
			if whole == nil {
				return nil, nil, false
			}
			f, err := files.get(g.in)
			if err != nil {
				return nil, nil, false // Fill reports it
			}
			s.pinned = append(s.pinned, g.in)
			m := min(end, g.off+g.size) - off
			before := len(all)
			all = cutSpans(all, whole, off-g.off, m)
			if len(all) > maxSpans {
				return nil, nil, false
			}
			for j := before; j < len(all); j++ {
				all[j].File = f
			}
			if first == nil {
				first = f
			}
			off += m
		}
		if off < end {
			return nil, nil, false
		}
		return first, all, true
	}
}

// cutSpans appends to out bytes [off, off+n) of the bytes whole names in
// order.
func cutSpans(out, whole []image.Span, off, n int64) []image.Span {
	for _, sp := range whole {
		if n <= 0 {
			break
		}
		if off >= sp.Len {
			off -= sp.Len
			continue
		}
		l := min(sp.Len-off, n)
		out = append(out, image.Span{Off: sp.Off + off, Len: l})
		off, n = 0, n-l
	}
	return out
}

// byUnits calls fn for the whole units covering bytes [off, off+len(p))
// and copies what p asks of them.
func byUnits(p []byte, off, unit int64, fn func(buf []byte, u0 int64) error) error {
	if len(p) == 0 {
		return nil
	}
	end := off + int64(len(p))
	u0, u1 := off/unit, (end+unit-1)/unit
	if off%unit == 0 && end%unit == 0 {
		return fn(p, u0)
	}
	tmp := make([]byte, (u1-u0)*unit)
	if err := fn(tmp, u0); err != nil {
		return err
	}
	copy(p, tmp[off-u0*unit:])
	return nil
}

// readAt reads bytes of an input array from byte b0 of its rows.
func (e *openInput) readAt(path string, p []byte, b0 int64) error {
	rr, err := e.reader(path)
	if err != nil {
		return err
	}
	return byUnits(p, b0, rr.RowBytes(), rr.ReadRows)
}

// plainPart reads an input array as it is, from byte b0.
func plainPart(path string, b0 int64) mpart {
	return func(e *openInput, p []byte, off int64) error { return e.readAt(path, p, b0+off) }
}

// plainSpans locates an input array's bytes from b0 in its file.
func plainSpans(path string, b0 int64) mpartSpans {
	return func(e *openInput, off, n int64) (*os.File, []image.Span, bool) {
		rr, err := e.reader(path)
		if err != nil {
			return nil, nil, false
		}
		sp, ok := rr.(spanner)
		if !ok || sp.File() == nil || rr.RowBytes() <= 0 {
			return nil, nil, false
		}
		unit := rr.RowBytes()
		a, b := b0+off, b0+off+n
		r0, r1 := a/unit, (b+unit-1)/unit
		spans, ok := sp.FileSpans(r0, r1-r0, nil)
		if !ok || len(spans) == 0 || len(spans) > maxSpans {
			return nil, nil, false
		}
		// cut the parts of the first and last rows outside [a, b)
		head, tail := a-r0*unit, r1*unit-b
		for head > 0 {
			d := min(head, spans[0].Len)
			spans[0].Off, spans[0].Len, head = spans[0].Off+d, spans[0].Len-d, head-d
			if spans[0].Len == 0 {
				spans = spans[1:]
			}
		}
		for tail > 0 {
			k := len(spans) - 1
			d := min(tail, spans[k].Len)
			spans[k].Len, tail = spans[k].Len-d, tail-d
			if spans[k].Len == 0 {
				spans = spans[:k]
			}
		}
		return sp.File(), spans, true
	}
}

// convert re-encodes elements of a 1-D integer input array from element
// e0 as integers of type oc, through f when not nil (an error for a value
// f cannot map).
func (e *openInput) convert(path string, e0 int64, oc Ints, f func(int64) (int64, error), p []byte, off int64) error {
	a, err := e.array(path)
	if err != nil {
		return err
	}
	ic, ok := intCodecOf(a.DType())
	if !ok {
		return fmt.Errorf("%s: %s is not an integer array", e.src.Path, path)
	}
	rr, err := e.reader(path)
	if err != nil {
		return err
	}
	return byUnits(p, off, int64(oc.Size), func(buf []byte, u0 int64) error {
		k := int64(len(buf) / oc.Size)
		// pooled: a shuffled shard of a joined collection converts one
		// cell's indices per call, millions of times, and a new buffer
		// each time kept the collector running
		bp := image.GetBuf(k * int64(ic.Size))
		defer image.PutBuf(bp)
		in := (*bp)[:k*int64(ic.Size)]
		if err := rr.ReadRows(in, e0+u0); err != nil {
			return err
		}
		for j := int64(0); j < k; j++ {
			v := ic.Get(in[j*int64(ic.Size):])
			if f != nil {
				if v, err = f(v); err != nil {
					return fmt.Errorf("%s: %s: %v", e.src.Path, path, err)
				}
			}
			oc.Put(buf[j*int64(oc.Size):], v)
		}
		return nil
	})
}

// sameInts reports whether the input array at path holds integers of
// type oc (its bytes can be copied as they are).
func (e *openInput) sameInts(path string, oc Ints) bool {
	a, err := e.array(path)
	if err != nil {
		return false
	}
	ic, ok := intCodecOf(a.DType())
	return ok && ic == oc
}

// intsPart serves computed integers vals[k] + add as type oc.
func intsPart(vals []int64, add int64, oc Ints) mpart {
	return func(e *openInput, p []byte, off int64) error {
		return byUnits(p, off, int64(oc.Size), func(buf []byte, u0 int64) error {
			for j := 0; j*oc.Size < len(buf); j++ {
				oc.Put(buf[j*oc.Size:], vals[u0+int64(j)]+add)
			}
			return nil
		})
	}
}

// csrRowsPart rebuilds input i's entries of sparse matrix n row by row
// (columns remapped, dropped ones left out, rows re-sorted): the data
// (esz-byte values) when indices is false, else the column indices as oc.
// rowPtr (kept entries before each row) locates any output entry.
func csrRowsPart(n *mnode, i int, indices bool, esz int64, oc Ints) mpart {
	const entWin = 1 << 19
	return func(e *openInput, p []byte, off int64) error {
		cm, err := e.colMap(n.axis)
		if err != nil {
			return err
		}
		rowPtr := n.rowPtr[i]
		ptrA, err := e.array(n.path + "/indptr")
		if err != nil {
			return err
		}
		idxA, err := e.array(n.path + "/indices")
		if err != nil {
			return err
		}
		ic, _ := intCodecOf(idxA.DType())
		idxR, err := e.reader(n.path + "/indices")
		if err != nil {
			return err
		}
		dataR, err := e.reader(n.path + "/data")
		if err != nil {
			return err
		}
		unit := esz
		if indices {
			unit = int64(oc.Size)
		}
		nobs := int64(len(rowPtr) - 1)
		return byUnits(p, off, unit, func(buf []byte, u0 int64) error {
			u1 := u0 + int64(len(buf))/unit
			r := int64(sort.Search(int(nobs), func(r int) bool { return rowPtr[r+1] > u0 }))
			for r < nobs && rowPtr[r] < u1 {
				// rows [r, r2): at most entWin input entries (at least a row)
				ptr, err := intsAt(ptrA, r, min(nobs-r, 1<<16)+1)
				if err != nil {
					return err
				}
				k := int64(1)
				for k < int64(len(ptr))-1 && ptr[k+1]-ptr[0] <= entWin && rowPtr[r+k] < u1 {
					k++
				}
				ptr = ptr[:k+1]
				ne := ptr[k] - ptr[0]
				if ne < 0 {
					return fmt.Errorf("%s: %s/indptr decreases; the sparse matrix is corrupt", e.src.Path, n.path)
				}
				idx, dat := make([]byte, ne*int64(ic.Size)), make([]byte, ne*esz)
				if err := idxR.ReadRows(idx, ptr[0]); err != nil {
					return err
				}
				if err := dataR.ReadRows(dat, ptr[0]); err != nil {
					return err
				}
				outIdx, outDat := make([]byte, ne*int64(oc.Size)), make([]byte, ne*esz)
				counts := make([]int64, k)
				w, err := cm.CSRWindow(ptr, idx, ic, dat, int(esz), outIdx, oc, outDat, counts)
				if err != nil {
					return fmt.Errorf("%s: %s: %v; the sparse matrix is corrupt", e.src.Path, n.path, err)
				}
				if w != rowPtr[r+k]-rowPtr[r] {
					return fmt.Errorf("%s: %s changed while merging", e.src.Path, n.path)
				}
				got := outDat[:w*esz]
				if indices {
					got = outIdx[:w*unit]
				}
				// output entries [rowPtr[r], rowPtr[r+k]) are got
				lo, hi := max(u0, rowPtr[r]), min(u1, rowPtr[r+k])
				if lo < hi {
					copy(buf[(lo-u0)*unit:(hi-u0)*unit], got[(lo-rowPtr[r])*unit:])
				}
				r += k
			}
			return nil
		})
	}
}

// denseScatterPart places an input's dense rows (inRB bytes) in wider
// output rows (cm.NOut elements of esz bytes), at their joined columns.
func denseScatterPart(path string, cm *ColMap, esz int64) mpart {
	inRB, outRB := int64(len(cm.To))*esz, cm.NOut*esz
	return func(e *openInput, p []byte, off int64) error {
		rr, err := e.reader(path)
		if err != nil {
			return err
		}
		return byUnits(p, off, outRB, func(buf []byte, u0 int64) error {
			k := int64(len(buf)) / outRB
			in := make([]byte, k*inRB)
			if err := rr.ReadRows(in, u0); err != nil {
				return err
			}
			cm.DenseRows(in, int(k), int(esz), buf)
			return nil
		})
	}
}

// denseGraphPart places an input's dense graph rows as its diagonal
// block: columns [row0, row0+its cells) of rows n cells wide.
func denseGraphPart(path string, row0, nCells, esz int64) mpart {
	outRB := nCells * esz
	return func(e *openInput, p []byte, off int64) error {
		rr, err := e.reader(path)
		if err != nil {
			return err
		}
		inRB := rr.RowBytes()
		return byUnits(p, off, outRB, func(buf []byte, u0 int64) error {
			k := int64(len(buf)) / outRB
			in := make([]byte, k*inRB)
			if err := rr.ReadRows(in, u0); err != nil {
				return err
			}
			clear(buf)
			for j := int64(0); j < k; j++ {
				copy(buf[j*outRB+row0*esz:], in[j*inRB:(j+1)*inRB])
			}
			return nil
		})
	}
}

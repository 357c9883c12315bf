package engine

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"

	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/tree"
)

// RowReader reads whole rows of a source array as raw bytes.
type RowReader = tree.RowReader

// spanner is a RowReader that can also say where its rows lie in a file.
type spanner interface {
	RowReader
	FileSpans(row0, n int64, out []image.Span) ([]image.Span, bool)
	File() *os.File
}

// maxSpans bounds the kernel copies per window: a shuffled shard's rows
// are better gathered through memory than copied one system call each.
const maxSpans = 64

// gatherSpans is the Spans of a gather, when src can tell file ranges.
func gatherSpans(src RowReader, unit int64, mapRuns runMapper) image.Spans {
	sp, ok := src.(spanner)
	if !ok || sp.File() == nil {
		return nil
	}
	return func(off, n int64) (*os.File, []image.Span, bool) {
		if off%unit != 0 || n%unit != 0 {
			return nil, nil, false
		}
		var rs image.Runs
		rs.Reset(unit, 0)
		mapRuns(off/unit, (off+n)/unit, rs.Add)
		if len(rs.List) > maxSpans {
			return nil, nil, false
		}
		var spans []image.Span
		for _, r := range rs.List { // in output order
			var ok bool
			if spans, ok = sp.FileSpans(r.Src, r.N, spans); !ok || len(spans) > maxSpans {
				return nil, nil, false
			}
		}
		return sp.File(), spans, true
	}
}

// runMapper lists the runs covering output units [u0, u1).
type runMapper func(u0, u1 int64, emit func(dst, src, n int64))

// runsPool keeps run lists: a shuffled window lists a run per cell, and
// a new list per window kept the collector busy.
var runsPool = sync.Pool{New: func() any { return new(image.Runs) }}

// gatherFill turns a run mapper over units of `unit` bytes into a Fill.
// Reads are issued in source order (sequential I/O); each lands at its
// output place, so output keeps shard order.
func gatherFill(src RowReader, unit int64, mapRuns runMapper) image.Fill {
	var fill image.Fill
	fill = func(p []byte, off int64) error {
		end := off + int64(len(p))
		a0 := (off + unit - 1) / unit * unit
		a1 := end / unit * unit
		if a0 >= a1 || off%unit != 0 || end%unit != 0 {
			// partial units at the edges go through a one-unit buffer; the
			// aligned middle is read in place, without a copy
			if a0 < a1 {
				if err := fill(p[a0-off:a1-off], a0); err != nil {
					return err
				}
			}
			tmp := make([]byte, unit)
			for _, u := range edgeUnits(off, end, a0, a1, unit) {
				if err := fill(tmp, u); err != nil {
					return err
				}
				lo, hi := max(off, u), min(end, u+unit)
				copy(p[lo-off:hi-off], tmp[lo-u:hi-u])
			}
			return nil
		}
		u0, u1 := off/unit, end/unit
		rs := runsPool.Get().(*image.Runs)
		rs.Reset(unit, -u0*unit)
		mapRuns(u0, u1, rs.Add)
		rs.Sort()
		workers := 1
		if len(rs.List) >= parallelRuns {
			workers = 2
		}
		err := image.ReadRunsParallel(src, unit, rs.List, p, workers)
		runsPool.Put(rs)
		return err
	}
	return fill
}

// edgeUnits are the byte offsets of the units cut by [off, end) outside
// its aligned middle [a0, a1).
func edgeUnits(off, end, a0, a1, unit int64) []int64 {
	first := off / unit * unit
	last := (end - 1) / unit * unit
	if a0 >= a1 { // no whole unit: one or two partial ones
		if first == last {
			return []int64{first}
		}
		return []int64{first, last}
	}
	var us []int64
	if first < a0 {
		us = append(us, first)
	}
	if last >= a1 {
		us = append(us, last)
	}
	return us
}

// parallelRuns is the number of scattered reads from which one fill is
// split between two goroutines: a shuffled shard's window has thousands,
// and a lone FUSE reader would otherwise use one core.
const parallelRuns = 512

// rowsOf makes out's bytes runs of src's rows, as m maps them: its Fill,
// the file Spans materialize copies in the kernel when it can, and the
// Gather that lets shards of one source be gathered together.
func rowsOf(out *tree.PlanArray, src RowReader, m runMapper) {
	u := src.RowBytes()
	out.Fill, out.Spans = gatherFill(src, u, m), gatherSpans(src, u, m)
	out.Gather = &image.Gather{Src: src, Unit: u, Runs: m}
}

// denseRows: output row j is source row rows[j].
func denseRows(src RowReader, rows []int64) image.Fill {
	return gatherFill(src, src.RowBytes(), denseMapper(rows))
}

func denseMapper(rows []int64) runMapper {
	return func(u0, u1 int64, emit func(dst, src, n int64)) {
		for j := u0; j < u1; j++ {
			emit(j, rows[j], 1)
		}
	}
}

// csrElems: the shard's data or indices. Output row i holds source
// elements [starts[i], starts[i]+indptr[i+1]-indptr[i]).
func csrElems(src RowReader, starts, indptr []int64) image.Fill {
	return gatherFill(src, src.RowBytes(), csrMapper(starts, indptr))
}

func csrMapper(starts, indptr []int64) runMapper {
	return func(u0, u1 int64, emit func(dst, src, n int64)) {
		i := sort.Search(len(indptr)-1, func(i int) bool { return indptr[i+1] > u0 })
		for ; i < len(indptr)-1 && indptr[i] < u1; i++ {
			a, b := max(u0, indptr[i]), min(u1, indptr[i+1])
			if a < b {
				emit(a, starts[i]+a-indptr[i], b-a)
			}
		}
	}
}

// intsFill serves computed integers (a new indptr) in the source's dtype.
func intsFill(vals []int64, c Ints) image.Fill {
	sz := int64(c.Size)
	return func(p []byte, off int64) error {
		var tmp [8]byte
		for pos := int64(0); pos < int64(len(p)); {
			i := (off + pos) / sz
			inner := (off + pos) % sz
			if inner == 0 && int64(len(p))-pos >= sz {
				c.Put(p[pos:], vals[i])
				pos += sz
				continue
			}
			c.Put(tmp[:], vals[i])
			pos += int64(copy(p[pos:], tmp[inner:sz]))
		}
		return nil
	}
}

// bytesFill serves bytes computed in memory (small induced sub-graphs).
func bytesFill(b []byte) image.Fill {
	return func(p []byte, off int64) error {
		if off+int64(len(p)) > int64(len(b)) {
			return fmt.Errorf("read past computed array")
		}
		copy(p, b[off:])
		return nil
	}
}

// positions maps each source row of a shard to its place in the shard.
func positions(rows []int64) map[int64]int64 {
	pos := make(map[int64]int64, len(rows))
	for i, r := range rows {
		pos[r] = int64(i)
	}
	return pos
}

// inducedGraph is the sub-graph of a CSR graph over the shard's cells:
// row i keeps the entries of source row rows[i] whose column is a shard
// cell, renumbered by pos and sorted. starts/ptr locate the source rows
// (as rowRanges gives them); indices and data are read as raw elements.
func inducedGraph(nrows int, pos map[int64]int64, starts, ptr []int64, indices, data RowReader, ic Ints) (newPtr, newIdx []int64, newData []byte, err error) {
	isz, dsz := indices.RowBytes(), data.RowBytes()
	newPtr = make([]int64, nrows+1)
	type entry struct{ col, at int64 }
	var ib, db []byte
	var row []entry
	var kept []byte // a row's kept data, in source order
	for i := 0; i < nrows; i++ {
		n := ptr[i+1] - ptr[i]
		row, kept = row[:0], kept[:0]
		// a row is read in blocks: its length comes from indptr, which a
		// corrupt file may make as large as the data it declares
		for j0 := int64(0); j0 < n; j0 += graphBlock {
			k := min(graphBlock, n-j0)
			ib, db = grow(ib, k*isz), grow(db, k*dsz)
			if err := indices.ReadRows(ib, starts[i]+j0); err != nil {
				return nil, nil, nil, err
			}
			if err := data.ReadRows(db, starts[i]+j0); err != nil {
				return nil, nil, nil, err
			}
			for j := int64(0); j < k; j++ {
				if p, ok := pos[ic.Get(ib[j*isz:])]; ok {
					row = append(row, entry{p, int64(len(kept)) / dsz})
					kept = append(kept, db[j*dsz:(j+1)*dsz]...)
				}
			}
		}
		slices.SortStableFunc(row, func(a, b entry) int { return cmp.Compare(a.col, b.col) })
		for _, e := range row {
			newIdx = append(newIdx, e.col)
			newData = append(newData, kept[e.at*dsz:(e.at+1)*dsz]...)
		}
		newPtr[i+1] = int64(len(newIdx))
	}
	return newPtr, newIdx, newData, nil
}

// graphBlock is the most entries of a graph row read at once.
const graphBlock = 1 << 16

// inducedDense fills a dense graph's sub-graph over the shard's cells:
// output row j is source row rows[j] at columns rows, esz bytes an entry.
func inducedDense(src RowReader, rows []int64, esz int64) image.Fill {
	m := int64(len(rows))
	return func(p []byte, off int64) error {
		out := m * esz
		j0, j1 := off/out, (off+int64(len(p))+out-1)/out
		full := make([]byte, (j1-j0)*out)
		tmp := make([]byte, src.RowBytes())
		for j := j0; j < j1; j++ {
			if err := src.ReadRows(tmp, rows[j]); err != nil {
				return err
			}
			o := full[(j-j0)*out:]
			for k, r := range rows {
				copy(o[int64(k)*esz:int64(k+1)*esz], tmp[r*esz:(r+1)*esz])
			}
		}
		copy(p, full[off-j0*out:])
		return nil
	}
}

func grow(b []byte, n int64) []byte {
	if int64(cap(b)) < n {
		return make([]byte, n)
	}
	return b[:n]
}

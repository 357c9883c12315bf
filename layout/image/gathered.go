package image

import (
	"context"
	"math/bits"
	"os"
	"reflect"
	"sync"

	"github.com/annslicer/annslicer/internal/filewrite"
)

// RowSource reads whole rows of a source array as raw bytes.
type RowSource interface {
	ReadRows(p []byte, row0 int64) error
	RowBytes() int64
}

// Gather says that an extent's bytes are runs of one source array's units
// (Unit bytes each): Runs lists the runs covering output units [u0, u1),
// each as n units from source unit src placed at output unit dst. Shards
// whose extents gather from the same Src can be gathered together
// (WriteGathered): one pass over the source in its own order, scattered
// to every shard, instead of a read per row and shard.
type Gather struct {
	Src  RowSource
	Unit int64
	Runs func(u0, u1 int64, emit func(dst, src, n int64))
}

// SameSource reports whether extents es all gather from one source.
func SameSource(es []Extent) bool {
	if len(es) == 0 || es[0].Gather == nil {
		return false
	}
	g0 := es[0].Gather
	if t := reflect.TypeOf(g0.Src); t == nil || !t.Comparable() {
		return false
	}
	for _, e := range es {
		if g := e.Gather; g == nil || g.Src != g0.Src || g.Unit != g0.Unit || g.Unit <= 0 || e.Size%g.Unit != 0 {
			return false
		}
	}
	return true
}

// Run is N source units from unit Src, read into the output at byte At.
// It holds no pointer: a shuffled batch has a million runs, which the
// collector then need not scan.
type Run struct{ Src, N, At int64 }

// Runs collects runs in output order, as Gather.Runs emits them (Add):
// output unit dst goes to byte Base+dst*Unit of the output. A run that
// continues the last one in both source and output joins it, so a
// contiguous shard becomes one read.
type Runs struct {
	List       []Run
	Unit, Base int64
	Scratch    []Run // SortRuns's
	lastDst    int64 // output unit of the last run; -1: none to join
}

// Reset empties the list for output units at Base, Unit bytes each.
func (r *Runs) Reset(unit, base int64) {
	r.List, r.Unit, r.Base, r.lastDst = r.List[:0], unit, base, -1
}

// Cut starts runs that never join the ones before (another output).
func (r *Runs) Cut() { r.lastDst = -1 }

func (r *Runs) Add(dst, src, n int64) {
	if k := len(r.List) - 1; k >= 0 && r.lastDst >= 0 {
		if l := &r.List[k]; l.Src+l.N == src && r.lastDst+l.N == dst {
			l.N += n
			return
		}
	}
	r.lastDst = dst
	r.List = append(r.List, Run{Src: src, N: n, At: r.Base + dst*r.Unit})
}

// Sort orders the list by source position.
func (r *Runs) Sort() { r.Scratch = SortRuns(r.List, r.Scratch) }

// Reads whose source ranges lie within mergeGap bytes of each other are
// merged into one read of their whole span (up to maxSpan) and scattered:
// copying a few KiB costs less than a system call per row, which is what
// shuffled shards would otherwise pay.
const (
	mergeGap = 4 << 10
	maxSpan  = 1 << 20
)

var spanPool = sync.Pool{New: func() any { b := make([]byte, maxSpan); return &b }}

// ReadRuns reads runs, sorted by Src, from src into their places in out.
func ReadRuns(src RowSource, unit int64, runs []Run, out []byte) error {
	var span *[]byte
	defer func() {
		if span != nil {
			spanPool.Put(span)
		}
	}()
	for i := 0; i < len(runs); {
		j, end := i+1, runs[i].Src+runs[i].N
		for j < len(runs) && (runs[j].Src-end)*unit <= mergeGap && (max(end, runs[j].Src+runs[j].N)-runs[i].Src)*unit <= maxSpan {
			end = max(end, runs[j].Src+runs[j].N)
			j++
		}
		if j == i+1 { // a lone run: straight into place
			r := runs[i]
			if err := src.ReadRows(out[r.At:r.At+r.N*unit], r.Src); err != nil {
				return err
			}
			i = j
			continue
		}
		if span == nil {
			span = spanPool.Get().(*[]byte)
		}
		base := runs[i].Src
		s := (*span)[:(end-base)*unit]
		if err := src.ReadRows(s, base); err != nil {
			return err
		}
		for _, r := range runs[i:j] {
			copy(out[r.At:r.At+r.N*unit], s[(r.Src-base)*unit:])
		}
		i = j
	}
	return nil
}

// ReadRunsParallel is ReadRuns split between workers goroutines, each
// over its own range of the source.
func ReadRunsParallel(src RowSource, unit int64, runs []Run, out []byte, workers int) error {
	workers = max(1, min(workers, len(runs)))
	if workers == 1 {
		return ReadRuns(src, unit, runs, out)
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		part := runs[len(runs)*w/workers : len(runs)*(w+1)/workers]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = ReadRuns(src, unit, part, out)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Gatherer writes extents of many shards together (Write). It keeps its
// buffers from call to call: a fresh batch buffer faults its pages in
// again, and that cost as much as the reads.
type Gatherer struct {
	Budget  int64 // the most shard bytes gathered in memory at once
	Workers int
	buf     *[]byte
	runs    Runs
}

// Close gives the buffers back.
func (gt *Gatherer) Close() {
	if gt.buf != nil {
		PutBuf(gt.buf)
		gt.buf = nil
	}
	gt.runs = Runs{}
}

// Write writes the extents es (es[g] into files[g]; SameSource(es) holds)
// in batches of shards whose bytes fit in the budget: a batch's runs are
// read in source order, nearby ones merged into one read, and scattered
// to the shards' bytes, which are then written whole. A shard larger than
// the budget is written alone, in windows.
func (gt *Gatherer) Write(ctx context.Context, files []*os.File, es []Extent) error {
	unit := es[0].Gather.Unit
	src := es[0].Gather.Src
	for i := 0; i < len(es); {
		if err := ctx.Err(); err != nil {
			return err
		}
		j, total := i, int64(0)
		for j < len(es) && (j == i || total+es[j].Size <= gt.Budget) {
			total += es[j].Size
			j++
		}
		if total > gt.Budget {
			if err := WriteExtents(ctx, files[i], es[i:j], gt.Budget, nil); err != nil {
				return err
			}
			i = j
			continue
		}
		if gt.buf == nil {
			gt.buf = GetBuf(gt.Budget)
		}
		buf := (*gt.buf)[:total]
		rs := &gt.runs
		rs.Reset(unit, 0)
		for g := i; g < j; g++ {
			rs.Cut()
			es[g].Gather.Runs(0, es[g].Size/unit, rs.Add)
			rs.Base += es[g].Size
		}
		rs.Sort()
		if err := ReadRunsParallel(src, unit, rs.List, buf, gt.Workers); err != nil {
			return err
		}
		// the shards' bytes are written on every core, like they are read
		offs := make([]int64, j-i+1)
		for g := i; g < j; g++ {
			offs[g-i+1] = offs[g-i] + es[g].Size
		}
		if err := inParallel(j-i, gt.Workers, func(k int) error {
			return filewrite.WriteAt(files[i+k], buf[offs[k]:offs[k+1]], es[i+k].Off)
		}); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// inParallel runs fn(0..n-1) on up to workers goroutines; the first error
// wins.
func inParallel(n, workers int, fn func(k int) error) error {
	workers = max(1, min(workers, n))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < n && errs[w] == nil; k += workers {
				errs[w] = fn(k)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// SortRuns sorts runs by Src (a radix sort, 11 bits a pass: a shuffled
// batch's runs are many and their keys small), using scratch, which it
// returns grown for the next call.
func SortRuns(runs, scratch []Run) []Run {
	if len(runs) < 256 {
		for i := 1; i < len(runs); i++ { // insertion sort
			for k := i; k > 0 && runs[k].Src < runs[k-1].Src; k-- {
				runs[k], runs[k-1] = runs[k-1], runs[k]
			}
		}
		return scratch
	}
	var most int64
	for _, r := range runs {
		most = max(most, r.Src)
	}
	if cap(scratch) < len(runs) {
		scratch = make([]Run, len(runs))
	}
	from, to := runs, scratch[:len(runs)]
	const digit = 11
	for shift := 0; shift < bits.Len64(uint64(most)); shift += digit {
		var count [1<<digit + 1]int
		for _, r := range from {
			count[(r.Src>>shift)&(1<<digit-1)+1]++
		}
		for d := 1; d < len(count); d++ {
			count[d] += count[d-1]
		}
		for _, r := range from {
			d := (r.Src >> shift) & (1<<digit - 1)
			to[count[d]] = r
			count[d]++
		}
		from, to = to, from
	}
	if &from[0] != &runs[0] {
		copy(runs, from)
	}
	return scratch
}

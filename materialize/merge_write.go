package materialize

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/h5ad"
)

// ---------------------------------------------------------------- write

// write makes the output: its skeleton with libhdf5 (groups, attributes,
// copied elements; every large array allocated but not written), then,
// input by input, its arrays copied into their extents and its strings
// written. Plain byte copies run on a goroutine of their own, overlapping
// libhdf5's work. The skeleton stays open in libhdf5 meanwhile: libhdf5
// never touches the extents, which are written through another descriptor.
func (m *merger) write(tmp string) (err error) {
	f, err := h5.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%s: %v", tmp, cerr)
		}
	}()
	root, err := f.Root()
	if err != nil {
		return err
	}
	defer root.Close()
	if err := m.tpl.Root.CopyAttrsTo(&root.Object); err != nil {
		return err
	}
	if err := m.createKids(m.root, root); err != nil {
		return fmt.Errorf("%s: %v", tmp, err)
	}
	strs, err := m.openStrings(root)
	if err != nil {
		return err
	}
	defer strs.close()
	out, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer out.Close()
	for _, n := range m.leaves {
		if p := n.arrays["indptr"]; p != nil { // row 0 of every indptr
			if _, err := out.WriteAt(make([]byte, p.ints.Size), p.off); err != nil {
				return err
			}
		}
	}
	if m.o.Progress != nil {
		m.o.Progress.Begin(len(m.inputs), m.n)
		defer m.o.Progress.End()
	}
	cp := newCopier()
	s := &streamer{m: m, out: out, cp: cp}
	for i, in := range m.inputs {
		start := time.Now()
		if err := m.withInput(i, func(src *h5ad.Source) error { return s.input(i, src, strs) }); err != nil {
			cp.wait()
			return err
		}
		if m.o.Progress != nil {
			m.o.Progress.Cells(in.nobs)
			m.o.Progress.ShardDone(i, in.path, in.nobs, time.Since(start))
		}
	}
	if err := cp.wait(); err != nil {
		return err
	}
	return out.Close()
}

// copier runs the plain byte copies (copy_file_range) on a goroutine of
// their own, so the kernel moves bytes while libhdf5 (which serialises
// its callers) reads the next input and writes strings.
type copier struct {
	jobs chan copyJob
	done chan struct{}
	err  error
}

type copyJob struct {
	in            *os.File
	inOff, outOff int64
	out           *os.File
	size          int64
	closeIn       bool // the input's last job: close it
}

func newCopier() *copier {
	c := &copier{jobs: make(chan copyJob, 256), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for j := range c.jobs {
			if j.closeIn {
				j.in.Close()
				continue
			}
			if c.err == nil {
				if err := copyRange(j.in, j.inOff, j.out, j.outOff, j.size); err != nil {
					c.err = fmt.Errorf("%s: %w", j.in.Name(), err)
				}
			}
		}
	}()
	return c
}

func (c *copier) wait() error {
	close(c.jobs)
	<-c.done
	return c.err
}

func (m *merger) createKids(n *node, g *h5.Group) error {
	for _, k := range n.kids {
		if k.dropped != "" {
			continue
		}
		if err := m.createNode(k, g); err != nil {
			return err
		}
	}
	return nil
}

func intsOf(ds *h5.Dataset) engine.Ints {
	return engine.Ints{Size: ds.ElemSize, BE: ds.BigEndian, Unsigned: !ds.Signed()}
}

// array creates an extent-allocated array of the output: like tpl's type,
// or signed little-endian integers of width bytes when width > 0.
func (m *merger) array(n *node, g *h5.Group, member string, tpl *h5.Dataset, width int, dims []int64) error {
	var ds *h5.Dataset
	var err error
	ints := engine.Ints{}
	if width > 0 {
		ds, err = g.CreateIntDataset(member, width, dims, h5.Layout{Extent: true})
		ints = engine.Ints{Size: width}
	} else {
		ds, err = g.CreateDataset(member, tpl, dims, h5.Layout{Extent: true})
		if tpl.IsInteger {
			ints = intsOf(tpl)
		}
	}
	if err != nil {
		return err
	}
	defer ds.Close()
	if err := tpl.CopyAttrsTo(&ds.Object); err != nil {
		return err
	}
	size := int64(ds.ElemSize)
	for _, d := range dims {
		size *= d
	}
	off := int64(-1)
	if size > 0 {
		if off = ds.Offset(); off < 0 {
			return fmt.Errorf("%s: libhdf5 gave no file offset for an early-allocated dataset", ds.Path)
		}
	}
	if n.arrays == nil {
		n.arrays = map[string]*outArray{}
		m.leaves = append(m.leaves, n)
	}
	key := member
	if n.kind == kDense || n.kind == kCodes07 {
		key = ""
	}
	n.arrays[key] = &outArray{path: ds.Path, off: off, size: size, ints: ints}
	return nil
}

func (m *merger) createNode(n *node, parent *h5.Group) error {
	t := m.tpl.Root
	switch n.kind {
	case kCopy, kSameCopy:
		return parent.CopyFrom(t, n.path, n.name)
	case kIfSameVar, kVarFrame:
		if n.axis.same {
			return parent.CopyFrom(t, n.path, n.name)
		}
		if !t.IsGroup(n.path) {
			return nil
		}
		if n.kind == kIfSameVar {
			return m.emptyGroup(n, parent)
		}
		return m.indexOnly(n, parent)
	case kGroup, kMapping, kFrame:
		return m.group(n, parent)
	case kCSR:
		return m.csrSkeleton(n, parent)
	case kCat:
		return m.catSkeleton(n, parent)
	}
	td, err := t.OpenDataset(n.path)
	if err != nil {
		return err
	}
	defer td.Close()
	dims := append([]int64{m.n}, td.Dims[1:]...)
	switch {
	case n.graph:
		dims[1] = m.n
	case n.axis != nil:
		dims[1] = n.axis.nOut
	}
	if n.kind == kStrings {
		ds, err := parent.CreateDataset(n.name, td, dims, h5.Layout{})
		if err != nil {
			return err
		}
		defer ds.Close()
		return td.CopyAttrsTo(&ds.Object)
	}
	return m.array(n, parent, n.name, td, 0, dims)
}

// twinGroup opens n in the first input (the template) and creates its
// output twin under parent.
func (m *merger) twinGroup(n *node, parent *h5.Group) (tg, g *h5.Group, err error) {
	if tg, err = m.tpl.Root.OpenGroup(n.path); err != nil {
		return nil, nil, err
	}
	if g, err = parent.CreateGroup(n.name); err != nil {
		tg.Close()
		return nil, nil, err
	}
	return tg, g, nil
}

func (m *merger) emptyGroup(n *node, parent *h5.Group) error {
	tg, g, err := m.twinGroup(n, parent)
	if err != nil {
		return err
	}
	defer tg.Close()
	defer g.Close()
	return tg.CopyAttrsTo(&g.Object)
}

// indexOnly writes a joined var: its index alone, as anndata.concat does.
func (m *merger) indexOnly(n *node, parent *h5.Group) error {
	tg, err := m.tpl.Root.OpenGroup(n.path)
	if err != nil {
		return err
	}
	defer tg.Close()
	idx, _ := tg.AttrString("_index")
	g, err := parent.CreateGroup(n.name)
	if err != nil {
		return err
	}
	defer g.Close()
	if err := tg.CopyAttrsTo(&g.Object, "column-order"); err != nil {
		return err
	}
	if err := g.WriteAttrFloat64s("column-order", nil); err != nil {
		return err
	}
	td, err := tg.OpenDataset(idx)
	if err != nil {
		return err
	}
	defer td.Close()
	names := n.axis.out
	if n.axis.sameIdx {
		names = n.axis.first
	}
	ds, err := g.CreateDataset(idx, td, []int64{int64(len(names))}, h5.Layout{})
	if err != nil {
		return err
	}
	defer ds.Close()
	_, cset, err := td.ReadStrings([]int64{})
	if err != nil {
		return err
	}
	if err := ds.WriteStrings(names, cset); err != nil {
		return err
	}
	return td.CopyAttrsTo(&ds.Object)
}

func (m *merger) group(n *node, parent *h5.Group) error {
	tg, g, err := m.twinGroup(n, parent)
	if err != nil {
		return err
	}
	defer tg.Close()
	defer g.Close()
	var skip []string
	shape, hasShape := tg.AttrInts("shape")
	reshape := n.shapeAxis != nil && hasShape && len(shape) == 2 && shape[0] == m.inputs[0].nobs
	if reshape {
		skip = append(skip, "shape")
	}
	if len(n.dropCols) > 0 {
		skip = append(skip, "column-order")
	}
	if err := tg.CopyAttrsTo(&g.Object, skip...); err != nil {
		return err
	}
	if reshape {
		if err := g.WriteAttrInts("shape", &tg.Object, []int64{m.n, n.shapeAxis.nOut}); err != nil {
			return err
		}
	}
	if len(n.dropCols) > 0 {
		cols, _ := tg.AttrStrings("column-order")
		cols = slices.DeleteFunc(cols, func(c string) bool { return slices.Contains(n.dropCols, c) })
		if len(cols) == 0 {
			err = g.WriteAttrFloat64s("column-order", nil)
		} else {
			err = g.WriteAttrStrings("column-order", cols)
		}
		if err != nil {
			return err
		}
	}
	return m.createKids(n, g)
}

func (m *merger) csrSkeleton(n *node, parent *h5.Group) error {
	tg, err := m.tpl.Root.OpenGroup(n.path)
	if err != nil {
		return err
	}
	defer tg.Close()
	shapeAttr := h5ad.ShapeAttr(&tg.Object)
	g, err := parent.CreateGroup(n.name)
	if err != nil {
		return err
	}
	defer g.Close()
	if err := tg.CopyAttrsTo(&g.Object, shapeAttr); err != nil {
		return err
	}
	cols := n.cols
	switch {
	case n.graph:
		cols = m.n
	case n.axis != nil:
		cols = n.axis.nOut
	}
	if err := g.WriteAttrInts(shapeAttr, &tg.Object, []int64{m.n, cols}); err != nil {
		return err
	}
	var tds [3]*h5.Dataset
	for k, name := range []string{"data", "indices", "indptr"} {
		if tds[k], err = tg.OpenDataset(name); err != nil {
			return err
		}
		defer tds[k].Close()
	}
	if err := m.array(n, g, "data", tds[0], 0, []int64{n.total}); err != nil {
		return err
	}
	// integer types hold what they must: column numbers, then entry counts
	// (int64 once the total passes 2^31-1); otherwise the inputs' own type
	idxW := engine.WidthFor(max(cols-1, 0), n.idxW)
	if n.idxSame && idxW == tds[1].ElemSize {
		idxW = 0
	}
	if err := m.array(n, g, "indices", tds[1], idxW, []int64{n.total}); err != nil {
		return err
	}
	ptrW := engine.WidthFor(n.total, n.ptrW)
	if n.ptrSame && ptrW == tds[2].ElemSize {
		ptrW = 0
	}
	return m.array(n, g, "indptr", tds[2], ptrW, []int64{m.n + 1})
}

func (m *merger) catSkeleton(n *node, parent *h5.Group) error {
	c := n.cat
	tg, g, err := m.twinGroup(n, parent)
	if err != nil {
		return err
	}
	defer tg.Close()
	defer g.Close()
	if err := tg.CopyAttrsTo(&g.Object); err != nil {
		return err
	}
	if !c.differ {
		err = g.CopyFrom(tg, "categories", "categories")
	} else {
		err = func() error {
			tc, err := tg.OpenDataset("categories")
			if err != nil {
				return err
			}
			defer tc.Close()
			_, cset, err := tc.ReadStrings([]int64{})
			if err != nil {
				return err
			}
			ds, err := g.CreateDataset("categories", tc, []int64{int64(len(c.union))}, h5.Layout{})
			if err != nil {
				return err
			}
			defer ds.Close()
			if err := ds.WriteStrings(c.union, cset); err != nil {
				return err
			}
			return tc.CopyAttrsTo(&ds.Object)
		}()
	}
	if err != nil {
		return err
	}
	tcodes, err := tg.OpenDataset("codes")
	if err != nil {
		return err
	}
	defer tcodes.Close()
	w := c.codesW
	if c.sameType && w == tcodes.ElemSize {
		w = 0
	}
	return m.array(n, g, "codes", tcodes, w, []int64{m.n})
}

// stringCols are the output's string columns, written input by input.
type stringCols struct {
	mu    sync.Mutex // one writer at a time
	paths []string
	outs  []*h5.Dataset
	csets []int
}

func (m *merger) openStrings(root *h5.Group) (*stringCols, error) {
	sc := &stringCols{}
	m.walk(m.root, func(n *node) {
		if n.dropped == "" && n.kind == kStrings {
			sc.paths = append(sc.paths, n.path)
		}
	})
	for _, p := range sc.paths {
		ds, err := root.OpenDataset(p)
		if err != nil {
			sc.close()
			return nil, err
		}
		sc.outs = append(sc.outs, ds)
		_, cset, err := ds.ReadStrings([]int64{})
		if err != nil {
			sc.close()
			return nil, err
		}
		sc.csets = append(sc.csets, cset)
	}
	return sc, nil
}

func (sc *stringCols) close() {
	for _, ds := range sc.outs {
		ds.Close()
	}
	sc.outs = nil
}

// write copies input src's strings into their rows.
func (sc *stringCols) write(src *h5ad.Source, in *mergeInput) error {
	for k, p := range sc.paths {
		ds, err := src.Root.OpenDataset(p)
		if err != nil {
			return err
		}
		strs, err := readStrings(src, ds)
		ds.Close()
		if err != nil {
			return err
		}
		if int64(len(strs)) != in.nobs {
			return fmt.Errorf("%s changed while merging", p)
		}
		sc.mu.Lock()
		err = sc.outs[k].WriteStringRows(strs, in.row0, sc.csets[k])
		sc.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------- stream

// input copies input i's arrays into their extents and its strings.
func (s *streamer) input(i int, src *h5ad.Source, strs *stringCols) error {
	raw, err := os.Open(src.Path)
	if err != nil {
		return err
	}
	defer func() { s.cp.jobs <- copyJob{in: raw, closeIn: true} }()
	s.src, s.raw, s.in, s.i, s.maps = src, raw, s.m.inputs[i], i, map[*varAxis]*engine.ColMap{}
	for _, n := range s.m.leaves {
		if err := s.leaf(n); err != nil {
			return fmt.Errorf("%s: %s: %w", src.Path, n.path, err)
		}
	}
	if err := strs.write(src, s.in); err != nil {
		return fmt.Errorf("%s: %w", src.Path, err)
	}
	return nil
}

type streamer struct {
	m    *merger
	cp   *copier
	out  *os.File
	src  *h5ad.Source
	raw  *os.File
	in   *mergeInput
	i    int
	maps map[*varAxis]*engine.ColMap
	bufs [4][]byte
}

func (s *streamer) buf(k int, n int64) []byte {
	if int64(cap(s.bufs[k])) < n {
		s.bufs[k] = make([]byte, n)
	}
	return s.bufs[k][:n]
}

func (s *streamer) colMap(a *varAxis) (*engine.ColMap, error) {
	if a == nil {
		return nil, nil
	}
	if cm, ok := s.maps[a]; ok {
		return cm, nil
	}
	cm, err := a.colMap(s.src)
	if err != nil {
		return nil, err
	}
	s.maps[a] = cm
	return cm, nil
}

func (s *streamer) open(p string) (*h5.Dataset, error) { return s.src.Root.OpenDataset(p) }

func (s *streamer) leaf(n *node) error {
	switch n.kind {
	case kCSR:
		return s.csr(n)
	case kCat:
		return s.codes(n)
	}
	ds, err := s.open(n.path)
	if err != nil {
		return err
	}
	defer ds.Close()
	oa := n.arrays[""]
	if oa.off < 0 || s.in.nobs == 0 {
		return nil
	}
	cm, err := s.colMap(n.axis)
	if err != nil {
		return err
	}
	switch {
	case n.graph:
		return s.denseGraph(ds, oa)
	case cm != nil:
		return s.denseScatter(ds, cm, oa)
	}
	return s.copyRows(ds, 0, s.in.nobs, oa.off+s.in.row0*ds.RowBytes())
}

// copyRows copies rows [r0, r0+n) of ds to outOff: in the kernel when the
// bytes lie as they are in the input, else through windows.
func (s *streamer) copyRows(ds *h5.Dataset, r0, n, outOff int64) error {
	rb := ds.RowBytes()
	if n == 0 || rb == 0 {
		return nil
	}
	if ds.Plain() {
		s.cp.jobs <- copyJob{in: s.raw, inOff: ds.Offset() + r0*rb, out: s.out, outOff: outOff, size: n * rb}
		return nil
	}
	arr := s.src.Array(ds)
	step := max(1, window/rb)
	for r := int64(0); r < n; r += step {
		k := min(step, n-r)
		p := s.buf(0, k*rb)
		if err := arr.ReadRows(p, r0+r); err != nil {
			return err
		}
		if _, err := s.out.WriteAt(p, outOff+r*rb); err != nil {
			return err
		}
	}
	return nil
}

// copyRange moves size bytes between files with copy_file_range, falling
// back to read and write where the kernel cannot.
func copyRange(in *os.File, inOff int64, out *os.File, outOff, size int64) error {
	for size > 0 {
		n, err := unix.CopyFileRange(int(in.Fd()), &inOff, int(out.Fd()), &outOff, int(min(size, 1<<30)), 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
				return copyRangeRW(in, inOff, out, outOff, size)
			}
			return err
		}
		if n == 0 {
			return errors.New("the file ends before the array does; it is truncated")
		}
		size -= int64(n)
	}
	return nil
}

func copyRangeRW(in *os.File, inOff int64, out *os.File, outOff, size int64) error {
	buf := make([]byte, min(size, window))
	for size > 0 {
		p := buf[:min(size, int64(len(buf)))]
		if _, err := in.ReadAt(p, inOff); err != nil {
			if err == io.EOF {
				return errors.New("the file ends before the array does; it is truncated")
			}
			return err
		}
		if _, err := out.WriteAt(p, outOff); err != nil {
			return err
		}
		inOff, outOff, size = inOff+int64(len(p)), outOff+int64(len(p)), size-int64(len(p))
	}
	return nil
}

// convertInts re-encodes elements [e0, e0+n) of a 1-D integer dataset into
// the output type at outOff, through f when not nil.
func (s *streamer) convertInts(ds *h5.Dataset, e0, n int64, oc engine.Ints, outOff int64, f func(int64) int64) error {
	ic := intsOf(ds)
	arr := s.src.Array(ds)
	step := max(1, window/int64(max(ic.Size, oc.Size)))
	for e := int64(0); e < n; e += step {
		k := min(step, n-e)
		in, out := s.buf(0, k*int64(ic.Size)), s.buf(1, k*int64(oc.Size))
		if err := arr.ReadRows(in, e0+e); err != nil {
			return err
		}
		engine.ConvertInts(in, ic, out, oc, int(k), f)
		if _, err := s.out.WriteAt(out, outOff+e*int64(oc.Size)); err != nil {
			return err
		}
	}
	return nil
}

func (s *streamer) denseScatter(ds *h5.Dataset, cm *engine.ColMap, oa *outArray) error {
	esz := int64(ds.ElemSize)
	inRB, outRB := ds.RowBytes(), cm.NOut*esz
	if len(ds.Dims) != 2 {
		return fmt.Errorf("expected a 2-D array, got shape %v", ds.Dims)
	}
	arr := s.src.Array(ds)
	step := max(1, window/max(inRB, outRB, 1))
	for r := int64(0); r < s.in.nobs; r += step {
		k := min(step, s.in.nobs-r)
		in, out := s.buf(0, k*inRB), s.buf(1, k*outRB)
		if err := arr.ReadRows(in, r); err != nil {
			return err
		}
		cm.DenseRows(in, int(k), int(esz), out)
		if _, err := s.out.WriteAt(out, oa.off+(s.in.row0+r)*outRB); err != nil {
			return err
		}
	}
	return nil
}

// denseGraph writes an input's dense obsp rows as its diagonal block.
func (s *streamer) denseGraph(ds *h5.Dataset, oa *outArray) error {
	esz := int64(ds.ElemSize)
	inRB, outRB := ds.RowBytes(), s.m.n*esz
	arr := s.src.Array(ds)
	step := max(1, window/outRB)
	for r := int64(0); r < s.in.nobs; r += step {
		k := min(step, s.in.nobs-r)
		in, out := s.buf(0, k*inRB), s.buf(1, k*outRB)
		if err := arr.ReadRows(in, r); err != nil {
			return err
		}
		clear(out)
		for j := int64(0); j < k; j++ {
			copy(out[j*outRB+s.in.row0*esz:], in[j*inRB:(j+1)*inRB])
		}
		if _, err := s.out.WriteAt(out, oa.off+(s.in.row0+r)*outRB); err != nil {
			return err
		}
	}
	return nil
}

// codes stacks a categorical's codes, renumbered when categories were unified.
func (s *streamer) codes(n *node) error {
	c := n.cat
	oa := n.arrays["codes"]
	ds, err := s.open(n.path + "/codes")
	if err != nil {
		return err
	}
	defer ds.Close()
	if oa.off < 0 || s.in.nobs == 0 {
		return nil
	}
	out := oa.off + s.in.row0*int64(oa.ints.Size)
	if !c.differ && intsOf(ds) == oa.ints {
		return s.copyRows(ds, 0, s.in.nobs, out)
	}
	var f func(int64) int64
	var bad int64
	isBad := false
	if c.differ {
		cats, err := s.open(n.path + "/categories")
		if err != nil {
			return err
		}
		strs, err := readStrings(s.src, cats)
		cats.Close()
		if err != nil {
			return err
		}
		pos := make(map[string]int64, len(c.union))
		for k, v := range c.union {
			pos[v] = int64(k)
		}
		to := make([]int64, len(strs))
		for k, v := range strs {
			to[k] = pos[v]
		}
		f = func(v int64) int64 {
			if v < 0 {
				return -1
			}
			if v >= int64(len(to)) {
				bad, isBad = v, true
				return -1
			}
			return to[v]
		}
	}
	if err := s.convertInts(ds, 0, s.in.nobs, oa.ints, out, f); err != nil {
		return err
	}
	if isBad {
		return fmt.Errorf("code %d has no category; the categorical is corrupt", bad)
	}
	return nil
}

func (s *streamer) csr(n *node) error {
	var ds [3]*h5.Dataset
	for k, name := range []string{"data", "indices", "indptr"} {
		var err error
		if ds[k], err = s.open(n.path + "/" + name); err != nil {
			return err
		}
		defer ds[k].Close()
	}
	data, indices, indptr := ds[0], ds[1], ds[2]
	od, oi, op := n.arrays["data"], n.arrays["indices"], n.arrays["indptr"]
	i, nobs, row0 := s.i, s.in.nobs, s.in.row0
	p0, base := n.p0[i], n.base[i]
	last, err := indptr.ReadInt64s(nobs, 1)
	if err != nil {
		return err
	}
	nIn := last[0] - p0
	cm, err := s.colMap(n.axis)
	if err != nil {
		return err
	}
	esz, isz := int64(data.ElemSize), int64(oi.ints.Size)
	var f func(int64) int64
	var bad int64
	isBad := false
	switch {
	case cm == nil && !n.graph && intsOf(indices) == oi.ints:
		if err := s.copyRows(indices, p0, nIn, oi.off+base*isz); err != nil {
			return err
		}
	case cm == nil || (!cm.Drops && cm.Monotone):
		switch {
		case n.graph:
			f = func(v int64) int64 {
				if v < 0 || v >= nobs {
					bad, isBad = v, true
				}
				return v + row0
			}
		case cm != nil:
			f = func(v int64) int64 {
				if v < 0 || v >= int64(len(cm.To)) {
					bad, isBad = v, true
					return 0
				}
				return int64(cm.To[v])
			}
		}
		if err := s.convertInts(indices, p0, nIn, oi.ints, oi.off+base*isz, f); err != nil {
			return err
		}
		if isBad {
			return fmt.Errorf("column index %d out of range; the sparse matrix is corrupt", bad)
		}
	default:
		return s.csrRows(n, data, indices, indptr, cm)
	}
	if nIn != n.nnz[i] {
		return fmt.Errorf("changed while merging (%d entries, %d before)", nIn, n.nnz[i])
	}
	if err := s.copyRows(data, p0, nIn, od.off+base*esz); err != nil {
		return err
	}
	psz := int64(op.ints.Size)
	return s.convertInts(indptr, 1, nobs, op.ints, op.off+(row0+1)*psz, func(v int64) int64 { return v - p0 + base })
}

// csrRows is the general sparse path: rows in windows, entries of dropped
// genes left out, columns renumbered (and re-sorted when their order
// changes), indptr rebuilt from the kept counts.
func (s *streamer) csrRows(n *node, data, indices, indptr *h5.Dataset, cm *engine.ColMap) error {
	const rowWin, entWin = 1 << 16, 1 << 19
	od, oi, op := n.arrays["data"], n.arrays["indices"], n.arrays["indptr"]
	nobs, row0, base := s.in.nobs, s.in.row0, n.base[s.i]
	ic, pc := intsOf(indices), intsOf(indptr)
	esz, isz, psz := int64(data.ElemSize), int64(oi.ints.Size), int64(op.ints.Size)
	ptrArr, idxArr, dataArr := s.src.Array(indptr), s.src.Array(indices), s.src.Array(data)
	ptrRaw := make([]byte, (rowWin+1)*int64(pc.Size))
	ptr := make([]int64, rowWin+1)
	counts := make([]int64, rowWin)
	pbuf := make([]byte, rowWin*psz)
	var pos int64
	for r0 := int64(0); r0 < nobs; {
		k := min(rowWin, nobs-r0)
		if err := ptrArr.ReadRows(ptrRaw[:(k+1)*int64(pc.Size)], r0); err != nil {
			return err
		}
		for r := int64(0); r <= k; r++ {
			ptr[r] = pc.Get(ptrRaw[r*int64(pc.Size):])
			if r > 0 && ptr[r] < ptr[r-1] {
				return fmt.Errorf("indptr decreases at row %d; the sparse matrix is corrupt", r0+r-1)
			}
		}
		for a := int64(0); a < k; {
			b := a + 1
			for b < k && ptr[b+1]-ptr[a] <= entWin {
				b++
			}
			e0, ne := ptr[a], ptr[b]-ptr[a]
			idx, dat := s.buf(0, ne*int64(ic.Size)), s.buf(1, ne*esz)
			if err := idxArr.ReadRows(idx, e0); err != nil {
				return err
			}
			if err := dataArr.ReadRows(dat, e0); err != nil {
				return err
			}
			outIdx, outDat := s.buf(2, ne*isz), s.buf(3, ne*esz)
			w, err := cm.CSRWindow(ptr[a:b+1], idx, ic, dat, int(esz), outIdx, oi.ints, outDat, counts[:b-a])
			if err != nil {
				return err
			}
			if w > 0 {
				if _, err := s.out.WriteAt(outIdx[:w*isz], oi.off+(base+pos)*isz); err != nil {
					return err
				}
				if _, err := s.out.WriteAt(outDat[:w*esz], od.off+(base+pos)*esz); err != nil {
					return err
				}
			}
			for r := a; r < b; r++ {
				pos += counts[r-a]
				op.ints.Put(pbuf[(r-a)*psz:], base+pos)
			}
			if _, err := s.out.WriteAt(pbuf[:(b-a)*psz], op.off+(row0+r0+a+1)*psz); err != nil {
				return err
			}
			a = b
		}
		r0 += k
	}
	if pos != n.nnz[s.i] {
		return fmt.Errorf("changed while merging (%d entries kept, %d counted before)", pos, n.nnz[s.i])
	}
	return nil
}

// countKept counts the entries [p0, p0+n) of indices whose gene is kept.
func countKept(src *h5ad.Source, indices *h5.Dataset, p0, n int64, cm *engine.ColMap) (int64, error) {
	ic := intsOf(indices)
	arr := src.Array(indices)
	step := int64(window / ic.Size)
	buf := make([]byte, min(n, step)*int64(ic.Size))
	var kept int64
	for e := int64(0); e < n; e += step {
		k := min(step, n-e)
		p := buf[:k*int64(ic.Size)]
		if err := arr.ReadRows(p, p0+e); err != nil {
			return 0, err
		}
		c, err := cm.CountKept(p, ic, int(k))
		if err != nil {
			return 0, err
		}
		kept += c
	}
	return kept, nil
}

// ---------------------------------------------------------------- validate

// validate reopens the merged file and checks what every reader relies
// on: n_obs, the shape of every merged array, and that each indptr starts
// at 0, never decreases and ends at the number of entries.
func (m *merger) validate(tmp string) error {
	src, err := h5ad.Open(tmp)
	if err != nil {
		return err
	}
	defer src.Close()
	if src.NObs != m.n {
		return fmt.Errorf("obs has %d cells, expected %d", src.NObs, m.n)
	}
	var first error
	m.walk(m.root, func(n *node) {
		if first != nil || n.dropped != "" {
			return
		}
		switch n.kind {
		case kDense, kCodes07, kStrings:
			first = checkRows(src, n.path, m.n)
		case kCat:
			first = checkRows(src, n.path+"/codes", m.n)
		case kCSR:
			first = m.checkCSR(src, n)
		}
	})
	return first
}

func checkRows(src *h5ad.Source, p string, n int64) error {
	ds, err := src.Root.OpenDataset(p)
	if err != nil {
		return err
	}
	defer ds.Close()
	if len(ds.Dims) == 0 || ds.Dims[0] != n {
		return fmt.Errorf("%s has shape %v, expected %d rows", p, ds.Dims, n)
	}
	return nil
}

func (m *merger) checkCSR(src *h5ad.Source, n *node) error {
	g, err := src.Root.OpenGroup(n.path)
	if err != nil {
		return err
	}
	shape, _ := g.AttrInts(h5ad.ShapeAttr(&g.Object))
	g.Close()
	cols := n.cols
	switch {
	case n.graph:
		cols = m.n
	case n.axis != nil:
		cols = n.axis.nOut
	}
	if !slices.Equal(shape, []int64{m.n, cols}) {
		return fmt.Errorf("%s has shape %v, expected (%d, %d)", n.path, shape, m.n, cols)
	}
	for _, a := range []string{"data", "indices"} {
		if err := checkRows(src, n.path+"/"+a, n.total); err != nil {
			return err
		}
	}
	ptr, err := src.Root.OpenDataset(n.path + "/indptr")
	if err != nil {
		return err
	}
	defer ptr.Close()
	if len(ptr.Dims) != 1 || ptr.Dims[0] != m.n+1 {
		return fmt.Errorf("%s/indptr has shape %v, expected %d", n.path, ptr.Dims, m.n+1)
	}
	const step = 1 << 20
	prev := int64(0)
	for r := int64(0); r <= m.n; r += step {
		v, err := ptr.ReadInt64s(r, min(step, m.n+1-r))
		if err != nil {
			return err
		}
		if r == 0 && v[0] != 0 {
			return fmt.Errorf("%s/indptr starts at %d, not 0", n.path, v[0])
		}
		for k, x := range v {
			if x < prev {
				return fmt.Errorf("%s/indptr decreases at row %d", n.path, r+int64(k)-1)
			}
			prev = x
		}
	}
	if prev != n.total {
		return fmt.Errorf("%s/indptr ends at %d but there are %d entries", n.path, prev, n.total)
	}
	return nil
}

// readStrings reads a whole 1-D string dataset: straight from the global
// heap when its descriptors lie plainly in the file (libhdf5 converts
// strings one by one, slowly), else through libhdf5.
func readStrings(src *h5ad.Source, ds *h5.Dataset) ([]string, error) {
	desc := src.VlenDescriptors(ds)
	if desc == nil {
		strs, _, err := ds.ReadStrings(nil)
		return strs, err
	}
	const dsz = 16
	n := ds.Dims[0]
	raw := make([]byte, n*dsz)
	if err := desc.ReadRows(raw, 0); err != nil {
		return nil, err
	}
	out := make([]string, n)
	for i := range out {
		var err error
		if out[i], err = src.VlenString(raw[int64(i)*dsz:]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

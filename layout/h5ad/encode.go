package h5ad

// The h5ad encoder: any plan (package tree) as an h5ad file, with the HDF5
// types and attributes anndata/h5py give the same values: strings
// variable-length UTF-8, bools h5py's enum, scalars 0-d.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/h5w"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/tree"
)

// Encode writes the plan to path as an h5ad file. With comp "" large arrays
// are contiguous extents reserved but not written (returned, to fill in
// place with image.WriteExtents or serve as an image); with "gzip" or
// "lzf" the file is complete. The plan's verbatim elements are copied with
// H5Ocopy when its source is an h5ad file (template.go), and written from
// the tree otherwise, as are those an overlay changed (Source.Overlaid).
func Encode(z *tree.Plan, path string, comp string) ([]image.Extent, error) {
	// libhdf5 (thread-safe build) keeps its error stack per thread: every
	// call of the encode, and the read of the stack when one fails, must
	// run on one thread. Unlocked, a slow failing call (a flush at close
	// on a full disk) could return on another thread, whose stack is
	// empty, and the message said only "code -1".
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	filter, native, err := prepare(z, comp)
	if err != nil {
		return nil, err
	}
	if filter == h5.NoFilter {
		sk, err := encodeGo(z, native)
		if err == nil {
			return sk.extents, sk.writeFile(path)
		}
		if !errors.Is(err, h5w.ErrUnsupported) {
			return nil, err
		}
	}
	return encodeLib(z, path, filter, native)
}

// prepare checks the compression and readies the plan's verbatim
// elements: expanded into groups and arrays unless its h5ad source can
// copy them (all but those an overlay changed).
func prepare(z *tree.Plan, comp string) (h5.Filter, *Source, error) {
	var filter h5.Filter
	switch comp {
	case "":
	case "gzip":
		filter = h5.Gzip
	case "lzf":
		filter = h5.LZF
	default:
		return filter, nil, fmt.Errorf("unknown compression %q (use gzip or lzf)", comp)
	}
	var native *Source
	if z.Source != nil {
		native, _ = z.Source.Native.(*Source)
	}
	if native == nil {
		if err := z.ExpandVerbatim(); err != nil {
			return filter, nil, err
		}
	} else if err := expandOverlaid(z); err != nil {
		return filter, nil, err
	}
	return filter, native, nil
}

// encodeLib writes the plan with libhdf5: compressed outputs, and what
// layout/h5w does not express.
func encodeLib(z *tree.Plan, path string, filter h5.Filter, native *Source) ([]image.Extent, error) {
	var f *h5.File
	var err error
	if native != nil {
		f, err = native.startFromTemplate(rootVerbatim(z), path)
	} else {
		f, err = h5.Create(path)
	}
	if err != nil {
		return nil, err
	}
	w := &h5writer{filter: filter, groups: map[string]*h5.Group{}, native: native}
	err = w.write(f, z)
	for _, g := range w.groups {
		g.Close()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return w.extents, nil
}

type pendingRef struct{ obj, name, group, target string }

type h5writer struct {
	filter  h5.Filter
	groups  map[string]*h5.Group
	extents []image.Extent
	refs    []pendingRef
	native  *Source // the plan's h5ad source: verbatim elements are copied from it
}

func parentOf(p string) (string, string) {
	d, b := path.Split(p)
	return trimSlash(d), b
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func (w *h5writer) write(f *h5.File, z *tree.Plan) error {
	root, err := f.Root()
	if err != nil {
		return err
	}
	w.groups[""] = root
	for _, g := range z.Groups {
		hg := root
		if g.Path != "" {
			dir, base := parentOf(g.Path)
			parent, ok := w.groups[dir]
			if !ok {
				return fmt.Errorf("/%s: parent group missing", g.Path)
			}
			if hg, err = parent.CreateGroup(base); err != nil {
				return err
			}
			w.groups[g.Path] = hg
		} else if w.native != nil {
			continue // the template holds the root's attributes as they are
		}
		if err := w.attrs(&hg.Object, g.Path, g.Attrs); err != nil {
			return err
		}
	}
	if err := w.copyVerbatim(z.Verbatim); err != nil {
		return err
	}
	for _, a := range z.Arrays {
		if err := w.array(a); err != nil {
			return err
		}
	}
	for _, r := range w.refs {
		o, err := root.OpenObject(r.obj)
		if err != nil {
			return err
		}
		g, ok := w.groups[r.group]
		if ok && g.Has(r.target) {
			err = o.WriteAttrRef(r.name, g, r.target)
		} else {
			err = o.WriteAttrString(r.name, r.target)
		}
		o.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func h5Type(dt tree.DType) (h5.TypeInfo, error) {
	if dt.Rec != nil || dt.Kind == 'c' {
		return recordH5Type(dt) // a record array or complex numbers (records.go)
	}
	be := dt.Order == '>'
	switch dt.Kind {
	case 'b':
		return h5.TypeInfo{Class: h5.ClassBool, Size: 1}, nil
	case 'i', 'u':
		return h5.TypeInfo{Class: h5.ClassInt, Size: dt.Size, Signed: dt.Kind == 'i', BigEndian: be}, nil
	case 'f':
		return h5.TypeInfo{Class: h5.ClassFloat, Size: dt.Size, BigEndian: be}, nil
	case 'S':
		return h5.TypeInfo{Class: h5.ClassString, Size: dt.Size}, nil
	case 'O':
		return h5.TypeInfo{Class: h5.ClassString, Vlen: true, Cset: 1}, nil
	}
	return h5.TypeInfo{}, fmt.Errorf("dtype %s has no h5ad equivalent here", dt)
}

func (w *h5writer) array(a *tree.PlanArray) error {
	dir, base := parentOf(a.Path)
	g, ok := w.groups[dir]
	if !ok {
		return fmt.Errorf("/%s: parent group missing", a.Path)
	}
	strs, err := a.AllStrs() // (libhdf5 takes them at once)
	if err != nil {
		return fmt.Errorf("/%s: %v", a.Path, err)
	}
	dt := a.DType
	if dt.Kind == 'U' && len(a.Shape) == 0 {
		// a numpy unicode scalar (anndata's zarr string): h5py writes str
		// as a variable-length UTF-8 scalar
		s, err := unicodeScalar(a)
		if err != nil {
			return err
		}
		strs, dt = []string{s}, tree.DType{Kind: 'O', Order: '|'}
	}
	t, err := h5Type(dt)
	if err != nil {
		return fmt.Errorf("/%s: %v", a.Path, err)
	}
	if hasText(dt) {
		return w.records(g, base, t, a) // text fields become variable-length strings (structured.go)
	}
	var ds *h5.Dataset
	switch {
	case dt.Kind == 'O':
		if ds, err = g.CreateTyped(base, t, a.Shape, h5.Layout{}); err != nil {
			return err
		}
		err = ds.WriteStrings(strs, 1)
	case len(a.Shape) == 0:
		if ds, err = g.CreateTyped(base, t, a.Shape, h5.Layout{}); err != nil {
			return err
		}
		raw := make([]byte, dt.Size)
		if err = a.Fill(raw, 0); err == nil {
			err = ds.WriteAll(raw)
		}
	case w.filter == h5.NoFilter:
		if ds, err = g.CreateTyped(base, t, a.Shape, h5.Layout{Extent: true}); err != nil {
			return err
		}
		size := a.RowElems() * a.Shape[0] * int64(dt.Size)
		if size > 0 {
			off := ds.Offset()
			if off < 0 {
				err = fmt.Errorf("%s: libhdf5 gave no file offset for an early-allocated dataset", ds.Path)
			} else {
				w.extents = append(w.extents, image.Extent{Name: ds.Path, Off: off, Size: size, Fill: a.Fill, Spans: a.Spans, Gather: a.Gather})
			}
		}
	default:
		err = w.filtered(g, base, t, a, &ds)
	}
	if ds != nil {
		defer ds.Close()
	}
	if err != nil {
		return err
	}
	return w.attrs(&ds.Object, a.Path, a.Attrs)
}

func (w *h5writer) filtered(g *h5.Group, name string, t h5.TypeInfo, a *tree.PlanArray, out **h5.Dataset) error {
	rowBytes := a.RowElems() * int64(a.DType.Size)
	n := a.Shape[0]
	l := w.chunked(a.Shape, rowBytes)
	ds, err := g.CreateTyped(name, t, a.Shape, l)
	if err != nil {
		return err
	}
	*out = ds
	if rowBytes == 0 || n == 0 {
		return nil
	}
	return WriteChunks(ds, n, rowBytes, l.Chunk[0], a.Fill, w.filter, l.Level)
}

// attrs writes JSON attributes as h5py writes the same Python values.
func (w *h5writer) attrs(o *h5.Object, p string, attrs tree.Attrs) error {
	return writeAttrs(o, p, attrs, &w.refs)
}

// attrWriter is where attributes go: an object being written by libhdf5
// (h5.Object) or by layout/h5w (h5w.Object).
type attrWriter interface {
	WriteAttrString(name, s string) error
	WriteAttrStrings(name string, ss []string) error
	WriteAttrBools(name string, v []bool, scalar bool) error
	WriteAttrInt64s(name string, v []int64, scalar bool) error
	WriteAttrFloat64(name string, v float64) error
	WriteAttrFloat64s(name string, v []float64) error
}

// writeAttrs writes the attributes of the element at p, in name order
// (the same calls give the same bytes); anndata 0.7's references are
// left in refs, to write once every target exists.
func writeAttrs(o attrWriter, p string, attrs tree.Attrs, refs *[]pendingRef) error {
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	ho, _ := o.(*h5w.Object)
	if ho != nil {
		ho.GrowAttrs(len(names))
	}
	for _, name := range names {
		raw := attrs[name]
		if name == "categories" {
			v, err := attrValue(raw)
			if err != nil {
				return fmt.Errorf("/%s: attribute %q: %v", p, name, err)
			}
			if s, ok := v.(string); ok {
				// anndata 0.7's zarr layout names a column's categories
				// by path; its h5ad layout holds an object reference
				dir, _ := parentOf(p)
				*refs = append(*refs, pendingRef{obj: p, name: name, group: dir, target: s})
				continue
			}
		}
		var err error
		if ho != nil {
			var hv *h5w.AttrValue
			if hv, err = h5wAttrValue(raw); err == nil {
				ho.AddAttr(name, hv)
			}
		} else {
			var v any
			if v, err = attrValue(raw); err == nil {
				err = writeAttr(o, name, v)
			}
		}
		if err != nil {
			return fmt.Errorf("/%s: attribute %q: %v", p, name, err)
		}
	}
	return nil
}

// jsonMemo keeps what was made of attribute JSON, by that JSON: every
// shard of a mount carries the same few attributes (encoding-type,
// column-order, a shape per shard size), and decoding and converting them
// again per shard was a fifth of the time of listing 20,000 shards. What
// is kept is never changed. Bounded: over 1<<14 entries it starts over;
// JSON over 4 KiB is not kept.
type jsonMemo[T any] struct {
	mu sync.RWMutex // read on every core at once
	m  map[string]T
}

func (c *jsonMemo[T]) get(raw []byte) (T, bool) {
	c.mu.RLock()
	v, ok := c.m[string(raw)]
	c.mu.RUnlock()
	return v, ok
}

func (c *jsonMemo[T]) put(raw []byte, v T) {
	if len(raw) > 4096 {
		return
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= 1<<14 {
		c.m = map[string]T{}
	}
	c.m[string(raw)] = v
	c.mu.Unlock()
}

var (
	attrValues jsonMemo[any]            // decoded (attrValue)
	h5wValues  jsonMemo[*h5w.AttrValue] // converted for h5w (h5wAttrValue)
)

// h5wAttrValue is the attribute JSON raw as h5w writes it.
func h5wAttrValue(raw []byte) (*h5w.AttrValue, error) {
	if hv, ok := h5wValues.get(raw); ok {
		return hv, nil
	}
	v, err := attrValue(raw)
	if err != nil {
		return nil, err
	}
	hv, err := h5w.CaptureAttr(func(o *h5w.Object) error { return writeAttr(o, "", v) })
	if err != nil {
		return hv, err
	}
	h5wValues.put(raw, hv)
	return hv, nil
}

// attrValue decodes an attribute's JSON, numbers kept exact.
func attrValue(raw []byte) (any, error) {
	if v, ok := attrValues.get(raw); ok {
		return v, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	attrValues.put(raw, v)
	return v, nil
}

func writeAttr(o attrWriter, name string, v any) error {
	switch x := v.(type) {
	case string:
		return o.WriteAttrString(name, x)
	case bool:
		return o.WriteAttrBools(name, []bool{x}, true)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return o.WriteAttrInt64s(name, []int64{i}, true)
		}
		f, err := x.Float64()
		if err != nil {
			return err
		}
		return o.WriteAttrFloat64(name, f)
	case []any:
		if len(x) == 0 {
			return o.WriteAttrFloat64s(name, nil) // h5py writes [] as float64
		}
		var ss []string
		var bs []bool
		var is []int64
		var fs []float64
		floats := false
		for _, e := range x {
			switch y := e.(type) {
			case string:
				ss = append(ss, y)
			case bool:
				bs = append(bs, y)
			case json.Number:
				f, err := y.Float64()
				if err != nil {
					return err
				}
				fs = append(fs, f)
				if i, err := y.Int64(); err == nil {
					is = append(is, i)
				} else {
					floats = true
				}
			default:
				return fmt.Errorf("unsupported list element %v", e)
			}
		}
		switch {
		case len(ss) == len(x):
			return o.WriteAttrStrings(name, ss)
		case len(bs) == len(x):
			return o.WriteAttrBools(name, bs, false)
		case len(fs) == len(x) && !floats:
			return o.WriteAttrInt64s(name, is, false)
		case len(fs) == len(x):
			return o.WriteAttrFloat64s(name, fs)
		}
		return fmt.Errorf("mixed list %v", x)
	}
	return fmt.Errorf("unsupported value %v (h5ad attributes hold strings, numbers, booleans and lists of them)", v)
}

// EncodeImage encodes the plan as an h5ad image: the skeleton in a file in
// dir, unlinked at once (the image keeps it open), the extents made on
// read. Its bytes are those Encode and WriteExtents make. The image owns
// the plan: its source handles are released once the image is unreachable
// (a mount drops images without telling a reader that may still hold one).
func EncodeImage(z *tree.Plan, dir string) (*image.Skeleton, error) {
	im, err := encodeImage(z, dir)
	if err != nil {
		z.Close()
		return nil, err
	}
	runtime.AddCleanup(im, func(z *tree.Plan) { z.Close() }, z)
	return im, nil
}

// EncodedSize is the size of the file EncodeImage (and Encode without
// compression) makes of the plan, without making its bytes where h5w
// lays it out. The plan stays the caller's, ready for EncodeImage.
func EncodedSize(z *tree.Plan, dir string) (int64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_, native, err := prepare(z, "")
	if err != nil {
		return 0, err
	}
	cache := sizersOf(native)
	key, keyed := sizeKey(z, native)
	if keyed {
		if e := cache.lookup(key); e != nil {
			return e.size(z), nil
		}
	}
	d, err := describeGo(z, native)
	if err == nil {
		var n int64
		if n, err = d.f.Size(); err == nil {
			if keyed {
				cache.learn(key, z, d, n)
			}
			return n, nil
		}
	}
	if !errors.Is(err, h5w.ErrUnsupported) {
		return 0, err
	}
	im, err := encodeImage(z, dir)
	if err != nil {
		return 0, err
	}
	defer im.Close()
	return im.Size(), nil
}

func encodeImage(z *tree.Plan, dir string) (*image.Skeleton, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_, native, err := prepare(z, "")
	if err != nil {
		return nil, err
	}
	sk, err := encodeGo(z, native)
	if err == nil {
		r, err := sk.reader(dir)
		if err != nil {
			return nil, err
		}
		im, err := image.NewSkeleton(r, sk.l.Size, sk.extents, nil)
		if err != nil {
			r.Close()
		}
		return im, err
	}
	if !errors.Is(err, h5w.ErrUnsupported) {
		return nil, err
	}
	// libhdf5's skeleton, in a file unlinked at once (the image keeps it open)
	f, err := os.CreateTemp(dir, "skeleton-*.h5")
	if err != nil {
		return nil, err
	}
	p := f.Name()
	f.Close()
	defer os.Remove(p)
	extents, err := encodeLib(z, p, h5.NoFilter, native)
	if err != nil {
		return nil, err
	}
	skel, err := os.Open(filepath.Clean(p))
	if err != nil {
		return nil, err
	}
	st, err := skel.Stat()
	if err == nil {
		var im *image.Skeleton
		if im, err = image.NewSkeleton(skel, st.Size(), extents, nil); err == nil {
			return im, nil
		}
	}
	skel.Close()
	return nil, err
}

// chunked is the layout of a compressed dataset of shape rows of rowBytes
// each: chunks of about ChunkTarget bytes along the first axis, filtered
// (contiguous when there is nothing to chunk or no filter).
func (w *h5writer) chunked(shape []int64, rowBytes int64) h5.Layout {
	l := h5.Layout{}
	if len(shape) > 0 && shape[0] > 0 && rowBytes > 0 && w.filter != h5.NoFilter {
		l.Chunk = append([]int64{min(shape[0], max(1, ChunkTarget/rowBytes))}, shape[1:]...)
		l.Filter = w.filter
		if w.filter == h5.Gzip {
			l.Level = 4
		}
	}
	return l
}

package h5ad

// The uncompressed h5ad encoder in Go (layout/h5w): the skeleton's bytes
// and size come from the plan in microseconds, on any core, instead of
// from libhdf5 behind its global lock (about 8 ms a shard). Verbatim
// elements of an h5ad source still come from libhdf5's H5Ocopy, once per
// source, into a template file in the 1.8 format; the Go skeleton is
// appended to it and links them by address. What h5w cannot express (an
// attribute message over 64 KiB, say) falls back to libhdf5 (encode.go),
// the same way for mount and materialize.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/annslicer/annslicer/internal/filewrite"
	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/h5w"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/tree"
)

// goTemplate is a source's verbatim elements, copied by libhdf5 into a
// file of their own (at the root, named by their index in the plan).
type goTemplate struct {
	path  string
	super []byte
	size  int64
	addrs []uint64
	found sync.Map // template path -> address, for references (resolve)
}

// goSkeleton is a skeleton laid out by h5w.
type goSkeleton struct {
	l       *h5w.Layout
	tmpl    *goTemplate // nil: the skeleton stands alone
	extents []image.Extent
}

// encodeGo lays out the plan (prepared by Encode: verbatim elements
// expanded unless native copies them).
func encodeGo(z *tree.Plan, native *Source) (*goSkeleton, error) {
	d, err := describeGo(z, native)
	if err != nil {
		return nil, err
	}
	l, err := d.f.Finish()
	if err != nil {
		return nil, err
	}
	sk := &goSkeleton{l: l, tmpl: d.tmpl}
	for _, p := range l.Extents {
		a := d.reserved[p.Obj]
		sk.extents = append(sk.extents, image.Extent{Name: "/" + a.Path, Off: p.Off, Size: p.Size, Fill: a.Fill, Spans: a.Spans, Gather: a.Gather})
	}
	// the objects (every string of the skeleton among them) are garbage
	// now: a mount caches images, and the collector would scan them all
	l.Extents = nil
	return sk, nil
}

// goFile is a plan described to h5w, not yet laid out.
type goFile struct {
	f        *h5w.File
	tmpl     *goTemplate
	reserved map[*h5w.Object]*tree.PlanArray
}

func describeGo(z *tree.Plan, native *Source) (*goFile, error) {
	sk := &goFile{}
	var f *h5w.File
	if native != nil && len(z.Verbatim) > 0 {
		t, err := native.goTemplate(z.Verbatim)
		if err != nil {
			return nil, err
		}
		if f, err = h5w.Append(t.super, t.size); err != nil {
			return nil, err
		}
		f.Resolve = t.resolve
		sk.tmpl = t
	} else {
		f = h5w.New()
	}
	groups := map[string]*h5w.Object{"": f.Root()}
	var refs []pendingRef
	for _, g := range z.Groups {
		o := f.Root()
		if g.Path != "" {
			dir, base := parentOf(g.Path)
			parent, ok := groups[dir]
			if !ok {
				return nil, fmt.Errorf("/%s: parent group missing", g.Path)
			}
			o = parent.Group(base)
			groups[g.Path] = o
		}
		if err := writeAttrs(o, g.Path, g.Attrs, &refs); err != nil {
			return nil, err
		}
	}
	if native != nil {
		for i, v := range z.Verbatim {
			dir, base := parentOf(v.Path)
			g, ok := groups[dir]
			if !ok {
				return nil, fmt.Errorf("/%s: parent group missing", v.Path)
			}
			g.LinkTemplate(base, sk.tmpl.addrs[i], strconv.Itoa(i))
		}
	}
	reserved := map[*h5w.Object]*tree.PlanArray{}
	for _, a := range z.Arrays {
		dir, base := parentOf(a.Path)
		g, ok := groups[dir]
		if !ok {
			return nil, fmt.Errorf("/%s: parent group missing", a.Path)
		}
		o, err := goArray(g, base, a)
		if err != nil {
			return nil, err
		}
		if o.Reserved() {
			reserved[o] = a
		}
		if err := writeAttrs(o, a.Path, a.Attrs, &refs); err != nil {
			return nil, err
		}
	}
	for _, r := range refs {
		o, err := f.Find(r.obj)
		if err != nil {
			return nil, err
		}
		g := groups[r.group]
		if g != nil && f.Exists(g, r.target) {
			o.AttrRef(r.name, g, r.target)
		} else {
			o.WriteAttrString(r.name, r.target)
		}
	}
	sk.f, sk.reserved = f, reserved
	return sk, nil
}

// goArray creates the dataset of a plan array as encode.go's array does.
func goArray(g *h5w.Object, name string, a *tree.PlanArray) (*h5w.Object, error) {
	strs := a.Strs
	dt := a.DType
	if dt.Kind == 'U' && len(a.Shape) == 0 {
		s, err := unicodeScalar(a)
		if err != nil {
			return nil, err
		}
		strs, dt = []string{s}, tree.DType{Kind: 'O', Order: '|'}
	}
	t, err := h5Type(dt)
	if err != nil {
		return nil, fmt.Errorf("/%s: %v", a.Path, err)
	}
	shape := a.Shape
	if len(shape) == 0 {
		shape = nil
	}
	o := g.Dataset(name, t, shape)
	switch {
	case hasText(dt):
		ft := h5w.FileType(t)
		raw, strs, err := recordBytes(a, ft)
		if err != nil {
			return nil, err
		}
		o.Data(raw, strs)
	case dt.Kind == 'O' && a.StrList != nil && len(a.Shape) > 0:
		o.StringList(a.StrList)
	case dt.Kind == 'O':
		o.Strings(strs)
	case len(a.Shape) == 0:
		raw := make([]byte, dt.Size)
		if err := a.Fill(raw, 0); err != nil {
			return nil, err
		}
		o.Data(raw, nil)
	default:
		o.Reserve(a.RowElems() * a.Shape[0] * int64(dt.Size))
	}
	return o, nil
}

// unicodeScalar is a numpy unicode scalar (anndata's zarr string) as the
// str h5py writes for it.
func unicodeScalar(a *tree.PlanArray) (string, error) {
	raw := make([]byte, a.DType.Size)
	if err := a.Fill(raw, 0); err != nil {
		return "", err
	}
	rs := make([]rune, 0, a.DType.Size/4)
	for i := 0; i+4 <= len(raw); i += 4 {
		r := rune(binary.LittleEndian.Uint32(raw[i:]))
		if r == 0 {
			break
		}
		rs = append(rs, r)
	}
	return string(rs), nil
}

// goTemplate builds (once per source and set of verbatim elements) the
// template holding them.
func (src *Source) goTemplate(vs []tree.PlanVerbatim) (*goTemplate, error) {
	nodes := make([]string, len(vs))
	for i, v := range vs {
		nodes[i] = v.Node
	}
	key := "gotemplate\x00" + strings.Join(nodes, "\x00")
	src.scr.mu.Lock()
	t, ok := src.scr.tmpls[key]
	src.scr.mu.Unlock()
	if ok {
		return t, nil
	}
	path, err := src.Scratch(key, func(src *Source, dir string) (string, error) {
		return src.buildGoTemplate(nodes, dir)
	})
	if err != nil {
		return nil, err
	}
	t = &goTemplate{path: path}
	hf, err := h5.Open(path)
	if err != nil {
		return nil, err
	}
	root, err := hf.Root()
	if err == nil {
		for i := range nodes {
			a, err := root.ObjectAddr(strconv.Itoa(i))
			if err != nil {
				break
			}
			t.addrs = append(t.addrs, a)
		}
		root.Close()
	}
	hf.Close()
	if len(t.addrs) != len(nodes) {
		return nil, fmt.Errorf("%s: the template of its verbatim elements is incomplete", src.Path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	t.size, t.super = st.Size(), make([]byte, 48)
	if _, err := fh.ReadAt(t.super, 0); err != nil {
		return nil, err
	}
	src.scr.mu.Lock()
	if src.scr.tmpls == nil {
		src.scr.tmpls = map[string]*goTemplate{}
	}
	src.scr.tmpls[key] = t
	src.scr.mu.Unlock()
	return t, nil
}

func (src *Source) buildGoTemplate(nodes []string, dir string) (string, error) {
	f, err := os.CreateTemp(dir, "gotemplate-*.h5")
	if err != nil {
		return "", err
	}
	path := f.Name()
	f.Close()
	hf, err := h5.CreateV18(path)
	if err != nil {
		return "", err
	}
	root, err := hf.Root()
	for i, node := range nodes {
		if err != nil {
			break
		}
		sdir, sname := parentOf(strings.TrimPrefix(node, "/"))
		s := src.Root
		if sdir != "" {
			g, gerr := src.Root.OpenGroup(sdir)
			if gerr != nil {
				err = gerr
				break
			}
			defer g.Close()
			s = g
		}
		err = root.CopyFrom(s, sname, strconv.Itoa(i))
	}
	if root != nil {
		root.Close()
	}
	if cerr := hf.Close(); err == nil {
		err = cerr
	}
	return path, err
}

// resolve finds an object inside the template (a reference's target),
// asking libhdf5 once per path: every shard of an anndata 0.7 file asks
// for the same categories, twice (whether the target exists, then its
// address).
func (t *goTemplate) resolve(path string) (uint64, bool) {
	if a, ok := t.found.Load(path); ok {
		return a.(uint64), true
	}
	a, ok := t.lookup(path)
	if ok {
		t.found.Store(path, a)
	}
	return a, ok
}

func (t *goTemplate) lookup(path string) (uint64, bool) {
	hf, err := h5.Open(t.path)
	if err != nil {
		return 0, false
	}
	defer hf.Close()
	root, err := hf.Root()
	if err != nil {
		return 0, false
	}
	defer root.Close()
	a, err := root.ObjectAddr(path)
	return a, err == nil
}

// writeFile writes the skeleton to path: the template's bytes, our
// superblock over its, our metadata, the file's full length (the extents
// are written in place afterwards).
func (sk *goSkeleton) writeFile(path string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if sk.tmpl != nil {
		var in *os.File
		if in, err = os.Open(sk.tmpl.path); err == nil {
			_, err = io.Copy(out, in)
			in.Close()
		}
	}
	if err == nil {
		_, err = out.WriteAt(sk.l.Super, 0)
	}
	if err == nil {
		err = writeMeta(sk.l, out, sk.l.MetaOff)
	}
	if err == nil {
		err = out.Truncate(sk.l.Size)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeMeta streams l's metadata into f at off, through a buffer.
func writeMeta(l *h5w.Layout, f *os.File, off int64) error {
	w := bufio.NewWriterSize(filewrite.Writer{W: io.NewOffsetWriter(f, off)}, filewrite.Piece)
	if err := l.WriteMeta(w); err != nil {
		return err
	}
	return w.Flush()
}

// heldMeta is the most metadata an image keeps in memory; more (a
// collection's shard holds var, uns... written from the tree) goes to an
// unlinked file in the scratch directory, so that a mount's cached images
// cost the page cache, not the heap.
const heldMeta = 256 << 10

// reader serves the skeleton's bytes (the extents' are the image's).
func (sk *goSkeleton) reader(dir string) (*skelReader, error) {
	r := &skelReader{sk: sk}
	if sk.tmpl != nil {
		f, err := os.Open(sk.tmpl.path)
		if err != nil {
			return nil, err
		}
		r.tmpl = f
	}
	if sk.l.MetaLen > heldMeta {
		f, err := os.CreateTemp(dir, "skeleton-*.h5")
		if err == nil {
			os.Remove(f.Name())
			if err = writeMeta(sk.l, f, 0); err != nil {
				f.Close()
			}
		}
		if err != nil {
			r.Close()
			return nil, err
		}
		r.meta, r.metaLen = f, sk.l.MetaLen
		return r, nil
	}
	var err error
	if r.metaBytes, err = sk.l.MetaBytes(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

type skelReader struct {
	sk        *goSkeleton
	tmpl      *os.File
	meta      *os.File // the metadata, when not held in memory
	metaLen   int64
	metaBytes []byte // the metadata, when held
}

func (r *skelReader) Close() error {
	var err error
	for _, f := range []*os.File{r.tmpl, r.meta} {
		if f != nil {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	return err
}

func (r *skelReader) ReadAt(p []byte, off int64) (int, error) {
	l := r.sk.l
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		q := p[n:]
		switch {
		case pos < int64(len(l.Super)):
			n += copy(q, l.Super[pos:])
		case pos < l.MetaOff:
			q = q[:min(int64(len(q)), l.MetaOff-pos)]
			if _, err := r.tmpl.ReadAt(q, pos); err != nil {
				return n, err
			}
			n += len(q)
		case r.meta != nil && pos < l.MetaOff+r.metaLen:
			q = q[:min(int64(len(q)), l.MetaOff+r.metaLen-pos)]
			if _, err := r.meta.ReadAt(q, pos-l.MetaOff); err != nil {
				return n, err
			}
			n += len(q)
		case pos < l.MetaOff+int64(len(r.metaBytes)):
			n += copy(q, r.metaBytes[pos-l.MetaOff:])
		case pos < l.Size:
			// padding before a page-aligned extent (the image serves
			// the extents themselves)
			k := min(int64(len(q)), l.Size-pos)
			clear(q[:k])
			n += int(k)
		default:
			return n, io.EOF
		}
	}
	return n, nil
}

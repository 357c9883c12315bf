package zarr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Store is a Zarr hierarchy in a local directory, opened for reading.
// It is safe for concurrent use.
type Store struct {
	dir    string
	format int
	cache  *Cache

	// v2 consolidated metadata (.zmetadata): store key → document.
	cons    map[string]*jvalue
	consSrc []byte
	// v3 inline consolidated metadata of the root group: path → zarr.json.
	cons3    map[string]*jvalue
	cons3Src []byte
}

// Options tune Open. The zero value is fine.
type Options struct {
	// Cache holds decoded chunks; nil gives the store its own cache of
	// DefaultCacheBytes. Pass one Cache to several stores to bound them all.
	Cache *Cache
	// IgnoreConsolidated reads every document from its own file even when
	// the store has consolidated metadata.
	IgnoreConsolidated bool
}

// Open opens the store in dir. Its format is the root node's: zarr.json
// means v3; .zgroup, .zarray or .zmetadata mean v2. Consolidated metadata
// is used when present, as zarr.open_consolidated does.
func Open(dir string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{dir: filepath.Clean(dir), cache: opts.Cache}
	if s.cache == nil {
		s.cache = NewCache(DefaultCacheBytes)
	}
	fi, err := os.Stat(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errorf(s.dir, ErrNotExist, "cannot open store: %v", unwrapPathErr(err))
	}
	if err != nil {
		return nil, osError(s.dir, err)
	}
	if !fi.IsDir() {
		return nil, errorf(s.dir, nil, "not a directory (zarr stores are directories)")
	}
	var has [4]bool
	for i, name := range []string{"zarr.json", ".zgroup", ".zarray", ".zmetadata"} {
		if has[i], err = statFile(filepath.Join(s.dir, name)); err != nil {
			return nil, err
		}
	}
	switch {
	case has[0]:
		s.format = 3
		data, err := os.ReadFile(filepath.Join(s.dir, "zarr.json"))
		if err != nil {
			return nil, osError(filepath.Join(s.dir, "zarr.json"), err)
		}
		if !opts.IgnoreConsolidated {
			n, err := parseZarrJSON(data)
			if err != nil {
				return nil, atPath(filepath.Join(s.dir, "zarr.json"), err)
			}
			s.cons3, s.cons3Src = n.consolidated, data
		}
	case has[1], has[2], has[3]:
		s.format = 2
		zm := filepath.Join(s.dir, ".zmetadata")
		if !opts.IgnoreConsolidated && has[3] {
			if err := s.loadConsolidated(zm); err != nil {
				return nil, err
			}
		}
	default:
		return nil, errorf(s.dir, ErrNotExist, "not a zarr store (no .zgroup, .zarray or zarr.json)")
	}
	return s, nil
}

func (s *Store) loadConsolidated(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return osError(file, err)
	}
	cons, err := parseZmetadata(data)
	if err != nil {
		return atPath(file, err)
	}
	s.cons, s.consSrc = cons, data
	return nil
}

// parseZmetadata reads a v2 .zmetadata document: store key → document.
func parseZmetadata(data []byte) (map[string]*jvalue, error) {
	doc, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	if f, ok := doc.get("zarr_consolidated_format"); !ok || f.kind != jNumber || f.num != "1" {
		return nil, unsupported("zarr_consolidated_format %s is not 1", jsonText(f))
	}
	md, ok := doc.get("metadata")
	if !ok || md.kind != jObject {
		return nil, fmt.Errorf("missing \"metadata\" object")
	}
	cons := map[string]*jvalue{}
	for i, k := range md.keys {
		cons[k] = md.vals[i]
	}
	return cons, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Format is the root node's zarr format, 2 or 3.
func (s *Store) Format() int { return s.format }

// Consolidated reports whether metadata is read from consolidated metadata.
func (s *Store) Consolidated() bool { return s.cons != nil || s.cons3 != nil }

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// cleanPath normalises a node path: slash-separated, relative, "" for the root.
func cleanPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" || p == "." {
		return "", nil
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." || strings.HasPrefix(part, ".z") || part == "zarr.json" {
			return "", fmt.Errorf("bad node path %q", p)
		}
	}
	return p, nil
}

func joinKey(p, name string) string {
	if p == "" {
		return name
	}
	return p + "/" + name
}

func (s *Store) file(key string) string { return filepath.Join(s.dir, filepath.FromSlash(key)) }

// doc reads a metadata document by store key: from consolidated metadata
// when it has the key, else from its file. It returns the parsed value and
// the text its spans refer to; ErrNotExist when there is neither.
func (s *Store) doc(key string) (*jvalue, []byte, error) {
	if s.format == 3 && s.cons3 != nil && strings.HasSuffix(key, "/zarr.json") {
		if v, ok := s.cons3[strings.TrimSuffix(key, "/zarr.json")]; ok {
			return v, s.cons3Src, nil
		}
	}
	if s.cons != nil {
		if v, ok := s.cons[key]; ok {
			return v, s.consSrc, nil
		}
	}
	data, err := os.ReadFile(s.file(key))
	if err != nil {
		return nil, nil, osError(s.file(key), err)
	}
	v, err := parseJSON(data)
	if err != nil {
		return nil, nil, atPath(s.file(key), err)
	}
	return v, data, nil
}

// Node is what is at a path: a group or an array.
type Node struct {
	Path    string
	IsArray bool
	Attrs   Attrs
}

// Group is a group node.
type Group struct {
	s *Store
	Node
}

// Array is an array node opened for reading. It is safe for concurrent use.
type Array struct {
	s *Store
	Node
	Meta *ArrayMeta

	fillOnce sync.Once
	fill     any // a whole chunk of fill values: []byte or []string
}

// Group opens the group at path ("" or "/" is the root).
func (s *Store) Group(p string) (*Group, error) {
	n, meta, err := s.node(p)
	if err != nil {
		return nil, err
	}
	if meta != nil {
		return nil, errorf(filepath.Join(s.dir, n.Path), nil, "is an array, not a group")
	}
	return &Group{s: s, Node: *n}, nil
}

// Array opens the array at path.
func (s *Store) Array(p string) (*Array, error) {
	n, meta, err := s.node(p)
	if err != nil {
		return nil, err
	}
	if meta == nil {
		return nil, errorf(filepath.Join(s.dir, n.Path), nil, "is a group, not an array")
	}
	return &Array{s: s, Node: *n, Meta: meta}, nil
}

// Stat tells whether path is a group or an array, with its attributes.
func (s *Store) Stat(p string) (*Node, error) {
	n, _, err := s.node(p)
	return n, err
}

func (s *Store) node(p string) (*Node, *ArrayMeta, error) {
	p, err := cleanPath(p)
	if err != nil {
		return nil, nil, errorf(s.dir, nil, "%v", err)
	}
	if s.format == 3 {
		return s.node3(p)
	}
	return s.node2(p)
}

func (s *Store) node2(p string) (*Node, *ArrayMeta, error) {
	n := &Node{Path: p}
	var meta *ArrayMeta
	zkey := joinKey(p, ".zarray")
	if v, src, err := s.doc(zkey); err == nil {
		if meta, err = zarrayFromJSON(v, src); err != nil {
			return nil, nil, atPath(s.file(zkey), err)
		}
		n.IsArray = true
	} else if !errors.Is(err, ErrNotExist) {
		return nil, nil, err
	} else {
		gkey := joinKey(p, ".zgroup")
		v, _, err := s.doc(gkey)
		if err != nil {
			if errors.Is(err, ErrNotExist) {
				return nil, nil, errorf(filepath.Join(s.dir, filepath.FromSlash(p)), ErrNotExist, "no array or group (no .zarray or .zgroup)")
			}
			return nil, nil, err
		}
		if err := checkZgroup(v); err != nil {
			return nil, nil, atPath(s.file(gkey), err)
		}
	}
	akey := joinKey(p, ".zattrs")
	v, src, err := s.doc(akey)
	switch {
	case errors.Is(err, ErrNotExist):
		n.Attrs = Attrs{}
	case err != nil:
		return nil, nil, err
	default:
		if n.Attrs, err = attrsFromJSON(v, src); err != nil {
			return nil, nil, atPath(s.file(akey), err)
		}
	}
	return n, meta, nil
}

// checkZgroup checks a parsed v2 .zgroup document.
func checkZgroup(v *jvalue) error {
	if v.kind != jObject {
		return fmt.Errorf("not a JSON object")
	}
	if zf, ok := v.get("zarr_format"); !ok || zf.kind != jNumber || zf.num != "2" {
		return unsupported("zarr_format %s is not 2", jsonText(zf))
	}
	return nil
}

func attrsFromJSON(v *jvalue, src []byte) (Attrs, error) {
	if v.kind != jObject {
		return nil, fmt.Errorf("attributes must be a JSON object")
	}
	a := make(Attrs, len(v.keys))
	for i, k := range v.keys {
		a[k] = json.RawMessage(jsonSource(src, v.vals[i]))
	}
	return a, nil
}

func (s *Store) node3(p string) (*Node, *ArrayMeta, error) {
	key := joinKey(p, "zarr.json")
	v, src, err := s.doc(key)
	if err != nil {
		if errors.Is(err, ErrNotExist) {
			return nil, nil, errorf(filepath.Join(s.dir, filepath.FromSlash(p)), ErrNotExist, "no array or group (no zarr.json)")
		}
		return nil, nil, err
	}
	n3, err := zarrJSONFromValue(v, src)
	if err != nil {
		return nil, nil, atPath(s.file(key), err)
	}
	n := &Node{Path: p, IsArray: n3.isArray, Attrs: n3.attrs}
	if n.Attrs == nil {
		n.Attrs = Attrs{}
	}
	return n, n3.meta, nil
}

// Child is one member of a group.
type Child struct {
	Name    string
	IsArray bool
}

// Children lists the group's members, sorted by name.
func (g *Group) Children() ([]Child, error) {
	s := g.s
	names := map[string]bool{}
	if s.cons != nil || s.cons3 != nil {
		prefix := ""
		if g.Path != "" {
			prefix = g.Path + "/"
		}
		add := func(key string) {
			if !strings.HasPrefix(key, prefix) {
				return
			}
			rest := strings.TrimPrefix(key, prefix)
			if name, tail, ok := strings.Cut(rest, "/"); ok && name != "" && (tail == ".zarray" || tail == ".zgroup") {
				names[name] = true
			} else if s.cons3 != nil && rest != "" && !strings.Contains(rest, "/") {
				names[rest] = true
			}
		}
		for k := range s.cons {
			add(k)
		}
		for k := range s.cons3 {
			add(k)
		}
	} else {
		dir := filepath.Join(s.dir, filepath.FromSlash(g.Path))
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, osError(dir, err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if e.Type()&fs.ModeSymlink != 0 {
				// A link to a node is followed like the node itself; a
				// broken or looping link is reported, never skipped.
				fi, err := os.Stat(filepath.Join(dir, e.Name()))
				if err != nil {
					return nil, osError(filepath.Join(dir, e.Name()), err)
				}
				if !fi.IsDir() {
					continue
				}
			} else if !e.IsDir() {
				continue
			}
			sub := filepath.Join(dir, e.Name())
			for _, doc := range []string{".zarray", ".zgroup", "zarr.json"} {
				ok, err := statFile(filepath.Join(sub, doc))
				if err != nil {
					return nil, err
				}
				if ok {
					names[e.Name()] = true
					break
				}
			}
		}
	}
	out := make([]Child, 0, len(names))
	for name := range names {
		n, err := s.Stat(joinKey(g.Path, name))
		if err != nil {
			return nil, err
		}
		out = append(out, Child{Name: name, IsArray: n.IsArray})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Store is the store the group belongs to.
func (g *Group) Store() *Store { return g.s }

// ---- reading elements ----

// ChunkFile is the path of a chunk's file.
func (a *Array) ChunkFile(idx []int) string {
	return filepath.Join(a.s.dir, filepath.FromSlash(a.Path), filepath.FromSlash(a.Meta.ChunkKey(idx)))
}

func (a *Array) where() string { return filepath.Join(a.s.dir, filepath.FromSlash(a.Path)) }

func (a *Array) checkIndex(idx []int) error {
	g := a.Meta.Grid()
	if len(idx) != len(g) {
		return errorf(a.where(), nil, "chunk index %v has rank %d, array has rank %d", idx, len(idx), len(g))
	}
	for i := range idx {
		if idx[i] < 0 || idx[i] >= g[i] {
			return errorf(a.where(), nil, "chunk index %v outside the chunk grid %v", idx, g)
		}
	}
	return nil
}

// chunk returns a chunk's decoded elements, shared and read-only: []byte
// or []string. A missing chunk file is a chunk of fill values.
func (a *Array) chunk(idx []int) (any, error) {
	if err := a.checkIndex(idx); err != nil {
		return nil, err
	}
	file := a.ChunkFile(idx)
	return a.s.cache.get(file, func() (any, int64, error) {
		data, err := os.ReadFile(file)
		if err != nil {
			// Only a plain "no such file" is a chunk of fill values: a
			// symlink loop or a fault is an error, never fill.
			if ok, serr := statFile(file); serr != nil || ok {
				if serr == nil {
					serr = osError(file, err)
				}
				return nil, 0, serr
			}
			return a.fillChunk(), 0, nil // shared, costs the cache nothing
		}
		v, err := a.Meta.decodeChunk(data)
		if err != nil {
			return nil, 0, atPath(file, err)
		}
		switch x := v.(type) {
		case []byte:
			return x, int64(len(x)), nil
		case []string:
			size := int64(16 * len(x))
			for _, s := range x {
				size += int64(len(s))
			}
			return x, size, nil
		}
		return v, 0, nil
	})
}

func (a *Array) fillChunk() any {
	a.fillOnce.Do(func() {
		if a.Meta.DType.Kind == 'O' {
			s := make([]string, a.Meta.ChunkLen())
			f := fillString(a.Meta.fillJV())
			for i := range s {
				s[i] = f
			}
			a.fill = s
		} else {
			a.fill = bytes.Repeat(a.Meta.fillElement(), a.Meta.ChunkLen())
		}
	})
	return a.fill
}

// ReadChunk returns one decoded chunk's raw element bytes (full chunk
// shape, C order, the dtype's byte order), the fill value when the chunk
// file is missing. The slice is the caller's.
func (a *Array) ReadChunk(idx []int) ([]byte, error) {
	if a.Meta.DType.Kind == 'O' {
		return nil, errorf(a.where(), nil, "ReadChunk on a string array (use ReadChunkStrings)")
	}
	v, err := a.chunk(idx)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), v.([]byte)...), nil
}

// ReadChunkStrings returns one chunk of a string array ('O', 'U' or 'S').
func (a *Array) ReadChunkStrings(idx []int) ([]string, error) {
	if !a.Meta.DType.IsString() {
		return nil, errorf(a.where(), nil, "ReadChunkStrings on a %s array", a.Meta.DType)
	}
	v, err := a.chunk(idx)
	if err != nil {
		return nil, err
	}
	if s, ok := v.([]string); ok {
		return append([]string(nil), s...), nil
	}
	s, err := decodeFixedStrings(a.Meta.DType, v.([]byte))
	return s, atPath(a.ChunkFile(idx), err)
}

// ReadRange returns n elements starting at flat C-order index start
// (element i of a 2-D array with shape (r, c) is row i/c, column i%c, so
// whole rows k..k+m are ReadRange(k*c, m*c)). The bytes are as stored:
// the dtype's byte order.
func (a *Array) ReadRange(start, n int) ([]byte, error) {
	if a.Meta.DType.Kind == 'O' {
		return nil, errorf(a.where(), nil, "ReadRange on a string array (use ReadStrings)")
	}
	if n < 0 {
		return nil, errorf(a.where(), nil, "negative count %d", n)
	}
	dst := make([]byte, n*a.Meta.DType.Size)
	return dst, a.ReadRangeInto(dst, start)
}

// ReadRangeInto fills dst (a whole number of elements) from flat index
// start, saving an allocation on hot paths.
func (a *Array) ReadRangeInto(dst []byte, start int) error {
	item := a.Meta.DType.Size
	if a.Meta.DType.Kind == 'O' {
		return errorf(a.where(), nil, "ReadRangeInto on a string array (use ReadStrings)")
	}
	if len(dst)%item != 0 {
		return errorf(a.where(), nil, "buffer of %d bytes is not a whole number of %d-byte elements", len(dst), item)
	}
	return a.walk(start, len(dst)/item, func(chunk any, coff, doff, n int) {
		copy(dst[doff*item:(doff+n)*item], chunk.([]byte)[coff*item:(coff+n)*item])
	})
}

// ReadStrings returns n elements of a string array from flat index start.
func (a *Array) ReadStrings(start, n int) ([]string, error) {
	dt := a.Meta.DType
	if !dt.IsString() {
		return nil, errorf(a.where(), nil, "ReadStrings on a %s array", dt)
	}
	if n < 0 {
		return nil, errorf(a.where(), nil, "negative count %d", n)
	}
	out := make([]string, n)
	var ferr error
	err := a.walk(start, n, func(chunk any, coff, doff, k int) {
		if s, ok := chunk.([]string); ok {
			copy(out[doff:doff+k], s[coff:coff+k])
			return
		}
		s, err := decodeFixedStrings(dt, chunk.([]byte)[coff*dt.Size:(coff+k)*dt.Size])
		if err != nil && ferr == nil {
			ferr = atPath(a.where(), err)
		}
		copy(out[doff:], s)
	})
	if err == nil {
		err = ferr
	}
	return out, err
}

// walk visits the flat range [start, start+n) as runs that lie within one
// chunk and one row of it: fn(chunk, offset in chunk, offset in range,
// run length). Chunks fetched during the call are remembered so a range
// crossing many rows of the same chunks asks the shared cache once each.
func (a *Array) walk(start, n int, fn func(chunk any, coff, doff, n int)) error {
	m := a.Meta
	total := m.Len()
	if start < 0 || n < 0 || start > total || n > total-start {
		return errorf(a.where(), nil, "range [%d, %d) outside the array's %d elements", start, start+n, total)
	}
	if n == 0 {
		return nil
	}
	r := len(m.Shape)
	if r == 0 {
		c, err := a.chunk(nil)
		if err != nil {
			return err
		}
		fn(c, 0, 0, 1)
		return nil
	}
	coords := make([]int, r)
	cidx := make([]int, r)
	local := map[string]any{}
	band := -1
	var keyb []byte
	for done := 0; done < n; {
		// unravel start+done
		f := start + done
		for d := r - 1; d >= 0; d-- {
			coords[d] = f % m.Shape[d]
			f /= m.Shape[d]
		}
		keyb = keyb[:0]
		coff := 0
		for d := 0; d < r; d++ {
			cidx[d] = coords[d] / m.Chunks[d]
			coff = coff*m.Chunks[d] + coords[d]%m.Chunks[d]
			keyb = strconv.AppendInt(append(keyb, ','), int64(cidx[d]), 10)
		}
		if cidx[0] != band {
			// Rows have moved past this band of chunks: let go of them.
			clear(local)
			band = cidx[0]
		}
		last := m.Chunks[r-1]
		runEnd := min((cidx[r-1]+1)*last, m.Shape[r-1])
		k := min(runEnd-coords[r-1], n-done)
		key := string(keyb)
		c, ok := local[key]
		if !ok {
			var err error
			if c, err = a.chunk(cidx); err != nil {
				return err
			}
			local[key] = c
		}
		fn(c, coff, done, k)
		done += k
	}
	return nil
}

// Store is the store the array belongs to.
func (a *Array) Store() *Store { return a.s }

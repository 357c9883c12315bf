package zarr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
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
		data, err := readFile(filepath.Join(s.dir, "zarr.json"))
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
	data, err := readFile(file)
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
	data, err := s.cache.readFile(s.file(key))
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

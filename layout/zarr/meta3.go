package zarr

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Zarr v3 metadata documents (zarr.json): nodes, data types, codec
// chains, sharding; parsed and written.

// v3node is a parsed zarr.json.
type v3node struct {
	isArray      bool
	meta         *ArrayMeta
	attrs        Attrs
	consolidated map[string]*jvalue // inline consolidated metadata, by path
	src          []byte
}

func parseZarrJSON(data []byte) (*v3node, error) {
	doc, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	return zarrJSONFromValue(doc, data)
}

func zarrJSONFromValue(doc *jvalue, src []byte) (*v3node, error) {
	if doc.kind != jObject {
		return nil, fmt.Errorf("not a JSON object")
	}
	zf, ok := doc.get("zarr_format")
	if !ok {
		return nil, fmt.Errorf("missing \"zarr_format\"")
	}
	if zf.kind != jNumber || zf.num != "3" {
		return nil, unsupported("zarr_format %s is not 3", jsonText(zf))
	}
	nt, ok := doc.get("node_type")
	if !ok || nt.kind != jString {
		return nil, fmt.Errorf("missing \"node_type\"")
	}
	n := &v3node{src: src}
	if av, ok := doc.get("attributes"); ok && av.kind != jNull {
		if av.kind != jObject {
			return nil, fmt.Errorf("\"attributes\" must be an object")
		}
		n.attrs = Attrs{}
		for i, k := range av.keys {
			n.attrs[k] = json.RawMessage(jsonSource(src, av.vals[i]))
		}
	}
	switch nt.str {
	case "group":
		if cm, ok := doc.get("consolidated_metadata"); ok && cm.kind == jObject {
			if md, ok := cm.get("metadata"); ok && md.kind == jObject {
				n.consolidated = map[string]*jvalue{}
				for i, k := range md.keys {
					n.consolidated[k] = md.vals[i]
				}
			}
		}
		return n, nil
	case "array":
	default:
		return nil, fmt.Errorf("unknown node_type %q", nt.str)
	}
	n.isArray = true
	for _, k := range []string{"shape", "data_type", "chunk_grid", "chunk_key_encoding", "fill_value", "codecs"} {
		if _, ok := doc.get(k); !ok {
			return nil, fmt.Errorf("missing %q", k)
		}
	}
	m := &ArrayMeta{Format: 3}
	var err error
	if m.Shape, err = intList(doc, "shape"); err != nil {
		return nil, err
	}
	dv, _ := doc.get("data_type")
	if m.DType, err = dtypeFromV3JSON(dv); err != nil {
		return nil, err
	}
	cg, _ := doc.get("chunk_grid")
	if name, _ := cg.get("name"); name == nil || name.str != "regular" {
		return nil, unsupported("chunk_grid %s is not supported (only \"regular\")", jsonText(cg))
	}
	cfg, _ := cg.get("configuration")
	if m.Chunks, err = intList(cfg, "chunk_shape"); err != nil {
		return nil, fmt.Errorf("chunk_grid: %v", err)
	}
	ck, _ := doc.get("chunk_key_encoding")
	ckName, _ := ck.get("name")
	if ckName == nil || (ckName.str != "default" && ckName.str != "v2") {
		return nil, unsupported("chunk_key_encoding %s is not supported", jsonText(ck))
	}
	m.V2ChunkKeys = ckName.str == "v2"
	if ckc, ok := ck.get("configuration"); ok {
		if sep, ok := ckc.get("separator"); ok {
			m.Separator = sep.str
		}
	}
	if st, ok := doc.get("storage_transformers"); ok && st.kind == jArray && len(st.arr) > 0 {
		return nil, unsupported("storage_transformers are not supported")
	}
	cl, _ := doc.get("codecs")
	dt, codecs, shard, err := codecsFromV3(cl, m.DType, false)
	if err != nil {
		return nil, err
	}
	m.DType, m.Codecs, m.Shard = dt, codecs, shard
	fill, _ := doc.get("fill_value")
	if fill.kind != jNull {
		m.FillValue = json.RawMessage(jsonSource(src, fill))
	}
	m.setTypeSize()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	n.meta = m
	return n, nil
}

// codecsFromV3 reads a v3 codec list: array-to-array codecs (only an
// identity transpose), one array-to-bytes codec, then bytes-to-bytes codecs.
// It returns dt with the byte order set by the "bytes" codec.
func codecsFromV3(list *jvalue, dt DType, inner bool) (DType, []Codec, *Sharding, error) {
	if list == nil || list.kind != jArray {
		return dt, nil, nil, fmt.Errorf("\"codecs\" must be a list")
	}
	var (
		b2b      []Codec
		shard    *Sharding
		haveA2B  bool
		bigEnd   bool
		sawBytes bool
	)
	for _, c := range list.arr {
		name, cfg := "", (*jvalue)(nil)
		switch c.kind {
		case jString:
			name = c.str
		case jObject:
			nv, ok := c.get("name")
			if !ok || nv.kind != jString {
				return dt, nil, nil, fmt.Errorf("codec without a \"name\": %s", jsonText(c))
			}
			name = nv.str
			cfg, _ = c.get("configuration")
		default:
			return dt, nil, nil, fmt.Errorf("bad codec %s", jsonText(c))
		}
		if cfg == nil {
			cfg = &jvalue{kind: jObject}
		}
		switch name {
		case "transpose":
			order, err := intList(cfg, "order")
			if err != nil || haveA2B {
				return dt, nil, nil, fmt.Errorf("bad transpose codec %s", jsonText(c))
			}
			for i, o := range order {
				if o != i {
					return dt, nil, nil, unsupported("transpose codec (non-C order) is not supported")
				}
			}
			continue
		case "bytes", "vlen-utf8", "sharding_indexed":
			if haveA2B {
				return dt, nil, nil, fmt.Errorf("more than one array-to-bytes codec")
			}
			haveA2B = true
			switch name {
			case "bytes":
				if dt.Kind == 'O' {
					return dt, nil, nil, fmt.Errorf("\"bytes\" codec on a string array (want vlen-utf8)")
				}
				sawBytes = true
				if e, ok := cfg.get("endian"); ok && e.kind == jString && dt.Kind == 'V' {
					// zarr-python 3 drops the endian of a structured type
					// and reads its fields little-endian: a "big" here
					// would be read wrong by it.
					if e.str != "little" {
						return dt, nil, nil, unsupported("\"bytes\" codec with endian %q on a structured data type", e.str)
					}
				} else if e, ok := cfg.get("endian"); ok && e.kind == jString {
					switch e.str {
					case "little":
					case "big":
						bigEnd = true
					default:
						return dt, nil, nil, fmt.Errorf("bad endian %q", e.str)
					}
				} else if dt.Size > 1 && dt.Kind != 'V' && dt.Kind != 'S' {
					return dt, nil, nil, fmt.Errorf("\"bytes\" codec needs \"endian\" for %s", dt)
				}
			case "vlen-utf8":
				if dt.Kind != 'O' {
					return dt, nil, nil, fmt.Errorf("vlen-utf8 codec on a non-string array")
				}
			case "sharding_indexed":
				if inner {
					return dt, nil, nil, unsupported("nested sharding is not supported")
				}
				s, idt, err := shardingFromV3(cfg, dt)
				if err != nil {
					return dt, nil, nil, fmt.Errorf("sharding_indexed: %w", err)
				}
				shard, dt = s, idt
			}
			continue
		case "vlen-bytes", "vlen-array", "json2":
			return dt, nil, nil, unsupported("unsupported codec %q", name)
		}
		if !haveA2B {
			return dt, nil, nil, fmt.Errorf("codec %q before the array-to-bytes codec", name)
		}
		id := strings.TrimPrefix(name, "numcodecs.")
		f, ok := codecsByID[id]
		if !ok {
			if knownUnsupported[id] {
				return dt, nil, nil, unsupported("unsupported codec %q", name)
			}
			return dt, nil, nil, unsupported("unknown codec %q", name)
		}
		codec, err := f(cfg, 3)
		if err != nil {
			return dt, nil, nil, fmt.Errorf("codec %q: %v", name, err)
		}
		b2b = append(b2b, codec)
	}
	if !haveA2B {
		return dt, nil, nil, fmt.Errorf("no array-to-bytes codec (bytes, vlen-utf8 or sharding_indexed)")
	}
	if sawBytes {
		dt = dt.withOrder(bigEnd)
	}
	return dt, b2b, shard, nil
}

func shardingFromV3(cfg *jvalue, dt DType) (*Sharding, DType, error) {
	s := &Sharding{}
	var err error
	if s.Chunks, err = intList(cfg, "chunk_shape"); err != nil {
		return nil, dt, err
	}
	cl, _ := cfg.get("codecs")
	idt, codecs, _, err := codecsFromV3(cl, dt, true)
	if err != nil {
		return nil, dt, err
	}
	s.Codecs = codecs
	il, _ := cfg.get("index_codecs")
	xdt, xcodecs, _, err := codecsFromV3(il, DType{Kind: 'u', Size: 8, Order: '<'}, true)
	if err != nil {
		return nil, dt, fmt.Errorf("index_codecs: %w", err)
	}
	if xdt.Order != '<' {
		return nil, dt, unsupported("big-endian shard index is not supported")
	}
	s.IndexCodecs = xcodecs
	if loc, ok := cfg.get("index_location"); ok {
		switch loc.str {
		case "start":
			s.IndexAtStart = true
		case "end":
		default:
			return nil, dt, fmt.Errorf("bad index_location %q", loc.str)
		}
	}
	return s, idt, nil
}

// MarshalZarrJSON is the v3 zarr.json document of an array, as
// zarr-python 3 writes it: its keys in its order, 2-space indent. Only the
// attributes differ: they come out sorted (a Go map keeps no order).
func (m *ArrayMeta) MarshalZarrJSON(attrs Attrs) ([]byte, error) {
	doc, err := m.zarrJSON(attrs)
	if err != nil {
		return nil, err
	}
	return pyDumps(doc, 2)
}

func (m *ArrayMeta) zarrJSON(attrs Attrs) (obj, error) {
	if m.Format != 3 {
		return nil, fmt.Errorf("MarshalZarrJSON on a zarr v%d array", m.Format)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	name, err := m.DType.v3DataType()
	if err != nil {
		return nil, err
	}
	fill, err := m.DType.fillJSON(m.fillJV(), 3)
	if err != nil {
		return nil, err
	}
	sep := m.Separator
	keyEnc := "default"
	if m.V2ChunkKeys {
		keyEnc = "v2"
		if sep == "" {
			sep = "."
		}
	} else if sep == "" {
		sep = "/"
	}
	codecs := m.v3CodecList(m.Codecs)
	if m.Shard != nil {
		idx := []any{obj{{"name", "bytes"}, {"configuration", obj{{"endian", "little"}}}}}
		for _, c := range m.Shard.IndexCodecs {
			idx = append(idx, codecV3JSON(c))
		}
		loc := "end"
		if m.Shard.IndexAtStart {
			loc = "start"
		}
		sh := obj{{"name", "sharding_indexed"}, {"configuration", obj{
			{"chunk_shape", m.Shard.Chunks},
			{"codecs", m.v3CodecList(m.Shard.Codecs)},
			{"index_codecs", idx},
			{"index_location", loc},
		}}}
		codecs = []any{sh}
		for _, c := range m.Codecs {
			codecs = append(codecs, codecV3JSON(c))
		}
	}
	return obj{
		{"shape", m.Shape},
		{"data_type", name},
		{"chunk_grid", obj{{"name", "regular"}, {"configuration", obj{{"chunk_shape", m.Chunks}}}}},
		{"chunk_key_encoding", obj{{"name", keyEnc}, {"configuration", obj{{"separator", sep}}}}},
		{"fill_value", fill},
		{"codecs", codecs},
		{"attributes", attrsAny(attrs)},
		{"zarr_format", 3},
		{"node_type", "array"},
		{"storage_transformers", []any{}},
	}, nil
}

func (m *ArrayMeta) v3CodecList(b2b []Codec) []any {
	var list []any
	switch {
	case m.DType.Kind == 'O':
		list = append(list, obj{{"name", "vlen-utf8"}, {"configuration", obj{}}})
	case m.DType.Kind == 'V' || m.DType.Kind == 'S' || m.DType.Size == 1:
		// zarr-python 3 writes no endian where there is no byte order:
		// single bytes, byte strings, structured types
		list = append(list, obj{{"name", "bytes"}})
	default:
		endian := "little"
		if m.DType.Order == '>' {
			endian = "big"
		}
		list = append(list, obj{{"name", "bytes"}, {"configuration", obj{{"endian", endian}}}})
	}
	for _, c := range b2b {
		list = append(list, codecV3JSON(c))
	}
	return list
}

// MarshalGroupZarrJSON is the v3 zarr.json document of a group, as
// zarr-python 3 writes it (attributes sorted).
func MarshalGroupZarrJSON(attrs Attrs) ([]byte, error) {
	return pyDumps(groupZarrJSON(attrs, nil), 2)
}

// groupZarrJSON is a group's document; with consolidated metadata (cm not
// nil) it is the root's, or a group's entry inside the root's.
func groupZarrJSON(attrs Attrs, cm any) obj {
	o := obj{{"attributes", attrsAny(attrs)}, {"zarr_format", 3}}
	if cm != nil {
		o = append(o, kv{"consolidated_metadata", obj{{"kind", "inline"}, {"must_understand", false}, {"metadata", cm}}})
	}
	return append(o, kv{"node_type", "group"})
}

// V3Node is a node below the root of a v3 store, for its consolidated
// metadata: an array (Meta set) or a group (Meta nil), with attributes.
type V3Node struct {
	Meta  *ArrayMeta
	Attrs Attrs
}

// MarshalConsolidatedZarrJSON is the root zarr.json of a v3 store with its
// consolidated metadata inline, as zarr.consolidate_metadata (which
// anndata's write_zarr calls) writes it: every node below the root by its
// path, ordered by depth then case-folded name, each group with an empty
// consolidated_metadata of its own.
func MarshalConsolidatedZarrJSON(attrs Attrs, nodes map[string]V3Node) ([]byte, error) {
	paths := make([]string, 0, len(nodes))
	for p := range nodes {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool {
		di, dj := strings.Count(paths[i], "/"), strings.Count(paths[j], "/")
		if di != dj {
			return di < dj
		}
		return strings.ToLower(paths[i]) < strings.ToLower(paths[j])
	})
	md := make(obj, 0, len(paths))
	for _, p := range paths {
		n := nodes[p]
		if n.Meta == nil {
			md = append(md, kv{p, groupZarrJSON(n.Attrs, obj{})})
			continue
		}
		doc, err := n.Meta.zarrJSON(n.Attrs)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		md = append(md, kv{p, doc})
	}
	return pyDumps(groupZarrJSON(attrs, md), 2)
}

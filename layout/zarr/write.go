package zarr

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/annslicer/annslicer/internal/filewrite"
)

// Writing puts files straight into dir. A store is only complete once
// everything is written, so callers build it in a temporary directory and
// rename it into place.

func writeFile(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return errorf(file, nil, "%v", unwrapPathErr(err))
	}
	if err := filewrite.WriteFile(file, data, 0o644); err != nil {
		return errorf(file, nil, "%v", unwrapPathErr(err))
	}
	return nil
}

func nodeDir(dir, p string) (string, error) {
	p, err := cleanPath(p)
	if err != nil {
		return "", errorf(dir, nil, "%v", err)
	}
	return filepath.Join(dir, filepath.FromSlash(p)), nil
}

// CreateGroup writes a group's metadata: v2 .zgroup and, when attrs is
// not empty, .zattrs (zarr-python writes no empty .zattrs); v3 zarr.json.
func CreateGroup(dir, p string, format int, attrs Attrs) error {
	nd, err := nodeDir(dir, p)
	if err != nil {
		return err
	}
	switch format {
	case 2:
		if err := writeFile(filepath.Join(nd, ".zgroup"), ZgroupJSON()); err != nil {
			return err
		}
		if len(attrs) > 0 {
			b, err := MarshalZattrs(attrs)
			if err != nil {
				return atPath(filepath.Join(nd, ".zattrs"), err)
			}
			return writeFile(filepath.Join(nd, ".zattrs"), b)
		}
		return nil
	case 3:
		b, err := MarshalGroupZarrJSON(attrs)
		if err != nil {
			return atPath(filepath.Join(nd, "zarr.json"), err)
		}
		return writeFile(filepath.Join(nd, "zarr.json"), b)
	}
	return errorf(nd, nil, "zarr_format %d is not 2 or 3", format)
}

// ArrayWriter writes one array's chunks.
type ArrayWriter struct {
	dir  string // the array's directory
	Meta *ArrayMeta
}

// CreateArray writes an array's metadata documents (v2 .zarray and
// .zattrs when attrs is not empty; v3 zarr.json) and returns a writer for
// its chunks. Chunks never written read back as the fill value.
func CreateArray(dir, p string, m ArrayMeta, attrs Attrs) (*ArrayWriter, error) {
	nd, err := nodeDir(dir, p)
	if err != nil {
		return nil, err
	}
	m.Shape = append([]int(nil), m.Shape...)
	m.Chunks = append([]int(nil), m.Chunks...)
	m.Codecs = append([]Codec(nil), m.Codecs...)
	m.setTypeSize()
	w := &ArrayWriter{dir: nd, Meta: &m}
	switch m.Format {
	case 2:
		b, err := m.MarshalZarray()
		if err != nil {
			return nil, atPath(filepath.Join(nd, ".zarray"), err)
		}
		if err := writeFile(filepath.Join(nd, ".zarray"), b); err != nil {
			return nil, err
		}
		if len(attrs) > 0 {
			b, err := MarshalZattrs(attrs)
			if err != nil {
				return nil, atPath(filepath.Join(nd, ".zattrs"), err)
			}
			if err := writeFile(filepath.Join(nd, ".zattrs"), b); err != nil {
				return nil, err
			}
		}
	case 3:
		b, err := m.MarshalZarrJSON(attrs)
		if err != nil {
			return nil, atPath(filepath.Join(nd, "zarr.json"), err)
		}
		if err := writeFile(filepath.Join(nd, "zarr.json"), b); err != nil {
			return nil, err
		}
	default:
		return nil, errorf(nd, nil, "zarr_format %d is not 2 or 3", m.Format)
	}
	return w, nil
}

func (w *ArrayWriter) chunkFile(idx []int) (string, error) {
	g := w.Meta.Grid()
	if len(idx) != len(g) {
		return "", errorf(w.dir, nil, "chunk index %v has rank %d, array has rank %d", idx, len(idx), len(g))
	}
	for i := range idx {
		if idx[i] < 0 || idx[i] >= g[i] {
			return "", errorf(w.dir, nil, "chunk index %v outside the chunk grid %v", idx, g)
		}
	}
	return filepath.Join(w.dir, filepath.FromSlash(w.Meta.ChunkKey(idx))), nil
}

// ChunkFile is the path of a chunk's file (a shard's, when sharded), for
// writers that lay the file out themselves.
func (w *ArrayWriter) ChunkFile(idx []int) (string, error) { return w.chunkFile(idx) }

// WriteChunk encodes one full chunk of raw element bytes with the array's
// codecs and writes it.
func (w *ArrayWriter) WriteChunk(idx []int, raw []byte) error {
	file, err := w.chunkFile(idx)
	if err != nil {
		return err
	}
	b, err := w.Meta.EncodeChunk(raw)
	if err != nil {
		return atPath(file, err)
	}
	return writeFile(file, b)
}

// WriteChunkStrings encodes and writes one full chunk of a string array.
func (w *ArrayWriter) WriteChunkStrings(idx []int, s []string) error {
	file, err := w.chunkFile(idx)
	if err != nil {
		return err
	}
	b, err := w.Meta.EncodeStrings(s)
	if err != nil {
		return atPath(file, err)
	}
	return writeFile(file, b)
}

// WriteAll writes a whole array held in memory (C order, the dtype's byte
// order), padding edge chunks with the fill value. For small arrays.
func (w *ArrayWriter) WriteAll(raw []byte) error {
	m := w.Meta
	if m.DType.Kind == 'O' {
		return errorf(w.dir, nil, "WriteAll on a string array (use WriteAllStrings)")
	}
	if len(raw) != m.Len()*m.DType.Size {
		return errorf(w.dir, nil, "array data has %d bytes, want %d", len(raw), m.Len()*m.DType.Size)
	}
	fill := m.fillElement()
	item := m.DType.Size
	return w.eachChunk(func(idx, origin, ext []int) error {
		buf := bytes.Repeat(fill, m.ChunkLen())
		regionRuns(m.Shape, m.Chunks, origin, ext, func(so, do, n int) {
			copy(buf[do*item:(do+n)*item], raw[so*item:(so+n)*item])
		})
		return w.WriteChunk(idx, buf)
	})
}

// WriteAllStrings writes a whole string array held in memory.
func (w *ArrayWriter) WriteAllStrings(s []string) error {
	m := w.Meta
	if m.DType.Kind != 'O' {
		return errorf(w.dir, nil, "WriteAllStrings on a %s array", m.DType)
	}
	if len(s) != m.Len() {
		return errorf(w.dir, nil, "array data has %d strings, want %d", len(s), m.Len())
	}
	fill := fillString(m.fillJV())
	return w.eachChunk(func(idx, origin, ext []int) error {
		buf := make([]string, m.ChunkLen())
		for i := range buf {
			buf[i] = fill
		}
		regionRuns(m.Shape, m.Chunks, origin, ext, func(so, do, n int) {
			copy(buf[do:do+n], s[so:so+n])
		})
		return w.WriteChunkStrings(idx, buf)
	})
}

// eachChunk calls fn for every chunk with its index, element origin and
// extent inside the array (smaller than Chunks at the edges).
func (w *ArrayWriter) eachChunk(fn func(idx, origin, ext []int) error) error {
	m := w.Meta
	g := m.Grid()
	if product(g) == 0 {
		return nil
	}
	idx := make([]int, len(g))
	for k := product(g); k > 0; k-- {
		origin := make([]int, len(g))
		ext := make([]int, len(g))
		for d := range g {
			origin[d] = idx[d] * m.Chunks[d]
			ext[d] = min(m.Chunks[d], m.Shape[d]-origin[d])
		}
		if err := fn(append([]int(nil), idx...), origin, ext); err != nil {
			return err
		}
		nextIndex(idx, g)
	}
	return nil
}

// regionRuns walks the region [origin, origin+ext) of a C-order array of
// shape, row by row, calling fn with the row's element offset in the array,
// its offset in a chunk of shape cshape holding the region at its corner,
// and its length.
func regionRuns(shape, cshape, origin, ext []int, fn func(so, do, n int)) {
	r := len(shape)
	if r == 0 {
		fn(0, 0, 1)
		return
	}
	pos := make([]int, r-1)
	for k := product(ext[:r-1]); k > 0; k-- {
		so, do := 0, 0
		for d := 0; d < r-1; d++ {
			so = so*shape[d] + origin[d] + pos[d]
			do = do*cshape[d] + pos[d]
		}
		fn(so*shape[r-1]+origin[r-1], do*cshape[r-1], ext[r-1])
		nextIndex(pos, ext[:r-1])
	}
}

// Consolidate writes the consolidated metadata of the store in dir, as
// zarr.consolidate_metadata does: for v2, .zmetadata from every .zgroup,
// .zarray and .zattrs in it; for v3 (a root zarr.json), the root zarr.json
// again with every node's metadata inline.
func Consolidate(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "zarr.json")); err == nil {
		return consolidateV3(dir)
	}
	docs := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch d.Name() {
		case ".zgroup", ".zarray", ".zattrs":
		case "zarr.json":
			return fmt.Errorf("%s: is zarr v3 (Consolidate writes v2 .zmetadata)", p)
		default:
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := parseJSON(b); err != nil {
			return atPath(p, err)
		}
		docs[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		return atPath(dir, err)
	}
	b, err := MarshalConsolidated(docs)
	if err != nil {
		return atPath(filepath.Join(dir, ".zmetadata"), err)
	}
	return writeFile(filepath.Join(dir, ".zmetadata"), b)
}

// ChunkKeys lists every chunk key of an array in C order of the chunk
// grid, e.g. for serving a virtual store's directory listing.
func (m *ArrayMeta) ChunkKeys() []string {
	g := m.Grid()
	n := product(g)
	keys := make([]string, 0, n)
	idx := make([]int, len(g))
	for ; n > 0; n-- {
		keys = append(keys, m.ChunkKey(idx))
		nextIndex(idx, g)
	}
	return keys
}

func consolidateV3(dir string) error {
	var rootAttrs Attrs
	nodes := map[string]V3Node{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() != "zarr.json" || d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, filepath.Dir(p))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n, err := parseZarrJSON(b)
		if err != nil {
			return atPath(p, err)
		}
		if rel == "." {
			if n.isArray {
				return errorf(p, nil, "the root of a store to consolidate is an array")
			}
			rootAttrs = n.attrs
			return nil
		}
		nodes[filepath.ToSlash(rel)] = V3Node{Meta: n.meta, Attrs: n.attrs}
		return nil
	})
	if err != nil {
		return atPath(dir, err)
	}
	b, err := MarshalConsolidatedZarrJSON(rootAttrs, nodes)
	if err != nil {
		return atPath(filepath.Join(dir, "zarr.json"), err)
	}
	return writeFile(filepath.Join(dir, "zarr.json"), b)
}

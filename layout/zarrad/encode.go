package zarrad

// The zarr encoder: any plan (package tree) as a zarr store (v2, or v3
// with or without sharding: Layout), written (compressed with a codec) or
// as image entries a mount serves (uncompressed, every size known before a
// byte is made).

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// ChunkBytes is the raw size aimed at for one chunk: arrays are
// chunked along their first axis only, so a chunk is a byte range of the
// array's C-order bytes (plus padding in the last one).
const ChunkBytes = 1 << 20

// AnnDataBlosc is anndata's default zarr compressor: Blosc(lz4, clevel 5,
// byte shuffle).
var AnnDataBlosc zarr.Codec = zarr.Blosc{CName: "lz4", CLevel: 5, Shuffle: zarr.ByteShuffle}

// CodecByName maps a --compression name to a zarr compressor: "" or "blosc"
// (anndata's default Blosc lz4), "zstd" (Blosc zstd), "gzip", "zlib", or
// "none" (uncompressed: the bytes a mount serves).
func CodecByName(name string) (zarr.Codec, error) {
	switch name {
	case "", "blosc", "lz4":
		return AnnDataBlosc, nil
	case "zstd":
		return zarr.Blosc{CName: "zstd", CLevel: 5, Shuffle: zarr.ByteShuffle}, nil
	case "gzip":
		return zarr.Gzip{Level: 5}, nil
	case "zlib":
		return zarr.Zlib{Level: 5}, nil
	case "none":
		return nil, nil
	}
	return nil, fmt.Errorf("--compression %q is not supported for zarr shards: use blosc (the default, Blosc lz4 as anndata writes), zstd, gzip, zlib or none", name)
}

// meta is the array's zarr metadata with the given compressor (nil: none)
// in the given layout.
func meta(a *tree.PlanArray, codec zarr.Codec, l Layout) zarr.ArrayMeta {
	m := zarr.ArrayMeta{Format: l.version(), DType: a.DType}
	m.Shape = make([]int, len(a.Shape))
	m.Chunks = make([]int, len(a.Shape))
	for i, d := range a.Shape {
		m.Shape[i] = int(d)
		m.Chunks[i] = max(1, int(d))
	}
	if len(a.Shape) > 0 {
		n := a.Shape[0]
		var rowBytes int64
		if a.DType.Kind == 'O' {
			total := int64(0)
			// (a failed read of a list fails again, and is
			// reported, when its chunks are made)
			a.EachStr(0, a.NumStrs(), func(s string) error {
				total += int64(len(s)) + 4
				return nil
			})
			if n > 0 {
				rowBytes = max(1, total/n)
			}
		} else {
			rowBytes = int64(a.DType.Size)
			for _, d := range a.Shape[1:] {
				rowBytes *= d
			}
		}
		if rowBytes > 0 {
			m.Chunks[0] = int(max(1, min(n, ChunkBytes/rowBytes)))
		}
	}
	switch a.DType.Kind {
	case 'f':
		m.FillValue = json.RawMessage("0.0")
	case 'i', 'u', 'O':
		m.FillValue = json.RawMessage("0")
	case 'b':
		m.FillValue = json.RawMessage("false")
	case 'U':
		m.FillValue = json.RawMessage(`""`)
	case 'V':
		m.FillValue = zarr.ZeroFill(a.DType) // a record array: base64 zeros, as zarr-python 2 writes
	}
	if m.Format == 3 && (a.DType.Kind == 'O' || a.DType.Kind == 'S') {
		m.FillValue = json.RawMessage(`""`) // as zarr-python 3 writes for strings and bytes
	}
	if codec != nil && len(a.Shape) > 0 {
		m.Codecs = []zarr.Codec{codec}
	}
	if l.ShardRows > 0 && len(a.Shape) > 0 && a.DType.Rec == nil {
		// Record arrays stay unsharded, as anndata leaves them:
		// zarr-python 3.1 cannot read a sharded structured array (its
		// fill value, a numpy void, is unhashable).
		l.shard(&m)
	}
	return m
}

// chunkRows is the number of first-axis indices per chunk; 1 for 0-d.
func chunkRows(m *zarr.ArrayMeta) int64 {
	if len(m.Chunks) == 0 {
		return 1
	}
	return int64(m.Chunks[0])
}

// nChunks is the number of chunk files (chunks along the first axis).
func nChunks(a *tree.PlanArray, m *zarr.ArrayMeta) int {
	n := 1
	for _, g := range m.Grid() {
		n *= g
	}
	return n
}

func chunkIndex(m *zarr.ArrayMeta, c int) []int {
	idx := make([]int, len(m.Shape))
	if len(idx) > 0 {
		idx[0] = c
	}
	return idx
}

// chunkStrings is chunk c of a string array, padded with "".
func chunkStrings(a *tree.PlanArray, m *zarr.ArrayMeta, c int) ([]string, error) {
	strs, per, err := chunkStringsIn(a, m, c)
	if err != nil || len(strs) == per {
		return strs, err
	}
	out := make([]string, per)
	copy(out, strs)
	return out, nil
}

// chunkStringsIn is chunk c's strings as the plan holds them (shared,
// read-only) and the chunk's length: the strings, then "" up to it.
func chunkStringsIn(a *tree.PlanArray, m *zarr.ArrayMeta, c int) ([]string, int, error) {
	per := chunkRows(m) * a.RowElems()
	lo := int64(c) * per
	hi := min(int64(a.NumStrs()), lo+per)
	strs, err := a.StrsIn(int(lo), int(hi))
	if err != nil {
		return nil, 0, fmt.Errorf("/%s: %v", a.Path, err)
	}
	return strs, int(per), nil
}

// chunkFile is a fixed-size array's uncompressed chunk: bytes [start,
// start+valid) of the array, then zeros up to the full chunk size.
type chunkFile struct {
	a            *tree.PlanArray
	start, valid int64
	size         int64
}

func chunk(a *tree.PlanArray, m *zarr.ArrayMeta, c int) *chunkFile {
	size := int64(m.RawChunkSize())
	total := a.RowElems() * int64(a.DType.Size)
	if len(a.Shape) > 0 {
		total *= a.Shape[0]
	}
	start := int64(c) * size
	return &chunkFile{a: a, start: start, valid: max(0, min(size, total-start)), size: size}
}

func (f *chunkFile) Size() int64 { return f.size }

func (f *chunkFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	want := len(p)
	p = p[:min(int64(len(p)), f.size-off)]
	if off < f.valid {
		n := min(int64(len(p)), f.valid-off)
		if err := f.a.Fill(p[:n], f.start+off); err != nil {
			return 0, fmt.Errorf("%s: %w", f.a.Path, err)
		}
		clear(p[n:])
	} else {
		clear(p)
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

// Entries are the shard's files as a mount serves them, in zarr v2:
// Layout.Entries with the zero Layout.
func Entries(z *tree.Plan) ([]image.Entry, error) { return Layout{}.Entries(z) }

// Entries are the shard's files as a mount serves them: uncompressed
// chunks (every size known up front, bytes made on read), metadata
// documents and consolidated metadata, in layout l.
func (l Layout) Entries(z *tree.Plan) ([]image.Entry, error) {
	if err := Prepare(z); err != nil {
		return nil, err
	}
	if l.version() == 3 {
		return entriesV3(z, l)
	}
	var out []image.Entry
	docs := map[string][]byte{}
	doc := func(p string, b []byte) {
		docs[p] = b
		out = append(out, image.Entry{Path: p, File: image.Bytes(b)})
	}
	for _, g := range z.Groups {
		doc(tree.Join(g.Path, ".zgroup"), zarr.ZgroupJSON())
		if len(g.Attrs) > 0 {
			b, err := zarr.MarshalZattrs(g.Attrs)
			if err != nil {
				return nil, fmt.Errorf("/%s: %v", g.Path, err)
			}
			doc(tree.Join(g.Path, ".zattrs"), b)
		}
	}
	for _, a := range z.Arrays {
		m := meta(a, nil, l)
		b, err := m.MarshalZarray()
		if err != nil {
			return nil, fmt.Errorf("/%s: %v", a.Path, err)
		}
		doc(tree.Join(a.Path, ".zarray"), b)
		if len(a.Attrs) > 0 {
			b, err := zarr.MarshalZattrs(a.Attrs)
			if err != nil {
				return nil, fmt.Errorf("/%s: %v", a.Path, err)
			}
			doc(tree.Join(a.Path, ".zattrs"), b)
		}
		ents, err := chunkEntries(a, &m)
		if err != nil {
			return nil, err
		}
		out = append(out, ents...)
	}
	b, err := zarr.MarshalConsolidated(docs)
	if err != nil {
		return nil, err
	}
	out = append(out, image.Entry{Path: ".zmetadata", File: image.Bytes(b)})
	return out, nil
}

// chunkEntries are an unsharded array's chunk files, uncompressed.
func chunkEntries(a *tree.PlanArray, m *zarr.ArrayMeta) ([]image.Entry, error) {
	var out []image.Entry
	for c := 0; c < nChunks(a, m); c++ {
		p := tree.Join(a.Path, m.ChunkKey(chunkIndex(m, c)))
		if a.DType.Kind == 'O' {
			strs, per, err := chunkStringsIn(a, m, c)
			if err != nil {
				return nil, err
			}
			out = append(out, image.Entry{Path: p, File: newVlenChunk(strs, per-len(strs))})
		} else {
			out = append(out, image.Entry{Path: p, File: chunk(a, m, c)})
		}
	}
	return out, nil
}

// Write is Layout.Write with the zero Layout: a zarr v2 store.
func Write(z *tree.Plan, dir string, codec zarr.Codec) error { return Layout{}.Write(z, dir, codec) }

// Write writes the plan as a zarr store in dir (created; the caller
// renames it into place) in layout l, chunks encoded with codec (nil:
// uncompressed, the same bytes a mount serves), with consolidated
// metadata.
func (l Layout) Write(z *tree.Plan, dir string, codec zarr.Codec) error {
	if err := Prepare(z); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := l.CreateGroups(z, dir); err != nil {
		return err
	}
	for _, a := range z.Arrays {
		if err := l.WriteArray(a, dir, codec); err != nil {
			return err
		}
	}
	return zarr.Consolidate(dir)
}

// CreateGroups writes the metadata of the plan's groups into dir.
func (l Layout) CreateGroups(z *tree.Plan, dir string) error {
	for _, g := range z.Groups {
		if err := zarr.CreateGroup(dir, g.Path, l.version(), g.Attrs); err != nil {
			return err
		}
	}
	return nil
}

// WriteArray is Layout.WriteArray with the zero Layout (zarr v2).
func WriteArray(a *tree.PlanArray, dir string, codec zarr.Codec) error {
	return Layout{}.WriteArray(a, dir, codec)
}

// WriteArray writes one array of a plan (whose verbatim elements are
// expanded) into the store in dir, in layout l.
func (l Layout) WriteArray(a *tree.PlanArray, dir string, codec zarr.Codec) error {
	a, err := l.array(a)
	if err != nil {
		return err
	}
	m := meta(a, codec, l)
	w, err := zarr.CreateArray(dir, a.Path, m, a.Attrs)
	if err != nil {
		return err
	}
	if m.Shard != nil {
		return writeShards(a, w)
	}
	if a.DType.Kind == 'O' {
		for c := 0; c < nChunks(a, &m); c++ {
			strs, err := chunkStrings(a, &m, c)
			if err != nil {
				return err
			}
			if err := w.WriteChunkStrings(chunkIndex(&m, c), strs); err != nil {
				return err
			}
		}
		return nil
	}
	put := func(c int, raw []byte) error { return w.WriteChunk(chunkIndex(&m, c), raw) }
	return writeChunks(a, &m, put, nil)
}

// Window bounds the bytes generated by one fill when writing: several
// chunks at once, so a shuffled gather sweeps a compressed source's chunks
// once per window rather than once per chunk.
const Window = 16 << 20

var windowPool = sync.Pool{New: func() any { return new([]byte) }}

// writeChunks generates the array's chunks (of m, unsharded) window by
// window, hands each to put, on every core at once, and then, when flush
// is not nil, calls flush for the window's chunks [c0, c1), in order.
func writeChunks(a *tree.PlanArray, m *zarr.ArrayMeta, put func(c int, raw []byte) error, flush func(c0, c1 int) error) error {
	n := nChunks(a, m)
	if n == 0 {
		return nil
	}
	size := int64(m.RawChunkSize())
	per := max(1, int(Window/size))
	total := chunk(a, m, n-1).start + chunk(a, m, n-1).valid
	bp := windowPool.Get().(*[]byte)
	defer windowPool.Put(bp)
	need := int64(min(per, n)) * size
	if int64(cap(*bp)) < need {
		*bp = make([]byte, need)
	}
	buf := (*bp)[:need]
	for c0 := 0; c0 < n; c0 += per {
		c1 := min(n, c0+per)
		lo := int64(c0) * size
		hi := min(total, int64(c1)*size)
		win := buf[:int64(c1-c0)*size]
		if hi > lo {
			if err := a.Fill(win[:hi-lo], lo); err != nil {
				return fmt.Errorf("%s: %w", a.Path, err)
			}
		}
		clear(win[max(0, hi-lo):])
		if err := writeWindow(put, win, c0, c1, size); err != nil {
			return err
		}
		if flush != nil {
			if err := flush(c0, c1); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeWindow hands chunks [c0, c1) of a filled window to put on every
// core: encoding (Blosc) is what a compressed store's writing costs.
func writeWindow(put func(c int, raw []byte) error, win []byte, c0, c1 int, size int64) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  atomic.Int64
	)
	next.Store(int64(c0))
	for range min(runtime.GOMAXPROCS(0), c1-c0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= c1 {
					return
				}
				off := int64(c-c0) * size
				if err := put(c, win[off:off+size]); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

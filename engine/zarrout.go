package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
)

// ZarrChunkBytes is the raw size aimed at for one chunk: arrays are
// chunked along their first axis only, so a chunk is a byte range of the
// array's C-order bytes (plus padding in the last one).
const ZarrChunkBytes = 1 << 20

// AnnDataBlosc is anndata's default zarr compressor: Blosc(lz4, clevel 5,
// byte shuffle).
var AnnDataBlosc zarr.Codec = zarr.Blosc{CName: "lz4", CLevel: 5, Shuffle: zarr.ByteShuffle}

// ZarrCodec maps a --compression name to a zarr compressor: "" or "blosc"
// (anndata's default Blosc lz4), "zstd" (Blosc zstd), "gzip", "zlib", or
// "none" (uncompressed: the bytes a mount serves).
func ZarrCodec(name string) (zarr.Codec, error) {
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

// meta is the array's zarr metadata with the given compressor (nil: none).
func (a *zarrayOut) meta(codec zarr.Codec) zarr.ArrayMeta {
	m := zarr.ArrayMeta{Format: 2, DType: a.dtype}
	m.Shape = make([]int, len(a.shape))
	m.Chunks = make([]int, len(a.shape))
	for i, d := range a.shape {
		m.Shape[i] = int(d)
		m.Chunks[i] = max(1, int(d))
	}
	if len(a.shape) > 0 {
		n := a.shape[0]
		var rowBytes int64
		if a.dtype.Kind == 'O' {
			total := int64(0)
			for _, s := range a.strs {
				total += int64(len(s)) + 4
			}
			if n > 0 {
				rowBytes = max(1, total/n)
			}
		} else {
			rowBytes = int64(a.dtype.Size)
			for _, d := range a.shape[1:] {
				rowBytes *= d
			}
		}
		if rowBytes > 0 {
			m.Chunks[0] = int(max(1, min(n, ZarrChunkBytes/rowBytes)))
		}
	}
	switch a.dtype.Kind {
	case 'f':
		m.FillValue = json.RawMessage("0.0")
	case 'i', 'u', 'O':
		m.FillValue = json.RawMessage("0")
	case 'b':
		m.FillValue = json.RawMessage("false")
	case 'U':
		m.FillValue = json.RawMessage(`""`)
	case 'V':
		m.FillValue = zarr.ZeroFill(a.dtype) // a record array: base64 zeros, as zarr-python 2 writes
	}
	if codec != nil && len(a.shape) > 0 {
		m.Codecs = []zarr.Codec{codec}
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

func (a *zarrayOut) rowElems() int64 {
	n := int64(1)
	for _, d := range a.shape[min(1, len(a.shape)):] {
		n *= d
	}
	return n
}

// nChunks is the number of chunk files (chunks along the first axis).
func (a *zarrayOut) nChunks(m *zarr.ArrayMeta) int {
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
func (a *zarrayOut) chunkStrings(m *zarr.ArrayMeta, c int) []string {
	per := chunkRows(m) * a.rowElems()
	lo := int64(c) * per
	hi := min(int64(len(a.strs)), lo+per)
	out := make([]string, per)
	copy(out, a.strs[lo:hi])
	return out
}

// chunkFile is a fixed-size array's uncompressed chunk: bytes [start,
// start+valid) of the array, then zeros up to the full chunk size.
type chunkFile struct {
	a            *zarrayOut
	start, valid int64
	size         int64
}

func (a *zarrayOut) chunk(m *zarr.ArrayMeta, c int) *chunkFile {
	size := int64(m.RawChunkSize())
	total := a.rowElems() * int64(a.dtype.Size)
	if len(a.shape) > 0 {
		total *= a.shape[0]
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
		if err := f.a.fill(p[:n], f.start+off); err != nil {
			return 0, fmt.Errorf("%s: %w", f.a.path, err)
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

// Entries are the shard's files as a mount serves them: uncompressed
// chunks (every size known up front, bytes made on read), metadata
// documents and consolidated .zmetadata.
func (z *ZarrShard) Entries() ([]image.Entry, error) {
	var out []image.Entry
	docs := map[string][]byte{}
	doc := func(p string, b []byte) {
		docs[p] = b
		out = append(out, image.Entry{Path: p, File: image.Bytes(b)})
	}
	for _, g := range z.groups {
		doc(join2(g.path, ".zgroup"), zarr.ZgroupJSON())
		if len(g.attrs) > 0 {
			b, err := zarr.MarshalZattrs(g.attrs)
			if err != nil {
				return nil, fmt.Errorf("/%s: %v", g.path, err)
			}
			doc(join2(g.path, ".zattrs"), b)
		}
	}
	for _, a := range z.arrays {
		m := a.meta(nil)
		b, err := m.MarshalZarray()
		if err != nil {
			return nil, fmt.Errorf("/%s: %v", a.path, err)
		}
		doc(join2(a.path, ".zarray"), b)
		if len(a.attrs) > 0 {
			b, err := zarr.MarshalZattrs(a.attrs)
			if err != nil {
				return nil, fmt.Errorf("/%s: %v", a.path, err)
			}
			doc(join2(a.path, ".zattrs"), b)
		}
		for c := 0; c < a.nChunks(&m); c++ {
			p := join2(a.path, m.ChunkKey(chunkIndex(&m, c)))
			if a.dtype.Kind == 'O' {
				out = append(out, image.Entry{Path: p, File: image.Bytes(zarr.EncodeVlenUTF8(a.chunkStrings(&m, c)))})
			} else {
				out = append(out, image.Entry{Path: p, File: a.chunk(&m, c)})
			}
		}
	}
	b, err := zarr.MarshalConsolidated(docs)
	if err != nil {
		return nil, err
	}
	out = append(out, image.Entry{Path: ".zmetadata", File: image.Bytes(b)})
	return out, nil
}

// WriteZarr writes the shard as a zarr store in dir (created; the caller
// renames it into place), chunks encoded with codec (nil: uncompressed,
// the same bytes a mount serves), with consolidated metadata.
func (z *ZarrShard) WriteZarr(dir string, codec zarr.Codec) error {
	return WriteZarrShards([]*ZarrShard{z}, []string{dir}, codec, 1)
}

// WriteZarrShards writes shards of one source to dirs in lockstep, array
// by array: for each array, up to workers shards generate it at once, so
// they read the same source array at the same time and a compressed
// source's chunks are decoded about once for all of them (they stay in the
// shared chunk cache) instead of once per shard.
func WriteZarrShards(shards []*ZarrShard, dirs []string, codec zarr.Codec, workers int) error {
	for g, z := range shards {
		if len(z.arrays) != len(shards[0].arrays) {
			return fmt.Errorf("shards of one source differ in their arrays")
		}
		if err := os.MkdirAll(dirs[g], 0o755); err != nil {
			return err
		}
		for _, gr := range z.groups {
			if err := zarr.CreateGroup(dirs[g], gr.path, 2, gr.attrs); err != nil {
				return err
			}
		}
	}
	for j := range shards[0].arrays {
		err := lockstep(len(shards), workers, func(g int) error {
			return shards[g].arrays[j].write(dirs[g], codec)
		})
		if err != nil {
			return err
		}
	}
	for _, d := range dirs {
		if err := zarr.Consolidate(d); err != nil {
			return err
		}
	}
	return nil
}

// lockstep runs fn(0..n-1) on up to workers goroutines; the first error wins.
func lockstep(n, workers int, fn func(g int) error) error {
	workers = max(1, min(workers, n))
	if workers == 1 {
		for g := 0; g < n; g++ {
			if err := fn(g); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				g := next
				next++
				stop := first != nil || g >= n
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(g); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func (a *zarrayOut) write(dir string, codec zarr.Codec) error {
	m := a.meta(codec)
	w, err := zarr.CreateArray(dir, a.path, m, a.attrs)
	if err != nil {
		return err
	}
	if a.dtype.Kind == 'O' {
		for c := 0; c < a.nChunks(&m); c++ {
			if err := w.WriteChunkStrings(chunkIndex(&m, c), a.chunkStrings(&m, c)); err != nil {
				return err
			}
		}
		return nil
	}
	return a.writeChunks(w, &m)
}

// ZarrShardDir is where WriteZarr's output for name is built before the
// rename: a hidden sibling.
func ZarrShardDir(name string) string {
	return filepath.Join(filepath.Dir(name), fmt.Sprintf(".%s.tmp-%d", filepath.Base(name), os.Getpid()))
}

// zarrWindow bounds the bytes generated by one fill when writing: several
// chunks at once, so a shuffled gather sweeps a compressed source's chunks
// once per window rather than once per chunk.
const zarrWindow = 16 << 20

var windowPool = sync.Pool{New: func() any { return new([]byte) }}

// writeChunks generates the array window by window and writes its chunks.
func (a *zarrayOut) writeChunks(w *zarr.ArrayWriter, m *zarr.ArrayMeta) error {
	n := a.nChunks(m)
	if n == 0 {
		return nil
	}
	size := int64(m.RawChunkSize())
	per := max(1, int(zarrWindow/size))
	total := a.chunk(m, n-1).start + a.chunk(m, n-1).valid
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
			if err := a.fill(win[:hi-lo], lo); err != nil {
				return fmt.Errorf("%s: %w", a.path, err)
			}
		}
		clear(win[max(0, hi-lo):])
		for c := c0; c < c1; c++ {
			off := int64(c-c0) * size
			if err := w.WriteChunk(chunkIndex(m, c), win[off:off+size]); err != nil {
				return err
			}
		}
	}
	return nil
}

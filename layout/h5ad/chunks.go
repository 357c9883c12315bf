package h5ad

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zlib"

	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/image"
)

// Compressed shards: libhdf5 compresses inside its global lock, one chunk
// at a time. Instead, chunks are generated and compressed here on every
// core and handed to libhdf5 already filtered (direct chunk writes): the
// same bytes a reader decodes with the standard deflate or LZF filter.

type chunk struct {
	k    int64
	mask uint32
	data []byte
}

// WriteChunks fills, compresses and writes every chunk of ds, whose
// chunks hold cr rows of rowBytes each.
func WriteChunks(ds *h5.Dataset, nrows, rowBytes, cr int64, fill image.Fill, filter h5.Filter, level int) error {
	nchunks := (nrows + cr - 1) / cr
	jobs := make(chan int64)
	done := make(chan chunk, 4)
	stop := make(chan struct{})
	var errOnce sync.Once
	var firstErr error
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; close(stop) })
	}
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw := make([]byte, cr*rowBytes)
			z := newChunkCompressor(filter, level)
			for k := range jobs {
				n := min(cr, nrows-k*cr)
				clear(raw[n*rowBytes:]) // an edge chunk is stored whole, padded with the fill value 0
				if err := fill(raw[:n*rowBytes], k*cr*rowBytes); err != nil {
					fail(fmt.Errorf("%s: %w", ds.Path, err))
					return
				}
				data, mask, err := z.compress(raw)
				if err != nil {
					fail(fmt.Errorf("%s: %w", ds.Path, err))
					return
				}
				select {
				case done <- chunk{k, mask, data}:
				case <-stop:
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for k := int64(0); k < nchunks; k++ {
			select {
			case jobs <- k:
			case <-stop:
				return
			}
		}
	}()
	go func() { wg.Wait(); close(done) }()
	coord := make([]int64, len(ds.Dims))
	for c := range done {
		if firstErr != nil {
			continue // drain
		}
		coord[0] = c.k * cr
		if err := ds.WriteChunk(coord, c.mask, c.data); err != nil {
			fail(err)
		}
	}
	return firstErr
}

type chunkCompressor struct {
	filter h5.Filter
	level  int
	buf    bytes.Buffer
	zw     *zlib.Writer
}

func newChunkCompressor(f h5.Filter, level int) *chunkCompressor {
	return &chunkCompressor{filter: f, level: level}
}

// compress returns a fresh slice (it is handed to another goroutine) and
// the filter mask: LZF, an optional filter, is skipped for a chunk it
// cannot shrink, as the filter itself does.
func (c *chunkCompressor) compress(raw []byte) ([]byte, uint32, error) {
	switch c.filter {
	case h5.LZF:
		out := make([]byte, len(raw))
		n := h5.LZFCompress(out, raw)
		if n == 0 {
			return append([]byte(nil), raw...), 1, nil
		}
		return out[:n], 0, nil
	case h5.Gzip:
		c.buf.Reset()
		if c.zw == nil {
			zw, err := zlib.NewWriterLevel(&c.buf, c.level)
			if err != nil {
				return nil, 0, err
			}
			c.zw = zw
		} else {
			c.zw.Reset(&c.buf)
		}
		if _, err := c.zw.Write(raw); err != nil {
			return nil, 0, err
		}
		if err := c.zw.Close(); err != nil {
			return nil, 0, err
		}
		return append([]byte(nil), c.buf.Bytes()...), 0, nil
	}
	return nil, 0, fmt.Errorf("no compressor for filter %d", c.filter)
}

// ChunkTarget is the raw bytes per chunk of a compressed dataset.
const ChunkTarget = 1 << 20

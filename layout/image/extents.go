package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/annslicer/annslicer/internal/filewrite"
)

// Fill produces an array's bytes: p receives the bytes at byte offset off
// of the array (as laid out in the file). It must be safe for concurrent use.
type Fill func(p []byte, off int64) error

// Span is a byte range of a file: of File when not nil (a merge's window
// may cover several inputs), else of the file Spans returns.
type Span struct {
	Off, Len int64
	File     *os.File
}

// Spans says, when it can, which byte ranges of file src hold exactly the
// bytes [off, off+n) of an array, in order: then materialize copies them
// file to file in the kernel (copy_file_range) instead of through memory.
type Spans func(off, n int64) (src *os.File, spans []Span, ok bool)

// Extent is a byte range of a skeleton whose bytes are generated.
type Extent struct {
	Name  string // element path, for messages
	Off   int64  // file offset
	Size  int64
	Fill  Fill
	Spans Spans // may be nil
	// Gather, when not nil, says Fill's bytes are runs of a source's
	// rows, so shards can be gathered together (gathered.go).
	Gather *Gather
}

// Skeleton is a file image made of a skeleton file (an h5ad shard) whose bytes are served everywhere, except inside the
// extents, whose bytes Fill makes. It implements image.File.
type Skeleton struct {
	skel    io.ReaderAt
	size    int64
	extents []Extent // sorted by Off, disjoint
	check   func() error
}

// NewSkeleton serves a skeleton of size bytes with generated extents
// (Close closes skel if it is an io.Closer). check, if not nil, is called
// before a read is served and fails it when non-nil.
func NewSkeleton(skel io.ReaderAt, size int64, extents []Extent, check func() error) (*Skeleton, error) {
	sort.Slice(extents, func(i, j int) bool { return extents[i].Off < extents[j].Off })
	for _, e := range extents {
		if e.Off+e.Size > size {
			return nil, fmt.Errorf("skeleton: extent %s ends past the file", e.Name)
		}
	}
	return &Skeleton{skel: skel, size: size, extents: extents, check: check}, nil
}

func (im *Skeleton) Size() int64 { return im.size }

func (im *Skeleton) Close() error {
	if c, ok := im.skel.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// ReadAt serves skeleton bytes and generated extents alike.
func (im *Skeleton) ReadAt(p []byte, off int64) (int, error) {
	if im.check != nil {
		if err := im.check(); err != nil {
			return 0, err
		}
	}
	if off >= im.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > im.size-off {
		p = p[:im.size-off]
	}
	end := off + int64(len(p))
	i := sort.Search(len(im.extents), func(i int) bool { return im.extents[i].Off+im.extents[i].Size > off })
	pos := off
	for pos < end {
		var next int64 = end
		if i < len(im.extents) && im.extents[i].Off < end {
			next = im.extents[i].Off
		}
		if pos < next { // skeleton bytes
			if _, err := im.skel.ReadAt(p[pos-off:next-off], pos); err != nil && err != io.EOF {
				return 0, err
			}
			pos = next
			continue
		}
		e := im.extents[i]
		stop := min(end, e.Off+e.Size)
		if err := e.Fill(p[pos-off:stop-off], pos-e.Off); err != nil {
			return 0, fmt.Errorf("%s: %w", e.Name, err)
		}
		pos = stop
		i++
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

// WriteExtents writes every extent's bytes into f (the skeleton itself, at
// materialize time) in windows of at most window bytes. Its buffer is
// sized to the extents and reused from call to call: a shard has many
// small arrays, and a fresh window per array (zeroed, then garbage) costs
// a collection every few arrays under the memory limit.
func WriteExtents(ctx context.Context, f *os.File, extents []Extent, window int64, progress func(int64)) error {
	need := int64(0)
	for _, e := range extents {
		need = max(need, min(window, e.Size))
	}
	if need == 0 {
		return nil
	}
	pb := GetBuf(need)
	defer PutBuf(pb)
	buf := (*pb)[:need]
	for _, e := range extents {
		for pos := int64(0); pos < e.Size; pos += window {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(window, e.Size-pos)
			if e.Spans != nil {
				if src, spans, ok := e.Spans(pos, n); ok {
					if err := copySpans(src, f, spans, e.Off+pos, buf); err != nil {
						return fmt.Errorf("%s: %w", e.Name, err)
					}
					if progress != nil {
						progress(n)
					}
					continue
				}
			}
			if err := e.Fill(buf[:n], pos); err != nil {
				return fmt.Errorf("%s: %w", e.Name, err)
			}
			if err := filewrite.WriteAt(f, buf[:n], e.Off+pos); err != nil {
				return err
			}
			if progress != nil {
				progress(n)
			}
		}
	}
	return nil
}

// Buffers come in power-of-two classes from 64 KiB, one pool a class, so
// a small array does not take (and keep) a whole window.
const minBufShift = 16

var bufPools [48]sync.Pool

func bufClass(n int64) int {
	c := 0
	for int64(1)<<(minBufShift+c) < n {
		c++
	}
	return c
}

// GetBuf is a pooled buffer of at least n bytes (its length is its class's
// size: slice it); PutBuf gives it back. Every copy and conversion window
// of a run borrows from these pools instead of allocating per call.
func GetBuf(n int64) *[]byte {
	c := bufClass(n)
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, int64(1)<<(minBufShift+c))
	return &b
}

func PutBuf(p *[]byte) { bufPools[bufClass(int64(cap(*p)))].Put(p) }

// copySpans copies spans of src to dst at off, in the kernel where it can.
func copySpans(src, dst *os.File, spans []Span, off int64, buf []byte) error {
	for _, sp := range spans {
		src := src
		if sp.File != nil {
			src = sp.File
		}
		so, do, left := sp.Off, off, sp.Len
		for left > 0 {
			n, err := unix.CopyFileRange(int(src.Fd()), &so, int(dst.Fd()), &do, int(left), 0)
			if err != nil || n == 0 {
				// no kernel copy between these files: through memory
				for left > 0 {
					m := min(left, int64(len(buf)))
					if _, err := src.ReadAt(buf[:m], so); err != nil {
						return err
					}
					if err := filewrite.WriteAt(dst, buf[:m], do); err != nil {
						return err
					}
					so, do, left = so+m, do+m, left-m
				}
				break
			}
			left -= int64(n)
		}
		off += sp.Len
	}
	return nil
}

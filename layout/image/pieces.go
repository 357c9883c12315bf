package image

import (
	"io"
	"sort"
	"sync"
)

// Pieces is a File made of n pieces, piece(k) being its k-th run of bytes,
// produced again whenever it is read. Only the pieces' end offsets are
// kept (computed once, on the first Size or ReadAt), plus the last piece
// produced, so a document of any length (a manifest listing every cell)
// costs O(pieces) memory. piece must be deterministic and safe to call
// from several goroutines.
type Pieces struct {
	n     int
	piece func(k int) []byte

	once sync.Once
	ends []int64 // ends[k]: offset just past piece k

	mu      sync.Mutex
	lastK   int
	lastOut []byte
}

// NewPieces is the File of piece(0) … piece(n-1), in that order.
func NewPieces(n int, piece func(k int) []byte) *Pieces {
	return &Pieces{n: n, piece: piece, lastK: -1}
}

func (p *Pieces) measure() {
	p.once.Do(func() {
		p.ends = make([]int64, p.n)
		var off int64
		for k := range p.n {
			off += int64(len(p.piece(k)))
			p.ends[k] = off
		}
	})
}

func (p *Pieces) Size() int64 {
	p.measure()
	if p.n == 0 {
		return 0
	}
	return p.ends[p.n-1]
}

// get is piece k, from the one-piece cache when a read continues where
// the last one stopped (a big piece is read in several FUSE requests).
func (p *Pieces) get(k int) []byte {
	p.mu.Lock()
	if p.lastK == k {
		b := p.lastOut
		p.mu.Unlock()
		return b
	}
	p.mu.Unlock()
	b := p.piece(k)
	p.mu.Lock()
	p.lastK, p.lastOut = k, b
	p.mu.Unlock()
	return b
}

func (p *Pieces) ReadAt(dst []byte, off int64) (int, error) {
	size := p.Size()
	if off >= size {
		return 0, io.EOF
	}
	k := sort.Search(p.n, func(i int) bool { return p.ends[i] > off })
	n := 0
	for n < len(dst) && k < p.n {
		b := p.get(k)
		start := p.ends[k] - int64(len(b))
		n += copy(dst[n:], b[off+int64(n)-start:])
		k++
	}
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

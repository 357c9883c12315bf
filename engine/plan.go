// Package engine decides what each shard holds: shard plans (contiguous
// or shuffled by seed), and the rules (rules.go) that map a source's
// element tree (package tree) and a shard's rows to the shard as a
// tree.Plan, with the row gathers that make its arrays' bytes. Encoders
// (layout/h5ad, layout/zarrad) write plans; materialize and vfs run them.
package engine

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sort"
)

// Outputs are the outputs of a run as row selections: output k takes
// source rows Rows(k), in that order (PlanShard takes any). A Plan is one
// kind (fixed-size shards, contiguous or shuffled); package selection
// makes the others (one output per category, the cells a filter keeps).
type Outputs interface {
	Shards() int        // the number of outputs
	Count(k int) int64  // output k's number of rows
	Rows(k int) []int64 // output k's source rows, in output order
}

var _ Outputs = (*Plan)(nil)

// Plan splits n rows into shards of Size rows (the last takes the rest).
// It holds no row table: contiguous and shuffled plans are O(1) memory.
type Plan struct {
	N       int64
	Size    int64
	Shuffle bool
	Seed    uint64
	perm    *feistel
}

// NewPlan checks the arguments and builds the plan. With shuffle and no
// seed, a fresh random seed is drawn.
func NewPlan(n, size int64, shuffle bool, seed *uint64) (*Plan, error) {
	if size <= 0 {
		return nil, fmt.Errorf("--size must be a positive number of cells, got %d", size)
	}
	if seed != nil && !shuffle {
		return nil, fmt.Errorf("--seed only applies with --shuffle")
	}
	p := &Plan{N: n, Size: size, Shuffle: shuffle}
	if shuffle {
		if seed != nil {
			p.Seed = *seed
		} else {
			var b [8]byte
			if _, err := rand.Read(b[:]); err != nil {
				return nil, err
			}
			p.Seed = binary.LittleEndian.Uint64(b[:])
		}
		p.perm = newFeistel(uint64(n), p.Seed)
	}
	return p, nil
}

// Shards is the number of shards (at least one, even for an empty source,
// so every source gives a readable file).
func (p *Plan) Shards() int {
	if p.N == 0 {
		return 1
	}
	// not (N+Size-1)/Size, which overflows for a size near 2^63
	return int(1 + (p.N-1)/p.Size)
}

// Count is shard k's number of rows.
func (p *Plan) Count(k int) int64 {
	if k < 0 || k >= p.Shards() {
		return 0
	}
	lo := int64(k) * p.Size // < N: no overflow for a shard that exists
	return min(p.N-lo, p.Size)
}

// Rows are shard k's source rows, in shard order. Memory is O(shard):
// the shuffle is a keyed permutation evaluated per position, never a
// table of all N rows.
func (p *Plan) Rows(k int) []int64 {
	lo, n := int64(k)*p.Size, p.Count(k)
	rows := make([]int64, n)
	for i := range rows {
		pos := uint64(lo + int64(i))
		if p.perm != nil {
			pos = p.perm.at(pos)
		}
		rows[i] = int64(pos)
	}
	return rows
}

// Contiguous reports whether rows are consecutive ascending, which lets
// every gather collapse into one range copy.
func Contiguous(rows []int64) bool {
	for i := 1; i < len(rows); i++ {
		if rows[i] != rows[i-1]+1 {
			return false
		}
	}
	return true
}

// sortedOrder returns the indices of rows in ascending row order, so reads
// go through the source sequentially while output keeps shard order.
func sortedOrder(rows []int64) []int32 {
	idx := make([]int32, len(rows))
	for i := range idx {
		idx[i] = int32(i)
	}
	sort.Slice(idx, func(a, b int) bool { return rows[idx[a]] < rows[idx[b]] })
	return idx
}

// feistel is a keyed pseudo-random permutation of [0, n): a balanced
// Feistel network on the smallest even-bit domain covering n, with cycle
// walking back into range. O(1) memory whatever n; the same seed always
// gives the same order.
type feistel struct {
	n    uint64
	half uint   // bits per half
	mask uint64 // of one half
	keys [6]uint64
}

func newFeistel(n, seed uint64) *feistel {
	bits := uint(2)
	for bits < 64 && (uint64(1)<<bits) < n {
		bits++
	}
	if bits%2 == 1 {
		bits++
	}
	f := &feistel{n: n, half: bits / 2, mask: (uint64(1) << (bits / 2)) - 1}
	s := seed
	for i := range f.keys {
		s += 0x9e3779b97f4a7c15
		f.keys[i] = mix(s)
	}
	return f
}

// mix is splitmix64's finaliser: a good 64-bit hash for round functions.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (f *feistel) once(x uint64) uint64 {
	l, r := x>>f.half, x&f.mask
	for _, k := range f.keys {
		l, r = r, l^(mix(r^k)&f.mask)
	}
	return l<<f.half | r
}

func (f *feistel) at(i uint64) uint64 {
	x := f.once(i)
	for x >= f.n {
		x = f.once(x)
	}
	return x
}

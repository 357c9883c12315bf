package selection

import (
	"fmt"
	"strconv"
	"strings"
)

// A run's share of the outputs when one plan is split across machines
// (--shards i/N): output k of the whole set is written by the run whose
// index is k mod N. Every run computes the whole set the same way (the
// plan is a function of the flags and the source; a shuffle of its
// seed), then keeps its share, so the N shares are disjoint and cover
// the set, and an output keeps its global index and name (shard_k).

// Split is a share i of n.
type Split struct{ I, N int }

// ParseSplit reads "i/N": 0 <= i < N.
func ParseSplit(s string) (Split, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return Split{}, fmt.Errorf("%q is not INDEX/COUNT (e.g. 0/4, the first of 4 runs)", s)
	}
	if n < 1 {
		return Split{}, fmt.Errorf("%q: the count of runs must be 1 or more", s)
	}
	if i < 0 || i >= n {
		return Split{}, fmt.Errorf("%q: the index must be from 0 to %d (runs are numbered from 0)", s, n-1)
	}
	return Split{i, n}, nil
}

func (sp Split) String() string { return fmt.Sprintf("%d/%d", sp.I, sp.N) }

// Owns reports whether output k of the whole set is in this share.
func (sp Split) Owns(k int) bool { return sp.N <= 1 || k%sp.N == sp.I }

// Part is share sp of s: the outputs k of s with k mod sp.N == sp.I, in
// order. Its output j is output Index(j) of s, with the same rows and
// name. s itself is unchanged.
func (s *Set) Part(sp Split) *Set {
	p := *s
	p.pick = []int{}
	p.split = sp
	for k := 0; k < s.Total(); k++ {
		if sp.Owns(k) {
			p.pick = append(p.pick, k)
		}
	}
	return &p
}

// Total is the number of outputs of the whole set, this share or not.
func (s *Set) Total() int {
	if s.plan != nil {
		return s.plan.Shards()
	}
	return len(s.outs)
}

// Index is the index in the whole set of this set's output k (-1 when
// there is no output k).
func (s *Set) Index(k int) int {
	if s.pick == nil {
		return k
	}
	if k < 0 || k >= len(s.pick) {
		return -1
	}
	return s.pick[k]
}

// Share is the split this set is a share of, and whether it is one.
func (s *Set) Share() (Split, bool) { return s.split, s.pick != nil }

package engine

import (
	"fmt"
	"math"
	"testing"
)

// A size near 2^63 must give one shard holding every row, not overflow
// into zero shards.
func TestPlanHugeSizeIsOneShard(t *testing.T) {
	for _, size := range []int64{math.MaxInt64, math.MaxInt64 - 1, 1 << 62} {
		for _, n := range []int64{0, 1, 2000} {
			p, err := NewPlan(n, size, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			if p.Shards() != 1 || p.Count(0) != n || int64(len(p.Rows(0))) != n {
				t.Fatalf("n=%d size=%d: %d shards, shard 0 has %d rows; want 1 shard of %d", n, size, p.Shards(), p.Count(0), n)
			}
			if p.Count(1) != 0 || p.Count(-1) != 0 {
				t.Fatalf("n=%d size=%d: rows outside the plan", n, size)
			}
		}
	}
	p, _ := NewPlan(math.MaxInt64, math.MaxInt64/2, false, nil)
	if p.Shards() != 3 || p.Count(2) != 1 {
		t.Fatalf("N=2^63-1, size=N/2: %d shards, last holds %d; want 3 shards, the last 1 row", p.Shards(), p.Count(2))
	}
}

// The shuffle is a contract: shards written (or mounted) with a seed must
// be the same shards whenever the same seed is given again, in every
// version. These rows were produced by the Feistel plan as first
// released; any change to it breaks users' reproducibility.
func TestShuffledPlanIsPinned(t *testing.T) {
	seed := uint64(42)
	p, err := NewPlan(10, 4, true, &seed)
	if err != nil {
		t.Fatal(err)
	}
	got := [][]int64{p.Rows(0), p.Rows(1), p.Rows(2)}
	want := "[[2 7 4 0] [8 3 6 9] [5 1]]"
	if fmt.Sprint(got) != want {
		t.Fatalf("seed 42, 10 rows by 4: %v, want %s", got, want)
	}
}

package engine

import (
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

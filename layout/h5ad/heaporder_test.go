package h5ad

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// heapOrder must group every descriptor by its collection address (in
// increasing order) and keep each index exactly once, whatever the
// addresses: sorted already, shuffled, large, or all the same.
func TestHeapOrderGroupsByCollection(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		addr func(i int) uint64
	}{
		{"sorted", func(i int) uint64 { return uint64(4096 + i/37*4096) }},
		{"shuffled", func(i int) uint64 { return uint64(4096 * (1 + rng.IntN(500))) }},
		{"past 32 bits", func(i int) uint64 { return 1<<40 + uint64(rng.IntN(1<<30)) }},
		{"one collection", func(i int) uint64 { return 8192 }},
	} {
		for _, n := range []int{0, 1, 7, 10000} {
			raw := make([]byte, 16*n)
			for i := range n {
				binary.LittleEndian.PutUint32(raw[16*i:], 5)
				binary.LittleEndian.PutUint64(raw[16*i+4:], tc.addr(i))
				binary.LittleEndian.PutUint32(raw[16*i+12:], uint32(i))
			}
			order := make([]int32, n)
			for i := range order {
				order[i] = int32(i)
			}
			heapOrder(order, raw)
			seen := make([]bool, n)
			for k, i := range order {
				if seen[i] {
					t.Fatalf("%s, %d: index %d twice", tc.name, n, i)
				}
				seen[i] = true
				if k > 0 {
					a, b := binary.LittleEndian.Uint64(raw[16*int(order[k-1])+4:]), binary.LittleEndian.Uint64(raw[16*int(i)+4:])
					if b < a {
						t.Fatalf("%s, %d: address %d after %d at %d", tc.name, n, b, a, k)
					}
				}
			}
		}
	}
}

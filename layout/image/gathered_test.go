package image

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/annslicer/annslicer/internal/rowstest"
)

// Shuffled shards gathered together are the bytes each shard's own
// rows give, whatever the batches (budgets from one shard to all), and the
// source is read in far fewer calls than one per row.
func TestGathererWritesEachShardsRows(t *testing.T) {
	const n, shards, unit = 5000, 7, 12
	src := &rowstest.Rows{B: make([]byte, n*unit), Unit: unit}
	for i := range src.B {
		src.B[i] = byte(i * 7)
	}
	perm := rand.New(rand.NewPCG(1, 2)).Perm(n)
	dir := t.TempDir()
	for _, budget := range []int64{1, 3 * unit * n / shards, 1 << 30} {
		var es []Extent
		var files []*os.File
		var want [][]byte
		for k := range shards {
			rows := perm[k*n/shards : (k+1)*n/shards]
			runs := func(u0, u1 int64, emit func(dst, src, n int64)) {
				for u := u0; u < u1; u++ {
					emit(u, int64(rows[u]), 1)
				}
			}
			w := make([]byte, 0, len(rows)*unit)
			for _, r := range rows {
				w = append(w, src.B[r*unit:(r+1)*unit]...)
			}
			want = append(want, w)
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d-%d", budget, k)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			files = append(files, f)
			es = append(es, Extent{Name: "x", Off: int64(k), Size: int64(len(w)), Gather: &Gather{Src: src, Unit: unit, Runs: runs},
				Fill: func(p []byte, off int64) error {
					copy(p, w[off:])
					return nil
				}})
		}
		if !SameSource(es) {
			t.Fatal("SameSource: false for extents of one source")
		}
		src.Reads = 0
		gt := &Gatherer{Budget: budget, Workers: 2}
		if err := gt.Write(context.Background(), files, es); err != nil {
			t.Fatal(err)
		}
		gt.Close()
		for k, f := range files {
			got := make([]byte, len(want[k]))
			if _, err := f.ReadAt(got, int64(k)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want[k]) {
				t.Fatalf("budget %d: shard %d differs from its rows", budget, k)
			}
		}
		if budget > 1 && src.Reads > n/10 {
			t.Errorf("budget %d: %d reads for %d rows; gathered together they should be a few", budget, src.Reads, n)
		}
	}
}

func TestSameSourceRefusesMixedSources(t *testing.T) {
	a, b := &rowstest.Rows{Unit: 4}, &rowstest.Rows{Unit: 4}
	g := func(s RowSource) *Gather { return &Gather{Src: s, Unit: 4} }
	if SameSource([]Extent{{Size: 8, Gather: g(a)}, {Size: 8, Gather: g(b)}}) {
		t.Error("two sources taken for one")
	}
	if SameSource([]Extent{{Size: 8, Gather: g(a)}, {Size: 6, Gather: g(a)}}) {
		t.Error("an extent of part of a unit accepted")
	}
	if SameSource([]Extent{{Size: 8, Gather: g(a)}, {Size: 8}}) {
		t.Error("an extent without Gather accepted")
	}
}

func TestSortRunsSortsBySource(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 100, 255, 256, 10000} {
		for _, most := range []int64{1, 1 << 11, 1 << 40} {
			runs := make([]Run, n)
			for i := range runs {
				runs[i] = Run{Src: r.Int64N(most), N: 1, At: int64(i)}
			}
			want := slices.Clone(runs)
			slices.SortStableFunc(want, func(a, b Run) int { return int(min(max(a.Src-b.Src, -1), 1)) })
			SortRuns(runs, nil)
			if !slices.Equal(runs, want) {
				t.Fatalf("n=%d keys<%d: not sorted stably by Src", n, most)
			}
		}
	}
}

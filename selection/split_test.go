package selection

import (
	"fmt"
	"slices"
	"testing"

	"github.com/annslicer/annslicer/engine"
)

func TestParseSplit(t *testing.T) {
	for in, want := range map[string]string{
		"0/1": "0/1", "2/3": "2/3", "0/4": "0/4",
		"3/3":  `"3/3": the index must be from 0 to 2 (runs are numbered from 0)`,
		"-1/4": `"-1/4": the index must be from 0 to 3 (runs are numbered from 0)`,
		"0/0":  `"0/0": the count of runs must be 1 or more`,
		"a/b":  `"a/b" is not INDEX/COUNT (e.g. 0/4, the first of 4 runs)`,
		"1":    `"1" is not INDEX/COUNT (e.g. 0/4, the first of 4 runs)`,
		"1/3/": `"1/3/" is not INDEX/COUNT (e.g. 0/4, the first of 4 runs)`,
		"":     `"" is not INDEX/COUNT (e.g. 0/4, the first of 4 runs)`,
	} {
		sp, err := ParseSplit(in)
		got := fmt.Sprint(err)
		if err == nil {
			got = sp.String()
		}
		if got != want {
			t.Errorf("ParseSplit(%q) = %s, want %s", in, got, want)
		}
	}
}

// The shares of a set are disjoint, cover it, and keep each output's
// global name and rows: shard_k is the same shard in every share.
func TestPartsCoverTheSet(t *testing.T) {
	seed := uint64(7)
	p, err := engine.NewPlan(103, 10, true, &seed)
	if err != nil {
		t.Fatal(err)
	}
	c := FromCodes("src", "g", []int32{2, 0, -1, 1, 0, 2, 3, 0}, []string{"a", "ctrl", "c", "d d", "empty"})
	cats, err := Categories(8, c, []string{"ctrl"})
	if err != nil {
		t.Fatal(err)
	}
	for _, whole := range []*Set{FromPlan(p), cats} {
		for _, n := range []int{1, 2, 3, 4, 20} {
			seen := map[string]int{}
			for i := range n {
				part := whole.Part(Split{i, n})
				if sp, ok := part.Share(); !ok || sp != (Split{i, n}) {
					t.Errorf("share %v", sp)
				}
				var most int64
				for k := range part.Shards() {
					g := part.Index(k)
					if g%n != i {
						t.Errorf("%d/%d holds output %d", i, n, g)
					}
					seen[part.Name(k)]++
					if part.Name(k) != whole.Name(g) || !slices.Equal(part.Rows(k), whole.Rows(g)) ||
						part.Count(k) != whole.Count(g) || part.Category(k) != whole.Category(g) {
						t.Errorf("%d/%d: output %d is not output %d of the whole set", i, n, k, g)
					}
					most = max(most, part.Count(k))
				}
				if part.MaxCount() != most || part.Count(part.Shards()) != 0 || part.Index(part.Shards()) != -1 {
					t.Errorf("%d/%d: MaxCount %d, want %d; past the end: %d, %d", i, n, part.MaxCount(), most, part.Count(part.Shards()), part.Index(part.Shards()))
				}
				if part.Total() != whole.Shards() {
					t.Errorf("total %d, want %d", part.Total(), whole.Shards())
				}
			}
			if len(seen) != whole.Shards() {
				t.Errorf("%d shares hold %d distinct outputs of %d", n, len(seen), whole.Shards())
			}
			for name, times := range seen {
				if times != 1 {
					t.Errorf("%s in %d shares", name, times)
				}
			}
		}
	}
}

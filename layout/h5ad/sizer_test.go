package h5ad

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/annslicer/annslicer/engine"
)

// Shards sized from their plan by a Sizer (once it agreed with two full
// descriptions) are exactly as large as their images: every size of
// shard, contiguous and shuffled, of every test file at hand.
func TestSizesFromThePlanAreTheImagesSizes(t *testing.T) {
	paths := []string{filepath.Join("testdata", "tiny.h5ad"), filepath.Join("..", "..", "testdata", "sample.h5ad")}
	// the real datasets make test fetches (scanpy's pbmc68k, scirpy's)
	filepath.WalkDir(filepath.Join("..", "..", "testdata", "cache", "datasets"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".h5ad" {
			paths = append(paths, p)
		}
		return nil
	})
	dir := t.TempDir()
	byModel := 0
	for _, path := range paths {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		src, err := Open(path)
		if err != nil {
			t.Logf("%s: %v (not an anndata this engine plans)", path, err)
			continue
		}
		rng := rand.New(rand.NewPCG(3, 4))
		n := src.NObs
		for _, size := range []int64{1, 2, 3, 7, 50, 1000} {
			for _, shuffled := range []bool{false, true} {
				perm := make([]int64, n)
				for i := range perm {
					perm[i] = int64(i)
				}
				if shuffled {
					rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
				}
				for k, start := 0, int64(0); start < n && k < 6; k, start = k+1, start+size {
					rows := perm[start:min(n, start+size)]
					z, err := engine.PlanShard(src.Tree(), rows)
					if err != nil {
						t.Fatalf("%s: %v", path, err)
					}
					trusted := func() bool {
						key, ok := sizeKey(z, src)
						return ok && sizersOf(src).lookup(key) != nil
					}
					used := trusted()
					got, err := EncodedSize(z, dir)
					if err != nil {
						t.Fatalf("%s: %v", path, err)
					}
					im, err := EncodeImage(z, dir)
					if err != nil {
						t.Fatalf("%s: %v", path, err)
					}
					if got != im.Size() {
						t.Errorf("%s: shard of %d rows (shuffled %v): sized %d bytes (by a Sizer: %v), image has %d", path, len(rows), shuffled, got, used, im.Size())
					}
					im.Close()
					if used {
						byModel++
					}
				}
			}
		}
		src.Close()
	}
	t.Logf("%d shards sized by a Sizer", byModel)
	if byModel < 20 {
		t.Errorf("only %d shards were sized by a Sizer", byModel)
	}
}

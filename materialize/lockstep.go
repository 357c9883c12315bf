package materialize

// Writing the shards of one source in lockstep, array by array.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/layout/zarrad"
	"github.com/annslicer/annslicer/tree"
)

// WriteZarrShards writes shards of one source to dirs in lockstep, array
// by array: for each array, up to workers shards generate it at once.
func WriteZarrShards(shards []*tree.Plan, dirs []string, codec zarr.Codec, l zarrad.Layout, workers int) error {
	for _, z := range shards {
		if err := zarrad.Prepare(z); err != nil {
			return err
		}
	}
	for g, z := range shards {
		if len(z.Arrays) != len(shards[0].Arrays) {
			return fmt.Errorf("shards of one source differ in their arrays")
		}
		if err := os.MkdirAll(dirs[g], 0o755); err != nil {
			return err
		}
		if err := l.CreateGroups(z, dirs[g]); err != nil {
			return err
		}
	}
	for j := range shards[0].Arrays {
		err := lockstep(len(shards), workers, func(g int) error {
			return l.WriteArray(shards[g].Arrays[j], dirs[g], codec)
		})
		if err != nil {
			return err
		}
	}
	for _, d := range dirs {
		if err := zarr.Consolidate(d); err != nil {
			return err
		}
	}
	return nil
}

// lockstep runs fn(0..n-1) on up to workers goroutines; the first error wins.
func lockstep(n, workers int, fn func(g int) error) error {
	workers = max(1, min(workers, n))
	if workers == 1 {
		for g := 0; g < n; g++ {
			if err := fn(g); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				g := next
				next++
				stop := first != nil || g >= n
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(g); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// WriteH5ADShards writes shards of one source as h5ad files: the skeletons
// one by one (libhdf5 serialises them anyway), then, uncompressed, their
// extents in lockstep, array by array.
func WriteH5ADShards(ctx context.Context, shards []*tree.Plan, paths []string, comp string, workers int) error {
	exts := make([][]image.Extent, len(shards))
	var order []string
	seen := map[string]bool{}
	err := lockstep(len(shards), workers, func(g int) error {
		var err error
		exts[g], err = h5ad.Encode(shards[g], paths[g], comp)
		return err
	})
	if err != nil {
		return err
	}
	for g := range shards {
		for _, e := range exts[g] {
			if !seen[e.Name] {
				seen[e.Name] = true
				order = append(order, e.Name)
			}
		}
	}
	if len(order) == 0 {
		return nil
	}
	files := make([]*os.File, len(shards))
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	for g, p := range paths {
		var err error
		if files[g], err = os.OpenFile(p, os.O_RDWR, 0); err != nil {
			return err
		}
	}
	gt := &image.Gatherer{Budget: gatherBudget, Workers: workers}
	defer gt.Close()
	for _, name := range order {
		if es, ok := gatherable(exts, name); ok {
			if err := gt.Write(ctx, files, es); err != nil {
				return err
			}
			continue
		}
		err := lockstep(len(shards), workers, func(g int) error {
			for _, e := range exts[g] {
				if e.Name == name {
					return imageWriteExtents(ctx, files[g], []image.Extent{e})
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for g, f := range files {
		files[g] = nil
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// gatherBudget bounds the shard bytes gathered together in memory. More
// means fewer passes over a source array, but the time hardly moved from
// 16 to 64 MiB (200k cells into 20 shuffled shards) while the peak RSS
// rose by as much.
const gatherBudget = 16 << 20

// gatherable gives every shard's extent name when they are better
// gathered together: runs of one source array (image.SameSource) too
// scattered to be copied file to file.
func gatherable(exts [][]image.Extent, name string) ([]image.Extent, bool) {
	es := make([]image.Extent, 0, len(exts))
	for _, x := range exts {
		i := slices.IndexFunc(x, func(e image.Extent) bool { return e.Name == name })
		if i < 0 {
			return nil, false
		}
		es = append(es, x[i])
	}
	if len(es) < 2 || !image.SameSource(es) {
		return nil, false
	}
	if e := es[0]; e.Spans != nil {
		if _, _, ok := e.Spans(0, min(e.Size, window)/e.Gather.Unit*e.Gather.Unit); ok {
			return nil, false
		}
	}
	return es, true
}

// imageWriteExtents writes extents into f in windows of at most window
// bytes (image.WriteExtents sizes its buffer to the extents).
func imageWriteExtents(ctx context.Context, f *os.File, extents []image.Extent) error {
	return image.WriteExtents(ctx, f, extents, window, nil)
}

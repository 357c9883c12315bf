package materialize

// Writing the shards of one source in lockstep, array by array.

import (
	"context"
	"fmt"
	"os"
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
	for g, z := range shards {
		var err error
		if exts[g], err = h5ad.Encode(z, paths[g], comp); err != nil {
			return err
		}
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
	for _, name := range order {
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

// imageWriteExtents writes extents into f in windows of at most window
// bytes (image.WriteExtents sizes its buffer to the extents).
func imageWriteExtents(ctx context.Context, f *os.File, extents []image.Extent) error {
	return image.WriteExtents(ctx, f, extents, window, nil)
}

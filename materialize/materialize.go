// Package materialize writes real files: the shards of a source (slice,
// materialize). Uncompressed shards are their shard images written out, so
// they are byte-identical to what `annslicer mount` serves.
package materialize

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
)

// Progress hears about the work as it goes.
type Progress interface {
	Begin(shards int, cells int64)
	Cells(n int64)
	ShardDone(k int, path string, cells int64, took time.Duration)
	End()
}

// Options of a shard run.
type Options struct {
	Plan        *engine.Plan
	Compression engine.Compression
	Overwrite   bool
	Extra       []string // outputs of an earlier run beyond this one's shards: see SetOptions
	Progress    Progress
	Ctx         context.Context // cancelled (Ctrl-C): stop, and leave nothing new
	Log         func(msg string)
}

const window = 8 << 20 // bytes generated per write

// Shards writes shard k of src to names[k], for every shard of the plan,
// as one output set (outset.go): the shards appear under their names all
// together, once every one is complete; on failure or interrupt nothing
// new is left and every existing file is as it was.
func Shards(src *h5ad.Source, names []string, o Options) error {
	if o.Ctx == nil {
		o.Ctx = context.Background()
	}
	if len(names) != o.Plan.Shards() {
		return fmt.Errorf("%d output names for %d shards", len(names), o.Plan.Shards())
	}
	set, err := NewSet(names, SetOptions{Overwrite: o.Overwrite, Inputs: []string{src.Path}, Extra: o.Extra, Log: o.Log})
	if err != nil {
		return err
	}
	defer set.Abort()
	if o.Progress != nil {
		o.Progress.Begin(len(names), o.Plan.N)
		defer o.Progress.End()
	}
	// Shards are independent: a few at once keep both the disk and the
	// cores busy while libhdf5 (serialised) builds another's skeleton.
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for w := 0; w < workers(len(names)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				k := next
				next++
				stop := first != nil || k >= len(names) || o.Ctx.Err() != nil
				mu.Unlock()
				if stop {
					return
				}
				start := time.Now()
				rows := o.Plan.Rows(k)
				err := writeShard(src, rows, set.Temp(k), names[k], o)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil && o.Progress != nil {
					o.Progress.Cells(int64(len(rows)))
					o.Progress.ShardDone(k, names[k], int64(len(rows)), time.Since(start))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first == nil && o.Ctx.Err() != nil {
		first = o.Ctx.Err()
	}
	if first != nil {
		return set.Err(first)
	}
	return set.Err(set.Commit(o.Ctx))
}

func workers(shards int) int { return max(1, min(shards, runtime.GOMAXPROCS(0), 4)) }

// writeShard writes the shard of rows at tmp (its staging path; name is
// the final one, for messages).
func writeShard(src *h5ad.Source, rows []int64, tmp, name string, o Options) error {
	sh, err := engine.BuildH5AD(src, rows, tmp, o.Compression)
	if err != nil {
		return fmt.Errorf("%s: %w", src.Path, err)
	}
	defer sh.Close()
	if extents := sh.Extents; len(extents) > 0 {
		f, err := os.OpenFile(tmp, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = image.WriteExtents(o.Ctx, f, extents, window, nil)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

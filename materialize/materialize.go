// Package materialize writes real files: the shards of a source (slice,
// materialize). Uncompressed shards are their shard images written out, so
// they are byte-identical to what `annslicer mount` serves.
package materialize

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5ad"
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
	Progress    Progress
	Ctx         context.Context // cancelled (Ctrl-C): stop, and remove what this run wrote
}

const window = 8 << 20 // bytes generated per write

// Shards writes shard k of src to names[k], for every shard of the plan.
// Outputs appear under their names only when complete; on failure nothing
// this run wrote is left behind.
func Shards(src *h5ad.Source, names []string, o Options) error {
	if o.Ctx == nil {
		o.Ctx = context.Background()
	}
	if len(names) != o.Plan.Shards() {
		return fmt.Errorf("%d output names for %d shards", len(names), o.Plan.Shards())
	}
	if err := CheckOutputs(names, o.Overwrite); err != nil {
		return err
	}
	if o.Progress != nil {
		o.Progress.Begin(len(names), o.Plan.N)
		defer o.Progress.End()
	}
	// Shards are independent: a few at once keep both the disk and the
	// cores busy while libhdf5 (serialised) builds another's skeleton.
	var (
		mu    sync.Mutex
		done  []string
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
				err := writeShard(src, rows, names[k], o)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					done = append(done, names[k])
					if o.Progress != nil {
						o.Progress.Cells(int64(len(rows)))
						o.Progress.ShardDone(k, names[k], int64(len(rows)), time.Since(start))
					}
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
		for _, p := range done {
			os.Remove(p)
		}
	}
	return first
}

func workers(shards int) int { return max(1, min(shards, runtime.GOMAXPROCS(0), 4)) }

// CheckOutputs refuses to clobber outputs (files, or zarr directories
// named *.zarr) and finds unwritable places before anything is written.
func CheckOutputs(names []string, overwrite bool) error {
	dirs := map[string]bool{}
	for _, n := range names {
		if st, err := os.Stat(n); err == nil {
			if st.IsDir() && !strings.HasSuffix(n, ".zarr") {
				return fmt.Errorf("%s: exists and is a directory", n)
			}
			if !overwrite {
				return fmt.Errorf("%s: already exists; pass --overwrite to replace it", n)
			}
		}
		dirs[filepath.Dir(n)] = true
	}
	for d := range dirs {
		f, err := os.CreateTemp(d, ".annslicer-check-*")
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fmt.Errorf("%s: cannot write there: %v", d, err)
		}
		f.Close()
		os.Remove(f.Name())
	}
	return nil
}

func tempName(name string) string {
	return filepath.Join(filepath.Dir(name), fmt.Sprintf(".%s.tmp-%d", filepath.Base(name), os.Getpid()))
}

func writeShard(src *h5ad.Source, rows []int64, name string, o Options) (err error) {
	tmp := tempName(name)
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
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
		err = h5ad.WriteExtents(o.Ctx, f, extents, window, nil)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return os.Rename(tmp, name)
}

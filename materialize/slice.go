package materialize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/layout/zarrad"
	"github.com/annslicer/annslicer/tree"
)

// Job is a slicing run: the outputs of one source (fixed-size shards, or
// any row selections), in one format, written as one output set.
type Job struct {
	Source  *tree.Source
	Inputs  []string // the files of Source (a collection's many); nil: Source.Path
	Outputs engine.Outputs
	Names   []string // output path of each output
	Format  string   // "h5ad" or "zarr"
	// Compression of h5ad shards: "" (a shard image, byte-identical to the
	// mounted shard), "gzip" or "lzf".
	Compression string
	Codec       zarr.Codec    // of zarr shards (nil: uncompressed, as mounted)
	Zarr        zarrad.Layout // of zarr shards: format 2 (the zero value) or 3, sharding
	Overwrite   bool
	Extra       []string // outputs of an earlier run beyond this one's shards: see SetOptions
	Progress    Progress // may be nil
	// Manifest is a file written with the shards, one more output of the
	// set, in place last (manifest.go: ManifestOf makes ManifestDoc);
	// "" for none.
	Manifest    string
	ManifestDoc image.File
	Ctx         context.Context
	Log         func(msg string)
}

// Slice writes shard k of the plan to Names[k], for every shard, as one
// output set (outset.go): the shards appear under their names all
// together, once every one is complete; on failure or interrupt nothing
// new is left and every existing file is as it was.
func Slice(j Job) error {
	if j.Ctx == nil {
		j.Ctx = context.Background()
	}
	if len(j.Names) != j.Outputs.Shards() {
		return fmt.Errorf("%d output names for %d shards", len(j.Names), j.Outputs.Shards())
	}
	inputs := j.Inputs
	if inputs == nil {
		inputs = []string{j.Source.Path}
	}
	names := j.Names
	if j.Manifest != "" {
		names = append(names[:len(names):len(names)], j.Manifest)
	}
	set, err := NewSet(names, SetOptions{Overwrite: j.Overwrite, Inputs: inputs, Extra: j.Extra, Log: j.Log})
	var dup *DuplicateError
	if errors.As(err, &dup) && j.Manifest != "" && dup.Second == len(j.Names) {
		dup.Manifest = true
	}
	if err != nil {
		return err
	}
	defer set.Abort()
	if j.Progress != nil {
		var cells int64
		for k := range j.Names {
			cells += j.Outputs.Count(k)
		}
		j.Progress.Begin(len(j.Names), cells)
		defer j.Progress.End()
	}
	if _, native := j.Source.Native.(*h5ad.Source); native && j.Format != "zarr" && !shuffled(j.Outputs) {
		err = j.eachShard(set)
	} else {
		err = j.inLockstep(set)
	}
	if err == nil && j.Manifest != "" {
		err = writeFile(set.Temp(len(j.Names)), j.ManifestDoc)
	}
	if err == nil {
		err = j.Ctx.Err()
	}
	if err != nil {
		return set.Err(err)
	}
	return set.Err(set.Commit(j.Ctx))
}

// shuffled tells outputs whose rows interleave: their shards are written
// together (inLockstep), so each source array is read once for all of
// them (image.WriteGathered) rather than a row at a time for each.
func shuffled(o engine.Outputs) bool {
	p, ok := o.(*engine.Plan)
	if s, isSet := o.(interface{ Plan() *engine.Plan }); isSet {
		p, ok = s.Plan(), true
	}
	return ok && p != nil && p.Shuffle && o.Shards() > 1
}

// workers is how many shards are written at once: --jobs when given;
// otherwise every core, up to 4 (beyond that, shards only wait for
// libhdf5, which serialises its calls, and hold memory meanwhile).
func workers(shards int) int {
	if Workers > 0 {
		return max(1, min(shards, Workers))
	}
	return max(1, min(shards, runtime.GOMAXPROCS(0), 4))
}

// eachShard writes h5ad shards of an h5ad source a few at once, each
// whole: its rows' reads are plain preads or kernel copies, so nothing is
// gained by sharing them, and a shard's extents are written while
// libhdf5 (serialised) makes another's skeleton.
func (j *Job) eachShard(set *Set) error {
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for w := 0; w < workers(len(j.Names)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				k := next
				next++
				stop := first != nil || k >= len(j.Names) || j.Ctx.Err() != nil
				mu.Unlock()
				if stop {
					return
				}
				start := time.Now()
				rows := j.Outputs.Rows(k)
				err := j.oneShard(rows, set.Temp(k), j.Names[k])
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil && j.Progress != nil {
					j.Progress.Cells(int64(len(rows)))
					j.Progress.ShardDone(k, j.Names[k], int64(len(rows)), time.Since(start))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func (j *Job) oneShard(rows []int64, tmp, name string) error {
	z, err := engine.PlanShard(j.Source, rows)
	if err != nil {
		return err
	}
	defer z.Close()
	return writeH5AD(j.Ctx, z, tmp, name, j.Compression)
}

// cellsInFlight bounds the cells of the shards written together in
// lockstep (their row tables and strings are held meanwhile).
const cellsInFlight = 1 << 20

// cellsGathered bounds the cells of the h5ad shards of an h5ad source
// written together (shuffled: inLockstep, image.Gatherer). Their plans
// (row tables, gather runs, names) are what a group holds: 2^18 cells
// peaked at 109-115 MB for 2M cells, 2^17 at 90-95 MB, 0.3-0.7 s slower
// of 9-10 s (the gather reads the source once a group); 200k cells ran
// in the same 0.55 s.
const cellsGathered = 1 << 17

// scopeFrom is the source size from which a group's names are read
// together (h5ad.Source.ScopeRows) instead of from the source's cached
// heap collections: what a smaller source's names cost the cache (about
// 25 bytes a cell) is less than the pass over the heap a group costs
// (400k cells: 1.34 s with the scope against 1.23 s without).
const scopeFrom = 4 * cellsGathered

// inLockstep writes the shards in groups, in lockstep within a group:
// every shard reads the same source array at the same time, so a zarr
// source's chunks are decoded about once for all of them (they stay in
// the shared chunk cache) instead of once per shard.
func (j *Job) inLockstep(set *Set) error {
	n := len(j.Names)
	var most int64
	for k := range n {
		most = max(most, j.Outputs.Count(k))
	}
	inFlight := int64(cellsInFlight)
	if _, native := j.Source.Native.(*h5ad.Source); native {
		// h5ad shards share no chunk cache: a group only needs enough
		// shards for full gather batches, and its plans (row tables, obs
		// names) are what it holds (100 shards of 10,000 cells of a 2M-cell
		// source peaked at 290 MB).
		inFlight = cellsGathered
	}
	group := int(max(int64(workers(n)), inFlight/max(1, most)))
	for k0 := 0; k0 < n; k0 += group {
		if err := j.Ctx.Err(); err != nil {
			return err
		}
		k1 := min(n, k0+group)
		start := time.Now()
		if err := j.group(set, k0, k1); err != nil {
			return err
		}
		if j.Progress != nil {
			for k := k0; k < k1; k++ {
				c := j.Outputs.Count(k)
				j.Progress.Cells(c)
				j.Progress.ShardDone(k, j.Names[k], c, time.Since(start))
			}
		}
	}
	return nil
}

func (j *Job) group(set *Set, k0, k1 int) error {
	shards := make([]*tree.Plan, k1-k0)
	defer func() {
		for _, z := range shards {
			if z != nil {
				z.Close()
			}
		}
	}()
	tmps := make([]string, 0, k1-k0)
	for k := k0; k < k1; k++ {
		tmps = append(tmps, set.Temp(k))
	}
	rows := make([][]int64, k1-k0)
	for g := range rows {
		rows[g] = j.Outputs.Rows(k0 + g)
	}
	if hs, ok := j.Source.Native.(*h5ad.Source); ok && hs.NObs > scopeFrom {
		// shuffled shards read their names from all over the heap: read
		// the group's together, once (h5ad.Source.ScopeRows)
		var shuffled []int64
		for _, r := range rows {
			if !slices.IsSorted(r) {
				shuffled = append(shuffled, r...)
			}
		}
		if len(shuffled) > 0 {
			defer hs.ScopeRows(shuffled)()
		}
	}
	// plans are made on every core: a shard's obs names are read for it
	err := lockstep(k1-k0, workers(k1-k0), func(g int) error {
		var err error
		shards[g], err = engine.PlanShard(j.Source, rows[g])
		return err
	})
	if err != nil {
		return err
	}
	if j.Format == "zarr" {
		err = WriteZarrShards(shards, tmps, j.Codec, j.Zarr, workers(len(shards)))
	} else {
		err = WriteH5ADShards(j.Ctx, shards, tmps, j.Compression, workers(len(shards)))
	}
	if err != nil {
		return srcErr(shards[0], err)
	}
	return nil
}

// writeFile writes the image f to a new file at path.
func writeFile(path string, f image.File) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(f, 0, f.Size()))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

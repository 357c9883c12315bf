package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/layout/zarrad"
	"github.com/annslicer/annslicer/materialize"
	"github.com/annslicer/annslicer/tree"
	"github.com/annslicer/annslicer/vfs"
)

// Zarr in and out: .zarr sources, --format zarr shards, zarr mounts.

func init() {
	zarrShards = runZarrShards
	zarrMountSource = newZarrMount
}

// zarrCacheBytes bounds the decoded chunks of a zarr source, shared by all
// shards of a run.
const zarrCacheBytes = 128 << 20

func runZarrShards(job shardJob) error {
	f := job.Flags
	var codec zarr.Codec
	var err error
	if f.format == "zarr" {
		if codec, err = zarrad.CodecByName(f.compression); err != nil {
			return usageError{err}
		}
	}
	var h5src *h5ad.Source
	var tr *tree.Source
	if isZarr(job.Input) {
		if tr, err = zarrad.OpenTree(job.Input, zarr.NewCache(zarrCacheBytes)); err != nil {
			return err
		}
	} else {
		if h5src, err = openSource(job.Input); err != nil {
			return err
		}
		defer h5src.Close()
		tr = h5src.Tree()
	}
	defer tr.Close()
	plan, err := f.plan(job.Cmd, tr.NObs)
	if err != nil {
		return err
	}
	names, extra, err := job.outputs(plan)
	if err != nil {
		return err
	}
	inputs := []string{job.Input}
	set, err := materialize.NewSet(names, materialize.SetOptions{Overwrite: f.overwrite, Inputs: inputs, Extra: extra, Log: debugLog})
	if err != nil {
		return job.setErr(err)
	}
	defer set.Abort()
	if debug {
		logf("%s: %d cells -> %d %s shards of %d (shuffle=%v seed=%d)", job.Input, tr.NObs, len(names), f.format, plan.Size, plan.Shuffle, plan.Seed)
	}
	prog := newProgress()
	prog.Begin(len(names), plan.N)
	defer prog.End()
	workers := max(1, min(len(names), runtime.GOMAXPROCS(0), 4))
	// Shards are written in groups, in lockstep within a group (every
	// shard reads the same source array at the same time); a group holds
	// at most zarrCellsInFlight cells of row tables and strings. Every
	// group is staged: the set appears only once all are written (it
	// needs the disk space of the whole set anyway).
	ctx := job.Cmd.Context()
	group := int(max(int64(workers), zarrCellsInFlight/max(1, plan.Size)))
	for k0 := 0; k0 < len(names); k0 += group {
		if err := ctx.Err(); err != nil {
			return err
		}
		k1 := min(len(names), k0+group)
		tmps := make([]string, 0, k1-k0)
		for k := k0; k < k1; k++ {
			tmps = append(tmps, set.Temp(k))
		}
		start := time.Now()
		if err := writeShardGroup(ctx, job, tr, plan, k0, tmps, codec, workers); err != nil {
			return set.Err(err)
		}
		for k := k0; k < k1; k++ {
			n := plan.Count(k)
			prog.Cells(n)
			prog.ShardDone(k, names[k], n, time.Since(start))
		}
	}
	return set.Err(set.Commit(ctx))
}

// zarrCellsInFlight bounds the cells of the shards written together.
const zarrCellsInFlight = 1 << 20

// writeShardGroup writes shards k0.. at their staging paths tmps.
func writeShardGroup(ctx context.Context, job shardJob, tr *tree.Source, plan *engine.Plan, k0 int, tmps []string, codec zarr.Codec, workers int) error {
	f := job.Flags
	var shards []*tree.Plan
	defer func() {
		for _, sh := range shards {
			sh.Close()
		}
	}()
	for i := range tmps {
		sh, err := engine.PlanShard(tr, plan.Rows(k0+i))
		if err != nil {
			return err
		}
		shards = append(shards, sh)
	}
	var err error
	if f.format == "zarr" {
		err = materialize.WriteZarrShards(shards, tmps, codec, workers)
	} else {
		err = materialize.WriteH5ADShards(ctx, shards, tmps, f.compression, workers)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", tr.Path, err)
	}
	return nil
}

// ---- mount ----

type zarrMount struct {
	tree     *tree.Source
	plan     *engine.Plan
	shards   []vfs.ShardInfo
	manifest []byte
	changed  func() error // exact and cheap: see h5ad.Pin, zarrad.Pin
	built    func() error // after a build: its directory listings held
	dir      string       // scratch directory for h5ad skeletons
}

// newZarrMount opens input for a mount. An h5ad input comes pinned by the
// caller; a zarr store is pinned here, before anything reads it, and every
// file the store reads afterwards is checked against the pin.
func newZarrMount(c *cobra.Command, f *shardFlags, input, dir string, pin *h5ad.Pin) (vfs.Source, func(), error) {
	var tr *tree.Source
	var closeSrc func()
	m := &zarrMount{dir: dir, built: func() error { return nil }}
	if isZarr(input) {
		zp, err := zarrad.PinStore(input)
		if err != nil {
			return nil, nil, err
		}
		cache := zarr.NewCache(zarrCacheBytes)
		cache.SetReadFile(zp.ReadFile)
		t, err := zarrad.OpenTree(input, cache)
		if err != nil {
			return nil, nil, err
		}
		if zp.Verify() != nil {
			t.Close()
			return nil, nil, fmt.Errorf("%s: changed while it was being opened; mount it again once the writer is done", input)
		}
		tr, closeSrc, m.changed, m.built = t, func() {}, zp.Check, zp.VerifyDirs
	} else {
		src, err := openSource(input)
		if err != nil {
			return nil, nil, err
		}
		if err := pin.Bind(src); err != nil {
			src.Close()
			return nil, nil, err
		}
		tr, closeSrc, m.changed = src.Tree(), src.Close, pin.Check
	}
	plan, err := f.plan(c, tr.NObs)
	if err != nil {
		closeSrc()
		return nil, nil, err
	}
	m.tree, m.plan = tr, plan
	m.shards, m.manifest = shardList(plan, f.format, input, tr.NObs)
	closeFn := func() {
		tr.Close()
		closeSrc()
	}
	return m, closeFn, nil
}

func (m *zarrMount) Shards() []vfs.ShardInfo { return m.shards }
func (m *zarrMount) Manifest() []byte        { return m.manifest }

// OpenFile builds h5ad shard i of a zarr source.
func (m *zarrMount) OpenFile(i int) (image.File, error) {
	start := time.Now()
	sh, err := engine.PlanShard(m.tree, m.plan.Rows(i))
	if err != nil {
		return nil, err
	}
	im, err := h5ad.EncodeImage(sh, m.dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.tree.Path, err)
	}
	if err := m.built(); err != nil {
		return nil, err
	}
	if debug {
		logf("built image of %s (%d bytes) in %.3fs", m.shards[i].Name, im.Size(), time.Since(start).Seconds())
	}
	return im, nil
}

func (m *zarrMount) OpenTree(i int) ([]image.Entry, error) {
	start := time.Now()
	sh, err := engine.PlanShard(m.tree, m.plan.Rows(i))
	if err != nil {
		return nil, err
	}
	entries, err := zarrad.Entries(sh)
	if err == nil {
		err = m.built()
	}
	if err != nil {
		sh.Close()
		return nil, err
	}
	// vfs drops trees it no longer caches without telling anyone, and a
	// reader may still hold one: release the shard once it is unreachable.
	if len(entries) > 0 {
		runtime.AddCleanup(&entries[0], func(sh *tree.Plan) { sh.Close() }, sh)
	}
	if debug {
		logf("built %s (%d files) in %.3fs", m.shards[i].Name, len(entries), time.Since(start).Seconds())
	}
	return entries, nil
}

func (m *zarrMount) Check() error { return m.changed() }

package materialize

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/layout/zarrad"
	"github.com/annslicer/annslicer/tree"
)

// MergeOptions of a merge.
type MergeOptions struct {
	Join      string // "outer" (default) or "inner": how differing var names combine
	Overwrite bool
	Warn      func(msg string) // hears about elements left out; may be nil
	Progress  Progress         // one "shard" per input; may be nil
	Ctx       context.Context  // cancelled (Ctrl-C): stop, leave nothing new
	Log       func(msg string) // housekeeping (--debug); may be nil
	// Compression of the output: for .h5ad "" (none: arrays copied in
	// place, in the kernel where they can), "gzip" or "lzf"; for .zarr a
	// zarr codec name ("" is anndata's Blosc lz4).
	Compression string
	Zarr        zarrad.Layout // of a .zarr output: format 2 (the zero value) or 3, sharding

	// anndata.concat's keys, label and index_unique
	Keys engine.InputKeys
}

// Merge writes the inputs (.h5ad files and .zarr stores, any mix), cells
// stacked in input order, to output (.h5ad, or .zarr by its extension).
//
// The engine checks every input and plans the merge as one element tree
// (engine.PlanMerge) whose arrays read the inputs by range; the output's
// encoder writes it: an .h5ad's skeleton with libhdf5, every large array
// then copied into its place (copy_file_range where an input's bytes move
// as they are, windows of a few MB where indices are remapped or widened),
// or a .zarr store's chunks encoded on every core. Memory is bounded by
// the output's per-cell strings and row tables and a few windows, whatever
// the number of inputs (a bounded number of them are open at once). The
// output is an output set of one (outset.go): written in a staging
// directory, checked (shapes, indptr), then renamed into place; on any
// error or interrupt nothing is left behind and an existing OUTPUT is
// unchanged.
func Merge(output string, inputs []string, o MergeOptions) (err error) {
	if o.Join == "" {
		o.Join = "outer"
	}
	if o.Join != "outer" && o.Join != "inner" {
		return fmt.Errorf("--join %q: use outer or inner", o.Join)
	}
	if len(inputs) == 0 {
		return fmt.Errorf("no inputs to merge")
	}
	if o.Ctx == nil {
		o.Ctx = context.Background()
	}
	zout := IsZarr(output)
	output = strings.TrimRight(output, "/")
	if output == "" {
		return fmt.Errorf("no output name")
	}
	if zout {
		if st, err := os.Lstat(output); err == nil && o.Overwrite && !st.IsDir() {
			return fmt.Errorf("%s: exists and is not a directory (a .zarr store is a directory); remove it first", output)
		}
	}
	var codec zarr.Codec
	switch {
	case zout:
		if err = o.Zarr.Check(); err != nil {
			return err
		}
		if codec, err = o.Zarr.Codec(o.Compression); err != nil {
			return err
		}
	case o.Compression != "" && o.Compression != "gzip" && o.Compression != "lzf":
		return fmt.Errorf("unknown compression %q (use gzip or lzf)", o.Compression)
	}
	set, err := NewSet([]string{output}, SetOptions{Overwrite: o.Overwrite, Inputs: inputs, Log: o.Log})
	if err != nil {
		return err
	}
	defer set.Abort()
	type scanned struct {
		path  string
		cells int64
		took  time.Duration
	}
	var done []scanned
	cache := zarr.NewCache(ZarrCacheBytes)
	plan, err := engine.PlanMerge(inputs, engine.MergeOptions{
		Join: o.Join, Ctx: o.Ctx, Keys: o.Keys, OpenAtOnce: engine.MergeOpenAtOnce, SpillStrings: true,
		Open: func(p string) (*tree.Source, error) { return openSource(p, cache) },
		Scanned: func(i int, p string, cells int64, took time.Duration) {
			done = append(done, scanned{p, cells, took})
		},
	})
	if err != nil {
		return set.Err(err)
	}
	defer plan.Close()
	if o.Warn != nil {
		for _, w := range plan.Warnings {
			o.Warn(w)
		}
	}
	if o.Progress != nil {
		o.Progress.Begin(len(inputs), plan.Plan.Cells)
		for k, s := range done {
			o.Progress.ShardDone(k, s.path, s.cells, s.took)
		}
		defer o.Progress.End()
	}
	tmp := set.Temp(0)
	if zout {
		err = writeMergedZarr(plan, tmp, codec, o)
	} else {
		err = writeMergedH5AD(plan, tmp, o)
	}
	if err != nil {
		return set.Err(err)
	}
	if err := o.Ctx.Err(); err != nil {
		return set.Err(err)
	}
	if err := checkMerged(plan, tmp, zout); err != nil {
		return set.Err(fmt.Errorf("%s: the merged output failed its check (%v); nothing was written", output, err))
	}
	return set.Err(set.Commit(o.Ctx))
}

// writeMergedH5AD encodes the plan as tmp: the skeleton, then (without
// compression) every array's bytes into its extent.
func writeMergedH5AD(plan *engine.Merged, tmp string, o MergeOptions) error {
	extents, err := h5ad.Encode(plan.Plan, tmp, o.Compression)
	if err != nil {
		return err
	}
	plan.Plan.DropStrings()
	var total int64
	for _, e := range extents {
		total += e.Size
	}
	var progress func(int64)
	if o.Progress != nil && total > 0 {
		// cells written, in proportion to the bytes
		cells, written, told := plan.Plan.Cells, int64(0), int64(0)
		progress = func(n int64) {
			written += n
			now := int64(float64(cells) * float64(written) / float64(total))
			o.Progress.Cells(now - told)
			told = now
		}
	}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = image.WriteExtents(o.Ctx, f, extents, window, progress)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeMergedZarr encodes the plan as the zarr store tmp.
func writeMergedZarr(plan *engine.Merged, tmp string, codec zarr.Codec, o MergeOptions) error {
	if err := o.Zarr.Write(plan.Plan, tmp, codec); err != nil {
		return err
	}
	plan.Plan.DropStrings()
	if o.Progress != nil {
		o.Progress.Cells(plan.Plan.Cells)
	}
	return nil
}

// checkMerged reopens the written output and checks it against the plan.
func checkMerged(plan *engine.Merged, tmp string, zout bool) error {
	t, err := openSource(tmp, zarr.NewCache(16<<20))
	if err != nil {
		return err
	}
	defer t.Close()
	return plan.Check(t)
}

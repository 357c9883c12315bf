// Package materialize writes real files: the shards of a source (slice,
// materialize) and merged files, each set of outputs all at once or not at
// all (outset.go); and serves a source's shards to a mount (mount.go).
// Every shard is the engine's plan of it (engine.PlanShard) written by the
// format's encoder, so a written shard is byte-identical to the mounted one.
package materialize

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/layout/zarrad"
	"github.com/annslicer/annslicer/tree"
)

// Progress hears about the work as it goes.
type Progress interface {
	Begin(shards int, cells int64)
	Cells(n int64)
	ShardDone(k int, path string, cells int64, took time.Duration)
	End()
}

// ZarrCacheBytes bounds the decoded chunks of a zarr source, shared by
// all the shards of a run. SetResources lowers it under a memory limit.
var ZarrCacheBytes int64 = 128 << 20

// Workers is the most shards written at once; 0 means up to 4, fewer
// on fewer cores. SetResources sets it from --jobs.
var Workers int

// IsZarr reports whether path names a zarr store (a directory *.zarr).
func IsZarr(path string) bool { return strings.HasSuffix(strings.TrimRight(path, "/"), ".zarr") }

// OpenSource opens an AnnData source (an .h5ad file or a .zarr store) as
// an element tree; Close releases it.
func OpenSource(path string) (*tree.Source, error) {
	return openSource(path, zarr.NewCache(ZarrCacheBytes))
}

// openSource is OpenSource with a given chunk cache (a merge's or a
// collection's inputs share one).
func openSource(path string, cache *zarr.Cache) (*tree.Source, error) {
	if IsZarr(path) {
		return zarrad.OpenTree(path, cache)
	}
	src, err := h5ad.Open(path)
	if err != nil {
		return nil, err
	}
	t := src.Tree()
	t.Closer = src.Close
	return t, nil
}

// window is the most bytes of an array generated per write.
const window = 8 << 20

// writeH5AD writes an h5ad shard at tmp from its plan: the skeleton, then
// (uncompressed) its extents in place. name is the final path, for
// messages.
func writeH5AD(ctx context.Context, z *tree.Plan, tmp, name, comp string) error {
	extents, err := h5ad.Encode(z, tmp, comp)
	if err != nil {
		return srcErr(z, err)
	}
	if len(extents) == 0 {
		return nil
	}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = imageWriteExtents(ctx, f, extents)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// srcErr names the source in an encoder's error, unless it does already.
func srcErr(z *tree.Plan, err error) error {
	if z.Source == nil || strings.HasPrefix(err.Error(), z.Source.Path+":") {
		return err
	}
	return fmt.Errorf("%s: %w", z.Source.Path, err)
}

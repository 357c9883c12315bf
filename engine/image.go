package engine

import (
	"os"
	"path/filepath"
	"runtime"

	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
)

// H5ADImage builds shard `rows` of src as an image: the skeleton is written
// to a file in dir that is unlinked at once (the image keeps it open), and
// the extents are generated on read. Its bytes are those materialize writes.
func H5ADImage(src *h5ad.Source, rows []int64, dir string) (*image.Skeleton, error) {
	f, err := os.CreateTemp(dir, "skeleton-*.h5")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	sh, err := BuildH5AD(src, rows, path, "")
	if err != nil {
		return nil, err
	}
	skel, err := os.Open(filepath.Clean(path))
	if err != nil {
		sh.Close()
		return nil, err
	}
	im, err := image.NewSkeleton(skel, sh.Extents, nil)
	if err != nil {
		skel.Close()
		sh.Close()
		return nil, err
	}
	// A mount drops images it no longer caches without telling anyone, and
	// a reader may still hold one: release the source handles only once
	// the image is unreachable.
	runtime.AddCleanup(im, func(sh *Shard) { sh.Close() }, sh)
	return im, nil
}

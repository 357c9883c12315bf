// Command zarrcodec is the codec's own speed on a store, for make bench:
// it copies a zarr v2 store (as cp -r does) while decoding every Blosc
// chunk and encoding it again as anndata writes it (Blosc lz4), on every
// core. annslicer's zarr-to-zarr runs do this work and more, so their
// ratio to this row says how close they come to the codec's bound.
//
// Usage: zarrcodec SRC.zarr DST.zarr
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/layout/zarrad"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: zarrcodec SRC.zarr DST.zarr")
		os.Exit(2)
	}
	src, dst := os.Args[1], os.Args[2]
	var files []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		fail(err)
	}
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rel := range work {
				if err := one(src, dst, rel); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	if first != nil {
		fail(first)
	}
}

// one copies a file, re-encoding it when it is a Blosc chunk (metadata
// files are .z* or zarr.json; a chunk that is not Blosc is copied) with
// the element size its header gives, as a writer knowing the dtype does.
func one(src, dst, rel string) error {
	b, err := os.ReadFile(filepath.Join(src, rel))
	if err != nil {
		return err
	}
	base := filepath.Base(rel)
	if !strings.HasPrefix(base, ".z") && base != "zarr.json" {
		if raw, err := zarrad.AnnDataBlosc.Decode(b, -1); err == nil {
			codec := zarrad.AnnDataBlosc.(zarr.Blosc)
			codec.TypeSize = int(b[3])
			if b, err = codec.Encode(raw); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "zarrcodec:", err)
	os.Exit(1)
}

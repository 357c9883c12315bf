package materialize

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5ad"
)

// Slice and Mount are one path: every shard Slice writes (uncompressed,
// h5ad or zarr, shuffled) has exactly the bytes Mount serves for it.
func TestSliceWritesWhatMountServes(t *testing.T) {
	const input = "../testdata/sample.h5ad"
	for _, format := range []string{"h5ad", "zarr"} {
		t.Run(format, func(t *testing.T) {
			seed := uint64(3)
			plan := func(n int64) (*engine.Plan, error) { return engine.NewPlan(n, 200, true, &seed) }
			src, err := OpenSource(input)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			p, err := plan(src.NObs)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var names []string
			for k := 0; k < p.Shards(); k++ {
				names = append(names, filepath.Join(dir, fmt.Sprintf("shard_%d.%s", k, format)))
			}
			if err := Slice(Job{Source: src, Plan: p, Names: names, Format: format}); err != nil {
				t.Fatal(err)
			}
			pin, err := h5ad.PinFile(input)
			if err != nil {
				t.Fatal(err)
			}
			defer pin.Close()
			m, err := OpenMount(MountOptions{Input: input, Format: format, Dir: t.TempDir(), Pin: pin, Plan: plan})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if len(m.Shards()) != len(names) {
				t.Fatalf("mount has %d shards, slice wrote %d", len(m.Shards()), len(names))
			}
			for k, name := range names {
				if format == "h5ad" {
					im, err := m.OpenFile(k)
					if err != nil {
						t.Fatal(err)
					}
					sameBytes(t, name, io.NewSectionReader(im, 0, im.Size()))
					continue
				}
				entries, err := m.OpenTree(k)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				filepath.Walk(name, func(p string, fi os.FileInfo, err error) error {
					if err == nil && !fi.IsDir() {
						n++
					}
					return err
				})
				if n != len(entries) {
					t.Errorf("%s: %d files written, %d served", name, n, len(entries))
				}
				for _, e := range entries {
					sameBytes(t, filepath.Join(name, e.Path), io.NewSectionReader(e.File, 0, e.File.Size()))
				}
			}
		})
	}
}

func sameBytes(t *testing.T, path string, served io.Reader) {
	t.Helper()
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(served)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, got) {
		t.Errorf("%s: the written file (%d bytes) differs from the mounted one (%d bytes)", path, len(written), len(got))
	}
}

package materialize

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/selection"
	"github.com/annslicer/annslicer/tree"
)

// Slice and Mount are one path: every output Slice writes (uncompressed,
// h5ad or zarr; shuffled shards, one per category with an always-included
// one, a filter) has exactly the bytes Mount serves for it.
func TestSliceWritesWhatMountServes(t *testing.T) {
	const input = "../testdata/sample.h5ad"
	seed := uint64(3)
	selections := map[string]func(src *tree.Source) (*selection.Set, *tree.Source, error){
		"shuffled": func(src *tree.Source) (*selection.Set, *tree.Source, error) {
			p, err := engine.NewPlan(src.NObs, 200, true, &seed)
			if err != nil {
				return nil, nil, err
			}
			return selection.FromPlan(p), src, nil
		},
		"categories": func(src *tree.Source) (*selection.Set, *tree.Source, error) {
			c, err := selection.ReadColumn(src, "cell_type")
			if err != nil {
				return nil, nil, err
			}
			s, err := selection.Categories(src.NObs, c, []string{"NK"})
			return s, src, err
		},
		"filter": func(src *tree.Source) (*selection.Set, *tree.Source, error) {
			c, err := selection.ReadColumn(src, "flag")
			if err != nil {
				return nil, nil, err
			}
			s, err := selection.Filter(src.NObs, c)
			return s, src, err
		},
	}
	for _, format := range []string{"h5ad", "zarr"} {
		for what, sel := range selections {
			t.Run(format+" "+what, func(t *testing.T) { sliceMountSame(t, input, format, sel) })
		}
	}
}

func sliceMountSame(t *testing.T, input, format string, sel func(src *tree.Source) (*selection.Set, *tree.Source, error)) {
	src, err := OpenSource(input)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p, src, err := sel(src)
	if err != nil {
		t.Fatal(err)
	}
	if p.Shards() < 1 {
		t.Fatal("no outputs")
	}
	dir := t.TempDir()
	var names []string
	for k := 0; k < p.Shards(); k++ {
		names = append(names, filepath.Join(dir, p.Name(k)+"."+format))
	}
	if err := Slice(Job{Source: src, Outputs: p, Names: names, Format: format}); err != nil {
		t.Fatal(err)
	}
	pin, err := h5ad.PinFile(input)
	if err != nil {
		t.Fatal(err)
	}
	defer pin.Close()
	m, err := OpenMount(MountOptions{Input: input, Format: format, Dir: t.TempDir(), Pin: pin, Select: sel})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for k, sh := range m.Shards() {
		if want := filepath.Base(names[k]); sh.Name != want || sh.Cells != p.Count(k) {
			t.Errorf("mounted output %d is %s of %d cells, want %s of %d", k, sh.Name, sh.Cells, want, p.Count(k))
		}
	}
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

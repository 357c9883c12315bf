package engine

import (
	"io"
	"os"
	"path/filepath"

	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/layout/h5ad"
)

// Every shard holds the same var, varm, varp and uns, copied verbatim: a
// template file holding them (and the root's attributes) is written once
// per source, and each shard starts as a byte copy of it, instead of
// repeating the object copies (var alone is a third of a skeleton's cost).
// The same steps every time keep a shard's bytes the same for mount and
// materialize.

// verbatim reports whether a root element is copied whole into every shard.
func verbatim(name string) bool {
	switch name {
	case "X", "obs", "layers", "obsm", "obsp", "raw":
		return false
	}
	return true
}

func buildTemplate(src *h5ad.Source, dir string) (string, error) {
	path := filepath.Join(dir, "template.h5")
	f, err := h5.Create(path)
	if err != nil {
		return "", err
	}
	root, err := f.Root()
	if err == nil {
		err = copyVerbatim(src.Root, root)
		root.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return path, err
}

func copyVerbatim(s, d *h5.Group) error {
	if err := s.CopyAttrsTo(&d.Object); err != nil {
		return err
	}
	kids, err := s.Children()
	if err != nil {
		return err
	}
	for _, k := range kids {
		if verbatim(k.Name) {
			if err := d.CopyFrom(s, k.Name, k.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// startFromTemplate creates path as a copy of src's template, open for
// writing the shard's own elements.
func startFromTemplate(src *h5ad.Source, path string) (*h5.File, error) {
	tmpl, err := src.Scratch("template", buildTemplate)
	if err != nil {
		return nil, err
	}
	in, err := os.Open(tmpl)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return h5.OpenRW(path)
}

package h5ad

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/annslicer/annslicer/layout/h5"
	"github.com/annslicer/annslicer/tree"
)

// Verbatim elements of an h5ad source go into h5ad output with H5Ocopy,
// which keeps every HDF5 type, attribute and reference (compound record
// arrays, anndata 0.7's object references) as they are. Those at the root
// (var, varm, varp, uns) are the same in every shard: a template file
// holding them and the root's attributes is made once per source, and
// every output starts as a byte copy of it instead of repeating the
// copies (var alone is a third of a skeleton's cost). The same steps every
// time keep an output's bytes the same for mount and materialize.

// rootVerbatim lists the plan's verbatim members of the root.
func rootVerbatim(z *tree.Plan) []string {
	var names []string
	for _, v := range z.Verbatim {
		if !strings.Contains(v.Path, "/") && strings.Count(v.Node, "/") == 1 {
			names = append(names, v.Path)
		}
	}
	return names
}

// startFromTemplate creates path as a copy of the template holding names,
// open for writing the rest of the output.
func (src *Source) startFromTemplate(names []string, path string) (*h5.File, error) {
	key := "template\x00" + strings.Join(names, "\x00")
	tmpl, err := src.Scratch(key, func(src *Source, dir string) (string, error) {
		return src.buildTemplate(names, dir)
	})
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

func (src *Source) buildTemplate(names []string, dir string) (string, error) {
	f, err := os.CreateTemp(dir, "template-*.h5")
	if err != nil {
		return "", err
	}
	path := f.Name()
	f.Close()
	path = filepath.Clean(path)
	hf, err := h5.Create(path)
	if err != nil {
		return "", err
	}
	root, err := hf.Root()
	if err == nil {
		err = src.Root.CopyAttrsTo(&root.Object)
		for _, name := range names {
			if err != nil {
				break
			}
			err = root.CopyFrom(src.Root, name, name)
		}
		root.Close()
	}
	if cerr := hf.Close(); err == nil {
		err = cerr
	}
	return path, err
}

// copyVerbatim copies the plan's verbatim elements below the root (the
// template holds the root's) from the source, into groups already made.
func (w *h5writer) copyVerbatim(vs []tree.PlanVerbatim) error {
	if w.native == nil {
		return nil
	}
	for _, v := range vs {
		dir, base := parentOf(v.Path)
		if dir == "" && strings.Count(v.Node, "/") == 1 {
			continue // in the template
		}
		d, ok := w.groups[dir]
		if !ok {
			return fmt.Errorf("/%s: parent group missing", v.Path)
		}
		sdir, sname := parentOf(strings.TrimPrefix(v.Node, "/"))
		s := w.native.Root
		if sdir != "" {
			g, err := w.native.Root.OpenGroup(sdir)
			if err != nil {
				return err
			}
			defer g.Close()
			s = g
		}
		if err := d.CopyFrom(s, sname, base); err != nil {
			return err
		}
	}
	return nil
}

// expandOverlaid turns the verbatim elements an overlay of the source
// changed (tree.Source.Overlaid: obscsv's CSV column, say a categorical's
// categories) into groups and arrays read from the tree: the file holds
// what was there before the overlay, or nothing. An element is changed
// when it is an overlaid path, lies below one or holds one. The others are
// still copied from the file.
func expandOverlaid(z *tree.Plan) error {
	if len(z.Source.Overlaid) == 0 {
		return nil
	}
	var keep, expand []tree.PlanVerbatim
	for _, v := range z.Verbatim {
		if overlaid(v.Node, z.Source.Overlaid) {
			expand = append(expand, v)
		} else {
			keep = append(keep, v)
		}
	}
	if len(expand) == 0 {
		return nil
	}
	z.Verbatim = keep
	for _, v := range expand {
		if z.Expand == nil {
			return fmt.Errorf("/%s: a verbatim element with no way to read it", v.Path)
		}
		if err := z.Expand(z, v); err != nil {
			return err
		}
	}
	return nil
}

func overlaid(node string, paths []string) bool {
	for _, p := range paths {
		if node == p || strings.HasPrefix(node, p+"/") || strings.HasPrefix(p, strings.TrimSuffix(node, "/")+"/") {
			return true
		}
	}
	return false
}

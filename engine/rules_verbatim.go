package engine

import (
	"fmt"
	"strings"

	"github.com/annslicer/annslicer/tree"
)

// Verbatim elements (var, varm, varp, uns, a categorical's categories,
// raw's var) as plain groups and arrays of the plan, for encoders that
// cannot copy them natively (zarr output, or a zarr source).

// nodePath is member name of the group at dir ("/" for the root).
func nodePath(dir, name string) string {
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// expandVerbatim appends v's element, read from p.Source, to p.
func expandVerbatim(p *tree.Plan, v tree.PlanVerbatim) error {
	t := p.Source
	root, err := t.Root()
	if err != nil {
		return fmt.Errorf("%s: %w", t.Path, err)
	}
	parts := strings.Split(strings.Trim(v.Node, "/"), "/")
	g := root
	defer func() { g.Close() }()
	for _, name := range parts[:len(parts)-1] {
		sg, err := g.Group(name)
		if err != nil {
			return fmt.Errorf("%s: %w", t.Path, err)
		}
		g.Close()
		g = sg
	}
	b := &zbuilder{t: t, z: p}
	dir, _ := splitPath(v.Path)
	if err := b.expandNode(g, tree.Child{Name: parts[len(parts)-1], IsGroup: v.IsGroup}, dir); err != nil {
		return fmt.Errorf("%s: %w", t.Path, err)
	}
	return nil
}

// splitPath splits a plan path into its parent's path and its name.
func splitPath(p string) (dir, name string) {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// expandNode adds element k of s, whole, to dst.
func (b *zbuilder) expandNode(s tree.Group, k tree.Child, dst string) error {
	if k.IsGroup {
		sg, attrs, err := tree.OpenGroup(s, k.Name)
		if err != nil {
			return err
		}
		defer sg.Close()
		d := tree.Join(dst, k.Name)
		b.addGroup(d, attrs)
		kids, err := sg.Children()
		if err != nil {
			return err
		}
		for _, c := range kids {
			if err := b.expandNode(sg, c, d); err != nil {
				return err
			}
		}
		return nil
	}
	a, err := s.Array(k.Name)
	if err != nil {
		return err
	}
	if err := checkRowBytes(a.Path(), a.Shape(), elemBytes(a.DType())); err != nil {
		a.Close()
		return err
	}
	attrs, err := a.Attrs()
	if err != nil {
		a.Close()
		return err
	}
	out := &tree.PlanArray{Path: tree.Join(dst, k.Name), Attrs: attrs, DType: a.DType(), Shape: a.Shape()}
	if a.DType().Kind == 'O' {
		defer a.Close()
		if err := checkWholeStrings(a.Path(), out.Shape); err != nil {
			return err
		}
		if out.Strs, err = b.t.VerbatimStrings(a.Path(), func() ([]string, error) { return a.Strings(nil) }); err != nil {
			return err
		}
		if len(out.Shape) == 0 {
			// a scalar string: anndata writes it as numpy unicode
			out.DType, out.Fill, out.Strs = unicodeScalar(out.Strs[0])
		}
	} else {
		b.keep(a)
		rr := a.Rows()
		n := int64(1)
		if len(out.Shape) > 0 {
			n = out.Shape[0]
		}
		out.Fill = gatherFill(rr, rr.RowBytes(), func(u0, u1 int64, emit func(dst, src, n int64)) {
			if u1 > n {
				u1 = n
			}
			if u0 < u1 {
				emit(u0, u0, u1-u0)
			}
		})
	}
	b.addArray(out)
	return nil
}

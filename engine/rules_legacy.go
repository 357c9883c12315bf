package engine

import "github.com/annslicer/annslicer/tree"

// anndata < 0.7 kept the neighbors graphs in uns: uns/neighbors/distances
// and connectivities, cells by cells (scanpy's bundled pbmc68k). Current
// anndata moves them to obsp when it reads such a file (compat's
// _move_adj_mtx: any 2-D matrix under those names), so a shard must hold
// them as obsp graphs of its own cells, induced on its rows, or it would
// not even open. They stay where the source has them (anndata moves them
// again on read); the rest of uns is copied whole as always.

var legacyGraphs = map[string]bool{"distances": true, "connectivities": true}

// uns adds the source's uns (child k of the root g): copied whole, unless
// uns/neighbors holds cell graphs, which are taken as obsp's are.
func (b *zbuilder) uns(g tree.Group, k tree.Child) error {
	if !k.IsGroup {
		return b.copyNode(g, k, "")
	}
	ug, uattrs, err := tree.OpenGroup(g, k.Name)
	if err != nil {
		return err
	}
	defer ug.Close()
	ng, err := tree.ChildGroup(ug, "neighbors")
	if err != nil {
		return err
	}
	if ng == nil {
		return b.copyNode(g, k, "")
	}
	defer ng.Close()
	nkids, err := ng.Children()
	if err != nil {
		return err
	}
	graphs := map[string]bool{}
	for _, c := range nkids {
		if legacyGraphs[c.Name] && b.isCellGraph(ng, c) {
			graphs[c.Name] = true
		}
	}
	if len(graphs) == 0 {
		return b.copyNode(g, k, "")
	}
	b.addGroup(k.Name, uattrs)
	ukids, err := ug.Children()
	if err != nil {
		return err
	}
	for _, c := range ukids {
		if c.Name != "neighbors" {
			if err := b.copyNode(ug, c, k.Name); err != nil {
				return err
			}
		}
	}
	nattrs, err := ng.Attrs()
	if err != nil {
		return err
	}
	d := tree.Join(k.Name, "neighbors")
	b.addGroup(d, nattrs)
	for _, c := range nkids {
		if graphs[c.Name] {
			err = b.graphElement(ng, c, d)
		} else {
			err = b.copyNode(ng, c, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// isCellGraph reports whether child c of g is a cells × cells matrix.
// Anything else anndata would refuse to move (or fail on) is copied as it is.
func (b *zbuilder) isCellGraph(g tree.Group, c tree.Child) bool {
	sh, ok := graphShape(g, c)
	return ok && sh[0] == b.t.NObs && sh[1] == b.t.NObs
}

// graphShape is the shape of child c of g if it is a matrix anndata moves
// to obsp (a 2-D array, or a sparse matrix: a group whose shape attribute
// has two sizes), and whether it is one. Slicing and merge both ask.
func graphShape(g tree.Group, c tree.Child) ([]int64, bool) {
	if !c.IsGroup {
		a, err := g.Array(c.Name)
		if err != nil {
			return nil, false
		}
		defer a.Close()
		sh := a.Shape()
		return sh, len(sh) == 2
	}
	sg, attrs, err := tree.OpenGroup(g, c.Name)
	if err != nil {
		return nil, false
	}
	sg.Close()
	shape, ok := tree.AttrInts(attrs, shapeAttrName(attrs))
	return shape, ok && len(shape) == 2
}

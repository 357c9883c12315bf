package engine

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/annslicer/annslicer/tree"
)

// Check reads the written output back (h5ad or zarr, as a tree) and checks
// what every reader relies on: the number of cells, the shape of every
// merged array, and that each indptr starts at 0, never decreases and
// ends at the number of entries.
func (g *Merged) Check(out *tree.Source) error {
	m := g.m
	if out.NObs != m.n {
		return fmt.Errorf("obs has %d cells, expected %d", out.NObs, m.n)
	}
	root, err := out.Root()
	if err != nil {
		return err
	}
	defer root.Close()
	var first error
	m.walk(m.root, func(n *mnode) {
		if first != nil || n.dropped != "" {
			return
		}
		switch {
		case n.col && n.absent != nil && (n.mkind == kStrings || n.mkind == kDense && n.dt.Kind == 'b'):
			// planned as a categorical or a nullable-boolean (merge_obs.go)
			sub := "/codes"
			if n.mkind == kDense {
				sub = "/values"
			}
			first = checkMergedRows(root, n.path+sub, m.n)
			return
		}
		switch n.mkind {
		case kDense, kCodes07, kStrings:
			first = checkMergedRows(root, n.path, m.n)
		case kCat, kLabel:
			first = checkMergedRows(root, n.path+"/codes", m.n)
		case kCSR:
			first = m.checkCSR(root, n)
		case kAwk:
			first = checkMergedAwk(root, n.path, m.n)
		}
	})
	return first
}

func checkMergedRows(root tree.Group, p string, n int64) error {
	a, err := root.Array(p)
	if err != nil {
		return err
	}
	defer a.Close()
	if sh := a.Shape(); len(sh) == 0 || sh[0] != n {
		return fmt.Errorf("%s has shape %v, expected %d rows", p, sh, n)
	}
	return nil
}

// checkMergedAwk checks that a merged awkward array counts every cell
// (its buffers' sizes follow from its offsets, checked when read).
func checkMergedAwk(root tree.Group, p string, n int64) error {
	attrs, err := attrsAtPath(root, p)
	if err != nil {
		return err
	}
	var length int64
	if raw, ok := attrs["length"]; !ok || json.Unmarshal(raw, &length) != nil || length != n {
		return fmt.Errorf("%s has length %s, expected %d", p, attrs["length"], n)
	}
	return nil
}

func (m *merger) checkCSR(root tree.Group, n *mnode) error {
	attrs, err := attrsAtPath(root, n.path)
	if err != nil {
		return err
	}
	shape, _ := tree.AttrInts(attrs, shapeAttrName(attrs))
	cols := m.csrCols(n)
	if !slices.Equal(shape, []int64{m.n, cols}) {
		return fmt.Errorf("%s has shape %v, expected (%d, %d)", n.path, shape, m.n, cols)
	}
	for _, a := range []string{"data", "indices"} {
		if err := checkMergedRows(root, n.path+"/"+a, n.total); err != nil {
			return err
		}
	}
	ptr, err := root.Array(n.path + "/indptr")
	if err != nil {
		return err
	}
	defer ptr.Close()
	if sh := ptr.Shape(); len(sh) != 1 || sh[0] != m.n+1 {
		return fmt.Errorf("%s/indptr has shape %v, expected %d", n.path, sh, m.n+1)
	}
	const step = 1 << 20
	prev := int64(0)
	for r := int64(0); r <= m.n; r += step {
		v, err := intsAt(ptr, r, min(step, m.n+1-r))
		if err != nil {
			return err
		}
		if r == 0 && v[0] != 0 {
			return fmt.Errorf("%s/indptr starts at %d, not 0", n.path, v[0])
		}
		for k, x := range v {
			if x < prev {
				return fmt.Errorf("%s/indptr decreases at row %d", n.path, r+int64(k)-1)
			}
			prev = x
		}
	}
	if prev != n.total {
		return fmt.Errorf("%s/indptr ends at %d but there are %d entries", n.path, prev, n.total)
	}
	return nil
}

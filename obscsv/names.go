package obscsv

import (
	"fmt"

	"github.com/annslicer/annslicer/tree"
)

// ObsNames reads src's obs names: its obs dataframe's index (the array
// its _index attribute names), one per cell. (The engine reads var's
// index the same way for merge, but keeps it to itself.)
func ObsNames(src *tree.Source) ([]string, error) {
	root, err := src.Root()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.Path, err)
	}
	defer root.Close()
	obs, err := obsGroup(src, root)
	if err != nil {
		return nil, err
	}
	defer obs.Close()
	attrs, err := obs.Attrs()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.Path, err)
	}
	idx := tree.AttrString(attrs, "_index")
	if idx == "" {
		return nil, fmt.Errorf("%s: obs has no _index attribute naming its index; not an AnnData dataframe", src.Path)
	}
	a, err := obs.Array(idx)
	if err != nil {
		return nil, fmt.Errorf("%s: the obs index %q: %v", src.Path, idx, err)
	}
	defer a.Close()
	if sh := a.Shape(); a.DType().Kind != 'O' || len(sh) != 1 || sh[0] != src.NObs {
		return nil, fmt.Errorf("%s: %s is not %d strings (dtype %s, shape %v); the obs index must name every cell", src.Path, a.Path(), src.NObs, a.DType(), sh)
	}
	names, err := a.Strings(nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", src.Path, a.Path(), err)
	}
	return names, nil
}

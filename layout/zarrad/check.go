package zarrad

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/annslicer/annslicer/layout/zarr"
)

// Declared shapes are untrusted until checked against storage: the number
// of cells is the obs index's length, and that index must be stored in full
// (a string index has no meaningful fill value, so a missing chunk of it is
// damage, never "empty"). Every other element is then held to the cells
// and genes it is indexed by, so no declared number reaches an allocation
// unchecked.

// MaxImplicitBytes bounds the fill-value data a zarr array may declare
// without storing it (zarr-python 3 leaves out chunks that hold only the fill
// value, so such chunks are legitimate, but a store with terabytes of them
// is a damaged or hostile shape, not data). 1 GiB: the memory a slice may
// use, since shards of such an element would hold that much.
const MaxImplicitBytes = 1 << 30

var errStop = errors.New("stop")

// indexLen is the length of the dataframe at df's index, stored in full;
// -1 when there is no such dataframe.
func (s *Source) indexLen(df string) (int64, error) {
	n, err := s.Store.Stat(df)
	if errors.Is(err, zarr.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	if n.IsArray {
		return -1, nil // a legacy record array; its rows are checked like any
	}
	idx, ok := AttrString(n.Attrs, "_index")
	if !ok {
		return -1, nil
	}
	a, err := s.indexArray(df, idx)
	if err != nil {
		return 0, err
	}
	if len(a.Meta.Shape) != 1 {
		return 0, s.errorf("%s index %q has shape %v; an index is 1-D", df, idx, a.Meta.Shape)
	}
	if err := s.checkStorage(a, true); err != nil {
		return 0, err
	}
	return int64(a.Meta.Shape[0]), nil
}

// checkStorage bounds an array's declared chunk grid by the files present.
// An index (all) must hold every chunk file. Other arrays may leave chunks
// of fill values out — zarr-python 3 does, in v2 stores as in v3 ones (its
// write_empty_chunks is off by default) — but at most MaxImplicitBytes
// worth of them. Counting
// stops at the grid's size, so the cost is bounded by what is on disk
// whatever the metadata declares.
func (s *Source) checkStorage(a *zarr.Array, all bool) error {
	m := a.Meta
	grid := m.ChunkCount()
	if grid == 0 {
		return nil
	}
	stored, err := a.StoredChunks(grid)
	if err != nil {
		return err
	}
	where := "/" + a.Path
	if all {
		// Name the first missing chunk. When files are missing, one is
		// among the first stored+1 chunks of the grid, so the search costs
		// what is on disk, not what is declared.
		visited, missing := 0, ""
		err := m.EachChunk(func(idx []int) error {
			if visited++; visited > stored+1 {
				return errStop
			}
			ok, err := a.HasChunk(idx)
			if err != nil {
				return err
			}
			if !ok {
				missing = a.ChunkFile(idx)
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			return err
		}
		if missing == "" && stored < grid {
			missing = s.Path + where // unreachable unless files vanish meanwhile
		}
		if missing != "" {
			return fmt.Errorf("zarr: %s: missing chunk file (the store is incomplete or damaged: %s declares shape %v in chunks of %v, %d chunk files, and %d are stored)", missing, where, m.Shape, m.Chunks, grid, stored)
		}
		return nil
	}
	if implicit := grid - stored; implicit > MaxImplicitBytes/max(1, m.ChunkBytes()) {
		return s.errorf("%s declares shape %v in chunks of %v, %d chunks, but only %d are stored: %d chunks of fill values is more than %d GiB; the metadata is damaged", where, m.Shape, m.Chunks, grid, stored, implicit, MaxImplicitBytes>>30)
	}
	return nil
}

// checkShape holds an element to the cells (n_obs) and genes (n_vars) of
// the store, by where AnnData keeps it.
func (s *Source) checkShape(a *zarr.Array) error {
	rows, cols := s.expect(a.Path)
	sh := a.Meta.Shape
	if rows < 0 {
		return nil
	}
	what := func(n int64) string {
		switch n {
		case s.NObs:
			return fmt.Sprintf("%d cells (rows of the obs index)", n)
		case s.NVars:
			return fmt.Sprintf("%d genes (rows of the var index)", n)
		}
		return fmt.Sprintf("%d rows of its index", n)
	}
	if len(sh) == 0 || int64(sh[0]) != rows {
		return s.errorf("/%s has shape %v but the store has %s; its metadata is damaged or it belongs to another store", a.Path, sh, what(rows))
	}
	if cols >= 0 && (len(sh) != 2 || int64(sh[1]) != cols) {
		return s.errorf("/%s has shape %v but the store is %d cells x %d genes; its metadata is damaged or it belongs to another store", a.Path, sh, rows, cols)
	}
	return nil
}

// expect is the length an array at path must have along its first axis
// and, for cell x gene matrices, its second (-1: not constrained).
func (s *Source) expect(path string) (rows, cols int64) {
	seg := strings.Split(path, "/")
	obs, vars := s.NObs, s.NVars
	if seg[0] == "raw" && len(seg) > 1 {
		seg, vars = seg[1:], s.rawNVars
		if seg[0] == "obs" || seg[0] == "obsm" || seg[0] == "obsp" || seg[0] == "layers" {
			return -1, -1 // not part of anndata's raw
		}
	}
	switch {
	case seg[0] == "X" && len(seg) == 1, seg[0] == "layers" && len(seg) == 2:
		return obs, vars
	case seg[0] == "obsp" && len(seg) == 2:
		return obs, obs
	case seg[0] == "varp" && len(seg) == 2:
		return vars, vars
	case seg[0] == "obs":
		return s.frameColumn(path, seg, obs), -1
	case seg[0] == "var":
		return s.frameColumn(path, seg, vars), -1
	case (seg[0] == "obsm" || seg[0] == "varm") && len(seg) >= 2:
		n := obs
		if seg[0] == "varm" {
			n = vars
		}
		if len(seg) == 2 {
			return n, -1
		}
		// A dataframe in obsm/varm has one row per cell (gene) too.
		all := strings.Split(path, "/")
		parent := strings.Join(all[:len(all)-len(seg)+2], "/")
		if et, _ := s.encoding(parent); et == "dataframe" {
			return s.frameColumn(path, seg[1:], n), -1
		}
	}
	return -1, -1
}

// frameColumn is the row count a dataframe member must have: columns, the
// index and categorical codes or nullable values/masks have n rows;
// categories (and anndata 0.7's __categories) are free. seg starts at the
// dataframe's own name.
func (s *Source) frameColumn(path string, seg []string, n int64) int64 {
	if n < 0 {
		return -1
	}
	switch len(seg) {
	case 2:
		return n
	case 3:
		if seg[1] == "__categories" {
			return -1
		}
		et, _ := s.encoding(path[:strings.LastIndex(path, "/")])
		switch {
		case et == "categorical" && seg[2] == "codes":
			return n
		case strings.HasPrefix(et, "nullable-") && (seg[2] == "values" || seg[2] == "mask"):
			return n
		}
	}
	return -1
}

func (s *Source) encoding(path string) (string, bool) {
	n, err := s.Store.Stat(path)
	if err != nil {
		return "", false
	}
	return AttrString(n.Attrs, "encoding-type")
}

// checkSparseShape holds a sparse matrix's "shape" attribute to the cells
// and genes, as checkShape does an array's: readers size the matrix by
// it, so a shape that disagrees with var (or is negative, or 2^40) would
// make shards anndata cannot read.
func (s *Source) checkSparseShape(g *zarr.Group) error {
	et, _ := AttrString(g.Attrs, "encoding-type")
	if et != "csr_matrix" && et != "csc_matrix" {
		return nil
	}
	raw, ok := g.Attrs["shape"]
	if !ok {
		return s.errorf("/%s is a %s without a shape attribute", g.Path, et)
	}
	var shape []int64
	if err := json.Unmarshal(raw, &shape); err != nil || len(shape) != 2 || shape[0] < 0 || shape[1] < 0 {
		var compact bytes.Buffer // the attribute as written may span lines
		if json.Compact(&compact, raw) != nil {
			compact.Reset()
			compact.WriteString("(not JSON)")
		}
		return s.errorf("/%s has shape attribute %s; a sparse matrix's shape is two non-negative integers", g.Path, compact.String())
	}
	rows, cols := s.expect(g.Path)
	if rows >= 0 && shape[0] != rows || cols >= 0 && shape[1] != cols {
		want := fmt.Sprintf("%d rows", rows)
		if cols >= 0 {
			want = fmt.Sprintf("%d x %d", rows, cols)
		}
		return s.errorf("/%s has shape attribute %v but the store has %s (cells of the obs index, genes of the var index); its metadata is damaged", g.Path, shape, want)
	}
	return nil
}

// indexArray is the array holding dataframe df's index idx: the index
// itself, or for a pandas "string" index, which anndata writes as a
// nullable string array, its values.
func (s *Source) indexArray(df, idx string) (*zarr.Array, error) {
	p := df + "/" + idx
	n, err := s.Store.Stat(p)
	if err != nil {
		return nil, err
	}
	if !n.IsArray {
		if et, _ := AttrString(n.Attrs, "encoding-type"); et != "nullable-string-array" {
			return nil, s.errorf("%s index %q is a group of encoding %q; an index is a string array or a nullable string array", df, idx, et)
		}
		p += "/values"
	}
	return s.Store.Array(p)
}

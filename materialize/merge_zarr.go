package materialize

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/layout/zarrad"
	"github.com/annslicer/annslicer/tree"
)

// Merging with zarr on either side. The h5ad merge (plan, streamed write,
// validation) does the work: each .zarr input is first written, whole, as
// an uncompressed h5ad in a hidden work directory next to the output
// (through the engine's element tree, as slice --format h5ad writes a zarr
// source's shards), and a .zarr output is the merged h5ad written as one
// zarr store (as slice --format zarr writes a shard: chunks along rows,
// anndata's Blosc lz4, consolidated metadata), checked, then renamed into
// place. Memory stays that of the parts: one input's strings and row tables
// while converting, the h5ad merge's windows, and for a .zarr output the
// merged file's strings and row tables (O(cells)) with fixed-size arrays
// generated window by window. The work directory is removed at the end,
// whatever happens; on error nothing is left at OUTPUT.

// zarrCacheBytes bounds the decoded chunks of one zarr input.
const zarrCacheBytes = 128 << 20

func isZarrPath(p string) bool { return strings.HasSuffix(strings.TrimRight(p, "/"), ".zarr") }

// needsZarrMerge reports whether output or an input is a zarr store.
func needsZarrMerge(output string, inputs []string) bool {
	if isZarrPath(output) {
		return true
	}
	for _, in := range inputs {
		if isZarrPath(in) {
			return true
		}
	}
	return false
}

// renamer puts the inputs' real names back where the work directory's
// stand-ins appear in messages.
type renamer struct{ pairs []string } // old, new, ...

func (r *renamer) add(tmp, real string) { r.pairs = append(r.pairs, tmp, real) }

func (r *renamer) str(s string) string {
	if len(r.pairs) == 0 {
		return s
	}
	return strings.NewReplacer(r.pairs...).Replace(s)
}

func (r *renamer) err(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(r.str(err.Error()))
}

func mergeZarr(output string, inputs []string, o MergeOptions) (err error) {
	zout := isZarrPath(output)
	output = strings.TrimRight(output, "/")
	if output == "" {
		return fmt.Errorf("no output name")
	}
	if zout {
		if st, err := os.Lstat(output); err == nil && o.Overwrite && !st.IsDir() {
			return fmt.Errorf("%s: exists and is not a directory (a .zarr store is a directory); remove it first", output)
		}
	}
	set, err := NewSet([]string{output}, SetOptions{Overwrite: o.Overwrite, Inputs: inputs, Log: o.Log})
	if err != nil {
		return err
	}
	defer set.Abort()
	// Every zarr input is opened, and so checked (metadata, declared
	// shapes against its cells and genes, chunk files), before anything
	// is made next to the output: a damaged input fails with nothing to
	// clean up.
	cache := zarr.NewCache(zarrCacheBytes)
	trees := make([]*tree.Source, len(inputs))
	defer func() {
		for _, t := range trees {
			if t != nil {
				t.Close()
			}
		}
	}()
	for i, in := range inputs {
		if isZarrPath(in) {
			if trees[i], err = zarrad.OpenTree(in, cache); err != nil {
				return err
			}
		}
	}
	work, err := set.Work()
	if err != nil {
		return err
	}
	rn := &renamer{}
	fail := func(err error) error { return set.Err(rn.err(err)) }
	parts := make([]string, len(inputs))
	for i, in := range inputs {
		if trees[i] == nil {
			parts[i] = in
			continue
		}
		parts[i] = filepath.Join(work, fmt.Sprintf("in%d.h5ad", i))
		rn.add(parts[i], in)
		err := zarrToH5AD(o.Ctx, trees[i], parts[i])
		trees[i].Close()
		trees[i] = nil
		if err != nil {
			return fail(err)
		}
	}
	po := o
	if o.Warn != nil {
		po.Warn = func(msg string) { o.Warn(rn.str(msg)) }
	}
	if !zout {
		if err := mergeH5AD(set.Temp(0), parts, po); err != nil {
			return fail(err)
		}
		return set.Err(set.Commit(o.Ctx))
	}
	merged := filepath.Join(work, "merged.h5ad")
	rn.add(merged, output)
	if err := mergeH5AD(merged, parts, po); err != nil {
		return fail(err)
	}
	tmp := set.Temp(0)
	n, err := h5adToZarr(merged, tmp)
	if err != nil {
		return fail(err)
	}
	os.Remove(merged) // free its space before the rename
	if err := checkMergedZarr(tmp, n); err != nil {
		return fmt.Errorf("%s: the merged store failed its check (%v); nothing was written", output, set.Err(err))
	}
	return set.Err(set.Commit(o.Ctx))
}

// zarrToH5AD writes an opened zarr store, whole, as the uncompressed h5ad
// out.
func zarrToH5AD(ctx context.Context, t *tree.Source, out string) error {
	in := t.Path
	sh, err := engine.PlanShard(t, allRows(t.NObs))
	if err != nil {
		return err
	}
	defer sh.Close()
	if err := WriteH5ADShards(ctx, []*tree.Plan{sh}, []string{out}, "", 1); err != nil {
		return prefixed(in, err)
	}
	return nil
}

// h5adToZarr writes the h5ad file in, whole, as the zarr store dir.
func h5adToZarr(in, dir string) (int64, error) {
	src, err := h5ad.Open(in)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	sh, err := engine.PlanShard(src.Tree(), allRows(src.NObs))
	if err != nil {
		return 0, err
	}
	defer sh.Close()
	if err := zarrad.Write(sh, dir, zarrad.AnnDataBlosc); err != nil {
		return 0, prefixed(in, err)
	}
	return src.NObs, nil
}

func prefixed(p string, err error) error {
	if strings.Contains(err.Error(), p) {
		return err
	}
	return fmt.Errorf("%s: %w", p, err)
}

func allRows(n int64) []int64 {
	rows := make([]int64, n)
	for i := range rows {
		rows[i] = int64(i)
	}
	return rows
}

// checkMergedZarr reopens the written store as an AnnData source and
// checks what readers rely on: the number of cells, and the row count of
// every per-cell array and sparse matrix of X, layers, obsm and obsp.
func checkMergedZarr(dir string, n int64) error {
	tree, err := zarrad.OpenTree(dir, zarr.NewCache(16<<20))
	if err != nil {
		return err
	}
	defer tree.Close()
	if tree.NObs != n {
		return fmt.Errorf("%d cells, expected %d", tree.NObs, n)
	}
	st, err := zarr.Open(dir, nil)
	if err != nil {
		return err
	}
	check := func(p string) error {
		if a, err := st.Array(p); err == nil {
			if len(a.Meta.Shape) == 0 || int64(a.Meta.Shape[0]) != n {
				return fmt.Errorf("%s has shape %v, expected %d rows", p, a.Meta.Shape, n)
			}
			return nil
		}
		g, err := st.Group(p)
		if err != nil {
			return err
		}
		var shape []int64
		for _, k := range []string{"shape", "h5sparse_shape"} {
			if raw, ok := g.Attrs[k]; ok {
				if err := json.Unmarshal(raw, &shape); err != nil {
					return fmt.Errorf("%s: bad %s attribute", p, k)
				}
			}
		}
		if shape != nil {
			if len(shape) != 2 || shape[0] != n {
				return fmt.Errorf("%s has shape %v, expected %d rows", p, shape, n)
			}
			ptr, err := st.Array(p + "/indptr")
			if err != nil {
				return err
			}
			if len(ptr.Meta.Shape) != 1 || int64(ptr.Meta.Shape[0]) != n+1 {
				return fmt.Errorf("%s/indptr has shape %v, expected %d", p, ptr.Meta.Shape, n+1)
			}
		}
		return nil
	}
	if has(st, "X") {
		if err := check("X"); err != nil {
			return err
		}
	}
	for _, m := range []string{"layers", "obsm", "obsp"} {
		g, err := st.Group(m)
		if err != nil {
			continue
		}
		kids, err := g.Children()
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := check(m + "/" + k.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

func has(st *zarr.Store, p string) bool {
	if _, err := st.Array(p); err == nil {
		return true
	}
	_, err := st.Group(p)
	return err == nil
}

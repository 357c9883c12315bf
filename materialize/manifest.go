package materialize

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/annslicer/annslicer/layout/zarrad"
	"github.com/annslicer/annslicer/selection"
	"github.com/annslicer/annslicer/tree"
)

// The manifest of a set of outputs: a mount's shards.json, and the file
// `--manifest` has slice and materialize write. One format for both:
// the input, the zarr layout of zarr outputs, the selection (for
// fixed-size shards the plan, with the seed actually used, so the same
// shards can be made again; for categories the column, the
// always-included categories and each output's category; for a filter
// the column), the share of a split run (--shards i/N: "split", the
// outputs listed being that share's), and every output's name, cell
// count and, where they number at most selection.MaxRuns, its rows as
// runs [start, end) of the input (a contiguous shard: one run; a
// shuffled one: none, its seed makes them).
//
// Rows are numbered in the input's obs. A collection (several files as
// one source) lists its files instead of "input" ("inputs": path, first
// row and n_obs of each, in order) and numbers rows across them, so that
// a run [start, end) stays a pair, cut at the files' boundaries by
// whoever maps a cell back to its file.

// shardList names the outputs of a mount (set.Name(k).format, in the
// mount's root) and makes its shards.json.
func shardList(set *selection.Set, format string, zl zarrad.Layout, src *tree.Source) ([]Shard, []byte) {
	var infos []Shard
	names := make([]string, set.Shards())
	for k := range names {
		names[k] = set.Name(k) + "." + format
		infos = append(infos, Shard{Name: names[k], Cells: set.Count(k)})
	}
	return infos, manifest(set, names, format, zl, src)
}

// ManifestOf is the manifest of the outputs of set written to paths,
// named in it relative to its directory dir (so a directory of shards
// and its manifest can move together).
func ManifestOf(set *selection.Set, paths []string, dir, format string, zl zarrad.Layout, src *tree.Source) ([]byte, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(paths))
	for k, p := range paths {
		a, err := filepath.Abs(p)
		if err == nil {
			names[k], err = filepath.Rel(absDir, a)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: cannot name it relative to the manifest's directory %s: %v", p, dir, err)
		}
	}
	return manifest(set, names, format, zl, src), nil
}

func manifest(set *selection.Set, names []string, format string, zl zarrad.Layout, src *tree.Source) []byte {
	type shardJSON struct {
		Name     string     `json:"name"`
		Cells    int64      `json:"cells"`
		Category *string    `json:"category,omitempty"`
		Rows     [][2]int64 `json:"rows,omitempty"`
	}
	list := []shardJSON{}
	for k := 0; k < set.Shards(); k++ {
		sj := shardJSON{Name: names[k], Cells: set.Count(k), Rows: set.Runs(k)}
		if set.Kind == selection.ByCategory {
			cat := set.Category(k)
			sj.Category = &cat
		}
		list = append(list, sj)
	}
	abs, inputs := inputsOf(src)
	var zv, zs *int
	if format == "zarr" {
		v := max(2, zl.Version)
		zv = &v
		if zl.ShardRows > 0 {
			zs = &zl.ShardRows
		}
	}
	type splitJSON struct {
		Index   int `json:"index"`   // i of --shards i/N
		Count   int `json:"count"`   // N
		Outputs int `json:"outputs"` // of the whole set, all shares
	}
	var split *splitJSON
	if sp, ok := set.Share(); ok {
		split = &splitJSON{sp.I, sp.N, set.Total()}
	}
	type common struct {
		Input         string      `json:"input,omitempty"`
		Inputs        []inputJSON `json:"inputs,omitempty"`
		Format        string      `json:"format"`
		ZarrVersion   *int        `json:"zarr_version,omitempty"`
		ZarrShardSize *int        `json:"zarr_shard_size,omitempty"`
		NObs          int64       `json:"n_obs"`
		Split         *splitJSON  `json:"split,omitempty"`
	}
	c := common{abs, inputs, format, zv, zs, src.NObs, split}
	var doc any
	switch p := set.Plan(); set.Kind {
	case selection.Shards:
		var seed *uint64
		if p.Shuffle {
			seed = &p.Seed
		}
		doc = struct {
			common
			Size    int64       `json:"size"`
			Shuffle bool        `json:"shuffle"`
			Seed    *uint64     `json:"seed"`
			Shards  []shardJSON `json:"shards"`
		}{c, p.Size, p.Shuffle, seed, list}
	case selection.ByCategory:
		always := append([]string{}, set.Always...)
		empty := append([]string{}, set.Empty...)
		doc = struct {
			common
			ObsColumn     string      `json:"obs_column"`
			AlwaysInclude []string    `json:"always_include"`
			Empty         []string    `json:"empty_categories"`
			Shards        []shardJSON `json:"shards"`
		}{c, set.Column, always, empty, list}
	default:
		doc = struct {
			common
			Filter string      `json:"filter"`
			Shards []shardJSON `json:"shards"`
		}{c, set.Column, list}
	}
	out, _ := json.MarshalIndent(doc, "", "  ")
	return append(out, '\n')
}

// inputJSON is one file of a collection in a manifest.
type inputJSON struct {
	Path string `json:"path"`
	Row0 int64  `json:"row0"`
	NObs int64  `json:"n_obs"`
}

// inputsOf is what a manifest says of src: one input, its absolute path;
// a collection, each file's path, first row and cells, rows being
// numbered across them in this order.
func inputsOf(src *tree.Source) (abs string, inputs []inputJSON) {
	if src.Parts == nil {
		abs, _ = filepath.Abs(src.Path)
	}
	for _, p := range src.Parts {
		a, _ := filepath.Abs(p.Path)
		inputs = append(inputs, inputJSON{a, p.Row0, p.NObs})
	}
	return abs, inputs
}

package materialize

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/annslicer/annslicer/layout/image"
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
// count and rows: its cells, in output order, as runs of consecutive
// input rows, so a loader maps any cell back to its origin. A run is
// [start, end) of the input's rows; for a collection (several files as
// one source, listed in "inputs" with their paths, first rows and n_obs)
// it is [file, start, end): rows start…end-1 of inputs[file], a run never
// crossing files.
//
// A shuffled shard's runs are mostly single cells, so the document grows
// with the cells; it is an image.Pieces (one piece per shard), produced
// again on each read, never held whole.

// shardList names the outputs of a mount (set.Name(k).format, in the
// mount's root) and makes its shards.json.
func shardList(set *selection.Set, format string, zl zarrad.Layout, src *tree.Source) ([]Shard, image.File) {
	infos := make([]Shard, set.Shards())
	for k := range infos {
		infos[k] = Shard{Name: set.Name(k) + "." + format, Cells: set.Count(k)}
	}
	return infos, manifest(set, func(k int) string { return infos[k].Name }, format, zl, src)
}

// ManifestOf is the manifest of the outputs of set written to paths,
// named in it relative to its directory dir (so a directory of shards
// and its manifest can move together).
func ManifestOf(set *selection.Set, paths []string, dir, format string, zl zarrad.Layout, src *tree.Source) (image.File, error) {
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
	return manifest(set, func(k int) string { return names[k] }, format, zl, src), nil
}

// manifest is the document: its head (everything but the shard list, as
// indented JSON), one piece per shard (one line of compact JSON each) and
// the closing brackets.
func manifest(set *selection.Set, name func(shard int) string, format string, zl zarrad.Layout, src *tree.Source) image.File {
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
			Size    int64   `json:"size"`
			Shuffle bool    `json:"shuffle"`
			Seed    *uint64 `json:"seed"`
		}{c, p.Size, p.Shuffle, seed}
	case selection.ByCategory:
		always := append([]string{}, set.Always...)
		empty := append([]string{}, set.Empty...)
		doc = struct {
			common
			ObsColumn     string   `json:"obs_column"`
			AlwaysInclude []string `json:"always_include"`
			Empty         []string `json:"empty_categories"`
		}{c, set.Column, always, empty}
	default:
		doc = struct {
			common
			Filter string `json:"filter"`
		}{c, set.Column}
	}
	head, _ := json.MarshalIndent(doc, "", "  ")
	head = append(head[:len(head)-len("\n}")], `,
  "shards": [`...)
	n := set.Shards()
	tail := []byte("]\n}\n")
	if n > 0 {
		tail = []byte("\n  ]\n}\n")
	}
	return image.NewPieces(n+2, func(k int) []byte {
		switch k {
		case 0:
			return head
		case n + 1:
			return tail
		}
		return shardEntry(set, k-1, name(k-1), src.Parts)
	})
}

// shardEntry is output k's line in the shard list.
func shardEntry(set *selection.Set, k int, name string, parts []tree.Part) []byte {
	var b []byte
	if k > 0 {
		b = append(b, ',')
	}
	b = append(b, "\n    {\"name\": "...)
	b, _ = appendJSON(b, name)
	b = append(b, ", \"cells\": "...)
	b = strconv.AppendInt(b, set.Count(k), 10)
	if set.Kind == selection.ByCategory {
		b = append(b, ", \"category\": "...)
		b, _ = appendJSON(b, set.Category(k))
	}
	b = append(b, ", \"rows\": ["...)
	first := true
	forRuns(set.Rows(k), parts, func(file int, lo, hi int64) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '[')
		if file >= 0 {
			b = strconv.AppendInt(b, int64(file), 10)
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, lo, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, hi, 10)
		b = append(b, ']')
	})
	return append(b, "]}"...)
}

// forRuns calls run for each run of consecutive rows, in order: (-1, lo,
// hi) for a single source; for a collection, (file, lo, hi) in that
// file's own rows, runs cut at the files' boundaries.
func forRuns(rows []int64, parts []tree.Part, run func(file int, lo, hi int64)) {
	file := func(r int64) int {
		if parts == nil {
			return -1
		}
		// the last part starting at or before r (empty files skipped)
		return sort.Search(len(parts), func(i int) bool { return parts[i].Row0 > r }) - 1
	}
	for i := 0; i < len(rows); {
		f := file(rows[i])
		end := int64(-1)
		if f >= 0 {
			end = parts[f].Row0 + parts[f].NObs
		}
		j := i + 1
		for j < len(rows) && rows[j] == rows[j-1]+1 && (f < 0 || rows[j] < end) {
			j++
		}
		lo, hi := rows[i], rows[j-1]+1
		if f >= 0 {
			lo, hi = lo-parts[f].Row0, hi-parts[f].Row0
		}
		run(f, lo, hi)
		i = j
	}
}

func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	return append(b, j...), err
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

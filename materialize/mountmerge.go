package materialize

import (
	"encoding/json"

	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// OpenMergedMount serves the merge of o.Inputs (o.Collection's join and
// keys) as one file, merged.h5ad (or merged.zarr), never written: its
// image is merge's plan (engine.PlanMerge) encoded as merge encodes it,
// so its bytes are those of `merge` (a .zarr: with --compression none).
//
// The plan is made again whenever the file's image is built (the first
// open, and after the image was evicted): it holds the merged obs
// strings, which a mount should not keep while nobody reads the file. A
// rebuild re-checks inputs that changed and reuses what it knew of the
// others.
func OpenMergedMount(o MountOptions) (*Mount, error) {
	m := &Mount{dir: o.Dir, log: o.Log, zarr: o.Zarr, built: func() error { return nil }}
	if m.log == nil {
		m.log = func(string) {}
	}
	stamps := newInputStamps(o.Inputs)
	cache := zarr.NewCache(ZarrCacheBytes)
	co := *o.Collection
	if co.Join == "" {
		co.Join = "outer"
	}
	first, err := co.plan(o.Inputs, cache, co.Warn)
	if err != nil {
		return nil, err
	}
	parts := first.Parts()
	m.maxCells = first.Plan.Cells
	first.Close()
	m.tree = &tree.Source{Path: o.Input, NObs: m.maxCells, Parts: parts}
	m.changed = stamps.check
	m.plan = func(int) (*tree.Plan, error) {
		merged, err := co.plan(o.Inputs, cache, nil)
		if err != nil {
			return nil, err
		}
		return merged.Plan, nil
	}
	name := "merged." + o.Format
	m.shards = []Shard{{Name: name, Cells: m.maxCells}}
	m.manifest = image.Bytes(mergedManifest(m.tree, name, o, co.Join))
	return m, nil
}

// mergedManifest is the shards.json of a merged mount: the inputs (as a
// collection's manifest lists them), the join and keys, and the one file.
func mergedManifest(src *tree.Source, name string, o MountOptions, join string) []byte {
	_, inputs := inputsOf(src)
	type fileJSON struct {
		Name  string `json:"name"`
		Cells int64  `json:"cells"`
	}
	k := o.Collection.Keys
	doc := struct {
		Inputs      []inputJSON `json:"inputs"`
		Format      string      `json:"format"`
		ZarrVersion *int        `json:"zarr_version,omitempty"`
		NObs        int64       `json:"n_obs"`
		Merge       bool        `json:"merge"`
		Join        string      `json:"join"`
		Label       string      `json:"label,omitempty"`
		Keys        []string    `json:"keys,omitempty"`
		IndexUnique *string     `json:"index_unique,omitempty"`
		Shards      []fileJSON  `json:"shards"`
	}{Inputs: inputs, Format: o.Format, NObs: src.NObs, Merge: true, Join: join, Label: k.Label, Keys: k.Keys,
		Shards: []fileJSON{{name, src.NObs}}}
	if k.IndexUnique {
		doc.IndexUnique = &k.Sep
	}
	if o.Format == "zarr" {
		v := max(2, o.Zarr.Version)
		doc.ZarrVersion = &v
	}
	out, _ := json.MarshalIndent(doc, "", "  ")
	return append(out, '\n')
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A collection (a glob, --inputs-from) is one source: its shards are the
// rows of merge's output of the same files with the same join, which
// other tests check against anndata.concat. So: every shard of the
// collection is checked by the oracle against the merged file's rows, and
// a zarr slice of the collection is byte-identical to the same slice of
// the merged file (the same plan, encoded the same way); the mount shows
// exactly the collection's materialized shards.
func TestCollectionShardsAreRowsOfTheMerge(t *testing.T) {
	needPython(t)
	needCurrent(t)
	needFUSE(t)
	in := mergeInputs(t)
	mixed := makeObsInputs(t, t.TempDir(), []string{"h5ad", "zarr", "h5ad"})
	for _, set := range []struct {
		name   string
		inputs []string
		size   string
	}{
		// different gene sets, categories, layers in one only (h5ad)
		{"genes", in("j0.h5ad", "j1.h5ad", "j2.h5ad"), "70"},
		// h5ad and zarr mixed, obs columns in only some inputs
		{"mixed", mixed, "4"},
	} {
		for _, join := range []string{"outer", "inner"} {
			t.Run(set.name+"_"+join, func(t *testing.T) {
				dir := t.TempDir()
				list := filepath.Join(dir, "inputs.txt")
				if err := os.WriteFile(list, []byte(strings.Join(set.inputs, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				// the inputs as a glob when they share a directory
				glob := filepath.Join(filepath.Dir(set.inputs[0]), "*")
				byGlob := []string{glob}
				if set.name == "genes" {
					byGlob = []string{"--inputs-from", list}
				}
				merged := filepath.Join(dir, "merged.h5ad")
				mustMerge(t, append([]string{"--join", join, merged}, set.inputs...)...)
				shuffle := []string{"--size", set.size, "--shuffle", "--seed", "3", "--join", join}

				prefix := filepath.Join(dir, "c")
				mustSlice(t, append(append([]string{"slice"}, append(byGlob, prefix)...), shuffle...)...)
				shards := shardFiles(t, prefix)
				if len(shards) < 3 {
					t.Fatalf("%d shards", len(shards))
				}
				checkShards(t, merged, shards, "--size", set.size)

				// the manifest lists the files and where their rows start
				man := filepath.Join(dir, "c.json")
				mustSlice(t, append(append([]string{"materialize"}, append(byGlob, filepath.Join(dir, "cm"))...), append(shuffle, "--manifest", man)...)...)
				var doc struct {
					Input  *string `json:"input"`
					Inputs []struct {
						Path string `json:"path"`
						Row0 int64  `json:"row0"`
						NObs int64  `json:"n_obs"`
					} `json:"inputs"`
					NObs int64 `json:"n_obs"`
				}
				if b, err := os.ReadFile(man); err != nil || json.Unmarshal(b, &doc) != nil {
					t.Fatalf("manifest %s: %v", man, err)
				}
				var row int64
				for k, in := range doc.Inputs {
					abs, _ := filepath.Abs(set.inputs[k])
					if in.Path != abs || in.Row0 != row || in.NObs <= 0 {
						t.Errorf("manifest input %d: %+v (want %s from row %d)", k, in, abs, row)
					}
					row += in.NObs
				}
				if doc.Input != nil || len(doc.Inputs) != len(set.inputs) || row != doc.NObs {
					t.Errorf("manifest: input %v, %d inputs of %d cells, n_obs %d", doc.Input, len(doc.Inputs), row, doc.NObs)
				}
				// and each shard's cells as (file, row) runs: every cell
				// maps back to its origin
				checkManifestRows(t, man, "")

				// zarr: the same bytes as slicing the merged file
				zc, zm := filepath.Join(dir, "zc"), filepath.Join(dir, "zm")
				zarrArgs := append(append([]string{}, shuffle...), "--format", "zarr", "--compression", "none")
				mustSlice(t, append([]string{"materialize", "--inputs-from", list, zc}, zarrArgs...)...)
				mustSlice(t, append([]string{"materialize", merged, zm}, zarrArgs...)...)
				sameTree(t, zc, zm)

				// the mount of the collection serves the slice's bytes
				// (INPUT, then --inputs-from for the rest, for the genes set)
				first, more := glob, shuffle
				if set.name == "genes" {
					rest := filepath.Join(dir, "rest.txt")
					if err := os.WriteFile(rest, []byte(strings.Join(set.inputs[1:], "\n")), 0o644); err != nil {
						t.Fatal(err)
					}
					first, more = set.inputs[0], append([]string{"--inputs-from", rest}, shuffle...)
				}
				m := mount(t, first, more...)
				checkManifestRows(t, filepath.Join(m.dir, "shards.json"), m.dir)
				for k, s := range shards {
					got, err := os.ReadFile(filepath.Join(m.dir, fmt.Sprintf("shard_%d.h5ad", k)))
					want, _ := os.ReadFile(s)
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("mounted shard_%d.h5ad differs from the sliced %s (%v)", k, s, err)
					}
				}
			})
		}
	}
}

// A collection's inputs are given by a glob or a list; mistakes are
// one-line errors that leave nothing.
func TestCollectionInputErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"slice", filepath.Join(dir, "nothing*.h5ad"), filepath.Join(dir, "o")}, 1, "no file matches this pattern"},
		{[]string{"slice", "--inputs-from", empty, filepath.Join(dir, "o")}, 2, "the inputs file lists no path"},
		{[]string{"slice", "--inputs-from", filepath.Join(dir, "missing.txt"), filepath.Join(dir, "o")}, 1, "cannot read the inputs file"},
		{[]string{"slice", fixture("full.h5ad"), fixture("full.h5ad"), filepath.Join(dir, "o"), "--join", "left"}, 2, "takes 2 arguments"},
		{[]string{"materialize", fixture("full.h5ad"), filepath.Join(dir, "o"), "--join", "left"}, 2, `--join "left": use outer or inner`},
		{[]string{"slice", fixture("full.h5ad") + "*", filepath.Join(dir, "o")}, 0, ""},
	} {
		r := annslicer(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%v: want exit %d and %q, got %d %q", c.args, c.code, c.want, r.code, r.stderr)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "empty.txt" && !strings.HasPrefix(e.Name(), "o_shard_") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// mount --merge serves merge's output, never written: the same bytes as
// `merge` (a .zarr: with --compression none), for either join, with
// labels and unique names; its shards.json says what was merged.
func TestMountMergeServesTheMergedFile(t *testing.T) {
	needCurrent(t)
	needFUSE(t)
	in := mergeInputs(t)
	mixed := makeObsInputs(t, t.TempDir(), []string{"h5ad", "zarr", "h5ad"})
	for _, c := range []struct {
		name   string
		inputs []string
		args   []string
	}{
		{"genes_inner", in("j0.h5ad", "j1.h5ad", "j2.h5ad"), []string{"--join", "inner"}},
		{"mixed_labelled", mixed, []string{"--label", "batch", "--keys", "a,b,c", "--index-unique", "-"}},
		{"one_file_labelled", mixed[:1], []string{"--label", "batch", "--index-unique", "_"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			merged, mergedZ := filepath.Join(dir, "m.h5ad"), filepath.Join(dir, "m.zarr")
			mustMerge(t, append(append([]string{merged}, c.inputs...), c.args...)...)
			mustMerge(t, append(append([]string{mergedZ}, c.inputs...), append(c.args, "--compression", "none")...)...)
			rest := filepath.Join(dir, "rest.txt")
			os.WriteFile(rest, []byte(strings.Join(c.inputs[1:], "\n")), 0o644)
			args := append([]string{"--merge"}, c.args...)
			if len(c.inputs) > 1 {
				args = append(args, "--inputs-from", rest)
			}
			m := mount(t, c.inputs[0], args...)
			got, err := os.ReadFile(filepath.Join(m.dir, "merged.h5ad"))
			want, _ := os.ReadFile(merged)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("mounted merged.h5ad (%d bytes, %v) differs from merge's %s (%d bytes)", len(got), err, merged, len(want))
			}
			var doc struct {
				Merge  bool `json:"merge"`
				NObs   int64
				Shards []struct {
					Name  string `json:"name"`
					Cells int64  `json:"cells"`
				} `json:"shards"`
				Inputs []struct{ Path string } `json:"inputs"`
			}
			if b, err := os.ReadFile(filepath.Join(m.dir, "shards.json")); err != nil || json.Unmarshal(b, &doc) != nil {
				t.Fatalf("shards.json: %v", err)
			}
			if !doc.Merge || len(doc.Shards) != 1 || doc.Shards[0].Name != "merged.h5ad" || len(doc.Inputs) != len(c.inputs) {
				t.Errorf("shards.json: %+v", doc)
			}
			mz := mount(t, c.inputs[0], append(args, "--format", "zarr")...)
			sameTree(t, filepath.Join(mz.dir, "merged.zarr"), mergedZ)
		})
	}
	r := annslicer(t, "mount", mixed[0], t.TempDir(), "--merge", "--size", "10")
	if r.code != 2 || !strings.Contains(r.stderr, "--merge serves one file") {
		t.Errorf("mount --merge --size: want a usage error, got %d %q", r.code, r.stderr)
	}
}

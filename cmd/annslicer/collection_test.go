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
		{[]string{"slice", "--inputs-from", empty, filepath.Join(dir, "o")}, 2, "lists no inputs"},
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

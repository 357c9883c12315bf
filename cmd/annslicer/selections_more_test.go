package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A mount by category or filter shows what materialize writes with the
// same flags, byte for byte, and shards.json says each output's selection.
func TestMountSelections(t *testing.T) {
	needFUSE(t)
	needCurrent(t)
	type manifestJSON struct {
		NObs      int64    `json:"n_obs"`
		ObsColumn string   `json:"obs_column"`
		Always    []string `json:"always_include"`
		Empty     []string `json:"empty_categories"`
		Filter    string   `json:"filter"`
		Shards    []struct {
			Name     string     `json:"name"`
			Cells    int64      `json:"cells"`
			Category *string    `json:"category"`
			Rows     [][2]int64 `json:"rows"`
		} `json:"shards"`
	}
	for _, c := range []struct {
		name, src string
		sel       []string
		format    string
	}{
		{"h5ad by category", selFixture(t, "sel.h5ad"), []string{"--obs-column", "group", "--always-include", "ctrl"}, "h5ad"},
		{"zarr by category", selFixture(t, "sel.zarr"), []string{"--obs-column", "nums"}, "zarr"},
		{"h5ad filter", fixture("full.h5ad"), []string{"--filter", "flag"}, "h5ad"},
		{"zarr filter", selFixture(t, "sel.h5ad"), []string{"--filter", "keep_s"}, "zarr"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"--obs-column"}
			if c.sel[0] == "--filter" {
				args = []string{"--filter"}
			}
			w := wantRows(t, c.src, append(args, c.sel[1:]...)...)
			m := mount(t, c.src, append([]string{"--format", c.format}, c.sel...)...)
			raw, err := os.ReadFile(filepath.Join(m.dir, "shards.json"))
			var man manifestJSON
			if err != nil || json.Unmarshal(raw, &man) != nil {
				t.Fatalf("shards.json: %v %s", err, raw)
			}
			if len(man.Shards) != len(w.Names) {
				t.Fatalf("shards.json lists %d outputs, want %d: %s", len(man.Shards), len(w.Names), raw)
			}
			dir := filepath.Join(t.TempDir(), "mat")
			mat := []string{"materialize", c.src, dir, "--format", c.format}
			if c.format == "zarr" {
				mat = append(mat, "--compression", "none")
			}
			mustSlice(t, append(mat, c.sel...)...)
			var served []string
			for k, s := range man.Shards {
				if want := w.Names[k] + "." + c.format; s.Name != want || s.Cells != int64(len(w.Rows[k])) {
					t.Errorf("output %d: %s of %d cells, want %s of %d", k, s.Name, s.Cells, want, len(w.Rows[k]))
				}
				var rows []int64
				for _, r := range s.Rows {
					for i := r[0]; i < r[1]; i++ {
						rows = append(rows, i)
					}
				}
				if !slices.Equal(rows, w.Rows[k]) {
					t.Errorf("%s: shards.json rows %v, want %v", s.Name, s.Rows, w.Rows[k])
				}
				if man.ObsColumn != "" && (s.Category == nil || strings.ReplaceAll(*s.Category, "/", "_") == "") {
					t.Errorf("%s: no category in shards.json", s.Name)
				}
				v, f := filepath.Join(m.dir, s.Name), filepath.Join(dir, s.Name)
				served = append(served, v)
				if c.format == "zarr" {
					sameTree(t, v, f)
				} else if !sameBytes(readAll(t, []string{v}), readAll(t, []string{f})) {
					t.Errorf("%s differs from the materialized %s", v, f)
				}
			}
			if c.sel[0] == "--filter" && man.Filter != c.sel[1] || c.sel[0] == "--obs-column" && man.ObsColumn != c.sel[1] {
				t.Errorf("shards.json does not name the selection %v: %s", c.sel, raw)
			}
			if slices.Contains(c.sel, "--always-include") && !slices.Equal(man.Always, []string{"ctrl"}) || c.sel[1] == "group" && !slices.Equal(man.Empty, []string{"empty"}) {
				t.Errorf("shards.json: always_include %q, empty_categories %q", man.Always, man.Empty)
			}
			if ok, out := checkCurrent(c.src, served, "--rows", w.file); !ok {
				t.Fatalf("check_current.py on the mount: %s", out)
			}
		})
	}
}

// Every wrong use of the selection flags: exit code, one-line message
// naming what is wrong, nothing written.
func TestSelectionErrors(t *testing.T) {
	needCurrent(t)
	sel, full := selFixture(t, "sel.h5ad"), fixture("full.h5ad")
	for _, c := range []struct {
		name  string
		args  []string // after the command's two paths
		cmd   string
		src   string
		code  int
		wants []string
	}{
		{"missing column", []string{"--obs-column", "nope"}, "slice", full, 1, []string{full, `obs has no column "nope"`, "cell_type"}},
		{"not categorical", []string{"--obs-column", "i32"}, "slice", full, 1, []string{`obs column "i32" is not categorical`, "int32", "astype(\"category\")"}},
		{"unknown always", []string{"--obs-column", "cell_type", "--always-include", "NK", "ILC"}, "slice", full, 1, []string{`--always-include "ILC" is not a category of obs column "cell_type"`, `"B", "DC"`}},
		{"collision", []string{"--obs-column", "clash"}, "materialize", sel, 1, []string{`categories "a b" and "a_b" of obs column "clash" both make the file name "a_b"`}},
		{"always without column", []string{"--always-include", "NK"}, "slice", full, 2, []string{"--always-include needs --obs-column"}},
		{"column and filter", []string{"--obs-column", "cell_type", "--filter", "flag"}, "materialize", full, 2, []string{"--obs-column and --filter cannot be used together"}},
		{"names with column", []string{"--obs-column", "cell_type", "--names", "/dev/null"}, "slice", full, 2, []string{"--names does not apply with --obs-column"}},
		{"empty column name", []string{"--obs-column="}, "slice", full, 2, []string{"--obs-column needs a column name"}},
		{"always without value", []string{"--obs-column", "cell_type", "--always-include"}, "slice", full, 2, []string{"always-include"}},
		{"filter: no column", nil, "filter", full, 2, []string{"filter needs --obs-column"}},
		{"filter: missing column", []string{"--obs-column", "nope"}, "filter", full, 1, []string{`obs has no column "nope"`}},
		{"filter: bad strings", []string{"--obs-column", "keep_bad"}, "filter", sel, 1, []string{`obs column "keep_bad"`, `not true or false: "maybe", "yes"`, "true/false/1/0"}},
		{"filter: missing values", []string{"--obs-column", "keep_na"}, "filter", sel, 1, []string{`obs column "keep_na"`, "1 cell has no value"}},
		{"filter: categorical with missing", []string{"--obs-column", "cat_na"}, "filter", full, 1, []string{`"x", "y", "z"`, "have no value"}},
		{"filter: nullable string with missing", []string{"--obs-column", "label"}, "filter", fixture("nullable_string.h5ad"), 1, []string{`obs column "label"`, "cells have no value", `"lbl`}},
		{"filter: nullable integer with missing", []string{"--obs-column", "n_int"}, "filter", full, 1, []string{`obs column "n_int"`, "cells have no value"}},
		{"filter: bad compression", []string{"--obs-column", "flag", "--compression", "zstd"}, "filter", full, 2, []string{"--compression \"zstd\" is not supported for h5ad"}},
		{"mount: filter bad strings", []string{"--filter", "keep_bad"}, "mount", sel, 1, []string{`not true or false`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			switch c.cmd {
			case "filter":
				out += ".h5ad"
			case "mount":
				needFUSE(t)
				if err := os.Mkdir(out, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			r := annslicer(t, append([]string{c.cmd, c.src, out}, c.args...)...)
			if c.cmd == "mount" {
				os.Remove(out)
			}
			wantCleanFailure(t, r, c.code, c.wants, dir)
		})
	}
}

// --always-include takes several values after one flag, as argparse's
// nargs="+", and repeats; the values end at the next flag or "--".
func TestSpreadNargs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"slice a b --always-include X Y --size 3", "slice a b --always-include=X --always-include=Y --size 3"},
		{"slice a b --always-include X --always-include Y", "slice a b --always-include=X --always-include=Y"},
		{"slice --always-include X -1 -.5 -y", "slice --always-include=X --always-include=-1 --always-include=-.5 -y"},
		{"slice a b --always-include", "slice a b --always-include"},
		{"slice a --always-include X -- b", "slice a --always-include=X -- b"},
		{"slice a --always-include=X Y", "slice a --always-include=X Y"},
	} {
		if got := strings.Join(spreadNargs(strings.Fields(c.in), "--always-include"), " "); got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}

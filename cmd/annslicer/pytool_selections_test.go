package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The differential test of selections against the Python tool 0.3.0:
// `slice --obs-column [--always-include]` and `filter`, same inputs and
// arguments, outputs compared by testdata/pytool_diff.py; the differences
// must be selectionDifferences[case] exactly, and where the tool fails and
// we do not, selectionPytoolFailures[case].

var selectionDifferences = map[string][]string{
	"slice --obs-column cell_type --always-include NK (full.h5ad)": dropsGraphsAndRaw,
	// names: ours keep [A-Za-z0-9_.-] only ("é" -> "_"), its \w keeps
	// every Unicode letter ("é"): asserted by name below
	"slice --obs-column group --always-include ctrl Zeta (sel.h5ad)": nil,
	"slice --obs-column nums (sel.zarr)":                             nil,
	"filter --obs-column flag (full.h5ad)":                           dropsGraphsAndRaw,
	"filter --obs-column keep_c (sel.h5ad)":                          nil,
	"filter --obs-column keep_f (sel.zarr)":                          nil,
	// no cell kept: it writes X as float64; we keep the source's dtype
	"filter --obs-column keep_none (sel.h5ad)": {"differs: X: dtype float32, expected float64"},
}

var selectionPytoolFailures = map[string]string{
	// it compares the argument (a string) with the categories (ints); we
	// compare with the categories as Python prints them
	"slice --obs-column nums --always-include 10 (sel.zarr)": "always_include contains value(s) not found in category list: ['10']",
	// a numeric categorical filter column: it reads only string categories;
	// we read numbers as numbers (non-zero kept)
	"filter --obs-column nums (sel.h5ad)": "AttributeError: Can only use .str accessor with string values",
}

func TestSelectionsAsThePythonTool(t *testing.T) {
	t.Parallel()
	bin := needPytool(t)
	srcs := map[string]string{"full.h5ad": fixture("full.h5ad"), "sel.h5ad": selFixture(t, "sel.h5ad"), "sel.zarr": selFixture(t, "sel.zarr")}
	type sliceCase struct {
		src   string
		args  []string
		names []string // ours; the tool's are the same unless theirs says
		their []string
	}
	for _, c := range []sliceCase{
		{"full.h5ad", []string{"--obs-column", "cell_type", "--always-include", "NK"}, []string{"B", "T"}, nil},
		{"sel.h5ad", []string{"--obs-column", "group", "--always-include", "ctrl", "Zeta"}, []string{"a_b", "x_y", "_"}, []string{"a_b", "x_y", "é"}},
		{"sel.zarr", []string{"--obs-column", "nums"}, []string{"1", "2", "10"}, nil},
	} {
		name := "slice " + strings.Join(c.args, " ") + " (" + c.src + ")"
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ours, theirs := filepath.Join(dir, "ours"), filepath.Join(dir, "theirs")
			mustSlice(t, append([]string{"slice", srcs[c.src], ours}, c.args...)...)
			if ok, out := runPytool(t, bin, append([]string{"slice", srcs[c.src], theirs}, c.args...)...); !ok {
				t.Fatalf("the Python tool failed:\n%s", out)
			}
			their := c.their
			if their == nil {
				their = c.names
			}
			var o, th []string
			for k := range c.names {
				o = append(o, ours+"_"+c.names[k]+".h5ad")
				th = append(th, theirs+"_"+their[k]+".h5ad")
			}
			for _, set := range [][]string{o, th} {
				got, _ := filepath.Glob(filepath.Join(dir, filepath.Base(strings.SplitN(filepath.Base(set[0]), "_", 2)[0])+"_*.h5ad"))
				if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(set))) {
					t.Fatalf("outputs %q, want %q", got, set)
				}
			}
			got := differences(t, o, th)
			want := slices.Sorted(slices.Values(selectionDifferences[name]))
			if _, ok := selectionDifferences[name]; !ok || !slices.Equal(got, want) {
				t.Errorf("differences from the Python tool\n got: %q\nwant: %q", got, want)
			}
		})
	}
	for _, c := range []struct{ src, column string }{{"full.h5ad", "flag"}, {"sel.h5ad", "keep_c"}, {"sel.zarr", "keep_f"}, {"sel.h5ad", "keep_none"}} {
		name := "filter --obs-column " + c.column + " (" + c.src + ")"
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ours, theirs := filepath.Join(dir, "ours.h5ad"), filepath.Join(dir, "theirs.h5ad")
			mustSlice(t, "filter", srcs[c.src], ours, "--obs-column", c.column)
			if ok, out := runPytool(t, bin, "filter", srcs[c.src], theirs, "--obs-column", c.column); !ok {
				t.Fatalf("the Python tool failed:\n%s", out)
			}
			got := differences(t, []string{ours}, []string{theirs})
			want := slices.Sorted(slices.Values(selectionDifferences[name]))
			if _, ok := selectionDifferences[name]; !ok || !slices.Equal(got, want) {
				t.Errorf("differences from the Python tool\n got: %q\nwant: %q", got, want)
			}
		})
	}
	for name, args := range map[string][]string{
		"slice --obs-column nums --always-include 10 (sel.zarr)": {"slice", srcs["sel.zarr"], "P", "--obs-column", "nums", "--always-include", "10"},
		"filter --obs-column nums (sel.h5ad)":                    {"filter", srcs["sel.h5ad"], "P.h5ad", "--obs-column", "nums"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			a := slices.Clone(args)
			a[2] = filepath.Join(dir, "ours"+strings.TrimPrefix(a[2], "P"))
			mustSlice(t, a...)
			a[2] = filepath.Join(dir, "theirs"+strings.TrimPrefix(args[2], "P"))
			ok, out := runPytool(t, bin, a...)
			if want := selectionPytoolFailures[name]; ok || !strings.Contains(out, want) {
				t.Errorf("the Python tool should still fail with %q (else compare its output and update the tables): ok=%v\n%s", want, ok, out)
			}
		})
	}
	// filter to OUTPUT.zarr: it writes an HDF5 file under that name, we a
	// zarr store
	t.Run("filter to .zarr", func(t *testing.T) {
		dir := t.TempDir()
		ours, theirs := filepath.Join(dir, "ours.zarr"), filepath.Join(dir, "theirs.zarr")
		mustSlice(t, "filter", srcs["sel.h5ad"], ours, "--obs-column", "keep_s")
		if ok, out := runPytool(t, bin, "filter", srcs["sel.h5ad"], theirs, "--obs-column", "keep_s"); !ok {
			t.Fatalf("the Python tool failed:\n%s", out)
		}
		b, err := os.ReadFile(theirs)
		if err != nil || !strings.HasPrefix(string(b), "\x89HDF\r\n\x1a\n") {
			t.Errorf("the Python tool should still write HDF5 to theirs.zarr (else update this case): %v", err)
		}
		if st, err := os.Stat(ours); err != nil || !st.IsDir() {
			t.Errorf("ours.zarr should be a zarr store (a directory): %v", err)
		}
	})
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Outputs chosen from obs: slice/materialize/mount --obs-column (one
// output per category, --always-include), filter and --filter. The rows
// each output must hold come from testdata/selection_rows.py (pandas, the
// Python tool's rules), and every output is checked against source[rows]
// by the checkers with --rows, under both oracles where they read it.

var (
	selOnce sync.Once
	selDir  string
	selErr  error
)

// selScript writes sel.h5ad and sel.zarr (current anndata, zarr v2 so
// that anndata 0.8 reads it too): plain.h5ad's cells with columns made for
// selections.
const selScript = `import sys, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, anndata as ad
a = ad.read_h5ad(sys.argv[1])
n = a.n_obs
rng = np.random.default_rng(7)
g = rng.choice(["ctrl", "a b", "x/y", "Zeta", "é"], n)
a.obs["group"] = pd.Categorical(g, categories=["Zeta", "a b", "ctrl", "empty", "x/y", "é"])
a.obs["clash"] = pd.Categorical(rng.choice(["a b", "a_b"], n))
a.obs["nums"] = pd.Categorical(rng.choice([1, 2, 10], n))
a.obs["keep_s"] = np.array(rng.choice(["True", "FALSE", "1", "0", "false"], n), dtype=object)
a.obs["keep_c"] = pd.Categorical(rng.choice(["false", "TRUE"], n))
a.obs["keep_bad"] = np.array(rng.choice(["true", "yes", "maybe"], n), dtype=object)
f = rng.normal(size=n); f[::5] = 0.0; f[1::7] = -0.0; f[2::9] = np.nan
a.obs["keep_f"] = f
a.obs["keep_none"] = np.zeros(n, dtype=bool)
na = pd.array(rng.random(n) < 0.5, dtype="boolean"); na[3] = pd.NA
a.obs["keep_na"] = na
a.write_h5ad(sys.argv[2] + "/sel.h5ad", convert_strings_to_categoricals=False)
with ad.settings.override(zarr_write_format=2):
    a.write_zarr(sys.argv[2] + "/sel.zarr", convert_strings_to_categoricals=False)
`

// selFixture is sel.h5ad or sel.zarr.
func selFixture(t *testing.T, name string) string {
	t.Helper()
	plain := currentFixture(t, "plain.h5ad")
	selOnce.Do(func() {
		selDir = filepath.Join(filepath.Dir(fixtures), "sel")
		if selErr = os.MkdirAll(selDir, 0o755); selErr != nil {
			return
		}
		if out, err := exec.Command(currentPython, "-c", selScript, plain, selDir).CombinedOutput(); err != nil {
			selErr = fmt.Errorf("writing sel.h5ad: %v\n%s", err, out)
		}
	})
	if selErr != nil {
		t.Fatal(selErr)
	}
	return filepath.Join(selDir, name)
}

type wantSel struct {
	Names []string  `json:"names"`
	Rows  [][]int64 `json:"rows"`
	Empty []string  `json:"empty"`
	file  string
}

// wantRows asks selection_rows.py what the outputs of a selection hold.
func wantRows(t *testing.T, src string, args ...string) wantSel {
	t.Helper()
	file := filepath.Join(t.TempDir(), "rows.json")
	cmd := append([]string{filepath.Join(repoRoot, "testdata", "selection_rows.py"), src, "--out", file}, args...)
	if out, err := exec.Command(currentPython, cmd...).CombinedOutput(); err != nil {
		t.Fatalf("selection_rows.py %v: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var w wantSel
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	w.file = file
	return w
}

// checkSelection checks outputs (all .h5ad or all .zarr) against
// source[rows]: the byte-level checker under both oracles (the current
// one only for a source anndata 0.8 cannot read), and check_current.py.
func checkSelection(t *testing.T, src string, outputs []string, w wantSel, oldOracle bool) {
	t.Helper()
	script := "check_shards.py"
	if strings.HasSuffix(outputs[0], ".zarr") {
		script = "check_zarr_shards.py"
	}
	byteLevel := script == "check_zarr_shards.py" || !isZarr(src) // check_shards.py reads h5ad sources
	if byteLevel {
		if oldOracle {
			runOracle(t, script, src, outputs, "--rows", w.file)
		} else {
			runOracleWith(t, currentPython, script, src, outputs, "--rows", w.file)
		}
	}
	if ok, out := checkCurrent(src, outputs, "--rows", w.file); !ok {
		t.Fatalf("check_current.py: %s", out)
	}
}

// outputsNamed are dir/prefix+name+ext for the oracle's names, which must
// be every output there is.
func outputsNamed(t *testing.T, prefix string, names []string, ext string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		out = append(out, prefix+n+ext)
	}
	got, _ := filepath.Glob(prefix + "*" + ext)
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(out))) {
		t.Fatalf("outputs %q, want %q", got, out)
	}
	return out
}

func TestSliceByObsColumn(t *testing.T) {
	t.Parallel()
	needCurrent(t)
	type sliceCase struct {
		name   string
		src    func(t *testing.T) string
		sel    []string // selection_rows.py arguments
		args   []string // ours beyond them
		format string
		old    bool // anndata 0.8 reads the source too
	}
	full := func(t *testing.T) string { return fixture("full.h5ad") }
	fullZarr := func(t *testing.T) string { return zarrFixture(t, "full.h5ad") }
	sel := func(name string) func(t *testing.T) string {
		return func(t *testing.T) string { return selFixture(t, name) }
	}
	cases := []sliceCase{
		{"h5ad to h5ad, always NK", full, []string{"--obs-column", "cell_type", "--always-include", "NK"}, nil, "h5ad", true},
		{"zarr to zarr, missing codes", fullZarr, []string{"--obs-column", "cat_na"}, []string{"--format", "zarr"}, "zarr", true},
		{"h5ad to zarr, ordered", full, []string{"--obs-column", "level"}, []string{"--format", "zarr", "--compression", "zstd"}, "zarr", true},
		// two values after one flag (argparse's nargs="+"); names sanitised
		{"names and two always", sel("sel.h5ad"), []string{"--obs-column", "group", "--always-include", "ctrl", "Zeta"}, nil, "h5ad", false},
		// the 0.7 layout: codes beside obs/__categories/cell_type
		{"v07 legacy categorical", func(t *testing.T) string { return fixture("v07.h5ad") }, []string{"--obs-column", "cell_type", "--always-include", "T"}, nil, "h5ad", true},
		{"zarr numeric categories", sel("sel.zarr"), []string{"--obs-column", "nums"}, []string{"--format", "zarr"}, "zarr", false},
		{"plan flags ignored", sel("sel.zarr"), []string{"--obs-column", "group"}, []string{"--size", "7", "--shuffle", "--seed", "3"}, "h5ad", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := c.src(t)
			w := wantRows(t, src, c.sel...)
			prefix := filepath.Join(t.TempDir(), "out")
			r := annslicer(t, append(append([]string{"slice", src, prefix}, c.sel...), c.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			for _, e := range w.Empty {
				if !strings.Contains(r.stderr, "warning: category \""+e+"\"") {
					t.Errorf("no warning for the empty category %q: %s", e, r.stderr)
				}
			}
			if slices.Contains(c.args, "--size") && !strings.Contains(r.stderr, "warning: --size, --shuffle, --seed do not apply with --obs-column") {
				t.Errorf("no warning that the plan flags are ignored: %s", r.stderr)
			}
			outs := outputsNamed(t, prefix+"_", w.Names, "."+c.format)
			checkSelection(t, src, outs, w, c.old)

			// materialize: the same outputs as OUTDIR/{category}
			dir := filepath.Join(t.TempDir(), "mat")
			mustSlice(t, append(append([]string{"materialize", src, dir}, c.sel...), c.args...)...)
			mat := outputsNamed(t, dir+"/", w.Names, "."+c.format)
			if c.format == "h5ad" && !slices.Contains(c.args, "--compression") && !sameBytes(readAll(t, outs), readAll(t, mat)) {
				t.Error("materialize wrote other bytes than slice")
			}
		})
	}
	t.Run("names", func(t *testing.T) {
		w := wantRows(t, selFixture(t, "sel.h5ad"), "--obs-column", "group", "--always-include", "ctrl")
		if want := []string{"Zeta", "a_b", "x_y", "_"}; !slices.Equal(w.Names, want) {
			t.Fatalf("oracle names %q, want %q", w.Names, want)
		}
	})
}

func TestFilter(t *testing.T) {
	t.Parallel()
	needCurrent(t)
	type filterCase struct {
		name, src, column, out string
		args                   []string
		old                    bool
	}
	cases := []filterCase{
		{"bool h5ad", fixture("full.h5ad"), "flag", "f.h5ad", nil, true},
		{"int zarr to zarr", zarrFixture(t, "full.h5ad"), "i32", "f.zarr", nil, true},
		{"strings", selFixture(t, "sel.h5ad"), "keep_s", "f.h5ad", []string{"--compression", "gzip"}, false},
		{"categorical strings, zarr", selFixture(t, "sel.zarr"), "keep_c", "f.zarr", []string{"--compression", "none"}, false},
		{"floats with NaN and -0.0", selFixture(t, "sel.h5ad"), "keep_f", "f.zarr", nil, false},
		{"no cell kept", selFixture(t, "sel.h5ad"), "keep_none", "f.h5ad", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := wantRows(t, c.src, "--filter", c.column)
			out := filepath.Join(t.TempDir(), c.out)
			mustSlice(t, append([]string{"filter", c.src, out, "--obs-column", c.column}, c.args...)...)
			checkSelection(t, c.src, []string{out}, w, c.old)
			if len(w.Rows[0]) == 0 {
				script := "import sys, anndata; a = anndata.read_h5ad(sys.argv[1]); assert a.shape == (0, 40), a.shape"
				for _, py := range []string{python, currentPython} {
					if b, err := exec.Command(py, "-c", script, out).CombinedOutput(); err != nil {
						t.Fatalf("%s: %v\n%s", py, err, b)
					}
				}
			}
			// materialize --filter: OUTDIR/filtered, the same bytes
			if len(c.args) == 0 {
				dir := filepath.Join(t.TempDir(), "mat")
				format := strings.TrimPrefix(filepath.Ext(c.out), ".")
				mustSlice(t, "materialize", c.src, dir, "--filter", c.column, "--format", format)
				mat := filepath.Join(dir, "filtered."+format)
				if format == "h5ad" && !sameBytes(readAll(t, []string{out}), readAll(t, []string{mat})) {
					t.Error("materialize --filter wrote other bytes than filter")
				}
				if format == "zarr" {
					checkSelection(t, c.src, []string{mat}, w, c.old)
				}
			}
		})
	}
}

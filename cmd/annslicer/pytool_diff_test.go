package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The differential test against the tool we replace: the Python annslicer
// 0.3.0 from PyPI, in a venv of its own (.venv-pytool, made by
// scripts/setup.sh from testdata/requirements-pytool.txt). Same inputs,
// same CLI arguments (contiguous slices; merges with both joins and a
// glob); testdata/pytool_diff.py lists every difference between the two
// outputs (read with current anndata, exactly), and the list must be
// intentionalDifferences[case], no more and no less.

// dropsGraphsAndRaw: the Python tool writes X, layers, obs, var, obsm and
// uns only; we keep obsp (the induced sub-graph), varm, varp and raw.
var dropsGraphsAndRaw = []string{
	"only ours: obsp['connectivities']",
	"only ours: obsp['distances']",
	"only ours: raw.X",
	"only ours: raw.var",
	"only ours: raw.varm['loadings']",
	"only ours: varm['PCs']",
	"only ours: varp['corr']",
}

// intentionalDifferences per case: the lines of pytool_diff.py, sorted.
// "ours" is first in a "differs" line, the Python tool's output "expected".
var intentionalDifferences = map[string][]string{
	"slice full.h5ad":            dropsGraphsAndRaw,
	"slice compressed_gzip.h5ad": dropsGraphsAndRaw,
	"slice dense.h5ad":           nil,
	"slice int64idx.h5ad":        nil,
	// it rewrites the 0.7 layout's numpy scalars in uns as Python ints and
	// drops what it does not know
	"slice v07.h5ad": {
		"differs: uns['n_int']: type int64, expected int",
		"differs: uns['neighbors']['params']['k']: type int64, expected int",
		"only ours: obsp['distances']",
		"only ours: raw.X",
		"only ours: raw.var",
		"only ours: varm['PCs']",
	},
	// it turns a nullable string column into object strings
	"slice nullable_string.h5ad": {"differs: obs['label']: dtype string, expected object"},
	"slice plain.h5ad":           nil,
	// var names differ: like anndata.concat we keep only var's index; it
	// keeps the first input's columns. outer: it orders the genes otherwise
	"merge outer": {"differs: var: columns [], expected ['mean']", "order differs: var_names (the same names)"},
	"merge inner": {"differs: var: columns [], expected ['mean']"},
	// 'shards_*.h5ad' of 12 shards: we expand a glob in natural order
	// (shard_2 before shard_10: the source order), it lexicographically
	"merge glob": {"order differs: obs_names (the same names)"},
	// inputs whose obs differ (testdata/merge_obs.py): where a bool or a
	// string column is missing, it writes strings ("True", "False", "");
	// we write what anndata.concat gives, as anndata writes it (a nullable
	// boolean; a categorical with missing values). Categories, floats,
	// integers (float64 NaN), nullable integers, numeric dtypes united
	// (numpy's common type) and columns categorical in some inputs and
	// strings in others agree.
	"merge obs outer": {
		"differs: obs['b_some']: dtype boolean, expected object",
		"differs: obs['late_b']: dtype boolean, expected object",
		"differs: obs['late_s']: dtype category, expected object",
		"differs: obs['s_some']: dtype category, expected object",
	},
	// it unites obs columns whatever --join says (--join is for genes);
	// like anndata.concat we keep only the columns of every input
	"merge obs inner": {
		"differs: obs: columns ['cat_all', 'ord_same', 'ord_diff', 'num_cat', 'cat_na', 'w_int', 'w_mix', 'mix_s'], expected ['cat_all', 'cat_some', 'f_some', 'i_some', 'b_some', 's_some', 'ord_same', 'ord_diff', 'num_cat', 'n_int', 'cat_na', 'cat_wide', 'w_int', 'w_mix', 'w_f', 'w_u', 'mix_s', 'mix_c', 'late_f', 'late_cat', 'late_i', 'late_b', 'late_s']",
	},
}

// pytoolFailures: cases where the Python tool itself fails (and we do
// not), with its message; asserted like intentionalDifferences.
var pytoolFailures = map[string]string{
	// an obsm data frame (a group) has no .shape in its merge
	"merge shards of full.h5ad": "AttributeError: 'Group' object has no attribute 'shape'",
}

func needPytool(t *testing.T) string {
	t.Helper()
	needCurrent(t)
	bin := filepath.Join(repoRoot, ".venv-pytool", "bin", "annslicer")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("ANNSLICER_REQUIRE_PYTHON") == "1" {
			t.Fatalf("ANNSLICER_REQUIRE_PYTHON=1 but the Python tool is missing (run make setup): %v", err)
		}
		t.Skipf("the Python tool is missing (run make setup): %v", err)
	}
	return bin
}

// runPytool runs the Python tool; ok and its output.
func runPytool(t *testing.T, bin string, args ...string) (bool, string) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	return err == nil, string(out)
}

// differences runs pytool_diff.py on our and its outputs.
func differences(t *testing.T, ours, theirs []string) []string {
	t.Helper()
	args := []string{filepath.Join(repoRoot, "testdata", "pytool_diff.py"), "--ours"}
	args = append(append(append(args, ours...), "--theirs"), theirs...)
	out, err := exec.Command(currentPython, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("pytool_diff.py: %v\n%s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func wantDifferences(t *testing.T, name string, got []string) {
	t.Helper()
	want, ok := intentionalDifferences[name]
	if !ok {
		t.Fatalf("no intentionalDifferences row for %q", name)
	}
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s: differences from the Python tool\n got: %q\nwant: %q", name, got, want)
	}
}

func TestSameOutputsAsThePythonTool(t *testing.T) {
	t.Parallel() // the slow ecosystem tests overlap one another (2 cores)
	bin := needPytool(t)
	type sliceCase struct {
		name, src string
		size      string
	}
	cases := []sliceCase{
		{"full.h5ad", fixture("full.h5ad"), "200"},
		{"compressed_gzip.h5ad", fixture("compressed_gzip.h5ad"), "100"},
		{"dense.h5ad", fixture("dense.h5ad"), "30"},
		{"int64idx.h5ad", fixture("int64idx.h5ad"), "64"},
		{"v07.h5ad", fixture("v07.h5ad"), "50"},
		{"nullable_string.h5ad", fixture("nullable_string.h5ad"), "20"},
		{"plain.h5ad", currentFixture(t, "plain.h5ad"), "25"},
	}
	for _, c := range cases {
		t.Run("slice "+c.name, func(t *testing.T) {
			dir := t.TempDir()
			ours, theirs := filepath.Join(dir, "ours"), filepath.Join(dir, "theirs")
			mustSlice(t, "slice", c.src, ours, "--size", c.size)
			if ok, out := runPytool(t, bin, "slice", c.src, theirs, "--size", c.size); !ok {
				t.Fatalf("the Python tool failed:\n%s", out)
			}
			wantDifferences(t, "slice "+c.name, differences(t, shardFiles(t, ours), shardFiles(t, theirs)))
		})
	}

	// merges: parts of plain.h5ad with other genes (both joins)
	dir := t.TempDir()
	parts := []string{filepath.Join(dir, "m0.h5ad"), filepath.Join(dir, "m1.h5ad"), filepath.Join(dir, "m2.h5ad")}
	script := `import sys, warnings
warnings.filterwarnings("ignore")
import anndata as ad
a = ad.read_h5ad(sys.argv[1])
a[:30, :30].copy().write_h5ad(sys.argv[2])
a[30:60, 5:40].copy().write_h5ad(sys.argv[3])
a[60:, [3, 1, 2, 0] + list(range(10, 20))].copy().write_h5ad(sys.argv[4])
`
	if out, err := exec.Command(currentPython, append([]string{"-c", script, currentFixture(t, "plain.h5ad")}, parts...)...).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, join := range []string{"outer", "inner"} {
		t.Run("merge "+join, func(t *testing.T) {
			d := t.TempDir()
			ours, theirs := filepath.Join(d, "ours.h5ad"), filepath.Join(d, "theirs.h5ad")
			mustSlice(t, append([]string{"merge", ours, "--join", join}, parts...)...)
			if ok, out := runPytool(t, bin, append([]string{"merge", theirs, "--join", join}, parts...)...); !ok {
				t.Fatalf("the Python tool failed:\n%s", out)
			}
			wantDifferences(t, "merge "+join, differences(t, []string{ours}, []string{theirs}))
		})
	}
	// merges of inputs whose obs columns differ (both joins); with the
	// outer join every column is compared, with the inner one those we keep
	obsDir := t.TempDir()
	obsIn := makeObsInputs(t, obsDir, []string{"h5ad", "h5ad", "h5ad"})
	for _, join := range []string{"outer", "inner"} {
		t.Run("merge obs "+join, func(t *testing.T) {
			d := t.TempDir()
			ours, theirs := filepath.Join(d, "ours.h5ad"), filepath.Join(d, "theirs.h5ad")
			mustSlice(t, append([]string{"merge", ours, "--join", join}, obsIn...)...)
			if ok, out := runPytool(t, bin, append([]string{"merge", theirs, "--join", join}, obsIn...)...); !ok {
				t.Fatalf("the Python tool failed:\n%s", out)
			}
			wantDifferences(t, "merge obs "+join, differences(t, []string{ours}, []string{theirs}))
		})
	}
	t.Run("merge glob", func(t *testing.T) {
		d := t.TempDir()
		mustSlice(t, "slice", currentFixture(t, "plain.h5ad"), filepath.Join(d, "s"), "--size", "8")
		glob := filepath.Join(d, "s_shard_*.h5ad")
		ours, theirs := filepath.Join(d, "ours.h5ad"), filepath.Join(d, "theirs.h5ad")
		mustSlice(t, "merge", ours, glob)
		if ok, out := runPytool(t, bin, "merge", theirs, glob); !ok {
			t.Fatalf("the Python tool failed:\n%s", out)
		}
		wantDifferences(t, "merge glob", differences(t, []string{ours}, []string{theirs}))
	})
	t.Run("merge shards of full.h5ad", func(t *testing.T) {
		d := t.TempDir()
		mustSlice(t, "slice", fixture("full.h5ad"), filepath.Join(d, "s"), "--size", "200")
		shards := shardFiles(t, filepath.Join(d, "s"))
		mustSlice(t, append([]string{"merge", filepath.Join(d, "ours.h5ad")}, shards...)...)
		ok, out := runPytool(t, bin, append([]string{"merge", filepath.Join(d, "theirs.h5ad")}, shards...)...)
		if want := pytoolFailures["merge shards of full.h5ad"]; ok || !strings.Contains(out, want) {
			t.Errorf("the Python tool should still fail with %q (else compare its output and update the tables): ok=%v\n%s", want, ok, out)
		}
	})
}

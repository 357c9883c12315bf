package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Merging inputs whose obs differ (shards users have edited): the result
// must be what anndata.concat(inputs, join=...) gives, as anndata writes
// it, but for the rules (categories in first-appearance order;
// nullable columns stay nullable). testdata/merge_obs.py makes the inputs
// (current anndata: every kind of column in only some inputs, categories
// differing in order and content, ordered categoricals alike and not, a
// union needing wider codes) and compares element by element.

// obsNotes are merge_obs.py's "concat:" lines, the intentional
// differences from anndata.concat, per join (the same for h5ad and zarr
// outputs): concat natsorts united categories (we keep first appearance:
// the first input's, then new ones as they appear, a plain string input's
// values in their order), and anndata writes a
// nullable string column with missing values as a categorical (we keep
// its dtype).
var obsNotes = map[string][]string{
	"outer": {
		"obs[cat_all] categories: ours ['b', 'a', 'c', 'd'], concat ['a', 'b', 'c', 'd']",
		"obs[cat_wide] categories: ours ['w0', 'w1', 'w2', 'w3', ...], concat ['v0', 'v1', 'v2', 'v3', ...]",
		"obs[mix_c] categories: ours ['y', 'x', 'w', 'a'], concat ['a', 'w', 'x', 'y']",
		"obs[mix_s] categories: ours ['q', 'p', 'r', 'z', ...], concat ['a', 'p', 'q', 'r', ...]",
		"obs[ord_diff] categories: ours ['lo', 'hi', 'mid'], concat ['hi', 'lo', 'mid']",
	},
	"inner": {
		"obs[cat_all] categories: ours ['b', 'a', 'c', 'd'], concat ['a', 'b', 'c', 'd']",
		"obs[mix_s] categories: ours ['q', 'p', 'r', 'z', ...], concat ['a', 'p', 'q', 'r', ...]",
		"obs[ord_diff] categories: ours ['lo', 'hi', 'mid'], concat ['hi', 'lo', 'mid']",
	},
}

// obsOnlySome are the columns of merge_obs.py's inputs not in all three.
var obsOnlySome = []string{"b_some", "cat_some", "cat_wide", "f_some", "i_some", "late_b", "late_cat", "late_f", "late_i", "late_s", "n_int", "s_some", "w_f", "w_u", "mix_c"}

// makeObsInputs writes merge_obs.py's three inputs in the given formats.
func makeObsInputs(t *testing.T, dir string, fmts []string, extra ...string) []string {
	t.Helper()
	args := append([]string{filepath.Join(repoRoot, "testdata", "merge_obs.py"), "make", dir, strings.Join(fmts, ",")}, extra...)
	if out, err := exec.Command(currentPython, args...).CombinedOutput(); err != nil {
		t.Fatalf("making the inputs: %v\n%s", err, out)
	}
	var in []string
	for k, f := range fmts {
		in = append(in, filepath.Join(dir, "p"+string(rune('0'+k))+"."+f))
	}
	return in
}

// obsCheck runs merge_obs.py check (extra: its --label, --keys,
// --index-unique); its problems fail the test, its notes are returned
// (sorted).
func obsCheck(t *testing.T, join, merged string, inputs []string, extra ...string) []string {
	t.Helper()
	args := append([]string{filepath.Join(repoRoot, "testdata", "merge_obs.py"), "check", "--join", join, "--merged", merged}, extra...)
	args = append(args, inputs...)
	out, err := exec.Command(currentPython, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("merge_obs.py check: %v\n%s", err, out)
	}
	var notes []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case strings.HasPrefix(l, "concat: "):
			notes = append(notes, strings.TrimPrefix(l, "concat: "))
		case l != "":
			t.Errorf("%s (%s): %s", filepath.Base(merged), join, l)
		}
	}
	slices.Sort(notes)
	return notes
}

func obsDump(t *testing.T, py, merged string) string {
	t.Helper()
	out, err := exec.Command(py, filepath.Join(repoRoot, "testdata", "merge_obs.py"), "dump", merged).CombinedOutput()
	if err != nil {
		t.Fatalf("%s merge_obs.py dump %s: %v\n%s", py, merged, err, out)
	}
	return string(out)
}

func TestMergeUnitesObsColumnsLikeAnndataConcat(t *testing.T) {
	needPython(t)
	needCurrent(t)
	dir := t.TempDir()
	inputs := makeObsInputs(t, dir, []string{"h5ad", "zarr", "h5ad"})
	for _, join := range []string{"outer", "inner"} {
		for _, ext := range []string{".h5ad", ".zarr"} {
			merged := filepath.Join(dir, "merged_"+join+ext)
			r := mustMerge(t, append([]string{"--join", join, merged}, inputs...)...)
			for _, c := range obsOnlySome {
				warned := strings.Contains(r.stderr, "warning: obs/"+c+" is not in every input")
				if warned != (join == "inner") {
					t.Errorf("%s: warned about obs/%s: %v (only --join inner leaves it out)\n%s", merged, c, warned, r.stderr)
				}
			}
			if got, want := obsCheck(t, join, merged, inputs), obsNotes[join]; !slices.Equal(got, want) {
				t.Errorf("%s: differences from anndata.concat\n got: %q\nwant: %q", merged, got, want)
			}
			// Debian's anndata 0.8 reads the h5ad result as current anndata does
			if ext == ".h5ad" {
				if old, cur := obsDump(t, python, merged), obsDump(t, currentPython, merged); old != cur {
					t.Errorf("%s: anndata 0.8 reads obs otherwise\n0.8: %s\ncur: %s", merged, old, cur)
				}
			}
		}
	}
}

// A nullable string column some inputs lack stays a nullable string
// column (mask set where missing), where anndata writes concat's result
// as a categorical. (anndata 0.8 cannot read such columns at all.)
func TestMergeKeepsNullableStringColumnsSomeInputsLack(t *testing.T) {
	needCurrent(t)
	dir := t.TempDir()
	inputs := makeObsInputs(t, dir, []string{"zarr", "h5ad", "zarr"}, "--nullable-string")
	for _, ext := range []string{".h5ad", ".zarr"} {
		merged := filepath.Join(dir, "merged"+ext)
		mustMerge(t, append([]string{merged}, inputs...)...)
		want := slices.Sorted(slices.Values(append(slices.Clone(obsNotes["outer"]), "obs[ns_some]: dtype ours string, concat category")))
		if got := obsCheck(t, "outer", merged, inputs); !slices.Equal(got, want) {
			t.Errorf("%s: differences from anndata.concat\n got: %q\nwant: %q", merged, got, want)
		}
	}
}

// makeBadObsPy writes inputs a merge must refuse, with current anndata.
const makeBadObsPy = `import sys, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, anndata as ad
out = sys.argv[1]
def mk(name, genes, obs):
    n = len(next(iter(obs.values()))) if obs else 3
    a = ad.AnnData(X=np.ones((n, len(genes)), dtype=np.float32),
                   obs=pd.DataFrame(obs, index=[f"{name}{i}" for i in range(n)]),
                   var=pd.DataFrame(index=genes))
    a.write_h5ad(f"{out}/{name}.h5ad")
mk("dup", ["g0", "g1", "g0"], {})          # a gene twice
mk("other", ["g0", "g2"], {})
mk("plain", ["g0", "g1"], {"n": [1, 2, 3]})
mk("cat", ["g0", "g1"], {"k": pd.Categorical(["a", "b", "a"])})
mk("int", ["g0", "g1"], {"k": np.array([1, 2, 3])})
mk("bool", ["g0", "g1"], {"k": np.array([True, False, True])})
mk("cplx", ["g0", "g1"], {"z": np.array([1j, 2, 3])})
`

func TestMergeRefusesObsItCannotUnite(t *testing.T) {
	needCurrent(t)
	dir := t.TempDir()
	if out, err := exec.Command(currentPython, "-c", makeBadObsPy, dir).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	in := func(n string) string { return filepath.Join(dir, n+".h5ad") }
	for _, c := range []struct {
		name  string
		args  []string
		inMsg []string
	}{
		// genes with duplicate names in differing vars: the input and a gene
		{"duplicate gene, later input", []string{in("other"), in("dup")}, []string{in("dup") + ": var:", `"g0" appears more than once`}},
		{"duplicate gene, first input", []string{in("dup"), in("other")}, []string{in("dup") + ": var:", `"g0" appears more than once`}},
		{"duplicate gene, inner", []string{"--join", "inner", in("other"), in("dup")}, []string{in("dup") + ": var:", `"g0"`}},
		// a column of another kind: categorical where the input that
		// brought it (not the first) has an integer column
		{"kinds differ", []string{in("plain"), in("int"), in("cat")}, []string{in("cat") + ": obs/k is of encoding categorical but a dense array in " + in("int")}},
		{"kinds differ, inner", []string{"--join", "inner", in("int"), in("cat")}, []string{in("cat") + ": obs/k is of encoding categorical but a dense array in " + in("int")}},
		// booleans and numbers: pandas makes objects of them, which
		// anndata cannot write
		{"bool and int", []string{in("int"), in("bool")}, []string{in("bool") + ": obs/k has a different dtype than in " + in("int")}},
		// a column some inputs lack, with no missing value to fill them with
		{"unfillable", []string{in("cplx"), in("plain")}, []string{in("cplx") + ": obs/z is not in every input (not in " + in("plain") + ")", "--join inner"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "merged.h5ad")
			r := annslicer(t, append([]string{"merge", out}, c.args...)...)
			msg := strings.TrimSpace(r.stderr)
			if r.code != 1 || strings.Contains(msg, "\n") {
				t.Fatalf("want exit 1 and one line, got %d: %q", r.code, msg)
			}
			for _, s := range c.inMsg {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q lacks %q", msg, s)
				}
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
				t.Errorf("left behind: %v", entries)
			}
		})
	}
	// identical vars may repeat a gene (nothing to join); inner leaves
	// out the unfillable column
	dir2 := t.TempDir()
	mustMerge(t, filepath.Join(dir2, "same.h5ad"), in("dup"), in("dup"))
	if r := mustMerge(t, "--join", "inner", filepath.Join(dir2, "inner.h5ad"), in("cplx"), in("plain")); !strings.Contains(r.stderr, "warning: obs/z is not in every input") {
		t.Errorf("no warning about obs/z: %q", r.stderr)
	}
}

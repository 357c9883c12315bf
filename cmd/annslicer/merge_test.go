package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/annslicer/annslicer/engine"
)

// Merge tests run the binary on shards made by slice (merging them back
// must give the source, or the source reordered by the shards' obs names
// for shuffled shards) and on inputs with different gene sets made with
// Python anndata (the result must equal anndata.concat of the inputs).
// The Python oracle (checkMergePy below) runs once per test for every
// case, to keep the suite fast.

// mergeChecks collects oracle jobs and runs them in one Python process.
type mergeChecks struct {
	dir  string
	jobs []string
}

func (c *mergeChecks) add(name string, args ...string) {
	c.jobs = append(c.jobs, strings.Join(append([]string{name}, args...), "\t"))
}

func (c *mergeChecks) run(t *testing.T) {
	t.Helper()
	c.runOracle(t, "check_merge.py", checkMergePy)
}

// runOracle runs a merge oracle script over every queued job.
func (c *mergeChecks) runOracle(t *testing.T, name, code string) {
	t.Helper()
	if len(c.jobs) == 0 {
		t.Fatal("no merge checks ran")
	}
	script := filepath.Join(c.dir, name)
	jobs := filepath.Join(c.dir, name+".jobs.tsv")
	if err := os.WriteFile(script, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jobs, []byte(strings.Join(c.jobs, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, script, filepath.Join(repoRoot, "testdata"), jobs).CombinedOutput()
	if err != nil {
		t.Fatalf("merge oracle: %v\n%s", err, out)
	}
}

func mustMerge(t *testing.T, args ...string) result {
	t.Helper()
	r := annslicer(t, append([]string{"merge"}, args...)...)
	if r.code != 0 {
		t.Fatalf("annslicer merge %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

func TestMergeOfSlicedShardsRestoresTheSource(t *testing.T) {
	needPython(t)
	checks := &mergeChecks{dir: t.TempDir()}
	cases := []struct {
		fixture string
		args    []string
		shards  int
	}{
		{"full.h5ad", []string{"--size", "100"}, 6},
		{"full.h5ad", []string{"--size", "40"}, 13}, // a glob of >= 11 shards keeps numeric order
		{"full.h5ad", []string{"--size", "100", "--shuffle", "--seed", "7"}, 6},
		{"full.h5ad", []string{"--size", "1000"}, 1},
		{"v07.h5ad", []string{"--size", "50", "--shuffle", "--seed", "2"}, 3},
		{"int64idx.h5ad", []string{"--size", "64", "--shuffle", "--seed", "3"}, 4},
		{"dense.h5ad", []string{"--size", "30"}, 4},
		{"compressed_lzf.h5ad", []string{"--size", "100"}, 3},
	}
	for _, c := range cases {
		name := strings.TrimSuffix(c.fixture, ".h5ad") + strings.ReplaceAll(strings.Join(c.args, ""), "--", "_")
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(checks.dir, name) // kept until the oracle has run
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			prefix := filepath.Join(dir, "s")
			mustSlice(t, append([]string{"slice", fixture(c.fixture), prefix}, c.args...)...)
			shards := shardFiles(t, prefix)
			if len(shards) != c.shards {
				t.Fatalf("got %d shards, want %d", len(shards), c.shards)
			}
			merged := filepath.Join(dir, "merged.h5ad")
			r := mustMerge(t, merged, prefix+"_shard_*.h5ad")
			if r.stderr != "" {
				t.Errorf("merging shards of one source should warn about nothing, got %q", r.stderr)
			}
			job := []string{"roundtrip", "--source", fixture(c.fixture), "--merged", merged}
			if !slices.Contains(c.args, "--shuffle") {
				job = append(job, "--contiguous")
			}
			checks.add(name, append(job, shards...)...)
		})
	}
	checks.run(t)
}

// anndata 0.8 cannot read nullable-string-array columns: check at the
// h5py level, the merged file being the one "shard" of its source.
func TestMergeKeepsNullableStringColumns(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "s")
	mustSlice(t, "slice", fixture("nullable_string.h5ad"), prefix, "--size", "20")
	merged := filepath.Join(dir, "merged.h5ad")
	mustMerge(t, merged, prefix+"_shard_*.h5ad")
	checkShards(t, fixture("nullable_string.h5ad"), []string{merged}, "--order", "contiguous")
}

var (
	joinOnce sync.Once
	joinDir  string
	joinErr  error
)

// mergeInputs writes (once) the inputs made by makeJoinPy with anndata.
func mergeInputs(t *testing.T) func(names ...string) []string {
	t.Helper()
	joinOnce.Do(func() {
		joinDir = filepath.Join(filepath.Dir(fixtures), "merge_inputs")
		if joinErr = os.MkdirAll(joinDir, 0o755); joinErr != nil {
			return
		}
		script := filepath.Join(joinDir, "make_join.py")
		if joinErr = os.WriteFile(script, []byte(makeJoinPy), 0o644); joinErr != nil {
			return
		}
		if out, err := exec.Command(python, script, fixture("full.h5ad"), joinDir, fixture("dense.h5ad")).CombinedOutput(); err != nil {
			joinErr = fmt.Errorf("making merge inputs: %v\n%s", err, out)
		}
	})
	if joinErr != nil {
		t.Fatal(joinErr)
	}
	return func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, filepath.Join(joinDir, n))
		}
		return out
	}
}

func TestMergeJoinsMatchAnndataConcat(t *testing.T) {
	needPython(t)
	in := mergeInputs(t)
	dir := t.TempDir()
	checks := &mergeChecks{dir: dir}
	for _, join := range []string{"outer", "inner"} {
		for _, set := range []struct {
			name   string
			inputs []string
			warns  []string
		}{
			// j2 reorders genes (its rows are re-sorted); only j0 has
			// layers/extra and obs/only_here, j2 lacks obsm/X_umap; the
			// categories of obs/cell_type differ across the three
			{"sparse", in("j0.h5ad", "j1.h5ad", "j2.h5ad"), []string{"layers/extra", "obs/only_here", "obsm/X_umap", "varm", "varp"}},
			{"dense", in("d0.h5ad", "d1.h5ad"), nil},
		} {
			merged := filepath.Join(dir, fmt.Sprintf("%s_%s.h5ad", set.name, join))
			r := mustMerge(t, append([]string{"--join", join, merged}, set.inputs...)...)
			for _, w := range set.warns {
				if w == "obs/only_here" && join == "outer" { // kept, filled where missing
					if strings.Contains(r.stderr, w) {
						t.Errorf("%s %s: a warning about %s (kept with --join outer): %q", set.name, join, w, r.stderr)
					}
					continue
				}
				if !strings.Contains(r.stderr, "annslicer: warning: "+w+" ") {
					t.Errorf("%s %s: no warning about %s in %q", set.name, join, w, r.stderr)
				}
			}
			checks.add(set.name+"_"+join, append([]string{"concat", "--join", join, "--merged", merged}, set.inputs...)...)
		}
	}
	checks.run(t)
}

func TestMergeTakesEmptyInputsWidensIndicesAndStacksDenseGraphs(t *testing.T) {
	needPython(t)
	in := mergeInputs(t)
	dir := t.TempDir()
	checks := &mergeChecks{dir: dir}
	empty := filepath.Join(dir, "empty.h5ad") // inputs without cells around one with
	mustMerge(t, append([]string{empty}, in("e0.h5ad", "d0.h5ad", "e0.h5ad")...)...)
	checks.add("empty", append([]string{"concat", "--join", "outer", "--merged", empty}, in("e0.h5ad", "d0.h5ad", "e0.h5ad")...)...)
	wide := filepath.Join(dir, "wide.h5ad") // int32 then int64 indices: all int64
	mustMerge(t, append([]string{wide}, in("i32.h5ad", "i64.h5ad")...)...)
	checks.add("index_widths", append([]string{"concat", "--join", "outer", "--index-dtype", "int64", "--merged", wide}, in("i32.h5ad", "i64.h5ad")...)...)
	prefix := filepath.Join(dir, "g")
	mustSlice(t, "slice", in("g.h5ad")[0], prefix, "--size", "7")
	graph := filepath.Join(dir, "graph.h5ad")
	mustMerge(t, graph, prefix+"_shard_*.h5ad")
	checks.add("dense_graph", append([]string{"roundtrip", "--source", in("g.h5ad")[0], "--merged", graph, "--contiguous"}, shardFiles(t, prefix)...)...)
	checks.run(t)
}

func TestMergeExpandsGlobsInNaturalOrder(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for _, n := range []string{"s_shard_0", "s_shard_1", "s_shard_2", "s_shard_9", "s_shard_10", "s_shard_11", "s_shard_100"} {
		p := filepath.Join(dir, n+".h5ad")
		os.WriteFile(p, nil, 0o644)
		want = append(want, p)
	}
	got, err := expandInputs([]string{filepath.Join(dir, "s_shard_*.h5ad")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, c := range [][2]string{{"a2", "a10"}, {"a02", "a10"}, {"a1b2", "a1b10"}, {"x", "x1"}, {"s_2.h5ad", "s_10.h5ad"}, {"a1", "a01"}} {
		if naturalCompare(c[0], c[1]) >= 0 || naturalCompare(c[1], c[0]) <= 0 {
			t.Errorf("%q should sort before %q", c[0], c[1])
		}
	}
}

// The sparse building blocks of joins, and the integer widths.
func TestMergeRemapsColumnsAndWidensIndptr(t *testing.T) {
	// input columns 0..3 -> output 2, dropped, 0, 1 (reordered, one dropped)
	cm := engine.NewColMap([]int32{2, -1, 0, 1}, 3)
	if cm.Identity || !cm.Drops || cm.Monotone {
		t.Fatalf("map flags: %+v", cm)
	}
	i32 := engine.Ints{Size: 4}
	ptr := []int64{0, 3, 4}        // row 0: cols 0, 1, 3; row 1: col 2
	idx := ints(i32, 0, 1, 3, 2)   // column indices
	data := []byte{10, 11, 13, 12} // one byte per value
	outIdx, outData := make([]byte, 16), make([]byte, 4)
	counts := make([]int64, 2)
	w, err := cm.CSRWindow(ptr, idx, i32, data, 1, outIdx, i32, outData, counts)
	if err != nil {
		t.Fatal(err)
	}
	// row 0 keeps cols 0 (->2) and 3 (->1), sorted: (1, 13), (2, 10); row 1: (0, 12)
	if w != 3 || !slices.Equal(counts, []int64{2, 1}) || !slices.Equal(outData[:3], []byte{13, 10, 12}) ||
		!slices.Equal(outIdx[:12], ints(i32, 1, 2, 0)) {
		t.Errorf("got %d entries, counts %v, data %v, indices %v", w, counts, outData[:w], outIdx[:4*w])
	}
	dense := make([]byte, 3)
	cm.DenseRows([]byte{10, 11, 12, 13}, 1, 1, dense)
	if !slices.Equal(dense, []byte{12, 13, 10}) {
		t.Errorf("dense row scattered to %v", dense)
	}
	for _, c := range []struct {
		v    int64
		min  int
		want int
	}{{0, 4, 4}, {1<<31 - 1, 4, 4}, {1 << 31, 4, 8}, {100, 1, 1}, {200, 1, 2}, {5, 8, 8}} {
		if got := engine.WidthFor(c.v, c.min); got != c.want {
			t.Errorf("WidthFor(%d, %d) = %d, want %d", c.v, c.min, got, c.want)
		}
	}
}

func ints(c engine.Ints, vals ...int64) []byte {
	b := make([]byte, len(vals)*c.Size)
	for i, v := range vals {
		c.Put(b[i*c.Size:], v)
	}
	return b
}

// Inputs that cannot be merged: one line naming the file, non-zero exit,
// nothing written.
func TestMergeBadInputsFailCleanly(t *testing.T) {
	needPython(t)
	cases := []struct {
		name  string
		args  func(out string) []string
		wants []string
		code  int
	}{
		{"missing file", func(o string) []string { return []string{o + ".h5ad", fixture("full.h5ad"), fixture("nope.h5ad")} }, []string{"nope.h5ad", "no such file"}, 1},
		{"not HDF5", func(o string) []string { return []string{o + ".h5ad", fixture("full.h5ad"), fixture("not_hdf5.h5ad")} }, []string{"not_hdf5.h5ad", "not an HDF5 file"}, 1},
		{"not AnnData", func(o string) []string { return []string{o + ".h5ad", fixture("full.h5ad"), fixture("not_anndata.h5")} }, []string{"not_anndata.h5", "not an AnnData file"}, 1},
		{"dense X with sparse X", func(o string) []string { return []string{o + ".h5ad", fixture("full.h5ad"), fixture("dense.h5ad")} }, []string{"dense.h5ad", "X is a dense array but a CSR matrix"}, 1},
		{"different dtypes", func(o string) []string { return []string{o + ".h5ad", fixture("full.h5ad"), fixture("int64idx.h5ad")} }, []string{"int64idx.h5ad", "X/data", "dtype"}, 1},
		{"CSC input", func(o string) []string { return []string{o + ".h5ad", fixture("full.h5ad"), fixture("csc.h5ad")} }, []string{"csc.h5ad", "CSC"}, 1},
		{"no glob match", func(o string) []string {
			return []string{o + ".h5ad", filepath.Join(filepath.Dir(fixture("x")), "zz_*.h5ad")}
		}, []string{"zz_*.h5ad", "no file matches"}, 1},
		{"zarr output, inputs that differ", func(o string) []string { return []string{o + ".zarr", fixture("full.h5ad"), fixture("dense.h5ad")} }, []string{"dense.h5ad", "X is a dense array but a CSR matrix"}, 1},
		{"missing zarr input", func(o string) []string { return []string{o + ".h5ad", fixture("in.zarr")} }, []string{"in.zarr", "no such file"}, 1},
		{"output is an input", func(o string) []string { return []string{fixture("full.h5ad"), fixture("full.h5ad")} }, []string{"full.h5ad", "also an input"}, 1},
		{"bad join", func(o string) []string { return []string{"--join", "left", o + ".h5ad", fixture("full.h5ad")} }, []string{"--join", "left"}, 2},
		{"no inputs", func(o string) []string { return []string{o + ".h5ad"} }, []string{"merge takes"}, 2},
		{"bad output name", func(o string) []string { return []string{o + ".txt", fixture("full.h5ad")} }, []string{"out.txt", ".h5ad"}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			r := annslicer(t, append([]string{"merge"}, c.args(filepath.Join(dir, "out"))...)...)
			wantCleanFailure(t, r, c.code, c.wants, dir)
		})
	}
}

func TestMergeExistingOutputNeedsOverwrite(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "m.h5ad")
	os.WriteFile(out, []byte("keep me"), 0o644)
	r := annslicer(t, "merge", out, fixture("dense.h5ad"))
	if r.code != 1 || !strings.Contains(r.stderr, "m.h5ad") || !strings.Contains(r.stderr, "--overwrite") {
		t.Fatalf("want a refusal naming the file and --overwrite, got exit %d %q", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Fatal("a refused merge changed the existing output")
	}
	mustMerge(t, "--overwrite", out, fixture("dense.h5ad"), fixture("dense.h5ad"))
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("temporary files left behind: %v", left)
	}
	checks := &mergeChecks{dir: dir}
	checks.add("dense_twice", "concat", "--join", "outer", "--merged", out, fixture("dense.h5ad"), fixture("dense.h5ad"))
	checks.run(t)
}

// checkMergePy is the oracle: anndata and h5py compare a merged file with
// its source (roundtrip) or with anndata.concat of its inputs (concat).
const checkMergePy = `"""Oracle for annslicer merge tests (anndata + h5py).

roundtrip: MERGED must equal SOURCE restricted to MERGED's obs names (rows
found by name), element by element, values and dtypes; obsp is the
block-diagonal of the shards' induced sub-graphs (what slicing keeps).
concat: MERGED must equal anndata.concat(INPUTS, join=JOIN, fill_value=0)
with var in annslicer's order (first input's, then new genes in order of
first appearance); layers/obsm only where every input has them.
"""
import argparse
import sys
import warnings

warnings.filterwarnings("ignore")
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import anndata as ad  # noqa: E402

sys.path.insert(0, sys.argv.pop(1))  # testdata dir
import check_shards as cs  # noqa: E402


def h5_types(problems, src_path, got_path):
    """Every source dataset exists in the merged file with the same HDF5
    type, every attribute is equal (shape attributes excepted)."""
    with h5py.File(src_path, "r") as s, h5py.File(got_path, "r") as g:
        def visit(name, obj):
            if name not in g:
                problems.append(f"h5: {name} missing")
                return
            o = g[name]
            if isinstance(obj, h5py.Dataset):
                if not isinstance(o, h5py.Dataset):
                    problems.append(f"h5: {name} is not a dataset")
                    return
                if cs.describe_type(obj.id.get_type()) != cs.describe_type(o.id.get_type()):
                    problems.append(f"h5: {name} type {cs.describe_type(o.id.get_type())}, "
                                    f"expected {cs.describe_type(obj.id.get_type())}")
            if set(obj.attrs) != set(o.attrs):
                problems.append(f"h5: {name} attrs {sorted(o.attrs)}, expected {sorted(obj.attrs)}")
                return
            for k in obj.attrs:
                if k in ("shape", "h5sparse_shape"):
                    continue
                a, b = obj.attrs[k], o.attrs[k]
                if isinstance(a, h5py.Reference):
                    if s[a].name != g[b].name:
                        problems.append(f"h5: {name} attr {k} points to {g[b].name}")
                    continue
                if not np.array_equal(np.asarray(a), np.asarray(b)):
                    problems.append(f"h5: {name} attr {k} = {b!r}, expected {a!r}")
        s.visititems(visit)
        for k in s.attrs:
            if not np.array_equal(np.asarray(s.attrs[k]), np.asarray(g.attrs[k])):
                problems.append(f"h5: root attr {k}")


def roundtrip(a):
    problems = []
    src = ad.read_h5ad(a.source)
    got = ad.read_h5ad(a.merged)
    rows = src.obs_names.get_indexer(got.obs_names)
    if (rows < 0).any() or len(set(rows)) != len(rows) or len(rows) != src.n_obs:
        return [f"merged obs names are not a permutation of the source's"]
    if a.contiguous and not np.array_equal(rows, np.arange(src.n_obs)):
        problems.append("rows are not in source order")
    w = "merged"
    cs.ad_compare(problems, f"{w} X", got.X, None if src.X is None else src.X[rows])
    cs.ad_compare(problems, f"{w} layers", dict(got.layers), {k: v[rows] for k, v in src.layers.items()})
    cs.compare_df(problems, f"{w} obs", got.obs, src.obs.iloc[rows])
    cs.compare_index(problems, f"{w} obs_names", got.obs_names, src.obs_names[rows])
    cs.compare_df(problems, f"{w} var", got.var, src.var)
    cs.ad_compare(problems, f"{w} obsm", dict(got.obsm),
                  {k: (v.iloc[rows] if isinstance(v, pd.DataFrame) else v[rows]) for k, v in src.obsm.items()})
    blocks = [src.obs_names.get_indexer(ad.read_h5ad(p, backed="r").obs_names) for p in a.shards]
    exp_obsp = {}
    for k, v in src.obsp.items():
        bd = sp.block_diag([v[b][:, b] for b in blocks], format="csr").astype(v.dtype)
        exp_obsp[k] = bd if sp.issparse(v) else bd.toarray()
    cs.ad_compare(problems, f"{w} obsp", dict(got.obsp), exp_obsp, canon=True)
    cs.ad_compare(problems, f"{w} varm", dict(got.varm), dict(src.varm))
    cs.ad_compare(problems, f"{w} varp", dict(got.varp), dict(src.varp))
    cs.ad_compare(problems, f"{w} uns", dict(got.uns), dict(src.uns))
    if (got.raw is None) != (src.raw is None):
        problems.append(f"{w} raw presence differs")
    elif src.raw is not None:
        cs.ad_compare(problems, f"{w} raw.X", got.raw.X, src.raw.X[rows])
        cs.compare_df(problems, f"{w} raw.var", got.raw.var, src.raw.var)
        cs.ad_compare(problems, f"{w} raw.varm", dict(got.raw.varm), dict(src.raw.varm))
    h5_types(problems, a.source, a.merged)
    return problems


def expected_var_order(adatas, join):
    first = list(adatas[0].var_names)
    if join == "inner":
        common = set(first)
        for x in adatas[1:]:
            common &= set(x.var_names)
        return [g for g in first if g in common]
    seen, out = set(), []
    for x in adatas:
        for g in x.var_names:
            if g not in seen:
                seen.add(g)
                out.append(g)
    return out


def concat(a):
    problems = []
    ins = [ad.read_h5ad(p) for p in a.inputs]
    got = ad.read_h5ad(a.merged)
    exp = ad.concat(ins, join=a.join, fill_value=0)
    order = expected_var_order(ins, a.join)
    if list(got.var_names) != order:
        problems.append(f"var_names {list(got.var_names)[:8]}..., expected {order[:8]}...")
        return problems
    if set(exp.var_names) != set(order):
        problems.append("gene set differs from anndata.concat's")
        return problems
    exp = exp[:, order]
    w = "merged"
    for k, m in [("X", got.X)] + list(got.layers.items()) + [("raw.X", got.raw.X if got.raw is not None else None)]:
        if sp.issparse(m) and not m.has_sorted_indices:
            problems.append(f"{w} {k}: column indices are not sorted within rows")
    cs.ad_compare(problems, f"{w} X", got.X, exp.X, canon=True)
    common = set.intersection(*[set(x.layers.keys()) for x in ins])
    cs.ad_compare(problems, f"{w} layers", dict(got.layers), {k: exp.layers[k] for k in common}, canon=True)
    cs.compare_index(problems, f"{w} obs_names", got.obs_names, exp.obs_names)
    cs.compare_index(problems, f"{w} var_names", got.var_names, exp.var_names)
    if list(got.var.columns) != list(exp.var.columns):
        problems.append(f"var columns {list(got.var.columns)}, expected {list(exp.var.columns)}")
    # obs: categoricals whose categories differ become object columns in
    # anndata.concat; annslicer keeps a categorical of the union in order
    # of first appearance. Columns: concat's (outer: those of any input,
    # missing values elsewhere)
    cols = list(exp.obs.columns)
    if list(got.obs.columns) != cols:
        problems.append(f"obs columns {list(got.obs.columns)}, expected {cols}")
    for c in cols:
        if c not in got.obs.columns:
            continue
        g, e = got.obs[c], exp.obs[c]
        if isinstance(g.dtype, pd.CategoricalDtype) and not isinstance(e.dtype, pd.CategoricalDtype):
            union = []
            for x in ins:
                union += [v for v in x.obs[c].cat.categories if v not in union]
            if list(g.cat.categories) != union:
                problems.append(f"obs[{c}] categories {list(g.cat.categories)}, expected {union}")
            gv = np.asarray(g.astype(object).where(g.notna(), None))
            ev = np.asarray(e.astype(object).where(e.notna(), None))
            if not all((x is None and y is None) or x == y for x, y in zip(gv, ev)):
                problems.append(f"obs[{c}] values differ")
            continue
        cs.compare_df(problems, f"{w} obs", got.obs[[c]], exp.obs[[c]])
    common = set.intersection(*[set(x.obsm.keys()) for x in ins])
    cs.ad_compare(problems, f"{w} obsm", dict(got.obsm), {k: exp.obsm[k] for k in common})
    cs.ad_compare(problems, f"{w} varm", dict(got.varm), {})
    if a.index_dtype:
        with h5py.File(a.merged, "r") as f:
            for k in ("X/indices", "X/indptr"):
                if f[k].dtype != np.dtype(a.index_dtype):
                    problems.append(f"{w} {k}: dtype {f[k].dtype}, expected {a.index_dtype}")
    if (got.raw is None) != (exp.raw is None):
        problems.append(f"{w} raw presence differs")
    elif exp.raw is not None:
        if list(got.raw.var_names) != list(exp.raw.var_names):
            problems.append(f"{w} raw.var_names differ")
        else:
            cs.ad_compare(problems, f"{w} raw.X", got.raw.X, exp.raw.X, canon=True)
    return problems


def parse(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("roundtrip")
    r.add_argument("--source", required=True)
    r.add_argument("--merged", required=True)
    r.add_argument("--contiguous", action="store_true")
    r.add_argument("shards", nargs="+")
    c = sub.add_parser("concat")
    c.add_argument("--join", required=True)
    c.add_argument("--merged", required=True)
    c.add_argument("--index-dtype", help="dtype X/indices and X/indptr must have")
    c.add_argument("inputs", nargs="+")
    return p.parse_args(argv)


def main():
    # one job per line of the jobs file: NAME<TAB>ARG<TAB>ARG...
    failed = 0
    with open(sys.argv[1]) as fh:
        jobs = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    for name, *argv in jobs:
        a = parse(argv)
        try:
            problems = roundtrip(a) if a.mode == "roundtrip" else concat(a)
        except Exception as e:  # a crash is a failure of that job
            problems = [f"{type(e).__name__}: {e}"]
        for x in problems[:20]:
            print(f"{name}: {x}")
        failed += bool(problems)
    print(f"{len(jobs) - failed} of {len(jobs)} jobs OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
`

// makeJoinPy writes, with anndata, inputs whose gene sets differ (from
// full.h5ad and dense.h5ad), an input without cells, a dense graph, and
// two parts of int64idx.h5ad with int32 and int64 sparse indices.
const makeJoinPy = `import sys, warnings
warnings.filterwarnings("ignore")
import numpy as np, anndata as ad
src, out = sys.argv[1], sys.argv[2]
a = ad.read_h5ad(src)
a1 = a[:150, :30].copy()
a2 = a[150:300, 5:37].copy()
a3 = a[300:, [3, 1, 2, 0] + list(range(10, 20))].copy()
a1.layers["extra"] = a1.layers["dense"].copy()  # only in one input: dropped
del a3.obsm["X_umap"]
a1.obs["only_here"] = np.arange(a1.n_obs, dtype=np.int16)  # not in every input: inner drops it, outer fills NaN
a2.obs["cell_type"] = a2.obs["cell_type"].cat.remove_unused_categories()
a3.obs["cell_type"] = a3.obs["cell_type"].cat.add_categories(["AAA", "Zeta"])
for k, x in enumerate([a1, a2, a3]):
    x.write_h5ad(f"{out}/j{k}.h5ad")
d = ad.read_h5ad(sys.argv[3])
d[:40, :10].copy().write_h5ad(f"{out}/d0.h5ad")
d[40:, [12, 11, 3, 4, 5]].copy().write_h5ad(f"{out}/d1.h5ad")
d[:0, :10].copy().write_h5ad(f"{out}/e0.h5ad")  # no cells
g = ad.AnnData(X=np.arange(60, dtype=np.float32).reshape(20, 3),
               obs=__import__("pandas").DataFrame(index=[f"c{i}" for i in range(20)]))
g.obsp["dgraph"] = np.arange(400, dtype=np.int16).reshape(20, 20)  # dense graph
g.write_h5ad(f"{out}/g.h5ad")
w = ad.read_h5ad(sys.argv[1].replace("full.h5ad", "int64idx.h5ad"))
w[:100].copy().write_h5ad(f"{out}/i32.h5ad")  # int32 indices and indptr
w[100:].copy().write_h5ad(f"{out}/i64.h5ad")
import h5py  # noqa: E402
with h5py.File(f"{out}/i64.h5ad", "r+") as f:  # int64 ones: the merge widens
    for k in ("indices", "indptr"):
        v = f["X"][k][()]
        del f["X"][k]
        f["X"].create_dataset(k, data=v.astype(np.int64))
`

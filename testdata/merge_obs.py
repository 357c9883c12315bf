#!/usr/bin/env python3
"""Inputs whose obs columns differ, and the oracle for their merge.

Why: merging shards users have edited (a column added to some, categories
that differ) must give what anndata.concat(inputs, join=...) gives for obs,
as anndata writes it, except where annslicer deliberately differs (the
issue's rules): categories united in first-appearance order (concat
natsorts them), nullable columns kept nullable.

    merge_obs.py make OUTDIR FMT,FMT,FMT [--nullable-string] [--collection]
        writes OUTDIR/p0.FMT, p1.FMT, p2.FMT with current anndata;
        --collection: with different genes, and a "batch" column in p0
        and p2 (which a label "batch" replaces)
    merge_obs.py check --join J --merged M [--label L] [--keys K,K,K]
                       [--index-unique SEP] INPUT...
        current anndata: prints "problem: ..." for every way M differs from
        anndata.concat(INPUTS, join=J, label=L, keys=[K...],
        index_unique=SEP) written by anndata to M's format and read back,
        and "concat: ..." for each intentional difference
    merge_obs.py dump M
        any anndata (0.8 too): the obs of M, one canonical JSON line
"""

import json
import os
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

GENES = [f"g{k}" for k in range(6)]


def read(path):
    import anndata as ad
    return ad.read_zarr(path) if path.rstrip("/").endswith(".zarr") else ad.read_h5ad(path)


# --collection's genes: the outer join g0..g8, the inner g2..g4
COLLECTION_GENES = [GENES, [f"g{k}" for k in range(2, 8)], ["g1", "g2", "g3", "g4", "g8"]]


def inputs(nullable_string, collection=False):
    """Three inputs: columns in only some inputs of every kind, categories
    differing in order and content, ordered categoricals alike and not."""
    import anndata as ad
    import scipy.sparse as sp

    C = pd.Categorical

    def mk(p, n, cols, seed):
        genes = COLLECTION_GENES[int(seed) - 1] if collection else GENES
        X = sp.random(n, len(genes), density=0.4, format="csr", dtype=np.float32, random_state=seed)
        obs = pd.DataFrame(cols, index=[f"{p}{i}" for i in range(n)])
        return ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes))

    a = {
        "cat_all": C(["b", "a", "b", "a", "b"], categories=["b", "a"]),
        "cat_some": C(["x", "y", "x", "x", "y"]),
        "f_some": np.array([1.5, 2, 3, 4, np.nan], dtype=np.float32),
        "i_some": np.array([1, 2, 3, -4, 5], dtype=np.int64),
        "b_some": np.array([True, False, True, True, False]),
        "s_some": np.array(["s0", "s1", "s2", "s3", "s4"], dtype=object),
        "ord_same": C(["lo", "hi", "lo", "lo", "hi"], categories=["lo", "hi"], ordered=True),
        "ord_diff": C(["lo", "hi", "lo", "lo", "hi"], categories=["lo", "hi"], ordered=True),
        "num_cat": C([10, 20, 10, 10, 20]),
        "n_int": pd.array([1, None, 3, 4, 5], dtype="Int32"),
        "cat_na": C(["k", None, "k", "k", "k"]),
        # 100 + 100 categories: the union needs int16 codes
        "cat_wide": C(["w0", "w1", "w0", "w0", "w99"], categories=[f"w{k}" for k in range(100)]),
        # dtypes that differ: numpy's common type (NaN: float64 for integers)
        "w_int": np.array([1, 2, 3, 4, -5], dtype=np.int32),
        "w_mix": np.array([1, 2, 3, 4, 2**30], dtype=np.int32),
        "w_f": np.array([0.5, 1, 2, 3, 4], dtype=np.float32),
        "w_u": np.array([1, 2, 3, 4, 255], dtype=np.uint8),
        # strings in some inputs, categorical in others (a shard rewritten
        # by anndata): one categorical, plain values in order of appearance
        "mix_s": np.array(["q", "p", "q", "r", "p"], dtype=object),
        "mix_c": C(["y", "x", "y", "y", "x"], categories=["y", "x"]),
    }
    b = {
        "late_f": np.array([0.5, 1, 2, 3]),
        "cat_all": C(["c", "a", "c", "c"], categories=["c", "a"]),
        "ord_diff": C(["hi", "mid", "hi", "hi"], categories=["mid", "hi"], ordered=True),
        "late_cat": C(["u", "v", "u", "u"]),
        "ord_same": C(["hi", "hi", "lo", "hi"], categories=["lo", "hi"], ordered=True),
        "num_cat": C([30, 10, 30, 30]),
        "late_i": np.array([7, 8, 9, 10], dtype=np.int16),
        "late_b": np.array([False, True, True, False]),
        "late_s": np.array(["t0", "t1", "t2", "t3"], dtype=object),
        "cat_na": C([None, "m", "k", "m"]),
        "cat_wide": C(["v5", "v1", "v0", "v0"], categories=[f"v{k}" for k in range(100)]),
        "w_int": np.array([2**40, 2, 3, 4], dtype=np.int64),
        "w_mix": np.array([0.25, 2, 3, 4], dtype=np.float32),
        "w_f": np.array([0.1, 1, 2, 3], dtype=np.float64),
        "w_u": np.array([-1, 2, 3, -128], dtype=np.int8),
        "mix_s": C(["z", "p", "z", "z"], categories=["z", "p"], ordered=True),
    }
    c = {
        "cat_all": C(["a", "d", "d"]),
        "cat_some": C(["z", "x", "z"]),
        "f_some": np.array([6, 7, 8], dtype=np.float32),
        "i_some": np.array([9, 10, 11], dtype=np.int64),
        "b_some": np.array([False, False, True]),
        "s_some": np.array(["r0", "s1", "r2"], dtype=object),
        "ord_same": C(["lo", "lo", "hi"], categories=["lo", "hi"], ordered=True),
        "ord_diff": C(["lo", "lo", "hi"], categories=["lo", "hi"], ordered=False),
        "num_cat": C([10, 10, 10]),
        "late_f": np.array([1.0, 2, 3]),
        "n_int": pd.array([None, 2, 2], dtype="Int32"),
        "cat_na": C(["m", "m", "m"]),
        "w_int": np.array([7, 8, -9], dtype=np.int16),
        "w_mix": np.array([1, 2, 200], dtype=np.uint8),
        "mix_s": np.array(["a", "q", "a"], dtype=object),
        "mix_c": np.array(["w", "x", "a"], dtype=object),
    }
    if collection:
        # a column the label replaces: in place where the join keeps it
        a = dict(list(a.items())[:3] + [("batch", C(["old", "x", "old", "x", "x"]))] + list(a.items())[3:])
        c["batch"] = np.array(["q", "r", "q"], dtype=object)
    if nullable_string:
        a["ns_some"] = pd.array(["p", None, "q", "p", "p"], dtype="string")
        c["ns_some"] = pd.array(["q", "r", None], dtype="string")
    return [mk("a", 5, a, 1), mk("b", 4, b, 2), mk("c", 3, c, 3)]


def make(out, fmts, nullable_string, collection):
    import anndata as ad
    ad.settings.allow_write_nullable_strings = nullable_string
    for k, (x, f) in enumerate(zip(inputs(nullable_string, collection), fmts.split(","), strict=True)):
        p = os.path.join(out, f"p{k}.{f}")
        # plain string columns stay strings (anndata would make categoricals)
        if f == "zarr":
            x.write_zarr(p, convert_strings_to_categoricals=False)
        else:
            x.write_h5ad(p, convert_strings_to_categoricals=False)


def short(values):
    """A category list in a note: its first four."""
    values = list(values)
    return str(values) if len(values) <= 4 else str(values[:4])[:-1] + ", ...]"


def first_appearance(ins, col):
    """The categories of col united in order of first appearance over the
    inputs holding it (a plain input's values in order of appearance);
    None if no input holds it as a categorical."""
    out, seen = [], False
    for x in ins:
        if col not in x.obs.columns:
            continue
        s = x.obs[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            seen, values = True, s.cat.categories
        else:
            values = pd.unique(s.dropna())
        out += [v for v in values if v not in out]
    return out if seen else None


def codes_dtype(path, col):
    """The stored dtype of a categorical column's codes."""
    if path.rstrip("/").endswith(".zarr"):
        import zarr
        return str(zarr.open(path, mode="r")["obs"][col]["codes"].dtype)
    import h5py
    with h5py.File(path, "r") as f:
        return str(f["obs"][col]["codes"].dtype)


def check(a):
    import anndata as ad
    problems, notes = [], []
    ins = [read(p) for p in a.inputs]
    got = read(a.merged)
    keys = a.keys.split(",") if a.keys is not None else None
    exp = ad.concat(ins, join=a.join, label=a.label, keys=keys, index_unique=a.index_unique)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "concat" + os.path.splitext(a.merged.rstrip("/"))[1])
        exp.write_zarr(p) if p.endswith(".zarr") else exp.write_h5ad(p)
        written = p
        exp = read(p)
        for col in exp.obs.columns:
            if col in got.obs.columns and isinstance(exp.obs[col].dtype, pd.CategoricalDtype) \
                    and isinstance(got.obs[col].dtype, pd.CategoricalDtype):
                g, e = codes_dtype(a.merged, col), codes_dtype(written, col)
                if g != e:
                    problems.append(f"obs[{col}] codes stored as {g}, expected {e}")
    if list(got.obs_names) != list(exp.obs_names):
        problems.append("obs_names differ")
    gx = got.X.toarray()
    if list(got.var_names) != list(exp.var_names) and set(got.var_names) == set(exp.var_names):
        # outer join: we keep the first input's order, then new genes as
        # they appear; concat's pandas union sorts them
        notes.append("var_names: ours in order of first appearance, concat's sorted")
        gx = gx[:, [list(got.var_names).index(g) for g in exp.var_names]]
    elif list(got.var_names) != list(exp.var_names):
        problems.append("var_names differ")
    if set(got.var_names) == set(exp.var_names) and not np.array_equal(gx, exp.X.toarray()):
        problems.append("X differs")
    gc, ec = list(got.obs.columns), list(exp.obs.columns)
    if gc != ec:
        problems.append(f"obs columns {gc}, expected {ec}")
    for col in ec:
        if col not in gc:
            continue
        g, e = got.obs[col], exp.obs[col]
        if col == a.label:  # the keys, as given
            if g.cat.ordered or list(g.cat.categories) != list(e.cat.categories):
                problems.append(f"obs[{col}] categories {list(g.cat.categories)} (ordered={g.cat.ordered}), "
                                f"expected {list(e.cat.categories)}")
        elif isinstance(e.dtype, pd.CategoricalDtype) and isinstance(g.dtype, pd.CategoricalDtype):
            first = first_appearance(ins, col)
            want = first if first is not None else sorted(set(g.dropna()))
            if list(g.cat.categories) != want:
                problems.append(f"obs[{col}] categories {list(g.cat.categories)}, expected {want}")
                continue
            if list(e.cat.categories) != want:
                notes.append(f"obs[{col}] categories: ours {short(want)}, concat {short(e.cat.categories)}")
                if set(e.cat.categories) == set(want):
                    e = e.cat.reorder_categories(want)
        elif isinstance(e.dtype, pd.CategoricalDtype):
            notes.append(f"obs[{col}]: dtype ours {g.dtype}, concat {e.dtype}")
            e = e.astype(g.dtype)
        try:
            pd.testing.assert_series_equal(g, e, check_names=False, check_exact=True)
        except AssertionError as err:
            problems.append(f"obs[{col}]: " + " ".join(str(err).split())[:300])
    for x in problems:
        print("problem:", x)
    for x in notes:
        print("concat:", x)


def dump(path):
    obs = read(path).obs
    out = {}
    for col in obs.columns:
        s = obs[col]
        cat = isinstance(s.dtype, pd.CategoricalDtype)
        vals = [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in s.astype(object)]
        out[col] = {
            "dtype": "category" if cat else str(s.dtype),
            "categories": [c.item() if hasattr(c, "item") else c for c in s.cat.categories] if cat else None,
            "ordered": bool(s.cat.ordered) if cat else None,
            "values": vals,
        }
    print(json.dumps({"index": list(obs.index), "columns": list(obs.columns), "obs": out}, sort_keys=True))


def main(argv):
    import argparse
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    m.add_argument("fmts")
    m.add_argument("--nullable-string", action="store_true")
    m.add_argument("--collection", action="store_true")
    c = sub.add_parser("check")
    c.add_argument("--join", required=True)
    c.add_argument("--merged", required=True)
    c.add_argument("--label")
    c.add_argument("--keys")
    c.add_argument("--index-unique")
    c.add_argument("inputs", nargs="+")
    d = sub.add_parser("dump")
    d.add_argument("merged")
    a = p.parse_args(argv)
    if a.mode == "make":
        make(a.out, a.fmts, a.nullable_string, a.collection)
    elif a.mode == "check":
        check(a)
    else:
        dump(a.merged)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

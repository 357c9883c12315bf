#!/usr/bin/env python3
"""Differential oracle: our outputs against the Python tool's (PyPI annslicer).

Why: we replace that tool; on the same inputs and CLI arguments our outputs
must hold the same cells, genes, values and obs/var content as its, and
every place we differ must be known. Usage:

    pytool_diff.py --ours A_0.h5ad A_1.h5ad ... --theirs B_0.h5ad B_1.h5ad ...

Pairs ours[k] with theirs[k], reads both with current anndata and compares
every element exactly (check_shards.ad_compare: dtypes, NA positions,
category lists, values bit for bit). Prints one stable line per difference,
sorted and deduplicated over the pairs:

    only ours: obsp['distances']          an element the tool drops
    only theirs: ...                      an element we drop
    differs: obs['x']: dtype int64, expected int32   (ours first, theirs "expected")
    differs: obs_names: values differ      (other cells)
    order differs: obs_names (the same names)   (e.g. another glob order;
                                           theirs is then compared in our order)

and nothing else; exit 0 (the caller compares the lines with its list of
intentional differences).
"""

import argparse
import os
import re
import sys
import warnings

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_shards as cs  # noqa: E402


def read(path):
    import anndata as ad
    return ad.read_zarr(path) if path.rstrip("/").endswith(".zarr") else ad.read_h5ad(path)


def stable(line):
    """A problem line without the per-run numbers (counts, first positions)."""
    line = re.sub(r": \d+ of \d+ values differ.*", ": values differ", line)
    return line


def elements(a):
    """name -> value of every element of an AnnData, one level into mappings."""
    out = {"X": a.X, "obs": a.obs, "var": a.var, "obs_names": a.obs_names, "var_names": a.var_names}
    for m in ("layers", "obsm", "varm", "obsp", "varp", "uns"):
        for k in getattr(a, m).keys():
            out[f"{m}[{k!r}]"] = getattr(a, m)[k]
    if a.raw is not None:
        out["raw.X"], out["raw.var"] = a.raw.X, a.raw.var
        for k in a.raw.varm.keys():
            out[f"raw.varm[{k!r}]"] = a.raw.varm[k]
    return out


def align(ours, theirs, diffs):
    """theirs reordered to our cell and gene order when only the order
    differs (noted as a difference); unchanged when the names differ."""
    for axis, names in (("obs_names", "obs"), ("var_names", "var")):
        o, t = getattr(ours, axis), getattr(theirs, axis)
        if len(o) == len(t) and not (o == t).all() and set(o) == set(t) and o.is_unique:
            diffs.add(f"order differs: {axis} (the same names)")
            theirs = theirs[o] if names == "obs" else theirs[:, o]
            theirs = theirs.copy()
    return theirs


def compare(ours, theirs):
    import pandas as pd
    diffs = set()
    theirs = align(ours, theirs, diffs)
    eo, et = elements(ours), elements(theirs)
    for k in sorted(set(eo) - set(et)):
        diffs.add(f"only ours: {k}")
    for k in sorted(set(et) - set(eo)):
        diffs.add(f"only theirs: {k}")
    for k in sorted(set(eo) & set(et)):
        problems = []
        o, t = eo[k], et[k]
        if isinstance(t, pd.Index):
            cs.compare_index(problems, k, o, t)
        elif isinstance(t, pd.DataFrame) and isinstance(o, pd.DataFrame):
            cs.compare_df(problems, k, o, t)
        else:
            cs.ad_compare(problems, k, o, t, canon=True)
        for p in problems:
            diffs.add("differs: " + stable(p))
    return diffs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ours", nargs="+", required=True)
    p.add_argument("--theirs", nargs="+", required=True)
    a = p.parse_args(argv)
    diffs = set()
    if len(a.ours) != len(a.theirs):
        diffs.add(f"output count: ours {len(a.ours)}, theirs {len(a.theirs)}")
    for o, t in zip(a.ours, a.theirs):
        diffs |= compare(read(o), read(t))
    for d in sorted(diffs):
        print(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Oracle for obscsv's overlay tests: is this shard source[rows] with obs
column C taken from the CSV?

Usage: check_overlay.py SOURCE SHARD ROWS_JSON CSV JOIN COLUMN

The expected shard is anndata's source[rows] (every categorical with all
of its categories, as shards keep them), with obs[COLUMN] set from the
CSV as the Python tool defines it (pandas read_csv, the join column's values
stripped as strings, astype("category")), categories as str(): replaced in
place when obs has the column, appended otherwise. Every element is compared
with anndata's own assert_equal; the column's categorical is checked
exactly (categories, codes and their dtype, ordered) and, in the file, its
anndata encoding attributes.

Exit 0 and one line when it matches, 1 and the problem otherwise.
"""

import json
import sys
import warnings

warnings.filterwarnings("ignore")
import anndata as ad  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from anndata.tests.helpers import assert_equal  # noqa: E402


def read(path):
    return ad.read_zarr(path) if path.rstrip("/").endswith(".zarr") else ad.read_h5ad(path)


def raw_attrs(path, elem):
    if path.rstrip("/").endswith(".zarr"):
        import zarr
        return dict(zarr.open_group(path, mode="r")[elem].attrs)
    import h5py
    with h5py.File(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f[elem].attrs.items()}


def full_categories(df, src_df, rows):
    for k in df.columns:
        s = src_df[k]
        if isinstance(s.dtype, pd.CategoricalDtype):
            df[k] = pd.Categorical(s.iloc[rows].to_numpy(), categories=s.cat.categories, ordered=s.cat.ordered)


def has(path, elem):
    if path.rstrip("/").endswith(".zarr"):
        import zarr
        try:
            zarr.open_group(path, mode="r")[elem]
            return True
        except KeyError:
            return False
    import h5py
    with h5py.File(path, "r") as f:
        return elem in f


def main(source, shard, rows_json, csv, join, column):
    rows = np.array(json.load(open(rows_json)), dtype=np.int64)
    src = read(source)
    exp = src[rows].copy()
    # anndata's subset drops unused categories; shards keep every one
    full_categories(exp.obs, src.obs, rows)
    for k, v in src.obsm.items():
        if isinstance(v, pd.DataFrame):
            full_categories(exp.obsm[k], v, rows)

    df = pd.read_csv(csv, low_memory=False)
    df.index = df[join].astype(str).str.strip()
    col = df[column].astype("category")
    col = col.cat.rename_categories([str(c) for c in col.cat.categories])
    values = col.reindex(exp.obs_names.astype(str).str.strip())
    exp.obs[column] = pd.Categorical(values, categories=col.cat.categories)

    got = read(shard)
    c = got.obs[column]
    if not isinstance(c.dtype, pd.CategoricalDtype):
        sys.exit(f"obs/{column} is {c.dtype}, not categorical")
    e = exp.obs[column]
    n = len(col.cat.categories)
    want_codes = np.int8 if n < 127 else np.int16 if n < 32767 else np.int32
    problems = []
    if list(c.cat.categories) != list(e.cat.categories):
        problems.append(f"categories {list(c.cat.categories)[:10]} != {list(e.cat.categories)[:10]}")
    if not np.array_equal(c.cat.codes.to_numpy(), e.cat.codes.to_numpy()):
        problems.append("codes differ")
    if c.cat.codes.dtype != want_codes or c.cat.ordered:
        problems.append(f"codes {c.cat.codes.dtype} ordered {c.cat.ordered}")
    if list(got.obs.columns) != list(exp.obs.columns):
        problems.append(f"obs columns {list(got.obs.columns)} != {list(exp.obs.columns)}")
    at = raw_attrs(shard, f"obs/{column}")
    if at.get("encoding-type") != "categorical" or at.get("encoding-version") != "0.2.0" or bool(at.get("ordered")):
        problems.append(f"obs/{column} attributes {at}")
    if has(shard, f"obs/__categories/{column}"):
        # anndata 0.7's categories of the replaced column: stale
        problems.append(f"obs/__categories/{column} is still there")
    if problems:
        sys.exit("; ".join(problems))
    try:
        assert_equal(got, exp, exact=True)
    except AssertionError as err:
        sys.exit(f"shard differs from source[rows] with the CSV column: {str(err)[:2000]}")
    print(f"ok: {len(rows)} cells, obs/{column}: {n} categories, {int((c.cat.codes < 0).sum())} missing")


if __name__ == "__main__":
    main(*sys.argv[1:])

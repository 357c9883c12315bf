#!/usr/bin/env python3
"""Oracle with current anndata (>= 0.12, zarr-python 3): do these outputs
hold exactly the source's rows?

Why: users read our shards with today's anndata, and write their sources
with it (nullable strings, zarr v3, sharded arrays, awkward arrays in obsm,
record arrays in uns). check_shards.py / check_zarr_shards.py also pin the
bytes and the HDF5/zarr tree; this one pins what current anndata reads.

The source and every output may be .h5ad or .zarr (v2 or v3). Each output
is read with ``anndata.read_h5ad`` / ``read_zarr``; its rows are found from
its obs names (unique in every source); then every element is compared with
``source[rows]`` twice: exactly with check_shards.ad_compare (dtypes, NA
positions, full category lists, values bit for bit) for the element kinds
it knows, and with anndata's own ``assert_equal(exact=True)`` for all
(awkward arrays, record arrays, nested uns included).

--order contiguous: the outputs hold rows 0.. in order. --obsp-blocks N (a
merge of contiguous shards of N rows): obsp graphs are expected
block-diagonal, without the edges between those shards, as merge (and
anndata.concat(pairwise=True)) stack them. Exit 0 and one line when all match, 1 and
one line per problem otherwise.
"""

import argparse
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_shards as cs  # noqa: E402

ELEMS = ("X", "obs", "var", "obsm", "varm", "layers", "obsp", "varp", "uns", "raw")


def read(path):
    import anndata as ad
    if path.rstrip("/").endswith(".zarr"):
        return ad.read_zarr(path)
    return ad.read_h5ad(path)


def read_source(path):
    """The source (oracle_server.py keeps it from call to call)."""
    return read(path)


def known(v):
    """Element kinds check_shards.ad_compare compares exactly."""
    import pandas as pd
    import scipy.sparse as sp
    if isinstance(v, dict) or hasattr(v, "keys") and not isinstance(v, (np.ndarray, pd.DataFrame)):
        return all(known(x) for x in v.values())
    if isinstance(v, np.ndarray):
        return v.dtype.names is None  # record arrays: anndata's comparison
    return v is None or isinstance(v, (pd.DataFrame, str, int, float, bool, np.generic)) or sp.issparse(v)


def holds_nan(v):
    """A float array with NaN: anndata's exact comparison of arrays is
    np.all(a == b), never true there (not even of an array with itself)."""
    return isinstance(v, np.ndarray) and v.dtype.kind in "fc" and bool(np.isnan(v).any())


def compare_elem(problems, where, got, exp):
    from anndata.tests.helpers import assert_equal
    if known(exp) and known(got):
        cs.ad_compare(problems, where, got, exp, canon=True)
        if holds_nan(exp):
            return  # ad_compare compared it bit for bit (NaN positions too)
    try:
        assert_equal(got, exp, exact=True, elem_name=where)
    except AssertionError as e:
        problems.append(f"{where}: anndata assert_equal: {str(e).splitlines()[0] if str(e) else 'differs'}")
    except Exception as e:  # a comparison that cannot even run is a problem too
        problems.append(f"{where}: anndata assert_equal raised {type(e).__name__}: {e}")


def mapping(m):
    return {k: m[k] for k in m.keys()}


def check_one(problems, path, got, exp):
    w = f"{path}: current anndata"
    if got.shape != exp.shape:
        problems.append(f"{w}: shape {got.shape}, expected {exp.shape}")
        return
    cs.compare_index(problems, f"{w} obs_names", got.obs_names, exp.obs_names)
    cs.compare_index(problems, f"{w} var_names", got.var_names, exp.var_names)
    compare_elem(problems, f"{w} X", got.X, exp.X)
    for name in ("obs", "var"):
        g, e = getattr(got, name), getattr(exp, name)
        cs.compare_df(problems, f"{w} {name}", g, e)
    for name in ("obsm", "varm", "layers", "obsp", "varp"):
        g, e = mapping(getattr(got, name)), mapping(getattr(exp, name))
        for k in sorted(set(e) - set(g)):
            problems.append(f"{w} {name}: missing {k!r}")
        for k in sorted(set(g) - set(e)):
            problems.append(f"{w} {name}: unexpected {k!r}")
        for k in sorted(set(g) & set(e)):
            compare_elem(problems, f"{w} {name}[{k!r}]", g[k], e[k])
    compare_elem(problems, f"{w} uns", dict(got.uns), dict(exp.uns))
    if (got.raw is None) != (exp.raw is None):
        problems.append(f"{w} raw: present={got.raw is not None}, expected {exp.raw is not None}")
    elif exp.raw is not None:
        compare_elem(problems, f"{w} raw.X", got.raw.X, exp.raw.X)
        cs.compare_df(problems, f"{w} raw.var", got.raw.var, exp.raw.var)
        compare_elem(problems, f"{w} raw.varm", mapping(got.raw.varm), mapping(exp.raw.varm))


def block_diagonal(m, rows, n):
    """Graph m (of source rows rows) without the edges between blocks of n source rows."""
    import scipy.sparse as sp
    block = np.asarray(rows) // n
    if sp.issparse(m):
        c = sp.coo_matrix(m)
        keep = block[c.row] == block[c.col]
        out = sp.csr_matrix((c.data[keep], (c.row[keep], c.col[keep])), shape=m.shape, dtype=m.dtype)
        out.sort_indices()
        return type(m)(out) if not isinstance(m, sp.csr_matrix) else out
    return np.where(block[:, None] == block[None, :], m, np.zeros((), dtype=m.dtype))


def run(source, outputs, order="any", size=None, obsp_blocks=None):
    import pandas as pd
    import anndata
    # our shards keep the full category lists (as anndata 0.8 did); current
    # anndata drops unused ones when a view is copied unless told not to
    anndata.settings.remove_unused_categories = False
    problems = []
    src = read_source(source)
    index = pd.Index(np.asarray(src.obs_names, dtype=object))
    if not index.is_unique:
        raise SystemExit(f"check_current: {source} has duplicate obs names")
    rows_of, loaded = [], []
    for path in outputs:
        try:
            got = read(path)
        except Exception as e:
            problems.append(f"{path}: current anndata cannot read it: {type(e).__name__}: {e}")
            rows_of.append((path, np.zeros(0, dtype=np.int64)))
            continue
        rows = index.get_indexer(np.asarray(got.obs_names, dtype=object)).astype(np.int64)
        if (rows < 0).any():
            problems.append(f"{path}: {int((rows < 0).sum())} obs names not in the source")
        rows_of.append((path, rows))
        loaded.append((path, got, rows))
    cs.check_coverage(src.n_obs, rows_of, size, order, problems)
    for path, got, rows in loaded:
        if (rows < 0).any():
            continue
        # source[rows] keeps the full category lists and the induced obsp graphs
        exp = src[rows].copy()
        if obsp_blocks:
            for k in list(exp.obsp.keys()):
                exp.obsp[k] = block_diagonal(exp.obsp[k], rows, obsp_blocks)
        check_one(problems, path, got, exp)
    import zarr
    return problems, (f"OK: {len(outputs)} outputs hold all {src.n_obs} rows of {source}; "
                      f"anndata {anndata.__version__}, zarr {zarr.__version__}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True)
    p.add_argument("--order", choices=["any", "contiguous"], default="any")
    p.add_argument("--size", type=int)
    p.add_argument("--obsp-blocks", type=int, metavar="N")
    p.add_argument("outputs", nargs="+")
    cs.rows_arg(p)
    a = p.parse_args(argv)
    cs.use_rows(a)
    problems, summary = run(a.source, a.outputs, a.order, a.size, a.obsp_blocks)
    if problems:
        for line in problems:
            print(line)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

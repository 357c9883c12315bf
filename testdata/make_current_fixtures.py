#!/usr/bin/env python3
"""Fixtures written by current anndata (>= 0.12) for the Go tests' current oracle.

Why: users write their files with today's anndata, not Debian's 0.8: new
encodings (nullable string arrays, "null" elements, awkward arrays), zarr
v3 stores and sharded zarr v3 arrays. Run with the project venv:

    .venv/bin/python testdata/make_current_fixtures.py OUTDIR

Each AnnData below is written four times: NAME.h5ad, NAME_v2.zarr (zarr
format 2, anndata's default), NAME_v3.zarr (settings.zarr_write_format = 3)
and NAME_v3s.zarr (format 3 with settings.auto_shard_zarr_v3: the sharding
codec). Names:

* plain: csr X, numeric and categorical obs, var: the least a file has
  (tells "v3 stores" apart from "new encodings").
* gen: anndata.tests.helpers.gen_adata as anndata's own tests use it
  (nullable ints/bools, sparse arrays, data frames in obsm, awkward arrays,
  record arrays and data frames in uns).
* gen_noawk: the same without awkward arrays (so the rest is still tested
  while awkward arrays are unsupported).
* eco: what a scanpy analysis leaves: nullable and pandas string columns
  with NAs, categoricals with NA, raw, neighbors graphs, rank_genes_groups
  record arrays, colours, parameters.
* stridx: plain with a pandas "string" obs index (pandas 3's default str).
* awk: plain with awkward arrays of every form class we take by rows in obsm.
"""

import os
import sys
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

warnings.filterwarnings("ignore")
import anndata as ad  # noqa: E402


def plain(rng):
    n, m = 90, 40
    X = sp.random(n, m, density=0.2, format="csr", dtype=np.float32, random_state=rng)
    obs = pd.DataFrame({
        "cluster": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        "n_counts": rng.integers(0, 1000, n).astype(np.int64),
        "score": rng.random(n),
    }, index=[f"cell{i}" for i in range(n)])
    var = pd.DataFrame({"mean": rng.random(m)}, index=[f"gene{i}" for i in range(m)])
    return ad.AnnData(X=X, obs=obs, var=var)


def gen(rng, awkward=True):
    from anndata.tests.helpers import gen_adata
    np.random.seed(0)  # gen_adata also draws from numpy's global generator
    if awkward:
        a = gen_adata((90, 40), random_state=rng)
    else:
        kinds = (sp.csr_matrix, np.ndarray, pd.DataFrame, sp.csr_array)
        a = gen_adata((90, 40), obsm_types=kinds, varm_types=kinds, random_state=rng)
        for k in [k for k in a.uns if k.startswith("awkward")]:
            del a.uns[k]
    return a


def eco(rng):
    n, m = 120, 50
    X = sp.random(n, m, density=0.15, format="csr", dtype=np.float32, random_state=rng)
    idx = [f"AAAC{i:04d}-1" for i in range(n)]
    genes = [f"GENE{i}" for i in range(m)]
    na = rng.random(n) < 0.2
    donor = pd.array(np.where(na, None, rng.choice(["d1", "d2", "d3"], n)).tolist(), dtype="string")
    obs = pd.DataFrame({
        "donor": donor,  # nullable string array (allow_write_nullable_strings)
        "leiden": pd.Categorical(np.where(rng.random(n) < 0.1, None, rng.choice(["0", "1", "2", "3"], n))),
        "n_genes": pd.array(np.where(na, None, rng.integers(0, 500, n)).tolist(), dtype="Int32"),
        "is_doublet": pd.array(np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.5).tolist(), dtype="boolean"),
        "pct_mito": rng.random(n).astype(np.float32),
    }, index=idx)
    var = pd.DataFrame({
        "gene_ids": pd.array([f"ENSG{i:011d}" for i in range(m)], dtype="string"),
        "highly_variable": rng.random(m) < 0.3,
    }, index=genes)
    a = ad.AnnData(X=X, obs=obs, var=var)
    a.raw = a.copy()
    a.layers["counts"] = X.copy()
    a.obsm["X_pca"] = rng.random((n, 10)).astype(np.float32)
    a.obsm["X_umap"] = rng.random((n, 2))
    g = sp.random(n, n, density=0.05, format="csr", random_state=rng)
    a.obsp["distances"], a.obsp["connectivities"] = g.astype(np.float64), (g > 0).astype(np.float32)
    groups = ["0", "1", "2", "3"]
    names = np.rec.fromarrays([np.array(rng.choice(genes, 5), dtype=object) for _ in groups], names=groups)
    scores = np.rec.fromarrays([rng.random(5).astype(np.float32) for _ in groups], names=groups)
    a.uns["rank_genes_groups"] = {
        "params": {"groupby": "leiden", "method": "wilcoxon", "use_raw": True},
        "names": names, "scores": scores,
    }
    a.uns["leiden_colors"] = np.array(["#1f77b4", "#ff7f0e", "#279e68", "#d62728"], dtype=object)
    a.uns["neighbors"] = {"params": {"n_neighbors": 15, "method": "umap", "metric": "euclidean"},
                          "connectivities_key": "connectivities", "distances_key": "distances"}
    a.uns["pca"] = {"variance_ratio": rng.random(10), "params": {"zero_center": True}}
    return a


def stridx(rng):
    """plain with a pandas "string" obs index: written as a nullable string array."""
    a = plain(rng)
    a.obs_names = pd.Index(a.obs_names, dtype="string")
    return a


def awk(rng):
    """plain with awkward arrays in obsm, one per form class we take by rows:
    lists of numbers, lists of lists, regular arrays, records, strings (lists
    of chars), empty rows included."""
    import awkward as ak
    a = plain(rng)
    n = a.n_obs
    lens = rng.integers(0, 6, n)
    lens[:3] = 0
    a.obsm["ragged"] = ak.Array([rng.integers(0, 100, k).tolist() for k in lens])
    a.obsm["nested"] = ak.Array([[rng.random(int(j)).tolist() for j in rng.integers(0, 3, k)] for k in lens])
    a.obsm["regular"] = ak.to_regular(ak.Array(rng.random((n, 3)).tolist()), axis=1)
    a.obsm["records"] = ak.Array([{"x": int(i), "y": [float(v) for v in rng.random(int(k))]} for i, k in enumerate(lens)])
    a.obsm["strings"] = ak.Array([f"cell-{i}" * int(k % 3) for i, k in enumerate(lens)])
    a.obsm["optional"] = ak.Array([None if i % 4 == 0 else list(range(int(k))) for i, k in enumerate(lens)])
    a.obsm["holes"] = ak.Array([[1, None, 3][: int(k % 4)] for k in lens])
    a.obsm["masked"] = ak.mask(ak.Array(rng.random(n)), np.arange(n) % 3 != 0)
    a.uns["awk"] = ak.Array([[1, 2], [], [3]])
    return a


def write_all(a, out, name):
    a.write_h5ad(os.path.join(out, f"{name}.h5ad"))
    with ad.settings.override(zarr_write_format=2):
        a.write_zarr(os.path.join(out, f"{name}_v2.zarr"))
    with ad.settings.override(zarr_write_format=3):
        a.write_zarr(os.path.join(out, f"{name}_v3.zarr"))
    with ad.settings.override(zarr_write_format=3, auto_shard_zarr_v3=True):
        a.write_zarr(os.path.join(out, f"{name}_v3s.zarr"))


def main(out):
    os.makedirs(out, exist_ok=True)
    ad.settings.allow_write_nullable_strings = True
    write_all(plain(np.random.default_rng(1)), out, "plain")
    write_all(gen(np.random.default_rng(2)), out, "gen")
    write_all(gen(np.random.default_rng(3), awkward=False), out, "gen_noawk")
    write_all(eco(np.random.default_rng(4)), out, "eco")
    write_all(stridx(np.random.default_rng(5)), out, "stridx")
    write_all(awk(np.random.default_rng(6)), out, "awk")


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""Write the small, deterministic .h5ad fixtures that annslicer's tests shard.

Why: the Go tests need real AnnData files covering every element kind the
engine must row-slice or copy (CSR/dense matrices, every obs column encoding,
obsm/obsp/varm/varp, nested uns, raw, compressed storage, the anndata 0.7
legacy layout, a newer encoding anndata 0.8 cannot write) plus a few broken
inputs. They are written by the real writers (anndata 0.8 / h5py) so that the
oracle (check_shards.py) compares the Go output with what Python produces.

Everything is seeded (numpy seed 0 and fixed per-fixture seeds), so the same
files come out on every run; the whole set is written in about a second.

Usage:  /usr/bin/python3 testdata/make_fixtures.py OUTDIR
"""

import argparse
import os
import sys
import time
import warnings

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

warnings.filterwarnings("ignore")  # anndata's FutureWarnings / OldFormatWarning
import anndata as ad  # noqa: E402

SEED = 0


def random_csr(rng, n_rows, n_cols, density, dtype, index_dtype=np.int32):
    """CSR with sorted column indices, ~density filled, values of dtype.

    Integer dtypes get small positive integers; floats get uniform values."""
    mask = rng.random((n_rows, n_cols)) < density
    rows, cols = np.nonzero(mask)
    if np.issubdtype(dtype, np.integer):
        vals = rng.integers(1, 100, size=rows.size).astype(dtype)
    else:
        vals = rng.random(rows.size).astype(dtype) * 10
    m = sp.csr_matrix((vals, (rows, cols)), shape=(n_rows, n_cols), dtype=dtype)
    m.sort_indices()
    m.indices = m.indices.astype(index_dtype)
    m.indptr = m.indptr.astype(index_dtype)
    return m


def random_graph(rng, n, n_edges, dtype):
    """Random symmetric sparse graph (no self loops) as CSR of dtype."""
    i = rng.integers(0, n, n_edges)
    j = rng.integers(0, n, n_edges)
    keep = i != j
    i, j = i[keep], j[keep]
    w = rng.random(i.size).astype(dtype) + dtype(0.5)
    g = sp.coo_matrix((np.r_[w, w], (np.r_[i, j], np.r_[j, i])), shape=(n, n))
    g.sum_duplicates()
    g = g.tocsr().astype(dtype)
    g.sort_indices()
    return g


def make_obs(rng, n, with_nullable=True):
    """An obs frame holding every column encoding anndata 0.8 writes."""
    names = [f"cell_{i}" for i in range(n)]
    f64 = rng.normal(size=n)
    f64[::17] = np.nan  # NaN must survive exactly
    cat_vals = rng.choice(["T", "B", "NK"], size=n)  # 'Mono', 'DC' unused
    cat = pd.Categorical(cat_vals, categories=["B", "DC", "Mono", "NK", "T"])
    ordered = pd.Categorical(
        rng.choice(["low", "mid", "high"], size=n),
        categories=["low", "mid", "high"], ordered=True)
    codes = rng.integers(-1, 3, size=n)  # -1 = missing
    cat_na = pd.Categorical.from_codes(codes, categories=["x", "y", "z"])
    obs = pd.DataFrame(
        {
            "f64": f64,
            "i32": rng.integers(-1000, 1000, size=n).astype(np.int32),
            "flag": rng.random(n) < 0.3,
            # unique strings: write_h5ad turns non-unique strings into categoricals
            "barcode": [f"BC{i:05d}-{rng.integers(0, 1 << 30):x}" for i in range(n)],
            "cell_type": cat,
            "level": ordered,
            "cat_na": cat_na,
        },
        index=pd.Index(names),
    )
    if with_nullable:
        ints = pd.array(rng.integers(0, 50, size=n), dtype="Int64")
        ints[rng.random(n) < 0.2] = pd.NA
        bools = pd.array(rng.random(n) < 0.5, dtype="boolean")
        bools[rng.random(n) < 0.2] = pd.NA
        obs["n_int"] = ints
        obs["maybe"] = bools
    return obs


def make_var(rng, n, prefix="gene"):
    return pd.DataFrame(
        {
            "gene_ids": [f"ENSG{i:011d}" for i in range(n)],
            "mean": rng.random(n),
            "highly_variable": rng.random(n) < 0.5,
            "chrom": pd.Categorical(rng.choice(["chr1", "chr2", "chrX"], size=n)),
        },
        index=pd.Index([f"{prefix}_{i}" for i in range(n)]),
    )


def make_full(rng, n_obs=503, n_vars=37, n_raw_vars=45):
    """The everything-in-it AnnData used by full.h5ad and the compressed ones."""
    obs = make_obs(rng, n_obs)
    var = make_var(rng, n_vars)
    X = random_csr(rng, n_obs, n_vars, 0.1, np.float32)
    a = ad.AnnData(X=X, obs=obs, var=var, dtype=np.float32)
    a.layers["counts"] = random_csr(rng, n_obs, n_vars, 0.1, np.int64)
    a.layers["dense"] = rng.normal(size=(n_obs, n_vars))
    a.layers["u16"] = rng.integers(0, 65535, size=(n_obs, n_vars)).astype(np.uint16)
    a.obsm["X_pca"] = rng.normal(size=(n_obs, 10))
    a.obsm["X_umap"] = rng.normal(size=(n_obs, 2)).astype(np.float32)
    a.obsm["sparse"] = random_csr(rng, n_obs, 7, 0.2, np.float32)
    a.obsm["df"] = pd.DataFrame(
        {
            "score": rng.random(n_obs),
            "batch": pd.Categorical(rng.choice(["b1", "b2"], size=n_obs),
                                    categories=["b1", "b2", "b3"]),
        },
        index=a.obs_names.copy(),
    )
    a.varm["PCs"] = rng.normal(size=(n_vars, 10))
    a.obsp["distances"] = random_graph(rng, n_obs, 4 * n_obs, np.float64)
    a.obsp["connectivities"] = random_graph(rng, n_obs, 3 * n_obs, np.float32)
    a.varp["corr"] = rng.normal(size=(n_vars, n_vars)).astype(np.float32)
    a.uns["n_int"] = 42
    a.uns["x_float"] = 3.25
    a.uns["title"] = "annslicer fixture"
    a.uns["arr"] = np.arange(6, dtype=np.int64) * 3
    a.uns["names"] = np.array(["alpha", "beta", "gamma"], dtype=object)
    a.uns["table"] = pd.DataFrame(
        {"k": np.arange(4), "name": ["a", "b", "c", "d"]},
        index=[f"r{i}" for i in range(4)])
    a.uns["nested"] = {
        "level1": {"level2": {"value": 7, "vec": np.linspace(0, 1, 5)}, "s": "deep"},
        "flag": True,
    }
    # raw: more genes, different values, a var column and a varm entry
    raw_var = pd.DataFrame(
        {"gene_ids": [f"ENSG{i:011d}" for i in range(n_raw_vars)],
         "dispersion": rng.random(n_raw_vars)},
        index=pd.Index([f"gene_{i}" for i in range(n_raw_vars)]))
    raw = ad.AnnData(X=random_csr(rng, n_obs, n_raw_vars, 0.15, np.float32),
                     obs=pd.DataFrame(index=a.obs_names.copy()), var=raw_var,
                     dtype=np.float32)
    raw.varm["loadings"] = rng.normal(size=(n_raw_vars, 3))
    a.raw = raw
    return a


def write_full(outdir):
    a = make_full(np.random.default_rng(SEED))
    a.write_h5ad(os.path.join(outdir, "full.h5ad"))


def write_compressed(outdir):
    for comp in ("gzip", "lzf"):
        a = make_full(np.random.default_rng(SEED + 1), n_obs=257)
        a.write_h5ad(os.path.join(outdir, f"compressed_{comp}.h5ad"), compression=comp)


def write_int64idx(outdir):
    rng = np.random.default_rng(SEED + 2)
    n_obs, n_vars = 211, 29
    X = random_csr(rng, n_obs, n_vars, 0.12, np.float64, index_dtype=np.int64)
    obs = pd.DataFrame(
        {"group": pd.Categorical(rng.choice(["g1", "g2", "g3"], size=n_obs))},
        index=[f"cell_{i}" for i in range(n_obs)])
    a = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"gene_{i}" for i in range(n_vars)]),
                   dtype=np.float64)
    assert a.X.indptr.dtype == np.int64 and a.X.indices.dtype == np.int64
    path = os.path.join(outdir, "int64idx.h5ad")
    a.write_h5ad(path)
    with h5py.File(path, "r") as f:
        assert f["X/indptr"].dtype == np.int64 and f["X/indices"].dtype == np.int64


def write_dense(outdir):
    rng = np.random.default_rng(SEED + 3)
    n_obs, n_vars = 101, 13
    a = ad.AnnData(
        X=rng.normal(size=(n_obs, n_vars)).astype(np.float32),
        obs=pd.DataFrame({"v": rng.random(n_obs)},
                         index=[f"cell_{i}" for i in range(n_obs)]),
        var=pd.DataFrame(index=[f"gene_{i}" for i in range(n_vars)]),
        dtype=np.float32)
    a.layers["i8"] = rng.integers(-128, 127, size=(n_obs, n_vars)).astype(np.int8)
    a.write_h5ad(os.path.join(outdir, "dense.h5ad"))


def write_csc(outdir):
    rng = np.random.default_rng(SEED + 4)
    n_obs, n_vars = 97, 23
    X = random_csr(rng, n_obs, n_vars, 0.15, np.float32).tocsc()
    X.sort_indices()
    a = ad.AnnData(X=X, obs=pd.DataFrame(index=[f"cell_{i}" for i in range(n_obs)]),
                   var=pd.DataFrame(index=[f"gene_{i}" for i in range(n_vars)]),
                   dtype=np.float32)
    path = os.path.join(outdir, "csc.h5ad")
    a.write_h5ad(path)
    with h5py.File(path, "r") as f:
        assert f["X"].attrs["encoding-type"] == "csc_matrix"


# --------------------------------------------------------------------------
# anndata 0.7 layout, by hand. What anndata 0.7.x's h5ad writer produced:
#  * no encoding attrs on the root group;
#  * dataframes: group, attrs encoding-type=dataframe, encoding-version=0.1.0,
#    _index, column-order; columns are plain datasets WITHOUT attrs: strings as
#    vlen str, numbers/bools as they are; categoricals as an integer `codes`
#    dataset named after the column whose attr `categories` is an object
#    reference to `__categories/<col>` (vlen str) carrying attr `ordered`;
#  * sparse: group with attrs encoding-type=csr_matrix, encoding-version=0.1.0,
#    shape, and datasets created with maxshape=(None,) (so chunked);
#  * dense arrays, dicts (obsm, varm, layers, uns, obsp): no attrs at all;
#    empty mappings are not written at all;
#  * raw: group with attrs encoding-type=raw, encoding-version=0.1.0, shape
#    (n_obs, n_raw_vars), holding X, var (dataframe), varm (if non-empty).
# --------------------------------------------------------------------------

def _v07_series(group, key, values):
    if isinstance(values, pd.Categorical):
        cat_key = f"__categories/{key}"
        group.create_dataset(cat_key, data=np.asarray(values.categories.values, dtype=object),
                             dtype=h5py.special_dtype(vlen=str))
        group.create_dataset(key, data=values.codes)
        group[key].attrs["categories"] = group[cat_key].ref
        group[cat_key].attrs["ordered"] = values.ordered
    elif isinstance(values, np.ndarray) and values.dtype == object:
        group.create_dataset(key, data=values, dtype=h5py.special_dtype(vlen=str))
    else:
        group[key] = values


def _v07_dataframe(f, key, df):
    g = f.create_group(key)
    g.attrs["encoding-type"] = "dataframe"
    g.attrs["encoding-version"] = "0.1.0"
    g.attrs["column-order"] = list(df.columns)
    g.attrs["_index"] = "_index"
    _v07_series(g, "_index", np.asarray(df.index.values, dtype=object))
    for col in df.columns:
        s = df[col]
        _v07_series(g, col, s.values if not hasattr(s, "cat") else s.values)


def _v07_csr(f, key, m):
    g = f.create_group(key)
    g.attrs["encoding-type"] = "csr_matrix"
    g.attrs["encoding-version"] = "0.1.0"
    g.attrs["shape"] = m.shape
    for name in ("data", "indices", "indptr"):
        g.create_dataset(name, data=getattr(m, name), maxshape=(None,))


def write_v07(outdir):
    rng = np.random.default_rng(SEED + 5)
    n_obs, n_vars, n_raw = 131, 17, 21
    obs = make_obs(rng, n_obs, with_nullable=False)
    obs = obs.drop(columns=["cat_na"])  # keep to what 0.7 users had typically
    var = make_var(rng, n_vars)
    path = os.path.join(outdir, "v07.h5ad")
    with h5py.File(path, "w") as f:
        _v07_csr(f, "X", random_csr(rng, n_obs, n_vars, 0.1, np.float32))
        _v07_dataframe(f, "obs", obs)
        _v07_dataframe(f, "var", var)
        f.create_group("obsm")["X_pca"] = rng.normal(size=(n_obs, 5))
        f.create_group("varm")["PCs"] = rng.normal(size=(n_vars, 5))
        _v07_csr(f.create_group("layers"), "counts",
                 random_csr(rng, n_obs, n_vars, 0.1, np.float32))
        _v07_csr(f.create_group("obsp"), "distances",
                 random_graph(rng, n_obs, 2 * n_obs, np.float64))
        uns = f.create_group("uns")
        uns["n_int"] = np.array(5)
        uns.create_dataset("title", data=np.array("legacy", dtype=object),
                           dtype=h5py.special_dtype(vlen=str))
        uns["arr"] = np.arange(4.0)
        uns.create_group("neighbors").create_group("params")["k"] = np.array(15)
        raw = f.create_group("raw")
        raw.attrs["encoding-type"] = "raw"
        raw.attrs["encoding-version"] = "0.1.0"
        raw.attrs["shape"] = (n_obs, n_raw)
        _v07_csr(raw, "X", random_csr(rng, n_obs, n_raw, 0.1, np.float32))
        _v07_dataframe(raw, "var", make_var(rng, n_raw))
    # It must load with anndata 0.8, categoricals as categoricals.
    a = ad.read_h5ad(path)
    assert a.shape == (n_obs, n_vars)
    for col in ("cell_type", "level"):
        assert isinstance(a.obs[col].dtype, pd.CategoricalDtype), col
        assert list(a.obs[col].cat.categories) == list(obs[col].cat.categories)
    assert a.obs["level"].cat.ordered and not a.obs["cell_type"].cat.ordered
    assert isinstance(a.var["chrom"].dtype, pd.CategoricalDtype)
    assert a.obs["barcode"].tolist() == obs["barcode"].tolist()
    assert a.raw is not None and a.raw.shape == (n_obs, n_raw)


def write_nullable_string(outdir):
    """anndata >= 0.10 encodes pd.StringDtype as nullable-string-array; 0.8
    cannot write or read it, so add such a column to obs with h5py."""
    rng = np.random.default_rng(SEED + 6)
    n_obs, n_vars = 67, 11
    a = ad.AnnData(
        X=random_csr(rng, n_obs, n_vars, 0.2, np.float32),
        obs=make_obs(rng, n_obs),
        var=make_var(rng, n_vars), dtype=np.float32)
    a.obsm["X_pca"] = rng.normal(size=(n_obs, 4))
    path = os.path.join(outdir, "nullable_string.h5ad")
    a.write_h5ad(path)
    with h5py.File(path, "r+") as f:
        obs = f["obs"]
        g = obs.create_group("label")
        g.attrs["encoding-type"] = "nullable-string-array"
        g.attrs["encoding-version"] = "0.1.0"
        values = np.array([f"lbl{rng.integers(0, 9)}" for _ in range(n_obs)], dtype=object)
        mask = rng.random(n_obs) < 0.25
        values[mask] = ""
        g.create_dataset("values", data=values, dtype=h5py.string_dtype("utf-8"))
        g.create_dataset("mask", data=mask)
        order = list(obs.attrs["column-order"]) + ["label"]
        obs.attrs["column-order"] = order


def write_broken(outdir):
    with h5py.File(os.path.join(outdir, "not_anndata.h5"), "w") as f:
        f["measurements"] = np.arange(100, dtype=np.float64).reshape(10, 10)
        f["measurements"].attrs["unit"] = "mV"
    with open(os.path.join(outdir, "not_hdf5.h5ad"), "w") as fh:
        fh.write("this is a plain text file, not an HDF5 / AnnData file\n")
    with open(os.path.join(outdir, "full.h5ad"), "rb") as fh:
        data = fh.read()
    with open(os.path.join(outdir, "truncated.h5ad"), "wb") as fh:
        fh.write(data[: len(data) // 2])


def make_all(outdir):
    """Write every fixture into outdir; returns the list of file names."""
    np.random.seed(SEED)
    os.makedirs(outdir, exist_ok=True)
    write_full(outdir)
    write_compressed(outdir)
    write_int64idx(outdir)
    write_dense(outdir)
    write_csc(outdir)
    write_v07(outdir)
    write_nullable_string(outdir)
    write_broken(outdir)  # after full.h5ad: truncated.h5ad is cut from it
    return sorted(os.listdir(outdir))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("outdir", help="directory to write the fixtures into (created)")
    args = p.parse_args(argv)
    t0 = time.time()
    names = make_all(args.outdir)
    print(f"wrote {len(names)} fixtures to {args.outdir} in {time.time() - t0:.2f}s: "
          + " ".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())

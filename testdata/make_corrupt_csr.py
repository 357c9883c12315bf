#!/usr/bin/env python3
"""Write small AnnData sources whose sparse matrices or shapes are corrupt.

Why: a shard must hold exactly source[rows] or the run must fail; an indptr
that points outside data/indices, data shorter than indices, a shape that
disagrees with var, or a declared size of 2^40 must be refused with a clear
error, never copied from whatever bytes lie next to the array and never
trusted for an allocation. engine_validation_test.go slices each file here
(h5ad out, gzip out, zarr out) and requires a one-line error, a non-zero
exit and nothing left behind; the untouched bases must slice exactly.

Each case exists in three h5ad storage layouts (contiguous as anndata
writes it, chunked without filters, chunked with gzip) and as a zarr
store, so both shard builders and every read path are covered.

Usage:  /usr/bin/python3 testdata/make_corrupt_csr.py OUTDIR
Prints one line per written source: its file name.
"""

import json
import os
import shutil
import sys
import warnings

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

warnings.filterwarnings("ignore")
import anndata as ad  # noqa: E402
import zarr  # noqa: E402

N_OBS, N_VARS, N_RAW_VARS = 200, 30, 40
HUGE = 1 << 40

# the CSR elements a shard gathers by rows (or, obsp, as a sub-graph)
CSR = ["X", "layers/counts", "obsm/sparse", "obsp/conn", "raw/X"]


def csr(rng, n, m, density, dtype):
    a = sp.random(n, m, density=density, format="csr", random_state=rng, dtype=np.float64)
    a.data = (a.data * 100 + 1).astype(dtype)
    a.sort_indices()
    return a


def base():
    rng = np.random.default_rng(9)
    obs = pd.DataFrame({"x": rng.random(N_OBS)}, index=[f"c{i}" for i in range(N_OBS)])
    var = pd.DataFrame(index=[f"g{i}" for i in range(N_VARS)])
    a = ad.AnnData(X=csr(rng, N_OBS, N_VARS, 0.2, np.float32), obs=obs, var=var, dtype=np.float32)
    a.layers["counts"] = csr(rng, N_OBS, N_VARS, 0.2, np.int64)
    a.layers["dense"] = rng.normal(size=(N_OBS, N_VARS))
    a.obsm["sparse"] = csr(rng, N_OBS, 7, 0.3, np.float32)
    a.obsm["pca"] = rng.normal(size=(N_OBS, 5))
    g = csr(rng, N_OBS, N_OBS, 0.05, np.float32)
    a.obsp["conn"] = (g + g.T).tocsr()
    raw_var = pd.DataFrame(index=[f"g{i}" for i in range(N_RAW_VARS)])
    a.raw = ad.AnnData(X=csr(rng, N_OBS, N_RAW_VARS, 0.2, np.float32),
                       obs=pd.DataFrame(index=a.obs_names.copy()), var=raw_var, dtype=np.float32)
    return a


# ---- corruptions, each on an open h5py.File or zarr.Group (same API)

def set_ptr(f, el, i, delta=None, value=None):
    p = f[el + "/indptr"]
    v = p[...]
    v[i] = value if value is not None else v[i] + delta
    p[...] = v


def shorten(f, el, name, by):
    """Rewrite el/name `by` entries shorter, keeping dtype, layout, attrs."""
    d = f[el + "/" + name]
    v = d[...][:-by]
    if isinstance(d, h5py.Dataset):
        kw = {"chunks": None}
        if d.chunks is not None:
            kw["chunks"] = (min(16, max(1, len(v))),) if d.compression is None else True
            kw["compression"] = d.compression
        attrs = dict(d.attrs)
        del f[el + "/" + name]
        nd = f[el].create_dataset(name, data=v, **kw)
        nd.attrs.update(attrs)
    else:
        d.resize(len(v))
        d[...] = v


def set_shape(f, el, shape):
    f[el].attrs["shape"] = np.array(shape, dtype=np.int64) if isinstance(f, h5py.File) else list(shape)


def string_data(f, el):
    d = f[el + "/data"]
    n = len(d)
    del f[el + "/data"]
    if isinstance(f, h5py.File):
        f[el].create_dataset("data", data=np.array(["v"] * n, dtype=object), dtype=h5py.string_dtype())
    else:
        f[el].create_dataset("data", data=np.array(["v"] * n, dtype=object), dtype=object,
                             object_codec=__import__("numcodecs").VLenUTF8())


def nnz(f, el):
    return int(f[el + "/indptr"][-1])


CASES = {}


def case(name):
    def reg(fn):
        CASES[name] = fn
        return fn
    return reg


for el in CSR:
    tag = el.replace("/", "_")
    case(f"{tag}_ptr_past")(lambda f, el=el: set_ptr(f, el, -1, delta=500))

case("X_ptr_neg0")(lambda f: set_ptr(f, "X", 0, value=-1000))
case("X_ptr_mid")(lambda f: set_ptr(f, "X", N_OBS // 2, value=3 * nnz(f, "X")))
case("X_ptr_dip")(lambda f: set_ptr(f, "X", N_OBS // 2, value=-7))
case("X_data_short")(lambda f: shorten(f, "X", "data", 100))
case("X_indices_short")(lambda f: shorten(f, "X", "indices", 100))
case("obsp_conn_data_short")(lambda f: shorten(f, "obsp/conn", "data", 50))
case("X_shape_cols")(lambda f: set_shape(f, "X", (N_OBS, N_VARS + 1)))
case("X_shape_neg")(lambda f: set_shape(f, "X", (N_OBS, -5)))
case("X_shape_huge")(lambda f: set_shape(f, "X", (N_OBS, HUGE)))
case("X_shape_rows")(lambda f: set_shape(f, "X", (N_OBS + 1, N_VARS)))
case("layers_counts_shape_cols")(lambda f: set_shape(f, "layers/counts", (N_OBS, N_VARS - 1)))
case("raw_X_shape_cols")(lambda f: set_shape(f, "raw/X", (N_OBS, N_VARS)))
case("obsm_sparse_shape_neg")(lambda f: set_shape(f, "obsm/sparse", (N_OBS, -1)))
case("obsm_sparse_shape_huge")(lambda f: set_shape(f, "obsm/sparse", (N_OBS, HUGE)))
case("X_string_data")(lambda f: string_data(f, "X"))


def dense_cols(f, el, cols):
    del f[el]
    f.create_dataset(el, data=np.zeros((N_OBS, cols)))


case("layers_dense_cols")(lambda f: dense_cols(f, "layers/dense", N_VARS + 1))


def dense_strings(f):
    del f["X"]
    v = np.full((N_OBS, N_VARS), "v", dtype=object)
    if isinstance(f, h5py.File):
        f.create_dataset("X", data=v.astype("S1"))
    else:
        f.create_dataset("X", data=v, dtype=object, object_codec=__import__("numcodecs").VLenUTF8())


case("X_dense_strings")(dense_strings)


def var_huge_h5(f):
    # no X, layers or raw to disagree with: var's index itself declares
    # 2^40 strings, in chunks never written
    for el in ("X", "layers", "raw"):
        del f[el]
    idx = f["var"].attrs["_index"]
    del f["var/" + idx]
    f["var"].create_dataset(idx, shape=(HUGE,), dtype=h5py.string_dtype(), chunks=(1 << 16,))


def var_huge_zarr(path):
    for el in ("X", "layers", "raw"):
        shutil.rmtree(os.path.join(path, el))
    meta_path = os.path.join(path, "var", "_index", ".zarray")
    with open(meta_path) as fh:
        meta = json.load(fh)
    meta["shape"] = [HUGE]
    meta["chunks"] = [HUGE]
    with open(meta_path, "w") as fh:
        json.dump(meta, fh)


BIG = 1 << 30


def data_huge(f, el):
    """data and indices declared 2^30 long (h5ad: in chunks never written,
    a few KB on disk; zarr: one chunk, by .zarray), indptr's last row
    spanning all of it: within bounds, but a row of 2^30 entries."""
    if isinstance(f, h5py.File):
        for name in ("data", "indices"):
            d = f[el + "/" + name]
            v, attrs = d[...], dict(d.attrs)
            del f[el + "/" + name]
            nd = f[el].create_dataset(name, shape=(BIG,), dtype=v.dtype, chunks=(4096,))
            nd[:len(v)] = v
            nd.attrs.update(attrs)
    else:
        for name in ("data", "indices"):
            meta_path = os.path.join(f.store.path, el, name, ".zarray")
            with open(meta_path) as fh:
                meta = json.load(fh)
            meta["shape"], meta["chunks"] = [BIG], [BIG]
            with open(meta_path, "w") as fh:
                json.dump(meta, fh)
    set_ptr(f, el, -1, value=BIG)


case("X_data_huge")(lambda f: data_huge(f, "X"))
case("obsp_conn_data_huge")(lambda f: data_huge(f, "obsp/conn"))


def huge_h5(f):
    # unallocated chunks read as the fill value: a tiny file declaring a
    # 200 x 2^40 float64 array (1.6 PiB)
    del f["obsm/pca"]
    f.create_dataset("obsm/pca", shape=(N_OBS, HUGE), dtype="f8", chunks=(1, 1 << 16))


def relayout(f, chunks):
    """Rewrite every array of the CSR groups contiguous (chunks None; anndata
    0.8 writes them chunked) or chunked without filters."""
    for el in CSR:
        for name in ("data", "indices", "indptr"):
            d = f[el + "/" + name]
            v, attrs = d[...], dict(d.attrs)
            del f[el + "/" + name]
            f[el].create_dataset(name, data=v, chunks=chunks).attrs.update(attrs)


def write_h5(a, out, layout):
    if layout == "gzip":
        a.write_h5ad(out, compression="gzip")
    else:
        a.write_h5ad(out)
    if layout != "gzip":
        with h5py.File(out, "r+") as f:
            relayout(f, (16,) if layout == "chunked" else None)


def huge_zarr(path):
    meta_path = os.path.join(path, "obsm", "pca", ".zarray")
    with open(meta_path) as fh:
        meta = json.load(fh)
    meta["shape"] = [N_OBS, HUGE]
    meta["chunks"] = [N_OBS, HUGE]
    with open(meta_path, "w") as fh:
        json.dump(meta, fh)
    zm = os.path.join(path, ".zmetadata")
    if os.path.exists(zm):
        os.remove(zm)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    a = base()
    for layout in ("contig", "chunked", "gzip"):
        p = os.path.join(out, f"base_{layout}.h5ad")
        write_h5(a, p, layout)
        print(os.path.basename(p))
    zbase = os.path.join(out, "base.zarr")
    a.write_zarr(zbase)
    print("base.zarr")
    for name, fn in sorted(CASES.items()):
        for layout in ("contig", "chunked", "gzip"):
            p = os.path.join(out, f"{name}_{layout}.h5ad")
            shutil.copy(os.path.join(out, f"base_{layout}.h5ad"), p)
            with h5py.File(p, "r+") as f:
                fn(f)
            print(os.path.basename(p))
        p = os.path.join(out, f"{name}.zarr")
        shutil.copytree(zbase, p)
        fn(zarr.open_group(p, mode="r+"))
        zm = os.path.join(p, ".zmetadata")
        if os.path.exists(zm):
            os.remove(zm)
        print(os.path.basename(p))
    p = os.path.join(out, "obsm_huge_contig.h5ad")
    shutil.copy(os.path.join(out, "base_contig.h5ad"), p)
    with h5py.File(p, "r+") as f:
        huge_h5(f)
    print(os.path.basename(p))
    p = os.path.join(out, "obsm_huge.zarr")
    shutil.copytree(zbase, p)
    huge_zarr(p)
    print(os.path.basename(p))
    p = os.path.join(out, "var_huge_contig.h5ad")
    shutil.copy(os.path.join(out, "base_contig.h5ad"), p)
    with h5py.File(p, "r+") as f:
        var_huge_h5(f)
    print(os.path.basename(p))
    p = os.path.join(out, "var_huge.zarr")
    shutil.copytree(zbase, p)
    var_huge_zarr(p)
    print(os.path.basename(p))


if __name__ == "__main__":
    main()

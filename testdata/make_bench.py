#!/usr/bin/env python3
"""Write the benchmark-shaped .h5ad (default 200k cells x 10k genes) by streaming.

Why: annslicer's benchmark needs a realistic large file, but building it in
memory with anndata would need several GB of RAM and minutes on a shared
2-core machine. This writes the same bytes-level layout that anndata 0.8's
``write_h5ad`` (no compression) produces -- same groups, attributes, dtypes,
and the same storage choices (sparse data/indices/indptr chunked with
maxshape=(None,) and h5py's guessed chunk shape; dense arrays contiguous) --
block by block (10k rows) with h5py, so peak memory stays ~100-200 MB.

Content: X = log1p(counts) and layers/counts (integer-valued float32), both
CSR with the same ~density sparsity pattern, sorted unique column indices;
index dtype is what scipy would pick (int32 unless nnz or a dimension needs
int64; ``--index-dtype`` forces one); obsm/X_pca float64 cells x 10;
obs: categorical cell_type (20 categories) and float64 n_counts;
var: gene names only. Deterministic for a given --seed.

Usage:  /usr/bin/python3 testdata/make_bench.py OUT.h5ad [--cells 200000]
            [--genes 10000] [--density 0.01] [--seed 0]
"""

import argparse
import os
import resource
import sys
import time
import warnings

import h5py
import numpy as np

warnings.filterwarnings("ignore")

BLOCK = 10_000
N_TYPES = 20
N_PCS = 10


def set_enc(obj, etype, version):
    # anndata's write_elem sets these after writing the element
    obj.attrs.setdefault("encoding-type", etype)
    obj.attrs.setdefault("encoding-version", version)


def write_string_array(g, key, values):
    dt = h5py.special_dtype(vlen=str)
    ds = g.create_dataset(key, data=np.asarray(values, dtype=object).astype(dt), dtype=dt)
    set_enc(ds, "string-array", "0.2.0")
    return ds


def write_array(g, key, arr):
    ds = g.create_dataset(key, data=arr)
    set_enc(ds, "array", "0.2.0")
    return ds


def block_pattern(seed, block, n_rows, genes, density):
    """Sorted, unique (row, col) pairs of one block, and the counts there.

    Row r draws Binomial(genes, density) columns with replacement; duplicates
    are merged, so a row holds slightly fewer entries than drawn."""
    rng = np.random.default_rng([seed, block])
    draws = rng.binomial(genes, density, size=n_rows)
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), draws)
    cols = rng.integers(0, genes, size=rows.size, dtype=np.int64)
    keys = np.unique(rows * genes + cols)
    rows, cols = np.divmod(keys, genes)
    counts = (rng.geometric(0.35, size=keys.size)).astype(np.float32)  # 1, 2, 3, ...
    return rows, cols, counts


def blocks(cells):
    for b, start in enumerate(range(0, cells, BLOCK)):
        yield b, start, min(start + BLOCK, cells)


def create_csr(parent, key, shape, nnz, data_dtype, index_dtype):
    g = parent.create_group(key)
    g.attrs["shape"] = shape
    # same creation as anndata: final shape known, maxshape=(None,) -> chunked,
    # chunk shape guessed by h5py from (nnz,) and the item size
    d = g.create_dataset("data", shape=(nnz,), dtype=data_dtype, maxshape=(None,))
    i = g.create_dataset("indices", shape=(nnz,), dtype=index_dtype, maxshape=(None,))
    p = g.create_dataset("indptr", shape=(shape[0] + 1,), dtype=index_dtype, maxshape=(None,))
    return g, d, i, p


def write_bench(path, cells, genes, density, seed, index_dtype=None, tag="", private=0):
    """tag names this file's cells (cell_TAG_i) and its `private` last
    genes (gene_TAG_k): files with different tags make a collection whose
    cells are unique and whose genes are shared but for those."""
    t0 = time.time()
    # pass 1: row lengths (cheap: the pattern is regenerated in pass 2)
    row_len = np.zeros(cells, dtype=np.int64)
    for b, start, stop in blocks(cells):
        rows, _, _ = block_pattern(seed, b, stop - start, genes, density)
        row_len[start:stop] = np.bincount(rows, minlength=stop - start)
    nnz = int(row_len.sum())
    if index_dtype is None:  # scipy's rule (get_index_dtype)
        index_dtype = np.int32 if max(nnz, cells, genes) < 2**31 else np.int64
    indptr = np.zeros(cells + 1, dtype=np.int64)
    np.cumsum(row_len, out=indptr[1:])

    rng = np.random.default_rng([seed, 1 << 20])
    cell_type = rng.integers(0, N_TYPES, size=cells).astype(np.int8)
    n_counts = np.zeros(cells, dtype=np.float64)

    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs.setdefault("encoding-type", "anndata")
        f.attrs.setdefault("encoding-version", "0.1.0")
        X, xd, xi, xp = create_csr(f, "X", (cells, genes), nnz, np.float32, index_dtype)
        obs = f.create_group("obs")
        var = f.create_group("var")
        obsm = f.create_group("obsm")
        pca = obsm.create_dataset("X_pca", shape=(cells, N_PCS), dtype=np.float64)
        varm = f.create_group("varm")
        obsp = f.create_group("obsp")
        varp = f.create_group("varp")
        layers = f.create_group("layers")
        C, cd, ci, cp = create_csr(layers, "counts", (cells, genes), nnz, np.float32, index_dtype)
        uns = f.create_group("uns")

        xp[...] = indptr.astype(index_dtype)
        cp[...] = indptr.astype(index_dtype)
        for b, start, stop in blocks(cells):
            rows, cols, counts = block_pattern(seed, b, stop - start, genes, density)
            a, z = int(indptr[start]), int(indptr[stop])
            idx = cols.astype(index_dtype)
            xi[a:z] = idx
            ci[a:z] = idx
            cd[a:z] = counts
            xd[a:z] = np.log1p(counts)
            n_counts[start:stop] = np.bincount(rows, weights=counts, minlength=stop - start)
            prng = np.random.default_rng([seed, b, 2])
            pca[start:stop] = prng.normal(size=(stop - start, N_PCS))

        # obs / var frames, written as anndata's write_dataframe does
        obs.attrs["column-order"] = ["cell_type", "n_counts"]
        obs.attrs["_index"] = "_index"
        cell = f"cell_{tag}_" if tag else "cell_"
        write_string_array(obs, "_index", [f"{cell}{i}" for i in range(cells)])
        ct = obs.create_group("cell_type")
        ct.attrs["ordered"] = False
        write_array(ct, "codes", cell_type)
        write_string_array(ct, "categories", [f"type_{k:02d}" for k in range(N_TYPES)])
        set_enc(ct, "categorical", "0.2.0")
        write_array(obs, "n_counts", n_counts)
        set_enc(obs, "dataframe", "0.2.0")
        var.attrs["column-order"] = []  # h5py stores an empty float64 array, as anndata
        var.attrs["_index"] = "_index"
        shared = genes - private
        write_string_array(var, "_index", [f"gene_{j}" for j in range(shared)] +
                           [f"gene_{tag}_{k}" for k in range(private)])
        set_enc(var, "dataframe", "0.2.0")
        set_enc(pca, "array", "0.2.0")
        for g in (X, C):
            set_enc(g, "csr_matrix", "0.1.0")
        for g in (obsm, varm, obsp, varp, layers, uns):
            set_enc(g, "dict", "0.1.0")
    os.replace(tmp, path)
    return nnz, time.time() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="output .h5ad path")
    p.add_argument("--cells", type=int, default=200_000)
    p.add_argument("--genes", type=int, default=10_000)
    p.add_argument("--density", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--index-dtype", choices=("auto", "int32", "int64"), default="auto",
                   help="dtype of indices/indptr (auto: scipy's choice, int32 unless too big)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip opening the result with anndata.read_h5ad(backed='r')")
    args = p.parse_args(argv)
    idx = None if args.index_dtype == "auto" else np.dtype(args.index_dtype)
    nnz, secs = write_bench(args.out, args.cells, args.genes, args.density, args.seed, idx)
    size = os.path.getsize(args.out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"wrote {args.out}: {args.cells} x {args.genes}, nnz {nnz} "
          f"({nnz / (args.cells * args.genes):.4%}), {size / 2**20:.1f} MiB in {secs:.1f}s, "
          f"peak RSS {peak:.0f} MB")
    if not args.no_verify:
        import anndata as ad
        t = time.time()
        a = ad.read_h5ad(args.out, backed="r")
        assert a.shape == (args.cells, args.genes), a.shape
        assert a.obs["cell_type"].dtype.name == "category"
        row = a.X[0]
        a.file.close()
        print(f"verified: anndata.read_h5ad(backed='r') opens it ({a.shape[0]} x {a.shape[1]}, "
              f"row 0 has {row.nnz} entries) in {time.time() - t:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

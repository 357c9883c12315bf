"""Fixtures and an oracle for the layout/zarr tests, on zarr-python 2.13.

    zarrtool.py make OUT     write OUT/py.zarr (many arrays, every codec),
                             OUT/bad.zarr (unsupported features), OUT/ad.zarr
                             (AnnData, consolidated) and OUT/expect.json
    zarrtool.py dump STORE   print every array of STORE as JSON (what
                             zarr-python reads), for checking Go's output

Arrays are described as {"dtype", "shape", "hex"} (raw bytes in the array's
own dtype, C order) or {"dtype", "shape", "strings"}.
"""
import json
import sys

import numcodecs
import numpy as np
import zarr
from numcodecs import Blosc, GZip, Zlib, Zstd


def describe(a):
    a = np.asarray(a)
    d = {"dtype": a.dtype.str, "shape": list(a.shape)}
    if a.dtype.kind == "O":
        d["strings"] = [str(x) for x in a.ravel()]
    else:
        d["hex"] = np.ascontiguousarray(a).tobytes().hex()
    return d


COMPRESSORS = {
    "blosc_lz4_shuffle": Blosc("lz4", 5, Blosc.SHUFFLE),
    "blosc_zstd_bitshuffle": Blosc("zstd", 3, Blosc.BITSHUFFLE),
    "blosc_zlib_noshuffle": Blosc("zlib", 1, Blosc.NOSHUFFLE),
    "blosc_blosclz": Blosc("blosclz", 9, Blosc.SHUFFLE),
    "blosc_lz4hc": Blosc("lz4hc", 4, Blosc.BITSHUFFLE),
    "zstd": Zstd(3),
    "gzip": GZip(5),
    "zlib": Zlib(1),
    "none": None,
}

DTYPES = ["|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8",
          "<f2", "<f4", "<f8", "|b1", ">f8", ">i4", ">u2"]


def values(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    dt = np.dtype(dtype)
    if dt.kind == "b":
        v = rng.integers(0, 2, n).astype(bool)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        v = rng.integers(info.min, info.max, n, dtype=dt.newbyteorder("="), endpoint=True)
    else:
        v = (rng.standard_normal(n) * 1000).astype(dt)
    return v.astype(dt).reshape(shape)


def make(out):
    expect = {}
    g = zarr.open_group(out + "/py.zarr", mode="w")
    g.attrs.update({"encoding-type": "anndata", "list": [1, 2.5, "x"], "u": "\u00e9\U0001F600",
                    "nested": {"b": None, "a": True}, "float": 1e-7})
    names = list(COMPRESSORS)
    # Every dtype, 1-D and 2-D, with partial edge chunks; compressors rotate.
    for i, dt in enumerate(DTYPES):
        for j, (shape, chunks) in enumerate([((23,), (5,)), ((7, 9), (3, 4))]):
            comp = names[(i + j) % len(names)]
            name = "dt/%s_%dd_%s" % (dt.replace("<", "le").replace(">", "be").replace("|", ""), len(shape), comp)
            v = values(dt, shape, i * 10 + j)
            g.create_dataset(name, data=v, chunks=chunks, compressor=COMPRESSORS[comp])
            expect[name] = describe(v)
    # Every compressor on float64 2-D and int16 1-D.
    for comp, c in COMPRESSORS.items():
        for dt, shape, chunks in [("<f8", (10, 6), (4, 4)), ("<i2", (1000,), (300,))]:
            name = "comp/%s_%s" % (comp, dt[1:])
            v = values(dt, shape, 99)
            g.create_dataset(name, data=v, chunks=chunks, compressor=c)
            expect[name] = describe(v)
    # Fill values and missing chunks.
    for name, dt, fill in [("fill/f8_7.5", "<f8", 7.5), ("fill/f4_nan", "<f4", float("nan")),
                           ("fill/i4_none", "<i4", None), ("fill/i2_neg", "<i2", -3),
                           ("fill/b1_true", "|b1", True), ("fill/f8_inf", ">f8", float("-inf")),
                           ("fill/u8_big", "<u8", 2**64 - 1), ("fill/f8_tiny", "<f8", 1.5e-300)]:
        a = g.create_dataset(name, shape=(20,), chunks=(4,), dtype=dt, fill_value=fill,
                             compressor=Zstd(1))
        a[0:4] = values(dt, (4,), 1)
        a[13:15] = values(dt, (2,), 2)  # chunk 3 written partially, rest is fill
        v = a[:]
        if fill is None:
            v[4:12] = 0  # never-written chunks read as zeros here (null fill)
            v[16:] = 0
        expect[name] = describe(v)
    a = g.create_dataset("fill/2d_missing", shape=(6, 5), chunks=(2, 2), dtype="<f4", fill_value=-1.0,
                         compressor=None)
    a[0:2, 2:4] = 5
    expect["fill/2d_missing"] = describe(a[:])
    # dimension_separator "/"
    v = values("<f8", (7, 5), 5)
    g.create_dataset("sep/slash", data=v, chunks=(3, 2), dimension_separator="/", compressor=Blosc("lz4", 5))
    expect["sep/slash"] = describe(v)
    v = values("<i4", (9,), 6)
    g.create_dataset("sep/dot_explicit", data=v, chunks=(4,), dimension_separator=".")
    expect["sep/dot_explicit"] = describe(v)
    # Strings.
    s = np.array(["", "a", "b\u00e9", "\U0001F600 x", "long " * 20, "c", "d"], dtype=object)
    g.create_dataset("str/vlen", data=s, dtype=str, chunks=(3,))
    expect["str/vlen"] = describe(s)
    g.create_dataset("str/vlen_none", data=s, dtype=str, chunks=(4,), compressor=None)
    expect["str/vlen_none"] = describe(s)
    s2 = np.array([["a", "bb", "ccc"], ["", "x", "\u00fc"]], dtype=object)
    g.create_dataset("str/vlen_2d", data=s2, dtype=str, chunks=(1, 2), compressor=GZip(1))
    expect["str/vlen_2d"] = describe(s2)
    u = np.array(["ab", "\u00e9", "", "xyz"], dtype="<U3")
    g.create_dataset("str/fixed_u", data=u, chunks=(3,))
    expect["str/fixed_u"] = {"dtype": "<U3", "shape": [4], "strings": [str(x) for x in u]}
    b = np.array([b"ab", b"", b"xyz"], dtype="|S3")
    g.create_dataset("str/fixed_s", data=b, chunks=(2,))
    expect["str/fixed_s"] = {"dtype": "|S3", "shape": [3], "strings": [x.decode() for x in b]}
    # 0-d arrays, as anndata writes scalars.
    g.create_dataset("scalar/f8", data=np.array(3.25), compressor=None)
    expect["scalar/f8"] = describe(np.array(3.25))
    g.create_dataset("scalar/u", data=np.array("hello"), compressor=None)
    expect["scalar/u"] = {"dtype": "<U5", "shape": [], "strings": ["hello"]}
    # Empty array.
    g.create_dataset("empty/f4", shape=(0,), chunks=(5,), dtype="<f4")
    expect["empty/f4"] = describe(np.zeros((0,), "<f4"))
    g["dt"].attrs["note"] = "groups have attrs too"
    zarr.consolidate_metadata(g.store)

    bad = zarr.open_group(out + "/bad.zarr", mode="w")
    bad.create_dataset("vlen_bytes", data=np.array([b"a"], dtype=object), object_codec=numcodecs.VLenBytes())
    bad.create_dataset("json", data=np.array([1, "a"], dtype=object), object_codec=numcodecs.JSON())
    bad.create_dataset("fortran", data=np.ones((2, 3)), order="F")
    bad.create_dataset("delta", data=np.arange(5), filters=[numcodecs.Delta(dtype="<i8")])
    bad.create_dataset("lzma", data=np.arange(5), compressor=numcodecs.LZMA())
    bad.create_dataset("datetime", data=np.array(["2020-01-01"], dtype="M8[D]"))

    import anndata
    import pandas as pd
    import scipy.sparse as sp
    X = sp.random(30, 12, density=0.3, format="csr", dtype=np.float32, random_state=1)
    obs = pd.DataFrame({"cat": pd.Categorical(list("abcab") * 6), "n": np.arange(30, dtype=np.int64)},
                       index=["cell%d" % i for i in range(30)])
    var = pd.DataFrame({"score": np.linspace(0, 1, 12)}, index=["gene%d" % i for i in range(12)])
    ad = anndata.AnnData(X=X, obs=obs, var=var)
    ad.obsm["pca"] = np.arange(60, dtype=np.float64).reshape(30, 2)
    ad.uns["title"] = "t\u00eftle"
    ad.uns["pi"] = 3.14159
    ad.write_zarr(out + "/ad.zarr", chunks=(8, 5))
    zarr.consolidate_metadata(out + "/ad.zarr")
    expect["ad:X/data"] = describe(X.data)
    expect["ad:X/indices"] = describe(X.indices)
    expect["ad:X/indptr"] = describe(X.indptr)
    expect["ad:obs/_index"] = describe(np.array(obs.index, dtype=object))
    expect["ad:obs/n"] = describe(obs["n"].values)
    expect["ad:obs/cat/codes"] = describe(obs["cat"].cat.codes.values)
    expect["ad:obs/cat/categories"] = describe(np.array(obs["cat"].cat.categories, dtype=object))
    expect["ad:obsm/pca"] = describe(ad.obsm["pca"])
    expect["ad:var/score"] = describe(var["score"].values)

    with open(out + "/expect.json", "w") as f:
        json.dump(expect, f)


def dump(path):
    root = zarr.open(path, mode="r")
    out = {}

    def visit(name, node):
        if isinstance(node, zarr.Array):
            d = describe(node[...])
            d["attrs"] = dict(node.attrs)
            d["chunks"] = list(node.chunks)
            d["fill_value"] = None if node.fill_value is None else str(node.fill_value)
            out[name] = d
    if isinstance(root, zarr.Array):
        visit("", root)
    else:
        root.visititems(visit)
        out[""] = {"attrs": dict(root.attrs)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    {"make": make, "dump": dump}[sys.argv[1]](sys.argv[2])

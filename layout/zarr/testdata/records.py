"""Structured (record) arrays for the layout/zarr tests, with whichever
zarr-python runs this (Debian's 2.13 or the venv's 3.x).

    records.py make OUT FORMAT   write OUT (zarr format 2 or 3) with record
                                 arrays as numpy/zarr-python lay them out
    records.py dump STORE        print every array of STORE as zarr-python
                                 reads it

Arrays are printed as {"fields": [[name, typestr, offset], ...],
"itemsize", "shape", "hex"} (hex: the raw bytes as read, C order).
"""
import json
import sys
import warnings

import numpy as np
import zarr

warnings.filterwarnings("ignore")
V3 = int(zarr.__version__.split(".")[0]) >= 3


def describe(a):
    a = np.asarray(a)
    dt = a.dtype
    return {"fields": [[n, dt.fields[n][0].str, dt.fields[n][1]] for n in dt.names],
            "itemsize": dt.itemsize, "shape": list(a.shape), "hex": a.tobytes().hex()}


def records():
    rng = np.random.default_rng(7)
    out = {}
    # as anndata writes rank_genes_groups names: str fields as <U (max UTF-8 bytes)
    out["names"] = np.rec.fromarrays([np.array(["GENE1", "GENE22", "X", "é"]), np.array(["a", "bb", "", "ü"])],
                                     names=["0", "1"]).view(np.ndarray)
    # scores: floats and a big-endian int
    v = np.zeros(30, dtype=[("0", "<f4"), ("1", ">i8")])
    v["0"] = rng.random(30)
    v["1"] = rng.integers(-2**40, 2**40, 30)
    out["scores"] = v
    # every plain field kind
    v = np.zeros(11, dtype=[("b", "?"), ("i1", "i1"), ("u2", ">u2"), ("f2", "<f2"), ("c8", "<c8"),
                            ("s", "S3"), ("u", ">U2"), ("f8", "<f8")])
    v["b"] = rng.random(11) < 0.5
    v["i1"] = rng.integers(-128, 127, 11)
    v["u2"] = rng.integers(0, 65535, 11)
    v["f2"] = rng.random(11)
    v["c8"] = rng.random(11) + 1j * rng.random(11)
    v["s"] = [b"x", b"yy", b"zzz"] * 3 + [b"", b"q"]
    v["u"] = ["a", "bé", ""] * 3 + ["z", "zz"]
    v["f8"] = rng.random(11)
    out["kinds"] = v
    # aligned: zarr-python 2 writes its padding as fields named "" of raw bytes
    v = np.zeros(5, dtype=np.dtype([("a", "i1"), ("b", "<f8"), ("c", "S3")], align=True))
    v["a"] = np.arange(5)
    v["b"] = np.arange(5) / 4
    v["c"] = [b"p", b"qq", b"r", b"", b"sss"]
    out["aligned"] = v
    return out


def make(out, fmt):
    fmt = int(fmt)
    g = zarr.open_group(out, mode="w", **({"zarr_format": fmt} if V3 else {}))
    for name, v in records().items():
        chunks = (max(1, len(v) // 3),)
        if V3:
            a = g.create_array(name, shape=v.shape, dtype=v.dtype, chunks=chunks)
        else:
            a = g.create_dataset(name, shape=v.shape, dtype=v.dtype, chunks=chunks)
        # zarr-python 2 reads its own padding back as fields: write the bytes
        a[:] = v if V3 else v.view(a.dtype)


def dump(path):
    root = zarr.open_group(path, mode="r")
    out = {}
    for name in sorted(root.array_keys()):
        out[name] = describe(root[name][...])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    else:
        dump(sys.argv[2])

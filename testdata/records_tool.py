#!/usr/bin/env python3
"""Record arrays (numpy structured arrays in uns) for the Go tests, with
current anndata (the project venv).

    records_tool.py make OUTDIR
        rec.h5ad, rec_v2.zarr, rec_v3.zarr: a small AnnData whose uns holds
        record arrays of every field kind anndata writes (str with non-ASCII
        text, bytes, bool, big-endian and small ints, floats), 1-D and 2-D,
        and a rank_genes_groups like scanpy's, and complex arrays (which
        h5py stores as compounds); cplx_v2.zarr (a complex
        field) and nested.h5ad (a nested compound), which annslicer refuses;
        legacy_obsm.h5ad (obsm as anndata < 0.7 wrote it: one record array
        of sub-array fields, a row per cell) and subarr.h5ad (the same, and
        a record array of sub-array fields in uns).
    records_tool.py stored FILE
        how FILE stores each record array of uns (as JSON): HDF5 member
        names, offsets, classes, sizes, byte orders and string kinds, or
        the zarr dtype and shape from the metadata.
    records_tool.py compare SOURCE OUTPUT...
        whether each output's record arrays read (with the running anndata,
        0.8 or current) as the source's: dtype, shape, values.
    records_tool.py legacy-zarr STORE H5AD   (zarr-python 2: Debian's python3)
        replaces STORE's obsm with H5AD's obsm record array as zarr-python 2
        writes it (sub-array fields as [name, typestr, shape]; what anndata
        < 0.7 wrote to zarr, which zarr-python 3 cannot read).
    records_tool.py anndata SOURCE OUT
        what anndata itself writes at OUT (.h5ad, or .zarr in format 2)
        after reading SOURCE, "S" fields kept: the oracle for the stored
        layout of a shard.
"""
import json
import os
import sys
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
import anndata as ad  # noqa: E402


def make(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(11)
    n = 40
    a = ad.AnnData(X=rng.random((n, 3)).astype(np.float32),
                   obs=pd.DataFrame(index=[f"c{i}" for i in range(n)]),
                   var=pd.DataFrame(index=["g0", "g1", "g2"]))
    kinds = np.zeros(6, dtype=[("txt", "O"), ("raw", "S4"), ("flag", "?"), ("big", ">i8"),
                               ("small", "u1"), ("half", "<f2"), ("x", "<f8")])
    kinds["txt"] = ["a", "é", "", "\U0001F600 smile", "xyz", "naïve"]
    kinds["raw"] = [b"ab", b"", b"abcd", b"q", b"zz", b"y"]
    kinds["flag"] = [True, False, True, True, False, False]
    kinds["big"] = [1, -2, 2**40, -(2**50), 0, 7]
    kinds["small"] = [0, 1, 2, 255, 128, 3]
    kinds["half"] = [0.5, -1, 2, 3.25, 0, 1e-3]
    kinds["x"] = rng.random(6)
    a.uns["kinds"] = kinds
    # 2-D (anndata cannot write str fields of a 2-D record array to zarr)
    grid = np.zeros((3, 2), dtype=[("name", "S3"), ("v", "<i4")])
    grid["name"] = [[b"a", b"bb"], [b"ccc", b""], [b"e", b"f"]]
    grid["v"] = np.arange(6).reshape(3, 2)
    a.uns["grid"] = grid
    a.uns["numbers"] = np.rec.fromarrays([np.arange(4, dtype=">f8"), np.arange(4, dtype="<i2")],
                                         names=["f", "i"]).view(np.ndarray)
    # h5py stores complex numbers as compounds {r, i}: arrays, not records
    a.obsm["cplx"] = (rng.random((n, 2)) + 1j * rng.random((n, 2))).astype("<c8")
    a.uns["cplx_be"] = np.array([1 + 2j, 3 - 4j], dtype=">c16")
    groups = ["0", "1", "2"]
    genes = np.array(["GENE1", "GENE22", "Gène3", "G4"], dtype=object)
    a.uns["rank_genes_groups"] = {
        "names": np.rec.fromarrays([rng.choice(genes, 4) for _ in groups], names=groups),
        "pvals": np.rec.fromarrays([rng.random(4) for _ in groups], names=groups),
        "logfoldchanges": np.rec.fromarrays([rng.random(4).astype(np.float32) for _ in groups], names=groups),
    }
    a.write_h5ad(os.path.join(out, "rec.h5ad"))
    with ad.settings.override(zarr_write_format=2):
        a.write_zarr(os.path.join(out, "rec_v2.zarr"))
    with ad.settings.override(zarr_write_format=3):
        a.write_zarr(os.path.join(out, "rec_v3.zarr"))
    # what annslicer refuses: a complex field (to h5ad), a nested compound
    # (to zarr)
    b = a.copy()
    b.uns = {"cplx": np.array([(1, 1 + 2j)], dtype=[("i", "<i4"), ("c", "<c8")])}
    with ad.settings.override(zarr_write_format=2):
        b.write_zarr(os.path.join(out, "cplx_v2.zarr"))
    b.uns = {}
    b.write_h5ad(os.path.join(out, "nested.h5ad"))
    import h5py
    with h5py.File(os.path.join(out, "nested.h5ad"), "a") as f:
        d = f["uns"].create_dataset("nested", data=np.zeros(2, dtype=[("a", "<i4"), ("inner", [("x", "<f4")])]))
        d.attrs["encoding-type"] = "rec-array"
        d.attrs["encoding-version"] = "0.2.0"
    sub_arrays(out, n, rng)


def sub_arrays(out, n, rng):
    """Sub-array fields (numpy's ("X_pca", "<f4", (5,)), h5py's HDF5 array
    members): obsm as anndata < 0.7 wrote it (one record array, a row per
    cell; anndata reads each field as an obsm entry), and a rec-array in
    uns (written by anndata)."""
    import h5py
    a = ad.AnnData(X=rng.random((n, 3)).astype(np.float32),
                   obs=pd.DataFrame(index=[f"c{i}" for i in range(n)]),
                   var=pd.DataFrame(index=["g0", "g1", "g2"]))
    # little-endian in legacy_obsm.h5ad (sliced to zarr v3 too, whose data
    # types have no byte order: zarr-python 3 reads every array native),
    # big-endian in subarr.h5ad
    obsm = {}
    for order in "<>":
        obsm[order] = o = np.zeros(n, dtype=[("X_pca", "<f4", (5,)), ("X_umap", "<f8", (2,)),
                                             ("grid", order + "i2", (2, 3)), ("score", order + "f8")])
        o["X_pca"] = rng.random((n, 5))
        o["X_umap"] = rng.random((n, 2))
        o["grid"] = rng.integers(-1000, 1000, (n, 2, 3))
        o["score"] = rng.random(n)
    a.write_h5ad(os.path.join(out, "legacy_obsm.h5ad"))
    sub = np.zeros(5, dtype=[("name", "S3"), ("v", "<f4", (3,)), ("m", ">i2", (2, 2)), ("x", "<f8")])
    sub["name"] = [b"a", b"bb", b"", b"ccc", b"d"]
    sub["v"] = rng.random((5, 3))
    sub["m"] = np.arange(20).reshape(5, 2, 2)
    sub["x"] = rng.random(5)
    a.uns["sub"] = sub
    a.write_h5ad(os.path.join(out, "subarr.h5ad"))
    for name, order in (("legacy_obsm.h5ad", "<"), ("subarr.h5ad", ">")):
        with h5py.File(os.path.join(out, name), "a") as f:
            del f["obsm"]
            f.create_dataset("obsm", data=obsm[order])


def stored(path):
    out = {}
    if path.rstrip("/").endswith(".zarr"):
        for name, node in zarr_records(path):
            meta = node.metadata.to_dict()
            out[name] = {"dtype": meta.get("dtype", meta.get("data_type")), "shape": list(node.shape)}
    else:
        import h5py

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.names:
                t = obj.id.get_type()
                members = []
                for i in range(t.get_nmembers()):
                    mt = t.get_member_type(i)
                    m = {"name": t.get_member_name(i).decode(), "offset": t.get_member_offset(i),
                         "class": mt.get_class(), "size": mt.get_size()}
                    if isinstance(mt, h5py.h5t.TypeArrayID):  # a sub-array field
                        base = mt.get_super()
                        m["dims"] = list(mt.get_array_dims())
                        m["base"] = {"class": base.get_class(), "size": base.get_size()}
                        if isinstance(base, h5py.h5t.TypeAtomicID):
                            m["base"]["order"] = base.get_order()
                    if isinstance(mt, h5py.h5t.TypeAtomicID):
                        m["order"] = mt.get_order()
                    if isinstance(mt, h5py.h5t.TypeStringID):
                        m["vlen"] = mt.is_variable_str()
                        m["cset"] = mt.get_cset()
                        m["pad"] = mt.get_strpad()
                    members.append(m)
                out[name] = {"size": t.get_size(), "members": members, "shape": list(obj.shape),
                             "attrs": {k: str(v) for k, v in obj.attrs.items()}}
        with h5py.File(path, "r") as f:
            f["uns"].visititems(visit)
    json.dump(out, sys.stdout, sort_keys=True, indent=1)


def zarr_records(path):
    """(path under uns, array) of every record array in a zarr store's uns,
    with zarr-python 2 or 3."""
    import zarr
    uns = zarr.open_group(path, mode="r")["uns"]
    found = []
    if int(zarr.__version__.split(".")[0]) >= 3:
        found = list(uns.members(max_depth=None))
    else:
        uns.visititems(lambda n, o: found.append((n, o)))
    return [(n, o) for n, o in found if isinstance(o, zarr.Array) and o.dtype.names]


def raw_dtypes(source):
    """The numpy dtype each record array of uns is stored with (path -> dtype)."""
    out = {}
    if source.rstrip("/").endswith(".zarr"):
        for name, node in zarr_records(source):
            out[name] = node.dtype
    else:
        import h5py
        with h5py.File(source, "r") as f:
            f["uns"].visititems(lambda n, o: out.__setitem__(n, o.dtype)
                                if isinstance(o, h5py.Dataset) and o.dtype.names else None)
    return out


def as_anndata(source, out):
    """anndata's write of what it read from source, except that "S" fields
    stay "S": anndata reads them as "U" (which it then writes as str) but
    a shard keeps what the source holds, which anndata reads back the same."""
    a = ad.read_zarr(source) if source.rstrip("/").endswith(".zarr") else ad.read_h5ad(source)
    for path, stored in raw_dtypes(source).items():
        parent, key = a.uns, path
        while "/" in key:
            head, key = key.split("/", 1)
            parent = parent[head]
        v = parent[key]
        parent[key] = v.astype([(n, stored.fields[n][0] if stored.fields[n][0].kind == "S" else v.dtype.fields[n][0])
                                for n in v.dtype.names])
    if out.endswith(".zarr"):
        with ad.settings.override(zarr_write_format=2):
            a.write_zarr(out)
    else:
        a.write_h5ad(out)


def read_records(path):
    """Every record array of uns as the running anndata reads it (read_elem;
    anndata 0.8 cannot read the rest of a current file)."""
    from anndata._io.specs import read_elem
    out = {}
    if path.rstrip("/").endswith(".zarr"):
        for name, node in zarr_records(path):
            out[name] = read_elem(node)
        return out
    import h5py
    with h5py.File(path, "r") as f:
        for name in raw_dtypes(path):
            out[name] = read_elem(f["uns/" + name])
    return out


def legacy_zarr(store, h5ad):
    import h5py
    import zarr
    with h5py.File(h5ad, "r") as f:
        obsm = f["obsm"][()]
    g = zarr.open_group(store, mode="a")
    del g["obsm"]
    g.create_dataset("obsm", data=obsm, chunks=(16,), fill_value=None)
    zarr.consolidate_metadata(store)


def compare(source, outputs):
    """Exit 1 unless every output's record arrays read as the source's."""
    want = read_records(source)
    problems = []
    for o in outputs:
        got = read_records(o)
        if sorted(got) != sorted(want):
            problems.append(f"{o}: record arrays {sorted(got)}, expected {sorted(want)}")
        for k in set(got) & set(want):
            g, e = got[k], want[k]
            if g.dtype != e.dtype or g.shape != e.shape or any(not np.array_equal(g[n], e[n]) for n in e.dtype.names):
                problems.append(f"{o}: uns/{k} reads as {g.dtype} {g.shape}, expected {e.dtype} {e.shape} (or other values)")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"OK: {len(outputs)} outputs hold the record arrays of {source}; anndata {ad.__version__}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
    elif cmd == "compare":
        compare(sys.argv[2], sys.argv[3:])
    elif cmd == "stored":
        stored(sys.argv[2])
    elif cmd == "legacy-zarr":
        legacy_zarr(sys.argv[2], sys.argv[3])
    else:
        as_anndata(sys.argv[2], sys.argv[3])

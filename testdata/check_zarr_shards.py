#!/usr/bin/env python3
"""Oracle for zarr shards: do these .zarr stores hold exactly the source's rows?

The source is an .h5ad file or a .zarr store. Each shard is checked at two
levels:

* anndata level: ``anndata.read_zarr(shard)`` equals ``source[rows]``
  element by element (X, layers, obs with dtypes and full category lists,
  obsm, obsp as the induced sub-graph, var, varm, varp, uns, raw), exactly,
  with check_shards.py's comparisons.
* zarr level: ``zarr.open`` and ``zarr.open_consolidated`` see the same tree
  of groups and arrays as the source; every array has the source's dtype
  (variable-length strings as ``|O``), every attribute the source's value
  (``shape`` of row-sliced sparse groups: the new shape), the expected
  compressor (``--compressor blosc|none|any``), and every chunk file exists
  with the right size when uncompressed.

rows_k[i] = source position of the i-th obs name of shard k (obs names are
unique in every fixture). Exit 0 and one summary line when all is well, 1
and one line per problem otherwise.
"""

import argparse
import json
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_shards as cs  # noqa: E402


def read_source(path):
    import anndata as ad
    if path.rstrip("/").endswith(".zarr"):
        return ad.read_zarr(path)
    return ad.read_h5ad(path)


def check_anndata_level(source, shard_path, got, rows, problems):
    import pandas as pd
    w = f"{shard_path}: anndata"
    if got.shape != (rows.size, source.n_vars):
        problems.append(f"{w}: shape {got.shape}, expected {(rows.size, source.n_vars)}")
        return
    cs.ad_compare(problems, f"{w} X", got.X, None if source.X is None else source.X[rows])
    cs.ad_compare(problems, f"{w} layers", dict(got.layers), {k: v[rows] for k, v in source.layers.items()})
    cs.compare_df(problems, f"{w} obs", got.obs, source.obs.iloc[rows])
    cs.compare_index(problems, f"{w} obs_names", got.obs_names, source.obs_names[rows])
    cs.compare_df(problems, f"{w} var", got.var, source.var)
    cs.compare_index(problems, f"{w} var_names", got.var_names, source.var_names)
    exp_obsm = {k: (v.iloc[rows] if isinstance(v, pd.DataFrame) else v[rows])
                for k, v in source.obsm.items()}
    cs.ad_compare(problems, f"{w} obsm", dict(got.obsm), exp_obsm)
    cs.ad_compare(problems, f"{w} obsp", dict(got.obsp),
                  {k: v[rows][:, rows] for k, v in source.obsp.items()}, canon=True)
    cs.ad_compare(problems, f"{w} varm", dict(got.varm), dict(source.varm))
    cs.ad_compare(problems, f"{w} varp", dict(got.varp), dict(source.varp))
    cs.ad_compare(problems, f"{w} uns", dict(got.uns), dict(source.uns))
    if (got.raw is None) != (source.raw is None):
        problems.append(f"{w} raw: present={got.raw is not None}, expected {source.raw is not None}")
    elif source.raw is not None:
        cs.ad_compare(problems, f"{w} raw.X", got.raw.X, source.raw.X[rows])
        cs.compare_df(problems, f"{w} raw.var", got.raw.var, source.raw.var)
        cs.ad_compare(problems, f"{w} raw.varm", dict(got.raw.varm), dict(source.raw.varm))


# ----------------------------------------------------------------- zarr level

def plain(v):
    """An attribute value as plain JSON-like Python (h5py or zarr)."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def ref_name(node, v):
    """An HDF5 object reference attribute (anndata 0.7's categories) as the
    zarr form of that layout: the target's path relative to node's group."""
    import h5py
    if isinstance(v, h5py.Reference):
        target = node.file[v].name
        parent = node.parent.name.rstrip("/") + "/"
        return target[len(parent):] if target.startswith(parent) else target
    return v


def src_dtype(node):
    """numpy dtype string of a source array as a zarr shard must carry it."""
    import h5py
    dt = node.dtype
    if isinstance(node, h5py.Dataset) and h5py.check_string_dtype(dt) is not None and dt.kind == "O":
        return "|O" if node.ndim else "<U"  # 0-d strings become numpy unicode
    if dt.kind == "U" and node.ndim == 0:
        return "<U"
    if not isinstance(node, h5py.Dataset):  # a zarr source: as zarr-python reads the shard
        return dtype_str(node)
    return dt.str


def is_group(node):
    import h5py
    import zarr
    return isinstance(node, (h5py.Group, zarr.Group))  # zarr 2 and 3 both export Group


def sparse_enc(attrs):
    enc = plain(attrs.get("encoding-type", ""))
    if enc in cs.SPARSE_TYPES:
        return enc
    f = plain(attrs.get("h5sparse_format"))
    return f"{f}_matrix" if f else None


def check_tree(s, d, path, role, rows, n_obs, compressor, problems, where):
    """Compare source node s with shard node d: kinds, keys, dtypes, attrs."""
    here = f"{where}: /{path}"
    if is_group(s) != is_group(d):
        problems.append(f"{here}: is a {'group' if is_group(d) else 'array'}, expected "
                        f"{'group' if is_group(s) else 'array'}")
        return
    sa = {k: plain(ref_name(s, v)) for k, v in s.attrs.items()}
    da = {k: plain(v) for k, v in d.attrs.items()}
    enc = sparse_enc(sa) if is_group(s) else None
    if enc and role in ("rows", "graph"):
        shape = sa.get("shape", sa.get("h5sparse_shape"))
        new = [int(rows.size), int(shape[1]) if role == "rows" else int(rows.size)]
        for k in ("shape", "h5sparse_shape"):
            if k in sa:
                sa[k] = new
    elif is_group(s) and "shape" in sa and isinstance(sa["shape"], list) and sa["shape"] and sa["shape"][0] == n_obs:
        sa["shape"] = [int(rows.size)] + list(sa["shape"][1:])
    if sa != da:
        problems.append(f"{here}: attributes {da}, expected {sa}")
    if not is_group(s):
        want = src_dtype(s)
        got = dtype_str(d)
        if (want == "<U" and not got.startswith("<U")) or (want != "<U" and got != want):
            problems.append(f"{here}: dtype {got}, expected {want}")
        n = s.shape[0] if s.ndim else None
        exp_shape = s.shape
        if role == "rows" and s.ndim:
            exp_shape = (rows.size,) + tuple(s.shape[1:])
        elif role == "graph":
            exp_shape = (rows.size, rows.size)
        if role != "sparse-part" and tuple(d.shape) != tuple(exp_shape):
            problems.append(f"{here}: shape {d.shape}, expected {exp_shape}")
        comp = compressor_of(d)
        if d.ndim and compressor == "blosc":
            if comp is None or comp.codec_id != "blosc" or comp.cname != "lz4" or comp.clevel != 5 or comp.shuffle != 1:
                problems.append(f"{here}: compressor {comp}, expected Blosc(lz4, 5, shuffle)")
        elif compressor == "none" and comp is not None:
            problems.append(f"{here}: compressor {comp}, expected none")
        check_chunks(d, here, problems)
        return
    skeys, dkeys = set(s.keys()), set(d.keys())
    for k in sorted(skeys - dkeys):
        problems.append(f"{here}: missing {k}")
    for k in sorted(dkeys - skeys):
        problems.append(f"{here}: unexpected {k}")
    for k in sorted(skeys & dkeys):
        check_tree(s[k], d[k], f"{path}/{k}".lstrip("/"), child_role(path, k, role, sa, enc),
                   rows, n_obs, compressor, problems, where)


def child_role(path, key, role, attrs, enc):
    if path == "":
        return {"X": "rows", "obs": "rows", "layers": "map-rows", "obsm": "map-rows",
                "obsp": "map-graph", "raw": "raw"}.get(key, "copy")
    if role == "map-rows":
        return "rows"
    if role == "map-graph":
        return "graph"
    if role == "raw":
        return "rows" if key == "X" else "copy"
    if enc and role in ("rows", "graph"):
        return "sparse-part"
    if role == "rows" and (key == "__categories" or (plain(attrs.get("encoding-type")) == "categorical" and key == "categories")):
        return "copy"
    return role


def dtype_str(a):
    """numpy dtype string of a zarr array; variable-length strings are '|O'
    (zarr-python 2 says object, zarr-python 3 numpy 2's StringDType)."""
    dt = a.dtype
    if getattr(dt, "kind", "") in ("O", "T") or type(dt).__name__ == "StringDType":
        return "|O"
    return dt.str


def compressor_of(a):
    """The array's one compressor (numcodecs codec) or None; zarr 2 has
    .compressor, zarr 3 .compressors (a tuple)."""
    if hasattr(a, "compressors"):
        cs_ = a.compressors
        return cs_[0] if cs_ else None
    return a.compressor


def check_chunks(a, where, problems):
    """Every chunk file exists; uncompressed ones have the raw chunk size.

    Works on the files (.zarray of zarr v2 arrays), so zarr-python 2 and 3
    check the same thing."""
    root = a.store.root if hasattr(a.store, "root") else a.store.path
    adir = os.path.join(str(root), a.path)
    meta_path = os.path.join(adir, ".zarray")
    if not os.path.exists(meta_path):
        return  # zarr v3 arrays: zarr-python 3 reads them all in check_anndata_level
    meta = json.load(open(meta_path))
    shape, chunks = meta["shape"], meta["chunks"]
    sep = meta.get("dimension_separator") or "."
    grid = [-(-s // c) for s, c in zip(shape, chunks)] if shape else []
    n = int(np.prod(grid)) if grid else 1
    dt = np.dtype(meta["dtype"]) if isinstance(meta["dtype"], str) else np.dtype("O")
    raw = int(np.prod(chunks)) * dt.itemsize if dt.kind != "O" and not meta.get("filters") else None
    for flat in range(n):
        idx = np.unravel_index(flat, grid) if grid else ()
        key = sep.join(str(i) for i in idx) if grid else "0"
        f = os.path.join(adir, key)
        if not os.path.exists(f):
            problems.append(f"{where}: chunk {a.path}/{key} missing")
            return
        if meta.get("compressor") is None and raw is not None and os.path.getsize(f) != raw:
            problems.append(f"{where}: chunk {a.path}/{key} has {os.path.getsize(f)} bytes, expected {raw}")
            return


def open_source_tree(path):
    if path.rstrip("/").endswith(".zarr"):
        import zarr
        return zarr.open(path, mode="r")
    import h5py
    return h5py.File(path, "r")


# ----------------------------------------------------------------- main

def run(source, shards, order="any", size=None, compressor="any"):
    import pandas as pd
    import zarr
    problems = []
    src = read_source(source)
    stree = open_source_tree(source)
    src_index = pd.Index(np.asarray(src.obs_names, dtype=object))
    shard_rows, loaded = [], []
    for path in shards:
        try:
            import anndata as ad
            got = ad.read_zarr(path)
        except Exception as e:
            problems.append(f"{path}: anndata.read_zarr failed: {type(e).__name__}: {e}")
            shard_rows.append((path, np.zeros(0, dtype=np.int64)))
            continue
        rows = src_index.get_indexer(np.asarray(got.obs_names, dtype=object)).astype(np.int64)
        if (rows < 0).any():
            problems.append(f"{path}: obs names not in the source")
        shard_rows.append((path, rows))
        loaded.append((path, got, rows))
    cs.check_coverage(src.n_obs, shard_rows, size, order, problems)
    for path, got, rows in loaded:
        if (rows < 0).any():
            continue
        check_anndata_level(src, path, got, rows, problems)
        d = zarr.open(path, mode="r")
        check_tree(stree, d, "", "root", rows, src.n_obs, compressor, problems, path)
        try:
            c = zarr.open_consolidated(path, mode="r")
            if sorted(c.keys()) != sorted(d.keys()) or json.dumps(dict(c.attrs), sort_keys=True) != json.dumps(dict(d.attrs), sort_keys=True):
                problems.append(f"{path}: consolidated metadata differs from the tree")
        except Exception as e:
            problems.append(f"{path}: zarr.open_consolidated failed: {type(e).__name__}: {e}")
    return problems, f"{len(shards)} zarr shards of {source} ({src.n_obs} cells) match source[rows]"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True)
    p.add_argument("--order", choices=["any", "contiguous"], default="any")
    p.add_argument("--size", type=int)
    p.add_argument("--compressor", choices=["any", "blosc", "none"], default="any")
    p.add_argument("shards", nargs="+")
    cs.rows_arg(p)
    a = p.parse_args(argv)
    cs.use_rows(a)
    problems, summary = run(a.source, a.shards, a.order, a.size, a.compressor)
    if problems:
        for line in problems:
            print(line)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

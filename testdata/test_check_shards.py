#!/usr/bin/env python3
"""Sanity tests of the oracle itself (run: /usr/bin/python3 -m pytest testdata).

Why: the Go tests trust check_shards.py, so it must accept correct shards and
reject wrong ones. Correct shards come from two independent writers:
anndata's own ``source[rows].write_h5ad`` (where anndata writes the source's
layout back unchanged) and a small h5py reference slicer below (for the
fixtures anndata would rewrite differently: the 0.7 layout, the
nullable-string column anndata 0.8 cannot read, int64 indices that scipy
downcasts when slicing). Then shards are corrupted in several ways and the
checker must fail naming the element.
"""

import os
import shutil
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest

warnings.filterwarnings("ignore")
import anndata as ad  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_shards  # noqa: E402
import make_fixtures  # noqa: E402


@pytest.fixture(scope="session")
def fx(tmp_path_factory):
    d = tmp_path_factory.mktemp("fixtures")
    make_fixtures.make_all(str(d))
    return d


def split_rows(n_obs, size, shuffle_seed=None):
    order = np.arange(n_obs)
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(n_obs)
    return [order[i:i + size] for i in range(0, n_obs, size)]


def anndata_shards(src_path, outdir, size, shuffle_seed=None):
    """Reference shards written by anndata (obs keeps the full category lists:
    anndata views drop unused categories, a shard must not)."""
    src = ad.read_h5ad(src_path)
    paths = []
    for k, rows in enumerate(split_rows(src.n_obs, size, shuffle_seed)):
        sub = src[rows].copy()
        sub.obs = src.obs.iloc[rows]
        p = os.path.join(outdir, f"shard_{k}.h5ad")
        sub.write_h5ad(p)
        paths.append(p)
    return paths


# --------------------------------------------------- h5py reference slicer

def _copy_attrs(s, d, shape=None, refs=None):
    for name in s.attrs:
        aid = h5py.h5a.open(s.id, name.encode())
        if aid.get_type().get_class() == h5py.h5t.REFERENCE:
            refs.append((d.name, name, s.file[s.attrs[name]].name))
            continue
        val = s.attrs[name]
        if shape is not None and name == "shape":
            val = np.asarray(shape, dtype=np.asarray(val).dtype)
        d.attrs.create(name, val, dtype=aid.dtype)


def _slice_node(s, dg, key, role, rows, refs):
    obj = s[key]
    fmt = check_shards.sparse_format(obj) if isinstance(obj, h5py.Group) else None
    m = len(rows)
    if isinstance(obj, h5py.Dataset):
        data = obj[()]
        if role == "rows":
            data = data[rows]
        elif role == "graph":
            data = data[rows][:, rows]
        ds = dg.create_dataset(key, data=data, dtype=obj.dtype)
        _copy_attrs(obj, ds, refs=refs)
        return
    g = dg.create_group(key)
    if fmt and role in ("rows", "graph"):
        shape = check_shards.sparse_shape(obj)
        new_shape = (m, shape[1]) if role == "rows" else (m, m)
        _copy_attrs(obj, g, shape=new_shape, refs=refs)
        if role == "rows" and fmt == "csr":
            ip, ix, dat = check_shards.gather_csr(obj["indptr"][()], obj["indices"][()],
                                                  obj["data"][()], rows)
        else:
            mat = check_shards.to_scipy(obj, fmt, shape).tocsr()[rows]
            if role == "graph":
                mat = mat[:, rows]
            mat = mat.asformat(fmt)
            ip, ix, dat = mat.indptr, mat.indices, mat.data
        for name, arr in (("data", dat), ("indices", ix), ("indptr", ip)):
            ds = g.create_dataset(name, data=arr.astype(obj[name].dtype))
            _copy_attrs(obj[name], ds, refs=refs)
        return
    shape = None
    if role == "raw" and "shape" in obj.attrs:
        shape = (m, int(obj.attrs["shape"][1]))
    _copy_attrs(obj, g, shape=shape, refs=refs)
    for k in obj:
        if role == "root":
            child = {"X": "rows", "obs": "rows", "layers": "dict-rows", "obsm": "dict-rows",
                     "obsp": "dict-graph", "raw": "raw"}.get(k, "copy")
        elif role == "raw":
            child = "rows" if k == "X" else "copy"
        elif role == "dict-rows":
            child = "rows"
        elif role == "dict-graph":
            child = "graph"
        elif role == "rows" and (k == "__categories" or
                                 (check_shards.encoding(obj) == "categorical" and k == "categories")):
            child = "copy"
        else:
            child = role
        _slice_node(obj, g, k, child, rows, refs)


def h5py_slice(src_path, rows, out_path):
    """Write the shard of src_path holding rows, at the HDF5 level."""
    refs = []
    with h5py.File(src_path, "r") as s, h5py.File(out_path, "w") as d:
        _copy_attrs(s["/"], d["/"], refs=refs)
        for k in s:
            role = {"X": "rows", "obs": "rows", "layers": "dict-rows", "obsm": "dict-rows",
                    "obsp": "dict-graph", "raw": "raw"}.get(k, "copy")
            _slice_node(s, d, k, role, rows, refs)
        for obj_name, attr, target in refs:
            d[obj_name].attrs[attr] = d[target].ref


def h5py_shards(src_path, outdir, size, shuffle_seed=None):
    with h5py.File(src_path, "r") as f:
        n = len(check_shards.read_obs_names(f))
    paths = []
    for k, rows in enumerate(split_rows(n, size, shuffle_seed)):
        p = os.path.join(outdir, f"shard_{k}.h5ad")
        h5py_slice(src_path, rows, p)
        paths.append(p)
    return paths


def check(src, paths, **kw):
    problems, summary = check_shards.run(str(src), [str(p) for p in paths], **kw)
    return problems


# ------------------------------------------------------------------ tests

@pytest.mark.parametrize("name,size,shuffle", [
    ("full.h5ad", 100, None),
    ("full.h5ad", 120, 7),
    ("dense.h5ad", 30, None),
    ("csc.h5ad", 40, 3),
    ("compressed_gzip.h5ad", 64, 1),
])
def test_anndata_written_shards_pass(fx, tmp_path, name, size, shuffle):
    paths = anndata_shards(fx / name, tmp_path, size, shuffle)
    order = "contiguous" if shuffle is None else "any"
    assert check(fx / name, paths, order=order, size=size) == []


@pytest.mark.parametrize("name,size,shuffle", [
    ("full.h5ad", 100, 5),
    ("v07.h5ad", 50, None),
    ("v07.h5ad", 40, 2),
    ("nullable_string.h5ad", 20, 4),
    ("int64idx.h5ad", 70, 9),
    ("compressed_lzf.h5ad", 100, None),
])
def test_h5py_sliced_shards_pass(fx, tmp_path, name, size, shuffle):
    paths = h5py_shards(fx / name, tmp_path, size, shuffle)
    order = "contiguous" if shuffle is None else "any"
    assert check(fx / name, paths, order=order, size=size) == []
    assert check(fx / name, paths, order=order, size=size, quick=True) == []


def test_v07_layout_loads_with_categoricals(fx):
    a = ad.read_h5ad(fx / "v07.h5ad")
    assert a.obs["cell_type"].dtype.name == "category"
    assert a.obs["level"].cat.ordered
    with h5py.File(fx / "v07.h5ad", "r") as f:
        assert "encoding-type" not in f.attrs
        ref = f["obs/cell_type"].attrs["categories"]
        assert f[ref].name == "/obs/__categories/cell_type"


def test_nullable_string_is_unreadable_by_anndata_but_checked(fx, tmp_path):
    with pytest.raises(Exception):
        ad.read_h5ad(fx / "nullable_string.h5ad")
    paths = h5py_shards(fx / "nullable_string.h5ad", tmp_path, 30)
    with h5py.File(paths[0], "r+") as f:
        f["obs/label/mask"][0] = not f["obs/label/mask"][0]
    problems = check(fx / "nullable_string.h5ad", paths)
    assert any("/obs/label/mask" in p for p in problems), problems


@pytest.fixture
def full_shards(fx, tmp_path):
    return anndata_shards(fx / "full.h5ad", tmp_path, 100)


def test_changed_x_value_fails(fx, full_shards):
    with h5py.File(full_shards[2], "r+") as f:
        f["X/data"][3] = f["X/data"][3] + 1
    problems = check(fx / "full.h5ad", full_shards, order="contiguous", size=100)
    assert any("shard_2.h5ad: /X/data" in p for p in problems), problems
    assert any("anndata X.data" in p for p in problems), problems


def test_changed_obs_dtype_fails(fx, full_shards):
    with h5py.File(full_shards[1], "r+") as f:
        old = f["obs/i32"]
        data, attrs = old[()].astype(np.int64), dict(old.attrs)
        del f["obs/i32"]
        f["obs/i32"] = data
        for k, v in attrs.items():
            f["obs/i32"].attrs[k] = v
    problems = check(fx / "full.h5ad", full_shards)
    assert any("/obs/i32: dtype int64LE" in p for p in problems), problems
    assert any("obs['i32']: dtype int64, expected int32" in p for p in problems), problems
    quick = check(fx / "full.h5ad", full_shards, quick=True)
    assert any("/obs/i32: dtype" in p for p in quick), quick


def test_missing_obsm_key_fails(fx, full_shards):
    with h5py.File(full_shards[0], "r+") as f:
        del f["obsm/X_umap"]
    problems = check(fx / "full.h5ad", full_shards)
    assert any("missing obsm/X_umap" in p for p in problems), problems
    assert any("obsm: missing key 'X_umap'" in p for p in problems), problems


def test_changed_attribute_and_shape_attr_fail(fx, full_shards):
    with h5py.File(full_shards[0], "r+") as f:
        f["obs/level"].attrs["ordered"] = False
        f["X"].attrs["shape"] = np.array([503, 37])
    problems = check(fx / "full.h5ad", full_shards)
    assert any("/obs/level: attribute 'ordered'" in p for p in problems), problems
    assert any("/X: attribute 'shape' = [503, 37], expected [100, 37]" in p for p in problems), problems


def test_pruned_categories_fail(fx, tmp_path):
    """What anndata's views do by default (drop unused categories) is wrong for a shard."""
    src = ad.read_h5ad(fx / "full.h5ad")
    paths = []
    for k, rows in enumerate(split_rows(src.n_obs, 300)):
        p = tmp_path / f"s{k}.h5ad"
        src[rows].copy().write_h5ad(p)
        paths.append(p)
    problems = check(fx / "full.h5ad", paths)
    assert any("obs/cell_type/categories" in p for p in problems), problems


def test_coverage_problems(fx, full_shards):
    src = fx / "full.h5ad"
    q = dict(quick=True)  # coverage is the same in quick mode, and faster
    problems = check(src, full_shards[:-1], order="contiguous", size=100, **q)
    assert any("coverage: 3 source rows are in no shard" in p for p in problems), problems
    problems = check(src, full_shards + full_shards[:1], **q)
    assert any("more than one shard" in p for p in problems), problems
    problems = check(src, full_shards, size=90, **q)
    assert any("expected --size 90" in p for p in problems), problems
    rev = list(reversed(full_shards))
    problems = check(src, rev, order="contiguous", size=100, **q)
    assert any("are not range(0, 100)" in p for p in problems), problems
    assert check(src, rev, order="any", **q) == []


def test_quick_mode_catches_scaled_x(fx, full_shards):
    assert check(fx / "full.h5ad", full_shards, quick=True) == []
    with h5py.File(full_shards[4], "r+") as f:
        f["X/data"][...] = f["X/data"][()] * 2
    problems = check(fx / "full.h5ad", full_shards, quick=True)
    assert any("shard_4.h5ad: /X/data" in p for p in problems), problems


def test_cli_exit_codes(fx, full_shards):
    script = os.path.join(HERE, "check_shards.py")
    ok = subprocess.run([sys.executable, script, "--source", str(fx / "full.h5ad"), "--order",
                         "contiguous", "--size", "100", "--quick", *full_shards],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK: 6 shards") and ok.stdout.count("\n") == 1
    shutil.copy(fx / "truncated.h5ad", full_shards[0])
    bad = subprocess.run([sys.executable, script, "--source", str(fx / "full.h5ad"), *full_shards],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "cannot open with h5py" in bad.stdout
    src_bad = subprocess.run([sys.executable, script, "--source", str(fx / "not_hdf5.h5ad"),
                              *full_shards], capture_output=True, text=True)
    assert src_bad.returncode == 2

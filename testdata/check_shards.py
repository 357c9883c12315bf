#!/usr/bin/env python3
"""Oracle for annslicer's Go tests: do these shards hold exactly the source's rows?

Why: annslicer writes HDF5 bytes itself (shard images), so "anndata can open
it" is not enough. This script checks every shard of a split against the
source at two levels:

* anndata level: ``anndata.read_h5ad(shard)`` equals the source's rows
  (X, layers, obs incl. NA positions / dtypes / full category lists, obsm,
  obsp as the induced sub-graph, varm, varp, uns, raw), exactly. Skipped only
  when anndata cannot read the SOURCE (e.g. a nullable-string-array column).
* h5py level (always): the same tree of groups/datasets, identical HDF5 types
  and attributes (``shape`` of row-sliced sparse groups excepted: it must be
  the new shape; object-reference attributes must dereference to an equal
  dataset), row-sliced datasets equal ``source[rows]`` (sparse via
  data/indices/indptr), obsp the induced sub-graph, everything else
  byte-identical.

A shard's rows are found from its obs names (unique in every fixture):
rows_k[i] = source position of the i-th obs name of shard k.

``--quick`` (for the 200k x 10k benchmark file): coverage, HDF5 types,
attributes, full row-length checks of sparse row-sliced arrays, values of a
few random rows per shard for every row-sliced element, and small
(<= 1e6 elements) verbatim datasets; no anndata level, no obsp values.

Exit status: 0 and one summary line when everything matches; 1 and one line
per problem otherwise; 2 when the source itself cannot be used.
"""

import argparse
import sys
import time
import warnings

import h5py
import numpy as np

warnings.filterwarnings("ignore")

SPARSE_TYPES = ("csr_matrix", "csc_matrix")
QUICK_VERBATIM_LIMIT = 1_000_000


# ----------------------------------------------------------------- helpers

def as_str(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def attrs_of(x):
    """Attribute mapping of an h5py object, or of a cached meta (see read_meta)."""
    if isinstance(x, dict):
        return {k: v[0] for k, v in x["attrs"].items()}
    return x.attrs


def attr_str(obj, name, default=None):
    attrs = attrs_of(obj)
    if name not in attrs:
        return default
    return as_str(attrs[name])


def encoding(obj):
    return attr_str(obj, "encoding-type", "")


def is_group(x):
    return (not x["ds"]) if isinstance(x, dict) else isinstance(x, h5py.Group)


def sparse_format(group):
    """'csr' / 'csc' when group (h5py object or meta) is a sparse matrix element, else None."""
    if not is_group(group):
        return None
    enc = encoding(group)
    if enc in SPARSE_TYPES:
        return enc[:3]
    return attr_str(group, "h5sparse_format")


def sparse_shape(group):
    attrs = attrs_of(group)
    for name in ("shape", "h5sparse_shape"):
        if name in attrs:
            return tuple(int(x) for x in attrs[name])
    return None


def is_dataframe(group):
    return is_group(group) and (encoding(group) == "dataframe" or "_index" in attrs_of(group))


def read_meta(obj):
    """Kind, attributes (value, HDF5 type, shape), children or type/shape of obj."""
    m = {"ds": isinstance(obj, h5py.Dataset), "attrs": {}}
    for n in obj.attrs:
        aid = h5py.h5a.open(obj.id, n.encode())
        m["attrs"][n] = (obj.attrs[n], aid.get_type(), aid.shape)
    if m["ds"]:
        m["tid"], m["shape"], m["size"] = obj.id.get_type(), obj.shape, obj.size
    else:
        m["keys"] = list(obj.keys())
    return m


def read_obs_names(f):
    """Obs names of an open h5ad file, as a numpy array of str."""
    obs = f["obs"]
    if not isinstance(obs, h5py.Group):
        raise ValueError("obs is not a group (pre-0.7 compound layout is not supported)")
    key = attr_str(obs, "_index", "_index")
    ds = obs[key]
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.asarray(ds.asstr()[()], dtype=object)
    return np.asarray(ds[()]).astype(str).astype(object)


def describe_type(tid):
    """Short human description of an HDF5 datatype (for messages)."""
    cls = tid.get_class()
    names = {h5py.h5t.INTEGER: "int", h5py.h5t.FLOAT: "float", h5py.h5t.STRING: "string",
             h5py.h5t.ENUM: "enum", h5py.h5t.COMPOUND: "compound",
             h5py.h5t.REFERENCE: "reference", h5py.h5t.OPAQUE: "opaque",
             h5py.h5t.ARRAY: "array", h5py.h5t.BITFIELD: "bitfield"}
    s = names.get(cls, f"class{cls}")
    try:
        if cls == h5py.h5t.STRING:
            vlen = tid.is_variable_str()
            cset = {h5py.h5t.CSET_ASCII: "ascii", h5py.h5t.CSET_UTF8: "utf-8"}.get(tid.get_cset(), "?")
            pad = {h5py.h5t.STR_NULLTERM: "nullterm", h5py.h5t.STR_NULLPAD: "nullpad",
                   h5py.h5t.STR_SPACEPAD: "spacepad"}.get(tid.get_strpad(), "?")
            size = "vlen" if vlen else f"fixed{tid.get_size()}"
            return f"string({size},{cset},{pad})"
        if cls in (h5py.h5t.INTEGER, h5py.h5t.FLOAT, h5py.h5t.ENUM):
            order = "LE" if tid.get_order() == h5py.h5t.ORDER_LE else "BE"
            return f"{s}{tid.get_size() * 8}{order}"
    except Exception:  # pragma: no cover - only for odd types
        pass
    return f"{s}(size {tid.get_size()})"


def bytes_diff(a, b):
    """Indices (flat) where two equal-shape arrays differ, comparing raw bytes
    for fixed-size dtypes and elements for object (vlen) arrays."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype.kind == "O" or b.dtype.kind == "O":
        fa, fb = a.ravel(), b.ravel()
        return np.array([i for i in range(fa.size) if not _obj_eq(fa[i], fb[i])], dtype=np.int64)
    if a.dtype.itemsize != b.dtype.itemsize:
        return np.arange(a.size)
    w = a.dtype.itemsize
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    ba = np.frombuffer(np.ascontiguousarray(a).tobytes(), dtype=np.uint8).reshape(-1, w)
    bb = np.frombuffer(np.ascontiguousarray(b).tobytes(), dtype=np.uint8).reshape(-1, w)
    return np.flatnonzero((ba != bb).any(axis=1))


def _obj_eq(x, y):
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return np.array_equal(np.asarray(x), np.asarray(y))
    if isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y):
        return True
    return bool(x == y)


def report_values(problems, where, got, exp):
    """Append a problem when got != exp (shape or values); True if equal."""
    got = np.asarray(got)
    exp = np.asarray(exp)
    if got.shape != exp.shape:
        problems.append(f"{where}: shape {got.shape}, expected {exp.shape}")
        return False
    d = bytes_diff(got, exp)
    if d.size:
        idx = np.unravel_index(d[0], exp.shape) if exp.ndim else ()
        problems.append(
            f"{where}: {d.size} of {exp.size} values differ; first at {tuple(int(i) for i in idx)}: "
            f"got {got[idx]!r}, expected {exp[idx]!r}")
        return False
    return True


def gather_csr(indptr, indices, data, rows):
    """Row-gather raw CSR arrays, keeping each row's entry order and dtypes."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = indptr[rows].astype(np.int64)
    lens = indptr[rows + 1].astype(np.int64) - starts
    new_indptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(lens, out=new_indptr[1:])
    total = int(new_indptr[-1])
    pos = np.repeat(starts - new_indptr[:-1], lens) + np.arange(total, dtype=np.int64)
    return new_indptr, indices[pos], data[pos]


def to_scipy(group, fmt, shape):
    import scipy.sparse as sp
    cls = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
    return cls((group["data"][()], group["indices"][()], group["indptr"][()]), shape=shape)


def canonical(m):
    m = m.copy()
    m.sort_indices()
    return m


# ----------------------------------------------------------------- coverage

# --rows JSON (selections: one output per category, a filter): the source
# rows each output must hold, in order, one list per output as given on
# the command line. It replaces the coverage check: such outputs may share
# rows (always-included categories) or leave some out.
EXPECT_ROWS = None


def rows_arg(p):
    p.add_argument("--rows", metavar="JSON", help="expected rows of each output (a JSON list of lists); replaces the coverage check")


def use_rows(args):
    global EXPECT_ROWS
    EXPECT_ROWS = None  # a call of oracle_server.py after one with --rows
    if args.rows:
        import json
        with open(args.rows) as fh:
            EXPECT_ROWS = json.load(fh)
        if isinstance(EXPECT_ROWS, dict):  # selection_rows.py's output
            EXPECT_ROWS = EXPECT_ROWS["rows"]


def check_expected_rows(shard_rows, problems):
    if len(shard_rows) != len(EXPECT_ROWS):
        problems.append(f"rows: {len(shard_rows)} outputs, expected {len(EXPECT_ROWS)}")
        return
    for (path, rows), exp in zip(shard_rows, EXPECT_ROWS):
        exp = np.asarray(exp, dtype=np.int64)
        if rows.size != exp.size or not np.array_equal(rows, exp):
            problems.append(f"{path}: rows differ from the expected selection ({rows.size} rows, expected {exp.size})")


def check_coverage(n_obs, shard_rows, size, order, problems):
    if EXPECT_ROWS is not None:
        return check_expected_rows(shard_rows, problems)
    all_rows = np.concatenate([r for _, r in shard_rows]) if shard_rows else np.zeros(0, int)
    known = all_rows[all_rows >= 0]
    counts = np.bincount(known, minlength=n_obs) if known.size else np.zeros(n_obs, int)
    missing = np.flatnonzero(counts == 0)
    dup = np.flatnonzero(counts > 1)
    if missing.size:
        problems.append(f"coverage: {missing.size} source rows are in no shard (first: row {missing[0]})")
    if dup.size:
        problems.append(f"coverage: {dup.size} source rows are in more than one shard "
                        f"(first: row {dup[0]}, {counts[dup[0]]} times)")
    paths = [p for p, _ in shard_rows]
    for k, (path, rows) in enumerate(shard_rows):
        if size is not None:
            if k < len(paths) - 1 and rows.size != size:
                problems.append(f"{path}: {rows.size} rows, expected --size {size}")
            if k == len(paths) - 1:
                rest = n_obs - size * (len(paths) - 1)
                if rows.size != rest:
                    problems.append(f"{path}: last shard has {rows.size} rows, expected {rest}")
        if order == "contiguous":
            if size is None:
                start = sum(r.size for _, r in shard_rows[:k])
                stop = start + rows.size
            else:
                start, stop = k * size, min((k + 1) * size, n_obs)
            exp = np.arange(start, max(start, stop))
            if rows.size != exp.size or not np.array_equal(rows, exp):
                bad = next((i for i in range(min(rows.size, exp.size)) if rows[i] != exp[i]), None)
                extra = f"; first mismatch at shard row {bad}: source row {rows[bad]}" if bad is not None else ""
                problems.append(f"{path}: rows are not range({start}, {stop}) in order{extra}")


# ----------------------------------------------------------------- h5py level

class Ctx:
    """Per-shard state for the h5py walk (kept tiny on purpose)."""

    def __init__(self, src, shard, rows, n_obs, quick, sample, problems, cache):
        self.src, self.shard, self.rows, self.n_obs = src, shard, rows, n_obs
        self.quick, self.sample, self.problems, self.cache = quick, sample, problems, cache


def src_meta(ctx, obj):
    """Source metas are the same for every shard: cache them."""
    key = ("meta", obj.name)
    if key not in ctx.cache:
        ctx.cache[key] = read_meta(obj)
    return ctx.cache[key]


def src_read(ctx, ds):
    """Whole source dataset, cached across shards."""
    key = ds.name
    if key not in ctx.cache:
        ctx.cache[key] = ds[()]
    return ctx.cache[key]


def check_attrs(ctx, s, d, sm, dm, where, shape_override=None):
    snames, dnames = set(sm["attrs"]), set(dm["attrs"])
    for n in sorted(snames - dnames):
        ctx.problems.append(f"{where}: attribute {n!r} missing")
    for n in sorted(dnames - snames):
        ctx.problems.append(f"{where}: unexpected attribute {n!r}")
    for n in sorted(snames & dnames):
        sv, st, sshape = sm["attrs"][n]
        dv, dt, dshape = dm["attrs"][n]
        if st != dt:
            ctx.problems.append(f"{where}: attribute {n!r} type {describe_type(dt)}, "
                                f"expected {describe_type(st)}")
            continue
        if sshape != dshape:
            ctx.problems.append(f"{where}: attribute {n!r} shape {dshape}, expected {sshape}")
            continue
        if shape_override is not None and n in ("shape", "h5sparse_shape"):
            exp = np.asarray(shape_override, dtype=np.asarray(sv).dtype)
            if not np.array_equal(np.asarray(dv), exp):
                ctx.problems.append(f"{where}: attribute {n!r} = {list(np.asarray(dv))}, "
                                    f"expected {list(exp)}")
            continue
        if st.get_class() == h5py.h5t.REFERENCE:
            check_ref_attr(ctx, s, d, n, sv, dv, where)
            continue
        if not _attr_equal(sv, dv):
            ctx.problems.append(f"{where}: attribute {n!r} = {dv!r}, expected {sv!r}")


def _attr_equal(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        return bytes_diff(a, b).size == 0
    return _obj_eq(a, b)


def check_ref_attr(ctx, s, d, name, sv, dv, where):
    refs_s = np.asarray(sv, dtype=object).ravel()
    refs_d = np.asarray(dv, dtype=object).ravel()
    for rs, rd in zip(refs_s, refs_d):
        try:
            ts = s.file[rs]
        except Exception as e:
            ctx.problems.append(f"{where}: source reference attribute {name!r} is dangling ({e})")
            continue
        try:
            td = d.file[rd]
        except Exception as e:
            ctx.problems.append(f"{where}: reference attribute {name!r} does not dereference ({e})")
            continue
        if isinstance(ts, h5py.Dataset) != isinstance(td, h5py.Dataset):
            ctx.problems.append(f"{where}: reference attribute {name!r} points to a different kind of object")
            continue
        if isinstance(ts, h5py.Dataset):
            if ts.id.get_type() != td.id.get_type():
                ctx.problems.append(f"{where}: reference attribute {name!r} target type "
                                    f"{describe_type(td.id.get_type())}, expected {describe_type(ts.id.get_type())}")
            else:
                report_values(ctx.problems, f"{where}: reference attribute {name!r} target", td[()], ts[()])


def check_node(ctx, s, d, path, role, shape_override=None):
    """Compare source object s with shard object d at path under role
    ('rows' = row-sliced, 'graph' = obsp induced sub-graph, 'copy' = verbatim)."""
    where = f"{ctx.shard.filename}: /{path}"
    sm, dm = src_meta(ctx, s), read_meta(d)
    s_is_ds = sm["ds"]
    if s_is_ds != dm["ds"]:
        ctx.problems.append(f"{where}: is a {'group' if s_is_ds else 'dataset'}, expected a "
                            f"{'dataset' if s_is_ds else 'group'}")
        return
    fmt = sparse_format(sm)
    if fmt and role in ("rows", "graph"):
        shape = sparse_shape(sm)
        m = ctx.rows.size
        new_shape = (m, shape[1]) if role == "rows" else (m, m)
        check_attrs(ctx, s, d, sm, dm, where, shape_override=new_shape)
        check_sparse(ctx, s, d, sm, dm, path, role, fmt, shape, new_shape)
        return
    check_attrs(ctx, s, d, sm, dm, where, shape_override=shape_override)
    if s_is_ds:
        check_dataset(ctx, s, d, sm, dm, path, role)
        return
    # group: decide the children's roles
    skeys, dkeys = set(sm["keys"]), set(dm["keys"])
    for k in sorted(skeys - dkeys):
        ctx.problems.append(f"{where}: missing {'/'.join([path, k]).strip('/')}")
    for k in sorted(dkeys - skeys):
        ctx.problems.append(f"{where}: unexpected {'/'.join([path, k]).strip('/')}")
    for k in sorted(skeys & dkeys):
        child_role, child_override = child_role_of(ctx, s, sm, path, k, role)
        check_node(ctx, s[k], d[k], f"{path}/{k}".lstrip("/"), child_role, child_override)


def child_role_of(ctx, s, sm, path, key, role):
    """Role (and expected 'shape' attr, if it changes) of s[key]."""
    if path == "":  # root
        if key in ("X", "obs", "raw.X"):
            return "rows", None
        if key in ("layers", "obsm"):
            return "dict-rows", None
        if key == "obsp":
            return "dict-graph", None
        if key == "raw":
            shape = None
            raw_attrs = src_meta(ctx, s[key])["attrs"]
            if "shape" in raw_attrs:  # 0.7 raw group: shape (n_obs, n_raw_vars)
                shape = (ctx.rows.size, int(raw_attrs["shape"][0][1]))
            return "raw", shape
        return "copy", None
    if role == "raw":
        return ("rows", None) if key == "X" else ("copy", None)
    if role == "dict-rows":
        return "rows", None
    if role == "dict-graph":
        return "graph", None
    if role == "rows":
        if is_dataframe(sm) and key == "__categories":
            return "copy", None
        if encoding(sm) == "categorical" and key == "categories":
            return "copy", None
        return "rows", None
    return role, None


def check_dataset(ctx, s, d, sm, dm, path, role):
    where = f"{ctx.shard.filename}: /{path}"
    st, dt = sm["tid"], dm["tid"]
    if st != dt:
        ctx.problems.append(f"{where}: dtype {describe_type(dt)} ({d.dtype.str}), "
                            f"expected {describe_type(st)} ({s.dtype.str})")
        return
    m = ctx.rows.size
    sshape = sm["shape"]
    if role == "rows":
        if len(sshape) == 0:
            ctx.problems.append(f"{where}: source dataset is a scalar in a row-sliced element")
            return
        exp_shape = (m,) + sshape[1:]
    elif role == "graph":
        exp_shape = (m, m) if len(sshape) == 2 else (m,) + sshape[1:]
    else:
        exp_shape = sshape
    if dm["shape"] != exp_shape:
        ctx.problems.append(f"{where}: shape {dm['shape']}, expected {exp_shape}")
        return
    if role == "rows":
        if ctx.quick:
            for i in ctx.sample:
                r = int(ctx.rows[i])
                if not report_values(ctx.problems, f"{where} (shard row {i} = source row {r})",
                                     d[i], s[r]):
                    break
        else:
            report_values(ctx.problems, where, d[()], src_read(ctx, s)[ctx.rows])
    elif role == "graph":
        if ctx.quick:
            return
        src = src_read(ctx, s)
        exp = src[ctx.rows][:, ctx.rows] if s.ndim == 2 else src[ctx.rows]
        report_values(ctx.problems, where, d[()], exp)
    else:
        if ctx.quick and sm["size"] > QUICK_VERBATIM_LIMIT:
            return
        if st.get_class() == h5py.h5t.REFERENCE:
            return  # object references inside datasets: not used by AnnData
        report_values(ctx.problems, where, d[()], src_read(ctx, s))


def check_sparse(ctx, s, d, sm, dm, path, role, fmt, shape, new_shape):
    where = f"{ctx.shard.filename}: /{path}"
    parts = ("data", "indices", "indptr")
    skeys, dkeys = set(sm["keys"]), set(dm["keys"])
    for k in sorted(skeys - dkeys):
        ctx.problems.append(f"{where}: missing {path}/{k}")
    for k in sorted(dkeys - skeys):
        ctx.problems.append(f"{where}: unexpected {path}/{k}")
    ok = True
    for k in sorted(skeys & dkeys):
        sw = f"{where}/{k}"
        skm, dkm = src_meta(ctx, s[k]), read_meta(d[k])
        if not skm["ds"] or not dkm["ds"]:
            ctx.problems.append(f"{sw}: expected a dataset")
            ok = False
            continue
        check_attrs(ctx, s[k], d[k], skm, dkm, sw)
        if skm["tid"] != dkm["tid"]:
            ctx.problems.append(f"{sw}: dtype {describe_type(dkm['tid'])} ({d[k].dtype.str}), "
                                f"expected {describe_type(skm['tid'])} ({s[k].dtype.str})")
            ok = False
    if not ok or not all(k in skeys and k in dkeys for k in parts):
        return
    m = ctx.rows.size
    if fmt == "csr" and role == "rows":
        check_csr_rows(ctx, s, d, where, m)
        return
    if ctx.quick and role == "graph":
        return
    # csc row-slicing, and obsp sub-graphs: compare canonical scipy matrices
    import scipy.sparse as sp  # noqa: F401
    key = s.name + "#scipy"
    if key not in ctx.cache:
        ctx.cache[key] = to_scipy(s, fmt, shape)
    src = ctx.cache[key]
    exp = src.tocsr()[ctx.rows]
    if role == "graph":
        exp = exp[:, ctx.rows]
    exp = canonical(exp.asformat(fmt))
    try:
        got = to_scipy(d, fmt, new_shape)
    except Exception as e:
        ctx.problems.append(f"{where}: shard arrays do not form a valid {fmt} matrix ({e})")
        return
    got = canonical(got)
    if got.nnz != exp.nnz:
        ctx.problems.append(f"{where}: {got.nnz} stored entries, expected {exp.nnz}")
        return
    report_values(ctx.problems, f"{where}/indptr (canonical)", got.indptr.astype(np.int64),
                  exp.indptr.astype(np.int64))
    report_values(ctx.problems, f"{where}/indices (canonical)", got.indices.astype(np.int64),
                  exp.indices.astype(np.int64))
    report_values(ctx.problems, f"{where}/data (canonical)", got.data, exp.data.astype(got.data.dtype))


def check_csr_rows(ctx, s, d, where, m):
    s_indptr = src_read(ctx, s["indptr"])
    d_indptr = d["indptr"][()]
    if d_indptr.shape != (m + 1,):
        ctx.problems.append(f"{where}/indptr: shape {d_indptr.shape}, expected {(m + 1,)}")
        return
    rows = ctx.rows
    lens = s_indptr[rows + 1].astype(np.int64) - s_indptr[rows].astype(np.int64)
    exp_indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(lens, out=exp_indptr[1:])
    if not report_values(ctx.problems, f"{where}/indptr", d_indptr.astype(np.int64), exp_indptr):
        return
    nnz = int(exp_indptr[-1])
    for k in ("data", "indices"):
        if d[k].shape != (nnz,):
            ctx.problems.append(f"{where}/{k}: shape {d[k].shape}, expected {(nnz,)}")
            return
    if ctx.quick:
        for i in ctx.sample:
            r = int(rows[i])
            a, b = int(s_indptr[r]), int(s_indptr[r + 1])
            p, q = int(exp_indptr[i]), int(exp_indptr[i + 1])
            for k in ("indices", "data"):
                if not report_values(ctx.problems, f"{where}/{k} (shard row {i} = source row {r})",
                                     d[k][p:q], s[k][a:b]):
                    return
        return
    _, exp_indices, exp_data = gather_csr(s_indptr, src_read(ctx, s["indices"]),
                                          src_read(ctx, s["data"]), rows)
    report_values(ctx.problems, f"{where}/indices", d["indices"][()], exp_indices)
    report_values(ctx.problems, f"{where}/data", d["data"][()], exp_data)


def check_h5_level(src, shard, rows, n_obs, quick, sample, problems, cache):
    ctx = Ctx(src, shard, rows, n_obs, quick, sample, problems, cache)
    check_node(ctx, src["/"], shard["/"], "", "root")


# ----------------------------------------------------------------- anndata level

def is_vlen_str(a):
    """A numpy array of variable-length strings (object of str, or StringDType)."""
    if a.dtype.kind == "T":
        return True
    return a.dtype.kind == "O" and all(isinstance(x, str) for x in a.ravel())


def ad_compare(problems, where, got, exp, canon=False):
    """Exact recursive comparison of anndata-level objects."""
    import pandas as pd
    import scipy.sparse as sp
    if exp is None or got is None:
        if (exp is None) != (got is None):
            problems.append(f"{where}: got {type(got).__name__}, expected {type(exp).__name__}")
        return
    if isinstance(exp, pd.DataFrame):
        if not isinstance(got, pd.DataFrame):
            problems.append(f"{where}: got {type(got).__name__}, expected DataFrame")
            return
        compare_df(problems, where, got, exp)
        return
    if sp.issparse(exp):
        if not sp.issparse(got) or got.format != exp.format:
            problems.append(f"{where}: got {getattr(got, 'format', type(got).__name__)}, "
                            f"expected sparse {exp.format}")
            return
        if got.dtype != exp.dtype:
            problems.append(f"{where}: dtype {got.dtype}, expected {exp.dtype}")
            return
        if got.shape != exp.shape:
            problems.append(f"{where}: shape {got.shape}, expected {exp.shape}")
            return
        if canon:
            got, exp = canonical(got), canonical(exp)
        report_values(problems, f"{where}.indptr", got.indptr.astype(np.int64), exp.indptr.astype(np.int64))
        if got.nnz == exp.nnz:
            report_values(problems, f"{where}.indices", got.indices.astype(np.int64), exp.indices.astype(np.int64))
            report_values(problems, f"{where}.data", got.data, exp.data)
        return
    if isinstance(exp, dict) or hasattr(exp, "keys") and not isinstance(exp, (np.ndarray, pd.DataFrame)):
        if not hasattr(got, "keys"):
            problems.append(f"{where}: got {type(got).__name__}, expected a mapping")
            return
        gk, ek = set(got.keys()), set(exp.keys())
        for k in sorted(ek - gk):
            problems.append(f"{where}: missing key {k!r}")
        for k in sorted(gk - ek):
            problems.append(f"{where}: unexpected key {k!r}")
        for k in sorted(ek & gk):
            ad_compare(problems, f"{where}[{k!r}]", got[k], exp[k], canon)
        return
    if isinstance(exp, np.ndarray):
        if not isinstance(got, np.ndarray):
            problems.append(f"{where}: got {type(got).__name__}, expected ndarray")
            return
        if got.dtype != exp.dtype:
            if is_vlen_str(got) and is_vlen_str(exp):
                # the same stored strings: anndata >= 0.12 reads zarr string
                # arrays as numpy 2's StringDType, h5ad ones as object
                report_values(problems, where, got.astype(object), exp.astype(object))
                return
            problems.append(f"{where}: dtype {got.dtype}, expected {exp.dtype}")
            return
        report_values(problems, where, got, exp)
        return
    if type(got) != type(exp) and not (isinstance(got, str) and isinstance(exp, str)):
        problems.append(f"{where}: type {type(got).__name__}, expected {type(exp).__name__}")
        return
    if not _obj_eq(got, exp):
        problems.append(f"{where}: {got!r}, expected {exp!r}")


def compare_index(problems, where, got, exp):
    if got.dtype != exp.dtype:
        problems.append(f"{where}: dtype {got.dtype}, expected {exp.dtype}")
    if len(got) != len(exp) or not (np.asarray(got) == np.asarray(exp)).all():
        problems.append(f"{where}: values differ")
    if got.name != exp.name:
        problems.append(f"{where}: name {got.name!r}, expected {exp.name!r}")


def compare_df(problems, where, got, exp):
    import pandas as pd
    if list(got.columns) != list(exp.columns):
        problems.append(f"{where}: columns {list(got.columns)}, expected {list(exp.columns)}")
    compare_index(problems, f"{where}.index", got.index, exp.index)
    for col in [c for c in exp.columns if c in got.columns]:
        g, e = got[col], exp[col]
        w = f"{where}[{col!r}]"
        if isinstance(e.dtype, pd.CategoricalDtype):
            if not isinstance(g.dtype, pd.CategoricalDtype):
                problems.append(f"{w}: dtype {g.dtype}, expected category")
                continue
            if list(g.cat.categories) != list(e.cat.categories) or \
                    g.cat.categories.dtype != e.cat.categories.dtype:
                problems.append(f"{w}: categories {list(g.cat.categories)}, "
                                f"expected {list(e.cat.categories)}")
            if bool(g.cat.ordered) != bool(e.cat.ordered):
                problems.append(f"{w}: ordered={g.cat.ordered}, expected {e.cat.ordered}")
            report_values(problems, f"{w} codes", np.asarray(g.cat.codes), np.asarray(e.cat.codes))
            continue
        if g.dtype != e.dtype:
            problems.append(f"{w}: dtype {g.dtype}, expected {e.dtype}")
            continue
        if isinstance(e.dtype, pd.api.extensions.ExtensionDtype):
            gna, ena = np.asarray(g.isna()), np.asarray(e.isna())
            if report_values(problems, f"{w} NA positions", gna, ena):
                gv = np.asarray(g[~gna].to_numpy(dtype=object))
                ev = np.asarray(e[~ena].to_numpy(dtype=object))
                report_values(problems, w, gv, ev)
            continue
        report_values(problems, w, g.to_numpy(), e.to_numpy())


def check_anndata_level(source, shard_path, rows, problems):
    import anndata as ad
    import pandas as pd
    try:
        got = ad.read_h5ad(shard_path)
    except Exception as e:
        problems.append(f"{shard_path}: anndata.read_h5ad failed: {type(e).__name__}: {e}")
        return
    w = f"{shard_path}: anndata"
    if got.shape != (rows.size, source.n_vars):
        problems.append(f"{w}: shape {got.shape}, expected {(rows.size, source.n_vars)}")
        return
    ad_compare(problems, f"{w} X", got.X, None if source.X is None else source.X[rows])
    ad_compare(problems, f"{w} layers", dict(got.layers), {k: v[rows] for k, v in source.layers.items()})
    exp_obs = source.obs.iloc[rows]  # keeps the full category lists
    compare_df(problems, f"{w} obs", got.obs, exp_obs)
    compare_index(problems, f"{w} obs_names", got.obs_names, source.obs_names[rows])
    compare_df(problems, f"{w} var", got.var, source.var)
    compare_index(problems, f"{w} var_names", got.var_names, source.var_names)
    exp_obsm = {k: (v.iloc[rows] if isinstance(v, pd.DataFrame) else v[rows])
                for k, v in source.obsm.items()}
    ad_compare(problems, f"{w} obsm", dict(got.obsm), exp_obsm)
    ad_compare(problems, f"{w} obsp", dict(got.obsp),
               {k: v[rows][:, rows] for k, v in source.obsp.items()}, canon=True)
    ad_compare(problems, f"{w} varm", dict(got.varm), dict(source.varm))
    ad_compare(problems, f"{w} varp", dict(got.varp), dict(source.varp))
    ad_compare(problems, f"{w} uns", dict(got.uns), dict(source.uns))
    if (got.raw is None) != (source.raw is None):
        problems.append(f"{w} raw: present={got.raw is not None}, expected {source.raw is not None}")
    elif source.raw is not None:
        ad_compare(problems, f"{w} raw.X", got.raw.X, source.raw.X[rows])
        compare_df(problems, f"{w} raw.var", got.raw.var, source.raw.var)
        ad_compare(problems, f"{w} raw.varm", dict(got.raw.varm), dict(source.raw.varm))


# ----------------------------------------------------------------- main

def run(source, shards, order="any", size=None, quick=False, samples=5, seed=0):
    """Check shards against source; returns (problems, summary)."""
    problems = []
    try:
        src = h5py.File(source, "r")
        src_names = read_obs_names(src)
    except Exception as e:
        print(f"check_shards: cannot read source {source}: {type(e).__name__}: {e}", file=sys.stderr)
        raise SystemExit(2)
    import pandas as pd
    src_index = pd.Index(src_names)
    if not src_index.is_unique:
        print(f"check_shards: source {source} has duplicate obs names; rows cannot be derived",
              file=sys.stderr)
        raise SystemExit(2)
    n_obs = src_names.size

    shard_rows, opened = [], []  # lists: the same path may (wrongly) be given twice
    for path in shards:
        try:
            f = h5py.File(path, "r")
        except Exception as e:
            problems.append(f"{path}: cannot open with h5py: {type(e).__name__}: {e}")
            shard_rows.append((path, np.zeros(0, dtype=np.int64)))
            continue
        try:
            names = read_obs_names(f)
        except Exception as e:
            problems.append(f"{path}: cannot read obs names: {type(e).__name__}: {e}")
            shard_rows.append((path, np.zeros(0, dtype=np.int64)))
            f.close()
            continue
        rows = src_index.get_indexer(names).astype(np.int64)
        unknown = np.flatnonzero(rows < 0)
        if unknown.size:
            problems.append(f"{path}: {unknown.size} obs names not in the source (first: {names[unknown[0]]!r})")
        if pd.Index(names).has_duplicates:
            problems.append(f"{path}: duplicate obs names")
        if rows.size == 0 and EXPECT_ROWS is None:
            problems.append(f"{path}: shard has no rows")
        shard_rows.append((path, rows))
        opened.append((path, f, rows))
    check_coverage(n_obs, shard_rows, size, order, problems)

    adata_src, ad_note = None, ""
    if not quick:
        try:
            import anndata as ad
            adata_src = ad.read_h5ad(source)
        except Exception as e:
            ad_note = f"; anndata level skipped (anndata cannot read the source: {type(e).__name__})"
    else:
        ad_note = "; quick mode (no anndata level, sampled rows)"

    rng = np.random.default_rng(seed)
    cache = {}
    for path, f, rows in opened:
        if (rows < 0).any() or rows.size == 0:
            continue  # content expectation unknown; already reported
        sample = np.sort(rng.choice(rows.size, size=min(samples, rows.size), replace=False))
        check_h5_level(src, f, rows, n_obs, quick, sample, problems, cache)
        f.close()
        if adata_src is not None:
            check_anndata_level(adata_src, path, rows, problems)
    src.close()
    total = sum(r.size for _, r in shard_rows)
    summary = (f"OK: {len(shards)} shards hold all {n_obs} rows of {source} "
               f"({total} rows, order {order}{'' if size is None else f', size {size}'}); "
               f"h5py level{' + anndata level' if adata_src is not None else ''} match{ad_note}")
    return problems, summary


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Check annslicer shards against their source .h5ad (exit 0 = all match).")
    p.add_argument("--source", required=True, help="the source .h5ad the shards were cut from")
    p.add_argument("--order", choices=("contiguous", "any"), default="any",
                   help="contiguous: shard k must hold rows k*N.. in order (default: any)")
    p.add_argument("--size", type=int, default=None,
                   help="rows per shard; every shard but the last must have exactly N")
    p.add_argument("--quick", action="store_true",
                   help="large files: coverage, types, attrs, sampled row values only")
    p.add_argument("--samples", type=int, default=5, help="rows per shard checked in --quick (5)")
    p.add_argument("--seed", type=int, default=0, help="seed for the --quick row sample (0)")
    p.add_argument("shards", nargs="+", metavar="SHARD", help="shard files, in shard order")
    rows_arg(p)
    args = p.parse_args(argv)
    use_rows(args)
    t0 = time.time()
    problems, summary = run(args.source, args.shards, args.order, args.size, args.quick,
                            args.samples, args.seed)
    if problems:
        for line in problems:
            print(line)
        print(f"FAILED: {len(problems)} problems ({time.time() - t0:.1f}s)", file=sys.stderr)
        return 1
    print(f"{summary} ({time.time() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

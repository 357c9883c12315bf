#!/usr/bin/env python3
"""Write corrupt variants of an .h5ad fixture, for annslicer's corruption test.

Why: annslicer must answer every corrupt or hostile source with either
correct shards or a one-line error -- never a crash, a hang, a memory bomb
or wrong bytes. cmd/annslicer/corrupt_h5ad_test.go slices each variant
written here and holds the result to that.

Variants (all deterministic: fixed offsets and seeded random bit flips):

* truncations at several offsets;
* seeded bit flips in data regions (dataset bytes, chunks, global heaps)
  and in metadata (everything else: superblock, object headers, B-trees);
* the cases of issue 9: indptr past nnz, negative indptr[0], data shorter
  than indices (chunked X as anndata writes it, and a contiguous copy), X
  shape attribute wrong / negative / 2^40, obs index and other elements
  declared 2^40 long, var strings whose global-heap references are garbage.

Writes OUTDIR/<name>.h5ad and OUTDIR/manifest.json: a list of
{"name", "file", "expect"} where expect is "error" (the file must be
refused) or "any" (correct shards or a clean error are both fine).

Usage:  /usr/bin/python3 testdata/make_corrupt_h5ad.py SOURCE.h5ad OUTDIR
"""

import json
import os
import random
import shutil
import struct
import sys

import h5py
import numpy as np

BIG = 1 << 40


def regions(path):
    """File ranges holding data: dataset extents, chunks, global heaps."""
    out = []

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset):
            return
        dsid = obj.id
        if obj.chunks:
            for i in range(dsid.get_num_chunks()):
                ci = dsid.get_chunk_info(i)
                out.append((ci.byte_offset, ci.size))
        else:
            off = dsid.get_offset()
            if off is not None and dsid.get_storage_size() > 0:
                out.append((off, dsid.get_storage_size()))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    data = open(path, "rb").read()
    i = data.find(b"GCOL")
    while i >= 0:
        out.append((i, struct.unpack("<Q", data[i + 8:i + 16])[0]))
        i = data.find(b"GCOL", i + 4)
    return sorted(out)


def header_addr(path, name):
    with h5py.File(path, "r") as f:
        return h5py.h5o.get_info(f[name].id).addr


def patch_dims(path, name, old, new):
    """Rewrites a dataset's dataspace (dims and max dims) in its header."""
    addr = header_addr(path, name)
    b = bytearray(open(path, "rb").read())
    pat, rep = struct.pack("<Q", old), struct.pack("<Q", new)
    n = 0
    at = addr
    while n < 2:
        at = b.find(pat, at, addr + 512)
        if at < 0:
            break
        b[at:at + 8] = rep
        n += 1
        at += 8
    if n == 0:
        raise SystemExit(f"dims {old} of {name} not found in its header")
    open(path, "wb").write(b)


def attr_value(path, obj, attr):
    """File offset of the value of an attribute in a version 1 object
    header (its message: version, reserved, name, datatype and dataspace
    sizes, then each part padded to 8 bytes)."""
    addr = header_addr(path, obj)
    b = open(path, "rb").read()
    pos = b.find(attr.encode() + b"\0", addr)
    msg = pos - 8
    assert b[msg] == 1, "not a version 1 attribute message"
    name_n, dt_n, ds_n = struct.unpack("<HHH", b[msg + 2:msg + 8])
    pad = lambda n: (n + 7) // 8 * 8
    return pos + pad(name_n) + pad(dt_n) + pad(ds_n)


def first_desc(path, name):
    """File offset of the first vlen descriptor of a contiguous dataset."""
    with h5py.File(path, "r") as f:
        return f[name].id.get_offset()


def main():
    src, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    manifest = []
    data = open(src, "rb").read()

    def emit(name, expect, b=None, edit=None, base=None):
        path = os.path.join(outdir, name + ".h5ad")
        if b is not None:
            open(path, "wb").write(b)
        else:
            shutil.copyfile(base or src, path)
        if edit:
            if callable(edit):
                edit(path)
        manifest.append({"name": name, "file": path, "expect": expect})
        return path

    def h5edit(fn):
        def run(path):
            with h5py.File(path, "r+") as f:
                fn(f)
        return run

    # A copy whose CSR arrays are contiguous (anndata writes them chunked),
    # so both read paths (pread of a contiguous extent, of chunks) are hit.
    contig = os.path.join(outdir, "_contiguous_source.h5ad")
    shutil.copyfile(src, contig)
    with h5py.File(contig, "r+") as f:
        for g in ("X", "layers/counts"):
            for a in ("data", "indices", "indptr"):
                v = f[g][a][()]
                del f[g][a]
                f[g].create_dataset(a, data=v)
    nnz = len(h5py.File(src, "r")["X/data"])

    # --- truncations
    for frac in (0.001, 0.05, 0.3, 0.6, 0.9, 0.999):
        emit(f"trunc_{frac}", "error", data[:int(len(data) * frac)])
    emit("trunc_minus1", "error", data[:-1])

    # --- CSR cases of issue 9 point 1, chunked (as written) and contiguous
    for tag, base in (("chunked", src), ("contig", contig)):
        def past(f):
            p = f["X/indptr"]
            p[-1] = nnz + 100
        emit(f"indptr_past_nnz_{tag}", "error", edit=h5edit(past), base=base)

        def far(f):
            p = f["X/indptr"]
            p[-3:] = [nnz + 5000, nnz + 9000, nnz + 20000]
        emit(f"indptr_far_past_nnz_{tag}", "error", edit=h5edit(far), base=base)

        def neg(f):
            f["X/indptr"][0] = -7
        emit(f"indptr_negative_{tag}", "error", edit=h5edit(neg), base=base)

        def short(f):
            v = f["X/data"][()]
            del f["X/data"]
            f["X"].create_dataset("data", data=v[:-10])
        emit(f"data_shorter_{tag}", "error", edit=h5edit(short), base=base)

        def layer_past(f):
            f["layers/counts/indptr"][-1] = nnz * 3
        emit(f"layer_indptr_past_nnz_{tag}", "error", edit=h5edit(layer_past), base=base)

        def decreasing(f):
            p = f["X/indptr"]
            v = p[()]
            v[200] = v[300]
            p[...] = v
        emit(f"indptr_decreasing_{tag}", "error", edit=h5edit(decreasing), base=base)

    # --- shape attributes
    def shape(v):
        return h5edit(lambda f: f["X"].attrs.__setitem__("shape", np.array(v, dtype=np.int64)))
    n_obs, n_vars = h5py.File(src, "r")["X"].attrs["shape"]
    emit("x_shape_cols_wrong", "error", edit=shape([n_obs, n_vars + 3]))
    emit("x_shape_cols_negative", "error", edit=shape([n_obs, -1]))
    emit("x_shape_cols_2e40", "error", edit=shape([n_obs, BIG]))
    emit("x_shape_rows_2e40", "error", edit=shape([BIG, n_vars]))

    # --- declared lengths (memory bombs): dataspace edits in the headers
    p = emit("obs_index_2e40", "error")
    patch_dims(p, "obs/_index", n_obs, BIG)
    p = emit("obs_column_2e40", "error")
    patch_dims(p, "obs/f64", n_obs, BIG)
    p = emit("var_index_2e40", "error")
    patch_dims(p, "var/_index", n_vars, BIG)
    p = emit("obsm_cols_2e40", "error")
    patch_dims(p, "obsm/X_umap", 2, BIG)

    # --- var strings whose global-heap references are garbage (point 4)
    off = first_desc(src, "var/_index")
    for name, at, val in (("var_string_heap_addr", 4, struct.pack("<Q", 0x1234567)),
                          ("var_string_heap_index", 12, struct.pack("<I", 40000)),
                          ("var_string_length", 0, struct.pack("<I", 1 << 20))):
        b = bytearray(data)
        b[off + at:off + at + len(val)] = val
        emit(name, "error", bytes(b))

    # --- a string attribute whose descriptor is garbage (the first
    # encoding-type value stored after var's object header: obs/maybe's in
    # full.h5ad): libhdf5 follows it when it reads or copies the element
    at = attr_value(src, "var", "encoding-type")
    for name, off, val in (("attr_string_length", 0, struct.pack("<I", 1 << 30)),
                           ("attr_string_heap_index", 12, struct.pack("<I", 9999))):
        b = bytearray(data)
        b[at + off:at + off + len(val)] = val
        emit(name, "error", bytes(b))

    # --- seeded bit flips: data regions, then metadata
    regs = regions(src)
    in_data = bytearray(len(data))
    for o, n in regs:
        in_data[o:o + n] = b"\x01" * n
    meta = [i for i in range(len(data)) if not in_data[i]]
    for seed in range(12):
        rng = random.Random(seed)
        b = bytearray(data)
        for _ in range(8):
            o, n = rng.choice(regs)
            b[o + rng.randrange(n)] ^= 1 << rng.randrange(8)
        emit(f"flip_data_{seed}", "any", bytes(b))
    for seed in range(12):
        rng = random.Random(1000 + seed)
        b = bytearray(data)
        for _ in range(2):
            b[rng.choice(meta)] ^= 1 << rng.randrange(8)
        emit(f"flip_meta_{seed}", "any", bytes(b))

    os.remove(contig)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"{len(manifest)} variants in {outdir}")


if __name__ == "__main__":
    main()

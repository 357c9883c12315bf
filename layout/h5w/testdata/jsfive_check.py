#!/usr/bin/env python3
"""Checks that jsfive (a JavaScript HDF5 reader written without libhdf5)
reads FILE as h5py does: every group and dataset, every value and
attribute. Prints one line per difference and exits 1 on any.

    jsfive_check.py FILE [NODE_DIR]

Known jsfive 0.4 gaps are allowed where jsfive says so, and only there:
compound (record) datasets ("Compound type not yet implemented"), and
LZF-compressed ones (filter 32000: a source's verbatim elements keep
their filters). Object references are skipped (jsfive gives an address,
h5py a path); NaN is null in jsfive's JSON; jsfive keeps the padding of
null-padded fixed-length strings, which h5py strips.
"""
import json
import os
import subprocess
import sys

import h5py
import numpy as np

def gap(o, err):
    if err == "Compound type not yet implemented!":
        return bool(o.dtype.names)
    if "Filter with id:32000 not supported" in err:
        return o.compression == "lzf"
    return False


def val(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        return [val(x) for x in v.ravel().tolist()]
    if isinstance(v, np.generic):
        return val(v.item())
    if isinstance(v, (list, tuple)):
        return [val(x) for x in v]
    if isinstance(v, bool):
        return int(v)
    return v


def flat(v):
    if isinstance(v, list):
        out = []
        for x in v:
            out.extend(flat(x))
        return out
    if isinstance(v, bool):
        return [int(v)]
    return [v]


def same(a, b):
    a, b = flat(a), flat(b)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, float) and x != x and (y is None or y != y):
            continue
        if isinstance(y, str):
            y = y.rstrip("\x00")  # jsfive keeps a null-padded string's padding
        if x != y:
            return False
    return True


def main():
    path = sys.argv[1]
    node_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
    js = json.loads(subprocess.run(["node", os.path.join(node_dir, "dump.mjs"), path], check=True, capture_output=True, text=True).stdout)
    bad = []
    n = 0
    with h5py.File(path, "r") as f:
        def visit(name, o):
            nonlocal n
            p = "/" + name if name else "/"
            g = js.get(p)
            if g is None:
                bad.append(f"{p}: jsfive does not see it")
                return
            n += 1
            if isinstance(o, h5py.Dataset):
                if "error" in g:
                    if gap(o, g["error"]):
                        return
                    bad.append(f"{p}: jsfive: {g['error']}")
                    return
                v = o.asstr()[()] if o.dtype.kind == "O" else o[()]
                if not same(val(v), g.get("value")):
                    bad.append(f"{p}: jsfive reads {str(g.get('value'))[:80]}, h5py {str(val(v))[:80]}")
            for k in o.attrs:
                a = o.attrs[k]
                if isinstance(a, h5py.Reference) or (isinstance(a, np.ndarray) and a.dtype == h5py.ref_dtype):
                    continue
                if not same(val(a), g.get("attrs", {}).get(k)):
                    bad.append(f"{p}: attribute {k}: jsfive reads {g.get('attrs', {}).get(k)}, h5py {val(a)}")
        visit("", f)
        f.visititems(visit)
    for b in bad:
        print(b)
    if bad:
        sys.exit(1)
    print(f"jsfive reads {n} objects as h5py does")


if __name__ == "__main__":
    main()

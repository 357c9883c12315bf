"""The zarr-python 3 oracle for Go's zarr v3 output (run with the project
venv: .venv/bin/python; zarrtool.py is zarr-python 2.13's, which cannot
read v3).

    zarr3tool.py dump STORE PATH...   print each array PATH of STORE as
                                      JSON, as zarr-python 3 reads it
    zarr3tool.py consolidate STORE    zarr.consolidate_metadata(STORE)

Every warning is an error: a store anndata and zarr-python read with a
warning is not what they write. dump describes an array as {"dtype"
(kind and item size, e.g. "f8"; "string" for variable-length strings),
"shape", "hex" (the elements little-endian, C order) or "strings",
"attrs", "doc_same" (zarr-python writes this array's zarr.json with the
very bytes the file holds)}; the root's consolidated metadata is read
(use_consolidated=True) and listed under "" as "consolidated" (its paths).
"""
import json
import sys
import warnings

warnings.simplefilter("error")

import numpy as np  # noqa: E402
import zarr  # noqa: E402
from zarr.core.buffer import default_buffer_prototype  # noqa: E402
from zarr.errors import UnstableSpecificationWarning  # noqa: E402


def describe(a):
    x = a[...]
    x = np.asarray(x)
    d = {"shape": list(x.shape)}
    if x.dtype.kind in "OT":
        d["dtype"] = "string"
        d["strings"] = [str(v) for v in x.ravel()]
        return d
    d["dtype"] = f"{x.dtype.kind}{x.dtype.itemsize}"
    if x.dtype.names is None and x.dtype.byteorder == ">":
        x = x.astype(x.dtype.newbyteorder("<"))
    d["hex"] = np.ascontiguousarray(x).tobytes().hex()
    return d


def dump(store, paths):
    root = zarr.open_group(store, mode="r", use_consolidated=True)
    cm = root.metadata.consolidated_metadata
    out = {"": {"attrs": dict(root.attrs),
                "consolidated": sorted(cm.flattened_metadata) if cm is not None else None}}
    for p in paths:
        try:
            a = root[p]
            d = describe(a)
            d["attrs"] = dict(a.attrs)
            with warnings.catch_warnings():
                # writing (not reading) records and fixed-size strings
                # warns that their v3 form is not specified yet; anndata's
                # own writes warn the same
                warnings.simplefilter("ignore", UnstableSpecificationWarning)
                want = a.metadata.to_buffer_dict(default_buffer_prototype())["zarr.json"].to_bytes()
            with open(f"{store}/{p}/zarr.json", "rb") as f:
                d["doc_same"] = f.read() == want
            if not d["doc_same"]:
                d["doc_want"] = want.decode()
        except Exception as e:  # reported per array by the Go test
            d = {"error": f"{type(e).__name__}: {e}"}
        out[p] = d
    json.dump(out, sys.stdout)


def consolidate(store):
    # zarr-python warns that v3 consolidated metadata is not in the spec
    # yet; anndata consolidates anyway, and so do we
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(store)


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2], sys.argv[3:])
    else:
        consolidate(sys.argv[2])

#!/usr/bin/env python3
"""Check that a manifest (a mount's shards.json, or slice --manifest) maps
every cell of every shard back to its origin: cell i of a shard is the
row its runs name, in the input (or, for a collection, inputs[file])
that they name. Compared by obs name, read with anndata.

usage: check_manifest_rows.py MANIFEST [--dir DIR]
  DIR: where the shards' names are relative to (default: the manifest's
  directory).
"""
import argparse
import json
import os
import sys

import anndata as ad
import numpy as np


def obs_names(path):
    if path.rstrip("/").endswith(".zarr"):
        a = ad.read_zarr(path)
    else:
        a = ad.read_h5ad(path, backed="r")
    names = np.asarray(a.obs_names, dtype=object)
    if getattr(a, "file", None) is not None and a.isbacked:
        a.file.close()
    return names


def main():
    p = argparse.ArgumentParser()
    p.add_argument("manifest")
    p.add_argument("--dir")
    args = p.parse_args()
    with open(args.manifest) as f:
        doc = json.load(f)
    base = args.dir or os.path.dirname(os.path.abspath(args.manifest))
    if "inputs" in doc:
        sources = [obs_names(i["path"]) for i in doc["inputs"]]
        width = 3
    else:
        sources = [obs_names(doc["input"])]
        width = 2
    errors, cells = [], 0
    for s in doc["shards"]:
        got = obs_names(os.path.join(base, s["name"]))
        want = []
        for run in s["rows"]:
            if len(run) != width:
                errors.append(f"{s['name']}: run {run} has {len(run)} numbers, want {width}")
                continue
            f, lo, hi = (run if width == 3 else [0] + run)
            if not 0 <= lo < hi <= len(sources[f]):
                errors.append(f"{s['name']}: run {run} is outside its input ({len(sources[f])} cells)")
                continue
            want.extend(sources[f][lo:hi])
        if len(want) != s["cells"] or list(got) != want:
            errors.append(f"{s['name']}: runs name {len(want)} cells, the shard holds {len(got)} "
                          f"(cells {s['cells']}); first differing: "
                          f"{next(((i, a, b) for i, (a, b) in enumerate(zip(got, want)) if a != b), None)}")
        cells += len(got)
    if errors:
        sys.exit("\n".join(errors))
    print(f"{len(doc['shards'])} shards, {cells} cells mapped back to their origin")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write a collection for the benchmark: N .h5ad files of the bench shape
(testdata/make_bench.py), each with its own cells and a share of private
genes, so that an outer join grows var and every file is remapped.

usage: make_collection.py DIR --files N --cells C [--genes G] [--shared 0.8]
Writes DIR/part_0000.h5ad … (skips files already there), seed = file index.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata"))
from make_bench import write_bench  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--files", type=int, required=True)
    p.add_argument("--cells", type=int, required=True)
    p.add_argument("--genes", type=int, default=10_000)
    p.add_argument("--shared", type=float, default=0.8, help="share of each file's genes common to all files")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    private = a.genes - int(round(a.genes * a.shared))
    for k in range(a.files):
        path = os.path.join(a.dir, f"part_{k:04d}.h5ad")
        if not os.path.exists(path):
            write_bench(path, a.cells, a.genes, 0.01, k, tag=str(k), private=private)
    print(f"{a.dir}: {a.files} files of {a.cells} cells x {a.genes} genes ({private} private each)")


if __name__ == "__main__":
    main()

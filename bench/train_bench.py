#!/usr/bin/env python3
"""Training benchmark for `make bench`: a training loop over shuffled shards, three ways (and a variant).

Why: the claim is that a loader over virtual shuffled shards (annslicer mount)
is at least as fast as over materialized ones, and worth comparing with
annbatch, which preshuffles into a zarr collection first. All three are run
here back to back on the same source, each reading N mini-batches of 256
cells as dense float32 (the consumer's view, as examples/train_loader.py):

  (a) examples/train_loader.py's loop over `annslicer mount --shuffle`
      (virtual shards; the mount is counted in the time to first batch);
  (a') the same, each virtual shard first read through once with 1 MiB
      reads before anndata opens it (counted in the time to first batch):
      how (a) fares when the shards' bytes are made in large reads up
      front rather than on h5py's small reads during the first pass;
  (a'') the same over `annslicer mount --shuffle --prefetch`: the mount
      makes each shard whole into the kernel's page cache when it is
      first opened, in the background;
  (b) the same loop over `annslicer materialize --shuffle` of the same shards
      (materialize timed separately, and counted in "first batch incl. prep");
  (c) annbatch: DatasetCollection.add_adatas(shuffle=True) (its preshuffle,
      timed and counted the same way), then its Loader, under Python >= 3.12
      (--annbatch-python; annbatch needs it: bench/python313.sh builds one).

Each way runs in its own process (imports not timed). Time to first batch:
from the start of the way (mount / open of the shards / collection) until the
first dense batch is in hand; steady cells/s: batches 2..N; again cells/s:
the same N batches drawn once more in the same process (a second epoch: the
virtual shards' bytes are then in the page cache). Every file is in the
page cache to begin with (the source is read first; the shards and the
collection were just written), as for the other rows of `make bench`.
The ways run --repeat times, interleaved; medians are shown.

Usage: /usr/bin/python3 bench/train_bench.py SRC.h5ad WORKDIR [--bin bin/annslicer]
       [--size 10000] [--batches 500] [--batch-size 256] [--repeat 3]
       [--annbatch-python PY] [--json OUT]
Prints a Markdown table on stdout.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def consume(batches, n):
    """Draws n dense float32 batches; returns (first-batch time, steady seconds,
    steady cells, checksum). The "training step" touches every value."""
    t0 = time.perf_counter()
    first = steady_t0 = None
    cells, checksum = 0, 0.0
    for i, x in enumerate(batches):
        checksum += float(x.sum(dtype="float64"))
        if i == 0:
            first = steady_t0 = time.perf_counter()
        else:
            cells += x.shape[0]
        if i + 1 == n:
            break
    else:
        raise SystemExit(f"the loader ran out after {i + 1} of {n} batches")
    return first - t0, time.perf_counter() - steady_t0, cells, checksum


def worker_shards(a):
    """(a) and (b): examples/train_loader.py's loop; prints a JSON result."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import warnings

    warnings.filterwarnings("ignore")
    import annslicer
    import train_loader as tl

    def run(paths, t_start):
        shards = tl.open_shards(paths)
        t_open = time.perf_counter() - t_start
        gen = tl.minibatches(shards, a.batch_size, a.batches, a.seed, "block")
        pre = time.perf_counter() - t_start
        first, steady, cells, checksum = consume(gen, a.batches)
        # the same batches again: what a second epoch over these cells costs
        gen = tl.minibatches(shards, a.batch_size, a.batches, a.seed, "block")
        _, again, _, checksum2 = consume(gen, a.batches)
        assert checksum2 == checksum, (checksum, checksum2)
        for s in shards:
            s.file.close()
        return {"first": pre + first, "open": t_open, "steady_s": steady, "again_s": again, "cells": cells,
                "checksum": checksum}

    if a.worker in ("virtual", "virtual-read", "virtual-prefetch"):
        os.makedirs(a.path, exist_ok=True)
        t0 = time.perf_counter()
        # annslicer.mount runs $ANNSLICER_BIN (else `annslicer` from PATH)
        with annslicer.mount(a.src, a.path, shard_size=a.size, shuffle=True, seed=a.seed,
                             prefetch=a.worker == "virtual-prefetch") as m:
            t_mount = time.perf_counter() - t0
            if a.worker == "virtual-read":  # every shard read once, 1 MiB reads, before anndata opens them
                for p in m.shards:
                    read_file(p)
            r = run(m.shards, t0)
        r["mount"] = t_mount
    else:
        t0 = time.perf_counter()
        r = run(tl.shard_paths(a.path), t0)
    print(json.dumps(r))


def worker_annbatch(a):
    """(c): annbatch's preshuffle (timed) and its Loader; prints a JSON result."""
    import warnings

    warnings.filterwarnings("ignore")
    import numpy as np
    import zarr

    try:  # annbatch: "zarrs is necessary for local filesystem performance"
        import zarrs  # noqa: F401

        zarr.config.set({"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"})
        codec = "zarrs"
    except ImportError:
        codec = "zarr-python"
    import anndata as ad
    import annbatch
    from annbatch import DatasetCollection, Loader

    shutil.rmtree(a.path, ignore_errors=True)
    t0 = time.perf_counter()
    # annbatch's preshuffle with its defaults (every element of the AnnData,
    # as annslicer's shards hold; one dataset: 200k cells < dataset_size 20GB)
    DatasetCollection(a.path).add_adatas([a.src], shuffle=True, rng=np.random.default_rng(a.seed))
    t_prep = time.perf_counter() - t0
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(a.path) for f in fs)

    def x_only(g):  # the loop reads X only, as train_loader.py's
        return ad.AnnData(X=ad.io.sparse_dataset(g["X"]))

    def dense(loader):
        for b in loader:
            x = b["X"]
            x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
            yield x.astype(np.float32, copy=False)

    def open_loader():
        coll = DatasetCollection(a.path, mode="r")
        # the README's example settings (chunk_size 32, preload_nchunks 256), CPU
        loader = Loader(batch_size=a.batch_size, chunk_size=a.chunk_size, preload_nchunks=a.preload_nchunks,
                        shuffle=True, preload_to_gpu=False, rng=np.random.default_rng(a.seed))
        with ad.settings.override(remove_unused_categories=False):
            return loader.use_collection(coll, load_adata=x_only)

    t0 = time.perf_counter()
    loader = open_loader()
    pre = time.perf_counter() - t0
    first, steady, cells, checksum = consume(dense(loader), a.batches)
    # the same batches again (same rng seed), as for the shards
    _, again, _, checksum2 = consume(dense(open_loader()), a.batches)
    assert checksum2 == checksum, (checksum, checksum2)
    print(json.dumps({"prep": t_prep, "first": pre + first, "open": pre, "steady_s": steady, "again_s": again,
                      "cells": cells,
                      "checksum": checksum, "bytes": size, "version": annbatch.__version__, "codec": codec,
                      "python": sys.version.split()[0]}))


def sub(py, *args, env=None):
    out = subprocess.run([py, os.path.abspath(__file__), *args], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def read_file(path):
    with open(path, "rb", buffering=0) as fh:
        while fh.read(1 << 20):
            pass


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("work")
    ap.add_argument("--bin", default="bin/annslicer")
    ap.add_argument("--size", type=int, default=10000, help="cells per shard (10000)")
    ap.add_argument("--batches", type=int, default=500, help="mini-batches per way (500)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the three ways; medians are shown (3)")
    ap.add_argument("--chunk-size", type=int, default=32, help="annbatch Loader chunk_size (32)")
    ap.add_argument("--preload-nchunks", type=int, default=256, help="annbatch Loader preload_nchunks (256)")
    ap.add_argument("--annbatch-python", help="a Python >= 3.12 with annbatch; without it (c) is skipped")
    ap.add_argument("--annbatch-skip-reason", default="no --annbatch-python", help=argparse.SUPPRESS)
    ap.add_argument("--json")
    ap.add_argument("--worker", choices=("virtual", "virtual-read", "virtual-prefetch", "materialized", "annbatch"), help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.worker == "annbatch":
        return worker_annbatch(a)
    if a.worker:
        return worker_shards(a)

    src = os.path.abspath(a.src)
    os.makedirs(a.work, exist_ok=True)
    mnt, mat, coll = (os.path.join(os.path.abspath(a.work), d) for d in ("mnt", "mat", "annbatch.zarr"))
    common = ["--size", str(a.size), "--batches", str(a.batches), "--batch-size", str(a.batch_size),
              "--seed", str(a.seed), "--chunk-size", str(a.chunk_size), "--preload-nchunks", str(a.preload_nchunks)]
    env = dict(os.environ, ANNSLICER_BIN=os.path.abspath(a.bin))
    read_file(src)  # the source in the page cache, for every way

    runs = {"virtual": [], "virtual-read": [], "virtual-prefetch": [], "materialized": [], "annbatch": []}
    skipped = None if a.annbatch_python else a.annbatch_skip_reason
    for _ in range(a.repeat):
        r = sub(sys.executable, src, a.work, *common, "--worker", "virtual", "--path", mnt, env=env)
        runs["virtual"].append(dict(r, prep=0.0))
        r = sub(sys.executable, src, a.work, *common, "--worker", "virtual-read", "--path", mnt, env=env)
        runs["virtual-read"].append(dict(r, prep=0.0))
        r = sub(sys.executable, src, a.work, *common, "--worker", "virtual-prefetch", "--path", mnt, env=env)
        runs["virtual-prefetch"].append(dict(r, prep=0.0))

        shutil.rmtree(mat, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run([a.bin, "materialize", src, mat, "--size", str(a.size), "--shuffle", "--seed", str(a.seed)],
                       check=True, stdout=subprocess.DEVNULL)
        t_mat = time.perf_counter() - t0
        r = sub(sys.executable, src, a.work, *common, "--worker", "materialized", "--path", mat, env=env)
        r["bytes"] = sum(os.path.getsize(os.path.join(mat, f)) for f in os.listdir(mat))
        runs["materialized"].append(dict(r, prep=t_mat))
        shutil.rmtree(mat, ignore_errors=True)

        if not skipped:
            try:
                runs["annbatch"].append(sub(a.annbatch_python, src, a.work, *common, "--worker", "annbatch",
                                            "--path", coll))
            except subprocess.CalledProcessError as e:
                err = (e.stderr or "").strip().splitlines()
                skipped = f"annbatch run failed: {err[-1] if err else e}"
            shutil.rmtree(coll, ignore_errors=True)

    def rates(rs, key):
        return [r["cells"] / r[key] for r in rs]

    def fmt_row(label, prep_label, rs):
        m = {k: median([r[k] for r in rs]) for k in ("prep", "first")}
        incl = median([r["prep"] + r["first"] for r in rs])
        st, ag = rates(rs, "steady_s"), rates(rs, "again_s")
        prep = f"{m['prep']:.2f} ({prep_label})" if m["prep"] else "0 (nothing written)"
        disk = f"{rs[0]['bytes'] / 1e6:.0f} MB" if rs[0].get("bytes") else "0"
        return (f"| {label} | {prep} | {m['first']:.2f} | {incl:.2f} | {median(st):,.0f} ({min(st):,.0f} – {max(st):,.0f}) "
                f"| {median(ag):,.0f} | {disk} |")

    n = a.batches
    print(f"{n} batches of {a.batch_size} cells as dense float32 from {os.path.basename(src)}; medians of {a.repeat} "
          f"runs (seconds; the range of steady cells/s in brackets); steady: batches 2..{n}; again: the same "
          f"{n} batches once more (a second epoch); load average at the end {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    print()
    print("| way | prep s | time to first batch s | first batch incl. prep s | steady cells/s | again cells/s "
          "| written |")
    print("|---|---|---|---|---|---|---|")
    v = runs["virtual"]
    print(fmt_row(f"train_loader.py over virtual shuffled shards (mount {median([r['mount'] for r in v]):.2f} s, "
                  f"mount + opening the shards {median([r['open'] for r in v]):.2f} s, in first batch)", "", v))
    print(fmt_row("the same, each virtual shard first read through once (1 MiB reads) before anndata opens it",
                  "", runs["virtual-read"]))
    print(fmt_row("the same, mounted with --prefetch (each shard made whole into the page cache when first opened)",
                  "", runs["virtual-prefetch"]))
    print(fmt_row("train_loader.py over materialized shuffled shards", "materialize", runs["materialized"]))
    if runs["annbatch"] and not skipped:
        r = runs["annbatch"][0]
        print(fmt_row(f"annbatch {r['version']} Loader (chunk_size {a.chunk_size}, preload_nchunks "
                      f"{a.preload_nchunks}; {r['codec']}; Python {r['python']})",
                      "preshuffle: add_adatas", runs["annbatch"]))
    else:
        print(f"| annbatch | skipped: {skipped} | | | | | |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"batches": n, "batch_size": a.batch_size, "runs": runs, "annbatch_skipped": skipped}, fh,
                      indent=1)


if __name__ == "__main__":
    sys.exit(main())

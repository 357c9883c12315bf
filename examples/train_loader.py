#!/usr/bin/env python3
"""A training-style loader over annslicer's virtual shards.

Mounts SOURCE shuffled (``annslicer.mount``, with ``prefetch=True``: each
shard is made whole into the page cache as soon as it is opened), opens every virtual shard with
``anndata.read_h5ad(backed="r")`` and draws random mini-batches of cells
across the shards, yielding dense float32 arrays as a training loop would
consume them. Prints the throughput in cells/s.

    # virtual shards (nothing written to disk)
    python3 examples/train_loader.py /data/atlas.h5ad --batches 300

    # the same loop over real files, for comparison
    annslicer materialize /data/atlas.h5ad /data/shards --size 10000 --shuffle --seed 0
    python3 examples/train_loader.py --materialized /data/shards --batches 300

A batch: pick a shard (weighted by its cells), then ``--batch-size`` cells of
it: a random aligned block of consecutive cells (``--sampling block``, the
default: the shard is already a random permutation of the source, so a block
is a random sample and reads are sequential), or cells drawn at random
inside the shard (``--sampling random``).
"""

import argparse
import contextlib
import glob
import os
import re
import sys
import tempfile
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")  # anndata 0.8 FutureWarnings
import anndata  # noqa: E402

try:
    import annslicer
except ImportError:  # running from a checkout without installing the package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    import annslicer


def open_shards(paths):
    """Every shard opened backed (X stays on disk)."""
    return [anndata.read_h5ad(p, backed="r") for p in paths]


def minibatches(shards, batch_size=256, n_batches=100, seed=0, sampling="block",
                with_obs_names=False):
    """Yield ``n_batches`` dense float32 arrays of ``batch_size`` cells (fewer
    at the end of a shard in block sampling) drawn across ``shards``.
    With ``with_obs_names``, yield ``(X, obs_names)`` pairs."""
    rng = np.random.default_rng(seed)
    sizes = np.array([a.n_obs for a in shards], dtype=np.int64)
    p = sizes / sizes.sum()
    for _ in range(n_batches):
        k = int(rng.choice(len(shards), p=p))
        a, n = shards[k], int(sizes[k])
        if sampling == "block":
            start = int(rng.integers(0, -(-n // batch_size))) * batch_size
            rows = slice(start, min(start + batch_size, n))
        else:
            rows = np.sort(rng.choice(n, size=min(batch_size, n), replace=False))
        x = a.X[rows]
        x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
        x = x.astype(np.float32, copy=False)
        if with_obs_names:
            yield x, list(a.obs_names[rows])
        else:
            yield x


def shard_paths(directory):
    """DIR/shard_N.h5ad in shard order."""
    paths = glob.glob(os.path.join(directory, "shard_*.h5ad"))
    key = lambda p: int(re.search(r"shard_(\d+)\.h5ad$", p).group(1))  # noqa: E731
    return sorted(paths, key=key)


def run_loop(paths, args, label):
    t0 = time.perf_counter()
    shards = open_shards(paths)
    t_open = time.perf_counter() - t0
    cells, checksum = 0, 0.0
    t0 = time.perf_counter()
    for x in minibatches(shards, args.batch_size, args.batches, args.seed, args.sampling):
        # the "training step": touch every value, as a model's forward pass would
        checksum += float(x.sum(dtype=np.float64))
        cells += x.shape[0]
    took = time.perf_counter() - t0
    for a in shards:
        a.file.close()
    rate = cells / took if took > 0 else float("inf")
    print(f"{label}: {len(paths)} shards, {args.batches} batches, {cells} cells in {took:.2f}s: "
          f"{rate:,.0f} cells/s (opening the shards took {t_open:.2f}s; checksum {checksum:.6g})",
          flush=True)
    return rate


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", nargs="?", help="the .h5ad to mount (not needed with --materialized)")
    ap.add_argument("--materialized", metavar="DIR",
                    help="run the same loop over DIR/shard_N.h5ad (from `annslicer materialize`) instead of a mount")
    ap.add_argument("--mountpoint", metavar="DIR", help="where to mount (default: a temporary directory)")
    ap.add_argument("--batches", type=int, default=200, help="mini-batches to draw (200)")
    ap.add_argument("--batch-size", type=int, default=256, help="cells per mini-batch (256)")
    ap.add_argument("--shard-size", type=int, default=10000, help="cells per virtual shard (10000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the shuffle and of the batch sampling (0)")
    ap.add_argument("--sampling", choices=("block", "random"), default="block",
                    help="block: consecutive cells of a shuffled shard (default); random: random cells of a shard")
    ap.add_argument("--no-prefetch", action="store_true",
                    help="mount without --prefetch: every read of a shard not yet read gathers its cells then")
    args = ap.parse_args(argv)
    if args.batches < 1 or args.batch_size < 1:
        ap.error("--batches and --batch-size must be positive")

    if args.materialized:
        paths = shard_paths(args.materialized)
        if not paths:
            ap.error(f"{args.materialized}: no shard_N.h5ad files")
        run_loop(paths, args, "materialized")
        return 0
    if not args.source:
        ap.error("give SOURCE to mount, or --materialized DIR")

    with contextlib.ExitStack() as stack:
        mnt = args.mountpoint or stack.enter_context(tempfile.TemporaryDirectory(prefix="annslicer-mnt-"))
        t0 = time.perf_counter()
        m = stack.enter_context(annslicer.mount(args.source, mnt, shard_size=args.shard_size,
                                                shuffle=True, seed=args.seed, prefetch=not args.no_prefetch))
        print(f"mounted {len(m.shards)} shuffled shards of {m.manifest['n_obs']} cells at {mnt} "
              f"in {time.perf_counter() - t0:.2f}s", flush=True)
        run_loop(m.shards, args, "virtual")
    return 0


if __name__ == "__main__":
    sys.exit(main())

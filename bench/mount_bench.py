#!/usr/bin/env python3
"""Mount benchmark for `make bench`: a FUSE mount's figures, in one run.

Why: the mount's claims are relative — first read against the FUSE ceiling
of this machine and against `slice` of the same shards, second read against
the materialized files, random anndata batches against materialized — so all
of them are measured here, back to back, on the same source.

Usage: /usr/bin/python3 bench/mount_bench.py SRC.h5ad WORKDIR [--bin bin/annslicer]
       [--ceiling bin/fuseceiling] [--size 10000] [--batches 200] [--json OUT]
Prints a Markdown table on stdout.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

CHUNK = 1 << 20


def read_files(paths):
    """Reads every file sequentially with 1 MiB reads; returns (seconds, bytes)."""
    t0, total = time.perf_counter(), 0
    buf = bytearray(CHUNK)
    for p in paths:
        with open(p, "rb", buffering=0) as fh:
            while True:
                n = fh.readinto(buf)
                if not n:
                    break
                total += n
    return time.perf_counter() - t0, total


def wait_for(path, proc, timeout=60):
    t0 = time.perf_counter()
    while not os.path.exists(path):
        if proc.poll() is not None:
            sys.exit(f"mount exited early: {proc.stderr.read().decode()}")
        if time.perf_counter() - t0 > timeout:
            sys.exit(f"{path} did not appear in {timeout}s")
        time.sleep(0.002)


def stop(proc, mnt):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def batches(path, n, batch=256, seed=0):
    """Random 256-cell batches through anndata backed mode; returns seconds."""
    code = f"""
import sys, time, warnings
warnings.filterwarnings("ignore")
import anndata, numpy as np
a = anndata.read_h5ad({path!r}, backed="r")
rng = np.random.default_rng({seed})
t0 = time.perf_counter()
for _ in range({n}):
    idx = np.sort(rng.choice(a.n_obs, size={batch}, replace=False))
    x = a.X[idx]
print(time.perf_counter() - t0)
"""
    out = subprocess.run(["/usr/bin/python3", "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("work")
    ap.add_argument("--bin", default="bin/annslicer")
    ap.add_argument("--ceiling", default="bin/fuseceiling")
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--json")
    ap.add_argument("--contiguous", action="store_true", help="contiguous shards instead of shuffled")
    a = ap.parse_args()

    os.makedirs(a.work, exist_ok=True)
    mnt, mat, cmnt = (os.path.join(a.work, d) for d in ("mnt", "mat", "ceiling"))
    for d in (mnt, cmnt):
        os.makedirs(d, exist_ok=True)
    subprocess.run(["rm", "-rf", mat], check=True)
    flags = ["--size", str(a.size)] + ([] if a.contiguous else ["--shuffle", "--seed", "0"])
    read_files([a.src])  # source in the page cache, as for every other row

    rows = {}
    # slice of the same shards (materialize writes what the mount shows)
    t0 = time.perf_counter()
    subprocess.run([a.bin, "materialize", a.src, mat, *flags], check=True)
    rows["slice (materialize) of the same shards"] = time.perf_counter() - t0
    mat_files = sorted((os.path.join(mat, f) for f in os.listdir(mat)), key=lambda p: int(p.rsplit("_", 1)[1].split(".")[0]))

    t0 = time.perf_counter()
    proc = subprocess.Popen([a.bin, "mount", a.src, mnt, *flags], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(os.path.join(mnt, "shards.json"), proc)
        names = [s["name"] for s in json.load(open(os.path.join(mnt, "shards.json")))["shards"]]
        subprocess.run(["ls", "-l", mnt], check=True, stdout=subprocess.DEVNULL)
        rows["mount + ls -l"] = time.perf_counter() - t0
        virt = [os.path.join(mnt, n) for n in names]
        # open + first 1 MiB of shards never read (5 spread over the mount;
        # their first MiB is then in the page cache for the first read),
        # each alone: back to back, the kernel's read-ahead of the shard
        # before is still being made (shuffled: 2-25 ms against 3-9 ms)
        opens = []
        buf = bytearray(CHUNK)
        for p in virt[:: max(1, len(virt) // 5)][:5]:
            time.sleep(0.3)
            t1 = time.perf_counter()
            with open(p, "rb", buffering=0) as fh:
                fh.readinto(buf)
            opens.append(time.perf_counter() - t1)
        first, nbytes = read_files(virt)
        rows["first read of all virtual shards"] = first
        rows["mount + ls -l + first read (vs slice)"] = rows["mount + ls -l"] + first
        rows["second read of all virtual shards (page cache)"] = read_files(virt)[0]
        rows["read of the materialized shards (page cache)"] = read_files(mat_files)[0]
        rows[f"{a.batches} random 256-cell batches, virtual shard"] = batches(virt[0], a.batches)
        rows[f"{a.batches} random 256-cell batches, materialized shard"] = batches(mat_files[0], a.batches)
        rss = peak_rss_mb(proc.pid)
    finally:
        stop(proc, mnt)

    cproc = subprocess.Popen([a.ceiling, "-size", str(nbytes), cmnt], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        name = cproc.stdout.readline().decode().strip()
        ceil = read_files([os.path.join(cmnt, name)])[0]
    finally:
        stop(cproc, cmnt)
    rows["FUSE ceiling: same bytes from a go-fuse memory file"] = ceil

    mb = nbytes / 1e6
    kind = "contiguous" if a.contiguous else "shuffled"
    print(f"Mount benchmark: {len(names)} {kind} shards of {a.size} cells, {mb:.0f} MB in all\n")
    print("| measure | seconds | MB/s |")
    print("|---|---:|---:|")
    for k, v in rows.items():
        rate = f"{mb / v:.0f}" if "read" in k or "ceiling" in k else ""
        print(f"| {k} | {v:.2f} | {rate} |")
    print(f"| peak RSS of the mount process | {rss:.0f} MB | |")
    opens.sort()
    print(f"| open + first 1 MiB of a shard never read (median, max of {len(opens)}) | {opens[len(opens) // 2] * 1e3:.1f} ms, {opens[-1] * 1e3:.1f} ms | |")
    r = rows
    print()
    print(f"- first read / FUSE ceiling speed: {ceil / first:.2f} (target ≥ {0.8 if a.contiguous else 0.5})")
    print(f"- open + first 1 MiB of a shard: {opens[len(opens) // 2] * 1e3:.1f} ms median, {opens[-1] * 1e3:.1f} ms at most (target < 10 ms)")
    print(f"- mount + ls + first read / slice: {r['mount + ls -l + first read (vs slice)'] / r['slice (materialize) of the same shards']:.2f} (target < 1)")
    print(f"- second read / materialized read: {r['second read of all virtual shards (page cache)'] / r['read of the materialized shards (page cache)']:.2f} (target ≤ 1.25)")
    vb = r[f"{a.batches} random 256-cell batches, virtual shard"]
    mb_ = r[f"{a.batches} random 256-cell batches, materialized shard"]
    print(f"- batches virtual / materialized: {vb / mb_:.2f} (target ≤ 2)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"rows": rows, "bytes": nbytes, "rss_mb": rss, "open_first_mib_s": opens}, fh, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Tests of the other test tooling (run: /usr/bin/python3 -m pytest testdata).

Why: the benchmark file must look exactly like an anndata 0.8 write (or the
benchmark measures the wrong layout), and bench.py's RSS figure must be the
worker's, not bash's.
"""

import json
import os
import subprocess
import sys
import warnings

import h5py
import pytest

warnings.filterwarnings("ignore")
import anndata as ad  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import check_shards  # noqa: E402
import make_bench  # noqa: E402


def storage(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.chunks, obj.maxshape, obj.compression)
        f.visititems(visit)
    return out


def test_make_bench_matches_anndata_write(tmp_path):
    bench = str(tmp_path / "bench.h5ad")
    make_bench.write_bench(bench, cells=23_000, genes=300, density=0.02, seed=3)
    ref = str(tmp_path / "ref.h5ad")
    ad.read_h5ad(bench).write_h5ad(ref)  # what anndata writes for the same content
    # the streamed file, taken as a single "shard" of anndata's, must match exactly
    problems, _ = check_shards.run(ref, [bench], order="contiguous")
    assert problems == []
    assert storage(bench) == storage(ref)  # same chunking / contiguity
    a = ad.read_h5ad(bench, backed="r")
    assert a.X.shape == (23_000, 300)
    a.file.close()


def test_make_bench_is_deterministic(tmp_path):
    p1, p2 = str(tmp_path / "a.h5ad"), str(tmp_path / "b.h5ad")
    make_bench.write_bench(p1, 12_000, 50, 0.05, seed=1)
    make_bench.write_bench(p2, 12_000, 50, 0.05, seed=1)
    problems, _ = check_shards.run(p1, [p2], order="contiguous", quick=False)
    assert problems == []


def test_bench_runner_measures_worker_rss(tmp_path):
    out = tmp_path / "r.json"
    cmd = [sys.executable, os.path.join(ROOT, "bench", "bench.py"), "--repeat", "2",
           "--cmd", "sleep=sleep 0.1",
           "--cmd", f"cp=cp {__file__} {tmp_path}/copy",
           # not exec'd by bash (two commands): RSS must still be python's 150 MB
           "--cmd", "big=" + sys.executable + " -c 'x = bytearray(150 * 2**20); "
                                              "x[::4096] = b\"a\" * len(x[::4096])'; true",
           "--baseline", "cp", "--json", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "| name | wall s | ratio to cp | peak RSS MB |" in r.stdout
    data = json.loads(out.read_text())
    res = {x["name"]: x for x in data["results"]}
    assert 0.1 <= res["sleep"]["median_wall_s"] < 1.0
    assert 150 <= res["big"]["peak_rss_mb"] < 220
    assert res["sleep"]["peak_rss_mb"] < 60
    assert len(res["cp"]["runs"]) == 2


def test_bench_runner_reports_failure(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench.py"), "--repeat", "1",
                        "--cmd", "ok=true", "--cmd", "bad=exit 3"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "| bad | FAILED (exit 3) | | |" in r.stdout


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))

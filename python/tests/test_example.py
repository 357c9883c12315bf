"""examples/train_loader.py on full.h5ad: through a mount, and over materialized shards."""

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import annslicer
from conftest import EXAMPLE
from helpers import dense

pytestmark = pytest.mark.usefixtures("need_fuse")

RATE = re.compile(r"^(virtual|materialized): (\d+) shards, (\d+) batches, (\d+) cells in [\d.]+s: ([\d,]+) cells/s", re.M)


def load_example():
    spec = importlib.util.spec_from_file_location("train_loader", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_example(*args):
    p = subprocess.run([sys.executable, EXAMPLE] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def test_example_runs_through_a_mount_and_prints_cells_per_second(full):
    out = run_example(full, "--batches", "6", "--batch-size", "32", "--shard-size", "100", "--seed", "3")
    m = RATE.search(out)
    assert m, out
    assert (m.group(1), m.group(2), m.group(3)) == ("virtual", "6", "6")
    assert 0 < int(m.group(4)) <= 6 * 32


def test_example_over_materialized_shards_draws_the_same_cells(full, binary, tmp_path):
    mat = str(tmp_path / "mat")
    subprocess.run([binary, "materialize", full, mat, "--size", "100", "--shuffle", "--seed", "3"], check=True)
    args = ["--batches", "6", "--batch-size", "32", "--shard-size", "100", "--seed", "3"]
    virtual = run_example(full, *args)
    real = run_example("--materialized", mat, *args)
    mv, mr = RATE.search(virtual), RATE.search(real)
    assert mr and mr.group(1) == "materialized" and mr.group(2) == "6"
    assert mv.group(4) == mr.group(4)  # same cells
    checksum = re.compile(r"checksum (\S+)\)")
    assert checksum.search(virtual).group(1) == checksum.search(real).group(1)


@pytest.mark.parametrize("sampling", ["block", "random"])
def test_minibatches_are_dense_float32_rows_of_the_source(full, source, mountpoint, sampling):
    mod = load_example()
    pos = {name: i for i, name in enumerate(source.obs_names)}
    with annslicer.mount(full, mountpoint, shard_size=100, shuffle=True, seed=9) as m:
        shards = mod.open_shards(m.shards)
        n = 0
        for x, names in mod.minibatches(shards, batch_size=40, n_batches=8, seed=1,
                                        sampling=sampling, with_obs_names=True):
            assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == source.n_vars
            assert 0 < x.shape[0] <= 40 and len(names) == x.shape[0]
            if sampling == "random":
                assert x.shape[0] == 40
            np.testing.assert_array_equal(x, dense(source.X[[pos[o] for o in names]]))
            n += 1
        assert n == 8
        for a in shards:
            a.file.close()

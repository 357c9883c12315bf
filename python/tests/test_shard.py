"""shard_h5ad: the binary's slice command behind the Python tool's signature."""

import os

import h5py
import numpy as np
import pytest

import annslicer
from helpers import assert_rows, read, rows_of


def test_contiguous_shard_k_equals_source_rows_k(full, source, tmp_path):
    prefix = str(tmp_path / "out")
    paths = annslicer.shard_h5ad(full, prefix, shard_size=100)
    assert paths == [f"{prefix}_shard_{k}.h5ad" for k in range(6)]
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in paths)
    for k, p in enumerate(paths):
        assert_rows(p, source, slice(k * 100, min((k + 1) * 100, 503)))


def test_default_shard_size_is_10000_one_shard(full, source, tmp_path):
    paths = annslicer.shard_h5ad(full, str(tmp_path / "one"))
    assert len(paths) == 1
    assert_rows(paths[0], source, slice(None))


def test_shuffled_with_seed_is_a_reproducible_permutation(full, source, tmp_path):
    a = annslicer.shard_h5ad(full, str(tmp_path / "a"), shard_size=150, shuffle=True, seed=7)
    b = annslicer.shard_h5ad(full, str(tmp_path / "b"), shard_size=150, shuffle=True, seed=7)
    c = annslicer.shard_h5ad(full, str(tmp_path / "c"), shard_size=150, shuffle=True, seed=8)
    assert len(a) == 4
    rows_a = [rows_of(p, source) for p in a]
    assert [len(r) for r in rows_a] == [150, 150, 150, 53]
    all_rows = np.concatenate(rows_a)
    assert sorted(all_rows) == list(range(503))  # every cell exactly once
    assert not np.array_equal(all_rows, np.arange(503))  # actually shuffled
    for p, r in zip(a, rows_a):
        assert_rows(p, source, r)
    # same seed, same shards (bytes); another seed, another order
    for pa, pb in zip(a, b):
        with open(pa, "rb") as fa, open(pb, "rb") as fb:
            assert fa.read() == fb.read()
    assert not np.array_equal(all_rows, np.concatenate([rows_of(p, source) for p in c]))


def test_shuffle_without_seed_still_covers_every_cell(full, source, tmp_path):
    paths = annslicer.shard_h5ad(full, str(tmp_path / "s"), shard_size=200, shuffle=True)
    assert sorted(np.concatenate([rows_of(p, source) for p in paths])) == list(range(503))


def test_custom_names_are_used_in_shard_order(full, source, tmp_path):
    (tmp_path / "sub").mkdir()
    names = [str(tmp_path / "sub" / f"part-{c}.h5ad") for c in "abcdef"]
    names.append(str(tmp_path / "surplus.h5ad"))  # more names than shards: unused
    paths = annslicer.shard_h5ad(full, str(tmp_path / "unused_prefix"),
                                 output_filenames=names, shard_size=100)
    assert paths == names[:6]
    assert sorted(os.listdir(tmp_path / "sub")) == [f"part-{c}.h5ad" for c in "abcdef"]
    assert not (tmp_path / "surplus.h5ad").exists()
    assert not any(f.startswith("unused_prefix") for f in os.listdir(tmp_path))
    for k, p in enumerate(paths):
        assert_rows(p, source, slice(k * 100, min((k + 1) * 100, 503)))


def test_custom_names_accept_pathlike(full, source, tmp_path):
    names = [tmp_path / "x.h5ad", tmp_path / "y.h5ad"]
    paths = annslicer.shard_h5ad(full, str(tmp_path / "p"), output_filenames=names, shard_size=300)
    assert paths == [str(n) for n in names]
    assert_rows(paths[1], source, slice(300, 503))


def test_too_few_names_is_a_value_error_before_anything_is_written(full, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    names = [str(out / f"n{k}.h5ad") for k in range(5)]  # 6 shards needed
    with pytest.raises(ValueError) as e:
        annslicer.shard_h5ad(full, str(out / "p"), output_filenames=names, shard_size=100)
    assert str(e.value) == "output_filenames: 5 names for 6 shards; give one output path per shard"
    assert os.listdir(out) == []


@pytest.mark.parametrize("compression", ["gzip", "lzf"])
def test_compression_is_applied_and_rows_are_kept(full, source, tmp_path, compression):
    paths = annslicer.shard_h5ad(full, str(tmp_path / "z"), shard_size=250, shuffle=True, seed=1,
                                 compression=compression)
    assert len(paths) == 3
    for p in paths:
        with h5py.File(p, "r") as f:
            assert f["X/data"].compression == compression
            assert f["layers/dense"].compression == compression
        assert_rows(p, source, rows_of(p, source))


def test_existing_outputs_are_replaced_by_default_and_kept_with_overwrite_false(full, source, tmp_path):
    prefix = str(tmp_path / "o")
    annslicer.shard_h5ad(full, prefix, shard_size=300, shuffle=True, seed=1)
    paths = annslicer.shard_h5ad(full, prefix, shard_size=300)  # like write_h5ad: replaced
    assert_rows(paths[0], source, slice(0, 300))
    with pytest.raises(RuntimeError) as e:
        annslicer.shard_h5ad(full, prefix, shard_size=300, overwrite=False)
    assert not str(e.value).startswith("annslicer:")
    assert_rows(paths[0], source, slice(0, 300))


@pytest.mark.parametrize("memory_limit", ["96MiB", 2 * 10**9, 1.5e9])
def test_resource_arguments_change_nothing_written(full, source, tmp_path, memory_limit):
    plain = annslicer.shard_h5ad(full, str(tmp_path / "a"), shard_size=200, shuffle=True, seed=1)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    limited = annslicer.shard_h5ad(full, str(tmp_path / "b"), shard_size=200, shuffle=True, seed=1,
                                   n_jobs=1, memory_limit=memory_limit, tmpdir=scratch)
    assert len(plain) == len(limited) == 3
    for p, q in zip(plain, limited):
        assert open(p, "rb").read() == open(q, "rb").read()
    assert os.listdir(scratch) == []  # scratch is removed at the end


def test_missing_input_is_file_not_found_with_the_cli_message(tmp_path):
    missing = str(tmp_path / "nope.h5ad")
    with pytest.raises(FileNotFoundError) as e:
        annslicer.shard_h5ad(missing, str(tmp_path / "o"))
    assert str(e.value) == f"{missing}: no such file"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kwargs, message", [
    ({"shard_size": 0}, "--size must be a positive number of cells, got 0"),
    ({"seed": 3}, "--seed only applies with --shuffle"),
    ({"compression": "zstd"}, '--compression "zstd" is not supported'),
    ({"n_jobs": 0}, "--jobs must be at least 1, got 0"),
    ({"memory_limit": "lots"}, '--memory-limit: "lots" is not a size'),
    ({"memory_limit": 10**6}, "--memory-limit 1000000 is below the 96 MiB"),
])
def test_bad_arguments_are_value_errors_with_the_cli_message(full, tmp_path, kwargs, message):
    with pytest.raises(ValueError) as e:
        annslicer.shard_h5ad(full, str(tmp_path / "o"), **kwargs)
    assert str(e.value).startswith(message)  # the CLI's line, without "annslicer: "
    assert os.listdir(tmp_path) == []


def test_other_failures_are_runtime_errors(fixtures, tmp_path):
    bad = str(fixtures / "not_hdf5.h5ad")
    with pytest.raises(RuntimeError) as e:
        annslicer.shard_h5ad(bad, str(tmp_path / "o"))
    assert str(e.value).startswith(f"{bad}: not an HDF5 file")


def test_binary_is_found_through_annslicer_bin(monkeypatch, full, tmp_path, binary):
    assert annslicer.find_binary() == binary
    monkeypatch.setenv("ANNSLICER_BIN", str(tmp_path / "missing-binary"))
    with pytest.raises(FileNotFoundError, match="ANNSLICER_BIN="):
        annslicer.shard_h5ad(full, str(tmp_path / "o"))
    # then PATH
    monkeypatch.delenv("ANNSLICER_BIN")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(binary, bindir / "annslicer")
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + os.environ.get("PATH", ""))
    assert os.path.samefile(annslicer.find_binary(), binary)
    assert len(annslicer.shard_h5ad(full, str(tmp_path / "p"), shard_size=500)) == 2
    assert read(str(tmp_path / "p_shard_1.h5ad")).n_obs == 3

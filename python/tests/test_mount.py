"""mount(): `annslicer mount` as a context manager (needs FUSE: skipped without
it, failed instead when ANNSLICER_REQUIRE_FUSE=1)."""

import os

import numpy as np
import pytest

import annslicer
from annslicer._mount import is_mounted
from helpers import assert_rows, rows_of

pytestmark = pytest.mark.usefixtures("need_fuse")


def test_contiguous_mount_shows_source_rows_and_unmounts(full, source, mountpoint):
    with annslicer.mount(full, mountpoint, shard_size=100) as m:
        assert is_mounted(mountpoint) and m.running
        assert m.mountpoint == os.path.abspath(mountpoint)
        assert m.shards == [os.path.join(m.mountpoint, f"shard_{k}.h5ad") for k in range(6)]
        assert sorted(os.listdir(mountpoint)) == sorted(["shards.json"] + [f"shard_{k}.h5ad" for k in range(6)])
        man = m.manifest
        assert (man["n_obs"], man["size"], man["shuffle"], man["seed"], man["format"]) == (503, 100, False, None, "h5ad")
        assert man["input"] == os.path.abspath(full)
        assert [s["cells"] for s in man["shards"]] == [100] * 5 + [3]
        for k, p in enumerate(m.shards):
            assert_rows(p, source, slice(k * 100, min((k + 1) * 100, 503)))
    assert not is_mounted(mountpoint)
    assert not m.running and m.process is None
    assert os.listdir(mountpoint) == []


def test_shuffled_mount_is_the_sliced_shards_byte_for_byte(full, source, mountpoint, tmp_path):
    sliced = annslicer.shard_h5ad(full, str(tmp_path / "s"), shard_size=200, shuffle=True, seed=5)
    with annslicer.mount(full, mountpoint, shard_size=200, shuffle=True, seed=5) as m:
        assert (m.manifest["shuffle"], m.manifest["seed"]) == (True, 5)
        assert len(m.shards) == len(sliced) == 3
        rows = []
        for virtual, real in zip(m.shards, sliced):
            with open(virtual, "rb") as fv, open(real, "rb") as fr:
                assert fv.read() == fr.read()
            r = rows_of(virtual, source)
            assert_rows(virtual, source, r)
            rows.append(r)
        assert sorted(np.concatenate(rows)) == list(range(503))
    assert not is_mounted(mountpoint)


def test_backed_reads_through_the_mount(full, source, mountpoint):
    import anndata

    with annslicer.mount(full, mountpoint, shard_size=250, shuffle=True, seed=2) as m:
        a = anndata.read_h5ad(m.shards[1], backed="r")
        rows = rows_of(m.shards[1], source)
        np.testing.assert_array_equal(a.X[10:42].toarray(), source.X[rows[10:42]].toarray())
        a.file.close()


def test_prefetched_shards_read_as_the_sliced_ones(full, source, mountpoint, tmp_path):
    """prefetch=True: every shard opened backed at once (the mount makes
    each whole into the page cache meanwhile), then read: the same bytes as
    the sliced shards, and the source's rows through anndata."""
    import time

    import anndata

    sliced = annslicer.shard_h5ad(full, str(tmp_path / "s"), shard_size=100, shuffle=True, seed=7)
    with annslicer.mount(full, mountpoint, shard_size=100, shuffle=True, seed=7, prefetch=True) as m:
        assert "--prefetch" in m.args
        opened = [anndata.read_h5ad(p, backed="r") for p in m.shards]
        time.sleep(0.5)
        for k, (virtual, real) in enumerate(zip(m.shards, sliced)):
            with open(virtual, "rb") as fv, open(real, "rb") as fr:
                assert fv.read() == fr.read()
            rows = rows_of(virtual, source)
            np.testing.assert_array_equal(opened[k].X[:].toarray(), source.X[rows].toarray())
        for a in opened:
            a.file.close()
    assert not is_mounted(mountpoint)


def test_exception_in_the_block_propagates_and_unmounts(full, mountpoint):
    with pytest.raises(KeyError, match="boom"):
        with annslicer.mount(full, mountpoint, shard_size=100) as m:
            assert is_mounted(mountpoint)
            raise KeyError("boom")
    assert not is_mounted(mountpoint)
    assert m.process is None


def test_a_file_open_at_exit_is_detached_and_stays_readable(full, mountpoint, tmp_path):
    # unmounting a busy mount detaches it (root: MNT_DETACH): gone from the
    # namespace at once, the open file is served until it is closed
    real = annslicer.shard_h5ad(full, str(tmp_path / "s"), shard_size=100)
    with annslicer.mount(full, mountpoint, shard_size=100) as m:
        fh = open(m.shards[0], "rb")
        head = fh.read(16)
        proc = m.process
    try:
        assert not is_mounted(mountpoint)
        rest = fh.read()
    finally:
        fh.close()
    with open(real[0], "rb") as f:
        assert head + rest == f.read()
    proc.wait(timeout=30)  # the mount process ends with the last open file
    assert proc.returncode in (0, -15)


def test_start_and_stop_without_with(full, mountpoint):
    m = annslicer.mount(full, mountpoint, shard_size=300)
    assert not is_mounted(mountpoint)
    m.start()
    try:
        assert len(m.shards) == 2 and os.path.exists(m.shards[1])
    finally:
        m.stop()
    assert not is_mounted(mountpoint)
    m.stop()  # idempotent


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"seed": 3}, ValueError, "--seed only applies with --shuffle"),
    ({"shard_size": -1}, ValueError, "--size must be a positive number of cells, got -1"),
    ({"format": "csv"}, ValueError, '--format "csv"'),
])
def test_bad_arguments_raise_value_error_and_leave_nothing_mounted(full, mountpoint, kwargs, exc, message):
    with pytest.raises(exc) as e:
        with annslicer.mount(full, mountpoint, **kwargs):
            pytest.fail("mounted despite bad arguments")
    assert str(e.value).startswith(message)
    assert not is_mounted(mountpoint)


def test_missing_input_is_file_not_found(mountpoint, tmp_path):
    missing = str(tmp_path / "nope.h5ad")
    with pytest.raises(FileNotFoundError) as e:
        with annslicer.mount(missing, mountpoint):
            pass
    assert str(e.value) == f"{missing}: no such file"
    assert not is_mounted(mountpoint)


def test_missing_mountpoint_is_a_file_not_found_error_with_the_cli_message(full, tmp_path):
    mnt = str(tmp_path / "absent")
    with pytest.raises(FileNotFoundError) as e:
        with annslicer.mount(full, mnt):
            pass
    assert str(e.value) == f"{os.path.abspath(mnt)}: no such directory; create the mount point first"

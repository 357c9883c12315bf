"""shards= and manifest=: one plan split across runs (the CLI's --shards
i/N and --manifest) from shard_h5ad and mount."""

import json
import os

import pytest

import annslicer


def read_bytes(path):
    with open(path, "rb") as fh:
        return fh.read()


@pytest.mark.parametrize("plan", [dict(shard_size=100), dict(shard_size=150, shuffle=True, seed=3)])
def test_shares_write_the_set_of_one_run(full, tmp_path, plan):
    whole = annslicer.shard_h5ad(full, str(tmp_path / "whole" / "s"), **plan)
    prefix = str(tmp_path / "split" / "s")
    written = []
    for i, shards in enumerate(["0/3", (1, 3), "2/3"]):
        man = str(tmp_path / f"m{i}.json")
        paths = annslicer.shard_h5ad(full, prefix, shards=shards, manifest=man, **plan)
        assert paths == [f"{prefix}_shard_{k}.h5ad" for k in range(len(whole)) if k % 3 == i]
        with open(man) as fh:
            m = json.load(fh)
        assert m["split"] == {"index": i, "count": 3, "outputs": len(whole)}
        assert [s["name"] for s in m["shards"]] == [os.path.relpath(p, tmp_path) for p in paths]
        written += paths
    assert sorted(os.listdir(tmp_path / "split")) == sorted(os.path.basename(p) for p in whole)
    for p in whole:
        assert read_bytes(p) == read_bytes(os.path.join(tmp_path, "split", os.path.basename(p)))


def test_bad_shares_are_value_errors(full, tmp_path):
    for shards in ["3/3", "a/b", (0, 0), "x"]:
        with pytest.raises(ValueError):
            annslicer.shard_h5ad(full, str(tmp_path / "s"), shards=shards)
    with pytest.raises(ValueError) as e:
        annslicer.shard_h5ad(full, str(tmp_path / "s"), shuffle=True, shards="0/2")
    assert "needs --seed" in str(e.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.usefixtures("need_fuse")
def test_mount_serves_one_share(full, tmp_path, mountpoint):
    whole = annslicer.shard_h5ad(full, str(tmp_path / "w"), shard_size=100)
    with annslicer.mount(full, mountpoint, shard_size=100, shards="1/3") as m:
        assert [os.path.basename(p) for p in m.shards] == ["shard_1.h5ad", "shard_4.h5ad"]
        assert m.manifest["split"] == {"index": 1, "count": 3, "outputs": 6}
        for p in m.shards:
            k = int(os.path.basename(p)[len("shard_"):-len(".h5ad")])
            assert read_bytes(p) == read_bytes(whole[k])

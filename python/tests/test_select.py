"""shard_by_obs_column, filter_h5ad and mount(obs_column=/filter=): the
Python tool's functions over the CLI's --obs-column, --filter and filter."""

import os

import numpy as np
import pytest

import annslicer
from helpers import assert_rows


def positions(source, mask):
    return np.flatnonzero(np.asarray(mask))


def test_one_output_per_category_in_category_order(full, source, tmp_path):
    prefix = str(tmp_path / "by")
    paths = annslicer.shard_by_obs_column(full, prefix, "cell_type")
    # categories B DC Mono NK T; DC and Mono have no cells (skipped)
    assert paths == [f"{prefix}_{c}.h5ad" for c in ("B", "NK", "T")]
    for c, p in zip(("B", "NK", "T"), paths):
        assert_rows(p, source, positions(source, source.obs["cell_type"] == c))


def test_always_include_goes_into_every_other_output(full, source, tmp_path):
    prefix = str(tmp_path / "by")
    paths = annslicer.shard_by_obs_column(full, prefix, "cell_type", always_include=["NK"])
    assert paths == [f"{prefix}_{c}.h5ad" for c in ("B", "T")]
    for c, p in zip(("B", "T"), paths):
        keep = source.obs["cell_type"].isin([c, "NK"])
        assert_rows(p, source, positions(source, keep))


def test_filter_keeps_the_true_cells(full, source, tmp_path):
    out = str(tmp_path / "kept.h5ad")
    assert annslicer.filter_h5ad(full, out, "flag") == out
    assert_rows(out, source, positions(source, source.obs["flag"]))


def test_bad_columns_raise_as_in_the_python_tool(full, tmp_path):
    with pytest.raises(KeyError) as e:
        annslicer.shard_by_obs_column(full, str(tmp_path / "x"), "no_such_column")
    assert "no_such_column" in str(e.value)
    with pytest.raises(ValueError) as e:
        annslicer.shard_by_obs_column(full, str(tmp_path / "x"), "f64")
    assert "is not categorical" in str(e.value)
    with pytest.raises(ValueError):
        annslicer.shard_by_obs_column(full, str(tmp_path / "x"), "cell_type", always_include=["nope"])
    with pytest.raises(ValueError):
        annslicer.filter_h5ad(full, str(tmp_path / "x.h5ad"), "barcode")
    with pytest.raises(ValueError):
        annslicer.filter_h5ad(full, str(tmp_path / "x.h5ad"), "f64", join_column="barcode")
    assert os.listdir(tmp_path) == []


@pytest.mark.usefixtures("need_fuse")
def test_mount_by_category_and_filter_serve_what_is_written(full, tmp_path, mountpoint):
    written = annslicer.shard_by_obs_column(full, str(tmp_path / "w"), "cell_type")
    mnt = mountpoint
    with annslicer.mount(full, mnt, obs_column="cell_type") as m:
        assert [os.path.basename(p) for p in m.shards] == ["B.h5ad", "NK.h5ad", "T.h5ad"]
        for v, w in zip(m.shards, written):
            assert open(v, "rb").read() == open(w, "rb").read()
    kept = annslicer.filter_h5ad(full, str(tmp_path / "kept.h5ad"), "flag")
    with annslicer.mount(full, mnt, filter="flag") as m:
        assert [os.path.basename(p) for p in m.shards] == ["filtered.h5ad"]
        assert open(m.shards[0], "rb").read() == open(kept, "rb").read()


def test_csv_column_chooses_the_outputs(full, source, tmp_path):
    csv = tmp_path / "meta.csv"
    guides = ["g1" if i % 3 else "g2" for i in range(source.n_obs)]
    csv.write_text("barcode,guide\n" + "".join(f"{n},{g}\n" for n, g in zip(source.obs_names, guides)))
    paths = annslicer.shard_by_obs_column(full, str(tmp_path / "by"), "guide", csv_file=csv,
                                          join_column="barcode")
    assert [os.path.basename(p) for p in paths] == ["by_g1.h5ad", "by_g2.h5ad"]
    import anndata
    for g, p in zip(("g1", "g2"), paths):
        a = anndata.read_h5ad(p)
        want = [n for n, x in zip(source.obs_names, guides) if x == g]
        assert list(a.obs_names) == want
        assert list(a.obs["guide"].cat.categories) == ["g1", "g2"]
        assert (a.obs["guide"] == g).all()

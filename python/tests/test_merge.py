"""merge_out_of_core: the binary's merge command; anndata.concat is the oracle.

These tests FAIL (never skip) while the binary has no `merge` command."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import annslicer
from helpers import assert_rows, dense, read, require_merge


def small(rng, cells, genes):
    import anndata

    X = sp.random(len(cells), len(genes), density=0.3, format="csr", dtype=np.float32, random_state=rng)
    obs = pd.DataFrame({"score": rng.random(len(cells)),
                        "kind": pd.Categorical(rng.choice(["a", "b"], size=len(cells)))},
                       index=pd.Index(cells))
    var = pd.DataFrame(index=pd.Index(genes))
    return anndata.AnnData(X=X, obs=obs, var=var, dtype=np.float32)


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory):
    """Two files sharing genes g7..g29 of g0..g36, with disjoint cells."""
    rng = np.random.default_rng(3)
    d = tmp_path_factory.mktemp("merge_in")
    a = small(rng, [f"a{i}" for i in range(40)], [f"g{i}" for i in range(30)])
    b = small(rng, [f"b{i}" for i in range(25)], [f"g{i}" for i in range(7, 37)])
    paths = [str(d / "a.h5ad"), str(d / "b.h5ad")]
    a.write_h5ad(paths[0])
    b.write_h5ad(paths[1])
    return paths, [a, b]


@pytest.mark.parametrize("join", ["outer", "inner"])
def test_merge_equals_anndata_concat(overlapping, tmp_path, join):
    require_merge()
    import anndata

    paths, adatas = overlapping
    out = str(tmp_path / f"{join}.h5ad")
    assert annslicer.merge_out_of_core(paths, out, join=join) == out
    got = read(out)
    exp = anndata.concat(adatas, join=join)
    assert got.shape == exp.shape == ((65, 37) if join == "outer" else (65, 23))
    assert list(got.obs_names) == list(exp.obs_names)
    assert set(got.var_names) == set(exp.var_names)
    # values compared gene by gene, whatever the output's gene order
    g = pd.DataFrame(dense(got.X), index=got.obs_names, columns=got.var_names)[list(exp.var_names)]
    np.testing.assert_array_equal(g.to_numpy(), dense(exp.X))
    for col in ("score", "kind"):
        np.testing.assert_array_equal(np.asarray(got.obs[col]), np.asarray(exp.obs[col]))


def test_merging_contiguous_shards_gives_back_the_source(full, source, tmp_path):
    require_merge()
    shards = annslicer.shard_h5ad(full, str(tmp_path / "s"), shard_size=100)
    out = str(tmp_path / "merged.h5ad")
    annslicer.merge_out_of_core(shards, out, validate=True)
    got = read(out)
    assert list(got.var_names) == list(source.var_names)
    assert_rows(got, source, slice(None))


def test_validate_passes_on_a_good_merge(overlapping, tmp_path):
    require_merge()
    paths, _ = overlapping
    for join in ("outer", "inner"):
        annslicer.merge_out_of_core(paths, str(tmp_path / f"{join}.h5ad"), join=join, validate=True)


def test_validation_reports_a_merge_that_does_not_match_its_inputs(overlapping, full, tmp_path):
    # the checker on its own (it needs no merge command): a wrong output
    paths, _ = overlapping
    with pytest.raises(RuntimeError, match=r"not the outer merge of its inputs: 503 cells, the inputs have 65"):
        annslicer.check_merged(paths, full, "outer")
    with pytest.raises(RuntimeError, match=r"obs name 0 is 'b0', the inputs give 'a0'"):
        annslicer.check_merged(paths, _reversed(paths, tmp_path), "outer")
    with pytest.raises(RuntimeError, match=r"30 genes, the inner join of the inputs has 23"):
        annslicer.check_merged(paths, _with_cells(paths, paths[0], tmp_path), "inner")


def test_validate_true_raises_when_the_output_does_not_match(overlapping, full, tmp_path, monkeypatch):
    # wiring of validate=True, with a stand-in merge that writes the wrong file
    import shutil

    from annslicer import _cli

    paths, _ = overlapping
    monkeypatch.setattr(_cli, "run", lambda args, replace=None: shutil.copy(full, args[args.index("--") + 1]))
    out = str(tmp_path / "o.h5ad")
    annslicer.merge_out_of_core(paths, out)  # validate=False: no check
    with pytest.raises(RuntimeError, match="not the outer merge of its inputs"):
        annslicer.merge_out_of_core(paths, out, validate=True)


def _reversed(paths, tmp_path):
    import anndata

    out = str(tmp_path / "reversed.h5ad")
    anndata.concat([read(paths[1]), read(paths[0])], join="outer").write_h5ad(out)
    return out


def _with_cells(paths, genes_from, tmp_path):
    """Right cells, but the genes of genes_from (30, not the 23 common ones)."""
    import anndata

    a, b = read(paths[0]), read(paths[1])
    n = len(read(genes_from).var_names)
    X = sp.csr_matrix((a.n_obs + b.n_obs, n), dtype=np.float32)
    out = str(tmp_path / "wrong_genes.h5ad")
    anndata.AnnData(X=X, obs=pd.DataFrame(index=list(a.obs_names) + list(b.obs_names)),
                    var=read(genes_from).var, dtype=np.float32).write_h5ad(out)
    return out


def test_merge_errors_map_to_python_exceptions(overlapping, tmp_path):
    require_merge()
    paths, _ = overlapping
    with pytest.raises(FileNotFoundError) as e:
        annslicer.merge_out_of_core([paths[0], str(tmp_path / "nope.h5ad")], str(tmp_path / "o.h5ad"))
    assert "no such file" in str(e.value) and not str(e.value).startswith("annslicer:")
    with pytest.raises(ValueError):
        annslicer.merge_out_of_core(paths, str(tmp_path / "o.h5ad"), join="left")
    with pytest.raises(ValueError):
        annslicer.merge_out_of_core([], str(tmp_path / "o.h5ad"))


@pytest.mark.parametrize("join", ["outer", "inner"])
def test_label_keys_index_unique_equal_anndata_concat(overlapping, tmp_path, join):
    require_merge()
    import anndata

    paths, adatas = overlapping
    out = str(tmp_path / f"{join}.h5ad")
    annslicer.merge_out_of_core(paths, out, join=join, validate=True,
                                label="batch", keys=["x", "y"], index_unique="-")
    got = read(out)
    exp = anndata.concat(adatas, join=join, label="batch", keys=["x", "y"], index_unique="-")
    assert list(got.obs_names) == list(exp.obs_names) == [f"a{i}-x" for i in range(40)] + [f"b{i}-y" for i in range(25)]
    assert list(got.obs.columns) == list(exp.obs.columns) == ["score", "kind", "batch"]
    pd.testing.assert_series_equal(got.obs["batch"], exp.obs["batch"])
    for col in ("score", "kind"):
        np.testing.assert_array_equal(np.asarray(got.obs[col]), np.asarray(exp.obs[col]))


def test_label_keys_default_to_file_stems_or_mapping_keys(overlapping, tmp_path):
    require_merge()
    import anndata

    paths, adatas = overlapping
    out = str(tmp_path / "stems.h5ad")
    annslicer.merge_out_of_core(paths, out, label="src")
    exp = anndata.concat(adatas, label="src", keys=["a", "b"])  # concat's own default: "0", "1"
    pd.testing.assert_series_equal(read(out).obs["src"], exp.obs["src"])
    # a mapping, as anndata.concat takes: its keys
    out = str(tmp_path / "mapping.h5ad")
    annslicer.merge_out_of_core({"first": paths[0], "second": paths[1]}, out, index_unique="_", validate=True)
    exp = anndata.concat({"first": adatas[0], "second": adatas[1]}, index_unique="_")
    got = read(out)
    assert list(got.obs_names) == list(exp.obs_names)
    assert list(got.obs.columns) == ["score", "kind"]


def test_label_refuses_bad_keys(overlapping, tmp_path):
    require_merge()
    paths, _ = overlapping
    out = str(tmp_path / "bad.h5ad")
    with pytest.raises(ValueError, match=r"--keys gives 1 keys for 2 inputs"):
        annslicer.merge_out_of_core(paths, out, label="batch", keys=["x"])
    with pytest.raises(ValueError, match=r"--keys gives \"x\" twice"):
        annslicer.merge_out_of_core(paths, out, index_unique="-", keys=["x", "x"])
    with pytest.raises(TypeError, match=r"keys is given twice"):
        annslicer.merge_out_of_core({"x": paths[0], "y": paths[1]}, out, label="batch", keys=["x", "y"])
    with pytest.raises(TypeError, match=r"keys must be strings"):
        annslicer.merge_out_of_core(paths, out, label="batch", keys=[1, 2])
    assert not (tmp_path / "bad.h5ad").exists()

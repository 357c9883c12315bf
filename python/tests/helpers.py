"""Checks with anndata: a shard holds exactly the source's rows."""

import os
import subprocess

import numpy as np
import pytest
import pandas as pd
import scipy.sparse as sp


def dense(m):
    return m.toarray() if sp.issparse(m) else np.asarray(m)


def read(path):
    import anndata

    return anndata.read_h5ad(path)


def assert_rows(shard, source, rows):
    """``shard`` (a path or AnnData) equals ``source[rows]`` for X, obs,
    layers and obsm; var is the source's."""
    a = read(shard) if isinstance(shard, str) else shard
    exp = source[rows]
    assert list(a.obs_names) == list(exp.obs_names)
    assert a.shape == exp.shape
    assert a.X.dtype == source.X.dtype
    np.testing.assert_array_equal(dense(a.X), dense(exp.X))
    # the source's obs rows (not exp.obs: an anndata view drops unused categories,
    # while shards keep every category, as the Go side promises)
    pd.testing.assert_frame_equal(a.obs, source.obs.iloc[rows])
    pd.testing.assert_index_equal(a.var_names, source.var_names)
    for k in source.layers:
        np.testing.assert_array_equal(dense(a.layers[k]), dense(exp.layers[k]), err_msg=k)
    for k in ("X_pca", "X_umap"):
        np.testing.assert_array_equal(np.asarray(a.obsm[k]), np.asarray(exp.obsm[k]), err_msg=k)


def rows_of(shard_path, source):
    """Source positions of a shard's cells, found by obs name."""
    pos = pd.Series(np.arange(source.n_obs), index=source.obs_names)
    return pos[list(read(shard_path).obs_names)].to_numpy()


_merge_missing = []


def require_merge():
    """Fails the calling test (never skips) while the binary has no `merge`."""
    binary = os.environ["ANNSLICER_BIN"]
    if not _merge_missing:
        p = subprocess.run([binary, "merge", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _merge_missing.append(p.stderr.decode(errors="replace").strip() if p.returncode else "")
    if _merge_missing[0]:
        pytest.fail(f"`annslicer merge` is missing from {binary} ({_merge_missing[0]}); "
                    "merge_out_of_core needs cmd/annslicer/merge.go built in", pytrace=False)

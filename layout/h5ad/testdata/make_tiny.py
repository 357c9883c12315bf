#!/usr/bin/env python3
"""Write tiny.h5ad, the seed of the h5ad fuzz targets (fuzz_test.go).

Why: a fuzzer mutating a file explores it best when the file is small but
holds every kind of element annslicer reads: CSR X (chunked, as anndata
writes it), a dense layer, obs strings, a categorical, var strings, varm,
uns strings, raw. Seeded, so the same bytes come out every time.

Usage:  /usr/bin/python3 make_tiny.py OUT.h5ad
"""
import sys
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

warnings.filterwarnings("ignore")
import anndata as ad  # noqa: E402

rng = np.random.default_rng(0)
n, m = 12, 5
X = sp.random(n, m, density=0.4, format="csr", random_state=0, dtype=np.float32)
obs = pd.DataFrame({
    "barcode": [f"BC{i:03d}" for i in range(n)],
    "kind": pd.Categorical(rng.choice(["a", "b"], size=n)),
    "score": rng.random(n),
}, index=[f"c{i}" for i in range(n)])
var = pd.DataFrame({"gene_ids": [f"G{i}" for i in range(m)]}, index=[f"g{i}" for i in range(m)])
a = ad.AnnData(X=X, obs=obs, var=var, dtype=np.float32)
a.layers["dense"] = rng.random((n, m)).astype(np.float32)
a.obsm["pca"] = rng.random((n, 2))
a.varm["pcs"] = rng.random((m, 2))
a.uns["title"] = "tiny"
a.uns["names"] = np.array(["x", "y"], dtype=object)
a.raw = a
a.write_h5ad(sys.argv[1])

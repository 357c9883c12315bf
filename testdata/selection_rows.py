#!/usr/bin/env python3
"""Oracle of selections: which source rows each output of
``--obs-column C [--always-include V ...]`` or ``--filter C`` must hold.

Why: the Go tests check outputs against source[rows] with check_*.py
--rows; the rows must come from an implementation that is not ours. This
one reads obs with anndata and applies the rules of the Python tool
(annslicer 0.3.0's shard_by_obs_column / filter_h5ad), extended as
documented (categorical filter columns by their categories; missing
values an error). Usage:

    selection_rows.py SOURCE --out OUT.json --obs-column C [--always-include V ...]
    selection_rows.py SOURCE --out OUT.json --filter C

writes OUT.json: {"names": [file stem per output], "rows": [[rows], ...],
"empty": [categories without cells]}; exit 1 with one line when the
selection is an error (the message says which rule).
"""

import argparse
import json
import re
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def read_obs(path):
    import anndata as ad
    if path.rstrip("/").endswith(".zarr"):
        return ad.read_zarr(path).obs
    return ad.read_h5ad(path, backed="r").obs


def by_category(obs, column, always):
    import pandas as pd
    col = obs[column]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        raise SystemExit(f"not categorical: {column}")
    cats = [str(c) for c in col.cat.categories]
    text = np.array(cats, dtype=object)[col.cat.codes.to_numpy()]
    text[col.cat.codes.to_numpy() < 0] = None
    unknown = set(always) - set(cats)
    if unknown:
        raise SystemExit(f"not categories: {sorted(unknown)}")
    shared = np.isin(text, list(always)) if always else np.zeros(len(text), bool)
    names, rows, empty, seen = [], [], [], set()
    for c in cats:
        if c in always:
            continue
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", c)
        if stem in seen:
            raise SystemExit(f"collision: {stem}")
        seen.add(stem)
        own = text == c
        if not own.any():
            empty.append(c)
            continue
        names.append(stem)
        rows.append(np.flatnonzero(own | shared).tolist())
    return {"names": names, "rows": rows, "empty": empty}


def truth(values):
    import pandas as pd
    s = pd.Series(values)
    if s.isna().any() and not pd.api.types.is_float_dtype(s):
        raise SystemExit("missing values")
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s):
        return (s != 0).to_numpy()
    m = s.astype(str).str.lower().map({"true": True, "false": False, "1": True, "0": False})
    if m.isna().any():
        raise SystemExit(f"not boolean: {sorted(set(s[m.isna()]))[:10]}")
    return m.to_numpy(dtype=bool)


def filtered(obs, column):
    import pandas as pd
    col = obs[column]
    if isinstance(col.dtype, pd.CategoricalDtype):
        if (col.cat.codes < 0).any():
            raise SystemExit("missing values")
        keep = truth(pd.Series(col.cat.categories))[col.cat.codes.to_numpy()]
    else:
        keep = truth(col.array)
    return {"names": ["filtered"], "rows": [np.flatnonzero(keep).tolist()], "empty": []}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source")
    p.add_argument("--obs-column")
    p.add_argument("--always-include", nargs="+", default=[])
    p.add_argument("--filter")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    obs = read_obs(a.source)
    sel = filtered(obs, a.filter) if a.filter else by_category(obs, a.obs_column, a.always_include)
    with open(a.out, "w") as fh:
        json.dump(sel, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())

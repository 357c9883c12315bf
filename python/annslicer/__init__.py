"""annslicer from Python: shard, merge and mount AnnData .h5ad files out of core.

A thin layer over the ``annslicer`` Go binary (found through ``ANNSLICER_BIN``,
then next to this package, then on ``PATH``). Functions keep the names and
signatures of the Python tool they replace::

    shard_h5ad(input_file, output_prefix, output_filenames=None,
               shard_size=10000, shuffle=False, seed=None, compression=None,
               n_jobs=None, memory_limit=None, tmpdir=None,
               *, overwrite=True, shards=None, manifest=None)
    shard_by_obs_column(input_file, output_prefix, obs_column, csv_file=None,
                        join_column=None, always_include=None, compression=None)
    filter_h5ad(input_file, output_file, obs_column, csv_file=None,
                join_column=None, compression=None)
    merge_out_of_core(input_files, output_file, join="outer", validate=False,
                      label=None, keys=None, index_unique=None)
    with mount(input_file, mountpoint, shard_size=10000, shuffle=False,
               seed=None, format="h5ad", obs_column=None, filter=None,
               shards=None) as m:
        m.shards  # paths of the virtual shards

Errors carry the CLI's one-line message: ``ValueError`` for bad arguments,
``FileNotFoundError`` for missing inputs, ``RuntimeError`` otherwise.
"""

import operator
import os
import re
import tempfile
from collections.abc import Mapping

from . import _cli
from ._cli import find_binary
from ._mount import Mount, mount

__all__ = ["shard_h5ad", "shard_by_obs_column", "filter_h5ad", "merge_out_of_core", "mount",
           "Mount", "find_binary"]
__version__ = "0.1.0"

_PLAN_LINE = re.compile(r" (\d+) cells -> (\d+) shards of (\d+) \(shuffle=")
# --debug's line per output written: "shard K/N: PATH (C cells) in Ts"
_OUTPUT_LINE = re.compile(r"^annslicer: shard (\d+)/(\d+): (.*) \((\d+) cells\) in [0-9.]+s$")


def _as_list(paths, what):
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    try:
        return [_cli.fspath(p) for p in paths]
    except TypeError:
        raise TypeError(f"{what} must be a list of paths, got {type(paths).__name__}") from None


def _shard_flags(shard_size, shuffle, seed):
    flags = ["--size=%d" % operator.index(shard_size)]
    if shuffle:
        flags.append("--shuffle")
    if seed is not None:
        # without shuffle the CLI refuses --seed (ValueError), as it should
        flags.append("--seed=%d" % operator.index(seed))
    return flags


def _share(value, k):
    """Whether output k is in the share --shards value (already checked by the CLI)."""
    i, n = (int(x) for x in value.split("/"))
    return k % n == i


def _resource_flags(n_jobs, memory_limit, tmpdir):
    """--jobs, --memory-limit, --tmpdir: None leaves the CLI's default."""
    flags = []
    if n_jobs is not None:
        flags.append("--jobs=%d" % operator.index(n_jobs))
    if memory_limit is not None:
        if isinstance(memory_limit, float):
            memory_limit = int(memory_limit)
        flags.append("--memory-limit=%s" % memory_limit)
    if tmpdir is not None:
        flags.append("--tmpdir=" + _cli.fspath(tmpdir))
    return flags


def shard_h5ad(input_file, output_prefix, output_filenames=None, shard_size=10000,
               shuffle=False, seed=None, compression=None, n_jobs=None,
               memory_limit=None, tmpdir=None, *, overwrite=True, shards=None,
               manifest=None):
    """Split ``input_file`` into shards of ``shard_size`` cells (the last one
    takes the rest), written as ``{output_prefix}_shard_{k}.h5ad`` or, when
    given, to ``output_filenames[k]`` (at least one per shard; surplus names
    are not used; too few is a ValueError before anything is written).

    shuffle: cells are a random permutation of all cells across the shards;
    seed (requires shuffle) makes it reproducible. compression: None (the
    fastest), "gzip" or "lzf". overwrite (keyword only, default True like
    ``AnnData.write_h5ad``): replace existing output files; False makes an
    existing file an error.

    n_jobs: shards written at once and cores used (default: every core);
    memory_limit: a bound on the run's memory, bytes or a string such as
    "16GB" (10^9) or "16GiB" (2^30) (default: half of RAM); tmpdir: where
    scratch files go (default: $TMPDIR). As in the Python tool.

    shards (keyword only): "i/N" or (i, N), to split one plan across N runs
    (machines, array jobs): this run writes only the shards k with
    k % N == i, with their usual names, so the N runs, together or one
    after another, into the same place, write the set one run writes. A
    shuffle needs an explicit seed (the same in every run). manifest
    (keyword only): also write this JSON file: the plan and, for each shard
    written (this run's, with shards), its path relative to the file, cells
    and rows (the format of a mount's shards.json).

    Returns the list of the shard paths written, in shard order.
    """
    input_file = _cli.fspath(input_file)
    output_prefix = _cli.fspath(output_prefix)
    args = ["--debug", "slice"] + _shard_flags(shard_size, shuffle, seed)
    args += _resource_flags(n_jobs, memory_limit, tmpdir)
    if compression is not None:
        args.append("--compression=%s" % compression)
    if overwrite:
        args.append("--overwrite")
    split = None
    if shards is not None:
        split = _cli.split_value(shards)
        args.append("--shards=" + split)
    if manifest is not None:
        args.append("--manifest=" + _cli.fspath(manifest))
    with tempfile.TemporaryDirectory(prefix="annslicer-names-") as tmp:
        replace = None
        names = None
        if output_filenames is not None:
            names = _as_list(output_filenames, "output_filenames")
            for n in names:
                if not n or n != n.strip() or "\n" in n or "\r" in n:
                    raise ValueError(
                        f"output_filenames: {n!r} is not usable (empty, or with "
                        "surrounding spaces or a line break)")
            names_file = os.path.join(tmp, "names.txt")
            with open(names_file, "w", encoding="utf-8") as fh:
                fh.write("".join(n + "\n" for n in names))
            args.append("--names=" + names_file)
            replace = {names_file: "output_filenames"}
        stderr = _cli.run(args + ["--", input_file, output_prefix], replace=replace)
    m = None
    for line in stderr.splitlines():
        m = _PLAN_LINE.search(line) or m
    if m is None:  # an older/newer binary that logs differently
        raise RuntimeError("annslicer slice succeeded but did not report its shard plan")
    k = int(m.group(2))  # shards of the whole plan
    mine = [i for i in range(k) if split is None or _share(split, i)]
    if names is not None:
        return [names[i] for i in mine]
    return [f"{output_prefix}_shard_{i}.h5ad" for i in mine]


def _csv_flags(csv_file, join_column):
    if join_column is not None and csv_file is None:
        raise ValueError("join_column needs csv_file (the CSV whose column joins on obs names)")
    flags = []
    if csv_file is not None:
        flags.append("--csv-file=" + _cli.fspath(csv_file))
    if join_column is not None:
        flags.append("--join-column=" + join_column)
    return flags


# The Python tool's exceptions for a column that cannot choose the outputs:
# KeyError when obs has no such column, ValueError for its values.
_COLUMN_VALUE_ERRORS = ("is not categorical", "--always-include", "both make the file name",
                        "the filter column must be", "CSV file ")


def _run_select(args):
    try:
        return _cli.run(args)
    except RuntimeError as e:
        msg = str(e)
        if " has no column " in msg:
            raise KeyError(msg) from None
        if any(m in msg for m in _COLUMN_VALUE_ERRORS):
            raise ValueError(msg) from None
        raise


def _written(stderr):
    """The outputs a --debug run reports, in output order."""
    out = {}
    for line in stderr.splitlines():
        m = _OUTPUT_LINE.match(line)
        if m:
            out[int(m.group(1))] = m.group(3)
    return [out[k] for k in sorted(out)]


def shard_by_obs_column(input_file, output_prefix, obs_column, csv_file=None, join_column=None,
                        always_include=None, compression=None, *, format="h5ad", overwrite=True):
    """One output per category of the categorical obs column ``obs_column``,
    written as ``{output_prefix}_{category}.h5ad`` (characters outside
    ``[A-Za-z0-9_.-]`` become ``_``), in category order; cells keep source
    order, and categories without cells are skipped (with a warning).

    csv_file / join_column: take the column from a CSV instead, joined on
    obs names by ``join_column`` (default: the CSV's first column); the
    source is never modified. always_include: categories (e.g. controls)
    whose cells go into every other output and get none of their own.
    compression: as ``shard_h5ad``. format="zarr" writes ``.zarr`` stores.

    Errors: KeyError when obs (or the CSV) has no such column, ValueError
    when its values cannot choose outputs (not categorical, an unknown
    always_include, a CSV missing cells), as in the Python tool.

    Returns the list of the paths written, in category order.
    """
    input_file = _cli.fspath(input_file)
    output_prefix = _cli.fspath(output_prefix)
    args = ["--debug", "slice", "--obs-column=" + obs_column, "--format=" + format]
    args += _csv_flags(csv_file, join_column)
    if always_include is not None:
        if isinstance(always_include, str):
            always_include = [always_include]
        args += ["--always-include=" + v for v in always_include]
    if compression is not None:
        args.append("--compression=%s" % compression)
    if overwrite:
        args.append("--overwrite")
    return _written(_run_select(args + ["--", input_file, output_prefix]))


def filter_h5ad(input_file, output_file, obs_column, csv_file=None, join_column=None,
                compression=None, *, overwrite=True):
    """Write ``output_file`` with the cells of ``input_file`` where the obs
    column ``obs_column`` (or the CSV's, see ``shard_by_obs_column``) is
    true, in source order: booleans as they are, numbers when not 0, strings
    ``true/false/1/0`` in any case (anything else is a ValueError listing the
    values). No kept cell still writes a valid, empty file. ``output_file``
    ending in ``.zarr`` writes a zarr store.

    Returns ``output_file``.
    """
    input_file = _cli.fspath(input_file)
    output_file = _cli.fspath(output_file)
    args = ["filter", "--obs-column=" + obs_column] + _csv_flags(csv_file, join_column)
    if compression is not None:
        args.append("--compression=%s" % compression)
    if overwrite:
        args.append("--overwrite")
    _run_select(args + ["--", input_file, output_file])
    return output_file


def merge_out_of_core(input_files, output_file, join="outer", validate=False, *,
                      overwrite=True, label=None, keys=None, index_unique=None):
    """Concatenate the cells of ``input_files`` (in order) into ``output_file``.

    join: "outer" (union of genes, missing values are zeros) or "inner"
    (genes common to all inputs). validate: afterwards re-open the output
    with anndata and check its shape, obs names and var names against the
    inputs; RuntimeError on a mismatch. overwrite (keyword only, default
    True like ``AnnData.write_h5ad``): replace an existing output file.

    label, keys, index_unique (keyword only) are ``anndata.concat``'s:
    label names an obs column, a categorical of the keys saying which input
    each cell comes from; index_unique, a separator, makes obs names
    ``name + index_unique + key``. keys are strings, one per input; as in
    anndata.concat, ``input_files`` may be a mapping ``{key: path}``
    instead. Unlike anndata.concat (keys "0", "1", ...), keys default to
    the inputs' file names without ``.h5ad``/``.zarr``.

    Returns ``output_file``.
    """
    if isinstance(input_files, Mapping):
        if keys is not None:
            raise TypeError("keys is given twice: by the mapping input_files and by keys; give it once")
        keys = list(input_files.keys())
        input_files = list(input_files.values())
    inputs = _as_list(input_files, "input_files")
    output_file = _cli.fspath(output_file)
    if not inputs:
        raise ValueError("merge_out_of_core needs at least one input file")
    if join not in ("outer", "inner"):
        raise ValueError(f"join={join!r}: use 'outer' or 'inner'")
    args = ["merge", "--join=" + join]
    if overwrite:
        args.append("--overwrite")
    args += _key_flags(label, keys, index_unique)
    try:
        _cli.run(args + ["--", output_file] + inputs)
    except ValueError as e:
        if str(e).startswith('unknown command "merge"'):
            raise RuntimeError(
                f"{find_binary()} has no merge command (build a newer annslicer): {e}") from None
        raise
    if validate:
        suffixes = None
        if index_unique is not None:
            suffixes = [index_unique + k for k in (keys if keys is not None else map(_stem, inputs))]
        check_merged(inputs, output_file, join, suffixes=suffixes)
    return output_file


def _key_flags(label, keys, index_unique):
    """The CLI flags of anndata.concat's label, keys and index_unique (keys
    unused without either are ignored, as anndata.concat does)."""
    if label is None and index_unique is None:
        return []
    args = []
    if label is not None:
        if not isinstance(label, str):
            raise TypeError(f"label must be a string, got {type(label).__name__}")
        args.append("--label=" + label)
    if index_unique is not None:
        if not isinstance(index_unique, str):
            raise TypeError(f"index_unique must be a string, got {type(index_unique).__name__}")
        args.append("--index-unique=" + index_unique)
    if keys is not None:
        keys = list(keys)
        bad = [k for k in keys if not isinstance(k, str)]
        if bad:
            raise TypeError(f"keys must be strings, got {bad[0]!r}")
        if any("," in k for k in keys):
            raise ValueError(f"keys must not contain ',': {[k for k in keys if ',' in k][0]!r}")
        args.append("--keys=" + ",".join(keys))
    return args


def _stem(path):
    """An input's default key: its file name without .h5ad or .zarr."""
    base = os.path.basename(os.fspath(path).rstrip("/"))
    for ext in (".h5ad", ".zarr"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base


def _names(path):
    """(n_obs, obs_names, var_names) read with anndata, X left on disk."""
    import anndata

    a = anndata.read_h5ad(path, backed="r")
    try:
        return a.n_obs, list(a.obs_names), list(a.var_names)
    finally:
        a.file.close()


def check_merged(input_files, output_file, join="outer", suffixes=None):
    """Cheap checks that ``output_file`` is the merge of ``input_files``:
    cell count, obs names in input order (each input's with its suffix
    appended, if given: index_unique + key), var names (union for outer,
    the common ones for inner). Raises RuntimeError naming every mismatch."""
    ins = [_names(p) for p in input_files]
    n_obs, obs, var = _names(output_file)
    problems = []
    want_n = sum(n for n, _, _ in ins)
    if n_obs != want_n:
        problems.append(f"{n_obs} cells, the inputs have {want_n}")
    suffixes = suffixes if suffixes is not None else [""] * len(ins)
    want_obs = [o + sfx for (_, names, _), sfx in zip(ins, suffixes) for o in names]
    if n_obs == want_n and obs != want_obs:
        bad = next(i for i, (a, b) in enumerate(zip(obs, want_obs)) if a != b)
        problems.append(f"obs name {bad} is {obs[bad]!r}, the inputs give {want_obs[bad]!r}")
    sets = [set(v) for _, _, v in ins]
    want_var = set.union(*sets) if join == "outer" else set.intersection(*sets)
    if len(var) != len(want_var) or set(var) != want_var:
        problems.append(f"{len(var)} genes, the {join} join of the inputs has {len(want_var)}")
    if problems:
        raise RuntimeError(f"{output_file}: not the {join} merge of its inputs: " + "; ".join(problems))

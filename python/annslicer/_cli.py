"""Finding and running the annslicer binary; its errors as Python exceptions."""

import operator
import os
import shutil
import subprocess
import sys

PREFIX = "annslicer: "

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    """Where the binary may be, after ANNSLICER_BIN, in lookup order."""
    # next to the package (a binary copied in before `pip install`)
    yield os.path.join(_HERE, "bin", "annslicer")
    yield os.path.join(_HERE, "annslicer")
    # next to the interpreter: a venv's bin/ (or Scripts/), where users
    # copy or install the binary; works without activating the venv
    yield os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "annslicer")
    found = shutil.which("annslicer")
    if found:
        yield found
    # the checkout this package sits in (python/annslicer -> bin/annslicer),
    # as `make build` leaves it
    yield os.path.join(os.path.dirname(os.path.dirname(_HERE)), "bin", "annslicer")


def split_value(shards):
    """The --shards value of shards="i/N" or (i, N) (the CLI checks it)."""
    if isinstance(shards, str):
        return shards
    try:
        i, n = shards
        return "%d/%d" % (operator.index(i), operator.index(n))
    except (TypeError, ValueError):
        raise ValueError(f"shards={shards!r}: give \"i/N\" or (i, N)") from None


def find_binary():
    """Path of the annslicer binary.

    Looked up in this order: the ``ANNSLICER_BIN`` environment variable,
    next to the package (``annslicer/bin/annslicer`` or
    ``annslicer/annslicer`` inside the installed package directory), next
    to the Python interpreter (a venv's ``bin/``), ``annslicer`` on
    ``PATH``, then the ``bin/`` of the checkout the package is imported
    from.
    """
    env = os.environ.get("ANNSLICER_BIN")
    if env:
        if not os.path.isfile(env):
            raise FileNotFoundError(f"ANNSLICER_BIN={env}: no such file")
        if not os.access(env, os.X_OK):
            raise RuntimeError(f"ANNSLICER_BIN={env}: not executable")
        return env
    for cand in _candidates():
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise FileNotFoundError(
        "the annslicer binary was not found: set ANNSLICER_BIN to its path, put it on PATH, "
        "or copy it next to this Python (" +
        os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "annslicer") +
        "); build it with `make build` in a checkout (https://github.com/annslicer/annslicer)")


def cli_message(stderr, returncode):
    """The CLI's one-line error (its last ``annslicer: ...`` line), unprefixed."""
    lines = [l.strip() for l in (stderr or "").splitlines() if l.strip()]
    for line in reversed(lines):
        if line.startswith(PREFIX):
            return line[len(PREFIX):]
    if lines:
        return lines[-1]
    if returncode is not None and returncode < 0:
        return f"annslicer was killed by signal {-returncode}"
    return f"annslicer exited with status {returncode}"


def error_for(returncode, stderr):
    """The exception for a failed run: ValueError for bad arguments (exit 2),
    FileNotFoundError when the CLI says "no such file" (or directory), else
    RuntimeError."""
    msg = cli_message(stderr, returncode)
    if returncode == 2:
        return ValueError(msg)
    low = msg.lower()
    if "no such file" in low or "no such directory" in low:
        return FileNotFoundError(msg)
    return RuntimeError(msg)


def fspath(p):
    """A path argument as str (accepts str, bytes and os.PathLike)."""
    p = os.fspath(p)
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    return p


def run(args, replace=None):
    """Run ``annslicer ARGS``; return its stderr, or raise the mapped error.

    replace: {text: by} applied to the error message (e.g. a temporary
    file's path replaced by the argument it came from)."""
    binary = find_binary()
    proc = subprocess.run([binary] + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        err = error_for(proc.returncode, stderr)
        if replace:
            msg = err.args[0]
            for a, b in replace.items():
                msg = msg.replace(a, b)
            err = type(err)(msg)
        raise err
    return stderr

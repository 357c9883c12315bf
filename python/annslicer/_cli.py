"""Finding and running the annslicer binary; its errors as Python exceptions."""

import os
import shutil
import subprocess

PREFIX = "annslicer: "

_HERE = os.path.dirname(os.path.abspath(__file__))


def find_binary():
    """Path of the annslicer binary.

    Looked up in this order: the ``ANNSLICER_BIN`` environment variable,
    next to the package (``annslicer/bin/annslicer`` or
    ``annslicer/annslicer`` inside the installed package directory), then
    ``annslicer`` on ``PATH``.
    """
    env = os.environ.get("ANNSLICER_BIN")
    if env:
        if not os.path.isfile(env):
            raise FileNotFoundError(f"ANNSLICER_BIN={env}: no such file")
        if not os.access(env, os.X_OK):
            raise RuntimeError(f"ANNSLICER_BIN={env}: not executable")
        return env
    for cand in (os.path.join(_HERE, "bin", "annslicer"), os.path.join(_HERE, "annslicer")):
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    found = shutil.which("annslicer")
    if found:
        return found
    raise FileNotFoundError(
        "the annslicer binary was not found: set ANNSLICER_BIN, put it on PATH, "
        "or copy it to " + os.path.join(_HERE, "bin", "annslicer"))


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
    FileNotFoundError when the CLI says "no such file", else RuntimeError."""
    msg = cli_message(stderr, returncode)
    if returncode == 2:
        return ValueError(msg)
    if "no such file" in msg.lower():
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

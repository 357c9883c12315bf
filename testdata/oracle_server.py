#!/usr/bin/env python3
"""Runs the checkers of testdata/ one call after another in one interpreter.

Why: the Go tests call the oracles (check_current.py, check_shards.py, ...)
hundreds of times; each fresh interpreter spent ~2 s importing anndata,
zarr, pandas and scipy, and read its source again (5 s for a real dataset
whose uns holds 10,000 arrays). Here each script is imported once, and a
script's read_source(path), if it has one, is answered from a cache of
sources keyed by every file's size and mtime (a source changed is read
again).

Protocol: one JSON line per call on stdin, {"script": path, "argv": [...]};
one JSON line back, {"code": int, "output": str}: what the script's
main(argv) printed (stdout and stderr together) and its exit code. The
caller runs a call that did not pass again in a fresh interpreter and
reports that run: this process only makes passing checks fast, it never
decides that a check fails.
"""

import contextlib
import importlib.util
import io
import json
import os
import sys
import traceback

SOURCES_KEPT = 4


def source_key(path):
    """Every file of path (a file, or a store's tree) by size and mtime."""
    path = os.path.realpath(path)
    if not os.path.isdir(path):
        st = os.stat(path)
        return (path, st.st_ino, st.st_size, st.st_mtime_ns)
    files = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for n in sorted(names):
            st = os.stat(os.path.join(root, n))
            files.append((os.path.relpath(os.path.join(root, n), path), st.st_size, st.st_mtime_ns))
    return (path, tuple(files))


class SourceCache:
    def __init__(self):
        self.kept = []  # (key, value), most recent last

    def wrap(self, read):
        def read_source(path):
            key = (id(read), source_key(path))
            for i, (k, v) in enumerate(self.kept):
                if k == key:
                    self.kept.append(self.kept.pop(i))
                    return v.copy()  # a check may change what it is given
            v = read(path)
            self.kept = self.kept[-(SOURCES_KEPT - 1):] + [(key, v)]
            return v.copy()
        return read_source


def load(path, cache):
    """The script at path as a module (imported once; its own imports of
    sibling scripts find it in sys.modules)."""
    name = os.path.splitext(os.path.basename(path))[0]
    mod = sys.modules.get(name)
    if mod is not None and os.path.realpath(getattr(mod, "__file__", "")) == os.path.realpath(path):
        return mod
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]  # imported again by the next call
        raise
    if hasattr(mod, "read_source"):
        mod.read_source = cache.wrap(mod.read_source)
    return mod


def call(req, cache):
    buf = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            mod = load(req["script"], cache)
            code = mod.main(req["argv"]) or 0
        except SystemExit as e:  # as the interpreter exits on it
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:
                print(e.code)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
    return {"code": code, "output": buf.getvalue()}


def main():
    # the answers go out on a copy of stdout; what C libraries print to
    # file descriptor 1 goes nowhere instead of into the protocol (the
    # caller leaves descriptor 2 unread)
    proto = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    cache = SourceCache()
    for line in sys.stdin:
        if line.strip():
            proto.write(json.dumps(call(json.loads(line), cache)) + "\n")
            proto.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``annslicer mount`` as a Python context manager."""

import json
import operator
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings

from . import _cli

MANIFEST = "shards.json"


def _unescape_mountinfo(s):
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def is_mounted(path):
    """Whether a filesystem is mounted exactly at ``path``."""
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split(" ")
                if len(fields) > 4 and _unescape_mountinfo(fields[4]) == path:
                    return True
        return False
    except OSError:
        return os.path.ismount(path)


def _die_with_parent():
    """Command prefix so that the mount gets SIGTERM (and unmounts) if this
    Python process dies without leaving the ``with`` block (e.g. SIGKILL).
    util-linux's setpriv sets the parent-death signal and execs; without
    it (not Linux) there is no such guard."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class Mount:
    """A running ``annslicer mount``.

    Use as a context manager: entering starts the mount and returns once the
    shards are visible; leaving (also on an exception) sends SIGTERM, waits
    for the process to exit and checks the mount point is unmounted.

    Attributes once entered: ``mountpoint``, ``shards`` (paths of the
    virtual shard files, in shard order), ``manifest`` (the parsed
    ``shards.json``: input, format, n_obs, size, shuffle, seed, shards).
    """

    def __init__(self, input_file, mountpoint, shard_size=10000, shuffle=False,
                 seed=None, format="h5ad", *, obs_column=None, always_include=None,
                 filter=None, csv_file=None, join_column=None, shards=None, prefetch=False,
                 timeout=60.0):
        self.input_file = _cli.fspath(input_file)
        self._mountpoint_arg = _cli.fspath(mountpoint)
        self.mountpoint = os.path.abspath(self._mountpoint_arg)
        self.args = ["mount", "--size=%d" % operator.index(shard_size), "--format=%s" % format]
        if shuffle:
            self.args.append("--shuffle")
        if seed is not None:
            self.args.append("--seed=%d" % operator.index(seed))
        if obs_column is not None or filter is not None:
            # outputs from obs: the plan's size is not used
            self.args = [a for a in self.args if not a.startswith("--size=")]
        if obs_column is not None:
            self.args.append("--obs-column=" + obs_column)
        if always_include is not None:
            if isinstance(always_include, str):
                always_include = [always_include]
            self.args += ["--always-include=" + v for v in always_include]
        if filter is not None:
            self.args.append("--filter=" + filter)
        if join_column is not None and csv_file is None:
            raise ValueError("join_column needs csv_file (the CSV whose column joins on obs names)")
        if csv_file is not None:
            self.args.append("--csv-file=" + _cli.fspath(csv_file))
        if join_column is not None:
            self.args.append("--join-column=" + join_column)
        if shards is not None:
            self.args.append("--shards=" + _cli.split_value(shards))
        if prefetch:
            self.args.append("--prefetch")
        self.timeout = timeout
        self.process = None
        self.manifest = None
        self.shards = []
        self._stderr = None

    # ------------------------------------------------------------ lifecycle

    def start(self):
        """Start the mount; return once MOUNTPOINT/shards.json is visible."""
        if self.process is not None:
            raise RuntimeError(f"{self.mountpoint}: this mount is already started")
        binary = _cli.find_binary()
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            _die_with_parent() + [binary] + self.args + ["--", self.input_file, self._mountpoint_arg],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
            # Ctrl-C reaches Python only; leaving the `with` block unmounts.
            start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self._stop(quiet=True, failed_start=True)
            raise
        return self

    def _read_stderr(self):
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def _wait_ready(self):
        manifest = os.path.join(self.mountpoint, MANIFEST)
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            rc = self.process.poll()
            if rc is not None:
                if rc == 0:
                    raise RuntimeError(f"{self.mountpoint}: annslicer mount exited before mounting")
                raise _cli.error_for(rc, self._read_stderr())
            if is_mounted(self.mountpoint) and os.path.exists(manifest):
                with open(manifest, "rb") as fh:
                    self.manifest = json.load(fh)
                self.shards = [os.path.join(self.mountpoint, s["name"])
                               for s in self.manifest["shards"]]
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.mountpoint}: not mounted {self.timeout:g}s after starting annslicer mount")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def stop(self):
        """Unmount (SIGTERM to the mount process) and wait until it is gone."""
        self._stop(quiet=False)

    def _stop(self, quiet, failed_start=False):
        proc = self.process
        if proc is None:
            return
        problems = []
        detached = False
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30
            while proc.poll() is None:
                if not failed_start and not is_mounted(self.mountpoint):
                    # Detached lazily because a file in it is still open: the
                    # process serves that file until it is closed, then exits.
                    # Not our business to break it; reap it in the background.
                    try:
                        proc.wait(timeout=1)
                    except subprocess.TimeoutExpired:
                        threading.Thread(target=proc.wait, daemon=True,
                                         name="annslicer-mount-reaper").start()
                        detached = True
                        break
                if time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    problems.append("annslicer mount did not exit 30s after SIGTERM")
                    break
                time.sleep(0.01)
        if not detached and proc.returncode not in (0, -signal.SIGTERM) and not problems \
                and not failed_start:
            problems.append(_cli.cli_message(self._read_stderr(), proc.returncode))
        if is_mounted(self.mountpoint):
            # the process is gone but the kernel still has the mount
            try:
                _cli.run(["unmount", "--", self.mountpoint])
            except Exception as e:  # reported below
                problems.append(f"unmount: {e}")
            if is_mounted(self.mountpoint):
                problems.append("still mounted")
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self.process = None
        if problems and not quiet:
            raise RuntimeError(f"{self.mountpoint}: " + "; ".join(problems))
        if problems:
            warnings.warn(f"{self.mountpoint}: " + "; ".join(problems), RuntimeWarning, stacklevel=3)

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        # On an exception in the block, unmount without masking it.
        self._stop(quiet=exc_type is not None)
        return False

    def __repr__(self):
        state = "mounted" if self.running else "not mounted"
        return f"<annslicer.Mount {self.input_file} at {self.mountpoint}, {len(self.shards)} shards, {state}>"


def mount(input_file, mountpoint, shard_size=10000, shuffle=False, seed=None, format="h5ad",
          *, obs_column=None, always_include=None, filter=None, csv_file=None,
          join_column=None, shards=None, prefetch=False, timeout=60.0):
    """Serve the shards of ``input_file`` as ``mountpoint/shard_N.h5ad``
    through FUSE (read-only, built on read), for the duration of a ``with``
    block::

        with annslicer.mount("atlas.h5ad", "/mnt/shards", shuffle=True, seed=0) as m:
            for path in m.shards:
                adata = anndata.read_h5ad(path, backed="r")

    The mount point must be an existing directory; mounting needs FUSE
    (/dev/fuse and the right to mount). ``timeout``: seconds to wait for the
    shards to become visible. Returns a :class:`Mount` (not yet started;
    ``with`` starts it, or call ``start()``/``stop()``).

    obs_column (with always_include, csv_file, join_column): one file per
    category instead of fixed-size shards, ``mountpoint/{category}.h5ad``,
    as ``shard_by_obs_column`` writes them; filter: one file,
    ``mountpoint/filtered.h5ad``, as ``filter_h5ad`` writes it.

    shards: "i/N" or (i, N): serve only the shards k with k % N == i (with
    their usual names), the share ``shard_h5ad(..., shards=)`` writes; a
    shuffle needs an explicit seed.

    prefetch: make each shard whole in the background when it is first
    opened, into the kernel's page cache (``annslicer mount --prefetch``):
    a loader's many small reads of it then do not each wait for their cells
    to be gathered.
    """
    return Mount(input_file, mountpoint, shard_size=shard_size, shuffle=shuffle, seed=seed,
                 format=format, obs_column=obs_column, always_include=always_include,
                 filter=filter, csv_file=csv_file, join_column=join_column, shards=shards,
                 prefetch=prefetch, timeout=timeout)

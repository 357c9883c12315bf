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
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  echo "setup: Go is at /usr/local/go/bin; add it to PATH" >&2
fi
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || {
  echo "setup: Go 1.26 or newer is required (https://go.dev/dl); it is not installed" >&2
  exit 1
}

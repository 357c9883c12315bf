#!/usr/bin/env bash
# CPython 3.13 for the training bench, built once from Debian's source.
#
# Why: annbatch (the comparison in bench/train_bench.py) needs Python >= 3.12
# and this project's machines run Debian bookworm (Python 3.11); Debian's
# archive is reachable where python.org may not be. So the orig tarball of
# trixie's python3.13 source package is fetched (its name and SHA-256 come
# from trixie's Sources index: deb.debian.org serves no directory listing
# of the pool) and built with ./configure --prefix && make && make install
# (no PGO / LTO) into a cache outside the repository.
#
# Usage: bench/python313.sh            prints the interpreter's path
#        bench/python313.sh --venv     also makes a venv with annbatch from
#                                      PyPI and prints its python instead
# Nothing is done when the interpreter (and venv) exist. Cache directory:
# $ANNSLICER_PY313_DIR (default ~/.cache/annslicer-bench/python3.13); the
# venv is $ANNSLICER_PY313_DIR-venv. Compiles run under nice -n 19.
# Build log: $ANNSLICER_PY313_DIR.build.log. On 2 cores busy with other jobs
# (load ~5-6) the build took 355-431 s, 6.5-7.3 min in all, the venv 30-40 s.
set -eEuo pipefail

PREFIX=${ANNSLICER_PY313_DIR:-$HOME/.cache/annslicer-bench/python3.13}
VENV=$PREFIX-venv
PY=$PREFIX/bin/python3.13
MIRROR=${DEBIAN_MIRROR:-https://deb.debian.org/debian}
SUITE=${ANNSLICER_PY313_SUITE:-trixie}
# what the venv holds (annbatch pins its own numpy/zarr/anndata; its README:
# zarrs is "essential for local filesystem performance")
VENV_PKGS=${ANNSLICER_PY313_PKGS:-annbatch[zarrs]}

log() { echo "python313: $*" >&2; }
# the last line of stderr says what failed (make bench shows it): a log and
# exit 1 where the cause is known, else this trap
trap 'log "failed (exit $?): $BASH_COMMAND"' ERR
work=
trap '[ -z "$work" ] || rm -rf "$work"' EXIT

build_python() {
  local deps=(build-essential pkg-config xz-utils libssl-dev zlib1g-dev libbz2-dev libffi-dev
              libsqlite3-dev liblzma-dev libreadline-dev libncurses-dev uuid-dev libgdbm-dev)
  local missing=()
  for d in "${deps[@]}"; do
    dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "ok installed" || missing+=("$d")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing build dependencies: ${missing[*]}"
    local sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
  fi

  work=$(mktemp -d "${TMPDIR:-/tmp}/annslicer-py313.XXXXXX")
  # the orig tarball of the suite's python3.13 (name and checksum from Sources)
  curl -fsS -m 300 -o "$work/Sources.xz" "$MIRROR/dists/$SUITE/main/source/Sources.xz"
  local entry file sum
  entry=$(xz -dc "$work/Sources.xz" | awk '/^Package: python3\.13$/{p=1} p&&/^$/{p=0; done=1} p&&!done')
  [ -n "$entry" ] || { log "no python3.13 in $SUITE's Sources"; exit 1; }
  file=$(printf '%s\n' "$entry" | grep -m1 -oE 'python3\.13_[0-9.]+\.orig\.tar\.xz$')
  sum=$(printf '%s\n' "$entry" | awk '/^Checksums-Sha256:/{c=1; next} /^[^ ]/{c=0} c && $3 ~ /\.orig\.tar\.xz$/ {print $1; exit}')
  [ -n "$file" ] && [ -n "$sum" ] || { log "no orig tarball in $SUITE's python3.13 entry"; exit 1; }
  log "fetching $MIRROR/pool/main/p/python3.13/$file"
  curl -fsS -m 900 -o "$work/$file" "$MIRROR/pool/main/p/python3.13/$file"
  echo "$sum  $work/$file" | sha256sum -c --quiet - >&2
  tar -C "$work" -xJf "$work/$file"
  local src; src=$(find "$work" -maxdepth 1 -type d -name 'Python-3.13*' -print -quit)
  [ -n "$src" ] || { log "$file has no Python-3.13* directory"; exit 1; }

  log "building $file into $PREFIX (log: $PREFIX.build.log)"
  mkdir -p "$(dirname "$PREFIX")"
  local t0=$SECONDS
  (
    cd "$src"
    nice -n 19 ./configure --prefix="$PREFIX" --with-ensurepip=install
    nice -n 19 make -j2
    nice -n 19 make install
  ) > "$PREFIX.build.log" 2>&1 || { rm -rf "$PREFIX"; log "build failed: $(tail -1 "$PREFIX.build.log") (all of it: $PREFIX.build.log)"; exit 1; }
  "$PY" -c 'import ssl, zlib, bz2, lzma, ctypes, sqlite3' ||
    { rm -rf "$PREFIX"; log "built, but a stdlib module is missing (see $PREFIX.build.log)"; exit 1; }
  log "built in $((SECONDS - t0)) s"
}

make_venv() {
  # a stamp marks a complete venv: an interrupted install is redone
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  local pkgs; read -ra pkgs <<< "$VENV_PKGS"  # split, not globbed ([zarrs])
  "$VENV/bin/python" -m pip install -q "${pkgs[@]}" >&2
  "$VENV/bin/python" -c 'import annbatch' >&2
  touch "$VENV/.complete"
}

# (not `|| build_python`: set -e would not apply inside it)
if [ ! -x "$PY" ]; then build_python; fi
if [ "${1:-}" = --venv ]; then
  if [ ! -f "$VENV/.complete" ]; then make_venv; fi
  echo "$VENV/bin/python"
else
  echo "$PY"
fi

#!/usr/bin/env bash
# make bench: the DESIGN shape (200k cells x 10k genes, 1% CSR X and counts,
# float64 obsm 10 wide) and twice its cells; wall time (median of 3) and
# peak RSS of slice, slice --shuffle and cp of the source, in one run; then
# the mount benchmark; then (unless BENCH_SCALE=0) 2M cells, bench/scale.sh;
# last, a training loop over virtual / materialized shuffled shards and
# annbatch (bench/train_bench.py; the first run builds a Python 3.13 for
# annbatch, see below). Results: bench/out/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
OUT=${BENCH_DIR:-bench/out}
mkdir -p "$OUT"
go build -o bin/fuseceiling ./bench/fuseceiling
go build -o bin/zarrcodec ./bench/zarrcodec

for spec in "src:200000" "src2x:400000"; do
  name=${spec%%:*}; cells=${spec##*:}
  [ -f "$OUT/$name.h5ad" ] || $PY testdata/make_bench.py "$OUT/$name.h5ad" --cells "$cells" --no-verify
done

# ANNSLICER_BEFORE=/path/to/an/older/annslicer adds its rows, marked
# "(before)", to every table: regressions show side by side in one run.
BEFORE=${ANNSLICER_BEFORE:-}

# pigz, the reference for --compression gzip: the same deflate level on the
# same bytes (the source's, as many as the shards' raw bytes) on every core.
# The level is the one h5ad output uses (layout/h5ad/encode.go, chunked()).
command -v pigz > /dev/null || apt-get install -y -qq pigz > /dev/null 2>&1 ||
  { apt-get update -qq > /dev/null 2>&1 && apt-get install -y -qq pigz > /dev/null 2>&1; } || true
PIGZ=$(command -v pigz || true)
[ -n "$PIGZ" ] || echo "bench: pigz missing and not installable: no pigz rows" >&2
GZIP_LEVEL=$(sed -n 's/.*l\.Level = \([0-9][0-9]*\).*/\1/p' layout/h5ad/encode.go | head -n 1)
[ -n "$GZIP_LEVEL" ] || { echo "bench: gzip level of h5ad output not found in layout/h5ad/encode.go; pigz uses 4" >&2; GZIP_LEVEL=4; }

slice_spec() { # $1 name
  cat > "$OUT/spec-$1.py" <<PYSPEC
src, out = "$OUT/$1.h5ad", "$OUT/s"
clean = f"rm -rf {out} && mkdir -p {out} && cat {src} > /dev/null"
BASELINE = "cp"
REPEAT = 3
BENCH = [{"name": "cp", "setup": clean, "cmd": f"cp {src} {out}/copy.h5ad"}]
pigz = "pigz -p $(nproc) -$GZIP_LEVEL -c (the source's bytes)"
if "$PIGZ":
    BENCH += [{"name": pigz, "setup": clean, "cmd": f"$PIGZ -p $(nproc) -$GZIP_LEVEL -c {src} > /dev/null"}]
COMPARE = []
for tag, b in [("", "bin/annslicer")] + ([(" (before)", "$BEFORE")] if "$BEFORE" else []):
    if "$PIGZ":  # the target: within 1.3x
        COMPARE += [("slice --size 10000 --compression gzip" + tag, pigz)]
    BENCH += [
        {"name": "slice --size 10000" + tag, "setup": clean, "cmd": f"{b} slice {src} {out}/x --size 10000"},
        {"name": "slice --size 10000 --shuffle" + tag, "setup": clean, "cmd": f"{b} slice {src} {out}/x --size 10000 --shuffle --seed 0"},
        {"name": "slice --size 10000 --compression gzip" + tag, "setup": clean, "cmd": f"{b} slice {src} {out}/x --size 10000 --compression gzip"},
        {"name": "slice --size 10000 --compression lzf" + tag, "setup": clean, "cmd": f"{b} slice {src} {out}/x --size 10000 --compression lzf"},
        # each binary merges shards it sliced (annslicer before h5w refused
        # version-2 object headers, which every h5ad output now has)
        {"name": "merge of the 10000-cell shards" + tag, "setup": f"{clean} && {b} slice {src} {out}/x --size 10000 && cat {out}/x_shard_*.h5ad > /dev/null",
         "cmd": f"{b} merge {out}/merged.h5ad '{out}/x_shard_*.h5ad'"},
    ]
PYSPEC
}

[ -d "$OUT/src.zarr" ] || $PY -c "import sys, warnings; warnings.filterwarnings('ignore'); import anndata; anndata.read_h5ad(sys.argv[1]).write_zarr(sys.argv[2])" "$OUT/src.h5ad" "$OUT/src.zarr"
cat > "$OUT/spec-zarr.py" <<PYSPEC
src, out = "$OUT/src.zarr", "$OUT/s"
clean = f"rm -rf {out} && mkdir -p {out} && find {src} -type f -exec cat {{}} + > /dev/null"
shards = f"{clean} && bin/annslicer slice {src} {out}/x --size 10000 --format zarr && find {out} -type f -exec cat {{}} + > /dev/null"
BASELINE = "cp -r"
REPEAT = 3
BENCH = [{"name": "cp -r", "setup": clean, "cmd": f"cp -r {src} {out}/copy.zarr"},
         # the codec's bound: cp -r, every chunk Blosc-decoded and encoded again
         {"name": "codec: cp -r re-encoding every chunk (bench/zarrcodec)", "setup": clean, "cmd": f"bin/zarrcodec {src} {out}/copy.zarr"}]
for tag, b in [("", "bin/annslicer")] + ([(" (before)", "$BEFORE")] if "$BEFORE" else []):
    BENCH += [
        {"name": "slice --size 10000 --format zarr" + tag, "setup": clean, "cmd": f"{b} slice {src} {out}/x --size 10000 --format zarr"},
        {"name": "slice --size 10000 --format zarr --shuffle" + tag, "setup": clean, "cmd": f"{b} slice {src} {out}/x --size 10000 --format zarr --shuffle --seed 0"},
        {"name": "slice --size 10000 (to h5ad)" + tag, "setup": clean, "cmd": f"{b} slice {src} {out}/x --size 10000"},
        {"name": "slice --size 10000 --shuffle (to h5ad)" + tag, "setup": clean, "cmd": f"{b} slice {src} {out}/x --size 10000 --shuffle --seed 0"},
        {"name": "merge of the 20 zarr shards to .zarr" + tag, "setup": shards, "cmd": f"{b} merge {out}/merged.zarr '{out}/x_shard_*.zarr'"},
        {"name": "merge of the 20 zarr shards to .h5ad" + tag, "setup": shards, "cmd": f"{b} merge {out}/merged.h5ad '{out}/x_shard_*.zarr'"},
    ]
BENCH += [
    {"name": "slice --size 10000 (to h5ad) --memory-limit 100MiB", "setup": clean, "cmd": f"bin/annslicer slice {src} {out}/x --size 10000 --memory-limit 100MiB"},
    {"name": "slice --size 10000 --format zarr --memory-limit 100MiB", "setup": clean, "cmd": f"bin/annslicer slice {src} {out}/x --size 10000 --format zarr --memory-limit 100MiB"},
]
PYSPEC

# Many shards (issue 14): every shard's size without building it; 20,000
# shards of 10 cells of the 200k source, listed with ls -l and du -s.
cat > "$OUT/spec-many-shards.py" <<PYSPEC
src, out = "$OUT/src.h5ad", "$OUT/s"
clean = f"rm -rf {out} && mkdir -p {out} && cat {src} > /dev/null"
BASELINE = "mount + ls -l, 20,000 shards"
REPEAT = 1
BENCH = []
BENCH += [
    {"name": "mount + ls -l, 20,000 shards", "setup": clean, "cmd": f"bench/mount_read.sh bin/annslicer {out}/mnt {src} ls --size 10"},
    {"name": "mount + du -s, 20,000 shards", "setup": clean, "cmd": f"bench/mount_read.sh bin/annslicer {out}/mnt {src} du --size 10"},
    {"name": "mount + du -s, 100,000 shards", "setup": clean, "cmd": f"bench/mount_read.sh bin/annslicer {out}/mnt {src} du --size 2"},
    # the mount's memory before anything is listed: what du adds to it
    {"name": "mount, nothing listed, 100,000 shards", "setup": clean, "cmd": f"bench/mount_read.sh bin/annslicer {out}/mnt {src} none --size 2"},
    # zarr shards are directories: du walks every file of every tree
    {"name": "mount --format zarr + du -s, 2,000 shards", "setup": clean, "cmd": f"bench/mount_read.sh bin/annslicer {out}/mnt {src} du --size 100 --format zarr"},
]
if "$BEFORE":  # before h5w each skeleton took ~8 ms: only ls -l
    BENCH += [{"name": "mount + ls -l, 20,000 shards (before)", "setup": clean, "cmd": f"bench/mount_read.sh $BEFORE {out}/mnt {src} ls --size 10"},
              {"name": "mount + du -s, 100,000 shards (before)", "setup": clean, "cmd": f"bench/mount_read.sh $BEFORE {out}/mnt {src} du --size 2"},
              {"name": "mount --format zarr + du -s, 2,000 shards (before)", "setup": clean, "cmd": f"bench/mount_read.sh $BEFORE {out}/mnt {src} du --size 100 --format zarr"}]
PYSPEC

# Collections (issue 13): 10 files of 100k cells, 80 % of each file's genes
# shared by all (an outer join has 28k genes and remaps every file), cut into
# shuffled 10k-cell shards three ways; then many small files, for memory.
$PY bench/make_collection.py "$OUT/coll10" --files 10 --cells 100000 > /dev/null
$PY bench/make_collection.py "$OUT/coll100" --files 100 --cells 500 --genes 2000 --shared 1 > /dev/null
$PY bench/make_collection.py "$OUT/coll1000" --files 1000 --cells 50 --genes 2000 --shared 1 > /dev/null
cat > "$OUT/spec-coll.py" <<PYSPEC
glob, out = "'$OUT/coll10/*.h5ad'", "$OUT/s"
clean = f"rm -rf {out} && mkdir -p {out} && cat $OUT/coll10/*.h5ad > /dev/null"
BASELINE = "cp of the 10 files"
REPEAT = 1
flags = "--size 10000 --shuffle --seed 0"
BENCH = [
    {"name": "cp of the 10 files", "setup": clean, "cmd": f"cp $OUT/coll10/*.h5ad {out}/"},
    {"name": "merge, then slice --shuffle of the merged file", "setup": clean,
     "cmd": f"bin/annslicer merge {out}/merged.h5ad {glob} && bin/annslicer slice {out}/merged.h5ad {out}/x {flags}",
     "disk": f"stat -c %s {out}/merged.h5ad"},
    {"name": "slice --shuffle of the collection", "setup": clean, "cmd": f"bin/annslicer slice {glob} {out}/x {flags}", "disk": "echo 0"},
    {"name": "mount --shuffle of the collection + first read of all shards", "setup": clean,
     "cmd": f"bench/mount_read.sh bin/annslicer {out}/mnt {glob} read {flags}", "disk": "echo 0"},
]
PYSPEC
cat > "$OUT/spec-many.py" <<PYSPEC
out = "$OUT/s"
BASELINE = "slice, 100 files of 500 cells"
REPEAT = 1
BENCH = []
for n, cells in [(100, 500), (1000, 50)]:
    glob = f"'$OUT/coll{n}/*.h5ad'"
    clean = f"rm -rf {out} && mkdir -p {out} && cat $OUT/coll{n}/*.h5ad > /dev/null"
    BENCH += [
        {"name": f"slice, {n} files of {cells} cells", "setup": clean, "cmd": f"bin/annslicer slice {glob} {out}/x --size 5000"},
        {"name": f"slice --shuffle, {n} files of {cells} cells", "setup": clean, "cmd": f"bin/annslicer slice {glob} {out}/x --size 5000 --shuffle --seed 0"},
        {"name": f"merge, {n} files of {cells} cells", "setup": clean, "cmd": f"bin/annslicer merge {out}/m.h5ad {glob}"},
        {"name": f"mount + first read, {n} files of {cells} cells", "setup": clean, "cmd": f"bench/mount_read.sh bin/annslicer {out}/mnt {glob} read --size 5000"},
    ]
PYSPEC

{
  echo "## slice, 200k cells ($(date -u +%Y-%m-%d), $(nproc) cores)"
  echo
  slice_spec src; $PY bench/bench.py "$OUT/spec-src.py" --json "$OUT/slice-200k.json"
  echo
  echo "## slice, 200k cells, zarr source (anndata write_zarr: Blosc lz4)"
  echo
  $PY bench/bench.py "$OUT/spec-zarr.py" --json "$OUT/slice-zarr-200k.json"
  echo
  echo "## slice, 400k cells (2x): memory must not grow"
  echo
  slice_spec src2x; $PY bench/bench.py "$OUT/spec-src2x.py" --json "$OUT/slice-400k.json"
  echo
  echo "## mount, 200k cells"
  echo
  $PY bench/mount_bench.py "$OUT/src.h5ad" "$OUT/mount" --bin bin/annslicer --ceiling bin/fuseceiling --contiguous --json "$OUT/mount-contiguous.json"
  echo
  $PY bench/mount_bench.py "$OUT/src.h5ad" "$OUT/mount" --bin bin/annslicer --ceiling bin/fuseceiling --json "$OUT/mount-shuffled.json"
  echo
  echo "## mount of 20,000 and 100,000 shards (and 2,000 zarr shards): every size, nothing read"
  echo
  $PY bench/bench.py "$OUT/spec-many-shards.py" --json "$OUT/many-shards.json"
  echo
  echo "## collection: 10 files x 100k cells (80 % shared genes) into shuffled 10k-cell shards"
  echo
  $PY bench/bench.py "$OUT/spec-coll.py" --json "$OUT/collection.json"
  echo
  echo "## collection: many small files (2,000 genes, all shared), 5k-cell shards"
  echo
  $PY bench/bench.py "$OUT/spec-many.py" --json "$OUT/collection-many.json"
  if [ "${BENCH_SCALE:-1}" != 0 ]; then
    echo
    echo "## scale: 200k, 400k and 2M cells (BENCH_SCALE=0 skips)"
    echo
    bench/scale.sh
  fi
  echo
  echo "## training: 256-cell batches over shuffled 10k-cell shards, virtual vs materialized vs annbatch"
  echo
  # annbatch needs Python >= 3.12 (bookworm has 3.11): the first run builds
  # CPython 3.13 from Debian's source (~7 min on 2 cores, niced) and a venv
  # with annbatch from PyPI, cached in ~/.cache/annslicer-bench (see
  # bench/python313.sh); if that fails, the annbatch row says why and the
  # rest runs. Its messages go to stderr and $OUT/python313.log.
  if ABPY=$( { bench/python313.sh --venv 2>&1 1>&3 | tee "$OUT/python313.log" >&2; } 3>&1 ); then
    ab=(--annbatch-python "$ABPY")
  else
    ab=(--annbatch-skip-reason "bench/python313.sh failed: $(tail -1 "$OUT/python313.log")")
    echo "annbatch skipped: bench/python313.sh failed: $(tail -1 "$OUT/python313.log")" >&2
  fi
  $PY bench/train_bench.py "$OUT/src.h5ad" "$OUT/train" --bin bin/annslicer "${ab[@]}" --json "$OUT/train.json"
  rm -rf "$OUT/train"
  if [ -n "$BEFORE" ]; then
    echo
    echo "## mount, 200k cells (before: $BEFORE)"
    echo
    $PY bench/mount_bench.py "$OUT/src.h5ad" "$OUT/mount" --bin "$BEFORE" --ceiling bin/fuseceiling --contiguous --json "$OUT/mount-contiguous-before.json"
    echo
    $PY bench/mount_bench.py "$OUT/src.h5ad" "$OUT/mount" --bin "$BEFORE" --ceiling bin/fuseceiling --json "$OUT/mount-shuffled-before.json"
  fi
} | tee "$OUT/results.md"
rm -rf "$OUT/s"

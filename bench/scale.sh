#!/usr/bin/env bash
# The scale table of make bench (bench/run.sh runs it unless BENCH_SCALE=0):
# cp, slice, slice --shuffle and merge at 200k, 400k and 2M cells of the
# bench shape (testdata/make_bench.py), with seconds per million cells, so
# that time linear in cells and memory flat in cells show. The 2M source is
# ~3.3 GB (made once, streamed in 10k-row blocks); the 2M merge row needs
# another ~6.6 GB of disk while it runs (its shards and the merged file).
# Read each size against cp of the same size: 2M cells write 3.3 GB, past
# the kernel's dirty-page thresholds, so cp and slice there run at the
# disk's write-back speed while 200k and 400k only fill the page cache.
# Runs alone too: BENCH_DIR=/work/benchout bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
OUT=${BENCH_DIR:-bench/out}
mkdir -p "$OUT"
[ -x bin/annslicer ] || go build -o bin/annslicer ./cmd/annslicer
for spec in "src:200000" "src2x:400000" "src2m:2000000"; do
  name=${spec%%:*}; cells=${spec##*:}
  [ -f "$OUT/$name.h5ad" ] || $PY testdata/make_bench.py "$OUT/$name.h5ad" --cells "$cells" --no-verify >&2
done

cat > "$OUT/spec-scale.py" <<PYSPEC
out = "$OUT/s"
sizes = [("200k", "$OUT/src.h5ad", 200_000), ("400k", "$OUT/src2x.h5ad", 400_000), ("2M", "$OUT/src2m.h5ad", 2_000_000)]
BASELINE = "cp, 2M cells"
REPEAT = 3
def clean(src):  # sync: the last row's gigabytes are not written back during the next one
    return f"rm -rf {out} && sync && mkdir -p {out} && cat {src} > /dev/null"
rows = [
    ("cp", lambda src: f"cp {src} {out}/copy.h5ad", clean),
    ("slice --size 10000", lambda src: f"bin/annslicer slice {src} {out}/x --size 10000", clean),
    ("slice --size 10000 --shuffle", lambda src: f"bin/annslicer slice {src} {out}/x --size 10000 --shuffle --seed 0", clean),
    ("merge of the 10000-cell shards", lambda src: f"bin/annslicer merge {out}/merged.h5ad '{out}/x_shard_*.h5ad'",
     lambda src: f"{clean(src)} && bin/annslicer slice {src} {out}/x --size 10000 && cat {out}/x_shard_*.h5ad > /dev/null"),
]
BENCH = [{"name": f"{what}, {tag} cells", "setup": setup(src), "cmd": cmd(src), "cells": cells}
         for what, cmd, setup in rows for tag, src, cells in sizes]
PYSPEC
$PY bench/bench.py "$OUT/spec-scale.py" --json "$OUT/scale.json"
rm -rf "$OUT/s"

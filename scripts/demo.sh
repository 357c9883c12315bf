#!/usr/bin/env bash
# The main job on the bundled sample: slice it, mount it, read a shard
# through the mount with Python anndata, unmount.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/annslicer
sample=testdata/sample.h5ad
work=$(mktemp -d /tmp/annslicer-demo-XXXX)
mnt="$work/mnt"
mkdir -p "$mnt"
cleanup() { "$bin" unmount "$mnt" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== annslicer slice $sample $work/sample --size 200 --shuffle --seed 0"
"$bin" slice "$sample" "$work/sample" --size 200 --shuffle --seed 0
ls -l "$work"/sample_shard_*.h5ad

echo
echo "== annslicer mount $sample $mnt --size 200 --shuffle --seed 0   (in the background)"
"$bin" mount "$sample" "$mnt" --size 200 --shuffle --seed 0 &
for _ in $(seq 50); do [ -e "$mnt/shards.json" ] && break; sleep 0.1; done
ls -l "$mnt"

echo
echo "== reading $mnt/shard_1.h5ad with anndata"
/usr/bin/python3 - "$mnt/shard_1.h5ad" "$work/sample_shard_1.h5ad" <<'PY'
import sys, warnings
warnings.filterwarnings("ignore")
import anndata, numpy as np
virtual, written = anndata.read_h5ad(sys.argv[1]), anndata.read_h5ad(sys.argv[2])
print(virtual)
same = (virtual.X != written.X).nnz == 0 and list(virtual.obs_names) == list(written.obs_names)
print("first cells:", list(virtual.obs_names[:5]))
print("virtual shard equals the sliced one:", same)
sys.exit(0 if same else 1)
PY
cmp "$mnt/shard_1.h5ad" "$work/sample_shard_1.h5ad" && echo "cmp: the virtual shard and the sliced one are the same bytes"

echo
echo "== annslicer unmount $mnt"
"$bin" unmount "$mnt"
wait
echo "demo done"

#!/usr/bin/env bash
# mount_read.sh BIN MNT SRC [MOUNT FLAGS...]: mount SRC at MNT (in the
# foreground of this script, so bench.py's wait4 sees the mount's peak RSS),
# wait for shards.json, read every shard once (cat, or every file of a zarr
# shard), unmount. The time taken is mount + first read of all shards.
set -euo pipefail
bin=$1 mnt=$2 src=$3; shift 3
mkdir -p "$mnt"
"$bin" mount "$src" "$mnt" "$@" >/dev/null &
pid=$!
for _ in $(seq 600); do
  [ -e "$mnt/shards.json" ] && break
  kill -0 $pid 2>/dev/null || { wait $pid; exit 1; }
  sleep 0.05
done
find "$mnt" -type f -exec cat {} + > /dev/null
fusermount3 -u "$mnt" 2>/dev/null || fusermount -u "$mnt"
wait $pid

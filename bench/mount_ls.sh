#!/usr/bin/env bash
# mount_ls.sh BIN MNT SRC CMD [MOUNT FLAGS...]: mount SRC at MNT (in the
# foreground of this script, so bench.py's wait4 sees the mount's peak RSS),
# wait for shards.json, run CMD on the mountpoint ("ls -l" or "du -s":
# every shard's size, nothing read), unmount. The time taken is mount +
# CMD: what a user waits for before an atlas's shards are listed.
set -euo pipefail
bin=$1 mnt=$2 src=$3 cmd=$4; shift 4
mkdir -p "$mnt"
"$bin" mount "$src" "$mnt" "$@" >/dev/null &
pid=$!
for _ in $(seq 600); do
  [ -e "$mnt/shards.json" ] && break
  kill -0 $pid 2>/dev/null || { wait $pid; exit 1; }
  sleep 0.05
done
$cmd "$mnt" > /dev/null
fusermount3 -u "$mnt" 2>/dev/null || fusermount -u "$mnt"
wait $pid

#!/usr/bin/env bash
# mount_read.sh BIN MNT SRC WHAT [MOUNT FLAGS...]: mount SRC at MNT (in the
# foreground of this script, so bench.py's wait4 sees the mount's peak RSS),
# wait for shards.json, then WHAT, then unmount. The time taken is mount +
# WHAT:
#   read   read every shard once (cat, or every file of a zarr shard)
#   ls     ls -l: every shard's size, nothing read
#   du     du -s: the same through du
#   none   nothing: the mount's memory before anything is listed
set -euo pipefail
bin=$1 mnt=$2 src=$3 what=$4; shift 4
mkdir -p "$mnt"
"$bin" mount "$src" "$mnt" "$@" >/dev/null &
pid=$!
for _ in $(seq 600); do
  [ -e "$mnt/shards.json" ] && break
  kill -0 $pid 2>/dev/null || { wait $pid; exit 1; }
  sleep 0.05
done
case $what in
  read) find "$mnt" -type f -exec cat {} + > /dev/null ;;
  ls) ls -l "$mnt" > /dev/null ;;
  du) du -s "$mnt" > /dev/null ;;
  none) ;;
  *) echo "mount_read.sh: WHAT is read, ls, du or none, not $what" >&2; exit 2 ;;
esac
fusermount3 -u "$mnt" 2>/dev/null || fusermount -u "$mnt"
wait $pid

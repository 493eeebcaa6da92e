#!/bin/bash
# End-to-end: random file operations (tests/posix_diff.py) run under a
# tmpfs directory and under a recfs mount with -o unchecked, seed by
# seed; the transcripts must be the same.  POSIX_DIFF_SEEDS seeds of
# POSIX_DIFF_OPS steps (defaults 12 and 500; make stress runs more).
# e2e_etcd_contract.sh runs it on etcd too (where compaction is etcd's
# own, so the run's compactions change nothing there).
. "$(dirname "$0")/lib_e2e.sh"
DIFF=$(dirname "$0")/posix_diff.py
SEEDS=${POSIX_DIFF_SEEDS:-12}
OPS=${POSIX_DIFF_OPS:-500}
RECCTL=$(dirname "$RECFS")/recctl

TMPFS=$WORK/tmpfs.diff
mkdir -p "$TMPFS"
if ! mount -t tmpfs -o size=256m tmpfs "$TMPFS" 2>/dev/null; then
	TMPFS=$WORK/plain # not root: the work directory, whatever it is
	mkdir -p "$TMPFS"
fi
# Forgetting all it may (keep_versions=1, tombstone_limit=1), and
# compacted now and then by the run (posix_diff.py's MOUNT): a handle
# open on a file that is gone must not notice (before 2026-12-06 it
# read nothing once the store had forgotten the file).
OPTS=unchecked,keep_versions=1,tombstone_limit=1
mount_fresh "$OPTS" || exit 1
# posix_diff.py's restarts: SIGKILL to the daemon, then a new one on the
# same store (lib_e2e.sh).
restart_script "$OPTS"
export POSIX_DIFF_RESTART=$WORK/restart
bad=0 first=""
for seed in $(seq "$SEEDS"); do
	mkdir "$TMPFS/s$seed" "$MNT/s$seed"
	timeout -s KILL 300 python3 "$DIFF" "$TMPFS/s$seed" "$seed" "$OPS" \
		> "$WORK/t$seed" 2>&1
	timeout -s KILL 300 python3 "$DIFF" "$MNT/s$seed" "$seed" "$OPS" \
		"$MNT" > "$WORK/r$seed" 2>&1
	if ! cmp -s "$WORK/t$seed" "$WORK/r$seed"; then
		bad=$((bad + 1))
		[ -n "$first" ] || first=$seed
	fi
done
if [ -n "$first" ]; then
	echo "# seed $first, first difference (< tmpfs, > recfs):"
	diff "$WORK/t$first" "$WORK/r$first" | grep '^[<>]' | head -4 |
		cut -c1-300 | sed 's/^/#   /'
fi
restarts=$(restart_count)
expect_eq "$SEEDS seeds of $OPS random operations, the daemon killed and mounted again $restarts times: recfs answers as tmpfs does" \
	0 "$bad"
check "every run went to its end" \
	test "$(cat "$WORK"/r[0-9]* | grep -c '^\[')" -eq $((SEEDS * OPS))
check "the daemon is still serving" mountpoint -q "$MNT"
unmount
restarted_rc
expect_eq "the daemon exits 0" 0 "$RECFS_RC"
local_only && check "the store passes fsck" "$RECCTL" fsck "$STORE"
mountpoint -q "$WORK/tmpfs.diff" && umount "$WORK/tmpfs.diff"
finish

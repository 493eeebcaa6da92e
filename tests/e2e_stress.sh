#!/bin/bash
# End-to-end: many kinds of change at once, from threads of one process
# and from two processes, on eight records (tests/stress_mix.c says what
# it does and asserts).  Each run is on a fresh mount, and the store must
# pass fsck after it.  Seeds are fixed so that a failure can be replayed;
# the interleaving still differs from run to run.
. "$(dirname "$0")/lib_e2e.sh"
MIX=$(dirname "$RECFS")/tests/stress_mix
RECCTL=$(dirname "$RECFS")/recctl
SECS=${STRESS_SECONDS:-6}
# A daemon that deadlocks leaves the callers waiting: they are killed at
# this deadline (FUSE waits are killable), and so is the daemon, so that
# the script fails instead of hanging.
LIMIT=$((SECS + 90))
mix() { timeout -s KILL "$LIMIT" "$MIX" "$@"; }
reap_if_stuck() { [ "$1" -eq 137 ] && kill -9 "$RECFS_PID" 2>/dev/null; }

# ---- One process, eight threads -----------------------------------------
mount_fresh || exit 1
mkdir "$MNT/mix"
out=$(mix "$MNT/mix" 8 "$SECS" 1 2>"$WORK/mix.err"); rc=$?
reap_if_stuck "$rc"
sed 's/^/# /' "$WORK/mix.err" | head -20
read -r n nbad <<< "$out"
expect_eq "8 threads, ${SECS} s: whole versions only, no unexpected error [${n:-0} operations]" "0 0" "$rc ${nbad:-missing}"
check "and they made at least 1,000 operations" test "${n:-0}" -ge 1000
check "the daemon is still serving" mountpoint -q "$MNT"
unmount
expect_eq "the daemon exits 0" 0 "$RECFS_RC"
check "and the store passes fsck" "$RECCTL" fsck "$STORE"

# ---- Two processes on the same records ----------------------------------
mount_fresh || exit 1
mkdir "$MNT/mix"
mix "$MNT/mix" 4 "$SECS" 2 >"$WORK/mix2.out" 2>"$WORK/mix2.err" &
other=$!
out=$(mix "$MNT/mix" 4 "$SECS" 3 2>"$WORK/mix3.err"); rc=$?
wait "$other"; rc2=$?
reap_if_stuck "$rc"
reap_if_stuck "$rc2"
cat "$WORK/mix2.err" "$WORK/mix3.err" | sed 's/^/# /' | head -20
read -r n nbad <<< "$out"
read -r n2 nbad2 < "$WORK/mix2.out"
expect_eq "two processes of 4 threads: whole versions only, no unexpected error [$((${n:-0} + ${n2:-0})) operations]" "0 0 0 0" "$rc ${nbad:-missing} $rc2 ${nbad2:-missing}"
check "the daemon is still serving after them" mountpoint -q "$MNT"
unmount
expect_eq "the daemon exits 0 after them" 0 "$RECFS_RC"
check "and the store passes fsck after them" "$RECCTL" fsck "$STORE"

finish

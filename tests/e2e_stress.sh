#!/bin/bash
# End-to-end: many kinds of change at once, from threads of one process
# and from two processes, on eight records (tests/stress_mix.c says what
# it does and asserts).  Each run is on a fresh mount, and the store must
# pass fsck after it.  Seeds are fixed so that a failure can be replayed;
# the interleaving still differs from run to run.  On etcd
# (tests/e2e_etcd_contract.sh) a third run has two mounts of one prefix,
# one process on each: changes meet across the mounts, where a lease is
# taken and refused over a round trip to etcd.
. "$(dirname "$0")/lib_e2e.sh"
MIX=$(dirname "$RECFS")/tests/stress_mix
RECCTL=$(dirname "$RECFS")/recctl
SECS=${STRESS_SECONDS:-6}
# A daemon that deadlocks leaves the callers waiting: they are killed at
# this deadline, and so is the daemon, so that the script fails instead
# of hanging.  A caller whose request the daemon has already taken waits
# on uninterruptibly, so the mounts' connections are aborted a little
# later (watchdog).
LIMIT=$((SECS + 90))
mix() { timeout -s KILL "$LIMIT" "$MIX" "$@"; }
# reap_if_stuck RC PID MNT: after a run killed at the deadline, kill its
# daemon and abort its mount (a daemon one of whose threads waits on a
# stuck client cannot even exit).
reap_if_stuck() {
	[ "$1" -eq 137 ] || return 0
	[ -s "$WORK/stuck.txt" ] && head -2000 "$WORK/stuck.txt" | sed 's/^/# /'
	rm -f "$WORK/stuck.txt"
	kill -9 "$2" 2>/dev/null
	fuse_abort "$3"
}
# watchdog MNT...: just before the deadline, write what the daemons and
# the callers of these mounts (the processes that name one on their
# command line, not every recfs on the machine) wait on to
# $WORK/stuck.txt (dump_stuck; shown by reap_if_stuck), then abort the mounts' connections after LIMIT + 10 s
# (away from this script's output, which a sleeping child would hold
# open); unwatch stops it when the run ends in time.
watchdog() {
	rm -f "$WORK/stuck.txt"
	(sleep $((LIMIT - 5))
	 dump_stuck $(for m; do pgrep -f -- "$m"; done | sort -u) \
		>"$WORK/stuck.txt" 2>&1
	 sleep 15; for m; do fuse_abort "$m"; done) \
		</dev/null >/dev/null 2>&1 &
	WD=$!
}
unwatch() { stop_watchdog "$WD"; }

# ---- One process, eight threads -----------------------------------------
mount_fresh || exit 1
mkdir "$MNT/mix"
watchdog "$MNT"
out=$(STRESS_MIX_MIN_OPS=1000 mix "$MNT/mix" 8 "$SECS" 1 2>"$WORK/mix.err"); rc=$?
unwatch
reap_if_stuck "$rc" "$RECFS_PID" "$MNT"
sed 's/^/# /' "$WORK/mix.err" | head -20
read -r n nbad <<< "$out"
expect_eq "8 threads, ${SECS} s: whole versions only, no unexpected error [${n:-0} operations]" "0 0" "$rc ${nbad:-missing}"
# (they go on past SECS until they have: a loaded machine made 535 in
# 6 s on etcd, and the count is no speed test)
check "and they made at least 1,000 operations" test "${n:-0}" -ge 1000
check "the daemon is still serving" mountpoint -q "$MNT"
unmount
expect_eq "the daemon exits 0" 0 "$RECFS_RC"
local_only && check "and the store passes fsck" "$RECCTL" fsck "$STORE"

# ---- Two processes on the same records ----------------------------------
mount_fresh || exit 1
mkdir "$MNT/mix"
watchdog "$MNT"
mix "$MNT/mix" 4 "$SECS" 2 >"$WORK/mix2.out" 2>"$WORK/mix2.err" &
other=$!
out=$(mix "$MNT/mix" 4 "$SECS" 3 2>"$WORK/mix3.err"); rc=$?
wait "$other"; rc2=$?
unwatch
reap_if_stuck "$rc" "$RECFS_PID" "$MNT"
reap_if_stuck "$rc2" "$RECFS_PID" "$MNT"
cat "$WORK/mix2.err" "$WORK/mix3.err" | sed 's/^/# /' | head -20
read -r n nbad <<< "$out"
read -r n2 nbad2 < "$WORK/mix2.out"
expect_eq "two processes of 4 threads: whole versions only, no unexpected error [$((${n:-0} + ${n2:-0})) operations]" "0 0 0 0" "$rc ${nbad:-missing} $rc2 ${nbad2:-missing}"
check "the daemon is still serving after them" mountpoint -q "$MNT"
unmount
expect_eq "the daemon exits 0 after them" 0 "$RECFS_RC"
local_only && check "and the store passes fsck after them" "$RECCTL" fsck "$STORE"

# ---- Compacted all along (local stores) -----------------------------------
# The store keeps one version and two tombstones and is compacted every
# 0.1 s under the same load: compaction moves every record's bytes while
# readers, handles and commits use them, and must change nothing they
# see.
if local_only; then
	mount_fresh keep_versions=1,tombstone_limit=2 || exit 1
	mkdir "$MNT/mix"
	( n=0
	  while mountpoint -q "$MNT" && [ ! -e "$WORK/mix4.done" ]; do
		setfattr -n user.recfs.compact -v 1 "$MNT" 2>>"$WORK/compact.err" &&
			n=$((n + 1))
		sleep 0.1
	  done
	  echo "$n" > "$WORK/compact.n" ) </dev/null >/dev/null 2>&1 &
	compactor=$!
	watchdog "$MNT"
	out=$(mix "$MNT/mix" 8 "$SECS" 6 2>"$WORK/mix4.err"); rc=$?
	touch "$WORK/mix4.done"
	wait "$compactor"
	unwatch
	reap_if_stuck "$rc" "$RECFS_PID" "$MNT"
	sed 's/^/# /' "$WORK/mix4.err" "$WORK/compact.err" 2>/dev/null | head -20
	read -r n nbad <<< "$out"
	expect_eq "8 threads while the store is compacted every 0.1 s [$(cat "$WORK/compact.n") compactions]: whole versions only, no unexpected error [${n:-0} operations]" "0 0" "$rc ${nbad:-missing}"
	check "and every compaction succeeded" test ! -s "$WORK/compact.err"
	check "the daemon is still serving after them" mountpoint -q "$MNT"
	unmount
	expect_eq "the daemon exits 0 after them" 0 "$RECFS_RC"
	check "and the store passes fsck after them" "$RECCTL" fsck "$STORE"
fi

# ---- Two mounts of one store (etcd: a local store mounts once) ----------
if ! local_only; then
	mount_fresh || exit 1
	MNT_A=$MNT PID_A=$RECFS_PID
	MNT=$WORK/mnt.b.$RANDOM
	mkdir -p "$MNT"
	mount_again || exit 1
	MNT_B=$MNT PID_B=$RECFS_PID
	mkdir "$MNT_A/mix"
	for _ in $(seq 100); do [ -d "$MNT_B/mix" ] && break; sleep 0.05; done
	watchdog "$MNT_A" "$MNT_B"
	# (a descriptor whose record the other mount deleted before its
	# first read may get ESTALE, as on NFS, where this mount learned of
	# the delete other than through its watch: a lost race here)
	export STRESS_MIX_OTHER_MOUNT=1
	mix "$MNT_A/mix" 4 "$SECS" 4 >"$WORK/mixa.out" 2>"$WORK/mixa.err" &
	other=$!
	out=$(mix "$MNT_B/mix" 4 "$SECS" 5 2>"$WORK/mixb.err"); rc=$?
	unset STRESS_MIX_OTHER_MOUNT
	wait "$other"; rc2=$?
	unwatch
	for r in "$rc" "$rc2"; do
		reap_if_stuck "$r" "$PID_A" "$MNT_A"
		reap_if_stuck "$r" "$PID_B" "$MNT_B"
	done
	cat "$WORK/mixa.err" "$WORK/mixb.err" | sed 's/^/# /' | head -20
	read -r n nbad <<< "$out"
	read -r n2 nbad2 < "$WORK/mixa.out"
	expect_eq "two mounts of one store, a process of 4 threads on each: whole versions only, no unexpected error [$((${n:-0} + ${n2:-0})) operations]" "0 0 0 0" "$rc ${nbad:-missing} $rc2 ${nbad2:-missing}"
	check "both daemons are still serving after them" \
		bash -c "mountpoint -q '$MNT_A' && mountpoint -q '$MNT_B'"
	unmount
	rc_b=$RECFS_RC
	MNT=$MNT_A RECFS_PID=$PID_A
	unmount
	expect_eq "and both exit 0" "0 0" "$RECFS_RC $rc_b"
fi

finish

#!/bin/bash
# End-to-end: the daemon when memory runs out.  build/tests/recfs_oom is
# recfs whose own allocations fail at random, one in RECFS_OOM_ONE_IN
# (tests/oom_hook.c).  One shell saves (on its read, or on a declared
# version), renames over, appends to, empties, deletes and re-creates six
# records, each call reporting its own errors (cp, mv, rm and cat check
# their close), and keeps what each record must hold: a call that failed
# changed nothing, one that passed is there.  Checked:
# - every read that succeeds shows exactly that;
# - the daemon stays up and unmounts cleanly;
# - the store passes fsck, and a plain recfs mounted on it afterwards
#   serves exactly that for every record.
# Then a deleted record whose bytes the daemon could not pin, forgotten
# by the store while descriptors are open on it (ESTALE, not 0 bytes).
# Then eight threads of stress_mix against a daemon whose fs/ allocations
# alone fail.  Seeds are fixed, so that a failure can be replayed
# (threads still change which allocation fails).
. "$(dirname "$0")/lib_e2e.sh"
OOM=$(dirname "$RECFS")/tests/recfs_oom
RECCTL=$(dirname "$RECFS")/recctl
NREC=6
STEPS=${OOM_STEPS:-240}

# run SEED ONE_IN: the workload on a fresh mount of recfs_oom.
run() {
	local seed=$1 one_in=$2 i k op out v passed=0 failed=0 bad=0
	local -a model
	RECFS=$OOM RECFS_OOM_SEED=$seed RECFS_OOM_ONE_IN=$one_in \
		mount_fresh || { fail "mount (seed $seed)"; return; }
	for ((i = 1; i <= STEPS; i++)); do
		k=$((i % NREC)); op=$(((i * 5 + seed) % 7))
		cat "$MNT/r$k" > /dev/null 2>&1 # the basis for what follows
		printf 'v%d\n' "$i" > "$WORK/src"
		case $op in
		0 | 1) # a save in place
			if cp "$WORK/src" "$MNT/r$k" 2>/dev/null; then
				model[k]="v$i"
			else false; fi ;;
		2) # a save by rename
			if cp "$WORK/src" "$MNT/t$k" 2>/dev/null &&
			   mv -f "$MNT/t$k" "$MNT/r$k" 2>/dev/null; then
				model[k]="v$i"
			else rm -f "$MNT/t$k" 2>/dev/null; false; fi ;;
		3) # an append, if there is a record
			if [ -n "${model[k]}" ] &&
			   cat "$WORK/src" 2>/dev/null >> "$MNT/r$k"; then
				model[k]="${model[k]}"$'\n'"v$i"
			else false; fi ;;
		4) # a delete
			if rm "$MNT/r$k" 2>/dev/null; then
				model[k]=""
			else false; fi ;;
		5) # a save on a declared version
			if v=$(getfattr --only-values -n user.version \
				"$MNT/r$k" 2>/dev/null) &&
			   setfattr -n user.expected_version -v "$v" \
				"$MNT/r$k" 2>/dev/null &&
			   cp "$WORK/src" "$MNT/r$k" 2>/dev/null; then
				model[k]="v$i"
			else false; fi ;;
		6) # emptied by path
			if truncate -s 0 "$MNT/r$k" 2>/dev/null; then
				model[k]=""
			else false; fi ;;
		esac && passed=$((passed + 1)) || failed=$((failed + 1))
		# What a reader sees now, when it can see anything.
		if out=$(cat "$MNT/r$k" 2>/dev/null); then
			[ "$out" = "${model[k]}" ] || {
				bad=$((bad + 1))
				echo "# step $i (op $op): r$k reads '$out'," \
					"want '${model[k]}'"
			}
		fi
	done
	echo "# seed $seed, one in $one_in: $passed calls passed," \
		"$failed failed"
	expect_eq "seed $seed: every read showed what the calls that passed made" \
		0 "$bad"
	# How many pass at one in 25 and one in 10 moves with the load:
	# 8 to 38 in the runs of 2026-12-07 (8 and 10 in one CI run, where
	# "more than 10" failed); what is checked is that some do.
	check "seed $seed: some calls failed, some passed" \
		test "$failed" -gt 0 -a "$passed" -gt 0
	# Alive and mounted (a store that stopped answers the mountpoint's
	# own stat with EIO).
	check "seed $seed: the daemon is still serving" \
		kill -0 "$RECFS_PID"
	check "seed $seed: and still mounted" \
		grep -q " $MNT fuse" /proc/self/mounts
	unmount
	expect_eq "seed $seed: the daemon exits 0" 0 "$RECFS_RC"
	check "seed $seed: the store passes fsck" "$RECCTL" fsck "$STORE"
	mount_again || { fail "seed $seed: a plain remount"; return; }
	bad=0
	for ((k = 0; k < NREC; k++)); do
		out=$(cat "$MNT/r$k" 2>/dev/null)
		[ "$out" = "${model[k]}" ] || {
			bad=$((bad + 1))
			echo "# after the remount r$k reads '$out', want '${model[k]}'"
		}
	done
	expect_eq "seed $seed: after a plain remount every record holds what the calls that passed made" \
		0 "$bad"
	unmount
}

if [ -n "$E2E_STORE_BASE" ]; then
	ok "# SKIP e2e_oom: a local store's daemon"
	finish
	exit
fi
if [ ! -x "$OOM" ]; then
	fail "no $OOM (make builds it)"
	finish
	exit
fi
run 1 200
run 2 60
run 3 25
run 4 10

# ---- A deleted record's bytes that could not be kept ----------------------
# A descriptor open on a record that is deleted keeps reading what the
# record held: the daemon pins those bytes at the delete (fs/names.c,
# keep_gone_attr), and reads them by version while the store keeps it.
# Here the pin fails (every allocation of the record's exact size fails:
# RECFS_OOM_SIZE), and compaction then forgets the record, so nothing
# holds its bytes: the descriptors' read and write must fail with ESTALE,
# never show an empty file or start a change from zeros.  Nobody reads
# the record through the daemon meanwhile (that would allocate its size
# too): the delete is made on a declared version.
if RECFS=$OOM RECFS_OOM_SIZE=3001 RECFS_OOM_DELAY_MS=0 mount_fresh "tombstone_limit=2,keep_versions=1"; then
	out="$(cd "$MNT" && PYTHONPATH=$TESTS python3 - "$RECCTL" <<'PY'
import sys
from e2e_other import gone_forgotten
print(gone_forgotten(sys.argv[1], "precious content".ljust(3001, "."),
                     "for k in kept kept2; do "
                     "setfattr -n user.expected_version -v 1 $k && rm $k; "
                     "done"))
PY
)"
	expect_eq "bytes not kept and then forgotten: the descriptors' read and write fail with ESTALE" \
		"history=1 read=Stale file handle write=Stale file handle" "$out"
	check "and the names stay gone" \
		bash -c "! ls '$MNT/kept' '$MNT/kept2' 2>/dev/null"
	check "and a new record is written and read as ever" \
		bash -c "echo fine > '$MNT/new' && test \"\$(cat '$MNT/new')\" = fine"
	unmount
	expect_eq "the daemon exits 0" 0 "$RECFS_RC"
	check "the store passes fsck" "$RECCTL" fsck "$STORE"
else
	fail "mount of recfs_oom with RECFS_OOM_SIZE"
fi

# ---- Eight threads at once, the daemon's own allocations failing --------
# recfs_oom_fs fails only fs/'s allocations, so the store never stops and
# every kind of change keeps meeting them (tests/stress_mix.c makes
# them).  A failed call may fail with ENOMEM, and a read with an error;
# nothing read may be torn or mixed.
OOM_FS=$(dirname "$RECFS")/tests/recfs_oom_fs
MIX=$(dirname "$RECFS")/tests/stress_mix
if RECFS=$OOM_FS RECFS_OOM_SEED=7 RECFS_OOM_ONE_IN=200 mount_fresh; then
	mkdir "$MNT/mix"
	timeout -s KILL 100 "$MIX" "$MNT/mix" 8 "${OOM_MIX_SECONDS:-4}" 1 \
		> "$WORK/mix.out" 2> "$WORK/mix.err"
	echo "# stress_mix: $(cat "$WORK/mix.out") (operations, failed);" \
		"$(grep -c 'Cannot allocate memory' "$WORK/mix.err") ENOMEM"
	check "8 threads: every read was a whole version, every log line whole" \
		test "$(grep -c 'not a whole version\|a torn line' "$WORK/mix.err")" = 0
	# A read-back that failed (-1) is an error under ENOMEM; one that
	# returned other bytes would be a wrong answer.
	check "and a handle's read-back of its commit was whole or an error" \
		test "$(grep 'did not read back' "$WORK/mix.err" |
			grep -vc '(-1 of')" = 0
	check "and the daemon never went away" \
		test "$(grep -c 'not connected' "$WORK/mix.err")" = 0
	check "the daemon is still serving" kill -0 "$RECFS_PID"
	unmount
	expect_eq "the daemon exits 0" 0 "$RECFS_RC"
	check "the store passes fsck" "$RECCTL" fsck "$STORE"
else
	fail "mount of recfs_oom_fs"
fi
finish

#!/bin/bash
# valgrind.sh - `make valgrind`: every unit test binary in $BUILD/tests
# under memcheck, then one mount of build/recfs under memcheck driven by
# shell commands.  VALGRIND_SKIP="test_large test_x" leaves tests out;
# VALGRIND_E2E=0 skips the mount; VALGRIND_TIMEOUT (600) bounds each
# test.  A run fails on any memcheck error (invalid access, uninitialised
# use) or definite leak, in the process or in any child it forked (each
# pid has its own log).
set -u
BUILD=${BUILD:-build}
SKIP=" ${VALGRIND_SKIP:-} "
logdir=$BUILD/valgrind-logs
rm -rf "$logdir"
mkdir -p "$logdir"
logdir=$(cd "$logdir" && pwd) # the mount part runs elsewhere
# --fair-sched: valgrind runs one thread at a time; without a fair lock
# the retry-on-EAGAIN loops of test_concurrency starve each other and a
# run takes 4 s or 300 s by luck.
VG=(valgrind --leak-check=full --errors-for-leak-kinds=definite
    --error-exitcode=1 --fair-sched=yes --num-callers=30)
TIMEOUT=${VALGRIND_TIMEOUT:-600} # seconds per test binary
fail=0

# summary LOG...: "errors N, definitely lost B" over the given logs.
summary() {
	local errs lost
	errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$@" | tr -d , | awk '{s+=$1} END {print s+0}')
	lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$@" | tr -d , | awk '{s+=$1} END {print s+0}')
	echo "$errs $lost"
}

command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)"; exit 1; }

# Tests that time their kills scale them by this (memcheck is ~20x slower).
export RECFS_TEST_SLOWDOWN=${RECFS_TEST_SLOWDOWN:-20}
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	case "$SKIP" in *" $name "*) printf '%-18s skipped (VALGRIND_SKIP)\n' "$name"; continue ;; esac
	start=$(date +%s)
	timeout "$TIMEOUT" "${VG[@]}" --log-file="$logdir/$name.%p.log" "$t" \
		>"$logdir/$name.out" 2>&1
	rc=$?
	[ "$rc" -eq 124 ] && echo "$name: timed out after ${TIMEOUT}s (VALGRIND_TIMEOUT)"
	read -r errs lost < <(summary "$logdir/$name".*.log)
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$logdir/$name.out")
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$logdir/$name.out")
	printf '%-18s exit %d  passed %3s  failed %2s  memcheck errors %d  definitely lost %d B  (%d pids, %ds)\n' \
		"$name" "$rc" "${p:-?}" "${f:-0}" "$errs" "$lost" \
		"$(ls "$logdir/$name".*.log | wc -l)" $(($(date +%s) - start))
	if [ "$rc" -ne 0 ] || [ "$errs" -ne 0 ] || [ "${f:-0}" -ne 0 ]; then
		fail=1
		grep -h -A20 -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall param|Mismatched|.*definitely lost in)' \
			"$logdir/$name".*.log | head -80
		grep -E '^\[  FAILED  \]|^\[  ERROR' "$logdir/$name.out" | head
	fi
done

[ "${VALGRIND_E2E:-1}" = 0 ] && { [ "$fail" -eq 0 ] && echo "valgrind: clean" || echo "valgrind: FAILED"; exit "$fail"; }

# ---- One mount under memcheck ------------------------------------------
work=$(mktemp -d /tmp/recfs-vg.XXXXXX)
store=$work/store mnt=$work/mnt
mkdir -p "$mnt"
log=$logdir/recfs.%p.log
# -o nouring: under memcheck the ring's workers never all registered
# (one waited in io_uring_enter, the other threads in futex waits), so the
# kernel held every request; and memcheck cannot see the kernel's copies
# into the ring's buffers anyway.
"${VG[@]}" --log-file="$log" "$BUILD/recfs" "$store" "$mnt" -f -o nouring \
	>"$logdir/recfs.out" 2>&1 &
vgpid=$!
cleanup() {
	mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u "$mnt" 2>/dev/null
	kill "$vgpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 600); do
	mountpoint -q "$mnt" && break
	kill -0 "$vgpid" 2>/dev/null || break
	sleep 0.1
done
if ! mountpoint -q "$mnt"; then
	echo "recfs under valgrind did not mount:"; cat "$logdir/recfs.out"
	exit 1
fi
e2e=0
step() { # step DESCRIPTION COMMAND...
	local d=$1; shift
	if "$@" >>"$logdir/e2e.out" 2>&1; then echo "  ok   $d"; else echo "  FAIL $d"; e2e=1; fi
}
echo "recfs under memcheck, mounted on $mnt:"
cd "$mnt" || exit 1
step "create a record" sh -c 'echo hello > rec'
step "read it back" sh -c '[ "$(cat rec)" = hello ]'
step "user.version is 1" sh -c '[ "$(getfattr --only-values -n user.version rec)" = 1 ]'
step "user.hash is 32 hex digits" sh -c '[ "$(getfattr --only-values -n user.hash rec | wc -c)" = 32 ]'
step "overwrite after a read (implicit basis)" sh -c 'cat rec >/dev/null && echo world > rec'
step "version 2" sh -c '[ "$(getfattr --only-values -n user.version rec)" = 2 ]'
step "declare a basis" setfattr -n user.expected_version -v 2 rec
step "commit on it" sh -c 'echo three > rec'
# (one shell: a basis and a conflict belong to a process and its parent)
step "a stale declaration is refused (EAGAIN), user.conflict says so" sh -c \
	'setfattr -n user.expected_version -v 1 rec; ! sh -c "echo stale > rec" 2>/dev/null &&
	 getfattr --only-values -n user.conflict rec | grep -q "basis=1 current=3"'
step "a bad expected_version is EINVAL" sh -c '! setfattr -n user.expected_version -v 0x3 rec 2>/dev/null'
step "user.* xattrs: set, get, list, remove" sh -c \
	'setfattr -n user.color -v blue rec && [ "$(getfattr --only-values -n user.color rec)" = blue ] &&
	 getfattr -d rec | grep -q user.color && setfattr -x user.color rec'
step "mkdir and a nested record" sh -c 'mkdir -p d/e && echo x > d/e/f && [ "$(cat d/e/f)" = x ]'
step "a 300 KiB record (blob)" sh -c \
	'head -c 307200 /dev/urandom > /tmp/vg.$$ && cp /tmp/vg.$$ big && cmp big /tmp/vg.$$; r=$?; rm -f /tmp/vg.$$; exit $r'
step "append" sh -c 'echo more >> rec && tail -1 rec | grep -q more'
step "rename over a record (after reading it)" sh -c \
	'cat rec >/dev/null && echo new > tmp && mv tmp rec && [ "$(cat rec)" = new ]'
step "truncate by path" sh -c 'cat d/e/f >/dev/null && truncate -s 0 d/e/f && [ ! -s d/e/f ]'
step "chmod (metadata only)" chmod 600 rec
step "listing" sh -c 'ls -la . d/e >/dev/null'
step "an old version through .recfs/history" sh -c \
	'ls .recfs/history/rec >/dev/null && [ "$(cat .recfs/history/rec/1)" = hello ]'
step "delete and re-create continue the version line" sh -c \
	'cat d/e/f >/dev/null && rm d/e/f && echo again > d/e/f && [ "$(getfattr --only-values -n user.version d/e/f)" -ge 3 ]'
step "rmdir" sh -c 'cat d/e/f > /dev/null && rm d/e/f && rmdir d/e d'
step "sync" sync
cd / || exit 1
fusermount3 -u "$mnt"
wait "$vgpid"
rc=$?
read -r errs lost < <(summary "$logdir"/recfs.*.log)
printf '%-18s exit %d  memcheck errors %d  definitely lost %d B  (%d pids)\n' \
	recfs "$rc" "$errs" "$lost" "$(ls "$logdir"/recfs.*.log | wc -l)"
grep -h -E 'in use at exit|definitely lost|indirectly lost|possibly lost|ERROR SUMMARY' "$logdir"/recfs.*.log | sed 's/^/  /'
if [ "$rc" -ne 0 ] || [ "$errs" -ne 0 ] || [ "$e2e" -ne 0 ]; then
	fail=1
	grep -h -A20 -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall param|Mismatched|.*definitely lost in)' \
		"$logdir"/recfs.*.log | head -80
fi
[ "$fail" -eq 0 ] && echo "valgrind: clean (logs in $logdir)" || echo "valgrind: FAILED (logs in $logdir)"
exit "$fail"

# e2e_lib.sh - helpers for end-to-end tests on real mounts (bash).
# Each test file sources this, calls mount_fresh, and reports with ok/fail.
# Output is TAP-like: "ok N - what" / "not ok N - what".

BUILD=${BUILD:-build}
RECFS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/$BUILD/recfs
TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) # (e2e_other.py's)
T=0
FAILED=0
WORK=$(mktemp -d /tmp/recfs-e2e.XXXXXX)
PIDS=()

ok() { T=$((T + 1)); echo "ok $T - $*"; }
fail() { T=$((T + 1)); FAILED=$((FAILED + 1)); echo "not ok $T - $*"; }
# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
# has TEXT PART...: TEXT holds each PART, in that order, as plain text.
# (Not bash -c "[[ '$out' == *...* ]]": a quote in the text broke that
# test's code, which then passed or failed at random.)
has() {
	local t=$1 p
	shift
	for p; do
		[[ $t == *"$p"* ]] || return 1
		t=${t#*"$p"}
	done
}
# lacks TEXT PART: TEXT does not hold PART.
lacks() { [[ $1 != *"$2"* ]]; }
# matches TEXT REGEX: the whole of TEXT matches the extended REGEX.
matches() { [[ $1 =~ $2 ]]; }
# expect_eq DESCRIPTION EXPECTED ACTUAL
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1 (expected '$2', got '$3')"; fi
}
# expect_err DESCRIPTION MESSAGE COMMAND...: the command fails and its
# stderr names MESSAGE (the errno's text).
expect_err() {
	local d=$1 msg=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		fail "$d (succeeded: $out)"
	elif [[ $out == *"$msg"* ]]; then
		ok "$d"
	else
		fail "$d (expected '$msg', got '$out')"
	fi
}

# blind CMD: run CMD (bash) in a process with no ancestor but init, in
# the mount, as a script that never looked at anything would.  Prints its
# stderr; returns its status.  CMD waits until its parent, the subshell
# that started it, has exited and it has been reparented: run before
# that, its ancestry still holds this shell (and its bases), which a
# loaded machine showed once.  It reads its parent with bash's own read,
# not $(cut ...), whose fork or exec failing (a loaded machine) gave an
# empty parent and ended the wait at once.  (A blind overwrite of
# e2e_badinput's canary passed once under load, not reproduced since;
# that is one way it could have.)
blind() {
	# A name no earlier call used: with $RANDOM (32768 names) about one
	# run of e2e_editors in 60 (34 calls) met an earlier call's rc file
	# and returned its status at once (logrotate "succeeded" unrun).
	local done
	done=$(mktemp "$WORK/blind.XXXXXX") || return 99
	(sub=$BASHPID # this subshell's, taken before the fork for &
	 cd "$MNT" && setsid bash -c "pp=$sub; while [ \"\$pp\" = $sub ]; do sleep 0.01; read -r _ _ _ pp _ < /proc/\$\$/stat || pp=$sub; done; $1; echo \$? > $done.rc" 2>"$done.err" &)
	for _ in $(seq 200); do [ -s "$done.rc" ] && break; sleep 0.05; done
	cat "$done.err" >&2
	return "$(cat "$done.rc" 2>/dev/null || echo 99)"
}

# take_pid PID: start a sleeper (30 s, its own session) that the kernel
# gives PID, a pid just reaped, through ns_last_pid; print its pid, which
# is another if five tries did not get PID (another process took it).
take_pid() {
	local v
	for _ in 1 2 3 4 5; do
		v=$(bash -c "echo $(($1 - 1)) > /proc/sys/kernel/ns_last_pid
			setsid sleep 30 </dev/null >/dev/null 2>&1 & echo \$!")
		[ "$v" = "$1" ] && break
		kill "$v"
	done
	echo "$v"
}

ver() { getfattr --only-values -n user.version "$1" 2>/dev/null; }
hash_of() { getfattr --only-values -n user.hash "$1" 2>/dev/null; }

# E2E_STORE_BASE=etcd://HOST:PORT/PREFIX runs a script's mounts on etcd
# (tests/e2e_etcd_contract.sh); local_only marks checks of a local store.
local_only() { [ -z "$E2E_STORE_BASE" ]; }

# mount_fresh [OPTIONS]: a new store and mountpoint; sets STORE and MNT.
mount_fresh() {
	STORE=$WORK/store.$T.$RANDOM
	[ -n "$E2E_STORE_BASE" ] && STORE=$E2E_STORE_BASE/s$T.$RANDOM.$$
	MNT=$WORK/mnt.$T.$RANDOM
	mkdir -p "$MNT"
	mount_again "$@"
}

# mount_again [OPTIONS]: mount STORE on MNT again.
mount_again() {
	local opts=()
	[ -n "$1" ] && opts=(-o "$1")
	"$RECFS" "$STORE" "$MNT" -f "${opts[@]}" 2>>"$WORK/recfs.log" &
	RECFS_PID=$!
	PIDS+=("$RECFS_PID")
	for _ in $(seq 100); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$RECFS_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# mount failed; log:"; sed 's/^/# /' "$WORK/recfs.log"
	return 1
}

# restart_script OPTS: write $WORK/restart, a command that kills the
# daemon of STORE on MNT (SIGKILL: a crash) and mounts STORE there again
# with OPTS, for a test's process to run between its steps.  Each new
# daemon's pid goes to $WORK/daemon.pid and its exit status to
# $WORK/rc.PID; each restart adds a line to $WORK/restarts.  After the
# last unmount, restarted_rc sets RECFS_RC to the last daemon's status.
restart_script() {
	cat > "$WORK/restart" <<EOF
#!/bin/bash
pid=\$(cat "$WORK/daemon.pid" 2>/dev/null || echo $RECFS_PID)
# Only while it is this store's daemon: one that has exited (its mount
# failed, or someone else stopped it) may have given its pid to another
# process since, which got the kill -9 (another test's daemon, on a
# shared machine).
if [[ \$(tr '\\0' ' ' < "/proc/\$pid/cmdline" 2>/dev/null) == *" $STORE $MNT "* ]]; then
	kill -9 "\$pid"
else
	pid=
fi
# The kernel aborts the connection once the killed daemon's descriptors
# close; a daemon thread inside the kernel waiting on a client that
# waits for an answer (an entry invalidation that needs the lock of a
# directory a create holds) keeps them open, and the killed daemon, its
# store lock held, never goes.  Abort as the kernel would.
dev=\$(awk -v m="$MNT" '\$5 == m { print \$3 }' /proc/self/mountinfo)
if [ -n "\$dev" ]; then
	mountpoint -q /sys/fs/fuse/connections ||
		mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null
	echo 1 > "/sys/fs/fuse/connections/\${dev#*:}/abort" 2>/dev/null
fi
# (the first daemon stays this shell's zombie: its state says it is
# gone, once no thread of it is left: a leader that exited shows Z while
# another thread lives)
for _ in \$(seq 500); do
	[ -z "\$pid" ] || [ ! -e /proc/\$pid ] && break
	grep -q '^State:.*[ZX]' /proc/\$pid/status 2>/dev/null &&
		[ "\$(ls /proc/\$pid/task 2>/dev/null | wc -l)" -le 1 ] && break
	sleep 0.01
done
fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
echo >> "$WORK/restarts"
( setsid "$RECFS" "$STORE" "$MNT" -f -o "$1" 2>>"$WORK/recfs.log" \\
	</dev/null >/dev/null &
  p=\$!; echo \$p > "$WORK/daemon.pid"; wait \$p; echo \$? > "$WORK/rc.\$p"
) </dev/null >/dev/null 2>&1 &
for _ in \$(seq 250); do mountpoint -q "$MNT" && exit 0; sleep 0.02; done
exit 1
EOF
	chmod +x "$WORK/restart"
}

# restart_count: how many times $WORK/restart ran.
restart_count() { cat "$WORK/restarts" 2>/dev/null | wc -l; }

restarted_rc() {
	local rcf
	[ -s "$WORK/daemon.pid" ] || return 0 # never restarted: RECFS_RC
	rcf=$WORK/rc.$(cat "$WORK/daemon.pid")
	for _ in $(seq 200); do [ -s "$rcf" ] && break; sleep 0.05; done
	RECFS_RC=$(cat "$rcf" 2>/dev/null || echo none)
}

# fuse_abort MNT: end every request of MNT's FUSE connection with
# ENOTCONN, as the kernel does when the daemon dies.  A killed client
# whose request was already sent waits for its answer uninterruptibly,
# and a daemon thread that waits on such a client keeps even a killed
# daemon from exiting: only the abort ends that.  Needs root.
fuse_abort() {
	local dev
	dev=$(awk -v m="$1" '$5 == m { print $3 }' /proc/self/mountinfo)
	[ -n "$dev" ] || return 0
	mountpoint -q /sys/fs/fuse/connections ||
		mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null
	echo 1 > "/sys/fs/fuse/connections/${dev#*:}/abort" 2>/dev/null
}

# inval_load: in $MNT/d (3,000 records made first), chmod the directory
# back and forth (the daemon has the kernel drop the names cached in it:
# entry invalidations, each taking the directory's lock) while two loops
# create records there (each holding that lock while it waits for its
# answer).  Their pids go to BUSY.
inval_load() {
	mkdir "$MNT/d" && (cd "$MNT/d" && seq 3000 | xargs touch) || return 1
	BUSY=()
	(while :; do chmod 700 "$MNT/d"; chmod 755 "$MNT/d"; done) 2>/dev/null &
	BUSY+=($!)
	for j in 1 2; do
		(i=0; while :; do i=$((i + 1)); : > "$MNT/d/n$j.$i"; done) \
			2>/dev/null &
		BUSY+=($!)
	done
}

# stop_watchdog PID: end a `(sleep N; ACTION) &` watchdog whose wait was
# not needed.  The subshell goes first: ended first, its sleep let it run
# ACTION (e2e_etcd.sh's pinrace aborted the mount it guarded, and every
# check after it failed, once in a full run); then the sleep it leaves.
stop_watchdog() {
	local kids
	kids=$(pgrep -P "$1")
	kill "$1" 2>/dev/null
	[ -n "$kids" ] && kill $kids 2>/dev/null
	wait "$1" 2>/dev/null
}

# dump_stuck PID...: what each process's threads are waiting on (state,
# kernel wait channel and stack; for a daemon, its own stacks through gdb
# when installed), each FUSE connection's waiting requests, and etcd's
# processes, on stdout.  For a run that stopped making progress: the
# deadline then kills it, and this is all that is left to debug it from.
dump_stuck() {
	local p t c
	echo "== stuck at $(date +%T.%N)"
	for c in /sys/fs/fuse/connections/*/waiting; do
		[ -e "$c" ] && echo "fuse connection ${c%/waiting}: $(cat "$c") waiting"
	done
	for p; do
		[ -d "/proc/$p" ] || { echo "== $p gone"; continue; }
		echo "== $p: $(tr '\0' ' ' < "/proc/$p/cmdline" | cut -c1-200)"
		for t in /proc/"$p"/task/*; do
			echo "-- ${t##*/} $(cut -d' ' -f2-3 "$t/stat" 2>/dev/null) wchan=$(cat "$t/wchan" 2>/dev/null)"
			sed 's/^/   /' "$t/stack" 2>/dev/null | head -16
		done
		if [[ $(cat "/proc/$p/comm" 2>/dev/null) == recfs* ]] &&
		   command -v gdb >/dev/null; then
			timeout 30 gdb -q -batch -p "$p" -ex 'thread apply all bt 12' \
				2>/dev/null | grep -E '^(Thread|#)' | head -200
		fi
	done
}

unmount() {
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	wait "$RECFS_PID" 2>/dev/null
	RECFS_RC=$?
}

# mounted DIR: DIR is a mount point, even one whose FUSE daemon died
# (mountpoint(1) stats it, and a dead FUSE mount answers ENOTCONN: such
# a mount was left behind by the cleanup and its directory not removed).
mounted() {
	awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# own_child PID: PID is a live child of this shell.  One that a wait
# (or bash itself, at its end) reaped may have given its pid to another
# process since (pids wrap at pid_max), which a kill must spare.
own_child() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=(${st##*) }) # (state ppid ...: comm may hold spaces)
	[ "${st[1]}" = "$$" ] && [ "${st[0]}" != Z ]
}

cleanup() {
	for m in "$WORK"/mnt.*; do
		mounted "$m" && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
	done
	# Only those still our children: one a wait reaped may have given
	# its pid to another process since (pids wrap), which it must spare.
	for p in "${PIDS[@]}"; do
		st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		st=(${st##*) }) # (state ppid ...: comm may hold spaces)
		[ "${st[1]}" = "$$" ] && kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	for m in "$WORK"/tmpfs.*; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
	if [ "$FAILED" -gt 0 ] && [ -s "$WORK/recfs.log" ]; then
		# (refused commits, routine under contention, would hide the
		# rest: counted, not shown)
		echo "# daemon log ($(grep -c 'failed: Resource temporarily unavailable$' "$WORK/recfs.log") commits refused as stale not shown):"
		grep -v 'failed: Resource temporarily unavailable$' \
			"$WORK/recfs.log" | tail -n 40 | sed 's/^/# /'
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

finish() {
	echo "# $T checks, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

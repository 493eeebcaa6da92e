#!/bin/bash
# End-to-end: the benchmark's own parts (make bench, docs/PERFORMANCE.md):
# the zero-work floor (tools/floorfs.c) and what build/bench reports.
# Each check runs one small piece, not the bench: a whole QUICK=1 run
# takes a minute and needs etcd, SQLite and gnuplot.
. "$(dirname "$0")/lib_e2e.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if ! make -s -C "$ROOT" BUILD="$BUILD" "$BUILD/floorfs" "$BUILD/bench" \
	"$BUILD/mkstore" >"$WORK/make.log" 2>&1; then
	sed 's/^/# /' "$WORK/make.log"
	ok "# SKIP the bench's programs do not build here (make bench-deps)"
	finish
	exit
fi
FLOORFS=$ROOT/$BUILD/floorfs
BENCH=$ROOT/$BUILD/bench

# floor_mount: floorfs -d on a new mountpoint; sets MNT, FLOOR_PID and
# FLOOR_LOG (one line per request).
floor_mount() {
	MNT=$WORK/mnt.floor.$RANDOM
	FLOOR_LOG=$WORK/floor.$RANDOM.log
	mkdir -p "$MNT"
	"$FLOORFS" -d "$MNT" 2>"$FLOOR_LOG" &
	FLOOR_PID=$!
	PIDS+=("$FLOOR_PID")
	for _ in $(seq 100); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$FLOOR_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# floorfs did not mount"
	return 1
}

# floor_count OPCODE: requests of that opcode in the floor's log so far,
# once it has not grown for 0.2 s (RELEASE comes after close returns).
floor_count() {
	local last=-1 size
	for _ in $(seq 100); do
		size=$(stat -c %s "$FLOOR_LOG")
		[ "$size" = "$last" ] && break
		last=$size
		sleep 0.2
	done
	grep -c "^unique: .*, opcode: $1 " "$FLOOR_LOG"
}

floor_unmount() {
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
	wait "$FLOOR_PID" 2>/dev/null
}

# ---- the floor ---------------------------------------------------------
# The floor makes the promises recfs makes to the kernel and no more work.
# recfs opens read-only handles with noflush (a close of one is no round
# trip); a floor that answers a FLUSH there is slower than the floor, and
# every warm read's ratio to it flatters recfs.
floor_mount
# (cp, not a shell redirection: the floor commits at every flush, and a
# shell's dup2 sends one before the write; docs/PERFORMANCE.md)
printf 'hello\n' > "$WORK/hello"
printf 'again\n' > "$WORK/again"
cp "$WORK/hello" "$MNT/rec"
cat "$MNT/rec" > /dev/null
f0=$(floor_count FLUSH)
for _ in 1 2 3; do cat "$MNT/rec" > /dev/null; done
f1=$(floor_count FLUSH)
expect_eq "floor: closing a read-only handle sends no FLUSH" 0 $((f1 - f0))
expect_eq "floor: the reads saw the record" hello "$(cat "$MNT/rec")"
o0=$(floor_count FLUSH)
cp "$WORK/again" "$MNT/rec"
o1=$(floor_count FLUSH)
check "floor: a writable handle still commits at its FLUSH" \
	test $((o1 - o0)) -ge 1
expect_eq "floor: and a save is one version" 2 \
	"$(getfattr --only-values -n user.version "$MNT/rec" 2>/dev/null)"
# recfs reads with direct I/O, one READ per 1 MiB read(2).  A floor that
# reads a big record through the page cache gets it in readahead windows
# of 128 KiB, 8 READs per MiB, and recfs outran the "floor" tenfold on
# workload 8's read.
dd if=/dev/zero of="$MNT/big" bs=1M count=4 status=none
r0=$(floor_count READ)
dd if="$MNT/big" of=/dev/null bs=1M status=none
r1=$(floor_count READ)
echo "# floor: $((r1 - r0)) READs for a 4 MiB record read 1 MiB at a time"
check "floor: a big record's 1 MiB reads cost a READ each, as on recfs" \
	test $((r1 - r0)) -le 5
floor_unmount

# ---- workload 11: reopen and memory -------------------------------------
# A start that fails (here the probe record is missing, as when a store
# does not open) must show as failed, never as a figure that meets its
# target: the RSS per record was then (0 - the empty store's RSS) / N,
# negative, "met", and not marked.
mkdir -p "$WORK/mnt.reopen" "$WORK/reopen"
"$ROOT/$BUILD/mkstore" "$WORK/st_empty" 0 >/dev/null
"$ROOT/$BUILD/mkstore" "$WORK/st_full" 0 >/dev/null
out=$(QUICK=1 "$BENCH" reopen "$WORK/reopen" "$RECFS" "$WORK/mnt.reopen" \
	"$WORK/st_empty" "$WORK/st_full" 1000000 14 2>"$WORK/reopen.err")
line=$(grep '^RSS per record' <<<"$out")
echo "# $line"
check "reopen: a failed start does not meet the RSS target" \
	lacks "$line" " met"
check "reopen: and its RSS per record is marked as failed" has "$line" "!"
check "reopen: the failed reopen's time meets no target either" \
	lacks "$(grep "^reopen, 1000000 records" <<<"$out")" " met"
expect_eq "reopen: reopen.csv counts the failures of RSS per record" 3 \
	"$(awk -F, '/^"RSS per record"/ { print $NF }' "$WORK/reopen/reopen.csv")"
check "reopen: the mount is gone afterwards" \
	bash -c "! mountpoint -q '$WORK/mnt.reopen'"

# ---- the speed table's verdicts ----------------------------------------
# An operation that fails returns at once: a row whose operations failed
# is fast, and must not meet a target.  Here "recfs" is a plain directory,
# where user.version does not exist: every versioned update fails
# (ENODATA) and was counted "met" at 46 x the floor.
floor_mount
mkdir -p "$WORK/plain" "$WORK/notrecfs" "$WORK/speed"
out=$(BENCH_WARM_S=0 BENCH_NREC=50 BENCH_BIG_MIB=1 QUICK=1 "$BENCH" speed \
	"$WORK/speed" passthrough_ll=plain:"$WORK/plain" floor=floor:"$MNT" \
	recfs=recfs:"$WORK/notrecfs" 2>"$WORK/speed.err")
line=$(grep -E '^versioned update +floor ' <<<"$out")
echo "# $line"
check "verdicts: failed updates meet no target" lacks "$line" " met"
check "verdicts: they say FAILED" has "$line" "FAILED"
expect_eq "verdicts: speed_targets.csv says failed" failed \
	"$(awk -F, '/^"versioned update",floor,/ { print $5 }' \
		"$WORK/speed/speed_targets.csv")"
line=$(grep -E '^stat warm +floor ' <<<"$out")
check "verdicts: a row without failures is still judged" \
	matches "$line" " (met|NOT MET) "
floor_unmount

# ---- workload 9 and the durable part: refusals where none can be --------
# Threads on records of their own race nobody, so none of their updates
# may be refused; the table has no refusals column for them, and a
# refusal there went unseen (the row only counted fewer commits).  Here
# another process keeps changing the first thread's record (through a
# warm-up of 0.5 s: a failure then is one too).
mount_fresh
mkdir -p "$WORK/dur"
QUICK=1 BENCH_WARM_S=0.5 "$BENCH" durable "$WORK/dur" recfs=recfs:"$MNT" \
	>"$WORK/dur.out" 2>"$WORK/dur.err" &
bench_pid=$!
for _ in $(seq 100); do [ -n "$(ver "$MNT/dur/c0")" ] && break; sleep 0.05; done
# (as fast as the bench's thread: a shell loop's declarations were
# always stale by its cp)
python3 - "$MNT/dur/c0" "$bench_pid" <<'PY' >"$WORK/other.out" 2>&1
import os, sys
p, pid = sys.argv[1], int(sys.argv[2])
saves = 0
def running():  # (a bench not yet reaped is a zombie)
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
while running():
    try:
        os.setxattr(p, "user.expected_version",
                    os.getxattr(p, "user.version"))
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, b"other\n")
        finally:
            os.close(fd)
        saves += 1
    except OSError:
        pass
print(saves, "saves")
PY
wait "$bench_pid"
echo "# the other process: $(cat "$WORK/other.out")"
line=$(grep '^1 thr, 1 record ' "$WORK/dur.out")
echo "# $line"
check "durable: a refused update of a writer's own record is a failure" \
	has "$line" "!"
check "durable: and stderr says it was refused" \
	has "$(cat "$WORK/dur.err")" "refused on its own record"
# The errors column counts failed operations, as in the single-threaded
# rows; it counted the threads that had any, once per repetition (at
# most 3 here).
errs=$(awk -F, '/^"1 thr, 1 record",com\/s,recfs,/ { print $NF }' \
	"$WORK/dur/durable.csv")
echo "# durable.csv: $errs errors for 1 thr, 1 record"
check "durable: durable.csv counts each refused update" test "${errs:-0}" -gt 3
unmount

# ---- the durable part's etcd -------------------------------------------
# scripts/bench/run.sh starts etcd on fixed ports.  When one is taken
# (another bench's etcd, one left over), its own etcd exits at once, and
# the bench used to measure whatever answered there, and run its shared
# part on it, without a word.  etcd_start must say it did not start.
if command -v etcd >/dev/null; then
	. "$ROOT/scripts/bench/etcd.sh"
	# free_port: a TCP port on 127.0.0.1 nobody listens on now.
	free_port() {
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
	}
	cp=$(free_port); pp=$(free_port)
	# Something else holds the client port while ours starts.
	python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); time.sleep(60)' "$cp" &
	holder=$!
	PIDS+=("$holder")
	for _ in $(seq 50); do
		ss -ltn 2>/dev/null | grep -q "127.0.0.1:$cp " && break
		sleep 0.1
	done
	if etcd_start "$WORK/etcd1" "$WORK/etcd1.log" "$cp" "$pp"; then
		fail "etcd_start: a taken client port is not taken for ours"
		kill "$ETCD_PID" 2>/dev/null
		wait "$ETCD_PID" 2>/dev/null
	else
		ok "etcd_start: a taken client port is not taken for ours"
	fi
	expect_eq "etcd_start: and no pid is left to stop" "" "$ETCD_PID"
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
	cp=$(free_port); pp=$(free_port)
	if etcd_start "$WORK/etcd2" "$WORK/etcd2.log" "$cp" "$pp"; then
		ok "etcd_start: free ports: it serves"
		check "etcd_start: its own pid, alive" kill -0 "$ETCD_PID"
		kill "$ETCD_PID" 2>/dev/null
		wait "$ETCD_PID" 2>/dev/null
	else
		fail "etcd_start: free ports: it serves"
		sed 's/^/# /' "$WORK/etcd2.log" | tail -5
	fi
else
	ok "# SKIP etcd not installed"
fi

# ---- build/bench-results holds one run's results ------------------------
# table.txt gathers every part's table from the results directory; with
# no etcd the shared part does not run, and an earlier run's shared.txt
# showed up in this run's table.  A run that stops early (here: no
# passthrough_ll to mount) must not leave an earlier run's files either.
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$WORK/b/bench-results"
	echo stale > "$WORK/b/bench-results/shared.txt"
	echo stale > "$WORK/b/bench-results/speed.csv"
	(cd "$ROOT" && BUILD="$WORK/b" sh scripts/bench/run.sh) \
		>"$WORK/run.out" 2>&1
	check "run.sh: a run that cannot mount fails" \
		has "$(cat "$WORK/run.out")" "failed to mount"
	check "run.sh: no earlier shared.txt is left in the results" \
		test ! -e "$WORK/b/bench-results/shared.txt"
	check "run.sh: nor an earlier speed.csv" \
		test ! -e "$WORK/b/bench-results/speed.csv"
	check "run.sh: this run's machine.txt is there" \
		test -s "$WORK/b/bench-results/machine.txt"
else
	ok "# SKIP run.sh needs root"
fi

finish

#!/bin/sh
# make bench [QUICK=1]: mount every target side by side, run build/bench,
# and always unmount and clean up (trap).  Needs root (mount, /dev/fuse).
#
# speed:   tmpfs, passthrough_ll over tmpfs, floorfs, recfs (store on tmpfs)
# reopen:  recfs on a store of 1,000,000 small records (100,000 quick),
#          written by build/mkstore: time to a mount that answers, and RSS
# requests: passthrough_ll, floorfs and recfs with -d; FUSE requests per
#          operation
# durable: recfs -o sync=always, passthrough_ll + fdatasync, SQLite, etcd,
#          bare fdatasync, all on a disk directory under /var/tmp
#
# URING=0: leave the kernel's FUSE over io_uring off (fuse.enable_uring),
# so that recfs and floorfs read /dev/fuse as libfuse does.  By default
# the bench turns it on for the run (and restores it), and recfs and the
# floor both use it (fs/uring.c); passthrough_ll, libfuse's example,
# cannot.
# HALT_POLL_NS=N: run with the guest's cpuidle halt polling at N ns
# (/sys/module/haltpoll/parameters/guest_halt_poll_ns, a KVM guest's),
# restored at the end.  This VM boots with 0, and every wake-up of an
# idle vCPU then costs an exit to the host: see docs/PERFORMANCE-HISTORY.md
# ("Idle vCPUs, and a request loop of our own").
set -u
BUILD=${BUILD:-build}
QUICK=${QUICK:-}
export QUICK
HALT_POLL_NS=${HALT_POLL_NS:-}
HP=/sys/module/haltpoll/parameters/guest_halt_poll_ns
HP_OLD=""
URING=${URING:-1}
UP=/sys/module/fuse/parameters/enable_uring
UP_OLD=""
case $URING in 0|1) ;; *) echo "bench: URING must be 0 or 1" >&2; exit 1 ;; esac
if [ -n "$HALT_POLL_NS" ]; then
	case $HALT_POLL_NS in
	*[!0-9]*) echo "bench: HALT_POLL_NS must be a number of ns" >&2; exit 1 ;;
	esac
	[ -w "$HP" ] || { echo "bench: HALT_POLL_NS: no $HP here" >&2; exit 1; }
fi
OUT=$BUILD/bench-results
B=$BUILD/bench
[ "$(id -u)" = 0 ] || { echo "bench: needs root (mount, /dev/fuse)" >&2; exit 1; }
# Only this run's results: a part that does not run (no etcd: no shared
# part) or fails must not leave an earlier run's files, which table.txt
# would gather as if they were this run's.
rm -rf "$OUT"
mkdir -p "$OUT"

S=$(mktemp -d /tmp/recfs-bench.XXXXXX) || exit 1
D=$(mktemp -d /var/tmp/recfs-bench.XXXXXX) || { rmdir "$S"; exit 1; }
PIDS=""      # the FUSE daemons of the current part: unmount_all waits for them
ETCD_PID=""  # etcd lives through the durable and shared parts
FUSE_MNTS="$S/m_pt $S/m_floor $S/m_recfs $S/m_reopen $S/m_qpt $S/m_qfloor $S/m_qrecfs
	$S/m_recfs_sync $S/m_pt_sync"

# Unmount the FUSE mounts, stop what we started (by pid), drop the tmpfs.
cleanup() {
	trap - EXIT INT TERM HUP
	for m in $FUSE_MNTS; do
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || umount -l "$m"
		fi
	done
	for p in $PIDS $ETCD_PID; do kill "$p" 2>/dev/null; done
	for p in $PIDS $ETCD_PID; do wait "$p" 2>/dev/null; done
	mountpoint -q "$S/t" 2>/dev/null && umount "$S/t"
	rm -rf "$S" "$D"
	[ -z "$HP_OLD" ] || echo "$HP_OLD" > "$HP"
	[ -z "$UP_OLD" ] || echo "$UP_OLD" > "$UP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
if [ -n "$HALT_POLL_NS" ]; then
	HP_OLD=$(cat "$HP")
	echo "$HALT_POLL_NS" > "$HP" || exit 1
fi
if [ -w "$UP" ]; then
	UP_OLD=$(cat "$UP")
	if [ "$URING" = 1 ]; then echo Y > "$UP"; else echo N > "$UP"; fi
fi

# wait_mount MNT PID: until MNT is a mount point, or fail if PID died.
wait_mount() {
	i=0
	while ! mountpoint -q "$1"; do
		kill -0 "$2" 2>/dev/null || { echo "bench: $1 failed to mount" >&2; exit 1; }
		[ $i -lt 100 ] || { echo "bench: $1: mount timed out" >&2; exit 1; }
		sleep 0.1; i=$((i + 1))
	done
}

# unmount_all MNT...: unmount and wait for the daemons to leave.
unmount_all() {
	for m in "$@"; do fusermount3 -u "$m" || exit 1; done
	for p in $PIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1))
		done
	done
}

. "$(dirname "$0")/etcd.sh"

PT=$BUILD/passthrough_ll/passthrough_ll
PT_OPTS=xattr,cache=always
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel: $(uname -r)"
	echo "cpus: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "mem: $(free -g | awk '/^Mem/ {print $2 " GiB"}')"
	echo "disk under /var/tmp: $(df -T /var/tmp | awk 'NR==2 {print $2 " on " $1}')"
	echo "cpuidle: $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none)," \
		"guest halt poll: $(cat "$HP" 2>/dev/null || echo -) ns"
	echo "fuse over io_uring offered: $(cat "$UP" 2>/dev/null || echo no)" \
		"(recfs and floorfs use it when offered; passthrough_ll cannot)"
	echo "quick: ${QUICK:-0}"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null)"
} > "$OUT/machine.txt"
# Is anything else running?  Every ratio assumes a quiet machine: the
# targets share 2 CPUs with whatever else runs.  One second of /proc/stat
# before the run; the run goes on either way, with a warning to read the
# figures by.
busy=$({ head -1 /proc/stat; sleep 1; head -1 /proc/stat; } | awk '
	{ t = 0; for (i = 2; i <= 9; i++) t += $i; tot[NR] = t; idle[NR] = $5 + $6 }
	END { d = tot[2] - tot[1]; printf "%.0f", (d > 0 ? 100 - 100 * (idle[2] - idle[1]) / d : 0) }')
echo "cpu busy before the run: $busy % (1 s), load average $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"
if [ "$busy" -gt 10 ]; then
	echo "WARNING: the machine was $busy % busy before the run; other work skews every ratio" |
		tee -a "$OUT/machine.txt" >&2
fi
cat "$OUT/machine.txt"
# The host's share of our CPUs while we ran (a VM's "steal"): a run that
# lost much of its time to other guests is not comparable with others.
STAT0=$(head -1 /proc/stat)

# ---- speed: everything in memory --------------------------------------
mkdir -p "$S/t" "$S/m_pt" "$S/m_floor" "$S/m_recfs"
mount -t tmpfs -o size=6g,mode=755 tmpfs "$S/t" || exit 1
mkdir -p "$S/t/tmpfs" "$S/t/pt"
"$PT" -f -o source="$S/t/pt",$PT_OPTS "$S/m_pt" 2>"$S/pt.log" &
PIDS="$PIDS $!"; wait_mount "$S/m_pt" $!
FLOOR_URING=1 "$BUILD/floorfs" -f "$S/m_floor" 2>"$S/floor.log" &
PIDS="$PIDS $!"; wait_mount "$S/m_floor" $!
"$BUILD/recfs" "$S/t/store" "$S/m_recfs" -f 2>"$S/recfs.log" &
PIDS="$PIDS $!"; wait_mount "$S/m_recfs" $!

"$B" speed "$OUT" tmpfs=plain:"$S/t/tmpfs" \
	passthrough_ll=plain:"$S/m_pt" floor=floor:"$S/m_floor" \
	recfs=recfs:"$S/m_recfs" > "$OUT/speed.txt"
rc=$?
cat "$OUT/speed.txt"
unmount_all "$S/m_pt" "$S/m_floor" "$S/m_recfs"
for n in floor recfs; do
	if grep -q "requests come through io_uring" "$S/$n.log"; then
		echo "$n: requests came through io_uring"
	else
		echo "$n: requests came through /dev/fuse"
	fi
done | tee -a "$OUT/machine.txt"
grep -v '^$' "$S/recfs.log" | tail -5 >&2
PIDS=""

# ---- reopen: a big store, written with the store library --------------
case $QUICK in ''|0) NREOPEN=1000000 ;; *) NREOPEN=100000 ;; esac
mkdir -p "$S/m_reopen"
# "records N dirs D key_bytes_mean K seconds S"
MK=$("$BUILD/mkstore" "$S/t/big" $NREOPEN) &&
	"$BUILD/mkstore" "$S/t/empty" 0 >/dev/null || exit 1
set -- $MK
echo "bench: mkstore wrote $2 records in $8 s" >&2
"$B" reopen "$OUT" "$BUILD/recfs" "$S/m_reopen" "$S/t/empty" "$S/t/big" \
	"$2" "$6" > "$OUT/reopen.txt"
r=$?; [ $rc = 0 ] && rc=$r
cat "$OUT/reopen.txt"
rm -rf "$S/t/big" "$S/t/empty"

# ---- requests per operation: passthrough_ll, floorfs, recfs with -d ------
# Untimed.  Each daemon's -d output (one line per request) goes to
# $S/req/NAME.log, where build/bench counts it.  passthrough_ll is counted
# too: a ratio to it is only about per-request work where both make the
# same requests.
mkdir -p "$S/m_qpt" "$S/m_qfloor" "$S/m_qrecfs" "$S/req" "$S/t/qpt"
"$PT" -d -o source="$S/t/qpt",$PT_OPTS "$S/m_qpt" 2>"$S/req/passthrough_ll.log" &
PIDS="$PIDS $!"; wait_mount "$S/m_qpt" $!
FLOOR_URING=1 "$BUILD/floorfs" -d "$S/m_qfloor" 2>"$S/req/floor.log" &
PIDS="$PIDS $!"; wait_mount "$S/m_qfloor" $!
"$BUILD/recfs" "$S/t/qstore" "$S/m_qrecfs" -d 2>"$S/req/recfs.log" &
PIDS="$PIDS $!"; wait_mount "$S/m_qrecfs" $!
"$B" requests "$OUT" "$S/req" passthrough_ll=plain:"$S/m_qpt" \
	floor=floor:"$S/m_qfloor" \
	recfs=recfs:"$S/m_qrecfs"
r=$?; [ $rc = 0 ] && rc=$r
cat "$OUT/requests.txt"
cp "$S/req/passthrough_ll.log" "$OUT/requests-passthrough_ll.log"
cp "$S/req/floor.log" "$OUT/requests-floor.log"
cp "$S/req/recfs.log" "$OUT/requests-recfs.log"
unmount_all "$S/m_qpt" "$S/m_qfloor" "$S/m_qrecfs"
PIDS=""
umount "$S/t"

# ---- durable: a disk directory ---------------------------------------
mkdir -p "$S/m_recfs_sync" "$S/m_pt_sync" "$D/pt" "$D/sqlite" "$D/fsync" "$D/etcd"
"$PT" -f -o source="$D/pt",$PT_OPTS "$S/m_pt_sync" 2>"$S/pt_sync.log" &
PIDS="$PIDS $!"; wait_mount "$S/m_pt_sync" $!
"$BUILD/recfs" "$D/store" "$S/m_recfs_sync" -f -o sync=always 2>"$S/recfs_sync.log" &
PIDS="$PIDS $!"; wait_mount "$S/m_recfs_sync" $!
ETCD_TARGET=""
if ! command -v etcd >/dev/null; then
	echo "bench: etcd not installed; left out" >&2
elif etcd_start "$D/etcd/data" "$D/etcd.log" 23790 23800; then
	ETCD_TARGET=etcd=etcd:127.0.0.1:23790
else
	echo "bench: etcd did not start (its ports 23790, 23800 taken by" \
		"another etcd, another bench's?); left out:" >&2
	tail -3 "$D/etcd.log" >&2
fi

"$B" durable "$OUT" recfs=recfs:"$S/m_recfs_sync" \
	passthrough_ll=psync:"$S/m_pt_sync" sqlite=sqlite:"$D/sqlite" \
	$ETCD_TARGET fdatasync=fsync:"$D/fsync" > "$OUT/durable.txt"
r=$?; [ $rc = 0 ] && rc=$r
cat "$OUT/durable.txt"
unmount_all "$S/m_pt_sync" "$S/m_recfs_sync"
PIDS=""

# ---- shared (issue 9): recfs on etcd, its writers on two mounts -------
# Against etcd itself and a local recfs with sync=always (etcd commits
# are durable too).
if [ -n "$ETCD_TARGET" ]; then
	mkdir -p "$S/m_es1" "$S/m_es2" "$S/m_local"
	for m in m_es1 m_es2; do
		"$BUILD/recfs" etcd://127.0.0.1:23790/bench-shared "$S/$m" -f \
			2>"$S/$m.log" &
		PIDS="$PIDS $!"; wait_mount "$S/$m" $!
	done
	"$BUILD/recfs" "$D/store_local" "$S/m_local" -f -o sync=always \
		2>"$S/m_local.log" &
	PIDS="$PIDS $!"; wait_mount "$S/m_local" $!
	"$B" shared "$OUT" recfs=recfs:"$S/m_es1,$S/m_es2" $ETCD_TARGET \
		local=recfs:"$S/m_local" > "$OUT/shared.txt"
	r=$?; [ $rc = 0 ] && rc=$r
	cat "$OUT/shared.txt"
	unmount_all "$S/m_es1" "$S/m_es2" "$S/m_local"
fi

if command -v gnuplot >/dev/null; then
	BUILD=$BUILD sh scripts/bench/chart.sh "$OUT" || true
fi
steal=$(printf '%s\n%s\n' "$STAT0" "$(head -1 /proc/stat)" | awk '
	{ t = 0; for (i = 2; i <= 9; i++) t += $i; tot[NR] = t; st[NR] = $9 }
	END { d = tot[2] - tot[1]; printf "%.1f", (d > 0 ? 100 * (st[2] - st[1]) / d : 0) }')
echo "cpu steal during the run: $steal %" | tee -a "$OUT/machine.txt"
cat "$OUT/speed.txt" "$OUT/reopen.txt" "$OUT/requests.txt" \
	"$OUT/durable.txt" "$OUT/shared.txt" > "$OUT/table.txt" 2>/dev/null
grep '^WARNING' "$OUT/machine.txt" >> "$OUT/table.txt"
echo "bench: results in $OUT/ (table.txt, speed.csv, reopen.csv," \
	"requests.csv, durable.csv, shared.csv, *_targets.csv, machine.txt)"
exit $rc

#!/bin/bash
# End-to-end: requests through io_uring (fs/uring.c), and the two ways
# back to /dev/fuse (-o nouring; a kernel that does not offer the ring).
# Every other e2e script also runs over the ring where tests/run.sh could
# turn it on; this one checks that it is really used, and what happens
# when it is not, or when the daemon dies with requests on it.
. "$(dirname "$0")/lib_e2e.sh"

UP=/sys/module/fuse/parameters/enable_uring
LINE="requests come through io_uring"
if [ ! -w "$UP" ]; then
	ok "# SKIP no writable $UP (not root, or no FUSE over io_uring)"
	finish
	exit
fi
UP_OLD=$(cat "$UP")
trap 'echo "$UP_OLD" > "$UP"; cleanup' EXIT

# used: 1 if the last mount's daemon said its requests use the ring.
used() { grep -q "$LINE" "$WORK/recfs.log" && echo 1 || echo 0; }

# contract WHAT: the contract's basic moves and bulk work on $MNT.
contract() {
	local d=$1
	cd "$MNT" || return 1
	echo one > rec
	expect_eq "$d: a new record is version 1" 1 "$(ver rec)"
	setfattr -n user.expected_version -v 1 rec
	echo two > rec
	expect_eq "$d: a change based on 1 makes version 2" 2 "$(ver rec)"
	setfattr -n user.expected_version -v 1 rec
	expect_err "$d: a stale change is refused" \
		"Resource temporarily unavailable" bash -c 'echo three > rec'
	expect_eq "$d: and changes nothing" two "$(cat rec)"
	head -c 3000000 /dev/urandom > "$WORK/big"
	cp "$WORK/big" big
	check "$d: 3 MB (several 1 MiB requests) read back whole" \
		cmp -s "$WORK/big" big
	mkdir d
	for i in $(seq 300); do echo "$i" > "d/f$i"; done
	expect_eq "$d: a directory of 300 lists 300" 300 "$(ls d | wc -l)"
	mv d/f1 d/g1
	rm d/f2
	expect_eq "$d: rename and unlink" "1 299" "$(cat d/g1) $(ls d | wc -l)"
	setfattr -n user.tag -v blue rec
	expect_eq "$d: user xattrs" blue \
		"$(getfattr --only-values -n user.tag rec 2>/dev/null)"
	cd / || return 1
}

# ---- the ring, offered and used --------------------------------------
echo Y > "$UP"
: > "$WORK/recfs.log"
mount_fresh || exit 1
contract "ring"
expect_eq "the daemon says its requests come through io_uring" 1 "$(used)"

# Writers that meet on one record: no lost update, and no worker starved
# while others wait in lease waits and syncs.
cat > "$WORK/inc.py" <<'EOF'
import errno, os, sys
p, n, done = sys.argv[1], int(sys.argv[2]), 0
while done < n:
    try:
        v = os.getxattr(p, "user.version")
        with open(p) as f:
            x = int(f.read() or 0)
        os.setxattr(p, "user.expected_version", v)
        with open(p, "w") as f:
            f.write(str(x + 1))
        done += 1
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EBUSY):
            raise
EOF
echo 0 > "$MNT/count"
incs=()
for _ in 1 2 3 4 5 6; do
	python3 "$WORK/inc.py" "$MNT/count" 100 &
	incs+=($!)
done
wait_all=0
for j in "${incs[@]}"; do wait "$j" || wait_all=1; done
expect_eq "6 writers x 100 increments of one record: 600, none lost" \
	"0 600" "$wait_all $(cat "$MNT/count")"

# SIGTERM: a clean exit, as without the ring.
kill -TERM "$RECFS_PID"
wait "$RECFS_PID"
expect_eq "SIGTERM: the daemon exits 0" 0 "$?"
check "and the mount is gone" bash -c "! mountpoint -q '$MNT'"

# SIGKILL with entries on the ring: the mount fails cleanly (no hang),
# and the store mounts again with every commit.
mount_again || exit 1
cat "$MNT/rec" > /dev/null
kill -KILL "$RECFS_PID"
wait "$RECFS_PID" 2>/dev/null
check "SIGKILL: the dead mount answers at once (no hang)" \
	timeout 5 bash -c "! stat '$MNT/rec' 2>/dev/null"
umount -l "$MNT" 2>/dev/null
mount_again || exit 1
expect_eq "and the store mounts again with its data" "two 2" \
	"$(cat "$MNT/rec") $(ver "$MNT/rec")"
unmount

# -d prints the requests that come through the ring (the bench counts
# requests per operation from it).
: > "$WORK/recfs.log"
"$RECFS" "$STORE" "$MNT" -d 2>>"$WORK/recfs.log" &
RECFS_PID=$!
PIDS+=("$RECFS_PID")
for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.05; done
getfattr -n user.version "$MNT/rec" > /dev/null 2>&1
sleep 0.2
check "-d over the ring prints each request" \
	grep -q "opcode: GETXATTR" "$WORK/recfs.log"
expect_eq "-d: and the ring was used" 1 "$(used)"
unmount

# Waits for a lease hold their workers' entries, and the kernel queues a
# request on its caller's CPU only.  With 8 workers per queue (machines
# of 8 CPUs or more: RFS_URING_PER_QUEUE=8 here), 12 writers waiting on
# CPU 0 filled its queue, and the holder's close on CPU 0 waited behind
# them for all of lease_wait (8 s), as did they.
cat > "$WORK/crowd.py" <<'EOF'
import os, sys, time
p, n = sys.argv[1], int(sys.argv[2])
os.sched_setaffinity(0, {0})
open(p).read()
fd = os.open(p, os.O_WRONLY)
os.write(fd, b"held")
kids = []
for _ in range(n):
    k = os.fork()
    if k == 0:
        open(p).read()
        try:
            os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
        except OSError:
            pass
        os._exit(0)
    kids.append(k)
time.sleep(1)
t0 = time.monotonic()
os.close(fd)
closed = time.monotonic() - t0
for k in kids:
    os.waitpid(k, 0)
done = time.monotonic() - t0
print("close %s, waiters %s" % ("prompt" if closed < 2 else "%.1f s" % closed,
                               "prompt" if done < 3 else "%.1f s" % done))
EOF
export RFS_URING_PER_QUEUE=8
mount_fresh lease_wait=8000 || exit 1
unset RFS_URING_PER_QUEUE
echo base > "$MNT/crowd"
expect_eq "12 waiters on one CPU's queue of 8: the holder's close and they end promptly" \
	"close prompt, waiters prompt" \
	"$(python3 "$WORK/crowd.py" "$MNT/crowd" 12)"
check "and the ring was used" \
	grep -q "$LINE ([0-9]* queues, 8 workers each)" \
	"$WORK/recfs.log"
unmount

# ---- a ring that never becomes ready ------------------------------------
# Once INIT asks for the ring, the kernel holds every request until each
# CPU's queue has an entry.  RFS_URING_STALL=1 keeps CPU 0's workers from
# registering: after 2 s the daemon makes the kernel give the ring up.
: > "$WORK/recfs.log"
t0=$(date +%s%N)
export RFS_URING_STALL=1
mount_fresh || exit 1
unset RFS_URING_STALL
out=$(timeout 10 bash -c "echo late > '$MNT/probe' && cat '$MNT/probe'" 2>&1)
t1=$(date +%s%N)
expect_eq "a ring never ready: the mount answers anyway" late "$out"
check "within 6 s of the mount ($(( (t1 - t0) / 1000000 )) ms)" \
	test $(( (t1 - t0) / 1000000 )) -lt 6000
check "and says it gave the ring up" \
	grep -q "did not register within 2 s; requests go through /dev/fuse" \
	"$WORK/recfs.log"
contract "given up"
expect_eq "given up: the ring is not used" 0 "$(used)"
unmount
expect_eq "given up: a clean exit" 0 "$RECFS_RC"

# ---- offered, but the daemon cannot set up its rings --------------------
# Too few descriptors for a ring per worker (as io_uring refused by
# kernel.io_uring_disabled or a seccomp filter): /dev/fuse, and the log
# says so (it said nothing, and the ring was just not used).
printf '#!/bin/sh\nexec prlimit --nofile=48:48 %s "$@"\n' "$RECFS" \
	> "$WORK/recfs-48fd"
chmod +x "$WORK/recfs-48fd"
RECFS_REAL=$RECFS
RECFS=$WORK/recfs-48fd
: > "$WORK/recfs.log"
mount_fresh || exit 1
RECFS=$RECFS_REAL
contract "no rings"
expect_eq "no rings: the ring is not used" 0 "$(used)"
check "no rings: the log says so, and why" \
	grep -q "io_uring offered but not used: Too many open files; requests go through /dev/fuse" \
	"$WORK/recfs.log"
unmount
expect_eq "no rings: a clean exit" 0 "$RECFS_RC"

# An address-space limit (ulimit -v) of 600 MiB: room for the daemon
# over /dev/fuse (about 270 MiB), not for 64 workers' 8 MiB stacks.  The
# daemon started as many workers as it could, then failed to start its
# own thread and exited 1 without a word; now it does without the ring
# and says so.  (Not under ASan, which needs terabytes of it.)
if ldd "$RECFS" | grep -q libasan; then
	ok "# SKIP an address-space limit under ASan"
else
	printf '#!/bin/sh\nexec prlimit --as=%d %s "$@"\n' $((600 << 20)) \
		"$RECFS" > "$WORK/recfs-600m"
	chmod +x "$WORK/recfs-600m"
	RECFS=$WORK/recfs-600m
	: > "$WORK/recfs.log"
	mount_fresh
	RECFS=$RECFS_REAL
	expect_eq "ulimit -v 600 MiB: the mount answers" ok \
		"$(mounted "$MNT" && echo ok > "$MNT/v" && cat "$MNT/v")"
	check "ulimit -v 600 MiB: the log says the ring is not used" \
		grep -q "io_uring not used: Resource temporarily unavailable" \
		"$WORK/recfs.log"
	unmount
	expect_eq "ulimit -v 600 MiB: a clean exit" 0 "$RECFS_RC"
fi

# ---- -o nouring: /dev/fuse only, the same behaviour --------------------
: > "$WORK/recfs.log"
mount_fresh nouring || exit 1
contract "nouring"
expect_eq "nouring: the ring is not used" 0 "$(used)"
unmount

# ---- a kernel that does not offer the ring -----------------------------
echo N > "$UP"
: > "$WORK/recfs.log"
mount_fresh || exit 1
contract "not offered"
expect_eq "not offered: the ring is not used" 0 "$(used)"
unmount
expect_eq "not offered: a clean exit" 0 "$RECFS_RC"

finish

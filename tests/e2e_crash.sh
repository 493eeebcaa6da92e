#!/bin/bash
# End-to-end reliability: the daemon killed with SIGKILL while commits of
# 1 KB to 1 MB flow through a real mount; damaged stores refused (or
# served read-only) with the segment and offset.
# CRASH_CYCLES (default 50) sets the number of kill cycles.
. "$(dirname "$0")/lib_e2e.sh"

CYCLES=${CRASH_CYCLES:-50}
RECCTL=$(dirname "$RECFS")/recctl

# The writer: commits records, logging "try KEY MD5" before and
# "ack KEY MD5 VERSION" after each close() that returned 0.
cat > "$WORK/writer.py" <<'PY'
import hashlib, os, random, sys
mnt, ack, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
log = os.open(ack, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
i = 0
while True:
    key = "r%d" % rnd.randrange(8)
    size = rnd.choice([1024, 4096, 65536, 200000, 1 << 20])
    block = hashlib.sha256(b"%d-%d" % (seed, i)).digest()
    data = (block * (size // len(block) + 1))[:size]
    md5 = hashlib.md5(data).hexdigest()
    p = os.path.join(mnt, key)
    os.write(log, b"try %s %s\n" % (key.encode(), md5.encode()))
    try:
        try:
            with open(p, "rb") as f:
                f.read(1)
        except FileNotFoundError:
            pass
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.close(fd)
        v = os.getxattr(p, "user.version").decode()
    except OSError:
        sys.exit(0)
    os.write(log, b"ack %s %s %s\n" % (key.encode(), md5.encode(), v.encode()))
    i += 1
PY

# The checker: every acknowledged commit is there, whole, at its version
# (or a later commit of the same key that was tried after it); versions
# never go back.  Prints problems; exit 1 if any.
cat > "$WORK/check.py" <<'PY'
import hashlib, os, sys, json
mnt, ack, state = sys.argv[1], sys.argv[2], sys.argv[3]
st = json.load(open(state)) if os.path.exists(state) else {"ver": {}, "ack": {}}
seen = st["ver"]
# The content each key was found with after the previous cycle carries
# over: a key tried but not acknowledged in this one may still hold it.
last_ack, tries_after, ack_ver = dict(st["ack"]), {}, {}
for line in open(ack):
    f = line.split()
    if len(f) < 3:
        continue
    if f[0] == "try":
        tries_after.setdefault(f[1], set()).add(f[2])
    elif f[0] == "ack" and len(f) == 4:
        last_ack[f[1]] = f[2]
        ack_ver[f[1]] = int(f[3])
        tries_after[f[1]] = set()
bad = 0
for key in sorted(set(last_ack) | set(tries_after)):
    p = os.path.join(mnt, key)
    try:
        data = open(p, "rb").read()
        v = int(os.getxattr(p, "user.version"))
    except FileNotFoundError:
        if key in last_ack:
            print("# %s: acknowledged but missing" % key); bad += 1
        continue
    md5 = hashlib.md5(data).hexdigest()
    ok = {last_ack.get(key)} | tries_after.get(key, set())
    if md5 not in ok:
        print("# %s: content %s is neither the last acknowledged commit "
              "nor one tried after it" % (key, md5)); bad += 1
    if key in ack_ver and v < ack_ver[key]:
        print("# %s: version %d below acknowledged %d" % (key, v, ack_ver[key])); bad += 1
    if v < seen.get(key, 0):
        print("# %s: version went back from %d to %d" % (key, seen[key], v)); bad += 1
    if md5 == last_ack.get(key) and key in ack_ver and v != ack_ver[key]:
        print("# %s: acknowledged at %d, found at %d" % (key, ack_ver[key], v)); bad += 1
    seen[key] = v
    # What was found (and checked) is the baseline of the next cycle: an
    # unacknowledged commit that landed is as good as an acknowledged one.
    st["ack"][key] = md5
json.dump(st, open(state, "w"))
sys.exit(1 if bad else 0)
PY

# ---- SIGKILL of the daemon at random moments ---------------------------
mount_fresh || exit 1
bad=0; acked=0
for c in $(seq "$CYCLES"); do
	: > "$WORK/ack"
	python3 "$WORK/writer.py" "$MNT" "$WORK/ack" "$c" &
	w=$!
	sleep "0.$((RANDOM % 4 + 1))$((RANDOM % 10))"
	kill -9 "$RECFS_PID"
	wait "$w" 2>/dev/null
	wait "$RECFS_PID" 2>/dev/null
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
	acked=$((acked + $(grep -c '^ack' "$WORK/ack")))
	mount_again || { bad=$((bad + 1)); break; }
	python3 "$WORK/check.py" "$MNT" "$WORK/ack" "$WORK/state.json" || bad=$((bad + 1))
done
expect_eq "$CYCLES SIGKILLs of the daemon mid-commit: every acknowledged commit whole at its version ($acked acknowledged)" 0 "$bad"
unmount # waits for the daemon to let go of the store
check "and the store passes fsck" "$RECCTL" fsck "$STORE"

# ---- Damage: refused with its place, or served read-only ----------------
# (a fresh store, whose first segment holds these 30 records: the kill
# cycles' store often began with segments of a header alone, 40 bytes,
# when the writer had committed nothing before the kill, and the byte
# flipped in the middle of the first was in its header: 'bad segment
# header at offset 0', nothing for -o ro to serve, 3 checks failed)
mount_fresh || exit 1
for i in $(seq 30); do printf 'record %d\n' "$i" > "$MNT/d$i"; done
unmount
# (and segments after it, as the kill cycles left: a bad header is
# damage only in a segment before the newest, below)
for i in 1 2; do
	mount_again || exit 1
	[ "$i" = 1 ] && echo later > "$MNT/later" # in a later segment
	unmount
done
seg=$(ls "$STORE"/*.seg | head -n 1)
size=$(stat -c %s "$seg")
cp -a "$STORE" "$WORK/good"
# flip one byte in the middle of the first segment (every bit of it: a
# write of 0xff left a byte that was 0xff already as it was, and the
# mount that followed succeeded)
off=$((size / 2))
python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1)[0]
    f.seek(int(sys.argv[2])); f.write(bytes([b ^ 0xff]))' "$seg" "$off"
# (timeout: a mount that is not refused must fail the check, not hang
# the run in the foreground daemon)
out=$(timeout 60 "$RECFS" "$STORE" "$MNT" -f 2>&1); rc=$?
expect_eq "a corrupt segment refuses the mount" 1 "$rc"
check "naming the segment and the offset ($out)" \
	has "$out" "$(basename "$seg")" "corrupt entry at offset"
check "and says what can be done" \
	has "$out" "'recctl fsck " "'-o ro' mounts what can be read"
where=$(echo "$out" | sed -n 's/.*offset \([0-9]*\).*/\1/p')
fsck_out=$("$RECCTL" fsck "$STORE" 2>&1); frc=$?
expect_eq "recctl fsck exits 1 on it" 1 "$frc"
check "and reports the same offset ($where)" has "$fsck_out" "offset $where"
check "without offering --repair for it" lacks "$fsck_out" "lets go of"
# (its counts stop at the damage: it exited 0 until 2026-12-07)
stats_out=$("$RECCTL" stats "$STORE" 2>&1); src=$?
expect_eq "recctl stats exits 1 on it" 1 "$src"
check "saying the counts stop at the damage" has "$stats_out" "is damaged" "recctl fsck"
mount_again ro || exit 1
check "-o ro serves what is before the damage" test -n "$(ls "$MNT")"
# and nothing after it, not even a later segment's record, which may
# depend on what was lost; --help and recctl(1) said it served "what is
# intact" (until 2026-12-07)
check "but not what comes after it" test ! -e "$MNT/later"
unmount
check "--help says so" bash -c "'$RECFS' --help | grep -- '-o ro' | grep -q 'before any damage'"
check "and recctl(1) says so" bash -c "! grep -q intact '$TESTS/../man/recctl.1' && grep -q 'comes before the damage' '$TESTS/../man/recctl.1'"
"$RECCTL" fsck --repair "$STORE" > /dev/null 2>&1
cmp -s "$seg" "$WORK/good/$(basename "$seg")"
expect_eq "fsck --repair does not 'repair' corruption" 1 "$?"

# a torn tail: cut the last segment inside its last entry
rm -rf "$STORE"; cp -a "$WORK/good" "$STORE"
last=$(ls "$STORE"/*.seg | tail -n 1)
# the newest non-empty segment
for s in $(ls -r "$STORE"/*.seg); do [ "$(stat -c %s "$s")" -gt 40 ] && { last=$s; break; }; done
rm -f "${last%.seg}.hint"
truncate -s $(( $(stat -c %s "$last") - 7 )) "$last"
"$RECCTL" fsck "$STORE" > "$WORK/fsck.out" 2>&1; frc=$?
expect_eq "fsck reports a torn tail (exit 1)" 1 "$frc"
check "as a torn tail" grep -q "torn tail" "$WORK/fsck.out"
mount_again || exit 1
check "a torn tail does not stop the mount" test -n "$(ls "$MNT")"
unmount
check "the daemon logged the cut" grep -q "cut torn tail" "$WORK/recfs.log"
"$RECCTL" fsck "$STORE" > /dev/null 2>&1
expect_eq "after the cut, fsck is clean" 0 "$?"

# a bad header in a segment before the newest: -o ro serves the segments
# before it, and must say so (until 2026-12-06 it mounted without a word,
# the later segments' records silently missing)
rm -rf "$STORE"; cp -a "$WORK/good" "$STORE"
mid=$(ls "$STORE"/*.seg | sed -n 2p)
printf 'X' | dd of="$mid" bs=1 seek=3 conv=notrunc 2>/dev/null
: > "$WORK/recfs.log"
mount_again ro || exit 1
unmount
check "-o ro past a bad segment header logs it, with the offset" \
	grep -q "$(basename "$mid"): bad segment header at offset 0" "$WORK/recfs.log"

# ---- A lost blob: refused read-write, salvaged by fsck --repair ----------
mount_fresh || exit 1
head -c 200000 /dev/urandom > "$WORK/big1"
head -c 300000 /dev/urandom > "$WORK/big2"
cp "$WORK/big1" "$MNT/big"
"$RECCTL" put --expect 1 "$MNT/big" < "$WORK/big2" # v2, its own blob
echo small > "$MNT/small"
unmount
newest=$(ls "$STORE"/blobs/ | sort | tail -n 1)
rm "$STORE/blobs/$newest"              # big v2's content is gone
out=$(timeout 60 "$RECFS" "$STORE" "$MNT" -f 2>&1); rc=$?
expect_eq "a lost blob refuses a read-write mount" 1 "$rc"
check "naming the blob and the version ($out)" \
	has "$out" "blobs/$newest: missing or wrong size for big version 2"
"$RECCTL" fsck "$STORE" > "$WORK/lost.out" 2>&1
expect_eq "recctl fsck exits 1 on it" 1 "$?"
check "and says that --repair lets go of it" grep -q "^recctl fsck --repair $STORE lets go of the versions whose blob is missing" "$WORK/lost.out"
check "as the refused mount did" \
	has "$out" "(recctl fsck --repair lets go of such versions)"
: > "$WORK/recfs.log"
mount_again ro || exit 1
unmount
check "-o ro serves the rest, and logs the lost blob (it said nothing before)" \
	grep -q "blobs/$newest: missing or wrong size for big version 2" "$WORK/recfs.log"
"$RECCTL" fsck --repair "$STORE" > "$WORK/repair.out" 2>&1; frc=$?
expect_eq "recctl fsck --repair salvages it (exit 0)" 0 "$frc"
check "saying what it let go of" grep -q "^big v2: content lost (blobs/$newest missing); the record is deleted (v3)" "$WORK/repair.out"
check "and the check after it is clean" grep -q ": clean$" "$WORK/repair.out"
mount_again || exit 1
expect_eq "the store mounts read-write again; the record is gone" "absent small" \
	"$([ -e "$MNT/big" ] && echo present || echo absent) $(cat "$MNT/small")"
check "its older version is kept in the history" cmp -s "$WORK/big1" <("$RECCTL" show "$MNT/big@1")
[ -e "$MNT/big" ] # this shell sees it gone: a basis for making it anew
echo again > "$MNT/big"
expect_eq "and it can be made anew, past the delete" 4 "$(ver "$MNT/big")"
unmount
"$RECCTL" fsck "$STORE" > /dev/null 2>&1
expect_eq "fsck is clean after" 0 "$?"

# ---- A byte flipped under a live mount: EIO, never the bytes ------------
# (store/read.c, "struct snap_check"; before 2026-12-06 the bytes were
# served, and an append or a rename copied them into a new version)
mount_fresh || exit 1
head -c 300000 /dev/urandom > "$WORK/rot"
cp "$WORK/rot" "$MNT/rot"
printf 'small %.0s' $(seq 1000) > "$MNT/rot2" # 6 KB: inline in the log
unmount
mount_again || exit 1  # (its bytes are no longer in the store's memory)
blob=$(ls "$STORE"/blobs/ | sort | tail -n 1)
# (each bit of the byte flipped: a fixed byte, 0x55, was already there
# in 1 run of 256, the file was unchanged, and every check below failed)
b=$(od -An -tu1 -j 150000 -N 1 "$STORE/blobs/$blob" | tr -d ' ')
printf "\\x$(printf %02x $((b ^ 255)))" |
	dd of="$STORE/blobs/$blob" bs=1 seek=150000 conv=notrunc status=none
seg=$(grep -l -a 'small small' "$STORE"/*.seg | tail -n 1)
off=$(grep -b -o -a 'small small' "$seg" | head -n 1 | cut -d: -f1)
printf 'X' | dd of="$seg" bs=1 seek=$((off + 3000)) conv=notrunc status=none
: > "$WORK/recfs.log"
expect_err "cat of a blob with a flipped byte fails" "Input/output error" \
	bash -c "cat '$MNT/rot' > /dev/null"
expect_err "cp of it fails" "Input/output error" cp "$MNT/rot" "$WORK/rot.copy"
# sendfile, splice and mmap read through the page cache, filled a
# request at a time (until 2026-12-07 unchecked: Python's
# shutil.copyfile copied the damaged bytes and succeeded)
expect_err "sendfile of it (Python's shutil.copyfile) fails" \
	"Input/output error" python3 -c 'import shutil, sys
shutil.copyfile(sys.argv[1], sys.argv[2])' "$MNT/rot" "$WORK/rot.sf"
expect_err "so does sendfile of the inline one" "Input/output error" \
	python3 -c 'import shutil, sys
shutil.copyfile(sys.argv[1], sys.argv[2])' "$MNT/rot2" "$WORK/rot2.sf"
check "a private mmap of it reads none of its bytes (SIGBUS)" bash -c \
	"exec 2>/dev/null; ! python3 -c 'import mmap, sys
f = open(sys.argv[1], \"rb\")
m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
sys.stdout.buffer.write(m[:])' '$MNT/rot' > '$WORK/rot.mm' 2>/dev/null"
expect_err "so does cat of an inline version" "Input/output error" \
	bash -c "cat '$MNT/rot2' > /dev/null"
check "the daemon log names the blob" grep -q "'rot' version 1 (blobs/$blob): the content does not match its hash" "$WORK/recfs.log"
check "and the segment" grep -q "'rot2' version 1 (segment .*): the content does not match its hash" "$WORK/recfs.log"
cat "$MNT/rot" > /dev/null 2>&1 # (a basis for the append)
expect_err "an append to it fails" "Input/output error" \
	bash -c "echo tail >> '$MNT/rot'"
setfattr -n user.expected_version -v 1 "$MNT/rot2"
expect_err "a rename of the inline one fails" "Input/output error" \
	mv "$MNT/rot2" "$MNT/rot3"
expect_eq "and neither made a version" "1 1 absent" \
	"$(ver "$MNT/rot") $(ver "$MNT/rot2") $([ -e "$MNT/rot3" ] && echo present || echo absent)"
unmount
"$RECCTL" fsck "$STORE" > "$WORK/rot.out" 2>&1
expect_eq "recctl fsck finds the damage (exit 1)" 1 "$?"


# A daemon killed while one of its threads waits inside the kernel: the
# entry invalidation of a directory whose lock a creator holds, waiting
# for an answer the dead daemon never gives.  The kernel ends a FUSE
# connection only when the daemon's descriptors close, which that thread
# prevents: the daemon, its store lock and the creators stayed for ever,
# `fusermount3 -u` was EBUSY and every new mount "in use by pid N" (until
# 2026-12-07).  A new daemon on the store now aborts that connection, as
# the kernel would have, and mounts.  The stuck state is a race: up to 8
# tries, each reached it 4 times in 5 here.
stuck=0
for round in 1 2 3 4 5 6 7 8; do
	mount_fresh unchecked,nouring || break
	inval_load || break
	sleep 1
	old=$RECFS_PID
	olddev=$(awk -v m="$MNT" '$5 == m { print $3 }' /proc/self/mountinfo)
	kill -9 "$old"
	sleep 0.5
	if [ "$(ls "/proc/$old/task" 2>/dev/null | wc -l)" -gt 1 ]; then
		stuck=$round
		: > "$WORK/recfs.log"
		mount_again unchecked,nouring
		# (mountpoint(1) saw the dead mount: wait for the new one)
		for _ in $(seq 200); do
			dev=$(awk -v m="$MNT" '$5 == m { print $3 }' /proc/self/mountinfo)
			grep -q "aborting its FUSE connection" "$WORK/recfs.log" &&
				[ -n "$dev" ] && ls "$MNT/d" > /dev/null 2>&1 && break
			sleep 0.05
		done
		check "a daemon killed while stuck in the kernel: a new one aborts its connection and mounts the store there" \
			grep -q "was killed while stuck in the kernel on its mount $MNT; aborting its FUSE connection ${olddev#*:}" "$WORK/recfs.log"
		expect_eq "the killed daemon is gone, and the new one serves every record" \
			"gone 3000" "$([ "$(ls "/proc/$old/task" 2>/dev/null | wc -l)" -le 1 ] && echo gone) $(ls "$MNT/d" | grep -c '^[0-9]*$')"
		kill "${BUSY[@]}" 2>/dev/null
		wait_gone=0
		for p in "${BUSY[@]}"; do
			for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
			kill -0 "$p" 2>/dev/null && wait_gone=1
		done
		expect_eq "and the creators it left hanging go on (and can be stopped)" 0 "$wait_gone"
		wait "${BUSY[@]}" 2>/dev/null
		unmount
		break
	fi
	kill "${BUSY[@]}" 2>/dev/null
	wait "${BUSY[@]}" 2>/dev/null
	fuse_abort "$MNT" # (not stuck: it went, or goes now)
	wait "$old" 2>/dev/null
	umount -l "$MNT" 2>/dev/null
done
[ "$stuck" = 0 ] && ok "a daemon killed while stuck in the kernel # SKIP the race was not won in 8 tries"

finish

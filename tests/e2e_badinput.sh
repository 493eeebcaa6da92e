#!/bin/bash
# End-to-end: bad input and misuse.  A table of cases, each a command with
# the exit status and the error text it must give: bad user.expected_version
# values, names too long, unsupported file types, a second mount of the same
# store, a busy or missing mountpoint, a store that is unreadable or a file,
# a store from a future format version, a client killed mid-write, an
# unmount while files are open, a client that never closes.  After every
# case a canary record written before the table must still have its
# content and version: no loss.  SHOW=1 prints each case's output.
. "$(dirname "$0")/lib_e2e.sh"

chmod 711 "$WORK"       # uid 65534 must reach its mountpoint below
mount_fresh || exit 1
CANARY=$MNT/canary
printf 'precious\n' > "$CANARY"
CANARY_V=$(ver "$CANARY")
printf 'record\n' > "$MNT/rec"
printf 'old\n' > "$MNT/held"
HELD_V=$(ver "$MNT/held")

N255=$(printf 'n%.0s' $(seq 255))
N256=$(printf 'n%.0s' $(seq 256))
D255=$(printf 'd%.0s' $(seq 255))

# ---- Helpers the table uses -------------------------------------------------
in_mnt() { (cd "$MNT" && eval "$1"); }

# bad_expect PYTHON-BYTES: declare 2 (valid), then try the bad value; the
# declaration must still read 2 afterwards (nothing declared by the bad one).
bad_expect() {
	(
		cd "$MNT" || exit 98
		setfattr -n user.expected_version -v 2 rec || exit 97
		python3 -c '
import os, sys
try:
    os.setxattr("rec", "user.expected_version", eval(sys.argv[1]))
except OSError as e:
    print(os.strerror(e.errno)); sys.exit(1)
print("accepted")' "$1"
		rc=$?
		now=$(getfattr --only-values -n user.expected_version rec 2>&1)
		[ "$now" = 2 ] || { echo "the declaration changed to '$now'"; exit 99; }
		exit $rc
	)
}

# absent PATH...: fail (99) if any exists.
absent() { for p; do [ -e "$p" ] || [ -L "$p" ] && { echo "$p was created"; return 99; }; done; return 0; }

# try_then_absent CMD PATH: run CMD in the mount; PATH must not exist after.
try_then_absent() {
	(cd "$MNT" && eval "$1"); local rc=$?
	(cd "$MNT" && absent "$2") || return 99
	return $rc
}

# A daemon run that must fail: RECFS STORE MNT, with a timeout in case it
# mounts after all; nothing may stay mounted.
recfs_fails() {
	timeout 10 "$RECFS" "$1" "$2" -f "${@:3}"; local rc=$?
	if mountpoint -q "$2" && [ "$2" != "$MNT" ]; then
		echo "it mounted"; fusermount3 -u "$2"; return 99
	fi
	return $rc
}

# The same run as uid 65534 (cannot mount here: /dev/fuse is root's; the
# store is opened first, so its error comes before any mount attempt).
recfs_as_nobody() {
	timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups "$RECFS" "$1" "$2" -f
}

sha() { sha256sum "$1" | cut -c1-64; }

# A mount of a store on the 4 MiB tmpfs: a write, then the daemon's log.
small_fs() {
	local m=$WORK/mnt.small pid
	mkdir -p "$m"
	"$RECFS" "$WORK/tmpfs.small/store" "$m" -f 2> "$WORK/small.log" &
	pid=$!
	for _ in $(seq 100); do mountpoint -q "$m" && break; sleep 0.05; done
	(cd "$m" && echo x > rec) 2>&1
	fusermount3 -u "$m"; wait "$pid"
	cat "$WORK/small.log"
}

# A well-formed ACL (the kernel itself refuses a malformed one with EINVAL).
export SET_ACL='
import os, struct, sys
acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, 0xffffffff)
                                      for t, p in ((1, 6), (4, 4), (0x20, 4)))
try:
    os.setxattr("rec", "system.posix_acl_access", acl)
except OSError as e:
    print(os.strerror(e.errno)); sys.exit(1)'

# ---- Fixtures -----------------------------------------------------------------
mkdir -p "$WORK/mnt.spare" "$WORK/pub/mnt"
chmod 777 "$WORK/pub"
echo "not a store" > "$WORK/storefile"
STOREFILE_SHA=$(sha "$WORK/storefile")
touch "$WORK/mntfile"
# unreadable stores for uid 65534
mkdir -m 0300 "$WORK/pub/noread"; chown 65534:65534 "$WORK/pub/noread"
mkdir -m 0700 "$WORK/pub/rootonly"
mkdir "$WORK/pub/ro"; cp -a "$STORE/." "$WORK/pub/ro/" 2>/dev/null; chmod -R a+rX,go-w "$WORK/pub/ro"
RO_LIST=$(cd "$WORK/pub/ro" && find . | sort | sha256sum)
# Stores with a symlink where the daemon writes or removes: LOCK (its
# pid was written over the file it names), RESERVE (that file grew to
# 8 MiB) and spool/ (the open removed every file in the directory).
echo "not the daemon's" > "$WORK/victim"
VICTIM_SHA=$(sha "$WORK/victim")
mkdir -p "$WORK/userdir"
echo mine > "$WORK/userdir/file"
for s in symlock symres symspool; do cp -a "$WORK/pub/ro" "$WORK/store.$s"; done
ln -sf "$WORK/victim" "$WORK/store.symlock/LOCK"
rm -f "$WORK/store.symres/RESERVE"; ln -s "$WORK/victim" "$WORK/store.symres/RESERVE"
rm -rf "$WORK/store.symspool/spool"; ln -s "$WORK/userdir" "$WORK/store.symspool/spool"
# A filesystem smaller than the reserve (8 MiB).
mkdir "$WORK/tmpfs.small"
mount -t tmpfs -o size=4m tmpfs "$WORK/tmpfs.small" ||
	echo "# cannot mount a tmpfs"
# The same store on a read-only filesystem (a read-only bind mount; its
# name is one cleanup unmounts).
mkdir "$WORK/tmpfs.rostore"
{ mount --bind "$WORK/pub/ro" "$WORK/tmpfs.rostore" &&
	mount -o remount,bind,ro "$WORK/tmpfs.rostore"; } ||
	echo "# cannot make a read-only bind mount"
mkdir -m 0755 "$WORK/pub/nowrite"
# A directory of other files, named as a store by mistake: opening it
# removed its *.tmp files and everything in its spool/.
mkdir -p "$WORK/notastore/spool" "$WORK/emptydir"
echo notes > "$WORK/notastore/notes.tmp"
echo draft > "$WORK/notastore/spool/draft"
echo keep > "$WORK/notastore/README"
tree_sum() { (cd "$1" && find . | sort && find . -type f | sort | xargs cat) | sha256sum; }
NOTASTORE_SUM=$(tree_sum "$WORK/notastore")
RECCTL=$(dirname "$RECFS")/recctl

# A store whose first segment is from a future format (2).
cat > "$WORK/xxh3hdr.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <xxhash.h>
/* xxh3hdr FILE VERSION: set a segment header's format version (bytes
 * 8..11, big-endian) and re-seal its checksum (bytes 32..39, XXH3-64 of
 * bytes 0..31, big-endian). */
int main(int argc, char **argv)
{
	unsigned char h[40];
	FILE *f = argc == 3 ? fopen(argv[1], "r+b") : NULL;
	uint32_t v;
	uint64_t x;
	if (!f || fread(h, 1, 40, f) != 40)
		return 2;
	v = (uint32_t)strtoul(argv[2], NULL, 10);
	for (int i = 0; i < 4; i++)
		h[8 + i] = (unsigned char)(v >> (24 - 8 * i));
	x = XXH3_64bits(h, 32);
	for (int i = 0; i < 8; i++)
		h[32 + i] = (unsigned char)(x >> (56 - 8 * i));
	if (fseek(f, 0, SEEK_SET) || fwrite(h, 1, 40, f) != 40 || fclose(f))
		return 3;
	return 0;
}
C
FUT=$WORK/store.future
FUTM=$WORK/mnt.future
mkdir -p "$FUTM"
XXH3HDR=$WORK/xxh3hdr
cc -O1 -o "$XXH3HDR" "$WORK/xxh3hdr.c" -lxxhash 2>/dev/null ||
	cc -O1 -DXXH_INLINE_ALL -o "$XXH3HDR" "$WORK/xxh3hdr.c"
"$RECFS" "$FUT" "$FUTM" -f 2>>"$WORK/recfs.log" &
fpid=$!
PIDS+=("$fpid")
for _ in $(seq 100); do mountpoint -q "$FUTM" && break; sleep 0.05; done
printf 'from the past\n' > "$FUTM/old"
FUT_HASH=$(hash_of "$FUTM/old")
fusermount3 -u "$FUTM"; wait "$fpid"
FUTSEG=$(ls "$FUT"/*.seg | head -n 1)
"$XXH3HDR" "$FUTSEG" 1 && FUT_V1_SHA=$(sha "$FUTSEG")
"$XXH3HDR" "$FUTSEG" 2 || echo "# cannot patch $FUTSEG"
FUT_SHA=$(sha "$FUTSEG")

# ---- Scenario steps (run in this shell: they remount) ----------------------------

# A writer that reads, opens O_TRUNC, writes 1 MB and is then killed -9.
killed_writer() {
	(cd "$MNT" && head -c 300000 /dev/urandom > victim)
	local before vb pid
	before=$(hash_of "$MNT/victim"); vb=$(ver "$MNT/victim")
	rm -f "$WORK/ready"
	python3 - "$MNT/victim" "$WORK/ready" <<'PY' &
import os, sys, time
open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
for _ in range(16):
    os.write(fd, os.urandom(65536))
open(sys.argv[2], "w").close()
time.sleep(30)
PY
	pid=$!
	for _ in $(seq 100); do [ -e "$WORK/ready" ] && break; sleep 0.05; done
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	sleep 0.3
	[ "$(hash_of "$MNT/victim")" = "$before" ] && echo -n "hash=same " || echo -n "hash=changed "
	[ "$(ver "$MNT/victim")" = "$vb" ] && echo -n "version=same " || echo -n "version=changed "
	(cd "$MNT" && cat victim > /dev/null && printf after > victim) && echo "next=$(cat "$MNT/victim")"
}

# A process holds a file open: fusermount3 -u fails busy; after it closes,
# the unmount works, the daemon exits 0, and a remount has everything.
busy_unmount() {
	local pid out
	rm -f "$WORK/ready" "$WORK/release"
	python3 - "$MNT/rec" "$WORK/ready" "$WORK/release" <<'PY' &
import os, sys, time
f = open(sys.argv[1], "rb")
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
f.close()
PY
	pid=$!
	for _ in $(seq 100); do [ -e "$WORK/ready" ] && break; sleep 0.05; done
	out=$(fusermount3 -u "$MNT" 2>&1) && { echo "unmounted while open"; return 99; }
	echo "$out"
	mountpoint -q "$MNT" || { echo "the mount is gone"; return 99; }
	touch "$WORK/release"; wait "$pid"
	unmount
	[ "$RECFS_RC" = 0 ] || { echo "daemon exit $RECFS_RC"; return 99; }
	mount_again || return 98
	echo "remounted: $(cat "$MNT/rec")"
}

# A process holds an O_WRONLY fd with written data and never closes:
# other writers get EBUSY, readers see the old content; SIGTERM to the
# daemon drops the change and logs it; a remount has the old content.
never_closes() {
	local pid
	rm -f "$WORK/ready"
	python3 - "$MNT/held" "$WORK/ready" <<'PY' 2>/dev/null &
import os, sys, time
open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"never committed\n")
open(sys.argv[2], "w").close()
time.sleep(60)
PY
	pid=$!
	PIDS+=("$pid")
	for _ in $(seq 100); do [ -e "$WORK/ready" ] && break; sleep 0.05; done
	echo "other writer: $( (cd "$MNT" && cat held > /dev/null && echo new > held) 2>&1 | sed 's/.*: //')"
	echo "reader: $(cat "$MNT/held")"
	kill -TERM "$RECFS_PID"; wait "$RECFS_PID"; echo "daemon exit: $?"
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	grep -o "dropped the uncommitted change of 'held'.*" "$WORK/recfs.log" | tail -n 1
	mount_again || return 98
	echo "after remount: $(cat "$MNT/held") version $(ver "$MNT/held")"
}

if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -w /dev/fuse; then
	echo "# note: uid 65534 cannot open /dev/fuse here, so its cases check the store error only"
fi

# ---- The table ------------------------------------------------------------------
# description | command | exit status ("!0": any failure) | text in its output
# A command runs in a subshell, from /; one that starts with @ runs in this
# shell (it unmounts and remounts).
CASES=(
	# bad user.expected_version values: EINVAL, nothing declared
	"expected_version '' (empty)"            "bad_expect \"b''\""                      1 "Invalid argument"
	"expected_version '\\n' (only a newline)" "bad_expect \"b'\\\\n'\""                1 "Invalid argument"
	"expected_version '-1'"                  "bad_expect \"b'-1'\""                    1 "Invalid argument"
	"expected_version '+1'"                  "bad_expect \"b'+1'\""                    1 "Invalid argument"
	"expected_version '-0'"                  "bad_expect \"b'-0'\""                    1 "Invalid argument"
	"expected_version ' 3' (leading space)"  "bad_expect \"b' 3'\""                    1 "Invalid argument"
	"expected_version '3 ' (trailing space)" "bad_expect \"b'3 '\""                    1 "Invalid argument"
	"expected_version '3\\t'"                "bad_expect \"b'3\\\\t'\""                1 "Invalid argument"
	"expected_version '0x3' (hex)"           "bad_expect \"b'0x3'\""                   1 "Invalid argument"
	"expected_version '9223372036854775808' (2^63)" "bad_expect \"b'9223372036854775808'\"" 1 "Invalid argument"
	"expected_version '18446744073709551617' (wraps 2^64)" "bad_expect \"b'18446744073709551617'\"" 1 "Invalid argument"
	"expected_version '99999999999999999999'" "bad_expect \"b'99999999999999999999'\"" 1 "Invalid argument"
	"expected_version '1e3'"                 "bad_expect \"b'1e3'\""                   1 "Invalid argument"
	"expected_version '3.0'"                 "bad_expect \"b'3.0'\""                   1 "Invalid argument"
	"expected_version '３' (fullwidth digit)" "bad_expect \"'\\uff13'.encode()\""      1 "Invalid argument"
	"expected_version '٣' (Arabic-Indic digit)" "bad_expect \"'\\u0663'.encode()\""    1 "Invalid argument"
	"expected_version '3<NUL>4' (NUL inside)" "bad_expect \"b'3\\\\x004'\""            1 "Invalid argument"
	"expected_version '<NUL>3' (leading NUL)" "bad_expect \"b'\\\\x003'\""             1 "Invalid argument"
	"expected_version '3\\n\\n' (two newlines)" "bad_expect \"b'3\\\\n\\\\n'\""        1 "Invalid argument"
	# user.recfs.unchecked: "1" marks a directory, "0" does not; any other
	# value did nothing, silently
	"user.recfs.unchecked 'yes' on a directory" 'in_mnt "mkdir -p ud && setfattr -n user.recfs.unchecked -v yes ud; rc=\$?; getfattr -n user.recfs.unchecked ud > /dev/null 2>&1 && { echo stored; exit 99; }; exit \$rc"' 1 "Invalid argument"
	"user.recfs.unchecked '' on a directory"    'in_mnt "setfattr -n user.recfs.unchecked -v \"\" ud"' 1 "Invalid argument"
	"user.recfs.unchecked '1' and '0' are fine" 'in_mnt "setfattr -n user.recfs.unchecked -v 1 ud && setfattr -n user.recfs.unchecked -v 0 ud && rmdir ud"' 0 ""
	# on a record it marked nothing, silently (until 2026-12-07)
	"user.recfs.unchecked '1' on a record"      'in_mnt "setfattr -n user.recfs.unchecked -v 1 rec; rc=\$?; getfattr -n user.recfs.unchecked rec > /dev/null 2>&1 && { echo stored; exit 99; }; exit \$rc"' 1 "Not a directory"
	# names too long
	"create a 256-byte name"                 'try_then_absent "echo x > $N256" $N256'  1 "File name too long"
	"mkdir a 256-byte name"                  'try_then_absent "mkdir $N256" $N256'     1 "File name too long"
	"symlink to a 256-byte name"             'try_then_absent "ln -s rec $N256" $N256' 1 "File name too long"
	"rename onto a 256-byte name"            'try_then_absent "echo t > tmp1 && mv tmp1 $N256" $N256' 1 "File name too long"
	"a 255-byte name is fine"                'in_mnt "echo x > $N255 && rm $N255"'     0 ""
	"a root name that begins with \\x01 (the history's own keys do)" 'try_then_absent "echo x > \$(printf \"\\001R\")" "\$(printf \"\\001R\")"' 1 "Invalid argument"
	"and the history is still a directory"  'in_mnt "test -d .recfs/history"'        0 ""
	"a name with \\x01 in a directory is fine" 'in_mnt "mkdir -p sub1 && echo x > sub1/\$(printf \"\\001R\") && rm -r sub1"' 0 ""
	"a key over 4095 bytes (17 nested 255-byte dirs)" 'in_mnt "for i in \$(seq 17); do mkdir $D255 && cd $D255 || exit 1; done"' 1 "File name too long"
	"and the 16 levels that fit can be removed"      'in_mnt "rm -rf $D255 && ! test -e $D255"' 0 ""
	# unsupported file types and misuse
	"mkfifo"                                 'try_then_absent "mkfifo fifo" fifo'       1 "Operation not permitted"
	"mknod of a character device"            'try_then_absent "mknod dev c 1 3" dev'    1 "Operation not permitted"
	"mknod of a block device"                'try_then_absent "mknod blk b 7 0" blk'    1 "Operation not permitted"
	"bind of a unix socket"                  "try_then_absent \"python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\\\"sock\\\")'\" sock" 1 "Operation not permitted"
	"hard link"                              'try_then_absent "ln rec hard" hard'       1 "Operation not permitted"
	"setxattr system.posix_acl_access (a valid ACL)" 'in_mnt "python3 -c \"\$SET_ACL\""' 1 "Operation not supported"
	"setxattr trusted.x"                     'in_mnt "setfattr -n trusted.x -v 1 rec"'  1 "Operation not supported"
	"getxattr security.capability"           'in_mnt "getfattr -n security.capability rec"' 1 "No such attribute"
	"getxattr system.posix_acl_access"       'in_mnt "getfattr -n system.posix_acl_access rec"' 1 "Operation not supported"
	"write into .recfs/history"              'in_mnt "echo x > .recfs/history/rec/1"'   1 "Read-only file system"
	"writable shared mmap"                   "in_mnt \"python3 -c 'import mmap; f=open(\\\"rec\\\",\\\"r+b\\\"); mmap.mmap(f.fileno(),0,mmap.MAP_SHARED)'\"" 1 "No such device"
	"a blind overwrite of the canary"        "blind 'echo lost > canary'"              1 "Operation not permitted"
	"a blind delete of the canary"           "blind 'rm -f canary'"                    1 "Operation not permitted"
	# the daemon: stores and mountpoints
	"a second mount of the same store"       'recfs_fails "$STORE" "$WORK/mnt.spare"'  1 "in use by pid"
	"a mountpoint that is already a mount"   'recfs_fails "$WORK/store.busy" "$MNT"; rc=$?; absent "$WORK/store.busy" || exit 99; exit $rc' 1 "already a mount point"
	"a missing mountpoint"                   'recfs_fails "$WORK/store.nomnt" "$WORK/no-such-dir"; rc=$?; absent "$WORK/store.nomnt" || exit 99; exit $rc' "!0" "No such file or directory"
	"a mountpoint that is a regular file"    'recfs_fails "$WORK/store.mntfile" "$WORK/mntfile"; rc=$?; absent "$WORK/store.mntfile" || exit 99; exit $rc' 1 "ot a directory"
	"a store path that is a regular file"    'recfs_fails "$WORK/storefile" "$WORK/mnt.spare"; rc=$?; [ "$(sha "$WORK/storefile")" = "$STOREFILE_SHA" ] || exit 99; exit $rc' 1 "not a directory"
	"a store under a missing directory"      'recfs_fails "$WORK/no/such/store" "$WORK/mnt.spare"; rc=$?; absent "$WORK/no" || exit 99; exit $rc' 1 "No such file or directory"
	"uid 65534: a store dir without read permission" 'recfs_as_nobody "$WORK/pub/noread" "$WORK/pub/mnt"; rc=$?; [ -z "$(ls -A "$WORK/pub/noread")" ] || exit 99; exit $rc' 1 "Permission denied"
	"uid 65534: a store dir of another user, mode 0700" 'recfs_as_nobody "$WORK/pub/rootonly" "$WORK/pub/mnt"; rc=$?; [ -z "$(ls -A "$WORK/pub/rootonly")" ] || exit 99; exit $rc' 1 "Permission denied"
	"uid 65534: a store readable but not writable" 'recfs_as_nobody "$WORK/pub/ro" "$WORK/pub/mnt"; rc=$?; [ "$(cd "$WORK/pub/ro" && find . | sort | sha256sum)" = "$RO_LIST" ] || exit 99; exit $rc' 1 "Permission denied"
	"uid 65534: a new store in a directory it cannot write" 'recfs_as_nobody "$WORK/pub/nowrite/store" "$WORK/pub/mnt"; rc=$?; absent "$WORK/pub/nowrite/store" || exit 99; exit $rc' 1 "Permission denied"
	"a store path that is a directory of other files" 'recfs_fails "$WORK/notastore" "$WORK/mnt.spare"; rc=$?; [ "$(tree_sum "$WORK/notastore")" = "$NOTASTORE_SUM" ] || { echo its files changed; exit 99; }; exit $rc' 1 "is not a store: it holds"
	"the same read-only (it mounted as an empty store until 2026-12-07)" 'recfs_fails "$WORK/notastore" "$WORK/mnt.spare" -o ro; rc=$?; [ "$(tree_sum "$WORK/notastore")" = "$NOTASTORE_SUM" ] || { echo its files changed; exit 99; }; exit $rc' 1 "is not a store: it holds"
	"recctl compact of a directory of other files" '"$RECCTL" compact "$WORK/notastore"; rc=$?; [ "$(tree_sum "$WORK/notastore")" = "$NOTASTORE_SUM" ] || { echo its files changed; exit 99; }; exit $rc' 1 "neither a recfs mount nor a store"
	"recctl compact of an empty directory (an unmounted mountpoint)" '"$RECCTL" compact "$WORK/emptydir"; rc=$?; [ -z "$(ls -A "$WORK/emptydir")" ] || { echo it became a store; exit 99; }; exit $rc' 1 "neither a recfs mount nor a store"
	"a store on a read-only filesystem says what to do" 'recfs_fails "$WORK/tmpfs.rostore" "$WORK/mnt.spare"; rc=$?; [ "$(cd "$WORK/pub/ro" && find . | sort | sha256sum)" = "$RO_LIST" ] || exit 99; exit $rc' 1 "'-o ro' mounts it read-only"
	"a new store on a read-only filesystem: no '-o ro' advice, there is nothing to mount (until 2026-12-07)" 'out=$(recfs_fails "$WORK/tmpfs.rostore/new" "$WORK/mnt.spare" 2>&1); rc=$?; echo "$out"; [[ $out != *"-o ro"* ]] || exit 98; exit $rc' 1 "cannot create $WORK/tmpfs.rostore/new: Read-only file system"
	"a store whose LOCK is a symlink"         'recfs_fails "$WORK/store.symlock" "$WORK/mnt.spare"; rc=$?; [ "$(sha "$WORK/victim")" = "$VICTIM_SHA" ] || { echo the file it names changed; exit 99; }; exit $rc' 1 "LOCK: a symbolic link, not followed"
	"a store whose spool/ is a symlink"      'recfs_fails "$WORK/store.symspool" "$WORK/mnt.spare"; rc=$?; [ "$(cat "$WORK/userdir/file" 2>&1)" = mine ] || { echo the directory it names was emptied; exit 99; }; exit $rc' 1 "cannot open spool/: a symbolic link, not followed"
	"a store whose RESERVE is a symlink mounts, says so, and leaves the file" '"$RECFS" "$WORK/store.symres" "$WORK/mnt.spare" -f & p=$!; for _ in $(seq 100); do mountpoint -q "$WORK/mnt.spare" && break; sleep 0.05; done; fusermount3 -u "$WORK/mnt.spare"; wait $p; rc=$?; [ "$(sha "$WORK/victim")" = "$VICTIM_SHA" ] || { echo the file it names changed; exit 99; }; exit $rc' 0 "cannot make the reserve $WORK/store.symres/RESERVE: a symbolic link, not followed"
	"a store on a filesystem too small for its reserve says so" 'small_fs' 0 "no room for the reserve"
	"a store whose segment has a future format version" 'recfs_fails "$FUT" "$FUTM"; rc=$?; [ "$(sha "$FUTSEG")" = "$FUT_SHA" ] || { echo segment changed; exit 99; }; exit $rc' 1 "$(basename "$FUTSEG"): future format"
	# clients
	"a client killed -9 mid-write"            'killed_writer'                           0 "hash=same version=same next=after"
	"an unmount while a file is open"         '@busy_unmount'                            0 "Device or resource busy"
	"and the unmount after it closes keeps everything" 'echo "remounted: $(cat "$MNT/rec")"' 0 "remounted: record"
	"a client that never closes: others get EBUSY" '@never_closes > "$WORK/never.out" 2>&1; cat "$WORK/never.out"' 0 "other writer: Device or resource busy"
	"a client that never closes: readers see the old content" 'cat "$WORK/never.out"' 0 "reader: old"
	"a client that never closes: SIGTERM exits 0"  'cat "$WORK/never.out"'         0 "daemon exit: 0"
	"a client that never closes: the dropped change is logged" 'cat "$WORK/never.out"' 0 "dropped the uncommitted change of 'held' by pid"
	"a client that never closes: after remount, the old content and version" 'cat "$WORK/never.out"' 0 "after remount: old version $HELD_V"
)

for ((i = 0; i < ${#CASES[@]}; i += 4)); do
	desc=${CASES[i]} cmd=${CASES[i + 1]} want=${CASES[i + 2]} text=${CASES[i + 3]}
	# mounts of one etcd prefix share it on purpose
	[ "$desc" = "a second mount of the same store" ] && ! local_only && continue
	cd / || exit 1
	if [[ $cmd == @* ]]; then
		eval "${cmd#@}" > "$WORK/case.out" 2>&1 < /dev/null
	else
		(eval "$cmd") > "$WORK/case.out" 2>&1 < /dev/null
	fi
	rc=$?
	out=$(tr '\n' ' ' < "$WORK/case.out" | cut -c1-300)
	if [ "$want" = "!0" ]; then good=$([ "$rc" -ne 0 ] && echo y); else good=$([ "$rc" = "$want" ] && echo y); fi
	if [ -z "$good" ]; then
		fail "$desc: exit $rc, expected $want ($out)"
	elif [ -n "$text" ] && ! grep -qF -- "$text" "$WORK/case.out"; then
		fail "$desc: expected '$text' in the output, got '$out'"
	else
		ok "$desc: exit $rc${text:+, \"$text\"}"; [ -n "$SHOW" ] && sed "s/^/#   /" "$WORK/case.out"
	fi
	# No loss: the canary still has its content and its version.
	if ! mountpoint -q "$MNT"; then
		fail "after '$desc': the mount is gone"
		mount_again || exit 1
	fi
	c=$(cat "$CANARY" 2>&1) cv=$(ver "$CANARY")
	if [ "$c" = precious ] && [ "$cv" = "$CANARY_V" ]; then
		ok "  no loss after '$desc'"
	else
		fail "  no loss after '$desc': canary '$c' version '$cv' (expected precious, $CANARY_V)"
	fi
done

# The future-format store was refused, not damaged: with its header put
# back to version 1 it mounts and has its record.
"$XXH3HDR" "$FUTSEG" 1
expect_eq "the future-format segment is byte-identical after the header is restored" \
	"$FUT_V1_SHA" "$(sha "$FUTSEG")"
"$RECFS" "$FUT" "$FUTM" -f 2>>"$WORK/recfs.log" &
fpid=$!
PIDS+=("$fpid")
for _ in $(seq 100); do mountpoint -q "$FUTM" && break; sleep 0.05; done
expect_eq "and its record is all there" "$FUT_HASH" "$(hash_of "$FUTM/old")"
fusermount3 -u "$FUTM"; wait "$fpid"

cd /
unmount
expect_eq "the daemon exits 0 at the end" 0 "$RECFS_RC"
finish

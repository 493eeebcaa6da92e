#!/bin/sh
# make run: mount a store and show what to try.  Usage: run.sh STORE MNT
set -e
BUILD=${BUILD:-build}
STORE=${1:-./data}
MNT=${2:-./mnt}
# A dead mount (its daemon was killed) fails mkdir -p with ENOTCONN and
# no way out named; recfs below names it (fusermount3 -u), so let it.
case $(LC_ALL=C stat "$MNT" 2>&1) in
*"not connected"*) ;;
*) mkdir -p "$MNT" ;;
esac
# FUSE over io_uring is off by default in the kernel; recfs uses it when
# offered (a round trip is much cheaper), so offer it when we may.
UP=/sys/module/fuse/parameters/enable_uring
[ -w "$UP" ] && [ "$(cat "$UP")" = N ] && echo Y > "$UP"
if mountpoint -q "$MNT"; then
	echo "recfs: $MNT is already mounted (unmount: make unmount MNT=$MNT)"
else
	"$BUILD/recfs" "$STORE" "$MNT"
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		mountpoint -q "$MNT" && break
		sleep 0.2
	done
	mountpoint -q "$MNT" || { echo "recfs: mount failed" >&2; exit 1; }
fi
[ -e "$MNT/hello.txt" ] || printf 'hello, recfs\n' > "$MNT/hello.txt"
mkdir -p "$MNT/notes"
[ -e "$MNT/notes/todo.txt" ] || printf 'buy milk\n' > "$MNT/notes/todo.txt"
cat <<MSG

recfs: store $STORE is mounted on $MNT, with two records:
  $MNT/hello.txt  $MNT/notes/todo.txt

Try next:
  getfattr -n user.version $MNT/hello.txt                 # its version: 1
  setfattr -n user.expected_version -v 1 $MNT/hello.txt   # "my change is based on 1"
  echo 'hello again' > $MNT/hello.txt                     # accepted: version 2
  setfattr -n user.expected_version -v 1 $MNT/hello.txt   # based on 1 again...
  echo 'stale' > $MNT/hello.txt                           # refused: Resource temporarily unavailable
  \${EDITOR:-vi} $MNT/notes/todo.txt                       # editors need no extra step

Unmount:  make unmount MNT=$MNT   (or: fusermount3 -u $MNT)
MSG

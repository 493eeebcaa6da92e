#!/bin/sh
# Run every unit test binary in $BUILD/tests and every tests/e2e_*.sh,
# sum cmocka's counts and close with "N passed, N failed".
BUILD=${BUILD:-build}
passed=0; failed=0; log=$(mktemp)
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d|*.o) continue ;; esac
	echo "== $t"
	"$t" >"$log" 2>&1; rc=$?
	cat "$log"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "!! $t exited $rc"; fi
	passed=$((passed + p)); failed=$((failed + f))
done
# recfs uses FUSE over io_uring where the kernel offers it (fs/uring.h);
# offer it for the mounts below when we may (root), as make run does, so
# that every e2e script runs over the ring.  tests/e2e_uring.sh covers
# /dev/fuse.  Restored at the end.
UP=/sys/module/fuse/parameters/enable_uring
UP_OLD=$(cat "$UP" 2>/dev/null)
[ -w "$UP" ] && echo Y > "$UP"
echo "# fuse over io_uring offered: $(cat "$UP" 2>/dev/null || echo no)"
for t in tests/e2e_*.sh; do
	[ -f "$t" ] || continue
	echo "== $t"
	BUILD="$BUILD" bash "$t" >"$log" 2>&1; rc=$?
	cat "$log"
	p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "!! $t exited $rc"; fi
	passed=$((passed + p)); failed=$((failed + f))
done
rm -f "$log"
[ -n "$UP_OLD" ] && [ -w "$UP" ] && echo "$UP_OLD" > "$UP"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

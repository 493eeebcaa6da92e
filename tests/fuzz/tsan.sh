#!/bin/sh
# tsan.sh BUILD TEST... - `make tsan`: run store unit tests built with
# -fsanitize=thread; report each test's cmocka result and ThreadSanitizer
# warnings.  Exit 1 if a test fails or any race is reported.
set -u
build=$1; shift
logdir=$build/tsan-logs
mkdir -p "$logdir"
# history_size: the store's tests are long; a larger history keeps the
# "previous access" stacks that make a race report actionable.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0 history_size=4 second_deadlock_stack=1 exitcode=66}"
# Kernels with 32 bits of mmap randomness break older TSan runtimes'
# memory layout; without ASLR the runtime always starts.
norand=""
if command -v setarch >/dev/null && setarch "$(uname -m)" -R true 2>/dev/null; then
	norand="setarch $(uname -m) -R"
fi
fail=0 races=0
for t in "$@"; do
	log=$logdir/$t.log
	start=$(date +%s)
	$norand "$build/tests/$t" >"$log" 2>&1
	rc=$?
	n=$(grep -c '^WARNING: ThreadSanitizer' "$log")
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log")
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log")
	printf '%-18s exit %3d  passed %3s  failed %3s  tsan warnings %3d  %4ds\n' \
		"$t" "$rc" "${p:-?}" "${f:-0}" "$n" $(($(date +%s) - start))
	races=$((races + n))
	if [ "$rc" -ne 0 ] || [ "$n" -ne 0 ]; then
		fail=1
		grep -A12 '^WARNING: ThreadSanitizer' "$log" | head -60
		grep '^SUMMARY: ThreadSanitizer' "$log" | sort | uniq -c
	fi
done
echo "tsan: $races warnings (logs in $logdir)"
exit "$fail"

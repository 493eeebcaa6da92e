#!/bin/sh
# run.sh BINDIR SECONDS TARGET... - `make fuzz`.  For each target: replay
# tests/fuzz/regress/TARGET/* (every crash found so far must stay fixed),
# then fuzz for SECONDS from a scratch copy of tests/fuzz/corpus/TARGET
# (libFuzzer adds to its corpus directory; the repository stays as is).
# A crash input is kept in BINDIR/artifacts/; make it a regression test
# by moving it to tests/fuzz/regress/TARGET/.  Exit 1 on any crash.
set -u
bin=$1; secs=$2; shift 2
scratch=$(mktemp -d /tmp/recfs-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT INT TERM
mkdir -p "$bin/artifacts"
fail=0
printf '%-13s %8s %10s %7s %6s %6s  %s\n' target regress execs exec/s cov ft result
for t in "$@"; do
	log=$scratch/$t.log
	reg=tests/fuzz/regress/$t
	nreg=0 res=ok
	if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
		nreg=$(ls -A "$reg" | wc -l)
		if ! "$bin/$t" -timeout=10 "$reg"/* >"$log" 2>&1; then
			echo "== $t: a regression input crashes again:"
			tail -40 "$log"
			fail=1
			printf '%-13s %8s %10s %7s %6s %6s  %s\n' "$t" \
				"$nreg" - - - - "REGRESSION"
			continue
		fi
	fi
	mkdir -p "$scratch/$t"
	cp tests/fuzz/corpus/"$t"/* "$scratch/$t/"
	"$bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$bin/artifacts/$t-" \
		"$scratch/$t" >"$log" 2>&1 || {
		echo "== $t: crash (input kept in $bin/artifacts/):"
		grep -E 'CHECK failed|ERROR: |SUMMARY|runtime error|Test unit written' \
			"$log" | head -20
		fail=1 res=CRASH
	}
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -E '^#[0-9]+' "$log" | grep -o 'cov: [0-9]*' | tail -1 | cut -d' ' -f2)
	ft=$(grep -E '^#[0-9]+' "$log" | grep -o 'ft: [0-9]*' | tail -1 | cut -d' ' -f2)
	printf '%-13s %8s %10s %7s %6s %6s  %s\n' "$t" "$nreg" "${execs:--}" \
		"${rate:--}" "${cov:--}" "${ft:--}" "$res"
done
[ "$fail" -eq 0 ] && echo "fuzz: no crashes" || echo "fuzz: FAILED"
exit "$fail"

#!/bin/bash
# End-to-end: the lost-update race at scale through a real mount.
# SCALE_PROCS x SCALE_INCRS (16 x 500) increments of one record, then of
# one record each; no update may be lost, versions move once per commit.
. "$(dirname "$0")/lib_e2e.sh"

P=${SCALE_PROCS:-16}
N=${SCALE_INCRS:-500}
cat > "$WORK/incr.py" <<'PY'
import errno, os, random, sys, time
p, n = sys.argv[1], int(sys.argv[2])
ok = refused = 0
while ok < n:
    try:
        v = os.getxattr(p, "user.version")
        with open(p, "rb") as f:
            data = f.read()
        if os.getxattr(p, "user.version") != v:
            continue  # read version, content, version: whole or retry
        os.setxattr(p, "user.expected_version", v)
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, b"%d" % (int(data or b"0") + 1))
        finally:
            os.close(fd)
        ok += 1
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EBUSY):
            raise
        refused += 1
        time.sleep(random.random() * 0.002)
print(ok, refused)
PY

mount_fresh || exit 1
cd "$MNT" || exit 1
printf 0 > one
start=$EPOCHREALTIME
pids=()
for i in $(seq "$P"); do python3 "$WORK/incr.py" one "$N" > "$WORK/r$i" & pids+=($!); done
wait "${pids[@]}"
t=$(awk "BEGIN {printf \"%.1f\", $EPOCHREALTIME - $start}")
refused=$(cat "$WORK"/r* | awk '{s+=$2} END {print s}')
expect_eq "$P processes x $N increments of one record: none lost ($refused refusals, ${t}s)" $((P * N)) "$(cat one)"
expect_eq "one version per increment" $((P * N + 1)) "$(ver one)"

for i in $(seq "$P"); do printf 0 > "own$i"; done
start=$EPOCHREALTIME
pids=()
for i in $(seq "$P"); do python3 "$WORK/incr.py" "own$i" "$N" > "$WORK/o$i" & pids+=($!); done
wait "${pids[@]}"
t=$(awk "BEGIN {printf \"%.1f\", $EPOCHREALTIME - $start}")
bad=0
for i in $(seq "$P"); do [ "$(cat "own$i")" = "$N" ] && [ "$(ver "own$i")" = $((N + 1)) ] || bad=$((bad + 1)); done
expect_eq "$P processes x $N increments, one record each: none lost (${t}s)" 0 "$bad"
cd /
unmount
finish

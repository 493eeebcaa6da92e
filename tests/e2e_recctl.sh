#!/bin/bash
# End-to-end: recctl on a real mount.  Reads and changes (get, put, rm,
# stat, why, ls), the retry loop (update, incr) under 8 racing
# processes, exit statuses 75/69/2, edit's conflict screen in a real
# terminal (tmux), history across deletes and a restart, watch and wait,
# and compact through the daemon.
. "$(dirname "$0")/lib_e2e.sh"

RECCTL=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/$BUILD/recctl
R() { "$RECCTL" "$@"; }
status() { "$@" > /dev/null 2>&1; echo $?; }

for tool in tmux diff diff3; do
	command -v $tool > /dev/null || { echo "# missing $tool"; fail "$tool is installed"; }
done

mount_fresh || exit 1
cd "$MNT" || exit 1

# ---- get, put, rm, stat, why, ls --------------------------------------------
echo hello > rec
expect_eq "get prints the content" hello "$(R get rec)"
expect_eq "get --version prints the version, then the content" "$(printf '1\nhello')" \
	"$(R get --version rec)"
expect_eq "put --expect 1 commits and prints the new version" 2 \
	"$(echo second | R put --expect 1 rec)"
expect_eq "with stdin as the content" second "$(cat rec)"
expect_eq "put --expect 1 again is stale: exit 75" 75 "$(echo lost | status R put --expect 1 rec)"
expect_eq "and changes nothing" "second 2" "$(cat rec) $(ver rec)"
expect_err "a stale put names the conflict" "conflict: basis=1 current=2" \
	bash -c "echo lost | '$RECCTL' put --expect 1 rec"
expect_eq "put --expect 0 creates" 1 "$(echo fresh | R put --expect 0 fresh)"
expect_eq "put --expect 0 on an existing record: exit 75" 75 \
	"$(echo again | status R put --expect 0 fresh)"
expect_eq "an empty put makes a version too" "3 0" \
	"$(R put --expect 2 rec < /dev/null) $(stat -c %s rec)"
# A declaration is held for recctl and for its shell, one for both: the
# shell holds what put made on it, as it would after using it itself.
# Until 2026-12-07 the shell kept the version it had written before,
# and its next write was refused as stale (after rm --expect, its
# create of the name again too).
mkdir decl
echo a > decl/back && echo b > decl/back
"$RECCTL" show decl/back@1 | "$RECCTL" put --expect 2 decl/back > /dev/null
echo c > decl/back 2>/dev/null
expect_eq "after put --expect N restores a version, the shell's next > passes" \
	"c 4" "$(cat decl/back) $(ver decl/back)"
echo a > decl/gone && echo b > decl/gone
"$RECCTL" rm --expect 2 decl/gone
echo anew > decl/gone 2>/dev/null
expect_eq "after rm --expect N, the shell's > makes the name anew" anew "$(cat decl/gone)"
rm -r decl
json=$(R stat --json rec)
check "stat --json: version, hash, no lease [$json]" \
	grep -q "\"version\":3,\"hash\":\"$(hash_of rec)\",\"size\":0,.*\"lease\":null" <<< "$json"
check "stat prints version and hash" bash -c "'$RECCTL' stat rec | grep -qx 'version: 3'"
# A name that is not UTF-8 (Latin-1 "caf\xe9") stays valid JSON, its
# bytes kept as Python's surrogateescape does: until 2026-12-07 the byte
# was written raw and no JSON parser read the object.
n=$(printf 'caf\xe9 \xf0\x9f\x98\x80')
echo x > "$n"
expect_eq "stat --json of a name that is not UTF-8 is valid JSON, and gives its bytes back" \
	"b'caf\\xe9 \\xf0\\x9f\\x98\\x80'" \
	"$(R stat --json "$n" | python3 -c 'import json, os, sys; print(os.fsencode(json.loads(sys.stdin.buffer.read())["path"]))' 2>&1)"
rm "$n"
mkdir sub
echo in-sub > sub/a
expect_eq "ls lists versions, '-' for directories" "$(printf '1 fresh\n3 rec\n- sub/')" "$(R ls)"
expect_eq "ls DIR" "1 a" "$(R ls sub)"
# A symlink is a record of its own (its content is its target); the
# kernel keeps user.* attributes off symlinks, so recctl reads its
# figures from its history.  Before 2026-12-06 ls showed '-' ("being
# created") and stat, log and show described its target.
ln -s sub/a sl
expect_eq "ls shows a symlink's own version" "$(printf '1 a\n1 sl')" \
	"$(cd sub && ln -sf a sl && R ls)"
rm sub/sl
out=$(R stat sl)
check "stat of a symlink: the link's record, not its target's [${out//$'\n'/ | }]" \
	has "$out" "path: sl" "type: symlink" "version: 1" "size: 5"
expect_eq "log of a symlink lists its own versions" 1 \
	"$(R log sl | awk '{print $1}' | xargs)"
expect_eq "show of a symlink prints its target" sub/a "$(R show sl@1)"
# Its current content is its target too, and a link to a directory is a
# record all the same: before 2026-12-06 show PATH printed the content
# of the record it points to, diff compared that with the link's own
# versions (under the link's name, "current"), and log of a link to a
# directory said "is a directory".
expect_eq "show of a symlink without @N prints its target" sub/a "$(R show sl)"
expect_eq "diff of a symlink's version against its current one is empty" "" \
	"$(R diff sl@1 2>&1)"
ln -s sub sld
expect_eq "log of a symlink to a directory lists the link's versions" 1 \
	"$(R log sld 2>&1 | awk '{print $1}' | xargs)"
expect_eq "show of a symlink to a directory prints its target" sub "$(R show sld 2>&1)"
rm sld
# why too: until 2026-12-07 it showed the target's version, basis and
# conflict under the link's name ("wl: version 3" for a link at 1).
echo w1 > wt && echo w2 > wt && echo w3 > wt && ln -s wt wl
out=$(R why wl 2>&1); rc=$?
check "why of a symlink describes the link, not its target [$rc: ${out//$'\n'/ | }]" \
	has "$rc $out" "0 wl: a symlink, version 1" "not readable for a symlink"
# And wait and watch follow the link's own versions, not its target's
# (wait --above 1 returned 3 at once, watch printed the target's: until
# 2026-12-07).
expect_eq "wait on a symlink at version 1 for one above 1 times out (1)" 1 \
	"$(status R wait --above 1 --timeout 0.3 wl)"
timeout 5 "$RECCTL" watch --count 1 wl > "$WORK/watch-wl" 2>&1 & wpid=$!
sleep 0.3
readlink wl > /dev/null && echo w4 > wt && ln -sfn wt2 wl
wait "$wpid"
expect_eq "watch of a symlink prints the link's new version" 2 "$(awk '{print $1}' "$WORK/watch-wl")"
rm wl wt
# A symlink outside the mount is no record: recctl follows it into the
# mount, as before 2026-12-06 (ls and stat through a link in $HOME to a
# directory or a record of the mount then said "not in a recfs mount"
# and "Operation not supported").
ln -sfn "$MNT/sub" "$WORK/out-dir"
ln -sfn "$MNT/sub/a" "$WORK/out-rec"
expect_eq "ls through a symlink outside the mount lists the directory" "1 a" \
	"$(R ls "$WORK/out-dir" 2>&1)"
out=$(R stat "$WORK/out-rec" 2>&1)
check "stat through a symlink outside the mount: the record [${out//$'\n'/ | }]" \
	has "$out" "type: record" "version: 1" "size: 7"
expect_eq "log through a symlink outside the mount lists the record's versions" 1 \
	"$(R log "$WORK/out-rec" | awk '{print $1}' | xargs)"
rm -f "$WORK/out-dir" "$WORK/out-rec"
rm sl
# rm --expect N of a symlink checks the link's own version.  The kernel
# keeps user.* attributes off symlinks: until 2026-12-07 the declaration
# landed on the target (version 3 here) and the unlink passed on the
# basis the shell held for the link (version 1), so a stale --expect
# removed it.
echo t1 > ltgt; echo t2 > ltgt; echo t3 > ltgt
ln -s ltgt lk
expect_eq "rm --expect N of a symlink at another version: exit 75" 75 "$(status R rm --expect 3 lk)"
check "and the link is still there" test -L lk
expect_eq "rm --expect N of a symlink at N removes it" "0 gone" \
	"$(status R rm --expect 1 lk) $(test -L lk || echo gone)"
blind "ln -s ltgt lk2"
blind "'$RECCTL' rm --expect 1 lk2"; rc=$?
expect_eq "also from a process that never looked at it" "0 gone" "$rc $(test -L lk2 || echo gone)"
rm ltgt
echo f2 | R put --expect 1 fresh > /dev/null
expect_eq "rm with a stale version: exit 75" 75 "$(status R rm --expect 1 fresh)"
check "rm --expect N with the current version deletes" R rm --expect 2 fresh
check "the record is gone" test ! -e fresh
expect_eq "put --expect N on a deleted record: exit 75" 75 "$(echo x | status R put --expect 1 fresh)"

# why: the shell's basis and its last refused change
echo w1 > wrec
blind "cat wrec > /dev/null; echo w2 > wrec" 2>/dev/null
out=$(bash -c "cat wrec > /dev/null; '$RECCTL' why wrec")
check "why: a fresh read is the current basis [${out//$'\n'/ | }]" grep -q "basis: 2 (current" <<< "$out"
# sh reads and writes with its own basis; then bash's older basis is stale.
out=$(bash -c "cat wrec > /dev/null; sh -c 'cat wrec > /dev/null; echo w3 > wrec'
	echo w4 2>/dev/null > wrec; '$RECCTL' why wrec")
check "why shows the last conflict [${out//$'\n'/ | }]" \
	grep -q "last conflict: basis=2 current=3 pid=[0-9]* comm=sh " <<< "$out"

# ---- Exit statuses and help ------------------------------------------------
expect_eq "usage: put without --expect is 2" 2 "$(echo x | status R put rec)"
expect_eq "usage: an unknown subcommand is 2" 2 "$(status R frobnicate)"
expect_eq "usage: a bad --tries is 2" 2 "$(status R update --tries 0 rec -- cat)"
expect_eq "usage: update without -- CMD is 2" 2 "$(status R update rec)"
bad=""
for sub in get stat why ls put rm update incr edit log show diff watch wait fsck dump stats compact; do
	R "$sub" --help | grep -q "^usage: recctl $sub " || bad="$bad $sub"
done
expect_eq "every subcommand has --help" "" "$bad"
# --help as recctl(1) says: until 2026-12-07 fsck's named two of its
# five repairs, stats' not its exit 1 on damage, update's and incr's
# not that the record must exist.
check "fsck --help names each repair" has "$(R fsck --help)" "torn tails" \
	"damaged header" "only grew" "missing or of the wrong size" "lost+found/"
check "stats --help names its exit 1 on damage" has "$(R stats --help)" "Exit 1 on a damaged store"
check "recctl --help's exit status names stats's damage too" \
	has "$(R --help)" "1 error (fsck, dump, stats: damage)"
check "update and incr --help say the record must exist" \
	has "$(R update --help; R incr --help)" "record must exist" "record must exist"
# One version, the Makefile's: until 2026-12-07 recctl --version said
# 0.2 while recfs --version and both man pages said 0.1.
TOP=${RECCTL%/"$BUILD"/recctl}
mkver=$(sed -n 's/^VERSION *:= *//p' "$TOP/Makefile")
expect_eq "recctl, recfs and their man pages say the Makefile's version" \
	"recctl $mkver|recfs $mkver|recfs $mkver|recfs $mkver" \
	"$(R --version)|$("$RECFS" --version | cut -d' ' -f1-2)|$(for m in recctl recfs; do
		sed -n 's/^\.TH [A-Z]* 1 "[^"]*" "\([^"]*\)".*/\1/p' "$TOP/$BUILD/man/$m.1"; done | paste -sd'|')"
# An empty PATH (an unset variable's "$f") is bad usage: until
# 2026-12-07 put and rm took it for a name here and exited 75 ("stale:
# retry"), and watch polled it for ever.
bad=""
for sub in "get" "put --expect 1" "rm --expect 1" "incr" "log" "show" \
	"watch --count 1" "wait --above 0 --timeout 1" "edit"; do
	# shellcheck disable=SC2086
	st=$(echo x | EDITOR=true timeout 5 "$RECCTL" $sub '' > /dev/null 2>&1; echo $?)
	[ "$st" = 2 ] || bad="$bad [$sub: $st]"
done
expect_eq "an empty PATH is a usage error (2)" "" "$bad"
expect_eq "get of a missing record is 1" 1 "$(status R get nosuch)"

# Outside a mount no version is checked: a put there would write blind
# (it did, and exited 0), so every command that names a record refuses.
printf 5 > "$WORK/plain"
out=$(cd "$WORK" && echo 9 | R put --expect 1 plain 2>&1); rc=$?
expect_eq "put outside a mount is refused (1)" 1 "$rc"
check "and says so" grep -q "not in a recfs mount" <<< "$out"
expect_eq "and writes nothing" 5 "$(cat "$WORK/plain")"
expect_eq "a create outside a mount is refused" 1 \
	"$(cd "$WORK" && echo 9 | status R put --expect 0 newplain)"
check "and creates nothing" test ! -e "$WORK/newplain"
bad=""
for sub in "get plain" "stat plain" "why plain" "ls ." "rm --expect 1 plain" \
	"incr plain" "update plain -- cat" "watch --count 1 plain" \
	"wait --above 1 --timeout 1 plain"; do
	# shellcheck disable=SC2086
	[ "$(cd "$WORK" && status R $sub)" = 1 ] || bad="$bad [$sub]"
done
expect_eq "get, stat, why, ls, rm, incr, update, watch and wait refuse outside too" "" "$bad"
# A bind mount of a directory of the mount (as a container's volume is)
# has no .recfs at its root: every command there said "not in a recfs
# mount" until 2026-12-07.  (Its history is not reachable there.)
mkdir bsub && echo b1 > bsub/br
if mkdir "$WORK/bind" && mount --bind "$MNT/bsub" "$WORK/bind" 2> /dev/null; then
	out=$(cd "$WORK/bind" && R get br && echo b2 | R put --expect 1 br && R ls 2>&1); rc=$?
	umount "$WORK/bind"
	expect_eq "get, put and ls through a bind mount of a directory of the mount" \
		"b1|2|2 br|0" "${out//$'\n'/|}|$rc"
fi
rm -r bsub
# edit of a missing file there ran the editor and refused only the save
# (or, with the text unchanged, said "no changes" and exited 0) until
# 2026-12-07.
out=$(cd "$WORK" && EDITOR="touch '$WORK/editor-ran'" R edit newplain 2>&1); rc=$?
expect_eq "edit of a missing file outside a mount is refused before the editor runs [$out]" \
	"1 no editor" "$rc $(test -e "$WORK/editor-ran" && echo editor ran || echo no editor)"
check "and says so" grep -q "not in a recfs mount" <<< "$out"
expect_eq "and the file is as it was" 5 "$(cat "$WORK/plain")"
# Nor through a symlink in the mount that points out of it: put follows
# it, and until 2026-12-07 wrote the file there blind (exit 0) and left
# a user.expected_version on it.
ln -s "$WORK/plain" outlink
expect_eq "put through a symlink in the mount to a file outside is refused (1)" 1 \
	"$(echo 9 | status R put --expect 1 outlink)"
expect_eq "and the file is as it was, with no attribute" "5 " \
	"$(cat "$WORK/plain") $(getfattr --absolute-names -d "$WORK/plain" 2>/dev/null)"
# Reads through it found no version and waited for "a record still being
# created" (until 2026-12-07).
bad=""
for sub in "incr outlink" "update outlink -- cat" "get --version outlink"; do
	# shellcheck disable=SC2086
	out=$(R $sub 2>&1); rc=$?
	[ "$rc" = 1 ] && has "$out" "not in a recfs mount" || bad="$bad [$sub: $rc $out]"
done
expect_eq "incr, update and get --version through it say it is not in a mount" "" "$bad"
rm outlink

# A working directory deeper than PATH_MAX has no absolute path: the
# commands that locate the mount said "Numerical result out of range"
# (getcwd's ERANGE) until 2026-12-07.  (Keys stop at 4095 bytes: 4080
# here, below a mountpoint of more than 16.)
out=$(d=$(printf 'd%.0s' $(seq 200))
	for _ in $(seq 20); do mkdir "$d" && cd "$d" || exit; done
	d=$(printf 'e%.0s' $(seq 60)); mkdir "$d" && cd "$d" || exit
	echo 1 > r; R incr r 2>&1; echo "rc=$?")
expect_eq "incr in a directory deeper than PATH_MAX names the reason [${out//$'\n'/ | }]" \
	"recctl: incr: r: File name too long rc=1" "${out//$'\n'/ }"
rm -r "$(printf 'd%.0s' $(seq 200))"
# A record whose history directory is just short of PATH_MAX has version
# files past it: log listed nothing and exited 0 until 2026-12-07.
out=$(d=$(printf 'd%.0s' $(seq 200))
	for _ in $(seq 20); do mkdir "$d" && cd "$d" || exit; done
	f=$(printf 'f%.0s' $(seq $((4095 - ${#MNT} - 16 - 4020))))
	echo 1 > "$f" && R log "$f" 2>&1; echo "rc=$?")
check "log of a record whose versions are past PATH_MAX says so [${out: -40}]" \
	has "$out" ": File name too long" "rc=1"
rm -r "$(printf 'd%.0s' $(seq 200))"
# A ".." past a missing directory is no such file, as open(2) says:
# log, show, watch, wait and put said "Invalid argument" until
# 2026-12-07.
bad=""
for sub in "log nodir/../rec" "show nodir/../rec@1" "watch --count 1 nodir/../rec" \
	"wait --above 99 --timeout 1 nodir/../rec" "put --expect 0 nodir/../newrec"; do
	# shellcheck disable=SC2086
	out=$(echo x | R $sub 2>&1); rc=$?
	[ "$rc" = 1 ] && has "$out" "No such file or directory" || bad="$bad [$sub: $rc $out]"
done
expect_eq "a .. past a missing directory: No such file or directory" "" "$bad"

# ---- incr: 8 processes x 100 lose nothing -----------------------------------
# --tries 50: under sanitizers on a loaded machine the default 10 can run
# out (exit 75: refused, not lost); this is about losing nothing.
echo 0 > counter
t0=$SECONDS
jobs_=()
for p in $(seq 8); do
	( f=0; for _ in $(seq 100); do
		R incr --tries 50 counter >> "$WORK/incrv.$p" 2>> "$WORK/incr.err" || f=$((f + 1))
	  done
	  echo $f > "$WORK/incr.$p" ) &
	jobs_+=($!)
done
wait "${jobs_[@]}"   # not a bare wait: the daemon is a child too
fails=$(cat "$WORK"/incr.[0-9]* | awk '{s+=$1} END {print s}')
expect_eq "8 x 100 recctl incr: every increment landed [$((SECONDS - t0)) s]" "800 0" \
	"$(cat counter) $fails"
sort "$WORK/incr.err" | uniq -c | head -5 | sed 's/^/# /'   # why any failed
expect_eq "one version per increment" 801 "$(ver counter)"
# Each prints the version it made, not the record's version a moment
# later: until 2026-12-07 two could print the same (another's), and a
# script's next --expect had a basis it never read.
expect_eq "each incr printed its own version: 2 to 801, none twice" "800 800 2 801" \
	"$(cat "$WORK"/incrv.* | wc -l) $(sort -nu "$WORK"/incrv.* | wc -l) $(sort -n "$WORK"/incrv.* | sed -n '1p;$p' | xargs)"
echo t1 > tomb && echo t2 > tomb && rm tomb
expect_eq "put --expect 0 prints the version it made, continuing a deleted line" "4 4" \
	"$(echo t4 | R put --expect 0 tomb) $(ver tomb)"
expect_eq "incr DELTA, --value prints the value" 795 "$(R incr --value counter -5)"
echo notanumber > nan
expect_eq "incr of a non-number is 1 and changes nothing" "1 1" "$(status R incr nan) $(ver nan)"

# ---- update ---------------------------------------------------------------
printf 'a\nb\n' > up
expect_eq "update commits CMD's output, prints the version" 2 "$(R update up -- sed s/b/B/)"
expect_eq "with the new content" "$(printf 'a\nB')" "$(cat up)"
expect_eq "a failing CMD is 1 and commits nothing" "1 2" "$(status R update up -- false) $(ver up)"
# A CMD that always races: it bumps the record through another recctl
# (which declares its own basis) before it prints.
echo 10 > always
cat > "$WORK/bump.sh" <<EOF
#!/bin/sh
'$RECCTL' incr "\$1" > /dev/null
cat
EOF
chmod +x "$WORK/bump.sh"
expect_eq "update --tries 3 against a writer that always wins: exit 75" 75 \
	"$(status R update --tries 3 always -- "$WORK/bump.sh" always)"
expect_eq "CMD ran 3 times; our stale output was never committed" "13 4" "$(cat always) $(ver always)"
err=$(R update --tries 2 always -- "$WORK/bump.sh" always 2>&1 >/dev/null)
check "and says so [${err//$'\n'/ | }]" grep -q "still stale after 2 tries" <<< "$err"
# update retries for real: a racing writer loses nothing either
echo 0 > racy
jobs_=()
for p in 1 2 3 4; do
	( for _ in $(seq 25); do R update racy -- sh -c 'read n; echo $((n + 1))' > /dev/null; done ) &
	jobs_+=($!)
done
wait "${jobs_[@]}"
expect_eq "4 x 25 update with a shell CMD: 100" 100 "$(cat racy)"

# ---- EBUSY: someone holds the write lease ------------------------------------
echo base > busy
bash -c 'cat busy > /dev/null; exec 3> busy; echo holding >&3; sleep 5 3>&-; exec 3>&-' &
holder=$!
for _ in $(seq 50); do [ "$(cat busy 2>/dev/null)" = base ] && getfattr -n user.recfs.lease busy > /dev/null 2>&1 && break; sleep 0.05; done
check "stat names the lease holder" bash -c "'$RECCTL' stat busy | grep -q '^lease: pid $holder (bash) since '"
expect_eq "stat --json too" "\"pid\":$holder" "$(R stat --json busy | grep -o "\"pid\":$holder")"
t0=$SECONDS
expect_eq "put while the lease is held: exit 69 after retrying" 69 \
	"$(echo mine | status R put --expect 1 busy)"
check "it retried for a few seconds, not forever [$((SECONDS - t0)) s]" test $((SECONDS - t0)) -le 5
wait $holder
expect_eq "the holder's change committed, ours did not" "holding 2" "$(cat busy) $(ver busy)"

# A declaration no change used can be taken back (setfattr -x), and a
# put that gives up on EBUSY takes its own back: left, it was the
# shell's basis until expect_ttl, for a blind write to take.  (The
# records are made and held outside this tree: blind.)
blind "echo a > wd; echo a > wb"
out=$(bash -c "setfattr -n user.expected_version -v 1 wd
	a=\$(getfattr --only-values -n user.expected_version wd 2>&1)
	setfattr -x user.expected_version wd; echo \"rm=\$?\"
	b=\$(getfattr --only-values -n user.expected_version wd 2>&1)
	echo \"\$a|\${b##*: }\"; echo x 2>/dev/null > wd; echo \"write=\$?\"")
expect_eq "setfattr -x user.expected_version withdraws the declaration" \
	"rm=0 1|No such attribute write=1" "$(echo $out)"
expect_eq "so the blind write changed nothing" "a 1" "$(cat wd) $(ver wd)"
blind "cat wb > /dev/null; exec 3> wb; echo h >&3; sleep 4" &
busy_pid=$!
for _ in $(seq 100); do getfattr -n user.recfs.lease wb > /dev/null 2>&1 && break; sleep 0.05; done
out=$(bash -c "echo mine | '$RECCTL' put --expect 1 wb > /dev/null 2>&1; echo \"put=\$?\"
	b=\$(getfattr --only-values -n user.expected_version wb 2>&1)
	echo \"\${b##*: }\"")
expect_eq "a put that met EBUSY leaves its shell no declaration" \
	"put=69 No such attribute" "$(echo $out)"
wait $busy_pid

# ---- watch and wait ------------------------------------------------------------
echo 0 > w
"$RECCTL" watch --count 20 --from 1 w > "$WORK/watch.out" &   # not R: $! must be recctl
watcher=$!
sleep 1 # let it start even on a loaded machine
# quick commits, yet not faster than history (8 versions) can cover a poll
for _ in $(seq 20); do R incr w > /dev/null; sleep 0.02; done
for _ in $(seq 100); do kill -0 $watcher 2>/dev/null || break; sleep 0.05; done
kill $watcher 2>/dev/null
expect_eq "watch printed each of 20 quick commits, in order" "$(seq 2 21 | tr '\n' ' ')" \
	"$(awk '{print $1}' "$WORK/watch.out" | tr '\n' ' ')"
kept=$(R log w | awk '{print $1, $4}' | sort -n)
seen=$(grep -F -x -f <(echo "$kept") "$WORK/watch.out" | sort -n)
expect_eq "with the hashes the history keeps" "$kept" "$seen"
expect_eq "the last line is the current version and hash" "21 $(hash_of w)" "$(tail -n1 "$WORK/watch.out")"
( sleep 0.3; R incr w > /dev/null ) &
bumper=$!
expect_eq "wait --above returns the new version" 22 "$(R wait --above 21 --timeout 5 w)"
wait $bumper
expect_eq "wait --timeout: exit 1" 1 "$(status R wait --above 22 --timeout 0.2 w)"
expect_eq "wait on a version already past: at once" 22 "$(R wait --above 3 w)"
# A missing record inside the mount is waited for; a missing path outside
# any mount is refused at once (both polled ENOENT for ever until 2026-12-06).
( sleep 0.3; echo new > wnew ) &
bumper=$!
expect_eq "wait for a record that does not exist yet" 1 "$(R wait --above 0 --timeout 5 wnew)"
wait $bumper
# So is one in a directory not made yet (a writer may make both), by
# watch too; wait's timeout names the missing directory, which until
# 2026-12-07 it did not: a typo in it looked like a record not made yet.
( sleep 0.3; mkdir wdir && echo new > wdir/rec; sleep 0.3; mkdir wdir2 && echo a > wdir2/rec ) &
bumper=$!
expect_eq "wait for a record whose directory does not exist yet" 1 "$(R wait --above 0 --timeout 5 wdir/rec)"
expect_eq "watch of one: its version once made" \
	1 "$(timeout 5 "$RECCTL" watch --count 1 wdir2/rec | awk '{print $1}')"
wait $bumper
rm -r wdir wdir2
out=$(R wait --above 0 --timeout 0.2 nodir/rec 2>&1); rc=$?
expect_eq "wait's timeout in a missing directory: exit 1" 1 $rc
check "naming the missing directory [$out]" \
	has "$out" "nodir/rec: timed out after 0.2s (no version; no directory nodir)"
# watch --from N of a name that never was a record printed "- deleted"
# at once (until 2026-12-07), as if it had been deleted since N.
( sleep 0.3; echo a > wnew2; echo b > wnew2 ) &
bumper=$!
expect_eq "watch --from 1 of a record not made yet: no delete, then its version 2" \
	2 "$(timeout 5 "$RECCTL" watch --count 1 --from 1 wnew2 | awk '{print $1}')"
wait $bumper
# ...but a record deleted after version N was deleted since N: its line
# ended above N (the delete is a version of its own, not in the history).
echo a > wdel; echo b > wdel; rm wdel
expect_eq "watch --from 2 of a record deleted after its version 2: the delete" \
	"- deleted" "$(timeout 5 "$RECCTL" watch --count 1 --from 2 wdel)"
expect_eq "watch --from 3 of it (the delete's version): nothing" \
	124 "$(status timeout 1 "$RECCTL" watch --count 1 --from 3 wdel)"
for sub in watch "wait --above 1"; do
	out=$(timeout 5 "$RECCTL" $sub "$WORK/no-such-dir/rec" 2>&1); rc=$?
	expect_eq "$sub on a missing path outside a mount: exit 1 at once" 1 $rc
	check "and says it is not in a recfs mount [$out]" has "$out" "not in a recfs mount"
done
# A directory has no version: both polled one silently for ever until
# 2026-12-07.
for sub in watch "wait --above 0"; do
	# shellcheck disable=SC2086
	out=$(timeout 5 "$RECCTL" $sub sub 2>&1); rc=$?
	expect_eq "$sub of a directory: exit 1 at once" 1 $rc
	check "and says it is a directory [$out]" has "$out" "sub: Is a directory"
done

# ---- edit: a real terminal, a concurrent writer, a three-way merge -------------
TM=recfs-recctl-$$
tm_screen() { tmux capture-pane -t $TM -p -S -200; }
tm_wait() {
	for _ in $(seq $((${2:-5} * 20))); do
		tm_screen | grep -q -- "$1" && return 0
		sleep 0.05
	done
	echo "# screen did not show '$1':"; tm_screen | sed 's/^/# | /'
	return 1
}
tm_keys() { tmux send-keys -t $TM "$@"; }
# The editor appends a line; before it exits, another process changes
# the first line, so the save is stale.  A second run (the merge's
# review) leaves the text alone.
cat > "$WORK/editor.sh" <<EOF
#!/bin/sh
if [ ! -e "$WORK/editor.ran" ]; then
	touch "$WORK/editor.ran"
	echo "my line" >> "\$1"
	'$RECCTL' update '$MNT/erec' -- sed '1s/.*/THEIR FIRST LINE/' > /dev/null
fi
EOF
chmod +x "$WORK/editor.sh"
printf 'first\nsecond\nthird\n' > erec
tmux kill-session -t $TM 2>/dev/null
tmux new-session -d -s $TM -x 120 -y 50 \
	"cd '$MNT' && EDITOR='$WORK/editor.sh' '$RECCTL' edit erec; echo EXIT=\$?; sleep 60"
tm_wait "\[m\]erge"
check "edit shows their change as a diff" tm_wait "^+THEIR FIRST LINE"
check "and yours" tm_wait "^+my line"
expect_eq "while it asks, their version stands" "THEIR FIRST LINE 2" "$(head -n1 erec) $(ver erec)"
tm_keys o Enter
tm_wait "Type 'yes'" && tm_keys no Enter
check "overwrite needs the word yes" tm_wait "Not overwritten"
expect_eq "so nothing was overwritten" "THEIR FIRST LINE 2" "$(head -n1 erec) $(ver erec)"
tm_keys m Enter
tm_wait "Commit the merge" && tm_keys y Enter
check "the merge is committed" tm_wait "EXIT=0"
expect_eq "with both changes" "$(printf 'THEIR FIRST LINE\nsecond\nthird\nmy line')" "$(cat erec)"
expect_eq "as version 3" 3 "$(ver erec)"
tmux kill-session -t $TM 2>/dev/null
expect_eq "edit history: log lists 3 2 1" "3 2 1" "$(R log erec | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
expect_eq "show erec@1 is the text before the edit" "$(printf 'first\nsecond\nthird')" "$(R show erec@1)"

# Without a terminal to ask, a stale edit keeps the text and exits 75.
rm -f "$WORK/editor.ran"
sed -i "s#/erec'#/erec2'#" "$WORK/editor.sh"
printf 'one\ntwo\n' > erec2
out=$(EDITOR="$WORK/editor.sh" R edit erec2 < /dev/null 2>&1); rc=$?
expect_eq "a stale edit with nobody to ask: exit 75" 75 $rc
expect_eq "their version stands" "$(printf 'THEIR FIRST LINE\ntwo')" "$(cat erec2)"
kept=$(sed -n 's/.*your text is in \(.*\)$/\1/p' <<< "$out")
expect_eq "your text is kept in a file it names" "$(printf 'one\ntwo\nmy line')" "$(cat "$kept" 2>/dev/null)"
[ -n "$kept" ] && rm -rf "$(dirname "$kept")"
rm -f "$WORK/editor.ran"
printf 'o\nyes\n' | EDITOR="$WORK/editor.sh" R edit erec2 > /dev/null 2>&1
expect_eq "overwrite after typing yes replaces their version" \
	"$(printf 'THEIR FIRST LINE\ntwo\nmy line') 4" \
	"$(cat erec2) $(ver erec2)"
# The same when they deleted it: [o]verwrite creates it again.  Until
# 2026-12-07 that create was always refused (edit's basis was still the
# version it read at the start) and edit exited 75.
cat > "$WORK/editor-rm.sh" <<EOF
#!/bin/sh
echo "my line" >> "\$1"
'$RECCTL' rm --expect 1 '$MNT/erec3'
EOF
chmod +x "$WORK/editor-rm.sh"
echo one > erec3
out=$(printf 'o\nyes\n' | EDITOR="$WORK/editor-rm.sh" R edit erec3 2>&1); rc=$?
expect_eq "overwrite of a record deleted meanwhile creates it again [${out##*$'\n'}]" \
	"0 $(printf 'one\nmy line') 3" "$rc $(cat erec3 2>&1) $(ver erec3)"

# ---- history across deletes and a restart ----------------------------------------
echo h1 > hist
echo h2 | R put --expect 1 hist > /dev/null
echo h3 | R put --expect 2 hist > /dev/null
R rm --expect 3 hist
blind "echo h5 > hist" 2>/dev/null   # a process that never saw it re-creates it
expect_eq "re-created, the line continues past the delete" 5 "$(ver hist)"
expect_eq "log lists kept versions after a delete" "5 3 2 1" \
	"$(R log hist | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
expect_eq "log's sizes" "3 3 3 3" "$(R log hist | awk '{print $3}' | tr '\n' ' ' | sed 's/ $//')"
expect_eq "log's hash of the current version" "$(hash_of hist)" "$(R log hist | awk 'NR==1 {print $4}')"
R rm --expect 5 hist
cd / && unmount && mount_again && cd "$MNT" || exit 1
expect_eq "after a restart, log of the deleted record" "5 3 2 1" \
	"$(R log hist | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
expect_eq "show PATH@N prints each old content" "h1 h2 h3 h5" \
	"$(for v in 1 2 3 5; do R show hist@$v; done | tr '\n' ' ' | sed 's/ $//')"
expect_eq "diff PATH@N PATH@M" "$(printf -- '--- hist@1\n+++ hist@3\n@@ -1 +1 @@\n-h1\n+h3')" \
	"$(R diff hist@1 hist@3)"
expect_eq "diff PATH@N against a deleted record" "+++ hist (deleted)" "$(R diff hist@5 | sed -n 2p)"
# A name that never was a record is no deleted one: until 2026-12-07
# diff hist@5 hsit (a typo) showed all of hist@5 removed, exit 0.
out=$(R diff hist@5 hsit 2>&1); rc=$?
expect_eq "diff against a name that never was a record: exit 1 [$out]" 1 "$rc"
check "and says so" has "$out" "hsit: no such record, and no history"
expect_eq "diff PATH@N against the current version" "+++ erec@3 (current)" "$(R diff erec@1 | sed -n 2p)"
expect_eq "show of a version not kept: exit 1" 1 "$(status R show hist@4)"
# 4 was the delete: "kept: 1 to 5" said it was among them until
# 2026-12-07.
expect_eq "and names the kept ones, with the gap" \
	"recctl: show: hist: version 4 is not kept (kept: 1, 2, 3, 5)" "$(R show hist@4 2>&1)"
expect_eq "kept versions without a gap stay a range" \
	"recctl: show: erec: version 9 is not kept (kept: 1 to 3)" "$(R show erec@9 2>&1)"
expect_eq "show PATH@0 is a usage error" 2 "$(status R show hist@0)"
# So is any "@" not followed by a version, where no file has that name:
# until 2026-12-07 show said "No such file or directory" of "hist@-1",
# and diff showed version 1 against "hist@x (deleted)", exit 0.
bad=""
for a in "show hist@-1" "show hist@x" "show hist@" "show hist@99999999999999999999" \
	"diff hist@1 hist@x" "diff hist@1 hist@-2"; do
	# shellcheck disable=SC2086
	out=$(R $a 2>&1); rc=$?
	[ "$rc" = 2 ] && has "$out" "bad version in" || bad="$bad [$a: $rc $out]"
done
expect_eq "a bad version after @ is a usage error (2)" "" "$bad"
echo at > 'a@b'
expect_eq "a record whose name has an @ is still shown, also at a version" "at at" \
	"$(R show 'a@b' 2>&1) $(R show 'a@b@1' 2>&1)"
rm 'a@b'
# .recfs is the daemon's tree only at the mount root; below it, a name
# like any other.  Until 2026-12-07 a user's directory of that name made
# its parent pass for the root: show read the user's file as a version,
# and ls hid the entry.
mkdir -p hs/.recfs/history/r && echo fake > hs/.recfs/history/r/1
echo real > hs/r
expect_eq "a .recfs directory below the root is no history: show reads the version" \
	real "$(R show hs/r@1 2>&1)"
expect_eq "and log lists the record's own" 1 "$(R log hs/r 2>&1 | awk '{print $1}' | xargs)"
expect_eq "ls lists it" "$(printf -- '- .recfs/\n1 r')" "$(R ls hs 2>&1)"
rm -r hs
# A directory's history tree holds its records' trees: records named 7
# and 12 were listed as its versions until 2026-12-06.
mkdir logd && echo a > logd/7 && echo b > logd/12
out=$(R log logd 2>&1); rc=$?
expect_eq "log of a directory: exit 1 [$out]" 1 $rc
check "and says it is a directory" has "$out" "logd: is a directory"
# Nor does show or diff take a record named N for version N: until
# 2026-12-07 diff logd@7 logd@12 printed records 7 and 12 compared as
# "logd@7" and "logd@12", exit 0.
for a in "show logd@7" "diff logd@7 logd@12" "diff logd@7"; do
	out=$(R $a 2>&1); rc=$?
	expect_eq "$a: exit 1 [$out]" 1 $rc
	check "and says it is a directory" has "$out" "logd: is a directory"
done
rm logd/7 logd/12 && rmdir logd
out=$(R log logd 2>&1); rc=$?
expect_eq "log of a directory that is gone: exit 1, no versions [$out]" 1 $rc
# A deleted record's history is reachable by name also when its
# directory is gone, removed or renamed away: before 2026-12-06 the
# history tree knew no directory the store did not hold now, and log
# said "never a record here".
mkdir -p gd/sub && echo g1 > gd/sub/f && echo g2 > gd/sub/f
rm gd/sub/f && rmdir gd/sub gd
expect_eq "log of a deleted record in a removed directory" "2 1" \
	"$(R log gd/sub/f 2>&1 | awk '{print $1}' | xargs)"
expect_eq "show of its old version" g1 "$(R show gd/sub/f@1 2>&1)"
mkdir md && echo m1 > md/f && mv md md2
expect_eq "log of a record under its directory's old name" 1 \
	"$(R log md/f 2>&1 | awk '{print $1}' | xargs)"
expect_eq "show of it" m1 "$(R show md/f@1 2>&1)"
out=$(R log nodir/f 2>&1); rc=$?
expect_eq "a name never a directory still has no history [$out]" 1 $rc
# A record still being created has no version yet: log and show said
# "never a record here" of it until 2026-12-07.
(printf p; sleep 2) > pend & ppid=$!
sleep 0.5
out=$(R log pend 2>&1; R show pend@1 2>&1)
check "log and show of a record still being created say so [${out//$'\n'/ | }]" \
	has "$out" "log: pend: no version yet (a record still being created)" \
	"show: pend: version 1 is not kept: no version yet"
wait "$ppid"
rm pend
rm md2/f && rmdir md2

# ---- compact through the daemon --------------------------------------------------
out=$(R compact "$MNT" 2>&1); rc=$?
expect_eq "compact MOUNTPOINT asks the daemon [$out]" 0 $rc
expect_eq "the history reads the same after compaction" "h1 h3" "$(R show hist@1) $(R show hist@3)"
expect_eq "compact STORE while mounted: exit 1 (in use)" 1 "$(status R compact "$STORE")"
# An offline command's failure is one line on stderr, marked recctl's;
# dump printed it twice (once on stdout, unmarked) and stats offered
# compact's hint until 2026-12-06.
offline() { "$RECCTL" "$@" > "$WORK/off.out" 2> "$WORK/off.err"; echo "$? $(wc -l < "$WORK/off.out") $(wc -l < "$WORK/off.err")"; }
if local_only; then
	expect_eq "dump STORE while mounted: exit 2, one line on stderr only" "2 0 1" "$(offline dump "$STORE")"
	check "which says who holds it [$(cat "$WORK/off.err")]" matches "$(cat "$WORK/off.err")" "^recctl: .*in use by pid [0-9]+$"
	expect_eq "fsck STORE while mounted: exit 2, one line on stderr only" "2 0 1" "$(offline fsck "$STORE")"
	check "marked as recctl's [$(cat "$WORK/off.err")]" matches "$(cat "$WORK/off.err")" "^recctl: .*in use by pid [0-9]+$"
	expect_eq "stats STORE while mounted: exit 1, one line on stderr only" "1 0 1" "$(offline stats "$STORE")"
	check "without compact's hint [$(cat "$WORK/off.err")]" matches "$(cat "$WORK/off.err")" "^recctl: .*in use by pid [0-9]+$"
	offline compact "$STORE" > /dev/null
	check "compact STORE while mounted names compact MOUNTPOINT" has "$(cat "$WORK/off.err")" "run 'recctl compact MOUNTPOINT' instead"
	expect_eq "dump of a missing store: exit 2, one line on stderr only" "2 0 1" "$(offline dump "$WORK/no-such-store")"
	expect_eq "which is marked as recctl's" "recctl: $WORK/no-such-store: No such file or directory" "$(cat "$WORK/off.err")"
	# A directory that holds no store, or the mount named for its
	# store: until 2026-12-07 fsck and dump found nothing there and
	# exited 0 ("clean"), stats printed zeros, and fsck --repair made a
	# LOCK in it (in the mount, a record, which then passed for a store).
	mkdir -p "$WORK/notastore" && echo mine > "$WORK/notastore/notes"
	bad=""
	for c in fsck "fsck --repair" dump stats; do
		want="2 0 1"; [ "$c" = stats ] && want="1 0 1"
		for d in "$WORK/notastore" "$MNT" "$MNT/sub"; do
			# shellcheck disable=SC2086
			res=$(offline $c "$d")
			[ "$res" = "$want" ] || bad="$bad [$c $d: $res $(cat "$WORK/off.err")]"
		done
	done
	expect_eq "fsck, dump and stats of a directory that is no store, or of the mount: refused, one line on stderr" "" "$bad"
	check "saying it is not a store [$(cat "$WORK/off.err")]" bash -c \
		"'$RECCTL' fsck '$WORK/notastore' 2>&1 | grep -q 'is not a recfs store'"
	check "or that it is the mount [$(cat "$WORK/off.err")]" bash -c \
		"'$RECCTL' fsck --repair '$MNT' 2>&1 | grep -q 'is in a recfs mount'"
	expect_eq "and made no LOCK in either" "" "$(ls "$WORK/notastore/LOCK" "$MNT/LOCK" 2>/dev/null)"
	# An etcd store has no directory: "No such file or directory" until
	# 2026-12-07.
	bad=""
	for c in fsck dump stats compact; do
		want="2 0 1"; [ "$c" = stats ] || [ "$c" = compact ] && want="1 0 1"
		res=$(offline $c etcd://127.0.0.1:1/none)
		[ "$res" = "$want" ] && grep -q "is an etcd store: $c works on store directories only" "$WORK/off.err" ||
			bad="$bad [$c: $res $(cat "$WORK/off.err")]"
	done
	expect_eq "fsck, dump, stats and compact of an etcd:// store say they work on directories only" "" "$bad"
fi

cd /
unmount
expect_eq "offline compact STORE after unmount" 0 "$(status R compact "$STORE")"
if local_only; then
	res=$(offline dump "$STORE")
	check "dump STORE after unmount: exit 0, entries on stdout, nothing on stderr [$res]" \
		matches "$res" "^0 [1-9][0-9]* 0$"
	# A store whose blobs/ is gone: its log is whole, and so are the
	# counts; only the versions kept in blobs are lost.  Until
	# 2026-12-07 stats said the counts were of what comes before the
	# damage.
	mount_fresh || exit 1
	head -c 100000 /dev/zero > "$MNT/big" && echo small > "$MNT/small"
	unmount
	rm -r "$STORE/blobs"
	out=$("$RECCTL" stats "$STORE" 2>&1); rc=$?
	expect_eq "stats of a store without blobs/: exit 1, all records counted [${out//$'\n'/ | }]" \
		"1 records: 2" "$rc $(grep '^records:' <<< "$out")"
	check "saying the versions kept in blobs cannot be read, the counts whole" \
		has "$out" "versions kept in blobs cannot be read (the counts are whole)" "recctl fsck"
	check "not that they stop at the damage" lacks "$out" "before the damage"
fi

# ---- a deleted record whose line compaction forgot, made again ----------------
# With tombstone_limit=1 compaction forgets the older of two tombstones
# and raises the floor above it.  The shell whose `rm` deleted the record
# holds the deletion as its basis, which no line names any more: it may
# be refused once (the store cannot tell that basis from a stale one),
# but a look that finds the name gone is a read, as for any deleted
# record, and the next create passes, above the floor.  Before
# 2026-12-06 the look recorded nothing (no line to read) and every
# create of the name by that shell was refused with EAGAIN, for good.
# (Its version is above the forgotten tombstone, 3: 4 here, the floor's
# next, and on etcd above its own floor.)
mount_fresh tombstone_limit=1 || exit 1
cd "$MNT" || exit 1
echo 1 > lost; echo 2 > lost; rm lost     # lost: 1, 2, deleted at 3
echo 1 > later; rm later                  # a newer tombstone
blind "echo 1 > stale" 2>/dev/null
cat stale > /dev/null                     # the shell holds stale's 1
blind "setfattr -n user.expected_version -v 1 stale; echo 2 > stale; rm stale" 2>/dev/null
echo 1 > later; rm later                  # the newest tombstone
R compact "$MNT" > /dev/null
{ echo 3 > lost; } 2>/dev/null            # (may be refused once)
ls lost > /dev/null 2>&1                  # finds it gone: a read
{ echo 3 > lost; } 2>"$WORK/lost.err"
expect_eq "after its line is forgotten, the shell that deleted a record looks and makes it again [$(cat "$WORK/lost.err")]" \
	"3 above" "$(cat lost 2>/dev/null) $([ "$(ver lost)" -gt 3 ] 2>/dev/null && echo above || ver lost)"
# A shell whose basis of a record is stale (someone else changed it, then
# deleted it) is still refused, until it looks.
{ echo mine > stale; } 2>"$WORK/stale.err"
check "a stale basis of a forgotten record is still refused [$(cat "$WORK/stale.err")]" \
	has "$(cat "$WORK/stale.err")" "Resource temporarily unavailable"
ls stale > /dev/null 2>&1
{ echo mine > stale; } 2>"$WORK/stale.err"
expect_eq "and after a look it is made again [$(cat "$WORK/stale.err")]" mine "$(cat stale 2>/dev/null)"
cd /
unmount

# ---- another user ------------------------------------------------------------
# A record another user may not read hides its version from them: ls
# showed '-', as for a record still being created, until 2026-12-07.
if command -v setpriv > /dev/null; then
	mount_fresh allow_other || exit 1
	cd "$MNT" || exit 1
	chmod 777 .
	echo secret > priv && chmod 600 priv
	echo open > pub
	expect_eq "ls as another user: '?' for a record it may not read" \
		"$(printf '? priv\n1 pub')" \
		"$(setpriv --reuid=65534 --regid=65534 --clear-groups "$RECCTL" ls 2>&1)"
	# rm --expect N of a record one may not write but may unlink (a
	# directory one may write): rm removes it, and recctl rm said
	# "remove: Permission denied" until 2026-12-07 (its declaration
	# needs write permission on the record).
	# ($WORK, above the mount, must let recctl find where it is.)
	echo one > theirs && chmod 644 theirs && chmod 711 "$WORK"
	nob() { setsid -w setpriv --reuid=65534 --regid=65534 --clear-groups "$RECCTL" "$@" > /dev/null 2>&1; echo $?; }
	expect_eq "rm --expect N, stale, of a record another user may not write: exit 75, kept" \
		"75 one" "$(nob rm --expect 2 theirs) $(cat theirs)"
	expect_eq "rm --expect N of it at N removes it" \
		"0 gone" "$(nob rm --expect 1 theirs) $(test -e theirs || echo gone)"
	chmod 700 "$WORK"
	cd /
	unmount
	# Another user's store (0700, as the daemon makes it) in a directory
	# anyone may search: until 2026-12-07 fsck, dump and stats said it
	# was "not a recfs store (no LOCK or segment in it)" and compact
	# "neither a recfs mount nor a store", for a store they may not read.
	PUB=$(mktemp -d /tmp/recfs-recctl-user.XXXXXX) && chmod 755 "$PUB"
	cp -a "$STORE" "$PUB/store" && chmod 700 "$PUB/store"
	bad=""
	for c in fsck dump stats compact; do
		out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$RECCTL" $c "$PUB/store" 2>&1 > /dev/null)
		has "$out" "Permission denied" && lacks "$out" "store (no LOCK" || bad="$bad [$c: $out]"
	done
	expect_eq "fsck, dump, stats and compact of another user's store say Permission denied" "" "$bad"
	rm -rf "$PUB"
fi

# ---- another user's old versions ---------------------------------------------
# A kept version is readable under the owner and mode its record had
# when it was written (up to its deletion), not under those of whoever
# holds the name now.  Until 2026-12-07 every version showed the record's
# owner now: alice's 0600 record deleted in a 1777 directory, bob made
# one of that name and read alice's old versions, in .recfs/history and
# with recctl show.  Also after a compaction and a restart (the store
# keeps it in its log).
if command -v setpriv > /dev/null && id alice > /dev/null 2>&1 &&
	id bob > /dev/null 2>&1; then
	as() { local u=$1; shift; setsid -w setpriv --reuid="$u" --regid="$u" --init-groups "$@"; }
	mount_fresh allow_other || exit 1
	chmod 711 "$WORK" && chmod 1777 "$MNT"
	as alice bash -c "cd '$MNT' && umask 077 && echo a1 > sh && echo a2 > sh && rm sh &&
		umask 022 && echo c1 > over && chmod 600 over && echo x > mine && mv mine over &&
		mkdir -m 700 dd && echo d1 > dd/r && mv dd ee"
	as bob bash -c "cd '$MNT' && umask 022 && echo b4 > sh && mkdir dd && echo b > dd/r"
	# (Linux lets only the owner of a sticky root set its attributes:
	# until 2026-12-07 the refusal was explained as "no basis".)
	out=$(as bob "$RECCTL" compact "$MNT" 2>&1); rc=$?
	expect_eq "compact by another user of a sticky root: exit 1 [$out]" 1 "$rc"
	check "and says it needs write permission on the root" \
		has "$out" "needs write permission on the mount root"
	check "not that a change had no basis" lacks "$out" "no basis"
	for when in "" " after compaction" " after a restart"; do
		case $when in
		*compaction) R compact "$MNT" > /dev/null ;;
		*restart) unmount && mount_again allow_other || exit 1 ;;
		esac
		expect_eq "bob may not read alice's old versions in .recfs/history$when (nor a 0600 one she renamed a 0644 over, nor a 0644 one in her 0700 directory she renamed, whose name he made again)" \
			"no no no no" "$(for p in sh/1 sh/2 over/1 dd/r/1; do as bob cat "$MNT/.recfs/history/$p" > /dev/null 2>&1 && echo yes || echo no; done | xargs)"
		expect_eq "nor with recctl show$when" "1 1" \
			"$(for v in 1 2; do as bob bash -c "cd '$MNT' && '$RECCTL' show sh@$v" > /dev/null 2>&1; echo $?; done | xargs)"
		expect_eq "alice still reads them$when" "a1 a2 c1 d1" \
			"$(for p in sh@1 sh@2 over@1 dd/r@1; do as alice bash -c "cd '$MNT' && '$RECCTL' show $p" 2>&1; done | xargs)"
		expect_eq "bob reads his own$when" "b4 b4" \
			"$(as bob bash -c "cd '$MNT' && '$RECCTL' show sh@4 && cat .recfs/history/sh/4" 2>&1 | xargs)"
		# Nor their numbers, times and sizes: until 2026-12-07 his
		# recctl log and ls -l listed them (all but the hash).
		expect_eq "bob's recctl log, ls and stat of the history show only his own version$when" \
			"4|4|no" "$(as bob bash -c "cd '$MNT' && '$RECCTL' log sh | awk '{print \$1}' | xargs;
				ls .recfs/history/sh | xargs; stat .recfs/history/sh/1 > /dev/null 2>&1 && echo yes || echo no" 2>&1 | paste -sd'|')"
		expect_eq "alice's lists hers and his$when" "4 2 1" \
			"$(as alice bash -c "cd '$MNT' && '$RECCTL' log sh" 2>&1 | awk '{print $1}' | xargs)"
	done
	chmod 700 "$WORK"
	unmount
fi
finish

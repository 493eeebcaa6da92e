#!/bin/bash
# End-to-end: whose basis a change finds up its line of processes (SPEC,
# "The basis of a change"): an ancestor's basis only for what started
# after it was registered, stale marks that a sudo's refusal leaves, a
# user's bases after sudo changed or made a record on them, and pid 1.
# Users: root runs the script; a user's shell is `setpriv` to nobody in
# a session of its own (the terminal's shell), and sudo is fakesudo
# (tests/fakesudo.c, setuid root; -n: without a new session).
. "$(dirname "$0")/lib_e2e.sh"

mount_fresh allow_other || exit 1
cd "$MNT" || exit 1
chmod 777 .

# Helpers a user can run: $WORK is 0700.  (/tmp may be nosuid: then the
# sudo checks are skipped.)
SU=$(mktemp -d /tmp/recfs-basis-tree.XXXXXX) && chmod 755 "$SU"
cc -O1 -o "$SU/fakesudo" "$TESTS/fakesudo.c" && chmod 4755 "$SU/fakesudo"
echo blind > "$SU/blind" && chmod 644 "$SU/blind"
U=(setsid -w setpriv --reuid=65534 --regid=65534 --clear-groups)
# as_user SCRIPT: run bash SCRIPT as nobody, leading a session of its own
# (the terminal's shell), in the mount; prints what it prints.
as_user() { "${U[@]}" bash -c "$1" 2>&1; }
sudo_ok=no
[ "$(as_user "'$SU/fakesudo' id -u")" = 0 ] && sudo_ok=yes

# ---- A: an ancestor's basis, only for what started after it -------------
# The terminal's shell T starts a script S, then reads the record.  S,
# running already, must not write on T's basis, neither itself nor
# through a command it starts later (its cp started after T's read, but
# S, the child of T on the path, before it).
blind 'echo v1 > cc; chmod 666 cc'
expect_eq "a script already running when its shell read a record cannot write it through a later command" \
	"builtin-refused cp-refused v1" \
	"$(as_user "bash -c \"sleep 1.2; { echo b > cc; } 2>/dev/null && echo builtin-passed || echo builtin-refused; cp '$SU/blind' cc 2>/dev/null && echo cp-passed || echo cp-refused\" &
		sleep 0.4; cat cc > /dev/null; wait" | tr '\n' ' ')$(cat cc)"
# What the rule must keep: commands started after the read.
blind 'echo v1 > p1; echo v1 > p2; echo v1 > p3; chmod 666 p1 p2 p3'
expect_eq "a shell's read, then its cp, and its cp as bash -c's last command" \
	"ok ok blind blind" \
	"$(as_user "cat p1 > /dev/null; cp '$SU/blind' p1 && echo ok; bash -c \"cat p2 > /dev/null; cp '$SU/blind' p2\" && echo ok" | tr '\n' ' ')$(cat p1) $(cat p2)"
printf 'all:\n\tcp %s p3\n' "$SU/blind" > "$SU/Makefile"
expect_eq "a shell's read, then make, whose recipe writes the record" \
	"ok blind" \
	"$(as_user "cat p3 > /dev/null; make -s -f '$SU/Makefile' && echo ok" | tr '\n' ' ')$(cat p3)"
blind 'echo v1 > p4; chmod 666 p4'
expect_eq "a thread started before its process read the record writes it" \
	"ok blind" \
	"$({ as_user "/usr/bin/python3 -c \"
import threading
go = threading.Event()
def w():
    go.wait()
    open('p4', 'w').write('blind\n')
t = threading.Thread(target=w); t.start()
import time; time.sleep(0.05)
open('p4').read(); go.set(); t.join(); print('ok')
\""; cat p4; } | tr '\n' ' ' | sed 's/ $//')"

# A child subreaper holds nothing for the orphans it adopts (SPEC).  Linux
# shows no subreaper flag in /proc; an orphan adopted from another session
# shows it, being in another session than its parent without leading its
# own: the lookup stops there.  Before 2026-12-06 one orphan's read let
# another, started later, overwrite the record blind.
blind 'echo v1 > sr; chmod 666 sr'
cat > "$SU/subreaper.py" <<'PY'
import ctypes, errno, os, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # CHILD_SUBREAPER
R = os.getpid()
def orphan(act):
    rd, wr = os.pipe()
    m = os.fork()
    if m == 0:
        os.setsid()             # the orphan's session, led by m
        if os.fork() == 0:
            while os.getppid() != R:
                time.sleep(0.01)  # m is gone: adopted by R
            os.write(wr, act().encode())
            os._exit(0)
        os._exit(0)
    os.close(wr)
    os.waitpid(m, 0)
    out = os.read(rd, 100).decode()
    os.wait()
    return out
def read():
    open("sr").read()
    return "read"
def write():
    try:
        with open("sr", "w") as f:
            f.write("blind\n")
        return "accepted"
    except OSError as e:
        return errno.errorcode[e.errno]
print(orphan(read), orphan(write))
PY
chmod 644 "$SU/subreaper.py"
expect_eq "an orphan a subreaper adopted from another session cannot write on another orphan's read" \
	"read EPERM v1" "$(as_user "/usr/bin/python3 '$SU/subreaper.py'" | tr '\n' ' ')$(cat sr)"

# ---- B: a sudo's refusal leaves a mark its user's shell sees ------------
# T reads v2; its script S declares v1 (stale), and S's sudo tee is
# refused on it.  The mark at S then stops S's next change (EAGAIN),
# though S runs as the user and the refuser was root: before, S's cp
# passed over the root-stamped mark and wrote on T's basis.  (T runs
# a command after S: bash -c would exec S as its last one, and S would
# be T.)
if [ $sudo_ok = yes ]; then
	blind 'echo v1 > sm; chmod 666 sm'
	blind 'setfattr -n user.expected_version -v 1 sm; echo v2 > sm'
	expect_eq "after sudo's change is refused as stale on a script's basis, the script's next change is refused too" \
		"tee-refused cp-refused v2" \
		"$(as_user "cat sm > /dev/null; bash -c \"setfattr -n user.expected_version -v 1 sm; echo x | '$SU/fakesudo' tee sm > /dev/null 2>&1 && echo tee-passed || echo tee-refused; cp '$SU/blind' sm 2>&1 | grep -q 'Resource temporarily unavailable' && echo cp-refused || echo cp-not-eagain\"; true" | tr '\n' ' ')$(cat sm)"
else
	ok "# SKIP sudo checks: no setuid in /tmp"
fi

# ---- C: sudo's change or create leaves the user a basis ------------------
if [ $sudo_ok = yes ]; then
	blind 'echo v1 > sv; chmod 666 sv'
	expect_eq "after sudo tee on the shell's basis, the user changes the record" \
		"ok y" \
		"$({ as_user "cat sv > /dev/null; echo x | '$SU/fakesudo' tee sv > /dev/null; echo y > sv && echo ok"; cat sv; } | tr '\n' ' ' | sed 's/ $//')"
	expect_eq "after sudo (same session) made a record, the user reads it and changes it" \
		"ok y" \
		"$({ as_user "echo x | '$SU/fakesudo' -n tee sc > /dev/null; '$SU/fakesudo' -n chmod 666 sc; cat sc > /dev/null; echo y > sc && echo ok"; cat sc; } | tr '\n' ' ' | sed 's/ $//')"
fi
rm -rf "$SU"

# ---- D: nothing is held for pid 1 -----------------------------------------
# A shell that is pid 1 in the daemon's pid namespace (a container's)
# creates a record: it holds no basis of it, so its overwrite is EPERM.
cd / && unmount
MNT1=$MNT
if unshare -pf --mount-proc true 2>/dev/null; then
	out=$(unshare -pf --mount-proc bash -c "
		'$RECFS' '$STORE' '$MNT1' -f 2>>'$WORK/recfs.log' &
		for _ in \$(seq 100); do mountpoint -q '$MNT1' && break; sleep 0.05; done
		cd '$MNT1' || exit 1
		echo a > p1f && echo \"pid=\$\$ created\"
		{ echo b > p1f; } 2>'$WORK/p1.err' || echo refused
		cd /; fusermount3 -u '$MNT1'; wait" 2>&1)
	expect_eq "pid 1's own create gives it no basis" \
		"pid=1 created refused Operation not permitted" \
		"$(echo "$out" | tr '\n' ' ')$(grep -o 'Operation not permitted' "$WORK/p1.err")"
else
	ok "# SKIP pid 1: no unshare -p"
fi

finish

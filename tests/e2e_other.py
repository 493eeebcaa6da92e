# e2e_other.py - what the end-to-end scripts' Python parts share:
# changes by a process of another tree (setsid: its parent is not the
# caller, so none of the caller's bases are its, and none of its are the
# caller's), and a call's outcome in words.  The scripts put tests/ on
# PYTHONPATH.
import os
import subprocess


def other(cmd):
    """Run shell @cmd in another session and wait for it: its exit
    status."""
    return subprocess.run(["setsid", "-w", "sh", "-c", cmd]).returncode


def theirs(name, version, text):
    """Another tree declares @version of @name, then writes @text over
    it (a save on that basis)."""
    subprocess.run(["setsid", "-w", "sh", "-c",
                    'setfattr -n user.expected_version -v "$1" "$2" && '
                    'printf %s "$3" > "$2"', "sh", str(version), name, text],
                   check=True)


def attempt(fn):
    """Call fn: "ok", or the strerror of the errno it failed with."""
    try:
        fn()
        return "ok"
    except OSError as e:
        return e.strerror


def gone_handles(rd, wr):
    """What two O_RDWR descriptors of records deleted since give: @rd's
    read, and @wr's read after it writes "PRE" at offset 0 (a change in
    the middle of what it held), each the bytes or the strerror."""
    def value(fn):
        try:
            return fn()
        except OSError as e:
            return e.strerror

    def write_read():
        os.pwrite(wr, b"PRE", 0)
        return os.pread(wr, 100, 0).decode()
    return "read=%s write=%s" % (value(lambda: os.pread(rd, 100, 0).decode()),
                                 value(write_read))


def gone_forgotten(recctl, content, delete):
    """Two records holding @content, each open O_RDWR (not read yet),
    deleted by another tree (shell command @delete), then forgotten by
    the store: four more tombstones past a small tombstone_limit, and
    compaction.  @return "history=RC read=... write=...": `recctl log`'s
    exit status, then what the descriptors give (gone_handles)."""
    for k in ("kept", "kept2"):
        with open(k, "w") as f:
            f.write(content)
    rd = os.open("kept", os.O_RDWR)
    wr = os.open("kept2", os.O_RDWR)
    other(delete)
    for i in range(4):
        other("echo x > t%d; cat t%d > /dev/null; rm t%d" % (i, i, i))
    other(recctl + " compact . > /dev/null")
    log = subprocess.run([recctl, "log", "kept"], capture_output=True)
    return "history=%d %s" % (log.returncode, gone_handles(rd, wr))

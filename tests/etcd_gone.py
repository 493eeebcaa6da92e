#!/usr/bin/env python3
"""etcd_gone.py M1 M2 N SEED - two mounts of one etcd prefix.

N times: M1 writes a record and opens it O_RDWR without reading it; a
process on M2 deletes the record, renames it away, renames another over
it, updates it, or leaves it.  Once M1 shows that, M1's descriptor must
read what the record held at its open if it was taken away (nlink 0),
else what the name holds (nlink 1): a record another mount takes away
is kept for the descriptors still open on it, as a local unlink keeps it
(fs/names.c, rfs_remote_gone).  Before 2026-12-06 such a read got
ESTALE, or the record renamed over it.  Prints "done N bad B ..." last.
"""
import os
import random
import subprocess
import sys
import time

OPS = ("rm", "mv", "over", "update", "none")


def sh(where, cmd):
    """Each change by a process of its own: a process's implicit basis
    is the first version it saw (SPEC), so one long-lived process that
    changed a record twice would be refused."""
    subprocess.run(["bash", "-c", "cd '%s' && %s" % (where, cmd)],
                   check=True)


def content(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def wait(pred, what):
    for _ in range(500):
        if pred():
            return
        time.sleep(0.01)
    raise SystemExit("timeout: " + what)


def m2_command(op, name, other):
    base = "cat %s > /dev/null && " % name
    return {"rm": base + "rm " + name,
            "mv": base + "mv %s gone_moved" % name,
            "over": base + "printf %s > gone_t && mv gone_t %s" % (other, name),
            "update": base + "printf %s > %s" % (other, name),
            "none": "true"}[op]


def one(i, m2, rng):
    """One round; returns an error line or None."""
    name = "gone_r%d" % (i % 7)
    mine = "c%d-%s" % (i, "x" * rng.randint(0, 3000))
    other = "o%d" % i
    op = rng.choice(OPS)
    sh(".", "cat %s > /dev/null 2>&1; printf %%s %s > %s" % (name, mine, name))
    wait(lambda: content(os.path.join(m2, name)) == mine, "M2 sees " + name)
    fd = os.open(name, os.O_RDWR)            # not read: no snapshot yet
    sh(m2, m2_command(op, name, other))
    at_name = {"rm": None, "mv": None, "none": mine}.get(op, other)
    wait(lambda: content(name) == at_name, "M1 sees %s after %s" % (name, op))
    try:
        got = os.pread(fd, 10000, 0).decode()
    except OSError as e:
        got = e.strerror
    nlink = os.fstat(fd).st_nlink
    os.close(fd)
    if op == "mv":
        sh(".", "cat gone_moved > /dev/null; rm gone_moved")
    want = other if op == "update" else mine
    want_nlink = 1 if op in ("update", "none") else 0
    if got != want or nlink != want_nlink:
        return "BAD %d %s: read %r nlink %d, want %r nlink %d" % (
            i, op, got[:24], nlink, want[:24], want_nlink)
    return None


def main():
    m1, m2, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4])
    os.chdir(m1)
    rng = random.Random(seed)
    bad = 0
    for i in range(n):
        err = one(i, m2, rng)
        if err:
            bad += 1
            print(err)
    print("done", n, "bad", bad)


if __name__ == "__main__":
    main()

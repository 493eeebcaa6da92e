# posix_diff.py ROOT SEED N [MOUNT] - random file operations for
# tests/e2e_posix_diff.sh, which runs the same SEED under a tmpfs
# directory and a recfs mount (-o unchecked: no basis is needed, so one
# process's operations mean what they mean anywhere) and compares the
# transcripts, one JSON [step, operation, result] per line.  Given
# MOUNT, the recfs mount's root, the store is also compacted now and
# then (before a step, and between a handle's steps), which no answer
# may show; and with POSIX_DIFF_RESTART, a command, the daemon is killed
# and the store mounted again now and then (between steps).
#
# Seven names and three directories are created, written (whole, at an
# offset, appended), truncated, read, renamed, unlinked, linked as
# symlinks, chmod'ed, touched and given xattrs, and in about a quarter of
# the steps a handle is opened read-write (plain, O_TRUNC or O_APPEND)
# and used: written, truncated, read, fstat'ed, fsync'ed, and its file
# renamed or unlinked under it before it is closed.  Every random choice
# is drawn before the operation runs, so both runs make the same ones
# whatever they return.  Left out on purpose, as the contract differs
# from a local filesystem there: reads through a handle opened before
# another handle's commit (recfs keeps the version it opened), hard
# links, two writers of one file at once.
# Found on 2026-12-06: five bugs in xattrs and in handles on files that
# were gone (the commits that fixed them say which).
import errno, json, os, random, stat, subprocess, sys, zlib

COMPACT = sys.argv[4] if len(sys.argv) > 4 else None
# A command that kills the daemon (SIGKILL) and mounts the store again:
# a restart must lose nothing that was closed, and show nothing.
RESTART = os.environ.get("POSIX_DIFF_RESTART") if COMPACT else None

NAMES = ["a", "b", "c", "d/x", "d/y", "e", "d/s/z"]
DIRS = ["d", "d/s", "f"]


def digest(d):
    return "%d:%08x" % (len(d), zlib.crc32(d))


def compact(now):
    """On recfs (COMPACT, its mount's root), when @now: compact the
    store, which must change nothing any call answers.  With
    keep_versions=1 and tombstone_limit=1 it forgets all it may: two
    files made and deleted outside the run's directory first leave
    newer tombstones, so every file the run deleted is forgotten."""
    if now and COMPACT:
        for i in range(2):
            f = os.path.join(COMPACT, ".forget%d" % i)
            open(f, "wb").close()
            os.unlink(f)
        os.setxattr(COMPACT, "user.recfs.compact", b"1")


def handle_block(p, mode, steps):
    res = []
    fd = os.open(p, os.O_RDWR | os.O_CREAT | mode, 0o644)
    cur = p
    try:
        for kind, ln, off, to, data, now in steps:
            compact(now)
            try:
                if kind == 0:
                    res.append("w%d" % os.pwrite(fd, data[:ln], off))
                elif kind == 1:
                    os.ftruncate(fd, off)
                    res.append("t%d" % off)
                elif kind == 2:
                    res.append("r" + digest(os.pread(fd, 1 << 16, 0)))
                elif kind == 3:
                    res.append("f%d" % os.fstat(fd).st_size)
                elif kind == 4:
                    os.fsync(fd)
                    res.append("s")
                elif kind == 5:
                    os.rename(cur, to)
                    cur = to
                    res.append("mv " + to)
                else:
                    os.unlink(cur)
                    res.append("rm")
            except OSError as e:
                res.append("E" + errno.errorcode[e.errno])
    finally:
        os.close(fd)
    return res


def restart(now, root):
    """With RESTART, when @now: kill the daemon and mount again (between
    steps: no descriptor is open then)."""
    if now and RESTART:
        os.chdir("/")
        # (in a session of its own, as check_model.py's: a run killed at
        # its deadline must not cut the restart between kill and mount)
        subprocess.run(RESTART, shell=True, check=True,
                       stdout=subprocess.DEVNULL, start_new_session=True)
        os.chdir(root)


def run(root, seed, nops):
    r = random.Random(seed)
    root = os.path.abspath(root)
    os.chdir(root)
    os.umask(0o022)
    for i in range(nops):
        restart(r.random() < 0.01, root)
        k = 19 if r.random() < 0.25 else r.randrange(19)
        p, q = r.choice(NAMES + DIRS), r.choice(NAMES + DIRS)
        data = bytes([r.randrange(97, 123)]) * r.randrange(0, 5000)
        off = r.randrange(0, 6000)
        xname = "user.t%d" % r.randrange(3)
        xflag = r.choice([0, os.XATTR_CREATE, os.XATTR_REPLACE])
        xval = b"v%d" % r.randrange(10)
        fmode = r.choice([0o600, 0o644, 0o755, 0o400])
        hmode = r.choice([0, os.O_TRUNC, os.O_APPEND])
        steps = [(r.randrange(7), r.randrange(0, 3000), r.randrange(0, 5000),
                  r.choice(NAMES), data, r.random() < 0.2)
                 for _ in range(r.randrange(1, 7))]
        compact(r.random() < 0.05)

        def write():
            with open(p, "wb") as fh:
                fh.write(data)

        def pwrite():
            fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                return os.pwrite(fd, data, off)
            finally:
                os.close(fd)

        def append():
            with open(p, "ab") as fh:
                fh.write(data)

        def read():
            with open(p, "rb") as fh:
                return digest(fh.read())

        def lstat():
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                return "%o dir" % st.st_mode
            return "%o %d %d" % (st.st_mode, st.st_size, st.st_nlink)

        def xlist():
            return sorted(x for x in os.listxattr(p, follow_symlinks=False)
                          if x.startswith("user.t"))

        def excl():
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, data)
            os.close(fd)

        ops = {
            0: ("write", write), 1: ("pwrite %d" % off, pwrite),
            2: ("append", append), 3: ("truncate %d" % off,
                                       lambda: os.truncate(p, off)),
            4: ("read", read), 5: ("rename to " + q, lambda: os.rename(p, q)),
            6: ("unlink", lambda: os.unlink(p)),
            7: ("mkdir", lambda: os.mkdir(p)),
            8: ("rmdir", lambda: os.rmdir(p)), 9: ("lstat", lstat),
            10: ("listdir", lambda: sorted(os.listdir(p))),
            11: ("symlink to " + q, lambda: os.symlink(q, p)),
            12: ("readlink", lambda: os.readlink(p)),
            13: ("chmod %o" % fmode, lambda: os.chmod(p, fmode)),
            14: ("setxattr %s %d" % (xname, xflag),
                 lambda: os.setxattr(p, xname, xval, xflag,
                                     follow_symlinks=False)),
            15: ("getxattr " + xname,
                 lambda: os.getxattr(p, xname, follow_symlinks=False)),
            16: ("listxattr", xlist),
            17: ("removexattr " + xname,
                 lambda: os.removexattr(p, xname, follow_symlinks=False)),
            18: ("excl", excl),
            19: ("handle %d" % hmode,
                 lambda: handle_block(p, hmode, steps)),
        }
        what, fn = ops[k]
        try:
            v = fn()
        except OSError as e:
            v = "E" + errno.errorcode.get(e.errno, str(e.errno))
        print(json.dumps([i, "%s %s" % (p, what), v], default=repr))


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))

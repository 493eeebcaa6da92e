# posix_ops.py ROOT - the operations script of tests/e2e_posix.sh: runs
# ordinary file operations under ROOT (a tmpfs directory, or a recfs
# mount) and prints a transcript, one JSON [key, result] per line, that
# e2e_posix.sh compares between the two.  POSIX_NOBODY=fsuid plays uid
# 65534 through setfsuid instead of a child that changes its uid.
import ctypes, errno, hashlib, json, os, socket, stat, subprocess, sys, time, zlib

root = sys.argv[1]
os.chdir(root)
os.umask(0o022)
out = []
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def rec(key, val):
    out.append((key, str(val)))


def fmt(v):
    if isinstance(v, bytes):
        if len(v) <= 48:
            return repr(v)
        return "%d bytes sha256:%s" % (len(v), hashlib.sha256(v).hexdigest()[:16])
    return repr(v)


def op(key, fn):
    try:
        v = fn()
        rec(key, "ok" if v is None else "ok " + fmt(v))
    except OSError as e:
        rec(key, errno.errorcode.get(e.errno, str(e.errno)))


def describe(p):
    try:
        st = os.lstat(p)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    m = st.st_mode
    if stat.S_ISDIR(m):
        return "dir mode=%o uid=%d entries=%s" % (
            stat.S_IMODE(m), st.st_uid, sorted(os.listdir(p)))
    if stat.S_ISLNK(m):
        return "symlink -> %s" % os.readlink(p)
    if stat.S_ISREG(m):
        with open(p, "rb") as f:
            data = f.read()
        return "file mode=%o uid=%d size=%d data=%s" % (
            stat.S_IMODE(m), st.st_uid, st.st_size, fmt(data))
    return "other mode=%o" % m


def state(key, *paths):
    for p in paths:
        rec("%s: %s" % (key, p), describe(p))


def put(p, data, mode=0o644):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, data)
    os.close(fd)


def renameat2(a, b, flags):
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


os.mkdir("t")
os.chdir("t")

# ---- create and open flags -------------------------------------------
op("create new file O_CREAT|O_EXCL mode 0640", lambda: os.close(
    os.open("a", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)))
state("after create", "a")
op("O_CREAT|O_EXCL on existing", lambda: os.open(
    "a", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
op("open missing without O_CREAT", lambda: os.open("nope", os.O_RDONLY))
op("open file with O_DIRECTORY", lambda: os.open("a", os.O_RDONLY | os.O_DIRECTORY))
op("open with trailing slash on a file", lambda: os.open("a/", os.O_RDONLY))
os.mkdir("d0")
op("open a directory O_WRONLY", lambda: os.open("d0", os.O_WRONLY))
op("open missing parent", lambda: os.open("nodir/x", os.O_WRONLY | os.O_CREAT, 0o644))


def w_then_close(p, flags, data, mode=0o644):
    fd = os.open(p, flags, mode)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


op("write 'hello world' into a", lambda: w_then_close("a", os.O_WRONLY, b"hello world"))
state("after write", "a")
op("O_CREAT without O_EXCL on existing keeps content", lambda: os.close(
    os.open("a", os.O_WRONLY | os.O_CREAT, 0o600)))
state("after O_CREAT on existing", "a")
op("O_TRUNC then write", lambda: w_then_close("a", os.O_WRONLY | os.O_TRUNC, b"short"))
state("after O_TRUNC", "a")
op("O_TRUNC with no write", lambda: os.close(os.open("a", os.O_WRONLY | os.O_TRUNC)))
state("after empty O_TRUNC", "a")
put("b", b"0123456789")


def overwrite_mid():
    fd = os.open("b", os.O_RDWR)
    os.lseek(fd, 3, os.SEEK_SET)
    n = os.write(fd, b"XYZ")
    pos = os.lseek(fd, 0, os.SEEK_CUR)
    os.close(fd)
    return (n, pos)


op("lseek 3 + write XYZ, position after", overwrite_mid)
state("after overwrite", "b")


def bad_fd_ops():
    r = []
    fd = os.open("b", os.O_RDONLY)
    try:
        os.write(fd, b"x")
        r.append("write ok")
    except OSError as e:
        r.append(errno.errorcode[e.errno])
    os.close(fd)
    fd = os.open("b", os.O_WRONLY)
    try:
        os.read(fd, 1)
        r.append("read ok")
    except OSError as e:
        r.append(errno.errorcode[e.errno])
    os.close(fd)
    return r


op("write on O_RDONLY fd, read on O_WRONLY fd", bad_fd_ops)
state("after bad fd ops", "b")

# ---- reads at offsets -------------------------------------------------
put("r", bytes(range(256)) * 40)


def preads():
    fd = os.open("r", os.O_RDONLY)
    try:
        return [os.pread(fd, 8, 0), os.pread(fd, 8, 250), os.pread(fd, 16, 10230),
                os.pread(fd, 8, 10240), os.pread(fd, 8, 99999)]
    finally:
        os.close(fd)


op("pread at 0, 250, near end, at end, past end", preads)


def seeks():
    fd = os.open("r", os.O_RDONLY)
    try:
        a = os.lseek(fd, 0, os.SEEK_END)
        b = os.lseek(fd, -10, os.SEEK_END)
        c = os.read(fd, 100)
        d = os.lseek(fd, 5, os.SEEK_SET)
        e = os.read(fd, 3)
        return [a, b, c, d, e, os.lseek(fd, 0, os.SEEK_CUR)]
    finally:
        os.close(fd)


op("lseek SEEK_END/SEEK_SET and read", seeks)


def big_read():
    with open("r", "rb") as f:
        return f.read()


op("read whole 10240-byte file", big_read)

# ---- sparse writes and holes ------------------------------------------
put("s", b"start")


def sparse():
    fd = os.open("s", os.O_WRONLY)
    n = os.pwrite(fd, b"far", 10000)
    n2 = os.pwrite(fd, b"mid", 5000)
    os.close(fd)
    return (n, n2)


op("pwrite past the end (10000) and into the hole (5000)", sparse)
state("sparse file", "s")


def hole_reads():
    fd = os.open("s", os.O_RDONLY)
    try:
        return [os.pread(fd, 10, 5), os.pread(fd, 4, 4998), os.pread(fd, 10, 9995),
                os.fstat(fd).st_size]
    finally:
        os.close(fd)


op("reads inside the holes are zeros", hole_reads)


def sparse_new():
    fd = os.open("s2", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    os.pwrite(fd, b"Z", 70000)  # beyond the inline limit
    os.close(fd)


op("new file with a single byte at 70000", sparse_new)
state("sparse new file", "s2")

# ---- read your own writes, same handle --------------------------------


def own_writes():
    fd = os.open("own", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, b"abcdef")
        r1 = os.pread(fd, 100, 0)
        os.ftruncate(fd, 3)
        r2 = os.pread(fd, 100, 0)
        return [r1, r2, os.fstat(fd).st_size]
    finally:
        os.close(fd)


op("one O_RDWR handle reads its own writes and ftruncate", own_writes)
state("after own writes", "own")
put("own2", b"0123456789")


def own_size():
    fd = os.open("own2", os.O_RDWR)
    try:
        os.write(fd, b"abcdefghijklmnop")         # extends 10 -> 16
        r = [os.fstat(fd).st_size, os.lseek(fd, 0, os.SEEK_END)]
        os.write(fd, b"XY")                       # at the end it just found
        return r + [os.pread(fd, 100, 0)]
    finally:
        os.close(fd)


op("a handle that extends a file: fstat, SEEK_END, write at the end", own_size)
state("after extending through one handle", "own2")


def own_commits():
    # fsync commits (on recfs); the handle then reads what it committed,
    # as a database rereads its pages after each transaction.
    fd = os.open("own3", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        r = []
        os.pwrite(fd, b"AAAA", 0)
        os.fsync(fd)
        r.append(os.pread(fd, 10, 0))
        os.pwrite(fd, b"BB", 0)
        os.fdatasync(fd)
        r.append(os.pread(fd, 10, 0))
        os.ftruncate(fd, 3)
        os.fsync(fd)
        r.append(os.pread(fd, 10, 0))
        os.pwrite(fd, b"C", 3)
        r.append(os.pread(fd, 10, 0))
        return r + [os.fstat(fd).st_size]
    finally:
        os.close(fd)


op("one O_RDWR handle reads back each version its fsync committed", own_commits)
state("after reading back its own commits", "own3")


def sqlite_session():
    # One connection, a transaction per statement (rollback journal):
    # each reads pages the previous ones wrote through the same handle.
    import sqlite3
    os.mkdir("sq")
    c = sqlite3.connect("sq/db", isolation_level=None)
    r = []
    try:
        c.execute("create table t(id integer primary key, v text)")
        for i in range(24):
            c.execute("insert into t(v) values(?)", ("x" * (i * 40),))
            if i % 6 == 5:
                r.append(c.execute("select count(*), sum(length(v)) from t").fetchone())
        c.execute("update t set v = 'u' where id % 3 = 0")
        c.execute("delete from t where id % 5 = 0")
        r.append(c.execute("select count(*), sum(length(v)) from t").fetchone())
    finally:
        c.close()
    c = sqlite3.connect("sq/db")
    try:
        r.append(c.execute("select count(*), sum(length(v)) from t").fetchone())
        r.append(c.execute("pragma integrity_check").fetchone())
    finally:
        c.close()
    return r


op("SQLite: transactions in one connection, then a new connection", sqlite_session)
state("after the SQLite session", "sq")

# ---- O_APPEND ---------------------------------------------------------
put("log", b"line0\n")


def appends():
    fd = os.open("log", os.O_WRONLY | os.O_APPEND)
    r = [os.write(fd, b"line1\n"), os.lseek(fd, 0, os.SEEK_CUR)]
    os.lseek(fd, 0, os.SEEK_SET)
    r.append(os.write(fd, b"line2\n"))   # still at the end
    r.append(os.lseek(fd, 0, os.SEEK_CUR))
    r.append(os.pwrite(fd, b"line3\n", 0))  # Linux: O_APPEND wins over the offset
    os.close(fd)
    return r


op("O_APPEND writes after lseek(0) and pwrite(0)", appends)
state("after appends", "log")


def append_two_handles():
    a = os.open("log", os.O_WRONLY | os.O_APPEND)
    b = os.open("log", os.O_WRONLY | os.O_APPEND)
    os.write(a, b"A\n")
    os.close(a)
    os.write(b, b"B\n")
    os.close(b)


op("two O_APPEND handles, interleaved", append_two_handles)
state("after two appenders", "log")


def append_read_back():
    # An "a+" log reads back the lines it appended.
    fd = os.open("log", os.O_RDWR | os.O_APPEND)
    try:
        r = [os.pread(fd, 100, 0)]
        os.write(fd, b"C\n")
        r.append(os.pread(fd, 100, 0))
        os.write(fd, b"D\n")
        r.append(os.pread(fd, 100, 0))
        return r
    finally:
        os.close(fd)


op("an O_RDWR|O_APPEND handle reads back its own appends", append_read_back)
state("after appends read back", "log")
op("O_APPEND|O_CREAT of a new file", lambda: w_then_close(
    "newlog", os.O_WRONLY | os.O_APPEND | os.O_CREAT, b"first\n"))
state("new appended file", "newlog")

# ---- truncate up and down ---------------------------------------------
put("tr", b"hello world")


def ftruncs():
    fd = os.open("tr", os.O_RDWR)
    os.ftruncate(fd, 5)
    os.ftruncate(fd, 12)
    os.close(fd)


op("ftruncate down to 5 then up to 12", ftruncs)
state("after ftruncate", "tr")
FALLOC_KEEP_SIZE, FALLOC_PUNCH_HOLE, FALLOC_COLLAPSE_RANGE = 1, 2, 8
put("fa", b"0123456789")


def falloc(p, mode, off, length):
    fd = os.open(p, os.O_RDWR)
    try:
        if libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(length)) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


op("fallocate a hole punched in the middle", lambda: falloc(
    "fa", FALLOC_KEEP_SIZE | FALLOC_PUNCH_HOLE, 2, 3))
state("after punching a hole", "fa")
op("fallocate a hole punched across the end", lambda: falloc(
    "fa", FALLOC_KEEP_SIZE | FALLOC_PUNCH_HOLE, 8, 100))
op("fallocate a hole without KEEP_SIZE", lambda: falloc("fa", FALLOC_PUNCH_HOLE, 0, 1))
op("fallocate that extends", lambda: falloc("fa", 0, 0, 16))
op("fallocate KEEP_SIZE past the end", lambda: falloc("fa", FALLOC_KEEP_SIZE, 0, 64))
state("after fallocate", "fa")
op("truncate by path down to 3", lambda: os.truncate("tr", 3))
state("after truncate 3", "tr")
op("truncate by path up to 100000", lambda: os.truncate("tr", 100000))
state("after truncate 100000", "tr")
op("truncate by path to 0", lambda: os.truncate("tr", 0))
state("after truncate 0", "tr")
op("truncate a directory", lambda: os.truncate("d0", 0))
op("truncate a missing file", lambda: os.truncate("missing", 0))
op("truncate to a negative size", lambda: os.truncate("tr", -1))


def ftrunc_rdonly():
    fd = os.open("tr", os.O_RDONLY)
    try:
        os.ftruncate(fd, 1)
    finally:
        os.close(fd)


op("ftruncate on an O_RDONLY fd", ftrunc_rdonly)

# ---- rename in all its forms ------------------------------------------
put("f1", b"one")
put("f2", b"two")
op("rename file over file", lambda: os.rename("f1", "f2"))
state("after rename over file", "f1", "f2")
op("rename file to a new name", lambda: os.rename("f2", "f3"))
state("after rename to new", "f2", "f3")
op("rename file onto itself", lambda: os.rename("f3", "f3"))
state("after rename onto itself", "f3")
op("rename missing source", lambda: os.rename("nosuch", "f9"))
os.mkdir("dA")
os.mkdir("dB")
put("dB/inner", b"in B")
os.mkdir("dE")
op("rename file into another directory", lambda: os.rename("f3", "dA/f3"))
state("after rename into dir", "f3", "dA/f3")
put("g", b"gee")
op("rename file over a directory (EISDIR)", lambda: os.rename("g", "dE"))
op("rename directory over a file (ENOTDIR)", lambda: os.rename("dE", "g"))
op("rename directory over a non-empty directory", lambda: os.rename("dA", "dB"))
state("after refused dir renames", "g", "dA", "dB", "dE")
op("rename directory over an empty directory", lambda: os.rename("dA", "dE"))
state("after dir over empty dir", "dA", "dE", "dE/f3")
op("rename directory into itself (EINVAL)", lambda: os.rename("dB", "dB/sub"))
os.mkdir("dB/child")
op("rename directory into its own child (EINVAL)", lambda: os.rename("dB", "dB/child/x"))
op("rename directory to a new name", lambda: os.rename("dB", "dC"))
state("after dir rename", "dB", "dC", "dC/inner")
op("rename with a missing target parent", lambda: os.rename("g", "nodir/g"))
op("rename a file with a trailing slash target", lambda: os.rename("g", "gg/"))
# (in a directory of their own, so that nothing later depends on them)
os.mkdir("nr")
put("nr/n1", b"n-one")
put("nr/n2", b"n-two")
op("RENAME_NOREPLACE onto an existing file",
   lambda: renameat2("nr/n1", "nr/n2", RENAME_NOREPLACE))
state("after refused NOREPLACE", "nr/n1", "nr/n2")
op("RENAME_NOREPLACE to a new name", lambda: renameat2("nr/n1", "nr/n3", RENAME_NOREPLACE))
state("after NOREPLACE to new", "nr/n1", "nr/n3")
os.mkdir("nr/d1")
os.mkdir("nr/d2")
op("RENAME_NOREPLACE of a file onto an existing directory",
   lambda: renameat2("nr/n2", "nr/d1", RENAME_NOREPLACE))
op("RENAME_NOREPLACE of a directory onto an empty directory",
   lambda: renameat2("nr/d1", "nr/d2", RENAME_NOREPLACE))
op("RENAME_NOREPLACE of a directory to a new name",
   lambda: renameat2("nr/d1", "nr/d3", RENAME_NOREPLACE))
state("after NOREPLACE dirs", "nr/n2", "nr/d1", "nr/d2", "nr/d3")
put("n2", b"n-two")
put("n3", b"n-one")
os.mkdir("nd")

# ---- rmdir and unlink -------------------------------------------------
op("rmdir a non-empty directory", lambda: os.rmdir("dC"))
op("rmdir a file", lambda: os.rmdir("g"))
op("rmdir a missing directory", lambda: os.rmdir("nodir"))
op("rmdir an empty directory", lambda: os.rmdir("nd"))
op("unlink a directory", lambda: os.unlink("dC"))
op("unlink a missing file", lambda: os.unlink("nosuch"))
op("unlink a file", lambda: os.unlink("g"))
op("mkdir an existing directory", lambda: os.mkdir("dC"))
op("mkdir over an existing file", lambda: os.mkdir("n2"))
op("mkdir with a missing parent", lambda: os.mkdir("x/y/z"))
op("mkdir mode 0750", lambda: os.mkdir("m750", 0o750))
state("after rmdir/unlink/mkdir", "dC", "g", "nd", "m750")


def list_removed_cwd():
    # A working directory removed under its process lists nothing, as
    # on a local filesystem (recfs refused the opendir with ENOENT until
    # 2026-12-07: `ls` there failed).
    back = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    os.mkdir("rmcwd")
    os.chdir("rmcwd")
    try:
        os.rmdir("../rmcwd")
        return os.listdir(".")
    finally:
        os.fchdir(back)
        os.close(back)


op("list a working directory removed under it", list_removed_cwd)

# ---- handles on a file that is gone, and appends after a change -------
# Found by a random run of these operations against tmpfs: a handle that
# had not read before its file was unlinked read nothing, and its first
# write started from nothing; an O_APPEND handle's append after its own
# ftruncate was lost at its close; rename(a, a) made the writer's fstat 0.


def crc(fd):
    d = os.pread(fd, 1 << 16, 0)
    return "%d %08x" % (len(d), zlib.crc32(d))


def gone_then_read_write():
    put("gone1", bytes(range(256)) * 8)
    fd = os.open("gone1", os.O_RDWR)
    out = []
    try:
        os.unlink("gone1")
        out.append(crc(fd))
        os.pwrite(fd, b"MID", 1000)
        out.append(crc(fd))
        os.ftruncate(fd, 1500)
        out.append((os.fstat(fd).st_size, crc(fd)))
    finally:
        os.close(fd)
    return out


def gone_then_append():
    put("gone2", b"before\n")
    fd = os.open("gone2", os.O_RDWR | os.O_APPEND)
    try:
        os.unlink("gone2")
        os.write(fd, b"after\n")
        return (os.fstat(fd).st_size, os.pread(fd, 100, 0))
    finally:
        os.close(fd)


def append_after_own_truncate():
    put("app3", b"0123456789")
    fd = os.open("app3", os.O_RDWR | os.O_APPEND)
    try:
        os.ftruncate(fd, 4)
        os.write(fd, b"+tail")
        inside = os.pread(fd, 100, 0)
    finally:
        os.close(fd)
    return (inside, open("app3", "rb").read())


def rename_to_itself_while_writing():
    fd = os.open("self4", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.ftruncate(fd, 3000)
        os.rename("self4", "self4")
        return (os.fstat(fd).st_size, os.stat("self4").st_size)
    finally:
        os.close(fd)


def mkstemp_unlink_links():
    # The creator unlinks its new file before its close (mkstemp, then
    # unlink): fstat shows 0 links, written or not.
    r = []
    for data in (b"", b"abc"):
        fd = os.open("tmp5", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.unlink("tmp5")
            st = os.fstat(fd)
            r.append((st.st_nlink, st.st_size, os.pread(fd, 10, 0)))
        finally:
            os.close(fd)
    return r


op("a handle on an unlinked file reads, writes and truncates what it had",
   gone_then_read_write)
op("a new file unlinked by its creator shows 0 links through its handle",
   mkstemp_unlink_links)
op("an O_APPEND handle on an unlinked file appends to what it had",
   gone_then_append)
op("an append after the handle's own ftruncate is kept",
   append_after_own_truncate)
op("rename(a, a) while a's writer has its change open",
   rename_to_itself_while_writing)
state("after the gone handles", "gone1", "gone2", "app3", "self4")

# ---- symlinks -----------------------------------------------------------
op("symlink to a file", lambda: os.symlink("n2", "ln"))
op("readlink", lambda: os.readlink("ln"))
op("read through a symlink", lambda: open("ln", "rb").read())
op("symlink over an existing name", lambda: os.symlink("x", "n2"))
op("dangling symlink", lambda: os.symlink("no/where", "dang"))
op("open through a dangling symlink", lambda: os.open("dang", os.O_RDONLY))
op("O_CREAT|O_EXCL on a dangling symlink", lambda: os.open(
    "dang", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
op("O_NOFOLLOW open of a symlink", lambda: os.open("ln", os.O_RDONLY | os.O_NOFOLLOW))
op("readlink of a regular file", lambda: os.readlink("n2"))
op("rename a symlink", lambda: os.rename("ln", "ln2"))
state("after symlinks", "ln", "ln2", "dang")
op("unlink a symlink leaves its target", lambda: os.unlink("ln2"))
state("after unlinking the symlink", "ln2", "n2")

# ---- mknod of a regular file ----------------------------------------------
op("mknod S_IFREG", lambda: os.mknod("nod", stat.S_IFREG | 0o640))
state("after mknod", "nod")
op("write to the mknod'ed file", lambda: w_then_close("nod", os.O_WRONLY, b"noded"))
state("after writing it", "nod")

# ---- extended attributes: a directory's, and a file's before its first close


def xlist(p):
    # recfs computes user.version and user.hash; tmpfs has neither
    return sorted(x for x in os.listxattr(p)
                  if x not in ("user.version", "user.hash"))


op("setxattr on a directory", lambda: os.setxattr("m750", "user.d", b"dir"))
op("listxattr of a directory lists it", lambda: xlist("m750"))
op("getxattr of a directory", lambda: os.getxattr("m750", "user.d"))
op("removexattr of a directory",
   lambda: (os.removexattr("m750", "user.d"), xlist("m750"))[1])


def xattrs_while_created():
    # recfs keeps these until the record's first commit (its close)
    fd = os.open("xnew", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    out = []

    def attempt(fn, *args):
        try:
            fn(*args)
            out.append("ok")
        except OSError as e:
            out.append(errno.errorcode[e.errno])
    try:
        os.write(fd, b"x")
        os.setxattr(fd, "user.a", b"1")
        os.setxattr(fd, "user.a", b"2")
        out.append(os.getxattr(fd, "user.a"))
        attempt(os.setxattr, fd, "user.a", b"3", os.XATTR_CREATE)
        attempt(os.setxattr, fd, "user.z", b"3", os.XATTR_REPLACE)
        os.setxattr(fd, "user.gone", b"g")
        attempt(os.removexattr, fd, "user.gone")
        attempt(os.removexattr, fd, "user.never")
        os.setxattr(fd, "user.big", b"B" * 60000)
        out.append(len(os.getxattr(fd, "user.big")))
        out.append(sorted(x for x in os.listxattr(fd)
                          if x not in ("user.version", "user.hash")))
    finally:
        os.close(fd)
    out.append(os.getxattr("xnew", "user.a"))
    out.append(xlist("xnew"))
    return out


op("xattrs set twice, with flags, removed and large before the first close",
   xattrs_while_created)

# ---- metadata: chmod, utimens -------------------------------------------
op("chmod 0604", lambda: os.chmod("n2", 0o604))
op("chmod 04755 keeps setuid for root", lambda: os.chmod("n3", 0o4755))
state("after chmod", "n2", "n3")
op("chmod a directory 0700", lambda: os.chmod("m750", 0o700))
state("after chmod dir", "m750")


def setgid_dir():
    # A set-group-ID directory gives what is made in it its group, and a
    # directory made in it the bit (a group's shared tree).  Before
    # 2026-12-07 recfs gave them the maker's group and no bit.
    os.mkdir("sgd")
    os.chown("sgd", -1, 1)
    os.chmod("sgd", 0o2775)
    put("sgd/f", b"f", 0o640)
    fd = os.open("sgd/open", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    st = os.fstat(fd)
    os.close(fd)
    os.mkdir("sgd/sub", 0o750)
    os.symlink("f", "sgd/ln")
    os.mknod("sgd/nod", stat.S_IFREG | 0o600)
    os.mkdir("sgd/sub/deeper")
    r = [(st.st_gid, oct(stat.S_IMODE(st.st_mode)))]
    for p in ("sgd/f", "sgd/open", "sgd/sub", "sgd/ln", "sgd/nod",
              "sgd/sub/deeper"):
        st = os.lstat(p)
        r.append((p, st.st_gid, oct(stat.S_IMODE(st.st_mode))))
    os.chmod("sgd", 0o775)
    put("sgd/plain", b"p")
    r.append(os.stat("sgd/plain").st_gid)
    return r


op("a set-group-ID directory gives its group, and a directory its bit",
   setgid_dir)
T1 = 1234567890123456789
T2 = 1500000000987654321


def times(p):
    st = os.lstat(p)
    return (st.st_atime_ns, st.st_mtime_ns)


op("utimens explicit (atime, mtime) in ns", lambda: os.utime("n2", ns=(T1, T2)))
op("stat after utimens", lambda: times("n2"))
op("utimens keeps content", lambda: open("n2", "rb").read())
op("utimens on a directory", lambda: (os.utime("m750", ns=(T2, T1)), times("m750"))[1])
op("utimens in seconds", lambda: (os.utime("n3", (1000000000, 1100000000)), times("n3"))[1])


def utime_now():
    os.utime("n2", ns=(T1, T2))
    os.utime("n2")
    return times("n2")[1] > T2


op("utime(NULL) sets the current time", utime_now)


def utime_omit():
    # utimensat with UTIME_OMIT for atime: only mtime changes
    UTIME_OMIT = (1 << 30) - 2
    ts = (ctypes.c_long * 4)(0, UTIME_OMIT, 1600000000, 42)
    os.utime("n3", ns=(T1, T2))
    if libc.utimensat(AT_FDCWD, b"n3", ts, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return times("n3")


op("utimensat with UTIME_OMIT on atime", utime_omit)


def write_moves_mtime():
    os.utime("n3", ns=(T1, T2))
    w_then_close("n3", os.O_WRONLY | os.O_APPEND, b"+")
    return os.stat("n3").st_mtime_ns > T2


op("a write moves mtime", write_moves_mtime)


def futimens():
    fd = os.open("n3", os.O_WRONLY)
    try:
        os.utime(fd, ns=(T2, T1))
        return times("n3")
    finally:
        os.close(fd)


op("futimens through an open handle", futimens)


def times_while_writing():
    # `cp -p src rec`, `touch -r`, tar: the times are set through the
    # descriptor after the last write and before the close.  They stay,
    # and a write after them moves mtime again.  Before 2026-12-06 the
    # commit at close stamped its own time over them on an existing file,
    # and a new file kept them despite a later write.
    r = []
    fd = os.open("n3", os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"copied")
    os.utime(fd, ns=(T1, T2))
    os.close(fd)
    r.append(times("n3"))
    fd = os.open("n3", os.O_RDWR)
    os.write(fd, b"C")
    os.utime("n3", ns=(T2, T1))  # by path, while the change is open
    os.fsync(fd)
    r.append(times("n3"))
    os.write(fd, b"D")  # a later write of the same handle moves it
    os.close(fd)
    r.append(times("n3")[1] > T2)
    fd = os.open("tnew", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"x")
    os.utime(fd, ns=(T1, T2))
    os.write(fd, b"y")
    os.close(fd)
    r.append(times("tnew")[1] > T2)
    return r + [open("n3", "rb").read()]


op("times set while a change is open: they stay until its next write",
   times_while_writing)

# ---- directory times ----------------------------------------------------
# A name added to a directory or taken from it moves the directory's
# mtime and ctime (maildir readers, importlib's cache and backup tools
# poll them); rewriting a file in it does not; a renamed directory keeps
# its mtime.  Each stat before the change is cached by the kernel: the one
# after shows whether the new times reach it.  Until 2026-12-07 recfs
# never moved them.
os.mkdir("dt")
os.mkdir("dt/a")
os.mkdir("dt/b")
put("dt/a/f", b"f")
put("dt/a/o", b"o")
put("dt/b/o", b"o")


def dir_moves(action, *dirs):
    before = [os.stat(d) for d in dirs]
    time.sleep(0.02)  # past a coarse clock's tick
    try:
        action()
        r = "done"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    return r, [(os.stat(d).st_mtime_ns > b.st_mtime_ns,
                os.stat(d).st_ctime_ns > b.st_ctime_ns)
               for d, b in zip(dirs, before)]


def dt_create():
    w_then_close("dt/a/n", os.O_WRONLY | os.O_CREAT | os.O_EXCL, b"n")


def dt_create_stat_open():
    # the directory's times are asked for while the new file is open
    fd = os.open("dt/a/p", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"p")
    os.stat("dt/a")
    time.sleep(0.02)
    os.close(fd)


def dt_utime_then_rewrite():
    os.utime("dt/a", ns=(T1, T2))
    w_then_close("dt/a/o", os.O_WRONLY | os.O_TRUNC, b"o2")
    return times("dt/a")


op("dir times: create a file", lambda: dir_moves(dt_create, "dt/a", "dt"))
op("dir times: create a file, its directory's times asked while it is open",
   lambda: dir_moves(dt_create_stat_open, "dt/a"))
op("dir times: rewrite a file", lambda: dir_moves(
    lambda: w_then_close("dt/a/f", os.O_WRONLY | os.O_TRUNC, b"f2"), "dt/a"))
op("dir times: O_CREAT of an existing file", lambda: dir_moves(
    lambda: os.close(os.open("dt/a/f", os.O_WRONLY | os.O_CREAT)), "dt/a"))
op("diff: dir times: mknod", lambda: dir_moves(
    lambda: os.mknod("dt/a/m", stat.S_IFREG | 0o644), "dt/a"))
op("dir times: mkdir", lambda: dir_moves(lambda: os.mkdir("dt/a/s"), "dt/a"))
op("dir times: mkdir of an existing name", lambda: dir_moves(
    lambda: os.mkdir("dt/a/s"), "dt/a"))
op("dir times: symlink", lambda: dir_moves(
    lambda: os.symlink("f", "dt/a/l"), "dt/a"))
op("dir times: unlink", lambda: dir_moves(lambda: os.unlink("dt/a/n"), "dt/a"))
op("dir times: unlink a symlink", lambda: dir_moves(
    lambda: os.unlink("dt/a/l"), "dt/a"))
op("dir times: rmdir", lambda: dir_moves(lambda: os.rmdir("dt/a/s"), "dt/a"))
op("dir times: rename out of one into another", lambda: dir_moves(
    lambda: os.rename("dt/a/f", "dt/b/f"), "dt/a", "dt/b", "dt"))
op("dir times: rename within one", lambda: dir_moves(
    lambda: os.rename("dt/b/f", "dt/b/g"), "dt/b", "dt/a"))
op("dir times: rename over a file in another", lambda: dir_moves(
    lambda: os.rename("dt/a/o", "dt/b/o"), "dt/a", "dt/b"))
op("dir times: rename a directory", lambda: dir_moves(
    lambda: os.rename("dt/b", "dt/a/b2"), "dt", "dt/a"))
op("dir times: a renamed directory keeps its mtime", lambda: (
    os.utime("dt/a/b2", ns=(T1, T2)), time.sleep(0.02),
    os.rename("dt/a/b2", "dt/b2"), times("dt/b2"))[3])
put("dt/a/o", b"o")
op("dir times: utimens of a directory holds through a rewrite in it",
   dt_utime_then_rewrite)



def dir_links():
    # A directory's st_nlink is 2 and one per subdirectory (its ".."):
    # mkdir, rmdir and rename move it.  Until 2026-12-07 recfs said 2.
    ls = ("dn", "dn/a", "dn/a/x", "dn/b")
    os.makedirs("dn/a/x")
    os.mkdir("dn/b")
    put("dn/f", b"f")
    r = [[os.stat(p).st_nlink for p in ls]]
    os.rename("dn/a/x", "dn/b/x")
    r.append([os.stat(p).st_nlink for p in ("dn/a", "dn/b")])
    os.rename("dn/b", "dn/a/b")
    r.append([os.stat(p).st_nlink for p in ("dn", "dn/a", "dn/a/b")])
    os.rmdir("dn/a/b/x")
    r.append([os.stat(p).st_nlink for p in ("dn", "dn/a", "dn/a/b")])
    return r


op("directory link counts", dir_links)

# ---- permissions as another user (uid 65534) ---------------------------
os.mkdir("p")
os.chmod("p", 0o777)
os.mkdir("p/closed")
os.chmod("p/closed", 0o755)
os.mkdir("p/sticky")
os.chmod("p/sticky", 0o1777)
put("p/secret", b"root only", 0o600)
put("p/public", b"everyone reads", 0o644)
put("p/open", b"everyone writes")
os.chmod("p/open", 0o666)
put("p/sticky/roots", b"mine")
os.chmod("p/sticky/roots", 0o666)
put("p/x644", b"#!/bin/sh\n", 0o644)
put("p/x744", b"#!/bin/sh\nexit 0\n", 0o744)
put("p/x755", b"#!/bin/sh\nexit 0\n", 0o755)
os.mkdir("p/private")
put("p/private/f", b"behind a closed door")
os.setxattr("p/private/f", "user.color", b"red")
os.chmod("p/private", 0o700)
time.sleep(0.3)  # the chmod's invalidation of cached names is queued
os.stat("p/private/f")  # root's walk caches the name again, if it may
os.setxattr("p/secret", "user.color", b"blue")
os.mkdir("p/closed/empty")
put("p/nobodys", b"owned by uid 65534, group root")
os.chown("p/nobodys", 65534, 0)
# A change by another user (write, append, truncate) takes set-user-ID
# and set-group-ID off (the kernel's file_remove_privs).  Until 2026-12-07
# recfs kept them at a write, and refused a truncate (EPERM) where it
# checked owners itself.
for n, m in (("w", 0o6777), ("a", 0o6777), ("t", 0o6777), ("f", 0o6777),
             ("nx", 0o2766)):
    put("p/suid_" + n, b"#!/bin/sh\n")
    os.chmod("p/suid_" + n, m)


def nobody_ftruncate(p):
    fd = os.open(p, os.O_RDWR)
    try:
        os.ftruncate(fd, 2)
    finally:
        os.close(fd)


def as_nobody(ops):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        res = []
        try:
            os.setgroups([])
            if os.environ.get("POSIX_NOBODY") == "fsuid":
                # Still uid 0, so a mount without allow_other lets it
                # in; the file system sees uid 65534 and no capability.
                libc.setfsgid(65534)
                libc.setfsuid(65534)
            else:
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
            for name, fn in ops:
                try:
                    v = fn()
                    res.append((name, "ok" if v is None else "ok " + fmt(v)))
                except OSError as e:
                    res.append((name, errno.errorcode.get(e.errno, str(e.errno))))
        except Exception as e:
            res.append(("child setup", repr(e)))
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    for name, val in json.loads(data):
        rec("uid 65534: " + name, val)


def nobody_write(p, data, flags=os.O_WRONLY | os.O_TRUNC):
    fd = os.open(p, flags, 0o644)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


as_nobody([
    ("read a 0600 root file", lambda: open("p/secret", "rb").read()),
    ("read a 0644 root file", lambda: open("p/public", "rb").read()),
    ("write a 0644 root file", lambda: nobody_write("p/public", b"mine")),
    ("write a 0666 root file", lambda: nobody_write("p/open", b"written by nobody")),
    ("truncate a 0644 root file", lambda: os.truncate("p/public", 0)),
    ("create in a 0755 root directory", lambda: nobody_write(
        "p/closed/n", b"x", os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
    ("mkdir in a 0755 root directory", lambda: os.mkdir("p/closed/d")),
    ("create in a 0777 directory", lambda: nobody_write(
        "p/mine", b"nobody's", os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
    ("chmod a root file", lambda: os.chmod("p/open", 0o777)),
    ("chmod its own file", lambda: os.chmod("p/mine", 0o600)),
    ("chown its own file to root", lambda: os.chown("p/mine", 0, 0)),
    ("utimens explicit on a 0666 root file", lambda: os.utime("p/open", ns=(T1, T2))),
    ("utime(NULL) on a 0666 root file", lambda: os.utime("p/open")),
    ("utime(NULL) on a 0644 root file", lambda: os.utime("p/public")),
    ("unlink a root file in a sticky directory", lambda: os.unlink("p/sticky/roots")),
    ("rename a root file in a sticky directory", lambda: os.rename(
        "p/sticky/roots", "p/sticky/r2")),
    ("unlink a root file in a 0777 directory", lambda: os.unlink("p/x644")),
    ("access(X_OK) of a 0644 file", lambda: os.access("p/public", os.X_OK)),
    ("list a 0755 directory", lambda: sorted(os.listdir("p/closed"))),
    ("setxattr user.color on a 0644 root file",
     lambda: os.setxattr("p/public", "user.color", b"red")),
    ("removexattr user.color of a 0600 root file",
     lambda: os.removexattr("p/secret", "user.color")),
    ("getxattr user.color of a 0600 root file",
     lambda: os.getxattr("p/secret", "user.color")),
    ("stat a file in a 0700 root directory", lambda: os.stat("p/private/f").st_size),
    ("read a file in a 0700 root directory", lambda: open("p/private/f", "rb").read()),
    ("getxattr in a 0700 root directory",
     lambda: os.getxattr("p/private/f", "user.color")),
    ("list a 0700 root directory", lambda: os.listdir("p/private")),
    ("chdir into a 0700 root directory", lambda: os.chdir("p/private")),
    ("open O_RDONLY|O_TRUNC of a 0644 root file",
     lambda: os.close(os.open("p/public", os.O_RDONLY | os.O_TRUNC))),
    ("open O_RDWR of a 0666 root file",
     lambda: os.close(os.open("p/open", os.O_RDWR))),
    ("symlink in a 0755 root directory", lambda: os.symlink("x", "p/closed/l")),
    ("rmdir in a 0755 root directory", lambda: os.rmdir("p/closed/empty")),
    ("rename its file into a 0755 root directory",
     lambda: os.rename("p/mine", "p/closed/mine")),
    ("chmod g+s its own file, not in the group",
     lambda: (os.chmod("p/nobodys", 0o2644), oct(os.stat("p/nobodys").st_mode))[1]),
    ("chgrp its own file to a group it is not in",
     lambda: os.chown("p/mine", -1, 0)),
    ("chgrp its own file to its own group",
     lambda: os.chown("p/nobodys", -1, 65534)),
    ("run a 0744 root script", lambda: subprocess.run(["p/x744"]).returncode),
    ("run a 0755 root script", lambda: subprocess.run(["p/x755"]).returncode),
    ("write a 06777 root file", lambda: nobody_write("p/suid_w", b"x")),
    ("append to a 06777 root file", lambda: nobody_write(
        "p/suid_a", b"x", os.O_WRONLY | os.O_APPEND)),
    ("truncate a 06777 root file", lambda: os.truncate("p/suid_t", 1)),
    ("ftruncate a 06777 root file", lambda: nobody_ftruncate("p/suid_f")),
    ("append to a 02766 root file, not in its group", lambda: nobody_write(
        "p/suid_nx", b"x", os.O_WRONLY | os.O_APPEND)),
])
state("after uid 65534", "p/secret", "p/public", "p/open", "p/mine", "p/nobodys",
      "p/closed/l", "p/closed/mine", "p/closed/empty", "p/private/f", "p/sticky/roots",
      "p/x644", "p/closed", "p/suid_w", "p/suid_a", "p/suid_t", "p/suid_f",
      "p/suid_nx")
op("root reads a 0000 file", lambda: (put("p/zero", b"z", 0o000), os.chmod("p/zero", 0),
                                       open("p/zero", "rb").read())[2])

# ---- names ------------------------------------------------------------
op("create a 255-byte name", lambda: put("n" * 255, b"long"))
op("create a 256-byte name", lambda: put("n" * 256, b"too long"))
op("mkdir a 256-byte name", lambda: os.mkdir("d" * 256))
op("stat a 256-byte name", lambda: os.stat("n" * 256))
op("name with spaces, newline and UTF-8", lambda: put("a b\nc\u00e9\u2603", b"odd"))
state("odd name", "a b\nc\u00e9\u2603")

# ---- readdir and statvfs ------------------------------------------------
op("readdir of the test directory", lambda: sorted(os.listdir(".")))
op("readdir of a subdirectory", lambda: sorted(os.listdir("dE")))
op("scandir types", lambda: sorted((e.name, e.is_dir(follow_symlinks=False),
                                    e.is_symlink()) for e in os.scandir(".")
                                   if len(e.name) < 20))
op("readdir of a file", lambda: os.listdir("n2"))
op("statvfs f_namemax", lambda: os.statvfs(".").f_namemax)

# ---- documented differences (kept apart: nothing else depends on them) ---
os.mkdir("diff")
put("diff/src", b"src")
put("diff/other", b"other")
os.mkdir("diff/da")
os.mkdir("diff/db")
op("diff: link file", lambda: os.link("diff/src", "diff/hard"))
op("diff: mkfifo", lambda: os.mkfifo("diff/fifo"))
op("diff: mknod S_IFIFO", lambda: os.mknod("diff/fifo2", stat.S_IFIFO | 0o644))


def bind_sock():
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind("diff/sock")
    finally:
        s.close()


op("diff: bind unix socket", bind_sock)
op("diff: renameat2 RENAME_EXCHANGE files",
   lambda: renameat2("diff/src", "diff/other", RENAME_EXCHANGE))
op("diff: renameat2 RENAME_EXCHANGE dirs",
   lambda: renameat2("diff/da", "diff/db", RENAME_EXCHANGE))

for k, v in out:
    print(json.dumps([k, v]))

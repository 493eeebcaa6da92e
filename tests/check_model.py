# check_model.py DIR SEED N [TTL] - random checked changes on a recfs
# mount (whose expect_ttl is TTL seconds; 0 or none: not reached),
# each answer compared with a model of the contract (SPEC "Versions",
# "The basis of a change", "When the check happens"), for
# tests/e2e_check_model.sh.
#
# Records live at the top and in two directories, which are made,
# removed and renamed (records carry their lines to their new keys).
# Four actors share the records of DIR:
# - P, this process, run with its parent gone (pid 1 holds nothing, so
#   no lookup climbs past P): reads, declares (good, stale and malformed
#   values), saves (O_TRUNC), creates with O_EXCL, appends, truncates,
#   renames (a temporary file over a record, and record onto record),
#   unlinks, changes metadata, makes, removes and renames directories,
#   and opens read-write handles (plain, O_TRUNC, O_APPEND) whose first
#   change is checked, that commit at fsync and close, and that meet P's
#   own unlink and renames, its declarations (one made while a change is
#   open is for P's next change), and other writers; a refused write or
#   ftruncate is often retried after P declares the current version, or
#   after a read through the handle (which starts over when refused);
#   a second read-write handle of P writes once beside the first (and
#   fsyncs: its close commits only at its release, just after); P may
#   truncate the record by path under the handle's open change, which
#   commits that change first and truncates on top, as P's rename does;
#   P takes its declarations back (setfattr -x), as do its children and
#   W;
# - its children (fork), whose reads and declarations are held for P
#   too, and whose changes (saves, unlinks, renames of a record onto
#   another name, renames of a directory: `mv x y`) use P's bases (SPEC:
#   held "for that process and for its parent"), except where the
#   child's own lookup read a deleted name's tombstone; and a child that
#   reads a record and writes it on that read of its own, in place or
#   as sed -i does (a new file renamed over it), which moves P's basis
#   only where P's tree made it or that read gave it;
# - a subshell (a child of P) whose children save a record one after
#   another: the first on P's basis, each next one on what the one
#   before made, which the subshell holds (and P follows);
# - W, a thread of P, with bases of its own; its process is its parent;
#   it reads, declares, saves, unlinks and renames records;
# - U, a child of P that runs as another user (UID): its reads and
#   declarations are held for P too, but as UID's, and it may use only
#   what UID registered (SPEC: bases are held "for one uid"), while P,
#   root, may use any; it reads, declares and saves, and edits as a
#   child does (in place, sed -i); every fourth step U's basis of each
#   record (user.expected_version, asked by a new U) is compared too;
# - O, a process of another tree (its parent is gone too), which
#   declares the current version and then changes a record, or renames
#   a directory: the others' bases go stale under them.
# With CM_COMPACT, the mount's root, the store is compacted now and then
# (between steps, and between a handle's), which nothing may show; with
# CM_RESTART, a command, the daemon is killed and the store mounted again
# now and then (between steps): versions and contents stay, bases go.
# CM_WEIGHTS="rename=8,child_edit=6" (the op_ methods, named without
# op_) changes the mix, to stress some operations more than CI does.
# After each step the model's version, content and existence of every
# record, P's and W's basis of it (user.expected_version), and whether
# P has a user.conflict line for it (after a refusal as stale of P, W
# or a child on P's basis) are compared with the mount's.  The first
# difference ends the run: a line "MISMATCH ..." and exit 1; else "OK N
# steps (what was refused)".
#
# The model: per record its last version (a deleted one's tombstone),
# content and whether it exists; per record what P and W hold: an
# explicit basis (with its registration and time), an implicit one (with
# whether a child's create made it, and whether a read did), and a stale
# mark (with the time of a refused rename, unlink or truncate, whose 2 s
# grace makes the refused task's own reads give it nothing); each with the
# uid that registered it (0, or U's).
import errno, json, os, queue, random, subprocess, sys, threading, time
import traceback

KEYS = ["a", "b", "x/a", "x/b", "y/a", "y/b"]
DIRS = ["x", "y"]


def parent(k):
    return k.split("/")[0] if "/" in k else None


UID = 4242      # U's uid and gid (no account needed)
GRACE = 2.0
MARGIN = 0.3   # seconds kept clear of expect_ttl's edge
T0 = time.monotonic()


def err(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def attempt(fn, *args):
    """Call fn: "ok", or the name of the errno it failed with."""
    try:
        fn(*args)
        return "ok"
    except OSError as e:
        return err(e)


def put(k, flags, data):
    """Open k with flags, write data, close (a save, a create, an
    append): raises OSError from whichever call failed."""
    fd = os.open(k, flags, 0o666)     # (U may write it, unless chmod'ed)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def for_uid(st):
    """The permission bits of @st (an os.stat) that apply to UID, as
    the others' bits (0o007)."""
    if st.st_uid == UID:
        return (st.st_mode >> 6) & 0o7
    if st.st_gid == UID:
        return (st.st_mode >> 3) & 0o7
    return st.st_mode & 0o7


def in_child(act, uid=None):
    """Run act() in a forked child of this process (as @uid, with no
    supplementary groups, when given): "ok", or the name of the errno
    it failed with."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        res = "?"
        try:
            os.close(r)
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            act()
            res = "ok"
        except OSError as e:
            res = err(e)
        finally:
            os.write(w, res.encode())
            os._exit(0)
    os.close(w)
    got = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return got


def in_subshell(k, datas):
    """A child of this process (a subshell) that saves each of @datas
    over k in a child of its own, one after another (`(for ...; do cmd >
    k; done)`): the list of their answers (in_child)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        res = [in_child(child_call("save", k, d)) for d in datas]
        os.write(w, " ".join(res).encode())
        os._exit(0)
    os.close(w)
    got = os.read(r, 1000).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return got.split()


def child_call(what, k, data=b"", version=0, dst=None):
    """The call a child makes (in_child): read k, declare @version of
    it, save @data over it, unlink it, or rename it to @dst."""
    def act():
        if what == "read":
            with open(k, "rb") as fh:
                fh.read()
        elif what == "declare":
            os.setxattr(k, "user.expected_version", str(version).encode())
        elif what == "unlink":
            os.unlink(k)
        elif what == "rename":
            os.rename(k, dst)
        else:
            put(k, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, data)
    return act


class Rec:
    def __init__(self):
        self.ver, self.exists, self.data = 0, False, b""


class Held:
    """What a task holds for a record.  Each of E, I and mark carries
    the uid of the task that set it (Eu, Iu, marku): Held.uid, the uid
    the acting task runs as, recorded whenever the model sets one (a
    mark that is there already keeps its own, and is then made the
    refused basis's user's too: Run.stamp)."""
    uid = 0

    def __setattr__(self, name, value):
        if name in ("E", "I") and value is not None:
            object.__setattr__(self, name + "u", Held.uid)
        if name == "I":     # (a removal sets it after: removed())
            object.__setattr__(self, "gone", False)
            object.__setattr__(self, "pinned", False)
        elif name == "mark" and value and not getattr(self, "mark", False):
            object.__setattr__(self, "marku", Held.uid)
        object.__setattr__(self, name, value)

    def __init__(self):
        self.Eu = self.Iu = self.marku = 0
        self.E = self.I = None
        self.Et = 0.0          # when E was declared (expect_ttl)
        self.Eg = 0            # E's registration (one per declaration)
        self.via = False       # (W) I came from a change on P's basis
        self.made = False      # I came from a child's create
        self.pinned = False    # made, and I itself read since (seen)
        self.gone = False      # I came from a removal by the tree
        self.read = False      # I came from a read (else from a change)
        self.by_child = False  # I came from the running child's read
        self.mark = False
        self.grace = None      # time of a refused path change


class Other:
    """O: forked twice, so that its parent is gone and nothing it does
    is held for P.  One JSON command per line on a pipe."""

    def __init__(self, root):
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()

        def body():
            os.close(w1)
            os.close(r2)
            os.setsid()
            self.serve(root, os.fdopen(r1, "r"), os.fdopen(w2, "w"))

        fork_orphan(body)
        os.close(r1)
        os.close(w2)
        self.cmd = os.fdopen(w1, "w")
        self.ans = os.fdopen(r2, "r")

    @staticmethod
    def serve(root, cmd, ans):
        os.chdir(root)
        for line in cmd:
            what, k, data = json.loads(line)
            data = data.encode()
            if what == "cd":    # into the mount mounted again
                os.chdir(k)
                ans.write("ok\n")
                ans.flush()
                continue
            if what == "state":
                ans.write(json.dumps(Other.state(k.split())) + "\n")
                ans.flush()
                continue
            for attempt in range(2):
                res = Other.change(what, k, data)
                # O's own basis of a name deleted since it made it is
                # stale: refused once, it looks again (the tombstone)
                if res != "EAGAIN":
                    break
                if os.environ.get("CM_DEBUG"):
                    sys.stderr.write("O: %s %s EAGAIN, again\n" % (what, k))
            ans.write(res + "\n")
            ans.flush()

    @staticmethod
    def change(what, k, data):
        try:
            try:
                if what != "mvdir":
                    v = os.getxattr(k, "user.version")
                    os.setxattr(k, "user.expected_version", v)
            except OSError:
                pass
            if what == "write":
                put(k, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, data)
            elif what == "unlink":
                os.unlink(k)
            elif what == "mvdir":
                os.rename(*k.split())
            return "ok"
        except OSError as e:
            return err(e)

    @staticmethod
    def state(keys):
        out = {}
        for k in keys:
            try:
                v = int(os.getxattr(k, "user.version"))
                with open(k, "rb") as fh:
                    out[k] = [v, fh.read().decode()]
            except OSError as e:
                out[k] = err(e)
        return out

    def do(self, what, k, data=b""):
        self.cmd.write(json.dumps([what, k, data.decode()]) + "\n")
        self.cmd.flush()
        return self.ans.readline().strip()


class Worker:
    """W: a thread of P, which holds bases of its own and whose parent
    is its process (SPEC, "Threads")."""

    def __init__(self):
        self.q, self.a = queue.Queue(), queue.Queue()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            fn = self.q.get()
            try:
                self.a.put(fn())
            except OSError as e:
                self.a.put(err(e))

    def do(self, fn):
        self.q.put(fn)
        return self.a.get()


class Run:
    def __init__(self, root, seed, ttl):
        self.ttl = ttl          # the mount's expect_ttl; 0: never reached
        self.r = random.Random(seed)
        self.rec = {k: Rec() for k in KEYS + [k + ".tmp" for k in KEYS]}
        self.held = {k: Held() for k in self.rec}     # P's
        self.conflicts = set()  # keys P's tree was refused on (EAGAIN)
        self.wheld = {k: Held() for k in self.rec}    # W's
        self.groups = 0
        self.lease = None       # the key P's open handle is changing
        self.step = 0
        self.log = []
        self.seen_errs = {}     # errno name: how often (for the summary)
        self.unread = set()     # deleted keys a child's look did not read
        self.root = os.path.abspath(root)
        os.chdir(self.root)
        self.dirs = {d: True for d in DIRS}
        for d in DIRS:
            os.mkdir(d)
        self.other = Other(root)
        self.w = Worker()

    # --- the model ------------------------------------------------------
    def group(self):
        self.groups += 1
        return self.groups

    def consume(self, k, holder):
        """The declaration @holder holds for k is used up, wherever its
        registration is (P's and W's, when W declared)."""
        if holder.E is None:
            return
        g = holder.Eg
        for x in (self.held[k], self.wheld[k]):
            if x.E is not None and x.Eg == g:
                x.E = None

    def lookup(self, k):
        """P's basis of k, as a change by P or its children finds it;
        while U acts, only what U's uid registered (root's lookups take
        any uid's; another's passes over what is not its own)."""
        h, u = self.held[k], Held.uid

        def mine(uid):
            return u == 0 or uid == u
        if h.mark and mine(h.marku):
            return "stale", None
        if h.E is not None and mine(h.Eu):
            if self.ttl and time.monotonic() - h.Et >= self.ttl:
                return "expired", h.E
            return "explicit", h.E
        if h.I is not None and mine(h.Iu):
            return "implicit", h.I
        return None, None

    def seen(self, k, v, child=False, look=False):
        h = self.held[k]
        if h.mark and not child and h.grace is not None:
            if time.monotonic() - h.grace < GRACE:
                return
        h.mark, h.grace = False, None
        # A create's basis whose version was then read is that read's:
        # it no longer gives way to a later version (fs/basis.c, seen)
        if h.made and h.I == v and not look and \
                (h.Iu == Held.uid or Held.uid == 0):
            h.pinned = True
        if h.I is None or (h.made and not h.pinned and h.I != v) or \
                (h.gone and not look and v > h.I):
            h.I, h.made, h.read, h.by_child = v, False, True, child

    def removed(self, k, *held):
        """A removal of k made its tombstone the basis of each of @held
        that it moved (basis_removed): a read (not a look) of a later
        version replaces it, as a create's (seen)."""
        for x in held:
            if x.I == self.rec[k].ver and not x.read:
                x.gone = True

    def pok(self, k):
        """Is k's directory there?"""
        return parent(k) is None or self.dirs[parent(k)]

    def look_reads(self, k, kind, v, x):
        """Does a lookup that finds k deleted read its tombstone for the
        looker itself?  Not over a basis read or declared before the
        delete (fs/basis.c, basis_looked: every create looks first, and
        that look passed a stale basis over); over a mark (a refused
        writer may look, then create it anew), the tombstone's version,
        a basis from a change by the holder's tree, or none, it
        does."""
        if kind == "expired":
            return False
        return kind not in ("explicit", "implicit") or \
            v == self.rec[k].ver or (kind == "implicit" and not x.read)

    def looked(self, k, child=False):
        """A lookup that finds k deleted is a read of its tombstone for
        the looker's parent (P, for a child's look), and for the looker
        itself only where look_reads says so (fs/basis.c, basis_looked).
        A child's look that did not read it is in self.unread."""
        self.unread.discard(k)
        if self.pok(k) and not self.rec[k].exists and self.rec[k].ver:
            kind, v = self.lookup(k)
            reads = self.look_reads(k, kind, v, self.held[k])
            if not reads:
                self.seen_errs["unread"] = \
                    self.seen_errs.get("unread", 0) + 1
            if child:
                # P's basis its tree made moves to the tombstone its
                # child's look read (fs/basis.c, look_reads_locked):
                # P's first version seen would leave it behind what its
                # child makes now
                if reads and kind == "implicit" and \
                        v != self.rec[k].ver and \
                        self.held[k].Iu == Held.uid:
                    gone = self.held[k].gone    # (stays as it was)
                    self.held[k].I = self.rec[k].ver
                    self.held[k].gone = gone
                self.seen(k, self.rec[k].ver, child, look=True)
                if not reads:
                    self.unread.add(k)
            elif reads:
                self.seen(k, self.rec[k].ver, look=True)

    def check(self, k, path=False, child=False):
        """The check of a change of k: None if it passes, else the
        errno name; a refusal leaves its marks as the daemon does."""
        rec, h = self.rec[k], self.held[k]
        kind, v = self.lookup(k)
        if kind is None:
            return "EPERM" if rec.exists else None
        if kind in ("explicit", "implicit") and v == rec.ver:
            return None
        if kind == "expired":
            self.seen_errs["expired"] = self.seen_errs.get("expired", 0) + 1
        # A child refused on P's basis leaves P a mark for the user
        # whose basis it was (fs/basis_change.c, basis_refused), not its own:
        # root's child refused on what U read leaves one U meets
        # (EAGAIN).  P's own refusal marks P first, for P's uid, and
        # then for the basis's user too (stamp).
        u = h.Iu if kind == "implicit" else h.Eu
        if kind in ("explicit", "expired"):
            self.consume(k, h)    # (a stale mark's refusal uses none)
        h.I, h.made = None, False
        h.mark = True
        if kind != "stale":
            self.stamp(h, u)
        h.grace = time.monotonic() if path and not child else None
        self.conflicts.add(k)
        return "EAGAIN"

    @staticmethod
    def stamp(h, u):
        """The mark at @h is for uid @u too, whose basis held there was
        refused (fs/basis_change.c, mark_at): root meets every mark, so a root
        mark becomes @u's (the model's only other uid).  Until
        2026-12-07 it stayed its first user's, and U's retry passed
        over it."""
        if u and h.marku != u:
            assert h.marku == 0
            object.__setattr__(h, "marku", u)

    def took(self, k):
        """The registration of P's declaration that a change of k
        would take now (None: it would take none)."""
        h = self.held[k]
        return h.Eg if h.E is not None else None

    def commit(self, k, data, exists=True):
        """A change of k by P passed and committed: its next version,
        which P now holds."""
        rec, h = self.rec[k], self.held[k]
        rec.ver += 1
        rec.exists, rec.data = exists, data
        self.consume(k, h)
        h.mark, h.grace = False, None
        h.I, h.made, h.read = rec.ver, False, False
        if not exists:
            self.removed(k, h)

    # --- the mount ------------------------------------------------------
    def mismatch(self, what, want, got):
        print("MISMATCH step %d: %s: model %r, recfs %r" %
              (self.step, what, want, got))
        for line in self.log[-int(os.environ.get("CM_LOG", "12")):]:
            print("  " + line)
        if os.environ.get("CM_DEBUG"):
            for k, h in self.held.items():
                print("  P holds %s: %r" % (k, vars(h)))
        sys.exit(1)

    def expect(self, what, want, got):
        self.log.append("%d %s -> %s (%.2f s)" % (self.step, what, got,
                                                  time.monotonic() - T0))
        if isinstance(got, str) and got != "ok":
            self.seen_errs[got] = self.seen_errs.get(got, 0) + 1
        if want != got:
            self.mismatch(what, want, got)

    def verify(self):
        """Versions and contents as O reads them (nothing is held for P
        then), and P's basis as it asks for it (which registers none)."""
        got = json.loads(self.other.do("state", " ".join(self.rec)))
        for k, rec in self.rec.items():
            want = [rec.ver, rec.data.decode()] if rec.exists else "ENOENT"
            if want != got[k]:
                self.mismatch("state of " + k, want, got[k])
            if not rec.exists:
                continue    # (a basis for a name that is gone is kept)
            # (the state and the keys before took time: a declaration
            # may have come to expect_ttl's edge since the step's end)
            self.clear_of_ttl()
            kind, v = self.lookup(k)
            want = str(v) if kind in ("explicit", "implicit") else "ENODATA"
            try:
                g = os.getxattr(k, "user.expected_version").decode()
            except OSError as e:
                g = err(e)
            if want != g:
                self.mismatch("basis of " + k, want, g)
            # user.conflict: a line after a refusal as stale of P, its
            # thread or a child on P's basis (SPEC), else ENODATA
            try:
                g = os.getxattr(k, "user.conflict").decode()
                g = "line" if g.startswith("basis=") else g
            except OSError as e:
                g = err(e)
            want = "line" if k in self.conflicts else "ENODATA"
            if want != g:
                self.mismatch("conflict of " + k, want, g)
            kind, v, _ = self.w_lookup(k)
            want = str(v) if kind in ("explicit", "implicit") else "ENODATA"
            g = self.w.do(lambda: os.getxattr(
                k, "user.expected_version").decode())
            if want != g:
                self.mismatch("thread's basis of " + k, want, g)
        if self.step % 4 == 0:      # (a fork: every step's doubled the time)
            self.verify_uid()

    def verify_uid(self):
        """U's basis of each record, as a child of P running as UID asks
        for it: only what UID registered (SPEC: bases are held "for one
        uid"); EACCES where UID may not read the record.  A declaration
        at expect_ttl's edge may be seen either way: what the model says
        before and after the child's asking both pass."""
        keys = [k for k in self.rec if self.rec[k].exists]
        self.clear_of_ttl()

        def wants():
            out = {}
            for k in keys:
                kind, v = self.lookup_as(UID, k)
                out[k] = str(v) if kind in ("explicit", "implicit") \
                    else "ENODATA"
            return out
        modes = {k: for_uid(os.stat(k)) for k in keys}
        before = wants()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.setgroups([])
            os.setresgid(UID, UID, UID)
            os.setresuid(UID, UID, UID)
            out = {}
            for k in keys:
                try:
                    out[k] = os.getxattr(k, "user.expected_version").decode()
                except OSError as e:
                    out[k] = err(e)
            os.write(w, json.dumps(out).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            got = json.loads(f.read() or b"{}")
        os.waitpid(pid, 0)
        after = wants()
        for k in keys:
            want = before[k] if modes[k] & 0o004 else "EACCES"
            if got.get(k) != want and (got.get(k) != after[k] or
                                       want == "EACCES"):
                self.mismatch("uid %d's basis of %s" % (UID, k), want,
                              got.get(k))

    def data(self):
        return bytes([self.r.randrange(97, 123)]) * self.r.randrange(0, 300)

    # --- P's operations -------------------------------------------------
    def op_read(self, k):
        self.looked(k)
        try:
            with open(k, "rb") as fh:
                fh.read()
            got = "ok"
        except OSError as e:
            got = err(e)
        if self.rec[k].exists:
            self.seen(k, self.rec[k].ver)
        self.expect("read " + k, "ok" if self.rec[k].exists else "ENOENT",
                    got)

    def op_declare(self, k):
        self.looked(k)
        rec = self.rec[k]
        choice = self.r.randrange(6)
        val = [str(rec.ver), str(rec.ver), str(max(rec.ver - 1, 0)),
               str(rec.ver + 1), "%d\n" % rec.ver,
               self.r.choice(["", "-1", "x", " 1", "0x1",
                              "9223372036854775808"])][choice]
        try:
            os.setxattr(k, "user.expected_version", val.encode())
            got = "ok"
        except OSError as e:
            got = err(e)
        if not rec.exists:
            want = "ENOENT"
        elif choice == 5:
            want = "EINVAL"
        else:
            want = "ok"
            h = self.held[k]
            h.E, h.Et, h.Eg = int(val), time.monotonic(), self.group()
            h.mark, h.grace = False, None
        self.expect("declare %s %r" % (k, val), want, got)

    def op_withdraw(self, k):
        """P, a child of P or W takes its declaration of k back
        (setfattr -x): the entries of the caller and of its parent go
        (fs/basis.c, basis_withdraw): P's, for P's or its child's; W's
        and P's, for W's.  A sibling's entry of the same declaration
        stays (W's, when P or a child withdraws)."""
        who = self.r.choice(["P", "child", "W"])
        rm = lambda: os.removexattr(k, "user.expected_version")
        if who == "W":
            self.w_looked(k)
        else:
            for h in self.held.values():
                h.by_child = False
            self.looked(k, child=who == "child")
        if who == "P":
            got = attempt(rm)
        elif who == "child":
            got = in_child(rm)
        else:
            got = self.w.do(lambda: rm() or "ok")
        want = "ok" if self.rec[k].exists else "ENOENT"
        if want == "ok":
            self.held[k].E = None
            if who == "W":
                self.wheld[k].E = None
        self.expect("%s withdraws %s" % (who, k), want, got)

    def declare_current(self, k):
        rec, h = self.rec[k], self.held[k]
        got = attempt(os.setxattr, k, "user.expected_version",
                      str(rec.ver).encode())
        h.E, h.Et, h.Eg = rec.ver, time.monotonic(), self.group()
        h.mark, h.grace = False, None
        self.expect("declare %s %d (current)" % (k, rec.ver), "ok", got)

    def op_save(self, k):
        self.looked(k)
        data = self.data()
        rec = self.rec[k]
        got = attempt(put, k, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, data)
        if not self.pok(k):
            want = "ENOENT"
        elif not rec.exists or rec.data or data:
            # checked at the O_TRUNC open of a non-empty record, else at
            # the write; an empty record written empty is not changed
            want = self.check(k)
        else:
            want = "nochange"
        if want is None:
            self.commit(k, data)
        if want == "nochange":
            want = None
        self.expect("save %s %d" % (k, len(data)), want or "ok", got)

    def op_excl(self, k):
        self.looked(k)
        data = self.data()
        rec = self.rec[k]
        got = attempt(put, k, os.O_WRONLY | os.O_CREAT | os.O_EXCL, data)
        if rec.exists:
            want = "EEXIST"
        elif not self.pok(k):
            want = "ENOENT"
        else:
            want = self.check(k)
            if want is None:
                self.commit(k, data)
        self.expect("excl " + k, want or "ok", got)

    def op_append(self, k):
        self.looked(k)
        data = self.data() or b"z"
        rec = self.rec[k]
        got = attempt(put, k, os.O_WRONLY | os.O_APPEND, data)
        if not rec.exists:
            want = "ENOENT"
        else:
            want = "ok"
            kind, v = self.lookup(k)
            base = rec.ver
            rec.ver += 1
            rec.data += data
            if kind == "implicit" and v == base:
                h = self.held[k]
                h.I, h.made, h.read = rec.ver, False, False
        self.expect("append " + k, want, got)

    def op_truncate(self, k):
        self.looked(k)
        rec = self.rec[k]
        n = self.r.randrange(0, 400)
        got = attempt(os.truncate, k, n)
        if not rec.exists:
            want = "ENOENT"
        else:
            want = self.check(k, path=True)
            if want is None:
                self.commit(k, (rec.data + b"\0" * n)[:n])
        self.expect("truncate %s %d" % (k, n), want or "ok", got)

    def op_unlink(self, k):
        self.looked(k)
        rec = self.rec[k]
        got = attempt(os.unlink, k)
        if not rec.exists:
            want = "ENOENT"
        else:
            want = self.check(k, path=True)
            if want is None:
                self.commit(k, b"", exists=False)
        self.expect("unlink " + k, want or "ok", got)
        return got

    def rename_model(self, src, dst):
        rs, rd = self.rec[src], self.rec[dst]
        if not rs.exists or not self.pok(dst):
            return "ENOENT"
        if src == dst:
            return None
        kind_s, _ = self.lookup(src)
        want = self.check(src, path=True)
        if want:
            return want
        kind_d, _ = self.lookup(dst)
        # No grace for the record renamed onto (fs/names.c): a read
        # after a refused rename(tmp, rec) gives the reader its basis.
        want = self.check(dst)
        if want:
            return want     # (the source's basis is kept for its change)
        data = rs.data
        self.commit(src, b"", exists=False)
        self.commit(dst, data)
        return None

    def op_rename(self, src, dst):
        # both directories are looked up before either name
        if self.pok(dst):
            self.looked(src)
            if self.rec[src].exists:
                self.looked(dst)
        got = attempt(os.rename, src, dst)
        want = self.rename_model(src, dst)
        self.expect("rename %s %s" % (src, dst), want or "ok", got)
        return got

    def op_tmp_over(self, k):
        self.op_save(k + ".tmp")
        self.op_rename(k + ".tmp", k)

    def op_child(self, k):
        """A child reads, declares, saves, unlinks or renames; P's bases
        are its."""
        for h in self.held.values():
            h.by_child = False
        what = self.r.randrange(5)
        data = self.data()
        rec = self.rec[k]
        dst = self.r.choice([d for d in KEYS if d != k])
        if what != 4:
            self.looked(k, child=True)
        elif self.pok(dst):
            # both directories are looked up before either name
            self.looked(k, child=True)
            if rec.exists:
                self.looked(dst, child=True)
        got = in_child(child_call(
            ["read", "declare", "save", "unlink", "rename"][what], k, data,
            rec.ver, dst))
        h = self.held[k]
        if what == 0:
            want = "ok" if rec.exists else "ENOENT"
            if rec.exists:
                self.seen(k, rec.ver, child=True)
            self.expect("child read " + k, want, got)
        elif what == 1:
            want = "ok" if rec.exists else "ENOENT"
            if rec.exists:
                h.E, h.Et, h.Eg = rec.ver, time.monotonic(), self.group()
                h.mark, h.grace = False, None
            self.expect("child declare %s %d" % (k, rec.ver), want, got)
        elif what == 2:
            want = self.child_save(k, data)
            self.expect("child save %s %d" % (k, len(data)),
                        want or "ok", got)
        elif what == 3:
            want = "ENOENT" if not rec.exists else None
            if rec.exists:
                kind, _ = self.lookup(k)
                want = self.check(k, path=True, child=True)
            if want is None:
                self.child_changed(k, kind, b"", False)
            self.expect("child unlink " + k, want or "ok", got)
        else:
            want = self.child_rename(k, dst)
            self.expect("child rename %s %s" % (k, dst), want or "ok", got)

    def op_child_edit(self, k):
        """A child reads k and writes what it computed over it, on its
        own read: in place (Python's read, then open(k, "w")) or through
        a new file renamed over k (sed -i); now and then U does so.  Its
        read is held for P too (seen); its change, on its own basis,
        passes, and moves P's basis along only where P held what that
        read left it and no declaration, or else a version P's tree made
        that the child may use (fs/basis_change.c, own_change_locked): P's own
        read stays (README, "The implicit basis stays the first version
        seen")."""
        for h in self.held.values():
            h.by_child = False
        data = self.data() or b"q"
        sed = self.r.random() < 0.5
        uid = UID if self.r.random() < 0.3 else None
        tmp = os.path.join(parent(k) or ".",
                           "sed%06d" % self.r.randrange(10 ** 6))
        rec, h = self.rec[k], self.held[k]
        mode = 0o7
        if uid and rec.exists:
            # (as op_uchild: it reads k; it writes k, or for sed makes
            # its file in k's directory and renames it over k)
            mode = for_uid(os.stat(k)) & 0o004 | for_uid(os.stat(
                parent(k) or "." if sed else k)) & 0o002

        def act():
            with open(k, "rb") as fh:
                fh.read()
            if not sed:
                put(k, os.O_WRONLY | os.O_TRUNC, data)
                return
            put(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, data)
            os.rename(tmp, k)
        Held.uid = uid or 0
        try:
            self.looked(k, child=True)
            got = in_child(act, uid)
            want = "ok" if rec.exists else "ENOENT"
            if rec.exists and not mode & 0o004:
                want = "EACCES"
            elif rec.exists:
                v = rec.ver
                self.seen(k, v, child=True)
                if not mode & 0o002:
                    want = "EACCES"
                else:
                    rec.ver += 1
                    rec.data = data
                    mine = lambda u: Held.uid == 0 or u == Held.uid
                    if h.E is None and h.I == v and h.by_child or \
                            not (h.E is not None and mine(h.Eu)) and \
                            h.I == v and not h.read and mine(h.Iu) and \
                            not h.mark:
                        h.I, h.read, h.by_child = rec.ver, False, False
        finally:
            Held.uid = 0
        self.expect("%s %s %s %d" % ("uid %d" % uid if uid else "child",
                                     "sed -i" if sed else "edit", k,
                                     len(data)), want, got)

    def op_subshell(self, k):
        """A subshell's commands save k one after another, on P's basis:
        the first uses P's, and the subshell then holds what it made
        (as the writer's parent between it and P: fs/basis_change.c,
        between_locked), so each next one is checked as a child's save
        of P's, and P follows.  Until 2026-12-07 the second found no
        basis (EPERM).  Not over a deleted name: a command's look reads
        its tombstone for the subshell, not for P (op_child)."""
        rec = self.rec[k]
        if not rec.exists and rec.ver:
            return
        for h in self.held.values():
            h.by_child = False
        datas = [self.data() for _ in range(self.r.randrange(2, 4))]
        got = in_subshell(k, datas)
        want = [self.child_save(k, d) or "ok" for d in datas]
        self.expect("subshell saves %s %s" % (
            k, " ".join(str(len(d)) for d in datas)), want, got)

    def tomb_check(self, k, path=False):
        """The check of a child's change of k, deleted: None if its
        lookup read the tombstone (looked), else P's basis is checked
        (it is stale: the look passed it over)."""
        if k not in self.unread:
            return None
        self.seen_errs["unread change"] = \
            self.seen_errs.get("unread change", 0) + 1
        return self.check(k, path=path, child=True)

    def child_over_tomb(self, k, data):
        """A child's change of k, deleted, that tomb_check passed: its
        lookup read the tombstone, and that basis of its own, at the
        line's version, passes.  P moves along when the child's read
        gave it its basis or its tree made it."""
        rec, h = self.rec[k], self.held[k]
        base = rec.ver
        rec.ver += 1
        rec.exists, rec.data = True, data
        if h.E is None and not h.mark and h.I == base and \
                (h.by_child or not h.read and
                 (Held.uid == 0 or h.Iu == Held.uid)):
            h.I, h.read = rec.ver, False

    def child_changed(self, k, kind, data, exists):
        """A child's checked change of k passed, on P's basis of @kind
        (or none, for a name that was free): P holds the new version, as
        a change of its tree (basis_changed)."""
        rec, h = self.rec[k], self.held[k]
        rec.ver += 1
        rec.exists, rec.data = exists, data
        self.consume(k, h)
        h.made = h.made if kind == "implicit" else False
        h.I, h.read = rec.ver, False
        if not exists:
            self.removed(k, h)

    def child_rename(self, src, dst):
        """The model of a child's rename of a record: both names are
        changes checked on P's bases; the source's tombstone and the
        destination's new version are P's.  A destination that needed
        no basis is held as the source's was (fs/names.c), never as a
        declaration.  @return None when it passes, else the errno."""
        rs = self.rec[src]
        if not rs.exists or not self.pok(dst):
            return "ENOENT"
        kind_s, _ = self.lookup(src)
        want = self.check(src, path=True, child=True)
        if want:
            return want
        data = rs.data
        if not self.rec[dst].exists and self.rec[dst].ver:
            want = self.tomb_check(dst, path=True)
            if want:
                return want
            self.child_changed(src, kind_s, b"", False)
            self.child_over_tomb(dst, data)
            return None
        kind_d, _ = self.lookup(dst)
        want = self.check(dst, path=True, child=True)
        if want:
            return want     # (the source's basis is kept for its change)
        self.child_changed(src, kind_s, b"", False)
        self.child_changed(dst, kind_d, data, True)
        return None

    def child_save(self, k, data):
        """The model of a child's O_TRUNC save (basis_changed,
        basis_created): @return None when it passes, else the errno."""
        rec, h = self.rec[k], self.held[k]
        if not self.pok(k):
            return "ENOENT"
        if rec.exists and not rec.data and not data:
            return None     # nothing changed
        if not rec.exists and rec.ver:
            want = self.tomb_check(k)
            if want:
                return want
            self.child_over_tomb(k, data)
            return None
        kind, v = self.lookup(k)
        if kind is None:
            if rec.exists:
                return "EPERM"
            rec.ver += 1
            rec.exists, rec.data = True, data
            # (what P holds that U may not use stays: basis_created)
            if h.I is None and not h.mark:
                h.I, h.made, h.read = rec.ver, True, False
            return None
        want = self.check(k, child=True)
        if want:
            return want
        rec.ver += 1
        rec.exists, rec.data = True, data
        # Only the declaration it took: U's save on what U read leaves
        # P's own (root's, which U may not use) as it was.
        if kind == "explicit":
            self.consume(k, h)
        h.made = h.made if kind == "implicit" else False
        h.I, h.read = rec.ver, False
        return None

    def op_uchild(self, k):
        """U, a child of P running as UID, reads, declares or saves k.
        Permissions come first: k's mode (and its directory's, for a
        create) is asked of the mount by P beforehand, a stat that
        registers nothing; the model is about bases, not modes.  The
        bits that apply to U are its owner's where U owns it (a record
        U made), else its group's or the others' (they were always the
        others', and a record U made and P then chmod'ed 0600 was
        expected to refuse U)."""
        for h in self.held.values():
            h.by_child = False
        what = self.r.randrange(3)
        data = self.data()
        rec = self.rec[k]
        if rec.exists:
            mode = for_uid(os.stat(k))
        elif self.pok(k):
            mode = for_uid(os.stat(parent(k) or "."))
        Held.uid = UID
        try:
            self.looked(k, child=True)
            got = in_child(child_call(["read", "declare", "save"][what], k,
                                      data, rec.ver), UID)
            self.uchild_model(k, what, data, mode if self.pok(k) else 0,
                              got)
        finally:
            Held.uid = 0

    def lookup_as(self, uid, k):
        u, Held.uid = Held.uid, uid
        try:
            return self.lookup(k)
        finally:
            Held.uid = u

    def uchild_model(self, k, what, data, mode, got):
        rec, h = self.rec[k], self.held[k]
        if not self.pok(k):
            want = "ENOENT"
        elif what == 0:
            want = "ENOENT" if not rec.exists else \
                "ok" if mode & 0o004 else "EACCES"
            if want == "ok":
                self.seen(k, rec.ver, child=True)
        elif what == 1:
            want = "ENOENT" if not rec.exists else \
                "ok" if mode & 0o002 else "EACCES"
            if want == "ok":
                h.E, h.Et, h.Eg = rec.ver, time.monotonic(), self.group()
                h.mark, h.grace = False, None
        elif not mode & 0o002:
            want = "EACCES"     # a record's mode, or its directory's
        else:
            # (counted: a save that root's view would have let through)
            held_by_root = self.lookup_as(0, k)[0] in ("explicit",
                                                       "implicit")
            want = self.child_save(k, data) or "ok"
            if want == "EPERM" and held_by_root:
                self.seen_errs["uid-kept-out"] = \
                    self.seen_errs.get("uid-kept-out", 0) + 1
        self.expect("uid %d %s %s %d" % (
            UID, ["read", "declare", "save"][what], k, rec.ver), want, got)

    def op_other(self, k):
        what = self.r.choice(["write", "write", "unlink"])
        data = self.data()
        rec = self.rec[k]
        got = self.other.do(what, k, data)
        if what == "write" and not data and not rec.data and \
                (rec.exists or self.lease == k):
            want = "ok"     # an empty record written empty: no change
        elif self.lease == k:
            want = "EBUSY"
        elif what == "unlink" and not rec.exists or not self.pok(k):
            want = "ENOENT"
        else:
            want = "ok"
            rec.ver += 1
            rec.exists, rec.data = what == "write", \
                data if what == "write" else b""
        self.expect("other %s %s" % (what, k), want, got)

    def op_handle(self, k):
        """A read-write handle on k (created when k is free): its first
        change is checked and takes the lease, fsync commits, and its
        own commit is the basis of its next change under that name.
        Meanwhile O may change or unlink its record, and P may unlink
        it, rename it, or rename another record over it (a change in
        the middle commits first; an unlink drops it)."""
        self.looked(k)
        rec = self.rec[k]
        mode = self.r.random()
        trunc, app = mode < 0.35, mode >= 0.7
        flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if trunc else 0) | \
            (os.O_APPEND if app else 0)
        try:
            fd = os.open(k, flags, 0o644)
            got = "ok"
        except OSError as e:
            fd, got = -1, err(e)
        created = not rec.exists
        if not self.pok(k):
            want = "ENOENT"
        else:
            want = (self.check(k) if created or (trunc and rec.data)
                    else None)
        self.expect("open %s trunc=%d append=%d" % (k, trunc, app),
                    want or "ok", got)
        if fd < 0:
            return
        hk = k                  # the name its record has now
        content = b"" if trunc or created else rec.data
        pending = created or (trunc and rec.data != b"")
        own = own_key = None    # its last commit, and under which name
        view = None             # the version its reads showed, if any
        gone = False            # its record was unlinked or replaced
        self.lease = hk if pending else None
        # the declaration the open change took (its registration), if
        # it took one: one made while the change is open is for P's
        # next change, and the commit leaves it (its own basis too)
        took = self.took(hk) if pending else None

        def settle():
            """Its open change commits (fsync, close, or a truncate or
            rename by P, which commits it first).  Nothing can make it
            stale: its lease refuses every other change (EBUSY), and P's
            own truncate and rename come after it."""
            nonlocal pending, own, own_key, created, content
            if pending and not gone:
                h = self.held[hk]
                kept = (h.E, h.Et, h.Eg) if h.E is not None and \
                    h.Eg != took else None
                self.commit(hk, content)
                if kept:
                    h.E, h.Et, h.Eg = kept
                for x in (h, self.wheld[hk]):   # (W's, for P too)
                    if took is not None and x.E is not None and \
                            x.Eg == took:
                        x.E = None
                own, own_key = self.rec[hk].ver, hk
            pending = created = False
            self.lease = None

        try:
            force = None    # the next act, after a refusal
            for _ in range(self.r.randrange(1, 7)):
                self.step += 1
                self.clear_of_ttl()
                act = self.r.randrange(11) if force is None else force
                force = None
                self.compact(self.r.random() < 0.1)
                rec = self.rec[hk]
                if act == 8:
                    # P declares, between its handle's writes (a
                    # refused one must have left the handle as it was);
                    # not on a create still open (its name is there, its
                    # record is not: the model has no such state)
                    if rec.exists:
                        self.op_declare(hk)
                    continue
                if act == 0 and app and not pending and not gone:
                    # an append with no change of its own open: one
                    # commit at once, on no basis (rfs_appended)
                    data = self.data() or b"y"
                    try:
                        os.write(fd, data)
                        got = "ok"
                    except OSError as e:
                        got = err(e)
                    base = rec.ver
                    kind, v = self.lookup(hk)
                    rec.ver += 1
                    rec.data += data
                    content = rec.data
                    if kind == "implicit" and v == base:
                        h = self.held[hk]
                        h.I, h.made, h.read = rec.ver, False, False
                    if own is not None and own_key == hk and own == base:
                        own = rec.ver
                    if view is not None:
                        view = rec.ver  # (it reads its own append)
                    self.expect("h %s append %d" % (hk, len(data)), "ok",
                                got)
                elif act <= 1:
                    data = self.data() or b"y"
                    off = self.r.randrange(0, 200)
                    if act == 1 and self.r.random() < 0.3:
                        off = 0     # (a refused one empties nothing)
                    what = ("pwrite %d@%d" % (len(data), off) if act == 0
                            else "ftruncate %d" % off)
                    if act == 0 and app:
                        off = len(content)  # (its own change's end)
                        what = "append %d to its change" % len(data)
                    try:
                        if act == 0 and app:
                            os.write(fd, data)
                        elif act == 0:
                            os.pwrite(fd, data, off)
                        else:
                            os.ftruncate(fd, off)
                        got = "ok"
                    except OSError as e:
                        got = err(e)
                    want = None
                    if not pending and not gone:
                        took = None
                        if own is not None and own_key == hk:
                            if own != rec.ver:   # refused on its own
                                h = self.held[hk]
                                h.I, h.made = None, False
                                h.mark, h.grace = True, None
                                want = "EAGAIN"
                                self.conflicts.add(hk)
                                # (and it starts over, as a new open)
                                own = own_key = None
                        else:
                            took = self.took(hk)
                            kind, v = self.lookup(hk)
                            if view not in (None, rec.ver) and \
                                    kind == "implicit" and v == rec.ver:
                                # its reads showed an older version than
                                # the one P's basis names, which P made
                                # since (a truncate by path, its second
                                # handle): built on bytes no longer there
                                # (RULES, "When a change commits")
                                h = self.held[hk]
                                u = h.Iu
                                h.I, h.made = None, False
                                h.mark, h.grace = True, None
                                self.stamp(h, u)
                                want = "EAGAIN"
                                self.conflicts.add(hk)
                            else:
                                want = self.check(hk)
                        if want:
                            view = None     # (it starts over)
                        if want is None:
                            pending = True
                            self.lease = hk
                    if want is None:
                        if act == 0:
                            c = content.ljust(off, b"\0")
                            content = c[:off] + data + c[off + len(data):]
                        else:
                            content = content[:off].ljust(off, b"\0")
                        if act == 0 and app and pending and created and \
                                not gone:
                            # an append that made its file commits the
                            # create with it (rfs_write)
                            settle()
                    self.expect("h %s %s" % (hk, what), want or "ok", got)
                    retry = self.r.random() if want == "EAGAIN" else 1
                    if retry < 0.4:
                        # P takes the current version and writes again:
                        # the refused call must have changed nothing
                        self.declare_current(hk)
                        force = self.r.randrange(2)
                    elif retry < 0.7:
                        # or reads again through the handle, which
                        # started over: the current version, its basis
                        try:
                            got = os.pread(fd, 100000, 0)
                        except OSError as e:
                            got = err(e)
                        self.seen(hk, rec.ver)
                        view = rec.ver
                        self.expect("h %s read again" % hk, rec.data, got)
                        force = self.r.randrange(2)
                elif act == 9:
                    # a second read-write handle of P on the name: one
                    # write, committed by fsync (its close is not P's
                    # last writable descriptor of the record: that
                    # commit would come at its release, just after close
                    # returns); the first's change holds the lease
                    # (EBUSY), else it is P's change as any other
                    data = self.data() or b"y"
                    off = self.r.randrange(0, 100)
                    self.looked(hk)
                    try:
                        fd2 = os.open(hk, os.O_RDWR)
                        try:
                            got = attempt(os.pwrite, fd2, data, off)
                            if got == "ok":
                                os.fsync(fd2)
                        finally:
                            os.close(fd2)
                    except OSError as e:
                        got = err(e)
                    if pending and not gone:
                        want = "EBUSY"
                    elif not self.pok(hk) or not rec.exists:
                        want = "ENOENT"
                    else:
                        want = self.check(hk)
                    if want is None:
                        c = rec.data.ljust(off, b"\0")
                        self.commit(hk, c[:off] + data +
                                    c[off + len(data):])
                        if not gone:
                            content = rec.data  # its next change's start
                    self.expect("h2 %s pwrite %d@%d" % (hk, len(data), off),
                                want or "ok", got)
                elif act == 2:
                    got = attempt(os.fsync, fd)
                    settle()
                    self.expect("h %s fsync" % hk, "ok", got)
                elif act == 10:
                    # P truncates the record by path while its handle's
                    # change is open (a record not yet committed:
                    # EBUSY): the change commits first and the truncate,
                    # on P's basis, comes on top of it, as a rename does
                    # (SPEC: a commit fails only for EIO); the handle's
                    # next change is then checked on its own commit
                    if pending and created and not gone:
                        got = attempt(os.truncate, hk, 0)
                        self.expect("truncate new " + hk, "EBUSY", got)
                        continue
                    settle()
                    self.op_truncate(hk)
                    if not gone:
                        content = rec.data  # its next change's start
                elif act == 3:
                    was = rec.data
                    self.op_other(hk)
                    if not gone and not pending:
                        # others' commits are its record's (it had
                        # changed nothing): what it holds when it goes
                        gone = not rec.exists
                        content = was if gone else rec.data
                elif act == 4:
                    try:
                        got = os.fstat(fd).st_size
                    except OSError as e:
                        got = err(e)
                    if pending or gone:
                        self.expect("h %s fstat" % hk, len(content), got)
                elif act == 5:
                    if gone or not pending or not created:
                        if self.op_unlink(hk) == "ok" and not gone:
                            gone, pending = True, False  # change dropped
                            self.lease = None
                    else:
                        # its own new file, not yet committed: dropped
                        got = attempt(os.unlink, hk)
                        gone, pending, created = True, False, False
                        self.lease = None
                        self.expect("h unlink new " + hk, "ok", got)
                else:
                    k2 = self.r.choice([x for x in KEYS if x != hk])
                    src, dst = (hk, k2) if act == 6 else (k2, hk)
                    if act == 7 and self.pok(dst):
                        self.looked(src)
                    if (act == 6 or self.rec[src].exists) and \
                            self.pok(dst) and not gone:
                        settle()    # (rfs_commit_own_lease)
                    got = self.op_rename(src, dst)
                    if got == "ok" and not gone:
                        if act == 6:
                            # its own commit was under the old name
                            hk, own_key, view = k2, None, None
                        else:
                            gone = True
        finally:
            closed = attempt(os.close, fd)
        settle()
        self.expect("close " + hk, "ok", closed)

    def move_dir(self, s, t, by_p, by_child=False):
        """Directory s renamed to t: each record continues its line
        under its new key, above any version that key ever had; P, when
        it renamed and stood on a record's version, holds both ends.  So
        does P when its child renamed (`mv x y` from a shell) on P's
        basis, as the ancestor whose basis a change used (fs/check.c,
        rfs_dir_moved): its entries there move in place, keeping their
        create's flag, and a mark P holds at the new key stays."""
        for k in list(self.rec):
            if parent(k) != s or not self.rec[k].exists:
                continue
            kt = t + k[len(s):]
            rs, rt = self.rec[k], self.rec[kt]
            before = rs.ver
            kind, v = self.lookup(k)
            rs.ver += 1
            rs.exists = False
            rt.ver = max(before, rt.ver) + 1
            rt.exists, rt.data, rs.data = True, rs.data, b""
            if (by_p or by_child) and kind == "implicit" and v == before:
                hs = self.held[k]
                hs.I, hs.made, hs.read = rs.ver, by_child and hs.made, \
                    False
                self.removed(k, hs)
                ht = self.held[kt]
                made = by_child and ht.I is not None and ht.made
                if by_p:
                    ht.mark, ht.grace = False, None
                ht.I, ht.made, ht.read = rt.ver, made, False
        self.dirs[s], self.dirs[t] = False, True

    def dir_model(self, what, s, t=None):
        full = lambda d: any(self.rec[k].exists for k in self.rec
                             if parent(k) == d)
        if what == "mkdir":
            return "EEXIST" if self.dirs[s] else None
        if what == "rmdir":
            if not self.dirs[s]:
                return "ENOENT"
            return "ENOTEMPTY" if full(s) else None
        if not self.dirs[s]:
            return "ENOENT"
        if self.dirs[t] and full(t):
            return "ENOTEMPTY"
        return None

    def op_dir(self, k):
        """P makes, removes or renames a directory (no basis needed)."""
        what = self.r.choice(["mkdir", "rmdir", "mvdir", "mvdir"])
        s = self.r.choice(DIRS)
        t = [d for d in DIRS if d != s][0]
        try:
            if what == "mkdir":
                os.mkdir(s)
            elif what == "rmdir":
                os.rmdir(s)
            else:
                os.rename(s, t)
            got = "ok"
        except OSError as e:
            got = err(e)
        want = self.dir_model(what, s, t)
        if want is None:
            if what == "mkdir":
                self.dirs[s] = True
            elif what == "rmdir":
                self.dirs[s] = False
            else:
                self.move_dir(s, t, True)
                self.seen_errs["moved"] = self.seen_errs.get("moved", 0) + 1
        self.expect("%s %s %s" % (what, s, t if what == "mvdir" else ""),
                    want or "ok", got)

    def op_child_dir(self, k):
        """A child of P renames a directory (`mv x y` from a shell)."""
        s = self.r.choice(DIRS)
        t = [d for d in DIRS if d != s][0]
        for h in self.held.values():
            h.by_child = False
        got = in_child(lambda: os.rename(s, t))
        want = self.dir_model("mvdir", s, t)
        if want is None:
            self.move_dir(s, t, False, by_child=True)
            self.seen_errs["moved"] = self.seen_errs.get("moved", 0) + 1
        self.expect("child mvdir %s %s" % (s, t), want or "ok", got)

    def op_other_dir(self, k):
        """O renames a directory: P's bases for its records go stale."""
        s = self.r.choice(DIRS)
        t = [d for d in DIRS if d != s][0]
        got = self.other.do("mvdir", s + " " + t)
        want = self.dir_model("mvdir", s, t)
        if want is None:
            self.move_dir(s, t, False)
            self.seen_errs["moved"] = self.seen_errs.get("moved", 0) + 1
        self.expect("other mvdir %s %s" % (s, t), want or "ok", got)

    # --- W, P's thread ---------------------------------------------------
    def w_lookup(self, k):
        """W's basis: its own, else its process's (no start-time bound).
        @return kind, version, holder."""
        for x in (self.wheld[k], self.held[k]):
            if x.mark:
                return "stale", None, x
            if x.E is not None:
                if self.ttl and time.monotonic() - x.Et >= self.ttl:
                    return "expired", x.E, x
                return "explicit", x.E, x
            if x.I is not None:
                return "implicit", x.I, x
        return None, None, None

    def w_seen(self, k, v, own=True, look=False):
        """W read v (@look: looked k up, deleted at v): held for W
        (unless not @own) and for P (its parent)."""
        w, h = self.wheld[k], self.held[k]
        for x in (w, h):
            if x is w and not own:
                continue
            if x is w and x.mark and x.grace is not None and \
                    time.monotonic() - x.grace < GRACE:
                continue
            x.mark, x.grace = False, None
            if x.made and x.I == v and not look and \
                    (x.Iu == Held.uid or Held.uid == 0):
                x.pinned = True
            if x.I is None or (x.made and not x.pinned and x.I != v) or \
                    (x.gone and not look and v > x.I):
                x.I, x.made, x.read, x.via = v, False, True, False

    def w_looked(self, k):
        """W's look at k deleted: read for P, and for W as look_reads
        says."""
        if self.pok(k) and not self.rec[k].exists and self.rec[k].ver:
            kind, v, x = self.w_lookup(k)
            reads = self.look_reads(k, kind, v, x)
            if not reads:
                self.seen_errs["unread"] = \
                    self.seen_errs.get("unread", 0) + 1
            self.w_seen(k, self.rec[k].ver, own=reads, look=True)

    def w_check(self, k, path=False):
        """As check(), for W: a refusal marks W, its process and the
        holder; a refused path change's grace is for both."""
        rec = self.rec[k]
        kind, v, x = self.w_lookup(k)
        if kind is None:
            return "EPERM" if rec.exists else None, kind, v, x
        if kind in ("explicit", "implicit") and v == rec.ver:
            return None, kind, v, x
        if kind == "expired":
            self.seen_errs["expired"] = self.seen_errs.get("expired", 0) + 1
        u = x.Iu if kind == "implicit" else x.Eu
        if kind in ("explicit", "expired"):
            self.consume(k, x)
        for y in (self.wheld[k], self.held[k]):
            y.I, y.made, y.via = None, False, False
            y.mark = True
            y.grace = time.monotonic() if path else None
        if kind != "stale":
            self.stamp(x, u)
        self.conflicts.add(k)
        return "EAGAIN", kind, v, x

    def w_commit(self, k, data, exists, kind, v, x):
        """W's change passed: W holds the new version; so does P when W
        used P's basis, or W's own from an earlier change on P's that P
        still stands at (basis_changed)."""
        rec, w, h = self.rec[k], self.wheld[k], self.held[k]
        created = not rec.exists and exists
        rec.ver += 1
        rec.exists, rec.data = exists, data
        # W's own declaration is P's as well (one registration for
        # both): P used it too and moves along (fs/basis_change.c,
        # declared_with_locked).
        shared = x is w and kind == "explicit" and h.E is not None and \
            h.Eg == w.Eg
        if kind == "explicit":
            self.consume(k, x)
        moves = (x is h) or shared or \
            (x is w and kind == "implicit" and w.via and
             h.E is None and not h.mark and h.I == v)
        if moves:
            made = h.made if kind == "implicit" else False
            h.I, h.made, h.read = rec.ver, made, False
        w.mark, w.grace = False, None
        w.I, w.made, w.read, w.via = rec.ver, False, False, moves
        if not exists:
            self.removed(k, w, h)
        if created and kind is None and h.I is None and h.E is None and \
                not h.mark:
            h.I, h.made, h.read = rec.ver, True, False  # basis_created

    def w_rename(self, src, dst):
        """The model of W's rename of a record: both names are W's
        changes (w_check, w_commit).  A destination that needed no
        basis is held as the source's was, never as a declaration: by
        W, and by P too when the source's basis was P's; else P holds
        it as a create's parent does (basis_created).  @return None
        when it passes, else the errno."""
        rs = self.rec[src]
        if not rs.exists or not self.pok(dst):
            return "ENOENT"
        want, kind_s, v_s, x_s = self.w_check(src, path=True)
        if want:
            return want
        want, kind_d, v_d, x_d = self.w_check(dst)  # (no grace)
        if want:
            return want
        data = rs.data
        self.w_commit(src, b"", False, kind_s, v_s, x_s)
        if kind_d is not None:
            self.w_commit(dst, data, True, kind_d, v_d, x_d)
            return None
        rec, w, h = self.rec[dst], self.wheld[dst], self.held[dst]
        rec.ver += 1
        rec.exists, rec.data = True, data
        by_p = x_s is self.held[src]
        w.mark, w.grace = False, None
        w.I, w.made, w.read, w.via = rec.ver, False, False, by_p
        if by_p:
            h.I, h.made, h.read = rec.ver, False, False
        elif h.I is None and h.E is None and not h.mark:
            h.I, h.made, h.read = rec.ver, True, False
        return None

    def op_thread(self, k):
        """W reads, declares, saves, unlinks or renames k."""
        what = self.r.choice(["read", "read", "declare", "save", "save",
                              "unlink", "rename"])
        rec = self.rec[k]
        data = self.data()
        ver = rec.ver
        dst = self.r.choice([d for d in KEYS if d != k])

        def read():
            with open(k, "rb") as fh:
                fh.read()
            return "ok"

        def declare():
            os.setxattr(k, "user.expected_version", str(ver).encode())
            return "ok"

        def save():
            put(k, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, data)
            return "ok"

        def unlink():
            os.unlink(k)
            return "ok"

        def rename():
            os.rename(k, dst)
            return "ok"

        if what == "rename":
            # both directories are looked up before either name
            if self.pok(dst):
                self.w_looked(k)
                if rec.exists:
                    self.w_looked(dst)
        elif what != "save" or self.pok(k):
            self.w_looked(k)
        got = self.w.do({"read": read, "declare": declare, "save": save,
                         "unlink": unlink, "rename": rename}[what])
        want = None
        if what == "read":
            if rec.exists:
                self.w_seen(k, rec.ver)
            else:
                want = "ENOENT"
        elif what == "declare":
            if rec.exists:
                g = self.group()
                for y in (self.wheld[k], self.held[k]):
                    y.E, y.Et, y.Eg = ver, time.monotonic(), g
                    y.mark, y.grace = False, None
            else:
                want = "ENOENT"
        elif what == "save":
            if not self.pok(k):
                want = "ENOENT"
            elif rec.exists and not rec.data and not data:
                pass    # nothing changed
            else:
                want, kind, v, x = self.w_check(k)
                if want is None:
                    self.w_commit(k, data, True, kind, v, x)
        elif what == "unlink":
            if not rec.exists:
                want = "ENOENT"
            else:
                want, kind, v, x = self.w_check(k, path=True)
                if want is None:
                    self.w_commit(k, b"", False, kind, v, x)
        else:
            want = self.w_rename(k, dst)
            k += " " + dst
        self.expect("thread %s %s" % (what, k), want or "ok", got)

    def op_meta(self, k):
        """chmod, utime and a user.* xattr: kept, no basis, no version
        (by P or by O, whose tree never looked)."""
        self.looked(k)
        what = self.r.choice(["chmod", "utime", "xattr"])

        def run():
            if what == "chmod":
                os.chmod(k, self.r.choice([0o600, 0o644, 0o640, 0o666,
                                           0o646]))
            elif what == "utime":
                os.utime(k, (1e9, 1e9))
            else:
                os.setxattr(k, "user.note", b"n%d" % self.r.randrange(9))
            return "ok"

        try:
            got = run()
        except OSError as e:
            got = err(e)
        self.expect("%s %s" % (what, k),
                    "ok" if self.rec[k].exists else "ENOENT", got)

    def compact(self, now):
        """With CM_COMPACT (the mount's root), when @now: compact the
        store, which must change nothing the model sees, not even under
        an open handle."""
        root = os.environ.get("CM_COMPACT")
        if now and root:
            os.setxattr(root, "user.recfs.compact", b"1")
            self.log.append("%d compacted" % self.step)

    def op_compact(self, k):
        self.compact(True)

    def op_restart(self, k):
        """With CM_RESTART, a command: the daemon is killed (SIGKILL)
        and the store mounted again.  Every version, content and name
        stays; every basis, declaration and stale mark is gone (they are
        the daemon's memory), so a change of an existing record needs a
        basis anew."""
        cmd = os.environ.get("CM_RESTART")
        if not cmd:
            return
        os.chdir("/")
        # (in a session of its own: a seed killed at its deadline, the
        # whole process group, cut a restart between its kill and its
        # mount, and every seed after it failed on the store unmounted)
        subprocess.run(cmd, shell=True, check=True,
                       stdout=subprocess.DEVNULL, start_new_session=True)
        os.chdir(self.root)     # (W, a thread, shares P's)
        self.expect("restart", "ok", self.other.do("cd", self.root))
        self.held = {k: Held() for k in self.rec}
        self.wheld = {k: Held() for k in self.rec}
        self.conflicts = set()

    def op_wait(self, k):
        """Let P's declarations expire (when expect_ttl is short)."""
        if self.ttl and any(h.E is not None for h in self.held.values()):
            time.sleep(self.ttl + MARGIN)
            self.log.append("%d waited %.1f s" % (self.step,
                                                  self.ttl + MARGIN))

    def clear_of_ttl(self):
        """No declaration may be within MARGIN of expect_ttl, nor a
        refused path change's mark of its grace's end, while a step
        runs: the model and the daemon could see it differently."""
        for h in list(self.held.values()) + list(self.wheld.values()):
            for t0, span in ((h.Et, self.ttl if h.E is not None else 0),
                             (h.grace, GRACE if h.mark and h.grace else 0)):
                age = time.monotonic() - t0 if span else 0
                if span and span - MARGIN < age < span + MARGIN:
                    time.sleep(span + MARGIN - age)

    def run(self, nops):
        ops = [(self.op_read, 1), (self.op_declare, 1), (self.op_save, 1),
               (self.op_excl, 1), (self.op_append, 1),
               (self.op_truncate, 1), (self.op_unlink, 1),
               (self.op_rename, 2), (self.op_tmp_over, 1),
               (self.op_child, 1), (self.op_other, 1),
               (self.op_handle, 1), (self.op_wait, 1), (self.op_dir, 1),
               (self.op_other_dir, 1), (self.op_thread, 1),
               (self.op_meta, 1), (self.op_compact, 1),
               (self.op_restart, 1), (self.op_uchild, 1),
               (self.op_subshell, 1), (self.op_child_edit, 1),
               (self.op_withdraw, 1), (self.op_child_dir, 1)]
        weights = [6, 5, 6, 2, 3, 2, 3, 3, 2, 4, 5, 4, 0.4, 2, 1, 6, 2, 0.5,
                   0.3, 3, 2, 2, 1, 1]
        # CM_WEIGHTS="rename=8,subshell=6": other weights for a harder
        # mix (names without op_)
        for kv in filter(None, os.environ.get("CM_WEIGHTS", "").split(",")):
            name, w = kv.split("=")
            i = [f.__name__ for f, _ in ops].index("op_" + name)
            weights[i] = float(w)
        for _ in range(nops):
            self.step += 1
            fn, nargs = self.r.choices(ops, weights)[0]
            args = [self.r.choice(KEYS) for _ in range(nargs)]
            self.clear_of_ttl()
            fn(*args)
            self.clear_of_ttl()
            self.verify()
        print("OK %d steps (%s)" % (self.step, ", ".join(
            "%s %d" % kv for kv in sorted(self.seen_errs.items()))))


def fork_orphan(body):
    """Run body() in a grandchild whose parent exits at once, so that
    it is reparented (to pid 1, which holds no bases); return once that
    parent is gone."""
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            try:
                body()
            finally:
                os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)


def as_orphan(fn):
    """Run fn in a process whose parent is gone (pid 1), so that nothing
    P does is held for a parent too (SPEC: "nothing is ever held for pid
    1"), and no lookup of P's climbs past it: the model needs to know
    P's line of ancestors, and a shell above it holds what P read.
    @return fn's exit status."""
    r, w = os.pipe()

    def body():
        os.close(r)
        for _ in range(200):
            if os.getppid() == 1:
                break
            time.sleep(0.01)
        rc = 0
        if os.getppid() != 1:
            print("SKIP: reparented to pid %d, a subreaper, not 1" %
                  os.getppid())
        else:
            try:
                fn()
            except SystemExit as e:
                rc = e.code or 0
            except Exception:       # a fault of the test: say where
                traceback.print_exc(file=sys.stdout)
                rc = 1
        sys.stdout.flush()
        os.write(w, b"%d" % rc)

    fork_orphan(body)
    os.close(w)
    with os.fdopen(r, "rb") as f:   # until the orphan's end closes it
        return int(f.read() or b"1")


if __name__ == "__main__":
    os.umask(0)     # (directories 0777, records 0666: U may write)
    sys.exit(as_orphan(lambda: Run(
        sys.argv[1], int(sys.argv[2]),
        float(sys.argv[4]) if len(sys.argv) > 4 else 0).run(
            int(sys.argv[3]))))

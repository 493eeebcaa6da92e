/* file.c - the FUSE operations on file handles: open, create, read,
 * write (appends commit here), flush, release, fsync and fallocate.  A
 * handle's change itself (begin, commit, drop) is handle.c's.
 *
 * Lock order (as in ops.c): a handle's mu, then fs->mu. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "history.h"
#include "ops.h"
#include "perm.h"
#include "rfs.h"

/* How long an append waits for another handle's commit (SPEC: "a few
 * seconds at most"): at its OPEN, where the kernel holds no lock.  At
 * its WRITE the kernel holds the inode lock, which the other handle's
 * own next write needs, so a wait there stalls the change it waits for
 * (a holder's second write took the whole 3 s, and the append then got
 * EBUSY): the WRITE waits only briefly, for a change that came in
 * between. */
#define APPEND_WAIT_MS 3000
#define APPEND_WRITE_WAIT_MS 20

/* A file its appender made, before the appender's first line
 * (`slow_cmd >> new.log`): an empty create, which its close would commit
 * as it is, and its first append with that line (rfs_write).  Another
 * appender commits it now instead of waiting for it: two jobs logging
 * to one new file, the first silent for a while, had the second wait
 * APPEND_WAIT_MS and get EBUSY.  The maker's lines then append as on a
 * file that was there.  Caller holds fs->mu (and, to be sure of the
 * size, l->mu). */
static int idle_append_create(const struct rfs_handle *l)
{
	return l->in->lease == l && l->in->pending && l->created &&
	       (l->flags & O_APPEND) && !(l->flags & O_TRUNC) &&
	       !l->failed &&
	       __atomic_load_n(&l->view_size, __ATOMIC_RELAXED) == 0;
}

/* An O_APPEND open waits for another handle's change to the record to
 * end (APPEND_WAIT_MS), so that its write finds the record free.  It
 * takes no lease: if one is taken again before the write, the write
 * waits briefly and then gets EBUSY.  @return 0, or -EINTR: a signal
 * ended the wait (the open fails; Ctrl-C of `echo x >> rec` waited out
 * the whole 3 s, and kill -9 too). */
static int append_open_wait(struct rfs *fs, fuse_req_t req,
			    struct rfs_handle *h, const struct proc_info *p)
{
	int64_t dl = 0; /* rfs_lease_wait()'s deadline, ns */
	int woken = 0, rc = 0;
	struct rfs_handle *l;

	pthread_mutex_lock(&fs->mu);
	l = h->in->lease;
	if (l && l != h && !h->in->deleted && idle_append_create(l)) {
		rfs_handle_pin(l);
		pthread_mutex_unlock(&fs->mu);
		rfs_handle_commit_pinned(fs, l, idle_append_create);
		pthread_mutex_lock(&fs->mu);
	}
	if (h->in->lease && !h->in->deleted) {
		rc = rfs_lease_wait(fs, h->in, h, p, req, APPEND_WAIT_MS, &dl,
				    &woken);
		if (woken)
			rfs_lease_pass(fs, h->in, 0); /* takes none: the next's */
	}
	pthread_mutex_unlock(&fs->mu);
	return rc == -EINTR ? rc : 0;
}

/* For a handle on @in, deleted: what the record held when it went, as
 * an unlinked file's descriptors read it, whatever its key holds now:
 * the bytes pinned then (fs/names.c, keep_gone_attr: the inode's, fixed
 * once it is deleted, so read without the lock), else by version.
 * @return 0 and *@out; -ENOENT: nothing was kept (a record never
 * committed); -ESTALE: the store has forgotten that version and nothing
 * was pinned (no memory then): an error, never an empty file. */
static int gone_snap_of(struct rfs *fs, struct rfs_inode *in,
			struct store_snap **out)
{
	char key[RFS_KEY_BUF];
	struct store_snap *pinned = NULL;
	uint64_t version = 0;
	int rc;

	pthread_mutex_lock(&fs->mu);
	if (in->deleted && in->gone_version &&
	    strlen(in->key) < sizeof(key)) {
		strcpy(key, in->key);
		version = in->gone_version;
		pinned = in->gone_snap;
	}
	pthread_mutex_unlock(&fs->mu);
	if (!version)
		return -ENOENT;
	rc = pinned ? store_snap_dup(pinned, out)
		    : store_snap_open(fs->st, key, version, out);
	return rc == -ENOENT ? -ESTALE : rc;
}

/* A snapshot of the record @in names, from @key and @gen: a copy of
 * in->key and in->key_gen taken together under fs->mu
 * (rfs_ino_key_copy).  Taken without the lock, it is checked under it
 * afterwards: every rename and unlink commits and updates the inode in
 * one hold of fs->mu, so the look sees any of them that the snapshot
 * saw.
 * - The record moved (its key_gen changed), or the snapshot found
 *   nothing: it is taken again, under the lock, from the key as it is
 *   now.  Comparing keys is not enough: a record that moved away and
 *   back, over another that took its name meanwhile, has its old key
 *   again, and the snapshot may hold the other's bytes.
 * - It was unlinked, or another record was renamed over it: the
 *   snapshot found nothing, or the record that took the name, and is
 *   dropped; the caller reads what the record held when it went
 *   (gone_snap_of).
 * Before 2026-12-06 a first read racing those gave 0 bytes, or the other
 * record's (a daemon with a pause in that window showed both).
 * @return 0 and *@out, 1 (gone: *@out NULL), or -errno. */
static int snap_of(struct rfs *fs, struct rfs_inode *in, char *key,
		   unsigned *gen, struct store_snap **out)
{
	int rc = store_snap_open(fs->st, key, 0, out), pending;

	rfs_test_pause(fs, key, RFS_PAUSE_SNAPPED);
	pthread_mutex_lock(&fs->mu);
	/* A move at the store (etcd, names.c) may be what the snapshot
	 * found: the look below sees it once it is applied. */
	rfs_moving_wait(fs, in);
	if (in->deleted) {
		rc = 1;
	} else if (rc == -ENOENT || in->key_gen != *gen) {
		/* (found nothing: also when the record moved a->b->a
		 * meanwhile, which make check caught once) */
		store_snap_close(*out);
		*out = NULL;
		*gen = in->key_gen;
		rc = rfs_ino_key_copy(in, key, &pending);
		if (rc == 0 && !pending)
			rc = store_snap_open(fs->st, key, 0, out);
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc == 1) {
		store_snap_close(*out);
		*out = NULL;
	}
	return rc;
}

void rfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h;
	struct rfs_inode *in;
	struct store_stat sb;
	struct proc_info p;
	char key[RFS_KEY_BUF] = "";
	int acc = fi->flags & O_ACCMODE, rc = 0, pending = 0, gone = 0;
	unsigned gen = 0;

	rfs_caller(req, &p);
	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	rc = rfs_may(req, fs, in, rfs_open_mask(fi->flags));
	h = in && rc == 0 ? rfs_handle_new(fs, in, fi->flags, &p) : NULL;
	if (h)
		in->nopen++;
	pthread_mutex_unlock(&fs->mu);
	if (!h) {
		fuse_reply_err(req, rc < 0 ? -rc : in ? ENOMEM : ENOENT);
		return;
	}
	/* Writers bypass the page cache so no reader sees their bytes;
	 * readers too, so none is served pages another reader refilled
	 * with an older version. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	/* A read-only handle never commits: its flush would be a round
	 * trip that does nothing. */
	fi->noflush = acc == O_RDONLY;
	if (in->hist) {
		pthread_mutex_lock(&fs->mu);
		rc = acc != O_RDONLY ? -EROFS : hist_snap(fs, in, &h->snap);
		pthread_mutex_unlock(&fs->mu);
		if (rc == 0) {
			fi->fh = (uintptr_t)h;
			fuse_reply_open(req, fi);
			return;
		}
		acc = -1; /* to the failure path */
	}
	pthread_mutex_lock(&fs->mu);
	/* An open opens what the name holds once an unlink or a rename at
	 * the store is done (names.c, moving_begin). */
	rfs_moving_wait(fs, in);
	if (!in->hist && in->pending && !in->lease) {
		if (acc != O_RDONLY && h->opener_known &&
		    proc_same_process(&p, &in->pcreator) &&
		    p.start != 0) {
			/* The mknod's creator takes its create over. */
			rc = store_txn_begin(fs->st, in->key, 1, &h->txn);
			if (rc == 0) {
				h->expect = rfs_unchecked(fs, in->key)
						    ? STORE_ANY
						    : STORE_ABSENT;
				rc = store_txn_lease(h->txn, h->expect);
				if (rc < 0) {
					store_txn_abort(h->txn);
					h->txn = NULL;
				}
			}
			if (rc == 0) {
				in->lease = h;
				in->lease_since_ns = rfs_now_ns();
				h->created = 1;
				h->trunc = 1;
				h->changer = p;
			}
		} else if (!proc_same_process(&p, &in->pcreator)) {
			rc = rfs_commit_orphan_create(fs, in);
		}
	}
	/* Below, fs->mu is not held: the key and state as they are now. */
	if (rc == 0 && acc >= 0) {
		rc = rfs_ino_key_copy(in, key, &pending);
		gen = in->key_gen;
		/* Gone before this open came: the kernel found the name
		 * just before an unlink or a rename over it, and sends the
		 * open for the inode it had then.  A reader opens what the
		 * record held when it went, as on any filesystem (below);
		 * a writer's change there could never commit, so ESTALE
		 * has the kernel walk the path again (LOOKUP_REVAL) and
		 * open what the name holds now.  Either way a rename over
		 * a record stays atomic to those who open it by name:
		 * until 2026-12-06 such an open failed with ENOENT (one in
		 * five opens racing renames over the record,
		 * tests/e2e_races.sh; `perl -pi` skipped the file, "Can't
		 * open", with exit status 0). */
		gone = rc == -ENOENT;
		if (gone)
			rc = acc == O_RDONLY ? 0 : -ESTALE;
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0 || acc < 0) {
		/* the common failure path below */
	} else if (acc == O_RDONLY && gone) {
		rc = gone_snap_of(fs, in, &h->snap);
		if (rc == -ENOENT) /* nothing kept: look the name up again */
			rc = -ESTALE;
	} else if (acc == O_RDONLY) {
		if (!pending) {
			rfs_test_pause(fs, key, RFS_PAUSE_SNAPSHOT);
			rc = snap_of(fs, in, key, &gen, &h->snap);
			h->snap_gen = gen;
			/* Gone since the kernel looked it up: the handle reads
			 * what it held, and its key is no basis of ours. */
			if (rc == 1)
				rc = gone_snap_of(fs, in, &h->snap);
			else if (rc == 0) {
				store_snap_stat(h->snap, &sb);
				rfs_seen(fs, &p, key, sb.version);
			}
		}
	} else if (fi->flags & O_TRUNC) {
		/* Emptying a non-empty record is its first change.  An empty
		 * one has nothing to empty: the handle's first change starts
		 * from the record's bytes, as on a local filesystem (another
		 * may have written them since; starting empty lost them). */
		if (pending || store_stat(fs->st, key, &sb) < 0) {
			h->trunc = 1;
		} else if (sb.size > 0) {
			h->trunc = 1;
			/* The kernel holds no inode lock over OPEN (it
			 * does over WRITE, SETATTR and FALLOCATE, which
			 * the holder's own writes need): wait here only. */
			pthread_mutex_lock(&h->mu);
			rc = rfs_handle_begin(fs, h, &p, req);
			pthread_mutex_unlock(&h->mu);
		}
	} else if (fi->flags & O_APPEND) {
		rc = append_open_wait(fs, req, h, &p);
	}
	/* An O_TRUNC open is a change even of an empty record: its set-ID
	 * bits go, as a local filesystem's truncate at open takes them
	 * (after the check: a refused open changes nothing). */
	if (rc == 0 && (fi->flags & O_TRUNC) && acc != O_RDONLY)
		rc = rfs_kill_priv(req, fs, in);
	if (rc < 0) {
		pthread_mutex_lock(&fs->mu);
		rfs_handle_close(fs, h);
		pthread_mutex_unlock(&fs->mu);
		if (rc == -ENFILE)
			rfs_log_enfile("an open", key[0] ? key : NULL);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* The opener is gone (interrupted): nothing was changed
		 * that a release would not clean up. */
	}
}

/* A create's store lease for @h (etcd: a round trip): what refuses it,
 * as its creator is told.  @h->txn is aborted if it fails. */
static int create_lease(struct rfs_handle *h, uint64_t expect, int flags)
{
	int rc = store_txn_lease(h->txn, expect);

	if (rc < 0) {
		store_txn_abort(h->txn);
		h->txn = NULL;
	}
	if (rc == -EAGAIN)
		rc = -EEXIST; /* another mount created it meanwhile */
	/* Another mount's create of it, not committed yet: on one mount
	 * the kernel finds that name and O_EXCL says EEXIST, which
	 * lock-file loops wait on (git's index.lock). */
	if (rc == -EBUSY && (flags & O_EXCL))
		rc = -EEXIST;
	return rc;
}

void rfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct fuse_entry_param e;
	struct rfs_handle *h = NULL;
	struct rfs_inode *in = NULL, *dir;
	struct basis_hit hit;
	struct proc_info pi;
	uint64_t expect = STORE_ABSENT;
	char key[RFS_KEY_BUF];
	int rc;

	rfs_caller(req, &pi);
	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&fs->mu);
	/* O_CREAT without O_EXCL would open a record that raced in, but a
	 * pending create is someone's change: EEXIST either way. */
	rc = rfs_new_name_check(req, fs, parent, name, &pi, key, &expect,
				&hit);
	if (rc < 0)
		goto out;
	in = rfs_ino_make(fs, key);
	h = in ? rfs_handle_new(fs, in, fi->flags, &pi) : NULL;
	if (!h) {
		rc = -ENOMEM;
		goto out;
	}
	rc = store_txn_begin(fs->st, key, 1, &h->txn);
	/* A local store's lease is fast: taken under fs->mu, before the
	 * name is shown. */
	if (rc == 0 && !fs->slow_store)
		rc = create_lease(h, expect, fi->flags);
	if (rc < 0)
		goto out;
	/* On etcd the name is taken here, under fs->mu, as a pending
	 * create whose lease is h: this mount's other creators get EEXIST,
	 * its other changers EBUSY (or they wait for the lease), rmdir
	 * ENOTEMPTY, as for any create not committed yet.  The store's
	 * lease (a round trip) is taken after fs->mu is let go, so that no
	 * other request of this mount waits for it (until 2026-12-07 every
	 * stat, open and listing did).  h->mu is held over it, as over a
	 * handle's first change (rfs_handle_begin), so that the creator's
	 * own rename or unlink (commit_pinned, unlease_pinned) waits for
	 * its outcome; the handle is new and no one else can hold its mu
	 * yet, so taking it under fs->mu breaks no lock order. */
	if (fs->slow_store)
		pthread_mutex_lock(&h->mu);
	rfs_ino_pending(fs, in, 1);
	rfs_new_meta(req, fs, rfs_ino(fs, parent), S_IFREG | (mode & 07777),
		     &in->pmeta);
	in->lease = h;
	in->lease_since_ns = in->pmeta.ctime_ns; /* rfs_now_ns(), just read */
	in->nlookup++;
	in->nopen++;
	h->created = 1;
	h->trunc = 1;
	h->expect = expect;
	h->hit = hit;
	h->changer = pi;
	h->dir_ino = parent;
	dir = rfs_ino(fs, parent);
	if (dir)
		h->dir_gen = __atomic_load_n(&dir->attr_gen, __ATOMIC_RELAXED);
	rfs_fill_attr(in->ino, &in->pmeta, 0, &e.attr);
	e.ino = in->ino;
	e.attr_timeout = TIMEOUT;
	e.entry_timeout = rfs_entry_ttl(fs, rfs_ino(fs, parent), key);
	if (!fs->slow_store)
		goto out;
	pthread_mutex_unlock(&fs->mu);
	rc = create_lease(h, expect, fi->flags);
	pthread_mutex_unlock(&h->mu);
	pthread_mutex_lock(&fs->mu);
	if (rc < 0) {
		/* Taken back as a create whose commit failed is (handle.c,
		 * rfs_handle_drop): a lookup meanwhile may have shown the
		 * name, which now goes.  The handle may be pinned (the
		 * creator's own rename or unlink found it): closed, it is
		 * freed at the last unpin. */
		in->nlookup--;
		rfs_ino_pending(fs, in, 0);
		rfs_ino_unkey(fs, in);
		rfs_inval_entry(fs, key);
		rfs_handle_close(fs, h);
		h = NULL;
	}
out:
	if (rc < 0 && h) {
		rfs_handle_free(fs, h);
		h = NULL;
	}
	if (rc < 0 && in)
		rfs_ino_put(fs, in);
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->direct_io = 1;
	fi->fh = (uintptr_t)h;
	fuse_reply_create(req, &e, fi);
}

/* Do the first @n bytes of @a and @b match?  @return 1 yes, 0 no (or a
 * read failed: the reader then stays where it is). */
static int snap_prefix_eq(struct store_snap *a, struct store_snap *b,
			  uint64_t n)
{
	char x[8192], y[sizeof(x)];

	for (uint64_t off = 0; off < n;) {
		size_t want = n - off < sizeof(x) ? (size_t)(n - off) : sizeof(x);
		ssize_t ra = store_snap_read(a, x, want, off);
		ssize_t rb = store_snap_read(b, y, want, off);

		if (ra <= 0 || ra != rb || memcmp(x, y, (size_t)ra) != 0)
			return 0;
		off += (uint64_t)ra;
	}
	return 1;
}

/* The newest version of @key, if another mount made it by adding bytes
 * to the end of @h's snapshot (whose stat is @sb).  This daemon sees only
 * its own appends (the inode's line), so the bytes tell: all of the
 * reader's are still there, first, and it still reads one version.  A
 * version found not to extend it is not compared again (tail -f looks
 * at its end every second).  @return 0 and *out, or -1.  Caller holds
 * h->mu, not fs->mu. */
static int remote_ext(struct rfs *fs, struct rfs_handle *h, const char *key,
		      const struct store_stat *sb, struct store_snap **out)
{
	struct store_stat cur;
	struct store_snap *s;

	if (store_stat(fs->st, key, &cur) < 0 || cur.version <= sb->version ||
	    cur.version == h->ext_tried || cur.size <= sb->size)
		return -1;
	if (store_snap_open(fs->st, key, 0, &s) < 0)
		return -1;
	store_snap_stat(s, &cur);
	if (cur.version > sb->version && cur.size > sb->size &&
	    snap_prefix_eq(h->snap, s, sb->size)) {
		*out = s;
		return 0;
	}
	h->ext_tried = cur.version;
	store_snap_close(s);
	return -1;
}

/* A reader at the end of its version reads on when the record has only
 * grown since by appends: its snapshot moves to the newest version of
 * that line, whose first bytes are all the ones it had, so it still
 * reads one version (the later one) consistently.  That is `tail -f` on
 * a log appended with >>.  Any other change since leaves it where it
 * is, and so does a move of the record (of it or of a directory above
 * it): the snapshot's version is then one of another key's line, which
 * the inode's line, kept for its new key, says nothing of.  Before
 * 2026-12-06 such a reader read on into the bytes of a version of the
 * new key that another record had made.  Versions another mount made
 * (etcd) are on no line here: past this daemon's last change other than
 * an append, the reader reads on into the newest version if its bytes
 * begin with all of the reader's (remote_ext).  Until 2026-12-07 it did
 * not, and `tail -f` of a log another mount appended to showed nothing
 * new.  @return 1 if the snapshot moved.  Caller holds h->mu. */
static int read_on(struct rfs *fs, struct rfs_handle *h)
{
	struct store_snap *s;
	struct store_stat sb;
	char key[RFS_KEY_BUF];
	uint64_t top = 0;
	int pending, remote, elsewhere = 0;

	/* Most records have no such line: no lock at their every EOF. */
	remote = __atomic_load_n(&h->in->remote, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&h->in->ext_base, __ATOMIC_RELAXED) && !remote)
		return 0;
	store_snap_stat(h->snap, &sb);
	pthread_mutex_lock(&fs->mu);
	rfs_moving_wait(fs, h->in); /* (names.c, moving_begin) */
	if (h->in->key_gen == h->snap_gen &&
	    rfs_ino_key_copy(h->in, key, &pending) == 0 && !pending) {
		if (h->in->ext_base && h->in->ext_base <= sb.version &&
		    sb.version < h->in->ext_top)
			top = h->in->ext_top;
		else if (remote && sb.version >= h->in->ext_cut)
			elsewhere = 1;
	}
	pthread_mutex_unlock(&fs->mu);
	if (elsewhere) {
		if (remote_ext(fs, h, key, &sb, &s) < 0)
			return 0;
	} else if (!top || store_snap_open(fs->st, key, top, &s) < 0) {
		return 0;
	}
	store_snap_close(h->snap);
	h->snap = s;
	return 1;
}

/* The page cache is filled a request at a time, each through a
 * snapshot of its own and in any order (readahead, mmap faults), so the
 * check that a snapshot makes of a version read in order from its first
 * byte never saw a whole one there: a damaged version's bytes went into
 * the cache unchecked, and sendfile, splice and mmap (Python's
 * shutil.copyfile) copied them without an error.  The first fill of a
 * version reads it whole against its hash, once: the inode keeps the
 * version it checked.  @return 0, or -EIO (damaged), -ENOMEM. */
static int fill_check(struct rfs *fs, struct rfs_inode *in, unsigned gen,
		      struct store_snap *snap)
{
	struct store_stat s;
	int rc, done;

	store_snap_stat(snap, &s);
	pthread_mutex_lock(&fs->mu);
	done = in->fill_ok_ver == s.version && in->fill_ok_gen == gen;
	pthread_mutex_unlock(&fs->mu);
	if (done)
		return 0;
	rc = store_snap_check_rest(snap);
	if (rc == 0) {
		pthread_mutex_lock(&fs->mu);
		in->fill_ok_ver = s.version;
		in->fill_ok_gen = gen;
		pthread_mutex_unlock(&fs->mu);
	}
	return rc;
}

/* A read that fills @in's page cache: the record's newest committed
 * bytes, whichever handle the kernel read through.  Every handle is
 * direct_io, so read(2) never fills the cache; but sendfile, splice,
 * copy_file_range's fallback and a private mmap read through it on this
 * kernel, filling it through the caller's handle, and the cache is one
 * per inode.  Filled with that handle's own view, it served a writer's
 * uncommitted bytes to another reader's sendfile, and an old reader's
 * version to a new one (rev-u, 2026-12-07).  The newest committed
 * version is the one view every handle may see; the next commit drops
 * the pages (in->filled).  h->mu is not taken: a commit waits for a
 * fill in flight (its invalidation locks the page) while holding the
 * writer's h->mu, and the writer's own sendfile fills through that
 * handle.  @return bytes read or -errno. */
static ssize_t fill_read(struct rfs *fs, struct rfs_inode *in, char *buf,
			 size_t size, uint64_t off)
{
	struct store_snap *snap = NULL;
	char key[RFS_KEY_BUF];
	unsigned gen = 0;
	int pending = 1, gone, have;
	ssize_t n;

	pthread_mutex_lock(&fs->mu);
	rfs_moving_wait(fs, in); /* (names.c, moving_begin) */
	have = rfs_ino_key_copy(in, key, &pending) == 0;
	gen = in->key_gen;
	gone = in->deleted;
	__atomic_store_n(&in->filled, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&fs->mu);
	/* A create not yet committed has no committed bytes. */
	if (!gone && (!have || pending))
		return 0;
	if (!gone) {
		n = snap_of(fs, in, key, &gen, &snap);
		if (n == -ENOENT)
			return -ESTALE; /* gone through another mount */
		gone = n == 1;
	}
	/* Deleted: what it held when it went, as for rfs_read. */
	if (gone && (n = gone_snap_of(fs, in, &snap)) == -ENOENT)
		return 0;
	if (n == 0)
		n = fill_check(fs, in, gen, snap);
	if (n == 0)
		n = store_snap_read(snap, buf, size, off);
	store_snap_close(snap);
	return n;
}

void rfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = HANDLE(fi);
	char *buf = malloc(size ? size : 1);
	ssize_t n = 0;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* The kernel's direct reads carry their caller's lock owner; the
	 * reads that fill the page cache carry none. */
	if (fi->lock_owner == 0 && !h->in->hist) {
		n = fill_read(fs, h->in, buf, size, (uint64_t)off);
		goto out;
	}
	pthread_mutex_lock(&h->mu);
	if (h->txn) {
		n = store_txn_read(h->txn, buf, size, (uint64_t)off);
	} else {
		int rdwr = (h->flags & O_ACCMODE) != O_RDONLY, pending = 1;
		int have = 0, gone = 1;
		unsigned gen = 0;
		char key[RFS_KEY_BUF];

		/* The key only under fs->mu (a rename frees it); a read-only
		 * handle took its snapshot at open and needs neither. */
		if (rdwr && h->snap)
			rfs_handle_follow(fs, h);
		if (!h->snap || (rdwr && !h->seen)) {
			pthread_mutex_lock(&fs->mu);
			rfs_moving_wait(fs, h->in); /* (names.c) */
			if (!h->snap)
				h->pc_seen = h->in->pc_seq;
			have = rfs_ino_key_copy(h->in, key, &pending) == 0;
			gen = h->in->key_gen;
			gone = h->in->deleted;
			pthread_mutex_unlock(&fs->mu);
		}
		if (!h->snap && have && !pending && !gone) {
			rfs_test_pause(fs, key, RFS_PAUSE_SNAPSHOT);
			n = snap_of(fs, h->in, key, &gen, &h->snap);
			h->snap_gen = gen;
			if (n == 1) { /* it went meanwhile */
				gone = 1;
				have = 0; /* its key is no basis of ours now */
				n = 0;
			} else if (n == -ENOENT) {
				/* Gone through another mount (etcd), which this
				 * daemon learns of after the fact, so pinned
				 * nothing: an error, never an empty file. */
				n = -ESTALE;
			}
		}
		/* Gone before this handle read it: it reads what the record
		 * held then (it read nothing). */
		if (!h->snap && gone) {
			n = gone_snap_of(fs, h->in, &h->snap);
			if (n == -ENOENT)
				n = 0;
		}
		/* An O_RDWR handle's first read is a basis too. */
		if (h->snap && !h->seen && rdwr && have) {
			struct store_stat sb;
			struct proc_info p;
			rfs_caller(req, &p);
			store_snap_stat(h->snap, &sb);
			rfs_seen(fs, &p, key, sb.version);
			h->seen = 1;
		}
		if (n == 0 && h->snap)
			n = store_snap_read(h->snap, buf, size, (uint64_t)off);
		if (n == 0 && size && h->snap && !h->in->hist &&
		    read_on(fs, h))
			n = store_snap_read(h->snap, buf, size, (uint64_t)off);
	}
	pthread_mutex_unlock(&h->mu);
out:
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* An append needs no basis, but one it finds still current is what the
 * appender's tree stood on: the append counts as a change on it, so the
 * holder moves along to @base + 1 (a new registration, as for any change
 * on an ancestor's basis).  Without it, `echo h > out; cmd >> out; mv out
 * final` was refused: the shell still held the version before cmd's
 * lines.  Only an implicit basis at exactly @base qualifies: a stale one,
 * or a version someone else changed since, stays as it is, and a
 * declaration is left for the change it was made for. */
static void append_basis(struct rfs *fs, const struct proc_info *p,
			 const char *key, uint64_t base,
			 struct basis_hit *hit)
{
	memset(hit, 0, sizeof(*hit));
	if (p->tid <= 0 || rfs_unchecked(fs, key))
		return;
	basis_lookup(fs->bt, p, key, hit);
	if (!hit->found || hit->stale || hit->explicit_ ||
	    hit->version != base)
		memset(hit, 0, sizeof(*hit));
}

/* O_APPEND without O_TRUNC: added at the true end of the current version
 * and committed at once; never stale, waits briefly for a lease.
 * @return 0, -errno, or 1 when the record was deleted: its key may name
 * another record now, so the write is the handle's private change, as
 * any write to an unlinked file (rfs_handle_begin). */
static int append_write(struct rfs *fs, struct rfs_handle *h,
			const struct proc_info *p, const char *buf,
			size_t size)
{
	int64_t dl = 0; /* rfs_lease_wait()'s deadline, ns */
	struct rfs_staged sg;
	uint64_t newv, ticket;
	int rc, woken, tries = 0;

again:
	rc = woken = 0;
	rfs_stage_big(fs, h->in, buf, size, 0, 1, &sg);
	pthread_mutex_lock(&fs->mu);
	rfs_moving_wait(fs, h->in); /* (names.c, moving_begin) */
	if (h->in->deleted) {
		pthread_mutex_unlock(&fs->mu);
		rfs_staged_drop(&sg);
		return 1;
	}
	if (h->in->lease && h->in->lease != h)
		rc = rfs_lease_wait(fs, h->in, h, p, NULL,
				    APPEND_WRITE_WAIT_MS, &dl, &woken);
	/* With sync=always the wait for the disk comes after fs->mu is
	 * released (store_defer_begin): it held every other request of
	 * the mount for the length of an fdatasync. */
	store_defer_begin(fs->st);
	if (rc == 0 && rfs_staged_ok(&sg, h->in)) {
		rc = store_txn_commit(sg.t, sg.base, NULL, 0, &newv);
		sg.t = NULL;
		if (rc == -EAGAIN && ++tries < RFS_STAGE_TRIES) {
			/* Appended to meanwhile (or the lease we waited
			 * for committed): copy the new end again. */
			store_defer_end(fs->st);
			if (woken)
				rfs_lease_pass(fs, h->in, 0);
			pthread_mutex_unlock(&fs->mu);
			goto again;
		}
		if (rc == -EAGAIN)
			rc = store_append(fs->st, h->in->key, buf, size,
					  &newv);
	} else if (rc == 0) {
		rc = store_append(fs->st, h->in->key, buf, size, &newv);
	}
	ticket = store_defer_end(fs->st);
	if (rc == 0) {
		/* A live key's next version is the one after the append's
		 * base (store_append): newv - 1 is what it added to. */
		uint64_t base = h->in->ext_base, top = h->in->ext_top;
		uint64_t cut = h->in->ext_cut;
		struct basis_hit hit;
		append_basis(fs, p, h->in->key, newv - 1, &hit);
		rfs_appended(fs, p, &hit, h->in->key, newv);
		h->in->ext_cut = cut; /* an append cuts no reader off */
		/* Appended onto its own commit: that line is still its own
		 * (fsync, append, ftruncate was refused as stale). */
		if (h->has_own && h->own_gen == h->in->key_gen &&
		    h->own == newv - 1)
			h->own = newv;
		__atomic_store_n(&h->in->ext_base,
				 base && top == newv - 1 ? base : newv - 1,
				 __ATOMIC_RELAXED);
		h->in->ext_top = newv;
	}
	if (rc == 0) {
		/* The record's other handles follow; this one reads
		 * its own append already. */
		rfs_note_commit(h->in);
		h->pc_seen = h->in->pc_seq;
		rfs_handle_read_own(fs, h, h->in->key, newv);
	}
	if (woken) /* an append takes no lease */
		rfs_lease_pass(fs, h->in, 0);
	pthread_mutex_unlock(&fs->mu);
	rfs_staged_drop(&sg);
	if (rc == 0)
		rfs_inval_inode(fs, h->in->ino);
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
	/* An O_SYNC or O_DSYNC append is durable when its write returns,
	 * as on any file system (the kernel sends no fsync for it). */
	if (rc == 0 && (h->flags & O_DSYNC))
		rc = store_sync(fs->st);
	return rc;
}

/* A change's set-ID bits go at its first change that passed its check
 * (a refused change changes nothing), long before its commit shows its
 * bytes (rfs_kill_priv).  If they cannot go, the change must never
 * commit.  Caller holds h->mu. */
static int change_kill_priv(fuse_req_t req, struct rfs *fs,
			    struct rfs_handle *h)
{
	int rc = rfs_kill_priv(req, fs, h->in);

	if (rc < 0)
		h->failed = rc;
	return rc;
}

void rfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		      size_t size, off_t off, struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = HANDLE(fi);
	struct proc_info p;
	ssize_t n;
	int rc, append, first;

	(void)ino;
	pthread_mutex_lock(&h->mu);
	/* Each request's own flags: fcntl may have cleared O_APPEND. */
	/* A handle with a change of its own open (a create, an
	 * ftruncate) appends to that change: committed at once, the append
	 * would be overwritten by the change's commit at close. */
	append = (fi->flags & O_APPEND) && !(h->flags & O_TRUNC) && !h->txn;
	/* Who writes matters to an append and to a change's first write
	 * (its check); the rest of a change is its handle's. */
	if (append || !h->txn)
		rfs_caller(req, &p);
	/* An append commits at once: the set-ID bits go first. */
	rc = append ? rfs_kill_priv(req, fs, h->in) : 0;
	if (rc == 0)
		rc = append ? append_write(fs, h, &p, buf, size) : 1;
	if (rc <= 0) {
		pthread_mutex_unlock(&h->mu);
		if (rc < 0)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_write(req, size);
		return;
	}
	first = !h->txn;
	rc = rfs_handle_begin(fs, h, &p, NULL);
	if (rc == 0 && first)
		rc = change_kill_priv(req, fs, h);
	if (rc == 0 && (fi->flags & O_APPEND))
		off = (off_t)store_txn_size(h->txn);
	n = rc < 0 ? rc : store_txn_write(h->txn, buf, size, (uint64_t)off);
	/* A change that could not be written whole must never commit: a
	 * shell ignores the close, and the old content must stay. */
	if (rc == 0 && (n < 0 || (size_t)n < size))
		h->failed = n < 0 ? (int)n : -ENOSPC;
	if (rc == 0) {
		rfs_note_size(h);
		rfs_attr_mark_write(h);
	}
	/* An append that made its file (`cmd >> new.log`) commits the
	 * create with it, and later appends commit at once, as on a file
	 * that was there: held to the close, the log read as empty, and
	 * every other appender (and logrotate's copytruncate) got EBUSY
	 * for as long as the first one ran. */
	if (rc == 0 && n == (ssize_t)size && (fi->flags & O_APPEND) &&
	    !(h->flags & O_TRUNC) && h->created) {
		int pending;

		pthread_mutex_lock(&fs->mu);
		pending = h->in->pending; /* its create is still open */
		pthread_mutex_unlock(&fs->mu);
		rc = pending ? rfs_handle_commit(fs, h, 0) : 0;
		if (rc < 0)
			n = rc;
	}
	pthread_mutex_unlock(&h->mu);
	if (n == -ENFILE)
		rfs_log_enfile("a write", NULL);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

void rfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = HANDLE(fi);
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct proc_info p;
	unsigned flags;
	int rc = 0, n, nfds = 0, opener = 0;
	pid_t tgid;

	pthread_mutex_lock(&h->mu);
	if ((!h->txn && !h->lost) || c->pid <= 0 || !h->opener_known)
		goto out; /* nothing to commit or tell, or release will */
	/* A task in execve sends this flush for each close-on-exec
	 * descriptor while it holds the lock that reading its
	 * /proc/PID/stat takes, and waits for the answer: vim's `:!cmd`
	 * with its swap file open, perl's system() or exec with a record
	 * open for writing.  Reading that stat here hung both for good
	 * (and every `ps` on the machine).  So a task of another process
	 * than the opener's is told by its cache entry when its pidfd
	 * proves it, else by its status alone; only one of the opener's
	 * with no entry has its stat read.  (The status read at every
	 * flush cost a save 10-30 % in `make bench`.) */
	if (proc_get_cached(c->pid, &p) < 0 &&
	    (proc_tgid(c->pid, &tgid) < 0 || tgid != h->opener.tgid ||
	     proc_get_caller(c->pid, &p) < 0))
		goto out;
	opener = proc_same_process(&p, &h->opener);
	if (!opener || !h->txn)
		goto out; /* a child or a duplicate closing its copy */
	/* The process's start time (a thread's pstart, proven with it)
	 * spares the scan a poll of its own at each save. */
	n = fs->mnt_id > 0
		    ? proc_task_writable_fds(p.tgid, p.tid,
					     proc_process_start(&p),
					     fs->mnt_id, ino, &nfds)
		    : -1;
	if (n != 0)
		goto out; /* still writable elsewhere (or /proc can't tell) */
	/* A task dying from a signal closes its files after detaching its
	 * descriptor table, which /proc then lists empty: a scan that saw
	 * descriptors is a close(2) of a live process.  Otherwise read the
	 * flag now, not from the cache: it is set as the task dies. */
	if (nfds == 0 && proc_flags(p.tid, &flags) == 0 &&
	    (flags & PROC_PF_SIGNALED)) {
		rfs_handle_drop(fs, h, "its process was killed by a signal");
		goto out;
	}
	rc = rfs_handle_commit(fs, h, 0);
out:
	if (opener && h->lost) { /* (rfs_handle_lost) */
		rc = rc < 0 ? rc : h->lost;
		h->lost = 0;
	}
	pthread_mutex_unlock(&h->mu);
	/* A new file whose change failed is gone: the kernel's entry for it
	 * must be, too, before close returns (`cp` onto a full disk, then
	 * `test -e` found it for a moment: e2e_races on etcd). */
	if (rc < 0)
		rfs_inval_barrier(fs, 100);
	fuse_reply_err(req, -rc);
}

void rfs_release(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = HANDLE(fi);
	struct rfs_inode *in = h->in;
	int trim;

	(void)ino;
	pthread_mutex_lock(&h->mu);
	if (h->txn)
		rfs_handle_commit(fs, h, RFS_COMMIT_LAST); /* opener gone */
	pthread_mutex_unlock(&h->mu);
	pthread_mutex_lock(&fs->mu);
	rfs_handle_close(fs, h);
	rfs_ino_put(fs, in);
	trim = rfs_handles_trim_due(fs);
	pthread_mutex_unlock(&fs->mu);
	fuse_reply_err(req, 0);
	if (trim)
		malloc_trim(0);
}

void rfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		      struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = HANDLE(fi);
	int rc;

	(void)ino;
	(void)datasync;
	pthread_mutex_lock(&h->mu);
	rc = h->txn ? rfs_handle_commit(fs, h, RFS_COMMIT_DURABLE)
		    : store_sync(fs->st);
	if (h->lost) { /* (rfs_handle_lost) */
		rc = rc < 0 ? rc : h->lost;
		h->lost = 0;
	}
	pthread_mutex_unlock(&h->mu);
	fuse_reply_err(req, -rc);
}

/* Zeros over [off, end) of the change, as a write of zeros: recfs keeps
 * no holes of its own, only the bytes a reader sees.  Caller holds h->mu.
 * @return 0 or -errno (the change is then marked failed, as a short
 * write's is: it must never commit half-zeroed). */
static int zero_range(struct rfs_handle *h, uint64_t off, uint64_t end)
{
	static const char zeros[64 << 10];

	while (off < end) {
		size_t n = end - off < sizeof(zeros) ? (size_t)(end - off)
						     : sizeof(zeros);
		ssize_t w = store_txn_write(h->txn, zeros, n, off);

		if (w < 0 || (size_t)w < n) {
			h->failed = w < 0 ? (int)w : -ENOSPC;
			return h->failed;
		}
		off += n;
	}
	return 0;
}

/* fallocate is a change like a write: its first use checks the basis.
 * - Preallocation (0, KEEP_SIZE) sets the size it asks for and reserves
 *   nothing more: space is taken when bytes are written.
 * - PUNCH_HOLE (always with KEEP_SIZE) and ZERO_RANGE write zeros over
 *   the bytes the record has in the range; ZERO_RANGE without KEEP_SIZE
 *   also extends it.  Readers see the same bytes as on a file system
 *   that keeps holes.
 * - COLLAPSE_RANGE, INSERT_RANGE and UNSHARE_RANGE: EOPNOTSUPP. */
void rfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			  off_t off, off_t len, struct fuse_file_info *fi)
{
	const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
			  FALLOC_FL_ZERO_RANGE;
	struct rfs *fs = FS(req);
	struct rfs_handle *h = HANDLE(fi);
	uint64_t end = (uint64_t)off + (uint64_t)len, size;
	struct proc_info p;
	int rc, first;

	(void)ino;
	/* (The kernel refuses PUNCH_HOLE without KEEP_SIZE itself.) */
	if ((mode & ~known) ||
	    ((mode & FALLOC_FL_PUNCH_HOLE) && (mode & FALLOC_FL_ZERO_RANGE))) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	rfs_caller(req, &p);
	pthread_mutex_lock(&h->mu);
	first = !h->txn;
	rc = rfs_handle_begin(fs, h, &p, NULL);
	if (rc == 0 && first)
		rc = change_kill_priv(req, fs, h);
	if (rc == 0) {
		size = store_txn_size(h->txn);
		if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
			rc = zero_range(h, (uint64_t)off, end < size ? end : size);
		if (rc == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && end > size)
			rc = store_txn_truncate(h->txn, end);
		if (rc == 0) {
			rfs_note_size(h);
			rfs_attr_mark_write(h);
		}
	}
	/* Failed as the handle's first change (EFBIG past the largest
	 * size), it is taken back whole: no lease held, no version at
	 * the close, nothing of it ever seen. */
	if (rc < 0 && first)
		rfs_handle_unbegin(fs, h);
	pthread_mutex_unlock(&h->mu);
	fuse_reply_err(req, -rc);
}

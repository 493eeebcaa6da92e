/* ops.c - the FUSE low-level operations.  One operation per function;
 * every path ends in exactly one fuse_reply_*; errors are negative errno
 * inside and positive at the reply.
 *
 * Lock order: a handle's mu, then fs->mu.  Store calls are thread-safe;
 * fs->mu guards the inode table, leases and the basis decisions. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "history.h"
#include "perm.h"
#include "rfs.h"

/* Entry and attribute timeouts.  Every change to the store passes through
 * this daemon (the store is locked to it), and the kernel updates its own
 * dentries and attributes for the calls it makes; where it cannot know
 * (appends, failed commits, a lease holder's own view) the code below
 * invalidates or answers with timeout 0.  So the caches can live long:
 * with a short timeout every path walk after it costs a LOOKUP. */
#define TIMEOUT 86400.0
#define APPEND_WAIT_MS 3000

struct dirh {
	char **names;
	uint32_t *modes;
	size_t n;
};

static struct rfs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct rfs_handle *HANDLE(struct fuse_file_info *fi)
{
	return (struct rfs_handle *)(uintptr_t)fi->fh;
}

/* The calling task.  A task we cannot see (another pid namespace) holds
 * no basis: tid stays 0. */
static void caller(fuse_req_t req, struct proc_info *p)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	if (c->pid <= 0 || proc_get(c->pid, p) < 0) {
		memset(p, 0, sizeof(*p));
		snprintf(p->comm, sizeof(p->comm), "?");
	}
	p->uid = c->uid; /* the kernel's word is the one that counts */
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *join(const struct rfs_inode *parent, const char *name, int *rc)
{
	size_t pl = strlen(parent->key), nl = strlen(name);
	char *k;

	*rc = hist_reserved(parent, name); /* every caller makes a change */
	if (*rc < 0)
		return NULL;
	if (nl > STORE_NAME_MAX) {
		*rc = -ENAMETOOLONG;
		return NULL;
	}
	if (pl + 1 + nl > STORE_KEY_MAX) {
		*rc = -ENAMETOOLONG;
		return NULL;
	}
	k = malloc(pl + nl + 2);
	if (!k) {
		*rc = -ENOMEM;
		return NULL;
	}
	if (pl) {
		memcpy(k, parent->key, pl);
		k[pl] = '/';
		memcpy(k + pl + 1, name, nl + 1);
	} else {
		memcpy(k, name, nl + 1);
	}
	return k;
}

static void ts_of(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

static void fill_attr(fuse_ino_t ino, const struct store_meta *m,
		      uint64_t size, struct stat *a)
{
	memset(a, 0, sizeof(*a));
	a->st_ino = ino;
	a->st_mode = m->mode;
	a->st_nlink = S_ISDIR(m->mode) ? 2 : 1;
	a->st_uid = m->uid;
	a->st_gid = m->gid;
	a->st_size = (off_t)size;
	a->st_blksize = 4096;
	a->st_blocks = (blkcnt_t)((size + 511) / 512);
	ts_of(m->atime_ns, &a->st_atim);
	ts_of(m->mtime_ns, &a->st_mtim);
	ts_of(m->ctime_ns, &a->st_ctim);
}

/* Attributes of an inode as others see them: the committed version, or
 * an empty file while a create is pending.  Caller holds fs->mu. */
static int inode_attr(struct rfs *fs, struct rfs_inode *in, struct stat *a)
{
	struct store_stat sb;
	int rc;

	if (in->hist)
		return hist_attr(fs, in, a);
	if (in->pending) {
		fill_attr(in->ino, &in->pmeta, 0, a);
		return 0;
	}
	if (in->deleted)
		return -ENOENT;
	rc = store_stat(fs->st, in->key, &sb);
	if (rc == 0)
		fill_attr(in->ino, &sb.meta, sb.size, a);
	return rc;
}

/* Attributes as the caller sees them: a writer's own fstat sees its own
 * change.  Caller holds fs->mu (and h->mu if h). */
static int handle_attr(struct rfs *fs, struct rfs_inode *in,
		       struct rfs_handle *h, struct stat *a)
{
	int rc = inode_attr(fs, in, a);

	if (h && h->txn) {
		if (rc < 0)
			fill_attr(in->ino, &in->pmeta, 0, a);
		a->st_size = (off_t)store_txn_size(h->txn);
		rc = 0;
	}
	return rc;
}

/* ---- Owners and modes without default_permissions (perm.h) ----------
 * When fs->kperm is 0 the kernel checks nothing but exec bits, so every
 * request that needs a permission checks it here, with the errno the
 * kernel would give.  When it is 1 the kernel has checked already. */

static void who_of(fuse_req_t req, struct perm_who *w)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	perm_who_init(w, c->uid, c->gid, c->pid);
}

/* Does the daemon check @in for this request?  Not when the kernel does,
 * nor for an inode without attributes (the operation then fails on its
 * own).  If so, *a and *w are filled.  Caller holds fs->mu. */
static int checks(fuse_req_t req, struct rfs *fs, struct rfs_inode *in,
		  struct stat *a, struct perm_who *w)
{
	if (fs->kperm || !in || inode_attr(fs, in, a) < 0)
		return 0;
	who_of(req, w);
	return 1;
}

/* May the caller access @in for @mask (PERM_*)?  Caller holds fs->mu. */
static int may(fuse_req_t req, struct rfs *fs, struct rfs_inode *in,
	       int mask)
{
	struct perm_who w;
	struct stat a;

	if (!checks(req, fs, in, &a, &w))
		return 0;
	return perm_may(&w, a.st_mode, a.st_uid, a.st_gid, mask);
}

/* May the caller remove @key from directory @p (unlink, rmdir, either
 * side of a rename)?  Write and search on @p (EACCES), then the sticky
 * rule (EPERM).  Caller holds fs->mu. */
static int may_delete(fuse_req_t req, struct rfs *fs, struct rfs_inode *p,
		      const char *key)
{
	struct rfs_inode *in = rfs_ino_by_key(fs, key);
	struct store_stat sb;
	struct perm_who w;
	struct stat a;
	int rc;

	if (!checks(req, fs, p, &a, &w))
		return 0;
	rc = perm_may(&w, a.st_mode, a.st_uid, a.st_gid, PERM_W | PERM_X);
	if (rc < 0 || !(a.st_mode & S_ISVTX))
		return rc;
	if (in && in->pending)
		return perm_sticky(&w, a.st_mode, a.st_uid, in->pmeta.uid);
	if (store_stat(fs->st, key, &sb) < 0)
		return 0;
	return perm_sticky(&w, a.st_mode, a.st_uid, sb.meta.uid);
}

/* How long the kernel may keep the entry of @key in directory @dir (or,
 * with @dir NULL, in the directory its key names).  Without
 * default_permissions a cached entry is walked without asking us, so an
 * entry below a directory that not everyone may search is looked up
 * anew at every walk, where may() checks the walker.  Caller holds
 * fs->mu. */
static double entry_ttl(struct rfs *fs, struct rfs_inode *dir,
			const char *key)
{
	struct store_stat sb;
	struct stat a;
	const char *s;
	char *dk;
	int rc;

	if (fs->kperm)
		return TIMEOUT;
	if (dir) {
		rc = inode_attr(fs, dir, &a);
		return rc == 0 && (a.st_mode & 0111) == 0111 ? TIMEOUT : 0;
	}
	s = strrchr(key, '/');
	dk = strndup(key, s ? (size_t)(s - key) : 0);
	if (!dk)
		return 0;
	rc = store_stat(fs->st, dk, &sb);
	free(dk);
	return rc == 0 && (sb.meta.mode & 0111) == 0111 ? TIMEOUT : 0;
}

/* rename(2): may the caller take @from out of @p and put it at @to in
 * @np?  As the kernel asks: removing from @p, adding to (or replacing
 * in) @np, and write permission on a directory that changes parent (its
 * ".." changes).  Caller holds fs->mu. */
static int may_rename(fuse_req_t req, struct rfs *fs, struct rfs_inode *p,
		      const char *from, struct rfs_inode *np, const char *to)
{
	struct store_stat sb;
	struct perm_who w;
	int rc;

	if (fs->kperm)
		return 0;
	rc = may_delete(req, fs, p, from);
	if (rc == 0)
		rc = may_delete(req, fs, np, to);
	if (rc == 0 && p != np && store_stat(fs->st, from, &sb) == 0 &&
	    S_ISDIR(sb.meta.mode)) {
		who_of(req, &w);
		rc = perm_may(&w, sb.meta.mode, sb.meta.uid, sb.meta.gid,
			      PERM_W);
	}
	return rc;
}

/* The kernel's __FMODE_EXEC: an open made by execve(2) carries it. */
#define FMODE_EXEC_FLAG 040

/* What open(2) with @flags asks of the file (O_TRUNC writes). */
static int open_mask(int flags)
{
	int acc = flags & O_ACCMODE, mask = 0;

	if (acc == O_RDONLY || acc == O_RDWR)
		mask |= PERM_R;
	if (flags & FMODE_EXEC_FLAG) /* execve(2) opening its program */
		mask |= PERM_X;
	if (acc == O_WRONLY || acc == O_RDWR || (flags & O_TRUNC))
		mask |= PERM_W;
	return mask;
}

/* Attributes of @in are about to be cached by the kernel. */
static void attr_given(struct rfs_inode *in)
{
	__atomic_add_fetch(&in->attr_gen, 1, __ATOMIC_RELAXED);
}

/* The change's latest write: the kernel drops its cached size and times
 * when the write returns. */
static void attr_mark_write(struct rfs_handle *h)
{
	h->attr_seen = __atomic_load_n(&h->in->attr_gen, __ATOMIC_RELAXED);
}

static void inval_inode(struct rfs *fs, fuse_ino_t ino)
{
	if (fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

/* ---- Handles: the first change, commit and drop ---------------------- */

/* Caller holds fs->mu. */
static void lease_end(struct rfs *fs, struct rfs_inode *in,
		      const struct rfs_handle *h)
{
	if (in->lease != h)
		return;
	in->lease = NULL;
	if (fs->lease_waiters) /* every commit passes here */
		pthread_cond_broadcast(&fs->lease_cv);
}

/* Wait for another handle's lease on in to end, until *dl (set to ms
 * from now if it is zero, so that a caller that meets lease after lease
 * waits ms in all).  Writers that meet on one record then take turns
 * instead of spinning through refusals, and a save by cp or an editor
 * (milliseconds) is waited for; a handle that keeps its change open
 * longer gets the caller EBUSY, as the contract says.  Never waits for
 * a lease this thread holds itself: it could not end meanwhile; nor
 * when RFS_LEASE_WAITERS changes wait already (each keeps a thread).
 * Returns 0 when the lease has ended (the caller checks the record
 * again: it may have changed meanwhile), -EBUSY otherwise.  Caller holds
 * fs->mu (released while waiting). */
static int lease_wait(struct rfs *fs, struct rfs_inode *in,
		      const struct rfs_handle *h, const struct proc_info *p,
		      int ms, struct timespec *dl)
{
	int rc = 0;

	if (ms <= 0 || fs->lease_waiters >= RFS_LEASE_WAITERS ||
	    in->lease->changer.tid == p->tid ||
	    in->lease->opener.tid == p->tid)
		return -EBUSY;
	if (dl->tv_sec == 0 && dl->tv_nsec == 0) {
		clock_gettime(CLOCK_MONOTONIC, dl);
		dl->tv_sec += ms / 1000;
		dl->tv_nsec += (long)(ms % 1000) * 1000000L;
		if (dl->tv_nsec >= 1000000000L) {
			dl->tv_sec++;
			dl->tv_nsec -= 1000000000L;
		}
	}
	fs->lease_waiters++;
	while (in->lease && in->lease != h && rc == 0)
		rc = pthread_cond_timedwait(&fs->lease_cv, &fs->mu, dl);
	fs->lease_waiters--;
	return in->lease && in->lease != h ? -EBUSY : 0;
}

/* Caller holds fs->mu. */
static struct rfs_handle *handle_new(struct rfs *fs, struct rfs_inode *in,
				     int flags, const struct proc_info *p)
{
	struct rfs_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	store_mutex_init(&h->mu);
	h->in = in;
	h->flags = flags;
	h->opener = *p;
	h->opener_known = p->tid > 0;
	h->next = fs->handles;
	if (fs->handles)
		fs->handles->prev = h;
	fs->handles = h;
	return h;
}

/* Caller holds fs->mu. */
static void handle_free(struct rfs *fs, struct rfs_handle *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		fs->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	store_snap_close(h->snap);
	store_txn_abort(h->txn);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* A handle's first change: check it, take the lease, open the private
 * change.  With @may_wait, another handle's lease is waited for
 * (lease_wait): only at OPEN, since over WRITE, SETATTR and FALLOCATE
 * the kernel holds the file's inode lock, which the holder's own next
 * write needs.  Caller holds h->mu. */
static int handle_begin(struct rfs *fs, struct rfs_handle *h,
			const struct proc_info *p, int may_wait)
{
	struct rfs_inode *in = h->in;
	uint64_t expect = STORE_ANY;
	struct timespec dl = { 0, 0 };
	struct basis_hit hit;
	int rc = 0;

	if (h->txn)
		return 0;
	memset(&hit, 0, sizeof(hit));
	pthread_mutex_lock(&fs->mu);
again:
	if (in->deleted) {
		/* Writing to an unlinked file: private to this handle and
		 * never committed (mkstemp-unlink). */
		rc = store_txn_begin(fs->st, in->key, 1, &h->txn);
		pthread_mutex_unlock(&fs->mu);
		return rc == -EISDIR ? -EIO : rc;
	}
	if (in->lease && in->lease != h) {
		rc = may_wait ? lease_wait(fs, in, h, p, (int)fs->o.lease_wait,
					   &dl)
			      : -EBUSY;
		if (rc == 0)
			goto again; /* the record may have changed meanwhile */
	} else if (in->pending && h->created)
		expect = rfs_unchecked(fs, in->key) ? STORE_ANY : STORE_ABSENT;
	else
		rc = rfs_check(fs, p, in->key, h->has_own ? &h->own : NULL,
			       &expect, &hit);
	if (rc == 0)
		rc = store_txn_begin(fs->st, in->key, h->trunc, &h->txn);
	if (rc == 0) {
		in->lease = h;
		in->lease_since_ns = now_ns();
		__atomic_store_n(&h->view_size, store_txn_size(h->txn),
				 __ATOMIC_RELAXED);
		attr_mark_write(h);
		h->expect = expect;
		if (!(in->pending && h->created))
			h->hit = hit;
		h->changer = *p;
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0) {
		/* A shared store's lease: other mounts' writers are told
		 * here, at the first write, as this mount's are.  It is a
		 * round trip to etcd, so fs->mu is not held; this mount's
		 * other writers already find in->lease taken. */
		rc = store_txn_lease(h->txn, expect);
		if (rc < 0) {
			pthread_mutex_lock(&fs->mu);
			lease_end(fs, in, h);
			pthread_mutex_unlock(&fs->mu);
			store_txn_abort(h->txn);
			h->txn = NULL;
		}
	}
	return rc;
}

/* Xattrs set while a create was pending become real with the record. */
static void apply_pxattrs(struct rfs *fs, struct rfs_inode *in)
{
	for (struct rfs_pxattr *x = in->pxa; x; x = x->next)
		store_setxattr(fs->st, in->key, x->name, x->value, x->size, 0);
	rfs_pxattr_free(in);
}

static void handle_drop(struct rfs *fs, struct rfs_handle *h,
			const char *why);

/* Commit the handle's change as one new version.  Caller holds h->mu. */
static int handle_commit(struct rfs *fs, struct rfs_handle *h, int durable)
{
	struct rfs_inode *in = h->in;
	struct store_txn *t = h->txn;
	struct store_meta meta;
	uint64_t newv = 0, ticket = 0;
	int pending, rc;

	if (!t)
		return 0;
	if (h->failed) {
		rc = h->failed;
		h->failed = 0;
		handle_drop(fs, h, "a write into it failed");
		return rc;
	}
	h->txn = NULL;
	pthread_mutex_lock(&fs->mu);
	pending = in->pending;
	meta = in->pmeta;
	if (in->deleted) {
		lease_end(fs, in, h);
		pthread_mutex_unlock(&fs->mu);
		store_txn_abort(t);
		return 0;
	}
	pthread_mutex_unlock(&fs->mu);

	/* Applied is committed: the lease ends there, not after the sync,
	 * so the record's next writer can start (and share the sync)
	 * while this one waits for it. */
	rc = store_txn_commit_nowait(t, h->expect, pending ? &meta : NULL,
				     durable, &newv, &ticket);

	pthread_mutex_lock(&fs->mu);
	lease_end(fs, in, h);
	if (rc == 0) {
		if (pending) {
			rfs_ino_pending(fs, in, 0);
			apply_pxattrs(fs, in);
		}
		h->has_own = 1;
		h->own = newv;
		h->trunc = 0;
		h->created = 0;
		rfs_changed(fs, &h->changer, &h->hit, in->key, newv);
	} else {
		fprintf(stderr, "recfs: commit of '%s' failed: %s\n", in->key,
			strerror(-rc));
		if (pending && h->created) {
			rfs_ino_pending(fs, in, 0);
			rfs_ino_unkey(fs, in);
			rfs_inval_entry(fs, in->key);
		}
	}
	pthread_mutex_unlock(&fs->mu);
	/* A failed sync fails the store: every later change is refused
	 * with EROFS, so nothing is built on this version meanwhile. */
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
	/* The kernel forgot the record's size and times after each direct
	 * write, and every open without keep_cache drops its pages, so a
	 * commit needs no invalidation of its own -- unless attributes went
	 * out since the last write (another process's stat would keep the
	 * old size), or the commit failed and the old content stands. */
	if (rc < 0 ||
	    __atomic_load_n(&in->attr_gen, __ATOMIC_RELAXED) != h->attr_seen)
		inval_inode(fs, in->ino);
	return rc;
}

/* Drop the handle's change: nothing of it is ever visible. */
static void handle_drop(struct rfs *fs, struct rfs_handle *h,
			const char *why)
{
	struct rfs_inode *in = h->in;

	if (!h->txn)
		return;
	store_txn_abort(h->txn);
	h->txn = NULL;
	pthread_mutex_lock(&fs->mu);
	lease_end(fs, in, h);
	if (in->pending && h->created) {
		rfs_ino_pending(fs, in, 0);
		rfs_ino_unkey(fs, in);
		rfs_inval_entry(fs, in->key);
	}
	fprintf(stderr, "recfs: dropped the uncommitted change of '%s' by pid "
		"%d (%s): %s\n", in->key, (int)h->opener.tgid, h->opener.comm,
		why);
	pthread_mutex_unlock(&fs->mu);
}

/* A mknod'ed record nobody took over is committed empty (it exists).
 * Caller holds fs->mu. */
static int commit_orphan_create(struct rfs *fs, struct rfs_inode *in)
{
	uint64_t newv;
	struct basis_hit none;
	int rc;

	if (!in->pending || in->lease)
		return 0;
	rc = store_put(fs->st, in->key,
		       rfs_unchecked(fs, in->key) ? STORE_ANY : STORE_ABSENT,
		       "", 0, &in->pmeta, &newv);
	if (rc < 0)
		return rc;
	rfs_ino_pending(fs, in, 0);
	apply_pxattrs(fs, in);
	memset(&none, 0, sizeof(none));
	rfs_changed(fs, &in->pcreator, &none, in->key, newv);
	return 0;
}

/* ---- Lifecycle ------------------------------------------------------- */

static void rfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* O_TRUNC must reach open: it is a checked change of the record. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->want &= ~FUSE_CAP_POSIX_ACL;
}

static void rfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rfs *fs = FS(req);
	struct fuse_entry_param e;
	struct rfs_inode *p, *in;
	char *key = NULL;
	int rc;

	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&fs->mu);
	p = rfs_ino(fs, parent);
	if (!p) {
		rc = -ENOENT;
		goto out;
	}
	rc = may(req, fs, p, PERM_X);
	if (rc < 0)
		goto out;
	if (p->hist || hist_reserved(p, name) < 0) {
		rc = hist_lookup(fs, p, name, &in);
		if (rc == 0)
			rc = hist_attr(fs, in, &e.attr);
		goto found;
	}
	key = join(p, name, &rc);
	if (!key)
		goto out;
	in = rfs_ino_by_key(fs, key);
	if (in && in->pending && !in->lease) {
		/* A mknod whose creator is gone without opening it. */
		struct proc_info cp;
		if (proc_get(in->pcreator.tid, &cp) < 0 ||
		    cp.start != in->pcreator.start)
			commit_orphan_create(fs, in);
	}
	if (!in || !in->pending) {
		struct store_stat sb;
		rc = store_stat(fs->st, key, &sb);
		if (rc == -ENOENT) {
			/* Seeing that a deleted record is gone is reading it:
			 * a refused writer can look, then create it anew. */
			uint64_t last = 0;
			store_last_version(fs->st, key, &last);
			if (last) {
				struct proc_info who;
				caller(req, &who);
				if (who.tid > 0)
					basis_seen(fs->bt, &who, key, last);
			}
		}
		if (rc < 0)
			goto out;
		if (!in)
			in = rfs_ino_make(fs, key);
		if (!in) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = inode_attr(fs, in, &e.attr);
found:
	if (rc == 0) {
		in->nlookup++;
		attr_given(in);
		e.ino = in->ino;
		e.attr_timeout = TIMEOUT;
		e.entry_timeout = entry_ttl(fs, p, NULL);
	}
out:
	pthread_mutex_unlock(&fs->mu);
	free(key);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void forget_one(struct rfs *fs, fuse_ino_t ino, uint64_t n)
{
	struct rfs_inode *in = rfs_ino(fs, ino);

	if (!in)
		return;
	in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
	rfs_ino_put(fs, in);
}

static void rfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct rfs *fs = FS(req);

	pthread_mutex_lock(&fs->mu);
	forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->mu);
	fuse_reply_none(req);
}

static void rfs_forget_multi(fuse_req_t req, size_t count,
			     struct fuse_forget_data *f)
{
	struct rfs *fs = FS(req);

	pthread_mutex_lock(&fs->mu);
	for (size_t i = 0; i < count; i++)
		forget_one(fs, f[i].ino, f[i].nlookup);
	pthread_mutex_unlock(&fs->mu);
	fuse_reply_none(req);
}

static void rfs_getattr(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = fi ? HANDLE(fi) : NULL;
	struct rfs_inode *in;
	struct stat a;
	int rc;

	double timeout = TIMEOUT;

	if (h)
		pthread_mutex_lock(&h->mu);
	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	rc = in ? handle_attr(fs, in, h, &a) : -ENOENT;
	/* fstat(2) and lseek(SEEK_END) come without a handle: the process
	 * writing the record sees its own change's size (so appending at
	 * the end of its own writes works), and nobody caches that view. */
	if (rc >= 0 && !h && in->lease && in->lease->txn) {
		const struct fuse_ctx *c = fuse_req_ctx(req);
		struct proc_info p;
		if (c->pid > 0 && proc_get(c->pid, &p) == 0 &&
		    p.tgid == in->lease->opener.tgid) {
			a.st_size = (off_t)__atomic_load_n(&in->lease->view_size,
							   __ATOMIC_RELAXED);
			a.st_blocks = (blkcnt_t)((a.st_size + 511) / 512);
		}
		timeout = 0;
	}
	if (h && h->txn)
		timeout = 0;
	if (rc >= 0 && timeout > 0)
		attr_given(in);
	pthread_mutex_unlock(&fs->mu);
	if (h)
		pthread_mutex_unlock(&h->mu);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &a, timeout);
}

/* Keep view_size in step with the change.  Caller holds h->mu. */
static void note_size(struct rfs_handle *h)
{
	if (h->txn)
		__atomic_store_n(&h->view_size, store_txn_size(h->txn),
				 __ATOMIC_RELAXED);
}

/* truncate(2) by path: checked and committed at once. */
static int truncate_path(struct rfs *fs, struct rfs_inode *in,
			 const struct proc_info *p, uint64_t size)
{
	struct basis_hit hit;
	uint64_t expect, newv, ticket = 0;
	int rc;

	pthread_mutex_lock(&fs->mu);
	if (in->pending || (in->lease && in->lease->opener.tgid != p->tgid))
		rc = -EBUSY;
	else
		rc = rfs_check(fs, p, in->key, NULL, &expect, &hit);
	if (rc == -EAGAIN)
		basis_grace(fs->bt, p, in->key);
	if (rc == 0) {
		store_defer_begin(fs->st);
		rc = store_truncate(fs->st, in->key, expect, size, &newv);
		ticket = store_defer_end(fs->st);
	}
	if (rc == 0)
		rfs_changed(fs, p, &hit, in->key, newv);
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
	if (rc == 0)
		inval_inode(fs, in->ino);
	return rc;
}

static int set_meta(struct rfs *fs, struct rfs_inode *in,
		    const struct stat *attr, int to_set)
{
	struct store_meta m;
	struct store_stat sb;
	unsigned mask = 0;
	int64_t now = now_ns();
	uint64_t ticket = 0;
	int rc = 0;

	memset(&m, 0, sizeof(m));
	pthread_mutex_lock(&fs->mu);
	if (in->pending) {
		sb.meta = in->pmeta;
	} else {
		rc = store_stat(fs->st, in->key, &sb);
		if (rc < 0)
			goto out;
	}
	/* Who may: the kernel checked (default_permissions), or
	 * may_setattr() did. */
	if (to_set & FUSE_SET_ATTR_MODE) {
		m.mode = attr->st_mode;
		mask |= STORE_META_MODE;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		m.uid = attr->st_uid;
		mask |= STORE_META_UID;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		m.gid = attr->st_gid;
		mask |= STORE_META_GID;
	}
	if (to_set & FUSE_SET_ATTR_ATIME) {
		m.atime_ns = (to_set & FUSE_SET_ATTR_ATIME_NOW)
				     ? now
				     : (int64_t)attr->st_atim.tv_sec *
						       1000000000 +
					       attr->st_atim.tv_nsec;
		mask |= STORE_META_ATIME;
	}
	if (to_set & FUSE_SET_ATTR_MTIME) {
		m.mtime_ns = (to_set & FUSE_SET_ATTR_MTIME_NOW)
				     ? now
				     : (int64_t)attr->st_mtim.tv_sec *
						       1000000000 +
					       attr->st_mtim.tv_nsec;
		mask |= STORE_META_MTIME;
	}
	if (!mask)
		goto out;
	if (in->pending) {
		struct store_meta *pm = &in->pmeta;
		if (mask & STORE_META_MODE)
			pm->mode = (pm->mode & S_IFMT) | (m.mode & 07777);
		if (mask & STORE_META_UID)
			pm->uid = m.uid;
		if (mask & STORE_META_GID)
			pm->gid = m.gid;
		if (mask & STORE_META_ATIME)
			pm->atime_ns = m.atime_ns;
		if (mask & STORE_META_MTIME)
			pm->mtime_ns = m.mtime_ns;
		pm->ctime_ns = now;
	} else {
		store_defer_begin(fs->st);
		rc = store_setmeta(fs->st, in->key, &m, mask);
		ticket = store_defer_end(fs->st);
	}
	/* The kernel walks cached entries without asking us: make the ones
	 * below a directory whose mode changed ask again (perm.h). */
	if (rc == 0 && !fs->kperm && (mask & STORE_META_MODE) &&
	    S_ISDIR(sb.meta.mode))
		rfs_inval_children(fs, in->key);
out:
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
	return rc;
}

/* setattr as the kernel's setattr_prepare() and utimes would allow it;
 * may clear S_ISGID from @attr's mode as the kernel does.  Caller holds
 * fs->mu.  @return 0, -EPERM or -EACCES. */
static int may_setattr(fuse_req_t req, struct rfs *fs, struct rfs_inode *in,
		       struct stat *attr, int to_set, int has_fh)
{
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME;
	struct perm_who w;
	struct stat a;
	gid_t g;

	if (!checks(req, fs, in, &a, &w))
		return 0;
	/* truncate(2) by path needs write permission; ftruncate(2) was
	 * allowed by the open. */
	if ((to_set & FUSE_SET_ATTR_SIZE) && !has_fh &&
	    perm_may(&w, a.st_mode, a.st_uid, a.st_gid, PERM_W) < 0)
		return -EACCES;
	if ((to_set & FUSE_SET_ATTR_UID) &&
	    !(w.uid == a.st_uid && attr->st_uid == a.st_uid) &&
	    !perm_capable(&w, PERM_CAP_CHOWN))
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_GID) &&
	    !(w.uid == a.st_uid && (attr->st_gid == a.st_gid ||
				    perm_in_group(&w, attr->st_gid))) &&
	    !perm_capable(&w, PERM_CAP_CHOWN))
		return -EPERM;
	if (to_set & FUSE_SET_ATTR_MODE) {
		if (perm_owner(&w, a.st_uid) < 0)
			return -EPERM;
		g = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : a.st_gid;
		if (!perm_in_group(&w, g) &&
		    !perm_capable(&w, PERM_CAP_FSETID))
			attr->st_mode &= ~(mode_t)S_ISGID;
	}
	if (to_set & times) {
		/* Explicit times: the owner.  "Now": the owner or a writer. */
		if (perm_owner(&w, a.st_uid) == 0)
			return 0;
		if (((to_set & FUSE_SET_ATTR_ATIME) &&
		     !(to_set & FUSE_SET_ATTR_ATIME_NOW)) ||
		    ((to_set & FUSE_SET_ATTR_MTIME) &&
		     !(to_set & FUSE_SET_ATTR_MTIME_NOW)))
			return -EPERM;
		return perm_may(&w, a.st_mode, a.st_uid, a.st_gid, PERM_W);
	}
	return 0;
}

static void rfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			int to_set, struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = fi ? HANDLE(fi) : NULL;
	struct rfs_inode *in;
	struct proc_info p;
	struct stat a;
	double timeout = TIMEOUT;
	int rc = 0;

	caller(req, &p);
	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	if (in && !in->hist)
		rc = may_setattr(req, fs, in, attr, to_set, fi != NULL);
	pthread_mutex_unlock(&fs->mu);
	if (!in || in->hist || rc < 0) {
		fuse_reply_err(req, rc < 0 ? -rc : in ? EROFS : ENOENT);
		return;
	}
	if (h)
		pthread_mutex_lock(&h->mu);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (h) {
			if (!h->txn && attr->st_size == 0)
				h->trunc = 1; /* no need to copy what goes */
			rc = handle_begin(fs, h, &p, 0);
			if (rc == 0)
				rc = store_txn_truncate(h->txn,
							(uint64_t)attr->st_size);
			note_size(h);
		} else {
			rc = truncate_path(fs, in, &p, (uint64_t)attr->st_size);
		}
	}
	if (rc == 0)
		rc = set_meta(fs, in, attr, to_set);
	if (rc == 0) {
		pthread_mutex_lock(&fs->mu);
		rc = handle_attr(fs, in, h, &a);
		/* A change's own view is the changer's alone: not cached. */
		if (h && h->txn)
			timeout = 0;
		else
			attr_given(in);
		pthread_mutex_unlock(&fs->mu);
	}
	if (h)
		pthread_mutex_unlock(&h->mu);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &a, timeout);
}

static void rfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct rfs *fs = FS(req);
	struct rfs_inode *in;
	char *buf = NULL, *key = NULL;
	size_t len;
	int rc = -ENOENT;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	if (in)
		key = strdup(in->key);
	pthread_mutex_unlock(&fs->mu);
	if (key)
		rc = store_get(fs->st, key, &buf, &len, NULL);
	free(key);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, buf);
	free(buf);
}

/* Reply with the entry of a key just made by a committed change. */
static void reply_new_entry(fuse_req_t req, struct rfs *fs, const char *key)
{
	struct fuse_entry_param e;
	struct rfs_inode *in;
	int rc;

	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&fs->mu);
	in = rfs_ino_make(fs, key);
	rc = in ? inode_attr(fs, in, &e.attr) : -ENOMEM;
	if (rc == 0) {
		in->nlookup++;
		e.ino = in->ino;
		e.attr_timeout = TIMEOUT;
		e.entry_timeout = entry_ttl(fs, NULL, key);
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void new_meta(fuse_req_t req, mode_t mode, struct store_meta *m)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	m->mode = mode & ~(mode_t)(S_ISDIR(mode) || S_ISREG(mode) ? c->umask
								  : 0);
	m->uid = c->uid;
	m->gid = c->gid;
	m->atime_ns = m->mtime_ns = m->ctime_ns = now_ns();
}

static void rfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode)
{
	struct rfs *fs = FS(req);
	struct store_meta m;
	struct rfs_inode *p;
	char *key = NULL;
	int rc = -ENOENT;

	pthread_mutex_lock(&fs->mu);
	p = rfs_ino(fs, parent);
	if (p)
		key = join(p, name, &rc);
	if (key) {
		rc = may(req, fs, p, PERM_W | PERM_X);
		if (rc < 0) {
			free(key);
			key = NULL;
		}
	}
	pthread_mutex_unlock(&fs->mu);
	if (key) {
		new_meta(req, S_IFDIR | (mode & 07777), &m);
		rc = store_mkdir(fs->st, key, &m);
	}
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_new_entry(req, fs, key);
	free(key);
}

static void rfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			const char *name)
{
	struct rfs *fs = FS(req);
	struct store_meta m;
	struct basis_hit hit;
	struct proc_info pi;
	struct rfs_inode *p;
	uint64_t expect, newv, ticket = 0;
	char *key = NULL;
	int rc = -ENOENT;

	caller(req, &pi);
	new_meta(req, S_IFLNK | 0777, &m);
	pthread_mutex_lock(&fs->mu);
	p = rfs_ino(fs, parent);
	if (p)
		key = join(p, name, &rc);
	if (key) {
		struct store_stat sb;
		struct rfs_inode *in = rfs_ino_by_key(fs, key);
		/* symlink(2) never replaces (emacs's lock depends on it) */
		if ((in && in->pending) || store_stat(fs->st, key, &sb) == 0)
			rc = -EEXIST;
		else
			rc = may(req, fs, p, PERM_W | PERM_X);
		if (rc == 0)
			rc = rfs_check(fs, &pi, key, NULL, &expect, &hit);
	}
	if (rc == 0) {
		store_defer_begin(fs->st);
		rc = store_put(fs->st, key, STORE_ABSENT, link, strlen(link),
			       &m, &newv);
		ticket = store_defer_end(fs->st);
	}
	if (rc == 0)
		rfs_changed(fs, &pi, &hit, key, newv);
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_new_entry(req, fs, key);
	free(key);
}

/* May the caller make a new record at @name?  The name must be free (no
 * record, no pending create: one racing with another creator gets EEXIST
 * and the kernel looks it up again), and a deleted key comes back only
 * for a caller whose basis is the deletion (a stale editor must not
 * resurrect it).  *key is the new key, the caller's to free, also on
 * error.  Caller holds fs->mu. */
static int new_name_check(fuse_req_t req, struct rfs *fs, fuse_ino_t parent,
			  const char *name, const struct proc_info *pi,
			  char **key, uint64_t *expect, struct basis_hit *hit)
{
	struct rfs_inode *p = rfs_ino(fs, parent), *in;
	struct store_stat sb;
	int rc = -ENOENT;

	*key = p ? join(p, name, &rc) : NULL;
	if (!*key)
		return rc;
	in = rfs_ino_by_key(fs, *key);
	if ((in && in->pending) || store_stat(fs->st, *key, &sb) == 0)
		return -EEXIST;
	rc = may(req, fs, p, PERM_W | PERM_X);
	if (rc < 0)
		return rc;
	return rfs_check(fs, pi, *key, NULL, expect, hit);
}

/* A regular file made by mknod is a pending create with no handle yet:
 * the creator's first writable open takes it over, so `tar --xattrs -x`
 * (mknod, setxattr, open, write, close) makes version 1.  Anyone else's
 * open commits it empty first.  Devices, FIFOs and sockets: EPERM. */
static void rfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev)
{
	struct rfs *fs = FS(req);
	struct fuse_entry_param e;
	struct rfs_inode *in = NULL;
	struct basis_hit hit;
	struct proc_info pi;
	uint64_t expect;
	char *key = NULL;
	int rc;

	(void)rdev;
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	caller(req, &pi);
	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&fs->mu);
	rc = new_name_check(req, fs, parent, name, &pi, &key, &expect, &hit);
	if (rc == 0) {
		in = rfs_ino_make(fs, key);
		if (!in)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		rfs_ino_pending(fs, in, 1);
		new_meta(req, S_IFREG | (mode & 07777), &in->pmeta);
		in->pcreator = pi;
		in->nlookup++;
		fill_attr(in->ino, &in->pmeta, 0, &e.attr);
		e.ino = in->ino;
		e.attr_timeout = TIMEOUT;
		e.entry_timeout = entry_ttl(fs, rfs_ino(fs, parent), key);
	}
	pthread_mutex_unlock(&fs->mu);
	free(key);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}


static void rfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		     const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EPERM); /* one key, one record: no hard links */
}

static void rfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rfs *fs = FS(req);
	struct basis_hit hit;
	struct proc_info pi;
	struct rfs_inode *p, *in;
	uint64_t expect, newv, ticket = 0;
	char *key = NULL;
	int rc = -ENOENT;

	caller(req, &pi);
	pthread_mutex_lock(&fs->mu);
	p = rfs_ino(fs, parent);
	if (p)
		key = join(p, name, &rc);
	if (!key)
		goto out;
	rc = may_delete(req, fs, p, key);
	if (rc < 0)
		goto out;
	in = rfs_ino_by_key(fs, key);
	if (in && in->lease && in->lease->opener.tgid != pi.tgid) {
		rc = -EBUSY;
		goto out;
	}
	if (in && in->pending) {
		/* The creator unlinking its own new file (mkstemp-unlink):
		 * the change will be dropped, nothing was ever committed. */
		rfs_ino_unkey(fs, in);
		rc = 0;
		goto out;
	}
	rc = rfs_check(fs, &pi, key, NULL, &expect, &hit);
	if (rc == -EAGAIN)
		basis_grace(fs->bt, &pi, key);
	if (rc == 0) {
		store_defer_begin(fs->st);
		rc = store_delete(fs->st, key, expect, &newv);
		ticket = store_defer_end(fs->st);
	}
	if (rc == 0) {
		rfs_changed(fs, &pi, &hit, key, newv);
		if (in)
			rfs_ino_unkey(fs, in); /* its lease's change drops */
	}
out:
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket); /* without fs->mu */
	free(key);
	fuse_reply_err(req, -rc);
}

static void rfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rfs *fs = FS(req);
	struct rfs_inode *p, *in;
	uint64_t ticket = 0;
	char *key = NULL;
	int rc = -ENOENT;

	pthread_mutex_lock(&fs->mu);
	p = rfs_ino(fs, parent);
	if (p)
		key = join(p, name, &rc);
	if (key)
		rc = may_delete(req, fs, p, key);
	if (key && rc == 0) {
		/* Creates not yet committed inside count as entries. */
		size_t kl = strlen(key);
		for (in = fs->pend; in && rc != -ENOTEMPTY; in = in->pend_next)
			if (!in->deleted && strncmp(in->key, key, kl) == 0 &&
			    in->key[kl] == '/')
				rc = -ENOTEMPTY;
		if (rc != -ENOTEMPTY) {
			store_defer_begin(fs->st);
			rc = store_rmdir(fs->st, key);
			ticket = store_defer_end(fs->st);
		}
		in = rc == 0 ? rfs_ino_by_key(fs, key) : NULL;
		if (in)
			rfs_ino_unkey(fs, in);
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
	free(key);
	fuse_reply_err(req, -rc);
}

/* The lease holder's own process renames its record: its pending change
 * commits first (write, rename, close).  Called without fs->mu. */
static int commit_own_lease(struct rfs *fs, const char *key,
			    const struct proc_info *p)
{
	struct rfs_handle *h = NULL;
	struct rfs_inode *in;
	int rc = 0;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino_by_key(fs, key);
	if (in && in->lease) {
		if (in->lease->opener.tgid != p->tgid)
			rc = -EBUSY;
		else
			h = in->lease;
	}
	pthread_mutex_unlock(&fs->mu);
	if (h) {
		pthread_mutex_lock(&h->mu);
		rc = handle_commit(fs, h, 0);
		pthread_mutex_unlock(&h->mu);
	}
	return rc;
}

static void rfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname,
		       unsigned int flags)
{
	struct rfs *fs = FS(req);
	struct basis_hit hf, ht;
	struct proc_info pi;
	struct store_stat sb;
	struct rfs_inode *p, *np, *fin, *tin;
	uint64_t ef = STORE_ANY, et = STORE_ANY, newv = 0, ticket = 0;
	char *from = NULL, *to = NULL;
	int rc = -ENOENT;

	if (flags & RENAME_EXCHANGE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	caller(req, &pi);
	pthread_mutex_lock(&fs->mu);
	p = rfs_ino(fs, parent);
	np = rfs_ino(fs, newparent);
	if (p && np) {
		from = join(p, name, &rc);
		if (from)
			to = join(np, newname, &rc);
	}
	if (to)
		rc = may_rename(req, fs, p, from, np, to);
	pthread_mutex_unlock(&fs->mu);
	if (!to || rc < 0)
		goto reply;
	rc = commit_own_lease(fs, from, &pi);
	if (rc == 0)
		rc = commit_own_lease(fs, to, &pi);
	if (rc < 0)
		goto reply;

	memset(&hf, 0, sizeof(hf));
	memset(&ht, 0, sizeof(ht));
	pthread_mutex_lock(&fs->mu);
	fin = rfs_ino_by_key(fs, from);
	tin = rfs_ino_by_key(fs, to);
	if ((fin && fin->pending) || (tin && tin->pending)) {
		rc = -EBUSY;
		goto out;
	}
	rc = store_stat(fs->st, from, &sb);
	if (rc < 0)
		goto out;
	if (!S_ISDIR(sb.meta.mode)) {
		/* Moving a record away and onto another are both changes. */
		rc = rfs_check(fs, &pi, from, NULL, &ef, &hf);
		if (rc == -EAGAIN)
			basis_grace(fs->bt, &pi, from);
		if (rc == 0) {
			rc = rfs_check(fs, &pi, to, NULL, &et, &ht);
			if (rc == -EAGAIN)
				basis_grace(fs->bt, &pi, to);
		}
		if (rc == 0 && (flags & RENAME_NOREPLACE)) {
			struct store_stat tsb;
			if (store_stat(fs->st, to, &tsb) == 0)
				rc = -EEXIST; /* et is ANY when unchecked */
		}
		if (rc == 0 && (flags & RENAME_NOREPLACE))
			et = STORE_ABSENT;
	} else if (flags & RENAME_NOREPLACE) {
		struct store_stat tsb;
		if (store_stat(fs->st, to, &tsb) == 0)
			rc = -EEXIST;
	}
	if (rc == 0) {
		store_defer_begin(fs->st);
		rc = store_rename(fs->st, from, ef, to, et, &newv);
		ticket = store_defer_end(fs->st);
	}
	if (rc < 0)
		goto out;
	if (tin)
		rfs_ino_unkey(fs, tin);
	if (S_ISDIR(sb.meta.mode)) {
		rfs_ino_rekey_tree(fs, from, to);
	} else {
		uint64_t tomb = 0;
		store_last_version(fs->st, from, &tomb);
		rfs_changed(fs, &pi, &hf, from, tomb);
		if (fin)
			rfs_ino_rekey(fs, fin, to);
		rfs_changed(fs, &pi, &ht, to, newv);
	}
out:
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
reply:
	free(from);
	free(to);
	fuse_reply_err(req, -rc);
}

/* ---- Files ----------------------------------------------------------- */

static void rfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h;
	struct rfs_inode *in;
	struct store_stat sb;
	struct proc_info p;
	int acc = fi->flags & O_ACCMODE, rc = 0;

	caller(req, &p);
	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	rc = may(req, fs, in, open_mask(fi->flags));
	h = in && rc == 0 ? handle_new(fs, in, fi->flags, &p) : NULL;
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
	if (!in->hist && in->pending && !in->lease) {
		if (acc != O_RDONLY && h->opener_known &&
		    p.tgid == in->pcreator.tgid &&
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
				in->lease_since_ns = now_ns();
				h->created = 1;
				h->trunc = 1;
				h->changer = p;
			}
		} else if (p.tgid != in->pcreator.tgid) {
			rc = commit_orphan_create(fs, in);
		}
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0 || acc < 0) {
		/* the common failure path below */
	} else if (acc == O_RDONLY) {
		if (!in->pending) {
			rc = store_snap_open(fs->st, in->key, 0, &h->snap);
			if (rc == 0) {
				store_snap_stat(h->snap, &sb);
				basis_seen(fs->bt, &p, in->key, sb.version);
			}
		}
	} else if (fi->flags & O_TRUNC) {
		h->trunc = 1;
		/* Emptying a non-empty record is its first change. */
		if (!in->pending && store_stat(fs->st, in->key, &sb) == 0 &&
		    sb.size > 0) {
			/* The kernel holds no inode lock over OPEN (it
			 * does over WRITE, SETATTR and FALLOCATE, which
			 * the holder's own writes need): wait here only. */
			pthread_mutex_lock(&h->mu);
			rc = handle_begin(fs, h, &p, 1);
			pthread_mutex_unlock(&h->mu);
		}
	}
	if (rc < 0) {
		pthread_mutex_lock(&fs->mu);
		in->nopen--;
		handle_free(fs, h);
		pthread_mutex_unlock(&fs->mu);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* The opener is gone (interrupted): nothing was changed
		 * that a release would not clean up. */
	}
}

static void rfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct fuse_entry_param e;
	struct rfs_handle *h = NULL;
	struct rfs_inode *in = NULL;
	struct basis_hit hit;
	struct proc_info pi;
	uint64_t expect = STORE_ABSENT;
	char *key = NULL;
	int rc;

	caller(req, &pi);
	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&fs->mu);
	/* O_CREAT without O_EXCL would open a record that raced in, but a
	 * pending create is someone's change: EEXIST either way. */
	rc = new_name_check(req, fs, parent, name, &pi, &key, &expect, &hit);
	if (rc < 0)
		goto out;
	in = rfs_ino_make(fs, key);
	h = in ? handle_new(fs, in, fi->flags, &pi) : NULL;
	if (!h) {
		rc = -ENOMEM;
		goto out;
	}
	rc = store_txn_begin(fs->st, key, 1, &h->txn);
	if (rc == 0) {
		rc = store_txn_lease(h->txn, expect);
		if (rc < 0) {
			store_txn_abort(h->txn);
			h->txn = NULL;
		}
		if (rc == -EAGAIN)
			rc = -EEXIST; /* another mount created it meanwhile */
	}
	if (rc < 0)
		goto out;
	rfs_ino_pending(fs, in, 1);
	new_meta(req, S_IFREG | (mode & 07777), &in->pmeta);
	in->lease = h;
	in->lease_since_ns = now_ns();
	in->nlookup++;
	in->nopen++;
	h->created = 1;
	h->trunc = 1;
	h->expect = expect;
	h->hit = hit;
	h->changer = pi;
	fill_attr(in->ino, &in->pmeta, 0, &e.attr);
	e.ino = in->ino;
	e.attr_timeout = TIMEOUT;
	e.entry_timeout = entry_ttl(fs, rfs_ino(fs, parent), key);
out:
	if (rc < 0 && h) {
		handle_free(fs, h);
		h = NULL;
	}
	if (rc < 0 && in)
		rfs_ino_put(fs, in);
	pthread_mutex_unlock(&fs->mu);
	free(key);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->direct_io = 1;
	fi->fh = (uintptr_t)h;
	fuse_reply_create(req, &e, fi);
}

static void rfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
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
	pthread_mutex_lock(&h->mu);
	if (h->txn) {
		n = store_txn_read(h->txn, buf, size, (uint64_t)off);
	} else {
		if (!h->snap && !h->in->pending && !h->in->deleted) {
			n = store_snap_open(fs->st, h->in->key, 0, &h->snap);
			if (n == -ENOENT)
				n = 0;
		}
		/* An O_RDWR handle's first read is a basis too. */
		if (h->snap && !h->seen &&
		    (h->flags & O_ACCMODE) != O_RDONLY) {
			struct store_stat sb;
			struct proc_info p;
			caller(req, &p);
			store_snap_stat(h->snap, &sb);
			basis_seen(fs->bt, &p, h->in->key, sb.version);
			h->seen = 1;
		}
		if (n == 0 && h->snap)
			n = store_snap_read(h->snap, buf, size, (uint64_t)off);
	}
	pthread_mutex_unlock(&h->mu);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* O_APPEND without O_TRUNC: added at the true end of the current version
 * and committed at once; never stale, waits briefly for a lease. */
static int append_write(struct rfs *fs, struct rfs_handle *h,
			const struct proc_info *p, const char *buf,
			size_t size)
{
	struct timespec dl = { 0, 0 };
	struct basis_hit none;
	uint64_t newv;
	int rc = 0;

	memset(&none, 0, sizeof(none));
	pthread_mutex_lock(&fs->mu);
	if (h->in->lease && h->in->lease != h)
		rc = lease_wait(fs, h->in, h, p, APPEND_WAIT_MS, &dl);
	if (rc == 0)
		rc = store_append(fs->st, h->in->key, buf, size, &newv);
	if (rc == 0)
		rfs_changed(fs, p, &none, h->in->key, newv);
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0)
		inval_inode(fs, h->in->ino);
	return rc;
}

static void rfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		      size_t size, off_t off, struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = HANDLE(fi);
	struct proc_info p;
	ssize_t n;
	int rc, append;

	(void)ino;
	pthread_mutex_lock(&h->mu);
	/* Each request's own flags: fcntl may have cleared O_APPEND. */
	append = (fi->flags & O_APPEND) && !(h->flags & O_TRUNC) &&
		 !(h->created && h->txn);
	/* Who writes matters to an append and to a change's first write
	 * (its check); the rest of a change is its handle's. */
	if (append || !h->txn)
		caller(req, &p);
	if (append) {
		rc = append_write(fs, h, &p, buf, size);
		pthread_mutex_unlock(&h->mu);
		if (rc < 0)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_write(req, size);
		return;
	}
	if ((fi->flags & O_APPEND) && h->txn)
		off = (off_t)store_txn_size(h->txn);
	rc = handle_begin(fs, h, &p, 0);
	n = rc < 0 ? rc : store_txn_write(h->txn, buf, size, (uint64_t)off);
	/* A change that could not be written whole must never commit: a
	 * shell ignores the close, and the old content must stay. */
	if (rc == 0 && (n < 0 || (size_t)n < size))
		h->failed = n < 0 ? (int)n : -ENOSPC;
	if (rc == 0) {
		note_size(h);
		attr_mark_write(h);
	}
	pthread_mutex_unlock(&h->mu);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void rfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = HANDLE(fi);
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct proc_info p;
	unsigned flags;
	int rc = 0, n, nfds = 0;

	pthread_mutex_lock(&h->mu);
	if (!h->txn || c->pid <= 0 || proc_get(c->pid, &p) < 0)
		goto out; /* nothing to commit, or release will */
	if (p.tgid != h->opener.tgid || !h->opener_known)
		goto out; /* a child or a duplicate closing its copy */
	n = fs->mnt_id > 0
		    ? proc_writable_fds(p.tgid, p.tid == p.tgid ? p.start : 0,
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
		handle_drop(fs, h, "its process was killed by a signal");
		goto out;
	}
	rc = handle_commit(fs, h, 0);
out:
	pthread_mutex_unlock(&h->mu);
	fuse_reply_err(req, -rc);
}

static void rfs_release(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = HANDLE(fi);
	struct rfs_inode *in = h->in;

	(void)ino;
	pthread_mutex_lock(&h->mu);
	if (h->txn)
		handle_commit(fs, h, 0); /* its opener is gone: commit */
	pthread_mutex_unlock(&h->mu);
	pthread_mutex_lock(&fs->mu);
	lease_end(fs, in, h);
	in->nopen--;
	handle_free(fs, h);
	rfs_ino_put(fs, in);
	pthread_mutex_unlock(&fs->mu);
	fuse_reply_err(req, 0);
}

static void rfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		      struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = HANDLE(fi);
	int rc;

	(void)ino;
	(void)datasync;
	pthread_mutex_lock(&h->mu);
	rc = h->txn ? handle_commit(fs, h, 1) : store_sync(fs->st);
	pthread_mutex_unlock(&h->mu);
	fuse_reply_err(req, -rc);
}

static void rfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			  off_t off, off_t len, struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = HANDLE(fi);
	struct proc_info p;
	int rc;

	(void)ino;
	if (mode & ~FALLOC_FL_KEEP_SIZE) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	caller(req, &p);
	pthread_mutex_lock(&h->mu);
	rc = handle_begin(fs, h, &p, 0);
	if (rc == 0 && !(mode & FALLOC_FL_KEEP_SIZE) &&
	    (uint64_t)(off + len) > store_txn_size(h->txn))
		rc = store_txn_truncate(h->txn, (uint64_t)(off + len));
	pthread_mutex_unlock(&h->mu);
	fuse_reply_err(req, -rc);
}

/* ---- Directories ----------------------------------------------------- */

/* access(2) and chdir(2); sent only without default_permissions. */
static void rfs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct rfs *fs = FS(req);
	struct rfs_inode *in;
	int rc;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	rc = !in ? -ENOENT : mask == F_OK ? 0 : may(req, fs, in, mask);
	pthread_mutex_unlock(&fs->mu);
	fuse_reply_err(req, -rc);
}

static void rfs_opendir(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct store_dirent *ents = NULL;
	struct rfs_inode *in;
	struct dirh *d = calloc(1, sizeof(*d));
	size_t n = 0, extra = 0, klen;
	char *key = NULL;
	int rc = -ENOENT;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	if (in && (rc = may(req, fs, in, open_mask(fi->flags))) < 0) {
		pthread_mutex_unlock(&fs->mu);
		goto done;
	}
	rc = -ENOENT;
	if (in && in->hist) {
		rc = hist_list(fs, in, &d->names, &d->modes, &d->n);
		pthread_mutex_unlock(&fs->mu);
		goto done;
	}
	if (in)
		key = strdup(in->key);
	if (key)
		rc = store_list(fs->st, key, &ents, &n);
	/* Creates not yet committed are entries too. */
	klen = key ? strlen(key) : 0;
	for (struct rfs_inode *x = fs->pend; rc == 0 && x; x = x->pend_next)
		if (!x->deleted)
			extra++;
	if (rc == 0) {
		d->names = calloc(n + extra + 2, sizeof(*d->names));
		d->modes = calloc(n + extra + 2, sizeof(*d->modes));
		if (!d->names || !d->modes)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		d->names[0] = strdup(".");
		d->names[1] = strdup("..");
		d->modes[0] = d->modes[1] = S_IFDIR;
		d->n = 2;
		for (size_t i = 0; i < n; i++) {
			d->names[d->n] = strdup(ents[i].name);
			d->modes[d->n++] = ents[i].mode;
		}
		for (struct rfs_inode *x = fs->pend; x; x = x->pend_next) {
			const char *s = strrchr(x->key, '/');
			size_t pl = s ? (size_t)(s - x->key) : 0;
			if (x->deleted || pl != klen ||
			    strncmp(x->key, key, klen) != 0)
				continue;
			d->names[d->n] = strdup(s ? s + 1 : x->key);
			d->modes[d->n++] = x->pmeta.mode;
		}
	}
	pthread_mutex_unlock(&fs->mu);
	store_list_free(ents, n);
	free(key);
done:
	if (rc < 0) {
		for (size_t i = 0; d->names && i < d->n; i++)
			free(d->names[i]);
		free(d->names);
		free(d->modes);
		free(d);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)d;
	fuse_reply_open(req, fi);
}

static void rfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t pos = 0;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < d->n; i++) {
		struct stat st = { .st_ino = (ino_t)-1, .st_mode = d->modes[i] };
		size_t need;
		if (!d->names[i])
			continue;
		need = fuse_add_direntry(req, buf + pos, size - pos,
					 d->names[i], &st, (off_t)(i + 1));
		if (need > size - pos)
			break;
		pos += need;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void rfs_releasedir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;

	(void)ino;
	for (size_t i = 0; i < d->n; i++)
		free(d->names[i]);
	free(d->names);
	free(d->modes);
	free(d);
	fuse_reply_err(req, 0);
}

/* A directory's entries are in the log, with everything else: syncing
 * it makes every committed create, rename and unlink durable (what a
 * program that renames into place, then fsyncs the directory, relies
 * on).  Left unimplemented, the kernel would answer every later
 * directory fsync with success and nothing synced. */
static void rfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -store_sync(FS(req)->st));
}

static void rfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct rfs *fs = FS(req);
	struct statvfs sv;

	(void)ino;
	if (store_statvfs(fs->st, &sv) < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	sv.f_namemax = STORE_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* ---- Extended attributes --------------------------------------------- */

static int is_ours(const char *name)
{
	return strcmp(name, "user.version") == 0 ||
	       strcmp(name, "user.hash") == 0 ||
	       strcmp(name, "user.expected_version") == 0 ||
	       strcmp(name, "user.conflict") == 0;
}

/* A copy of the inode's key, to use after fs->mu is let go.  Caller
 * holds fs->mu.  @return 0; -ENOENT no inode; -ENOMEM. */
static int key_copy(const struct rfs_inode *in, char **key, int *pending)
{
	if (!in)
		return -ENOENT;
	*key = strdup(in->key);
	*pending = in->pending;
	return *key ? 0 : -ENOMEM;
}

static void reply_value(fuse_req_t req, const void *val, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

static void rfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 size_t size)
{
	struct rfs *fs = FS(req);
	struct rfs_inode *in;
	struct store_stat sb;
	char val[256], *key = NULL, *big = NULL;
	int pending = 0, rc = 0;
	ssize_t n = 0;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	if (in && strncmp(name, "user.", 5) != 0) {
		/* Only user.* is ever stored.  The kernel asks for
		 * security.capability before every O_TRUNC open: answer
		 * from here, before any copy or store call. */
		pthread_mutex_unlock(&fs->mu);
		fuse_reply_err(req, strncmp(name, "system.posix_acl_", 17) == 0
					    ? EOPNOTSUPP
					    : ENODATA);
		return;
	}
	if (in && (rc = may(req, fs, in, PERM_R)) < 0) {
		pthread_mutex_unlock(&fs->mu);
		fuse_reply_err(req, -rc);
		return;
	}
	if (in && in->hist) {
		rc = hist_getxattr(fs, in, name, val, sizeof(val));
		pthread_mutex_unlock(&fs->mu);
		if (rc < 0)
			fuse_reply_err(req, -rc);
		else
			reply_value(req, val, (size_t)rc, size);
		return;
	}
	if (in && strcmp(name, "user.recfs.lease") == 0) {
		/* Who holds the write lease, for recctl stat. */
		rc = -ENODATA;
		if (in->lease) {
			const struct proc_info *w = in->lease->txn
							    ? &in->lease->changer
							    : &in->lease->opener;
			char at[32];
			time_t t = (time_t)(in->lease_since_ns / 1000000000);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
			rc = snprintf(val, sizeof(val), "pid=%d comm=%s since=%s",
				      (int)(w->tgid ? w->tgid : w->tid),
				      w->comm[0] ? w->comm : "?", at);
		}
		pthread_mutex_unlock(&fs->mu);
		if (rc < 0)
			fuse_reply_err(req, -rc);
		else
			reply_value(req, val, (size_t)rc, size);
		return;
	}
	rc = key_copy(in, &key, &pending);
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (strcmp(name, "user.version") == 0 ||
	    strcmp(name, "user.hash") == 0) {
		rc = pending ? -ENODATA : store_stat(fs->st, key, &sb);
		if (rc == 0 && S_ISDIR(sb.meta.mode))
			rc = -ENODATA;
		if (rc == 0 && name[5] == 'v')
			n = snprintf(val, sizeof(val), "%" PRIu64, sb.version);
		else if (rc == 0) {
			store_hash_hex(sb.hash, val);
			n = 32;
		}
	} else if (strcmp(name, "user.expected_version") == 0) {
		struct proc_info p;
		struct basis_hit hit;
		caller(req, &p);
		memset(&hit, 0, sizeof(hit));
		if (p.tid > 0)
			basis_lookup(fs->bt, &p, key, &hit);
		if (!hit.found || hit.stale || hit.expired)
			rc = -ENODATA;
		else
			n = snprintf(val, sizeof(val), "%" PRIu64, hit.version);
	} else if (strcmp(name, "user.conflict") == 0) {
		struct proc_info p;
		caller(req, &p);
		rc = basis_conflict(fs->bt, &p, key, val, sizeof(val));
		n = rc;
		if (rc > 0)
			rc = 0;
	} else if (pending) {
		rc = -ENODATA;
		pthread_mutex_lock(&fs->mu);
		for (struct rfs_pxattr *x = in->pxa; x; x = x->next)
			if (strcmp(x->name, name) == 0 && x->size < sizeof(val)) {
				memcpy(val, x->value, x->size);
				n = (ssize_t)x->size;
				rc = 0;
			}
		pthread_mutex_unlock(&fs->mu);
	} else {
		n = store_getxattr(fs->st, key, name, NULL, 0);
		if (n >= 0) {
			big = malloc((size_t)n + 1);
			n = big ? store_getxattr(fs->st, key, name, big,
						 (size_t)n + 1)
				: -ENOMEM;
		}
		rc = n < 0 ? (int)n : 0;
	}
	free(key);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_value(req, big ? big : val, (size_t)n, size);
	free(big);
}

static void rfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	struct rfs *fs = FS(req);
	struct rfs_inode *in;
	char *key = NULL;
	int rc = 0;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	if (in && in->hist) {
		pthread_mutex_unlock(&fs->mu);
		fuse_reply_err(req, EROFS);
		return;
	}
	if (in && strncmp(name, "user.", 5) == 0 &&
	    (rc = may(req, fs, in, PERM_W)) < 0) {
		pthread_mutex_unlock(&fs->mu);
		fuse_reply_err(req, -rc);
		return;
	}
	if (in && in->ino == FUSE_ROOT_ID &&
	    strcmp(name, "user.recfs.compact") == 0) {
		/* recctl compact MOUNTPOINT: the daemon owns the store. */
		pthread_mutex_unlock(&fs->mu);
		rc = fs->o.ro ? -EROFS : store_compact(fs->st);
		fuse_reply_err(req, -rc);
		return;
	}
	if (in)
		key = strdup(in->key);
	if (!key) {
		pthread_mutex_unlock(&fs->mu);
		fuse_reply_err(req, in ? ENOMEM : ENOENT);
		return;
	}
	if (strcmp(name, "user.expected_version") == 0) {
		struct store_stat sb;
		struct proc_info p;
		uint64_t v;
		caller(req, &p);
		rc = rfs_parse_version(value, size, &v);
		if (rc == 0 && !in->pending &&
		    store_stat(fs->st, key, &sb) == 0 && S_ISDIR(sb.meta.mode))
			rc = -EISDIR;
		if (rc == 0 && p.tid <= 0)
			rc = -EPERM; /* a task we cannot see holds nothing */
		if (rc == 0)
			rc = basis_declare(fs->bt, &p, key, v);
	} else if (is_ours(name)) {
		rc = 0; /* computed, not stored: cp -a and rsync -X go on */
	} else if (strncmp(name, "user.", 5) != 0) {
		rc = -EOPNOTSUPP;
	} else if (in->pending) {
		struct rfs_pxattr *x = calloc(1, sizeof(*x));
		if (!x || !(x->name = strdup(name)) ||
		    !(x->value = malloc(size ? size : 1))) {
			if (x)
				free(x->name);
			free(x);
			rc = -ENOMEM;
		} else {
			memcpy(x->value, value, size);
			x->size = size;
			x->next = in->pxa;
			in->pxa = x;
		}
	} else {
		rc = store_setxattr(fs->st, key, name, value, size, flags);
	}
	pthread_mutex_unlock(&fs->mu);
	free(key);
	fuse_reply_err(req, -rc);
}

static void rfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct rfs *fs = FS(req);
	static const char ours[] = "user.version\0user.hash";
	struct rfs_inode *in;
	struct store_stat sb;
	char *key = NULL, *buf = NULL;
	size_t base = 0;
	ssize_t n = 0;
	int rc;
	int pending = 0;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	if (in && in->hist) {
		pthread_mutex_unlock(&fs->mu);
		if (in->hist == HIST_VER)
			reply_value(req, ours, sizeof(ours), size);
		else
			reply_value(req, "", 0, size);
		return;
	}
	rc = key_copy(in, &key, &pending);
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!pending && store_stat(fs->st, key, &sb) == 0 &&
	    !S_ISDIR(sb.meta.mode)) {
		base = sizeof(ours);
		n = store_listxattr(fs->st, key, NULL, 0);
	}
	if (n >= 0) {
		buf = malloc(base + (size_t)n + 1);
		if (!buf)
			n = -ENOMEM;
	}
	if (n > 0)
		n = store_listxattr(fs->st, key, buf + base, (size_t)n);
	free(key);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
	} else {
		memcpy(buf, ours, base);
		reply_value(req, buf, base + (size_t)n, size);
	}
	free(buf);
}

static void rfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct rfs *fs = FS(req);
	struct rfs_inode *in;
	char *key = NULL;
	int rc = 0;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	if (in && !in->hist && strncmp(name, "user.", 5) == 0)
		rc = may(req, fs, in, PERM_W);
	if (in && !in->hist && rc == 0)
		key = strdup(in->key);
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0 && !key)
		rc = in ? (in->hist ? -EROFS : -ENOMEM) : -ENOENT;
	if (rc == 0 && strncmp(name, "user.", 5) != 0)
		rc = -EOPNOTSUPP;
	else if (rc == 0 && !is_ours(name)) /* rsync -X removes ours too */
		rc = store_removexattr(fs->st, key, name);
	free(key);
	fuse_reply_err(req, -rc);
}

/* ---- Shutdown -------------------------------------------------------- */

void rfs_shutdown(struct rfs *fs)
{
	/* A clean unmount released every handle first.  Anything left
	 * (SIGTERM with files open): an opener still alive has not finished
	 * its save, so its change is dropped; one that is gone would have
	 * committed at release. */
	pthread_mutex_lock(&fs->mu);
	for (size_t b = 0; b < fs->cap; b++)
		for (struct rfs_inode *in = fs->by_ino[b]; in; in = in->next_ino)
			if (in->pending && !in->lease && !in->deleted)
				commit_orphan_create(fs, in);
	pthread_mutex_unlock(&fs->mu);
	for (;;) {
		struct rfs_handle *h;
		struct proc_info p;

		pthread_mutex_lock(&fs->mu);
		for (h = fs->handles; h && !h->txn; h = h->next)
			;
		pthread_mutex_unlock(&fs->mu);
		if (!h)
			break;
		pthread_mutex_lock(&h->mu);
		if (h->opener_known && proc_get(h->opener.tid, &p) == 0 &&
		    p.start == h->opener.start)
			handle_drop(fs, h, "unmounted while its opener was "
					   "still writing");
		else
			handle_commit(fs, h, 0);
		pthread_mutex_unlock(&h->mu);
	}
	/* The kernel will send no release for these any more. */
	pthread_mutex_lock(&fs->mu);
	while (fs->handles) {
		struct rfs_handle *h = fs->handles;
		h->in->nopen--;
		lease_end(fs, h->in, h);
		handle_free(fs, h);
	}
	pthread_mutex_unlock(&fs->mu);
}

const struct fuse_lowlevel_ops rfs_ops = {
	.init = rfs_init,
	.lookup = rfs_lookup,
	.forget = rfs_forget,
	.forget_multi = rfs_forget_multi,
	.getattr = rfs_getattr,
	.setattr = rfs_setattr,
	.readlink = rfs_readlink,
	.mknod = rfs_mknod,
	.mkdir = rfs_mkdir,
	.unlink = rfs_unlink,
	.rmdir = rfs_rmdir,
	.symlink = rfs_symlink,
	.rename = rfs_rename,
	.link = rfs_link,
	.open = rfs_open,
	.read = rfs_read,
	.write = rfs_write,
	.flush = rfs_flush,
	.release = rfs_release,
	.fsync = rfs_fsync,
	.access = rfs_access,
	.opendir = rfs_opendir,
	.readdir = rfs_readdir,
	.releasedir = rfs_releasedir,
	.fsyncdir = rfs_fsyncdir,
	.statfs = rfs_statfs,
	.setxattr = rfs_setxattr,
	.getxattr = rfs_getxattr,
	.listxattr = rfs_listxattr,
	.removexattr = rfs_removexattr,
	.create = rfs_create,
	.fallocate = rfs_fallocate,
};

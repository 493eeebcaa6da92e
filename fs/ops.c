/* ops.c - the FUSE low-level operations on lookups and attributes, the
 * helpers all operations share, and the table.  Making, removing and
 * moving names is in names.c, setattr in setattr.c, directories in
 * dir.c, open files in file.c and handle.c, extended attributes in
 * xattr.c.  One operation
 * per function; every path ends in exactly one fuse_reply_*; errors are
 * negative errno inside and positive at the reply.
 *
 * Lock order: a handle's mu, then fs->mu.  Store calls are thread-safe;
 * fs->mu guards the inode table, leases and the basis decisions. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "history.h"
#include "ops.h"
#include "perm.h"
#include "rfs.h"

/* The calling task.  A task we cannot see (another pid namespace) holds
 * no basis: tid stays 0, and p->unknown says why when it is not that. */
void rfs_caller(fuse_req_t req, struct proc_info *p)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	int rc = c->pid <= 0 ? -ESRCH : proc_get_caller(c->pid, p);

	if (rc < 0) {
		memset(p, 0, sizeof(*p));
		snprintf(p->comm, sizeof(p->comm), "?");
		p->unknown = rc;
	}
	p->uid = c->uid; /* the kernel's word is the one that counts */
}

/* An open or write refused with ENFILE: the daemon's own descriptors
 * ran out, which the caller's "Too many open files in system" does not
 * say (it points at the system's table).  Logged at most every 10 s, so
 * that a burst of refusals does not flood the log. */
void rfs_log_enfile(const char *what, const char *key)
{
	static int64_t next_ns;
	int64_t now = proc_mono_ns(), due;
	struct rlimit rl;

	due = __atomic_load_n(&next_ns, __ATOMIC_RELAXED);
	if (now < due || !__atomic_compare_exchange_n(&next_ns, &due,
						      now + 10000000000LL, 0,
						      __ATOMIC_RELAXED,
						      __ATOMIC_RELAXED))
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		rl.rlim_cur = RLIM_INFINITY;
	fprintf(stderr, "recfs: out of descriptors (limit %llu): %s%s%s%s "
		"failed with ENFILE; they come back as readers and writers "
		"of large records close, or raise the daemon's ulimit -Hn\n",
		(unsigned long long)rl.rlim_cur, what, key ? " of '" : "",
		key ? key : "", key ? "'" : "");
}

/* @parent's key and @name as one key, written to @buf (RFS_KEY_BUF
 * bytes): no allocation, for the requests that only look it up.
 * @return buf, or NULL with *rc set. */
char *rfs_join_buf(const struct rfs_inode *parent, const char *name,
		   char *buf, int *rc)
{
	size_t pl = strlen(parent->key), nl = strlen(name);

	*rc = hist_reserved(parent, name); /* every caller makes a change */
	if (*rc < 0)
		return NULL;
	if (nl > STORE_NAME_MAX || pl + 1 + nl > STORE_KEY_MAX) {
		*rc = -ENAMETOOLONG;
		return NULL;
	}
	if (pl) {
		memcpy(buf, parent->key, pl);
		buf[pl] = '/';
		memcpy(buf + pl + 1, name, nl + 1);
	} else {
		memcpy(buf, name, nl + 1);
	}
	return buf;
}

void rfs_ts_of(int64_t ns, struct timespec *ts)
{
	/* Rounded down: a time before 1970 (tar, rsync and cp -p restore
	 * such times) has a negative second and a fraction in [0, 1e9);
	 * C's division rounds toward zero, and until 2026-12-07 gave -1.5 s
	 * as -1 s and -0.5 s, which stat showed as 23:59:59.999999999. */
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;

	if (frac < 0) {
		sec--;
		frac += 1000000000;
	}
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)frac;
}

void rfs_fill_attr(fuse_ino_t ino, const struct store_meta *m,
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
	rfs_ts_of(m->atime_ns, &a->st_atim);
	rfs_ts_of(m->mtime_ns, &a->st_mtim);
	rfs_ts_of(m->ctime_ns, &a->st_ctim);
}

/* Attributes of an inode as others see them: the committed version, or
 * an empty file while a create is pending.  Caller holds fs->mu. */
int rfs_inode_attr(struct rfs *fs, struct rfs_inode *in, struct stat *a)
{
	struct store_stat sb;
	int rc;

	if (in->hist)
		return hist_attr(fs, in, a);
	if (in->pending) {
		rfs_fill_attr(in->ino, &in->pmeta, 0, a);
		/* its creator unlinked it (mkstemp, then unlink) */
		if (in->deleted)
			a->st_nlink = 0;
		return 0;
	}
	/* Its key may name another record by now: only what it had. */
	if (in->deleted) {
		if (!in->pmeta.mode)
			return -ENOENT;
		rfs_fill_attr(in->ino, &in->pmeta, in->gone_size, a);
		a->st_nlink = 0;
		return 0;
	}
	rc = store_stat(fs->st, in->key, &sb);
	if (rc == 0)
		rfs_fill_attr(in->ino, &sb.meta, sb.size, a);
	/* "." and each subdirectory's "..", as a local filesystem counts
	 * a directory's links (tools count subdirectories by them) */
	if (rc == 0 && S_ISDIR(sb.meta.mode))
		a->st_nlink = 2 + sb.subdirs;
	return rc;
}

int rfs_view_attr(struct rfs *fs, struct rfs_inode *in, struct rfs_handle *h,
		  struct stat *a)
{
	int rc = rfs_inode_attr(fs, in, a);

	if (h && h->txn) {
		if (rc < 0)
			rfs_fill_attr(in->ino, &in->pmeta, 0, a);
		a->st_size = (off_t)store_txn_size(h->txn);
		if (in->deleted)
			a->st_nlink = 0;
		rc = 0;
	}
	return rc;
}

/* ---- Owners and modes without default_permissions (perm.h) ----------
 * When fs->kperm is 0 the kernel checks nothing but exec bits, so every
 * request that needs a permission checks it here, with the errno the
 * kernel would give.  When it is 1 the kernel has checked already. */

void rfs_who(fuse_req_t req, struct perm_who *w)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	perm_who_init(w, c->uid, c->gid, c->pid);
}

/* Does the daemon check @in for this request?  Not when the kernel does,
 * nor for an inode without attributes (the operation then fails on its
 * own).  If so, *a and *w are filled.  Caller holds fs->mu. */
int rfs_checks(fuse_req_t req, struct rfs *fs, struct rfs_inode *in,
	       struct stat *a, struct perm_who *w)
{
	if (fs->kperm || !in || rfs_inode_attr(fs, in, a) < 0)
		return 0;
	rfs_who(req, w);
	return 1;
}

/* May the caller access @in for @mask (PERM_*)?  Caller holds fs->mu. */
int rfs_may(fuse_req_t req, struct rfs *fs, struct rfs_inode *in,
	    int mask)
{
	struct perm_who w;
	struct stat a;

	if (!rfs_checks(req, fs, in, &a, &w))
		return 0;
	return perm_may(&w, a.st_mode, a.st_uid, a.st_gid, mask);
}

/* May the caller remove @key from directory @p (unlink, rmdir, either
 * side of a rename)?  Write and search on @p (EACCES), then the sticky
 * rule (EPERM).  Caller holds fs->mu. */
int rfs_may_delete(fuse_req_t req, struct rfs *fs, struct rfs_inode *p,
		   const char *key)
{
	struct rfs_inode *in = rfs_ino_by_key(fs, key);
	struct store_stat sb;
	struct perm_who w;
	struct stat a;
	int rc;

	if (!rfs_checks(req, fs, p, &a, &w))
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
 * anew at every walk, where rfs_may() checks the walker.  Caller holds
 * fs->mu. */
double rfs_entry_ttl(struct rfs *fs, struct rfs_inode *dir,
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
		rc = rfs_inode_attr(fs, dir, &a);
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
int rfs_may_rename(fuse_req_t req, struct rfs *fs, struct rfs_inode *p,
		   const char *from, struct rfs_inode *np, const char *to)
{
	struct store_stat sb;
	struct perm_who w;
	int rc;

	if (fs->kperm)
		return 0;
	rc = rfs_may_delete(req, fs, p, from);
	if (rc == 0)
		rc = rfs_may_delete(req, fs, np, to);
	if (rc == 0 && p != np && store_stat(fs->st, from, &sb) == 0 &&
	    S_ISDIR(sb.meta.mode)) {
		rfs_who(req, &w);
		rc = perm_may(&w, sb.meta.mode, sb.meta.uid, sb.meta.gid,
			      PERM_W);
	}
	return rc;
}

/* The kernel's __FMODE_EXEC: an open made by execve(2) carries it. */
#define FMODE_EXEC_FLAG 040

/* What open(2) with @flags asks of the file (O_TRUNC writes). */
int rfs_open_mask(int flags)
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

void rfs_attr_given(struct rfs_inode *in)
{
	__atomic_add_fetch(&in->attr_gen, 1, __ATOMIC_RELAXED);
}

/* The change's latest write: the kernel drops its cached size and times
 * when the write returns. */
void rfs_attr_mark_write(struct rfs_handle *h)
{
	int given = RFS_MTIME_GIVEN;

	h->attr_seen = __atomic_load_n(&h->in->attr_gen, __ATOMIC_RELAXED);
	/* Times given before this write are overtaken by it. */
	__atomic_compare_exchange_n(&h->mtime_state, &given,
				    RFS_MTIME_WRITTEN, 0, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

void rfs_inval_inode(struct rfs *fs, fuse_ino_t ino)
{
	if (fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

/* Attributes only: a directory's cached listing stays. */
void rfs_inval_attr(struct rfs *fs, fuse_ino_t ino)
{
	if (fs->se && ino)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

/* The inode of @key's directory, or 0 if the kernel has none.  Caller
 * holds fs->mu. */
fuse_ino_t rfs_dir_ino(struct rfs *fs, const char *key)
{
	char buf[RFS_KEY_BUF];
	const char *slash = strrchr(key, '/');
	struct rfs_inode *d;

	if (!slash)
		return FUSE_ROOT_ID;
	if ((size_t)(slash - key) >= sizeof(buf))
		return 0;
	memcpy(buf, key, (size_t)(slash - key));
	buf[slash - key] = 0;
	d = rfs_ino_by_key(fs, buf);
	return d ? d->ino : 0;
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
	char buf[RFS_KEY_BUF], *key;
	int rc;

	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&fs->mu);
	p = rfs_ino(fs, parent);
	if (!p) {
		rc = -ENOENT;
		goto out;
	}
	rc = rfs_may(req, fs, p, PERM_X);
	if (rc < 0)
		goto out;
	rc = hist_reserved(p, name);
	if (rc == -EINVAL) { /* a name no record may have */
		rc = -ENOENT;
		goto out;
	}
	if (p->hist || rc < 0) {
		struct perm_who w;

		rfs_who(req, &w);
		rc = hist_lookup(fs, p, name, &w, &in);
		if (rc == 0)
			rc = hist_attr(fs, in, &e.attr);
		goto found;
	}
	key = rfs_join_buf(p, name, buf, &rc);
	if (!key)
		goto out;
again:
	/* Only a pending create is found here and not in the store: with
	 * none pending (fs->pend, rfs.h), a name the store lacks is gone
	 * without a walk of the inode table (a miss per walk here; most
	 * lookups before a create are of new names). */
	in = fs->pend ? rfs_ino_by_key(fs, key) : NULL;
	basis_prefetch(fs->bt, key); /* for the create that may follow */
	if (in && in->pending && !in->lease) {
		/* A mknod whose creator is gone without opening it. */
		struct proc_info cp;
		if (proc_get(in->pcreator.tid, &cp) < 0 ||
		    cp.start != in->pcreator.start)
			rfs_commit_orphan_create(fs, in);
	}
	if (!in || !in->pending) {
		struct store_stat sb;
		rc = store_stat(fs->st, key, &sb);
		if (rc == -ENOENT) {
			/* Seeing that a deleted record is gone is reading it
			 * (for the looker's parent; for the looker itself as
			 * basis_looked says): a refused writer can look, then
			 * create it anew.  A
			 * line compaction forgot (tombstone_limit) reads as
			 * 0, "absent", which is what the check compares a
			 * basis with then (check.c): without it, a process
			 * holding a basis or a mark for the name could never
			 * make it again (EAGAIN for good).  Asked only when
			 * someone holds one, so that a new name's lookup,
			 * before most creates, stays a miss. */
			uint64_t last = 0;
			store_last_version(fs->st, key, &last);
			if (last || basis_held(fs->bt, key)) {
				struct proc_info who;
				rfs_caller(req, &who);
				rfs_looked(fs, &who, key, last);
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
		if (in->moving) {
			/* An unlink or a rename of the name is at the store
			 * (names.c, moving_begin): what it leaves is the
			 * answer. */
			pthread_cond_wait(&fs->moved_cv, &fs->mu);
			goto again;
		}
	}
	rc = rfs_inode_attr(fs, in, &e.attr);
found:
	if (rc == 0) {
		in->nlookup++;
		e.ino = in->ino;
		/* With a change open its writer sees its own size
		 * (rfs_getattr): the committed one must not be cached for
		 * it (rename(a, a) looked a up, and the writer's fstat
		 * then said 0).  Nor a history node's (rfs_getattr). */
		e.attr_timeout = in->lease || in->hist ? 0 : TIMEOUT;
		if (e.attr_timeout > 0)
			rfs_attr_given(in);
		/* What a history name stands for changes with the store
		 * (a record's name made a directory, a directory removed):
		 * the kernel keeps no answer, or it would show the old one
		 * for a day. */
		e.entry_timeout = in->hist ? 0 : rfs_entry_ttl(fs, p, NULL);
	}
out:
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void forget_one(struct rfs *fs, fuse_ino_t ino, uint64_t n)
{
	struct rfs_inode *in = rfs_ino_any(fs, ino);

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
	rc = in ? rfs_view_attr(fs, in, h, &a) : -ENOENT;
	/* fstat(2) and lseek(SEEK_END) come without a handle: the process
	 * writing the record sees its own change's size (so appending at
	 * the end of its own writes works), and nobody caches that view. */
	if (rc >= 0 && !h && in->lease) {
		const struct fuse_ctx *c = fuse_req_ctx(req);
		struct proc_info p;
		if (c->pid > 0 && proc_get_caller(c->pid, &p) == 0 &&
		    proc_same_process(&p, &in->lease->opener)) {
			a.st_size = (off_t)__atomic_load_n(&in->lease->view_size,
							   __ATOMIC_RELAXED);
			a.st_blocks = (blkcnt_t)((a.st_size + 511) / 512);
		}
		timeout = 0;
	}
	/* A gone record's attributes change with its handles' private
	 * changes (the first holds the lease, above): never cached. */
	if (in && in->deleted)
		timeout = 0;
	if (h && h->txn)
		timeout = 0;
	/* A history node shows its record's or directory's owner and
	 * read bits (history.c), which a chmod or chown of that record
	 * changes without a word to this inode: cached (for a day), the
	 * kernel let another user go on reading old versions after a
	 * chmod 600 (default_permissions checks the cached mode). */
	if (in && in->hist)
		timeout = 0;
	if (rc >= 0 && timeout > 0)
		rfs_attr_given(in);
	pthread_mutex_unlock(&fs->mu);
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
	char *buf = NULL, key[RFS_KEY_BUF];
	struct store_stat sb;
	struct proc_info p;
	size_t len;
	int rc, pending;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	/* A symlink renamed over (`ln -s new tmp; mv -T tmp current`, an
	 * atomic switch) that a path walk had found just before: ESTALE
	 * sends the walk back to the name, which holds the new one.  Until
	 * 2026-12-07 ENOENT: one walk through `current` in four failed
	 * while it was switched. */
	rc = in && in->deleted ? -ESTALE
			       : rfs_ino_key_copy(in, key, &pending);
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0)
		rc = store_get(fs->st, key, &buf, &len, &sb);
	/* A symlink is a record, and this is how its content is read: the
	 * version read is a basis, as an open for reading gives for a file.
	 * Linux keeps user.* attributes off symlinks, so no declaration can
	 * give one either: until 2026-12-06 a symlink another session made
	 * could never be changed or removed outside an unchecked tree. */
	if (rc == 0) {
		rfs_caller(req, &p);
		rfs_seen_link(fs, &p, key, sb.version);
	}
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, buf);
	free(buf);
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
				rfs_commit_orphan_create(fs, in);
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
			rfs_handle_drop(fs, h, "unmounted while its opener was "
					"still writing");
		else
			rfs_handle_commit(fs, h, RFS_COMMIT_LAST);
		pthread_mutex_unlock(&h->mu);
	}
	/* The kernel will send no release for these any more. */
	pthread_mutex_lock(&fs->mu);
	while (fs->handles) {
		rfs_handle_close(fs, fs->handles);
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

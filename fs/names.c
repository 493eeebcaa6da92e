/* names.c - the FUSE operations that make, remove and move names:
 * mkdir, symlink, mknod, link, unlink, rmdir and rename.  Each is a
 * change of the store checked against its basis (check.c), as a
 * handle's change is (handle.c).  Conventions and lock order as in
 * ops.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "history.h"
#include "ops.h"
#include "perm.h"
#include "rfs.h"

/* The same, allocated: the caller's to free. */
static char *join(const struct rfs_inode *parent, const char *name, int *rc)
{
	char buf[RFS_KEY_BUF], *k;

	if (!rfs_join_buf(parent, name, buf, rc))
		return NULL;
	k = strdup(buf);
	if (!k)
		*rc = -ENOMEM;
	return k;
}

/* Before a change takes @in's record away (unlink, rename over, rmdir),
 * keep its attributes, and a record's bytes, for handles still open on
 * it: afterwards its key names nothing, or another record, and the store
 * may forget the version.  A record nobody holds open keeps its version
 * and attributes, for a read-only open still to come: the kernel may
 * send one for this inode after the change, from a path walk that found
 * the name just before, and it reads that version while the store keeps
 * it (file.c, rfs_open).  A directory (@dir) may be someone's working
 * directory.  Without memory for the bytes, a handle reads them by
 * version while the store keeps it (file.c).  Caller holds fs->mu. */
/* What @in's record was when it went (@was), for its handles: its
 * attributes, its version, and its bytes @snap if any (taken over; NULL:
 * handles read by version while the store keeps it).  One left by a
 * change that then failed is out of date; none is read before the inode
 * is deleted (file.c).  Caller holds fs->mu. */
static void set_gone(struct rfs_inode *in, const struct store_stat *was,
		     struct store_snap *snap)
{
	in->pmeta = was->meta;
	in->gone_size = was->size;
	in->gone_version = was->version;
	store_snap_close(in->gone_snap);
	in->gone_snap = snap;
}

static void keep_gone_attr(struct rfs *fs, struct rfs_inode *in, int dir)
{
	struct store_snap *snap = NULL;
	struct store_stat sb;

	if (!in || in->pending || in->deleted || in->hist)
		return;
	if (store_stat(fs->st, in->key, &sb) == 0) {
		if (!dir && in->nopen)
			(void)store_snap_open(fs->st, in->key, sb.version,
					      &snap);
		set_gone(in, &sb, snap);
	}
}

/* store_opts.on_gone: another mount deleted @key's record, renamed it
 * away, or renamed another record over it.  A local unlink keeps what
 * the record held for the handles still open on it (keep_gone_attr);
 * this daemon learns of another mount's only now, so it keeps it now,
 * from the store's memory of the version it was (@was), which the store
 * still shows.  The inode is then deleted, as a local unlink deletes it,
 * so that its handles read those bytes (file.c, gone_snap_of) and a
 * record that takes the name later is another inode.  Before 2026-12-06
 * a handle that had not read the record yet got ESTALE (an empty file
 * before that), or read the record that had taken the name.  Not kept
 * (its handles get ESTALE, as before): this daemon's own change is open
 * on it, or the store has moved past that version. */
void rfs_remote_gone(void *ctx, const char *key, const struct store_stat *was)
{
	struct rfs *fs = ctx;
	struct store_snap *snap = NULL;
	struct store_stat sb;
	struct rfs_inode *in;
	fuse_ino_t ino = 0;
	int rc;

	pthread_mutex_lock(&fs->mu);
	/* An unlink or a rename of it by this mount is at the store
	 * (moving_begin): this is its own change, seen before its answer,
	 * or one that refuses it.  What that leaves decides, as when it
	 * held fs->mu throughout (unkeyed twice, a renamed inode was
	 * linked under its new key while deleted: a crash). */
	while ((in = rfs_ino_by_key(fs, key)) && in->moving)
		pthread_cond_wait(&fs->moved_cv, &fs->mu);
	if (in && in->nopen && !in->pending && !in->lease && !in->hist &&
	    S_ISREG(was->meta.mode))
		ino = in->ino;
	pthread_mutex_unlock(&fs->mu);
	/* Not under the lock: from etcd's history if the store has moved
	 * on meanwhile, a round trip. */
	if (!ino || store_snap_open(fs->st, key, was->version, &snap) < 0)
		return;
	pthread_mutex_lock(&fs->mu);
	while ((in = rfs_ino_by_key(fs, key)) && in->moving)
		pthread_cond_wait(&fs->moved_cv, &fs->mu);
	rc = store_stat(fs->st, key, &sb);
	if (in && in->ino == ino && !in->pending && !in->lease &&
	    (rc == -ENOENT || (rc == 0 && sb.version == was->version))) {
		set_gone(in, was, snap);
		snap = NULL;
		rfs_ino_unkey(fs, in);
	}
	pthread_mutex_unlock(&fs->mu);
	if (!snap)
		rfs_inval_gone(fs, key, ino); /* its nlink is 0 now */
	store_snap_close(snap);
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
	rc = in ? rfs_inode_attr(fs, in, &e.attr) : -ENOMEM;
	if (rc == 0) {
		in->nlookup++;
		e.ino = in->ino;
		e.attr_timeout = TIMEOUT;
		e.entry_timeout = rfs_entry_ttl(fs, NULL, key);
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

void rfs_new_meta(fuse_req_t req, struct rfs *fs, struct rfs_inode *parent,
		  mode_t mode, struct store_meta *m)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct stat pa;

	m->mode = mode & ~(mode_t)(S_ISDIR(mode) || S_ISREG(mode) ? c->umask
								  : 0);
	m->uid = c->uid;
	m->gid = c->gid;
	/* A set-group-ID directory gives what is made in it its group, and
	 * a directory made in it the bit too (a group's shared tree); the
	 * kernel leaves this to the file system.  (It has already taken
	 * S_ISGID off a file's mode where the maker may not have it.) */
	if (parent && rfs_inode_attr(fs, parent, &pa) == 0 &&
	    S_ISDIR(pa.st_mode) && (pa.st_mode & S_ISGID)) {
		m->gid = pa.st_gid;
		if (S_ISDIR(mode))
			m->mode |= S_ISGID;
	}
	m->atime_ns = m->mtime_ns = m->ctime_ns = rfs_now_ns();
}

void rfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
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
		rc = rfs_may(req, fs, p, PERM_W | PERM_X);
		if (rc < 0) {
			free(key);
			key = NULL;
		}
	}
	if (key)
		rfs_new_meta(req, fs, p, S_IFDIR | (mode & 07777), &m);
	pthread_mutex_unlock(&fs->mu);
	if (key)
		rc = store_mkdir(fs->st, key, &m);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_new_entry(req, fs, key);
	free(key);
}

void rfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
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

	rfs_caller(req, &pi);
	pthread_mutex_lock(&fs->mu);
	p = rfs_ino(fs, parent);
	if (p)
		key = join(p, name, &rc);
	if (key) {
		rfs_new_meta(req, fs, p, S_IFLNK | 0777, &m);
		struct store_stat sb;
		struct rfs_inode *in = rfs_ino_by_key(fs, key);
		/* symlink(2) never replaces (emacs's lock depends on it) */
		if ((in && in->pending) || store_stat(fs->st, key, &sb) == 0)
			rc = -EEXIST;
		else
			rc = rfs_may(req, fs, p, PERM_W | PERM_X);
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
		rfs_created_link(fs, &pi, &hit, key, newv);
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
 * resurrect it).  The new key is written to @key (RFS_KEY_BUF bytes).
 * Caller holds fs->mu. */
int rfs_new_name_check(fuse_req_t req, struct rfs *fs, fuse_ino_t parent,
		       const char *name, const struct proc_info *pi,
		       char *key, uint64_t *expect, struct basis_hit *hit)
{
	struct rfs_inode *p = rfs_ino(fs, parent), *in;
	struct store_stat sb;
	int rc = -ENOENT;

	if (!p || !rfs_join_buf(p, name, key, &rc))
		return rc;
	in = rfs_ino_by_key(fs, key);
	if ((in && in->pending) || store_stat(fs->st, key, &sb) == 0)
		return -EEXIST;
	rc = rfs_may(req, fs, p, PERM_W | PERM_X);
	if (rc < 0)
		return rc;
	return rfs_check_new(fs, pi, key, expect, hit);
}

/* A regular file made by mknod is a pending create with no handle yet:
 * the creator's first writable open takes it over, so `tar --xattrs -x`
 * (mknod, setxattr, open, write, close) makes version 1.  Anyone else's
 * open commits it empty first.  Devices, FIFOs and sockets: EPERM. */
void rfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev)
{
	struct rfs *fs = FS(req);
	struct fuse_entry_param e;
	struct rfs_inode *in = NULL;
	struct basis_hit hit;
	struct proc_info pi;
	uint64_t expect;
	char key[RFS_KEY_BUF];
	int rc;

	(void)rdev;
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	rfs_caller(req, &pi);
	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&fs->mu);
	rc = rfs_new_name_check(req, fs, parent, name, &pi, key, &expect,
				&hit);
	if (rc == 0) {
		/* The record is committed later, where no error reaches
		 * anyone (rfs_commit_orphan_create): a full disk must fail
		 * the mknod, as it fails a create's open.  A change begun
		 * takes its empty entry's space (given back at once); until
		 * 2026-12-07 the mknod passed and the record was gone at the
		 * remount. */
		struct store_txn *t;

		rc = store_txn_begin(fs->st, key, 1, &t);
		if (rc == 0)
			store_txn_abort(t);
	}
	if (rc == 0) {
		in = rfs_ino_make(fs, key);
		if (!in)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		rfs_ino_pending(fs, in, 1);
		rfs_new_meta(req, fs, rfs_ino(fs, parent),
			     S_IFREG | (mode & 07777), &in->pmeta);
		in->pcreator = pi;
		in->nlookup++;
		rfs_fill_attr(in->ino, &in->pmeta, 0, &e.attr);
		e.ino = in->ino;
		e.attr_timeout = TIMEOUT;
		e.entry_timeout = rfs_entry_ttl(fs, rfs_ino(fs, parent), key);
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}


void rfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		     const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EPERM); /* one key, one record: no hard links */
}

/* On etcd (fs->slow_store), an unlink or a rename of a record goes to
 * the store (a round trip) without fs->mu, so that no other request of
 * the mount waits for it (until 2026-12-07 every stat, open and listing
 * did).  A local store's change is fast and keeps fs->mu throughout: its
 * path is as it was.  Invariant: while @in->moving (the record's inode,
 * and the new name's in a rename), nothing else changes the record, its
 * key or the inode, and the inode is not freed.  And nothing reads the
 * record through the inode's key: the store may hold the change already
 * while the key is still the old one, and a reader would find the
 * record gone from its old name and not yet under its new one (a
 * rename's readers in e2e_races.sh read a record that was not whole,
 * be34225).  So every copy of a key of a moving inode waits for it
 * (rfs_moving_wait): rfs_ino, through which each request on an inode
 * comes (getattr, xattrs, open, readlink, setattr), rfs_ino_key_copy's
 * callers on a handle's inode (a read-write handle's first read, a
 * page-cache fill, a read on into appends, snap_of's check, staging),
 * a handle's first change and its commit (handle.c), a lookup (the
 * kernel looks a cached name up again without its directory's lock:
 * rfs_lookup), the watch's report of the change itself, which may come
 * before the store's answer (rfs_remote_gone), and the rename of a
 * directory above it (rfs_rename).  The kernel's locks keep out the
 * rest (writes, truncates, xattr changes, other changes of the names).
 * Readers of open read-only handles go on reading the version before.
 * @return 1 if @in is moving now: the caller lets fs->mu go, and ends
 * it with moving_end once the change is applied under fs->mu again. */
static int moving_begin(struct rfs *fs, struct rfs_inode *in)
{
	if (!in || !fs->slow_store)
		return 0;
	in->moving = 1;
	return 1;
}

/* The change is back from the store: fs->mu is held again.  Its
 * waiters run once the caller has applied it and let fs->mu go.  A
 * moving inode is not freed (rfs_ino_put): the kernel may forget the
 * one a rename replaces, or one a rename made for its new name, while
 * the change is at the store.  So it may be freed here: @in is not to
 * be used after this. */
static void moving_end(struct rfs *fs, struct rfs_inode *in)
{
	if (!in || !in->moving)
		return;
	in->moving = 0;
	pthread_cond_broadcast(&fs->moved_cv);
	rfs_ino_put(fs, in);
}

void rfs_moving_wait(struct rfs *fs, const struct rfs_inode *in)
{
	while (in && in->moving)
		pthread_cond_wait(&fs->moved_cv, &fs->mu);
}

/* An rfs_ino_tree_each callback: -EBUSY if @in is moving. */
static int moving_one(struct rfs_inode *in, void *arg)
{
	(void)arg;
	return in->moving ? -EBUSY : 0;
}

/* @h's change will never be committed (its record is gone): its store
 * lease goes, its content stays its own.  @h is pinned by the caller,
 * and unpinned here.  Called without fs->mu (h->mu comes first). */
static void unlease_pinned(struct rfs *fs, struct rfs_handle *h)
{
	pthread_mutex_lock(&h->mu);
	store_txn_unlease(h->txn); /* NULL-safe: none begun, or released */
	pthread_mutex_unlock(&h->mu);
	pthread_mutex_lock(&fs->mu);
	rfs_handle_unpin(h);
	pthread_mutex_unlock(&fs->mu);
}

void rfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *dropped = NULL;
	struct basis_hit hit;
	struct proc_info pi;
	struct rfs_inode *p, *in;
	uint64_t expect, newv, ticket = 0;
	char buf[RFS_KEY_BUF], *key = NULL;
	int rc = -ENOENT, unlocked = 0;

	rfs_caller(req, &pi);
	pthread_mutex_lock(&fs->mu);
	p = rfs_ino(fs, parent);
	if (p)
		key = rfs_join_buf(p, name, buf, &rc);
	if (!key)
		goto out;
	rc = rfs_may_delete(req, fs, p, key);
	if (rc < 0)
		goto out;
	/* (the kernel's locks keep two changes of one name apart: this
	 * only makes sure of it; moving_begin) */
	while ((in = rfs_ino_by_key(fs, key)) && in->moving)
		pthread_cond_wait(&fs->moved_cv, &fs->mu);
	if (in && in->lease && !proc_same_process(&in->lease->opener, &pi)) {
		rc = -EBUSY;
		goto out;
	}
	if (in && in->pending) {
		/* The creator unlinking its own new file (mkstemp-unlink):
		 * the change will be dropped, nothing was ever committed.
		 * Its store lease goes now, not at its close: on etcd it
		 * kept anyone from creating the name meanwhile (EBUSY). */
		rfs_ino_unkey(fs, in);
		if (in->lease) {
			dropped = in->lease;
			rfs_handle_pin(dropped);
		}
		rc = 0;
		goto out;
	}
	rc = rfs_check(fs, &pi, key, NULL, &expect, &hit);
	if (rc == -EAGAIN)
		basis_grace(fs->bt, &pi, key);
	if (rc == 0) {
		keep_gone_attr(fs, in, 0);
		/* Without the inode (not the kernel's: rare), under fs->mu
		 * throughout, as on a local store. */
		unlocked = moving_begin(fs, in);
		if (unlocked)
			pthread_mutex_unlock(&fs->mu);
		store_defer_begin(fs->st);
		rc = store_delete(fs->st, key, expect, &newv);
		ticket = store_defer_end(fs->st);
		if (unlocked) {
			rfs_test_pause(fs, key, RFS_PAUSE_MOVED);
			pthread_mutex_lock(&fs->mu);
		}
	}
	if (rc == 0) {
		rfs_removed(fs, &pi, &hit, key, newv);
		if (in)
			rfs_ino_unkey(fs, in); /* its lease's change drops */
	}
	if (unlocked)
		moving_end(fs, in);
out:
	pthread_mutex_unlock(&fs->mu);
	if (dropped)
		unlease_pinned(fs, dropped);
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket); /* without fs->mu */
	fuse_reply_err(req, -rc);
}

/* Creates not yet committed inside directory @dir count as its
 * entries: -ENOTEMPTY if it has one, else 0.  Caller holds fs->mu. */
static int pending_under(struct rfs *fs, const char *dir)
{
	size_t dl = strlen(dir);

	for (struct rfs_inode *in = fs->pend; in; in = in->pend_next)
		if (!in->deleted && strncmp(in->key, dir, dl) == 0 &&
		    in->key[dl] == '/')
			return -ENOTEMPTY;
	return 0;
}

void rfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
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
		rc = rfs_may_delete(req, fs, p, key);
	if (key && rc == 0) {
		rc = pending_under(fs, key);
		if (rc == 0) {
			keep_gone_attr(fs, rfs_ino_by_key(fs, key), 1);
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
 * commits first (write, rename, close).  Another's: EBUSY (ops.h). */
int rfs_commit_own_lease(struct rfs *fs, const char *key,
			 const struct proc_info *p)
{
	struct rfs_handle *h = NULL;
	struct rfs_inode *in;
	int rc = 0;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino_by_key(fs, key);
	if (in && in->lease) {
		if (!proc_same_process(&in->lease->opener, p)) {
			rc = -EBUSY;
		} else {
			h = in->lease;
			rfs_handle_pin(h);
		}
	}
	pthread_mutex_unlock(&fs->mu);
	return h ? rfs_handle_commit_pinned(fs, h, NULL) : rc;
}

/* The changes a process has open under a directory (rfs_ino_tree_each). */
struct own_changes {
	const struct proc_info *p;
	size_t n, cap;
	struct rfs_handle **h;
};

static int take_own(struct rfs_inode *in, void *arg)
{
	struct own_changes *o = arg;

	if (!in->lease || !proc_same_process(&in->lease->opener, o->p))
		return 0;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		struct rfs_handle **nh = realloc(o->h, cap * sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		o->h = nh;
		o->cap = cap;
	}
	rfs_handle_pin(in->lease);
	o->h[o->n++] = in->lease;
	return 0;
}

/* A process renames a directory in which it has changes open (a create
 * or rewrite not yet closed): they commit first, under their keys, as
 * rfs_commit_own_lease's for a record, so that the rename that follows finds
 * the directory idle unless another process has one open there.
 * @return how many were committed, or a negative errno (a commit's: the
 * rename fails with it).  Called without fs->mu. */
static int commit_own_under(struct rfs *fs, const char *dir,
			    const struct proc_info *p)
{
	struct own_changes o = { .p = p };
	size_t i;
	int rc;

	pthread_mutex_lock(&fs->mu);
	rc = rfs_ino_tree_each(fs, dir, take_own, &o);
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0) { /* no memory for the list: commit none */
		pthread_mutex_lock(&fs->mu);
		for (i = 0; i < o.n; i++)
			rfs_handle_unpin(o.h[i]);
		pthread_mutex_unlock(&fs->mu);
	} else {
		for (i = 0; i < o.n; i++) {
			int one = rfs_handle_commit_pinned(fs, o.h[i], NULL);
			if (one < 0 && rc == 0)
				rc = one;
		}
	}
	free(o.h);
	return rc < 0 ? rc : (int)o.n;
}

/* A record mknod made whose creator is gone without opening it exists
 * (ls shows it), but no handle will ever commit it: commit it empty now,
 * as a lookup of it does (ops.c), so that a rename of it, or of a
 * directory above it, does not find it pending (EBUSY for as long as the
 * kernel keeps its name cached, which sends no lookup).  A creator still
 * alive may yet open it (tar: mknod, setxattr, open): left pending.  An
 * rfs_ino_tree_each callback; caller holds fs->mu. */
static int settle_orphan(struct rfs_inode *in, void *arg)
{
	struct proc_info cp;

	if (!in || !in->pending || in->lease || in->deleted)
		return 0;
	if (proc_get(in->pcreator.tid, &cp) == 0 &&
	    cp.start == in->pcreator.start)
		return 0;
	(void)rfs_commit_orphan_create(arg, in); /* failed: stays EBUSY */
	return 0;
}

void rfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname,
		       unsigned int flags)
{
	struct rfs *fs = FS(req);
	struct basis_hit hf, ht;
	struct proc_info pi;
	struct store_stat sb;
	struct rfs_inode *p, *np, *fin, *tin;
	struct rfs_tree *moved = NULL;
	struct rfs_rekey rk = { 0 };
	uint64_t ef = STORE_ANY, et = STORE_ANY, newv = 0, ticket = 0;
	char *from = NULL, *to = NULL;
	int rc = -ENOENT, to_new = 0, busy_tree = 0, retried = 0;
	int own_lease = 0, relooked = 0, unlocked = 0;

	if (flags & RENAME_EXCHANGE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rfs_caller(req, &pi);
	pthread_mutex_lock(&fs->mu);
	p = rfs_ino(fs, parent);
	np = rfs_ino(fs, newparent);
	if (p && np) {
		from = join(p, name, &rc);
		if (from)
			to = join(np, newname, &rc);
	}
	if (to)
		rc = rfs_may_rename(req, fs, p, from, np, to);
	pthread_mutex_unlock(&fs->mu);
	if (!to || rc < 0)
		goto reply;
	rc = rfs_commit_own_lease(fs, from, &pi);
	if (rc == 0)
		rc = rfs_commit_own_lease(fs, to, &pi);
	if (rc < 0)
		goto reply;
	rfs_test_pause(fs, from, RFS_PAUSE_RENAME);

again:
	memset(&hf, 0, sizeof(hf));
	memset(&ht, 0, sizeof(ht));
	pthread_mutex_lock(&fs->mu);
	fin = rfs_ino_by_key(fs, from);
	tin = rfs_ino_by_key(fs, to);
	if ((fin && fin->moving) || (tin && tin->moving)) {
		/* (as in rfs_unlink) */
		pthread_cond_wait(&fs->moved_cv, &fs->mu);
		pthread_mutex_unlock(&fs->mu);
		goto again;
	}
	settle_orphan(fin, fs);
	settle_orphan(tin, fs);
	if ((fin && fin->pending) || (tin && tin->pending)) {
		rc = -EBUSY;
		goto out;
	}
	rc = store_stat(fs->st, from, &sb);
	if (rc < 0)
		goto out;
	if (!S_ISDIR(sb.meta.mode) &&
	    ((fin && fin->lease) || (tin && tin->lease))) {
		/* A write lease taken since rfs_commit_own_lease looked: the
		 * kernel holds no lock of the inode over an O_TRUNC open.
		 * Another process's is EBUSY, as there; the caller's own
		 * commits first, once more.  Invariant (rfs_handle_commit):
		 * no record moves while a change to it is open.  Before
		 * 2026-12-06 the rename went on, and that writer's commit,
		 * at its close, failed with EAGAIN: its bytes lost. */
		own_lease = (!fin || !fin->lease ||
			     proc_same_process(&fin->lease->opener, &pi)) &&
			    (!tin || !tin->lease ||
			     proc_same_process(&tin->lease->opener, &pi));
		rc = -EBUSY;
	} else if (!S_ISDIR(sb.meta.mode)) {
		/* Moving a record away and onto another are both changes. */
		rc = rfs_check(fs, &pi, from, NULL, &ef, &hf);
		if (rc == -EAGAIN)
			basis_grace(fs->bt, &pi, from);
		/* No grace for the record renamed onto: it is for vim's
		 * re-read after a refused rename(rec, rec~).  A program that
		 * reads rec again after its rename(tmp, rec) was refused
		 * and renames again at once (os.replace in a retry loop)
		 * renewed the grace at every try and was refused until
		 * killed; its read now gives it its basis, as after a
		 * refused write. */
		if (rc == 0)
			rc = rfs_check(fs, &pi, to, NULL, &et, &ht);
		/* A checked name that holds no record is free (rfs_check);
		 * an unchecked one needs no basis, made or not. */
		to_new = rc == 0 && et == STORE_ABSENT;
		if (rc == 0 && (flags & RENAME_NOREPLACE)) {
			struct store_stat tsb;
			if (store_stat(fs->st, to, &tsb) == 0)
				rc = -EEXIST; /* et is ANY when unchecked */
		}
		if (rc == 0 && (flags & RENAME_NOREPLACE))
			et = STORE_ABSENT;
		if (rc == 0)
			rc = rfs_rekey_one(&rk, fin, to);
	} else {
		/* A record below is being unlinked or renamed at the store
		 * (moving_begin): the directory moves once that is done,
		 * as it did when that held fs->mu. */
		if (rfs_ino_tree_each(fs, from, moving_one, NULL) == -EBUSY) {
			pthread_cond_wait(&fs->moved_cv, &fs->mu);
			pthread_mutex_unlock(&fs->mu);
			goto again;
		}
		if (flags & RENAME_NOREPLACE) {
			struct store_stat tsb;
			if (store_stat(fs->st, to, &tsb) == 0)
				rc = -EEXIST;
		}
		/* rename(2) over a directory needs it empty, as rmdir
		 * does: before 2026-12-06 a create open in it went on
		 * under the moved directory's name, the same key as the
		 * record moved there, and failed at its close. */
		if (rc == 0)
			rc = pending_under(fs, to);
		if (rc == 0)
			rc = rfs_ino_tree_each(fs, from, settle_orphan, fs);
		if (rc == 0)
			rc = rfs_rekey_tree(fs, &rk, from, to);
		busy_tree = rc == -EBUSY;
		/* Without memory for the list, the records move and their
		 * bases stay behind: later changes are refused, the safe
		 * side. */
		if (rc == 0)
			rfs_tree_of(fs, from, &moved);
	}
	if (rc == 0) {
		if (tin != fin)
			keep_gone_attr(fs, tin, S_ISDIR(sb.meta.mode));
		/* On etcd a record's rename goes to the store without
		 * fs->mu (moving_begin); a directory's keeps it: what may
		 * change below it meanwhile is not all kept out.  So does
		 * one without the source's inode (not the kernel's: rare).
		 * The new name gets an inode if it has none, moving too: a
		 * lookup of it meanwhile (the kernel looks a cached name up
		 * again without its directory's lock) waits for the
		 * rename, and never makes a second inode of that key. */
		unlocked = fs->slow_store && !S_ISDIR(sb.meta.mode) && fin;
		if (unlocked && !tin)
			tin = rfs_ino_make(fs, to);
		unlocked = unlocked && tin;
		if (unlocked) {
			moving_begin(fs, fin);
			moving_begin(fs, tin);
			pthread_mutex_unlock(&fs->mu);
		}
		store_defer_begin(fs->st);
		rc = store_rename(fs->st, from, ef, to, et, &newv);
		ticket = store_defer_end(fs->st);
		if (unlocked) {
			rfs_test_pause(fs, from, RFS_PAUSE_MOVED);
			pthread_mutex_lock(&fs->mu);
		}
	}
	if (rc < 0) {
		rfs_rekey_free(&rk);
		goto out;
	}
	if (tin)
		rfs_ino_unkey(fs, tin);
	rfs_rekey_apply(fs, &rk);
	if (S_ISDIR(sb.meta.mode)) {
		rfs_dir_moved(fs, &pi, moved, from, to);
	} else {
		uint64_t tomb = 0;
		store_last_version(fs->st, from, &tomb);
		struct basis_hit hd = ht;
		/* The new name's version is held, like any change's, for
		 * the ancestor whose basis the change used: the source's,
		 * when the destination needed none.  So a shell may run
		 * `echo v > f.tmp; mv f.tmp f` again (SPEC, "Implicit").
		 * Only the destination's own declaration is consumed. */
		if (!hd.found && hf.found && !rfs_unchecked(fs, to)) {
			hd = hf; /* (not for an unchecked name: none) */
			hd.explicit_ = 0;
		}
		/* A name that was free is made, as by a create: the
		 * renamer's parent holds it too (git's pack-objects renames
		 * its temporary pack to a new name that repack then moves). */
		rfs_renamed(fs, &pi, &hf, from, tomb, &hd, to, newv, to_new,
			    S_ISLNK(sb.meta.mode));
	}
out:
	if (unlocked) {
		/* (the inode made for the new name, unkeyed if the
		 * rename was made, is freed there if unused) */
		if (tin != fin)
			moving_end(fs, tin);
		moving_end(fs, fin);
		unlocked = 0;
	}
	pthread_mutex_unlock(&fs->mu);
	if (own_lease && !relooked) {
		relooked = 1;
		own_lease = 0;
		rc = rfs_commit_own_lease(fs, from, &pi);
		if (rc == 0)
			rc = rfs_commit_own_lease(fs, to, &pi);
		if (rc == 0)
			goto again;
	}
	if (busy_tree && !retried) {
		/* Changes open under the directory: the renamer's own commit
		 * first, and it tries once more (others' keep it EBUSY). */
		retried = 1;
		busy_tree = 0;
		rc = commit_own_under(fs, from, &pi);
		if (rc > 0)
			goto again;
		if (rc == 0)
			rc = -EBUSY;
	}
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
reply:
	rfs_tree_free(moved);
	free(from);
	free(to);
	fuse_reply_err(req, -rc);
}

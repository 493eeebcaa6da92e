/* setattr.c - SETATTR: chmod, chown, utimens and truncate, through a
 * handle (its open change) or by path (checked and committed at once).
 *
 * Lock order (as in ops.c): a handle's mu, then fs->mu. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

/* Keep view_size in step with the change.  Caller holds h->mu. */
void rfs_note_size(struct rfs_handle *h)
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
	struct rfs_staged sg;
	uint64_t expect, newv, ticket = 0;
	char key[RFS_KEY_BUF];
	int rc, pending, locked, tries = 0, staged = 0;

again:
	rfs_stage_big(fs, in, NULL, 0, size, 0, &sg);
	pthread_mutex_lock(&fs->mu);
	rfs_moving_wait(fs, in); /* (names.c, moving_begin) */
	/* Its key may name another record now.  The kernel walks the path
	 * again on ESTALE and truncates what the name holds: the walk found
	 * the record just before a rename over it (until 2026-12-07 ENOENT,
	 * one `truncate` in four beside a loop of `mv tmp rec`). */
	if (in->deleted)
		rc = -ESTALE;
	else if (in->pending ||
		 (in->lease && !proc_same_process(&in->lease->opener, p)))
		rc = -EBUSY;
	else if (in->lease && tries++ == 0 &&
		 rfs_ino_key_copy(in, key, &pending) == 0) {
		/* The caller's own process is changing the record: that
		 * change commits first, and the truncate comes on top of
		 * it, as a rename does.  Before 2026-12-06 the truncate
		 * went first and the change, based on the version before
		 * it, was refused at its close (EAGAIN): its bytes lost. */
		pthread_mutex_unlock(&fs->mu);
		rfs_staged_drop(&sg);
		rc = rfs_commit_own_lease(fs, key, p);
		if (rc < 0)
			return rc;
		goto again;
	} else if (in->lease) {
		rc = -EBUSY; /* a lease again: its own, once more */
	} else
		rc = rfs_check(fs, p, in->key, NULL, &expect, &hit);
	if (rc == -EAGAIN)
		basis_grace(fs->bt, p, in->key);
	locked = rc == 0;
	if (rc == 0 && rfs_staged_ok(&sg, in)) {
		/* A copy of the version the check allows is committed if
		 * that is still the current one: a checked truncate is
		 * stale otherwise (store_truncate would say so too), an
		 * unchecked one (STORE_ANY) is copied again.  A copy of an
		 * older version than the check's is made again. */
		if (expect == sg.base || expect == STORE_ANY) {
			store_defer_begin(fs->st);
			rc = store_txn_commit(sg.t, sg.base, NULL, 0, &newv);
			ticket = store_defer_end(fs->st);
			sg.t = NULL;
			locked = rc == -EAGAIN && expect == STORE_ANY;
		}
		if (locked && ++staged < RFS_STAGE_TRIES) {
			pthread_mutex_unlock(&fs->mu);
			rfs_staged_drop(&sg);
			goto again;
		}
	}
	if (locked) {
		store_defer_begin(fs->st);
		rc = store_truncate(fs->st, in->key, expect, size, &newv);
		ticket = store_defer_end(fs->st);
	}
	if (rc == 0) {
		rfs_changed(fs, p, &hit, in->key, newv);
		rfs_note_commit(in);
	}
	pthread_mutex_unlock(&fs->mu);
	rfs_staged_drop(&sg);
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
	if (rc == 0)
		rfs_inval_inode(fs, in->ino);
	return rc;
}

/* @ts in nanoseconds since 1970, held to what the store keeps (int64:
 * 1677-09-21 to 2262-04-11), as Linux file systems hold a time to their
 * range: until 2026-12-07 it wrapped, and touch -d 2300-01-01 (or tar
 * restoring such a time) set 1715-06-13. */
static int64_t ns_of(const struct timespec *ts)
{
	int64_t ns;

	if (__builtin_mul_overflow((int64_t)ts->tv_sec, 1000000000, &ns) ||
	    __builtin_add_overflow(ns, (int64_t)ts->tv_nsec, &ns))
		return ts->tv_sec < 0 ? INT64_MIN : INT64_MAX;
	return ns;
}

static int set_meta(struct rfs *fs, struct rfs_inode *in,
		    const struct stat *attr, int to_set)
{
	struct store_meta m;
	struct store_stat sb;
	unsigned mask = 0;
	int64_t now = rfs_now_ns();
	uint64_t ticket = 0;
	int rc = 0;

	memset(&m, 0, sizeof(m));
	pthread_mutex_lock(&fs->mu);
	rfs_moving_wait(fs, in); /* (names.c, moving_begin) */
	if (in->pending || in->deleted) {
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
				     : ns_of(&attr->st_atim);
		mask |= STORE_META_ATIME;
	}
	if (to_set & FUSE_SET_ATTR_MTIME) {
		m.mtime_ns = (to_set & FUSE_SET_ATTR_MTIME_NOW)
				     ? now
				     : ns_of(&attr->st_mtim);
		mask |= STORE_META_MTIME;
	}
	if (!mask)
		goto out;
	if (in->pending || in->deleted) {
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
	/* Given while a change is open, the times are the record's until
	 * the change's next write: its commit must not stamp its own time
	 * over them (before 2026-12-06 `cp -p src rec` left rec with the
	 * time of the copy). */
	if (rc == 0 && (mask & STORE_META_MTIME) && in->lease &&
	    !in->deleted) {
		in->lease->mtime_ns = m.mtime_ns;
		__atomic_store_n(&in->lease->mtime_state, RFS_MTIME_GIVEN,
				 __ATOMIC_RELEASE);
	}
	/* The kernel walks cached entries without asking us: make the ones
	 * below a directory whose mode changed ask again (perm.h). */
	if (rc == 0 && !fs->kperm && (mask & STORE_META_MODE) &&
	    S_ISDIR(sb.meta.mode) && !in->deleted)
		rfs_inval_children(fs, in->key);
out:
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
	return rc;
}

/* A change of a record's content or size by a caller without
 * CAP_FSETID takes S_ISUID off it, and S_ISGID where group execute is on
 * or the caller is not in the file's group, as the kernel's
 * file_remove_privs() does on a local filesystem: else another user may
 * rewrite a set-user-ID program and keep its bit.  libfuse tells the
 * kernel that we do it (FUSE_CAP_HANDLE_KILLPRIV): the kernel does it
 * for a truncate (the mode comes with the size, may_setattr), not for a
 * write nor an O_TRUNC open.  Called once a change has passed its check
 * (file.c), before its bytes can show; a failure to read the mode leaves
 * it to the change to fail.  Called without fs->mu.  @return 0 or a
 * negative errno. */
int rfs_kill_priv(fuse_req_t req, struct rfs *fs, struct rfs_inode *in)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct perm_who w;
	struct stat a;
	mode_t kill = 0;
	int rc;

	pthread_mutex_lock(&fs->mu);
	rc = in->hist ? -EROFS : rfs_inode_attr(fs, in, &a);
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0 || !S_ISREG(a.st_mode))
		return 0;
	if (!(a.st_mode & (S_ISUID | S_ISGID)))
		return 0;
	perm_who_init(&w, c->uid, c->gid, c->pid);
	if (a.st_mode & S_ISUID)
		kill |= S_ISUID;
	if ((a.st_mode & S_ISGID) &&
	    ((a.st_mode & S_IXGRP) || !perm_in_group(&w, a.st_gid)))
		kill |= S_ISGID;
	if (!kill || perm_capable(&w, PERM_CAP_FSETID))
		return 0;
	a.st_mode &= ~kill;
	return set_meta(fs, in, &a, FUSE_SET_ATTR_MODE);
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

	if (!rfs_checks(req, fs, in, &a, &w))
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
	/* A truncate by a writer who is not the owner comes with the mode
	 * the kernel computed for it, set-user-ID and set-group-ID taken off
	 * (file_remove_privs; its ATTR_FORCE does not reach us): that is
	 * the truncate's, not a chmod.  Refused, the truncate was EPERM. */
	if ((to_set & FUSE_SET_ATTR_MODE) && (to_set & FUSE_SET_ATTR_SIZE) &&
	    ((attr->st_mode ^ a.st_mode) & 07777) ==
		    (a.st_mode & (S_ISUID | S_ISGID) & ~attr->st_mode))
		to_set &= ~FUSE_SET_ATTR_MODE;
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

void rfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			int to_set, struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_handle *h = fi ? HANDLE(fi) : NULL;
	struct rfs_inode *in;
	struct proc_info p;
	struct stat a;
	double timeout = TIMEOUT;
	int rc = 0;

	rfs_caller(req, &p);
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
			int was = h->trunc, first = !h->txn;
			if (!h->txn && attr->st_size == 0)
				h->trunc = 1; /* no need to copy what goes */
			rc = rfs_handle_begin(fs, h, &p, NULL);
			/* Refused, it emptied nothing: the handle's next
			 * change must start from the record's bytes, not
			 * from none (a lost record, seen 2026-12-06). */
			if (rc < 0)
				h->trunc = was;
			if (rc == 0)
				rc = store_txn_truncate(h->txn,
							(uint64_t)attr->st_size);
			/* Failed as its first change (EFBIG), it changed
			 * nothing: no lease held, no version at its close. */
			if (rc < 0 && first) {
				rfs_handle_unbegin(fs, h);
				h->trunc = was;
			}
			rfs_note_size(h);
		} else {
			rc = truncate_path(fs, in, &p, (uint64_t)attr->st_size);
		}
	}
	if (rc == 0)
		rc = set_meta(fs, in, attr, to_set);
	if (rc == 0) {
		pthread_mutex_lock(&fs->mu);
		rc = rfs_view_attr(fs, in, h, &a);
		/* A change's own view is the changer's alone: not cached. */
		if (h && h->txn)
			timeout = 0;
		else
			rfs_attr_given(in);
		pthread_mutex_unlock(&fs->mu);
	}
	if (h)
		pthread_mutex_unlock(&h->mu);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &a, timeout);
}

/* xattr.c - extended attributes: user.version, user.hash,
 * user.expected_version and user.conflict, which the daemon answers,
 * and the others, which the store keeps with the record. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "history.h"
#include "ops.h"
#include "perm.h"
#include "rfs.h"

/* ---- Extended attributes --------------------------------------------- */

static int is_ours(const char *name)
{
	return strcmp(name, "user.version") == 0 ||
	       strcmp(name, "user.hash") == 0 ||
	       strcmp(name, "user.expected_version") == 0 ||
	       strcmp(name, "user.conflict") == 0 ||
	       strcmp(name, "user.recfs.lease") == 0;
}

/* user.recfs.unchecked is read as on only when it is "1" (check.c): any
 * other value but "0" was stored and did nothing, so that a directory
 * marked "yes" or "true" stayed checked without a word.  @return 0 for
 * "0" or "1" (a trailing newline accepted), else -EINVAL. */
static int unchecked_value_ok(const char *value, size_t size)
{
	if (size == 2 && value[1] == '\n')
		size = 1;
	return size == 1 && (value[0] == '0' || value[0] == '1') ? 0
								  : -EINVAL;
}

/* Is @in, whose key is @key, a record (not a directory)?  A create not
 * yet committed is one.  Caller holds fs->mu. */
static int is_record(struct rfs *fs, const struct rfs_inode *in,
		     const char *key)
{
	struct store_stat sb;

	return in->pending ||
	       (store_stat(fs->st, key, &sb) == 0 && !S_ISDIR(sb.meta.mode));
}

/* ---- A pending record's xattrs ---------------------------------------
 * A record created but not yet committed keeps the xattrs set on it in
 * in->pxa until its commit stores them (apply_pxattrs, handle.c).
 * Invariant: a name is there at most once, as in a stored record, so
 * that the last set wins, XATTR_CREATE and XATTR_REPLACE hold, and a
 * removal removes (each set was a new entry, and the oldest won).
 * Callers hold fs->mu. */

static struct rfs_pxattr **pxa_find(struct rfs_inode *in, const char *name)
{
	for (struct rfs_pxattr **pp = &in->pxa; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0)
			return pp;
	return NULL;
}

/* The limits store_setxattr() will apply at the commit, checked now:
 * its error could not reach anyone then. */
static int pxa_set(struct rfs_inode *in, const char *name,
		   const char *value, size_t size, int flags)
{
	struct rfs_pxattr **pp = pxa_find(in, name), *x;
	size_t nl = strlen(name), total = 6 + nl + size;
	void *v;

	if (nl > STORE_XATTR_NAME_MAX)
		return -ERANGE;
	if (size > STORE_XATTR_VALUE_MAX)
		return -E2BIG;
	if (pp && (flags & XATTR_CREATE))
		return -EEXIST;
	if (!pp && (flags & XATTR_REPLACE))
		return -ENODATA;
	for (x = in->pxa; x; x = x->next)
		if (!pp || x != *pp)
			total += 6 + strlen(x->name) + x->size;
	if (total > STORE_XATTR_TOTAL_MAX)
		return -ENOSPC;
	v = malloc(size ? size : 1);
	if (!v)
		return -ENOMEM;
	memcpy(v, value, size);
	if (pp) {
		free((*pp)->value);
		(*pp)->value = v;
		(*pp)->size = size;
		return 0;
	}
	x = calloc(1, sizeof(*x));
	if (!x || !(x->name = strdup(name))) {
		free(x);
		free(v);
		return -ENOMEM;
	}
	x->value = v;
	x->size = size;
	x->next = in->pxa;
	in->pxa = x;
	return 0;
}

static int pxa_remove(struct rfs_inode *in, const char *name)
{
	struct rfs_pxattr **pp = pxa_find(in, name), *x;

	if (!pp)
		return -ENODATA;
	x = *pp;
	*pp = x->next;
	free(x->name);
	free(x->value);
	free(x);
	return 0;
}

/* The names in in->pxa, NUL-ended, in a malloc'ed *@out (may be NULL
 * with length 0).  @return the length, or -ENOMEM. */
static ssize_t pxa_list(struct rfs_inode *in, char **out)
{
	size_t len = 0;
	char *p;

	*out = NULL;
	for (struct rfs_pxattr *x = in->pxa; x; x = x->next)
		len += strlen(x->name) + 1;
	if (!len)
		return 0;
	p = *out = malloc(len);
	if (!p)
		return -ENOMEM;
	for (struct rfs_pxattr *x = in->pxa; x; x = x->next)
		p = stpcpy(p, x->name) + 1;
	return (ssize_t)len;
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

/* @in's key, for an xattr call (rfs_ino_key_copy), but ESTALE where the
 * record was unlinked or renamed over: getfattr and setfattr name a path,
 * and the kernel's walk can find the record just before a rename over it
 * lands (the daemon takes the rename first).  The kernel walks the path
 * once more on ESTALE and asks the record that holds the name now, as
 * for an open; before 2026-12-07 such a getfattr failed with "No such
 * file or directory" (one in five against a loop of `mv tmp rec`), and a
 * script's read-modify-write loop stopped.  A descriptor of a deleted
 * record gets ESTALE: its key may name another record. */
static int xattr_key(const struct rfs_inode *in, char *key, int *pending)
{
	if (in && in->deleted)
		return -ESTALE;
	return rfs_ino_key_copy(in, key, pending);
}

void rfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 size_t size)
{
	struct rfs *fs = FS(req);
	struct rfs_inode *in;
	struct store_stat sb;
	char val[256], key[RFS_KEY_BUF], *big = NULL;
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
	if (in && (rc = rfs_may(req, fs, in, PERM_R)) < 0) {
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
			/* changer is written under fs->mu, the handle's txn
			 * under its own mu only (TSan). */
			const struct proc_info *w =
				in->lease->changer.tid > 0
					? &in->lease->changer
					: &in->lease->opener;
			char at[32], comm[65];
			time_t t = (time_t)(in->lease_since_ns / 1000000000);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
			rc = snprintf(val, sizeof(val), "pid=%d comm=%s since=%s",
				      (int)(w->tgid ? w->tgid : w->tid),
				      w->comm[0] ? proc_comm_field(w->comm, comm)
						 : "?", at);
		}
		pthread_mutex_unlock(&fs->mu);
		if (rc < 0)
			fuse_reply_err(req, -rc);
		else
			reply_value(req, val, (size_t)rc, size);
		return;
	}
	rc = xattr_key(in, key, &pending);
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
			n = (ssize_t)rfs_format_version(sb.version, val);
		else if (rc == 0) {
			store_hash_hex(sb.hash, val);
			n = 32;
		}
	} else if (strcmp(name, "user.expected_version") == 0) {
		struct proc_info p;
		struct basis_hit hit;
		rfs_caller(req, &p);
		memset(&hit, 0, sizeof(hit));
		if (p.tid > 0)
			basis_lookup(fs->bt, &p, key, &hit);
		/* Under an unchecked name only a declaration is ever
		 * used (check.c). */
		if (!hit.found || hit.stale || hit.expired ||
		    (!hit.explicit_ && rfs_unchecked(fs, key)))
			rc = -ENODATA;
		else
			n = (ssize_t)rfs_format_version(hit.version, val);
	} else if (strcmp(name, "user.conflict") == 0) {
		struct proc_info p;
		rfs_caller(req, &p);
		rc = basis_conflict(fs->bt, &p, key, val, sizeof(val));
		n = rc;
		if (rc > 0)
			rc = 0;
	} else if (pending) {
		struct rfs_pxattr **pp;
		rc = -ENODATA;
		pthread_mutex_lock(&fs->mu);
		/* Still pending, or committed meanwhile (then its xattrs
		 * moved to the store: ENODATA, as a racing read may see). */
		if (in->pending && (pp = pxa_find(in, name))) {
			n = (ssize_t)(*pp)->size;
			big = malloc((size_t)n + 1);
			if (big) {
				memcpy(big, (*pp)->value, (size_t)n);
				rc = 0;
			} else {
				rc = -ENOMEM;
			}
		}
		pthread_mutex_unlock(&fs->mu);
	} else {
		n = store_getxattr(fs->st, key, name, NULL, 0);
		rfs_test_pause(fs, key, RFS_PAUSE_XATTR);
		if (n >= 0) {
			/* Room for what the caller asked for, not only for
			 * the probe's length: a value set longer in between
			 * was ERANGE, which the kernel gives a 64 KiB
			 * buffer as E2BIG. */
			size_t cap = size > (size_t)n ? size : (size_t)n;
			big = malloc(cap + 1);
			n = big ? store_getxattr(fs->st, key, name, big,
						 cap + 1)
				: -ENOMEM;
		}
		rc = n < 0 ? (int)n : 0;
	}
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_value(req, big ? big : val, (size_t)n, size);
	free(big);
}

void rfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	struct rfs *fs = FS(req);
	struct rfs_inode *in;
	const char *key;
	uint64_t ticket = 0;
	int rc = 0;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	if (in && in->hist) {
		pthread_mutex_unlock(&fs->mu);
		fuse_reply_err(req, EROFS);
		return;
	}
	if (in && strncmp(name, "user.", 5) == 0 &&
	    (rc = rfs_may(req, fs, in, PERM_W)) < 0) {
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
	if (!in || in->deleted) { /* a deleted one's key names another */
		pthread_mutex_unlock(&fs->mu);
		fuse_reply_err(req, in ? ESTALE : ENOENT); /* (xattr_key) */
		return;
	}
	key = in->key; /* fs->mu is held to the end: no rename moves it */
	if (strcmp(name, "user.recfs.compact") == 0) {
		/* The store is one: any directory of the mount compacts it,
		 * as the root does (a subdirectory stored the name as a
		 * plain attribute and compacted nothing, silently); on a
		 * record it is refused, as user.recfs.unchecked is. */
		rc = is_record(fs, in, key) ? -ENOTDIR : 0;
		pthread_mutex_unlock(&fs->mu);
		if (rc == 0)
			rc = fs->o.ro ? -EROFS : store_compact(fs->st);
		fuse_reply_err(req, -rc);
		return;
	}
	if (strcmp(name, "user.expected_version") == 0) {
		struct store_stat sb;
		struct proc_info p;
		uint64_t v;
		rfs_caller(req, &p);
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
	} else if (strcmp(name, "user.recfs.unchecked") == 0 &&
		   unchecked_value_ok(value, size) < 0) {
		rc = -EINVAL;
	} else if (strcmp(name, "user.recfs.unchecked") == 0 &&
		   is_record(fs, in, key)) {
		rc = -ENOTDIR; /* only a directory's is read: a record's
				* marked nothing, silently */
	} else if (in->pending) {
		rc = pxa_set(in, name, value, size, flags);
	} else {
		/* sync=always: the wait for the disk without fs->mu */
		store_defer_begin(fs->st);
		rc = store_setxattr(fs->st, key, name, value, size, flags);
		ticket = store_defer_end(fs->st);
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
	fuse_reply_err(req, -rc);
}

void rfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct rfs *fs = FS(req);
	static const char ours[] = "user.version\0user.hash";
	struct rfs_inode *in;
	struct store_stat sb;
	char key[RFS_KEY_BUF], *buf = NULL;
	size_t base = 0, cap = 0;
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
	rc = xattr_key(in, key, &pending);
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (pending) {
		/* Its own xattrs so far; no version or hash yet. */
		pthread_mutex_lock(&fs->mu);
		n = in->pending ? pxa_list(in, &buf) : 0;
		pthread_mutex_unlock(&fs->mu);
		if (n < 0)
			fuse_reply_err(req, (int)-n);
		else
			reply_value(req, buf, (size_t)n, size);
		free(buf);
		return;
	}
	/* A directory has no version or hash, but its stored xattrs are
	 * listed like a record's (they were not: getfattr -d, cp -a and
	 * rsync -X missed them).  A symlink lists none: Linux refuses
	 * user.* on one before asking us, so what it listed could not be
	 * read (rsync -aX exited 23 on any tree with a symlink). */
	if (store_stat(fs->st, key, &sb) == 0) {
		if (S_ISREG(sb.meta.mode))
			base = sizeof(ours);
		if (!S_ISLNK(sb.meta.mode))
			n = store_listxattr(fs->st, key, NULL, 0);
	}
	rfs_test_pause(fs, key, RFS_PAUSE_XATTR);
	/* Room for what the caller asked for, as in rfs_getxattr: a name
	 * added after the probe was ERANGE (E2BIG to a 64 KiB buffer). */
	if (n >= 0 && size > base + (size_t)n)
		cap = size - base;
	else if (n >= 0)
		cap = (size_t)n;
	if (n >= 0) {
		buf = malloc(base + cap + 1);
		if (!buf)
			n = -ENOMEM;
	}
	if (n > 0)
		n = store_listxattr(fs->st, key, buf + base, cap);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
	} else {
		memcpy(buf, ours, base);
		reply_value(req, buf, base + (size_t)n, size);
	}
	free(buf);
}

void rfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct rfs *fs = FS(req);
	struct rfs_inode *in;
	char key[RFS_KEY_BUF];
	int rc = 0, pending, done = 0;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	if (in && !in->hist && strncmp(name, "user.", 5) == 0)
		rc = rfs_may(req, fs, in, PERM_W);
	if (rc == 0)
		rc = xattr_key(in, key, &pending);
	if (rc == 0 && in->hist)
		rc = -EROFS;
	if (rc == 0 && strncmp(name, "user.", 5) != 0) {
		rc = -EOPNOTSUPP;
	} else if (rc == 0 && strcmp(name, "user.expected_version") == 0) {
		struct proc_info p;

		/* Withdraws the caller's declaration (until 2026-12-06 it
		 * said 0 and the declaration stayed in force). */
		rfs_caller(req, &p);
		if (p.tid > 0)
			basis_withdraw(fs->bt, &p, key);
		done = 1;
	} else if (rc == 0 && is_ours(name)) {
		done = 1; /* rsync -X removes ours too */
	} else if (rc == 0 && pending) {
		rc = pxa_remove(in, name); /* its key holds nothing yet */
		done = 1;
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0 && !done)
		rc = store_removexattr(fs->st, key, name);
	fuse_reply_err(req, -rc);
}

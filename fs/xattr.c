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
	rc = rfs_ino_key_copy(in, key, &pending);
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
		if (!hit.found || hit.stale || hit.expired)
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
		fuse_reply_err(req, ENOENT);
		return;
	}
	key = in->key; /* fs->mu is held to the end: no rename moves it */
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
	fuse_reply_err(req, -rc);
}

void rfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct rfs *fs = FS(req);
	static const char ours[] = "user.version\0user.hash";
	struct rfs_inode *in;
	struct store_stat sb;
	char key[RFS_KEY_BUF], *buf = NULL;
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
	rc = rfs_ino_key_copy(in, key, &pending);
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
	int rc = 0, pending;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	if (in && !in->hist && strncmp(name, "user.", 5) == 0)
		rc = rfs_may(req, fs, in, PERM_W);
	if (rc == 0)
		rc = rfs_ino_key_copy(in, key, &pending);
	if (rc == 0 && in->hist)
		rc = -EROFS;
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0 && strncmp(name, "user.", 5) != 0)
		rc = -EOPNOTSUPP;
	else if (rc == 0 && !is_ours(name)) /* rsync -X removes ours too */
		rc = store_removexattr(fs->st, key, name);
	fuse_reply_err(req, -rc);
}

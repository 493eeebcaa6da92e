/* meta.c - a record's metadata (store_setmeta) and extended attributes.
 * Each change is one META entry of the key's current version, committed
 * as ops.c commits every change. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "etcd_store.h"
#include "store_int.h"

int store_setmeta(struct store *st, const char *key,
		  const struct store_meta *meta, unsigned mask)
{
	if (st->es)
		return es_setmeta(st->es, key, meta, mask);
	struct store_meta m;
	struct node *n;
	const uint8_t *x;
	uint32_t xlen;
	int rc = store_begin_change(st, key);

	if (rc < 0)
		return rc;
	n = store_live(st, key);
	if (!n)
		return store_finish(st, -ENOENT, 0, 0);
	m = node_meta(&st->idx, n);
	if (mask & STORE_META_MODE)
		m.mode = (m.mode & S_IFMT) | (meta->mode & 07777);
	if (mask & STORE_META_UID)
		m.uid = meta->uid;
	if (mask & STORE_META_GID)
		m.gid = meta->gid;
	if (mask & STORE_META_ATIME)
		m.atime_ns = meta->atime_ns;
	if (mask & STORE_META_MTIME)
		m.mtime_ns = meta->mtime_ns;
	m.ctime_ns = (mask & STORE_META_CTIME) ? meta->ctime_ns
					       : store_now_ns();
	x = node_xattrs(n, &xlen);
	return store_commit_meta(st, n, &m, x, xlen);
}

/* ---- Extended attributes (packed: u16 nlen, u32 vlen, name, value) -- */

static const uint8_t *xa_find(const uint8_t *x, uint32_t len,
			      const char *name, uint32_t *vlen)
{
	size_t nl = strlen(name);

	for (uint32_t pos = 0; pos + 6 <= len;) {
		uint16_t l = log_get16(x + pos);
		uint32_t v = log_get32(x + pos + 2);
		if (l == nl && memcmp(x + pos + 6, name, nl) == 0) {
			*vlen = v;
			return x + pos;
		}
		pos += 6 + l + v;
	}
	return NULL;
}

int store_setxattr(struct store *st, const char *key, const char *name,
		   const void *value, size_t size, int flags)
{
	if (st->es)
		return es_setxattr(st->es, key, name, value, size, flags);
	struct node *n;
	struct store_meta m;
	const uint8_t *old, *xa;
	uint32_t ovl = 0, olen, nlen, xlen;
	size_t nl = strlen(name);
	uint8_t *nx = NULL;
	int rc;

	if (nl == 0 || nl > STORE_XATTR_NAME_MAX)
		return nl ? -ERANGE : -EINVAL;
	if (size > STORE_XATTR_VALUE_MAX)
		return -E2BIG;
	rc = store_begin_change(st, key);
	if (rc < 0)
		return rc;
	n = store_live(st, key);
	if (!n) {
		rc = -ENOENT;
		goto out;
	}
	xa = node_xattrs(n, &xlen);
	old = xa_find(xa, xlen, name, &ovl);
	if ((flags & XATTR_CREATE) && old) {
		rc = -EEXIST;
		goto out;
	}
	if ((flags & XATTR_REPLACE) && !old) {
		rc = -ENODATA;
		goto out;
	}
	olen = old ? 6 + (uint32_t)nl + ovl : 0;
	nlen = xlen - olen + 6 + (uint32_t)nl + (uint32_t)size;
	if (nlen > STORE_XATTR_TOTAL_MAX) {
		rc = -ENOSPC;
		goto out;
	}
	nx = malloc(nlen);
	if (!nx) {
		rc = -ENOMEM;
		goto out;
	}
	if (old) {
		size_t before = (size_t)(old - xa);
		memcpy(nx, xa, before);
		memcpy(nx + before, old + olen, xlen - before - olen);
	} else if (xlen) {
		memcpy(nx, xa, xlen);
	}
	uint8_t *p = nx + xlen - olen;
	log_put16(p, (uint16_t)nl);
	log_put32(p + 2, (uint32_t)size);
	memcpy(p + 6, name, nl);
	if (size)
		memcpy(p + 6 + nl, value, size);
	m = node_meta(&st->idx, n);
	rc = store_commit_meta(st, n, &m, nx, nlen);
	free(nx);
	return rc;
out:
	return store_finish(st, rc, 0, 0);
}

int store_removexattr(struct store *st, const char *key, const char *name)
{
	if (st->es)
		return es_removexattr(st->es, key, name);
	struct node *n;
	struct store_meta m;
	const uint8_t *old, *xa;
	uint32_t ovl, olen, xlen;
	uint8_t *nx;
	int rc = store_begin_change(st, key);

	if (rc < 0)
		return rc;
	n = store_live(st, key);
	if (!n)
		return store_finish(st, -ENOENT, 0, 0);
	xa = node_xattrs(n, &xlen);
	old = xa_find(xa, xlen, name, &ovl);
	if (!old)
		return store_finish(st, -ENODATA, 0, 0);
	olen = 6 + (uint32_t)strlen(name) + ovl;
	nx = malloc(xlen - olen + 1);
	if (!nx)
		return store_finish(st, -ENOMEM, 0, 0);
	size_t before = (size_t)(old - xa);
	memcpy(nx, xa, before);
	memcpy(nx + before, old + olen, xlen - before - olen);
	m = node_meta(&st->idx, n);
	rc = store_commit_meta(st, n, &m, nx, xlen - olen);
	free(nx);
	return rc;
}

int store_dir_xattrs(struct store *st)
{
	return st->es ? 1 : __atomic_load_n(&st->dir_xattrs, __ATOMIC_ACQUIRE);
}

ssize_t store_getxattr(struct store *st, const char *key, const char *name,
		       void *value, size_t size)
{
	if (st->es)
		return es_getxattr(st->es, key, name, value, size);
	if (store_index_bad(st))
		return -EIO;
	struct node *n;
	const uint8_t *x = NULL;
	uint32_t vl = 0, xlen;
	ssize_t rc;

	if ((rc = key_check(key)) < 0)
		return rc;
	pthread_rwlock_rdlock(&st->idx_lock);
	n = store_live(st, key);
	if (n)
		x = node_xattrs(n, &xlen);
	x = x ? xa_find(x, xlen, name, &vl) : NULL;
	if (!n)
		rc = -ENOENT;
	else if (!x)
		rc = -ENODATA;
	else if (size == 0)
		rc = vl;
	else if (size < vl)
		rc = -ERANGE;
	else {
		memcpy(value, x + 6 + log_get16(x), vl);
		rc = vl;
	}
	pthread_rwlock_unlock(&st->idx_lock);
	return rc;
}

ssize_t store_listxattr(struct store *st, const char *key, char *list,
			size_t size)
{
	if (st->es)
		return es_listxattr(st->es, key, list, size);
	if (store_index_bad(st))
		return -EIO;
	struct node *n;
	const uint8_t *xa;
	uint32_t xlen;
	size_t need = 0;
	ssize_t rc;

	if ((rc = key_check(key)) < 0)
		return rc;
	pthread_rwlock_rdlock(&st->idx_lock);
	n = store_live(st, key);
	if (!n) {
		pthread_rwlock_unlock(&st->idx_lock);
		return -ENOENT;
	}
	xa = node_xattrs(n, &xlen);
	for (uint32_t pos = 0; pos + 6 <= xlen;) {
		uint16_t l = log_get16(xa + pos);
		if (size && need + l + 1 <= size) {
			memcpy(list + need, xa + pos + 6, l);
			list[need + l] = 0;
		}
		need += l + 1u;
		pos += 6 + l + log_get32(xa + pos + 2);
	}
	pthread_rwlock_unlock(&st->idx_lock);
	if (size && need > size)
		return -ERANGE;
	return (ssize_t)need;
}

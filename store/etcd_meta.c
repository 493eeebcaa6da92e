/* etcd_meta.c - the etcd store's renames, directories, metadata,
 * xattrs and totals (etcd_store.h).  Like etcd_ops.c, each change is
 * one transaction of compares on what it read from the cache. */
#include "etcd_es_int.h"
#include "store_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- renames ------------------------------------------------------------------ */

/* Every key strictly below @dir in the cache (malloc'ed array). */
static int below(struct es *es, const char *dir, char ***out, size_t *n)
{
	size_t dl = strlen(dir), cnt = 0, cap = 0;
	char **arr = NULL;
	int rc = 0;

	pthread_mutex_lock(&es->mu);
	for (size_t b = 0; rc == 0 && b < es->cap; b++)
		for (struct es_ent *e = es->tab[b]; e && rc == 0; e = e->next) {
			if (!(e->has_m || e->has_r) ||
			    strncmp(e->key, dir, dl) != 0 || e->key[dl] != '/')
				continue;
			if (es_grow((void **)&arr, &cap, cnt, sizeof(*arr)) < 0) {
				rc = -ENOMEM;
				break;
			}
			if (!(arr[cnt] = strdup(e->key)))
				rc = -ENOMEM;
			else
				cnt++;
		}
	pthread_mutex_unlock(&es->mu);
	*out = arr;
	*n = cnt;
	return rc;
}

static void free_keys(char **k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(k[i]);
	free(k);
}

/* Move one record @from to @to inside transaction @t: @to's next version
 * (above any it had, and above @from's, so the line continues). */
static int move_rec(struct es_tb *t, const char *from, const char *to,
		    int64_t now, int cont, uint64_t *newv)
{
	struct es_view f, d;
	size_t xl = 0;
	int rc = 0;

	es_view_get(t->es, from, &f);
	es_view_get(t->es, to, &d);
	uint64_t nv = es_last_ver(&d) + 1;
	if (cont && f.has_r && f.version + 1 > nv)
		nv = f.version + 1; /* a directory's records continue */
	if (es_other_lease(t->es, &f) || es_other_lease(t->es, &d))
		rc = -EBUSY;
	if (rc == 0) {
		struct store_meta m = f.meta;
		m.ctime_ns = now;
		es_tb_cmp(t, 'r', from, ETCDC_MOD, ETCDC_EQUAL, f.r_rev);
		es_tb_cmp(t, 'm', from, ETCDC_MOD, ETCDC_EQUAL, f.m_rev);
		es_tb_cmp(t, 'r', to, ETCDC_MOD, ETCDC_EQUAL, d.r_rev);
		es_tb_cmp(t, 'm', to, ETCDC_MOD, ETCDC_EQUAL, d.m_rev);
		es_tb_cmp(t, 't', to, ETCDC_MOD, ETCDC_EQUAL, d.t_rev);
		es_tb_cmp(t, 'l', from, ETCDC_CREATE, ETCDC_EQUAL, 0);
		es_tb_cmp(t, 'l', to, ETCDC_CREATE, ETCDC_EQUAL, 0);
		uint8_t *rv = es_enc_rec(nv, now, es_next_nonce(t->es),
					 d.has_r ? d.r_rev : d.tomb_rev,
					 f.content ? f.content->data : "",
					 f.content ? f.content->len : 0, &xl);
		es_tb_op(t, 'r', to, rv, xl, 0, 0);
		es_tb_put_meta(t, to, &m, f.xa, f.xa_len);
		es_tb_op(t, 'r', from, NULL, 0, 0, 1);
		es_tb_op(t, 'm', from, NULL, 0, 0, 1);
		es_tb_put_tomb(t, from, f.version + 1, f.r_rev,
			       es_next_nonce(t->es), &f);
		/* A rename over a record ends that record: its versions
		 * keep its owner (its t/, which a live key may have). */
		if (d.has_r)
			es_tb_put_tomb(t, to, d.tomb > d.version ? d.tomb
								 : d.version,
				       d.tomb ? d.tomb_rev : d.r_rev,
				       d.tomb_nonce, &d);
		if (newv)
			*newv = nv;
	}
	es_view_free(&f);
	es_view_free(&d);
	return rc;
}

static int rename_once(struct es *es, const char *from, uint64_t ef,
		       const char *to, uint64_t et, uint64_t *newv)
{
	struct es_view f, d, pd, pf;
	struct es_tb t = {.es = es};
	char *pto = es_parent_of(to), *pfrom = es_parent_of(from);
	int64_t now = es_now_ns();
	int rc = 0;

	if (!pto || !pfrom) {
		free(pto);
		free(pfrom);
		return -ENOMEM;
	}
	es_view_get(es, from, &f);
	es_view_get(es, to, &d);
	es_view_get(es, pto, &pd);
	es_view_get(es, pfrom, &pf);
	if (!f.has_m)
		rc = -ENOENT;
	else if ((rc = es_parent_ok(&pd)) < 0)
		;
	else if (es_is_dir(&f) && d.has_m && !es_is_dir(&d))
		rc = -ENOTDIR;
	else if (!es_is_dir(&f) && es_is_dir(&d))
		rc = -EISDIR;
	else if (!es_is_dir(&f) && (!es_expect_ok(&f, ef) ||
				    !es_expect_ok(&d, et)))
		rc = -EAGAIN;
	if (rc < 0)
		goto out;
	/* The target directory changes: fences a racing rmdir of it. */
	es_tb_cmp(&t, 'm', pto, ETCDC_MOD, ETCDC_EQUAL, pd.m_rev);
	if (!es_is_dir(&f)) {
		rc = move_rec(&t, from, to, now, 0, newv);
	} else {
		char **keys = NULL;
		size_t n = 0, fl = strlen(from);
		if (strncmp(to, from, fl) == 0 && to[fl] == '/') {
			rc = -EINVAL;
			goto out;
		}
		if (d.has_m) {
			char **dk = NULL;
			size_t dn = 0;
			rc = below(es, to, &dk, &dn);
			free_keys(dk, dn);
			if (rc == 0 && dn)
				rc = -ENOTEMPTY;
			if (rc < 0)
				goto out;
		}
		/* Empty in etcd too, whatever the cache has seen: what is
		 * below @to would end up in the moved directory.  (A record
		 * made below @from that the cache has not seen changed an m/
		 * the transaction compares: see the end.) */
		es_tb_cmp_none_below(&t, 'm', to);
		es_tb_cmp_none_below(&t, 'r', to);
		rc = below(es, from, &keys, &n);
		es_tb_cmp(&t, 'm', from, ETCDC_MOD, ETCDC_EQUAL, f.m_rev);
		es_tb_cmp(&t, 'm', to, ETCDC_MOD, ETCDC_EQUAL, d.m_rev);
		{
			/* a renamed directory keeps its mtime; its ctime
			 * moves, as a renamed record's does (move_rec) */
			struct store_meta fm = f.meta;
			fm.ctime_ns = now;
			es_tb_put_meta(&t, to, &fm, f.xa, f.xa_len);
		}
		es_tb_op(&t, 'm', from, NULL, 0, 0, 1);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			struct es_view c;
			char *nk;
			/* A key pushed past STORE_KEY_MAX could not be
			 * named again: refuse the whole move (as the local
			 * store does). */
			if (strlen(to) + strlen(keys[i]) - fl > STORE_KEY_MAX) {
				rc = -ENAMETOOLONG;
				break;
			}
			nk = malloc(strlen(to) + strlen(keys[i]) + 1);
			if (!nk) {
				rc = -ENOMEM;
				break;
			}
			sprintf(nk, "%s%s", to, keys[i] + fl);
			es_view_get(es, keys[i], &c);
			if (es_is_dir(&c)) {
				es_tb_cmp(&t, 'm', keys[i], ETCDC_MOD,
				       ETCDC_EQUAL, c.m_rev);
				es_tb_put_meta(&t, nk, &c.meta, c.xa, c.xa_len);
				es_tb_op(&t, 'm', keys[i], NULL, 0, 0, 1);
			} else {
				rc = move_rec(&t, keys[i], nk, now, 1, NULL);
			}
			es_view_free(&c);
			free(nk);
		}
		free_keys(keys, n);
		*newv = 0;
	}
	if (rc == 0) {
		/* A key made in @to's directory: its times change, as a
		 * create's do (write_rec), so that an rmdir or a directory
		 * rename that compares this m/ sees that something came in
		 * (before, a record renamed in was left below a directory
		 * renamed or removed on a cache that had not seen it). */
		struct store_meta pm = pd.meta;
		pm.mtime_ns = pm.ctime_ns = now;
		es_tb_put_meta(&t, pto, &pm, pd.xa, pd.xa_len);
		/* and the directory it left, if another */
		if (strcmp(pfrom, pto) != 0)
			es_tb_dir_changed(&t, pfrom, &pf, now);
		rc = es_tb_run(&t, NULL);
		rc = rc == 1 ? 0 : rc == 0 ? 1 : rc; /* 1: a compare failed */
		/* A directory whose records together are over one request
		 * does not fit in one transaction either: EXDEV, as for too
		 * many keys, so that mv copies (each record fits alone). */
		if (rc == -EFBIG && es_is_dir(&f))
			rc = -EXDEV;
	}
out:
	es_tb_free(&t);
	es_view_free(&f);
	es_view_free(&d);
	es_view_free(&pd);
	es_view_free(&pf);
	free(pto);
	free(pfrom);
	return rc;
}

int es_rename(struct es *es, const char *from, uint64_t expect_from,
	      const char *to, uint64_t expect_to, uint64_t *newv)
{
	int refreshed = 0, rc;
	char *pto, *pfrom;

	if ((rc = key_check(from)) < 0 || (rc = key_check(to)) < 0 ||
	    (rc = es_ro(es)) < 0)
		return rc;
	if (!*from || !*to)
		return -EBUSY;
	*newv = 0;
	if (strcmp(from, to) == 0)
		return 0;
	pto = es_parent_of(to);
	pfrom = es_parent_of(from);
	if (!pto || !pfrom) {
		free(pto);
		free(pfrom);
		return -ENOMEM;
	}
	for (int i = 0; i < ES_TRIES; i++) {
		rc = rename_once(es, from, expect_from, to, expect_to, newv);
		if (rc == 0 || (rc < 0 && (refreshed || rc == -EXDEV ||
					   rc == -EINVAL || rc == -ENOMEM ||
					   rc == -ENAMETOOLONG)))
			break;
		/* etcd did not answer or could not be reached: that is the
		 * answer, and the rename may land later (docs/ETCD.md), as
		 * a delete's does.  Reading the keys again and trying once
		 * more waited out each read (16 s with etcd stopped), and
		 * once the first try had landed the second was refused as
		 * stale (EAGAIN) or gone (ENOENT), for a rename made. */
		if (rc == -ETIMEDOUT || rc == -EIO || rc == -ECONNREFUSED ||
		    rc == -EHOSTUNREACH)
			break;
		/* A failed check may come from a cache that is behind, a
		 * failed compare from a race: decide again on fresh state.
		 * Keys below a moved directory come with the watch. */
		if (rc == 1 && i)
			poll(NULL, 0, 20);
		es_refresh(es, from);
		es_refresh(es, to);
		es_refresh(es, pto);
		es_refresh(es, pfrom);
		/* A directory moves what is below it, as etcd has it: the
		 * cache may not have seen a record made there. */
		es_refresh_below(es, from);
		es_refresh_below(es, to);
		refreshed = rc < 0;
		rc = -EAGAIN;
	}
	free(pto);
	free(pfrom);
	return rc;
}

/* ---- directories and metadata --------------------------------------------------- */

int es_mkdir(struct es *es, const char *key, const struct store_meta *meta)
{
	int refreshed = 0, rc;
	char *pkey;

	if ((rc = key_check(key)) < 0 || (rc = es_ro(es)) < 0)
		return rc;
	if (!*key)
		return -EEXIST;
	pkey = es_parent_of(key);
	if (!pkey)
		return -ENOMEM;
	for (int i = 0; i < ES_TRIES; i++) {
		struct es_tb t = {.es = es};
		struct es_view v, pv;
		struct store_meta m = *meta, pm;

		es_view_get(es, key, &v);
		es_view_get(es, pkey, &pv);
		rc = es_parent_ok(&pv);
		if (rc == 0 && (v.has_m || v.has_r))
			rc = -EEXIST;
		if (rc == 0) {
			m.mode = S_IFDIR | (m.mode & 07777);
			pm = pv.meta;
			pm.mtime_ns = pm.ctime_ns = es_now_ns();
			es_tb_cmp(&t, 'm', key, ETCDC_CREATE, ETCDC_EQUAL, 0);
			es_tb_cmp(&t, 'r', key, ETCDC_CREATE, ETCDC_EQUAL, 0);
			es_tb_cmp(&t, 'm', pkey, ETCDC_MOD, ETCDC_EQUAL, pv.m_rev);
			es_tb_put_meta(&t, key, &m, NULL, 0);
			es_tb_put_meta(&t, pkey, &pm, pv.xa, pv.xa_len);
			rc = es_tb_run(&t, NULL);
			rc = rc == 1 ? 0 : rc == 0 ? 1 : rc;
		} else if (!refreshed) {
			rc = 1; /* the cache may be behind */
			refreshed = 1;
		}
		es_tb_free(&t);
		es_view_free(&v);
		es_view_free(&pv);
		if (rc <= 0)
			break;
		es_refresh(es, key);
		es_refresh(es, pkey);
		rc = -EIO;
	}
	free(pkey);
	return rc;
}

/* Read one key below directory @key from etcd into the cache, if there
 * is one: a record another mount made there, or moved there (which does
 * not change the directory's m/), that this mount's watch has not
 * brought yet.  Best effort: the rmdir's compares are what count. */
static void first_below(struct es *es, const char *key)
{
	struct etcdc_kv *kvs = NULL;
	struct etcdc *c;
	size_t kl = strlen(key), pl, n = 0;
	char *sub = malloc(kl + 2), *p;

	if (!sub)
		return;
	memcpy(sub, key, kl);
	memcpy(sub + kl, "/", 2);
	p = es_k(es, 'm', sub, &pl);
	free(sub);
	if (!p)
		return;
	c = es_client(es);
	if (etcdc_range(c, p, pl, 1, &kvs, &n, NULL, NULL) == 0 && n)
		es_apply_kv(es, &kvs[0], 0, 0);
	es_client_put(es, c);
	etcdc_kvs_free(kvs, n);
	free(p);
}

int es_rmdir(struct es *es, const char *key)
{
	int refreshed = 0, rc;
	char *pkey;

	if ((rc = key_check(key)) < 0 || (rc = es_ro(es)) < 0)
		return rc;
	if (!*key)
		return -EBUSY;
	pkey = es_parent_of(key);
	if (!pkey)
		return -ENOMEM;
	for (int i = 0; i < ES_TRIES; i++) {
		struct es_tb t = {.es = es};
		struct es_view v, pv;
		char **k = NULL;
		size_t n = 0;

		es_view_get(es, key, &v);
		rc = v.has_m ? (es_is_dir(&v) ? 0 : -ENOTDIR) : -ENOENT;
		if (rc == 0)
			rc = below(es, key, &k, &n);
		free_keys(k, n);
		if (rc == 0 && n)
			rc = -ENOTEMPTY;
		if (rc == 0) {
			/* A child made meanwhile changed our m/ (write_rec,
			 * es_mkdir): the compare catches it.  One the cache
			 * has not seen (a watch behind), or one renamed in,
			 * which leaves our m/ alone: the compares that
			 * nothing is below catch those. */
			es_tb_cmp(&t, 'm', key, ETCDC_MOD, ETCDC_EQUAL, v.m_rev);
			es_tb_cmp_none_below(&t, 'm', key);
			es_tb_cmp_none_below(&t, 'r', key);
			es_tb_op(&t, 'm', key, NULL, 0, 0, 1);
			es_view_get(es, pkey, &pv);
			es_tb_dir_changed(&t, pkey, &pv, es_now_ns());
			es_view_free(&pv);
			rc = es_tb_run(&t, NULL);
			rc = rc == 1 ? 0 : rc == 0 ? 1 : rc;
		} else if (!refreshed && rc != -ENOMEM) {
			rc = 1;
			refreshed = 1;
		}
		es_tb_free(&t);
		es_view_free(&v);
		if (rc <= 0)
			break;
		es_refresh(es, key);
		es_refresh(es, pkey);
		first_below(es, key);
		rc = -EIO;
	}
	free(pkey);
	return rc;
}

/* Read-modify-write of @key's m/: @fn edits a copy of the meta and
 * xattrs; it returns 0 to write, 1 to write nothing, or -errno. */
typedef int (*meta_fn)(void *arg, struct store_meta *m, uint8_t **xa,
		       size_t *xa_len);

static int meta_rmw(struct es *es, const char *key, meta_fn fn, void *arg)
{
	int rc;

	if ((rc = key_check(key)) < 0 || (rc = es_ro(es)) < 0)
		return rc;
	for (int i = 0; i < ES_TRIES; i++) {
		struct es_tb t = {.es = es};
		struct es_view v;

		if (i)
			es_refresh(es, key);
		es_view_get(es, key, &v);
		rc = v.has_m ? fn(arg, &v.meta, &v.xa, &v.xa_len) : -ENOENT;
		if (rc == 0) {
			es_tb_cmp(&t, 'm', key, ETCDC_MOD, ETCDC_EQUAL, v.m_rev);
			es_tb_put_meta(&t, key, &v.meta, v.xa, v.xa_len);
			rc = es_tb_run(&t, NULL);
			rc = rc == 1 ? 0 : rc == 0 ? 1 : rc;
		} else if (rc == -ENOENT && i == 0) {
			rc = 1; /* the cache may be behind: look again */
		}
		es_tb_free(&t);
		es_view_free(&v);
		if (rc <= 0)
			return rc;
	}
	return -EIO;
}

struct setmeta_arg {
	const struct store_meta *m;
	unsigned mask;
};

static int setmeta_fn(void *arg, struct store_meta *m, uint8_t **xa,
		      size_t *xa_len)
{
	struct setmeta_arg *a = arg;

	(void)xa;
	(void)xa_len;
	if (a->mask & STORE_META_MODE)
		m->mode = (m->mode & ~07777u) | (a->m->mode & 07777);
	if (a->mask & STORE_META_UID)
		m->uid = a->m->uid;
	if (a->mask & STORE_META_GID)
		m->gid = a->m->gid;
	if (a->mask & STORE_META_ATIME)
		m->atime_ns = a->m->atime_ns;
	if (a->mask & STORE_META_MTIME)
		m->mtime_ns = a->m->mtime_ns;
	if (a->mask & STORE_META_CTIME)
		m->ctime_ns = a->m->ctime_ns;
	return 0;
}

int es_setmeta(struct es *es, const char *key, const struct store_meta *meta,
	       unsigned mask)
{
	struct setmeta_arg a = {meta, mask};

	return meta_rmw(es, key, setmeta_fn, &a);
}

/* ---- xattrs: name length (u16), value length (u32), name, value ------------ */

/* The record at @p: its name's length *n and its value's *v.
 * @return 1 a record, 0 the end, -EUCLEAN one that runs past @len. */
static int xa_rec(const uint8_t *xa, size_t len, size_t p, size_t *n,
		  size_t *v)
{
	if (p >= len)
		return 0;
	if (len - p < 6)
		return -EUCLEAN;
	*n = (size_t)xa[p] | (size_t)xa[p + 1] << 8;
	*v = (size_t)xa[p + 2] | (size_t)xa[p + 3] << 8 |
	     (size_t)xa[p + 4] << 16 | (size_t)xa[p + 5] << 24;
	return len - p - 6 < *n + *v ? -EUCLEAN : 1;
}

static int xa_find(const uint8_t *xa, size_t len, const char *name,
		   size_t *off, size_t *rec_len, const uint8_t **val,
		   size_t *vlen)
{
	size_t nl = strlen(name), p = 0, n, v;
	int r;

	while ((r = xa_rec(xa, len, p, &n, &v)) == 1) {
		if (n == nl && memcmp(xa + p + 6, name, n) == 0) {
			*off = p;
			*rec_len = 6 + n + v;
			*val = xa + p + 6 + n;
			*vlen = v;
			return 0;
		}
		p += 6 + n + v;
	}
	return r < 0 ? r : -ENODATA;
}

struct setx_arg {
	const char *name;
	const void *value;
	size_t size;
	int flags;
	int remove;
};

static int setx_fn(void *arg, struct store_meta *m, uint8_t **xa,
		   size_t *xa_len)
{
	struct setx_arg *a = arg;
	size_t off = 0, rl = 0, vl, nl = strlen(a->name);
	const uint8_t *val;
	int rc = xa_find(*xa, *xa_len, a->name, &off, &rl, &val, &vl);
	uint8_t *n;
	size_t nlen;

	(void)m;
	if (rc == -EUCLEAN)
		return -EIO;
	if (a->remove && rc == -ENODATA)
		return -ENODATA;
	if (!a->remove && rc == 0 && (a->flags & XATTR_CREATE))
		return -EEXIST;
	if (!a->remove && rc == -ENODATA && (a->flags & XATTR_REPLACE))
		return -ENODATA;
	nlen = *xa_len - (rc == 0 ? rl : 0) +
	       (a->remove ? 0 : 6 + nl + a->size);
	if (nlen > STORE_XATTR_TOTAL_MAX)
		return -ENOSPC;
	n = malloc(nlen ? nlen : 1);
	if (!n)
		return -ENOMEM;
	if (rc == 0) {
		memcpy(n, *xa, off);
		memcpy(n + off, *xa + off + rl, *xa_len - off - rl);
	} else if (*xa_len) {
		memcpy(n, *xa, *xa_len);
	}
	if (!a->remove) {
		uint8_t *p = n + nlen - (6 + nl + a->size);
		p[0] = (uint8_t)nl;
		p[1] = (uint8_t)(nl >> 8);
		for (int i = 0; i < 4; i++)
			p[2 + i] = (uint8_t)(a->size >> (8 * i));
		memcpy(p + 6, a->name, nl);
		if (a->size)
			memcpy(p + 6 + nl, a->value, a->size);
	}
	free(*xa);
	*xa = n;
	*xa_len = nlen;
	return 0;
}

int es_setxattr(struct es *es, const char *key, const char *name,
		const void *value, size_t size, int flags)
{
	struct setx_arg a = {name, value, size, flags, 0};
	size_t nl = strlen(name);

	if (!nl || nl > STORE_XATTR_NAME_MAX)
		return -ERANGE;
	if (size > STORE_XATTR_VALUE_MAX)
		return -E2BIG;
	return meta_rmw(es, key, setx_fn, &a);
}

int es_removexattr(struct es *es, const char *key, const char *name)
{
	struct setx_arg a = {name, NULL, 0, 0, 1};

	return meta_rmw(es, key, setx_fn, &a);
}

ssize_t es_getxattr(struct es *es, const char *key, const char *name,
		    void *value, size_t size)
{
	const uint8_t *val;
	size_t off, rl, vl;
	struct es_view v;
	ssize_t rc = es_view_read(es, key, &v, 1);

	if (rc < 0)
		;
	else if (!v.has_m) {
		rc = -ENOENT;
	} else {
		rc = xa_find(v.xa, v.xa_len, name, &off, &rl, &val, &vl);
		if (rc == 0) {
			if (size && vl > size)
				rc = -ERANGE;
			else {
				if (size && vl)
					memcpy(value, val, vl);
				rc = (ssize_t)vl;
			}
		} else if (rc == -EUCLEAN) {
			rc = -EIO;
		}
	}
	es_view_free(&v);
	return rc;
}

ssize_t es_listxattr(struct es *es, const char *key, char *list, size_t size)
{
	struct es_view v;
	size_t p = 0, total = 0, n, l;
	ssize_t rc = es_view_read(es, key, &v, 1);
	int r = 0;

	if (rc == 0 && !v.has_m)
		rc = -ENOENT;
	while (rc == 0 && (r = xa_rec(v.xa, v.xa_len, p, &n, &l)) == 1) {
		if (size && total + n + 1 > size) {
			rc = -ERANGE;
			break;
		}
		if (size) {
			memcpy(list + total, v.xa + p + 6, n);
			list[total + n] = 0;
		}
		total += n + 1;
		p += 6 + n + l;
	}
	if (rc == 0 && r < 0)
		rc = -EIO;
	es_view_free(&v);
	return rc < 0 ? rc : (ssize_t)total;
}

/* ---- totals --------------------------------------------------------------------- */

int es_stats(struct es *es, struct store_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&es->mu);
	for (size_t b = 0; b < es->cap; b++)
		for (struct es_ent *e = es->tab[b]; e; e = e->next) {
			if (e->has_m && S_ISDIR(e->meta.mode))
				out->dirs++;
			else if (e->has_m)
				out->records++;
			else if (e->tomb)
				out->tombstones++;
			if (e->has_r) {
				out->versions_kept++;
				out->log_bytes += e->content ? e->content->len
							     : 0;
			}
		}
	pthread_mutex_unlock(&es->mu);
	return 0;
}

/* etcd's default quota is 2 GiB; what the prefix holds is counted. */
int es_statvfs(struct es *es, struct statvfs *out)
{
	struct store_stats s;
	const unsigned long bs = 4096, blocks = (2ul << 30) / 4096;
	unsigned long used;

	es_stats(es, &s);
	used = (unsigned long)(s.log_bytes / bs) + s.records + s.dirs;
	memset(out, 0, sizeof(*out));
	out->f_bsize = out->f_frsize = bs;
	out->f_blocks = blocks;
	out->f_bfree = out->f_bavail = used < blocks ? blocks - used : 0;
	out->f_files = blocks;
	out->f_ffree = out->f_favail = out->f_bfree;
	out->f_namemax = STORE_NAME_MAX;
	return 0;
}

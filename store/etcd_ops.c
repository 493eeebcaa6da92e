/* etcd_ops.c - the store's operations on etcd (etcd_store.h).
 *
 * Reads come from the cache (etcd_store.c).  Every change is one etcd
 * transaction whose compares say what the change was based on: the
 * mod_revision of each part it read from the cache.  When a compare
 * fails, the cache was behind (or someone changed the key): the key is
 * read again from etcd and the change is decided anew, up to ES_TRIES
 * times.  A check the fresh state fails (a stale basis, another mount's
 * lease) is the caller's error, never a retry.
 */
#include "etcd_es_int.h"
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- a view of one key, copied out of the cache -------------------------- */

struct view {
	int has_m, has_r, has_l;
	int64_t m_rev, m_create, r_rev, t_rev, l_create, l_lease;
	struct store_meta meta;
	uint8_t *xa;            /* malloc'ed copy */
	size_t xa_len;
	uint64_t version, tomb;
	int64_t commit_ns;
	uint8_t hash[16];
	struct es_buf *content; /* a reference */
};

static void view_get(struct es *es, const char *key, struct view *v)
{
	struct es_ent *e;

	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&es->mu);
	e = es_ent_find(es, key);
	if (e) {
		v->has_m = e->has_m;
		v->has_r = e->has_r;
		v->has_l = e->has_l;
		/* What etcd compares: an absent key's revisions are 0 (the
		 * cache keeps the revision of its delete, for ordering). */
		v->m_rev = e->has_m ? e->m_rev : 0;
		v->m_create = e->has_m ? e->m_create : 0;
		v->r_rev = e->has_r ? e->r_rev : 0;
		v->t_rev = e->tomb ? e->t_rev : 0;
		v->l_create = e->l_create;
		v->l_lease = e->l_lease;
		v->meta = e->meta;
		v->version = e->version;
		v->tomb = e->tomb;
		v->commit_ns = e->commit_ns;
		memcpy(v->hash, e->hash, 16);
		if (e->xa_len && (v->xa = malloc(e->xa_len))) {
			memcpy(v->xa, e->xa, e->xa_len);
			v->xa_len = e->xa_len;
		}
		if (e->has_r && e->content) {
			atomic_fetch_add(&e->content->refs, 1);
			v->content = e->content;
		}
	}
	pthread_mutex_unlock(&es->mu);
}

static void view_free(struct view *v)
{
	free(v->xa);
	es_buf_put(v->content);
	memset(v, 0, sizeof(*v));
}

static int is_dir(const struct view *v)
{
	return v->has_m && S_ISDIR(v->meta.mode);
}

static uint64_t last_version(const struct view *v)
{
	uint64_t lv = v->has_r ? v->version : 0;

	return v->tomb > lv ? v->tomb : lv;
}

/* The parent of @key ("" for a top-level key), malloc'ed. */
static char *parent_of(const char *key)
{
	const char *s = strrchr(key, '/');

	return s ? strndup(key, (size_t)(s - key)) : strdup("");
}

static void fill_stat(const struct view *v, struct store_stat *out)
{
	memset(out, 0, sizeof(*out));
	out->meta = v->meta;
	if (v->has_r) {
		out->version = v->version;
		out->size = v->content ? v->content->len : 0;
		memcpy(out->hash, v->hash, 16);
		out->commit_ns = v->commit_ns;
	}
}

/* ---- building a transaction ---------------------------------------------- */

struct tb {
	struct es *es;
	struct etcdc_cmp *c;
	struct etcdc_op *o;
	size_t nc, no, cap_c, cap_o;
	void **own;            /* keys and values to free */
	size_t nown, cap_own;
	int err;
};

static void *tb_own(struct tb *t, void *p)
{
	if (!p) {
		t->err = -ENOMEM;
		return NULL;
	}
	if (t->nown == t->cap_own) {
		size_t nc = t->cap_own ? 2 * t->cap_own : 32;
		void **n = realloc(t->own, nc * sizeof(*n));
		if (!n) {
			free(p);
			t->err = -ENOMEM;
			return NULL;
		}
		t->own = n;
		t->cap_own = nc;
	}
	t->own[t->nown++] = p;
	return p;
}

static int tb_grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? 2 * *cap : 16;
	void *p = realloc(*arr, nc * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

static void tb_cmp(struct tb *t, char kind, const char *key,
		   enum etcdc_target target, enum etcdc_cmp_op op, int64_t num)
{
	size_t kl;
	char *k;

	if (t->err)
		return;
	if (tb_grow((void **)&t->c, &t->cap_c, t->nc, sizeof(*t->c)) < 0) {
		t->err = -ENOMEM;
		return;
	}
	k = tb_own(t, es_k(t->es, kind, key, &kl));
	if (!k)
		return;
	memset(&t->c[t->nc], 0, sizeof(t->c[0]));
	t->c[t->nc].key = k;
	t->c[t->nc].key_len = kl;
	t->c[t->nc].target = target;
	t->c[t->nc].op = op;
	t->c[t->nc].num = num;
	t->nc++;
}

/* A put of @value (malloc'ed; the builder takes it) or, with @value
 * NULL and @del set, a delete. */
static void tb_op(struct tb *t, char kind, const char *key, void *value,
		  size_t vlen, int64_t lease, int del)
{
	size_t kl;
	char *k;

	if (!del && !tb_own(t, value))
		return;
	if (t->err)
		return;
	if (tb_grow((void **)&t->o, &t->cap_o, t->no, sizeof(*t->o)) < 0) {
		t->err = -ENOMEM;
		return;
	}
	k = tb_own(t, es_k(t->es, kind, key, &kl));
	if (!k)
		return;
	memset(&t->o[t->no], 0, sizeof(t->o[0]));
	t->o[t->no].type = del ? ETCDC_OP_DELETE : ETCDC_OP_PUT;
	t->o[t->no].key = k;
	t->o[t->no].key_len = kl;
	t->o[t->no].value = value;
	t->o[t->no].value_len = vlen;
	t->o[t->no].lease = lease;
	t->no++;
}

static void tb_put_meta(struct tb *t, const char *key,
			const struct store_meta *m, const uint8_t *xa,
			size_t xa_len)
{
	size_t vl = 0;
	uint8_t *v = es_enc_meta(m, xa, xa_len, &vl);

	tb_op(t, 'm', key, v, vl, 0, 0);
}

static void tb_put_tomb(struct tb *t, const char *key, uint64_t version)
{
	char buf[32];
	size_t n;

	es_enc_tomb(version, buf, &n);
	tb_op(t, 't', key, strndup(buf, n), n, 0, 0);
}

static void tb_free(struct tb *t)
{
	for (size_t i = 0; i < t->nown; i++)
		free(t->own[i]);
	free(t->own);
	free(t->c);
	free(t->o);
	memset(t, 0, sizeof(*t));
}

/* Run it.  @return 1 committed (applied to the cache), 0 a compare
 * failed, or -errno (-ETIMEDOUT/-EIO: it may or may not have landed). */
static int tb_run(struct tb *t, int64_t *rev)
{
	struct etcdc_txn_result r;
	struct etcdc *c;
	int rc;

	if (t->err)
		return t->err;
	if (t->no > ES_TXN_OPS || t->nc > ES_TXN_OPS)
		return -EXDEV;
	memset(&r, 0, sizeof(r));
	c = es_client(t->es);
	rc = etcdc_txn(c, t->c, t->nc, t->o, t->no, NULL, 0, &r);
	es_client_put(t->es, c);
	if (rc == 0 && r.succeeded) {
		es_apply_ops(t->es, t->o, t->no, r.revision);
		if (rev)
			*rev = r.revision;
		rc = 1;
	}
	etcdc_txn_result_free(&r);
	return rc;
}

/* A change etcd did not answer: did r/KEY get our commit's @nonce? */
static int landed(struct es *es, const char *key, uint64_t nonce)
{
	struct etcdc_kv kv;
	struct etcdc *c;
	uint64_t ver, n;
	size_t kl;
	char *k = es_k(es, 'r', key, &kl);
	int rc;

	if (!k)
		return 0;
	c = es_client(es);
	rc = etcdc_get(c, k, kl, &kv, NULL);
	es_client_put(es, c);
	free(k);
	if (rc < 0)
		return 0;
	rc = es_dec_rec_nonce(kv.value, kv.value_len, &ver, &n) == 0 &&
	     n == nonce;
	etcdc_kv_clear(&kv);
	if (rc)
		es_refresh(es, key);
	return rc;
}

/* Take back our write lease (an l/ key we created at @create): after it
 * is gone, a commit of that change that is still in flight can never
 * land.  @return 1 taken back, 0 it was not there, -errno. */
static int fence(struct es *es, const char *key, int64_t create)
{
	struct tb t = {.es = es};
	int rc;

	tb_cmp(&t, 'l', key, ETCDC_CREATE, ETCDC_EQUAL, create);
	tb_op(&t, 'l', key, NULL, 0, 0, 1);
	rc = tb_run(&t, NULL);
	tb_free(&t);
	return rc;
}

/* Compares that another mount holds no write lease on @key; a lease of
 * this mount (@ours_ok) may be there. */
static void tb_no_lease(struct tb *t, const char *key, const struct view *v,
			int ours_ok)
{
	if (ours_ok && v->has_l && v->l_lease == t->es->lease)
		tb_cmp(t, 'l', key, ETCDC_LEASE, ETCDC_EQUAL, t->es->lease);
	else
		tb_cmp(t, 'l', key, ETCDC_CREATE, ETCDC_EQUAL, 0);
}

static int other_lease(struct es *es, const struct view *v)
{
	return v->has_l && v->l_lease != es->lease;
}

static int ro(struct es *es)
{
	return es->o.read_only ? -EROFS : 0;
}

/* ---- reading ------------------------------------------------------------- */

int es_stat(struct es *es, const char *key, struct store_stat *out)
{
	struct view v;
	int rc = key_check(key);

	if (rc == 0)
		rc = es_fresh(es);
	if (rc < 0)
		return rc;
	view_get(es, key, &v);
	rc = v.has_m ? 0 : -ENOENT;
	if (rc == 0)
		fill_stat(&v, out);
	view_free(&v);
	return rc;
}

int es_last_version(struct es *es, const char *key, uint64_t *version)
{
	struct view v;
	int rc = key_check(key);

	*version = 0;
	if (rc < 0)
		return rc;
	view_get(es, key, &v);
	*version = last_version(&v);
	view_free(&v);
	return 0;
}

int es_snap_fd(struct es *es, const char *key, uint64_t version, int *fd,
	       struct store_stat *out)
{
	struct view v;
	int rc = key_check(key);

	*fd = -1;
	if (rc == 0)
		rc = es_fresh(es);
	if (rc < 0)
		return rc;
	view_get(es, key, &v);
	if (!v.has_m)
		rc = -ENOENT;
	else if (is_dir(&v))
		rc = -EISDIR;
	else if (!v.has_r || (version && version != v.version))
		rc = -ENOENT; /* etcd keeps no older versions for us */
	if (rc == 0) {
		size_t len = v.content ? v.content->len : 0, done = 0;
		*fd = memfd_create("recfs-snap", MFD_CLOEXEC);
		if (*fd < 0)
			rc = -errno;
		while (rc == 0 && done < len) {
			ssize_t w = write(*fd, v.content->data + done,
					  len - done);
			if (w < 0)
				rc = errno == ENOSPC ? -ENOMEM : -errno;
			else
				done += (size_t)w;
		}
		if (rc < 0 && *fd >= 0) {
			close(*fd);
			*fd = -1;
		}
		if (rc == 0)
			fill_stat(&v, out);
	}
	view_free(&v);
	return rc;
}

int es_get(struct es *es, const char *key, char **buf, size_t *len,
	   struct store_stat *stat)
{
	struct view v;
	int rc = key_check(key);

	*buf = NULL;
	*len = 0;
	if (rc == 0)
		rc = es_fresh(es);
	if (rc < 0)
		return rc;
	view_get(es, key, &v);
	if (!v.has_m)
		rc = -ENOENT;
	else if (is_dir(&v))
		rc = -EISDIR;
	else if (!v.has_r)
		rc = -ENOENT;
	if (rc == 0) {
		size_t n = v.content ? v.content->len : 0;
		*buf = malloc(n + 1);
		if (!*buf) {
			rc = -ENOMEM;
		} else {
			if (n)
				memcpy(*buf, v.content->data, n);
			(*buf)[n] = 0;
			*len = n;
			if (stat)
				fill_stat(&v, stat);
		}
	}
	view_free(&v);
	return rc;
}

static int dirent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_dirent *)a)->name,
		      ((const struct store_dirent *)b)->name);
}

/* Children of @dir: one pass over the cache.  A directory of the cache
 * has no child list of its own (a listing costs the whole prefix). */
int es_list(struct es *es, const char *dir, struct store_dirent **ents,
	    size_t *n)
{
	struct store_dirent *arr = NULL;
	size_t cnt = 0, cap = 0, dl = strlen(dir);
	struct es_ent *d;
	int rc = es_fresh(es);

	*ents = NULL;
	*n = 0;
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&es->mu);
	d = es_ent_find(es, dir);
	if (!d || !d->has_m)
		rc = -ENOENT;
	else if (!S_ISDIR(d->meta.mode))
		rc = -ENOTDIR;
	for (size_t b = 0; rc == 0 && b < es->cap; b++)
		for (struct es_ent *e = es->tab[b]; e && rc == 0; e = e->next) {
			const char *name = e->key;
			if (!e->has_m || !*e->key)
				continue;
			if (dl) {
				if (strncmp(e->key, dir, dl) != 0 ||
				    e->key[dl] != '/')
					continue;
				name = e->key + dl + 1;
			}
			if (strchr(name, '/'))
				continue;
			if (cnt == cap) {
				size_t nc = cap ? 2 * cap : 16;
				void *p = realloc(arr, nc * sizeof(*arr));
				if (!p) {
					rc = -ENOMEM;
					break;
				}
				arr = p;
				cap = nc;
			}
			arr[cnt].name = strdup(name);
			if (!arr[cnt].name) {
				rc = -ENOMEM;
				break;
			}
			arr[cnt].mode = e->meta.mode;
			arr[cnt].version = e->has_r ? e->version : 0;
			cnt++;
		}
	pthread_mutex_unlock(&es->mu);
	if (rc < 0) {
		store_list_free(arr, cnt);
		return rc;
	}
	if (cnt)
		qsort(arr, cnt, sizeof(*arr), dirent_cmp);
	*ents = arr;
	*n = cnt;
	return 0;
}

int es_history(struct es *es, const char *key, struct store_hist **h,
	       size_t *n)
{
	struct view v;
	int rc = key_check(key);

	*h = NULL;
	*n = 0;
	if (rc < 0)
		return rc;
	view_get(es, key, &v);
	if (v.has_r) {
		*h = calloc(1, sizeof(**h));
		if (!*h) {
			rc = -ENOMEM;
		} else {
			(*h)->version = v.version;
			(*h)->size = v.content ? v.content->len : 0;
			(*h)->commit_ns = v.commit_ns;
			memcpy((*h)->hash, v.hash, 16);
			*n = 1;
		}
	} else if (!v.tomb) {
		rc = -ENOENT;
	}
	view_free(&v);
	return rc;
}

/* ---- writing a record ------------------------------------------------------ */

/* Is the view's state what @expect says the change is based on? */
static int expect_ok(const struct view *v, uint64_t expect)
{
	if (expect == STORE_ANY)
		return 1;
	if (expect == STORE_ABSENT)
		return !v->has_r;
	return v->has_r && v->version == expect;
}

static int parent_ok(const struct view *pv)
{
	if (!pv->has_m)
		return -ENOENT;
	return S_ISDIR(pv->meta.mode) ? 0 : -ENOTDIR;
}

static size_t size_limit(void)
{
	return ES_REQUEST_MAX - ES_SLACK;
}

/*
 * Write @len bytes as @key's next version, checked against @expect.  If
 * @lock is not 0 the change holds the write lease whose l/ key etcd
 * created at that revision; the commit compares it and removes it.  New
 * keys get @meta (or defaults); existing ones keep theirs with new times.
 * @keep_lock_ok: an l/ of this mount may stand (appends, truncates).
 */
static int write_rec(struct es *es, const char *key, uint64_t expect,
		     const void *data, size_t len,
		     const struct store_meta *meta, int64_t lock,
		     int keep_lock_ok, uint64_t *newv)
{
	int refreshed = 0, rc = 0;
	char *pkey;

	if ((rc = key_check(key)) < 0 || (rc = ro(es)) < 0)
		return rc;
	if (!*key)
		return -EISDIR;
	pkey = parent_of(key);
	if (!pkey)
		return -ENOMEM;
	for (int i = 0; i < ES_TRIES; i++) {
		struct view v, pv;
		struct store_meta m;
		struct tb t = {.es = es};
		uint64_t nv, nonce;
		int64_t now = es_now_ns();
		size_t xl = 0;

		view_get(es, key, &v);
		view_get(es, pkey, &pv);
		rc = parent_ok(&pv);
		if (rc == 0 && is_dir(&v))
			rc = -EISDIR;
		if (rc == 0 && !expect_ok(&v, expect))
			rc = -EAGAIN;
		if (rc == 0 && !lock && v.has_l &&
		    (other_lease(es, &v) || !keep_lock_ok))
			rc = -EBUSY;
		if (rc == 0 && len + v.xa_len > size_limit())
			rc = -EFBIG;
		/* Our lease is gone (it expired, or was revoked): the
		 * change must not land.  The cache learns of that from its
		 * watch, or from the refresh after a failed compare. */
		if (rc == 0 && lock && (!v.has_l || v.l_create != lock))
			rc = refreshed ? -EIO : -EAGAIN;
		if (rc < 0) {
			view_free(&v);
			view_free(&pv);
			if (refreshed || rc == -EFBIG)
				break;
			/* The cache may be behind: decide on etcd's state. */
			es_refresh(es, key);
			es_refresh(es, pkey);
			refreshed = 1;
			continue;
		}
		nv = v.has_r ? v.version + 1 : last_version(&v) + 1;
		nonce = es_next_nonce(es);
		if (v.has_m) {
			m = v.meta;
		} else if (meta) {
			m = *meta;
		} else {
			memset(&m, 0, sizeof(m));
			m.mode = S_IFREG | 0644;
			m.atime_ns = now;
		}
		if (!meta || v.has_m)
			m.mtime_ns = m.ctime_ns = now;
		uint8_t *rv = es_enc_rec(nv, now, nonce, data, len, &xl);
		tb_cmp(&t, 'r', key, ETCDC_MOD, ETCDC_EQUAL, v.r_rev);
		tb_cmp(&t, 'm', key, ETCDC_MOD, ETCDC_EQUAL, v.m_rev);
		if (!v.has_r)
			tb_cmp(&t, 't', key, ETCDC_MOD, ETCDC_EQUAL, v.t_rev);
		if (lock)
			tb_cmp(&t, 'l', key, ETCDC_CREATE, ETCDC_EQUAL, lock);
		else
			tb_no_lease(&t, key, &v, keep_lock_ok);
		/* A new key changes its directory: that also fences a
		 * racing rmdir, which compares the directory's m/. */
		if (!v.has_m)
			tb_cmp(&t, 'm', pkey, ETCDC_MOD, ETCDC_EQUAL, pv.m_rev);
		tb_op(&t, 'r', key, rv, xl, 0, 0);
		tb_put_meta(&t, key, &m, v.xa, v.xa_len);
		if (!v.has_m) {
			struct store_meta pm = pv.meta;
			pm.mtime_ns = pm.ctime_ns = now;
			tb_put_meta(&t, pkey, &pm, pv.xa, pv.xa_len);
		}
		if (lock)
			tb_op(&t, 'l', key, NULL, 0, 0, 1);
		view_free(&v);
		view_free(&pv);
		rc = tb_run(&t, NULL);
		tb_free(&t);
		if (rc == 1) {
			*newv = nv;
			rc = 0;
			break;
		}
		if (rc == -ETIMEDOUT || rc == -EIO) {
			/* Unknown outcome: fence it, then look. */
			if (lock && fence(es, key, lock) == 1)
				break; /* it cannot land any more */
			if (landed(es, key, nonce)) {
				*newv = nv;
				rc = 0;
			}
			break;
		}
		if (rc < 0)
			break;
		es_refresh(es, key);
		es_refresh(es, pkey);
		refreshed = 1;
		rc = -EAGAIN;
	}
	free(pkey);
	return rc;
}

int es_put(struct es *es, const char *key, uint64_t expect, const void *data,
	   size_t len, const struct store_meta *meta, uint64_t *newv)
{
	if (meta && !S_ISREG(meta->mode) && !S_ISLNK(meta->mode))
		return -EINVAL;
	return write_rec(es, key, expect, data, len, meta, 0, 0, newv);
}

/* Read-modify-write of a record's content that never goes stale
 * (appends), or is checked against @expect (truncate by path). */
static int rewrite(struct es *es, const char *key, uint64_t expect,
		   const void *add, size_t add_len, int64_t new_size,
		   uint64_t *newv)
{
	int rc = -EAGAIN;

	for (int i = 0; i < ES_TRIES && rc == -EAGAIN; i++) {
		struct view v;
		size_t old, n;
		char *buf;

		if (i)
			es_refresh(es, key);
		view_get(es, key, &v);
		if (!v.has_m || (!v.has_r && !is_dir(&v))) {
			view_free(&v);
			if (i == 0)
				continue; /* the cache may be behind */
			return -ENOENT;
		}
		if (is_dir(&v)) {
			view_free(&v);
			return -EISDIR;
		}
		old = v.content ? v.content->len : 0;
		n = new_size >= 0 ? (size_t)new_size : old + add_len;
		if (n > size_limit()) {
			view_free(&v);
			return -EFBIG;
		}
		buf = calloc(1, n ? n : 1);
		if (!buf) {
			view_free(&v);
			return -ENOMEM;
		}
		if (old && v.content)
			memcpy(buf, v.content->data, old < n ? old : n);
		if (add_len)
			memcpy(buf + old, add, add_len);
		uint64_t basis = expect == STORE_ANY ? v.version : expect;
		view_free(&v);
		rc = write_rec(es, key, basis, buf, n, NULL, 0, 1, newv);
		free(buf);
		if (expect != STORE_ANY)
			break; /* a checked change is not retried */
	}
	return rc;
}

int es_truncate(struct es *es, const char *key, uint64_t expect,
		uint64_t size, uint64_t *newv)
{
	if ((int64_t)size < 0)
		return -EFBIG;
	return rewrite(es, key, expect, NULL, 0, (int64_t)size, newv);
}

int es_append(struct es *es, const char *key, const void *buf, size_t len,
	      uint64_t *newv)
{
	return rewrite(es, key, STORE_ANY, buf, len, -1, newv);
}

int es_delete(struct es *es, const char *key, uint64_t expect,
	      uint64_t *newv)
{
	int refreshed = 0, rc;

	if ((rc = key_check(key)) < 0 || (rc = ro(es)) < 0)
		return rc;
	for (int i = 0; i < ES_TRIES; i++) {
		struct tb t = {.es = es};
		struct view v;

		view_get(es, key, &v);
		rc = 0;
		if (!v.has_m)
			rc = -ENOENT;
		else if (is_dir(&v))
			rc = -EISDIR;
		else if (!expect_ok(&v, expect == STORE_ABSENT ? STORE_ANY
							      : expect))
			rc = -EAGAIN;
		else if (other_lease(es, &v))
			rc = -EBUSY;
		if (rc < 0) {
			view_free(&v);
			if (refreshed)
				return rc;
			es_refresh(es, key);
			refreshed = 1;
			continue;
		}
		uint64_t nv = v.version + 1;
		tb_cmp(&t, 'r', key, ETCDC_MOD, ETCDC_EQUAL, v.r_rev);
		tb_cmp(&t, 'm', key, ETCDC_MOD, ETCDC_EQUAL, v.m_rev);
		tb_no_lease(&t, key, &v, 1);
		tb_op(&t, 'r', key, NULL, 0, 0, 1);
		tb_op(&t, 'm', key, NULL, 0, 0, 1);
		tb_put_tomb(&t, key, nv);
		if (v.has_l)
			tb_op(&t, 'l', key, NULL, 0, 0, 1);
		view_free(&v);
		rc = tb_run(&t, NULL);
		tb_free(&t);
		if (rc == 1) {
			*newv = nv;
			return 0;
		}
		if (rc < 0)
			return rc == -ETIMEDOUT ? -ETIMEDOUT : rc;
		es_refresh(es, key);
		refreshed = 1;
	}
	return -EAGAIN;
}

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
			if (cnt == cap) {
				size_t nc = cap ? 2 * cap : 16;
				void *p = realloc(arr, nc * sizeof(*arr));
				if (!p) {
					rc = -ENOMEM;
					break;
				}
				arr = p;
				cap = nc;
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
static int move_rec(struct tb *t, const char *from, const char *to,
		    int64_t now, int cont, uint64_t *newv)
{
	struct view f, d;
	size_t xl = 0;
	int rc = 0;

	view_get(t->es, from, &f);
	view_get(t->es, to, &d);
	uint64_t nv = last_version(&d) + 1;
	if (cont && f.has_r && f.version + 1 > nv)
		nv = f.version + 1; /* a directory's records continue */
	if (other_lease(t->es, &f) || other_lease(t->es, &d))
		rc = -EBUSY;
	if (rc == 0) {
		struct store_meta m = f.meta;
		m.ctime_ns = now;
		tb_cmp(t, 'r', from, ETCDC_MOD, ETCDC_EQUAL, f.r_rev);
		tb_cmp(t, 'm', from, ETCDC_MOD, ETCDC_EQUAL, f.m_rev);
		tb_cmp(t, 'r', to, ETCDC_MOD, ETCDC_EQUAL, d.r_rev);
		tb_cmp(t, 'm', to, ETCDC_MOD, ETCDC_EQUAL, d.m_rev);
		tb_cmp(t, 't', to, ETCDC_MOD, ETCDC_EQUAL, d.t_rev);
		tb_cmp(t, 'l', from, ETCDC_CREATE, ETCDC_EQUAL, 0);
		tb_cmp(t, 'l', to, ETCDC_CREATE, ETCDC_EQUAL, 0);
		uint8_t *rv = es_enc_rec(nv, now, es_next_nonce(t->es),
					 f.content ? f.content->data : "",
					 f.content ? f.content->len : 0, &xl);
		tb_op(t, 'r', to, rv, xl, 0, 0);
		tb_put_meta(t, to, &m, f.xa, f.xa_len);
		tb_op(t, 'r', from, NULL, 0, 0, 1);
		tb_op(t, 'm', from, NULL, 0, 0, 1);
		tb_put_tomb(t, from, f.version + 1);
		if (newv)
			*newv = nv;
	}
	view_free(&f);
	view_free(&d);
	return rc;
}

static int rename_once(struct es *es, const char *from, uint64_t ef,
		       const char *to, uint64_t et, uint64_t *newv)
{
	struct view f, d, pd;
	struct tb t = {.es = es};
	char *pto = parent_of(to);
	int64_t now = es_now_ns();
	int rc = 0;

	if (!pto)
		return -ENOMEM;
	view_get(es, from, &f);
	view_get(es, to, &d);
	view_get(es, pto, &pd);
	if (!f.has_m)
		rc = -ENOENT;
	else if ((rc = parent_ok(&pd)) < 0)
		;
	else if (is_dir(&f) && d.has_m && !is_dir(&d))
		rc = -ENOTDIR;
	else if (!is_dir(&f) && is_dir(&d))
		rc = -EISDIR;
	else if (!is_dir(&f) && (!expect_ok(&f, ef == STORE_ABSENT ? STORE_ANY
								 : ef) ||
				 !expect_ok(&d, et)))
		rc = -EAGAIN;
	if (rc < 0)
		goto out;
	/* The target directory changes: fences a racing rmdir of it. */
	tb_cmp(&t, 'm', pto, ETCDC_MOD, ETCDC_EQUAL, pd.m_rev);
	if (!is_dir(&f)) {
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
		rc = below(es, from, &keys, &n);
		tb_cmp(&t, 'm', from, ETCDC_MOD, ETCDC_EQUAL, f.m_rev);
		tb_cmp(&t, 'm', to, ETCDC_MOD, ETCDC_EQUAL, d.m_rev);
		tb_put_meta(&t, to, &f.meta, f.xa, f.xa_len);
		tb_op(&t, 'm', from, NULL, 0, 0, 1);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			struct view c;
			char *nk = malloc(strlen(to) + strlen(keys[i]) + 1);
			if (!nk) {
				rc = -ENOMEM;
				break;
			}
			sprintf(nk, "%s%s", to, keys[i] + fl);
			view_get(es, keys[i], &c);
			if (is_dir(&c)) {
				tb_cmp(&t, 'm', keys[i], ETCDC_MOD,
				       ETCDC_EQUAL, c.m_rev);
				tb_put_meta(&t, nk, &c.meta, c.xa, c.xa_len);
				tb_op(&t, 'm', keys[i], NULL, 0, 0, 1);
			} else {
				rc = move_rec(&t, keys[i], nk, now, 1, NULL);
			}
			view_free(&c);
			free(nk);
		}
		free_keys(keys, n);
		*newv = 0;
	}
	if (rc == 0) {
		rc = tb_run(&t, NULL);
		rc = rc == 1 ? 0 : rc == 0 ? 1 : rc; /* 1: a compare failed */
	}
out:
	tb_free(&t);
	view_free(&f);
	view_free(&d);
	view_free(&pd);
	free(pto);
	return rc;
}

int es_rename(struct es *es, const char *from, uint64_t expect_from,
	      const char *to, uint64_t expect_to, uint64_t *newv)
{
	int refreshed = 0, rc;
	char *pto;

	if ((rc = key_check(from)) < 0 || (rc = key_check(to)) < 0 ||
	    (rc = ro(es)) < 0)
		return rc;
	if (!*from || !*to)
		return -EBUSY;
	*newv = 0;
	if (strcmp(from, to) == 0)
		return 0;
	pto = parent_of(to);
	if (!pto)
		return -ENOMEM;
	for (int i = 0; i < ES_TRIES; i++) {
		rc = rename_once(es, from, expect_from, to, expect_to, newv);
		if (rc == 0 || (rc < 0 && (refreshed || rc == -EXDEV ||
					   rc == -EINVAL || rc == -ENOMEM)))
			break;
		/* A failed check may come from a cache that is behind, a
		 * failed compare from a race: decide again on fresh state.
		 * Keys below a moved directory come with the watch. */
		if (rc == 1 && i)
			poll(NULL, 0, 20);
		es_refresh(es, from);
		es_refresh(es, to);
		es_refresh(es, pto);
		refreshed = rc < 0;
		rc = -EAGAIN;
	}
	free(pto);
	return rc;
}

/* ---- directories and metadata --------------------------------------------------- */

int es_mkdir(struct es *es, const char *key, const struct store_meta *meta)
{
	int refreshed = 0, rc;
	char *pkey;

	if ((rc = key_check(key)) < 0 || (rc = ro(es)) < 0)
		return rc;
	if (!*key)
		return -EEXIST;
	pkey = parent_of(key);
	if (!pkey)
		return -ENOMEM;
	for (int i = 0; i < ES_TRIES; i++) {
		struct tb t = {.es = es};
		struct view v, pv;
		struct store_meta m = *meta, pm;

		view_get(es, key, &v);
		view_get(es, pkey, &pv);
		rc = parent_ok(&pv);
		if (rc == 0 && (v.has_m || v.has_r))
			rc = -EEXIST;
		if (rc == 0) {
			m.mode = S_IFDIR | (m.mode & 07777);
			pm = pv.meta;
			pm.mtime_ns = pm.ctime_ns = es_now_ns();
			tb_cmp(&t, 'm', key, ETCDC_CREATE, ETCDC_EQUAL, 0);
			tb_cmp(&t, 'r', key, ETCDC_CREATE, ETCDC_EQUAL, 0);
			tb_cmp(&t, 'm', pkey, ETCDC_MOD, ETCDC_EQUAL, pv.m_rev);
			tb_put_meta(&t, key, &m, NULL, 0);
			tb_put_meta(&t, pkey, &pm, pv.xa, pv.xa_len);
			rc = tb_run(&t, NULL);
			rc = rc == 1 ? 0 : rc == 0 ? 1 : rc;
		} else if (!refreshed) {
			rc = 1; /* the cache may be behind */
			refreshed = 1;
		}
		tb_free(&t);
		view_free(&v);
		view_free(&pv);
		if (rc <= 0)
			break;
		es_refresh(es, key);
		es_refresh(es, pkey);
		rc = -EIO;
	}
	free(pkey);
	return rc;
}

int es_rmdir(struct es *es, const char *key)
{
	int refreshed = 0, rc;

	if ((rc = key_check(key)) < 0 || (rc = ro(es)) < 0)
		return rc;
	if (!*key)
		return -EBUSY;
	for (int i = 0; i < ES_TRIES; i++) {
		struct tb t = {.es = es};
		struct view v;
		char **k = NULL;
		size_t n = 0;

		view_get(es, key, &v);
		rc = v.has_m ? (is_dir(&v) ? 0 : -ENOTDIR) : -ENOENT;
		if (rc == 0)
			rc = below(es, key, &k, &n);
		free_keys(k, n);
		if (rc == 0 && n)
			rc = -ENOTEMPTY;
		if (rc == 0) {
			/* A child made meanwhile changed our m/ (write_rec,
			 * es_mkdir): the compare catches it. */
			tb_cmp(&t, 'm', key, ETCDC_MOD, ETCDC_EQUAL, v.m_rev);
			tb_op(&t, 'm', key, NULL, 0, 0, 1);
			rc = tb_run(&t, NULL);
			rc = rc == 1 ? 0 : rc == 0 ? 1 : rc;
		} else if (!refreshed && rc != -ENOMEM) {
			rc = 1;
			refreshed = 1;
		}
		tb_free(&t);
		view_free(&v);
		if (rc <= 0)
			return rc;
		es_refresh(es, key);
	}
	return -EIO;
}

/* Read-modify-write of @key's m/: @fn edits a copy of the meta and
 * xattrs; it returns 0 to write, 1 to write nothing, or -errno. */
typedef int (*meta_fn)(void *arg, struct store_meta *m, uint8_t **xa,
		       size_t *xa_len);

static int meta_rmw(struct es *es, const char *key, meta_fn fn, void *arg)
{
	int rc;

	if ((rc = key_check(key)) < 0 || (rc = ro(es)) < 0)
		return rc;
	for (int i = 0; i < ES_TRIES; i++) {
		struct tb t = {.es = es};
		struct view v;

		if (i)
			es_refresh(es, key);
		view_get(es, key, &v);
		rc = v.has_m ? fn(arg, &v.meta, &v.xa, &v.xa_len) : -ENOENT;
		if (rc == 0) {
			tb_cmp(&t, 'm', key, ETCDC_MOD, ETCDC_EQUAL, v.m_rev);
			tb_put_meta(&t, key, &v.meta, v.xa, v.xa_len);
			rc = tb_run(&t, NULL);
			rc = rc == 1 ? 0 : rc == 0 ? 1 : rc;
		} else if (rc == -ENOENT && i == 0) {
			rc = 1; /* the cache may be behind: look again */
		}
		tb_free(&t);
		view_free(&v);
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

static int xa_find(const uint8_t *xa, size_t len, const char *name,
		   size_t *off, size_t *rec_len, const uint8_t **val,
		   size_t *vlen)
{
	size_t nl = strlen(name), p = 0;

	while (p + 6 <= len) {
		size_t n = (size_t)xa[p] | (size_t)xa[p + 1] << 8;
		size_t v = (size_t)xa[p + 2] | (size_t)xa[p + 3] << 8 |
			   (size_t)xa[p + 4] << 16 | (size_t)xa[p + 5] << 24;
		if (p + 6 + n + v > len)
			return -EUCLEAN;
		if (n == nl && memcmp(xa + p + 6, name, n) == 0) {
			*off = p;
			*rec_len = 6 + n + v;
			*val = xa + p + 6 + n;
			*vlen = v;
			return 0;
		}
		p += 6 + n + v;
	}
	return -ENODATA;
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
	struct view v;
	ssize_t rc = key_check(key);

	if (rc == 0)
		rc = es_fresh(es);
	if (rc < 0)
		return rc;
	view_get(es, key, &v);
	if (!v.has_m) {
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
	view_free(&v);
	return rc;
}

ssize_t es_listxattr(struct es *es, const char *key, char *list, size_t size)
{
	struct view v;
	size_t p = 0, total = 0;
	ssize_t rc = key_check(key);

	if (rc == 0)
		rc = es_fresh(es);
	if (rc < 0)
		return rc;
	view_get(es, key, &v);
	if (!v.has_m) {
		view_free(&v);
		return -ENOENT;
	}
	while (p + 6 <= v.xa_len) {
		size_t n = (size_t)v.xa[p] | (size_t)v.xa[p + 1] << 8;
		size_t l = (size_t)v.xa[p + 2] | (size_t)v.xa[p + 3] << 8 |
			   (size_t)v.xa[p + 4] << 16 |
			   (size_t)v.xa[p + 5] << 24;
		if (size) {
			if (total + n + 1 > size) {
				view_free(&v);
				return -ERANGE;
			}
			memcpy(list + total, v.xa + p + 6, n);
			list[total + n] = 0;
		}
		total += n + 1;
		p += 6 + n + l;
	}
	view_free(&v);
	return (ssize_t)total;
}

/* ---- staged changes ------------------------------------------------------------- */

int es_txn_begin(struct es *es, const char *key, int truncate,
		 struct es_txn **out)
{
	struct es_txn *t;
	struct view v;
	int rc;

	*out = NULL;
	if ((rc = key_check(key)) < 0 || (rc = ro(es)) < 0)
		return rc;
	view_get(es, key, &v);
	if (is_dir(&v)) {
		view_free(&v);
		return -EISDIR;
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->key = strdup(key))) {
		free(t);
		view_free(&v);
		return -ENOMEM;
	}
	t->es = es;
	if (!truncate && v.content && v.content->len) {
		t->cap = v.content->len;
		t->buf = malloc(t->cap);
		if (!t->buf) {
			view_free(&v);
			es_txn_abort(t);
			return -ENOMEM;
		}
		memcpy(t->buf, v.content->data, v.content->len);
		t->size = v.content->len;
	}
	view_free(&v);
	*out = t;
	return 0;
}

int es_txn_lease(struct es_txn *t, uint64_t expect)
{
	struct es *es = t->es;
	int refreshed = 0, rc = 0;

	if (t->lock_create)
		return 0;
	for (int i = 0; i < ES_TRIES; i++) {
		struct tb b = {.es = es};
		struct view v;
		int64_t rev = 0;

		view_get(es, t->key, &v);
		rc = 0;
		if (is_dir(&v))
			rc = -EISDIR;
		else if (!expect_ok(&v, expect))
			rc = -EAGAIN;
		else if (v.has_l)
			rc = -EBUSY;
		else if (!es->lease)
			rc = -EIO; /* our etcd lease is being renewed */
		if (rc < 0) {
			view_free(&v);
			if (refreshed || rc == -EIO || rc == -EISDIR)
				return rc;
			es_refresh(es, t->key);
			refreshed = 1;
			continue;
		}
		snprintf(t->lock_val, sizeof(t->lock_val), "%s %llu", es->id,
			 (unsigned long long)es_next_nonce(es));
		tb_cmp(&b, 'l', t->key, ETCDC_CREATE, ETCDC_EQUAL, 0);
		tb_cmp(&b, 'r', t->key, ETCDC_MOD, ETCDC_EQUAL, v.r_rev);
		tb_op(&b, 'l', t->key, strdup(t->lock_val),
		      strlen(t->lock_val), es->lease, 0);
		view_free(&v);
		rc = tb_run(&b, &rev);
		tb_free(&b);
		if (rc == 1) {
			t->lock_create = rev;
			return 0;
		}
		if (rc < 0) {
			/* Unknown outcome: if our l/ is there, we hold it. */
			struct etcdc_kv kv;
			struct etcdc *c = es_client(es);
			size_t kl;
			char *k = es_k(es, 'l', t->key, &kl);
			int g = k ? etcdc_get(c, k, kl, &kv, NULL) : -ENOMEM;
			es_client_put(es, c);
			free(k);
			if (g == 0 && kv.value_len == strlen(t->lock_val) &&
			    memcmp(kv.value, t->lock_val, kv.value_len) == 0) {
				t->lock_create = kv.create_revision;
				rc = 0;
			}
			if (g == 0)
				etcdc_kv_clear(&kv);
			return rc;
		}
		es_refresh(es, t->key);
		refreshed = 1;
	}
	return -EAGAIN;
}

ssize_t es_txn_write(struct es_txn *t, const void *buf, size_t len,
		     uint64_t off)
{
	size_t end;

	if (off > size_limit() || len > size_limit() - off)
		return -EFBIG;
	end = (size_t)off + len;
	if (end > t->cap) {
		size_t nc = t->cap ? t->cap : 4096;
		while (nc < end)
			nc *= 2;
		char *p = realloc(t->buf, nc);
		if (!p)
			return -ENOMEM;
		t->buf = p;
		t->cap = nc;
	}
	if (off > t->size)
		memset(t->buf + t->size, 0, (size_t)off - t->size);
	memcpy(t->buf + off, buf, len);
	if (end > t->size)
		t->size = end;
	return (ssize_t)len;
}

ssize_t es_txn_read(struct es_txn *t, void *buf, size_t len, uint64_t off)
{
	if (off >= t->size)
		return 0;
	if (len > t->size - off)
		len = t->size - (size_t)off;
	memcpy(buf, t->buf + off, len);
	return (ssize_t)len;
}

int es_txn_truncate(struct es_txn *t, uint64_t size)
{
	if (size > t->size) {
		static const char z = 0;
		/* Grow with zeros: a one-byte write at the end does it. */
		ssize_t r = es_txn_write(t, &z, 1, size - 1);
		return r < 0 ? (int)r : 0;
	}
	t->size = (size_t)size;
	return 0;
}

uint64_t es_txn_size(const struct es_txn *t)
{
	return t->size;
}

int es_txn_commit(struct es_txn *t, uint64_t expect,
		  const struct store_meta *meta, int durable, uint64_t *newv)
{
	int rc;

	(void)durable; /* etcd commits through its raft log: durable */
	rc = write_rec(t->es, t->key, expect, t->buf ? t->buf : "", t->size,
		       meta, t->lock_create, 0, newv);
	if (rc == 0)
		t->lock_create = 0; /* the commit removed it */
	es_txn_abort(t);
	return rc;
}

void es_txn_abort(struct es_txn *t)
{
	if (!t)
		return;
	if (t->lock_create)
		fence(t->es, t->key, t->lock_create);
	free(t->buf);
	free(t->key);
	free(t);
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

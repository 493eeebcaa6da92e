/* etcd_txn.c - what every etcd operation is built from: a view of one
 * key copied out of the cache, and a transaction builder whose compares
 * say what the change was based on (etcd_es_int.h). */
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

/* ---- a view of one key, copied out of the cache -------------------------- */


/* @with_xa: copy the xattrs and the tombstone's ended records too (a
 * change re-puts them; reads of content and attributes, the hot path,
 * do not need them). */
static void view_fill(struct es *es, const char *key, struct es_view *v,
		      int with_xa)
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
		v->tomb_rev = e->tomb_rev;
		v->tomb_nonce = e->tomb_nonce;
		v->tomb_past = with_xa && e->tomb_past ? strdup(e->tomb_past)
						       : NULL;
		v->prev_rev = e->prev_rev;
		v->commit_ns = e->commit_ns;
		memcpy(v->hash, e->hash, 16);
		if (with_xa && e->xa_len && (v->xa = malloc(e->xa_len))) {
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

void es_view_get(struct es *es, const char *key, struct es_view *v)
{
	view_fill(es, key, v, 1);
}

int es_view_read(struct es *es, const char *key, struct es_view *v,
		 int with_xa)
{
	int rc = key_check(key);

	if (rc == 0)
		rc = es_fresh(es);
	if (rc == 0)
		view_fill(es, key, v, with_xa);
	else
		memset(v, 0, sizeof(*v));
	return rc;
}

void es_view_free(struct es_view *v)
{
	free(v->xa);
	free(v->tomb_past);
	es_buf_put(v->content);
	memset(v, 0, sizeof(*v));
}

int es_is_dir(const struct es_view *v)
{
	return v->has_m && S_ISDIR(v->meta.mode);
}

uint64_t es_last_ver(const struct es_view *v)
{
	uint64_t lv = v->has_r ? v->version : 0;

	return v->tomb > lv ? v->tomb : lv;
}

/* The parent of @key ("" for a top-level key), malloc'ed. */
char *es_parent_of(const char *key)
{
	const char *s = strrchr(key, '/');

	return s ? strndup(key, (size_t)(s - key)) : strdup("");
}


/* ---- building a transaction ---------------------------------------------- */


static void *tb_own(struct es_tb *t, void *p)
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

/* Room for element @n of the array *@arr of *@cap elements of @size
 * bytes (doubled when full).  @return 0 or -ENOMEM (*arr unchanged). */
int es_grow(void **arr, size_t *cap, size_t n, size_t size)
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

void es_tb_cmp(struct es_tb *t, char kind, const char *key,
		   enum etcdc_target target, enum etcdc_cmp_op op, int64_t num)
{
	size_t kl;
	char *k;

	if (t->err)
		return;
	if (es_grow((void **)&t->c, &t->cap_c, t->nc, sizeof(*t->c)) < 0) {
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

/* etcd compares a range key by key, and an empty range as zero: a
 * create revision of 0 over "KIND/DIR/" holds only while nothing is
 * below DIR, whatever this mount's cache has seen of it. */
void es_tb_cmp_none_below(struct es_tb *t, char kind, const char *dir)
{
	size_t dl = strlen(dir);
	char *sub = malloc(dl + 2);

	if (!sub) {
		t->err = -ENOMEM;
		return;
	}
	memcpy(sub, dir, dl);
	memcpy(sub + dl, "/", 2);
	es_tb_cmp(t, kind, sub, ETCDC_CREATE, ETCDC_EQUAL, 0);
	if (!t->err)
		t->c[t->nc - 1].prefix = 1;
	free(sub);
}

/* A put of @value (malloc'ed; the builder takes it) or, with @value
 * NULL and @del set, a delete. */
void es_tb_op(struct es_tb *t, char kind, const char *key, void *value,
		  size_t vlen, int64_t lease, int del)
{
	size_t kl;
	char *k;

	if (!del && !tb_own(t, value))
		return;
	if (t->err)
		return;
	if (es_grow((void **)&t->o, &t->cap_o, t->no, sizeof(*t->o)) < 0) {
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

void es_tb_put_meta(struct es_tb *t, const char *key,
			const struct store_meta *m, const uint8_t *xa,
			size_t xa_len)
{
	size_t vl = 0;
	uint8_t *v = es_enc_meta(m, xa, xa_len, &vl);

	es_tb_op(t, 'm', key, v, vl, 0, 0);
}

void es_tb_dir_changed(struct es_tb *t, const char *dir,
		       const struct es_view *dv, int64_t now)
{
	struct store_meta m = dv->meta;

	if (!dv->has_m)
		return;
	m.mtime_ns = m.ctime_ns = now;
	es_tb_cmp(t, 'm', dir, ETCDC_MOD, ETCDC_EQUAL, dv->m_rev);
	es_tb_put_meta(t, dir, &m, dv->xa, dv->xa_len);
}

/* @m less the read bits that users other than its owner had only
 * through the directories above @key: those may go and another user
 * make one of their names again (store.c, ended_meta). */
static void ended_meta(struct es *es, const char *key, struct store_meta *m)
{
	char *k = es_parent_of(key);

	while (k) {
		struct es_view d;
		char *up = *k ? es_parent_of(k) : NULL;

		view_fill(es, k, &d, 0);
		if (d.has_m)
			meta_through_dir(m, &d.meta);
		es_view_free(&d);
		free(k);
		k = up;
	}
}

void es_tb_put_tomb(struct es_tb *t, const char *key, uint64_t version,
		    int64_t last_rev, uint64_t nonce,
		    const struct es_view *ended)
{
	unsigned keep = t->es->o.keep_versions ? t->es->o.keep_versions : 8;
	struct store_meta m = ended->meta;
	char buf[ES_TOMB_MAX], *past, *v = NULL;
	size_t n;

	es_enc_tomb(version, last_rev, nonce, buf, &n);
	ended_meta(t->es, key, &m);
	past = es_enc_past(ended->tomb_past, ended->version, &m, keep);
	if (past && (v = malloc(n + strlen(past) + 1)))
		snprintf(v, n + strlen(past) + 1, "%s%s", buf, past);
	free(past);
	if (!v) {
		t->err = -ENOMEM;
		return;
	}
	es_tb_op(t, 't', key, v, strlen(v), 0, 0);
}

void es_tb_free(struct es_tb *t)
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
int es_tb_run(struct es_tb *t, int64_t *rev)
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

/* Take back our write lease (an l/ key we created at @create): after it
 * is gone, a commit of that change that is still in flight can never
 * land.  @return 1 taken back, 0 it was not there, -errno. */
int es_fence(struct es *es, const char *key, int64_t create)
{
	struct es_tb t = {.es = es};
	int rc;

	es_tb_cmp(&t, 'l', key, ETCDC_CREATE, ETCDC_EQUAL, create);
	es_tb_op(&t, 'l', key, NULL, 0, 0, 1);
	rc = es_tb_run(&t, NULL);
	es_tb_free(&t);
	return rc;
}

/* Compares that another mount holds no write lease on @key; a lease of
 * this mount (@ours_ok) may be there. */
void es_tb_no_lease(struct es_tb *t, const char *key, const struct es_view *v,
			int ours_ok)
{
	int64_t lease = es_lease_id(t->es);

	if (ours_ok && v->has_l && v->l_lease == lease)
		es_tb_cmp(t, 'l', key, ETCDC_LEASE, ETCDC_EQUAL, lease);
	else
		es_tb_cmp(t, 'l', key, ETCDC_CREATE, ETCDC_EQUAL, 0);
}

int es_other_lease(struct es *es, const struct es_view *v)
{
	return v->has_l && v->l_lease != es_lease_id(es);
}

int es_ro(struct es *es)
{
	return es->o.read_only ? -EROFS : 0;
}

/* ---- writing a record ------------------------------------------------------ */

/* Is the view's state what @expect says the change is based on? */
int es_expect_ok(const struct es_view *v, uint64_t expect)
{
	if (expect == STORE_ANY)
		return 1;
	if (expect == STORE_ABSENT)
		return !v->has_r;
	return v->has_r && v->version == expect;
}

int es_parent_ok(const struct es_view *pv)
{
	if (!pv->has_m)
		return -ENOENT;
	return S_ISDIR(pv->meta.mode) ? 0 : -ENOTDIR;
}

size_t es_size_limit(void)
{
	return ES_REQUEST_MAX - ES_SLACK;
}

/*
 * A change etcd did not answer may land later (docs/ETCD.md).  Find out
 * which, for up to ES_RESOLVE_MS: with a lease (@lock, its l/ create
 * revision), taking the lease back makes sure it never lands; then, or
 * without one, version @nv of r/KEY carrying our @nonce says it did.
 * @return 1 landed, 0 did not (and never will, when fenced), -EIO
 *  still unknown (logged: the caller answers EIO).
 */
int es_resolve(struct es *es, const char *key, int64_t lock, uint64_t nv,
	       uint64_t nonce)
{
	/* The bound counts the tries too, not only the pauses between
	 * them: with etcd stopped each try waits out its 2 s, and close
	 * answered after 5.5 minutes (until 2026-12-07). */
	long long end = es_mono_ms() + ES_RESOLVE_MS;

	for (;;) {
		int f = lock ? es_fence(es, key, lock) : 0, l;
		if (f == 1) {
			fprintf(stderr, "recfs: etcd did not answer the change "
				"of '%s'; its lease taken back, it is not "
				"committed\n", key);
			return 0; /* its compare on l/ can no longer hold */
		}
		l = f == 0 ? es_landed(es, key, nv, nonce) : f;
		if (l >= 0 && (l == 1 || lock))
			fprintf(stderr, "recfs: etcd did not answer the change "
				"of '%s' (version %llu); it is %scommitted\n",
				key, (unsigned long long)nv, l ? "" : "not ");
		if (l == 1)
			return 1;
		if (l == 0 && lock)
			return 0; /* l/ gone, and not by our commit */
		if (es_mono_ms() >= end)
			break;
		poll(NULL, 0, 200);
	}
	fprintf(stderr, "recfs: etcd did not say whether the change of '%s' "
		"was committed; answering EIO\n", key);
	return -EIO;
}

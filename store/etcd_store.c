/* etcd_store.c - an etcd store's life: the URL, the client pool, the
 * cache of the prefix and the background thread (watch, heartbeat,
 * lease keepalive) that keeps it current.  The operations are
 * etcd_ops.c, the values' layout etcd_codec.c, the watch's batches
 * etcd_events.c.
 *
 * The cache holds every key under the prefix, content included: a
 * mount reads from memory and asks etcd only to change something.  It
 * is as current as its watch.  To know that the watch is alive (a
 * watch does not notice a stopped etcd), each mount writes a heartbeat
 * key every second and expects to see it come back through its own
 * watch; when it has not for ES_STALE_MS, reads fail with EIO instead
 * of serving a cache that may be stale, and the watch is reopened.
 */
#include "etcd_es_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- small helpers ----------------------------------------------------- */

int64_t es_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long long es_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t es_next_nonce(struct es *es)
{
	return atomic_fetch_add(&es->nonce, 1) + 1;
}

int es_is_url(const char *path)
{
	return path && strncmp(path, "etcd://", 7) == 0;
}

/* ---- the client pool ------------------------------------------------------ */

struct etcdc *es_client(struct es *es)
{
	struct etcdc *c = NULL;

	pthread_mutex_lock(&es->pool_mu);
	for (;;) {
		for (int i = 0; i < ES_POOL && !c; i++)
			if (es->pool_free[i]) {
				es->pool_free[i] = 0;
				c = es->pool[i];
			}
		if (c)
			break;
		pthread_cond_wait(&es->pool_cv, &es->pool_mu);
	}
	pthread_mutex_unlock(&es->pool_mu);
	return c;
}

void es_client_put(struct es *es, struct etcdc *c)
{
	pthread_mutex_lock(&es->pool_mu);
	for (int i = 0; i < ES_POOL; i++)
		if (es->pool[i] == c)
			es->pool_free[i] = 1;
	pthread_cond_signal(&es->pool_cv);
	pthread_mutex_unlock(&es->pool_mu);
}

/* ---- the cache ------------------------------------------------------------ */

static size_t hkey(const struct es *es, const char *key)
{
	return XXH3_64bits(key, strlen(key)) & (es->cap - 1);
}

/* Caller holds es->mu. */
struct es_ent *es_ent_find(struct es *es, const char *key)
{
	for (struct es_ent *e = es->tab[hkey(es, key)]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static int grow(struct es *es)
{
	size_t ncap = es->cap * 2;
	struct es_ent **nt = calloc(ncap, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (size_t b = 0; b < es->cap; b++)
		for (struct es_ent *e = es->tab[b], *n; e; e = n) {
			size_t h = XXH3_64bits(e->key, strlen(e->key)) &
				   (ncap - 1);
			n = e->next;
			e->next = nt[h];
			nt[h] = e;
		}
	free(es->tab);
	es->tab = nt;
	es->cap = ncap;
	return 0;
}

/* Find or make the entry of @key.  Caller holds es->mu.  NULL: ENOMEM. */
struct es_ent *es_ent_get(struct es *es, const char *key)
{
	struct es_ent *e = es_ent_find(es, key);
	size_t h;

	if (e)
		return e;
	if (es->count >= es->cap && grow(es) < 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return NULL;
	}
	h = hkey(es, key);
	e->next = es->tab[h];
	es->tab[h] = e;
	es->count++;
	return e;
}

static void ent_free(struct es_ent *e)
{
	free(e->key);
	free(e->xa);
	free(e->tomb_past);
	es_buf_put(e->content);
	free(e);
}

/* The etcd key of @key's part @kind (malloc'ed). */
char *es_k(struct es *es, char kind, const char *key, size_t *len)
{
	size_t kl = strlen(key);
	char *k = malloc(es->plen + 2 + kl + 1);

	if (!k)
		return NULL;
	memcpy(k, es->prefix, es->plen);
	k[es->plen] = kind;
	k[es->plen + 1] = '/';
	memcpy(k + es->plen + 2, key, kl + 1);
	*len = es->plen + 2 + kl;
	return k;
}

/*
 * Apply one etcd key as of revision @rev: a put (@deleted 0; @rev is its
 * mod_revision) or its absence.  Caller holds es->mu.  @return 1 if what
 * a reader sees of the key changed (its m/ or r/), else 0.
 */
int es_apply_locked(struct es *es, const char *k, size_t klen,
		    const char *v, size_t vlen, int64_t create_rev,
		    int64_t lease, int deleted, int64_t rev)
{
	const uint8_t *xa;
	struct store_meta m;
	struct es_ent *e;
	char kind, *key;
	size_t xa_len;

	if (klen < es->plen + 2 || memcmp(k, es->prefix, es->plen) != 0 ||
	    k[es->plen + 1] != '/')
		return 0;
	kind = k[es->plen];
	if (kind == 'h') {
		if (!deleted && klen == es->plen + 2 + strlen(es->id) &&
		    memcmp(k + es->plen + 2, es->id, strlen(es->id)) == 0)
			atomic_store(&es->fresh_ms, es_mono_ms());
		return 0;
	}
	if (kind != 'm' && kind != 'r' && kind != 't' && kind != 'l')
		return 0;
	key = strndup(k + es->plen + 2, klen - es->plen - 2);
	if (!key)
		return 0;
	if (rev > es->seen_rev)
		es->seen_rev = rev;
	e = deleted ? es_ent_find(es, key) : es_ent_get(es, key);
	free(key);
	if (!e)
		return 0;
	if (!deleted)
		e->seen[kind == 'm' ? 0 : kind == 'r' ? 1 : kind == 't' ? 2 : 3] =
			es->gen;
	switch (kind) {
	case 'm':
		if (rev <= e->m_rev)
			return 0;
		e->m_rev = rev;
		if (deleted || es_dec_meta(v, vlen, &m, &xa, &xa_len) < 0) {
			if (!deleted)
				fprintf(stderr, "recfs: etcd key %.*s is not "
					"recfs metadata; ignored\n", (int)klen,
					k);
			free(e->xa);
			e->xa = NULL;
			e->xa_len = 0;
			e->has_m = 0;
			return 1;
		}
		uint8_t *nxa = xa_len ? malloc(xa_len) : NULL;
		if (xa_len && !nxa)
			return 0;
		if (xa_len)
			memcpy(nxa, xa, xa_len);
		free(e->xa);
		e->xa = nxa;
		e->xa_len = xa_len;
		if (!e->has_m)
			e->m_create = create_rev ? create_rev : rev;
		else if (create_rev)
			e->m_create = create_rev;
		e->has_m = 1;
		e->meta = m;
		return 1;
	case 'r': {
		struct es_rec r;
		if (rev <= e->r_rev)
			return 0;
		e->r_rev = rev;
		es_buf_put(e->content);
		e->content = NULL;
		if (deleted || es_dec_rec(v, vlen, &r) < 0) {
			e->has_r = 0;
			return 1;
		}
		e->content = es_buf_new(r.data, r.len);
		if (!e->content) {
			e->has_r = 0; /* refetched at the next change */
			e->r_rev = 0;
			return 1;
		}
		e->version = r.version;
		e->commit_ns = r.commit_ns;
		memcpy(e->hash, r.hash, 16);
		e->prev_rev = r.prev;
		e->has_r = 1;
		return 1;
	}
	case 't':
		if (rev <= e->t_rev)
			return 0;
		e->t_rev = rev;
		e->tomb = 0;
		e->tomb_rev = 0;
		e->tomb_nonce = 0;
		free(e->tomb_past);
		e->tomb_past = NULL;
		if (!deleted && v) {
			char *buf = strndup(v, vlen), *end;

			if (!buf) { /* refetched at the next change */
				e->t_rev = 0;
				return 0;
			}
			e->tomb = strtoull(buf, &end, 10);
			e->tomb_rev = strtoll(end, &end, 10);
			e->tomb_nonce = strtoull(end, &end, 10);
			/* the ended records' owners (etcd_codec.c) */
			if (*end == ' ' && !(e->tomb_past = strdup(end)))
				e->t_rev = 0;
			free(buf);
		}
		return 0;
	default: /* 'l' */
		if (rev <= e->l_rev)
			return 0;
		e->l_rev = rev;
		if (!deleted && (!e->has_l || e->l_create !=
				 (create_rev ? create_rev : rev)))
			e->l_seen_ms = es_mono_ms();
		e->has_l = !deleted;
		e->l_create = deleted ? 0 : (create_rev ? create_rev : rev);
		e->l_lease = deleted ? 0 : lease;
		return 0;
	}
}

void es_apply_ops(struct es *es, const struct etcdc_op *ops, size_t n,
		  int64_t rev)
{
	pthread_mutex_lock(&es->mu);
	for (size_t i = 0; i < n; i++)
		if (ops[i].type != ETCDC_OP_GET)
			es_apply_locked(es, ops[i].key, ops[i].key_len,
					ops[i].value, ops[i].value_len, 0,
					ops[i].lease,
					ops[i].type == ETCDC_OP_DELETE, rev);
	pthread_mutex_unlock(&es->mu);
}

void es_apply_kv(struct es *es, const struct etcdc_kv *kv, int deleted,
		 int64_t rev)
{
	pthread_mutex_lock(&es->mu);
	es_apply_locked(es, kv->key, kv->key_len, kv->value, kv->value_len,
			kv->create_revision, kv->lease, deleted,
			deleted ? rev : kv->mod_revision);
	pthread_mutex_unlock(&es->mu);
}

/* GETs of @key's four parts (m/, r/, t/, l/; with @prefix, of every
 * key below it), into @ops with their keys in @ks (freed by the caller,
 * also on failure).  @return 0 or -ENOMEM. */
static const char part_kinds[] = "mrtl";

static int four_gets(struct es *es, const char *key, int prefix,
		     struct etcdc_op ops[4], char *ks[4], size_t lens[4])
{
	for (int i = 0; i < 4; i++) {
		ks[i] = es_k(es, part_kinds[i], key, &lens[i]);
		if (!ks[i])
			return -ENOMEM;
		memset(&ops[i], 0, sizeof(ops[i]));
		ops[i].type = ETCDC_OP_GET;
		ops[i].key = ks[i];
		ops[i].key_len = lens[i];
		ops[i].prefix = prefix;
	}
	return 0;
}

/* Read @key's four parts at one revision and apply what etcd has now. */
int es_refresh(struct es *es, const char *key)
{
	struct etcdc_txn_result r;
	struct etcdc_op ops[4];
	char *ks[4] = {0};
	size_t lens[4];
	struct etcdc *c;
	int rc = -ENOMEM, changed = 0;

	memset(&r, 0, sizeof(r));
	if (four_gets(es, key, 0, ops, ks, lens) < 0)
		goto out;
	c = es_client(es);
	rc = etcdc_txn(c, NULL, 0, ops, 4, NULL, 0, &r);
	es_client_put(es, c);
	if (rc < 0)
		goto out;
	pthread_mutex_lock(&es->mu);
	for (size_t i = 0; i < 4 && i < r.n_res; i++) {
		if (r.res[i].n_kvs) {
			const struct etcdc_kv *kv = &r.res[i].kvs[0];
			changed |= es_apply_locked(es, kv->key, kv->key_len,
						   kv->value, kv->value_len,
						   kv->create_revision,
						   kv->lease, 0,
						   kv->mod_revision);
		} else {
			changed |= es_apply_locked(es, ks[i], lens[i], NULL,
						   0, 0, 0, 1, r.revision);
		}
	}
	pthread_mutex_unlock(&es->mu);
	/* What the refresh brought in will not come again with the
	 * watch (its events are older now): tell the kernel here. */
	if (changed && es->o.on_change)
		es->o.on_change(es->o.change_ctx, key);
out:
	etcdc_txn_result_free(&r);
	for (int i = 0; i < 4; i++)
		free(ks[i]);
	return rc;
}

static int kv_cmp(const void *a, const void *b)
{
	const struct etcdc_kv *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);

	return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Is @k (@kl bytes) among the @n keys of @kvs, sorted as etcd sorts? */
static int kv_has(const struct etcdc_kv *kvs, size_t n, const char *k,
		  size_t kl)
{
	struct etcdc_kv want = { .key = (char *)k, .key_len = kl };

	return n && bsearch(&want, kvs, n, sizeof(*kvs), kv_cmp) != NULL;
}

int es_refresh_below(struct es *es, const char *dir)
{
	struct etcdc_txn_result r;
	struct etcdc_op ops[4];
	char *ks[4] = {0}, *sub, **keys = NULL;
	size_t lens[4], dl = strlen(dir), nk = 0, capk = 0;
	struct etcdc *c;
	int rc = -ENOMEM;

	memset(&r, 0, sizeof(r));
	sub = malloc(dl + 2);
	if (!sub)
		return -ENOMEM;
	memcpy(sub, dir, dl);
	memcpy(sub + dl, "/", 2);
	if (four_gets(es, sub, 1, ops, ks, lens) < 0)
		goto out;
	/* One transaction: all four parts as of one revision. */
	c = es_client(es);
	rc = etcdc_txn(c, NULL, 0, ops, 4, NULL, 0, &r);
	es_client_put(es, c);
	if (rc < 0)
		goto out;
	rc = r.n_res == 4 ? 0 : -EIO;
	pthread_mutex_lock(&es->mu);
	for (size_t i = 0; rc == 0 && i < 4; i++)
		for (size_t j = 0; j < r.res[i].n_kvs; j++) {
			const struct etcdc_kv *kv = &r.res[i].kvs[j];
			if (es_apply_locked(es, kv->key, kv->key_len, kv->value,
					    kv->value_len, kv->create_revision,
					    kv->lease, 0, kv->mod_revision) &&
			    es_grow((void **)&keys, &capk, nk,
				    sizeof(*keys)) == 0)
				keys[nk++] = strndup(kv->key + es->plen + 2,
						     kv->key_len - es->plen - 2);
		}
	/* What the cache holds below @dir that etcd did not return is gone
	 * as of r.revision (a part changed since keeps its newer state:
	 * es_apply_locked() compares revisions). */
	for (size_t b = 0; rc == 0 && b < es->cap; b++)
		for (struct es_ent *e = es->tab[b]; e; e = e->next) {
			int have[4] = {e->has_m, e->has_r, e->tomb != 0,
				       e->has_l};
			if (strncmp(e->key, sub, dl + 1) != 0)
				continue;
			for (int i = 0; i < 4; i++) {
				size_t kl;
				char *ek;
				if (!have[i])
					continue;
				ek = es_k(es, part_kinds[i], e->key, &kl);
				if (ek && !kv_has(r.res[i].kvs, r.res[i].n_kvs,
						  ek, kl) &&
				    es_apply_locked(es, ek, kl, NULL, 0, 0, 0, 1,
						    r.revision) &&
				    es_grow((void **)&keys, &capk, nk,
					    sizeof(*keys)) == 0)
					keys[nk++] = strdup(e->key);
				free(ek);
			}
		}
	pthread_mutex_unlock(&es->mu);
	/* As es_refresh(): the watch will not bring these again. */
	for (size_t i = 0; i < nk; i++) {
		if (keys[i] && es->o.on_change)
			es->o.on_change(es->o.change_ctx, keys[i]);
		free(keys[i]);
	}
out:
	free(keys);
	etcdc_txn_result_free(&r);
	for (int i = 0; i < 4; i++)
		free(ks[i]);
	free(sub);
	return rc;
}

int es_fresh(struct es *es)
{
	if (es_mono_ms() - atomic_load(&es->fresh_ms) > ES_STALE_MS)
		return -EIO;
	return 0;
}

/* Set @key's l_mine to @to if it is @from.  @return 1 done, 0 not. */
int es_lock_cas(struct es *es, const char *key, int64_t from, int64_t to)
{
	struct es_ent *e;
	int done = 0;

	pthread_mutex_lock(&es->mu);
	e = es_ent_get(es, key);
	if (e && e->l_mine == from) {
		e->l_mine = to;
		done = 1;
	}
	pthread_mutex_unlock(&es->mu);
	return done;
}

/* Take back the write leases of this mount that no change holds. */
static void take_back_orphans(struct es *es)
{
	struct orphan { char *key; int64_t create; } o[16];
	int64_t lease = es_lease_id(es);
	long long now = es_mono_ms();
	size_t n = 0;

	pthread_mutex_lock(&es->mu);
	for (size_t b = 0; b < es->cap && n < 16; b++)
		for (struct es_ent *e = es->tab[b]; e && n < 16; e = e->next)
			if (e->has_l && lease && e->l_lease == lease &&
			    e->l_mine == 0 && now - e->l_seen_ms > 2000 &&
			    (o[n].key = strdup(e->key))) {
				o[n++].create = e->l_create;
				e->l_mine = -1;
			}
	pthread_mutex_unlock(&es->mu);
	for (size_t i = 0; i < n; i++) {
		if (es_fence(es, o[i].key, o[i].create) == 1)
			fprintf(stderr, "recfs: took back a write lease of '%s' "
				"that an unanswered request left\n", o[i].key);
		es_lock_cas(es, o[i].key, -1, 0);
		free(o[i].key);
	}
}

/* ---- loading and the background thread ----------------------------------- */

/* Pages of the load are sized to carry about LOAD_PAGE_BYTES of JSON.
 * etcd's gateway builds a reply whole before it sends its first byte,
 * and the client gives a request 2 s: a page of 1,000 records of
 * 1.5 MiB was 2 GB, and 40 of them (80 MB) took 1.1 s before the first
 * byte on this machine, so a slower host or link could never mount
 * such a prefix (a watch that fell behind a compaction could never
 * reload it either).  The first page is small; the next ones are sized
 * by the records seen so far. */
#define LOAD_PAGE_BYTES ((size_t)8 << 20)
#define LOAD_FIRST 8
#define LOAD_MAX 10000

/* Read the whole prefix into the cache, every page at the revision of
 * the first.  A page over the client's reply limit or its time is asked
 * again with half as many keys, down to one (one record always fits
 * the limit), and later pages stay at most that large.
 * @return 0 and *rev, that revision (a watch from rev + 1 misses
 * nothing). */
static int load(struct es *es, struct etcdc *c, int64_t *rev)
{
	struct etcdc_kv *kvs = NULL;
	char *from = NULL;
	size_t n = 0, flen = 0, seen = 0;
	uint64_t bytes = 0;
	int more = 1, rc = 0;
	int64_t at = 0, r = 0, limit = LOAD_FIRST, cap = LOAD_MAX;

	while (more && rc == 0) {
		rc = etcdc_range_page(c, es->prefix, es->plen, from, flen, at,
				      limit, &kvs, &n, &more, &r);
		if ((rc == -EMSGSIZE || rc == -ETIMEDOUT) && limit > 1) {
			limit /= 2;
			cap = limit;
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		if (!at)
			at = r;
		pthread_mutex_lock(&es->mu);
		for (size_t i = 0; i < n; i++) {
			es_apply_locked(es, kvs[i].key, kvs[i].key_len,
					kvs[i].value, kvs[i].value_len,
					kvs[i].create_revision, kvs[i].lease, 0,
					kvs[i].mod_revision);
			/* as JSON: base64, and the fields around them */
			bytes += (kvs[i].key_len + kvs[i].value_len) / 3 * 4 +
				 160;
		}
		pthread_mutex_unlock(&es->mu);
		seen += n;
		if (seen) {
			uint64_t each = bytes / seen + 1;

			limit = (int64_t)(LOAD_PAGE_BYTES / each);
			limit = limit < 1 ? 1 : limit > cap ? cap : limit;
		}
		if (more && n) {
			/* Go on after the last key: that key and a zero. */
			char *nf = malloc(kvs[n - 1].key_len + 1);
			if (!nf) {
				rc = -ENOMEM;
			} else {
				memcpy(nf, kvs[n - 1].key, kvs[n - 1].key_len);
				nf[kvs[n - 1].key_len] = 0;
				free(from);
				from = nf;
				flen = kvs[n - 1].key_len + 1;
			}
		} else {
			more = 0;
		}
		etcdc_kvs_free(kvs, n);
		kvs = NULL;
		n = 0;
	}
	free(from);
	*rev = at;
	return rc;
}

/* Put our heartbeat key.  @return 0 or -errno. */
static int beat(struct es *es, struct etcdc *c, unsigned long long *n)
{
	int64_t lease = es_lease_id(es);
	char val[32], *k;
	size_t kl;
	int rc;

	k = es_k(es, 'h', es->id, &kl);
	if (!k)
		return -ENOMEM;
	snprintf(val, sizeof(val), "%llu", ++*n);
	rc = etcdc_put(c, k, kl, val, strlen(val), lease, NULL);
	if (rc == -ENOENT)
		es_lease_gone(es, lease); /* it expired: get a new one */
	free(k);
	return rc;
}

/* Renew our etcd lease, or get a new one if etcd no longer knows it.
 * @return 0, or -errno of the call that failed. */
static int keep_lease(struct es *es, struct etcdc *c)
{
	int64_t id = 0, lease = es_lease_id(es);
	int rc = 0;

	if (es->o.read_only)
		return 0;
	if (lease && (rc = etcdc_lease_keepalive(c, lease, NULL)) == -ENOENT) {
		fprintf(stderr, "recfs: etcd lost this mount's lease (it "
			"expired); its write leases are gone, taking a new "
			"one\n");
		es_set_lease(es, lease = 0);
	}
	/* Write leases taken under an expired lease are gone with it;
	 * their commits fail, as they compare their l/ key. */
	if (lease == 0) {
		rc = etcdc_lease_grant(c, ES_LEASE_TTL, &id, NULL);
		if (rc == 0)
			es_set_lease(es, id);
	}
	return rc;
}

static void *bg_main(void *arg)
{
	struct es *es = arg;
	struct etcdc_watch *w = NULL;
	struct etcdc_event *ev;
	struct etcdc *c = NULL;
	long long watch_since = 0;
	int64_t next_rev;
	size_t n;
	int rc;

	if (etcdc_open(es->endpoints, NULL, &c) < 0)
		return NULL;
	pthread_mutex_lock(&es->mu);
	next_rev = es->seen_rev + 1;
	pthread_mutex_unlock(&es->mu);
	while (!atomic_load(&es->stop)) {
		long long now = es_mono_ms();
		if (!w) {
			rc = etcdc_watch_open(c, es->prefix, es->plen,
					      next_rev, &w);
			if (rc == -ERANGE) {
				/* Compacted past us: read everything again. */
				int64_t r = 0;
				pthread_mutex_lock(&es->mu);
				es->gen++;
				pthread_mutex_unlock(&es->mu);
				if (load(es, c, &r) == 0) {
					es_sweep(es, r);
					next_rev = r + 1;
				}
				continue;
			}
			if (rc < 0) {
				w = NULL;
				poll(NULL, 0, 200);
				continue;
			}
			watch_since = now;
		}
		ev = NULL;
		n = 0;
		rc = etcdc_watch_poll(w, 200, &ev, &n, NULL);
		if (rc > 0)
			es_apply_events(es, ev, n);
		etcdc_events_free(ev, n);
		next_rev = etcdc_watch_next_rev(w);
		/* A dead watch (an error, or our own heartbeat not coming
		 * back through it): open a new one where it stood. */
		if (rc < 0 || (now - atomic_load(&es->fresh_ms) >
				       3 * ES_BEAT_MS &&
			       now - watch_since > 3 * ES_BEAT_MS)) {
			etcdc_watch_close(w);
			w = NULL;
		}
	}
	etcdc_watch_close(w);
	etcdc_close(c);
	return NULL;
}

/* Say in the log when reads start failing for want of our heartbeat
 * seen back through the watch, and when they are served again: without
 * it an administrator sees only EIO.  @stale: what was said last. */
static void report_fresh(struct es *es, int *stale, int beat_rc,
			 int lease_rc, long long round_ms)
{
	long long since = es_mono_ms() - atomic_load(&es->fresh_ms);

	if (!*stale && since > ES_STALE_MS) {
		*stale = 1;
		fprintf(stderr, "recfs: etcd: this mount's heartbeat not seen "
			"back for %lld ms (its put: %s; the lease: %s; the "
			"keeper's last round took %lld ms); reads fail with "
			"EIO until it is\n", since,
			beat_rc ? strerror(-beat_rc) : "ok",
			lease_rc ? strerror(-lease_rc) : "ok", round_ms);
	} else if (*stale && since <= ES_STALE_MS) {
		*stale = 0;
		fprintf(stderr, "recfs: etcd: heartbeat seen back again; "
			"reads are served\n");
	}
}

/* The keeper: the heartbeat, the etcd lease and taking back orphaned
 * write leases.  A thread of its own, so that a put that waits out an
 * election never holds up the watch (and the cache) behind it. */
static void *keeper_main(void *arg)
{
	/* As long as the writers' clients wait (es_open): a lease grant
	 * answered after we gave up made a lease we never learn of, so an
	 * etcd answering in 1-2 s (a loaded disk) left a mount that lost
	 * its lease without one (every first write EIO) while other
	 * commits went through. */
	struct etcdc_opts o = { .timeout_ms = 2000, .connect_timeout_ms = 500 };
	struct es *es = arg;
	struct etcdc *c = NULL;
	unsigned long long beats = 0;
	long long next_keep = 0;
	int64_t lease;
	int beat_rc = 0, lease_rc = 0, stale = 0;

	if (etcdc_open(es->endpoints, &o, &c) < 0)
		return NULL;
	while (!atomic_load(&es->stop)) {
		long long now = es_mono_ms();
		/* A lease found gone (by the heartbeat, or by a writer) is
		 * replaced now, not at the next renewal: until then every
		 * first write is refused (EIO). */
		if (now >= next_keep || !es_lease_id(es)) {
			lease_rc = keep_lease(es, c);
			next_keep = now + ES_LEASE_TTL * 1000 / 4;
		}
		beat_rc = beat(es, c, &beats);
		take_back_orphans(es);
		report_fresh(es, &stale, beat_rc, lease_rc,
			     es_mono_ms() - now);
		lease = es_lease_id(es);
		for (int i = 0; i < ES_BEAT_MS / 100 && !atomic_load(&es->stop);
		     i++) {
			poll(NULL, 0, 100);
			if (lease && !es_lease_id(es))
				break; /* a writer found it gone */
		}
	}
	lease = es_lease_id(es);
	if (lease && !es->o.read_only)
		etcdc_lease_revoke(c, lease); /* our write leases go now */
	etcdc_close(c);
	return NULL;
}

/* ---- open and close ---------------------------------------------------------- */

/* "etcd://H:P[,H:P...]/PREFIX" into endpoints and "PREFIX/". */
static int parse_url(struct es *es, const char *url)
{
	const char *p = url + 7, *slash = strchr(p, '/');
	size_t pl;

	if (!slash || slash == p || !slash[1])
		return -EINVAL;
	es->endpoints = strndup(p, (size_t)(slash - p));
	while (*slash == '/')
		slash++;
	pl = strlen(slash);
	while (pl && slash[pl - 1] == '/')
		pl--;
	if (!pl)
		return -EINVAL;
	es->prefix = malloc(pl + 2);
	if (!es->endpoints || !es->prefix)
		return -ENOMEM;
	memcpy(es->prefix, slash, pl);
	es->prefix[pl] = '/';
	es->prefix[pl + 1] = 0;
	es->plen = pl + 1;
	return 0;
}

static void err(const struct store_opts *o, const char *fmt, const char *a,
		int rc)
{
	if (o && o->errbuf && o->errlen)
		snprintf(o->errbuf, o->errlen, fmt, a, strerror(-rc));
}

/* The root directory exists once per prefix: the first mount makes it. */
static int ensure_root(struct es *es, struct etcdc *c)
{
	struct store_meta m;
	struct etcdc_cmp cmp;
	struct etcdc_op op;
	struct etcdc_txn_result r;
	uint8_t *v;
	size_t vl, kl;
	char *k;
	int rc, have;

	pthread_mutex_lock(&es->mu);
	struct es_ent *e = es_ent_find(es, "");
	have = e && e->has_m;
	pthread_mutex_unlock(&es->mu);
	if (have || es->o.read_only)
		return have ? 0 : -ENOENT;
	memset(&m, 0, sizeof(m));
	m.mode = S_IFDIR | 0755;
	m.uid = getuid();
	m.gid = getgid();
	m.atime_ns = m.mtime_ns = m.ctime_ns = es_now_ns();
	v = es_enc_meta(&m, NULL, 0, &vl);
	k = es_k(es, 'm', "", &kl);
	rc = v && k ? 0 : -ENOMEM;
	if (rc == 0) {
		memset(&cmp, 0, sizeof(cmp));
		cmp.key = k;
		cmp.key_len = kl;
		cmp.target = ETCDC_CREATE;
		cmp.op = ETCDC_EQUAL;
		memset(&op, 0, sizeof(op));
		op.type = ETCDC_OP_PUT;
		op.key = k;
		op.key_len = kl;
		op.value = v;
		op.value_len = vl;
		memset(&r, 0, sizeof(r));
		rc = etcdc_txn(c, &cmp, 1, &op, 1, NULL, 0, &r);
		etcdc_txn_result_free(&r);
	}
	free(v);
	free(k);
	return rc < 0 ? rc : es_refresh(es, "");
}

int es_open(const char *url, const struct store_opts *opts, struct es **out)
{
	struct etcdc_opts co;
	struct es *es;
	char host[32] = "";
	int64_t rev = 0;
	int rc;

	*out = NULL;
	if (etcdc_global_init() < 0)
		return -EIO;
	es = calloc(1, sizeof(*es));
	if (!es) {
		etcdc_global_cleanup();
		return -ENOMEM;
	}
	if (opts)
		es->o = *opts;
	pthread_mutex_init(&es->mu, NULL);
	pthread_mutex_init(&es->pool_mu, NULL);
	pthread_cond_init(&es->pool_cv, NULL);
	es->cap = 1024;
	es->tab = calloc(es->cap, sizeof(*es->tab));
	rc = es->tab ? parse_url(es, url) : -ENOMEM;
	if (rc < 0) {
		err(opts, "%s: expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX"
			  " (%s)", url, rc);
		goto fail;
	}
	gethostname(host, sizeof(host) - 1);
	snprintf(es->id, sizeof(es->id), "%.20s.%d.%08x", host, (int)getpid(),
		 (unsigned)(es_now_ns() ^ (int64_t)rand()));
	atomic_init(&es->nonce, (uint64_t)es_now_ns());
	memset(&co, 0, sizeof(co));
	co.timeout_ms = 2000;
	co.connect_timeout_ms = 1000;
	for (int i = 0; i < ES_POOL; i++) {
		rc = etcdc_open(es->endpoints, &co, &es->pool[i]);
		if (rc < 0) {
			err(opts, "%s: bad endpoint list (%s)", es->endpoints,
			    rc);
			goto fail;
		}
		es->pool_free[i] = 1;
	}
	rc = load(es, es->pool[0], &rev);
	if (rc == 0)
		rc = ensure_root(es, es->pool[0]);
	if (rc < 0) {
		err(opts, "etcd at %s: %s", es->endpoints, rc);
		goto fail;
	}
	pthread_mutex_lock(&es->mu);
	if (es->seen_rev < rev)
		es->seen_rev = rev;
	pthread_mutex_unlock(&es->mu);
	if (!es->o.read_only &&
	    (rc = etcdc_lease_grant(es->pool[0], ES_LEASE_TTL, &es->lease,
				    NULL)) < 0) {
		err(opts, "etcd at %s: lease: %s", es->endpoints, rc);
		goto fail;
	}
	atomic_store(&es->fresh_ms, es_mono_ms());
	*out = es;
	if (!es->o.defer_background)
		return es_after_fork(es);
	return 0;
fail:
	es_close(es);
	return rc;
}

int es_after_fork(struct es *es)
{
	if (es->bg_started)
		return 0;
	atomic_store(&es->fresh_ms, es_mono_ms());
	if (pthread_create(&es->bg, NULL, bg_main, es) != 0)
		return -EAGAIN;
	es->bg_started = 1;
	if (pthread_create(&es->keeper, NULL, keeper_main, es) != 0)
		return -EAGAIN;
	es->keeper_started = 1;
	atomic_store(&es->ready, 1);
	return 0;
}

int es_close(struct es *es)
{
	if (!es)
		return 0;
	atomic_store(&es->stop, 1);
	if (es->bg_started)
		pthread_join(es->bg, NULL);
	if (es->keeper_started)
		pthread_join(es->keeper, NULL);
	for (int i = 0; i < ES_POOL; i++)
		etcdc_close(es->pool[i]);
	for (size_t b = 0; es->tab && b < es->cap; b++)
		for (struct es_ent *e = es->tab[b], *n; e; e = n) {
			n = e->next;
			ent_free(e);
		}
	free(es->tab);
	free(es->endpoints);
	free(es->prefix);
	pthread_mutex_destroy(&es->mu);
	pthread_mutex_destroy(&es->pool_mu);
	pthread_cond_destroy(&es->pool_cv);
	free(es);
	etcdc_global_cleanup();
	return 0;
}

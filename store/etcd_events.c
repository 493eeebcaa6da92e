/* etcd_events.c - applying what the watch brings: another mount's
 * changes, and after a full reload the keys it no longer holds.
 *
 * A batch of watch events is applied to the cache under es->mu, in
 * order; the fs hears of it afterwards, without the lock (its callbacks
 * may call back into the store).  A record another mount takes away is
 * told to the fs before the batch is applied, while the cache still
 * holds it, so that descriptors open on it can keep its bytes.
 */
#include "etcd_es_int.h"

#include <stdlib.h>
#include <string.h>

/* Tell the fs of each of @n changed keys (freed). */
static void notify(struct es *es, char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (es->o.on_change && keys[i])
			es->o.on_change(es->o.change_ctx, keys[i]);
		free(keys[i]);
	}
}

/* After a full reload (our watch fell behind a compaction): what the
 * cache holds that the reload did not see was deleted meanwhile. */
void es_sweep(struct es *es, int64_t rev)
{
	static const char kinds[] = "mrtl";
	char k[2] = {0}, *keys[ES_SWEEP_NOTIFY];
	size_t nk = 0;

	pthread_mutex_lock(&es->mu);
	for (size_t b = 0; b < es->cap; b++)
		for (struct es_ent *e = es->tab[b]; e; e = e->next) {
			int have[4] = {e->has_m, e->has_r, e->tomb != 0,
				       e->has_l};
			for (int i = 0; i < 4; i++) {
				if (!have[i] || e->seen[i] == es->gen)
					continue;
				char *ek;
				size_t kl;
				k[0] = kinds[i];
				ek = es_k(es, k[0], e->key, &kl);
				if (ek && es_apply_locked(es, ek, kl, NULL, 0,
							  0, 0, 1, rev) &&
				    nk < ES_SWEEP_NOTIFY)
					keys[nk++] = strdup(e->key);
				free(ek);
			}
		}
	pthread_mutex_unlock(&es->mu);
	for (size_t i = 0; i < nk; i++)
		if (!keys[i])
			keys[i] = strdup("");
	notify(es, keys, nk);
}

/* A record another mount took away, for on_gone: what it was. */
struct gone {
	char *key;
	struct store_stat was;
};

/* Is etcd key @k (@kl bytes) a record's r/ key?  Its name, or NULL. */
static const char *rec_name(const struct es *es, const char *k, size_t kl)
{
	if (kl < es->plen + 2 || memcmp(k, es->prefix, es->plen) != 0 ||
	    k[es->plen] != 'r' || k[es->plen + 1] != '/')
		return NULL;
	return k + es->plen + 2;
}

/* Does event @i of the @n in @ev put a record that a rename moved there
 * (over the one the name held)?  A rename's transaction deletes the r/
 * it moves from; no other change deletes a record's r/ and puts
 * another's.  etcd reports one revision's events together and in order,
 * so only @i's neighbours of its revision are looked at. */
static int moved_here(const struct es *es, const struct etcdc_event *ev,
		      size_t n, size_t i)
{
	int64_t rev = ev[i].kv.mod_revision;
	size_t lo = i, hi = i + 1;

	if (ev[i].type == ETCDC_EV_DELETE)
		return 0;
	while (lo > 0 && ev[lo - 1].kv.mod_revision == rev)
		lo--;
	while (hi < n && ev[hi].kv.mod_revision == rev)
		hi++;
	for (size_t j = lo; j < hi; j++)
		if (ev[j].type == ETCDC_EV_DELETE &&
		    rec_name(es, ev[j].kv.key, ev[j].kv.key_len))
			return 1;
	return 0;
}

/* If event @i of the @n in @ev takes away a record the cache holds (it
 * deletes its r/, or a rename moves another record over it), note in
 * *@g (its key allocated) what the record was: the version the cache
 * holds, or the one an earlier event of the batch put.  Caller holds
 * es->mu; the batch is not applied yet. */
static int gone_of(struct es *es, const struct etcdc_event *ev, size_t n,
		   size_t i, struct gone *g)
{
	const struct etcdc_kv *kv = &ev[i].kv;
	const char *name = rec_name(es, kv->key, kv->key_len);
	size_t nl = kv->key_len - es->plen - 2;
	struct es_ent *e;
	char *key;

	if (!name || (ev[i].type != ETCDC_EV_DELETE &&
		      !moved_here(es, ev, n, i)) ||
	    !(key = strndup(name, nl)))
		return 0;
	e = es_ent_find(es, key);
	if (!e || !e->has_r || kv->mod_revision <= e->r_rev) {
		free(key);
		return 0;
	}
	memset(g, 0, sizeof(*g));
	g->key = key;
	g->was.version = e->version;
	g->was.size = e->content ? e->content->len : 0;
	memcpy(g->was.hash, e->hash, 16);
	g->was.commit_ns = e->commit_ns;
	g->was.meta = e->meta; /* kept when its m/ goes first */
	for (size_t j = 0; j < i; j++) {
		const struct etcdc_kv *p = &ev[j].kv;
		struct es_rec r;

		if (p->key_len != kv->key_len ||
		    memcmp(p->key, kv->key, kv->key_len) != 0 ||
		    p->mod_revision <= e->r_rev)
			continue;
		if (ev[j].type == ETCDC_EV_DELETE ||
		    es_dec_rec(p->value, p->value_len, &r) < 0) {
			g->was.version = 0; /* deleted already, or unknown */
			continue;
		}
		g->was.version = r.version;
		g->was.size = r.len;
		memcpy(g->was.hash, r.hash, 16);
		g->was.commit_ns = r.commit_ns;
	}
	if (!g->was.version) {
		free(key);
		return 0;
	}
	return 1;
}

/* Before a batch of watch events is applied: call on_gone for each
 * record it takes away, while the cache still holds it (so that the fs
 * keeps its bytes before anyone can find the record gone). */
static void tell_gone(struct es *es, struct etcdc_event *ev, size_t n)
{
	struct gone *gone = calloc(n ? n : 1, sizeof(*gone));
	size_t ng = 0;

	if (!gone)
		return; /* only a courtesy: its handles get ESTALE */
	pthread_mutex_lock(&es->mu);
	for (size_t i = 0; i < n; i++)
		if (gone_of(es, ev, n, i, &gone[ng]))
			ng++;
	pthread_mutex_unlock(&es->mu);
	for (size_t i = 0; i < ng; i++) {
		es->o.on_gone(es->o.change_ctx, gone[i].key, &gone[i].was);
		free(gone[i].key);
	}
	free(gone);
}

/* Apply a batch of watch events: on_gone for each record taken away first,
 * then on_change for each key whose m/ or r/ changed (after unlocking:
 * the callbacks may call back in). */
void es_apply_events(struct es *es, struct etcdc_event *ev, size_t n)
{
	char **keys = calloc(n ? n : 1, sizeof(*keys));
	size_t nk = 0;

	if (es->o.on_gone)
		tell_gone(es, ev, n);
	pthread_mutex_lock(&es->mu);
	for (size_t i = 0; i < n; i++) {
		const struct etcdc_kv *kv = &ev[i].kv;
		int del = ev[i].type == ETCDC_EV_DELETE;
		if (es_apply_locked(es, kv->key, kv->key_len, kv->value,
				    kv->value_len, kv->create_revision,
				    kv->lease, del, kv->mod_revision) &&
		    keys)
			keys[nk++] = strndup(kv->key + es->plen + 2,
					     kv->key_len - es->plen - 2);
	}
	pthread_mutex_unlock(&es->mu);
	if (keys) {
		for (size_t i = 0; i < nk; i++)
			if (!keys[i])
				keys[i] = strdup("");
		notify(es, keys, nk);
	}
	free(keys);
}


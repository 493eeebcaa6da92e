/* basis_table.c - the table that keeps the bases: a chained hash table
 * of entries (struct bent), keyed by record, with a summary per bucket.
 * What the entries mean, and when they come and go, is basis.c's and
 * basis_change.c's. */
#include "basis_int.h"
#include "store.h"

#include <errno.h>
#include <stdlib.h>

int basis_init(struct basis_table **out, unsigned ttl_s, size_t max,
	       int implicit)
{
	struct basis_table *bt = calloc(1, sizeof(*bt));

	if (!bt)
		return -ENOMEM;
	store_mutex_init(&bt->mu);
	bt->ttl_s = ttl_s;
	bt->max = max;
	bt->nb = NBUCKETS_MIN;
	bt->tab = calloc(bt->nb, sizeof(*bt->tab));
	if (!bt->tab) {
		free(bt);
		return -ENOMEM;
	}
	bt->implicit = implicit;
	bt->own_max = max / OWN_SHARE;
	bt->lent_max = max / LEND_SHARE;
	bt->next_group = 1;
	bt->gc_at = 4096;
	*out = bt;
	return 0;
}

static size_t share_slot(const struct basis_table *bt, pid_t pid,
			 uint64_t start)
{
	uint64_t x = ((uint64_t)(uint32_t)pid << 32 ^ start) *
		     0x9e3779b97f4a7c15ull;

	return (size_t)(x >> 32) & (bt->shares_cap - 1);
}

/* @ho's share, or NULL. */
static struct share *share_find(struct basis_table *bt, struct holder ho)
{
	if (!bt->shares_cap)
		return NULL;
	for (size_t i = share_slot(bt, ho.pid, ho.start);;
	     i = (i + 1) & (bt->shares_cap - 1)) {
		struct share *s = &bt->shares[i];
		if (!s->pid)
			return NULL;
		if (s->pid == ho.pid && s->start == ho.start)
			return s;
	}
}

/* A free slot for @ho (linear probing; the table is at most half full,
 * so there is one). */
static struct share *share_put(struct basis_table *bt, struct holder ho)
{
	size_t i = share_slot(bt, ho.pid, ho.start);

	while (bt->shares[i].pid)
		i = (i + 1) & (bt->shares_cap - 1);
	bt->shares[i] = (struct share){ .pid = ho.pid, .start = ho.start };
	bt->nshares++;
	return &bt->shares[i];
}

/* Room for one more holder: at most half the slots in use.  Moves the
 * slots (a pointer to one is stale after).  @return 0 or -ENOMEM. */
static int shares_room(struct basis_table *bt)
{
	struct share *old = bt->shares;
	size_t cap = bt->shares_cap;

	if ((bt->nshares + 1) * 2 <= cap)
		return 0;
	cap = cap ? cap * 2 : 64;
	bt->shares = calloc(cap, sizeof(*bt->shares));
	if (!bt->shares) {
		bt->shares = old;
		return -ENOMEM;
	}
	bt->nshares = 0;
	bt->shares_cap = cap;
	for (size_t i = 0; old && i < cap / 2; i++)
		if (old[i].pid) {
			struct share *s = share_put(
				bt, (struct holder){ old[i].pid, old[i].start });
			s->n_own = old[i].n_own;
			s->n_lent = old[i].n_lent;
		}
	free(old);
	return 0;
}

void bent_counts(struct basis_table *bt, struct holder ho, size_t *own,
		 size_t *lent)
{
	struct share *s = share_find(bt, ho);

	*own = s ? s->n_own : 0;
	*lent = s ? s->n_lent : 0;
}

/* @e, implicit, leaves the table: one less for its holder, whose slot is
 * emptied at none (the slots after it in its probe run move back, so
 * that every holder stays reachable from its home slot). */
static void share_drop(struct basis_table *bt, const struct bent *e)
{
	struct share *s = share_find(bt, (struct holder){ e->pid, e->start });
	size_t mask = bt->shares_cap - 1, i, j;

	if (!s)
		return;
	if (e->lent)
		s->n_lent--;
	else
		s->n_own--;
	if (s->n_own || s->n_lent)
		return;
	i = (size_t)(s - bt->shares);
	for (j = (i + 1) & mask; bt->shares[j].pid; j = (j + 1) & mask) {
		size_t home = share_slot(bt, bt->shares[j].pid,
					 bt->shares[j].start);
		/* j's entry may fill the hole at i when its home is not in
		 * the cyclic range (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			bt->shares[i] = bt->shares[j];
			i = j;
		}
	}
	bt->shares[i].pid = 0;
	bt->nshares--;
}

/* Free @e, which has left its bucket. */
static void bent_free(struct basis_table *bt, struct bent *e)
{
	if (e->kind == B_IMPLICIT)
		share_drop(bt, e);
	free(e->text);
	free(e);
}

void basis_free(struct basis_table *bt)
{
	if (!bt)
		return;
	for (size_t i = 0; i < bt->nb; i++)
		for (struct bent *e = bt->tab[i].head, *n; e; e = n) {
			n = e->next;
			free(e->text);
			free(e);
		}
	pthread_mutex_destroy(&bt->mu);
	free(bt->shares);
	free(bt->tab);
	free(bt);
}

/* Twice the buckets, when memory allows (else chains grow: slower, not
 * wrong).  Caller holds bt->mu. */
static void grow(struct basis_table *bt)
{
	size_t nb = bt->nb * 2;
	struct bslot *t = calloc(nb, sizeof(*t));

	if (!t)
		return;
	for (size_t i = 0; i < bt->nb; i++)
		for (struct bent *e = bt->tab[i].head, *n; e; e = n) {
			struct bslot *b = &t[e->h & (nb - 1)];
			n = e->next;
			e->next = b->head;
			b->head = e;
			b->sum |= sum_bit(e->h);
		}
	free(bt->tab);
	bt->tab = t;
	bt->nb = nb;
}

struct bent *bent_find(struct basis_table *bt, uint8_t kind, const char *key,
		       uint32_t h, struct holder ho)
{
	struct bslot *b = bucket(bt, h);

	if (!may_hold(b, h))
		return NULL;
	for (struct bent *e = b->head; e; e = e->next)
		if (e->kind == kind && e->h == h && e->pid == ho.pid &&
		    e->start == ho.start && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* What drop_where() removes: @key's entries of the kinds in @kinds
 * (KIND() bits) held by @ho, or, with @group nonzero, that group's. */
struct dropping {
	unsigned kinds;
	struct holder ho;
	uint64_t group;
};

static int dropped(const struct bent *e, const struct dropping *d)
{
	if (d->group)
		return e->group == d->group;
	return e->pid == d->ho.pid && e->start == d->ho.start &&
	       (d->kinds & KIND(e->kind));
}

/* Remove @key's entries that @d names, in one walk of the bucket, and
 * recompute the bucket's summary from the entries left. */
static void drop_where(struct basis_table *bt, const char *key, uint32_t h,
		       const struct dropping *d)
{
	struct bslot *b = bucket(bt, h);
	uint32_t sum = 0;

	if (!may_hold(b, h))
		return;
	for (struct bent **pp = &b->head; *pp;) {
		struct bent *e = *pp;
		if (e->h == h && dropped(e, d) && strcmp(e->key, key) == 0) {
			*pp = e->next;
			bt->count--;
			bent_free(bt, e);
		} else {
			sum |= sum_bit(e->h);
			pp = &e->next;
		}
	}
	b->sum = sum; /* the whole chain was walked */
}

void bent_drop(struct basis_table *bt, unsigned kinds, const char *key,
	       uint32_t h, struct holder ho)
{
	struct dropping d = { .kinds = kinds, .ho = ho };

	drop_where(bt, key, h, &d);
}

void bent_drop_group(struct basis_table *bt, const char *key, uint32_t h,
		     uint64_t group)
{
	struct dropping d = { .group = group };

	drop_where(bt, key, h, &d);
}

/* May @ho have one more implicit entry (@lent: lent)?  0 past its share,
 * or when memory for its count is short.  Makes room for its slot if it
 * has none (a pointer to a slot is stale after). */
static int share_room(struct basis_table *bt, struct holder ho, int lent)
{
	struct share *s = share_find(bt, ho);

	if (!s)
		return shares_room(bt) == 0 && (lent ? bt->lent_max : bt->own_max);
	return lent ? s->n_lent < bt->lent_max : s->n_own < bt->own_max;
}

/* Count @e, implicit and just added: share_room() made room for its slot. */
static void share_add(struct basis_table *bt, struct bent *e)
{
	struct holder ho = { e->pid, e->start };
	struct share *s = share_find(bt, ho);

	if (!s)
		s = share_put(bt, ho);
	if (e->lent)
		s->n_lent++;
	else
		s->n_own++;
}

void bent_registered(struct basis_table *bt, struct bent *e)
{
	e->reg_ticks = proc_now_ticks();
	e->reg_seq = bt->lp_seq;
	bt->lp_dirty = 1;
}

void bt_unlock(struct basis_table *bt)
{
	if (bt->lp_dirty) {
		struct lp_slot *s = &bt->lp_ring[bt->lp_seq % LP_RING];

		s->seq = bt->lp_seq++;
		s->pid = proc_last_pid();
		bt->lp_dirty = 0;
	}
	pthread_mutex_unlock(&bt->mu);
}

void bent_reuse(struct basis_table *bt, struct bent *e, uid_t uid,
		uint64_t version)
{
	e->uid = uid;
	e->version = version;
	bent_registered(bt, e);
	e->made = e->pinned = e->seen = e->gone = 0;
	e->by = e->via = 0;
	e->by_start = e->via_start = 0;
}

struct bent *bent_add(struct basis_table *bt, uint8_t kind, const char *key,
		      uint32_t h, struct holder ho, uid_t uid,
		      uint64_t version, uint64_t group, int lent)
{
	size_t klen = strlen(key);
	struct bslot *b;
	struct bent *e;

	/* Sweep entries of dead processes whenever the table doubled since
	 * the last sweep (amortized O(1) per entry), and when it is full.
	 * A table full of live holders' entries is swept again only after
	 * GC_FULL_NS: a sweep per add would cost a walk of every entry (and
	 * a /proc proof per holder) each time, and gain nothing. */
	if (bt->count >= bt->gc_at ||
	    (bt->count >= bt->max && proc_mono_ns() >= bt->gc_retry_ns)) {
		size_t left = basis_gc_locked(bt);
		bt->gc_at = left * 2 > 4096 ? left * 2 : 4096;
		bt->gc_retry_ns = left >= bt->max - bt->max / 8
					  ? proc_mono_ns() + GC_FULL_NS
					  : 0;
	}
	if (bt->count >= bt->max) {
		/* Said once a minute: the refusals that follow are logged
		 * as "no basis; read it first", which a writer that read
		 * the record cannot make sense of alone. */
		if (proc_mono_ns() >= bt->full_log_ns) {
			bt->full_log_ns = proc_mono_ns() + 60000000000LL;
			fprintf(stderr, "recfs: the basis table is full "
				"(basis_entries=%zu, all of live processes): "
				"reads record no basis and declarations fail "
				"until some exit, so their changes are "
				"refused; raise -o basis_entries\n", bt->max);
		}
		return NULL;
	}
	if (kind == B_IMPLICIT && !share_room(bt, ho, lent))
		return NULL;
	e = malloc(sizeof(*e) + klen + 1);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, klen + 1);
	e->h = h;
	e->kind = kind;
	e->pid = ho.pid;
	e->start = ho.start;
	e->uid = uid;
	e->version = version;
	bent_registered(bt, e);
	e->group = group;
	e->lent = kind == B_IMPLICIT && lent;
	b = bucket(bt, h);
	e->next = b->head;
	b->head = e;
	b->sum |= sum_bit(h);
	if (++bt->count > bt->nb)
		grow(bt);
	if (kind == B_IMPLICIT)
		share_add(bt, e);
	return e;
}

/* Holders whose liveness a sweep remembers (basis_gc_locked). */
#define GC_SEEN 64

size_t basis_gc_locked(struct basis_table *bt)
{
	/* Entries belong to few holders, met in hash order, interleaved: a
	 * shell, its commands, the session leader.  Remember each answer,
	 * by holder, instead of asking once per entry (each costs a poll or
	 * a /proc read); a holder that meets another in its slot is asked
	 * again, never answered wrong. */
	struct {
		struct holder ho;
		int live;
	} seen[GC_SEEN];

	memset(seen, 0, sizeof(seen)); /* pid 0: no holder */
	for (size_t i = 0; i < bt->nb; i++) {
		uint32_t sum = 0;
		for (struct bent **pp = &bt->tab[i].head; *pp;) {
			struct bent *e = *pp;
			unsigned k = ((unsigned)e->pid ^ (unsigned)e->start) %
				     GC_SEEN;
			struct proc_info pi;
			int live;
			if (seen[k].ho.pid == e->pid &&
			    seen[k].ho.start == e->start) {
				live = seen[k].live;
			} else {
				live = proc_get(e->pid, &pi) == 0 &&
				       pi.start == e->start;
				seen[k].ho = (struct holder){ e->pid, e->start };
				seen[k].live = live;
			}
			if (!live) {
				*pp = e->next;
				bt->count--;
				bent_free(bt, e);
			} else {
				sum |= sum_bit(e->h);
				pp = &e->next;
			}
		}
		bt->tab[i].sum = sum;
	}
	return bt->count;
}

size_t basis_gc(struct basis_table *bt)
{
	size_t n;

	pthread_mutex_lock(&bt->mu);
	n = basis_gc_locked(bt);
	bt_unlock(bt);
	return n;
}

void basis_shape(struct basis_table *bt, size_t *entries, size_t *buckets,
		 size_t *longest)
{
	pthread_mutex_lock(&bt->mu);
	*entries = bt->count;
	*buckets = bt->nb;
	*longest = 0;
	for (size_t i = 0; i < bt->nb; i++) {
		size_t n = 0;
		for (struct bent *e = bt->tab[i].head; e; e = e->next)
			n++;
		if (n > *longest)
			*longest = n;
	}
	bt_unlock(bt);
}

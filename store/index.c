/* index.c - the in-memory index: a chained hash table of every key ever
 * seen (live records, directories and tombstones) plus, for live keys,
 * a directory tree for listing; and the memory its nodes live in. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "store_int.h"

/* Node memory is ours, so AddressSanitizer learns from us which parts of
 * a chunk are nodes: a freed node is poisoned until it is handed out. */
#if defined(__SANITIZE_ADDRESS__)
#define NODE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NODE_ASAN 1
#endif
#endif
#ifdef NODE_ASAN
#include <sanitizer/asan_interface.h>
#define NODE_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define NODE_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define NODE_POISON(p, n) ((void)(p), (void)(n))
#define NODE_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct node_chunk {
	struct node_chunk *next;
	size_t size;
	/* nodes follow; the header keeps them 8-aligned */
};

#define IDX_MIN_CAP 1024
#define NODE_CHUNK_MIN 4096
#define NODE_CHUNK_MAX (1u << 20)

/* A node with a klen-byte key takes node_size(klen) bytes (a multiple of
 * 8).  Keys that pass key_check() make nodes of at most NODE_SMALL_MAX,
 * carved from chunks; longer ones (only a hand-made log has them) are
 * malloc'ed each. */
static size_t node_size(size_t klen)
{
	return (offsetof(struct node, key) + klen + 1 + 7) & ~(size_t)7;
}

#define NODE_SMALL_MIN node_size(0)
#define NODE_SMALL_MAX node_size(STORE_KEY_MAX)
#define NODE_CLASSES ((NODE_SMALL_MAX - NODE_SMALL_MIN) / 8 + 1)

static size_t node_class(size_t size)
{
	return (size - NODE_SMALL_MIN) / 8;
}

static struct node *mem_alloc(struct node_mem *m, size_t size)
{
	void *p;

	if (size > NODE_SMALL_MAX)
		return malloc(size);
	if (m->free && m->free[node_class(size)]) {
		p = m->free[node_class(size)];
		NODE_UNPOISON(p, size);
		m->free[node_class(size)] = *(void **)p;
		return p;
	}
	if (!m->next || (size_t)(m->end - m->next) < size) {
		size_t csize = m->chunk_size;
		struct node_chunk *c;

		while (csize - sizeof(*c) < size)
			csize *= 2;
		c = malloc(csize);
		if (!c)
			return NULL;
		c->next = m->chunks;
		c->size = csize;
		m->chunks = c;
		m->next = (char *)(c + 1);
		m->end = (char *)c + c->size;
		NODE_POISON(m->next, (size_t)(m->end - m->next));
		/* A small store stays small; a big one gets big chunks. */
		if (m->chunk_size < NODE_CHUNK_MAX)
			m->chunk_size *= 2;
	}
	p = m->next;
	m->next += size;
	NODE_UNPOISON(p, size);
	return p;
}

static void mem_release(struct node_mem *m, struct node *n)
{
	size_t size = node_size(n->klen);

	if (size > NODE_SMALL_MAX) {
		free(n);
		return;
	}
	if (!m->free) {
		m->free = calloc(NODE_CLASSES, sizeof(*m->free));
		if (!m->free)
			return; /* its chunk frees it, with the index */
	}
	*(void **)n = m->free[node_class(size)];
	m->free[node_class(size)] = n;
	NODE_POISON(n, size);
}

/* ---- Owners (see struct owners) ------------------------------------ */

static uint32_t owner_hash(uint32_t uid, uint32_t gid)
{
	uint64_t h = ((uint64_t)uid << 32 | gid) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 32);
}

/* Put pair number @i into the lookup (which has room). */
static void owner_slot_put(struct owners *o, uint32_t i)
{
	const struct owner *p = &o->blk[i / OWNER_BLOCK][i % OWNER_BLOCK];
	uint32_t s = owner_hash(p->uid, p->gid) & (o->nslot - 1);

	while (o->slot[s])
		s = (s + 1) & (o->nslot - 1);
	o->slot[s] = i + 1;
}

/* The number of pair @uid:@gid, added if new.  @return 0; -ENOSPC when
 * the table is full (OWNER_MAX pairs); -ENOMEM. */
static int owner_get(struct owners *o, uint32_t uid, uint32_t gid,
		     uint16_t *num)
{
	uint32_t s = owner_hash(uid, gid) & (o->nslot - 1), i;

	for (; o->slot[s]; s = (s + 1) & (o->nslot - 1)) {
		const struct owner *p;

		i = o->slot[s] - 1;
		p = &o->blk[i / OWNER_BLOCK][i % OWNER_BLOCK];
		if (p->uid == uid && p->gid == gid) {
			*num = (uint16_t)i;
			return 0;
		}
	}
	if (o->n == OWNER_MAX)
		return -ENOSPC;
	i = o->n;
	if (!o->blk[i / OWNER_BLOCK]) {
		o->blk[i / OWNER_BLOCK] =
			malloc(OWNER_BLOCK * sizeof(struct owner));
		if (!o->blk[i / OWNER_BLOCK])
			return -ENOMEM;
	}
	if (2 * (i + 1) > o->nslot) {
		uint32_t *old = o->slot, oldn = o->nslot;
		uint32_t *ns = calloc(oldn * 2, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		o->slot = ns;
		o->nslot = oldn * 2;
		for (uint32_t j = 0; j < oldn; j++)
			if (old[j])
				owner_slot_put(o, old[j] - 1);
		free(old);
	}
	o->blk[i / OWNER_BLOCK][i % OWNER_BLOCK] =
		(struct owner){ .uid = uid, .gid = gid };
	o->n++;
	owner_slot_put(o, i);
	*num = (uint16_t)i;
	return 0;
}

static int owners_init(struct owners *o)
{
	uint16_t zero;

	o->nslot = 16;
	o->slot = calloc(o->nslot, sizeof(*o->slot));
	if (!o->slot)
		return -ENOMEM;
	return owner_get(o, 0, 0, &zero); /* a fresh node's (all zeros) */
}

static void owners_free(struct owners *o)
{
	for (size_t b = 0; b < OWNER_BLOCKS; b++)
		free(o->blk[b]);
	free(o->slot);
}

int node_set_meta(struct index *ix, struct node *n,
		  const struct store_meta *m)
{
	uint16_t num;
	int rc = owner_get(&ix->own, m->uid, m->gid, &num);

	if (rc == -ENOSPC) {
		/* More pairs than the table holds: this one in the ext. */
		if (!node_ext(n))
			return -ENOMEM;
		n->x->uid = m->uid;
		n->x->gid = m->gid;
		num = OWNER_EXT;
	} else if (rc < 0) {
		return rc;
	}
	n->owner = num;
	n->mode = (uint16_t)m->mode;
	n->atime_ns = m->atime_ns;
	n->mtime_ns = m->mtime_ns;
	n->ctime_ns = m->ctime_ns;
	return 0;
}

/* ---- The table ----------------------------------------------------- */

int idx_init(struct index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->cap = IDX_MIN_CAP;
	ix->tab = calloc(ix->cap, sizeof(*ix->tab));
	ix->mem.chunk_size = NODE_CHUNK_MIN;
	if (!ix->tab || owners_init(&ix->own) < 0) {
		idx_free(ix);
		return -ENOMEM;
	}
	return 0;
}

/* What a node owns outside node memory. */
static void node_free_parts(struct node *n)
{
	if (n->x) {
		free(n->x->xattrs);
		free(n->x->past);
		free(n->x);
		n->x = NULL;
	}
	if (n->nvers >= 2)
		free(n->vs.many.v);
	n->nvers = 0;
}

void idx_free(struct index *ix)
{
	struct node_chunk *c, *next_c;

	for (size_t i = 0; ix->tab && i < ix->cap; i++) {
		struct node *n = ix->tab[i], *next;
		for (; n; n = next) {
			next = n->hnext;
			node_free_parts(n);
			if (node_size(n->klen) > NODE_SMALL_MAX)
				free(n);
		}
	}
	for (c = ix->mem.chunks; c; c = next_c) {
		next_c = c->next;
		NODE_UNPOISON(c, c->size);
		free(c);
	}
	free(ix->mem.free);
	free(ix->tab);
	owners_free(&ix->own);
	memset(ix, 0, sizeof(*ix));
}

static uint64_t key_hash(const char *key, size_t klen)
{
	return XXH3_64bits(key, klen);
}

void idx_prefetch(struct index *ix, const char *key, size_t klen, int node)
{
	struct node **slot = &ix->tab[key_hash(key, klen) & (ix->cap - 1)];

	if (!node)
		__builtin_prefetch(slot);
	else if (*slot)
		__builtin_prefetch(&(*slot)->hnext); /* with klen and key */
}

struct node *idx_get(struct index *ix, const char *key, size_t klen)
{
	struct node *n = ix->tab[key_hash(key, klen) & (ix->cap - 1)];

	for (; n; n = n->hnext)
		if (n->klen == klen && memcmp(n->key, key, klen) == 0)
			return n;
	return NULL;
}

/* Nodes keep no hash: rehashing reads their keys, which a resize walks
 * to anyway, and the 4 bytes are 3% of a node. */
static int idx_resize(struct index *ix, size_t ncap)
{
	struct node **nt = calloc(ncap, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < ix->cap; i++) {
		struct node *n = ix->tab[i], *next;
		for (; n; n = next) {
			size_t b = key_hash(n->key, n->klen) & (ncap - 1);
			next = n->hnext;
			n->hnext = nt[b];
			nt[b] = n;
		}
	}
	free(ix->tab);
	ix->tab = nt;
	ix->cap = ncap;
	return 0;
}

int idx_reserve(struct index *ix, size_t n)
{
	size_t ncap = ix->cap;

	while (ncap < ix->count + n)
		ncap *= 2;
	return ncap == ix->cap ? 0 : idx_resize(ix, ncap);
}

void idx_fit(struct index *ix)
{
	size_t ncap = IDX_MIN_CAP;

	while (ncap < ix->count)
		ncap *= 2;
	/* A failed shrink leaves a table that works. */
	if (ncap < ix->cap)
		idx_resize(ix, ncap);
}

int idx_add(struct index *ix, const char *key, size_t klen, struct node **out)
{
	struct node *n;
	size_t b;

	if (klen > UINT16_MAX)
		return -EUCLEAN; /* a log key length is 16 bits */
	if (ix->count >= ix->cap && idx_resize(ix, ix->cap * 2) < 0)
		return -ENOMEM;
	n = mem_alloc(&ix->mem, node_size(klen));
	if (!n)
		return -ENOMEM;
	memset(n, 0, offsetof(struct node, key));
	memcpy(n->key, key, klen);
	n->key[klen] = 0;
	n->klen = (uint16_t)klen;
	b = key_hash(key, klen) & (ix->cap - 1);
	n->hnext = ix->tab[b];
	ix->tab[b] = n;
	ix->count++;
	*out = n;
	return 0;
}

void idx_remove(struct index *ix, struct node *n)
{
	struct node **pp = &ix->tab[key_hash(n->key, n->klen) & (ix->cap - 1)];

	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = n->hnext;
		ix->count--;
	}
	node_unlink(n);
	node_free_parts(n);
	mem_release(&ix->mem, n);
}

struct node_ext *node_ext(struct node *n)
{
	if (!n->x)
		n->x = calloc(1, sizeof(*n->x));
	return n->x;
}

void node_ext_trim(struct node *n)
{
	if (n->x && n->kind == K_FILE && !n->x->xattrs_len &&
	    (n->flags & N_STATE_VER) && n->owner != OWNER_EXT &&
	    !n->x->past) {
		free(n->x->xattrs);
		free(n->x);
		n->x = NULL;
	}
}

int node_set_xattrs(struct node *n, const uint8_t *x, uint32_t len)
{
	uint8_t *c;

	if (!len) {
		if (n->x) {
			free(n->x->xattrs);
			n->x->xattrs = NULL;
			n->x->xattrs_len = 0;
		}
		return 0;
	}
	/* Most changes carry the record's xattrs over unchanged: then
	 * there is nothing to allocate (nor to fail once the entry is in
	 * the log, see commit_batch). */
	if (n->x && n->x->xattrs_len == len) {
		if (memcmp(n->x->xattrs, x, len) != 0)
			memcpy(n->x->xattrs, x, len);
		return 0;
	}
	if (!node_ext(n) || !(c = malloc(len)))
		return -ENOMEM;
	memcpy(c, x, len);
	free(n->x->xattrs);
	n->x->xattrs = c;
	n->x->xattrs_len = len;
	return 0;
}

int node_add_ver(struct node *n, const struct ver *v, uint32_t keep,
		 uint64_t *dead_blob)
{
	struct ver *vs = node_vers(n);
	uint32_t i, drop;

	for (uint32_t j = 0; j < n->nvers; j++)
		if (vs[j].version == v->version) {
			vs[j] = *v; /* re-written by compaction */
			return 0;
		}
	if (n->nvers == 0) {
		n->vs.one = *v;
		n->nvers = 1;
		return 0;
	}
	for (i = n->nvers; i > 0 && vs[i - 1].version > v->version; i--)
		;
	/* nvers <= keep always, so at most the oldest one falls out. */
	drop = n->nvers + 1 > keep;
	if (drop && i == 0) { /* older than every version it would keep */
		if (v->is_blob)
			*dead_blob += v->size;
		return 0;
	}
	if (drop && vs[0].is_blob)
		*dead_blob += vs[0].size;
	if (drop && n->nvers == 1) { /* keep == 1 */
		n->vs.one = *v;
		return 0;
	}
	if (n->nvers == 1) { /* inline to an array: one and many overlap */
		struct ver one = n->vs.one, *a;
		uint32_t cap = keep < 4 ? 2 : 4;

		a = malloc(cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		a[0] = one;
		n->vs.many.v = a;
		n->vs.many.cap = cap;
	} else if (!drop && n->nvers == n->vs.many.cap) {
		uint32_t cap = n->vs.many.cap * 2;
		struct ver *a;

		if (cap > keep)
			cap = keep;
		a = realloc(n->vs.many.v, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		n->vs.many.v = a;
		n->vs.many.cap = cap;
	}
	vs = n->vs.many.v;
	if (drop) {
		memmove(vs, vs + 1, (n->nvers - 1) * sizeof(*vs));
		n->nvers--;
		i--;
	}
	memmove(vs + i + 1, vs + i, (n->nvers - i) * sizeof(*vs));
	vs[i] = *v;
	n->nvers++;
	return 0;
}

int node_past_add(struct node *n, uint64_t upto, const struct store_meta *m)
{
	struct past *p;
	size_t k = 0;

	if (!upto)
		return 0;
	if (!node_ext(n))
		return -ENOMEM;
	p = n->x->past;
	while (p && p[k].upto)
		k++;
	if (k && p[k - 1].upto >= upto)
		return 0;
	if (k && p[k - 1].uid == m->uid && p[k - 1].gid == m->gid &&
	    p[k - 1].mode == m->mode) {
		p[k - 1].upto = upto;
		return 0;
	}
	p = realloc(p, (k + 2) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	p[k] = (struct past){ .upto = upto, .uid = m->uid, .gid = m->gid,
			      .mode = m->mode };
	p[k + 1].upto = 0;
	n->x->past = p;
	return 0;
}

void node_past_trim(struct node *n)
{
	struct past *p = n->x ? n->x->past : NULL;
	uint64_t oldest = n->nvers ? node_cvers(n)[0].version : UINT64_MAX;
	size_t k = 0, drop = 0;

	if (!p)
		return;
	for (; p[k].upto; k++)
		drop += p[k].upto < oldest;
	if (drop == k) {
		free(p);
		n->x->past = NULL;
	} else if (drop) {
		memmove(p, p + drop, (k - drop + 1) * sizeof(*p));
	}
}

void node_link(struct node *parent, struct node *n)
{
	struct node *first = parent->x->child;

	if (n->flags & N_LINKED)
		return;
	n->sib_prev = parent;
	n->sib_next = first;
	n->flags |= N_LINKED | N_FIRST;
	if (first) {
		first->sib_prev = n;
		first->flags &= (uint8_t)~N_FIRST;
	}
	parent->x->child = n;
}

void node_unlink(struct node *n)
{
	struct node *next = n->sib_next;

	if (!(n->flags & N_LINKED))
		return;
	if (n->flags & N_FIRST) {
		n->sib_prev->x->child = next;
		if (next)
			next->flags |= N_FIRST;
	} else {
		n->sib_prev->sib_next = next;
	}
	if (next)
		next->sib_prev = n->sib_prev;
	n->sib_next = n->sib_prev = NULL;
	n->flags &= (uint8_t)~(N_LINKED | N_FIRST);
}

void node_drop_ver(struct node *n, uint32_t i)
{
	struct ver *vs = node_vers(n);

	if (i >= n->nvers)
		return;
	if (n->nvers == 1) {
		memset(&n->vs.one, 0, sizeof(n->vs.one));
		n->nvers = 0;
		return;
	}
	memmove(vs + i, vs + i + 1, (n->nvers - i - 1) * sizeof(*vs));
	if (n->nvers == 2) { /* back to inline: one and many overlap */
		struct ver one = vs[0];
		free(vs);
		n->vs.one = one;
	}
	n->nvers--;
}

/* Bytes of log this node keeps alive: its kept versions' entries and its
 * state entry when that is not the newest version's entry. */
uint64_t node_live_bytes(const struct node *n)
{
	const struct ver *vs = node_cvers(n);
	uint64_t b = 0;

	for (uint32_t i = 0; i < n->nvers; i++)
		b += vs[i].elen;
	if (!(n->flags & N_STATE_VER) && n->x)
		b += n->x->state_len;
	return b;
}

int key_check(const char *key)
{
	size_t len = strlen(key), comp = 0;
	const char *c = key;

	if (len > STORE_KEY_MAX)
		return -ENAMETOOLONG;
	if (len == 0)
		return 0; /* the root */
	if (key[0] == '/' || key[len - 1] == '/')
		return -EINVAL;
	for (const char *p = key;; p++) {
		if (*p == '/' || *p == 0) {
			comp = (size_t)(p - c);
			if (comp == 0)
				return -EINVAL;
			if (comp > STORE_NAME_MAX)
				return -ENAMETOOLONG;
			if ((comp == 1 && c[0] == '.') ||
			    (comp == 2 && c[0] == '.' && c[1] == '.'))
				return -EINVAL;
			if (*p == 0)
				break;
			c = p + 1;
		}
	}
	return 0;
}

size_t key_parent_len(const char *key, size_t klen)
{
	while (klen > 0 && key[klen - 1] != '/')
		klen--;
	return klen ? klen - 1 : 0;
}

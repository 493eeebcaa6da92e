/* index.c - the in-memory index: a chained hash table of every key ever
 * seen (live records, directories and tombstones) plus, for live keys,
 * a directory tree for listing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "store_int.h"

int idx_init(struct index *ix)
{
	ix->cap = 1024;
	ix->count = 0;
	ix->tab = calloc(ix->cap, sizeof(*ix->tab));
	return ix->tab ? 0 : -ENOMEM;
}

static void node_free(struct node *n)
{
	free(n->key);
	free(n->xattrs);
	free(n->vers);
	free(n);
}

void idx_free(struct index *ix)
{
	for (size_t i = 0; i < ix->cap; i++) {
		struct node *n = ix->tab[i], *next;
		for (; n; n = next) {
			next = n->hnext;
			node_free(n);
		}
	}
	free(ix->tab);
	ix->tab = NULL;
}

static uint32_t key_hash(const char *key, size_t klen)
{
	return (uint32_t)XXH3_64bits(key, klen);
}

struct node *idx_get(struct index *ix, const char *key, size_t klen)
{
	uint32_t h = key_hash(key, klen);

	for (struct node *n = ix->tab[h & (ix->cap - 1)]; n; n = n->hnext)
		if (n->hash == h && n->klen == klen &&
		    memcmp(n->key, key, klen) == 0)
			return n;
	return NULL;
}

static int idx_grow(struct index *ix)
{
	size_t ncap = ix->cap * 2;
	struct node **nt = calloc(ncap, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < ix->cap; i++) {
		struct node *n = ix->tab[i], *next;
		for (; n; n = next) {
			next = n->hnext;
			n->hnext = nt[n->hash & (ncap - 1)];
			nt[n->hash & (ncap - 1)] = n;
		}
	}
	free(ix->tab);
	ix->tab = nt;
	ix->cap = ncap;
	return 0;
}

int idx_add(struct index *ix, const char *key, size_t klen, struct node **out)
{
	struct node *n;
	size_t b;

	if (ix->count >= ix->cap && idx_grow(ix) < 0)
		return -ENOMEM;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->key = malloc(klen + 1);
	if (!n->key) {
		free(n);
		return -ENOMEM;
	}
	memcpy(n->key, key, klen);
	n->key[klen] = 0;
	n->klen = (uint32_t)klen;
	n->hash = key_hash(key, klen);
	b = n->hash & (ix->cap - 1);
	n->hnext = ix->tab[b];
	ix->tab[b] = n;
	ix->count++;
	*out = n;
	return 0;
}

void idx_remove(struct index *ix, struct node *n)
{
	struct node **pp = &ix->tab[n->hash & (ix->cap - 1)];

	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = n->hnext;
		ix->count--;
	}
	node_unlink(n);
	node_free(n);
}

void node_link(struct node *parent, struct node *n)
{
	if (n->parent)
		return;
	n->parent = parent;
	n->sib_prev = NULL;
	n->sib_next = parent->child;
	if (parent->child)
		parent->child->sib_prev = n;
	parent->child = n;
}

void node_unlink(struct node *n)
{
	if (!n->parent)
		return;
	if (n->sib_prev)
		n->sib_prev->sib_next = n->sib_next;
	else
		n->parent->child = n->sib_next;
	if (n->sib_next)
		n->sib_next->sib_prev = n->sib_prev;
	n->parent = n->sib_next = n->sib_prev = NULL;
}

/* Bytes of log this node keeps alive: its kept versions' entries and its
 * state entry when that is not the current version's entry. */
uint64_t node_live_bytes(const struct node *n)
{
	uint64_t b = 0;
	int state_is_ver = 0;

	for (uint32_t i = 0; i < n->nvers; i++) {
		b += n->vers[i].elen;
		if (n->vers[i].seg == n->state_seg &&
		    n->vers[i].eoff == n->state_off)
			state_is_ver = 1;
	}
	if (!state_is_ver)
		b += n->state_len;
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

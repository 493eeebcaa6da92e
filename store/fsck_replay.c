/* fsck_replay.c - fsck's replay: which versions each key keeps, from the
 * closed groups of the log, by the rules replay in store.c follows. */
#include "fsck_int.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static struct fsck_key *fsck_key_find(const struct fsck_ctx *c,
				      const char *key, size_t len)
{
	if (!c->tab_cap)
		return NULL;
	for (size_t i = XXH3_64bits(key, len) & (c->tab_cap - 1); c->tab[i];
	     i = (i + 1) & (c->tab_cap - 1)) {
		struct fsck_key *k = c->tab[i];

		if (k->len == len && memcmp(k->key, key, len) == 0)
			return k;
	}
	return NULL;
}

struct fsck_key *fsck_key_get(struct fsck_ctx *c, const char *key,
			      uint16_t len)
{
	uint64_t h = XXH3_64bits(key, len);
	struct fsck_key *k;
	size_t i;

	if (2 * (c->tab_n + 1) > c->tab_cap) {
		size_t ncap = c->tab_cap ? 2 * c->tab_cap : 1024;
		struct fsck_key **nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			return NULL;
		for (size_t j = 0; j < c->tab_cap; j++) {
			struct fsck_key *o = c->tab[j];

			if (!o)
				continue;
			i = XXH3_64bits(o->key, o->len) & (ncap - 1);
			while (nt[i])
				i = (i + 1) & (ncap - 1);
			nt[i] = o;
		}
		free(c->tab);
		c->tab = nt;
		c->tab_cap = ncap;
	}
	for (i = h & (c->tab_cap - 1); c->tab[i]; i = (i + 1) & (c->tab_cap - 1)) {
		k = c->tab[i];
		if (k->len == len && memcmp(k->key, key, len) == 0)
			return k;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->key = malloc(len ? len : 1);
	if (!k->key) {
		free(k);
		return NULL;
	}
	memcpy(k->key, key, len);
	k->len = len;
	c->tab[i] = k;
	c->tab_n++;
	return k;
}

/* Add one PUT to a key's kept candidates, in version order: compaction
 * writes older versions (HIST) beside the current one, in any order. */
static int fsck_key_add(struct fsck_key *k, const struct fsck_ver *v)
{
	unsigned i;

	for (i = 0; i < k->nver; i++) {
		if (k->ver[i].version == v->version) {
			k->ver[i] = *v;
			return 0;
		}
		if (k->ver[i].version > v->version)
			break;
	}
	if (k->nver == k->cap) {
		unsigned ncap = k->cap ? 2 * k->cap : 1;
		struct fsck_ver *nv = realloc(k->ver, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		k->ver = nv;
		k->cap = ncap;
	}
	memmove(&k->ver[i + 1], &k->ver[i], (k->nver - i) * sizeof(k->ver[0]));
	k->ver[i] = *v;
	k->nver++;
	return 0;
}

static int fsck_named_add(struct fsck_ctx *c, uint64_t blob_id)
{
	if (c->nnamed == c->named_cap) {
		size_t ncap = c->named_cap ? 2 * c->named_cap : 256;
		uint64_t *n = realloc(c->named, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->named = n;
		c->named_cap = ncap;
	}
	c->named[c->nnamed++] = blob_id;
	return 0;
}

static struct fsck_key *fsck_parent(const struct fsck_ctx *c,
				    const char *key, size_t len)
{
	while (len > 0 && key[len - 1] != '/')
		len--;
	return fsck_key_find(c, key, len ? len - 1 : 0);
}

static void fsck_link(const struct fsck_ctx *c, struct fsck_key *k, int on)
{
	struct fsck_key *p;

	if (k->len == 0 || k->linked == on)
		return;
	p = fsck_parent(c, k->key, k->len);
	if (!p)
		return;
	k->linked = (uint8_t)on;
	if (on)
		p->nchild++;
	else if (p->nchild)
		p->nchild--;
}

/* Apply one entry of a closed group.  The rules are those of replay in
 * store_apply() (store.c), and must change with them: an entry replay
 * refuses makes the open fail, so fsck must not call that store clean,
 * and one it accepts must not be called damage.  @return NULL, or why
 * the entry contradicts the state the entries before it built. */
static const char *fsck_apply_one(struct fsck_ctx *c, struct fsck_pend *p,
				  int *err)
{
	struct fsck_key *k = fsck_key_find(c, p->key, p->key_len), *par;
	int hist = !!(p->flags & LOG_F_HIST);
	uint64_t newest;

	if (p->type == LOG_FLOOR)
		return NULL;
	if (k && k->kind == FK_NONE)
		k = NULL;
	if (p->key_len && !hist &&
	    (p->type == LOG_PUT || p->type == LOG_MKDIR)) {
		par = fsck_parent(c, p->key, p->key_len);
		if (!par || par->kind != FK_DIR)
			return "parent is not a directory";
	}
	if (!k) {
		/* A DEL may stand alone: compaction keeps a tombstone's line
		 * without the record it ended. */
		if (p->type != LOG_PUT && p->type != LOG_MKDIR &&
		    p->type != LOG_DEL)
			return "key does not exist";
		k = fsck_key_get(c, p->key, p->key_len);
		if (!k) {
			*err = -ENOMEM;
			return NULL;
		}
	}
	switch (p->type) {
	case LOG_PUT:
		if ((p->flags & LOG_F_BLOB) && !p->v.blob_id)
			return "PUT of blob 0";
		if (p->v.blob_id && (*err = fsck_named_add(c, p->v.blob_id)))
			return NULL;
		newest = k->nver ? k->ver[k->nver - 1].version : 0;
		if (hist) {
			if (k->kind == FK_FILE && p->v.version > newest)
				return "history above the current version";
			if ((*err = fsck_key_add(k, &p->v)))
				return NULL;
			if (k->kind == FK_NONE)
				k->kind = FK_TOMB;
			return NULL;
		}
		if (k->kind == FK_DIR)
			return "PUT of a directory";
		if (k->nver && p->v.version <= newest)
			return "PUT not above the versions kept";
		if ((*err = fsck_key_add(k, &p->v)))
			return NULL;
		k->kind = FK_FILE;
		fsck_link(c, k, 1);
		return NULL;
	case LOG_META:
		if (k->kind != FK_FILE && k->kind != FK_DIR)
			return "META of a key that does not exist";
		return NULL;
	case LOG_DEL:
		if (k->kind == FK_DIR)
			return "DEL of a directory";
		fsck_link(c, k, 0);
		k->kind = FK_TOMB;
		return NULL;
	case LOG_MKDIR:
		if (k->kind == FK_FILE)
			return "MKDIR over a record";
		k->kind = FK_DIR;
		fsck_link(c, k, 1);
		return NULL;
	case LOG_RMDIR:
		if (k->kind != FK_DIR || k->len == 0)
			return "RMDIR of a key that is not a directory";
		if (k->nchild)
			return "RMDIR of a directory that is not empty";
		fsck_link(c, k, 0);
		k->kind = FK_TOMB;
		return NULL;
	}
	return "unknown type";
}

void fsck_drop_pending(struct fsck_ctx *c)
{
	for (size_t i = 0; i < c->npend; i++)
		free(c->pend[i].key);
	c->npend = 0;
}

int fsck_apply(struct fsck_ctx *c)
{
	int err = 0;

	for (size_t i = 0; i < c->npend && !err; i++) {
		struct fsck_pend *p = &c->pend[i];
		const char *why = fsck_apply_one(c, p, &err);
		char seg[32];

		if (!why)
			continue;
		fsck_seg_name(p->v.seg, seg, sizeof(seg));
		fprintf(c->out, "%s: entry at offset %" PRIu64
				" contradicts the entries before it: %s (%s key ",
			seg, p->v.off, why, fsck_type_name(p->type));
		fsck_key_print(c->out, p->key, p->key_len);
		fprintf(c->out, " v%" PRIu64 ")\n", p->v.version);
		c->problems++;
	}
	fsck_drop_pending(c);
	return err;
}

int fsck_pend_add(struct fsck_ctx *c, const struct log_entry *e,
		  uint64_t seg, uint64_t off, const struct log_body *b)
{
	struct fsck_pend *p;

	if (c->npend == c->pend_cap) {
		size_t ncap = c->pend_cap ? 2 * c->pend_cap : 64;

		p = realloc(c->pend, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->pend = p;
		c->pend_cap = ncap;
	}
	p = &c->pend[c->npend];
	memset(p, 0, sizeof(*p));
	p->key = malloc(e->key_len ? e->key_len : 1);
	if (!p->key)
		return -ENOMEM;
	memcpy(p->key, e->key, e->key_len);
	p->type = e->type;
	p->flags = e->flags;
	p->key_len = e->key_len;
	p->v.version = e->version;
	p->v.value_len = e->value_len;
	p->v.seg = seg;
	p->v.off = off;
	if (b && e->type == LOG_PUT) {
		memcpy(p->v.hash, b->hash, 16);
		if (e->flags & LOG_F_BLOB)
			p->v.blob_id = b->blob_id;
	}
	c->npend++;
	return 0;
}

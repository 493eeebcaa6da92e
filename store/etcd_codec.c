/* etcd_codec.c - how an etcd store's values are laid out (the m/, r/ and
 * t/ keys: see docs/ETCD.md), and the shared buffers that hold a
 * record's content in the cache. */
#include "etcd_es_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- the codec (little-endian, whatever the host) ------------------------
 * m/: "RFM1" mode uid gid (u32) atime mtime ctime (i64), then each xattr
 *     as name length (u16), value length (u32), name, value.
 * r/: "RFR1" version (u64) commit_ns (i64) nonce (u64) hash (16)
 *     prev (i64: the etcd revision of the version before, 0 if none), then
 *     the content.  Older versions are read at their revision (history).
 * t/: the last version, a space and the revision of the last live
 *     version's r/, a space and the nonce of the change that made it
 *     (which tells a delete of ours from another mount's of the same
 *     version; absent in older values: 0), in decimal; then, for each
 *     record of the key that ended (deleted, renamed away or over), a
 *     space and "UPTO:MODE:UID:GID" in decimal, oldest first: its
 *     versions up to UPTO are readable under that owner and mode, not
 *     those of whoever holds the name later (absent before 2026-12-07:
 *     readers that stop after the nonce ignore it). */
#define META_FIXED 40
#define REC_FIXED 52

uint8_t *es_enc_meta(const struct store_meta *m, const uint8_t *xa,
		     size_t xa_len, size_t *len)
{
	uint8_t *p = malloc(META_FIXED + xa_len);

	if (!p)
		return NULL;
	memcpy(p, "RFM1", 4);
	put32(p + 4, m->mode);
	put32(p + 8, m->uid);
	put32(p + 12, m->gid);
	put64(p + 16, (uint64_t)m->atime_ns);
	put64(p + 24, (uint64_t)m->mtime_ns);
	put64(p + 32, (uint64_t)m->ctime_ns);
	if (xa_len)
		memcpy(p + META_FIXED, xa, xa_len);
	*len = META_FIXED + xa_len;
	return p;
}

int es_dec_meta(const char *v, size_t len, struct store_meta *m,
		const uint8_t **xa, size_t *xa_len)
{
	const uint8_t *p = (const uint8_t *)v;

	if (len < META_FIXED || memcmp(p, "RFM1", 4) != 0)
		return -EUCLEAN;
	m->mode = get32(p + 4);
	m->uid = get32(p + 8);
	m->gid = get32(p + 12);
	m->atime_ns = (int64_t)get64(p + 16);
	m->mtime_ns = (int64_t)get64(p + 24);
	m->ctime_ns = (int64_t)get64(p + 32);
	*xa = p + META_FIXED;
	*xa_len = len - META_FIXED;
	return 0;
}

uint8_t *es_enc_rec(uint64_t version, int64_t commit_ns, uint64_t nonce,
		    int64_t prev, const void *data, size_t len, size_t *out_len)
{
	uint8_t *p = malloc(REC_FIXED + len);
	XXH128_hash_t h;

	if (!p)
		return NULL;
	memcpy(p, "RFR1", 4);
	put64(p + 4, version);
	put64(p + 12, (uint64_t)commit_ns);
	put64(p + 20, nonce);
	h = XXH3_128bits(data, len);
	XXH128_canonicalFromHash((XXH128_canonical_t *)(p + 28), h);
	put64(p + 44, (uint64_t)prev);
	if (len)
		memcpy(p + REC_FIXED, data, len);
	*out_len = REC_FIXED + len;
	return p;
}

int es_dec_rec(const char *v, size_t len, struct es_rec *out)
{
	const uint8_t *p = (const uint8_t *)v;

	if (len < REC_FIXED || memcmp(p, "RFR1", 4) != 0)
		return -EUCLEAN;
	out->version = get64(p + 4);
	out->commit_ns = (int64_t)get64(p + 12);
	out->nonce = get64(p + 20);
	memcpy(out->hash, p + 28, 16);
	out->prev = (int64_t)get64(p + 44);
	out->data = v + REC_FIXED;
	out->len = len - REC_FIXED;
	return 0;
}

void es_enc_tomb(uint64_t version, int64_t last_rev, uint64_t nonce,
		 char out[ES_TOMB_MAX], size_t *len)
{
	*len = (size_t)snprintf(out, ES_TOMB_MAX, "%llu %lld %llu",
				(unsigned long long)version,
				(long long)last_rev, (unsigned long long)nonce);
}

char *es_enc_past(const char *past, uint64_t upto, const struct store_meta *m,
		  unsigned keep)
{
	size_t n = 0, len;
	const char *s = past ? past : "";
	char *out;

	/* Only the newest @keep versions are kept, and each record had
	 * one at least: older entries name none. */
	for (const char *p = s; *p; p++)
		n += *p == ' ';
	while (keep && n + 1 > keep && *s) {
		s = strchr(s + 1, ' ');
		if (!s)
			s = "";
		n--;
	}
	len = strlen(s) + 64;
	out = malloc(len);
	if (out)
		snprintf(out, len, "%s %llu:%u:%u:%u", s,
			 (unsigned long long)upto, m->mode, m->uid, m->gid);
	return out;
}

int es_past_meta(const char *past, uint64_t version, struct store_meta *m)
{
	const char *p = past;

	while (p && *p == ' ') {
		unsigned long long upto;
		unsigned mode, uid, gid;

		if (sscanf(p, " %llu:%u:%u:%u", &upto, &mode, &uid, &gid) != 4)
			return 0;
		if (version <= upto) {
			m->mode = mode;
			m->uid = uid;
			m->gid = gid;
			return 1;
		}
		p = strchr(p + 1, ' ');
	}
	return 0;
}

/* ---- content buffers ----------------------------------------------------- */

struct es_buf *es_buf_new(const void *data, size_t len)
{
	struct es_buf *b = malloc(sizeof(*b) + len + 1);

	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->len = len;
	if (len)
		memcpy(b->data, data, len);
	b->data[len] = 0;
	return b;
}

void es_buf_put(struct es_buf *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1)
		free(b);
}

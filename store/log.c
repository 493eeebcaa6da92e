/* log.c - byte layout of segments, entries and bodies (see FORMAT.md).
 * Every integer on disk is big-endian; every checksum is XXH3-64 in its
 * canonical (big-endian) form. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* Weak: a libxxhash built without the dispatch leaves them NULL, and the
 * plain functions serve. */
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#pragma weak XXH3_64bits_dispatch
#pragma weak XXH3_64bits_update_dispatch
#pragma weak XXH3_128bits_dispatch
#pragma weak XXH3_128bits_update_dispatch
#define LOG_XXH_DISPATCH 1
#endif
#endif

#ifdef LOG_XXH_DISPATCH
/* libxxhash 0.8.1's AVX-512 code returns with the upper halves of the
 * vector registers dirty.  Every SSE instruction after it then pays for
 * that (ours are compiled for SSE2) until something clears them:
 * log_xxh128() took 160 ns for 1 KB, against 34 ns with the clearing
 * (Xeon, 2026-12-03).  vzeroupper exists only with AVX; without it the
 * dispatch ran SSE2 code and there is nothing to clear. */
__attribute__((target("avx"))) static void vec_clear_upper(void)
{
	__builtin_ia32_vzeroupper();
}
static void vec_clean(void)
{
	if (__builtin_cpu_supports("avx"))
		vec_clear_upper();
}
#define VEC_CLEAN() vec_clean()
#else
#define VEC_CLEAN() ((void)0)
#endif

uint64_t log_xxh64(const void *p, size_t len)
{
#ifdef LOG_XXH_DISPATCH
	if (XXH3_64bits_dispatch) {
		uint64_t h = XXH3_64bits_dispatch(p, len);
		VEC_CLEAN();
		return h;
	}
#endif
	return XXH3_64bits(p, len);
}

void log_xxh64_update(XXH3_state_t *s, const void *p, size_t len)
{
#ifdef LOG_XXH_DISPATCH
	if (XXH3_64bits_update_dispatch) {
		XXH3_64bits_update_dispatch(s, p, len);
		VEC_CLEAN();
		return;
	}
#endif
	XXH3_64bits_update(s, p, len);
}

void log_xxh128(const void *p, size_t len, uint8_t out[16])
{
	XXH128_canonical_t c;
	XXH128_hash_t h;

#ifdef LOG_XXH_DISPATCH
	if (XXH3_128bits_dispatch) {
		h = XXH3_128bits_dispatch(p, len);
		VEC_CLEAN();
	} else
#endif
		h = XXH3_128bits(p, len);
	XXH128_canonicalFromHash(&c, h);
	memcpy(out, c.digest, 16);
}

void log_xxh128_update(XXH3_state_t *s, const void *p, size_t len)
{
#ifdef LOG_XXH_DISPATCH
	if (XXH3_128bits_update_dispatch) {
		XXH3_128bits_update_dispatch(s, p, len);
		VEC_CLEAN();
		return;
	}
#endif
	XXH3_128bits_update(s, p, len);
}

void log_put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
void log_put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}
void log_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}
uint16_t log_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
uint32_t log_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}
uint64_t log_get64(const uint8_t *p)
{
	return (uint64_t)log_get32(p) << 32 | log_get32(p + 4);
}

void log_seg_header(uint8_t *out, uint64_t id, uint64_t first_id)
{
	memcpy(out, LOG_MAGIC, 8);
	log_put32(out + 8, LOG_FORMAT);
	log_put32(out + 12, 0);
	log_put64(out + 16, id);
	log_put64(out + 24, first_id);
	log_put64(out + 32, XXH3_64bits(out, 32));
}

int log_seg_check(const uint8_t *hdr, uint64_t *id, uint64_t *first_id)
{
	if (memcmp(hdr, LOG_MAGIC, 8) != 0)
		return -EUCLEAN;
	if (log_get64(hdr + 32) != XXH3_64bits(hdr, 32))
		return -EUCLEAN;
	if (log_get32(hdr + 8) != LOG_FORMAT)
		return log_get32(hdr + 8) > LOG_FORMAT ? -EPROTONOSUPPORT
						       : -EUCLEAN;
	*id = log_get64(hdr + 16);
	*first_id = log_get64(hdr + 24);
	return 0;
}

size_t log_entry_size(size_t key_len, size_t body_len, size_t inline_len)
{
	return LOG_ENTRY_HDR + key_len + body_len + inline_len;
}

void log_entry_encode(uint8_t *out, uint8_t type, uint8_t flags,
		      const char *key, size_t key_len, uint64_t version,
		      int64_t time_ns, uint64_t value_len, const uint8_t *body,
		      size_t body_len, const void *value, size_t inline_len)
{
	size_t len = log_entry_size(key_len, body_len, inline_len);

	log_put32(out + 8, (uint32_t)len);
	out[12] = type;
	out[13] = flags;
	log_put16(out + 14, (uint16_t)key_len);
	log_put64(out + 16, version);
	log_put64(out + 24, (uint64_t)time_ns);
	log_put64(out + 32, value_len);
	log_put32(out + 40, (uint32_t)body_len);
	log_put32(out + 44, 0);
	memcpy(out + LOG_ENTRY_HDR, key, key_len);
	if (body_len)
		memcpy(out + LOG_ENTRY_HDR + key_len, body, body_len);
	if (inline_len)
		memcpy(out + LOG_ENTRY_HDR + key_len + body_len, value,
		       inline_len);
	log_put64(out, log_xxh64(out + 8, len - 8));
}

/* The framing rules an entry must meet before its checksum is worth
 * computing; also what a resync scan uses to skip garbage quickly. */
static int frame_ok(const uint8_t *b, uint32_t len)
{
	uint8_t type = b[12], flags = b[13];
	uint64_t key_len = log_get16(b + 14), body_len = log_get32(b + 40);
	uint64_t value_len = log_get64(b + 32);
	uint64_t fixed = LOG_ENTRY_HDR + key_len + body_len;

	if (type < LOG_PUT || type > LOG_FLOOR || (flags & ~15u))
		return 0;
	/* OWNER names a HIST PUT's incarnation (FORMAT.md) */
	if ((flags & LOG_F_OWNER) &&
	    (type != LOG_PUT || !(flags & LOG_F_HIST)))
		return 0;
	if (log_get32(b + 44) != 0 || len < fixed || len > LOG_ENTRY_MAX)
		return 0;
	if (type == LOG_PUT && !(flags & LOG_F_BLOB))
		return len == fixed + value_len;
	return len == fixed;
}

ssize_t log_entry_decode(const uint8_t *buf, size_t avail,
			 struct log_entry *e)
{
	ssize_t len = log_entry_parse(buf, avail, e);

	if (len > 0 && log_get64(buf) != log_xxh64(buf + 8, (size_t)len - 8))
		return -EUCLEAN;
	return len;
}

ssize_t log_entry_parse(const uint8_t *buf, size_t avail, struct log_entry *e)
{
	uint32_t len;

	if (avail < LOG_ENTRY_HDR)
		return 0;
	len = log_get32(buf + 8);
	if (!frame_ok(buf, len))
		return -EUCLEAN;
	if (avail < len)
		return 0;
	e->len = len;
	e->type = buf[12];
	e->flags = buf[13];
	e->key_len = log_get16(buf + 14);
	e->version = log_get64(buf + 16);
	e->time_ns = (int64_t)log_get64(buf + 24);
	e->value_len = log_get64(buf + 32);
	e->body_len = log_get32(buf + 40);
	e->key = (const char *)buf + LOG_ENTRY_HDR;
	e->body = buf + LOG_ENTRY_HDR + e->key_len;
	e->value = (e->type == LOG_PUT && !(e->flags & LOG_F_BLOB))
			   ? e->body + e->body_len
			   : NULL;
	return len;
}

size_t log_body_size(uint32_t xattrs_len)
{
	return LOG_BODY_FIXED + xattrs_len;
}

void log_body_encode(uint8_t *out, const struct store_meta *m,
		     const uint8_t hash[16], uint64_t blob_id,
		     const uint8_t *xattrs, uint32_t xattrs_len)
{
	log_put32(out, m->mode);
	log_put32(out + 4, m->uid);
	log_put32(out + 8, m->gid);
	log_put32(out + 12, 0);
	log_put64(out + 16, (uint64_t)m->atime_ns);
	log_put64(out + 24, (uint64_t)m->mtime_ns);
	log_put64(out + 32, (uint64_t)m->ctime_ns);
	if (hash)
		memcpy(out + 40, hash, 16);
	else
		memset(out + 40, 0, 16);
	log_put64(out + 56, blob_id);
	if (xattrs_len)
		memcpy(out + LOG_BODY_FIXED, xattrs, xattrs_len);
}

/* The packed xattrs must tile their space exactly: every reader of them
 * (store/ops.c xa_find, store_listxattr, store_getxattr) walks the
 * lengths without bounds checks, so a checksummed entry with a length
 * that overshoots would make them read past the copy in the index. */
static int xattrs_ok(const uint8_t *x, size_t len)
{
	uint64_t pos = 0;

	while (pos < len) {
		if (len - pos < 6)
			return 0;
		pos += 6 + (uint64_t)log_get16(x + pos) + log_get32(x + pos + 2);
	}
	return pos == len;
}

int log_body_decode(const uint8_t *body, size_t len, struct log_body *b)
{
	if (len < LOG_BODY_FIXED || log_get32(body + 12) != 0)
		return -EUCLEAN;
	if (!xattrs_ok(body + LOG_BODY_FIXED, len - LOG_BODY_FIXED))
		return -EUCLEAN;
	b->meta.mode = log_get32(body);
	b->meta.uid = log_get32(body + 4);
	b->meta.gid = log_get32(body + 8);
	b->meta.atime_ns = (int64_t)log_get64(body + 16);
	b->meta.mtime_ns = (int64_t)log_get64(body + 24);
	b->meta.ctime_ns = (int64_t)log_get64(body + 32);
	memcpy(b->hash, body + 40, 16);
	b->blob_id = log_get64(body + 56);
	b->xattrs = body + LOG_BODY_FIXED;
	b->xattrs_len = (uint32_t)(len - LOG_BODY_FIXED);
	return 0;
}

int log_all_zero(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return 0;
	return 1;
}

/* ---- Sequential reader ------------------------------------------- */

#define READER_WINDOW (1u << 20)

int log_reader_init(struct log_reader *r, int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);

	if (end < 0)
		return -errno;
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->file_size = (uint64_t)end;
	r->off = LOG_SEG_HDR;
	r->cap = READER_WINDOW;
	r->buf = malloc(r->cap);
	if (!r->buf)
		return -ENOMEM;
	r->base = r->off;
	return 0;
}

/* Make [r->off, r->off + need) present in the window (or as much as the
 * file has).  @return bytes available from r->off, or -errno. */
static ssize_t reader_fill(struct log_reader *r, size_t need)
{
	size_t have = (size_t)(r->base + r->end - r->off);

	if (r->off < r->base || r->off > r->base + r->end) {
		r->base = r->off;
		r->start = r->end = 0;
		have = 0;
	}
	if (have >= need || r->off + have >= r->file_size)
		return (ssize_t)have;
	/* Slide what we have to the front and grow if one entry needs it. */
	memmove(r->buf, r->buf + (r->off - r->base), have);
	r->base = r->off;
	r->end = have;
	if (need > r->cap) {
		uint8_t *nb = realloc(r->buf, need);
		if (!nb)
			return -ENOMEM;
		r->buf = nb;
		r->cap = need;
	}
	while (r->end < r->cap && r->base + r->end < r->file_size) {
		ssize_t n = pread(r->fd, r->buf + r->end, r->cap - r->end,
				  (off_t)(r->base + r->end));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		if (n == 0)
			break;
		r->end += (size_t)n;
	}
	return (ssize_t)r->end;
}

int log_reader_next(struct log_reader *r, struct log_entry *e, uint64_t *off)
{
	size_t need = LOG_ENTRY_HDR;

	*off = r->off;
	if (r->off >= r->file_size)
		return 0;
	for (;;) {
		ssize_t have = reader_fill(r, need), n;
		const uint8_t *p;

		if (have < 0)
			return (int)have;
		p = r->buf + (r->off - r->base);
		n = log_entry_decode(p, (size_t)have, e);
		if (n > 0) {
			r->off += (uint64_t)n;
			return 1;
		}
		if (n < 0)
			return -EUCLEAN;
		/* Need more bytes: either the header or the whole entry. */
		if ((size_t)have >= LOG_ENTRY_HDR)
			need = log_get32(p + 8);
		else
			need = LOG_ENTRY_HDR;
		if (r->off + need > r->file_size)
			return -EUCLEAN; /* runs past the end: torn or damaged */
	}
}

int log_reader_rest_zero(struct log_reader *r, uint64_t off)
{
	uint8_t buf[65536];

	while (off < r->file_size) {
		ssize_t n = pread(r->fd, buf, sizeof(buf), (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		if (n == 0)
			break;
		if (!log_all_zero(buf, (size_t)n))
			return 0;
		off += (uint64_t)n;
	}
	return 1;
}

int log_reader_zero_end(struct log_reader *r, uint64_t off)
{
	return log_reader_rest_zero(r, off);
}

void log_reader_free(struct log_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

#define RESYNC_WINDOW (64u << 10)

/* Is there a whole, valid entry starting anywhere in (off, end)?  The
 * headers are read a window at a time: a zero tail after a torn entry
 * can be megabytes long. */
static int resync_finds_entry(struct log_reader *r, uint64_t off)
{
	uint8_t *win = malloc(RESYNC_WINDOW + LOG_ENTRY_HDR);
	uint64_t wbase = 0, wlen = 0;
	int rc = 0;

	if (!win)
		return -ENOMEM;
	for (uint64_t pos = off + 1; pos + LOG_ENTRY_HDR <= r->file_size;
	     pos++) {
		struct log_entry e;
		const uint8_t *hdr;
		uint32_t len;
		uint8_t *buf;
		ssize_t n;

		if (wlen == 0 || pos + LOG_ENTRY_HDR > wbase + wlen) {
			uint64_t want = r->file_size - pos;
			if (want > RESYNC_WINDOW + LOG_ENTRY_HDR)
				want = RESYNC_WINDOW + LOG_ENTRY_HDR;
			n = pread(r->fd, win, (size_t)want, (off_t)pos);
			if (n < LOG_ENTRY_HDR) {
				rc = -EIO;
				break;
			}
			wbase = pos;
			wlen = (uint64_t)n;
		}
		hdr = win + (pos - wbase);
		len = log_get32(hdr + 8);
		if (!frame_ok(hdr, len) || pos + len > r->file_size)
			continue;
		buf = malloc(len);
		if (!buf) {
			rc = -ENOMEM;
			break;
		}
		n = pread(r->fd, buf, len, (off_t)pos);
		if (n == (ssize_t)len && log_entry_decode(buf, len, &e) > 0)
			rc = 1;
		free(buf);
		if (rc)
			break;
	}
	free(win);
	return rc;
}

int log_reader_torn(struct log_reader *r, uint64_t off)
{
	uint8_t hdr[LOG_ENTRY_HDR];
	uint64_t left = r->file_size - off, claimed;
	int z, found;

	z = log_reader_rest_zero(r, off);
	if (z != 0)
		return z; /* all zeros (1) or error */
	if (left >= LOG_ENTRY_HDR) {
		if (pread(r->fd, hdr, sizeof(hdr), (off_t)off) !=
		    (ssize_t)sizeof(hdr))
			return -EIO;
		claimed = log_get32(hdr + 8);
		if (claimed >= LOG_ENTRY_HDR && claimed < left) {
			z = log_reader_rest_zero(r, off + claimed);
			if (z <= 0)
				return z; /* something follows it: corrupt */
		}
	}
	found = resync_finds_entry(r, off);
	if (found < 0)
		return found;
	return !found;
}

/* Small enough that what pread copies in is still in cache when hashed. */
#define FILE_HASH_BUF (256u << 10)

int log_file_hash(int fd, uint64_t size, uint64_t *out)
{
	XXH3_state_t *x = XXH3_createState();
	uint8_t *buf = malloc(FILE_HASH_BUF);
	uint64_t off = 0;
	int rc = 0;

	if (!x || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	XXH3_64bits_reset(x);
	while (off < size) {
		size_t want = size - off < FILE_HASH_BUF ? (size_t)(size - off)
							 : FILE_HASH_BUF;
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = -EIO;
			goto out;
		}
		log_xxh64_update(x, buf, (size_t)n);
		off += (uint64_t)n;
	}
	*out = XXH3_64bits_digest(x);
out:
	free(buf);
	XXH3_freeState(x);
	return rc;
}

uint64_t log_hint_durable_len(const uint8_t *buf, size_t len, uint64_t id)
{
	if (len < LOG_HINT_HDR + 8 || memcmp(buf, HINT_MAGIC, 8) ||
	    log_get32(buf + 8) != LOG_FORMAT ||
	    !(log_get32(buf + 12) & HINT_F_DURABLE) ||
	    log_get64(buf + 16) != id ||
	    log_get64(buf + len - 8) != log_xxh64(buf, len - 8))
		return 0;
	return log_get64(buf + 24);
}

uint64_t log_hint_file_durable_len(int dirfd, uint64_t id)
{
	char name[40];
	struct stat sb;
	uint8_t *buf = NULL;
	uint64_t len = 0;
	int fd;

	snprintf(name, sizeof(name), "%016" PRIx64 ".hint", id);
	/* O_NONBLOCK: a FIFO in its place waited for a writer for ever.
	 * O_NOFOLLOW: a link in its place is ignored, as by replay. */
	fd = openat(dirfd, name,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    sb.st_size >= LOG_HINT_HDR + 8 &&
	    (buf = malloc((size_t)sb.st_size)) &&
	    pread(fd, buf, (size_t)sb.st_size, 0) == sb.st_size)
		len = log_hint_durable_len(buf, (size_t)sb.st_size, id);
	free(buf);
	close(fd);
	return len;
}

int log_hint_check(const uint8_t *buf, size_t len, uint64_t id,
		   uint64_t seg_size, size_t *nrecords)
{
	uint64_t pos = LOG_HINT_HDR;
	size_t n = 0;

	if (len < LOG_HINT_HDR + 8)
		return -EUCLEAN;
	if (memcmp(buf, HINT_MAGIC, 8) || log_get32(buf + 8) != LOG_FORMAT ||
	    log_get64(buf + 16) != id || log_get64(buf + 24) != seg_size ||
	    log_get64(buf + len - 8) != log_xxh64(buf, len - 8))
		return -EUCLEAN;
	len -= 8;
	/* The sum is taken in 64 bits: in int/unsigned arithmetic a body
	 * length near 2^32 wraps it to a small step (or 0: no progress).
	 * A record adds at most 2^32 + 2^16 + 56, so pos itself cannot
	 * wrap, and the bound is checked before each header is read. */
	while (pos < len) {
		if (pos + 8 + LOG_ENTRY_HDR > len)
			return -EUCLEAN;
		pos += 8 + LOG_ENTRY_HDR +
		       (uint64_t)log_get16(buf + pos + 8 + 14) +
		       log_get32(buf + pos + 8 + 40);
		n++;
	}
	if (pos != len)
		return -EUCLEAN;
	if (nrecords)
		*nrecords = n;
	return 0;
}

int log_lock_wait(int fd)
{
	const struct timespec step = { 0, 10 * 1000000 };

	for (int waited = 0;; waited += 10) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK || waited >= LOG_LOCK_WAIT_MS)
			return -errno;
		nanosleep(&step, NULL);
	}
}

void log_lock_holder(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* test_log.c - unit tests of store/log.c: the byte layout of segments,
 * entries and bodies, and the reader that tells a torn tail from
 * corruption.  These are the rules recovery stands on, so every test
 * checks exact bytes or exact return codes. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "log.h"

/* ---- helpers ------------------------------------------------------- */

static const struct store_meta test_meta = {
	.mode = 0100644,
	.uid = 1000,
	.gid = 100,
	.atime_ns = 1700000000123456789LL,
	.mtime_ns = -5, /* before the epoch: times are signed on disk */
	.ctime_ns = INT64_MAX,
};

static const uint8_t test_hash[16] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};

/* One encoded entry, heap-allocated so ASan sees every overrun. */
struct enc {
	uint8_t *buf;
	size_t len;
};

static struct enc encode(uint8_t type, uint8_t flags, const char *key,
			 uint64_t version, uint64_t value_len,
			 const uint8_t *body, size_t body_len,
			 const void *value, size_t inline_len)
{
	struct enc e;

	e.len = log_entry_size(strlen(key), body_len, inline_len);
	e.buf = malloc(e.len);
	assert_non_null(e.buf);
	log_entry_encode(e.buf, type, flags, key, strlen(key), version,
			 1234567890LL * (int64_t)version, value_len, body,
			 body_len, value, inline_len);
	return e;
}

/* A body with no xattrs, in a static buffer (enough for these tests). */
static const uint8_t *plain_body(void)
{
	static uint8_t body[LOG_BODY_FIXED];

	log_body_encode(body, &test_meta, test_hash, 0, NULL, 0);
	return body;
}

/* The entry kinds the store writes, each in its real shape. */
enum { N_SAMPLES = 8 };
static struct enc sample(int i)
{
	static const char value[] = "hello, record";
	const uint8_t *b = plain_body();

	switch (i) {
	case 0: /* PUT with inline content */
		return encode(LOG_PUT, LOG_F_COMMIT, "a/b/rec", 3,
			      sizeof(value), b, LOG_BODY_FIXED, value,
			      sizeof(value));
	case 1: /* PUT of empty content */
		return encode(LOG_PUT, LOG_F_COMMIT, "empty", 1, 0, b,
			      LOG_BODY_FIXED, NULL, 0);
	case 2: /* PUT naming a blob: no inline content */
		return encode(LOG_PUT, LOG_F_COMMIT | LOG_F_BLOB, "big", 7,
			      8u << 20, b, LOG_BODY_FIXED, NULL, 0);
	case 3: /* kept older version, part of a group */
		return encode(LOG_PUT, LOG_F_HIST, "old", 2, sizeof(value), b,
			      LOG_BODY_FIXED, value, sizeof(value));
	case 4:
		return encode(LOG_META, LOG_F_COMMIT, "a/b/rec", 3, 0, b,
			      LOG_BODY_FIXED, NULL, 0);
	case 5:
		return encode(LOG_DEL, LOG_F_COMMIT, "a/b/rec", 4, 0, NULL, 0,
			      NULL, 0);
	case 6:
		return encode(LOG_MKDIR, LOG_F_COMMIT, "a/b", 0, 0, b,
			      LOG_BODY_FIXED, NULL, 0);
	default:
		return encode(LOG_FLOOR, LOG_F_COMMIT, "", 99, 0, NULL, 0,
			      NULL, 0);
	}
}

/* ---- integers ------------------------------------------------------ */

static void test_int_round_trip(void **state)
{
	static const uint64_t v64[] = { 0, 1, 0xff, 0x100, 0x0123456789abcdefULL,
					UINT64_MAX, 1ULL << 63 };
	uint8_t b[8];

	(void)state;
	/* Big-endian on disk: the first byte is the most significant. */
	log_put64(b, 0x0102030405060708ULL);
	for (int i = 0; i < 8; i++)
		assert_int_equal(b[i], i + 1);
	log_put32(b, 0xa1b2c3d4u);
	assert_int_equal(b[0], 0xa1);
	assert_int_equal(b[3], 0xd4);
	log_put16(b, 0xbeef);
	assert_int_equal(b[0], 0xbe);
	assert_int_equal(b[1], 0xef);

	for (size_t i = 0; i < sizeof(v64) / sizeof(v64[0]); i++) {
		log_put64(b, v64[i]);
		assert_true(log_get64(b) == v64[i]);
		log_put32(b, (uint32_t)v64[i]);
		assert_int_equal(log_get32(b), (uint32_t)v64[i]);
		log_put16(b, (uint16_t)v64[i]);
		assert_int_equal(log_get16(b), (uint16_t)v64[i]);
	}
	/* High bytes must not sign-extend into the result. */
	memset(b, 0xff, sizeof(b));
	assert_int_equal(log_get16(b), 0xffff);
	assert_true(log_get32(b) == 0xffffffffu);
	assert_true(log_get64(b) == UINT64_MAX);
}

/* ---- segment header ------------------------------------------------ */

static void test_seg_header(void **state)
{
	uint8_t h[LOG_SEG_HDR], bad[LOG_SEG_HDR];
	uint64_t id = 0, first = 0;

	(void)state;
	log_seg_header(h, 0x1122334455667788ULL, 7);
	assert_memory_equal(h, LOG_MAGIC, 8);
	assert_int_equal(log_get32(h + 8), LOG_FORMAT);
	assert_int_equal(log_get32(h + 12), 0);
	assert_true(log_get64(h + 32) == XXH3_64bits(h, 32));
	assert_int_equal(log_seg_check(h, &id, &first), 0);
	assert_true(id == 0x1122334455667788ULL);
	assert_true(first == 7);

	/* Bad magic, even with a checksum that matches it. */
	memcpy(bad, h, sizeof(h));
	bad[0] = 'X';
	log_put64(bad + 32, XXH3_64bits(bad, 32));
	assert_int_equal(log_seg_check(bad, &id, &first), -EUCLEAN);

	/* Every single bit flip anywhere in the header is caught. */
	for (size_t bit = 0; bit < LOG_SEG_HDR * 8; bit++) {
		memcpy(bad, h, sizeof(h));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(log_seg_check(bad, &id, &first), -EUCLEAN);
	}

	/* A future format with a valid checksum is "not supported", not
	 * "corrupt": the user needs a newer recfs, not a repair. */
	memcpy(bad, h, sizeof(h));
	log_put32(bad + 8, LOG_FORMAT + 1);
	log_put64(bad + 32, XXH3_64bits(bad, 32));
	assert_int_equal(log_seg_check(bad, &id, &first), -EPROTONOSUPPORT);
	log_put32(bad + 8, UINT32_MAX);
	log_put64(bad + 32, XXH3_64bits(bad, 32));
	assert_int_equal(log_seg_check(bad, &id, &first), -EPROTONOSUPPORT);
	/* ... but a future format whose checksum is wrong is corruption. */
	bad[33] ^= 1;
	assert_int_equal(log_seg_check(bad, &id, &first), -EUCLEAN);
}

/* ---- entries ------------------------------------------------------- */

static void check_decoded(const struct enc *en, int i)
{
	static const char value[] = "hello, record";
	struct log_entry e;
	ssize_t n;

	memset(&e, 0xa5, sizeof(e));
	n = log_entry_decode(en->buf, en->len, &e);
	assert_int_equal(n, (ssize_t)en->len);
	assert_int_equal(e.len, en->len);
	assert_int_equal(log_get32(en->buf + 44), 0);
	assert_true(e.time_ns == 1234567890LL * (int64_t)e.version);
	assert_ptr_equal(e.key, (const char *)en->buf + LOG_ENTRY_HDR);
	switch (i) {
	case 0:
	case 3:
		assert_int_equal(e.type, LOG_PUT);
		assert_int_equal(e.flags, i == 0 ? LOG_F_COMMIT : LOG_F_HIST);
		assert_int_equal(e.key_len, i == 0 ? 7 : 3);
		assert_memory_equal(e.key, i == 0 ? "a/b/rec" : "old",
				    e.key_len);
		assert_true(e.version == (i == 0 ? 3u : 2u));
		assert_true(e.value_len == sizeof(value));
		assert_non_null(e.value);
		assert_memory_equal(e.value, value, sizeof(value));
		assert_int_equal(e.body_len, LOG_BODY_FIXED);
		assert_memory_equal(e.body, plain_body(), LOG_BODY_FIXED);
		break;
	case 1:
		assert_int_equal(e.type, LOG_PUT);
		assert_true(e.value_len == 0);
		assert_int_equal(e.body_len, LOG_BODY_FIXED);
		break;
	case 2:
		/* A blob's content is elsewhere: the entry holds its length
		 * but no bytes, and value must not point at anything. */
		assert_int_equal(e.type, LOG_PUT);
		assert_int_equal(e.flags, LOG_F_COMMIT | LOG_F_BLOB);
		assert_true(e.value_len == 8u << 20);
		assert_null(e.value);
		assert_int_equal(e.len,
				 LOG_ENTRY_HDR + 3 + LOG_BODY_FIXED);
		break;
	case 4:
		assert_int_equal(e.type, LOG_META);
		assert_null(e.value);
		assert_memory_equal(e.body, plain_body(), LOG_BODY_FIXED);
		break;
	case 5:
		assert_int_equal(e.type, LOG_DEL);
		assert_true(e.version == 4);
		assert_int_equal(e.body_len, 0);
		assert_null(e.value);
		break;
	case 6:
		assert_int_equal(e.type, LOG_MKDIR);
		assert_int_equal(e.key_len, 3);
		assert_int_equal(e.body_len, LOG_BODY_FIXED);
		break;
	default:
		assert_int_equal(e.type, LOG_FLOOR);
		assert_int_equal(e.key_len, 0);
		assert_true(e.version == 99);
		break;
	}
}

static void test_entry_round_trip(void **state)
{
	(void)state;
	for (int i = 0; i < N_SAMPLES; i++) {
		struct enc en = sample(i);
		uint8_t *padded;

		check_decoded(&en, i);
		/* Decoding with more bytes available (the next entry) must
		 * still return exactly this entry's length. */
		padded = calloc(1, en.len + 100);
		assert_non_null(padded);
		memcpy(padded, en.buf, en.len);
		assert_int_equal(log_entry_decode(padded, en.len + 100,
						  &(struct log_entry){ 0 }),
				 (ssize_t)en.len);
		free(padded);
		free(en.buf);
	}
}

/* Types and flags outside the format are framing errors even with a
 * correct checksum: a writer bug must not be replayed as data. */
static void test_entry_bad_framing(void **state)
{
	struct enc en;
	struct log_entry e;

	(void)state;
	en = encode(7, LOG_F_COMMIT, "k", 1, 0, NULL, 0, NULL, 0);
	assert_int_equal(log_entry_decode(en.buf, en.len, &e), -EUCLEAN);
	free(en.buf);
	en = encode(0, LOG_F_COMMIT, "k", 1, 0, NULL, 0, NULL, 0);
	assert_int_equal(log_entry_decode(en.buf, en.len, &e), -EUCLEAN);
	free(en.buf);
	en = encode(LOG_DEL, 8, "k", 1, 0, NULL, 0, NULL, 0);
	assert_int_equal(log_entry_decode(en.buf, en.len, &e), -EUCLEAN);
	free(en.buf);
	/* An inline PUT whose value_len disagrees with its length. */
	en = encode(LOG_PUT, LOG_F_COMMIT, "k", 1, 5, plain_body(),
		    LOG_BODY_FIXED, "abcd", 4);
	assert_int_equal(log_entry_decode(en.buf, en.len, &e), -EUCLEAN);
	free(en.buf);
}

static void test_entry_bit_flips(void **state)
{
	(void)state;
	for (int i = 0; i < N_SAMPLES; i++) {
		struct enc en = sample(i);
		uint8_t *copy = malloc(en.len);

		assert_non_null(copy);
		for (size_t bit = 0; bit < en.len * 8; bit++) {
			struct log_entry e;
			ssize_t n;

			memcpy(copy, en.buf, en.len);
			copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			n = log_entry_decode(copy, en.len, &e);
			if (n > 0)
				fail_msg("sample %d: flip of bit %zu decoded "
					 "as a valid entry", i, bit);
			assert_true(n == 0 || n == -EUCLEAN);
		}
		free(copy);
		free(en.buf);
	}
}

static void test_entry_truncated(void **state)
{
	(void)state;
	for (int i = 0; i < N_SAMPLES; i++) {
		struct enc en = sample(i);

		/* Fewer bytes than the entry: "need more", never an error
		 * (the reader fetches more) and never a success. */
		for (size_t avail = 0; avail < en.len; avail++) {
			uint8_t *part = malloc(avail ? avail : 1);
			struct log_entry e;

			assert_non_null(part);
			memcpy(part, en.buf, avail);
			assert_int_equal(log_entry_decode(part, avail, &e), 0);
			free(part);
		}
		free(en.buf);
	}
}

/* ---- bodies -------------------------------------------------------- */

/* Pack xattrs as the body holds them: u16 name len, u32 value len. */
static size_t pack_xattr(uint8_t *p, const char *name, const void *val,
			 uint32_t val_len)
{
	size_t nl = strlen(name);

	log_put16(p, (uint16_t)nl);
	log_put32(p + 2, val_len);
	memcpy(p + 6, name, nl);
	memcpy(p + 6 + nl, val, val_len);
	return 6 + nl + val_len;
}

static void test_body_round_trip(void **state)
{
	uint8_t xattrs[256], *body;
	uint32_t xlen = 0;
	struct log_body b;
	size_t blen;

	(void)state;
	xlen += (uint32_t)pack_xattr(xattrs + xlen, "user.color", "blue", 4);
	xlen += (uint32_t)pack_xattr(xattrs + xlen, "user.empty", "", 0);
	xlen += (uint32_t)pack_xattr(xattrs + xlen, "user.bin", "\0\1\2", 3);
	blen = log_body_size(xlen);
	assert_int_equal(blen, LOG_BODY_FIXED + xlen);
	body = malloc(blen);
	assert_non_null(body);
	log_body_encode(body, &test_meta, test_hash, 0xdeadbeefcafeULL, xattrs,
			xlen);
	assert_int_equal(log_get32(body + 12), 0);

	memset(&b, 0, sizeof(b));
	assert_int_equal(log_body_decode(body, blen, &b), 0);
	assert_int_equal(b.meta.mode, test_meta.mode);
	assert_int_equal(b.meta.uid, test_meta.uid);
	assert_int_equal(b.meta.gid, test_meta.gid);
	assert_true(b.meta.atime_ns == test_meta.atime_ns);
	assert_true(b.meta.mtime_ns == test_meta.mtime_ns);
	assert_true(b.meta.ctime_ns == test_meta.ctime_ns);
	assert_memory_equal(b.hash, test_hash, 16);
	assert_true(b.blob_id == 0xdeadbeefcafeULL);
	assert_int_equal(b.xattrs_len, xlen);
	assert_memory_equal(b.xattrs, xattrs, xlen);
	assert_ptr_equal(b.xattrs, body + LOG_BODY_FIXED);

	/* Too short, or a nonzero pad: not a body. */
	assert_int_equal(log_body_decode(body, LOG_BODY_FIXED - 1, &b),
			 -EUCLEAN);
	body[13] = 1;
	assert_int_equal(log_body_decode(body, blen, &b), -EUCLEAN);
	free(body);

	/* No xattrs and no hash: the hash field reads as zeros. */
	body = malloc(LOG_BODY_FIXED);
	assert_non_null(body);
	memset(body, 0xee, LOG_BODY_FIXED);
	log_body_encode(body, &test_meta, NULL, 0, NULL, 0);
	assert_int_equal(log_body_decode(body, LOG_BODY_FIXED, &b), 0);
	assert_true(log_all_zero(b.hash, 16));
	assert_int_equal(b.xattrs_len, 0);
	free(body);

	/* The body rides inside an entry and comes back intact. */
	{
		uint8_t full[LOG_BODY_FIXED + 64];
		struct enc en;
		struct log_entry e;

		log_body_encode(full, &test_meta, test_hash, 5, xattrs, xlen);
		en = encode(LOG_META, LOG_F_COMMIT, "x", 1, 0, full,
			    LOG_BODY_FIXED + xlen, NULL, 0);
		assert_int_equal(log_entry_decode(en.buf, en.len, &e),
				 (ssize_t)en.len);
		assert_int_equal(log_body_decode(e.body, e.body_len, &b), 0);
		assert_int_equal(b.xattrs_len, xlen);
		assert_memory_equal(b.xattrs, xattrs, xlen);
		free(en.buf);
	}
}

static void test_all_zero(void **state)
{
	uint8_t b[100] = { 0 };

	(void)state;
	assert_true(log_all_zero(b, 0));
	assert_true(log_all_zero(b, sizeof(b)));
	b[99] = 1;
	assert_false(log_all_zero(b, sizeof(b)));
	assert_true(log_all_zero(b, 99));
}

/* ---- the reader over a real file ---------------------------------- */

static char tmpdir[64];

static int setup_tmp(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/recfs-test-log-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/seg", tmpdir);
	unlink(path);
	return rmdir(tmpdir);
}

/* A growing byte string to build segment files from. */
struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static void add(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (p)
		memcpy(b->p + b->len, p, n);
	else
		memset(b->p + b->len, 0, n);
	b->len += n;
}

static void add_header(struct bytes *b)
{
	uint8_t h[LOG_SEG_HDR];

	log_seg_header(h, 1, 1);
	add(b, h, sizeof(h));
}

/* Append a PUT of "key<i>" at version i with @vlen inline bytes, whose
 * content is derived from i so the reader's copy can be checked.
 * @return its offset. */
static size_t add_put(struct bytes *b, unsigned i, size_t vlen)
{
	char key[32];
	uint8_t *v = malloc(vlen ? vlen : 1);
	size_t off = b->len;
	struct enc en;

	assert_non_null(v);
	for (size_t k = 0; k < vlen; k++)
		v[k] = (uint8_t)(i * 31 + k);
	snprintf(key, sizeof(key), "key%u", i);
	en = encode(LOG_PUT, LOG_F_COMMIT, key, i, vlen, plain_body(),
		    LOG_BODY_FIXED, v, vlen);
	add(b, en.buf, en.len);
	free(en.buf);
	free(v);
	return off;
}

/* Write @b as the segment file and open a reader on it. */
static int open_seg(const struct bytes *b, struct log_reader *r)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/seg", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b->p, b->len), (ssize_t)b->len);
	assert_int_equal(log_reader_init(r, fd), 0);
	assert_true(r->file_size == b->len);
	return fd;
}

static void test_reader_in_order(void **state)
{
	/* Sizes cross the 1 MiB window and one entry is bigger than it, so
	 * the refill and the grow paths both run. */
	static const size_t sizes[] = { 0, 1, 100, 4000, 300000, 700000,
					3u << 20, 5, 65536, 900000, 17 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	struct bytes b = { 0 };
	size_t offs[N];
	struct log_reader r;
	struct log_entry e;
	uint64_t off;
	int fd;

	(void)state;
	add_header(&b);
	for (unsigned i = 0; i < N; i++)
		offs[i] = add_put(&b, i + 1, sizes[i]);
	fd = open_seg(&b, &r);
	for (unsigned i = 0; i < N; i++) {
		char key[32];

		assert_int_equal(log_reader_next(&r, &e, &off), 1);
		assert_true(off == offs[i]);
		snprintf(key, sizeof(key), "key%u", i + 1);
		assert_int_equal(e.key_len, strlen(key));
		assert_memory_equal(e.key, key, e.key_len);
		assert_true(e.version == i + 1);
		assert_true(e.value_len == sizes[i]);
		for (size_t k = 0; k < sizes[i]; k++)
			if (e.value[k] != (uint8_t)((i + 1) * 31 + k))
				fail_msg("entry %u byte %zu differs", i, k);
	}
	assert_int_equal(log_reader_next(&r, &e, &off), 0);
	assert_true(off == b.len);
	/* A clean file's end stays clean. */
	assert_int_equal(log_reader_next(&r, &e, &off), 0);
	log_reader_free(&r);
	close(fd);
	free(b.p);
}

/* Read until the reader stops; it must stop at @damage with -EUCLEAN and
 * log_reader_torn() must say @torn there. */
static void expect_damage(const struct bytes *b, size_t damage, int torn,
			  unsigned entries_before)
{
	struct log_reader r;
	struct log_entry e;
	uint64_t off = 0;
	unsigned n = 0;
	int fd = open_seg(b, &r), rc;

	while ((rc = log_reader_next(&r, &e, &off)) == 1)
		n++;
	assert_int_equal(rc, -EUCLEAN);
	assert_true(off == damage);
	assert_int_equal(n, entries_before);
	assert_int_equal(log_reader_torn(&r, off), torn);
	log_reader_free(&r);
	close(fd);
}

static void test_torn_zeros_after_bad_entry(void **state)
{
	struct bytes b = { 0 };
	size_t bad;

	(void)state;
	add_header(&b);
	add_put(&b, 1, 10);
	add_put(&b, 2, 20);
	bad = add_put(&b, 3, 30);
	b.p[bad + 60] ^= 0x10; /* checksum fails */
	add(&b, NULL, 4096);   /* preallocated space the crash left */
	expect_damage(&b, bad, 1, 2);
	free(b.p);
}

static void test_torn_zero_tail(void **state)
{
	struct bytes b = { 0 };
	size_t end;

	(void)state;
	/* Clean entries then only zeros: the zeros are not an entry. */
	add_header(&b);
	add_put(&b, 1, 10);
	add_put(&b, 2, 20);
	end = b.len;
	add(&b, NULL, 100);
	expect_damage(&b, end, 1, 2);
	free(b.p);
}

static void test_torn_truncated_final(void **state)
{
	struct bytes full = { 0 }, b = { 0 };
	size_t last;

	(void)state;
	add_header(&full);
	add_put(&full, 1, 10);
	add_put(&full, 2, 20);
	last = add_put(&full, 3, 3000);
	/* Every cut inside the final entry, header bytes included. */
	for (size_t cut = last + 1; cut < full.len; cut += (cut < last + 64
							   ? 1 : 97)) {
		b.len = 0;
		add(&b, full.p, cut);
		expect_damage(&b, last, 1, 2);
	}
	/* The entry's first page reached disk, the rest is zeros: the file
	 * has the entry's full length but the entry runs out of data. */
	b.len = 0;
	add(&b, full.p, last + 200);
	add(&b, NULL, full.len - last - 200);
	expect_damage(&b, last, 1, 2);
	free(full.p);
	free(b.p);
}

static void test_corrupt_middle_entry(void **state)
{
	struct bytes b = { 0 };
	size_t mid;

	(void)state;
	add_header(&b);
	add_put(&b, 1, 10);
	mid = add_put(&b, 2, 20);
	add_put(&b, 3, 30);
	b.p[mid + LOG_ENTRY_HDR + 2] ^= 0x01; /* in the key */
	expect_damage(&b, mid, 0, 1);
	free(b.p);
}

static void test_corrupt_length_field(void **state)
{
	struct bytes b = { 0 };
	size_t mid;

	(void)state;
	/* A flipped length that makes the middle entry run past the end of
	 * the file must not hide the committed entry behind it. */
	add_header(&b);
	add_put(&b, 1, 10);
	mid = add_put(&b, 2, 20);
	add_put(&b, 3, 30);
	b.p[mid + 9] ^= 0x40;
	expect_damage(&b, mid, 0, 1);
	free(b.p);
}

static void test_corrupt_zeros_then_entry(void **state)
{
	struct bytes b = { 0 };
	size_t bad;

	(void)state;
	/* Zeros after a bad entry, but a valid entry further on: not a
	 * torn tail, since something was written after the damage. */
	add_header(&b);
	add_put(&b, 1, 10);
	bad = add_put(&b, 2, 20);
	b.p[bad + 3] ^= 0x80;
	add(&b, NULL, 5000);
	add_put(&b, 3, 30);
	expect_damage(&b, bad, 0, 1);
	free(b.p);
}

static void test_corrupt_garbage_tail(void **state)
{
	struct bytes b = { 0 };
	size_t bad;
	uint8_t junk[512];

	(void)state;
	/* Non-zero bytes after a damaged entry are not what a crash leaves
	 * (it leaves zeros or nothing): report, don't cut. */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 1);
	add_header(&b);
	add_put(&b, 1, 10);
	bad = add_put(&b, 2, 20);
	b.p[bad + 70] ^= 0x02;
	add(&b, junk, sizeof(junk));
	expect_damage(&b, bad, 0, 1);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int_round_trip),
		cmocka_unit_test(test_seg_header),
		cmocka_unit_test(test_entry_round_trip),
		cmocka_unit_test(test_entry_bad_framing),
		cmocka_unit_test(test_entry_bit_flips),
		cmocka_unit_test(test_entry_truncated),
		cmocka_unit_test(test_body_round_trip),
		cmocka_unit_test(test_all_zero),
		cmocka_unit_test_setup_teardown(test_reader_in_order,
						setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_torn_zeros_after_bad_entry,
						setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_torn_zero_tail,
						setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_torn_truncated_final,
						setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_corrupt_middle_entry,
						setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_corrupt_length_field,
						setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_corrupt_zeros_then_entry,
						setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_corrupt_garbage_tail,
						setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* fuzz_log.h - oracles and checksum fix-ups shared by the targets that
 * fuzz store/log.c. */
#ifndef RECFS_FUZZ_LOG_H
#define RECFS_FUZZ_LOG_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <xxhash.h>

#include "fuzz.h"
#include "log.h"

/* An exact-size heap copy: ASan then sees a read one byte past @n. */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	CHECK(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* Consumers of a decoded body (store/ops.c xa_find, store_listxattr)
 * walk the packed xattrs trusting that they tile xattrs_len exactly:
 * u16 name length, u32 value length, name, value. */
static inline void fuzz_check_xattrs(const uint8_t *x, uint32_t len)
{
	uint64_t pos = 0;

	while (pos < len) {
		CHECK(pos + 6 <= len);
		pos += 6 + (uint64_t)log_get16(x + pos) +
		       log_get32(x + pos + 2);
		CHECK(pos <= len);
	}
	CHECK(pos == len);
}

/* A decoded body must re-encode to the very bytes it came from, and its
 * xattrs must be walkable. */
static inline void fuzz_check_body(const uint8_t *body, size_t len)
{
	struct log_body b;
	uint8_t *again;
	int rc = log_body_decode(body, len, &b);

	CHECK(rc == 0 || rc == -EUCLEAN);
	if (rc)
		return;
	CHECK(len >= LOG_BODY_FIXED);
	CHECK(b.xattrs == body + LOG_BODY_FIXED);
	CHECK(b.xattrs_len == len - LOG_BODY_FIXED);
	fuzz_check_xattrs(b.xattrs, b.xattrs_len);
	again = malloc(len);
	CHECK(again);
	log_body_encode(again, &b.meta, b.hash, b.blob_id, b.xattrs,
			b.xattrs_len);
	CHECK(memcmp(again, body, len) == 0);
	free(again);
}

/* Recompute the checksum of each entry of a chain starting at @p, as
 * far as the length fields frame whole entries. */
static inline void fuzz_fix_entries(uint8_t *p, size_t n)
{
	size_t pos = 0;

	while (n - pos >= LOG_ENTRY_HDR) {
		uint32_t len = log_get32(p + pos + 8);

		if (len < LOG_ENTRY_HDR || len > n - pos)
			break;
		log_put64(p + pos, XXH3_64bits(p + pos + 8, len - 8));
		pos += len;
	}
}

#endif

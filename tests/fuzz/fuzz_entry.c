/* fuzz_entry.c - libFuzzer target: log_entry_decode, log_body_decode and
 * log_seg_check on arbitrary bytes.
 *
 * Oracles: a decoded entry lies inside its bytes, decodes the same with
 * exactly its length available and asks for more with one byte less,
 * and re-encodes (log_entry_encode) to the identical bytes; its body, if
 * it decodes, re-encodes too and its xattrs tile it (fuzz_log.h).  The
 * entry and the 40-byte header are checked as given and again with their
 * checksums recomputed. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "fuzz_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_entry(const uint8_t *buf, size_t n)
{
	struct log_entry e, e2;
	ssize_t len = log_entry_decode(buf, n, &e);
	uint8_t *again;

	if (len <= 0) {
		CHECK(len == 0 || len == -EUCLEAN);
		if (len == 0)
			CHECK(n < LOG_ENTRY_HDR || n < log_get32(buf + 8));
		return;
	}
	CHECK((size_t)len <= n && (size_t)len >= LOG_ENTRY_HDR);
	CHECK(e.len == (uint32_t)len && e.len <= LOG_ENTRY_MAX);
	CHECK(e.type >= LOG_PUT && e.type <= LOG_FLOOR);
	CHECK(e.key == (const char *)buf + LOG_ENTRY_HDR);
	CHECK(e.body == buf + LOG_ENTRY_HDR + e.key_len);
	CHECK((uint64_t)LOG_ENTRY_HDR + e.key_len + e.body_len <= e.len);
	if (e.value) {
		CHECK(e.type == LOG_PUT && !(e.flags & LOG_F_BLOB));
		CHECK(e.value == e.body + e.body_len);
		CHECK(e.value_len == (uint64_t)(buf + e.len - e.value));
	} else {
		CHECK(LOG_ENTRY_HDR + e.key_len + e.body_len == e.len);
	}
	/* Recovery decodes with exactly len bytes (pending_apply) and the
	 * reader with whatever its window holds: both must agree. */
	CHECK(log_entry_decode(buf, e.len, &e2) == len);
	CHECK(e2.type == e.type && e2.flags == e.flags &&
	      e2.key_len == e.key_len && e2.len == e.len &&
	      e2.body_len == e.body_len && e2.version == e.version &&
	      e2.time_ns == e.time_ns && e2.value_len == e.value_len &&
	      e2.key == e.key && e2.body == e.body && e2.value == e.value);
	CHECK(log_entry_decode(buf, e.len - 1, &e2) == 0);

	again = malloc(e.len);
	CHECK(again);
	log_entry_encode(again, e.type, e.flags, e.key, e.key_len, e.version,
			 e.time_ns, e.value_len, e.body, e.body_len, e.value,
			 e.value ? (size_t)e.value_len : 0);
	CHECK(memcmp(again, buf, e.len) == 0);
	free(again);

	fuzz_check_body(e.body, e.body_len);
}

static void check_seg_header(const uint8_t *data)
{
	uint8_t hdr[LOG_SEG_HDR];
	uint64_t id = 0, first = 0;
	int rc = log_seg_check(data, &id, &first);

	CHECK(rc == 0 || rc == -EUCLEAN || rc == -EPROTONOSUPPORT);
	if (rc)
		return;
	/* Flags (12..15) are not checked by log_seg_check, so they and
	 * the checksum over them may differ from a fresh header. */
	log_seg_header(hdr, id, first);
	CHECK(memcmp(hdr, data, 12) == 0);
	CHECK(memcmp(hdr + 16, data + 16, 16) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *c;
	uint32_t len;

	if (size >= LOG_SEG_HDR) {
		c = fuzz_dup(data, LOG_SEG_HDR);
		check_seg_header(c);
		/* again with a right checksum: the format and id branches */
		log_put64(c + 32, XXH3_64bits(c, 32));
		check_seg_header(c);
		free(c);
	}
	check_entry(data, size);
	if (size < LOG_ENTRY_HDR)
		return 0;
	/* The same entry with a right checksum, in a buffer of exactly its
	 * claimed length when the input holds that much. */
	len = log_get32(data + 8);
	if (len >= LOG_ENTRY_HDR && len <= size) {
		c = fuzz_dup(data, len);
		log_put64(c, XXH3_64bits(c + 8, len - 8));
		check_entry(c, len);
		free(c);
	}
	return 0;
}

/* fuzz_hint.c - libFuzzer target: log_hint_check, the validation a hint
 * file passes before store/replay.c applies any of its records.
 *
 * Checksum: the input is checked as given, and again with its trailing
 * XXH3-64 recomputed by this target, so the record framing is reached.
 * log_hint_check itself has no bypass.  The segment id and length are
 * taken from the input (so the framing is reached) and, in a second call
 * on the fixed copy, are fixed (1, 4096) (so a mismatch is refused).
 *
 * Oracles: an independent walk of the records gives the same verdict and
 * count; every accepted record lies inside the buffer; a record body
 * that store_apply would decode (PUT, META, MKDIR) passes the body
 * oracle when it decodes at all. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "fuzz_log.h"

#define REC_FIXED (8 + LOG_ENTRY_HDR) /* offset + entry header */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The same rule as log_hint_check, said the other way round: from the
 * end of the header, records of 56 + key + body bytes must reach the
 * trailing checksum exactly. */
static int oracle(const uint8_t *b, size_t len, uint64_t id,
		  uint64_t seg_size, size_t *nrec)
{
	uint64_t pos = LOG_HINT_HDR, end;
	size_t k = 0;

	if (len < LOG_HINT_HDR + 8 || memcmp(b, "RECFSHNT", 8) != 0 ||
	    log_get32(b + 8) != 1 || log_get64(b + 16) != id ||
	    log_get64(b + 24) != seg_size ||
	    log_get64(b + len - 8) != XXH3_64bits(b, len - 8))
		return -EUCLEAN;
	end = len - 8;
	while (pos != end) {
		uint64_t rl;

		if (end - pos < REC_FIXED)
			return -EUCLEAN;
		rl = REC_FIXED + (uint64_t)log_get16(b + pos + 8 + 14) +
		     (uint64_t)log_get32(b + pos + 8 + 40);
		if (rl > end - pos)
			return -EUCLEAN;
		pos += rl;
		k++;
	}
	*nrec = k;
	return 0;
}

static void check_hint(const uint8_t *b, size_t len, uint64_t id,
		       uint64_t seg_size)
{
	size_t n = (size_t)-1, on = (size_t)-2;
	int rc = log_hint_check(b, len, id, seg_size, &n);
	int orc = oracle(b, len, id, seg_size, &on);

	CHECK(rc == 0 || rc == -EUCLEAN);
	CHECK(rc == orc);
	CHECK(log_hint_check(b, len, id, seg_size, NULL) == rc);
	if (rc)
		return;
	CHECK(n == on);
	/* Walk as the apply loop of replay_hint does. */
	for (size_t pos = LOG_HINT_HDR, i = 0; i < n; i++) {
		const uint8_t *h = b + pos + 8;
		uint16_t klen = log_get16(h + 14);
		uint32_t blen = log_get32(h + 40);

		CHECK(pos + REC_FIXED + (uint64_t)klen + blen <= len - 8);
		if (h[12] == LOG_PUT || h[12] == LOG_META ||
		    h[12] == LOG_MKDIR)
			fuzz_check_body(h + LOG_ENTRY_HDR + klen, blen);
		pos += REC_FIXED + (size_t)klen + blen;
		if (i + 1 == n)
			CHECK(pos == len - 8);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *c = fuzz_dup(data, size);
	uint64_t id = 0, seg_size = 0;

	if (size >= 32) {
		id = log_get64(data + 16);
		seg_size = log_get64(data + 24);
	}
	check_hint(c, size, id, seg_size);
	if (size >= LOG_HINT_HDR + 8) {
		log_put64(c + size - 8, XXH3_64bits(c, size - 8));
		check_hint(c, size, id, seg_size);
		check_hint(c, size, 1, 4096);
	}
	free(c);
	return 0;
}

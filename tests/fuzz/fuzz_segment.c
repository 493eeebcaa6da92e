/* fuzz_segment.c - libFuzzer target: the segment reader as recovery
 * drives it (store/replay.c replay_scan): log_reader_next to the end, and
 * log_reader_torn where it stops on damage.
 *
 * The input follows a valid segment header in a memfd.  It is read
 * twice: as given with the reader's 1 MiB window, and with each entry's
 * checksum recomputed (fuzz_fix_entries) and a window of 56..183 bytes,
 * which forces the slide-and-refill and grow paths of reader_fill that
 * real segments only reach with entries near 1 MiB.
 *
 * Oracles: entries come back in order, back to back, with the bytes of
 * the file at their offset, and re-decode from a copy (as pending_apply
 * does); a clean end is at the file size; damage is reported at the end
 * of the last good entry; the torn verdict agrees with a brute-force
 * in-memory version of the rule in FORMAT.md "Recovery". */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int valid_entry_after(const uint8_t *img, size_t n, uint64_t off)
{
	for (uint64_t pos = off + 1; pos + LOG_ENTRY_HDR <= n; pos++) {
		struct log_entry e;
		if (log_entry_decode(img + pos, n - pos, &e) > 0)
			return 1;
	}
	return 0;
}

/* FORMAT.md: torn iff nothing but zeros follows the damaged entry (or
 * it runs to the end of the file) and no valid entry starts after it. */
static int torn_oracle(const uint8_t *img, size_t n, uint64_t off)
{
	uint64_t claimed;

	if (log_all_zero(img + off, n - off))
		return 1;
	if (n - off >= LOG_ENTRY_HDR) {
		claimed = log_get32(img + off + 8);
		if (claimed >= LOG_ENTRY_HDR && claimed < n - off &&
		    !log_all_zero(img + off + claimed, n - off - claimed))
			return 0;
	}
	return !valid_entry_after(img, n, off);
}

static void read_segment(int fd, const uint8_t *img, size_t n, size_t win)
{
	struct log_reader r;
	struct log_entry e;
	uint64_t off, next = LOG_SEG_HDR;
	int rc;

	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, img, n, 0) == (ssize_t)n);
	CHECK(log_reader_init(&r, fd) == 0);
	CHECK(r.file_size == n);
	if (win) {
		free(r.buf);
		r.buf = malloc(win);
		CHECK(r.buf);
		r.cap = win;
	}
	for (;;) {
		const uint8_t *raw;
		uint8_t *copy;
		struct log_entry e2;

		rc = log_reader_next(&r, &e, &off);
		CHECK(off == next);
		if (rc != 1)
			break;
		CHECK(off >= r.base && off - r.base + e.len <= r.end);
		raw = r.buf + (off - r.base);
		CHECK(e.key == (const char *)raw + LOG_ENTRY_HDR);
		CHECK(off + e.len <= n);
		CHECK(memcmp(raw, img + off, e.len) == 0);
		copy = fuzz_dup(raw, e.len);
		CHECK(log_entry_decode(copy, log_get32(copy + 8), &e2) ==
		      (ssize_t)e.len);
		fuzz_check_body(e2.body, e2.body_len);
		free(copy);
		next = off + e.len;
	}
	if (rc == 0) {
		CHECK(off == n);
	} else {
		int torn;

		CHECK(rc == -EUCLEAN);
		CHECK(off < n);
		torn = log_reader_torn(&r, off);
		CHECK(torn == 0 || torn == 1);
		CHECK(torn == torn_oracle(img, n, off));
	}
	log_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	uint8_t *img;
	size_t n = LOG_SEG_HDR + size;

	if (fd < 0) {
		fd = memfd_create("fuzz_segment", MFD_CLOEXEC);
		CHECK(fd >= 0);
	}
	img = malloc(n);
	CHECK(img);
	log_seg_header(img, 1, 1);
	memcpy(img + LOG_SEG_HDR, data, size);
	read_segment(fd, img, n, 0);
	fuzz_fix_entries(img + LOG_SEG_HDR, size);
	read_segment(fd, img, n, 56 + (size & 127));
	free(img);
	return 0;
}

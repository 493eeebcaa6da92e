/* gen_corpus.c - writes the seed corpora of the fuzz targets with the
 * store's own encoders, so that seeds follow FORMAT.md by construction.
 * `make fuzz` builds it (so it keeps compiling) but does not run it:
 *   build/fuzz/gen_corpus tests/fuzz/corpus
 * rewrites tests/fuzz/corpus/<target>/. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "log.h"

static const char *root;

static int put_file(const char *target, const char *name, const void *p,
		    size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	if (n && fwrite(p, 1, n, f) != n) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) ? -errno : 0;
}

static size_t pack_xattr(uint8_t *p, const char *name, const char *val)
{
	size_t nl = strlen(name), vl = strlen(val);

	log_put16(p, (uint16_t)nl);
	log_put32(p + 2, (uint32_t)vl);
	memcpy(p + 6, name, nl);
	memcpy(p + 6 + nl, val, vl);
	return 6 + nl + vl;
}

/* One entry appended at buf + *len. */
static void add(uint8_t *buf, size_t *len, uint8_t type, uint8_t flags,
		const char *key, uint64_t version, const char *content,
		int blob, int with_xattrs)
{
	static const struct store_meta m = {
		.mode = 0100644, .uid = 1000, .gid = 1000,
		.atime_ns = 1700000000000000000LL,
		.mtime_ns = 1700000000000000000LL,
		.ctime_ns = 1700000000000000000LL,
	};
	struct store_meta dm = m;
	uint8_t body[256], x[128], hash[16];
	size_t blen = 0, xlen = 0, vlen = content ? strlen(content) : 0;
	XXH128_canonical_t c;

	if (with_xattrs) {
		xlen += pack_xattr(x + xlen, "user.color", "blue");
		xlen += pack_xattr(x + xlen, "user.empty", "");
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits(content ? content : "",
						   vlen));
	memcpy(hash, c.digest, 16);
	if (type == LOG_MKDIR)
		dm.mode = 040755;
	if (type == LOG_PUT || type == LOG_META || type == LOG_MKDIR) {
		blen = log_body_size((uint32_t)xlen);
		log_body_encode(body, &dm, hash, blob ? 7 : 0, x,
				(uint32_t)xlen);
	}
	log_entry_encode(buf + *len, type, flags, key, strlen(key), version,
			 1700000000000000000LL + (int64_t)version, vlen, body,
			 blen, content, blob ? 0 : vlen);
	*len += log_entry_size(strlen(key), blen, blob ? 0 : vlen);
}

/* A segment (without its header: fuzz_segment adds it) with a directory,
 * two records in one group, a rename-like group, a delete and a floor. */
static size_t make_group(uint8_t *b)
{
	size_t n = 0;

	add(b, &n, LOG_MKDIR, LOG_F_COMMIT, "d", 0, NULL, 0, 1);
	add(b, &n, LOG_PUT, 0, "d/a", 1, "hello\n", 0, 1);
	add(b, &n, LOG_PUT, LOG_F_COMMIT | LOG_F_BLOB, "d/b", 3, "big", 1, 0);
	add(b, &n, LOG_META, LOG_F_COMMIT, "d/a", 1, NULL, 0, 0);
	add(b, &n, LOG_DEL, 0, "d/b", 4, NULL, 0, 0);
	add(b, &n, LOG_PUT, LOG_F_COMMIT, "d/c", 4, "moved", 0, 0);
	add(b, &n, LOG_PUT, LOG_F_COMMIT | LOG_F_HIST, "d/a", 0, "old", 0, 0);
	add(b, &n, LOG_FLOOR, LOG_F_COMMIT, "", 9, NULL, 0, 0);
	return n;
}

static int entries(void)
{
	static const struct { const char *name; uint8_t type, flags;
			      int blob, xa; const char *content; } t[] = {
		{ "put_inline", LOG_PUT, LOG_F_COMMIT, 0, 1, "hello, world\n" },
		{ "put_empty", LOG_PUT, LOG_F_COMMIT, 0, 0, "" },
		{ "put_blob", LOG_PUT, LOG_F_COMMIT | LOG_F_BLOB, 1, 0, "x" },
		{ "put_hist", LOG_PUT, LOG_F_COMMIT | LOG_F_HIST, 0, 0, "v1" },
		{ "meta", LOG_META, LOG_F_COMMIT, 0, 1, NULL },
		{ "del", LOG_DEL, LOG_F_COMMIT, 0, 0, NULL },
		{ "mkdir", LOG_MKDIR, LOG_F_COMMIT, 0, 1, NULL },
		{ "rmdir", LOG_RMDIR, LOG_F_COMMIT, 0, 0, NULL },
		{ "floor", LOG_FLOOR, LOG_F_COMMIT, 0, 0, NULL },
	};
	uint8_t buf[1024];
	int rc;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = 0;

		add(buf, &n, t[i].type, t[i].flags,
		    t[i].type == LOG_FLOOR ? "" : "dir/rec", 5, t[i].content,
		    t[i].blob, t[i].xa);
		if ((rc = put_file("fuzz_entry", t[i].name, buf, n)))
			return rc;
	}
	/* A segment header followed by an entry: log_seg_check's seed. */
	log_seg_header(buf, 3, 1);
	{
		size_t n = LOG_SEG_HDR;

		add(buf, &n, LOG_DEL, LOG_F_COMMIT, "k", 2, NULL, 0, 0);
		return put_file("fuzz_entry", "seg_header", buf, n);
	}
}

static int segments(void)
{
	uint8_t b[4096];
	size_t n = make_group(b);
	int rc;

	if ((rc = put_file("fuzz_segment", "groups", b, n)))
		return rc;
	/* torn: the last entry cut short */
	if ((rc = put_file("fuzz_segment", "torn", b, n - 30)))
		return rc;
	/* a preallocated tail of zeros */
	memset(b + n, 0, 200);
	if ((rc = put_file("fuzz_segment", "zero_tail", b, n + 200)))
		return rc;
	/* a flipped byte in the second entry, valid entries after it */
	b[200] ^= 0x40;
	return put_file("fuzz_segment", "corrupt", b, n);
}

/* The hint of the "groups" segment, as store_hint_add writes it. */
static int hints(void)
{
	uint8_t seg[4096], h[4096];
	size_t n, hl = LOG_HINT_HDR, off = 0;

	log_seg_header(seg, 1, 1);
	n = LOG_SEG_HDR + make_group(seg + LOG_SEG_HDR);
	memcpy(h, HINT_MAGIC, 8);
	log_put32(h + 8, LOG_FORMAT);
	log_put32(h + 12, 0);
	log_put64(h + 16, 1);
	log_put64(h + 24, n);
	log_put64(h + 32, XXH3_64bits(seg, n));
	for (off = LOG_SEG_HDR; off < n;) {
		const uint8_t *e = seg + off;
		size_t keep = LOG_ENTRY_HDR + log_get16(e + 14) +
			      log_get32(e + 40);

		log_put64(h + hl, off);
		memcpy(h + hl + 8, e, keep);
		memset(h + hl + 8, 0, 8);
		hl += 8 + keep;
		off += log_get32(e + 8);
	}
	log_put64(h + hl, XXH3_64bits(h, hl));
	hl += 8;
	return put_file("fuzz_hint", "groups", h, hl);
}

static int xattrs(void)
{
	static const char *v[] = {
		"1", "42\n", "0", "9223372036854775807",
		"9223372036854775808", "18446744073709551616", "", "\n",
		"-1", "+1", " 1", "1 ", "0x10", "1\n\n", "12a",
	};
	char name[16];
	int rc;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(name, sizeof(name), "v%02zu", i);
		if ((rc = put_file("fuzz_xattr", name, v[i], strlen(v[i]))))
			return rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) < 0 && errno != EEXIST) {
		perror(root);
		return 1;
	}
	if ((rc = entries()) || (rc = segments()) || (rc = hints()) ||
	    (rc = xattrs())) {
		fprintf(stderr, "gen_corpus: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}

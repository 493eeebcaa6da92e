/* store_fixture.h - the fixture and helpers of the store API tests
 * (test_store.c, test_store_names.c, test_store_txn.c,
 * test_store_history.c): a fresh store in its own temp directory per
 * test, reopened at will, and checks of what a key holds.  Header-only:
 * each test is its own program. */
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <xxhash.h>
#include "store.h"

#include "store.h"
#include "store_testlib.h"

/* ---- fixture ------------------------------------------------------- */

struct fx {
	char tmp[64];    /* removed at teardown */
	char dir[96];    /* the store, inside tmp; not created by the test */
	char err[512];
	struct store_opts o;
	struct store *st;
};

static inline int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->tmp, "/tmp/recfs-test-store-XXXXXX");
	if (!mkdtemp(f->tmp)) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->tmp);
	f->o.errbuf = f->err;
	f->o.errlen = sizeof(f->err);
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	if (f->st)
		store_close(f->st);
	tl_rm_tree(f->tmp);
	free(f);
	return 0;
}

static inline void fx_open(struct fx *f)
{
	int rc;

	f->err[0] = 0;
	rc = store_open(f->dir, &f->o, &f->st);
	if (rc)
		fail_msg("store_open(%s) = %d (%s)", f->dir, rc, f->err);
}

static inline void fx_close(struct fx *f)
{
	int rc = store_close(f->st);

	f->st = NULL;
	assert_int_equal(rc, 0);
}

static inline void fx_reopen(struct fx *f)
{
	fx_close(f);
	fx_open(f);
}

/* ---- helpers ------------------------------------------------------- */

static inline void hash128(const void *p, size_t n, uint8_t out[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
	memcpy(out, c.digest, 16);
}

static inline uint64_t put_str(struct store *st, const char *key,
			       uint64_t expect, const char *s)
{
	uint64_t v = 0;
	int rc = store_put(st, key, expect, s, strlen(s), NULL, &v);

	if (rc)
		fail_msg("store_put(%s, expect %" PRIu64 ") = %d", key, expect,
			 rc);
	return v;
}

static inline uint64_t put_buf(struct store *st, const char *key,
			       uint64_t expect, const void *p, size_t n)
{
	uint64_t v = 0;
	int rc = store_put(st, key, expect, p, n, NULL, &v);

	if (rc)
		fail_msg("store_put(%s, %zu bytes) = %d", key, n, rc);
	return v;
}

static inline uint64_t last_version(struct store *st, const char *key)
{
	uint64_t v = UINT64_MAX;

	assert_int_equal(store_last_version(st, key, &v), 0);
	assert_true(v != UINT64_MAX);
	return v;
}

/* 0 if @key holds exactly @data at @version (content, size, hash, and
 * store_stat agreeing with store_get); else print why and return -1,
 * so the caller's assert names the line. */
static inline int rec_is(struct store *st, const char *key, const void *data,
			 size_t len, uint64_t version)
{
	struct store_stat s, s2;
	uint8_t h[16];
	char *buf = NULL;
	size_t n = 0;
	int rc, bad = 0;

	memset(&s, 0, sizeof(s));
	rc = store_get(st, key, &buf, &n, &s);
	if (rc) {
		print_error("%s: store_get = %d\n", key, rc);
		return -1;
	}
	hash128(data, len, h);
	if (n != len || memcmp(buf, data, len) != 0) {
		print_error("%s: content differs (%zu bytes, want %zu)\n", key,
			    n, len);
		bad = 1;
	} else if (buf[n] != 0) {
		print_error("%s: store_get buffer not NUL-ended\n", key);
		bad = 1;
	}
	free(buf);
	if (s.version != version) {
		print_error("%s: version %" PRIu64 ", want %" PRIu64 "\n", key,
			    s.version, version);
		bad = 1;
	}
	if (s.size != len || memcmp(s.hash, h, 16) != 0) {
		print_error("%s: stat size/hash wrong\n", key);
		bad = 1;
	}
	rc = store_stat(st, key, &s2);
	if (rc || s2.version != s.version || s2.size != s.size ||
	    memcmp(s2.hash, s.hash, 16) != 0) {
		print_error("%s: store_stat = %d disagrees with store_get\n",
			    key, rc);
		bad = 1;
	}
	return bad ? -1 : 0;
}

static inline int rec_str(struct store *st, const char *key, const char *s,
			  uint64_t version)
{
	return rec_is(st, key, s, strlen(s), version);
}

/* 0 if @key is absent (stat and get say so) and its line stopped at
 * @last (its tombstone's version, or 0 if never a record). */
static inline int gone(struct store *st, const char *key, uint64_t last)
{
	struct store_stat s;
	char *buf = NULL;
	size_t n;
	uint64_t lv = UINT64_MAX;
	int rc1 = store_stat(st, key, &s), rc2 = store_get(st, key, &buf, &n, NULL);
	int rc3 = store_last_version(st, key, &lv);

	free(buf);
	if (rc1 != -ENOENT || rc2 != -ENOENT || rc3 != 0 || lv != last) {
		print_error("%s: stat %d get %d last_version %d/%" PRIu64
			    ", want absent with last %" PRIu64 "\n",
			    key, rc1, rc2, rc3, lv, last);
		return -1;
	}
	return 0;
}

static inline void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static inline int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
/* 0 if @key's xattr @name holds exactly @want. */
static inline int xattr_is(struct store *st, const char *key,
			   const char *name, const char *want)
{
	char buf[256];
	ssize_t n = store_getxattr(st, key, name, NULL, 0);

	if (n != (ssize_t)strlen(want)) {
		print_error("%s %s: size probe %zd, want %zu\n", key, name, n,
			    strlen(want));
		return -1;
	}
	n = store_getxattr(st, key, name, buf, sizeof(buf));
	if (n != (ssize_t)strlen(want) || memcmp(buf, want, (size_t)n) != 0) {
		print_error("%s %s: got %zd bytes\n", key, name, n);
		return -1;
	}
	return 0;
}

#endif

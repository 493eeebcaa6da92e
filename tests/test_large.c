/* test_large.c - a 256 MiB record goes through the store without its
 * size in memory; dead space is compacted by itself. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>
#include <xxhash.h>

#include "store.h"

#define MIB (1u << 20)

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/recfs-large.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static long maxrss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Deterministic content: chunk i filled from i. */
static void fill(char *buf, size_t i)
{
	for (size_t j = 0; j < MIB; j += 8) {
		uint64_t v = (uint64_t)i * 0x9E3779B97F4A7C15ull + j;
		memcpy(buf + j, &v, 8);
	}
}

static void test_256mib_record(void **state)
{
	char path[128], *buf = malloc(MIB);
	struct store *st;
	struct store_txn *t;
	struct store_snap *s;
	struct store_stat sb;
	XXH3_state_t *x = XXH3_createState();
	XXH128_canonical_t c;
	uint64_t v;
	long before;
	const size_t chunks = 256;

	(void)state;
	assert_non_null(buf);
	snprintf(path, sizeof(path), "%s/s", dir);
	assert_int_equal(store_open(path, NULL, &st), 0);
	before = maxrss_kib();
	XXH3_128bits_reset(x);
	assert_int_equal(store_txn_begin(st, "big", 1, &t), 0);
	for (size_t i = 0; i < chunks; i++) {
		fill(buf, i);
		XXH3_128bits_update(x, buf, MIB);
		assert_int_equal(store_txn_write(t, buf, MIB, (uint64_t)i * MIB),
				 MIB);
	}
	assert_int_equal(store_txn_commit(t, STORE_ABSENT, NULL, 0, &v), 0);
	assert_int_equal(v, 1);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(x));
	assert_int_equal(store_stat(st, "big", &sb), 0);
	assert_int_equal(sb.size, (uint64_t)chunks * MIB);
	assert_memory_equal(sb.hash, c.digest, 16);
	/* Committing it did not need its size in memory. */
	assert_true(maxrss_kib() - before < 64 * 1024);
	assert_int_equal(store_close(st), 0);

	/* After a reopen, read it back in pieces and check every byte. */
	assert_int_equal(store_open(path, NULL, &st), 0);
	assert_int_equal(store_snap_open(st, "big", 0, &s), 0);
	for (size_t i = 0; i < chunks; i += 37) {
		char *want = malloc(MIB);
		fill(want, i);
		assert_int_equal(store_snap_read(s, buf, MIB, (uint64_t)i * MIB),
				 MIB);
		assert_memory_equal(buf, want, MIB);
		free(want);
	}
	store_snap_close(s);
	assert_int_equal(store_close(st), 0);
	XXH3_freeState(x);
	free(buf);
}

/* Overwriting one key again and again leaves mostly dead log: the store
 * compacts by itself, and the key reads right throughout. */
static void test_auto_compaction(void **state)
{
	char path[128], val[2048];
	struct store_opts o = { .segment_size = 1 * MIB, .compact_ratio = 0.5 };
	struct store_stats ss;
	struct store *st;
	uint64_t v = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/c", dir);
	assert_int_equal(store_open(path, &o, &st), 0);
	for (int i = 0; i < 20000; i++) {
		memset(val, 'a' + i % 26, sizeof(val));
		assert_int_equal(store_put(st, "k", v, val, sizeof(val), NULL, &v),
				 0);
	}
	for (int i = 0; i < 200; i++) {
		store_stats(st, &ss);
		if (ss.compactions > 0)
			break;
		usleep(10000);
	}
	assert_true(ss.compactions > 0);
	assert_true(ss.log_bytes < 20000ull * sizeof(val) / 2);
	assert_int_equal(v, 20000);
	assert_int_equal(store_close(st), 0);
	assert_int_equal(store_open(path, &o, &st), 0);
	{
		struct store_stat sb;
		assert_int_equal(store_stat(st, "k", &sb), 0);
		assert_int_equal(sb.version, 20000);
	}
	assert_int_equal(store_close(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_256mib_record),
		cmocka_unit_test(test_auto_compaction),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* mkstore - a store of N small records, written with the store library
 * directly (make bench, workload 11: reopen time and RSS per record).
 * Going through a mount would take minutes for 1,000,000 records; the
 * daemon only ever sees the store as a directory, however it was written.
 *
 *   mkstore DIR N [SIZE]
 *
 * Keys are "dDDDD/rNNNNNNN", 1,000 records per directory, so the index
 * holds directories as a real tree would.  Each record has SIZE bytes
 * (100 by default) that differ per record.  On success it prints one
 * line: "records N dirs D key_bytes_mean K seconds S".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

#define PER_DIR 1000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fill(struct store *st, long n, size_t size, double *key_bytes)
{
	char key[64], *val = malloc(size ? size : 1);
	long dirs = 0;
	int rc = 0;

	if (!val)
		return -ENOMEM;
	for (size_t i = 0; i < size; i++)
		val[i] = (char)('a' + i % 26);
	*key_bytes = 0;
	for (long i = 0; i < n; i++) {
		int kl;
		if (i % PER_DIR == 0) {
			snprintf(key, sizeof(key), "d%04ld", i / PER_DIR);
			rc = store_mkdir(st, key, NULL);
			if (rc < 0)
				goto out;
			dirs++;
		}
		kl = snprintf(key, sizeof(key), "d%04ld/r%07ld", i / PER_DIR, i);
		/* Distinct contents, so no two records hash alike. */
		if (size >= 8)
			memcpy(val, key + kl - 8, 8);
		rc = store_put(st, key, STORE_ABSENT, val, size, NULL, NULL);
		if (rc < 0)
			goto out;
		*key_bytes += kl;
	}
	*key_bytes /= (double)(n ? n : 1);
	printf("records %ld dirs %ld key_bytes_mean %.2f", n, dirs, *key_bytes);
out:
	free(val);
	return rc;
}

int main(int argc, char **argv)
{
	struct store_opts o;
	struct store *st = NULL;
	char err[256] = "";
	double t0, key_bytes;
	long n;
	size_t size = 100;
	int rc;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: mkstore DIR N [SIZE]\n");
		return 2;
	}
	n = atol(argv[2]);
	if (argc == 4)
		size = (size_t)atol(argv[3]);
	memset(&o, 0, sizeof(o));
	/* Nothing is ever dead here; a compaction would only cost time. */
	o.compact_ratio = -1;
	o.errbuf = err;
	o.errlen = sizeof(err);
	t0 = now();
	rc = store_open(argv[1], &o, &st);
	if (rc < 0) {
		fprintf(stderr, "mkstore: %s: %s\n", argv[1],
			err[0] ? err : strerror(-rc));
		return 1;
	}
	rc = fill(st, n, size, &key_bytes);
	if (rc < 0)
		fprintf(stderr, "mkstore: %s: %s\n", argv[1], strerror(-rc));
	/* A clean close writes the hint files a reopen reads. */
	if (store_close(st) < 0 && rc == 0)
		rc = -EIO;
	if (rc == 0)
		printf(" seconds %.2f\n", now() - t0);
	return rc < 0 ? 1 : 0;
}

/* bench_store.c - in-process store throughput, for the planning figures
 * of the store issue (not a test: numbers, no assertions).
 * usage: bench_store DIR [records] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "store.h"

/* The reopen test's keys: KEY_LEN bytes each for n < 10^8. */
#define KEY_FMT "r%08d"
#define KEY_LEN 9

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, res = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

struct worker {
	struct store *st;
	int id, n;
	int done; /* commits made: a failed put ends the worker */
};

/* The store at @path, or the program ends saying why: every figure
 * below would otherwise be of a store that is not there. */
static struct store *must_open(const char *path,
			       const struct store_opts *o)
{
	struct store *st;
	int rc = store_open(path, o, &st);

	if (rc < 0) {
		fprintf(stderr, "bench_store: %s: %s\n", path, strerror(-rc));
		exit(1);
	}
	return st;
}

/* A run whose commits failed is no figure: say so, on stderr and in the
 * line, rather than print a rate of commits that were not made. */
static void report(const char *what, int done, int want, double secs)
{
	printf("%s: %.0f commits/s", what, done / secs);
	if (done < want) {
		printf(" (ONLY %d of %d committed)", done, want);
		fprintf(stderr, "bench_store: %s: %d of %d commits failed\n",
			what, want - done, want);
	}
	printf("\n");
}

static void *durable_worker(void *arg)
{
	struct worker *w = arg;
	char key[32], val[4096];
	uint64_t v = 0;

	memset(val, 'd', sizeof(val));
	snprintf(key, sizeof(key), "d%d", w->id);
	for (w->done = 0; w->done < w->n; w->done++)
		if (store_put(w->st, key, v, val, sizeof(val), NULL, &v) < 0)
			break;
	return NULL;
}

int main(int argc, char **argv)
{
	char path[512], key[32], val[4096];
	int n = argc > 2 ? atoi(argv[2]) : 1000000, done;
	struct store_opts o = { .compact_ratio = -1 };
	struct store *st;
	double t0, t1, per;
	long rss0, rss1;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_store DIR [records]\n");
		return 2;
	}
	memset(val, 'x', sizeof(val));
	if (argc > 3 && strcmp(argv[3], "reopen") == 0) {
		snprintf(path, sizeof(path), "%s/c", argv[1]);
		rss0 = rss_kib();
		t0 = now();
		st = must_open(path, &o);
		t1 = now();
		rss1 = rss_kib();
		/* The target is per record beside the key's own bytes: its
		 * keys are KEY_LEN bytes each. */
		per = (rss1 - rss0) * 1024.0 / n;
		printf("reopen of %d records: %.3f s, index %.0f bytes/record "
		       "besides the key (%.0f in all, keys are %d bytes)\n",
		       n, t1 - t0, per - KEY_LEN, per, KEY_LEN);
		store_close(st);
		return 0;
	}

	/* 1. commits of 4 KB records, no fsync */
	snprintf(path, sizeof(path), "%s/a", argv[1]);
	st = must_open(path, &o);
	t0 = now();
	done = 0;
	for (int i = 0; i < 200000; i++) {
		snprintf(key, sizeof(key), "k%d", i % 10000);
		done += store_put(st, key, STORE_ANY, val, sizeof(val), NULL,
				  NULL) == 0;
	}
	t1 = now();
	report("4 KB commits, 1 thread, no fsync", done, 200000, t1 - t0);

	/* 1b. the same through a staged change, as a FUSE save makes
	 * them (begin, write, commit): the staging is what it measures. */
	t0 = now();
	done = 0;
	for (int i = 0; i < 200000; i++) {
		struct store_txn *t;
		snprintf(key, sizeof(key), "k%d", i % 10000);
		if (store_txn_begin(st, key, 1, &t) < 0)
			break;
		if (store_txn_write(t, val, sizeof(val), 0) < 0) {
			store_txn_abort(t);
			break;
		}
		done += store_txn_commit(t, STORE_ANY, NULL, 0, NULL) == 0;
	}
	t1 = now();
	report("4 KB staged commits (txn), 1 thread, no fsync", done, 200000,
	       t1 - t0);
	store_close(st);

	/* 2. durable commits, 32 committers, sync=always */
	snprintf(path, sizeof(path), "%s/b", argv[1]);
	o.sync_always = 1;
	st = must_open(path, &o);
	{
		pthread_t th[32];
		struct worker w[32];
		t0 = now();
		for (int i = 0; i < 32; i++) {
			w[i] = (struct worker){ st, i, 200, 0 };
			pthread_create(&th[i], NULL, durable_worker, &w[i]);
		}
		done = 0;
		for (int i = 0; i < 32; i++) {
			pthread_join(th[i], NULL);
			done += w[i].done;
		}
		t1 = now();
		report("4 KB durable commits, 32 committers, sync=always",
		       done, 32 * 200, t1 - t0);
	}
	store_close(st);

	/* 2b. durable commits one after another: each waits for its own
	 * fdatasync, so this is the sync's cost (issue 8: a commit's sync
	 * should be a pure data overwrite). */
	snprintf(path, sizeof(path), "%s/b1", argv[1]);
	st = must_open(path, &o);
	{
		uint64_t v = 0;
		t0 = now();
		for (done = 0; done < 2000; done++)
			if (store_put(st, "one", v, val, sizeof(val), NULL,
				      &v) < 0)
				break;
		t1 = now();
		report("4 KB durable commits, 1 committer, sync=always", done,
		       2000, t1 - t0);
	}
	store_close(st);
	o.sync_always = 0;

	/* 3. reopen of a store of n small records; index memory */
	snprintf(path, sizeof(path), "%s/c", argv[1]);
	st = must_open(path, &o);
	done = 0;
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), KEY_FMT, i);
		done += store_put(st, key, STORE_ANY, val, 100, NULL,
				  NULL) == 0;
	}
	store_close(st);
	if (done < n) {
		fprintf(stderr, "bench_store: only %d of %d records made: no "
			"reopen figure\n", done, n);
		return 1;
	}
	/* In a fresh process, so freed memory cannot hide the index. */
	fflush(stdout);
	if (fork() == 0) {
		char nbuf[32];
		snprintf(nbuf, sizeof(nbuf), "%d", n);
		execl("/proc/self/exe", argv[0], argv[1], nbuf, "reopen",
		      (char *)NULL);
		_exit(127);
	}
	wait(NULL);
	return 0;
}

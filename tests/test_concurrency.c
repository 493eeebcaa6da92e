/* test_concurrency.c - many threads on one store.
 *
 * The optimistic-locking contract under contention: read-modify-write
 * loops that retry on -EAGAIN must lose no increment, and each success
 * makes exactly one version.  Readers running alongside must always see
 * a content that belongs to the version reported with it.  Worker
 * threads never call cmocka's asserts (not thread-safe): they record
 * what went wrong and the main thread asserts. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

/* ---- fixture ------------------------------------------------------- */

struct slow_sync {
	atomic_int syncs;
	atomic_llong sync_ns; /* time spent in syncs, the sleep included */
	atomic_int armed, wrote; /* wrote: a pwrite since armed was set */
	int ms;
};

struct fx {
	char tmp[64], dir[96], err[256];
	struct store_opts o;
	struct store *st;
	struct store_io io; /* the gather tests' slow syncs: outlive them */
	struct slow_sync ss;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->tmp, "/tmp/recfs-test-conc-XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->tmp);
	f->o.errbuf = f->err;
	f->o.errlen = sizeof(f->err);
	*state = f;
	return 0;
}

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->st)
		store_close(f->st);
	nftw(f->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void fx_open(struct fx *f)
{
	int rc = store_open(f->dir, &f->o, &f->st);

	if (rc)
		fail_msg("store_open = %d (%s)", rc, f->err);
}

static void fx_reopen(struct fx *f)
{
	assert_int_equal(store_close(f->st), 0);
	f->st = NULL;
	fx_open(f);
}

/* ---- workers ------------------------------------------------------- */

/* The counter convention: content "n" is always at version n + 1
 * (created as "0" at version 1, each increment one version). */
struct worker {
	struct store *st;
	char key[32];
	int iters;
	int use_txn;      /* commit through a transaction, not store_put */
	int durable;      /* txn commits with durable=1 */
	int rc;           /* first unexpected error, or 0 */
	char why[160];
	unsigned done, retries;
	pthread_t tid;
};

static void failed(struct worker *w, int rc, const char *what)
{
	if (!w->rc) {
		w->rc = rc ? rc : -1;
		snprintf(w->why, sizeof(w->why), "%s: %s", w->key, what);
	}
}

/* Commit @val as the next version after @expect. */
static int commit_value(struct worker *w, uint64_t expect, const char *val,
			uint64_t *newv)
{
	struct store_txn *t = NULL;
	ssize_t n;
	int rc;

	if (!w->use_txn)
		return store_put(w->st, w->key, expect, val, strlen(val), NULL,
				 newv);
	rc = store_txn_begin(w->st, w->key, 1, &t);
	if (rc)
		return rc;
	n = store_txn_write(t, val, strlen(val), 0);
	if (n != (ssize_t)strlen(val)) {
		store_txn_abort(t);
		return n < 0 ? (int)n : -EIO;
	}
	return store_txn_commit(t, expect, NULL, w->durable, newv);
}

static void *incrementer(void *p)
{
	struct worker *w = p;

	while ((int)w->done < w->iters && !w->rc) {
		struct store_stat s;
		char *buf = NULL, val[32];
		size_t len = 0;
		uint64_t newv = 0;
		long n;
		int rc = store_get(w->st, w->key, &buf, &len, &s);

		if (rc) {
			failed(w, rc, "store_get");
			break;
		}
		n = strtol(buf, NULL, 10);
		free(buf);
		if ((uint64_t)n + 1 != s.version) {
			failed(w, -1, "content does not match its version");
			break;
		}
		snprintf(val, sizeof(val), "%ld", n + 1);
		rc = commit_value(w, s.version, val, &newv);
		if (rc == -EAGAIN) {
			w->retries++; /* someone else won: read again */
			continue;
		}
		if (rc) {
			failed(w, rc, "commit");
			break;
		}
		if (newv != s.version + 1) {
			failed(w, -1, "commit did not make the next version");
			break;
		}
		w->done++;
	}
	return NULL;
}

/* Readers and a compactor run until told to stop. */
struct bystander {
	struct store *st;
	const char *key;
	atomic_int *stop;
	int rc;
	char why[160];
	unsigned rounds;
	pthread_t tid;
};

static void *reader(void *p)
{
	struct bystander *b = p;

	while (!atomic_load(b->stop) && !b->rc) {
		struct store_stat s;
		struct store_snap *snap = NULL;
		char *buf = NULL, rb[32];
		size_t len = 0;
		ssize_t n;
		int rc = store_get(b->st, b->key, &buf, &len, &s);

		if (rc) {
			b->rc = rc;
			strcpy(b->why, "store_get");
			break;
		}
		if ((uint64_t)strtol(buf, NULL, 10) + 1 != s.version) {
			b->rc = -1;
			snprintf(b->why, sizeof(b->why), "store_get: \"%s\" "
				 "at v%" PRIu64, buf, s.version);
		}
		free(buf);
		/* A snapshot's bytes and version agree too. */
		rc = store_snap_open(b->st, b->key, 0, &snap);
		if (rc) {
			b->rc = rc;
			strcpy(b->why, "store_snap_open");
			break;
		}
		store_snap_stat(snap, &s);
		n = store_snap_read(snap, rb, sizeof(rb) - 1, 0);
		store_snap_close(snap);
		if (n < 0 || (uint64_t)n != s.size) {
			b->rc = n < 0 ? (int)n : -1;
			strcpy(b->why, "snapshot short read");
			break;
		}
		rb[n] = 0;
		if ((uint64_t)strtol(rb, NULL, 10) + 1 != s.version) {
			b->rc = -1;
			snprintf(b->why, sizeof(b->why), "snapshot: \"%s\" at "
				 "v%" PRIu64, rb, s.version);
		}
		b->rounds++;
	}
	return NULL;
}

static void *compactor(void *p)
{
	struct bystander *b = p;

	while (!atomic_load(b->stop) && !b->rc) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		struct store_stats ss;
		int rc = store_compact(b->st);

		if (rc) {
			b->rc = rc;
			strcpy(b->why, "store_compact");
		}
		store_stats(b->st, &ss);
		b->rounds++;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void *lister(void *p)
{
	struct bystander *b = p;

	while (!atomic_load(b->stop) && !b->rc) {
		struct store_dirent *ents = NULL;
		size_t n = 0;
		int rc = store_list(b->st, b->key, &ents, &n);

		if (rc) {
			b->rc = rc;
			strcpy(b->why, "store_list");
			break;
		}
		for (size_t i = 1; i < n; i++)
			if (strcmp(ents[i - 1].name, ents[i].name) >= 0) {
				b->rc = -1;
				strcpy(b->why, "store_list not sorted");
			}
		store_list_free(ents, n);
		b->rounds++;
	}
	return NULL;
}

static void start(struct worker *w)
{
	assert_int_equal(pthread_create(&w->tid, NULL, incrementer, w), 0);
}

static void finish(struct worker *w)
{
	assert_int_equal(pthread_join(w->tid, NULL), 0);
	if (w->rc)
		fail_msg("worker %s: %s (%d)", w->key, w->why, w->rc);
	assert_int_equal(w->done, w->iters);
}

static void finish_bystander(struct bystander *b)
{
	assert_int_equal(pthread_join(b->tid, NULL), 0);
	if (b->rc)
		fail_msg("%s: %s (%d)", b->key ? b->key : "compactor", b->why,
			 b->rc);
}

/* 0 if @key holds the decimal @n at version n + 1. */
static int counter_is(struct store *st, const char *key, long n)
{
	struct store_stat s;
	char *buf = NULL;
	size_t len;
	long got;
	int rc = store_get(st, key, &buf, &len, &s);

	if (rc) {
		print_error("%s: store_get = %d\n", key, rc);
		return -1;
	}
	got = strtol(buf, NULL, 10);
	free(buf);
	if (got != n || s.version != (uint64_t)n + 1) {
		print_error("%s: %ld at v%" PRIu64 ", want %ld at v%ld\n", key,
			    got, s.version, n, n + 1);
		return -1;
	}
	return 0;
}

static void create_counter(struct store *st, const char *key)
{
	uint64_t v = 0;

	assert_int_equal(store_put(st, key, STORE_ABSENT, "0", 1, NULL, &v), 0);
	assert_true(v == 1);
}

/* Increments per worker of the two 8-thread counters: a fifth under
 * memcheck (RECFS_TEST_SLOWDOWN > 1, make valgrind), where their 4,000
 * commits each, the compactor racing them, took most of the 600 s the
 * whole file may take (352 s and 466 s in two runs, then over). */
static int increments(void)
{
	const char *s = getenv("RECFS_TEST_SLOWDOWN");

	return s && atoi(s) > 1 ? 100 : 500;
}

/* ---- tests --------------------------------------------------------- */

static void test_shared_counter(void **state)
{
	struct fx *f = *state;
	enum { T = 8, R = 2 };
	const int N = increments();
	struct worker w[T];
	struct bystander rd[R], comp;
	struct store_hist *h = NULL;
	atomic_int stop = 0;
	unsigned retries = 0, reads = 0;
	size_t nh = 0;

	fx_open(f);
	create_counter(f->st, "counter");
	memset(w, 0, sizeof(w));
	memset(rd, 0, sizeof(rd));
	memset(&comp, 0, sizeof(comp));
	for (int i = 0; i < R; i++) {
		rd[i] = (struct bystander){ .st = f->st, .key = "counter",
					    .stop = &stop };
		assert_int_equal(pthread_create(&rd[i].tid, NULL, reader,
						&rd[i]), 0);
	}
	/* Compaction racing the commits must not lose one. */
	comp = (struct bystander){ .st = f->st, .stop = &stop };
	assert_int_equal(pthread_create(&comp.tid, NULL, compactor, &comp), 0);
	for (int i = 0; i < T; i++) {
		w[i].st = f->st;
		strcpy(w[i].key, "counter");
		w[i].iters = N;
		start(&w[i]);
	}
	for (int i = 0; i < T; i++) {
		finish(&w[i]);
		retries += w[i].retries;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < R; i++) {
		finish_bystander(&rd[i]);
		reads += rd[i].rounds;
	}
	finish_bystander(&comp);
	print_message("%u retries, %u consistent reads, %u compactions\n",
		      retries, reads, comp.rounds);

	assert_int_equal(counter_is(f->st, "counter", T * N), 0);
	/* The kept versions are the last ones, consecutive. */
	assert_int_equal(store_history(f->st, "counter", &h, &nh), 0);
	assert_true(nh >= 1);
	for (size_t i = 0; i < nh; i++)
		assert_true(h[i].version == T * N + 1 - (nh - 1 - i));
	free(h);
	fx_reopen(f);
	assert_int_equal(counter_is(f->st, "counter", T * N), 0);
}

static void test_separate_records(void **state)
{
	struct fx *f = *state;
	enum { T = 8 };
	const int N = increments();
	struct worker w[T];
	struct bystander ls;
	atomic_int stop = 0;

	fx_open(f);
	assert_int_equal(store_mkdir(f->st, "dir", NULL), 0);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < T; i++) {
		w[i].st = f->st;
		snprintf(w[i].key, sizeof(w[i].key), "dir/rec%d", i);
		create_counter(f->st, w[i].key);
		w[i].iters = N;
	}
	ls = (struct bystander){ .st = f->st, .key = "dir", .stop = &stop };
	assert_int_equal(pthread_create(&ls.tid, NULL, lister, &ls), 0);
	for (int i = 0; i < T; i++)
		start(&w[i]);
	for (int i = 0; i < T; i++) {
		finish(&w[i]);
		/* Nobody else writes this record: no conflict is possible. */
		assert_int_equal(w[i].retries, 0);
	}
	atomic_store(&stop, 1);
	finish_bystander(&ls);
	for (int i = 0; i < T; i++)
		assert_int_equal(counter_is(f->st, w[i].key, N), 0);
	fx_reopen(f);
	for (int i = 0; i < T; i++)
		assert_int_equal(counter_is(f->st, w[i].key, N), 0);
}

static void test_txn_counter(void **state)
{
	struct fx *f = *state;
	enum { T = 4, N = 100 };
	struct worker w[T];

	fx_open(f);
	create_counter(f->st, "c");
	memset(w, 0, sizeof(w));
	for (int i = 0; i < T; i++) {
		w[i].st = f->st;
		strcpy(w[i].key, "c");
		w[i].iters = N;
		w[i].use_txn = 1;
		start(&w[i]);
	}
	for (int i = 0; i < T; i++)
		finish(&w[i]);
	assert_int_equal(counter_is(f->st, "c", T * N), 0);
	fx_reopen(f);
	assert_int_equal(counter_is(f->st, "c", T * N), 0);
}

/* sync_always: every commit durable, many writers sharing fsyncs. */
static void test_group_commit(void **state)
{
	struct fx *f = *state;
	enum { TS = 4, NS = 20, TO = 4, NO = 40, TD = 2, ND = 20 };
	struct worker w[TS + TO + TD];
	struct timespec t0, t1;
	int n = 0;

	f->o.sync_always = 1;
	fx_open(f);
	create_counter(f->st, "shared");
	memset(w, 0, sizeof(w));
	for (int i = 0; i < TS; i++, n++) {
		w[n].st = f->st;
		strcpy(w[n].key, "shared");
		w[n].iters = NS;
	}
	for (int i = 0; i < TO; i++, n++) {
		w[n].st = f->st;
		snprintf(w[n].key, sizeof(w[n].key), "own%d", i);
		create_counter(f->st, w[n].key);
		w[n].iters = NO;
	}
	for (int i = 0; i < TD; i++, n++) { /* durable txn commits too */
		w[n].st = f->st;
		snprintf(w[n].key, sizeof(w[n].key), "txn%d", i);
		create_counter(f->st, w[n].key);
		w[n].iters = ND;
		w[n].use_txn = 1;
		w[n].durable = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		start(&w[i]);
	for (int i = 0; i < n; i++)
		finish(&w[i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("%d durable commits in %.3f s\n",
		      TS * NS + TO * NO + TD * ND,
		      (double)(t1.tv_sec - t0.tv_sec) +
			      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	assert_int_equal(counter_is(f->st, "shared", TS * NS), 0);
	for (int i = TS; i < n; i++)
		assert_int_equal(counter_is(f->st, w[i].key, w[i].iters), 0);
	assert_int_equal(store_sync(f->st), 0);
	fx_reopen(f);
	assert_int_equal(counter_is(f->st, "shared", TS * NS), 0);
	for (int i = TS; i < n; i++)
		assert_int_equal(counter_is(f->st, w[i].key, w[i].iters), 0);
}

/* Appends need no basis and lose nothing: every line lands once. */
struct appender {
	struct store *st;
	int id, n, rc;
	pthread_t tid;
};

static void *append_lines(void *p)
{
	struct appender *a = p;

	for (int i = 0; i < a->n && !a->rc; i++) {
		char line[32];
		uint64_t v;
		int len = snprintf(line, sizeof(line), "t%d-%04d\n", a->id, i);

		a->rc = store_append(a->st, "log", line, (size_t)len, &v);
	}
	return NULL;
}

static void test_concurrent_append(void **state)
{
	struct fx *f = *state;
	enum { T = 8, N = 200 };
	struct appender a[T];
	struct store_stat s;
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	int next[T] = { 0 }, lines = 0;
	uint64_t v;

	fx_open(f);
	assert_int_equal(store_put(f->st, "log", STORE_ABSENT, "", 0, NULL, &v),
			 0);
	for (int i = 0; i < T; i++) {
		a[i] = (struct appender){ .st = f->st, .id = i, .n = N };
		assert_int_equal(pthread_create(&a[i].tid, NULL, append_lines,
						&a[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		assert_int_equal(pthread_join(a[i].tid, NULL), 0);
		assert_int_equal(a[i].rc, 0);
	}
	assert_int_equal(store_get(f->st, "log", &buf, &len, &s), 0);
	assert_true(s.version == 1 + T * N);
	/* Each thread's lines appear whole, once, in its own order. */
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		int id, seq;

		if (sscanf(line, "t%d-%d", &id, &seq) != 2 || id < 0 || id >= T)
			fail_msg("garbled line \"%s\"", line);
		assert_int_equal(seq, next[id]);
		next[id]++;
		lines++;
	}
	free(buf);
	assert_int_equal(lines, T * N);
}

/* ---- a group sync waits for changes being written ----------------- */

/* Syncs are counted and made slow (struct slow_sync), so that the
 * store's recent sync time (which bounds the wait: half of it) is long
 * enough to time safely. */

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static ssize_t s_pwrite(void *ctx, int fd, const void *buf, size_t n,
			off_t off)
{
	struct slow_sync *ss = ctx;
	ssize_t r = pwrite(fd, buf, n, off);

	if (atomic_load(&ss->armed))
		atomic_store(&ss->wrote, 1);
	return r;
}

static int s_fdatasync(void *ctx, int fd)
{
	struct slow_sync *ss = ctx;
	struct timespec d = { ss->ms / 1000, (long)(ss->ms % 1000) * 1000000 };
	long long t0 = mono_ns();
	int rc;

	atomic_fetch_add(&ss->syncs, 1);
	nanosleep(&d, NULL);
	rc = fdatasync(fd);
	atomic_fetch_add(&ss->sync_ns, mono_ns() - t0);
	return rc;
}

struct putter {
	struct store *st;
	struct slow_sync *ss;
	const char *key;
	int rc;
	double waited; /* its time less its syncs' (a fill's included), s */
	pthread_t tid;
};

static void *put_one(void *p)
{
	struct putter *u = p;
	long long synced = atomic_load(&u->ss->sync_ns), t0 = mono_ns();
	uint64_t v;

	u->rc = store_put(u->st, u->key, STORE_ANY, "x", 1, NULL, &v);
	synced = atomic_load(&u->ss->sync_ns) - synced;
	u->waited = (double)(mono_ns() - t0 - synced) / 1e9;
	return NULL;
}

/* Open the store with slow syncs of @ms and a wait of up to @max_ns, and
 * make one durable commit, so that the recent sync time is known. */
static void gather_open(struct fx *f, int ms, int64_t max_ns)
{
	uint64_t v;

	f->ss.ms = ms;
	f->io = (struct store_io){ .pwrite = s_pwrite,
				   .fdatasync = s_fdatasync, .ctx = &f->ss };
	f->o.io = &f->io;
	f->o.sync_always = 1;
	f->o.gather_max_ns = max_ns;
	fx_open(f);
	assert_int_equal(store_put(f->st, "a", STORE_ANY, "0", 1, NULL, &v), 0);
	assert_int_equal(store_put(f->st, "b", STORE_ANY, "0", 1, NULL, &v), 0);
}

/* A change being written when a durable commit starts its sync joins
 * that sync: one sync for both.  Without the wait, the commit would sync
 * at once and the change, appended during that sync, would need its
 * own. */
static void test_gather_joins_sync(void **state)
{
	struct fx *f = *state;
	struct slow_sync *ss = &f->ss;
	struct store_txn *t;
	struct putter u;
	uint64_t v;
	int before;

	gather_open(f, 400, 10ll * 1000000000);
	assert_int_equal(store_txn_begin(f->st, "b", 1, &t), 0);
	assert_int_equal(store_txn_write(t, "1", 1, 0), 1);
	before = atomic_load(&ss->syncs);
	u = (struct putter){ .st = f->st, .ss = ss, .key = "a" };
	atomic_store(&ss->armed, 1);
	assert_int_equal(pthread_create(&u.tid, NULL, put_one, &u), 0);
	/* Once the put has appended, its sync waits up to 200 ms (half of
	 * 400) for the txn: commit it 20 ms into that wait. */
	while (!atomic_load(&ss->wrote))
		usleep(1000);
	usleep(20000);
	assert_int_equal(store_txn_commit(t, STORE_ANY, NULL, 1, &v), 0);
	assert_int_equal(pthread_join(u.tid, NULL), 0);
	assert_int_equal(u.rc, 0);
	assert_int_equal(atomic_load(&ss->syncs) - before, 1);
	fx_reopen(f);
	{
		char *buf = NULL;
		size_t len = 0;
		struct store_stat st;

		assert_int_equal(store_get(f->st, "b", &buf, &len, &st), 0);
		assert_int_equal(len, 1);
		assert_int_equal(buf[0], '1');
		free(buf);
	}
}

/* A change kept open (a slow writer) makes one sync wait its bound,
 * once: the next waits no more until some change has ended.  A lone
 * committer never waits, and gather_max_ns < 0 turns the wait off. */
static void test_gather_bounded(void **state)
{
	struct fx *f = *state;
	struct slow_sync *ss = &f->ss;
	struct store_txn *t, *t2;
	struct putter u = { 0 };
	uint64_t v;

	/* Syncs of 400 ms: a wait is half of that, 200 ms. */
	gather_open(f, 400, 10ll * 1000000000);
	u.st = f->st;
	u.ss = ss;
	u.key = "a";
	put_one(&u); /* nothing open: no wait */
	assert_int_equal(u.rc, 0);
	assert_true(u.waited < 0.100);

	assert_int_equal(store_txn_begin(f->st, "b", 1, &t), 0);
	put_one(&u); /* waits 200 ms for t, in vain */
	assert_int_equal(u.rc, 0);
	assert_true(u.waited >= 0.150);
	put_one(&u); /* no txn has ended since: no wait */
	assert_int_equal(u.rc, 0);
	assert_true(u.waited < 0.100);

	/* Once a change ends, a sync waits again for the ones open. */
	assert_int_equal(store_txn_begin(f->st, "a", 1, &t2), 0);
	store_txn_abort(t2);
	put_one(&u);
	assert_true(u.waited >= 0.150);
	store_txn_abort(t);
	assert_int_equal(store_put(f->st, "b", STORE_ANY, "2", 1, NULL, &v), 0);

	assert_int_equal(store_close(f->st), 0);
	f->st = NULL;
	gather_open(f, 400, -1);
	u.st = f->st;
	assert_int_equal(store_txn_begin(f->st, "b", 1, &t), 0);
	put_one(&u);
	assert_int_equal(u.rc, 0);
	assert_true(u.waited < 0.100);
	store_txn_abort(t);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_shared_counter),
		TEST(test_separate_records),
		TEST(test_txn_counter),
		TEST(test_group_commit),
		TEST(test_concurrent_append),
		TEST(test_gather_joins_sync),
		TEST(test_gather_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

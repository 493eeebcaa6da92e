/* test_group_sync.c - two group syncs in flight at once (store.c,
 * store_wait_durable).
 *
 * A durable commit appended while a sync is in flight, with no other
 * change being written, starts its own sync at once instead of waiting
 * for that one to end.  What must hold:
 * - the two syncs run on distinct open file descriptions, so that a
 *   writeback error reaches both (the kernel reports it once per
 *   description);
 * - the later commit is not promised before the earlier sync has ended,
 *   and not at all if that sync failed, even when its own succeeded;
 * - with a change being written, or with max_syncs 1, syncs run one at
 *   a time as before.
 * The syncs go through a store_io that holds each for a scripted time
 * and result, and watches how many are in flight. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

#define NCALL 8

/* The syncs the test scripts: call i sleeps ms[i], then fails with EIO
 * if fail[i], else really syncs.  Counted only while armed. */
struct script {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int armed, n, in, max_in;
	int fd_in[2];      /* fds of the syncs in flight */
	int distinct;      /* with two in flight: 1 distinct descriptions,
			    * 0 one shared, -1 never two */
	int ms[NCALL], fail[NCALL];
	long long end_ns[NCALL];
};

struct fx {
	char tmp[64], dir[96], err[256];
	struct store_opts o;
	struct store *st;
	struct store_io io; /* outlives the store */
	struct script sc;
};

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Do fds a and b share one open file description?  The store never uses
 * file positions (pwrite only), so moving one and looking at the other
 * tells, and harms nothing. */
static int shared_description(int a, int b)
{
	off_t pa = lseek(a, 0, SEEK_CUR), pb = lseek(b, 0, SEEK_CUR);
	int shared;

	if (pa < 0 || pb < 0)
		return -1;
	if (lseek(a, pa + pb + 4096, SEEK_SET) < 0)
		return -1;
	shared = lseek(b, 0, SEEK_CUR) != pb;
	lseek(a, pa, SEEK_SET);
	return shared;
}

static int sc_fdatasync(void *ctx, int fd)
{
	struct script *sc = ctx;
	int i = -1, slot = 0, rc;

	pthread_mutex_lock(&sc->mu);
	if (sc->armed && sc->n < NCALL) {
		i = sc->n++;
		slot = sc->in && sc->fd_in[0] >= 0 ? 1 : 0;
		sc->fd_in[slot] = fd;
		if (++sc->in > sc->max_in)
			sc->max_in = sc->in;
		if (sc->in == 2)
			sc->distinct = shared_description(sc->fd_in[0],
							  sc->fd_in[1]) == 0;
		pthread_cond_broadcast(&sc->cv);
	}
	pthread_mutex_unlock(&sc->mu);
	if (i < 0)
		return fdatasync(fd);
	if (sc->ms[i]) {
		struct timespec d = { sc->ms[i] / 1000,
				      (long)(sc->ms[i] % 1000) * 1000000 };
		nanosleep(&d, NULL);
	}
	if (sc->fail[i]) {
		errno = EIO;
		rc = -1;
	} else {
		rc = fdatasync(fd);
	}
	pthread_mutex_lock(&sc->mu);
	sc->in--;
	sc->fd_in[slot] = -1;
	sc->end_ns[i] = mono_ns();
	pthread_mutex_unlock(&sc->mu);
	return rc;
}

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->tmp, "/tmp/recfs-test-gsync-XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->tmp);
	f->o.errbuf = f->err;
	f->o.errlen = sizeof(f->err);
	f->o.sync_always = 1;
	f->o.compact_ratio = -1; /* no compaction's syncs among the counted */
	f->io = (struct store_io){ .fdatasync = sc_fdatasync, .ctx = &f->sc };
	f->o.io = &f->io;
	pthread_mutex_init(&f->sc.mu, NULL);
	pthread_cond_init(&f->sc.cv, NULL);
	f->sc.fd_in[0] = f->sc.fd_in[1] = -1;
	f->sc.distinct = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->st)
		store_close(f->st);
	nftw(f->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	pthread_mutex_destroy(&f->sc.mu);
	pthread_cond_destroy(&f->sc.cv);
	free(f);
	return 0;
}

static void fx_open(struct fx *f)
{
	int rc = store_open(f->dir, &f->o, &f->st);

	if (rc)
		fail_msg("store_open = %d (%s)", rc, f->err);
}

/* Open the store and commit a and b once, so that the log's space is
 * allocated (with sync_always, zeros written and synced ahead) and only
 * the commits' own syncs come after. */
static void fx_open_warm(struct fx *f)
{
	uint64_t v;

	fx_open(f);
	assert_int_equal(store_put(f->st, "a", STORE_ANY, "0", 1, NULL, &v), 0);
	assert_int_equal(store_put(f->st, "b", STORE_ANY, "0", 1, NULL, &v), 0);
}

/* Script the next syncs (ms and fail per call) and count from now. */
static void arm(struct fx *f, const int *ms, const int *fail, int n)
{
	pthread_mutex_lock(&f->sc.mu);
	for (int i = 0; i < n; i++) {
		f->sc.ms[i] = ms[i];
		f->sc.fail[i] = fail ? fail[i] : 0;
	}
	f->sc.n = f->sc.max_in = 0;
	f->sc.distinct = -1;
	f->sc.armed = 1;
	pthread_mutex_unlock(&f->sc.mu);
}

/* Wait until @n armed syncs have started. */
static void wait_started(struct fx *f, int n)
{
	pthread_mutex_lock(&f->sc.mu);
	while (f->sc.n < n)
		pthread_cond_wait(&f->sc.cv, &f->sc.mu);
	pthread_mutex_unlock(&f->sc.mu);
}

struct putter {
	struct store *st;
	const char *key, *val;
	int rc;
	long long done_ns;
	pthread_t tid;
};

static void *put_one(void *p)
{
	struct putter *u = p;
	uint64_t v;

	u->rc = store_put(u->st, u->key, STORE_ANY, u->val, strlen(u->val),
			  NULL, &v);
	u->done_ns = mono_ns();
	return NULL;
}

static void start_put(struct putter *u, struct store *st, const char *key,
		      const char *val)
{
	*u = (struct putter){ .st = st, .key = key, .val = val };
	assert_int_equal(pthread_create(&u->tid, NULL, put_one, u), 0);
}

/* Commit a=@va, and once its sync has started, b=@vb; wait for both. */
static void put_during_sync(struct fx *f, const char *va, const char *vb,
			    struct putter *a, struct putter *b)
{
	start_put(a, f->st, "a", va);
	wait_started(f, 1);
	start_put(b, f->st, "b", vb);
	assert_int_equal(pthread_join(a->tid, NULL), 0);
	assert_int_equal(pthread_join(b->tid, NULL), 0);
}

static void assert_content(struct store *st, const char *key,
			   const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	struct store_stat s;

	assert_int_equal(store_get(st, key, &buf, &len, &s), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	free(buf);
}

/* Commit a (its sync held 600 ms), then b while a's sync is in flight:
 * b's sync (100 ms) starts at once, on a description of its own, ends
 * first, and still b is promised only after a's sync has ended. */
static void test_second_sync_overlaps(void **state)
{
	struct fx *f = *state;
	const int ms[] = { 600, 100 };
	struct putter a, b;

	fx_open_warm(f);
	arm(f, ms, NULL, 2);
	put_during_sync(f, "1", "2", &a, &b);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(f->sc.n, 2);        /* one sync each */
	assert_int_equal(f->sc.max_in, 2);   /* both in flight at once */
	assert_int_equal(f->sc.distinct, 1); /* not one description */
	assert_true(f->sc.end_ns[1] < f->sc.end_ns[0]);
	assert_true(b.done_ns >= f->sc.end_ns[0]);

	assert_int_equal(store_close(f->st), 0);
	f->st = NULL;
	f->sc.armed = 0;
	fx_open(f);
	assert_content(f->st, "a", "1");
	assert_content(f->st, "b", "2");
}

/* a's sync fails after b's succeeded: b is not promised either (its
 * sync does not stand for a's), and the store refuses changes. */
static void test_earlier_failure_fails_both(void **state)
{
	struct fx *f = *state;
	const int ms[] = { 600, 100 }, fail[] = { 1, 0 };
	struct putter a, b;
	uint64_t v;

	fx_open_warm(f);
	arm(f, ms, fail, 2);
	put_during_sync(f, "1", "2", &a, &b);
	assert_int_equal(f->sc.max_in, 2);
	assert_true(f->sc.end_ns[1] < f->sc.end_ns[0]);
	assert_int_equal(a.rc, -EIO);
	assert_int_equal(b.rc, -EIO);
	assert_int_not_equal(store_put(f->st, "c", STORE_ANY, "3", 1, NULL,
				       &v), 0);
}

/* The cases that keep one sync at a time: a change being written (it
 * would join the next sync by waiting), and max_syncs 1. */
static void test_one_at_a_time(void **state)
{
	struct fx *f = *state;
	const int ms[] = { 300, 0, 0, 0 };
	struct store_txn *t;
	struct putter a, b;

	fx_open_warm(f);
	assert_int_equal(store_txn_begin(f->st, "c", 1, &t), 0);
	arm(f, ms, NULL, 4);
	put_during_sync(f, "1", "2", &a, &b);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(f->sc.max_in, 1);
	store_txn_abort(t);

	assert_int_equal(store_close(f->st), 0);
	f->st = NULL;
	f->sc.armed = 0;
	f->o.max_syncs = 1;
	fx_open_warm(f);
	arm(f, ms, NULL, 4);
	put_during_sync(f, "3", "4", &a, &b);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(f->sc.max_in, 1);
	assert_int_equal(f->sc.n, 2);
}

/* Sealed segments were synced when they were sealed (or by the sync
 * after their roll): a group sync after a reopen, or after a roll, syncs
 * the active segment alone.  (It once synced every sealed segment too:
 * a device flush each, on every durable commit.) */
static void test_sealed_segments_not_resynced(void **state)
{
	struct fx *f = *state;
	const int ms[] = { 0, 0, 0, 0 };
	uint64_t v;

	fx_open_warm(f);
	for (int i = 0; i < 2; i++) { /* two more segments: 3 in all */
		assert_int_equal(store_close(f->st), 0);
		f->st = NULL;
		fx_open_warm(f);
	}
	arm(f, ms, NULL, 4);
	assert_int_equal(store_put(f->st, "a", STORE_ANY, "5", 1, NULL, &v), 0);
	assert_int_equal(f->sc.n, 1);

	/* The same without sync_always: a durable commit after a roll
	 * syncs the sealed segment and the directory once, then never. */
	assert_int_equal(store_close(f->st), 0);
	f->st = NULL;
	f->o.sync_always = 0;
	f->sc.armed = 0;
	fx_open_warm(f);
	assert_int_equal(store_put(f->st, "a", STORE_ANY, "6", 1, NULL, &v), 0);
	assert_int_equal(store_sync(f->st), 0);
	arm(f, ms, NULL, 4);
	assert_int_equal(store_put(f->st, "b", STORE_ANY, "7", 1, NULL, &v), 0);
	assert_int_equal(store_sync(f->st), 0);
	assert_int_equal(f->sc.n, 1);
}

/* Open /dev/null until no descriptor is left (with the soft limit
 * lowered to @lim first, so that it is quick).  @return how many. */
static int take_all_fds(int *fds, int max, rlim_t lim, struct rlimit *old)
{
	struct rlimit r;
	int n = 0;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, old), 0);
	r = *old;
	if (r.rlim_cur > lim)
		r.rlim_cur = lim;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &r), 0);
	while (n < max &&
	       (fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		n++;
	assert_true(n < max && errno == EMFILE);
	return n;
}

static void give_back_fds(int *fds, int n, const struct rlimit *old)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, old), 0);
}

/* The daemon out of descriptors is an error, not damage (RELIABILITY.md):
 * a group sync with none to spare still syncs the log, and the rolled
 * segment a sync without sync_always owes, and the store goes on taking
 * changes.  (The leader's dup() of the segment's descriptor failed with
 * EMFILE and was taken for a failed sync: the commit got -EIO and the
 * store refused every change after it with -EROFS until reopened.) */
static void test_sync_without_spare_descriptor(void **state)
{
	struct fx *f = *state;
	struct rlimit old;
	int fds[512], n;
	uint64_t v;

	fx_open_warm(f);
	n = take_all_fds(fds, 512, 256, &old);
	assert_int_equal(store_put(f->st, "a", STORE_ANY, "1", 1, NULL, &v), 0);
	give_back_fds(fds, n, &old);
	assert_int_equal(store_put(f->st, "b", STORE_ANY, "1", 1, NULL, &v), 0);

	/* Without sync_always: a reopen rolls the log, and the first sync
	 * after it syncs the sealed segment too. */
	assert_int_equal(store_close(f->st), 0);
	f->st = NULL;
	f->o.sync_always = 0;
	fx_open(f);
	assert_int_equal(store_put(f->st, "a", STORE_ANY, "2", 1, NULL, &v), 0);
	n = take_all_fds(fds, 512, 256, &old);
	assert_int_equal(store_sync(f->st), 0);
	give_back_fds(fds, n, &old);
	assert_int_equal(store_put(f->st, "b", STORE_ANY, "2", 1, NULL, &v), 0);
	assert_int_equal(store_sync(f->st), 0);
	assert_int_equal(store_close(f->st), 0);
	f->st = NULL;
	fx_open(f);
	assert_content(f->st, "a", "2");
	assert_content(f->st, "b", "2");
}

/* The same for the log's roll: a commit that finds the active segment
 * past segment_size with no descriptor left for a new one goes into the
 * old one (segment_size is a target), as on a full disk.  (It failed
 * with -EMFILE, a staged change's commit too, after all its writes had
 * succeeded.) */
static void test_roll_without_spare_descriptor(void **state)
{
	struct fx *f = *state;
	struct store_stats ss;
	struct store_txn *t;
	struct rlimit old;
	char val[1000], key[16];
	int fds[512], n;
	uint64_t v, segs;

	memset(val, 'r', sizeof(val));
	f->o.segment_size = 16 << 10;
	fx_open_warm(f);
	assert_int_equal(store_stats(f->st, &ss), 0);
	segs = ss.segments;
	for (int i = 0; i < 14; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(store_put(f->st, key, STORE_ANY, val,
					   sizeof(val), NULL, &v), 0);
	}
	assert_int_equal(store_stats(f->st, &ss), 0);
	assert_true(ss.segments == segs); /* the next commit rolls */
	assert_int_equal(store_txn_begin(f->st, "t", 1, &t), 0);
	assert_int_equal(store_txn_write(t, val, sizeof(val), 0), sizeof(val));
	n = take_all_fds(fds, 512, 256, &old);
	assert_int_equal(store_txn_commit(t, STORE_ABSENT, NULL, 0, &v), 0);
	assert_int_equal(store_put(f->st, "k0", STORE_ANY, "x", 1, NULL, &v),
			 0);
	give_back_fds(fds, n, &old);
	assert_int_equal(store_put(f->st, "k1", STORE_ANY, "y", 1, NULL, &v),
			 0);
	assert_int_equal(store_stats(f->st, &ss), 0);
	assert_true(ss.segments == segs + 1); /* rolled once it could */
	assert_int_equal(store_close(f->st), 0);
	f->st = NULL;
	fx_open(f);
	assert_content(f->st, "k0", "x");
	assert_content(f->st, "k1", "y");
	{
		char *buf = NULL;
		size_t len = 0;

		assert_int_equal(store_get(f->st, "t", &buf, &len, NULL), 0);
		assert_true(len == sizeof(val) && memcmp(buf, val, len) == 0);
		free(buf);
	}
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_second_sync_overlaps),
		TEST(test_earlier_failure_fails_both),
		TEST(test_one_at_a_time),
		TEST(test_sealed_segments_not_resynced),
		TEST(test_sync_without_spare_descriptor),
		TEST(test_roll_without_spare_descriptor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

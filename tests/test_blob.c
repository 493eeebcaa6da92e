/* test_blob.c - a blob is named and synced before its commit takes the
 * commit lock (store/blob.c).
 *
 * What must hold:
 * - while a blob's directory sync is in flight, other commits of the
 *   store go on (small ones, with and without sync_always);
 * - compaction meanwhile keeps the linked blob, which no version names
 *   yet, and the commit then reads back and survives a reopen;
 * - a blob commit found stale, or failed, leaves no file in blobs/;
 * - blob commits that link while a sync of blobs/ is in flight share
 *   the next one;
 * - a failed sync of blobs/ fails the store, and a blob linked beside
 *   it is not trusted;
 * - compaction removes a blob its output names only once the commit
 *   that dropped its last version is durable.
 * The store's syncs of blobs/ go through a store_io that holds them
 * until the test releases them. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
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
#include "store_testlib.h"

#define BIG 4096 /* above the fixture's inline_max: a blob */
#define WAIT_S 10 /* longest a step may take before the test fails */

/* Holds syncs of the blobs directory while armed, until released; the
 * first released one fails with EIO when fail_first is set. */
struct hold {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ino_t blob_ino;
	int armed, held, started, released, fail_first;
	/* midway_pwrite: at a compaction's first write of its output,
	 * commit @mid_data to "k" in @mid_st, and note the active
	 * segment's name and size before it; seg_synced: a sync of that
	 * segment began after the commit (the power-cut model). */
	struct store *mid_st;
	const char *mid_dir, *mid_data;
	char seg[64];
	ino_t seg_ino;
	off_t seg_cut;
	int mid_done, seg_synced;
};

struct fx {
	char tmp[64], dir[96], blobs[112], err[256];
	struct store_opts o;
	struct store *st;
	struct store_io io; /* outlives the store */
	struct hold h;
};

static ssize_t midway_pwrite(void *ctx, int fd, const void *buf, size_t n,
			     off_t off)
{
	struct hold *h = ctx;
	char p[600];
	struct stat sb;
	uint64_t v;

	if (h->mid_st && !h->mid_done && tl_fd_is_compact_output(fd)) {
		h->mid_done = 1;
		snprintf(h->seg, sizeof(h->seg), "%s",
			 tl_last_segment(h->mid_dir));
		snprintf(p, sizeof(p), "%s/%s", h->mid_dir, h->seg);
		assert_int_equal(stat(p, &sb), 0);
		h->seg_ino = sb.st_ino;
		h->seg_cut = sb.st_size;
		assert_int_equal(store_put(h->mid_st, "k", STORE_ANY,
					   h->mid_data, strlen(h->mid_data),
					   NULL, &v), 0);
		__atomic_store_n(&h->mid_done, 2, __ATOMIC_SEQ_CST);
	}
	return pwrite(fd, buf, n, off);
}

static int hold_fdatasync(void *ctx, int fd)
{
	struct hold *h = ctx;
	struct stat sb;
	int fail = 0;

	if (__atomic_load_n(&h->mid_done, __ATOMIC_SEQ_CST) == 2 &&
	    fstat(fd, &sb) == 0 && sb.st_ino == h->seg_ino)
		__atomic_store_n(&h->seg_synced, 1, __ATOMIC_SEQ_CST);
	if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		pthread_mutex_lock(&h->mu);
		if (h->armed && sb.st_ino == h->blob_ino) {
			h->held++;
			h->started++;
			pthread_cond_broadcast(&h->cv);
			while (!h->released)
				pthread_cond_wait(&h->cv, &h->mu);
			h->held--;
			fail = h->fail_first;
			h->fail_first = 0;
		}
		pthread_mutex_unlock(&h->mu);
	}
	if (fail) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->tmp, "/tmp/recfs-test-blob-XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->tmp);
	snprintf(f->blobs, sizeof(f->blobs), "%s/blobs", f->dir);
	f->o.errbuf = f->err;
	f->o.errlen = sizeof(f->err);
	f->o.inline_max = 256;
	f->o.compact_ratio = -1; /* compaction only when a test asks */
	f->io = (struct store_io){ .pwrite = midway_pwrite,
				   .fdatasync = hold_fdatasync, .ctx = &f->h };
	f->o.io = &f->io;
	pthread_mutex_init(&f->h.mu, NULL);
	pthread_cond_init(&f->h.cv, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->st)
		store_close(f->st);
	tl_rm_tree(f->tmp);
	pthread_mutex_destroy(&f->h.mu);
	pthread_cond_destroy(&f->h.cv);
	free(f);
	return 0;
}

static void fx_open(struct fx *f)
{
	struct stat sb;
	int rc = store_open(f->dir, &f->o, &f->st);

	if (rc)
		fail_msg("store_open = %d (%s)", rc, f->err);
	assert_int_equal(stat(f->blobs, &sb), 0);
	f->h.blob_ino = sb.st_ino;
}

static int count_blobs(struct fx *f)
{
	DIR *d = opendir(f->blobs);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strlen(de->d_name) == 16;
	closedir(d);
	return n;
}

static void arm(struct fx *f, int fail_first)
{
	pthread_mutex_lock(&f->h.mu);
	f->h.armed = 1;
	f->h.released = 0;
	f->h.started = 0;
	f->h.fail_first = fail_first;
	pthread_mutex_unlock(&f->h.mu);
}

static void release(struct fx *f)
{
	pthread_mutex_lock(&f->h.mu);
	f->h.released = 1;
	pthread_cond_broadcast(&f->h.cv);
	pthread_mutex_unlock(&f->h.mu);
}

static struct timespec deadline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_S;
	return ts;
}

/* Wait until @n held syncs have started. */
static void wait_held(struct fx *f, int n)
{
	struct timespec ts = deadline();
	int rc = 0;

	pthread_mutex_lock(&f->h.mu);
	while (f->h.started < n && rc == 0)
		rc = pthread_cond_timedwait(&f->h.cv, &f->h.mu, &ts);
	pthread_mutex_unlock(&f->h.mu);
	if (rc)
		fail_msg("no sync of blobs/ started within %d s", WAIT_S);
}

/* A store call on its own thread, so that a test can see whether it
 * ends while a sync is held. */
struct call {
	struct store *st;
	const char *key;
	uint64_t expect;
	const char *data;
	size_t len;
	int compact; /* store_compact instead of a put */
	int rc, done;
	uint64_t v;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t tid;
};

static void *call_run(void *p)
{
	struct call *c = p;
	int rc = c->compact ? store_compact(c->st)
			    : store_put(c->st, c->key, c->expect, c->data,
					c->len, NULL, &c->v);

	pthread_mutex_lock(&c->mu);
	c->rc = rc;
	c->done = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void call_start(struct call *c, struct store *st, const char *key,
		       uint64_t expect, const char *data, size_t len)
{
	c->st = st;
	c->key = key;
	c->expect = expect;
	c->data = data;
	c->len = len;
	c->done = 0;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	assert_int_equal(pthread_create(&c->tid, NULL, call_run, c), 0);
}

/* Has the call ended within WAIT_S?  It is joined only if so. */
static int call_ended(struct call *c)
{
	struct timespec ts = deadline();
	int rc = 0, done;

	pthread_mutex_lock(&c->mu);
	while (!c->done && rc == 0)
		rc = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	done = c->done;
	pthread_mutex_unlock(&c->mu);
	return done;
}

static void call_join(struct call *c)
{
	pthread_join(c->tid, NULL);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
}

static void fill(char *buf, size_t n, char c)
{
	memset(buf, c, n);
}

static void expect_content(struct store *st, const char *key,
			   const char *want, size_t len)
{
	char *got = NULL;
	size_t glen = 0;

	assert_int_equal(store_get(st, key, &got, &glen, NULL), 0);
	assert_int_equal(glen, len);
	assert_memory_equal(got, want, len);
	free(got);
}

/* Other commits go on while a blob's name is being synced, in both sync
 * modes: the sync is made before the commit lock is taken. */
static void test_blob_sync_holds_no_commit(void **state)
{
	struct fx *f = *state;
	char big[BIG];

	fill(big, sizeof(big), 'b');
	for (int mode = 0; mode < 2; mode++) {
		struct call blob = { 0 }, small = { 0 };
		char key[16];

		f->o.sync_always = mode;
		fx_open(f);
		snprintf(key, sizeof(key), "big%d", mode);
		arm(f, 0);
		call_start(&blob, f->st, key, STORE_ANY, big, sizeof(big));
		wait_held(f, 1);
		call_start(&small, f->st, "small", STORE_ANY, "x", 1);
		if (!call_ended(&small)) {
			release(f);
			call_join(&small);
			call_join(&blob);
			fail_msg("sync_always=%d: a small commit waited for "
				 "a blob's directory sync", mode);
		}
		assert_int_equal(small.rc, 0);
		pthread_mutex_lock(&f->h.mu);
		assert_int_equal(f->h.held, 1); /* still held: truly beside */
		pthread_mutex_unlock(&f->h.mu);
		release(f);
		assert_true(call_ended(&blob));
		call_join(&small);
		call_join(&blob);
		assert_int_equal(blob.rc, 0);
		expect_content(f->st, key, big, sizeof(big));
		store_close(f->st);
		f->st = NULL;
	}
}

/* Compaction run while a blob is linked but not yet committed keeps it:
 * the commit reads back, and the store reopens. */
static void test_compaction_keeps_blob_in_flight(void **state)
{
	struct fx *f = *state;
	struct call blob = { 0 }, comp = { 0 };
	char big[BIG], old[BIG];
	uint64_t v;

	fill(big, sizeof(big), 'n');
	fill(old, sizeof(old), 'o');
	fx_open(f);
	/* Dead versions and a dead blob, so that compaction has work. */
	for (int i = 0; i < 20; i++)
		assert_int_equal(store_put(f->st, "rec", STORE_ANY, "abc", 3,
					   NULL, &v), 0);
	assert_int_equal(store_put(f->st, "gone", STORE_ANY, old, sizeof(old),
				   NULL, &v), 0);
	assert_int_equal(store_delete(f->st, "gone", STORE_ANY, &v), 0);
	arm(f, 0);
	call_start(&blob, f->st, "big", STORE_ANY, big, sizeof(big));
	wait_held(f, 1);
	comp.compact = 1;
	call_start(&comp, f->st, NULL, 0, NULL, 0);
	if (!call_ended(&comp)) {
		release(f);
		call_join(&comp);
		call_join(&blob);
		fail_msg("compaction waited for a blob's directory sync");
	}
	call_join(&comp);
	assert_int_equal(comp.rc, 0);
	release(f);
	assert_true(call_ended(&blob));
	call_join(&blob);
	assert_int_equal(blob.rc, 0);
	expect_content(f->st, "big", big, sizeof(big));
	store_close(f->st);
	f->st = NULL;
	fx_open(f);
	expect_content(f->st, "big", big, sizeof(big));
}

/* A stale blob commit leaves no blob: refused before linking when it is
 * stale already, and its blob removed when it became stale during its
 * directory sync. */
static void test_stale_blob_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct call blob = { 0 };
	char a[BIG], b[BIG];
	uint64_t v1, v;

	fill(a, sizeof(a), 'a');
	fill(b, sizeof(b), 'b');
	fx_open(f);
	assert_int_equal(store_put(f->st, "rec", STORE_ANY, a, sizeof(a), NULL,
				   &v1), 0);
	assert_int_equal(count_blobs(f), 1);
	assert_int_equal(store_put(f->st, "rec", v1 + 1, b, sizeof(b), NULL,
				   &v), -EAGAIN);
	assert_int_equal(count_blobs(f), 1);

	arm(f, 0);
	call_start(&blob, f->st, "rec", v1, b, sizeof(b));
	wait_held(f, 1);
	assert_int_equal(count_blobs(f), 2); /* linked, being synced */
	assert_int_equal(store_put(f->st, "rec", v1, "x", 1, NULL, &v), 0);
	release(f);
	assert_true(call_ended(&blob));
	call_join(&blob);
	assert_int_equal(blob.rc, -EAGAIN);
	assert_int_equal(count_blobs(f), 1);
	expect_content(f->st, "rec", "x", 1);
}

/* Blob commits that link while a sync of blobs/ is in flight share the
 * next one: three blobs, two syncs. */
static void test_blob_syncs_are_shared(void **state)
{
	struct fx *f = *state;
	struct call c[3] = { { 0 } };
	const char *keys[3] = { "g0", "g1", "g2" };
	char big[BIG];
	int i, started;

	fill(big, sizeof(big), 'g');
	fx_open(f);
	arm(f, 0);
	call_start(&c[0], f->st, keys[0], STORE_ANY, big, sizeof(big));
	wait_held(f, 1);
	call_start(&c[1], f->st, keys[1], STORE_ANY, big, sizeof(big));
	call_start(&c[2], f->st, keys[2], STORE_ANY, big, sizeof(big));
	for (i = 0; i < WAIT_S * 100 && count_blobs(f) < 3; i++)
		usleep(10000);
	usleep(100000); /* each counts its link just after making it */
	release(f);
	for (i = 0; i < 3; i++) {
		assert_true(call_ended(&c[i]));
		call_join(&c[i]);
		assert_int_equal(c[i].rc, 0);
		expect_content(f->st, keys[i], big, sizeof(big));
	}
	pthread_mutex_lock(&f->h.mu);
	started = f->h.started;
	pthread_mutex_unlock(&f->h.mu);
	assert_int_equal(started, 2);
}

/* A failed sync of blobs/ fails the store; a blob linked beside it,
 * whose own sync comes after, is refused too, and neither stays. */
static void test_failed_blob_sync_fails_store(void **state)
{
	struct fx *f = *state;
	struct call b1 = { 0 }, b2 = { 0 };
	char big[BIG];
	uint64_t v;
	int i;

	fill(big, sizeof(big), 'f');
	fx_open(f);
	assert_int_equal(store_put(f->st, "keep", STORE_ANY, "k", 1, NULL, &v),
			 0);
	arm(f, 1);
	call_start(&b1, f->st, "one", STORE_ANY, big, sizeof(big));
	wait_held(f, 1);
	call_start(&b2, f->st, "two", STORE_ANY, big, sizeof(big));
	for (i = 0; i < WAIT_S * 100 && count_blobs(f) < 2; i++)
		usleep(10000);
	release(f);
	assert_true(call_ended(&b1));
	assert_true(call_ended(&b2));
	call_join(&b1);
	call_join(&b2);
	if (i == WAIT_S * 100)
		fail_msg("the second blob was never linked");
	assert_int_equal(b1.rc, -EIO);
	assert_true(b2.rc == -EROFS || b2.rc == -EIO);
	assert_int_equal(count_blobs(f), 0);
	assert_int_equal(store_put(f->st, "after", STORE_ANY, "y", 1, NULL,
				   &v), -EROFS);
	store_close(f->st);
	f->st = NULL;
	f->h.armed = 0;
	fx_open(f);
	expect_content(f->st, "keep", "k", 1);
	assert_int_equal(store_get(f->st, "one", &(char *){ NULL },
				   &(size_t){ 0 }, NULL), -ENOENT);
}

/* keep_versions 1: "k" holds @big (BIG bytes, a blob), synced; then a
 * compaction, at whose output's first write a small "new" is committed
 * to "k", which pushes the blob's version out.  @return that version. */
static uint64_t compact_past_synced_blob(struct fx *f, char *big)
{
	uint64_t v;

	fill(big, BIG, 'k');
	f->o.keep_versions = 1;
	fx_open(f);
	assert_int_equal(store_put(f->st, "k", STORE_ANY, big, BIG, NULL, &v),
			 0);
	assert_int_equal(store_sync(f->st), 0);
	assert_int_equal(count_blobs(f), 1);
	f->h.mid_dir = f->dir;
	f->h.mid_data = "new";
	f->h.mid_st = f->st;
	assert_int_equal(store_compact(f->st), 0);
	f->h.mid_st = NULL;
	assert_int_equal(f->h.mid_done, 2);
	return v;
}

/* A commit made while compaction writes its output drops the last
 * version that names a blob (keep_versions 1); the output, synced,
 * still names it.  Compaction removes the blob only once that commit is
 * durable: a power cut (the active segment cut back to what was synced
 * after the commit) leaves a store that opens.  Until 2026-12-06 the
 * blob was removed at once, and the store refused to open (blob
 * missing) until recctl fsck --repair. */
static void test_compaction_blob_outlives_unsynced(void **state)
{
	struct fx *f = *state;
	struct store_opts o;
	struct store *st;
	char big[BIG], cut[160], seg[300], *got = NULL;
	size_t glen = 0;
	int rc;

	compact_past_synced_blob(f, big);

	/* The power cut, on a copy taken while the store is open. */
	snprintf(cut, sizeof(cut), "%s/cut", f->tmp);
	tl_copy_tree(f->dir, cut);
	if (!f->h.seg_synced) {
		snprintf(seg, sizeof(seg), "%s/%s", cut, f->h.seg);
		assert_int_equal(truncate(seg, f->h.seg_cut), 0);
	}
	o = f->o;
	o.io = NULL;
	rc = store_open(cut, &o, &st);
	if (rc)
		fail_msg("open after the power cut = %d (%s)", rc, f->err);
	assert_int_equal(store_get(st, "k", &got, &glen, NULL), 0);
	assert_true((glen == 3 && !memcmp(got, "new", 3)) ||
		    (glen == sizeof(big) && !memcmp(got, big, glen)));
	free(got);
	store_close(st);
}

/* The same commit, mid-compaction, pushes out (keep_versions 1) the
 * version whose blob the output, taken before it, still names.  That
 * blob stays until a later compaction: reopened with keep_versions 8,
 * the store keeps that version and reads it, and fsck (which keeps 8)
 * finds nothing missing; the next compaction under keep_versions 1
 * removes it.  Until 2026-12-06 it was removed at once, and that reopen
 * was refused (blob missing). */
static void test_compaction_keeps_blob_output_names(void **state)
{
	struct fx *f = *state;
	struct store_snap *sn;
	struct store_opts o;
	struct store *st;
	char big[BIG], got[BIG];
	FILE *out;
	uint64_t v;
	int rc;

	v = compact_past_synced_blob(f, big);
	assert_int_equal(count_blobs(f), 1);
	assert_int_equal(store_close(f->st), 0);
	f->st = NULL;

	o = f->o;
	o.io = NULL;
	o.keep_versions = 8;
	rc = store_open(f->dir, &o, &st);
	if (rc)
		fail_msg("reopen with keep_versions 8 = %d (%s)", rc, f->err);
	assert_int_equal(store_snap_open(st, "k", v, &sn), 0);
	assert_int_equal(store_snap_read(sn, got, sizeof(got), 0),
			 (ssize_t)sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	store_snap_close(sn);
	assert_int_equal(store_close(st), 0);
	out = fopen("/dev/null", "w");
	assert_non_null(out);
	assert_int_equal(store_fsck(f->dir, 0, out), 0);
	fclose(out);

	o.keep_versions = 1;
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_compact(st), 0);
	assert_int_equal(count_blobs(f), 0);
	assert_int_equal(store_close(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blob_sync_holds_no_commit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_compaction_keeps_blob_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_blob_leaves_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_syncs_are_shared,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_failed_blob_sync_fails_store, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_compaction_blob_outlives_unsynced, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_compaction_keeps_blob_output_names, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

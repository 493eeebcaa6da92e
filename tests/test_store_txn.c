/* test_store_txn.c - changes staged in a transaction (store_txn_*):
 * one version per commit, aborts, a change from the current content,
 * changes that grow into blobs; truncation and appends. */
#include "store_fixture.h"

/* ---- truncate, append ---------------------------------------------- */

static void test_truncate(void **state)
{
	struct fx *f = *state;
	uint64_t v = 0;

	fx_open(f);
	put_str(f->st, "k", STORE_ABSENT, "hello world");
	assert_int_equal(store_truncate(f->st, "k", 1, 5, &v), 0);
	assert_true(v == 2);
	assert_int_equal(rec_str(f->st, "k", "hello", 2), 0);
	assert_int_equal(store_truncate(f->st, "k", 2, 10, &v), 0);
	assert_true(v == 3);
	assert_int_equal(rec_is(f->st, "k", "hello\0\0\0\0\0", 10, 3), 0);
	assert_int_equal(store_truncate(f->st, "k", 2, 1, &v), -EAGAIN);
	assert_int_equal(store_truncate(f->st, "missing", STORE_ANY, 1, &v),
			 -ENOENT);
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_int_equal(store_truncate(f->st, "d", STORE_ANY, 0, &v), -EISDIR);
	/* Same size is still a change: a new version. */
	assert_int_equal(store_truncate(f->st, "k", 3, 10, &v), 0);
	assert_true(v == 4);
	assert_int_equal(store_truncate(f->st, "k", 4, 0, &v), 0);
	assert_int_equal(rec_str(f->st, "k", "", 5), 0);
	fx_reopen(f);
	assert_int_equal(rec_str(f->st, "k", "", 5), 0);
}

static void test_append(void **state)
{
	struct fx *f = *state;
	enum { PIECE = 5000, N = 20 };
	uint8_t *want = malloc(PIECE * N + 1);
	uint64_t v = 0;

	assert_non_null(want);
	/* A small inline_max so the appends cross into a blob. */
	f->o.inline_max = 16384;
	fx_open(f);
	put_str(f->st, "log", STORE_ABSENT, "a");
	assert_int_equal(store_append(f->st, "log", "bc", 2, &v), 0);
	assert_true(v == 2);
	assert_int_equal(rec_str(f->st, "log", "abc", 2), 0);
	assert_int_equal(store_append(f->st, "missing", "x", 1, &v), -ENOENT);
	assert_int_equal(gone(f->st, "missing", 0), 0);

	want[0] = 'a';
	put_str(f->st, "big", STORE_ABSENT, "a");
	for (int i = 0; i < N; i++) {
		fill(want + 1 + i * PIECE, PIECE, (uint64_t)i);
		assert_int_equal(store_append(f->st, "big", want + 1 + i * PIECE,
					      PIECE, &v), 0);
		assert_true(v == (uint64_t)i + 2);
	}
	assert_int_equal(rec_is(f->st, "big", want, PIECE * N + 1, N + 1), 0);
	fx_reopen(f);
	assert_int_equal(rec_is(f->st, "big", want, PIECE * N + 1, N + 1), 0);
	assert_int_equal(rec_str(f->st, "log", "abc", 2), 0);
	free(want);
}

/* The staging halves (the mount copies a large record with its lock
 * released): a copy is committed only against the version it was made
 * from, so a change made meanwhile is never lost under it. */
static void test_append_truncate_stage(void **state)
{
	struct fx *f = *state;
	struct store_txn *t = NULL;
	uint64_t base = 0, v = 0;

	f->o.inline_max = 16;
	fx_open(f);
	put_str(f->st, "k", STORE_ABSENT, "0123456789abcdefghij");

	assert_int_equal(store_append_stage(f->st, "k", "+", 1, &t, &base), 0);
	assert_true(base == 1);
	put_str(f->st, "k", 1, "meanwhile");
	assert_int_equal(store_txn_commit(t, base, NULL, 0, &v), -EAGAIN);
	assert_int_equal(rec_str(f->st, "k", "meanwhile", 2), 0);

	assert_int_equal(store_append_stage(f->st, "k", "+", 1, &t, &base), 0);
	assert_true(base == 2);
	assert_int_equal(store_txn_commit(t, base, NULL, 0, &v), 0);
	assert_true(v == 3);
	assert_int_equal(rec_str(f->st, "k", "meanwhile+", 3), 0);

	assert_int_equal(store_truncate_stage(f->st, "k", 4, &t, &base), 0);
	assert_true(base == 3);
	assert_int_equal(store_append(f->st, "k", "!", 1, &v), 0);
	assert_int_equal(store_txn_commit(t, base, NULL, 0, &v), -EAGAIN);
	assert_int_equal(rec_str(f->st, "k", "meanwhile+!", 4), 0);
	assert_int_equal(store_truncate_stage(f->st, "k", 40, &t, &base), 0);
	store_txn_abort(t);
	assert_int_equal(store_truncate_stage(f->st, "k", 4, &t, &base), 0);
	assert_int_equal(store_txn_commit(t, base, NULL, 0, &v), 0);
	assert_int_equal(rec_str(f->st, "k", "mean", 5), 0);

	/* Only a live record: neither creates one. */
	assert_int_equal(store_append_stage(f->st, "no", "x", 1, &t, &base),
			 -ENOENT);
	assert_int_equal(store_delete(f->st, "k", 5, &v), 0);
	assert_int_equal(store_truncate_stage(f->st, "k", 1, &t, &base),
			 -ENOENT);
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_int_equal(store_append_stage(f->st, "d", "x", 1, &t, &base),
			 -EISDIR);
	assert_int_equal(gone(f->st, "no", 0), 0);
	fx_reopen(f);
	assert_int_equal(gone(f->st, "k", 6), 0);
}

/* ---- transactions -------------------------------------------------- */

static void test_txn_one_version(void **state)
{
	struct fx *f = *state;
	struct store_txn *t = NULL;
	struct store_hist *h = NULL;
	size_t n = 0;
	uint64_t v = 0;
	char rb[32];

	fx_open(f);
	put_str(f->st, "k", STORE_ABSENT, "0123456789");
	assert_int_equal(store_txn_begin(f->st, "k", 1, &t), 0);
	assert_true(store_txn_size(t) == 0);
	assert_int_equal(store_txn_write(t, "abc", 3, 0), 3);
	assert_int_equal(store_txn_write(t, "xyz", 3, 10), 3); /* a hole */
	assert_true(store_txn_size(t) == 13);
	memset(rb, 0x55, sizeof(rb));
	assert_int_equal(store_txn_read(t, rb, sizeof(rb), 0), 13);
	assert_memory_equal(rb, "abc\0\0\0\0\0\0\0xyz", 13);
	assert_int_equal(store_txn_read(t, rb, sizeof(rb), 13), 0);
	assert_int_equal(store_txn_truncate(t, 12), 0);
	assert_true(store_txn_size(t) == 12);
	assert_int_equal(store_txn_write(t, "AB", 2, 1), 2);

	/* Private until commit. */
	assert_int_equal(rec_str(f->st, "k", "0123456789", 1), 0);

	assert_int_equal(store_txn_commit(t, 1, NULL, 0, &v), 0);
	assert_true(v == 2);
	assert_int_equal(rec_is(f->st, "k", "aAB\0\0\0\0\0\0\0xy", 12, 2), 0);
	assert_int_equal(store_history(f->st, "k", &h, &n), 0);
	assert_int_equal(n, 2);
	assert_true(h[0].version == 1 && h[1].version == 2);
	assert_true(h[1].size == 12);
	free(h);

	/* Creating a key through a transaction, durable. */
	assert_int_equal(store_txn_begin(f->st, "new", 1, &t), 0);
	assert_int_equal(store_txn_write(t, "fresh", 5, 0), 5);
	assert_int_equal(store_txn_commit(t, STORE_ABSENT, NULL, 1, &v), 0);
	assert_true(v == 1);
	fx_reopen(f);
	assert_int_equal(rec_is(f->st, "k", "aAB\0\0\0\0\0\0\0xy", 12, 2), 0);
	assert_int_equal(rec_str(f->st, "new", "fresh", 1), 0);
}

/* Syncs counted, and failed on request, for store_txn_commit_nowait. */
struct sync_count {
	int n, fail;
};

static int sc_fdatasync(void *ctx, int fd)
{
	struct sync_count *c = ctx;

	c->n++;
	if (c->fail) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

/* A commit is visible before its sync; the record's next commit can be
 * built on it meanwhile, and one sync then covers both tickets.  A
 * failed sync fails the wait and the store. */
static void test_txn_commit_nowait(void **state)
{
	struct fx *f = *state;
	struct sync_count c = { 0, 0 };
	struct store_io io = { .fdatasync = sc_fdatasync, .ctx = &c };
	struct store_txn *t;
	uint64_t v, t1, t2, t3;
	int n0;

	f->o.sync_always = 1;
	f->o.io = &io;
	fx_open(f);
	put_str(f->st, "k", STORE_ABSENT, "one"); /* fills the log's tail */
	assert_int_equal(store_wait_ticket(f->st, 0), 0);

	n0 = c.n;
	assert_int_equal(store_txn_begin(f->st, "k", 1, &t), 0);
	assert_int_equal(store_txn_write(t, "two", 3, 0), 3);
	assert_int_equal(store_txn_commit_nowait(t, 1, NULL, 0, &v, &t1), 0);
	assert_true(v == 2 && t1 > 0);
	assert_int_equal(c.n, n0); /* not waited for */
	assert_int_equal(rec_str(f->st, "k", "two", 2), 0);

	assert_int_equal(store_txn_begin(f->st, "k", 1, &t), 0);
	assert_int_equal(store_txn_write(t, "three", 5, 0), 5);
	assert_int_equal(store_txn_commit_nowait(t, 1, NULL, 0, &v, &t2),
			 -EAGAIN); /* still checked against the index */
	assert_int_equal(store_txn_begin(f->st, "k", 1, &t), 0);
	assert_int_equal(store_txn_write(t, "three", 5, 0), 5);
	assert_int_equal(store_txn_commit_nowait(t, 2, NULL, 0, &v, &t2), 0);
	assert_true(v == 3 && t2 > t1);
	assert_int_equal(c.n, n0);

	assert_int_equal(store_wait_ticket(f->st, t2), 0);
	assert_int_equal(c.n, n0 + 1);
	assert_int_equal(store_wait_ticket(f->st, t1), 0);
	assert_int_equal(c.n, n0 + 1); /* the same sync covered it */

	assert_int_equal(store_txn_begin(f->st, "k", 1, &t), 0);
	assert_int_equal(store_txn_write(t, "four", 4, 0), 4);
	assert_int_equal(store_txn_commit_nowait(t, 3, NULL, 0, &v, &t3), 0);
	c.fail = 1;
	assert_int_equal(store_wait_ticket(f->st, t3), -EIO);
	c.fail = 0;
	assert_int_equal(store_put(f->st, "k", 4, "five", 4, NULL, &v),
			 -EROFS);
	store_close(f->st); /* its final sync may fail: the store failed */
	f->st = NULL;
	f->o.io = NULL;
}

/* In a store_defer_begin() window, path changes (delete, rename, mkdir,
 * setmeta) are applied at once and leave the sync to the caller's
 * store_wait_ticket(): one sync for the window.  Outside it they wait. */
static void test_defer_window(void **state)
{
	struct fx *f = *state;
	struct sync_count c = { 0, 0 };
	struct store_io io = { .fdatasync = sc_fdatasync, .ctx = &c };
	struct store_meta m = { .mode = 0600 };
	struct store_stat sb;
	uint64_t v, vr, t;
	int n0;

	f->o.sync_always = 1;
	f->o.io = &io;
	fx_open(f);
	put_str(f->st, "a", STORE_ABSENT, "one");
	put_str(f->st, "b", STORE_ABSENT, "two");

	n0 = c.n;
	store_defer_begin(f->st);
	assert_int_equal(store_delete(f->st, "a", 1, &v), 0);
	assert_int_equal(store_rename(f->st, "b", 1, "c", STORE_ABSENT, &vr), 0);
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_int_equal(store_setmeta(f->st, "c", &m, STORE_META_MODE), 0);
	t = store_defer_end(f->st);
	assert_true(t > 0);
	assert_int_equal(c.n, n0); /* applied, not yet synced */
	assert_int_equal(store_stat(f->st, "a", &sb), -ENOENT);
	assert_int_equal(rec_str(f->st, "c", "two", vr), 0);
	assert_int_equal(store_wait_ticket(f->st, t), 0);
	assert_int_equal(c.n, n0 + 1);

	/* The window is over: a change waits for its own sync again. */
	assert_int_equal(store_delete(f->st, "c", vr, &v), 0);
	assert_int_equal(c.n, n0 + 2);
	assert_int_equal(store_defer_end(f->st), 0);

	/* Nothing to wait for: no change, or a failed one. */
	store_defer_begin(f->st);
	assert_int_equal(store_delete(f->st, "nope", STORE_ANY, &v), -ENOENT);
	assert_int_equal(store_defer_end(f->st), 0);
	store_close(f->st);
	f->st = NULL;
	f->o.io = NULL;
}

static void test_txn_abort(void **state)
{
	struct fx *f = *state;
	struct store_txn *t = NULL;
	struct store_stat s;
	uint8_t *junk = malloc(1 << 20);
	char spool[160];

	assert_non_null(junk);
	fill(junk, 1 << 20, 1);
	fx_open(f);
	put_str(f->st, "k", STORE_ABSENT, "keep me");
	assert_int_equal(store_txn_begin(f->st, "k", 1, &t), 0);
	assert_int_equal(store_txn_write(t, junk, 1 << 20, 0), 1 << 20);
	store_txn_abort(t);
	assert_int_equal(rec_str(f->st, "k", "keep me", 1), 0);
	assert_true(last_version(f->st, "k") == 1);

	/* Aborting the creation of a new key leaves no key and no line. */
	assert_int_equal(store_txn_begin(f->st, "new", 1, &t), 0);
	assert_int_equal(store_txn_write(t, "x", 1, 0), 1);
	store_txn_abort(t);
	assert_int_equal(store_stat(f->st, "new", &s), -ENOENT);
	assert_true(last_version(f->st, "new") == 0);

	/* The staged megabyte is not left behind in spool/. */
	snprintf(spool, sizeof(spool), "%s/spool", f->dir);
	assert_true(count_files(spool) <= 0);
	fx_reopen(f);
	assert_int_equal(rec_str(f->st, "k", "keep me", 1), 0);
	assert_int_equal(store_stat(f->st, "new", &s), -ENOENT);
	assert_true(count_files(spool) <= 0);
	free(junk);
}

static void test_txn_from_current(void **state)
{
	struct fx *f = *state;
	struct store_txn *t = NULL;
	uint64_t v = 0;
	char rb[32] = { 0 };

	fx_open(f);
	put_str(f->st, "k", STORE_ABSENT, "hello world");
	assert_int_equal(store_txn_begin(f->st, "k", 0, &t), 0);
	assert_true(store_txn_size(t) == 11);
	assert_int_equal(store_txn_read(t, rb, sizeof(rb), 0), 11);
	assert_memory_equal(rb, "hello world", 11);
	assert_int_equal(store_txn_write(t, "J", 1, 0), 1);
	assert_int_equal(store_txn_read(t, rb, 5, 0), 5);
	assert_memory_equal(rb, "Jello", 5);
	assert_int_equal(store_txn_commit(t, 1, NULL, 0, &v), 0);
	assert_true(v == 2);
	assert_int_equal(rec_str(f->st, "k", "Jello world", 2), 0);

	/* A stale transaction is refused at commit and changes nothing. */
	assert_int_equal(store_txn_begin(f->st, "k", 0, &t), 0);
	assert_int_equal(store_txn_write(t, "Y", 1, 0), 1);
	put_str(f->st, "k", 2, "someone else");
	assert_int_equal(store_txn_commit(t, 2, NULL, 0, &v), -EAGAIN);
	assert_int_equal(rec_str(f->st, "k", "someone else", 3), 0);
	assert_true(last_version(f->st, "k") == 3);

	/* A transaction on a directory is refused at begin. */
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	t = NULL;
	assert_int_equal(store_txn_begin(f->st, "d", 1, &t), -EISDIR);
}

static void test_txn_large_blob(void **state)
{
	struct fx *f = *state;
	enum { PIECE = 64 << 10, TOTAL = 8 << 20 };
	uint8_t *data = malloc(TOTAL), *rb = malloc(1 << 20);
	uint8_t h[16];
	struct store_txn *t = NULL;
	struct store_stat s;
	struct store_stats ss;
	struct store_snap *snap = NULL;
	char *buf = NULL, blobs[160];
	size_t n = 0;
	uint64_t v = 0;

	assert_non_null(data);
	assert_non_null(rb);
	fill(data, TOTAL, 42);
	hash128(data, TOTAL, h);
	fx_open(f);
	assert_int_equal(store_txn_begin(f->st, "big", 1, &t), 0);
	for (size_t off = 0; off < TOTAL; off += PIECE)
		assert_int_equal(store_txn_write(t, data + off, PIECE, off),
				 PIECE);
	assert_true(store_txn_size(t) == TOTAL);
	assert_int_equal(store_txn_commit(t, STORE_ABSENT, NULL, 0, &v), 0);
	assert_true(v == 1);

	assert_int_equal(store_stat(f->st, "big", &s), 0);
	assert_true(s.size == TOTAL);
	assert_memory_equal(s.hash, h, 16);
	assert_int_equal(store_get(f->st, "big", &buf, &n, NULL), 0);
	assert_true(n == TOTAL);
	assert_true(memcmp(buf, data, TOTAL) == 0);
	free(buf);
	assert_int_equal(store_stats(f->st, &ss), 0);
	assert_true(ss.blob_bytes >= TOTAL);
	assert_true(ss.log_bytes < TOTAL); /* not inline */
	snprintf(blobs, sizeof(blobs), "%s/blobs", f->dir);
	assert_int_equal(count_files(blobs), 1);

	fx_reopen(f);
	assert_int_equal(store_stat(f->st, "big", &s), 0);
	assert_memory_equal(s.hash, h, 16);
	assert_int_equal(store_snap_open(f->st, "big", 0, &snap), 0);
	for (uint64_t off = 0; off < TOTAL; off += 1 << 20) {
		assert_int_equal(store_snap_read(snap, rb, 1 << 20, off),
				 1 << 20);
		assert_true(memcmp(rb, data + off, 1 << 20) == 0);
	}
	assert_int_equal(store_snap_read(snap, rb, 1 << 20, TOTAL), 0);
	store_snap_close(snap);

	/* Extending the blob through a transaction from current content. */
	assert_int_equal(store_txn_begin(f->st, "big", 0, &t), 0);
	assert_true(store_txn_size(t) == TOTAL);
	assert_int_equal(store_txn_write(t, "tail", 4, TOTAL), 4);
	assert_int_equal(store_txn_commit(t, 1, NULL, 0, &v), 0);
	assert_true(v == 2);
	assert_int_equal(store_stat(f->st, "big", &s), 0);
	assert_true(s.size == TOTAL + 4);
	assert_int_equal(store_snap_open(f->st, "big", 0, &snap), 0);
	assert_int_equal(store_snap_read(snap, rb, 16, TOTAL - 4), 8);
	assert_memory_equal(rb, data + TOTAL - 4, 4);
	assert_memory_equal(rb + 4, "tail", 4);
	store_snap_close(snap);
	free(data);
	free(rb);
}

/* Open files of this process in the store's spool/ (O_TMPFILE ones
 * too: their link names the directory). */
static int spool_fds(const struct fx *f)
{
	char spool[160], link[512];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	snprintf(spool, sizeof(spool), "%s/spool/", f->dir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		ssize_t l;
		l = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (l <= 0)
			continue;
		link[l] = 0;
		n += strncmp(link, spool, strlen(spool)) == 0;
	}
	closedir(d);
	return n;
}

static uint64_t reserved(struct store *st)
{
	struct store_stats ss;

	assert_int_equal(store_stats(st, &ss), 0);
	return ss.reserved_bytes;
}

/* A change is staged in memory (reserved log space, no spool file) up
 * to inline_max, moves to a spool file when it grows past it, and
 * commits the same content either way. */
static void test_txn_crosses_inline_max(void **state)
{
	enum { IMAX = 4096 };
	struct fx *f = *state;
	struct store_txn *t = NULL;
	struct store_stats ss;
	uint8_t *data = malloc(3 * IMAX), rb[3 * IMAX];
	uint8_t *want = malloc(3 * IMAX), *wy = malloc(3 * IMAX);
	uint64_t v = 0, vy = 0, vz = 0;

	assert_non_null(data);
	assert_non_null(want);
	assert_non_null(wy);
	fill(data, 3 * IMAX, 7);
	f->o.inline_max = IMAX;
	fx_open(f);

	assert_int_equal(store_txn_begin(f->st, "x", 1, &t), 0);
	assert_int_equal(store_txn_write(t, data, 3000, 0), 3000);
	assert_int_equal(spool_fds(f), 0);
	assert_true(reserved(f->st) > 3000);
	assert_int_equal(store_txn_read(t, rb, sizeof(rb), 0), 3000);
	assert_memory_equal(rb, data, 3000);
	/* Past inline_max: a spool file, and the memory's space back but
	 * for the entry the commit writes (header, key, body: the blob's
	 * PUT), which stays reserved (test_reserve). */
	assert_int_equal(store_txn_write(t, data + 3000, 3000, 3000), 3000);
	assert_int_equal(spool_fds(f), 1);
	assert_true(reserved(f->st) > 0 && reserved(f->st) < 200);
	assert_true(store_txn_size(t) == 6000);
	assert_int_equal(store_txn_read(t, rb, sizeof(rb), 0), 6000);
	assert_memory_equal(rb, data, 6000);
	assert_int_equal(store_txn_commit(t, STORE_ABSENT, NULL, 0, &v), 0);
	assert_int_equal(spool_fds(f), 0);
	assert_int_equal(rec_is(f->st, "x", data, 6000, v), 0);
	assert_int_equal(store_stats(f->st, &ss), 0);
	assert_true(ss.blob_bytes >= 6000); /* the large record's blob */

	/* From a small current content: the base is copied in, then the
	 * whole moves to a spool file when a write goes past inline_max. */
	vy = put_buf(f->st, "y", STORE_ABSENT, data, 1000);
	assert_int_equal(store_txn_begin(f->st, "y", 0, &t), 0);
	assert_int_equal(store_txn_write(t, "head", 4, 0), 4);
	assert_int_equal(spool_fds(f), 0);
	assert_int_equal(store_txn_write(t, "tail", 4, 2 * IMAX), 4);
	assert_int_equal(spool_fds(f), 1);
	assert_true(reserved(f->st) > 0 && reserved(f->st) < 200);
	assert_int_equal(store_txn_commit(t, vy, NULL, 0, &vy), 0);
	memset(wy, 0, 3 * IMAX);
	memcpy(wy, data, 1000);
	memcpy(wy, "head", 4);
	memcpy(wy + 2 * IMAX, "tail", 4);
	assert_int_equal(rec_is(f->st, "y", wy, 2 * IMAX + 4, vy), 0);

	/* A large current content cut to a small one stays in memory: only
	 * the bytes it keeps are copied. */
	vz = put_buf(f->st, "z", STORE_ABSENT, data, 3 * IMAX);
	assert_int_equal(store_txn_begin(f->st, "z", 0, &t), 0);
	assert_int_equal(store_txn_truncate(t, 100), 0);
	assert_int_equal(spool_fds(f), 0);
	assert_true(reserved(f->st) > 100);
	assert_int_equal(store_txn_write(t, "!", 1, 99), 1);
	assert_int_equal(store_txn_commit(t, vz, NULL, 0, &vz), 0);
	memcpy(want, data, 100);
	want[99] = '!';
	assert_int_equal(rec_is(f->st, "z", want, 100, vz), 0);

	/* Crossed, then cut back: still the spool file, inline content. */
	assert_int_equal(store_txn_begin(f->st, "x", 1, &t), 0);
	assert_int_equal(store_txn_write(t, data, 2 * IMAX, 0), 2 * IMAX);
	assert_true(reserved(f->st) < 200);
	assert_int_equal(store_txn_truncate(t, 10), 0);
	assert_true(reserved(f->st) > 10 && reserved(f->st) < 210);
	assert_int_equal(store_txn_commit(t, v, NULL, 0, &v), 0);
	assert_true(reserved(f->st) == 0);
	assert_int_equal(rec_is(f->st, "x", data, 10, v), 0);

	fx_reopen(f);
	assert_int_equal(rec_is(f->st, "x", data, 10, v), 0);
	assert_int_equal(rec_is(f->st, "y", wy, 2 * IMAX + 4, vy), 0);
	assert_int_equal(rec_is(f->st, "z", want, 100, vz), 0);
	free(data);
	free(want);
	free(wy);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_truncate),
		T(test_append),
		T(test_append_truncate_stage),
		T(test_txn_one_version),
		T(test_txn_commit_nowait),
		T(test_defer_window),
		T(test_txn_abort),
		T(test_txn_from_current),
		T(test_txn_large_blob),
		T(test_txn_crosses_inline_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_store.c - the store API and the version rules, through store.h
 * only (SPEC.md "Versions", "The store").  Each test opens a fresh store
 * in its own temp directory; most reopen and compact it too, because a
 * rule that holds only until restart does not hold. */
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

/* ---- fixture ------------------------------------------------------- */

struct fx {
	char tmp[64];    /* removed at teardown */
	char dir[96];    /* the store, inside tmp; not created by the test */
	char err[512];
	struct store_opts o;
	struct store *st;
};

static int setup(void **state)
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

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->st)
		store_close(f->st);
	rm_rf(f->tmp);
	free(f);
	return 0;
}

static void fx_open(struct fx *f)
{
	int rc;

	f->err[0] = 0;
	rc = store_open(f->dir, &f->o, &f->st);
	if (rc)
		fail_msg("store_open(%s) = %d (%s)", f->dir, rc, f->err);
}

static void fx_close(struct fx *f)
{
	int rc = store_close(f->st);

	f->st = NULL;
	assert_int_equal(rc, 0);
}

static void fx_reopen(struct fx *f)
{
	fx_close(f);
	fx_open(f);
}

/* ---- helpers ------------------------------------------------------- */

static void hash128(const void *p, size_t n, uint8_t out[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
	memcpy(out, c.digest, 16);
}

static uint64_t put_str(struct store *st, const char *key, uint64_t expect,
			const char *s)
{
	uint64_t v = 0;
	int rc = store_put(st, key, expect, s, strlen(s), NULL, &v);

	if (rc)
		fail_msg("store_put(%s, expect %" PRIu64 ") = %d", key, expect,
			 rc);
	return v;
}

static uint64_t put_buf(struct store *st, const char *key, uint64_t expect,
			const void *p, size_t n)
{
	uint64_t v = 0;
	int rc = store_put(st, key, expect, p, n, NULL, &v);

	if (rc)
		fail_msg("store_put(%s, %zu bytes) = %d", key, n, rc);
	return v;
}

static uint64_t last_version(struct store *st, const char *key)
{
	uint64_t v = UINT64_MAX;

	assert_int_equal(store_last_version(st, key, &v), 0);
	assert_true(v != UINT64_MAX);
	return v;
}

/* 0 if @key holds exactly @data at @version (content, size, hash, and
 * store_stat agreeing with store_get); else print why and return -1,
 * so the caller's assert names the line. */
static int rec_is(struct store *st, const char *key, const void *data,
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

static int rec_str(struct store *st, const char *key, const char *s,
		   uint64_t version)
{
	return rec_is(st, key, s, strlen(s), version);
}

/* 0 if @key is absent (stat and get say so) and its line stopped at
 * @last (its tombstone's version, or 0 if never a record). */
static int gone(struct store *st, const char *key, uint64_t last)
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

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static int count_files(const char *dir)
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

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- opening ------------------------------------------------------- */

static void test_open_creates_dir(void **state)
{
	struct fx *f = *state;
	struct store_stat s;
	struct store_dirent *ents = NULL;
	size_t n = 99;
	char path[160], lock[64] = { 0 }, pid[32];
	struct stat sb;
	struct store *st2 = NULL;
	int fd;

	assert_int_equal(stat(f->dir, &sb), -1);
	fx_open(f);
	assert_int_equal(stat(f->dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));

	/* FORMAT.md: LOCK holds the owner's pid, for the error message. */
	snprintf(path, sizeof(path), "%s/LOCK", f->dir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_true(read(fd, lock, sizeof(lock) - 1) > 0);
	close(fd);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	assert_non_null(strstr(lock, pid));

	/* The root is the empty key, an empty directory. */
	assert_int_equal(store_stat(f->st, "", &s), 0);
	assert_true(S_ISDIR(s.meta.mode));
	assert_int_equal(store_list(f->st, "", &ents, &n), 0);
	assert_int_equal(n, 0);
	store_list_free(ents, n);

	/* Reopening an existing empty store works and finds it empty. */
	fx_reopen(f);
	assert_int_equal(store_list(f->st, "", &ents, &n), 0);
	assert_int_equal(n, 0);
	store_list_free(ents, n);

	/* A regular file is not a store. */
	snprintf(path, sizeof(path), "%s/plain", f->tmp);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(store_open(path, &f->o, &st2), -ENOTDIR);
}

/* In a child: try to open the store; exit 0 if the result is @want_rc
 * and (for -EWOULDBLOCK) errbuf names @holder.  Exits, never returns.
 * cmocka's asserts must not run in the child (they would longjmp into
 * the parent's copy of the runner). */
static void child_try_open(const char *dir, int want_rc, pid_t holder)
{
	struct store_opts o = { 0 };
	struct store *st = NULL;
	char err[512] = "", pid[32];
	int rc;

	o.errbuf = err;
	o.errlen = sizeof(err);
	rc = store_open(dir, &o, &st);
	if (rc != want_rc) {
		fprintf(stderr, "child: store_open = %d, want %d (%s)\n", rc,
			want_rc, err);
		_exit(1);
	}
	if (rc == 0) {
		_exit(store_close(st) == 0 ? 0 : 3);
	}
	snprintf(pid, sizeof(pid), "%d", (int)holder);
	if (!strstr(err, pid)) {
		fprintf(stderr, "child: errbuf \"%s\" does not name pid %s\n",
			err, pid);
		_exit(2);
	}
	_exit(0);
}

static int run_child(const char *dir, int want_rc, pid_t holder)
{
	int status = -1;
	pid_t p;

	fflush(NULL);
	p = fork();
	assert_true(p >= 0);
	if (p == 0)
		child_try_open(dir, want_rc, holder);
	assert_int_equal(waitpid(p, &status, 0), p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_lock(void **state)
{
	struct fx *f = *state;
	struct store *st2 = NULL;
	struct store_opts o = { 0 };

	fx_open(f);
	put_str(f->st, "k", STORE_ABSENT, "x");
	assert_int_equal(run_child(f->dir, -EWOULDBLOCK, getpid()), 0);

	/* A second open in this process must fail too (two indexes over
	 * one log would lose commits), and its failure must not drop the
	 * first open's lock (as closing any fd would with fcntl locks). */
	assert_true(store_open(f->dir, &o, &st2) < 0);
	assert_null(st2);
	assert_int_equal(run_child(f->dir, -EWOULDBLOCK, getpid()), 0);

	/* Close releases it: another process may now open the store. */
	fx_close(f);
	assert_int_equal(run_child(f->dir, 0, 0), 0);
	fx_open(f);
	assert_int_equal(rec_str(f->st, "k", "x", 1), 0);
}

/* ---- reading and writing ------------------------------------------- */

static void test_put_get_stat(void **state)
{
	struct fx *f = *state;
	struct store_stat s;
	struct store_snap *snap = NULL;
	uint64_t v = 0;
	char *buf = NULL;
	size_t n;
	int64_t t0, t1;

	fx_open(f);
	t0 = now_ns();
	assert_int_equal(store_put(f->st, "a", STORE_ABSENT, "hello", 5, NULL,
				   &v), 0);
	t1 = now_ns();
	assert_true(v == 1);
	assert_int_equal(rec_str(f->st, "a", "hello", 1), 0);
	assert_int_equal(store_stat(f->st, "a", &s), 0);
	assert_true(S_ISREG(s.meta.mode));
	assert_true(s.commit_ns >= t0 && s.commit_ns <= t1);

	assert_true(put_str(f->st, "a", 1, "world!") == 2);
	assert_int_equal(rec_str(f->st, "a", "world!", 2), 0);

	/* Empty content is content. */
	assert_true(put_str(f->st, "e", STORE_ABSENT, "") == 1);
	assert_int_equal(rec_str(f->st, "e", "", 1), 0);

	/* Binary content with NULs is kept byte for byte. */
	assert_true(put_buf(f->st, "bin", STORE_ABSENT, "a\0b\0\0c", 6) == 1);
	assert_int_equal(rec_is(f->st, "bin", "a\0b\0\0c", 6, 1), 0);

	assert_int_equal(store_get(f->st, "missing", &buf, &n, NULL), -ENOENT);
	assert_int_equal(store_stat(f->st, "missing", &s), -ENOENT);
	assert_int_equal(last_version(f->st, "missing"), 0);
	assert_int_equal(store_snap_open(f->st, "missing", 0, &snap), -ENOENT);

	/* Directories are not records. */
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_int_equal(store_get(f->st, "d", &buf, &n, NULL), -EISDIR);
	assert_int_equal(store_snap_open(f->st, "d", 0, &snap), -EISDIR);
	assert_int_equal(store_put(f->st, "d", STORE_ANY, "x", 1, NULL, &v),
			 -EISDIR);
	assert_int_equal(store_stat(f->st, "d", &s), 0);
	assert_true(S_ISDIR(s.meta.mode));
	assert_true(s.version == 0);

	/* Parent missing, parent a record. */
	assert_int_equal(store_put(f->st, "nope/x", STORE_ANY, "x", 1, NULL,
				   &v), -ENOENT);
	assert_int_equal(store_put(f->st, "a/x", STORE_ANY, "x", 1, NULL, &v),
			 -ENOTDIR);

	/* A snapshot reads the same bytes as store_get. */
	assert_int_equal(store_snap_open(f->st, "a", 0, &snap), 0);
	{
		char rb[16] = { 0 };

		store_snap_stat(snap, &s);
		assert_true(s.version == 2 && s.size == 6);
		assert_int_equal(store_snap_read(snap, rb, sizeof(rb), 0), 6);
		assert_memory_equal(rb, "world!", 6);
		assert_int_equal(store_snap_read(snap, rb, sizeof(rb), 3), 3);
		assert_memory_equal(rb, "ld!", 3);
		assert_int_equal(store_snap_read(snap, rb, sizeof(rb), 6), 0);
	}
	store_snap_close(snap);
}

/* An open snapshot reads its version whole after the record changed and
 * the store was compacted: a small version (copied at open) and a larger
 * one (read through a descriptor of its own) alike. */
static void test_snap_keeps_version(void **state)
{
	struct fx *f = *state;
	static char big_old[8192], big_new[8192];
	struct store_snap *small, *big;
	char rb[8192];
	uint64_t v;

	fx_open(f);
	memset(big_old, 'o', sizeof(big_old));
	memset(big_new, 'n', sizeof(big_new));
	assert_int_equal(store_put(f->st, "s", STORE_ABSENT, "old", 3, NULL, &v),
			 0);
	assert_int_equal(store_put(f->st, "b", STORE_ABSENT, big_old,
				   sizeof(big_old), NULL, &v), 0);
	assert_int_equal(store_snap_open(f->st, "s", 0, &small), 0);
	assert_int_equal(store_snap_open(f->st, "b", 0, &big), 0);
	assert_int_equal(store_put(f->st, "s", 1, "newer", 5, NULL, &v), 0);
	assert_int_equal(store_put(f->st, "b", 1, big_new, sizeof(big_new),
				   NULL, &v), 0);
	assert_int_equal(store_compact(f->st), 0);
	assert_int_equal(store_snap_read(small, rb, sizeof(rb), 0), 3);
	assert_memory_equal(rb, "old", 3);
	assert_int_equal(store_snap_read(small, rb, sizeof(rb), 1), 2);
	assert_memory_equal(rb, "ld", 2);
	assert_int_equal(store_snap_read(big, rb, sizeof(rb), 0),
			 sizeof(big_old));
	assert_memory_equal(rb, big_old, sizeof(big_old));
	store_snap_close(small);
	store_snap_close(big);
	assert_int_equal(rec_str(f->st, "s", "newer", 2), 0);
}

static void test_symlink(void **state)
{
	struct fx *f = *state;
	struct store_meta m = { .mode = S_IFLNK | 0777 };
	struct store_meta dm = { .mode = S_IFDIR | 0755 };
	struct store_stat s;
	uint64_t v = 0;

	fx_open(f);
	/* A symlink is a record whose content is its target. */
	assert_int_equal(store_put(f->st, "ln", STORE_ABSENT, "a/b", 3, &m,
				   &v), 0);
	assert_true(v == 1);
	assert_int_equal(store_stat(f->st, "ln", &s), 0);
	assert_true(S_ISLNK(s.meta.mode));
	assert_int_equal(rec_str(f->st, "ln", "a/b", 1), 0);
	/* store_put does not make directories. */
	assert_int_equal(store_put(f->st, "dir", STORE_ABSENT, "", 0, &dm, &v),
			 -EINVAL);
	assert_int_equal(store_stat(f->st, "dir", &s), -ENOENT);
	fx_reopen(f);
	assert_int_equal(store_stat(f->st, "ln", &s), 0);
	assert_true(S_ISLNK(s.meta.mode));
}

static void test_versions_per_commit(void **state)
{
	struct fx *f = *state;
	char val[32];

	fx_open(f);
	for (uint64_t i = 1; i <= 20; i++) {
		snprintf(val, sizeof(val), "value %" PRIu64, i);
		assert_true(put_str(f->st, "k", i - 1, val) == i);
		assert_int_equal(rec_str(f->st, "k", val, i), 0);
		assert_true(last_version(f->st, "k") == i);
	}
	/* Versions are per key: another key starts at 1. */
	assert_true(put_str(f->st, "other", STORE_ABSENT, "x") == 1);
	fx_reopen(f);
	assert_int_equal(rec_str(f->st, "k", "value 20", 20), 0);
	assert_true(put_str(f->st, "k", 20, "after") == 21);
}

static void test_create_only(void **state)
{
	struct fx *f = *state;
	uint64_t v = 77;

	fx_open(f);
	assert_true(put_str(f->st, "k", STORE_ABSENT, "first") == 1);
	assert_int_equal(store_put(f->st, "k", STORE_ABSENT, "second", 6, NULL,
				   &v), -EAGAIN);
	assert_int_equal(rec_str(f->st, "k", "first", 1), 0);
	assert_true(last_version(f->st, "k") == 1);
}

static void test_stale_expect(void **state)
{
	struct fx *f = *state;
	struct store_hist *h = NULL;
	size_t n = 0;
	uint64_t v = 0;

	fx_open(f);
	put_str(f->st, "k", STORE_ABSENT, "one");
	put_str(f->st, "k", 1, "two");
	put_str(f->st, "k", 2, "three");

	/* Older, newer, and "absent" are all wrong for a v3 record. */
	assert_int_equal(store_put(f->st, "k", 2, "x", 1, NULL, &v), -EAGAIN);
	assert_int_equal(store_put(f->st, "k", 4, "x", 1, NULL, &v), -EAGAIN);
	assert_int_equal(store_truncate(f->st, "k", 2, 0, &v), -EAGAIN);
	assert_int_equal(store_delete(f->st, "k", 1, &v), -EAGAIN);
	assert_int_equal(store_delete(f->st, "k", STORE_ABSENT, &v), -EAGAIN);

	/* Nothing changed: content, version, history, last version. */
	assert_int_equal(rec_str(f->st, "k", "three", 3), 0);
	assert_true(last_version(f->st, "k") == 3);
	assert_int_equal(store_history(f->st, "k", &h, &n), 0);
	assert_int_equal(n, 3);
	assert_true(h[n - 1].version == 3);
	free(h);
	fx_reopen(f);
	assert_int_equal(rec_str(f->st, "k", "three", 3), 0);
	assert_true(put_str(f->st, "k", 3, "four") == 4);
}

static void test_store_any(void **state)
{
	struct fx *f = *state;
	uint64_t v = 0;

	fx_open(f);
	assert_true(put_str(f->st, "k", STORE_ANY, "a") == 1);
	assert_true(put_str(f->st, "k", STORE_ANY, "b") == 2);
	assert_int_equal(store_truncate(f->st, "k", STORE_ANY, 0, &v), 0);
	assert_true(v == 3);
	assert_int_equal(store_delete(f->st, "k", STORE_ANY, &v), 0);
	assert_true(v == 4);
	assert_true(put_str(f->st, "k", STORE_ANY, "c") == 5);
	assert_int_equal(rec_str(f->st, "k", "c", 5), 0);
}

static void test_delete_tombstone(void **state)
{
	struct fx *f = *state;
	struct store_stats ss;
	struct store_dirent *ents = NULL;
	size_t n = 0;
	uint64_t v = 0;

	fx_open(f);
	put_str(f->st, "k", STORE_ABSENT, "1");
	put_str(f->st, "k", 1, "2");
	put_str(f->st, "k", 2, "3");
	put_str(f->st, "keep", STORE_ABSENT, "x");

	assert_int_equal(store_delete(f->st, "k", 3, &v), 0);
	assert_true(v == 4);
	assert_int_equal(gone(f->st, "k", 4), 0);
	assert_int_equal(store_delete(f->st, "k", 4, &v), -ENOENT);
	assert_int_equal(store_delete(f->st, "k", STORE_ANY, &v), -ENOENT);
	assert_int_equal(store_delete(f->st, "never", STORE_ANY, &v), -ENOENT);
	assert_int_equal(store_list(f->st, "", &ents, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ents[0].name, "keep");
	store_list_free(ents, n);
	assert_int_equal(store_stats(f->st, &ss), 0);
	assert_true(ss.records == 1);
	assert_true(ss.tombstones == 1);

	/* The tombstone survives restart and compaction. */
	fx_reopen(f);
	assert_int_equal(gone(f->st, "k", 4), 0);
	assert_int_equal(store_compact(f->st), 0);
	assert_int_equal(gone(f->st, "k", 4), 0);
	fx_reopen(f);
	assert_int_equal(gone(f->st, "k", 4), 0);

	/* Re-creating continues the line: no ABA. */
	assert_true(put_str(f->st, "k", STORE_ABSENT, "again") == 5);
	assert_int_equal(rec_str(f->st, "k", "again", 5), 0);
	fx_reopen(f);
	assert_int_equal(rec_str(f->st, "k", "again", 5), 0);
	assert_int_equal(rec_str(f->st, "keep", "x", 1), 0);
}

/* A bit of everything, checked live, after reopen, after compaction and
 * after reopening the compacted store. */
static void check_mixed(struct store *st, uint64_t moved)
{
	assert_int_equal(rec_str(st, "a", "a3", 3), 0);
	assert_int_equal(gone(st, "b", 3), 0);
	assert_int_equal(rec_str(st, "d/c", "c2", 2), 0);
	assert_int_equal(rec_str(st, "d/moved", "m1", moved), 0);
	assert_int_equal(gone(st, "d/m", 2), 0);
	assert_int_equal(gone(st, "never", 0), 0);
}

static void test_persist_reopen_compact(void **state)
{
	struct fx *f = *state;
	uint64_t v, mv = 0;

	fx_open(f);
	put_str(f->st, "a", STORE_ABSENT, "a1");
	put_str(f->st, "a", 1, "a2");
	put_str(f->st, "a", 2, "a3");
	put_str(f->st, "b", STORE_ABSENT, "b1");
	put_str(f->st, "b", 1, "b2");
	assert_int_equal(store_delete(f->st, "b", 2, &v), 0);
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	put_str(f->st, "d/c", STORE_ABSENT, "c1");
	put_str(f->st, "d/c", 1, "c2");
	put_str(f->st, "d/m", STORE_ABSENT, "m1");
	assert_int_equal(store_rename(f->st, "d/m", 1, "d/moved", STORE_ABSENT,
				      &mv), 0);
	assert_int_equal(mv, 1); /* d/moved is a new key */
	check_mixed(f->st, mv);
	fx_reopen(f);
	check_mixed(f->st, mv);
	assert_int_equal(store_compact(f->st), 0);
	check_mixed(f->st, mv);
	fx_reopen(f);
	check_mixed(f->st, mv);
	assert_int_equal(store_compact(f->st), 0);
	assert_int_equal(store_compact(f->st), 0);
	fx_reopen(f);
	check_mixed(f->st, mv);
}

/* ---- rename -------------------------------------------------------- */

/* Read system calls this process has made (/proc/self/io), or -1. */
static long read_calls(void)
{
	char line[128];
	long n = -1;
	FILE *f = fopen("/proc/self/io", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "syscr: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Under valgrind the process's read count includes valgrind's own. */
static int reads_countable(void)
{
	const char *pre = getenv("LD_PRELOAD");

	return !(pre && strstr(pre, "vgpreload")) && read_calls() >= 0;
}

/* Rename @from (holding @data) onto a new key @to; @return the read
 * calls it made, or -1 if they cannot be counted. */
static long rename_reads(struct store *st, const char *from, const char *to,
			 const void *data, size_t len)
{
	long r0, r1;
	uint64_t v = 0;

	r0 = read_calls();
	assert_int_equal(store_rename(st, from, STORE_ANY, to, STORE_ABSENT,
				      &v), 0);
	r1 = read_calls();
	assert_int_equal(rec_is(st, to, data, len, v), 0);
	/* the counting itself reads /proc/self/io once */
	return r0 < 0 || r1 < 0 || !reads_countable() ? -1 : r1 - r0 - 1;
}

/* The rename read nothing back / read its bytes (where countable). */
#define NO_READS(r) do { long r_ = (r); if (r_ >= 0) assert_int_equal(r_, 0); } while (0)
#define READS(r) do { long r_ = (r); if (r_ >= 0) assert_true(r_ >= 1); } while (0)

/* A rename-over takes a temporary its writer has just written: its bytes
 * are copied from the batch buffer that wrote them, not read back from
 * the log.  Wherever the buffer no longer holds them (another change came
 * between, a compaction moved them, a reopen) they are read, and the
 * content is right in every case. */
static void test_rename_recent(void **state)
{
	struct fx *f = *state;
	char a[1024], b[1024], c[700];
	uint64_t v;

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	memset(c, 'c', sizeof(c));
	fx_open(f);
	/* Without per-task I/O accounting (or under valgrind) only the
	 * content is checked. */

	put_buf(f->st, "t", STORE_ABSENT, a, sizeof(a));
	NO_READS(rename_reads(f->st, "t", "r1", a, sizeof(a)));

	/* A refused rename builds nothing over the buffer. */
	put_buf(f->st, "t", STORE_ANY, b, sizeof(b));
	assert_int_equal(store_rename(f->st, "t", 99, "r2", STORE_ABSENT, &v),
			 -EAGAIN);
	NO_READS(rename_reads(f->st, "t", "r2", b, sizeof(b)));

	/* Another change between: read back. */
	put_buf(f->st, "t", STORE_ANY, a, sizeof(a));
	put_buf(f->st, "u", STORE_ABSENT, b, sizeof(b));
	READS(rename_reads(f->st, "t", "r3", a, sizeof(a)));
	/* ... and that rename's own batch is now the recent one. */
	READS(rename_reads(f->st, "u", "r4", b, sizeof(b)));

	/* A compaction reuses the segment's id for other bytes. */
	put_buf(f->st, "t", STORE_ANY, c, sizeof(c));
	assert_int_equal(store_compact(f->st), 0);
	READS(rename_reads(f->st, "t", "r5", c, sizeof(c)));

	/* An empty record, and a reopened store. */
	put_buf(f->st, "t", STORE_ANY, "", 0);
	NO_READS(rename_reads(f->st, "t", "r6", "", 0));
	put_buf(f->st, "t", STORE_ANY, b, sizeof(b));
	fx_reopen(f);
	READS(rename_reads(f->st, "t", "r7", b, sizeof(b)));

	/* A directory's records: each read as the batch grows. */
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	put_buf(f->st, "d/x", STORE_ABSENT, a, sizeof(a));
	put_buf(f->st, "d/y", STORE_ABSENT, c, sizeof(c));
	assert_int_equal(store_rename(f->st, "d", STORE_ANY, "e", STORE_ANY,
				      &v), 0);
	assert_int_equal(rec_is(f->st, "e/x", a, sizeof(a),
				last_version(f->st, "e/x")), 0);
	assert_int_equal(rec_is(f->st, "e/y", c, sizeof(c),
				last_version(f->st, "e/y")), 0);
	fx_reopen(f);
	assert_int_equal(rec_is(f->st, "r1", a, sizeof(a),
				last_version(f->st, "r1")), 0);
	assert_int_equal(rec_is(f->st, "e/y", c, sizeof(c),
				last_version(f->st, "e/y")), 0);
}

static void test_rename_record(void **state)
{
	struct fx *f = *state;
	uint64_t v = 0, bv, cv;

	fx_open(f);
	put_str(f->st, "a", STORE_ABSENT, "A1");
	put_str(f->st, "a", 1, "A2");
	assert_int_equal(store_rename(f->st, "a", 2, "b", STORE_ABSENT, &bv),
			 0);
	assert_int_equal(bv, 1); /* b's next version: b is a new key */
	assert_int_equal(rec_str(f->st, "b", "A2", bv), 0);
	assert_int_equal(gone(f->st, "a", 3), 0); /* a's tombstone: next */
	assert_true(put_str(f->st, "a", STORE_ABSENT, "A-new") == 4);

	/* Over an existing record: a change of both, both checked. */
	for (uint64_t i = 0; i < 5; i++)
		put_str(f->st, "c", i, "C");
	put_str(f->st, "c", 5, "C5");
	put_str(f->st, "d", STORE_ABSENT, "D1");
	put_str(f->st, "d", 1, "D2");
	assert_int_equal(store_rename(f->st, "d", 2, "c", 5, &v), -EAGAIN);
	assert_int_equal(store_rename(f->st, "d", 1, "c", 6, &v), -EAGAIN);
	assert_int_equal(store_rename(f->st, "d", 2, "c", STORE_ABSENT, &v),
			 -EAGAIN);
	assert_int_equal(rec_str(f->st, "c", "C5", 6), 0);
	assert_int_equal(rec_str(f->st, "d", "D2", 2), 0);
	assert_int_equal(store_rename(f->st, "d", 2, "c", 6, &v), 0);
	assert_true(v > 6);
	cv = v;
	assert_int_equal(rec_str(f->st, "c", "D2", cv), 0);
	assert_int_equal(gone(f->st, "d", 3), 0);
	assert_true(put_str(f->st, "c", cv, "C-next") == cv + 1);

	/* Onto a key that had a long line and was deleted: above it all. */
	for (uint64_t i = 0; i < 7; i++)
		put_str(f->st, "e", i, "E");
	assert_int_equal(store_delete(f->st, "e", 7, &v), 0);
	assert_true(v == 8);
	put_str(f->st, "g", STORE_ABSENT, "G1");
	assert_int_equal(store_rename(f->st, "g", 1, "e", STORE_ABSENT, &v), 0);
	assert_true(v > 8);
	assert_int_equal(rec_str(f->st, "e", "G1", v), 0);

	/* Errors change nothing. */
	assert_int_equal(store_rename(f->st, "missing", STORE_ANY, "x",
				      STORE_ANY, &v), -ENOENT);
	assert_int_equal(gone(f->st, "x", 0), 0);
	assert_int_equal(store_mkdir(f->st, "dir", NULL), 0);
	assert_int_equal(store_rename(f->st, "b", STORE_ANY, "dir", STORE_ANY,
				      &v), -EISDIR);
	assert_int_equal(store_rename(f->st, "b", STORE_ANY, "nodir/b",
				      STORE_ANY, &v), -ENOENT);
	assert_int_equal(rec_str(f->st, "b", "A2", bv), 0);

	/* Into a subdirectory, unchecked. */
	assert_int_equal(store_rename(f->st, "b", STORE_ANY, "dir/b",
				      STORE_ANY, &v), 0);
	assert_int_equal(v, 1); /* dir/b is a new key */
	assert_int_equal(rec_str(f->st, "dir/b", "A2", v), 0);
	assert_int_equal(gone(f->st, "b", bv + 1), 0);

	fx_reopen(f);
	assert_int_equal(rec_str(f->st, "dir/b", "A2", v), 0);
	assert_int_equal(rec_str(f->st, "c", "C-next", cv + 1), 0);
	assert_int_equal(gone(f->st, "d", 3), 0);
	assert_int_equal(store_compact(f->st), 0);
	fx_reopen(f);
	assert_int_equal(rec_str(f->st, "c", "C-next", cv + 1), 0);
	assert_int_equal(gone(f->st, "d", 3), 0);
	assert_true(put_str(f->st, "d", STORE_ABSENT, "D-new") == 4);
}

static int list_names(struct store *st, const char *dir, const char *want)
{
	struct store_dirent *ents = NULL;
	size_t n = 0;
	char got[512] = "";
	int rc = store_list(st, dir, &ents, &n);

	if (rc) {
		print_error("store_list(%s) = %d\n", dir, rc);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		strcat(got, i ? "," : "");
		strcat(got, ents[i].name);
	}
	store_list_free(ents, n);
	if (strcmp(got, want) != 0) {
		print_error("store_list(%s) = \"%s\", want \"%s\"\n", dir, got,
			    want);
		return -1;
	}
	return 0;
}

static void check_moved_dir(struct store *st)
{
	struct store_stat s;
	uint64_t vx;

	assert_int_equal(store_stat(st, "e", &s), 0);
	assert_true(S_ISDIR(s.meta.mode));
	assert_int_equal(list_names(st, "e", "sub,x,y"), 0);
	assert_int_equal(list_names(st, "e/sub", "z"), 0);
	/* e/x had versions up to 11 (a tombstone): the moved record lands
	 * above that and above its own 3. */
	assert_int_equal(store_stat(st, "e/x", &s), 0);
	vx = s.version;
	assert_true(vx > 11);
	assert_int_equal(rec_str(st, "e/x", "x3", vx), 0);
	assert_int_equal(store_stat(st, "e/y", &s), 0);
	assert_true(s.version > 1);
	assert_int_equal(rec_str(st, "e/y", "y1", s.version), 0);
	assert_int_equal(store_stat(st, "e/sub/z", &s), 0);
	assert_true(s.version > 1);
	assert_int_equal(rec_str(st, "e/sub/z", "z1", s.version), 0);
}

static void test_rename_dir(void **state)
{
	struct fx *f = *state;
	uint64_t v = 1;

	fx_open(f);
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	put_str(f->st, "d/x", STORE_ABSENT, "x1");
	put_str(f->st, "d/x", 1, "x2");
	put_str(f->st, "d/x", 2, "x3");
	put_str(f->st, "d/y", STORE_ABSENT, "y1");
	assert_int_equal(store_mkdir(f->st, "d/sub", NULL), 0);
	put_str(f->st, "d/sub/z", STORE_ABSENT, "z1");

	/* "e/x" has a past: versions 1..10 and a tombstone at 11. */
	assert_int_equal(store_mkdir(f->st, "e", NULL), 0);
	for (uint64_t i = 0; i < 10; i++)
		put_str(f->st, "e/x", i, "old");
	assert_int_equal(store_delete(f->st, "e/x", 10, &v), 0);
	assert_true(v == 11);
	assert_int_equal(store_rmdir(f->st, "e"), 0);

	assert_int_equal(store_rename(f->st, "d", 12345, "e", 6789, &v), 0);
	assert_true(v == 0);
	assert_int_equal(gone(f->st, "d", 0), 0);
	assert_int_equal(gone(f->st, "d/x", last_version(f->st, "d/x")), 0);
	assert_true(last_version(f->st, "d/x") >= 3);
	check_moved_dir(f->st);

	/* The old keys' lines continue too: "d/x" re-created is above 3. */
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_true(put_str(f->st, "d/x", STORE_ABSENT, "new") > 3);
	assert_true(put_str(f->st, "d/sub", STORE_ABSENT, "file now") >= 1);

	fx_reopen(f);
	check_moved_dir(f->st);
	assert_int_equal(store_compact(f->st), 0);
	fx_reopen(f);
	check_moved_dir(f->st);

	/* Errors. */
	assert_int_equal(store_rename(f->st, "e", STORE_ANY, "e/sub/in",
				      STORE_ANY, &v), -EINVAL);
	assert_int_equal(store_rename(f->st, "e", STORE_ANY, "d", STORE_ANY,
				      &v), -ENOTEMPTY);
	put_str(f->st, "rec", STORE_ABSENT, "r");
	assert_int_equal(store_rename(f->st, "e", STORE_ANY, "rec", STORE_ANY,
				      &v), -ENOTDIR);
	assert_int_equal(store_rename(f->st, "rec", STORE_ANY, "e", STORE_ANY,
				      &v), -EISDIR);
	check_moved_dir(f->st);

	/* Over an empty directory. */
	assert_int_equal(store_mkdir(f->st, "empty", NULL), 0);
	assert_int_equal(store_rename(f->st, "e", STORE_ANY, "empty",
				      STORE_ANY, &v), 0);
	assert_int_equal(list_names(f->st, "empty", "sub,x,y"), 0);
	assert_int_equal(list_names(f->st, "", "d,empty,rec"), 0);
}

/* ---- directories --------------------------------------------------- */

static void test_mkdir_rmdir(void **state)
{
	struct fx *f = *state;
	struct store_stats s0, s1;
	struct store_stat s;
	uint64_t v;

	fx_open(f);
	assert_int_equal(store_stats(f->st, &s0), 0);
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_int_equal(store_mkdir(f->st, "d", NULL), -EEXIST);
	assert_int_equal(store_mkdir(f->st, "d/e", NULL), 0);
	assert_int_equal(store_mkdir(f->st, "nope/x", NULL), -ENOENT);
	put_str(f->st, "f", STORE_ABSENT, "file");
	assert_int_equal(store_mkdir(f->st, "f", NULL), -EEXIST);
	assert_int_equal(store_mkdir(f->st, "f/x", NULL), -ENOTDIR);
	assert_int_equal(store_stats(f->st, &s1), 0);
	assert_true(s1.dirs == s0.dirs + 2);

	assert_int_equal(store_rmdir(f->st, "d"), -ENOTEMPTY);
	assert_int_equal(store_rmdir(f->st, "d/e"), 0);
	put_str(f->st, "d/r", STORE_ABSENT, "r");
	assert_int_equal(store_rmdir(f->st, "d"), -ENOTEMPTY);
	assert_int_equal(store_delete(f->st, "d", STORE_ANY, &v), -EISDIR);
	assert_int_equal(store_delete(f->st, "d/r", 1, &v), 0);
	/* A tombstone inside does not keep a directory busy. */
	assert_int_equal(store_rmdir(f->st, "d"), 0);
	assert_int_equal(store_rmdir(f->st, "d"), -ENOENT);
	assert_int_equal(store_rmdir(f->st, "f"), -ENOTDIR);
	assert_int_equal(store_rmdir(f->st, ""), -EBUSY);
	assert_int_equal(store_stat(f->st, "d", &s), -ENOENT);

	/* The deleted record's line survives its directory. */
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_true(last_version(f->st, "d/r") == 2);
	fx_reopen(f);
	assert_int_equal(store_stat(f->st, "d", &s), 0);
	assert_true(S_ISDIR(s.meta.mode));
	assert_int_equal(store_stat(f->st, "d/e", &s), -ENOENT);
	assert_true(put_str(f->st, "d/r", STORE_ABSENT, "again") == 3);
}

static void test_list_sorted(void **state)
{
	struct fx *f = *state;
	static const char *names[] = { "m", "b", "aa", "a", "Z", "zz", "b1" };
	struct store_dirent *ents = NULL;
	size_t n = 0;
	uint64_t v;

	fx_open(f);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		put_str(f->st, names[i], STORE_ABSENT, names[i]);
	put_str(f->st, "m", 1, "m2");
	assert_int_equal(store_mkdir(f->st, "dir", NULL), 0);
	put_str(f->st, "dir/inner", STORE_ABSENT, "i");
	put_str(f->st, "gone", STORE_ABSENT, "g");
	assert_int_equal(store_delete(f->st, "gone", 1, &v), 0);

	/* Byte order, children only, no tombstones. */
	assert_int_equal(list_names(f->st, "", "Z,a,aa,b,b1,dir,m,zz"), 0);
	assert_int_equal(store_list(f->st, "", &ents, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ents[i].name, "dir") == 0) {
			assert_true(S_ISDIR(ents[i].mode));
		} else {
			assert_true(S_ISREG(ents[i].mode));
			assert_true(ents[i].version ==
				    (strcmp(ents[i].name, "m") ? 1u : 2u));
		}
	}
	store_list_free(ents, n);
	assert_int_equal(list_names(f->st, "dir", "inner"), 0);
	assert_int_equal(store_list(f->st, "m", &ents, &n), -ENOTDIR);
	assert_int_equal(store_list(f->st, "nope", &ents, &n), -ENOENT);
	assert_int_equal(store_list(f->st, "gone", &ents, &n), -ENOENT);
	fx_reopen(f);
	assert_int_equal(list_names(f->st, "", "Z,a,aa,b,b1,dir,m,zz"), 0);
}

/* ---- metadata ------------------------------------------------------ */

static int xattr_is(struct store *st, const char *key, const char *name,
		    const char *want)
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

static void check_meta(struct store *st, uint64_t version)
{
	struct store_stat s;
	char list[256];
	ssize_t n;

	assert_int_equal(store_stat(st, "r", &s), 0);
	assert_true(s.version == version);
	assert_int_equal(s.meta.mode, S_IFREG | 0600);
	assert_int_equal(s.meta.uid, 42);
	assert_int_equal(s.meta.gid, 5678);
	assert_int_equal(xattr_is(st, "r", "user.color", "green"), 0);
	assert_int_equal(xattr_is(st, "r", "user.empty", ""), 0);
	assert_int_equal(store_getxattr(st, "r", "user.gone", NULL, 0),
			 -ENODATA);
	/* listxattr: NUL-terminated names, any order. */
	n = store_listxattr(st, "r", NULL, 0);
	assert_int_equal(n, sizeof("user.color") + sizeof("user.empty"));
	assert_int_equal(store_listxattr(st, "r", list, sizeof(list)), n);
	assert_true((strcmp(list, "user.color") == 0 &&
		     strcmp(list + 11, "user.empty") == 0) ||
		    (strcmp(list, "user.empty") == 0 &&
		     strcmp(list + 11, "user.color") == 0));
	assert_int_equal(store_listxattr(st, "r", list, 3), -ERANGE);
	assert_int_equal(xattr_is(st, "d", "user.recfs.unchecked", "1"), 0);
	assert_true(last_version(st, "r") == version);
}

static void test_metadata(void **state)
{
	struct fx *f = *state;
	struct store_meta m = { .mode = S_IFREG | 0640, .uid = 1234,
				.gid = 5678, .atime_ns = 111, .mtime_ns = 222,
				.ctime_ns = 333 };
	struct store_meta m2 = { .mode = S_IFDIR | 0600, .uid = 42, .gid = 99,
				 .mtime_ns = 999 };
	struct store_stat s;
	char small[2];
	uint64_t v = 0;
	int64_t t0;

	fx_open(f);
	assert_int_equal(store_put(f->st, "r", STORE_ABSENT, "x", 1, &m, &v), 0);
	assert_int_equal(store_stat(f->st, "r", &s), 0);
	assert_int_equal(s.meta.mode, S_IFREG | 0640);
	assert_int_equal(s.meta.uid, 1234);
	assert_int_equal(s.meta.gid, 5678);
	assert_true(s.meta.atime_ns == 111 && s.meta.mtime_ns == 222 &&
		    s.meta.ctime_ns == 333);

	/* Each mask bit sets its field only; mode keeps the file type. */
	assert_int_equal(store_setmeta(f->st, "r", &m2, STORE_META_MODE), 0);
	assert_int_equal(store_setmeta(f->st, "r", &m2, STORE_META_UID), 0);
	assert_int_equal(store_setmeta(f->st, "r", &m2, STORE_META_MTIME), 0);
	assert_int_equal(store_stat(f->st, "r", &s), 0);
	assert_int_equal(s.meta.mode, S_IFREG | 0600);
	assert_int_equal(s.meta.uid, 42);
	assert_int_equal(s.meta.gid, 5678);
	assert_true(s.meta.mtime_ns == 999 && s.meta.atime_ns == 111);
	assert_true(s.version == 1);

	/* xattrs, with setxattr(2)'s flags and getxattr's size probe. */
	assert_int_equal(store_setxattr(f->st, "r", "user.color", "blue", 4, 0),
			 0);
	assert_int_equal(store_setxattr(f->st, "r", "user.color", "red", 3,
					XATTR_CREATE), -EEXIST);
	assert_int_equal(xattr_is(f->st, "r", "user.color", "blue"), 0);
	assert_int_equal(store_setxattr(f->st, "r", "user.new", "v", 1,
					XATTR_REPLACE), -ENODATA);
	assert_int_equal(store_getxattr(f->st, "r", "user.new", NULL, 0),
			 -ENODATA);
	assert_int_equal(store_setxattr(f->st, "r", "user.color", "green", 5,
					XATTR_REPLACE), 0);
	assert_int_equal(store_getxattr(f->st, "r", "user.color", small,
					sizeof(small)), -ERANGE);
	assert_int_equal(store_setxattr(f->st, "r", "user.gone", "1", 1,
					XATTR_CREATE), 0);
	assert_int_equal(store_setxattr(f->st, "r", "user.empty", "", 0, 0), 0);
	assert_int_equal(store_removexattr(f->st, "r", "user.gone"), 0);
	assert_int_equal(store_removexattr(f->st, "r", "user.gone"), -ENODATA);
	assert_int_equal(store_setxattr(f->st, "missing", "user.a", "1", 1, 0),
			 -ENOENT);
	assert_int_equal(store_setmeta(f->st, "missing", &m2, STORE_META_UID),
			 -ENOENT);
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_int_equal(store_setxattr(f->st, "d", "user.recfs.unchecked",
					"1", 1, 0), 0);
	check_meta(f->st, 1);
	fx_reopen(f);
	check_meta(f->st, 1);

	/* A new version keeps mode, owner and xattrs; it sets only the
	 * times (now, or meta's when given). */
	t0 = now_ns();
	assert_true(put_str(f->st, "r", 1, "y") == 2);
	assert_int_equal(store_stat(f->st, "r", &s), 0);
	assert_true(s.meta.mtime_ns >= t0);
	check_meta(f->st, 2);
	m.mtime_ns = 5555;
	m.ctime_ns = 6666;
	assert_int_equal(store_put(f->st, "r", 2, "z", 1, &m, &v), 0);
	assert_true(v == 3);
	assert_int_equal(store_stat(f->st, "r", &s), 0);
	assert_true(s.meta.mtime_ns == 5555);
	check_meta(f->st, 3);

	assert_int_equal(store_compact(f->st), 0);
	check_meta(f->st, 3);
	fx_reopen(f);
	check_meta(f->st, 3);
}

/* store_dir_xattrs() may say 0 only while no directory has xattrs:
 * a file's xattrs do not count; a directory's do, at once, after a
 * rename of the directory, and after a reopen (replay), a compaction's
 * included. */
static void test_dir_xattrs(void **state)
{
	struct fx *f = *state;

	fx_open(f);
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_true(put_str(f->st, "d/r", STORE_ABSENT, "x") == 1);
	assert_int_equal(store_setxattr(f->st, "d/r", "user.a", "1", 1, 0), 0);
	assert_int_equal(store_dir_xattrs(f->st), 0);
	fx_reopen(f);
	assert_int_equal(store_dir_xattrs(f->st), 0);
	assert_int_equal(store_setxattr(f->st, "d", "user.recfs.unchecked",
					"1", 1, 0), 0);
	assert_int_equal(store_dir_xattrs(f->st), 1);
	assert_int_equal(store_rename(f->st, "d", STORE_ANY, "e", STORE_ANY,
				      NULL), 0);
	assert_int_equal(store_dir_xattrs(f->st), 1);
	/* After a compaction the directory's xattrs are in its MKDIR. */
	assert_int_equal(store_compact(f->st), 0);
	fx_reopen(f);
	assert_int_equal(store_dir_xattrs(f->st), 1);
	assert_int_equal(store_getxattr(f->st, "e", "user.recfs.unchecked",
					NULL, 0), 1);
}

static void test_xattr_limits(void **state)
{
	struct fx *f = *state;
	char *big = calloc(1, STORE_XATTR_VALUE_MAX + 1);
	char name[32];
	int rc = 0, i;

	assert_non_null(big);
	fx_open(f);
	put_str(f->st, "r", STORE_ABSENT, "x");
	assert_int_equal(store_setxattr(f->st, "r", "user.big", big,
					STORE_XATTR_VALUE_MAX + 1, 0), -E2BIG);
	assert_int_equal(store_setxattr(f->st, "r", "user.max", big,
					STORE_XATTR_VALUE_MAX, 0), 0);
	assert_int_equal(store_getxattr(f->st, "r", "user.max", NULL, 0),
			 STORE_XATTR_VALUE_MAX);
	/* The per-key total is bounded: 17 maximal values exceed 1 MiB. */
	for (i = 0; i < 17; i++) {
		snprintf(name, sizeof(name), "user.v%d", i);
		rc = store_setxattr(f->st, "r", name, big,
				    STORE_XATTR_VALUE_MAX, 0);
		if (rc)
			break;
	}
	assert_true(rc == -E2BIG || rc == -ENOSPC);
	assert_true(i >= 14);
	snprintf(name, sizeof(name), "user.v%d", i);
	assert_int_equal(store_getxattr(f->st, "r", name, NULL, 0), -ENODATA);
	fx_reopen(f);
	assert_int_equal(store_getxattr(f->st, "r", "user.max", NULL, 0),
			 STORE_XATTR_VALUE_MAX);
	assert_int_equal(rec_str(f->st, "r", "x", 1), 0);
	free(big);
}

/* ---- names --------------------------------------------------------- */

static void test_names(void **state)
{
	struct fx *f = *state;
	static const char *bad[] = { "/a", "a/", "a//b", "..", "a/..",
				     "a/../b", ".", "a/./b", "/" };
	char name[300], key[STORE_KEY_MAX + 64], deep[STORE_KEY_MAX + 1];
	char comp[STORE_NAME_MAX + 1];
	struct store_stat s;
	uint64_t v;

	fx_open(f);
	assert_int_equal(store_mkdir(f->st, "a", NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = store_put(f->st, bad[i], STORE_ANY, "x", 1, NULL, &v);

		if (rc != -EINVAL)
			fail_msg("store_put(\"%s\") = %d, want -EINVAL", bad[i],
				 rc);
		assert_int_equal(store_stat(f->st, bad[i], &s), -EINVAL);
		assert_int_equal(store_mkdir(f->st, bad[i], NULL), -EINVAL);
	}
	assert_int_equal(store_last_version(f->st, "a/../b", &v), -EINVAL);

	memset(name, 'n', sizeof(name));
	name[STORE_NAME_MAX + 1] = 0; /* 256 bytes */
	assert_int_equal(store_put(f->st, name, STORE_ANY, "x", 1, NULL, &v),
			 -ENAMETOOLONG);
	assert_int_equal(store_mkdir(f->st, name, NULL), -ENAMETOOLONG);
	snprintf(key, sizeof(key), "a/%s", name);
	assert_int_equal(store_put(f->st, key, STORE_ANY, "x", 1, NULL, &v),
			 -ENAMETOOLONG);
	name[STORE_NAME_MAX] = 0; /* 255 bytes: fine */
	assert_true(put_str(f->st, name, STORE_ABSENT, "max") == 1);
	snprintf(key, sizeof(key), "a/%s", name);
	assert_true(put_str(f->st, key, STORE_ABSENT, "max") == 1);

	/* A whole key longer than STORE_KEY_MAX, each component legal. */
	memset(key, 0, sizeof(key));
	for (size_t len = 0; len <= STORE_KEY_MAX;) {
		memcpy(key + len, "a/", 2);
		len += 2;
	}
	strcat(key, "x");
	assert_true(strlen(key) > STORE_KEY_MAX);
	assert_int_equal(store_put(f->st, key, STORE_ANY, "x", 1, NULL, &v),
			 -ENAMETOOLONG);

	/* A key of exactly STORE_KEY_MAX bytes (the index's largest node):
	 * 15 directories of 255-byte names, and a 255-byte record name. */
	memset(comp, 'm', STORE_NAME_MAX);
	comp[STORE_NAME_MAX] = 0;
	deep[0] = 0;
	for (int d = 0; d < 15; d++) {
		strcat(deep, comp);
		assert_int_equal(store_mkdir(f->st, deep, NULL), 0);
		strcat(deep, "/");
	}
	strcat(deep, comp);
	assert_int_equal(strlen(deep), STORE_KEY_MAX);
	assert_true(put_str(f->st, deep, STORE_ABSENT, "deep") == 1);

	/* Other bytes are fine in names. */
	assert_true(put_str(f->st, "a/sp ace", STORE_ABSENT, "1") == 1);
	assert_true(put_str(f->st, "a/...", STORE_ABSENT, "1") == 1);
	assert_true(put_str(f->st, "a/.hidden", STORE_ABSENT, "1") == 1);
	fx_reopen(f);
	assert_int_equal(rec_str(f->st, "a/...", "1", 1), 0);
	assert_int_equal(rec_str(f->st, name, "max", 1), 0);
	assert_int_equal(rec_str(f->st, deep, "deep", 1), 0);
}

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
	/* Past inline_max: a spool file, and the memory's space back. */
	assert_int_equal(store_txn_write(t, data + 3000, 3000, 3000), 3000);
	assert_int_equal(spool_fds(f), 1);
	assert_true(reserved(f->st) == 0);
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
	assert_true(reserved(f->st) == 0);
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
	assert_int_equal(store_txn_truncate(t, 10), 0);
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

/* ---- history ------------------------------------------------------- */

/* Version i of "k": small (inline) when odd, 1000 bytes (a blob with
 * inline_max 256) when even, so kept versions of both kinds exist. */
static size_t version_content(uint64_t i, uint8_t *buf)
{
	if (i % 2)
		return (size_t)snprintf((char *)buf, 32, "v%" PRIu64, i);
	fill(buf, 1000, i);
	return 1000;
}

static void check_kept(struct store *st, const char *blobs)
{
	struct store_hist *h = NULL;
	struct store_snap *snap = NULL;
	struct store_stat s;
	uint8_t want[1000], got[1100], hh[16];
	size_t n = 0, len;

	assert_int_equal(store_history(st, "k", &h, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		uint64_t ver = 8 + i;

		assert_true(h[i].version == ver);
		len = version_content(ver, want);
		hash128(want, len, hh);
		assert_true(h[i].size == len);
		assert_memory_equal(h[i].hash, hh, 16);
		assert_int_equal(store_snap_open(st, "k", ver, &snap), 0);
		store_snap_stat(snap, &s);
		assert_true(s.version == ver && s.size == len);
		assert_int_equal(store_snap_read(snap, got, sizeof(got), 0),
				 (ssize_t)len);
		assert_memory_equal(got, want, len);
		store_snap_close(snap);
	}
	free(h);
	for (uint64_t ver = 1; ver < 8; ver++)
		assert_int_equal(store_snap_open(st, "k", ver, &snap), -ENOENT);
	assert_int_equal(store_snap_open(st, "k", 11, &snap), -ENOENT);
	assert_int_equal(store_snap_open(st, "k", 0, &snap), 0);
	store_snap_stat(snap, &s);
	assert_true(s.version == 10);
	store_snap_close(snap);
	/* Blobs of forgotten versions are removed: only 8 and 10 remain
	 * (checked when the caller has just compacted or reopened). */
	if (blobs)
		assert_int_equal(count_files(blobs), 2);
}

static void test_keep_versions(void **state)
{
	struct fx *f = *state;
	struct store_hist *h = NULL;
	uint8_t buf[1000];
	char blobs[160];
	size_t n = 0;
	uint64_t v = 0;

	f->o.keep_versions = 3;
	f->o.inline_max = 256;
	f->o.compact_ratio = -1;
	fx_open(f);
	snprintf(blobs, sizeof(blobs), "%s/blobs", f->dir);
	for (uint64_t i = 1; i <= 10; i++)
		assert_true(put_buf(f->st, "k", i - 1, buf,
				    version_content(i, buf)) == i);
	check_kept(f->st, NULL);
	fx_reopen(f);
	check_kept(f->st, NULL);
	assert_int_equal(store_compact(f->st), 0);
	check_kept(f->st, blobs);
	fx_reopen(f);
	check_kept(f->st, blobs);

	/* History works for a deleted key, and the line goes on. */
	assert_int_equal(store_delete(f->st, "k", 10, &v), 0);
	assert_int_equal(store_history(f->st, "k", &h, &n), 0);
	assert_true(n >= 1);
	free(h);
	fx_reopen(f);
	assert_int_equal(store_history(f->st, "k", &h, &n), 0);
	free(h);
	assert_int_equal(store_history(f->st, "never", &h, &n), -ENOENT);
	assert_true(put_str(f->st, "k", STORE_ABSENT, "back") == 12);
}

static void test_tombstone_limit(void **state)
{
	struct fx *f = *state;
	enum { N = 6 };
	uint64_t tomb[N], lv[N], vfloor, forgotten = 0, vnew;
	struct store_stats ss;
	char key[16];

	f->o.tombstone_limit = 2;
	f->o.compact_ratio = -1;
	fx_open(f);
	/* t<i> gets i+2 versions then a tombstone at i+3: lines of
	 * different lengths, deleted oldest first. */
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "t%d", i);
		for (int j = 0; j < i + 2; j++)
			put_str(f->st, key, (uint64_t)j, "x");
		assert_int_equal(store_delete(f->st, key, (uint64_t)i + 2,
					      &tomb[i]), 0);
		assert_true(tomb[i] == (uint64_t)i + 3);
	}
	put_str(f->st, "live", STORE_ABSENT, "l");
	assert_int_equal(store_compact(f->st), 0);
	assert_int_equal(store_stats(f->st, &ss), 0);
	assert_true(ss.tombstones <= 2);
	vfloor = ss.floor;
	assert_true(vfloor > 0);

	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "t%d", i);
		lv[i] = last_version(f->st, key);
		if (lv[i] == 0) { /* forgotten: the floor must cover it */
			forgotten++;
			assert_true(vfloor >= tomb[i]);
		} else {
			assert_true(lv[i] == tomb[i]);
		}
	}
	assert_true(forgotten >= N - 2);
	assert_int_equal(rec_str(f->st, "live", "l", 1), 0);

	/* The floor and what is remembered survive restart. */
	fx_reopen(f);
	assert_int_equal(store_stats(f->st, &ss), 0);
	assert_true(ss.floor == vfloor);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "t%d", i);
		assert_true(last_version(f->st, key) == lv[i]);
	}

	/* Re-created keys never repeat a version; forgotten ones and new
	 * ones start above the floor. */
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "t%d", i);
		vnew = put_str(f->st, key, STORE_ABSENT, "again");
		assert_true(vnew > tomb[i]);
		if (lv[i] == 0)
			assert_true(vnew > vfloor);
		else
			assert_true(vnew == tomb[i] + 1);
	}
	vnew = put_str(f->st, "brand-new", STORE_ABSENT, "n");
	assert_true(vnew > vfloor);
	assert_true(put_str(f->st, "live", 1, "l2") == 2);

	/* Many more deletes and compactions: the floor only rises. */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			snprintf(key, sizeof(key), "t%d", i);
			assert_int_equal(store_delete(f->st, key, STORE_ANY,
						      &tomb[i]), 0);
		}
		assert_int_equal(store_compact(f->st), 0);
		assert_int_equal(store_stats(f->st, &ss), 0);
		assert_true(ss.floor >= vfloor);
		vfloor = ss.floor;
		fx_reopen(f);
		for (int i = 0; i < N; i++) {
			snprintf(key, sizeof(key), "t%d", i);
			vnew = put_str(f->st, key, STORE_ABSENT, "again");
			assert_true(vnew > tomb[i]);
		}
	}
}

/* ---- read-only, snapshots ------------------------------------------ */

static void test_read_only(void **state)
{
	struct fx *f = *state;
	struct store_meta m = { .mode = 0600 };
	struct store_txn *t = NULL;
	struct store_dirent *ents = NULL;
	size_t n = 0;
	uint64_t v = 0;

	fx_open(f);
	put_str(f->st, "k", STORE_ABSENT, "data");
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_int_equal(store_setxattr(f->st, "k", "user.a", "1", 1, 0), 0);
	fx_close(f);

	f->o.read_only = 1;
	fx_open(f);
	assert_int_equal(rec_str(f->st, "k", "data", 1), 0);
	assert_int_equal(xattr_is(f->st, "k", "user.a", "1"), 0);
	assert_int_equal(store_list(f->st, "", &ents, &n), 0);
	assert_int_equal(n, 2);
	store_list_free(ents, n);

	assert_int_equal(store_put(f->st, "k", 1, "x", 1, NULL, &v), -EROFS);
	assert_int_equal(store_put(f->st, "n", STORE_ABSENT, "x", 1, NULL, &v),
			 -EROFS);
	assert_int_equal(store_truncate(f->st, "k", 1, 0, &v), -EROFS);
	assert_int_equal(store_delete(f->st, "k", 1, &v), -EROFS);
	assert_int_equal(store_append(f->st, "k", "x", 1, &v), -EROFS);
	assert_int_equal(store_rename(f->st, "k", 1, "k2", STORE_ABSENT, &v),
			 -EROFS);
	assert_int_equal(store_mkdir(f->st, "d2", NULL), -EROFS);
	assert_int_equal(store_rmdir(f->st, "d"), -EROFS);
	assert_int_equal(store_setmeta(f->st, "k", &m, STORE_META_MODE),
			 -EROFS);
	assert_int_equal(store_setxattr(f->st, "k", "user.b", "1", 1, 0),
			 -EROFS);
	assert_int_equal(store_removexattr(f->st, "k", "user.a"), -EROFS);
	assert_int_equal(store_txn_begin(f->st, "k", 1, &t), -EROFS);
	assert_int_equal(store_compact(f->st), -EROFS);
	assert_int_equal(rec_str(f->st, "k", "data", 1), 0);
	fx_close(f);

	/* And nothing leaked to disk. */
	f->o.read_only = 0;
	fx_open(f);
	assert_int_equal(rec_str(f->st, "k", "data", 1), 0);
	assert_int_equal(xattr_is(f->st, "k", "user.a", "1"), 0);
	assert_int_equal(gone(f->st, "n", 0), 0);
	assert_true(put_str(f->st, "k", 1, "more") == 2);
}

/* Read a whole snapshot and compare with @want. */
static int snap_is(struct store_snap *s, const void *want, size_t len,
		   uint64_t version)
{
	struct store_stat st;
	uint8_t *buf = malloc(len + 1);
	ssize_t n;
	int bad;

	if (!buf)
		return -1;
	store_snap_stat(s, &st);
	n = store_snap_read(s, buf, len + 1, 0);
	bad = st.version != version || st.size != len || n != (ssize_t)len ||
	      memcmp(buf, want, len) != 0;
	if (bad)
		print_error("snapshot: version %" PRIu64 " size %" PRIu64
			    " read %zd; want %" PRIu64 "/%zu\n",
			    st.version, st.size, n, version, len);
	free(buf);
	return bad ? -1 : 0;
}

static void test_snapshot_survives(void **state)
{
	struct fx *f = *state;
	enum { BIG = 100000 };
	uint8_t *old_big = malloc(BIG), *new_big = malloc(BIG);
	struct store_snap *s1 = NULL, *s2 = NULL;
	uint64_t v;

	assert_non_null(old_big);
	assert_non_null(new_big);
	fill(old_big, BIG, 1);
	fill(new_big, BIG, 2);
	/* Keep one version only, so nothing but the snapshot pins the old
	 * bytes; small segments so compaction rewrites and deletes them. */
	f->o.keep_versions = 1;
	f->o.inline_max = 1024;
	f->o.segment_size = 64 << 10;
	f->o.compact_ratio = -1;
	fx_open(f);
	put_str(f->st, "small", STORE_ABSENT, "old small content");
	put_buf(f->st, "big", STORE_ABSENT, old_big, BIG);
	assert_int_equal(store_snap_open(f->st, "small", 0, &s1), 0);
	assert_int_equal(store_snap_open(f->st, "big", 1, &s2), 0);

	put_str(f->st, "small", 1, "new");
	put_buf(f->st, "big", 1, new_big, BIG);
	/* Filler to roll segments, then delete big and compact twice. */
	for (int i = 0; i < 200; i++) {
		char val[600];

		memset(val, 'f', sizeof(val) - 1);
		val[sizeof(val) - 1] = 0;
		put_str(f->st, "filler", STORE_ANY, val);
	}
	assert_int_equal(store_delete(f->st, "big", 2, &v), 0);
	assert_int_equal(store_compact(f->st), 0);
	assert_int_equal(store_compact(f->st), 0);

	assert_int_equal(snap_is(s1, "old small content", 17, 1), 0);
	assert_int_equal(snap_is(s2, old_big, BIG, 1), 0);
	assert_int_equal(rec_str(f->st, "small", "new", 2), 0);
	store_snap_close(s1);
	store_snap_close(s2);

	/* With the snapshots gone, compaction may drop the old bytes and
	 * the store stays consistent. */
	assert_int_equal(store_compact(f->st), 0);
	assert_int_equal(rec_str(f->st, "small", "new", 2), 0);
	fx_reopen(f);
	assert_int_equal(rec_str(f->st, "small", "new", 2), 0);
	assert_int_equal(gone(f->st, "big", 3), 0);
	free(old_big);
	free(new_big);
}

static void test_hash_hex(void **state)
{
	uint8_t h[16];
	char hex[33], want[33];

	(void)state;
	hash128("hello", 5, h);
	for (int i = 0; i < 16; i++)
		snprintf(want + 2 * i, 3, "%02x", h[i]);
	memset(hex, 'X', sizeof(hex));
	store_hash_hex(h, hex);
	assert_string_equal(hex, want);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_creates_dir),
		T(test_lock),
		T(test_put_get_stat),
		T(test_symlink),
		T(test_versions_per_commit),
		T(test_create_only),
		T(test_stale_expect),
		T(test_store_any),
		T(test_delete_tombstone),
		T(test_persist_reopen_compact),
		T(test_rename_record),
		T(test_rename_recent),
		T(test_rename_dir),
		T(test_mkdir_rmdir),
		T(test_list_sorted),
		T(test_metadata),
		T(test_xattr_limits),
		T(test_dir_xattrs),
		T(test_names),
		T(test_truncate),
		T(test_append),
		T(test_txn_one_version),
		T(test_txn_commit_nowait),
		T(test_snap_keeps_version),
		T(test_defer_window),
		T(test_txn_abort),
		T(test_txn_from_current),
		T(test_txn_large_blob),
		T(test_txn_crosses_inline_max),
		T(test_keep_versions),
		T(test_tombstone_limit),
		T(test_read_only),
		T(test_snapshot_survives),
		cmocka_unit_test(test_hash_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

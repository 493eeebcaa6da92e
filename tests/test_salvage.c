/* test_salvage.c - store_salvage() on real stores whose blobs were lost.
 *
 * Each test builds a store through store.h, loses blob files the way an
 * old crash or a bad disk would (removed, cut short), and checks that
 * salvage drops exactly the lost versions, says so, leaves everything
 * else readable, and that the store then opens read-write and passes
 * store_fsck(). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "store_testlib.h"

#define BIG 100000 /* above inline_max: stored as a blob */

struct fx {
	char tmp[64];
	char dir[96];
	char blob[4][160]; /* blob files: big v1, v2, v3; hist v1 */
	char *out;         /* the last report */
};

static char *contents(char c)
{
	static char buf[4][BIG];
	int i = c - 'a';

	memset(buf[i], c, BIG);
	return buf[i];
}

/* The blob file with the highest id (ids only grow). */
static void newest_blob(const struct fx *f, char *path, size_t len)
{
	char bdir[128], best[32] = "";
	struct dirent *de;
	DIR *d;

	snprintf(bdir, sizeof(bdir), "%s/blobs", f->dir);
	d = opendir(bdir);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 16 && strcmp(de->d_name, best) > 0)
			strcpy(best, de->d_name);
	closedir(d);
	assert_true(best[0]);
	snprintf(path, len, "%s/%s", bdir, best);
}

static struct store *open_rw(const struct fx *f, int *rc)
{
	struct store_opts o = { .compact_ratio = -1, .inline_max = 1024 };
	struct store *st = NULL;

	*rc = store_open(f->dir, &o, &st);
	return *rc == 0 ? st : NULL;
}

static int run(struct fx *f, int (*fn)(const char *, FILE *))
{
	size_t len = 0;
	FILE *m = tl_report_begin(&f->out, &len);

	return tl_report_end(m, fn(f->dir, m));
}

static int fsck_check(const char *dir, FILE *out)
{
	return store_fsck(dir, 0, out);
}

static void expect_in(const struct fx *f, const char *needle)
{
	tl_expect_in(f->out, needle);
}

/* big: v1, v2, v3 blobs (v3 current); hist: v1 blob, v2 inline;
 * small: v1 inline; gone: deleted.  Closed. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store *st;
	uint64_t v = 0, h = 0, s = 0;
	int rc;

	if (!f)
		return -1;
	strcpy(f->tmp, "/tmp/test_salvage.XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->tmp);
	st = open_rw(f, &rc);
	if (!st)
		return -1;
	if (store_mkdir(st, "d", NULL) < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (store_put(st, "d/big", i ? v : STORE_ABSENT,
			      contents((char)('a' + i)), BIG, NULL, &v) < 0)
			return -1;
		newest_blob(f, f->blob[i], sizeof(f->blob[i]));
	}
	if (store_put(st, "hist", STORE_ABSENT, contents('d'), BIG, NULL,
		      &h) < 0)
		return -1;
	newest_blob(f, f->blob[3], sizeof(f->blob[3]));
	if (store_put(st, "hist", h, "inline", 6, NULL, &h) < 0 ||
	    store_put(st, "small", STORE_ABSENT, "s", 1, NULL, &s) < 0 ||
	    store_put(st, "gone", STORE_ABSENT, "g", 1, NULL, &s) < 0 ||
	    store_delete(st, "gone", s, &s) < 0 || store_close(st) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	return tl_fixture_end(f->tmp, f->out, f);
}

/* Version @version of @key reads back as @len bytes equal to @want. */
static void expect_version(struct store *st, const char *key,
			   uint64_t version, const char *want, size_t len)
{
	struct store_snap *s;
	char *buf = malloc(len + 1);

	assert_non_null(buf);
	assert_int_equal(store_snap_open(st, key, version, &s), 0);
	assert_int_equal(store_snap_read(s, buf, len + 1, 0), (ssize_t)len);
	assert_memory_equal(buf, want, len);
	store_snap_close(s);
	free(buf);
}

/* ---- tests ----------------------------------------------------------- */

/* Nothing lost: salvage changes nothing and says so. */
static void test_nothing_lost(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, store_salvage), 0);
	expect_in(f, "salvage: 0 versions dropped");
	assert_int_equal(run(f, fsck_check), 0);
}

/* The current version of a record lost: the record is deleted at the
 * next version, its history stays; a history version lost: forgotten,
 * and its cut-short file kept in lost+found/. */
static void test_lost_current_and_history(void **state)
{
	struct fx *f = *state;
	struct store_hist *h;
	struct store_stat sb;
	struct store *st;
	uint64_t last = 0;
	char kept[256];
	struct stat ks;
	size_t n;
	int rc;

	assert_int_equal(unlink(f->blob[2]), 0);     /* big v3: current */
	assert_int_equal(truncate(f->blob[3], 10), 0); /* hist v1: history */
	st = open_rw(f, &rc);
	assert_null(st);
	assert_int_equal(rc, -EUCLEAN); /* what salvage is for */

	assert_int_equal(run(f, store_salvage), 2);
	expect_in(f, "d/big v3: content lost (blobs/");
	expect_in(f, " missing); the record is deleted (v4), its older "
		     "versions stay in its history");
	expect_in(f, "hist v1: content lost (blobs/");
	expect_in(f, " of the wrong size); dropped from the history; the "
		     "blob is kept as lost+found/");
	expect_in(f, "salvage: 2 versions dropped");
	assert_int_equal(run(f, fsck_check), 0);
	expect_in(f, ": clean\n");

	snprintf(kept, sizeof(kept), "%s/lost+found/%s", f->dir,
		 strrchr(f->blob[3], '/') + 1);
	assert_int_equal(stat(kept, &ks), 0);
	assert_int_equal(ks.st_size, 10);
	assert_int_equal(access(f->blob[3], F_OK), -1);

	st = open_rw(f, &rc);
	assert_non_null(st);
	assert_int_equal(store_stat(st, "d/big", &sb), -ENOENT);
	assert_int_equal(store_last_version(st, "d/big", &last), 0);
	assert_int_equal(last, 4);
	assert_int_equal(store_history(st, "d/big", &h, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(h[0].version, 1);
	assert_int_equal(h[1].version, 2);
	free(h);
	expect_version(st, "d/big", 1, contents('a'), BIG);
	expect_version(st, "d/big", 2, contents('b'), BIG);
	/* A writer based on the lost version is refused; a create works. */
	assert_int_equal(store_put(st, "d/big", 3, "x", 1, NULL, &last),
			 -EAGAIN);
	assert_int_equal(store_put(st, "d/big", STORE_ABSENT, "x", 1, NULL,
				   &last), 0);
	assert_int_equal(last, 5);

	assert_int_equal(store_history(st, "hist", &h, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].version, 2);
	free(h);
	expect_version(st, "hist", 0, "inline", 6);
	expect_version(st, "small", 0, "s", 1);
	assert_int_equal(store_stat(st, "gone", &sb), -ENOENT);
	assert_int_equal(store_last_version(st, "gone", &last), 0);
	assert_int_equal(last, 2);
	assert_int_equal(store_close(st), 0);

	/* Nothing is left to salvage. */
	assert_int_equal(run(f, store_salvage), 0);
	assert_int_equal(run(f, fsck_check), 0);
}

/* Every version of a record lost: it is deleted with no history; the
 * directory above it stays. */
static void test_all_versions_lost(void **state)
{
	struct fx *f = *state;
	struct store_hist *h;
	struct store_stat sb;
	struct store *st;
	size_t n = 9;
	int rc;

	for (int i = 0; i < 3; i++)
		assert_int_equal(unlink(f->blob[i]), 0);
	assert_int_equal(run(f, store_salvage), 3);
	expect_in(f, "d/big v1: content lost");
	expect_in(f, "d/big v2: content lost");
	expect_in(f, "d/big v3: content lost");
	assert_int_equal(run(f, fsck_check), 0);
	st = open_rw(f, &rc);
	assert_non_null(st);
	assert_int_equal(store_stat(st, "d/big", &sb), -ENOENT);
	rc = store_history(st, "d/big", &h, &n);
	if (rc == 0) {
		assert_int_equal(n, 0);
		free(h);
	} else {
		assert_int_equal(rc, -ENOENT);
	}
	assert_int_equal(store_stat(st, "d", &sb), 0);
	assert_true(S_ISDIR(sb.meta.mode));
	assert_int_equal(store_close(st), 0);
}

/* Other damage is not salvage's to mend: it refuses and changes nothing
 * (the segment's bytes, and the blobs of the versions it would drop). */
static void test_refuses_other_damage(void **state)
{
	struct fx *f = *state;
	char seg[400], *before, *after;
	size_t blen, alen;
	struct dirent *de;
	DIR *d = opendir(f->dir);
	int fd, rc;

	assert_non_null(d);
	seg[0] = 0;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".seg") && !seg[0])
			snprintf(seg, sizeof(seg), "%s/%s", f->dir, de->d_name);
	closedir(d);
	assert_true(seg[0]);
	/* Bytes in the middle of the first segment's entries. */
	fd = open(seg, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xff\xff\xff\xff", 4, 200), 4);
	close(fd);
	assert_int_equal(unlink(f->blob[2]), 0);
	before = (char *)tl_slurp(seg, &blen);
	rc = run(f, store_salvage);
	if (rc >= 0)
		fail_msg("salvage returned %d:\n%s", rc, f->out);
	expect_in(f, "cannot open to salvage");
	expect_in(f, "corrupt entry at offset");
	after = (char *)tl_slurp(seg, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	assert_int_equal(access(f->blob[0], F_OK), 0);
	assert_int_equal(access(f->blob[3], F_OK), 0);
	free(before);
	free(after);
}

/* lost+found/ a symbolic link to a directory elsewhere: a blob of the
 * wrong size was moved through it, out of the store (by root's recctl
 * on a user's store, into any directory the user named), until
 * 2026-12-07.  Salvage now refuses before it changes anything. */
static void test_lost_found_symlink(void **state)
{
	struct fx *f = *state;
	char lf[160], away[96];
	struct store *st;
	DIR *d;
	int rc, n = 0;

	snprintf(away, sizeof(away), "%s/away", f->tmp);
	assert_int_equal(mkdir(away, 0700), 0);
	snprintf(lf, sizeof(lf), "%s/lost+found", f->dir);
	assert_int_equal(symlink(away, lf), 0);
	assert_int_equal(truncate(f->blob[3], 10), 0); /* hist v1 */
	rc = run(f, store_salvage);
	if (rc >= 0)
		fail_msg("salvage returned %d:\n%s", rc, f->out);
	expect_in(f, "lost+found");
	tl_expect_not_in(f->out, "dropped from the history");
	d = opendir(away);
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	assert_int_equal(n, 2); /* . and .. */
	assert_int_equal(access(f->blob[3], F_OK), 0);
	st = open_rw(f, &rc);
	assert_null(st);
	assert_int_equal(rc, -EUCLEAN); /* still for salvage */
}

/* A store in use is left alone. */
static void test_in_use(void **state)
{
	struct fx *f = *state;
	struct store *st;
	int rc;

	st = open_rw(f, &rc);
	assert_non_null(st);
	assert_int_equal(run(f, store_salvage), -EWOULDBLOCK);
	assert_int_equal(store_close(st), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_nothing_lost),         T(test_lost_current_and_history),
		T(test_all_versions_lost),    T(test_refuses_other_damage),
		T(test_in_use),               T(test_lost_found_symlink),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_oom.c - the store when memory runs out.  A workload of every kind
 * of change is run with the Nth allocation the store makes failing, for
 * every N the workload reaches: once (a transient failure) and from
 * then on (memory stays short, so that error paths that allocate fail
 * too).  After each step:
 * - the call returned 0 or a negative errno (and nothing crashed: make
 *   check runs this under ASan and UBSan, which also find leaks);
 * - a call that failed changed nothing that a reader can see (every
 *   key's kind, version, content hash and xattrs, compared as a dump);
 * and at the end, with memory back, the store closes, reopens to the
 * very state the live store showed (a change that reported failure was
 * not committed to the log behind the caller's back, and one that
 * reported success is there), and passes fsck.  Opening that store is
 * then run the same way: the open fails cleanly or serves exactly that
 * state.
 *
 * The store's allocations are counted by wrapping its calls at link
 * time (-Wl,--wrap=malloc,... in the Makefile: only the objects linked
 * statically, libstore.a and this file, are affected, not libc's own
 * allocations inside it). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"
#include "store_testlib.h"

/* ---- Allocations that fail on purpose -------------------------------- */

/* Between oom_arm and oom_off allocations are counted (from 1), and the
 * one numbered oom_at fails (none if 0), with oom_sticky every one after
 * it too. */
static atomic_long oom_at, oom_count;
static atomic_int oom_armed, oom_sticky, oom_paused;

static void oom_arm(long at, int sticky)
{
	atomic_store(&oom_count, 0);
	atomic_store(&oom_sticky, sticky);
	atomic_store(&oom_at, at);
	atomic_store(&oom_armed, 1);
}

static void oom_off(void)
{
	atomic_store(&oom_armed, 0);
}

/* A dump or a check made between steps allocates without counting. */
static void oom_pause(int on)
{
	atomic_store(&oom_paused, on);
}

static int oom_now(size_t size)
{
	long at = atomic_load(&oom_at), n;

	(void)size; /* every allocation counts, whatever its size */
	if (!atomic_load(&oom_armed) || atomic_load(&oom_paused))
		return 0;
	n = atomic_fetch_add(&oom_count, 1) + 1;
	return at && (n == at || (n > at && atomic_load(&oom_sticky)));
}

#include "oom_wrap.h"

/* ---- What a reader sees, as text ------------------------------------- */

struct dump {
	char *s;
	size_t len, cap;
};

static void dump_add(struct dump *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(d->s + d->len, d->cap - d->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (d->len + (size_t)n < d->cap)
			break;
		d->cap = (d->cap + (size_t)n) * 2;
		d->s = realloc(d->s, d->cap);
		assert_non_null(d->s);
	}
	d->len += (size_t)n;
}

static void dump_key(struct store *st, struct dump *d, const char *key)
{
	struct store_stat s;
	char names[1024], hex[33], val[256];
	ssize_t nl;

	assert_int_equal(store_stat(st, key, &s), 0);
	store_hash_hex(s.hash, hex);
	dump_add(d, "%s %o v%" PRIu64 " %" PRIu64 " %s", key, s.meta.mode,
		 s.version, s.size, S_ISDIR(s.meta.mode) ? "-" : hex);
	nl = store_listxattr(st, key, names, sizeof(names));
	assert_true(nl >= 0);
	for (ssize_t i = 0; i < nl; i += (ssize_t)strlen(names + i) + 1) {
		ssize_t vl = store_getxattr(st, key, names + i, val,
					    sizeof(val) - 1);
		assert_true(vl >= 0);
		val[vl] = 0;
		dump_add(d, " %s=%s", names + i, val);
	}
	dump_add(d, "\n");
}

static void dump_tree(struct store *st, struct dump *d, const char *dir)
{
	struct store_dirent *e;
	char key[256];
	size_t n;

	assert_int_equal(store_list(st, dir, &e, &n), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s%s%s", dir, *dir ? "/" : "",
			 e[i].name);
		dump_key(st, d, key);
		if (S_ISDIR(e[i].mode))
			dump_tree(st, d, key);
	}
	store_list_free(e, n);
}

/* The whole store as a reader sees it (malloc'ed; faults paused), or
 * NULL if the store refuses reads (-EIO: a commit failed half-applied,
 * until it is reopened). */
static char *dump_store(struct store *st)
{
	struct dump d = { NULL, 0, 0 };
	struct store_stat sb;

	if (store_stat(st, "", &sb) == -EIO) {
		/* Refused too, and still setting its out value, as store.h
		 * says it always does. */
		uint64_t v = 77;
		assert_int_equal(store_last_version(st, "a", &v), -EIO);
		assert_true(v == 0);
		return NULL;
	}
	oom_pause(1);
	d.cap = 256;
	d.s = malloc(d.cap);
	assert_non_null(d.s);
	d.s[0] = 0;
	dump_tree(st, &d, "");
	oom_pause(0);
	return d.s;
}

/* ---- The workload ---------------------------------------------------- */

#define BIG (96 * 1024) /* above inline_max: a blob */

static char big[BIG];
static FILE *quiet; /* fsck's report when it finds nothing */

/* One staged change: begin (emptied with @truncate, else from the
 * current content, copied lazily at the first write), write @len bytes
 * at its end, commit on @expect. */
static int staged(struct store *st, const char *key, int truncate,
		  const void *buf, size_t len, uint64_t expect)
{
	struct store_txn *t;
	uint64_t v;
	ssize_t w;
	int rc = store_txn_begin(st, key, truncate, &t);

	if (rc < 0)
		return rc;
	w = store_txn_write(t, buf, len, store_txn_size(t));
	if (w != (ssize_t)len) {
		store_txn_abort(t);
		return w < 0 ? (int)w : -EIO;
	}
	return store_txn_commit(t, expect, NULL, 0, &v);
}

/* A read that must not change anything, even when it fails. */
static int read_all(struct store *st, const char *key)
{
	struct store_hist *h = NULL;
	struct store_snap *s = NULL;
	char *buf = NULL, tmp[64];
	size_t len, n;
	int rc = store_get(st, key, &buf, &len, NULL);

	free(buf);
	if (rc == 0)
		rc = store_history(st, key, &h, &n);
	free(h);
	if (rc == 0)
		rc = store_snap_open(st, key, 0, &s);
	if (rc == 0) {
		ssize_t r = store_snap_read(s, tmp, sizeof(tmp), 0);
		store_snap_close(s);
		rc = r < 0 ? (int)r : 0;
	}
	return rc;
}

static int step(struct store *st, int i)
{
	static const struct store_meta dir = { .mode = S_IFDIR | 0755 };
	struct store_meta m = { .mode = 0600 };
	uint64_t v;

	switch (i) {
	case 0: return store_put(st, "a", STORE_ABSENT, "alpha", 5, NULL, &v);
	case 1: return store_put(st, "a", 1, "alpha two", 9, NULL, &v);
	case 2: return staged(st, "b", 1, big, sizeof(big), STORE_ABSENT);
	case 3: return store_setxattr(st, "a", "user.color", "red", 3, 0);
	case 4: return store_mkdir(st, "d", &dir);
	case 5: return store_put(st, "d/e", STORE_ABSENT, "eee", 3, NULL, &v);
	case 6: return store_rename(st, "a", 2, "c", STORE_ABSENT, &v);
	case 7: return store_rename(st, "d", STORE_ANY, "f", STORE_ANY, &v);
	case 8: return store_append(st, "c", "+tail", 5, &v);
	case 9: return staged(st, "b", 0, "!", 1, STORE_ANY);
	case 10: return store_truncate(st, "f/e", STORE_ANY, 1, &v);
	case 11: return store_setmeta(st, "c", &m, STORE_META_MODE);
	case 12: return store_removexattr(st, "c", "user.color");
	case 13: return read_all(st, "b");
	case 14: return store_delete(st, "b", STORE_ANY, &v);
	case 15: return store_put(st, "b", STORE_ABSENT, "again", 5, NULL, &v);
	case 16: return store_compact(st);
	case 17: return store_rmdir(st, "f");  /* not empty: refused */
	case 18: return store_delete(st, "f/e", STORE_ANY, &v);
	case 19: return store_rmdir(st, "f");
	/* c's line grows: its versions move from inline to an array that
	 * grows, then the oldest fall out (keep_versions 4 here). */
	case 20: case 21: case 22: case 23: case 24:
		return store_put(st, "c", STORE_ANY, "more", 4, NULL, &v);
	case 25: return store_rename(st, "b", STORE_ANY, "c", STORE_ANY, &v);
	case 26: return store_sync(st);
	default: return 1; /* done */
	}
}

/* ---- The runs -------------------------------------------------------- */

/* Every problem is counted and the first few are printed, so that one
 * run shows them all; the test fails at its end if there were any. */
static int problems;

#define problem(...)                                                     \
	do {                                                             \
		if (problems++ < 12)                                     \
			print_error(__VA_ARGS__);                        \
	} while (0)

struct run {
	int sync_always; /* every commit durable: the group sync's paths */
	char tmp[64], dir[96], err[512];
	struct store_opts o;
	struct store *st;
};

static void run_open(struct run *r)
{
	int rc;

	memset(&r->o, 0, sizeof(r->o));
	r->o.compact_ratio = -1; /* no compactor thread: counts repeat */
	r->o.segment_size = 1024; /* so that the log rolls often */
	r->o.keep_versions = 4;
	r->o.sync_always = r->sync_always;
	r->o.errbuf = r->err;
	r->o.errlen = sizeof(r->err);
	rc = store_open(r->dir, &r->o, &r->st);
	if (rc != 0)
		fail_msg("store_open = %d: %s", rc, r->err);
}

static void run_new(struct run *r)
{
	strcpy(r->tmp, "/tmp/recfs-test-oom-XXXXXX");
	assert_non_null(mkdtemp(r->tmp));
	snprintf(r->dir, sizeof(r->dir), "%s/store", r->tmp);
	run_open(r);
}

static void run_end(struct run *r)
{
	if (r->st)
		assert_int_equal(store_close(r->st), 0);
	r->st = NULL;
	tl_rm_tree(r->tmp);
}

/* Run the workload with allocation @at failing (0: none).  *@allocs gets
 * how many allocations it made; *@failed how many steps failed.  The
 * store is closed, reopened and checked; its final dump is returned. */
static char *workload(struct run *r, long at, int sticky, long *allocs,
		      int *failed)
{
	char *before, *after, *live, *again;
	int i, rc;

	*failed = 0;
	before = dump_store(r->st);
	assert_non_null(before);
	oom_arm(at, sticky);
	for (i = 0; (rc = step(r->st, i)) != 1; i++) {
		after = dump_store(r->st);
		if (rc > 0)
			problem("oom %ld%s: step %d returned %d\n", at,
				 sticky ? "+" : "", i, rc);
		if (rc == 0 && !after)
			problem("oom %ld%s: step %d passed, and the store "
				"refuses reads\n", at, sticky ? "+" : "", i);
		if (rc < 0)
			(*failed)++;
		/* A failed step shows what was there before, or nothing
		 * at all (then the store refuses reads until reopened). */
		if (rc < 0 && after && strcmp(before, after) != 0)
			problem("oom %ld%s: step %d failed (%d) and "
				"changed the store:\n--- before\n%s"
				"--- after\n%s", at, sticky ? "+" : "", i,
				rc, before, after);
		if (after) {
			free(before);
			before = after;
		}
	}
	*allocs = atomic_load(&oom_count);
	oom_off();
	live = before; /* the last state a reader saw */
	rc = store_close(r->st);
	r->st = NULL;
	if (rc != 0)
		problem("oom %ld%s: store_close = %d\n", at, sticky ? "+" : "",
			 rc);
	run_open(r);
	again = dump_store(r->st);
	if (strcmp(live, again) != 0)
		problem("oom %ld%s: reopened store differs:\n--- live\n%s"
			 "--- reopened\n%s", at, sticky ? "+" : "", live,
			 again);
	free(live);
	assert_int_equal(store_close(r->st), 0);
	r->st = NULL;
	if (store_fsck(r->dir, 0, quiet) != 0) {
		store_fsck(r->dir, 0, stderr);
		problem("oom %ld%s: fsck found damage\n", at, sticky ? "+" : "");
	}
	run_open(r);
	return again;
}

/* Every allocation of the workload fails in turn, once or from then on. */
static void each_allocation(int sticky, int sync_always)
{
	struct run r = { .sync_always = sync_always };
	char *want, *got;
	long total, n, at;
	int failed, nfail = 0;

	problems = 0;
	run_new(&r);
	want = workload(&r, 0, 0, &total, &failed);
	run_end(&r);
	assert_int_equal(failed, 1); /* step 17, the non-empty rmdir */
	assert_true(total > 20);
	for (at = 1; at <= total; at++) {
		run_new(&r);
		got = workload(&r, at, sticky, &n, &failed);
		run_end(&r);
		nfail += failed > 1;
		/* Once a step failed the rest may take another path, but
		 * a transient failure of the last allocation must still
		 * end where the clean run did, or in a refused step. */
		if (failed == 1 && strcmp(got, want) != 0)
			problem("oom %ld: every step passed, yet the store "
				 "differs from the clean run's:\n--- clean\n%s"
				 "--- this\n%s", at, want, got);
		free(got);
	}
	/* The faults reached the store: most of them failed a step. */
	print_message("  # %ld allocations, %d runs with a failed step, "
		      "%d problems\n", total, nfail, problems);
	assert_int_equal(problems, 0);
	assert_true(nfail > total / 2);
	free(want);
}

static void test_each_allocation_fails_once(void **state)
{
	(void)state;
	each_allocation(0, 0);
}

static void test_memory_stays_short(void **state)
{
	(void)state;
	each_allocation(1, 0);
}

/* Open descriptors of this process (the listing's own included). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_durable_commits(void **state)
{
	(void)state;
	each_allocation(0, 1);
	each_allocation(1, 1);
}

/* Opening (replaying the log, reading hints, blobs) with the Nth
 * allocation failing, for N up to what an open makes: it fails with a
 * negative errno, leaving no descriptor or lock behind (the next open
 * would get -EWOULDBLOCK), or serves exactly what was committed. */
static void test_open_when_memory_is_short(void **state)
{
	struct run r = { .sync_always = 0 };
	struct store *st;
	char *want, *got;
	long total, at, step = 1;
	int failed, opened = 0, refused = 0, fds;

	(void)state;
	problems = 0;
	run_new(&r);
	free(workload(&r, 0, 0, &total, &failed));
	want = dump_store(r.st);
	assert_int_equal(store_close(r.st), 0);
	r.st = NULL;
	fds = count_fds();
	/* Every one of the first allocations (the open's own structures),
	 * then a sample of the rest (the index, one per key and version). */
	for (at = 1;; at += step) {
		int rc;

		oom_arm(at, 0);
		rc = store_open(r.dir, &r.o, &st);
		total = atomic_load(&oom_count);
		oom_off();
		if (rc == 0) {
			got = dump_store(st);
			if (strcmp(got, want) != 0)
				problem("open with allocation %ld failing "
					"serves another state:\n%s", at, got);
			free(got);
			assert_int_equal(store_close(st), 0);
			opened++;
		} else {
			if (rc >= 0)
				problem("open with allocation %ld failing "
					"returned %d\n", at, rc);
			/* Memory is not damage: an open that met no
			 * memory must not call the store corrupt. */
			if (rc == -EUCLEAN)
				problem("open with allocation %ld failing "
					"said the store is damaged\n", at);
			refused++;
		}
		if (count_fds() != fds) {
			problem("open with allocation %ld failing (%d) left "
				"%d descriptors open\n", at, rc,
				count_fds() - fds);
			fds = count_fds();
		}
		if (total < at) /* the open made fewer: all were tried */
			break;
		if (at >= 200)
			step = 7;
	}
	print_message("  # %ld allocations: %d opens refused, %d served, "
		      "%d problems\n", total, refused, opened, problems);
	assert_int_equal(problems, 0);
	assert_true(refused > 0);
	run_open(&r); /* and, with memory back, it opens as it was */
	got = dump_store(r.st);
	assert_string_equal(got, want);
	free(got);
	free(want);
	run_end(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_allocation_fails_once),
		cmocka_unit_test(test_memory_stays_short),
		cmocka_unit_test(test_durable_commits),
		cmocka_unit_test(test_open_when_memory_is_short),
	};

	int rc;

	memset(big, 'x', sizeof(big));
	quiet = fopen("/dev/null", "w");
	if (!quiet)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fclose(quiet);
	return rc;
}

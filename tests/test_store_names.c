/* test_store_names.c - the store's names: renames of records and
 * directories, making and removing directories, listings, and the names
 * a key may have (SPEC.md "The store", "Versions"). */
#include <pthread.h>

#include "store_fixture.h"

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

/* ---- directory times ---------------------------------------------- */

static const char *const tdirs[] = { "", "d", "d/sub", "e" };
#define NTDIRS (sizeof(tdirs) / sizeof(tdirs[0]))

static void dir_times(struct store *st, const char *key, int64_t t[2])
{
	struct store_stat s;

	assert_int_equal(store_stat(st, key, &s), 0);
	assert_true(S_ISDIR(s.meta.mode));
	t[0] = s.meta.mtime_ns;
	t[1] = s.meta.ctime_ns;
}

/* d's mtime and ctime are both @t. */
static void dir_at(struct store *st, const char *key, int64_t t)
{
	int64_t dt[2];

	dir_times(st, key, dt);
	assert_true(dt[0] == t);
	assert_true(dt[1] == t);
}

static int64_t commit_of(struct store *st, const char *key)
{
	struct store_stat s;

	assert_int_equal(store_stat(st, key, &s), 0);
	return s.commit_ns;
}

/* The times of tdirs, as the store has them, equal @want. */
static void dirs_are(struct store *st, int64_t want[NTDIRS][2])
{
	for (size_t i = 0; i < NTDIRS; i++) {
		int64_t t[2];

		dir_times(st, tdirs[i], t);
		if (t[0] != want[i][0] || t[1] != want[i][1])
			fail_msg("'%s': mtime %" PRId64 " ctime %" PRId64
				 ", live it was %" PRId64 " %" PRId64,
				 tdirs[i], t[0], t[1], want[i][0],
				 want[i][1]);
	}
}

/* A directory's mtime and ctime move to the commit that adds a name to
 * it or takes one from it (create, mkdir, delete, rmdir, rename in, out
 * or over), and stay when a record in it is rewritten, as on a local
 * filesystem (a maildir reader polls new/'s mtime).  A reopen and a
 * compaction give the times live gave: a compacted segment re-writes
 * every record as if new, which must not move them again, nor undo a
 * utimens that set an older time. */
static void test_dir_times(void **state)
{
	struct fx *f = *state;
	struct store_meta old = { .atime_ns = 1000000000,
				  .mtime_ns = 1000000000 };
	int64_t t[2], live[NTDIRS][2];
	uint64_t v;

	fx_open(f);
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_int_equal(store_mkdir(f->st, "e", NULL), 0);
	dir_times(f->st, "d", t);
	put_str(f->st, "d/a", STORE_ABSENT, "a");
	dir_at(f->st, "d", commit_of(f->st, "d/a"));
	assert_true(commit_of(f->st, "d/a") > t[0]);

	/* a record rewritten is no new name */
	dir_times(f->st, "d", t);
	put_str(f->st, "d/a", 1, "a2");
	dir_at(f->st, "d", t[0]);

	assert_int_equal(store_mkdir(f->st, "d/sub", NULL), 0);
	dir_times(f->st, "d/sub", t);
	dir_at(f->st, "d", t[1]);
	assert_int_equal(store_delete(f->st, "d/a", 2, &v), 0);
	{
		int64_t d[2];

		dir_times(f->st, "d", d);
		assert_true(d[0] > t[1] && d[0] == d[1]);
	}

	/* a rename moves both directories */
	put_str(f->st, "d/b", STORE_ABSENT, "b");
	assert_int_equal(store_rename(f->st, "d/b", 1, "e/b", STORE_ABSENT,
				      &v), 0);
	dir_at(f->st, "e", commit_of(f->st, "e/b"));
	dir_at(f->st, "d", commit_of(f->st, "e/b"));
	/* ... over a record in another directory too */
	put_str(f->st, "d/o", STORE_ABSENT, "o");
	assert_int_equal(store_rename(f->st, "e/b", STORE_ANY, "d/o",
				      STORE_ANY, &v), 0);
	dir_at(f->st, "d", commit_of(f->st, "d/o"));
	dir_at(f->st, "e", commit_of(f->st, "d/o"));

	/* a directory renamed keeps its mtime, its old and new parents
	 * move; the records it carries move nothing */
	assert_int_equal(store_mkdir(f->st, "e/m", NULL), 0);
	put_str(f->st, "e/m/r", STORE_ABSENT, "r");
	dir_times(f->st, "e/m", t);
	assert_int_equal(store_rename(f->st, "e/m", STORE_ANY, "d/sub/m",
				      STORE_ANY, &v), 0);
	{
		int64_t m[2], sub[2], e[2];

		dir_times(f->st, "d/sub/m", m);
		dir_times(f->st, "d/sub", sub);
		dir_times(f->st, "e", e);
		assert_true(m[0] == t[0]);
		assert_true(m[1] > t[1]);
		assert_true(sub[0] == m[1] && sub[1] == m[1]);
		assert_true(e[0] == m[1] && e[1] == m[1]);
	}

	/* utimens to an older time holds, through a rewrite beneath */
	assert_int_equal(store_setmeta(f->st, "d", &old,
				       STORE_META_ATIME | STORE_META_MTIME),
			 0);
	put_str(f->st, "d/o", STORE_ANY, "o2");
	dir_times(f->st, "d", t);
	assert_true(t[0] == old.mtime_ns);

	put_str(f->st, "new", STORE_ABSENT, "n");
	assert_int_equal(store_rmdir(f->st, "d/sub/m"), -ENOTEMPTY);
	assert_int_equal(store_delete(f->st, "d/sub/m/r", STORE_ANY, &v), 0);
	assert_int_equal(store_rmdir(f->st, "d/sub/m"), 0);
	dir_times(f->st, "d/sub", t);
	assert_true(t[0] > commit_of(f->st, "new"));

	for (size_t i = 0; i < NTDIRS; i++)
		dir_times(f->st, tdirs[i], live[i]);
	fx_reopen(f);
	dirs_are(f->st, live);
	assert_int_equal(store_compact(f->st), 0);
	dirs_are(f->st, live);
	fx_reopen(f);
	dirs_are(f->st, live);

	/* commits after a compaction move them, live and replayed */
	put_str(f->st, "d/after", STORE_ABSENT, "x");
	dir_at(f->st, "d", commit_of(f->st, "d/after"));
	for (size_t i = 0; i < NTDIRS; i++)
		dir_times(f->st, tdirs[i], live[i]);
	fx_reopen(f);
	dirs_are(f->st, live);
}

struct churn {
	struct store *st;
	int stop;
	int n;
};

/* Create and delete records in "d" and "d/s" until told to stop. */
static void *churn_main(void *arg)
{
	struct churn *c = arg;
	char key[32];
	uint64_t v;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		snprintf(key, sizeof(key), "%s/r%d", c->n % 3 ? "d" : "d/s",
			 c->n % 7);
		if (store_delete(c->st, key, STORE_ANY, &v) == -ENOENT)
			put_str(c->st, key, STORE_ANY, "x");
		c->n++;
	}
	return NULL;
}

/* Commits racing compactions: a reopen gives the directory times the
 * live index had (a commit after a compaction's snapshot is later than
 * the time it stamps on the directories it writes). */
static void test_dir_times_compacting(void **state)
{
	static const char *const keys[] = { "", "d", "d/s" };
	struct fx *f = *state;
	struct churn c = { 0 };
	int64_t live[3][2], t[2];
	pthread_t th;

	fx_open(f);
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_int_equal(store_mkdir(f->st, "d/s", NULL), 0);
	c.st = f->st;
	assert_int_equal(pthread_create(&th, NULL, churn_main, &c), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(store_compact(f->st), 0);
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	assert_true(c.n > 0);
	for (int i = 0; i < 3; i++)
		dir_times(f->st, keys[i], live[i]);
	fx_reopen(f);
	for (int i = 0; i < 3; i++) {
		dir_times(f->st, keys[i], t);
		if (t[0] != live[i][0] || t[1] != live[i][1])
			fail_msg("'%s' after %d changes: %" PRId64 " %" PRId64
				 ", live %" PRId64 " %" PRId64, keys[i], c.n,
				 t[0], t[1], live[i][0], live[i][1]);
	}
}

static uint32_t subdirs(struct store *st, const char *key)
{
	struct store_stat s;

	assert_int_equal(store_stat(st, key, &s), 0);
	return s.subdirs;
}

/* A directory counts its subdirectories (its st_nlink is 2 more, as on a
 * local filesystem): mkdir, rmdir and renames move the count, records
 * do not, and a reopen and a compaction give the same. */
static void test_dir_subdirs(void **state)
{
	struct fx *f = *state;
	uint64_t v;

	fx_open(f);
	assert_int_equal(store_mkdir(f->st, "d", NULL), 0);
	assert_int_equal(store_mkdir(f->st, "d/a", NULL), 0);
	assert_int_equal(store_mkdir(f->st, "d/b", NULL), 0);
	assert_int_equal(store_mkdir(f->st, "d/b/c", NULL), 0);
	assert_int_equal(store_mkdir(f->st, "e", NULL), 0);
	put_str(f->st, "d/r", STORE_ABSENT, "r");
	assert_int_equal(store_mkdir(f->st, "d/a", NULL), -EEXIST);
	assert_true(subdirs(f->st, "") == 2);
	assert_true(subdirs(f->st, "d") == 2);
	assert_true(subdirs(f->st, "d/b") == 1);
	assert_true(subdirs(f->st, "d/a") == 0);
	assert_int_equal(store_rmdir(f->st, "d/a"), 0);
	assert_true(subdirs(f->st, "d") == 1);
	/* moved to another parent, and over an empty directory */
	assert_int_equal(store_rename(f->st, "d/b", STORE_ANY, "e/b",
				      STORE_ANY, &v), 0);
	assert_true(subdirs(f->st, "d") == 0);
	assert_true(subdirs(f->st, "e") == 1);
	assert_true(subdirs(f->st, "e/b") == 1);
	assert_int_equal(store_mkdir(f->st, "e/x", NULL), 0);
	assert_int_equal(store_rename(f->st, "e/b/c", STORE_ANY, "e/x",
				      STORE_ANY, &v), 0);
	assert_true(subdirs(f->st, "e") == 2);
	assert_true(subdirs(f->st, "e/b") == 0);
	assert_int_equal(store_rename(f->st, "d/r", STORE_ANY, "e/r",
				      STORE_ANY, &v), 0);
	assert_true(subdirs(f->st, "e") == 2);
	for (int i = 0; i < 3; i++) {
		if (i == 1)
			assert_int_equal(store_compact(f->st), 0);
		else
			fx_reopen(f);
		assert_true(subdirs(f->st, "") == 2);
		assert_true(subdirs(f->st, "d") == 0);
		assert_true(subdirs(f->st, "e") == 2);
		assert_true(subdirs(f->st, "e/b") == 0);
	}
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

	/* A directory rename that would push a key beneath it past
	 * STORE_KEY_MAX is refused whole, changing nothing: that record
	 * could no longer be named by any call (it went through, and the
	 * record was stranded).  One that keeps every key short enough
	 * moves them all. */
	snprintf(key, sizeof(key), "a/%s", comp);
	assert_int_equal(store_rename(f->st, comp, STORE_ANY, key, STORE_ANY,
				      &v), -ENAMETOOLONG);
	assert_int_equal(rec_str(f->st, deep, "deep", 1), 0);
	assert_int_equal(store_stat(f->st, key, &s), -ENOENT);
	assert_int_equal(store_rename(f->st, comp, STORE_ANY, "m", STORE_ANY,
				      &v), 0);
	assert_int_equal(rec_str(f->st, deep + STORE_NAME_MAX - 1, "deep", 2),
			 0);
	assert_int_equal(store_rename(f->st, "m", STORE_ANY, comp, STORE_ANY,
				      &v), 0);

	/* Other bytes are fine in names. */
	assert_true(put_str(f->st, "a/sp ace", STORE_ABSENT, "1") == 1);
	assert_true(put_str(f->st, "a/...", STORE_ABSENT, "1") == 1);
	assert_true(put_str(f->st, "a/.hidden", STORE_ABSENT, "1") == 1);
	fx_reopen(f);
	assert_int_equal(rec_str(f->st, "a/...", "1", 1), 0);
	assert_int_equal(rec_str(f->st, name, "max", 1), 0);
	assert_int_equal(rec_str(f->st, deep, "deep", 3), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_rename_record),
		T(test_rename_recent),
		T(test_rename_dir),
		T(test_mkdir_rmdir),
		T(test_dir_times),
		T(test_dir_subdirs),
		T(test_dir_times_compacting),
		T(test_list_sorted),
		T(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_reserve.c - small changes staged in memory against log space
 * reserved at each write (store_resv_take): a full disk fails the write
 * that cannot have its space, never a commit, and reservations are given
 * back and survive a roll.  Faults come from fault_io.h. */
#include "fault_io.h"

#include <sys/statvfs.h>

/* ---- Staged changes in memory: reserved log space (issue 8) ----------
 *
 * A change of at most inline_max bytes is staged in memory, and each
 * write reserves the log space of its entry in the preallocated tail of
 * the active segment.  "A full disk" here is every fallocate failing
 * with ENOSPC (the store's only way to take space for the log); the
 * oracle: a write whose space cannot be had fails with ENOSPC, and a
 * write that succeeded commits, however full the disk is. */

#define SMALL 60000 /* below inline_max (64 KiB): staged in memory */

static uint64_t reserved(struct store *st)
{
	struct store_stats ss;

	assert_int_equal(store_stats(st, &ss), 0);
	return ss.reserved_bytes;
}

static uint64_t nsegments(struct store *st)
{
	struct store_stats ss;

	assert_int_equal(store_stats(st, &ss), 0);
	return ss.segments;
}

static int rec_equals(struct store *st, const char *key, const void *want,
		      size_t len)
{
	char *buf = NULL;
	size_t n = 0;
	int ok = store_get(st, key, &buf, &n, NULL) == 0 && n == len &&
		 memcmp(buf, want, len) == 0;

	free(buf);
	return ok;
}

static void fill_val(char *b, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (char)('a' + (i * 7 + (size_t)seed) % 26);
}

/* Begin a truncating change of @key and write @len bytes of @val at 0.
 * A change that finds no room fails at its begin (the space of its
 * empty entry) or at its write: @return the write's result, or the
 * begin's error (then *t is NULL). */
static ssize_t begin_write(struct store *st, const char *key,
			   const void *val, size_t len, struct store_txn **t)
{
	int rc = store_txn_begin(st, key, 1, t);

	if (rc < 0) {
		*t = NULL;
		return rc;
	}
	return store_txn_write(*t, val, len, 0);
}

/* Open st in dir through f's io table. */
static struct store *open_faulty(const char *dir, struct fault *f,
				 struct store_io *io, uint64_t segment_size)
{
	struct store_opts o = { .io = io, .compact_ratio = -1,
				.reserve_bytes = 1 << 20,
				.segment_size = segment_size };
	struct store *st;

	*io = (struct store_io){ f_pwrite, f_fdatasync, f_ftruncate,
				 f_fallocate, f };
	assert_int_equal(store_open(dir, &o, &st), 0);
	return st;
}

/* Stage small changes until the disk (full from the moment `full` is
 * set) has no room for the next one: that write fails with ENOSPC, a
 * small change of an existing record fails at its write too and leaves
 * it as it was, and every change whose writes succeeded commits. */
static void full_disk_small_changes(struct store *st, int *full)
{
	enum { MAXT = 4096 };
	struct store_txn **t = calloc(MAXT, sizeof(*t));
	char *val = malloc(SMALL);
	char key[32];
	int n = 0, nbig = 0;
	ssize_t w = 0;

	assert_non_null(t);
	assert_non_null(val);
	assert_int_equal(store_put(st, "keep", STORE_ABSENT, "precious", 8,
				   NULL, NULL), 0);
	*full = 1;
	/* Changes of SMALL bytes until one finds no room, then of half,
	 * and so on down to one byte: the preallocated tail runs out. */
	for (size_t sz = SMALL; sz; sz /= 2) {
		for (; n < MAXT; n++) {
			snprintf(key, sizeof(key), "k%d", n);
			fill_val(val, SMALL, n);
			w = begin_write(st, key, val, n < nbig || !nbig
						       ? SMALL : sz, &t[n]);
			if (w < 0)
				break;
		}
		/* The write (or the begin), not a commit, says so. */
		assert_true(n > 0 && n < MAXT);
		assert_int_equal(w, -ENOSPC);
		if (t[n])
			store_txn_abort(t[n]);
		t[n] = NULL;
		if (!nbig)
			nbig = n;
	}
	{
		struct store_txn *k;
		assert_int_equal(store_txn_begin(st, "keep", 0, &k), 0);
		assert_int_equal(store_txn_write(k, "X", 1, 0), -ENOSPC);
		store_txn_abort(k);
		assert_true(rec_equals(st, "keep", "precious", 8));
		/* Emptying it (an O_TRUNC open) or making a record is a
		 * change with no write: refused at its begin, where it was
		 * begun and then its commit (at a close, which shells
		 * ignore) failed with ENOSPC. */
		assert_int_equal(store_txn_begin(st, "keep", 1, &k), -ENOSPC);
		assert_int_equal(store_txn_begin(st, "fresh", 1, &k),
				 -ENOSPC);
		assert_true(rec_equals(st, "keep", "precious", 8));
	}
	/* Every staged change commits into the space its writes took. */
	assert_true(reserved(st) >= (uint64_t)nbig * SMALL);
	for (int i = 0; i < n; i++)
		if (t[i])
			assert_int_equal(store_txn_commit(t[i], STORE_ANY,
							  NULL, 0, NULL), 0);
	assert_true(reserved(st) == 0);
	for (int i = 0; i < n; i++) {
		struct store_stat sb;
		snprintf(key, sizeof(key), "k%d", i);
		fill_val(val, SMALL, i);
		if (i < nbig)
			assert_true(rec_equals(st, key, val, SMALL));
		else if (t[i]) /* a smaller one: a prefix of val */
			assert_true(store_stat(st, key, &sb) == 0 &&
				    rec_equals(st, key, val, sb.size));
	}
	assert_true(rec_equals(st, "keep", "precious", 8));
	*full = 0;
	print_message("  %d changes of %d bytes (%d in all) staged before "
		      "ENOSPC\n", nbig, SMALL, n);
	free(t);
	free(val);
}

static void test_small_change_full_disk_fails_at_write(void **state)
{
	char dir[128];
	struct fault f = { .kind = F_NONE };
	struct store_io io;
	struct store *st;
	char *val = malloc(SMALL);

	(void)state;
	snprintf(dir, sizeof(dir), "%s/full", root);
	st = open_faulty(dir, &f, &io, 0);
	full_disk_small_changes(st, &f.full);
	store_close(st);
	assert_int_equal(store_open(dir, NULL, &st), 0);
	assert_true(rec_equals(st, "keep", "precious", 8));
	fill_val(val, SMALL, 0);
	assert_true(rec_equals(st, "k0", val, SMALL));
	store_close(st);
	free(val);
}

/* A change staged in a spool file (past inline_max) writes its content
 * there, but its commit still writes a log entry: the blob's PUT, or the
 * content inline if the change shrank back to inline_max or less.  That
 * entry's space is taken at the writes too: with the log's tail then
 * taken by small changes, and every preallocation failing, both commit
 * (until 2026-12-06 they failed with ENOSPC at the commit, though every
 * write had succeeded).  shrink: truncated to 1,000 bytes after its
 * write, then written at 2,000 (it commits inline). */
static void full_disk_spooled_change(int shrink)
{
	enum { BIG = 200000, MAXT = 4096 };
	static const char key[] = "a-spooled-record-with-a-long-name-to-need-room";
	char dir[128], k[32];
	struct fault f = { .kind = F_NONE };
	struct store_io io;
	struct store *st;
	struct store_txn *big, **t = calloc(MAXT, sizeof(*t));
	char *val = malloc(BIG);
	size_t len = shrink ? 2010 : BIG;
	int n = 0;
	ssize_t w = 0;

	assert_non_null(t);
	assert_non_null(val);
	fill_val(val, BIG, 7);
	snprintf(dir, sizeof(dir), "%s/spooled%d", root, shrink);
	st = open_faulty(dir, &f, &io, 0);
	assert_int_equal(store_put(st, "keep", STORE_ABSENT, "precious", 8,
				   NULL, NULL), 0);
	assert_int_equal(store_txn_begin(st, key, 1, &big), 0);
	assert_int_equal(store_txn_write(big, val, BIG, 0), BIG);
	if (shrink) {
		assert_int_equal(store_txn_truncate(big, 1000), 0);
		assert_int_equal(store_txn_write(big, val + 2000, 10, 2000),
				 10);
		memset(val + 1000, 0, 1000);
	}
	/* The disk fills: small changes take the log's tail until none
	 * can have its space. */
	f.full = 1;
	for (size_t sz = SMALL; sz; sz /= 2) {
		for (; n < MAXT; n++) {
			snprintf(k, sizeof(k), "k%d", n);
			w = begin_write(st, k, val, sz, &t[n]);
			if (w < 0)
				break;
		}
		assert_true(n < MAXT);
		assert_int_equal(w, -ENOSPC);
		if (t[n])
			store_txn_abort(t[n]);
		t[n] = NULL;
	}
	assert_int_equal(store_txn_commit(big, STORE_ABSENT, NULL, 0, NULL),
			 0);
	for (int i = 0; i < n; i++)
		if (t[i])
			assert_int_equal(store_txn_commit(t[i], STORE_ABSENT,
							  NULL, 0, NULL), 0);
	assert_true(reserved(st) == 0);
	assert_true(rec_equals(st, key, val, len));
	f.full = 0;
	store_close(st);
	assert_int_equal(store_open(dir, NULL, &st), 0);
	assert_true(rec_equals(st, key, val, len));
	assert_true(rec_equals(st, "keep", "precious", 8));
	store_close(st);
	free(t);
	free(val);
}

static void test_spooled_change_full_disk_commits(void **state)
{
	(void)state;
	full_disk_spooled_change(0);
	full_disk_spooled_change(1);
}

/* Fill the filesystem at @mnt from outside the store: a file "filler"
 * written until the disk refuses. */
static void fill_disk(const char *mnt)
{
	static char zeros[1 << 16];
	char path[200];
	int fd;

	snprintf(path, sizeof(path), "%s/filler", mnt);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	while (write(fd, zeros, sizeof(zeros)) > 0)
		;
	close(fd);
}

/* Mount a 16 MiB tmpfs on @root/@name into @mnt (@len bytes).  @return 0,
 * or -1 (not root, or no tmpfs: the caller skips, as said here). */
static int small_tmpfs(const char *name, char *mnt, size_t len)
{
	char cmd[400];

	snprintf(mnt, len, "%s/%s", root, name);
	mkdir(mnt, 0700);
	snprintf(cmd, sizeof(cmd),
		 "mount -t tmpfs -o size=16m tmpfs %s 2>/dev/null", mnt);
	if (geteuid() != 0 || system(cmd) != 0) {
		print_message("  # SKIP: cannot mount a tmpfs\n");
		return -1;
	}
	return 0;
}

static void small_tmpfs_gone(const char *mnt)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "umount %s", mnt);
	assert_int_equal(system(cmd), 0);
}

/* The same on a real full filesystem: a small tmpfs (root only). */
static void full_tmpfs(int sync_always)
{
	char mnt[128], dir[160];
	struct store_opts o = { .compact_ratio = -1,
				.reserve_bytes = 1 << 20,
				.sync_always = sync_always };
	struct store *st;
	int full = 0;

	if (small_tmpfs("tmpfs", mnt, sizeof(mnt)) < 0)
		return;
	snprintf(dir, sizeof(dir), "%s/store", mnt);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_int_equal(store_put(st, "warm", STORE_ABSENT, "w", 1, NULL,
				   NULL), 0);
	fill_disk(mnt);
	full_disk_small_changes(st, &full);
	store_close(st);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_true(rec_equals(st, "keep", "precious", 8));
	store_close(st);
	small_tmpfs_gone(mnt);
}

static void test_small_change_full_tmpfs(void **state)
{
	(void)state;
	full_tmpfs(0);
	/* The log's tail as zeros written ahead holds the reservations
	 * as well as fallocate's space does. */
	full_tmpfs(1);
}

/* Reservations come back on abort, on commit (also a refused one) and
 * when a change shrinks; thousands of cycles allocate no more log. */
static void test_reservations_released(void **state)
{
	char dir[128], val[4096];
	struct fault f = { .kind = F_NONE };
	struct store_io io;
	struct store *st;
	struct store_txn *t;
	uint64_t v = 0, r;
	int allocs;

	(void)state;
	memset(val, 'r', sizeof(val));
	snprintf(dir, sizeof(dir), "%s/release", root);
	st = open_faulty(dir, &f, &io, 0);
	assert_int_equal(store_put(st, "r", STORE_ABSENT, "v1", 2, NULL, &v),
			 0);
	assert_true(reserved(st) == 0);
	allocs = f.nalloc;
	for (int i = 0; i < 10000; i++) {
		assert_int_equal(store_txn_begin(st, "r", i % 2, &t), 0);
		assert_int_equal(store_txn_write(t, val, sizeof(val), 0),
				 sizeof(val));
		/* The entry's header, key and body besides the content. */
		r = reserved(st);
		assert_true(r > sizeof(val) && r < sizeof(val) + 200);
		store_txn_abort(t);
		assert_true(reserved(st) == 0);
	}
	/* 40 MB of leaked reservations would have grown the log's
	 * preallocation (4 MiB a step) ten times. */
	assert_true(f.nalloc - allocs <= 1);

	/* A shrinking change gives back what it no longer needs. */
	assert_int_equal(store_txn_begin(st, "r", 1, &t), 0);
	assert_int_equal(store_txn_write(t, val, sizeof(val), 0), sizeof(val));
	r = reserved(st);
	assert_int_equal(store_txn_truncate(t, 10), 0);
	assert_true(reserved(st) == r - (sizeof(val) - 10));
	store_txn_abort(t);
	assert_true(reserved(st) == 0);

	/* A commit consumes it, a refused one gives it back. */
	assert_int_equal(store_txn_begin(st, "r", 1, &t), 0);
	assert_int_equal(store_txn_write(t, "v2", 2, 0), 2);
	assert_int_equal(store_txn_commit(t, v, NULL, 0, &v), 0);
	assert_true(reserved(st) == 0);
	assert_int_equal(store_txn_begin(st, "r", 0, &t), 0);
	assert_int_equal(store_txn_write(t, "stale", 5, 0), 5);
	assert_true(reserved(st) > 0);
	assert_int_equal(store_txn_commit(t, v - 1, NULL, 0, NULL), -EAGAIN);
	assert_true(reserved(st) == 0);
	/* store_truncate and store_append stage in memory too. */
	assert_int_equal(store_truncate(st, "r", v, 1, &v), 0);
	assert_int_equal(store_append(st, "r", "ppend", 5, &v), 0);
	assert_true(reserved(st) == 0);
	assert_true(rec_equals(st, "r", "vppend", 6));
	/* An empty change commits too. */
	assert_int_equal(store_txn_begin(st, "r", 1, &t), 0);
	assert_int_equal(store_txn_commit(t, v, NULL, 0, &v), 0);
	assert_true(reserved(st) == 0);
	assert_true(rec_equals(st, "r", "", 0));
	store_close(st);
}

/* A roll (a new segment, from a commit or a compaction) carries the
 * outstanding reservations over; a roll that finds no room leaves the
 * old segment active, still holding them. */
static void test_roll_keeps_reservations(void **state)
{
	char dir[128], key[32], val[1000];
	struct fault f = { .kind = F_NONE };
	struct store_io io;
	struct store *st;
	struct store_txn *a, *b, *c, *s[100];
	uint64_t segs, r;

	(void)state;
	fill_val(val, sizeof(val), 3);
	snprintf(dir, sizeof(dir), "%s/roll", root);
	st = open_faulty(dir, &f, &io, 64 << 10);
	assert_int_equal(store_txn_begin(st, "a", 1, &a), 0);
	assert_int_equal(store_txn_write(a, val, sizeof(val), 0), sizeof(val));
	r = reserved(st);

	/* Commits roll the log: a's space moves with it. */
	segs = nsegments(st);
	for (int i = 0; nsegments(st) < segs + 2; i++) {
		snprintf(key, sizeof(key), "p%d", i % 50);
		assert_int_equal(store_put(st, key, STORE_ANY, val, sizeof(val),
					   NULL, NULL), 0);
		assert_true(i < 1000);
	}
	assert_true(reserved(st) == r);

	/* A compaction's roll makes a segment with exactly the reserved
	 * space ahead; with the disk full from then on, a still commits. */
	assert_int_equal(store_txn_begin(st, "b", 1, &b), 0);
	assert_int_equal(store_txn_write(b, "bee", 3, 0), 3);
	assert_int_equal(store_compact(st), 0);
	f.full = 1;
	assert_int_equal(store_txn_commit(a, STORE_ABSENT, NULL, 0, NULL), 0);

	/* A roll on the full disk fails; the commit that wanted it goes
	 * into the old segment, and so does b's. */
	assert_int_equal(begin_write(st, "c", "sea", 3, &c), -ENOSPC);
	if (c)
		store_txn_abort(c);
	segs = nsegments(st);
	f.full = 0;
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "q%d", i);
		assert_int_equal(store_put(st, key, STORE_ANY, val, sizeof(val),
					   NULL, NULL), 0);
	}
	/* Written before the disk filled, so that their log space is
	 * theirs (a store_put on the full disk is refused: it would take
	 * the reserve, test_reserve_kept_from_puts_and_cuts). */
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "s%d", i);
		assert_int_equal(begin_write(st, key, val, sizeof(val), &s[i]),
				 sizeof(val));
	}
	f.full = 1;
	for (int i = 0; i < 100; i++)
		assert_int_equal(store_txn_commit(s[i], STORE_ANY, NULL, 0,
						  NULL), 0);
	assert_true(nsegments(st) == segs); /* no roll could be made */
	assert_int_equal(store_txn_commit(b, STORE_ABSENT, NULL, 0, NULL), 0);
	assert_true(reserved(st) == 0);
	f.full = 0;
	store_close(st);

	assert_int_equal(store_open(dir, NULL, &st), 0);
	assert_true(rec_equals(st, "a", val, sizeof(val)));
	assert_true(rec_equals(st, "b", "bee", 3));
	assert_true(rec_equals(st, "p49", val, sizeof(val)));
	assert_true(rec_equals(st, "s99", val, sizeof(val)));
	store_close(st);
}

/* The reserve is kept for deletes and compaction: on a full tmpfs,
 * setxattr fails with ENOSPC and leaves the reserve whole; a delete may
 * have it, and then compaction has room for its output and gives the
 * dead log back.  Until 2026-12-06 any commit gave the reserve back:
 * setxattr then filled it, compaction failed with ENOSPC for ever (each
 * try leaving a new segment), and the store could not even be opened
 * again ("cannot start a segment"). */
static void test_reserve_kept_for_deletes(void **state)
{
	char mnt[128], dir[160], path[200];
	enum { BIG = 3 << 20, XV = 60000 };
	struct store_opts o = { .compact_ratio = -1,
				.reserve_bytes = 1 << 20 };
	struct store *st;
	struct stat sb;
	struct store_stat ss;
	struct statvfs vs;
	char *big = malloc(BIG), *xv = malloc(XV);
	unsigned long long before;
	int rc = 0, n;

	(void)state;
	assert_non_null(big);
	assert_non_null(xv);
	if (small_tmpfs("tmpfs_del", mnt, sizeof(mnt)) < 0) {
		free(big);
		free(xv);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/store", mnt);
	assert_int_equal(store_open(dir, &o, &st), 0);
	fill_val(big, BIG, 1);
	assert_int_equal(store_put(st, "big", STORE_ABSENT, big, BIG, NULL,
				   NULL), 0);
	assert_int_equal(store_put(st, "rec", STORE_ABSENT, "kept", 4, NULL,
				   NULL), 0);
	fill_disk(mnt);
	/* Metadata until the disk refuses it: ENOSPC, the reserve whole. */
	for (n = 0; n < 1000; n++) {
		fill_val(xv, XV, n);
		rc = store_setxattr(st, "rec", "user.x", xv, XV, 0);
		if (rc < 0)
			break;
	}
	assert_int_equal(rc, -ENOSPC);
	snprintf(path, sizeof(path), "%s/RESERVE", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size == 1 << 20);
	/* A delete has it, and compaction frees the dead log. */
	assert_int_equal(statvfs(mnt, &vs), 0);
	before = (unsigned long long)vs.f_bavail * vs.f_frsize;
	assert_int_equal(store_delete(st, "big", STORE_ANY, NULL), 0);
	assert_int_equal(store_compact(st), 0);
	assert_int_equal(statvfs(mnt, &vs), 0);
	assert_true((unsigned long long)vs.f_bavail * vs.f_frsize >=
		    before + (2u << 20));
	assert_true(rec_equals(st, "rec", "kept", 4));
	assert_int_equal(store_put(st, "after", STORE_ABSENT, "a", 1, NULL,
				   NULL), 0);
	store_close(st);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_true(rec_equals(st, "rec", "kept", 4));
	assert_true(rec_equals(st, "after", "a", 1));
	assert_int_equal(store_stat(st, "big", &ss), -ENOENT);
	store_close(st);
	small_tmpfs_gone(mnt);
	free(big);
	free(xv);
}

/* Nor do changes that wrote nothing through a change's writes: a
 * record put whole (a symlink, a mknod'ed record committed empty:
 * store_put) or a cut or an extension through a change (ftruncate,
 * fallocate, truncate(2): store_txn_truncate).  On a full tmpfs each
 * fails with ENOSPC and leaves the record and the reserve whole.  Until
 * 2026-12-07 each committed and gave the reserve back ('ln -s' on a full
 * mount took its 8 MiB, and every change but deletes was refused until
 * the reserve could be made again). */
static void test_reserve_kept_from_puts_and_cuts(void **state)
{
	char mnt[128], dir[160], path[200], key[32];
	enum { XV = 60000 };
	struct store_opts o = { .compact_ratio = -1,
				.reserve_bytes = 1 << 20 };
	struct store_meta lm = { .mode = S_IFLNK | 0777 };
	struct store *st;
	struct store_txn *t;
	struct store_stat ss;
	struct stat sb;
	char *xv = malloc(XV);
	int rc = 0, n;

	(void)state;
	assert_non_null(xv);
	if (small_tmpfs("tmpfs_put", mnt, sizeof(mnt)) < 0) {
		free(xv);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/store", mnt);
	snprintf(path, sizeof(path), "%s/RESERVE", dir);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_int_equal(store_put(st, "rec", STORE_ABSENT, "kept", 4, NULL,
				   NULL), 0);
	fill_disk(mnt);
	for (n = 0; n < 1000; n++) { /* the log's tail taken too */
		fill_val(xv, XV, n);
		rc = store_setxattr(st, "rec", "user.x", xv, XV, 0);
		if (rc < 0)
			break;
	}
	assert_int_equal(rc, -ENOSPC);
	fill_val(xv, XV, 1);
	assert_int_equal(store_put(st, "new", STORE_ABSENT, xv, XV, NULL,
				   NULL), -ENOSPC);
	/* Small ones as long as the log's tail has room for them. */
	for (n = 0, rc = 0; n < 100000 && rc == 0; n++) {
		snprintf(key, sizeof(key), "l%d", n);
		rc = store_put(st, key, STORE_ABSENT, "rec", 3, &lm, NULL);
	}
	assert_int_equal(rc, -ENOSPC);
	for (n = 0, rc = 0; n < 100000 && rc == 0; n++) {
		snprintf(key, sizeof(key), "e%d", n);
		rc = store_put(st, key, STORE_ABSENT, "", 0, NULL, NULL);
	}
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(store_stat(st, key, &ss), -ENOENT);
	assert_int_equal(store_truncate(st, "rec", STORE_ANY, 50000, NULL),
			 -ENOSPC);
	assert_int_equal(store_txn_begin(st, "rec", 0, &t), 0);
	rc = store_txn_truncate(t, 2);
	if (rc == 0)
		rc = store_txn_commit(t, STORE_ANY, NULL, 0, NULL);
	else
		store_txn_abort(t);
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size == 1 << 20);
	assert_true(rec_equals(st, "rec", "kept", 4));
	assert_int_equal(store_delete(st, "rec", STORE_ANY, NULL), 0);
	store_close(st);
	small_tmpfs_gone(mnt);
	free(xv);
}

/* Opening a store on a full disk starts a new segment, and the only room
 * for it is the reserve's: the open takes a slice of it, not all of it.
 * Until 2026-12-07 it gave the whole reserve back (a mount on a full
 * disk left 8 MiB free for whoever wrote next, and every change but
 * deletes refused until it could be made again); once something else
 * took that space, the next open failed ("cannot start a segment") and
 * no record could be deleted to make room. */
static void test_open_on_full_disk_keeps_reserve(void **state)
{
	char mnt[128], dir[160], path[200];
	struct store_opts o = { .compact_ratio = -1,
				.reserve_bytes = 1 << 20 };
	struct store *st;
	struct store_stat ss;
	struct stat sb;

	(void)state;
	if (small_tmpfs("tmpfs_open", mnt, sizeof(mnt)) < 0)
		return;
	snprintf(dir, sizeof(dir), "%s/store", mnt);
	snprintf(path, sizeof(path), "%s/RESERVE", dir);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_int_equal(store_put(st, "rec", STORE_ABSENT, "kept", 4, NULL,
				   NULL), 0);
	assert_int_equal(store_put(st, "doomed", STORE_ABSENT, "d", 1, NULL,
				   NULL), 0);
	store_close(st);
	for (int i = 0; i < 3; i++) {
		fill_disk(mnt); /* what any open gave back is taken */
		assert_int_equal(store_open(dir, &o, &st), 0);
		assert_int_equal(stat(path, &sb), 0);
		assert_true(sb.st_size >= (1 << 20) - (256 << 10));
		assert_true(rec_equals(st, "rec", "kept", 4));
		assert_int_equal(store_put(st, "new", STORE_ABSENT, "n", 1,
					   NULL, NULL), -ENOSPC);
		store_close(st);
	}
	fill_disk(mnt);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_int_equal(store_delete(st, "doomed", STORE_ANY, NULL), 0);
	store_close(st);
	fill_disk(mnt);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_int_equal(store_stat(st, "doomed", &ss), -ENOENT);
	assert_true(rec_equals(st, "rec", "kept", 4));
	store_close(st);
	small_tmpfs_gone(mnt);
}

/* A delete and a compaction on a full disk take slices of the reserve
 * too, so that what something outside takes meanwhile leaves the store
 * the rest: the next open (whose segment needs room) and the next
 * delete.  Until 2026-12-07 the delete gave the whole reserve back, the
 * filler took it, and the store could not be opened again. */
static void test_delete_keeps_reserve_for_open(void **state)
{
	char mnt[128], dir[160], path[200];
	enum { XV = 60000 };
	struct store_opts o = { .compact_ratio = -1,
				.reserve_bytes = 1 << 20 };
	struct store *st;
	struct store_stat ss;
	struct stat sb;
	char *xv = malloc(XV);
	int rc = 0, n;

	(void)state;
	assert_non_null(xv);
	if (small_tmpfs("tmpfs_dels", mnt, sizeof(mnt)) < 0) {
		free(xv);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/store", mnt);
	snprintf(path, sizeof(path), "%s/RESERVE", dir);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_int_equal(store_put(st, "rec", STORE_ABSENT, "kept", 4, NULL,
				   NULL), 0);
	assert_int_equal(store_put(st, "d1", STORE_ABSENT, "d", 1, NULL,
				   NULL), 0);
	assert_int_equal(store_put(st, "d2", STORE_ABSENT, "d", 1, NULL,
				   NULL), 0);
	fill_disk(mnt);
	/* The log's tail taken to its last bytes, in smaller and smaller
	 * attributes. */
	for (size_t len = XV; len > 0; len /= 10)
		for (n = 0, rc = 0; n < 1000 && rc == 0; n++) {
			fill_val(xv, len, n);
			rc = store_setxattr(st, "rec", "user.x", xv, len, 0);
		}
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(store_delete(st, "d1", STORE_ANY, NULL), 0);
	fill_disk(mnt);
	assert_int_equal(store_compact(st), 0);
	fill_disk(mnt);
	store_close(st);
	fill_disk(mnt);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size >= (1 << 20) / 2);
	assert_true(rec_equals(st, "rec", "kept", 4));
	assert_int_equal(store_stat(st, "d1", &ss), -ENOENT);
	assert_int_equal(store_delete(st, "d2", STORE_ANY, NULL), 0);
	store_close(st);
	small_tmpfs_gone(mnt);
	free(xv);
}

/* Out of inodes a slice of the reserve frees none: the open gives the
 * reserve's file back to start its segment, as before slices. */
static void test_open_out_of_inodes(void **state)
{
	char mnt[128], dir[160], path[200], cmd[300];
	struct store_opts o = { .compact_ratio = -1,
				.reserve_bytes = 1 << 20 };
	struct store *st;
	int fd, n;

	(void)state;
	snprintf(mnt, sizeof(mnt), "%s/tmpfs_inodes", root);
	mkdir(mnt, 0700);
	snprintf(cmd, sizeof(cmd),
		 "mount -t tmpfs -o size=16m,nr_inodes=64 tmpfs %s "
		 "2>/dev/null", mnt);
	if (geteuid() != 0 || system(cmd) != 0) {
		print_message("  # SKIP: cannot mount a tmpfs\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/store", mnt);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_int_equal(store_put(st, "rec", STORE_ABSENT, "kept", 4, NULL,
				   NULL), 0);
	store_close(st);
	for (n = 0;; n++) {
		snprintf(path, sizeof(path), "%s/i%d", mnt, n);
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			break;
		close(fd);
	}
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_true(rec_equals(st, "rec", "kept", 4));
	assert_int_equal(store_delete(st, "rec", STORE_ANY, NULL), 0);
	store_close(st);
	small_tmpfs_gone(mnt);
}

/* Compaction on a full disk with the reserve whole and no delete made:
 * its output may have the reserve (it frees the dead log).  Until
 * 2026-12-07 it had it only when its roll happened to need it; with a
 * few KiB free the roll passed, the output met ENOSPC and compaction
 * failed, the reserve untouched.  @room: bytes left free. */
static void compaction_full_disk(off_t room)
{
	char mnt[128], dir[160], path[200];
	enum { XV = 60000 };
	struct store_opts o = { .compact_ratio = -1,
				.reserve_bytes = 1 << 20 };
	struct store *st;
	struct statvfs vs;
	char *xv = malloc(XV);
	unsigned long long before;
	int rc = 0, n;

	assert_non_null(xv);
	if (small_tmpfs("tmpfs_compact", mnt, sizeof(mnt)) < 0) {
		free(xv);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/store", mnt);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_int_equal(store_put(st, "rec", STORE_ABSENT, "kept", 4, NULL,
				   NULL), 0);
	for (n = 0; n < 40; n++) { /* 2.4 MB of dead xattrs */
		fill_val(xv, XV, n);
		assert_int_equal(store_setxattr(st, "rec", "user.x", xv, XV,
						0), 0);
	}
	for (n = 0; n < 8; n++) { /* and 480 KB of live ones */
		char key[16];
		snprintf(key, sizeof(key), "live%d", n);
		assert_int_equal(store_put(st, key, STORE_ABSENT, "l", 1,
					   NULL, NULL), 0);
		assert_int_equal(store_setxattr(st, key, "user.x", xv, XV,
						0), 0);
	}
	fill_disk(mnt);
	for (n = 0; n < 1000; n++) { /* the log's tail taken too */
		fill_val(xv, XV, n);
		rc = store_setxattr(st, "rec", "user.x", xv, XV, 0);
		if (rc < 0)
			break;
	}
	assert_int_equal(rc, -ENOSPC);
	/* With room for a new segment, not for the output, the roll
	 * does not need the reserve. */
	snprintf(path, sizeof(path), "%s/filler", mnt);
	assert_int_equal(truncate(path, 0), 0);
	fill_disk(mnt);
	{
		struct stat sb;
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(truncate(path, sb.st_size - room), 0);
	}
	assert_int_equal(statvfs(mnt, &vs), 0);
	before = (unsigned long long)vs.f_bavail * vs.f_frsize;
	assert_int_equal(store_compact(st), 0);
	assert_int_equal(statvfs(mnt, &vs), 0);
	assert_true((unsigned long long)vs.f_bavail * vs.f_frsize >=
		    before + (1u << 20));
	assert_true(rec_equals(st, "rec", "kept", 4));
	store_close(st);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_true(rec_equals(st, "rec", "kept", 4));
	store_close(st);
	small_tmpfs_gone(mnt);
	free(xv);
}

static void test_compaction_has_reserve(void **state)
{
	(void)state;
	compaction_full_disk(64 << 10);
	compaction_full_disk(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_change_full_disk_fails_at_write),
		cmocka_unit_test(test_small_change_full_tmpfs),
		cmocka_unit_test(test_spooled_change_full_disk_commits),
		cmocka_unit_test(test_reservations_released),
		cmocka_unit_test(test_roll_keeps_reservations),
		cmocka_unit_test(test_reserve_kept_for_deletes),
		cmocka_unit_test(test_reserve_kept_from_puts_and_cuts),
		cmocka_unit_test(test_open_on_full_disk_keeps_reserve),
		cmocka_unit_test(test_open_out_of_inodes),
		cmocka_unit_test(test_delete_keeps_reserve_for_open),
		cmocka_unit_test(test_compaction_has_reserve),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

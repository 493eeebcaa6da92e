/* test_store.c - the store API and the version rules, through store.h
 * only (SPEC.md "Versions", "The store"): opening, reads and writes,
 * metadata.  Names, transactions and history have their own files
 * (test_store_*.c), with the fixture in store_fixture.h.  Each test opens
 * a fresh store in its own temp directory; most reopen and compact it
 * too, because a rule that holds only until restart does not hold. */
#include "store_fixture.h"

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

/* The lock file names its holder and what the holder noted (recfs: its
 * FUSE connection and mount point, for a later mount to free the store
 * should it die stuck in the kernel: fs/holder.c). */
static void test_lock_note(void **state)
{
	struct fx *f = *state;
	char buf[256], want[256];

	fx_open(f);
	assert_int_equal(store_after_fork(f->st), 0);
	assert_int_equal(store_lock_note(f->st, "fuse=41 mnt=/m n"), 0);
	snprintf(want, sizeof(want), "%d\nfuse=41 mnt=/m n\n", (int)getpid());
	assert_int_equal(store_lock_read(f->dir, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
	/* One line: a note that would forge a second one is refused and
	 * leaves the file as it was. */
	assert_int_equal(store_lock_note(f->st, "x\nfuse=1"), -EINVAL);
	assert_int_equal(store_lock_read(f->dir, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
	/* Cut to the buffer, NUL-terminated. */
	assert_int_equal(store_lock_read(f->dir, buf, 3), 0);
	assert_int_equal(strlen(buf), 2);
	/* A fresh start of the daemon writes its pid alone again. */
	assert_int_equal(store_after_fork(f->st), 0);
	snprintf(want, sizeof(want), "%d\n", (int)getpid());
	assert_int_equal(store_lock_read(f->dir, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
	fx_close(f);
	assert_int_equal(store_lock_read(f->tmp, buf, sizeof(buf)), -ENOENT);
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
	/* Nor devices or fifos, whichever way the record is made: a staged
	 * change's commit takes its meta "as for store_put()" (store.h). */
	{
		static const uint32_t types[] = { S_IFCHR, S_IFBLK, S_IFIFO,
						  S_IFSOCK, S_IFDIR };
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]);
		     i++) {
			struct store_meta bm = { .mode = types[i] | 0644 };
			struct store_txn *t;

			assert_int_equal(store_put(f->st, "dev", STORE_ABSENT,
						   "x", 1, &bm, &v), -EINVAL);
			assert_int_equal(store_txn_begin(f->st, "dev", 1, &t),
					 0);
			assert_int_equal(store_txn_write(t, "x", 1, 0), 1);
			assert_int_equal(store_txn_commit(t, STORE_ABSENT, &bm,
							  0, &v), -EINVAL);
			assert_int_equal(store_stat(f->st, "dev", &s),
					 -ENOENT);
		}
	}
	fx_reopen(f);
	assert_int_equal(store_stat(f->st, "ln", &s), 0);
	assert_true(S_ISLNK(s.meta.mode));
	assert_int_equal(store_stat(f->st, "dev", &s), -ENOENT);
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

/* ---- metadata ------------------------------------------------------ */

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

/* A node names its owner (uid, gid) by a number into the index's table
 * of pairs; past the table's 65,280 pairs an owner lives in the node
 * itself.  Either way each record keeps its own pair and its mode,
 * through changes, a reopen and a compaction. */
#define OWNERS_N (65280 + 300)

static void check_owners(struct store *st)
{
	for (unsigned i = 0; i < OWNERS_N; i += 1 + i / 1000) {
		char key[32];
		struct store_stat ss;

		snprintf(key, sizeof(key), "o/%u", i);
		assert_int_equal(store_stat(st, key, &ss), 0);
		if (ss.meta.uid != 100000 + i || ss.meta.gid != 7 + i % 3)
			fail_msg("%s: owner %u:%u, want %u:%u", key,
				 ss.meta.uid, ss.meta.gid, 100000 + i,
				 7 + i % 3);
		assert_int_equal(ss.meta.mode, S_IFREG | (i % 2 ? 07777 : 0600));
	}
}

static void test_many_owners(void **state)
{
	struct fx *f = *state;
	struct store_meta m = { 0 };

	fx_open(f);
	assert_int_equal(store_mkdir(f->st, "o", NULL), 0);
	for (unsigned i = 0; i < OWNERS_N; i++) {
		char key[32];

		snprintf(key, sizeof(key), "o/%u", i);
		put_str(f->st, key, STORE_ABSENT, "x");
		m.uid = 100000 + i;
		m.gid = 7 + i % 3;
		m.mode = i % 2 ? 07777 : 0600;
		assert_int_equal(store_setmeta(f->st, key, &m,
					       STORE_META_UID |
						       STORE_META_GID |
						       STORE_META_MODE),
				 0);
	}
	check_owners(f->st);
	/* A new version keeps the record's owner, table or not. */
	put_str(f->st, "o/0", 1, "y");
	put_str(f->st, "o/65500", 1, "y");
	check_owners(f->st);
	fx_reopen(f);
	check_owners(f->st);
	assert_int_equal(store_compact(f->st), 0);
	check_owners(f->st);
	fx_reopen(f);
	check_owners(f->st);
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
		T(test_lock_note),
		T(test_put_get_stat),
		T(test_symlink),
		T(test_versions_per_commit),
		T(test_create_only),
		T(test_stale_expect),
		T(test_store_any),
		T(test_delete_tombstone),
		T(test_persist_reopen_compact),
		T(test_metadata),
		T(test_xattr_limits),
		T(test_dir_xattrs),
		T(test_many_owners),
		T(test_snap_keeps_version),
		cmocka_unit_test(test_hash_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

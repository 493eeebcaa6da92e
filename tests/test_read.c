/* test_read.c - a version's bytes are checked against its content hash
 * when they are read (store/read.c, "struct snap_check").
 *
 * What must hold, for a byte that changed in a store file after its
 * commit (bit rot, a stray write), the store still open:
 * - a small version (copied at open) fails to open: EIO;
 * - a larger one, inline or in a blob, fails the read that reaches its
 *   end in order, and every read after it; one read of the whole fails;
 * - nothing the store copies from it becomes a new version under a hash
 *   that fits the damage: a partial write on top, a cut to a shorter
 *   length (of the undamaged part), an append, a rename of an inline
 *   version, compaction;
 * - undamaged versions read in any order, again and again, through
 *   duplicates, never fail.
 * Each test flips one byte of a version's content in its file. */
#include "store_fixture.h"

#define SMALL 100         /* copied whole at snapshot open */
#define MID (20 << 10)    /* inline, read through a descriptor */
#define BLOB (200 << 10)  /* above inline_max: a blob file */
#define MARK "<-MARK->"

/* @n bytes of text with MARK at the middle. */
static char *content(size_t n)
{
	char *p = malloc(n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + i % 26);
	if (n >= 2 * strlen(MARK))
		memcpy(p + n / 2, MARK, strlen(MARK));
	return p;
}

/* Flip the byte after MARK in file @path.  @return 1 if it was there. */
static int flip_in(const char *path)
{
	size_t len, ml = strlen(MARK);
	uint8_t *d = tl_slurp(path, &len);
	int found = 0, fd;

	if (!d)
		return 0;
	for (size_t i = 0; i + ml < len; i++) {
		if (memcmp(d + i, MARK, ml) != 0)
			continue;
		fd = open(path, O_WRONLY);
		assert_true(fd >= 0);
		d[i + ml] ^= 0x20;
		assert_int_equal(pwrite(fd, d + i + ml, 1, (off_t)(i + ml)),
				 1);
		close(fd);
		found = 1;
		break;
	}
	free(d);
	return found;
}

/* Flip the content of the one version with MARK, in a segment or in a
 * blob of store @dir. */
static void damage(const char *dir)
{
	const char *sub[] = { "", "/blobs" };
	char path[600], d[300];
	int done = 0;

	for (size_t k = 0; k < 2 && !done; k++) {
		DIR *dh;
		struct dirent *e;

		snprintf(d, sizeof(d), "%s%s", dir, sub[k]);
		dh = opendir(d);
		assert_non_null(dh);
		while (!done && (e = readdir(dh))) {
			if (e->d_name[0] == '.' ||
			    (k == 0 && !strstr(e->d_name, ".seg")))
				continue;
			snprintf(path, sizeof(path), "%s/%s", d, e->d_name);
			done = flip_in(path);
		}
		closedir(dh);
	}
	assert_true(done);
}

/* Read all of @s in @chunk-byte reads, in order.  @return the first
 * error (and *at its offset), or the bytes read. */
static ssize_t read_all(struct store_snap *s, size_t chunk, uint64_t *at)
{
	char *buf = malloc(chunk);
	uint64_t off = 0;
	ssize_t n;

	assert_non_null(buf);
	while ((n = store_snap_read(s, buf, chunk, off)) > 0)
		off += (uint64_t)n;
	free(buf);
	*at = off;
	return n < 0 ? n : (ssize_t)off;
}

static void test_small_fails_at_open(void **state)
{
	struct fx *f = *state;
	char *c = content(SMALL), *buf = NULL;
	struct store_snap *s = NULL;
	size_t n;

	fx_open(f);
	put_buf(f->st, "r", 0, c, SMALL);
	damage(f->dir);
	assert_int_equal(store_snap_open(f->st, "r", 0, &s), -EIO);
	assert_int_equal(store_get(f->st, "r", &buf, &n, NULL), -EIO);
	assert_null(buf);
	free(c);
}

/* A larger version, inline (@len MID) or a blob (BLOB). */
static void fails_at_end(struct fx *f, size_t len)
{
	char *c = content(len), *buf = NULL, one[16];
	struct store_snap *s, *d;
	uint64_t at;
	size_t n;

	fx_open(f);
	put_buf(f->st, "r", 0, c, len);
	damage(f->dir);

	/* In order, 4 KiB at a time: the last read fails, and every read
	 * after it. */
	assert_int_equal(store_snap_open(f->st, "r", 0, &s), 0);
	assert_int_equal(read_all(s, 4096, &at), -EIO);
	assert_int_equal(at, (len - 1) / 4096 * 4096);
	assert_int_equal(store_snap_read(s, one, sizeof(one), 0), -EIO);
	/* A duplicate checks on its own, from the start. */
	assert_int_equal(store_snap_dup(s, &d), 0);
	assert_int_equal(read_all(d, 65536, &at), -EIO);
	store_snap_close(d);
	store_snap_close(s);

	/* One read of the whole. */
	assert_int_equal(store_snap_open(f->st, "r", 0, &s), 0);
	assert_int_equal(read_all(s, len, &at), -EIO);
	assert_int_equal(at, 0);
	store_snap_close(s);
	assert_int_equal(store_get(f->st, "r", &buf, &n, NULL), -EIO);
	assert_null(buf);

	/* Out of order is not checked (recctl fsck is): the bytes as they
	 * are, damage included. */
	assert_int_equal(store_snap_open(f->st, "r", 0, &s), 0);
	assert_int_equal(store_snap_read(s, one, sizeof(one), 1), sizeof(one));
	assert_memory_equal(one, c + 1, sizeof(one));
	store_snap_close(s);
	free(c);
}

static void test_inline_fails_at_end(void **state)
{
	fails_at_end(*state, MID);
}

static void test_blob_fails_at_end(void **state)
{
	fails_at_end(*state, BLOB);
}

/* Nothing copies the damage into a new version. */
static void no_copy(struct fx *f, size_t len)
{
	char *c = content(len);
	struct store_txn *t;
	uint64_t v, nv = 0;

	fx_open(f);
	v = put_buf(f->st, "r", 0, c, len);
	/* (the store keeps recent commits' bytes in memory too: the
	 * rename would copy those, undamaged) */
	fx_reopen(f);
	damage(f->dir);

	/* A write of one byte on top of the version: its begin or its
	 * write fails. */
	if (store_txn_begin(f->st, "r", 0, &t) == 0) {
		assert_int_equal(store_txn_write(t, "X", 1, 0), -EIO);
		store_txn_abort(t);
	}
	/* A cut to 10 bytes, which would keep only undamaged ones. */
	if (store_txn_begin(f->st, "r", 0, &t) == 0) {
		assert_int_equal(store_txn_truncate(t, 10), -EIO);
		store_txn_abort(t);
	}
	assert_int_equal(store_truncate(f->st, "r", v, 10, &nv), -EIO);
	/* An append. */
	assert_int_equal(store_append(f->st, "r", "tail", 4, &nv), -EIO);
	/* A rename (an inline version is copied to its new key). */
	if (len <= MID)
		assert_int_equal(store_rename(f->st, "r", v, "s", STORE_ABSENT,
					      &nv),
				 -EIO);
	/* Compaction. */
	if (len <= MID)
		assert_int_equal(store_compact(f->st), -EIO);
	assert_int_equal(last_version(f->st, "r"), v);
	assert_int_equal(store_stat(f->st, "s", &(struct store_stat){ 0 }),
			 -ENOENT);
	free(c);
}

static void test_inline_not_copied(void **state)
{
	no_copy(*state, MID);
}

static void test_small_not_copied(void **state)
{
	no_copy(*state, SMALL);
}

static void test_blob_not_copied(void **state)
{
	no_copy(*state, BLOB);
}

/* Undamaged: reads in every order and size, twice over the same bytes,
 * and through a duplicate, all succeed with the content. */
static void test_undamaged_reads(void **state)
{
	struct fx *f = *state;
	size_t sizes[] = { 0, 1, SMALL, 4096, 4097, MID, BLOB };
	char *buf = malloc(BLOB);

	assert_non_null(buf);
	fx_open(f);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char key[16], *c = content(sizes[i] + strlen(MARK));
		size_t len = sizes[i];
		struct store_snap *s, *d;
		uint64_t at, v;

		snprintf(key, sizeof(key), "r%zu", i);
		v = put_buf(f->st, key, 0, c, len);
		assert_int_equal(store_snap_open(f->st, key, 0, &s), 0);
		/* backwards first, then overlapping reads in order */
		for (size_t off = len; off > 0;) {
			size_t n = off >= 1000 ? 1000 : off;
			off -= n;
			assert_int_equal(store_snap_read(s, buf, n, off), n);
			assert_memory_equal(buf, c + off, n);
		}
		for (size_t off = 0; off < len; off += 700) {
			size_t n = len - off < 1000 ? len - off : 1000;
			assert_int_equal(store_snap_read(s, buf, 1000, off), n);
			assert_memory_equal(buf, c + off, n);
		}
		assert_int_equal(read_all(s, 3000, &at), (ssize_t)len);
		assert_int_equal(store_snap_dup(s, &d), 0);
		store_snap_close(s);
		assert_int_equal(read_all(d, 65536, &at), (ssize_t)len);
		store_snap_close(d);
		assert_int_equal(rec_is(f->st, key, c, len, v), 0);
		free(c);
	}
	/* and compaction copies them all */
	assert_int_equal(store_compact(f->st), 0);
	free(buf);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_small_fails_at_open),
		T(test_inline_fails_at_end),
		T(test_blob_fails_at_end),
		T(test_small_not_copied),
		T(test_inline_not_copied),
		T(test_blob_not_copied),
		T(test_undamaged_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

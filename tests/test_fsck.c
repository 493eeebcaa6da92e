/* test_fsck.c - store_fsck() and store_dump() on real stores.
 *
 * Each test builds a store through store.h, closes it, damages a copy
 * the way a crash or a bad disk would, and checks both the verdict and
 * that the report names the right file and byte offset: an operator
 * acts on that line, so a wrong offset is a wrong answer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "log.h"
#include "store.h"
#include "store_testlib.h"

#define BIG_LEN 100000 /* above the inline_max below: stored as a blob */

struct fx {
	char tmp[64];
	char dir[96];
	char *out;      /* the last report */
};

/* ---- helpers ------------------------------------------------------- */

static int run_fsck(struct fx *f, int repair)
{
	size_t len = 0;
	FILE *m = tl_report_begin(&f->out, &len);

	return tl_report_end(m, store_fsck(f->dir, repair, m));
}

/* run_fsck(), and the count of versions whose blob is lost. */
static int run_fsck_lost(struct fx *f, int repair, uint64_t *lost)
{
	size_t len = 0;
	FILE *m = tl_report_begin(&f->out, &len);

	return tl_report_end(m, store_fsck_ex(f->dir, repair, m, lost));
}

static int run_dump(struct fx *f)
{
	size_t len = 0;
	FILE *m = tl_report_begin(&f->out, &len);

	return tl_report_end(m, store_dump(f->dir, m));
}

static void expect_in(const struct fx *f, const char *needle)
{
	tl_expect_in(f->out, needle);
}

static void expect_not_in(const struct fx *f, const char *needle)
{
	tl_expect_not_in(f->out, needle);
}

/* Path of the highest-id segment (the one a crash tears). */
static void last_segment(const struct fx *f, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", f->dir, tl_last_segment(f->dir));
}

/* Offsets of the entries of a segment, in order.  @return count. */
static size_t entry_offsets(const char *path, uint64_t *offs, size_t max,
			    uint64_t *size)
{
	struct log_reader r;
	struct log_entry e;
	uint64_t off;
	size_t n = 0;
	int fd = open(path, O_RDONLY), rc;

	assert_true(fd >= 0);
	assert_int_equal(log_reader_init(&r, fd), 0);
	while ((rc = log_reader_next(&r, &e, &off)) == 1)
		if (n < max)
			offs[n++] = off;
	assert_int_equal(rc, 0);
	*size = r.file_size;
	log_reader_free(&r);
	close(fd);
	return n;
}

static void flip_byte(const char *path, uint64_t off)
{
	uint8_t b;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

/* The one blob the fixture store has. */
static void blob_path(const struct fx *f, char *path, size_t len)
{
	struct dirent *de;
	char bdir[128];

	assert_true(len >= sizeof(bdir) + 1 + 256);
	DIR *d;

	snprintf(bdir, sizeof(bdir), "%s/blobs", f->dir);
	d = opendir(bdir);
	assert_non_null(d);
	path[0] = '\0';
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 16)
			snprintf(path, len, "%s/%s", bdir, de->d_name);
	closedir(d);
	assert_true(path[0]);
}

/* ---- fixture: a small store with a directory, records, a rewrite, a
 * delete and a blob ---------------------------------------------------- */

static int setup(void **state)
{
	static char big[BIG_LEN];
	struct store_opts o = { 0 };
	struct store *st;
	struct fx *f = calloc(1, sizeof(*f));
	uint64_t v;

	if (!f)
		return -1;
	strcpy(f->tmp, "/tmp/test_fsck.XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->tmp);
	memset(big, 'b', sizeof(big));
	o.inline_max = 1024;
	o.compact_ratio = -1; /* no background work to race the checks */
	if (store_open(f->dir, &o, &st) < 0)
		return -1;
	if (store_mkdir(st, "d", NULL) < 0 ||
	    store_put(st, "d/a", STORE_ABSENT, "one", 3, NULL, &v) < 0 ||
	    store_put(st, "d/a", v, "two", 3, NULL, &v) < 0 ||
	    store_put(st, "d/big", STORE_ABSENT, big, sizeof(big), NULL,
		      &v) < 0 ||
	    store_put(st, "gone", STORE_ABSENT, "x", 1, NULL, &v) < 0 ||
	    store_delete(st, "gone", v, &v) < 0 ||
	    store_put(st, "last", STORE_ABSENT, "tail", 4, NULL, &v) < 0) {
		store_close(st);
		return -1;
	}
	if (store_close(st) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	return tl_fixture_end(f->tmp, f->out, f);
}

/* ---- tests ----------------------------------------------------------- */

static void test_clean(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run_fsck(f, 0), 0);
	expect_in(f, ": clean\n");
	expect_in(f, " 1 blobs checked");
	expect_not_in(f, "torn");
	expect_not_in(f, "corrupt");
	/* Repair of a clean store changes nothing and says so. */
	assert_int_equal(run_fsck(f, 1), 0);
	expect_in(f, ": clean\n");
}

/* A crash mid-write: the last entry is cut short. */
/* The hint of segment file @seg: removed, as a crash that tears the
 * segment leaves none (it is written at a roll or a close, after the
 * segment's sync, and says so: HINT_F_DURABLE). */
static void drop_hint(const char *seg)
{
	char h[192];
	size_t l = strlen(seg);

	assert_true(l > 4 && l < sizeof(h));
	memcpy(h, seg, l - 4);
	strcpy(h + l - 4, ".hint");
	unlink(h);
}

static void test_torn_tail(void **state)
{
	struct fx *f = *state;
	char seg[160], want[96];
	uint64_t offs[64], size, last;
	struct stat sb;
	size_t n;

	last_segment(f, seg, sizeof(seg));
	n = entry_offsets(seg, offs, 64, &size);
	assert_true(n >= 2);
	last = offs[n - 1];
	assert_int_equal(truncate(seg, (off_t)(last + 20)), 0);
	/* Under its hint, which says the segment was on disk, that is
	 * damage, as an open has it: corrupt, not a tail to cut. */
	snprintf(want, sizeof(want), "corrupt entry at offset %" PRIu64 "\n",
		 last);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, want);
	expect_not_in(f, "torn");
	drop_hint(seg);

	snprintf(want, sizeof(want), "torn tail at offset %" PRIu64 " (20 bytes",
		 last);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, want);
	expect_in(f, "1 problem\n");
	assert_int_equal(stat(seg, &sb), 0);
	assert_int_equal(sb.st_size, last + 20); /* a check alone cuts nothing */

	assert_int_equal(run_fsck(f, 1), 0);
	expect_in(f, want);
	expect_in(f, ", cut\n");
	assert_int_equal(stat(seg, &sb), 0);
	assert_int_equal(sb.st_size, last);

	assert_int_equal(run_fsck(f, 0), 0);
	expect_in(f, ": clean\n");
}

/* Zeros after the last entry (written ahead of the log with sync=always)
 * are the segment's clean end, as replay has it: no problem, nothing to
 * cut, and the dump goes on to the end.  A torn entry followed by zeros
 * is still a torn tail. */
static void test_zero_tail(void **state)
{
	struct fx *f = *state;
	char seg[160], want[96];
	uint64_t offs[64], size;
	struct stat sb;
	size_t n;

	last_segment(f, seg, sizeof(seg));
	n = entry_offsets(seg, offs, 64, &size);
	assert_true(n >= 2);
	assert_int_equal(truncate(seg, (off_t)(size + 4096)), 0);
	assert_int_equal(run_fsck(f, 0), 0);
	expect_in(f, ": clean\n");
	expect_not_in(f, "torn");
	assert_int_equal(run_fsck(f, 1), 0);
	expect_in(f, ": clean\n");
	assert_int_equal(run_dump(f), 0);
	snprintf(want, sizeof(want), "%s %" PRIu64 " ", strrchr(seg, '/') + 1,
		 offs[n - 1]);
	expect_in(f, want);
	expect_not_in(f, "stopped");

	/* The last entry torn (its first 20 bytes), then zeros. */
	drop_hint(seg);
	assert_int_equal(truncate(seg, (off_t)(offs[n - 1] + 20)), 0);
	assert_int_equal(truncate(seg, (off_t)(size + 4096)), 0);
	snprintf(want, sizeof(want), "torn tail at offset %" PRIu64,
		 offs[n - 1]);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, want);
	assert_int_equal(run_fsck(f, 1), 0);
	expect_in(f, ", cut\n");
	assert_int_equal(stat(seg, &sb), 0);
	assert_int_equal(sb.st_size, offs[n - 1]);
	assert_int_equal(run_fsck(f, 0), 0);
}

/* A group whose COMMIT never made it to disk is part of the torn tail:
 * the cut goes to the group's first entry, not to the damaged one. */
static void test_unclosed_group(void **state)
{
	struct fx *f = *state;
	static const uint8_t zero_hash[16];
	struct store_meta m = { .mode = 0100644 };
	uint8_t body[LOG_BODY_FIXED], *e1, *e2;
	size_t l1, l2;
	char seg[160], want[128];
	uint64_t offs[64], size;
	struct stat sb;
	int fd;

	last_segment(f, seg, sizeof(seg));
	entry_offsets(seg, offs, 64, &size);
	log_body_encode(body, &m, zero_hash, 0, NULL, 0);
	/* A rename's shape: tombstone of the source, then the target. */
	l1 = log_entry_size(4, 0, 0);
	e1 = malloc(l1);
	l2 = log_entry_size(6, sizeof(body), 0);
	e2 = malloc(l2);
	assert_non_null(e1);
	assert_non_null(e2);
	log_entry_encode(e1, LOG_DEL, 0, "last", 4, 2, 1, 0, NULL, 0, NULL, 0);
	log_entry_encode(e2, LOG_PUT, LOG_F_COMMIT, "moved2", 6, 1, 1, 0, body,
			 sizeof(body), NULL, 0);
	fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, e1, l1), (ssize_t)l1);
	assert_int_equal(write(fd, e2, l2 - 10), (ssize_t)(l2 - 10));
	close(fd);

	snprintf(want, sizeof(want),
		 "torn tail at offset %" PRIu64 " (%zu bytes; unclosed group, "
		 "damaged entry at offset %" PRIu64 ")",
		 size, l1 + l2 - 10, size + l1);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, want);
	assert_int_equal(run_fsck(f, 1), 0);
	assert_int_equal(stat(seg, &sb), 0);
	assert_int_equal(sb.st_size, size);

	/* Whole entries but no COMMIT at the end: still torn. */
	fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, e1, l1), (ssize_t)l1);
	close(fd);
	snprintf(want, sizeof(want),
		 "torn tail at offset %" PRIu64 " (%zu bytes; unclosed group)",
		 size, l1);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, want);
	assert_int_equal(run_fsck(f, 1), 0);
	assert_int_equal(run_fsck(f, 0), 0);
	free(e1);
	free(e2);
}

/* A whole, checksummed PUT that does not raise its key's version breaks
 * what the index keeps (a record's version is its newest version's): the
 * open refuses it, and fsck names it. */
static void test_version_not_above(void **state)
{
	struct fx *f = *state;
	static const uint8_t zero_hash[16];
	struct store_meta m = { .mode = 0100644 };
	struct store_opts o = { .compact_ratio = -1 };
	struct store *st = NULL;
	uint8_t body[LOG_BODY_FIXED], *e;
	size_t l;
	char seg[160], want[160];
	uint64_t offs[64], size;
	int fd;

	last_segment(f, seg, sizeof(seg));
	entry_offsets(seg, offs, 64, &size);
	log_body_encode(body, &m, zero_hash, 0, NULL, 0);
	l = log_entry_size(4, sizeof(body), 0);
	e = malloc(l);
	assert_non_null(e);
	/* "last" is at version 1 already. */
	log_entry_encode(e, LOG_PUT, LOG_F_COMMIT, "last", 4, 1, 1, 0, body,
			 sizeof(body), NULL, 0);
	fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, e, l), (ssize_t)l);
	close(fd);
	free(e);

	assert_int_equal(store_open(f->dir, &o, &st), -EUCLEAN);
	assert_int_equal(run_fsck(f, 0), 1);
	snprintf(want, sizeof(want), "entry at offset %" PRIu64
		 " contradicts the entries before it: PUT not above the "
		 "versions kept", size);
	expect_in(f, want);
}

/* A flipped byte in the middle: corruption, reported at the entry's
 * offset and never "repaired". */
static void test_corrupt_middle(void **state)
{
	struct fx *f = *state;
	char seg[160], want[96];
	uint64_t offs[64], size;
	uint8_t *before, *after;
	size_t n, lb, la;

	last_segment(f, seg, sizeof(seg));
	n = entry_offsets(seg, offs, 64, &size);
	assert_true(n >= 3);
	flip_byte(seg, offs[1] + 20); /* inside its version field */
	snprintf(want, sizeof(want), "corrupt entry at offset %" PRIu64 "\n",
		 offs[1]);

	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, want);
	before = tl_slurp(seg, &lb);
	assert_int_equal(run_fsck(f, 1), 1);
	expect_in(f, want);
	expect_not_in(f, "cut");
	after = tl_slurp(seg, &la);
	assert_int_equal(la, lb);
	assert_memory_equal(before, after, lb);
	free(before);
	free(after);
}

static void test_missing_blob(void **state)
{
	struct fx *f = *state;
	char blob[512];

	blob_path(f, blob, sizeof(blob));
	assert_int_equal(unlink(blob), 0);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, strstr(blob, "blobs/"));
	expect_in(f, ": missing (key d/big v1");
	assert_int_equal(run_fsck(f, 1), 1); /* nothing to repair it with */
}

/* A blob missing behind damage is no lost blob (later entries that let
 * go of it were not read): fsck reports both, but --repair, which lets
 * go of lost blobs' versions, is not what it needs. */
static void test_missing_blob_past_damage(void **state)
{
	struct fx *f = *state;
	char seg[160], blob[512];
	uint64_t offs[64], size, lost = 99;
	size_t n, len = 0;
	FILE *m;

	last_segment(f, seg, sizeof(seg));
	n = entry_offsets(seg, offs, 64, &size);
	assert_true(n >= 3);
	flip_byte(seg, offs[n - 2] + 20); /* after d/big's entry */
	blob_path(f, blob, sizeof(blob));
	assert_int_equal(unlink(blob), 0);
	m = tl_report_begin(&f->out, &len);
	assert_int_equal(tl_report_end(m, store_fsck_ex(f->dir, 0, m, &lost)),
			 1);
	expect_in(f, "corrupt entry at offset");
	assert_int_equal(lost, 0);
	/* Without the damage, the same blob is a lost one. */
	flip_byte(seg, offs[n - 2] + 20);
	m = tl_report_begin(&f->out, &len);
	assert_int_equal(tl_report_end(m, store_fsck_ex(f->dir, 0, m, &lost)),
			 1);
	assert_int_equal(lost, 1);
}

/* Same size, other bytes: only the content hash can tell. */
static void test_blob_content(void **state)
{
	struct fx *f = *state;
	char blob[512];

	blob_path(f, blob, sizeof(blob));
	flip_byte(blob, BIG_LEN / 2);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, "hash mismatch");
	expect_in(f, "(key d/big v1");

	assert_int_equal(truncate(blob, 10), 0);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, "10 bytes, entry says 100000");
}

/* Bytes appended to a blob (a bad copy, a tool that wrote to the wrong
 * file): its first bytes are still the version's, which its hash
 * proves, so --repair cuts it back and keeps the version.  Until
 * 2026-12-07 it was "of the wrong size" like any other: lost, and
 * recctl fsck --repair deleted the record.  If those first bytes do not
 * match, it is lost as before. */
static void test_blob_appended(void **state)
{
	struct fx *f = *state;
	char err[512] = "";
	struct store_opts o = { .inline_max = 1024, .compact_ratio = -1,
				.errbuf = err, .errlen = sizeof(err) };
	struct store *st;
	struct store_stat ss;
	char blob[512], want[64];
	uint64_t lost = 99;
	struct stat sb;
	FILE *fp;

	blob_path(f, blob, sizeof(blob));
	fp = fopen(blob, "ab");
	assert_non_null(fp);
	assert_true(fputs("garbage\n", fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	snprintf(want, sizeof(want), "%d bytes, entry says %d", BIG_LEN + 8,
		 BIG_LEN);
	assert_int_equal(store_open(f->dir, &o, &st), -EUCLEAN);
	/* The open's message must not say the repair lets go of it. */
	tl_expect_in(err, "longer than its version says for d/big version 1");
	tl_expect_in(err, "recctl fsck --repair cuts it back");
	assert_int_equal(run_fsck_lost(f, 0, &lost), 1);
	expect_in(f, want);
	expect_in(f, "--repair cuts it back");
	assert_int_equal(lost, 0); /* nothing for salvage to let go of */
	assert_int_equal(stat(blob, &sb), 0);
	assert_int_equal(sb.st_size, BIG_LEN + 8); /* a check cuts nothing */
	assert_int_equal(run_fsck(f, 1), 0);
	expect_in(f, "cut back to its entry's length");
	expect_in(f, ": clean (1 repaired)\n");
	assert_int_equal(stat(blob, &sb), 0);
	assert_int_equal(sb.st_size, BIG_LEN);
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_stat(st, "d/big", &ss), 0);
	assert_int_equal(ss.version, 1);
	assert_int_equal(ss.size, BIG_LEN);
	assert_int_equal(store_close(st), 0);

	/* Longer, and its first bytes damaged too: lost, left to salvage. */
	flip_byte(blob, 10);
	fp = fopen(blob, "ab");
	assert_non_null(fp);
	assert_true(fputs("garbage\n", fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(run_fsck_lost(f, 1, &lost), 1);
	expect_in(f, want);
	expect_not_in(f, "cut");
	assert_int_equal(lost, 1);
	assert_int_equal(stat(blob, &sb), 0);
	assert_int_equal(sb.st_size, BIG_LEN + 8);
}

static void test_in_use(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { .compact_ratio = -1 };
	struct store *st;
	char want[64];

	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(run_fsck(f, 0), -EWOULDBLOCK);
	snprintf(want, sizeof(want), "store in use by pid %d", (int)getpid());
	expect_in(f, want);
	assert_int_equal(run_dump(f), -EWOULDBLOCK);
	assert_int_equal(store_close(st), 0);
	assert_int_equal(run_fsck(f, 0), 0);
}

static void test_not_a_store(void **state)
{
	struct fx *f = *state;
	char path[160];

	snprintf(path, sizeof(path), "%s/none", f->tmp);
	strcpy(f->dir, path);
	assert_int_equal(run_fsck(f, 0), -ENOENT);
	assert_int_equal(run_dump(f), -ENOENT);
	snprintf(path, sizeof(path), "%s/file", f->tmp);
	assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	strcpy(f->dir, path);
	assert_int_equal(run_fsck(f, 0), -ENOTDIR);
}

/* The path of a hint file of the store in *hint, or "" if it has none. */
static void hint_path(const struct fx *f, char *hint, size_t len)
{
	struct dirent *de;
	DIR *d = opendir(f->dir);

	assert_non_null(d);
	hint[0] = 0;
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 21 &&
		    strcmp(de->d_name + 16, ".hint") == 0)
			snprintf(hint, len, "%s/%s", f->dir, de->d_name);
	closedir(d);
}

/* A bad hint is ignored and rebuilt by the store: a warning only. */
static void test_bad_hint(void **state)
{
	struct fx *f = *state;
	char hint[512];

	hint_path(f, hint, sizeof(hint));
	if (!hint[0])
		skip(); /* the store wrote none: nothing to damage */
	flip_byte(hint, 40);
	assert_int_equal(run_fsck(f, 0), 0);
	expect_in(f, "bad, will be rebuilt");
	expect_in(f, ": clean\n");
}

/* A hint that cannot be read (a directory in its place, a file the
 * checker may not read) is ignored by the open, which scans its
 * segment: fsck warns and checks the rest, as for a bad hint.  It
 * stopped there with "Input/output error" (exit 2), blobs unchecked. */
static void test_unreadable_hint(void **state)
{
	struct fx *f = *state;
	char hint[512];
	struct store_opts o = { .read_only = 1 };
	struct store *st;

	hint_path(f, hint, sizeof(hint));
	if (!hint[0])
		skip(); /* the store wrote none: nothing to damage */
	assert_int_equal(unlink(hint), 0);
	assert_int_equal(mkdir(hint, 0700), 0);
	assert_int_equal(run_fsck(f, 0), 0);
	expect_in(f, "warning: ");
	expect_in(f, "ignored");
	expect_in(f, " 1 blobs checked: clean\n");
	expect_not_in(f, "Input/output error");
	assert_int_equal(run_fsck(f, 1), 0);
	/* The store opens it as fsck said. */
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	store_close(st);
}

/* A LOCK or a spool/ that an open cannot use (a directory in LOCK's
 * place, a file in spool/'s) refuses every read-write mount, naming it;
 * fsck called such a store clean. */
static void test_unusable_lock_spool(void **state)
{
	struct fx *f = *state;
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/LOCK", f->dir);
	unlink(p);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, "LOCK: not a regular file");
	assert_int_equal(rmdir(p), 0);
	snprintf(p, sizeof(p), "%s/spool", f->dir);
	assert_int_equal(rmdir(p), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, "spool/: Not a directory");
	expect_in(f, "1 problem\n");
	/* A link there: the open says so, and fsck said "Not a directory"
	 * (O_NOFOLLOW with O_DIRECTORY) until 2026-12-07. */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(f->tmp, p), 0);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, "spool/: a symbolic link, not followed");
	expect_not_in(f, "Not a directory");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	/* A RESERVE that is a link (or a directory) is not made: the mount
	 * says so and every write gets ENOSPC, and fsck called the store
	 * clean until 2026-12-07. */
	snprintf(p, sizeof(p), "%s/RESERVE", f->dir);
	unlink(p);
	assert_int_equal(symlink(f->tmp, p), 0);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, "RESERVE: a symbolic link, not followed");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, "RESERVE: not a regular file");
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(run_fsck(f, 0), 0);
}

/* @path replaced by a FIFO (mkfifo). */
static void make_fifo(const char *path)
{
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
}

/* A FIFO in place of a store file: an open of it for reading waits for
 * a writer that never comes, and fsck (and a mount) hung there for ever.
 * Each is reported as not a regular file, and nothing waits. */
static void test_fifo(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { 0 };
	struct store *st;
	char hint[512], blob[512], lock[256];

	hint_path(f, hint, sizeof(hint));
	blob_path(f, blob, sizeof(blob));
	snprintf(lock, sizeof(lock), "%s/LOCK", f->dir);
	alarm(60); /* a hang fails the test */
	if (hint[0]) {
		make_fifo(hint);
		assert_int_equal(run_fsck(f, 0), 0);
		expect_in(f, "warning: not a regular file, ignored");
		/* The open ignores it, as a bad hint. */
		assert_int_equal(store_open(f->dir, &o, &st), 0);
		assert_int_equal(store_close(st), 0);
	}
	make_fifo(blob);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, ": not a regular file (key d/big");
	{
		char seg[160];

		last_segment(f, seg, sizeof(seg));
		make_fifo(seg);
		assert_int_equal(run_fsck(f, 0), 1);
		expect_in(f, "bad header");
		/* Read-only, it reports the damage and serves what is
		 * before it (nothing): what matters is that it returns. */
		o.read_only = 1;
		if (store_open(f->dir, &o, &st) == 0)
			assert_int_equal(store_close(st), 0);
		o.read_only = 0;
	}
	make_fifo(lock);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, "LOCK: not a regular file");
	assert_int_equal(store_open(f->dir, &o, &st), -EINVAL);
	o.read_only = 1; /* which only locks it */
	if (store_open(f->dir, &o, &st) == 0)
		assert_int_equal(store_close(st), 0);
	alarm(0);
}

/* Move @path to @to and put a symbolic link to it in its place. */
static void link_away(const char *path, const char *to)
{
	assert_int_equal(rename(path, to), 0);
	assert_int_equal(symlink(to, path), 0);
}

/* A store file replaced by a symbolic link to a file elsewhere (a copy
 * made with cp -s, a restore tool, someone saving space): reading it
 * took another file for the store's, and a writable open, a repair or
 * a salvage would cut, append to or move what it names.  Store files
 * are never followed: a hint that is a link is ignored, as a bad one; a
 * blob that is one is lost, as one that is not a regular file (a
 * read-only open serves the store, and that version reads EIO); a
 * segment that is one is damage (the open refuses the store, -o ro
 * serves the segments before it, fsck reports it and --repair keeps
 * it).  Until 2026-12-07 all three were followed, and fsck called such
 * a store clean. */
static void test_symlink(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { .inline_max = 1024, .compact_ratio = -1 };
	struct store *st;
	char seg[160], hint[512], blob[512], other[192], *buf = NULL;
	uint8_t *was, *now;
	size_t len = 0, wlen, nlen;
	uint64_t lost = 0;
	struct stat sb;
	FILE *nul;

	hint_path(f, hint, sizeof(hint));
	blob_path(f, blob, sizeof(blob));
	last_segment(f, seg, sizeof(seg));

	if (hint[0]) {
		snprintf(other, sizeof(other), "%s/hint.elsewhere", f->tmp);
		link_away(hint, other);
		assert_int_equal(run_fsck(f, 0), 0);
		expect_in(f, "warning: a symbolic link, ignored");
		was = tl_slurp(other, &wlen);
		assert_int_equal(store_open(f->dir, &o, &st), 0);
		assert_int_equal(store_close(st), 0);
		now = tl_slurp(other, &nlen);
		assert_int_equal(nlen, wlen);
		assert_memory_equal(now, was, wlen);
		free(was);
		free(now);
		if (lstat(hint, &sb) == 0 && S_ISLNK(sb.st_mode))
			assert_int_equal(unlink(hint), 0);
	}

	snprintf(other, sizeof(other), "%s/blob.elsewhere", f->tmp);
	link_away(blob, other);
	assert_int_equal(run_fsck_lost(f, 0, &lost), 1);
	expect_in(f, ": a symbolic link, not followed (key d/big v1");
	assert_int_equal(lost, 1);
	assert_int_equal(store_open(f->dir, &o, &st), -EUCLEAN);
	o.read_only = 1;
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_get(st, "d/big", &buf, &len, NULL), -EIO);
	assert_int_equal(store_get(st, "d/a", &buf, &len, NULL), 0);
	assert_string_equal(buf, "two");
	free(buf);
	assert_int_equal(store_close(st), 0);
	o.read_only = 0;
	/* The repair (salvage) lets go of it and moves the link itself. */
	nul = fopen("/dev/null", "w");
	assert_non_null(nul);
	assert_int_equal(store_salvage(f->dir, nul), 1);
	fclose(nul);
	assert_int_equal(lstat(other, &sb), 0);
	assert_int_equal(sb.st_size, BIG_LEN);
	snprintf(other, sizeof(other), "%s/lost+found/%s", f->dir,
		 strrchr(blob, '/') + 1);
	assert_int_equal(lstat(other, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
	assert_int_equal(run_fsck(f, 0), 0);

	/* LOCK: an open refuses it, saying so (it said "Too many levels
	 * of symbolic links"), and fsck reports it (it stopped there, exit
	 * 2), checking the rest: no open can take the store meanwhile. */
	{
		char lock[256], err[512] = "";
		struct store_opts eo = o;

		eo.errbuf = err;
		eo.errlen = sizeof(err);
		snprintf(lock, sizeof(lock), "%s/LOCK", f->dir);
		snprintf(other, sizeof(other), "%s/lock.elsewhere", f->tmp);
		link_away(lock, other);
		was = tl_slurp(other, &wlen);
		assert_int_equal(run_fsck(f, 0), 1);
		expect_in(f, "LOCK: a symbolic link, not followed");
		expect_in(f, ": 1 problem\n");
		assert_true(store_open(f->dir, &eo, &st) < 0);
		tl_expect_in(err, "LOCK: a symbolic link, not followed");
		now = tl_slurp(other, &nlen);
		assert_int_equal(nlen, wlen);
		assert_memory_equal(now, was, wlen);
		free(was);
		free(now);
		assert_int_equal(unlink(lock), 0);
		assert_int_equal(rename(other, lock), 0);
	}

	last_segment(f, seg, sizeof(seg));
	snprintf(other, sizeof(other), "%s/seg.elsewhere", f->tmp);
	link_away(seg, other);
	was = tl_slurp(other, &wlen);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, ": a symbolic link, not followed");
	assert_int_equal(run_fsck(f, 1), 1);
	expect_in(f, ": a symbolic link, not followed");
	assert_int_equal(store_open(f->dir, &o, &st), -EUCLEAN);
	o.read_only = 1;
	assert_int_equal(store_open(f->dir, &o, &st), 0); /* what is before */
	assert_int_equal(store_close(st), 0);
	now = tl_slurp(other, &nlen);
	assert_int_equal(nlen, wlen);
	assert_memory_equal(now, was, wlen);
	free(was);
	free(now);
}

/* blobs/ that cannot be opened (a file in its place, gone): a read-write
 * open is refused naming it; a read-only one serves the records whose
 * bytes are in the log, says once that the versions kept in blobs read
 * EIO, and they do.  Until 2026-12-07 '-o ro' was refused when blobs/
 * was a file (or unreadable), though the message offered it, and
 * served a store without blobs/ with no word of its lost versions. */
static void test_blobs_dir_unusable(void **state)
{
	struct fx *f = *state;
	char err[512] = "", p[192], away[192], *buf = NULL;
	struct store_opts o = { .inline_max = 1024, .compact_ratio = -1,
				.errbuf = err, .errlen = sizeof(err) };
	struct store *st;
	struct store_stats t;
	size_t len = 0;
	int fd;

	snprintf(p, sizeof(p), "%s/blobs", f->dir);
	snprintf(away, sizeof(away), "%s/blobs.away", f->tmp);
	assert_int_equal(rename(p, away), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	for (int gone = 0; gone < 2; gone++) {
		o.read_only = 0;
		err[0] = 0;
		if (!gone) {
			assert_int_equal(store_open(f->dir, &o, &st),
					 -ENOTDIR);
			tl_expect_in(err, "blobs/");
		}
		o.read_only = 1;
		err[0] = 0;
		assert_int_equal(store_open(f->dir, &o, &st), 0);
		tl_expect_in(err, "blobs/");
		tl_expect_in(err, "read EIO");
		assert_int_equal(store_get(st, "d/a", &buf, &len, NULL), 0);
		assert_string_equal(buf, "two");
		free(buf);
		buf = NULL;
		assert_int_equal(store_get(st, "d/big", &buf, &len, NULL),
				 -EIO);
		assert_int_equal(store_stats(st, &t), 0);
		assert_int_equal(t.damaged, STORE_DAMAGE_BLOBS);
		assert_int_equal(store_close(st), 0);
		if (!gone) /* then blobs/ gone */
			assert_int_equal(unlink(p), 0);
	}
	assert_int_equal(rename(away, p), 0);
}

/* blobs/ on another mount than spool/ (a disk, or a bind mount, there):
 * a blob is made in spool/ and linked into blobs/, which cannot cross
 * mounts, so every commit of a record kept in a blob failed with EXDEV
 * at the close (which shells ignore) until 2026-12-07, and the open took
 * the store.  A read-write open now refuses it, saying why; a read-only
 * one serves it.  (Needs a bind mount: skipped where none can be made.)
 * And blobs/ a symbolic link to a directory elsewhere: compaction
 * removed the files there whose names look like blobs', and new blobs
 * were made there, until 2026-12-07.  It is not followed now, as
 * spool/ is not: a read-write open refuses it, saying so, and a
 * read-only one serves what the log holds. */
static void copy_blob_to(const struct fx *f, const char *dir)
{
	char blob[512], copy[256];
	uint8_t *data;
	size_t len;
	FILE *fp;

	blob_path(f, blob, sizeof(blob));
	data = tl_slurp(blob, &len);
	snprintf(copy, sizeof(copy), "%s%s", dir, strrchr(blob, '/'));
	fp = fopen(copy, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	free(data);
}

static void test_blobs_elsewhere(void **state)
{
	struct fx *f = *state;
	char err[512] = "", p[192], away[192], far[192], keep[256];
	char *buf = NULL;
	struct store_opts o = { .inline_max = 1024, .compact_ratio = -1,
				.errbuf = err, .errlen = sizeof(err) };
	struct store *st;
	size_t len = 0;
	FILE *fp;

	snprintf(p, sizeof(p), "%s/blobs", f->dir);
	snprintf(away, sizeof(away), "%s/blobs.away", f->tmp);
	snprintf(far, sizeof(far), "%s/far", f->tmp);
	assert_int_equal(mkdir(far, 0700), 0);
	copy_blob_to(f, far);
	/* A file there that only looks like a blob. */
	snprintf(keep, sizeof(keep), "%s/0000000000000099", far);
	fp = fopen(keep, "w");
	assert_non_null(fp);
	assert_true(fputs("precious\n", fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(p, away), 0);

	assert_int_equal(symlink(far, p), 0);
	assert_int_equal(store_open(f->dir, &o, &st), -ENOTDIR);
	tl_expect_in(err, "blobs/");
	tl_expect_in(err, "symbolic link");
	/* fsck says what the open refuses (it called the store clean). */
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, "blobs/: a symbolic link, not followed");
	o.read_only = 1;
	err[0] = 0;
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	tl_expect_in(err, "read EIO");
	assert_int_equal(store_get(st, "d/a", &buf, &len, NULL), 0);
	free(buf);
	buf = NULL;
	assert_int_equal(store_get(st, "d/big", &buf, &len, NULL), -EIO);
	assert_int_equal(store_close(st), 0);
	o.read_only = 0;
	assert_int_equal(access(keep, F_OK), 0);
	assert_int_equal(unlink(p), 0);

	assert_int_equal(mkdir(p, 0700), 0);
	if (mount(far, p, NULL, MS_BIND, NULL) == 0) {
		err[0] = 0;
		assert_int_equal(store_open(f->dir, &o, &st), -EXDEV);
		tl_expect_in(err, "blobs/");
		tl_expect_in(err, "spool/");
		tl_expect_in(err, "mounts");
		assert_int_equal(run_fsck(f, 0), 1);
		expect_in(f, "blobs/ and spool/ are on different filesystems "
			     "or mounts");
		o.read_only = 1;
		assert_int_equal(store_open(f->dir, &o, &st), 0);
		assert_int_equal(store_get(st, "d/big", &buf, &len, NULL), 0);
		free(buf);
		assert_int_equal(store_close(st), 0);
		assert_int_equal(umount2(p, MNT_DETACH), 0);
	}
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(rename(away, p), 0);
}

/* statx() as the kernel's, or failing with this errno (a seccomp filter
 * older than statx says EPERM): this program's own wins over libc's. */
static int statx_errno;

int statx(int dfd, const char *path, int flags, unsigned int mask,
	  struct statx *buf)
{
	if (statx_errno) {
		errno = statx_errno;
		return -1;
	}
	return (int)syscall(SYS_statx, dfd, path, flags, mask, buf);
}

/* Where statx() is refused, a read-write open refused every store
 * ("blobs/, spool/: Operation not permitted") until 2026-12-07, which
 * older builds mounted and fsck called clean: it now tells another
 * filesystem by fstat()'s st_dev, as the open did before. */
static void test_blobs_spool_no_statx(void **state)
{
	struct fx *f = *state;
	char err[512] = "";
	struct store_opts o = { .inline_max = 1024, .compact_ratio = -1,
				.errbuf = err, .errlen = sizeof(err) };
	struct store *st;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	statx_errno = EPERM;
	rc = store_open(f->dir, &o, &st);
	statx_errno = 0; /* before any assert: the next tests have it */
	tl_expect_not_in(err, "blobs/");
	assert_int_equal(rc, 0);
	assert_int_equal(store_get(st, "d/big", &buf, &len, NULL), 0);
	assert_int_equal(len, BIG_LEN);
	free(buf);
	assert_int_equal(store_close(st), 0);
	assert_int_equal(run_fsck(f, 0), 0);
}

static void test_dump(void **state)
{
	struct fx *f = *state;
	char seg[160], want[96];
	uint64_t offs[64], size;
	size_t n, lines = 0;

	last_segment(f, seg, sizeof(seg));
	n = entry_offsets(seg, offs, 64, &size);
	assert_int_equal(run_dump(f), 0);
	for (const char *p = f->out; (p = strchr(p, '\n')); p++)
		lines++;
	assert_true(lines >= n);
	expect_in(f, " key=d/big v=1 ");
	expect_in(f, "len=100000");
	expect_in(f, " blob=");
	expect_in(f, "DEL[COMMIT] key=gone v=2 ");
	expect_in(f, " mode=0100");
	snprintf(want, sizeof(want), "%s %" PRIu64 " ", strrchr(seg, '/') + 1,
		 offs[n - 1]);
	expect_in(f, want);

	/* Damage stops the dump with a line that says where.  Under a
	 * hint that says the segment was on disk, a cut in its last entry
	 * is corruption, as fsck and an open have it (until 2026-12-06 the
	 * dump called it a torn tail, which --repair would cut). */
	assert_int_equal(truncate(seg, (off_t)(offs[n - 1] + 5)), 0);
	assert_int_equal(run_dump(f), 1);
	snprintf(want, sizeof(want), " %" PRIu64 " corrupt entry, dump stopped",
		 offs[n - 1]);
	expect_in(f, want);
	expect_not_in(f, "torn");
	/* Zeros over it too, where an unsynced segment has a clean end. */
	assert_int_equal(truncate(seg, (off_t)offs[n - 1]), 0);
	assert_int_equal(truncate(seg, (off_t)size), 0);
	assert_int_equal(run_dump(f), 1);
	expect_in(f, want);
	/* Cut short at an entry's end: the hint says more was on disk. */
	assert_int_equal(truncate(seg, (off_t)offs[n - 1]), 0);
	assert_int_equal(run_dump(f), 1);
	snprintf(want, sizeof(want), " %" PRIu64 " ends before its hint's %"
		 PRIu64 " bytes (corrupt), dump stopped", offs[n - 1], size);
	expect_in(f, want);
	drop_hint(seg);
	assert_int_equal(truncate(seg, (off_t)(offs[n - 1] + 5)), 0);
	flip_byte(seg, offs[n - 1]); /* not zeros: a torn entry */
	assert_int_equal(run_dump(f), 1);
	snprintf(want, sizeof(want), " %" PRIu64 " torn tail, dump stopped",
		 offs[n - 1]);
	expect_in(f, want);
}

/* A power loss right after a new segment was named leaves it with no
 * header: shorter than one, or zeros to its end.  If it is the newest,
 * an open removes it as a torn tail (replay.c), so fsck says "torn
 * tail" and --repair removes it too; until 2026-12-06 fsck called it a
 * bad header, and --repair left a store it still called damaged, which
 * the daemon opened.  Zeros with anything after them, or such a file
 * before the newest, stay damage that is never repaired. */
static void write_segment(const struct fx *f, uint64_t id, const void *buf,
			  size_t len, char *path, size_t plen)
{
	int fd;

	snprintf(path, plen, "%s/%016" PRIx64 ".seg", f->dir, id);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void test_headerless_newest(void **state)
{
	struct fx *f = *state;
	static const size_t lens[] = { 0, 10, LOG_SEG_HDR, 4096 };
	uint8_t buf[4096] = { 0 };
	char seg[160], path[192], want[128];
	uint64_t id;
	struct store *st;
	struct store_opts o = { 0 };
	struct stat sb;

	last_segment(f, seg, sizeof(seg));
	id = strtoull(strrchr(seg, '/') + 1, NULL, 16);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(buf, 0, sizeof(buf));
		if (lens[i] == 10)
			memcpy(buf, LOG_MAGIC, 8); /* a header cut short */
		write_segment(f, id + 1, buf, lens[i], path, sizeof(path));
		snprintf(want, sizeof(want), "%016" PRIx64 ".seg: torn tail at "
			 "offset 0 (%zu bytes; no header)", id + 1, lens[i]);
		assert_int_equal(run_fsck(f, 0), 1);
		expect_in(f, want);
		expect_not_in(f, "bad header");
		assert_int_equal(stat(path, &sb), 0); /* a check removes nothing */
		assert_int_equal(run_fsck(f, 1), 0);
		expect_in(f, want);
		expect_in(f, ", removed\n");
		expect_in(f, ": clean (1 repaired)\n");
		assert_int_equal(stat(path, &sb), -1);
		assert_int_equal(run_fsck(f, 0), 0);
		expect_in(f, ": clean\n");
	}

	/* Zeros, then something: damage, left as it is. */
	memset(buf, 0, sizeof(buf));
	buf[100] = 1;
	write_segment(f, id + 1, buf, sizeof(buf), path, sizeof(path));
	assert_int_equal(run_fsck(f, 1), 1);
	expect_in(f, "bad header");
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(unlink(path), 0);

	/* Not the newest: a short file before a good segment is damage,
	 * as an open has it (it refuses).  Two opens make id + 1 and
	 * id + 2; the first is then cut short. */
	o.inline_max = 1024;
	o.compact_ratio = -1;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(store_open(f->dir, &o, &st), 0);
		assert_int_equal(store_close(st), 0);
	}
	snprintf(path, sizeof(path), "%s/%016" PRIx64 ".seg", f->dir, id + 2);
	assert_int_equal(stat(path, &sb), 0);
	write_segment(f, id + 1, buf, 10, path, sizeof(path));
	assert_int_equal(store_open(f->dir, &o, &st), -EUCLEAN);
	assert_int_equal(run_fsck(f, 1), 1);
	expect_in(f, "bad header (file is 10 bytes)");
	assert_int_equal(stat(path, &sb), 0);
}

/* The newest segment with no header, but a hint that says its bytes were
 * on disk (HINT_F_DURABLE, written at the close after the sync): not a
 * segment whose first bytes never reached the disk, but one whose synced
 * commits were lost since (cut to nothing, zeroed).  Damage: the open
 * refuses, fsck says so and --repair keeps it.  Until 2026-12-07 it was
 * a torn tail: the open removed the segment with its commits (the
 * records went back a version, which the next change made again) and
 * fsck --repair did the same. */
static void test_headerless_newest_durable(void **state)
{
	struct fx *f = *state;
	static const size_t lens[] = { 0, 10, 0 };
	char seg[160];
	struct store *st = NULL;
	struct store_opts o = { 0 };
	struct stat sb;
	uint64_t size;
	size_t len;
	uint8_t *old;

	last_segment(f, seg, sizeof(seg));
	old = tl_slurp(seg, &len);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		int fd;

		if (i == 2) { /* zeros over all of it, at its length */
			fd = open(seg, O_WRONLY | O_TRUNC);
			assert_true(fd >= 0);
			assert_int_equal(ftruncate(fd, (off_t)len), 0);
		} else {
			fd = open(seg, O_WRONLY | O_TRUNC);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, old, lens[i]),
					 (ssize_t)lens[i]);
		}
		close(fd);
		assert_int_equal(run_fsck(f, 0), 1);
		expect_in(f, "bad header");
		expect_not_in(f, "torn tail");
		assert_int_equal(run_fsck(f, 1), 1);
		expect_not_in(f, "removed");
		assert_int_equal(stat(seg, &sb), 0);
		size = (uint64_t)sb.st_size;
		assert_int_equal(size, i == 2 ? len : lens[i]);
		o.inline_max = 1024;
		o.compact_ratio = -1;
		assert_int_equal(store_open(f->dir, &o, &st), -EUCLEAN);
		assert_int_equal(stat(seg, &sb), 0);
	}
	free(old);
}

/* A segment file gone (removed by hand, lost by the filesystem) whose
 * hint is still there and says it was on disk: its commits are lost, and
 * that is damage, not a store that never had them.  The open refuses
 * it, naming the segment; a read-only open serves the segments before
 * it; fsck reports it.  Until 2026-12-07 the open went on without a word
 * (the records it held were gone, or back at older versions) and fsck
 * called the store clean.  A hint whose segment a compaction replaced
 * (a crash between removing the segment and its hint) is no such
 * thing: the open removes it, and fsck calls it obsolete. */
static void test_missing_segment(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { .inline_max = 1024, .compact_ratio = -1 };
	struct store *st;
	struct store_stat ss;
	char seg[160], keep[192], hint[192];
	size_t len;
	uint8_t *old;
	uint64_t v, id;
	struct stat sb;

	/* Two more segments: "last" is in the fixture's, "more" in the
	 * next one; the fixture's is then removed. */
	last_segment(f, seg, sizeof(seg));
	id = strtoull(strrchr(seg, '/') + 1, NULL, 16);
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_put(st, "more", STORE_ABSENT, "m", 1, NULL,
				   &v), 0);
	assert_int_equal(store_close(st), 0);
	old = tl_slurp(seg, &len);
	snprintf(keep, sizeof(keep), "%s/seg.keep", f->tmp);
	assert_int_equal(rename(seg, keep), 0);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, "missing");
	assert_int_equal(run_fsck(f, 1), 1);
	assert_int_equal(store_open(f->dir, &o, &st), -EUCLEAN);
	o.read_only = 1;
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_stat(st, "more", &ss), -ENOENT);
	assert_int_equal(store_close(st), 0);
	o.read_only = 0;
	assert_int_equal(rename(keep, seg), 0);

	/* A compaction's leftover: the hint of a segment it replaced, back
	 * as a crash between the two removals leaves it. */
	snprintf(hint, sizeof(hint), "%s/%016" PRIx64 ".hint", f->dir, id);
	free(old);
	old = tl_slurp(hint, &len);
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_compact(st), 0);
	assert_int_equal(store_close(st), 0);
	if (stat(seg, &sb) == 0) { /* the output took its name */
		snprintf(hint, sizeof(hint), "%s/%016" PRIx64 ".hint",
			 f->dir, id - 1);
		snprintf(seg, sizeof(seg), "%s/%016" PRIx64 ".seg", f->dir,
			 id - 1);
		assert_int_equal(stat(seg, &sb), -1);
	}
	{
		FILE *fp = fopen(hint, "wb");
		assert_non_null(fp);
		assert_int_equal(fwrite(old, 1, len, fp), len);
		fclose(fp);
	}
	assert_int_equal(run_fsck(f, 0), 0);
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_stat(st, "more", &ss), 0);
	assert_int_equal(store_close(st), 0);
	/* which the open removed: fsck warned of it at every run since */
	assert_int_equal(stat(hint, &sb), -1);
	assert_int_equal(run_fsck(f, 0), 0);
	expect_not_in(f, "warning");
	free(old);
}

/* A segment gone whose hint says only its header was on disk (an open
 * that committed nothing, a 40-byte file a clean-up took for junk) lost
 * no commit: its hint is a leftover.  The open refused the store, a
 * read-only one served none of the later segments' commits, and fsck
 * --repair kept it so ("missing, but its hint says 40 bytes were on
 * disk"): no tool gave the store back. */
static void test_missing_empty_segment(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { .inline_max = 1024, .compact_ratio = -1 };
	struct store *st;
	struct store_stat ss;
	char seg[160], hint[192];
	uint64_t v, id;
	struct stat sb;

	last_segment(f, seg, sizeof(seg));
	id = strtoull(strrchr(seg, '/') + 1, NULL, 16);
	/* id + 1 holds nothing; id + 2 holds "more". */
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_close(st), 0);
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_put(st, "more", STORE_ABSENT, "m", 1, NULL,
				   &v), 0);
	assert_int_equal(store_close(st), 0);
	snprintf(seg, sizeof(seg), "%s/%016" PRIx64 ".seg", f->dir, id + 1);
	snprintf(hint, sizeof(hint), "%s/%016" PRIx64 ".hint", f->dir, id + 1);
	assert_int_equal(stat(seg, &sb), 0);
	assert_int_equal(sb.st_size, LOG_SEG_HDR);
	assert_int_equal(unlink(seg), 0);
	assert_int_equal(run_fsck(f, 0), 0);
	expect_in(f, "warning: ");
	o.read_only = 1;
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_stat(st, "more", &ss), 0);
	assert_int_equal(store_close(st), 0);
	o.read_only = 0;
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_stat(st, "more", &ss), 0);
	assert_int_equal(store_stat(st, "d/a", &ss), 0);
	assert_int_equal(ss.version, 2);
	assert_int_equal(store_close(st), 0);
	assert_int_equal(stat(hint, &sb), -1); /* the open removed it */
	assert_int_equal(run_fsck(f, 0), 0);
	expect_not_in(f, "warning");
}

/* A segment that holds no entry (an open that committed nothing) with a
 * damaged header: the open refuses the store, as for any bad header, but
 * no commit is in it, so --repair writes its header again (its id is
 * its name's; its hint, which holds that header's hash, says it
 * replaced nothing) and says so.  Until 2026-12-07 --repair kept it, and
 * the store could not be mounted read-write.  One with an entry after
 * the header, or whose hint says it held more, stays damage. */
static void test_empty_segment_bad_header(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { .inline_max = 1024, .compact_ratio = -1 };
	struct store *st;
	struct store_stat ss;
	char seg[160], want[128];
	uint8_t zeros[4096] = { 0 };
	uint64_t v, id;
	struct stat sb;
	int fd;

	last_segment(f, seg, sizeof(seg));
	id = strtoull(strrchr(seg, '/') + 1, NULL, 16);
	/* id + 1 holds nothing; id + 2 holds "more". */
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_close(st), 0);
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_put(st, "more", STORE_ABSENT, "m", 1, NULL,
				   &v), 0);
	assert_int_equal(store_close(st), 0);
	snprintf(seg, sizeof(seg), "%s/%016" PRIx64 ".seg", f->dir, id + 1);
	assert_int_equal(stat(seg, &sb), 0);
	assert_int_equal(sb.st_size, LOG_SEG_HDR);
	snprintf(want, sizeof(want), "%016" PRIx64 ".seg: bad header (it "
		 "holds no entry)", id + 1);

	/* A flipped byte of its checksum, then zeros after the header
	 * (as a store with sync=always leaves ahead of the log). */
	flip_byte(seg, 33);
	fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, zeros, sizeof(zeros)), sizeof(zeros));
	close(fd);
	assert_int_equal(store_open(f->dir, &o, &st), -EUCLEAN);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, want);
	expect_in(f, ": --repair writes it again\n");
	assert_int_equal(run_fsck(f, 1), 0);
	expect_in(f, want);
	expect_in(f, ", header written again\n");
	expect_in(f, ": clean (1 repaired)\n");
	assert_int_equal(run_fsck(f, 0), 0);
	expect_in(f, ": clean\n");
	expect_not_in(f, "warning");
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_stat(st, "more", &ss), 0);
	assert_int_equal(store_stat(st, "d/a", &ss), 0);
	assert_int_equal(ss.version, 2);
	assert_int_equal(store_close(st), 0);

	/* A bad header with an entry after it: never repaired. */
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_close(st), 0);
	snprintf(seg, sizeof(seg), "%s/%016" PRIx64 ".seg", f->dir, id + 2);
	flip_byte(seg, 33);
	assert_int_equal(run_fsck(f, 1), 1);
	expect_in(f, "bad header\n");
	expect_not_in(f, "holds no entry");
	assert_int_equal(store_open(f->dir, &o, &st), -EUCLEAN);
	flip_byte(seg, 33);

	/* Its hint says it held more than a header: entries were lost
	 * (zeroed), never repaired. */
	snprintf(seg, sizeof(seg), "%s/%016" PRIx64 ".seg", f->dir, id + 2);
	assert_int_equal(stat(seg, &sb), 0);
	fd = open(seg, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, zeros, (size_t)sb.st_size, 0),
			 sb.st_size);
	close(fd);
	assert_int_equal(run_fsck(f, 1), 1);
	expect_not_in(f, "holds no entry");
	assert_int_equal(store_open(f->dir, &o, &st), -EUCLEAN);
}

/* The same, but the empty segment was a compaction's output (its header
 * said it replaces the segment before it, whose records were all gone):
 * its hint's hash of the 40 bytes is not that of a header that replaces
 * nothing, so the repair does not write one, which would have brought
 * the replaced segment's records back. */
static void test_empty_compacted_bad_header(void **state)
{
	struct fx *f = *state;
	uint8_t hdr[LOG_SEG_HDR], hint[LOG_HINT_HDR + 8], *now;
	char seg[160], path[192];
	uint64_t id;
	size_t len;
	FILE *fp;

	last_segment(f, seg, sizeof(seg));
	id = strtoull(strrchr(seg, '/') + 1, NULL, 16);
	log_seg_header(hdr, id + 1, id);
	write_segment(f, id + 1, hdr, sizeof(hdr), path, sizeof(path));
	memcpy(hint, "RECFSHNT", 8);
	log_put32(hint + 8, 1);
	log_put32(hint + 12, HINT_F_DURABLE);
	log_put64(hint + 16, id + 1);
	log_put64(hint + 24, LOG_SEG_HDR);
	log_put64(hint + 32, XXH3_64bits(hdr, sizeof(hdr)));
	log_put64(hint + 40, XXH3_64bits(hint, 40));
	snprintf(path, sizeof(path), "%s/%016" PRIx64 ".hint", f->dir, id + 1);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(hint, 1, sizeof(hint), fp), sizeof(hint));
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(run_fsck(f, 0), 0); /* the first is obsolete */
	expect_in(f, "obsolete");
	snprintf(path, sizeof(path), "%s/%016" PRIx64 ".seg", f->dir, id + 1);
	flip_byte(path, 33);
	assert_int_equal(run_fsck(f, 1), 1);
	expect_not_in(f, "holds no entry");
	expect_in(f, "bad header\n");
	now = tl_slurp(path, &len);
	assert_int_equal(memcmp(now, hdr, 32), 0); /* not written */
	free(now);
}

/* A crash during compaction, after its output took its name and before
 * the segments it replaces were removed, leaves them behind: garbage an
 * open removes unread, and fsck calls obsolete.  If one of them also
 * has a bad header, it is still garbage: fsck says clean, so the open
 * must not refuse the store (until 2026-12-06 it failed with EUCLEAN,
 * and a read-only open served nothing at all). */
static void test_obsolete_bad_header(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { 0 };
	struct store_stat ss;
	struct store *st;
	char seg[160], keep[192];
	size_t len;
	uint8_t *old;
	FILE *fp;

	last_segment(f, seg, sizeof(seg));
	old = tl_slurp(seg, &len);
	o.inline_max = 1024;
	o.compact_ratio = -1;
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_compact(st), 0);
	assert_int_equal(store_close(st), 0);
	/* The replaced segment, back as a crash would leave it. */
	fp = fopen(seg, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(old, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	free(old);
	flip_byte(seg, 3); /* inside its magic */
	snprintf(keep, sizeof(keep), "%s", strrchr(seg, '/') + 1);

	assert_int_equal(run_fsck(f, 0), 0);
	expect_in(f, "obsolete (superseded by ");
	expect_in(f, ": clean\n");

	for (int ro = 1; ro >= 0; ro--) {
		char err[512] = "";

		o.read_only = ro;
		o.errbuf = err;
		o.errlen = sizeof(err);
		if (store_open(f->dir, &o, &st) != 0)
			fail_msg("%s open: %s", ro ? "read-only" : "writable",
				 err);
		assert_int_equal(store_stat(st, "d/a", &ss), 0);
		assert_int_equal(ss.version, 2);
		assert_int_equal(store_stat(st, "d/big", &ss), 0);
		assert_int_equal(ss.size, BIG_LEN);
		assert_int_equal(store_close(st), 0);
	}
	/* The writable open removed it, as it removes any leftover. */
	assert_int_equal(access(seg, F_OK), -1);
	assert_int_equal(run_fsck(f, 0), 0);
	expect_not_in(f, keep);
}

/* A segment id of 2^32 or more is beyond what the index holds: an open
 * refuses the store (EOVERFLOW, FORMAT.md), so fsck must not call it
 * clean (it did until 2026-12-06), even with a good header. */
static void test_segment_id_too_big(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { 0 };
	struct store *st;
	uint8_t hdr[LOG_SEG_HDR];
	char path[192];
	uint64_t id = (uint64_t)SEG_ID_MAX + 1;
	FILE *fp;

	log_seg_header(hdr, id, id);
	snprintf(path, sizeof(path), "%s/%016" PRIx64 ".seg", f->dir, id);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(hdr, 1, sizeof(hdr), fp), sizeof(hdr));
	assert_int_equal(fclose(fp), 0);
	o.inline_max = 1024;
	o.compact_ratio = -1;
	assert_int_equal(store_open(f->dir, &o, &st), -EOVERFLOW);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, "0000000100000000.seg: segment id above the index's "
		     "limit");
	assert_int_equal(run_fsck(f, 1), 1);
}

/* A store kept with keep_versions 12: the blob of its 2nd version lost.
 * An open with 12 refuses it, and fsck must say so and --repair let go
 * of that version (until 2026-12-06 fsck held blobs to the newest 8
 * versions only: it called the store clean, and --repair did nothing,
 * while the open's message sent the user to it). */
static void test_lost_blob_of_old_version(void **state)
{
	static char big[BIG_LEN];
	struct fx *f = *state;
	struct store_opts o = { 0 };
	struct store *st;
	char path[192], *buf = NULL;
	uint64_t v = STORE_ABSENT, ids[12];
	size_t len = 0;
	struct store_hist *h;
	uint64_t lost = 0;
	FILE *nul;
	size_t n;

	o.inline_max = 1024;
	o.compact_ratio = -1;
	o.keep_versions = 12;
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	for (int i = 0; i < 12; i++) {
		memset(big, 'a' + i, sizeof(big));
		assert_int_equal(store_put(st, "r", v, big, sizeof(big), NULL,
					   &v), 0);
	}
	assert_int_equal(store_history(st, "r", &h, &n), 0);
	assert_int_equal(n, 12);
	for (size_t i = 0; i < n; i++)
		ids[i] = h[i].version;
	free(h);
	assert_int_equal(store_close(st), 0);
	/* Blobs are numbered in order: the 2nd of r's is the 3rd overall
	 * (the fixture made one). */
	snprintf(path, sizeof(path), "%s/blobs/%016" PRIx64, f->dir,
		 (uint64_t)3);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(store_open(f->dir, &o, &st), -EUCLEAN);
	assert_int_equal(run_fsck(f, 0), 1);
	expect_in(f, ": missing (key r v");
	/* recctl fsck --repair: fsck, then salvage of the lost blobs */
	nul = fopen("/dev/null", "w");
	assert_non_null(nul);
	assert_int_equal(store_fsck_ex(f->dir, 1, nul, &lost), 1);
	assert_int_equal(lost, 1);
	assert_int_equal(store_salvage(f->dir, nul), 1);
	fclose(nul);
	assert_int_equal(run_fsck(f, 0), 0);
	assert_int_equal(run_fsck(f, 0), 0);
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_get(st, "r", &buf, &len, NULL), 0);
	assert_int_equal(len, BIG_LEN);
	assert_int_equal(buf[0], 'a' + 11);
	free(buf);
	assert_int_equal(store_history(st, "r", &h, &n), 0);
	assert_int_equal(n, 11); /* the lost one let go of */
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(h[i].version, ids[1]);
	free(h);
	assert_int_equal(store_close(st), 0);
}

/* Compaction past tombstone_limit writes the floor, an entry with no
 * key and no body, and the hint file of the compacted segment holds it
 * too: fsck compares the two (it passed NULL to memcmp there, which
 * UBSan reports under make check). */
static void test_floor_in_hint(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { 0 };
	struct store_stats ss;
	struct store *st;
	uint64_t v;

	o.inline_max = 1024;
	o.compact_ratio = -1;
	o.tombstone_limit = 1;
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_delete(st, "d/a", 2, &v), 0);
	assert_int_equal(store_delete(st, "last", 1, &v), 0);
	assert_int_equal(store_compact(st), 0);
	assert_int_equal(store_stats(st, &ss), 0);
	assert_true(ss.floor > 0);
	assert_int_equal(store_close(st), 0);
	assert_int_equal(run_fsck(f, 0), 0);
	expect_in(f, ": clean\n");
	expect_not_in(f, "hint");
}

/* A compacted version of a record that ended carries that record's
 * owner and mode (FORMAT.md, OWNER): fsck calls it clean and dump names
 * the flag (until 2026-12-07 there was none: the next owner of the name
 * read the versions). */
static void test_owner_flag(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { 0 };
	struct store_meta alice = { .mode = S_IFREG | 0600, .uid = 1001,
				    .gid = 1001 };
	struct store *st;
	uint64_t v;

	o.compact_ratio = -1;
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_put(st, "o", STORE_ABSENT, "a1", 2, &alice,
				   &v), 0);
	assert_int_equal(store_delete(st, "o", v, &v), 0);
	assert_int_equal(store_put(st, "o", STORE_ABSENT, "b", 1, NULL, &v),
			 0);
	assert_int_equal(store_compact(st), 0);
	assert_int_equal(store_close(st), 0);
	assert_int_equal(run_fsck(f, 0), 0);
	expect_in(f, ": clean\n");
	assert_int_equal(run_dump(f), 0);
	expect_in(f, "PUT[COMMIT,HIST,OWNER] key=o v=1 ");
	expect_in(f, " mode=0100600 uid=1001 gid=1001 ");
}

/* Append to @seg a HIST PUT of @key at version 1 holding @val under
 * @m, and its tombstone's DEL at 2: a deleted record as compaction
 * writes it. */
static void append_compacted_tomb(const char *seg, const char *key,
				  uint8_t flags, const struct store_meta *m,
				  const char *val)
{
	size_t kl = strlen(key), vl = strlen(val), lp, ld;
	uint8_t body[LOG_BODY_FIXED], hash[16], *ep, *ed;
	XXH128_canonical_t c;
	int fd;

	XXH128_canonicalFromHash(&c, XXH3_128bits(val, vl));
	memcpy(hash, c.digest, 16);
	log_body_encode(body, m, hash, 0, NULL, 0);
	lp = log_entry_size(kl, sizeof(body), vl);
	ld = log_entry_size(kl, 0, 0);
	ep = malloc(lp);
	ed = malloc(ld);
	assert_non_null(ep);
	assert_non_null(ed);
	log_entry_encode(ep, LOG_PUT, LOG_F_COMMIT | LOG_F_HIST | flags, key,
			 kl, 1, 1, vl, body, sizeof(body), val, vl);
	log_entry_encode(ed, LOG_DEL, LOG_F_COMMIT, key, kl, 2, 2, 0, NULL, 0,
			 NULL, 0);
	fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, ep, lp), (ssize_t)lp);
	assert_int_equal(write(fd, ed, ld), (ssize_t)ld);
	close(fd);
	free(ep);
	free(ed);
}

/* A deleted record as compaction wrote it before 2026-12-07 (a HIST PUT
 * without OWNER, its body mode 0100644 and owner 0) still opens and
 * reads: its owner is not known, so its version is root's only (mode 0).
 * With OWNER the body's mode and owner are the version's. */
static void test_compacted_before_owner(void **state)
{
	struct fx *f = *state;
	struct store_meta old = { .mode = 0100644 },
			  alice = { .mode = 0100600, .uid = 1001, .gid = 1001 };
	struct store_opts o = { .compact_ratio = -1 };
	struct store *st = NULL;
	struct store_snap *sn;
	struct store_hist *h;
	char seg[160], buf[8];
	size_t n;

	last_segment(f, seg, sizeof(seg));
	append_compacted_tomb(seg, "old", 0, &old, "old1");
	append_compacted_tomb(seg, "own", LOG_F_OWNER, &alice, "own1");
	assert_int_equal(run_fsck(f, 0), 0);
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_history(st, "old", &h, &n), 0);
	assert_int_equal(n, 1);
	assert_true(h[0].version == 1 && h[0].mode == 0 && h[0].uid == 0);
	free(h);
	assert_int_equal(store_snap_open(st, "old", 1, &sn), 0);
	assert_int_equal(store_snap_read(sn, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "old1", 4);
	store_snap_close(sn);
	assert_int_equal(store_history(st, "own", &h, &n), 0);
	assert_int_equal(n, 1);
	assert_true(h[0].mode == 0100600 && h[0].uid == 1001 &&
		    h[0].gid == 1001);
	free(h);
	/* and compaction keeps both as they were */
	assert_int_equal(store_compact(st), 0);
	assert_int_equal(store_close(st), 0);
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_history(st, "old", &h, &n), 0);
	assert_true(n == 1 && h[0].mode == 0 && h[0].uid == 0);
	free(h);
	assert_int_equal(store_history(st, "own", &h, &n), 0);
	assert_true(n == 1 && h[0].mode == 0100600 && h[0].uid == 1001);
	free(h);
	assert_int_equal(store_close(st), 0);
	assert_int_equal(run_fsck(f, 0), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_clean),         T(test_torn_tail),
		T(test_zero_tail),     T(test_unclosed_group),
		T(test_corrupt_middle), T(test_missing_blob),
		T(test_missing_blob_past_damage),
		T(test_blob_content),  T(test_blob_appended), T(test_in_use),
		T(test_not_a_store),   T(test_bad_hint),
		T(test_unreadable_hint), T(test_unusable_lock_spool),
		T(test_fifo), T(test_symlink), T(test_blobs_dir_unusable),
		T(test_blobs_elsewhere),
		T(test_blobs_spool_no_statx),
		T(test_dump),          T(test_version_not_above),
		T(test_floor_in_hint), T(test_headerless_newest),
		T(test_headerless_newest_durable), T(test_missing_segment),
		T(test_missing_empty_segment), T(test_empty_segment_bad_header),
		T(test_empty_compacted_bad_header),
		T(test_obsolete_bad_header), T(test_segment_id_too_big),
		T(test_lost_blob_of_old_version), T(test_owner_flag),
		T(test_compacted_before_owner),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_recovery.c - crash recovery of the log, exhaustively.
 *
 * A small store is written (every content inline, so the last segment
 * holds everything), and after each commit the live store's view of
 * every key is recorded together with the segment's size.  Then:
 *  - a crash can leave the segment cut at any byte: for every offset
 *    after the header, a copy cut there must open (writable) and show
 *    exactly the commits that lie wholly before the cut;
 *  - a bit flipped in the middle of the log is corruption, never a torn
 *    tail: a writable open refuses with -EUCLEAN naming the segment and
 *    the damaged entry's offset, and a read-only open serves every
 *    commit before that entry.
 * The segment is parsed with log.h only to find entry boundaries. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "store.h"
#include "store_testlib.h"

/* ---- the model: what the live store showed after each commit -------- */

static const char *const keys[] = { "k0", "k1", "k2", "k3", "k4", "k5",
				    "d/x", "d/y", "m/a", "m/b", "n/a", "n/b" };
static const char *const dirs[] = { "d", "m", "n" };
enum {
	NKEYS = sizeof(keys) / sizeof(keys[0]),
	NDIRS = sizeof(dirs) / sizeof(dirs[0]),
	MAXC = 64,
	VAL = 48,
};

struct kstate {
	int live, tag;
	uint64_t version, last;
	size_t len;
	char val[VAL];
};

struct view {
	struct kstate k[NKEYS];
	int dir[NDIRS]; /* exists */
};

struct world {
	char tmp[64], dir[96];  /* the original store */
	char trial[96];         /* where copies are made */
	char seg[64];           /* its last segment's name */
	uint64_t base;          /* segment size before the first commit */
	uint64_t seg_len;       /* after close */
	size_t ncommits;
	uint64_t end[MAXC];     /* segment size after commit i */
	struct view view[MAXC + 1]; /* view[i]: after i commits */
	size_t nent;            /* entries in the segment */
	uint64_t ent_off[1024];
	uint32_t ent_len[1024];
	uint8_t ent_flags[1024];
};

static struct store_opts base_opts(char *err, size_t errlen)
{
	struct store_opts o = { 0 };

	/* No compaction behind our back (it would move entries), and a
	 * tiny reserve so that thousands of opens stay cheap. */
	o.compact_ratio = -1;
	o.reserve_bytes = 4096;
	o.errbuf = err;
	o.errlen = errlen;
	return o;
}

static void capture(struct store *st, struct view *v)
{
	struct store_stat s;

	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < NKEYS; i++) {
		struct kstate *k = &v->k[i];
		char *buf = NULL, tag[4];
		size_t len = 0;
		int rc;

		assert_int_equal(store_last_version(st, keys[i], &k->last), 0);
		rc = store_get(st, keys[i], &buf, &len, &s);
		if (rc == -ENOENT)
			continue;
		assert_int_equal(rc, 0);
		assert_true(len < VAL);
		k->live = 1;
		k->version = s.version;
		k->len = len;
		memcpy(k->val, buf, len);
		free(buf);
		k->tag = store_getxattr(st, keys[i], "user.tag", tag,
					sizeof(tag)) == 1;
	}
	for (size_t i = 0; i < NDIRS; i++)
		v->dir[i] = store_stat(st, dirs[i], &s) == 0;
}

/* 0 if the store shows @v; else print every difference and -1. */
static int matches(struct store *st, const struct view *v, const char *what)
{
	struct view got;
	int bad = 0;

	capture(st, &got);
	for (size_t i = 0; i < NKEYS; i++) {
		const struct kstate *w = &v->k[i], *g = &got.k[i];

		if (w->live != g->live || w->last != g->last ||
		    (w->live && (w->version != g->version ||
				 w->len != g->len ||
				 memcmp(w->val, g->val, w->len) != 0 ||
				 w->tag != g->tag))) {
			print_error("%s: %s: live %d v%" PRIu64 " last %" PRIu64
				    " \"%.*s\" tag %d; want live %d v%" PRIu64
				    " last %" PRIu64 " \"%.*s\" tag %d\n",
				    what, keys[i], g->live, g->version, g->last,
				    (int)g->len, g->val, g->tag, w->live,
				    w->version, w->last, (int)w->len, w->val,
				    w->tag);
			bad = 1;
		}
	}
	for (size_t i = 0; i < NDIRS; i++)
		if (got.dir[i] != v->dir[i]) {
			print_error("%s: dir %s %d, want %d\n", what, dirs[i],
				    got.dir[i], v->dir[i]);
			bad = 1;
		}
	return bad ? -1 : 0;
}

/* One commit of the scripted history, then record size and view. */
static void committed(struct world *w, struct store *st)
{
	size_t i = w->ncommits++;

	assert_true(w->ncommits < MAXC);
	/* Everything goes to one segment: the test's premise. */
	assert_string_equal(tl_last_segment(w->dir), w->seg);
	w->end[i] = tl_file_size(w->dir, w->seg);
	assert_true(w->end[i] > (i ? w->end[i - 1] : w->base));
	capture(st, &w->view[i + 1]);
}

static void put(struct world *w, struct store *st, const char *key,
		uint64_t expect, const char *val)
{
	uint64_t v;
	int rc = store_put(st, key, expect, val, strlen(val), NULL, &v);

	if (rc)
		fail_msg("store_put(%s) = %d", key, rc);
	committed(w, st);
}

static void write_history(struct world *w)
{
	struct store_opts o;
	struct store *st = NULL;
	char err[256] = "", val[VAL];
	uint64_t v;
	size_t i;

	o = base_opts(err, sizeof(err));
	if (store_open(w->dir, &o, &st))
		fail_msg("store_open: %s", err);
	strcpy(w->seg, tl_last_segment(w->dir));
	w->base = tl_file_size(w->dir, w->seg);
	capture(st, &w->view[0]);

	for (i = 0; i < 24; i++) {
		snprintf(val, sizeof(val), "%s#%zu%.*s", keys[i % 6], i,
			 (int)(i % 9), "---------");
		put(w, st, keys[i % 6], STORE_ANY, val);
	}
	assert_int_equal(store_mkdir(st, "d", NULL), 0);
	committed(w, st);
	put(w, st, "d/x", STORE_ABSENT, "x one");
	put(w, st, "d/x", 1, "x two");
	assert_int_equal(store_setxattr(st, "k0", "user.tag", "1", 1, 0), 0);
	committed(w, st);
	assert_int_equal(store_rename(st, "k1", STORE_ANY, "d/y", STORE_ABSENT,
				      &v), 0);
	committed(w, st);
	assert_int_equal(store_delete(st, "k2", STORE_ANY, &v), 0);
	committed(w, st);
	assert_int_equal(store_rename(st, "k3", STORE_ANY, "k0", STORE_ANY,
				      &v), 0);
	committed(w, st);
	put(w, st, "k2", STORE_ABSENT, "reborn");
	assert_int_equal(store_setxattr(st, "k4", "user.tag", "1", 1, 0), 0);
	committed(w, st);
	for (i = 0; i < 3; i++)
		put(w, st, "k5", STORE_ANY, i == 1 ? "" : "five again");
	assert_int_equal(store_delete(st, "d/x", STORE_ANY, &v), 0);
	committed(w, st);
	put(w, st, "k1", STORE_ABSENT, "k1 back");
	/* A directory rename: one group moving every record beneath. */
	assert_int_equal(store_mkdir(st, "m", NULL), 0);
	committed(w, st);
	put(w, st, "m/a", STORE_ABSENT, "a1");
	put(w, st, "m/a", 1, "a2");
	put(w, st, "m/b", STORE_ABSENT, "b1");
	assert_int_equal(store_rename(st, "m", STORE_ANY, "n", STORE_ANY, &v),
			 0);
	committed(w, st);
	put(w, st, "n/a", STORE_ANY, "a moved and changed");
	put(w, st, "k4", STORE_ANY, "the end");
	assert_int_equal(store_close(st), 0);

	/* Closing may add nothing to the commits, but must not lose any. */
	assert_string_equal(tl_last_segment(w->dir), w->seg);
	w->seg_len = tl_file_size(w->dir, w->seg);
	assert_true(w->seg_len >= w->end[w->ncommits - 1]);
}

/* Walk the segment's entries; check commits end on COMMIT entries. */
static void parse_segment(struct world *w)
{
	struct log_reader r;
	struct log_entry e;
	char p[512];
	uint64_t off;
	size_t c = 0;
	int fd, rc;

	snprintf(p, sizeof(p), "%s/%s", w->dir, w->seg);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(log_reader_init(&r, fd), 0);
	while ((rc = log_reader_next(&r, &e, &off)) == 1) {
		assert_true(w->nent < 1024);
		w->ent_off[w->nent] = off;
		w->ent_len[w->nent] = e.len;
		w->ent_flags[w->nent] = e.flags;
		w->nent++;
		/* Each commit is one group: its end is a COMMIT entry's. */
		while (c < w->ncommits && w->end[c] < off + e.len)
			c++;
		if (c < w->ncommits && w->end[c] == off + e.len)
			assert_true(e.flags & LOG_F_COMMIT);
	}
	assert_int_equal(rc, 0); /* a cleanly closed segment */
	log_reader_free(&r);
	close(fd);
	for (c = 0; c < w->ncommits; c++) {
		size_t i;

		for (i = 0; i < w->nent; i++)
			if (w->ent_off[i] + w->ent_len[i] == w->end[c])
				break;
		if (i == w->nent)
			fail_msg("commit %zu ends at %" PRIu64 ", not at an "
				 "entry boundary", c, w->end[c]);
	}
}

/* Commits wholly before @off. */
static size_t commits_before(const struct world *w, uint64_t off)
{
	size_t j = 0;

	while (j < w->ncommits && w->end[j] <= off)
		j++;
	return j;
}

/* Recovery logs each torn tail it cuts; thousands of cuts would bury
 * the test's own output, so stderr goes to /dev/null around opens. */
static int saved_stderr = -1;

static void quiet(int on)
{
	fflush(stderr);
	if (on) {
		int nul = open("/dev/null", O_WRONLY);

		saved_stderr = dup(2);
		if (nul >= 0) {
			dup2(nul, 2);
			close(nul);
		}
	} else if (saved_stderr >= 0) {
		dup2(saved_stderr, 2);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

static int open_quiet(const char *dir, const struct store_opts *o,
		      struct store **st)
{
	int rc;

	quiet(1);
	rc = store_open(dir, o, st);
	quiet(0);
	return rc;
}

/* ---- fixture ------------------------------------------------------- */

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	const char *fast = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	if (!w)
		return -1;
	strcpy(w->tmp, "/tmp/recfs-test-recovery-XXXXXX");
	if (!mkdtemp(w->tmp))
		return -1;
	snprintf(w->dir, sizeof(w->dir), "%s/store", w->tmp);
	snprintf(w->trial, sizeof(w->trial), "%s/recfs-trial-XXXXXX", fast);
	if (!mkdtemp(w->trial))
		return -1;
	rmdir(w->trial); /* copy_tree creates it */
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	tl_rm_tree(w->tmp);
	tl_rm_tree(w->trial);
	free(w);
	return 0;
}

/* The trial copy's hint of its last segment: removed. */
static void drop_hint(struct world *w)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%.16s.hint", w->trial, w->seg);
	unlink(p);
}

/* Fresh copy of the store with its last segment cut at @len (if not
 * UINT64_MAX) or with bit @bit of byte @flip flipped (if flip set).
 * @zeros: after the cut, zero bytes up to that length, as the tail a
 * sync=always store writes ahead leaves after a power loss. */
static void make_copy(struct world *w, uint64_t len, int64_t flip, int bit,
		      uint64_t zeros)
{
	char p[512];

	tl_rm_tree(w->trial);
	tl_copy_tree(w->dir, w->trial);
	/* A crash that cuts the segment leaves no hint of it: a hint is
	 * written at a roll or a close, once the segment is on disk
	 * (HINT_F_DURABLE; test_durable_hint cuts under one). */
	if (len != UINT64_MAX)
		drop_hint(w);
	snprintf(p, sizeof(p), "%s/%s", w->trial, w->seg);
	if (len != UINT64_MAX)
		assert_int_equal(truncate(p, (off_t)len), 0);
	if (zeros > len)
		assert_int_equal(truncate(p, (off_t)zeros), 0);
	if (flip >= 0) {
		int fd = open(p, O_RDWR);
		uint8_t b;

		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &b, 1, flip), 1);
		b ^= (uint8_t)(1u << bit);
		assert_int_equal(pwrite(fd, &b, 1, flip), 1);
		close(fd);
	}
}

/* Every segment in @dir has a hint, and every hint is one that an open
 * uses (FORMAT.md: it checks, and its segment still has the recorded
 * length and XXH3-64): a hint refused in silence costs a scan.
 * @return the number of segments. */
static size_t check_hints(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t nseg = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char p[512], id_hex[17];
		uint8_t *hint;
		uint64_t seg_hash;
		struct stat hs, ss;
		int hfd, sfd;

		if (strlen(de->d_name) != 20 || strcmp(de->d_name + 16, ".seg"))
			continue;
		nseg++;
		memcpy(id_hex, de->d_name, 16);
		id_hex[16] = 0;
		snprintf(p, sizeof(p), "%s/%s.hint", dir, id_hex);
		hfd = open(p, O_RDONLY);
		if (hfd < 0)
			fail_msg("%s: no hint", de->d_name);
		assert_int_equal(fstat(hfd, &hs), 0);
		hint = malloc((size_t)hs.st_size + 1);
		assert_non_null(hint);
		assert_int_equal(read(hfd, hint, (size_t)hs.st_size),
				 hs.st_size);
		close(hfd);
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		sfd = open(p, O_RDONLY);
		assert_true(sfd >= 0);
		assert_int_equal(fstat(sfd, &ss), 0);
		if (log_hint_check(hint, (size_t)hs.st_size,
				   strtoull(id_hex, NULL, 16),
				   (uint64_t)ss.st_size, NULL) < 0)
			fail_msg("%s: hint does not check", de->d_name);
		assert_int_equal(log_file_hash(sfd, (uint64_t)ss.st_size,
					       &seg_hash), 0);
		if (log_get64(hint + 32) != seg_hash)
			fail_msg("%s: hint names another segment hash",
				 de->d_name);
		free(hint);
		close(sfd);
	}
	closedir(d);
	return nseg;
}

/* ---- tests --------------------------------------------------------- */

static void test_history_recorded(void **state)
{
	struct world *w = *state;
	struct store_opts o;
	struct store *st = NULL;
	char err[256] = "";

	write_history(w);
	parse_segment(w);
	assert_true(w->ncommits >= 30);
	/* Sanity of the model itself: reopening shows the final view. */
	o = base_opts(err, sizeof(err));
	assert_int_equal(store_open(w->dir, &o, &st), 0);
	assert_int_equal(matches(st, &w->view[w->ncommits], "reopen"), 0);
	assert_int_equal(store_close(st), 0);
}

static void test_every_cut(void **state)
{
	struct world *w = *state;
	struct view post;
	char err[256], what[64];
	unsigned trials = 0, deep = 0;
	time_t t0 = time(NULL);

	uint8_t *orig;
	char p[512];
	int fd;

	write_history(w);
	parse_segment(w);
	orig = malloc(w->seg_len);
	snprintf(p, sizeof(p), "%s/%s", w->dir, w->seg);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0 && orig);
	assert_int_equal(pread(fd, orig, w->seg_len, 0), (ssize_t)w->seg_len);
	close(fd);
	/* Each cut twice: the file ends there, or zeros follow it to past
	 * the old end (a zero tail written ahead, whose overwrite was only
	 * partly on disk).  Either way the commits before the cut, and
	 * only they, survive: with zeros, "the cut" is where the file
	 * first differs from the log, as an entry's own zero bytes are
	 * then the very bytes committed. */
	for (uint64_t c2 = 2 * LOG_SEG_HDR; c2 <= 2 * w->seg_len + 1; c2++) {
		struct store_opts o = base_opts(err, sizeof(err));
		struct store *st = NULL;
		uint64_t cut = c2 / 2, zeros = c2 % 2 ? w->seg_len + 4096 : 0;
		uint64_t same = cut;
		size_t j;
		uint64_t v, now;
		int rc;

		while (zeros && same < w->seg_len && orig[same] == 0)
			same++;
		j = commits_before(w, same);

		make_copy(w, cut, -1, 0, zeros);
		err[0] = 0;
		rc = open_quiet(w->trial, &o, &st);
		if (rc)
			fail_msg("cut at %" PRIu64 "%s: store_open = %d (%s)",
				 cut, zeros ? " + zeros" : "", rc, err);
		/* FORMAT.md: a writable open cuts the segment at the damage
		 * (the start of the unfinished group), on disk, at once. */
		now = tl_file_size(w->trial, w->seg);
		if (j ? now != w->end[j - 1] : now > w->base)
			fail_msg("cut at %" PRIu64 "%s: segment is %" PRIu64
				 " bytes after open, want %" PRIu64, cut,
				 zeros ? " + zeros" : "", now,
				 j ? w->end[j - 1] : w->base);
		snprintf(what, sizeof(what), "cut at %" PRIu64 "%s", cut,
			 zeros ? " + zeros" : "");
		if (matches(st, &w->view[j], what))
			fail_msg("%s: want the %zu commits before it", what,
				 j);
		trials++;
		/* Now and then: the cut must be real, so a new commit after
		 * it survives the next open (and the old ones still do). */
		if (cut % 7 == 0 || cut == w->seg_len) {
			assert_int_equal(store_put(st, "k0", STORE_ANY, "post",
						   4, NULL, &v), 0);
			post = w->view[j];
			post.k[0].live = 1;
			post.k[0].version = v;
			post.k[0].last = v;
			post.k[0].len = 4;
			memcpy(post.k[0].val, "post", 4);
			post.k[0].tag = w->view[j].k[0].live &&
					w->view[j].k[0].tag;
			assert_true(v > w->view[j].k[0].last);
			assert_int_equal(store_close(st), 0);
			assert_int_equal(open_quiet(w->trial, &o, &st), 0);
			if (matches(st, &post, what))
				fail_msg("%s: a commit after the cut did not "
					 "survive reopen", what);
			deep++;
		}
		assert_int_equal(store_close(st), 0);
	}
	free(orig);
	print_message("%u cuts (%u with a commit after), %ld s\n", trials,
		      deep, (long)(time(NULL) - t0));
}

/* The hints that sealing and closing write are all usable: those of
 * segments rolled by size and the closed one, after every kind of
 * change, blobs among them. */
static void test_hints_usable(void **state)
{
	struct world *w = *state;
	struct store_opts o;
	struct store *st = NULL;
	char err[256] = "", val[200];
	static char big[70000];
	uint64_t v;

	write_history(w);
	assert_int_equal(check_hints(w->dir), 1);
	o = base_opts(err, sizeof(err));
	o.segment_size = 2048;
	o.inline_max = 1024;
	if (store_open(w->dir, &o, &st))
		fail_msg("store_open: %s", err);
	for (int i = 0; i < 300; i++) {
		int len = snprintf(val, sizeof(val), "%d%.*s", i, i % 150,
				   "................................................"
				   "................................................"
				   "......................................................");
		assert_int_equal(store_put(st, keys[i % 6], STORE_ANY, val,
					   (size_t)len, NULL, &v), 0);
		if (i % 50 == 7) {
			memset(big, 'a' + i % 26, sizeof(big));
			assert_int_equal(store_put(st, "n/b", STORE_ANY, big,
						   sizeof(big), NULL, &v), 0);
			assert_int_equal(store_delete(st, keys[(i + 1) % 6],
						      STORE_ANY, &v), 0);
			assert_int_equal(store_setxattr(st, keys[i % 6],
							"user.tag", "1", 1, 0),
					 0);
		}
	}
	assert_int_equal(store_close(st), 0);
	assert_true(check_hints(w->dir) > 10);
}

static void test_bit_flips(void **state)
{
	struct world *w = *state;
	char err[512], what[96];
	unsigned trials = 0;

	write_history(w);
	parse_segment(w);
	assert_true(w->nent >= 2);
	/* Every entry but the last, several positions each: checksum,
	 * length, type, flags, version, key, body, content, last byte. */
	for (size_t e = 0; e + 1 < w->nent; e++) {
		static const uint32_t pos[] = { 0, 7, 9, 12, 13, 20, 48, 60,
						120, 200 };
		uint64_t start = w->ent_off[e];

		for (size_t p = 0; p <= sizeof(pos) / sizeof(pos[0]); p++) {
			uint64_t at = p < sizeof(pos) / sizeof(pos[0])
					      ? start + pos[p]
					      : start + w->ent_len[e] - 1;
			int bit = (int)((e + p) % 8);
			struct store_opts o = base_opts(err, sizeof(err));
			struct store *st = NULL;
			size_t j = commits_before(w, start);
			int rc;

			if (at >= start + w->ent_len[e])
				continue;
			make_copy(w, UINT64_MAX, (int64_t)at, bit, 0);
			err[0] = 0;
			rc = open_quiet(w->trial, &o, &st);
			if (rc != -EUCLEAN) {
				if (rc == 0)
					store_close(st);
				fail_msg("flip at %" PRIu64 " bit %d (entry at "
					 "%" PRIu64 "): store_open = %d, want "
					 "-EUCLEAN (%s)", at, bit, start, rc,
					 err);
			}
			if (!strstr(err, w->seg) || !tl_names_offset(err, start))
				fail_msg("flip at %" PRIu64 ": errbuf \"%s\" "
					 "should name %s and offset %" PRIu64,
					 at, err, w->seg, start);

			o.read_only = 1;
			rc = open_quiet(w->trial, &o, &st);
			if (rc)
				fail_msg("flip at %" PRIu64 ": read-only open "
					 "= %d (%s)", at, rc, err);
			snprintf(what, sizeof(what), "flip at %" PRIu64
				 " (read-only)", at);
			if (matches(st, &w->view[j], what))
				fail_msg("flip at %" PRIu64 ": want the %zu "
					 "commits before %" PRIu64, at, j,
					 start);
			assert_int_equal(store_close(st), 0);
			trials++;
		}
	}
	print_message("%u bit flips\n", trials);
}

/* Zero @len bytes of the trial copy's last segment from offset 0. */
static void zero_start(struct world *w, uint64_t len)
{
	char p[512];
	uint8_t z[4096] = { 0 };
	int fd;

	snprintf(p, sizeof(p), "%s/%s", w->trial, w->seg);
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	for (uint64_t off = 0; off < len; off += sizeof(z)) {
		size_t n = len - off < sizeof(z) ? (size_t)(len - off)
						 : sizeof(z);
		assert_int_equal(pwrite(fd, z, n, (off_t)off), (ssize_t)n);
	}
	close(fd);
}

/* The newest segment's header zeroed.  With its entries still after
 * it, that is damage: a writable open refuses (-EUCLEAN, the segment,
 * offset 0), a read-only one serves the segments before it.  Before
 * 2026-12-06 the open removed the segment with every commit in it.
 * With nothing but zeros after it, it is a segment whose first bytes
 * never reached the disk: torn, removed, and the open goes on; unless
 * its hint says they did (HINT_F_DURABLE): then it is damage too. */
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

static void test_zeroed_header(void **state)
{
	struct world *w = *state;
	struct store_opts o;
	struct store *st = NULL;
	char err[512] = "";
	int rc, fds;

	write_history(w);
	make_copy(w, UINT64_MAX, -1, 0, 0);
	zero_start(w, LOG_SEG_HDR);
	o = base_opts(err, sizeof(err));
	rc = open_quiet(w->trial, &o, &st);
	if (rc == 0)
		store_close(st);
	assert_int_equal(rc, -EUCLEAN);
	if (!strstr(err, w->seg) || !tl_names_offset(err, 0))
		fail_msg("errbuf \"%s\" should name %s and offset 0", err,
			 w->seg);
	assert_int_equal(tl_file_size(w->trial, w->seg), w->seg_len);
	o.read_only = 1;
	fds = count_fds();
	assert_int_equal(open_quiet(w->trial, &o, &st), 0);
	if (matches(st, &w->view[0], "zeroed header (read-only)"))
		fail_msg("a read-only open should serve what came before");
	assert_int_equal(store_close(st), 0);
	/* The damaged segment's descriptor too (leaked before 2026-12-06:
	 * one per read-only open of such a store). */
	assert_int_equal(count_fds(), fds);

	/* All zeros under a hint that says it was on disk: its commits
	 * were synced, then lost (until 2026-12-07 it was removed). */
	make_copy(w, UINT64_MAX, -1, 0, 0);
	zero_start(w, w->seg_len);
	o = base_opts(err, sizeof(err));
	rc = open_quiet(w->trial, &o, &st);
	if (rc == 0)
		store_close(st);
	assert_int_equal(rc, -EUCLEAN);
	assert_int_equal(tl_file_size(w->trial, w->seg), w->seg_len);

	/* With no hint, as a crash leaves it: torn, removed. */
	make_copy(w, UINT64_MAX, -1, 0, 0);
	drop_hint(w);
	zero_start(w, w->seg_len);
	o = base_opts(err, sizeof(err));
	assert_int_equal(open_quiet(w->trial, &o, &st), 0);
	if (matches(st, &w->view[0], "all zeros"))
		fail_msg("an all-zero newest segment holds nothing");
	assert_int_equal(store_close(st), 0);
}

/* The trial copy's hint of its last segment, rewritten with @flags (and
 * its trailing sum made to match). */
static void set_hint_flags(struct world *w, uint32_t flags)
{
	char p[512];
	struct stat sb;
	uint8_t *buf;
	int fd;

	snprintf(p, sizeof(p), "%s/%.16s.hint", w->trial, w->seg);
	fd = open(p, O_RDWR);
	assert_true(fd >= 0 && fstat(fd, &sb) == 0);
	buf = malloc((size_t)sb.st_size);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	log_put32(buf + 12, flags);
	log_put64(buf + sb.st_size - 8, log_xxh64(buf, (size_t)sb.st_size - 8));
	assert_int_equal(pwrite(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	free(buf);
	close(fd);
}

/* A sealed segment whose hint says it was on disk (HINT_F_DURABLE, as
 * one written at close after the sync): damage in its last entry, a
 * cut inside it, or zeros over it, is corruption (-EUCLEAN naming the
 * offset; a read-only open serves the commits before), never a torn
 * tail to cut.  Before 2026-12-06 each was cut, and a synced commit
 * with it.  With an older hint (no flag), the torn-tail rule stays. */
static void test_durable_hint(void **state)
{
	struct world *w = *state;
	char err[512];
	uint64_t last;
	size_t j;

	write_history(w);
	parse_segment(w);
	assert_true(w->nent >= 2);
	last = w->ent_off[w->nent - 1];
	j = commits_before(w, last);
	assert_true(last + w->ent_len[w->nent - 1] == w->seg_len);
	for (int how = 0; how < 4; how++) {
		struct store_opts o = base_opts(err, sizeof(err));
		struct store *st = NULL;
		uint64_t mid = last + w->ent_len[w->nent - 1] / 2;
		char p[512];
		int rc;

		/* 0: a flip in its last byte (3: the same under an older
		 * hint); 1: cut in its middle; 2: zeros from there on. */
		make_copy(w, UINT64_MAX, how % 3 ? -1 : (int64_t)w->seg_len - 1,
			  3, 0);
		snprintf(p, sizeof(p), "%s/%s", w->trial, w->seg);
		if (how == 1 || how == 2)
			assert_int_equal(truncate(p, (off_t)mid), 0);
		if (how == 2)
			assert_int_equal(truncate(p, (off_t)w->seg_len), 0);
		if (how == 3) {
			set_hint_flags(w, 0);
			assert_int_equal(open_quiet(w->trial, &o, &st), 0);
			if (matches(st, &w->view[j], "older hint"))
				fail_msg("under an older hint the last entry's "
					 "damage is a torn tail, cut");
			assert_int_equal(store_close(st), 0);
			continue;
		}
		err[0] = 0;
		rc = open_quiet(w->trial, &o, &st);
		if (rc == 0)
			store_close(st);
		if (rc != -EUCLEAN || !strstr(err, w->seg) ||
		    !tl_names_offset(err, last))
			fail_msg("case %d: store_open = %d (%s), want -EUCLEAN "
				 "naming %s and offset %" PRIu64, how, rc, err,
				 w->seg, last);
		o.read_only = 1;
		assert_int_equal(open_quiet(w->trial, &o, &st), 0);
		if (matches(st, &w->view[j], "durable hint, read-only"))
			fail_msg("case %d: a read-only open should serve the "
				 "%zu commits before", how, j);
		assert_int_equal(store_close(st), 0);
	}
}

/* spool/ made a file (or unreadable): a read-write open, which empties
 * it, is refused naming spool/ (it said "cannot open blobs/ or spool/",
 * not which); a read-only one, which never uses it, serves the store
 * (it was refused too, though the message offered '-o ro'). */
static void test_spool_not_dir(void **state)
{
	struct world *w = *state;
	struct store_opts o;
	struct store *st = NULL;
	char err[512] = "", p[512];
	int rc, fd;

	write_history(w);
	make_copy(w, UINT64_MAX, -1, 0, 0);
	snprintf(p, sizeof(p), "%s/spool", w->trial);
	tl_rm_tree(p);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	o = base_opts(err, sizeof(err));
	rc = open_quiet(w->trial, &o, &st);
	if (rc == 0)
		store_close(st);
	assert_int_equal(rc, -ENOTDIR);
	if (!strstr(err, "spool/") || strstr(err, "blobs/"))
		fail_msg("errbuf \"%s\" should name spool/ alone", err);
	o.read_only = 1;
	assert_int_equal(open_quiet(w->trial, &o, &st), 0);
	if (matches(st, &w->view[w->ncommits], "spool/ a file (read-only)"))
		fail_msg("a read-only open should serve every commit");
	assert_int_equal(store_close(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_history_recorded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_every_cut, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bit_flips, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hints_usable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_zeroed_header, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_durable_hint, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_spool_not_dir, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

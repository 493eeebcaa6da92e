/* test_crash.c - SIGKILL a writer at random moments; nothing it was told
 * is committed may be lost, and no version may repeat.
 *
 * A child opens the store and commits in a loop (puts of 1 KB..200 KB,
 * some above inline_max so blobs are used, and a few deletes).  After
 * each commit returns it appends "key version hash op" to an ack file
 * with one write(2).  The parent kills it after a random short delay,
 * reopens the store and checks every acknowledged commit.  ~30 cycles on
 * the same store, so recovery runs over the debris of earlier crashes
 * (torn tails, spool files, half-done compactions).
 *
 * Content is a pure function of (run seed, key, version), so the parent
 * can check even the one commit that may have landed unacknowledged.
 * Set RECFS_SEED to replay a run. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
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
#include <xxhash.h>

#include "store.h"

enum {
	NKEYS = 8,
	CYCLES = 30,
	MIN_SIZE = 1024,
	MAX_SIZE = 200 * 1024,
};

static const char *const keys[NKEYS] = { "r0", "r1", "r2", "d/r3", "d/r4",
					 "d/e/r5", "r6", "r7" };

static uint64_t run_seed;

/* ---- content ------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Size of version @v of key @k: log-uniform in [1 KB, 200 KB], so most
 * are small but a good share exceed the 64 KiB inline_max. */
static size_t content_size(int k, uint64_t v)
{
	uint64_t r = mix(run_seed ^ ((uint64_t)k << 56) ^ v);
	double f = (double)(r % 1000000) / 1000000.0;
	size_t n = MIN_SIZE;

	/* About 1 KB * 200^f without libm: double per whole step of
	 * f * log2(200), then a random part within the last octave. */
	for (double e = f * 7.64; e >= 1.0; e -= 1.0)
		n *= 2;
	n += (size_t)(r >> 40) % n;
	return n > MAX_SIZE ? MAX_SIZE : n;
}

static void content(int k, uint64_t v, uint8_t *buf, size_t n)
{
	uint64_t x = mix(run_seed + 0x9e3779b97f4a7c15ULL * (v + 1) + (uint64_t)k);
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	for (; i < n; i++)
		buf[i] = (uint8_t)(x >> (8 * (i % 8)));
}

static void hash128(const void *p, size_t n, uint8_t out[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
	memcpy(out, c.digest, 16);
}

static struct store_opts opts(char *err, size_t len)
{
	struct store_opts o = { 0 };

	/* Small segments so rolling and compaction happen under the knife. */
	o.segment_size = 1 << 20;
	o.reserve_bytes = 1 << 16;
	o.errbuf = err;
	o.errlen = len;
	return o;
}

/* ---- the writer child ---------------------------------------------- */

/* Never returns; exit codes tell the parent what went wrong (cmocka's
 * asserts must not run here). */
static void writer(const char *dir, const char *ackpath, uint64_t rseed)
{
	char err[256] = "", line[128], hex[33];
	struct store_opts o = opts(err, sizeof(err));
	struct store *st = NULL;
	uint8_t *buf = malloc(MAX_SIZE), h[16];
	uint64_t r = rseed | 1;
	int ack, rc;

	ack = open(ackpath, O_WRONLY | O_APPEND);
	if (!buf || ack < 0)
		_exit(20);
	rc = store_open(dir, &o, &st);
	if (rc) {
		fprintf(stderr, "writer: store_open = %d (%s)\n", rc, err);
		_exit(10);
	}
	if (write(ack, "R\n", 2) != 2) /* opened: the parent may start its clock */
		_exit(13);
	for (;;) {
		struct store_stat s;
		uint64_t last, expect, newv = 0;
		int k, live, n;
		char op;

		r = mix(r);
		k = (int)(r % NKEYS);
		if (store_last_version(st, keys[k], &last))
			_exit(11);
		live = store_stat(st, keys[k], &s) == 0;
		if (live && s.version != last)
			_exit(12);
		expect = live ? last : STORE_ABSENT;
		if (live && (r >> 32) % 10 == 0) {
			op = 'D';
			rc = store_delete(st, keys[k], expect, &newv);
			strcpy(hex, "-");
		} else {
			size_t len = content_size(k, last + 1);

			op = 'P';
			content(k, last + 1, buf, len);
			rc = store_put(st, keys[k], expect, buf, len, NULL,
				       &newv);
			hash128(buf, len, h);
			store_hash_hex(h, hex);
		}
		if (rc) {
			fprintf(stderr, "writer: %c %s = %d\n", op, keys[k], rc);
			_exit(11);
		}
		/* One writer: each change is exactly the key's next version. */
		if (newv != last + 1) {
			fprintf(stderr, "writer: %s got v%" PRIu64 " after %"
				PRIu64 "\n", keys[k], newv, last);
			_exit(12);
		}
		n = snprintf(line, sizeof(line), "%d %" PRIu64 " %s %c\n", k,
			     newv, hex, op);
		if (write(ack, line, (size_t)n) != n)
			_exit(13);
	}
}

/* ---- the parent's model -------------------------------------------- */

struct key_model {
	uint64_t last;   /* the key's last version, known committed */
	int live;
	uint8_t hash[16];
	/* hashes of acknowledged put versions, by version (0: unknown) */
	uint8_t (*acked)[16];
	uint8_t *known;
	size_t cap;
};

struct fx {
	char tmp[64], dir[96], ack[96];
	struct key_model m[NKEYS];
	uint8_t *buf;
	unsigned acks, inflight_seen, deletes;
};

static void remember(struct key_model *km, uint64_t v, const uint8_t h[16])
{
	if (v >= km->cap) {
		size_t cap = (v + 1) * 2;

		km->acked = realloc(km->acked, cap * 16);
		km->known = realloc(km->known, cap);
		assert_non_null(km->acked);
		assert_non_null(km->known);
		memset(km->known + km->cap, 0, cap - km->cap);
		km->cap = cap;
	}
	memcpy(km->acked[v], h, 16);
	km->known[v] = 1;
}

static int hexval(char c)
{
	return c >= 'a' ? c - 'a' + 10 : c - '0';
}

/* Read the cycle's acks; each must continue its key's line by exactly
 * one (no repeat, no gap) from what the parent last knew. */
static void read_acks(struct fx *f, uint64_t acked_last[NKEYS],
		      int acked_live[NKEYS], uint8_t acked_hash[NKEYS][16])
{
	FILE *fp = fopen(f->ack, "r");
	char line[128];

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		char hex[40], op;
		uint64_t v;
		int k;

		if (!strchr(line, '\n'))
			break; /* torn last line: not an acknowledgment */
		if (!strcmp(line, "R\n"))
			continue;
		if (sscanf(line, "%d %" SCNu64 " %39s %c", &k, &v, hex, &op) != 4 ||
		    k < 0 || k >= NKEYS)
			fail_msg("bad ack line: %s", line);
		if (v != acked_last[k] + 1)
			fail_msg("%s: ack of v%" PRIu64 " after v%" PRIu64
				 " (versions must go up by one)", keys[k], v,
				 acked_last[k]);
		acked_last[k] = v;
		acked_live[k] = op == 'P';
		if (op == 'P') {
			assert_int_equal(strlen(hex), 32);
			for (int i = 0; i < 16; i++)
				acked_hash[k][i] = (uint8_t)(hexval(hex[2 * i]) << 4 |
							     hexval(hex[2 * i + 1]));
			remember(&f->m[k], v, acked_hash[k]);
		} else {
			f->deletes++;
		}
		f->acks++;
	}
	fclose(fp);
}

/* Hash of what the store holds for key @k at version @v (0: current). */
static int stored_hash(struct store *st, int k, uint64_t v, uint8_t *buf,
		       uint8_t out[16], struct store_stat *s)
{
	struct store_snap *snap = NULL;
	uint64_t off = 0;
	ssize_t n;
	int rc = store_snap_open(st, keys[k], v, &snap);

	if (rc)
		return rc;
	store_snap_stat(snap, s);
	if (s->size > MAX_SIZE) {
		store_snap_close(snap);
		return -EFBIG;
	}
	while ((n = store_snap_read(snap, buf + off, MAX_SIZE - off, off)) > 0)
		off += (uint64_t)n;
	store_snap_close(snap);
	if (n < 0)
		return (int)n;
	if (off != s->size)
		return -EIO;
	hash128(buf, off, out);
	return 0;
}

/* After a crash: every acknowledged change is there; at most one more
 * (the commit in flight at the kill) may be, and then it is exactly the
 * content the writer would have made. */
static void verify(struct fx *f, struct store *st, int cycle,
		   const uint64_t acked_last[NKEYS],
		   const int acked_live[NKEYS],
		   uint8_t acked_hash[NKEYS][16])
{
	int ahead = 0;

	for (int k = 0; k < NKEYS; k++) {
		struct key_model *km = &f->m[k];
		struct store_stat s;
		struct store_hist *h = NULL;
		uint64_t last = 0;
		uint8_t got[16], want[16];
		size_t nh = 0;
		int rc;

		assert_int_equal(store_last_version(st, keys[k], &last), 0);
		if (last < acked_last[k])
			fail_msg("cycle %d: %s: last version %" PRIu64 " but "
				 "v%" PRIu64 " was acknowledged", cycle,
				 keys[k], last, acked_last[k]);
		if (last > acked_last[k] + 1)
			fail_msg("cycle %d: %s: last version %" PRIu64 ", only "
				 "v%" PRIu64 " acknowledged", cycle, keys[k],
				 last, acked_last[k]);
		if (last == acked_last[k] + 1)
			ahead++;

		rc = stored_hash(st, k, 0, f->buf, got, &s);
		if (last == acked_last[k]) {
			/* Exactly the acknowledged state. */
			if (!acked_live[k]) {
				if (rc != -ENOENT)
					fail_msg("cycle %d: %s deleted at v%" PRIu64
						 " (acked) but snap_open = %d",
						 cycle, keys[k], last, rc);
			} else {
				if (rc)
					fail_msg("cycle %d: %s v%" PRIu64 ": "
						 "read = %d", cycle, keys[k],
						 last, rc);
				assert_true(s.version == last);
				assert_memory_equal(s.hash, acked_hash[k], 16);
				assert_memory_equal(got, acked_hash[k], 16);
			}
		} else if (rc == 0) {
			/* The in-flight put landed: it must be whole. */
			size_t len = content_size(k, last);

			assert_true(s.version == last);
			content(k, last, f->buf, len);
			hash128(f->buf, len, want);
			if (memcmp(got, want, 16) || memcmp(s.hash, want, 16))
				fail_msg("cycle %d: %s v%" PRIu64 " (in flight)"
					 " has wrong content", cycle, keys[k],
					 last);
			remember(km, last, want);
			f->inflight_seen++;
		} else {
			assert_int_equal(rc, -ENOENT); /* in-flight delete */
			f->inflight_seen++;
		}

		/* Every kept version reads back whole, and matches its ack. */
		if (store_history(st, keys[k], &h, &nh) == 0) {
			for (size_t i = 0; i < nh; i++) {
				uint64_t v = h[i].version;

				assert_true(v <= last);
				if (stored_hash(st, k, v, f->buf, got, &s)) {
					/* Only a tombstone may be unreadable. */
					if (v < km->cap && km->known[v])
						fail_msg("cycle %d: %s v%" PRIu64
							 " listed but unreadable",
							 cycle, keys[k], v);
					continue;
				}
				assert_memory_equal(got, h[i].hash, 16);
				if (v < km->cap && km->known[v] &&
				    memcmp(got, km->acked[v], 16))
					fail_msg("cycle %d: %s v%" PRIu64 " in "
						 "history has wrong content",
						 cycle, keys[k], v);
			}
			free(h);
		}

		/* What is there now is the baseline for the next cycle. */
		km->last = last;
		km->live = rc == 0;
		if (rc == 0)
			memcpy(km->hash, got, 16);
	}
	if (ahead > 1)
		fail_msg("cycle %d: %d keys ahead of their acks; at most one "
			 "commit can be in flight", cycle, ahead);
}

/* How many times slower than native the writer runs: RECFS_TEST_SLOWDOWN,
 * set by tests/fuzz/valgrind.sh, so that the kill windows still catch
 * commits in flight (and the 100 acknowledgements below come). */
static long slowdown(void)
{
	const char *s = getenv("RECFS_TEST_SLOWDOWN");
	long n = s ? strtol(s, NULL, 10) : 1;
	return n >= 1 && n <= 1000 ? n : 1;
}

/* ---- fixture ------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->tmp, "/tmp/recfs-test-crash-XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->tmp);
	snprintf(f->ack, sizeof(f->ack), "%s/acks", f->tmp);
	f->buf = malloc(MAX_SIZE);
	*state = f;
	return f->buf ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (int k = 0; k < NKEYS; k++) {
		free(f->m[k].acked);
		free(f->m[k].known);
	}
	free(f->buf);
	free(f);
	return 0;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait (up to 10 s) until the writer reports the store open. */
static void wait_ready(const char *ack, pid_t child)
{
	struct stat sb;

	for (int i = 0; i < 10000; i++) {
		if (stat(ack, &sb) == 0 && sb.st_size > 0)
			return;
		if (waitpid(child, NULL, WNOHANG) == child)
			fail_msg("writer died before opening the store");
		sleep_us(1000);
	}
	fail_msg("writer did not open the store within 10 s");
}

static void test_kill_writer(void **state)
{
	struct fx *f = *state;
	uint64_t acked_last[NKEYS];
	int acked_live[NKEYS];
	uint8_t acked_hash[NKEYS][16];
	uint64_t rng;
	const char *env = getenv("RECFS_SEED");
	char err[256];
	struct store *st = NULL;
	struct store_opts o;

	run_seed = env ? strtoull(env, NULL, 0)
		       : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	print_message("RECFS_SEED=%" PRIu64 "\n", run_seed);
	rng = mix(run_seed);

	/* Create the store and its directories first. */
	o = opts(err, sizeof(err));
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	assert_int_equal(store_mkdir(st, "d", NULL), 0);
	assert_int_equal(store_mkdir(st, "d/e", NULL), 0);
	assert_int_equal(store_close(st), 0);

	for (int cycle = 0; cycle < CYCLES; cycle++) {
		int fd, status = 0;
		pid_t child;

		fd = open(f->ack, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		close(fd);
		for (int k = 0; k < NKEYS; k++) {
			acked_last[k] = f->m[k].last;
			acked_live[k] = f->m[k].live;
			memcpy(acked_hash[k], f->m[k].hash, 16);
		}
		rng = mix(rng);
		fflush(NULL);
		child = fork();
		assert_true(child >= 0);
		if (child == 0)
			writer(f->dir, f->ack, rng);

		/* Mostly kill while committing; every sixth cycle kill early,
		 * perhaps inside store_open's own recovery. */
		if (cycle % 6 == 5) {
			sleep_us((long)(rng % 3000) * slowdown());
		} else {
			wait_ready(f->ack, child);
			sleep_us((2000 + (long)((rng >> 20) % 40000)) *
				 slowdown());
		}
		kill(child, SIGKILL);
		assert_int_equal(waitpid(child, &status, 0), child);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("cycle %d: writer exited by itself (status "
				 "%d, exit %d); see its stderr", cycle, status,
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);

		read_acks(f, acked_last, acked_live, acked_hash);
		err[0] = 0;
		o = opts(err, sizeof(err));
		if (store_open(f->dir, &o, &st))
			fail_msg("cycle %d: store_open after kill failed: %s",
				 cycle, err);
		verify(f, st, cycle, acked_last, acked_live, acked_hash);
		/* Sometimes compact, so later crashes meet compacted logs. */
		if (cycle % 5 == 4)
			assert_int_equal(store_compact(st), 0);
		assert_int_equal(store_close(st), 0);
	}

	/* A final check from a clean reopen, read-only this time. */
	o = opts(err, sizeof(err));
	o.read_only = 1;
	assert_int_equal(store_open(f->dir, &o, &st), 0);
	for (int k = 0; k < NKEYS; k++) {
		acked_last[k] = f->m[k].last;
		acked_live[k] = f->m[k].live;
		memcpy(acked_hash[k], f->m[k].hash, 16);
	}
	verify(f, st, CYCLES, acked_last, acked_live, acked_hash);
	assert_int_equal(store_close(st), 0);

	print_message("%u acknowledged commits (%u deletes), %u in flight "
		      "found\n", f->acks, f->deletes, f->inflight_seen);
	/* The test means nothing if the writer never got going. */
	assert_true(f->acks >= 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill_writer, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

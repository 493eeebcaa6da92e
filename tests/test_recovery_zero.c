/* test_recovery_zero.c - recovery of a sync=always store's log, whose
 * active segment ends in zeros written ahead (so that each commit's
 * fdatasync is a plain overwrite): after a power loss those zeros are
 * its clean end, a torn entry before them is a torn tail, and zeros in
 * the middle are corruption.  The segment is parsed with log.h only to
 * find entry offsets. */
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "store.h"
#include "store_testlib.h"

#define ZN 30

static struct store_opts zero_opts(char *err, size_t errlen)
{
	struct store_opts o = { 0 };

	o.compact_ratio = -1; /* no compaction moving entries */
	o.reserve_bytes = 4096;
	o.errbuf = err;
	o.errlen = errlen;
	return o;
}

/* Open @dir (writable unless @ro) with stderr in @log; the store in *st
 * (NULL on failure); @return store_open's result. */
static int open_logged(const char *dir, int ro, char *err, size_t errlen,
		       char *log, size_t loglen, struct store **st)
{
	struct store_opts o = zero_opts(err, errlen);
	char path[128];
	int fd, save, rc;
	ssize_t n;

	o.read_only = ro;
	snprintf(path, sizeof(path), "/tmp/recfs-zlog-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	save = dup(2);
	dup2(fd, 2);
	err[0] = 0;
	*st = NULL;
	rc = store_open(dir, &o, st);
	fflush(stderr);
	dup2(save, 2);
	close(save);
	n = pread(fd, log, loglen - 1, 0);
	log[n > 0 ? n : 0] = 0;
	close(fd);
	unlink(path);
	return rc;
}

/* Does st hold z0..z<n-1> with their values, and no z<n>? */
static int has_z(struct store *st, int n)
{
	for (int i = 0; i <= n && i < ZN + 1; i++) {
		char key[16], want[32], *buf = NULL;
		size_t len;
		int rc;

		snprintf(key, sizeof(key), "z%d", i);
		snprintf(want, sizeof(want), "value of z%d", i);
		rc = store_get(st, key, &buf, &len, NULL);
		if (i == n) {
			free(buf);
			return rc == -ENOENT;
		}
		if (rc || len != strlen(want) || memcmp(buf, want, len)) {
			free(buf);
			return 0;
		}
		free(buf);
	}
	return 1;
}

static void zero_range(const char *dir, const char *seg, uint64_t off,
		       uint64_t len)
{
	char p[512];
	uint8_t *z = calloc(1, len);
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, seg);
	fd = open(p, O_RDWR);
	assert_true(fd >= 0 && z);
	assert_int_equal(pwrite(fd, z, len, (off_t)off), (ssize_t)len);
	close(fd);
	free(z);
}

/* A sync=always store that lost power (no close) leaves its active
 * segment ending in zeros written ahead.  That is its clean end: the
 * open says nothing, every record is there, and new commits go after
 * the last entry.  A torn entry before the zeros is a torn tail, cut
 * and logged; zeros in the middle, before valid entries, are
 * corruption, reported with their offset. */
static void test_zero_tail(void **state)
{
	const char *tmp = *state;
	char dir[160], copy[160], seg[64], err[256], log[4096], p[512];
	uint64_t offs[ZN + 8], end = 0, off, v;
	struct log_reader r;
	struct log_entry e;
	struct store *st;
	size_t n = 0;
	pid_t pid;
	int status, fd, rc;

	snprintf(dir, sizeof(dir), "%s/zs", tmp);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_opts o = zero_opts(err, sizeof(err));
		o.sync_always = 1;
		if (store_open(dir, &o, &st) < 0)
			_exit(1);
		for (int i = 0; i < ZN; i++) {
			char key[16], val[32];
			snprintf(key, sizeof(key), "z%d", i);
			snprintf(val, sizeof(val), "value of z%d", i);
			if (store_put(st, key, STORE_ABSENT, val, strlen(val),
				      NULL, NULL) < 0)
				_exit(2);
		}
		_exit(0); /* power off: no close */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* The active segment: ZN entries, then zeros to the end. */
	strcpy(seg, tl_last_segment(dir));
	snprintf(p, sizeof(p), "%s/%s", dir, seg);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(log_reader_init(&r, fd), 0);
	while ((rc = log_reader_next(&r, &e, &off)) == 1) {
		assert_true(n < ZN + 8);
		offs[n++] = off;
		end = off + e.len;
	}
	assert_int_equal(rc, -EUCLEAN);
	assert_true(off == end);
	assert_int_equal(log_reader_zero_end(&r, end), 1);
	log_reader_free(&r);
	close(fd);
	assert_int_equal(n, ZN);
	assert_true(tl_file_size(dir, seg) > end);

	/* Clean end. */
	snprintf(copy, sizeof(copy), "%s/zs-clean", tmp);
	tl_copy_tree(dir, copy);
	assert_int_equal(open_logged(copy, 0, err, sizeof(err), log,
				     sizeof(log), &st), 0);
	if (strstr(log, "torn"))
		fail_msg("a zero tail was logged as damage: %s", log);
	assert_true(has_z(st, ZN));
	assert_true(tl_file_size(copy, seg) == end); /* sealed: given back */
	assert_int_equal(store_put(st, "z30", STORE_ABSENT, "value of z30",
				   12, NULL, &v), 0);
	assert_int_equal(store_close(st), 0);
	assert_int_equal(open_logged(copy, 0, err, sizeof(err), log,
				     sizeof(log), &st), 0);
	assert_true(has_z(st, ZN + 1));
	assert_int_equal(store_close(st), 0);
	/* Read-only, the same (nothing cut). */
	tl_rm_tree(copy);
	tl_copy_tree(dir, copy);
	assert_int_equal(open_logged(copy, 1, err, sizeof(err), log,
				     sizeof(log), &st), 0);
	assert_true(has_z(st, ZN));
	assert_int_equal(store_close(st), 0);
	assert_true(tl_file_size(copy, seg) > end);
	tl_rm_tree(copy);

	/* The last entry torn: its first bytes, then zeros. */
	snprintf(copy, sizeof(copy), "%s/zs-torn", tmp);
	tl_copy_tree(dir, copy);
	zero_range(copy, seg, offs[ZN - 1] + 20, end - offs[ZN - 1] - 20);
	assert_int_equal(open_logged(copy, 0, err, sizeof(err), log,
				     sizeof(log), &st), 0);
	snprintf(p, sizeof(p), "cut torn tail at offset %" PRIu64,
		 offs[ZN - 1]);
	if (!strstr(log, p))
		fail_msg("want \"%s\" logged, got: %s", p, log);
	assert_true(has_z(st, ZN - 1));
	assert_int_equal(store_close(st), 0);
	tl_rm_tree(copy);

	/* An entry in the middle zeroed: valid entries follow. */
	snprintf(copy, sizeof(copy), "%s/zs-mid", tmp);
	tl_copy_tree(dir, copy);
	zero_range(copy, seg, offs[10], offs[11] - offs[10]);
	rc = open_logged(copy, 0, err, sizeof(err), log, sizeof(log), &st);
	assert_int_equal(rc, -EUCLEAN);
	if (!strstr(err, seg) || !tl_names_offset(err, offs[10]))
		fail_msg("want %s and offset %" PRIu64 " named: %s", seg,
			 offs[10], err);
	assert_true(tl_file_size(copy, seg) > end); /* nothing cut */
	assert_int_equal(open_logged(copy, 1, err, sizeof(err), log,
				     sizeof(log), &st), 0);
	assert_true(has_z(st, 10)); /* what came before it */
	assert_int_equal(store_close(st), 0);
	tl_rm_tree(copy);
}

static int setup(void **state)
{
	static char tmp[64];

	strcpy(tmp, "/tmp/recfs-test-zero-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	*state = tmp;
	return 0;
}

static int teardown(void **state)
{
	return tl_rm_tree(*state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_zero_tail, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* store_testlib.h - what store tests share (test_fsck, test_salvage,
 * test_blob): a report captured and checked for a line, a file read
 * whole, a fixture's temporary tree removed (and the fixture freed).  Header-only: each test is
 * its own program.  Include after <cmocka.h>. */
#ifndef STORE_TESTLIB_H
#define STORE_TESTLIB_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Capture a report: *@text is freed, and becomes what is written to the
 * returned stream once tl_report_end() closes it (*@len must live until
 * then). */
static inline FILE *tl_report_begin(char **text, size_t *len)
{
	FILE *m;

	free(*text);
	*text = NULL;
	m = open_memstream(text, len);
	assert_non_null(m);
	return m;
}

/* Close the report @m; @return @rc (what wrote it returned). */
static inline int tl_report_end(FILE *m, int rc)
{
	assert_int_equal(fclose(m), 0);
	return rc;
}

/* Fail with the whole report when it lacks @needle. */
static inline void tl_expect_in(const char *report, const char *needle)
{
	if (!strstr(report, needle))
		fail_msg("expected \"%s\" in:\n%s", needle, report);
}

static inline void tl_expect_not_in(const char *report, const char *needle)
{
	if (strstr(report, needle))
		fail_msg("did not expect \"%s\" in:\n%s", needle, report);
}

/* The file at @path, whole, in a malloc'ed buffer (*len bytes). */
static inline uint8_t *tl_slurp(const char *path, size_t *len)
{
	struct stat sb;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	*len = (size_t)sb.st_size;
	buf = malloc(*len + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, *len, 0), (ssize_t)*len);
	close(fd);
	return buf;
}

static inline int tl_rm_one(const char *path, const struct stat *sb,
			    int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* Remove the tree at @dir (a fixture's mkdtemp), without a shell.
 * @return 0 or -1. */
static inline int tl_rm_tree(const char *dir)
{
	return nftw(dir, tl_rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* A report fixture's teardown: its tree at @tmp removed, its last
 * report @out and the fixture @f freed.  @return 0, or -1 (for cmocka)
 * when the tree could not be removed. */
static inline int tl_fixture_end(const char *tmp, char *out, void *f)
{
	if (tl_rm_tree(tmp) < 0)
		return -1;
	free(out);
	free(f);
	return 0;
}

#endif

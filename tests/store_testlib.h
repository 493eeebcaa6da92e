/* store_testlib.h - what store tests share (test_fsck, test_salvage,
 * test_blob): a report captured and checked for a line, a file read
 * whole, a fixture's temporary tree removed (and the fixture freed), a
 * store's tree copied and its last segment found (test_recovery,
 * test_recovery_zero).  Header-only: each test is
 * its own program.  Include after <cmocka.h>. */
#ifndef STORE_TESTLIB_H
#define STORE_TESTLIB_H

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
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

/* cp of one regular file. */
static inline void tl_copy_file(const char *src, const char *dst)
{
	static uint8_t buf[1 << 16];
	int in = open(src, O_RDONLY), out;
	ssize_t n;

	assert_true(in >= 0);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

/* cp -r, regular files and directories only (a store has nothing else). */
static inline void tl_copy_tree(const char *src, const char *dst)
{
	DIR *d = opendir(src);
	struct dirent *de;
	char s[512], t[512];
	struct stat sb;

	assert_non_null(d);
	assert_int_equal(mkdir(dst, 0700), 0);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(s, sizeof(s), "%s/%s", src, de->d_name);
		snprintf(t, sizeof(t), "%s/%s", dst, de->d_name);
		assert_int_equal(lstat(s, &sb), 0);
		if (S_ISDIR(sb.st_mode))
			tl_copy_tree(s, t);
		else if (S_ISREG(sb.st_mode))
			tl_copy_file(s, t);
	}
	closedir(d);
}

/* Name of the segment with the highest id in @dir, the one a crash
 * tears (static buffer). */
static inline const char *tl_last_segment(const char *dir)
{
	static char best[64];
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	best[0] = 0;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n == 20 && !strcmp(de->d_name + 16, ".seg") &&
		    strcmp(de->d_name, best) > 0) /* fixed-width hex ids */
			strcpy(best, de->d_name);
	}
	closedir(d);
	assert_true(best[0] != 0);
	return best;
}

/* Is @fd a compaction's output (its name ends .compact)?  For a store_io
 * hook that acts at the output's first write. */
static inline int tl_fd_is_compact_output(int fd)
{
	char link[64], path[512];
	ssize_t k;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	k = readlink(link, path, sizeof(path) - 1);
	path[k > 0 ? k : 0] = 0;
	return strstr(path, ".compact") != NULL;
}

static inline uint64_t tl_file_size(const char *dir, const char *name)
{
	char p[512];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(stat(p, &sb), 0);
	return (uint64_t)sb.st_size;
}

/* Does @err name byte offset @off (decimal or 0x-hex, as a number)? */
static inline int tl_names_offset(const char *err, uint64_t off)
{
	char num[32];
	const char *p;

	snprintf(num, sizeof(num), "%" PRIu64, off);
	for (p = err; (p = strstr(p, num)); p++) {
		int before = p > err && (p[-1] >= '0' && p[-1] <= '9');
		char after = p[strlen(num)];

		if (!before && !(after >= '0' && after <= '9'))
			return 1;
	}
	snprintf(num, sizeof(num), "0x%" PRIx64, off);
	if ((p = strstr(err, num))) {
		char after = p[strlen(num)];

		if (!((after >= '0' && after <= '9') ||
		      (after >= 'a' && after <= 'f')))
			return 1;
	}
	return 0;
}

#endif

/* rc_read.c - get, stat, why and ls: looking at records without
 * changing them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "recctl.h"

static int copy_out(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return -EIO;
	}
	return 0;
}

int cmd_get(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct rc_opt opts[] = { { "--version", 'v', 0, 0, NULL }, { 0 } };
	const char *path;
	uint64_t v = 0;
	int rc, fd = -1;

	rc = rc_parse_one(cmd, argc, argv, opts, &path, "PATH");
	if (rc >= 0)
		return rc;
	if (rc_on_recfs(path) == 0) {
		rc = RC_NOT_RECFS;
	} else if (opts[0].set) {
		rc = rc_open_consistent(path, &v, &fd);
	} else {
		/* An open handle reads one version whole, so plain content
		 * needs no version dance. */
		fd = open(path, O_RDONLY | O_CLOEXEC);
		rc = fd < 0 ? -errno : 0;
	}
	if (rc < 0)
		return rc_report(cmd, path, rc, NULL);
	if (opts[0].set)
		printf("%" PRIu64 "\n", v);
	rc = copy_out(fd);
	close(fd);
	if (rc < 0)
		return rc_report(cmd, path, rc, "reading");
	return EXIT_OK;
}

/* ---- stat ------------------------------------------------------------- */

struct rec_stat {
	int is_dir, is_link, has_version, has_lease;
	uint64_t version;
	char hash[40];
	struct stat sb;
	long lease_pid;
	char lease_comm[64], lease_since[64], lease_raw[256];
};

/* "pid=N comm=NAME since=TS"; a comm may hold spaces, so since= is
 * searched from the end. */
static void parse_lease(struct rec_stat *s)
{
	const char *c = strstr(s->lease_raw, "comm=");
	const char *since = NULL, *p;

	for (p = s->lease_raw; (p = strstr(p, " since=")); p++)
		since = p;
	s->lease_pid = strncmp(s->lease_raw, "pid=", 4) == 0
			       ? strtol(s->lease_raw + 4, NULL, 10) : -1;
	if (c && since && since > c)
		snprintf(s->lease_comm, sizeof(s->lease_comm), "%.*s",
			 (int)(since - c - 5), c + 5);
	if (since)
		snprintf(s->lease_since, sizeof(s->lease_since), "%s",
			 since + 7);
}

static int read_stat(const char *path, struct rec_stat *s)
{
	uint64_t v2;
	int rc = -EBUSY;

	memset(s, 0, sizeof(*s));
	/* A symlink is a record of its own, not its target: made whole
	 * by symlink(2), so never leased, and its figures are its
	 * history's (rc_link_version).  One outside a mount is followed
	 * (rc_link_on_recfs). */
	if (rc_link_on_recfs(path) > 0 && lstat(path, &s->sb) == 0) {
		s->is_link = 1;
		rc = rc_link_version(path, &s->version, s->hash);
		s->has_version = rc == 0;
		return rc == -ENOENT ? 0 : rc;
	}
	/* version, hash and size, then the version again: one version's
	 * figures, or retried. */
	for (unsigned i = 0; i < 1000 && rc == -EBUSY; i++) {
		if (i > 10)
			rc_sleep_ms(1);
		if (stat(path, &s->sb) < 0)
			return -errno;
		if (S_ISDIR(s->sb.st_mode)) {
			s->is_dir = 1;
			return 0;
		}
		rc = rc_version(path, &s->version);
		if (rc == -ENODATA) {
			rc = 0; /* still being created: no version yet */
			break;
		}
		if (rc == 0)
			rc = rc_getxattr_str(path, "user.hash", s->hash,
					     sizeof(s->hash));
		if (rc == 0 && stat(path, &s->sb) < 0)
			rc = -errno;
		if (rc == 0)
			rc = rc_version(path, &v2);
		if (rc == 0 && v2 == s->version)
			s->has_version = 1;
		else if (rc == 0 || rc == -ENODATA || rc == -ENOENT)
			rc = -EBUSY;
	}
	if (rc < 0)
		return rc;
	rc = rc_getxattr_str(path, "user.recfs.lease", s->lease_raw,
			     sizeof(s->lease_raw));
	if (rc == 0 && s->lease_raw[0]) {
		s->has_lease = 1;
		parse_lease(s);
	}
	return 0;
}

/* The length of the well-formed UTF-8 sequence at @s (RFC 3629: no
 * overlong forms, surrogates or code points past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	uint32_t cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* A name is bytes, JSON text is UTF-8: a byte that is not part of a
 * well-formed sequence is written \udcXX, as Python's surrogateescape
 * does (os.fsencode gives the byte back).  Until 2026-12-07 it was
 * written raw, and a Latin-1 name made the whole object invalid. */
static void json_str(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			printf("\\%c", *s);
		} else if (*s < 0x20) {
			printf("\\u%04x", *s);
		} else if (*s < 0x80) {
			putchar(*s);
		} else if ((n = utf8_len(s)) > 0) {
			fwrite(s, 1, n, stdout);
			s += n - 1;
		} else {
			printf("\\udc%02x", *s);
		}
	}
	putchar('"');
}

static void print_stat_json(const char *path, const struct rec_stat *s)
{
	char mt[40], ct[40];

	rc_fmt_time(s->sb.st_mtime, mt, sizeof(mt));
	rc_fmt_time(s->sb.st_ctime, ct, sizeof(ct));
	printf("{\"path\":");
	json_str(path);
	if (s->is_dir) {
		printf(",\"type\":\"directory\"}\n");
		return;
	}
	printf(",\"type\":\"%s\",\"version\":",
	       s->is_link ? "symlink" : "record");
	if (s->has_version)
		printf("%" PRIu64 ",\"hash\":\"%s\"", s->version, s->hash);
	else
		printf("null,\"hash\":null");
	printf(",\"size\":%lld,\"modified\":\"%s\",\"changed\":\"%s\","
	       "\"lease\":", (long long)s->sb.st_size, mt, ct);
	if (!s->has_lease) {
		printf("null}\n");
		return;
	}
	printf("{\"pid\":%ld,\"comm\":", s->lease_pid);
	json_str(s->lease_comm);
	printf(",\"since\":");
	json_str(s->lease_since);
	printf("}}\n");
}

static void print_stat_text(const char *path, const struct rec_stat *s)
{
	char mt[40], ct[40];

	rc_fmt_time(s->sb.st_mtime, mt, sizeof(mt));
	rc_fmt_time(s->sb.st_ctime, ct, sizeof(ct));
	printf("path: %s\n", path);
	if (s->is_dir) {
		printf("type: directory\n");
		return;
	}
	printf("type: %s\n", s->is_link ? "symlink" : "record");
	if (s->has_version)
		printf("version: %" PRIu64 "\nhash: %s\n", s->version, s->hash);
	else
		printf("version: none (being created)\n");
	printf("size: %lld\nmodified: %s\nchanged: %s\n",
	       (long long)s->sb.st_size, mt, ct);
	if (s->has_lease)
		printf("lease: pid %ld (%s) since %s\n", s->lease_pid,
		       s->lease_comm, s->lease_since);
	else
		printf("lease: none\n");
}

int cmd_stat(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct rc_opt opts[] = { { "--json", 'j', 0, 0, NULL }, { 0 } };
	struct rec_stat s;
	const char *path;
	int rc;

	rc = rc_parse_one(cmd, argc, argv, opts, &path, "PATH");
	if (rc >= 0)
		return rc;
	rc = read_stat(path, &s);
	if (rc < 0)
		return rc_report(cmd, path, rc, NULL);
	if (opts[0].set)
		print_stat_json(path, &s);
	else
		print_stat_text(path, &s);
	return EXIT_OK;
}

/* ---- why -------------------------------------------------------------- */

int cmd_why(const struct recctl_cmd *cmd, int argc, char **argv)
{
	char basis_s[32], conflict[512];
	uint64_t v = 0, basis = 0;
	struct stat sb;
	const char *path;
	int rc, has_v, has_basis, has_conflict;

	rc = rc_parse_one(cmd, argc, argv, NULL, &path, "PATH");
	if (rc >= 0)
		return rc;
	/* A symlink is a record of its own, but getxattr follows it: why
	 * described its target under the link's name (version, basis and
	 * conflict: until 2026-12-07).  The kernel keeps user.* attributes
	 * off symlinks, so the link's basis cannot be asked for; its
	 * version is its history's (rc_link_version). */
	rc = rc_link_on_recfs(path);
	if (rc > 0) {
		rc = rc_link_version(path, &v, NULL);
		if (rc < 0)
			return rc_report(cmd, path, rc, NULL);
		printf("%s: a symlink, version %" PRIu64 "\n", path, v);
		printf("basis and last conflict: not readable for a symlink "
		       "(Linux keeps user.* attributes off them); reading "
		       "it (readlink, ls -l) gives a basis\n");
		return EXIT_OK;
	}
	if (rc < 0)
		return rc_report(cmd, path, rc, NULL);
	rc = rc_version(path, &v);
	if (rc < 0 && rc != -ENODATA)
		return rc_report(cmd, path, rc, NULL);
	has_v = rc == 0;
	if (!has_v && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		printf("%s: a directory: it has no version, and changing it "
		       "needs no basis\n", path);
		return EXIT_OK;
	}
	/* Both are answered for the caller's nearest holder: recctl holds
	 * nothing of its own here, so that is the shell that runs it. */
	rc = rc_getxattr_str(path, "user.expected_version", basis_s,
			     sizeof(basis_s));
	has_basis = rc == 0 && rc_parse_u64(basis_s, &basis) == 0;
	if (rc < 0 && rc != -ENODATA)
		return rc_report(cmd, path, rc, "user.expected_version");
	rc = rc_getxattr_str(path, "user.conflict", conflict,
			     sizeof(conflict));
	has_conflict = rc == 0 && conflict[0];
	if (rc < 0 && rc != -ENODATA)
		return rc_report(cmd, path, rc, "user.conflict");

	if (has_v)
		printf("%s: version %" PRIu64 "\n", path, v);
	else
		printf("%s: no version yet (being created)\n", path);
	if (has_basis && has_v && basis == v)
		printf("basis: %" PRIu64 " (current: your next change would "
		       "be accepted)\n", basis);
	else if (has_basis && has_v && basis < v)
		printf("basis: %" PRIu64 " (stale: your next change would be "
		       "refused with EAGAIN; read it again or declare a "
		       "basis)\n", basis);
	else if (has_basis)
		printf("basis: %" PRIu64 "\n", basis);
	else if (has_conflict)
		printf("basis: none usable (your last change was refused, "
		       "see below; read it again or declare a basis)\n");
	else
		/* An expired declaration reads as none (ENODATA), yet the
		 * next change still takes it and gets EAGAIN: this said
		 * EPERM for it (until 2026-12-07). */
		printf("basis: none (a change would be refused: with EPERM, "
		       "or EAGAIN if a declaration of yours expired; read it "
		       "first or declare a basis)\n");
	if (has_conflict)
		printf("last conflict: %s\n", conflict);
	else
		printf("last conflict: none\n");
	return EXIT_OK;
}

/* ---- ls --------------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_ls(const struct recctl_cmd *cmd, int argc, char **argv)
{
	char **names = NULL, **col = NULL, *p = NULL;
	size_t count = 0, cap = 0, width = 1;
	const char *dir = ".";
	struct dirent *e;
	DIR *d = NULL;
	int n, rc, err = 0;

	rc = rc_parse(cmd, argc, argv, NULL, &dir, 1, &n, NULL);
	if (rc >= 0)
		return rc;
	if (n == 0)
		dir = ".";
	if (rc_on_recfs(dir) == 0) {
		err = RC_NOT_RECFS;
		goto out;
	}
	d = opendir(dir);
	if (!d) {
		err = -errno;
		goto out;
	}
	while ((e = readdir(d))) {
		/* (The root does not list its .recfs tree: one met here is
		 * a user's entry, shown; until 2026-12-07 it was hidden.) */
		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		if (count == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) *
						   sizeof(*names));
			if (!nn) {
				err = -ENOMEM;
				goto out;
			}
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		if (!(names[count] = strdup(e->d_name))) {
			err = -ENOMEM;
			goto out;
		}
		count++;
	}
	if (count)
		qsort(names, count, sizeof(*names), cmp_names);
	col = calloc(count ? count : 1, sizeof(*col));
	if (!col) {
		err = -ENOMEM;
		goto out;
	}
	/* Versions first, then print, so the column lines up. */
	for (size_t i = 0; i < count; i++) {
		struct stat sb;
		char v[32], *nn = NULL;
		ssize_t vn;
		int is_dir, denied;

		free(p);
		if (asprintf(&p, "%s/%s", dir, names[i]) < 0) {
			p = NULL;
			err = -ENOMEM;
			goto out;
		}
		is_dir = lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
		vn = is_dir ? -1
			    : lgetxattr(p, "user.version", v, sizeof(v) - 1);
		/* A record the caller may not read hides its version:
		 * '?', not the '-' of one still being created. */
		denied = vn < 0 && !is_dir && errno == EACCES;
		if (vn < 0 && !is_dir && S_ISLNK(sb.st_mode)) {
			uint64_t lv;

			if (rc_link_version(p, &lv, NULL) == 0)
				vn = snprintf(v, sizeof(v), "%" PRIu64, lv);
		}
		if (vn <= 0)
			strcpy(v, denied ? "?" : "-");
		else
			v[vn] = '\0';
		v[strcspn(v, "\n")] = '\0';
		if (!(col[i] = strdup(v)) ||
		    (is_dir && asprintf(&nn, "%s/", names[i]) < 0)) {
			err = -ENOMEM;
			goto out;
		}
		if (nn) {
			free(names[i]);
			names[i] = nn;
		}
		if (strlen(v) > width)
			width = strlen(v);
	}
	for (size_t i = 0; i < count; i++)
		printf("%*s %s\n", (int)width, col[i], names[i]);
out:
	if (err)
		rc = rc_report(cmd, dir, err, NULL);
	else
		rc = EXIT_OK;
	for (size_t i = 0; i < count; i++) {
		free(names[i]);
		if (col)
			free(col[i]);
	}
	free(names);
	free(col);
	free(p);
	if (d)
		closedir(d);
	return rc;
}

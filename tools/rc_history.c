/* rc_history.c - log, show and diff of kept versions, read from the
 * daemon's ROOT/.recfs/history tree, and compact through the daemon. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "recctl.h"

#define FUSE_SUPER_MAGIC 0x65735546

static int report_locate(const struct recctl_cmd *cmd, const char *path,
			 int rc)
{
	if (rc == -ENOTSUP) {
		fprintf(stderr, "%s: %s: %s: not inside a recfs mount with a "
			"history (no .recfs at its root)\n", prog, cmd->name,
			path);
		return EXIT_ERR;
	}
	return rc_report(cmd, path, rc, NULL);
}

/* The current content of the record at @path and its version, read
 * consistently.  A symlink in a mount is a record of its own whose
 * content is its target: its newest kept version, read from the history
 * (a version file never changes), not the record it points to (which
 * rc_read_record would open).  @return 0 or a negative errno. */
static int read_current(const char *path, uint64_t *v, char **buf,
			size_t *len)
{
	char *file = NULL;
	int rc;

	if (rc_link_on_recfs(path) <= 0)
		return rc_read_record(path, v, buf, len);
	rc = rc_link_version(path, v, NULL);
	if (rc == 0)
		rc = rc_history_path(path, *v, &file);
	if (rc == 0)
		rc = rc_read_file(file, buf, len);
	free(file);
	return rc;
}

/* Why @path has no kept version: a record still being created (it is
 * there, with no commit yet) has none yet; it was "never a record here"
 * until 2026-12-07. */
static const char *why_none(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 ? "no version yet (a record still being "
				       "created)"
				     : "no history (never a record here)";
}

int cmd_log(const struct recctl_cmd *cmd, int argc, char **argv)
{
	char *hdir = NULL, *f = NULL;
	uint64_t *vs = NULL;
	size_t count = 0;
	const char *path;
	struct stat sb;
	int rc, w;

	rc = rc_parse_one(cmd, argc, argv, NULL, &path, "PATH");
	if (rc >= 0)
		return rc;
	rc = rc_history_path(path, 0, &hdir);
	if (rc < 0)
		return report_locate(cmd, path, rc);
	/* A directory's history tree holds its records' trees, not
	 * versions of its own: said plainly, not listed as versions.  A
	 * symlink to one is a record (not followed). */
	if (rc_link_on_recfs(path) <= 0 && stat(path, &sb) == 0 &&
	    S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "%s: log: %s: is a directory; log lists the "
			"versions of a record\n", prog, path);
		rc = EXIT_ERR;
		goto out;
	}
	rc = rc_list_versions(hdir, &vs, &count);
	/* None kept (a directory that is gone): as if never a record. */
	if (rc == 0 && count == 0)
		rc = -ENOENT;
	if (rc == -ENOENT) {
		fprintf(stderr, "%s: log: %s: %s\n", prog, path,
			why_none(path));
		rc = EXIT_ERR;
		goto out;
	}
	if (rc < 0) {
		rc = rc_report(cmd, path, rc, NULL);
		goto out;
	}
	w = count ? snprintf(NULL, 0, "%" PRIu64, vs[0]) : 1;
	for (size_t i = 0; i < count; i++) {
		char t[40], hash[40] = "-";

		free(f);
		if (asprintf(&f, "%s/%" PRIu64, hdir, vs[i]) < 0) {
			f = NULL;
			rc = rc_report(cmd, path, -ENOMEM, NULL);
			goto out;
		}
		/* Compaction may drop a version between readdir and here.
		 * Any other failure is said: a history path past PATH_MAX
		 * (a deep record) listed nothing, exit 0, until
		 * 2026-12-07. */
		if (stat(f, &sb) < 0) {
			if (errno == ENOENT)
				continue;
			rc = rc_report(cmd, path, -errno, NULL);
			goto out;
		}
		rc_getxattr_str(f, "user.hash", hash, sizeof(hash));
		rc_fmt_time(sb.st_mtime, t, sizeof(t));
		printf("%*" PRIu64 " %s %10lld %s\n", w, vs[i], t,
		       (long long)sb.st_size, hash);
	}
	rc = EXIT_OK;
out:
	free(vs);
	free(hdir);
	free(f);
	return rc;
}

/* Version N's file, or a clear message naming what is kept. */
static int open_version(const struct recctl_cmd *cmd, const char *path,
			uint64_t v, char **file)
{
	char *hdir = NULL;
	uint64_t *vs = NULL;
	size_t count = 0;
	struct stat sb;
	int rc;

	rc = rc_history_path(path, v, file);
	if (rc < 0)
		return report_locate(cmd, path, rc);
	/* A directory's history tree holds its records' trees: N there is
	 * a record named N, which diff compared as a tree and showed as
	 * the directory's version.  Refused, as log refuses it. */
	if (rc_link_on_recfs(path) <= 0 && stat(path, &sb) == 0 &&
	    S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "%s: %s: %s: is a directory; it has no "
			"versions\n", prog, cmd->name, path);
		free(*file);
		*file = NULL;
		return EXIT_ERR;
	}
	if (stat(*file, &sb) == 0)
		return 0;
	rc = -errno;
	free(*file);
	*file = NULL;
	if (rc != -ENOENT)
		return rc_report(cmd, path, rc, NULL);
	if (rc_history_path(path, 0, &hdir) == 0 &&
	    rc_list_versions(hdir, &vs, &count) == 0 && count > 0) {
		/* With gaps (a delete or a rename away is a version with
		 * no content), "kept: 1 to 4" said version 3 was among
		 * them (until 2026-12-07): then each is named, oldest
		 * first, up to 16. */
		int gaps = vs[0] - vs[count - 1] + 1 != count;

		fprintf(stderr, "%s: %s: %s: version %" PRIu64 " is not kept "
			"(kept: ", prog, cmd->name, path, v);
		if (!gaps)
			fprintf(stderr, "%" PRIu64 " to %" PRIu64,
				vs[count - 1], vs[0]);
		for (size_t i = 0; gaps && i < count && i < 16; i++)
			fprintf(stderr, "%s%" PRIu64, i ? ", " : "",
				vs[count - 1 - i]);
		fprintf(stderr, "%s)\n", gaps && count > 16 ? ", ..." : "");
	} else {
		fprintf(stderr, "%s: %s: %s: version %" PRIu64 " is not kept: "
			"%s\n", prog, cmd->name, path, v, why_none(path));
	}
	free(hdir);
	free(vs);
	return EXIT_ERR;
}

int cmd_show(const struct recctl_cmd *cmd, int argc, char **argv)
{
	char *path = NULL, *file = NULL, *buf = NULL;
	const char *arg;
	size_t len = 0;
	uint64_t v, cur;
	int rc;

	rc = rc_parse_one(cmd, argc, argv, NULL, &arg, "PATH@N");
	if (rc >= 0)
		return rc;
	if (rc_split_at(arg, &path, &v) < 0)
		return usage_error(cmd, "bad version in '%s'", arg);
	if (v == 0) {
		rc = read_current(path, &cur, &buf, &len);
	} else {
		rc = open_version(cmd, path, v, &file);
		if (rc != 0)
			goto out;
		rc = rc_read_file(file, &buf, &len);
	}
	if (rc < 0) {
		rc = rc_report(cmd, path, rc, NULL);
		goto out;
	}
	fwrite(buf, 1, len, stdout);
	rc = EXIT_OK;
out:
	free(path);
	free(file);
	free(buf);
	return rc;
}

/* Was @path ever a record: does it have a history?  One we may not
 * list (another user's) counts as one; a path outside any mount does
 * not.  @return 1 or 0. */
static int had_versions(const char *path)
{
	char *hdir = NULL;
	uint64_t *vs = NULL;
	size_t count = 0;
	int rc = rc_history_path(path, 0, &hdir);

	if (rc == 0)
		rc = rc_list_versions(hdir, &vs, &count);
	free(hdir);
	free(vs);
	return rc == 0 ? count > 0 : rc != -ENOENT && rc != -ENOTSUP;
}

/* One side of a diff as a file diff(1) can read, and its label. */
static int diff_side(const struct recctl_cmd *cmd, const char *arg,
		     const char *tmp, const char *name, char **file,
		     char **label)
{
	char *path = NULL, *buf = NULL;
	size_t len = 0;
	uint64_t v, cur;
	int rc;

	if (rc_split_at(arg, &path, &v) < 0)
		return usage_error(cmd, "bad version in '%s'", arg);
	if (v) {
		rc = open_version(cmd, path, v, file);
		if (rc == 0 && asprintf(label, "%s@%" PRIu64, path, v) < 0)
			rc = rc_report(cmd, path, -ENOMEM, NULL);
		goto out;
	}
	/* The current content, read together with its version so that
	 * the label is true. */
	rc = read_current(path, &cur, &buf, &len);
	/* A name that never was a record (a typo) is no deleted one:
	 * until 2026-12-07 diff showed the other side removed, exit 0. */
	if (rc == -ENOENT && !had_versions(path)) {
		fprintf(stderr, "%s: diff: %s: no such record, and no history "
			"(never a record here)\n", prog, path);
		rc = EXIT_ERR;
	} else if (rc == -ENOENT) {
		*file = strdup("/dev/null");
		rc = asprintf(label, "%s (deleted)", path) < 0 ? -ENOMEM : 0;
	} else if (rc == 0) {
		rc = asprintf(file, "%s/%s", tmp, name) < 0 ? -ENOMEM : 0;
		if (rc == 0)
			rc = rc_write_file(*file, buf, len);
		if (rc == 0 && asprintf(label, "%s@%" PRIu64 " (current)", path,
					cur) < 0)
			rc = -ENOMEM;
	}
	if (rc < 0)
		rc = rc_report(cmd, path, rc, NULL);
out:
	free(path);
	free(buf);
	return rc;
}

int cmd_diff(const struct recctl_cmd *cmd, int argc, char **argv)
{
	char *tmp = NULL, *f[2] = { NULL, NULL }, *l[2] = { NULL, NULL };
	char *path = NULL, *cur = NULL;
	const char *ops[2];
	uint64_t v;
	int n, rc;

	rc = rc_parse(cmd, argc, argv, NULL, ops, 2, &n, NULL);
	if (rc >= 0)
		return rc;
	if (n == 0)
		return usage_error(cmd, "%s", "missing PATH@N");
	if (rc_split_at(ops[0], &path, &v) < 0 || v == 0) {
		free(path);
		return usage_error(cmd, "'%s' names no version (PATH@N)",
				   ops[0]);
	}
	if (n == 1)
		cur = path; /* the same record, now */
	rc = rc_tmpdir(&tmp);
	if (rc < 0) {
		rc = rc_report(cmd, "temporary directory", rc, NULL);
		goto out;
	}
	rc = diff_side(cmd, ops[0], tmp, "a", &f[0], &l[0]);
	if (rc == 0)
		rc = diff_side(cmd, n == 2 ? ops[1] : cur, tmp, "b", &f[1],
			       &l[1]);
	if (rc == 0) {
		char *dargv[] = { "diff", "-u", "--label", l[0], "--label",
				  l[1], f[0], f[1], NULL };
		int st;

		fflush(stdout);
		st = rc_run_tty(dargv);
		if (st < 0 || st > 1) {
			fprintf(stderr, "%s: diff: running diff failed (%s)\n",
				prog, st < 0 ? strerror(-st) : "status > 1");
			rc = EXIT_ERR;
		}
	}
out:
	if (tmp)
		rc_rm_tmpdir(tmp);
	free(tmp);
	free(path);
	for (int i = 0; i < 2; i++) {
		free(f[i]);
		free(l[i]);
	}
	return rc;
}

/* ---- compact through the daemon ---------------------------------------- */

int rc_compact_online(const struct recctl_cmd *cmd, const char *dir,
		      int *handled)
{
	char *root = NULL, *key = NULL;
	struct statfs sf;
	int rc;

	*handled = 0;
	/* Never let the offline path open a store inside a mount: it would
	 * create one there. */
	if (statfs(dir, &sf) < 0 || sf.f_type != FUSE_SUPER_MAGIC)
		return 0;
	*handled = 1;
	rc = rc_locate(dir, &root, &key);
	if (rc < 0) {
		rc = report_locate(cmd, dir, rc);
		goto out;
	}
	if (setxattr(root, "user.recfs.compact", "1", 1, 0) < 0) {
		int err = errno;

		/* The ask is an attribute of the root, which Linux lets set
		 * only who may write it (a sticky one: its owner); until
		 * 2026-12-07 rc_report explained the refusal as a change
		 * with "no basis". */
		if (err == EPERM || err == EACCES) {
			fprintf(stderr, "%s: compact: %s: %s: asking the "
				"daemon needs write permission on the mount "
				"root (on a sticky one, to own it)\n", prog,
				root, strerror(err));
			rc = EXIT_ERR;
		} else {
			rc = rc_report(cmd, root, -err, "asking the daemon");
		}
		goto out;
	}
	printf("compacted: %s\n", root);
	rc = EXIT_OK;
out:
	free(root);
	free(key);
	return rc;
}

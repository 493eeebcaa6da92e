/* rc_locate.c - from a PATH to its mount root, key and history.
 *
 * The daemon serves a read-only tree at ROOT/.recfs/history/KEY/N for
 * every kept version N of the record KEY (its path below the mount
 * root).  A deleted record's history is still there by name, so PATH
 * may no longer exist: it is resolved through its deepest existing
 * ancestor. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "recctl.h"

static int is_dir(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Is @dir (absolute, resolved) the root of a mount: its parent on
 * another device?  Only there is .recfs the daemon's tree; below the
 * root it is a name like any other, and a user's directory of that name
 * made its parent pass for the root: log, show and diff read the user's
 * files there as versions (until 2026-12-07). */
static int is_mount_root(const char *dir)
{
	struct stat a, b;
	char *parent;
	int rc;

	if (strcmp(dir, "/") == 0)
		return 1;
	if (asprintf(&parent, "%s/..", dir) < 0)
		return 0;
	rc = stat(dir, &a) == 0 && stat(parent, &b) == 0 &&
	     a.st_dev != b.st_dev;
	free(parent);
	return rc;
}

/* An absolute path with every existing part resolved (symlinks, "."),
 * and the missing tail appended as given; a symlink at the end stays
 * as it is. */
static int resolve(const char *path, char **out, int *exists)
{
	char *abs = NULL, *real = NULL, *cut;
	size_t alen;
	int rc = 0;

	if (path[0] == '/') {
		abs = strdup(path);
	} else {
		char cwd[PATH_MAX];

		/* A working directory deeper than PATH_MAX has no
		 * absolute path to resolve: say that, not ERANGE
		 * ("Numerical result out of range"). */
		if (!getcwd(cwd, sizeof(cwd)))
			return errno == ERANGE ? -ENAMETOOLONG : -errno;
		if (asprintf(&abs, "%s/%s", cwd, path) < 0)
			abs = NULL;
	}
	if (!abs)
		return -ENOMEM;
	alen = strlen(abs);
	while (alen > 1 && abs[alen - 1] == '/')
		abs[--alen] = '\0';
	*exists = 1;
	cut = abs + alen;
	/* A symlink at the end is a record of its own: its key is its
	 * name, not its target's (only its directory is resolved).  Only
	 * one in a recfs mount: one elsewhere is followed, as before. */
	{
		char *last = strrchr(abs, '/');

		if (last && strcmp(last, "/.") != 0 &&
		    strcmp(last, "/..") != 0 && rc_link_on_recfs(abs) > 0)
			cut = last;
	}
	/* Cut components off the end until the rest exists. */
	for (;;) {
		char saved = *cut;

		*cut = '\0';
		real = realpath(cut == abs ? "/" : abs, NULL);
		*cut = saved;
		if (real)
			break;
		if (errno != ENOENT) {
			rc = -errno;
			goto out;
		}
		*exists = 0;
		while (cut > abs && *--cut != '/')
			;
		if (strncmp(cut, "/../", 4) == 0 || strcmp(cut, "/..") == 0) {
			/* ".." past a missing name: what open(2) says
			 * (until 2026-12-07 "Invalid argument") */
			rc = -ENOENT;
			goto out;
		}
	}
	if (!*cut) {
		*out = real;
		real = NULL;
	} else if (asprintf(out, "%s%s", strcmp(real, "/") ? real : "",
			    cut) < 0) {
		rc = -ENOMEM;
	}
out:
	free(abs);
	free(real);
	return rc;
}

int rc_locate(const char *path, char **root_out, char **key_out)
{
	char *full = NULL, *dir = NULL, *probe = NULL, *slash;
	int exists, rc;
	size_t rlen;

	rc = resolve(path, &full, &exists);
	if (rc < 0)
		return rc;
	dir = strdup(full);
	if (!dir) {
		rc = -ENOMEM;
		goto out;
	}
	/* Walk up from the deepest existing directory until one holds the
	 * daemon's .recfs tree. */
	for (;;) {
		if (is_dir(dir)) {
			free(probe);
			if (asprintf(&probe, "%s/.recfs",
				     strcmp(dir, "/") ? dir : "") < 0) {
				probe = NULL;
				rc = -ENOMEM;
				goto out;
			}
			if (is_dir(probe) && is_mount_root(dir))
				break;
		}
		if (strcmp(dir, "/") == 0) {
			rc = -ENOTSUP; /* not inside a recfs mount */
			goto out;
		}
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	rlen = strlen(dir);
	if (strcmp(dir, "/") == 0)
		rlen = 0;
	*key_out = strdup(full[rlen] == '/' ? full + rlen + 1 : full + rlen);
	if (!*key_out) {
		rc = -ENOMEM;
		goto out;
	}
	*root_out = dir;
	dir = NULL;
out:
	free(full);
	free(dir);
	free(probe);
	return rc;
}

#define FUSE_SUPER_MAGIC 0x65735546

/* Is the filesystem @path is on (or would be, when it does not exist)
 * a recfs mount without its .recfs root here: a bind mount of one of
 * its directories, as a container's volume is?  Its device's line in
 * /proc/self/mountinfo says fuse.recfs.  Until 2026-12-07 every command
 * there said "not in a recfs mount".  @return 1 or 0. */
static int recfs_below_root(const char *path)
{
	char *full = NULL, *slash, *line = NULL, dev[40];
	size_t cap = 0;
	struct stat sb;
	int exists, found = 0;
	FILE *f;

	if (resolve(path, &full, &exists) < 0)
		return 0;
	/* The directory it is in (or is): its own st_dev, not a
	 * symlink's target's. */
	if (lstat(full, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		do {
			slash = strrchr(full, '/');
			if (!slash)
				break;
			slash[slash == full] = '\0';
		} while (stat(full, &sb) < 0 && slash != full);
	}
	if (stat(full, &sb) < 0)
		goto out;
	/* (" MAJ:MIN " is its third field; paths there have no spaces) */
	snprintf(dev, sizeof(dev), " %u:%u ", major(sb.st_dev),
		 minor(sb.st_dev));
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		goto out;
	while (!found && getline(&line, &cap, f) > 0) {
		const char *sep = strstr(line, " - "), *d = strstr(line, dev);

		found = sep && d && d < sep &&
			strncmp(sep + 3, "fuse.recfs", 10) == 0;
	}
	fclose(f);
out:
	free(line);
	free(full);
	return found;
}

int rc_on_recfs(const char *path)
{
	char *root = NULL, *key = NULL;
	struct statfs sf;
	int rc = rc_locate(path, &root, &key);

	if (rc == -ENOTSUP)
		return recfs_below_root(path);
	if (rc < 0)
		return rc;
	/* A .recfs directory anywhere else (a copy of a mount's tree,
	 * say) is not a mount. */
	rc = statfs(root, &sf) == 0 && sf.f_type == FUSE_SUPER_MAGIC;
	free(root);
	free(key);
	return rc;
}

int rc_link_on_recfs(const char *path)
{
	struct stat sb;
	char *dir, *slash;
	int rc;

	if (lstat(path, &sb) < 0 || !S_ISLNK(sb.st_mode))
		return 0;
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, "."); /* (path has a name: room for ".") */
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	/* (a directory that is itself a symlink is judged the same way,
	 * on a shorter path: this ends) */
	rc = rc_on_recfs(dir);
	free(dir);
	return rc;
}

int rc_history_path(const char *path, uint64_t version, char **out)
{
	char *root = NULL, *key = NULL;
	int rc = rc_locate(path, &root, &key), n;

	if (rc < 0)
		return rc;
	if (!key[0]) {
		rc = -EISDIR;
		goto out;
	}
	if (version)
		n = asprintf(out, "%s/.recfs/history/%s/%" PRIu64, root, key,
			     version);
	else
		n = asprintf(out, "%s/.recfs/history/%s", root, key);
	if (n < 0)
		rc = -ENOMEM;
out:
	free(root);
	free(key);
	return rc;
}

int rc_link_version(const char *path, uint64_t *v, char *hash)
{
	char *hdir = NULL, *f = NULL;
	uint64_t *vs = NULL;
	size_t n = 0;
	int rc = rc_history_path(path, 0, &hdir);

	if (rc == 0)
		rc = rc_list_versions(hdir, &vs, &n);
	if (rc == 0 && n == 0)
		rc = -ENOENT;
	if (rc == 0)
		*v = vs[0];
	if (rc == 0 && hash) {
		if (asprintf(&f, "%s/%" PRIu64, hdir, vs[0]) < 0) {
			f = NULL;
			rc = -ENOMEM;
		} else {
			rc = rc_getxattr_str(f, "user.hash", hash, 33);
		}
	}
	free(f);
	free(vs);
	free(hdir);
	return rc;
}

int rc_split_at(const char *arg, char **path, uint64_t *version)
{
	const char *at = strrchr(arg, '@');
	struct stat sb;

	*version = 0;
	if (at && at > arg && rc_parse_u64(at + 1, version) == 0) {
		if (*version == 0)
			return -EINVAL; /* 0 is never a version */
		*path = strndup(arg, (size_t)(at - arg));
	} else if (at && at > arg && !strchr(at, '/') &&
		   lstat(arg, &sb) < 0 && errno == ENOENT) {
		/* "rec@-1", "rec@x", "rec@" or past 2^63-1 and no file of
		 * that name: a bad version, not the "No such file or
		 * directory" of a name (until 2026-12-07; and diff showed
		 * the record against "rec@x (deleted)", exit 0). */
		return -EINVAL;
	} else {
		*path = strdup(arg);
	}
	return *path ? 0 : -ENOMEM;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

int rc_list_versions(const char *hdir, uint64_t **out, size_t *count)
{
	uint64_t *vs = NULL, *nv, v;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d = opendir(hdir);
	int rc = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		struct stat sb;

		if (rc_parse_u64(e->d_name, &v) < 0 || v == 0)
			continue;
		/* The history of a directory KEY holds its records' history
		 * directories, and a record may be named "12": only files are
		 * versions. */
		if (e->d_type == DT_DIR ||
		    (e->d_type == DT_UNKNOWN &&
		     fstatat(dirfd(d), e->d_name, &sb, 0) == 0 &&
		     S_ISDIR(sb.st_mode)))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(vs, cap * sizeof(*vs));
			if (!nv) {
				rc = -ENOMEM;
				goto out;
			}
			vs = nv;
		}
		vs[n++] = v;
	}
	if (n)
		qsort(vs, n, sizeof(*vs), cmp_desc);
	*out = vs;
	*count = n;
	vs = NULL;
out:
	free(vs);
	closedir(d);
	return rc;
}

/* rc_util.c - reading and changing one record through a recfs mount.
 *
 * The daemon's rules shape everything here (README.md, SPEC.md):
 * - getxattr carries no file handle, so a version is tied to content by
 *   reading the version, opening, and reading the version again;
 * - a change needs a basis, and after a refusal the refused process's
 *   own re-reads give it none for 2 s, so every change is declared
 *   explicitly with user.expected_version just before it is made;
 * - the commit happens at close(), and errors are reported there. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "recctl.h"

/* How long a record may stay busy (another handle's uncommitted change)
 * before we give up: the daemon's own appends wait 3 s. */
#define BUSY_WAIT_MS 3000
/* How long a record still being created may lack a version. */
#define PENDING_WAIT_MS 1000

int rc_getxattr_str(const char *path, const char *name, char *buf,
		    size_t size)
{
	ssize_t n = getxattr(path, name, buf, size - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

int rc_version(const char *path, uint64_t *v)
{
	char buf[32], *real;
	int rc = rc_getxattr_str(path, "user.version", buf, sizeof(buf));

	/* No version: a record being created, or no recfs at all.  A
	 * missing path (ENOENT) is not located here: watch and wait poll
	 * one, and a walk up the tree on every poll is wasted; they check
	 * where the path is once, at their start.  Where getxattr looked:
	 * a symlink of the mount that points out of it was followed there
	 * (until 2026-12-07 that file was "a record still being created",
	 * waited for). */
	if (rc == -ENODATA || rc == -ENOTSUP) {
		real = realpath(path, NULL);
		if (rc_on_recfs(real ? real : path) == 0)
			rc = RC_NOT_RECFS;
		free(real);
	}
	if (rc < 0)
		return rc;
	return rc_parse_u64(buf, v) < 0 ? -EPROTO : 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rc_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* 0.5 .. 1.5, different in every process, so that racing retries
 * spread out instead of colliding again in lockstep. */
static double jitter(void)
{
	static unsigned seed;

	if (!seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 16) ^ 1u;
	}
	return 0.5 + (double)rand_r(&seed) / ((double)RAND_MAX + 1.0);
}

void rc_backoff(unsigned try_no)
{
	double ms = 10.0 * (double)(1u << (try_no < 7 ? try_no : 7));

	ms *= jitter();
	rc_sleep_ms(ms > 1000.0 ? 1000 : (unsigned)ms);
}

int rc_open_consistent(const char *path, uint64_t *v, int *fd_out)
{
	int64_t deadline = now_ms() + PENDING_WAIT_MS;
	uint64_t v1, v2;
	int rc, fd = -1;

	for (unsigned i = 0;; i++) {
		if (i > 10000)
			return -EBUSY; /* commits never paused long enough */
		rc = rc_version(path, &v1);
		if (rc == -ENODATA) {
			struct stat sb;

			if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
				return -EISDIR;
			if (now_ms() > deadline)
				return -ENODATA;
			rc_sleep_ms(20);
			continue;
		}
		if (rc < 0)
			return rc;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		rc = rc_version(path, &v2);
		if (rc == 0 && v1 == v2)
			break;
		close(fd);
		fd = -1;
		if (rc < 0 && rc != -ENODATA && rc != -ENOENT)
			return rc;
		/* Versions only grow, so equal readings around the open
		 * mean the handle reads v1.  Under a stream of commits,
		 * yield a little before trying again. */
		if (i > 10)
			rc_sleep_ms(i > 100 ? 20 : 1);
	}
	*v = v1;
	*fd_out = fd;
	return 0;
}

int rc_read_fd(int fd, char **buf_out, size_t *len_out)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1), *nb;
	ssize_t n;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			nb = cap > SIZE_MAX / 2 - 1 ? NULL
						    : realloc(buf, cap * 2 + 1);
			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*buf_out = buf;
	*len_out = len;
	buf = NULL;
out:
	free(buf);
	return rc;
}

int rc_read_record(const char *path, uint64_t *v, char **buf, size_t *len)
{
	int fd, rc = rc_open_consistent(path, v, &fd);

	if (rc < 0)
		return rc;
	rc = rc_read_fd(fd, buf, len);
	close(fd);
	return rc;
}

int rc_read_file(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	rc = rc_read_fd(fd, buf, len);
	close(fd);
	return rc;
}

int rc_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int declare(const char *path, uint64_t basis)
{
	char val[24];
	int n = snprintf(val, sizeof(val), "%" PRIu64, basis);

	if (setxattr(path, "user.expected_version", val, (size_t)n, 0) < 0)
		return -errno;
	return 0;
}

/* Take back a declaration no change used (EBUSY consumes none): left,
 * it would be the calling shell's basis until expect_ttl, and its next
 * blind write would pass on a version it never read.  A used one is
 * gone already, and withdrawing it again does nothing. */
static void withdraw(const char *path)
{
	int e = errno;

	(void)removexattr(path, "user.expected_version");
	errno = e;
}

/* One attempt.  The close() result matters: that is where the daemon
 * commits and where it reports a late refusal. */
static int commit_once(const char *path, uint64_t basis, const void *buf,
		       size_t len)
{
	int fd, rc = 0;

	if (basis > 0) {
		rc = declare(path, basis);
		if (rc < 0)
			return rc;
		fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	} else {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	}
	if (fd < 0)
		return -errno;
	/* O_TRUNC of an empty record changes nothing, so an empty put
	 * over an empty record would make no version without this. */
	if (basis > 0 && len == 0 && ftruncate(fd, 0) < 0)
		rc = -errno;
	if (rc == 0)
		rc = rc_write_all(fd, buf, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Where a change of @path lands: a symlink record of the mount is
 * followed by setxattr and open, so one that points out of every mount
 * had a file there written blind, and given a user.expected_version.
 * (A dangling one fails at the declaration or the O_EXCL open.)
 * @return 1 in a recfs mount, 0 not, or -errno. */
static int target_on_recfs(const char *path)
{
	char *real;
	int rc = rc_link_on_recfs(path);

	if (rc <= 0)
		return rc < 0 ? rc : 1;
	real = realpath(path, NULL);
	if (!real)
		return errno == ENOENT ? 1 : -errno;
	rc = rc_on_recfs(real);
	free(real);
	return rc;
}

/* The version our commit of @path, based on @basis, made.  Not the
 * record's user.version read afterwards: another commit may come first,
 * and incr under contention printed another's version as its own (a
 * script's next --expect then had a basis it never read: until
 * 2026-12-07).  A change based on N passed with N current, and the
 * lease it took kept every other change out until its commit: N + 1.
 * A create's is the basis the daemon holds for us now, the version our
 * commit made; where it keeps none (-o noimplicit, an unchecked name),
 * the record's version is all there is.  @return 0 or -errno. */
static int made_version(const char *path, uint64_t basis, uint64_t *v)
{
	char buf[32];

	if (basis > 0) {
		*v = basis + 1;
		return 0;
	}
	if (rc_getxattr_str(path, "user.expected_version", buf,
			    sizeof(buf)) == 0 && rc_parse_u64(buf, v) == 0)
		return 0;
	return rc_version(path, v);
}

int rc_commit(const char *path, uint64_t basis, const void *buf, size_t len,
	      uint64_t *made)
{
	int64_t deadline = now_ms() + BUSY_WAIT_MS;
	unsigned ms = 10;
	int rc = rc_on_recfs(path);

	if (rc > 0)
		rc = target_on_recfs(path);
	if (rc <= 0)
		return rc < 0 ? rc : RC_NOT_RECFS;
	for (;;) {
		rc = commit_once(path, basis, buf, len);
		if (rc < 0 && (rc != -EBUSY || now_ms() > deadline))
			withdraw(path);
		if (rc == 0 && made && made_version(path, basis, made) < 0)
			*made = 0;
		if (rc != -EBUSY || now_ms() > deadline)
			return rc;
		/* EBUSY consumed nothing and changed nothing: declaring
		 * the same basis again and retrying is exact. */
		rc_sleep_ms((unsigned)(ms * jitter()));
		if (ms < 200)
			ms *= 2;
	}
}

/* The version of @path, a symlink's own when @link. */
static int version_of(const char *path, int link, uint64_t *v)
{
	return link ? rc_link_version(path, v, NULL) : rc_version(path, v);
}

/* Read @path as a reader would: a readlink of a symlink, an open for
 * reading of a record.  Either gives this process an implicit basis. */
static int look(const char *path, int link)
{
	char c;
	int fd;

	if (link)
		return readlink(path, &c, 1) < 0 ? -errno : 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* The basis for removing a record when no declaration can carry it: its
 * version read around a look at it (look()), which gives this process
 * the daemon's implicit basis, checked against @basis here and by the
 * daemon at the unlink.
 * - A symlink (@link): the kernel keeps user.* attributes off symlinks,
 *   so a declaration on the link lands on its target (and stays there
 *   for the shell), and the unlink then went through on whatever basis
 *   the shell held for the link: a stale --expect passed.
 * - A record we may not write (read-only, or another user's in a
 *   directory we may write): a declaration needs write permission on
 *   it (the kernel's rule for user.* attributes), an unlink only on its
 *   directory, so rm removed what recctl rm refused with "remove:
 *   Permission denied" (until 2026-12-07).
 * @return 0, -EAGAIN stale, or -errno. */
static int seen_basis(const char *path, uint64_t basis, int link)
{
	uint64_t v1, v2;
	int rc;

	for (int i = 0; i < 100; i++) {
		rc = version_of(path, link, &v1);
		if (rc == 0)
			rc = look(path, link);
		if (rc == 0)
			rc = version_of(path, link, &v2);
		if (rc < 0)
			return rc;
		/* (if not, the look's version is our basis, and the daemon
		 * refuses the unlink as stale: safe) */
		if (v1 == v2)
			return v1 == basis ? 0 : -EAGAIN;
	}
	return -EAGAIN;
}

int rc_remove(const char *path, uint64_t basis)
{
	int64_t deadline = now_ms() + BUSY_WAIT_MS;
	unsigned ms = 10;
	int rc = rc_on_recfs(path), link;

	if (rc <= 0)
		return rc < 0 ? rc : RC_NOT_RECFS;
	link = rc_link_on_recfs(path);
	if (link < 0)
		return link;
	for (;;) {
		rc = link ? seen_basis(path, basis, 1) : declare(path, basis);
		if (rc == -EACCES && !link)
			rc = seen_basis(path, basis, 0);
		if (rc == 0 && unlink(path) < 0)
			rc = -errno;
		if (!link && rc < 0 && (rc != -EBUSY || now_ms() > deadline))
			withdraw(path);
		if (rc != -EBUSY || now_ms() > deadline)
			return rc;
		rc_sleep_ms((unsigned)(ms * jitter()));
		if (ms < 200)
			ms *= 2;
	}
}

int rc_exit_for(int err)
{
	if (err == -EAGAIN || err == -EEXIST)
		return EXIT_STALE;
	if (err == -EBUSY)
		return EXIT_BUSY;
	return EXIT_ERR;
}

int rc_report(const struct recctl_cmd *cmd, const char *path, int err,
	      const char *doing)
{
	char line[512];

	if (err != RC_NOT_RECFS) /* its own line says it all */
		fprintf(stderr, "%s: %s: %s: %s%s%s\n", prog, cmd->name,
			path, doing ? doing : "", doing ? ": " : "",
			strerror(-err));
	switch (err) {
	case -EAGAIN:
		fprintf(stderr, "%s: %s: %s: refused as stale; nothing was "
			"changed\n", prog, cmd->name, path);
		if (rc_getxattr_str(path, "user.conflict", line,
				    sizeof(line)) == 0)
			fprintf(stderr, "%s: %s: %s: conflict: %s\n", prog,
				cmd->name, path, line);
		break;
	case -EEXIST:
		fprintf(stderr, "%s: %s: %s: it exists, and --expect 0 "
			"creates only; nothing was changed\n", prog,
			cmd->name, path);
		break;
	case -EBUSY:
		fprintf(stderr, "%s: %s: %s: another handle kept changing it "
			"for %d s; nothing was changed\n", prog, cmd->name,
			path, BUSY_WAIT_MS / 1000);
		if (rc_getxattr_str(path, "user.recfs.lease", line,
				    sizeof(line)) == 0)
			fprintf(stderr, "%s: %s: %s: lease: %s\n", prog,
				cmd->name, path, line);
		break;
	case -EPERM:
		fprintf(stderr, "%s: %s: %s: the daemon found no basis for "
			"this change (see its log)\n", prog, cmd->name, path);
		break;
	case -ENODATA:
		fprintf(stderr, "%s: %s: %s: no committed version (a "
			"directory, or a record still being created)\n", prog,
			cmd->name, path);
		break;
	case RC_NOT_RECFS:
		fprintf(stderr, "%s: %s: %s: not in a recfs mount, where no "
			"version is checked; nothing was done\n", prog,
			cmd->name, path);
		break;
	default:
		break;
	}
	return rc_exit_for(err);
}

void rc_fmt_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "@%lld", (long long)t);
}

/* rc_watch.c - watch and wait: follow a record's version.
 *
 * FUSE delivers no inotify events for changes the daemon makes, so both
 * poll user.version, every 20 ms while nothing happens.  After a change
 * watch polls again at once and slows down step by step, because a
 * burst of commits is likely to go on; versions committed between two
 * polls are filled in from the history tree, so watch prints every
 * version that is still kept when it looks. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "recctl.h"

#define POLL_MS 20
#define BURST_MS 1 /* the first poll after a change */

/* A directory has no version (ENODATA, as a record still being
 * created): watch and wait polled one silently for ever, or wait until
 * its --timeout (until 2026-12-07).  Refused, as by log. */
static int is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The directory @path is in, when it does not exist (else NULL; free
 * it).  A record there is waited for, as one a writer has not made yet
 * (it may make both), but a timeout says so: a typo in the directory
 * looked like a record not made yet (until 2026-12-07). */
static char *missing_dir(const char *path)
{
	struct stat sb;
	char *dir = strdup(path), *slash;

	if (!dir)
		return NULL;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (stat(dir, &sb) < 0 && errno == ENOENT)
			return dir;
	}
	free(dir);
	return NULL;
}

/* A symlink of the mount is a record of its own, whose version and
 * hash are its history's newest (rc_link_version): user.version follows
 * it, and watch and wait followed its target's versions under the
 * link's name (until 2026-12-07).  @hash (33 bytes) may be NULL.
 * @return 1 and the link's figures, 0 for no link, or -errno. */
static int link_version(const char *path, uint64_t *v, char *hash)
{
	int rc = rc_link_on_recfs(path);

	if (rc <= 0)
		return rc;
	rc = rc_link_version(path, v, hash);
	return rc < 0 ? rc : 1;
}

/* The version of @path: a symlink's own (link_version). */
static int own_version(const char *path, uint64_t *v)
{
	int rc = link_version(path, v, NULL);

	return rc == 0 ? rc_version(path, v) : rc < 0 ? rc : 0;
}

/* A version and the hash of that same version. */
static int version_and_hash(const char *path, uint64_t *v, char *hash,
			    size_t size)
{
	uint64_t v2;
	int rc = link_version(path, v, hash);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	for (int i = 0; i < 100; i++) {
		rc = rc_version(path, v);
		if (rc == 0)
			rc = rc_getxattr_str(path, "user.hash", hash, size);
		if (rc == 0)
			rc = rc_version(path, &v2);
		if (rc < 0 || v2 == *v)
			return rc;
	}
	return -EBUSY;
}

/* The newest version the history keeps (0 if none): where a record
 * that does not exist now left its line, so that its old versions are
 * not reported as new when it comes back. */
static uint64_t history_top(const char *path)
{
	uint64_t top = 0, *vs = NULL;
	char *hdir = NULL;
	size_t count = 0;

	if (rc_history_path(path, 0, &hdir) == 0 &&
	    rc_list_versions(hdir, &vs, &count) == 0 && count > 0)
		top = vs[0];
	free(hdir);
	free(vs);
	return top;
}

struct watcher {
	const char *path;
	char *hdir; /* ROOT/.recfs/history/KEY, or NULL */
	uint64_t last, count, printed;
	int gone; /* "deleted" printed for the current absence */
};

/* Print one line; @return 1 when --count is reached. */
static int emit(struct watcher *w, const char *fmt, uint64_t v,
		const char *what)
{
	if (fmt)
		printf(fmt, v, what);
	else
		printf("- %s\n", what);
	fflush(stdout);
	w->printed++;
	return w->count && w->printed >= w->count;
}

/* Versions above w->last and below @v that the history still holds. */
static int fill_gap(struct watcher *w, uint64_t v)
{
	char hash[40], *file = NULL;
	int done = 0;

	if (!w->hdir)
		return 0;
	for (uint64_t i = w->last + 1; i < v && !done; i++) {
		/* Only the last few can be kept; skip the rest quickly. */
		if (v - i > 4096)
			i = v - 4096;
		free(file);
		if (asprintf(&file, "%s/%" PRIu64, w->hdir, i) < 0) {
			file = NULL;
			break;
		}
		if (rc_getxattr_str(file, "user.hash", hash, sizeof(hash)) == 0)
			done = emit(w, "%" PRIu64 " %s\n", i, hash);
	}
	free(file);
	return done;
}

int cmd_watch(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct rc_opt opts[] = { { "--from", 0, 1, 0, NULL },
				 { "--count", 'c', 1, 0, NULL }, { 0 } };
	struct watcher w = { 0 };
	unsigned ms = POLL_MS;
	char hash[40];
	uint64_t v;
	int n, rc;

	rc = rc_parse(cmd, argc, argv, opts, &w.path, 1, &n, NULL);
	if (rc >= 0)
		return rc;
	if (n != 1)
		return usage_error(cmd, "%s", "missing PATH");
	if (opts[0].set && rc_parse_u64(opts[0].val, &w.last) < 0)
		return usage_error(cmd, "bad --from '%s'", opts[0].val);
	if (opts[1].set && (rc_parse_u64(opts[1].val, &w.count) < 0 ||
			    w.count == 0))
		return usage_error(cmd, "bad --count '%s'", opts[1].val);
	/* Polls see a missing record as ENOENT, which inside a mount means
	 * "not yet" or "deleted"; outside one it would never change, so
	 * that is told once, here, not polled for ever. */
	rc = rc_on_recfs(w.path);
	if (rc <= 0)
		return rc_report(cmd, w.path, rc < 0 ? rc : RC_NOT_RECFS, NULL);
	if (is_dir(w.path))
		return rc_report(cmd, w.path, -EISDIR, NULL);
	/* Resolved once: polls must be cheap, and the record may go away
	 * (its history stays reachable by the same name). */
	if (rc_history_path(w.path, 0, &w.hdir) < 0)
		w.hdir = NULL;
	if (!opts[0].set) {
		rc = own_version(w.path, &w.last);
		if (rc == -ENOENT || rc == -ENODATA)
			w.last = history_top(w.path);
		else if (rc < 0)
			goto out;
	} else if (own_version(w.path, &v) == -ENOENT &&
		   history_top(w.path) < w.last) {
		/* Missing, and its line ended at or below N: nothing was
		 * deleted since N (a name never made printed "- deleted"
		 * at once, until 2026-12-07).  The delete is a version of
		 * its own, above the history's newest, which is absent
		 * from it: a newest of N was deleted after N. */
		w.gone = 1;
	}
	for (;;) {
		rc = version_and_hash(w.path, &v, hash, sizeof(hash));
		if (rc == -ENOENT) {
			if (!w.gone && w.last && emit(&w, NULL, 0, "deleted"))
				break;
			if (!w.gone)
				ms = BURST_MS;
			w.gone = 1;
		} else if (rc == 0 && v > w.last) {
			w.gone = 0;
			if (fill_gap(&w, v) ||
			    emit(&w, "%" PRIu64 " %s\n", v, hash))
				break;
			w.last = v;
			ms = BURST_MS;
		} else if (rc < 0 && rc != -ENODATA && rc != -EBUSY) {
			goto out;
		}
		rc_sleep_ms(ms);
		ms = ms * 2 > POLL_MS ? POLL_MS : ms * 2;
	}
	rc = 0;
out:
	free(w.hdir);
	return rc < 0 ? rc_report(cmd, w.path, rc, NULL) : EXIT_OK;
}

int cmd_wait(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct rc_opt opts[] = { { "--above", 'a', 1, 0, NULL },
				 { "--timeout", 't', 1, 0, NULL }, { 0 } };
	struct timespec start, now;
	double timeout = -1, elapsed;
	const char *path;
	uint64_t above, v = 0;
	char *end;
	int rc;

	rc = rc_parse_one(cmd, argc, argv, opts, &path, "PATH");
	if (rc >= 0)
		return rc;
	if (!opts[0].set)
		return usage_error(cmd, "%s", "missing --above N");
	if (rc_parse_u64(opts[0].val, &above) < 0)
		return usage_error(cmd, "bad version '%s'", opts[0].val);
	if (opts[1].set) {
		errno = 0;
		timeout = strtod(opts[1].val, &end);
		if (errno || end == opts[1].val || *end || !(timeout >= 0))
			return usage_error(cmd, "bad --timeout '%s'",
					   opts[1].val);
	}
	/* A record that does not exist yet is waited for, but only inside
	 * a mount: outside one nothing would ever give it a version. */
	rc = rc_on_recfs(path);
	if (rc <= 0)
		return rc_report(cmd, path, rc < 0 ? rc : RC_NOT_RECFS, NULL);
	if (is_dir(path))
		return rc_report(cmd, path, -EISDIR, NULL);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		rc = own_version(path, &v);
		if (rc == 0 && v > above) {
			printf("%" PRIu64 "\n", v);
			return EXIT_OK;
		}
		/* Absent or still being created: it may yet get there. */
		if (rc < 0 && rc != -ENOENT && rc != -ENODATA)
			return rc_report(cmd, path, rc, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (double)(now.tv_sec - start.tv_sec) +
			  (double)(now.tv_nsec - start.tv_nsec) / 1e9;
		if (timeout >= 0 && elapsed >= timeout) {
			if (rc == 0)
				fprintf(stderr, "%s: wait: %s: timed out after "
					"%gs at version %" PRIu64 "\n", prog,
					path, timeout, v);
			else {
				char *dir = missing_dir(path);

				fprintf(stderr, "%s: wait: %s: timed out after "
					"%gs (no version%s%s)\n", prog, path,
					timeout, dir ? "; no directory " : "",
					dir ? dir : "");
				free(dir);
			}
			return EXIT_ERR;
		}
		rc_sleep_ms(POLL_MS);
	}
}

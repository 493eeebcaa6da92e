/* bench_fs.c - build/bench: the file system targets and the speed
 * workloads (1-8). */
#include "bench.h"

int is_fs(const struct target *t)
{
	return t->kind <= K_PSYNC;
}

void path_of(char *out, size_t n, const struct target *t,
	     const char *dir, const char *name, int i)
{
	if (i >= 0)
		snprintf(out, n, "%s/%s/%s%d", t->where, dir, name, i);
	else
		snprintf(out, n, "%s/%s/%s", t->where, dir, name);
}

static int get_version(const struct target *t, const char *p, uint64_t *v)
{
	char buf[32];
	ssize_t n = getxattr(p, t->vname, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	*v = strtoull(buf, NULL, 10);
	return 0;
}

static int declare(const struct target *t, const char *p, uint64_t v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return setxattr(p, t->ename, buf, (size_t)n, 0) < 0 ? -errno : 0;
}

/* Write a whole small file: open, write, [fdatasync], close. */
int put_file(const struct target *t, const char *p, int flags)
{
	int fd = open(p, O_WRONLY | flags, 0644), rc = 0;
	if (fd < 0)
		return -errno;
	if (write(fd, rec_data, RECSZ) != RECSZ)
		rc = -errno;
	if (!rc && t->kind == K_PSYNC && fdatasync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	return rc;
}

/* Plain targets get a user.v to read, as recfs gives user.version. */
int seed_version(const struct target *t, const char *p)
{
	if (t->kind != K_PLAIN && t->kind != K_PSYNC)
		return 0;
	return setxattr(p, t->vname, "1", 1, 0) < 0 ? -errno : 0;
}

int refused(int rc)
{
	return rc == -EAGAIN || rc == -EBUSY;
}

/* The versioned update: read the version, declare it, rewrite. */
int fs_update(const struct target *t, const char *p)
{
	uint64_t v;
	int rc = get_version(t, p, &v);
	if (!rc)
		rc = declare(t, p, v);
	if (!rc)
		rc = put_file(t, p, O_TRUNC);
	return rc;
}

/* ---- The speed workloads (1-8) ----------------------------------------- */


uint64_t *vers;

/* 1. create */
static void w_create(int ti, int ri, const char *dir)
{
	char p[600];
	for (int i = 0; i < nrec; i++) {
		int rc;
		path_of(p, sizeof(p), &T[ti], dir, "r", i);
		if ((rc = put_file(&T[ti], p, O_CREAT | O_EXCL)) < 0)
			fail(ti, ri, p, -rc);
	}
}

/* 2. read, warm: one untimed pass first (and plain targets get their
 * user.v). */
static void w_read_setup(int ti, int ri, const char *dir)
{
	char p[600], b[4096];
	for (int i = 0; i < nrec; i++) {
		int fd;
		path_of(p, sizeof(p), &T[ti], dir, "r", i);
		seed_version(&T[ti], p);
		if ((fd = open(p, O_RDONLY)) >= 0) {
			if (read(fd, b, sizeof(b)) < 0)
				fail(ti, ri, p, errno);
			close(fd);
		}
	}
}

static void w_read(int ti, int ri, const char *dir)
{
	char p[600], b[4096];
	for (int i = 0; i < nrec; i++) {
		int fd;
		path_of(p, sizeof(p), &T[ti], dir, "r", i);
		fd = open(p, O_RDONLY);
		if (fd < 0) {
			fail(ti, ri, p, errno);
			continue;
		}
		if (read(fd, b, sizeof(b)) != RECSZ)
			fail(ti, ri, p, errno ? errno : EIO);
		close(fd);
	}
}

/* 3. versioned update */
static void w_update(int ti, int ri, const char *dir)
{
	char p[600];
	for (int i = 0; i < nrec; i++) {
		int rc;
		path_of(p, sizeof(p), &T[ti], dir, "r", i);
		if ((rc = fs_update(&T[ti], p)) < 0)
			fail(ti, ri, p, -rc);
	}
}

/* 4. getxattr user.version (kept for 6 and 7) */
static void w_getxattr(int ti, int ri, const char *dir)
{
	char p[600];
	for (int i = 0; i < nrec; i++) {
		int rc;
		path_of(p, sizeof(p), &T[ti], dir, "r", i);
		if ((rc = get_version(&T[ti], p, &vers[ti * nrec + i])) < 0)
			fail(ti, ri, p, -rc);
	}
}

/* 5. stat, warm: one untimed pass first (a write leaves the attributes
 * stale in the kernel on every FUSE target). */
static void w_stat_setup(int ti, int ri, const char *dir)
{
	char p[600];
	struct stat st;
	(void)ri;
	for (int i = 0; i < nrec; i++) {
		path_of(p, sizeof(p), &T[ti], dir, "r", i);
		stat(p, &st);
	}
}

static void w_stat(int ti, int ri, const char *dir)
{
	char p[600];
	struct stat st;
	for (int i = 0; i < nrec; i++) {
		path_of(p, sizeof(p), &T[ti], dir, "r", i);
		if (stat(p, &st) < 0)
			fail(ti, ri, p, errno);
	}
}

/* 6. rename-over: write a temporary, declare, rename onto the record. */
static void w_rename(int ti, int ri, const char *dir)
{
	char p[600], q[600];
	const struct target *t = &T[ti];
	for (int i = 0; i < nrec; i++) {
		int rc;
		path_of(p, sizeof(p), t, dir, "r", i);
		path_of(q, sizeof(q), t, dir, "tmp", -1);
		rc = put_file(t, q, O_CREAT | O_TRUNC);
		if (!rc)
			rc = declare(t, p, vers[ti * nrec + i]);
		if (!rc && rename(q, p) < 0)
			rc = -errno;
		if (rc < 0)
			fail(ti, ri, p, -rc);
	}
}

/* 7. unlink: declare the version read (untimed) and unlink. */
static void w_unlink_setup(int ti, int ri, const char *dir)
{
	char p[600];
	(void)ri;
	for (int i = 0; i < nrec; i++) {
		path_of(p, sizeof(p), &T[ti], dir, "r", i);
		seed_version(&T[ti], p);
		if (get_version(&T[ti], p, &vers[ti * nrec + i]) < 0)
			vers[ti * nrec + i] = 0;
	}
}

static void w_unlink(int ti, int ri, const char *dir)
{
	char p[600];
	for (int i = 0; i < nrec; i++) {
		int rc;
		path_of(p, sizeof(p), &T[ti], dir, "r", i);
		rc = declare(&T[ti], p, vers[ti * nrec + i]);
		if (!rc && unlink(p) < 0)
			rc = -errno;
		if (rc < 0)
			fail(ti, ri, p, -rc);
	}
}

/* 8. one big record, written then read sequentially */
static void w_seq_write(int ti, int ri, const char *dir)
{
	char p[600];
	int fd;
	path_of(p, sizeof(p), &T[ti], dir, "big", -1);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fail(ti, ri, p, errno);
		return;
	}
	for (size_t off = 0; off < bigsz; off += BIGCHUNK)
		if (write(fd, big_buf, BIGCHUNK) != BIGCHUNK) {
			fail(ti, ri, p, errno);
			break;
		}
	if (close(fd) < 0)
		fail(ti, ri, p, errno);
}

static void w_seq_read(int ti, int ri, const char *dir)
{
	char p[600];
	size_t got = 0;
	ssize_t n;
	int fd;
	path_of(p, sizeof(p), &T[ti], dir, "big", -1);
	fd = open(p, O_RDONLY);
	if (fd < 0) {
		fail(ti, ri, p, errno);
		return;
	}
	while ((n = read(fd, big_buf, BIGCHUNK)) > 0)
		got += (size_t)n;
	if (n < 0 || got != bigsz)
		fail(ti, ri, p, n < 0 ? errno : EIO);
	close(fd);
}

const struct workload W[] = {
	{ "create 1KB", "ops/s", NULL, w_create, 0 },
	{ "read 1KB warm", "ops/s", w_read_setup, w_read, 0 },
	{ "versioned update", "ops/s", NULL, w_update, 0 },
	{ "getxattr version", "ops/s", NULL, w_getxattr, 0 },
	{ "stat warm", "ops/s", w_stat_setup, w_stat, 0 },
	{ "rename-over", "ops/s", NULL, w_rename, 0 },
	{ "unlink", "ops/s", w_unlink_setup, w_unlink, 0 },
	{ "seq write", "MB/s", NULL, w_seq_write, 1 },
	{ "seq read", "MB/s", NULL, w_seq_read, 1 },
};
_Static_assert(sizeof(W) / sizeof(W[0]) == NW, "NW in bench.h counts W");

void make_dirs(const char *dir)
{
	char p[600];
	for (int ti = 0; ti < nt; ti++) {
		snprintf(p, sizeof(p), "%s/%s", T[ti].where, dir);
		if (mkdir(p, 0755) < 0)
			die("mkdir %s: %s", p, strerror(errno));
	}
}

/* Untimed: drop what the workloads left, and the directory. */
void remove_dirs(const char *dir)
{
	char p[600];
	for (int ti = 0; ti < nt; ti++) {
		const struct target *t = &T[ti];
		uint64_t v;
		path_of(p, sizeof(p), t, dir, "big", -1);
		if (get_version(t, p, &v) == 0)
			declare(t, p, v);
		unlink(p);
		snprintf(p, sizeof(p), "%s/%s", t->where, dir);
		if (rmdir(p) < 0)
			fprintf(stderr, "bench: rmdir %s: %s\n", p,
				strerror(errno));
	}
}

void speed_rep(int rep)
{
	char dir[32];

	snprintf(dir, sizeof(dir), "w%d", rep);
	make_dirs(dir);
	for (int wi = 0; wi < NW; wi++) {
		const struct workload *w = &W[wi];
		int r = row_of(w->name, w->unit);
		for (int ti = 0; ti < nt; ti++) {
			double t0, el;
			if (w->setup)
				w->setup(ti, r, dir);
			t0 = now();
			w->body(ti, r, dir);
			el = now() - t0;
			R[r].v[ti][rep] =
				(w->big ? (double)bigsz / 1e6 : nrec) / el;
		}
	}
	remove_dirs(dir);
}

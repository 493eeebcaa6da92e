/* bench - recfs against tmpfs, libfuse's passthrough_ll, a zero-work floor,
 * SQLite and etcd (issue 8).  scripts/bench/run.sh mounts the targets and
 * calls this; nothing here runs a shell, and every timed loop is system
 * calls between two clock_gettime(CLOCK_MONOTONIC) reads.
 *
 *   bench speed|durable|shared OUTDIR NAME=KIND:WHERE ...
 *   bench requests OUTDIR LOGDIR NAME=KIND:WHERE ...
 *   bench reopen OUTDIR RECFS MNT EMPTY_STORE FULL_STORE N KEY_MEAN
 *
 * KIND is how a target is driven:
 *   recfs  a directory on recfs: user.version, user.expected_version
 *   floor  a directory on floorfs: the same names, no check behind them
 *   plain  any other directory: the same calls on user.v and user.e
 *   psync  plain, with fdatasync before each close of a changed file
 *   sqlite a directory for a SQLite database (lock_version column)
 *   etcd   HOST:PORT of etcd's v3 JSON gateway (mod_revision compare)
 *   fsync  a directory: pwrite 1 KB + fdatasync, the disk's bare rate
 * A file system target's WHERE may name two mounts of one shared store,
 * "DIR1,DIR2" (recfs on etcd): writers alternate between them.
 *
 * shared (issue 9): the versioned update by 1 writer, by 32 writers on
 * 32 records and by 32 writers on one record, for recfs on etcd with its
 * writers spread over two mounts, against etcd itself (range, then a
 * txn comparing mod_revision) and a local recfs with sync=always.
 *
 * Workloads run interleaved: for each repetition, for each workload, every
 * target in turn (A B C D A B C D ...).  The figure is the median.
 * The concurrent workloads are counted for a fixed time after an untimed
 * warm-up in which the same threads already run.
 * QUICK=1 in the environment: 3 repetitions, smaller counts and shorter
 * concurrent runs.
 * Output: a table on stdout and OUTDIR/{speed,durable}.csv, plus
 * OUTDIR/{speed,durable}_ratios.dat for the chart.
 *
 * requests (workload 12, untimed): the single-threaded workloads with
 * few operations on daemons that run with -d, their stderr in
 * LOGDIR/NAME.log; the requests each one logged, per operation and by
 * opcode, go to OUTDIR/requests.{txt,csv}.
 * reopen (workload 11): starts RECFS on an empty store and on FULL_STORE
 * (N records, keys KEY_MEAN bytes on average, written by build/mkstore),
 * times each until the mount answers and reads the daemon's VmRSS;
 * OUTDIR/reopen.csv and a table on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define RECSZ 1024
#define NTHR 8
#define MAXW 32        /* writers of the shared workloads */
#define SHARED MAXW    /* the record index every writer shares */
#define MAXT 8
#define MAXROW 16
#define MAXREP 5

enum kind { K_RECFS, K_FLOOR, K_PLAIN, K_PSYNC, K_SQLITE, K_ETCD, K_FSYNC };

struct target {
	char name[64];
	enum kind kind;
	char where[512];
	char where2[512];          /* a second mount of the same store, or "" */
	const char *vname, *ename; /* version / declaration xattrs */
	char host[64];
	int port;
};

struct row {
	const char *name, *unit;
	double v[MAXT][MAXREP];
	long errs[MAXT];
};

static struct target T[MAXT];
static int nt;
static struct row R[MAXROW];
static int nrows, reps, nrec;
static size_t bigsz;
static double tdur, twarm;
static char rec_data[RECSZ];
static char *big_buf;
#define BIGCHUNK (1u << 20)
/* QUICK=1 is the one-minute version: each concurrent run is
 * counted this long, after its warm-up (a smoke test of every part, not a
 * measurement). */
#define QUICK_TDUR 0.25
#define QUICK_TWARM 0.1
#define TWARM 0.3
#define REQ_N 200      /* operations per workload when counting requests */
#define REQ_BIG_MIB 64 /* MiB of the big record then */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* One warning per (target, row); the row's figure is marked with '!'. */
static void fail(int ti, int ri, const char *what, int err)
{
	if (R[ri].errs[ti]++ == 0)
		fprintf(stderr, "bench: %s, %s: %s: %s\n", T[ti].name,
			R[ri].name, what, strerror(err));
}

static int row_of(const char *name, const char *unit)
{
	for (int i = 0; i < nrows; i++)
		if (strcmp(R[i].name, name) == 0)
			return i;
	if (nrows == MAXROW)
		die("too many rows");
	R[nrows].name = name;
	R[nrows].unit = unit;
	return nrows++;
}

/* ---- File system targets --------------------------------------------- */

static int is_fs(const struct target *t)
{
	return t->kind <= K_PSYNC;
}

static void path_of(char *out, size_t n, const struct target *t,
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
static int put_file(const struct target *t, const char *p, int flags)
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
static int seed_version(const struct target *t, const char *p)
{
	if (t->kind != K_PLAIN && t->kind != K_PSYNC)
		return 0;
	return setxattr(p, t->vname, "1", 1, 0) < 0 ? -errno : 0;
}

static int refused(int rc)
{
	return rc == -EAGAIN || rc == -EBUSY;
}

/* The versioned update: read the version, declare it, rewrite. */
static int fs_update(const struct target *t, const char *p)
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

/* Each workload is an untimed setup and a timed body over records
 * 0..nrec-1 of one directory of one target.  The same functions serve the
 * timed runs and the request count (workload 12), so what is counted is
 * exactly what is timed. */
struct workload {
	const char *name, *unit;
	void (*setup)(int ti, int ri, const char *dir);
	void (*body)(int ti, int ri, const char *dir);
	int big; /* the amount is bigsz bytes in MB, not nrec operations */
};

static uint64_t *vers;

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

static const struct workload W[] = {
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
#define NW ((int)(sizeof(W) / sizeof(W[0])))

static void make_dirs(const char *dir)
{
	char p[600];
	for (int ti = 0; ti < nt; ti++) {
		snprintf(p, sizeof(p), "%s/%s", T[ti].where, dir);
		if (mkdir(p, 0755) < 0)
			die("mkdir %s: %s", p, strerror(errno));
	}
}

/* Untimed: drop what the workloads left, and the directory. */
static void remove_dirs(const char *dir)
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

static void speed_rep(int rep)
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

/* ---- Concurrent versioned updates (workload 9 and the durable part) ---- */

static const char b64tab[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64(char *out, const void *in, size_t n)
{
	const unsigned char *s = in;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		out[o++] = b64tab[(v >> 18) & 63];
		out[o++] = b64tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64tab[v & 63] : '=';
	}
	out[o] = 0;
	return o;
}

static char etcd_val[RECSZ * 2];

struct conn {
	const struct target *t;
	int rec;         /* record index; SHARED means the shared one */
	int fd;          /* etcd socket, fsync file */
	sqlite3 *db;
	sqlite3_stmt *sel, *upd;
	char path[600];
	char key[64];
	char *rbuf;
	size_t rcap;
};

static int etcd_connect(const struct target *t)
{
	struct sockaddr_in sa;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)t->port);
	inet_pton(AF_INET, t->host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* POST a JSON body on the keep-alive connection; the response body is
 * left NUL-terminated in c->rbuf.  Handles Content-Length and chunked. */
static int etcd_post(struct conn *c, const char *path, const char *body)
{
	char hdr[256];
	size_t blen = strlen(body), have = 0, hend = 0, need = 0;
	int hl = snprintf(hdr, sizeof(hdr),
			  "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
			  "Content-Type: application/json\r\n"
			  "Content-Length: %zu\r\n\r\n",
			  path, c->t->host, c->t->port, blen);
	int chunked = 0;

	if (send(c->fd, hdr, (size_t)hl, MSG_MORE) != hl ||
	    send(c->fd, body, blen, 0) != (ssize_t)blen)
		return -EIO;
	for (;;) {
		ssize_t n;
		if (have + 4096 + 1 > c->rcap) {
			size_t nc = c->rcap ? c->rcap * 2 : 16384;
			char *nb = realloc(c->rbuf, nc);
			if (!nb)
				return -ENOMEM;
			c->rbuf = nb;
			c->rcap = nc;
		}
		n = recv(c->fd, c->rbuf + have, c->rcap - have - 1, 0);
		if (n <= 0)
			return -EIO;
		have += (size_t)n;
		c->rbuf[have] = 0;
		if (!hend) {
			char *e = strstr(c->rbuf, "\r\n\r\n"), *cl;
			if (!e)
				continue;
			hend = (size_t)(e - c->rbuf) + 4;
			if (strncmp(c->rbuf, "HTTP/1.1 200", 12) != 0)
				return -EPROTO;
			cl = strcasestr(c->rbuf, "Content-Length:");
			if (cl && cl < e)
				need = strtoul(cl + 15, NULL, 10);
			else
				chunked = 1;
		}
		if (!chunked && have - hend >= need) {
			memmove(c->rbuf, c->rbuf + hend, need);
			c->rbuf[need] = 0;
			return 0;
		}
		if (chunked && have >= 5 &&
		    memcmp(c->rbuf + have - 5, "0\r\n\r\n", 5) == 0) {
			/* De-chunk in place. */
			size_t in = hend, out = 0;
			for (;;) {
				size_t len = strtoul(c->rbuf + in, NULL, 16);
				char *nl = strstr(c->rbuf + in, "\r\n");
				if (!nl || !len)
					break;
				in = (size_t)(nl - c->rbuf) + 2;
				memmove(c->rbuf + out, c->rbuf + in, len);
				out += len;
				in += len + 2;
			}
			c->rbuf[out] = 0;
			return 0;
		}
	}
}

/* @which picks one of a target's two mounts (its writers alternate). */
static int conn_open(struct conn *c, const struct target *t, int rec,
		     const char *dir, int which)
{
	memset(c, 0, sizeof(*c));
	c->t = t;
	c->rec = rec;
	c->fd = -1;
	if (is_fs(t)) {
		path_of(c->path, sizeof(c->path), t, dir, rec == SHARED ? "s" : "c",
			rec == SHARED ? -1 : rec);
		if (which % 2 && t->where2[0]) {
			char p[600];
			snprintf(p, sizeof(p), "%s%s", t->where2,
				 c->path + strlen(t->where));
			snprintf(c->path, sizeof(c->path), "%s", p);
		}
	} else if (t->kind == K_FSYNC) {
		path_of(c->path, sizeof(c->path), t, dir, "f", rec);
		c->fd = open(c->path, O_WRONLY | O_CREAT, 0644);
		if (c->fd < 0)
			return -errno;
	} else if (t->kind == K_SQLITE) {
		char db[600];
		snprintf(db, sizeof(db), "%s/bench.db", t->where);
		if (sqlite3_open(db, &c->db) != SQLITE_OK)
			return -EIO;
		sqlite3_busy_timeout(c->db, 10000);
		if (sqlite3_exec(c->db, "PRAGMA synchronous=FULL", 0, 0, 0) ||
		    sqlite3_prepare_v2(c->db,
				       "SELECT lock_version FROM t WHERE id=?",
				       -1, &c->sel, NULL) ||
		    sqlite3_prepare_v2(c->db,
				       "UPDATE t SET v=?, "
				       "lock_version=lock_version+1 "
				       "WHERE id=? AND lock_version=?",
				       -1, &c->upd, NULL))
			return -EIO;
	} else if (t->kind == K_ETCD) {
		char raw[32];
		int n = snprintf(raw, sizeof(raw), "%s%d", dir, rec);
		b64(c->key, raw, (size_t)n);
		c->fd = etcd_connect(t);
		if (c->fd < 0)
			return c->fd;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	sqlite3_finalize(c->sel);
	sqlite3_finalize(c->upd);
	if (c->db)
		sqlite3_close(c->db);
	free(c->rbuf);
}

static int etcd_update(struct conn *c)
{
	char body[4096];
	const char *m;
	unsigned long long rev;

	snprintf(body, sizeof(body), "{\"key\":\"%s\"}", c->key);
	if (etcd_post(c, "/v3/kv/range", body) < 0)
		return -EIO;
	m = strstr(c->rbuf, "\"mod_revision\":\"");
	if (!m)
		return -ENOENT;
	rev = strtoull(m + 16, NULL, 10);
	snprintf(body, sizeof(body),
		 "{\"compare\":[{\"key\":\"%s\",\"result\":\"EQUAL\","
		 "\"target\":\"MOD\",\"mod_revision\":\"%llu\"}],"
		 "\"success\":[{\"request_put\":{\"key\":\"%s\","
		 "\"value\":\"%s\"}}]}",
		 c->key, rev, c->key, etcd_val);
	if (etcd_post(c, "/v3/kv/txn", body) < 0)
		return -EIO;
	return strstr(c->rbuf, "\"succeeded\":true") ? 0 : -EAGAIN;
}

static int sqlite_update(struct conn *c)
{
	sqlite3_int64 lv;
	int rc;

	sqlite3_reset(c->sel);
	sqlite3_bind_int(c->sel, 1, c->rec);
	do
		rc = sqlite3_step(c->sel);
	while (rc == SQLITE_BUSY);
	if (rc != SQLITE_ROW)
		return -EIO;
	lv = sqlite3_column_int64(c->sel, 0);
	sqlite3_reset(c->sel);
	sqlite3_reset(c->upd);
	sqlite3_bind_blob(c->upd, 1, rec_data, RECSZ, SQLITE_STATIC);
	sqlite3_bind_int(c->upd, 2, c->rec);
	sqlite3_bind_int64(c->upd, 3, lv);
	do
		rc = sqlite3_step(c->upd);
	while (rc == SQLITE_BUSY);
	if (rc != SQLITE_DONE)
		return -EIO;
	return sqlite3_changes(c->db) == 1 ? 0 : -EAGAIN;
}

static int conn_update(struct conn *c)
{
	switch (c->t->kind) {
	case K_SQLITE:
		return sqlite_update(c);
	case K_ETCD:
		return etcd_update(c);
	case K_FSYNC:
		if (pwrite(c->fd, rec_data, RECSZ, 0) != RECSZ ||
		    fdatasync(c->fd) < 0)
			return -errno;
		return 0;
	default:
		return fs_update(c->t, c->path);
	}
}

static sqlite3 *sql_keep[MAXT]; /* conc_prepare()'s connections */

/* Create the records of the concurrent workloads (untimed). */
static void conc_prepare(const struct target *t, const char *dir)
{
	char p[600];
	if (is_fs(t) || t->kind == K_FSYNC) {
		snprintf(p, sizeof(p), "%s/%s", t->where, dir);
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			die("mkdir %s: %s", p, strerror(errno));
	}
	if (is_fs(t)) {
		for (int i = 0; i <= SHARED; i++) {
			path_of(p, sizeof(p), t, dir, i == SHARED ? "s" : "c",
				i == SHARED ? -1 : i);
			if (put_file(t, p, O_CREAT | O_EXCL) < 0 ||
			    seed_version(t, p) < 0)
				die("%s: %s", p, strerror(errno));
		}
		/* A second mount of a shared store sees them by its watch. */
		for (int i = 0; t->where2[0] && i <= SHARED; i++) {
			struct conn c;
			struct stat sb;
			int tries = 0;
			conn_open(&c, t, i, dir, 1);
			while (stat(c.path, &sb) < 0 && tries++ < 500)
				usleep(10000);
			if (tries > 500)
				die("%s: not seen on the second mount", c.path);
			conn_close(&c);
		}
	} else if (t->kind == K_SQLITE) {
		sqlite3 *db;
		char db_path[600];
		snprintf(db_path, sizeof(db_path), "%s/bench.db", t->where);
		if (sqlite3_open(db_path, &db) != SQLITE_OK ||
		    sqlite3_exec(db,
				 "PRAGMA journal_mode=WAL;"
				 "PRAGMA synchronous=FULL;"
				 "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY"
				 " KEY, v BLOB, lock_version INTEGER NOT NULL);"
				 "DELETE FROM t;",
				 0, 0, 0) != SQLITE_OK)
			die("sqlite %s: %s", db_path, sqlite3_errmsg(db));
		for (int i = 0; i <= SHARED; i++) {
			char q[128];
			snprintf(q, sizeof(q),
				 "INSERT INTO t VALUES(%d, zeroblob(%d), 1)", i,
				 RECSZ);
			if (sqlite3_exec(db, q, 0, 0, 0) != SQLITE_OK)
				die("sqlite: %s", sqlite3_errmsg(db));
		}
		/* Kept open for the whole part, as an application keeps its
		 * database open: when the last connection closes, SQLite
		 * removes the WAL, and every run's first commits would grow
		 * it again from nothing (a sync of the file's size each). */
		if (sql_keep[t - T])
			sqlite3_close(sql_keep[t - T]);
		sql_keep[t - T] = db;
	} else if (t->kind == K_ETCD) {
		for (int i = 0; i <= SHARED; i++) {
			struct conn c;
			char body[4096];
			int ok = 0;
			/* etcd may still be starting: up to 30 s. */
			for (int tries = 0; tries < 300 && !ok; tries++) {
				if (conn_open(&c, t, i, dir, 0) == 0) {
					snprintf(body, sizeof(body),
						 "{\"key\":\"%s\",\"value\":"
						 "\"%s\"}", c.key, etcd_val);
					ok = etcd_post(&c, "/v3/kv/put",
						       body) == 0;
				}
				conn_close(&c);
				if (!ok)
					usleep(100000);
			}
			if (!ok)
				die("etcd %s:%d: cannot put", t->host, t->port);
		}
	}
}

struct worker {
	struct conn c;
	pthread_barrier_t *bar;
	atomic_int *stop;
	atomic_long commits, refusals; /* read by conc_run() meanwhile */
	long errors;
	int first_err;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(w->bar);
	while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
		int rc = conn_update(&w->c);
		if (rc == 0) {
			atomic_fetch_add_explicit(&w->commits, 1,
						  memory_order_relaxed);
		} else if (refused(rc)) {
			atomic_fetch_add_explicit(&w->refusals, 1,
						  memory_order_relaxed);
		} else {
			if (!w->errors++)
				w->first_err = -rc;
		}
	}
	return NULL;
}

/* Sleep @sec seconds. */
static void pause_for(double sec)
{
	struct timespec ts = { (time_t)sec,
			       (long)((sec - (double)(time_t)sec) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Commits and refusals of @n workers so far. */
static void tally(struct worker *w, int n, long *commits, long *refusals)
{
	*commits = *refusals = 0;
	for (int i = 0; i < n; i++) {
		*commits += atomic_load_explicit(&w[i].commits,
						 memory_order_relaxed);
		*refusals += atomic_load_explicit(&w[i].refusals,
						  memory_order_relaxed);
	}
}

/* nthr threads of versioned updates, each on its own record, or all on
 * the shared one.  They run twarm seconds untimed first (new connections,
 * a database's first pages, lease waits settling), then the tdur seconds
 * counted.  Rows get commits/s (and refusals/s when shared). */
static void conc_run(int ti, int rep, int nthr, int shared, const char *dir,
		     int rcommit, int rrefuse)
{
	struct worker w[MAXW];
	pthread_t th[MAXW];
	pthread_barrier_t bar;
	atomic_int stop = 0;
	long c0, r0, c1, r1;
	double t0, el;

	pthread_barrier_init(&bar, NULL, (unsigned)nthr + 1);
	for (int i = 0; i < nthr; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		if (conn_open(&w[i].c, &T[ti], shared ? SHARED : i, dir, i) < 0)
			die("%s: cannot open its connection", T[ti].name);
		w[i].bar = &bar;
		w[i].stop = &stop;
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	pthread_barrier_wait(&bar);
	pause_for(twarm);
	tally(w, nthr, &c0, &r0);
	t0 = now();
	pause_for(tdur);
	tally(w, nthr, &c1, &r1);
	el = now() - t0;
	atomic_store(&stop, 1);
	for (int i = 0; i < nthr; i++) {
		pthread_join(th[i], NULL);
		if (w[i].errors)
			fail(ti, rcommit, "update", w[i].first_err);
		conn_close(&w[i].c);
	}
	pthread_barrier_destroy(&bar);
	R[rcommit].v[ti][rep] = (double)(c1 - c0) / el;
	if (rrefuse >= 0)
		R[rrefuse].v[ti][rep] = (double)(r1 - r0) / el;
}

/* ---- Output -------------------------------------------------------------- */

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(int ri, int ti)
{
	double s[MAXREP];
	memcpy(s, R[ri].v[ti], sizeof(double) * (size_t)reps);
	qsort(s, (size_t)reps, sizeof(double), cmpd);
	return reps % 2 ? s[reps / 2] : (s[reps / 2 - 1] + s[reps / 2]) / 2;
}

static int target_named(const char *n)
{
	for (int i = 0; i < nt; i++)
		if (strcmp(T[i].name, n) == 0)
			return i;
	return -1;
}

static void report(const char *outdir, const char *section,
		   const char *base1, const char *base2)
{
	int rf = target_named("recfs"), b1 = target_named(base1),
	    b2 = target_named(base2);
	char path[600], l1[80], l2[80];
	FILE *csv, *dat;
	int anyerr = 0;

	snprintf(path, sizeof(path), "%s/%s.csv", outdir, section);
	csv = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/%s_ratios.dat", outdir, section);
	dat = fopen(path, "w");
	if (!csv || !dat)
		die("%s: %s", path, strerror(errno));
	snprintf(l1, sizeof(l1), "recfs/%s", base1);
	snprintf(l2, sizeof(l2), "recfs/%s", base2);

	printf("\n%-28s %-6s", section, "unit");
	for (int ti = 0; ti < nt; ti++)
		printf(" %14s", T[ti].name);
	printf(" %14s %14s\n", l1, l2);
	fprintf(csv, "workload,unit,target,median");
	for (int i = 0; i < reps; i++)
		fprintf(csv, ",run%d", i + 1);
	fprintf(csv, ",errors\n");
	fprintf(dat, "workload \"%s\" \"%s\"\n", l1, l2);
	for (int ri = 0; ri < nrows; ri++) {
		double rv = rf >= 0 ? median(ri, rf) : 0;
		printf("%-28s %-6s", R[ri].name, R[ri].unit);
		for (int ti = 0; ti < nt; ti++) {
			double m = median(ri, ti);
			printf(" %13.0f%c", m, R[ri].errs[ti] ? '!' : ' ');
			anyerr |= R[ri].errs[ti] != 0;
			fprintf(csv, "\"%s\",%s,%s,%.1f", R[ri].name, R[ri].unit,
				T[ti].name, m);
			for (int i = 0; i < reps; i++)
				fprintf(csv, ",%.1f", R[ri].v[ti][i]);
			fprintf(csv, ",%ld\n", R[ri].errs[ti]);
		}
		if (strcmp(R[ri].unit, "ref/s") == 0) {
			printf(" %14s %14s\n", "-", "-");
		} else {
			double m1 = b1 >= 0 ? median(ri, b1) : 0;
			double m2 = b2 >= 0 ? median(ri, b2) : 0;
			double r1 = m1 > 0 ? rv / m1 : 0, r2 = m2 > 0 ? rv / m2 : 0;
			printf(" %14.2f %14.2f\n", r1, r2);
			fprintf(dat, "\"%s\" %.4f %.4f\n", R[ri].name, r1, r2);
		}
	}
	fclose(csv);
	fclose(dat);
	if (anyerr)
		printf("('!': some operations failed, see the messages on "
		       "stderr)\n");
}

/* The targets, judged in every run: recfs / BASE >= MIN on the
 * row of the section.  (Reopen and memory are judged in their own table;
 * "no request the floor does not make" in workload 12's.) */
static const struct goal {
	const char *section, *row, *base;
	double min;
} goals[] = {
	{ "speed", "create 1KB", "passthrough_ll", 1.0 },
	{ "speed", "create 1KB", "floor", 0.8 },
	{ "speed", "read 1KB warm", "passthrough_ll", 2.4 },
	{ "speed", "read 1KB warm", "floor", 0.8 },
	{ "speed", "versioned update", "passthrough_ll", 1.1 },
	{ "speed", "versioned update", "floor", 0.8 },
	{ "speed", "getxattr version", "passthrough_ll", 1.1 },
	{ "speed", "getxattr version", "floor", 0.8 },
	{ "speed", "stat warm", "passthrough_ll", 1.3 },
	{ "speed", "stat warm", "floor", 0.8 },
	{ "speed", "rename-over", "passthrough_ll", 1.3 },
	{ "speed", "rename-over", "floor", 0.8 },
	{ "speed", "unlink", "passthrough_ll", 1.3 },
	{ "speed", "unlink", "floor", 0.8 },
	{ "speed", "seq write", "passthrough_ll", 0.8 },
	{ "speed", "seq write", "floor", 0.8 },
	{ "speed", "seq read", "passthrough_ll", 2.0 },
	{ "speed", "seq read", "floor", 0.8 },
	{ "durable", "1 thr, 1 record", "sqlite", 0.5 },
	{ "durable", "8 thr, 8 records", "sqlite", 2.0 },
	{ "durable", "8 thr, 8 records", "etcd", 5.0 },
	{ "durable", "8 thr, 1 record", "etcd", 5.0 },
};

static int row_named(const char *name)
{
	for (int i = 0; i < nrows; i++)
		if (strcmp(R[i].name, name) == 0)
			return i;
	return -1;
}

/* Print and write (SECTION_targets.csv) each target's ratio and verdict;
 * a target whose base did not run is left out. */
static void verdicts(const char *outdir, const char *section)
{
	int rf = target_named("recfs"), shown = 0, met = 0;
	char path[600];
	FILE *csv;

	snprintf(path, sizeof(path), "%s/%s_targets.csv", outdir, section);
	csv = fopen(path, "w");
	if (!csv)
		die("%s: %s", path, strerror(errno));
	fprintf(csv, "workload,base,ratio,target,verdict\n");
	for (size_t g = 0; g < sizeof(goals) / sizeof(goals[0]); g++) {
		const struct goal *o = &goals[g];
		int ri = row_named(o->row), bi = target_named(o->base);
		double m, r;
		if (strcmp(o->section, section) != 0 || rf < 0 || ri < 0 ||
		    bi < 0)
			continue;
		m = median(ri, bi);
		r = m > 0 ? median(ri, rf) / m : 0;
		if (!shown++)
			printf("\n%-28s %-14s %7s %9s  %s\n", "targets",
			       "recfs / base", "ratio", "target", "verdict");
		met += r >= o->min;
		printf("%-28s %-14s %7.2f   >= %4.2f  %s\n", o->row, o->base, r,
		       o->min, r >= o->min ? "met" : "NOT MET");
		fprintf(csv, "\"%s\",%s,%.4f,%.2f,%s\n", o->row, o->base, r,
			o->min, r >= o->min ? "met" : "not met");
	}
	if (shown)
		printf("%d of %d targets met in this run (one run's ratio moves "
		       "by 0.1-0.2 here; see docs/PERFORMANCE.md)\n", met,
		       shown);
	fclose(csv);
}

/* ---- Reopen of a big store, and the daemon's memory (workload 11) -------- */

static int vmrss_kib(pid_t pid, long *kib)
{
	char path[64], line[256];
	FILE *f;
	int rc = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", kib) == 1) {
			rc = 0;
			break;
		}
	fclose(f);
	return rc;
}

/* Unmount and wait for the daemon to have closed its store (the next
 * start needs the store's lock). */
static int stop_daemon(pid_t pid, const char *mnt)
{
	double t0 = now();
	int status, rc = 0;

	if (umount2(mnt, 0) < 0) {
		rc = -errno;
		umount2(mnt, MNT_DETACH);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now() - t0 > 60) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
	if (!rc && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = -ECHILD;
	return rc;
}

/* Start `recfs STORE MNT -f` and time it until the mount's root answers;
 * then read the daemon's VmRSS, with one record (@probe) looked up
 * through the mount first, so that the figure is of a store really
 * served. */
static int reopen_once(const char *recfs, const char *store, const char *mnt,
		       const char *probe, double *secs, long *kib)
{
	struct stat under, st;
	double t0;
	pid_t pid;
	int rc, status;

	if (stat(mnt, &under) < 0)
		return -errno;
	t0 = now();
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl(recfs, "recfs", store, mnt, "-f", (char *)NULL);
		_exit(127);
	}
	/* Before the mount, stat sees the directory underneath; once
	 * mounted, it waits until the daemon has answered INIT and
	 * GETATTR. */
	for (;;) {
		if (stat(mnt, &st) == 0 && st.st_dev != under.st_dev)
			break;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return -ECHILD;
		if (now() - t0 > 60) {
			rc = -ETIMEDOUT;
			goto out;
		}
		usleep(200);
	}
	*secs = now() - t0;
	rc = probe && stat(probe, &st) < 0 ? -errno : 0;
	if (!rc)
		rc = vmrss_kib(pid, kib);
out:
	{
		int r = stop_daemon(pid, mnt);
		if (!rc)
			rc = r;
	}
	return rc;
}

/* bench reopen OUTDIR RECFS MNT EMPTY_STORE FULL_STORE N KEY_MEAN */
static void reopen_main(const char *outdir, char **a)
{
	const char *recfs = a[0], *mnt = a[1], *empty = a[2], *full = a[3];
	long n = atol(a[4]);
	double keymean = atof(a[5]), target_rss = 150 + keymean;
	static char lbl_t[64], lbl_r[64];
	char probe[600], path[600];
	int rt0, rtn, rr0, rrn, rper;
	FILE *csv;

	snprintf(T[0].name, sizeof(T[0].name), "recfs");
	nt = 1;
	snprintf(lbl_t, sizeof(lbl_t), "reopen, %ld records", n);
	snprintf(lbl_r, sizeof(lbl_r), "RSS, %ld records", n);
	rt0 = row_of("reopen, empty store", "s");
	rtn = row_of(lbl_t, "s");
	rr0 = row_of("RSS, empty store", "KiB");
	rrn = row_of(lbl_r, "KiB");
	rper = row_of("RSS per record", "B");
	/* mkstore's first key: one record deep in a directory. */
	snprintf(probe, sizeof(probe), "%s/d0000/r0000000", mnt);
	for (int rep = 0; rep < reps; rep++) {
		double s0 = 0, sn = 0;
		long k0 = 0, kn = 0;
		int rc;
		fprintf(stderr, "bench: reopen, run %d of %d\n", rep + 1, reps);
		if ((rc = reopen_once(recfs, empty, mnt, NULL, &s0, &k0)) < 0)
			fail(0, rt0, empty, -rc);
		if ((rc = reopen_once(recfs, full, mnt, probe, &sn, &kn)) < 0)
			fail(0, rtn, full, -rc);
		R[rt0].v[0][rep] = s0;
		R[rtn].v[0][rep] = sn;
		R[rr0].v[0][rep] = (double)k0;
		R[rrn].v[0][rep] = (double)kn;
		R[rper].v[0][rep] = (double)(kn - k0) * 1024.0 / (double)n;
	}

	snprintf(path, sizeof(path), "%s/reopen.csv", outdir);
	if (!(csv = fopen(path, "w")))
		die("%s: %s", path, strerror(errno));
	fprintf(csv, "metric,unit,median");
	for (int i = 0; i < reps; i++)
		fprintf(csv, ",run%d", i + 1);
	fprintf(csv, ",target,errors\n");
	printf("\n%-28s %-6s %14s %14s %8s\n", "reopen", "unit", "recfs",
	       "target", "verdict");
	for (int ri = 0; ri < nrows; ri++) {
		const char *name = R[ri].name;
		double m = median(ri, 0), tgt = 0;
		char ts[32] = "", verdict[16] = "";
		if (ri == rtn) {
			/* The target is for 1,000,000 records. */
			if (n == 1000000) {
				tgt = 1.0;
				snprintf(ts, sizeof(ts), "<= 1.000");
			} else {
				snprintf(ts, sizeof(ts), "(1M only)");
			}
		} else if (ri == rper) {
			tgt = target_rss;
			snprintf(ts, sizeof(ts), "<= %.0f", tgt);
		}
		if (tgt > 0)
			snprintf(verdict, sizeof(verdict), "%s",
				 m <= tgt ? "met" : "MISSED");
		if (strcmp(R[ri].unit, "s") == 0)
			printf("%-28s %-6s %13.3f%c %14s %8s\n", name,
			       R[ri].unit, m, R[ri].errs[0] ? '!' : ' ', ts,
			       verdict);
		else
			printf("%-28s %-6s %13.0f%c %14s %8s\n", name,
			       R[ri].unit, m, R[ri].errs[0] ? '!' : ' ', ts,
			       verdict);
		fprintf(csv, "\"%s\",%s,%.4f", name, R[ri].unit, m);
		for (int i = 0; i < reps; i++)
			fprintf(csv, ",%.4f", R[ri].v[0][i]);
		fprintf(csv, ",%s,%ld\n", tgt > 0 ? ts : "", R[ri].errs[0]);
	}
	printf("%-28s %-6s %14.1f %14s\n", "mean key length", "B", keymean,
	       "");
	fprintf(csv, "\"mean key length\",B,%.2f", keymean);
	for (int i = 0; i < reps; i++)
		fprintf(csv, ",%.2f", keymean);
	fprintf(csv, ",,0\n");
	fclose(csv);
	printf("(RSS per record: the daemon's VmRSS on the full store less "
	       "on an empty one, / %ld;\n target: 150 bytes plus the mean "
	       "key)\n", n);
}

/* ---- FUSE requests per operation (workload 12) --------------------------- */

/* Counted from the daemons' -d output, which libfuse prints as one line
 * per request: "unique: N, opcode: NAME (n), nodeid: ...". */
#define MAXOP 48
static char opname[MAXOP][24];
static int nop;
static long reqs[NW][MAXT][MAXOP];
static int first_seen[NW][MAXT][MAXOP]; /* 1 + order of first sighting */
static int nops[NW];
static char logdir[400];

static void log_path(char *out, size_t n, int ti)
{
	if (snprintf(out, n, "%s/%s.log", logdir, T[ti].name) >= (int)n)
		die("log path too long");
}

static int op_index(const char *name, size_t len)
{
	for (int i = 0; i < nop; i++)
		if (strlen(opname[i]) == len && strncmp(opname[i], name, len) == 0)
			return i;
	if (nop == MAXOP || len >= sizeof(opname[0]))
		return -ENOSPC;
	memcpy(opname[nop], name, len);
	opname[nop][len] = 0;
	return nop++;
}

/* Wait until the log has not grown for 0.2 s: the kernel sends RELEASE
 * and FORGET after the call that caused them has returned. */
static int settle(int ti, off_t *size)
{
	char path[600];
	double t0 = now(), since = t0;
	off_t last = -1;

	log_path(path, sizeof(path), ti);
	for (;;) {
		struct stat st;
		if (stat(path, &st) < 0)
			return -errno;
		if (st.st_size != last) {
			last = st.st_size;
			since = now();
		} else if (now() - since >= 0.2) {
			break;
		}
		if (now() - t0 > 30)
			return -ETIMEDOUT;
		usleep(20000);
	}
	*size = last;
	return 0;
}

/* Calls @fn with the opcode name and node id of every request that the
 * daemon of @ti logged between the offsets @from and @to. */
static int scan_log(int ti, off_t from, off_t to,
		    int (*fn)(void *ctx, const char *op, size_t oplen,
			      uint64_t node),
		    void *ctx)
{
	char path[600], *buf = NULL, *line, *end;
	size_t len = (size_t)(to - from);
	int fd, rc = 0;

	log_path(path, sizeof(path), ti);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	buf = malloc(len + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	if (pread(fd, buf, len, from) != (ssize_t)len) {
		rc = -EIO;
		goto out;
	}
	buf[len] = 0;
	for (line = buf; line && *line && !rc; line = end ? end + 1 : NULL) {
		char *op, *sp, *nd;
		end = strchr(line, '\n');
		if (end)
			*end = 0;
		/* Replies are indented; requests start the line. */
		if (strncmp(line, "unique: ", 8) != 0 ||
		    !(op = strstr(line, ", opcode: ")))
			continue;
		op += 10;
		sp = strchr(op, ' ');
		nd = strstr(op, ", nodeid: ");
		if (!sp || !nd)
			continue;
		rc = fn(ctx, op, (size_t)(sp - op), strtoull(nd + 10, NULL, 10));
	}
out:
	free(buf);
	close(fd);
	return rc;
}

static uint64_t dir_node[MAXT]; /* the workloads' directory, per target */

static int find_getxattr(void *ctx, const char *op, size_t oplen,
			 uint64_t node)
{
	if (oplen == 8 && strncmp(op, "GETXATTR", 8) == 0)
		*(uint64_t *)ctx = node;
	return 0;
}

/* Learn the node id of the workloads' directory on @ti from a getxattr
 * of it, so that requests on it can be told from those on records. */
static int probe_dir(int ti, const char *dir)
{
	char p[600], v[8];
	off_t a, b;
	int rc;

	snprintf(p, sizeof(p), "%s/%s", T[ti].where, dir);
	if ((rc = settle(ti, &a)) < 0)
		return rc;
	if (getxattr(p, "user.bench-probe", v, sizeof(v)) < 0 &&
	    errno != ENODATA)
		return -errno;
	if ((rc = settle(ti, &b)) < 0)
		return rc;
	dir_node[ti] = 0;
	rc = scan_log(ti, a, b, find_getxattr, &dir_node[ti]);
	return rc < 0 ? rc : dir_node[ti] ? 0 : -ENOENT;
}

struct count_ctx {
	int wi, ti, seq;
};

static int count_one(void *ctx, const char *op, size_t oplen, uint64_t node)
{
	struct count_ctx *c = ctx;
	char name[sizeof(opname[0])];
	const char *where = node == 1 ? "(root)"
			  : node == dir_node[c->ti] ? "(dir)" : "";
	int oi;

	if (snprintf(name, sizeof(name), "%.*s%s", (int)oplen, op, where) >=
	    (int)sizeof(name))
		return -ENAMETOOLONG;
	oi = op_index(name, strlen(name));
	if (oi < 0)
		return oi;
	if (reqs[c->wi][c->ti][oi]++ == 0)
		first_seen[c->wi][c->ti][oi] = ++c->seq;
	return 0;
}

static int count_requests(int wi, int ti, off_t from, off_t to)
{
	struct count_ctx c = { wi, ti, 0 };
	return scan_log(ti, from, to, count_one, &c);
}

static double per_op(int wi, int ti, int oi)
{
	return (double)reqs[wi][ti][oi] / (double)nops[wi];
}

static void fmt_count(char *out, size_t n, double v)
{
	if (v - (double)(long)(v + 0.5) > -0.005 &&
	    v - (double)(long)(v + 0.5) < 0.005)
		snprintf(out, n, "%ld", (long)(v + 0.5));
	else
		snprintf(out, n, "%.2f", v);
}

/* The opcodes of one workload on one target, in the order first seen. */
static void by_opcode(char *out, size_t n, int wi, int ti, double *total)
{
	int order[MAXOP], k = 0;
	size_t o = 0;

	*total = 0;
	for (int oi = 0; oi < nop; oi++)
		if (reqs[wi][ti][oi])
			order[k++] = oi;
	for (int i = 1; i < k; i++)
		for (int j = i; j > 0 && first_seen[wi][ti][order[j]] <
					     first_seen[wi][ti][order[j - 1]]; j--) {
			int x = order[j];
			order[j] = order[j - 1];
			order[j - 1] = x;
		}
	out[0] = 0;
	for (int i = 0; i < k && o < n; i++) {
		char c[32];
		fmt_count(c, sizeof(c), per_op(wi, ti, order[i]));
		*total += per_op(wi, ti, order[i]);
		o += (size_t)snprintf(out + o, n - o, "%s%s %s", i ? ", " : "",
				      opname[order[i]], c);
	}
}

/* bench requests OUTDIR LOGDIR NAME=KIND:WHERE ...  (the daemon of NAME
 * runs with -d, its stderr in LOGDIR/NAME.log) */
static void requests_main(const char *outdir)
{
	const char *dir = "req";
	int rf = target_named("recfs"), fl = target_named("floor"), extra = 0;
	char path[600];
	FILE *txt, *csv;

	make_dirs(dir);
	for (int ti = 0; ti < nt; ti++) {
		int rc = probe_dir(ti, dir);
		if (rc < 0)
			die("%s: no GETXATTR of %s in its log: %s", T[ti].name,
			    dir, strerror(-rc));
	}
	for (int wi = 0; wi < NW; wi++) {
		const struct workload *w = &W[wi];
		int r = row_of(w->name, w->unit);
		nops[wi] = w->big ? (int)(bigsz / BIGCHUNK) : nrec;
		fprintf(stderr, "bench: requests, %s\n", w->name);
		for (int ti = 0; ti < nt; ti++) {
			off_t from, to;
			int rc;
			if (w->setup)
				w->setup(ti, r, dir);
			if ((rc = settle(ti, &from)) < 0)
				die("%s: log: %s", T[ti].name, strerror(-rc));
			w->body(ti, r, dir);
			if ((rc = settle(ti, &to)) < 0 ||
			    (rc = count_requests(wi, ti, from, to)) < 0)
				die("%s: log: %s", T[ti].name, strerror(-rc));
		}
	}
	remove_dirs(dir);

	snprintf(path, sizeof(path), "%s/requests.txt", outdir);
	txt = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/requests.csv", outdir);
	csv = fopen(path, "w");
	if (!txt || !csv)
		die("%s: %s", path, strerror(errno));
	fprintf(csv, "workload,target,opcode,requests,ops,per_op\n");
	fprintf(txt, "\nrequests per operation (%d operations of each "
		     "workload; seq: per 1 MiB call of %zu MiB)\n",
		nrec, bigsz >> 20);
	fprintf(txt, "(NAME(dir): on the workload's directory, NAME(root): on "
		     "the mount's root, NAME: on a record)\n");
	fprintf(txt, "%-20s %-14s %6s  %s\n", "workload", "target", "total",
		"by opcode, in the order first seen");
	for (int wi = 0; wi < NW; wi++) {
		for (int ti = 0; ti < nt; ti++) {
			char list[1024], c[32];
			double total;
			int r = row_of(W[wi].name, W[wi].unit);
			by_opcode(list, sizeof(list), wi, ti, &total);
			fmt_count(c, sizeof(c), total);
			fprintf(txt, "%-20s %-14s %5s%c  %s\n",
				ti ? "" : W[wi].name, T[ti].name, c,
				R[r].errs[ti] ? '!' : ' ', list);
			for (int oi = 0; oi < nop; oi++)
				if (reqs[wi][ti][oi])
					fprintf(csv, "\"%s\",%s,%s,%ld,%d,%.4f\n",
						W[wi].name, T[ti].name,
						opname[oi], reqs[wi][ti][oi],
						nops[wi], per_op(wi, ti, oi));
			fprintf(csv, "\"%s\",%s,total,%.0f,%d,%.4f\n",
				W[wi].name, T[ti].name, total * nops[wi],
				nops[wi], total);
		}
		if (rf < 0 || fl < 0)
			continue;
		/* Where recfs asks the kernel for more than the floor does
		 * (a difference under 0.05 per operation is a directory's
		 * lookup or a stray eviction, not the workload's).  FORGET
		 * and BATCH_FORGET count together: the kernel decides how
		 * it batches the same forgets. */
		{
			char list[1024] = "";
			size_t o = 0;
			int fo = -1, bfo = -1;
			for (int oi = 0; oi < nop; oi++) {
				if (strcmp(opname[oi], "FORGET") == 0)
					fo = oi;
				if (strcmp(opname[oi], "BATCH_FORGET") == 0)
					bfo = oi;
			}
			for (int oi = 0; oi < nop; oi++) {
				double d = per_op(wi, rf, oi) - per_op(wi, fl, oi);
				char c[32];
				if (oi == bfo && fo >= 0)
					continue;
				if (oi == fo && bfo >= 0)
					d += per_op(wi, rf, bfo) - per_op(wi, fl, bfo);
				if (d < 0.05 || o >= sizeof(list))
					continue;
				fmt_count(c, sizeof(c), d);
				o += (size_t)snprintf(list + o, sizeof(list) - o,
						      "%s%s +%s", o ? ", " : "",
						      opname[oi], c);
			}
			if (o) {
				fprintf(txt, "%-20s %-14s %6s  recfs > floor: %s\n",
					"", "FLAG", "", list);
				extra++;
			}
		}
	}
	if (rf >= 0 && fl >= 0)
		fprintf(txt, "recfs makes requests the floor does not in %d "
			     "of %d workloads\n", extra, NW);
	fclose(csv);
	fclose(txt);
}

/* ---- main ----------------------------------------------------------------- */

static void parse_target(const char *arg)
{
	struct target *t = &T[nt];
	const char *eq = strchr(arg, '='), *co;
	static const char *kinds[] = { "recfs", "floor", "plain", "psync",
				       "sqlite", "etcd", "fsync" };
	size_t kl;
	int k;

	if (nt == MAXT)
		die("too many targets");
	co = eq ? strchr(eq, ':') : NULL;
	if (!eq || !co || (size_t)(eq - arg) >= sizeof(t->name))
		die("bad target '%s' (NAME=KIND:WHERE)", arg);
	memcpy(t->name, arg, (size_t)(eq - arg));
	kl = (size_t)(co - eq - 1);
	for (k = 0; k < 7; k++)
		if (strlen(kinds[k]) == kl && strncmp(eq + 1, kinds[k], kl) == 0)
			break;
	if (k == 7)
		die("unknown kind in '%s'", arg);
	t->kind = (enum kind)k;
	snprintf(t->where, sizeof(t->where), "%s", co + 1);
	if (t->kind <= K_PSYNC && strchr(t->where, ',')) {
		char *comma = strchr(t->where, ',');
		*comma = 0;
		snprintf(t->where2, sizeof(t->where2), "%s", comma + 1);
	}
	if (t->kind == K_RECFS || t->kind == K_FLOOR) {
		t->vname = "user.version";
		t->ename = "user.expected_version";
	} else {
		t->vname = "user.v";
		t->ename = "user.e";
	}
	if (t->kind == K_ETCD) {
		char *c = strrchr(t->where, ':');
		if (!c)
			die("etcd target needs HOST:PORT");
		size_t hl = (size_t)(c - t->where);
		if (hl >= sizeof(t->host))
			die("etcd host too long");
		memcpy(t->host, t->where, hl);
		t->host[hl] = 0;
		t->port = atoi(c + 1);
	}
	nt++;
}

int main(int argc, char **argv)
{
	const char *q = getenv("QUICK");
	int quick = q && *q && strcmp(q, "0") != 0, first = 3;
	const char *mode, *outdir;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4)
		die("usage: bench speed|durable|shared OUTDIR NAME=KIND:WHERE ...\n"
		    "       bench requests OUTDIR LOGDIR NAME=KIND:WHERE ...\n"
		    "       bench reopen OUTDIR RECFS MNT EMPTY FULL N KEYMEAN");
	mode = argv[1];
	outdir = argv[2];
	reps = quick ? 3 : 5;
	twarm = quick ? QUICK_TWARM : TWARM;
	/* For looking into the warm-up itself. */
	if (getenv("BENCH_WARM_S") && atof(getenv("BENCH_WARM_S")) >= 0)
		twarm = atof(getenv("BENCH_WARM_S"));
	nrec = quick ? 2000 : 10000;
	bigsz = (size_t)(quick ? 64 : 256) << 20;
	/* For looking into the big record alone at other sizes. */
	if (getenv("BENCH_BIG_MIB") && atol(getenv("BENCH_BIG_MIB")) > 0)
		bigsz = (size_t)atol(getenv("BENCH_BIG_MIB")) << 20;
	if (strcmp(mode, "reopen") == 0) {
		if (argc != 9)
			die("usage: bench reopen OUTDIR RECFS MNT EMPTY FULL N "
			    "KEYMEAN");
		reopen_main(outdir, argv + 3);
		return 0;
	}
	if (strcmp(mode, "requests") == 0) {
		snprintf(logdir, sizeof(logdir), "%s", argv[3]);
		first = 4;
		/* Few operations: every request is a line of -d output. */
		nrec = REQ_N;
		bigsz = (size_t)REQ_BIG_MIB << 20;
	}
	for (int i = first; i < argc; i++)
		parse_target(argv[i]);
	for (size_t i = 0; i < RECSZ; i++)
		rec_data[i] = (char)('a' + i % 26);
	b64(etcd_val, rec_data, RECSZ);

	if (strcmp(mode, "speed") == 0 || strcmp(mode, "requests") == 0) {
		vers = calloc((size_t)nt * (size_t)nrec, sizeof(*vers));
		/* Page-aligned: an unaligned 1 MiB write is split by the
		 * kernel into two FUSE WRITEs on every FUSE target. */
		big_buf = aligned_alloc(4096, BIGCHUNK);
		if (!vers || !big_buf)
			die("out of memory");
		memset(big_buf, 'b', BIGCHUNK);
	}
	if (strcmp(mode, "requests") == 0) {
		requests_main(outdir);
	} else if (strcmp(mode, "speed") == 0) {
		int rc1, rc2, rr2;
		tdur = quick ? QUICK_TDUR : 2.0;
		for (int ti = 0; ti < nt; ti++)
			conc_prepare(&T[ti], "conc");
		for (int rep = 0; rep < reps; rep++) {
			fprintf(stderr, "bench: speed, run %d of %d\n", rep + 1,
				reps);
			speed_rep(rep);
			/* workload 9 */
			rc1 = row_of("8 thr, 8 records", "com/s");
			rc2 = row_of("8 thr, 1 record", "com/s");
			rr2 = row_of("8 thr, 1 record refused", "ref/s");
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, NTHR, 0, "conc", rc1, -1);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, NTHR, 1, "conc", rc2, rr2);
		}
		report(outdir, "speed", "passthrough_ll", "floor");
		verdicts(outdir, "speed");
	} else if (strcmp(mode, "durable") == 0) {
		int r1 = row_of("1 thr, 1 record", "com/s");
		int r8 = row_of("8 thr, 8 records", "com/s");
		int rs = row_of("8 thr, 1 record", "com/s");
		int rsr = row_of("8 thr, 1 record refused", "ref/s");
		tdur = quick ? QUICK_TDUR : 3.0;
		for (int ti = 0; ti < nt; ti++)
			conc_prepare(&T[ti], "dur");
		for (int rep = 0; rep < reps; rep++) {
			fprintf(stderr, "bench: durable, run %d of %d\n",
				rep + 1, reps);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, 1, 0, "dur", r1, -1);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, NTHR, 0, "dur", r8, -1);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, NTHR, 1, "dur", rs, rsr);
		}
		report(outdir, "durable", "passthrough_ll", "sqlite");
		verdicts(outdir, "durable");
	} else if (strcmp(mode, "shared") == 0) {
		int r1 = row_of("1 writer", "com/s");
		int r32 = row_of("32 writers, 32 records", "com/s");
		int rs = row_of("32 writers, 1 record", "com/s");
		int rsr = row_of("32 writers, 1 record refused", "ref/s");
		tdur = quick ? QUICK_TDUR : 3.0;
		for (int ti = 0; ti < nt; ti++)
			conc_prepare(&T[ti], "shr");
		for (int rep = 0; rep < reps; rep++) {
			fprintf(stderr, "bench: shared, run %d of %d\n",
				rep + 1, reps);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, 1, 0, "shr", r1, -1);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, MAXW, 0, "shr", r32, -1);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, MAXW, 1, "shr", rs, rsr);
		}
		report(outdir, "shared", "etcd", "local");
	} else {
		die("unknown mode '%s'", mode);
	}
	for (int ti = 0; ti < nt; ti++)
		sqlite3_close(sql_keep[ti]); /* NULL is a no-op */
	return 0;
}

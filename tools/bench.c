/* bench - recfs against tmpfs, libfuse's passthrough_ll, a zero-work floor,
 * SQLite and etcd (issue 8).  scripts/bench/run.sh mounts the targets and
 * calls this; nothing here runs a shell, and every timed loop is system
 * calls between two clock_gettime(CLOCK_MONOTONIC) reads.
 *
 *   bench speed|durable OUTDIR NAME=KIND:WHERE ...
 *
 * KIND is how a target is driven:
 *   recfs  a directory on recfs: user.version, user.expected_version
 *   floor  a directory on floorfs: the same names, no check behind them
 *   plain  any other directory: the same calls on user.v and user.e
 *   psync  plain, with fdatasync before each close of a changed file
 *   sqlite a directory for a SQLite database (lock_version column)
 *   etcd   HOST:PORT of etcd's v3 JSON gateway (mod_revision compare)
 *   fsync  a directory: pwrite 1 KB + fdatasync, the disk's bare rate
 *
 * Workloads run interleaved: for each repetition, for each workload, every
 * target in turn (A B C D A B C D ...).  The figure is the median.
 * QUICK=1 in the environment: 3 repetitions and smaller counts.
 * Output: a table on stdout and OUTDIR/{speed,durable}.csv, plus
 * OUTDIR/{speed,durable}_ratios.dat for the chart.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define RECSZ 1024
#define NTHR 8
#define MAXT 8
#define MAXROW 16
#define MAXREP 5

enum kind { K_RECFS, K_FLOOR, K_PLAIN, K_PSYNC, K_SQLITE, K_ETCD, K_FSYNC };

struct target {
	char name[64];
	enum kind kind;
	char where[512];
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
static double tdur;
static char rec_data[RECSZ];
static char *big_buf;
#define BIGCHUNK (1u << 20)

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

static uint64_t *vers;

static void speed_rep(int rep)
{
	char dir[32], p[600], q[600];
	int r;

	snprintf(dir, sizeof(dir), "w%d", rep);
	for (int ti = 0; ti < nt; ti++) {
		snprintf(p, sizeof(p), "%s/%s", T[ti].where, dir);
		if (mkdir(p, 0755) < 0)
			die("mkdir %s: %s", p, strerror(errno));
	}

#define TIMED(ROW, UNIT, SETUP, BODY, AMOUNT)                                  \
	r = row_of(ROW, UNIT);                                                 \
	for (int ti = 0; ti < nt; ti++) {                                      \
		const struct target *t = &T[ti];                               \
		double t0, el;                                                 \
		(void)t;                                                       \
		SETUP;                                                         \
		t0 = now();                                                    \
		BODY;                                                          \
		el = now() - t0;                                               \
		R[r].v[ti][rep] = (AMOUNT) / el;                               \
	}

	/* 1. create */
	TIMED("create 1KB", "ops/s", (void)0,
	      for (int i = 0; i < nrec; i++) {
		      int rc;
		      path_of(p, sizeof(p), t, dir, "r", i);
		      if ((rc = put_file(t, p, O_CREAT | O_EXCL)) < 0)
			      fail(ti, r, p, -rc);
	      }, nrec);

	/* 2. read, warm: one untimed pass first (and plain targets get
	 * their user.v). */
	TIMED("read 1KB warm", "ops/s",
	      for (int i = 0; i < nrec; i++) {
		      char b[4096];
		      int fd;
		      path_of(p, sizeof(p), t, dir, "r", i);
		      seed_version(t, p);
		      if ((fd = open(p, O_RDONLY)) >= 0) {
			      if (read(fd, b, sizeof(b)) < 0)
				      fail(ti, r, p, errno);
			      close(fd);
		      }
	      },
	      for (int i = 0; i < nrec; i++) {
		      char b[4096];
		      int fd;
		      path_of(p, sizeof(p), t, dir, "r", i);
		      fd = open(p, O_RDONLY);
		      if (fd < 0) {
			      fail(ti, r, p, errno);
			      continue;
		      }
		      if (read(fd, b, sizeof(b)) != RECSZ)
			      fail(ti, r, p, errno ? errno : EIO);
		      close(fd);
	      }, nrec);

	/* 3. versioned update */
	TIMED("versioned update", "ops/s", (void)0,
	      for (int i = 0; i < nrec; i++) {
		      int rc;
		      path_of(p, sizeof(p), t, dir, "r", i);
		      if ((rc = fs_update(t, p)) < 0)
			      fail(ti, r, p, -rc);
	      }, nrec);

	/* 4. getxattr user.version (kept for 6 and 7) */
	TIMED("getxattr version", "ops/s", (void)0,
	      for (int i = 0; i < nrec; i++) {
		      int rc;
		      path_of(p, sizeof(p), t, dir, "r", i);
		      if ((rc = get_version(t, p, &vers[ti * nrec + i])) < 0)
			      fail(ti, r, p, -rc);
	      }, nrec);

	/* 5. stat, warm: one untimed pass first (a write leaves the
	 * attributes stale in the kernel on every FUSE target). */
	TIMED("stat warm", "ops/s",
	      for (int i = 0; i < nrec; i++) {
		      struct stat st;
		      path_of(p, sizeof(p), t, dir, "r", i);
		      stat(p, &st);
	      },
	      for (int i = 0; i < nrec; i++) {
		      struct stat st;
		      path_of(p, sizeof(p), t, dir, "r", i);
		      if (stat(p, &st) < 0)
			      fail(ti, r, p, errno);
	      }, nrec);

	/* 6. rename-over: write a temporary, declare, rename onto the
	 * record. */
	TIMED("rename-over", "ops/s", (void)0,
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
			      fail(ti, r, p, -rc);
	      }, nrec);

	/* 7. unlink: declare the version read (untimed) and unlink. */
	TIMED("unlink", "ops/s",
	      for (int i = 0; i < nrec; i++) {
		      path_of(p, sizeof(p), t, dir, "r", i);
		      seed_version(t, p);
		      if (get_version(t, p, &vers[ti * nrec + i]) < 0)
			      vers[ti * nrec + i] = 0;
	      },
	      for (int i = 0; i < nrec; i++) {
		      int rc;
		      path_of(p, sizeof(p), t, dir, "r", i);
		      rc = declare(t, p, vers[ti * nrec + i]);
		      if (!rc && unlink(p) < 0)
			      rc = -errno;
		      if (rc < 0)
			      fail(ti, r, p, -rc);
	      }, nrec);

	/* 8. one big record, written then read sequentially */
	TIMED("seq write", "MB/s", path_of(p, sizeof(p), t, dir, "big", -1),
	      {
		      int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		      if (fd < 0) {
			      fail(ti, r, p, errno);
		      } else {
			      for (size_t off = 0; off < bigsz; off += BIGCHUNK)
				      if (write(fd, big_buf, BIGCHUNK) != BIGCHUNK) {
					      fail(ti, r, p, errno);
					      break;
				      }
			      if (close(fd) < 0)
				      fail(ti, r, p, errno);
		      }
	      }, (double)bigsz / 1e6);
	TIMED("seq read", "MB/s", path_of(p, sizeof(p), t, dir, "big", -1),
	      {
		      int fd = open(p, O_RDONLY);
		      size_t got = 0;
		      ssize_t n;
		      if (fd < 0) {
			      fail(ti, r, p, errno);
		      } else {
			      while ((n = read(fd, big_buf, BIGCHUNK)) > 0)
				      got += (size_t)n;
			      if (n < 0 || got != bigsz)
				      fail(ti, r, p, n < 0 ? errno : EIO);
			      close(fd);
		      }
	      }, (double)bigsz / 1e6);

	/* Untimed cleanup. */
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
#undef TIMED
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
	int rec;         /* record index; NTHR means the shared one */
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

static int conn_open(struct conn *c, const struct target *t, int rec,
		     const char *dir)
{
	memset(c, 0, sizeof(*c));
	c->t = t;
	c->rec = rec;
	c->fd = -1;
	if (is_fs(t)) {
		path_of(c->path, sizeof(c->path), t, dir, rec == NTHR ? "s" : "c",
			rec == NTHR ? -1 : rec);
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
		for (int i = 0; i <= NTHR; i++) {
			path_of(p, sizeof(p), t, dir, i == NTHR ? "s" : "c",
				i == NTHR ? -1 : i);
			if (put_file(t, p, O_CREAT | O_EXCL) < 0 ||
			    seed_version(t, p) < 0)
				die("%s: %s", p, strerror(errno));
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
		for (int i = 0; i <= NTHR; i++) {
			char q[128];
			snprintf(q, sizeof(q),
				 "INSERT INTO t VALUES(%d, zeroblob(%d), 1)", i,
				 RECSZ);
			if (sqlite3_exec(db, q, 0, 0, 0) != SQLITE_OK)
				die("sqlite: %s", sqlite3_errmsg(db));
		}
		sqlite3_close(db);
	} else if (t->kind == K_ETCD) {
		for (int i = 0; i <= NTHR; i++) {
			struct conn c;
			char body[4096];
			int ok = 0;
			/* etcd may still be starting: up to 30 s. */
			for (int tries = 0; tries < 300 && !ok; tries++) {
				if (conn_open(&c, t, i, dir) == 0) {
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
	long commits, refusals, errors;
	int first_err;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(w->bar);
	while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
		int rc = conn_update(&w->c);
		if (rc == 0) {
			w->commits++;
		} else if (refused(rc)) {
			w->refusals++;
		} else {
			if (!w->errors++)
				w->first_err = -rc;
		}
	}
	return NULL;
}

/* nthr threads of versioned updates for tdur seconds, each on its own
 * record, or all on the shared one.  Rows get commits/s (and
 * refusals/s when shared). */
static void conc_run(int ti, int rep, int nthr, int shared, const char *dir,
		     int rcommit, int rrefuse)
{
	struct worker w[NTHR];
	pthread_t th[NTHR];
	pthread_barrier_t bar;
	atomic_int stop = 0;
	long commits = 0, refusals = 0;
	double t0, el;

	pthread_barrier_init(&bar, NULL, (unsigned)nthr + 1);
	for (int i = 0; i < nthr; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		if (conn_open(&w[i].c, &T[ti], shared ? NTHR : i, dir) < 0)
			die("%s: cannot open its connection", T[ti].name);
		w[i].bar = &bar;
		w[i].stop = &stop;
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	pthread_barrier_wait(&bar);
	t0 = now();
	{
		struct timespec ts = { (time_t)tdur,
				       (long)((tdur - (double)(time_t)tdur) * 1e9) };
		nanosleep(&ts, NULL);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < nthr; i++) {
		pthread_join(th[i], NULL);
		commits += w[i].commits;
		refusals += w[i].refusals;
		if (w[i].errors)
			fail(ti, rcommit, "update", w[i].first_err);
		conn_close(&w[i].c);
	}
	el = now() - t0;
	pthread_barrier_destroy(&bar);
	R[rcommit].v[ti][rep] = (double)commits / el;
	if (rrefuse >= 0)
		R[rrefuse].v[ti][rep] = (double)refusals / el;
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
	int quick = q && *q && strcmp(q, "0") != 0;
	const char *mode, *outdir;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4)
		die("usage: bench speed|durable OUTDIR NAME=KIND:WHERE ...");
	mode = argv[1];
	outdir = argv[2];
	for (int i = 3; i < argc; i++)
		parse_target(argv[i]);
	reps = quick ? 3 : 5;
	nrec = quick ? 2000 : 10000;
	bigsz = (size_t)(quick ? 64 : 256) << 20;
	for (size_t i = 0; i < RECSZ; i++)
		rec_data[i] = (char)('a' + i % 26);
	b64(etcd_val, rec_data, RECSZ);

	if (strcmp(mode, "speed") == 0) {
		int rc1, rc2, rr2;
		tdur = quick ? 0.5 : 2.0;
		vers = calloc((size_t)nt * (size_t)nrec, sizeof(*vers));
		big_buf = malloc(BIGCHUNK);
		if (!vers || !big_buf)
			die("out of memory");
		memset(big_buf, 'b', BIGCHUNK);
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
	} else if (strcmp(mode, "durable") == 0) {
		int r1 = row_of("1 thr, 1 record", "com/s");
		int r8 = row_of("8 thr, 8 records", "com/s");
		int rs = row_of("8 thr, 1 record", "com/s");
		int rsr = row_of("8 thr, 1 record refused", "ref/s");
		tdur = quick ? 0.5 : 3.0;
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
	} else {
		die("unknown mode '%s'", mode);
	}
	return 0;
}

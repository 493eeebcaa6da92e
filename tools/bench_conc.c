/* bench_conc.c - build/bench: concurrent versioned updates
 * (workload 9, the durable and the shared parts). */
#include "bench.h"

static const char b64tab[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64(char *out, const void *in, size_t n)
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

char etcd_val[RECSZ * 2];

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

/* Close what conc_prepare() kept open. */
void conc_finish(void)
{
	for (int ti = 0; ti < nt; ti++) {
		sqlite3_close(sql_keep[ti]); /* NULL is a no-op */
		sql_keep[ti] = NULL;
	}
}

/* Create the records of the concurrent workloads (untimed). */
void conc_prepare(const struct target *t, const char *dir)
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
void conc_run(int ti, int rep, int nthr, int shared, const char *dir,
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
		long refusals;
		pthread_join(th[i], NULL);
		refusals = atomic_load(&w[i].refusals);
		/* fail() counts one; the errors column counts operations,
		 * as in the single-threaded rows. */
		if (w[i].errors) {
			fail(ti, rcommit, "update", w[i].first_err);
			R[rcommit].errs[ti] += w[i].errors - 1;
		}
		/* A thread on a record of its own races nobody: a refusal
		 * there is the target's failure.  The row has no refusals
		 * column, and it only lowered the commits, unseen. */
		if (rrefuse < 0 && refusals) {
			fail(ti, rcommit, "update refused on its own record",
			     EAGAIN);
			R[rcommit].errs[ti] += refusals - 1;
		}
		conn_close(&w[i].c);
	}
	pthread_barrier_destroy(&bar);
	R[rcommit].v[ti][rep] = (double)(c1 - c0) / el;
	if (rrefuse >= 0)
		R[rrefuse].v[ti][rep] = (double)(r1 - r0) / el;
}

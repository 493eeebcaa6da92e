/* read.c - the public reads: a record's stat and last version, snapshots
 * of a version (what a FUSE reader reads), whole gets, listings, history
 * and totals.  A local store reads under idx_lock; an etcd store answers
 * from its cache (etcd_*.c). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <xxhash.h>

#include "etcd_store.h"
#include "log.h"
#include "store_int.h"

struct store_snap {
	int fd;          /* -1 when the content is in mem */
	uint64_t base;
	char *mem;       /* a small version, copied at open */
	struct store_stat stat;
	struct snap_check *chk; /* NULL: not checked (etcd, or in mem) */
};

/* A local version's bytes are checked against its content hash as they
 * are read: a small one whole at open (snap_copy), a larger one as a
 * reader reads it in order from its start, so that the read that
 * reaches its end fails with EIO if a byte of the file changed after
 * it was written (the log's checksums are checked at open only, a
 * blob's never before 2026-12-06).  Reads out of order are not checked;
 * recctl fsck checks everything.  Every copy the store makes of a
 * version (a partial write's base, a rename of an inline version,
 * compaction) reads it whole, so damage is not copied into a version
 * with a hash that matches it. */
struct snap_check {
	pthread_mutex_t mu;
	uint64_t next;   /* bytes [0, next) are in x */
	int bad;         /* they did not match: every read fails */
	XXH3_state_t *x;
	char *what;      /* the version and its file, for the message */
};

static void check_free(struct snap_check *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->mu);
	XXH3_freeState(c->x);
	free(c->what);
	free(c);
}

/* @v of @key and the file that holds it, for a message. */
static void ver_what(const struct store *st, const char *key,
		     const struct ver *v, char *buf, size_t n)
{
	if (ver_blob(v))
		snprintf(buf, n, "%s: '%s' version %" PRIu64
			 " (blobs/%016" PRIx64 ")", st->dir, key, v->version,
			 ver_blob(v));
	else
		snprintf(buf, n, "%s: '%s' version %" PRIu64
			 " (segment %016" PRIx32 ", offset %" PRIu64 ")",
			 st->dir, key, v->version, v->seg,
			 ver_content_off(v));
}

static void report_damage(const char *what)
{
	fprintf(stderr, "recfs: %s: the content does not match its hash: "
		"the store is damaged (recctl fsck tells more)\n", what);
}

/* A check from the first byte, of the version @what names, or NULL
 * when there is no memory for one (the version is then read
 * unchecked). */
static struct snap_check *check_new(const char *what)
{
	struct snap_check *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->x = XXH3_createState();
	c->what = strdup(what);
	if (!c->x || !c->what) {
		XXH3_freeState(c->x);
		free(c->what);
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	XXH3_128bits_reset(c->x);
	return c;
}

int store_ver_check(const struct store *st, const char *key,
		    const struct ver *v, const void *data)
{
	char what[PATH_MAX + 128];
	uint8_t h[16];

	log_xxh128(data, (size_t)v->size, h);
	if (memcmp(h, v->hash, 16) == 0)
		return 0;
	ver_what(st, key, v, what, sizeof(what));
	report_damage(what);
	return -EIO;
}

/* Add @len bytes read at @off to @s's check.  @return 0, or -EIO once
 * the whole version has been read and did not match. */
static int check_read(struct store_snap *s, const void *buf, size_t len,
		      uint64_t off)
{
	struct snap_check *c = s->chk;
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	if (!c->bad && off <= c->next && off + len > c->next) {
		size_t skip = (size_t)(c->next - off);

		log_xxh128_update(c->x, (const char *)buf + skip, len - skip);
		c->next = off + len;
		if (c->next == s->stat.size) {
			XXH128_canonical_t h;

			XXH128_canonicalFromHash(&h,
						 XXH3_128bits_digest(c->x));
			if (memcmp(h.digest, s->stat.hash, 16) != 0) {
				c->bad = 1;
				report_damage(c->what);
			}
		}
	}
	if (c->bad)
		rc = -EIO;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* Versions up to this size are copied when a snapshot opens: a warm read
 * of a small record then costs no dup() and close() of the segment, and
 * its READ no pread().  Larger ones are read from a descriptor of their
 * own, which keeps a compacted segment readable. */
#define SNAP_COPY_MAX 4096
#define COPY_CHUNK (256 << 10) /* store_snap_check_rest()'s reads */

static void fill_stat(const struct index *ix, const struct node *n,
		      const struct ver *v, struct store_stat *out)
{
	memset(out, 0, sizeof(*out));
	out->meta = node_meta(ix, n);
	if (n->kind == K_DIR)
		out->subdirs = n->x->ndirs;
	if (v) {
		out->version = v->version;
		out->size = v->size;
		out->commit_ns = v->commit_ns;
		memcpy(out->hash, v->hash, 16);
	}
}

int store_stat(struct store *st, const char *key, struct store_stat *out)
{
	if (st->es)
		return es_stat(st->es, key, out);
	if (store_index_bad(st))
		return -EIO;
	struct node *n;
	int rc = key_check(key);

	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&st->idx_lock);
	n = store_live(st, key);
	if (!n)
		rc = -ENOENT;
	else
		fill_stat(&st->idx, n, n->kind == K_FILE ? node_newest(n) : NULL,
			  out);
	pthread_rwlock_unlock(&st->idx_lock);
	return rc;
}

int store_last_version(struct store *st, const char *key, uint64_t *version)
{
	if (st->es)
		return es_last_version(st->es, key, version);
	struct node *n;
	int rc = key_check(key);

	*version = 0; /* whatever is returned (store.h) */
	if (rc == 0 && store_index_bad(st))
		rc = -EIO;
	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&st->idx_lock);
	n = idx_get(&st->idx, key, strlen(key));
	if (n)
		*version = node_version(n);
	pthread_rwlock_unlock(&st->idx_lock);
	return 0;
}

/* An etcd store's snapshot is a copy in a memfd (etcd_ops.c). */
static int snap_es(struct store *st, const char *key, uint64_t version,
		   struct store_snap **out)
{
	struct store_snap *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	rc = es_snap_fd(st->es, key, version, &s->fd, &s->stat);
	if (rc < 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int store_snap_open(struct store *st, const char *key, uint64_t version,
		    struct store_snap **out)
{
	if (st->es)
		return snap_es(st, key, version, out);
	if (store_index_bad(st))
		return -EIO;
	struct store_snap *s;
	struct node *n;
	struct ver *v = NULL;
	int rc = key_check(key);

	if (rc < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_rwlock_rdlock(&st->idx_lock);
	n = idx_get(&st->idx, key, strlen(key));
	if (!n || (version == 0 && n->kind != K_FILE && n->kind != K_DIR))
		rc = -ENOENT;
	else if (n->kind == K_DIR && version == 0)
		rc = -EISDIR;
	else if (version == 0)
		v = node_newest(n);
	else {
		for (uint32_t i = 0; i < n->nvers; i++)
			if (node_vers(n)[i].version == version)
				v = &node_vers(n)[i];
		if (!v)
			rc = -ENOENT;
	}
	if (v) {
		fill_stat(&st->idx, n, v, &s->stat);
		if (ver_blob(v)) {
			s->fd = store_open_blob(st, ver_blob(v));
			s->base = 0;
			/* A missing blob stays -EIO (the store is damaged). */
			if (s->fd < 0)
				rc = s->fd == -EMFILE || s->fd == -ENFILE
					     ? -ENFILE
					     : -EIO;
		} else if (v->size <= SNAP_COPY_MAX) {
			ssize_t got = 0;
			s->fd = -1;
			s->mem = malloc(v->size ? v->size : 1);
			if (!s->mem)
				rc = -ENOMEM;
			else if (store_read_ver(st, v, s->mem, v->size, 0,
						&got) < 0 ||
				 (uint64_t)got != v->size)
				rc = -EIO;
			else
				rc = store_ver_check(st, key, v, s->mem);
		} else {
			int fd = store_seg_fd(st, v->seg);
			s->fd = fd < 0 ? -EIO : dup(fd);
			s->base = ver_content_off(v);
			if (fd >= 0 && s->fd < 0)
				rc = store_fd_errno(errno);
		}
		if (rc == 0 && s->fd < 0 && !s->mem)
			rc = -EIO;
		if (rc == 0 && !s->mem && v->size) {
			char what[PATH_MAX + 128];

			ver_what(st, key, v, what, sizeof(what));
			s->chk = check_new(what);
		}
	}
	pthread_rwlock_unlock(&st->idx_lock);
	if (rc < 0) {
		free(s->mem);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

ssize_t store_snap_read(struct store_snap *s, void *buf, size_t len,
			uint64_t off)
{
	size_t done = 0;

	if (off >= s->stat.size)
		return 0;
	if (len > s->stat.size - off)
		len = (size_t)(s->stat.size - off);
	if (s->mem) {
		memcpy(buf, s->mem + off, len);
		return (ssize_t)len;
	}
	while (done < len) {
		ssize_t n = pread(s->fd, (char *)buf + done, len - done,
				  (off_t)(s->base + off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	if (s->chk && check_read(s, buf, done, off) < 0)
		return -EIO;
	return (ssize_t)done;
}

int store_snap_check_rest(struct store_snap *s)
{
	char *buf;
	uint64_t off;
	int rc = 0;

	if (!s->chk)
		return 0;
	pthread_mutex_lock(&s->chk->mu);
	off = s->chk->next;
	rc = s->chk->bad ? -EIO : 0;
	pthread_mutex_unlock(&s->chk->mu);
	if (rc < 0 || off >= s->stat.size)
		return rc;
	buf = malloc(COPY_CHUNK);
	if (!buf)
		return -ENOMEM;
	while (rc == 0 && off < s->stat.size) {
		ssize_t n = store_snap_read(s, buf, COPY_CHUNK, off);

		if (n <= 0)
			rc = -EIO;
		off += n > 0 ? (uint64_t)n : 0;
	}
	free(buf);
	return rc;
}

void store_snap_stat(const struct store_snap *s, struct store_stat *out)
{
	*out = s->stat;
}

int store_snap_dup(const struct store_snap *s, struct store_snap **out)
{
	struct store_snap *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	*d = *s;
	d->mem = NULL;
	d->chk = NULL;
	if (s->mem) {
		d->mem = malloc(s->stat.size ? s->stat.size : 1);
		if (!d->mem) {
			free(d);
			return -ENOMEM;
		}
		memcpy(d->mem, s->mem, s->stat.size);
	} else {
		d->fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
		if (d->fd < 0) {
			int rc = errno == EMFILE || errno == ENFILE ? -ENFILE
								   : -ENOMEM;
			free(d);
			return rc;
		}
	}
	/* A check of its own, from the first byte (none without memory). */
	if (s->chk)
		d->chk = check_new(s->chk->what);
	*out = d;
	return 0;
}

void store_snap_close(struct store_snap *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	check_free(s->chk);
	free(s->mem);
	free(s);
}

int store_get(struct store *st, const char *key, char **buf, size_t *len,
	      struct store_stat *stat)
{
	if (st->es)
		return es_get(st->es, key, buf, len, stat);
	if (store_index_bad(st))
		return -EIO;
	struct store_snap *s;
	ssize_t n;
	int rc = store_snap_open(st, key, 0, &s);

	if (rc < 0)
		return rc;
	*buf = malloc(s->stat.size + 1);
	if (!*buf) {
		store_snap_close(s);
		return -ENOMEM;
	}
	n = store_snap_read(s, *buf, s->stat.size, 0);
	if (n < 0 || (uint64_t)n != s->stat.size) {
		free(*buf);
		*buf = NULL;
		store_snap_close(s);
		return -EIO;
	}
	(*buf)[n] = 0;
	*len = (size_t)n;
	if (stat)
		*stat = s->stat;
	store_snap_close(s);
	return 0;
}

static int cmp_dirent(const void *a, const void *b)
{
	return strcmp(((const struct store_dirent *)a)->name,
		      ((const struct store_dirent *)b)->name);
}

int store_list(struct store *st, const char *dir, struct store_dirent **ents,
	       size_t *n)
{
	if (st->es)
		return es_list(st->es, dir, ents, n);
	if (store_index_bad(st))
		return -EIO;
	struct node *d;
	size_t cnt = 0, i = 0;
	int rc = key_check(dir);

	*ents = NULL;
	*n = 0;
	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&st->idx_lock);
	d = store_live(st, dir);
	if (!d)
		rc = -ENOENT;
	else if (d->kind != K_DIR)
		rc = -ENOTDIR;
	for (struct node *c = d && !rc ? node_child(d) : NULL; c;
	     c = c->sib_next)
		cnt++;
	if (rc == 0 && cnt) {
		*ents = calloc(cnt, sizeof(**ents));
		if (!*ents)
			rc = -ENOMEM;
	}
	for (struct node *c = !rc && cnt ? node_child(d) : NULL; c;
	     c = c->sib_next, i++) {
		const char *name = c->key + (d->klen ? d->klen + 1 : 0);
		(*ents)[i].name = strdup(name);
		(*ents)[i].mode = c->mode;
		(*ents)[i].version = c->kind == K_FILE ? node_version(c) : 0;
		if (!(*ents)[i].name)
			rc = -ENOMEM;
	}
	pthread_rwlock_unlock(&st->idx_lock);
	if (rc < 0) {
		store_list_free(*ents, i);
		*ents = NULL;
		return rc;
	}
	if (cnt)
		qsort(*ents, cnt, sizeof(**ents), cmp_dirent);
	*n = cnt;
	return 0;
}

void store_list_free(struct store_dirent *ents, size_t n)
{
	for (size_t i = 0; ents && i < n; i++)
		free(ents[i].name);
	free(ents);
}

int store_history(struct store *st, const char *key, struct store_hist **h,
		  size_t *n)
{
	if (st->es)
		return es_history(st->es, key, h, n);
	if (store_index_bad(st))
		return -EIO;
	struct node *nd;
	int rc = key_check(key);

	*h = NULL;
	*n = 0;
	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&st->idx_lock);
	nd = idx_get(&st->idx, key, strlen(key));
	if (!nd || !nd->nvers)
		rc = -ENOENT;
	else if (!(*h = calloc(nd->nvers, sizeof(**h))))
		rc = -ENOMEM;
	for (uint32_t i = 0; rc == 0 && i < nd->nvers; i++) {
		const struct ver *v = &node_vers(nd)[i];
		struct store_meta m = node_ver_meta(&st->idx, nd, v->version);

		(*h)[i].version = v->version;
		(*h)[i].size = v->size;
		(*h)[i].commit_ns = v->commit_ns;
		memcpy((*h)[i].hash, v->hash, 16);
		(*h)[i].mode = m.mode;
		(*h)[i].uid = m.uid;
		(*h)[i].gid = m.gid;
	}
	if (rc == 0)
		*n = nd->nvers;
	pthread_rwlock_unlock(&st->idx_lock);
	return rc;
}

int store_history_below(struct store *st, const char *dir)
{
	if (st->es)
		return es_history_below(st->es, dir);
	size_t dl = strlen(dir);
	int found = 0;

	if (!dl || key_check(dir) < 0 || store_index_bad(st))
		return 0;
	pthread_rwlock_rdlock(&st->idx_lock);
	for (size_t b = 0; !found && b < st->idx.cap; b++)
		for (struct node *n = st->idx.tab[b]; n && !found;
		     n = n->hnext)
			found = n->nvers > 0 && n->klen > dl &&
				n->key[dl] == '/' &&
				memcmp(n->key, dir, dl) == 0;
	pthread_rwlock_unlock(&st->idx_lock);
	return found;
}

int store_stats(struct store *st, struct store_stats *out)
{
	if (st->es)
		return es_stats(st->es, out);
	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&st->idx_lock);
	for (size_t b = 0; b < st->idx.cap; b++)
		for (struct node *n = st->idx.tab[b]; n; n = n->hnext) {
			out->records += n->kind == K_FILE;
			out->dirs += n->kind == K_DIR;
			out->tombstones += n->kind == K_TOMB;
			out->versions_kept += n->nvers;
			for (uint32_t i = 0; i < n->nvers; i++)
				if (node_vers(n)[i].is_blob)
					out->blob_bytes += node_vers(n)[i].size;
		}
	/* Counters change under commit_mu; a relaxed read is enough here. */
	uint64_t log = __atomic_load_n(&st->log_bytes, __ATOMIC_RELAXED);
	uint64_t live = __atomic_load_n(&st->live_bytes, __ATOMIC_RELAXED);
	out->log_bytes = log;
	out->dead_bytes = (log > live ? log - live : 0) +
			  __atomic_load_n(&st->dead_blob_bytes,
					  __ATOMIC_RELAXED);
	out->floor = st->floor;
	out->segments = st->nsegs;
	out->compactions = st->compactions;
	out->reserved_bytes = __atomic_load_n(&st->resv, __ATOMIC_RELAXED);
	out->damaged = st->damaged;
	pthread_rwlock_unlock(&st->idx_lock);
	return 0;
}

int store_statvfs(struct store *st, struct statvfs *out)
{
	if (st->es)
		return es_statvfs(st->es, out);
	uint64_t keep;

	if (fstatvfs(st->dirfd, out) < 0)
		return -errno;
	/* The reserve is not for writers: do not offer it. */
	keep = __atomic_load_n(&st->reserve_held, __ATOMIC_RELAXED)
		       ? 0 : st->o.reserve_bytes;
	keep /= out->f_frsize ? out->f_frsize : 1;
	out->f_bavail = out->f_bavail > keep ? out->f_bavail - keep : 0;
	return 0;
}

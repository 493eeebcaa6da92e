/* ops.c - the public changes.  Every change builds a batch of entries and
 * hands it to commit_batch().  The reads are in read.c, metadata and
 * extended attributes in meta.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "etcd_store.h"
#include "store_int.h"

/* ---- Batches ----------------------------------------------------- */

struct batch {
	uint8_t *buf;
	size_t len, cap;
	int written; /* commit_batch() wrote it: st->recent_* describe it */
	int spend;   /* may have the reserve (store_append_batch) */
};

static int batch_add(struct batch *b, uint8_t type, uint8_t flags,
		     const char *key, uint64_t version, int64_t now,
		     uint64_t value_len, const struct store_meta *m,
		     const uint8_t *hash, uint64_t blob, const uint8_t *xattrs,
		     uint32_t xlen, const void *value, size_t inline_len)
{
	size_t klen = strlen(key);
	size_t blen = m ? log_body_size(xlen) : 0;
	size_t need = log_entry_size(klen, blen, inline_len);
	uint8_t body[LOG_BODY_FIXED];
	uint8_t *bodyp = NULL;

	if (need > LOG_ENTRY_MAX)
		return -E2BIG;
	if (b->len + need > b->cap) {
		size_t nc = (b->len + need) * 2;
		uint8_t *nb = realloc(b->buf, nc);
		if (!nb)
			return -ENOMEM;
		b->buf = nb;
		b->cap = nc;
	}
	if (m) {
		bodyp = blen <= sizeof(body) ? body : malloc(blen);
		if (!bodyp)
			return -ENOMEM;
		log_body_encode(bodyp, m, hash, blob, xattrs, xlen);
	}
	log_entry_encode(b->buf + b->len, type, flags, key, klen, version,
			 now, value_len, bodyp, blen, value, inline_len);
	if (bodyp != body)
		free(bodyp);
	b->len += need;
	return 0;
}

/* Batches are built and written under commit_mu: one buffer, lent to
 * each in turn, serves them all. */
#define BATCH_KEEP (1u << 20) /* a bigger one is not kept */

static void batch_begin(struct store *st, struct batch *b)
{
	b->buf = st->batch_buf;
	b->cap = st->batch_cap;
	b->len = 0;
	b->written = 0;
	b->spend = 0; /* (store_commit_meta's batch is not zeroed first) */
	st->batch_buf = NULL;
	st->batch_cap = 0;
}

static void batch_end(struct store *st, struct batch *b)
{
	/* Entries built and not written replaced the recent bytes. */
	if (b->len && !b->written)
		st->recent_len = 0;
	if (b->cap > BATCH_KEEP) {
		st->recent_len = 0;
		free(b->buf);
		return;
	}
	free(st->batch_buf);
	st->batch_buf = b->buf;
	st->batch_cap = b->cap;
}

/* Append the batch and apply it.  Caller holds commit_mu.  The last
 * entry must carry LOG_F_COMMIT.  known: the node of the entries' key
 * if the caller has it, or NULL.  own: reserved log space that backs
 * this batch (store_append_batch). */
static int commit_batch(struct store *st, struct batch *b, uint64_t *lsn,
			struct node *known, uint64_t own)
{
	struct seg *a;
	uint64_t base;
	size_t pos = 0, hint_len;
	int rc;

	if (store_failed(st) || st->o.read_only)
		return -EROFS;
	rc = store_append_batch(st, b->buf, b->len, own, b->spend, lsn);
	if (rc < 0)
		return rc;
	hint_len = st->hint_len; /* after a roll: the new segment's */
	a = &st->segs[st->nsegs - 1];
	base = a->size - b->len;
	b->written = 1;
	st->recent_seg = a->id;
	st->recent_base = base;
	st->recent_len = b->len;
	pthread_rwlock_wrlock(&st->idx_lock);
	while (pos < b->len) {
		struct log_entry e;
		/* Our own encoding: its framing is checked, its checksum is
		 * known good. */
		ssize_t n = log_entry_parse(b->buf + pos, b->len - pos, &e);
		if (n <= 0) {
			rc = -EIO;
			break;
		}
		store_hint_add(st, b->buf + pos, base + pos);
		rc = store_apply(st, &e, a->id, base + pos, known);
		if (rc < 0) {
			/* The index took part of the batch at most (no
			 * memory for the rest: -ENOMEM), so it no longer
			 * matches the log: stop, and let no one read that
			 * part.  The caller is told the change failed, so
			 * the log must not keep it either, or it would
			 * appear at the next open. */
			__atomic_store_n(&st->index_bad, 1, __ATOMIC_RELEASE);
			st->hint_len = hint_len;
			if (store_unappend(st, base, b->len) == 0)
				b->written = 0;
			store_stop(st, "a commit could not be applied, reads "
				   "are refused", rc);
			if (rc != -ENOMEM)
				rc = -EIO;
			break;
		}
		pos += (size_t)n;
	}
	pthread_rwlock_unlock(&st->idx_lock);
	return rc;
}

/* The calling thread's window of store_defer_begin(): the store, and the
 * newest LSN its changes left unwaited.  Thread-local, so no lock; a
 * window ends in the function that opened it. */
static __thread struct store *defer_st;
static __thread uint64_t defer_lsn;

void store_defer_begin(struct store *st)
{
	defer_st = st;
	defer_lsn = 0;
}

uint64_t store_defer_end(struct store *st)
{
	uint64_t t = defer_st == st ? defer_lsn : 0;

	defer_st = NULL;
	defer_lsn = 0;
	return t;
}

/* End a change: unlock, then make it durable when asked or sync_always.
 * With @ticket, or in a store_defer_begin() window, that wait is left to
 * the caller (store_wait_ticket): *ticket is the LSN to wait for, or 0. */
static int finish_ticket(struct store *st, int rc, uint64_t lsn, int durable,
			 uint64_t *ticket)
{
	uint64_t want = rc == 0 && (durable || st->o.sync_always) ? lsn : 0;

	pthread_mutex_unlock(&st->commit_mu);
	if (ticket)
		*ticket = want;
	else if (defer_st == st && want)
		defer_lsn = want > defer_lsn ? want : defer_lsn;
	else if (want)
		rc = store_wait_durable(st, want);
	if (rc == 0)
		store_kick_compactor(st);
	return rc;
}

int store_finish(struct store *st, int rc, uint64_t lsn, int durable)
{
	return finish_ticket(st, rc, lsn, durable, NULL);
}

int store_begin_change(struct store *st, const char *key)
{
	int rc = key_check(key);

	if (rc < 0)
		return rc;
	if (st->o.read_only)
		return -EROFS;
	pthread_mutex_lock(&st->commit_mu);
	if (store_failed(st)) {
		pthread_mutex_unlock(&st->commit_mu);
		return -EROFS;
	}
	return 0;
}

/* The live directory that would hold key. */
static int parent_dir(struct store *st, const char *key, struct node **out)
{
	size_t klen = strlen(key);
	struct node *p;

	if (klen == 0)
		return -EBUSY; /* the root has no parent */
	p = store_parent_of(st, key, klen);
	if (!p || p->kind == K_TOMB)
		return -ENOENT;
	if (p->kind != K_DIR)
		return -ENOTDIR;
	*out = p;
	return 0;
}

/* The version a new commit of key gets: its line continues, or a fresh
 * key starts above the store's floor. */
static uint64_t next_version(struct store *st, const struct node *n)
{
	return n && node_version(n) ? node_version(n) + 1 : st->floor + 1;
}

static int check_expect(const struct node *n, uint64_t expect)
{
	uint64_t cur = n && n->kind == K_FILE ? node_version(n) : 0;
	return expect == STORE_ANY || expect == cur ? 0 : -EAGAIN;
}

static void default_meta(struct store_meta *m, uint32_t type, int64_t now)
{
	m->mode = type | (type == S_IFDIR ? 0755 : type == S_IFLNK ? 0777
								     : 0644);
	m->uid = getuid();
	m->gid = getgid();
	m->atime_ns = m->mtime_ns = m->ctime_ns = now;
}

/* The metadata a new version of a record gets: an existing record keeps
 * its mode, owner and xattrs; its times are the commit's. */
static void version_meta(const struct index *ix, const struct node *n,
			 const struct store_meta *in, int64_t now,
			 struct store_meta *m)
{
	if (n && n->kind == K_FILE) {
		*m = node_meta(ix, n);
		m->mtime_ns = in ? in->mtime_ns : now;
		m->ctime_ns = in ? in->ctime_ns : now;
	} else if (in) {
		*m = *in;
		if (!(m->mode & S_IFMT))
			m->mode |= S_IFREG;
	} else {
		default_meta(m, S_IFREG, now);
	}
}

/* A record's meta names a regular file or a symlink, or no type (a
 * regular file then): anything else is refused (store.h, store_put),
 * for a staged change's commit as for store_put. */
static int meta_type_ok(const struct store_meta *meta)
{
	return !meta || !(meta->mode & S_IFMT) || S_ISREG(meta->mode) ||
	       S_ISLNK(meta->mode);
}

int store_txn_peek(struct store *st, const char *key, uint64_t *version,
		   uint64_t *overhead)
{
	size_t klen = strlen(key);
	uint32_t xlen = 0;
	struct node *n;
	int rc = 0;

	*version = 0;
	pthread_rwlock_rdlock(&st->idx_lock);
	n = idx_get(&st->idx, key, klen);
	if (n && n->kind == K_DIR)
		rc = -EISDIR;
	else if (n && n->kind == K_FILE) {
		*version = node_version(n);
		node_xattrs(n, &xlen);
	}
	pthread_rwlock_unlock(&st->idx_lock);
	*overhead = log_entry_size(klen, log_body_size(xlen), 0);
	return rc;
}

int store_commit_put(struct store *st, const char *key, uint64_t expect,
		     const struct store_meta *meta, const void *data,
		     uint64_t size, const uint8_t hash[16], int spool_fd,
		     const char *spool_name, int durable, uint64_t resv,
		     uint64_t *newv, uint64_t *ticket)
{
	struct batch b = { 0 };
	struct store_meta m;
	struct node *n, *p;
	const uint8_t *x = NULL;
	uint32_t xlen = 0;
	uint64_t v, lsn = 0, blob = 0;
	int64_t now;
	int rc = meta_type_ok(meta) ? 0 : -EINVAL;

	if (rc < 0) {
		store_resv_drop(st, resv);
		return rc;
	}
	/* Large content: the spool file becomes a blob, no copy.  It is
	 * named and synced before the commit lock (blob.c says why); a
	 * change already stale is refused first, so that it syncs
	 * nothing.  The check under the lock below is the one that
	 * counts. */
	if (!data) {
		uint64_t cur, ovh;
		if (expect != STORE_ANY &&
		    store_txn_peek(st, key, &cur, &ovh) == 0 && cur != expect)
			rc = -EAGAIN;
		if (rc == 0)
			rc = key_check(key);
		if (rc == 0)
			rc = st->o.read_only ? -EROFS
					     : blob_link(st, spool_fd,
							 spool_name, &blob);
		if (rc < 0) {
			store_resv_drop(st, resv);
			return rc;
		}
	}
	rc = store_begin_change(st, key);
	if (rc < 0) {
		if (blob)
			blob_drop(st, blob);
		store_resv_drop(st, resv);
		return rc;
	}
	/* Under commit_mu: commit times grow along the log (dir_touch). */
	now = store_now_ns();
	batch_begin(st, &b);
	rc = parent_dir(st, key, &p);
	if (rc < 0)
		goto out;
	n = idx_get(&st->idx, key, strlen(key)); /* live or a tombstone */
	if (n && n->kind == K_DIR) {
		rc = -EISDIR;
		goto out;
	}
	rc = check_expect(n, expect);
	if (rc < 0)
		goto out;
	v = next_version(st, n);
	version_meta(&st->idx, n && n->kind == K_FILE ? n : NULL, meta, now,
		     &m);
	if (S_ISDIR(m.mode)) {
		rc = -EINVAL;
		goto out;
	}
	if (n && n->kind == K_FILE)
		x = node_xattrs(n, &xlen);
	rc = batch_add(&b, LOG_PUT, LOG_F_COMMIT | (blob ? LOG_F_BLOB : 0),
		       key, v, now, size, &m, hash, blob, x, xlen, data,
		       blob ? 0 : (size_t)size);
	b.spend = 1; /* its writes passed store_space_ok */
	if (rc == 0)
		rc = commit_batch(st, &b, &lsn, n, resv);
	if (rc == 0 && newv)
		*newv = v;
out:
	/* In the index, or not committed: either way no longer in flight
	 * (compaction's sweep waits for commit_mu, so it sees which). */
	if (blob && rc < 0 && !b.written)
		blob_drop(st, blob);
	else if (blob) /* a failed batch the log kept still names it */
		blob_settle(st, blob);
	/* The entry is in the space the reservation held, or there is
	 * no entry: either way it is no longer promised. */
	CTR_SUB(st->resv, resv);
	batch_end(st, &b);
	return finish_ticket(st, rc, lsn, durable, ticket);
}

int store_put(struct store *st, const char *key, uint64_t expect,
	      const void *data, size_t len, const struct store_meta *meta,
	      uint64_t *newv)
{
	if (st->es)
		return es_put(st->es, key, expect, data, len, meta, newv);
	struct store_txn *t;
	uint8_t h[16];
	int rc;

	if (!meta_type_ok(meta))
		return -EINVAL;
	if (len <= st->o.inline_max) {
		uint64_t cur, resv;

		/* Its entry's log space is taken first, as a change's writes
		 * take theirs: the commit may have the reserve, which is for
		 * deletes and compaction, not for a record put whole (a
		 * symlink, or 'touch' after mknod, took it on a full disk
		 * until 2026-12-07; test_reserve). */
		rc = st->o.read_only ? -EROFS : store_space_ok(st);
		if (rc == 0)
			rc = store_txn_peek(st, key, &cur, &resv);
		if (rc == 0) {
			resv += len;
			rc = store_resv_take(st, resv);
		}
		if (rc == -EOPNOTSUPP) { /* no preallocation: none taken */
			resv = 0;
			rc = 0;
		}
		if (rc < 0)
			return rc;
		log_xxh128(data, len, h);
		return store_commit_put(st, key, expect, meta, data ? data : "",
					len, h, -1, NULL, 0, resv, newv, NULL);
	}
	rc = store_txn_begin(st, key, 1, &t);
	if (rc < 0)
		return rc;
	for (size_t off = 0; off < len;) {
		ssize_t n = store_txn_write(t, (const char *)data + off,
					    len - off, off);
		if (n < 0) {
			store_txn_abort(t);
			return (int)n;
		}
		off += (size_t)n;
	}
	return store_txn_commit(t, expect, meta, 0, newv);
}

int store_delete(struct store *st, const char *key, uint64_t expect,
		 uint64_t *newv)
{
	if (st->es)
		return es_delete(st->es, key, expect, newv);
	struct batch b = { 0 };
	struct node *n;
	uint64_t lsn = 0;
	int rc = store_begin_change(st, key);

	if (rc < 0)
		return rc;
	batch_begin(st, &b);
	n = store_live(st, key);
	if (!n)
		rc = -ENOENT;
	else if (n->kind == K_DIR)
		rc = -EISDIR;
	else
		rc = check_expect(n, expect);
	if (rc == 0)
		rc = batch_add(&b, LOG_DEL, LOG_F_COMMIT, key,
			       node_version(n) + 1, store_now_ns(), 0, NULL,
			       NULL, 0, NULL, 0, NULL, 0);
	b.spend = 1;
	if (rc == 0)
		rc = commit_batch(st, &b, &lsn, NULL, 0);
	if (rc == 0 && newv)
		*newv = node_version(n); /* the tombstone's */
	batch_end(st, &b);
	return store_finish(st, rc, lsn, 0);
}

/* Copy @v's content from the last batch written, if that is where it
 * is and @b, lent that batch's buffer, has built nothing over it yet.
 * A rename-over reads back the temporary its writer has just closed:
 * this saves that pread().  The hash proves the bytes; a mismatch (a
 * bug, never expected) just falls back to the log.  @return 1 copied. */
static int recent_content(struct store *st, const struct batch *b,
			  const struct ver *v, void *out)
{
	uint8_t h[16];

	if (b->len || !st->recent_len ||
	    v->seg != st->recent_seg || v->where < st->recent_base ||
	    v->where + v->elen > st->recent_base + st->recent_len)
		return 0;
	memcpy(out, b->buf + (ver_content_off(v) - st->recent_base), v->size);
	log_xxh128(out, v->size, h);
	if (memcmp(h, v->hash, sizeof(h)) != 0) {
		st->recent_len = 0;
		return 0;
	}
	return 1;
}

/* The content of a record's current version, for re-writing it under
 * another key: inline content is copied, a blob is shared.  @b: the
 * batch being built, whose buffer may still hold the content. */
static int current_content(struct store *st, const struct batch *b,
			   struct node *n, void **data)
{
	struct ver *v = node_newest(n);
	ssize_t got;
	int rc;

	*data = NULL;
	if (ver_blob(v))
		return 0;
	*data = malloc(v->size ? v->size : 1);
	if (!*data)
		return -ENOMEM;
	if (recent_content(st, b, v, *data))
		return 0;
	rc = store_read_ver(st, v, *data, v->size, 0, &got);
	if (rc == 0 && (uint64_t)got != v->size)
		rc = -EIO;
	if (rc == 0) /* (not a copy of damage under a hash that fits it) */
		rc = store_ver_check(st, n->key, v, *data);
	if (rc < 0) {
		free(*data);
		*data = NULL;
	}
	return rc;
}

/* Entries that move record n to key `to` (new version nv). */
static int add_move(struct store *st, struct batch *b, struct node *n,
		    const char *to, uint64_t nv, int64_t now, uint8_t last)
{
	struct ver *v = node_newest(n);
	struct store_meta m = node_meta(&st->idx, n);
	uint64_t blob = ver_blob(v);
	uint32_t xlen;
	const uint8_t *x = node_xattrs(n, &xlen);
	void *data = NULL;
	int rc;

	m.ctime_ns = now;
	rc = current_content(st, b, n, &data);
	if (rc == 0)
		rc = batch_add(b, LOG_PUT, blob ? LOG_F_BLOB : 0, to, nv, now,
			       v->size, &m, v->hash, blob, x, xlen, data,
			       blob ? 0 : v->size);
	free(data);
	if (rc == 0)
		rc = batch_add(b, LOG_DEL, last, n->key, node_version(n) + 1,
			       now, 0, NULL, NULL, 0, NULL, 0, NULL, 0);
	return rc;
}

static char *join_key(const char *to, const char *from_key, size_t flen)
{
	size_t tl = strlen(to), rest = strlen(from_key + flen);
	char *k = malloc(tl + rest + 1);

	if (k) {
		memcpy(k, to, tl);
		memcpy(k + tl, from_key + flen, rest + 1);
	}
	return k;
}

/* Move a directory's subtree: new directories top-down, records, then
 * the old directories bottom-up. */
static int add_dir_move(struct store *st, struct batch *b, struct node *d,
			const char *to, size_t flen, int64_t now)
{
	int rc = 0;

	for (struct node *c = node_child(d); c && rc == 0; c = c->sib_next) {
		char *nk;
		/* Every key beneath moves by the same length: one longer
		 * than keys may be would strand its record (no call could
		 * name it), so the whole rename is refused. */
		if (strlen(to) + c->klen - flen > STORE_KEY_MAX)
			return -ENAMETOOLONG;
		nk = join_key(to, c->key, flen);
		if (!nk)
			return -ENOMEM;
		if (c->kind == K_DIR) {
			struct store_meta cm = node_meta(&st->idx, c);
			uint32_t xlen;
			const uint8_t *x = node_xattrs(c, &xlen);

			rc = batch_add(b, LOG_MKDIR, 0, nk, 0, now, 0, &cm,
				       NULL, 0, x, xlen, NULL, 0);
			if (rc == 0)
				rc = add_dir_move(st, b, c, to, flen, now);
			if (rc == 0)
				rc = batch_add(b, LOG_RMDIR, 0, c->key, 0, now,
					       0, NULL, NULL, 0, NULL, 0, NULL,
					       0);
		} else {
			struct node *t = idx_get(&st->idx, nk, strlen(nk));
			uint64_t line = t && node_version(t) ? node_version(t)
							      : st->floor;
			uint64_t cv = node_version(c);
			uint64_t nv = (line > cv ? line : cv) + 1;
			rc = add_move(st, b, c, nk, nv, now, 0);
		}
		free(nk);
	}
	return rc;
}

int store_rename(struct store *st, const char *from, uint64_t expect_from,
		 const char *to, uint64_t expect_to, uint64_t *newv)
{
	if (st->es)
		return es_rename(st->es, from, expect_from, to, expect_to, newv);
	struct batch b = { 0 };
	struct node *f, *t, *tp;
	uint64_t lsn = 0, nv = 0;
	int64_t now;
	size_t flen = strlen(from);
	int rc = key_check(to);

	if (rc == 0)
		rc = store_begin_change(st, from);
	if (rc < 0)
		return rc;
	now = store_now_ns(); /* under commit_mu (store_commit_put) */
	batch_begin(st, &b);
	f = store_live(st, from);
	t = store_live(st, to);
	if (!f || f == st->root) {
		rc = f ? -EBUSY : -ENOENT;
		goto out;
	}
	rc = parent_dir(st, to, &tp);
	if (rc < 0)
		goto out;
	if (strcmp(from, to) == 0) {
		nv = f->kind == K_FILE ? node_version(f) : 0;
		goto out; /* POSIX: renaming a thing onto itself does nothing */
	}
	if (f->kind == K_DIR) {
		if (strncmp(to, from, flen) == 0 && to[flen] == '/') {
			rc = -EINVAL;
			goto out;
		}
		if (t && t->kind != K_DIR) {
			rc = -ENOTDIR;
			goto out;
		}
		if (t && node_child(t)) {
			rc = -ENOTEMPTY;
			goto out;
		}
		struct store_meta fm = node_meta(&st->idx, f);
		uint32_t xlen;
		const uint8_t *x = node_xattrs(f, &xlen);

		fm.ctime_ns = now; /* as a renamed record's (add_move) */
		rc = batch_add(&b, LOG_MKDIR, 0, to, 0, now, 0, &fm, NULL, 0, x,
			       xlen, NULL, 0);
		if (rc == 0)
			rc = add_dir_move(st, &b, f, to, flen, now);
		if (rc == 0)
			rc = batch_add(&b, LOG_RMDIR, LOG_F_COMMIT, from, 0,
				       now, 0, NULL, NULL, 0, NULL, 0, NULL, 0);
	} else {
		struct node *tl = idx_get(&st->idx, to, strlen(to));
		uint64_t line = tl && node_version(tl) ? node_version(tl)
						       : st->floor;
		if (t && t->kind == K_DIR) {
			rc = -EISDIR;
			goto out;
		}
		rc = check_expect(f, expect_from);
		if (rc == 0)
			rc = check_expect(t, expect_to);
		if (rc < 0)
			goto out;
		/* The record becomes @to's next version: a copy renamed into
		 * place (rsync, cp's temp files) is a new record at 1, and a
		 * rename over a record continues that record's line. */
		nv = line + 1;
		rc = add_move(st, &b, f, to, nv, now, LOG_F_COMMIT);
	}
	if (rc == 0)
		rc = commit_batch(st, &b, &lsn, NULL, 0);
out:
	if (rc == 0 && newv)
		*newv = nv;
	batch_end(st, &b);
	return store_finish(st, rc, lsn, 0);
}

int store_mkdir(struct store *st, const char *key,
		const struct store_meta *meta)
{
	if (st->es)
		return es_mkdir(st->es, key, meta);
	struct batch b = { 0 };
	struct store_meta m;
	struct node *p;
	uint64_t lsn = 0;
	int64_t now;
	int rc = store_begin_change(st, key);

	if (rc < 0)
		return rc;
	now = store_now_ns(); /* under commit_mu (store_commit_put) */
	batch_begin(st, &b);
	rc = parent_dir(st, key, &p);
	if (rc == 0 && store_live(st, key))
		rc = -EEXIST;
	if (rc == 0) {
		if (meta) {
			m = *meta;
			m.mode = S_IFDIR | (m.mode & 07777);
		} else {
			default_meta(&m, S_IFDIR, now);
		}
		rc = batch_add(&b, LOG_MKDIR, LOG_F_COMMIT, key, 0, now, 0, &m,
			       NULL, 0, NULL, 0, NULL, 0);
	}
	if (rc == 0)
		rc = commit_batch(st, &b, &lsn, NULL, 0);
	batch_end(st, &b);
	return store_finish(st, rc, lsn, 0);
}

int store_rmdir(struct store *st, const char *key)
{
	if (st->es)
		return es_rmdir(st->es, key);
	struct batch b = { 0 };
	struct node *n;
	uint64_t lsn = 0;
	int rc = store_begin_change(st, key);

	if (rc < 0)
		return rc;
	batch_begin(st, &b);
	n = store_live(st, key);
	if (!n)
		rc = -ENOENT;
	else if (n == st->root)
		rc = -EBUSY;
	else if (n->kind != K_DIR)
		rc = -ENOTDIR;
	else if (node_child(n))
		rc = -ENOTEMPTY;
	if (rc == 0)
		rc = batch_add(&b, LOG_RMDIR, LOG_F_COMMIT, key, 0,
			       store_now_ns(), 0, NULL, NULL, 0, NULL, 0, NULL,
			       0);
	b.spend = 1;
	if (rc == 0)
		rc = commit_batch(st, &b, &lsn, NULL, 0);
	batch_end(st, &b);
	return store_finish(st, rc, lsn, 0);
}

/* Write a META entry with new metadata and xattrs for a live key. */
int store_commit_meta(struct store *st, struct node *n,
		      const struct store_meta *m, const uint8_t *x,
		      uint32_t xlen)
{
	struct batch b;
	uint64_t lsn = 0;
	int rc;

	batch_begin(st, &b);
	rc = batch_add(&b, LOG_META, LOG_F_COMMIT, n->key, node_version(n),
		       store_now_ns(), 0, m, NULL, 0, x, xlen, NULL, 0);
	if (rc == 0)
		rc = commit_batch(st, &b, &lsn, NULL, 0);
	batch_end(st, &b);
	return store_finish(st, rc, lsn, 0);
}

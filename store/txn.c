/* txn.c - staged changes: one open handle's private content.  The
 * disk space a change needs is taken when it is written, so that its
 * commit needs none:
 * - up to inline_max bytes (the size that goes inline into its log
 *   entry), the content is in memory, and each write reserves the log
 *   space its entry will take (store_resv_take: preallocated log tail);
 * - past that, it is in a spool file, which simply becomes its blob;
 *   its commit still writes a log entry (the blob's PUT, or the content
 *   inline if the change shrank back), whose space is reserved too.
 * A change moves to a spool file when it grows past inline_max, never
 * back.  Nothing of it reaches the log before its commit. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "etcd_store.h"
#include "store_int.h"

/* Three states: not staged yet (no buf, fd < 0: the content is the
 * base snapshot, or empty); in memory (buf); in a spool file (fd >= 0).
 * Invariant, all of resv reserved in st->resv: in memory, resv ==
 * overhead + size; in a spool file, resv == spool_need() (0 where the
 * log cannot preallocate: store_resv_take's -EOPNOTSUPP); not staged,
 * resv == 0. */
struct store_txn {
	struct store *st;
	struct es_txn *es;        /* an etcd store's change: only st and es */
	char *key;                /* keyb, or NULL for an etcd store's */
	int fd;                   /* the spool file, or -1 */
	char *spool_name;         /* NULL: O_TMPFILE */
	struct store_snap *base;  /* content to start from, until copied */
	uint64_t base_version;
	uint64_t size;
	char *buf;                /* the content, in memory */
	size_t cap;
	/* The entry less its content, with the key's xattrs at begin:
	 * xattrs set after that make the entry larger, and its commit
	 * allocates the difference as an unreserved change does. */
	uint64_t overhead;
	uint64_t resv;
	int counted;              /* in st->txn_open (store_txn_opened) */
	char keyb[];              /* the key, in the change's allocation */
};

#define COPY_BUF (1u << 20)
/* The largest content a change may have.  recfs keeps no holes: a
 * commit hashes every byte, so a size the spool's file system would
 * take sparsely (tmpfs, xfs and btrfs allow 2^63 - 1) made a commit
 * that never ended.  Writes and truncates alike are held to it. */
#define TXN_SIZE_MAX (1ull << 62)

int txn_spool_open(struct store *st, int *fd)
{
	*fd = openat(st->spoolfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*fd < 0)
		return store_fd_errno(errno);
	store_own(st, *fd); /* it may become a blob */
	return 0;
}

static int spool_create(struct store_txn *t)
{
	static unsigned long seq;
	struct store *st = t->st;
	char name[64];

	if (st->spoolfd < 0)
		return -EROFS;
	if (txn_spool_open(st, &t->fd) == 0)
		return 0;
	/* No O_TMPFILE here: a named spool file, removed at open if left. */
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "t%d.%lu", (int)getpid(),
			 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
		t->fd = openat(st->spoolfd, name,
			       O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
		if (t->fd >= 0) {
			store_own(st, t->fd);
			t->spool_name = strdup(name);
			return t->spool_name ? 0 : -ENOMEM;
		}
		if (errno != EEXIST)
			return store_fd_errno(errno);
	}
	return -EEXIST;
}

static void spool_drop(struct store_txn *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->spool_name)
		unlinkat(t->st->spoolfd, t->spool_name, 0);
	free(t->spool_name);
	t->spool_name = NULL;
}

/* An etcd store's change is a shell around its es_txn. */
static int txn_es_begin(struct store *st, const char *key, int truncate,
			struct store_txn **out)
{
	struct store_txn *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	t->st = st;
	t->fd = -1;
	rc = es_txn_begin(st->es, key, truncate, &t->es);
	if (rc < 0) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static int txn_es_commit(struct store_txn *t, uint64_t expect,
			 const struct store_meta *meta, int durable,
			 uint64_t *newv)
{
	int rc = es_txn_commit(t->es, expect, meta, durable, newv);

	free(t);
	return rc;
}

int store_txn_lease(struct store_txn *t, uint64_t expect)
{
	return t->es ? es_txn_lease(t->es, expect) : 0;
}

static int stage(struct store_txn *t, uint64_t size);

/* @version 0: the key's current content (none with @truncate); else
 * that kept version's, deleted keys' included. */
static int txn_begin(struct store *st, const char *key, int truncate,
		     uint64_t version, struct store_txn **out)
{
	struct store_txn *t;
	struct store_stat sb;
	int rc = key_check(key);

	if (rc < 0)
		return rc;
	if (st->o.read_only || store_failed(st))
		return -EROFS;
	/* key_check() passed: the key is at most STORE_KEY_MAX bytes. */
	t = calloc(1, sizeof(*t) + strlen(key) + 1);
	if (!t)
		return -ENOMEM;
	t->st = st;
	t->fd = -1;
	t->key = strcpy(t->keyb, key);
	/* A truncating change needs no snapshot: one lookup tells the
	 * version and the entry's size. */
	rc = store_txn_peek(st, key, &t->base_version, &t->overhead);
	if (rc == 0 && truncate) {
		/* The empty content is a change already (an O_TRUNC open, a
		 * create): its entry's log space is taken now, so that a full
		 * disk fails the open, not the commit at a close that shells
		 * ignore (': > rec' said 0 and left rec as it was). */
		rc = store_space_ok(st);
		if (rc == 0)
			rc = stage(t, 0);
	}
	if (rc < 0 || truncate)
		goto done;
	rc = store_snap_open(st, key, version, &t->base);
	if (rc == -ENOENT && !version) {
		t->base_version = 0;
		rc = 0;
	} else if (rc == 0) {
		store_snap_stat(t->base, &sb);
		t->base_version = sb.version;
	}
done:
	if (rc < 0)
		goto fail;
	store_txn_opened(st);
	t->counted = 1;
	*out = t;
	return 0;
fail:
	store_txn_abort(t);
	return rc;
}

int store_txn_begin(struct store *st, const char *key, int truncate,
		    struct store_txn **out)
{
	if (st->es)
		return txn_es_begin(st, key, truncate, out);
	return txn_begin(st, key, truncate, 0, out);
}

int store_txn_begin_at(struct store *st, const char *key, uint64_t version,
		       struct store_txn **out)
{
	struct store_snap *s;
	int rc;

	if (!st->es)
		return txn_begin(st, key, 0, version, out);
	/* An etcd change holds its bytes: copy the version's in. */
	rc = store_snap_open(st, key, version, &s);
	if (rc < 0)
		return rc;
	rc = store_txn_begin_from(st, key, s, out);
	store_snap_close(s);
	return rc;
}

int store_txn_begin_from(struct store *st, const char *key,
			 struct store_snap *snap, struct store_txn **out)
{
	struct store_txn *t = NULL;
	uint64_t off = 0;
	char *buf = malloc(COPY_BUF);
	int rc = buf ? store_txn_begin(st, key, 1, &t) : -ENOMEM;

	while (rc == 0) {
		ssize_t n = store_snap_read(snap, buf, COPY_BUF, off), w;
		if (n <= 0) {
			rc = (int)n;
			break;
		}
		w = store_txn_write(t, buf, (size_t)n, off);
		if (w != n)
			rc = w < 0 ? (int)w : -EIO;
		off += (uint64_t)n;
	}
	if (rc < 0)
		store_txn_abort(t); /* NULL-safe */
	else
		*out = t;
	free(buf);
	return rc;
}

/* Write buf[0, n) at off of the spool file, whole. */
static int spool_write(struct store_txn *t, const char *buf, size_t n,
		       uint64_t off)
{
	for (size_t done = 0; done < n;) {
		ssize_t w = io_pwrite(t->st, t->fd, buf + done, n - done,
				      (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}

/* Copy the base content into the spool file. */
static int base_to_spool(struct store_txn *t)
{
	struct store_stat sb;
	char *buf;
	uint64_t off = 0;
	int rc = 0;

	store_snap_stat(t->base, &sb);
	buf = malloc(COPY_BUF);
	if (!buf)
		return -ENOMEM;
	while (off < sb.size && rc == 0) {
		ssize_t n = store_snap_read(t->base, buf, COPY_BUF, off);
		if (n <= 0)
			rc = -EIO;
		else
			rc = spool_write(t, buf, (size_t)n, off);
		off += n > 0 ? (uint64_t)n : 0;
	}
	free(buf);
	t->size = sb.size;
	return rc;
}

/* The log space a spooled change's commit writes besides its blob: the
 * entry less its content, and the content too while it is at most
 * inline_max bytes (store_txn_commit_nowait copies it inline then). */
static uint64_t spool_need(const struct store_txn *t, uint64_t size)
{
	return t->overhead + (size <= t->st->o.inline_max ? size : 0);
}

/* Reserve log space for the change up to @want bytes in all.  @return
 * 0 (also where the log cannot preallocate: nothing is reserved there,
 * and commits allocate as they go); -ENOSPC or another error of
 * store_resv_take, with nothing changed. */
static int resv_grow(struct store_txn *t, uint64_t want)
{
	int rc;

	if (want <= t->resv)
		return 0;
	rc = store_resv_take(t->st, want - t->resv);
	if (rc == -EOPNOTSUPP)
		return 0;
	if (rc < 0)
		return rc;
	t->resv = want;
	return 0;
}

/* Give back what the change holds above @want. */
static void resv_shrink(struct store_txn *t, uint64_t want)
{
	if (t->resv > want) {
		store_resv_drop(t->st, t->resv - want);
		t->resv = want;
	}
}

/* Move the change into a spool file: the base's bytes, or the memory
 * content, written there (which takes their space).  Its entry's log
 * space is reserved first: the memory's reservation carries over, the
 * base's is taken (-ENOSPC on a full disk, as for any write).  On
 * failure nothing changed. */
static int to_spool(struct store_txn *t)
{
	uint64_t had = t->resv, size = store_txn_size(t);
	int rc = resv_grow(t, spool_need(t, size));

	if (rc == 0)
		rc = spool_create(t);
	if (rc == 0)
		rc = t->base ? base_to_spool(t)
			     : spool_write(t, t->buf, (size_t)t->size, 0);
	if (rc < 0) {
		spool_drop(t);
		if (t->base)
			t->size = 0;
		resv_shrink(t, had);
		return rc;
	}
	store_snap_close(t->base);
	t->base = NULL;
	free(t->buf);
	t->buf = NULL;
	t->cap = 0;
	resv_shrink(t, spool_need(t, t->size));
	return 0;
}

/* Make the change its own and able to hold size bytes: in memory while
 * size <= inline_max, with the log space of its entry reserved first,
 * else in a spool file.  The base is copied in, up to size.  On
 * failure nothing changed. */
static int stage(struct store_txn *t, uint64_t size)
{
	struct store *st = t->st;
	uint64_t want = t->overhead + size, have = 0;
	int rc;

	if (t->fd >= 0)
		return 0;
	if (size > st->o.inline_max)
		return to_spool(t);
	if (want > t->resv) {
		rc = store_resv_take(st, want - t->resv);
		if (rc == -EOPNOTSUPP)
			return to_spool(t); /* its writes take the space */
		if (rc < 0)
			return rc;
	}
	if (size > t->cap) {
		/* Sized by the first write, not a page: a small record's
		 * buffer then comes from malloc's per-thread cache, where a
		 * page-sized one took the slow path at every save. */
		size_t nc = t->cap ? t->cap : 256;
		char *nb;
		while (nc < size)
			nc *= 2;
		if (nc > st->o.inline_max)
			nc = (size_t)st->o.inline_max;
		nb = realloc(t->buf, nc);
		if (!nb) {
			rc = -ENOMEM;
			goto fail;
		}
		t->buf = nb;
		t->cap = nc;
	}
	if (t->base) {
		struct store_stat sb;
		store_snap_stat(t->base, &sb);
		have = sb.size < size ? sb.size : size;
		if (have && store_snap_read(t->base, t->buf, (size_t)have, 0) !=
				    (ssize_t)have) {
			rc = -EIO;
			goto fail;
		}
		/* A part of the base is copied: it is checked whole all
		 * the same (read.c, "struct snap_check"). */
		if (have < sb.size && (rc = store_snap_check_rest(t->base)) < 0)
			goto fail;
		store_snap_close(t->base);
		t->base = NULL;
		t->size = have;
	}
	if (want > t->resv)
		t->resv = want;
	return 0;
fail:
	if (want > t->resv)
		store_resv_drop(st, want - t->resv);
	return rc;
}

/* In memory, after the size went down: give back what it no longer
 * needs (struct store_txn's invariant). */
static void resv_fit(struct store_txn *t)
{
	uint64_t want = t->overhead + t->size;

	if (t->buf && t->fd < 0 && t->resv > want) {
		store_resv_drop(t->st, t->resv - want);
		t->resv = want;
	}
}

ssize_t store_txn_write(struct store_txn *t, const void *buf, size_t len,
			uint64_t off)
{
	if (t->es)
		return es_txn_write(t->es, buf, len, off);
	uint64_t end = off + len, cur = store_txn_size(t);
	size_t done = 0;
	int rc;

	if (end < off || end > TXN_SIZE_MAX)
		return -EFBIG;
	rc = store_space_ok(t->st);
	if (rc == 0)
		rc = stage(t, end > cur ? end : cur);
	/* In a spool file: the entry's space for the size it will have. */
	if (rc == 0 && t->fd >= 0)
		rc = resv_grow(t, spool_need(t, end > cur ? end : cur));
	if (rc < 0)
		return rc;
	if (t->fd < 0) {
		if (off > t->size)
			memset(t->buf + t->size, 0, (size_t)(off - t->size));
		if (len) /* t->buf is NULL while the change is empty */
			memcpy(t->buf + off, buf, len);
		if (end > t->size)
			t->size = end;
		return (ssize_t)len;
	}
	while (done < len) {
		ssize_t n = io_pwrite(t->st, t->fd, (const char *)buf + done,
				      len - done,
				   (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (done)
				break; /* a short write, like any file's */
			rc = n < 0 ? -errno : -EIO;
			resv_shrink(t, spool_need(t, t->size));
			return rc;
		}
		done += (size_t)n;
	}
	if (off + done > t->size)
		t->size = off + done;
	/* A short write may leave the content small enough to go inline,
	 * which the reservation above did not count on: take it now, or
	 * let the commit allocate it as an unreserved change does. */
	if (resv_grow(t, spool_need(t, t->size)) == 0)
		resv_shrink(t, spool_need(t, t->size));
	return (ssize_t)done;
}

ssize_t store_txn_read(struct store_txn *t, void *buf, size_t len,
		       uint64_t off)
{
	if (t->es)
		return es_txn_read(t->es, buf, len, off);
	ssize_t n;

	if (t->base)
		return store_snap_read(t->base, buf, len, off);
	if (off >= t->size)
		return 0;
	if (len > t->size - off)
		len = (size_t)(t->size - off);
	if (t->fd < 0) {
		memcpy(buf, t->buf + off, len);
		return (ssize_t)len;
	}
	n = pread(t->fd, buf, len, (off_t)off);
	return n < 0 ? -EIO : n;
}

int store_txn_truncate(struct store_txn *t, uint64_t size)
{
	if (t->es)
		return es_txn_truncate(t->es, size);
	int rc = size > TXN_SIZE_MAX ? -EFBIG : stage(t, size);

	if (rc < 0)
		return rc;
	if (t->fd < 0) {
		if (size > t->size)
			memset(t->buf + t->size, 0, (size_t)(size - t->size));
		t->size = size;
		resv_fit(t);
		return 0;
	}
	/* Cut back to inline_max or less, the content goes inline at the
	 * commit: its space is taken here, where ENOSPC may be told. */
	rc = resv_grow(t, spool_need(t, size));
	if (rc < 0)
		return rc;
	if (io_ftruncate(t->st, t->fd, (off_t)size) < 0) {
		rc = -errno;
		resv_shrink(t, spool_need(t, t->size));
		return rc;
	}
	t->size = size;
	resv_shrink(t, spool_need(t, size));
	return 0;
}

const char *store_txn_key(const struct store_txn *t)
{
	return t->es ? es_txn_key(t->es) : t->key;
}

uint64_t store_txn_size(const struct store_txn *t)
{
	if (t->es)
		return es_txn_size(t->es);
	struct store_stat sb;

	if (t->base) {
		store_snap_stat(t->base, &sb);
		return sb.size;
	}
	return t->size;
}

/* xxh3-128 of the spool content, streamed. */
static int spool_hash(struct store_txn *t, uint8_t out[16], char **small)
{
	XXH3_state_t *x = XXH3_createState();
	XXH128_canonical_t c;
	char *buf = NULL;
	uint64_t off = 0;
	int rc = 0;

	*small = NULL;
	if (!x)
		return -ENOMEM;
	/* Small contents are read whole: the commit copies them inline. */
	if (t->size <= t->st->o.inline_max) {
		buf = malloc(t->size + 1);
		*small = buf;
	} else {
		buf = malloc(COPY_BUF);
	}
	if (!buf) {
		XXH3_freeState(x);
		return -ENOMEM;
	}
	XXH3_128bits_reset(x);
	while (off < t->size) {
		size_t want = *small ? (size_t)(t->size - off) : COPY_BUF;
		ssize_t n = pread(t->fd, *small ? buf + off : buf, want,
				  (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* A sparse tail reads as zeros; EOF early means the
			 * file is shorter than t->size only if truncated. */
			rc = -EIO;
			break;
		}
		log_xxh128_update(x, *small ? buf + off : buf, (size_t)n);
		off += (uint64_t)n;
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(x));
	memcpy(out, c.digest, 16);
	XXH3_freeState(x);
	if (!*small)
		free(buf);
	if (rc < 0) {
		free(*small);
		*small = NULL;
	}
	return rc;
}

/* A change in memory (or never staged, and empty): its entry goes into
 * the space its reservation holds, which the commit consumes. */
static int commit_mem(struct store_txn *t, uint64_t expect,
		      const struct store_meta *meta, int durable,
		      uint64_t *newv, uint64_t *ticket)
{
	uint8_t h[16];
	uint64_t resv = t->resv;

	log_xxh128(t->buf ? t->buf : "", (size_t)t->size, h);
	t->resv = 0; /* store_commit_put's now, whatever happens */
	return store_commit_put(t->st, t->key, expect, meta,
				t->buf ? t->buf : "", t->size, h, -1, NULL,
				durable, resv, newv, ticket);
}

int store_txn_commit(struct store_txn *t, uint64_t expect,
		     const struct store_meta *meta, int durable,
		     uint64_t *newv)
{
	if (t->es)
		return txn_es_commit(t, expect, meta, durable, newv);
	return store_txn_commit_nowait(t, expect, meta, durable, newv, NULL);
}

int store_wait_ticket(struct store *st, uint64_t ticket)
{
	return ticket ? store_wait_durable(st, ticket) : 0;
}

/* ticket NULL: store_txn_commit(), which waits here. */
int store_txn_commit_nowait(struct store_txn *t, uint64_t expect,
			    const struct store_meta *meta, int durable,
			    uint64_t *newv, uint64_t *ticket)
{
	if (t->es) {
		if (ticket)
			*ticket = 0; /* etcd's commits are durable when applied */
		return txn_es_commit(t, expect, meta, durable, newv);
	}
	struct store *st = t->st;
	uint8_t h[16];
	char *small = NULL;
	int rc = stage(t, store_txn_size(t));

	if (rc == 0 && t->fd < 0) {
		rc = commit_mem(t, expect, meta, durable, newv, ticket);
		goto out;
	}
	if (rc == 0)
		rc = spool_hash(t, h, &small);
	/* A blob's content is durable before anything names it, in every
	 * mode: a log entry may reach the disk before any sync is asked
	 * for (the kernel writes pages back when it likes, and a group
	 * sync's fdatasync takes entries appended after its target too),
	 * and a log that names a blob a power cut lost cannot be opened. */
	if (rc == 0 && !small && io_sync(st, t->fd) < 0)
		rc = -EIO;
	if (rc == 0) {
		uint64_t resv = t->resv;

		t->resv = 0; /* store_commit_put's now, whatever happens */
		rc = store_commit_put(st, t->key, expect, meta, small, t->size,
				      h, t->fd, t->spool_name, durable, resv,
				      newv, ticket);
	}
	free(small);
out:
	store_txn_abort(t);
	return rc;
}

void store_txn_unlease(struct store_txn *t)
{
	if (t && t->es)
		es_txn_unlease(t->es);
}

void store_txn_abort(struct store_txn *t)
{
	if (!t)
		return;
	if (t->es) {
		es_txn_abort(t->es);
		free(t);
		return;
	}
	if (t->counted)
		store_txn_ended(t->st);
	store_snap_close(t->base);
	spool_drop(t);
	store_resv_drop(t->st, t->resv);
	free(t->buf);
	free(t);
}

uint64_t txn_base_version(const struct store_txn *t);
uint64_t txn_base_version(const struct store_txn *t)
{
	return t->base_version;
}

/* Begin a change of live record @key from its current content: the
 * staging halves below start here. */
static int stage_begin(struct store *st, const char *key,
		       struct store_txn **out, uint64_t *base)
{
	int rc;

	if (st->es)
		return -EOPNOTSUPP; /* one request each: es_append, es_truncate */
	rc = store_txn_begin(st, key, 0, out);
	if (rc < 0)
		return rc;
	if (!(*out)->base_version) { /* absent, or deleted */
		store_txn_abort(*out);
		return -ENOENT;
	}
	*base = (*out)->base_version;
	return 0;
}

int store_truncate_stage(struct store *st, const char *key, uint64_t size,
			 struct store_txn **out, uint64_t *base)
{
	int rc = stage_begin(st, key, out, base);

	if (rc == 0 && (rc = store_txn_truncate(*out, size)) < 0)
		store_txn_abort(*out);
	return rc;
}

int store_append_stage(struct store *st, const char *key, const void *buf,
		       size_t len, struct store_txn **out, uint64_t *base)
{
	int rc = stage_begin(st, key, out, base);
	ssize_t n;

	if (rc < 0)
		return rc;
	n = store_txn_write(*out, buf, len, store_txn_size(*out));
	if (n >= 0 && (size_t)n != len)
		n = -ENOSPC;
	if (n < 0) {
		store_txn_abort(*out);
		return (int)n;
	}
	return 0;
}

/* The staged content is derived from *base, so only *base may be what the
 * commit replaces: committed against @expect alone, a change made between
 * the staging and the commit (to version @expect) was lost under a
 * truncate of the version before it. */
int store_truncate(struct store *st, const char *key, uint64_t expect,
		   uint64_t size, uint64_t *newv)
{
	if (st->es)
		return es_truncate(st->es, key, expect, size, newv);
	for (;;) {
		struct store_txn *t;
		uint64_t base;
		int rc = stage_begin(st, key, &t, &base);

		if (rc < 0)
			return rc;
		/* Stale: told before the copy, not after it. */
		rc = expect != STORE_ANY && expect != base
			     ? -EAGAIN
			     : store_txn_truncate(t, size);
		if (rc < 0) {
			store_txn_abort(t);
			return rc;
		}
		rc = store_txn_commit(t, base, NULL, 0, newv);
		if (rc != -EAGAIN || expect != STORE_ANY)
			return rc;
	}
}

/* An append is computed where the data lives: retried against the version
 * it started from until it lands on the true end. */
int store_append(struct store *st, const char *key, const void *buf,
		 size_t len, uint64_t *newv)
{
	if (st->es)
		return es_append(st->es, key, buf, len, newv);
	for (;;) {
		struct store_txn *t;
		uint64_t base;
		int rc = store_append_stage(st, key, buf, len, &t, &base);

		if (rc < 0)
			return rc;
		rc = store_txn_commit(t, base, NULL, 0, newv);
		if (rc != -EAGAIN)
			return rc;
	}
}

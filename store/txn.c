/* txn.c - staged changes: one open handle's private content, kept in a
 * spool file inside the store as it is written, so that the disk space
 * is taken at write time and the commit needs none (its entry goes into
 * preallocated log space; a large content's spool file simply becomes
 * its blob). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "store_int.h"

int store_commit_put(struct store *st, const char *key, uint64_t expect,
		     const struct store_meta *meta, const void *data,
		     uint64_t size, const uint8_t hash[16], int spool_fd,
		     const char *spool_name, int durable, uint64_t *newv);

struct store_txn {
	struct store *st;
	char *key;
	int fd;
	char *spool_name;         /* NULL: O_TMPFILE */
	struct store_snap *base;  /* content to start from, until copied */
	uint64_t base_version;
	uint64_t size;
};

#define COPY_BUF (1u << 20)

int txn_spool_open(struct store *st, int *fd)
{
	*fd = openat(st->spoolfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	return *fd < 0 ? -errno : 0;
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
			t->spool_name = strdup(name);
			return t->spool_name ? 0 : -ENOMEM;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int store_txn_begin(struct store *st, const char *key, int truncate,
		    struct store_txn **out)
{
	struct store_txn *t;
	struct store_stat sb;
	int rc = key_check(key);

	if (rc < 0)
		return rc;
	if (st->o.read_only || st->failed)
		return -EROFS;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->st = st;
	t->fd = -1;
	t->key = strdup(key);
	if (!t->key) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = store_snap_open(st, key, 0, &t->base);
	if (rc == -EISDIR)
		goto fail;
	if (rc == 0) {
		store_snap_stat(t->base, &sb);
		t->base_version = sb.version;
		if (truncate) {
			store_snap_close(t->base);
			t->base = NULL;
		}
	}
	rc = spool_create(t);
	if (rc < 0)
		goto fail;
	*out = t;
	return 0;
fail:
	store_txn_abort(t);
	return rc;
}

/* Copy the base content into the spool file, the first time the change
 * needs its own bytes. */
static int materialize(struct store_txn *t)
{
	struct store_stat sb;
	char *buf;
	uint64_t off = 0;
	int rc = 0;

	if (!t->base)
		return 0;
	store_snap_stat(t->base, &sb);
	buf = malloc(COPY_BUF);
	if (!buf)
		return -ENOMEM;
	while (off < sb.size && rc == 0) {
		ssize_t n = store_snap_read(t->base, buf, COPY_BUF, off);
		if (n <= 0) {
			rc = -EIO;
			break;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t w = io_pwrite(t->st, t->fd, buf + done,
					   (size_t)(n - done),
					   (off_t)(off + (uint64_t)done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				rc = w < 0 ? -errno : -EIO;
				break;
			}
			done += w;
		}
		off += (uint64_t)n;
	}
	free(buf);
	if (rc < 0) {
		if (io_ftruncate(t->st, t->fd, 0) < 0)
			rc = -EIO;
		return rc;
	}
	t->size = sb.size;
	store_snap_close(t->base);
	t->base = NULL;
	return 0;
}

/* Writes are refused once the reserve had to be given back and cannot be
 * taken again: that space is for deletes and compaction. */
static int space_ok(struct store *st)
{
	if (st->reserve_held || st->o.reserve_bytes == 0)
		return 0;
	return store_reserve(st, 1) == 0 ? 0 : -ENOSPC;
}

ssize_t store_txn_write(struct store_txn *t, const void *buf, size_t len,
			uint64_t off)
{
	size_t done = 0;
	int rc;

	if (off + len < off || off + len > (1ull << 62))
		return -EFBIG;
	rc = materialize(t);
	if (rc == 0)
		rc = space_ok(t->st);
	if (rc < 0)
		return rc;
	while (done < len) {
		ssize_t n = io_pwrite(t->st, t->fd, (const char *)buf + done,
				      len - done,
				   (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (done)
				break; /* a short write, like any file's */
			return n < 0 ? -errno : -EIO;
		}
		done += (size_t)n;
	}
	if (off + done > t->size)
		t->size = off + done;
	return (ssize_t)done;
}

ssize_t store_txn_read(struct store_txn *t, void *buf, size_t len,
		       uint64_t off)
{
	ssize_t n;

	if (t->base)
		return store_snap_read(t->base, buf, len, off);
	if (off >= t->size)
		return 0;
	if (len > t->size - off)
		len = (size_t)(t->size - off);
	n = pread(t->fd, buf, len, (off_t)off);
	return n < 0 ? -EIO : n;
}

int store_txn_truncate(struct store_txn *t, uint64_t size)
{
	int rc = materialize(t);

	if (rc < 0)
		return rc;
	if (io_ftruncate(t->st, t->fd, (off_t)size) < 0)
		return -errno;
	t->size = size;
	return 0;
}

uint64_t store_txn_size(const struct store_txn *t)
{
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

int store_txn_commit(struct store_txn *t, uint64_t expect,
		     const struct store_meta *meta, int durable,
		     uint64_t *newv)
{
	struct store *st = t->st;
	uint8_t h[16];
	char *small = NULL;
	int rc = materialize(t);

	if (rc == 0)
		rc = spool_hash(t, h, &small);
	if (rc == 0 && !small && (durable || st->o.sync_always) &&
	    io_sync(st, t->fd) < 0)
		rc = -EIO;
	if (rc == 0)
		rc = store_commit_put(st, t->key, expect, meta,
				      small ? small : NULL, t->size, h, t->fd,
				      t->spool_name, durable, newv);
	if (rc == 0 && !small && t->spool_name) {
		free(t->spool_name); /* renamed into blobs/ */
		t->spool_name = NULL;
	}
	free(small);
	store_txn_abort(t);
	return rc;
}

void store_txn_abort(struct store_txn *t)
{
	if (!t)
		return;
	store_snap_close(t->base);
	if (t->fd >= 0)
		close(t->fd);
	if (t->spool_name)
		unlinkat(t->st->spoolfd, t->spool_name, 0);
	free(t->spool_name);
	free(t->key);
	free(t);
}

uint64_t txn_base_version(const struct store_txn *t);
uint64_t txn_base_version(const struct store_txn *t)
{
	return t->base_version;
}

int store_truncate(struct store *st, const char *key, uint64_t expect,
		   uint64_t size, uint64_t *newv)
{
	struct store_txn *t;
	struct store_stat sb;
	int rc = store_stat(st, key, &sb);

	if (rc < 0)
		return rc;
	if (S_ISDIR(sb.meta.mode))
		return -EISDIR;
	rc = store_txn_begin(st, key, 0, &t);
	if (rc < 0)
		return rc;
	rc = store_txn_truncate(t, size);
	if (rc < 0) {
		store_txn_abort(t);
		return rc;
	}
	return store_txn_commit(t, expect, NULL, 0, newv);
}

/* An append is computed where the data lives: retried against the version
 * it started from until it lands on the true end. */
int store_append(struct store *st, const char *key, const void *buf,
		 size_t len, uint64_t *newv)
{
	for (;;) {
		struct store_txn *t;
		uint64_t end;
		ssize_t n;
		int rc = store_txn_begin(st, key, 0, &t);

		if (rc < 0)
			return rc;
		if (!t->base_version) {
			store_txn_abort(t);
			return -ENOENT;
		}
		end = store_txn_size(t);
		n = store_txn_write(t, buf, len, end);
		if (n >= 0 && (size_t)n != len)
			n = -ENOSPC;
		if (n < 0) {
			store_txn_abort(t);
			return (int)n;
		}
		rc = store_txn_commit(t, t->base_version, NULL, 0, newv);
		if (rc != -EAGAIN)
			return rc;
	}
}

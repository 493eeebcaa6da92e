/* blob.c - a large content's blob, named and made durable before its
 * commit takes the commit lock.
 *
 * A blob is the spool file a change was staged in, linked into blobs/
 * under a fresh id.  Its content and its name must be on disk before a
 * log entry names it (a log that names a blob a power cut lost cannot be
 * opened), so a blob commit pays a sync of its file and one of blobs/.
 * Made under commit_mu, the directory's sync (a device flush) held back
 * every other commit of the store; here it is made before.
 *
 * Invariants:
 * - an id is handed out once (next_blob only grows, atomically) and is
 *   "in flight" from then until its commit has put it in the index or
 *   its file is gone again: compaction's sweep lists, under commit_mu,
 *   only blobs no version names and none in flight, none its snapshot
 *   names and none from blob_first_live() at the snapshot on, and
 *   removes them once the log is durable up to the listing (compact.c,
 *   drop_dead_blobs);
 * - syncs of blobs/ are made one at a time, under blob_sync_mu, and
 *   a link is trusted only if the store has not failed when its sync
 *   returned: blobfd is one open file description, and a writeback
 *   error is reported on it once, so a second sync running beside a
 *   failed one could return 0 for a name the failure lost;
 * - links are numbered (blob_links) as they are made, and blob_dir_synced
 *   is the number a sync saw when it began, once it has succeeded: a
 *   link at or below it is durable, so concurrent blob commits share
 *   one sync of blobs/ (group commit), and none waits for a sync that
 *   began before its link. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

/* A fresh id, in flight from the moment it is handed out: both under
 * blob_mu, so that blob_first_live() never misses one. */
static int inflight_new(struct store *st, uint64_t *id)
{
	int rc = 0;

	pthread_mutex_lock(&st->blob_mu);
	*id = __atomic_fetch_add(&st->next_blob, 1, __ATOMIC_RELAXED);
	if (st->blob_busy_n == st->blob_busy_cap) {
		size_t cap = st->blob_busy_cap ? 2 * st->blob_busy_cap : 8;
		uint64_t *p = realloc(st->blob_busy, cap * sizeof(*p));
		if (!p) {
			rc = -ENOMEM;
			goto out;
		}
		st->blob_busy = p;
		st->blob_busy_cap = cap;
	}
	st->blob_busy[st->blob_busy_n++] = *id;
out:
	pthread_mutex_unlock(&st->blob_mu);
	return rc;
}

uint64_t blob_first_live(struct store *st)
{
	uint64_t first;

	pthread_mutex_lock(&st->blob_mu);
	first = __atomic_load_n(&st->next_blob, __ATOMIC_RELAXED);
	for (size_t i = 0; i < st->blob_busy_n; i++)
		if (st->blob_busy[i] < first)
			first = st->blob_busy[i];
	pthread_mutex_unlock(&st->blob_mu);
	return first;
}

void blob_settle(struct store *st, uint64_t id)
{
	pthread_mutex_lock(&st->blob_mu);
	for (size_t i = 0; i < st->blob_busy_n; i++)
		if (st->blob_busy[i] == id) {
			st->blob_busy[i] = st->blob_busy[--st->blob_busy_n];
			break;
		}
	pthread_mutex_unlock(&st->blob_mu);
}

int blob_in_flight(struct store *st, uint64_t id)
{
	int busy = 0;

	pthread_mutex_lock(&st->blob_mu);
	for (size_t i = 0; i < st->blob_busy_n && !busy; i++)
		busy = st->blob_busy[i] == id;
	pthread_mutex_unlock(&st->blob_mu);
	return busy;
}

void blob_drop(struct store *st, uint64_t id)
{
	char name[BLOB_NAME_LEN];

	blob_name(name, id);
	unlinkat(st->blobfd, name, 0);
	blob_settle(st, id);
}

int blob_link(struct store *st, int spool_fd, const char *spool_name,
	      uint64_t *out)
{
	uint64_t id, seq;
	char name[BLOB_NAME_LEN];
	int rc = inflight_new(st, &id);

	if (rc < 0)
		return rc;
	blob_name(name, id);
	if (spool_name) {
		/* A hard link: the spool name stays the txn's to remove. */
		rc = linkat(st->spoolfd, spool_name, st->blobfd, name, 0);
	} else {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", spool_fd);
		rc = linkat(AT_FDCWD, proc, st->blobfd, name,
			    AT_SYMLINK_FOLLOW);
	}
	if (rc < 0) {
		rc = -errno;
		blob_settle(st, id);
		return rc;
	}
	seq = __atomic_add_fetch(&st->blob_links, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&st->blob_sync_mu);
	if (st->blob_dir_synced < seq) {
		uint64_t upto = __atomic_load_n(&st->blob_links,
						__ATOMIC_SEQ_CST);
		if (io_sync(st, st->blobfd) < 0)
			rc = store_fail(st, -EIO);
		else
			st->blob_dir_synced = upto;
	}
	if (rc == 0 && store_failed(st))
		rc = -EROFS; /* maybe a failure's: see the invariants */
	pthread_mutex_unlock(&st->blob_sync_mu);
	if (rc < 0) {
		blob_drop(st, id);
		return rc;
	}
	*out = id;
	return 0;
}

/* etcd_store.h - the store on an etcd cluster (issue 9); internal to
 * store/.  store.c's public functions hand a store opened on an
 * "etcd://" path to the es_* functions here, which keep the contracts
 * written in store.h.  Nothing outside store/ includes this.
 *
 * Keys under the mount's PREFIX (docs/ETCD.md has the whole layout):
 *   PREFIX m/KEY  the key exists: its metadata and xattrs (records and
 *                 directories alike; the root is m/ with an empty KEY);
 *   PREFIX r/KEY  a record's content with a header holding our version,
 *                 commit time, content hash, the commit's nonce and the
 *                 etcd revision of the version before (history);
 *   PREFIX t/KEY  the last version of a deleted key (its tombstone),
 *                 the revision of its last live version and the nonce
 *                 of the change that made it;
 *   PREFIX l/KEY  a write lease, attached to the holding mount's etcd
 *                 lease so that it goes when the mount dies;
 *   PREFIX h/ID   each mount's heartbeat, which proves its watch alive.
 *
 * Invariants kept by every change (all are single etcd transactions):
 * - a record's r/ changes only by a transaction that compared its
 *   mod_revision with the one the change is based on, so a version is
 *   never made from a stale basis and versions go +1 per commit;
 * - r/ and m/ appear and go together for records; a deleted record's
 *   t/ holds its last version, and a new r/ starts above it;
 * - a commit of a staged change also compares that its l/ is still the
 *   one this change created, so a change whose lease expired can never
 *   land late.
 */
#ifndef RECFS_ETCD_STORE_H
#define RECFS_ETCD_STORE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "etcd_client.h"
#include "store.h"

struct es;
struct es_txn;

/* True if @path names an etcd store ("etcd://..."). */
int es_is_url(const char *path);

int es_open(const char *url, const struct store_opts *opts, struct es **out);
int es_after_fork(struct es *es);
int es_close(struct es *es);

int es_stat(struct es *es, const char *key, struct store_stat *out);
int es_last_version(struct es *es, const char *key, uint64_t *version);
/* The snapshot is an in-memory copy (a memfd) of the version. */
int es_snap_fd(struct es *es, const char *key, uint64_t version, int *fd,
	       struct store_stat *out);
int es_get(struct es *es, const char *key, char **buf, size_t *len,
	   struct store_stat *stat);
int es_list(struct es *es, const char *dir, struct store_dirent **ents,
	    size_t *n);
/* store_history_below: a key below @dir with a version or a tombstone
 * (its history is etcd's, read by revision). */
int es_history_below(struct es *es, const char *dir);
int es_history(struct es *es, const char *key, struct store_hist **h,
	       size_t *n);

int es_put(struct es *es, const char *key, uint64_t expect, const void *data,
	   size_t len, const struct store_meta *meta, uint64_t *newv);
int es_truncate(struct es *es, const char *key, uint64_t expect,
		uint64_t size, uint64_t *newv);
int es_delete(struct es *es, const char *key, uint64_t expect,
	      uint64_t *newv);
int es_rename(struct es *es, const char *from, uint64_t expect_from,
	      const char *to, uint64_t expect_to, uint64_t *newv);
int es_mkdir(struct es *es, const char *key, const struct store_meta *meta);
int es_rmdir(struct es *es, const char *key);
int es_setmeta(struct es *es, const char *key, const struct store_meta *meta,
	       unsigned mask);
int es_setxattr(struct es *es, const char *key, const char *name,
		const void *value, size_t size, int flags);
ssize_t es_getxattr(struct es *es, const char *key, const char *name,
		    void *value, size_t size);
ssize_t es_listxattr(struct es *es, const char *key, char *list, size_t size);
int es_removexattr(struct es *es, const char *key, const char *name);

int es_txn_begin(struct es *es, const char *key, int truncate,
		 struct es_txn **out);
int es_txn_lease(struct es_txn *t, uint64_t expect);
ssize_t es_txn_write(struct es_txn *t, const void *buf, size_t len,
		     uint64_t off);
ssize_t es_txn_read(struct es_txn *t, void *buf, size_t len, uint64_t off);
int es_txn_truncate(struct es_txn *t, uint64_t size);
uint64_t es_txn_size(const struct es_txn *t);
const char *es_txn_key(const struct es_txn *t);
int es_txn_commit(struct es_txn *t, uint64_t expect,
		  const struct store_meta *meta, int durable, uint64_t *newv);
void es_txn_abort(struct es_txn *t);
void es_txn_unlease(struct es_txn *t);
int es_append(struct es *es, const char *key, const void *buf, size_t len,
	      uint64_t *newv);

int es_stats(struct es *es, struct store_stats *out);
int es_statvfs(struct es *es, struct statvfs *out);

#endif

/* store_int.h - the store's internal state, shared by the store sources. */
#ifndef RECFS_STORE_INT_H
#define RECFS_STORE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <xxhash.h>
#include "log.h"
#include "store.h"

/* One kept version of a record: where its content is. */
struct ver {
	uint64_t version;
	uint64_t size;
	int64_t commit_ns;
	uint8_t hash[16];
	uint64_t seg;   /* segment holding the entry */
	uint64_t eoff;  /* entry offset there */
	uint64_t blob;  /* blob id, or 0: content inline after the body */
	uint32_t elen;  /* entry length (dead-space accounting) */
	uint32_t vskip; /* bytes from entry start to inline content */
};

enum node_kind { K_FILE = 1, K_DIR = 2, K_TOMB = 3 };

/* A key in the index.  Invariants:
 * - a K_FILE has nvers >= 1 and vers[nvers-1].version == version;
 * - K_FILE and K_DIR nodes are linked under their parent directory,
 *   tombstones are not (their parent may be gone);
 * - version is the last version the key ever had (0: never a record). */
struct node {
	struct node *hnext;
	struct node *parent, *child, *sib_next, *sib_prev;
	char *key;
	uint32_t klen;
	uint32_t hash;
	uint8_t kind;
	uint64_t version;
	int64_t del_ns;   /* when it became a tombstone */
	struct store_meta meta;
	uint8_t *xattrs;  /* packed as in the log body */
	uint32_t xattrs_len;
	struct ver *vers; /* oldest first */
	uint32_t nvers;
	uint64_t state_seg, state_off; /* entry holding the current state */
	uint32_t state_len;
};

struct seg {
	uint64_t id;
	int fd;
	uint64_t size;      /* bytes written (logical end) */
	uint64_t prealloc;  /* allocated ahead up to here */
};

struct index {
	struct node **tab;
	size_t cap, count;
};

struct store {
	char *dir;
	int dirfd, lockfd, blobfd, spoolfd;
	struct store_opts o;
	int failed;           /* a sync failed: refuse changes until reopen */
	int tmpfile_ok;       /* O_TMPFILE works in spool/ */
	int reserve_held;     /* RESERVE exists */

	pthread_mutex_t commit_mu; /* serializes commits and the log tail */
	pthread_rwlock_t idx_lock; /* index readers vs. appliers */
	struct index idx;
	struct node *root;
	uint64_t floor;
	uint64_t ntomb;
	uint64_t live_bytes, log_bytes, dead_blob_bytes;
	uint64_t next_blob;
	uint64_t *pend_blobs;  /* blobs linked but not yet synced */
	size_t npend, pend_cap;
	uint64_t compactions;

	struct seg *segs;     /* sorted by id; the last one is active */
	size_t nsegs;
	uint8_t *hint;        /* hint records of the active segment */
	size_t hint_len, hint_cap;
	/* XXH3-64 of the active segment's bytes [0, size), fed as they are
	 * appended, so that sealing it needs no re-read for its hint.  NULL
	 * (no memory) or seg_hash_ok == 0 (a write we could not account
	 * for): the hint hashes the file instead. */
	XXH3_state_t *seg_hash;
	int seg_hash_ok;

	/* group commit */
	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;
	uint64_t lsn, synced_lsn; /* bytes appended / made durable */
	int syncing;

	/* background compaction */
	pthread_mutex_t compact_mu;
	pthread_t compactor;
	pthread_mutex_t bg_mu;
	pthread_cond_t bg_cv;
	int bg_stop, bg_want, bg_started;
};

/* The space counters change under commit_mu but are read without it
 * (stats, the compactor's trigger): relaxed atomics. */
#define CTR_ADD(x, v) __atomic_add_fetch(&(x), (v), __ATOMIC_RELAXED)
#define CTR_SUB(x, v) __atomic_sub_fetch(&(x), (v), __ATOMIC_RELAXED)
#define CTR_SET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* io.c: the store's writes and syncs go through st->o.io. */
ssize_t io_pwrite(struct store *st, int fd, const void *buf, size_t n,
		  off_t off);
int io_sync(struct store *st, int fd);
int io_ftruncate(struct store *st, int fd, off_t len);
int io_fallocate(struct store *st, int fd, int mode, off_t off, off_t len);

/* index.c */
int idx_init(struct index *ix);
void idx_free(struct index *ix);
struct node *idx_get(struct index *ix, const char *key, size_t klen);
int idx_add(struct index *ix, const char *key, size_t klen, struct node **out);
void idx_remove(struct index *ix, struct node *n);
void node_link(struct node *parent, struct node *n);
void node_unlink(struct node *n);
uint64_t node_live_bytes(const struct node *n);
int key_check(const char *key);
/* Length of the parent part of key ("" for a top-level key). */
size_t key_parent_len(const char *key, size_t klen);

/* store.c */
int64_t store_now_ns(void);
int store_apply(struct store *st, const struct log_entry *e, uint64_t seg,
		uint64_t off);
/* The node of key's parent directory's key (live or not), or NULL;
 * key must not be the root's. */
struct node *store_parent_of(struct store *st, const char *key, size_t klen);
int store_append_batch(struct store *st, const uint8_t *buf, size_t len,
		       uint64_t *lsn_end);
int store_wait_durable(struct store *st, uint64_t lsn);
/* A blob committed without a sync: the next log sync syncs it first, so
 * a durable log never names a blob that a power loss could take. */
int store_pend_blob(struct store *st, uint64_t id);
int store_roll(struct store *st);
int store_fail(struct store *st, int err);
void store_err(struct store *st, const char *fmt, ...);
int store_seg_fd(struct store *st, uint64_t id);
int store_read_ver(struct store *st, const struct ver *v, void *buf,
		   size_t len, uint64_t off, ssize_t *got);
void store_hint_add(struct store *st, const uint8_t *entry, uint64_t off);
/* Write NNN.hint for a sealed segment; its header carries the segment's
 * XXH3-64, so that an open trusting the hint still notices damage. */
int store_write_hint(struct store *st, uint64_t id, const uint8_t *recs,
		     size_t len, int seg_fd, uint64_t seg_size);
/* The same for the active segment, with the hash fed on append when it
 * is known (a wrong one only makes the next open scan the segment). */
int store_write_active_hint(struct store *st);
void store_kick_compactor(struct store *st);
int store_reserve(struct store *st, int hold);
int store_open_blob(struct store *st, uint64_t id);
/* Encode a state entry for node n (PUT of its current version, DEL, or
 * MKDIR) with the given flags into a malloc'ed buffer. */

/* txn.c */
int txn_spool_open(struct store *st, int *fd);

/* compact.c */
int compact_run(struct store *st);

#endif

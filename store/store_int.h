/* store_int.h - the store's internal state, shared by the store sources. */
#ifndef RECFS_STORE_INT_H
#define RECFS_STORE_INT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>
#include "log.h"
#include "store.h"

/* One kept version of a record: where its content is.  56 bytes, and a
 * million of them: a blob version's content is its blob, so it needs no
 * entry offset, and an inline one needs no blob id: one field holds
 * whichever the version has.  The content of an inline version ends its
 * entry (FORMAT.md), so it starts elen - size bytes after the entry. */
struct ver {
	uint64_t version;
	uint64_t size;
	int64_t commit_ns;
	uint8_t hash[16];
	uint64_t where;       /* is_blob ? blob id : entry offset in seg */
	uint32_t seg;         /* segment holding the entry: ids < 2^32 */
	uint32_t elen : 31;   /* entry length (<= LOG_ENTRY_MAX = 2^30) */
	uint32_t is_blob : 1;
};

static inline uint64_t ver_blob(const struct ver *v)
{
	return v->is_blob ? v->where : 0;
}

/* Offset of an inline version's content in its segment. */
static inline uint64_t ver_content_off(const struct ver *v)
{
	return v->where + v->elen - v->size;
}

enum node_kind { K_FILE = 1, K_DIR = 2, K_TOMB = 3 };

enum node_flags {
	N_LINKED = 1,    /* under a parent directory: sib_* are valid */
	N_FIRST = 2,     /* its parent's first child: sib_prev is the parent */
	N_STATE_VER = 4, /* the state entry is the newest kept version's PUT */
};

/* An ended incarnation of a key (its record deleted, renamed away, or
 * replaced by a rename over it): its kept versions up to @upto stay
 * readable under the owner and mode the record had then, not under those
 * of whoever makes a record of the name later.  A node's are in version
 * order, in an array that ends with upto 0. */
struct past {
	uint64_t upto;
	uint32_t uid, gid;
	uint32_t mode;
};

/* The owner and mode of @version in @past (an array that ends with upto
 * 0, or NULL) into @m, if an ended incarnation had it.  @return 1 if so. */
static inline int past_meta(const struct past *past, uint64_t version,
			    struct store_meta *m)
{
	for (const struct past *p = past; p && p->upto; p++)
		if (version <= p->upto) {
			m->uid = p->uid;
			m->gid = p->gid;
			m->mode = p->mode;
			return 1;
		}
	return 0;
}

/* What most records do not need: a directory's children, xattrs, a
 * state entry that is not a version's PUT (META, DEL, MKDIR, RMDIR), the
 * line of a key that is not a record, and the owners of its past
 * incarnations. */
struct node_ext {
	struct node *child;   /* K_DIR: first child */
	uint8_t *xattrs;      /* packed as in the log body, NULL if none */
	uint32_t xattrs_len;
	uint32_t ndirs;       /* K_DIR: its subdirectories (st_nlink - 2) */
	uint64_t version;     /* K_DIR, K_TOMB: the key's last version */
	union {
		int64_t del_ns; /* K_TOMB: when it last became a tombstone */
		/* K_DIR: the time of its state entry (MKDIR, META), which
		 * carries its times whole: an entry no later than it does
		 * not move them (store.c, dir_touch). */
		int64_t dir_ns;
	};
	/* The state entry, unless N_STATE_VER (its offset is never read:
	 * live bytes need its length, compaction its segment). */
	uint32_t state_seg, state_len;
	uint32_t uid, gid;    /* when the node's owner is OWNER_EXT */
	struct past *past;    /* NULL: every kept version is the key's now */
};

/* Owners.  A node names its (uid, gid) pair by a 16-bit number into its
 * index's owner table: a store holds few pairs (its user's, root's), and
 * a million records then spend 2 bytes each on them instead of 8.  The
 * pairs sit in blocks that never move once written, so a reader (under
 * idx_lock or commit_mu, as for the node) needs no lock of its own.  A
 * pair past the table's OWNER_MAX lives in the node's ext (OWNER_EXT). */
#define OWNER_BLOCK 256
#define OWNER_BLOCKS 255
#define OWNER_MAX (OWNER_BLOCK * OWNER_BLOCKS) /* numbers 0..MAX-1 */
#define OWNER_EXT UINT16_MAX
_Static_assert(OWNER_MAX <= OWNER_EXT, "owner numbers fit 16 bits");

struct owner {
	uint32_t uid, gid;
};

struct owners {
	struct owner *blk[OWNER_BLOCKS]; /* OWNER_BLOCK pairs each */
	uint32_t n;                      /* pairs in use; pair 0 is 0:0 */
	uint32_t *slot;  /* the writer's lookup: open addressing of
			  * number + 1 (0: free); nslot >= 2 * n */
	uint32_t nslot;
};

/* A key in the index, in the index's own node memory (index.c).  124
 * bytes and the key, which a million small records make most of the
 * index: a single kept version is inline, more are in an array.
 * Invariants:
 * - a K_FILE has nvers >= 1, and its version (node_version) is its
 *   newest kept version's: a new PUT's version is above every kept one;
 * - K_DIR and K_TOMB nodes have an ext (their version is there), and so
 *   does a K_FILE with xattrs or without N_STATE_VER, and any node whose
 *   owner is OWNER_EXT; a K_FILE's ext is freed when it holds nothing;
 * - K_FILE and K_DIR nodes are linked under their parent directory
 *   (N_LINKED), tombstones are not (their parent may be gone); siblings
 *   are a doubly linked list whose first member's sib_prev is the
 *   parent (N_FIRST), so that unlinking needs no lookup;
 * - version is the last version the key ever had (0: never a record).
 * hnext, klen and key come last and together: a chain walk reads
 * them. */
struct node {
	union {              /* oldest first */
		struct ver one;  /* nvers <= 1 */
		struct {
			struct ver *v;
			uint32_t cap;
		} many;          /* nvers >= 2 */
	} vs;
	int64_t atime_ns, mtime_ns, ctime_ns;
	struct node *sib_next, *sib_prev;
	struct node_ext *x;
	uint16_t mode;       /* S_IFMT and the permission bits (16 bits) */
	uint16_t owner;      /* in the index's owners, or OWNER_EXT */
	uint32_t nvers;
	struct node *hnext;
	uint16_t klen;
	uint8_t kind;
	uint8_t flags;
	char key[];          /* NUL-terminated */
};

_Static_assert(sizeof(struct ver) == 56, "struct ver grew");
_Static_assert(sizeof(struct node_ext) == 64, "struct node_ext grew");
_Static_assert(offsetof(struct node, key) == 124, "struct node grew");

static inline struct ver *node_vers(struct node *n)
{
	return n->nvers <= 1 ? &n->vs.one : n->vs.many.v;
}

static inline const struct ver *node_cvers(const struct node *n)
{
	return n->nvers <= 1 ? &n->vs.one : n->vs.many.v;
}

/* The newest kept version, or NULL. */
static inline struct ver *node_newest(struct node *n)
{
	return n->nvers ? &node_vers(n)[n->nvers - 1] : NULL;
}

static inline uint64_t node_version(const struct node *n)
{
	if (n->kind == K_FILE)
		return n->nvers ? node_cvers(n)[n->nvers - 1].version : 0;
	return n->x ? n->x->version : 0;
}

static inline const uint8_t *node_xattrs(const struct node *n, uint32_t *len)
{
	*len = n->x ? n->x->xattrs_len : 0;
	return n->x ? n->x->xattrs : NULL;
}

static inline struct node *node_child(const struct node *n)
{
	return n->x ? n->x->child : NULL;
}

/* The state entry's segment (0: none yet). */
static inline uint64_t node_state_seg(const struct node *n)
{
	if (n->flags & N_STATE_VER)
		return node_cvers(n)[n->nvers - 1].seg;
	return n->x ? n->x->state_seg : 0;
}

struct seg {
	uint64_t id;
	int fd;
	uint64_t size;      /* bytes written (logical end) */
	uint64_t prealloc;  /* allocated ahead up to here: by fallocate
			     * with KEEP_SIZE, or with sync_always by zeros
			     * written inside the file size and synced
			     * (store.c, zero_fill); UINT64_MAX: the
			     * filesystem has no fallocate, so nothing is
			     * allocated ahead.  Bytes past size are never
			     * entries: a sealed segment is cut to size. */
};

/* Node memory: nodes are carved from big chunks, and a freed node goes
 * on a free list of its size (sizes are multiples of 8), so a million
 * nodes cost no malloc headers and are freed with their chunks. */
struct node_mem {
	struct node_chunk *chunks;
	char *next, *end;    /* unused part of the newest chunk */
	size_t chunk_size;   /* of the next chunk: grows to NODE_CHUNK_MAX */
	void **free;         /* per size class, allocated at the first free */
};

struct index {
	struct node **tab;   /* chains through hnext; cap is a power of 2 */
	size_t cap, count;
	struct node_mem mem;
	struct owners own;
};

/* A node's metadata; @ix is the index that holds it.  A node whose
 * metadata was never set is owned by 0:0 (pair 0). */
static inline struct store_meta node_meta(const struct index *ix,
					  const struct node *n)
{
	struct store_meta m = { .mode = n->mode, .atime_ns = n->atime_ns,
				.mtime_ns = n->mtime_ns,
				.ctime_ns = n->ctime_ns };

	if (n->owner == OWNER_EXT) {
		m.uid = n->x->uid;
		m.gid = n->x->gid;
	} else {
		const struct owner *o = &ix->own.blk[n->owner / OWNER_BLOCK]
						[n->owner % OWNER_BLOCK];
		m.uid = o->uid;
		m.gid = o->gid;
	}
	return m;
}

/* The owner and mode under which @n's kept version @version is
 * readable: its incarnation's if that ended (struct past), else the
 * key's own now (so a chmod or chown of the record moves them). */
static inline struct store_meta node_ver_meta(const struct index *ix,
					      const struct node *n,
					      uint64_t version)
{
	struct store_meta m = node_meta(ix, n);

	past_meta(n->x ? n->x->past : NULL, version, &m);
	return m;
}

/* @m as users other than its owner could read it through directory
 * @dir: no read bit for others where @dir is not searchable by them, none
 * for the group where its group cannot search it (others' bit, for a
 * directory of another group).  Applied up every directory above a record
 * that ends (struct past), on both back ends. */
static inline void meta_through_dir(struct store_meta *m,
				    const struct store_meta *dir)
{
	if (!(dir->mode & S_IXOTH))
		m->mode &= ~(uint32_t)S_IROTH;
	if (!(dir->mode & (dir->gid == m->gid ? S_IXGRP : S_IXOTH)))
		m->mode &= ~(uint32_t)S_IRGRP;
}

/* A kept version whose blob open found missing or of the wrong size. */
struct lost_ver {
	char *key;
	uint64_t version;
	uint64_t blob;
	int missing; /* 1: no file; 0: a file of the wrong size */
};

struct es;

struct store {
	struct es *es;        /* an etcd store: every call goes there */
	char *dir;
	int dirfd, lockfd, blobfd, spoolfd;
	int lock_own; /* LOCK is only LOCK: the pid may be written in it */
	struct store_opts o;
	int failed;           /* a sync failed: refuse changes until reopen
			       * (atomic: store_fail, store_failed) */
	int index_bad;        /* a commit failed to apply: the index may hold
			       * part of it, the log does not; reads are
			       * refused until reopen (store_index_bad) */
	int blobs_seen;       /* a blob version was applied: open checks
			       * the blobs only then */
	int tmpfile_ok;       /* O_TMPFILE works in spool/ */
	/* Root opened another user's store: what it makes there is given
	 * to the store directory's owner (store_own). */
	int own;
	uid_t own_uid;
	gid_t own_gid;
	/* A directory was given xattrs since open (store_apply sets it,
	 * never clears it: atomic, read without idx_lock by
	 * store_dir_xattrs()). */
	int dir_xattrs;
	/* RESERVE exists.  Written under reserve_mu; read without it
	 * (atomically) by a change's first write, which takes it only
	 * when the reserve must be made again (txn.c, space_ok). */
	int reserve_held;
	pthread_mutex_t reserve_mu;
	/* Only for store_salvage()'s open (salvage.c): a kept version whose
	 * blob is missing or of the wrong size is listed in lost (not
	 * failing the open) for salvage to drop. */
	int salvage;
	struct lost_ver *lost;
	size_t nlost;

	pthread_mutex_t commit_mu; /* serializes commits and the log tail */
	pthread_rwlock_t idx_lock; /* index readers vs. appliers */
	struct index idx;
	struct node *root;
	uint64_t floor;
	uint64_t ntomb;
	uint64_t live_bytes, log_bytes, dead_blob_bytes;
	uint64_t next_blob;   /* atomic: blob.c takes ids without a lock */
	/* Blobs linked and not yet committed or removed (blob.c): ids
	 * under blob_mu; blob_sync_mu makes blobs/'s syncs one at a time.
	 * Lock order: commit_mu, idx_lock, blob_mu. */
	pthread_mutex_t blob_mu, blob_sync_mu;
	uint64_t *blob_busy;
	size_t blob_busy_n, blob_busy_cap;
	/* Links made (atomic), and the count a successful sync of blobs/
	 * covered (under blob_sync_mu): blob.c's group commit. */
	uint64_t blob_links, blob_dir_synced;
	uint8_t *batch_buf;    /* a commit's entries are built here (ops.c) */
	size_t batch_cap;
	/* The bytes of the last batch commit_batch() wrote: segment
	 * recent_seg, [recent_base, recent_base + recent_len), still held
	 * by batch_buf (or by the batch it is lent to, until its first
	 * entry is built).  recent_len 0: none.  Under commit_mu.  A
	 * compaction reuses segment ids, so it clears this (compact.c);
	 * ops.c's recent_content() checks the content hash anyway. */
	uint32_t recent_seg;
	uint64_t recent_base;
	size_t recent_len;
	/* Log space promised to staged changes held in memory (txn.c):
	 * the sum of their reservations, each its entry's size as staged
	 * so far.  Invariant, under commit_mu: the active segment a has
	 * a->size + resv <= a->prealloc, and that tail is allocated (zeros
	 * written ahead count: they are allocated blocks), so a
	 * staged change that got its reservation at write time commits
	 * without meeting ENOSPC.  Kept by:
	 * - store_resv_take(): a reservation grows the preallocation first
	 *   (never with the RESERVE file: that is for deletes);
	 * - ensure_space(): any other append leaves resv bytes free behind
	 *   it; a commit of a staged change spends its own reservation
	 *   (store_append_batch's own), which store_commit_put then drops;
	 * - store_roll(): the new segment is preallocated for resv before
	 *   the old one gives its tail back, and a roll that cannot be made
	 *   leaves the old segment active (store_append_batch);
	 * - the cut after a torn log write, which frees the tail: it is
	 *   allocated again; if even that fails (the disk filled in
	 *   between), a->prealloc says so and the commits allocate their
	 *   own space as unreserved ones do, so they may meet ENOSPC.
	 * Never true when a->prealloc is UINT64_MAX: then no reservation is
	 * taken and changes stage in spool files, which take their space
	 * as they are written.  Written with CTR_* (store_stats reads it). */
	uint64_t resv;
	uint64_t compactions;
	int damaged;             /* STORE_DAMAGE_* bits store_damage() was
				   * given: read-only, what is served stops
				   * at a damage in the log */

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

	/* group commit (store_wait_durable): up to two leaders sync at
	 * once.  Leader n (numbered by sync_seq as it starts) uses lead[n &
	 * 1] and act_sfd[n & 1]; leaders retire in their order
	 * (sync_retired), each moving synced_lsn to its target.  want_lsn:
	 * the highest LSN a waiter has waited for since the last
	 * broadcast, so that a leader publishing its target wakes the
	 * waiters only when one of them may start the next sync.  All
	 * under sync_mu. */
	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;
	uint64_t lsn, synced_lsn; /* bytes appended / made durable */
	uint64_t sync_seq, sync_retired, want_lsn;
	struct sync_lead {
		uint64_t target;   /* the log's end when it looked */
		int published;     /* target is set */
		int done, ok;      /* its syncs returned; all succeeded */
	} lead[2];
	/* The active segment opened twice more, for the leaders' syncs
	 * only: two syncs in flight at once must not share an open file
	 * description, since a writeback error is reported once per
	 * description (errseq) and could reach one sync but not the other.
	 * The commit path's own syncs (a roll, a zero fill) use its fd.
	 * Set by store_roll (under commit_mu); -1 when read-only. */
	int act_sfd[2];
	/* Gathering: txns begun and not yet ended (appended or aborted),
	 * how many have ended, and the leader's wait for them (all
	 * atomic; gather_cv under sync_mu).  sync_ns: recent sync time
	 * (moving average, the leader's).  quiet_at: txn_ended + 1 when a
	 * wait saw no txn end (0: none), so that no wait is made until one
	 * does (the leader's, under sync_mu). */
	int txn_open, gathering;
	uint64_t txn_ended, quiet_at;
	int64_t sync_ns;
	pthread_cond_t gather_cv;
	/* Without sync_always a roll leaves the old segment's tail and the
	 * new segment's name unsynced: the oldest such segment's id, or 0.
	 * The next group sync covers it (under commit_mu). */
	uint64_t dirty_seg;

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
/* A listing of directory @fd through a descriptor of its own (@fd stays
 * open), rewound.  NULL and errno set on failure, with no descriptor
 * left behind: fdopendir can fail for memory after the dup. */
DIR *io_opendir(int fd);

/* index.c */
int idx_init(struct index *ix);
/* Set @n's metadata (mode, owner, times); the mode keeps its low 16
 * bits, which hold S_IFMT and the permissions.  Caller may change the
 * index.  @return 0; -ENOMEM (the node is unchanged). */
int node_set_meta(struct index *ix, struct node *n,
		  const struct store_meta *m);
void idx_free(struct index *ix);
struct node *idx_get(struct index *ix, const char *key, size_t klen);
/* The node of @key if it is live (not a tombstone), else NULL.  Caller
 * holds idx_lock. */
static inline struct node *store_live(struct store *st, const char *key)
{
	struct node *n = idx_get(&st->idx, key, strlen(key));
	return n && n->kind != K_TOMB ? n : NULL;
}
/* A new node for key (kind 0, no versions): the caller knows it absent. */
int idx_add(struct index *ix, const char *key, size_t klen, struct node **out);
void idx_remove(struct index *ix, struct node *n);
/* Make room for n more keys without growing the table on the way. */
int idx_reserve(struct index *ix, size_t n);
/* Shrink the table to its keys (after idx_reserve overshot). */
void idx_fit(struct index *ix);
/* Start fetching what idx_get(key) will read: its bucket (node == 0),
 * or the bucket's first node (node == 1, the bucket fetched before). */
void idx_prefetch(struct index *ix, const char *key, size_t klen, int node);
/* The node's ext, allocated zeroed if it has none.  NULL: no memory. */
struct node_ext *node_ext(struct node *n);
/* Free a K_FILE's ext when it holds nothing (see struct node). */
void node_ext_trim(struct node *n);
int node_set_xattrs(struct node *n, const uint8_t *x, uint32_t len);
/* Keep v among n's versions (sorted, at most keep); a same-numbered one
 * is replaced (re-written by compaction).  Blob bytes of versions that
 * fall out are added to *dead_blob. */
int node_add_ver(struct node *n, const struct ver *v, uint32_t keep,
		 uint64_t *dead_blob);
/* n's versions up to @upto ended under @m's owner and mode (struct
 * past); a run of the same owner and mode is one entry.  Nothing if
 * they already had. */
int node_past_add(struct node *n, uint64_t upto, const struct store_meta *m);
/* Forget past entries older than every kept version. */
void node_past_trim(struct node *n);
/* Forget n's version at index i (salvage.c).  Never a K_FILE's newest:
 * that is its content, which only a DEL may end. */
void node_drop_ver(struct node *n, uint32_t i);
/* parent must be a directory (it has an ext). */
void node_link(struct node *parent, struct node *n);
void node_unlink(struct node *n);
uint64_t node_live_bytes(const struct node *n);
int key_check(const char *key);
/* Length of the parent part of key ("" for a top-level key). */
size_t key_parent_len(const char *key, size_t klen);

/* open.c: store_open(), and with @salvage set, the open store_salvage()
 * makes (struct store's lost). */
int store_open_ex(const char *dir, const struct store_opts *opts,
		  int salvage, struct store **out);
/* replay.c: rebuild the index from the segments (hints where they
 * match), cutting a torn tail when the store is writable.  Caller is
 * store_open_ex(), with the lock held and the index holding the root.
 * @return 0 (read-only: also when damage stopped it, having applied
 * what precedes); -EUCLEAN for damage; another negative errno. */
int store_replay(struct store *st);

/* store.c */
int64_t store_now_ns(void);
/* CLOCK_MONOTONIC in ns: for waits and durations, which a step of the
 * wall clock must not stretch. */
int64_t store_mono_ns(void);
/* known: e's key's node if the caller has it, else NULL (looked up). */
int store_apply(struct store *st, const struct log_entry *e, uint64_t seg,
		uint64_t off, struct node *known);
/* The node of key's parent directory's key (live or not), or NULL;
 * key must not be the root's. */
struct node *store_parent_of(struct store *st, const char *key, size_t klen);
/* own: bytes of st->resv that back this very batch (a staged change's
 * commit), 0 for any other change; the caller drops them after.
 * spend: the batch may have the reserve on a full disk (a delete or
 * an rmdir, which free space, or a record's content, whose writes were
 * checked); another change may not (ensure_space). */
int store_append_batch(struct store *st, const uint8_t *buf, size_t len,
		       uint64_t own, int spend, uint64_t *lsn_end);
/* Reserve n more bytes of log for a staged change, or give them back
 * (see struct store's resv).  Take: 0; -ENOSPC (or the io error) when
 * the preallocation cannot grow; -EOPNOTSUPP when the filesystem
 * preallocates nothing (stage in a spool file); -EROFS. */
int store_resv_take(struct store *st, uint64_t n);
void store_resv_drop(struct store *st, uint64_t n);
int store_roll(struct store *st);
int store_fail(struct store *st, int err);
/* Fail the store for @why (printed with @err): changes are refused with
 * -EROFS until it is reopened.  @return err. */
int store_stop(struct store *st, const char *why, int err);
/* Take back the batch of @len bytes that store_append_batch() just
 * appended at @base of the active segment (nothing after it): cut and
 * synced.  Caller holds commit_mu.  @return 0; -EINVAL it was not the
 * last; -EIO (the store has failed: the batch may still be there). */
int store_unappend(struct store *st, uint64_t base, size_t len);
/* Did a commit fail half-applied?  Then the index may show part of a
 * change the log does not hold (store_unappend), and no reader must see
 * it: every read is refused with -EIO until the store is reopened,
 * which rebuilds the index from the log.  Set once, with failed. */
static inline int store_index_bad(struct store *st)
{
	return __atomic_load_n(&st->index_bad, __ATOMIC_ACQUIRE);
}
/* A descriptor the store could not get (-@e from errno): the daemon's
 * table full (EMFILE) is, to the caller who asked for a record, the
 * system's (ENFILE, "too many open files in system"): its own limit is
 * not what ran out. */
/* A file or directory made in the store: the store's owner's, when
 * root made it in another user's store (@fd, or @name under @dirfd). */
void store_own(struct store *st, int fd);
void store_own_at(struct store *st, int dirfd, const char *name);

/* 1 if @name in @dirfd is a symbolic link.  Store files and directories
 * are opened O_NOFOLLOW, which says ELOOP (ENOTDIR with O_DIRECTORY) for
 * one: this tells that apart, for a message that names it. */
static inline int store_is_link(int dirfd, const char *name)
{
	struct stat sb;

	return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISLNK(sb.st_mode);
}

static inline int store_fd_errno(int e)
{
	return e == EMFILE ? -ENFILE : -e;
}
/* Has a sync failed?  Set once by store_fail, from any thread. */
static inline int store_failed(struct store *st)
{
	return __atomic_load_n(&st->failed, __ATOMIC_ACQUIRE);
}
/* sync.c.  Wait until the log is durable up to @lsn (group commit).
 * @return 0; -EIO when a sync failed (the store has failed). */
int store_wait_durable(struct store *st, uint64_t lsn);
/* A txn began (count it) / ended: appended or aborted (txn.c). */
void store_txn_opened(struct store *st);
void store_txn_ended(struct store *st);
/* A blob's file name in blobs/: its id, 16 hex digits (FORMAT.md). */
#define BLOB_NAME_LEN 17
static inline void blob_name(char buf[BLOB_NAME_LEN], uint64_t id)
{
	snprintf(buf, BLOB_NAME_LEN, "%016" PRIx64, id);
}
/* blob.c.  blob_link: link spool file @spool_fd (named @spool_name in
 * spool/, or NULL for an O_TMPFILE) into blobs/ under a new id and make
 * the name durable; the id is in flight until blob_settle (committed)
 * or blob_drop (removed).  @return 0; -errno of the link; -EIO (the
 * store has failed) or -EROFS (it had). */
int blob_link(struct store *st, int spool_fd, const char *spool_name,
	      uint64_t *id);
void blob_settle(struct store *st, uint64_t id);
void blob_drop(struct store *st, uint64_t id);
int blob_in_flight(struct store *st, uint64_t id);
/* The lowest blob id a commit still to come may name as a new blob: the
 * next id, or a lower one in flight. */
uint64_t blob_first_live(struct store *st);
void store_err(struct store *st, const char *fmt, ...);
/* Damage found at open: said as store_err() does, and when the open is
 * read-only also logged on stderr ("recfs: ..."), since that open goes
 * on past it and succeeds, and its caller never looks at errbuf then. */
void store_damage(struct store *st, int kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int store_seg_fd(struct store *st, uint64_t id);
int store_read_ver(struct store *st, const struct ver *v, void *buf,
		   size_t len, uint64_t off, ssize_t *got);
/* Does @data, the whole content of version @v of @key, match @v's hash?
 * Damage found is logged on stderr with the file that holds it.
 * @return 0 or -EIO.  (read.c) */
int store_ver_check(const struct store *st, const char *key,
		    const struct ver *v, const void *data);
void store_hint_add(struct store *st, const uint8_t *entry, uint64_t off);
/* Write NNN.hint for a sealed segment; its header carries the segment's
 * XXH3-64, so that an open trusting the hint still notices damage.
 * @durable: the segment's @seg_size bytes were synced before this call
 * (HINT_F_DURABLE: damage in them is then never taken for a torn tail). */
int store_write_hint(struct store *st, uint64_t id, const uint8_t *recs,
		     size_t len, int seg_fd, uint64_t seg_size, int durable);
/* The same for the active segment, with the hash fed on append when it
 * is known (a wrong one only makes the next open scan the segment). */
int store_write_active_hint(struct store *st, int durable);
void store_kick_compactor(struct store *st);
int store_reserve(struct store *st, int hold);
/* Give back @need bytes of the reserve (and some room for the file
 * system), or all of it when it is smaller.  @return 0 or -ENOSPC. */
int store_reserve_slice(struct store *st, uint64_t need);
/* 0 while the reserve is held (made again if it can be), or the store
 * keeps none; -ENOSPC once it was given back and cannot be had again. */
int store_space_ok(struct store *st);
int store_open_blob(struct store *st, uint64_t id);

/* txn.c */
int txn_spool_open(struct store *st, int *fd);

/* ops.c, for txn.c */
/* What a staged change of key learns at its begin, in one lookup: the
 * key's current version (0: no record) and the size of its PUT entry
 * without the content (header, key, body with the xattrs it has now).
 * @return 0 or -EISDIR. */
int store_txn_peek(struct store *st, const char *key, uint64_t *version,
		   uint64_t *overhead);
/* Commit a PUT of key: data (inline, size <= inline_max) or, when data
 * is NULL, the spool file's content, which becomes a blob.  resv: the
 * caller's reservation for this entry, consumed (or given back on
 * failure) whatever happens.  ticket: NULL waits for durability here;
 * else it is left to the caller (see store_txn_commit_nowait). */
int store_commit_put(struct store *st, const char *key, uint64_t expect,
		     const struct store_meta *meta, const void *data,
		     uint64_t size, const uint8_t hash[16], int spool_fd,
		     const char *spool_name, int durable, uint64_t resv,
		     uint64_t *newv, uint64_t *ticket);

/* ops.c, for meta.c */
/* Check key and take st->commit_mu for a change: -EROFS on a read-only
 * or failed store (commit_mu not taken), or a key_check() error. */
int store_begin_change(struct store *st, const char *key);
/* End a change begun by store_begin_change: release commit_mu, then
 * wait for lsn to be durable if durable or sync=always (and rc == 0).
 * @return rc, or the sync's error. */
int store_finish(struct store *st, int rc, uint64_t lsn, int durable);
/* Commit a META entry (metadata m, packed xattrs x) for live node n,
 * and store_finish() it.  Caller began the change. */
int store_commit_meta(struct store *st, struct node *n,
		      const struct store_meta *m, const uint8_t *x,
		      uint32_t xlen);

/* compact.c */
int compact_run(struct store *st);

#endif

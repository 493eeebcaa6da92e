/* store.h - the recfs record store: the one header fs/ and tools/ include.
 *
 * A store is a directory holding an append-only log of checksummed
 * entries (segments), files for large record contents (blobs), hint
 * files and a lock file.  An index of every key lives in memory.
 *
 * Keys are paths relative to the store root, without a leading slash:
 * "a/b/rec".  The root directory is the empty key "".  A key's parent
 * must be an existing directory.
 *
 * Every function returns 0 (or a non-negative count) on success and a
 * negative errno on failure.  Unless a function says otherwise, a
 * failure changes nothing.  All functions are thread-safe.
 *
 * Versions: every change of a record's content or existence is checked
 * against an expected version and makes the key's next version.  A
 * key's version never repeats: a deleted key leaves a tombstone that
 * remembers its last version, and creating it again continues from
 * there.  Directories carry no versions and need no basis.
 */
#ifndef RECFS_STORE_H
#define RECFS_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Expected version meaning "do not check" (for `unchecked` mounts). */
#define STORE_ANY UINT64_MAX
/** Expected version meaning "the key must not exist" (create-only). */
#define STORE_ABSENT 0

#define STORE_NAME_MAX 255   /**< longest path component, bytes */
#define STORE_KEY_MAX 4095   /**< longest key, bytes */
#define STORE_XATTR_NAME_MAX 255
#define STORE_XATTR_VALUE_MAX 65536
#define STORE_XATTR_TOTAL_MAX (1u << 20) /**< all xattrs of one key */

struct store;
struct store_snap;
struct store_txn;

/**
 * The store's I/O on its files, replaceable for fault injection (the
 * way SQLite's VFS is): tests fail a write or a sync on purpose.  Each
 * function behaves as its POSIX namesake, returning -1 with errno set on
 * failure.  fdatasync is also used where the store needs fsync (files and
 * directories).  NULL in store_opts means the real calls, and so does a
 * NULL member (a test replaces only what it watches).
 */
struct store_io {
	ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t n,
			  off_t off);
	int (*fdatasync)(void *ctx, int fd);
	int (*ftruncate)(void *ctx, int fd, off_t len);
	int (*fallocate)(void *ctx, int fd, int mode, off_t off, off_t len);
	void *ctx;
};

struct store_stat;

/** Options for store_open().  Zero means "default" for every field. */
struct store_opts {
	int read_only;            /**< serve what is intact; no changes */
	int sync_always;          /**< every commit is durable (group commit) */
	uint32_t keep_versions;   /**< versions kept per key (default 8) */
	uint64_t tombstone_limit; /**< tombstones kept (default 1,000,000) */
	uint64_t segment_size;    /**< roll the log at this size (64 MiB) */
	uint64_t inline_max;      /**< larger contents go to blobs (64 KiB) */
	uint64_t reserve_bytes;   /**< kept free for deletes (8 MiB) */
	double compact_ratio;     /**< auto-compact above this dead ratio (0.5);
	                               negative disables auto compaction */
	char *errbuf;             /**< if set, a one-line reason on failure */
	size_t errlen;
	const struct store_io *io;/**< NULL: the real system calls */
	/** Longest a group sync waits for changes still being written to
	 *  join it (see store_wait_durable): 0 for the default, 200 us;
	 *  negative: never wait.  The wait is also at most half the recent
	 *  sync time. */
	int64_t gather_max_ns;
	/** Group syncs in flight at once (see store_wait_durable): 0 for
	 *  the default, 2, so that a commit appended during a sync starts
	 *  its own without waiting for that one to end; 1 (or negative):
	 *  one at a time.  More than 2 counts as 2. */
	int max_syncs;
	int defer_background;     /**< start no thread until store_after_fork()
	                               (a daemon that forks after opening) */
	/** Shared stores (etcd) only: called from the store's own thread
	 *  when another mount changed @key's content, existence or
	 *  metadata (to drop a kernel cache).  It may call the store. */
	void (*on_change)(void *ctx, const char *key);
	void *change_ctx;
	/** Shared stores only, with change_ctx: another mount deleted
	 *  @key, renamed it away, or renamed another record over it; @was is what the record was then
	 *  (version, size, hash, metadata).  Called from the store's own
	 *  thread as soon as it learns of it, before the store shows the
	 *  record gone (and before on_change); store_snap_open(@key,
	 *  @was->version) reads its bytes, at once from memory, later
	 *  while the store keeps that version.  It may call the store. */
	void (*on_gone)(void *ctx, const char *key,
			const struct store_stat *was);
};

/** Metadata of a key.  Changing it needs no basis and makes no version. */
struct store_meta {
	uint32_t mode; /**< S_IFREG, S_IFDIR or S_IFLNK plus permission bits */
	uint32_t uid;
	uint32_t gid;
	int64_t atime_ns;
	int64_t mtime_ns;
	int64_t ctime_ns;
};

/** Bits for store_setmeta(). */
enum {
	STORE_META_MODE = 1,  /**< permission bits only; the type never changes */
	STORE_META_UID = 2,
	STORE_META_GID = 4,
	STORE_META_ATIME = 8,
	STORE_META_MTIME = 16,
	STORE_META_CTIME = 32,
};

/** What store_stat() reports. */
struct store_stat {
	uint64_t version;   /**< committed version (0 for a directory) */
	uint64_t size;      /**< content length in bytes */
	uint8_t hash[16];   /**< xxh3-128 of the content, canonical (big-endian) */
	int64_t commit_ns;  /**< when this version was committed */
	uint32_t subdirs;   /**< a directory's subdirectories: st_nlink is 2
			     *   more (0 where the store does not count) */
	struct store_meta meta;
};

/** One child of a directory, from store_list(). */
struct store_dirent {
	char *name;         /**< component name, owned by the array */
	uint32_t mode;      /**< file type and permissions */
	uint64_t version;
};

/** Totals for store_stats(). */
struct store_stats {
	uint64_t records;      /**< live regular files and symlinks */
	uint64_t dirs;
	uint64_t tombstones;
	uint64_t versions_kept;/**< all readable versions, current included */
	uint64_t log_bytes;    /**< bytes in segments */
	uint64_t dead_bytes;   /**< bytes compaction would reclaim */
	uint64_t blob_bytes;
	uint64_t floor;        /**< store-wide version floor */
	uint64_t segments;
	uint64_t compactions;
	uint64_t reserved_bytes; /**< log space held for staged changes */
	int damaged;           /**< a read-only open met damage: the
				*   STORE_DAMAGE_* bits of what it met */
};

/** store_stats' damaged bits.  In the log: the counts are of what comes
 * before it.  In blobs (blobs/ or a blob missing or of the wrong size):
 * the counts are whole, but versions kept there read EIO. */
#define STORE_DAMAGE_LOG 1
#define STORE_DAMAGE_BLOBS 2

/** One kept version of a key, from store_history(). */
struct store_hist {
	uint64_t version;
	uint64_t size;
	int64_t commit_ns;
	uint8_t hash[16];
	/** The owner and mode it is readable under: its record's now, or,
	 *  for a version of a record that ended (deleted, renamed away,
	 *  renamed over), that record's when it ended, whoever holds the
	 *  name since.  Mode 0 (root's only): not known (a tombstone
	 *  compacted before 2026-12-07). */
	uint32_t mode, uid, gid;
};

/* ---- Opening and closing ------------------------------------------- */

/**
 * Open the store in @dir, creating the directory and an empty store if
 * it does not exist.  Takes an exclusive lock on the store.
 *
 * @dir may instead be "etcd://HOST:PORT[,HOST:PORT...]/PREFIX": a store
 * kept in an etcd cluster under PREFIX, which any number of mounts on
 * any hosts share (docs/ETCD.md).  Every function keeps its contract
 * there, with these differences: a staged change takes a write lease
 * with store_txn_lease(); history is read from etcd's revisions (what
 * etcd has not compacted); a record with its xattrs is at most about 1.5 MiB
 * (-EFBIG); a directory rename moves at most about 20 records (-EXDEV
 * above); store_fsck() and store_dump() are for directories only; a
 * failure to reach etcd is -EIO or -ETIMEDOUT after a bounded time, and
 * reads fail with -EIO while the mount cannot prove its cache current.
 *
 * @return 0 and *out on success;
 *  -EWOULDBLOCK another process holds the store (errbuf names its pid);
 *  -EUCLEAN corruption that is not a torn tail (errbuf names the
 *           segment and byte offset); open read-only to serve the rest;
 *  -EPROTONOSUPPORT a segment of a future format version;
 *  -ENOTDIR @dir is not a directory; -EACCES, -EIO, -ENOMEM, ...
 */
int store_open(const char *dir, const struct store_opts *opts,
	       struct store **out);

/** Call in the process that will use the store from now on, after a
 *  fork (a daemon leaving the process that opened it): starts the
 *  background compactor if opts.defer_background held it back, and
 *  writes this process's pid into the lock file.  The parent must not
 *  use the store afterwards.  @return 0 or -errno. */
int store_after_fork(struct store *st);

/** Write @note (one line) into the lock file after the pid that
 *  store_after_fork() wrote: what a later opener needs to free the store
 *  should this process die stuck inside the kernel (recfs writes its
 *  FUSE connection and mount point).  Nothing for a read-only or an
 *  etcd store.  @return 0; -EINVAL @note holds a newline;
 *  -ENAMETOOLONG it is over 4 KiB; -errno of the write. */
int store_lock_note(struct store *st, const char *note);

/** Read the lock file of the local store in @dir without taking its
 *  lock: the holder's pid on the first line, its note (if it wrote one)
 *  on the next, NUL-terminated in @buf (cut at @len - 1 bytes).
 *  @return 0; -ENOENT no store or no lock file there; -errno. */
int store_lock_read(const char *dir, char *buf, size_t len);

/** Flush, make everything durable, release the lock and free the store.
 *  Outstanding snapshots and transactions must be closed first.
 *  @return 0, or -EIO if the final sync failed (the store is freed anyway). */
int store_close(struct store *st);

/** Make every commit so far durable (fdatasync of the log).
 *  @return 0 or -EIO (after which the store refuses changes with -EROFS). */
int store_sync(struct store *st);

/* ---- Reading ------------------------------------------------------- */

/** Stat a key.  @return 0; -ENOENT absent (or deleted); -EINVAL bad key. */
int store_stat(struct store *st, const char *key, struct store_stat *out);

/** The last version a key ever had, even if deleted now (0 if never).
 *  @return 0 (always sets *version, to 0 on failure), -EINVAL bad key,
 *  -EIO the store refuses reads (a commit failed half-applied). */
int store_last_version(struct store *st, const char *key, uint64_t *version);

/**
 * Pin one version of a record for reading.  @version 0 means the
 * current one; otherwise one of the kept versions (store_history()).
 * A snapshot keeps reading the same bytes whatever happens to the key.
 * @return 0; -ENOENT no such key or version; -EISDIR a directory.
 */
int store_snap_open(struct store *st, const char *key, uint64_t version,
		    struct store_snap **out);
/** Read up to @len bytes at @off.  @return bytes read (0 at end) or -EIO. */
ssize_t store_snap_read(struct store_snap *s, void *buf, size_t len,
			uint64_t off);
/** Version, size and hash of the snapshot. */
void store_snap_stat(const struct store_snap *s, struct store_stat *out);
/**
 * Read the rest of snapshot @s that has not been read in order, so that
 * its check against the version's hash (read.c) is complete: for a copy
 * of a part of it, or a read out of order (the page cache's fills).
 * @return 0, -EIO (damaged, or unreadable), -ENOMEM.
 */
int store_snap_check_rest(struct store_snap *s);
/**
 * A second snapshot of the same bytes, with a life of its own: the
 * first may be closed before or after it.  It needs no store, so it
 * works whatever the store has forgotten since @s was opened.
 * @return 0 and *out; -ENOMEM; -ENFILE no descriptor left.
 */
int store_snap_dup(const struct store_snap *s, struct store_snap **out);
void store_snap_close(struct store_snap *s);

/** Read a whole record into a new buffer (*buf is malloc'ed, NUL-ended,
 *  owned by the caller).  @return 0, -ENOENT, -EISDIR, -ENOMEM, -EIO. */
int store_get(struct store *st, const char *key, char **buf, size_t *len,
	      struct store_stat *stat);

/** List a directory's live children (tombstones are not listed), sorted
 *  by name.  *ents is owned by the caller: free with store_list_free().
 *  @return 0; -ENOENT; -ENOTDIR. */
int store_list(struct store *st, const char *dir, struct store_dirent **ents,
	       size_t *n);
void store_list_free(struct store_dirent *ents, size_t n);

/** Kept versions of a key, oldest first (*h malloc'ed, caller frees).
 *  Works for deleted keys too.  @return 0; -ENOENT. */
int store_history(struct store *st, const char *key, struct store_hist **h,
		  size_t *n);

/** Does any key below directory @dir (a "@dir/" prefix) have kept
 *  versions, whether or not @dir exists now?  Deleted records of a
 *  directory removed or renamed away keep their histories, reached by
 *  name (fs/history.c).  A walk of every key: for a name that is
 *  neither a directory nor a record's history.  @return 1 or 0. */
int store_history_below(struct store *st, const char *dir);

/* ---- Changes of content or existence (checked, versioned) ------------ */

/**
 * Replace (or create) a record with @len bytes of @data in one commit.
 * @expect is the version the change is based on: STORE_ABSENT to create
 * only, STORE_ANY not to check.  @meta (may be NULL) gives mode, owner
 * and times for a new key; for an existing key only its mtime/ctime are
 * updated (meta's if given, else now).  The mode's type must be S_IFREG
 * or S_IFLNK (a symlink's content is its target).
 * @return 0 and *newv; -EAGAIN @expect is not the current version;
 *  -ENOENT parent missing; -ENOTDIR parent is not a directory;
 *  -EISDIR key is a directory; -ENAMETOOLONG; -EINVAL bad key;
 *  -ENOSPC; -EROFS read-only or failed store; -EIO.
 */
int store_put(struct store *st, const char *key, uint64_t expect,
	      const void *data, size_t len, const struct store_meta *meta,
	      uint64_t *newv);

/** Cut or extend a record to @size (zeros), one new version.
 *  Errors as store_put() (-ENOENT if the key is absent). */
int store_truncate(struct store *st, const char *key, uint64_t expect,
		   uint64_t size, uint64_t *newv);

/** Delete a record; its tombstone takes the next version (*newv).
 *  Errors as store_put(); -EISDIR for a directory (use store_rmdir). */
int store_delete(struct store *st, const char *key, uint64_t expect,
		 uint64_t *newv);

/**
 * Rename @from to @to in one commit.  For a record, @from's tombstone
 * and @to's next version (one above any version @to ever had, or above
 * the store's floor) are made together; @expect_from and @expect_to are
 * checked
 * (rename over an existing record is a change of it; STORE_ABSENT for
 * @expect_to means @to must not exist).  For a directory, the
 * expectations are ignored; every record beneath it continues its own
 * line under its new key (its next version, above any version the new
 * key ever had), and @to must be absent or an empty directory.
 * @return 0 and *newv (the new version of @to, 0 for a directory);
 *  -EAGAIN; -ENOENT; -EISDIR/-ENOTDIR type mismatch; -ENOTEMPTY;
 *  -EINVAL (moving a directory into itself); others as store_put().
 */
int store_rename(struct store *st, const char *from, uint64_t expect_from,
		 const char *to, uint64_t expect_to, uint64_t *newv);

/* ---- Directories and metadata (no basis, no version) ----------------- */

/** @return 0; -EEXIST; -ENOENT parent; -ENOTDIR; -ENOSPC; -EROFS. */
int store_mkdir(struct store *st, const char *key,
		const struct store_meta *meta);
/** @return 0; -ENOENT; -ENOTDIR; -ENOTEMPTY; -EBUSY for the root. */
int store_rmdir(struct store *st, const char *key);

/** Set the metadata fields named by @mask.  @return 0; -ENOENT; -EROFS. */
int store_setmeta(struct store *st, const char *key,
		  const struct store_meta *meta, unsigned mask);

/** Extended attributes other than the ones fs/ computes.  @flags as
 *  setxattr(2) (XATTR_CREATE/XATTR_REPLACE).  getxattr with @size 0
 *  returns the value's size.  @return size/0; -ENODATA; -ERANGE;
 *  -EEXIST; -E2BIG; -ENOSPC; -ENOENT. */
int store_setxattr(struct store *st, const char *key, const char *name,
		   const void *value, size_t size, int flags);
ssize_t store_getxattr(struct store *st, const char *key, const char *name,
		       void *value, size_t size);
/** Names, each NUL-terminated, as listxattr(2). */
ssize_t store_listxattr(struct store *st, const char *key, char *list,
			size_t size);
int store_removexattr(struct store *st, const char *key, const char *name);
/** May some directory have extended attributes?  @return 0 when none has
 *  had any since the store was opened (then every directory's getxattr
 *  is -ENODATA), 1 otherwise; always 1 for an etcd store.  For callers
 *  that would otherwise look at each ancestor of a key per request. */
int store_dir_xattrs(struct store *st);

/* ---- Staged changes (one open handle's private change) -------------- */

/**
 * Begin a private change of @key.  A full disk fails its write, not its
 * commit: while the change is at most inline_max bytes it is staged in
 * memory, and each write reserves the log space its entry will take;
 * a larger one is staged on disk in a spool file inside the store (the
 * blob it becomes) as it is written, and the log space of the entry
 * that names it is reserved as well.  If @truncate is 0 the change
 * starts from the current content (copied lazily at the first write),
 * else from empty.
 * Nothing is checked here: the check is at store_txn_commit().
 * @return 0 and *out; -EISDIR; -EROFS; -ENOSPC; -EIO.
 */
int store_txn_begin(struct store *st, const char *key, int truncate,
		    struct store_txn **out);
/**
 * As store_txn_begin(), starting from kept @version of @key (a deleted
 * key's too) instead of its current content: a handle still open on a
 * record that was deleted or replaced works on what it had.  Such a
 * change is for its handle alone; it is never committed.
 * @return 0 and *out; -ENOENT @version is no longer kept (on etcd:
 *  compacted away); others as store_txn_begin().
 */
int store_txn_begin_at(struct store *st, const char *key, uint64_t version,
		       struct store_txn **out);
/**
 * As store_txn_begin_at(), starting from a snapshot's bytes (copied now;
 * @snap stays the caller's): for a version the store may no longer keep.
 * Never committed either.
 * @return 0 and *out; -EIO @snap could not be read; others as
 *  store_txn_begin() and store_txn_write().
 */
int store_txn_begin_from(struct store *st, const char *key,
			 struct store_snap *snap, struct store_txn **out);
/**
 * Take the write lease of the change's key, checked against @expect now
 * (as store_txn_commit() will check it), so that the commit cannot fail
 * for a reason the writer was not told at its first write.  On a local
 * store this is a no-op: leases are the caller's (one process holds the
 * store).  On a shared store (etcd) the lease excludes other mounts and
 * goes by itself when this one dies.
 * @return 0; -EAGAIN @expect is stale; -EBUSY another mount holds the
 *  key's lease; -EISDIR; -EIO, -ETIMEDOUT etcd could not be reached.
 */
int store_txn_lease(struct store_txn *t, uint64_t expect);
/** Write into the change.  @return bytes written; -ENOSPC (no space for
 *  it: the change stays as it was); -EIO; -EFBIG; -ENOMEM; -EROFS. */
ssize_t store_txn_write(struct store_txn *t, const void *buf, size_t len,
			uint64_t off);
/** Read the change's own content.  @return bytes read or -EIO. */
ssize_t store_txn_read(struct store_txn *t, void *buf, size_t len,
		       uint64_t off);
/** Set the change's length.  @return 0; -ENOSPC; -EIO. */
int store_txn_truncate(struct store_txn *t, uint64_t size);
/** Current length of the change. */
uint64_t store_txn_size(const struct store_txn *t);
/** The key the change was begun on, which its commit changes (valid
 *  until the commit or abort frees @t). */
const char *store_txn_key(const struct store_txn *t);
/** Append @len bytes at the true end of the key's current content,
 *  unchecked, as one commit (O_APPEND writes).  The key must exist. */
int store_append(struct store *st, const char *key, const void *buf,
		 size_t len, uint64_t *newv);
/**
 * The staging halves of store_append() and store_truncate(), for a caller
 * that must not hold a lock of its own while a large record is copied:
 * the key's current content (version *base) with @len bytes of @buf
 * added at its end, or cut or extended to @size, as a change to commit
 * with store_txn_commit(t, *base, ...) (which refuses it with -EAGAIN if
 * the key moved on meanwhile: stage again) or to abort.
 * @return 0, *out and *base; -ENOENT no live record; -EISDIR;
 *  -EOPNOTSUPP on a shared (etcd) store, whose appends and truncates are
 *  one request each (use store_append() and store_truncate());
 *  others as store_txn_begin(), store_txn_write(), store_txn_truncate().
 */
int store_append_stage(struct store *st, const char *key, const void *buf,
		       size_t len, struct store_txn **out, uint64_t *base);
int store_truncate_stage(struct store *st, const char *key, uint64_t size,
			 struct store_txn **out, uint64_t *base);
/**
 * Commit the change as the key's next version, checked against @expect.
 * @durable makes it durable before returning (fsync).  @meta (may be
 * NULL) as for store_put().  The transaction is freed whatever happens.
 * @return 0 and *newv; -EAGAIN; -ENOENT parent gone; -EROFS; -EIO.
 */
int store_txn_commit(struct store_txn *t, uint64_t expect,
		     const struct store_meta *meta, int durable,
		     uint64_t *newv);
/**
 * As store_txn_commit(), but returns once the commit is applied (in the
 * log and the index, as a commit without @durable or sync_always is),
 * leaving the wait for durability to store_wait_ticket().  *ticket is
 * what to wait for (0: nothing).  A record's writer can so let the next
 * writer of the record start while its sync runs, and both share it.
 * @return as store_txn_commit(), -EIO aside (that comes from the wait).
 */
int store_txn_commit_nowait(struct store_txn *t, uint64_t expect,
			    const struct store_meta *meta, int durable,
			    uint64_t *newv, uint64_t *ticket);
/** Wait until the commit that gave @ticket is durable (group commit).
 *  @return 0 (at once for ticket 0), or -EIO after a failed sync (the
 *  store then refuses changes with -EROFS). */
int store_wait_ticket(struct store *st, uint64_t ticket);
/**
 * Until store_defer_end(), changes made by this thread on @st return once
 * applied, as store_txn_commit_nowait() does, instead of waiting to be
 * durable (sync_always or @durable).  For a caller that holds a lock of
 * its own across a change (unlink, rename, setmeta...) and wants to wait
 * for the disk without it.  Per thread; windows do not nest.
 */
void store_defer_begin(struct store *st);
/** End the window.  @return the ticket to pass to store_wait_ticket()
 *  (0: nothing to wait for). */
uint64_t store_defer_end(struct store *st);
/** Drop the change and free the transaction. */
void store_txn_abort(struct store_txn *t);
/**
 * Give up the write lease store_txn_lease() took, and keep the change
 * for its handle: its record went (a new file unlinked before it was
 * ever committed) and the change will never be committed, so others may
 * change the key at once.  No-op on a local store, or without a lease.
 */
void store_txn_unlease(struct store_txn *t);

/* ---- Maintenance ----------------------------------------------------- */

/** Reclaim dead space now (also runs by itself above compact_ratio).
 *  @return 0; -EROFS; -ENOSPC; -EIO. */
int store_compact(struct store *st);
/** @return 0. */
int store_stats(struct store *st, struct store_stats *out);
/** Space of the filesystem holding the store (statvfs(3)), less the
 *  reserve.  @return 0 or -errno. */
struct statvfs;
int store_statvfs(struct store *st, struct statvfs *out);
/** 32 lowercase hex digits and a NUL into @out. */
void store_hash_hex(const uint8_t hash[16], char out[33]);
/**
 * Initialise @mu as the store's short locks are: glibc's adaptive mutex,
 * which spins a bounded while before it sleeps.  These locks are held
 * for microseconds by the daemon's FUSE threads on few CPUs; a waiter
 * that sleeps at once pays two context switches where a short spin would
 * find the lock free (8 writers on 8 records: 12 % less daemon CPU per
 * save, docs/PERFORMANCE-HISTORY.md, "Threads of one process, and the
 * daemon's locks").  The daemon uses it for its own locks.
 */
void store_mutex_init(pthread_mutex_t *mu);

/* ---- Offline checks (for recctl; the store must not be open) ----------- */

/**
 * Verify every segment header and entry checksum, every group's commit
 * marker, hint files, and every blob that a kept version names (size and
 * xxh3-128), in the store at @dir.  Each problem is one line on @out
 * naming the file and byte offset.  With @repair, a torn tail of a
 * segment is cut (as a writable open would); corruption is never
 * "repaired".  @return 0 clean (or only a torn tail that was repaired),
 * 1 damage found, -EWOULDBLOCK the store is in use, other -errno.
 */
int store_fsck(const char *dir, int repair, FILE *out);

/** store_fsck(), and *@lost (if not NULL, on a return of 0 or 1) gets how
 *  many kept versions name a blob that is missing or of the wrong size:
 *  the damage store_salvage() takes away. */
int store_fsck_ex(const char *dir, int repair, FILE *out, uint64_t *lost);

/**
 * Make a store whose blobs were lost writable again, dropping only what
 * is lost (recctl fsck --repair).  Every kept version whose blob file is
 * missing or of the wrong size (what makes store_open() refuse a
 * read-write open) is let go of, one line each on @out: a record's
 * current version is deleted as store_delete() would (its older versions
 * stay in its history); a history version is forgotten; a wrong-sized
 * blob file is moved to lost+found/ in @dir.  The log is then compacted,
 * so that no entry names a dropped version.  Nothing else changes.
 * @return the number of versions dropped (0: nothing was lost),
 * -EWOULDBLOCK the store is in use, -EUCLEAN other damage keeps it from
 * opening (store_fsck() says where), other -errno.
 */
int store_salvage(const char *dir, FILE *out);

/** Print every entry of every segment as one text line on @out
 *  (segment, offset, type, flags, key, version, time, lengths, blob).
 *  @return 0, 1 if damage stopped the dump, or -errno. */
int store_dump(const char *dir, FILE *out);

#ifdef __cplusplus
}
#endif
#endif

/* rfs.h - the recfs FUSE filesystem: shared state of fs/. */
#ifndef RECFS_RFS_H
#define RECFS_RFS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>

#include "basis.h"
#include "parse.h"
#include "proc.h"
#include "store.h"

/* A buffer that holds any key and its NUL. */
#define RFS_KEY_BUF (STORE_KEY_MAX + 1)
#define RFS_DEFAULT_UNCHECKED "*~:.#*:#*#:.*.sw?:4913"
/* Each change waiting for another's lease keeps a daemon thread: a few
 * seconds and a share of the 64 threads at most (the rest get EBUSY at
 * once), so that the holder's own commit always finds a thread. */
#define RFS_LEASE_WAIT_MAX 10000
#define RFS_LEASE_WAITERS 16
/* Open handles that make a burst worth a malloc_trim() at its end (each
 * holds a few KiB: handle, snapshot, hash state). */
#define RFS_TRIM_HANDLES 4096

/* The basis table's bound (basis_init's @max), and the range
 * -o basis_entries accepts: each entry is about 130 bytes with its key,
 * so the most is some 35 GiB, and the least still lets a shell lend
 * (an eighth) to a hundred reads. */
/* The other number options' ranges (checked whole in main.c): a
 * declaration lives up to a year; a record keeps up to 65,536 versions
 * (56 bytes each in memory while kept). */
#define RFS_EXPECT_TTL_MAX (365L * 86400)
#define RFS_KEEP_VERSIONS_MAX 65536
#define RFS_TOMBSTONE_LIMIT_MAX 1000000000000L
#define RFS_BASIS_ENTRIES (1ul << 20)
#define RFS_BASIS_ENTRIES_MIN 1024
#define RFS_BASIS_ENTRIES_MAX (1l << 28)

struct rfs_opts {
	int unchecked;          /* -o unchecked: no basis needed anywhere */
	int noimplicit;         /* -o noimplicit */
	unsigned expect_ttl;    /* -o expect_ttl=N seconds (60) */
	char *sync;             /* -o sync=always|normal */
	int ro;                 /* -o ro */
	char *unchecked_names;  /* -o unchecked_names=GLOB:GLOB */
	unsigned keep_versions; /* -o keep_versions=N */
	unsigned long tombstone_limit;
	unsigned lease_wait;    /* -o lease_wait=MS (20) */
	int nouring;            /* -o nouring: /dev/fuse only (uring.h) */
	unsigned long basis_entries; /* -o basis_entries=N (basis.h) */
};

struct rfs_handle;

/* An xattr set on a record that is created but not yet committed. */
struct rfs_pxattr {
	struct rfs_pxattr *next;
	char *name;
	void *value;
	size_t size;
};

/* An inode: a key the kernel knows.  Invariants:
 * - by key, at most one live (not deleted) inode per key;
 * - a pending inode was created by a handle that has not committed: it
 *   exists (reads empty, no version) only while that handle lives;
 * - lease is the one handle whose uncommitted change owns the record;
 * - an inode is on fs->pend exactly while pending is set (set it only
 *   through rfs_ino_pending()), so that readdir and rmdir find the
 *   uncommitted creates without walking every inode. */
struct rfs_inode {
	fuse_ino_t ino;
	char *key;
	uint64_t nlookup;
	unsigned nopen;
	/* Bumped at each commit of the record (atomic: read without
	 * fs->mu), so that its O_RDWR handles follow it
	 * (rfs_handle_follow).  Under fs->mu. */
	uint64_t pc_seq;
	/* Bumped at each new key (rfs_rekey_apply): versions are counted
	 * per key, so a handle's own version of the old key says nothing
	 * of the new key's line (a rename to a new name starts it at 1). */
	unsigned key_gen;
	/* The kernel filled the page cache since the last commit
	 * dropped it (file.c, fill_read): the next commit drops it. */
	int filled;
	/* The version (of key_gen's key) a fill read whole against its
	 * hash (file.c, fill_check); 0 none.  Under fs->mu. */
	uint64_t fill_ok_ver;
	unsigned fill_ok_gen;
	int pending;
	int deleted;
	int hist;       /* a node of the read-only .recfs tree (history.h) */
	uint64_t hver;  /* the version a history file stands for */
	/* mknod made it, no handle yet: its creator's first writable open
	 * takes the create over (tar: mknod, setxattr, open, write). */
	struct proc_info pcreator;
	struct store_meta pmeta;
	struct rfs_pxattr *pxa;
	struct rfs_handle *lease;
	int64_t lease_since_ns;
	/* An unlink or a rename of this record is at the store, without
	 * fs->mu (names.c, rfs_moving_wait): under fs->mu. */
	int moving;
	/* Bumped (atomically) whenever attributes of this inode go to the
	 * kernel with a timeout: see rfs_handle_commit(). */
	uint64_t attr_gen;
	/* Every version after ext_base, up to ext_top, only added bytes at
	 * the end of the one before (appends: append_write), so a reader of
	 * any of them that reaches its end may read on in ext_top (tail -f).
	 * ext_base 0: no such line; every other change resets it
	 * (rfs_changed).  Under fs->mu; ext_base is written atomically,
	 * for read_on's look without the lock. */
	uint64_t ext_base, ext_top;
	/* The last version this daemon made by a change other than an
	 * append (note_changer), and whether another mount has changed the
	 * record (inval_remote, atomic): versions made elsewhere are not on
	 * the line above, so a reader at or past ext_cut that reaches its
	 * end compares bytes to read on into them (read_on). */
	uint64_t ext_cut;
	int remote;
	/* who made the current version (for user.conflict): last_pid made
	 * last_version; a version made elsewhere (another mount on etcd)
	 * is not theirs */
	pid_t last_pid;
	uid_t last_uid;
	char last_comm[17];
	uint64_t last_version;
	struct rfs_inode *next_ino, *next_key;
	struct rfs_inode *pend_next, *pend_prev; /* on fs->pend */
	/* A deleted record's last size; its attributes are kept in pmeta
	 * (keep_gone_attr in names.c), so that a handle still open on it
	 * can fstat, fchmod and ftruncate it (nlink 0). */
	uint64_t gone_size;
	uint64_t gone_version; /* and its version: what such a handle's
				* first change starts from (handle.c) */
	/* And its bytes, pinned when it went (keep_gone_attr): the store
	 * may forget a deleted key's versions (tombstone_limit, etcd's
	 * compaction) while a handle is still open on it, and an unlinked
	 * file's descriptors read what it held.  Set under fs->mu,
	 * fixed once the inode is deleted; closed with the inode, which no
	 * open handle outlives. */
	struct store_snap *gone_snap;
};

struct rfs_handle {
	pthread_mutex_t mu;      /* one operation on the handle at a time */
	struct rfs_inode *in;
	int flags;               /* open flags */
	struct proc_info opener;
	int opener_known;
	struct store_snap *snap; /* the version a reader reads, */
	unsigned snap_gen;       /* of the key in->key_gen was this for */
	struct store_txn *txn;   /* the private change, while one is open */
	uint64_t expect;         /* what the change is checked against */
	struct basis_hit hit;    /* the basis it took */
	struct proc_info changer;/* who made the first change */
	int trunc;               /* the change starts from empty */
	int created;             /* this handle created the key */
	int has_own;             /* committed once: its own commit is its basis */
	uint64_t own;            /* a version of the key it was committed to, */
	unsigned own_gen;        /* while in->key_gen is still this */
	int seen;                /* an O_RDWR handle registered its first read */
	uint64_t pc_seen;        /* in->pc_seq when its snapshot was taken */
	uint64_t ext_tried;      /* a version read_on found not to extend it */
	uint64_t view_size;      /* the change's size, for the opener's stat
	                            (atomic: read without this handle's mu) */
	uint64_t attr_seen;      /* in->attr_gen at the change's last write */
	/* A create's directory and its attr_gen then: the create's commit
	 * moves the directory's times (rfs_handle_commit).  0: none, or
	 * the handle took over a mknod's create. */
	fuse_ino_t dir_ino;
	uint64_t dir_gen;
	int failed;              /* a write failed (-errno): the change is
	                            dropped, never committed half-written */
	/* Times given (utimens) while the change is open, by anyone: its
	 * commit keeps them (`cp -p` gives them through the descriptor
	 * before its close), unless a write of the change came after them
	 * (rfs_attr_mark_write): its time is then the commit's, as a later
	 * write's on any file system.  RFS_MTIME_*; atomic: set under
	 * fs->mu (set_meta), moved on by writes under this handle's mu. */
	int mtime_state;
	int64_t mtime_ns;        /* the mtime given, while RFS_MTIME_GIVEN */
	int lost;                /* a commit another request made for it
	                            failed (-errno): told at its next fsync,
	                            or its opener's close (rfs_handle_lost) */
	struct rfs_handle *prev, *next; /* all open handles, for shutdown */
	/* Another request's hold on the handle outside fs->mu (a rename
	 * committing its own process's lease: rfs_commit_own_lease), and
	 * whether the kernel has released it meanwhile (or its open
	 * failed after it took a lease).  Invariant: a handle is freed by
	 * its close (rfs_handle_close) only while unpinned, else by its last
	 * unpin; a released one is off fs->handles and its inode may
	 * be gone, so a pin holder touches neither.  Both under fs->mu. */
	unsigned pins;
	int released;
};

enum { RFS_MTIME_NONE, RFS_MTIME_GIVEN, RFS_MTIME_WRITTEN };

struct rfs {
	struct store *st;
	struct basis_table *bt;
	struct fuse_session *se;
	struct rfs_opts o;
	char *mountpoint;
	int mnt_id;
	/* 1: the kernel checks owners and modes (default_permissions);
	 * 0: ops.c does, through perm.h (a mount only its owner uses). */
	int kperm;
	uid_t root_uid;  /* owner of the synthetic .recfs tree */
	gid_t root_gid;
	pthread_mutex_t mu;
	struct rfs_inode **by_ino, **by_key;
	size_t cap, count;       /* both tables double when count passes cap */
	struct rfs_inode *pend;  /* the pending inodes */
	fuse_ino_t next_ino;
	struct rfs_handle *handles;
	/* How many are on that list, and the most since the last trim: a
	 * burst's end gives its memory back (rfs_handles_trim_due). */
	size_t nhandles, handles_peak;
	/* The changes that wait for a record's write lease, oldest first
	 * (at most RFS_LEASE_WAITERS): see rfs_lease_wait() in lease.c. */
	struct rfs_waiter *waitq;
	int lease_waiters;
	int stopping; /* SIGTERM: waits end at once (rfs_lease_stop) */
	/* Told when an inode's moving ends (rfs_moving_wait). */
	pthread_cond_t moved_cv;
	/* 1: the store is etcd, a round trip per change: a create, an
	 * unlink and a record's rename go to it without fs->mu (names.c,
	 * moving_begin).  0 (a local store, fast): they hold it. */
	int slow_store;
	/* deferred entry invalidations */
	pthread_t inval_thread;
	pthread_mutex_t inval_mu;
	pthread_cond_t inval_cv;
	struct rfs_inval *inval_head, *inval_tail; /* in order queued */
	/* How many were queued, and done (rfs_inval_barrier), under
	 * inval_mu; inval_done_cv is told of each one done. */
	uint64_t inval_queued, inval_done;
	pthread_cond_t inval_done_cv;
	int inval_stop, inval_started;
	int no_expire;  /* the kernel only drops entries (inode.c) */
	/* Tests only (RFS_TEST_PAUSE_KEY, RFS_TEST_PAUSE_MS and
	 * RFS_TEST_PAUSE_AT, read at start): at the point pause_at names
	 * (RFS_PAUSE_*), work on a key that begins with this sleeps, so
	 * that what may happen in that window can be made to
	 * (e2e_races.sh).  NULL: never. */
	const char *pause_key;
	unsigned pause_ms;
	int pause_at;
};

/* Where the tests' pause may be (rfs.pause_at). */
enum {
	/* A durable commit (fsync): after its store commit (the lease
	 * still held), and again once the lease has ended (the default). */
	RFS_PAUSE_COMMIT = 1,
	/* A handle's snapshot of its record: after the key was copied,
	 * before the snapshot (RFS_TEST_PAUSE_AT=snapshot)... */
	RFS_PAUSE_SNAPSHOT = 2,
	/* ...and after it too, before it is checked under the lock
	 * (RFS_TEST_PAUSE_AT=snapshot,snapped). */
	RFS_PAUSE_SNAPPED = 4,
	/* A rename of a record: after it committed its own process's
	 * open change, before it looks again under the lock
	 * (RFS_TEST_PAUSE_AT=rename). */
	RFS_PAUSE_RENAME = 8,
	/* A getxattr or listxattr of a stored attribute: between its
	 * size probe and its read (RFS_TEST_PAUSE_AT=xattr). */
	RFS_PAUSE_XATTR = 16,
	/* On etcd, an unlink or a rename of a record that the store has
	 * made, before it is applied under the lock: its inodes moving
	 * (names.c, moving_begin; RFS_TEST_PAUSE_AT=moved). */
	RFS_PAUSE_MOVED = 32,
};

/* Sleep for the tests' pause if @key is a paused one (rfs.pause_key)
 * and @at is where it pauses. */
void rfs_test_pause(const struct rfs *fs, const char *key, int at);

/* A change waiting for a record's write lease; it lives on the waiting
 * thread's stack while it is queued on fs->waitq. */
struct rfs_waiter {
	pthread_cond_t cv;
	const struct rfs_inode *in;
	int woken;              /* its turn: the lease ended, or was free */
	int64_t turn_at;        /* its turn if the lease is still free then */
	struct rfs_waiter *next;
};

extern const struct fuse_lowlevel_ops rfs_ops;

int rfs_init_state(struct rfs *fs);
void rfs_free_state(struct rfs *fs);
/* Changes still open at unmount: dropped (opener alive) or committed. */
void rfs_shutdown(struct rfs *fs);
void rfs_start_inval(struct rfs *fs);
void rfs_stop_inval(struct rfs *fs);
/* The daemon stops: every wait for a lease ends (EBUSY), now and later
 * (lease.c).  Caller does not hold fs->mu. */
void rfs_lease_stop(struct rfs *fs);

/* holder.c: a store whose daemon was killed while stuck in the kernel.
 * rfs_holder_note: record this daemon's FUSE connection @conn (from
 * proc_mnt_id, read once at the mount) and mount point in the store's
 * lock file, once mounted (0 or -errno).
 * rfs_free_stuck_holder: if the lock file of @store names a recfs that
 * is dying and that noted a FUSE mount which is still there, abort that
 * connection (the kernel would have, had the daemon's descriptors
 * closed), wait for the daemon to go and detach its dead mount.
 * @return 1 freed; 0 nothing to do (no such holder: a live one is
 * refused by store_open as before); -errno the abort failed (said). */
int rfs_holder_note(struct rfs *fs, long conn);
int rfs_free_stuck_holder(const char *store);
/* End FUSE connection @conn (/sys/fs/fuse/connections/@conn/abort,
 * mounting fusectl there if need be).  @return 0 or a negative errno. */
int rfs_abort_conn(long conn);

/* inode.c: the inode table.  Caller holds fs->mu. */
struct rfs_inode *rfs_ino(struct rfs *fs, fuse_ino_t ino);
/* rfs_ino without its wait for a moving inode: for forget, which
 * touches no key. */
struct rfs_inode *rfs_ino_any(struct rfs *fs, fuse_ino_t ino);
/* Wait while an unlink or a rename of @in's record is at the store
 * (names.c, moving_begin).  Caller holds fs->mu (let go while waiting)
 * and a reference on @in. */
void rfs_moving_wait(struct rfs *fs, const struct rfs_inode *in);
struct rfs_inode *rfs_ino_by_key(struct rfs *fs, const char *key);
/* @in's record was committed: its O_RDWR handles follow it
 * (rfs_handle_follow).  Caller holds fs->mu. */
void rfs_note_commit(struct rfs_inode *in);
/* Mark @in pending (an uncommitted create) or not. */
void rfs_ino_pending(struct rfs *fs, struct rfs_inode *in, int on);
/* The live inode for key, made if needed (nlookup untouched). */
struct rfs_inode *rfs_ino_make(struct rfs *fs, const char *key);
/* A copy of @in's key in @key (RFS_KEY_BUF bytes), and whether it is
 * pending, to use after fs->mu is let go: a rename frees the key it
 * replaces (rfs_rekey_apply), so in->key is read only under fs->mu.
 * @return 0; -ENOENT no inode; -ENAMETOOLONG, which no key the store
 * accepts can give. */
int rfs_ino_key_copy(const struct rfs_inode *in, char *key, int *pending);
/* The inodes a rename moves, and their new keys.  They are made before
 * the store changes, so that moving them after it cannot fail: an inode
 * left on its old key would take the record a later create makes there
 * (a handle open on it would commit into that record).  Zeroed to
 * start; every function here leaves it zeroed on error. */
struct rfs_rekey {
	size_t n, cap;
	struct rfs_move {
		struct rfs_inode *in;
		char *key; /* the new one, owned here until applied */
	} *v;
};
/* Plan to key @in (a record's inode; NULL: nothing) @to.  -ENOMEM. */
int rfs_rekey_one(struct rfs_rekey *rk, struct rfs_inode *in, const char *to);
/* Plan to move every live inode under directory @from (itself too)
 * under @to.  -EBUSY: a record under @from has a change open (a lease,
 * or a create not yet committed); such a change commits under the key it
 * was begun on, so the rename would lose it (its close failed with
 * ENOENT).  -ENOMEM. */
int rfs_rekey_tree(struct rfs *fs, struct rfs_rekey *rk, const char *from,
		   const char *to);
/* Call @fn on each live inode under directory @dir, itself included,
 * until one returns nonzero; @return that, or 0. */
int rfs_ino_tree_each(struct rfs *fs, const char *dir,
		      int (*fn)(struct rfs_inode *in, void *arg), void *arg);
/* Move them, once the store has (never fails); frees @rk's lists. */
void rfs_rekey_apply(struct rfs *fs, struct rfs_rekey *rk);
/* Drop the plan (the store change failed). */
void rfs_rekey_free(struct rfs_rekey *rk);
/* The key is gone (unlink, rename over): the inode lives on unnamed. */
void rfs_ino_unkey(struct rfs *fs, struct rfs_inode *in);
/* Free it once the kernel forgot it and no handle uses it. */
void rfs_ino_put(struct rfs *fs, struct rfs_inode *in);
void rfs_pxattr_free(struct rfs_inode *in);
/* Queue an entry invalidation (done by a thread: never from a handler). */
void rfs_inval_entry(struct rfs *fs, const char *key);
/* Wait until the invalidations queued so far are done, for at most
 * @ms milliseconds (the kernel may be waiting for a directory's lock;
 * never wait on it unbounded from a handler).  Call without fs->mu. */
void rfs_inval_barrier(struct rfs *fs, int ms);
/* Queue the invalidation of every entry the kernel may cache below
 * directory @dir ("" for the root), so that its next path walk asks
 * again (a chmod that takes search permission away).  Caller holds
 * fs->mu. */
void rfs_inval_children(struct rfs *fs, const char *dir);
/* store_opts.on_change of a shared store: another mount changed @key;
 * queue dropping the kernel's entry, attributes and pages of it. */
void rfs_remote_change(void *ctx, const char *key);
/* store_opts.on_gone of a shared store (names.c): another mount took
 * @key's record away; an inode still open on it keeps what it held. */
void rfs_remote_gone(void *ctx, const char *key, const struct store_stat *was);
/* Queue dropping the kernel's entry of @key, and its attributes and
 * pages of inode @ino, which no longer has that key (rfs_remote_gone). */
void rfs_inval_gone(struct rfs *fs, const char *key, fuse_ino_t ino);

/* A large record's append or truncate, copied without fs->mu (stage.c). */
struct rfs_staged {
	struct store_txn *t; /* NULL: nothing staged, do it under fs->mu */
	uint64_t base;       /* the version it was copied from */
	unsigned gen;        /* in->key_gen when the key was taken */
};
/* How often a staged change that met a newer version is staged again
 * before the caller does it under fs->mu. */
#define RFS_STAGE_TRIES 3
/* Stage @in's record with @len bytes of @buf appended (@append), or cut
 * or extended to @size, if it is large enough to be worth it; else, or on
 * any error, sg->t is NULL.  Call without fs->mu. */
void rfs_stage_big(struct rfs *fs, struct rfs_inode *in, const void *buf,
		   size_t len, uint64_t size, int append,
		   struct rfs_staged *sg);
/* May the staged change be committed as @in's (its key unchanged)?
 * Caller holds fs->mu. */
int rfs_staged_ok(const struct rfs_staged *sg, const struct rfs_inode *in);
/* Abort what is still staged (NULL-safe). */
void rfs_staged_drop(struct rfs_staged *sg);

/* xattr value parsing: ASCII decimal, optional trailing newline.
 * @return 0 or -EINVAL. */
int rfs_parse_version(const char *val, size_t len, uint64_t *out);

#endif

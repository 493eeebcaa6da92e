/* ops.h - what the daemon's operation files share: ops.c (lookups,
 * attributes, directories, permissions and the table), names.c (making,
 * removing and moving names), setattr.c, dir.c (directories),
 * handle.c (a handle's change), file.c (the operations on open files)
 * and xattr.c (extended attributes).  Internal to fs/.  Helpers return 0 or
 * a negative errno unless said otherwise. */
#ifndef RFS_OPS_H
#define RFS_OPS_H

#include <stdint.h>
#include <time.h>

#include "check.h"
#include "perm.h"
#include "rfs.h"

/* Entry and attribute timeouts.  Every change to the store passes through
 * this daemon (the store is locked to it), and the kernel updates its own
 * dentries and attributes for the calls it makes; where it cannot know
 * (appends, failed commits, a lease holder's own view) the code
 * invalidates or answers with timeout 0.  So the caches can live long:
 * with a short timeout every path walk after it costs a LOOKUP. */
#define TIMEOUT 86400.0

static inline struct rfs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline struct rfs_handle *HANDLE(struct fuse_file_info *fi)
{
	return (struct rfs_handle *)(uintptr_t)fi->fh;
}

static inline int64_t rfs_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- ops.c: shared helpers ------------------------------------------ */

/** The calling task; tid 0 when the daemon cannot see it. */
void rfs_caller(fuse_req_t req, struct proc_info *p);
/** Log (at most every 10 s) that @what (of @key, or NULL) failed with
 * ENFILE: the daemon is out of descriptors. */
void rfs_log_enfile(const char *what, const char *key);
/** @ns nanoseconds since 1970 (negative: before) as a timespec. */
void rfs_ts_of(int64_t ns, struct timespec *ts);
/** @a from a version's metadata and size, for the kernel. */
void rfs_fill_attr(fuse_ino_t ino, const struct store_meta *m,
		   uint64_t size, struct stat *a);
/** @in's attributes: its record's, a pending create's, or what a deleted
 * one had (nlink 0).  Caller holds fs->mu.  @return 0 or -ENOENT. */
int rfs_inode_attr(struct rfs *fs, struct rfs_inode *in, struct stat *a);
/** Who sends @req, for perm_may(). */
void rfs_who(fuse_req_t req, struct perm_who *w);
/** Does the daemon check @in for this request (not when the kernel
 * does)?  If so (1), *a and *w are filled.  Caller holds fs->mu. */
int rfs_checks(fuse_req_t req, struct rfs *fs, struct rfs_inode *in,
	       struct stat *a, struct perm_who *w);
/** May the caller access @in for @mask (PERM_*)?  Caller holds fs->mu. */
int rfs_may(fuse_req_t req, struct rfs *fs, struct rfs_inode *in, int mask);
/** How long the kernel may keep the entry of @key in @dir (NULL: the
 * directory its key names).  Caller holds fs->mu. */
double rfs_entry_ttl(struct rfs *fs, struct rfs_inode *dir, const char *key);
/** @parent's key and @name as one key, in @buf (RFS_KEY_BUF bytes).
 * @return buf, or NULL with *rc: -ENAMETOOLONG, or a name history
 * views reserve. */
char *rfs_join_buf(const struct rfs_inode *parent, const char *name,
		   char *buf, int *rc);
/** May the caller remove @key from directory @p (unlink, rmdir, either
 * side of a rename)?  -EACCES, or -EPERM by the sticky bit.  Caller
 * holds fs->mu. */
int rfs_may_delete(fuse_req_t req, struct rfs *fs, struct rfs_inode *p,
		   const char *key);
/** May the caller move @from in @p to @to in @np?  Caller holds
 * fs->mu. */
int rfs_may_rename(fuse_req_t req, struct rfs *fs, struct rfs_inode *p,
		   const char *from, struct rfs_inode *np, const char *to);
/** What open(2) with @flags asks of the file (O_TRUNC writes). */
int rfs_open_mask(int flags);
/** The change's latest write: the kernel drops its cached size and
 * times when the write returns. */
void rfs_attr_mark_write(struct rfs_handle *h);
/** Attributes as the caller sees them: a writer's own fstat sees its
 * own change (@h may be NULL).  Caller holds fs->mu, and h->mu if @h.
 * @return 0 or -ENOENT. */
int rfs_view_attr(struct rfs *fs, struct rfs_inode *in, struct rfs_handle *h,
		  struct stat *a);
/** Attributes of @in are about to be cached by the kernel. */
void rfs_attr_given(struct rfs_inode *in);
/** Drop the kernel's cached pages and attributes of @ino. */
void rfs_inval_inode(struct rfs *fs, fuse_ino_t ino);
void rfs_inval_attr(struct rfs *fs, fuse_ino_t ino);
fuse_ino_t rfs_dir_ino(struct rfs *fs, const char *key);
/** Keep view_size in step with the change (setattr.c).  Caller holds
 * h->mu. */
void rfs_note_size(struct rfs_handle *h);
/** A change of @in's content by a caller without CAP_FSETID takes its
 * set-user-ID and set-group-ID bits off (setattr.c).  Called without
 * fs->mu. */
int rfs_kill_priv(fuse_req_t req, struct rfs *fs, struct rfs_inode *in);
/** Metadata for a new record or directory made by the caller in
 * directory @parent (NULL: none to inherit from).  Caller holds fs->mu. */
void rfs_new_meta(fuse_req_t req, struct rfs *fs, struct rfs_inode *parent,
		  mode_t mode, struct store_meta *m);
/** May the caller make a new record at @name in @parent?  The new key
 * is written to @key (RFS_KEY_BUF bytes).  Caller holds fs->mu. */
int rfs_new_name_check(fuse_req_t req, struct rfs *fs, fuse_ino_t parent,
		       const char *name, const struct proc_info *pi,
		       char *key, uint64_t *expect, struct basis_hit *hit);

/* ---- lease.c: a record's write lease --------------------------------- */

/** How long a record's lease may stay free, after a waiter was refused
 * its turn (stale basis), before the next waiter takes the turn itself:
 * a few times a writer's retry (read the version, declare it, open), so
 * that a busy record's next end of lease comes first. */
#define RFS_TURN_GRACE_NS 2000000L

/** End @h's lease on @in, if it holds it, and pass the turn to the next
 * waiter.  Caller holds fs->mu. */
void rfs_lease_end(struct rfs *fs, struct rfs_inode *in,
		   const struct rfs_handle *h);
/** Give the next waiter for @in's lease its turn now (@grace_ns 0), or
 * once the lease has stayed free for @grace_ns.  Caller holds fs->mu. */
void rfs_lease_pass(struct rfs *fs, const struct rfs_inode *in,
		    long grace_ns);
/** Wait, in turn, for another handle's lease on @in to end, until *@dl
 * (CLOCK_MONOTONIC ns; set to @ms from now when 0).  *@woken tells
 * whether the turn came to the caller (which must pass it on if it takes
 * no lease).  A signal to the caller of @req (NULL: none) ends the
 * wait.  @return 0 when the lease has ended (check the record again),
 * -EINTR interrupted, -EBUSY otherwise.  Caller holds fs->mu (released
 * meanwhile). */
int rfs_lease_wait(struct rfs *fs, struct rfs_inode *in,
		   const struct rfs_handle *h, const struct proc_info *p,
		   fuse_req_t req, int ms, int64_t *dl, int *woken);

/* ---- handle.c: a handle's change ------------------------------------ */

/** A handle on @in, opened with @flags by @p, put on fs->handles.
 * Caller holds fs->mu.  @return it, or NULL (no memory). */
struct rfs_handle *rfs_handle_new(struct rfs *fs, struct rfs_inode *in,
				  int flags, const struct proc_info *p);
/** Take @h off fs->handles and free it, unused (a failed create).
 * Caller holds fs->mu. */
void rfs_handle_free(struct rfs *fs, struct rfs_handle *h);
/** The kernel is done with @h (its release, a failed open, unmount): its
 * lease ends, and it is freed, or left to its last unpin.  Caller holds
 * fs->mu; the inode's reference is the caller's to drop. */
void rfs_handle_close(struct rfs *fs, struct rfs_handle *h);
/** 1 once a burst of at least RFS_TRIM_HANDLES open handles has mostly
 * closed (and the burst is forgotten), else 0: the caller then gives the
 * freed memory back with malloc_trim(), outside fs->mu.  Caller holds
 * fs->mu. */
int rfs_handles_trim_due(struct rfs *fs);
/** Keep @h from being freed by its release, for use outside fs->mu
 * (with h->mu).  Caller holds fs->mu. */
void rfs_handle_pin(struct rfs_handle *h);
/** Drop a pin; the last one frees a handle released meanwhile.  Caller
 * holds fs->mu. */
void rfs_handle_unpin(struct rfs_handle *h);
/** A handle's first change: check it, take the lease, open the private
 * change; with @wait_req (only at OPEN; NULL elsewhere) wait for
 * another's lease, until a signal interrupts that request.  Caller holds
 * h->mu.  @return 0; -EAGAIN stale; -EBUSY leased; -EINTR interrupted;
 * -EPERM no basis; another -errno from the store. */
int rfs_handle_begin(struct rfs *fs, struct rfs_handle *h,
		     const struct proc_info *p, fuse_req_t wait_req);
/** Drop the handle's change: nothing of it is ever visible. */
void rfs_handle_drop(struct rfs *fs, struct rfs_handle *h, const char *why);
/** Take back the change a handle's first call began, when that call
 * failed having changed nothing (no log line).  Caller holds h->mu. */
void rfs_handle_unbegin(struct rfs *fs, struct rfs_handle *h);
/* How a commit is asked for (rfs_handle_commit's @how). */
#define RFS_COMMIT_DURABLE 1 /* fsync: durable before it returns */
#define RFS_COMMIT_LAST 2    /* release or unmount: nothing reads after */
/** Commit the handle's change as one new version (durable with
 * RFS_COMMIT_DURABLE or sync=always).  Unless RFS_COMMIT_LAST, an O_RDWR
 * handle then reads the version it made.  Caller holds h->mu. */
int rfs_handle_commit(struct rfs *fs, struct rfs_handle *h, int how);
/* Before a read through an O_RDWR handle with no change open: if anyone
 * committed the record since the handle's snapshot (through a handle, a
 * truncate by path, an append), drop the snapshot, so that the read
 * takes the current version.  Caller holds h->mu, not fs->mu. */
void rfs_handle_follow(struct rfs *fs, struct rfs_handle *h);
/** An O_RDWR handle's reads go to @version of @key, just committed
 * through it (others: nothing).  Caller holds h->mu and fs->mu, and the
 * record's lease is still the handle's. */
void rfs_handle_read_own(struct rfs *fs, struct rfs_handle *h,
			 const char *key, uint64_t version);
/** A commit another request made for @h failed with @err: the change
 * is gone, its writer is told at its next fsync or close, and the handle
 * starts over as a refused one does.  Caller holds h->mu. */
void rfs_handle_lost(struct rfs_handle *h, int err);
/** Commit a mknod'ed record nobody took over, empty.  Caller holds
 * fs->mu. */
int rfs_commit_orphan_create(struct rfs *fs, struct rfs_inode *in);
/* Commit @h's open change, for another request: @h is pinned by the
 * caller, and unpinned here.  @still (NULL: always) says, under h->mu
 * and fs->mu, whether the change is still one to commit.  Called
 * without fs->mu.  @return 0 (also when a release committed it first,
 * or @still said no), or the failed commit's -errno, which @h's opener
 * is told too (rfs_handle_lost). */
int rfs_handle_commit_pinned(struct rfs *fs, struct rfs_handle *h,
			     int (*still)(const struct rfs_handle *));
/* If the process of @p holds @key's write lease, commit its change now
 * (a rename or a truncate by that process comes after it).  Called
 * without fs->mu.  @return 0; -EBUSY another process holds it; a
 * failed commit's -errno. */
int rfs_commit_own_lease(struct rfs *fs, const char *key,
			 const struct proc_info *p);

/* ---- The operations, for the table in ops.c -------------------------- */

void rfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode);
void rfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		 const char *name);
void rfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, dev_t rdev);
void rfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	      const char *newname);
void rfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void rfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void rfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		fuse_ino_t newparent, const char *newname, unsigned int flags);

void rfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		 int to_set, struct fuse_file_info *fi);

void rfs_access(fuse_req_t req, fuse_ino_t ino, int mask);
void rfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void rfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void rfs_releasedir(fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi);
void rfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		  struct fuse_file_info *fi);

void rfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void rfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode, struct fuse_file_info *fi);
void rfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	      struct fuse_file_info *fi);
void rfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	       off_t off, struct fuse_file_info *fi);
void rfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void rfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void rfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	       struct fuse_file_info *fi);
void rfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		   off_t len, struct fuse_file_info *fi);
void rfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  size_t size);
void rfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  const char *value, size_t size, int flags);
void rfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void rfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif

/* handle.c - a handle's life and its change: made at open, its first
 * change (taking the record's write lease, lease.c), its commit, its
 * drop and its close.  The FUSE operations on file handles are in
 * file.c.
 *
 * Lock order (as in ops.c): a handle's mu, then fs->mu. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "history.h"
#include "ops.h"
#include "perm.h"
#include "rfs.h"

/* ---- Handles: the first change, commit and drop ---------------------- */

/* Caller holds fs->mu. */
struct rfs_handle *rfs_handle_new(struct rfs *fs, struct rfs_inode *in,
				  int flags, const struct proc_info *p)
{
	struct rfs_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	store_mutex_init(&h->mu);
	h->in = in;
	h->flags = flags;
	h->opener = *p;
	h->opener_known = p->tid > 0;
	h->next = fs->handles;
	if (fs->handles)
		fs->handles->prev = h;
	fs->handles = h;
	if (++fs->nhandles > fs->handles_peak)
		fs->handles_peak = fs->nhandles;
	return h;
}

/* Caller holds fs->mu. */
static void handle_unlink(struct rfs *fs, struct rfs_handle *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		fs->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
	fs->nhandles--;
}

static void handle_destroy(struct rfs_handle *h)
{
	store_snap_close(h->snap);
	store_txn_abort(h->txn);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

void rfs_handle_free(struct rfs *fs, struct rfs_handle *h)
{
	handle_unlink(fs, h);
	handle_destroy(h);
}

void rfs_handle_pin(struct rfs_handle *h)
{
	h->pins++;
}

void rfs_handle_unpin(struct rfs_handle *h)
{
	if (--h->pins == 0 && h->released)
		handle_destroy(h);
}

/* glibc keeps what a thread frees in that thread's arena and returns
 * only the top of each heap: after 20,000 descriptors opened and closed
 * by two processes, the daemon's RSS stayed 16 MB higher per round (39
 * to 112 MB in ten rounds), where malloc_trim() after each took it back
 * to 15-22 MB.  A trim walks every arena, so it is kept for the end of a
 * burst a save's open and close never make (a quarter left open). */
int rfs_handles_trim_due(struct rfs *fs)
{
	if (fs->handles_peak < RFS_TRIM_HANDLES ||
	    fs->nhandles > fs->handles_peak / 4)
		return 0;
	fs->handles_peak = fs->nhandles;
	return 1;
}

/* An open is visible before its reply: its lease, taken at an O_TRUNC
 * open and held over the store's round trip (store_txn_lease), is how a
 * rename finds and pins it, so a failed open closes as a release does. */
void rfs_handle_close(struct rfs *fs, struct rfs_handle *h)
{
	struct rfs_inode *in = h->in;

	rfs_lease_end(fs, in, h);
	in->nopen--;
	if (h->pins) {
		handle_unlink(fs, h);
		h->released = 1;
	} else {
		rfs_handle_free(fs, h);
	}
}

/* The first change of a handle whose record is gone: made on what the
 * record held when it went.  From the version while the store keeps it
 * (copied lazily), else from the bytes pinned when it went (copied now,
 * under fs->mu: rare, a handle kept open across the store forgetting a
 * deleted record).  A record never committed, or one its handle emptied,
 * starts empty; one whose bytes are lost is an error, not an empty
 * file.  Caller holds fs->mu. */
static int gone_begin(struct rfs *fs, struct rfs_handle *h)
{
	struct rfs_inode *in = h->in;
	int rc;

	if (!in->gone_version || h->trunc)
		return store_txn_begin(fs->st, in->key, 1, &h->txn);
	rc = store_txn_begin_at(fs->st, in->key, in->gone_version, &h->txn);
	if (rc == -ENOENT && in->gone_snap)
		rc = store_txn_begin_from(fs->st, in->key, in->gone_snap,
					  &h->txn);
	return rc == -ENOENT ? -ESTALE : rc;
}

/* A change refused (stale, or no basis, at its first write or at its
 * commit): the handle starts over as a new open would.  Its next read
 * reads the current version and counts as a read (its process's basis),
 * so a program may retry through the descriptor it holds: read again,
 * then write.  Before, the handle read its old version forever, gave no
 * basis, and every retry was refused (a livelock), and a handle whose
 * own commit had been overtaken could never change again.  Caller holds
 * h->mu. */
static void start_over(struct rfs_handle *h)
{
	h->has_own = 0;
	h->seen = 0;
	store_snap_close(h->snap);
	h->snap = NULL;
}

/* The version an O_RDWR handle's reads showed of its record under its
 * current key, or 0 (it read none: rfs_check_handle).  Caller holds
 * h->mu and fs->mu. */
static uint64_t handle_view(const struct rfs_handle *h)
{
	struct store_stat sb;

	if ((h->flags & O_ACCMODE) != O_RDWR || !h->seen || !h->snap ||
	    h->snap_gen != h->in->key_gen)
		return 0;
	store_snap_stat(h->snap, &sb);
	return sb.version;
}

/* A handle's first change: check it, take the lease, open the private
 * change.  With @may_wait, another handle's lease is waited for
 * (rfs_lease_wait): only at OPEN, since over WRITE, SETATTR and FALLOCATE
 * the kernel holds the file's inode lock, which the holder's own next
 * write needs.  Caller holds h->mu. */
int rfs_handle_begin(struct rfs *fs, struct rfs_handle *h,
		     const struct proc_info *p, fuse_req_t wait_req)
{
	struct rfs_inode *in = h->in;
	uint64_t expect = STORE_ANY;
	int64_t dl = 0; /* rfs_lease_wait()'s deadline, ns */
	struct basis_hit hit;
	int rc = 0, woken = 0, refused = 0;

	if (h->txn)
		return 0;
	memset(&hit, 0, sizeof(hit));
	pthread_mutex_lock(&fs->mu);
again:
	rfs_moving_wait(fs, in);
	if (in->deleted) {
		/* Writing to a record that is gone (unlinked, or another
		 * moved over it): private to this handle and never
		 * committed (mkstemp-unlink), and made on what the record
		 * held when it went (gone_begin; it started empty: a write
		 * in the middle lost the rest, an append all before it). */
		if (woken)
			rfs_lease_pass(fs, in, 0);
		rc = gone_begin(fs, h);
		rfs_note_size(h);
		/* The lease of a gone record guards nothing (its changes
		 * never commit); the first changer's shows its own size to
		 * its fstat (rfs_getattr), under fs->mu as leases are. */
		if (rc == 0 && !in->lease) {
			in->lease = h;
			in->lease_since_ns = rfs_now_ns();
		}
		pthread_mutex_unlock(&fs->mu);
		return rc == -EISDIR ? -EIO : rc;
	}
	if (in->lease && in->lease != h) {
		rc = wait_req ? rfs_lease_wait(fs, in, h, p, wait_req,
					       (int)fs->o.lease_wait, &dl,
					       &woken)
			      : -EBUSY;
		if (rc == 0)
			goto again; /* the record may have changed meanwhile */
	} else if (in->pending && h->created)
		expect = rfs_unchecked(fs, in->key) ? STORE_ANY : STORE_ABSENT;
	else {
		rc = rfs_check_handle(fs, p, in->key,
				      h->has_own && h->own_gen == in->key_gen
					      ? &h->own
					      : NULL,
				      handle_view(h), &expect, &hit);
		/* (EPERM: its own commit is not a basis under the name
		 * another process gave its record, and it has none) */
		refused = rc == -EAGAIN || rc == -EPERM;
	}
	if (rc == 0)
		rc = store_txn_begin(fs->st, in->key, h->trunc, &h->txn);
	if (rc == 0) {
		in->lease = h;
		in->lease_since_ns = rfs_now_ns();
		__atomic_store_n(&h->view_size, store_txn_size(h->txn),
				 __ATOMIC_RELAXED);
		rfs_attr_mark_write(h);
		h->expect = expect;
		if (!(in->pending && h->created))
			h->hit = hit;
		h->changer = *p;
	} else if (woken) { /* the turn was ours, not taken */
		rfs_lease_pass(fs, in, rc == -EAGAIN ? RFS_TURN_GRACE_NS : 0);
	}
	pthread_mutex_unlock(&fs->mu);
	if (refused)
		start_over(h);
	if (rc == 0) {
		/* A shared store's lease: other mounts' writers are told
		 * here, at the first write, as this mount's are.  It is a
		 * round trip to etcd, so fs->mu is not held; this mount's
		 * other writers already find in->lease taken. */
		rc = store_txn_lease(h->txn, expect);
		if (rc < 0) {
			pthread_mutex_lock(&fs->mu);
			rfs_lease_end(fs, in, h);
			pthread_mutex_unlock(&fs->mu);
			store_txn_abort(h->txn);
			h->txn = NULL;
		}
	}
	return rc;
}

/* Xattrs set while a create was pending become real with the record.
 * @return the ticket of their commits (store_wait_ticket), which the
 * caller waits for once fs->mu is released: with sync=always each one
 * waited for the disk under it (cp -a of a tree, a sync per xattr). */
static uint64_t apply_pxattrs(struct rfs *fs, struct rfs_inode *in)
{
	store_defer_begin(fs->st);
	for (struct rfs_pxattr *x = in->pxa; x; x = x->next)
		store_setxattr(fs->st, in->key, x->name, x->value, x->size, 0);
	rfs_pxattr_free(in);
	return store_defer_end(fs->st);
}

/* An O_RDWR handle with no change open follows every commit of its
 * record: SQLite connections to one database (in one process, one per
 * thread, or one per process under its fcntl locks) each hold a
 * descriptor, and each must read under its lock what the others
 * committed, as on any filesystem.  A snapshot from before another's
 * commit gave a connection stale pages: its change was then refused,
 * but the journal it had written from them stayed hot, and the next
 * connection rolled it back over the other's commits (until 2026-12-07
 * across processes, 2026-12-06 within one; tests/e2e_editors.sh).  Its
 * change on what it read is still checked against its process's basis,
 * the first version it saw or its own commit, so a read that follows
 * another's commit blesses nothing.  A read-only handle reads one
 * version (SPEC). */
void rfs_handle_follow(struct rfs *fs, struct rfs_handle *h)
{
	struct rfs_inode *in = h->in;

	if (__atomic_load_n(&in->pc_seq, __ATOMIC_RELAXED) == h->pc_seen)
		return;
	pthread_mutex_lock(&fs->mu);
	if (in->pc_seq != h->pc_seen && h->snap_gen == in->key_gen &&
	    !in->deleted)
		start_over(h);
	h->pc_seen = in->pc_seq;
	pthread_mutex_unlock(&fs->mu);
}

/* The holder may be another thread, closing the handle right now: the
 * pin keeps the handle, and a release that came first has committed the
 * change itself (rfs_release), so nothing is left to do. */
int rfs_handle_commit_pinned(struct rfs *fs, struct rfs_handle *h,
			     int (*still)(const struct rfs_handle *))
{
	int rc = 0, go;

	pthread_mutex_lock(&h->mu);
	/* A release commits under h->mu before it marks the handle and
	 * drops the inode: either it has not begun (and waits for us), or
	 * h->txn is already gone and there is nothing to commit. */
	pthread_mutex_lock(&fs->mu);
	go = !h->released && (!still || still(h));
	pthread_mutex_unlock(&fs->mu);
	if (go)
		rc = rfs_handle_commit(fs, h, 0);
	if (rc < 0)
		rfs_handle_lost(h, rc);
	pthread_mutex_unlock(&h->mu);
	pthread_mutex_lock(&fs->mu);
	rfs_handle_unpin(h);
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

/* An O_RDWR handle reads back what it committed: SQLite rereads its
 * pages after each transaction, an `a+` log its own lines, and a
 * snapshot from before the commit (or the newest, which may be another
 * writer's by then) would hand them old bytes to build the next change
 * on.  The version is opened by the key it was made under and its
 * number, which name those bytes even after a rename or a delete (a
 * deleted key keeps its versions), and while the lease is still held:
 * later, other writers' versions could have pushed it out of the kept
 * ones (keep_versions) while this one waited for its sync, and the
 * handle read the newest instead (stress_mix, 2026-12-05).  If it
 * cannot be opened, the next read opens the newest.  Caller holds h->mu
 * and fs->mu. */
void rfs_handle_read_own(struct rfs *fs, struct rfs_handle *h, const char *key,
			 uint64_t version)
{
	int rc;

	if ((h->flags & O_ACCMODE) != O_RDWR)
		return;
	store_snap_close(h->snap);
	h->snap = NULL;
	rc = store_snap_open(fs->st, key, version, &h->snap);
	/* A version of another key than the inode's (it moved) must never
	 * read on in the inode's line (read_on). */
	h->snap_gen = h->in->key_gen - (strcmp(h->in->key, key) != 0);
	if (rc < 0) /* not expected: say so, for the next time it happens */
		fprintf(stderr, "recfs: '%s' version %llu, just committed, "
			"cannot be opened (%s): its handle reads the newest\n",
			key, (unsigned long long)version, strerror(-rc));
}

/* A rename by the handle's own process commits the record's open change
 * first (rfs_handle_commit_pinned): when that commit fails (it was
 * stale when its own process truncated the record by path in between,
 * until that truncate came to commit the change first, 2026-12-06), the
 * error goes to the rename, and the writer must still learn that its
 * bytes are gone.  Until 2026-12-06 its fsync and close succeeded and it
 * read back the version from before its change (stress_mix, once in 12
 * million operations).  As a writeback error is on a local
 * filesystem, it is told once: at its next fsync, or its opener's close.
 * Its next read reads the current version, as after any refusal. */
void rfs_handle_lost(struct rfs_handle *h, int err)
{
	h->lost = err;
	start_over(h);
}

/* The metadata the handle's commit gives its version, in @m; NULL for
 * the store's own (a record's mode and owner, times now).  A new
 * record's is its create's.  Times given while the change was open stay
 * (set_meta), unless a write of it came after them: then they are the
 * commit's, standing for that write's, as on any file system.  The
 * state is the change's, so it ends here.  Caller holds h->mu and
 * fs->mu. */
static const struct store_meta *commit_meta(struct rfs *fs,
					    struct rfs_handle *h,
					    struct store_meta *m)
{
	struct rfs_inode *in = h->in;
	int state = __atomic_exchange_n(&h->mtime_state, RFS_MTIME_NONE,
					__ATOMIC_ACQUIRE);
	struct store_stat sb;

	if (in->pending) {
		*m = in->pmeta;
		if (state == RFS_MTIME_WRITTEN)
			m->mtime_ns = m->ctime_ns = rfs_now_ns();
		return m;
	}
	if (state != RFS_MTIME_GIVEN || store_stat(fs->st, in->key, &sb) < 0)
		return NULL;
	*m = sb.meta;
	m->mtime_ns = h->mtime_ns;
	m->ctime_ns = rfs_now_ns();
	return m;
}

/* A create's commit gave its directory new times (store.c, dir_touch).
 * The kernel dropped the directory's attributes itself at the create:
 * they are stale only if it was given them since (a stat while the file
 * was open kept the old times for a day).  A handle that took over a
 * mknod's create kept no mark: the directory's go.  Caller holds fs->mu.
 * @return the directory's inode to invalidate, or 0. */
static fuse_ino_t stale_dir(struct rfs *fs, const struct rfs_handle *h,
			    const char *key)
{
	struct rfs_inode *d;

	if (!h->dir_ino)
		return rfs_dir_ino(fs, key);
	d = rfs_ino(fs, h->dir_ino);
	return d && __atomic_load_n(&d->attr_gen, __ATOMIC_RELAXED) !=
			    h->dir_gen
		       ? d->ino
		       : 0;
}

/* Commit the handle's change as one new version.  Caller holds h->mu. */
int rfs_handle_commit(struct rfs *fs, struct rfs_handle *h, int how)
{
	struct rfs_inode *in = h->in;
	struct store_txn *t = h->txn;
	struct store_meta meta;
	const struct store_meta *mp;
	uint64_t newv = 0, ticket = 0;
	int pending, rc, moved;
	/* A handle opened O_SYNC or O_DSYNC (dd oflag=sync) commits
	 * durably: its writes are private until this commit, and the
	 * kernel sends no fsync for them, so nothing else would sync it. */
	int durable = (how & RFS_COMMIT_DURABLE) || (h->flags & O_DSYNC);
	char key[RFS_KEY_BUF];
	fuse_ino_t dir = 0;

	if (!t)
		return 0;
	if (h->failed) {
		rc = h->failed;
		h->failed = 0;
		rfs_handle_drop(fs, h, "a write into it failed");
		return rc;
	}
	h->txn = NULL;
	pthread_mutex_lock(&fs->mu);
	/* An unlink by the opener's own process, at the store: the change
	 * then commits nowhere, as when it came after. */
	rfs_moving_wait(fs, in);
	pending = in->pending;
	if (in->deleted) {
		/* Its record is gone (unlinked, or another moved over it):
		 * the change commits nowhere, but stays the handle's own
		 * content until its release, as an unlinked file's does
		 * (and so does its lease, which shows its size to fstat). */
		if (how & RFS_COMMIT_LAST)
			rfs_lease_end(fs, in, h);
		pthread_mutex_unlock(&fs->mu);
		if (how & RFS_COMMIT_LAST)
			store_txn_abort(t);
		else
			h->txn = t;
		return 0;
	}
	mp = commit_meta(fs, h, &meta);
	pthread_mutex_unlock(&fs->mu);
	/* The version the commit makes is this key's (keys fit: the txn
	 * was begun on one). */
	snprintf(key, sizeof(key), "%s", store_txn_key(t));

	/* Applied is committed: the lease ends there, not after the sync,
	 * so the record's next writer can start (and share the sync)
	 * while this one waits for it. */
	rc = store_txn_commit_nowait(t, h->expect, mp, durable, &newv,
				     &ticket);
	if (durable)
		rfs_test_pause(fs, key, RFS_PAUSE_COMMIT);

	pthread_mutex_lock(&fs->mu);
	/* Invariant: in->key is still the key committed to, since a rename
	 * of the record, or of a directory above it, is refused while the
	 * change is open (rfs_rename, rfs_rekey_tree).  Should it ever
	 * differ, newv is a version of the old key: no bases are handed out
	 * for it (they would name the wrong key's version of that number),
	 * and readers' line of appends starts afresh. */
	moved = strcmp(in->key, key) != 0;
	if (rc == 0) {
		if (pending) {
			uint64_t xt;

			rfs_ino_pending(fs, in, 0);
			xt = apply_pxattrs(fs, in);
			ticket = xt > ticket ? xt : ticket;
			dir = stale_dir(fs, h, key);
		}
		h->has_own = 1;
		h->own = newv;
		h->own_gen = in->key_gen;
		h->trunc = 0;
		h->created = 0;
		if (moved)
			__atomic_store_n(&in->ext_base, 0, __ATOMIC_RELAXED);
		else if (pending)
			rfs_created(fs, &h->changer, &h->hit, key, newv);
		else
			rfs_changed(fs, &h->changer, &h->hit, key, newv);
		if (!moved) {
			rfs_note_commit(in);
			h->pc_seen = in->pc_seq;
		}
		if (!(how & RFS_COMMIT_LAST))
			rfs_handle_read_own(fs, h, key, newv);
	} else {
		fprintf(stderr, "recfs: commit of '%s' failed: %s\n", key,
			strerror(-rc));
		if (pending && h->created) {
			rfs_ino_pending(fs, in, 0);
			rfs_ino_unkey(fs, in);
			rfs_inval_entry(fs, in->key);
		}
		/* Nothing of it happened, its emptying (O_TRUNC, an
		 * ftruncate to 0) neither: a next change starts from the
		 * record's bytes, never from none (which gave zeros where
		 * they were: tests/check_model.py). */
		start_over(h);
		h->trunc = 0;
	}
	rfs_lease_end(fs, in, h);
	pthread_mutex_unlock(&fs->mu);
	if (durable)
		rfs_test_pause(fs, key, RFS_PAUSE_COMMIT);
	/* A failed sync fails the store: every later change is refused
	 * with EROFS, so nothing is built on this version meanwhile. */
	if (rc == 0)
		rc = store_wait_ticket(fs->st, ticket);
	/* The kernel forgot the record's size and times after each direct
	 * write, and every open without keep_cache drops its pages, so a
	 * commit needs no invalidation of its own -- unless attributes went
	 * out since the last write (another process's stat would keep the
	 * old size), or the commit failed and the old content stands. */
	if (rc < 0 ||
	    __atomic_load_n(&in->attr_gen, __ATOMIC_RELAXED) != h->attr_seen ||
	    __atomic_exchange_n(&in->filled, 0, __ATOMIC_RELAXED))
		rfs_inval_inode(fs, in->ino);
	rfs_inval_attr(fs, dir);
	return rc;
}

/* Drop the handle's change: nothing of it is ever visible. */
void rfs_handle_drop(struct rfs *fs, struct rfs_handle *h,
		     const char *why)
{
	struct rfs_inode *in = h->in;
	char comm[65];

	if (!h->txn)
		return;
	store_txn_abort(h->txn);
	h->txn = NULL;
	__atomic_store_n(&h->mtime_state, RFS_MTIME_NONE, __ATOMIC_RELAXED);
	pthread_mutex_lock(&fs->mu);
	rfs_lease_end(fs, in, h);
	if (in->pending && h->created) {
		rfs_ino_pending(fs, in, 0);
		rfs_ino_unkey(fs, in);
		rfs_inval_entry(fs, in->key);
	}
	fprintf(stderr, "recfs: dropped the uncommitted change of '%s' by pid "
		"%d (%s): %s\n", in->key, (int)h->opener.tgid,
		proc_comm_field(h->opener.comm, comm), why);
	pthread_mutex_unlock(&fs->mu);
	/* A private mapping of this handle filled the record's one page
	 * cache from the change (README, "mmap"): none of it may stay. */
	rfs_inval_inode(fs, in->ino);
}

/* Take back a change its first call began and then failed before it
 * changed a byte (an ftruncate or fallocate past the largest size:
 * EFBIG).  Kept, it held the record's lease until the close, and the
 * close committed the same bytes as a new version, making others' bases
 * stale over a call that was refused.  Nothing was consumed: a basis is
 * consumed at a commit or a refusal.  Caller holds h->mu. */
void rfs_handle_unbegin(struct rfs *fs, struct rfs_handle *h)
{
	if (!h->txn)
		return;
	store_txn_abort(h->txn);
	h->txn = NULL;
	h->failed = 0; /* (it marked the change taken back) */
	__atomic_store_n(&h->mtime_state, RFS_MTIME_NONE, __ATOMIC_RELAXED);
	pthread_mutex_lock(&fs->mu);
	rfs_lease_end(fs, h->in, h);
	pthread_mutex_unlock(&fs->mu);
}

/* A mknod'ed record nobody took over is committed empty (it exists).
 * Caller holds fs->mu. */
int rfs_commit_orphan_create(struct rfs *fs, struct rfs_inode *in)
{
	uint64_t newv;
	struct basis_hit none;
	int rc;

	if (!in->pending || in->lease)
		return 0;
	rc = store_put(fs->st, in->key,
		       rfs_unchecked(fs, in->key) ? STORE_ANY : STORE_ABSENT,
		       "", 0, &in->pmeta, &newv);
	if (rc < 0)
		return rc;
	rfs_ino_pending(fs, in, 0);
	/* (rare: waited for here, as the put was) */
	rc = store_wait_ticket(fs->st, apply_pxattrs(fs, in));
	if (rc < 0)
		return rc;
	memset(&none, 0, sizeof(none));
	rfs_created(fs, &in->pcreator, &none, in->key, newv);
	/* Its directory's times moved (stale_dir); attributes only, which
	 * waits on no lock the kernel may hold for this request. */
	rfs_inval_attr(fs, rfs_dir_ino(fs, in->key));
	return 0;
}

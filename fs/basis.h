/* basis.h - who may change what: the bases of changes (SPEC "The basis
 * of a change").  Bases are held per process (pid and start time) and
 * per record key, for one uid; lookups walk the writer's ancestors.
 * Every @p below is the task whose request is being served (alive, as
 * proc_get_caller() assumes). */
#ifndef RECFS_BASIS_H
#define RECFS_BASIS_H

#include <stdint.h>
#include <sys/types.h>
#include "proc.h"

struct basis_table;

struct basis_hit {
	int found;          /* a basis was found */
	int stale;          /* a stale mark stopped the lookup: EAGAIN */
	int expired;        /* an explicit basis past expect_ttl: EAGAIN */
	int explicit_;
	int seen;           /* implicit, from a read (not from a change) */
	uint64_t version;
	uint64_t group;     /* the registration, for consuming it */
	pid_t holder;       /* where it was found */
	uint64_t holder_start;
	uid_t uid;          /* the uid of the basis or mark found there */
	int holder_is_self; /* held by the writer's own task or process */
	pid_t via;          /* self-held, from a change on this ancestor's */
	uint64_t via_start; /* basis (basis_changed) */
};

/* @ttl_s: expect_ttl; @max: bound on entries (at the bound, new implicit
 * bases are not recorded, so a later change finds none and is refused
 * with EPERM; new declarations fail with ENOSPC: refusing is safe). */
int basis_init(struct basis_table **bt, unsigned ttl_s, size_t max,
	       int implicit);
void basis_free(struct basis_table *bt);

/* setfattr user.expected_version: held for the caller and its parent;
 * clears their stale marks.  @return 0 or -ENOSPC. */
int basis_declare(struct basis_table *bt, const struct proc_info *p,
		  const char *key, uint64_t version);

/* setfattr -x user.expected_version: the declarations the caller and
 * its parent hold for @key are withdrawn (their stale marks stay). */
void basis_withdraw(struct basis_table *bt, const struct proc_info *p,
		    const char *key);

/* The caller saw @version of @key (opened it for reading): an implicit
 * basis for it and its parent, unless they already hold one (one from
 * a child's create, or from their tree's removal, gives way to a later
 * version: basis_created, basis_removed); clears their stale marks. */
void basis_seen(struct basis_table *bt, const struct proc_info *p,
		const char *key, uint64_t version);
/* The same, registered even where implicit bases are off (noimplicit):
 * for a symlink's read, its only possible basis (Linux refuses user.*
 * attributes on symlinks, so no declaration can give one). */
void basis_seen_always(struct basis_table *bt, const struct proc_info *p,
		       const char *key, uint64_t version);

/* The caller looked @key up and found it deleted at @version (0: a line
 * compaction forgot): basis_seen for its parent, and for the caller
 * itself only where its change would otherwise use no basis, one at
 * @version, one its holder's tree made, or meet a mark: not over an
 * older one read or declared, its own or an ancestor's (a create's own
 * look must not make a stale shell's `cp x f` a fresh one).  Where what
 * it reaches is an ancestor's basis that ancestor's tree made, that
 * basis moves to @version in place and nothing else is registered
 * (fs/basis.c, look_reads_locked: make; make clean; make). */
void basis_looked(struct basis_table *bt, const struct proc_info *p,
		  const char *key, uint64_t version);

/* Find the basis a change of @key by task @p would use. */
void basis_lookup(struct basis_table *bt, const struct proc_info *p,
		  const char *key, struct basis_hit *hit);

/* A hint: @key's bucket is about to be looked up (a lookup of a new name
 * comes before its create).  The memory is asked for now, so that its
 * miss overlaps the asker's own work instead of following it. */
void basis_prefetch(struct basis_table *bt, const char *key);

/* Does anyone hold a basis or a mark for @key?  Cheap: no walk. */
int basis_held(struct basis_table *bt, const char *key);
/* The change, based on @basis, was refused as stale: marks at the
 * writer's process and at the holder (each remembering @basis), implicit
 * bases there forgotten, and a conflict line kept for user.conflict. */
void basis_refused(struct basis_table *bt, const struct proc_info *p,
		   const struct basis_hit *hit, const char *key,
		   uint64_t basis, const char *conflict);

/* The refusal of @key just made was of a rename, unlink or truncate by
 * path: for 2 s the refused process's own reads give it no basis (see
 * basis_seen: vim's refused save re-reads before it rewrites). */
void basis_grace(struct basis_table *bt, const struct proc_info *p,
		 const char *key);

/* The change committed as @newv: the changer holds @newv (and the
 * ancestor whose basis it used, as a new registration; one from a
 * child's create stays one, see basis_created).  A change on the
 * changer's own implicit basis moves the nearest ancestor holding one
 * along when it stands at that same version and did not get it from a
 * read (its tree made it).  An append, which needs no basis, passes the
 * implicit one it found current (fs/file.c). */
void basis_changed(struct basis_table *bt, const struct proc_info *p,
		   const struct basis_hit *hit, const char *key,
		   uint64_t newv);

/* basis_changed for a change that removed @key (unlink, rename away),
 * leaving its tombstone @newv: the bases it leaves there give way to a
 * later read of a newer record by their holder or its child (basis_seen),
 * as a create's do.  A consumer that removes what another keeps making
 * (cat q; rm q) is checked against what it read since. */
void basis_removed(struct basis_table *bt, const struct proc_info *p,
		   const struct basis_hit *hit, const char *key,
		   uint64_t newv);

/* @p created @key as @newv (no basis was needed): its parent holds @newv
 * as well, and so do the two processes above it and @p's session leader
 * (within 8 levels; root too), up to the first on that line that holds
 * a basis or a mark for @key already, which keeps it.  (The changer itself is registered
 * by basis_changed.)  So a shell whose child wrote a new file may move
 * or delete it with its next command: `sort data > tmp && mv tmp data`,
 * `cmd > out; rm out`, and so may a terminal's shell after a script
 * whose `cp` made it, a program whose thread did, or the script itself
 * (`bash -c "make; rm out"`).  Unlike a read's, this basis gives way to
 * the holder's next read (basis_seen): the shell then holds what it
 * saw, as it would have without it.  A creator that leads its session
 * registers for its parent only. */
void basis_created(struct basis_table *bt, const struct proc_info *p,
		   const char *key, uint64_t newv);
/* basis_changed, then basis_created, in one section of the table's
 * lock.  @always: the created part registers even where implicit bases
 * are off (noimplicit): for a new symlink, which can have no declared
 * basis (basis_seen_always). */
void basis_changed_created(struct basis_table *bt, const struct proc_info *p,
			   const struct basis_hit *hit, const char *key,
			   uint64_t newv, int always);
/* A record's rename, in one section of the table's lock (one read of
 * the last pid in bt_unlock, where two calls made two): basis_removed
 * for @from, whose version is now its tombstone @tomb, then for @to as
 * @newv, or basis_changed_created there when @made (@made > 1: its
 * @always).  A NULL @fhit or @thit leaves that name out (it needs no
 * basis). */
void basis_renamed(struct basis_table *bt, const struct proc_info *p,
		   const struct basis_hit *fhit, const char *from,
		   uint64_t tomb, const struct basis_hit *thit,
		   const char *to, uint64_t newv, int made);

/* The conflict line for user.conflict.  @return length or -ENODATA. */
int basis_conflict(struct basis_table *bt, const struct proc_info *p,
		   const char *key, char *buf, size_t len);

/* Drop entries of processes that are gone.  @return entries left. */
size_t basis_gc(struct basis_table *bt);

/* For tests: entries held, buckets, and the longest chain of one. */
void basis_shape(struct basis_table *bt, size_t *entries, size_t *buckets,
		 size_t *longest);

#endif

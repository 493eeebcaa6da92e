/* check.h - the version check of one change. */
#ifndef RECFS_CHECK_H
#define RECFS_CHECK_H

#include "rfs.h"

/* 1 if changes of @key need no basis (mount option, tool-owned name, or
 * a directory above marked user.recfs.unchecked=1). */
int rfs_unchecked(struct rfs *fs, const char *key);

/* Check a change of @key by task @p.  @own, if not NULL, is the handle's
 * own last commit, used as its basis.  On success *expect is what the
 * store must still see at commit (STORE_ABSENT for a create, STORE_ANY
 * if unchecked) and *hit the basis taken.  Caller holds fs->mu.
 * @return 0; -EAGAIN stale (marks and a conflict line are left);
 *  -EPERM no basis for an existing record (logged). */
int rfs_check(struct rfs *fs, const struct proc_info *p, const char *key,
	      const uint64_t *own, uint64_t *expect, struct basis_hit *hit);
/* As rfs_check, for a handle that has read version @view of @key
 * (0: it read none).  An O_RDWR handle reads one version, and its change
 * is made on the record's current bytes: when the basis found is
 * implicit and current but the handle's reads showed an older version,
 * the change was computed from bytes that are no longer there, and is
 * refused as stale (-EAGAIN).  That happens when the process committed
 * through another descriptor of the record, which moved its basis on:
 * two SQLite connections in one process, where one's transactions
 * vanished under the other's pages (tests/e2e_editors.sh).  A declared
 * basis is the caller's word, and is taken as it is. */
int rfs_check_handle(struct rfs *fs, const struct proc_info *p,
		     const char *key, const uint64_t *own, uint64_t view,
		     uint64_t *expect, struct basis_hit *hit);
/* As rfs_check, for a create of @key, which the caller found absent (no
 * record, no directory) while holding fs->mu, as it still does: one
 * lookup less. */
int rfs_check_new(struct rfs *fs, const struct proc_info *p, const char *key,
		  uint64_t *expect, struct basis_hit *hit);

/* @p read version @v of @key (opened it):
 * a basis for it and its parent (basis_seen), unless @key needs none.
 * Bases of unchecked keys would never be asked for, and would take a
 * shell's share of the table (a build directory, .git). */
void rfs_seen(struct rfs *fs, const struct proc_info *p, const char *key,
	      uint64_t v);
/* @p looked @key up and found it deleted at @v (basis_looked). */
void rfs_looked(struct rfs *fs, const struct proc_info *p, const char *key,
		uint64_t v);
/* The same for a symlink's read: a basis even under noimplicit, since
 * a symlink can have no other (basis_seen_always). */
void rfs_seen_link(struct rfs *fs, const struct proc_info *p,
		   const char *key, uint64_t v);

/* A change by @p committed @newv: remember who, and hand out the new
 * version as a basis (unless @key needs none).  Caller holds fs->mu. */
void rfs_changed(struct rfs *fs, const struct proc_info *p,
		 const struct basis_hit *hit, const char *key, uint64_t newv);
/* As rfs_changed, for a change that removed @key (unlink, rename away)
 * and left its tombstone @tomb (basis_removed). */
void rfs_removed(struct rfs *fs, const struct proc_info *p,
		 const struct basis_hit *hit, const char *key, uint64_t tomb);
/* As rfs_changed, for an append (which needs no basis): only a basis
 * @hit found current (fs/file.c, append_basis) moves along to @newv;
 * without one the appender is given none.  Caller holds fs->mu. */
void rfs_appended(struct rfs *fs, const struct proc_info *p,
		  const struct basis_hit *hit, const char *key,
		  uint64_t newv);
/* As rfs_changed, for a change that created @key: the creator's parent
 * holds @newv too (basis_created).  Caller holds fs->mu. */
void rfs_created(struct rfs *fs, const struct proc_info *p,
		 const struct basis_hit *hit, const char *key, uint64_t newv);
/* The same for a new symlink: its creator's line holds it even under
 * noimplicit (a symlink can have no declared basis: rfs_seen_link). */
void rfs_created_link(struct rfs *fs, const struct proc_info *p,
		      const struct basis_hit *hit, const char *key,
		      uint64_t newv);

/* A record's rename as rfs_removed of @from (its tombstone @tomb) and
 * of @to (@newv; rfs_created when @to_new, rfs_created_link for a new
 * @link), with one section of the basis table for both.  Caller holds
 * fs->mu. */
void rfs_renamed(struct rfs *fs, const struct proc_info *p,
		 const struct basis_hit *fhit, const char *from,
		 uint64_t tomb, const struct basis_hit *thit, const char *to,
		 uint64_t newv, int to_new, int link);

/* The records under a directory about to be renamed, with their
 * versions (rfs_tree_of), so that the bases the renamer's tree held for
 * them follow them (rfs_dir_moved). */
struct rfs_tree;

/* Collect the records under @dir.  Caller holds fs->mu, and holds it
 * until rfs_dir_moved.  @return 0 (*out NULL when there are none),
 * -ENOMEM, or store_list's error. */
int rfs_tree_of(struct rfs *fs, const char *dir, struct rfs_tree **out);

/* @from, listed in @t, is now @to (renamed by @p).  A directory rename
 * needs no basis (SPEC), but each record continues its line under its
 * new key as a change: where @p's lookup finds a current implicit basis
 * for a record's old key, that change is made on it, as for a record
 * renamed by itself (its old key's tombstone and its new key's version
 * are held, by @p and by the ancestor whose basis it was).  Caller holds
 * fs->mu. */
void rfs_dir_moved(struct rfs *fs, const struct proc_info *p,
		   const struct rfs_tree *t, const char *from, const char *to);
void rfs_tree_free(struct rfs_tree *t);

#endif

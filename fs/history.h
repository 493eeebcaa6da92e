/* history.h - the read-only .recfs/history tree.  Callers hold fs->mu. */
#ifndef RECFS_HISTORY_H
#define RECFS_HISTORY_H

#include <sys/stat.h>
#include "perm.h"
#include "rfs.h"

enum { HIST_ROOT = 1, HIST_DIR, HIST_KEY, HIST_VER };

/* -EROFS if @name under @parent is in (or is) the reserved tree; -EINVAL
 * for a root name that begins with \x01, as the tree's own keys do. */
int hist_reserved(const struct rfs_inode *parent, const char *name);
/* Look @name up under @parent (the root for ".recfs", or a history
 * inode), for @w: a version @w may not read is not there for it.
 * @return 0 and *out; -ENOENT; -ENOMEM. */
int hist_lookup(struct rfs *fs, struct rfs_inode *parent, const char *name,
		struct perm_who *w, struct rfs_inode **out);
int hist_attr(struct rfs *fs, struct rfs_inode *in, struct stat *a);
/* Entries of a history directory, "." and ".." first (caller frees),
 * without the versions @w may not read. */
int hist_list(struct rfs *fs, struct rfs_inode *in, struct perm_who *w,
	      char ***names, uint32_t **modes, size_t *n);
/* Pin the version a version file stands for. */
int hist_snap(struct rfs *fs, struct rfs_inode *in, struct store_snap **s);
/* user.version and user.hash of a version file.  @return length. */
int hist_getxattr(struct rfs *fs, struct rfs_inode *in, const char *name,
		  char *val, size_t len);
const char *hist_key(const struct rfs_inode *in, char *buf, size_t len);

#endif

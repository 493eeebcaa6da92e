/* stage.c - the copy of a large record for an append or a truncate, made
 * with fs->mu released.
 *
 * Every version is a whole copy.  Made under fs->mu, which orders names
 * and leases, the copy of a 200 MiB record held every other request of
 * the mount for a second (an open of another record waited beside
 * `echo line >> biglog`).  So a large record's new content is staged
 * first, without fs->mu, and only committed under it, against the
 * version it was copied from (store_txn_commit refuses it if the record
 * moved on meanwhile, and the caller stages again or, after
 * RFS_STAGE_TRIES, falls back to the one step under the lock).  A small
 * record is done in that one step: staging it apart costs a lookup and
 * gains nothing. */
#include <errno.h>
#include <string.h>

#include "rfs.h"

/* The smallest copy staged apart: about a millisecond's copy here. */
#define RFS_STAGE_MIN (1u << 20)

void rfs_stage_big(struct rfs *fs, struct rfs_inode *in, const void *buf,
		   size_t len, uint64_t size, int append,
		   struct rfs_staged *sg)
{
	char key[RFS_KEY_BUF];
	struct store_stat sb;
	int pending, rc;

	memset(sg, 0, sizeof(*sg));
	pthread_mutex_lock(&fs->mu);
	rfs_moving_wait(fs, in); /* (names.c, moving_begin) */
	rc = rfs_ino_key_copy(in, key, &pending);
	sg->gen = in->key_gen;
	pthread_mutex_unlock(&fs->mu);
	/* Anything not staged here (a pending create, an error) is left to
	 * the locked path, which tells its error as before. */
	if (rc < 0 || pending || store_stat(fs->st, key, &sb) < 0 ||
	    (append ? sb.size : (size < sb.size ? size : sb.size)) <
		    RFS_STAGE_MIN)
		return;
	rc = append ? store_append_stage(fs->st, key, buf, len, &sg->t,
					 &sg->base)
		    : store_truncate_stage(fs->st, key, size, &sg->t,
					   &sg->base);
	if (rc < 0)
		sg->t = NULL;
}

int rfs_staged_ok(const struct rfs_staged *sg, const struct rfs_inode *in)
{
	return sg->t && !in->deleted && sg->gen == in->key_gen;
}

void rfs_staged_drop(struct rfs_staged *sg)
{
	if (sg->t)
		store_txn_abort(sg->t);
	sg->t = NULL;
}

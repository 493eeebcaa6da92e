/* salvage.c - make a store whose blobs were lost writable again.
 *
 * A version whose blob is missing, or is a file of the wrong size, has
 * no content to give: open refuses such a store read-write (a change
 * built on it could never be read back), and fsck reports it.  Its
 * content cannot be repaired, only let go of, and that is what salvage
 * does, saying so for each version:
 * - a version kept as history is forgotten;
 * - a record's current version ends the record: it is deleted, as any
 *   delete would (its next version is a tombstone, so a writer holding
 *   the lost version as its basis is refused), and its older versions
 *   stay in its history, where they can be read and restored from;
 * - a blob file of the wrong size is moved to lost+found/ in the store
 *   directory (its bytes may still matter to someone); a missing one
 *   is just gone.
 * Then a compaction rewrites the log from the index, so that no entry
 * names the lost blobs any more, and a later open finds nothing amiss.
 *
 * Invariant kept: only versions open found lost are dropped; every other
 * version, record, directory and tombstone is exactly as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

/* lost+found/ in the store, made if need be: a directory, never a link
 * (a blob moved through one left the store, for root's recctl into any
 * directory the store's owner named).  @return its descriptor, -errno. */
static int open_lost_found(struct store *st)
{
	int lfd;

	if (mkdirat(st->dirfd, "lost+found", 0700) == 0)
		store_own_at(st, st->dirfd, "lost+found");
	else if (errno != EEXIST)
		return -errno;
	lfd = openat(st->dirfd, "lost+found",
		     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return lfd < 0 ? -errno : lfd;
}

/* Move a wrong-sized blob file aside.  @return 1 moved, 0 not there,
 * -errno. */
static int keep_aside(struct store *st, uint64_t blob)
{
	char name[BLOB_NAME_LEN];
	int lfd, rc = 0;

	blob_name(name, blob);
	lfd = open_lost_found(st);
	if (lfd < 0)
		return lfd;
	if (renameat(st->blobfd, name, lfd, name) == 0)
		rc = 1;
	else if (errno != ENOENT) /* named by another lost version too */
		rc = -errno;
	if (rc == 1 && (fsync(lfd) < 0 || fsync(st->blobfd) < 0))
		rc = -EIO;
	close(lfd);
	return rc;
}

/* Forget @key's version @version from the index.  Caller holds nothing;
 * the store is salvage's alone (no background thread). */
static void forget_version(struct store *st, const char *key,
			   uint64_t version)
{
	struct node *n;

	pthread_mutex_lock(&st->commit_mu);
	pthread_rwlock_wrlock(&st->idx_lock);
	n = idx_get(&st->idx, key, strlen(key));
	for (uint32_t i = 0; n && i < n->nvers; i++) {
		if (node_cvers(n)[i].version != version)
			continue;
		CTR_SUB(st->live_bytes, node_live_bytes(n));
		node_drop_ver(n, i);
		CTR_ADD(st->live_bytes, node_live_bytes(n));
		break;
	}
	pthread_rwlock_unlock(&st->idx_lock);
	pthread_mutex_unlock(&st->commit_mu);
}

/* Is @version @key's current content?  (A K_FILE's newest version.) */
static int is_current(struct store *st, const char *key, uint64_t version)
{
	struct store_stat sb;

	return store_stat(st, key, &sb) == 0 && S_ISREG(sb.meta.mode) &&
	       sb.version == version;
}

static int salvage_one(struct store *st, const struct lost_ver *l,
		       FILE *out)
{
	char name[BLOB_NAME_LEN];
	uint64_t newv = 0;
	int rc;

	blob_name(name, l->blob);
	fprintf(out, "%s v%" PRIu64 ": content lost (blobs/%s %s)", l->key,
		l->version, name, l->missing ? "missing" : "of the wrong size");
	if (is_current(st, l->key, l->version)) {
		rc = store_delete(st, l->key, l->version, &newv);
		if (rc < 0) {
			fprintf(out, "; cannot delete the record: %s\n",
				strerror(-rc));
			return rc;
		}
		fprintf(out, "; the record is deleted (v%" PRIu64
			     "), its older versions stay in its history",
			newv);
	} else {
		fprintf(out, "; dropped from the history");
	}
	forget_version(st, l->key, l->version);
	if (!l->missing) {
		rc = keep_aside(st, l->blob);
		if (rc < 0) {
			fprintf(out, "; cannot move the blob aside: %s\n",
				strerror(-rc));
			return rc;
		}
		if (rc == 1)
			fprintf(out, "; the blob is kept as lost+found/%s",
				name);
	}
	fprintf(out, "\n");
	return 0;
}

int store_salvage(const char *dir, FILE *out)
{
	struct store_opts o = { 0 };
	struct store *st = NULL;
	char err[512] = "";
	int rc, crc;

	o.compact_ratio = -1; /* one compaction, ours, at the end */
	/* Keep every version and tombstone the log holds: the mount's own
	 * limits are not recorded, and salvage's compaction must not apply
	 * lower ones than the mount's. */
	o.keep_versions = UINT32_MAX;
	o.tombstone_limit = UINT64_MAX;
	o.errbuf = err;
	o.errlen = sizeof(err);
	rc = store_open_ex(dir, &o, 1, &st);
	if (rc < 0) {
		fprintf(out, "%s: cannot open to salvage: %s\n", dir,
			err[0] ? err : strerror(-rc));
		return rc;
	}
	if (st->es) {
		store_close(st);
		return -EOPNOTSUPP;
	}
	/* Before any change: a blob to keep aside needs lost+found/, and
	 * failing there half-way left records deleted and the rest not. */
	for (size_t i = 0; i < st->nlost; i++) {
		int lfd;

		if (st->lost[i].missing)
			continue;
		lfd = open_lost_found(st);
		if (lfd < 0) {
			rc = lfd;
			fprintf(out, "%s/lost+found: %s (salvage keeps blobs "
				"of the wrong size there; it must be a "
				"directory, not a link)\n", dir,
				strerror(-rc));
			goto out;
		}
		close(lfd);
		break;
	}
	for (size_t i = 0; i < st->nlost; i++) {
		rc = salvage_one(st, &st->lost[i], out);
		if (rc < 0)
			goto out;
	}
	if (st->nlost) {
		/* No entry may name a dropped version's blob any more. */
		rc = store_compact(st);
		if (rc < 0) {
			fprintf(out, "%s: compaction failed: %s\n", dir,
				strerror(-rc));
			goto out;
		}
	}
	fprintf(out, "salvage: %zu version%s dropped\n", st->nlost,
		st->nlost == 1 ? "" : "s");
	rc = (int)(st->nlost > INT32_MAX ? INT32_MAX : st->nlost);
out:
	crc = store_close(st);
	return rc < 0 ? rc : crc < 0 ? crc : rc;
}

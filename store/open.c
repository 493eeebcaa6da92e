/* open.c - opening a store: options, lock, directories, replay (replay.c),
 * blob checks and leftovers, and closing it; the background compactor
 * thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xxhash.h>

#include "etcd_store.h"
#include "store_int.h"

static void opts_defaults(struct store_opts *o)
{
	if (!o->keep_versions)
		o->keep_versions = 8;
	if (!o->tombstone_limit)
		o->tombstone_limit = 1000000;
	if (!o->segment_size)
		o->segment_size = 64ull << 20;
	if (!o->inline_max)
		o->inline_max = 64ull << 10;
	if (!o->reserve_bytes)
		o->reserve_bytes = 8ull << 20;
	if (o->compact_ratio == 0)
		o->compact_ratio = 0.5;
	if (!o->gather_max_ns)
		o->gather_max_ns = 200000;
	if (!o->max_syncs || o->max_syncs > 2)
		o->max_syncs = 2;
	else if (o->max_syncs < 0)
		o->max_syncs = 1;
}

static int take_lock(struct store *st)
{
	struct stat sb;
	char buf[32];
	ssize_t n;

	/* Not through a symlink: the pid is written over what it names
	 * (a LOCK linked to another file truncated that file).
	 * O_NONBLOCK: a FIFO in its place waited for a writer for ever. */
	st->lockfd = openat(st->dirfd, "LOCK",
			    (st->o.read_only ? O_RDONLY : O_RDWR | O_CREAT) |
				    O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
			    0600);
	if (st->lockfd < 0 && errno == ENOENT && st->o.read_only)
		return 0; /* an empty store opened read-only */
	if (st->lockfd < 0 && errno == ELOOP) {
		store_err(st, "%s/LOCK: a symbolic link, not followed (remove "
			  "it, the next open makes one)", st->dir);
		return -ELOOP;
	}
	if (st->lockfd < 0) {
		store_err(st, "cannot open %s/LOCK: %s", st->dir,
			  strerror(errno));
		return -errno;
	}
	/* Read-only, it is only locked (a directory or FIFO can be). */
	if (!st->o.read_only && fstat(st->lockfd, &sb) == 0 &&
	    !S_ISREG(sb.st_mode)) {
		store_err(st, "%s/LOCK: not a regular file", st->dir);
		return -EINVAL;
	}
	if (!st->o.read_only)
		store_own(st, st->lockfd);
	int e = -log_lock_wait(st->lockfd);
	if (e) {
		log_lock_holder(st->lockfd, buf, sizeof(buf));
		if (e == EWOULDBLOCK)
			store_err(st, "store %s is in use by pid %s", st->dir,
				  buf[0] ? buf : "?");
		else
			store_err(st, "cannot lock %s: %s", st->dir,
				  strerror(e));
		return -e;
	}
	/* The pid (and the mount's note) is only a hint, for "in use by
	 * pid N" and recctl.  A LOCK with other names (a hard link the
	 * store's owner made to a file it can write, or a backup's) is
	 * that other file too: not written over, as a root daemon did. */
	st->lock_own = fstat(st->lockfd, &sb) == 0 && S_ISREG(sb.st_mode) &&
		       sb.st_nlink == 1;
	if (!st->o.read_only && st->lock_own) {
		n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		if (ftruncate(st->lockfd, 0) < 0 ||
		    pwrite(st->lockfd, buf, (size_t)n, 0) != n)
			return -errno;
	}
	return 0;
}

/* A kept version whose blob is lost, for store_salvage() to drop. */
static int lost_add(struct store *st, const char *key, uint64_t version,
		    uint64_t blob, int missing)
{
	struct lost_ver *nl = realloc(st->lost, (st->nlost + 1) * sizeof(*nl));

	if (!nl)
		return -ENOMEM;
	st->lost = nl;
	nl[st->nlost].key = strdup(key);
	if (!nl[st->nlost].key)
		return -ENOMEM;
	nl[st->nlost].version = version;
	nl[st->nlost].blob = blob;
	nl[st->nlost].missing = missing;
	st->nlost++;
	return 0;
}

/* Blobs: learn the next id, check the kept ones, drop the rest. */
static int check_blobs(struct store *st)
{
	DIR *d = io_opendir(st->blobfd);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		uint64_t id = strtoull(de->d_name, &end, 16);
		if (end != de->d_name + 16 || *end)
			continue;
		if (id >= st->next_blob)
			st->next_blob = id + 1;
	}
	closedir(d);
	/* Only a PUT with a blob makes a blob version: without one, there
	 * is no need to walk a million nodes. */
	for (size_t b = 0; st->blobs_seen && b < st->idx.cap && rc == 0; b++)
		for (struct node *n = st->idx.tab[b]; n && rc == 0;
		     n = n->hnext)
			for (uint32_t i = 0; i < n->nvers; i++) {
				struct stat sb;
				char name[BLOB_NAME_LEN];
				struct ver *v = &node_vers(n)[i];
				const char *what, *fix;
				int missing;
				if (!v->is_blob)
					continue;
				if (v->where >= st->next_blob)
					st->next_blob = v->where + 1;
				blob_name(name, v->where);
				/* A link is not followed (store.c reads
				 * none): lost, as a FIFO is. */
				missing = fstatat(st->blobfd, name, &sb,
						  AT_SYMLINK_NOFOLLOW) < 0;
				if (!missing && S_ISREG(sb.st_mode) &&
				    (uint64_t)sb.st_size == v->size)
					continue;
				if (st->salvage) { /* salvage names it */
					rc = lost_add(st, n->key, v->version,
						      v->where, missing);
					if (rc < 0)
						break;
					continue;
				}
				/* A longer one may only have grown (bytes
				 * appended): fsck --repair keeps its version
				 * when its first bytes are the version's. */
				fix = "lets go of such versions";
				if (!missing && S_ISREG(sb.st_mode) &&
				    (uint64_t)sb.st_size > v->size) {
					what = "longer than its version says";
					fix = "cuts it back if its first bytes "
					      "are the version's, else lets go "
					      "of the version";
				} else if (!missing && S_ISLNK(sb.st_mode)) {
					what = "a symbolic link (not followed)";
				} else {
					what = "missing or wrong size";
				}
				store_damage(st, STORE_DAMAGE_BLOBS,
					     "%s/blobs/%s: %s for %s version %"
					     PRIu64 " (recctl fsck --repair %s)",
					     st->dir, name, what, n->key,
					     v->version, fix);
				if (!st->o.read_only)
					rc = -EUCLEAN;
			}
	if (st->next_blob == 0)
		st->next_blob = 1;
	return rc;
}

static void clean_spool(struct store *st)
{
	DIR *d = io_opendir(st->spoolfd);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(st->spoolfd, de->d_name, 0);
	closedir(d);
}

/* A compaction or hint write that a crash interrupted. */
static void clean_leftovers(struct store *st)
{
	DIR *d = io_opendir(st->dirfd);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if ((l > 8 && strcmp(de->d_name + l - 8, ".compact") == 0) ||
		    (l > 4 && strcmp(de->d_name + l - 4, ".tmp") == 0))
			unlinkat(st->dirfd, de->d_name, 0);
	}
	closedir(d);
}

/* An existing directory opened must be a store (its LOCK or a segment is
 * there) or hold nothing (but lost+found, as a new ext4's root does):
 * a read-write open removes leftovers (*.tmp, *.compact, spool/'s
 * files), and a directory named by mistake ('recfs ~ /mnt', 'recctl
 * compact' of an unmounted mountpoint) lost its files that way and was
 * filled with a store.  @return 0, or -ENOTEMPTY after saying why. */
static int dir_is_store(struct store *st)
{
	DIR *d = io_opendir(st->dirfd);
	struct dirent *de;
	char other[256] = "";
	int rc = 0;

	if (!d) {
		rc = -errno;
		store_err(st, "cannot read %s: %s", st->dir, strerror(-rc));
		return rc;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (strcmp(de->d_name, "LOCK") == 0 ||
		    (l == 20 && strcmp(de->d_name + 16, ".seg") == 0)) {
			other[0] = '\0';
			break; /* a store */
		}
		if (!other[0] && strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, "lost+found") != 0)
			snprintf(other, sizeof(other), "%s", de->d_name);
	}
	if (other[0]) {
		store_err(st, "%s is not a store: it holds '%s' and no LOCK "
			  "or segment; name a new or empty directory",
			  st->dir, other);
		rc = -ENOTEMPTY;
	}
	closedir(d);
	return rc;
}

static void *compactor_main(void *arg);

/* Make @dir's own name durable in its parent.  A parent the daemon may
 * search but not read (mode --x) cannot be opened to sync: the store
 * is still made, as it was before this sync existed. */
static int sync_parent(struct store *st, const char *dir)
{
	char *copy = strdup(dir);
	int fd, rc = -ENOMEM;

	if (!copy)
		return rc;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		rc = errno == EACCES || errno == EPERM ? 0 : -errno;
	else
		rc = io_sync(st, fd) < 0 ? -EIO : 0;
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

/* nofollow: a symlink is refused (ENOTDIR); the spool's files are all
 * removed at the open, and a spool linked elsewhere emptied that
 * directory; compaction removes the files in blobs/ that look like
 * blobs no version names, and a blobs/ linked elsewhere lost those. */
static int open_subdir(struct store *st, const char *name, int nofollow,
		       int *fd)
{
	if (!st->o.read_only && mkdirat(st->dirfd, name, 0700) == 0)
		store_own_at(st, st->dirfd, name);
	*fd = openat(st->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
					      (nofollow ? O_NOFOLLOW : 0));
	if (*fd < 0 && !(st->o.read_only && errno == ENOENT))
		return -errno;
	return 0;
}

static int make_root(struct store *st)
{
	struct store_meta m = { .mode = S_IFDIR | 0755 };
	int rc = idx_add(&st->idx, "", 0, &st->root);

	if (rc < 0)
		return rc;
	if (!node_ext(st->root)) /* a directory's children are there */
		return -ENOMEM;
	st->root->kind = K_DIR;
	m.uid = getuid();
	m.gid = getgid();
	m.atime_ns = m.mtime_ns = m.ctime_ns = store_now_ns();
	return node_set_meta(&st->idx, st->root, &m);
}

static void reset_index(struct store *st)
{
	for (size_t i = 0; i < st->nsegs; i++)
		close(st->segs[i].fd);
	free(st->segs);
	st->segs = NULL;
	st->nsegs = 0;
	idx_free(&st->idx);
	st->floor = st->ntomb = st->live_bytes = st->log_bytes = 0;
	st->dead_blob_bytes = 0;
}

int store_open(const char *dir, const struct store_opts *opts,
	       struct store **out)
{
	return store_open_ex(dir, opts, 0, out);
}

int store_open_ex(const char *dir, const struct store_opts *opts,
		  int salvage, struct store **out)
{
	struct store *st = calloc(1, sizeof(*st));
	struct stat sb;
	int rc, created = 0, blobs_err = -ENOENT, blobs_link = 0;

	if (!st)
		return -ENOMEM;
	st->salvage = salvage;
	if (es_is_url(dir)) {
		rc = es_open(dir, opts, &st->es);
		if (rc < 0) {
			free(st);
			return rc;
		}
		*out = st;
		return 0;
	}
	if (opts)
		st->o = *opts;
	opts_defaults(&st->o);
	st->dirfd = st->lockfd = st->blobfd = st->spoolfd = -1;
	st->act_sfd[0] = st->act_sfd[1] = -1;
	store_mutex_init(&st->commit_mu);
	pthread_rwlock_init(&st->idx_lock, NULL);
	pthread_mutex_init(&st->sync_mu, NULL);
	pthread_cond_init(&st->sync_cv, NULL);
	{
		/* gather()'s deadline is CLOCK_MONOTONIC: a clock step
		 * must not stretch a wait of microseconds. */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&st->gather_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_mutex_init(&st->compact_mu, NULL);
	pthread_mutex_init(&st->bg_mu, NULL);
	pthread_mutex_init(&st->blob_mu, NULL);
	pthread_mutex_init(&st->blob_sync_mu, NULL);
	pthread_mutex_init(&st->reserve_mu, NULL);
	pthread_cond_init(&st->bg_cv, NULL);
	st->dir = strdup(dir);
	if (!st->dir) {
		rc = -ENOMEM;
		goto fail;
	}
	if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
		store_err(st, "%s is not a directory", dir);
		rc = -ENOTDIR;
		goto fail;
	}
	if (!st->o.read_only && mkdir(dir, 0700) < 0) {
		if (errno != EEXIST) {
			rc = -errno;
			store_err(st, "cannot create %s: %s", dir,
				  strerror(errno));
			goto fail;
		}
	} else if (!st->o.read_only) {
		created = 1;
	}
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		rc = -errno;
		store_err(st, "cannot open %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (geteuid() == 0 && fstat(st->dirfd, &sb) == 0 && sb.st_uid != 0) {
		st->own = 1;
		st->own_uid = sb.st_uid;
		st->own_gid = sb.st_gid;
	}
	/* Read-only too: removing nothing, it served such a directory as
	 * an empty store ('recfs ~ /mnt -o ro' mounted, showing nothing),
	 * where a read-write mount says what is wrong. */
	if (!created && (rc = dir_is_store(st)) < 0)
		goto fail;
	rc = take_lock(st);
	if (rc < 0)
		goto fail;
	rc = open_subdir(st, "blobs", 1, &st->blobfd);
	blobs_link = rc < 0 && store_is_link(st->dirfd, "blobs");
	/* Read-only, what is in the log is served without it (a file in
	 * its place, no permission): the versions kept in blobs read EIO,
	 * said once after the replay.  Until 2026-12-07 '-o ro' was refused
	 * here, though the refusal's message offered it. */
	if (rc < 0 && st->o.read_only) {
		blobs_err = rc;
		rc = 0;
	}
	if (rc < 0) {
		if (blobs_link)
			store_err(st, "%s: blobs/ is a symbolic link, not "
				  "followed (compaction removes files there): "
				  "put the directory itself there", dir);
		else
			store_err(st, "%s: cannot open blobs/: %s", dir,
				  strerror(-rc));
		goto fail;
	}
	/* Only changes are staged there: a read-only open that cannot
	 * open it (a file, no permission) serves the store without. */
	rc = open_subdir(st, "spool", 1, &st->spoolfd);
	if (rc < 0 && st->o.read_only)
		rc = 0;
	if (rc < 0) {
		/* (O_NOFOLLOW with O_DIRECTORY gives ENOTDIR for a link,
		 * which read as if a file were there.) */
		if (store_is_link(st->dirfd, "spool"))
			store_err(st, "%s: cannot open spool/: a symbolic link, "
				  "not followed (an open removes the files "
				  "there)", dir);
		else
			store_err(st, "%s: cannot open spool/: %s", dir,
				  strerror(-rc));
		goto fail;
	}
	/* A blob is staged in spool/ and linked into blobs/, which cannot
	 * cross mounts (blobs/ a link to another disk, a mount or a bind
	 * mount there): every commit of a record kept in a blob failed
	 * with EXDEV at the close, which shells ignore.  Refused here,
	 * saying why. */
	if (!st->o.read_only) {
		struct statx bs, ss;
		const unsigned want = STATX_MNT_ID;

		/* Where statx is refused (a seccomp filter older than it
		 * says EPERM), fstat's st_dev still tells another
		 * filesystem, if not another mount of the same one: such a
		 * store was mounted before, and fsck calls it clean. */
		if (statx(st->blobfd, "", AT_EMPTY_PATH, want, &bs) < 0 ||
		    statx(st->spoolfd, "", AT_EMPTY_PATH, want, &ss) < 0) {
			struct stat b, s;

			if (fstat(st->blobfd, &b) < 0 ||
			    fstat(st->spoolfd, &s) < 0) {
				rc = -errno;
				store_err(st, "%s: blobs/, spool/: %s", dir,
					  strerror(errno));
				goto fail;
			}
			bs.stx_mask = ss.stx_mask = 0;
			bs.stx_dev_major = major(b.st_dev);
			bs.stx_dev_minor = minor(b.st_dev);
			ss.stx_dev_major = major(s.st_dev);
			ss.stx_dev_minor = minor(s.st_dev);
		}
		if (bs.stx_dev_major != ss.stx_dev_major ||
		    bs.stx_dev_minor != ss.stx_dev_minor ||
		    (bs.stx_mask & ss.stx_mask & STATX_MNT_ID &&
		     bs.stx_mnt_id != ss.stx_mnt_id)) {
			rc = -EXDEV;
			store_err(st, "%s: blobs/ and spool/ are on different "
				  "filesystems or mounts (a blob is made in "
				  "spool/ and linked into blobs/): put them on "
				  "one", dir);
			goto fail;
		}
	}
	if (st->spoolfd >= 0 && !st->o.read_only) {
		clean_spool(st);
		clean_leftovers(st);
	}
	rc = idx_init(&st->idx);
	if (rc == 0)
		rc = make_root(st);
	if (rc == 0)
		rc = store_replay(st);
	if (rc < 0)
		goto fail;
	idx_fit(&st->idx);
	if (st->blobfd >= 0) {
		rc = check_blobs(st);
		if (rc < 0)
			goto fail;
	} else {
		st->next_blob = 1;
		/* Read-only without blobs/ (gone, or not openable): its
		 * versions were dropped without a word (a read gave EIO). */
		if (st->blobs_seen)
			store_damage(st, STORE_DAMAGE_BLOBS,
				     "%s/blobs/: %s: the versions kept "
				     "in blobs read EIO", dir,
				     blobs_link ? "a symbolic link, not followed"
						: strerror(-blobs_err));
	}
	if (!st->o.read_only) {
		/* Without room for the reserve every change that takes
		 * space is refused (store_space_ok), though megabytes may be
		 * free: say so once, not only ENOSPC at each write. */
		int e = store_reserve(st, 1);
		if (e == -ENOSPC || e == -EDQUOT)
			fprintf(stderr, "recfs: store %s: no room for the "
				"reserve (%" PRIu64 " bytes, kept for deletes "
				"and compaction): writes get ENOSPC until "
				"there is\n", dir, st->o.reserve_bytes);
		else if (e < 0)
			fprintf(stderr, "recfs: store %s: cannot make the "
				"reserve %s/RESERVE: %s; writes get ENOSPC "
				"until it can be\n", dir, dir,
				e == -ELOOP ? "a symbolic link, not followed "
					      "(remove it)"
					    : strerror(-e));
		pthread_mutex_lock(&st->commit_mu);
		rc = store_roll(st);
		pthread_mutex_unlock(&st->commit_mu);
		if (rc < 0) {
			store_err(st, "%s: cannot start a segment: %s", dir,
				  strerror(-rc));
			goto fail;
		}
		st->synced_lsn = st->lsn;
		/* Names first: a commit promised durable later must not sit
		 * in a segment (or a store) that a power loss unnames.  The
		 * roll's segment, blobs/ and spool/ are in the store's
		 * directory; a new store's directory is in its parent. */
		if (io_sync(st, st->dirfd) < 0 ||
		    (created && sync_parent(st, dir) < 0)) {
			rc = -EIO;
			store_err(st, "%s: cannot sync the store's directory",
				  dir);
			goto fail;
		}
		/* A thread alive across a fork can leave a lock (malloc's,
		 * a sanitizer's) held in the child: a daemon that forks
		 * asks for it later. */
		if (st->o.compact_ratio > 0 && !st->o.defer_background &&
		    pthread_create(&st->compactor, NULL, compactor_main,
				   st) == 0)
			st->bg_started = 1;
	}
	*out = st;
	return 0;
fail:
	store_close(st);
	return rc;
}

int store_close(struct store *st)
{
	int rc = 0;

	if (!st)
		return 0;
	if (st->es) {
		rc = es_close(st->es);
		free(st);
		return rc;
	}
	if (st->bg_started) {
		pthread_mutex_lock(&st->bg_mu);
		st->bg_stop = 1;
		pthread_cond_signal(&st->bg_cv);
		pthread_mutex_unlock(&st->bg_mu);
		pthread_join(st->compactor, NULL);
	}
	if (!st->o.read_only && st->nsegs && !store_failed(st)) {
		struct seg *a = &st->segs[st->nsegs - 1];
		if (store_sync(st) < 0) /* blobs first, then the log */
			rc = -EIO;
		if (io_ftruncate(st, a->fd, (off_t)a->size) == 0)
			store_write_active_hint(st, rc == 0);
	}
	reset_index(st);
	free(st->batch_buf);
	free(st->hint);
	if (st->seg_hash)
		XXH3_freeState(st->seg_hash);
	if (st->blobfd >= 0)
		close(st->blobfd);
	if (st->spoolfd >= 0)
		close(st->spoolfd);
	if (st->lockfd >= 0)
		close(st->lockfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	for (int i = 0; i < 2; i++)
		if (st->act_sfd[i] >= 0)
			close(st->act_sfd[i]);
	pthread_mutex_destroy(&st->commit_mu);
	pthread_rwlock_destroy(&st->idx_lock);
	pthread_mutex_destroy(&st->sync_mu);
	pthread_cond_destroy(&st->sync_cv);
	pthread_cond_destroy(&st->gather_cv);
	pthread_mutex_destroy(&st->compact_mu);
	pthread_mutex_destroy(&st->bg_mu);
	pthread_mutex_destroy(&st->blob_mu);
	pthread_mutex_destroy(&st->reserve_mu);
	pthread_mutex_destroy(&st->blob_sync_mu);
	free(st->blob_busy);
	pthread_cond_destroy(&st->bg_cv);
	for (size_t i = 0; i < st->nlost; i++)
		free(st->lost[i].key);
	free(st->lost);
	free(st->dir);
	free(st);
	return rc;
}

/* ---- Background compaction ------------------------------------------ */

/* Tombstones past tombstone_limit that start a compaction by themselves:
 * at least this many, or a quarter of the limit (store_kick_compactor). */
#define TOMB_SLACK_MIN 1024

void store_kick_compactor(struct store *st)
{
	uint64_t dead, total;

	if (!st->bg_started)
		return;
	/* Called after a commit, outside commit_mu: relaxed reads. */
	uint64_t log = __atomic_load_n(&st->log_bytes, __ATOMIC_RELAXED);
	uint64_t live = __atomic_load_n(&st->live_bytes, __ATOMIC_RELAXED);
	uint64_t dblob = __atomic_load_n(&st->dead_blob_bytes,
					 __ATOMIC_RELAXED);
	uint64_t ntomb = __atomic_load_n(&st->ntomb, __ATOMIC_RELAXED);
	uint64_t limit = st->o.tombstone_limit;
	total = log + dblob;
	dead = (log > live ? log - live : 0) + dblob;
	/* A deleted record's versions and tombstone are live bytes, so
	 * records made and deleted under new names (temporary files) leave
	 * no dead bytes, yet only compaction forgets tombstones past the
	 * limit: without this rule they (and their versions) grew without
	 * end, in memory and in the log.  The slack makes each compaction
	 * wait for that many deletes rather than run at each one. */
	uint64_t slack = limit / 4 > TOMB_SLACK_MIN ? limit / 4 : TOMB_SLACK_MIN;
	if (total < (4u << 20) ||
	    ((double)dead < st->o.compact_ratio * total &&
	     ntomb <= limit + slack))
		return;
	pthread_mutex_lock(&st->bg_mu);
	st->bg_want = 1;
	pthread_cond_signal(&st->bg_cv);
	pthread_mutex_unlock(&st->bg_mu);
}

static void *compactor_main(void *arg)
{
	struct store *st = arg;

	pthread_mutex_lock(&st->bg_mu);
	while (!st->bg_stop) {
		if (!st->bg_want) {
			pthread_cond_wait(&st->bg_cv, &st->bg_mu);
			continue;
		}
		st->bg_want = 0;
		pthread_mutex_unlock(&st->bg_mu);
		int rc = store_compact(st);
		if (rc < 0 && rc != -EROFS)
			fprintf(stderr, "recfs: store %s: compaction: %s\n",
				st->dir, strerror(-rc));
		pthread_mutex_lock(&st->bg_mu);
	}
	pthread_mutex_unlock(&st->bg_mu);
	return NULL;
}

int store_after_fork(struct store *st)
{
	if (st->es)
		return es_after_fork(st->es);
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (st->lockfd < 0 || st->o.read_only)
		return 0;
	if (!st->bg_started && st->o.compact_ratio > 0)
		st->bg_started = pthread_create(&st->compactor, NULL,
						compactor_main, st) == 0;
	if (!st->lock_own)
		return 0;
	if (ftruncate(st->lockfd, 0) < 0 ||
	    pwrite(st->lockfd, buf, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

int store_lock_note(struct store *st, const char *note)
{
	char buf[4096 + 32];
	int n;

	if (strchr(note, '\n'))
		return -EINVAL;
	if (st->es || st->lockfd < 0 || st->o.read_only || !st->lock_own)
		return 0;
	n = snprintf(buf, sizeof(buf), "%d\n%s\n", (int)getpid(), note);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	/* The pid line is written over by the same bytes: a reader sees
	 * the pid throughout. */
	if (pwrite(st->lockfd, buf, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

int store_lock_read(const char *dir, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, rc = 0;

	if (len == 0)
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/LOCK", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* O_NONBLOCK: a FIFO in its place waited for a writer for ever. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, len - 1, 0);
	if (n < 0)
		rc = -errno;
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return rc;
}

/* dir.c - directories: access, opendir (a listing taken at once, kept
 * by the handle, and taken again at a rewind), readdir, releasedir and
 * fsyncdir. */
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

struct dirh {
	char **names;
	uint32_t *modes;
	fuse_ino_t *inos; /* the inode's number where we have one */
	size_t n;
	int read;	/* a readdir has been answered: offset 0 is a rewind */
};

/* ---- Directories ----------------------------------------------------- */

/* access(2) and chdir(2); sent only without default_permissions. */
void rfs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct rfs *fs = FS(req);
	struct rfs_inode *in;
	int rc;

	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	rc = !in ? -ENOENT : mask == F_OK ? 0 : rfs_may(req, fs, in, mask);
	pthread_mutex_unlock(&fs->mu);
	fuse_reply_err(req, -rc);
}

/* Free @d's listing, leaving it empty. */
static void dirh_clear(struct dirh *d)
{
	for (size_t i = 0; d->names && i < d->n; i++)
		free(d->names[i]);
	free(d->names);
	free(d->modes);
	free(d->inos);
	d->names = NULL;
	d->modes = NULL;
	d->inos = NULL;
	d->n = 0;
}

/* The inode number readdir gives the entry @name of directory @dir
 * (@dl bytes of key): the number stat(2) gives, where the entry has an
 * inode (find -inum, and tools that match d_ino against st_ino, found
 * none before 2026-12-07).  A name the kernel has not looked up has no
 * number yet; it gets one at its lookup, so give it the unknown one,
 * 0xffffffff, which fits a 32-bit d_ino (with (ino_t)-1 a 32-bit
 * program's getdents failed with EOVERFLOW, as libfuse's high-level API
 * knows).  Caller holds fs->mu. */
static fuse_ino_t dirent_ino(struct rfs *fs, const char *dir, size_t dl,
			     const char *name)
{
	char key[RFS_KEY_BUF];
	size_t nl = strlen(name);
	struct rfs_inode *x;

	if (dl + 1 + nl >= sizeof(key))
		return 0xffffffffu;
	if (dl) { /* (the root's key is "") */
		memcpy(key, dir, dl);
		key[dl++] = '/';
	}
	memcpy(key + dl, name, nl + 1);
	x = rfs_ino_by_key(fs, key);
	return x && !x->deleted ? x->ino : 0xffffffffu;
}

/* Take directory @ino's listing into @d (empty).  Caller holds fs->mu.
 * @return 0 or a negative errno (then @d holds what it got: clear it). */
static int dirh_fill(fuse_req_t req, struct rfs *fs, struct rfs_inode *in,
		     struct dirh *d)
{
	struct store_dirent *ents = NULL;
	size_t n = 0, extra = 0, klen;
	char key[RFS_KEY_BUF];
	int rc, pending;

	if (in && in->hist) { /* (no inos: every number unknown) */
		struct perm_who w;

		rfs_who(req, &w);
		return hist_list(fs, in, &w, &d->names, &d->modes, &d->n);
	}
	/* A directory removed under a process working in it lists
	 * nothing, as on a local filesystem: `ls` there failed (ENOENT). */
	if (in && in->deleted && S_ISDIR(in->pmeta.mode))
		return 0;
	rc = rfs_ino_key_copy(in, key, &pending);
	if (rc == 0)
		rc = store_list(fs->st, key, &ents, &n);
	if (rc < 0)
		return rc;
	/* Creates not yet committed are entries too. */
	klen = strlen(key);
	for (struct rfs_inode *x = fs->pend; x; x = x->pend_next)
		if (!x->deleted)
			extra++;
	d->names = calloc(n + extra + 2, sizeof(*d->names));
	d->modes = calloc(n + extra + 2, sizeof(*d->modes));
	d->inos = calloc(n + extra + 2, sizeof(*d->inos));
	if (!d->names || !d->modes || !d->inos) {
		rc = -ENOMEM;
		goto out;
	}
	d->names[0] = strdup(".");
	d->names[1] = strdup("..");
	d->modes[0] = d->modes[1] = S_IFDIR;
	d->inos[0] = in->ino;
	d->inos[1] = 0xffffffffu; /* (the kernel's own ".." is the truth) */
	d->n = 2;
	for (size_t i = 0; i < n; i++) {
		d->names[d->n] = strdup(ents[i].name);
		d->inos[d->n] = dirent_ino(fs, key, klen, ents[i].name);
		d->modes[d->n++] = ents[i].mode;
	}
	for (struct rfs_inode *x = fs->pend; x; x = x->pend_next) {
		const char *s = strrchr(x->key, '/');
		size_t pl = s ? (size_t)(s - x->key) : 0;
		if (x->deleted || pl != klen ||
		    strncmp(x->key, key, klen) != 0)
			continue;
		d->names[d->n] = strdup(s ? s + 1 : x->key);
		d->inos[d->n] = x->ino;
		d->modes[d->n++] = x->pmeta.mode;
	}
out:
	store_list_free(ents, n);
	return rc;
}

void rfs_opendir(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct rfs *fs = FS(req);
	struct rfs_inode *in;
	struct dirh *d = calloc(1, sizeof(*d));
	int rc = -ENOENT;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->mu);
	in = rfs_ino(fs, ino);
	if (in)
		rc = rfs_may(req, fs, in, rfs_open_mask(fi->flags));
	if (rc == 0)
		rc = dirh_fill(req, fs, in, d);
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0) {
		dirh_clear(d);
		free(d);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)d;
	fuse_reply_open(req, fi);
}

void rfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	struct rfs *fs = FS(req);
	char *buf = malloc(size);
	size_t pos = 0;
	int rc = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Offset 0 again on a handle already read is rewinddir(3), which
	 * must show the directory as it is now (POSIX), as a new opendir
	 * would: the listing taken at opendir showed removed names and
	 * none made since. */
	if (off == 0 && d->read) {
		struct dirh fresh = { 0 };
		pthread_mutex_lock(&fs->mu);
		rc = dirh_fill(req, fs, rfs_ino(fs, ino), &fresh);
		pthread_mutex_unlock(&fs->mu);
		if (rc < 0) {
			dirh_clear(&fresh);
			free(buf);
			fuse_reply_err(req, -rc);
			return;
		}
		dirh_clear(d);
		*d = fresh;
	}
	d->read = 1;
	for (size_t i = (size_t)off; i < d->n; i++) {
		struct stat st = { .st_ino = d->inos ? d->inos[i]
						     : 0xffffffffu,
				   .st_mode = d->modes[i] };
		size_t need;
		if (!d->names[i])
			continue;
		need = fuse_add_direntry(req, buf + pos, size - pos,
					 d->names[i], &st, (off_t)(i + 1));
		if (need > size - pos)
			break;
		pos += need;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

void rfs_releasedir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;

	(void)ino;
	dirh_clear(d);
	free(d);
	fuse_reply_err(req, 0);
}

/* A directory's entries are in the log, with everything else: syncing
 * it makes every committed create, rename and unlink durable (what a
 * program that renames into place, then fsyncs the directory, relies
 * on).  Left unimplemented, the kernel would answer every later
 * directory fsync with success and nothing synced. */
void rfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -store_sync(FS(req)->st));
}

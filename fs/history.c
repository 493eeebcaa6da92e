/* history.c - the read-only `.recfs/history/KEY/N` tree at the mount root:
 * every kept version of every record, readable as a file.
 *
 * Its inodes live in the ordinary inode table under synthetic keys that
 * no record can have (they start with \x01), so lookups, forgets and
 * inode numbers work as for any inode:
 *   \x01R          .recfs
 *   \x01D:P        .recfs/history/P   (a directory P of the store)
 *   \x01K:K        .recfs/history/K   (record K: its versions inside)
 *   \x01V:K@N      .recfs/history/K/N (version N of record K)
 * The tree is not listed in the root directory (like a .snapshot
 * directory); it is reached by name. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "history.h"
#include "ops.h"

#define RESERVED ".recfs"

int hist_reserved(const struct rfs_inode *parent, const char *name)
{
	if (parent->hist)
		return -EROFS;
	if (parent->ino == FUSE_ROOT_ID && strcmp(name, RESERVED) == 0)
		return -EROFS;
	/* The synthetic keys begin with \x01: a record named so at the
	 * root would share their inodes (until 2026-12-06 a file named
	 * $'\x01R' became the .recfs directory). */
	if (parent->ino == FUSE_ROOT_ID && name[0] == '\x01')
		return -EINVAL;
	return 0;
}

/* A synthetic key: tag, then the record or directory key, then @N. */
static char *syn_key(char tag, const char *key, uint64_t n)
{
	size_t kl = key ? strlen(key) : 0;
	char *s = malloc(kl + 32);

	if (!s)
		return NULL;
	if (tag == 'R')
		snprintf(s, kl + 32, "\x01R");
	else if (tag == 'V')
		snprintf(s, kl + 32, "\x01V:%s@%" PRIu64, key, n);
	else
		snprintf(s, kl + 32, "\x01%c:%s", tag, key);
	return s;
}

static struct rfs_inode *syn_inode(struct rfs *fs, char tag, int kind,
				   const char *key, uint64_t n)
{
	char *sk = syn_key(tag, key, n);
	struct rfs_inode *in = sk ? rfs_ino_make(fs, sk) : NULL;

	free(sk);
	if (in) {
		in->hist = kind;
		in->hver = n;
	}
	return in;
}

/* The store key a synthetic inode stands for (into buf). */
const char *hist_key(const struct rfs_inode *in, char *buf, size_t len)
{
	const char *k = in->key + 3;

	if (in->hist == HIST_ROOT)
		return "";
	snprintf(buf, len, "%s", k);
	if (in->hist == HIST_VER) {
		char *at = strrchr(buf, '@');
		if (at)
			*at = 0;
	}
	return buf;
}

static int has_version(struct rfs *fs, const char *key, uint64_t v,
		       struct store_hist *out)
{
	struct store_hist *h;
	size_t n;
	int rc = store_history(fs->st, key, &h, &n);

	if (rc < 0)
		return rc;
	rc = -ENOENT;
	for (size_t i = 0; i < n; i++)
		if (h[i].version == v) {
			if (out)
				*out = h[i];
			rc = 0;
		}
	free(h);
	return rc;
}

/* Deleted records keep their history too.  @return 1 it has one, 0
 * none, -errno: one that could not be read (etcd out of reach) is not
 * "no such name", which a script takes for no versions (until
 * 2026-12-07 it was ENOENT). */
static int has_history(struct rfs *fs, const char *key)
{
	struct store_hist *h;
	size_t n;
	int rc = store_history(fs->st, key, &h, &n);

	if (rc < 0)
		return rc == -ENOENT || rc == -EINVAL ? 0 : rc;
	free(h);
	return n > 0;
}

static char *join_key(const char *p, const char *name)
{
	size_t pl = strlen(p), nl = strlen(name);
	char *k = malloc(pl + nl + 2);

	if (!k)
		return NULL;
	if (pl)
		snprintf(k, pl + nl + 2, "%s/%s", p, name);
	else
		memcpy(k, name, nl + 1);
	return k;
}

/* May @w read version @h?  As hist_attr shows it: the owner and mode of
 * the record it belonged to.  One it may not read is not listed to it
 * nor found by name, so that its number, time and size stay with its
 * owner as its content does: until 2026-12-07 bob, who made the name of
 * alice's deleted 0600 record again, saw hers in `ls -l` and `recctl
 * log` (all but the hash).  @return 1 or 0. */
static int may_see(struct perm_who *w, const struct store_hist *h)
{
	return perm_may(w, h->mode, h->uid, h->gid, PERM_R) == 0;
}

int hist_lookup(struct rfs *fs, struct rfs_inode *parent, const char *name,
		struct perm_who *w, struct rfs_inode **out)
{
	char kb[STORE_KEY_MAX + 32];
	struct store_hist h;
	struct store_stat sb;
	struct rfs_inode *in = NULL;
	char *k = NULL;
	int rc = 0;

	switch (parent->hist) {
	case 0: /* the root: .recfs */
		in = syn_inode(fs, 'R', HIST_ROOT, NULL, 0);
		break;
	case HIST_ROOT:
		if (strcmp(name, "history") != 0)
			return -ENOENT;
		in = syn_inode(fs, 'D', HIST_DIR, "", 0);
		break;
	case HIST_DIR:
		k = join_key(hist_key(parent, kb, sizeof(kb)), name);
		if (!k)
			return -ENOMEM;
		if (strlen(name) > STORE_NAME_MAX || strlen(k) > STORE_KEY_MAX)
			rc = -ENAMETOOLONG;
		else if (store_stat(fs->st, k, &sb) == 0 &&
			 S_ISDIR(sb.meta.mode))
			in = syn_inode(fs, 'D', HIST_DIR, k, 0);
		else if ((rc = has_history(fs, k)) > 0)
			in = syn_inode(fs, 'K', HIST_KEY, k, 0);
		else if (rc < 0)
			; /* rc says why */
		else if (store_history_below(fs->st, k))
			/* a directory removed or renamed away: its deleted
			 * records' histories are still reached by name */
			in = syn_inode(fs, 'D', HIST_DIR, k, 0);
		else
			rc = -ENOENT;
		break;
	case HIST_KEY: {
		char *end;
		uint64_t v = strtoull(name, &end, 10);
		if (!*name || *end || name[0] == '0')
			return -ENOENT;
		rc = has_version(fs, hist_key(parent, kb, sizeof(kb)), v, &h);
		if (rc == 0 && !may_see(w, &h))
			rc = -ENOENT;
		if (rc == 0)
			in = syn_inode(fs, 'V', HIST_VER,
				       hist_key(parent, kb, sizeof(kb)), v);
		break;
	}
	default:
		rc = -ENOTDIR;
	}
	free(k);
	if (rc < 0)
		return rc;
	if (!in)
		return -ENOMEM;
	*out = in;
	return 0;
}

/* Show owner @uid:@gid and the read bits of @mode on @a: read only; a
 * directory of versions searchable where readable. */
static void show_owner(struct stat *a, uint32_t mode, uint32_t uid,
		       uint32_t gid)
{
	a->st_uid = uid;
	a->st_gid = gid;
	a->st_mode = (a->st_mode & S_IFMT) | (mode & 0444);
	if (S_ISDIR(a->st_mode))
		a->st_mode |= S_ISDIR(mode) ? mode & 0111 : (mode & 0444) >> 2;
}

/* Show the times of directory meta @m on @a. */
static void show_dir_times(struct stat *a, const struct store_meta *m)
{
	rfs_ts_of(m->atime_ns, &a->st_atim);
	rfs_ts_of(m->mtime_ns, &a->st_mtim);
	rfs_ts_of(m->ctime_ns, &a->st_ctim);
}

/* The owner, read bits and times @key's history shows: those of the
 * directory it is, or of the record it is with the time of its newest
 * version (a deleted record's newest kept one), when its list of
 * versions last grew.  None known (a directory removed or renamed
 * away): its owner's only, and the mount root's times.  Before
 * 2026-12-06 every node showed 0555 or 0444 and the daemon's owner, so
 * another user read through the history what the record's own mode
 * kept from them.  Times are never the clock's: until 2026-12-07 each
 * stat gave the time it was made, and tar, which compares a directory's
 * times before and after reading it, said "file changed as we read it"
 * and exited 1 for any history it archived.  A version shows its own
 * (hist_attr). */
static void hist_owner(struct rfs *fs, const char *key, struct stat *a)
{
	struct store_stat sb;
	struct store_hist *h;
	size_t n;

	if (store_stat(fs->st, key, &sb) == 0) {
		show_owner(a, sb.meta.mode, sb.meta.uid, sb.meta.gid);
		if (S_ISDIR(sb.meta.mode)) {
			show_dir_times(a, &sb.meta);
		} else {
			rfs_ts_of(sb.commit_ns, &a->st_mtim);
			a->st_atim = a->st_ctim = a->st_mtim;
		}
		return;
	}
	if (store_history(fs->st, key, &h, &n) == 0) {
		if (n) {
			show_owner(a, h[n - 1].mode, h[n - 1].uid,
				   h[n - 1].gid);
			rfs_ts_of(h[n - 1].commit_ns, &a->st_mtim);
			a->st_atim = a->st_ctim = a->st_mtim;
		}
		free(h);
		if (n)
			return;
	}
	a->st_mode = (a->st_mode & S_IFMT) | 0500;
	if (store_stat(fs->st, "", &sb) == 0)
		show_dir_times(a, &sb.meta);
}

int hist_attr(struct rfs *fs, struct rfs_inode *in, struct stat *a)
{
	char kb[STORE_KEY_MAX + 32];
	struct store_stat sb;
	struct store_hist h;
	int rc;

	memset(a, 0, sizeof(*a));
	a->st_ino = in->ino;
	a->st_uid = fs->root_uid;
	a->st_gid = fs->root_gid;
	a->st_blksize = 4096;
	if (in->hist != HIST_VER) {
		a->st_mode = S_IFDIR | 0555;
		a->st_nlink = 2;
		/* The root's too (.recfs/history): with 0555 there another
		 * user listed the names of a root it could not list. */
		if (in->hist == HIST_KEY || in->hist == HIST_DIR)
			hist_owner(fs, hist_key(in, kb, sizeof(kb)), a);
		else if (store_stat(fs->st, "", &sb) == 0) /* .recfs */
			show_dir_times(a, &sb.meta);
		return 0;
	}
	rc = has_version(fs, hist_key(in, kb, sizeof(kb)), in->hver, &h);
	if (rc < 0)
		return rc;
	/* The owner and mode it was written under (up to its record's
	 * end), not those of whoever holds the name now: until 2026-12-07
	 * a record made again of a deleted one's name showed its maker the
	 * deleted record's versions (store.h, struct store_hist). */
	a->st_mode = S_IFREG;
	show_owner(a, h.mode, h.uid, h.gid);
	a->st_nlink = 1;
	a->st_size = (off_t)h.size;
	a->st_blocks = (blkcnt_t)((h.size + 511) / 512);
	a->st_mtim.tv_sec = a->st_ctim.tv_sec = a->st_atim.tv_sec =
		(time_t)(h.commit_ns / 1000000000);
	a->st_mtim.tv_nsec = a->st_ctim.tv_nsec = a->st_atim.tv_nsec =
		(long)(h.commit_ns % 1000000000);
	return 0;
}

int hist_list(struct rfs *fs, struct rfs_inode *in, struct perm_who *w,
	      char ***names, uint32_t **modes, size_t *n)
{
	char kb[STORE_KEY_MAX + 32];
	struct store_dirent *ents = NULL;
	struct store_hist *h = NULL;
	size_t cnt = 0;
	int rc = 0;

	*n = 0;
	*names = NULL;
	*modes = NULL;
	if (in->hist == HIST_ROOT) {
		cnt = 1;
	} else if (in->hist == HIST_DIR) {
		rc = store_list(fs->st, hist_key(in, kb, sizeof(kb)), &ents,
				&cnt);
		/* A directory that is gone lists nothing: its deleted
		 * records are reached by name, as everywhere here. */
		if (rc == -ENOENT) {
			rc = 0;
			ents = NULL;
			cnt = 0;
		}
	} else if (in->hist == HIST_KEY) {
		rc = store_history(fs->st, hist_key(in, kb, sizeof(kb)), &h,
				   &cnt);
	} else {
		return -ENOTDIR;
	}
	if (rc < 0)
		return rc;
	*names = calloc(cnt + 2, sizeof(**names));
	*modes = calloc(cnt + 2, sizeof(**modes));
	if (!*names || !*modes) {
		rc = -ENOMEM;
		goto out;
	}
	(*names)[0] = strdup(".");
	(*names)[1] = strdup("..");
	(*modes)[0] = (*modes)[1] = S_IFDIR;
	*n = 2;
	for (size_t i = 0; i < cnt; i++) {
		char num[24];
		if (in->hist == HIST_ROOT) {
			(*names)[*n] = strdup("history");
			(*modes)[*n] = S_IFDIR;
		} else if (in->hist == HIST_DIR) {
			(*names)[*n] = strdup(ents[i].name);
			(*modes)[*n] = S_IFDIR; /* a record is a dir of versions */
		} else {
			if (!may_see(w, &h[i]))
				continue;
			snprintf(num, sizeof(num), "%" PRIu64, h[i].version);
			(*names)[*n] = strdup(num);
			(*modes)[*n] = S_IFREG;
		}
		(*n)++;
	}
out:
	store_list_free(ents, in->hist == HIST_DIR ? cnt : 0);
	free(h);
	return rc;
}

int hist_snap(struct rfs *fs, struct rfs_inode *in, struct store_snap **s)
{
	char kb[STORE_KEY_MAX + 32];

	if (in->hist != HIST_VER)
		return -EISDIR;
	return store_snap_open(fs->st, hist_key(in, kb, sizeof(kb)), in->hver,
			       s);
}

int hist_getxattr(struct rfs *fs, struct rfs_inode *in, const char *name,
		  char *val, size_t len)
{
	char kb[STORE_KEY_MAX + 32];
	struct store_hist h;
	int rc;

	if (in->hist != HIST_VER)
		return -ENODATA;
	rc = has_version(fs, hist_key(in, kb, sizeof(kb)), in->hver, &h);
	if (rc < 0)
		return rc;
	if (strcmp(name, "user.version") == 0)
		return snprintf(val, len, "%" PRIu64, h.version);
	if (strcmp(name, "user.hash") == 0 && len > 32) {
		store_hash_hex(h.hash, val);
		return 32;
	}
	return -ENODATA;
}

/* floorfs - the benchmark's floor: a minimal in-memory FUSE filesystem.
 *
 * It makes the same promises to the kernel that recfs does (long entry and
 * attr timeouts, keep_cache and noflush on read handles, direct I/O on
 * writable handles and on reads of a record too big for one readahead
 * window, an O_TRUNC that takes effect only at commit, a
 * user.version bumped per save, other user.* xattrs kept) and does no real
 * work: no store, no version check, no /proc lookups.  One mutex guards everything.
 * What recfs costs above this floor is recfs's own work.
 *
 *   floorfs MOUNTPOINT [-f] [-s] [-o OPTS]
 *
 * FLOOR_URING=1 in the environment: requests through io_uring where the
 * kernel offers it, by recfs's own fs/uring.c, as recfs does.
 */
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include "uring.h"

#define TIMEOUT 86400.0
/* The kernel's readahead for a FUSE mount (its bdi's read_ahead_kb). */
#define FLOOR_RA_MAX (128u << 10)

struct xattr {
	struct xattr *next;
	char *name;
	char *val;
	size_t len;
};

struct node {
	fuse_ino_t ino;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	nlink_t nlink;
	uint64_t version; /* 0: not yet committed */
	char *data;
	size_t size, cap;
	struct timespec atime, mtime, ctime;
	struct xattr *xattrs;
	unsigned opens;
};

struct dent {
	struct dent *next;
	fuse_ino_t parent, ino;
	char *name;
};

/* A writable handle's private content, made the node's at commit.  Until
 * its first change (own == 0) a handle sees the node's content. */
struct handle {
	struct node *n;
	int writable, dirty, own;
	char *data;
	size_t size, cap;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct node **nodes;
static size_t nnodes, capnodes;
static struct dent **dtab;
static size_t dbuckets = 1u << 20;

static uint64_t hash(fuse_ino_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ parent;
	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return h;
}

static struct dent **dfind(fuse_ino_t parent, const char *name)
{
	struct dent **p = &dtab[hash(parent, name) & (dbuckets - 1)];
	for (; *p; p = &(*p)->next)
		if ((*p)->parent == parent && strcmp((*p)->name, name) == 0)
			return p;
	return p;
}

static int dadd(fuse_ino_t parent, const char *name, fuse_ino_t ino)
{
	struct dent **p = dfind(parent, name);
	struct dent *d = calloc(1, sizeof(*d));
	if (!d || !(d->name = strdup(name))) {
		free(d);
		return -ENOMEM;
	}
	d->parent = parent;
	d->ino = ino;
	*p = d;
	return 0;
}

static struct node *get(fuse_ino_t ino)
{
	return ino < nnodes ? nodes[ino] : NULL;
}

static struct node *mknode(mode_t mode, const struct fuse_ctx *c)
{
	struct node *n;
	if (nnodes == capnodes) {
		size_t nc = capnodes ? capnodes * 2 : 1024;
		struct node **nn = realloc(nodes, nc * sizeof(*nn));
		if (!nn)
			return NULL;
		nodes = nn;
		capnodes = nc;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->ino = nnodes;
	n->mode = mode;
	n->uid = c ? c->uid : getuid();
	n->gid = c ? c->gid : getgid();
	n->nlink = S_ISDIR(mode) ? 2 : 1;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	n->atime = n->ctime = n->mtime;
	nodes[nnodes++] = n;
	return n;
}

static void fill(const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	st->st_atim = n->atime;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
}

static void reply_entry(fuse_req_t req, struct node *n)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.ino = n->ino;
	e.attr_timeout = e.entry_timeout = TIMEOUT;
	fill(n, &e.attr);
	fuse_reply_entry(req, &e);
}

static void maybe_free(struct node *n)
{
	if (n->nlink == 0 && n->opens == 0) {
		free(n->data);
		n->data = NULL;
		n->size = n->cap = 0;
	}
}

static int grow(char **data, size_t *cap, size_t need)
{
	size_t nc = *cap ? *cap : 4096;
	char *d;
	if (need <= *cap)
		return 0;
	while (nc < need)
		nc *= 2;
	d = realloc(*data, nc);
	if (!d)
		return -ENOMEM;
	*data = d;
	*cap = nc;
	return 0;
}

static void ff_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dent *d;
	pthread_mutex_lock(&mu);
	d = *dfind(parent, name);
	if (d)
		reply_entry(req, get(d->ino));
	else
		fuse_reply_err(req, ENOENT);
	pthread_mutex_unlock(&mu);
}

static void ff_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct node *n;
	struct stat st;
	(void)fi;
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (n)
		fill(n, &st);
	pthread_mutex_unlock(&mu);
	if (n)
		fuse_reply_attr(req, &st, TIMEOUT);
	else
		fuse_reply_err(req, ENOENT);
}

static void commit(struct handle *h)
{
	struct node *n = h->n;
	if (!h->dirty)
		return;
	free(n->data);
	n->data = h->data;
	n->size = h->size;
	n->cap = h->cap;
	h->data = NULL;
	h->size = h->cap = 0;
	h->dirty = h->own = 0;
	n->version++;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	n->ctime = n->mtime;
}

/* Make the handle's content its own before its first change. */
static int own(struct handle *h)
{
	struct node *n = h->n;
	if (h->own)
		return 0;
	if (grow(&h->data, &h->cap, n->size) < 0)
		return -ENOMEM;
	if (n->size)
		memcpy(h->data, n->data, n->size);
	h->size = n->size;
	h->own = 1;
	return 0;
}

static void ff_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct node *n;
	struct stat st;
	int err = 0;
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		err = ENOENT;
		goto out;
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		n->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct handle *h = fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
		size_t sz = (size_t)attr->st_size;
		if (h && h->writable) {
			if (own(h) == 0 && grow(&h->data, &h->cap, sz) == 0) {
				if (sz > h->size)
					memset(h->data + h->size, 0, sz - h->size);
				h->size = sz;
				h->dirty = 1;
			}
		} else if (grow(&n->data, &n->cap, sz) == 0) {
			if (sz > n->size)
				memset(n->data + n->size, 0, sz - n->size);
			n->size = sz;
			n->version++;
		}
	}
	if (to_set & FUSE_SET_ATTR_ATIME)
		n->atime = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME)
		n->mtime = attr->st_mtim;
	if (to_set & (FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			n->atime = now;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			n->mtime = now;
	}
	clock_gettime(CLOCK_REALTIME, &n->ctime);
	fill(n, &st);
out:
	pthread_mutex_unlock(&mu);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, TIMEOUT);
}

static int newnode(fuse_req_t req, fuse_ino_t parent, const char *name,
		   mode_t mode, struct node **out)
{
	struct node *n, *p = get(parent);
	if (!p || !S_ISDIR(p->mode))
		return ENOENT;
	if (*dfind(parent, name))
		return EEXIST;
	n = mknode(mode, fuse_req_ctx(req));
	if (!n || dadd(parent, name, n->ino) < 0)
		return ENOMEM;
	if (S_ISDIR(mode))
		p->nlink++;
	*out = n;
	return 0;
}

static void ff_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct node *n = NULL;
	int err;
	pthread_mutex_lock(&mu);
	err = newnode(req, parent, name, S_IFDIR | (mode & 07777), &n);
	if (!err)
		reply_entry(req, n);
	pthread_mutex_unlock(&mu);
	if (err)
		fuse_reply_err(req, err);
}

static void ff_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct node *n = NULL;
	int err = S_ISREG(mode) ? 0 : EPERM;
	(void)rdev;
	pthread_mutex_lock(&mu);
	if (!err)
		err = newnode(req, parent, name, mode, &n);
	if (!err) {
		n->version = 1;
		reply_entry(req, n);
	}
	pthread_mutex_unlock(&mu);
	if (err)
		fuse_reply_err(req, err);
}

static void drop_name(fuse_ino_t parent, const char *name, int isdir)
{
	struct dent **pp = dfind(parent, name), *d = *pp;
	struct node *n = get(d->ino);
	*pp = d->next;
	free(d->name);
	free(d);
	if (isdir) {
		n->nlink = 0;
		get(parent)->nlink--;
	} else {
		n->nlink--;
		maybe_free(n);
	}
}

static int dir_empty(fuse_ino_t ino)
{
	for (size_t b = 0; b < dbuckets; b++)
		for (struct dent *d = dtab[b]; d; d = d->next)
			if (d->parent == ino)
				return 0;
	return 1;
}

static void ff_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dent *d;
	int err = 0;
	pthread_mutex_lock(&mu);
	d = *dfind(parent, name);
	if (!d)
		err = ENOENT;
	else if (S_ISDIR(get(d->ino)->mode))
		err = EISDIR;
	else
		drop_name(parent, name, 0);
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, err);
}

static void ff_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dent *d;
	int err = 0;
	pthread_mutex_lock(&mu);
	d = *dfind(parent, name);
	if (!d)
		err = ENOENT;
	else if (!S_ISDIR(get(d->ino)->mode))
		err = ENOTDIR;
	else if (!dir_empty(d->ino))
		err = ENOTEMPTY;
	else
		drop_name(parent, name, 1);
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, err);
}

static void ff_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct dent *d, *t;
	int err = 0;
	pthread_mutex_lock(&mu);
	d = *dfind(parent, name);
	t = *dfind(newparent, newname);
	if (flags) {
		err = EINVAL;
	} else if (!d) {
		err = ENOENT;
	} else if (d == t) {
		err = 0;
	} else {
		struct node *n = get(d->ino);
		fuse_ino_t ino = d->ino;
		if (t) {
			struct node *old = get(t->ino);
			if (S_ISDIR(old->mode)) {
				err = S_ISDIR(n->mode) ? ENOTEMPTY : EISDIR;
				goto out;
			}
			/* The line of the replaced record continues. */
			if (!S_ISDIR(n->mode) && old->version >= n->version)
				n->version = old->version + 1;
			drop_name(newparent, newname, 0);
		}
		d = *dfind(parent, name);
		*dfind(parent, name) = d->next;
		free(d->name);
		free(d);
		err = -dadd(newparent, newname, ino);
		if (S_ISDIR(n->mode) && parent != newparent) {
			get(parent)->nlink--;
			get(newparent)->nlink++;
		}
	}
out:
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, err);
}

static int open_handle(struct node *n, struct fuse_file_info *fi)
{
	struct handle *h = calloc(1, sizeof(*h));
	if (!h)
		return ENOMEM;
	h->n = n;
	h->writable = (fi->flags & O_ACCMODE) != O_RDONLY;
	if (h->writable) {
		if (fi->flags & O_TRUNC) {
			h->own = 1;
			h->dirty = n->size != 0 || n->version == 0;
		}
		fi->direct_io = 1;
	} else if (n->size > FLOOR_RA_MAX) {
		/* A record larger than the kernel's readahead window would
		 * come through the page cache in 128 KiB READs (8 per MiB);
		 * recfs reads with direct I/O, a READ per call of up to
		 * 1 MiB.  The floor takes the cheaper way too, or recfs
		 * outran the "floor" tenfold on the 256 MiB read. */
		fi->direct_io = 1;
		fi->noflush = 1;
	} else {
		fi->keep_cache = 1;
		/* As recfs: a read-only handle never commits, so its close
		 * is no round trip (without this, every warm read here paid
		 * a FLUSH that recfs does not, and the floor was slower than
		 * the floor). */
		fi->noflush = 1;
	}
	n->opens++;
	fi->fh = (uintptr_t)h;
	return 0;
}

static void ff_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct node *n = NULL;
	struct fuse_entry_param e;
	int err;
	pthread_mutex_lock(&mu);
	err = newnode(req, parent, name, S_IFREG | (mode & 07777), &n);
	if (!err)
		err = open_handle(n, fi);
	if (!err) {
		struct handle *h = (struct handle *)(uintptr_t)fi->fh;
		h->dirty = h->own = 1;
		memset(&e, 0, sizeof(e));
		e.ino = n->ino;
		e.attr_timeout = e.entry_timeout = TIMEOUT;
		fill(n, &e.attr);
	}
	pthread_mutex_unlock(&mu);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_create(req, &e, fi);
}

static void ff_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n;
	int err;
	pthread_mutex_lock(&mu);
	n = get(ino);
	err = n ? open_handle(n, fi) : ENOENT;
	pthread_mutex_unlock(&mu);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_open(req, fi);
}

static void ff_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	const char *src;
	size_t len, have;
	(void)ino;
	/* Replied under the lock: straight from memory, no copy of ours. */
	pthread_mutex_lock(&mu);
	src = h->own ? h->data : h->n->data;
	have = h->own ? h->size : h->n->size;
	len = (size_t)off >= have ? 0 : have - (size_t)off;
	if (len > size)
		len = size;
	fuse_reply_buf(req, len ? src + off : NULL, len);
	pthread_mutex_unlock(&mu);
}

static void ff_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	size_t end;
	int err = 0;
	(void)ino;
	pthread_mutex_lock(&mu);
	err = -own(h);
	if (!err && (fi->flags & O_APPEND))
		off = (off_t)h->size;
	end = (size_t)off + size;
	if (!err)
		err = -grow(&h->data, &h->cap, end);
	if (!err) {
		if ((size_t)off > h->size)
			memset(h->data + h->size, 0, (size_t)off - h->size);
		memcpy(h->data + off, buf, size);
		if (end > h->size)
			h->size = end;
		h->dirty = 1;
	}
	pthread_mutex_unlock(&mu);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, size);
}

static void ff_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	(void)ino;
	pthread_mutex_lock(&mu);
	if (h->writable)
		commit(h);
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, 0);
}

static void ff_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)datasync;
	ff_flush(req, ino, fi);
}

static void ff_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	(void)ino;
	pthread_mutex_lock(&mu);
	if (h->writable)
		commit(h);
	h->n->opens--;
	maybe_free(h->n);
	pthread_mutex_unlock(&mu);
	free(h->data);
	free(h);
	fuse_reply_err(req, 0);
}

struct dirlist {
	char *buf;
	size_t len;
};

static void ff_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct dirlist *dl = calloc(1, sizeof(*dl));
	size_t cap = 0;
	int err = 0;
	struct stat st;
	if (!dl) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&mu);
	if (!get(ino) || !S_ISDIR(get(ino)->mode)) {
		err = ENOTDIR;
		goto out;
	}
	for (int pass = 0; pass < 3 && !err; pass++) {
		for (size_t b = 0; b < (pass < 2 ? 1 : dbuckets) && !err; b++) {
			struct dent *d = pass < 2 ? NULL : dtab[b];
			const char *nm = pass == 0 ? "." : "..";
			fuse_ino_t ci = ino;
			do {
				size_t need;
				if (pass == 2) {
					if (!d)
						break;
					if (d->parent != ino) {
						d = d->next;
						continue;
					}
					nm = d->name;
					ci = d->ino;
				}
				memset(&st, 0, sizeof(st));
				st.st_ino = ci;
				st.st_mode = get(ci)->mode;
				need = fuse_add_direntry(req, NULL, 0, nm, NULL, 0);
				if (grow(&dl->buf, &cap, dl->len + need) < 0) {
					err = ENOMEM;
					break;
				}
				fuse_add_direntry(req, dl->buf + dl->len, need, nm,
						  &st, (off_t)(dl->len + need));
				dl->len += need;
				if (pass == 2)
					d = d->next;
			} while (pass == 2);
		}
	}
out:
	pthread_mutex_unlock(&mu);
	if (err) {
		free(dl->buf);
		free(dl);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)dl;
	fuse_reply_open(req, fi);
}

static void ff_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dirlist *dl = (struct dirlist *)(uintptr_t)fi->fh;
	size_t start = (size_t)off, end;
	(void)ino;
	if (start >= dl->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* Entries are packed; cut at an entry boundary within size. */
	end = start;
	while (end < dl->len) {
		/* struct fuse_dirent: ino, off, namelen, type, name (8-aligned) */
		uint32_t namelen;
		size_t rec;
		memcpy(&namelen, dl->buf + end + 16, sizeof(namelen));
		rec = (24 + namelen + 7) & ~(size_t)7;
		if (end + rec - start > size)
			break;
		end += rec;
	}
	fuse_reply_buf(req, dl->buf + start, end - start);
}

static void ff_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct dirlist *dl = (struct dirlist *)(uintptr_t)fi->fh;
	(void)ino;
	free(dl->buf);
	free(dl);
	fuse_reply_err(req, 0);
}

static struct xattr **xfind(struct node *n, const char *name)
{
	struct xattr **p = &n->xattrs;
	for (; *p; p = &(*p)->next)
		if (strcmp((*p)->name, name) == 0)
			break;
	return p;
}

static void ff_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct node *n;
	char vbuf[32];
	const char *val = NULL;
	size_t len = 0;
	int err = 0;
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		err = ENOENT;
	} else if (strcmp(name, "user.version") == 0) {
		if (S_ISDIR(n->mode) || n->version == 0) {
			err = ENODATA;
		} else {
			len = (size_t)snprintf(vbuf, sizeof(vbuf), "%" PRIu64,
					       n->version);
			val = vbuf;
		}
	} else {
		struct xattr *x = *xfind(n, name);
		if (!x) {
			err = ENODATA;
		} else {
			len = x->len;
			val = x->val;
		}
	}
	if (!err) {
		if (size == 0)
			fuse_reply_xattr(req, len);
		else if (size < len)
			err = ERANGE;
		else
			fuse_reply_buf(req, val, len);
	}
	pthread_mutex_unlock(&mu);
	if (err)
		fuse_reply_err(req, err);
}

static void ff_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct node *n;
	struct xattr **pp, *x;
	int err = 0;
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		err = ENOENT;
		goto out;
	}
	if (strncmp(name, "user.", 5) != 0) {
		err = EOPNOTSUPP;
		goto out;
	}
	/* recfs's own names: a declaration is accepted and costs nothing. */
	if (strcmp(name, "user.version") == 0 ||
	    strcmp(name, "user.expected_version") == 0)
		goto out;
	pp = xfind(n, name);
	x = *pp;
	if ((flags & XATTR_CREATE) && x) {
		err = EEXIST;
		goto out;
	}
	if ((flags & XATTR_REPLACE) && !x) {
		err = ENODATA;
		goto out;
	}
	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x || !(x->name = strdup(name))) {
			free(x);
			err = ENOMEM;
			goto out;
		}
		*pp = x;
	}
	free(x->val);
	x->val = malloc(size ? size : 1);
	if (x->val)
		memcpy(x->val, value, size);
	x->len = size;
out:
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, err);
}

static void ff_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct node *n;
	char *buf = NULL;
	size_t len = 0;
	int err = 0;
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		err = ENOENT;
		goto out;
	}
	if (!S_ISDIR(n->mode) && n->version)
		len += sizeof("user.version");
	for (struct xattr *x = n->xattrs; x; x = x->next)
		len += strlen(x->name) + 1;
	if (size && size < len) {
		err = ERANGE;
		goto out;
	}
	if (size) {
		char *p = buf = malloc(len ? len : 1);
		if (!buf) {
			err = ENOMEM;
			goto out;
		}
		if (!S_ISDIR(n->mode) && n->version) {
			memcpy(p, "user.version", sizeof("user.version"));
			p += sizeof("user.version");
		}
		for (struct xattr *x = n->xattrs; x; x = x->next) {
			size_t l = strlen(x->name) + 1;
			memcpy(p, x->name, l);
			p += l;
		}
	}
out:
	pthread_mutex_unlock(&mu);
	if (err)
		fuse_reply_err(req, err);
	else if (!size)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void ff_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct node *n;
	struct xattr **pp, *x;
	int err = 0;
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		err = ENOENT;
	} else if (strcmp(name, "user.version") == 0 ||
		   strcmp(name, "user.expected_version") == 0) {
		err = 0;
	} else if (!(x = *(pp = xfind(n, name)))) {
		err = ENODATA;
	} else {
		*pp = x->next;
		free(x->name);
		free(x->val);
		free(x);
	}
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, err);
}

static void ff_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_blocks = sv.f_bfree = sv.f_bavail = 1u << 24;
	sv.f_files = sv.f_ffree = sv.f_favail = 1u << 24;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static void ff_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static const struct fuse_lowlevel_ops ops = {
	.init = ff_init,
	.lookup = ff_lookup,
	.getattr = ff_getattr,
	.setattr = ff_setattr,
	.mknod = ff_mknod,
	.mkdir = ff_mkdir,
	.unlink = ff_unlink,
	.rmdir = ff_rmdir,
	.rename = ff_rename,
	.open = ff_open,
	.read = ff_read,
	.write = ff_write,
	.flush = ff_flush,
	.release = ff_release,
	.fsync = ff_fsync,
	.opendir = ff_opendir,
	.readdir = ff_readdir,
	.releasedir = ff_releasedir,
	.statfs = ff_statfs,
	.setxattr = ff_setxattr,
	.getxattr = ff_getxattr,
	.listxattr = ff_listxattr,
	.removexattr = ff_removexattr,
	.create = ff_create,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts o;
	struct fuse_session *se;
	struct node *root;
	int ret = 1;

	if (fuse_parse_cmdline(&args, &o) != 0)
		return 1;
	if (o.show_help || !o.mountpoint) {
		printf("usage: %s MOUNTPOINT [-f] [-s] [-o OPTS]\n", argv[0]);
		fuse_cmdline_help();
		ret = o.show_help ? 0 : 1;
		goto out;
	}
	dtab = calloc(dbuckets, sizeof(*dtab));
	/* Inode 0 is unused; 1 is the root. */
	if (!dtab || !mknode(S_IFDIR, NULL) ||
	    !(root = mknode(S_IFDIR | 0755, NULL)))
		goto out;
	nodes[0]->nlink = 0;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, o.mountpoint) == 0) {
			const char *ue = getenv("FLOOR_URING");
			struct rfs_uring *ur = NULL;

			fuse_daemonize(o.foreground);
			/* FLOOR_URING=1: the transport recfs uses where the
			 * kernel offers it (fs/uring.h), so that the floor
			 * stays the fastest a FUSE daemon can be here. */
			if (ue && strcmp(ue, "1") == 0 &&
			    rfs_uring_attach(se, 0, &ur) < 0)
				fprintf(stderr, "floorfs: no io_uring\n");
			if (o.singlethread) {
				ret = fuse_session_loop(se);
			} else {
				struct fuse_loop_config lc;
				memset(&lc, 0, sizeof(lc));
				lc.clone_fd = o.clone_fd;
				lc.max_idle_threads = 16;
				ret = fuse_session_loop_mt(se, &lc);
			}
			rfs_uring_detach(ur);
			fuse_session_unmount(se);
		}
		fuse_remove_signal_handlers(se);
	}
	fuse_session_destroy(se);
	ret = ret ? 1 : 0;
out:
	free(o.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}

/* inode.c - the inode table (by number and by key) and deferred kernel
 * cache invalidations. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "rfs.h"

struct rfs_inval {
	struct rfs_inval *next;
	char *key;
	int remote;     /* another mount changed it: drop its inode too */
	fuse_ino_t ino; /* that inode, if no longer the key's (deleted) */
};

static size_t hkey(const struct rfs *fs, const char *key)
{
	return XXH3_64bits(key, strlen(key)) & (fs->cap - 1);
}

static size_t hino(const struct rfs *fs, fuse_ino_t ino)
{
	return (ino * 0x9E3779B97F4A7C15ull >> 20) & (fs->cap - 1);
}

int rfs_init_state(struct rfs *fs)
{
	struct rfs_inode *root;
	pthread_condattr_t ca;

	store_mutex_init(&fs->mu);
	pthread_cond_init(&fs->moved_cv, NULL);
	pthread_mutex_init(&fs->inval_mu, NULL);
	pthread_cond_init(&fs->inval_cv, NULL);
	/* rfs_inval_barrier's deadline: no clock step moves it */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->inval_done_cv, &ca);
	pthread_condattr_destroy(&ca);
	fs->cap = 1 << 16;
	fs->by_ino = calloc(fs->cap, sizeof(*fs->by_ino));
	fs->by_key = calloc(fs->cap, sizeof(*fs->by_key));
	if (!fs->by_ino || !fs->by_key)
		return -ENOMEM;
	fs->next_ino = FUSE_ROOT_ID;
	root = rfs_ino_make(fs, "");
	if (!root)
		return -ENOMEM;
	root->nlookup = 1; /* the root is never forgotten */
	return 0;
}

void rfs_pxattr_free(struct rfs_inode *in)
{
	while (in->pxa) {
		struct rfs_pxattr *x = in->pxa;
		in->pxa = x->next;
		free(x->name);
		free(x->value);
		free(x);
	}
}

static void ino_free(struct rfs_inode *in)
{
	store_snap_close(in->gone_snap);
	rfs_pxattr_free(in);
	free(in->key);
	free(in);
}

void rfs_free_state(struct rfs *fs)
{
	for (size_t i = 0; fs->by_ino && i < fs->cap; i++)
		for (struct rfs_inode *in = fs->by_ino[i], *n; in; in = n) {
			n = in->next_ino;
			ino_free(in);
		}
	free(fs->by_ino);
	free(fs->by_key);
	while (fs->inval_head) {
		struct rfs_inval *v = fs->inval_head;
		fs->inval_head = v->next;
		free(v->key);
		free(v);
	}
	pthread_mutex_destroy(&fs->mu);
	pthread_cond_destroy(&fs->moved_cv);
	fs->inval_tail = NULL;
	pthread_mutex_destroy(&fs->inval_mu);
	pthread_cond_destroy(&fs->inval_cv);
	pthread_cond_destroy(&fs->inval_done_cv);
}

struct rfs_inode *rfs_ino_any(struct rfs *fs, fuse_ino_t ino)
{
	for (struct rfs_inode *in = fs->by_ino[hino(fs, ino)]; in;
	     in = in->next_ino)
		if (in->ino == ino)
			return in;
	return NULL;
}

struct rfs_inode *rfs_ino(struct rfs *fs, fuse_ino_t ino)
{
	struct rfs_inode *in = rfs_ino_any(fs, ino);

	/* Its unlink or rename is at the store (etcd, names.c,
	 * moving_begin): its key is not to be read until the change is
	 * applied.  Looked up again after: the end may free it. */
	while (in && in->moving) {
		pthread_cond_wait(&fs->moved_cv, &fs->mu);
		in = rfs_ino_any(fs, ino);
	}
	return in;
}

struct rfs_inode *rfs_ino_by_key(struct rfs *fs, const char *key)
{
	for (struct rfs_inode *in = fs->by_key[hkey(fs, key)]; in;
	     in = in->next_key)
		if (!in->deleted && strcmp(in->key, key) == 0)
			return in;
	return NULL;
}

static void key_link(struct rfs *fs, struct rfs_inode *in)
{
	size_t b = hkey(fs, in->key);
	in->next_key = fs->by_key[b];
	fs->by_key[b] = in;
}

static void key_unlink(struct rfs *fs, struct rfs_inode *in)
{
	struct rfs_inode **pp = &fs->by_key[hkey(fs, in->key)];

	while (*pp && *pp != in)
		pp = &(*pp)->next_key;
	if (*pp)
		*pp = in->next_key;
	in->next_key = NULL;
}

/* Double both tables: chains stay short however many inodes the kernel
 * keeps.  On failure the tables stay as they are (longer chains only). */
static void ino_grow(struct rfs *fs)
{
	size_t ocap = fs->cap, ncap = ocap * 2;
	struct rfs_inode **bi = calloc(ncap, sizeof(*bi));
	struct rfs_inode **bk = calloc(ncap, sizeof(*bk));
	struct rfs_inode **oi = fs->by_ino, **ok = fs->by_key;

	if (!bi || !bk) {
		free(bi);
		free(bk);
		return;
	}
	fs->by_ino = bi;
	fs->by_key = bk;
	fs->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		for (struct rfs_inode *in = oi[i], *n; in; in = n) {
			size_t b = hino(fs, in->ino);
			n = in->next_ino;
			in->next_ino = bi[b];
			bi[b] = in;
		}
	for (size_t i = 0; i < ocap; i++)
		for (struct rfs_inode *in = ok[i], *n; in; in = n) {
			n = in->next_key;
			key_link(fs, in);
		}
	free(oi);
	free(ok);
}

void rfs_ino_pending(struct rfs *fs, struct rfs_inode *in, int on)
{
	on = !!on;
	if (in->pending == on)
		return;
	in->pending = on;
	if (on) {
		in->pend_prev = NULL;
		in->pend_next = fs->pend;
		if (fs->pend)
			fs->pend->pend_prev = in;
		fs->pend = in;
		return;
	}
	if (in->pend_prev)
		in->pend_prev->pend_next = in->pend_next;
	else
		fs->pend = in->pend_next;
	if (in->pend_next)
		in->pend_next->pend_prev = in->pend_prev;
	in->pend_next = in->pend_prev = NULL;
}

struct rfs_inode *rfs_ino_make(struct rfs *fs, const char *key)
{
	struct rfs_inode *in = rfs_ino_by_key(fs, key);
	size_t b;

	if (in)
		return in;
	if (fs->count >= fs->cap)
		ino_grow(fs);
	in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->key = strdup(key);
	if (!in->key) {
		free(in);
		return NULL;
	}
	in->ino = fs->next_ino++;
	b = hino(fs, in->ino);
	in->next_ino = fs->by_ino[b];
	fs->by_ino[b] = in;
	key_link(fs, in);
	fs->count++;
	return in;
}

int rfs_ino_key_copy(const struct rfs_inode *in, char *key, int *pending)
{
	size_t len;

	/* A deleted inode's key may name another record by now. */
	if (!in || in->deleted)
		return -ENOENT;
	len = strlen(in->key);
	if (len >= RFS_KEY_BUF)
		return -ENAMETOOLONG;
	memcpy(key, in->key, len + 1);
	*pending = in->pending;
	return 0;
}

/* Is @in, live, directory @dir (@dl its length) or beneath it? */
static int in_tree(const struct rfs_inode *in, const char *dir, size_t dl)
{
	return !in->deleted && strncmp(in->key, dir, dl) == 0 &&
	       (in->key[dl] == '/' || in->key[dl] == 0);
}

/* Add @in, to be keyed @prefix followed by @rest, to @rk. */
static int rekey_add(struct rfs_rekey *rk, struct rfs_inode *in,
		     const char *prefix, const char *rest)
{
	size_t pl = strlen(prefix), rl = strlen(rest);
	char *k;

	if (rk->n == rk->cap) {
		size_t cap = rk->cap ? rk->cap * 2 : 8;
		struct rfs_move *v = realloc(rk->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		rk->v = v;
		rk->cap = cap;
	}
	k = malloc(pl + rl + 1);
	if (!k)
		return -ENOMEM;
	memcpy(k, prefix, pl);
	memcpy(k + pl, rest, rl + 1);
	rk->v[rk->n++] = (struct rfs_move){ in, k };
	return 0;
}

void rfs_rekey_free(struct rfs_rekey *rk)
{
	for (size_t i = 0; i < rk->n; i++)
		free(rk->v[i].key);
	free(rk->v);
	memset(rk, 0, sizeof(*rk));
}

int rfs_rekey_one(struct rfs_rekey *rk, struct rfs_inode *in, const char *to)
{
	int rc = in ? rekey_add(rk, in, to, "") : 0;

	if (rc < 0)
		rfs_rekey_free(rk);
	return rc;
}

int rfs_ino_tree_each(struct rfs *fs, const char *dir,
		      int (*fn)(struct rfs_inode *in, void *arg), void *arg)
{
	size_t dl = strlen(dir);
	int rc = 0;

	for (size_t i = 0; i < fs->cap && rc == 0; i++)
		for (struct rfs_inode *in = fs->by_ino[i]; in && rc == 0;
		     in = in->next_ino)
			if (in_tree(in, dir, dl))
				rc = fn(in, arg);
	return rc;
}

struct rekeying {
	struct rfs_rekey *rk;
	const char *to;
	size_t fl;
};

static int rekey_one_of_tree(struct rfs_inode *in, void *arg)
{
	struct rekeying *r = arg;

	if (in->lease || in->pending)
		return -EBUSY;
	return rekey_add(r->rk, in, r->to, in->key + r->fl);
}

int rfs_rekey_tree(struct rfs *fs, struct rfs_rekey *rk, const char *from,
		   const char *to)
{
	struct rekeying r = { rk, to, strlen(from) };
	int rc = rfs_ino_tree_each(fs, from, rekey_one_of_tree, &r);

	if (rc < 0)
		rfs_rekey_free(rk);
	return rc;
}

void rfs_rekey_apply(struct rfs *fs, struct rfs_rekey *rk)
{
	for (size_t i = 0; i < rk->n; i++) {
		struct rfs_inode *in = rk->v[i].in;
		key_unlink(fs, in);
		free(in->key);
		in->key = rk->v[i].key;
		rk->v[i].key = NULL;
		in->key_gen++;
		/* Its append line was of the old key (read_on). */
		__atomic_store_n(&in->ext_base, 0, __ATOMIC_RELAXED);
		key_link(fs, in);
	}
	rfs_rekey_free(rk);
}

void rfs_ino_unkey(struct rfs *fs, struct rfs_inode *in)
{
	if (in->deleted)
		return;
	key_unlink(fs, in);
	in->deleted = 1;
}

void rfs_ino_put(struct rfs *fs, struct rfs_inode *in)
{
	struct rfs_inode **pp;

	/* (a moving inode is freed when it ends: names.c, moving_end) */
	if (in->nlookup || in->nopen || in->moving || in->ino == FUSE_ROOT_ID)
		return;
	if (!in->deleted)
		key_unlink(fs, in);
	rfs_ino_pending(fs, in, 0);
	pp = &fs->by_ino[hino(fs, in->ino)];
	while (*pp && *pp != in)
		pp = &(*pp)->next_ino;
	if (*pp)
		*pp = in->next_ino;
	fs->count--;
	ino_free(in);
}

/* ---- Deferred invalidations ------------------------------------------ */

static void inval_queue(struct rfs *fs, const char *key, int remote,
			fuse_ino_t ino)
{
	struct rfs_inval *v = calloc(1, sizeof(*v));

	if (!v || !(v->key = strdup(key))) {
		free(v);
		return; /* only a cache: the entry timeout covers it */
	}
	v->remote = remote;
	v->ino = ino;
	pthread_mutex_lock(&fs->inval_mu);
	if (fs->inval_tail)
		fs->inval_tail->next = v;
	else
		fs->inval_head = v;
	fs->inval_tail = v;
	fs->inval_queued++;
	pthread_cond_signal(&fs->inval_cv);
	pthread_mutex_unlock(&fs->inval_mu);
}

void rfs_inval_barrier(struct rfs *fs, int ms)
{
	int64_t until = proc_mono_ns() + (int64_t)ms * 1000000;
	struct timespec dl = { .tv_sec = until / 1000000000,
			       .tv_nsec = until % 1000000000 };

	pthread_mutex_lock(&fs->inval_mu);
	/* In order (FIFO): once as many are done as were queued now,
	 * these are. */
	for (uint64_t want = fs->inval_queued;
	     fs->inval_started && fs->inval_done < want;)
		if (pthread_cond_timedwait(&fs->inval_done_cv, &fs->inval_mu,
					   &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&fs->inval_mu);
}

void rfs_inval_entry(struct rfs *fs, const char *key)
{
	inval_queue(fs, key, 0, 0);
}

void rfs_inval_children(struct rfs *fs, const char *dir)
{
	size_t dl = strlen(dir);

	for (size_t i = 0; i < fs->cap; i++)
		for (struct rfs_inode *in = fs->by_ino[i]; in; in = in->next_ino)
			if (!in->deleted && !in->hist && in->key[0] &&
			    (dl == 0 || (strncmp(in->key, dir, dl) == 0 &&
					 in->key[dl] == '/')))
				inval_queue(fs, in->key, 0, 0);
}

void rfs_remote_change(void *ctx, const char *key)
{
	inval_queue(ctx, key, 1, 0);
}

void rfs_inval_gone(struct rfs *fs, const char *key, fuse_ino_t ino)
{
	inval_queue(fs, key, 1, ino);
}

/* A commit of @in's record: through a handle, or with none (a truncate
 * by path, an append), or another mount's (inval_remote).  Its O_RDWR
 * handles follow every one of them
 * (rfs_handle_follow): until 2026-12-06 only commits through a handle
 * were noted, and a descriptor read the version from before its own
 * process's truncate or append, and its change on that was refused
 * (EAGAIN; tests/e2e_editors.sh).  Caller holds fs->mu. */
void rfs_note_commit(struct rfs_inode *in)
{
	__atomic_store_n(&in->pc_seq, in->pc_seq + 1, __ATOMIC_RELAXED);
}

/* What the kernel caches of a key another mount changed: the record's
 * attributes and pages, and its directory's (a listing changed).  The
 * change is a commit for its O_RDWR handles too, which follow every
 * commit whichever mount made it (rfs_handle_follow). */
static void inval_remote(struct rfs *fs, const char *key, fuse_ino_t parent,
			 fuse_ino_t ino)
{
	if (!ino) {
		pthread_mutex_lock(&fs->mu);
		struct rfs_inode *in = rfs_ino_by_key(fs, key);
		if (in) {
			ino = in->ino;
			__atomic_store_n(&in->remote, 1, __ATOMIC_RELAXED);
			rfs_note_commit(in);
		}
		pthread_mutex_unlock(&fs->mu);
	}
	if (!fs->se)
		return;
	if (ino)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	fuse_lowlevel_notify_inval_inode(fs->se, parent, -1, 0);
}

/* A name's cached entry is expired, never dropped: a dropped directory
 * entry is gone for every process whose working directory it is (getcwd
 * fails with ENOENT, a shell says "cannot access parent directories",
 * SQLite cannot open a database by a relative name) while the directory
 * is still there.  An expired entry is looked up again at its next use,
 * and only then dropped, if the name now leads elsewhere or nowhere.
 * Kernels before 6.2 can only drop.  Only the invalidation thread calls. */
static void expire_entry(struct rfs *fs, fuse_ino_t parent, const char *name)
{
	size_t len = strlen(name);

	if (!fs->no_expire &&
	    fuse_lowlevel_notify_expire_entry(fs->se, parent, name, len,
					      FUSE_LL_EXPIRE_ONLY) != -ENOSYS)
		return;
	fs->no_expire = 1;
	fuse_lowlevel_notify_inval_entry(fs->se, parent, name, len);
}

static void *inval_main(void *arg)
{
	struct rfs *fs = arg;

	pthread_mutex_lock(&fs->inval_mu);
	for (;;) {
		struct rfs_inval *v = fs->inval_head;
		/* Stopping, what is left goes unsent (rfs_free_state frees
		 * it): the mount is going, and with it the kernel's cache.
		 * Draining while handlers keep queuing (a chmod of a large
		 * directory queues every entry below it) need not end. */
		if (fs->inval_stop)
			break;
		if (!v) {
			pthread_cond_wait(&fs->inval_cv, &fs->inval_mu);
			continue;
		}
		fs->inval_head = v->next;
		if (!fs->inval_head)
			fs->inval_tail = NULL;
		pthread_mutex_unlock(&fs->inval_mu);

		/* The parent's inode number, looked up now. */
		char *slash = strrchr(v->key, '/');
		const char *name = slash ? slash + 1 : v->key;
		fuse_ino_t parent = FUSE_ROOT_ID;
		int known = 1;
		if (slash) {
			*slash = 0;
			pthread_mutex_lock(&fs->mu);
			struct rfs_inode *p = rfs_ino_by_key(fs, v->key);
			known = p != NULL;
			if (p)
				parent = p->ino;
			pthread_mutex_unlock(&fs->mu);
		}
		if (known && fs->se && *name)
			expire_entry(fs, parent, name);
		if (slash)
			*slash = '/';
		if (known && v->remote)
			inval_remote(fs, v->key, parent, v->ino);
		free(v->key);
		free(v);
		pthread_mutex_lock(&fs->inval_mu);
		fs->inval_done++;
		pthread_cond_broadcast(&fs->inval_done_cv);
	}
	/* A barrier waits no longer for what will not be sent. */
	fs->inval_done = fs->inval_queued;
	pthread_cond_broadcast(&fs->inval_done_cv);
	pthread_mutex_unlock(&fs->inval_mu);
	return NULL;
}

void rfs_start_inval(struct rfs *fs)
{
	if (pthread_create(&fs->inval_thread, NULL, inval_main, fs) == 0)
		fs->inval_started = 1;
}

void rfs_stop_inval(struct rfs *fs)
{
	if (!fs->inval_started)
		return;
	pthread_mutex_lock(&fs->inval_mu);
	fs->inval_stop = 1;
	pthread_cond_signal(&fs->inval_cv);
	pthread_mutex_unlock(&fs->inval_mu);
	pthread_join(fs->inval_thread, NULL);
	fs->inval_started = 0;
}

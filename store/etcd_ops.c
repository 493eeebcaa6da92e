/* etcd_ops.c - the store's operations on etcd (etcd_store.h).
 *
 * Reads come from the cache (etcd_store.c).  Every change is one etcd
 * transaction whose compares say what the change was based on: the
 * mod_revision of each part it read from the cache.  When a compare
 * fails, the cache was behind (or someone changed the key): the key is
 * read again from etcd and the change is decided anew, up to ES_TRIES
 * times.  A check the fresh state fails (a stale basis, another mount's
 * lease) is the caller's error, never a retry.
 */
#include "etcd_es_int.h"
#include "store_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

static void fill_stat(const struct es_view *v, struct store_stat *out)
{
	memset(out, 0, sizeof(*out));
	out->meta = v->meta;
	if (v->has_r) {
		out->version = v->version;
		out->size = v->content ? v->content->len : 0;
		memcpy(out->hash, v->hash, 16);
		out->commit_ns = v->commit_ns;
	}
}

/* ---- reading ------------------------------------------------------------- */

int es_stat(struct es *es, const char *key, struct store_stat *out)
{
	struct es_view v;
	int rc = es_view_read(es, key, &v, 0);

	if (rc == 0 && !v.has_m)
		rc = -ENOENT;
	if (rc == 0)
		fill_stat(&v, out);
	es_view_free(&v);
	return rc;
}

int es_last_version(struct es *es, const char *key, uint64_t *version)
{
	struct es_view v;
	int rc = key_check(key);

	*version = 0;
	if (rc < 0)
		return rc;
	es_view_get(es, key, &v);
	*version = es_last_ver(&v);
	es_view_free(&v);
	return 0;
}

/* ---- older versions: read from etcd at their revision -------------------- */

/* The r/ value of @key as of etcd revision @rev.  @return 0 and *kv
 * (the caller clears it); -ENOENT; -ERANGE compacted away; -errno. */
static int rec_at(struct es *es, const char *key, int64_t rev,
		  struct etcdc_kv *kv)
{
	struct etcdc_kv *kvs = NULL;
	struct etcdc *c;
	size_t kl, n = 0;
	char *k = es_k(es, 'r', key, &kl);
	int rc;

	if (!k)
		return -ENOMEM;
	c = es_client(es);
	/* The first key from @k at @rev is @k itself if it existed. */
	rc = etcdc_range_page(c, k, kl, NULL, 0, rev, 1, &kvs, &n, NULL, NULL);
	es_client_put(es, c);
	if (rc == 0 && (n == 0 || kvs[0].key_len != kl ||
			memcmp(kvs[0].key, k, kl) != 0))
		rc = -ENOENT;
	if (rc == 0) {
		*kv = kvs[0];
		memset(&kvs[0], 0, sizeof(kvs[0]));
	}
	etcdc_kvs_free(kvs, n);
	free(k);
	return rc;
}

/* Called with each kept version, newest first; returns 1 to stop. */
typedef int (*ver_fn)(void *arg, const struct es_rec *r);

/* Walk @key's last @keep versions (fewer where etcd compacted its
 * history), newest first, even for a deleted key: each
 * r/ value names the revision of the one before.
 * @return 0 (also when the walk ends at a compaction); -ENOENT never a
 *  version; -errno. */
static int walk_versions(struct es *es, const char *key, unsigned keep,
			 ver_fn fn, void *arg)
{
	struct es_view v;
	int64_t rev, next;
	int rc = 0;

	es_view_get(es, key, &v);
	rev = v.has_r ? v.r_rev : v.tomb_rev;
	/* The revision that replaced the version at @rev: 0 (now) for a
	 * live record, its delete's for a deleted one. */
	next = v.has_r ? 0 : v.t_rev;
	es_view_free(&v);
	if (!rev)
		return -ENOENT;
	for (unsigned i = 0; i < keep && rev > 0; i++) {
		struct etcdc_kv kv;
		struct es_rec r;
		int stop;

		rc = rec_at(es, key, rev, &kv);
		/* A compaction keeps each key's value as of its revision,
		 * so the version that was current then is still read just
		 * before the revision that replaced it.  Read at its own,
		 * a record not changed since a compaction had no history
		 * at all, not even its current version (until 2026-12-07). */
		if (rc == -ERANGE) {
			rc = rec_at(es, key, next > 1 ? next - 1 : 0, &kv);
			if (rc == 0 && kv.mod_revision != rev) {
				etcdc_kv_clear(&kv);
				rc = -ERANGE; /* not that version: stop */
			}
		}
		if (rc < 0)
			break;
		next = kv.mod_revision;
		if (es_dec_rec(kv.value, kv.value_len, &r) < 0) {
			etcdc_kv_clear(&kv);
			rc = -EIO;
			break;
		}
		stop = fn(arg, &r);
		rev = r.prev;
		etcdc_kv_clear(&kv);
		if (stop)
			break;
	}
	return rc == -ERANGE || rc == -ENOENT ? 0 : rc;
}

static unsigned keep_of(const struct es *es)
{
	return es->o.keep_versions ? es->o.keep_versions : 8;
}

struct landed_arg {
	uint64_t nv, nonce;
	int found;
	int decided; /* the walk reached version nv or one below it */
};

static int landed_fn(void *arg, const struct es_rec *r)
{
	struct landed_arg *a = arg;

	if (r->version == a->nv) {
		a->found = r->nonce == a->nonce;
		a->decided = 1;
		return 1;
	}
	a->decided = r->version < a->nv;
	return a->decided;
}

/* Did our commit of version @nv, named by @nonce, land on @key?  Reads
 * etcd afresh and walks back from the current version: once our commit
 * freed the record, another mount's may already be on top of it.  Only
 * what the walk saw decides: one that ended before reaching version @nv
 * or below (a read etcd refused mid-failover, a compacted history) says
 * nothing, since "not committed" must never be said of a commit that
 * landed (the caller would report a failure that is not one).
 * @return 1 yes, 0 no, -errno etcd could not say. */
int es_landed(struct es *es, const char *key, uint64_t nv, uint64_t nonce)
{
	struct landed_arg a = { nv, nonce, 0, 0 };
	int rc = es_refresh(es, key);

	if (rc == 0)
		rc = walk_versions(es, key, ES_LANDED_WALK, landed_fn, &a);
	if (rc == -ENOENT)
		return 0; /* the key never had a version */
	if (rc < 0)
		return rc;
	return a.decided ? a.found : -EIO;
}

/* es_landed(), asked again while etcd cannot say (a member failing
 * over), for up to ES_RESOLVE_MS.  @return 1, 0, or -EIO (logged). */
static int landed_wait(struct es *es, const char *key, uint64_t nv,
		       uint64_t nonce)
{
	/* Tries included, as in es_resolve(). */
	long long end = es_mono_ms() + ES_RESOLVE_MS;

	for (;;) {
		int l = es_landed(es, key, nv, nonce);
		if (l >= 0)
			return l;
		if (es_mono_ms() >= end)
			break;
		poll(NULL, 0, 200);
	}
	fprintf(stderr, "recfs: etcd did not say whether the change of '%s' "
		"was committed; answering EIO\n", key);
	return -EIO;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0)
			return errno == ENOSPC ? -ENOMEM : -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

struct find_arg {
	uint64_t version;
	int fd, rc;
	struct store_stat *out;
};

static int find_fn(void *arg, const struct es_rec *r)
{
	struct find_arg *a = arg;

	if (r->version != a->version)
		return r->version < a->version; /* older ones cannot match */
	a->fd = memfd_create("recfs-snap", MFD_CLOEXEC);
	a->rc = a->fd < 0 ? -errno : write_all(a->fd, r->data, r->len);
	a->out->version = r->version;
	a->out->size = r->len;
	a->out->commit_ns = r->commit_ns;
	memcpy(a->out->hash, r->hash, 16);
	return 1;
}

int es_snap_fd(struct es *es, const char *key, uint64_t version, int *fd,
	       struct store_stat *out)
{
	struct find_arg a = { version, -1, -ENOENT, out };
	struct es_view v;
	int rc = es_view_read(es, key, &v, 0);

	*fd = -1;
	if (rc < 0)
		;
	else if (es_is_dir(&v))
		rc = -EISDIR;
	else if (version && (!v.has_r || version != v.version))
		rc = 1; /* an older version, or one of a deleted key */
	else if (!v.has_m || !v.has_r)
		rc = -ENOENT;
	if (rc == 1) {
		memset(out, 0, sizeof(*out));
		out->meta = v.meta;
		if (!v.has_m)
			out->meta.mode = S_IFREG | 0444;
		rc = walk_versions(es, key, keep_of(es), find_fn, &a);
		if (rc == 0)
			rc = a.rc;
		if (rc == 0)
			*fd = a.fd;
		else if (a.fd >= 0)
			close(a.fd);
	} else if (rc == 0) {
		*fd = memfd_create("recfs-snap", MFD_CLOEXEC);
		rc = *fd < 0 ? store_fd_errno(errno)
			     : write_all(*fd, v.content ? v.content->data : "",
					 v.content ? v.content->len : 0);
		if (rc < 0 && *fd >= 0) {
			close(*fd);
			*fd = -1;
		}
		if (rc == 0)
			fill_stat(&v, out);
	}
	es_view_free(&v);
	return rc;
}

int es_get(struct es *es, const char *key, char **buf, size_t *len,
	   struct store_stat *stat)
{
	struct es_view v;
	int rc = es_view_read(es, key, &v, 0);

	*buf = NULL;
	*len = 0;
	if (rc < 0)
		;
	else if (!v.has_m)
		rc = -ENOENT;
	else if (es_is_dir(&v))
		rc = -EISDIR;
	else if (!v.has_r)
		rc = -ENOENT;
	if (rc == 0) {
		size_t n = v.content ? v.content->len : 0;
		*buf = malloc(n + 1);
		if (!*buf) {
			rc = -ENOMEM;
		} else {
			if (n)
				memcpy(*buf, v.content->data, n);
			(*buf)[n] = 0;
			*len = n;
			if (stat)
				fill_stat(&v, stat);
		}
	}
	es_view_free(&v);
	return rc;
}

static int dirent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_dirent *)a)->name,
		      ((const struct store_dirent *)b)->name);
}

/* Children of @dir: one pass over the cache.  A directory of the cache
 * has no child list of its own (a listing costs the whole prefix). */
int es_list(struct es *es, const char *dir, struct store_dirent **ents,
	    size_t *n)
{
	struct store_dirent *arr = NULL;
	size_t cnt = 0, cap = 0, dl = strlen(dir);
	struct es_ent *d;
	int rc = es_fresh(es);

	*ents = NULL;
	*n = 0;
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&es->mu);
	d = es_ent_find(es, dir);
	if (!d || !d->has_m)
		rc = -ENOENT;
	else if (!S_ISDIR(d->meta.mode))
		rc = -ENOTDIR;
	for (size_t b = 0; rc == 0 && b < es->cap; b++)
		for (struct es_ent *e = es->tab[b]; e && rc == 0; e = e->next) {
			const char *name = e->key;
			if (!e->has_m || !*e->key)
				continue;
			if (dl) {
				if (strncmp(e->key, dir, dl) != 0 ||
				    e->key[dl] != '/')
					continue;
				name = e->key + dl + 1;
			}
			if (strchr(name, '/'))
				continue;
			if (es_grow((void **)&arr, &cap, cnt, sizeof(*arr)) < 0) {
				rc = -ENOMEM;
				break;
			}
			arr[cnt].name = strdup(name);
			if (!arr[cnt].name) {
				rc = -ENOMEM;
				break;
			}
			arr[cnt].mode = e->meta.mode;
			arr[cnt].version = e->has_r ? e->version : 0;
			cnt++;
		}
	pthread_mutex_unlock(&es->mu);
	if (rc < 0) {
		store_list_free(arr, cnt);
		return rc;
	}
	if (cnt)
		qsort(arr, cnt, sizeof(*arr), dirent_cmp);
	*ents = arr;
	*n = cnt;
	return 0;
}

struct hist_arg {
	struct store_hist *h;
	size_t n, cap;
	int rc;
};

static int hist_fn(void *arg, const struct es_rec *r)
{
	struct hist_arg *a = arg;

	if (es_grow((void **)&a->h, &a->cap, a->n, sizeof(*a->h)) < 0) {
		a->rc = -ENOMEM;
		return 1;
	}
	a->h[a->n].version = r->version;
	a->h[a->n].size = r->len;
	a->h[a->n].commit_ns = r->commit_ns;
	memcpy(a->h[a->n].hash, r->hash, 16);
	a->n++;
	return 0;
}

int es_history_below(struct es *es, const char *dir)
{
	size_t dl = strlen(dir);
	int found = 0;

	if (!dl)
		return 0;
	pthread_mutex_lock(&es->mu);
	for (size_t b = 0; !found && b < es->cap; b++)
		for (struct es_ent *e = es->tab[b]; e && !found; e = e->next)
			found = (e->has_r || e->tomb) &&
				strncmp(e->key, dir, dl) == 0 &&
				e->key[dl] == '/';
	pthread_mutex_unlock(&es->mu);
	return found;
}

int es_history(struct es *es, const char *key, struct store_hist **h,
	       size_t *n)
{
	struct hist_arg a = { NULL, 0, 0, 0 };
	struct es_view v;
	int rc = key_check(key);

	*h = NULL;
	*n = 0;
	if (rc < 0)
		return rc;
	rc = walk_versions(es, key, keep_of(es), hist_fn, &a);
	if (rc == 0)
		rc = a.rc;
	if (rc == 0 && a.n == 0)
		rc = -ENOENT;
	if (rc < 0) {
		free(a.h);
		return rc;
	}
	for (size_t i = 0; i < a.n / 2; i++) { /* oldest first */
		struct store_hist t = a.h[i];
		a.h[i] = a.h[a.n - 1 - i];
		a.h[a.n - 1 - i] = t;
	}
	/* Each version's owner and mode: its record's now, or, if that
	 * record ended, its record's then (t/, etcd_codec.c); none known
	 * (a tombstone from before 2026-12-07): root's only. */
	es_view_get(es, key, &v);
	for (size_t i = 0; i < a.n; i++) {
		struct store_meta m = { 0 };

		if (!es_past_meta(v.tomb_past, a.h[i].version, &m) &&
		    v.has_r && v.has_m)
			m = v.meta;
		a.h[i].mode = m.mode;
		a.h[i].uid = m.uid;
		a.h[i].gid = m.gid;
	}
	es_view_free(&v);
	*h = a.h;
	*n = a.n;
	return 0;
}

/* ---- writing a record ---------------------------------------------------- */

/*
 * Write @len bytes as @key's next version, checked against @expect.  If
 * @lock is not 0 the change holds the write lease whose l/ key etcd
 * created at that revision; the commit compares it and removes it.  New
 * keys get @meta (or defaults); existing ones keep theirs with new times.
 * @keep_lock_ok: an l/ of this mount may stand (appends, truncates).
 */
static int write_rec(struct es *es, const char *key, uint64_t expect,
		     const void *data, size_t len,
		     const struct store_meta *meta, int64_t lock,
		     int keep_lock_ok, uint64_t *newv)
{
	uint64_t tried_nv = 0, tried_nonce = 0;
	int refreshed = 0, rc = 0;
	char *pkey;

	if ((rc = key_check(key)) < 0 || (rc = es_ro(es)) < 0)
		return rc;
	if (!*key)
		return -EISDIR;
	pkey = es_parent_of(key);
	if (!pkey)
		return -ENOMEM;
	for (int i = 0; i < ES_TRIES; i++) {
		struct es_view v, pv;
		struct store_meta m;
		struct es_tb t = {.es = es};
		uint64_t nv, nonce;
		int64_t now = es_now_ns();
		size_t xl = 0;

		es_view_get(es, key, &v);
		es_view_get(es, pkey, &pv);
		/* A compare that failed because our own transaction had
		 * landed already (the client sent it again after a broken
		 * connection, as in a failover): it is committed. */
		if (tried_nonce && v.has_r && v.version >= tried_nv) {
			int l = landed_wait(es, key, tried_nv, tried_nonce);
			if (l != 0) {
				es_view_free(&v);
				es_view_free(&pv);
				if (l == 1)
					*newv = tried_nv;
				rc = l == 1 ? 0 : l;
				break;
			}
		}
		rc = es_parent_ok(&pv);
		if (rc == 0 && es_is_dir(&v))
			rc = -EISDIR;
		if (rc == 0 && !es_expect_ok(&v, expect))
			rc = -EAGAIN;
		if (rc == 0 && !lock && v.has_l &&
		    (es_other_lease(es, &v) || !keep_lock_ok))
			rc = -EBUSY;
		if (rc == 0 && len + v.xa_len > es_size_limit())
			rc = -EFBIG;
		/* Our lease is gone (it expired, or was revoked): the
		 * change must not land.  The cache learns of that from its
		 * watch, or from the refresh after a failed compare. */
		if (rc == 0 && lock && (!v.has_l || v.l_create != lock))
			rc = refreshed ? -EIO : -EAGAIN;
		if (rc < 0) {
			es_view_free(&v);
			es_view_free(&pv);
			if (refreshed || rc == -EFBIG)
				break;
			/* The cache may be behind: decide on etcd's state. */
			es_refresh(es, key);
			es_refresh(es, pkey);
			refreshed = 1;
			continue;
		}
		nv = v.has_r ? v.version + 1 : es_last_ver(&v) + 1;
		nonce = es_next_nonce(es);
		if (v.has_m) {
			m = v.meta;
		} else if (meta) {
			m = *meta;
		} else {
			memset(&m, 0, sizeof(m));
			m.mode = S_IFREG | 0644;
			m.atime_ns = now;
		}
		/* Times are the given meta's, as a local store's are
		 * (store.h): a record's existing mode and owner stay, but a
		 * commit's given mtime (`cp -p` over it) must not be
		 * stamped over. */
		if (!meta) {
			m.mtime_ns = m.ctime_ns = now;
		} else if (v.has_m) {
			m.mtime_ns = meta->mtime_ns;
			m.ctime_ns = meta->ctime_ns;
		}
		uint8_t *rv = es_enc_rec(nv, now, nonce,
					 v.has_r ? v.r_rev : v.tomb_rev, data,
					 len, &xl);
		es_tb_cmp(&t, 'r', key, ETCDC_MOD, ETCDC_EQUAL, v.r_rev);
		es_tb_cmp(&t, 'm', key, ETCDC_MOD, ETCDC_EQUAL, v.m_rev);
		if (!v.has_r)
			es_tb_cmp(&t, 't', key, ETCDC_MOD, ETCDC_EQUAL, v.t_rev);
		if (lock)
			es_tb_cmp(&t, 'l', key, ETCDC_CREATE, ETCDC_EQUAL, lock);
		else
			es_tb_no_lease(&t, key, &v, keep_lock_ok);
		/* A new key changes its directory: that also fences a
		 * racing rmdir, which compares the directory's m/. */
		if (!v.has_m)
			es_tb_cmp(&t, 'm', pkey, ETCDC_MOD, ETCDC_EQUAL, pv.m_rev);
		es_tb_op(&t, 'r', key, rv, xl, 0, 0);
		es_tb_put_meta(&t, key, &m, v.xa, v.xa_len);
		if (!v.has_m) {
			struct store_meta pm = pv.meta;
			pm.mtime_ns = pm.ctime_ns = now;
			es_tb_put_meta(&t, pkey, &pm, pv.xa, pv.xa_len);
		}
		if (lock)
			es_tb_op(&t, 'l', key, NULL, 0, 0, 1);
		es_view_free(&v);
		es_view_free(&pv);
		rc = es_tb_run(&t, NULL);
		es_tb_free(&t);
		if (rc == 1) {
			*newv = nv;
			rc = 0;
			break;
		}
		if (rc == -ETIMEDOUT || rc == -EIO) {
			int l = es_resolve(es, key, lock, nv, nonce);
			if (l == 1) {
				*newv = nv;
				rc = 0;
			} else if (l < 0) {
				rc = l; /* still unknown: EIO, as logged */
			} else if (lock) {
				/* Fenced: it never lands.  A change whose
				 * first write passed fails only with EIO
				 * (SPEC); close said "Connection timed out"
				 * until 2026-12-07. */
				rc = -EIO;
			}
			break;
		}
		if (rc < 0 && lock &&
		    (rc == -ECONNREFUSED || rc == -EHOSTUNREACH)) {
			/* Never sent: it cannot land.  A change whose first
			 * write passed fails only with EIO (SPEC), as a
			 * timed-out one does; close said "Connection
			 * refused" until 2026-12-07. */
			fprintf(stderr, "recfs: etcd could not be reached for "
				"the change of '%s' (%s); it is not "
				"committed\n", key, strerror(-rc));
			rc = -EIO;
		}
		if (rc < 0)
			break;
		tried_nv = nv;
		tried_nonce = nonce;
		es_refresh(es, key);
		es_refresh(es, pkey);
		refreshed = 1;
		rc = -EAGAIN;
	}
	free(pkey);
	return rc;
}

int es_put(struct es *es, const char *key, uint64_t expect, const void *data,
	   size_t len, const struct store_meta *meta, uint64_t *newv)
{
	if (meta && !S_ISREG(meta->mode) && !S_ISLNK(meta->mode))
		return -EINVAL;
	return write_rec(es, key, expect, data, len, meta, 0, 0, newv);
}

/* Read-modify-write of a record's content that never goes stale
 * (appends), or is checked against @expect (truncate by path). */
static int rewrite(struct es *es, const char *key, uint64_t expect,
		   const void *add, size_t add_len, int64_t new_size,
		   uint64_t *newv)
{
	int rc = -EAGAIN;

	for (int i = 0; i < ES_TRIES && rc == -EAGAIN; i++) {
		struct es_view v;
		size_t old, n;
		char *buf;

		if (i)
			es_refresh(es, key);
		es_view_get(es, key, &v);
		if (!v.has_m || (!v.has_r && !es_is_dir(&v))) {
			es_view_free(&v);
			if (i == 0)
				continue; /* the cache may be behind */
			return -ENOENT;
		}
		if (es_is_dir(&v)) {
			es_view_free(&v);
			return -EISDIR;
		}
		old = v.content ? v.content->len : 0;
		n = new_size >= 0 ? (size_t)new_size : old + add_len;
		if (n > es_size_limit()) {
			es_view_free(&v);
			return -EFBIG;
		}
		buf = calloc(1, n ? n : 1);
		if (!buf) {
			es_view_free(&v);
			return -ENOMEM;
		}
		if (old && v.content)
			memcpy(buf, v.content->data, old < n ? old : n);
		if (add_len)
			memcpy(buf + old, add, add_len);
		uint64_t basis = expect == STORE_ANY ? v.version : expect;
		es_view_free(&v);
		rc = write_rec(es, key, basis, buf, n, NULL, 0, 1, newv);
		free(buf);
		if (expect != STORE_ANY)
			break; /* a checked change is not retried */
	}
	return rc;
}

int es_truncate(struct es *es, const char *key, uint64_t expect,
		uint64_t size, uint64_t *newv)
{
	if ((int64_t)size < 0)
		return -EFBIG;
	return rewrite(es, key, expect, NULL, 0, (int64_t)size, newv);
}

int es_append(struct es *es, const char *key, const void *buf, size_t len,
	      uint64_t *newv)
{
	return rewrite(es, key, STORE_ANY, buf, len, -1, newv);
}

int es_delete(struct es *es, const char *key, uint64_t expect,
	      uint64_t *newv)
{
	uint64_t tried = 0, tried_nonce = 0;
	int refreshed = 0, rc;
	char *pkey;

	if ((rc = key_check(key)) < 0 || (rc = es_ro(es)) < 0)
		return rc;
	pkey = es_parent_of(key);
	if (!pkey)
		return -ENOMEM;
	for (int i = 0; i < ES_TRIES; i++) {
		struct es_tb t = {.es = es};
		struct es_view v, pv;

		es_view_get(es, key, &v);
		/* Our delete, resent after a broken connection, had landed:
		 * the tombstone holds the version it made and its nonce.
		 * Another mount's delete of the same version holds its own:
		 * ours is then refused as any change of a gone record. */
		if (tried && !v.has_m && v.tomb == tried &&
		    v.tomb_nonce == tried_nonce) {
			es_view_free(&v);
			*newv = tried;
			rc = 0;
			goto out;
		}
		rc = 0;
		if (!v.has_m)
			rc = -ENOENT;
		else if (es_is_dir(&v))
			rc = -EISDIR;
		else if (!es_expect_ok(&v, expect))
			/* STORE_ABSENT too: a record is there, so a delete
			 * based on "none" is stale, as on the local store. */
			rc = -EAGAIN;
		else if (es_other_lease(es, &v))
			rc = -EBUSY;
		if (rc < 0) {
			es_view_free(&v);
			if (refreshed)
				goto out;
			es_refresh(es, key);
			refreshed = 1;
			continue;
		}
		uint64_t nv = v.version + 1, nonce = es_next_nonce(es);
		es_tb_cmp(&t, 'r', key, ETCDC_MOD, ETCDC_EQUAL, v.r_rev);
		es_tb_cmp(&t, 'm', key, ETCDC_MOD, ETCDC_EQUAL, v.m_rev);
		es_tb_no_lease(&t, key, &v, 1);
		es_tb_op(&t, 'r', key, NULL, 0, 0, 1);
		es_tb_op(&t, 'm', key, NULL, 0, 0, 1);
		es_tb_cmp(&t, 't', key, ETCDC_MOD, ETCDC_EQUAL, v.t_rev);
		es_tb_put_tomb(&t, key, nv, v.r_rev, nonce, &v);
		if (v.has_l)
			es_tb_op(&t, 'l', key, NULL, 0, 0, 1);
		es_view_get(es, pkey, &pv);
		es_tb_dir_changed(&t, pkey, &pv, es_now_ns());
		es_view_free(&pv);
		es_view_free(&v);
		rc = es_tb_run(&t, NULL);
		es_tb_free(&t);
		if (rc == 1) {
			*newv = nv;
			rc = 0;
			goto out;
		}
		if (rc < 0)
			goto out; /* it may land later: docs/ETCD.md */
		tried = nv;
		tried_nonce = nonce;
		es_refresh(es, key);
		es_refresh(es, pkey);
		refreshed = 1;
	}
	rc = -EAGAIN;
out:
	free(pkey);
	return rc;
}

/* ---- staged changes ------------------------------------------------------------- */

int es_txn_begin(struct es *es, const char *key, int truncate,
		 struct es_txn **out)
{
	struct es_txn *t;
	struct es_view v;
	int rc;

	*out = NULL;
	if ((rc = key_check(key)) < 0 || (rc = es_ro(es)) < 0)
		return rc;
	es_view_get(es, key, &v);
	if (es_is_dir(&v)) {
		es_view_free(&v);
		return -EISDIR;
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->key = strdup(key))) {
		free(t);
		es_view_free(&v);
		return -ENOMEM;
	}
	t->es = es;
	if (!truncate && v.content && v.content->len) {
		t->cap = v.content->len;
		t->buf = malloc(t->cap);
		if (!t->buf) {
			es_view_free(&v);
			es_txn_abort(t);
			return -ENOMEM;
		}
		memcpy(t->buf, v.content->data, v.content->len);
		t->size = v.content->len;
	}
	es_view_free(&v);
	*out = t;
	return 0;
}

int es_txn_lease(struct es_txn *t, uint64_t expect)
{
	struct es *es = t->es;
	int refreshed = 0, rc = 0;

	if (t->lock_create)
		return 0;
	for (int i = 0; i < ES_TRIES; i++) {
		struct es_tb b = {.es = es};
		struct es_view v;
		int64_t rev = 0, lease = es_lease_id(es);

		es_view_get(es, t->key, &v);
		rc = 0;
		if (es_is_dir(&v))
			rc = -EISDIR;
		else if (!es_expect_ok(&v, expect))
			rc = -EAGAIN;
		else if (v.has_l && v.l_lease == es_lease_id(es) &&
			 es_lock_cas(es, t->key, 0, v.l_create)) {
			/* Ours, and no change of ours holds it: a request
			 * of ours that landed late (a resend in a failover).
			 * The commit compares r/ anyway. */
			t->lock_create = v.l_create;
			es_view_free(&v);
			return 0;
		} else if (v.has_l)
			rc = -EBUSY;
		else if (!lease)
			rc = -EIO; /* our etcd lease is being renewed */
		if (rc < 0) {
			es_view_free(&v);
			if (refreshed || rc == -EIO || rc == -EISDIR)
				return rc;
			es_refresh(es, t->key);
			refreshed = 1;
			continue;
		}
		snprintf(t->lock_val, sizeof(t->lock_val), "%s %llu", es->id,
			 (unsigned long long)es_next_nonce(es));
		es_tb_cmp(&b, 'l', t->key, ETCDC_CREATE, ETCDC_EQUAL, 0);
		es_tb_cmp(&b, 'r', t->key, ETCDC_MOD, ETCDC_EQUAL, v.r_rev);
		es_tb_op(&b, 'l', t->key, strdup(t->lock_val),
		      strlen(t->lock_val), lease, 0);
		es_view_free(&v);
		rc = es_tb_run(&b, &rev);
		es_tb_free(&b);
		if (rc == -ENOENT) {
			/* etcd does not know our etcd lease (it expired
			 * while etcd was out of reach, or was revoked): the
			 * lease was lost (EIO, docs/ETCD.md), not a missing
			 * file; the keeper takes a new one at once. */
			es_lease_gone(es, lease);
			return -EIO;
		}
		if (rc == 1) {
			t->lock_create = rev;
			es_lock_cas(es, t->key, 0, rev);
			return 0;
		}
		if (rc < 0) {
			/* Unknown outcome: if our l/ is there, we hold it. */
			struct etcdc_kv kv;
			struct etcdc *c = es_client(es);
			size_t kl;
			char *k = es_k(es, 'l', t->key, &kl);
			int g = k ? etcdc_get(c, k, kl, &kv, NULL) : -ENOMEM;
			es_client_put(es, c);
			free(k);
			if (g == 0 && kv.value_len == strlen(t->lock_val) &&
			    memcmp(kv.value, t->lock_val, kv.value_len) == 0 &&
			    es_lock_cas(es, t->key, 0, kv.create_revision)) {
				t->lock_create = kv.create_revision;
				rc = 0;
			}
			if (g == 0)
				etcdc_kv_clear(&kv);
			return rc;
		}
		es_refresh(es, t->key);
		refreshed = 1;
	}
	return -EAGAIN;
}

ssize_t es_txn_write(struct es_txn *t, const void *buf, size_t len,
		     uint64_t off)
{
	size_t end;

	if (off > es_size_limit() || len > es_size_limit() - off) {
		fprintf(stderr, "recfs: '%s' would be over %zu bytes, the most "
			"one etcd request carries: EFBIG (docs/ETCD.md)\n",
			t->key, es_size_limit());
		return -EFBIG;
	}
	end = (size_t)off + len;
	if (end > t->cap) {
		size_t nc = t->cap ? t->cap : 4096;
		while (nc < end)
			nc *= 2;
		char *p = realloc(t->buf, nc);
		if (!p)
			return -ENOMEM;
		t->buf = p;
		t->cap = nc;
	}
	if (off > t->size)
		memset(t->buf + t->size, 0, (size_t)off - t->size);
	memcpy(t->buf + off, buf, len);
	if (end > t->size)
		t->size = end;
	return (ssize_t)len;
}

ssize_t es_txn_read(struct es_txn *t, void *buf, size_t len, uint64_t off)
{
	if (off >= t->size)
		return 0;
	if (len > t->size - off)
		len = t->size - (size_t)off;
	memcpy(buf, t->buf + off, len);
	return (ssize_t)len;
}

int es_txn_truncate(struct es_txn *t, uint64_t size)
{
	if (size > t->size) {
		static const char z = 0;
		/* Grow with zeros: a one-byte write at the end does it. */
		ssize_t r = es_txn_write(t, &z, 1, size - 1);
		return r < 0 ? (int)r : 0;
	}
	t->size = (size_t)size;
	return 0;
}

uint64_t es_txn_size(const struct es_txn *t)
{
	return t->size;
}

const char *es_txn_key(const struct es_txn *t)
{
	return t->key;
}

int es_txn_commit(struct es_txn *t, uint64_t expect,
		  const struct store_meta *meta, int durable, uint64_t *newv)
{
	int rc;

	(void)durable; /* etcd commits through its raft log: durable */
	rc = write_rec(t->es, t->key, expect, t->buf ? t->buf : "", t->size,
		       meta, t->lock_create, 0, newv);
	if (rc == 0) {
		es_lock_cas(t->es, t->key, t->lock_create, 0);
		t->lock_create = 0; /* the commit removed it */
	}
	es_txn_abort(t);
	return rc;
}

/* The l/ key goes only if it is still the one this change created: a
 * later change's lease of the key is left alone. */
void es_txn_unlease(struct es_txn *t)
{
	if (!t || !t->lock_create)
		return;
	es_fence(t->es, t->key, t->lock_create);
	es_lock_cas(t->es, t->key, t->lock_create, 0);
	t->lock_create = 0;
}

void es_txn_abort(struct es_txn *t)
{
	if (!t)
		return;
	es_txn_unlease(t);
	free(t->buf);
	free(t->key);
	free(t);
}


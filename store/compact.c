/* compact.c - reclaim dead space.
 *
 * 1. Under commit_mu: seal the active segment; every sealed segment is an
 *    input.  Copy what the index says is live (a snapshot of the nodes).
 * 2. Unlocked: write that state into NNN.compact, where NNN is the last
 *    input's id and its header says it replaces [first input, NNN];
 *    fsync it.  Readers and writers go on meanwhile.
 * 3. Under commit_mu and the index write lock: rename it over NNN.seg,
 *    fsync the directory, point the index at the new places.
 * 4. Remove the other inputs; then, once the log is durable up to
 *    here, the blobs no kept version names.
 * A crash after 3 leaves inputs that open recognizes as superseded;
 * before it, a .compact file that open removes.
 *
 * Replay of the output rebuilds, for every key, exactly its state at the
 * snapshot: history (HIST puts), the line of a tombstone (DEL), then the
 * current state; directories in tree order so parents come first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd_store.h"
#include "store_int.h"

struct item {
	char *key;
	uint8_t kind;
	uint8_t forget;
	uint64_t version;
	int64_t del_ns;
	struct store_meta meta;
	uint8_t *xattrs;
	uint32_t xattrs_len;
	struct ver *vers;
	uint32_t nvers;
	struct past *past;   /* the node's (struct past), or NULL */
	uint64_t state_off;  /* in the output */
	uint32_t state_len;
};

struct snap {
	const struct index *ix; /* whose nodes are added */
	struct item *items;
	size_t n, cap;
	uint64_t floor;
	uint64_t last_input;
	uint64_t first_new;     /* blob_first_live() at the snapshot */
	/* Taken under commit_mu: no earlier than any commit before the
	 * snapshot, no later than any after it (they take their times
	 * under it too).  Every directory's MKDIR carries it, so that the
	 * entries written beneath leave the times it carries, and the
	 * commits after the snapshot move them (store.c, dir_touch). */
	int64_t at;
};

static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->items[i].key);
		free(s->items[i].xattrs);
		free(s->items[i].vers);
		free(s->items[i].past);
	}
	free(s->items);
}

static int snap_add(struct snap *s, const struct node *n)
{
	struct item *it;
	const struct past *past = n->x ? n->x->past : NULL;
	size_t np = 0;
	const uint8_t *x;
	uint32_t xlen;

	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 256;
		struct item *ni = realloc(s->items, nc * sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		s->items = ni;
		s->cap = nc;
	}
	it = &s->items[s->n];
	memset(it, 0, sizeof(*it));
	x = node_xattrs(n, &xlen);
	it->key = strdup(n->key);
	it->xattrs = xlen ? malloc(xlen) : NULL;
	it->vers = n->nvers ? malloc(n->nvers * sizeof(*it->vers)) : NULL;
	while (past && past[np].upto)
		np++;
	it->past = np ? malloc((np + 1) * sizeof(*past)) : NULL;
	if (!it->key || (xlen && !it->xattrs) || (n->nvers && !it->vers) ||
	    (np && !it->past)) {
		free(it->key);
		free(it->xattrs);
		free(it->vers);
		free(it->past);
		return -ENOMEM;
	}
	if (np)
		memcpy(it->past, past, (np + 1) * sizeof(*past));
	it->kind = n->kind;
	it->version = node_version(n);
	it->del_ns = n->x ? n->x->del_ns : 0;
	it->meta = node_meta(s->ix, n);
	it->xattrs_len = xlen;
	if (xlen)
		memcpy(it->xattrs, x, xlen);
	it->nvers = n->nvers;
	if (n->nvers)
		memcpy(it->vers, node_cvers(n), n->nvers * sizeof(*it->vers));
	s->n++;
	return 0;
}

/* Live directories and records in tree order (parents first). */
static int snap_tree(struct snap *s, const struct node *d)
{
	int rc = snap_add(s, d);

	for (const struct node *c = node_child(d); c && rc == 0;
	     c = c->sib_next)
		rc = c->kind == K_DIR ? snap_tree(s, c) : snap_add(s, c);
	return rc;
}

static int cmp_del(const void *a, const void *b)
{
	const struct item *x = *(struct item *const *)a,
			  *y = *(struct item *const *)b;
	return x->del_ns < y->del_ns ? -1 : x->del_ns > y->del_ns;
}

/* Beyond tombstone_limit, forget the oldest tombstones; the floor rises
 * above every version they had, so no version can repeat. */
static int pick_forgotten(struct store *st, struct snap *s, size_t first)
{
	size_t nt = s->n - first;
	struct item **t;

	if (nt <= st->o.tombstone_limit)
		return 0;
	t = malloc(nt * sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < nt; i++)
		t[i] = &s->items[first + i];
	qsort(t, nt, sizeof(*t), cmp_del);
	for (size_t i = 0; i < nt - st->o.tombstone_limit; i++) {
		t[i]->forget = 1;
		if (t[i]->version > s->floor)
			s->floor = t[i]->version;
	}
	free(t);
	return 0;
}

struct out {
	struct store *st;
	int fd;
	uint64_t size;
	uint8_t *buf;
	size_t len, cap;
	uint8_t *hint;
	size_t hint_len, hint_cap;
};

/* On a full disk the output may have the reserve, as a delete may: it
 * gives the dead log back.  A slice at a time, what this flush needs, so
 * that the rest stays for the next open and the next delete.  Until
 * 2026-12-07 it had it only when its roll needed it; with a few KiB free
 * compaction failed with ENOSPC, the reserve untouched (test_reserve's
 * test_compaction_has_reserve). */
static int out_flush(struct out *o)
{
	size_t done = 0;

	while (done < o->len) {
		ssize_t n = io_pwrite(o->st, o->fd, o->buf + done, o->len - done,
				   (off_t)(o->size + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOSPC &&
		    store_reserve_slice(o->st, o->len - done) == 0)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	o->size += o->len;
	o->len = 0;
	return 0;
}

/* Append one entry; returns its offset in the output through *off. */
static int out_entry(struct out *o, uint8_t type, uint8_t flags,
		     const char *key, uint64_t version, int64_t t,
		     uint64_t vlen, const struct store_meta *m,
		     const uint8_t *hash, uint64_t blob, const uint8_t *x,
		     uint32_t xl, const void *val, size_t il, uint64_t *off,
		     uint32_t *len)
{
	size_t kl = strlen(key), bl = m ? log_body_size(xl) : 0;
	size_t need = log_entry_size(kl, bl, il), hneed;
	uint8_t *body = NULL;
	int rc;

	if (o->len + need > o->cap && o->len) {
		rc = out_flush(o);
		if (rc < 0)
			return rc;
	}
	if (need > o->cap) {
		uint8_t *nb = realloc(o->buf, need);
		if (!nb)
			return -ENOMEM;
		o->buf = nb;
		o->cap = need;
	}
	if (m) {
		body = malloc(bl);
		if (!body)
			return -ENOMEM;
		log_body_encode(body, m, hash, blob, x, xl);
	}
	log_entry_encode(o->buf + o->len, type, flags, key, kl, version, t,
			 vlen, body, bl, val, il);
	free(body);
	*off = o->size + o->len;
	*len = (uint32_t)need;
	/* hint record: offset + entry without its inline content */
	hneed = 8 + LOG_ENTRY_HDR + kl + bl;
	if (o->hint_len + hneed > o->hint_cap) {
		size_t nc = o->hint_cap * 2 + hneed;
		uint8_t *nh = realloc(o->hint, nc);
		if (!nh)
			return -ENOMEM;
		o->hint = nh;
		o->hint_cap = nc;
	}
	log_put64(o->hint + o->hint_len, *off);
	memcpy(o->hint + o->hint_len + 8, o->buf + o->len, hneed - 8);
	memset(o->hint + o->hint_len + 8, 0, 8);
	o->hint_len += hneed;
	o->len += need;
	return 0;
}

/* Read inline version @v of @key, checked against its hash: a byte
 * that changed in its segment since it was written would otherwise be
 * copied into the new segment, under a checksum that fits it, and the
 * damage would be lost to every later check. */
static int read_inline(struct store *st, const char *key,
		       const struct ver *v, void **data)
{
	ssize_t n = -1;
	int fd;

	*data = malloc(v->size ? v->size : 1);
	if (!*data)
		return -ENOMEM;
	pthread_rwlock_rdlock(&st->idx_lock); /* the segment table may grow */
	fd = store_seg_fd(st, v->seg);
	if (fd >= 0)
		n = pread(fd, *data, v->size, (off_t)ver_content_off(v));
	pthread_rwlock_unlock(&st->idx_lock);
	return n == (ssize_t)v->size ? store_ver_check(st, key, v, *data)
				     : -EIO;
}

/* A version's PUT; the new place is written back into *v. */
static int emit_ver(struct store *st, struct out *o, struct item *it,
		    struct ver *v, uint8_t flags, const struct store_meta *m,
		    const uint8_t *x, uint32_t xl)
{
	void *data = NULL;
	uint64_t off;
	uint32_t len;
	int rc = 0;

	if (!v->is_blob)
		rc = read_inline(st, it->key, v, &data);
	if (rc == 0)
		rc = out_entry(o, LOG_PUT,
			       flags | LOG_F_COMMIT |
				       (v->is_blob ? LOG_F_BLOB : 0),
			       it->key, v->version, v->commit_ns, v->size, m,
			       v->hash, ver_blob(v), x, xl, data,
			       v->is_blob ? 0 : v->size, &off, &len);
	free(data);
	if (rc == 0) {
		if (!v->is_blob)
			v->where = off;
		v->elen = len;
	}
	return rc;
}

static int emit_item(struct store *st, struct out *o, struct item *it,
		     int64_t at)
{
	struct store_meta hm = { .mode = 0100644 };
	uint32_t hist = it->kind == K_FILE ? it->nvers - 1 : it->nvers;
	int64_t now = store_now_ns();
	int rc = 0;

	if (it->forget)
		return 0;
	for (uint32_t i = 0; i < hist && rc == 0; i++) {
		/* A version of an ended incarnation carries its owner and
		 * mode (OWNER); the others are the key's own now. */
		struct store_meta pm = hm;
		int ended = past_meta(it->past, it->vers[i].version, &pm);

		rc = emit_ver(st, o, it, &it->vers[i],
			      LOG_F_HIST | (ended ? LOG_F_OWNER : 0), &pm,
			      NULL, 0);
	}
	if (rc == 0 && (it->kind == K_TOMB ||
			(it->kind == K_DIR && it->version)))
		rc = out_entry(o, LOG_DEL, LOG_F_COMMIT, it->key, it->version,
			       it->del_ns ? it->del_ns : now, 0, NULL, NULL, 0,
			       NULL, 0, NULL, 0, &it->state_off,
			       &it->state_len);
	if (rc == 0 && it->kind == K_DIR)
		rc = out_entry(o, LOG_MKDIR, LOG_F_COMMIT, it->key, 0, at, 0,
			       &it->meta, NULL, 0, it->xattrs, it->xattrs_len,
			       NULL, 0, &it->state_off, &it->state_len);
	if (rc == 0 && it->kind == K_FILE) {
		struct ver *v = &it->vers[it->nvers - 1];
		rc = emit_ver(st, o, it, v, 0, &it->meta, it->xattrs,
			      it->xattrs_len);
		it->state_len = v->elen;
	}
	return rc;
}

/* Step 3 for a tombstone the snapshot forgot: the output carries
 * nothing of its key, so nothing of the node may stay in the inputs.
 *
 * Invariant: a version or state entry in a segment <= last was in the
 * snapshot.  Commits since step 1 append above last (it rolled the log),
 * and only compaction, which holds compact_mu, writes at or below it.
 * So a node with nothing committed since is still that tombstone, and
 * goes.  Otherwise a commit brought the key back meanwhile (a create, a
 * rename onto it, a mkdir; perhaps a delete again): its state entry is
 * that commit's, above last, but its older versions are in the inputs,
 * which step 4 removes (or, with one input, whose id the output takes:
 * they would read other bytes).  They are dropped, as keep_versions
 * drops versions, their blobs with them (drop_dead_blobs).  Never a
 * K_FILE's newest: it was made since the snapshot, above last.
 *
 * Versions never repeat: the key keeps its line (the node's version,
 * above the forgotten tombstone's); only the history before it is lost,
 * as it would have been had the commit come after the compaction.  A
 * reopen finds the same: the output has no entry of the key, and the
 * segments above last have all it now holds. */
static void relocate_forgotten(struct store *st, struct node *n,
			       const struct item *it, uint64_t last)
{
	if (n->kind == K_TOMB && node_version(n) == it->version &&
	    node_state_seg(n) <= last) {
		idx_remove(&st->idx, n);
		CTR_SUB(st->ntomb, 1);
		return;
	}
	for (uint32_t k = n->nvers; k-- > 0;) {
		const struct ver *v = &node_vers(n)[k];

		if (v->seg > last)
			continue;
		if (v->is_blob)
			CTR_ADD(st->dead_blob_bytes, v->size);
		node_drop_ver(n, k);
	}
}

/* Step 3: point the index at the output. */
static void relocate(struct store *st, struct snap *s)
{
	uint64_t last = s->last_input;

	for (size_t i = 0; i < s->n; i++) {
		struct item *it = &s->items[i];
		struct node *n = idx_get(&st->idx, it->key, strlen(it->key));
		if (!n)
			continue;
		if (it->forget) {
			relocate_forgotten(st, n, it, last);
			continue;
		}
		for (uint32_t j = 0; j < it->nvers; j++)
			for (uint32_t k = 0; k < n->nvers; k++) {
				struct ver *v = &node_vers(n)[k];
				if (v->version != it->vers[j].version ||
				    v->seg > last)
					continue;
				v->seg = (uint32_t)last;
				if (!v->is_blob)
					v->where = it->vers[j].where;
				v->elen = it->vers[j].elen;
			}
		/* A record's state became its current version's new PUT
		 * (emit_item), which the loop above has just placed. */
		if (node_state_seg(n) <= last && it->state_len) {
			if (it->kind == K_FILE) {
				n->flags |= N_STATE_VER;
				node_ext_trim(n);
			} else if (n->x) {
				n->x->state_seg = (uint32_t)last;
				n->x->state_len = it->state_len;
			}
		}
	}
	if (s->floor > st->floor)
		st->floor = s->floor;
	{
		uint64_t live = 0; /* summed aside: readers never see a part */
		for (size_t b = 0; b < st->idx.cap; b++)
			for (struct node *n = st->idx.tab[b]; n; n = n->hnext)
				live += node_live_bytes(n);
		CTR_SET(st->live_bytes, live);
	}
}

/* Step 4b, under commit_mu: the blobs no kept version names, into *ids
 * (malloc'ed), and *lsn, the log's end.  Every committed blob is in the
 * index (we hold commit_mu); blobs linked for commits still to come are
 * in flight (blob.c), and kept.  @return 0; -ENOMEM or -errno when the
 * list is short (the rest wait for a later compaction). */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The blobs the output names (the snapshot's versions, but a forgotten
 * tombstone's), sorted into *out (malloc'ed).  @return 0 or -ENOMEM. */
static int snap_blobs(const struct snap *s, uint64_t **out, size_t *n)
{
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < s->n; i++)
		for (uint32_t j = 0; j < s->items[i].nvers && !s->items[i].forget;
		     j++) {
			uint64_t b = ver_blob(&s->items[i].vers[j]);
			if (!b)
				continue;
			if (*n == cap) {
				size_t nc = cap ? 2 * cap : 64;
				uint64_t *p = realloc(*out, nc * sizeof(*p));
				if (!p)
					return -ENOMEM;
				*out = p;
				cap = nc;
			}
			(*out)[(*n)++] = b;
		}
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_u64);
	return 0;
}

static int list_dead_blobs(struct store *st, const struct snap *s,
			   uint64_t **ids, size_t *nids, uint64_t *lsn)
{
	size_t cap = 0, nsb = 0;
	uint64_t *sb = NULL;
	DIR *d;
	struct dirent *de;
	int rc;

	*ids = NULL;
	*nids = 0;
	*lsn = st->lsn;
	/* A blob the index no longer names may still be named by an entry
	 * that stays in the log: the output's (a version in the snapshot
	 * that a commit since pushed out), or one a commit since wrote (a
	 * blob of an id from first_new on).  A replay with a larger
	 * keep_versions, or fsck, would keep that version and find its blob
	 * gone (the open refused).  So those wait for a later compaction,
	 * whose output no longer names them.  Until 2026-12-06 they were
	 * removed here. */
	rc = snap_blobs(s, &sb, &nsb);
	if (rc < 0) {
		free(sb);
		return rc;
	}
	d = io_opendir(st->blobfd);
	if (!d) {
		free(sb);
		return -errno;
	}
	pthread_rwlock_rdlock(&st->idx_lock);
	while ((de = readdir(d))) {
		char *end;
		uint64_t id = strtoull(de->d_name, &end, 16);
		int used = 0;
		if (end != de->d_name + 16 || *end)
			continue;
		/* Linked for a commit that has not taken commit_mu yet. */
		if (id >= s->first_new || blob_in_flight(st, id) ||
		    (nsb && bsearch(&id, sb, nsb, sizeof(*sb), cmp_u64)))
			continue;
		for (size_t b = 0; b < st->idx.cap && !used; b++)
			for (struct node *n = st->idx.tab[b]; n && !used;
			     n = n->hnext)
				for (uint32_t i = 0; i < n->nvers; i++)
					if (ver_blob(&node_vers(n)[i]) == id)
						used = 1;
		if (used)
			continue;
		if (*nids == cap) {
			size_t nc = cap ? 2 * cap : 64;
			uint64_t *p = realloc(*ids, nc * sizeof(*p));
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			*ids = p;
			cap = nc;
		}
		(*ids)[(*nids)++] = id;
	}
	pthread_rwlock_unlock(&st->idx_lock);
	closedir(d);
	free(sb);
	return rc;
}

/* Step 4c, without commit_mu (the group sync takes it): remove the
 * blobs list_dead_blobs() found, once the log is durable up to @lsn.
 *
 * Why wait: the index no longer naming a blob is not enough.  The commit
 * that dropped its last version (keep_versions, a delete, a forgotten
 * tombstone brought back) may not be durable yet, and a power cut that
 * loses it brings back a log that names the blob: the output we just
 * synced (the commit came after the snapshot), or an entry above it.
 * The store would then refuse to open.  Once every commit up to @lsn is
 * durable, no state a crash can leave names these blobs: a commit names
 * only a blob in flight (a fresh id) or one the index names at that
 * moment (a move shares its source's), and these were neither when
 * listed, so no commit since names them.  Until 2026-12-06 they were
 * removed at once (test_blob, test_compaction_blob_outlives_unsynced).
 *
 * A failed wait has failed the store: the blobs stay, for a compaction
 * after the reopen. */
static void drop_dead_blobs(struct store *st, const uint64_t *ids, size_t n,
			    uint64_t lsn, uint64_t dead_bytes)
{
	char name[BLOB_NAME_LEN];

	if (n && store_wait_durable(st, lsn) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		blob_name(name, ids[i]);
		unlinkat(st->blobfd, name, 0);
	}
	/* dead_bytes: what was counted dead at the listing (0 when the
	 * list was short), all gone now (or shared with a kept version, so
	 * never dead), but for the blobs kept for a later compaction
	 * (list_dead_blobs), by which the count falls short (it only
	 * paces compaction and shows in stats).  What commits counted
	 * since stays counted. */
	CTR_SUB(st->dead_blob_bytes, dead_bytes);
}

int store_compact(struct store *st)
{
	if (st->es)
		return 0; /* etcd compacts its own history */
	struct snap s = { .ix = &st->idx };
	struct out o = { .st = st, .fd = -1 };
	char cname[40], sname[40];
	uint64_t first, fl_off;
	uint32_t fl_len;
	size_t ninputs, tomb_first, ndead = 0;
	uint64_t *dead = NULL, dead_lsn = 0, dead_bytes = 0;
	int rc;

	if (st->o.read_only || store_failed(st))
		return -EROFS;
	pthread_mutex_lock(&st->compact_mu);

	/* Step 1 */
	pthread_mutex_lock(&st->commit_mu);
	rc = store_roll(st);
	ninputs = st->nsegs - 1;
	if (rc < 0 || ninputs == 0) {
		pthread_mutex_unlock(&st->commit_mu);
		goto out;
	}
	first = st->segs[0].id;
	s.last_input = st->segs[ninputs - 1].id;
	s.floor = st->floor;
	s.first_new = blob_first_live(st);
	s.at = store_now_ns();
	rc = snap_tree(&s, st->root);
	tomb_first = s.n;
	for (size_t b = 0; b < st->idx.cap && rc == 0; b++)
		for (struct node *n = st->idx.tab[b]; n && rc == 0;
		     n = n->hnext)
			if (n->kind == K_TOMB)
				rc = snap_add(&s, n);
	if (rc == 0)
		rc = pick_forgotten(st, &s, tomb_first);
	pthread_mutex_unlock(&st->commit_mu);
	if (rc < 0)
		goto out;

	/* Step 2: inputs are immutable and only we remove them, so reading
	 * their fds without the lock is safe. */
	snprintf(cname, sizeof(cname), "%016" PRIx64 ".compact", s.last_input);
	snprintf(sname, sizeof(sname), "%016" PRIx64 ".seg", s.last_input);
	unlinkat(st->dirfd, cname, 0);
	o.fd = openat(st->dirfd, cname, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
		      0600);
	if (o.fd < 0) {
		rc = -errno;
		goto out;
	}
	store_own(st, o.fd);
	o.cap = 1 << 20;
	o.buf = malloc(o.cap);
	if (!o.buf) {
		rc = -ENOMEM;
		goto out;
	}
	{
		uint8_t hdr[LOG_SEG_HDR];
		log_seg_header(hdr, s.last_input, first);
		memcpy(o.buf, hdr, sizeof(hdr));
		o.len = sizeof(hdr);
	}
	if (s.floor)
		rc = out_entry(&o, LOG_FLOOR, LOG_F_COMMIT, "", s.floor,
			       store_now_ns(), 0, NULL, NULL, 0, NULL, 0, NULL,
			       0, &fl_off, &fl_len);
	for (size_t i = 0; i < s.n && rc == 0; i++)
		rc = emit_item(st, &o, &s.items[i], s.at);
	if (rc == 0)
		rc = out_flush(&o);
	if (rc == 0 && io_sync(st, o.fd) < 0)
		rc = -EIO;
	if (rc < 0)
		goto out;

	/* Step 3 */
	pthread_mutex_lock(&st->commit_mu);
	pthread_rwlock_wrlock(&st->idx_lock);
	{
		/* The hint of the segment the output replaces is for
		 * other bytes: gone first (the directory's sync below
		 * covers both), or a crash before the output's own hint
		 * is written would leave it saying that bytes the output
		 * does not hold were on disk (HINT_F_DURABLE). */
		char hn[40];
		snprintf(hn, sizeof(hn), "%016" PRIx64 ".hint", s.last_input);
		unlinkat(st->dirfd, hn, 0);
	}
	if (renameat(st->dirfd, cname, st->dirfd, sname) < 0 ||
	    io_sync(st, st->dirfd) < 0) {
		rc = -errno;
		pthread_rwlock_unlock(&st->idx_lock);
		pthread_mutex_unlock(&st->commit_mu);
		goto out;
	}
	relocate(st, &s);
	st->recent_len = 0; /* segment s.last_input now holds other bytes */
	for (size_t i = 0; i < ninputs; i++)
		close(st->segs[i].fd);
	memmove(st->segs + 1, st->segs + ninputs,
		(st->nsegs - ninputs) * sizeof(*st->segs));
	st->nsegs -= ninputs - 1;
	st->segs[0] = (struct seg){ .id = s.last_input, .fd = o.fd,
				    .size = o.size, .prealloc = o.size };
	o.fd = -1;
	{
		uint64_t log = 0;
		for (size_t i = 0; i < st->nsegs; i++)
			log += st->segs[i].size;
		CTR_SET(st->log_bytes, log);
	}
	CTR_ADD(st->live_bytes, LOG_SEG_HDR + (s.floor ? fl_len : 0));
	st->compactions++;
	pthread_rwlock_unlock(&st->idx_lock);

	/* Step 4 */
	{
		char nm[40];
		for (uint64_t id = first; id < s.last_input; id++) {
			snprintf(nm, sizeof(nm), "%016" PRIx64 ".seg", id);
			unlinkat(st->dirfd, nm, 0);
			snprintf(nm, sizeof(nm), "%016" PRIx64 ".hint", id);
			unlinkat(st->dirfd, nm, 0);
		}
	}
	store_write_hint(st, s.last_input, o.hint, o.hint_len,
			 st->segs[0].fd, o.size, 1); /* synced in step 2 */
	if (list_dead_blobs(st, &s, &dead, &ndead, &dead_lsn) == 0)
		dead_bytes = __atomic_load_n(&st->dead_blob_bytes,
					     __ATOMIC_RELAXED);
	pthread_mutex_unlock(&st->commit_mu);
	drop_dead_blobs(st, dead, ndead, dead_lsn, dead_bytes);
out:
	if (o.fd >= 0) {
		close(o.fd);
		unlinkat(st->dirfd, cname, 0);
	}
	free(o.buf);
	free(o.hint);
	free(dead);
	snap_free(&s);
	pthread_mutex_unlock(&st->compact_mu);
	return rc;
}

/* store.c - the index's one way to change (store_apply), the log tail
 * (hints, segments, rolls, preallocation, appends) and the reserve.
 * Opening is in open.c, replay in replay.c, the commit path in ops.c
 * (commit_batch), group syncs in sync.c.
 *
 * Invariants kept here:
 * - Every change goes through commit_batch(): encode entries, append them
 *   with one write under commit_mu (store_append_batch), then apply the
 *   very bytes written to the index with store_apply(), the function
 *   replay uses.  So the index after a restart is the index before it.
 * - A commit is in the kernel (pwrite returned) before its call returns;
 *   with sync_always it is durable (fdatasync, shared by a group).
 * - A group's entries are written by one pwrite into one segment.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "etcd_store.h"
#include "store_int.h"

#define DEF_KEEP 8
#define DEF_TOMBS 1000000
#define DEF_SEGSZ (64ull << 20)
#define DEF_INLINE (64ull << 10)
#define DEF_RESERVE (8ull << 20)
#define PREALLOC_STEP (4ull << 20)
/* A fill and its sync hold commit_mu: 1 MiB keeps that stall short,
 * and one journal commit per 1 MiB of log is noise beside a commit's
 * own sync (4 MiB measured no faster on ext4). */
#define ZERO_STEP (1ull << 20)

/* With sync_always the active segment's tail is zeros written ahead,
 * inside the file size, rather than fallocate'd with KEEP_SIZE: a
 * commit's fdatasync is then a pure data overwrite (no size change, no
 * unwritten extent to convert, so no journal commit), and the metadata
 * is made durable once per ZERO_STEP.  Without sync_always nothing
 * waits on fdatasync, and the zeros would only double the writes. */
static int zero_tail(const struct store *st)
{
	return st->o.sync_always;
}

/* Write zeros over [a->prealloc, to) of the active segment and make
 * them durable, before any commit that lands there is acknowledged.
 * Caller holds commit_mu.  Invariant (zero_tail): the file holds zeros
 * from a->size to its end, and its size is at least a->prealloc, made
 * durable.  A fill that fails part-way is given back (its space may be
 * what the RESERVE fallback needs); zeros it leaves are a clean end.
 * @return 0; -ENOSPC or the write's errno; -EIO after a failed sync
 * (the store fails, as for any sync: store_fail). */
static int zero_fill(struct store *st, struct seg *a, uint64_t to)
{
	/* Never written: its pages stay the kernel's shared zero page. */
	static uint8_t zeros[ZERO_STEP];
	uint64_t off = a->prealloc;

	while (off < to) {
		size_t want = to - off < sizeof(zeros) ? (size_t)(to - off)
						       : sizeof(zeros);
		ssize_t n = io_pwrite(st, a->fd, zeros, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int rc = n < 0 ? -errno : -ENOSPC;
			io_ftruncate(st, a->fd, (off_t)a->prealloc);
			return rc;
		}
		off += (uint64_t)n;
	}
	if (io_sync(st, a->fd) < 0)
		return store_fail(st, -EIO);
	a->prealloc = to;
	return 0;
}

int64_t store_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t store_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void store_err(struct store *st, const char *fmt, ...)
{
	va_list ap;

	if (!st->o.errbuf || !st->o.errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(st->o.errbuf, st->o.errlen, fmt, ap);
	va_end(ap);
}

/* Root's daemon (or recctl) in a store another user made: its files made
 * root's, 0600, kept that user from opening the store again.  A file
 * with another name too is not one root made here: the store's owner
 * hard-linked it in (a LOCK linked to a root file), and chowned it would
 * be theirs. */
void store_own(struct store *st, int fd)
{
	struct stat sb;

	if (!st->own || fd < 0 || fstat(fd, &sb) < 0 ||
	    (!S_ISDIR(sb.st_mode) && sb.st_nlink > 1))
		return;
	if (fchown(fd, st->own_uid, st->own_gid) < 0) {
		/* Best effort: the file works for root either way. */
	}
}

/* A directory just made: by a descriptor, since its owner may have put
 * something else at @name since. */
void store_own_at(struct store *st, int dirfd, const char *name)
{
	int fd;

	if (!st->own)
		return;
	fd = openat(dirfd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		store_own(st, fd);
		close(fd);
	}
}

void store_damage(struct store *st, int kind, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	store_err(st, "%s", msg);
	st->damaged |= kind;
	/* A read-only open serves what is before the damage: without this
	 * line, what is after it would be dropped without a word (recfs
	 * -o ro, recctl stats), which the spec rules out. */
	if (st->o.read_only)
		fprintf(stderr, "recfs: %s\n", msg);
}

/* Copied from glibc's static initializer: the same mutex as an
 * attribute object would give, without four calls at every open file. */
void store_mutex_init(pthread_mutex_t *mu)
{
	static const pthread_mutex_t adaptive =
		PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;

	*mu = adaptive;
}

void store_hash_hex(const uint8_t hash[16], char out[33])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hx[hash[i] >> 4];
		out[2 * i + 1] = hx[hash[i] & 15];
	}
	out[32] = 0;
}

/* Once a sync has failed we cannot know what is on disk: refuse changes
 * until the store is reopened, rather than pretend. */
int store_fail(struct store *st, int err)
{
	return store_stop(st, "sync failed", err);
}

int store_stop(struct store *st, const char *why, int err)
{
	__atomic_store_n(&st->failed, 1, __ATOMIC_RELEASE);
	fprintf(stderr, "recfs: store %s: %s (%s); read-only until "
		"reopened\n", st->dir, why, strerror(-err));
	return err;
}

static void seg_name(char *buf, size_t len, uint64_t id, const char *ext)
{
	snprintf(buf, len, "%016" PRIx64 ".%s", id, ext);
}

int store_seg_fd(struct store *st, uint64_t id)
{
	size_t lo = 0, hi = st->nsegs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (st->segs[mid].id == id)
			return st->segs[mid].fd;
		if (st->segs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int store_open_blob(struct store *st, uint64_t id)
{
	char name[BLOB_NAME_LEN];
	int fd;

	blob_name(name, id);
	/* O_NONBLOCK: a FIFO in its place (-o ro serves a store with
	 * one) waited for a writer for ever; now its read fails.
	 * O_NOFOLLOW: a link in its place names a file outside the store,
	 * whose bytes are not the version's to serve (its read fails). */
	fd = openat(st->blobfd, name,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

/* Read from one kept version.  Caller holds idx_lock (segments stay). */
int store_read_ver(struct store *st, const struct ver *v, void *buf,
		   size_t len, uint64_t off, ssize_t *got)
{
	int fd, own = 0;
	ssize_t n;

	if (off >= v->size) {
		*got = 0;
		return 0;
	}
	if (len > v->size - off)
		len = (size_t)(v->size - off);
	if (ver_blob(v)) {
		fd = store_open_blob(st, ver_blob(v));
		own = 1;
		if (fd < 0)
			return -EIO;
	} else {
		fd = store_seg_fd(st, v->seg);
		if (fd < 0)
			return -EIO;
		off += ver_content_off(v);
	}
	n = pread(fd, buf, len, (off_t)off);
	if (own)
		close(fd);
	if (n < 0)
		return -EIO;
	*got = n;
	return 0;
}

/* ---- Applying entries (live and replay) ---------------------------- */

static int add_ver(struct store *st, struct node *n, const struct ver *v)
{
	uint64_t dead = 0;
	int rc = node_add_ver(n, v, st->o.keep_versions, &dead);

	if (dead)
		CTR_ADD(st->dead_blob_bytes, dead);
	node_past_trim(n);
	return rc;
}

/* The state entry is now one that is no version's PUT.  n has an ext. */
static void state_at(struct node *n, uint64_t seg, uint32_t len)
{
	n->x->state_seg = (uint32_t)seg;
	n->x->state_len = len;
	n->flags &= (uint8_t)~N_STATE_VER;
}

struct node *store_parent_of(struct store *st, const char *key, size_t klen)
{
	size_t plen = key_parent_len(key, klen);

	/* The root is the key "" and is never removed: no lookup. */
	return plen ? idx_get(&st->idx, key, plen) : st->root;
}

/* The owner and mode record n's versions keep when it ends (struct
 * past): its own, less the read bits that users other than its owner
 * had only through the directories above it then.  Those directories
 * may go (renamed away, removed) and another user make one of their
 * names again: alice's 0644 record in her 0700 directory would then
 * read as 0644 under bob's new directory of that name. */
static struct store_meta ended_meta(struct store *st, struct node *n)
{
	struct store_meta m = node_meta(&st->idx, n);
	const char *k = n->key;
	size_t kl = n->klen;

	while (kl) {
		struct node *p = store_parent_of(st, k, kl);
		struct store_meta pm;

		if (!p || p->kind != K_DIR)
			break;
		pm = node_meta(&st->idx, p);
		meta_through_dir(&m, &pm);
		k = p->key;
		kl = p->klen;
	}
	return m;
}

/* An entry that links a name into directory p or unlinks one from it
 * sets p's mtime and ctime to its commit time, as a local filesystem
 * does: programs that poll a directory's mtime (maildir readers,
 * importlib's cache, backup tools) see the change.  No entry of its own:
 * it is derived here, for live commits and replay alike.  p's own state
 * entry (MKDIR, META) carries its times whole, and an entry no later
 * than it leaves them: so a compacted segment, whose MKDIR of every
 * directory is stamped with the snapshot's time (compact.c), restores
 * them as they were, and the records it re-writes beneath, each looking
 * like a new name, move nothing.  Commit times are taken under
 * commit_mu, so live they only grow (a clock stepped back leaves a
 * directory's times until the clock passes them again). */
static void dir_touch(struct node *p, int64_t t)
{
	if (!p || p->kind != K_DIR || t <= p->x->dir_ns)
		return;
	p->mtime_ns = t;
	p->ctime_ns = t;
}

/* Checks are what the index's invariants (struct node) need; a log
 * that breaks them is corrupt. */
int store_apply(struct store *st, const struct log_entry *e, uint64_t seg,
		uint64_t off, struct node *known)
{
	struct node *n, *p = NULL;
	struct log_body b;
	struct ver v, *newest;
	int rc = 0, was_live, names;

	if (e->type == LOG_FLOOR) {
		if (e->version > st->floor)
			st->floor = e->version;
		CTR_ADD(st->live_bytes, e->len);
		return 0;
	}
	if (known && known->klen == e->key_len &&
	    memcmp(known->key, e->key, e->key_len) == 0)
		n = known;
	else
		n = idx_get(&st->idx, e->key, e->key_len);
	if (e->type == LOG_PUT || e->type == LOG_META || e->type == LOG_MKDIR) {
		if (log_body_decode(e->body, e->body_len, &b) < 0)
			return -EUCLEAN;
	}
	if (e->key_len && (e->type == LOG_PUT || e->type == LOG_MKDIR) &&
	    !(e->flags & LOG_F_HIST)) {
		p = store_parent_of(st, e->key, e->key_len);
		if (!p || p->kind != K_DIR)
			return -EUCLEAN;
	}
	was_live = n && (n->kind == K_FILE || n->kind == K_DIR);
	/* Whether the entry adds or takes a name in p (dir_touch): a PUT or
	 * MKDIR of a key that was not live, or any that is part of a
	 * rename (the group's entries before its last: a rename over a
	 * record is a new name in its directory too); a DEL or RMDIR of a
	 * live key (a compacted tombstone's DEL is not). */
	if (e->type == LOG_PUT || e->type == LOG_MKDIR)
		names = p && (!was_live || !(e->flags & LOG_F_COMMIT));
	else
		names = was_live && (e->type == LOG_DEL ||
				     e->type == LOG_RMDIR);
	if (names && !p)
		p = store_parent_of(st, e->key, e->key_len);
	if (!n) {
		/* A DEL may stand alone: compaction keeps a tombstone's
		 * line without the record it ended. */
		if (e->type != LOG_PUT && e->type != LOG_MKDIR &&
		    e->type != LOG_DEL)
			return -EUCLEAN;
		rc = idx_add(&st->idx, e->key, e->key_len, &n);
		if (rc < 0)
			return rc;
	}
	CTR_SUB(st->live_bytes, node_live_bytes(n));
	switch (e->type) {
	case LOG_PUT:
		memset(&v, 0, sizeof(v));
		v.version = e->version;
		v.size = e->value_len;
		v.commit_ns = e->time_ns;
		memcpy(v.hash, b.hash, 16);
		v.seg = (uint32_t)seg;
		v.elen = e->len;
		if (e->flags & LOG_F_BLOB) {
			v.is_blob = 1;
			v.where = b.blob_id;
			st->blobs_seen = 1;
		} else {
			v.where = off;
		}
		/* Blob ids start at 1; inline content ends the entry (so
		 * ver_content_off finds it). */
		if (v.is_blob ? !v.where
			      : e->len != log_entry_size(e->key_len,
							 e->body_len,
							 e->value_len)) {
			rc = -EUCLEAN;
			break;
		}
		newest = node_newest(n);
		if (e->flags & LOG_F_HIST) {
			if (n->kind == K_FILE && e->version > newest->version) {
				rc = -EUCLEAN;
				break;
			}
			if (!n->kind && !node_ext(n)) {
				rc = -ENOMEM;
				break;
			}
			/* The newest version re-written in place: the state
			 * stays the entry it was, now no version's. */
			if ((n->flags & N_STATE_VER) &&
			    newest->version == v.version) {
				if (!node_ext(n)) {
					rc = -ENOMEM;
					break;
				}
				state_at(n, newest->seg, newest->elen);
			}
			rc = add_ver(st, n, &v);
			/* a version of an ended incarnation (compact.c) */
			if (rc == 0 && (e->flags & LOG_F_OWNER))
				rc = node_past_add(n, v.version, &b.meta);
			if (rc == 0 && !n->kind) {
				/* a line known only by its history */
				n->kind = K_TOMB;
				n->x->version = e->version;
				CTR_ADD(st->ntomb, 1);
			}
			break;
		}
		if (n->kind == K_DIR ||
		    (newest && newest->version >= v.version)) {
			rc = -EUCLEAN;
			break;
		}
		/* A rename over a live record (a PUT before its group's
		 * last) ends that record: its versions keep its owner. */
		if (n->kind == K_FILE && !(e->flags & LOG_F_COMMIT)) {
			struct store_meta om = ended_meta(st, n);

			rc = node_past_add(n, newest->version, &om);
			if (rc < 0)
				break;
		}
		rc = node_set_xattrs(n, b.xattrs, b.xattrs_len);
		if (rc == 0)
			rc = node_set_meta(&st->idx, n, &b.meta);
		if (rc == 0)
			rc = add_ver(st, n, &v);
		if (rc < 0)
			break;
		if (n->kind == K_TOMB)
			CTR_SUB(st->ntomb, 1);
		n->kind = K_FILE;
		n->flags |= N_STATE_VER;
		node_ext_trim(n);
		node_link(p, n);
		break;
	case LOG_META:
		if (n->kind != K_FILE && n->kind != K_DIR) {
			rc = -EUCLEAN;
			break;
		}
		if (!node_ext(n)) {
			rc = -ENOMEM;
			break;
		}
		rc = node_set_meta(&st->idx, n, &b.meta);
		if (rc == 0)
			rc = node_set_xattrs(n, b.xattrs, b.xattrs_len);
		if (n->kind == K_DIR && b.xattrs_len)
			__atomic_store_n(&st->dir_xattrs, 1, __ATOMIC_RELEASE);
		if (n->kind == K_DIR)
			n->x->dir_ns = e->time_ns;
		state_at(n, seg, e->len);
		break;
	case LOG_DEL:
		if (n->kind == K_DIR) {
			rc = -EUCLEAN;
			break;
		}
		if (!node_ext(n)) {
			rc = -ENOMEM;
			break;
		}
		/* The record ends: its kept versions stay readable under
		 * its owner and mode now, whoever makes a record of the
		 * name later (fs/history.c). */
		if (n->kind == K_FILE) {
			struct store_meta om = ended_meta(st, n);

			rc = node_past_add(n, node_version(n), &om);
			if (rc < 0)
				break;
		}
		node_unlink(n);
		if (n->kind != K_TOMB)
			CTR_ADD(st->ntomb, 1);
		n->kind = K_TOMB;
		n->x->version = e->version;
		n->x->del_ns = e->time_ns;
		node_set_xattrs(n, NULL, 0);
		state_at(n, seg, e->len);
		break;
	case LOG_MKDIR:
		if (n->kind == K_FILE) {
			rc = -EUCLEAN;
			break;
		}
		if (!node_ext(n)) {
			rc = -ENOMEM;
			break;
		}
		if (n->kind == K_TOMB)
			CTR_SUB(st->ntomb, 1);
		n->kind = K_DIR;
		n->x->dir_ns = e->time_ns;
		rc = node_set_meta(&st->idx, n, &b.meta);
		if (rc == 0)
			rc = node_set_xattrs(n, b.xattrs, b.xattrs_len);
		if (b.xattrs_len)
			__atomic_store_n(&st->dir_xattrs, 1, __ATOMIC_RELEASE);
		state_at(n, seg, e->len);
		if (p && !(n->flags & N_LINKED))
			p->x->ndirs++;
		if (p)
			node_link(p, n);
		break;
	case LOG_RMDIR:
		if (n->kind != K_DIR || node_child(n) || n == st->root) {
			rc = -EUCLEAN;
			break;
		}
		node_unlink(n);
		if (p && p->x->ndirs)
			p->x->ndirs--;
		dir_touch(p, e->time_ns);
		if (!node_version(n) && !n->nvers) {
			idx_remove(&st->idx, n);
			return 0;
		}
		n->kind = K_TOMB;
		n->x->del_ns = e->time_ns;
		CTR_ADD(st->ntomb, 1);
		/* A tombstone's xattrs are never read: free them. */
		node_set_xattrs(n, NULL, 0);
		state_at(n, seg, e->len);
		break;
	default:
		rc = -EUCLEAN;
	}
	if (rc == 0 && names && e->type != LOG_RMDIR)
		dir_touch(p, e->time_ns);
	CTR_ADD(st->live_bytes, node_live_bytes(n));
	return rc;
}

/* ---- The log tail -------------------------------------------------- */

void store_hint_add(struct store *st, const uint8_t *entry, uint64_t off)
{
	size_t keep = LOG_ENTRY_HDR + log_get16(entry + 14) +
		      log_get32(entry + 40), need = 8 + keep;

	if (!st->hint)
		return; /* a failed allocation only costs a rescan later */
	if (st->hint_len + need > st->hint_cap) {
		size_t ncap = st->hint_cap * 2 + need;
		uint8_t *nh = realloc(st->hint, ncap);
		if (!nh) {
			free(st->hint);
			st->hint = NULL;
			return;
		}
		st->hint = nh;
		st->hint_cap = ncap;
	}
	log_put64(st->hint + st->hint_len, off);
	memcpy(st->hint + st->hint_len + 8, entry, keep);
	memset(st->hint + st->hint_len + 8, 0, 8); /* no per-entry checksum */
	st->hint_len += need;
}

static int write_hint(struct store *st, uint64_t id, const uint8_t *recs,
		      size_t len, uint64_t seg_size, uint64_t seg_hash,
		      int durable)
{
	char name[40], tmp[48];
	uint8_t hdr[LOG_HINT_HDR], sum[8];
	XXH3_state_t *x;
	int fd, rc = 0;

	x = XXH3_createState();
	if (!x)
		return -ENOMEM;
	seg_name(name, sizeof(name), id, "hint");
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	memcpy(hdr, HINT_MAGIC, 8);
	log_put32(hdr + 8, LOG_FORMAT);
	log_put32(hdr + 12, durable ? HINT_F_DURABLE : 0);
	log_put64(hdr + 16, id);
	log_put64(hdr + 24, seg_size);
	log_put64(hdr + 32, seg_hash);
	XXH3_64bits_reset(x);
	XXH3_64bits_update(x, hdr, sizeof(hdr));
	log_xxh64_update(x, recs, len);
	log_put64(sum, XXH3_64bits_digest(x));
	XXH3_freeState(x);
	/* A new file, never what is at the name: the store's owner may have
	 * put a symlink there, and root's daemon wrote over (and gave to
	 * that owner, store_own) the file it named. */
	unlinkat(st->dirfd, tmp, 0);
	fd = openat(st->dirfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	store_own(st, fd);
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
	    (len && write(fd, recs, len) != (ssize_t)len) ||
	    write(fd, sum, 8) != 8)
		rc = -EIO;
	close(fd);
	/* A hint is only an accelerator: a bad or missing one is rebuilt
	 * from the segment, so it needs no fsync. */
	if (rc == 0 && renameat(st->dirfd, tmp, st->dirfd, name) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(st->dirfd, tmp, 0);
	return rc;
}

int store_write_hint(struct store *st, uint64_t id, const uint8_t *recs,
		     size_t len, int seg_fd, uint64_t seg_size, int durable)
{
	uint64_t seg_hash;
	int rc = log_file_hash(seg_fd, seg_size, &seg_hash);

	return rc < 0 ? rc : write_hint(st, id, recs, len, seg_size, seg_hash,
					durable);
}

int store_write_active_hint(struct store *st, int durable)
{
	struct seg *a = &st->segs[st->nsegs - 1];

	if (!st->hint)
		return 0;
	if (!st->seg_hash || !st->seg_hash_ok)
		return store_write_hint(st, a->id, st->hint, st->hint_len,
					a->fd, a->size, durable);
	return write_hint(st, a->id, st->hint, st->hint_len, a->size,
			  XXH3_64bits_digest(st->seg_hash), durable);
}

/* ahead: bytes to allocate after the header (the reservations a roll
 * carries over); *prealloc is where the allocation ends.  sfd: the
 * leaders' descriptions of it (struct store, act_sfd), opened before
 * anything is written, so that each sees every writeback error. */
static int seg_create(struct store *st, uint64_t id, uint64_t first_id,
		      const char *ext, uint64_t ahead, int *out,
		      uint64_t *prealloc, int sfd[2])
{
	char name[40];
	uint8_t hdr[LOG_SEG_HDR];
	int fd, rc = 0;

	char tmp[48];

	/* The name appears only with its whole header: a crash leaves a
	 * .tmp (removed at open), never a segment without a header. */
	seg_name(name, sizeof(name), id, ext);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	unlinkat(st->dirfd, tmp, 0);
	fd = openat(st->dirfd, tmp, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	store_own(st, fd);
	sfd[0] = openat(st->dirfd, tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	sfd[1] = sfd[0] < 0 ? -1
			   : openat(st->dirfd, tmp,
				    O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (sfd[1] < 0) {
		rc = -errno;
		goto out;
	}
	log_seg_header(hdr, id, first_id);
	*prealloc = LOG_SEG_HDR;
	errno = 0;
	if (io_pwrite(st, fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
		rc = errno ? -errno : -EIO;
		goto out;
	}
	if (ahead && zero_tail(st)) {
		/* The sync below makes them durable with the header. */
		uint8_t *zeros = calloc(1, (size_t)ahead);
		ssize_t n = -1;

		errno = ENOMEM;
		if (zeros) {
			errno = 0;
			n = io_pwrite(st, fd, zeros, (size_t)ahead,
				      LOG_SEG_HDR);
		}
		free(zeros);
		if (n != (ssize_t)ahead) { /* short: the disk is full */
			rc = errno ? -errno : -ENOSPC;
			goto out;
		}
		*prealloc = LOG_SEG_HDR + ahead;
	} else if (ahead) {
		if (io_fallocate(st, fd, FALLOC_FL_KEEP_SIZE, LOG_SEG_HDR,
				 (off_t)ahead) == 0)
			*prealloc = LOG_SEG_HDR + ahead;
		else if (errno == EOPNOTSUPP)
			*prealloc = UINT64_MAX;
		else {
			rc = -errno;
			goto out;
		}
	}
	if ((st->o.sync_always && io_sync(st, fd) < 0) ||
	    renameat(st->dirfd, tmp, st->dirfd, name) < 0)
		rc = errno ? -errno : -EIO;
out:
	if (rc < 0) {
		close(fd);
		for (int i = 0; i < 2; i++)
			if (sfd[i] >= 0)
				close(sfd[i]);
		unlinkat(st->dirfd, tmp, 0);
		return rc;
	}
	*out = fd;
	return 0;
}

/* Seal the active segment (hint, give back preallocation) and start the
 * next one.  Caller holds commit_mu.  The new segment is made, with
 * room for the staged changes' reservations, before the old one gives
 * its tail back: a roll that fails leaves the old one active, still
 * backing them. */
int store_roll(struct store *st)
{
	struct seg *a = st->nsegs ? &st->segs[st->nsegs - 1] : NULL;
	struct seg *ns;
	uint64_t id = a ? a->id + 1 : 1, prealloc;
	int fd, sfd[2], rc, cut = 0;

	if (id > SEG_ID_MAX)
		return -EOVERFLOW;
	if (a && st->o.sync_always && io_sync(st, a->fd) < 0)
		return store_fail(st, -EIO);
	/* Not synced here (a roll must not stall commits for a sync of
	 * up to a whole segment): store_wait_durable() syncs it, and the
	 * directory, before it promises anything written up to now. */
	if (a && !st->o.sync_always && !st->dirty_seg)
		st->dirty_seg = a->id;
	rc = seg_create(st, id, id, "seg", st->resv, &fd, &prealloc, sfd);
	if (rc == -ENOSPC &&
	    store_reserve_slice(st, LOG_SEG_HDR + st->resv) == 0)
		rc = seg_create(st, id, id, "seg", st->resv, &fd, &prealloc,
				sfd);
	/* Out of inodes a slice frees none: the whole reserve's file does. */
	if (rc == -ENOSPC && store_reserve(st, 0) == 0)
		rc = seg_create(st, id, id, "seg", st->resv, &fd, &prealloc,
				sfd);
	if (rc < 0)
		return rc;
	if (a) {
		if (io_ftruncate(st, a->fd, (off_t)a->size) < 0) {
			char name[40];
			rc = -errno;
			seg_name(name, sizeof(name), id, "seg");
			unlinkat(st->dirfd, name, 0);
			goto fail;
		}
		/* Synced above only with sync_always: otherwise its
		 * bytes may still be lost to a crash, and the hint must
		 * not say they cannot (HINT_F_DURABLE). */
		store_write_active_hint(st, st->o.sync_always);
		cut = 1;
	}
	/* The new segment's name must be durable before a commit in it is
	 * promised.  Failing here leaves it on disk, empty: a reopen reads
	 * it as the newest segment, with nothing in it. */
	if (st->o.sync_always && io_sync(st, st->dirfd) < 0) {
		rc = store_fail(st, -EIO);
		goto fail;
	}
	/* Readers look segments up under idx_lock: grow it under it too. */
	pthread_rwlock_wrlock(&st->idx_lock);
	ns = realloc(st->segs, (st->nsegs + 1) * sizeof(*ns));
	if (!ns) {
		pthread_rwlock_unlock(&st->idx_lock);
		rc = -ENOMEM;
		goto fail;
	}
	st->segs = ns;
	st->segs[st->nsegs++] =
		(struct seg){ .id = id, .fd = fd, .size = LOG_SEG_HDR,
			      .prealloc = prealloc };
	pthread_rwlock_unlock(&st->idx_lock);
	/* A leader syncing the old segment holds its own dup. */
	for (int i = 0; i < 2; i++) {
		if (st->act_sfd[i] >= 0)
			close(st->act_sfd[i]);
		st->act_sfd[i] = sfd[i];
	}
	CTR_ADD(st->log_bytes, LOG_SEG_HDR);
	CTR_ADD(st->live_bytes, LOG_SEG_HDR);
	st->hint_len = 0;
	if (!st->hint) {
		st->hint_cap = 1 << 16;
		st->hint = malloc(st->hint_cap);
	}
	if (!st->seg_hash)
		st->seg_hash = XXH3_createState();
	if (st->seg_hash) {
		uint8_t hdr[LOG_SEG_HDR];
		/* seg_create wrote exactly this header. */
		log_seg_header(hdr, id, id);
		XXH3_64bits_reset(st->seg_hash);
		XXH3_64bits_update(st->seg_hash, hdr, sizeof(hdr));
		st->seg_hash_ok = 1;
	}
	return 0;
fail:
	/* The old segment stays active, cut to its entries: what was
	 * allocated past them is gone, and the next append must allocate
	 * again (space is taken at a write, never at a commit). */
	if (cut)
		a->prealloc = a->size;
	close(fd);
	close(sfd[0]);
	close(sfd[1]);
	return rc;
}

/* Allocate the active segment's tail up to want (and a step beyond,
 * if there is room for it): fallocate with KEEP_SIZE, or zeros written
 * and synced (zero_tail).  Caller holds commit_mu.  @return 0;
 * -EOPNOTSUPP (no fallocate here: a->prealloc becomes UINT64_MAX; never
 * with zero_tail); -ENOSPC or another errno of fallocate or the fill;
 * -EIO when the fill's sync failed (the store has failed). */
static int prealloc_to(struct store *st, struct seg *a, uint64_t want)
{
	int rc;

	if (want <= a->prealloc)
		return 0;
	if (zero_tail(st)) {
		rc = zero_fill(st, a, want + ZERO_STEP);
		if (rc == -ENOSPC)
			rc = zero_fill(st, a, want);
		return rc;
	}
	if (io_fallocate(st, a->fd, FALLOC_FL_KEEP_SIZE, (off_t)a->prealloc,
			 (off_t)(want + PREALLOC_STEP - a->prealloc)) == 0) {
		a->prealloc = want + PREALLOC_STEP;
		return 0;
	}
	if (errno == ENOSPC &&
	    io_fallocate(st, a->fd, FALLOC_FL_KEEP_SIZE, (off_t)a->prealloc,
			 (off_t)(want - a->prealloc)) == 0) {
		a->prealloc = want;
		return 0;
	}
	if (errno == EOPNOTSUPP)
		a->prealloc = UINT64_MAX;
	return -errno;
}

/* Space for the tail is allocated ahead, so that a commit after a
 * successful staged write does not meet ENOSPC; the RESERVE file is given
 * back when even that fails, so that deletes and compaction still work.
 * len bytes are appended after the reserved ones that are not own (see
 * struct store's resv): a change never writes into space promised to a
 * staged one.
 * The reserve is for what frees space, and for a record's content,
 * whose writes were checked and whose commit must not fail: any other
 * change (a setxattr, mkdir, rename, chmod) is refused with ENOSPC
 * instead of spending it, and once it is gone, as a write is
 * (store_space_ok).
 * Until 2026-12-06 any commit gave it back, and setxattr then filled
 * the disk: deletes freed nothing, since compaction, which removes
 * blobs and old segments, had no room for its output (test_reserve's
 * test_reserve_kept_for_deletes). */
static int ensure_space(struct store *st, struct seg *a, size_t len,
			uint64_t own, int spend)
{
	uint64_t want = a->size + len + (st->resv - own);

	if (!spend && store_space_ok(st) < 0)
		return -ENOSPC;
	for (int tries = 0; tries < 3; tries++) {
		int rc = prealloc_to(st, a, want);
		if (rc == 0 || rc == -EOPNOTSUPP)
			return 0; /* without fallocate, pwrite will tell */
		if (rc != -ENOSPC)
			return rc;
		/* A slice first; the whole if that was not enough. */
		if (!spend ||
		    (tries == 0 ? store_reserve_slice(st, want - a->prealloc)
				: store_reserve(st, 0)) < 0)
			break;
	}
	return -ENOSPC;
}

int store_resv_take(struct store *st, uint64_t n)
{
	struct seg *a;
	int rc = 0;

	pthread_mutex_lock(&st->commit_mu);
	a = &st->segs[st->nsegs - 1];
	if (store_failed(st))
		rc = -EROFS;
	else if (a->prealloc == UINT64_MAX)
		rc = -EOPNOTSUPP;
	else
		rc = prealloc_to(st, a, a->size + st->resv + n);
	if (rc == 0)
		CTR_ADD(st->resv, n);
	pthread_mutex_unlock(&st->commit_mu);
	return rc;
}

void store_resv_drop(struct store *st, uint64_t n)
{
	if (!n)
		return;
	pthread_mutex_lock(&st->commit_mu);
	CTR_SUB(st->resv, n);
	pthread_mutex_unlock(&st->commit_mu);
}

/* A log write that failed part-way: cut its bytes off, so that the next
 * entry does not end up followed by a torn one.  The cut also frees the
 * preallocated tail: allocate it again for the reservations. */
static int cut_torn(struct store *st, struct seg *a)
{
	int rc;

	if (io_ftruncate(st, a->fd, (off_t)a->size) < 0) {
		st->seg_hash_ok = 0;
		return store_fail(st, -EIO);
	}
	if (a->prealloc == UINT64_MAX)
		return 0;
	a->prealloc = a->size;
	rc = st->resv ? prealloc_to(st, a, a->size + st->resv) : 0;
	if (rc < 0 && rc != -EOPNOTSUPP)
		fprintf(stderr, "recfs: store %s: cannot allocate the log "
			"space of staged changes again (%s); their commits "
			"may meet ENOSPC\n", st->dir, strerror(-rc));
	return 0;
}

/* Invariant kept: what the log holds is what callers were told was
 * committed.  The cut reaches the disk before this returns, so that a
 * crash cannot bring the batch back either; the segment's running hash
 * no longer describes it (no hint is written for it). */
int store_unappend(struct store *st, uint64_t base, size_t len)
{
	struct seg *a = &st->segs[st->nsegs - 1];

	if (base + len != a->size)
		return -EINVAL; /* not the last thing appended */
	a->size = base;
	st->seg_hash_ok = 0;
	CTR_SUB(st->log_bytes, len);
	if (cut_torn(st, a) < 0 || io_sync(st, a->fd) < 0)
		return -EIO;
	return 0;
}

int store_append_batch(struct store *st, const uint8_t *buf, size_t len,
		       uint64_t own, int spend, uint64_t *lsn_end)
{
	struct seg *a = &st->segs[st->nsegs - 1];
	size_t done = 0;
	int rc;

	if (a->size > LOG_SEG_HDR && a->size + len > st->o.segment_size) {
		rc = store_roll(st);
		/* segment_size is a target: with no room for a new
		 * segment, or no descriptor for it (the daemon's table
		 * full), the old one's tail still holds the reserved
		 * commits, and a shortage fails no commit. */
		if (rc < 0 && rc != -ENOSPC && rc != -EDQUOT &&
		    rc != -EMFILE && rc != -ENFILE)
			return rc;
		a = &st->segs[st->nsegs - 1];
	}
	rc = ensure_space(st, a, len, own, spend);
	if (rc < 0)
		return rc;
	while (done < len) {
		ssize_t n = io_pwrite(st, a->fd, buf + done, len - done,
				   (off_t)(a->size + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			/* Leave no partial entry behind; a write that
			 * failed whole left nothing to cut. */
			if (done && cut_torn(st, a) < 0)
				return -EIO;
			return rc;
		}
		done += (size_t)n;
	}
	if (st->seg_hash)
		log_xxh64_update(st->seg_hash, buf, len);
	a->size += len;
	CTR_ADD(st->log_bytes, len);
	st->lsn += len;
	*lsn_end = st->lsn;
	return 0;
}

/* ---- The reserve --------------------------------------------------- */

/* hold=1: make sure RESERVE holds reserve_bytes; hold=0: give it back.
 * Under reserve_mu: a writer making it again (hold=1, from a change's
 * first write, no other lock held) must not race a commit giving it up
 * (hold=0, under commit_mu) -- it could hold a file just unlinked and
 * say the reserve is there.
 * @return 0, or -ENOSPC when it cannot be held (or was already gone). */
static int reserve_locked(struct store *st, int hold)
{
	struct stat sb;
	int fd;

	if (!hold) {
		/* What is left of a reserve a roll took a slice of
		 * (reserve_slice) is given back too. */
		if (!st->reserve_held &&
		    (fstatat(st->dirfd, "RESERVE", &sb,
			     AT_SYMLINK_NOFOLLOW) < 0 ||
		     !S_ISREG(sb.st_mode) || sb.st_size == 0))
			return -ENOSPC;
		unlinkat(st->dirfd, "RESERVE", 0);
		__atomic_store_n(&st->reserve_held, 0, __ATOMIC_RELAXED);
		fprintf(stderr, "recfs: store %s: disk full, using the "
			"reserve\n", st->dir);
		return 0;
	}
	if (st->reserve_held || st->o.reserve_bytes == 0)
		return 0;
	/* Not through a symlink, which would grow the file it names. */
	/* O_NONBLOCK: a FIFO in its place waited for a reader for ever. */
	fd = openat(st->dirfd, "RESERVE",
		    O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
		    0600);
	if (fd < 0)
		return -errno;
	store_own(st, fd);
	if (fstat(fd, &sb) < 0)
		sb.st_size = 0;
	if (io_fallocate(st, fd, 0, 0, (off_t)st->o.reserve_bytes) < 0) {
		int e = errno;
		if (e == EOPNOTSUPP) {
			close(fd);
			return 0; /* no fallocate: no reserve, nothing to
				   * promise */
		}
		/* Keep what is left of a reserve a roll sliced: it is
		 * still there for deletes and compaction.  Only a new one
		 * that could not be had goes. */
		if (sb.st_size > 0)
			(void)io_ftruncate(st, fd, sb.st_size);
		close(fd);
		if (sb.st_size == 0)
			unlinkat(st->dirfd, "RESERVE", 0);
		return -e;
	}
	close(fd);
	__atomic_store_n(&st->reserve_held, 1, __ATOMIC_RELAXED);
	return 0;
}

int store_reserve(struct store *st, int hold)
{
	int rc;

	pthread_mutex_lock(&st->reserve_mu);
	rc = reserve_locked(st, hold);
	pthread_mutex_unlock(&st->reserve_mu);
	return rc;
}

/* Give back only a slice of the reserve, @need bytes and some room for
 * the file system's own blocks: a new segment is all an open on a full
 * disk needs, a tombstone all a delete needs, and the rest stays for the
 * next of them and for compaction, even when something outside the
 * store takes the space given back.  Changes that take space are refused until it is whole
 * again (store_space_ok).  Where no slice can be cut (no reserve, or too
 * small), the whole is given back.  Until 2026-12-07 every open on a
 * full disk gave the whole reserve back: whoever wrote next outside the
 * store took it, and the open after that failed ("cannot start a
 * segment"), no record could be deleted (test_reserve's
 * test_open_on_full_disk_keeps_reserve; a delete did the same:
 * test_delete_keeps_reserve_for_open). */
int store_reserve_slice(struct store *st, uint64_t need)
{
	struct stat sb;
	int fd, rc = -1;

	need += 64 << 10;
	pthread_mutex_lock(&st->reserve_mu);
	fd = openat(st->dirfd, "RESERVE",
		    O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd >= 0 && fstat(fd, &sb) == 0 && (uint64_t)sb.st_size > need)
		rc = io_ftruncate(st, fd, sb.st_size - (off_t)need);
	if (fd >= 0)
		close(fd);
	if (rc == 0) {
		__atomic_store_n(&st->reserve_held, 0, __ATOMIC_RELAXED);
		fprintf(stderr, "recfs: store %s: disk full, using %" PRIu64
			" bytes of the reserve\n", st->dir, need);
	} else {
		rc = reserve_locked(st, 0);
	}
	pthread_mutex_unlock(&st->reserve_mu);
	return rc;
}

/* Changes that take space are refused once the reserve had to be given
 * back and cannot be taken again: that space is for deletes and
 * compaction. */
int store_space_ok(struct store *st)
{
	if (__atomic_load_n(&st->reserve_held, __ATOMIC_RELAXED) ||
	    st->o.reserve_bytes == 0)
		return 0;
	return store_reserve(st, 1) == 0 ? 0 : -ENOSPC;
}

/* replay.c - rebuilding the index at open: every live segment in id
 * order, from its hint file where one matches (hint_*), else by reading
 * its entries (replay_scan, which also finds a torn tail), applying each
 * closed group through store_apply() as a live commit does.  A segment
 * read by scan gets its hint written again (rebuild_hint).
 *
 * Invariant: the index after replay is the index the store had when the
 * last entry replayed was committed; an unclosed group applies nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "store_int.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Is @fd's file all zeros from @off to its end?  @return 1, 0, -errno. */
static int file_zero_from(int fd, uint64_t off)
{
	struct log_reader r;
	int rc = log_reader_init(&r, fd);

	if (rc < 0)
		return rc;
	rc = log_reader_rest_zero(&r, off);
	log_reader_free(&r);
	return rc;
}

/* Segment ids present, sorted. */
static int list_ids(int dirfd, const char *ext, uint64_t **ids, size_t *n)
{
	DIR *d = io_opendir(dirfd);
	struct dirent *de;
	size_t cap = 0;

	*ids = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		uint64_t id = strtoull(de->d_name, &end, 16);
		if (end != de->d_name + 16 || strcmp(end + 1, ext) != 0 ||
		    end[0] != '.')
			continue;
		if (*n == cap) {
			uint64_t *ni;
			cap = cap ? cap * 2 : 64;
			ni = realloc(*ids, cap * sizeof(*ni));
			if (!ni) {
				closedir(d);
				return -ENOMEM;
			}
			*ids = ni;
		}
		(*ids)[(*n)++] = id;
	}
	closedir(d);
	if (*n)
		qsort(*ids, *n, sizeof(**ids), cmp_u64);
	return 0;
}

/* An unclosed group: entries held until their COMMIT arrives. */
struct pending {
	struct { uint8_t *buf; uint64_t off; } *v;
	size_t n, cap;
	uint64_t start;
};

static void pending_clear(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].buf);
	p->n = 0;
}

static int pending_apply(struct store *st, struct pending *p, uint64_t id,
			 uint64_t *bad)
{
	int rc = 0;

	for (size_t i = 0; i < p->n && rc == 0; i++) {
		struct log_entry e;
		if (log_entry_decode(p->v[i].buf, log_get32(p->v[i].buf + 8),
				     &e) <= 0)
			rc = -EUCLEAN;
		else
			rc = store_apply(st, &e, id, p->v[i].off, NULL);
		if (rc < 0)
			*bad = p->v[i].off;
	}
	pending_clear(p);
	return rc;
}

static int pending_push(struct pending *p, const struct log_entry *e,
			const uint8_t *raw, uint64_t off)
{
	if (p->n == 0)
		p->start = off;
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 16;
		void *nv = realloc(p->v, nc * sizeof(*p->v));
		if (!nv)
			return -ENOMEM;
		p->v = nv;
		p->cap = nc;
	}
	p->v[p->n].buf = malloc(e->len);
	if (!p->v[p->n].buf)
		return -ENOMEM;
	memcpy(p->v[p->n].buf, raw, e->len);
	p->v[p->n].off = off;
	p->n++;
	return 0;
}

/* The record after the one at pos in a checked hint. */
static size_t hint_next(const uint8_t *buf, size_t pos)
{
	const uint8_t *h = buf + pos + 8;

	return pos + 8 + LOG_ENTRY_HDR + log_get16(h + 14) + log_get32(h + 40);
}

/* Does the entry (header h) set a key's state?  A compacted segment has
 * one such entry per key (two for a directory with a line). */
static int hint_adds_key(const uint8_t *h)
{
	return !(h[13] & LOG_F_HIST) &&
	       (h[12] == LOG_PUT || h[12] == LOG_DEL || h[12] == LOG_MKDIR);
}

/* Start fetching the index memory the record at pos will need: its
 * bucket (node == 0) or its bucket's first node (node == 1). */
static void hint_prefetch(struct store *st, const uint8_t *buf, size_t pos,
			  int node)
{
	const uint8_t *h = buf + pos + 8;

	idx_prefetch(&st->idx, (const char *)h + LOG_ENTRY_HDR,
		     log_get16(h + 14), node);
}

/* Records between a bucket's fetch and its use, and between its first
 * node's fetch and its use. */
#define HINT_AHEAD_BUCKET 8
#define HINT_AHEAD_NODE 4

/* Replay from a hint file.  @return 1 used, 0 unusable (scan instead). */
/* One buffer for every hint of a replay: a hint is tens of MiB, and
 * fresh memory for each would be faulted in and zeroed each time. */
struct hint_buf {
	uint8_t *p;
	size_t cap;
};

static int replay_hint(struct store *st, int seg_fd, uint64_t id,
		       uint64_t seg_size, struct hint_buf *hb,
		       uint64_t *durable_len)
{
	char name[40];
	struct stat sb;
	uint8_t *buf;
	size_t len, pos = LOG_HINT_HDR, nrec, pf_bucket, pf_node;
	uint64_t seg_hash;
	int fd, rc = 0;

	snprintf(name, sizeof(name), "%016" PRIx64 ".hint", id);
	/* O_NONBLOCK: a FIFO in its place waited for a writer for ever
	 * (its size, 0, then makes it unusable).  O_NOFOLLOW: a link in
	 * its place names a file outside the store; ignored, as a bad
	 * hint (a writable open's new hint replaces the link, never
	 * writes through it). */
	fd = openat(st->dirfd, name,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0 && errno == ELOOP)
		fprintf(stderr, "recfs: %s/%s: a symbolic link, not "
			"followed: ignored (its segment is read)\n", st->dir,
			name);
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) < 0 || sb.st_size < LOG_HINT_HDR + 8)
		goto out;
	len = (size_t)sb.st_size;
	if (len > hb->cap) {
		free(hb->p);
		hb->p = malloc(len);
		hb->cap = hb->p ? len : 0;
	}
	buf = hb->p;
	if (!buf || pread(fd, buf, len, 0) != (ssize_t)len)
		goto out;
	/* Unusable or not, a hint that says the segment was on disk tells
	 * the scan where a torn tail cannot be (HINT_F_DURABLE). */
	*durable_len = log_hint_durable_len(buf, len, id);
	/* Validate the file and all records before applying any: all or
	 * nothing (the check the fuzzer drives, with 64-bit sums). */
	if (log_hint_check(buf, len, id, seg_size, NULL) < 0)
		goto out;
	/* The segment must be exactly what the hint was made from: any
	 * damage since sends us to the scan, which names its offset. */
	if (log_file_hash(seg_fd, seg_size, &seg_hash) < 0 ||
	    seg_hash != log_get64(buf + 32))
		goto out;
	len -= 8;
	/* Room for the keys the hint can add, so that the table does not
	 * grow on the way (without the memory, it does).  Counting state
	 * entries, a compacted segment's kept versions do not inflate it;
	 * updates of the same keys can, and store_open fits it after. */
	for (pos = LOG_HINT_HDR, nrec = 0; pos < len; pos = hint_next(buf, pos))
		nrec += hint_adds_key(buf + pos + 8);
	idx_reserve(&st->idx, nrec);
	/* The keys come in an order the cache cannot guess: each record's
	 * bucket and first node are fetched while earlier ones apply. */
	pf_bucket = pf_node = LOG_HINT_HDR;
	for (int i = 0; i < HINT_AHEAD_BUCKET && pf_bucket < len; i++) {
		hint_prefetch(st, buf, pf_bucket, 0);
		pf_bucket = hint_next(buf, pf_bucket);
	}
	for (int i = 0; i < HINT_AHEAD_NODE && pf_node < len; i++)
		pf_node = hint_next(buf, pf_node);
	for (pos = LOG_HINT_HDR; pos < len;) {
		const uint8_t *h = buf + pos + 8;

		if (pf_bucket < len) {
			hint_prefetch(st, buf, pf_bucket, 0);
			pf_bucket = hint_next(buf, pf_bucket);
		}
		if (pf_node < len) {
			hint_prefetch(st, buf, pf_node, 1);
			pf_node = hint_next(buf, pf_node);
		}
		struct log_entry e = {
			.type = h[12],
			.flags = h[13],
			.key_len = log_get16(h + 14),
			.len = log_get32(h + 8),
			.version = log_get64(h + 16),
			.time_ns = (int64_t)log_get64(h + 24),
			.value_len = log_get64(h + 32),
			.body_len = log_get32(h + 40),
		};
		e.key = (const char *)h + LOG_ENTRY_HDR;
		e.body = h + LOG_ENTRY_HDR + e.key_len;
		rc = store_apply(st, &e, id, log_get64(buf + pos), NULL);
		if (rc < 0) {
			/* A hint that contradicts the index; or no memory,
			 * which is said as such (it was called damage). */
			if (rc != -ENOMEM)
				rc = -EUCLEAN;
			goto out;
		}
		pos = hint_next(buf, pos);
	}
	rc = 1;
out:
	close(fd);
	return rc;
}

/* Replay one segment by scanning it.  Cuts a torn tail (writable) or
 * stops there (read-only); reports corruption with its offset.
 * Invariant: no torn tail before @durable (the length a hint said was on
 * disk, or 0): damage there, a file shorter than that, or zeros where
 * entries were, is corruption.  Before 2026-12-06 a flipped bit in the
 * last entry of a sealed segment was cut as a torn tail, and with it a
 * commit that had been synced.
 * @return 0; 1 replay stopped here (read-only damage); -EUCLEAN. */
static int replay_scan(struct store *st, struct seg *s, const char *name,
		       uint64_t durable)
{
	struct log_reader r;
	struct log_entry e;
	struct pending p = { 0 };
	uint64_t off, bad = 0, cut;
	int rc, torn;

	rc = log_reader_init(&r, s->fd);
	if (rc < 0)
		return rc;
	for (;;) {
		rc = log_reader_next(&r, &e, &off);
		if (rc <= 0)
			break;
		const uint8_t *raw = r.buf + (off - r.base);
		if (!(e.flags & LOG_F_COMMIT)) {
			rc = pending_push(&p, &e, raw, off);
			if (rc < 0)
				goto out;
			continue;
		}
		rc = pending_push(&p, &e, raw, off);
		if (rc == 0)
			rc = pending_apply(st, &p, s->id, &bad);
		if (rc < 0) {
			store_err(st, "%s/%s: entry at offset %" PRIu64
				  " contradicts the index (corrupt)",
				  st->dir, name, bad);
			rc = -EUCLEAN;
			goto out;
		}
	}
	if (rc == -EUCLEAN && p.n == 0) {
		/* Zeros after the last entry are the clean end (FORMAT.md),
		 * left by the fill ahead of sync_always commits: given back
		 * without a word, and without a sync (if a crash brings them
		 * back, they are still the clean end).  Cut, a sealed
		 * segment matches its hint, which is for its entries. */
		int z = log_reader_zero_end(&r, off);
		if (z < 0) {
			rc = z;
			goto out;
		}
		if (z && off >= durable) {
			if (!st->o.read_only)
				io_ftruncate(st, s->fd, (off_t)off);
			r.file_size = off;
			rc = 0;
		}
	}
	if (rc == 0 && p.n == 0 && r.file_size >= durable) {
		s->size = r.file_size;
		goto out;
	}
	if (rc == -EIO || rc == -ENOMEM)
		goto out;
	/* Damage at off, an unclosed group at the end, or (rc 0, no group)
	 * an end before what was on disk. */
	if (rc == 0 && p.n == 0)
		off = r.file_size;
	cut = p.n ? p.start : off;
	torn = rc == 0 ? 1 : log_reader_torn(&r, off);
	if (torn < 0) {
		rc = torn;
		goto out;
	}
	if (cut < durable)
		torn = 0;
	if (!torn) {
		if (off >= r.file_size)
			store_damage(st, STORE_DAMAGE_LOG,
				     "%s/%s: ends at offset %" PRIu64 ", "
				     "but its hint says %" PRIu64 " bytes were "
				     "on disk (corrupt)", st->dir, name, off,
				     durable);
		else
			store_damage(st, STORE_DAMAGE_LOG,
				     "%s/%s: corrupt entry at offset %"
				     PRIu64, st->dir, name, off);
		if (!st->o.read_only) {
			rc = -EUCLEAN;
			goto out;
		}
		s->size = cut;
		rc = 1;
		goto out;
	}
	if (st->o.read_only) {
		s->size = cut;
		rc = 0;
		goto out;
	}
	fprintf(stderr, "recfs: %s/%s: cut torn tail at offset %" PRIu64
		" (%" PRIu64 " bytes)\n", st->dir, name, cut,
		r.file_size - cut);
	if (io_ftruncate(st, s->fd, (off_t)cut) < 0 ||
	    io_sync(st, s->fd) < 0) {
		rc = -errno;
		goto out;
	}
	s->size = cut;
	rc = 0;
out:
	pending_clear(&p);
	free(p.v);
	log_reader_free(&r);
	return rc;
}

/* Rebuild a hint for a segment that had none, by re-reading headers. */
static void rebuild_hint(struct store *st, struct seg *s)
{
	struct log_reader r;
	struct log_entry e;
	uint64_t off;
	uint8_t *save = st->hint;
	size_t save_len = st->hint_len, save_cap = st->hint_cap;

	st->hint_cap = 1 << 16;
	st->hint = malloc(st->hint_cap);
	st->hint_len = 0;
	if (st->hint && log_reader_init(&r, s->fd) == 0) {
		r.file_size = s->size;
		while (log_reader_next(&r, &e, &off) == 1)
			store_hint_add(st, r.buf + (off - r.base), off);
		log_reader_free(&r);
		/* Synced first, so that the hint may say so: the bytes
		 * read may still be only in the page cache of a daemon
		 * that was killed. */
		if (st->hint)
			store_write_hint(st, s->id, st->hint, st->hint_len,
					 s->fd, s->size,
					 io_sync(st, s->fd) == 0);
	}
	free(st->hint);
	st->hint = save;
	st->hint_len = save_len;
	st->hint_cap = save_cap;
}

int store_replay(struct store *st)
{
	uint64_t *ids = NULL, *firsts = NULL, *hids = NULL;
	struct hint_buf hb = { 0 };
	int *fds = NULL, *bad = NULL;
	uint8_t *gone = NULL;
	size_t n = 0, nfds = 0, nh = 0, nseen, i;
	int rc;

	rc = list_ids(st->dirfd, "seg", &ids, &n);
	if (rc < 0)
		return rc;
	/* n may shrink below (a read-only open stops at a bad header);
	 * out: closes every descriptor opened, not only the first n. */
	nfds = n;
	if (n && ids[n - 1] > SEG_ID_MAX) {
		store_err(st, "%s/%016" PRIx64 ".seg: segment id above the "
			  "index's limit (%#x)", st->dir, ids[n - 1],
			  SEG_ID_MAX);
		rc = -EOVERFLOW;
		goto out;
	}
	st->segs = calloc(n + 1, sizeof(*st->segs));
	firsts = calloc(n + 1, sizeof(*firsts));
	fds = malloc((n + 1) * sizeof(*fds));
	bad = calloc(n + 1, sizeof(*bad));   /* a header's error, or 0 */
	gone = calloc(n + 1, sizeof(*gone)); /* replaced by a compaction */
	/* -1 before any way out: out: closes what is not (calloc's zeros
	 * closed descriptor 0 when another allocation here failed). */
	for (i = 0; fds && i < n; i++)
		fds[i] = -1;
	if (!st->segs || !firsts || !fds || !bad || !gone) {
		rc = -ENOMEM;
		goto out;
	}
	/* Headers first: a compacted segment replaces [first, id), and any
	 * of those still here are leftovers of a crash during compaction. */
	for (i = 0; i < n; i++) {
		char name[40];
		uint8_t hdr[LOG_SEG_HDR];
		uint64_t id;

		snprintf(name, sizeof(name), "%016" PRIx64 ".seg", ids[i]);
		/* O_NONBLOCK: a FIFO in its place waited for a writer
		 * for ever (read-only; read-write opens one at once). */
		fds[i] = openat(st->dirfd, name,
				(st->o.read_only ? O_RDONLY : O_RDWR) |
					O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
		/* A link in a segment's place names a file outside the
		 * store: reading it would take that file for the log, and a
		 * writable open cuts its tail.  Not followed: damage, judged
		 * below with the bad headers (garbage if a compacted
		 * segment replaces it). */
		if (fds[i] < 0 && errno == ELOOP) {
			bad[i] = -ELOOP;
			firsts[i] = ids[i];
			continue;
		}
		if (fds[i] < 0) {
			rc = -errno;
			store_err(st, "%s/%s: %s", st->dir, name,
				  strerror(errno));
			goto out;
		}
		ssize_t got = pread(fds[i], hdr, sizeof(hdr), 0);
		/* The newest segment with no header yet (a power loss after
		 * its name reached the disk, before its first bytes) holds
		 * nothing: it is a torn tail.  A zeroed header with entries
		 * after it is not (the header reaches the disk with the
		 * first page of entries, or before): damage, reported below
		 * like any bad header.  Before 2026-12-06 the segment was
		 * removed with its commits. */
		int empty = got >= 0 && got < (ssize_t)sizeof(hdr);
		if (i == n - 1 && got == (ssize_t)sizeof(hdr) &&
		    log_all_zero(hdr, sizeof(hdr))) {
			empty = file_zero_from(fds[i], LOG_SEG_HDR);
			if (empty < 0) {
				rc = empty;
				goto out;
			}
		}
		/* Unless its hint says the segment was on disk: then its
		 * commits were synced and lost since, which is damage (until
		 * 2026-12-07 it was removed, and its records went back a
		 * version that the next change made again). */
		if (i == n - 1 && empty &&
		    log_hint_file_durable_len(st->dirfd, ids[i]) > 0)
			empty = 0;
		if (i == n - 1 && empty) {
			fprintf(stderr, "recfs: %s/%s: newest segment has no "
				"header (%zd bytes): torn, removed\n", st->dir,
				name, got);
			close(fds[i]);
			fds[i] = -1;
			if (!st->o.read_only)
				unlinkat(st->dirfd, name, 0);
			n = i;
			rc = 0;
			break;
		}
		if (got != (ssize_t)sizeof(hdr) ||
		    (rc = log_seg_check(hdr, &id, &firsts[i])) < 0 ||
		    id != ids[i]) {
			/* Judged once every header is read: a compacted
			 * segment after it may replace it (a crash during
			 * compaction left it), and then it is garbage. */
			bad[i] = rc == -EPROTONOSUPPORT ? rc : -EUCLEAN;
			firsts[i] = ids[i]; /* replaces nothing */
		}
		rc = 0;
	}
	nseen = n;
	/* A compacted segment replaces [first, id), and any of those still
	 * here are leftovers of a crash during compaction: never read, so a
	 * bad header there is no damage (fsck calls them obsolete; until
	 * 2026-12-06 such a leftover refused the open, and a read-only open
	 * served nothing).  A bad header anywhere else is: a read-only open
	 * serves the segments before it, and then only those may replace. */
	for (;;) {
		size_t b;

		for (i = 0; i < n; i++)
			gone[i] = 0;
		for (i = 0; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (!bad[i] && firsts[i] < ids[i] &&
				    ids[j] >= firsts[i])
					gone[j] = 1;
		for (b = 0; b < n && (!bad[b] || gone[b]); b++)
			;
		if (b == n)
			break;
		store_damage(st, STORE_DAMAGE_LOG,
			     "%s/%016" PRIx64 ".seg: %s", st->dir, ids[b],
			     bad[b] == -EPROTONOSUPPORT
					     ? "future format version at offset 0"
				     : bad[b] == -ELOOP
					     ? "a symbolic link, not followed"
					     : "bad segment header at offset 0");
		if (!st->o.read_only || bad[b] == -EPROTONOSUPPORT) {
			rc = bad[b] == -ELOOP ? -EUCLEAN : bad[b];
			goto out;
		}
		n = b; /* serve the segments before it */
	}
	/* A segment gone whose hint says it was on disk (HINT_F_DURABLE):
	 * its commits are lost, which is damage, as a segment cut short
	 * is (until 2026-12-07 the open went on without them, and fsck
	 * called the store clean).  A hint of a segment that a compacted
	 * one replaces is a crash's leftover, not that.  A read-only open
	 * serves the segments before it. */
	rc = list_ids(st->dirfd, "hint", &hids, &nh);
	if (rc < 0)
		goto out;
	for (size_t k = 0; k < nh; k++) {
		uint64_t h = hids[k], len;
		int known = 0;

		if (n < nseen && h >= ids[n])
			break; /* past damage already said: not served */
		for (i = 0; i < n && !known; i++) {
			if (ids[i] == h)
				known = 1;
			else if (!bad[i] && firsts[i] <= h && h < ids[i])
				known = 2; /* its segment was compacted */
		}
		/* Only its header was on disk (an open that committed
		 * nothing; a 40-byte file removed as junk): no commit is
		 * lost, and the hint is a leftover too (until 2026-12-07
		 * damage: the store refused, -o ro hid the later segments). */
		if (!known && (len = log_hint_file_durable_len(st->dirfd, h)) ==
				      LOG_SEG_HDR)
			known = 2;
		if (known == 2 && !st->o.read_only) {
			/* The leftover: fsck warned of it at every run. */
			char nm[40];

			snprintf(nm, sizeof(nm), "%016" PRIx64 ".hint", h);
			unlinkat(st->dirfd, nm, 0);
		}
		if (known || (len = log_hint_file_durable_len(st->dirfd, h)) == 0)
			continue;
		store_damage(st, STORE_DAMAGE_LOG,
			     "%s/%016" PRIx64 ".seg: missing, but its "
			     "hint says %" PRIu64 " bytes were on disk",
			     st->dir, h, len);
		if (!st->o.read_only) {
			rc = -EUCLEAN;
			goto out;
		}
		while (n && ids[n - 1] > h)
			n--;
		break;
	}
	for (i = 0; i < n; i++) {
		char nm[40];

		if (!gone[i] || fds[i] < 0)
			continue;
		close(fds[i]);
		fds[i] = -1;
		if (st->o.read_only)
			continue;
		snprintf(nm, sizeof(nm), "%016" PRIx64 ".seg", ids[i]);
		unlinkat(st->dirfd, nm, 0);
		snprintf(nm, sizeof(nm), "%016" PRIx64 ".hint", ids[i]);
		unlinkat(st->dirfd, nm, 0);
	}
	for (i = 0; i < n; i++) {
		char name[40];
		struct seg *s = &st->segs[st->nsegs];
		struct stat sb;

		if (fds[i] < 0)
			continue;
		snprintf(name, sizeof(name), "%016" PRIx64 ".seg", ids[i]);
		if (fstat(fds[i], &sb) < 0) {
			rc = -errno;
			goto out;
		}
		*s = (struct seg){ .id = ids[i], .fd = fds[i],
				   .size = (uint64_t)sb.st_size };
		fds[i] = -1;
		st->nsegs++;
		uint64_t durable = 0;
		rc = replay_hint(st, s->fd, s->id, s->size, &hb, &durable);
		if (rc == 1) {
			rc = 0;
			continue;
		}
		if (rc == -ENOMEM) {
			store_err(st, "%s/%s: no memory to apply its hint",
				  st->dir, name);
			goto out;
		}
		if (rc < 0) {
			store_err(st, "%s/%s: hint disagrees with the index",
				  st->dir, name);
			rc = -EUCLEAN;
			goto out;
		}
		rc = replay_scan(st, s, name, durable);
		if (rc < 0)
			goto out;
		if (rc == 1) { /* read-only, damaged: serve what came before */
			rc = 0;
			break;
		}
		if (!st->o.read_only)
			rebuild_hint(st, s);
	}
	for (i = 0; i < st->nsegs; i++)
		st->log_bytes += st->segs[i].size;
out:
	for (i = 0; i < nfds; i++)
		if (fds && fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(bad);
	free(gone);
	free(firsts);
	free(ids);
	free(hids);
	free(hb.p);
	return rc;
}

/* fsck_files.c - fsck's checks of the files: each segment's entries, each
 * hint against its segment, each kept blob's size and hash, and blobs
 * no entry names. */
#include "fsck_int.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- Segments ------------------------------------------------------ */

static void fsck_problem_entry(struct fsck_ctx *c, const char *seg,
			       uint64_t off, const struct log_entry *e,
			       const char *what)
{
	fprintf(c->out, "%s: %s at offset %" PRIu64 " (key ", seg, what, off);
	fsck_key_print(c->out, e->key, e->key_len);
	fprintf(c->out, " v%" PRIu64 ")\n", e->version);
	c->problems++;
}

/* What the checksum cannot catch: a body or content hash that the
 * writer got wrong.  Such an entry still applies, as it would at open. */
static void fsck_check_entry(struct fsck_ctx *c, const char *seg,
			     uint64_t off, const struct log_entry *e,
			     struct log_body *b, int *have_body)
{
	*have_body = 0;
	if (e->type != LOG_PUT && e->type != LOG_META && e->type != LOG_MKDIR)
		return;
	if (log_body_decode(e->body, e->body_len, b) < 0) {
		fsck_problem_entry(c, seg, off, e, "bad body");
		return;
	}
	*have_body = 1;
	if (e->type != LOG_PUT)
		return;
	if (!!(e->flags & LOG_F_BLOB) != !!b->blob_id) {
		fsck_problem_entry(c, seg, off, e,
				   "BLOB flag and blob id disagree");
	} else if (e->value) {
		XXH128_canonical_t canon;

		XXH128_canonicalFromHash(&canon,
					 XXH3_128bits(e->value, e->value_len));
		if (memcmp(canon.digest, b->hash, 16) != 0)
			fsck_problem_entry(c, seg, off, e,
					   "content hash mismatch");
	}
}

/* Cut a torn tail at @at, as a writable open would. */
static int fsck_cut(int fd, uint64_t at)
{
	if (ftruncate(fd, (off_t)at) < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

static void fsck_torn(struct fsck_ctx *c, struct fsck_seg *s, int fd,
		      uint64_t at, uint64_t damage, int unclosed)
{
	int err;

	fprintf(c->out, "%s: torn tail at offset %" PRIu64 " (%" PRIu64
			" bytes", s->name, at, s->size - at);
	if (unclosed && damage < s->size)
		fprintf(c->out, "; unclosed group, damaged entry at offset %"
				PRIu64, damage);
	else if (unclosed)
		fprintf(c->out, "; unclosed group");
	fputc(')', c->out);
	if (!c->repair) {
		fputc('\n', c->out);
		c->problems++;
		return;
	}
	err = fsck_cut(fd, at);
	if (err) {
		fprintf(c->out, ", cut failed: %s\n", strerror(-err));
		c->problems++;
		return;
	}
	fprintf(c->out, ", cut\n");
	s->size = at;
	c->repaired++;
}

uint64_t fsck_durable_len(struct fsck_ctx *c, uint64_t id)
{
	return log_hint_file_durable_len(c->dfd, id);
}

/* Damage at @off that would be a torn tail cut at @at, but lies where
 * the hint says the bytes were on disk: corruption, as replay has it. */
static void fsck_corrupt_durable(struct fsck_ctx *c, struct fsck_seg *s,
				 uint64_t off, uint64_t durable)
{
	if (off >= s->size)
		fprintf(c->out, "%s: ends at offset %" PRIu64 ", but its hint "
				"says %" PRIu64 " bytes were on disk (corrupt)\n",
			s->name, off, durable);
	else
		fprintf(c->out, "%s: corrupt entry at offset %" PRIu64 "\n",
			s->name, off);
	c->problems++;
	c->partial = 1;
}

int fsck_scan_seg(struct fsck_ctx *c, struct fsck_seg *s)
{
	struct log_reader r = { .fd = -1 };
	struct log_entry e;
	struct log_body b;
	uint64_t off, group_start = LOG_SEG_HDR;
	uint64_t durable = fsck_durable_len(c, s->id);
	int fd, rc, have_body, err = 0;

	fd = openat(c->dfd, s->name,
		    (c->repair ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK |
			    O_NOFOLLOW);
	if (fd < 0) {
		err = -errno;
		fprintf(c->out, "%s: %s\n", s->name, strerror(errno));
		return err;
	}
	err = log_reader_init(&r, fd);
	if (err)
		goto out;
	c->segs_checked++;
	for (;;) {
		rc = log_reader_next(&r, &e, &off);
		if (rc == 1) {
			if (c->npend == 0)
				group_start = off;
			c->entries++;
			fsck_check_entry(c, s->name, off, &e, &b, &have_body);
			err = fsck_pend_add(c, &e, s->id, off,
					    have_body ? &b : NULL);
			if (err)
				goto out;
			if (e.flags & LOG_F_COMMIT) {
				err = fsck_apply(c);
				if (err)
					goto out;
			}
			continue;
		}
		if (rc == 0) {
			/* A group is one write into one segment, so one left
			 * open at the end was cut short by a crash. */
			if (c->npend && group_start < durable)
				fsck_corrupt_durable(c, s, group_start,
						     durable);
			else if (c->npend)
				fsck_torn(c, s, fd, group_start, s->size, 1);
			else if (s->size < durable)
				fsck_corrupt_durable(c, s, s->size, durable);
			break;
		}
		if (rc != -EUCLEAN) {
			err = rc;
			fprintf(c->out, "%s: reading at offset %" PRIu64 ": %s\n",
				s->name, off, strerror(-rc));
			goto out;
		}
		/* Zeros after the last entry: the clean end, as replay
		 * has it (an open cuts them silently; so is the check). */
		rc = c->npend ? 0 : log_reader_zero_end(&r, off);
		if (rc == 0 || (rc > 0 && off < durable))
			rc = log_reader_torn(&r, off);
		else if (rc > 0)
			break;
		if (rc < 0) {
			err = rc;
			fprintf(c->out, "%s: reading after offset %" PRIu64
					": %s\n", s->name, off, strerror(-rc));
			goto out;
		}
		if (rc && (c->npend ? group_start : off) < durable)
			fsck_corrupt_durable(c, s, off, durable);
		else if (rc)
			fsck_torn(c, s, fd, c->npend ? group_start : off, off,
				  c->npend != 0);
		else {
			/* Replay stops here, as a read-only open's does; the
			 * open group never applies. */
			fprintf(c->out, "%s: corrupt entry at offset %" PRIu64
					"\n", s->name, off);
			c->problems++;
			c->partial = 1;
		}
		break;
	}
out:
	fsck_drop_pending(c);
	log_reader_free(&r);
	close(fd);
	return err;
}

/* ---- Hint files ---------------------------------------------------- */

/* A hint with a good checksum but other content than its segment would
 * be believed by an open: that is damage.  One with a bad checksum, or
 * for another length of the segment, is only ignored and rebuilt. */
static int fsck_hint_match(struct fsck_ctx *c, int hfd, uint64_t hlen,
			   const struct fsck_seg *s, const char *hname)
{
	struct log_reader r = { .fd = -1 };
	struct log_entry e;
	uint8_t fixed[8 + LOG_ENTRY_HDR], *rest = NULL;
	const uint8_t *h = fixed + 8; /* the entry header in the record */
	size_t cap = 0;
	uint64_t hoff = FSCK_HINT_HDR, end = hlen - 8, off = LOG_SEG_HDR;
	int fd, rc, err = 0;
	const char *why = NULL;

	fd = openat(c->dfd, s->name, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
		    O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	err = log_reader_init(&r, fd);
	if (err)
		goto out;
	for (;;) {
		uint32_t klen, blen;

		rc = log_reader_next(&r, &e, &off);
		if (rc == -EUCLEAN) { /* zeros after the last entry: end */
			rc = log_reader_zero_end(&r, off);
			rc = rc > 0 ? 0 : rc == 0 ? -EUCLEAN : rc;
		}
		if (rc < 0) {
			/* A damaged segment was reported by its own scan. */
			if (rc != -EUCLEAN)
				err = rc;
			break;
		}
		if (rc == 0) {
			if (hoff != end)
				why = "records past the segment's end";
			break;
		}
		if (hoff + sizeof(fixed) > end) {
			why = "ends before the segment";
			break;
		}
		if ((err = fsck_pread(hfd, fixed, sizeof(fixed), hoff)))
			break;
		klen = log_get16(h + 14);
		blen = log_get32(h + 40);
		if (hoff + sizeof(fixed) + klen + blen > end) {
			why = "record runs past its end";
			break;
		}
		/* Never NULL: the floor's record has no key and no body,
		 * and memcmp() below must get a real pointer even then. */
		if (!rest || (size_t)klen + blen > cap) {
			free(rest);
			cap = (size_t)klen + blen;
			rest = malloc(cap ? cap : 1);
			if (!rest) {
				err = -ENOMEM;
				break;
			}
		}
		if ((err = fsck_pread(hfd, rest, (size_t)klen + blen,
				      hoff + sizeof(fixed))))
			break;
		if (log_get64(fixed) != off || log_get32(h + 8) != e.len ||
		    h[12] != e.type || h[13] != e.flags ||
		    klen != e.key_len || log_get64(h + 16) != e.version ||
		    (int64_t)log_get64(h + 24) != e.time_ns ||
		    log_get64(h + 32) != e.value_len || blen != e.body_len ||
		    memcmp(rest, e.key, klen) != 0 ||
		    memcmp(rest + klen, e.body, blen) != 0) {
			why = "record differs from the segment entry";
			break;
		}
		hoff += sizeof(fixed) + klen + blen;
	}
	if (why && !err) {
		fprintf(c->out, "%s: %s at segment offset %" PRIu64
				" (hint offset %" PRIu64 ")",
			hname, why, off, hoff);
		/* Hints are only a cache of their segment. */
		if (c->repair && unlinkat(c->dfd, hname, 0) == 0) {
			fprintf(c->out, ", removed\n");
			c->repaired++;
		} else {
			fputc('\n', c->out);
			c->problems++;
		}
	}
out:
	free(rest);
	log_reader_free(&r);
	close(fd);
	return err;
}

int fsck_hint(struct fsck_ctx *c, uint64_t id)
{
	char hname[32];
	uint8_t *buf = NULL;
	uint8_t hdr[FSCK_HINT_HDR], tail[8];
	const struct fsck_seg *s = NULL;
	XXH3_state_t *st = NULL;
	struct stat sb;
	uint64_t len, pos;
	int fd, err = 0;

	snprintf(hname, sizeof(hname), "%016" PRIx64 ".hint", id);
	for (size_t i = 0; i < c->nsegs; i++)
		if (c->segs[i].id == id)
			s = &c->segs[i];
	if (s && s->hdr == FSCK_NO_HDR && c->repair)
		return 0; /* removed with its segment (fsck_no_header) */
	if (!s) {
		/* Gone, unless a compacted segment replaces it (a crash's
		 * leftover hint): if its hint says it was on disk, its
		 * commits are lost (replay.c refuses the open). */
		uint64_t dlen = fsck_durable_len(c, id);
		int known = 0;

		for (size_t i = 0; i < c->nsegs && !known; i++)
			known = !c->segs[i].hdr && c->segs[i].first_id <= id &&
				id < c->segs[i].id;
		/* Only its header was on disk: no commit lost (replay.c). */
		if (!known && dlen == LOG_SEG_HDR) {
			fprintf(c->out, "%s: warning: its segment, which held "
					"no entry, is gone; removed by the next "
					"open\n", hname);
			return 0;
		}
		if (!known && dlen) {
			fprintf(c->out, "%016" PRIx64 ".seg: missing, but its "
					"hint says %" PRIu64 " bytes were on "
					"disk\n", id, dlen);
			c->problems++;
			c->partial = 1;
			return 0;
		}
	}
	if (!s || s->obsolete || s->hdr) {
		fprintf(c->out, "%s: warning: no usable segment, ignored\n",
			hname);
		return 0;
	}
	/* A hint the open cannot read (a directory in its place, no read
	 * permission, a bad block) is one it ignores, scanning the
	 * segment: a warning as for a bad hint, and the rest is checked. */
	fd = openat(c->dfd, hname,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0) {
		fprintf(c->out, "%s: warning: %s, ignored\n", hname,
			errno == ELOOP ? "a symbolic link" : strerror(errno));
		return 0;
	}
	if (fstat(fd, &sb) < 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		fprintf(c->out, "%s: warning: not a regular file, ignored\n",
			hname);
		goto out;
	}
	len = (uint64_t)sb.st_size;
	if (len < FSCK_HINT_HDR + 8) {
		fprintf(c->out, "%s: warning: hint too short, bad, will be "
				"rebuilt\n", hname);
		goto out;
	}
	buf = malloc(FSCK_BLOB_BUF);
	st = XXH3_createState();
	if (!buf || !st) {
		err = -ENOMEM;
		goto out;
	}
	XXH3_64bits_reset(st);
	for (pos = 0; pos < len - 8;) {
		size_t n = len - 8 - pos < FSCK_BLOB_BUF ? len - 8 - pos
							 : FSCK_BLOB_BUF;

		if ((err = fsck_pread(fd, buf, n, pos)))
			break;
		XXH3_64bits_update(st, buf, n);
		pos += n;
	}
	if (err || (err = fsck_pread(fd, tail, 8, len - 8)) ||
	    (err = fsck_pread(fd, hdr, sizeof(hdr), 0))) {
		fprintf(c->out, "%s: warning: %s, ignored\n", hname,
			strerror(-err));
		err = 0;
		goto out;
	}
	if (log_get64(tail) != XXH3_64bits_digest(st)) {
		fprintf(c->out, "%s: warning: checksum bad, will be rebuilt\n",
			hname);
		goto out;
	}
	if (memcmp(hdr, HINT_MAGIC, 8) != 0 ||
	    log_get32(hdr + 8) != LOG_FORMAT || log_get64(hdr + 16) != id) {
		fprintf(c->out, "%s: warning: header bad, will be rebuilt\n",
			hname);
		goto out;
	}
	if (log_get64(hdr + 24) != s->size) {
		fprintf(c->out, "%s: warning: for %" PRIu64 " bytes of %s, which "
				"has %" PRIu64 ", will be rebuilt\n",
			hname, log_get64(hdr + 24), s->name, s->size);
		goto out;
	}
	{
		/* Open trusts a hint only for the very bytes it was made
		 * from; any other content is scanned instead. */
		uint64_t sh;
		int sfd = openat(c->dfd, s->name,
				 O_RDONLY | O_CLOEXEC | O_NONBLOCK |
					 O_NOFOLLOW);
		int hrc = sfd < 0 ? -errno : log_file_hash(sfd, s->size, &sh);
		if (sfd >= 0)
			close(sfd);
		if (hrc == 0 && sh != log_get64(hdr + 32)) {
			fprintf(c->out, "%s: warning: made from other content "
					"of %s, will be rebuilt\n", hname,
				s->name);
			goto out;
		}
	}
	err = fsck_hint_match(c, fd, len, s, hname);
out:
	if (err)
		fprintf(c->out, "%s: %s\n", hname, strerror(-err));
	XXH3_freeState(st);
	free(buf);
	close(fd);
	return err;
}

/* ---- Blobs --------------------------------------------------------- */

struct fsck_want {
	const struct fsck_key *k;
	const struct fsck_ver *v;
};

static int fsck_want_cmp(const void *a, const void *b)
{
	return fsck_id_cmp(&((const struct fsck_want *)a)->v->blob_id,
			   &((const struct fsck_want *)b)->v->blob_id);
}

/* "blobs/ID: @what (key K vN, SEG at offset O)@after" */
static void fsck_blob_line(struct fsck_ctx *c, const struct fsck_want *w,
			   const char *what, const char *after)
{
	char seg[32];

	fsck_seg_name(w->v->seg, seg, sizeof(seg));
	fprintf(c->out, "blobs/%016" PRIx64 ": %s (key ", w->v->blob_id, what);
	fsck_key_print(c->out, w->k->key, w->k->len);
	fprintf(c->out, " v%" PRIu64 ", %s at offset %" PRIu64 ")%s\n",
		w->v->version, seg, w->v->off, after);
}

static void fsck_blob_problem(struct fsck_ctx *c, const struct fsck_want *w,
			      const char *what)
{
	fsck_blob_line(c, w, what, "");
	c->problems++;
}

/* Hash one blob, or its first @limit bytes, streaming: blobs can be far
 * larger than memory.
 * @return 0 and *size/hash of what was read; 1 not a regular file (a
 * directory, a FIFO, whose open for reading waited for ever without
 * O_NONBLOCK), 2 a symbolic link (never followed: it names a file
 * outside the store): lost, as the open has it; -ENOENT; other -errno. */
static int fsck_blob_hash(struct fsck_ctx *c, uint64_t id, uint8_t *buf,
			  XXH3_state_t *st, uint64_t limit, uint64_t *size,
			  uint8_t hash[16])
{
	char name[48];
	XXH128_canonical_t canon;
	struct stat sb;
	uint64_t pos = 0;
	int fd, err = 0;

	snprintf(name, sizeof(name), "blobs/%016" PRIx64, id);
	fd = openat(c->dfd, name,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return errno == ELOOP ? 2 : -errno;
	if (fstat(fd, &sb) < 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		err = 1;
		goto out;
	}
	*size = (uint64_t)sb.st_size;
	XXH3_128bits_reset(st);
	while (pos < limit) {
		size_t want = limit - pos < FSCK_BLOB_BUF
				      ? (size_t)(limit - pos) : FSCK_BLOB_BUF;
		ssize_t n = pread(fd, buf, want, (off_t)pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		XXH3_128bits_update(st, buf, (size_t)n);
		pos += (uint64_t)n;
	}
	*size = pos;
	XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(st));
	memcpy(hash, canon.digest, 16);
out:
	close(fd);
	return err;
}

/* A blob longer than its entry says, whose first bytes are still the
 * version's (their hash is the entry's): bytes were appended to it (a
 * bad copy, a tool that wrote to the wrong file), and the version is
 * whole, not lost.  A repair cuts the rest off, and *@size and @hash are
 * then the version's; a check says it would.
 * @return 1 it is so (reported), 0 it is not, <0 errno. */
static int fsck_blob_longer(struct fsck_ctx *c, const struct fsck_want *w,
			    uint8_t *buf, XXH3_state_t *st, uint64_t *size,
			    uint8_t hash[16])
{
	uint64_t len = w->v->value_len, got = 0;
	char name[48], msg[160];
	uint8_t head[16];
	int fd, rc;

	rc = fsck_blob_hash(c, w->v->blob_id, buf, st, len, &got, head);
	if (rc < 0)
		return rc;
	if (rc || got != len || memcmp(head, w->v->hash, 16) != 0)
		return 0;
	snprintf(msg, sizeof(msg), "%" PRIu64 " bytes, entry says %" PRIu64
		 ", and the first %" PRIu64 " are its version's", *size, len,
		 len);
	if (!c->repair) {
		fsck_blob_line(c, w, msg, ": --repair cuts it back");
		c->problems++;
		return 1;
	}
	snprintf(name, sizeof(name), "blobs/%016" PRIx64, w->v->blob_id);
	fd = openat(c->dfd, name,
		    O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0 || fsync(fd) < 0) {
		char why[96];

		snprintf(why, sizeof(why), ": cannot cut it back: %s",
			 strerror(errno));
		fsck_blob_line(c, w, msg, why);
		if (fd >= 0)
			close(fd);
		c->problems++;
		return 1;
	}
	close(fd);
	fsck_blob_line(c, w, msg, ": cut back to its entry's length");
	c->repaired++;
	*size = len;
	memcpy(hash, head, 16);
	return 1;
}

int fsck_blobs(struct fsck_ctx *c)
{
	struct fsck_want *want = NULL;
	size_t nwant = 0, cap = 0;
	uint8_t *buf = NULL;
	XXH3_state_t *st = NULL;
	int err = 0;

	for (size_t i = 0; i < c->tab_cap; i++) {
		const struct fsck_key *k = c->tab[i];

		for (unsigned j = 0; k && j < k->nver; j++) {
			if (!k->ver[j].blob_id)
				continue;
			if (nwant == cap) {
				struct fsck_want *nw;

				cap = cap ? 2 * cap : 256;
				nw = realloc(want, cap * sizeof(*nw));
				if (!nw) {
					err = -ENOMEM;
					goto out;
				}
				want = nw;
			}
			want[nwant].k = k;
			want[nwant++].v = &k->ver[j];
		}
	}
	if (!nwant)
		goto out;
	/* One read per blob, however many versions name it (renames). */
	qsort(want, nwant, sizeof(*want), fsck_want_cmp);
	buf = malloc(FSCK_BLOB_BUF);
	st = XXH3_createState();
	if (!buf || !st) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nwant;) {
		uint64_t id = want[i].v->blob_id, size = 0;
		uint8_t hash[16];
		size_t j;
		int rc = fsck_blob_hash(c, id, buf, st, UINT64_MAX, &size,
					hash);

		c->blobs_checked++;
		for (j = i; j < nwant && want[j].v->blob_id == id; j++) {
			const struct fsck_ver *v = want[j].v;
			char hex[33], msg[128];
			int cut;

			if (rc == -ENOENT) {
				snprintf(msg, sizeof(msg), "missing");
				c->lost++;
			} else if (rc == 1) {
				snprintf(msg, sizeof(msg),
					 "not a regular file");
				c->lost++;
			} else if (rc == 2) {
				snprintf(msg, sizeof(msg),
					 "a symbolic link, not followed");
				c->lost++;
			} else if (rc) {
				snprintf(msg, sizeof(msg), "%s", strerror(-rc));
			} else if (size > v->value_len &&
				   (cut = fsck_blob_longer(c, &want[j], buf, st,
							   &size, hash))) {
				if (cut < 0) {
					err = cut;
					goto out;
				}
				continue;
			} else if (size != v->value_len) {
				snprintf(msg, sizeof(msg),
					 "%" PRIu64 " bytes, entry says %" PRIu64,
					 size, v->value_len);
				c->lost++;
			} else if (memcmp(hash, v->hash, 16) != 0) {
				fsck_hex(hash, 16, hex);
				snprintf(msg, sizeof(msg),
					 "hash mismatch (content %s)", hex);
			} else {
				continue;
			}
			fsck_blob_problem(c, &want[j], msg);
		}
		i = j;
	}
out:
	XXH3_freeState(st);
	free(buf);
	free(want);
	return err;
}

/* Blobs no applied entry names are garbage an open removes: noted,
 * not damage. */
void fsck_orphans(struct fsck_ctx *c)
{
	struct dirent *de;
	DIR *d;
	int fd = openat(c->dfd, "blobs",
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	if (c->nnamed)
		qsort(c->named, c->nnamed, sizeof(*c->named), fsck_id_cmp);
	while ((de = readdir(d))) {
		uint64_t id;

		if (strlen(de->d_name) != 16 || !fsck_is_hex16(de->d_name))
			continue;
		id = strtoull(de->d_name, NULL, 16);
		if (!c->nnamed || !bsearch(&id, c->named, c->nnamed,
					   sizeof(*c->named), fsck_id_cmp))
			fprintf(c->out, "blobs/%s: note: named by no kept "
					"version (garbage)\n", de->d_name);
	}
	closedir(d);
}

/* fsck.c - offline check of a store directory (see FORMAT.md): opening
 * (lock, file lists, headers) and store_fsck_ex(), which runs the parts
 * fsck_int.h lists.
 *
 * Works from the on-disk format alone (log.h), never from store.c's
 * index, so that it can judge a store that store_open() refuses.  It
 * replays the log the way an open does: segments in id order, groups
 * applied only once their COMMIT entry is seen, compacted segments
 * hiding the ones they replace. */
#include "fsck_int.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- Small helpers ------------------------------------------------ */

void fsck_key_print(FILE *out, const char *key, size_t len)
{
	/* Space and backslash are escaped too, so a dump line stays
	 * splittable on spaces and the escaping is reversible. */
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)key[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '\\')
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
}

void fsck_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

void fsck_time(int64_t ns, char *buf, size_t len)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	time_t t;
	struct tm tm;
	size_t n;

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, len, "@%" PRId64, ns);
		return;
	}
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%09" PRId64 "Z", frac);
}

const char *fsck_type_name(uint8_t type)
{
	static const char *const names[] = {
		[LOG_PUT] = "PUT",     [LOG_META] = "META",
		[LOG_DEL] = "DEL",     [LOG_MKDIR] = "MKDIR",
		[LOG_RMDIR] = "RMDIR", [LOG_FLOOR] = "FLOOR",
	};

	if (type >= sizeof(names) / sizeof(names[0]) || !names[type])
		return "?";
	return names[type];
}

int fsck_is_hex16(const char *s)
{
	for (int i = 0; i < 16; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int fsck_id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int fsck_seg_cmp(const void *a, const void *b)
{
	return fsck_id_cmp(&((const struct fsck_seg *)a)->id,
			   &((const struct fsck_seg *)b)->id);
}

void fsck_seg_name(uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 ".seg", id);
}

/* Read exactly @len bytes at @off.  @return 0, -EIO short read or error. */
int fsck_pread(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, len - got,
				  (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		got += (size_t)n;
	}
	return 0;
}

/* ---- Opening: directory, lock, file lists ------------------------- */

/* The lock is what store_open() takes, so holding it keeps a store from
 * opening (and appending) while we read or cut its segments. */
static int fsck_lock(struct fsck_ctx *c)
{
	struct stat sb;
	char pid[32];
	ssize_t n;
	int fd;

	/* Only a repair must keep every opener out; a plain check of a
	 * store that was never opened should not create files in it.
	 * O_NONBLOCK: a FIFO in its place waited for a writer for ever
	 * (of a regular file it changes nothing). */
	fd = openat(c->dfd, "LOCK",
		    (c->repair ? O_RDWR | O_CREAT | O_CLOEXEC
			       : O_RDONLY | O_CLOEXEC) | O_NOFOLLOW |
			    O_NONBLOCK,
		    0644);
	if (fd < 0) {
		int err = errno;

		if (err == ENOENT && !c->repair)
			return 0;
		/* A link is never followed (the pid was written over what
		 * it names): every open refuses the store, so none can take
		 * it while a check reads it unlocked; a repair, which may
		 * meet another, does not go on. */
		if (err == ELOOP) {
			fprintf(c->out, "%s/LOCK: a symbolic link, not "
					"followed (an open refuses the store; "
					"remove it, the next open makes one)\n",
				c->dir);
			if (!c->repair) {
				c->problems++;
				return 0;
			}
			return -err;
		}
		fprintf(c->out, "%s/LOCK: %s\n", c->dir, strerror(err));
		return -err;
	}
	int err = -log_lock_wait(fd);
	if (err) {
		if (err == EWOULDBLOCK) {
			log_lock_holder(fd, pid, sizeof(pid));
			if (pid[0])
				fprintf(c->out, "%s: store in use by pid %s\n",
					c->dir, pid);
			else
				fprintf(c->out, "%s: store in use\n", c->dir);
		} else {
			fprintf(c->out, "%s/LOCK: %s\n", c->dir, strerror(err));
		}
		close(fd);
		return -err;
	}
	/* An open takes it read-write, which a directory cannot be: it
	 * refuses the store, so a check must not call it clean. */
	if (fstat(fd, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		fprintf(c->out, "%s/LOCK: not a regular file (an open refuses "
				"the store; remove it)\n", c->dir);
		c->problems++;
	}
	if (c->repair && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    sb.st_nlink == 1) {
		/* Whoever is refused while we repair is told who holds it;
		 * a failure here costs only that courtesy, not the lock.
		 * (Not into a LOCK with other names: that is another file
		 * too, as in take_lock().) */
		n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) < 0) {
		}
	}
	c->lockfd = fd;
	return 0;
}

static int fsck_list(struct fsck_ctx *c)
{
	struct dirent *de;
	DIR *d;
	int fd, err = 0;

	fd = dup(c->dfd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((errno = 0, de = readdir(d))) {
		const char *nm = de->d_name;
		size_t len = strlen(nm);
		uint64_t id;

		if (len == 24 && fsck_is_hex16(nm) &&
		    strcmp(nm + 16, ".compact") == 0) {
			/* Written before the rename that makes it count. */
			fprintf(c->out, "%s: note: unfinished compaction "
					"(garbage an open removes)\n", nm);
			continue;
		}
		if ((len != 20 && len != 21) || !fsck_is_hex16(nm))
			continue;
		id = strtoull(nm, NULL, 16);
		if (len == 20 && strcmp(nm + 16, ".seg") == 0) {
			struct fsck_seg *s;

			if (c->nsegs % 64 == 0) {
				s = realloc(c->segs,
					    (c->nsegs + 64) * sizeof(*s));
				if (!s) {
					err = -ENOMEM;
					break;
				}
				c->segs = s;
			}
			s = &c->segs[c->nsegs++];
			memset(s, 0, sizeof(*s));
			s->id = id;
			s->first_id = id;
			memcpy(s->name, nm, len + 1);
		} else if (len == 21 && strcmp(nm + 16, ".hint") == 0) {
			if (c->nhints % 64 == 0) {
				uint64_t *h = realloc(
					c->hints,
					(c->nhints + 64) * sizeof(*h));
				if (!h) {
					err = -ENOMEM;
					break;
				}
				c->hints = h;
			}
			c->hints[c->nhints++] = id;
		}
	}
	if (!err && errno)
		err = -errno;
	closedir(d);
	if (err)
		return err;
	if (c->nsegs)
		qsort(c->segs, c->nsegs, sizeof(*c->segs), fsck_seg_cmp);
	if (c->nhints)
		qsort(c->hints, c->nhints, sizeof(*c->hints), fsck_id_cmp);
	return 0;
}

/* Read every header first: which segments count depends on the
 * compacted segments that come after them. */
static int fsck_headers(struct fsck_ctx *c)
{
	for (size_t i = 0; i < c->nsegs; i++) {
		struct fsck_seg *s = &c->segs[i];
		uint8_t hdr[LOG_SEG_HDR];
		uint64_t id, first;
		struct stat sb;
		int fd = openat(c->dfd, s->name,
				O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);

		/* Store files are never followed (replay.c): a link in a
		 * segment's place is damage, reported with the others. */
		if (fd < 0 && errno == ELOOP) {
			s->hdr = FSCK_SYMLINK;
			continue;
		}
		if (fd < 0) {
			int err = -errno;

			fprintf(c->out, "%s: %s\n", s->name, strerror(-err));
			return err;
		}
		if (fstat(fd, &sb) < 0) {
			int err = -errno;

			fprintf(c->out, "%s: %s\n", s->name, strerror(errno));
			close(fd);
			return err;
		}
		s->size = (uint64_t)sb.st_size;
		if (s->size < LOG_SEG_HDR ||
		    fsck_pread(fd, hdr, sizeof(hdr), 0) < 0)
			s->hdr = -EIO;
		else
			s->hdr = log_seg_check(hdr, &id, &first);
		/* The newest segment with no header yet is a power loss
		 * right after it was named: an open removes it as a torn
		 * tail (replay.c), by this same test, so fsck must not call
		 * it damage that --repair cannot take away. */
		if (s->hdr && i == c->nsegs - 1) {
			int torn = s->size < LOG_SEG_HDR;

			if (!torn && log_all_zero(hdr, sizeof(hdr))) {
				struct log_reader r;

				torn = log_reader_init(&r, fd);
				if (torn == 0)
					torn = log_reader_rest_zero(
						&r, LOG_SEG_HDR);
				log_reader_free(&r);
			}
			if (torn < 0) {
				fprintf(c->out, "%s: %s\n", s->name,
					strerror(-torn));
				close(fd);
				return torn;
			}
			/* Unless its hint says its bytes were on disk: then
			 * they were lost since, as an open has it. */
			if (torn && fsck_durable_len(c, s->id) == 0)
				s->hdr = FSCK_NO_HDR;
		}
		close(fd);
		if (s->hdr == 0) {
			s->first_id = first;
			/* A header naming another id is a misplaced file: its
			 * first_id would hide the wrong segments. */
			if (id != s->id)
				s->hdr = FSCK_MISNAMED;
		}
	}
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct fsck_seg *cs = &c->segs[i];

		if (cs->hdr || cs->first_id >= cs->id)
			continue;
		for (size_t j = 0; j < c->nsegs; j++) {
			struct fsck_seg *s = &c->segs[j];

			if (s->id >= cs->first_id && s->id < cs->id &&
			    (!s->obsolete || s->by < cs->id)) {
				s->obsolete = 1;
				s->by = cs->id;
			}
		}
	}
	return 0;
}

void fsck_close(struct fsck_ctx *c)
{
	for (size_t i = 0; i < c->tab_cap; i++) {
		if (c->tab && c->tab[i]) {
			free(c->tab[i]->key);
			free(c->tab[i]->ver);
			free(c->tab[i]);
		}
	}
	free(c->tab);
	for (size_t i = 0; i < c->npend; i++)
		free(c->pend[i].key);
	free(c->pend);
	free(c->named);
	free(c->segs);
	free(c->hints);
	if (c->dfd >= 0)
		close(c->dfd);
	if (c->lockfd >= 0)
		close(c->lockfd); /* releases the flock */
}

int fsck_open(struct fsck_ctx *c, const char *dir, int repair,
	      FILE *out)
{
	struct stat sb;
	int err;

	memset(c, 0, sizeof(*c));
	c->dir = dir;
	c->out = out;
	c->repair = repair;
	c->dfd = -1;
	c->lockfd = -1;
	if (stat(dir, &sb) < 0) {
		err = -errno;
		fprintf(out, "%s: %s\n", dir, strerror(errno));
		return err;
	}
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(out, "%s: %s\n", dir, strerror(ENOTDIR));
		return -ENOTDIR;
	}
	c->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dfd < 0) {
		err = -errno;
		fprintf(out, "%s: %s\n", dir, strerror(errno));
		return err;
	}
	err = fsck_lock(c);
	if (err)
		return err;
	err = fsck_list(c);
	if (err) {
		fprintf(out, "%s: %s\n", dir, strerror(-err));
		return err;
	}
	return fsck_headers(c);
}

/* ---- Entry points -------------------------------------------------- */

/* A read-write open stages changes in spool/ and refuses a store whose
 * spool/ it cannot open (open.c): a check must not call it clean. */
static void fsck_spool(struct fsck_ctx *c)
{
	struct stat sb;
	int fd = openat(c->dfd, "spool",
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int err = errno;

	if (fd >= 0) {
		close(fd);
		return;
	}
	if (err == ENOENT) /* made by the next open */
		return;
	/* O_NOFOLLOW with O_DIRECTORY gives ENOTDIR for a link, which
	 * reads as if a file were there: say what the open says. */
	if (fstatat(c->dfd, "spool", &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(sb.st_mode))
		fprintf(c->out, "spool/: a symbolic link, not followed (a "
				"read-write open refuses the store)\n");
	else
		fprintf(c->out, "spool/: %s (a read-write open refuses the "
				"store)\n", strerror(err));
	c->problems++;
}

/* A RESERVE that is not a regular file (a symbolic link, not followed;
 * a directory) cannot be made: the mount says so, and every write of it
 * gets ENOSPC.  A check must not call that store clean. */
static void fsck_reserve(struct fsck_ctx *c)
{
	struct stat sb;

	if (fstatat(c->dfd, "RESERVE", &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    S_ISREG(sb.st_mode)) /* none is made by the next open */
		return;
	fprintf(c->out, "RESERVE: %s (a mount cannot make the reserve and "
			"its writes get ENOSPC; remove it, the next open "
			"makes one)\n",
		S_ISLNK(sb.st_mode) ? "a symbolic link, not followed"
				    : "not a regular file");
	c->problems++;
}

/* A read-write open refuses a store whose blobs/ is a symbolic link (not
 * followed), not a directory, or on another mount than spool/ (a blob is
 * linked from one into the other): a check must not call it clean.  Its
 * blobs are not read through such a link, as the open reads none. */
static void fsck_blobs_dir(struct fsck_ctx *c)
{
	struct statx bs, ss;
	struct stat ls;
	int fd = openat(c->dfd, "blobs",
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int sfd;

	if (fd < 0) {
		if (errno == ENOENT) /* made by the next open; blobs missing */
			return;
		if (fstatat(c->dfd, "blobs", &ls, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(ls.st_mode))
			fprintf(c->out, "blobs/: a symbolic link, not followed "
					"(a read-write open refuses the store; "
					"its blobs are not checked)\n");
		else
			fprintf(c->out, "blobs/: %s (a read-write open refuses "
					"the store; its blobs are not checked)\n",
				strerror(errno));
		c->problems++;
		c->no_blobs = 1;
		return;
	}
	sfd = openat(c->dfd, "spool",
		     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd >= 0 &&
	    statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &bs) == 0 &&
	    statx(sfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &ss) == 0 &&
	    (bs.stx_dev_major != ss.stx_dev_major ||
	     bs.stx_dev_minor != ss.stx_dev_minor ||
	     (bs.stx_mask & ss.stx_mask & STATX_MNT_ID &&
	      bs.stx_mnt_id != ss.stx_mnt_id))) {
		fprintf(c->out, "blobs/ and spool/ are on different filesystems "
				"or mounts (a read-write open refuses the "
				"store)\n");
		c->problems++;
	}
	if (sfd >= 0)
		close(sfd);
	close(fd);
}

/* The newest segment has no header (FSCK_NO_HDR): a torn tail that holds
 * no entry.  A repair removes it, and its hint, as a writable open does;
 * a check only reports it, as it does any torn tail. */
static void fsck_no_header(struct fsck_ctx *c, const struct fsck_seg *s)
{
	char hname[40];

	fprintf(c->out, "%s: torn tail at offset 0 (%" PRIu64 " bytes; "
			"no header)", s->name, s->size);
	if (!c->repair) {
		fputc('\n', c->out);
		c->problems++;
		return;
	}
	snprintf(hname, sizeof(hname), "%016" PRIx64 ".hint", s->id);
	if (unlinkat(c->dfd, s->name, 0) < 0 || fsync(c->dfd) < 0) {
		fprintf(c->out, ", cannot remove it: %s\n", strerror(errno));
		c->problems++;
		return;
	}
	unlinkat(c->dfd, hname, 0); /* a cache of nothing now */
	fprintf(c->out, ", removed\n");
	c->repaired++;
}

/* Does segment @s, whose header is bad, hold no entry: nothing but zeros
 * after the header, and no hint that says it held more?  Then it is what
 * an open that committed nothing leaves, and no commit is lost with its
 * header: @hdr gets the header it had (its id is its name's, and it
 * replaced nothing; a hint of it, which holds the hash of those 40
 * bytes, must agree, or it may have been a compaction's output, which
 * replaces others and is left alone).  A file shorter than a header is
 * not judged here: it was cut, and may have held entries.
 * @return 1 holds none, 0 may hold entries (or cannot tell), <0 errno. */
static int fsck_holds_none(struct fsck_ctx *c, const struct fsck_seg *s,
			   uint8_t *hdr)
{
	struct log_reader r = { .fd = -1 };
	char hname[40];
	uint8_t *buf = NULL;
	struct stat sb;
	int fd, rc;

	if (s->size < LOG_SEG_HDR)
		return 0;
	fd = openat(c->dfd, s->name,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	rc = log_reader_init(&r, fd);
	if (rc == 0)
		rc = log_reader_rest_zero(&r, LOG_SEG_HDR);
	log_reader_free(&r);
	close(fd);
	if (rc <= 0)
		return rc;
	log_seg_header(hdr, s->id, s->id);
	snprintf(hname, sizeof(hname), "%016" PRIx64 ".hint", s->id);
	fd = openat(c->dfd, hname,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0) /* none, or a link an open ignores */
		return errno == ENOENT || errno == ELOOP ? 1 : 0;
	rc = 0;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size < LOG_HINT_HDR + 8) {
		/* Not a hint an open would use: as if there were none. */
		rc = 1;
		goto out;
	}
	buf = malloc((size_t)sb.st_size);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	if (fsck_pread(fd, buf, (size_t)sb.st_size, 0) < 0)
		goto out;
	if (log_hint_check(buf, (size_t)sb.st_size, s->id,
			   log_get64(buf + 24), NULL) < 0)
		rc = 1; /* a bad hint says nothing */
	else
		rc = log_get64(buf + 24) == LOG_SEG_HDR &&
		     log_get64(buf + 32) == XXH3_64bits(hdr, LOG_SEG_HDR);
out:
	free(buf);
	close(fd);
	return rc;
}

/* A bad header on a segment that holds no entry (fsck_holds_none): a
 * repair writes the header again, which loses nothing; a check reports
 * it.  @return 1 if handled (repaired: scan it now), 0 not such a
 * segment, <0 errno. */
static int fsck_empty_bad_header(struct fsck_ctx *c, struct fsck_seg *s)
{
	uint8_t hdr[LOG_SEG_HDR];
	int fd, rc = fsck_holds_none(c, s, hdr);

	if (rc <= 0)
		return rc;
	fprintf(c->out, "%s: bad header (it holds no entry)", s->name);
	if (!c->repair) {
		fprintf(c->out, ": --repair writes it again\n");
		c->problems++;
		c->partial = 1;
		return 1;
	}
	fd = openat(c->dfd, s->name,
		    O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	/* The zeros after it are its clean end, which an open cuts too. */
	if (fd < 0 || pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    ftruncate(fd, LOG_SEG_HDR) < 0 || fsync(fd) < 0) {
		fprintf(c->out, ", cannot write it: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		c->problems++;
		c->partial = 1;
		return 1;
	}
	close(fd);
	fprintf(c->out, ", header written again\n");
	c->repaired++;
	s->hdr = 0;
	s->first_id = s->id;
	s->size = LOG_SEG_HDR;
	return 1;
}

int store_fsck(const char *dir, int repair, FILE *out)
{
	return store_fsck_ex(dir, repair, out, NULL);
}

int store_fsck_ex(const char *dir, int repair, FILE *out, uint64_t *lost)
{
	struct fsck_ctx c;
	struct fsck_key *root;
	int err;

	err = fsck_open(&c, dir, repair, out);
	if (err)
		goto out;
	root = fsck_key_get(&c, "", 0);
	if (!root) {
		err = -ENOMEM;
		goto out;
	}
	root->kind = FK_DIR; /* exists before any entry, as at open */
	for (size_t i = 0; i < c.nsegs; i++) {
		struct fsck_seg *s = &c.segs[i];
		char by[32];

		if (s->id > SEG_ID_MAX) {
			/* An open refuses the whole store (EOVERFLOW), so it
			 * is damage, whatever the segment holds. */
			fprintf(out, "%s: segment id above the index's limit "
				     "(%#x): the store cannot be opened\n",
				s->name, SEG_ID_MAX);
			c.problems++;
		}
		if (s->obsolete) {
			/* Left by a crash between writing a compacted
			 * segment and removing what it replaced. */
			fsck_seg_name(s->by, by, sizeof(by));
			fprintf(out, "%s: obsolete (superseded by %s)\n",
				s->name, by);
			continue;
		}
		if (s->hdr == FSCK_NO_HDR) {
			fsck_no_header(&c, s);
			continue;
		}
		if (s->hdr == FSCK_SYMLINK) {
			/* Not repaired: the file it names may be the
			 * segment, or anything; putting it back is the
			 * owner's call. */
			fprintf(out, "%s: a symbolic link, not followed (an "
				     "open refuses the store)\n", s->name);
			c.problems++;
			c.partial = 1;
			continue;
		}
		if (s->hdr && s->hdr != -EPROTONOSUPPORT &&
		    s->hdr != FSCK_MISNAMED) {
			err = fsck_empty_bad_header(&c, s);
			if (err < 0) {
				fprintf(out, "%s: %s\n", s->name,
					strerror(-err));
				goto out;
			}
			if (err && s->hdr)
				continue; /* reported, not repaired */
			err = 0;
		}
		if (s->hdr)
			c.partial = 1;
		if (s->hdr == -EPROTONOSUPPORT) {
			fprintf(out, "%s: future format\n", s->name);
			c.problems++;
			continue;
		}
		if (s->hdr == FSCK_MISNAMED) {
			fprintf(out, "%s: bad header (names another segment)\n",
				s->name);
			c.problems++;
			continue;
		}
		if (s->hdr) {
			/* A short file is the likely remains of a crash while
			 * the segment was being created: say so. */
			if (s->size < LOG_SEG_HDR)
				fprintf(out, "%s: bad header (file is %" PRIu64
					     " bytes)\n", s->name, s->size);
			else
				fprintf(out, "%s: bad header\n", s->name);
			c.problems++;
			continue;
		}
		err = fsck_scan_seg(&c, s);
		if (err)
			goto out;
	}
	for (size_t i = 0; i < c.nhints; i++) {
		err = fsck_hint(&c, c.hints[i]);
		if (err)
			goto out;
	}
	fsck_blobs_dir(&c);
	err = c.no_blobs ? 0 : fsck_blobs(&c);
	if (err) {
		fprintf(out, "%s: %s\n", dir, strerror(-err));
		goto out;
	}
	fsck_spool(&c);
	fsck_reserve(&c);
	/* Entries past damage were never read: their blobs are not garbage. */
	if (!c.partial && !c.no_blobs)
		fsck_orphans(&c);
	fprintf(out, "fsck: %" PRIu64 " segments, %" PRIu64 " entries, %" PRIu64
		     " blobs checked: ",
		c.segs_checked, c.entries, c.blobs_checked);
	if (c.problems)
		fprintf(out, "%" PRIu64 " problem%s\n", c.problems,
			c.problems == 1 ? "" : "s");
	else if (c.repaired)
		fprintf(out, "clean (%" PRIu64 " repaired)\n", c.repaired);
	else
		fprintf(out, "clean\n");
	err = c.problems ? 1 : 0;
	/* Past damage, entries that let go of a blob were never read: a
	 * blob "missing" then may be one they removed, and is no proof of
	 * a lost one (recctl offered --repair for a corrupt store). */
	if (lost)
		*lost = c.partial ? 0 : c.lost;
out:
	fsck_close(&c);
	return err;
}

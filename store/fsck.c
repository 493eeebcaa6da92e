/* fsck.c - offline check and dump of a store directory (see FORMAT.md).
 *
 * Works from the on-disk format alone (log.h), never from store.c's
 * index, so that it can judge a store that store_open() refuses.  It
 * replays the log the way an open does: segments in id order, groups
 * applied only once their COMMIT entry is seen, compacted segments
 * hiding the ones they replace. */
#include "log.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* The store's default keep_versions.  The setting is not recorded in
 * the store, so the default is what fsck can hold blobs to. */
#define FSCK_KEEP 8
#define FSCK_BLOB_BUF (1u << 20)
#define FSCK_HINT_HDR LOG_HINT_HDR
#define FSCK_MISNAMED 1  /* fsck_seg.hdr: the header names another id */

struct fsck_seg {
	uint64_t id;
	uint64_t first_id;
	uint64_t size;
	int hdr;          /* log_seg_check() result, -EIO short or unreadable,
	                     or FSCK_MISNAMED */
	uint64_t by;      /* id of the compacted segment replacing it, or 0 */
	int obsolete;
	char name[32];
};

/* One PUT a key's kept versions may name. */
struct fsck_ver {
	uint64_t version;
	uint64_t blob_id;   /* 0 = inline content, nothing to check */
	uint64_t value_len;
	uint64_t seg;       /* where the entry is, for the report */
	uint64_t off;
	uint8_t hash[16];
};

enum { FK_NONE, FK_FILE, FK_DIR, FK_TOMB };

struct fsck_key {
	char *key;
	uint16_t len;
	uint8_t kind;       /* FK_*; FK_NONE is as good as absent */
	uint8_t linked;     /* counted in its parent's nchild */
	uint64_t nchild;    /* live records and directories beneath */
	unsigned nver;      /* kept candidates, oldest first */
	struct fsck_ver ver[FSCK_KEEP];
};

/* An entry of a group that is not closed yet: nothing of it applies
 * until its COMMIT entry is read. */
struct fsck_pend {
	uint8_t type;
	uint8_t flags;
	uint16_t key_len;
	char *key;
	struct fsck_ver v;
};

struct fsck_ctx {
	const char *dir;
	FILE *out;
	int repair;
	int dfd;
	int lockfd;
	struct fsck_seg *segs;
	size_t nsegs;
	uint64_t *hints;
	size_t nhints;

	struct fsck_key **tab;  /* open addressing on XXH3-64 of the key */
	size_t tab_cap, tab_n;
	struct fsck_pend *pend;
	size_t npend, pend_cap;

	uint64_t *named;        /* every blob id an applied entry names */
	size_t nnamed, named_cap;

	int partial;            /* replay stopped early somewhere */
	uint64_t segs_checked, entries, blobs_checked;
	uint64_t problems, repaired;
	uint64_t lost;          /* versions whose blob is missing or of the
				 * wrong size: what store_salvage() drops */
};

/* ---- Small helpers ------------------------------------------------ */

static void fsck_key_print(FILE *out, const char *key, size_t len)
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

static void fsck_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void fsck_time(int64_t ns, char *buf, size_t len)
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

static const char *fsck_type_name(uint8_t type)
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

static int fsck_is_hex16(const char *s)
{
	for (int i = 0; i < 16; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int fsck_id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int fsck_seg_cmp(const void *a, const void *b)
{
	return fsck_id_cmp(&((const struct fsck_seg *)a)->id,
			   &((const struct fsck_seg *)b)->id);
}

static void fsck_seg_name(uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 ".seg", id);
}

/* Read exactly @len bytes at @off.  @return 0, -EIO short read or error. */
static int fsck_pread(int fd, void *buf, size_t len, uint64_t off)
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
	char pid[32];
	ssize_t n;
	int fd;

	/* Only a repair must keep every opener out; a plain check of a
	 * store that was never opened should not create files in it. */
	fd = openat(c->dfd, "LOCK",
		    c->repair ? O_RDWR | O_CREAT | O_CLOEXEC
			      : O_RDONLY | O_CLOEXEC,
		    0644);
	if (fd < 0) {
		int err = errno;

		if (err == ENOENT && !c->repair)
			return 0;
		fprintf(c->out, "%s/LOCK: %s\n", c->dir, strerror(err));
		return -err;
	}
	int err = -log_lock_wait(fd);
	if (err) {

		if (err == EWOULDBLOCK) {
			n = pread(fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
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
	if (c->repair) {
		/* Whoever is refused while we repair is told who holds it;
		 * a failure here costs only that courtesy, not the lock. */
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
		int fd = openat(c->dfd, s->name, O_RDONLY | O_CLOEXEC);

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

static void fsck_close(struct fsck_ctx *c)
{
	for (size_t i = 0; i < c->tab_cap; i++) {
		if (c->tab && c->tab[i]) {
			free(c->tab[i]->key);
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

static int fsck_open(struct fsck_ctx *c, const char *dir, int repair,
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

/* ---- Replay: which versions each key keeps -------------------------- */

static struct fsck_key *fsck_key_find(const struct fsck_ctx *c,
				      const char *key, size_t len)
{
	if (!c->tab_cap)
		return NULL;
	for (size_t i = XXH3_64bits(key, len) & (c->tab_cap - 1); c->tab[i];
	     i = (i + 1) & (c->tab_cap - 1)) {
		struct fsck_key *k = c->tab[i];

		if (k->len == len && memcmp(k->key, key, len) == 0)
			return k;
	}
	return NULL;
}

static struct fsck_key *fsck_key_get(struct fsck_ctx *c, const char *key,
				     uint16_t len)
{
	uint64_t h = XXH3_64bits(key, len);
	struct fsck_key *k;
	size_t i;

	if (2 * (c->tab_n + 1) > c->tab_cap) {
		size_t ncap = c->tab_cap ? 2 * c->tab_cap : 1024;
		struct fsck_key **nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			return NULL;
		for (size_t j = 0; j < c->tab_cap; j++) {
			struct fsck_key *o = c->tab[j];

			if (!o)
				continue;
			i = XXH3_64bits(o->key, o->len) & (ncap - 1);
			while (nt[i])
				i = (i + 1) & (ncap - 1);
			nt[i] = o;
		}
		free(c->tab);
		c->tab = nt;
		c->tab_cap = ncap;
	}
	for (i = h & (c->tab_cap - 1); c->tab[i]; i = (i + 1) & (c->tab_cap - 1)) {
		k = c->tab[i];
		if (k->len == len && memcmp(k->key, key, len) == 0)
			return k;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->key = malloc(len ? len : 1);
	if (!k->key) {
		free(k);
		return NULL;
	}
	memcpy(k->key, key, len);
	k->len = len;
	c->tab[i] = k;
	c->tab_n++;
	return k;
}

/* Add one PUT to a key's kept candidates, in version order: compaction
 * writes older versions (HIST) beside the current one, in any order. */
static void fsck_key_add(struct fsck_key *k, const struct fsck_ver *v)
{
	unsigned i;

	for (i = 0; i < k->nver; i++) {
		if (k->ver[i].version == v->version) {
			k->ver[i] = *v;
			return;
		}
		if (k->ver[i].version > v->version)
			break;
	}
	if (k->nver == FSCK_KEEP) {
		if (i == 0)
			return; /* older than everything kept */
		memmove(&k->ver[0], &k->ver[1], (i - 1) * sizeof(k->ver[0]));
		k->ver[i - 1] = *v;
		return;
	}
	memmove(&k->ver[i + 1], &k->ver[i], (k->nver - i) * sizeof(k->ver[0]));
	k->ver[i] = *v;
	k->nver++;
}

static int fsck_named_add(struct fsck_ctx *c, uint64_t blob_id)
{
	if (c->nnamed == c->named_cap) {
		size_t ncap = c->named_cap ? 2 * c->named_cap : 256;
		uint64_t *n = realloc(c->named, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->named = n;
		c->named_cap = ncap;
	}
	c->named[c->nnamed++] = blob_id;
	return 0;
}

static struct fsck_key *fsck_parent(const struct fsck_ctx *c,
				    const char *key, size_t len)
{
	while (len > 0 && key[len - 1] != '/')
		len--;
	return fsck_key_find(c, key, len ? len - 1 : 0);
}

static void fsck_link(const struct fsck_ctx *c, struct fsck_key *k, int on)
{
	struct fsck_key *p;

	if (k->len == 0 || k->linked == on)
		return;
	p = fsck_parent(c, k->key, k->len);
	if (!p)
		return;
	k->linked = (uint8_t)on;
	if (on)
		p->nchild++;
	else if (p->nchild)
		p->nchild--;
}

/* Apply one entry of a closed group.  The rules are those of replay in
 * store_apply() (store.c), and must change with them: an entry replay
 * refuses makes the open fail, so fsck must not call that store clean,
 * and one it accepts must not be called damage.  @return NULL, or why
 * the entry contradicts the state the entries before it built. */
static const char *fsck_apply_one(struct fsck_ctx *c, struct fsck_pend *p,
				  int *err)
{
	struct fsck_key *k = fsck_key_find(c, p->key, p->key_len), *par;
	int hist = !!(p->flags & LOG_F_HIST);
	uint64_t newest;

	if (p->type == LOG_FLOOR)
		return NULL;
	if (k && k->kind == FK_NONE)
		k = NULL;
	if (p->key_len && !hist &&
	    (p->type == LOG_PUT || p->type == LOG_MKDIR)) {
		par = fsck_parent(c, p->key, p->key_len);
		if (!par || par->kind != FK_DIR)
			return "parent is not a directory";
	}
	if (!k) {
		/* A DEL may stand alone: compaction keeps a tombstone's line
		 * without the record it ended. */
		if (p->type != LOG_PUT && p->type != LOG_MKDIR &&
		    p->type != LOG_DEL)
			return "key does not exist";
		k = fsck_key_get(c, p->key, p->key_len);
		if (!k) {
			*err = -ENOMEM;
			return NULL;
		}
	}
	switch (p->type) {
	case LOG_PUT:
		if ((p->flags & LOG_F_BLOB) && !p->v.blob_id)
			return "PUT of blob 0";
		if (p->v.blob_id && (*err = fsck_named_add(c, p->v.blob_id)))
			return NULL;
		newest = k->nver ? k->ver[k->nver - 1].version : 0;
		if (hist) {
			if (k->kind == FK_FILE && p->v.version > newest)
				return "history above the current version";
			fsck_key_add(k, &p->v);
			if (k->kind == FK_NONE)
				k->kind = FK_TOMB;
			return NULL;
		}
		if (k->kind == FK_DIR)
			return "PUT of a directory";
		if (k->nver && p->v.version <= newest)
			return "PUT not above the versions kept";
		fsck_key_add(k, &p->v);
		k->kind = FK_FILE;
		fsck_link(c, k, 1);
		return NULL;
	case LOG_META:
		if (k->kind != FK_FILE && k->kind != FK_DIR)
			return "META of a key that does not exist";
		return NULL;
	case LOG_DEL:
		if (k->kind == FK_DIR)
			return "DEL of a directory";
		fsck_link(c, k, 0);
		k->kind = FK_TOMB;
		return NULL;
	case LOG_MKDIR:
		if (k->kind == FK_FILE)
			return "MKDIR over a record";
		k->kind = FK_DIR;
		fsck_link(c, k, 1);
		return NULL;
	case LOG_RMDIR:
		if (k->kind != FK_DIR || k->len == 0)
			return "RMDIR of a key that is not a directory";
		if (k->nchild)
			return "RMDIR of a directory that is not empty";
		fsck_link(c, k, 0);
		k->kind = FK_TOMB;
		return NULL;
	}
	return "unknown type";
}

static void fsck_drop_pending(struct fsck_ctx *c)
{
	for (size_t i = 0; i < c->npend; i++)
		free(c->pend[i].key);
	c->npend = 0;
}

static int fsck_apply(struct fsck_ctx *c)
{
	int err = 0;

	for (size_t i = 0; i < c->npend && !err; i++) {
		struct fsck_pend *p = &c->pend[i];
		const char *why = fsck_apply_one(c, p, &err);
		char seg[32];

		if (!why)
			continue;
		fsck_seg_name(p->v.seg, seg, sizeof(seg));
		fprintf(c->out, "%s: entry at offset %" PRIu64
				" contradicts the entries before it: %s (%s key ",
			seg, p->v.off, why, fsck_type_name(p->type));
		fsck_key_print(c->out, p->key, p->key_len);
		fprintf(c->out, " v%" PRIu64 ")\n", p->v.version);
		c->problems++;
	}
	fsck_drop_pending(c);
	return err;
}

static int fsck_pend_add(struct fsck_ctx *c, const struct log_entry *e,
			 uint64_t seg, uint64_t off, const struct log_body *b)
{
	struct fsck_pend *p;

	if (c->npend == c->pend_cap) {
		size_t ncap = c->pend_cap ? 2 * c->pend_cap : 64;

		p = realloc(c->pend, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->pend = p;
		c->pend_cap = ncap;
	}
	p = &c->pend[c->npend];
	memset(p, 0, sizeof(*p));
	p->key = malloc(e->key_len ? e->key_len : 1);
	if (!p->key)
		return -ENOMEM;
	memcpy(p->key, e->key, e->key_len);
	p->type = e->type;
	p->flags = e->flags;
	p->key_len = e->key_len;
	p->v.version = e->version;
	p->v.value_len = e->value_len;
	p->v.seg = seg;
	p->v.off = off;
	if (b && e->type == LOG_PUT) {
		memcpy(p->v.hash, b->hash, 16);
		if (e->flags & LOG_F_BLOB)
			p->v.blob_id = b->blob_id;
	}
	c->npend++;
	return 0;
}

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

static int fsck_scan_seg(struct fsck_ctx *c, struct fsck_seg *s)
{
	struct log_reader r = { .fd = -1 };
	struct log_entry e;
	struct log_body b;
	uint64_t off, group_start = LOG_SEG_HDR;
	int fd, rc, have_body, err = 0;

	fd = openat(c->dfd, s->name,
		    (c->repair ? O_RDWR : O_RDONLY) | O_CLOEXEC);
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
			if (c->npend)
				fsck_torn(c, s, fd, group_start, s->size, 1);
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
		if (rc == 0)
			rc = log_reader_torn(&r, off);
		else if (rc > 0)
			break;
		if (rc < 0) {
			err = rc;
			fprintf(c->out, "%s: reading after offset %" PRIu64
					": %s\n", s->name, off, strerror(-rc));
			goto out;
		}
		if (rc)
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

	fd = openat(c->dfd, s->name, O_RDONLY | O_CLOEXEC);
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
		if ((size_t)klen + blen > cap) {
			free(rest);
			cap = (size_t)klen + blen;
			rest = malloc(cap);
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

static int fsck_hint(struct fsck_ctx *c, uint64_t id)
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
	if (!s || s->obsolete || s->hdr) {
		fprintf(c->out, "%s: warning: no usable segment, ignored\n",
			hname);
		return 0;
	}
	fd = openat(c->dfd, hname, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		fprintf(c->out, "%s: %s\n", hname, strerror(-err));
		return err;
	}
	if (fstat(fd, &sb) < 0) {
		err = -errno;
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
			goto out;
		XXH3_64bits_update(st, buf, n);
		pos += n;
	}
	if ((err = fsck_pread(fd, tail, 8, len - 8)) ||
	    (err = fsck_pread(fd, hdr, sizeof(hdr), 0)))
		goto out;
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
		int sfd = openat(c->dfd, s->name, O_RDONLY | O_CLOEXEC);
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

static void fsck_blob_problem(struct fsck_ctx *c, const struct fsck_want *w,
			      const char *what)
{
	char seg[32];

	fsck_seg_name(w->v->seg, seg, sizeof(seg));
	fprintf(c->out, "blobs/%016" PRIx64 ": %s (key ", w->v->blob_id, what);
	fsck_key_print(c->out, w->k->key, w->k->len);
	fprintf(c->out, " v%" PRIu64 ", %s at offset %" PRIu64 ")\n",
		w->v->version, seg, w->v->off);
	c->problems++;
}

/* Hash one blob, streaming: blobs can be far larger than memory.
 * @return 0 and *size/hash; -ENOENT; other -errno. */
static int fsck_blob_hash(struct fsck_ctx *c, uint64_t id, uint8_t *buf,
			  XXH3_state_t *st, uint64_t *size, uint8_t hash[16])
{
	char name[48];
	XXH128_canonical_t canon;
	struct stat sb;
	uint64_t pos = 0;
	int fd, err = 0;

	snprintf(name, sizeof(name), "blobs/%016" PRIx64, id);
	fd = openat(c->dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		err = -errno;
		goto out;
	}
	*size = (uint64_t)sb.st_size;
	XXH3_128bits_reset(st);
	for (;;) {
		ssize_t n = pread(fd, buf, FSCK_BLOB_BUF, (off_t)pos);

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

static int fsck_blobs(struct fsck_ctx *c)
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
		int rc = fsck_blob_hash(c, id, buf, st, &size, hash);

		c->blobs_checked++;
		for (j = i; j < nwant && want[j].v->blob_id == id; j++) {
			const struct fsck_ver *v = want[j].v;
			char hex[33], msg[128];

			if (rc == -ENOENT) {
				snprintf(msg, sizeof(msg), "missing");
				c->lost++;
			} else if (rc) {
				snprintf(msg, sizeof(msg), "%s", strerror(-rc));
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
static void fsck_orphans(struct fsck_ctx *c)
{
	struct dirent *de;
	DIR *d;
	int fd = openat(c->dfd, "blobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

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

/* ---- Entry points -------------------------------------------------- */

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

		if (s->obsolete) {
			/* Left by a crash between writing a compacted
			 * segment and removing what it replaced. */
			fsck_seg_name(s->by, by, sizeof(by));
			fprintf(out, "%s: obsolete (superseded by %s)\n",
				s->name, by);
			continue;
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
	err = fsck_blobs(&c);
	if (err) {
		fprintf(out, "%s: %s\n", dir, strerror(-err));
		goto out;
	}
	/* Entries past damage were never read: their blobs are not garbage. */
	if (!c.partial)
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
	if (lost)
		*lost = c.lost;
out:
	fsck_close(&c);
	return err;
}

static void fsck_dump_entry(FILE *out, const char *seg, uint64_t off,
			    const struct log_entry *e)
{
	static const char *const flag_names[] = { "COMMIT", "HIST", "BLOB" };
	struct log_body b;
	char t[64], hex[33];
	int first = 1;

	fprintf(out, "%s %" PRIu64 " %s[", seg, off, fsck_type_name(e->type));
	for (int i = 0; i < 3; i++) {
		if (!(e->flags & (1u << i)))
			continue;
		fprintf(out, "%s%s", first ? "" : ",", flag_names[i]);
		first = 0;
	}
	fprintf(out, "] key=");
	fsck_key_print(out, e->key, e->key_len);
	fsck_time(e->time_ns, t, sizeof(t));
	fprintf(out, " v=%" PRIu64 " t=%s len=%" PRIu64 " body=%" PRIu32,
		e->version, t, e->value_len, e->body_len);
	if (e->type == LOG_PUT || e->type == LOG_META ||
	    e->type == LOG_MKDIR) {
		if (log_body_decode(e->body, e->body_len, &b) < 0) {
			fprintf(out, " body-bad\n");
			return;
		}
		if (e->flags & LOG_F_BLOB)
			fprintf(out, " blob=%016" PRIx64, b.blob_id);
		fprintf(out, " mode=0%o uid=%" PRIu32 " gid=%" PRIu32,
			b.meta.mode, b.meta.uid, b.meta.gid);
		if (e->type == LOG_PUT) {
			fsck_hex(b.hash, 16, hex);
			fprintf(out, " hash=%s", hex);
		}
	}
	fputc('\n', out);
}

int store_dump(const char *dir, FILE *out)
{
	struct fsck_ctx c;
	struct log_reader r = { .fd = -1 };
	struct log_entry e;
	uint64_t off, group_start = 0;
	int fd = -1, rc, err, open_group;

	err = fsck_open(&c, dir, 0, out);
	if (err)
		goto out;
	for (size_t i = 0; i < c.nsegs; i++) {
		struct fsck_seg *s = &c.segs[i];
		char by[32];

		if (s->obsolete) {
			fsck_seg_name(s->by, by, sizeof(by));
			fprintf(out, "# %s: obsolete (superseded by %s)\n",
				s->name, by);
			if (s->hdr)
				continue;
		}
		if (s->hdr) {
			fprintf(out, "%s: %s, dump stopped\n", s->name,
				s->hdr == -EPROTONOSUPPORT ? "future format"
							   : "bad header");
			err = 1;
			goto out;
		}
		fd = openat(c.dfd, s->name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			fprintf(out, "%s: %s\n", s->name, strerror(errno));
			goto out;
		}
		err = log_reader_init(&r, fd);
		if (err)
			goto out;
		open_group = 0;
		while ((rc = log_reader_next(&r, &e, &off)) == 1) {
			if (!open_group)
				group_start = off;
			open_group = !(e.flags & LOG_F_COMMIT);
			fsck_dump_entry(out, s->name, off, &e);
		}
		/* Zeros after the last entry: the end, as replay has it. */
		if (rc == -EUCLEAN && !open_group) {
			rc = log_reader_zero_end(&r, off);
			rc = rc > 0 ? 0 : rc == 0 ? -EUCLEAN : rc;
		}
		if (rc == 0 && open_group) {
			fprintf(out, "%s %" PRIu64 " torn tail (unclosed group), "
				     "dump stopped\n", s->name, group_start);
			err = 1;
			goto out;
		}
		if (rc == -EUCLEAN) {
			int torn = log_reader_torn(&r, off);

			fprintf(out, "%s %" PRIu64 " %s, dump stopped\n", s->name,
				off, torn > 0 ? "torn tail" : torn == 0
						  ? "corrupt entry" : "damaged entry");
			err = 1;
			goto out;
		}
		if (rc < 0) {
			err = rc;
			fprintf(out, "%s: reading at offset %" PRIu64 ": %s\n",
				s->name, off, strerror(-rc));
			goto out;
		}
		log_reader_free(&r);
		close(fd);
		fd = -1;
	}
out:
	log_reader_free(&r);
	if (fd >= 0)
		close(fd);
	fsck_close(&c);
	return err;
}

/* test_powerloss.c - a power cut under group commit.
 *
 * Every commit that is promised durable must survive a power cut, however
 * the group syncs overlap, and the store must open after one.  A store_io
 * models the disk: each pwrite and ftruncate of a file is pending until
 * an fdatasync of that file (through any descriptor) that began after it
 * returns; then it is durable.  A directory's entries are durable as
 * they were listed when an fdatasync of it began, once it returns; a
 * file the cycle made whose name is not durable at the cut is lost.
 *
 * Writer threads put values on keys of their own (a quarter of them over
 * inline_max: blobs), each durable: with sync_always, or by a store_sync
 * after the put (as fsync is).  Each acknowledgement is checked at once:
 * every write its thread made for it (the spool file that became its
 * blob, the log entry) must be durable by then.  That catches, every
 * time, a roll that left its old segment's tail unsynced or a sync that
 * promised past its target.  At a random moment the test cuts the power:
 * it copies the durable images and the acknowledged versions at one
 * instant.  After the writers stop, the store's files are set back to
 * those images (files made after the cut removed, hints too: they are
 * never synced), and the store, reopened with the real calls, must open
 * and hold every acknowledged version, or a later one, whole.  (Before
 * blobs were synced at their commit in every mode, a log entry could be
 * durable before its blob, and the store then refused to open.)
 *
 * Auto compaction is off (it removes files); small segments make rolls. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

enum { NTHR = 6, NFILE = 1024, CYCLES = 4 };

/* One write, or a truncation to off (data NULL), not yet durable. */
struct op {
	uint64_t seq;
	off_t off;
	size_t n;
	uint8_t *data;
};

struct file {
	dev_t dev;
	ino_t ino;
	uint8_t *img; /* durable bytes */
	size_t len;
	struct op *ops; /* pending, in seq order */
	size_t nops, cap;
};

/* A directory's durable entries: its listing when its last completed
 * sync began. */
enum { NDIR = 8, NAME_MAX_ = 64 };
struct dent {
	char name[NAME_MAX_];
	ino_t ino;
};
struct dir {
	dev_t dev;
	ino_t ino;
	struct dent *ents;
	size_t n;
	uint64_t listed; /* disk.seq when that sync began */
};

struct disk {
	pthread_mutex_t mu;
	uint64_t seq;
	struct file f[NFILE];
	size_t nf;
	struct dir d[NDIR];
	size_t nd;
	int failed; /* the model itself ran short: the test fails */
	uint64_t acked[NTHR]; /* versions acknowledged, under mu */
};

static struct disk disk;

/* This thread's last write: the entry its commit appended (the store
 * appends in the committing thread).  When a durable put returns, that
 * write must be durable in the model already: checked at every
 * acknowledgement, not only at the cuts. */
#define MY_MAX 8
static _Thread_local struct mine {
	struct file *f;
	uint64_t seq; /* this thread's last write to it */
} my[MY_MAX];
static _Thread_local int nmy;
static atomic_int early_acks; /* acknowledgements ahead of their sync */

/* Note this thread's write to @f (the spool that becomes a blob, the
 * log).  Caller holds disk.mu. */
static void note_mine(struct file *f)
{
	int i = 0;

	if (!f)
		return; /* disk.failed is set */
	for (; i < nmy && my[i].f != f; i++)
		;
	if (i == MY_MAX) {
		disk.failed = 1;
		return;
	}
	if (i == nmy) {
		my[i].f = f;
		nmy++;
	}
	my[i].seq = disk.seq;
}

static void file_free(struct file *f)
{
	for (size_t i = 0; i < f->nops; i++)
		free(f->ops[i].data);
	free(f->ops);
	free(f->img);
	memset(f, 0, sizeof(*f));
}

static void disk_reset(void)
{
	for (size_t i = 0; i < disk.nf; i++)
		file_free(&disk.f[i]);
	disk.nf = 0;
	for (size_t i = 0; i < disk.nd; i++)
		free(disk.d[i].ents);
	disk.nd = 0;
	disk.seq = 0;
	disk.failed = 0;
}

/* The model of @fd's file, made at first sight with its bytes as they
 * are (durable: earlier cycles ended with everything on disk).  Caller
 * holds disk.mu; NULL when the model is full. */
static struct file *file_of(int fd)
{
	struct stat sb;
	struct file *f;

	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		return NULL; /* directories are not modelled */
	for (size_t i = 0; i < disk.nf; i++)
		if (disk.f[i].dev == sb.st_dev && disk.f[i].ino == sb.st_ino)
			return &disk.f[i];
	if (disk.nf == NFILE)
		return NULL;
	f = &disk.f[disk.nf++];
	memset(f, 0, sizeof(*f));
	f->dev = sb.st_dev;
	f->ino = sb.st_ino;
	f->len = (size_t)sb.st_size;
	f->img = malloc(f->len ? f->len : 1);
	if (!f->img || pread(fd, f->img, f->len, 0) != (ssize_t)f->len) {
		file_free(f);
		disk.nf--;
		return NULL;
	}
	return f;
}

static int add_op(int fd, off_t off, size_t n, const void *data)
{
	struct file *f = file_of(fd);
	struct op o = { .seq = ++disk.seq, .off = off, .n = n };

	if (!f)
		return -1;
	if (data) {
		o.data = malloc(n ? n : 1);
		if (!o.data)
			return -1;
		memcpy(o.data, data, n);
	}
	if (f->nops == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 64;
		struct op *no = realloc(f->ops, nc * sizeof(*no));
		if (!no) {
			free(o.data);
			return -1;
		}
		f->ops = no;
		f->cap = nc;
	}
	f->ops[f->nops++] = o;
	return 0;
}

/* Make @f's ops up to @seq durable. */
static int apply(struct file *f, uint64_t seq)
{
	size_t i = 0;

	for (; i < f->nops && f->ops[i].seq <= seq; i++) {
		struct op *o = &f->ops[i];
		size_t end = o->data ? (size_t)o->off + o->n : (size_t)o->off;

		if (end > f->len || !o->data) {
			uint8_t *ni = realloc(f->img, end ? end : 1);
			if (!ni)
				return -1;
			if (end > f->len)
				memset(ni + f->len, 0, end - f->len);
			f->img = ni;
			f->len = o->data && end < f->len ? f->len : end;
		}
		if (o->data)
			memcpy(f->img + o->off, o->data, o->n);
		free(o->data);
	}
	if (i && i < f->nops) /* (f->ops may be NULL: nothing pending) */
		memmove(f->ops, f->ops + i, (f->nops - i) * sizeof(*f->ops));
	f->nops -= i;
	return 0;
}

static ssize_t d_pwrite(void *ctx, int fd, const void *buf, size_t n,
			off_t off)
{
	ssize_t r;

	(void)ctx;
	pthread_mutex_lock(&disk.mu);
	/* Under the lock, so that the model's order is the file's. */
	if (!file_of(fd))
		disk.failed = 1;
	r = pwrite(fd, buf, n, off);
	if (r > 0 && add_op(fd, off, (size_t)r, buf) < 0)
		disk.failed = 1;
	if (r > 0)
		note_mine(file_of(fd));
	pthread_mutex_unlock(&disk.mu);
	return r;
}

static int d_ftruncate(void *ctx, int fd, off_t len)
{
	int r;

	(void)ctx;
	pthread_mutex_lock(&disk.mu);
	if (!file_of(fd))
		disk.failed = 1;
	r = ftruncate(fd, len);
	if (r == 0 && add_op(fd, len, 0, NULL) < 0)
		disk.failed = 1;
	pthread_mutex_unlock(&disk.mu);
	return r;
}

/* Directory @fd's entries now (regular files only), through a
 * description of our own: the store reads its directories too. */
static struct dent *list_dir(int fd, size_t *n)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	struct dent *e = NULL;
	struct dirent *de;
	size_t cap = 0;

	*n = 0;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return NULL;
	}
	while ((de = readdir(d))) {
		if (de->d_type != DT_REG || strlen(de->d_name) >= NAME_MAX_)
			continue;
		if (*n == cap) {
			struct dent *ne;
			cap = cap ? cap * 2 : 64;
			ne = realloc(e, cap * sizeof(*e));
			if (!ne)
				break;
			e = ne;
		}
		strcpy(e[*n].name, de->d_name);
		e[*n].ino = de->d_ino;
		(*n)++;
	}
	closedir(d);
	return e ? e : calloc(1, sizeof(*e));
}

/* The entries listed at @ents (when disk.seq was
 * @listed) become the durable ones of the directory @sb describes,
 * unless a sync that began later has already returned: two syncs of one
 * directory may overlap (two group syncs each syncing the store's).
 * Takes @ents.  Caller holds disk.mu.
 * @return -1 when the model is full. */
static int dir_synced(const struct stat *sb, struct dent *ents, size_t n,
		      uint64_t listed)
{
	size_t i;

	if (!ents)
		return -1;
	for (i = 0; i < disk.nd; i++)
		if (disk.d[i].dev == sb->st_dev && disk.d[i].ino == sb->st_ino)
			break;
	if (i == disk.nd) {
		if (disk.nd == NDIR) {
			free(ents);
			return -1;
		}
		disk.nd++;
		disk.d[i] = (struct dir){ .dev = sb->st_dev,
					  .ino = sb->st_ino };
	} else if (disk.d[i].listed > listed) {
		free(ents);
		return 0;
	}
	free(disk.d[i].ents);
	disk.d[i].ents = ents;
	disk.d[i].n = n;
	disk.d[i].listed = listed;
	return 0;
}

/* What was written before the call is durable when it returns; for a
 * directory, the entries it had when the call began. */
static int d_fdatasync(void *ctx, int fd)
{
	struct file *f;
	struct dent *ents = NULL;
	struct stat sb;
	size_t nents = 0;
	uint64_t upto;
	int r;

	(void)ctx;
	if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		pthread_mutex_lock(&disk.mu);
		upto = ++disk.seq; /* orders the listings */
		pthread_mutex_unlock(&disk.mu);
		ents = list_dir(fd, &nents);
		r = fdatasync(fd);
		pthread_mutex_lock(&disk.mu);
		if (r == 0 && dir_synced(&sb, ents, nents, upto) < 0)
			disk.failed = 1;
		pthread_mutex_unlock(&disk.mu);
		if (r < 0)
			free(ents);
		return r;
	}
	pthread_mutex_lock(&disk.mu);
	upto = disk.seq;
	pthread_mutex_unlock(&disk.mu);
	r = fdatasync(fd);
	if (r < 0)
		return r;
	pthread_mutex_lock(&disk.mu);
	f = file_of(fd); /* NULL: a directory */
	if (f && apply(f, upto) < 0)
		disk.failed = 1;
	pthread_mutex_unlock(&disk.mu);
	return 0;
}

static const struct store_io disk_io = { .pwrite = d_pwrite,
					  .ftruncate = d_ftruncate,
					  .fdatasync = d_fdatasync };

/* ---- the cut ------------------------------------------------------- */

struct image {
	dev_t dev;
	ino_t ino;
	uint8_t *img;
	size_t len;
};

struct cut {
	struct image im[NFILE];
	size_t n;
	struct dir d[NDIR]; /* durable entries, copied */
	size_t nd;
	uint64_t acked[NTHR];
};

/* Copy the durable images and the acknowledged versions at one instant. */
static void take_cut(struct cut *c)
{
	pthread_mutex_lock(&disk.mu);
	c->n = disk.nf;
	for (size_t i = 0; i < disk.nf; i++) {
		struct file *f = &disk.f[i];
		c->im[i] = (struct image){ .dev = f->dev, .ino = f->ino,
					   .len = f->len };
		c->im[i].img = malloc(f->len ? f->len : 1);
		assert_non_null(c->im[i].img);
		memcpy(c->im[i].img, f->img, f->len);
	}
	c->nd = disk.nd;
	for (size_t i = 0; i < disk.nd; i++) {
		c->d[i] = disk.d[i];
		c->d[i].ents = malloc((disk.d[i].n ? disk.d[i].n : 1) *
				      sizeof(struct dent));
		assert_non_null(c->d[i].ents);
		memcpy(c->d[i].ents, disk.d[i].ents,
		       disk.d[i].n * sizeof(struct dent));
	}
	memcpy(c->acked, disk.acked, sizeof(c->acked));
	pthread_mutex_unlock(&disk.mu);
}

/* The store's files (by inode) there before a cycle: durable as they
 * are unless the cycle changed them. */
static ino_t *start_ino;
static size_t start_n, start_cap;

static int is_ext(const char *name, const char *ext)
{
	size_t nl = strlen(name), el = strlen(ext);

	return nl > el && !strcmp(name + nl - el, ext);
}

static int note_start(const char *path, const struct stat *sb, int type,
		      struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	if (start_n == start_cap) {
		start_cap = start_cap ? start_cap * 2 : 256;
		start_ino = realloc(start_ino, start_cap * sizeof(*start_ino));
		if (!start_ino)
			return -1;
	}
	start_ino[start_n++] = sb->st_ino;
	return 0;
}

static struct cut *cur_cut; /* restore_one's, during restore() */

/* Was @name (inode @ino) in @path's directory durably at the cut?  Only
 * asked of files the cycle made: a directory never synced in the cycle
 * has no entry made in it that survives. */
static int named(const struct cut *c, const char *path, int base,
		 const char *name, ino_t ino)
{
	char dir[256];
	struct stat sb;

	if (base <= 0 || (size_t)base >= sizeof(dir))
		return 0;
	memcpy(dir, path, (size_t)base - 1);
	dir[base - 1] = 0;
	if (stat(dir, &sb) < 0)
		return 0;
	for (size_t i = 0; i < c->nd; i++) {
		if (c->d[i].dev != sb.st_dev || c->d[i].ino != sb.st_ino)
			continue;
		for (size_t k = 0; k < c->d[i].n; k++)
			if (c->d[i].ents[k].ino == ino &&
			    !strcmp(c->d[i].ents[k].name, name))
				return 1;
		return 0;
	}
	return 0;
}

/* One file back as the cut left it: a modelled one to its durable
 * image; one made after the cut removed, and hints (never synced, so
 * rebuilt); one the cycle never touched kept. */
static int restore_one(const char *path, const struct stat *sb, int type,
		       struct FTW *ftw)
{
	const char *name = path + ftw->base;
	struct cut *c = cur_cut;
	size_t i, j;
	int fd;

	if (type != FTW_F || !strcmp(name, "LOCK") || !strcmp(name, "RESERVE"))
		return 0;
	for (i = 0; i < c->n; i++)
		if (c->im[i].dev == sb->st_dev && c->im[i].ino == sb->st_ino)
			break;
	for (j = 0; j < start_n && start_ino[j] != sb->st_ino; j++)
		;
	if (is_ext(name, ".hint") || (i == c->n && j == start_n) ||
	    (j == start_n && !named(c, path, ftw->base, name, sb->st_ino)))
		return unlink(path);
	if (i == c->n)
		return 0;
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0 || pwrite(fd, c->im[i].img, c->im[i].len, 0) !=
			      (ssize_t)c->im[i].len)
		return -1;
	return close(fd);
}

static void restore(const char *dir, struct cut *c)
{
	cur_cut = c;
	assert_int_equal(nftw(dir, restore_one, 16, FTW_PHYS), 0);
	for (size_t i = 0; i < c->n; i++)
		free(c->im[i].img);
	for (size_t i = 0; i < c->nd; i++)
		free(c->d[i].ents);
}

/* ---- writers ------------------------------------------------------- */

struct writer {
	struct store *st;
	int id;
	int fsync;        /* store_sync after each put (no sync_always) */
	atomic_int *stop;
	uint64_t ver;
	int rc;
	pthread_t tid;
};

/* Sizes vary so that entries straddle pages and segment ends, and some
 * are above inline_max (blobs). */
static size_t size_of(uint64_t ver)
{
	return 40 + (size_t)(ver * 37 % 300);
}

static void value_of(int id, uint64_t ver, char *buf, size_t len)
{
	int n = snprintf(buf, len, "w%d:v%" PRIu64 ":", id, ver);

	for (size_t i = (size_t)n; i < size_of(ver); i++)
		buf[i] = (char)('a' + (i + ver) % 26);
	buf[size_of(ver)] = 0;
}

/* After an acknowledgement: every write this thread made for it (the
 * log entry; the spool file that became its blob) must be durable. */
static void check_mine(void)
{
	for (int i = 0; i < nmy; i++)
		if (my[i].f->nops && my[i].f->ops[0].seq <= my[i].seq)
			atomic_fetch_add(&early_acks, 1);
}

static void *write_loop(void *p)
{
	struct writer *w = p;
	char key[16], val[512];

	snprintf(key, sizeof(key), "k%d", w->id);
	while (!atomic_load(w->stop)) {
		uint64_t v;

		nmy = 0;
		value_of(w->id, w->ver + 1, val, sizeof(val));
		w->rc = store_put(w->st, key, w->ver ? w->ver : STORE_ANY, val,
				  strlen(val), NULL, &v);
		if (w->rc == 0 && w->fsync)
			w->rc = store_sync(w->st);
		if (w->rc < 0)
			break;
		w->ver = v;
		pthread_mutex_lock(&disk.mu);
		disk.acked[w->id] = v;
		check_mine();
		pthread_mutex_unlock(&disk.mu);
	}
	return NULL;
}

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static struct store *open_store(const char *dir, const struct store_io *io,
				int sync_always)
{
	struct store_opts o = { 0 };
	struct store *st = NULL;
	char err[256] = "";

	o.sync_always = sync_always;
	o.compact_ratio = -1;          /* compaction removes files */
	o.segment_size = 8 << 10;      /* rolls often within a cycle */
	o.inline_max = 256;            /* a quarter of the values are blobs */
	o.io = io;
	o.errbuf = err;
	o.errlen = sizeof(err);
	if (store_open(dir, &o, &st) < 0)
		fail_msg("store_open: %s", err);
	return st;
}

/* Every version acknowledged before the cut is there after it, or a
 * later one, whole. */
static void check(const char *dir, const struct cut *c, uint64_t *ver)
{
	struct store *st = open_store(dir, NULL, 1);

	for (int id = 0; id < NTHR; id++) {
		char key[16], want[512], *buf = NULL;
		size_t len = 0;
		struct store_stat s;

		snprintf(key, sizeof(key), "k%d", id);
		if (!c->acked[id]) {
			ver[id] = 0;
			if (store_get(st, key, &buf, &len, &s) == 0) {
				ver[id] = s.version;
				free(buf);
			}
			continue;
		}
		assert_int_equal(store_get(st, key, &buf, &len, &s), 0);
		if (s.version < c->acked[id])
			fail_msg("%s: version %" PRIu64 " acknowledged, %" PRIu64
				 " after the cut", key, c->acked[id], s.version);
		value_of(id, s.version, want, sizeof(want));
		assert_int_equal(len, strlen(want));
		assert_memory_equal(buf, want, len);
		ver[id] = s.version;
		free(buf);
	}
	assert_int_equal(store_close(st), 0);
}

/* Cycles of writers cut at a random moment.  @fsync 0: sync_always,
 * every put durable; 1: plain puts, each followed by store_sync (as
 * fsync is), so blobs and rolled segments are synced by the group. */
static void power_cuts(int fsync)
{
	char tmp[] = "/tmp/recfs-test-power-XXXXXX", dir[64];
	unsigned seed = (unsigned)time(NULL);
	uint64_t ver[NTHR] = { 0 };
	long total = 0;

	if (getenv("RECFS_SEED"))
		seed = (unsigned)strtoul(getenv("RECFS_SEED"), NULL, 10);
	print_message("seed %u (RECFS_SEED replays it)\n", seed);
	srand(seed);
	assert_non_null(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/store", tmp);
	assert_int_equal(store_close(open_store(dir, NULL, !fsync)), 0);
	for (int cyc = 0; cyc < CYCLES; cyc++) {
		struct writer w[NTHR];
		struct cut c;
		atomic_int stop = 0;
		struct timespec d = { 0, (40 + rand() % 160) * 1000000L };
		struct store *st;

		start_n = 0;
		assert_int_equal(nftw(dir, note_start, 16, FTW_PHYS), 0);
		disk_reset();
		memset(disk.acked, 0, sizeof(disk.acked));
		st = open_store(dir, &disk_io, !fsync);
		for (int i = 0; i < NTHR; i++) {
			w[i] = (struct writer){ .st = st, .id = i,
						.fsync = fsync, .stop = &stop,
						.ver = ver[i] };
			assert_int_equal(pthread_create(&w[i].tid, NULL,
							write_loop, &w[i]), 0);
		}
		nanosleep(&d, NULL);
		take_cut(&c);
		atomic_store(&stop, 1);
		for (int i = 0; i < NTHR; i++) {
			assert_int_equal(pthread_join(w[i].tid, NULL), 0);
			assert_int_equal(w[i].rc, 0);
			total += (long)(w[i].ver - ver[i]);
		}
		assert_int_equal(store_close(st), 0);
		assert_false(disk.failed);
		assert_int_equal(atomic_load(&early_acks), 0);
		restore(dir, &c);
		check(dir, &c, ver);
	}
	print_message("%ld durable commits in %d cycles\n", total, CYCLES);
	assert_true(total > 0);
	{ /* the cycles made blobs, and rolled the log */
		char sub[96];
		struct stat sb;

		snprintf(sub, sizeof(sub), "%s/blobs", dir);
		assert_int_equal(stat(sub, &sb), 0);
		assert_true(sb.st_nlink >= 2);
		start_n = 0;
		assert_int_equal(nftw(sub, note_start, 16, FTW_PHYS), 0);
		assert_true(start_n > 0);
		start_n = 0;
		assert_int_equal(nftw(dir, note_start, 16, FTW_PHYS), 0);
		print_message("%zu files in the store\n", start_n);
	}
	disk_reset();
	free(start_ino);
	start_ino = NULL;
	start_n = start_cap = 0;
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_power_cut_sync_always(void **state)
{
	(void)state;
	power_cuts(0);
}

static void test_power_cut_fsync(void **state)
{
	(void)state;
	power_cuts(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_power_cut_sync_always),
		cmocka_unit_test(test_power_cut_fsync),
	};

	pthread_mutex_init(&disk.mu, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

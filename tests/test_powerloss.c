/* test_powerloss.c - a power cut under durable group commit.
 *
 * With sync_always every commit that returns must survive a power cut,
 * however the group syncs overlap.  A store_io models the disk: each
 * pwrite and ftruncate of a file is pending until an fdatasync of that
 * file (through any descriptor) that began after it returns; then it is
 * durable.  Writer threads make durable puts on keys of their own and
 * note each version acknowledged.  At a random moment the test "cuts the
 * power": it copies the durable images and the acknowledged versions at
 * one instant.  After the writers stop, the store's segment files are
 * set back to those images (files made after the cut are removed, hints
 * too: they are never synced), and the store reopened with the real
 * calls must hold every acknowledged version, or a later one, whole.
 * Between cuts, every acknowledgement is checked too: the write of the
 * entry its commit appended must be durable in the model by then (this
 * is what catches a roll that left its old segment's tail unsynced, or
 * a sync that promised past its target, every time; a cut catches them
 * only when it falls in the window).
 *
 * Only segment files are modelled, so records stay inline (no blobs) and
 * auto compaction is off (it removes files); small segments make rolls. */
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

struct disk {
	pthread_mutex_t mu;
	uint64_t seq;
	struct file f[NFILE];
	size_t nf;
	int failed; /* the model itself ran short: the test fails */
	uint64_t acked[NTHR]; /* versions acknowledged, under mu */
};

static struct disk disk;

/* This thread's last write: the entry its commit appended (the store
 * appends in the committing thread).  When a durable put returns, that
 * write must be durable in the model already: checked at every
 * acknowledgement, not only at the cuts. */
static _Thread_local struct file *my_file;
static _Thread_local uint64_t my_seq;
static atomic_int early_acks; /* acknowledgements ahead of their sync */

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
	my_file = file_of(fd);
	my_seq = disk.seq;
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

/* What was written before the call is durable when it returns. */
static int d_fdatasync(void *ctx, int fd)
{
	struct file *f;
	uint64_t upto;
	int r;

	(void)ctx;
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
	memcpy(c->acked, disk.acked, sizeof(c->acked));
	pthread_mutex_unlock(&disk.mu);
}

/* The segment files (by inode) there before a cycle: durable as they
 * are unless the cycle changed them. */
struct start_set {
	ino_t ino[NFILE];
	size_t n;
};

static int is_seg(const char *name, const char *ext)
{
	size_t nl = strlen(name), el = strlen(ext);

	return nl > el && !strcmp(name + nl - el, ext);
}

static void list_segs(const char *dir, struct start_set *ss)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	ss->n = 0;
	while ((de = readdir(d)))
		if (is_seg(de->d_name, ".seg") && ss->n < NFILE)
			ss->ino[ss->n++] = de->d_ino;
	closedir(d);
}

/* Put the store's files back as the cut left them: modelled segments to
 * their durable images, segments made after the cut removed, those the
 * cycle never touched kept; hints removed (never synced, rebuilt). */
static void restore(const char *dir, struct cut *c,
		    const struct start_set *ss)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[512];
		struct stat sb;
		size_t i, j;

		if (!is_seg(de->d_name, ".seg") && !is_seg(de->d_name, ".hint"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(stat(path, &sb), 0);
		for (i = 0; i < c->n; i++)
			if (c->im[i].dev == sb.st_dev &&
			    c->im[i].ino == sb.st_ino)
				break;
		for (j = 0; j < ss->n && ss->ino[j] != sb.st_ino; j++)
			;
		if (is_seg(de->d_name, ".hint") || (i == c->n && j == ss->n)) {
			assert_int_equal(unlink(path), 0);
			continue;
		}
		if (i == c->n)
			continue; /* untouched since the cycle began */
		int fd = open(path, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, c->im[i].img, c->im[i].len, 0),
				 (ssize_t)c->im[i].len);
		close(fd);
	}
	closedir(d);
	for (size_t i = 0; i < c->n; i++)
		free(c->im[i].img);
}

/* ---- writers ------------------------------------------------------- */

struct writer {
	struct store *st;
	int id;
	atomic_int *stop;
	uint64_t ver;
	int rc;
	pthread_t tid;
};

static void value_of(int id, uint64_t ver, char *buf, size_t len)
{
	/* Sizes vary so that entries straddle pages and segment ends. */
	int n = snprintf(buf, len, "w%d:v%" PRIu64 ":", id, ver);

	for (size_t i = (size_t)n; i < 40 + (ver * 37 % 300); i++)
		buf[i] = (char)('a' + (i + ver) % 26);
	buf[40 + (ver * 37 % 300)] = 0;
}

static void *write_loop(void *p)
{
	struct writer *w = p;
	char key[16], val[512];

	snprintf(key, sizeof(key), "k%d", w->id);
	while (!atomic_load(w->stop)) {
		uint64_t v;

		value_of(w->id, w->ver + 1, val, sizeof(val));
		w->rc = store_put(w->st, key, w->ver ? w->ver : STORE_ANY, val,
				  strlen(val), NULL, &v);
		if (w->rc < 0)
			break;
		w->ver = v;
		pthread_mutex_lock(&disk.mu);
		disk.acked[w->id] = v;
		if (!my_file ||
		    (my_file->nops && my_file->ops[0].seq <= my_seq))
			atomic_fetch_add(&early_acks, 1);
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

static struct store *open_store(const char *dir, const struct store_io *io)
{
	struct store_opts o = { 0 };
	struct store *st = NULL;
	char err[256] = "";

	o.sync_always = 1;
	o.compact_ratio = -1;          /* compaction removes files */
	o.segment_size = 8 << 10;      /* rolls often within a cycle */
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
	struct store *st = open_store(dir, NULL);

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

static void test_power_cut(void **state)
{
	char tmp[] = "/tmp/recfs-test-power-XXXXXX", dir[64];
	unsigned seed = (unsigned)time(NULL);
	uint64_t ver[NTHR] = { 0 };
	long total = 0;

	(void)state;
	if (getenv("RECFS_SEED"))
		seed = (unsigned)strtoul(getenv("RECFS_SEED"), NULL, 10);
	print_message("seed %u (RECFS_SEED replays it)\n", seed);
	srand(seed);
	assert_non_null(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/store", tmp);
	assert_int_equal(store_close(open_store(dir, NULL)), 0);
	for (int cyc = 0; cyc < CYCLES; cyc++) {
		struct writer w[NTHR];
		struct start_set ss;
		struct cut c;
		atomic_int stop = 0;
		struct timespec d = { 0, (40 + rand() % 160) * 1000000L };
		struct store *st;

		list_segs(dir, &ss);
		disk_reset();
		memset(disk.acked, 0, sizeof(disk.acked));
		st = open_store(dir, &disk_io);
		for (int i = 0; i < NTHR; i++) {
			w[i] = (struct writer){ .st = st, .id = i, .stop = &stop,
						.ver = ver[i] };
			disk.acked[i] = 0;
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
		restore(dir, &c, &ss);
		check(dir, &c, ver);
	}
	print_message("%ld durable commits in %d cycles\n", total, CYCLES);
	assert_true(total > 0);
	disk_reset();
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_power_cut),
	};

	pthread_mutex_init(&disk.mu, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

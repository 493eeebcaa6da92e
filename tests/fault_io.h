/* fault_io.h - the store I/O table with faults injected (test_faults.c,
 * test_reserve.c): a write, short write, sync or preallocation that fails
 * at its Nth call, a full disk, and the lengths made durable per file for
 * the power-loss model.  Also the tests' temporary root.  Header-only:
 * each test is its own program. */
#ifndef FAULT_IO_H
#define FAULT_IO_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"

enum kind { F_NONE, F_WRITE, F_SHORT, F_SYNC, F_ALLOC };

/* Lengths made durable, per file, for the power-loss model.  Lives in
 * shared memory so that a forked writer can report to the parent. */
#define MAXFILES 512
#define MAXDIRS 16
struct synced {
	int n, nd;
	long seq; /* orders first writes and directory syncs */
	struct {
		ino_t ino; /* by inode: a synced spool file becomes a blob */
		off_t len;
		off_t dlo, dhi; /* written since its last sync (dhi 0: none) */
		long first; /* seq of its first write */
	} f[MAXFILES];
	/* A file's name survives only if its directory was synced after
	 * the file's first write (a name made by a later rename or link
	 * is taken as made then: conservative, never a false loss). */
	struct {
		ino_t ino;
		long synced; /* seq of its last sync */
	} d[MAXDIRS];
};

struct fault {
	enum kind kind;
	int fail_at; /* 1-based call of that kind to fail, 0 never */
	int count;
	int fired;
	struct synced *synced;
	int full;    /* a full disk: every fallocate fails with ENOSPC */
	int nalloc;  /* fallocate calls seen */
	int fill;    /* the last write was zeros written ahead (a fill) */
	int fired_fill; /* the fault fired at such a write (or its sync) */
	int fired_spool; /* the sync fault fired at a spool file */
	int fired_seg;   /* ... at a (named) log segment */
	int fired_dir;   /* ... at a directory (names made durable) */
	int synced_compact; /* a compaction's output was synced */
	int nfill;   /* syncs of fills seen */
	int die_at_fill; /* power off in this fill's sync (1-based) */
	int nsync;   /* syncs seen */
	int die_at_sync; /* power off in this sync (1-based) */
};

/* The store writes nothing but zeros only to fill the log's tail (an
 * entry starts with its checksum; the workload's contents are
 * letters). */
static inline int is_fill(const void *buf, size_t n)
{
	const char *b = buf;

	return n > 0 && b[0] == 0 && memcmp(b, b + 1, n - 1) == 0;
}

static inline int file_slot(struct synced *s, int fd)
{
	struct stat sb;
	int i;

	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		return -1;
	for (i = 0; i < s->n; i++)
		if (s->f[i].ino == sb.st_ino)
			return i;
	if (s->n == MAXFILES)
		return -1;
	s->f[i].ino = sb.st_ino;
	s->f[i].len = 0;
	s->f[i].dlo = s->f[i].dhi = 0;
	s->f[i].first = 0;
	return s->n++;
}

/* What was written since the last sync of its file may not be on disk. */
static inline void note_written(struct synced *s, int fd, off_t off, ssize_t n)
{
	int i = n > 0 ? file_slot(s, fd) : -1;

	if (i < 0)
		return;
	if (!s->f[i].first)
		s->f[i].first = ++s->seq;
	if (!s->f[i].dhi || off < s->f[i].dlo)
		s->f[i].dlo = off;
	if (off + n > s->f[i].dhi)
		s->f[i].dhi = off + n;
}

static inline int counts_as(const struct fault *f, enum kind k)
{
	return f->kind == k || (f->kind == F_SHORT && k == F_WRITE);
}

static inline int hit(struct fault *f, enum kind k)
{
	if (!counts_as(f, k))
		return 0;
	f->count++;
	if (f->fail_at && f->count == f->fail_at) {
		f->fired = 1;
		return 1;
	}
	return 0;
}

static inline ssize_t f_pwrite(void *ctx, int fd, const void *buf, size_t n,
			       off_t off)
{
	struct fault *f = ctx;
	ssize_t w;

	f->fill = is_fill(buf, n);
	if (hit(f, F_WRITE)) {
		f->fired_fill = f->fill;
		if (f->kind == F_SHORT && n > 1) {
			w = pwrite(fd, buf, n / 2, off);
			if (f->synced)
				note_written(f->synced, fd, off, w);
			return w;
		}
		errno = f->kind == F_SHORT ? ENOSPC
					   : (f->count % 2 ? ENOSPC : EIO);
		return -1;
	}
	w = pwrite(fd, buf, n, off);
	if (f->synced)
		note_written(f->synced, fd, off, w);
	return w;
}

static inline long *dir_slot(struct synced *s, ino_t ino)
{
	for (int i = 0; i < s->nd; i++)
		if (s->d[i].ino == ino)
			return &s->d[i].synced;
	if (s->nd == MAXDIRS)
		return NULL;
	s->d[s->nd].ino = ino;
	s->d[s->nd].synced = 0;
	return &s->d[s->nd++].synced;
}

static inline void note_synced(struct synced *s, int fd)
{
	struct stat sb;
	int i = file_slot(s, fd);

	if (i < 0 && fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		long *d = dir_slot(s, sb.st_ino);
		if (d)
			*d = ++s->seq;
		return;
	}
	if (i < 0 || fstat(fd, &sb) < 0)
		return;
	s->f[i].len = sb.st_size;
	s->f[i].dlo = s->f[i].dhi = 0;
}

static inline int f_fdatasync(void *ctx, int fd)
{
	struct fault *f = ctx;
	int was_fill = f->fill;

	if ((f->fill && ++f->nfill == f->die_at_fill) ||
	    ++f->nsync == f->die_at_sync)
		_exit(0); /* power off during this sync */
	f->fill = 0;
	if (hit(f, F_SYNC)) {
		char link[64], target[PATH_MAX];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		f->fired_spool = strstr(target, "/spool/") != NULL;
		n = (ssize_t)strlen(target);
		f->fired_seg = n > 4 && strcmp(target + n - 4, ".seg") == 0;
		{
			/* The roll's sync of the directory, not the one
			 * that publishes a compaction's output. */
			struct stat sb;
			f->fired_dir = fstat(fd, &sb) == 0 &&
				       S_ISDIR(sb.st_mode) &&
				       !f->synced_compact;
		}
		f->fired_fill = was_fill;
		errno = EIO;
		return -1;
	}
	if (fdatasync(fd) < 0)
		return -1;
	if (f->synced)
		note_synced(f->synced, fd);
	{
		char link[64], target[PATH_MAX];
		ssize_t n;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		if (n > 8 && strcmp(target + n - 8, ".compact") == 0)
			f->synced_compact = 1;
	}
	return 0;
}

static inline int f_ftruncate(void *ctx, int fd, off_t len)
{
	(void)ctx;
	return ftruncate(fd, len);
}

static inline int f_fallocate(void *ctx, int fd, int mode, off_t off, off_t len)
{
	struct fault *f = ctx;

	f->nalloc++;
	if (hit(f, F_ALLOC) || f->full) {
		errno = ENOSPC;
		return -1;
	}
	return fallocate(fd, mode, off, len);
}

static char root[64];

static inline int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/recfs-faults.XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static inline int teardown(void **state)
{
	char cmd[256];
	(void)state;
	/* A failed tmpfs test may have left its mount. */
	snprintf(cmd, sizeof(cmd), "umount -l %s/tmpfs 2>/dev/null; rm -rf %s",
		 root, root);
	return system(cmd);
}

#endif

/* io.c - the store's file I/O, through a replaceable table (store_io)
 * so that tests can inject ENOSPC, EIO and short writes at every write
 * and sync point. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "store_int.h"

static ssize_t real_pwrite(void *ctx, int fd, const void *buf, size_t n,
			   off_t off)
{
	(void)ctx;
	return pwrite(fd, buf, n, off);
}

static int real_fdatasync(void *ctx, int fd)
{
	(void)ctx;
	return fdatasync(fd);
}

static int real_ftruncate(void *ctx, int fd, off_t len)
{
	(void)ctx;
	return ftruncate(fd, len);
}

static int real_fallocate(void *ctx, int fd, int mode, off_t off, off_t len)
{
	(void)ctx;
	return fallocate(fd, mode, off, len);
}

static const struct store_io real_io = {
	.pwrite = real_pwrite,
	.fdatasync = real_fdatasync,
	.ftruncate = real_ftruncate,
	.fallocate = real_fallocate,
};

static const struct store_io *io(struct store *st)
{
	return st->o.io ? st->o.io : &real_io;
}

/* A member the table leaves NULL is the real call. */
#define IO_CALL(st, fn, ...)                                                 \
	(io(st)->fn ? io(st)->fn(io(st)->ctx, __VA_ARGS__)                   \
		    : real_io.fn(NULL, __VA_ARGS__))

ssize_t io_pwrite(struct store *st, int fd, const void *buf, size_t n,
		  off_t off)
{
	return IO_CALL(st, pwrite, fd, buf, n, off);
}

int io_sync(struct store *st, int fd)
{
	return IO_CALL(st, fdatasync, fd);
}

int io_ftruncate(struct store *st, int fd, off_t len)
{
	return IO_CALL(st, ftruncate, fd, len);
}

int io_fallocate(struct store *st, int fd, int mode, off_t off, off_t len)
{
	return IO_CALL(st, fallocate, fd, mode, off, len);
}

DIR *io_opendir(int fd)
{
	int fd2 = dup(fd);
	DIR *d = fd2 < 0 ? NULL : fdopendir(fd2);

	if (!d && fd2 >= 0) {
		int e = errno;
		close(fd2);
		errno = e;
	}
	if (d)
		rewinddir(d);
	return d;
}

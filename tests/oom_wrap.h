/* oom_wrap.h - the allocator wrappers of test_oom.c and oom_hook.c: each
 * of the store's and daemon's allocations asks the includer's
 * oom_now(size), which must be defined before this is included, whether
 * to fail (ENOMEM).  They are reached through -Wl,--wrap=... (or objcopy's
 * renaming, OOM_HOOK_DIRECT: then the real allocators are the plain
 * ones).  Header-only: each program includes it once. */
#ifndef OOM_WRAP_H
#define OOM_WRAP_H

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static int oom_now(size_t n);

static size_t oom_strsize(const char *s, size_t max)
{
	return strnlen(s, max) + 1;
}

#ifdef OOM_HOOK_DIRECT
#define __real_malloc malloc
#define __real_calloc calloc
#define __real_realloc realloc
#define __real_strdup strdup
#define __real_strndup strndup
#define __real_aligned_alloc aligned_alloc
#define __real_posix_memalign posix_memalign
#define __real_fdopendir fdopendir
#else
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
DIR *__real_fdopendir(int fd);
#endif

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);
DIR *__wrap_fdopendir(int fd);

void *__wrap_malloc(size_t n)
{
	return oom_now(n) ? (errno = ENOMEM, NULL) : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	size_t sz = m && n > (size_t)-1 / m ? (size_t)-1 : n * m;

	return oom_now(sz) ? (errno = ENOMEM, NULL) : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return oom_now(n) ? (errno = ENOMEM, NULL) : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return oom_now(oom_strsize(s, (size_t)-1)) ? (errno = ENOMEM, NULL)
						   : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return oom_now(oom_strsize(s, n)) ? (errno = ENOMEM, NULL)
					   : __real_strndup(s, n);
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
	return oom_now(n) ? (errno = ENOMEM, NULL) : __real_aligned_alloc(a, n);
}

int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
	return oom_now(n) ? ENOMEM : __real_posix_memalign(p, a, n);
}

/* libc allocates a listing's buffer inside: a failure the store must
 * clean up after as after its own (the descriptor it handed over). */
DIR *__wrap_fdopendir(int fd)
{
	return oom_now(32768) ? (errno = ENOMEM, NULL) : __real_fdopendir(fd);
}

#endif

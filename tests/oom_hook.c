/* oom_hook.c - allocation failures for build/tests/recfs_oom and
 * recfs_oom_fs, the daemons that tests/e2e_oom.sh mounts.  recfs_oom is
 * recfs linked with -Wl,--wrap=malloc,... (Makefile), so every allocation
 * recfs's own code makes (fs/ and store/; not libc's or libfuse's inside
 * them) comes here; in recfs_oom_fs only fs/'s do (OOM_HOOK_DIRECT).
 *
 * RECFS_OOM_ONE_IN=N fails about one in N of them, chosen by a hash of
 * the allocation's number and RECFS_OOM_SEED, once RECFS_OOM_DELAY_MS
 * (default 300) have passed since the first, so that the mount itself
 * comes up.  Without RECFS_OOM_ONE_IN it fails none. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int oom_ready;
static atomic_ulong oom_n;
static uint64_t oom_one_in, oom_seed, oom_from_ns;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: the allocation's number to a well-spread value. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* The first call is main's, before any thread: the settings are read
 * then, and only read after. */
static int oom_now(void)
{
	if (!atomic_load_explicit(&oom_ready, memory_order_acquire)) {
		const char *e = getenv("RECFS_OOM_ONE_IN");
		const char *s = getenv("RECFS_OOM_SEED");
		const char *d = getenv("RECFS_OOM_DELAY_MS");

		oom_one_in = e ? strtoull(e, NULL, 10) : 0;
		oom_seed = s ? strtoull(s, NULL, 10) : 1;
		oom_from_ns = mono_ns() +
			      (d ? strtoull(d, NULL, 10) : 300) * 1000000u;
		atomic_store_explicit(&oom_ready, 1, memory_order_release);
	}
	if (oom_one_in == 0 || mono_ns() < oom_from_ns)
		return 0;
	return mix(oom_seed ^ atomic_fetch_add(&oom_n, 1)) % oom_one_in == 0;
}

#ifdef OOM_HOOK_DIRECT
/* recfs_oom_fs: only fs/'s objects call __wrap_* (their allocators were
 * renamed); the real ones are the plain ones here. */
#define __real_malloc malloc
#define __real_calloc calloc
#define __real_realloc realloc
#define __real_strdup strdup
#define __real_strndup strndup
#define __real_aligned_alloc aligned_alloc
#define __real_posix_memalign posix_memalign
#else
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
#endif

void *__wrap_malloc(size_t n)
{
	return oom_now() ? (errno = ENOMEM, NULL) : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return oom_now() ? (errno = ENOMEM, NULL) : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return oom_now() ? (errno = ENOMEM, NULL) : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return oom_now() ? (errno = ENOMEM, NULL) : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return oom_now() ? (errno = ENOMEM, NULL) : __real_strndup(s, n);
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
	return oom_now() ? (errno = ENOMEM, NULL) : __real_aligned_alloc(a, n);
}

int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
	return oom_now() ? ENOMEM : __real_posix_memalign(p, a, n);
}

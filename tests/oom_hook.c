/* oom_hook.c - allocation failures for build/tests/recfs_oom and
 * recfs_oom_fs, the daemons that tests/e2e_oom.sh mounts.  recfs_oom is
 * recfs linked with -Wl,--wrap=malloc,... (Makefile), so every allocation
 * recfs's own code makes (fs/ and store/; not libc's or libfuse's inside
 * them) comes here; in recfs_oom_fs only fs/'s do (OOM_HOOK_DIRECT).
 *
 * RECFS_OOM_ONE_IN=N fails about one in N of them, chosen by a hash of
 * the allocation's number and RECFS_OOM_SEED, once RECFS_OOM_DELAY_MS
 * (default 300) have passed since the first, so that the mount itself
 * comes up.  RECFS_OOM_SIZE=N also fails, from then on, every one of
 * exactly N bytes: one buffer the size of a test's record, without
 * failing what surrounds it.  Without either it fails none. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int oom_ready;
static atomic_ulong oom_n;
static uint64_t oom_one_in, oom_seed, oom_from_ns, oom_size;

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
static int oom_now(size_t size)
{
	if (!atomic_load_explicit(&oom_ready, memory_order_acquire)) {
		const char *e = getenv("RECFS_OOM_ONE_IN");
		const char *s = getenv("RECFS_OOM_SEED");
		const char *d = getenv("RECFS_OOM_DELAY_MS");
		const char *z = getenv("RECFS_OOM_SIZE");

		oom_one_in = e ? strtoull(e, NULL, 10) : 0;
		oom_seed = s ? strtoull(s, NULL, 10) : 1;
		oom_size = z ? strtoull(z, NULL, 10) : 0;
		oom_from_ns = mono_ns() +
			      (d ? strtoull(d, NULL, 10) : 300) * 1000000u;
		atomic_store_explicit(&oom_ready, 1, memory_order_release);
	}
	if ((oom_one_in == 0 && oom_size == 0) || mono_ns() < oom_from_ns)
		return 0;
	if (oom_size && size == oom_size)
		return 1;
	return oom_one_in &&
	       mix(oom_seed ^ atomic_fetch_add(&oom_n, 1)) % oom_one_in == 0;
}

#include "oom_wrap.h"

/* lock.h - the daemon's mutexes. */
#ifndef RFS_LOCK_H
#define RFS_LOCK_H

#include <pthread.h>

/* Held for microseconds by FUSE worker threads on 2 CPUs: a waiter that
 * sleeps at once pays two context switches where a short spin would see
 * the lock free (8 writers on 8 records: 12 % less daemon CPU per save,
 * docs/PERFORMANCE.md).  glibc's adaptive mutex spins a bounded while,
 * then sleeps as any mutex does. */
static inline void rfs_mutex_init(pthread_mutex_t *mu)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(mu, &a);
	pthread_mutexattr_destroy(&a);
}

#endif

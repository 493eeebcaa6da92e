/* lease.c - a record's write lease: one handle at a time holds the
 * change of a record (in->lease); the others wait for it in turns, in
 * fs->waitq, oldest first.  handle.c takes leases and ends them.
 *
 * Everything here runs under fs->mu. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"
#include "rfs.h"
#include "uring.h"

/* How often a waiting request looks whether it was interrupted. */
#define RFS_INTR_POLL_NS 10000000L

/* The oldest change that waits for in's lease and has not had its turn,
 * or NULL.  Caller holds fs->mu. */
static struct rfs_waiter *next_waiter(struct rfs *fs,
				      const struct rfs_inode *in)
{
	for (struct rfs_waiter *w = fs->waitq; w; w = w->next)
		if (w->in == in && !w->woken)
			return w;
	return NULL;
}

/* Give the next waiter its turn now (@grace_ns 0), or once the lease
 * has stayed free for @grace_ns.  A lease taken meanwhile passes the
 * turn itself when it ends (rfs_lease_end).  Caller holds fs->mu. */
void rfs_lease_pass(struct rfs *fs, const struct rfs_inode *in,
		    long grace_ns)
{
	struct rfs_waiter *w = in->lease ? NULL : next_waiter(fs, in);

	if (!w)
		return;
	if (grace_ns)
		w->turn_at = proc_mono_ns() + grace_ns;
	else
		w->woken = 1;
	pthread_cond_signal(&w->cv);
}

/* Caller holds fs->mu. */
void rfs_lease_end(struct rfs *fs, struct rfs_inode *in,
		   const struct rfs_handle *h)
{
	if (in->lease != h)
		return;
	in->lease = NULL;
	if (fs->lease_waiters) /* every commit passes here */
		rfs_lease_pass(fs, in, 0);
}

/* A stop (SIGTERM, Ctrl-C of the daemon) waits for the requests in
 * progress, and the one that waited for a lease held it up for the rest
 * of lease_wait (10 s) or an append's 3 s; the change it waited for is
 * dropped at the stop anyway.  So every wait ends now, with EBUSY. */
void rfs_lease_stop(struct rfs *fs)
{
	pthread_mutex_lock(&fs->mu);
	fs->stopping = 1;
	for (struct rfs_waiter *w = fs->waitq; w; w = w->next)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&fs->mu);
}

/* Wait for another handle's lease on in to end, until *dl
 * (CLOCK_MONOTONIC ns; set to ms from now if it is zero, so that a
 * caller that meets lease after lease waits ms in all).  Writers that
 * meet on one record then take turns instead of spinning through
 * refusals, and a save by cp or an editor (milliseconds) is waited for;
 * a handle that keeps its change open longer gets the caller EBUSY, as
 * the contract says.  Never waits for a lease this thread holds itself:
 * it could not end meanwhile; nor when RFS_LEASE_WAITERS changes wait
 * already (each keeps a thread).
 *
 * Turns.  The waiters are woken one per end of a lease, oldest first,
 * not all at once.  A commit makes every waiting basis stale, and
 * waking them together sent them all back to read the version and race
 * for the next lease on 2 CPUs, slowing the one that got it (the hot
 * record ran at 60 % of the rate of the same loop in one thread).  So
 * the later ones are answered at a later end.  A waiter that had its
 * turn (*woken = 1) and did not take the lease passes it on
 * (rfs_handle_begin in handle.c; append_open_wait and append_write in
 * file.c): at once, or, when its basis was stale, once the lease has
 * stayed free for RFS_TURN_GRACE_NS, since the refused writer is most
 * likely about to come back for it.  So no waiter sleeps on a free
 * lease for long, and none past its deadline.
 *
 * Signals.  The kernel waits for our answer even for a caller killed
 * with SIGKILL, and sends INTERRUPT for any signal: a wait that ignored
 * it kept Ctrl-C, timeout(1) and kill -9 of the waiting process from
 * taking effect for all of lease_wait (up to 10 s).  So a wait for
 * @req (NULL: not interruptible) looks at fuse_req_interrupted() every
 * RFS_INTR_POLL_NS and ends with -EINTR.  (Polling, not
 * fuse_req_interrupt_func(): libfuse calls that hook under the request's
 * lock, and registering it takes that lock, so either side would need
 * fs->mu released around it.)
 *
 * Returns 0 when the lease has ended (the caller checks the record
 * again: it may have changed meanwhile), -EINTR when @req was
 * interrupted, -EBUSY otherwise.  Caller holds fs->mu (released while
 * waiting). */
int rfs_lease_wait(struct rfs *fs, struct rfs_inode *in,
		   const struct rfs_handle *h, const struct proc_info *p,
		   fuse_req_t req, int ms, int64_t *dl, int *woken)
{
	struct rfs_waiter w = { .in = in }, **pp;
	pthread_condattr_t ca;
	int rc = 0, intr = 0, ur;

	*woken = 0;
	if (ms <= 0 || fs->lease_waiters >= RFS_LEASE_WAITERS ||
	    in->lease->changer.tid == p->tid ||
	    in->lease->opener.tid == p->tid)
		return -EBUSY;
	/* Over io_uring, waits that filled the queue of their CPU held
	 * back the holder's flush from that CPU: every one waited all of
	 * lease_wait (see uring.h). */
	ur = rfs_uring_wait_begin();
	if (ur < 0)
		return -EBUSY;
	if (*dl == 0)
		*dl = proc_mono_ns() + (int64_t)ms * 1000000;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cv, &ca);
	pthread_condattr_destroy(&ca);
	for (pp = &fs->waitq; *pp; pp = &(*pp)->next)
		;
	*pp = &w;
	fs->lease_waiters++;
	for (;;) {
		int64_t until = *dl;
		struct timespec ts;

		if (w.woken) {
			if (!in->lease || in->lease == h)
				break;
			w.woken = 0; /* taken again first: keep our place */
		}
		if (rc || fs->stopping)
			break; /* the deadline, or the daemon stops */
		if (req && fuse_req_interrupted(req)) {
			intr = 1;
			break;
		}
		if (w.turn_at && in->lease)
			w.turn_at = 0; /* its end will wake us */
		if (w.turn_at) {
			if (proc_mono_ns() >= w.turn_at) {
				w.woken = 1; /* the free lease's turn */
				continue;
			}
			if (w.turn_at < until)
				until = w.turn_at;
		}
		if (req && until - proc_mono_ns() > RFS_INTR_POLL_NS)
			until = proc_mono_ns() + RFS_INTR_POLL_NS;
		ts.tv_sec = until / 1000000000;
		ts.tv_nsec = until % 1000000000;
		rc = pthread_cond_timedwait(&w.cv, &fs->mu, &ts);
		if (rc == ETIMEDOUT && until < *dl)
			rc = 0; /* the grace, not the deadline */
	}
	fs->lease_waiters--;
	for (pp = &fs->waitq; *pp != &w; pp = &(*pp)->next)
		;
	*pp = w.next;
	pthread_cond_destroy(&w.cv);
	if (ur > 0)
		rfs_uring_wait_end();
	/* Leaving at the deadline with the turn passed to us keeps it. */
	*woken = w.woken || w.turn_at;
	if (intr)
		return -EINTR;
	return in->lease && in->lease != h ? -EBUSY : 0;
}

void rfs_test_pause(const struct rfs *fs, const char *key, int at)
{
	if (fs->pause_key && fs->pause_ms && (fs->pause_at & at) &&
	    strncmp(key, fs->pause_key, strlen(fs->pause_key)) == 0)
		usleep(fs->pause_ms * 1000u);
}

/* sync.c - group commit: making appended entries durable (sync=always,
 * and store_sync() for everyone).
 *
 * A commit's entries are in the kernel when store_append_batch() returns;
 * a waiter in store_wait_durable() either leads a sync, for everyone who
 * appended before it looks, or waits for a sync in flight to cover it.
 * At most two leaders are in flight (max_syncs), and synced_lsn moves
 * only as they retire, in order (lead_sync). */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

/* Segments [from, upto) that a roll left unsynced, then the directory
 * that names their successors; none when from is 0.  Each is looked up
 * under commit_mu: one that compaction removed meanwhile was synced into
 * its output. */
static int sync_rolled(struct store *st, uint64_t from, uint64_t upto)
{
	int rc = 0;

	if (!from)
		return 0; /* (else every sealed segment: a flush each) */

	for (uint64_t id = from; id < upto && rc == 0; id++) {
		int fd = -1;
		pthread_mutex_lock(&st->commit_mu);
		for (size_t i = 0; i < st->nsegs; i++)
			if (st->segs[i].id == id) {
				fd = dup(st->segs[i].fd);
				/* No descriptor to spare (the daemon's table
				 * is full): sync it here, where commit_mu
				 * keeps it open.  A full table is no failed
				 * sync, which would stop the store. */
				if (fd < 0 && io_sync(st, st->segs[i].fd) < 0)
					rc = -EIO;
				break;
			}
		pthread_mutex_unlock(&st->commit_mu);
		if (fd >= 0 && io_sync(st, fd) < 0)
			rc = -EIO;
		if (fd >= 0)
			close(fd);
	}
	if (rc == 0 && from && io_sync(st, st->dirfd) < 0)
		rc = -EIO;
	return rc;
}

void store_txn_opened(struct store *st)
{
	__atomic_add_fetch(&st->txn_open, 1, __ATOMIC_SEQ_CST);
}

void store_txn_ended(struct store *st)
{
	int left = __atomic_sub_fetch(&st->txn_open, 1, __ATOMIC_SEQ_CST);

	__atomic_add_fetch(&st->txn_ended, 1, __ATOMIC_SEQ_CST);
	/* Pairs with gather(): it sets gathering, then reads txn_open;
	 * we wrote txn_open, then read gathering (both seq_cst), so one
	 * of us sees the other and no wake-up is lost. */
	if (left == 0 && __atomic_load_n(&st->gathering, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&st->sync_mu);
		pthread_cond_broadcast(&st->gather_cv);
		pthread_mutex_unlock(&st->sync_mu);
	}
}

/* The leader's wait, before it syncs, for changes still being written
 * (txns begun, not yet appended) to append and share its sync: one sync
 * for many commits costs the disk once and wakes its waiters once
 * (PostgreSQL's commit_delay with commit_siblings, made adaptive).
 * - It waits only while such txns exist, so a lone writer never waits.
 * - It waits at most half the recent sync time (and gather_max_ns):
 *   a commit that misses this sync would wait a whole one.
 * - A wait in which no txn ended (a writer that keeps its change open,
 *   or one that waits for this very sync) is not repeated until one
 *   does.
 * Caller holds sync_mu and is the leader (lead_sync). */
static void gather(struct store *st)
{
	int64_t wait = st->sync_ns / 2;
	uint64_t ended;
	struct timespec dl;

	if (wait > st->o.gather_max_ns)
		wait = st->o.gather_max_ns;
	ended = __atomic_load_n(&st->txn_ended, __ATOMIC_SEQ_CST);
	if (wait <= 0 || st->quiet_at == ended + 1 ||
	    __atomic_load_n(&st->txn_open, __ATOMIC_SEQ_CST) == 0)
		return;
	wait += store_mono_ns(); /* gather_cv's clock */
	dl = (struct timespec){ wait / 1000000000, wait % 1000000000 };
	__atomic_store_n(&st->gathering, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&st->txn_open, __ATOMIC_SEQ_CST) > 0 &&
	       pthread_cond_timedwait(&st->gather_cv, &st->sync_mu, &dl) !=
		       ETIMEDOUT)
		;
	__atomic_store_n(&st->gathering, 0, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&st->txn_ended, __ATOMIC_SEQ_CST) == ended)
		st->quiet_at = ended + 1;
}

/* May a waiter for @lsn start a sync now?  When none is in flight; or,
 * with max_syncs 2, when one is, its target (published) is below @lsn,
 * and no change is being written: then a commit appended during a sync
 * need not wait for its end, then a wake-up, before its own sync
 * starts (2 writers: +17 % commits/s), and nothing is lost by starting
 * early.  While changes are being written, a sync started early would
 * split the group the next one gathers, and more syncs cost CPU that
 * many writers lack (16 writers: -7 %).  Since the leader in flight has
 * published, it is done gathering: one gathers at a time, and targets
 * grow with the leaders' order. */
static int may_lead(const struct store *st, uint64_t lsn)
{
	uint64_t busy = st->sync_seq - st->sync_retired;
	const struct sync_lead *l = &st->lead[(st->sync_seq - 1) & 1];

	if (busy == 0)
		return 1;
	return busy == 1 && st->o.max_syncs > 1 && l->published &&
	       l->target < lsn &&
	       __atomic_load_n(&st->txn_open, __ATOMIC_SEQ_CST) == 0;
}

/* Wake the waiters: a leader retired, or one that may lead now exists. */
static void wake_waiters(struct store *st)
{
	st->want_lsn = 0; /* those still waiting set it again */
	pthread_cond_broadcast(&st->sync_cv);
}

/* Leader n's sync: everything appended before it looks, rolled segments
 * first (blobs are durable before they are named: store_commit_put).
 * Caller holds sync_mu (released meanwhile) and has checked may_lead().
 * Invariant: synced_lsn moves to a leader's target only when it retires,
 * in the leaders' order, and only while the store has not failed.  So a
 * later sync never stands for an earlier one's rolled segments, and an
 * error any sync reports fails every commit it may cover: the
 * leaders' descriptions are their own (act_sfd), so each sees every
 * writeback error of the active segment.  Directories (blobs/, the
 * store's) are synced through shared descriptions, but their entries are
 * journal metadata: a failed journal commit fails every later sync. */
static void lead_sync(struct store *st)
{
	uint64_t n = st->sync_seq++;
	struct sync_lead *l = &st->lead[n & 1];

	*l = (struct sync_lead){ 0 };
	gather(st);
	pthread_mutex_unlock(&st->sync_mu);
	int64_t t0 = store_mono_ns();

	pthread_mutex_lock(&st->commit_mu);
	uint64_t target = st->lsn;
	int fd = dup(st->act_sfd[n & 1]), act_ok = -1;
	uint64_t from = st->dirty_seg;
	uint64_t upto = st->nsegs ? st->segs[st->nsegs - 1].id : 0;
	st->dirty_seg = 0;
	/* No descriptor to spare (the daemon's table is full): sync through
	 * the leader's own description now, while commit_mu keeps a roll
	 * from closing it.  Commits wait for this one sync; taking a full
	 * table for a failed sync would stop the store until reopened. */
	if (fd < 0 && st->act_sfd[n & 1] >= 0)
		act_ok = io_sync(st, st->act_sfd[n & 1]) == 0;
	pthread_mutex_unlock(&st->commit_mu);

	pthread_mutex_lock(&st->sync_mu);
	l->target = target;
	l->published = 1;
	if (may_lead(st, st->want_lsn))
		wake_waiters(st);
	pthread_mutex_unlock(&st->sync_mu);

	int ok = sync_rolled(st, from, upto) == 0 &&
		 (fd >= 0 ? io_sync(st, fd) == 0 : act_ok == 1);
	if (fd >= 0)
		close(fd);

	pthread_mutex_lock(&st->sync_mu);
	t0 = store_mono_ns() - t0;
	st->sync_ns = st->sync_ns ? (st->sync_ns * 7 + t0) / 8 : t0;
	l->done = 1;
	l->ok = ok;
	if (!ok)
		store_fail(st, -EIO);
	while (st->sync_retired < st->sync_seq) {
		struct sync_lead *r = &st->lead[st->sync_retired & 1];

		if (!r->done)
			break;
		if (r->ok && !store_failed(st) && r->target > st->synced_lsn)
			st->synced_lsn = r->target;
		st->sync_retired++;
	}
	wake_waiters(st);
}

/* Group commit: a waiter that no sync in flight covers leads one, for
 * everyone who appended before it looks (after gather()); the others
 * wait for a sync to cover them. */
int store_wait_durable(struct store *st, uint64_t lsn)
{
	int rc = 0;

	pthread_mutex_lock(&st->sync_mu);
	while (st->synced_lsn < lsn && !store_failed(st)) {
		if (may_lead(st, lsn)) {
			lead_sync(st);
			continue;
		}
		if (lsn > st->want_lsn)
			st->want_lsn = lsn;
		pthread_cond_wait(&st->sync_cv, &st->sync_mu);
	}
	if (st->synced_lsn < lsn)
		rc = -EIO;
	pthread_mutex_unlock(&st->sync_mu);
	return rc;
}

int store_sync(struct store *st)
{
	if (st->es)
		return 0; /* etcd commits are durable */
	uint64_t lsn;

	pthread_mutex_lock(&st->commit_mu);
	lsn = st->lsn;
	pthread_mutex_unlock(&st->commit_mu);
	if (st->o.read_only)
		return 0;
	return store_wait_durable(st, lsn);
}

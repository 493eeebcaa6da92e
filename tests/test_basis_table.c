/* test_basis_table.c - unit tests of fs/basis_table.c's shares: the
 * implicit entries of each holder, its own and those lent to it for its
 * descendants, counted exactly (struct share) and held to a share of
 * the table, so that one reader of many records never fills it for
 * everyone else, and a holder never forgets a version it saw. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../fs/basis_int.h"
#include "../fs/proc.h"

#define NHOLDERS 300
#define NOPS 20000
#define MAXLIVE 3000 /* under the first sweep (4096 entries) */

struct held {
	int holder, lent;
	char key[24];
};

static struct holder fake(int i)
{
	/* Not processes: only a sweep asks, and none runs here. */
	return (struct holder){ 100000 + i * 7, 1000 + (uint64_t)i * 13 };
}

/* Each holder's counts are @own's and @lent's, and so are its entries in
 * the table. */
static void check_all(struct basis_table *bt, const size_t *own,
		      const size_t *lent)
{
	size_t used = 0, total = 0;

	for (int i = 0; i < NHOLDERS; i++) {
		size_t o, l, seen_o = 0, seen_l = 0;
		bent_counts(bt, fake(i), &o, &l);
		assert_int_equal(o, own[i]);
		assert_int_equal(l, lent[i]);
		used += o + l > 0;
		total += o + l;
		for (size_t b = 0; b < bt->nb; b++)
			for (struct bent *e = bt->tab[b].head; e; e = e->next)
				if (e->pid == fake(i).pid &&
				    e->start == fake(i).start) {
					seen_l += e->lent;
					seen_o += !e->lent;
				}
		assert_int_equal(seen_o, o);
		assert_int_equal(seen_l, l);
	}
	assert_int_equal(bt->nshares, used);
	assert_int_equal(bt->count, total);
}

/* Implicit entries, own and lent, added and dropped at random for 300
 * holders: each holder's counts stay exact through the share table's
 * growth and through removals from the middle of its probe runs, and a
 * holder whose last entry goes leaves no slot behind. */
static void test_counts_exact(void **state)
{
	static struct held live[MAXLIVE];
	static size_t own[NHOLDERS], lent[NHOLDERS];
	struct basis_table *bt;
	int nlive = 0, seq = 0;

	(void)state;
	memset(own, 0, sizeof(own));
	memset(lent, 0, sizeof(lent));
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	srand(7);
	pthread_mutex_lock(&bt->mu);
	for (int op = 0; op < NOPS; op++) {
		if (nlive < MAXLIVE && (nlive == 0 || rand() % 100 < 55)) {
			struct held *l = &live[nlive++];
			l->holder = rand() % NHOLDERS;
			l->lent = rand() % 2;
			snprintf(l->key, sizeof(l->key), "k%d", seq++);
			assert_non_null(bent_add(bt, B_IMPLICIT, l->key,
						 basis_hash(l->key),
						 fake(l->holder), 0, 1, 0,
						 l->lent));
			(l->lent ? lent : own)[l->holder]++;
		} else {
			int k = rand() % nlive;
			struct held *l = &live[k];
			bent_drop(bt, KIND(B_IMPLICIT), l->key,
				  basis_hash(l->key), fake(l->holder));
			(l->lent ? lent : own)[l->holder]--;
			live[k] = live[--nlive];
		}
		if (op % 997 == 0)
			check_all(bt, own, lent);
	}
	check_all(bt, own, lent);
	while (nlive > 0) {
		struct held *l = &live[--nlive];
		bent_drop(bt, KIND(B_IMPLICIT), l->key, basis_hash(l->key),
			  fake(l->holder));
		(l->lent ? lent : own)[l->holder]--;
	}
	check_all(bt, own, lent);
	assert_int_equal(bt->nshares, 0);
	assert_int_equal(bt->count, 0);
	pthread_mutex_unlock(&bt->mu);
	basis_free(bt);
}

/* A holder no live process is: a child's pid, once it is reaped. */
static struct holder gone_holder(void)
{
	pid_t child = fork();

	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	return (struct holder){ child, 1 };
}

/* A holder that is gone gives its share back with the rest of its
 * entries when dead holders are swept. */
static void test_sweep_returns(void **state)
{
	struct basis_table *bt;
	struct holder gone = gone_holder();

	(void)state;
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	pthread_mutex_lock(&bt->mu);
	for (int i = 0; i < 100; i++) {
		char key[16];
		snprintf(key, sizeof(key), "g%d", i);
		assert_non_null(bent_add(bt, B_IMPLICIT, key, basis_hash(key),
					 gone, 0, 1, 0, i % 2));
	}
	{
		size_t o, l;
		bent_counts(bt, gone, &o, &l);
		assert_int_equal(o + l, 100);
	}
	pthread_mutex_unlock(&bt->mu);
	assert_int_equal(basis_gc(bt), 0);
	pthread_mutex_lock(&bt->mu);
	{
		size_t o, l;
		bent_counts(bt, gone, &o, &l);
		assert_int_equal(o + l, 0);
	}
	assert_int_equal(bt->nshares, 0);
	pthread_mutex_unlock(&bt->mu);
	basis_free(bt);
}

/* A table at its bound, all of it held by a holder that is gone: the
 * next add sweeps it and succeeds, though the table has not doubled
 * since its last sweep (a bound under the first sweep's 4,096).  Marks,
 * which no share bounds (one holder's implicit entries could not fill
 * it). */
static void test_full_sweeps(void **state)
{
	struct basis_table *bt;
	struct holder gone = gone_holder(), self;

	(void)state;
	{
		struct proc_info p;
		assert_int_equal(proc_get(getpid(), &p), 0);
		self = (struct holder){ p.tid, p.start };
	}
	assert_int_equal(basis_init(&bt, 60, 64, 1), 0);
	pthread_mutex_lock(&bt->mu);
	for (int i = 0; i < 64; i++) {
		char key[16];
		snprintf(key, sizeof(key), "d%d", i);
		assert_non_null(bent_add(bt, B_MARK, key, basis_hash(key),
					 gone, 0, 1, 0, 0));
	}
	assert_int_equal(bt->count, 64);
	assert_non_null(bent_add(bt, B_MARK, "live", basis_hash("live"),
				 self, 0, 1, 0, 0));
	assert_int_equal(bt->count, 1);
	/* Full of a live holder's entries: refused, and nothing is lost. */
	for (int i = 0; i < 63; i++) {
		char key[16];
		snprintf(key, sizeof(key), "l%d", i);
		assert_non_null(bent_add(bt, B_MARK, key, basis_hash(key),
					 self, 0, 1, 0, 0));
	}
	assert_null(bent_add(bt, B_MARK, "more", basis_hash("more"), self,
			     0, 1, 0, 0));
	assert_int_equal(bt->count, 64);
	assert_non_null(bent_find(bt, B_MARK, "live", basis_hash("live"),
				  self));
	pthread_mutex_unlock(&bt->mu);
	basis_free(bt);
}

#define MAX 1024 /* the table's bound: shares of 256 own, 128 lent */
#define READS 300

static void key_of(char *buf, size_t len, int i)
{
	snprintf(buf, len, "r/%d", i);
}

static int found_for(struct basis_table *bt, struct proc_info *p,
		     const char *key, struct basis_hit *hit)
{
	basis_lookup(bt, p, key, hit);
	return hit->found && !hit->stale;
}

static int found(struct basis_table *bt, struct proc_info *p, int i)
{
	struct basis_hit hit;
	char key[32];

	key_of(key, sizeof(key), i);
	return found_for(bt, p, key, &hit);
}

static void counts(struct basis_table *bt, const struct proc_info *p,
		   size_t *own, size_t *lent)
{
	pthread_mutex_lock(&bt->mu);
	bent_counts(bt, (struct holder){ p->tid, p->start }, own, lent);
	pthread_mutex_unlock(&bt->mu);
}

/* This process reads 300 records: it holds the first 256 (a quarter of
 * the table), its parent (the shell that ran it) the first 128 (an
 * eighth), and no more; the rest of the table stays free. */
static void test_share(void **state)
{
	struct basis_table *bt;
	struct proc_info p, par;
	size_t own, lent;
	char key[32];

	(void)state;
	assert_int_equal(proc_get(getpid(), &p), 0);
	assert_int_equal(proc_get(getppid(), &par), 0);
	assert_int_equal(basis_init(&bt, 60, MAX, 1), 0);
	for (int i = 0; i < READS; i++) {
		key_of(key, sizeof(key), i);
		basis_seen(bt, &p, key, 3);
	}
	counts(bt, &p, &own, &lent);
	assert_int_equal(own, MAX / OWN_SHARE);
	assert_int_equal(lent, 0);
	counts(bt, &par, &own, &lent);
	assert_int_equal(own, 0);
	assert_int_equal(lent, MAX / LEND_SHARE);
	for (int i = 0; i < READS; i++) {
		assert_int_equal(found(bt, &p, i), i < MAX / OWN_SHARE);
		assert_int_equal(found(bt, &par, i), i < MAX / LEND_SHARE);
	}
	basis_created(bt, &p, "new", 5);
	assert_false(found_for(bt, &par, "new", &(struct basis_hit){ 0 }));
	pthread_mutex_lock(&bt->mu);
	assert_true(bt->count <= MAX / OWN_SHARE + MAX / LEND_SHARE + 3);
	pthread_mutex_unlock(&bt->mu);
	basis_free(bt);
}

/* Past its share a holder forgets nothing: what it holds still changes
 * in place (its basis moves to the version it made), and a read of a
 * later version does not move a basis it holds (vim reads the file
 * again before it saves: that must not bless its stale buffer). */
static void test_share_keeps(void **state)
{
	struct basis_table *bt;
	struct proc_info p;
	struct basis_hit hit;
	size_t own, lent;
	char key[32];

	(void)state;
	assert_int_equal(proc_get(getpid(), &p), 0);
	assert_int_equal(basis_init(&bt, 60, MAX, 1), 0);
	for (int i = 0; i < READS; i++) {
		key_of(key, sizeof(key), i);
		basis_seen(bt, &p, key, 3);
	}
	key_of(key, sizeof(key), 0);
	assert_true(found_for(bt, &p, key, &hit));
	basis_changed(bt, &p, &hit, key, 4);
	assert_true(found_for(bt, &p, key, &hit));
	assert_int_equal(hit.version, 4);
	counts(bt, &p, &own, &lent);
	assert_int_equal(own, MAX / OWN_SHARE);

	key_of(key, sizeof(key), 1);
	basis_seen(bt, &p, key, 9); /* someone else's version 9 */
	assert_true(found_for(bt, &p, key, &hit));
	assert_int_equal(hit.version, 3);

	key_of(key, sizeof(key), READS - 1); /* not held: not blessed */
	basis_seen(bt, &p, key, 9);
	assert_false(found_for(bt, &p, key, &hit));
	basis_free(bt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_exact),
		cmocka_unit_test(test_sweep_returns),
		cmocka_unit_test(test_full_sweeps),
		cmocka_unit_test(test_share),
		cmocka_unit_test(test_share_keeps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

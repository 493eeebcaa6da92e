/* test_basis_table.c - unit tests of fs/basis_table.c's counts of the
 * entries lent to a holder for its descendants (struct lender), and of
 * the share they are held to: a shell whose commands read or create
 * more records than its share registers no more for itself, while the
 * table stays open to everyone else. */
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

struct lent {
	int holder;
	char key[24];
};

static struct holder fake(int i)
{
	/* Not processes: only a sweep asks, and none runs here. */
	return (struct holder){ 100000 + i * 7, 1000 + (uint64_t)i * 13 };
}

static void check_all(struct basis_table *bt, const size_t *ref)
{
	size_t used = 0;

	for (int i = 0; i < NHOLDERS; i++) {
		assert_int_equal(bent_lent(bt, fake(i)), ref[i]);
		used += ref[i] > 0;
	}
	assert_int_equal(bt->nlenders, used);
}

/* Lent entries added and dropped at random for 300 holders: each
 * holder's count stays exact through the count table's growth and
 * through removals from the middle of its probe runs, and a holder whose
 * last entry goes leaves no slot behind. */
static void test_counts_exact(void **state)
{
	static struct lent live[MAXLIVE];
	static size_t ref[NHOLDERS];
	struct basis_table *bt;
	int nlive = 0, seq = 0;

	(void)state;
	memset(ref, 0, sizeof(ref));
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	srand(7);
	pthread_mutex_lock(&bt->mu);
	for (int op = 0; op < NOPS; op++) {
		if (nlive < MAXLIVE && (nlive == 0 || rand() % 100 < 55)) {
			struct lent *l = &live[nlive++];
			struct bent *e;
			l->holder = rand() % NHOLDERS;
			snprintf(l->key, sizeof(l->key), "k%d", seq++);
			assert_true(bent_may_lend(bt, fake(l->holder)));
			e = bent_add(bt, B_IMPLICIT, l->key,
				     basis_hash(l->key), fake(l->holder), 0, 1,
				     0);
			assert_non_null(e);
			bent_lend(bt, e);
			ref[l->holder]++;
		} else {
			int k = rand() % nlive;
			struct lent *l = &live[k];
			bent_drop(bt, KIND(B_IMPLICIT), l->key,
				  basis_hash(l->key), fake(l->holder));
			ref[l->holder]--;
			live[k] = live[--nlive];
		}
		if (op % 997 == 0)
			check_all(bt, ref);
	}
	check_all(bt, ref);
	while (nlive > 0) {
		struct lent *l = &live[--nlive];
		bent_drop(bt, KIND(B_IMPLICIT), l->key, basis_hash(l->key),
			  fake(l->holder));
		ref[l->holder]--;
	}
	check_all(bt, ref);
	assert_int_equal(bt->nlenders, 0);
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

/* A holder that is gone gives its lent entries back with the rest of
 * its entries when dead holders are swept. */
static void test_sweep_returns(void **state)
{
	struct basis_table *bt;
	struct holder gone = gone_holder();

	(void)state;
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	pthread_mutex_lock(&bt->mu);
	for (int i = 0; i < 100; i++) {
		char key[16];
		struct bent *e;
		snprintf(key, sizeof(key), "g%d", i);
		assert_true(bent_may_lend(bt, gone));
		e = bent_add(bt, B_IMPLICIT, key, basis_hash(key), gone, 0, 1,
			     0);
		assert_non_null(e);
		bent_lend(bt, e);
	}
	assert_int_equal(bent_lent(bt, gone), 100);
	pthread_mutex_unlock(&bt->mu);
	assert_int_equal(basis_gc(bt), 0);
	pthread_mutex_lock(&bt->mu);
	assert_int_equal(bent_lent(bt, gone), 0);
	assert_int_equal(bt->nlenders, 0);
	pthread_mutex_unlock(&bt->mu);
	basis_free(bt);
}

/* A table at its bound, all of it held by a holder that is gone: the
 * next add sweeps it and succeeds, though the table has not doubled
 * since its last sweep (a bound under the first sweep's 4,096). */
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
		assert_non_null(bent_add(bt, B_IMPLICIT, key, basis_hash(key),
					 gone, 0, 1, 0));
	}
	assert_int_equal(bt->count, 64);
	assert_non_null(bent_add(bt, B_IMPLICIT, "live", basis_hash("live"),
				 self, 0, 1, 0));
	assert_int_equal(bt->count, 1);
	/* Full of a live holder's entries: refused, and nothing is lost. */
	for (int i = 0; i < 63; i++) {
		char key[16];
		snprintf(key, sizeof(key), "l%d", i);
		assert_non_null(bent_add(bt, B_IMPLICIT, key, basis_hash(key),
					 self, 0, 1, 0));
	}
	assert_null(bent_add(bt, B_IMPLICIT, "more", basis_hash("more"), self,
			     0, 1, 0));
	assert_int_equal(bt->count, 64);
	assert_non_null(bent_find(bt, B_IMPLICIT, "live", basis_hash("live"),
				  self));
	pthread_mutex_unlock(&bt->mu);
	basis_free(bt);
}

#define MAX 128   /* the table's bound here: the share is 16 */
#define READS 60

static void key_of(char *buf, size_t len, int i)
{
	snprintf(buf, len, "r/%d", i);
}

static int found_for(struct basis_table *bt, struct proc_info *p,
		     const char *key)
{
	struct basis_hit hit;

	basis_lookup(bt, p, key, &hit);
	return hit.found && !hit.stale;
}

/* This process reads 60 records: it holds all 60, its parent (the
 * shell that ran it) the first 16 (an eighth of the table), and no
 * more.  A refusal at the parent gives one back; a create adds nothing
 * at the parent past its share; and this process, whose reads are its
 * own, is still served. */
static void test_share(void **state)
{
	struct basis_table *bt;
	struct proc_info p, par;
	struct basis_hit hit;
	struct holder ph;
	char key[32];

	(void)state;
	assert_int_equal(proc_get(getpid(), &p), 0);
	assert_int_equal(proc_get(getppid(), &par), 0);
	ph = (struct holder){ par.tid, par.start };
	assert_int_equal(basis_init(&bt, 60, MAX, 1), 0);
	for (int i = 0; i < READS; i++) {
		key_of(key, sizeof(key), i);
		basis_seen(bt, &p, key, 3);
	}
	pthread_mutex_lock(&bt->mu);
	assert_int_equal(bent_lent(bt, ph), MAX / LEND_SHARE);
	pthread_mutex_unlock(&bt->mu);
	for (int i = 0; i < READS; i++) {
		key_of(key, sizeof(key), i);
		assert_true(found_for(bt, &p, key));
		assert_int_equal(found_for(bt, &par, key), i < MAX / LEND_SHARE);
	}

	/* The parent's stale mark on record 0 replaces its basis there. */
	key_of(key, sizeof(key), 0);
	basis_lookup(bt, &par, key, &hit);
	basis_refused(bt, &par, &hit, key, "test conflict");
	pthread_mutex_lock(&bt->mu);
	assert_int_equal(bent_lent(bt, ph), MAX / LEND_SHARE - 1);
	pthread_mutex_unlock(&bt->mu);
	key_of(key, sizeof(key), READS);
	basis_seen(bt, &p, key, 3);
	assert_true(found_for(bt, &par, key));
	key_of(key, sizeof(key), READS + 1);
	basis_seen(bt, &p, key, 3);
	assert_false(found_for(bt, &par, key));
	assert_true(found_for(bt, &p, key));

	basis_created(bt, &p, "new", 5);
	assert_false(found_for(bt, &par, "new"));
	pthread_mutex_lock(&bt->mu);
	assert_int_equal(bent_lent(bt, ph), MAX / LEND_SHARE);
	assert_true(bt->count < MAX);
	pthread_mutex_unlock(&bt->mu);
	basis_free(bt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_exact),
		cmocka_unit_test(test_sweep_returns),
		cmocka_unit_test(test_full_sweeps),
		cmocka_unit_test(test_share),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

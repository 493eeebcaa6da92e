/* test_basis_table.c - unit tests of fs/basis_table.c's shares: the
 * implicit entries each holder keeps, its own and its descendants',
 * counted and listed oldest first (struct share), and held to a share
 * of the table by dropping the holder's oldest, so that one reader of
 * many records never fills the table for everyone else. */
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
	int holder;
	char key[24];
};

static struct holder fake(int i)
{
	/* Not processes: only a sweep asks, and none runs here. */
	return (struct holder){ 100000 + i * 7, 1000 + (uint64_t)i * 13 };
}

/* Each holder's count is @ref's, and its list, walked both ways, has
 * that many of its entries. */
static void check_all(struct basis_table *bt, const size_t *ref)
{
	size_t used = 0, listed = 0;

	for (int i = 0; i < NHOLDERS; i++) {
		assert_int_equal(bent_held(bt, fake(i)), ref[i]);
		used += ref[i] > 0;
	}
	assert_int_equal(bt->nshares, used);
	for (size_t i = 0; i < bt->shares_cap; i++) {
		struct share *sh = &bt->shares[i];
		size_t n = 0;
		if (!sh->pid)
			continue;
		for (struct bent *e = sh->oldest; e; e = e->newer, n++) {
			assert_int_equal(e->pid, sh->pid);
			assert_true(e->newer || e == sh->newest);
		}
		assert_int_equal(n, sh->n);
		n = 0;
		for (struct bent *e = sh->newest; e; e = e->older)
			n++;
		assert_int_equal(n, sh->n);
		listed += n;
	}
	assert_int_equal(listed, bt->count);
}

/* Implicit entries added, dropped and touched at random for 300
 * holders: each holder's count and list stay exact through the share
 * table's growth, through removals from the middle of its probe runs and
 * of its lists, and a holder whose last entry goes leaves no slot
 * behind. */
static void test_counts_exact(void **state)
{
	static struct held live[MAXLIVE];
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
			struct held *l = &live[nlive++];
			l->holder = rand() % NHOLDERS;
			snprintf(l->key, sizeof(l->key), "k%d", seq++);
			assert_non_null(bent_add(bt, B_IMPLICIT, l->key,
						 basis_hash(l->key),
						 fake(l->holder), 0, 1, 0));
			ref[l->holder]++;
		} else if (rand() % 100 < 20) {
			struct held *l = &live[rand() % nlive];
			bent_touch(bt, bent_find(bt, B_IMPLICIT, l->key,
						 basis_hash(l->key),
						 fake(l->holder)));
		} else {
			int k = rand() % nlive;
			struct held *l = &live[k];
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
		struct held *l = &live[--nlive];
		bent_drop(bt, KIND(B_IMPLICIT), l->key, basis_hash(l->key),
			  fake(l->holder));
		ref[l->holder]--;
	}
	check_all(bt, ref);
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
					 gone, 0, 1, 0));
	}
	assert_int_equal(bent_held(bt, gone), 100);
	pthread_mutex_unlock(&bt->mu);
	assert_int_equal(basis_gc(bt), 0);
	pthread_mutex_lock(&bt->mu);
	assert_int_equal(bent_held(bt, gone), 0);
	assert_int_equal(bt->nshares, 0);
	pthread_mutex_unlock(&bt->mu);
	basis_free(bt);
}

/* A table at its bound, all of it held by a holder that is gone: the
 * next add sweeps it and succeeds, though the table has not doubled
 * since its last sweep (a bound under the first sweep's 4,096).  Marks,
 * which no share bounds (a holder's implicit entries could not fill
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
					 gone, 0, 1, 0));
	}
	assert_int_equal(bt->count, 64);
	assert_non_null(bent_add(bt, B_MARK, "live", basis_hash("live"),
				 self, 0, 1, 0));
	assert_int_equal(bt->count, 1);
	/* Full of a live holder's entries: refused, and nothing is lost. */
	for (int i = 0; i < 63; i++) {
		char key[16];
		snprintf(key, sizeof(key), "l%d", i);
		assert_non_null(bent_add(bt, B_MARK, key, basis_hash(key),
					 self, 0, 1, 0));
	}
	assert_null(bent_add(bt, B_MARK, "more", basis_hash("more"), self,
			     0, 1, 0));
	assert_int_equal(bt->count, 64);
	assert_non_null(bent_find(bt, B_MARK, "live", basis_hash("live"),
				  self));
	pthread_mutex_unlock(&bt->mu);
	basis_free(bt);
}

#define MAX 1024 /* the table's bound here: the share is 64 */
#define READS 100

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

static size_t held(struct basis_table *bt, const struct proc_info *p)
{
	size_t n;

	pthread_mutex_lock(&bt->mu);
	n = bent_held(bt, (struct holder){ p->tid, p->start });
	pthread_mutex_unlock(&bt->mu);
	return n;
}

/* This process reads 100 records: it and its parent (the shell that
 * ran it) each keep the newest 64 (a sixteenth of the table).  A record
 * read again is kept over older ones; a create is held by the parent
 * too, past its share. */
static void test_share_newest(void **state)
{
	struct basis_table *bt;
	struct proc_info p, par;
	struct basis_hit hit;
	char key[32];
	int keep = MAX / SHARE;

	(void)state;
	assert_int_equal(proc_get(getpid(), &p), 0);
	assert_int_equal(proc_get(getppid(), &par), 0);
	assert_int_equal(basis_init(&bt, 60, MAX, 1), 0);
	for (int i = 0; i < READS; i++) {
		key_of(key, sizeof(key), i);
		basis_seen(bt, &p, key, 3);
	}
	assert_int_equal(held(bt, &p), keep);
	assert_int_equal(held(bt, &par), keep);
	for (int i = 0; i < READS; i++) {
		assert_int_equal(found(bt, &p, i), i >= READS - keep);
		assert_int_equal(found(bt, &par, i), i >= READS - keep);
	}

	/* The oldest kept, read again, outlives the next oldest. */
	key_of(key, sizeof(key), READS - keep);
	basis_seen(bt, &p, key, 3);
	key_of(key, sizeof(key), READS);
	basis_seen(bt, &p, key, 3);
	assert_true(found(bt, &p, READS - keep));
	assert_false(found(bt, &p, READS - keep + 1));
	assert_true(found(bt, &p, READS));

	basis_created(bt, &p, "new", 5);
	assert_true(found_for(bt, &par, "new", &hit));
	assert_int_equal(held(bt, &par), keep);
	pthread_mutex_lock(&bt->mu);
	/* and the parent's line above, one each (basis_created) */
	assert_true(bt->count <= (size_t)(2 * keep + 3));
	pthread_mutex_unlock(&bt->mu);
	basis_free(bt);
}

/* One process edits 3,000 records in turn (read, then change on that
 * basis), three times the table: every change finds its basis, and the
 * table holds the editor's share and its parent's, no more. */
static void test_bulk_edit(void **state)
{
	struct basis_table *bt;
	struct proc_info p;
	struct basis_hit hit;
	char key[32];

	(void)state;
	assert_int_equal(proc_get(getpid(), &p), 0);
	assert_int_equal(basis_init(&bt, 60, MAX, 1), 0);
	for (int i = 0; i < 3 * MAX; i++) {
		key_of(key, sizeof(key), i);
		basis_seen(bt, &p, key, 3);
		assert_true(found_for(bt, &p, key, &hit));
		assert_int_equal(hit.version, 3);
		basis_changed(bt, &p, &hit, key, 4);
	}
	pthread_mutex_lock(&bt->mu);
	assert_true(bt->count <= 2 * (MAX / SHARE));
	pthread_mutex_unlock(&bt->mu);
	key_of(key, sizeof(key), 3 * MAX - 1);
	assert_true(found_for(bt, &p, key, &hit));
	assert_int_equal(hit.version, 4);
	basis_free(bt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_exact),
		cmocka_unit_test(test_sweep_returns),
		cmocka_unit_test(test_full_sweeps),
		cmocka_unit_test(test_share_newest),
		cmocka_unit_test(test_bulk_edit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

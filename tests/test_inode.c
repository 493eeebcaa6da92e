/* test_inode.c - unit tests of fs/inode.c: the daemon's inode table.
 * It holds every inode the kernel keeps, which on a large store is
 * millions: lookups by number and by key must stay cheap as it grows,
 * the pending list (uncommitted creates, for readdir and rmdir) must
 * hold exactly the pending inodes, and a directory rename's plan moves
 * exactly the inodes under it, or nothing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../fs/rfs.h"

#define N 200000

static void key_of(char *buf, size_t len, int i)
{
	snprintf(buf, len, "d%d/r%07d", i % 97, i);
}

static size_t longest_chain(struct rfs *fs)
{
	size_t worst = 0;

	for (size_t b = 0; b < fs->cap; b++) {
		size_t n = 0;
		for (struct rfs_inode *in = fs->by_key[b]; in; in = in->next_key)
			n++;
		if (n > worst)
			worst = n;
	}
	return worst;
}

static void test_grows(void **state)
{
	static fuse_ino_t ino[N];
	struct rfs fs;
	char key[64];
	size_t cap0;

	(void)state;
	memset(&fs, 0, sizeof(fs));
	assert_int_equal(rfs_init_state(&fs), 0);
	cap0 = fs.cap;
	for (int i = 0; i < N; i++) {
		struct rfs_inode *in;
		key_of(key, sizeof(key), i);
		in = rfs_ino_make(&fs, key);
		assert_non_null(in);
		in->nlookup = 1;
		ino[i] = in->ino;
	}
	/* root + N, in tables at least as large */
	assert_int_equal(fs.count, N + 1);
	assert_true(fs.cap >= fs.count);
	assert_true(fs.cap > cap0);
	assert_true(longest_chain(&fs) < 16);
	for (int i = 0; i < N; i++) {
		struct rfs_inode *by_key, *by_ino;
		key_of(key, sizeof(key), i);
		by_key = rfs_ino_by_key(&fs, key);
		by_ino = rfs_ino(&fs, ino[i]);
		assert_non_null(by_key);
		assert_ptr_equal(by_key, by_ino);
		assert_string_equal(by_key->key, key);
	}
	/* Making an existing key returns its inode, not a second one. */
	key_of(key, sizeof(key), 12345);
	assert_ptr_equal(rfs_ino_make(&fs, key), rfs_ino(&fs, ino[12345]));
	assert_int_equal(fs.count, N + 1);
	/* Forgotten inodes leave both tables; the rest stay found. */
	for (int i = 0; i < N; i += 2) {
		struct rfs_inode *in = rfs_ino(&fs, ino[i]);
		in->nlookup = 0;
		rfs_ino_put(&fs, in);
	}
	assert_int_equal(fs.count, N / 2 + 1);
	for (int i = 0; i < N; i++) {
		key_of(key, sizeof(key), i);
		if (i % 2 == 0) {
			assert_null(rfs_ino(&fs, ino[i]));
			assert_null(rfs_ino_by_key(&fs, key));
		} else {
			assert_non_null(rfs_ino_by_key(&fs, key));
		}
	}
	/* A rename after the growth moves the key. */
	key_of(key, sizeof(key), 1);
	{
		struct rfs_rekey rk = { 0 };
		assert_int_equal(rfs_rekey_one(&rk, rfs_ino(&fs, ino[1]),
					       "moved"), 0);
		rfs_rekey_apply(&fs, &rk);
		assert_int_equal(rk.n, 0);
	}
	assert_null(rfs_ino_by_key(&fs, key));
	assert_ptr_equal(rfs_ino_by_key(&fs, "moved"), rfs_ino(&fs, ino[1]));
	rfs_free_state(&fs);
}

static int on_pend(struct rfs *fs, struct rfs_inode *x)
{
	int n = 0;

	for (struct rfs_inode *in = fs->pend; in; in = in->pend_next)
		n += in == x;
	return n;
}

static size_t pend_len(struct rfs *fs)
{
	size_t n = 0;

	for (struct rfs_inode *in = fs->pend; in; in = in->pend_next)
		n++;
	return n;
}

static void test_pending_list(void **state)
{
	struct rfs_inode *in[5];
	struct rfs fs;
	char key[16];

	(void)state;
	memset(&fs, 0, sizeof(fs));
	assert_int_equal(rfs_init_state(&fs), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "p%d", i);
		in[i] = rfs_ino_make(&fs, key);
		in[i]->nlookup = 1;
		rfs_ino_pending(&fs, in[i], 1);
	}
	rfs_ino_pending(&fs, in[2], 1); /* twice: listed once */
	assert_int_equal(pend_len(&fs), 5);
	assert_int_equal(on_pend(&fs, in[2]), 1);
	/* Off the list from the middle, the head and the tail. */
	rfs_ino_pending(&fs, in[2], 0);
	rfs_ino_pending(&fs, in[4], 0);
	rfs_ino_pending(&fs, in[0], 0);
	assert_int_equal(pend_len(&fs), 2);
	assert_int_equal(on_pend(&fs, in[1]) + on_pend(&fs, in[3]), 2);
	assert_int_equal(in[2]->pending, 0);
	assert_int_equal(in[1]->pending, 1);
	/* An inode freed while pending leaves the list. */
	in[1]->nlookup = 0;
	rfs_ino_put(&fs, in[1]);
	assert_int_equal(pend_len(&fs), 1);
	assert_int_equal(on_pend(&fs, in[3]), 1);
	rfs_free_state(&fs);
}

static struct rfs_inode *made(struct rfs *fs, const char *key)
{
	struct rfs_inode *in = rfs_ino_make(fs, key);

	assert_non_null(in);
	in->nlookup = 1;
	return in;
}

/* A plan for "a" moves "a" and what is under it, not "ab" or "b/a";
 * until it is applied (after the store's rename), every key stays; a
 * plan dropped changes nothing; an open change under "a" makes it
 * EBUSY, with nothing planned. */
static void test_rekey_tree(void **state)
{
	struct rfs fs;
	struct rfs_rekey rk = { 0 };
	struct rfs_inode *a, *ax, *axy, *ab, *ba;

	(void)state;
	memset(&fs, 0, sizeof(fs));
	assert_int_equal(rfs_init_state(&fs), 0);
	a = made(&fs, "a");
	ax = made(&fs, "a/x");
	axy = made(&fs, "a/x/y");
	ab = made(&fs, "ab");
	ba = made(&fs, "b/a");

	assert_int_equal(rfs_rekey_tree(&fs, &rk, "a", "c/d"), 0);
	assert_int_equal(rk.n, 3);
	assert_ptr_equal(rfs_ino_by_key(&fs, "a/x"), ax);
	rfs_rekey_free(&rk);
	assert_ptr_equal(rfs_ino_by_key(&fs, "a/x/y"), axy);
	assert_null(rfs_ino_by_key(&fs, "c/d/x"));

	assert_int_equal(rfs_rekey_tree(&fs, &rk, "a", "c/d"), 0);
	rfs_rekey_apply(&fs, &rk);
	assert_ptr_equal(rfs_ino_by_key(&fs, "c/d"), a);
	assert_ptr_equal(rfs_ino_by_key(&fs, "c/d/x"), ax);
	assert_ptr_equal(rfs_ino_by_key(&fs, "c/d/x/y"), axy);
	assert_string_equal(axy->key, "c/d/x/y");
	assert_null(rfs_ino_by_key(&fs, "a/x"));
	assert_ptr_equal(rfs_ino_by_key(&fs, "ab"), ab);
	assert_ptr_equal(rfs_ino_by_key(&fs, "b/a"), ba);

	rfs_ino_pending(&fs, axy, 1);
	assert_int_equal(rfs_rekey_tree(&fs, &rk, "c", "e"), -EBUSY);
	assert_int_equal(rk.n, 0);
	assert_null(rk.v);
	assert_ptr_equal(rfs_ino_by_key(&fs, "c/d/x/y"), axy);
	rfs_ino_pending(&fs, axy, 0);
	rfs_free_state(&fs);
}

/* The barrier a failed create's flush waits on (rfs_inval_barrier):
 * it returns once every invalidation queued before it is done, and at
 * its deadline when the thread is not there to do them. */
static void test_inval_barrier(void **state)
{
	struct rfs fs;
	char key[32];

	(void)state;
	memset(&fs, 0, sizeof(fs));
	assert_int_equal(rfs_init_state(&fs), 0);
	/* No thread: the barrier gives up at once, nothing is done. */
	rfs_inval_entry(&fs, "a");
	rfs_inval_barrier(&fs, 50);
	assert_int_equal(fs.inval_done, 0);
	rfs_start_inval(&fs);
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 5; i++) {
			snprintf(key, sizeof(key), "d%d/r%d", round, i);
			rfs_inval_entry(&fs, key);
		}
		rfs_inval_barrier(&fs, 5000);
		/* (no session: the thread looks each parent up, and is
		 * done with it) */
		pthread_mutex_lock(&fs.inval_mu);
		assert_int_equal(fs.inval_done, fs.inval_queued);
		assert_null(fs.inval_head);
		assert_null(fs.inval_tail);
		pthread_mutex_unlock(&fs.inval_mu);
	}
	assert_int_equal(fs.inval_queued, 1 + 200 * 5);
	rfs_stop_inval(&fs);
	rfs_free_state(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows),
		cmocka_unit_test(test_pending_list),
		cmocka_unit_test(test_rekey_tree),
		cmocka_unit_test(test_inval_barrier),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_basis.c - unit tests of fs/basis.c and fs/basis_table.c: the
 * daemon's basis rules and the table that keeps them.
 * Every record a process reads leaves an implicit basis for it and for
 * its parent, so a long-lived reader (a shell, the bench) holds one per
 * record: lookups must stay cheap as the table grows, and every basis
 * must still be found, with its version, after the table has grown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../fs/basis.h"
#include "../fs/proc.h"

#define NKEYS 50000

static void key_of(char *buf, size_t len, int i)
{
	snprintf(buf, len, "w%d/r%d", i % 5, i);
}

static struct proc_info me(void)
{
	struct proc_info p;

	assert_int_equal(proc_get(getpid(), &p), 0);
	return p;
}

/* The test process's parent (a create by me() is held there too). */
static struct proc_info my_parent(void)
{
	struct proc_info p;

	assert_int_equal(proc_get(getppid(), &p), 0);
	return p;
}

/* @key's basis for @p is a declaration of version @v. */
static void expect_declared(struct basis_table *bt, struct proc_info *p,
			    const char *key, uint64_t v)
{
	struct basis_hit hit;

	basis_lookup(bt, p, key, &hit);
	assert_false(hit.stale);
	assert_true(hit.found && hit.explicit_);
	assert_int_equal(hit.version, v);
}

/* A table in which @p has seen each of NKEYS keys at version @v. */
static struct basis_table *table_of_seen(struct proc_info *p, uint64_t v)
{
	struct basis_table *bt;
	char key[64];

	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	for (int i = 0; i < NKEYS; i++) {
		key_of(key, sizeof(key), i);
		basis_seen(bt, p, key, v);
	}
	return bt;
}

/* A change by @p to @key is refused: the key is marked stale for it. */
static void refuse(struct basis_table *bt, struct proc_info *p,
		   const char *key)
{
	struct basis_hit hit;

	basis_lookup(bt, p, key, &hit);
	basis_refused(bt, p, &hit, key, hit.version, "test conflict");
	basis_lookup(bt, p, key, &hit);
	assert_true(hit.stale);
}

/* 50,000 keys seen by this process: 100,000 entries (it and its
 * parent).  The buckets grow with them, so chains stay short, and each
 * key still gives back the version this process first saw. */
static void test_grows_and_finds(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me();
	struct basis_hit hit;
	size_t entries, buckets, longest;
	char key[64];

	(void)state;
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	for (int i = 0; i < NKEYS; i++) {
		key_of(key, sizeof(key), i);
		basis_seen(bt, &p, key, (uint64_t)i + 1);
		basis_seen(bt, &p, key, (uint64_t)i + 100); /* first counts */
	}
	basis_shape(bt, &entries, &buckets, &longest);
	print_message("%zu entries, %zu buckets, longest chain %zu\n",
		      entries, buckets, longest);
	assert_true(entries >= NKEYS); /* its parent's too, when it has one */
	assert_true(buckets >= entries);
	/* A fixed 4096 buckets would chain about 24 each here. */
	assert_true(longest <= 16);
	for (int i = 0; i < NKEYS; i++) {
		key_of(key, sizeof(key), i);
		basis_lookup(bt, &p, key, &hit);
		assert_true(hit.found);
		assert_false(hit.explicit_);
		assert_int_equal(hit.version, (uint64_t)i + 1);
		assert_true(hit.holder_is_self);
	}
	key_of(key, sizeof(key), NKEYS); /* never seen */
	basis_lookup(bt, &p, key, &hit);
	assert_false(hit.found);
	basis_free(bt);
}

/* After growth a declaration replaces nothing but its own key's basis,
 * and a refusal marks only its key. */
static void test_declare_and_refuse_after_growth(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me();
	struct basis_hit hit;
	char key[64];

	(void)state;
	bt = table_of_seen(&p, 5);
	key_of(key, sizeof(key), 777);
	assert_int_equal(basis_declare(bt, &p, key, 42), 0);
	expect_declared(bt, &p, key, 42);
	refuse(bt, &p, key);
	key_of(key, sizeof(key), 778);
	basis_lookup(bt, &p, key, &hit);
	assert_true(hit.found && !hit.stale);
	assert_int_equal(hit.version, 5);
	/* Everything this live process holds survives a sweep. */
	{
		size_t before, after, b, l;
		basis_shape(bt, &before, &b, &l);
		after = basis_gc(bt);
		assert_int_equal(after, before);
	}
	basis_free(bt);
}

static size_t entries_of(struct basis_table *bt)
{
	size_t e, b, l;

	basis_shape(bt, &e, &b, &l);
	return e;
}

/* A holder keeps one entry of each kind per key: a new declaration
 * replaces the older one and clears a refusal's mark; a change replaces
 * the changer's implicit basis and mark.  Repeating either adds
 * nothing.  Keys are kept whole, the longest too. */
static void test_replace(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me();
	struct basis_hit hit;
	char key[1024];
	size_t base, one;

	(void)state;
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = 0;
	base = entries_of(bt);
	assert_int_equal(basis_declare(bt, &p, key, 1), 0);
	one = entries_of(bt) - base; /* this process, and its parent */
	assert_true(one >= 1 && one <= 2);
	assert_int_equal(basis_declare(bt, &p, key, 2), 0);
	assert_int_equal(entries_of(bt), base + one);
	expect_declared(bt, &p, key, 2);

	refuse(bt, &p, key);
	assert_int_equal(basis_declare(bt, &p, key, 3), 0);
	expect_declared(bt, &p, key, 3); /* the mark is gone */

	for (uint64_t v = 4; v < 8; v++) {
		basis_lookup(bt, &p, key, &hit);
		basis_changed(bt, &p, &hit, key, v);
		basis_lookup(bt, &p, key, &hit);
		assert_true(hit.found && !hit.explicit_ && !hit.stale);
		assert_int_equal(hit.version, v);
	}
	/* The declaration was consumed; the implicit basis and the conflict
	 * text left by the refusal stay, one each, and the parent's implicit
	 * basis, as it held the declaration too (declared_with_locked). */
	assert_true(entries_of(bt) <= base + 3);
	key[sizeof(key) - 2] = 'x'; /* differs in its last byte only */
	basis_lookup(bt, &p, key, &hit);
	assert_false(hit.found || hit.stale);
	basis_free(bt);
}

/* A file a process creates is held by its parent too (a shell's next
 * command may move it), and that basis gives way to the parent's next
 * read; a basis the parent already held is left alone. */
static void test_created_gives_way(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), par = my_parent();
	struct basis_hit hit;

	(void)state;
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);

	basis_created(bt, &p, "made", 5);
	basis_lookup(bt, &par, "made", &hit);
	assert_true(hit.found && !hit.explicit_ && !hit.stale);
	assert_int_equal(hit.version, 5);
	basis_seen(bt, &p, "made", 7); /* a read after someone's change */
	basis_lookup(bt, &par, "made", &hit);
	assert_true(hit.found);
	assert_int_equal(hit.version, 7);
	basis_seen(bt, &p, "made", 9); /* and then the first read counts */
	basis_lookup(bt, &par, "made", &hit);
	assert_int_equal(hit.version, 7);

	basis_seen(bt, &p, "read", 3);
	basis_created(bt, &p, "read", 4);
	basis_lookup(bt, &par, "read", &hit);
	assert_true(hit.found);
	assert_int_equal(hit.version, 3);

	refuse(bt, &par, "marked");
	basis_created(bt, &p, "marked", 2);
	basis_lookup(bt, &par, "marked", &hit);
	assert_true(hit.stale); /* a mark is not lifted by a create */
	basis_free(bt);
}

/* A create's basis gives way to a later read only while its holder has
 * read nothing of the record: once the holder, or its child (a read
 * registers for the reader's parent), read the version its tree made,
 * that read is its first seen, and a read after another's change does
 * not move it.  A script whose child wrote rec2 opened it, read it,
 * read it again after another's `echo B > rec2`, and its write then
 * passed on B's version: B's change was lost. */
static void test_created_read_pins(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), par = my_parent();
	struct basis_hit hit;

	(void)state;
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	for (int k = 0; k < 2; k++) {
		const char *key = k == 0 ? "self" : "child";
		basis_created(bt, &p, key, 1);
		/* The holder itself reads v1, or its child does. */
		basis_seen(bt, k == 0 ? &par : &p, key, 1);
		basis_seen(bt, &par, key, 2); /* after another's change */
		basis_lookup(bt, &par, key, &hit);
		assert_true(hit.found && !hit.stale);
		assert_int_equal(hit.version, 1);
	}
	/* It still moves along with its tree's own change. */
	basis_lookup(bt, &par, "self", &hit);
	hit.holder_is_self = 0; /* as the child's own lookup finds it */
	basis_changed(bt, &p, &hit, "self", 3);
	basis_lookup(bt, &par, "self", &hit);
	assert_int_equal(hit.version, 3);
	basis_free(bt);
}

#define LINE 6

/* A line of processes for test_created_reaches_leader: a session leader
 * (setsid), its child, grandchild and so on, LINE in all, each waiting
 * to be killed; their pids in @pid.  @return 0, or -1 where setsid
 * fails. */
static int spawn_line(pid_t pid[LINE])
{
	int fds[2];
	pid_t l;

	assert_int_equal(pipe(fds), 0);
	l = fork();
	assert_true(l >= 0);
	if (l == 0) {
		int null = open("/dev/null", O_WRONLY);
		close(fds[0]);
		/* Off the test's output, and gone with the test (a failed
		 * assertion leaves them to it): each dies with its parent. */
		if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
		    setsid() < 0)
			_exit(1);
		for (int i = 0; i < LINE; i++) {
			pid_t me_ = getpid();
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
			    write(fds[1], &me_, sizeof(me_)) != sizeof(me_))
				_exit(1);
			if (i < LINE - 1 && fork() != 0)
				break; /* the parent waits; the child goes on */
		}
		for (;;)
			pause();
	}
	close(fds[1]);
	for (int i = 0; i < LINE; i++)
		if (read(fds[0], &pid[i], sizeof(pid[i])) != sizeof(pid[i])) {
			close(fds[0]);
			kill(l, SIGKILL);
			waitpid(l, NULL, 0);
			return -1;
		}
	close(fds[0]);
	return 0;
}

/* A file made deeper in a session is held by the creator's parent, the
 * two above it and the session's leader (the terminal's shell): after a
 * script's `cp`, the shell's next command may remove it, and so may the
 * script itself.  Not by the rest of a deep line; not above a mark held
 * on the way; and a creator that is the leader's child registers once. */
static void test_created_reaches_leader(void **state)
{
	struct basis_table *bt;
	struct proc_info pi[LINE];
	struct basis_hit hit;
	pid_t pid[LINE];
	const int c = LINE - 1; /* the creator; pi[0] leads the session */

	(void)state;
	if (spawn_line(pid) < 0)
		skip();
	for (int i = 0; i < LINE; i++) {
		assert_int_equal(proc_get(pid[i], &pi[i]), 0);
		assert_int_equal(pi[i].sid, pid[0]);
	}
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);

	/* LINE 6: the creator's parent and the two above it hold it, the
	 * one between them and the leader does not, the leader does. */
	basis_created(bt, &pi[c], "deep", 1);
	for (int i = 0; i < c; i++) {
		basis_lookup(bt, &pi[i], "deep", &hit);
		if (i == 1) { /* holds none of its own (it may see the
				 * leader's: a tick's tie counts as before) */
			assert_false(hit.found && hit.holder_is_self);
			continue;
		}
		assert_true(hit.found && hit.holder_is_self);
		assert_int_equal(hit.version, 1);
	}
	/* The line comes from the table's memory the second time. */
	basis_created(bt, &pi[c], "deep2", 1);
	basis_lookup(bt, &pi[0], "deep2", &hit);
	assert_true(hit.found && hit.holder_is_self);

	refuse(bt, &pi[c - 2], "marked");
	basis_created(bt, &pi[c], "marked", 2);
	basis_lookup(bt, &pi[c - 1], "marked", &hit);
	assert_true(hit.found && hit.holder_is_self);
	basis_lookup(bt, &pi[0], "marked", &hit);
	assert_false(hit.found);

	basis_created(bt, &pi[1], "child", 3);
	basis_lookup(bt, &pi[0], "child", &hit);
	assert_true(hit.found && hit.version == 3);

	basis_free(bt);
	for (int i = LINE - 1; i >= 0; i--)
		kill(pid[i], SIGKILL);
	waitpid(pid[0], NULL, 0);
}

/* A change on the parent's basis from a child's create moves the parent
 * along (the spec's rule for an ancestor's basis), and what the parent
 * holds then is still a create's: its next read replaces it.  A basis
 * the parent read moves along as an ordinary one, which reads do not
 * move.  (An append passes such a hit: echo h > out; cmd >> out.) */
static void test_change_keeps_made(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), par = my_parent();
	struct basis_hit hit;

	(void)state;
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	const char *keys[2] = { "made", "read" };
	for (int k = 0; k < 2; k++) {
		if (k == 0)
			basis_created(bt, &p, keys[k], 5);
		else
			basis_seen(bt, &par, keys[k], 5);
		basis_lookup(bt, &par, keys[k], &hit);
		assert_true(hit.found && hit.holder_is_self);
		/* As the child's own lookup would find it. */
		hit.holder_is_self = 0;
		basis_changed(bt, &p, &hit, keys[k], 6);
		basis_lookup(bt, &par, keys[k], &hit);
		assert_int_equal(hit.version, 6);
		basis_seen(bt, &p, keys[k], 9); /* the child reads on */
		basis_lookup(bt, &par, keys[k], &hit);
		assert_int_equal(hit.version, k == 0 ? 9 : 6);
	}
	basis_free(bt);
}

/* A change on the changer's own basis moves the nearest ancestor that
 * holds the same version along, when that version is one its tree made
 * (`echo x > f; gzip f; gunzip f.gz; rm f`: gzip and gunzip each use a
 * basis of their own).  An ancestor that read the record, or stands at
 * another version, stays: a child's change does not bless what it read. */
static void test_own_change_moves_maker(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), par = my_parent();
	struct basis_hit hit, none;

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	/* "made": p created it (par holds a create's basis), then read it
	 * back before changing it (`seq 9 > f; sort -o f f`). */
	const char *keys[4] = { "wrote", "read", "older", "made" };
	for (int k = 0; k < 4; k++) {
		if (k == 1)
			basis_seen(bt, &par, keys[k], 1);
		else if (k == 3)
			basis_created(bt, &p, keys[k], 1);
		else
			basis_changed(bt, &par, &none, keys[k], 1);
		basis_seen(bt, &p, keys[k], k == 2 ? 3 : 1);
		basis_lookup(bt, &p, keys[k], &hit);
		assert_true(hit.found && hit.holder_is_self && !hit.stale);
		basis_changed(bt, &p, &hit, keys[k], 4);
		basis_lookup(bt, &par, keys[k], &hit);
		assert_true(hit.found && !hit.stale);
		assert_int_equal(hit.version, k == 0 || k == 3 ? 4 : 1);
	}
	/* Moved, it follows the child's next change on the child's basis
	 * too (the child's entry names it). */
	basis_lookup(bt, &p, "wrote", &hit);
	assert_int_equal(hit.version, 4);
	basis_changed(bt, &p, &hit, "wrote", 5);
	basis_lookup(bt, &par, "wrote", &hit);
	assert_int_equal(hit.version, 5);
	basis_free(bt);
}

/* The test's parent and grandparent; the test is skipped where the
 * parent's parent is init. */
static void elders(struct proc_info *par, struct proc_info *gp)
{
	*par = my_parent();
	if (proc_basis_parent(par) <= 1 ||
	    proc_get(proc_basis_parent(par), gp) < 0)
		skip();
}

/* What a child's read leaves at its parent (as the spec registers a
 * read) moves with that child's own change, and does not stop the walk
 * for it: `python3 edit.py f; git checkout f` from one shell, and `find
 * -exec sed -i` moving the shell that wrote the file, past find.
 * Someone else's read left at the parent stops it, and an ancestor that
 * read the record itself stays. */
static void test_own_read_passed_over(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), par, gp, sib;
	struct basis_hit hit, none;

	(void)state;
	memset(&none, 0, sizeof(none));
	elders(&par, &gp);
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	sib = p;
	sib.tid = sib.tgid = 999999; /* another child of par, as a reader */
	/* key, gp wrote it (else read it), p's read (else sib's) reached
	 * par first, and where gp and par stand after p's change */
	const struct {
		const char *key;
		int gp_wrote, own_read;
		uint64_t gp_after, par_after;
	} c[3] = {
		{ "mine", 1, 1, 2, 2 },
		{ "sibling's", 1, 0, 1, 1 },
		{ "gp read", 0, 1, 1, 2 },
	};
	for (int k = 0; k < 3; k++) {
		if (c[k].gp_wrote)
			basis_changed(bt, &gp, &none, c[k].key, 1);
		else
			basis_seen(bt, &gp, c[k].key, 1);
		basis_seen(bt, c[k].own_read ? &p : &sib, c[k].key, 1);
		basis_seen(bt, &p, c[k].key, 1);
		basis_lookup(bt, &p, c[k].key, &hit);
		assert_true(hit.found && hit.holder_is_self);
		basis_changed(bt, &p, &hit, c[k].key, 2);
		basis_lookup(bt, &gp, c[k].key, &hit);
		assert_true(hit.found && hit.holder_is_self);
		assert_int_equal(hit.version, c[k].gp_after);
		basis_lookup(bt, &par, c[k].key, &hit);
		assert_true(hit.found && hit.holder_is_self);
		assert_int_equal(hit.version, c[k].par_after);
	}
	basis_free(bt);
}

/* A script's bash (par) wrote a file, so the shell that ran it (gp)
 * holds it as the creator's parent.  The script's command then changes
 * it on par's basis: gp, at the same version, moves too, and is current
 * once the script has exited.  A gp that read the file stays. */
static void test_change_moves_chain(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), par, gp;
	struct basis_hit hit, none;

	(void)state;
	memset(&none, 0, sizeof(none));
	elders(&par, &gp);
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	const char *keys[2] = { "made", "read" };
	for (int k = 0; k < 2; k++) {
		if (k == 0)
			basis_created(bt, &par, keys[k], 1);
		else
			basis_seen(bt, &gp, keys[k], 1);
		basis_changed(bt, &par, &none, keys[k], 1);
		basis_lookup(bt, &par, keys[k], &hit);
		assert_true(hit.found && hit.holder_is_self);
		/* As p's own lookup would find it, had par registered it
		 * before p started. */
		hit.holder_is_self = 0;
		basis_changed(bt, &p, &hit, keys[k], 2);
		basis_lookup(bt, &gp, keys[k], &hit);
		assert_true(hit.found && hit.holder_is_self);
		assert_int_equal(hit.version, k == 0 ? 2 : 1);
	}
	basis_free(bt);
}

/* Entries share buckets (50,000 keys, about one per bucket): changing,
 * declaring and consuming some keys' bases rewrites their buckets'
 * summaries, and every other key's basis in those buckets must still be
 * found.  A summary that lost a neighbour's hash would hide its basis. */
static void test_neighbours_survive(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me();
	struct basis_hit hit;
	char key[64];

	(void)state;
	bt = table_of_seen(&p, 5);
	for (int i = 0; i < NKEYS; i += 2) {
		key_of(key, sizeof(key), i);
		if (i % 3 == 0)
			assert_int_equal(basis_declare(bt, &p, key, 9), 0);
		basis_lookup(bt, &p, key, &hit);
		basis_changed(bt, &p, &hit, key, 6);
	}
	for (int i = 0; i < NKEYS; i++) {
		key_of(key, sizeof(key), i);
		basis_lookup(bt, &p, key, &hit);
		assert_true(hit.found && !hit.explicit_ && !hit.stale);
		assert_int_equal(hit.version, i % 2 ? 5 : 6);
	}
	/* A sweep keeps this live process's entries, and their hashes. */
	basis_gc(bt);
	for (int i = 1; i < NKEYS; i += 2) {
		key_of(key, sizeof(key), i);
		basis_lookup(bt, &p, key, &hit);
		assert_true(hit.found);
	}
	basis_free(bt);
}

/* A declaration is consumed by the change that used it, and only its own
 * entries go: a child's implicit basis for the same key, in the same
 * bucket, stays.  The child has seen version 5; this process (its
 * parent) declares 7 and commits 8.  The child's next change must still
 * be checked against 5, which it saw, not against 8, which it never did. */
static void test_consume_keeps_others(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), c;
	struct basis_hit hit;
	const char *key = "w0/shared";
	pid_t child;

	(void)state;
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* Gone with this process, even if an assert ends it first,
		 * and holding none of its output pipes meanwhile. */
		int null = open("/dev/null", O_WRONLY);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		if (getppid() != p.tgid)
			_exit(0); /* the parent died before prctl() */
		pause();
		_exit(0);
	}
	assert_int_equal(proc_get(child, &c), 0);
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	basis_seen(bt, &c, key, 5); /* the child and this process */
	assert_int_equal(basis_declare(bt, &p, key, 7), 0);
	expect_declared(bt, &p, key, 7);
	basis_lookup(bt, &p, key, &hit);
	basis_changed(bt, &p, &hit, key, 8);

	basis_lookup(bt, &p, key, &hit);
	assert_true(hit.found && !hit.explicit_ && hit.holder_is_self);
	assert_int_equal(hit.version, 8);
	basis_lookup(bt, &c, key, &hit);
	assert_true(hit.found && !hit.explicit_ && hit.holder_is_self);
	assert_int_equal(hit.version, 5);
	basis_free(bt);
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, NULL, 0), child);
}

/* A child that waits, gone with this process; its pid (the parent's
 * output pipes are not held). */
static pid_t idle_child(pid_t parent)
{
	pid_t child = fork();

	assert_true(child >= 0);
	if (child == 0) {
		int null = open("/dev/null", O_WRONLY);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		if (getppid() != parent)
			_exit(0); /* the parent died before prctl() */
		pause();
		_exit(0);
	}
	return child;
}

static void end_child(pid_t child)
{
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, NULL, 0), child);
}

/* @key's basis for @p is implicit or explicit, at version @v, held by
 * @p itself (@self 1), by an ancestor (0), or either (-1). */
static void expect_hit(struct basis_table *bt, struct proc_info *p,
		       const char *key, int self, uint64_t v)
{
	struct basis_hit hit;

	basis_lookup(bt, p, key, &hit);
	assert_true(hit.found && !hit.stale);
	if (self >= 0)
		assert_int_equal(hit.holder_is_self, self);
	assert_int_equal(hit.version, v);
}

/* A child of this process that has a child of its own, both idle:
 * returns the child, its child in *@grand. */
static pid_t idle_parent(pid_t parent, pid_t *grand)
{
	int fds[2];
	pid_t child;

	assert_int_equal(pipe(fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pid_t g;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		g = idle_child(getpid());
		if (write(fds[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], grand, sizeof(*grand)), sizeof(*grand));
	close(fds[0]);
	return child;
}

/* idle_parent() under @p, with the facts of the child in *@c and of its
 * child in *@g.  @return the child, for end_child(). */
static pid_t idle_family(const struct proc_info *p, struct proc_info *c,
			 struct proc_info *g)
{
	pid_t grand, child = idle_parent(p->tgid, &grand);

	assert_int_equal(proc_get(child, c), 0);
	assert_int_equal(proc_get(grand, g), 0);
	return child;
}

/* A look that finds a record deleted (at 2) reads the deletion for the
 * looker's parent, and for the looker itself only where that passes
 * over no older basis read or declared (basis_looked): every create
 * looks first, and cp's look outranked its shell's stale read or
 * declaration (`cat f`, another's `rm f`, `cp x f` made f again).  Where
 * nothing is held, or a basis from a change by the holder's tree, it
 * reads.  A shell that
 * holds nothing, below a program that read the record, gets the
 * deletion through its command's look (`sh -c 'cat f; echo x > f'`). */
static void test_look_at_deleted(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), c, g;
	struct basis_hit none;
	pid_t child;

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	basis_seen(bt, &p, "read", 1);
	assert_int_equal(basis_declare(bt, &p, "declared", 1), 0);
	basis_changed(bt, &p, &none, "made", 1);
	basis_seen(bt, &p, "below", 1);
	child = idle_child(p.tgid); /* lends this process what it makes */
	assert_int_equal(proc_get(child, &c), 0);
	basis_created(bt, &c, "lent", 1);
	end_child(child);
	child = idle_family(&p, &c, &g);

	basis_looked(bt, &c, "read", 2);
	expect_hit(bt, &c, "read", 0, 1);
	expect_hit(bt, &p, "read", 1, 1); /* the first seen stays */

	basis_looked(bt, &c, "declared", 2);
	expect_declared(bt, &c, "declared", 1);

	basis_looked(bt, &c, "made", 2); /* this process's, moved to 2 */
	expect_hit(bt, &c, "made", -1, 2);

	basis_looked(bt, &c, "lent", 2); /* a child's create lent it */
	expect_hit(bt, &c, "lent", -1, 2);

	basis_looked(bt, &c, "free", 2);
	expect_hit(bt, &c, "free", 1, 2);

	basis_looked(bt, &g, "below", 2);
	expect_hit(bt, &c, "below", 1, 2);
	expect_hit(bt, &g, "below", 0, 1); /* c's came after g began */

	end_child(child);
	basis_free(bt);
}

/* A shell that made a record (`echo a > f`) whose command then looks
 * at it deleted by another (`cp x f`) holds the deletion: the command's
 * look passes over the basis the shell's tree made, and that basis
 * moves to the deletion, wherever on the line it is held.  It stayed at
 * the first version seen, so once the command made f anew the shell's
 * `rm f` was refused as stale for good.  The looker's own basis stays:
 * its create's own lookup is such a look (SPEC: a process that holds a
 * basis must not make the record again unseen). */
static void test_look_moves_made(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), c, g;
	struct basis_hit hit, none;
	pid_t child;

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	basis_changed(bt, &p, &none, "self", 1);
	basis_changed(bt, &p, &none, "cmd", 1);
	basis_changed(bt, &p, &none, "script", 1);
	basis_seen(bt, &p, "read", 1);
	child = idle_family(&p, &c, &g);

	basis_looked(bt, &p, "self", 2); /* echo b > self: refused once */
	basis_lookup(bt, &p, "self", &hit);
	assert_true(hit.found && hit.holder_is_self);
	assert_int_equal(hit.version, 1);

	basis_looked(bt, &c, "cmd", 2); /* cp x cmd: its look, its create */
	basis_lookup(bt, &c, "cmd", &hit);
	assert_true(hit.found);
	assert_int_equal(hit.version, 2);
	basis_changed_created(bt, &c, &hit, "cmd", 3, 0);
	basis_lookup(bt, &p, "cmd", &hit); /* then the shell's rm cmd */
	assert_true(hit.found && hit.holder_is_self);
	assert_int_equal(hit.version, 3);

	basis_looked(bt, &g, "script", 2); /* a script's cp, two below */
	basis_lookup(bt, &g, "script", &hit);
	assert_true(hit.found);
	assert_int_equal(hit.version, 2);
	basis_changed_created(bt, &g, &hit, "script", 3, 0);
	basis_lookup(bt, &p, "script", &hit);
	assert_true(hit.found && hit.holder_is_self);
	assert_int_equal(hit.version, 3);

	basis_looked(bt, &c, "read", 2); /* a read stays (the first seen) */
	basis_lookup(bt, &p, "read", &hit);
	assert_true(hit.found && hit.holder_is_self);
	assert_int_equal(hit.version, 1);

	end_child(child);
	basis_free(bt);
}

/* make (c) stats its target, which make clean removed on this shell's
 * basis, and its cp (g) makes it anew.  make's own look at the deletion
 * registered a read of it for make, which stood between cp and the
 * shell: cp's change moved neither, the shell stayed at the deletion,
 * and the next make's cp over the target was refused as stale (make;
 * make clean; make; touch in; make: EAGAIN, for good). */
static void test_look_under_parent_look(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), c, g;
	struct basis_hit hit, none;
	pid_t child;

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	basis_changed(bt, &p, &none, "out", 2); /* make clean's rm */
	child = idle_family(&p, &c, &g);
	basis_looked(bt, &c, "out", 2);
	basis_looked(bt, &g, "out", 2);
	basis_lookup(bt, &g, "out", &hit);
	assert_true(hit.found);
	assert_int_equal(hit.version, 2);
	basis_changed_created(bt, &g, &hit, "out", 3, 0);
	basis_lookup(bt, &p, "out", &hit);
	assert_true(hit.found && hit.holder_is_self);
	assert_int_equal(hit.version, 3);
	basis_lookup(bt, &c, "out", &hit);
	assert_true(hit.found);
	assert_int_equal(hit.version, 3);

	end_child(child);
	basis_free(bt);
}

/* git gc (c) runs pack-refs (g), which looks at a deleted lock file
 * that this process (the shell above gc) made, makes it and removes it:
 * gc, between them, must follow the removal.  It stayed at the make (g's
 * second change moved only the holder its first one had used), so a
 * change of gc's own on that basis was refused as stale. */
static void test_second_change_moves_between(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), c, g;
	struct basis_hit hit, none;
	pid_t child;
	const char *key = "refs/heads/master.lock";

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	basis_changed(bt, &p, &none, key, 6); /* made, then removed */
	child = idle_family(&p, &c, &g);
	basis_looked(bt, &g, key, 6);
	expect_hit(bt, &g, key, -1, 6); /* this process's: the deletion */
	basis_lookup(bt, &g, key, &hit); /* the make's check */
	basis_changed_created(bt, &g, &hit, key, 7, 0);
	expect_hit(bt, &g, key, 1, 7);
	basis_lookup(bt, &g, key, &hit); /* the removal's */
	basis_changed(bt, &g, &hit, key, 8);
	expect_hit(bt, &c, key, 1, 8);
	expect_hit(bt, &p, key, 1, 8);
	end_child(child);
	basis_free(bt);
}

/* A queue's consumer, this process: its cat (c) reads q, its rm (c)
 * removes it, the producer makes q anew, its next cat reads that and its
 * next rm removes it.  This process held its tree's removal, and the
 * first version seen kept it there over the cat's read of the new q:
 * every other rm was refused as stale.  A removal the tree made gives
 * way to a read of a later version, by a command or by the holder
 * itself (a one-process consumer); not to a read of an older one (a
 * descriptor kept open across the removal), nor to a look; and a
 * version the tree wrote stays the first seen. */
static void test_removal_gives_way(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), c;
	struct basis_hit hit, none;
	pid_t child;

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	for (uint64_t v = 1; v < 8; v += 3) {
		child = idle_child(p.tgid); /* cat q */
		assert_int_equal(proc_get(child, &c), 0);
		basis_seen(bt, &c, "q", v);
		end_child(child);
		expect_hit(bt, &p, "q", 1, v);
		child = idle_child(p.tgid); /* rm q */
		assert_int_equal(proc_get(child, &c), 0);
		basis_lookup(bt, &c, "q", &hit);
		assert_true(hit.found && !hit.holder_is_self);
		assert_int_equal(hit.version, v);
		basis_removed(bt, &c, &hit, "q", v + 1);
		end_child(child);
		expect_hit(bt, &p, "q", 1, v + 1);
		/* the producer's mv q.tmp q made v + 2 */
	}

	basis_seen(bt, &p, "own", 1);
	basis_lookup(bt, &p, "own", &hit);
	basis_removed(bt, &p, &hit, "own", 2);
	basis_seen(bt, &p, "own", 1); /* an older version: stays */
	expect_hit(bt, &p, "own", 1, 2);
	basis_looked(bt, &p, "own", 4); /* a look: stays */
	expect_hit(bt, &p, "own", 1, 2);
	basis_seen(bt, &p, "own", 5);
	expect_hit(bt, &p, "own", 1, 5);
	basis_seen(bt, &p, "own", 6); /* and then the first seen counts */
	expect_hit(bt, &p, "own", 1, 5);

	basis_changed(bt, &p, &none, "wrote", 1);
	basis_seen(bt, &p, "wrote", 2);
	expect_hit(bt, &p, "wrote", 1, 1);
	basis_free(bt);
}

/* `cmd > tmp; setfattr -n user.expected_version -v 5 rec; mv tmp rec`
 * run by a grandchild (g) of this process: basis_renamed, the rename's
 * one section, leaves each of the three at each name what the two
 * changes made as separate calls did (rfs_renamed, fs/names.c). */
static void renamed_scenario(struct basis_table *bt, struct proc_info *g,
			     int one_section)
{
	struct basis_hit hit, fh, th;

	basis_lookup(bt, g, "tmp", &hit);
	basis_changed_created(bt, g, &hit, "tmp", 1, 0);
	assert_int_equal(basis_declare(bt, g, "rec", 5), 0);
	basis_lookup(bt, g, "tmp", &fh);
	basis_lookup(bt, g, "rec", &th);
	assert_true(fh.found && th.found && th.explicit_);
	if (one_section) {
		basis_renamed(bt, g, &fh, "tmp", 2, &th, "rec", 6, 0);
	} else {
		basis_removed(bt, g, &fh, "tmp", 2);
		basis_changed(bt, g, &th, "rec", 6);
	}
}

static void test_renamed_as_two_changes(void **state)
{
	struct basis_table *bt[2];
	struct proc_info p = me(), c, g, *who[3] = { &p, &c, &g };
	const char *keys[2] = { "tmp", "rec" };
	struct basis_hit hit[2];
	pid_t child;

	(void)state;
	child = idle_family(&p, &c, &g);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(basis_init(&bt[i], 60, 1u << 20, 1), 0);
		renamed_scenario(bt[i], &g, i);
	}
	expect_hit(bt[1], &g, "tmp", 1, 2);
	expect_hit(bt[1], &g, "rec", 1, 6);
	for (int w = 0; w < 3; w++) {
		for (int k = 0; k < 2; k++) {
			basis_lookup(bt[0], who[w], keys[k], &hit[0]);
			basis_lookup(bt[1], who[w], keys[k], &hit[1]);
			assert_int_equal(hit[0].found, hit[1].found);
			assert_int_equal(hit[0].stale, hit[1].stale);
			assert_int_equal(hit[0].explicit_, hit[1].explicit_);
			assert_int_equal(hit[0].holder_is_self,
					 hit[1].holder_is_self);
			assert_int_equal(hit[0].version, hit[1].version);
		}
	}
	end_child(child);
	basis_free(bt[0]);
	basis_free(bt[1]);
}

/* A child's second change on the basis its first one left it through
 * this process (its parent): nobody stands between them, and the walk
 * that looks for holders there (between_locked) must not prove the
 * parent alive with a poll to find that out (one per rename-over's
 * temporary, and per unlink of a record its remover made). */
static void test_second_change_parent_no_poll(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), c;
	struct basis_hit hit, none;
	pid_t child, grand;
	uint64_t n;

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	basis_changed(bt, &p, &none, "k", 1);
	child = idle_parent(p.tgid, &grand);
	assert_int_equal(proc_get(child, &c), 0);
	basis_lookup(bt, &c, "k", &hit);
	assert_true(hit.found && !hit.holder_is_self);
	basis_changed(bt, &c, &hit, "k", 2);
	basis_lookup(bt, &c, "k", &hit);
	assert_true(hit.found && hit.holder_is_self);
	assert_int_equal(hit.via, p.tgid);
	n = proc_cache_polls();
	basis_changed(bt, &c, &hit, "k", 3);
	assert_int_equal(proc_cache_polls(), n);
	expect_hit(bt, &c, "k", 1, 3);
	expect_hit(bt, &p, "k", 1, 3);
	end_child(child);
	basis_free(bt);
}

/* A script declares, then forks two writers: the first one's change
 * registers its new version at the script, in the clock tick in which
 * the second was forked.  The second was running before: it must not
 * take that version (it overwrote the first's change unseen, 18 of 30
 * rounds on a mount), while a child forked after it, in the same tick,
 * does. */
static void test_sibling_same_tick(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), c, c2;
	struct basis_hit hit;
	const char *key = "w0/forked";
	pid_t child, child2;
	int tie = 0;

	(void)state;
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	for (int i = 0; i < 50 && !tie; i++) {
		child = idle_child(p.tgid);
		assert_int_equal(proc_get(child, &c), 0);
		/* The first writer's change, on this process's basis. */
		assert_int_equal(basis_declare(bt, &p, key, 7), 0);
		tie = c.start == proc_now_ticks();
		basis_lookup(bt, &c, key, &hit);
		if (tie)
			assert_false(hit.found);
		child2 = idle_child(p.tgid);
		assert_int_equal(proc_get(child2, &c2), 0);
		if (tie && c2.start == c.start) {
			basis_lookup(bt, &c2, key, &hit);
			assert_true(hit.found && hit.explicit_);
			assert_int_equal(hit.version, 7);
		}
		end_child(child2);
		end_child(child);
	}
	basis_free(bt);
	if (!tie)
		skip(); /* never forked in the tick of a registration */
}

/* Set the last pid handed out (/proc/sys/kernel/ns_last_pid; root).
 * @return 0, or -1 when it cannot be written. */
static int set_last_pid(long pid)
{
	FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
	int rc;

	if (!f)
		return -1;
	rc = fprintf(f, "%ld", pid) > 0 ? 0 : -1;
	return fclose(f) == 0 ? rc : -1;
}

/* As above, but the pids wrap between the registration and the second
 * child's fork, in the same tick: the second child gets a pid below the
 * last one handed out at the registration, and was still forked after
 * it.  A script's `cat rec; cp a rec; cp b rec` failed its second cp
 * with EPERM ("no basis") whenever that happened (forced here; in CI on
 * a pid_max of 32768, e2e_races' 20 cp's on etcd made 19 versions).  The
 * child forked before the registration is still refused. */
static void test_sibling_same_tick_pid_wrap(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), c, c2;
	struct basis_hit hit;
	const char *key = "w0/wrapped";
	pid_t child, child2;
	long pid_max = 0;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	int tie = 0;

	(void)state;
	if (f) {
		if (fscanf(f, "%ld", &pid_max) != 1)
			pid_max = 0;
		fclose(f);
	}
	if (pid_max <= 0 || set_last_pid(pid_max - 1000) < 0)
		skip(); /* not root: ns_last_pid cannot be set */
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	for (int i = 0; i < 50 && !tie; i++) {
		assert_int_equal(set_last_pid(pid_max - 1000), 0);
		child = idle_child(p.tgid);
		assert_int_equal(proc_get(child, &c), 0);
		assert_int_equal(basis_declare(bt, &p, key, 7), 0);
		tie = c.start == proc_now_ticks();
		/* The next fork wraps to the lowest pids. */
		assert_int_equal(set_last_pid(pid_max - 1), 0);
		child2 = idle_child(p.tgid);
		assert_int_equal(proc_get(child2, &c2), 0);
		assert_true(child2 < child);
		tie = tie && c2.start == c.start;
		if (tie) {
			basis_lookup(bt, &c2, key, &hit);
			assert_true(hit.found && hit.explicit_);
			assert_int_equal(hit.version, 7);
			basis_lookup(bt, &c, key, &hit);
			assert_false(hit.found);
		}
		end_child(child2);
		end_child(child);
	}
	basis_free(bt);
	if (!tie)
		skip(); /* never forked in the tick of a registration */
}

/* A thread's lookups ask for its process each time (the writer's start
 * time bounds what ancestors offer).  The thread is a live caller, and
 * so is its process: no poll of the process per lookup. */
struct thread_polls {
	struct basis_table *bt;
	uint64_t polls;
	int found;
};

static void *lookups_in_thread(void *arg)
{
	struct thread_polls *t = arg;
	struct proc_info p;
	struct basis_hit hit;
	uint64_t p0;

	if (proc_get_caller(gettid(), &p) < 0 || p.tid == p.tgid)
		return NULL;
	basis_seen(t->bt, &p, "w1/threaded", 3);
	basis_lookup(t->bt, &p, "w1/threaded", &hit); /* proves both */
	p0 = proc_cache_polls();
	for (int i = 0; i < 100; i++) {
		basis_lookup(t->bt, &p, "w1/threaded", &hit);
		t->found += hit.found && hit.version == 3;
	}
	t->polls = proc_cache_polls() - p0;
	return NULL;
}

static void test_thread_lookups_poll_little(void **state)
{
	struct thread_polls t = { 0 };
	pthread_t th;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	long pid_max = 0;

	if (f) {
		if (fscanf(f, "%ld", &pid_max) != 1)
			pid_max = 0;
		fclose(f);
	}
	if (proc_trust_window(pid_max, sysconf(_SC_NPROCESSORS_CONF)) == 0)
		skip(); /* every hit polls here */
	(void)state;
	assert_int_equal(basis_init(&t.bt, 60, 1u << 20, 1), 0);
	assert_int_equal(pthread_create(&th, NULL, lookups_in_thread, &t), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(t.found, 100);
	/* 100 lookups take far less than the 1 ms window; a poll or two
	 * where one ends.  One per lookup was the cost. */
	assert_true(t.polls <= 4);
	basis_free(t.bt);
}

/* A pool's threads share their process's basis: the main thread read
 * v3; one worker changes the record on that basis (v4), then another
 * worker, then the main thread: each passes on the version its own
 * process made.  The process stayed at v3, and the second worker was
 * refused. */
struct pool {
	struct basis_table *bt;
	uint64_t cur;       /* the record's version */
	int passed;
};

static void *pool_worker(void *arg)
{
	struct pool *w = arg;
	struct proc_info p;
	struct basis_hit hit;

	if (proc_get_caller(gettid(), &p) < 0 || p.tid == p.tgid)
		return NULL;
	basis_lookup(w->bt, &p, "w1/pool", &hit);
	if (hit.found && !hit.stale && hit.version == w->cur) {
		basis_changed(w->bt, &p, &hit, "w1/pool", w->cur + 1);
		w->cur++;
		w->passed++;
	}
	return NULL;
}

static void test_thread_change_moves_process(void **state)
{
	struct pool w = { .cur = 3 };
	struct proc_info me;
	struct basis_hit hit;
	pthread_t th;

	(void)state;
	assert_int_equal(basis_init(&w.bt, 60, 1u << 20, 1), 0);
	assert_int_equal(proc_get_caller(getpid(), &me), 0);
	basis_seen(w.bt, &me, "w1/pool", 3);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_create(&th, NULL, pool_worker, &w), 0);
		assert_int_equal(pthread_join(th, NULL), 0);
	}
	assert_int_equal(w.passed, 2);
	basis_lookup(w.bt, &me, "w1/pool", &hit);
	assert_true(hit.found && !hit.stale);
	assert_int_equal(hit.version, 5);
	basis_free(w.bt);
}

/* A child of this process that forks an idle child of its own each time
 * spawn() asks (a subshell running its commands one after another):
 * returns the child, and the pipes to ask on (*@ask) and to get each new
 * pid from (*@got). */
static pid_t spawner(pid_t parent, int *ask, int *got)
{
	int a[2], g[2];
	pid_t child;

	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(g), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char c;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		close(a[1]);
		close(g[0]);
		while (read(a[0], &c, 1) == 1) {
			pid_t n = idle_child(getpid());
			if (write(g[1], &n, sizeof(n)) != sizeof(n))
				_exit(1);
		}
		_exit(0);
	}
	close(a[0]);
	close(g[1]);
	*ask = a[1];
	*got = g[0];
	return child;
}

static pid_t spawn(int ask, int got, struct proc_info *out)
{
	pid_t n;

	assert_int_equal(write(ask, "x", 1), 1);
	assert_int_equal(read(got, &n, sizeof(n)), sizeof(n));
	assert_int_equal(proc_get(n, out), 0);
	return n;
}

/* `echo x > f; ( for i in 1 2 3; do date > f; done )`: this process (the
 * shell) wrote f, then a subshell (c) runs one command after another
 * (g1, g2, g3), each rewriting f.  g1 used this process's basis, whose
 * new version was registered after c started, and c held nothing: g2
 * found no basis (EPERM), as did every later one.  c now holds what its
 * command made, and this process follows; but a command of c's already
 * running at that change (g0), and a script this process started before
 * it (s), still find none. */
static void test_subshell_changes_again(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), c, s, g0, g1, g2, g3;
	struct basis_hit hit, none;
	const char *key = "w0/status";
	pid_t child, sib;
	int ask, got;

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	basis_changed(bt, &p, &none, key, 1);
	sib = idle_child(p.tgid);
	assert_int_equal(proc_get(sib, &s), 0);
	child = spawner(p.tgid, &ask, &got);
	assert_int_equal(proc_get(child, &c), 0);
	spawn(ask, got, &g0);
	spawn(ask, got, &g1);
	basis_lookup(bt, &g1, key, &hit);
	assert_true(hit.found && !hit.holder_is_self);
	assert_int_equal(hit.holder, p.tgid);
	basis_changed(bt, &g1, &hit, key, 2);
	spawn(ask, got, &g2);
	expect_hit(bt, &g2, key, 0, 2);
	expect_hit(bt, &c, key, 1, 2);
	basis_lookup(bt, &g0, key, &hit);
	assert_false(hit.found);
	basis_lookup(bt, &s, key, &hit);
	assert_false(hit.found);
	basis_lookup(bt, &g2, key, &hit);
	basis_changed(bt, &g2, &hit, key, 3);
	spawn(ask, got, &g3);
	expect_hit(bt, &g3, key, 0, 3);
	expect_hit(bt, &p, key, 1, 3);
	basis_lookup(bt, &g0, key, &hit);
	assert_false(hit.found);
	close(ask);
	close(got);
	end_child(child);
	end_child(sib);
	basis_free(bt);
}

/* A child running as another user is refused on that user's basis at
 * its parent, which holds a mark of its own user already: the mark must
 * stop that user's next change too (SPEC: a naive retry keeps getting
 * EAGAIN; RULES: the mark is for the basis's user).  It kept its first
 * user only, and the retry passed over it: EPERM here, and a basis of
 * that user further up would have let it through (check_model.py, seed
 * 8185 with CM_WEIGHTS). */
static void test_mark_for_each_user(void **state)
{
	struct basis_table *bt;
	struct proc_info p = me(), c, c2, c3;
	struct basis_hit hit, none;
	const char *key = "w0/users";
	uid_t other = p.uid == 4242 ? 4343 : 4242;
	pid_t child, child2, child3;

	(void)state;
	assert_int_equal(basis_init(&bt, 60, 1u << 20, 1), 0);
	child = idle_child(p.tgid);
	assert_int_equal(proc_get(child, &c), 0);
	c.uid = other;
	/* the other user declares: held by the child and this process */
	assert_int_equal(basis_declare(bt, &c, key, 3), 0);
	/* this process's own change is refused (a thread's: it found its
	 * own stale basis), which marks it for its own user */
	memset(&none, 0, sizeof(none));
	basis_refused(bt, &p, &none, key, 0, "mine");
	child2 = idle_child(p.tgid);
	assert_int_equal(proc_get(child2, &c2), 0);
	c2.uid = other;
	expect_declared(bt, &c2, key, 3);
	/* the record moved on: the other user's change is refused */
	basis_lookup(bt, &c2, key, &hit);
	basis_refused(bt, &c2, &hit, key, hit.version, "theirs");
	/* and its next command (a new process) meets the mark */
	child3 = idle_child(p.tgid);
	assert_int_equal(proc_get(child3, &c3), 0);
	c3.uid = other;
	basis_lookup(bt, &c3, key, &hit);
	assert_true(hit.stale);
	basis_lookup(bt, &p, key, &hit);
	assert_true(hit.stale);
	basis_free(bt);
	end_child(child);
	end_child(child2);
	end_child(child3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_and_finds),
		cmocka_unit_test(test_declare_and_refuse_after_growth),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_created_gives_way),
		cmocka_unit_test(test_created_reaches_leader),
		cmocka_unit_test(test_created_read_pins),
		cmocka_unit_test(test_change_keeps_made),
		cmocka_unit_test(test_own_change_moves_maker),
		cmocka_unit_test(test_own_read_passed_over),
		cmocka_unit_test(test_change_moves_chain),
		cmocka_unit_test(test_neighbours_survive),
		cmocka_unit_test(test_consume_keeps_others),
		cmocka_unit_test(test_look_at_deleted),
		cmocka_unit_test(test_look_moves_made),
		cmocka_unit_test(test_look_under_parent_look),
		cmocka_unit_test(test_second_change_moves_between),
		cmocka_unit_test(test_removal_gives_way),
		cmocka_unit_test(test_renamed_as_two_changes),
		cmocka_unit_test(test_second_change_parent_no_poll),
		cmocka_unit_test(test_sibling_same_tick),
		cmocka_unit_test(test_sibling_same_tick_pid_wrap),
		cmocka_unit_test(test_thread_lookups_poll_little),
		cmocka_unit_test(test_thread_change_moves_process),
		cmocka_unit_test(test_subshell_changes_again),
		cmocka_unit_test(test_mark_for_each_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

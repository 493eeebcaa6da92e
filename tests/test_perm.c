/* test_perm.c - unit tests of fs/perm.c: the daemon's permission checks
 * must answer as the kernel's generic_permission() does (the e2e_posix
 * transcript compares whole operations with tmpfs; this covers the
 * classes, capabilities and the /proc parsing one by one). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <cmocka.h>

#include "../fs/perm.h"

#define CAP(c) (1ULL << (c))

/* A caller whose caps and groups are given, not read from /proc. */
static struct perm_who who(uid_t uid, gid_t gid, unsigned long long caps)
{
	struct perm_who w;

	perm_who_init(&w, uid, gid, 0);
	w.loaded = 1;
	w.caps = caps;
	return w;
}

static void test_classes(void **state)
{
	struct perm_who owner = who(1000, 1000, 0);
	struct perm_who member = who(2000, 1000, 0);
	struct perm_who other = who(3000, 3000, 0);

	(void)state;
	/* 0640: the owner writes, the group reads, others nothing. */
	assert_int_equal(perm_may(&owner, S_IFREG | 0640, 1000, 1000, PERM_W), 0);
	assert_int_equal(perm_may(&member, S_IFREG | 0640, 1000, 1000, PERM_R), 0);
	assert_int_equal(perm_may(&member, S_IFREG | 0640, 1000, 1000, PERM_W),
			 -EACCES);
	assert_int_equal(perm_may(&other, S_IFREG | 0640, 1000, 1000, PERM_R),
			 -EACCES);
	/* The owner's bits count for the owner, even when others get more. */
	assert_int_equal(perm_may(&owner, S_IFREG | 0066, 1000, 1000, PERM_R),
			 -EACCES);
	/* A member gets the group's bits, not the others'. */
	assert_int_equal(perm_may(&member, S_IFREG | 0604, 1000, 1000, PERM_R),
			 -EACCES);
	/* Search needs x on a directory. */
	assert_int_equal(perm_may(&other, S_IFDIR | 0754, 1000, 1000, PERM_X),
			 -EACCES);
	assert_int_equal(perm_may(&other, S_IFDIR | 0755, 1000, 1000,
				  PERM_W | PERM_X), -EACCES);
	assert_int_equal(perm_may(&other, S_IFDIR | 0777, 1000, 1000,
				  PERM_W | PERM_X), 0);
}

static void test_supplementary_groups(void **state)
{
	struct perm_who w = who(2000, 2000, 0);

	(void)state;
	w.groups[0] = 50;
	w.groups[1] = 1000;
	w.ngroups = 2;
	assert_true(perm_in_group(&w, 1000));
	assert_false(perm_in_group(&w, 51));
	assert_int_equal(perm_may(&w, S_IFREG | 0060, 1000, 1000, PERM_R | PERM_W),
			 0);
	assert_int_equal(perm_may(&w, S_IFREG | 0060, 1000, 51, PERM_R), -EACCES);
}

static void test_capabilities(void **state)
{
	struct perm_who root = who(0, 0, CAP(PERM_CAP_DAC_OVERRIDE) |
					  CAP(PERM_CAP_DAC_READ_SEARCH) |
					  CAP(PERM_CAP_FOWNER));
	struct perm_who capless = who(0, 0, 0);
	struct perm_who reader = who(5, 5, CAP(PERM_CAP_DAC_READ_SEARCH));

	(void)state;
	/* DAC_OVERRIDE: anything, except running what no one may run. */
	assert_int_equal(perm_may(&root, S_IFREG | 0000, 7, 7, PERM_R | PERM_W), 0);
	assert_int_equal(perm_may(&root, S_IFREG | 0644, 7, 7, PERM_X), -EACCES);
	assert_int_equal(perm_may(&root, S_IFREG | 0100, 7, 7, PERM_X), 0);
	assert_int_equal(perm_may(&root, S_IFDIR | 0000, 7, 7,
				  PERM_W | PERM_X), 0);
	/* uid 0 alone is nothing: the bits decide. */
	assert_int_equal(perm_may(&capless, S_IFREG | 0444, 7, 7, PERM_W),
			 -EACCES);
	assert_int_equal(perm_may(&capless, S_IFREG | 0600, 0, 0, PERM_W), 0);
	/* DAC_READ_SEARCH: reading files, reading and searching dirs. */
	assert_int_equal(perm_may(&reader, S_IFREG | 0000, 7, 7, PERM_R), 0);
	assert_int_equal(perm_may(&reader, S_IFREG | 0000, 7, 7, PERM_W), -EACCES);
	assert_int_equal(perm_may(&reader, S_IFDIR | 0000, 7, 7,
				  PERM_R | PERM_X), 0);
	assert_int_equal(perm_may(&reader, S_IFDIR | 0000, 7, 7,
				  PERM_W | PERM_X), -EACCES);
	/* FOWNER: chmod and sticky removal of others' files. */
	assert_int_equal(perm_owner(&root, 7), 0);
	assert_int_equal(perm_owner(&capless, 7), -EPERM);
	assert_int_equal(perm_sticky(&capless, S_IFDIR | 01777, 8, 7), -EPERM);
	assert_int_equal(perm_sticky(&capless, S_IFDIR | 0777, 8, 7), 0);
	assert_int_equal(perm_sticky(&root, S_IFDIR | 01777, 8, 7), 0);
	capless.uid = 8; /* the directory's owner */
	assert_int_equal(perm_sticky(&capless, S_IFDIR | 01777, 8, 7), 0);
}

static void test_parse_status(void **state)
{
	struct perm_who w;
	const char *text = "Name:\tsh\nUid:\t0\t0\t0\t0\nGroups:\t4 24 1000 \n"
			   "CapInh:\t0000000000000000\n"
			   "CapEff:\t000001ffffffffff\n";

	(void)state;
	perm_who_init(&w, 0, 0, 0);
	assert_int_equal(perm_parse_status(&w, text), 0);
	assert_int_equal(w.ngroups, 3);
	assert_int_equal(w.groups[2], 1000);
	assert_int_equal(w.caps, 0x000001ffffffffffULL);
	assert_int_equal(perm_parse_status(&w, "Name:\tx\nGroups:\t\n"), -EIO);
	assert_int_equal(w.ngroups, 0);
	assert_int_equal(w.caps, 0);
}

/* A caller in more supplementary groups than perm_who holds: the rest
 * are still its groups.  Before 2026-12-06 only the first 64 were read,
 * so a member through its 65th group was refused (EACCES). */
static void test_parse_many_groups(void **state)
{
	char text[2048];
	struct perm_who w;
	int n;

	(void)state;
	n = snprintf(text, sizeof(text), "Name:\tsh\nGroups:\t");
	for (int g = 1; g <= 70; g++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "%d ",
			      5000 + g);
	snprintf(text + n, sizeof(text) - (size_t)n,
		 "\nCapEff:\t0000000000000000\n");
	perm_who_init(&w, 2000, 2000, 0);
	assert_int_equal(perm_parse_status(&w, text), 0);
	assert_int_equal(w.caps, 0);
	assert_int_equal(w.ngroups, 64);
	assert_true(w.groups_cut);
}

/* What the check of a child in @ngroups groups and no capabilities
 * (uid 0 still) finds: bit 0 member of its last group, bit 1 member of a
 * group it is not in, bit 2 CAP_DAC_OVERRIDE; 255 when it could not be
 * set up. */
static int child_checks(int ngroups)
{
	gid_t *g = calloc((size_t)ngroups, sizeof(*g));
	uint32_t hdr[2] = { 0x20080522, 0 }, data[6] = { 0 };
	struct perm_who w;
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		for (int i = 0; g && i < ngroups; i++)
			g[i] = (gid_t)(5001 + i);
		if (!g || setgroups((size_t)ngroups, g) < 0 ||
		    syscall(SYS_capset, hdr, data) < 0)
			_exit(255);
		perm_who_init(&w, 0, 0, getpid());
		free(g); /* (valgrind follows the child) */
		_exit(perm_in_group(&w, (gid_t)(5000 + ngroups)) |
		      perm_in_group(&w, 4999) << 1 |
		      perm_capable(&w, PERM_CAP_DAC_OVERRIDE) << 2);
	}
	free(g);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 255;
	return WEXITSTATUS(st);
}

/* Read from /proc, for a process in many groups: its 65th group counts,
 * and capabilities it dropped stay dropped, however long its status.
 * Before 2026-12-06 a status longer than 4 KiB (some 700 groups) was
 * cut before CapEff, and a caller of uid 0 then had every capability:
 * a root process without any read a 0600 file of another user. */
static void test_reads_proc_many_groups(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* setgroups needs root */
	assert_int_equal(child_checks(70), 1);
	assert_int_equal(child_checks(1000), 1);
}

/* Read from /proc for this very thread: what the kernel says we hold. */
static void test_reads_proc(void **state)
{
	struct perm_who w;

	(void)state;
	perm_who_init(&w, getuid(), getgid(), getpid());
	if (geteuid() == 0)
		assert_true(perm_capable(&w, PERM_CAP_DAC_OVERRIDE));
	else
		assert_false(perm_capable(&w, PERM_CAP_DAC_OVERRIDE));
	/* A task we cannot read: uid 0 is root, anyone else has the bits. */
	perm_who_init(&w, 5, 5, 0x3fffffff);
	assert_false(perm_capable(&w, PERM_CAP_DAC_OVERRIDE));
	assert_int_equal(perm_may(&w, S_IFREG | 0600, 7, 7, PERM_R), -EACCES);
	perm_who_init(&w, 0, 0, 0);
	assert_true(perm_capable(&w, PERM_CAP_DAC_OVERRIDE));
	assert_int_equal(perm_may(&w, S_IFREG | 0600, 7, 7, PERM_R), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_supplementary_groups),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_parse_status),
		cmocka_unit_test(test_parse_many_groups),
		cmocka_unit_test(test_reads_proc_many_groups),
		cmocka_unit_test(test_reads_proc),
	};

	return cmocka_run_group_tests_name("perm", tests, NULL, NULL);
}

/* test_proc.c - unit tests of fs/proc.c: the task cache must answer as a
 * fresh read of /proc would, also when a task dies, its tid is gone or its
 * parent exits (the basis rules follow ppid), and the descriptor scan must
 * count exactly the writable descriptors of one inode. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../fs/proc.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Does this kernel (or valgrind) give pidfds?  Without them the caches
 * keep nothing, which some tests look at. */
static int have_pidfds(void)
{
	long fd = syscall(SYS_pidfd_open, getpid(), 0);

	if (fd < 0)
		return 0;
	close((int)fd);
	return 1;
}

static int reset(void **state)
{
	(void)state;
	proc_cache_reset();
	proc_fdinfo_reset();
	return 0;
}

static void test_self(void **state)
{
	struct proc_info p;

	(void)state;
	for (int i = 0; i < 3; i++) { /* a miss, then hits */
		struct proc_info par;
		if (getppid() > 1) { /* the parent's start, as its own entry */
			assert_int_equal(proc_get(getppid(), &par), 0);
			assert_int_equal(proc_get(getpid(), &p), 0);
			/* without pidfds nothing proves it: not kept */
			assert_int_equal(p.pstart, have_pidfds() ? par.start : 0);
		}
		assert_int_equal(proc_get(getpid(), &p), 0);
		assert_int_equal(p.tid, getpid());
		assert_int_equal(p.tgid, getpid());
		assert_int_equal(p.ppid, getppid());
		assert_int_equal(p.sid, getsid(0));
		assert_int_equal(p.uid, getuid());
		assert_true(p.start > 0);
		assert_int_equal(p.flags, 0); /* never served from the cache */
	}
}

static void *thread_main(void *arg)
{
	struct proc_info *p = arg;
	pid_t tid = gettid();

	if (proc_get(tid, p) < 0 || p->tid != tid)
		p->tid = -1;
	return NULL;
}

static void test_thread(void **state)
{
	struct proc_info p;
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, thread_main, &p), 0);
	pthread_join(t, NULL);
	assert_true(p.tid > 0);
	assert_int_not_equal(p.tid, getpid());
	assert_int_equal(p.tgid, getpid());
	assert_int_equal(p.ppid, getppid()); /* the process's parent */
	/* A thread's parent in the basis sense is its process. */
	{
		struct proc_info me;
		assert_int_equal(proc_get(getpid(), &me), 0);
		if (p.pstart) /* 0 only without thread pidfds (< 6.9) */
			assert_int_equal(p.pstart, me.start);
	}
}

static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(30); /* never outlive a failed test */
		pause();
		_exit(0);
	}
	return pid;
}

/* A dead task is gone at once, not after a cache lifetime. */
static void test_dead_task(void **state)
{
	struct proc_info p;
	pid_t pid = spawn_sleeper();

	(void)state;
	assert_int_equal(proc_get(pid, &p), 0);
	assert_int_equal(p.ppid, getpid());
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(proc_get(pid, &p), -ESRCH);
}

/* The trust window: far shorter than bringing a tid back takes. */
static void test_trust_window(void **state)
{
	(void)state;
	assert_int_equal(proc_trust_window(32768, 2), 1000000); /* capped */
	assert_int_equal(proc_trust_window(4194304, 1024), 1000000);
	/* 32,768 pids over 256 CPUs: (32768 - 300) us / 256 / 4 */
	assert_int_equal(proc_trust_window(32768, 256), 31707);
	assert_int_equal(proc_trust_window(301, 1), 0); /* too few pids */
	assert_int_equal(proc_trust_window(32768, 0), 0);
	assert_int_equal(proc_trust_window(-1, 2), 0);
}

/* A request's caller is served from an entry proven within the window
 * without a poll; anyone else's entry is polled at every hit, so a task
 * that has just died is gone at once even then. */
static void test_caller_window(void **state)
{
	struct proc_info p, q;
	uint64_t n;
	pid_t pid;

	(void)state;
	if (!have_pidfds())
		skip(); /* nothing is kept without pidfds */
	assert_int_equal(proc_get_caller(getpid(), &p), 0); /* a miss */
	if (proc_trust_window(32768, 2) > 0) {
		int unpolled = 0;
		/* Back to back; a few tries, as a preemption between the two
		 * calls could outlast the window. */
		for (int i = 0; i < 20 && !unpolled; i++) {
			assert_int_equal(proc_get(getpid(), &q), 0); /* proof */
			n = proc_cache_polls();
			assert_int_equal(proc_get_caller(getpid(), &q), 0);
			unpolled = proc_cache_polls() == n;
		}
		assert_true(unpolled);
	}
	assert_int_equal(q.start, p.start);
	assert_int_equal(q.ppid, getppid());
	n = proc_cache_polls();
	assert_int_equal(proc_get(getpid(), &q), 0);
	assert_int_equal(proc_cache_polls(), n + 1); /* not a caller: polled */
	usleep(2000); /* past any window (at most 1 ms) */
	n = proc_cache_polls();
	assert_int_equal(proc_get_caller(getpid(), &q), 0);
	assert_int_equal(proc_cache_polls(), n + 1);

	pid = spawn_sleeper();
	assert_int_equal(proc_get_caller(pid, &p), 0);
	assert_int_equal(proc_get_caller(pid, &p), 0); /* proven just now */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(proc_get(pid, &p), -ESRCH);
}

/* A flush's proc_get_cached, for its caller: no poll within the trust
 * window of a proof (one per save before), a poll past it, and a dead
 * task's entry is not served then. */
static void test_cached_caller_window(void **state)
{
	struct proc_info p, q;
	uint64_t n;
	pid_t pid;

	(void)state;
	if (!have_pidfds())
		skip();
	assert_int_equal(proc_get(getpid(), &p), 0);
	if (proc_trust_window(32768, 2) > 0) {
		int unpolled = 0;
		for (int i = 0; i < 20 && !unpolled; i++) {
			assert_int_equal(proc_get(getpid(), &q), 0); /* proof */
			n = proc_cache_polls();
			assert_int_equal(proc_get_cached(getpid(), &q), 0);
			unpolled = proc_cache_polls() == n;
		}
		assert_true(unpolled);
		assert_int_equal(q.start, p.start);
	}
	usleep(2000); /* past any window (at most 1 ms) */
	n = proc_cache_polls();
	assert_int_equal(proc_get_cached(getpid(), &q), 0);
	assert_int_equal(proc_cache_polls(), n + 1);
	assert_int_equal(q.start, p.start);

	pid = spawn_sleeper();
	assert_int_equal(proc_get(pid, &p), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	usleep(2000);
	assert_int_equal(proc_get_cached(pid, &p), -ENOENT);
}

/* A task whose parent exits is reparented; the cache must see the new
 * parent at once (ancestry is what the basis rules walk). */
static void test_reparent(void **state)
{
	struct proc_info p;
	int pfd[2];
	pid_t mid, leaf;

	(void)state;
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe(pfd), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		pid_t c = fork();
		if (c == 0) {
			alarm(30); /* never outlive a failed test */
		pause();
			_exit(0);
		}
		if (write(pfd[1], &c, sizeof(c)) != sizeof(c))
			_exit(1);
		alarm(30); /* never outlive a failed test */
		pause();
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &leaf, sizeof(leaf)), sizeof(leaf));
	assert_int_equal(proc_get(leaf, &p), 0);
	assert_int_equal(p.ppid, mid);
	kill(mid, SIGKILL);
	waitpid(mid, NULL, 0);
	for (int i = 0; i < 100; i++) { /* reparenting is part of exit */
		assert_int_equal(proc_get(leaf, &p), 0);
		if (p.ppid == getpid())
			break;
		usleep(10000);
	}
	assert_int_equal(p.ppid, getpid());
	{ /* and the new parent's start comes with it */
		struct proc_info me;
		assert_int_equal(proc_get(getpid(), &me), 0);
		if (p.pstart)
			assert_int_equal(p.pstart, me.start);
	}
	kill(leaf, SIGKILL);
	waitpid(leaf, NULL, 0);
	close(pfd[0]);
	close(pfd[1]);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* The cache holds pidfds; a reset gives every one back. */
static void test_reset_closes(void **state)
{
	struct proc_info p;
	pid_t kids[8];
	int before = count_fds();

	int with, after;

	(void)state;
	if (!have_pidfds())
		skip(); /* no pidfds (valgrind, old kernels): nothing is kept */
	for (int i = 0; i < 8; i++) {
		kids[i] = spawn_sleeper();
		proc_get(kids[i], &p);
	}
	with = count_fds();
	proc_cache_reset();
	after = count_fds();
	for (int i = 0; i < 8; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	assert_true(with > before);
	assert_int_equal(after, before);
}

static void test_flags(void **state)
{
	unsigned flags = 0xffffffffu;

	(void)state;
	assert_int_equal(proc_flags(getpid(), &flags), 0);
	assert_int_equal(flags & PROC_PF_SIGNALED, 0);
	assert_int_equal(proc_flags(-1, &flags), -ESRCH);
	{ /* through the stat file a cached entry keeps open */
		struct proc_info p;
		unsigned again = 0;
		assert_int_equal(proc_get(getpid(), &p), 0);
		assert_int_equal(proc_flags(getpid(), &again), 0);
		assert_int_equal(again, flags);
		again = 0;
		assert_int_equal(proc_flags(getpid(), &again), 0);
		assert_int_equal(again, flags);
	}
}

static int mnt_id_of(int fd)
{
	char path[64], buf[512], *p;
	int f, id = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY);
	assert_true(f >= 0);
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	assert_true(n > 0);
	buf[n] = 0;
	p = strstr(buf, "mnt_id:");
	if (p)
		id = atoi(p + 7);
	return id;
}

/* A thread that unshares its descriptor table and opens a file there
 * for writing: the scan for that thread sees it, and the process's does
 * not (nor the other way round, for a file the process holds). */
struct own_table {
	const char *path;
	int mnt;
	uint64_t ino;
	int in_thread, in_process;
};

static void *own_table_thread(void *arg)
{
	struct own_table *o = arg;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	int fd;

	if (unshare(CLONE_FILES) < 0)
		return NULL;
	fd = open(o->path, O_WRONLY);
	o->in_thread = proc_task_writable_fds(getpid(), tid, 0, o->mnt,
					      o->ino, NULL);
	o->in_process = proc_writable_fds(getpid(), 0, o->mnt, o->ino, NULL);
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void test_writable_fds_own_table(void **state)
{
	char path[] = "/tmp/test_proc.XXXXXX";
	struct own_table o = { path, 0, 0, -1, -1 };
	struct stat st;
	pthread_t t;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	o.mnt = mnt_id_of(fd);
	o.ino = st.st_ino;
	close(fd);
	assert_int_equal(pthread_create(&t, NULL, own_table_thread, &o), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	unlink(path);
	assert_int_equal(o.in_thread, 1);  /* its own table: there */
	assert_int_equal(o.in_process, 0); /* not in the process's */
}

static void test_writable_fds(void **state)
{
	char path[] = "/tmp/test_proc.XXXXXX";
	struct stat st;
	int w1, w2, r, d, mnt, nf = -1;

	(void)state;
	w1 = mkstemp(path);
	assert_true(w1 >= 0);
	assert_int_equal(fstat(w1, &st), 0);
	mnt = mnt_id_of(w1);
	assert_int_equal(proc_writable_fds(getpid(), 0, mnt, st.st_ino, NULL), 1);
	w2 = open(path, O_RDWR);
	r = open(path, O_RDONLY);
	d = dup(w1);
	assert_true(w2 >= 0 && r >= 0 && d >= 0);
	/* w1, its dup and w2; not the read-only one */
	assert_int_equal(proc_writable_fds(getpid(), 0, mnt, st.st_ino, &nf), 3);
	assert_true(nf >= 4); /* and every other descriptor it saw */
	assert_int_equal(proc_writable_fds(getpid(), 0, mnt + 100000, st.st_ino, NULL),
			 0);
	close(w1);
	close(d);
	close(w2);
	assert_int_equal(proc_writable_fds(getpid(), 0, mnt, st.st_ino, NULL), 0);
	close(r);
	unlink(path);
	assert_true(proc_writable_fds(-5, 0, mnt, st.st_ino, NULL) < 0);
}

/* The text of one descriptor, judged: the kernel's order takes the one
 * pass, anything else the search; both must give the same verdicts. */
static void test_fdinfo_judge(void **state)
{
	static const char *shapes[] = {
		/* the kernel's order, an extra line as some files have */
		"pos:\t%s\nflags:\t%s\nmnt_id:\t%s\nino:\t%s\nextra:\t1\n",
		/* reordered: the long way */
		"flags:\t%2$s\npos:\t%1$s\nino:\t%4$s\nmnt_id:\t%3$s\n",
	};
	char text[256], self[256], path[64];
	struct stat st;
	int fd;

	(void)state;
	for (int i = 0; i < 2; i++) {
		const char *f = shapes[i];
#define J(pos, fl, mnt, ino) \
	(snprintf(text, sizeof(text), f, pos, fl, mnt, ino), \
	 proc_fdinfo_judge(text, 24, 77))
		assert_int_equal(J("0", "0100001", "24", "77"), 1);   /* O_WRONLY */
		assert_int_equal(J("12", "02", "24", "77"), 1);       /* O_RDWR */
		assert_int_equal(J("-5", "02000002", "24", "77"), 1); /* pos < 0 */
		assert_int_equal(J("0", "0100000", "24", "77"), 0);   /* O_RDONLY */
		assert_int_equal(J("0", "01", "25", "77"), 0);   /* another mount */
		assert_int_equal(J("0", "01", "24", "770"), 0);  /* another inode */
		assert_int_equal(J("0", "01", "2", "77"), 0);
#undef J
	}
	/* A kernel that does not say the inode: it cannot tell. */
	assert_int_equal(proc_fdinfo_judge("pos:\t0\nflags:\t01\nmnt_id:\t24\n",
					   24, 77),
			 -ENOTSUP);
	/* And this kernel's own text, for a file opened both ways. */
	for (int mode = 0; mode < 2; mode++) {
		ssize_t n;
		int in;
		fd = open("/proc/self/stat", O_RDONLY);
		if (mode)
			fd = (close(fd), open("/dev/null", O_WRONLY));
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &st), 0);
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
		in = open(path, O_RDONLY);
		assert_true(in >= 0);
		n = read(in, self, sizeof(self) - 1);
		assert_true(n > 0);
		self[n] = 0;
		close(in);
		assert_int_equal(proc_fdinfo_judge(self, mnt_id_of(fd), st.st_ino),
				 mode);
		assert_int_equal(proc_fdinfo_judge(self, mnt_id_of(fd) + 1,
						   st.st_ino), 0);
		close(fd);
	}
}

/* A table that takes several reads of /proc/PID/fdinfo to list (each
 * read returns at most a buffer's worth): a writable descriptor listed
 * last is still found, and so is each in between. */
static void test_writable_fds_many(void **state)
{
	char path[] = "/tmp/test_proc.XXXXXX";
	int fds[700], w, n = 0, nf = -1, mnt;
	struct stat st;

	(void)state;
	w = mkstemp(path);
	assert_true(w >= 0);
	assert_int_equal(fstat(w, &st), 0);
	mnt = mnt_id_of(w);
	for (; n < 700; n++) {
		fds[n] = open("/dev/null", O_RDONLY);
		if (fds[n] < 0)
			break;
	}
	assert_true(n > 300); /* needs a descriptor limit above 300 */
	/* The writable one moves to the highest number. */
	fds[n - 1] = dup2(w, fds[n - 1]) < 0 ? -1 : fds[n - 1];
	assert_true(fds[n - 1] >= 0);
	close(w);
	assert_int_equal(proc_writable_fds(getpid(), 0, mnt, st.st_ino, &nf), 1);
	assert_true(nf >= n);
	/* And again through the kept files, with one in the middle too. */
	assert_true(dup2(fds[n - 1], fds[n / 2]) == fds[n / 2]);
	assert_int_equal(proc_writable_fds(getpid(), 0, mnt, st.st_ino, NULL), 2);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	assert_int_equal(proc_writable_fds(getpid(), 0, mnt, st.st_ino, NULL), 0);
	unlink(path);
}

/* A child the test drives: it reads a byte from go[0] before each step
 * and writes one to done[1] after it.  Never outlives a failed test. */
static pid_t fork_driven(int go[2], int done[2])
{
	pid_t pid;

	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		alarm(30);
	return pid;
}

/* Another process (the daemon never scans itself): its descriptors are
 * counted, a number reused by another file is read as that file although
 * the scan keeps fdinfo files open, and after its exit nothing is. */
static void test_writable_fds_child(void **state)
{
	char a[] = "/tmp/test_proc.XXXXXX", b[] = "/tmp/test_proc.XXXXXX";
	struct stat sa, sb;
	struct proc_info pi;
	int fa, fb, go[2], done[2], mnt;
	pid_t pid;
	char c;

	(void)state;
	fa = mkstemp(a);
	fb = mkstemp(b);
	assert_true(fa >= 0 && fb >= 0);
	assert_int_equal(fstat(fa, &sa), 0);
	assert_int_equal(fstat(fb, &sb), 0);
	mnt = mnt_id_of(fa);
	pid = fork_driven(go, done);
	if (pid == 0) {
		/* holds a at fa; then b at the same number */
		if (read(go[0], &c, 1) != 1 || dup2(fb, fa) != fa ||
		    write(done[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(fa);
	close(fb);
	/* With the start time proc_get() proved (as the flush passes it),
	 * later scans skip their own proof: what they read is still read
	 * fresh. */
	assert_int_equal(proc_get(pid, &pi), 0);
	assert_int_equal(proc_writable_fds(pid, 0, mnt, sa.st_ino, NULL), 1);
	assert_int_equal(proc_writable_fds(pid, pi.start, mnt, sb.st_ino, NULL),
			 1);
	assert_int_equal(proc_writable_fds(getpid(), 0, mnt, sa.st_ino, NULL), 0);
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(read(done[0], &c, 1), 1);
	assert_int_equal(proc_writable_fds(pid, pi.start, mnt, sa.st_ino, NULL),
			 0);
	assert_int_equal(proc_writable_fds(pid, pi.start, mnt, sb.st_ino, NULL),
			 2);
	assert_int_equal(write(go[1], "x", 1), 1);
	waitpid(pid, NULL, 0);
	assert_true(proc_writable_fds(pid, 0, mnt, sb.st_ino, NULL) <= 0);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	unlink(a);
	unlink(b);
}

/* The scan reads the directory only when the descriptors may have
 * changed: the same count with every listed descriptor still open means
 * the same set.  A listed number reused by a writable descriptor is read
 * anew; one closed while another opens (same count) is listed again. */
static void test_writable_fds_listing(void **state)
{
	char a[] = "/tmp/test_proc.XXXXXX";
	struct proc_info pi;
	struct stat sa;
	int fa, nul, go[2], done[2], mnt, probe;
	uint64_t l0;
	pid_t pid;
	char c;

	(void)state;
	probe = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
	assert_true(probe >= 0);
	assert_int_equal(fstat(probe, &sa), 0);
	close(probe);
	if (sa.st_size == 0 || !have_pidfds())
		skip(); /* Linux before 6.2 does not count, and without
			 * pidfds no entry is kept: always listed */
	fa = mkstemp(a);
	nul = open("/dev/null", O_RDONLY);
	assert_true(fa >= 0 && nul >= 0);
	assert_int_equal(fstat(fa, &sa), 0);
	mnt = mnt_id_of(fa);
	pid = fork_driven(go, done);
	if (pid == 0) {
		close(go[1]);
		close(done[0]);
		/* 0: ready; 1: a's copy over nul's number; 2: nul's
		 * number closed and a's copy at 100; 3: 100 closed. */
		if (write(done[1], "x", 1) != 1 ||
		    read(go[0], &c, 1) != 1 || dup2(fa, nul) != nul ||
		    write(done[1], "x", 1) != 1 || read(go[0], &c, 1) != 1 ||
		    close(nul) != 0 || dup2(fa, 100) != 100 ||
		    write(done[1], "x", 1) != 1 || read(go[0], &c, 1) != 1 ||
		    close(100) != 0 || write(done[1], "x", 1) != 1 ||
		    read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(go[0]);
	close(done[1]);
	assert_int_equal(read(done[0], &c, 1), 1); /* its table is set */
	assert_int_equal(proc_get(pid, &pi), 0);
	assert_int_equal(proc_writable_fds(pid, pi.start, mnt, sa.st_ino, NULL),
			 1);
	l0 = proc_fdinfo_listings();
	assert_true(l0 >= 1);
	assert_int_equal(proc_writable_fds(pid, pi.start, mnt, sa.st_ino, NULL),
			 1);
	assert_int_equal(proc_fdinfo_listings(), l0); /* nothing changed */

	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(read(done[0], &c, 1), 1);
	assert_int_equal(proc_writable_fds(pid, pi.start, mnt, sa.st_ino, NULL),
			 2); /* same numbers, nul's now writable */
	assert_int_equal(proc_fdinfo_listings(), l0);

	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(read(done[0], &c, 1), 1);
	assert_int_equal(proc_writable_fds(pid, pi.start, mnt, sa.st_ino, NULL),
			 2); /* same count, but 100 for nul's number */
	assert_int_equal(proc_fdinfo_listings(), l0 + 1);
	assert_int_equal(proc_writable_fds(pid, pi.start, mnt, sa.st_ino, NULL),
			 2);
	assert_int_equal(proc_fdinfo_listings(), l0 + 1);

	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(read(done[0], &c, 1), 1);
	assert_int_equal(proc_writable_fds(pid, pi.start, mnt, sa.st_ino, NULL),
			 1); /* one fewer: listed anew */
	assert_int_equal(proc_fdinfo_listings(), l0 + 2);

	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	close(go[1]);
	close(done[0]);
	close(fa);
	close(nul);
	unlink(a);
}

/* The daemon's worker threads share both caches: many threads asking
 * about the same and different tasks at once, while one resets (a test of
 * the locking, for make tsan). */
struct hammer {
	pid_t kid;
	int mnt;
	uint64_t ino;
	int bad;
};

static void *hammer_main(void *arg)
{
	struct hammer *hm = arg;
	struct proc_info p;
	unsigned flags;

	for (int i = 0; i < 300; i++) {
		if (proc_get(i % 2 ? hm->kid : getpid(), &p) < 0 ||
		    proc_flags(hm->kid, &flags) < 0 ||
		    proc_writable_fds(hm->kid, 0, hm->mnt, hm->ino, NULL) != 1)
			__atomic_store_n(&hm->bad, 1, __ATOMIC_RELAXED);
		if (i % 100 == 99) {
			proc_cache_reset();
			proc_fdinfo_reset();
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	char path[] = "/tmp/test_proc.XXXXXX";
	struct hammer hm = { 0 };
	struct stat st;
	pthread_t t[6];
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	hm.mnt = mnt_id_of(fd);
	hm.ino = st.st_ino;
	hm.kid = spawn_sleeper(); /* inherits fd: one writable descriptor */
	close(fd);
	for (int i = 0; i < 6; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &hm),
				 0);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	kill(hm.kid, SIGKILL);
	waitpid(hm.kid, NULL, 0);
	unlink(path);
	assert_int_equal(hm.bad, 0);
}

/* A child holding a writable descriptor of a new temporary file, plus
 * @extra descriptors of /dev/null; the file's inode and mount in *st,
 * *mnt.  The caller kills the child and unlinks @path. */
static pid_t writer_child(char *path, int extra, struct stat *st, int *mnt)
{
	int w = mkstemp(path), many[128];
	pid_t kid;

	assert_true(w >= 0 && extra <= 128);
	assert_int_equal(fstat(w, st), 0);
	*mnt = mnt_id_of(w);
	for (int i = 0; i < extra; i++)
		assert_true((many[i] = open("/dev/null", O_RDONLY)) >= 0);
	kid = spawn_sleeper(); /* inherits them all */
	close(w);
	for (int i = 0; i < extra; i++)
		close(many[i]);
	return kid;
}

/* Lower the descriptor limit so that exactly @room new descriptors fit
 * (new ones take the lowest free numbers); the old limit in *old. */
static void limit_room(int room, struct rlimit *old)
{
	struct rlimit low;
	int fd, free_slots = 0;

	for (fd = 0; free_slots < room; fd++)
		free_slots += fcntl(fd, F_GETFD) < 0;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, old), 0);
	low = *old;
	low.rlim_cur = (rlim_t)fd;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
}

/* A scan that cannot look (the daemon is out of descriptors) fails; it
 * never reports a writable descriptor as absent, which would commit a
 * change its writer still holds.  Then, with descriptors again, it
 * counts.  Room for 2 descriptors is room for the scan's pidfd and
 * directory, none for its files.  (Without pidfds, under valgrind, the
 * scan keeps no files and needs one descriptor at a time: it may then
 * count right, never 0.) */
static void test_writable_fds_no_descriptors(void **state)
{
	char path[] = "/tmp/test_proc.XXXXXX";
	struct rlimit old;
	struct stat st;
	int mnt, n;
	pid_t kid;

	(void)state;
	kid = writer_child(path, 0, &st, &mnt);
	limit_room(2, &old);
	n = proc_writable_fds(kid, 0, mnt, st.st_ino, NULL);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_true(n == -EMFILE || n == 1);
	assert_int_equal(proc_writable_fds(kid, 0, mnt, st.st_ino, NULL), 1);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	unlink(path);
}

/* The kept fdinfo files stop at half the descriptor limit, so that
 * scanning a process with many descriptors cannot run the daemon out of
 * them: with room for 30 new descriptors, a child holding 80 is scanned,
 * twice, and its one writable descriptor counted both times. */
static void test_writable_fds_keep_limit(void **state)
{
	char path[] = "/tmp/test_proc.XXXXXX";
	struct rlimit old;
	struct stat st;
	int mnt, n1, n2;
	pid_t kid;

	(void)state;
	kid = writer_child(path, 80, &st, &mnt);
	limit_room(30, &old);
	proc_fdinfo_reset(); /* takes the new limit */
	n1 = proc_writable_fds(kid, 0, mnt, st.st_ino, NULL);
	n2 = proc_writable_fds(kid, 0, mnt, st.st_ino, NULL);
	proc_fdinfo_reset(); /* before the limit goes back up */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	proc_fdinfo_reset();
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	unlink(path);
	assert_int_equal(n1, 1);
	assert_int_equal(n2, 1);
}

/* The task cache keeps its descriptors below half the descriptor limit
 * too: it holds up to three per task, for 512 tasks, and they stay after
 * the tasks exit.  Before 2026-12-07 it kept them all: a daemon with a
 * hard limit of 1,024 held 938 pidfds after 700 `cat`s, and every open
 * of a large record got ENFILE until the slots were reused.  With room
 * for 40 new descriptors, 60 tasks are looked up (and their flags read,
 * which keeps a stat file); then at least 10 descriptors still open. */
static void test_cache_keep_limit(void **state)
{
	struct rlimit old;
	struct proc_info p;
	unsigned flags;
	pid_t kids[60];
	int fds[40], n = 0;

	(void)state;
	for (int i = 0; i < 60; i++)
		kids[i] = spawn_sleeper();
	limit_room(40, &old);
	proc_cache_reset(); /* takes the new limit */
	for (int i = 0; i < 60; i++) {
		assert_int_equal(proc_get(kids[i], &p), 0);
		assert_int_equal(proc_flags(kids[i], &flags), 0);
	}
	while (n < 40 && (fds[n] = dup(0)) >= 0)
		n++;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	proc_cache_reset(); /* before the limit goes back up */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	proc_cache_reset();
	for (int i = 0; i < 60; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	assert_true(n >= 10);
}

/* Threads of one process flush side by side, so one process may have
 * several scan entries at once: each must see the descriptor table as it
 * is now.  A child adds and drops a dup of its writable descriptor on
 * command, under a sequence count; a scan that ran while the count stood
 * still must report exactly the descriptors of that moment. */
struct samep {
	pid_t kid;
	int mnt;
	uint64_t ino;
	unsigned seq;  /* odd while the table changes */
	int expect;
	int stop, bad, checked;
};

static void *samep_main(void *arg)
{
	struct samep *sp = arg;

	while (!__atomic_load_n(&sp->stop, __ATOMIC_ACQUIRE)) {
		unsigned s1 = __atomic_load_n(&sp->seq, __ATOMIC_ACQUIRE), s2;
		int want = __atomic_load_n(&sp->expect, __ATOMIC_ACQUIRE);
		int n = proc_writable_fds(sp->kid, 0, sp->mnt, sp->ino, NULL);

		s2 = __atomic_load_n(&sp->seq, __ATOMIC_ACQUIRE);
		if (s1 != s2 || (s1 & 1))
			continue;
		if (n != want)
			__atomic_store_n(&sp->bad, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sp->checked, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* In the child: 'd' dups @fd, 'c' closes the dup, EOF ends; each is
 * acknowledged once done. */
static void samep_child(int fd, int cmd, int ack)
{
	int d = -1;
	char c;

	alarm(30); /* never outlive a failed test */
	while (read(cmd, &c, 1) == 1) {
		if (c == 'd')
			d = dup(fd);
		else if (d >= 0)
			close(d);
		if (write(ack, &c, 1) != 1)
			break;
	}
	_exit(0);
}

static void samep_step(struct samep *sp, int cmd, int ack, char c, int expect)
{
	char r;

	int c0;

	__atomic_add_fetch(&sp->seq, 1, __ATOMIC_ACQ_REL);
	assert_int_equal(write(cmd, &c, 1), 1);
	assert_int_equal(read(ack, &r, 1), 1);
	__atomic_store_n(&sp->expect, expect, __ATOMIC_RELEASE);
	c0 = __atomic_load_n(&sp->checked, __ATOMIC_ACQUIRE);
	__atomic_add_fetch(&sp->seq, 1, __ATOMIC_ACQ_REL);
	/* Stand still until a scan has checked this table (at most 0.5 s):
	 * a fixed pause let valgrind's slow scans check too few. */
	for (int i = 0; i < 1000 &&
			__atomic_load_n(&sp->checked, __ATOMIC_ACQUIRE) == c0;
	     i++)
		usleep(500);
}

static void test_writable_fds_same_process(void **state)
{
	char path[] = "/tmp/test_proc.XXXXXX";
	struct samep sp = { .expect = 1 };
	struct stat st;
	pthread_t t[4];
	int w, cmd[2], ack[2];

	(void)state;
	w = mkstemp(path);
	assert_true(w >= 0);
	assert_int_equal(fstat(w, &st), 0);
	sp.mnt = mnt_id_of(w);
	sp.ino = st.st_ino;
	assert_int_equal(pipe(cmd), 0);
	assert_int_equal(pipe(ack), 0);
	sp.kid = fork();
	assert_true(sp.kid >= 0);
	if (sp.kid == 0) {
		close(cmd[1]);
		close(ack[0]);
		samep_child(w, cmd[0], ack[1]);
	}
	close(w);
	close(cmd[0]);
	close(ack[1]);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, samep_main, &sp),
				 0);
	for (int i = 0; i < 200; i++) {
		samep_step(&sp, cmd[1], ack[0], 'd', 2);
		samep_step(&sp, cmd[1], ack[0], 'c', 1);
	}
	__atomic_store_n(&sp.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	close(cmd[1]);
	waitpid(sp.kid, NULL, 0);
	close(ack[0]);
	unlink(path);
	assert_int_equal(sp.bad, 0);
	assert_true(sp.checked >= 200); /* most tables were checked */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_self, reset),
		cmocka_unit_test_setup(test_thread, reset),
		cmocka_unit_test_setup(test_dead_task, reset),
		cmocka_unit_test_setup(test_trust_window, reset),
		cmocka_unit_test_setup(test_caller_window, reset),
		cmocka_unit_test_setup(test_cached_caller_window, reset),
		cmocka_unit_test_setup(test_reparent, reset),
		cmocka_unit_test_setup(test_reset_closes, reset),
		cmocka_unit_test_setup(test_flags, reset),
		cmocka_unit_test(test_fdinfo_judge),
		cmocka_unit_test_setup(test_writable_fds, reset),
		cmocka_unit_test_setup(test_writable_fds_many, reset),
		cmocka_unit_test_setup(test_writable_fds_child, reset),
		cmocka_unit_test_setup(test_writable_fds_listing, reset),
		cmocka_unit_test_setup(test_writable_fds_no_descriptors, reset),
		cmocka_unit_test_setup(test_writable_fds_keep_limit, reset),
		cmocka_unit_test_setup(test_cache_keep_limit, reset),
		cmocka_unit_test_setup(test_threads, reset),
		cmocka_unit_test_setup(test_writable_fds_same_process, reset),
		cmocka_unit_test_setup(test_writable_fds_own_table, reset),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	proc_cache_reset();
	proc_fdinfo_reset();
	return rc;
}

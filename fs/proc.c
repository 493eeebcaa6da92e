/* proc.c - parsing /proc for the basis rules: parents, sessions, start
 * times, task flags and open descriptors. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9: a pidfd on one thread */
#endif

/* /proc itself, opened once: every read below is relative to it, which
 * saves a path walk per file (this is the daemon's hot path). */
static int proc_dirfd(void)
{
	static int fd = -1;
	int cur = __atomic_load_n(&fd, __ATOMIC_ACQUIRE), expect = -1;

	if (cur >= 0)
		return cur;
	cur = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return -1; /* openat() then fails with EBADF: -EIO below */
	if (!__atomic_compare_exchange_n(&fd, &expect, cur, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		close(cur);
		cur = expect;
	}
	return cur;
}

static int read_at(int dirfd, const char *path, char *buf, size_t len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? -ESRCH
		       : errno == EMFILE || errno == ENFILE ? -ENFILE
							    : -EIO;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = 0;
	return (int)n;
}

/* Parse the text of /proc/TID/stat into @out (not tgid, uid). */
static int parse_stat(pid_t tid, char *buf, struct proc_info *out)
{
	unsigned long long v[23] = { 0 };
	char *p, *q;
	int field;

	/* comm may hold spaces and parentheses: it ends at the last ')'. */
	p = strchr(buf, '(');
	q = strrchr(buf, ')');
	if (!p || !q || q < p)
		return -EIO;
	snprintf(out->comm, sizeof(out->comm), "%.*s", (int)(q - p - 1),
		 p + 1);
	/* Fields from 3 on: state ppid pgrp session tty tpgid flags ... */
	p = q + 2;
	for (field = 3; field <= 22 && *p; field++) {
		v[field] = strtoull(p, NULL, 10);
		p = strchr(p, ' ');
		if (!p)
			break;
		p++;
	}
	if (field < 22)
		return -EIO;
	out->tid = tid;
	out->ppid = (pid_t)v[4];
	out->sid = (pid_t)v[6];
	out->flags = (unsigned)v[9];
	out->start = v[22];
	return 0;
}

static int read_stat(pid_t tid, struct proc_info *out)
{
	char path[32], buf[1024];
	int rc;

	snprintf(path, sizeof(path), "%d/stat", (int)tid);
	rc = read_at(proc_dirfd(), path, buf, sizeof(buf));
	return rc < 0 ? rc : parse_stat(tid, buf, out);
}

/* Parse Tgid and the real Uid from /proc/TID/status. */
static int read_status(pid_t tid, pid_t *tgid, uid_t *uid)
{
	char path[32], buf[2048], *p, *q;
	int rc;

	snprintf(path, sizeof(path), "%d/status", (int)tid);
	rc = read_at(proc_dirfd(), path, buf, sizeof(buf));
	if (rc < 0)
		return rc;
	p = strstr(buf, "\nTgid:");
	q = strstr(buf, "\nUid:");
	if (!p || !q)
		return -EIO;
	*tgid = (pid_t)strtol(p + 6, NULL, 10);
	*uid = (uid_t)strtoul(q + 5, NULL, 10);
	return 0;
}

/* ---- The task cache ---------------------------------------------------
 * Every request names its calling thread, and the basis rules walk that
 * thread's ancestry: two /proc reads per task, several times per save,
 * each costing more than a FUSE round trip.  So facts are cached by tid.
 *
 * Invariants that make a hit as good as a fresh read:
 * - an entry holds a pidfd on its task, taken before its /proc reads and
 *   found alive after them, so the facts are that task's; a tid is reused
 *   only once its task is gone, which the pidfd then reports (POLLIN);
 * - it holds a pidfd on its parent process too: a process is reparented
 *   only when its parent exits, so while that pidfd is quiet ppid stands;
 * - what may change in a live task without either (sid by setsid, comm by
 *   exec) is re-read after CACHE_TTL_NS;
 * - the caller of a request (proc_get_caller) is alive: it waits in the
 *   request.  Its entry is either its own or a dead task's whose tid it
 *   now has, and a tid comes back only after the kernel has handed out
 *   every other free pid (it allocates them in a cycle up to pid_max).
 *   So an entry proven by a poll less than trust_ns ago is the caller's
 *   without a poll of its own: trust_ns is far shorter than the time the
 *   machine needs to start pid_max tasks (proc_trust_window()).  Its parent
 *   facts are then at most trust_ns old, as they would be had the request
 *   come that much earlier;
 * - task flags are never served from here: they matter at one moment (a
 *   dying task's flush), and proc_flags() reads them then.
 * Without pidfds (an old kernel, or out of descriptors) nothing is kept
 * but tgid and uid by tid and start time, and every call reads /proc.
 * Nor is anything kept numbered at or above half the descriptor limit
 * (keep_below): the entries of exited tasks keep theirs until their
 * slot is reused, and 512 entries kept up to 1,536, all of a daemon's
 * 1,024 after 700 short commands had come by, so that every reader of a
 * large record got ENFILE (and lookups EIO) with nothing open. */
#define CACHE 512 /* at most three descriptors each */
#define CACHE_TTL_NS 1000000000ll /* 1 s */

struct centry {
	pid_t tid;
	uint64_t start;
	pid_t tgid;
	uid_t uid;
	int pidfd, ppidfd;     /* -1: none */
	int statfd;            /* /proc/TID/stat kept open for proc_flags */
	int64_t stamp_ns;      /* when the mutable facts were read */
	int64_t proven_ns;     /* when a poll last found both pidfds quiet */
	struct proc_info info; /* flags left 0 */
};

static struct centry cache[CACHE];
static int cache_ready;
static int64_t trust_ns;  /* set with cache_ready */
static int keep_below;    /* set with cache_ready */
static uint64_t polls;    /* for tests: proc_cache_polls() */
/* Adaptive, as store_mutex_init() in store.h says why. */
static pthread_mutex_t cache_mu = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;

/* No machine starts a task in less than TASK_MIN_NS on one CPU (a bare
 * thread's clone and exit take several microseconds), so bringing a tid
 * back takes at least (pid_max - 300) * TASK_MIN_NS / ncpus; the window
 * is a quarter of that, at most TRUST_MAX_NS, and 0 (always poll) where
 * pid_max is too small for the rule to mean anything. */
#define TASK_MIN_NS 1000
#define TRUST_MAX_NS 1000000

int64_t proc_trust_window(long pid_max, long ncpus)
{
	int64_t w;

	if (pid_max <= 1300 || ncpus <= 0)
		return 0;
	w = (int64_t)(pid_max - 300) * TASK_MIN_NS / ncpus / 4;
	return w > TRUST_MAX_NS ? TRUST_MAX_NS : w;
}

/* The window for this machine's pid_max (of our pid namespace) and CPUs,
 * or 0 when either is unknown.  Read when the cache starts: a pid_max
 * lowered while a mount runs is followed at the next mount (even at
 * 1,300 pids, bringing a tid back within the 1 ms window would need
 * 1,000 tasks started in it, one per microsecond). */
static int64_t trust_window_here(void)
{
	char buf[32];
	int n = read_at(proc_dirfd(), "sys/kernel/pid_max", buf, sizeof(buf));

	if (n <= 0)
		return 0;
	return proc_trust_window(strtol(buf, NULL, 10),
				 sysconf(_SC_NPROCESSORS_CONF));
}

int proc_pidfd(pid_t pid, unsigned flags)
{
	long fd = syscall(SYS_pidfd_open, pid, flags);
	return fd < 0 ? -1 : (int)fd;
}

int proc_pidfd_exited(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return fd >= 0 && poll(&p, 1, 0) != 0;
}

/* A task and its parent in one poll (a negative fd is skipped): each
 * request proves its cache entry, and a syscall costs more here than
 * the check itself. */
static int pidfds_exited(int fd, int pfd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = pfd, .events = POLLIN } };
	return poll(p, 2, 0) != 0;
}

static void centry_clear(struct centry *c)
{
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->ppidfd >= 0)
		close(c->ppidfd);
	if (c->statfd >= 0)
		close(c->statfd);
	memset(c, 0, sizeof(*c));
	c->pidfd = c->ppidfd = c->statfd = -1;
}

/* Caller holds cache_mu. */
static void cache_init_locked(void)
{
	if (cache_ready)
		return;
	for (size_t i = 0; i < CACHE; i++) {
		memset(&cache[i], 0, sizeof(cache[i]));
		cache[i].pidfd = cache[i].ppidfd = cache[i].statfd = -1;
	}
	trust_ns = trust_window_here();
	keep_below = proc_half_fd_limit();
	polls = 0;
	cache_ready = 1;
}

void proc_cache_reset(void)
{
	pthread_mutex_lock(&cache_mu);
	if (cache_ready)
		for (size_t i = 0; i < CACHE; i++)
			centry_clear(&cache[i]);
	cache_ready = 0;
	pthread_mutex_unlock(&cache_mu);
}

/* A hit: @return 1 and *out, 0 when the entry cannot be trusted (it is
 * dropped, descriptors and all).  @caller: @tid is waiting in a request,
 * so a recent proof will do (see the invariants).  Caller holds
 * cache_mu. */
static int cache_hit_locked(struct centry *c, pid_t tid, int caller,
			    struct proc_info *out)
{
	int64_t now;

	if (c->tid != tid || c->pidfd < 0)
		return 0;
	now = proc_mono_ns();
	if (now - c->stamp_ns >= CACHE_TTL_NS)
		goto drop;
	if (!caller || now - c->proven_ns >= trust_ns) {
		polls++;
		if (pidfds_exited(c->pidfd, c->ppidfd))
			goto drop;
		c->proven_ns = now;
	}
	*out = c->info;
	return 1;
drop:
	centry_clear(c);
	return 0;
}

/* The start time of @p's basis parent (see struct proc_info), or 0.
 * A thread's process cannot be another while the thread lives (the
 * cache's pidfd proves that); a process's parent is the one @ppidfd was
 * opened on if it has not exited since its stat was read. */
static uint64_t parent_start(const struct proc_info *p, int ppidfd)
{
	pid_t b = proc_basis_parent(p);
	struct proc_info bi;

	if (b <= 1 || read_stat(b, &bi) < 0)
		return 0;
	if (b != p->tgid && (ppidfd < 0 || proc_pidfd_exited(ppidfd)))
		return 0;
	return bi.start;
}

static int get(pid_t tid, int caller, struct proc_info *out)
{
	struct centry *c = &cache[(unsigned)tid % CACHE];
	int pidfd, ppidfd = -1, rc, known = 0;

	if (tid <= 0)
		return -ESRCH;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&cache_mu);
	cache_init_locked();
	if (cache_hit_locked(c, tid, caller, out)) {
		pthread_mutex_unlock(&cache_mu);
		return 0;
	}
	pthread_mutex_unlock(&cache_mu);

	pidfd = proc_pidfd(tid, PIDFD_THREAD);
	rc = read_stat(tid, out);
	if (rc < 0)
		goto out;
	pthread_mutex_lock(&cache_mu);
	if (c->tid == tid && c->start == out->start && c->pidfd < 0) {
		out->tgid = c->tgid; /* the fallback's tgid and uid */
		out->uid = c->uid;
		known = 1;
	}
	pthread_mutex_unlock(&cache_mu);
	if (!known) {
		rc = read_status(tid, &out->tgid, &out->uid);
		if (rc < 0)
			goto out;
	}
	if (pidfd >= 0 && out->ppid > 1)
		ppidfd = proc_pidfd(out->ppid, 0);
	if (pidfd >= 0)
		out->pstart = parent_start(out, ppidfd);
	/* Alive after the reads: they were about the pidfd's task.  A
	 * parent that is gone already may have handed us over: no cache. */
	if (pidfd >= 0 &&
	    (proc_pidfd_exited(pidfd) || (out->ppid > 1 && ppidfd < 0))) {
		close(pidfd);
		pidfd = -1;
	}
	if (pidfd < 0 && ppidfd >= 0) {
		close(ppidfd);
		ppidfd = -1;
	}
	pthread_mutex_lock(&cache_mu);
	if (pidfd >= keep_below || ppidfd >= keep_below) {
		/* too many descriptors open: cache what needs none */
		close(pidfd);
		if (ppidfd >= 0)
			close(ppidfd);
		pidfd = ppidfd = -1;
	}
	centry_clear(c);
	c->tid = tid;
	c->start = out->start;
	c->tgid = out->tgid;
	c->uid = out->uid;
	c->pidfd = pidfd;
	c->ppidfd = ppidfd;
	c->stamp_ns = c->proven_ns = proc_mono_ns(); /* polled after the reads */
	out->flags = 0; /* as from a hit: proc_flags() is the fresh read */
	c->info = *out;
	pthread_mutex_unlock(&cache_mu);
	return 0;
out:
	if (pidfd >= 0)
		close(pidfd);
	return rc;
}

int proc_get(pid_t tid, struct proc_info *out)
{
	return get(tid, 0, out);
}

int proc_get_caller(pid_t tid, struct proc_info *out)
{
	return get(tid, 1, out);
}

int proc_tgid(pid_t tid, pid_t *tgid)
{
	uid_t uid;

	return tid <= 0 ? -ESRCH : read_status(tid, tgid, &uid);
}

int proc_get_cached(pid_t tid, struct proc_info *out)
{
	struct centry *c = &cache[(unsigned)tid % CACHE];
	int rc = -ENOENT;

	pthread_mutex_lock(&cache_mu);
	if (cache_ready && tid > 0 && c->tid == tid && c->pidfd >= 0) {
		int64_t now = proc_mono_ns();
		/* @tid waits in the flush: a proof within the trust window
		 * will do, as for proc_get_caller (a poll at every save). */
		if (now - c->proven_ns < trust_ns) {
			rc = 0;
		} else {
			polls++;
			if (!pidfds_exited(c->pidfd, c->ppidfd)) {
				c->proven_ns = now;
				rc = 0;
			}
		}
		if (rc == 0)
			*out = c->info;
	}
	pthread_mutex_unlock(&cache_mu);
	return rc;
}

uint64_t proc_cache_polls(void)
{
	uint64_t n;

	pthread_mutex_lock(&cache_mu);
	n = polls;
	pthread_mutex_unlock(&cache_mu);
	return n;
}

/* Once per commit whose scan saw no descriptor: through a stat file kept
 * open in the task's cache entry (pread renders it anew), which saves its
 * open and close.  Read outside cache_mu, through a duplicate: a task in
 * execve holds the lock its stat's read takes until the flush that asks
 * is answered (proc_tgid), and that read held every request that looks
 * a task up behind it. */
int proc_flags(pid_t tid, unsigned *flags)
{
	struct centry *c = &cache[(unsigned)tid % CACHE];
	struct proc_info p;
	char buf[1024];
	ssize_t n = -1;
	int rc, fd = -1;

	if (tid <= 0)
		return -ESRCH;
	pthread_mutex_lock(&cache_mu);
	cache_init_locked();
	if (c->tid == tid && c->pidfd >= 0 && !proc_pidfd_exited(c->pidfd)) {
		if (c->statfd < 0) {
			char path[32];
			snprintf(path, sizeof(path), "%d/stat", (int)tid);
			c->statfd = openat(proc_dirfd(), path,
					   O_RDONLY | O_CLOEXEC);
			if (c->statfd >= keep_below) {
				fd = c->statfd; /* used once, not kept */
				c->statfd = -1;
			}
		}
		if (c->statfd >= 0)
			fd = fcntl(c->statfd, F_DUPFD_CLOEXEC, 0);
	}
	pthread_mutex_unlock(&cache_mu);
	if (fd >= 0) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		close(fd);
	}
	if (n > 0) {
		buf[n] = 0;
		rc = parse_stat(tid, buf, &p);
	} else {
		rc = read_stat(tid, &p);
	}
	if (rc == 0)
		*flags = p.flags;
	return rc;
}

uint64_t proc_now_ticks(void)
{
	/* A constant of the running kernel's ABI: asked once. */
	static long clk_tck;
	long hz = __atomic_load_n(&clk_tck, __ATOMIC_RELAXED);
	struct timespec ts;

	if (hz <= 0) {
		hz = sysconf(_SC_CLK_TCK);
		__atomic_store_n(&clk_tck, hz, __ATOMIC_RELAXED);
	}

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * (uint64_t)hz +
	       (uint64_t)ts.tv_nsec / (1000000000ull / (uint64_t)hz);
}

pid_t proc_last_pid(void)
{
	static int fd = -1;
	int cur = __atomic_load_n(&fd, __ATOMIC_ACQUIRE), expect = -1;
	char buf[24];
	ssize_t n;

	if (cur < 0) {
		cur = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
		if (cur < 0)
			return 0;
		if (!__atomic_compare_exchange_n(&fd, &expect, cur, 0,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			close(cur);
			cur = expect;
		}
	}
	n = pread(cur, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return (pid_t)strtol(buf, NULL, 10);
}

/* Does mountinfo field @f (up to a space or the end) name @path?  The
 * kernel writes a space, tab, newline and backslash in it as \ooo
 * (octal).  Before 2026-12-06 the field was compared as written: a
 * mount point with a space was never found, so a second mount stacked
 * on it, and a flush never knew its descriptors (every commit waited
 * for release, and a writer killed mid-change had it committed). */
static int mountinfo_names(const char *f, const char *path)
{
	while (*f && *f != ' ' && *f != '\n') {
		char c = *f;

		if (c == '\\' && f[1] >= '0' && f[1] <= '3' && f[2] >= '0' &&
		    f[2] <= '7' && f[3] >= '0' && f[3] <= '7') {
			c = (char)((f[1] - '0') * 64 + (f[2] - '0') * 8 +
				   (f[3] - '0'));
			f += 3;
		}
		if (c != *path++)
			return 0;
		f++;
	}
	return *path == 0;
}

/* A task's name as one field of a one-line value: a space, a control
 * character and a backslash as \ooo (octal, as /proc/self/mountinfo
 * writes paths).  A name is up to 16 bytes, so @out needs 65.  Until
 * 2026-12-06 it went in raw: a process could name itself "x\nuid=0" and
 * make user.conflict two lines, or forge a field. */
const char *proc_comm_field(const char *comm, char out[65])
{
	size_t n = 0;

	for (size_t i = 0; comm[i] && i < 16; i++) {
		unsigned char c = (unsigned char)comm[i];

		if (c <= ' ' || c == '\\' || c == 0x7f)
			n += (size_t)sprintf(out + n, "\\%03o", c);
		else
			out[n++] = (char)c;
	}
	out[n] = 0;
	return out;
}

/* The last line of /proc/self/mountinfo whose mount point is @mountpoint
 * (the top of a stack): its mount id, its device as the kernel numbers
 * it (a FUSE mount's is its connection's name under fusectl) and
 * whether its type is fuse or fuse.*.  @return 0 or -ENOENT, -errno. */
static int mnt_find(const char *mountpoint, int *id, unsigned long *dev,
		    int *fuse)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -ENOENT;

	if (!f)
		return -errno;
	/* getline: a line is as long as its paths and options. */
	while (getline(&line, &cap, f) > 0) {
		int mid, at = -1;
		unsigned maj, min;
		const char *sep;

		/* id parent major:minor root mountpoint opts... - type ... */
		if (sscanf(line, "%d %*d %u:%u %*s %n", &mid, &maj, &min,
			   &at) != 3 || at <= 0 ||
		    !mountinfo_names(line + at, mountpoint))
			continue;
		*id = mid;
		*dev = ((unsigned long)maj << 20) | min; /* the kernel's dev_t */
		sep = strstr(line + at, " - ");
		*fuse = sep && strncmp(sep + 3, "fuse", 4) == 0 &&
			(sep[7] == ' ' || sep[7] == '.');
		rc = 0;
	}
	free(line);
	fclose(f);
	return rc;
}

int proc_mnt_id(const char *mountpoint, long *fuse_conn)
{
	unsigned long dev;
	int id, fuse, rc = mnt_find(mountpoint, &id, &dev, &fuse);

	if (fuse_conn)
		*fuse_conn = rc == 0 && fuse ? (long)dev : -EINVAL;
	return rc < 0 ? rc : id;
}

long proc_fuse_conn(const char *mountpoint)
{
	unsigned long dev;
	int id, fuse, rc = mnt_find(mountpoint, &id, &dev, &fuse);

	if (rc < 0)
		return rc;
	return fuse ? (long)dev : -EINVAL;
}

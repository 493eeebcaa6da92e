/* proc.h - what the daemon learns about a calling task from /proc. */
#ifndef RECFS_PROC_H
#define RECFS_PROC_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define PROC_PF_SIGNALED 0x400u

struct proc_info {
	pid_t tid;     /* the task the kernel named */
	pid_t tgid;    /* its process */
	pid_t ppid;    /* the process's parent */
	pid_t sid;     /* session */
	uid_t uid;
	unsigned flags;          /* 0 from proc_get: see proc_flags() */
	uint64_t start;          /* start time, clock ticks since boot */
	/* The start time of the task's parent in the basis sense (its
	 * process for a thread, else its process's parent), read with the
	 * task and proven alive with it at each cache hit; 0 when unknown
	 * (no pidfds, or no such parent). */
	uint64_t pstart;
	char comm[17];
	/* A caller rfs_caller() could not read (tid 0): why, e.g. -ENFILE
	 * when the daemon had no descriptor to spare; 0 otherwise. */
	int unknown;
};

/* What /proc/TID/stat and status say of task @tid, from a cache that is
 * proven current by pidfds on the task and its parent (see proc.c); flags
 * are left 0.  @return 0, -ESRCH gone, -ENFILE no descriptor left to
 * read /proc with, -EIO. */
int proc_get(pid_t tid, struct proc_info *out);

/* The pid of @p's parent in the basis sense: a thread's process, else
 * the process's parent (pstart is its start time). */
static inline pid_t proc_basis_parent(const struct proc_info *p)
{
	return p->tid != p->tgid ? p->tgid : p->ppid;
}

/* The start time of @p's process: its own for a process, pstart for a
 * thread (its process is its basis parent); 0 when unknown. */
static inline uint64_t proc_process_start(const struct proc_info *p)
{
	return p->tid == p->tgid ? p->start : p->pstart;
}

/* Are @a and @b tasks of one process?  Not by the pid alone: a process
 * that exited leaves its pid to the next, and one started on it (by
 * chance, or clone3's set_tid) is another process.  Until 2026-12-06 the
 * pid alone made a stranger the opener of a handle whose descriptor it
 * had inherited: its close committed another process's half-written
 * change (tests/e2e_races.sh).  Where a start time is unknown (0), the
 * pid decides. */
static inline int proc_same_process(const struct proc_info *a,
				    const struct proc_info *b)
{
	uint64_t sa = proc_process_start(a), sb = proc_process_start(b);

	return a->tgid == b->tgid && (!sa || !sb || sa == sb);
}

/* CLOCK_MONOTONIC in ns: the clock of the daemon's ages and deadlines
 * (cache entries, declarations, lease waiters). */
static inline int64_t proc_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Task @tid's process: the Tgid of its /proc/TID/status, read without
 * its stat.  A task in execve closes its close-on-exec descriptors
 * holding the lock that reading its /proc/TID/stat takes (exec_update_lock),
 * until the flush each close sends is answered: that flush's handler must
 * not read the stat (status takes no such lock).  @return 0, -ESRCH, -EIO. */
int proc_tgid(pid_t tid, pid_t *tgid);

/* The cached facts of task @tid, however old, if its pidfds show it (and
 * its parent) alive: its tid, tgid and start times stand while it lives
 * (its sid and comm may have changed since).  For a flush's handler, for
 * the reason proc_tgid() gives: @tid is the flush's caller, so, as with
 * proc_get_caller, an entry proven within the trust window is served
 * without a poll.  @return 0, or -ENOENT (no such entry). */
int proc_get_cached(pid_t tid, struct proc_info *out);

/* proc_get() for the task that sent the request being served: it is
 * alive, waiting for the answer, so an entry proven within the trust
 * window (proc_trust_window()) is served without a poll of its own.
 * So is that task's process (its tgid): while a thread lives, its group
 * keeps the leader's pid. */
int proc_get_caller(pid_t tid, struct proc_info *out);

/* The trust window, in ns, for a pid namespace whose pid_max is @pid_max
 * on a machine of @ncpus CPUs: too short for the machine to bring a tid
 * back (the kernel hands pids out in a cycle).  0: always poll. */
int64_t proc_trust_window(long pid_max, long ncpus);

/* How many cache hits have polled their pidfds since the cache was last
 * reset (tests). */
uint64_t proc_cache_polls(void);

/* A pidfd on @pid (flags 0: a process; PIDFD_THREAD: one task), or -1
 * where the kernel has none (before 5.3, 6.9 for threads) or no
 * descriptor is left. */
int proc_pidfd(pid_t pid, unsigned flags);

/* Half the soft descriptor limit (INT_MAX if unlimited): the caches keep
 * only descriptors numbered below it, so that they can never be what
 * runs the daemon out of descriptors. */
int proc_half_fd_limit(void);

/* 1 when the task or process behind pidfd @fd has exited, else 0 (also
 * for @fd < 0).  A tid or pid is reused only after that. */
int proc_pidfd_exited(int fd);

/* The task's flags (PF_*), read fresh.  @return 0, -ESRCH, -EIO. */
int proc_flags(pid_t tid, unsigned *flags);

/* Forget cached process facts and close their pidfds (tests, exit). */
void proc_cache_reset(void);

/* Now, in the clock ticks /proc uses for start times. */
uint64_t proc_now_ticks(void);

/* The pid the kernel handed out last in the daemon's pid namespace
 * (/proc/sys/kernel/ns_last_pid), 0 when unknown.  A task with a higher
 * pid started after this was read: finer than a start time's clock tick,
 * which a script's fork and its sibling's commit share. */
pid_t proc_last_pid(void);

/* Count the writable descriptors that process @pid holds on inode @ino of
 * mount @mnt_id (from /proc/PID/fdinfo; fdinfo.c keeps the files of recent
 * processes open).  @start: the process's start time when the caller has
 * just proven it alive with proc_get() (saves a poll), else 0.  *@nfds
 * (if not NULL) gets how many descriptors of any kind it saw: 0 while the
 * process is closing its table at exit.
 * @return count, or -errno when /proc cannot tell. */
int proc_writable_fds(pid_t pid, uint64_t start, int mnt_id, uint64_t ino,
		      int *nfds);

/* proc_writable_fds() for a flush by thread @tid of process @pid: of the
 * thread's own descriptor table if it has one (unshare(CLONE_FILES)),
 * then of the process's; *@nfds counts the closing thread's table only. */
int proc_task_writable_fds(pid_t pid, pid_t tid, uint64_t start, int mnt_id,
			   uint64_t ino, int *nfds);

/* Close the fdinfo files kept open (tests, exit). */
void proc_fdinfo_reset(void);

/* Judge one descriptor by its fdinfo text (what /proc/PID/fdinfo/N
 * reads): @return 1 open for writing on inode @ino of mount @mnt_id, 0
 * not, -ENOTSUP when the text cannot tell (a kernel without "ino:").
 * Exposed for tests; proc_writable_fds() asks it for each descriptor. */
int proc_fdinfo_judge(const char *info, int mnt_id, uint64_t ino);

/* How many scans have read a /proc/PID/fdinfo directory since the last
 * proc_fdinfo_reset(): a scan whose process still holds the descriptors
 * it held at the last one reads none (tests). */
uint64_t proc_fdinfo_listings(void);

/* @comm as one field of a one-line value (user.conflict, the lease's
 * holder, log lines): a space, a control character and a backslash as
 * \\ooo.  @return @out, which needs 65 bytes. */
const char *proc_comm_field(const char *comm, char out[65]);

/* The mount id of @mountpoint in /proc/self/mountinfo, or -ENOENT;
 * @fuse_conn (unless NULL): its FUSE connection, as proc_fuse_conn(),
 * from the same read. */
int proc_mnt_id(const char *mountpoint, long *fuse_conn);

/* The FUSE connection of the mount on @mountpoint (its number under
 * /sys/fs/fuse/connections).  @return it; -ENOENT no mount there;
 * -EINVAL the mount there is not a FUSE one; -errno. */
long proc_fuse_conn(const char *mountpoint);

#endif

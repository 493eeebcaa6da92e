/* fdinfo.c - does a process hold another writable descriptor of a record?
 * Asked at the flush that would commit, so once per save.
 *
 * The answer is read from /proc/PID/fdinfo, one small file per descriptor.
 * Opening, reading and closing each of them on every save cost about as
 * much as the rest of the save (~100 us for a process with a handful of
 * descriptors, measured with make bench), so the descriptors of recently
 * asked processes are kept open: a later scan lists the directory and
 * pread()s each file, whose text the kernel renders anew from whatever
 * descriptor N is now (a closed one reads as ENOENT).
 *
 * Invariants:
 * - an entry belongs to one process, proven by a pidfd: when the process
 *   has exited, the entry (its descriptors included) is dropped unused;
 * - an entry is scanned by one thread at a time (its directory offset is
 *   shared), under its own mutex; the table itself under fdi_mu;
 * - a process may have up to FDI_SAME entries, so that its threads'
 *   flushes scan side by side; each lists the directory anew, so none
 *   answers from another's view;
 * - an entry's listing (`listed`) is what its own last full scan saw,
 *   and is trusted again only while the process holds exactly as many
 *   descriptors and every one listed is still open: the two together
 *   mean the set is the same, so the directory need not be read.
 *
 * Why the listing is kept: reading the directory (lseek and getdents64)
 * was 1.3 us of a 4.2 us scan at every save, and the descriptor count,
 * which /proc/PID/fd gives as its size since Linux 6.2, is 0.16 us. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/kcmp.h>

/* At most FDI_PROCS * (3 + FDI_MAXFD) descriptors are kept open. */
#define FDI_PROCS 16 /* entries */
#define FDI_SAME 4   /* entries one process may have */
/* Descriptor numbers remembered per process: up to 255, which bash keeps
 * open for its script, so that `echo x > rec` in a script reads its
 * fdinfo files without opening them. */
#define FDI_MAXFD 256

struct fdproc {
	pthread_mutex_t mu;
	pid_t tgid;         /* 0: free; written under fdi_mu and mu both */
	uint64_t start;     /* its start time, when the asker knew it */
	int pidfd, dirfd;
	int fddir;           /* open /proc/TGID/fd (its size counts), or -1 */
	int info[FDI_MAXFD]; /* open /proc/TGID/fdinfo/N, or -1 */
	int nlisted;         /* descriptors in listed, or -1: no listing */
	uint64_t listed[FDI_MAXFD / 64]; /* numbers the last full scan saw */
	uint64_t used;       /* for LRU */
};

static struct fdproc procs[FDI_PROCS];
/* Adaptive, as store_mutex_init() in store.h says why. */
static pthread_mutex_t fdi_mu = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
static uint64_t fdi_clock;
static int fdi_ready;
/* Does /proc/PID/fd give the descriptor count as its size (Linux 6.2)?
 * Before, it reads 0 whatever the table holds, which would prove
 * nothing: then every scan lists the directory. */
static int fdi_counts;
static uint64_t fdi_listings; /* for tests: proc_fdinfo_listings() */
/* Kept files stop at half the descriptor limit: the cache must never be
 * what runs the daemon out of descriptors (FDI_PROCS * (3 + FDI_MAXFD)
 * is 4144, and a hard limit may be 4096).  Set at init and at reset
 * (a test lowers the limit), read by scans: atomic. */
static int fdi_keep_below;

int proc_half_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur / 2 > INT_MAX)
		return INT_MAX;
	return (int)(rl.rlim_cur / 2);
}

/* Room for any entry /proc/PID/fdinfo lists: one with a 10-digit name
 * takes 32 bytes; twice that for margin. */
#define DIRENT_MAX 64

struct dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Close what the entry keeps; its tgid stays.  Caller holds e->mu. */
static void fdproc_close(struct fdproc *e)
{
	if (e->pidfd >= 0)
		close(e->pidfd);
	if (e->dirfd >= 0)
		close(e->dirfd);
	if (e->fddir >= 0)
		close(e->fddir);
	for (int i = 0; i < FDI_MAXFD; i++) {
		if (e->info[i] >= 0)
			close(e->info[i]);
		e->info[i] = -1;
	}
	e->pidfd = e->dirfd = e->fddir = -1;
	e->nlisted = -1;
}

/* Descriptors the process holds now, or -1 when that can't be had. */
static int fd_count(const struct fdproc *e)
{
	struct stat sb;

	if (!fdi_counts || e->fddir < 0 || fstat(e->fddir, &sb) < 0 ||
	    sb.st_size < 0 || sb.st_size > INT_MAX)
		return -1;
	return (int)sb.st_size;
}

/* We hold descriptors (this one at least): a size of 0 means the
 * kernel does not count them. */
static int self_counts(void)
{
	struct stat sb;
	int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ok = fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static void fdi_init_locked(void)
{
	if (fdi_ready)
		return;
	for (int i = 0; i < FDI_PROCS; i++) {
		pthread_mutex_init(&procs[i].mu, NULL);
		procs[i].pidfd = procs[i].dirfd = procs[i].fddir = -1;
		procs[i].nlisted = -1;
		procs[i].tgid = 0;
		for (int j = 0; j < FDI_MAXFD; j++)
			procs[i].info[j] = -1;
	}
	__atomic_store_n(&fdi_keep_below, proc_half_fd_limit(), __ATOMIC_RELAXED);
	fdi_counts = self_counts();
	fdi_ready = 1;
}

/* An entry for @tgid not in use, locked, taken over from the least
 * recently used process if need be (NULL when none is free).  Caller
 * holds fdi_mu.  The threads of one process flush side by side, and one
 * entry's scan is serial (its directory offset is shared), so a process
 * may have up to FDI_SAME entries, each listing the same descriptors. */
static struct fdproc *fdproc_pick_locked(pid_t tgid, int *blocked)
{
	struct fdproc *e = NULL, *busy = NULL, *lru = NULL;
	int same = 0;

	for (int i = 0; i < FDI_PROCS && !e; i++) {
		if (procs[i].tgid != tgid)
			continue;
		same++;
		if (pthread_mutex_trylock(&procs[i].mu) == 0)
			e = &procs[i];
		else if (!busy || procs[i].used < busy->used)
			busy = &procs[i];
	}
	if (e)
		return e;
	if (same < FDI_SAME) {
		for (int i = 0; i < FDI_PROCS; i++) {
			if (procs[i].tgid == tgid ||
			    (lru && procs[i].used >= lru->used) ||
			    pthread_mutex_trylock(&procs[i].mu) != 0)
				continue;
			if (lru)
				pthread_mutex_unlock(&lru->mu);
			lru = &procs[i];
		}
		if (lru) {
			fdproc_close(lru);
			lru->tgid = tgid;
			lru->start = 0;
			return lru;
		}
	}
	*blocked = 1; /* every entry busy: wait for one of ours */
	return busy;
}

/* The entry for @tgid, locked, made if need be; NULL when no pidfd or
 * directory can be had (then the caller scans without keeping files).
 * @start: the process's start time if the caller has just proven that
 * process alive (proc_get), else 0.  An entry made for the same start
 * time needs no proof of its own: a pid is reused only after its
 * process is gone, and not within one clock tick. */
static struct fdproc *fdproc_get(pid_t tgid, uint64_t start)
{
	struct fdproc *e;
	char path[32];
	int blocked = 0;

	pthread_mutex_lock(&fdi_mu);
	fdi_init_locked();
	e = fdproc_pick_locked(tgid, &blocked);
	if (e)
		e->used = ++fdi_clock;
	pthread_mutex_unlock(&fdi_mu);
	if (!e)
		return NULL;

	if (blocked) {
		pthread_mutex_lock(&e->mu);
		if (e->tgid != tgid) { /* taken over while we waited */
			pthread_mutex_unlock(&e->mu);
			return NULL;
		}
	}
	if (e->pidfd >= 0 && start && e->start == start)
		return e;
	if (e->pidfd >= 0 && proc_pidfd_exited(e->pidfd))
		fdproc_close(e); /* a process of the same pid is another */
	else if (e->pidfd >= 0 && start)
		e->start = start; /* alive with the caller's: the same one */
	if (e->pidfd < 0) {
		snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)tgid);
		e->pidfd = proc_pidfd(tgid, 0);
		e->dirfd = e->pidfd < 0 ? -1
					: open(path, O_RDONLY | O_DIRECTORY |
							     O_CLOEXEC);
		/* Without it, scans just list the directory each time. */
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)tgid);
		e->fddir = e->dirfd < 0 || !fdi_counts
				   ? -1
				   : open(path, O_RDONLY | O_DIRECTORY |
							O_CLOEXEC);
		/* The directory must be the pidfd's process's. */
		if (e->dirfd < 0 || proc_pidfd_exited(e->pidfd)) {
			fdproc_close(e);
			pthread_mutex_unlock(&e->mu);
			return NULL;
		}
		e->start = start;
	}
	return e;
}

/* Read descriptor @n's fdinfo into @buf: through the kept file when
 * there is one (its name is formed only to open it).  @return bytes; -ENOENT when the descriptor (or its
 * process) is gone; another -errno when the daemon could not look (out of
 * descriptors, say), which must not pass for "gone": a writable
 * descriptor skipped would commit a change its writer still holds. */
static ssize_t info_read(struct fdproc *e, int dirfd, int n, char *buf,
			 size_t len)
{
	int fd = -1, keep = e && n >= 0 && n < FDI_MAXFD;
	char name[16];
	ssize_t r;

	if (keep && e->info[n] >= 0) {
		r = pread(e->info[n], buf, len - 1, 0);
		if (r > 0) {
			buf[r] = 0;
			return r;
		}
		/* The file renders whatever descriptor N is at each read: N
		 * closed reads ENOENT, N reused reads its new descriptor.
		 * So it stays kept for N's return (a process whose threads
		 * open and close records reuses a few numbers: opening each
		 * anew cost an openat() and a close() per save). */
		if (r < 0 && (errno == ENOENT || errno == ESRCH))
			return -ENOENT;
		close(e->info[n]);
		e->info[n] = -1;
	}
	snprintf(name, sizeof(name), "%d", n);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ESRCH ? -ENOENT : -errno;
	keep = keep && fd < __atomic_load_n(&fdi_keep_below, __ATOMIC_RELAXED);
	r = read(fd, buf, len - 1);
	if (r < 0)
		r = errno == ESRCH ? -ENOENT : -errno;
	else if (r == 0)
		r = -ENOENT;
	if (keep && r > 0)
		e->info[n] = fd;
	else
		close(fd);
	if (r < 0)
		return r;
	buf[r] = 0;
	return r;
}

/* Step over @lit at *@p.  @return 1, or 0 (and *@p unmoved) if absent. */
static int skip(const char **p, const char *lit, size_t len)
{
	if (strncmp(*p, lit, len) != 0)
		return 0;
	*p += len;
	return 1;
}

/* An unsigned number in @base (8 or 10) at *@p, with an optional '-'
 * when @out is NULL (pos, which is only stepped over).  @return 1 and
 * *@p past it, or 0. */
static int take(const char **p, unsigned base, unsigned long long *out)
{
	const char *s = *p;
	unsigned long long v = 0;

	if (!out && *s == '-')
		s++;
	if (*s < '0' || *s >= (char)('0' + base))
		return 0;
	while (*s >= '0' && *s < (char)('0' + base))
		v = v * base + (unsigned)(*s++ - '0');
	*p = s;
	if (out)
		*out = v;
	return 1;
}

/* The kernel writes the four lines in this order (fs/proc/fd.c): read in
 * one pass, with no search, since the scan judges every descriptor of a
 * writer at every save (three strstr and strtoull calls cost 70 ns a
 * descriptor).  Text in any other shape goes the long way below. */
static int judge_fast(const char *info, int mnt_id, uint64_t ino, int *out,
		      int *other)
{
	unsigned long long fl, fmnt, fino;
	const char *p = info;

	if (!(skip(&p, "pos:\t", 5) && take(&p, 10, NULL) &&
	      skip(&p, "\nflags:\t", 8) && take(&p, 8, &fl) &&
	      skip(&p, "\nmnt_id:\t", 9) && take(&p, 10, &fmnt) &&
	      skip(&p, "\nino:\t", 6) && take(&p, 10, &fino) && *p == '\n'))
		return 0;
	*out = fmnt == (unsigned long long)mnt_id && fino == ino &&
	       (fl & O_ACCMODE) != O_RDONLY;
	if (!*out && fino == ino && (fl & O_ACCMODE) != O_RDONLY &&
	    fmnt <= INT_MAX)
		*other = (int)fmnt;
	return 1;
}

/* proc_fdinfo_judge(); when the text is of a writable descriptor of
 * inode @ino through another mount than @mnt_id, *@other gets that
 * mount's id (else it is left alone). */
static int judge(const char *info, int mnt_id, uint64_t ino, int *other)
{
	unsigned long long fl, fino;
	const char *p;
	int fmnt, fast;

	if (judge_fast(info, mnt_id, ino, &fast, other))
		return fast;
	p = strstr(info, "flags:");
	if (!p)
		return 0;
	fl = strtoull(p + 6, NULL, 8);
	p = strstr(info, "mnt_id:");
	if (!p)
		return 0;
	fmnt = (int)strtol(p + 7, NULL, 10);
	p = strstr(info, "\nino:");
	if (!p)
		return -ENOTSUP; /* an old kernel: cannot tell */
	fino = strtoull(p + 5, NULL, 10);
	if (fino != ino || (fl & O_ACCMODE) == O_RDONLY)
		return 0;
	if (fmnt != mnt_id)
		*other = fmnt;
	return fmnt == mnt_id;
}

int proc_fdinfo_judge(const char *info, int mnt_id, uint64_t ino)
{
	int other = 0;

	return judge(info, mnt_id, ino, &other);
}

/* The device ("major:minor") of mount @mnt_id as /proc/@pid/mountinfo
 * lists it (@pid 0: the daemon's own), into @dev.  @return 0, -ENOENT
 * when the process has no such mount, or -errno. */
static int mount_dev(pid_t pid, int mnt_id, char *dev, size_t len)
{
	char path[48], d[32], *line = NULL;
	size_t cap = 0;
	int id, rc = -ENOENT;
	FILE *f;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/mountinfo");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* id parent major:minor root mountpoint ... */
	while (getline(&line, &cap, f) > 0)
		if (sscanf(line, "%d %*d %31s", &id, d) == 2 && id == mnt_id) {
			snprintf(dev, len, "%s", d);
			rc = 0;
			break;
		}
	free(line);
	fclose(f);
	return rc;
}

/* The daemon's mount's device, read once per mount id (same_fs);
 * proc_fdinfo_reset() forgets it. */
static pthread_mutex_t our_mu = PTHREAD_MUTEX_INITIALIZER;
static int our_id;
static char our_dev[32];

/* Is mount @other of process @pid a mount of the same file system as
 * the daemon's mount @mnt_id?  A process in another mount namespace (a
 * container, a systemd service with PrivateTmp=, unshare -m) reaches
 * the records through its own copy of the mount, whose id differs:
 * until 2026-12-06 its descriptors were not counted, and a shell's close
 * of its redirection's duplicate committed the O_TRUNC alone (an empty
 * version, then the text: two versions, the first torn).  So is a bind
 * mount of it.  Asked only for a writable descriptor of the record's
 * inode number through another mount, which is rare elsewhere.
 * @return 1, 0, or -errno when it cannot tell. */
static int same_fs(pid_t pid, int other, int mnt_id)
{
	char dev[32], ours[32];
	int rc = 0;

	pthread_mutex_lock(&our_mu);
	if (our_id != mnt_id &&
	    (rc = mount_dev(0, mnt_id, our_dev, sizeof(our_dev))) == 0)
		our_id = mnt_id;
	memcpy(ours, our_dev, sizeof(ours));
	pthread_mutex_unlock(&our_mu);
	if (rc == -ENOENT)
		return 0; /* ours is not listed (detached): none is ours */
	if (rc < 0)
		return rc;
	rc = mount_dev(pid, other, dev, sizeof(dev));
	if (rc == -ENOENT)
		return 0; /* gone meanwhile, or none of its own */
	return rc < 0 ? rc : strcmp(dev, ours) == 0;
}

/* Read and judge descriptor @n, adding to *@count and *@seen.
 * @return 0, -ENOENT when it is gone, or another -errno. */
static int scan_one(struct fdproc *e, pid_t pid, int dfd, int n,
		    int mnt_id, uint64_t ino, int *count, int *seen)
{
	char info[512];
	ssize_t got = info_read(e, dfd, n, info, sizeof(info));
	int rc, other = 0;

	if (got < 0)
		return (int)got;
	(*seen)++;
	rc = judge(info, mnt_id, ino, &other);
	if (rc == 0 && other > 0)
		rc = same_fs(pid, other, mnt_id);
	if (rc > 0)
		(*count)++;
	return rc < 0 ? rc : 0;
}

/* The scan without reading the directory: when the process holds as
 * many descriptors as the entry's last full scan listed, and each listed
 * one is still open, it holds exactly those (read anew through the kept
 * files).  @return 0 done, 1 the listing does not hold (scan in full),
 * or -errno. */
static int scan_listed(struct fdproc *e, int mnt_id, uint64_t ino,
		       int *count, int *seen)
{
	if (e->nlisted < 0 || fd_count(e) != e->nlisted)
		return 1;
	for (int w = 0; w < FDI_MAXFD / 64; w++)
		for (uint64_t bits = e->listed[w]; bits; bits &= bits - 1) {
			int n = w * 64 + __builtin_ctzll(bits), rc;
			rc = scan_one(e, e->tgid, e->dirfd, n, mnt_id, ino,
				      count, seen);
			if (rc == -ENOENT)
				return 1; /* one of them closed meanwhile */
			if (rc < 0)
				return rc;
		}
	return 0;
}

/* Remember descriptor @n in the listing, if a later scan can read it
 * again without the directory: a number with a kept file. */
static void list_add(struct fdproc *e, int n)
{
	if (e->nlisted < 0)
		return;
	if (n < 0 || n >= FDI_MAXFD || e->info[n] < 0) {
		e->nlisted = -1;
		return;
	}
	e->listed[n / 64] |= 1ull << (n % 64);
	e->nlisted++;
}

/* Does thread @tid of process @pid hold a descriptor table of its own
 * (it called unshare(CLONE_FILES))?  kcmp(2) says; where it cannot (no
 * kcmp, or not allowed), the process's table is taken, as before. */
static int own_table(pid_t pid, pid_t tid)
{
	return tid > 0 && tid != pid &&
	       syscall(SYS_kcmp, pid, tid, KCMP_FILES, 0, 0) > 0;
}

/* proc_writable_fds(), of the table at /proc/@pid/task/@tid when @tid
 * (> 0) is given, without the kept files (which are the process's). */
static int scan(pid_t pid, pid_t tid, uint64_t start, int mnt_id,
		uint64_t ino, int *nfds)
{
	struct fdproc *e = tid > 0 ? NULL : fdproc_get(pid, start);
	char path[48], buf[4096];
	int dfd, count = 0, seen = 0, rc = 0;
	long n = 0;

	if (e) {
		rc = scan_listed(e, mnt_id, ino, &count, &seen);
		if (rc <= 0)
			goto out;
		rc = 0;
		count = seen = 0;
		dfd = e->dirfd;
		if (lseek(dfd, 0, SEEK_SET) < 0) {
			rc = -errno;
			goto out;
		}
		/* Listed anew below; a failed scan leaves none. */
		memset(e->listed, 0, sizeof(e->listed));
		e->nlisted = e->fddir >= 0 ? 0 : -1;
	} else {
		if (tid > 0)
			snprintf(path, sizeof(path), "/proc/%d/task/%d/fdinfo",
				 (int)pid, (int)tid);
		else
			snprintf(path, sizeof(path), "/proc/%d/fdinfo",
				 (int)pid);
		dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
	}
	__atomic_add_fetch(&fdi_listings, 1, __ATOMIC_RELAXED);
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long o = 0; o < n;) {
			struct dirent64 *de = (struct dirent64 *)(buf + o);
			int fdn;

			o += de->d_reclen;
			if (de->d_name[0] == '.')
				continue;
			fdn = atoi(de->d_name);
			rc = scan_one(e, pid, dfd, fdn, mnt_id, ino, &count,
				      &seen);
			if (rc == -ENOENT) {
				rc = 0;
				continue; /* closed meanwhile */
			}
			if (rc < 0)
				goto out;
			if (e)
				list_add(e, fdn);
		}
		/* /proc lists descriptors until the buffer is full or
		 * none are left: room for another entry means the end,
		 * and the call that would say so is saved. */
		if ((size_t)n + DIRENT_MAX <= sizeof(buf)) {
			n = 0;
			break;
		}
	}
	if (n < 0)
		rc = -errno;
out:
	if (e) {
		if (rc < 0) /* a scan that failed keeps nothing */
			fdproc_close(e);
		pthread_mutex_unlock(&e->mu);
	} else {
		close(dfd);
	}
	if (nfds)
		*nfds = seen;
	return rc < 0 ? rc : count;
}

int proc_writable_fds(pid_t pid, uint64_t start, int mnt_id, uint64_t ino,
		      int *nfds)
{
	return scan(pid, 0, start, mnt_id, ino, nfds);
}

/* A thread that unshared its descriptor table holds its descriptors
 * there, not in its process's: scanning the process's alone, its close
 * of a duplicate committed the change it still held open (one save
 * became two versions).  One kcmp per flush of a thread that is not its
 * process's leader tells.  The process's table counts too: a descriptor
 * opened before the unshare is in both, and the process still holds it
 * (SPEC: the opener "holds no other writable descriptor").  But *@nfds
 * is the thread's own table's: it tells the flush of a task dying from
 * a signal (its table detached, listed empty) from a close(2), and the
 * process's table, still listed while another thread is yet to die,
 * made a killed thread's half-written change commit
 * (tests/e2e_races.sh). */
int proc_task_writable_fds(pid_t pid, pid_t tid, uint64_t start, int mnt_id,
			   uint64_t ino, int *nfds)
{
	int n, seen = 0;

	if (!own_table(pid, tid))
		return scan(pid, 0, start, mnt_id, ino, nfds);
	n = scan(pid, tid, start, mnt_id, ino, &seen);
	if (n == 0)
		n = scan(pid, 0, start, mnt_id, ino, NULL);
	if (nfds)
		*nfds = seen;
	return n;
}

void proc_fdinfo_reset(void)
{
	pthread_mutex_lock(&fdi_mu);
	if (fdi_ready)
		for (int i = 0; i < FDI_PROCS; i++) {
			pthread_mutex_lock(&procs[i].mu);
			fdproc_close(&procs[i]);
			procs[i].tgid = 0;
			procs[i].used = 0;
			pthread_mutex_unlock(&procs[i].mu);
		}
	__atomic_store_n(&fdi_keep_below, proc_half_fd_limit(), __ATOMIC_RELAXED);
	__atomic_store_n(&fdi_listings, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&fdi_mu);
	pthread_mutex_lock(&our_mu);
	our_id = 0;
	our_dev[0] = 0;
	pthread_mutex_unlock(&our_mu);
}

uint64_t proc_fdinfo_listings(void)
{
	return __atomic_load_n(&fdi_listings, __ATOMIC_RELAXED);
}

/* main.c - recfs STORE MOUNTPOINT [-f] [-d] [-o OPT,...] */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "autounmount.h"
#include "proc.h"
#include "rfs.h"
#include "uring.h"

static const char usage[] =
	"usage: recfs STORE MOUNTPOINT [-f] [-d] [-o OPT,...]\n"
	"       recfs etcd://HOST:PORT[,HOST:PORT...]/PREFIX MOUNTPOINT ...\n"
	"\n"
	"Mount the record store in directory STORE (created if missing) on\n"
	"MOUNTPOINT.  Each record is a file; user.version holds its version;\n"
	"a change based on a stale version fails with EAGAIN.\n"
	"\n"
	"  -f                   stay in the foreground\n"
	"  -d                   debug: foreground, print every request\n"
	"  -o unchecked         no basis needed (last writer wins, versioned)\n"
	"  -o noimplicit        only setfattr user.expected_version is a basis\n"
	"  -o expect_ttl=N      declarations expire after N seconds\n"
	"                       (60; 1 to 31536000)\n"
	"  -o lease_wait=MS     an O_TRUNC open waits up to MS ms for another\n"
	"                       writer of the record before EBUSY (20; 0 to 10000)\n"
	"  -o sync=always       every commit durable before it returns\n"
	"  -o sync=normal       commits durable on fsync (default)\n"
	"  -o ro                read-only (serves the log before any damage)\n"
	"  -o unchecked_names=GLOB:GLOB  tool-owned names (default\n"
	"                       " RFS_DEFAULT_UNCHECKED ")\n"
	"  -o keep_versions=N   versions kept per record (8; 1 to 65536)\n"
	"  -o tombstone_limit=N tombstones kept before the floor rises\n"
	"                       (1000000; 1 to 10^12)\n"
	"  -o basis_entries=N   bases held at most (1048576; 1024 to 268435456);\n"
	"                       one process holds N/4 for itself, N/8 for its\n"
	"                       children\n"
	"  -o nouring           requests through /dev/fuse only, even where the\n"
	"                       kernel offers io_uring (fuse.enable_uring=Y)\n"
	"  -o auto_unmount      unmount when the daemon ends, even killed\n"
	"                       (requests through /dev/fuse only)\n"
	"  -o allow_other, -o allow_root, -o default_permissions\n"
	"                       as for any FUSE filesystem\n"
	"  -h, --help           this text\n"
	"  -V, --version        version\n"
	"\n"
	"Unmount with: fusermount3 -u MOUNTPOINT\n";

/* A number-valued option, taken as text and checked whole: libfuse's
 * %u let "keep_versions=99999999999" wrap, "expect_ttl=-5" become a huge
 * TTL and "lease_wait=1e9" mean 1. */
struct num_opt {
	const char *name;
	unsigned long long min, max;
};

enum { N_TTL, N_LEASE, N_KEEP, N_TOMB, N_BASIS, N_NUMS };

struct cli {
	struct rfs_opts o;
	char *num[N_NUMS];      /* the number options' text */
	char *store;
	int ro;
	int help, version;
	int shared;      /* allow_other or allow_root: other users get in */
	int kperm_asked; /* -o default_permissions */
	int fsname_asked; /* -o fsname=...: the mount's source is the user's */
	int subtype_asked; /* -o subtype=... */
	int auto_unmount; /* -o auto_unmount: fusermount3 watches us */
	int remount;      /* -o remount: mount(8) asked to change a mount */
};

#define OPT(t, p) { t, offsetof(struct cli, o.p), 1 }
#define NUM(t, i) { t, offsetof(struct cli, num[i]), 1 }
static const struct fuse_opt rfs_optspec[] = {
	OPT("unchecked", unchecked),
	OPT("noimplicit", noimplicit),
	NUM("expect_ttl=%s", N_TTL),
	NUM("lease_wait=%s", N_LEASE),
	OPT("sync=%s", sync),
	OPT("unchecked_names=%s", unchecked_names),
	NUM("keep_versions=%s", N_KEEP),
	NUM("tombstone_limit=%s", N_TOMB),
	NUM("basis_entries=%s", N_BASIS),
	OPT("nouring", nouring),
	FUSE_OPT_END
};

/* Decimal digits only, within [min, max].  @return 0, or -1 after saying
 * what is accepted. */
static int num_parse(const char *name, const char *text,
		     unsigned long long min, unsigned long long max,
		     unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end || errno ||
	    *out < min || *out > max) {
		fprintf(stderr, "recfs: %s must be a whole number from %llu "
			"to %llu, not '%s'\n", name, min, max, text);
		return -1;
	}
	return 0;
}

/* Check the number options given and set them in @o. */
static int num_opts(struct cli *c, struct rfs_opts *o)
{
	static const struct num_opt spec[N_NUMS] = {
		[N_TTL] = { "expect_ttl", 1, RFS_EXPECT_TTL_MAX },
		[N_LEASE] = { "lease_wait", 0, RFS_LEASE_WAIT_MAX },
		[N_KEEP] = { "keep_versions", 1, RFS_KEEP_VERSIONS_MAX },
		[N_TOMB] = { "tombstone_limit", 1, RFS_TOMBSTONE_LIMIT_MAX },
		[N_BASIS] = { "basis_entries", RFS_BASIS_ENTRIES_MIN,
			      RFS_BASIS_ENTRIES_MAX },
	};
	unsigned long long v;

	for (int i = 0; i < N_NUMS; i++) {
		if (!c->num[i])
			continue;
		if (num_parse(spec[i].name, c->num[i], spec[i].min,
			      spec[i].max, &v) < 0)
			return -1;
		switch (i) {
		case N_TTL: o->expect_ttl = (unsigned)v; break;
		case N_LEASE: o->lease_wait = (unsigned)v; break;
		case N_KEEP: o->keep_versions = (unsigned)v; break;
		case N_TOMB: o->tombstone_limit = (unsigned long)v; break;
		case N_BASIS: o->basis_entries = (unsigned long)v; break;
		}
	}
	return 0;
}



static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct cli *c = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !c->store) {
		c->store = strdup(arg);
		return 0; /* ours, not libfuse's */
	}
	if (key == FUSE_OPT_KEY_OPT) {
		if (strcmp(arg, "ro") == 0)
			c->ro = 1; /* and keep it: the kernel mounts ro too */
		if (strcmp(arg, "allow_other") == 0 ||
		    strcmp(arg, "allow_root") == 0)
			c->shared = 1; /* kept: libfuse acts on them */
		if (strcmp(arg, "default_permissions") == 0)
			c->kperm_asked = 1;
		if (strncmp(arg, "fsname=", 7) == 0)
			c->fsname_asked = 1;
		if (strncmp(arg, "subtype=", 8) == 0)
			c->subtype_asked = 1;
		if (strcmp(arg, "auto_unmount") == 0)
			c->auto_unmount = 1; /* kept: libfuse acts on it */
		if (strcmp(arg, "remount") == 0)
			c->remount = 1;
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			c->help = 1;
			return 0;
		}
		if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
			c->version = 1;
			return 0;
		}
	}
	return 1;
}

/* ---- Stopping on a signal ---------------------------------------------
 * libfuse's own handlers end the request loop at once.  The invalidation
 * thread may then be inside the kernel, waiting for the lock of a
 * directory that a creator holds while it waits for its answer, which
 * nobody gives any more (and libfuse drops a request a worker reads
 * after the stop): the daemon hung in rfs_stop_inval for ever, and the
 * creator with it; even kill -9 left both, since that thread cannot
 * leave the kernel and /dev/fuse stays open.  So SIGTERM, SIGINT and
 * SIGHUP first stop the invalidation thread, while requests are still
 * answered, and only then end the loop (tests/e2e_mount.sh). */
static int stop_efd = -1;
static volatile sig_atomic_t stop_sig;
/* Who sent it (0: the kernel, or a process of another pid namespace),
 * logged by the stopper: a daemon stopped mid-run on a shared machine
 * said nothing, and which process had sent the signal (a test's cleanup
 * killing a pid that had passed on to our daemon?) could not be found
 * out afterwards. */
static volatile sig_atomic_t stop_pid, stop_uid;

static void on_stop_signal(int sig, siginfo_t *si, void *uc)
{
	uint64_t one = 1;
	int e = errno;

	(void)uc;
	if (!stop_sig) {
		stop_pid = si->si_code == SI_USER || si->si_code == SI_QUEUE ||
			   si->si_code == SI_TKILL ? si->si_pid : 0;
		stop_uid = (sig_atomic_t)si->si_uid;
		stop_sig = sig;
		if (write(stop_efd, &one, sizeof(one)) < 0) {
			/* an eventfd's counter does not fill up */
		}
	}
	errno = e;
}

static int set_stop_signals(void)
{
	struct sigaction sa;
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP };

	stop_efd = eventfd(0, EFD_CLOEXEC);
	if (stop_efd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_stop_signal;
	sa.sa_flags = SA_SIGINFO;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	sa.sa_flags = 0;
	sa.sa_handler = SIG_IGN; /* as libfuse's: a write to a gone pipe */
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	return 0;
}

struct stopper {
	struct rfs *fs;
	pthread_t loop;		/* the thread in fuse_session_loop_mt */
	pthread_t tid;
	atomic_int loop_done;	/* the loop has returned */
};

/* Say which signal stops us and who sent it: its command line (read
 * now, while the sender may still be there) names the script or tool;
 * its comm where it has none (a kernel thread). */
static void log_stop_signal(void)
{
	const char *name = stop_sig == SIGTERM ? "SIGTERM" :
			   stop_sig == SIGINT ? "SIGINT" : "SIGHUP";
	char path[64], cmd[160] = "";
	struct proc_info p;
	ssize_t n = -1;
	int fd;

	if (!stop_pid) {
		fprintf(stderr, "recfs: %s with no sender pid (the kernel, or "
			"another pid namespace): unmounting\n", name);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)stop_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
	}
	while (n > 0 && cmd[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (cmd[i] == '\0' || cmd[i] == '\n')
			cmd[i] = ' ';
	cmd[n > 0 ? n : 0] = '\0';
	if (proc_get((pid_t)stop_pid, &p) < 0)
		fprintf(stderr, "recfs: %s from pid %d (gone, uid %d): "
			"unmounting\n", name, (int)stop_pid, (int)stop_uid);
	else
		fprintf(stderr, "recfs: %s from pid %d (%s, uid %d, parent "
			"%d): unmounting\n", name, (int)stop_pid,
			n > 0 ? cmd : p.comm, (int)stop_uid, (int)p.ppid);
}

static void *stopper_main(void *arg)
{
	struct stopper *s = arg;
	uint64_t v;

	while (read(stop_efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	if (!stop_sig || atomic_load(&s->loop_done))
		return NULL; /* the loop ended on its own (an unmount) */
	log_stop_signal();
	rfs_stop_inval(s->fs);
	fuse_session_exit(s->fs->se);
	rfs_lease_stop(s->fs); /* the requests in progress end first */
	/* The loop's thread waits in sem_wait(), which only a signal
	 * interrupts (on_stop_signal does nothing the second time); again
	 * until it has seen the exit, in case it was not waiting yet. */
	while (!atomic_load(&s->loop_done)) {
		pthread_kill(s->loop, stop_sig);
		usleep(20000);
	}
	return NULL;
}

/* The loop has returned: stop the stopper, which may be waiting for a
 * signal that will not come. */
static void stopper_end(struct stopper *s)
{
	uint64_t one = 1;

	atomic_store(&s->loop_done, 1);
	if (write(stop_efd, &one, sizeof(one)) < 0)
		perror("recfs: stop");
	pthread_join(s->tid, NULL);
}

/* ---- Where a daemon's messages go ------------------------------------
 * Refusals ("no basis; read it first"), dropped changes and store errors
 * are written to stderr, which fuse_daemonize() points at /dev/null: a
 * recfs without -f (every mount from /etc/fstab) said them to nobody.
 * They stay where stderr is a regular file (recfs S M 2>>LOG), and go to
 * syslog, a line each, otherwise: not to a terminal, which the daemon
 * would write into long after, nor to a pipe, whose reader
 * (out=$(recfs S M 2>&1)) would wait for the daemon's end. */
static ssize_t syslog_write(void *cookie, const char *buf, size_t len)
{
	size_t at = 0;

	(void)cookie;
	while (at < len) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (buf + at)) : len - at;
		const char *line = buf + at;

		at += n + (nl != NULL);
		if (n >= 7 && strncmp(line, "recfs: ", 7) == 0) {
			line += 7; /* syslog names us */
			n -= 7;
		}
		if (n)
			syslog(LOG_NOTICE, "%.*s", (int)(n > 65536 ? 65536 : n),
			       line);
	}
	return (ssize_t)len;
}

/* Before fuse_daemonize(): a copy of stderr to keep, or -1. */
static int log_keep(void)
{
	struct stat sb;

	if (fstat(STDERR_FILENO, &sb) < 0 || !S_ISREG(sb.st_mode))
		return -1;
	return fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}

/* After it: stderr back to @keep, or to syslog. */
static void log_daemonized(int keep)
{
	static char buf[BUFSIZ];
	cookie_io_functions_t io = { .write = syslog_write };
	FILE *f;

	if (keep >= 0) {
		dup2(keep, STDERR_FILENO);
		close(keep);
		return;
	}
	openlog("recfs", LOG_PID, LOG_DAEMON);
	f = fopencookie(NULL, "w", io);
	if (!f)
		return; /* /dev/null, as it was */
	setvbuf(f, buf, _IOLBF, sizeof(buf));
	stderr = f;
}

/* Name the store as the mount's source (the first field of /proc/mounts,
 * df's "Filesystem"), as sshfs names its host:path: mount -a skips an
 * fstab line whose source and mount point are mounted already, and with
 * libfuse's default, "recfs", it mounted each line again at every run
 * and failed.  A local store by its real path, as mount canonicalizes
 * the fstab's.  @return 0 or -ENOMEM. */
/* The real path a store not made yet will have: its directory's real
 * path and its own name ("./data" is /home/u/data, not /home/u/./data).
 * @return 0, or -1 if the directory does not resolve either. */
static int real_of_new(const char *path, char *out, size_t n)
{
	char store[PATH_MAX], dir[PATH_MAX], rdir[PATH_MAX];
	size_t len = strlen(path);

	/* "./data/" names data too (its mkdir takes it so): without the
	 * trailing slash its name was empty, and the source stayed
	 * relative ("./data/" in /proc/mounts). */
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len >= sizeof(store))
		return -1;
	memcpy(store, path, len);
	store[len] = 0;
	const char *slash = strrchr(store, '/');
	const char *base = slash ? slash + 1 : store;
	size_t dl = slash ? (size_t)(slash - store) : 0;

	if (!*base || !strcmp(base, ".") || !strcmp(base, "..") ||
	    dl >= sizeof(dir))
		return -1;
	memcpy(dir, store, dl);
	dir[dl] = 0;
	if (!realpath(!slash ? "." : dl ? dir : "/", rdir))
		return -1;
	if (snprintf(out, n, "%s/%s", strcmp(rdir, "/") ? rdir : "", base) >=
	    (int)n)
		return -1;
	return 0;
}

static int add_fsname(struct fuse_args *args, const char *store)
{
	char real[PATH_MAX], *name = NULL, *opt = NULL;
	int n, rc = -ENOMEM;

	if (strncmp(store, "etcd://", 7) != 0 &&
	    (realpath(store, real) || real_of_new(store, real,
						  sizeof(real)) == 0))
		n = asprintf(&name, "fsname=%s", real);
	else
		n = asprintf(&name, "fsname=%s", store);
	if (n < 0) {
		name = NULL;
		goto out;
	}
	/* Commas and backslashes escaped: libfuse splits -o at commas. */
	if (fuse_opt_add_opt_escaped(&opt, name) < 0 ||
	    fuse_opt_add_arg(args, "-o") < 0 || fuse_opt_add_arg(args, opt) < 0)
		goto out;
	rc = 0;
out:
	free(name);
	free(opt);
	return rc;
}

/* Is @path already a mount point?  A busy mountpoint is refused rather
 * than stacked over. */
static int is_mountpoint(const char *path)
{
	return proc_mnt_id(path, NULL) >= 0;
}

/* The task cache holds two pidfds per cached task (fs/proc.c) beside the
 * store's segments and blobs: take what the hard limit allows, as servers
 * do, rather than a login shell's 1024. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* RFS_TEST_PAUSE_AT (tests only): a comma-separated list of where the
 * tests' pause is; unset, at a durable commit. */
static int rfs_pause_at(const char *list)
{
	static const struct { const char *name; int at; } where[] = {
		{ "commit", RFS_PAUSE_COMMIT },
		{ "snapshot", RFS_PAUSE_SNAPSHOT },
		{ "snapped", RFS_PAUSE_SNAPPED },
		{ "rename", RFS_PAUSE_RENAME },
		{ "xattr", RFS_PAUSE_XATTR },
		{ "moved", RFS_PAUSE_MOVED },
	};
	int at = 0;

	while (list && *list) {
		size_t len = strcspn(list, ",");

		for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
			if (strlen(where[i].name) == len &&
			    strncmp(list, where[i].name, len) == 0)
				at |= where[i].at;
		list += len + (list[len] == ',');
	}
	return at ? at : RFS_PAUSE_COMMIT;
}

/* Descriptors past stderr that recfs did not open are its starter's: a
 * daemon that kept them held the starter's flock(1) lock, pipe or file
 * as long as it lived ((flock 9; recfs S M) 9>LOCK kept LOCK locked).
 * None is handed over: a mount point is a directory here, never libfuse's
 * /dev/fd/N. */
static void close_inherited(void)
{
	close_range(STDERR_FILENO + 1, ~0U, 0);
}

/* Started with 0, 1 or 2 closed (<&- >&- 2>&-), the store took those
 * numbers, and fuse_daemonize() put /dev/null over them: over the
 * store's directory (no new segment, no compaction) and its lock (a
 * second daemon mounted the same store).  /dev/null holds them now. */
static void hold_std_descriptors(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= STDERR_FILENO)
		;
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Our mount is not on top of the mount point any more (unmounted, or
 * lazily unmounted and the point mounted again): let libfuse go of it
 * without its unmount by path.  It skips that for a connection already
 * ended (POLLERR on its descriptor), and frees its copy of the path only
 * there: skipped, the copy leaked at every clean unmount.  A connection
 * still alive (umount -l with files open) is ended first; its callers
 * would get ENOTCONN at our exit anyway.  If it cannot be ended, the
 * copy is left to the exit rather than unmount another's mount. */
static void let_go_unmounted(struct fuse_session *se, long conn)
{
	struct pollfd pfd = { .fd = fuse_session_fd(se), .events = 0 };

	if (!(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR)) && conn > 0)
		(void)rfs_abort_conn(conn);
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR))
		fuse_session_unmount(se);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cl;
	struct rfs fs;
	struct cli c;
	struct store_opts so;
	struct fuse_loop_config *lc = NULL;
	struct rfs_uring *ur = NULL;
	struct stopper stopper;
	struct rfs_au au; /* -o auto_unmount's socket (autounmount.c) */
	char err[512] = "", absmp[PATH_MAX];
	struct stat sb;
	int rc = 1, mounted = 0, log_fd = -1;
	long conn = -ENOENT; /* the mount's FUSE connection */

	rfs_au_keeper_main(argc, argv);
	close_inherited();
	hold_std_descriptors();
	memset(&fs, 0, sizeof(fs));
	memset(&c, 0, sizeof(c));
	memset(&cl, 0, sizeof(cl));
	memset(&stopper, 0, sizeof(stopper));
	c.o.expect_ttl = 60;
	c.o.lease_wait = 20;
	c.o.basis_entries = RFS_BASIS_ENTRIES;
	/* (libfuse said why: "-o" with no value.  1, as for every option
	 * refused, recfs(1); it was 2.) */
	if (fuse_opt_parse(&args, &c, rfs_optspec, opt_proc) < 0)
		return 1;
	fs.o = c.o;
	if (num_opts(&c, &fs.o) < 0)
		goto out;
	if (c.help || c.version) {
		if (c.help)
			fputs(usage, stdout);
		else
			printf("recfs %s (libfuse %s)\n", RECFS_VERSION,
			       fuse_pkgversion());
		rc = 0;
		goto out;
	}
	/* mount -o remount of a recfs mount runs mount.fuse3, which starts
	 * another recfs: it said "MNT is already a mount point", as if the
	 * mount were someone else's. */
	if (c.remount) {
		fprintf(stderr, "recfs: -o remount: a recfs mount takes its "
			"options when it is mounted; unmount it and mount it "
			"again, or for the kernel's read-only flag alone use "
			"'mount -i -o remount,ro MOUNTPOINT'\n");
		goto out;
	}
	/* libfuse adds its default subtype (the program's name) only when
	 * neither fsname nor subtype is given: with -o fsname the type was
	 * plain "fuse", which findmnt -t fuse.recfs and recctl (in a bind
	 * mount) did not take for recfs, and mount -o remount had
	 * mount.fuse3 run the fsname as a command. */
	if (c.fsname_asked && !c.subtype_asked &&
	    fuse_opt_add_arg(&args, "-osubtype=recfs") < 0)
		goto out;
	if (fuse_parse_cmdline(&args, &cl) != 0) {
		fuse_opt_free_args(&args);
		free(c.store);
		return 1; /* libfuse said why (a bad mount point) */
	}
	if (!c.store || !cl.mountpoint) {
		/* Named first: the usage alone, 30 lines, did not say what
		 * was wrong. */
		fprintf(stderr, "recfs: missing %s\n",
			c.store ? "MOUNTPOINT" : "STORE and MOUNTPOINT");
		fputs(usage, stderr);
		goto out;
	}
	if (fs.o.sync && strcmp(fs.o.sync, "always") != 0 &&
	    strcmp(fs.o.sync, "normal") != 0) {
		fprintf(stderr, "recfs: sync must be 'always' or 'normal'\n");
		goto out;
	}
	/* Before the mount point is looked at: it may be the stuck
	 * daemon's own, busy until its connection is aborted. */
	if (!c.ro)
		rfs_free_stuck_holder(c.store);
	if (stat(cl.mountpoint, &sb) < 0) {
		int e = errno;

		fprintf(stderr, "recfs: mountpoint %s: %s\n", cl.mountpoint,
			strerror(e));
		/* A FUSE mount whose daemon is gone (kill -9, a crash): say
		 * the way out, which loses nothing committed. */
		if (e == ENOTCONN || e == ECONNABORTED)
			fprintf(stderr, "recfs: the daemon of the mount there "
				"is gone: unmount it with 'fusermount3 -u %s', "
				"then mount again\n", cl.mountpoint);
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "recfs: mountpoint %s: not a directory\n",
			cl.mountpoint);
		goto out;
	}
	if (!realpath(cl.mountpoint, absmp)) {
		fprintf(stderr, "recfs: %s: %s\n", cl.mountpoint,
			strerror(errno));
		goto out;
	}
	if (is_mountpoint(absmp)) {
		fprintf(stderr, "recfs: %s is already a mount point\n", absmp);
		goto out;
	}
	/* Owners and modes are enforced as on any Linux filesystem.  Where
	 * other users get in, by the kernel (default_permissions): a cached
	 * path is walked without asking us, so only the kernel can check
	 * search permission there.  A mount only its owner can use is
	 * checked by the daemon (perm.h), which saves a GETATTR of the
	 * directory per create, unlink and rename. */
	fs.kperm = c.shared || c.kperm_asked;
	if (fs.kperm && !c.kperm_asked &&
	    fuse_opt_add_arg(&args, "-odefault_permissions") < 0)
		goto out;
	if (!c.fsname_asked && add_fsname(&args, c.store) < 0)
		goto out;
	/* The session takes the options left to libfuse and refuses an
	 * unknown or malformed one: before the store is opened, since bad
	 * input changes nothing (-o bogus made a new store, or rolled an
	 * existing one's log, and then failed: tests/e2e_options.sh). */
	fs.se = fuse_session_new(&args, &rfs_ops, sizeof(rfs_ops), &fs);
	if (!fs.se)
		goto out;
	fs.o.ro = c.ro;
	fs.slow_store = strncmp(c.store, "etcd://", 7) == 0;
	raise_fd_limit();
	memset(&so, 0, sizeof(so));
	so.read_only = c.ro;
	so.sync_always = fs.o.sync && strcmp(fs.o.sync, "always") == 0;
	so.keep_versions = fs.o.keep_versions;
	so.tombstone_limit = fs.o.tombstone_limit;
	so.defer_background = 1; /* no thread before the daemon's fork */
	so.on_change = rfs_remote_change;
	so.on_gone = rfs_remote_gone;
	so.change_ctx = &fs;
	so.errbuf = err;
	so.errlen = sizeof(err);
	rc = store_open(c.store, &so, &fs.st);
	if (rc < 0) {
		fprintf(stderr, "recfs: cannot open store %s: %s\n", c.store,
			err[0] ? err : strerror(-rc));
		/* Damage is never dropped by an open: say what the user
		 * can do (RELIABILITY.md, "Torn tails are cut"). */
		if (rc == -EUCLEAN)
			fprintf(stderr, "recfs: 'recctl fsck %s' describes "
				"the damage; '-o ro' mounts what can be "
				"read\n", c.store);
		/* A store on a read-only filesystem, or on a full one (a
		 * new segment has no room): what to do is the user's.  A
		 * store not made yet has nothing to mount read-only. */
		else if (rc == -EROFS && !c.ro && stat(c.store, &sb) == 0)
			fprintf(stderr, "recfs: '-o ro' mounts it read-only\n");
		else if (rc == -ENOSPC || rc == -EDQUOT)
			fprintf(stderr, "recfs: free space on the filesystem "
				"that holds %s, or mount it with '-o ro'\n",
				c.store);
		rc = 1;
		goto out;
	}
	rc = 1;
	if (rfs_init_state(&fs) < 0 ||
	    basis_init(&fs.bt, fs.o.expect_ttl, fs.o.basis_entries,
		       !fs.o.noimplicit) < 0) {
		fprintf(stderr, "recfs: out of memory\n");
		goto out;
	}
	fs.mountpoint = absmp;
	fs.pause_key = getenv("RFS_TEST_PAUSE_KEY");
	if (fs.pause_key && getenv("RFS_TEST_PAUSE_MS"))
		fs.pause_ms = (unsigned)atoi(getenv("RFS_TEST_PAUSE_MS"));
	fs.pause_at = rfs_pause_at(getenv("RFS_TEST_PAUSE_AT"));
	fs.root_uid = getuid();
	fs.root_gid = getgid();
	if (set_stop_signals() < 0)
		goto out;
	if (c.auto_unmount)
		rfs_au_before_mount(&au);
	if (fuse_session_mount(fs.se, absmp) != 0) {
		fprintf(stderr, "recfs: cannot mount on %s\n", absmp);
		goto out;
	}
	mounted = 1;
	if (c.auto_unmount)
		rfs_au_after_mount(&au);
	fs.mnt_id = proc_mnt_id(absmp, &conn);
	log_fd = cl.foreground ? -1 : log_keep();
	if (fuse_daemonize(cl.foreground) != 0)
		goto out;
	if (!cl.foreground) {
		log_daemonized(log_fd);
		log_fd = -1;
	}
	if (c.auto_unmount) {
		int e = rfs_au_start(&au);
		if (e < 0)
			fprintf(stderr, "recfs: auto_unmount: cannot keep its "
				"socket (%s): a daemon killed with SIGKILL may "
				"leave its mount behind\n", strerror(-e));
	}
	/* Now the store's thread, and the daemon's pid in the lock file. */
	store_after_fork(fs.st);
	rfs_holder_note(&fs, conn);
	lc = fuse_loop_cfg_create();
	if (!lc)
		goto out;
	fuse_loop_cfg_set_clone_fd(lc, 0);
	fuse_loop_cfg_set_idle_threads(lc, 16);
	/* Requests to an etcd store wait on the network, and changes wait
	 * for each other's leases (at most RFS_LEASE_WAITERS at once), not
	 * for a CPU: let more of them wait than libfuse's default of 10. */
	fuse_loop_cfg_set_max_threads(lc, 64);
	/* Where the kernel offers it, requests come through io_uring, each
	 * to a worker on its caller's CPU; libfuse's loop keeps /dev/fuse
	 * (INIT, FORGET, INTERRUPT; everything if the ring is refused). */
	/* Not with auto_unmount: fusermount3 unmounts a dead daemon's
	 * mount only if it answers ENOTCONN, and for a while after a ring's
	 * daemon dies the kernel answers ECONNABORTED: the mount stayed. */
	if (!fs.o.nouring && !c.auto_unmount &&
	    (rc = rfs_uring_attach(fs.se, 0, &ur)) < 0)
		fprintf(stderr, "recfs: io_uring not used: %s\n", strerror(-rc));
	/* After the ring is set up: its writev hook is how this thread's
	 * notifications reach the kernel. */
	rfs_start_inval(&fs);
	stopper.fs = &fs;
	stopper.loop = pthread_self();
	rc = pthread_create(&stopper.tid, NULL, stopper_main, &stopper);
	if (rc != 0) {
		/* (It exited 1 without a word.) */
		fprintf(stderr, "recfs: cannot start a thread: %s\n",
			strerror(rc));
		rc = 1;
		goto out;
	}
	rc = fuse_session_loop_mt(fs.se, lc);
	stopper_end(&stopper);
	/* The invalidation thread writes to the kernel through the ring's
	 * writev hook: it stops before the ring is freed.  What is queued
	 * after (rfs_shutdown's commits) goes unsent: nobody is served any
	 * more, and rfs_free_state frees it. */
	rfs_stop_inval(&fs);
	rfs_uring_detach(ur);
	ur = NULL;
	/* A signal that asked us to stop is a clean exit. */
	rc = rc == 0 || stop_sig ? 0 : 1;
	rfs_shutdown(&fs);
out:
	if (lc)
		fuse_loop_cfg_destroy(lc);
	if (fs.se) {
		rfs_stop_inval(&fs);
		rfs_uring_detach(ur); /* NULL-safe: the loop never ran */
		/* libfuse unmounts by path: after umount -l, whatever was
		 * mounted there since (another recfs) went at our stop.  Only
		 * our own mount, on top there, is unmounted by path. */
		if (mounted && (fs.mnt_id < 0 ||
				proc_mnt_id(absmp, NULL) == fs.mnt_id))
			fuse_session_unmount(fs.se);
		else if (mounted)
			let_go_unmounted(fs.se, conn);
		fuse_session_destroy(fs.se);
	}
	if (fs.st && store_close(fs.st) < 0)
		rc = 1;
	if (stop_efd >= 0) {
		/* A late signal's handler must not write into whatever file
		 * takes the descriptor's number next: it is ignored now. */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		close(stop_efd);
		stop_efd = -1;
	}
	if (log_fd >= 0)
		close(log_fd);
	proc_cache_reset();
	proc_fdinfo_reset();
	basis_free(fs.bt);
	if (fs.by_ino)
		rfs_free_state(&fs);
	fuse_opt_free_args(&args);
	free(cl.mountpoint);
	free(c.store);
	for (int i = 0; i < N_NUMS; i++)
		free(c.num[i]);
	free(fs.o.sync);
	free(fs.o.unchecked_names);
	return rc;
}

/* autounmount.c - -o auto_unmount that works for a daemon killed with
 * SIGKILL.
 *
 * libfuse mounts through fusermount3, which stays behind holding one end
 * of a socket whose other end the daemon keeps.  When that socket
 * closes, fusermount3 unmounts if the mount is still there and opening
 * it answers ENOTCONN (the connection is dead).  A killed daemon's
 * descriptors close in an order the kernel picks: when the socket went
 * before /dev/fuse, fusermount3's open reached a connection still alive,
 * was aborted with it (ECONNABORTED, not ENOTCONN), and the dead mount
 * stayed (4 runs in 15 here; tests/e2e_options.sh).
 *
 * So a keeper process holds the daemon's end of the socket too, and
 * nothing else, until the daemon has ended: a process's pidfd becomes
 * readable only after all its descriptors are closed, the connection
 * aborted with the last of /dev/fuse's.  The socket is told from the
 * descriptors open before the mount by being new after it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autounmount.h"
#include "proc.h"

/* Call @fn for each descriptor of this process that is a socket. */
static void each_socket(void (*fn)(struct rfs_au *, int, ino_t),
			struct rfs_au *au)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d) {
		au->overflow = 1; /* cannot tell: keep none */
		return;
	}
	while ((de = readdir(d))) {
		struct stat sb;
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == dirfd(d) ||
		    fstat(fd, &sb) < 0 || !S_ISSOCK(sb.st_mode))
			continue;
		fn(au, fd, sb.st_ino);
	}
	closedir(d);
}

static void note_before(struct rfs_au *au, int fd, ino_t ino)
{
	if (au->nbefore < RFS_AU_MAX) {
		au->before[au->nbefore].fd = fd;
		au->before[au->nbefore].ino = ino;
		au->nbefore++;
	} else {
		au->overflow = 1; /* cannot tell old from new: keep none */
	}
}

static void note_after(struct rfs_au *au, int fd, ino_t ino)
{
	for (int i = 0; i < au->nbefore; i++)
		if (au->before[i].fd == fd && au->before[i].ino == ino)
			return;
	if (au->nkeep < RFS_AU_MAX)
		au->keep[au->nkeep++] = fd;
	else
		au->overflow = 1;
}

void rfs_au_before_mount(struct rfs_au *au)
{
	memset(au, 0, sizeof(*au));
	each_socket(note_before, au);
}

void rfs_au_after_mount(struct rfs_au *au)
{
	each_socket(note_after, au);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The keeper's wait: until the daemon behind @pidfd has ended. */
static _Noreturn void keeper_wait(int pidfd)
{
	prctl(PR_SET_NAME, RFS_AU_KEEPER);
	for (;;) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		if (poll(&p, 1, -1) > 0 || errno != EINTR)
			_exit(0);
	}
}

void rfs_au_keeper_main(int argc, char *argv[])
{
	char *end;
	long fd;

	if (argc != 3 || strcmp(argv[0], RFS_AU_KEEPER) != 0 ||
	    strcmp(argv[1], "--keeper") != 0)
		return;
	fd = strtol(argv[2], &end, 10);
	if (*argv[2] == '\0' || *end || fd < 0 || fd > 1 << 20)
		_exit(2);
	keeper_wait((int)fd);
}

int rfs_au_start(const struct rfs_au *au)
{
	int keep[RFS_AU_MAX + 1], n = 0, pidfd, lo = 0;
	char fdstr[16];
	char *argv[] = { RFS_AU_KEEPER, "--keeper", fdstr, NULL };
	pid_t pid;

	if (au->overflow || au->nkeep == 0)
		return -ENOENT;
	pidfd = proc_pidfd(getpid(), 0);
	if (pidfd < 0)
		return -errno;
	/* Before the fork: the child of a process with threads makes
	 * system calls only. */
	snprintf(fdstr, sizeof(fdstr), "%d", pidfd);
	for (int i = 0; i < au->nkeep; i++)
		keep[n++] = au->keep[i];
	keep[n++] = pidfd;
	qsort(keep, (size_t)n, sizeof(keep[0]), cmp_int);
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pidfd);
		return -e;
	}
	if (pid > 0) {
		close(pidfd);
		return 0;
	}
	/* The keeper, forked by a process with threads: system calls only.
	 * It holds the socket and the pidfd, no store file (the store's
	 * LOCK must go with the daemon), takes no terminal's signals
	 * (Ctrl-C stops a foreground daemon, which then unmounts itself),
	 * and keeps no directory busy. */
	for (int i = 0; i < n; i++) {
		if (keep[i] > lo)
			close_range((unsigned)lo, (unsigned)keep[i] - 1, 0);
		lo = keep[i] + 1;
		fcntl(keep[i], F_SETFD, 0); /* kept across the exec */
	}
	close_range((unsigned)lo, ~0U, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	setsid();
	if (chdir("/") < 0)
		_exit(1);
	/* A program of its own (rfs_au_keeper_main): the fork shares the
	 * daemon's memory of this moment, its whole index, and kept it
	 * for the mount's life, a second copy of every page the daemon
	 * changed since.  Should the exec fail, it waits as it is. */
	execv("/proc/self/exe", argv);
	keeper_wait(pidfd);
}

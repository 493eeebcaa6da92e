/* holder.c - free a store whose last daemon was killed while stuck in
 * the kernel.
 *
 * The kernel ends a FUSE connection when its daemon's /dev/fuse
 * descriptors close.  A daemon killed (kill -9, the OOM killer) while one
 * of its threads waits inside the kernel never closes them: an entry
 * invalidation takes the lock of a directory that a creator holds while
 * it waits for an answer only the killed daemon could give.  That thread
 * waits for ever, the dying daemon keeps the store's lock, the creator
 * hangs, `fusermount3 -u` says the mount is busy, and a new daemon was
 * told "in use by pid N" for good.  Only an abort of the connection
 * (fusectl) ends it, as the kernel would have.
 *
 * So before a mount, a lock holder that the lock file names as a recfs
 * daemon which is dying (SIGKILL delivered, or its main thread gone) has
 * its connection aborted, the one it recorded (store_lock_note) and only
 * if that connection is still a FUSE mount on the mount point it
 * recorded.  A live daemon, or one that recorded nothing, is left alone:
 * its store is refused as in use, as before.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "rfs.h"

#define FUSECTL "/sys/fs/fuse/connections"
#define GONE_WAIT_MS 5000

/* The note this daemon writes into the lock file once mounted. */
int rfs_holder_note(struct rfs *fs, long conn)
{
	char note[PATH_MAX + 64];

	if (conn < 0)
		return (int)conn;
	if (strchr(fs->mountpoint, '\n'))
		return 0; /* one line each: such a mount point is not noted */
	snprintf(note, sizeof(note), "fuse=%ld mnt=%s", conn, fs->mountpoint);
	return store_lock_note(fs->st, note);
}

static int holder_gone(pid_t pid);

/* 1 when @pid is a recfs that is dying (its group has a SIGKILL pending,
 * or its main thread has exited while another is left); 0 otherwise. */
static int dying_recfs(pid_t pid)
{
	char path[64], line[256];
	int recfs = 0, dying = 0, zombie = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long mask;

		if (strcmp(line, "Name:\trecfs\n") == 0)
			recfs = 1;
		else if (strncmp(line, "State:\tZ", 8) == 0 ||
			 strncmp(line, "State:\tX", 8) == 0)
			dying = zombie = 1;
		else if (sscanf(line, "ShdPnd:\t%llx", &mask) == 1 &&
			 (mask & (1ull << (SIGKILL - 1))))
			dying = 1;
	}
	fclose(f);
	/* A zombie with no thread left has ended: a daemon that exited
	 * cleanly and whose parent has not reaped it yet (one that never
	 * waits, a slow init).  It holds nothing; the mount after its
	 * unmount waited a second for it and then warned that it might
	 * be stuck. */
	if (zombie && holder_gone(pid))
		return 0;
	return recfs && dying;
}

/* 1 once @pid no longer holds anything: gone, or only its main thread
 * left as a zombie (every other thread ended, its descriptors, and so
 * the store's lock, closed). */
static int holder_gone(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n <= 1;
}

int rfs_abort_conn(long conn)
{
	char path[128];
	int fd, rc = 0;

	snprintf(path, sizeof(path), FUSECTL "/%ld/abort", conn);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT &&
	    mount("fusectl", FUSECTL, "fusectl", 0, NULL) == 0)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		rc = -errno;
	close(fd);
	return rc;
}

int rfs_free_stuck_holder(const char *store)
{
	char buf[PATH_MAX + 128], *note, *mnt;
	const struct timespec step = { 0, 20 * 1000000 };
	long pid, conn;
	int rc;

	if (store_lock_read(store, buf, sizeof(buf)) < 0)
		return 0; /* no local store there, or not yet one */
	pid = strtol(buf, &note, 10);
	if (pid <= 1 || *note != '\n' ||
	    sscanf(note + 1, "fuse=%ld mnt=", &conn) != 1 ||
	    !(mnt = strstr(note + 1, " mnt=")))
		return 0;
	mnt += 5;
	mnt[strcspn(mnt, "\n")] = '\0';
	/* A daemon just killed may yet go by itself: give it a moment. */
	for (int ms = 0; ms < 1000 && dying_recfs((pid_t)pid); ms += 20)
		nanosleep(&step, NULL);
	if (!dying_recfs((pid_t)pid))
		return 0;
	if (proc_fuse_conn(mnt) != conn) {
		/* Detached (fusermount3 -u -z), or in another mount
		 * namespace: connection N may no longer be its own, and
		 * aborting someone else's is worse than a refusal. */
		fprintf(stderr, "recfs: pid %ld, which has store %s, is dying; "
			"if it is stuck on its FUSE connection %ld (mounted on "
			"%s), echo 1 > " FUSECTL "/%ld/abort frees it\n", pid,
			store, conn, mnt, conn);
		return 0;
	}
	fprintf(stderr, "recfs: pid %ld, which had store %s, was killed while "
		"stuck in the kernel on its mount %s; aborting its FUSE "
		"connection %ld, as the kernel would have\n", pid, store, mnt,
		conn);
	rc = rfs_abort_conn(conn);
	if (rc < 0) {
		fprintf(stderr, "recfs: cannot abort it (%s): as root, echo 1 "
			"> " FUSECTL "/%ld/abort\n", strerror(-rc), conn);
		return rc;
	}
	for (int ms = 0; ms < GONE_WAIT_MS && !holder_gone((pid_t)pid);
	     ms += 20)
		nanosleep(&step, NULL);
	/* Its mount answers nothing now (ENOTCONN): take it away, as
	 * `fusermount3 -u -z` would, so that its mount point can be used
	 * again.  Another user's is not ours to take: say so. */
	if (proc_fuse_conn(mnt) == conn && umount2(mnt, MNT_DETACH) < 0)
		fprintf(stderr, "recfs: its mount on %s is dead: "
			"fusermount3 -u %s\n", mnt, mnt);
	return 1;
}

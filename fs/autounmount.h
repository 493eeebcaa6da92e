/* autounmount.h - keeps -o auto_unmount's socket open until the daemon
 * has ended (see autounmount.c for why). */
#ifndef RFS_AUTOUNMOUNT_H
#define RFS_AUTOUNMOUNT_H

#include <sys/types.h>

#define RFS_AU_MAX 32 /* sockets open before the mount, and new ones */
#define RFS_AU_KEEPER "recfs-keeper" /* the keeper's name (and argv[0]) */

struct rfs_au {
	struct {
		int fd;
		ino_t ino;
	} before[RFS_AU_MAX];
	int nbefore;
	int keep[RFS_AU_MAX]; /* sockets the mount made: fusermount3's */
	int nkeep;
	int overflow;         /* could not tell them apart: keep none */
};

/* Note the sockets open now: call just before fuse_session_mount. */
void rfs_au_before_mount(struct rfs_au *au);
/* Note the sockets the mount made: call just after it. */
void rfs_au_after_mount(struct rfs_au *au);
/* Start the keeper: a process that holds the mount's sockets until this
 * process has ended.  Call in the daemon (after fuse_daemonize).
 * @return 0; -ENOENT no socket to keep (or too many to tell); -errno of
 * pidfd_open or fork.  The mount works either way: without a keeper, a
 * SIGKILLed daemon's mount may stay (autounmount.c). */
int rfs_au_start(const struct rfs_au *au);
/* If this process is the keeper rfs_au_start runs (recfs-keeper
 * --keeper PIDFD), be it: wait for the daemon's end and exit; else
 * return.  Call first in main, before any descriptor is closed. */
void rfs_au_keeper_main(int argc, char *argv[]);

#endif

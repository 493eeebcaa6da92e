/* perm.h - owners and modes, checked by the daemon.
 *
 * A mount that only its owner can use (no allow_other, no allow_root) runs
 * without the kernel's default_permissions: the kernel then asks the
 * daemon's attributes before a permission check only when they are
 * stale, and every change of a directory makes them stale, so
 * default_permissions costs one GETATTR of the directory per create,
 * unlink and rename.  Without it the daemon checks what the kernel would
 * (generic_permission, without ACLs), at the requests that reach it.
 * main.c says when; ops.c says where.
 *
 * Checks that pass on the caller's uid and gid alone read nothing.  Only a
 * check that the mode bits refuse reads the caller's capabilities and
 * supplementary groups, fresh from /proc/TID/status (they can change at
 * any time, so they are never cached).  A caller whose /proc entry
 * cannot be read (another pid namespace) has no extra groups, and every
 * capability only if its uid is 0. */
#ifndef RECFS_PERM_H
#define RECFS_PERM_H

#include <sys/types.h>

/* Who asks: from the FUSE request (fsuid, fsgid and thread id). */
struct perm_who {
	uid_t uid;
	gid_t gid;
	pid_t tid;
	int loaded;          /* caps and groups read (or tried) */
	unsigned long long caps; /* CapEff; 0 when /proc could not tell */
	int ngroups;
	gid_t groups[64];
	int groups_cut;      /* it is in more: perm_in_group reads them */
};

#define PERM_R 4
#define PERM_W 2
#define PERM_X 1

/* Capabilities the checks honour (linux/capability.h numbers). */
#define PERM_CAP_CHOWN 0
#define PERM_CAP_DAC_OVERRIDE 1
#define PERM_CAP_DAC_READ_SEARCH 2
#define PERM_CAP_FOWNER 3
#define PERM_CAP_FSETID 4

void perm_who_init(struct perm_who *w, uid_t uid, gid_t gid, pid_t tid);

/* May @w access a file of @mode, @uid, @gid for @mask (PERM_R|W|X)?
 * @return 0, or -EACCES. */
int perm_may(struct perm_who *w, mode_t mode, uid_t uid, gid_t gid,
	     int mask);

/* Does @w hold capability @cap (PERM_CAP_*)?  Reads /proc.  @return 1/0. */
int perm_capable(struct perm_who *w, int cap);

/* Is @w in group @gid (its fsgid or a supplementary group)?  @return 1/0. */
int perm_in_group(struct perm_who *w, gid_t gid);

/* chmod, utimens with explicit times, xattrs of others: the owner or
 * CAP_FOWNER.  @return 0, or -EPERM. */
int perm_owner(struct perm_who *w, uid_t uid);

/* Removing or renaming away an entry of a sticky directory: the owner of
 * the entry or of the directory, or CAP_FOWNER.  @return 0, or -EPERM. */
int perm_sticky(struct perm_who *w, mode_t dir_mode, uid_t dir_uid,
		uid_t uid);

/* Parse "CapEff:" and "Groups:" of a /proc/TID/status text into @w
 * (tests feed it text): the first groups, and groups_cut when there are
 * more.  @return 0, or -EIO when CapEff is missing. */
int perm_parse_status(struct perm_who *w, const char *text);

#endif

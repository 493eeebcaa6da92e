/* perm.c - owners and modes, checked by the daemon (see perm.h).
 *
 * Mirrors the kernel's generic_permission() without ACLs: the owner's
 * bits for the owner, else the group's for a member, else the others';
 * then CAP_DAC_OVERRIDE (anything on a directory; on a file anything but
 * executing one that no one may execute) and CAP_DAC_READ_SEARCH
 * (reading files, reading and searching directories). */
#include "perm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void perm_who_init(struct perm_who *w, uid_t uid, gid_t gid, pid_t tid)
{
	memset(w, 0, sizeof(*w));
	w->uid = uid;
	w->gid = gid;
	w->tid = tid;
}

int perm_parse_status(struct perm_who *w, const char *text)
{
	const char *p = strstr(text, "\nGroups:");
	int have_caps = 0;

	w->ngroups = 0;
	if (p) {
		char *end;
		p += 8;
		while (w->ngroups < (int)(sizeof(w->groups) /
					  sizeof(w->groups[0]))) {
			unsigned long g = strtoul(p, &end, 10);
			if (end == p)
				break;
			w->groups[w->ngroups++] = (gid_t)g;
			p = end;
		}
	}
	p = strstr(text, "\nCapEff:");
	if (p) {
		char *end;
		w->caps = strtoull(p + 8, &end, 16);
		have_caps = end != p + 8;
	}
	if (!have_caps)
		w->caps = 0;
	return have_caps ? 0 : -EIO;
}

/* Caps and groups, read once per check.  A task we cannot read (another
 * pid namespace: the kernel sends pid 0) gets no extra group, and
 * capabilities only as uid 0: the mount let it in, so it is the owner's
 * uid, and root there is root (a container's root on the host's mount). */
static void load(struct perm_who *w)
{
	char path[48], buf[4096];
	ssize_t n = -1;
	int fd;

	if (w->loaded)
		return;
	w->loaded = 1;
	w->caps = 0;
	w->ngroups = 0;
	if (w->tid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/status", (int)w->tid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
		}
	}
	if (n > 0) {
		buf[n] = 0;
		if (perm_parse_status(w, buf) == 0)
			return;
	}
	if (w->uid == 0)
		w->caps = ~0ULL;
}

int perm_capable(struct perm_who *w, int cap)
{
	load(w);
	return (w->caps >> cap) & 1;
}

int perm_in_group(struct perm_who *w, gid_t gid)
{
	if (w->gid == gid)
		return 1;
	load(w);
	for (int i = 0; i < w->ngroups; i++)
		if (w->groups[i] == gid)
			return 1;
	return 0;
}

int perm_may(struct perm_who *w, mode_t mode, uid_t uid, gid_t gid,
	     int mask)
{
	unsigned bits;

	mask &= PERM_R | PERM_W | PERM_X;
	if (w->uid == uid) {
		bits = (mode >> 6) & 7;
	} else {
		unsigned grp = (mode >> 3) & 7, oth = mode & 7;
		/* Membership matters only where group and others differ:
		 * most checks decide without reading /proc. */
		if ((grp & mask) == (oth & mask))
			bits = oth;
		else
			bits = perm_in_group(w, gid) ? grp : oth;
	}
	if ((mask & ~bits) == 0)
		return 0;
	if (S_ISDIR(mode)) {
		if (!(mask & PERM_W) &&
		    perm_capable(w, PERM_CAP_DAC_READ_SEARCH))
			return 0;
		if (perm_capable(w, PERM_CAP_DAC_OVERRIDE))
			return 0;
		return -EACCES;
	}
	if ((!(mask & PERM_X) || (mode & 0111)) &&
	    perm_capable(w, PERM_CAP_DAC_OVERRIDE))
		return 0;
	if (mask == PERM_R && perm_capable(w, PERM_CAP_DAC_READ_SEARCH))
		return 0;
	return -EACCES;
}

int perm_owner(struct perm_who *w, uid_t uid)
{
	if (w->uid == uid || perm_capable(w, PERM_CAP_FOWNER))
		return 0;
	return -EPERM;
}

int perm_sticky(struct perm_who *w, mode_t dir_mode, uid_t dir_uid,
		uid_t uid)
{
	if (!(dir_mode & S_ISVTX) || w->uid == uid || w->uid == dir_uid ||
	    perm_capable(w, PERM_CAP_FOWNER))
		return 0;
	return -EPERM;
}

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

/* Is @gid on the "Groups:" line of status @text? */
static int groups_line_has(const char *text, gid_t gid)
{
	const char *p = strstr(text, "\nGroups:");
	char *end;

	if (!p)
		return 0;
	for (p += 8;; p = end) {
		unsigned long g = strtoul(p, &end, 10);
		if (end == p)
			return 0;
		if ((gid_t)g == gid)
			return 1;
	}
}

int perm_parse_status(struct perm_who *w, const char *text)
{
	const char *p = strstr(text, "\nGroups:");
	const int max = (int)(sizeof(w->groups) / sizeof(w->groups[0]));
	int have_caps = 0;

	w->ngroups = 0;
	w->groups_cut = 0;
	if (p) {
		char *end;
		for (p += 8;; p = end) {
			unsigned long g = strtoul(p, &end, 10);
			if (end == p)
				break;
			if (w->ngroups == max) {
				w->groups_cut = 1;
				break;
			}
			w->groups[w->ngroups++] = (gid_t)g;
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

/* The whole of /proc/TID/status, NUL-terminated, to be freed; NULL when
 * it cannot be read.  Whole: a process in some 700 groups writes more
 * than 4 KiB before CapEff, and a text cut there read as a task we
 * cannot see (uid 0: every capability).  Until 2026-12-06 one read of
 * 4 KiB was all, and a root process that had dropped its capabilities
 * read others' 0600 files. */
static char *status_text(pid_t tid)
{
	char path[48], *buf = NULL, *nb;
	size_t cap = 4096, len = 0;
	ssize_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	while (buf) {
		if (cap - len < 2) {
			nb = realloc(buf, cap * 2);
			if (!nb) {
				n = -1;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
out:
	close(fd);
	if (buf && (n < 0 || len == 0)) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[len] = 0;
	return buf;
}

/* Caps and groups, read once per check.  A task we cannot read (another
 * pid namespace: the kernel sends pid 0) gets no extra group, and
 * capabilities only as uid 0: the mount let it in, so it is the owner's
 * uid, and root there is root (a container's root on the host's mount). */
static void load(struct perm_who *w)
{
	char *text;

	if (w->loaded)
		return;
	w->loaded = 1;
	w->caps = 0;
	w->ngroups = 0;
	w->groups_cut = 0;
	text = w->tid > 0 ? status_text(w->tid) : NULL;
	if (text && perm_parse_status(w, text) == 0) {
		free(text);
		return;
	}
	free(text);
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
	if (w->groups_cut) { /* the rest, read again: rare */
		char *text = status_text(w->tid);
		int in = text && groups_line_has(text, gid);

		free(text);
		return in;
	}
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

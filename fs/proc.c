/* proc.c - parsing /proc for the basis rules: parents, sessions, start
 * times, task flags and open descriptors. */
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? -ESRCH : -EIO;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = 0;
	return (int)n;
}

/* Tgid and uid come from /proc/TID/status, a second read; they cannot
 * change for a task's life (uid can, by setuid, but callers take the
 * uid from the kernel's request), so they are cached by tid and start
 * time.  A recycled tid has another start time and misses. */
#define CACHE 4096
static struct {
	pid_t tid;
	uint64_t start;
	pid_t tgid;
	uid_t uid;
} cache[CACHE];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

void proc_cache_reset(void)
{
	pthread_mutex_lock(&cache_mu);
	memset(cache, 0, sizeof(cache));
	pthread_mutex_unlock(&cache_mu);
}

int proc_get(pid_t tid, struct proc_info *out)
{
	char path[64], buf[4096], *p, *q;
	unsigned long long start = 0;
	unsigned long flags = 0;
	int ppid = 0, sid = 0, field, rc;

	if (tid <= 0)
		return -ESRCH;
	memset(out, 0, sizeof(*out));
	out->tid = tid;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
	rc = read_file(path, buf, sizeof(buf));
	if (rc < 0)
		return rc;
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
		char *end;
		unsigned long long v = strtoull(p, &end, 10);
		if (field == 4)
			ppid = (int)v;
		else if (field == 6)
			sid = (int)v;
		else if (field == 9)
			flags = (unsigned long)v;
		else if (field == 22)
			start = v;
		p = strchr(p, ' ');
		if (!p)
			break;
		p++;
	}
	if (field < 22)
		return -EIO;
	out->ppid = ppid;
	out->sid = sid;
	out->flags = (unsigned)flags;
	out->start = start;
	pthread_mutex_lock(&cache_mu);
	if (cache[tid % CACHE].tid == tid && cache[tid % CACHE].start == start) {
		out->tgid = cache[tid % CACHE].tgid;
		out->uid = cache[tid % CACHE].uid;
		pthread_mutex_unlock(&cache_mu);
		return 0;
	}
	pthread_mutex_unlock(&cache_mu);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	rc = read_file(path, buf, sizeof(buf));
	if (rc < 0)
		return rc;
	p = strstr(buf, "\nTgid:");
	q = strstr(buf, "\nUid:");
	if (!p || !q)
		return -EIO;
	out->tgid = (pid_t)strtol(p + 6, NULL, 10);
	out->uid = (uid_t)strtoul(q + 5, NULL, 10); /* real uid */
	pthread_mutex_lock(&cache_mu);
	cache[tid % CACHE].tid = tid;
	cache[tid % CACHE].start = start;
	cache[tid % CACHE].tgid = out->tgid;
	cache[tid % CACHE].uid = out->uid;
	pthread_mutex_unlock(&cache_mu);
	return 0;
}

uint64_t proc_now_ticks(void)
{
	struct timespec ts;
	long hz = sysconf(_SC_CLK_TCK);

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * (uint64_t)hz +
	       (uint64_t)ts.tv_nsec / (1000000000ull / (uint64_t)hz);
}

int proc_writable_fds(pid_t pid, int mnt_id, uint64_t ino)
{
	char path[64], buf[512];
	struct dirent *de;
	DIR *d;
	int count = 0;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char fp[320], *p;
		unsigned long long fl, fino;
		int fmnt;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fp, sizeof(fp), "%s/%s", path, de->d_name);
		if (read_file(fp, buf, sizeof(buf)) < 0)
			continue;
		p = strstr(buf, "flags:");
		if (!p)
			continue;
		fl = strtoull(p + 6, NULL, 8);
		p = strstr(buf, "mnt_id:");
		if (!p)
			continue;
		fmnt = (int)strtol(p + 7, NULL, 10);
		p = strstr(buf, "\nino:");
		if (!p) {
			closedir(d);
			return -ENOTSUP; /* an old kernel: cannot tell */
		}
		fino = strtoull(p + 5, NULL, 10);
		if (fmnt == mnt_id && fino == ino && (fl & O_ACCMODE) != O_RDONLY)
			count++;
	}
	closedir(d);
	return count;
}

int proc_mnt_id(const char *mountpoint)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mp[PATH_MAX];
	int id = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		int mid;
		/* id parent major:minor root mountpoint ... */
		if (sscanf(line, "%d %*d %*s %*s %4095s", &mid, mp) == 2 &&
		    strcmp(mp, mountpoint) == 0)
			id = mid; /* the last one is the top of the stack */
	}
	fclose(f);
	return id;
}

/* rc_run.c - child processes (update's CMD, editors, diff, diff3) and
 * private temporary files.  Temporary files live outside the mount, so
 * that nothing but the final commit touches the record. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "recctl.h"

static int status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return EXIT_ERR;
}

/* The child's stdin holds all of @in before it starts: a memfd, not a
 * pipe, so a CMD that writes before it reads cannot deadlock with us. */
static int input_fd(const void *in, size_t inlen)
{
	int fd, rc;

	if (!in) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	fd = memfd_create("recctl-stdin", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = rc_write_all(fd, in, inlen);
	if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Fork and exec; an exec failure comes back through a close-on-exec
 * pipe as its errno, so "not found" is told from "exited 127". */
static int spawn(char *const argv[], int in_fd, int out_fd, int tty,
		 pid_t *pid_out)
{
	int ep[2], err = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(ep, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(ep[0]);
		close(ep[1]);
		return err;
	}
	if (pid == 0) {
		if (tty) {
			signal(SIGINT, SIG_DFL);
			signal(SIGQUIT, SIG_DFL);
		}
		if ((in_fd >= 0 && dup2(in_fd, 0) < 0) ||
		    (out_fd >= 0 && dup2(out_fd, 1) < 0))
			err = errno;
		else
			execvp(argv[0], argv);
		err = err ? err : errno;
		if (write(ep[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	close(ep[1]);
	do
		n = read(ep[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(err)) {
		waitpid(pid, NULL, 0);
		return -err;
	}
	*pid_out = pid;
	return 0;
}

static int reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return status_of(st);
}

int rc_run(char *const argv[], const void *in, size_t inlen, char **out,
	   size_t *outlen)
{
	int in_fd = -1, op[2] = { -1, -1 }, rc, st;
	char *buf = NULL;
	size_t len = 0;
	pid_t pid = -1;

	in_fd = input_fd(in, inlen);
	if (in_fd < 0)
		return in_fd;
	if (out && pipe2(op, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out;
	}
	rc = spawn(argv, in_fd, op[1], 0, &pid);
	if (op[1] >= 0)
		close(op[1]);
	op[1] = -1;
	if (rc < 0)
		goto out;
	if (out)
		rc = rc_read_fd(op[0], &buf, &len);
	st = reap(pid);
	if (rc == 0)
		rc = st;
	if (rc >= 0 && out) {
		*out = buf;
		*outlen = len;
		buf = NULL;
	}
out:
	free(buf);
	if (in_fd >= 0)
		close(in_fd);
	if (op[0] >= 0)
		close(op[0]);
	return rc;
}

int rc_run_tty(char *const argv[])
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, oint, oquit;
	pid_t pid;
	int rc;

	/* Like system(3): Ctrl-C in the editor belongs to the editor, and
	 * must not kill us and lose the text it saved. */
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &oint);
	sigaction(SIGQUIT, &ign, &oquit);
	fflush(stdout);
	fflush(stderr);
	rc = spawn(argv, -1, -1, 1, &pid);
	if (rc == 0)
		rc = reap(pid);
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGQUIT, &oquit, NULL);
	return rc;
}

int rc_tmpdir(char **dir)
{
	const char *t = getenv("TMPDIR");

	if (!t || !*t)
		t = "/tmp";
	if (asprintf(dir, "%s/recctl.XXXXXX", t) < 0)
		return -ENOMEM;
	if (!mkdtemp(*dir)) {
		int rc = -errno;

		free(*dir);
		*dir = NULL;
		return rc;
	}
	return 0;
}

int rc_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return -errno;
	rc = rc_write_all(fd, buf, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

void rc_rm_tmpdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *p;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (asprintf(&p, "%s/%s", dir, e->d_name) >= 0) {
			unlink(p);
			free(p);
		}
	}
	closedir(d);
	rmdir(dir);
}

/* fakesudo.c - a stand-in for sudo, for tests/e2e_basis_tree.sh.
 * Installed setuid root, it becomes root (real uid too), forks, and runs
 * argv[1..] in the child, in a new session as sudo with a pty does; with
 * -n first, in the caller's session.  It waits for the child and exits
 * with its status, so the caller's shell sees the command's outcome. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int newsid = 1, st;
	pid_t c;

	if (argc > 1 && strcmp(argv[1], "-n") == 0) {
		newsid = 0;
		argv++;
		argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: fakesudo [-n] COMMAND [ARG...]\n");
		return 2;
	}
	if (setgid(0) || setuid(0)) {
		perror("fakesudo: setuid");
		return 1;
	}
	c = fork();
	if (c < 0) {
		perror("fakesudo: fork");
		return 1;
	}
	if (c == 0) {
		if (newsid)
			setsid();
		execvp(argv[1], argv + 1);
		perror("fakesudo: exec");
		_exit(127);
	}
	if (waitpid(c, &st, 0) < 0)
		return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* etcd_fixture.c - a real etcd for the tests (etcd_fixture.h). */
#include "etcd_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcd_client.h"

int64_t etf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int etf_loop_socket(int backlog, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len) ||
	    (backlog >= 0 && listen(fd, backlog))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	if (backlog < 0) {
		close(fd);
		return 0;
	}
	return fd;
}

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

void etf_show_log(const struct etf *f)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "tail -n 20 %s/etcd.log >&2", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "(no etcd log)\n");
}

static void exec_etcd(const char *bin, const char *dir, int cport, int pport)
{
	char data[96], log[96], curl[64], purl[64], cluster[80];
	int fd;

	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(log, sizeof(log), "%s/etcd.log", dir);
	snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", cport);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof(cluster), "default=%s", purl);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execl(bin, bin, "--data-dir", data, "--name", "default",
	      "--listen-client-urls", curl, "--advertise-client-urls", curl,
	      "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
	      "--initial-cluster", cluster, (char *)NULL);
	_exit(127);
}

int etf_start(struct etf *f)
{
	const char *bin = getenv("RECFS_ETCD") ? getenv("RECFS_ETCD")
					       : "/usr/bin/etcd";
	struct etcdc_opts o = { .timeout_ms = 500 };
	struct etcdc *c = NULL;
	struct etcdc_kv kv;
	int cport, pport, rc = -1;
	int64_t end = etf_now_ms() + 20000;

	memset(f, 0, sizeof(*f));
	if (access(bin, X_OK)) {
		fprintf(stderr, "FAILED: %s not found: the etcd tests need a "
				"real etcd (apt-get install etcd-server)\n",
			bin);
		return -1;
	}
	strcpy(f->dir, "/tmp/recfs-test-etcd-XXXXXX");
	if (!mkdtemp(f->dir) || etf_loop_socket(-1, &cport) ||
	    etf_loop_socket(-1, &pport)) {
		f->dir[0] = 0;
		return -1;
	}
	snprintf(f->ep, sizeof(f->ep), "127.0.0.1:%d", cport);
	f->pid = fork();
	if (f->pid == 0)
		exec_etcd(bin, f->dir, cport, pport);
	if (f->pid < 0 || etcdc_open(f->ep, &o, &c))
		return -1;
	while (etf_now_ms() < end && rc != 0 && rc != -ENOENT) {
		if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
			f->pid = 0;
			break;
		}
		rc = etcdc_get(c, "ready", 5, &kv, NULL);
		if (rc == 0)
			etcdc_kv_clear(&kv);
		else if (rc != -ENOENT)
			usleep(100 * 1000);
	}
	etcdc_close(c);
	if (rc != 0 && rc != -ENOENT) {
		fprintf(stderr, "FAILED: etcd did not answer on %s (%s)\n",
			f->ep, strerror(-rc));
		etf_show_log(f);
		return -1;
	}
	return 0;
}

void etf_stop(struct etf *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGCONT);
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
		f->pid = 0;
	}
	if (f->dir[0])
		nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	f->dir[0] = 0;
}

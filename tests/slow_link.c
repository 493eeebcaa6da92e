/* slow_link.c - a rate-limited TCP proxy for tests (slow_link.h).
 * One thread accepts; each connection has a thread of its own that
 * copies both ways, holding each chunk from the server for the delay
 * and sleeping after it as long as the chunk takes at the rate. */
#include "slow_link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define CHUNK 16384

struct conn {
	int cfd, sfd;
	long rate;
	atomic_long *delay_ms;
	pthread_t th;
};

struct slow_link {
	int lfd, to_port;
	long rate;
	atomic_long delay_ms;
	atomic_int stop;
	pthread_t th;
	struct conn conns[MAX_CONNS];
	int n;
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	nanosleep(&ts, NULL);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct pollfd p[2] = { { c->cfd, POLLIN, 0 }, { c->sfd, POLLIN, 0 } };
	char *buf = malloc(CHUNK);

	while (buf && poll(p, 2, -1) > 0) {
		int from = p[0].revents ? 0 : 1;
		ssize_t n = read(p[from].fd, buf, CHUNK);

		if (n > 0 && from == 1 && atomic_load(c->delay_ms) > 0)
			sleep_ns(atomic_load(c->delay_ms) * 1000000);
		if (n <= 0 || write_all(p[!from].fd, buf, (size_t)n) < 0)
			break;
		if (from == 1)
			sleep_ns((long)((double)n / c->rate * 1e9));
	}
	free(buf);
	close(c->cfd);
	close(c->sfd);
	return NULL;
}

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void *accept_main(void *arg)
{
	struct slow_link *l = arg;
	struct pollfd p = { l->lfd, POLLIN, 0 };

	while (!atomic_load(&l->stop)) {
		int cfd, sfd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		cfd = accept4(l->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		sfd = dial(l->to_port);
		if (sfd < 0 || l->n == MAX_CONNS) {
			close(cfd);
			if (sfd >= 0)
				close(sfd);
			continue;
		}
		l->conns[l->n] = (struct conn){ cfd, sfd, l->rate,
						&l->delay_ms, 0 };
		if (pthread_create(&l->conns[l->n].th, NULL, conn_main,
				   &l->conns[l->n]) == 0)
			l->n++;
		else {
			close(cfd);
			close(sfd);
		}
	}
	return NULL;
}

struct slow_link *slow_link_start(int to_port, long rate, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	struct slow_link *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->to_port = to_port;
	l->rate = rate;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->lfd < 0 || bind(l->lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(l->lfd, (struct sockaddr *)&a, &len) ||
	    listen(l->lfd, 16) ||
	    pthread_create(&l->th, NULL, accept_main, l)) {
		if (l->lfd >= 0)
			close(l->lfd);
		free(l);
		return NULL;
	}
	*port = ntohs(a.sin_port);
	return l;
}

void slow_link_set_delay(struct slow_link *l, long ms)
{
	atomic_store(&l->delay_ms, ms);
}

void slow_link_stop(struct slow_link *l)
{
	atomic_store(&l->stop, 1);
	pthread_join(l->th, NULL);
	close(l->lfd);
	for (int i = 0; i < l->n; i++)
		pthread_join(l->conns[i].th, NULL);
	free(l);
}

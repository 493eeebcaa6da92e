/* etcd_fixture.h - a real etcd for the tests that need one.
 *
 * etf_start() runs /usr/bin/etcd (Debian's etcd-server; RECFS_ETCD names
 * another binary) on free loopback ports with a temporary data
 * directory and waits until it answers; etf_stop() kills it and removes
 * the directory.  If the test process dies, the kernel kills etcd
 * (PR_SET_PDEATHSIG).  A missing etcd is a failure, not a skip: it is a
 * test dependency that CI installs. */
#ifndef RECFS_ETCD_FIXTURE_H
#define RECFS_ETCD_FIXTURE_H

#include <stdint.h>
#include <sys/types.h>

struct etf {
	pid_t pid;
	char dir[64];
	char ep[32];    /* the live etcd, "127.0.0.1:port" */
};

int64_t etf_now_ms(void);

/* A loopback socket on a free port; @backlog < 0: bound only, closed
 * again (a port nobody listens on), else listening and never accepting
 * (a peer that takes connections and never answers).  @return 0 (bound
 * only), the listening fd, or -1. */
int etf_loop_socket(int backlog, int *port);

/* Start etcd and wait (up to 20 s) until it answers a read.
 * @return 0, or -1 after printing why. */
int etf_start(struct etf *f);

/* Kill etcd (also a stopped one) and remove its directory. */
void etf_stop(struct etf *f);

/* The tail of etcd's log on stderr (after a failure). */
void etf_show_log(const struct etf *f);

#endif

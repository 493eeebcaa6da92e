/* slow_link.h - a TCP proxy on loopback that passes what the server
 * sends at a set rate, and after a set delay: a slow network, or a slow
 * server, between a test and its etcd.  What the client sends goes
 * through at once. */
#ifndef RECFS_SLOW_LINK_H
#define RECFS_SLOW_LINK_H

struct slow_link;

/* Start a proxy to 127.0.0.1:@to_port passing the server's bytes at
 * @rate bytes per second.  *@port is the proxy's.
 * @return the proxy, or NULL (errno set). */
struct slow_link *slow_link_start(int to_port, long rate, int *port);

/* From now on hold each chunk the server sends @ms milliseconds before
 * passing it on (0: none), on every connection: an etcd that answers
 * late. */
void slow_link_set_delay(struct slow_link *l, long ms);

/* Stop taking connections, wait for the open ones to end (their client
 * must have closed them), and free the proxy. */
void slow_link_stop(struct slow_link *l);

#endif

/* slow_proxy.c - tests/slow_link.c as a program, for end-to-end tests:
 * `slow_proxy PORT` proxies a loopback port to 127.0.0.1:PORT, prints
 * its own port, then holds each chunk the server sends for the number
 * of milliseconds last read from stdin (one number a line; 0: none).
 * It ends at the end of its input. */
#include <stdio.h>
#include <stdlib.h>

#include "slow_link.h"

int main(int argc, char **argv)
{
	struct slow_link *l;
	char line[64];
	int port;

	if (argc != 2)
		return 2;
	l = slow_link_start(atoi(argv[1]), 1000000000L, &port);
	if (!l) {
		perror("slow_proxy");
		return 1;
	}
	printf("%d\n", port);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		slow_link_set_delay(l, atol(line));
	/* (not slow_link_stop: it waits for the client to close) */
	return 0;
}

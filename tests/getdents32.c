/* getdents32.c - a 32-bit task's getdents(2) of its working directory,
 * for e2e_mount.sh.  Built with -m32 -static -nostdlib (no 32-bit libc
 * needed): the i386 system calls by int $0x80.  Exit status 0 if it
 * listed something, else the errno (EOVERFLOW, 75: an entry's inode
 * number does not fit the 32-bit d_ino). */
static int sys3(int n, int a, int b, int c)
{
	int r;

	__asm__ volatile("int $0x80"
			 : "=a"(r)
			 : "a"(n), "b"(a), "c"(b), "d"(c)
			 : "memory");
	return r;
}

static char buf[4096];

void _start(void)
{
	/* open(".", O_DIRECTORY), then getdents (i386: 5 and 141) */
	int fd = sys3(5, (int)".", 0200000, 0);
	int n = fd < 0 ? fd : sys3(141, fd, (int)buf, sizeof(buf));

	sys3(1, n > 0 ? 0 : n == 0 ? 100 : -n, 0, 0); /* exit */
	for (;;)
		;
}

/* uring.h - FUSE requests over io_uring, beside libfuse's /dev/fuse loop.
 *
 * Linux 6.14 and later can hand a FUSE daemon its requests through
 * io_uring instead of read(2)/writev(2) on /dev/fuse: one queue per CPU,
 * each request queued on the CPU its caller runs on, and answered (and
 * the next one fetched) in one system call.  libfuse 3.14 does not know
 * the protocol, so this module speaks it under libfuse: it installs a
 * custom I/O on the session, adds FUSE_OVER_IO_URING to the INIT reply
 * when the kernel offered it, registers one ring entry per worker thread,
 * and feeds each request to fuse_session_process_buf(); the reply that
 * libfuse writes is caught and committed through the ring instead.
 *
 * libfuse's own loop still reads /dev/fuse: the kernel sends INIT,
 * FORGET and INTERRUPT there, and everything else too when the kernel
 * does not offer the ring (fuse.enable_uring=0, an older kernel) or a
 * registration fails.  So attaching never costs a working mount.
 *
 * One session per process may use it (the custom I/O callbacks get the
 * file system's userdata, not ours).
 */
#ifndef RFS_URING_H
#define RFS_URING_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>

struct rfs_uring;

/* Install the custom I/O on se, which is mounted and whose loop has not
 * started.  per_queue worker threads (0: about 64 in all, at least 8 per
 * queue) serve each CPU's queue once the kernel accepts the ring (after
 * INIT); each is pinned to its queue's CPU.  Returns 0 and *out, or
 * -EINVAL (a session already has one), -ENOMEM, -EAGAIN (a worker
 * thread could not be started; none is left running), or the error of
 * fuse_session_custom_io(). */
int rfs_uring_attach(struct fuse_session *se, unsigned per_queue,
		     struct rfs_uring **out);

/* Stop and join the worker threads and free u (NULL is allowed).  Call
 * after the session loop has returned; requests still queued on the
 * ring are then answered by the kernel with ENOTCONN at unmount. */
void rfs_uring_detach(struct rfs_uring *u);

/* Before a handler waits for another request to end something (a
 * lease): a waiting request holds its worker's entry, and the kernel
 * queues a request only on its caller's CPU, so once every entry of a
 * queue waits, the request that would end the waits (the flush of the
 * lease's holder, from that CPU) is held behind them until they time
 * out.  So at most half of a queue's workers wait at once.  Returns 1
 * (counted: call rfs_uring_wait_end() after the wait), 0 (not a ring
 * worker: nothing to count), or -EBUSY (the queue cannot spare it). */
int rfs_uring_wait_begin(void);
void rfs_uring_wait_end(void);

#endif

/* uring.c - FUSE requests over io_uring; see uring.h.
 *
 * The protocol (Linux's fs/fuse/dev_uring.c, uapi fuse.h 7.42):
 * - the daemon sets FUSE_OVER_IO_URING in INIT's flags2; from then on the
 *   kernel holds every request until each CPU's queue has an entry;
 * - an entry is a 288-byte header buffer (the fuse_in_header, the
 *   operation's own first argument, a small struct with the payload size
 *   and the request's id) and a payload buffer (the other arguments);
 *   it is registered by an IORING_OP_URING_CMD, which completes when a
 *   request has been copied into it;
 * - the reply goes into the same buffers (out header; the reply's
 *   arguments in the payload) and COMMIT_AND_FETCH hands it back and
 *   waits for the next request in one call.
 *
 * Each worker thread owns one io_uring and one entry, so a request is
 * always answered by the thread that took it, inside
 * fuse_session_process_buf(): the writev hook sees the reply on the
 * same thread (tls_worker) and copies it into the entry.  A handler that
 * blocks (a sync, a lease wait) blocks only its own entry; the kernel
 * gives the queue's next request to another idle one.
 */
#include "uring.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* --- the kernel's ABI, which Debian 12's headers predate --- */
#define UR_FUSE_INIT 26
#define UR_INIT_EXT (1u << 30)		 /* fuse_init_in/out.flags */
#define UR_OVER_IO_URING2 (1u << 9)	 /* FUSE_OVER_IO_URING >> 32 */
#define UR_CMD_REGISTER 1
#define UR_CMD_COMMIT_AND_FETCH 2
#define UR_HDR_SZ 128

struct ur_in_header {			/* struct fuse_in_header */
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};

struct ur_out_header {			/* struct fuse_out_header */
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct ur_req_header {			/* struct fuse_uring_req_header */
	char in_out[UR_HDR_SZ];
	char op_in[UR_HDR_SZ];
	struct {
		uint64_t flags, commit_id;
		uint32_t payload_sz, padding;
		uint64_t reserved;
	} ent;
};

struct ur_cmd_req {			/* struct fuse_uring_cmd_req */
	uint64_t flags, commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

/* Offsets in fuse_init_in (after the in header) and fuse_init_out. */
#define UR_INIT_IN_FLAGS 12
#define UR_INIT_IN_FLAGS2 16
#define UR_INIT_OUT_FLAGS 12
#define UR_INIT_OUT_MAX_WRITE 20
#define UR_INIT_OUT_MAX_PAGES 28
#define UR_INIT_OUT_FLAGS2 32
#define UR_INIT_OUT_MIN 40

#define UR_SQE_SZ 128			/* IORING_SETUP_SQE128 */
#define UR_NICE (-5)			/* the workers' nice value */
#define UR_REGISTER_WAIT_S 2		/* see register_wait() */
#define UR_UD_REQ 1			/* user_data of the entry's command */
#define UR_UD_STOP 2			/* user_data of the stop poll */
#define UR_UD_NOP 3			/* user_data of ring_nop()'s NOP */
/* Room before the payload for the in header and the op's argument, so
 * that the request is contiguous for libfuse without copying the data. */
#define UR_PREFIX (sizeof(struct ur_in_header) + UR_HDR_SZ)

struct ur_worker {
	struct rfs_uring *u;
	pthread_t tid;
	unsigned qid;
	int ring, started, ok;
	int err;			/* why not ok: a negative errno */
	void *sq_map, *cq_map, *sqes;
	size_t sq_len, cq_len, sqes_len;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	struct ur_req_header hdr;
	char *mem;			/* UR_PREFIX + payload */
	struct iovec iov[2];
	uint64_t unique;		/* the request being answered, or 0 */
	int replied;
};

struct rfs_uring {
	struct fuse_session *se;
	int fd;				/* /dev/fuse */
	int stopfd;			/* eventfd: readable when stopping */
	unsigned nq, per_queue, nw;
	struct ur_worker *w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready;			/* workers whose ring is set up */
	unsigned registered;		/* workers that submitted their entry */
	int go;				/* 1: register; -1: exit */
	uint64_t init_unique;		/* the INIT request, 0 once answered
					   (atomic: any thread's reply
					   is checked against it) */
	int offered;			/* the kernel offered the ring */
	size_t payload;			/* payload buffer per entry */
	atomic_uint served;		/* workers that answered a request */
	atomic_uint *waiting;		/* per queue: workers in a long wait */
};

/* The custom I/O callbacks are handed the file system's userdata, so the
 * session's ring is found here: one per process (uring.h). */
static struct rfs_uring *ur_session;
static _Thread_local struct ur_worker *tls_worker;

static int sys_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned wait, unsigned flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags,
			    NULL, 0);
}

static unsigned possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	unsigned a = 0, b = 0, max = 0;
	int c;

	if (!f)
		return 0;
	/* "0-1", "0", "0-3,8-11": the highest number, plus one. */
	while (fscanf(f, "%u", &a) == 1) {
		b = a;
		c = fgetc(f);
		if (c == '-' && fscanf(f, "%u", &b) == 1)
			c = fgetc(f);
		if (b + 1 > max)
			max = b + 1;
		if (c != ',')
			break;
	}
	fclose(f);
	return max;
}

static void ring_unmap(struct ur_worker *w)
{
	if (w->sqes)
		munmap(w->sqes, w->sqes_len);
	if (w->cq_map && w->cq_map != w->sq_map)
		munmap(w->cq_map, w->cq_len);
	if (w->sq_map)
		munmap(w->sq_map, w->sq_len);
	if (w->ring >= 0)
		close(w->ring);
	w->sqes = w->cq_map = w->sq_map = NULL;
	w->ring = -1;
}

static struct io_uring_sqe *sqe_get(struct ur_worker *w);
static void sqe_push(struct ur_worker *w);
static int ring_map(struct ur_worker *w, const struct io_uring_params *p);

/* Take the oldest completion off w's ring: 1 and its user_data and
 * result, or 0 if there is none. */
static int cqe_pop(struct ur_worker *w, uint64_t *ud, int *res)
{
	unsigned head = *w->cq_head;
	struct io_uring_cqe *cqe;

	if (head == atomic_load_explicit((_Atomic unsigned *)w->cq_tail,
					 memory_order_acquire))
		return 0;
	cqe = &w->cqes[head & *w->cq_mask];
	*ud = cqe->user_data;
	*res = cqe->res;
	atomic_store_explicit((_Atomic unsigned *)w->cq_head, head + 1,
			      memory_order_release);
	return 1;
}

/* Submit a NOP and take its completion. */
static int ring_nop(struct ur_worker *w)
{
	struct io_uring_sqe *sqe = sqe_get(w);
	uint64_t ud;
	int rc, res;

	sqe->opcode = IORING_OP_NOP;
	sqe->user_data = UR_UD_NOP;
	sqe_push(w);
	do
		rc = sys_enter(w->ring, 1, 1, IORING_ENTER_GETEVENTS);
	while (rc < 0 && errno == EINTR);
	return rc == 1 && cqe_pop(w, &ud, &res) && ud == UR_UD_NOP ? 0 : -EIO;
}

/* Set up the worker's ring in the thread that will use it: with
 * SINGLE_ISSUER the creator is the only task allowed to submit, and with
 * DEFER_TASKRUN the kernel's copy of a request into our buffers runs when
 * that task waits for completions. */
static int ring_setup(struct ur_worker *w)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
		  IORING_SETUP_DEFER_TASKRUN;
	w->ring = sys_setup(4, &p);
	if (w->ring < 0 && errno == EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_SQE128;
		w->ring = sys_setup(4, &p);
	}
	if (w->ring < 0)
		return -errno;
	if (ring_map(w, &p) < 0)
		return -ENOMEM;
	/* Prove a round trip through the ring before INIT asks the kernel
	 * for it: once asked, the kernel holds every request until each
	 * queue has registered an entry. */
	if (ring_nop(w) < 0) {
		ring_unmap(w);
		return -EIO;
	}
	return 0;
}

/* Map the rings of w->ring, set up with p; on failure unmap and close. */
static int ring_map(struct ur_worker *w, const struct io_uring_params *p)
{
	char *sq;

	w->sq_len = p->sq_off.array + p->sq_entries * sizeof(unsigned);
	w->cq_len = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	if (p->features & IORING_FEAT_SINGLE_MMAP) {
		if (w->cq_len > w->sq_len)
			w->sq_len = w->cq_len;
		w->cq_len = w->sq_len;
	}
	w->sq_map = mmap(NULL, w->sq_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, w->ring, IORING_OFF_SQ_RING);
	if (w->sq_map == MAP_FAILED) {
		w->sq_map = NULL;
		goto fail;
	}
	if (p->features & IORING_FEAT_SINGLE_MMAP) {
		w->cq_map = w->sq_map;
	} else {
		w->cq_map = mmap(NULL, w->cq_len, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_POPULATE, w->ring,
				 IORING_OFF_CQ_RING);
		if (w->cq_map == MAP_FAILED) {
			w->cq_map = NULL;
			goto fail;
		}
	}
	w->sqes_len = p->sq_entries * UR_SQE_SZ;
	w->sqes = mmap(NULL, w->sqes_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, w->ring, IORING_OFF_SQES);
	if (w->sqes == MAP_FAILED) {
		w->sqes = NULL;
		goto fail;
	}
	sq = w->sq_map;
	w->sq_head = (unsigned *)(sq + p->sq_off.head);
	w->sq_tail = (unsigned *)(sq + p->sq_off.tail);
	w->sq_mask = (unsigned *)(sq + p->sq_off.ring_mask);
	w->sq_array = (unsigned *)(sq + p->sq_off.array);
	w->cq_head = (unsigned *)((char *)w->cq_map + p->cq_off.head);
	w->cq_tail = (unsigned *)((char *)w->cq_map + p->cq_off.tail);
	w->cq_mask = (unsigned *)((char *)w->cq_map + p->cq_off.ring_mask);
	w->cqes = (struct io_uring_cqe *)((char *)w->cq_map + p->cq_off.cqes);
	return 0;
fail:
	ring_unmap(w);
	return -ENOMEM;
}

/* The next free SQE, zeroed (all 128 bytes), queued at the tail.  The
 * ring has 4 slots and a worker never has more than 2 in flight. */
static struct io_uring_sqe *sqe_get(struct ur_worker *w)
{
	unsigned tail = *w->sq_tail;
	unsigned idx = tail & *w->sq_mask;
	struct io_uring_sqe *sqe =
		(struct io_uring_sqe *)((char *)w->sqes + idx * UR_SQE_SZ);

	memset(sqe, 0, UR_SQE_SZ);
	w->sq_array[idx] = idx;
	return sqe;
}

static void sqe_push(struct ur_worker *w)
{
	atomic_store_explicit((_Atomic unsigned *)w->sq_tail, *w->sq_tail + 1,
			      memory_order_release);
}

static void prep_cmd(struct ur_worker *w, unsigned op, uint64_t commit_id)
{
	struct io_uring_sqe *sqe = sqe_get(w);
	struct ur_cmd_req *req = (struct ur_cmd_req *)sqe->cmd;

	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = w->u->fd;
	sqe->cmd_op = op;
	sqe->addr = (uint64_t)(uintptr_t)w->iov;
	sqe->len = 2;
	sqe->user_data = UR_UD_REQ;
	req->commit_id = commit_id;
	req->qid = (uint16_t)w->qid;
	sqe_push(w);
}

static void prep_stop_poll(struct ur_worker *w)
{
	struct io_uring_sqe *sqe = sqe_get(w);

	sqe->opcode = IORING_OP_POLL_ADD;
	sqe->fd = w->u->stopfd;
	sqe->poll32_events = POLLIN;
	sqe->user_data = UR_UD_STOP;
	sqe_push(w);
}

/* Answer the request in w's buffers: rebuild it as /dev/fuse would have
 * delivered it (in header, the op's argument, the payload; the payload
 * stays where the kernel put it) and let libfuse dispatch it.  The reply
 * lands in w's buffers through ur_writev(). */
static void serve(struct ur_worker *w)
{
	struct ur_in_header ih;
	struct ur_out_header *oh = (struct ur_out_header *)w->hdr.in_out;
	uint32_t psz = w->hdr.ent.payload_sz;
	struct fuse_buf fb;
	size_t hsz;
	char *start;

	memcpy(&ih, w->hdr.in_out, sizeof(ih));
	w->unique = ih.unique;
	w->replied = 0;
	if (ih.len < sizeof(ih) + psz || psz > w->u->payload ||
	    ih.len - sizeof(ih) - psz > UR_HDR_SZ)
		goto noreply;
	hsz = ih.len - sizeof(ih) - psz;
	start = w->mem + UR_PREFIX - hsz - sizeof(ih);
	memcpy(start, &ih, sizeof(ih));
	memcpy(start + sizeof(ih), w->hdr.op_in, hsz);
	memset(&fb, 0, sizeof(fb));
	fb.mem = start;
	fb.size = ih.len;
	fuse_session_process_buf(w->u->se, &fb);
	if (w->replied)
		goto out;
noreply:
	/* A request libfuse does not answer (or could not parse) still
	 * needs its entry back; the kernel ends it with this error. */
	memset(oh, 0, sizeof(*oh));
	oh->len = sizeof(*oh);
	oh->error = -EIO;
	oh->unique = ih.unique;
	w->hdr.ent.payload_sz = 0;
out:
	w->unique = 0;
}

static void report_registered(struct ur_worker *w)
{
	pthread_mutex_lock(&w->u->lock);
	w->u->registered++;
	pthread_cond_broadcast(&w->u->cond);
	pthread_mutex_unlock(&w->u->lock);
}

static int wait_go(struct ur_worker *w)
{
	struct rfs_uring *u = w->u;
	int go;

	pthread_mutex_lock(&u->lock);
	u->ready++;
	pthread_cond_broadcast(&u->cond);
	while (!u->go)
		pthread_cond_wait(&u->cond, &u->lock);
	go = u->go;
	pthread_mutex_unlock(&u->lock);
	return go;
}

/* Take the CQEs waiting on w's ring: a request is answered and its
 * COMMIT_AND_FETCH queued (*submit counts them); the stop, or an error on
 * the entry (ENOTCONN or ECONNABORTED at unmount; anything else: the
 * kernel refused the entry and went back to /dev/fuse), sets *stop. */
static void reap(struct ur_worker *w, unsigned *submit, int *stop)
{
	uint64_t ud;
	int res;

	while (cqe_pop(w, &ud, &res)) {
		if (ud == UR_UD_STOP || res < 0 || !submit) {
			/* ENOTCONN, ECONNABORTED: the connection is gone
			 * (unmount, a forced one, an abort): not news. */
			if (ud == UR_UD_REQ && res < 0 && res != -ENOTCONN &&
			    res != -ECONNABORTED && res != -ECANCELED)
				fprintf(stderr, "%s: io_uring: %s\n",
					program_invocation_short_name,
					strerror(-res));
			*stop |= ud == UR_UD_STOP || res < 0;
			continue;
		}
		if (!w->started) {
			w->started = 1;
			if (atomic_fetch_add(&w->u->served, 1) == 0)
				fprintf(stderr, "%s: requests come through "
					"io_uring (%u queues, %u workers each)\n",
					program_invocation_short_name,
					w->u->nq, w->u->per_queue);
		}
		serve(w);
		prep_cmd(w, UR_CMD_COMMIT_AND_FETCH,
			 ((struct ur_out_header *)w->hdr.in_out)->unique);
		(*submit)++;
	}
}

/* Serve requests until the stop; a reply prepared when it comes still
 * goes out. */
static void serve_loop(struct ur_worker *w)
{
	unsigned submit = 0;
	int stop = 0, rc;

	while (!stop) {
		rc = sys_enter(w->ring, submit, 1, IORING_ENTER_GETEVENTS);
		if (rc < 0 && errno != EINTR && errno != EAGAIN &&
		    errno != EBUSY)
			break;
		if (rc > 0)
			submit -= (unsigned)rc < submit ? (unsigned)rc : submit;
		reap(w, &submit, &stop);
	}
	if (submit)
		sys_enter(w->ring, submit, 0, 0);
}

/* A worker that did not register: wait for the stop, holding nothing
 * (INIT's thread gives the ring up, register_wait()). */
static void wait_for_stop(struct ur_worker *w)
{
	int stop = 0;

	while (!stop) {
		if (sys_enter(w->ring, 0, 1, IORING_ENTER_GETEVENTS) < 0 &&
		    errno != EINTR)
			break;
		reap(w, NULL, &stop);
	}
}

static void *worker_main(void *arg)
{
	struct ur_worker *w = arg;
	struct rfs_uring *u = w->u;
	int stall, rc;
	cpu_set_t set;

	tls_worker = w;
	/* On its queue's CPU: the caller that queued a request there is
	 * about to sleep, so the worker runs at once, without waking (or
	 * waiting for) another CPU.  Unpinned workers measured 1.5-8x
	 * slower and scattered.  A CPU we may not use leaves it unpinned. */
	CPU_ZERO(&set);
	CPU_SET(w->qid, &set);
	sched_setaffinity(0, sizeof(set), &set);
	/* And ahead of the callers (where we may raise it: root).  A worker
	 * that has just run a longer handler (a commit, ~20 us) and is woken
	 * again at once (for the RELEASE that follows the FLUSH) waits
	 * behind fresher tasks at nice 0; with a task queued on its CPU the
	 * scheduler wakes the caller on the other, idle CPU, and waking an
	 * idle vCPU costs ~40 us here.  Measured: 1.5 migrations of the
	 * caller per versioned update at nice 0, none at -5; one writer
	 * +53 %, 8 writers within the noise (docs/PERFORMANCE-HISTORY.md,
	 * "FUSE over io_uring"). */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), UR_NICE);
	w->err = ring_setup(w);
	if (w->err == 0) {
		w->mem = malloc(UR_PREFIX + u->payload);
		w->err = w->mem ? 0 : -ENOMEM;
	}
	w->ok = w->err == 0;
	if (wait_go(w) < 0 || !w->ok)
		goto out;
	w->iov[0].iov_base = &w->hdr;
	w->iov[0].iov_len = sizeof(w->hdr);
	w->iov[1].iov_base = w->mem + UR_PREFIX;
	w->iov[1].iov_len = u->payload;
	prep_stop_poll(w);
	/* RFS_URING_STALL=1 (tests only): CPU 0's workers never register,
	 * as ones that hung or failed before they could, so the kernel's
	 * ring is never ready; see register_wait(). */
	stall = w->qid == 0 && getenv("RFS_URING_STALL") != NULL;
	if (!stall)
		prep_cmd(w, UR_CMD_REGISTER, 0);
	/* Submit without waiting, then tell INIT's thread: the kernel has
	 * taken (or refused) the registration by the time this returns. */
	do
		rc = sys_enter(w->ring, *w->sq_tail - *w->sq_head, 0, 0);
	while (rc < 0 && errno == EINTR);
	if (rc < 0 || stall) {
		wait_for_stop(w);
	} else {
		report_registered(w);
		serve_loop(w);
	}
out:
	ring_unmap(w);
	free(w->mem);
	w->mem = NULL;
	tls_worker = NULL;
	return NULL;
}

/* Copy libfuse's reply into the worker's entry. */
static ssize_t stash_reply(struct ur_worker *w, const struct iovec *iov,
			   int count)
{
	struct ur_out_header oh;
	char *dst = w->mem + UR_PREFIX;
	size_t n = 0;
	int i;

	memcpy(&oh, iov[0].iov_base, sizeof(oh));
	for (i = 1; i < count; i++) {
		if (n + iov[i].iov_len > w->u->payload) {
			errno = EINVAL;
			return -1;
		}
		memmove(dst + n, iov[i].iov_base, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	memcpy(w->hdr.in_out, &oh, sizeof(oh));
	w->hdr.ent.payload_sz = (uint32_t)n;
	w->replied = 1;
	return (ssize_t)(n + sizeof(oh));
}

static void start_workers(struct rfs_uring *u, int go)
{
	pthread_mutex_lock(&u->lock);
	u->go = go;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

/* Wait (up to UR_REGISTER_WAIT_S) until every worker has submitted its
 * entry: from INIT on, the kernel holds every request until each CPU's
 * queue has one.  -ETIMEDOUT if one has not. */
static int register_wait(struct rfs_uring *u)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += UR_REGISTER_WAIT_S;
	pthread_mutex_lock(&u->lock);
	while (u->registered < u->nw && rc == 0)
		rc = pthread_cond_timedwait(&u->cond, &u->lock, &until);
	rc = u->registered < u->nw ? -ETIMEDOUT : 0;
	pthread_mutex_unlock(&u->lock);
	return rc;
}

/* Make the kernel give the ring up, so that requests flow through
 * /dev/fuse instead of waiting for a queue that will never be ready: a
 * registration it must refuse (empty buffers) does that (fs/fuse/
 * dev_uring.c: a failed REGISTER clears the connection's io_uring).  On
 * a throwaway ring of this thread's, since the workers' rings accept
 * submissions from their own threads only.  The workers stay: should
 * the ring become ready after all, they serve it. */
static void give_up_ring(struct rfs_uring *u)
{
	struct ur_worker tmp;
	struct io_uring_params p;
	int rc;

	fprintf(stderr, "%s: io_uring: a worker did not register within %d s; "
		"requests go through /dev/fuse\n",
		program_invocation_short_name, UR_REGISTER_WAIT_S);
	memset(&tmp, 0, sizeof(tmp));
	memset(&p, 0, sizeof(p));
	tmp.u = u;
	p.flags = IORING_SETUP_SQE128;
	tmp.ring = sys_setup(2, &p);
	if (tmp.ring < 0 || ring_map(&tmp, &p) < 0)
		goto out;
	prep_cmd(&tmp, UR_CMD_REGISTER, 0); /* tmp.iov: empty buffers */
	do
		rc = sys_enter(tmp.ring, 1, 1, IORING_ENTER_GETEVENTS);
	while (rc < 0 && errno == EINTR);
out:
	ring_unmap(&tmp);
}

/* The INIT reply: ask for the ring when the kernel offered it and every
 * worker has its ring, and size the payload buffers from what libfuse
 * answered (max_write, max_pages). */
static ssize_t init_reply(struct rfs_uring *u, int fd, struct iovec *iov,
			  int count)
{
	unsigned char out[64];
	struct iovec v[2];
	uint32_t flags, flags2, max_write;
	uint16_t max_pages;
	size_t need;
	ssize_t n;
	unsigned i, ok = 1;
	int err = 0;

	__atomic_store_n(&u->init_unique, 0, __ATOMIC_RELAXED);
	if (count != 2 || iov[1].iov_len < UR_INIT_OUT_MIN ||
	    iov[1].iov_len > sizeof(out) || !u->offered)
		goto plain;
	memcpy(out, iov[1].iov_base, iov[1].iov_len);
	memcpy(&flags, out + UR_INIT_OUT_FLAGS, 4);
	memcpy(&flags2, out + UR_INIT_OUT_FLAGS2, 4);
	memcpy(&max_write, out + UR_INIT_OUT_MAX_WRITE, 4);
	memcpy(&max_pages, out + UR_INIT_OUT_MAX_PAGES, 2);
	/* The kernel's payload buffer: max(8 KiB, max_write, pages). */
	need = (size_t)max_pages * 4096;
	if (need < max_write)
		need = max_write;
	if (need < 8192)
		need = 8192;
	if (need > u->payload)
		ok = 0;
	pthread_mutex_lock(&u->lock);
	while (u->ready < u->nw)
		pthread_cond_wait(&u->cond, &u->lock);
	pthread_mutex_unlock(&u->lock);
	for (i = 0; i < u->nw; i++) {
		ok &= (unsigned)u->w[i].ok;
		if (!u->w[i].ok && !err)
			err = u->w[i].err;
	}
	if (!ok) {
		/* Offered and not taken: without a word, whoever turned the
		 * ring on could not tell why it is not used (io_uring
		 * refused by kernel.io_uring_disabled or a seccomp filter,
		 * too few descriptors for the rings). */
		fprintf(stderr, "%s: io_uring offered but not used: %s; "
			"requests go through /dev/fuse\n",
			program_invocation_short_name,
			err ? strerror(-err) : "replies too large for its buffers");
		goto plain;
	}
	flags |= UR_INIT_EXT;
	flags2 |= UR_OVER_IO_URING2;
	memcpy(out + UR_INIT_OUT_FLAGS, &flags, 4);
	memcpy(out + UR_INIT_OUT_FLAGS2, &flags2, 4);
	v[0] = iov[0];
	v[1].iov_base = out;
	v[1].iov_len = iov[1].iov_len;
	n = writev(fd, v, 2);
	start_workers(u, n < 0 ? -1 : 1);
	if (n >= 0 && register_wait(u) < 0)
		give_up_ring(u);
	return n;
plain:
	start_workers(u, -1);
	return writev(fd, iov, count);
}

static ssize_t ur_writev(int fd, struct iovec *iov, int count, void *ud)
{
	struct ur_worker *w = tls_worker;
	struct rfs_uring *u = ur_session;
	struct ur_out_header oh;

	(void)ud;
	if (count < 1 || iov[0].iov_len < sizeof(oh))
		return writev(fd, iov, count);
	memcpy(&oh, iov[0].iov_base, sizeof(oh));
	if (w && w->unique && oh.unique == w->unique)
		return stash_reply(w, iov, count);
	if (u && oh.unique &&
	    oh.unique == __atomic_load_n(&u->init_unique, __ATOMIC_RELAXED))
		return init_reply(u, fd, iov, count);
	return writev(fd, iov, count);
}

static ssize_t ur_read(int fd, void *buf, size_t len, void *ud)
{
	struct rfs_uring *u = ur_session;
	ssize_t n = read(fd, buf, len);
	struct ur_in_header ih;
	uint32_t flags, flags2;

	(void)ud;
	if (!u || n < (ssize_t)(sizeof(ih) + UR_INIT_IN_FLAGS2 + 4))
		return n;
	memcpy(&ih, buf, sizeof(ih));
	if (ih.opcode != UR_FUSE_INIT)
		return n;
	memcpy(&flags, (char *)buf + sizeof(ih) + UR_INIT_IN_FLAGS, 4);
	memcpy(&flags2, (char *)buf + sizeof(ih) + UR_INIT_IN_FLAGS2, 4);
	u->offered = (flags & UR_INIT_EXT) && (flags2 & UR_OVER_IO_URING2);
	__atomic_store_n(&u->init_unique, ih.unique, __ATOMIC_RELAXED);
	return n;
}

/* Stop the worker threads that were started, and join them. */
static void end_workers(struct rfs_uring *u)
{
	uint64_t one = 1;
	unsigned i;

	start_workers(u, -1);
	if (write(u->stopfd, &one, sizeof(one)) < 0)
		perror("io_uring stop");
	for (i = 0; i < u->nw; i++)
		if (u->w[i].u)
			pthread_join(u->w[i].tid, NULL);
}

int rfs_uring_attach(struct fuse_session *se, unsigned per_queue,
		     struct rfs_uring **out)
{
	const struct fuse_custom_io io = { .read = ur_read,
					   .writev = ur_writev };
	struct rfs_uring *u;
	sigset_t block, old;
	unsigned i;
	int rc = -ENOMEM;

	if (ur_session)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->se = se;
	u->fd = fuse_session_fd(se);
	u->stopfd = eventfd(0, EFD_CLOEXEC);
	u->nq = possible_cpus();
	/* RFS_URING_PER_QUEUE=N (tests only): the workers per queue of a
	 * machine with more CPUs (8 from 8 CPUs on). */
	if (per_queue == 0 && getenv("RFS_URING_PER_QUEUE"))
		per_queue = (unsigned)atoi(getenv("RFS_URING_PER_QUEUE"));
	/* Workers wait in handlers (a sync, a lease, the network), each
	 * holding its entry: about 64 in all, as libfuse's loop had. */
	if (per_queue == 0)
		per_queue = u->nq && 64 / u->nq > 8 ? 64 / u->nq : 8;
	u->per_queue = per_queue;
	u->nw = u->nq * per_queue;
	/* Up to 1 MiB writes (recfs's max_write) and 256 pages. */
	u->payload = 1u << 20;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	if (u->stopfd < 0 || u->nq == 0 || u->nq > 4096)
		goto fail;
	u->w = calloc(u->nw, sizeof(*u->w));
	u->waiting = calloc(u->nq, sizeof(*u->waiting));
	if (!u->w || !u->waiting)
		goto fail;
	/* The workers take no signal meant for the daemon's main thread. */
	sigfillset(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (i = 0, rc = 0; i < u->nw && rc == 0; i++) {
		struct ur_worker *w = &u->w[i];

		w->u = u;
		w->qid = i % u->nq;
		w->ring = -1;
		rc = -pthread_create(&w->tid, NULL, worker_main, w);
		if (rc < 0)
			w->u = NULL;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* A thread refused (an address-space limit: each worker's stack
	 * is 8 MiB) means none at all: the workers that did start would
	 * hold their stacks until INIT, and the daemon's own threads,
	 * started after us, failed and it exited 1 without a word. */
	if (rc == 0)
		rc = fuse_session_custom_io(se, &io, u->fd);
	if (rc < 0) {
		end_workers(u);
		goto fail;
	}
	ur_session = u;
	*out = u;
	return 0;
fail:
	if (u->stopfd >= 0)
		close(u->stopfd);
	free(u->w);
	free(u->waiting);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u);
	return rc;
}

void rfs_uring_detach(struct rfs_uring *u)
{
	if (!u)
		return;
	end_workers(u);
	ur_session = NULL;
	close(u->stopfd);
	free(u->w);
	free(u->waiting);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

int rfs_uring_wait_begin(void)
{
	struct ur_worker *w = tls_worker;
	atomic_uint *n;

	if (!w || !w->unique)
		return 0;
	n = &w->u->waiting[w->qid];
	if (atomic_fetch_add(n, 1) + 1 > w->u->per_queue / 2) {
		atomic_fetch_sub(n, 1);
		return -EBUSY;
	}
	return 1;
}

void rfs_uring_wait_end(void)
{
	struct ur_worker *w = tls_worker;

	if (w)
		atomic_fetch_sub(&w->u->waiting[w->qid], 1);
}

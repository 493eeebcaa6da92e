/* bench.h - what the parts of build/bench share: the targets, the rows of
 * results, the run's settings and the helpers.  See bench.c for the whole. */
#ifndef RECFS_BENCH_H
#define RECFS_BENCH_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define RECSZ 1024
#define NTHR 8
#define MAXW 32        /* writers of the shared workloads */
#define SHARED MAXW    /* the record index every writer shares */
#define MAXT 8
#define MAXROW 16
#define MAXREP 5

enum kind { K_RECFS, K_FLOOR, K_PLAIN, K_PSYNC, K_SQLITE, K_ETCD, K_FSYNC };

struct target {
	char name[64];
	enum kind kind;
	char where[512];
	char where2[512];          /* a second mount of the same store, or "" */
	const char *vname, *ename; /* version / declaration xattrs */
	char host[64];
	int port;
};

struct row {
	const char *name, *unit;
	double v[MAXT][MAXREP];
	long errs[MAXT];
};

#define BIGCHUNK (1u << 20)
/* QUICK=1 is the one-minute version: each concurrent run is
 * counted this long, after its warm-up (a smoke test of every part, not a
 * measurement). */
#define QUICK_TDUR 0.25
#define QUICK_TWARM 0.1
#define TWARM 0.3
#define REQ_N 200      /* operations per workload when counting requests */
#define REQ_BIG_MIB 64 /* MiB of the big record then */
#define NW 9         /* the speed workloads: W[] in bench_fs.c */

/* Each workload is an untimed setup and a timed body over records
 * 0..nrec-1 of one directory of one target.  The same functions serve the
 * timed runs and the request count (workload 12), so what is counted is
 * exactly what is timed. */
struct workload {
	const char *name, *unit;
	void (*setup)(int ti, int ri, const char *dir);
	void (*body)(int ti, int ri, const char *dir);
	int big; /* the amount is bigsz bytes in MB, not nrec operations */
};

/* bench.c */
extern struct target T[MAXT];
extern int nt;
extern struct row R[MAXROW];
extern int nrows, reps, nrec;
extern size_t bigsz;
extern double tdur, twarm;
extern char rec_data[RECSZ];
extern char *big_buf;
extern char logdir[400];      /* bench_requests.c */
extern uint64_t *vers;         /* bench_fs.c */
extern char etcd_val[RECSZ * 2]; /* bench_conc.c */
extern const struct workload W[NW]; /* bench_fs.c */

/* bench.c */
double now(void);
void die(const char *fmt, ...);
void fail(int ti, int ri, const char *what, int err);
int row_of(const char *name, const char *unit);

/* bench_fs.c */
int is_fs(const struct target *t);
void path_of(char *out, size_t n, const struct target *t,
	     const char *dir, const char *name, int i);
int put_file(const struct target *t, const char *p, int flags);
int seed_version(const struct target *t, const char *p);
int refused(int rc);
int fs_update(const struct target *t, const char *p);
void make_dirs(const char *dir);
void remove_dirs(const char *dir);
void speed_rep(int rep);

/* bench_conc.c */
size_t b64(char *out, const void *in, size_t n);
void conc_prepare(const struct target *t, const char *dir);
void conc_run(int ti, int rep, int nthr, int shared, const char *dir,
	      int rcommit, int rrefuse);
void conc_finish(void);

/* bench_report.c */
double median(int ri, int ti);
int target_named(const char *n);
void report(const char *outdir, const char *section,
	    const char *base1, const char *base2);
void verdicts(const char *outdir, const char *section);

/* bench_reopen.c */
void reopen_main(const char *outdir, char **a);

/* bench_requests.c */
void requests_main(const char *outdir);

#endif

/* bench - recfs against tmpfs, libfuse's passthrough_ll, a zero-work floor,
 * SQLite and etcd (issue 8).  scripts/bench/run.sh mounts the targets and
 * calls this; nothing here runs a shell, and every timed loop is system
 * calls between two clock_gettime(CLOCK_MONOTONIC) reads.
 *
 *   bench speed|durable|shared OUTDIR NAME=KIND:WHERE ...
 *   bench requests OUTDIR LOGDIR NAME=KIND:WHERE ...
 *   bench reopen OUTDIR RECFS MNT EMPTY_STORE FULL_STORE N KEY_MEAN
 *
 * KIND is how a target is driven:
 *   recfs  a directory on recfs: user.version, user.expected_version
 *   floor  a directory on floorfs: the same names, no check behind them
 *   plain  any other directory: the same calls on user.v and user.e
 *   psync  plain, with fdatasync before each close of a changed file
 *   sqlite a directory for a SQLite database (lock_version column)
 *   etcd   HOST:PORT of etcd's v3 JSON gateway (mod_revision compare)
 *   fsync  a directory: pwrite 1 KB + fdatasync, the disk's bare rate
 * A file system target's WHERE may name two mounts of one shared store,
 * "DIR1,DIR2" (recfs on etcd): writers alternate between them.
 *
 * shared (issue 9): the versioned update by 1 writer, by 32 writers on
 * 32 records and by 32 writers on one record, for recfs on etcd with its
 * writers spread over two mounts, against etcd itself (range, then a
 * txn comparing mod_revision) and a local recfs with sync=always.
 *
 * Workloads run interleaved: for each repetition, for each workload, every
 * target in turn (A B C D A B C D ...).  The figure is the median.
 * The concurrent workloads are counted for a fixed time after an untimed
 * warm-up in which the same threads already run.
 * QUICK=1 in the environment: 3 repetitions, smaller counts and shorter
 * concurrent runs.
 * Output: a table on stdout and OUTDIR/{speed,durable}.csv, plus
 * OUTDIR/{speed,durable}_ratios.dat for the chart.
 *
 * requests (workload 12, untimed): the single-threaded workloads with
 * few operations on daemons that run with -d, their stderr in
 * LOGDIR/NAME.log; the requests each one logged, per operation and by
 * opcode, go to OUTDIR/requests.{txt,csv}.
 * reopen (workload 11): starts RECFS on an empty store and on FULL_STORE
 * (N records, keys KEY_MEAN bytes on average, written by build/mkstore),
 * times each until the mount answers and reads the daemon's VmRSS;
 * OUTDIR/reopen.csv and a table on stdout.
 */
#include "bench.h"

struct target T[MAXT];
int nt;
struct row R[MAXROW];
int nrows, reps, nrec;
size_t bigsz;
double tdur, twarm;
char rec_data[RECSZ];
char *big_buf;

double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* One warning per (target, row); the row's figure is marked with '!'. */
void fail(int ti, int ri, const char *what, int err)
{
	if (R[ri].errs[ti]++ == 0)
		fprintf(stderr, "bench: %s, %s: %s: %s\n", T[ti].name,
			R[ri].name, what, strerror(err));
}

int row_of(const char *name, const char *unit)
{
	for (int i = 0; i < nrows; i++)
		if (strcmp(R[i].name, name) == 0)
			return i;
	if (nrows == MAXROW)
		die("too many rows");
	R[nrows].name = name;
	R[nrows].unit = unit;
	return nrows++;
}

static void parse_target(const char *arg)
{
	struct target *t = &T[nt];
	const char *eq = strchr(arg, '='), *co;
	static const char *kinds[] = { "recfs", "floor", "plain", "psync",
				       "sqlite", "etcd", "fsync" };
	size_t kl;
	int k;

	if (nt == MAXT)
		die("too many targets");
	co = eq ? strchr(eq, ':') : NULL;
	if (!eq || !co || (size_t)(eq - arg) >= sizeof(t->name))
		die("bad target '%s' (NAME=KIND:WHERE)", arg);
	memcpy(t->name, arg, (size_t)(eq - arg));
	kl = (size_t)(co - eq - 1);
	for (k = 0; k < 7; k++)
		if (strlen(kinds[k]) == kl && strncmp(eq + 1, kinds[k], kl) == 0)
			break;
	if (k == 7)
		die("unknown kind in '%s'", arg);
	t->kind = (enum kind)k;
	snprintf(t->where, sizeof(t->where), "%s", co + 1);
	if (t->kind <= K_PSYNC && strchr(t->where, ',')) {
		char *comma = strchr(t->where, ',');
		*comma = 0;
		snprintf(t->where2, sizeof(t->where2), "%s", comma + 1);
	}
	if (t->kind == K_RECFS || t->kind == K_FLOOR) {
		t->vname = "user.version";
		t->ename = "user.expected_version";
	} else {
		t->vname = "user.v";
		t->ename = "user.e";
	}
	if (t->kind == K_ETCD) {
		char *c = strrchr(t->where, ':');
		if (!c)
			die("etcd target needs HOST:PORT");
		size_t hl = (size_t)(c - t->where);
		if (hl >= sizeof(t->host))
			die("etcd host too long");
		memcpy(t->host, t->where, hl);
		t->host[hl] = 0;
		t->port = atoi(c + 1);
	}
	nt++;
}

/* The workloads run in a process that holds only its standard streams
 * and what the workloads open.  Descriptors inherited from whatever
 * started the bench (a shell's script file, a harness's pipes) would be
 * charged to recfs alone: at each save it reads the fdinfo of every
 * descriptor its writer holds (the contract's "no other writable
 * descriptor"), about 0.3 us each; no other target looks at them. */
static void close_inherited(void)
{
	if (close_range(3, ~0u, 0) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
}

int main(int argc, char **argv)
{
	const char *q = getenv("QUICK");
	int quick = q && *q && strcmp(q, "0") != 0, first = 3;
	const char *mode, *outdir;

	close_inherited();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4)
		die("usage: bench speed|durable|shared OUTDIR NAME=KIND:WHERE ...\n"
		    "       bench requests OUTDIR LOGDIR NAME=KIND:WHERE ...\n"
		    "       bench reopen OUTDIR RECFS MNT EMPTY FULL N KEYMEAN");
	mode = argv[1];
	outdir = argv[2];
	reps = quick ? 3 : 5;
	twarm = quick ? QUICK_TWARM : TWARM;
	/* For looking into the warm-up itself. */
	if (getenv("BENCH_WARM_S") && atof(getenv("BENCH_WARM_S")) >= 0)
		twarm = atof(getenv("BENCH_WARM_S"));
	nrec = quick ? 2000 : 10000;
	/* For looking into the record-count workloads at other sizes. */
	if (getenv("BENCH_NREC") && atoi(getenv("BENCH_NREC")) > 0)
		nrec = atoi(getenv("BENCH_NREC"));
	bigsz = (size_t)(quick ? 64 : 256) << 20;
	/* For looking into the big record alone at other sizes. */
	if (getenv("BENCH_BIG_MIB") && atol(getenv("BENCH_BIG_MIB")) > 0)
		bigsz = (size_t)atol(getenv("BENCH_BIG_MIB")) << 20;
	if (strcmp(mode, "reopen") == 0) {
		if (argc != 9)
			die("usage: bench reopen OUTDIR RECFS MNT EMPTY FULL N "
			    "KEYMEAN");
		reopen_main(outdir, argv + 3);
		return 0;
	}
	if (strcmp(mode, "requests") == 0) {
		snprintf(logdir, sizeof(logdir), "%s", argv[3]);
		first = 4;
		/* Few operations: every request is a line of -d output. */
		nrec = REQ_N;
		bigsz = (size_t)REQ_BIG_MIB << 20;
	}
	for (int i = first; i < argc; i++)
		parse_target(argv[i]);
	for (size_t i = 0; i < RECSZ; i++)
		rec_data[i] = (char)('a' + i % 26);
	b64(etcd_val, rec_data, RECSZ);

	if (strcmp(mode, "speed") == 0 || strcmp(mode, "requests") == 0) {
		vers = calloc((size_t)nt * (size_t)nrec, sizeof(*vers));
		/* Page-aligned: an unaligned 1 MiB write is split by the
		 * kernel into two FUSE WRITEs on every FUSE target. */
		big_buf = aligned_alloc(4096, BIGCHUNK);
		if (!vers || !big_buf)
			die("out of memory");
		memset(big_buf, 'b', BIGCHUNK);
	}
	if (strcmp(mode, "requests") == 0) {
		requests_main(outdir);
	} else if (strcmp(mode, "speed") == 0) {
		int rc1, rc2, rr2;
		tdur = quick ? QUICK_TDUR : 2.0;
		for (int ti = 0; ti < nt; ti++)
			conc_prepare(&T[ti], "conc");
		for (int rep = 0; rep < reps; rep++) {
			fprintf(stderr, "bench: speed, run %d of %d\n", rep + 1,
				reps);
			speed_rep(rep);
			/* workload 9 */
			rc1 = row_of("8 thr, 8 records", "com/s");
			rc2 = row_of("8 thr, 1 record", "com/s");
			rr2 = row_of("8 thr, 1 record refused", "ref/s");
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, NTHR, 0, "conc", rc1, -1);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, NTHR, 1, "conc", rc2, rr2);
		}
		report(outdir, "speed", "passthrough_ll", "floor");
		verdicts(outdir, "speed");
	} else if (strcmp(mode, "durable") == 0) {
		int r1 = row_of("1 thr, 1 record", "com/s");
		int r8 = row_of("8 thr, 8 records", "com/s");
		int rs = row_of("8 thr, 1 record", "com/s");
		int rsr = row_of("8 thr, 1 record refused", "ref/s");
		tdur = quick ? QUICK_TDUR : 3.0;
		for (int ti = 0; ti < nt; ti++)
			conc_prepare(&T[ti], "dur");
		for (int rep = 0; rep < reps; rep++) {
			fprintf(stderr, "bench: durable, run %d of %d\n",
				rep + 1, reps);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, 1, 0, "dur", r1, -1);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, NTHR, 0, "dur", r8, -1);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, NTHR, 1, "dur", rs, rsr);
		}
		report(outdir, "durable", "passthrough_ll", "sqlite");
		verdicts(outdir, "durable");
	} else if (strcmp(mode, "shared") == 0) {
		int r1 = row_of("1 writer", "com/s");
		int r32 = row_of("32 writers, 32 records", "com/s");
		int rs = row_of("32 writers, 1 record", "com/s");
		int rsr = row_of("32 writers, 1 record refused", "ref/s");
		tdur = quick ? QUICK_TDUR : 3.0;
		for (int ti = 0; ti < nt; ti++)
			conc_prepare(&T[ti], "shr");
		for (int rep = 0; rep < reps; rep++) {
			fprintf(stderr, "bench: shared, run %d of %d\n",
				rep + 1, reps);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, 1, 0, "shr", r1, -1);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, MAXW, 0, "shr", r32, -1);
			for (int ti = 0; ti < nt; ti++)
				conc_run(ti, rep, MAXW, 1, "shr", rs, rsr);
		}
		report(outdir, "shared", "etcd", "local");
	} else {
		die("unknown mode '%s'", mode);
	}
	conc_finish();
	return 0;
}

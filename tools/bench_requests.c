/* bench_requests.c - build/bench: FUSE requests per operation
 * (workload 12). */
#include "bench.h"

/* Counted from the daemons' -d output, which libfuse prints as one line
 * per request: "unique: N, opcode: NAME (n), nodeid: ...". */
#define MAXOP 48
static char opname[MAXOP][24];
static int nop;
static long reqs[NW][MAXT][MAXOP];
static int first_seen[NW][MAXT][MAXOP]; /* 1 + order of first sighting */
static int nops[NW];
char logdir[400];

static void log_path(char *out, size_t n, int ti)
{
	if (snprintf(out, n, "%s/%s.log", logdir, T[ti].name) >= (int)n)
		die("log path too long");
}

static int op_index(const char *name, size_t len)
{
	for (int i = 0; i < nop; i++)
		if (strlen(opname[i]) == len && strncmp(opname[i], name, len) == 0)
			return i;
	if (nop == MAXOP || len >= sizeof(opname[0]))
		return -ENOSPC;
	memcpy(opname[nop], name, len);
	opname[nop][len] = 0;
	return nop++;
}

/* Wait until the log has not grown for 0.2 s: the kernel sends RELEASE
 * and FORGET after the call that caused them has returned. */
static int settle(int ti, off_t *size)
{
	char path[600];
	double t0 = now(), since = t0;
	off_t last = -1;

	log_path(path, sizeof(path), ti);
	for (;;) {
		struct stat st;
		if (stat(path, &st) < 0)
			return -errno;
		if (st.st_size != last) {
			last = st.st_size;
			since = now();
		} else if (now() - since >= 0.2) {
			break;
		}
		if (now() - t0 > 30)
			return -ETIMEDOUT;
		usleep(20000);
	}
	*size = last;
	return 0;
}

/* Calls @fn with the opcode name and node id of every request that the
 * daemon of @ti logged between the offsets @from and @to. */
static int scan_log(int ti, off_t from, off_t to,
		    int (*fn)(void *ctx, const char *op, size_t oplen,
			      uint64_t node),
		    void *ctx)
{
	char path[600], *buf = NULL, *line, *end;
	size_t len = (size_t)(to - from);
	int fd, rc = 0;

	log_path(path, sizeof(path), ti);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	buf = malloc(len + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	if (pread(fd, buf, len, from) != (ssize_t)len) {
		rc = -EIO;
		goto out;
	}
	buf[len] = 0;
	for (line = buf; line && *line && !rc; line = end ? end + 1 : NULL) {
		char *op, *sp, *nd, *in;
		unsigned long n, insize;
		end = strchr(line, '\n');
		if (end)
			*end = 0;
		/* Replies are indented; requests start the line. */
		if (strncmp(line, "unique: ", 8) != 0 ||
		    !(op = strstr(line, ", opcode: ")))
			continue;
		op += 10;
		sp = strchr(op, ' ');
		nd = strstr(op, ", nodeid: ");
		if (!sp || !nd)
			continue;
		/* A batch counts once per inode it forgets (its size: the
		 * in header, fuse_batch_forget_in, 16 bytes an inode), as
		 * FORGET does: how the kernel groups the same forgets
		 * depends on how soon the daemon reads them. */
		n = 1;
		if ((size_t)(sp - op) == 12 &&
		    !strncmp(op, "BATCH_FORGET", 12) &&
		    (in = strstr(op, ", insize: ")) &&
		    (insize = strtoul(in + 10, NULL, 10)) >= 64)
			n = (insize - 48) / 16;
		while (n-- && !rc)
			rc = fn(ctx, op, (size_t)(sp - op),
				strtoull(nd + 10, NULL, 10));
	}
out:
	free(buf);
	close(fd);
	return rc;
}

static uint64_t dir_node[MAXT]; /* the workloads' directory, per target */

static int find_getxattr(void *ctx, const char *op, size_t oplen,
			 uint64_t node)
{
	if (oplen == 8 && strncmp(op, "GETXATTR", 8) == 0)
		*(uint64_t *)ctx = node;
	return 0;
}

/* Learn the node id of the workloads' directory on @ti from a getxattr
 * of it, so that requests on it can be told from those on records. */
static int probe_dir(int ti, const char *dir)
{
	char p[600], v[8];
	off_t a, b;
	int rc;

	snprintf(p, sizeof(p), "%s/%s", T[ti].where, dir);
	if ((rc = settle(ti, &a)) < 0)
		return rc;
	if (getxattr(p, "user.bench-probe", v, sizeof(v)) < 0 &&
	    errno != ENODATA)
		return -errno;
	if ((rc = settle(ti, &b)) < 0)
		return rc;
	dir_node[ti] = 0;
	rc = scan_log(ti, a, b, find_getxattr, &dir_node[ti]);
	return rc < 0 ? rc : dir_node[ti] ? 0 : -ENOENT;
}

struct count_ctx {
	int wi, ti, seq;
};

static int count_one(void *ctx, const char *op, size_t oplen, uint64_t node)
{
	struct count_ctx *c = ctx;
	char name[sizeof(opname[0])];
	const char *where = node == 1 ? "(root)"
			  : node == dir_node[c->ti] ? "(dir)" : "";
	int oi;

	if (snprintf(name, sizeof(name), "%.*s%s", (int)oplen, op, where) >=
	    (int)sizeof(name))
		return -ENAMETOOLONG;
	oi = op_index(name, strlen(name));
	if (oi < 0)
		return oi;
	if (reqs[c->wi][c->ti][oi]++ == 0)
		first_seen[c->wi][c->ti][oi] = ++c->seq;
	return 0;
}

static int count_requests(int wi, int ti, off_t from, off_t to)
{
	struct count_ctx c = { wi, ti, 0 };
	return scan_log(ti, from, to, count_one, &c);
}

static double per_op(int wi, int ti, int oi)
{
	return (double)reqs[wi][ti][oi] / (double)nops[wi];
}

static void fmt_count(char *out, size_t n, double v)
{
	if (v - (double)(long)(v + 0.5) > -0.005 &&
	    v - (double)(long)(v + 0.5) < 0.005)
		snprintf(out, n, "%ld", (long)(v + 0.5));
	else
		snprintf(out, n, "%.2f", v);
}

/* The opcodes of one workload on one target, in the order first seen. */
static void by_opcode(char *out, size_t n, int wi, int ti, double *total)
{
	int order[MAXOP], k = 0;
	size_t o = 0;

	*total = 0;
	for (int oi = 0; oi < nop; oi++)
		if (reqs[wi][ti][oi])
			order[k++] = oi;
	for (int i = 1; i < k; i++)
		for (int j = i; j > 0 && first_seen[wi][ti][order[j]] <
					     first_seen[wi][ti][order[j - 1]]; j--) {
			int x = order[j];
			order[j] = order[j - 1];
			order[j - 1] = x;
		}
	out[0] = 0;
	for (int i = 0; i < k && o < n; i++) {
		char c[32];
		fmt_count(c, sizeof(c), per_op(wi, ti, order[i]));
		*total += per_op(wi, ti, order[i]);
		o += (size_t)snprintf(out + o, n - o, "%s%s %s", i ? ", " : "",
				      opname[order[i]], c);
	}
}

/* bench requests OUTDIR LOGDIR NAME=KIND:WHERE ...  (the daemon of NAME
 * runs with -d, its stderr in LOGDIR/NAME.log) */
void requests_main(const char *outdir)
{
	const char *dir = "req";
	int rf = target_named("recfs"), fl = target_named("floor"), extra = 0;
	char path[600];
	FILE *txt, *csv;

	make_dirs(dir);
	for (int ti = 0; ti < nt; ti++) {
		int rc = probe_dir(ti, dir);
		if (rc < 0)
			die("%s: no GETXATTR of %s in its log: %s", T[ti].name,
			    dir, strerror(-rc));
	}
	for (int wi = 0; wi < NW; wi++) {
		const struct workload *w = &W[wi];
		int r = row_of(w->name, w->unit);
		nops[wi] = w->big ? (int)(bigsz / BIGCHUNK) : nrec;
		fprintf(stderr, "bench: requests, %s\n", w->name);
		for (int ti = 0; ti < nt; ti++) {
			off_t from, to;
			int rc;
			if (w->setup)
				w->setup(ti, r, dir);
			if ((rc = settle(ti, &from)) < 0)
				die("%s: log: %s", T[ti].name, strerror(-rc));
			w->body(ti, r, dir);
			if ((rc = settle(ti, &to)) < 0 ||
			    (rc = count_requests(wi, ti, from, to)) < 0)
				die("%s: log: %s", T[ti].name, strerror(-rc));
		}
	}
	remove_dirs(dir);

	snprintf(path, sizeof(path), "%s/requests.txt", outdir);
	txt = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/requests.csv", outdir);
	csv = fopen(path, "w");
	if (!txt || !csv)
		die("%s: %s", path, strerror(errno));
	fprintf(csv, "workload,target,opcode,requests,ops,per_op\n");
	fprintf(txt, "\nrequests per operation (%d operations of each "
		     "workload; seq: per 1 MiB call of %zu MiB)\n",
		nrec, bigsz >> 20);
	fprintf(txt, "(NAME(dir): on the workload's directory, NAME(root): on "
		     "the mount's root, NAME: on a record)\n");
	fprintf(txt, "%-20s %-14s %6s  %s\n", "workload", "target", "total",
		"by opcode, in the order first seen");
	for (int wi = 0; wi < NW; wi++) {
		for (int ti = 0; ti < nt; ti++) {
			char list[1024], c[32];
			double total;
			int r = row_of(W[wi].name, W[wi].unit);
			by_opcode(list, sizeof(list), wi, ti, &total);
			fmt_count(c, sizeof(c), total);
			fprintf(txt, "%-20s %-14s %5s%c  %s\n",
				ti ? "" : W[wi].name, T[ti].name, c,
				R[r].errs[ti] ? '!' : ' ', list);
			for (int oi = 0; oi < nop; oi++)
				if (reqs[wi][ti][oi])
					fprintf(csv, "\"%s\",%s,%s,%ld,%d,%.4f\n",
						W[wi].name, T[ti].name,
						opname[oi], reqs[wi][ti][oi],
						nops[wi], per_op(wi, ti, oi));
			fprintf(csv, "\"%s\",%s,total,%.0f,%d,%.4f\n",
				W[wi].name, T[ti].name, total * nops[wi],
				nops[wi], total);
		}
		if (rf < 0 || fl < 0)
			continue;
		/* Where recfs asks the kernel for more than the floor does
		 * (a difference under 0.05 per operation is a directory's
		 * lookup or a stray eviction, not the workload's).  FORGET
		 * and BATCH_FORGET count together: the kernel decides how
		 * it batches the same forgets. */
		{
			char list[1024] = "";
			size_t o = 0;
			int fo = -1, bfo = -1;
			for (int oi = 0; oi < nop; oi++) {
				if (strcmp(opname[oi], "FORGET") == 0)
					fo = oi;
				if (strcmp(opname[oi], "BATCH_FORGET") == 0)
					bfo = oi;
			}
			for (int oi = 0; oi < nop; oi++) {
				double d = per_op(wi, rf, oi) - per_op(wi, fl, oi);
				char c[32];
				if (oi == bfo && fo >= 0)
					continue;
				if (oi == fo && bfo >= 0)
					d += per_op(wi, rf, bfo) - per_op(wi, fl, bfo);
				if (d < 0.05 || o >= sizeof(list))
					continue;
				fmt_count(c, sizeof(c), d);
				o += (size_t)snprintf(list + o, sizeof(list) - o,
						      "%s%s +%s", o ? ", " : "",
						      opname[oi], c);
			}
			if (o) {
				fprintf(txt, "%-20s %-14s %6s  recfs > floor: %s\n",
					"", "FLAG", "", list);
				extra++;
			}
		}
	}
	if (rf >= 0 && fl >= 0)
		fprintf(txt, "recfs makes requests the floor does not in %d "
			     "of %d workloads\n", extra, NW);
	fclose(csv);
	fclose(txt);
}

/* bench_report.c - build/bench: the tables, CSV files and verdicts. */
#include "bench.h"

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double median(int ri, int ti)
{
	double s[MAXREP];
	memcpy(s, R[ri].v[ti], sizeof(double) * (size_t)reps);
	qsort(s, (size_t)reps, sizeof(double), cmpd);
	return reps % 2 ? s[reps / 2] : (s[reps / 2 - 1] + s[reps / 2]) / 2;
}

/* (largest - smallest) / @m, the median, of a row's runs on one target:
 * how far a single run may be from the median here. */
static double spread(int ri, int ti, double m)
{
	double lo = R[ri].v[ti][0], hi = lo;

	for (int i = 1; i < reps; i++) {
		if (R[ri].v[ti][i] < lo)
			lo = R[ri].v[ti][i];
		if (R[ri].v[ti][i] > hi)
			hi = R[ri].v[ti][i];
	}
	return m > 0 ? (hi - lo) / m : 0;
}

/* A figure whose runs spread wider than this is marked '~': a ratio
 * taken against it says more about the machine than about recfs. */
#define WIDE_SPREAD 0.3

int target_named(const char *n)
{
	for (int i = 0; i < nt; i++)
		if (strcmp(T[i].name, n) == 0)
			return i;
	return -1;
}

void report(const char *outdir, const char *section,
	    const char *base1, const char *base2)
{
	int rf = target_named("recfs"), b1 = target_named(base1),
	    b2 = target_named(base2);
	char path[600], l1[80], l2[80];
	FILE *csv, *dat;
	int anyerr = 0, anywide = 0;

	snprintf(path, sizeof(path), "%s/%s.csv", outdir, section);
	csv = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/%s_ratios.dat", outdir, section);
	dat = fopen(path, "w");
	if (!csv || !dat)
		die("%s: %s", path, strerror(errno));
	snprintf(l1, sizeof(l1), "recfs/%s", base1);
	snprintf(l2, sizeof(l2), "recfs/%s", base2);

	printf("\n%-28s %-6s", section, "unit");
	for (int ti = 0; ti < nt; ti++)
		printf(" %14s", T[ti].name);
	printf(" %14s %14s\n", l1, l2);
	fprintf(csv, "workload,unit,target,median");
	for (int i = 0; i < reps; i++)
		fprintf(csv, ",run%d", i + 1);
	fprintf(csv, ",errors\n");
	fprintf(dat, "workload \"%s\" \"%s\"\n", l1, l2);
	for (int ri = 0; ri < nrows; ri++) {
		double rv = rf >= 0 ? median(ri, rf) : 0;
		printf("%-28s %-6s", R[ri].name, R[ri].unit);
		for (int ti = 0; ti < nt; ti++) {
			double m = median(ri, ti);
			int wide = reps > 1 && spread(ri, ti, m) > WIDE_SPREAD;
			char mark = R[ri].errs[ti] ? '!' : wide ? '~' : ' ';

			printf(" %13.0f%c", m, mark);
			anyerr |= R[ri].errs[ti] != 0;
			anywide |= wide;
			fprintf(csv, "\"%s\",%s,%s,%.1f", R[ri].name, R[ri].unit,
				T[ti].name, m);
			for (int i = 0; i < reps; i++)
				fprintf(csv, ",%.1f", R[ri].v[ti][i]);
			fprintf(csv, ",%ld\n", R[ri].errs[ti]);
		}
		if (strcmp(R[ri].unit, "ref/s") == 0) {
			printf(" %14s %14s\n", "-", "-");
		} else {
			double m1 = b1 >= 0 ? median(ri, b1) : 0;
			double m2 = b2 >= 0 ? median(ri, b2) : 0;
			double r1 = m1 > 0 ? rv / m1 : 0, r2 = m2 > 0 ? rv / m2 : 0;
			printf(" %14.2f %14.2f\n", r1, r2);
			fprintf(dat, "\"%s\" %.4f %.4f\n", R[ri].name, r1, r2);
		}
	}
	fclose(csv);
	fclose(dat);
	if (anyerr)
		printf("('!': some operations failed, see the messages on "
		       "stderr)\n");
	if (anywide)
		printf("('~': its %d runs spread over more than %.0f %% of the "
		       "median; the runs are in %s.csv)\n",
		       reps, WIDE_SPREAD * 100, section);
}

/* The targets, judged in every run: recfs / BASE >= MIN on the
 * row of the section.  (Reopen and memory are judged in their own table;
 * "no request the floor does not make" in workload 12's.) */
static const struct goal {
	const char *section, *row, *base;
	double min;
} goals[] = {
	{ "speed", "create 1KB", "passthrough_ll", 1.0 },
	{ "speed", "create 1KB", "floor", 0.8 },
	{ "speed", "read 1KB warm", "passthrough_ll", 2.4 },
	{ "speed", "read 1KB warm", "floor", 0.8 },
	{ "speed", "versioned update", "passthrough_ll", 1.1 },
	{ "speed", "versioned update", "floor", 0.8 },
	{ "speed", "getxattr version", "passthrough_ll", 1.1 },
	{ "speed", "getxattr version", "floor", 0.8 },
	{ "speed", "stat warm", "passthrough_ll", 1.3 },
	{ "speed", "stat warm", "floor", 0.8 },
	{ "speed", "rename-over", "passthrough_ll", 1.3 },
	{ "speed", "rename-over", "floor", 0.8 },
	{ "speed", "unlink", "passthrough_ll", 1.3 },
	{ "speed", "unlink", "floor", 0.8 },
	{ "speed", "seq write", "passthrough_ll", 0.8 },
	{ "speed", "seq write", "floor", 0.8 },
	{ "speed", "seq read", "passthrough_ll", 2.0 },
	{ "speed", "seq read", "floor", 0.8 },
	{ "durable", "1 thr, 1 record", "sqlite", 0.5 },
	{ "durable", "8 thr, 8 records", "sqlite", 2.0 },
	{ "durable", "8 thr, 8 records", "etcd", 5.0 },
	{ "durable", "8 thr, 1 record", "etcd", 5.0 },
};

static int row_named(const char *name)
{
	for (int i = 0; i < nrows; i++)
		if (strcmp(R[i].name, name) == 0)
			return i;
	return -1;
}

/* Print and write (SECTION_targets.csv) each target's ratio and verdict;
 * a target whose base did not run is left out.  Beside a ratio against a
 * base other than the floor, the floor's own ratio against that base, in
 * the same run: what a filesystem that does no work, set up as the
 * contract requires (direct I/O on writable handles), reaches here. */
void verdicts(const char *outdir, const char *section)
{
	int rf = target_named("recfs"), fl = target_named("floor");
	int shown = 0, met = 0;
	char path[600];
	FILE *csv;

	snprintf(path, sizeof(path), "%s/%s_targets.csv", outdir, section);
	csv = fopen(path, "w");
	if (!csv)
		die("%s: %s", path, strerror(errno));
	fprintf(csv, "workload,base,ratio,target,verdict,floor_ratio\n");
	for (size_t g = 0; g < sizeof(goals) / sizeof(goals[0]); g++) {
		const struct goal *o = &goals[g];
		int ri = row_named(o->row), bi = target_named(o->base);
		const char *verdict, *cverdict; /* the table's, the CSV's */
		double m, r;
		if (strcmp(o->section, section) != 0 || rf < 0 || ri < 0 ||
		    bi < 0)
			continue;
		m = median(ri, bi);
		r = m > 0 ? median(ri, rf) / m : 0;
		/* A failed operation is quick: a row with failures on either
		 * side says nothing about speed, and meets no target. */
		if (R[ri].errs[rf] || R[ri].errs[bi]) {
			verdict = "FAILED";
			cverdict = "failed";
		} else if (r >= o->min) {
			verdict = cverdict = "met";
		} else {
			verdict = "NOT MET";
			cverdict = "not met";
		}
		/* -1: no floor in this section, or the base is the floor */
		double f = fl >= 0 && fl != bi && m > 0 ? median(ri, fl) / m
							 : -1;
		char fs[16] = "";
		if (f >= 0)
			snprintf(fs, sizeof(fs), "%.2f", f);
		if (!shown++)
			printf("\n%-28s %-14s %7s %9s  %-8s %s\n", "targets",
			       "recfs / base", "ratio", "target", "verdict",
			       "floor / base");
		met += strcmp(verdict, "met") == 0;
		printf("%-28s %-14s %7.2f   >= %4.2f  %-8s %s\n", o->row,
		       o->base, r, o->min, verdict, fs);
		fprintf(csv, "\"%s\",%s,%.4f,%.2f,%s,%s\n", o->row, o->base, r,
			o->min, cverdict, fs);
	}
	if (shown)
		printf("%d of %d targets met in this run (one run's ratio moves "
		       "by 0.1-0.2 here; see docs/PERFORMANCE.md)\n", met,
		       shown);
	fclose(csv);
}

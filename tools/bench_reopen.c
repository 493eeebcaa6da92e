/* bench_reopen.c - build/bench: reopen of a big store, and the
 * daemon's memory (workload 11). */
#include "bench.h"

static int vmrss_kib(pid_t pid, long *kib)
{
	char path[64], line[256];
	FILE *f;
	int rc = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", kib) == 1) {
			rc = 0;
			break;
		}
	fclose(f);
	return rc;
}

/* Unmount and wait for the daemon to have closed its store (the next
 * start needs the store's lock). */
static int stop_daemon(pid_t pid, const char *mnt)
{
	double t0 = now();
	int status, rc = 0;

	if (umount2(mnt, 0) < 0) {
		rc = -errno;
		umount2(mnt, MNT_DETACH);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now() - t0 > 60) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
	if (!rc && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = -ECHILD;
	return rc;
}

/* Start `recfs STORE MNT -f` and time it until the mount's root answers;
 * then read the daemon's VmRSS, with one record (@probe) looked up
 * through the mount first, so that the figure is of a store really
 * served. */
static int reopen_once(const char *recfs, const char *store, const char *mnt,
		       const char *probe, double *secs, long *kib)
{
	struct stat under, st;
	double t0;
	pid_t pid;
	int rc, status;

	if (stat(mnt, &under) < 0)
		return -errno;
	t0 = now();
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl(recfs, "recfs", store, mnt, "-f", (char *)NULL);
		_exit(127);
	}
	/* Before the mount, stat sees the directory underneath; once
	 * mounted, it waits until the daemon has answered INIT and
	 * GETATTR. */
	for (;;) {
		if (stat(mnt, &st) == 0 && st.st_dev != under.st_dev)
			break;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return -ECHILD;
		if (now() - t0 > 60) {
			rc = -ETIMEDOUT;
			goto out;
		}
		usleep(200);
	}
	*secs = now() - t0;
	rc = probe && stat(probe, &st) < 0 ? -errno : 0;
	if (!rc)
		rc = vmrss_kib(pid, kib);
out:
	{
		int r = stop_daemon(pid, mnt);
		if (!rc)
			rc = r;
	}
	return rc;
}

/* bench reopen OUTDIR RECFS MNT EMPTY_STORE FULL_STORE N KEY_MEAN */
void reopen_main(const char *outdir, char **a)
{
	const char *recfs = a[0], *mnt = a[1], *empty = a[2], *full = a[3];
	long n = atol(a[4]);
	double keymean = atof(a[5]), target_rss = 150 + keymean;
	static char lbl_t[64], lbl_r[64];
	char probe[600], path[600];
	int rt0, rtn, rr0, rrn, rper;
	FILE *csv;

	snprintf(T[0].name, sizeof(T[0].name), "recfs");
	nt = 1;
	snprintf(lbl_t, sizeof(lbl_t), "reopen, %ld records", n);
	snprintf(lbl_r, sizeof(lbl_r), "RSS, %ld records", n);
	rt0 = row_of("reopen, empty store", "s");
	rtn = row_of(lbl_t, "s");
	rr0 = row_of("RSS, empty store", "KiB");
	rrn = row_of(lbl_r, "KiB");
	rper = row_of("RSS per record", "B");
	/* mkstore's first key: one record deep in a directory. */
	snprintf(probe, sizeof(probe), "%s/d0000/r0000000", mnt);
	for (int rep = 0; rep < reps; rep++) {
		double s0 = 0, sn = 0;
		long k0 = 0, kn = 0;
		int rc;
		fprintf(stderr, "bench: reopen, run %d of %d\n", rep + 1, reps);
		/* A failed start leaves its time and RSS at 0: every row
		 * taken from it is marked failed, the RSS per record too
		 * (it would be negative, and "met"). */
		if ((rc = reopen_once(recfs, empty, mnt, NULL, &s0, &k0)) < 0) {
			fail(0, rt0, empty, -rc);
			R[rr0].errs[0]++;
			R[rper].errs[0]++;
		}
		if ((rc = reopen_once(recfs, full, mnt, probe, &sn, &kn)) < 0) {
			fail(0, rtn, full, -rc);
			R[rrn].errs[0]++;
			R[rper].errs[0]++;
		}
		R[rt0].v[0][rep] = s0;
		R[rtn].v[0][rep] = sn;
		R[rr0].v[0][rep] = (double)k0;
		R[rrn].v[0][rep] = (double)kn;
		R[rper].v[0][rep] = (double)(kn - k0) * 1024.0 / (double)n;
	}

	snprintf(path, sizeof(path), "%s/reopen.csv", outdir);
	if (!(csv = fopen(path, "w")))
		die("%s: %s", path, strerror(errno));
	fprintf(csv, "metric,unit,median");
	for (int i = 0; i < reps; i++)
		fprintf(csv, ",run%d", i + 1);
	fprintf(csv, ",target,errors\n");
	printf("\n%-28s %-6s %14s %14s %8s\n", "reopen", "unit", "recfs",
	       "target", "verdict");
	for (int ri = 0; ri < nrows; ri++) {
		const char *name = R[ri].name;
		double m = median(ri, 0), tgt = 0;
		char ts[32] = "", verdict[16] = "";
		if (ri == rtn) {
			/* The target is for 1,000,000 records. */
			if (n == 1000000) {
				tgt = 1.0;
				snprintf(ts, sizeof(ts), "<= 1.000");
			} else {
				snprintf(ts, sizeof(ts), "(1M only)");
			}
		} else if (ri == rper) {
			tgt = target_rss;
			snprintf(ts, sizeof(ts), "<= %.0f", tgt);
		}
		if (tgt > 0 && R[ri].errs[0])
			snprintf(verdict, sizeof(verdict), "FAILED");
		else if (tgt > 0)
			snprintf(verdict, sizeof(verdict), "%s",
				 m <= tgt ? "met" : "MISSED");
		if (strcmp(R[ri].unit, "s") == 0)
			printf("%-28s %-6s %13.3f%c %14s %8s\n", name,
			       R[ri].unit, m, R[ri].errs[0] ? '!' : ' ', ts,
			       verdict);
		else
			printf("%-28s %-6s %13.0f%c %14s %8s\n", name,
			       R[ri].unit, m, R[ri].errs[0] ? '!' : ' ', ts,
			       verdict);
		fprintf(csv, "\"%s\",%s,%.4f", name, R[ri].unit, m);
		for (int i = 0; i < reps; i++)
			fprintf(csv, ",%.4f", R[ri].v[0][i]);
		fprintf(csv, ",%s,%ld\n", tgt > 0 ? ts : "", R[ri].errs[0]);
	}
	printf("%-28s %-6s %14.1f %14s\n", "mean key length", "B", keymean,
	       "");
	fprintf(csv, "\"mean key length\",B,%.2f", keymean);
	for (int i = 0; i < reps; i++)
		fprintf(csv, ",%.2f", keymean);
	fprintf(csv, ",,0\n");
	fclose(csv);
	printf("(RSS per record: the daemon's VmRSS on the full store less "
	       "on an empty one, / %ld;\n target: 150 bytes plus the mean "
	       "key)\n", n);
}

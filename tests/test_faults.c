/* test_faults.c - faults injected at every write and sync point through
 * the store's I/O table, and a power-loss model (everything not yet
 * synced is cut away).
 *
 * Oracle: an operation that met an injected write fault (ENOSPC, EIO, a
 * short write, a failed preallocation) returns an error and is absent
 * after a reopen; everything that returned 0 is there, whole.  After a
 * failed sync the store refuses changes (-EROFS) until reopened, and the
 * operation that met it may or may not have survived, but whole. */
#include "fault_io.h"

/* ---- The workload and its model --------------------------------------- */

#define NKEYS 5
static const char *keys[NKEYS] = { "a", "b", "c", "d/a", "e" };

struct model {
	char *val[NKEYS]; /* NULL: absent */
	size_t len[NKEYS];
};

static int kidx(const char *k)
{
	for (int i = 0; i < NKEYS; i++)
		if (strcmp(keys[i], k) == 0)
			return i;
	return -1;
}

static void model_set(struct model *m, const char *k, const char *v,
		      size_t len)
{
	int i = kidx(k);
	char *nv = NULL;

	if (v) { /* v may be m->val[i] itself (a truncate) */
		nv = malloc(len + 1);
		memcpy(nv, v, len);
	}
	free(m->val[i]);
	m->val[i] = nv;
	m->len[i] = len;
}

static void model_free(struct model *m)
{
	for (int i = 0; i < NKEYS; i++)
		free(m->val[i]);
	memset(m, 0, sizeof(*m));
}

static char *big(char c, size_t n)
{
	char *b = malloc(n);
	memset(b, c, n);
	return b;
}

/* What step i does to the model when it takes effect. */
static void model_apply(int i, struct model *m)
{
	char *b = NULL;

	switch (i) {
	case 0:
		model_set(m, "a", "a1", 2);
		break;
	case 1:
		b = big('B', 200000); /* a blob */
		model_set(m, "b", b, 200000);
		break;
	case 2:
		model_set(m, "a", "a2", 2);
		break;
	case 4:
		model_set(m, "d/a", m->val[kidx("a")], m->len[kidx("a")]);
		model_set(m, "a", NULL, 0);
		break;
	case 5:
		model_set(m, "b", NULL, 0);
		break;
	case 6:
		model_set(m, "c", "c1", 2);
		break;
	case 8:
		b = big('C', 100000);
		model_set(m, "c", b, 100000);
		break;
	case 9: { /* cut, or extended with zeros */
		char z[10] = { 0 };
		size_t have = m->len[kidx("c")];
		memcpy(z, m->val[kidx("c")], have < 10 ? have : 10);
		model_set(m, "c", z, 10);
		break;
	}
	case 11:
		model_set(m, "e", "e1", 2);
		break;
	}
	free(b);
}

/* One step of the workload; applies itself to *m when it returns 0. */
static int step(struct store *st, int i, struct model *m)
{
	uint64_t v = 0;
	char *b = NULL;
	int rc = 0;

	switch (i) {
	case 0:
		rc = store_put(st, "a", STORE_ABSENT, "a1", 2, NULL, &v);
		break;
	case 1:
		b = big('B', 200000);
		rc = store_put(st, "b", STORE_ABSENT, b, 200000, NULL, &v);
		break;
	case 2:
		rc = store_put(st, "a", STORE_ANY, "a2", 2, NULL, &v);
		break;
	case 3:
		rc = store_mkdir(st, "d", NULL);
		break;
	case 4:
		rc = store_rename(st, "a", STORE_ANY, "d/a", STORE_ANY, &v);
		break;
	case 5:
		rc = store_delete(st, "b", STORE_ANY, &v);
		break;
	case 6:
		rc = store_put(st, "c", STORE_ABSENT, "c1", 2, NULL, &v);
		break;
	case 7:
		rc = store_sync(st);
		break;
	case 8:
		b = big('C', 100000);
		rc = store_put(st, "c", STORE_ANY, b, 100000, NULL, &v);
		break;
	case 9:
		rc = store_truncate(st, "c", STORE_ANY, 10, &v);
		break;
	case 10:
		rc = store_compact(st);
		break;
	case 11:
		rc = store_put(st, "e", STORE_ABSENT, "e1", 2, NULL, &v);
		break;
	}
	free(b);
	if (!rc)
		model_apply(i, m);
	return rc;
}
#define NSTEPS 12

/* Does the store hold exactly the model? */
static int matches(struct store *st, const struct model *m)
{
	for (int i = 0; i < NKEYS; i++) {
		char *buf = NULL;
		size_t len;
		int rc = store_get(st, keys[i], &buf, &len, NULL);
		if (!m->val[i]) {
			free(buf);
			if (rc != -ENOENT) {
				print_message("  %s: present (rc %d), model "
					      "absent\n", keys[i], rc);
				return 0;
			}
			continue;
		}
		if (rc != 0 || len != m->len[i] ||
		    memcmp(buf, m->val[i], len) != 0) {
			print_message("  %s: rc %d len %zu, model len %zu\n",
				      keys[i], rc, rc ? 0 : len, m->len[i]);
			free(buf);
			return 0;
		}
		free(buf);
	}
	return 1;
}

/* Run the workload with one fault; check the oracle after a reopen. */
static void run_with_fault(enum kind kind, int at, int sync_always,
			   int *fired, int *fills)
{
	char dir[128];
	struct fault f = { .kind = kind };
	struct store_io io = { f_pwrite, f_fdatasync, f_ftruncate,
			       f_fallocate, &f };
	struct store_opts o = { .io = &io, .compact_ratio = -1,
				.reserve_bytes = 1 << 20,
				.sync_always = sync_always };
	struct model m = { 0 }, alt = { 0 };
	struct store *st;
	int sync_failed = 0, failed_step = -1, has_d = 0;

	snprintf(dir, sizeof(dir), "%s/s-%d-%d-%d", root, kind, at,
		 sync_always);
	assert_int_equal(store_open(dir, &o, &st), 0);
	f.count = 0; /* faults start after the open */
	f.fail_at = at;
	for (int i = 0; i < NSTEPS; i++) {
		int was = f.fired, rc;
		struct model before = { 0 };
		for (int k = 0; k < NKEYS; k++)
			if (m.val[k])
				model_set(&before, keys[k], m.val[k], m.len[k]);
		f.synced_compact = 0;
		rc = step(st, i, &m);
		if (getenv("FAULTS_DEBUG"))
			print_message("kind %d at %d: step %d rc %d fired %d\n",
				      kind, at, i, rc, f.fired);
		if (sync_failed) {
			/* After a failed sync, changes are refused (the
			 * sync can fail at the first step, with sync=always,
			 * or at a blob's, in any mode: a change of a key it
			 * did not make may find it missing first). */
			if (i != 7 && i != 10 && rc != -ENOENT)
				assert_int_equal(rc, -EROFS);
		} else if (!was && f.fired) {
			failed_step = i;
			if (kind == F_SYNC) {
				/* The sync of zeros written ahead fails the
				 * commit that needed them, before it is
				 * written: it is not applied. */
				if (f.fired_fill)
					assert_int_equal(rc, -EIO);
				/* With sync=always no failed sync is ignored:
				 * the change that met it fails. */
				if (sync_always && (i != 10 || f.fired_dir))
					assert_true(rc < 0);
				/* A failed compaction leaves the log alone;
				 * a failed log sync fails the store.  A
				 * staged change's spool file is synced before
				 * its blob is named (sync=always): that fails
				 * the change alone. */
				sync_failed = rc < 0 && i != 10 &&
					      !f.fired_spool;
				/* With sync=always a compaction's roll syncs
				 * the active segment first (the log's sync),
				 * then the directory naming the new one. */
				if (i == 10 && sync_always && rc < 0 &&
				    (f.fired_seg || f.fired_dir))
					sync_failed = 1;
				/* It may have survived: remember both (with
				 * sync=always the change itself may be in the
				 * log its failed sync was for). */
				model_free(&alt);
				for (int k = 0; k < NKEYS; k++)
					if (before.val[k])
						model_set(&alt, keys[k],
							  before.val[k],
							  before.len[k]);
				if (rc < 0 && sync_always && !f.fired_fill &&
				    !f.fired_spool)
					model_apply(i, &alt);
				if (rc < 0) {
					struct model tmp = m;
					m = alt;
					alt = tmp;
				}
			} else if (kind == F_WRITE && i != 10 && i != 7 &&
				   !(f.fired_fill && at % 2)) {
				/* A write fault fails the operation (a short
				 * write is finished by the store; a failed
				 * preallocation, or zero fill with ENOSPC, is
				 * retried smaller). */
				assert_true(rc < 0);
			}
			if (f.fired_fill && kind == F_WRITE && rc < 0)
				assert_true(rc == -ENOSPC || rc == -EIO);
		} else if (i != 10) {
			/* A step on a key an earlier failed step did not
			 * make finds nothing, and changes nothing. */
			int src = i == 4 ? kidx("a") : i == 5 ? kidx("b")
				  : i == 9 ? kidx("c") : -1;
			if ((src >= 0 && !before.val[src]) ||
			    (i == 4 && !has_d))
				assert_int_equal(rc, -ENOENT);
			else
				assert_int_equal(rc, 0);
		}
		if (i == 3 && rc == 0)
			has_d = 1;
		model_free(&before);
	}
	store_close(st);
	*fired = f.fired;
	*fills += f.fired_fill;

	assert_int_equal(store_open(dir, NULL, &st), 0);
	if (kind == F_SYNC && sync_failed)
		assert_true(matches(st, &m) || matches(st, &alt));
	else
		assert_true(matches(st, &m));
	(void)failed_step;
	store_close(st);
	model_free(&m);
	model_free(&alt);
}

static void fault_sweep(enum kind kind)
{
	for (int sa = 0; sa < 2; sa++) {
		int fired = 1, points = 0, fills = 0;

		for (int at = 1; fired && at < 500; at++) {
			run_with_fault(kind, at, sa, &fired, &fills);
			points += fired;
		}
		print_message("  %d fault points of kind %d%s (%d at a zero "
			      "fill)\n", points, kind,
			      sa ? ", sync=always" : "", fills);
		/* With sync=always the log takes no space by fallocate
		 * (the RESERVE file is made at the open, before faults). */
		if (sa && kind == F_ALLOC)
			assert_int_equal(points, 0);
		else
			assert_true(points > 0);
		/* With sync=always the log's tail is zeros written ahead:
		 * the sweep must have met that write. */
		if (sa && kind != F_ALLOC)
			assert_true(fills > 0);
	}
}

static void test_enospc_eio_at_every_write(void **state)
{
	(void)state;
	fault_sweep(F_WRITE);
}

static void test_short_write_at_every_write(void **state)
{
	(void)state;
	fault_sweep(F_SHORT);
}

static void test_eio_at_every_sync(void **state)
{
	(void)state;
	fault_sweep(F_SYNC);
}

static void test_enospc_at_every_preallocation(void **state)
{
	(void)state;
	fault_sweep(F_ALLOC);
}

/* ---- Power loss: cut every file back to what was synced ---------------- */

/* Power off: in the die_at_fill-th sync of zeros written ahead or the
 * die_at_sync-th sync (0: after the workload).  What was not synced is
 * lost: every file is cut back to its synced length, and what was
 * written inside it since is zeros again (torn: only its second half,
 * a write torn part-way). */
static void power_loss(int sync_always, int die_at_fill, int die_at_sync,
		       int torn)
{
	char dir[128], path[PATH_MAX];
	struct synced *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int *acked = mmap(NULL, sizeof(int) * 4, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct store *st;
	pid_t pid;

	assert_true(s != MAP_FAILED && acked != MAP_FAILED);
	memset(s, 0, sizeof(*s));
	snprintf(dir, sizeof(dir), "%s/pl-%d-%d-%d-%d", root, sync_always,
		 die_at_fill, die_at_sync, torn);
	pid = fork();
	if (pid == 0) {
		struct fault f = { .kind = F_NONE, .synced = s,
				   .die_at_fill = die_at_fill,
				   .die_at_sync = die_at_sync };
		struct store_io io = { f_pwrite, f_fdatasync, f_ftruncate,
				       f_fallocate, &f };
		/* Small segments: rolls (a store_sync must cover the
		 * segments rolled since the last one), and with
		 * sync_always a fill in each new one. */
		struct store_opts o = { .io = &io, .sync_always = sync_always,
					.compact_ratio = -1,
					.segment_size = 4096 };
		char val[64];
		if (store_open(dir, &o, &st) < 0)
			_exit(1);
		for (int i = 0; i < 300; i++) {
			char key[16];
			size_t len = i % 50 == 0 ? 100000 : 20;
			char *b = big('a' + i % 26, len);
			snprintf(key, sizeof(key), "k%d", i % 20);
			snprintf(val, sizeof(val), "%d", i);
			memcpy(b, val, strlen(val));
			if (store_put(st, key, STORE_ANY, b, len, NULL, NULL) < 0)
				_exit(2);
			free(b);
			/* Without sync=always only a store_sync promises. */
			if (sync_always || (i % 37 == 0 && store_sync(st) == 0))
				acked[0] = i + 1;
			/* A compaction rewrites what was promised. */
			if (i % 100 == 60 && store_compact(st) < 0)
				_exit(5);
		}
		/* Unsynced changes into a segment that a roll made after
		 * the last sync: lost at power off, with the segment
		 * (never synced, so it is cut to nothing), and the
		 * store still opens. */
		if (!sync_always) {
			struct store_stats ss, ss0;
			if (store_stats(st, &ss0) < 0)
				_exit(3);
			ss = ss0;
			for (int i = 0; i < 1000 &&
					ss.segments == ss0.segments; i++)
				if (store_put(st, "tail", STORE_ANY, "xxxxxxxx",
					      8, NULL, NULL) < 0 ||
				    store_stats(st, &ss) < 0)
					_exit(3);
			if (ss.segments == ss0.segments)
				_exit(4);
		}
		{
			struct store_stats ss;
			if (store_stats(st, &ss) < 0 || ss.compactions < 3)
				_exit(6);
		}
		_exit(0); /* power off: no close, nothing more synced */
	}
	assert_true(pid > 0);
	{
		int status;
		waitpid(pid, &status, 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* A store whose own name never reached the disk is gone. */
	{
		char parent[PATH_MAX];
		struct stat pb;
		long *d;
		snprintf(parent, sizeof(parent), "%s/..", dir);
		assert_int_equal(stat(parent, &pb), 0);
		d = dir_slot(s, pb.st_ino);
		if (!d || !*d) {
			char cmd[PATH_MAX + 16];
			snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
			assert_int_equal(system(cmd), 0);
		}
	}
	/* Cut every file the store synced back to its synced length; a
	 * segment or blob never synced loses everything, and one whose
	 * directory was not synced since its first write loses its name.
	 * Unsynced writes inside it are gone too (all, or the second half
	 * when torn). */
	{
		char cmd[PATH_MAX + 64];
		FILE *p;
		snprintf(cmd, sizeof(cmd), "ls %s/*.seg %s/blobs/* 2>/dev/null",
			 dir, dir);
		p = popen(cmd, "r");
		while (p && fgets(path, sizeof(path), p)) {
			struct stat sb;
			off_t len = 0, lo = 0, hi = 0;
			path[strcspn(path, "\n")] = 0;
			long first = 0, *dsync;
			struct stat db;
			char parent[PATH_MAX + 4];
			assert_int_equal(stat(path, &sb), 0);
			for (int i = 0; i < s->n; i++)
				if (s->f[i].ino == sb.st_ino) {
					len = s->f[i].len;
					lo = s->f[i].dlo;
					hi = s->f[i].dhi;
					first = s->f[i].first;
				}
			snprintf(parent, sizeof(parent), "%s", path);
			*strrchr(parent, '/') = 0;
			assert_int_equal(stat(parent, &db), 0);
			dsync = dir_slot(s, db.st_ino);
			if (!first || !dsync || *dsync < first) {
				assert_int_equal(unlink(path), 0);
				continue;
			}
			assert_int_equal(truncate(path, len), 0);
			if (torn)
				lo += (hi - lo) / 2;
			if (hi > len)
				hi = len;
			if (hi > lo) {
				char *z = calloc(1, (size_t)(hi - lo));
				int fd = open(path, O_WRONLY);
				assert_true(fd >= 0 && z);
				assert_int_equal(pwrite(fd, z, (size_t)(hi - lo),
							lo), hi - lo);
				close(fd);
				free(z);
			}
		}
		if (p)
			pclose(p);
	}
	{
		char err[512] = "";
		struct store_opts ro = { .errbuf = err, .errlen = sizeof(err) };
		int rc = store_open(dir, &ro, &st);
		if (rc < 0)
			print_message("  reopen after power loss: %s\n", err);
		assert_int_equal(rc, 0);
	}
/* Every acknowledged-durable put is there: for each key, the last
	 * durable value or a later one. */
	for (int k = 0; k < 20; k++) {
		char key[16], *buf;
		size_t len;
		int last = -1;
		for (int i = 0; i < acked[0]; i++)
			if (i % 20 == k)
				last = i;
		if (last < 0)
			continue;
		snprintf(key, sizeof(key), "k%d", k);
		assert_int_equal(store_get(st, key, &buf, &len, NULL), 0);
		assert_true(atoi(buf) >= last);
		assert_true(atoi(buf) % 20 == k);
		free(buf);
	}
	store_close(st);
	munmap(s, sizeof(*s));
	munmap(acked, sizeof(int) * 4);
}

static void test_power_loss_sync_always(void **state)
{
	(void)state;
	for (int torn = 0; torn < 2; torn++) {
		power_loss(1, 0, 0, torn);
		/* In the sync of a fill: at open, after rolls. */
		for (int k = 1; k <= 7; k += 3)
			power_loss(1, k, 0, torn);
		/* In a commit's sync: its write is lost or torn. */
		for (int k = 20; k <= 320; k += 60)
			power_loss(1, 0, k, torn);
	}
}

static void test_power_loss_after_store_sync(void **state)
{
	(void)state;
	power_loss(0, 0, 0, 0);
	power_loss(0, 0, 0, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enospc_eio_at_every_write),
		cmocka_unit_test(test_short_write_at_every_write),
		cmocka_unit_test(test_eio_at_every_sync),
		cmocka_unit_test(test_enospc_at_every_preallocation),
		cmocka_unit_test(test_power_loss_sync_always),
		cmocka_unit_test(test_power_loss_after_store_sync),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

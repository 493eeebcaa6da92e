/* recctl.c - the recfs command-line tool: the command table, main, and
 * the offline subcommands that open a STORE directory (fsck, dump,
 * stats, compact).  The online subcommands work on records through a
 * mount and live in rc_*.c, one file per theme.
 *
 * Every subcommand is a row of recctl_cmds and returns the process exit
 * status (recctl.h: 0, 1 error or damage, 2 usage, 69 busy, 75 stale). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "recctl.h"
#include "store.h"

const char *prog = "recctl";

int usage_error(const struct recctl_cmd *cmd, const char *fmt,
		const char *what)
{
	fprintf(stderr, "%s: ", prog);
	if (cmd)
		fprintf(stderr, "%s: ", cmd->name);
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
	if (cmd)
		fprintf(stderr, "usage: %s %s %s\nTry '%s %s --help'.\n",
			prog, cmd->name, cmd->args, prog, cmd->name);
	else
		fprintf(stderr, "Try '%s --help'.\n", prog);
	return EXIT_USAGE;
}

void print_cmd_help(const struct recctl_cmd *cmd)
{
	printf("usage: %s %s %s\n%s\n", prog, cmd->name, cmd->args,
	       cmd->help);
	if (cmd->details)
		printf("\n%s", cmd->details);
}

/* Options shared by the offline subcommands: --help, and flags named in
 * @flags (each sets the matching int).  Leaves exactly one STORE
 * operand in *store.  @return -1 to go on, else an exit status. */
static int parse_store_args(const struct recctl_cmd *cmd, int argc,
			    char **argv, const char *const *flags, int *vals,
			    const char **store)
{
	int only_operands = 0;

	*store = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int known = 0;

		if (!only_operands && strcmp(a, "--") == 0) {
			only_operands = 1;
			continue;
		}
		if (!only_operands && a[0] == '-' && a[1]) {
			if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
				print_cmd_help(cmd);
				return 0;
			}
			for (int f = 0; flags && flags[f]; f++) {
				if (strcmp(a, flags[f]) == 0) {
					vals[f] = 1;
					known = 1;
				}
			}
			if (!known)
				return usage_error(cmd, "unknown option '%s'", a);
			continue;
		}
		if (*store)
			return usage_error(cmd, "unexpected argument '%s'", a);
		*store = a;
	}
	if (!*store)
		return usage_error(cmd, "%s", "missing STORE");
	return -1;
}

/* store_open() creates a missing store; an offline tool must not, or a
 * mistyped path becomes an empty store. */
static int check_store_dir(const char *dir)
{
	struct stat sb;

	if (stat(dir, &sb) < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
		return EXIT_ERR;
	}
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(ENOTDIR));
		return EXIT_ERR;
	}
	return 0;
}

/* Does @dir hold a store's LOCK (every store opened read-write has one)?
 * @return 1 yes, 0 no, negative errno when we may not look (another
 * user's store is 0700: that is no answer, and "no LOCK in it" sent its
 * user looking for a store that was there). */
static int store_dir_has_lock(const char *dir)
{
	char path[PATH_MAX];
	struct stat sb;

	if (snprintf(path, sizeof(path), "%s/LOCK", dir) >= (int)sizeof(path))
		return 0;
	if (lstat(path, &sb) == 0)
		return 1;
	return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
}

/* Is @dir a store: its LOCK or a segment is there, as the daemon's open
 * tells one (store/open.c)?
 * @return 1 yes, 0 no, negative errno when we may not look. */
static int store_dir_is_store(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int found;

	found = store_dir_has_lock(dir);
	if (found)
		return found;
	d = opendir(dir);
	if (!d)
		return -errno;
	for (found = 0; !found && (de = readdir(d));) {
		size_t l = strlen(de->d_name);

		found = l == 20 && strcmp(de->d_name + 16, ".seg") == 0;
	}
	closedir(d);
	return found;
}

/* An etcd store (recfs etcd://HOST:PORT/PREFIX MNT) has no directory:
 * these commands said "etcd://...: No such file or directory".  It has
 * its own tools (docs/ETCD.md).
 * @return -1 to go on, else @fail after saying why. */
static int refuse_etcd(const struct recctl_cmd *cmd, const char *dir,
		       int fail)
{
	struct stat sb;

	if (strncmp(dir, "etcd://", 7) != 0 || stat(dir, &sb) == 0)
		return -1;
	fprintf(stderr, "%s: %s: %s is an etcd store: %s works on store "
		"directories only; etcd has its own tools (etcdctl)\n", prog,
		cmd->name, dir, cmd->name);
	return fail;
}

/* fsck, dump and stats of a directory that holds no store found nothing
 * in it and called it clean (exit 0), and fsck --repair made a LOCK
 * there: named the mountpoint instead of its store, a record named LOCK
 * in the live mount, which then passed for a store.  What cannot be
 * opened at all is left to the command's own report.
 * @return -1 to go on, else @fail after saying why. */
static int check_offline_dir(const struct recctl_cmd *cmd, const char *dir,
			     int fail)
{
	struct stat sb;

	if (refuse_etcd(cmd, dir, fail) >= 0)
		return fail;
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return -1;
	if (rc_on_recfs(dir) > 0) {
		fprintf(stderr, "%s: %s: %s is in a recfs mount; name the "
			"STORE directory of a store that is not mounted\n",
			prog, cmd->name, dir);
		return fail;
	}
	if (store_dir_is_store(dir) == 0) {
		fprintf(stderr, "%s: %s: %s is not a recfs store (no LOCK or "
			"segment in it)\n", prog, cmd->name, dir);
		return fail;
	}
	return -1;
}

/* @cmd names the command, for the one hint that fits it. */
static int open_store(const struct recctl_cmd *cmd, const char *dir,
		      int read_only, struct store **st)
{
	struct store_opts o = { 0 };
	char err[512] = "";
	int rc;

	o.read_only = read_only;
	/* Maintenance from the shell should not start background work
	 * that would race with what it was asked to do. */
	o.compact_ratio = -1;
	o.errbuf = err;
	o.errlen = sizeof(err);
	rc = store_open(dir, &o, st);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", prog,
			err[0] ? err : strerror(-rc));
		/* Only compact has an online form (the daemon holds the
		 * lock); the other offline commands need it unmounted. */
		if (rc == -EWOULDBLOCK && strcmp(cmd->name, "compact") == 0)
			fprintf(stderr, "%s: while it is mounted, run '%s "
				"compact MOUNTPOINT' instead\n", prog, prog);
		return EXIT_ERR;
	}
	return 0;
}

/* A failure of the command itself (store in use, not a directory, I/O
 * error) belongs on stderr; store_fsck/store_dump write every line to
 * one stream.  fsck's report is short, so it is held until the result
 * says where it goes; a dump can be huge and goes straight to stdout.
 * fsck and dump keep 1 for "damage found", so their own failures stay
 * at 2, as they always were. */
static int offline_status(int rc, const char *dir, const char *said)
{
	if (rc == 0 || rc == 1)
		return rc;
	fflush(stdout);
	if (said && said[0]) {
		/* The store's own lines, each marked as recctl's. */
		for (const char *l = said, *nl; *l; l = nl + 1) {
			nl = strchrnul(l, '\n');
			fprintf(stderr, "%s: %.*s\n", prog, (int)(nl - l), l);
			if (!*nl)
				break;
		}
	} else if (rc == -EWOULDBLOCK)
		fprintf(stderr, "%s: %s: store in use by another process\n",
			prog, dir);
	else
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(-rc));
	return EXIT_USAGE;
}

static int cmd_fsck(const struct recctl_cmd *cmd, int argc, char **argv)
{
	static const char *const flags[] = { "--repair", NULL };
	int vals[1] = { 0 }, rc;
	const char *dir;
	char *text = NULL;
	size_t len = 0;
	uint64_t lost = 0;
	FILE *mem;

	rc = parse_store_args(cmd, argc, argv, flags, vals, &dir);
	if (rc < 0)
		rc = check_offline_dir(cmd, dir, EXIT_USAGE);
	if (rc >= 0)
		return rc;
	mem = open_memstream(&text, &len);
	if (!mem) {
		fprintf(stderr, "%s: %s\n", prog, strerror(errno));
		return EXIT_USAGE;
	}
	rc = store_fsck_ex(dir, vals[0], mem, &lost);
	/* Lost blobs are the damage a repair can take away (by letting go
	 * of the versions that named them); then the store is checked
	 * again, and that check is the verdict. */
	if (rc == 1 && vals[0] && lost) {
		int n = store_salvage(dir, mem);
		if (n > 0)
			rc = store_fsck(dir, 0, mem);
		else if (n == -EWOULDBLOCK)
			rc = n;
	}
	if (fclose(mem) != 0 && rc >= 0)
		rc = -ENOMEM;
	if (rc == 0 || rc == 1)
		fwrite(text, 1, len, stdout);
	/* A lost blob is the damage --repair takes away: say so. */
	if (rc == 1 && !vals[0] && lost)
		printf("recctl fsck --repair %s lets go of the versions whose "
		       "blob is missing or of the wrong size\n", dir);
	rc = offline_status(rc, dir, text);
	free(text);
	return rc;
}

/* store_dump() writes its entries and its failures to one stream, and
 * a store it cannot open (missing, in use) is its first and only line.
 * A dump can be huge, so only that first line is held back until the
 * result says where it goes (stderr, once); the rest goes straight on
 * to stdout. */
struct dump_out {
	char first[4096];
	size_t len;
	int complete; /* the first line has its newline */
	int passing;  /* more came: everything goes to stdout */
};

static int dump_pass(struct dump_out *o)
{
	size_t len = o->len;

	o->passing = 1;
	o->len = 0;
	return fwrite(o->first, 1, len, stdout) == len ? 0 : -1;
}

static ssize_t dump_write(void *cookie, const char *data, size_t size)
{
	struct dump_out *o = cookie;
	size_t total = size, take;
	const char *nl;

	if (!o->passing && !o->complete) {
		nl = memchr(data, '\n', size);
		take = nl ? (size_t)(nl - data) + 1 : size;
		if (o->len + take < sizeof(o->first)) {
			memcpy(o->first + o->len, data, take);
			o->len += take;
			o->complete = nl != NULL;
			data += take;
			size -= take;
			if (size == 0)
				return (ssize_t)total;
		}
	}
	/* A second line, or a first too long to be a failure. */
	if (!o->passing && dump_pass(o) < 0)
		return -1;
	if (fwrite(data, 1, size, stdout) != size)
		return -1;
	return (ssize_t)total;
}

static int cmd_dump(const struct recctl_cmd *cmd, int argc, char **argv)
{
	static const cookie_io_functions_t io = { .write = dump_write };
	struct dump_out o = { .len = 0 };
	const char *dir;
	int rc = parse_store_args(cmd, argc, argv, NULL, NULL, &dir);
	FILE *out;

	if (rc < 0)
		rc = check_offline_dir(cmd, dir, EXIT_USAGE);
	if (rc >= 0)
		return rc;
	out = fopencookie(&o, "w", io);
	if (!out) {
		fprintf(stderr, "%s: %s\n", prog, strerror(errno));
		return EXIT_USAGE;
	}
	rc = store_dump(dir, out);
	fclose(out);
	if (rc < 0 && !o.passing) {
		o.first[o.len] = '\0';
		return offline_status(rc, dir, o.first);
	}
	dump_pass(&o);
	return offline_status(rc, dir, NULL);
}

static int cmd_stats(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct store_stats s;
	struct store *st;
	const char *dir;
	int rc = parse_store_args(cmd, argc, argv, NULL, NULL, &dir);

	if (rc < 0)
		rc = check_offline_dir(cmd, dir, EXIT_ERR);
	if (rc >= 0)
		return rc;
	if ((rc = check_store_dir(dir)) || (rc = open_store(cmd, dir, 1, &st)))
		return rc;
	rc = store_stats(st, &s);
	store_close(st);
	if (rc < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(-rc));
		return EXIT_ERR;
	}
	printf("records: %" PRIu64 "\n", s.records);
	printf("dirs: %" PRIu64 "\n", s.dirs);
	printf("tombstones: %" PRIu64 "\n", s.tombstones);
	printf("versions_kept: %" PRIu64 "\n", s.versions_kept);
	printf("log_bytes: %" PRIu64 "\n", s.log_bytes);
	printf("dead_bytes: %" PRIu64 "\n", s.dead_bytes);
	printf("blob_bytes: %" PRIu64 "\n", s.blob_bytes);
	printf("floor: %" PRIu64 "\n", s.floor);
	printf("segments: %" PRIu64 "\n", s.segments);
	printf("compactions: %" PRIu64 "\n", s.compactions);
	/* Damage exits as fsck does on it (it was 0, a damaged store's
	 * partial counts passing for its own).  Only damage in the log
	 * cuts the counts short: blobs/ gone leaves them whole, which
	 * until 2026-12-07 was said to be "what comes before the damage". */
	if (s.damaged) {
		const char *what = "the counts are of what comes before the "
				   "damage in the log";

		if (s.damaged == STORE_DAMAGE_BLOBS)
			what = "versions kept in blobs cannot be read (the "
			       "counts are whole)";
		else if (s.damaged & STORE_DAMAGE_BLOBS)
			what = "the counts are of what comes before the "
			       "damage in the log, and versions kept in "
			       "blobs cannot be read";
		fprintf(stderr, "%s: stats: %s is damaged: %s; 'recctl fsck "
			"%s' describes it\n", prog, dir, what, dir);
		return EXIT_ERR;
	}
	return 0;
}

int compact_offline(const struct recctl_cmd *cmd, const char *dir)
{
	struct store_stats before, after;
	struct store *st;
	int rc, crc;

	if ((rc = refuse_etcd(cmd, dir, EXIT_ERR)) >= 0 ||
	    (rc = check_store_dir(dir)))
		return rc;
	/* Not mounted, so it must be a store already: an empty directory
	 * (a mountpoint whose daemon is gone) was made into a new store. */
	if (store_dir_has_lock(dir) == 0) {
		fprintf(stderr, "%s: compact: %s is neither a recfs mount nor "
			"a store (no LOCK in it)\n", prog, dir);
		return EXIT_ERR;
	}
	if ((rc = open_store(cmd, dir, 0, &st)))
		return rc;
	store_stats(st, &before);
	rc = store_compact(st);
	if (rc == 0)
		store_stats(st, &after);
	crc = store_close(st);
	if (rc == 0)
		rc = crc;
	if (rc < 0) {
		fprintf(stderr, "%s: compact %s: %s\n", prog, dir,
			strerror(-rc));
		return EXIT_ERR;
	}
	printf("log_bytes before: %" PRIu64 "\n", before.log_bytes);
	printf("log_bytes after: %" PRIu64 "\n", after.log_bytes);
	return 0;
}

/* A STORE directory is compacted here; a directory inside a recfs
 * mount asks the daemon, which holds the store's lock. */
static int cmd_compact(const struct recctl_cmd *cmd, int argc, char **argv)
{
	const char *dir;
	int rc = parse_store_args(cmd, argc, argv, NULL, NULL, &dir);
	int handled = 0;

	if (rc >= 0)
		return rc;
	rc = rc_compact_online(cmd, dir, &handled);
	if (handled)
		return rc;
	return compact_offline(cmd, dir);
}

static int cmd_help(const struct recctl_cmd *cmd, int argc, char **argv);

static const struct recctl_cmd recctl_cmds[] = {
	{ "get", cmd_get, "[--version] PATH",
	  "print a record's content",
	  "  --version   print the version the content belongs to first,\n"
	  "              on a line of its own (read as version, content,\n"
	  "              version again, retried until they agree)\n"
	  "Like cat, reading gives the calling shell an implicit basis.\n" },
	{ "stat", cmd_stat, "[--json] PATH",
	  "show version, hash, size, times and the write lease",
	  "  --json      one JSON object instead of 'name: value' lines\n" },
	{ "why", cmd_why, "PATH",
	  "show the basis your next change would use and the last conflict",
	  "The caller is the shell that runs recctl: this shows the basis\n"
	  "it holds (user.expected_version) and its last refused change\n"
	  "(user.conflict).\n" },
	{ "ls", cmd_ls, "[DIR]",
	  "list a directory with the version of each record",
	  "One line per entry: VERSION NAME; '-' for a directory (NAME/)\n"
	  "and for a record still being created, '?' for one you may not\n"
	  "read.\n" },
	{ "put", cmd_put, "--expect N PATH",
	  "replace a record with stdin as one commit based on version N",
	  "  --expect N  the version the change is based on; 0 creates\n"
	  "              PATH only if it does not exist\n"
	  "Prints the new version.  Exit 75 when N is stale, 69 when the\n"
	  "record stayed busy.\n" },
	{ "rm", cmd_rm, "--expect N PATH",
	  "delete a record if its version is still N",
	  "  --expect N  the version the delete is based on\n"
	  "Exit 75 when N is stale, 69 when the record stayed busy.\n" },
	{ "update", cmd_update, "[--tries N] PATH -- CMD [ARGS...]",
	  "pipe a record through CMD and commit its output, retrying races",
	  "  --tries N   attempts before giving up (default 10)\n"
	  "Reads the record and its version, runs CMD with the content on\n"
	  "stdin, and commits CMD's stdout based on that version.  When\n"
	  "someone else committed meanwhile, it waits (jittered backoff),\n"
	  "reads again and runs CMD again.  Prints the new version.  Exit\n"
	  "75 when every try was stale, 69 when the record stayed busy, 1\n"
	  "when CMD failed (nothing is committed).  The record must exist\n"
	  "(make it with touch or put --expect 0).\n" },
	{ "incr", cmd_incr, "[--tries N] [--value] PATH [DELTA]",
	  "add DELTA (default 1) to a record holding a decimal integer",
	  "  --tries N   attempts before giving up (default 10)\n"
	  "  --value     print the new value instead of the new version\n"
	  "The record must exist: empty content counts as 0, so\n"
	  "'touch c' starts a counter.  A negative DELTA works\n"
	  "('incr c -5').  Exit statuses as for update.\n" },
	{ "edit", cmd_edit, "PATH",
	  "edit a copy in $VISUAL or $EDITOR and commit it, merging races",
	  "Commits with the version the edit started from.  If someone\n"
	  "committed meanwhile, shows their changes and yours (diff -u) and\n"
	  "offers a three-way merge (diff3 -m), editing again, keeping\n"
	  "theirs, or overwriting after you type 'yes'.  Never overwrites\n"
	  "silently.  A missing PATH is created.  Exit 75 when you quit with\n"
	  "the conflict unresolved (your text stays in a file it names).\n" },
	{ "log", cmd_log, "PATH",
	  "list the kept versions of a record: VERSION TIME SIZE HASH",
	  "Newest first.  Works for deleted records too.\n" },
	{ "show", cmd_show, "PATH@N",
	  "print version N of a record from its history",
	  "Without @N, prints the current content.\n" },
	{ "diff", cmd_diff, "PATH@N [PATH@M]",
	  "diff -u between two versions (M defaults to the current one)",
	  "Exit 0 whether or not they differ; 1 on error.\n" },
	{ "watch", cmd_watch, "[--from N] [--count N] PATH",
	  "print 'VERSION HASH' for each new version as it is committed",
	  "  --from N    also print every version above N that exists now\n"
	  "  --count N   exit after printing N versions\n"
	  "Polls every 20 ms; versions committed between two polls are\n"
	  "taken from the history.  A delete prints '- deleted'.\n" },
	{ "wait", cmd_wait, "--above N [--timeout SECONDS] PATH",
	  "wait until a record's version exceeds N, then print it",
	  "  --above N          the version to get past\n"
	  "  --timeout SECONDS  give up after this long (exit 1)\n"
	  "A record that does not exist yet is waited for, even in a\n"
	  "directory not made yet.\n" },
	{ "fsck", cmd_fsck, "[--repair] STORE",
	  "check a store that is not mounted (exit 0 clean, 1 damage, "
	  "2 error)",
	  "  --repair    cut torn tails, write again the damaged header of\n"
	  "              a segment that holds no entry, cut back a blob\n"
	  "              file that only grew, and let go of the versions\n"
	  "              whose blob file is missing or of the wrong size\n"
	  "              (each named; such a file goes to lost+found/);\n"
	  "              then check again\n"
	  "Other damage (a bad checksum in a segment) is never repaired:\n"
	  "'recfs -o ro' serves what comes before it.\n" },
	{ "dump", cmd_dump, "STORE",
	  "print every log entry of a store that is not mounted, one per "
	  "line",
	  NULL },
	{ "stats", cmd_stats, "STORE",
	  "open a store read-only and print its totals",
	  "Exit 1 on a damaged store: stderr says whether the counts stop\n"
	  "at damage in the log, or are whole and versions kept in blobs\n"
	  "cannot be read ('recctl fsck STORE' describes it).\n" },
	{ "compact", cmd_compact, "STORE | MOUNTPOINT",
	  "reclaim dead space now (a mounted store through its daemon)",
	  "A STORE directory that is not mounted is opened and compacted\n"
	  "here.  A directory inside a recfs mount asks the running daemon\n"
	  "(setxattr user.recfs.compact on the mount root) and returns when\n"
	  "it is done.\n" },
	{ "help", cmd_help, "[COMMAND]", "show help for all or one command",
	  NULL },
};

#define NCMDS (sizeof(recctl_cmds) / sizeof(recctl_cmds[0]))

static const struct recctl_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(recctl_cmds[i].name, name) == 0)
			return &recctl_cmds[i];
	return NULL;
}

static void print_usage(FILE *f)
{
	fprintf(f, "usage: %s COMMAND [ARGS]\n"
		   "       %s --help | --version\n\ncommands:\n",
		prog, prog);
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(f, "  %-8s %s\n", recctl_cmds[i].name,
			recctl_cmds[i].help);
	fprintf(f, "\nexit status: 0 ok, 1 error (fsck, dump, stats: damage), "
		   "2 usage,\n  69 the record stayed busy (EBUSY), "
		   "75 the change was stale (EAGAIN)\n");
	fprintf(f, "\nRun '%s COMMAND --help' for a command's arguments.\n",
		prog);
}

static int cmd_help(const struct recctl_cmd *cmd, int argc, char **argv)
{
	const struct recctl_cmd *c;

	if (argc > 2)
		return usage_error(cmd, "unexpected argument '%s'", argv[2]);
	if (argc < 2) {
		print_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		c = cmd;
	else
		c = find_cmd(argv[1]);
	if (!c)
		return usage_error(NULL, "unknown command '%s'", argv[1]);
	print_cmd_help(c);
	return 0;
}

int main(int argc, char **argv)
{
	const struct recctl_cmd *cmd;
	int rc;

	if (argc < 2) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("recctl " RECFS_VERSION "\n");
		return 0;
	}
	cmd = find_cmd(argv[1]);
	if (!cmd)
		return usage_error(NULL, "unknown command '%s'", argv[1]);
	rc = cmd->run(cmd, argc - 1, argv + 1);
	/* A report cut short by a full disk or closed pipe is an error. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: writing output: %s\n", prog,
			strerror(errno));
		return rc ? rc : EXIT_ERR;
	}
	return rc;
}

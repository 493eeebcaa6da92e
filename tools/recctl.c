/* recctl.c - the recfs command-line tool.
 *
 * Every subcommand is a row of recctl_cmds: name, function, usage and a
 * one-line help.  A subcommand returns the process exit status:
 * 0 success, 1 the answer is "damage found" (fsck, dump), 2 usage or any
 * other error, reported on stderr.  Online subcommands (get, put, stat,
 * ...) get their own rows, and can live in other files once the table's
 * type moves to a header. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"

#define RECCTL_VERSION "0.1"

enum { EXIT_DAMAGE = 1, EXIT_USAGE = 2 };

struct recctl_cmd {
	const char *name;
	int (*run)(const struct recctl_cmd *cmd, int argc, char **argv);
	const char *args; /* usage after the name */
	const char *help; /* one line */
};

static const char *prog = "recctl";

static int usage_error(const struct recctl_cmd *cmd, const char *fmt,
		       const char *what)
{
	fprintf(stderr, "%s: ", prog);
	if (cmd)
		fprintf(stderr, "%s: ", cmd->name);
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
	if (cmd)
		fprintf(stderr, "usage: %s %s %s\n", prog, cmd->name,
			cmd->args);
	else
		fprintf(stderr, "Try '%s --help'.\n", prog);
	return EXIT_USAGE;
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
				printf("usage: %s %s %s\n%s\n", prog, cmd->name,
				       cmd->args, cmd->help);
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
		return EXIT_USAGE;
	}
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(ENOTDIR));
		return EXIT_USAGE;
	}
	return 0;
}

static int open_store(const char *dir, int read_only, struct store **st)
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
		return EXIT_USAGE;
	}
	return 0;
}

/* A failure of the command itself (store in use, not a directory, I/O
 * error) belongs on stderr; store_fsck/store_dump write every line to
 * one stream.  fsck's report is short, so it is held until the result
 * says where it goes; a dump can be huge and goes straight to stdout. */
static int offline_status(int rc, const char *dir, const char *said)
{
	if (rc == 0 || rc == 1)
		return rc;
	fflush(stdout);
	if (said && said[0])
		fputs(said, stderr);
	else if (rc == -EWOULDBLOCK)
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
	FILE *mem;

	rc = parse_store_args(cmd, argc, argv, flags, vals, &dir);
	if (rc >= 0)
		return rc;
	mem = open_memstream(&text, &len);
	if (!mem) {
		fprintf(stderr, "%s: %s\n", prog, strerror(errno));
		return EXIT_USAGE;
	}
	rc = store_fsck(dir, vals[0], mem);
	if (fclose(mem) != 0 && rc >= 0)
		rc = -ENOMEM;
	if (rc == 0 || rc == 1)
		fwrite(text, 1, len, stdout);
	rc = offline_status(rc, dir, text);
	free(text);
	return rc;
}

static int cmd_dump(const struct recctl_cmd *cmd, int argc, char **argv)
{
	const char *dir;
	int rc = parse_store_args(cmd, argc, argv, NULL, NULL, &dir);

	if (rc >= 0)
		return rc;
	rc = store_dump(dir, stdout);
	return offline_status(rc, dir, NULL);
}

static int cmd_stats(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct store_stats s;
	struct store *st;
	const char *dir;
	int rc = parse_store_args(cmd, argc, argv, NULL, NULL, &dir);

	if (rc >= 0)
		return rc;
	if ((rc = check_store_dir(dir)) || (rc = open_store(dir, 1, &st)))
		return rc;
	rc = store_stats(st, &s);
	store_close(st);
	if (rc < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(-rc));
		return EXIT_USAGE;
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
	return 0;
}

static int cmd_compact(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct store_stats before, after;
	struct store *st;
	const char *dir;
	int rc = parse_store_args(cmd, argc, argv, NULL, NULL, &dir), crc;

	if (rc >= 0)
		return rc;
	if ((rc = check_store_dir(dir)) || (rc = open_store(dir, 0, &st)))
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
		return EXIT_USAGE;
	}
	printf("log_bytes before: %" PRIu64 "\n", before.log_bytes);
	printf("log_bytes after: %" PRIu64 "\n", after.log_bytes);
	return 0;
}

static int cmd_help(const struct recctl_cmd *cmd, int argc, char **argv);

static const struct recctl_cmd recctl_cmds[] = {
	{ "fsck", cmd_fsck, "[--repair] STORE",
	  "check a store that is not open; --repair cuts torn tails "
	  "(exit 0 clean, 1 damage, 2 error)" },
	{ "dump", cmd_dump, "STORE",
	  "print every log entry of a store that is not open, one per line" },
	{ "stats", cmd_stats, "STORE",
	  "open a store read-only and print its totals" },
	{ "compact", cmd_compact, "STORE",
	  "open a store and reclaim its dead space now" },
	{ "help", cmd_help, "[COMMAND]", "show help for all or one command" },
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
	c = find_cmd(argv[1]);
	if (!c)
		return usage_error(NULL, "unknown command '%s'", argv[1]);
	printf("usage: %s %s %s\n%s\n", prog, c->name, c->args, c->help);
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
		printf("recctl " RECCTL_VERSION "\n");
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
		return EXIT_USAGE;
	}
	return rc;
}

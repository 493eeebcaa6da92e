/* recctl.h - shared by recctl.c and the rc_*.c files of the recfs tool.
 *
 * Helpers return 0 (or a non-negative count) or a negative errno; only a
 * subcommand's run function turns that into an exit status, so that one
 * place decides what the caller of recctl sees. */
#ifndef RECFS_RECCTL_H
#define RECFS_RECCTL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Exit statuses, documented in recctl(1).  75 and 69 are sysexits.h's
 * EX_TEMPFAIL and EX_UNAVAILABLE, so that scripts can tell "re-read and
 * retry" and "someone is writing" from a plain failure. */
enum {
	EXIT_OK = 0,
	EXIT_ERR = 1,     /* any failure; for fsck and dump: damage found */
	EXIT_USAGE = 2,   /* bad arguments; for fsck and dump also errors */
	EXIT_BUSY = 69,   /* the record stayed busy (EBUSY) */
	EXIT_STALE = 75,  /* the change was refused as stale (EAGAIN) */
};

/* What the helpers return for a path outside any recfs mount. */
#define RC_NOT_RECFS (-EXDEV)

struct recctl_cmd {
	const char *name;
	int (*run)(const struct recctl_cmd *cmd, int argc, char **argv);
	const char *args;    /* usage after the name */
	const char *help;    /* one line */
	const char *details; /* options and notes for --help, or NULL */
};

extern const char *prog;

/* ---- recctl.c ------------------------------------------------------- */
int usage_error(const struct recctl_cmd *cmd, const char *fmt,
		const char *what);
void print_cmd_help(const struct recctl_cmd *cmd);
/* The offline compact, for a STORE directory. */
int compact_offline(const struct recctl_cmd *cmd, const char *dir);

/* ---- rc_args.c: option parsing --------------------------------------- */
struct rc_opt {
	const char *name;  /* "--tries" */
	char short_name;   /* 'n', or 0 */
	int has_arg;
	int set;           /* out: seen (counted) */
	const char *val;   /* out: its argument */
};

/* Parse argv[1..] into @opts and operands.  "--" ends the options; when
 * @rest is not NULL, what follows "--" is left for the caller (update's
 * CMD) and *rest is its index (argc when absent).  A lone "-" and
 * negative numbers ("-5", for incr) are operands.  --help and -h print
 * the command's help.
 * @return -1 to go on, else the exit status to return now. */
int rc_parse(const struct recctl_cmd *cmd, int argc, char **argv,
	     struct rc_opt *opts, const char **operands, int max_operands,
	     int *noperands, int *rest);
/* rc_parse for a command of exactly one operand, named @what in the
 * usage error when it is missing ("missing PATH").
 * @return -1 to go on, else the exit status to return now. */
int rc_parse_one(const struct recctl_cmd *cmd, int argc, char **argv,
		 struct rc_opt *opts, const char **operand, const char *what);
/* A non-negative decimal that fits in 63 bits; -EINVAL otherwise. */
int rc_parse_u64(const char *s, uint64_t *out);

/* ---- rc_util.c: the record through the mount -------------------------- */
/* The committed version of a record.  -ENODATA while a new record is
 * still being written, and on directories. */
int rc_version(const char *path, uint64_t *v);
/* A small xattr as a NUL-terminated string (trailing newline cut). */
int rc_getxattr_str(const char *path, const char *name, char *buf,
		    size_t size);
/* Open @path for reading and tell which version the handle reads:
 * version, open, version again, retried while they differ.  A record
 * still being created is waited for briefly, then -ENODATA. */
int rc_open_consistent(const char *path, uint64_t *v, int *fd);
/* Everything from @fd into a malloc'd buffer (NUL-terminated too). */
int rc_read_fd(int fd, char **buf, size_t *len);
/* rc_open_consistent + rc_read_fd. */
int rc_read_record(const char *path, uint64_t *v, char **buf, size_t *len);
/* Read all of a file that is not a record (stdin, a temp file). */
int rc_read_file(const char *path, char **buf, size_t *len);
int rc_write_all(int fd, const void *buf, size_t len);
/* Replace @path's content with @buf as one commit, declared as based on
 * @basis; @basis 0 means create-only.  EBUSY is retried for a few
 * seconds.  *@made (when not NULL) is the version the commit made, 0 if
 * it could not be told.  -EAGAIN stale, -EBUSY still busy, -EEXIST
 * exists (create), -ENOENT gone (basis > 0), other -errno. */
int rc_commit(const char *path, uint64_t basis, const void *buf, size_t len,
	      uint64_t *made);
/* The same for unlink. */
int rc_remove(const char *path, uint64_t basis);
/* Sleep for a jittered exponential backoff: 10 ms * 2^try, 0.5x-1.5x,
 * at most 1 s. */
void rc_backoff(unsigned try_no);
void rc_sleep_ms(unsigned ms);
/* Print "recctl: CMD: PATH: ..." for a failed change, with the daemon's
 * user.conflict line when the change was stale.  @return the exit
 * status for @err. */
int rc_report(const struct recctl_cmd *cmd, const char *path, int err,
	      const char *doing);
int rc_exit_for(int err);
/* "2026-12-02T05:00:00Z" */
void rc_fmt_time(time_t t, char *buf, size_t size);

/* ---- rc_locate.c: the mount root and the history tree ----------------- */
/* The root of the recfs mount holding @path (a directory with a .recfs
 * entry) and @path's key relative to it.  @path need not exist any more
 * (a deleted record's history is still reachable).  Both malloc'd. */
int rc_locate(const char *path, char **root, char **key);
/* Is @path (or, when it does not exist, where it would be) in a recfs
 * mount?  1 yes, 0 no, or a negative errno.  Outside one no version is
 * checked: a put there would write blind, so the commands refuse. */
int rc_on_recfs(const char *path);
/* "ROOT/.recfs/history/KEY" (and "/N" when @version is not 0). */
int rc_history_path(const char *path, uint64_t version, char **out);
/* The version numbers under a history directory, newest first. */
int rc_list_versions(const char *hdir, uint64_t **vs, size_t *count);
/* Is @path a symlink in a recfs mount, a record of its own?  One
 * outside a mount (in $HOME, to a directory or a record of the mount)
 * is no record: recctl follows it, as any tool does (until 2026-12-06
 * ls, stat and log through one refused the path).  @return 1, 0, or
 * -errno. */
int rc_link_on_recfs(const char *path);
/* A symlink record's version and content hash (33 bytes), from its
 * history: the kernel keeps user.* attributes off symlinks, so a
 * symlink's own are not readable (its newest kept version is its
 * current one).  @hash may be NULL.  @return 0, -ENOENT none kept, or
 * -errno. */
int rc_link_version(const char *path, uint64_t *v, char *hash);
/* Split "PATH@N"; *version 0 when there is no "@N".  -EINVAL for @0,
 * and for an "@" followed by no version where no file has that name. */
int rc_split_at(const char *arg, char **path, uint64_t *version);

/* ---- rc_run.c: child processes ---------------------------------------- */
/* Run argv[0] from $PATH with @in as its stdin (NULL: /dev/null) and,
 * when @out is not NULL, its stdout collected into *out and *outlen.
 * @return its exit status (0-255), 128+signal, or -errno if it could
 * not run (-ENOENT: not found). */
int rc_run(char *const argv[], const void *in, size_t inlen, char **out,
	   size_t *outlen);
/* Run with stdin, stdout and stderr inherited (editors, diff). */
int rc_run_tty(char *const argv[]);
/* A private temporary directory (mkdtemp in $TMPDIR or /tmp). */
int rc_tmpdir(char **dir);
int rc_write_file(const char *path, const void *buf, size_t len);
/* rm -r of a directory made by rc_tmpdir (flat). */
void rc_rm_tmpdir(const char *dir);

/* ---- rc_merge.c: edit's conflict screen -------------------------------- */
/* Run $VISUAL, $EDITOR or vi on @file, on the terminal. */
int ed_editor(const char *file);
/* Print @title, then diff -u of two files with labels, to stdout. */
void ed_show_diff(const char *title, const char *la, const char *fa,
		  const char *lb, const char *fb);
/* Three-way merge of files into *out; *conflicts > 0 when it left
 * conflict markers. */
int ed_merge3(const char *mine, const char *base, const char *theirs,
	      const char *lbase, const char *ltheirs, char **out,
	      size_t *outlen, int *conflicts);
int ed_has_markers(const char *buf, size_t len);
/* Ask on stdout, read a line from stdin: its first letter, lowercase,
 * or EOF. */
int ed_ask(const char *prompt);
/* 1 only if the answer line is exactly @word. */
int ed_confirm_word(const char *prompt, const char *word);

/* ---- subcommands -------------------------------------------------------- */
int cmd_get(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_stat(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_why(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_ls(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_put(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_rm(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_update(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_incr(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_edit(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_log(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_show(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_diff(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_watch(const struct recctl_cmd *cmd, int argc, char **argv);
int cmd_wait(const struct recctl_cmd *cmd, int argc, char **argv);
/* Through the daemon when @dir is inside a mount (rc_history.c). */
int rc_compact_online(const struct recctl_cmd *cmd, const char *dir,
		      int *handled);

#endif

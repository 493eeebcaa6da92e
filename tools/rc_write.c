/* rc_write.c - put, rm, update and incr: changes through the mount, each
 * one commit based on a version the caller names or recctl just read. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recctl.h"

/* A transform has printed its own message; exit 1, report nothing. */
#define ERR_REPORTED (-ECANCELED)

static int parse_expect(const struct recctl_cmd *cmd, const struct rc_opt *o,
			uint64_t *v)
{
	if (!o->set)
		return usage_error(cmd, "%s", "missing --expect N");
	if (rc_parse_u64(o->val, v) < 0)
		return usage_error(cmd, "bad version '%s'", o->val);
	return -1;
}

static int parse_tries(const struct recctl_cmd *cmd, const struct rc_opt *o,
		       unsigned *tries)
{
	uint64_t t = 10;

	if (o->set && (rc_parse_u64(o->val, &t) < 0 || t == 0 || t > 100000))
		return usage_error(cmd, "bad --tries '%s'", o->val);
	*tries = (unsigned)t;
	return -1;
}

/* A record that is gone when a version > 0 was expected is a stale
 * basis too (someone deleted it), unless its directory is gone as well.
 * @return the exit status if it said so, else -1. */
static int report_gone(const struct recctl_cmd *cmd, const char *path,
		       int rc, uint64_t basis)
{
	char *dir, *slash;
	struct stat sb;
	int gone;

	if (rc != -ENOENT || basis == 0)
		return -1;
	dir = strdup(path);
	if (!dir)
		return -1;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0'; /* "/name": the directory is "/" */
	else if (slash)
		*slash = '\0';
	gone = stat(slash ? dir : ".", &sb) == 0;
	free(dir);
	if (!gone)
		return -1;
	fprintf(stderr, "%s: %s: %s: it does not exist (deleted?), but "
		"your change was based on version %" PRIu64 "; nothing was "
		"changed\n", prog, cmd->name, path, basis);
	return EXIT_STALE;
}

/* The version our commit made (rc_commit), 0 when unknown. */
static void print_new_version(uint64_t v)
{
	if (v)
		printf("%" PRIu64 "\n", v);
}

int cmd_put(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct rc_opt opts[] = { { "--expect", 'e', 1, 0, NULL }, { 0 } };
	const char *path;
	char *buf = NULL;
	size_t len = 0;
	uint64_t basis, made = 0;
	int rc;

	rc = rc_parse_one(cmd, argc, argv, opts, &path, "PATH");
	if (rc >= 0)
		return rc;
	rc = parse_expect(cmd, &opts[0], &basis);
	if (rc >= 0)
		return rc;
	/* All of stdin first: a commit must not wait on a slow producer
	 * while it holds the record's write lease. */
	rc = rc_read_fd(0, &buf, &len);
	if (rc < 0) {
		fprintf(stderr, "%s: put: reading stdin: %s\n", prog,
			strerror(-rc));
		return EXIT_ERR;
	}
	rc = rc_commit(path, basis, buf, len, &made);
	free(buf);
	if (rc < 0) {
		int st = report_gone(cmd, path, rc, basis);

		if (st >= 0)
			return st;
		st = rc_report(cmd, path, rc, "commit");
		if (rc == -EAGAIN && basis == 0)
			fprintf(stderr, "%s: put: %s: (a create is refused "
				"when this shell read the record before it "
				"was deleted)\n", prog, path);
		return st;
	}
	print_new_version(made);
	return EXIT_OK;
}

int cmd_rm(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct rc_opt opts[] = { { "--expect", 'e', 1, 0, NULL }, { 0 } };
	const char *path;
	uint64_t basis;
	int rc;

	rc = rc_parse_one(cmd, argc, argv, opts, &path, "PATH");
	if (rc >= 0)
		return rc;
	rc = parse_expect(cmd, &opts[0], &basis);
	if (rc >= 0)
		return rc;
	if (basis == 0)
		return usage_error(cmd, "%s", "--expect 0 means \"must not "
				   "exist\": there is nothing to remove");
	rc = rc_remove(path, basis);
	if (rc < 0) {
		int st = report_gone(cmd, path, rc, basis);

		return st >= 0 ? st : rc_report(cmd, path, rc, "remove");
	}
	return EXIT_OK;
}

/* ---- update: read, transform, commit; again while stale ---------------- */

typedef int (*transform_fn)(void *ctx, const char *in, size_t inlen,
			    char **out, size_t *outlen);

/* The optimistic loop of Rails' lock_version retries, done for the
 * caller: each try reads a version and its content together, and
 * commits with that version declared explicitly (after a refusal the
 * daemon ignores our own re-reads for 2 s, but never a declaration). */
static int update_loop(const char *path, unsigned tries, transform_fn fn,
		       void *ctx, uint64_t *made)
{
	char *in = NULL, *out = NULL;
	size_t inlen, outlen;
	uint64_t v;
	int rc;

	for (unsigned t = 0;; t++) {
		rc = rc_read_record(path, &v, &in, &inlen);
		if (rc < 0)
			goto out;
		rc = fn(ctx, in, inlen, &out, &outlen);
		if (rc < 0)
			goto out;
		rc = rc_commit(path, v, out, outlen, made);
		free(in);
		free(out);
		in = out = NULL;
		/* Deleted meanwhile: the next read says so. */
		if (rc == 0 || (rc != -EAGAIN && rc != -ENOENT))
			goto out;
		if (t + 1 >= tries) {
			rc = -EAGAIN;
			goto out;
		}
		rc_backoff(t);
	}
out:
	free(in);
	free(out);
	return rc;
}

static int finish_update(const struct recctl_cmd *cmd, const char *path,
			 int rc, unsigned tries)
{
	char what[64];

	if (rc == ERR_REPORTED)
		return EXIT_ERR;
	if (rc == -EAGAIN) {
		snprintf(what, sizeof(what), "still stale after %u %s", tries,
			 tries == 1 ? "try" : "tries");
		return rc_report(cmd, path, rc, what);
	}
	if (rc < 0)
		return rc_report(cmd, path, rc, NULL);
	return EXIT_OK;
}

struct cmd_ctx {
	char *const *argv;
};

static int run_cmd(void *vctx, const char *in, size_t inlen, char **out,
		   size_t *outlen)
{
	struct cmd_ctx *c = vctx;
	int st = rc_run(c->argv, in, inlen, out, outlen);

	if (st == 0)
		return 0;
	if (st > 0) {
		free(*out);
		*out = NULL;
	}
	if (st < 0)
		fprintf(stderr, "%s: update: %s: %s; nothing was committed\n",
			prog, c->argv[0], strerror(-st));
	else
		fprintf(stderr, "%s: update: %s exited with status %d; nothing "
			"was committed\n", prog, c->argv[0], st);
	return ERR_REPORTED;
}

int cmd_update(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct rc_opt opts[] = { { "--tries", 'n', 1, 0, NULL }, { 0 } };
	struct cmd_ctx c;
	uint64_t made = 0;
	const char *ops[2];
	unsigned tries;
	int n, rc, rest;

	rc = rc_parse(cmd, argc, argv, opts, ops, 2, &n, &rest);
	if (rc >= 0)
		return rc;
	if (n == 0)
		return usage_error(cmd, "%s", "missing PATH");
	if (n > 1)
		return usage_error(cmd, "unexpected argument '%s' (put CMD "
				   "after --)", ops[1]);
	if (rest >= argc)
		return usage_error(cmd, "%s", "missing -- CMD");
	rc = parse_tries(cmd, &opts[0], &tries);
	if (rc >= 0)
		return rc;
	c.argv = argv + rest;
	rc = update_loop(ops[0], tries, run_cmd, &c, &made);
	if (rc == 0)
		print_new_version(made);
	return finish_update(cmd, ops[0], rc, tries);
}

/* ---- incr: update with a built-in transform ---------------------------- */

struct incr_ctx {
	long long delta, value;
	const char *path;
};

static int parse_ll(const char *s, const char *end, long long *out)
{
	char *e;

	errno = 0;
	*out = strtoll(s, &e, 10);
	if (e == s || e != end || errno)
		return -EINVAL;
	return 0;
}

static int add_delta(void *vctx, const char *in, size_t inlen, char **out,
		     size_t *outlen)
{
	struct incr_ctx *c = vctx;
	const char *s = in, *e = in + inlen;
	long long n = 0;
	int len;

	while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
			 e[-1] == '\r'))
		e--;
	if (memchr(in, '\0', inlen) ||
	    (s < e && parse_ll(s, e, &n) < 0)) {
		fprintf(stderr, "%s: incr: %s: the content is not a decimal "
			"integer; nothing was committed\n", prog, c->path);
		return ERR_REPORTED;
	}
	if (__builtin_add_overflow(n, c->delta, &c->value)) {
		fprintf(stderr, "%s: incr: %s: %lld %+lld overflows; nothing "
			"was committed\n", prog, c->path, n, c->delta);
		return ERR_REPORTED;
	}
	len = asprintf(out, "%lld\n", c->value);
	if (len < 0)
		return -ENOMEM;
	*outlen = (size_t)len;
	return 0;
}

int cmd_incr(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct rc_opt opts[] = { { "--tries", 'n', 1, 0, NULL },
				 { "--value", 0, 0, 0, NULL }, { 0 } };
	struct incr_ctx c = { 1, 0, NULL };
	uint64_t made = 0;
	const char *ops[2];
	unsigned tries;
	int n, rc;

	rc = rc_parse(cmd, argc, argv, opts, ops, 2, &n, NULL);
	if (rc >= 0)
		return rc;
	if (n == 0)
		return usage_error(cmd, "%s", "missing PATH");
	rc = parse_tries(cmd, &opts[0], &tries);
	if (rc >= 0)
		return rc;
	if (n == 2 && parse_ll(ops[1], ops[1] + strlen(ops[1]), &c.delta) < 0)
		return usage_error(cmd, "bad DELTA '%s'", ops[1]);
	c.path = ops[0];
	rc = update_loop(ops[0], tries, add_delta, &c, &made);
	if (rc == 0 && opts[1].set)
		printf("%lld\n", c.value);
	else if (rc == 0)
		print_new_version(made);
	return finish_update(cmd, ops[0], rc, tries);
}

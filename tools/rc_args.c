/* rc_args.c - option parsing for the online subcommands.
 *
 * Not getopt_long: a negative DELTA ("incr c -5") must be an operand,
 * and update's CMD after "--" must reach the child untouched. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recctl.h"

static int is_number(const char *s)
{
	if (*s == '-')
		s++;
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static struct rc_opt *find_opt(struct rc_opt *opts, const char *a,
			       size_t len)
{
	for (struct rc_opt *o = opts; o && o->name; o++) {
		if (a[1] != '-') {
			if (len == 2 && o->short_name && a[1] == o->short_name)
				return o;
		} else if (strlen(o->name) == len &&
			   strncmp(o->name, a, len) == 0) {
			return o;
		}
	}
	return NULL;
}

int rc_parse(const struct recctl_cmd *cmd, int argc, char **argv,
	     struct rc_opt *opts, const char **operands, int max_operands,
	     int *noperands, int *rest)
{
	int only_operands = 0;

	*noperands = 0;
	if (rest)
		*rest = argc;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		struct rc_opt *o;
		size_t len;

		if (!only_operands && strcmp(a, "--") == 0) {
			if (rest) {
				*rest = i + 1;
				break;
			}
			only_operands = 1;
			continue;
		}
		if (only_operands || a[0] != '-' || !a[1] || is_number(a)) {
			/* No command takes an empty operand: "" (an unset
			 * variable's "$f") was taken for a name in the
			 * working directory, and put and rm called it stale
			 * (exit 75: retry), watch polled it for ever. */
			if (!a[0])
				return usage_error(cmd, "%s", "an empty "
						   "argument (an unset "
						   "variable?)");
			if (*noperands >= max_operands)
				return usage_error(cmd, "unexpected argument "
						   "'%s'", a);
			operands[(*noperands)++] = a;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			print_cmd_help(cmd);
			return EXIT_OK;
		}
		eq = a[1] == '-' ? strchr(a, '=') : NULL;
		len = eq ? (size_t)(eq - a) : strlen(a);
		o = find_opt(opts, a, len);
		if (!o)
			return usage_error(cmd, "unknown option '%s'", a);
		o->set++;
		if (!o->has_arg) {
			if (eq)
				return usage_error(cmd, "option '%s' takes no "
						   "value", a);
			continue;
		}
		if (eq) {
			o->val = eq + 1;
		} else if (i + 1 < argc) {
			o->val = argv[++i];
		} else {
			return usage_error(cmd, "option '%s' needs a value",
					   a);
		}
	}
	return -1;
}

int rc_parse_one(const struct recctl_cmd *cmd, int argc, char **argv,
		 struct rc_opt *opts, const char **operand, const char *what)
{
	int n, rc = rc_parse(cmd, argc, argv, opts, operand, 1, &n, NULL);

	if (rc >= 0)
		return rc;
	return n == 1 ? -1 : usage_error(cmd, "missing %s", what);
}

int rc_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		uint64_t d = (uint64_t)(*s - '0');

		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return -EINVAL; /* past 2^63-1, as the daemon says */
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

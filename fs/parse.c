/* parse.c - parsers of user-supplied values (fuzzed by tests/fuzz). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "parse.h"

int rfs_parse_version(const char *val, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len && val[len - 1] == '\n')
		len--;
	if (len == 0)
		return -EINVAL;
	/* Bound the value, not the length: "000...01" with more than 19
	 * digits is still a valid version. */
	for (size_t i = 0; i < len; i++) {
		uint64_t d;

		if (val[i] < '0' || val[i] > '9')
			return -EINVAL;
		d = (uint64_t)(val[i] - '0');
		if (v > (INT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

size_t rfs_format_version(uint64_t v, char out[20])
{
	char tmp[20];
	size_t n = 0;

	do { /* snprintf's "%llu" was a fifth of a GETXATTR's time */
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* fuzz_xattr.c - libFuzzer target: rfs_parse_version (fs/parse.c), the
 * parser of user.expected_version values.
 *
 * The contract (README "Extended attributes"): 0 exactly when the value
 * is ASCII decimal digits, optionally followed by one '\n', of value at
 * most 2^63-1, and then *out is what strtoull makes of the digits;
 * -EINVAL otherwise. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy so that ASan sees any read past the value. */
	char *val = malloc(size ? size : 1);
	size_t len = size;
	uint64_t out = 0;
	int rc, digits;

	CHECK(val);
	if (size)
		memcpy(val, data, size);
	rc = rfs_parse_version(val, size, &out);
	CHECK(rc == 0 || rc == -EINVAL);

	if (len && val[len - 1] == '\n')
		len--;
	digits = len > 0;
	for (size_t i = 0; i < len; i++)
		if (val[i] < '0' || val[i] > '9')
			digits = 0;
	if (!digits) {
		CHECK(rc == -EINVAL);
	} else {
		char *s = malloc(len + 1), *end;
		unsigned long long x;

		CHECK(s);
		memcpy(s, val, len);
		s[len] = 0;
		errno = 0;
		x = strtoull(s, &end, 10);
		CHECK(end == s + len);
		if (errno == ERANGE || x > INT64_MAX) {
			CHECK(rc == -EINVAL);
		} else {
			char back[20];
			uint64_t again = 0;
			size_t bl;

			CHECK(rc == 0);
			CHECK(out == x);
			/* What user.version prints reads back the same. */
			bl = rfs_format_version(out, back);
			CHECK(bl >= 1 && bl <= 20);
			CHECK(rfs_parse_version(back, bl, &again) == 0);
			CHECK(again == out);
		}
		free(s);
	}
	free(val);
	return 0;
}

/* parse.h - parsers of user-supplied values.  Free of FUSE and store
 * headers so that tests/fuzz can build them alone. */
#ifndef RECFS_PARSE_H
#define RECFS_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* xattr value parsing: ASCII decimal, optional trailing newline.
 * @return 0 or -EINVAL. */
int rfs_parse_version(const char *val, size_t len, uint64_t *out);

#endif

/* parse.h - parsers of user-supplied values.  Free of FUSE and store
 * headers so that tests/fuzz can build them alone. */
#ifndef RECFS_PARSE_H
#define RECFS_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* xattr value parsing: ASCII decimal, optional trailing newline.
 * @return 0 or -EINVAL. */
int rfs_parse_version(const char *val, size_t len, uint64_t *out);

/* @v in ASCII decimal into @out (no NUL), as user.version gives it: what
 * rfs_parse_version() reads back.  @return its length (1 to 20). */
size_t rfs_format_version(uint64_t v, char out[20]);

#endif

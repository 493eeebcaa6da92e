/* fsck_dump.c - store_dump(): every entry of every segment, in log order,
 * for recctl dump.  Reads through fsck_open(), so it works on a store
 * that store_open() refuses. */
#include "fsck_int.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

static void fsck_dump_entry(FILE *out, const char *seg, uint64_t off,
			    const struct log_entry *e)
{
	static const char *const flag_names[] = { "COMMIT", "HIST", "BLOB",
						  "OWNER" };
	struct log_body b;
	char t[64], hex[33];
	int first = 1;

	fprintf(out, "%s %" PRIu64 " %s[", seg, off, fsck_type_name(e->type));
	for (int i = 0; i < 4; i++) {
		if (!(e->flags & (1u << i)))
			continue;
		fprintf(out, "%s%s", first ? "" : ",", flag_names[i]);
		first = 0;
	}
	fprintf(out, "] key=");
	fsck_key_print(out, e->key, e->key_len);
	fsck_time(e->time_ns, t, sizeof(t));
	fprintf(out, " v=%" PRIu64 " t=%s len=%" PRIu64 " body=%" PRIu32,
		e->version, t, e->value_len, e->body_len);
	if (e->type == LOG_PUT || e->type == LOG_META ||
	    e->type == LOG_MKDIR) {
		if (log_body_decode(e->body, e->body_len, &b) < 0) {
			fprintf(out, " body-bad\n");
			return;
		}
		if (e->flags & LOG_F_BLOB)
			fprintf(out, " blob=%016" PRIx64, b.blob_id);
		fprintf(out, " mode=0%o uid=%" PRIu32 " gid=%" PRIu32,
			b.meta.mode, b.meta.uid, b.meta.gid);
		if (e->type == LOG_PUT) {
			fsck_hex(b.hash, 16, hex);
			fprintf(out, " hash=%s", hex);
		}
	}
	fputc('\n', out);
}

int store_dump(const char *dir, FILE *out)
{
	struct fsck_ctx c;
	struct log_reader r = { .fd = -1 };
	struct log_entry e;
	uint64_t off, group_start = 0, durable;
	int fd = -1, rc, err, open_group;

	err = fsck_open(&c, dir, 0, out);
	if (err)
		goto out;
	for (size_t i = 0; i < c.nsegs; i++) {
		struct fsck_seg *s = &c.segs[i];
		char by[32];

		if (s->obsolete) {
			fsck_seg_name(s->by, by, sizeof(by));
			fprintf(out, "# %s: obsolete (superseded by %s)\n",
				s->name, by);
			if (s->hdr)
				continue;
		}
		if (s->hdr == FSCK_NO_HDR) {
			fprintf(out, "%s 0 torn tail (no header), dump "
				     "stopped\n", s->name);
			err = 1;
			goto out;
		}
		if (s->hdr) {
			fprintf(out, "%s: %s, dump stopped\n", s->name,
				s->hdr == -EPROTONOSUPPORT ? "future format"
				: s->hdr == FSCK_SYMLINK
					? "a symbolic link, not followed"
					: "bad header");
			err = 1;
			goto out;
		}
		fd = openat(c.dfd, s->name,
			    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
		if (fd < 0) {
			err = -errno;
			fprintf(out, "%s: %s\n", s->name, strerror(errno));
			goto out;
		}
		err = log_reader_init(&r, fd);
		if (err)
			goto out;
		/* Before what a hint says was on disk there is no torn
		 * tail: damage there is corruption, as replay and fsck
		 * have it (log.h: every reader of segments agrees). */
		durable = fsck_durable_len(&c, s->id);
		open_group = 0;
		while ((rc = log_reader_next(&r, &e, &off)) == 1) {
			if (!open_group)
				group_start = off;
			open_group = !(e.flags & LOG_F_COMMIT);
			fsck_dump_entry(out, s->name, off, &e);
		}
		/* Zeros after the last entry: the end, as replay has it. */
		if (rc == -EUCLEAN && !open_group) {
			rc = log_reader_zero_end(&r, off);
			rc = rc > 0 && off >= durable ? 0
			     : rc >= 0 ? -EUCLEAN : rc;
		}
		if (rc == 0 && open_group) {
			fprintf(out, "%s %" PRIu64 " %s (unclosed group), "
				     "dump stopped\n", s->name, group_start,
				group_start < durable ? "corrupt entry"
						      : "torn tail");
			err = 1;
			goto out;
		}
		if (rc == 0 && r.file_size < durable) {
			fprintf(out, "%s %" PRIu64 " ends before its hint's %"
				     PRIu64 " bytes (corrupt), dump stopped\n",
				s->name, r.file_size, durable);
			err = 1;
			goto out;
		}
		if (rc == -EUCLEAN) {
			int torn = log_reader_torn(&r, off);

			if (torn > 0 &&
			    (open_group ? group_start : off) < durable)
				torn = 0;
			fprintf(out, "%s %" PRIu64 " %s, dump stopped\n", s->name,
				off, torn > 0 ? "torn tail" : torn == 0
						  ? "corrupt entry" : "damaged entry");
			err = 1;
			goto out;
		}
		if (rc < 0) {
			err = rc;
			fprintf(out, "%s: reading at offset %" PRIu64 ": %s\n",
				s->name, off, strerror(-rc));
			goto out;
		}
		log_reader_free(&r);
		close(fd);
		fd = -1;
	}
out:
	log_reader_free(&r);
	if (fd >= 0)
		close(fd);
	fsck_close(&c);
	return err;
}

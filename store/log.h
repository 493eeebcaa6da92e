/* log.h - encoding of segments, entries and hint files (see FORMAT.md).
 * Internal to store/: fs/ and tools/ include store.h only. */
#ifndef RECFS_LOG_H
#define RECFS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <xxhash.h>
#include "store.h"

#define LOG_MAGIC "RECFSLOG"
#define HINT_MAGIC "RECFSHNT"
#define LOG_FORMAT 1
#define LOG_SEG_HDR 40     /* magic, format, flags, id, first_id, xxh3 */
#define LOG_ENTRY_HDR 48
#define LOG_BODY_FIXED 64  /* mode..blob_id, before the xattrs */
#define LOG_ENTRY_MAX (1u << 30)
/* Segment ids live in 32 bits in the index (struct ver, node_ext): a
 * store rolls a segment per 64 MiB or per open, so 2^32 of them is out
 * of reach; open refuses a higher id rather than mistake it, and fsck
 * reports it (FORMAT.md). */
#define SEG_ID_MAX UINT32_MAX

enum log_type {
	LOG_PUT = 1,   /* record state: body + content (inline or blob) */
	LOG_META = 2,  /* metadata only, same version */
	LOG_DEL = 3,   /* tombstone, version = the tombstone's */
	LOG_MKDIR = 4, /* directory with its metadata */
	LOG_RMDIR = 5,
	LOG_FLOOR = 6, /* store-wide version floor = version */
};

enum log_flags {
	LOG_F_COMMIT = 1, /* closes a group: the entries before it apply */
	LOG_F_HIST = 2,   /* a kept older version re-written by compaction */
	LOG_F_BLOB = 4,   /* content lives in blobs/<blob_id> */
	LOG_F_OWNER = 8,  /* a HIST PUT whose body's mode, uid and gid are its
			   * ended incarnation's (FORMAT.md) */
};

/* A decoded entry.  Pointers point into the decoded buffer. */
struct log_entry {
	uint8_t type;
	uint8_t flags;
	uint16_t key_len;
	uint32_t len;         /* whole entry in the segment */
	uint32_t body_len;
	uint64_t version;
	int64_t time_ns;
	uint64_t value_len;   /* content length */
	const char *key;      /* not NUL-terminated */
	const uint8_t *body;  /* body_len bytes */
	const uint8_t *value; /* inline content, NULL for blobs and hints */
};

/* The fixed part of a body. */
struct log_body {
	struct store_meta meta;
	uint8_t hash[16];
	uint64_t blob_id;
	const uint8_t *xattrs; /* packed: u16 name_len, u32 val_len, name, value */
	uint32_t xattrs_len;
};

/* XXH3 (seed 0) over long inputs: contents, entries, whole files.  When
 * libxxhash has its x86 dispatch, that picks AVX2 or AVX-512 code at run
 * time: the same values, several times faster than the library's default
 * SSE2 code, which is what the commit path mostly spends its time in
 * besides the write itself.  The vector registers are left clean after
 * it (log.c says why). */
uint64_t log_xxh64(const void *p, size_t len);
void log_xxh64_update(XXH3_state_t *s, const void *p, size_t len);
void log_xxh128(const void *p, size_t len, uint8_t out[16]); /* canonical */
void log_xxh128_update(XXH3_state_t *s, const void *p, size_t len);

void log_put16(uint8_t *p, uint16_t v);
void log_put32(uint8_t *p, uint32_t v);
void log_put64(uint8_t *p, uint64_t v);
uint16_t log_get16(const uint8_t *p);
uint32_t log_get32(const uint8_t *p);
uint64_t log_get64(const uint8_t *p);

/* Take the store's LOCK (flock, exclusive) on @fd.  A daemon that was
 * just unmounted still closes its store for some 20 ms after
 * `fusermount3 -u` returns, so a lock another holds is tried again every
 * 10 ms for LOG_LOCK_WAIT_MS before the store counts as in use.
 * @return 0, -EWOULDBLOCK (still held), or another -errno of flock. */
#define LOG_LOCK_WAIT_MS 1000
int log_lock_wait(int fd);
/* The pid its holder wrote into LOCK (@fd), as text into @buf (@len
 * bytes, at least 1): empty when it wrote none or it cannot be read. */
void log_lock_holder(int fd, char *buf, size_t len);

/* Segment header into @out (LOG_SEG_HDR bytes). */
void log_seg_header(uint8_t *out, uint64_t id, uint64_t first_id);
/* Check a segment header.  @return 0; -EUCLEAN bad magic or checksum;
 * -EPROTONOSUPPORT future format. */
int log_seg_check(const uint8_t *hdr, uint64_t *id, uint64_t *first_id);

/* Size of an entry with these parts. */
size_t log_entry_size(size_t key_len, size_t body_len, size_t inline_len);
/* Encode one entry into @out (log_entry_size() bytes), checksum last. */
void log_entry_encode(uint8_t *out, uint8_t type, uint8_t flags,
		      const char *key, size_t key_len, uint64_t version,
		      int64_t time_ns, uint64_t value_len, const uint8_t *body,
		      size_t body_len, const void *value, size_t inline_len);

/* Decode the entry at @buf (@avail bytes there).
 * @return > 0 its length; 0 @avail is too short to tell (need more);
 *  -EUCLEAN bad checksum or framing. */
ssize_t log_entry_decode(const uint8_t *buf, size_t avail,
			 struct log_entry *e);
/* log_entry_decode() without the checksum: for bytes this process has
 * just encoded (the commit path applies its own batch). */
ssize_t log_entry_parse(const uint8_t *buf, size_t avail, struct log_entry *e);

/* Body encoding; @xattrs may be NULL. */
size_t log_body_size(uint32_t xattrs_len);
void log_body_encode(uint8_t *out, const struct store_meta *m,
		     const uint8_t hash[16], uint64_t blob_id,
		     const uint8_t *xattrs, uint32_t xattrs_len);
/* @return 0 or -EUCLEAN. */
int log_body_decode(const uint8_t *body, size_t len, struct log_body *b);

/* True if every byte of @buf is zero (a torn tail is zeros or nothing). */
int log_all_zero(const uint8_t *buf, size_t len);

/* Reads a segment file front to back.  A whole-file buffer is avoided:
 * the reader keeps a window and refills it. */
struct log_reader {
	int fd;
	uint64_t file_size;
	uint64_t off;       /* offset of the next entry */
	uint8_t *buf;
	size_t cap, start, end; /* window [start,end) maps file [base,...) */
	uint64_t base;
	int big;            /* 1 if buf was grown for a large entry */
};

int log_reader_init(struct log_reader *r, int fd);
/* Next entry.  @return 1 entry in *e at *off; 0 end of file;
 *  -EUCLEAN no entry at *off (r->off): the caller decides clean zero
 *  end vs torn vs corrupt with log_reader_zero_end() and
 *  log_reader_torn(); -EIO. */
int log_reader_next(struct log_reader *r, struct log_entry *e, uint64_t *off);
/* 1 if every byte from @off to the end of file is zero, 0 if not, <0 err. */
int log_reader_rest_zero(struct log_reader *r, uint64_t off);
/* log_reader_next() found no entry at @off, where one would start, and
 * no group is open: is it the segment's clean end?  A segment may end in
 * zero bytes after its last entry (FORMAT.md: written ahead of the log
 * with sync_always), so only zeros from @off to the end of the file are
 * not damage; a torn entry starts with non-zero bytes.  Every reader of
 * segments (replay, fsck, dump) asks this first, so that they agree.
 * @return 1 clean end, 0 damage (ask log_reader_torn()), <0 I/O error. */
int log_reader_zero_end(struct log_reader *r, uint64_t off);
/* Damage was found at @off.  Is it a torn tail (cut it) or corruption
 * (report it)?  Torn: nothing but zeros follows the damaged entry, or it
 * runs to the end of the file, and no valid entry can be found anywhere
 * after @off (so a flipped length field cannot hide committed entries).
 * @return 1 torn, 0 corruption, <0 I/O error. */
int log_reader_torn(struct log_reader *r, uint64_t off);
void log_reader_free(struct log_reader *r);

/* XXH3-64 of the first @size bytes of @fd.  @return 0 or -EIO. */
int log_file_hash(int fd, uint64_t size, uint64_t *out);
#define LOG_HINT_HDR 40 /* magic, format, flags, id, seg length, seg hash */
/* Hint flags (u32 at byte 12).  DURABLE: the segment's recorded length
 * was on disk (synced) before the hint was written, so that any
 * difference found later in those bytes is damage, never a torn tail.
 * Hints without it (older ones, or one written at a roll that did not
 * sync) leave a damaged last entry to the torn-tail rule. */
#define HINT_F_DURABLE 1u
/* If @buf (@len bytes) is a whole, self-consistent hint of segment @id
 * (magic, format, id, trailing XXH3-64; the segment is not looked at)
 * with HINT_F_DURABLE set, its recorded segment length.  Else 0. */
uint64_t log_hint_durable_len(const uint8_t *buf, size_t len, uint64_t id);
/* log_hint_durable_len() of segment @id's hint file in directory @dirfd:
 * 0 also when there is none or it cannot be read. */
uint64_t log_hint_file_durable_len(int dirfd, uint64_t id);
/* Check a whole hint file @buf (@len bytes) for segment @id of @seg_size
 * bytes, as replay does before applying any record: header fields, the
 * trailing XXH3-64, and that the records (u64 offset + entry header +
 * key + body) tile the space before it exactly.  The segment hash at
 * byte 32 is not checked: the caller compares it with its segment.
 * @return 0 and the record count in *@nrecords (if not NULL); -EUCLEAN. */
int log_hint_check(const uint8_t *buf, size_t len, uint64_t id,
		   uint64_t seg_size, size_t *nrecords);

#endif

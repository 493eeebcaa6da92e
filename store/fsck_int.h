/* fsck_int.h - what the parts of the offline check share: fsck.c (opening
 * and the entry point), fsck_replay.c (which versions each key keeps),
 * fsck_files.c (segments, hints, blobs) and fsck_dump.c (recctl dump).
 * Private to store/: tools use store_fsck() and store_dump(). */
#ifndef RECFS_FSCK_INT_H
#define RECFS_FSCK_INT_H

#include "log.h"

#include <stdint.h>
#include <stdio.h>

#define FSCK_BLOB_BUF (1u << 20)
#define FSCK_HINT_HDR LOG_HINT_HDR
#define FSCK_MISNAMED 1  /* fsck_seg.hdr: the header names another id */
#define FSCK_NO_HDR 2    /* fsck_seg.hdr: the newest segment has no header
			    (shorter than one, or zeros to its end): a
			    torn tail, as replay has it */
#define FSCK_SYMLINK 3   /* fsck_seg.hdr: a symbolic link in its place,
			    not followed (damage, as replay has it) */

struct fsck_seg {
	uint64_t id;
	uint64_t first_id;
	uint64_t size;
	int hdr;          /* log_seg_check() result, -EIO short or unreadable,
	                     FSCK_MISNAMED, FSCK_NO_HDR or FSCK_SYMLINK */
	uint64_t by;      /* id of the compacted segment replacing it, or 0 */
	int obsolete;
	char name[32];
};

/* One PUT a key's kept versions may name. */
struct fsck_ver {
	uint64_t version;
	uint64_t blob_id;   /* 0 = inline content, nothing to check */
	uint64_t value_len;
	uint64_t seg;       /* where the entry is, for the report */
	uint64_t off;
	uint8_t hash[16];
};

enum { FK_NONE, FK_FILE, FK_DIR, FK_TOMB };

struct fsck_key {
	char *key;
	uint16_t len;
	uint8_t kind;       /* FK_*; FK_NONE is as good as absent */
	uint8_t linked;     /* counted in its parent's nchild */
	uint64_t nchild;    /* live records and directories beneath */
	/* Every version the log still holds, oldest first.  Not only the
	 * newest 8 (the default keep_versions): the setting is not
	 * recorded in the store, an open with a larger one keeps more and
	 * needs their blobs, and compaction removes no blob an entry in
	 * the log names.  Until 2026-12-06 fsck held blobs to 8 versions:
	 * a lost blob of an older one refused such an open, while fsck
	 * called the store clean and --repair did nothing. */
	unsigned nver, cap;
	struct fsck_ver *ver;
};

/* An entry of a group that is not closed yet: nothing of it applies
 * until its COMMIT entry is read. */
struct fsck_pend {
	uint8_t type;
	uint8_t flags;
	uint16_t key_len;
	char *key;
	struct fsck_ver v;
};

struct fsck_ctx {
	const char *dir;
	FILE *out;
	int repair;
	int dfd;
	int lockfd;
	struct fsck_seg *segs;
	size_t nsegs;
	uint64_t *hints;
	size_t nhints;

	struct fsck_key **tab;  /* open addressing on XXH3-64 of the key */
	size_t tab_cap, tab_n;
	struct fsck_pend *pend;
	size_t npend, pend_cap;

	uint64_t *named;        /* every blob id an applied entry names */
	size_t nnamed, named_cap;

	int partial;            /* replay stopped early somewhere */
	int no_blobs;           /* blobs/ is not a directory an open uses:
				 * its blobs are not read through it */
	uint64_t segs_checked, entries, blobs_checked;
	uint64_t problems, repaired;
	uint64_t lost;          /* versions whose blob is missing or of the
				 * wrong size: what store_salvage() drops */
};

/* fsck.c: small helpers for reports. */
void fsck_key_print(FILE *out, const char *key, size_t len);
void fsck_hex(const uint8_t *b, size_t n, char *out);
void fsck_time(int64_t ns, char *buf, size_t len);
const char *fsck_type_name(uint8_t type);
int fsck_is_hex16(const char *s);
int fsck_id_cmp(const void *a, const void *b);
void fsck_seg_name(uint64_t id, char *buf, size_t len);
int fsck_pread(int fd, void *buf, size_t len, uint64_t off);

/* fsck.c: lock the store (as store_open would), list its segments, hints
 * and blobs, read every header.  fsck_close() frees all of it, also after
 * a failed open.  @return 0 or a negative errno, reported on c->out. */
int fsck_open(struct fsck_ctx *c, const char *dir, int repair,
	      FILE *out);
void fsck_close(struct fsck_ctx *c);

/* fsck_replay.c: the replay of closed groups into the key table.
 * fsck_key_get() finds or adds @key (NULL on -ENOMEM); fsck_pend_add()
 * holds an entry until its group's COMMIT; fsck_apply() applies the held
 * group; fsck_drop_pending() forgets a group that never closed. */
struct fsck_key *fsck_key_get(struct fsck_ctx *c, const char *key,
			      uint16_t len);
int fsck_pend_add(struct fsck_ctx *c, const struct log_entry *e,
		  uint64_t seg, uint64_t off, const struct log_body *b);
int fsck_apply(struct fsck_ctx *c);
void fsck_drop_pending(struct fsck_ctx *c);

/* fsck_files.c: one segment's entries (a torn tail cut when repairing),
 * one hint file against its segment, every blob the replay kept, and the
 * blobs nothing names.  @return 0 or a negative errno for a failure of
 * fsck itself; the store's problems are counted in c->problems. */
int fsck_scan_seg(struct fsck_ctx *c, struct fsck_seg *s);
/* fsck_files.c: the length segment @id's hint says was on disk
 * (HINT_F_DURABLE), or 0: no torn tail can lie before it (replay_scan),
 * for the scan and the dump alike. */
uint64_t fsck_durable_len(struct fsck_ctx *c, uint64_t id);
int fsck_hint(struct fsck_ctx *c, uint64_t id);
int fsck_blobs(struct fsck_ctx *c);
void fsck_orphans(struct fsck_ctx *c);

#endif

/* etcd_es_int.h - what etcd_store.c (the cache and its watch),
 * etcd_codec.c (the values' layout) and the operations (etcd_ops.c,
 * etcd_txn.c, etcd_meta.c) share.  Internal to those files. */
#ifndef RECFS_ETCD_ES_INT_H
#define RECFS_ETCD_ES_INT_H

#include <stdatomic.h>

#include "etcd_store.h"

#define ES_POOL 32              /* clients; one per concurrent call */
#define ES_LEASE_TTL 10         /* s: a dead mount's write leases go */
#define ES_BEAT_MS 1000         /* heartbeat period */
#define ES_STALE_MS 5000        /* no heartbeat seen: reads fail EIO */
#define ES_TRIES 16             /* retries of a read-modify-write */
#define ES_RESOLVE_MS 30000     /* finding out what a lost request did */
/* How far back es_landed() walks a record's versions to find a commit
 * whose answer was lost.  Other mounts go on committing meanwhile (the
 * failover test saw more than 64 in an election under ASan, and the
 * walk, which stopped at 64, could never decide: EIO after 30 s).  Each
 * step is one small read, so 4096 costs a second or so, once. */
#define ES_LANDED_WALK 4096
/* Largest value etcd takes by default is 1.5 MiB per request; a commit
 * carries the content and the xattrs, plus keys and framing. */
#define ES_REQUEST_MAX (1536u * 1024)
#define ES_SLACK (16u * 1024)
#define ES_TXN_OPS 128          /* etcd's default --max-txn-ops */
#define ES_SWEEP_NOTIFY 4096    /* deleted keys a reload names to
				 * on_change (docs/ETCD.md: limits) */

/* A record's content, shared by the cache and open snapshots. */
struct es_buf {
	atomic_int refs;
	size_t len;
	char data[];
};

/* What the cache knows of one key.  Each part carries the etcd
 * mod_revision it was last seen at (or deleted at), so that an event
 * older than what is known -- a watch replaying what a transaction's
 * own result already applied -- changes nothing. */
struct es_ent {
	struct es_ent *next;
	char *key;
	/* m/: exists (a record or a directory) */
	int has_m;
	int64_t m_rev, m_create;
	struct store_meta meta;
	uint8_t *xa;            /* xattrs as encoded in the value */
	size_t xa_len;
	/* r/: a record's current version */
	int has_r;
	int64_t r_rev;
	uint64_t version;
	int64_t commit_ns;
	uint8_t hash[16];
	int64_t prev_rev;       /* r/ revision of the version before */
	struct es_buf *content;
	/* t/: the tombstone */
	int64_t t_rev;
	uint64_t tomb;
	int64_t tomb_rev;       /* r/ revision of the last live version */
	uint64_t tomb_nonce;    /* the nonce of the change that made it */
	char *tomb_past;        /* its ended records' owners (codec), or NULL */
	/* l/: a write lease */
	int has_l;
	int64_t l_rev, l_create, l_lease;
	/* The l/ create revision a live change of this mount holds, -1
	 * while the background thread takes an orphan back, 0 none.  An l/
	 * of our etcd lease that no change holds for 2 s is an orphan: a
	 * lease request that landed after we gave up on it. */
	int64_t l_mine;
	long long l_seen_ms;
	unsigned seen[4];       /* es->gen when m/ r/ t/ l/ was last read */
};

struct es {
	char *endpoints;
	char *prefix;           /* ends with '/' */
	size_t plen;
	struct store_opts o;
	char id[40];            /* this mount: host.pid.random */
	atomic_uint_fast64_t nonce;

	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv;
	struct etcdc *pool[ES_POOL];
	int pool_free[ES_POOL];

	pthread_mutex_t mu;     /* the cache */
	struct es_ent **tab;
	size_t cap, count;
	int64_t lease;          /* our etcd lease; 0 none */
	int64_t seen_rev;       /* newest revision applied */
	unsigned gen;           /* bumped by a full reload (sweep) */

	/* the background thread: watch, heartbeat, lease keepalive */
	pthread_t bg, keeper;   /* the watch; the heartbeat and lease */
	int bg_started, keeper_started;
	atomic_int stop;
	atomic_llong fresh_ms;  /* when our heartbeat was last seen back */
	atomic_int ready;       /* after-fork done */
};

struct es_txn {
	struct es *es;
	char *key;
	char *buf;
	size_t size, cap;
	int64_t base_rev;       /* r/ mod_revision the change is based on */
	uint64_t base_version;
	int has_base;           /* a record existed when the lease was taken */
	int64_t lock_create;    /* our l/ key's create_revision; 0 none */
	char lock_val[64];
};

/* Our etcd lease id (0 while none): the keeper renews and replaces it
 * while other threads read it. */
static inline int64_t es_lease_id(struct es *es)
{
	return __atomic_load_n(&es->lease, __ATOMIC_ACQUIRE);
}

static inline void es_set_lease(struct es *es, int64_t id)
{
	__atomic_store_n(&es->lease, id, __ATOMIC_RELEASE);
}

/* etcd no longer knows lease @id: if it is still ours, drop it, so that
 * the keeper grants a new one now (a later one is left alone). */
static inline void es_lease_gone(struct es *es, int64_t id)
{
	__atomic_compare_exchange_n(&es->lease, &id, 0, 0, __ATOMIC_ACQ_REL,
				    __ATOMIC_ACQUIRE);
}

/* etcd_store.c */
struct etcdc *es_client(struct es *es);
void es_client_put(struct es *es, struct etcdc *c);
int es_fresh(struct es *es);
struct es_ent *es_ent_find(struct es *es, const char *key);
struct es_ent *es_ent_get(struct es *es, const char *key);
char *es_k(struct es *es, char kind, const char *key, size_t *len);
void es_apply_kv(struct es *es, const struct etcdc_kv *kv, int deleted,
		 int64_t rev);
/* A successful transaction's own changes, as of its revision @rev. */
void es_apply_ops(struct es *es, const struct etcdc_op *ops, size_t n,
		  int64_t rev);
int es_refresh(struct es *es, const char *key);
/* es_refresh() for every key below directory @dir: what etcd has below
 * it now, and nothing else (a key the cache holds there that etcd does
 * not is applied as gone). */
int es_refresh_below(struct es *es, const char *dir);
/* Apply one etcd key as of revision @rev: a put (@deleted 0) or its
 * absence.  Caller holds es->mu.  @return 1 if what a reader sees of
 * the key changed (its m/ or r/), else 0. */
int es_apply_locked(struct es *es, const char *k, size_t klen,
		    const char *v, size_t vlen, int64_t create_rev,
		    int64_t lease, int deleted, int64_t rev);
void es_buf_put(struct es_buf *b);
struct es_buf *es_buf_new(const void *data, size_t len);
uint64_t es_next_nonce(struct es *es);
int64_t es_now_ns(void);
/* CLOCK_MONOTONIC in ms: for bounds on how long something is tried. */
long long es_mono_ms(void);

/* etcd_events.c: the watch's batches, applied (es->mu not held; the
 * fs's callbacks are called without it). */
void es_apply_events(struct es *es, struct etcdc_event *ev, size_t n);
/* After a full reload at @rev: drop what the reload did not see. */
void es_sweep(struct es *es, int64_t rev);

/* etcd_codec.c: the values' layout.  Encoders return malloc'ed bytes
 * (NULL on -ENOMEM); decoders return 0 or -EUCLEAN for a value that is
 * not recfs's. */
uint8_t *es_enc_meta(const struct store_meta *m, const uint8_t *xa,
		     size_t xa_len, size_t *len);
/* A decoded r/ value; data points into the value. */
struct es_rec {
	uint64_t version, nonce;
	int64_t commit_ns, prev;
	uint8_t hash[16];
	const char *data;
	size_t len;
};
int es_dec_rec(const char *v, size_t len, struct es_rec *out);
/* @xa points into @v: the xattrs, as es_enc_meta() laid them out. */
int es_dec_meta(const char *v, size_t len, struct store_meta *m,
		const uint8_t **xa, size_t *xa_len);
uint8_t *es_enc_rec(uint64_t version, int64_t commit_ns, uint64_t nonce,
		    int64_t prev, const void *data, size_t len,
		    size_t *out_len);
#define ES_TOMB_MAX 64 /* a t/ value's start: three decimals and two spaces */
void es_enc_tomb(uint64_t version, int64_t last_rev, uint64_t nonce,
		 char out[ES_TOMB_MAX], size_t *len);
/* A t/ value's list of ended records (codec): @past's last @keep - 1
 * entries and one for versions up to @upto under @m, malloc'ed. */
char *es_enc_past(const char *past, uint64_t upto, const struct store_meta *m,
		  unsigned keep);
/* The owner and mode of @version in @past's list, into @m.  @return 1,
 * or 0 when no ended record there holds it. */
int es_past_meta(const char *past, uint64_t version, struct store_meta *m);

/* etcd_txn.c: a key as the cache has it, copied out (no lock held). */
struct es_view {
	int has_m, has_r, has_l;
	int64_t m_rev, m_create, r_rev, t_rev, l_create, l_lease;
	struct store_meta meta;
	uint8_t *xa;            /* malloc'ed copy */
	size_t xa_len;
	uint64_t version, tomb, tomb_nonce;
	int64_t commit_ns, prev_rev, tomb_rev;
	uint8_t hash[16];
	struct es_buf *content; /* a reference */
	char *tomb_past;        /* malloc'ed copy */
};

/* A transaction being built: compares and operations whose keys and
 * values it owns.  An allocation failure is kept in err and returned by
 * es_tb_run(). */
struct es_tb {
	struct es *es;
	struct etcdc_cmp *c;
	struct etcdc_op *o;
	size_t nc, no, cap_c, cap_o;
	void **own;            /* keys and values to free */
	size_t nown, cap_own;
	int err;
};

void es_view_get(struct es *es, const char *key, struct es_view *v);
/* A reader's view: -EINVAL etc. for a bad key, -EIO while the cache is
 * not proven current (es_fresh), else 0 and @v (free it either way). */
int es_view_read(struct es *es, const char *key, struct es_view *v,
		 int with_xa);
void es_view_free(struct es_view *v);
int es_is_dir(const struct es_view *v);
uint64_t es_last_ver(const struct es_view *v);
char *es_parent_of(const char *key);
void es_tb_cmp(struct es_tb *t, char kind, const char *key,
		   enum etcdc_target target, enum etcdc_cmp_op op, int64_t num);
/* Compares that no key of part @kind lies below directory @dir. */
void es_tb_cmp_none_below(struct es_tb *t, char kind, const char *dir);
void es_tb_op(struct es_tb *t, char kind, const char *key, void *value,
		  size_t vlen, int64_t lease, int del);
void es_tb_put_meta(struct es_tb *t, const char *key,
			const struct store_meta *m, const uint8_t *xa,
			size_t xa_len);
/* Directory @dir (@dv: as the cache has it) loses a name in @t: its
 * mtime and ctime become @now, as a local filesystem's do, and as a
 * create's write_rec sets them; its m/ is compared, so that a racing
 * change of that m/ (a chmod, a create there) makes @t retry rather
 * than be overwritten. */
void es_tb_dir_changed(struct es_tb *t, const char *dir,
		       const struct es_view *dv, int64_t now);
/* @ended: the record that ends here (deleted, renamed away or over):
 * its versions keep its owner and mode (es_enc_past). */
void es_tb_put_tomb(struct es_tb *t, const char *key, uint64_t version,
		    int64_t last_rev, uint64_t nonce,
		    const struct es_view *ended);
void es_tb_free(struct es_tb *t);
int es_tb_run(struct es_tb *t, int64_t *rev);
int es_grow(void **arr, size_t *cap, size_t n, size_t size);

/* etcd_ops.c */
int es_landed(struct es *es, const char *key, uint64_t nv, uint64_t nonce);
int es_fence(struct es *es, const char *key, int64_t create);
void es_tb_no_lease(struct es_tb *t, const char *key, const struct es_view *v,
			int ours_ok);
int es_other_lease(struct es *es, const struct es_view *v);
int es_ro(struct es *es);
int es_expect_ok(const struct es_view *v, uint64_t expect);
int es_parent_ok(const struct es_view *pv);
size_t es_size_limit(void);

int es_lock_cas(struct es *es, const char *key, int64_t from, int64_t to);
int es_resolve(struct es *es, const char *key, int64_t lock, uint64_t nv,
	       uint64_t nonce);

#endif

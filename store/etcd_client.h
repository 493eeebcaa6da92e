/* etcd_client.h - a small etcd v3 client over the HTTP/JSON gateway.
 *
 * The ground the etcd backend (issue 9) stands on.  It speaks to etcd's
 * grpc-gateway (etcd 3.4: POST http://HOST:PORT/v3/kv/range, ...) with
 * libcurl and jansson.  Keys and values are binary-safe (pointer and
 * length); the gateway carries them base64-encoded.
 *
 * Threads: a client (struct etcdc) and its watches may be used by one
 * thread at a time.  Callers keep one client per thread; clients share
 * nothing, so different threads may use different clients freely.
 *
 * Process setup: the program's main calls etcdc_global_init() once
 * before it starts threads or opens a client, and etcdc_global_cleanup()
 * once at exit after every client is closed (libcurl's global state;
 * the tests do it in their group setup and teardown).
 *
 * Endpoints and failover: a client has a list of "host:port" endpoints
 * and remembers the one that last worked.  A call starts there and, on
 * a failure that says the request never reached etcd (refused, no
 * route, connect timeout), moves on to the next one.  Reads (get, range,
 * lease keepalive) also move on after a timeout or a reply that etcd is
 * unavailable; changes do not, because etcd may have applied them: they
 * fail with -ETIMEDOUT or -EIO and the next call starts at the next
 * endpoint.  Such a change may even be applied after later ones (seen
 * with a stopped etcd): a caller that needs order compares revisions.
 *
 * Bounded time: each attempt takes at most opts.timeout_ms (connecting
 * at most opts.connect_timeout_ms of that), and a call makes at most one
 * attempt per endpoint, so no call blocks longer than
 * (number of endpoints) x timeout_ms.  Nothing waits forever.
 *
 * Errors: every function returns 0 (or a count) or a negative errno:
 *  -ETIMEDOUT    no reply within the timeout (a stopped or overloaded
 *                etcd); etcd's own "request timed out";
 *  -ECONNREFUSED every endpoint refused the connection;
 *  -EHOSTUNREACH no endpoint could be reached (resolve, route);
 *  -EIO          a reply that is not what etcd sends, a broken
 *                connection, etcd unavailable (no leader), other errors;
 *  -ENOENT       no such key / lease (etcd's NOT_FOUND);
 *  -EINVAL       etcd refused the request as invalid; bad arguments;
 *  -EFBIG        the request is over etcd's size limit (1.5 MiB default);
 *  -ERANGE       a revision that is compacted away or in the future;
 *  -ENOSPC       etcd's database is full (its quota);
 *  -EBUSY        etcd says too many requests;
 *  -EACCES       etcd wants authentication or refused it;
 *  -EMSGSIZE     a reply above opts.max_reply;
 *  -ENOMEM.
 * A change that failed with -ETIMEDOUT or -EIO may or may not have been
 * applied: read back before trusting either.
 *
 * Revisions: every reply carries etcd's cluster revision at the time of
 * the reply; functions hand it out through an optional int64_t *rev.
 *
 * Not covered: TLS, authentication, etcd's v3 paths of 3.3 (/v3beta).
 */
#ifndef RECFS_ETCD_CLIENT_H
#define RECFS_ETCD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct etcdc;
struct etcdc_watch;

/** Options for etcdc_open().  Zero means "default" for every field. */
struct etcdc_opts {
	long timeout_ms;         /**< one attempt, whole request (2000) */
	long connect_timeout_ms; /**< connecting, within timeout_ms (1000) */
	size_t max_reply;        /**< largest reply accepted (64 MiB) */
};

/** A key with its value and revisions.  Owned buffers are malloc'ed and
 *  NUL-ended (one byte beyond *_len) for convenience. */
struct etcdc_kv {
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
	int64_t create_revision; /**< revision that created the key */
	int64_t mod_revision;    /**< revision of its last change */
	int64_t version;         /**< changes since it was created (1 = new) */
	int64_t lease;           /**< lease id, 0 when none */
};

/* ---- Process and client -------------------------------------------- */

/** libcurl's global setup; once per process before any other call,
 *  before threads start.  @return 0 or -EIO. */
int etcdc_global_init(void);
/** Undo etcdc_global_init(), once at exit, after every client is closed. */
void etcdc_global_cleanup(void);

/**
 * Make a client for @endpoints, a comma-separated list of "host:port"
 * (optionally "http://host:port").  It connects lazily, on the first call.
 * @opts may be NULL.
 * @return 0 and *out; -EINVAL empty list, an endpoint that is not
 *  host:port, or "https://"; -ENOMEM.
 */
int etcdc_open(const char *endpoints, const struct etcdc_opts *opts,
	       struct etcdc **out);
/** Close the client's connection and free it.  Its watches must be
 *  closed first.  NULL is ignored. */
void etcdc_close(struct etcdc *c);
/** The endpoint the next call starts with ("host:port", owned by @c). */
const char *etcdc_endpoint(const struct etcdc *c);

/** Free what a struct etcdc_kv owns and zero it. */
void etcdc_kv_clear(struct etcdc_kv *kv);
/** Free an array of @n kvs from etcdc_range() or a txn result. */
void etcdc_kvs_free(struct etcdc_kv *kvs, size_t n);

/* ---- Keys ------------------------------------------------------------ */

/** Read one key into *out (its buffers owned by the caller: free with
 *  etcdc_kv_clear()).  @rev (may be NULL) gets the cluster revision.
 *  @return 0; -ENOENT absent; errors as in the header comment. */
int etcdc_get(struct etcdc *c, const void *key, size_t key_len,
	      struct etcdc_kv *out, int64_t *rev);

/**
 * Read the keys starting with @prefix (an empty prefix: every key), in
 * key order, at most @limit of them (0: no limit).  *kvs is malloc'ed
 * (free with etcdc_kvs_free(); NULL when *n is 0).  @more (may be NULL)
 * is set to 1 if keys beyond the limit exist: read on from the last key
 * plus a zero byte.  @rev (may be NULL) gets the cluster revision.
 * @return 0; errors as in the header comment.
 */
int etcdc_range(struct etcdc *c, const void *prefix, size_t prefix_len,
		int64_t limit, struct etcdc_kv **kvs, size_t *n, int *more,
		int64_t *rev);

/** One page of a prefix read: the keys starting with @prefix from
 *  @from on (@from_len 0: from the start), as of revision @at_rev (0:
 *  now), at most @limit.  Read a whole prefix consistently by passing
 *  the first page's *rev as @at_rev of the next pages and the last key
 *  plus a zero byte as @from.  @return as etcdc_range(); -ERANGE
 *  @at_rev compacted away. */
int etcdc_range_page(struct etcdc *c, const void *prefix, size_t prefix_len,
		     const void *from, size_t from_len, int64_t at_rev,
		     int64_t limit, struct etcdc_kv **kvs, size_t *n,
		     int *more, int64_t *rev);

/** Set a key to a value, attached to @lease (0: none).
 *  @rev (may be NULL) gets the revision of the change.
 *  @return 0; -ENOENT no such lease; -EFBIG; errors as in the header. */
int etcdc_put(struct etcdc *c, const void *key, size_t key_len,
	      const void *value, size_t value_len, int64_t lease,
	      int64_t *rev);

/** Delete a key.  @deleted (may be NULL) gets 1 if it existed, else 0;
 *  @rev (may be NULL) the cluster revision after it.
 *  @return 0 (also for an absent key); errors as in the header. */
int etcdc_delete(struct etcdc *c, const void *key, size_t key_len,
		 int64_t *deleted, int64_t *rev);

/** Compact the history up to @revision (watches and reads at older
 *  revisions then get -ERANGE).  @return 0; -ERANGE already compacted
 *  or in the future; errors as in the header comment. */
int etcdc_compact(struct etcdc *c, int64_t revision);

/* ---- Transactions ------------------------------------------------------ */

/** What a compare looks at. */
enum etcdc_target {
	ETCDC_VERSION,
	ETCDC_CREATE, /**< create_revision; 0 means "the key is absent" */
	ETCDC_MOD,    /**< mod_revision; 0 means "the key is absent" */
	ETCDC_VALUE,
	ETCDC_LEASE,
};

/** How a compare compares: the key's target <op> the given one. */
enum etcdc_cmp_op {
	ETCDC_EQUAL,
	ETCDC_NOT_EQUAL,
	ETCDC_GREATER,
	ETCDC_LESS,
};

/** One compare of a transaction.  @num is the revision, version or
 *  lease for all targets but ETCDC_VALUE, which uses @value.  @prefix
 *  makes it hold only if it holds for every key starting with @key; no
 *  such key compares as zero (so ETCDC_CREATE ETCDC_EQUAL 0 with
 *  @prefix says "no key starts with @key"). */
struct etcdc_cmp {
	const void *key;
	size_t key_len;
	enum etcdc_target target;
	enum etcdc_cmp_op op;
	int64_t num;
	const void *value;
	size_t value_len;
	int prefix;
};

enum etcdc_op_type { ETCDC_OP_PUT, ETCDC_OP_DELETE, ETCDC_OP_GET };

/** One operation of a transaction.  @prefix makes a GET or DELETE act
 *  on every key starting with @key.  @value and @lease are for PUT. */
struct etcdc_op {
	enum etcdc_op_type type;
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	int64_t lease;
	int prefix;
};

/** The result of one operation of the branch that ran. */
struct etcdc_op_result {
	enum etcdc_op_type type;
	struct etcdc_kv *kvs; /**< GET: the keys found (may be NULL) */
	size_t n_kvs;
	int64_t deleted;      /**< DELETE: keys deleted */
};

/** What etcdc_txn() reports; free with etcdc_txn_result_free(). */
struct etcdc_txn_result {
	int succeeded;        /**< 1: every compare held, @success ran */
	int64_t revision;     /**< cluster revision after the txn */
	struct etcdc_op_result *res; /**< one per op of the branch that ran */
	size_t n_res;
};

/**
 * If every compare in @cmps holds, run @success, else @failure, all in
 * one atomic step.  Either list may be empty (NULL, 0).  @out (may be
 * NULL) gets the outcome; its contents are the caller's (free with
 * etcdc_txn_result_free()).  A failed compare is not an error.
 * @return 0; -EINVAL (also etcd's "duplicate key given in txn request"
 *  when two puts hit one key); -EFBIG; errors as in the header comment.
 */
int etcdc_txn(struct etcdc *c, const struct etcdc_cmp *cmps, size_t n_cmps,
	      const struct etcdc_op *success, size_t n_success,
	      const struct etcdc_op *failure, size_t n_failure,
	      struct etcdc_txn_result *out);
/** Free what an etcdc_txn_result owns and zero it. */
void etcdc_txn_result_free(struct etcdc_txn_result *r);

/* ---- Leases ------------------------------------------------------------ */

/** Grant a lease of @ttl seconds.  *id gets its id; @granted (may be
 *  NULL) the TTL etcd granted.  @return 0; errors as in the header. */
int etcdc_lease_grant(struct etcdc *c, int64_t ttl, int64_t *id,
		      int64_t *granted);
/** Renew a lease once.  @ttl (may be NULL) gets its TTL from now.
 *  @return 0; -ENOENT the lease expired or never was; errors as in the
 *  header comment. */
int etcdc_lease_keepalive(struct etcdc *c, int64_t id, int64_t *ttl);
/** Revoke a lease, deleting every key attached to it.
 *  @return 0; -ENOENT no such lease; errors as in the header comment. */
int etcdc_lease_revoke(struct etcdc *c, int64_t id);

/* ---- Watches ------------------------------------------------------------ */

enum etcdc_event_type { ETCDC_EV_PUT, ETCDC_EV_DELETE };

/** One change seen by a watch.  For a DELETE, kv.value is empty and
 *  kv.mod_revision is the revision of the delete. */
struct etcdc_event {
	enum etcdc_event_type type;
	struct etcdc_kv kv;
};

/**
 * Watch every key starting with @prefix, from revision @start_rev
 * (0: changes after now).  The watch has its own connection to the
 * client's current endpoint (failing over as a call does) and is
 * established when this returns: every change after it is reported.
 * @return 0 and *out; -ERANGE @start_rev is compacted away (or a
 *  compaction raced with the start: polls may also report it);
 *  errors as in the header comment.
 */
int etcdc_watch_open(struct etcdc *c, const void *prefix, size_t prefix_len,
		     int64_t start_rev, struct etcdc_watch **out);

/**
 * Wait up to @timeout_ms (0: do not wait) for events and hand out the
 * ones that arrived, oldest first: *evs is malloc'ed (free with
 * etcdc_events_free(); NULL when none).  @rev (may be NULL) gets the
 * cluster revision of the last reply seen.
 * @return the number of events (0 after a timeout);
 *  -ERANGE the watch was cancelled because its revision got compacted
 *   (etcdc_watch_next_rev() says where it stood);
 *  -EIO the connection broke or etcd cancelled the watch: the watch is
 *   dead, open a new one from etcdc_watch_next_rev(); -ENOMEM.
 * A stopped etcd is not noticed here: polls just time out empty.
 */
int etcdc_watch_poll(struct etcdc_watch *w, long timeout_ms,
		     struct etcdc_event **evs, size_t *n, int64_t *rev);
/** The revision to start a new watch from so that no event is missed
 *  or repeated: one above the last event handed out (or the start). */
int64_t etcdc_watch_next_rev(const struct etcdc_watch *w);
/** Free @n events from etcdc_watch_poll(). */
void etcdc_events_free(struct etcdc_event *evs, size_t n);
/** Stop the watch and free it.  NULL is ignored. */
void etcdc_watch_close(struct etcdc_watch *w);

#ifdef __cplusplus
}
#endif
#endif

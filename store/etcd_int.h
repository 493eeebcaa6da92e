/* etcd_int.h - what store/etcd_*.c share; nothing else includes it.
 *
 * The client is three files so that each can be read in one sitting:
 *   etcd_http.c    the gateway's wire format (JSON, base64, gRPC errors)
 *                  and the HTTP transport with endpoint failover;
 *   etcd_client.c  the client's life, keys, transactions, leases;
 *   etcd_watch.c   prefix watches, streams that outlive a call.
 * etcd_client.h stays the one API header and holds the documentation.
 *
 * Shapes of the gateway's JSON that this relies on (etcd 3.4):
 * - bytes fields are base64; int64 fields are JSON strings; fields with
 *   their zero value are left out ("succeeded": false, an empty value,
 *   a PUT event's "type", a lease of 0);
 * - a unary error is an HTTP error status with {"error","message","code"}
 *   where code is the gRPC code;
 * - the streaming calls (/v3/watch, /v3/lease/keepalive) answer 200 with
 *   one {"result": ...} or {"error": {...}} object per line.
 */
#ifndef RECFS_ETCD_INT_H
#define RECFS_ETCD_INT_H

#include "etcd_client.h"

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

/* A reply as it arrives; p is malloc'ed and owned by the holder of the
 * struct (the client for unary calls, a watch for its stream). */
struct etc_buf {
	char *p;
	size_t len, cap, max;
	int over; /* a reply above max: the write callback refused it */
};

struct etcdc {
	char **eps; /* "host:port" */
	size_t n_eps, cur;
	long timeout_ms, connect_ms;
	size_t max_reply;
	CURL *h; /* reused, so its connection cache keeps connections alive */
	struct curl_slist *hdrs;
	struct etc_buf in;
};

/* ---- etcd_http.c: JSON and base64 ------------------------------------ */

/* Set o[name] = v; takes v, also on failure (NULL v: -ENOMEM). */
int etc_jset(json_t *o, const char *name, json_t *v);
int etc_jset_bytes(json_t *o, const char *name, const void *p, size_t n);
int etc_jset_int(json_t *o, const char *name, int64_t v);
int etc_jset_prefix_end(json_t *o, const void *p, size_t n);
int etc_jget_int(const json_t *o, const char *name, int64_t *v);
/* *p is malloc'ed for the caller, NUL-ended. */
int etc_jget_bytes(const json_t *o, const char *name, char **p, size_t *n);
int etc_hdr_rev(const json_t *reply, int64_t *rev);
int etc_reply_error(const json_t *reply, long status);

/* ---- etcd_http.c: transport ------------------------------------------ */

enum { ETC_CALL_RETRY = 1 }; /* a read: safe to send to another endpoint */

int etc_setup_handle(struct etcdc *c, CURL *h, size_t ep, const char *path,
		     const char *body, struct etc_buf *in);
int etc_worse(int a, int b);
/* *reply is the caller's to json_decref(). */
int etc_call(struct etcdc *c, const char *path, const json_t *req,
	     int flags, json_t **reply);

/* ---- etcd_client.c: shared with watches -------------------------------- */

/* Fills *kv with buffers the caller frees (etcdc_kv_clear()). */
int etc_kv_parse(const json_t *j, struct etcdc_kv *kv);
/* *out is the caller's to json_decref(). */
int etc_range_req(const void *key, size_t klen, int prefix, json_t **out);

#endif

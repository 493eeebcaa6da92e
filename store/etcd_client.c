/* etcd_client.c - etcd v3 over its HTTP/JSON gateway (see etcd_client.h).
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
#include "etcd_client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#define DEF_TIMEOUT_MS 2000
#define DEF_CONNECT_MS 1000
#define DEF_MAX_REPLY ((size_t)64 << 20)

struct buf {
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
	struct buf in;
};

/* ---- small helpers ------------------------------------------------------ */

static size_t buf_write(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t add = size * n, ncap;
	char *p;

	if (b->len + add + 1 > b->max) {
		b->over = 1;
		return 0;
	}
	if (b->len + add + 1 > b->cap) {
		ncap = b->cap ? b->cap : 4096;
		while (ncap < b->len + add + 1)
			ncap *= 2;
		p = realloc(b->p, ncap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, add);
	b->len += add;
	b->p[b->len] = 0;
	return add;
}

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_encode(const void *src, size_t n, json_t **out)
{
	const unsigned char *s = src;
	size_t i, o = 0;
	char *d = malloc((n + 2) / 3 * 4 + 1);
	uint32_t v;

	if (!d)
		return -ENOMEM;
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		d[o++] = b64chars[v >> 18];
		d[o++] = b64chars[(v >> 12) & 63];
		d[o++] = b64chars[(v >> 6) & 63];
		d[o++] = b64chars[v & 63];
	}
	if (i < n) {
		v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
		d[o++] = b64chars[v >> 18];
		d[o++] = b64chars[(v >> 12) & 63];
		d[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		d[o++] = '=';
	}
	*out = json_stringn(d, o);
	free(d);
	return *out ? 0 : -ENOMEM;
}

static int b64_val(char ch)
{
	const char *p = ch ? strchr(b64chars, ch) : NULL;

	return p ? (int)(p - b64chars) : -1;
}

/* Decodes into a NUL-ended buffer; padding is optional, junk is -EIO. */
static int b64_decode(const char *s, size_t n, char **out, size_t *len)
{
	char *d = malloc(n / 4 * 3 + 4);
	uint32_t acc = 0;
	size_t i, o = 0, bits = 0;
	int v;

	if (!d)
		return -ENOMEM;
	while (n > 0 && s[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++) {
		v = b64_val(s[i]);
		if (v < 0) {
			free(d);
			return -EIO;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (char)(acc >> bits);
		}
	}
	d[o] = 0;
	*out = d;
	*len = o;
	return 0;
}

static int jset(json_t *o, const char *name, json_t *v)
{
	return v && json_object_set_new(o, name, v) == 0 ? 0 : -ENOMEM;
}

static int jset_bytes(json_t *o, const char *name, const void *p, size_t n)
{
	json_t *v;
	int rc = b64_encode(p, n, &v);

	return rc ? rc : jset(o, name, v);
}

/* int64 goes as a string, as the gateway writes it (a double would lose
 * revisions above 2^53). */
static int jset_int(json_t *o, const char *name, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	return jset(o, name, json_string(s));
}

/* An absent field is 0 (the gateway leaves out zero values). */
static int jget_int(const json_t *o, const char *name, int64_t *v)
{
	json_t *f = json_object_get(o, name);
	const char *s;
	char *end;
	long long x;

	*v = 0;
	if (!f)
		return 0;
	if (json_is_integer(f)) {
		*v = json_integer_value(f);
		return 0;
	}
	if (!json_is_string(f))
		return -EIO;
	s = json_string_value(f);
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -EIO;
	*v = x;
	return 0;
}

static int jget_bytes(const json_t *o, const char *name, char **p, size_t *n)
{
	json_t *f = json_object_get(o, name);

	if (f && !json_is_string(f))
		return -EIO;
	return b64_decode(f ? json_string_value(f) : "",
			  f ? json_string_length(f) : 0, p, n);
}

static int hdr_rev(const json_t *reply, int64_t *rev)
{
	int64_t r;
	int rc = jget_int(json_object_get(reply, "header"), "revision", &r);

	if (!rc && rev)
		*rev = r;
	return rc;
}

void etcdc_kv_clear(struct etcdc_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void etcdc_kvs_free(struct etcdc_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		etcdc_kv_clear(&kvs[i]);
	free(kvs);
}

static int kv_parse(const json_t *j, struct etcdc_kv *kv)
{
	int rc;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(j))
		return -EIO;
	rc = jget_bytes(j, "key", &kv->key, &kv->key_len);
	if (!rc)
		rc = jget_bytes(j, "value", &kv->value, &kv->value_len);
	if (!rc)
		rc = jget_int(j, "create_revision", &kv->create_revision);
	if (!rc)
		rc = jget_int(j, "mod_revision", &kv->mod_revision);
	if (!rc)
		rc = jget_int(j, "version", &kv->version);
	if (!rc)
		rc = jget_int(j, "lease", &kv->lease);
	if (rc)
		etcdc_kv_clear(kv);
	return rc;
}

static int kvs_parse(const json_t *reply, struct etcdc_kv **kvs, size_t *n)
{
	json_t *arr = json_object_get(reply, "kvs");
	size_t i, cnt = json_array_size(arr);
	int rc = 0;

	*kvs = NULL;
	*n = 0;
	if (arr && !json_is_array(arr))
		return -EIO;
	if (!cnt)
		return 0;
	*kvs = calloc(cnt, sizeof(**kvs));
	if (!*kvs)
		return -ENOMEM;
	for (i = 0; i < cnt && !rc; i++)
		rc = kv_parse(json_array_get(arr, i), &(*kvs)[i]);
	if (rc) {
		etcdc_kvs_free(*kvs, i);
		*kvs = NULL;
		return rc;
	}
	*n = cnt;
	return 0;
}

/* The end of the range of keys starting with @p: @p with its last byte
 * below 0xff raised by one.  A prefix of only 0xff bytes (or none) has
 * no end, which etcd spells as a single zero byte: "every key from". */
static int jset_prefix_end(json_t *o, const void *p, size_t n)
{
	unsigned char *e = malloc(n ? n : 1);
	size_t len = n;
	int rc;

	if (!e)
		return -ENOMEM;
	if (n)
		memcpy(e, p, n);
	while (len > 0 && e[len - 1] == 0xff)
		len--;
	if (len)
		e[len - 1]++;
	else
		e[len++] = 0;
	rc = jset_bytes(o, "range_end", e, len);
	free(e);
	return rc;
}

/* gRPC status codes (as etcd sends them) to errno. */
static int grpc_errno(int64_t code, const char *msg)
{
	msg = msg ? msg : "";
	switch (code) {
	case 3: /* INVALID_ARGUMENT */
		return strstr(msg, "too large") ? -EFBIG : -EINVAL;
	case 4: /* DEADLINE_EXCEEDED */
		return -ETIMEDOUT;
	case 5: /* NOT_FOUND */
		return -ENOENT;
	case 7: /* PERMISSION_DENIED */
	case 16: /* UNAUTHENTICATED */
		return -EACCES;
	case 8: /* RESOURCE_EXHAUSTED */
		return strstr(msg, "space") ? -ENOSPC : -EBUSY;
	case 11: /* OUT_OF_RANGE: compacted, future revision, TTL */
		return -ERANGE;
	case 14: /* UNAVAILABLE: no leader, leader changed, timed out */
		return strstr(msg, "timed out") ? -ETIMEDOUT : -EIO;
	default:
		return -EIO;
	}
}

/* 0 for a reply without error; else its errno.  Handles the unary form
 * and the streaming form ({"error": {"grpc_code": ...}}). */
static int reply_error(const json_t *reply, long status)
{
	json_t *e = json_object_get(reply, "error");
	int64_t code = 0;

	if (json_is_object(e)) {
		if (jget_int(e, "grpc_code", &code))
			return -EIO;
		return grpc_errno(code, json_string_value(
					  json_object_get(e, "message")));
	}
	if (status == 200)
		return 0;
	if (jget_int(reply, "code", &code) || !code)
		return -EIO;
	return grpc_errno(code, json_string_value(
				  json_object_get(reply, "message")));
}

/* ---- client ------------------------------------------------------------- */

int etcdc_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void etcdc_global_cleanup(void)
{
	curl_global_cleanup();
}

static int add_endpoint(struct etcdc *c, const char *s, size_t n)
{
	const char *colon;
	char **eps;
	size_t i;

	if (n >= 7 && !strncmp(s, "http://", 7)) {
		s += 7;
		n -= 7;
	}
	while (n && s[n - 1] == '/')
		n--;
	colon = memrchr(s, ':', n);
	if (!n || !colon || colon == s || colon == s + n - 1 ||
	    memchr(s, '/', n))
		return -EINVAL;
	for (i = (size_t)(colon - s) + 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
	eps = realloc(c->eps, (c->n_eps + 1) * sizeof(*eps));
	if (!eps)
		return -ENOMEM;
	c->eps = eps;
	eps[c->n_eps] = strndup(s, n);
	if (!eps[c->n_eps])
		return -ENOMEM;
	c->n_eps++;
	return 0;
}

int etcdc_open(const char *endpoints, const struct etcdc_opts *opts,
	       struct etcdc **out)
{
	struct etcdc *c = calloc(1, sizeof(*c));
	const char *s = endpoints, *e;
	int rc = -ENOMEM;

	*out = NULL;
	if (!c)
		goto out;
	c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms
						     : DEF_TIMEOUT_MS;
	c->connect_ms = opts && opts->connect_timeout_ms > 0 ?
				opts->connect_timeout_ms : DEF_CONNECT_MS;
	if (c->connect_ms > c->timeout_ms)
		c->connect_ms = c->timeout_ms;
	c->max_reply = opts && opts->max_reply ? opts->max_reply
					       : DEF_MAX_REPLY;
	rc = -EINVAL;
	if (!s || !*s || strstr(s, "https://"))
		goto out;
	for (; *s; s = *e ? e + 1 : e) {
		e = strchrnul(s, ',');
		rc = add_endpoint(c, s, (size_t)(e - s));
		if (rc)
			goto out;
	}
	rc = -ENOMEM;
	c->h = curl_easy_init();
	/* An empty Expect: saves a round trip on bodies over 1 KiB. */
	c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (c->hdrs)
		c->hdrs = curl_slist_append(c->hdrs, "Expect:");
	if (!c->h || !c->hdrs)
		goto out;
	rc = 0;
	*out = c;
out:
	if (rc)
		etcdc_close(c);
	return rc;
}

void etcdc_close(struct etcdc *c)
{
	if (!c)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdrs);
	for (size_t i = 0; i < c->n_eps; i++)
		free(c->eps[i]);
	free(c->eps);
	free(c->in.p);
	free(c);
}

const char *etcdc_endpoint(const struct etcdc *c)
{
	return c->eps[c->cur];
}

/* Options common to the unary handle and watch handles. */
static int setup_handle(struct etcdc *c, CURL *h, size_t ep, const char *path,
			const char *body, struct buf *in)
{
	char url[512];
	CURLcode e = CURLE_OK;

	snprintf(url, sizeof(url), "http://%s%s", c->eps[ep], path);
	in->len = 0;
	in->over = 0;
	in->max = c->max_reply;
	e |= curl_easy_setopt(h, CURLOPT_URL, url);
	e |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	e |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	e |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	e |= curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	e |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
	e |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->hdrs);
	e |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	e |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
	e |= curl_easy_setopt(h, CURLOPT_WRITEDATA, in);
	return e == CURLE_OK ? 0 : -EIO;
}

enum { CALL_RETRY = 1 }; /* a read: safe to send to another endpoint */

/* Classify a failed transfer: its errno, and whether another endpoint
 * may be tried (*next). */
static int transfer_errno(CURL *h, CURLcode e, const struct buf *in,
			  int flags, int *next)
{
	long oserr = 0, sent = 0;

	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
	/* Nothing sent: etcd cannot have seen it, a change included. */
	*next = (flags & CALL_RETRY) || sent == 0;
	switch (e) {
	case CURLE_COULDNT_CONNECT:
		*next = 1;
		return oserr == ECONNREFUSED ? -ECONNREFUSED : -EHOSTUNREACH;
	case CURLE_COULDNT_RESOLVE_HOST:
		*next = 1;
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		*next = 0;
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
		*next = 0;
		return in->over ? -EMSGSIZE : -ENOMEM;
	default:
		return -EIO;
	}
}

/* Which error a call reports when every endpoint failed: the most
 * telling one (a timeout says more than a refusal). */
static int worse(int a, int b)
{
	static const int rank[] = { -ECONNREFUSED, -EHOSTUNREACH, -EIO,
				    -ETIMEDOUT };
	int ra = -1, rb = -1;

	for (int i = 0; i < 4; i++) {
		if (rank[i] == a)
			ra = i;
		if (rank[i] == b)
			rb = i;
	}
	return rb > ra ? b : a;
}

/* POST @req to @path, trying the endpoints in turn from the current one;
 * *reply is the parsed reply (the "result" of a streaming call). */
static int call(struct etcdc *c, const char *path, const json_t *req,
		int flags, json_t **reply)
{
	char *body = json_dumps(req, JSON_COMPACT);
	json_t *j = NULL, *res;
	size_t i, ep = c->cur;
	long status;
	int rc = -ENOMEM, err = -ECONNREFUSED, next;
	CURLcode e;

	*reply = NULL;
	if (!body)
		goto out;
	for (i = 0; i < c->n_eps; i++, ep = (ep + 1) % c->n_eps) {
		rc = setup_handle(c, c->h, ep, path, body, &c->in);
		if (!rc && curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS,
					    c->timeout_ms) != CURLE_OK)
			rc = -EIO;
		if (rc)
			goto out;
		e = curl_easy_perform(c->h);
		if (e != CURLE_OK) {
			rc = transfer_errno(c->h, e, &c->in, flags, &next);
			err = worse(err, rc);
			if (!next) {
				/* Maybe applied: do not resend, but let the
				 * next call start elsewhere. */
				c->cur = (ep + 1) % c->n_eps;
				goto out;
			}
			continue;
		}
		status = 0;
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
		json_decref(j);
		j = json_loadb(c->in.p ? c->in.p : "", c->in.len,
			       JSON_DISABLE_EOF_CHECK, NULL);
		rc = json_is_object(j) ? reply_error(j, status) : -EIO;
		if ((rc == -EIO || rc == -ETIMEDOUT) && (flags & CALL_RETRY)) {
			err = worse(err, rc);
			continue;
		}
		/* A member without a leader or timing out: a change is not
		 * resent (it may be applied), the next call goes elsewhere. */
		c->cur = rc == -EIO || rc == -ETIMEDOUT ? (ep + 1) % c->n_eps
							 : ep;
		if (rc)
			goto out;
		res = json_object_get(j, "result");
		*reply = json_incref(json_is_object(res) ? res : j);
		goto out;
	}
	rc = err;
out:
	json_decref(j);
	free(body);
	return rc;
}

/* ---- keys --------------------------------------------------------------- */

static int range_req(const void *key, size_t klen, int prefix, json_t **out)
{
	json_t *r = json_object();
	int rc = r ? jset_bytes(r, "key", key, klen) : -ENOMEM;

	if (!rc && prefix)
		rc = jset_prefix_end(r, key, klen);
	if (rc)
		json_decref(r);
	*out = rc ? NULL : r;
	return rc;
}

int etcdc_get(struct etcdc *c, const void *key, size_t key_len,
	      struct etcdc_kv *out, int64_t *rev)
{
	json_t *req = NULL, *reply = NULL;
	struct etcdc_kv *kvs = NULL;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = range_req(key, key_len, 0, &req);
	if (!rc)
		rc = call(c, "/v3/kv/range", req, CALL_RETRY, &reply);
	if (!rc)
		rc = hdr_rev(reply, rev);
	if (!rc)
		rc = kvs_parse(reply, &kvs, &n);
	if (rc)
		goto out;
	if (n != 1) {
		rc = n ? -EIO : -ENOENT;
		goto out;
	}
	*out = kvs[0];
	memset(&kvs[0], 0, sizeof(kvs[0]));
out:
	etcdc_kvs_free(kvs, n);
	json_decref(req);
	json_decref(reply);
	return rc;
}

int etcdc_range(struct etcdc *c, const void *prefix, size_t prefix_len,
		int64_t limit, struct etcdc_kv **kvs, size_t *n, int *more,
		int64_t *rev)
{
	json_t *req = NULL, *reply = NULL;
	int rc;

	*kvs = NULL;
	*n = 0;
	if (limit < 0)
		return -EINVAL;
	rc = range_req(prefix, prefix_len, 1, &req);
	if (!rc && limit)
		rc = jset_int(req, "limit", limit);
	if (!rc)
		rc = call(c, "/v3/kv/range", req, CALL_RETRY, &reply);
	if (!rc)
		rc = hdr_rev(reply, rev);
	if (!rc)
		rc = kvs_parse(reply, kvs, n);
	if (!rc && more)
		*more = json_is_true(json_object_get(reply, "more"));
	json_decref(req);
	json_decref(reply);
	return rc;
}

static int put_req(const void *key, size_t klen, const void *val, size_t vlen,
		   int64_t lease, json_t **out)
{
	json_t *r = json_object();
	int rc = r ? jset_bytes(r, "key", key, klen) : -ENOMEM;

	if (!rc)
		rc = jset_bytes(r, "value", val, vlen);
	if (!rc && lease)
		rc = jset_int(r, "lease", lease);
	if (rc)
		json_decref(r);
	*out = rc ? NULL : r;
	return rc;
}

int etcdc_put(struct etcdc *c, const void *key, size_t key_len,
	      const void *value, size_t value_len, int64_t lease,
	      int64_t *rev)
{
	json_t *req = NULL, *reply = NULL;
	int rc = put_req(key, key_len, value, value_len, lease, &req);

	if (!rc)
		rc = call(c, "/v3/kv/put", req, 0, &reply);
	if (!rc)
		rc = hdr_rev(reply, rev);
	json_decref(req);
	json_decref(reply);
	return rc;
}

int etcdc_delete(struct etcdc *c, const void *key, size_t key_len,
		 int64_t *deleted, int64_t *rev)
{
	json_t *req = NULL, *reply = NULL;
	int64_t d = 0;
	int rc = range_req(key, key_len, 0, &req);

	if (!rc)
		rc = call(c, "/v3/kv/deleterange", req, 0, &reply);
	if (!rc)
		rc = hdr_rev(reply, rev);
	if (!rc)
		rc = jget_int(reply, "deleted", &d);
	if (!rc && deleted)
		*deleted = d;
	json_decref(req);
	json_decref(reply);
	return rc;
}

int etcdc_compact(struct etcdc *c, int64_t revision)
{
	json_t *req = json_object(), *reply = NULL;
	int rc = req ? jset_int(req, "revision", revision) : -ENOMEM;

	if (!rc)
		rc = call(c, "/v3/kv/compaction", req, 0, &reply);
	json_decref(req);
	json_decref(reply);
	return rc;
}

/* ---- transactions --------------------------------------------------------- */

static int cmp_json(const struct etcdc_cmp *k, json_t **out)
{
	static const char *const targets[] = { "VERSION", "CREATE", "MOD",
						"VALUE", "LEASE" };
	static const char *const fields[] = { "version", "create_revision",
					      "mod_revision", "value",
					      "lease" };
	static const char *const ops[] = { "EQUAL", "NOT_EQUAL", "GREATER",
					   "LESS" };
	json_t *j = NULL;
	int rc = -EINVAL;

	if ((unsigned)k->target > ETCDC_LEASE || (unsigned)k->op > ETCDC_LESS)
		goto out;
	rc = -ENOMEM;
	j = json_object();
	if (!j)
		goto out;
	rc = jset_bytes(j, "key", k->key, k->key_len);
	if (!rc)
		rc = jset(j, "target", json_string(targets[k->target]));
	if (!rc)
		rc = jset(j, "result", json_string(ops[k->op]));
	if (!rc && k->target == ETCDC_VALUE)
		rc = jset_bytes(j, "value", k->value, k->value_len);
	else if (!rc)
		rc = jset_int(j, fields[k->target], k->num);
out:
	if (rc)
		json_decref(j);
	*out = rc ? NULL : j;
	return rc;
}

static int op_json(const struct etcdc_op *op, json_t **out)
{
	static const char *const names[] = { "request_put",
					     "request_delete_range",
					     "request_range" };
	json_t *j = NULL, *inner = NULL;
	int rc = -EINVAL;

	if ((unsigned)op->type > ETCDC_OP_GET)
		goto out;
	if (op->type == ETCDC_OP_PUT)
		rc = put_req(op->key, op->key_len, op->value, op->value_len,
			     op->lease, &inner);
	else
		rc = range_req(op->key, op->key_len, op->prefix, &inner);
	if (rc)
		goto out;
	j = json_object();
	if (j)
		rc = jset(j, names[op->type], inner); /* takes inner */
	else
		json_decref(inner);
	rc = j ? rc : -ENOMEM;
out:
	if (rc)
		json_decref(j);
	*out = rc ? NULL : j;
	return rc;
}

static int ops_json(json_t *req, const char *name, const struct etcdc_op *ops,
		    size_t n)
{
	json_t *arr = json_array(), *o;
	int rc = arr ? 0 : -ENOMEM;

	for (size_t i = 0; i < n && !rc; i++) {
		rc = op_json(&ops[i], &o);
		if (!rc && json_array_append_new(arr, o))
			rc = -ENOMEM;
	}
	if (rc) {
		json_decref(arr);
		return rc;
	}
	return jset(req, name, arr);
}

void etcdc_txn_result_free(struct etcdc_txn_result *r)
{
	for (size_t i = 0; i < r->n_res; i++)
		etcdc_kvs_free(r->res[i].kvs, r->res[i].n_kvs);
	free(r->res);
	memset(r, 0, sizeof(*r));
}

/* The responses come in the order of the branch's ops, each wrapped in
 * an object named after its type. */
static int txn_parse(const json_t *reply, const struct etcdc_op *ops,
		     size_t n, struct etcdc_txn_result *out)
{
	json_t *arr = json_object_get(reply, "responses"), *r;
	struct etcdc_op_result *res;
	size_t i;
	int rc;

	rc = hdr_rev(reply, &out->revision);
	if (rc)
		return rc;
	out->succeeded = json_is_true(json_object_get(reply, "succeeded"));
	if (json_array_size(arr) != n)
		return -EIO;
	if (!n)
		return 0;
	out->res = calloc(n, sizeof(*out->res));
	if (!out->res)
		return -ENOMEM;
	out->n_res = n;
	for (i = 0; i < n && !rc; i++) {
		res = &out->res[i];
		res->type = ops[i].type;
		r = json_array_get(arr, i);
		if (ops[i].type == ETCDC_OP_GET) {
			r = json_object_get(r, "response_range");
			rc = r ? kvs_parse(r, &res->kvs, &res->n_kvs) : -EIO;
		} else if (ops[i].type == ETCDC_OP_DELETE) {
			r = json_object_get(r, "response_delete_range");
			rc = r ? jget_int(r, "deleted", &res->deleted) : -EIO;
		} else if (!json_object_get(r, "response_put")) {
			rc = -EIO;
		}
	}
	return rc;
}

int etcdc_txn(struct etcdc *c, const struct etcdc_cmp *cmps, size_t n_cmps,
	      const struct etcdc_op *success, size_t n_success,
	      const struct etcdc_op *failure, size_t n_failure,
	      struct etcdc_txn_result *out)
{
	json_t *req = json_object(), *arr = json_array(), *reply = NULL, *o;
	struct etcdc_txn_result r = { 0 };
	size_t i;
	int rc = req && arr ? 0 : -ENOMEM;

	for (i = 0; i < n_cmps && !rc; i++) {
		rc = cmp_json(&cmps[i], &o);
		if (!rc && json_array_append_new(arr, o))
			rc = -ENOMEM;
	}
	if (!rc) {
		rc = jset(req, "compare", arr);
		arr = NULL;
	}
	if (!rc)
		rc = ops_json(req, "success", success, n_success);
	if (!rc)
		rc = ops_json(req, "failure", failure, n_failure);
	if (!rc)
		rc = call(c, "/v3/kv/txn", req, 0, &reply);
	if (rc)
		goto out;
	o = json_object_get(reply, "succeeded");
	rc = txn_parse(reply, json_is_true(o) ? success : failure,
		       json_is_true(o) ? n_success : n_failure, &r);
out:
	if (rc || !out)
		etcdc_txn_result_free(&r);
	else
		*out = r;
	json_decref(arr);
	json_decref(req);
	json_decref(reply);
	return rc;
}

/* ---- leases ------------------------------------------------------------- */

static int lease_call(struct etcdc *c, const char *path, const char *field,
		      int64_t num, int flags, json_t **reply)
{
	json_t *req = json_object();
	int rc = req ? jset_int(req, field, num) : -ENOMEM;

	if (!rc)
		rc = call(c, path, req, flags, reply);
	json_decref(req);
	return rc;
}

int etcdc_lease_grant(struct etcdc *c, int64_t ttl, int64_t *id,
		      int64_t *granted)
{
	json_t *reply = NULL;
	int64_t t = 0;
	int rc = ttl > 0 ? 0 : -EINVAL;

	if (!rc)
		rc = lease_call(c, "/v3/lease/grant", "TTL", ttl, 0, &reply);
	if (!rc)
		rc = jget_int(reply, "ID", id);
	if (!rc)
		rc = jget_int(reply, "TTL", &t);
	/* LeaseGrantResponse has an error string of its own. */
	if (!rc && (!*id || json_string_length(json_object_get(reply,
							       "error"))))
		rc = -EIO;
	if (!rc && granted)
		*granted = t;
	json_decref(reply);
	return rc;
}

int etcdc_lease_keepalive(struct etcdc *c, int64_t id, int64_t *ttl)
{
	json_t *reply = NULL;
	int64_t t = 0;
	int rc = lease_call(c, "/v3/lease/keepalive", "ID", id, CALL_RETRY,
			    &reply);

	if (!rc)
		rc = jget_int(reply, "TTL", &t);
	/* The stream answers an unknown lease with TTL 0, not an error. */
	if (!rc && t <= 0)
		rc = -ENOENT;
	if (!rc && ttl)
		*ttl = t;
	json_decref(reply);
	return rc;
}

int etcdc_lease_revoke(struct etcdc *c, int64_t id)
{
	json_t *reply = NULL;
	int rc = lease_call(c, "/v3/lease/revoke", "ID", id, 0, &reply);

	json_decref(reply);
	return rc;
}

/* ---- watches -------------------------------------------------------------- */

struct etcdc_watch {
	struct etcdc *c;
	CURLM *m;
	CURL *h;
	char *body;
	struct buf in;
	size_t used;              /* bytes of in already parsed */
	struct etcdc_event *q;    /* parsed, not yet handed out */
	size_t nq, capq;
	int64_t next_rev, hdr_rev;
	int created, dead;        /* dead: the errno polls report now */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void etcdc_events_free(struct etcdc_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		etcdc_kv_clear(&evs[i].kv);
	free(evs);
}

static int watch_events(struct etcdc_watch *w, const json_t *arr)
{
	size_t i, cnt = json_array_size(arr), ncap;
	struct etcdc_event *q, *ev;
	const char *type;
	int rc;

	if (w->nq + cnt > w->capq) {
		ncap = w->capq ? w->capq : 16;
		while (ncap < w->nq + cnt)
			ncap *= 2;
		q = realloc(w->q, ncap * sizeof(*q));
		if (!q)
			return -ENOMEM;
		w->q = q;
		w->capq = ncap;
	}
	for (i = 0; i < cnt; i++) {
		ev = &w->q[w->nq];
		type = json_string_value(json_object_get(json_array_get(arr, i),
							 "type"));
		if (type && strcmp(type, "PUT") && strcmp(type, "DELETE"))
			return -EIO;
		ev->type = type && !strcmp(type, "DELETE") ? ETCDC_EV_DELETE
							   : ETCDC_EV_PUT;
		rc = kv_parse(json_object_get(json_array_get(arr, i), "kv"),
			      &ev->kv);
		if (rc)
			return rc;
		w->nq++;
		if (ev->kv.mod_revision >= w->next_rev)
			w->next_rev = ev->kv.mod_revision + 1;
	}
	return 0;
}

/* One line of the stream: a watch response or an error. */
static int watch_line(struct etcdc_watch *w, const char *p, size_t n)
{
	json_t *j = json_loadb(p, n, 0, NULL), *res;
	int64_t compact = 0;
	int rc = json_is_object(j) ? reply_error(j, 200) : -EIO;

	res = json_object_get(j, "result");
	if (!rc && !json_is_object(res))
		rc = -EIO;
	if (!rc)
		rc = hdr_rev(res, &w->hdr_rev);
	if (!rc && json_is_true(json_object_get(res, "created"))) {
		w->created = 1;
		if (!w->next_rev)
			w->next_rev = w->hdr_rev + 1;
	}
	if (!rc)
		rc = watch_events(w, json_object_get(res, "events"));
	if (!rc && json_is_true(json_object_get(res, "canceled"))) {
		rc = jget_int(res, "compact_revision", &compact);
		if (!rc)
			rc = compact ? -ERANGE : -EIO;
	}
	json_decref(j);
	return rc;
}

/* Run the transfer for up to @timeout_ms, or until something new was
 * parsed (events, the creation) or the watch died. */
static void watch_pump(struct etcdc_watch *w, long timeout_ms)
{
	int64_t end = now_ms() + timeout_ms, left;
	size_t nq = w->nq;
	int created = w->created, running = 1, left_msgs, rc;
	char *nl;
	CURLMsg *msg;

	while (!w->dead) {
		if (curl_multi_perform(w->m, &running) != CURLM_OK) {
			w->dead = -EIO;
			break;
		}
		while (!w->dead && w->in.len > w->used &&
		       (nl = memchr(w->in.p + w->used, '\n',
				    w->in.len - w->used))) {
			rc = watch_line(w, w->in.p + w->used,
					(size_t)(nl - w->in.p - w->used));
			w->used = (size_t)(nl - w->in.p) + 1;
			if (rc)
				w->dead = rc;
		}
		/* Keep the buffer to the unparsed tail. */
		if (w->used) {
			memmove(w->in.p, w->in.p + w->used,
				w->in.len - w->used);
			w->in.len -= w->used;
			w->used = 0;
		}
		while ((msg = curl_multi_info_read(w->m, &left_msgs)))
			if (msg->msg == CURLMSG_DONE && !w->dead)
				w->dead = msg->data.result == CURLE_COULDNT_CONNECT ?
						  -ECONNREFUSED : -EIO;
		if (w->dead || w->nq > nq || w->created > created)
			break;
		left = end - now_ms();
		if (left <= 0)
			break;
		curl_multi_poll(w->m, NULL, 0, (int)(left > 1000 ? 1000 : left),
				NULL);
	}
}

void etcdc_watch_close(struct etcdc_watch *w)
{
	if (!w)
		return;
	if (w->m && w->h)
		curl_multi_remove_handle(w->m, w->h);
	if (w->h)
		curl_easy_cleanup(w->h);
	if (w->m)
		curl_multi_cleanup(w->m);
	etcdc_events_free(w->q, w->nq);
	free(w->in.p);
	free(w->body);
	free(w);
}

/* Start the stream on endpoint @ep and wait for etcd's "created". */
static int watch_start(struct etcdc_watch *w, size_t ep)
{
	int rc;

	if (w->h) {
		curl_multi_remove_handle(w->m, w->h);
		curl_easy_cleanup(w->h);
	}
	w->dead = w->created = 0;
	w->h = curl_easy_init();
	if (!w->h)
		return -ENOMEM;
	/* Line by line as long as the stream lasts: no size or time cap
	 * on the transfer, only on connecting and on each line. */
	rc = setup_handle(w->c, w->h, ep, "/v3/watch", w->body, &w->in);
	if (rc)
		return rc;
	w->in.max = (size_t)-1 / 2;
	if (curl_multi_add_handle(w->m, w->h) != CURLM_OK)
		return -EIO;
	watch_pump(w, w->c->timeout_ms);
	if (w->created && (!w->dead || w->nq))
		return 0;
	return w->dead ? w->dead : -ETIMEDOUT;
}

/* etcd reports a watch from a compacted revision by cancelling it some
 * time after "created" (its background sync), so ask directly: a read
 * at @rev fails the same way.  Only for @rev <= the current revision
 * (a read from the future fails too, a watch from it does not). */
static int check_compacted(struct etcdc *c, const void *prefix, size_t n,
			   int64_t rev)
{
	json_t *req = NULL, *reply = NULL;
	int rc = range_req(prefix, n, 1, &req);

	if (!rc)
		rc = jset_int(req, "revision", rev);
	if (!rc)
		rc = jset_int(req, "limit", 1);
	if (!rc)
		rc = jset(req, "count_only", json_true());
	if (!rc)
		rc = call(c, "/v3/kv/range", req, CALL_RETRY, &reply);
	json_decref(req);
	json_decref(reply);
	return rc;
}

int etcdc_watch_open(struct etcdc *c, const void *prefix, size_t prefix_len,
		     int64_t start_rev, struct etcdc_watch **out)
{
	struct etcdc_watch *w = calloc(1, sizeof(*w));
	json_t *req = NULL, *create = NULL;
	size_t i, ep;
	int rc = -ENOMEM, err = -ECONNREFUSED;

	*out = NULL;
	if (!w)
		goto out;
	w->c = c;
	w->next_rev = start_rev > 0 ? start_rev : 0;
	rc = range_req(prefix, prefix_len, 1, &create);
	if (!rc && start_rev > 0)
		rc = jset_int(create, "start_revision", start_rev);
	if (rc)
		goto out;
	rc = -ENOMEM;
	req = json_object();
	if (!req)
		goto out;
	rc = jset(req, "create_request", create); /* takes create */
	create = NULL;
	if (rc)
		goto out;
	rc = -ENOMEM;
	w->body = json_dumps(req, JSON_COMPACT);
	w->m = curl_multi_init();
	if (!w->body || !w->m)
		goto out;
	for (i = 0, ep = c->cur; i < c->n_eps; i++, ep = (ep + 1) % c->n_eps) {
		rc = watch_start(w, ep);
		if (!rc) {
			c->cur = ep;
			if (start_rev > 0 && start_rev <= w->hdr_rev)
				rc = check_compacted(c, prefix, prefix_len,
						     start_rev);
			if (!rc)
				*out = w;
			goto out;
		}
		/* etcd's answers hold on every endpoint; only the
		 * transport's failures are worth another try. */
		if (rc != -ECONNREFUSED && rc != -ETIMEDOUT && rc != -EIO)
			goto out;
		err = worse(err, rc);
	}
	rc = err;
out:
	if (rc)
		etcdc_watch_close(w);
	json_decref(create);
	json_decref(req);
	return rc;
}

int etcdc_watch_poll(struct etcdc_watch *w, long timeout_ms,
		     struct etcdc_event **evs, size_t *n, int64_t *rev)
{
	*evs = NULL;
	*n = 0;
	if (!w->nq && !w->dead)
		watch_pump(w, timeout_ms > 0 ? timeout_ms : 0);
	if (rev)
		*rev = w->hdr_rev;
	if (!w->nq)
		return w->dead;
	*evs = w->q;
	*n = w->nq;
	w->q = NULL;
	w->nq = w->capq = 0;
	return (int)*n;
}

int64_t etcdc_watch_next_rev(const struct etcdc_watch *w)
{
	return w->next_rev;
}

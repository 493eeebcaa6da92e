/* etcd_http.c - the gateway's wire format and the HTTP transport.
 *
 * The JSON shapes this decodes are listed in etcd_int.h.  Every request
 * goes through etc_call() so that endpoint failover and the choice of
 * error live in one place.
 */
#include "etcd_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON and base64 ---------------------------------------------------- */

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

int etc_jset(json_t *o, const char *name, json_t *v)
{
	return v && json_object_set_new(o, name, v) == 0 ? 0 : -ENOMEM;
}

int etc_jset_bytes(json_t *o, const char *name, const void *p, size_t n)
{
	json_t *v;
	int rc = b64_encode(p, n, &v);

	return rc ? rc : etc_jset(o, name, v);
}

/* int64 goes as a string, as the gateway writes it (a double would lose
 * revisions above 2^53). */
int etc_jset_int(json_t *o, const char *name, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	return etc_jset(o, name, json_string(s));
}

/* An absent field is 0 (the gateway leaves out zero values). */
int etc_jget_int(const json_t *o, const char *name, int64_t *v)
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

int etc_jget_bytes(const json_t *o, const char *name, char **p, size_t *n)
{
	json_t *f = json_object_get(o, name);

	if (f && !json_is_string(f))
		return -EIO;
	return b64_decode(f ? json_string_value(f) : "",
			  f ? json_string_length(f) : 0, p, n);
}

int etc_hdr_rev(const json_t *reply, int64_t *rev)
{
	int64_t r;
	int rc = etc_jget_int(json_object_get(reply, "header"), "revision", &r);

	if (!rc && rev)
		*rev = r;
	return rc;
}

/* The end of the range of keys starting with @p: @p with its last byte
 * below 0xff raised by one.  A prefix of only 0xff bytes (or none) has
 * no end, which etcd spells as a single zero byte: "every key from". */
int etc_jset_prefix_end(json_t *o, const void *p, size_t n)
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
	rc = etc_jset_bytes(o, "range_end", e, len);
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
		/* gRPC's own limit (2 MiB) is this code too: "received
		 * message larger than max" is a request too large, not
		 * too many requests. */
		if (strstr(msg, "larger than max"))
			return -EFBIG;
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
int etc_reply_error(const json_t *reply, long status)
{
	json_t *e = json_object_get(reply, "error");
	int64_t code = 0;

	if (json_is_object(e)) {
		if (etc_jget_int(e, "grpc_code", &code))
			return -EIO;
		return grpc_errno(code, json_string_value(
					  json_object_get(e, "message")));
	}
	if (status == 200)
		return 0;
	if (etc_jget_int(reply, "code", &code) || !code)
		return -EIO;
	return grpc_errno(code, json_string_value(
				  json_object_get(reply, "message")));
}

/* ---- transport ---------------------------------------------------------- */

static size_t buf_write(char *data, size_t size, size_t n, void *arg)
{
	struct etc_buf *b = arg;
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

/* Options common to the unary handle and watch handles. */
int etc_setup_handle(struct etcdc *c, CURL *h, size_t ep, const char *path,
		     const char *body, struct etc_buf *in)
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

/* Classify a failed transfer: its errno, and whether another endpoint
 * may be tried (*next). */
static int transfer_errno(CURL *h, CURLcode e, const struct etc_buf *in,
			  int flags, int *next)
{
	long oserr = 0, sent = 0;

	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
	/* Nothing sent: etcd cannot have seen it, a change included. */
	*next = (flags & ETC_CALL_RETRY) || sent == 0;
	switch (e) {
	case CURLE_COULDNT_CONNECT:
		/* After a request was sent: curl sends it again on a new
		 * connection when a kept-alive one closes before any
		 * answer, and that one was refused.  The member that took
		 * the first may have applied it before it died (etcd
		 * killed and restarted under 4 writers: a close said
		 * "Connection refused" for a commit that had landed).
		 * Maybe applied, as for a timeout. */
		if (sent > 0)
			return -EIO;
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
int etc_worse(int a, int b)
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
int etc_call(struct etcdc *c, const char *path, const json_t *req,
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
		rc = etc_setup_handle(c, c->h, ep, path, body, &c->in);
		if (!rc && curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS,
					    c->timeout_ms) != CURLE_OK)
			rc = -EIO;
		if (rc)
			goto out;
		e = curl_easy_perform(c->h);
		if (e != CURLE_OK) {
			rc = transfer_errno(c->h, e, &c->in, flags, &next);
			err = etc_worse(err, rc);
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
		rc = json_is_object(j) ? etc_reply_error(j, status) : -EIO;
		if ((rc == -EIO || rc == -ETIMEDOUT) &&
		    (flags & ETC_CALL_RETRY)) {
			err = etc_worse(err, rc);
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

/* etcd_client.c - the client, keys, transactions, leases (etcd_client.h).
 *
 * Requests are built here and sent with etc_call() (etcd_http.c);
 * watches, which hold a stream open between calls, are etcd_watch.c.
 */
#include "etcd_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEF_TIMEOUT_MS 2000
#define DEF_CONNECT_MS 1000
#define DEF_MAX_REPLY ((size_t)64 << 20)

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

/* ---- key-values --------------------------------------------------------- */

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

int etc_kv_parse(const json_t *j, struct etcdc_kv *kv)
{
	int rc;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(j))
		return -EIO;
	rc = etc_jget_bytes(j, "key", &kv->key, &kv->key_len);
	if (!rc)
		rc = etc_jget_bytes(j, "value", &kv->value, &kv->value_len);
	if (!rc)
		rc = etc_jget_int(j, "create_revision", &kv->create_revision);
	if (!rc)
		rc = etc_jget_int(j, "mod_revision", &kv->mod_revision);
	if (!rc)
		rc = etc_jget_int(j, "version", &kv->version);
	if (!rc)
		rc = etc_jget_int(j, "lease", &kv->lease);
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
		rc = etc_kv_parse(json_array_get(arr, i), &(*kvs)[i]);
	if (rc) {
		etcdc_kvs_free(*kvs, i);
		*kvs = NULL;
		return rc;
	}
	*n = cnt;
	return 0;
}

/* ---- keys --------------------------------------------------------------- */

int etc_range_req(const void *key, size_t klen, int prefix, json_t **out)
{
	json_t *r = json_object();
	int rc = r ? etc_jset_bytes(r, "key", key, klen) : -ENOMEM;

	if (!rc && prefix)
		rc = etc_jset_prefix_end(r, key, klen);
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
	rc = etc_range_req(key, key_len, 0, &req);
	if (!rc)
		rc = etc_call(c, "/v3/kv/range", req, ETC_CALL_RETRY, &reply);
	if (!rc)
		rc = etc_hdr_rev(reply, rev);
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
	return etcdc_range_page(c, prefix, prefix_len, NULL, 0, 0, limit, kvs,
				n, more, rev);
}

int etcdc_range_page(struct etcdc *c, const void *prefix, size_t prefix_len,
		     const void *from, size_t from_len, int64_t at_rev,
		     int64_t limit, struct etcdc_kv **kvs, size_t *n,
		     int *more, int64_t *rev)
{
	json_t *req = NULL, *reply = NULL;
	int rc;

	*kvs = NULL;
	*n = 0;
	if (limit < 0 || at_rev < 0)
		return -EINVAL;
	rc = etc_range_req(prefix, prefix_len, 1, &req);
	if (!rc && from_len)
		rc = etc_jset_bytes(req, "key", from, from_len);
	if (!rc && limit)
		rc = etc_jset_int(req, "limit", limit);
	if (!rc && at_rev)
		rc = etc_jset_int(req, "revision", at_rev);
	if (!rc)
		rc = etc_call(c, "/v3/kv/range", req, ETC_CALL_RETRY, &reply);
	if (!rc)
		rc = etc_hdr_rev(reply, rev);
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
	int rc = r ? etc_jset_bytes(r, "key", key, klen) : -ENOMEM;

	if (!rc)
		rc = etc_jset_bytes(r, "value", val, vlen);
	if (!rc && lease)
		rc = etc_jset_int(r, "lease", lease);
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
		rc = etc_call(c, "/v3/kv/put", req, 0, &reply);
	if (!rc)
		rc = etc_hdr_rev(reply, rev);
	json_decref(req);
	json_decref(reply);
	return rc;
}

int etcdc_delete(struct etcdc *c, const void *key, size_t key_len,
		 int64_t *deleted, int64_t *rev)
{
	json_t *req = NULL, *reply = NULL;
	int64_t d = 0;
	int rc = etc_range_req(key, key_len, 0, &req);

	if (!rc)
		rc = etc_call(c, "/v3/kv/deleterange", req, 0, &reply);
	if (!rc)
		rc = etc_hdr_rev(reply, rev);
	if (!rc)
		rc = etc_jget_int(reply, "deleted", &d);
	if (!rc && deleted)
		*deleted = d;
	json_decref(req);
	json_decref(reply);
	return rc;
}

int etcdc_compact(struct etcdc *c, int64_t revision)
{
	json_t *req = json_object(), *reply = NULL;
	int rc = req ? etc_jset_int(req, "revision", revision) : -ENOMEM;

	if (!rc)
		rc = etc_call(c, "/v3/kv/compaction", req, 0, &reply);
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
	rc = etc_jset_bytes(j, "key", k->key, k->key_len);
	if (!rc && k->prefix)
		rc = etc_jset_prefix_end(j, k->key, k->key_len);
	if (!rc)
		rc = etc_jset(j, "target", json_string(targets[k->target]));
	if (!rc)
		rc = etc_jset(j, "result", json_string(ops[k->op]));
	if (!rc && k->target == ETCDC_VALUE)
		rc = etc_jset_bytes(j, "value", k->value, k->value_len);
	else if (!rc)
		rc = etc_jset_int(j, fields[k->target], k->num);
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
		rc = etc_range_req(op->key, op->key_len, op->prefix, &inner);
	if (rc)
		goto out;
	j = json_object();
	if (j)
		rc = etc_jset(j, names[op->type], inner); /* takes inner */
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
	return etc_jset(req, name, arr);
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

	rc = etc_hdr_rev(reply, &out->revision);
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
			rc = r ? etc_jget_int(r, "deleted", &res->deleted)
			       : -EIO;
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
		rc = etc_jset(req, "compare", arr);
		arr = NULL;
	}
	if (!rc)
		rc = ops_json(req, "success", success, n_success);
	if (!rc)
		rc = ops_json(req, "failure", failure, n_failure);
	if (!rc)
		rc = etc_call(c, "/v3/kv/txn", req, 0, &reply);
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
	int rc = req ? etc_jset_int(req, field, num) : -ENOMEM;

	if (!rc)
		rc = etc_call(c, path, req, flags, reply);
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
		rc = etc_jget_int(reply, "ID", id);
	if (!rc)
		rc = etc_jget_int(reply, "TTL", &t);
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
	int rc = lease_call(c, "/v3/lease/keepalive", "ID", id, ETC_CALL_RETRY,
			    &reply);

	if (!rc)
		rc = etc_jget_int(reply, "TTL", &t);
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


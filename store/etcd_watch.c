/* etcd_watch.c - prefix watches over /v3/watch (see etcd_client.h).
 *
 * A watch is a stream that stays open between polls, so it has its own
 * curl handle, driven through a multi handle: a poll can then wait with
 * a timeout and come back with the stream still open.
 */
#include "etcd_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct etcdc_watch {
	struct etcdc *c;
	CURLM *m;
	CURL *h;
	char *body;
	struct etc_buf in;
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

/* Queue the events of one response, all or none: they are one
 * revision's (one transaction's) or several whole ones, and a caller
 * that got half of them and moved next_rev past them would never see
 * the rest.  On an error the queue and next_rev are as before. */
static int watch_events(struct etcdc_watch *w, const json_t *arr)
{
	size_t i, cnt = json_array_size(arr), ncap, nq0 = w->nq;
	int64_t rev0 = w->next_rev;
	struct etcdc_event *q, *ev;
	const char *type;
	int rc = 0;

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
		if (type && strcmp(type, "PUT") && strcmp(type, "DELETE")) {
			rc = -EIO;
			goto out;
		}
		ev->type = type && !strcmp(type, "DELETE") ? ETCDC_EV_DELETE
							   : ETCDC_EV_PUT;
		rc = etc_kv_parse(json_object_get(json_array_get(arr, i), "kv"),
				  &ev->kv);
		if (rc)
			goto out;
		w->nq++;
		if (ev->kv.mod_revision >= w->next_rev)
			w->next_rev = ev->kv.mod_revision + 1;
	}
out:
	if (rc) {
		for (i = nq0; i < w->nq; i++)
			etcdc_kv_clear(&w->q[i].kv);
		w->nq = nq0;
		w->next_rev = rev0;
	}
	return rc;
}

/* One line of the stream: a watch response or an error. */
static int watch_line(struct etcdc_watch *w, const char *p, size_t n)
{
	json_t *j = json_loadb(p, n, 0, NULL), *res;
	int64_t compact = 0;
	int rc = json_is_object(j) ? etc_reply_error(j, 200) : -EIO;

	res = json_object_get(j, "result");
	if (!rc && !json_is_object(res))
		rc = -EIO;
	if (!rc)
		rc = etc_hdr_rev(res, &w->hdr_rev);
	if (!rc && json_is_true(json_object_get(res, "created"))) {
		w->created = 1;
		if (!w->next_rev)
			w->next_rev = w->hdr_rev + 1;
	}
	if (!rc)
		rc = watch_events(w, json_object_get(res, "events"));
	if (!rc && json_is_true(json_object_get(res, "canceled"))) {
		rc = etc_jget_int(res, "compact_revision", &compact);
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
	rc = etc_setup_handle(w->c, w->h, ep, "/v3/watch", w->body, &w->in);
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
	int rc = etc_range_req(prefix, n, 1, &req);

	if (!rc)
		rc = etc_jset_int(req, "revision", rev);
	if (!rc)
		rc = etc_jset_int(req, "limit", 1);
	if (!rc)
		rc = etc_jset(req, "count_only", json_true());
	if (!rc)
		rc = etc_call(c, "/v3/kv/range", req, ETC_CALL_RETRY, &reply);
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
	rc = etc_range_req(prefix, prefix_len, 1, &create);
	if (!rc && start_rev > 0)
		rc = etc_jset_int(create, "start_revision", start_rev);
	if (rc)
		goto out;
	rc = -ENOMEM;
	req = json_object();
	if (!req)
		goto out;
	rc = etc_jset(req, "create_request", create); /* takes create */
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
		err = etc_worse(err, rc);
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

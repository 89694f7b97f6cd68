/* polling.c -- the HTTP long-polling transport: handshake, held GETs, POSTed packets, /metrics. */
#include "polling.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "sio.h"

/* The separator of packets in a polling payload (Engine.IO v4). */
#define POLLING_RS '\x1e'

/* Owes an answer on this request; it is written when the socket is writable. */
static int polling_owe(struct lws *wsi, struct conn_wsi *w, int status, const char *answer)
{
	w->status = status;
	w->answer = answer;
	lws_callback_on_writable(wsi);
	return 0;
}

int polling_request(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	const struct cfg *cfg = cs->cfg;
	const char *answer = NULL;
	int status;
	struct conn *c;

	{
		char uri[32];

		/* The bridge's own pages: /metrics (CHAT_METRICS_ALLOW), /healthz. */
		if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0 && cs->ops.page) {
			req_client_addr(wsi, w->addr, sizeof(w->addr));
			status = cs->ops.page(cs->ops.arg, uri, w->addr, &w->dyn_answer,
					      &w->dyn_type);
			if (status)
				return polling_owe(wsi, w, w->dyn_answer ? status : 500,
						   w->dyn_answer ? NULL : "");
		}
	}
	if (req_check(cfg, wsi, "polling", w, &status, &answer))
		return polling_owe(wsi, w, status, answer);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0)
		return polling_owe(wsi, w, 204, "");
	if (!w->sid[0]) {
		if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
			return polling_owe(wsi, w, 400,
					   "{\"code\":1,\"message\":\"Session ID unknown\"}");
		req_client_addr(wsi, w->addr, sizeof(w->addr));
		if (conn_full(cs, w->addr))
			return polling_owe(wsi, w, 503, "{\"code\":0,\"message\":\"Server full\"}");
		c = conn_open(cs, CONN_POLLING, wsi, w->addr);
		if (!c)
			return polling_owe(wsi, w, 500,
					   "{\"code\":0,\"message\":\"Internal error\"}");
	} else {
		c = hmap_get(&cs->by_sid, w->sid, strlen(w->sid));
		if (!c || c->transport != CONN_POLLING)
			return polling_owe(wsi, w, 400,
					   "{\"code\":1,\"message\":\"Session ID unknown\"}");
	}
	c->last_poll_ms = conn_now_ms();
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) {
		/* The session may end while the body arrives: it is looked up
		 * again by sid when the body is complete, never kept here. */
		w->kind = CW_POST;
		w->c = NULL;
		snprintf(w->sid, sizeof(w->sid), "%s", c->sid);
		cs->posts++;
		return 0;
	}
	w->c = c;
	cs->polls++;
	if (c->poll) {
		/* Two GETs at once: the client is confused; end the session. */
		w->c = NULL;
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "overlapping polls");
		return polling_owe(wsi, w, 400, "{\"code\":3,\"message\":\"Bad request\"}");
	}
	w->kind = CW_GET;
	c->poll = wsi;
	/* Held until there is data; the heartbeat bounds the wait. */
	lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, cs->ops.poll_hold_s(cs->ops.arg));
	if (c->q.count || c->poll_noop || c->probe)
		lws_callback_on_writable(wsi);
	return 0;
}

int polling_body(struct conn_set *cs, struct conn_wsi *w, const char *in, size_t len)
{
	size_t max = (size_t)cs->cfg->ws_max_payload;
	char *n;

	if (w->kind != CW_POST || w->status)
		return 0;
	if (w->body_len + len > max) {
		w->status = 413; /* read the rest, then answer */
		free(w->body);
		w->body = NULL;
		w->body_len = 0;
		return 0;
	}
	n = realloc(w->body, w->body_len + len + 1);
	if (!n)
		return -1;
	w->body = n;
	memcpy(w->body + w->body_len, in, len);
	w->body_len += len;
	return 0;
}

/* Every packet of a POST: parse them all first, then hand them up. */
static int polling_body_parse(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	struct conn *c = w->sid[0] ? hmap_get(&cs->by_sid, w->sid, strlen(w->sid)) : NULL;
	size_t i, start;

	if (w->status && w->status != 413)
		return 0; /* the request was refused before its body: that answer stands */
	if (w->kind != CW_POST)
		return polling_owe(wsi, w, 400, "{\"code\":3,\"message\":\"Bad request\"}");
	if (w->status == 413) {
		if (c)
			conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "payload too large");
		return polling_owe(wsi, w, 413, "{\"code\":3,\"message\":\"Payload too large\"}");
	}
	if (!c || c->transport != CONN_POLLING)
		return polling_owe(wsi, w, 400, "{\"code\":1,\"message\":\"Session ID unknown\"}");
	for (i = 0, start = 0; i <= w->body_len; i++) {
		struct sio_packet p;

		if (i < w->body_len && w->body[i] != POLLING_RS)
			continue;
		if (!w->body || sio_parse(w->body + start, i - start, &p)) {
			conn_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "malformed packet");
			return polling_owe(wsi, w, 400, "{\"code\":3,\"message\":\"Bad request\"}");
		}
		start = i + 1;
	}
	for (i = 0, start = 0; i <= w->body_len && c->state != CONN_CLOSING; i++) {
		if (i < w->body_len && w->body[i] != POLLING_RS)
			continue;
		cs->ops.on_message(cs->ops.arg, c, w->body + start, i - start);
		start = i + 1;
	}
	return polling_owe(wsi, w, 200, "ok");
}

/* The body is read: answer it, then let it go (the next request on a
 * kept-alive connection starts clean). */
int polling_body_done(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	int rc = polling_body_parse(cs, w, wsi);

	free(w->body);
	w->body = NULL;
	w->body_len = 0;
	return rc;
}

/* Answers the held GET: queued packets joined by the separator, or a noop. */
static int polling_held_writeable(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	struct conn *c = w->c;
	size_t max = (size_t)cs->cfg->ws_max_payload, len = 0;
	struct frame *f;
	char *body;
	int rc;

	if (!c)
		return req_reply(wsi, w, 400, "application/json",
				 "{\"code\":1,\"message\":\"Session ID unknown\"}", 41);
	if (c->transport == CONN_WEBSOCKET || c->poll_noop || !c->q.count) {
		/* Nothing yet: keep holding, unless an upgrade is under way (the
		 * client waits for this poll to end before it switches). */
		if (c->transport == CONN_POLLING && !c->poll_noop && !c->q.count && !c->probe)
			return 0;
		c->poll_noop = 0;
		c->poll = NULL;
		w->c = NULL;
		return req_reply(wsi, w, 200, "text/plain; charset=UTF-8", "6", 1);
	}
	body = malloc(max + 1);
	if (!body)
		return -1;
	/* At least one packet, then as many as fit the announced maxPayload. */
	while ((f = outq_peek(&c->q)) && (len == 0 || len + 1 + f->len <= max)) {
		if (len)
			body[len++] = POLLING_RS;
		if (f->len > max) {
			char *bigger = realloc(body, len + f->len + 1);

			if (!bigger) {
				free(body);
				return -1;
			}
			body = bigger;
		}
		memcpy(body + len, frame_payload(f), f->len);
		len += f->len;
		outq_pop(&c->q);
	}
	c->poll = NULL;
	w->c = NULL;
	c->last_poll_ms = conn_now_ms();
	rc = req_reply(wsi, w, 200, "text/plain; charset=UTF-8", body, len);
	free(body);
	if (c->state == CONN_CLOSING && !c->q.count)
		conn_end(c);
	return rc;
}

void polling_reset(struct conn_wsi *w, struct lws *wsi)
{
	if (!w)
		return;
	if (w->c && w->c->poll == wsi)
		w->c->poll = NULL;
	free(w->body);
	free(w->dyn_answer);
	memset(w, 0, sizeof(*w));
}

/* Writes the answer owed on this request (polling_owe). */
static int polling_owed_writeable(struct conn_wsi *w, struct lws *wsi)
{
	int status = w->status, rc;

	w->status = 0;
	if (w->dyn_answer) {
		/* Taken out first: an answer that ends the connection frees w. */
		char *body = w->dyn_answer;

		w->dyn_answer = NULL;
		rc = req_reply(wsi, w, (unsigned)status, w->dyn_type, body, strlen(body));
		free(body);
		return rc;
	}
	return req_reply(wsi, w, (unsigned)status, status == 200 ? "text/html" : "application/json",
			 w->answer ? w->answer : "", w->answer ? strlen(w->answer) : 0);
}

int polling_writeable(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	if (w->status)
		return polling_owed_writeable(w, wsi);
	if (w->kind == CW_GET)
		return polling_held_writeable(cs, w, wsi);
	return 0;
}

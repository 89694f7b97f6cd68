/* conn.c -- one WebSocket client: handshake checks, reassembly, bounded output. */
#include "conn.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "sio.h"

/* Seconds lws waits for a closing client to take its close frame. */
#define CONN_CLOSE_WAIT_S 3

int64_t conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int conn_setup(struct conn_set *cs, const struct cfg *cfg, const struct conn_ops *ops)
{
	memset(cs, 0, sizeof(*cs));
	cs->cfg = cfg;
	cs->ops = *ops;
	cs->next_id = 1;
	cs->ping = frame_from("2", 1);
	return cs->ping ? 0 : -1;
}

void conn_teardown(struct conn_set *cs)
{
	frame_unref(cs->ping);
	cs->ping = NULL;
}

static struct conn_set *conn_set_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

void conn_close(struct conn *c, uint16_t code, const char *reason)
{
	if (c->state == CONN_CLOSING || !c->wsi)
		return;
	c->state = CONN_CLOSING;
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	lws_callback_on_writable(c->wsi);
	/* A client that does not read never makes us writable: cut it off. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, CONN_CLOSE_WAIT_S);
}

int conn_send(struct conn *c, struct frame *f)
{
	int was_empty = c->q.count == 0;

	if (c->state == CONN_CLOSING || !c->wsi)
		return -1;
	if (outq_push(&c->q, f)) {
		log_warn("closing connection %s of user '%s': output queue full (%u frames)", c->key,
			 c->user_id, c->q.count);
		outq_release(&c->q);
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too slow: output queue full");
		return -1;
	}
	if (was_empty)
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* Writes queued frames while the socket takes them. Returns -1 to close. */
static int conn_writeable(struct conn *c)
{
	struct frame *f;
	int budget = 64;

	while (budget-- > 0 && (f = outq_peek(&c->q))) {
		int n = lws_write(c->wsi, (unsigned char *)frame_payload(f), f->len, LWS_WRITE_TEXT);

		if (n < 0)
			return -1;
		outq_pop(&c->q);
		if (lws_send_pipe_choked(c->wsi))
			break;
	}
	if (c->q.count) {
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->state == CONN_CLOSING) {
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
				 (unsigned char *)c->close_reason, strlen(c->close_reason));
		return -1;
	}
	return 0;
}

/* Appends a fragment; delivers the message when complete. */
static int conn_receive(struct conn_set *cs, struct conn *c, const char *in, size_t len)
{
	size_t max = (size_t)cs->cfg->ws_max_payload;
	int final = lws_is_final_fragment(c->wsi) && lws_remaining_packet_payload(c->wsi) == 0;

	if (c->state == CONN_CLOSING)
		return 0;
	if (lws_frame_is_binary(c->wsi)) {
		conn_close(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary frames are not supported");
		return 0;
	}
	if (lws_is_first_fragment(c->wsi))
		c->rx_len = 0;
	/* The common case, a whole message in one piece, needs no copy. */
	if (final && c->rx_len == 0) {
		if (len > max) {
			conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
			return 0;
		}
		cs->ops.on_message(cs->ops.arg, c, (char *)(uintptr_t)in, len);
		return 0;
	}
	if (c->rx_len + len > max) {
		conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
		return 0;
	}
	if (c->rx_len + len + 1 > c->rx_cap) {
		size_t ncap = c->rx_cap ? c->rx_cap : 1024;
		char *n;

		while (ncap < c->rx_len + len + 1)
			ncap *= 2;
		n = realloc(c->rx, ncap);
		if (!n)
			return -1;
		c->rx = n;
		c->rx_cap = ncap;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (final) {
		c->rx[c->rx_len] = '\0';
		cs->ops.on_message(cs->ops.arg, c, c->rx, c->rx_len);
		c->rx_len = 0;
		free(c->rx);
		c->rx = NULL;
		c->rx_cap = 0;
	}
	return 0;
}

/* Returns nonzero when the Origin may open a connection: no Origin (not a
 * browser), an exact entry of CHAT_ALLOWED_ORIGINS, or the same host as
 * the request (same-origin through nginx). */
static int conn_origin_ok(struct lws *wsi, const struct cfg *cfg)
{
	char origin[256], host[256];
	const char *o, *list = cfg->allowed_origins;
	size_t olen;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return 1;
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
		return 0;
	olen = strlen(origin);
	while (*list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);

		while (n && *list == ' ') {
			list++;
			n--;
		}
		while (n && list[n - 1] == ' ')
			n--;
		if (n == olen && strncasecmp(list, origin, n) == 0)
			return 1;
		if (!end)
			break;
		list = end + 1;
	}
	o = strstr(origin, "://");
	if (!o || lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
		return 0;
	return strcasecmp(o + 3, host) == 0;
}

/* The handshake: path, Engine.IO version, transport, origin, capacity. */
static int conn_filter(struct conn_set *cs, struct conn *c, struct lws *wsi)
{
	char uri[128], buf[160], cookie[1024];
	const char *v, *tok;
	size_t toklen;

	if (cs->refusing) {
		log_info("refused a connection: shutting down");
		return -1;
	}
	if (cs->count >= (unsigned)cs->cfg->ws_max_conn) {
		log_warn("refused a connection: %u connections is the limit", cs->count);
		return -1;
	}
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
	    strncmp(uri, "/socket.io/", 11) != 0)
		return -1;
	/* lws_get_urlarg_by_name() returns a pointer past "name=" in buf. */
	v = lws_get_urlarg_by_name(wsi, "EIO=", buf, sizeof(buf));
	if (!v || strcmp(v, "4") != 0) {
		log_info("refused a connection: Engine.IO version '%s' is not 4", v ? v : "");
		return -1;
	}
	v = lws_get_urlarg_by_name(wsi, "transport=", buf, sizeof(buf));
	if (!v || strcmp(v, "websocket") != 0)
		return -1;
	if (!conn_origin_ok(wsi, cs->cfg)) {
		log_warn("refused a connection: origin not allowed");
		return -1;
	}
	c->token[0] = '\0';
	v = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
	if (v && tok_wellformed(v, strlen(v))) {
		memcpy(c->token, v, TOK_LEN + 1);
	} else if (lws_hdr_copy(wsi, cookie, sizeof(cookie), WSI_TOKEN_HTTP_COOKIE) > 0 &&
		   tok_from_cookie(cookie, &tok, &toklen) == TOK_FOUND) {
		memcpy(c->token, tok, toklen);
		c->token[toklen] = '\0';
	}
	return 0;
}

static void conn_new_sid(char *out, size_t outlen)
{
	unsigned char raw[15];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		memset(raw, 0, sizeof(raw));
	lws_b64_encode_string_url((const char *)raw, sizeof(raw), out, (int)outlen);
}

static void conn_established(struct conn_set *cs, struct conn *c, struct lws *wsi)
{
	const struct cfg *cfg = cs->cfg;
	int64_t now = conn_now_ms();
	struct frame *open;

	c->wsi = wsi;
	c->id = cs->next_id++;
	snprintf(c->key, sizeof(c->key), "%llu", (unsigned long long)c->id);
	conn_new_sid(c->sid, sizeof(c->sid));
	c->state = CONN_OPEN;
	outq_init(&c->q, (unsigned)cfg->ws_queue_frames, (size_t)cfg->ws_queue_bytes);
	c->next_ping_ms = now + cfg->ws_ping_interval;
	c->auth_deadline_ms = now + cfg->ws_auth_timeout;
	c->ev_tokens = (double)cfg->ws_event_rate;
	c->ev_at_ms = now;
	c->next = cs->head;
	if (cs->head)
		cs->head->prev = c;
	cs->head = c;
	cs->count++;
	open = sio_open(c->sid, cfg->ws_ping_interval, cfg->ws_ping_timeout, cfg->ws_max_payload);
	if (!open || conn_send(c, open)) {
		frame_unref(open);
		conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	frame_unref(open);
	cs->ops.on_open(cs->ops.arg, c);
}

static void conn_closed(struct conn_set *cs, struct conn *c)
{
	if (!c->wsi)
		return;
	cs->ops.on_close(cs->ops.arg, c);
	outq_release(&c->q);
	free(c->rx);
	c->rx = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		cs->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->wsi = NULL;
	cs->count--;
}

/* Plain HTTP on the bridge: only the websocket transport is served. */
static int conn_http(struct lws *wsi)
{
	static const char body[] = "{\"code\":0,\"message\":\"Transport unknown\"}";
	unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start,
						   *end = buf + sizeof(buf) - 1;

	if (lws_add_http_common_headers(wsi, HTTP_STATUS_BAD_REQUEST, "application/json",
					sizeof(body) - 1, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	memcpy(start, body, sizeof(body) - 1);
	if (lws_write(wsi, start, sizeof(body) - 1, LWS_WRITE_HTTP_FINAL) < 0)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	struct conn_set *cs = conn_set_of(wsi);
	struct conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return c && conn_filter(cs, c, wsi) == 0 ? 0 : 1;
	case LWS_CALLBACK_ESTABLISHED:
		conn_established(cs, c, wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return c->wsi ? conn_receive(cs, c, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c->wsi ? conn_writeable(c) : -1;
	case LWS_CALLBACK_CLOSED:
		conn_closed(cs, c);
		return 0;
	case LWS_CALLBACK_HTTP:
		return conn_http(wsi);
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

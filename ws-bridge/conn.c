/* conn.c -- Engine.IO sessions over WebSocket and HTTP long-polling: handshake
 * checks, reassembly, bounded output, and the polling-to-WebSocket upgrade. */
#include "conn.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "log.h"
#include "sio.h"

/* Seconds lws waits for a closing client to take its close frame. */
#define CONN_CLOSE_WAIT_S 3
/* The separator of packets in a polling payload (Engine.IO v4). */
#define CONN_RS '\x1e'

enum conn_wsi_kind {
	CW_NONE = 0,
	CW_WS,     /* the WebSocket of a session */
	CW_PROBE,  /* a WebSocket probing the upgrade of a polling session */
	CW_GET,    /* a long-poll GET (or the handshake) */
	CW_POST,   /* a POST of packets */
	CW_REFUSED, /* a WebSocket refused once upgraded: closed with w->status */
};

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
	hmap_init(&cs->by_sid);
	hmap_init(&cs->by_addr);
	hmap_init(&cs->unauth_by_addr);
	cs->ping = frame_from("2", 1);
	return cs->ping ? 0 : -1;
}

void conn_teardown(struct conn_set *cs)
{
	frame_unref(cs->ping);
	cs->ping = NULL;
	hmap_release(&cs->by_sid);
	hmap_release(&cs->by_addr);
	hmap_release(&cs->unauth_by_addr);
}

/* Sessions of one client address in a count map (by_addr, unauth_by_addr). */
static uintptr_t conn_addr_count(const struct hmap *m, const char *addr)
{
	return (uintptr_t)hmap_get(m, addr, strlen(addr));
}

/* Adds delta to the address's count; the entry goes at zero. */
static void conn_addr_add(struct hmap *m, const char *addr, int delta)
{
	uintptr_t n = conn_addr_count(m, addr) + (uintptr_t)(intptr_t)delta;

	if (n == 0)
		hmap_del(m, addr, strlen(addr));
	else if (hmap_put(m, addr, strlen(addr), (void *)n))
		log_warn("cannot count sessions of '%s': out of memory", addr);
}

/* The session no longer counts as unauthenticated (authenticated or ended). */
static void conn_unauth_done(struct conn *c)
{
	if (!c->unauth)
		return;
	c->unauth = 0;
	conn_addr_add(&c->cs->unauth_by_addr, c->addr, -1);
}

void conn_ready(struct conn *c)
{
	c->state = CONN_READY;
	conn_unauth_done(c);
}

static struct conn_set *conn_set_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* Asks for a writable callback on whatever carries the session now. */
static void conn_kick(struct conn *c)
{
	if (c->transport == CONN_WEBSOCKET && c->ws)
		lws_callback_on_writable(c->ws);
	else if (c->transport == CONN_POLLING && c->poll)
		lws_callback_on_writable(c->poll);
}

static void conn_detach(struct lws *wsi)
{
	struct conn_wsi *w;

	if (!wsi)
		return;
	w = lws_wsi_user(wsi);
	if (w)
		w->c = NULL;
	lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

/* The session is over: tell the layer above, drop it, let its lws connections go. */
static void conn_end(struct conn *c)
{
	struct conn_set *cs = c->cs;

	cs->ops.on_close(cs->ops.arg, c);
	hmap_del(&cs->by_sid, c->sid, strlen(c->sid));
	conn_addr_add(&cs->by_addr, c->addr, -1);
	conn_unauth_done(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		cs->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	cs->count--;
	conn_detach(c->ws);
	conn_detach(c->probe);
	conn_detach(c->poll);
	outq_release(&c->q);
	free(c->rx);
	free(c);
}

void conn_end_all(struct conn_set *cs)
{
	unsigned n = cs->count;

	while (cs->head)
		conn_end(cs->head);
	if (n)
		log_info("ended %u sessions still open at exit", n);
}

void conn_close(struct conn *c, uint16_t code, const char *reason)
{
	if (c->state == CONN_CLOSING)
		return;
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	if (c->transport == CONN_WEBSOCKET) {
		c->state = CONN_CLOSING;
		if (c->ws) {
			lws_callback_on_writable(c->ws);
			/* A client that does not read never makes us writable: cut it off. */
			lws_set_timeout(c->ws, PENDING_TIMEOUT_CLOSE_SEND, CONN_CLOSE_WAIT_S);
		}
		return;
	}
	/* Polling: the close packet goes out with the next answer to a GET. */
	{
		struct frame *f = frame_from("1", 1);

		if (f && outq_push(&c->q, f) == 0)
			conn_kick(c);
		frame_unref(f);
	}
	c->state = CONN_CLOSING;
	c->last_poll_ms = conn_now_ms();
}

int conn_send(struct conn *c, struct frame *f)
{
	int was_empty = c->q.count == 0;

	if (c->state == CONN_CLOSING)
		return -1;
	if (outq_push(&c->q, f)) {
		log_warn("closing session %s of user '%s': output queue full (%u frames)", c->key,
			 c->user_id, c->q.count);
		c->cs->slow_closed++;
		outq_release(&c->q);
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too slow: output queue full");
		return -1;
	}
	if (was_empty)
		conn_kick(c);
	return 0;
}

void conn_expire(struct conn_set *cs, int64_t now_ms)
{
	const struct cfg *cfg = cs->cfg;
	struct conn *c, *next;

	for (c = cs->head; c; c = next) {
		next = c->next;
		if (c->transport != CONN_POLLING || c->poll)
			continue;
		if (c->state == CONN_CLOSING ? now_ms - c->last_poll_ms > cfg->ws_ping_timeout
					     : now_ms - c->last_poll_ms >
						       cfg->ws_ping_interval + cfg->ws_ping_timeout) {
			log_info("polling session %s expired", c->key);
			conn_end(c);
		}
	}
}

/*
 * Queued frames of one session go out together, up to this many bytes per
 * send(): under fan-out a reader usually has several frames waiting, and one
 * send for all of them saves a system call per frame here, in nginx and in
 * the client. Single-threaded, so one buffer serves every session; lws_write
 * either sends it all or keeps the rest before it returns.
 */
#define CONN_BATCH_MAX (16 * 1024)
static unsigned char conn_batch[LWS_PRE + CONN_BATCH_MAX];

static void conn_count_out(struct conn *c, const struct frame *f)
{
	c->cs->frames_out++;
	c->cs->bytes_out += f->len;
}

/*
 * Writes the frames at the head of the queue that fit in the batch buffer,
 * at most *budget of them, as one send. Returns 0 or -1.
 */
static int conn_ws_write_batch(struct conn *c, int *budget)
{
	unsigned char *out = conn_batch + LWS_PRE;
	size_t used = 0;
	struct frame *f;

	while (*budget > 0 && (f = outq_peek(&c->q)) &&
	       used + WS_HEADER_MAX + f->len <= CONN_BATCH_MAX) {
		used += ws_text_header(out + used, f->len);
		memcpy(out + used, frame_payload(f), f->len);
		used += f->len;
		conn_count_out(c, f);
		outq_pop(&c->q);
		--*budget;
	}
	return lws_write(c->ws, out, used, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

/* Writes queued frames to the session's WebSocket. Returns -1 to close it. */
static int conn_ws_writeable(struct conn *c)
{
	struct frame *f;
	int budget = 64;

	while (budget > 0 && (f = outq_peek(&c->q))) {
		if (c->q.count == 1 || f->len + WS_HEADER_MAX > CONN_BATCH_MAX) {
			/* Alone or too big to batch: lws frames it in place. */
			if (lws_write(c->ws, (unsigned char *)frame_payload(f), f->len,
				      LWS_WRITE_TEXT) < 0)
				return -1;
			conn_count_out(c, f);
			outq_pop(&c->q);
			budget--;
		} else if (conn_ws_write_batch(c, &budget)) {
			return -1;
		}
		if (lws_send_pipe_choked(c->ws))
			break;
	}
	if (c->q.count) {
		lws_callback_on_writable(c->ws);
		return 0;
	}
	if (c->state == CONN_CLOSING) {
		lws_close_reason(c->ws, (enum lws_close_status)c->close_code,
				 (unsigned char *)c->close_reason, strlen(c->close_reason));
		return -1;
	}
	return 0;
}

/* Appends a fragment; delivers the message when complete. */
static int conn_receive(struct conn_set *cs, struct conn *c, struct lws *wsi, const char *in,
			size_t len)
{
	size_t max = (size_t)cs->cfg->ws_max_payload;
	int final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

	if (c->state == CONN_CLOSING)
		return 0;
	if (lws_frame_is_binary(wsi)) {
		conn_close(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary frames are not supported");
		return 0;
	}
	if (lws_is_first_fragment(wsi)) {
		c->rx_len = 0;
		c->rx_discard = 0;
	}
	/* Too large: read the rest of it away, then close. Closing with unread
	 * input would reset the connection and lose the close frame. */
	if (c->rx_discard || c->rx_len + len > max) {
		if (!c->rx_discard) {
			c->rx_discard = 1;
			free(c->rx);
			c->rx = NULL;
			c->rx_len = c->rx_cap = 0;
		}
		if (final)
			conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
		return 0;
	}
	/* The common case, a whole message in one piece, needs no copy. */
	if (final && c->rx_len == 0) {
		cs->ops.on_message(cs->ops.arg, c, (char *)(uintptr_t)in, len);
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

/*
 * Returns nonzero when the Origin may use the endpoint: no Origin (not a
 * browser), an exact entry of CHAT_ALLOWED_ORIGINS, or the same host as
 * the request (same-origin through nginx). An allowed Origin is copied to
 * echo (CORS) when echo is not NULL.
 */
static int conn_origin_ok(struct lws *wsi, const struct cfg *cfg, char *echo, size_t echolen)
{
	char origin[256], host[256];
	const char *o, *list = cfg->allowed_origins;
	size_t olen;

	if (echo)
		echo[0] = '\0';
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
			goto ok;
		if (!end)
			break;
		list = end + 1;
	}
	o = strstr(origin, "://");
	if (!o || lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0 ||
	    strcasecmp(o + 3, host) != 0)
		return 0;
ok:
	if (echo && olen < echolen)
		memcpy(echo, origin, olen + 1);
	return 1;
}

/*
 * The key the per-address limits count the client under (addr.h): nginx's
 * X-Real-IP, else the last X-Forwarded-For hop, believed from a loopback
 * or unix-socket peer only; an IPv6 client by its /64.
 */
static void conn_client_addr(struct lws *wsi, char *out, size_t outlen)
{
	char peer[64] = "", real_ip[64];
	char *xff = NULL;
	int rl = lws_hdr_copy(wsi, real_ip, sizeof(real_ip), WSI_TOKEN_HTTP_X_REAL_IP);
	int xl = lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR);

	if (!lws_get_peer_simple(wsi, peer, sizeof(peer)))
		peer[0] = '\0';
	/* A long X-Forwarded-For is read whole: its last hop is the client. */
	if (rl <= 0 && xl > 0) {
		xff = malloc((size_t)xl + 1);
		if (xff && lws_hdr_copy(wsi, xff, xl + 1, WSI_TOKEN_X_FORWARDED_FOR) < 0) {
			free(xff);
			xff = NULL;
		}
	}
	addr_client(peer, rl > 0 ? real_ip : NULL, xff, out, outlen);
	free(xff);
}

/* Reads the token a client may bring with the request: ?token= or the cookie. */
static void conn_request_token(struct lws *wsi, char *out)
{
	char buf[512], cookie[1024];
	const char *v, *tok;
	size_t toklen;

	out[0] = '\0';
	/* lws_get_urlarg_by_name() returns a pointer past "name=" in buf. */
	v = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
	if (v && tok_wellformed(v, strlen(v))) {
		memcpy(out, v, TOK_LEN + 1);
	} else if (lws_hdr_copy(wsi, cookie, sizeof(cookie), WSI_TOKEN_HTTP_COOKIE) > 0 &&
		   tok_from_cookie(cookie, &tok, &toklen) == TOK_FOUND) {
		memcpy(out, tok, toklen);
		out[toklen] = '\0';
	}
}

int conn_new_sid(const char *prefix, char *out, size_t outlen)
{
	unsigned char raw[15];
	size_t pl = strlen(prefix);

	if (outlen)
		out[0] = '\0';
	/* 15 random bytes are 20 characters of base64url. */
	if (pl + 21 > outlen)
		return -1;
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		log_err("cannot make a session id: no random bytes");
		return -1;
	}
	memcpy(out, prefix, pl);
	if (lws_b64_encode_string_url((const char *)raw, sizeof(raw), out + pl, (int)(outlen - pl)) <
	    0) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* Starts a session: the open packet is its first queued frame. */
static struct conn *conn_new(struct conn_set *cs, enum conn_transport t, struct lws *wsi)
{
	const struct cfg *cfg = cs->cfg;
	int64_t now = conn_now_ms();
	struct conn *c = calloc(1, sizeof(*c));
	struct frame *open;

	if (!c)
		return NULL;
	/* A guessable id would let anyone read and write the session. */
	if (conn_new_sid(cfg->ws_sid_prefix, c->sid, sizeof(c->sid))) {
		free(c);
		return NULL;
	}
	c->cs = cs;
	c->id = cs->next_id++;
	c->transport = t;
	snprintf(c->key, sizeof(c->key), "%llu", (unsigned long long)c->id);
	outq_init(&c->q, (unsigned)cfg->ws_queue_frames, (size_t)cfg->ws_queue_bytes);
	c->last_poll_ms = now;
	conn_request_token(wsi, c->token);
	conn_client_addr(wsi, c->addr, sizeof(c->addr));
	open = sio_open(c->sid, t == CONN_POLLING, cfg->ws_ping_interval, cfg->ws_ping_timeout,
			cfg->ws_max_payload);
	if (!open || outq_push(&c->q, open) ||
	    hmap_put(&cs->by_sid, c->sid, strlen(c->sid), c)) {
		frame_unref(open);
		outq_release(&c->q);
		free(c);
		return NULL;
	}
	frame_unref(open);
	c->next = cs->head;
	if (cs->head)
		cs->head->prev = c;
	cs->head = c;
	cs->count++;
	conn_addr_add(&cs->by_addr, c->addr, +1);
	c->unauth = 1;
	conn_addr_add(&cs->unauth_by_addr, c->addr, +1);
	cs->opened++;
	cs->ops.on_open(cs->ops.arg, c);
	return c;
}

/* Checks common to a WebSocket upgrade and a polling request; 0 when fine. */
static int conn_check_request(struct conn_set *cs, struct lws *wsi, const char *transport,
			      struct conn_wsi *w, int *status, const char **answer)
{
	/* lws_get_urlarg_by_name() copies each argument into buf while it looks:
	 * a small buf stops the search at the first long one (a token). */
	char uri[128], buf[512];
	const char *v;

	*status = 400;
	if ((lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 &&
	     lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_POST_URI) <= 0 &&
	     lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_OPTIONS_URI) <= 0) ||
	    strncmp(uri, "/socket.io/", 11) != 0) {
		*status = 404;
		*answer = "{\"code\":0,\"message\":\"Not found\"}";
		return -1;
	}
	v = lws_get_urlarg_by_name(wsi, "EIO=", buf, sizeof(buf));
	if (!v || strcmp(v, "4") != 0) {
		*answer = "{\"code\":5,\"message\":\"Unsupported protocol version\"}";
		return -1;
	}
	v = lws_get_urlarg_by_name(wsi, "transport=", buf, sizeof(buf));
	if (!v || strcmp(v, transport) != 0) {
		*answer = "{\"code\":0,\"message\":\"Transport unknown\"}";
		return -1;
	}
	if (!conn_origin_ok(wsi, cs->cfg, w->origin, sizeof(w->origin))) {
		*status = 403;
		*answer = "{\"code\":4,\"message\":\"Forbidden\"}";
		log_warn("refused a request: origin not allowed");
		return -1;
	}
	w->sid[0] = '\0';
	v = lws_get_urlarg_by_name(wsi, "sid=", buf, sizeof(buf));
	if (v)
		snprintf(w->sid, sizeof(w->sid), "%s", v);
	return 0;
}

/* Whether a new session from addr must be refused: shutting down, or a limit. */
static int conn_full(struct conn_set *cs, const char *addr)
{
	long per_addr = cs->cfg->ws_max_conn_per_addr, unauth = cs->cfg->ws_max_unauth_per_addr;

	if (cs->refusing) {
		log_info("refused a session: shutting down");
		return 1;
	}
	if (cs->count >= (unsigned)cs->cfg->ws_max_conn) {
		cs->refused++;
		log_warn("refused a session: %u sessions is the limit", cs->count);
		return 1;
	}
	if (per_addr > 0 && conn_addr_count(&cs->by_addr, addr) >= (uintptr_t)per_addr) {
		cs->refused++;
		log_warn("refused a session from '%s': %ld sessions is the limit per address", addr,
			 per_addr);
		return 1;
	}
	/* Opening a session takes no credentials: bound what one address holds
	 * before it authenticates, so it cannot fill CHAT_WS_MAX_CONN. */
	if (unauth > 0 && conn_addr_count(&cs->unauth_by_addr, addr) >= (uintptr_t)unauth) {
		cs->refused++;
		log_warn("refused a session from '%s': %ld unauthenticated sessions is the limit per address",
			 addr, unauth);
		return 1;
	}
	return 0;
}

static void conn_http_refuse(struct lws *wsi, const struct conn_wsi *w, unsigned status,
			     const char *answer);

/* The WebSocket handshake: a new session, or the upgrade of a polling one. */
static int conn_filter(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	int status;
	const char *answer;
	struct conn *c;

	if (conn_check_request(cs, wsi, "websocket", w, &status, &answer)) {
		conn_http_refuse(wsi, w, (unsigned)status, answer);
		return -1;
	}
	if (!w->sid[0]) {
		/* A refusal is an accepted upgrade closed at once with 1013 (try
		 * again later): a client sees why, instead of a dropped socket. */
		conn_client_addr(wsi, w->addr, sizeof(w->addr));
		w->kind = CW_WS;
		if (conn_full(cs, w->addr)) {
			w->kind = CW_REFUSED;
			w->status = 1013;
		}
		return 0;
	}
	c = hmap_get(&cs->by_sid, w->sid, strlen(w->sid));
	if (!c || c->transport != CONN_POLLING || c->probe || c->state == CONN_CLOSING) {
		conn_http_refuse(wsi, w, 400, "{\"code\":1,\"message\":\"Session ID unknown\"}");
		return -1;
	}
	w->kind = CW_PROBE;
	return 0;
}

static int conn_established(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	struct conn *c;

	if (w->kind == CW_REFUSED) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (w->kind == CW_PROBE) {
		c = hmap_get(&cs->by_sid, w->sid, strlen(w->sid));
		if (!c || c->transport != CONN_POLLING || c->probe)
			return -1;
		c->probe = wsi;
		w->c = c;
		return 0;
	}
	c = conn_new(cs, CONN_WEBSOCKET, wsi);
	if (!c) {
		/* No session id or no memory: closed with 1011, not dropped. */
		w->kind = CW_REFUSED;
		w->status = 1011;
		lws_callback_on_writable(wsi);
		return 0;
	}
	c->ws = wsi;
	w->c = c;
	lws_callback_on_writable(wsi);
	return 0;
}

/* A message on a probing WebSocket: "2probe", then "5" to switch. */
static int conn_probe_rx(struct conn *c, struct lws *wsi, struct conn_wsi *w, const char *in,
			 size_t len)
{
	if (len == 6 && memcmp(in, "2probe", 6) == 0) {
		c->probe_pong = 1;
		lws_callback_on_writable(wsi);
		/* Let the held GET return so the client can pause polling. */
		if (c->poll) {
			c->poll_noop = 1;
			lws_callback_on_writable(c->poll);
		}
		return 0;
	}
	if (len == 1 && in[0] == '5') {
		c->cs->upgrades++;
		c->transport = CONN_WEBSOCKET;
		c->ws = wsi;
		c->probe = NULL;
		w->kind = CW_WS;
		if (c->poll) {
			c->poll_noop = 1;
			lws_callback_on_writable(c->poll);
		}
		if (c->q.count || c->state == CONN_CLOSING)
			lws_callback_on_writable(wsi);
		return 0;
	}
	return -1;
}

/* ---- HTTP long-polling ------------------------------------------------------- */

/*
 * Writes one HTTP answer and finishes the transaction. Returns what the
 * lws callback must return.
 */
static int conn_http_reply(struct lws *wsi, const struct conn_wsi *w, unsigned status,
			   const char *type, const char *body, size_t len)
{
	unsigned char *buf = malloc(LWS_PRE + 1024 + len);
	unsigned char *start, *p, *end;
	int rc = -1;

	if (!buf)
		return -1;
	start = p = buf + LWS_PRE;
	end = start + 1024 - 1;
	if (lws_add_http_common_headers(wsi, status, type, len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end))
		goto out;
	if (w->origin[0] &&
	    (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-origin:",
					 (const unsigned char *)w->origin, (int)strlen(w->origin),
					 &p, end) ||
	     lws_add_http_header_by_name(
		     wsi, (const unsigned char *)"access-control-allow-credentials:",
		     (const unsigned char *)"true", 4, &p, end)))
		goto out;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		goto out;
	memcpy(start, body, len);
	if (lws_write(wsi, start, len, LWS_WRITE_HTTP_FINAL) < 0)
		goto out;
	rc = lws_http_transaction_completed(wsi) ? -1 : 0;
out:
	free(buf);
	return rc;
}

/*
 * Answers a refused WebSocket upgrade with an HTTP status and an Engine.IO
 * error body before lws drops the connection: the client sees why, and a
 * proxy sees an answer, not a failed upstream it would stop using.
 */
static void conn_http_refuse(struct lws *wsi, const struct conn_wsi *w, unsigned status,
			     const char *answer)
{
	if (conn_http_reply(wsi, w, status, "application/json", answer, strlen(answer)) < 0)
		log_debug("cannot answer a refused upgrade");
}

/* Owes an answer on this request; it is written when the socket is writable. */
static int conn_http_owe(struct lws *wsi, struct conn_wsi *w, int status, const char *answer)
{
	w->status = status;
	w->answer = answer;
	lws_callback_on_writable(wsi);
	return 0;
}

static int conn_http(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	const struct cfg *cfg = cs->cfg;
	const char *answer = NULL;
	int status;
	struct conn *c;

	{
		char uri[32];

		/* The metrics page; nginx exposes it to loopback only. */
		if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0 &&
		    strcmp(uri, "/metrics") == 0 && cs->ops.metrics) {
			size_t mlen = 0;

			w->dyn_answer = cs->ops.metrics(cs->ops.arg, &mlen);
			return conn_http_owe(wsi, w, w->dyn_answer ? 200 : 500, NULL);
		}
	}
	if (conn_check_request(cs, wsi, "polling", w, &status, &answer))
		return conn_http_owe(wsi, w, status, answer);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0)
		return conn_http_owe(wsi, w, 204, "");
	if (!w->sid[0]) {
		if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
			return conn_http_owe(wsi, w, 400,
					     "{\"code\":1,\"message\":\"Session ID unknown\"}");
		conn_client_addr(wsi, w->addr, sizeof(w->addr));
		if (conn_full(cs, w->addr))
			return conn_http_owe(wsi, w, 503,
					     "{\"code\":0,\"message\":\"Server full\"}");
		c = conn_new(cs, CONN_POLLING, wsi);
		if (!c)
			return conn_http_owe(wsi, w, 500,
					     "{\"code\":0,\"message\":\"Internal error\"}");
	} else {
		c = hmap_get(&cs->by_sid, w->sid, strlen(w->sid));
		if (!c || c->transport != CONN_POLLING)
			return conn_http_owe(wsi, w, 400,
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
		return conn_http_owe(wsi, w, 400, "{\"code\":3,\"message\":\"Bad request\"}");
	}
	w->kind = CW_GET;
	c->poll = wsi;
	/* Held until there is data; the ping interval bounds the wait. */
	lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT,
			(int)((cfg->ws_ping_interval + cfg->ws_ping_timeout) / 1000 + 5));
	if (c->q.count || c->poll_noop || c->probe)
		lws_callback_on_writable(wsi);
	return 0;
}

static int conn_http_body(struct conn_set *cs, struct conn_wsi *w, const char *in, size_t len)
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
static int conn_http_body_parse(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	struct conn *c = w->sid[0] ? hmap_get(&cs->by_sid, w->sid, strlen(w->sid)) : NULL;
	size_t i, start;

	if (w->status && w->status != 413)
		return 0; /* the request was refused before its body: that answer stands */
	if (w->kind != CW_POST)
		return conn_http_owe(wsi, w, 400, "{\"code\":3,\"message\":\"Bad request\"}");
	if (w->status == 413) {
		if (c)
			conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "payload too large");
		return conn_http_owe(wsi, w, 413, "{\"code\":3,\"message\":\"Payload too large\"}");
	}
	if (!c || c->transport != CONN_POLLING)
		return conn_http_owe(wsi, w, 400, "{\"code\":1,\"message\":\"Session ID unknown\"}");
	for (i = 0, start = 0; i <= w->body_len; i++) {
		struct sio_packet p;

		if (i < w->body_len && w->body[i] != CONN_RS)
			continue;
		if (!w->body || sio_parse(w->body + start, i - start, &p)) {
			conn_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "malformed packet");
			return conn_http_owe(wsi, w, 400,
					     "{\"code\":3,\"message\":\"Bad request\"}");
		}
		start = i + 1;
	}
	for (i = 0, start = 0; i <= w->body_len && c->state != CONN_CLOSING; i++) {
		if (i < w->body_len && w->body[i] != CONN_RS)
			continue;
		cs->ops.on_message(cs->ops.arg, c, w->body + start, i - start);
		start = i + 1;
	}
	return conn_http_owe(wsi, w, 200, "ok");
}

/* The body is read: answer it, then let it go (the next request on a
 * kept-alive connection starts clean). */
static int conn_http_body_done(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	int rc = conn_http_body_parse(cs, w, wsi);

	free(w->body);
	w->body = NULL;
	w->body_len = 0;
	return rc;
}

/* Answers the held GET: queued packets joined by the separator, or a noop. */
static int conn_poll_writeable(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	struct conn *c = w->c;
	size_t max = (size_t)cs->cfg->ws_max_payload, len = 0;
	struct frame *f;
	char *body;
	int rc;

	if (!c)
		return conn_http_reply(wsi, w, 400, "application/json",
				       "{\"code\":1,\"message\":\"Session ID unknown\"}", 41);
	if (c->transport == CONN_WEBSOCKET || c->poll_noop || !c->q.count) {
		/* Nothing yet: keep holding, unless an upgrade is under way (the
		 * client waits for this poll to end before it switches). */
		if (c->transport == CONN_POLLING && !c->poll_noop && !c->q.count && !c->probe)
			return 0;
		c->poll_noop = 0;
		c->poll = NULL;
		w->c = NULL;
		return conn_http_reply(wsi, w, 200, "text/plain; charset=UTF-8", "6", 1);
	}
	body = malloc(max + 1);
	if (!body)
		return -1;
	/* At least one packet, then as many as fit the announced maxPayload. */
	while ((f = outq_peek(&c->q)) && (len == 0 || len + 1 + f->len <= max)) {
		if (len)
			body[len++] = CONN_RS;
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
	rc = conn_http_reply(wsi, w, 200, "text/plain; charset=UTF-8", body, len);
	free(body);
	if (c->state == CONN_CLOSING && !c->q.count)
		conn_end(c);
	return rc;
}

/* Lets go of what one HTTP request held: its session link, body and answer. */
static void conn_wsi_reset(struct conn_wsi *w, struct lws *wsi)
{
	if (!w)
		return;
	if (w->c && w->c->poll == wsi)
		w->c->poll = NULL;
	free(w->body);
	free(w->dyn_answer);
	memset(w, 0, sizeof(*w));
}

int conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	struct conn_set *cs = conn_set_of(wsi);
	struct conn_wsi *w = user;
	struct conn *c = w ? w->c : NULL;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return w && conn_filter(cs, w, wsi) == 0 ? 0 : 1;
	case LWS_CALLBACK_ESTABLISHED:
		return conn_established(cs, w, wsi);
	case LWS_CALLBACK_RECEIVE:
		if (w && w->kind == CW_REFUSED)
			return 0;
		if (!c)
			return -1;
		if (w->kind == CW_PROBE)
			return conn_probe_rx(c, wsi, w, in, len);
		return conn_receive(cs, c, wsi, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (w && w->kind == CW_REFUSED) {
			const char *why = w->status == 1013 ? "server full, try again later"
							    : "internal error";

			lws_close_reason(wsi, (enum lws_close_status)w->status, (unsigned char *)why,
					 strlen(why));
			return -1;
		}
		if (!c)
			return -1;
		if (wsi == c->probe) {
			if (c->probe_pong) {
				static char pong[LWS_PRE + 6];

				c->probe_pong = 0;
				memcpy(pong + LWS_PRE, "3probe", 6);
				if (lws_write(wsi, (unsigned char *)pong + LWS_PRE, 6, LWS_WRITE_TEXT) < 0)
					return -1;
			}
			return 0;
		}
		return wsi == c->ws ? conn_ws_writeable(c) : 0;
	case LWS_CALLBACK_CLOSED:
		if (!c)
			return 0;
		w->c = NULL;
		if (wsi == c->probe) {
			c->probe = NULL;
			return 0;
		}
		if (wsi == c->ws) {
			c->ws = NULL;
			conn_end(c);
		}
		return 0;
	case LWS_CALLBACK_HTTP:
		/* lws may keep the user data of a kept-alive connection from the
		 * request before: this one starts clean. */
		conn_wsi_reset(w, wsi);
		return conn_http(cs, w, wsi);
	case LWS_CALLBACK_HTTP_BODY:
		return conn_http_body(cs, w, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return conn_http_body_done(cs, w, wsi);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (w->status) {
			int status = w->status, rc;

			w->status = 0;
			if (w->dyn_answer) {
				rc = conn_http_reply(wsi, w, (unsigned)status,
						     "text/plain; version=0.0.4", w->dyn_answer,
						     strlen(w->dyn_answer));
				free(w->dyn_answer);
				w->dyn_answer = NULL;
				return rc;
			}
			return conn_http_reply(wsi, w, (unsigned)status,
					       status == 200 ? "text/html" : "application/json",
					       w->answer ? w->answer : "", w->answer ? strlen(w->answer) : 0);
		}
		if (w->kind == CW_GET)
			return conn_poll_writeable(cs, w, wsi);
		return 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		/* The connection ends, or lws frees its user data before the next
		 * request of a kept-alive connection. */
		conn_wsi_reset(w, wsi);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

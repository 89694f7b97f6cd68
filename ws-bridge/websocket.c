/* websocket.c -- the WebSocket transport: handshake, reassembly, batched output, upgrade probe. */
#include "websocket.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "frame.h"
#include "log.h"
#include "wsring.h"

/*
 * Queued frames of one session go out together, up to CONN_BATCH_MAX bytes
 * per send (websocket.h). Single-threaded, so one buffer serves every
 * session; lws_write either sends it all or keeps the rest before it
 * returns.
 */
static unsigned char conn_batch[LWS_PRE + CONN_BATCH_MAX];

/* Frames written per call: one session cannot hold the loop for long. */
#define CONN_WRITE_BUDGET 64

static void websocket_count_out(struct conn *c, const struct frame *f)
{
	c->cs->frames_out++;
	c->cs->bytes_out += f->len;
}

/*
 * Writes the frames at the head of the queue that fit in the batch buffer,
 * at most *budget of them, as one send. Returns 0 or -1.
 */
static int websocket_write_batch(struct conn *c, int *budget)
{
	unsigned char *out = conn_batch + LWS_PRE;
	size_t used = 0;
	struct frame *f;

	while (*budget > 0 && (f = outq_peek(&c->q)) &&
	       used + WS_HEADER_MAX + f->len <= CONN_BATCH_MAX) {
		used += ws_text_header(out + used, f->len);
		memcpy(out + used, frame_payload(f), f->len);
		used += f->len;
		websocket_count_out(c, f);
		outq_pop(&c->q);
		--*budget;
	}
	return lws_write(c->ws, out, used, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

/*
 * Writes queued frames, a batch per send, until the queue is empty, the
 * budget is spent or a send was short (lws keeps its rest and asks for a
 * writable callback itself). Whatever stays queued waits for one. No
 * lws_send_pipe_choked(): it costs a poll() per send, and a short send
 * says the same. Returns -1 on a write error.
 */
static int websocket_send_queue(struct conn *c)
{
	struct frame *f;
	int budget = CONN_WRITE_BUDGET;

	while (budget > 0 && (f = outq_peek(&c->q))) {
		c->cs->ws_sends++;
		if (c->q.count == 1 || f->len + WS_HEADER_MAX > CONN_BATCH_MAX) {
			/* Alone or too big to batch: lws frames it in place. */
			if (lws_write(c->ws, (unsigned char *)frame_payload(f), f->len,
				      LWS_WRITE_TEXT) < 0)
				return -1;
			websocket_count_out(c, f);
			outq_pop(&c->q);
			budget--;
		} else if (websocket_write_batch(c, &budget)) {
			return -1;
		}
		if (lws_partial_buffered(c->ws)) {
			c->cs->ws_send_waits++;
			return 0;
		}
	}
	if (c->q.count)
		lws_callback_on_writable(c->ws);
	return 0;
}

/* Writes queued frames to the session's WebSocket. Returns -1 to close it. */
static int websocket_write_queue(struct conn *c)
{
	if (websocket_send_queue(c))
		return -1;
	if (c->q.count || lws_partial_buffered(c->ws))
		return 0;
	if (c->state == CONN_CLOSING) {
		lws_close_reason(c->ws, (enum lws_close_status)c->close_code,
				 (unsigned char *)c->close_reason, strlen(c->close_reason));
		return -1;
	}
	return 0;
}

/*
 * Whether the flush may write the session now. A closing session is
 * flushed and closed by its writable callback (conn_close() asked for it);
 * lws holding the rest of a send has asked for one too, and what is queued
 * must wait behind that rest.
 */
static int websocket_flushable(struct conn *c)
{
	return c->transport == CONN_WEBSOCKET && c->ws && c->state != CONN_CLOSING &&
		!lws_partial_buffered(c->ws);
}

/* The socket is broken: lws closes it, and the session ends with it (websocket_closed()). */
static void websocket_broken(struct conn *c)
{
	c->state = CONN_CLOSING;
	lws_set_timeout(c->ws, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

void websocket_flush(struct conn *c)
{
	if (websocket_flushable(c) && websocket_send_queue(c))
		websocket_broken(c);
}

/*
 * The ring's sends of one flush (wsring.h): each session's frames from the
 * head of its queue, as many as the plain path would put in one send (at
 * most CONN_WRITE_BUDGET frames, CONN_BATCH_MAX bytes), each with its
 * header written into the frame's own headroom (the same bytes for every
 * recipient of a shared frame) and given to the kernel in place: no copy.
 * The frames stay queued until the send's result is known.
 */
_Static_assert(LWS_PRE >= WS_HEADER_MAX, "a frame's headroom holds its header");

static struct ring_slot {
	struct conn *c;
	unsigned frames;
	struct iovec iov[CONN_WRITE_BUDGET];
} ring_slots[WSRING_MAX];
static struct wsring_send ring_sends[WSRING_MAX];
static unsigned ring_used;

unsigned websocket_ring_add(struct conn *c)
{
	struct ring_slot *s = &ring_slots[ring_used];
	struct frame *f;
	size_t used = 0;
	unsigned k = 0;
	int fd;

	if (ring_used >= WSRING_MAX || !websocket_flushable(c) || !(f = outq_peek(&c->q)))
		return ring_used;
	fd = lws_get_socket_fd(c->ws);
	if (fd < 0 || f->len + WS_HEADER_MAX > CONN_BATCH_MAX) {
		/* Too big to batch: lws frames it and keeps its rest. */
		websocket_flush(c);
		return ring_used;
	}
	while (k < CONN_WRITE_BUDGET && (f = outq_at(&c->q, k)) &&
	       used + WS_HEADER_MAX + f->len <= CONN_BATCH_MAX) {
		unsigned char hdr[WS_HEADER_MAX];
		size_t h = ws_text_header(hdr, f->len);
		unsigned char *p = (unsigned char *)frame_payload(f) - h;

		memcpy(p, hdr, h);
		s->iov[k].iov_base = p;
		s->iov[k].iov_len = h + f->len;
		used += h + f->len;
		k++;
	}
	s->c = c;
	s->frames = k;
	ring_sends[ring_used].fd = fd;
	ring_sends[ring_used].iov = s->iov;
	ring_sends[ring_used].iovcnt = (int)k;
	return ++ring_used;
}

/*
 * One session's send is done: the frames it took leave the queue; a short
 * send's rest goes to lws (copied), which sends it before anything else
 * and asks for a writable callback for what is left; a socket with no room
 * waits for that callback with everything still queued.
 */
static void websocket_ring_done(struct ring_slot *s, ssize_t res)
{
	struct conn *c = s->c;
	struct conn_set *cs = c->cs;
	unsigned char *out = conn_batch + LWS_PRE;
	size_t off, rest = 0;

	cs->ws_sends++;
	cs->ws_ring_sends++;
	if (res == 0 || res == -EAGAIN || res == -EWOULDBLOCK) {
		cs->ws_send_waits++;
		lws_callback_on_writable(c->ws);
		return;
	}
	if (res < 0) {
		websocket_broken(c);
		return;
	}
	off = (size_t)res;
	for (unsigned k = 0; k < s->frames; k++) {
		const struct iovec *v = &s->iov[k];

		if (off >= v->iov_len) {
			off -= v->iov_len;
		} else {
			/* Read before the pop: it may free the frame. */
			memcpy(out + rest, (const unsigned char *)v->iov_base + off,
			       v->iov_len - off);
			rest += v->iov_len - off;
			off = 0;
		}
		websocket_count_out(c, outq_peek(&c->q));
		outq_pop(&c->q);
	}
	if (rest) {
		cs->ws_send_waits++;
		if (lws_write(c->ws, out, rest, LWS_WRITE_RAW) < 0)
			websocket_broken(c);
		return;
	}
	if (c->q.count)
		lws_callback_on_writable(c->ws);
}

void websocket_ring_go(struct conn_set *cs)
{
	unsigned n = ring_used;

	if (!n || !cs->ring)
		return;
	ring_used = 0;
	cs->ws_ring_submits++;
	if (wsring_send(cs->ring, ring_sends, n)) {
		/* What it did not send is reported as not sent (-EAGAIN). */
		log_warn(
			"io_uring failed: each WebSocket send is a system call of its own from now on");
		wsring_close(cs->ring);
		cs->ring = NULL;
	}
	for (unsigned i = 0; i < n; i++)
		websocket_ring_done(&ring_slots[i], ring_sends[i].res);
}

/* Appends a fragment; delivers the message when complete. */
static int websocket_rx(struct conn_set *cs, struct conn *c, struct lws *wsi, const char *in,
			size_t len)
{
	size_t max = (size_t)cs->cfg->ws_max_payload;
	int final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

	if (c->state == CONN_CLOSING)
		return 0;
	if (lws_frame_is_binary(wsi)) {
		conn_close(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
			   "binary frames are not supported");
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

int websocket_filter(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
{
	int status;
	const char *answer;
	struct conn *c;

	if (req_check(cs->cfg, wsi, "websocket", w, &status, &answer)) {
		req_refuse(wsi, w, (unsigned)status, answer);
		return -1;
	}
	if (!w->sid[0]) {
		/* A refusal is an accepted upgrade closed at once with 1013 (try
		 * again later): a client sees why, instead of a dropped socket. */
		req_client_addr(wsi, w->addr, sizeof(w->addr));
		w->kind = CW_WS;
		if (conn_full(cs, w->addr)) {
			w->kind = CW_REFUSED;
			w->status = 1013;
		}
		return 0;
	}
	c = hmap_get(&cs->by_sid, w->sid, strlen(w->sid));
	if (!c || c->transport != CONN_POLLING || c->probe || c->state == CONN_CLOSING) {
		req_refuse(wsi, w, 400, "{\"code\":1,\"message\":\"Session ID unknown\"}");
		return -1;
	}
	w->kind = CW_PROBE;
	return 0;
}

int websocket_established(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi)
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
	c = conn_open(cs, CONN_WEBSOCKET, wsi, w->addr);
	if (!c) {
		/* No session id or no memory: closed with 1011, not dropped. */
		w->kind = CW_REFUSED;
		w->status = 1011;
		lws_callback_on_writable(wsi);
		return 0;
	}
	c->ws = wsi;
	w->c = c;
	/* The open packet goes out with the flush before the loop sleeps, as
	 * any frame (conn.h): no writable-interest round trip per connect. */
	conn_wake(c);
	return 0;
}

/* A message on a probing WebSocket: "2probe", then "5" to switch. */
static int websocket_probe_rx(struct conn *c, struct lws *wsi, struct conn_wsi *w, const char *in,
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

int websocket_receive(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi, const char *in,
		      size_t len)
{
	struct conn *c = w ? w->c : NULL;

	if (w && w->kind == CW_REFUSED)
		return 0;
	if (!c)
		return -1;
	if (w->kind == CW_PROBE)
		return websocket_probe_rx(c, wsi, w, in, len);
	return websocket_rx(cs, c, wsi, in, len);
}

/* Answers "2probe" on the probing WebSocket. */
static int websocket_probe_writeable(struct conn *c, struct lws *wsi)
{
	static char pong[LWS_PRE + 6];

	if (!c->probe_pong)
		return 0;
	c->probe_pong = 0;
	memcpy(pong + LWS_PRE, "3probe", 6);
	return lws_write(wsi, (unsigned char *)pong + LWS_PRE, 6, LWS_WRITE_TEXT) < 0 ? -1 : 0;
}

int websocket_writeable(struct conn_wsi *w, struct lws *wsi)
{
	struct conn *c = w ? w->c : NULL;

	if (w && w->kind == CW_REFUSED) {
		const char *why =
			w->status == 1013 ? "server full, try again later" : "internal error";

		lws_close_reason(wsi, (enum lws_close_status)w->status, (unsigned char *)why,
				 strlen(why));
		return -1;
	}
	if (!c)
		return -1;
	if (wsi == c->probe)
		return websocket_probe_writeable(c, wsi);
	return wsi == c->ws ? websocket_write_queue(c) : 0;
}

void websocket_closed(struct conn_wsi *w, struct lws *wsi)
{
	struct conn *c = w ? w->c : NULL;

	if (!c)
		return;
	w->c = NULL;
	if (wsi == c->probe) {
		c->probe = NULL;
		return;
	}
	if (wsi == c->ws) {
		c->ws = NULL;
		conn_end(c);
	}
}

/* conn.c -- the set of Engine.IO sessions: their limits, bounded output, close and end. */
#include "conn.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "request.h"
#include "websocket.h"
#include "wsring.h"

/* Seconds lws waits for a closing client to take its close frame. */
#define CONN_CLOSE_WAIT_S 3

int64_t conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void conn_setup(struct conn_set *cs, const struct cfg *cfg, const struct conn_ops *ops)
{
	memset(cs, 0, sizeof(*cs));
	cs->cfg = cfg;
	cs->ops = *ops;
	cs->next_id = 1;
	hmap_init(&cs->by_sid);
	hmap_init(&cs->by_addr);
	hmap_init(&cs->unauth_by_addr);
	if (cfg->ws_io_uring) {
		cs->ring = wsring_open();
		if (!cs->ring)
			log_warn(
				"no io_uring (%s): each WebSocket send is a system call of its own",
				strerror(errno));
	}
}

void conn_teardown(struct conn_set *cs)
{
	hmap_release(&cs->by_sid);
	hmap_release(&cs->by_addr);
	hmap_release(&cs->unauth_by_addr);
	wsring_close(cs->ring);
	cs->ring = NULL;
}

/* Sessions of one client address in a count map (by_addr, unauth_by_addr). */
static uintptr_t conn_addr_count(const struct hmap *m, const char *addr)
{
	return (uintptr_t)hmap_get(m, addr, strlen(addr));
}

/* Adds delta to the address's count; the entry goes at zero. */
static void conn_addr_add(struct hmap *m, const char *addr, int delta)
{
	uintptr_t old = conn_addr_count(m, addr), n = old + (uintptr_t)(intptr_t)delta;

	/* A +1 that found no memory was never counted: its -1 takes nothing. */
	if (delta < 0 && old == 0)
		return;
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

/* Asks for a writable callback on whatever carries the session now. */
static void conn_kick(struct conn *c)
{
	if (c->transport == CONN_WEBSOCKET && c->ws)
		lws_callback_on_writable(c->ws);
	else if (c->transport == CONN_POLLING && c->poll)
		lws_callback_on_writable(c->poll);
}

/* Puts the session on the flush list (once). */
static void conn_flush_add(struct conn *c)
{
	struct conn_set *cs = c->cs;

	if (c->flush_listed)
		return;
	c->flush_listed = 1;
	c->flush_prev = NULL;
	c->flush_next = cs->flush_head;
	if (cs->flush_head)
		cs->flush_head->flush_prev = c;
	cs->flush_head = c;
}

static void conn_flush_del(struct conn *c)
{
	struct conn_set *cs = c->cs;

	if (!c->flush_listed)
		return;
	c->flush_listed = 0;
	if (c->flush_prev)
		c->flush_prev->flush_next = c->flush_next;
	else
		cs->flush_head = c->flush_next;
	if (c->flush_next)
		c->flush_next->flush_prev = c->flush_prev;
	c->flush_prev = c->flush_next = NULL;
}

/* The list holding c: a slot of the wheel, or (CONN_WHEEL) the one being swept. */
static struct conn **conn_due_list(struct conn_set *cs, int slot)
{
	return slot == CONN_WHEEL ? &cs->sweeping : &cs->wheel[slot];
}

static void conn_due_del(struct conn *c)
{
	if (c->due_slot < 0)
		return;
	if (c->due_prev)
		c->due_prev->due_next = c->due_next;
	else
		*conn_due_list(c->cs, c->due_slot) = c->due_next;
	if (c->due_next)
		c->due_next->due_prev = c->due_prev;
	c->due_prev = c->due_next = NULL;
	c->due_slot = -1;
}

static void conn_due_add(struct conn *c, int slot)
{
	struct conn **head = conn_due_list(c->cs, slot);

	c->due_slot = slot;
	c->due_prev = NULL;
	c->due_next = *head;
	if (c->due_next)
		c->due_next->due_prev = c;
	*head = c;
}

void conn_due(struct conn *c, int64_t at_ms, int64_t now_ms)
{
	int64_t now_s = now_ms / 1000, at_s = at_ms / 1000;

	/* Not before the next second, and within the wheel's lap. */
	if (at_s <= now_s)
		at_s = now_s + 1;
	else if (at_s > now_s + CONN_WHEEL - 1)
		at_s = now_s + CONN_WHEEL - 1;
	conn_due_del(c);
	conn_due_add(c, (int)(at_s % CONN_WHEEL));
}

void conn_due_each(struct conn_set *cs, int64_t now_ms, void (*fn)(void *arg, struct conn *c),
		   void *arg)
{
	int64_t now_s = now_ms / 1000, s = cs->wheel_s;

	if (s <= 0 || s < now_s - CONN_WHEEL)
		s = now_s - CONN_WHEEL;
	for (s++; s <= now_s; s++) {
		int slot = (int)(s % CONN_WHEEL);
		struct conn *c;

		/* The slot's sessions move to a list of their own first: fn may put
		 * one back in this very slot (a second a lap ahead, when a late
		 * sweep catches up), which must wait for the next lap. */
		while ((c = cs->wheel[slot])) {
			conn_due_del(c);
			conn_due_add(c, CONN_WHEEL);
		}
		while ((c = cs->sweeping)) {
			conn_due_del(c);
			fn(arg, c);
		}
	}
	if (now_s > cs->wheel_s)
		cs->wheel_s = now_s;
}

void conn_flush(struct conn_set *cs)
{
	struct conn *c;

	if (cs->ring) {
		while ((c = cs->flush_head)) {
			conn_flush_del(c);
			if (!cs->ring)
				websocket_flush(c);
			else if (websocket_ring_add(c) == WSRING_MAX)
				websocket_ring_go(cs);
		}
		websocket_ring_go(cs);
		return;
	}
	/* Each session leaves the list before it is written, and a write
	 * queues nothing: the loop ends after at most one pass. */
	while ((c = cs->flush_head)) {
		conn_flush_del(c);
		websocket_flush(c);
	}
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

void conn_end(struct conn *c)
{
	struct conn_set *cs = c->cs;

	cs->ops.on_close(cs->ops.arg, c);
	conn_flush_del(c);
	conn_due_del(c);
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

void conn_wake(struct conn *c)
{
	if (c->transport == CONN_WEBSOCKET && c->ws)
		conn_flush_add(c);
	else
		conn_kick(c);
}

int conn_send(struct conn *c, struct frame *f)
{
	int was_empty = c->q.count == 0;

	if (c->state == CONN_CLOSING)
		return -1;
	if (outq_push(&c->q, f)) {
		const struct conn_ops *ops = &c->cs->ops;

		log_warn("closing session %s of user '%s': output queue full (%u frames)", c->key,
			 ops->who ? ops->who(ops->arg, c) : "", c->q.count);
		c->cs->slow_closed++;
		outq_release(&c->q);
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too slow: output queue full");
		return -1;
	}
	if (!was_empty)
		return 0; /* already listed, or a writable callback is due */
	conn_wake(c);
	return 0;
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
	if (lws_b64_encode_string_url((const char *)raw, sizeof(raw), out + pl,
				      (int)(outlen - pl)) < 0) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

struct conn *conn_open(struct conn_set *cs, enum conn_transport t, struct lws *wsi,
		       const char *addr)
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
	c->due_slot = -1;
	c->id = cs->next_id++;
	c->transport = t;
	snprintf(c->key, sizeof(c->key), "%llu", (unsigned long long)c->id);
	outq_init(&c->q, (unsigned)cfg->ws_queue_frames, (size_t)cfg->ws_queue_bytes);
	c->last_poll_ms = now;
	req_token(wsi, c->token);
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	open = cs->ops.open_packet(cs->ops.arg, c);
	if (!open || outq_push(&c->q, open) || hmap_put(&cs->by_sid, c->sid, strlen(c->sid), c)) {
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
	conn_due(c, now, now);
	cs->ops.on_open(cs->ops.arg, c);
	return c;
}

int conn_full(struct conn_set *cs, const char *addr)
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
		log_warn(
			"refused a session from '%s': %ld unauthenticated sessions is the limit per address",
			addr, unauth);
		return 1;
	}
	return 0;
}

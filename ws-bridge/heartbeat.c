/* heartbeat.c -- the Engine.IO heartbeat: open packet timing, pings, deadlines, polling expiry. */
#include "heartbeat.h"

#include "log.h"
#include "sio.h"

int heartbeat_init(struct heartbeat *h)
{
	h->ping = frame_from("2", 1);
	return h->ping ? 0 : -1;
}

void heartbeat_release(struct heartbeat *h)
{
	frame_unref(h->ping);
	h->ping = NULL;
}

struct frame *heartbeat_open_packet(const struct cfg *cfg, const struct conn *c)
{
	return sio_open(c->sid, c->transport == CONN_POLLING, cfg->ws_ping_interval,
			cfg->ws_ping_timeout, cfg->ws_max_payload);
}

int heartbeat_poll_hold_s(const struct cfg *cfg)
{
	return (int)((cfg->ws_ping_interval + cfg->ws_ping_timeout) / 1000 + 5);
}

void heartbeat_start(const struct cfg *cfg, struct heartbeat_timer *t, int64_t now)
{
	t->next_ping_ms = now + cfg->ws_ping_interval;
	t->pong_deadline_ms = 0;
	t->auth_deadline_ms = now + cfg->ws_auth_timeout;
}

void heartbeat_pong(struct heartbeat_timer *t)
{
	t->pong_deadline_ms = 0;
}

int64_t heartbeat_due(const struct heartbeat_timer *t, int authing)
{
	int64_t due = t->next_ping_ms;

	if (t->pong_deadline_ms && t->pong_deadline_ms < due)
		due = t->pong_deadline_ms;
	if (authing && t->auth_deadline_ms < due)
		due = t->auth_deadline_ms;
	return due;
}

int heartbeat_sweep(const struct heartbeat *h, const struct cfg *cfg, struct conn *c,
		    struct heartbeat_timer *t, int64_t now)
{
	if ((c->state == CONN_OPEN || c->state == CONN_AUTHING) && now > t->auth_deadline_ms) {
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "no Socket.IO CONNECT in time");
		return 1;
	}
	if (t->pong_deadline_ms && now > t->pong_deadline_ms) {
		log_info("connection %s: ping timeout", c->key);
		conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "ping timeout");
		return 1;
	}
	if (now >= t->next_ping_ms) {
		t->next_ping_ms = now + cfg->ws_ping_interval;
		if (!t->pong_deadline_ms)
			t->pong_deadline_ms = now + cfg->ws_ping_timeout;
		conn_send(c, h->ping);
	}
	return 0;
}

int heartbeat_expire(const struct cfg *cfg, struct conn *c, int64_t now)
{
	if (c->transport != CONN_POLLING || c->poll)
		return 0;
	if (c->state == CONN_CLOSING
		    ? now - c->last_poll_ms > cfg->ws_ping_timeout
		    : now - c->last_poll_ms > cfg->ws_ping_interval + cfg->ws_ping_timeout) {
		log_info("polling session %s expired", c->key);
		conn_end(c);
		return 1;
	}
	return 0;
}

/* heartbeat.h -- the Engine.IO heartbeat: open packet timing, pings, deadlines, polling expiry.
 *
 * Every timing decision about a session is made here; the connection
 * layer only carries them out (conn_send, conn_close, conn_end), and asks
 * for the open packet through conn_ops.open_packet. */
#ifndef CHAT_HEARTBEAT_H
#define CHAT_HEARTBEAT_H

#include <stdint.h>

#include "cfg.h"
#include "conn.h"
#include "frame.h"

/* Process-wide: the shared ping frame. */
struct heartbeat {
	struct frame *ping; /* "2" */
};

/* One session's deadlines, kept by the session layer (struct session). */
struct heartbeat_timer {
	int64_t next_ping_ms;
	int64_t pong_deadline_ms; /* 0 when no ping is outstanding */
	int64_t auth_deadline_ms; /* until CONNECT must succeed */
};

/* Returns 0, or -1 when out of memory. */
int heartbeat_init(struct heartbeat *h) __attribute__((warn_unused_result));

void heartbeat_release(struct heartbeat *h);

/*
 * The Engine.IO open packet of c (conn_ops.open_packet): its sid, the
 * upgrade a polling session may make, pingInterval, pingTimeout and
 * maxPayload. NULL when out of memory.
 */
struct frame *heartbeat_open_packet(const struct cfg *cfg, const struct conn *c);

/*
 * How long a polling GET may be held waiting for data, in seconds: a ping
 * interval and its timeout, plus 5 s, so a held GET always outlives the
 * next ping.
 */
int heartbeat_poll_hold_s(const struct cfg *cfg);

/* A session began at now: the first ping is a ping interval away, and its
 * CONNECT is due within CHAT_WS_AUTH_TIMEOUT. */
void heartbeat_start(const struct cfg *cfg, struct heartbeat_timer *t, int64_t now);

/* The client answered a ping. */
void heartbeat_pong(struct heartbeat_timer *t);

/*
 * When heartbeat_sweep() has something to do next: the next ping, the pong's
 * deadline, and with authing (no CONNECT answered yet) the auth deadline.
 */
int64_t heartbeat_due(const struct heartbeat_timer *t, int authing);

/*
 * The sweep, for one open connection: the auth deadline, the ping timeout
 * and the next ping. Returns 1 when it closed c (nothing else is due for
 * it), 0 otherwise.
 */
int heartbeat_sweep(const struct heartbeat *h, const struct cfg *cfg, struct conn *c,
		    struct heartbeat_timer *t, int64_t now);

/*
 * The sweep, for any connection: a polling session whose client stopped
 * asking (no request for a ping interval plus timeout, or for a ping
 * timeout once closing) is ended at once. Returns 1 when c was ended (it
 * is freed).
 */
int heartbeat_expire(const struct cfg *cfg, struct conn *c, int64_t now);

#endif

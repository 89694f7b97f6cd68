/* presence.h -- this bridge's presence rows: open, close after a grace period, retry, heartbeat. */
#ifndef CHAT_PRESENCE_H
#define CHAT_PRESENCE_H

#include <libwebsockets.h>
#include <stdint.h>

#include "conn.h"

struct bridge;
struct grace;

/* The presence layer's state in the bridge. */
struct presence {
	/* Closed connections whose rows go after CHAT_WS_GRACE_MS. */
	struct grace *grace_head, *grace_tail;
	/* Presence rows whose close failed (database down): tried again. */
	struct grace *reclose_head, *reclose_tail;
	unsigned reclose_n;
	lws_sorted_usec_list_t beat_sul;
	long beats; /* heartbeats since the last housekeeping */
};

/* Starts the heartbeat of this bridge's row (every third of CHAT_PRESENCE_TTL). */
void presence_start(struct bridge *b);

/* Closes the presence row of connection key now (or keeps it to retry). */
void presence_close_now(struct bridge *b, const char *key);

/*
 * A READY connection closed: its presence row closes after the grace
 * period (CHAT_WS_GRACE_MS), at once without one. Nothing while stopping.
 */
void presence_conn_closed(struct bridge *b, struct conn *c);

/* The sweep: closes the rows whose grace ended, and retries failed closes. */
void presence_sweep(struct bridge *b, int64_t now_ms);

/*
 * The query connection is (again) up. At first (reconnected 0) the rows a
 * predecessor under the same CHAT_BRIDGE_ID left go; then a heartbeat.
 */
void presence_on_query_ready(struct bridge *b, int reconnected);

/* Shutdown: removes every row of this bridge; b->removed is set once done. */
void presence_remove_all(struct bridge *b);

/* Stops the heartbeat and frees the grace list. Call before the database loop goes. */
void presence_stop_timers(struct bridge *b);

/* Frees the retry list. Call after the database loop is gone. */
void presence_release(struct bridge *b);

#endif

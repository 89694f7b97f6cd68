/* bridge.h -- wires the bridge's layers together: the shared context of the event modules. */
#ifndef CHAT_BRIDGE_H
#define CHAT_BRIDGE_H

#include <libwebsockets.h>

#include "cfg.h"
#include "conn.h"
#include "err.h"
#include "heartbeat.h"
#include "histo.h"
#include "hmap.h"
#include "pgloop.h"
#include "presence.h"
#include "room.h"
#include "session.h"

/*
 * The bridge's statements, by index into its one statement table
 * (bridge_stmts in bridge.c, prepared by pgloop on each connection).
 */
enum bstmt {
	BS_CONNECT,
	BS_CONNECT_EXTERNAL,
	BS_ENTER,
	BS_LEAVE,
	BS_SEND,
	BS_TYPING,
	BS_PRESENCE_OPEN,
	BS_HEARTBEAT,
	BS_REAP,
	BS_REMOVE,
	BS_RANGE,
	BS_USER_ROOMS,
	BS_HOUSEKEEP,
	BS_PRESENCE_CLOSE_MANY,
	BS_DELETE,
	BS_MARK_READ,
	BS_EDIT,
	BS_MESSAGE_READ,
	BS__COUNT
};

enum bridge_event {
	BE_JOIN,
	BE_LEAVE,
	BE_SEND,
	BE_TYPING,
	BE_DELETE,
	BE_MARK_READ,
	BE_EDIT,
	BE_OTHER,
	BE__COUNT
};

/* Counters since start, for the metrics page. */
struct bridge_stats {
	unsigned long long events[BE__COUNT];
	unsigned long long errors[ERR__COUNT];
	struct histo delivery;        /* the NOTIFY's commit ("ts") to its arrival here */
	struct histo ack;             /* a client event's arrival to its ack, via the database */
	unsigned long long gap_reads; /* need_range calls */
	unsigned long long range_reads[2];   /* pages read: for a room gap, for a subscriber */
	unsigned long long reclosed;         /* presence closes tried again */
	unsigned long long reclose_dropped;  /* given up: the retry list was full */
	unsigned long long revoked_connects; /* CONNECTs refused after a logout in flight */
};

/*
 * The bridge: what every event module reaches through it. Each module
 * keeps its own state in its member (presence, sessions, pending).
 */
struct bridge {
	const struct cfg *cfg;
	struct lws_context *ctx;
	struct conn_set *conns;
	struct rooms rooms;
	struct pgloop *pg;
	struct hmap by_key; /* conn key -> struct conn */
	char id[96];        /* this process in the presence tables */
	unsigned epoch;     /* broadcast de-duplication */
	lws_sorted_usec_list_t sweep_sul;
	struct presence presence;    /* presence.c */
	struct sessions sessions;    /* session.c */
	struct heartbeat heartbeat;  /* heartbeat.c */
	struct hmap pending_by_user; /* dbreq.c: user id -> struct upend, queries waiting */
	int stopping;
	int removed; /* shutdown: presence rows are gone */
	struct bridge_stats stats;
};

/*
 * Sets up the bridge and starts the database connections. conns must be
 * set up with bridge_conn_ops() of this bridge. Returns 0 or -1.
 */
int bridge_init(struct bridge *b, const struct cfg *cfg, struct lws_context *ctx,
		struct lws_vhost *vh, struct conn_set *conns) __attribute__((warn_unused_result));

/* Fills the connection callbacks to give conn_setup(), bound to b. */
void bridge_conn_ops(struct bridge *b, struct conn_ops *ops);

/*
 * Starts a graceful stop: refuse new connections, close every client with
 * a close frame, remove this bridge's presence rows. Call once.
 */
void bridge_stop(struct bridge *b);

/* Returns nonzero once a stop has nothing left to wait for. */
int bridge_stopped(const struct bridge *b);

/* Frees everything; the lws context must be destroyed after. */
void bridge_release(struct bridge *b);

#endif

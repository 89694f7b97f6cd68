/* bridge.c -- wires the bridge's layers: the statement table, the callbacks, the sweep, start and stop. */
#include "bridge.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbcall.h"
#include "dbreq.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "presence.h"
#include "range.h"
#include "session.h"
#include "typing.h"

#define BRIDGE_SWEEP_US (1000 * LWS_US_PER_MS)

#define BS_CALL DBCALL_SELECT

/*
 * The statements that take users' presence locks run alone (pgloop's
 * 'alone'): each takes its locks in one order (sorted, or just one), and
 * two of them in one transaction would not, so bridges could deadlock.
 * What a client or a connection's life changes is 'ordered': a segment
 * that rolls back and runs again is not overtaken by a later one.
 */
static const struct pg_stmt_def bridge_stmts[BS__COUNT] = {
	[BS_CONNECT] = { "ws_connect", BS_CALL "chat_connect($1::bytea, $2::int, $3, $4)", 4,
			 "ws_connect_batch",
			 BS_CALL
			 "chat_connect_batch($1::bytea[], $2::int[], $3::text[], $4::text[]) "
			 "WITH ORDINALITY ORDER BY ordinality",
			 1, 1 },
	/* A site's JWT, verified: its user created or renamed, then as ws_connect. */
	[BS_CONNECT_EXTERNAL] = { "ws_connect_external",
				  BS_CALL "chat_connect_external($1, $2, $3, $4)", 4, NULL, NULL, 1,
				  1 },
	[BS_ENTER] = { "ws_enter",
		       "SELECT err, msg, field, retry, data, member_gen "
		       "FROM chat_room_enter($1, $2, $3::bigint, $4::int, $5::int, $6::int, $7::int)",
		       7, NULL, NULL, 0, 1 },
	[BS_LEAVE] = { "ws_leave", BS_CALL "chat_room_leave($1, $2)", 2, NULL, NULL, 0, 1 },
	[BS_SEND] = { "ws_send", DBCALL_SEND_MESSAGE_SQL, DBCALL_SEND_NPARAMS, "ws_send_batch",
		      DBCALL_SEND_BATCH_SQL, 0, 1 },
	[BS_TYPING] = { "ws_typing", BS_CALL "chat_typing($1, $2, $3::boolean)", 3, NULL, NULL, 0,
			1 },
	[BS_PRESENCE_OPEN] = { "ws_presence_open", "SELECT chat_presence_open($1, $2, $3)", 3, NULL,
			       NULL, 1, 1 },
	[BS_HEARTBEAT] = { "ws_heartbeat", "SELECT chat_bridge_heartbeat($1)", 1 },
	[BS_REAP] = { "ws_reap", "SELECT chat_bridge_remove(NULL)", 0, NULL, NULL, 1 },
	[BS_REMOVE] = { "ws_remove", "SELECT chat_bridge_remove($1)", 1, NULL, NULL, 1 },
	[BS_RANGE] = { "ws_range",
		       "SELECT seq, message FROM chat_messages_range($1, $2::bigint, $3::bigint, $4::int)",
		       4 },
	[BS_USER_ROOMS] = { "ws_user_rooms", "SELECT room_id FROM user_rooms WHERE user_id = $1",
			    1 },
	[BS_HOUSEKEEP] = { "ws_housekeep", "SELECT chat_housekeeping()", 0 },
	[BS_PRESENCE_CLOSE_MANY] = { "ws_presence_close_many",
				     "SELECT chat_presence_close_many($1, $2::text[])", 2, NULL,
				     NULL, 1, 1 },
	/* Locks the room, then the message: alone, as a send to another room may not share it. */
	[BS_DELETE] = { "ws_delete", BS_CALL "chat_message_delete($1, $2, $3::bigint)", 3, NULL,
			NULL, 1, 1 },
	/* Read positions only move forward: marking twice is harmless (migration 0021). */
	[BS_MARK_READ] = { "ws_mark_read", BS_CALL "chat_mark_read($1, $2, $3::bigint)", 3, NULL,
			   NULL, 0, 1 },
	/* The room, the editor's rate bucket, then the message: alone, as BS_DELETE. */
	[BS_EDIT] = { "ws_edit", DBCALL_EDIT_SQL, DBCALL_SEND_NPARAMS, NULL, NULL, 1, 1 },
	/* An edit too long for its NOTIFY (message_updated without message), read back. */
	[BS_MESSAGE_READ] = { "ws_message_read",
			      "SELECT m.change_seq, chat_message_json(m) FROM messages m "
			      "WHERE m.room_id = $1 AND m.seq = $2::bigint",
			      2 },
};

/* ---- the connection layer's callbacks -------------------------------------------- */

static void bridge_on_open(void *arg, struct conn *c)
{
	struct bridge *b = arg;

	if (hmap_put(&b->by_key, c->key, strlen(c->key), c) || session_open(b, c))
		conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
}

static struct frame *bridge_open_packet(void *arg, const struct conn *c)
{
	struct bridge *b = arg;

	return heartbeat_open_packet(b->cfg, c);
}

static int bridge_poll_hold_s(void *arg)
{
	struct bridge *b = arg;

	return heartbeat_poll_hold_s(b->cfg);
}

static void bridge_on_message(void *arg, struct conn *c, char *buf, size_t len)
{
	session_on_message(arg, c, buf, len);
}

/* The session's state goes last: what comes before reads it. */
static void bridge_on_close(void *arg, struct conn *c)
{
	struct bridge *b = arg;
	struct member *m = session_member(c);

	hmap_del(&b->by_key, c->key, strlen(c->key));
	if (m) {
		for (struct sub *s = m->subs; s; s = s->member_next)
			typing_stop(b, s);
		room_unsubscribe_all(&b->rooms, m);
	}
	if ((c->state == CONN_READY || c->state == CONN_CLOSING) && session_user(c)[0] &&
	    !b->stopping)
		presence_conn_closed(b, c);
	session_close(c);
}

static const char *bridge_who(void *arg, const struct conn *c)
{
	(void)arg;
	return session_user(c);
}

void bridge_conn_ops(struct bridge *b, struct conn_ops *ops)
{
	ops->open_packet = bridge_open_packet;
	ops->poll_hold_s = bridge_poll_hold_s;
	ops->on_open = bridge_on_open;
	ops->on_message = bridge_on_message;
	ops->on_close = bridge_on_close;
	ops->who = bridge_who;
	ops->page = metrics_page;
	ops->arg = b;
}

/* ---- the periodic sweep: heartbeat, timeouts, typing expiry, grace --------------- */

/* What sweep_one() needs besides the session. */
struct sweep_ctx {
	struct bridge *b;
	int64_t now;
};

/*
 * One session due (conn_due_each()): its heartbeat, deadlines and typing,
 * then when it is due next. A polling session (its expiry moves with every
 * request), a closing one and one with typing going on come back each second.
 */
static void sweep_one(void *arg, struct conn *c)
{
	const struct sweep_ctx *x = arg;
	struct bridge *b = x->b;
	int64_t now = x->now, due = now;

	if (heartbeat_expire(b->cfg, c, now))
		return; /* ended */
	if (c->state != CONN_CLOSING && !session_sweep(b, c, now) && !typing_sweep(b, c, now) &&
	    c->transport == CONN_WEBSOCKET)
		due = session_due(c, now);
	conn_due(c, due, now);
}

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
	struct bridge *b = lws_container_of(sul, struct bridge, sweep_sul);
	struct sweep_ctx x = { b, conn_now_ms() };

	/* Nothing below frees a connection other than the one at hand. */
	conn_due_each(b->conns, x.now, sweep_one, &x);
	presence_sweep(b, x.now);
	lws_sul_schedule(b->ctx, 0, &b->sweep_sul, sweep_cb, BRIDGE_SWEEP_US);
}

/* ---- the database loop's callbacks ------------------------------------------------ */

static void bridge_on_listen(void *arg, int reconnected)
{
	struct bridge *b = arg;

	if (reconnected) {
		log_info("LISTEN is back: reading what every room missed");
		rooms_resync(&b->rooms);
	}
}

static void bridge_on_query_ready(void *arg, int reconnected)
{
	struct bridge *b = arg;

	presence_on_query_ready(b, reconnected);
	if (reconnected)
		rooms_resync(&b->rooms);
}

/* ---- life cycle ------------------------------------------------------------------ */

int bridge_init(struct bridge *b, const struct cfg *cfg, struct lws_context *ctx,
		struct lws_vhost *vh, struct conn_set *conns)
{
	struct pgloop_ops pops = { notify_dispatch, bridge_on_listen, bridge_on_query_ready, b };
	struct room_ops rops = { range_need, b };
	char host[64];

	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->ctx = ctx;
	b->conns = conns;
	if (heartbeat_init(&b->heartbeat))
		return -1;
	hmap_init(&b->by_key);
	hmap_init(&b->pending_by_user);
	rooms_init(&b->rooms, &rops);
	if (cfg->bridge_id[0]) {
		snprintf(b->id, sizeof(b->id), "%s", cfg->bridge_id);
	} else {
		if (gethostname(host, sizeof(host)))
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(b->id, sizeof(b->id), "%s:%d:%ld", host, (int)getpid(), (long)time(NULL));
	}
	b->pg = pgloop_new(ctx, vh, cfg, bridge_stmts, BS__COUNT, &pops);
	if (!b->pg) {
		heartbeat_release(&b->heartbeat);
		return -1;
	}
	lws_sul_schedule(ctx, 0, &b->sweep_sul, sweep_cb, BRIDGE_SWEEP_US);
	presence_start(b);
	log_info("bridge '%s' starting", b->id);
	return 0;
}

void bridge_stop(struct bridge *b)
{
	if (b->stopping)
		return;
	b->stopping = 1;
	b->conns->refusing = 1;
	log_info("stopping: closing %u connections", b->conns->count);
	for (struct conn *c = b->conns->head; c; c = c->next)
		conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
	presence_remove_all(b);
}

int bridge_stopped(const struct bridge *b)
{
	return b->stopping && b->removed && b->conns->count == 0;
}

void bridge_release(struct bridge *b)
{
	lws_sul_cancel(&b->sweep_sul);
	presence_stop_timers(b);
	b->stopping = 1; /* what pgloop_free fails is not kept to retry */
	pgloop_free(b->pg);
	b->pg = NULL;
	presence_release(b);
	rooms_release(&b->rooms);
	hmap_release(&b->by_key);
	dbreq_release(b);
	heartbeat_release(&b->heartbeat);
}

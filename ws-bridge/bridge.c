/* bridge.c -- the chat events: client events in, NOTIFY payloads out, presence. */
#include "bridge.h"

#include <jansson.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbcall.h"
#include "err.h"
#include "log.h"
#include "sio.h"
#include "textbuf.h"
#include "tok.h"
#include "valid.h"

#define BRIDGE_SWEEP_US (1000 * LWS_US_PER_MS)
#define BRIDGE_CLOSE_BATCH 1000 /* presence rows closed per statement */
#define BRIDGE_PAGE 50          /* messages in a join_room ack without since_seq */
#define BRIDGE_MEMBERS_PAGE 100 /* members in a join_room ack (the rest: GET /api/users) */
#define BRIDGE_TYPING_GAP_MS 1000 /* typing changes of one subscription, at most one per */
#define BRIDGE_RANGE_PAGE 500   /* messages per gap read */
#define BRIDGE_MAX_CURSOR 9007199254740991LL
#define BRIDGE_RECLOSE_MAX 100000 /* presence closes waiting to be tried again */
#define BRIDGE_RECLOSE_MS 1000    /* and how long they wait */
/* Client events of one user waiting for the database, so that one user's
 * flood cannot fill the shared queue (PG_QUEUE_MAX) for everyone. */
#define BRIDGE_USER_PENDING_MAX 256

enum bstmt {
	BS_CONNECT,
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
	BS__COUNT
};

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
			 BS_CALL "chat_connect_batch($1::bytea[], $2::int[], $3::text[], $4::text[]) "
				 "WITH ORDINALITY ORDER BY ordinality",
			 1, 1 },
	[BS_ENTER] = { "ws_enter",
		       "SELECT err, msg, field, retry, data, member_gen "
		       "FROM chat_room_enter($1, $2, $3::bigint, $4::int, $5::int, $6::int, $7::int)",
		       7, NULL, NULL, 0, 1 },
	[BS_LEAVE] = { "ws_leave", BS_CALL "chat_room_leave($1, $2)", 2, NULL, NULL, 0, 1 },
	[BS_SEND] = { "ws_send", DBCALL_SEND_MESSAGE_SQL, DBCALL_SEND_NPARAMS, "ws_send_batch",
		      DBCALL_SEND_BATCH_SQL, 0, 1 },
	[BS_TYPING] = { "ws_typing", BS_CALL "chat_typing($1, $2, $3::boolean)", 3, NULL, NULL, 0,
			1 },
	[BS_PRESENCE_OPEN] = { "ws_presence_open", "SELECT chat_presence_open($1, $2, $3)", 3,
			       NULL, NULL, 1, 1 },
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
				     "SELECT chat_presence_close_many($1, $2::text[])", 2, NULL, NULL,
				     1, 1 },
};

/* A closed connection whose presence row goes after the grace period. */
struct grace {
	struct grace *next;
	int64_t due_ms;
	char key[24];
};

/* What an asynchronous request needs to find its connection again. */
struct breq {
	struct bridge *b;
	char key[24];        /* connection key, "" for none */
	long long ack_id;    /* -1 without an ack */
	char room[72];
	uint64_t after, upto;
	int for_sub;
	struct frame *frame; /* a frame to send once the request is done */
	struct upend *up;    /* counts this request against its user */
	char *keys;          /* presence closes: the connection keys, "{a,b}" */
};

/* A user's client events waiting for the database. */
struct upend {
	unsigned n;
	char user_id[40];
};

static struct breq *breq_new(struct bridge *b, const struct conn *c, long long ack_id,
			     const char *room)
{
	struct breq *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->b = b;
	q->ack_id = ack_id;
	if (c)
		snprintf(q->key, sizeof(q->key), "%s", c->key);
	if (room)
		snprintf(q->room, sizeof(q->room), "%s", room);
	return q;
}

static void breq_free(struct breq *q)
{
	if (q->up && --q->up->n == 0) {
		hmap_del(&q->b->pending_by_user, q->up->user_id, strlen(q->up->user_id));
		free(q->up);
	}
	frame_unref(q->frame);
	free(q->keys);
	free(q);
}

/* The connection of a request, if it is still there. */
static struct conn *breq_conn(const struct breq *q)
{
	return q->key[0] ? hmap_get(&q->b->by_key, q->key, strlen(q->key)) : NULL;
}

static int bridge_query(struct bridge *b, enum bstmt st, int n, const char *const *params,
			pg_done_fn done, struct breq *q)
{
	if (pgloop_query(b->pg, st, n, params, done, q)) {
		breq_free(q);
		return -1;
	}
	return 0;
}

static void ev_fail(struct conn *c, long long ack_id, enum err_code code, const char *message);

/*
 * A client event's query: answers the event (rate_limited or
 * db_unavailable) and returns -1 when it cannot be queued, because its
 * user has BRIDGE_USER_PENDING_MAX already waiting or the queue is full.
 */
static int client_query(struct bridge *b, struct conn *c, long long ack_id, enum bstmt st, int n,
			const char *const *params, pg_done_fn done, struct breq *q)
{
	size_t ulen = strlen(c->user_id);
	struct upend *up;

	if (!q) {
		ev_fail(c, ack_id, ERR_INTERNAL, "out of memory");
		return -1;
	}
	up = hmap_get(&b->pending_by_user, c->user_id, ulen);
	if (up && up->n >= BRIDGE_USER_PENDING_MAX) {
		breq_free(q);
		ev_fail(c, ack_id, ERR_RATE_LIMITED,
			"too many of your events are waiting for the database, slow down");
		return -1;
	}
	if (!up) {
		up = calloc(1, sizeof(*up));
		if (up && ulen < sizeof(up->user_id) &&
		    hmap_put(&b->pending_by_user, c->user_id, ulen, up) == 0) {
			memcpy(up->user_id, c->user_id, ulen + 1);
		} else {
			free(up);
			breq_free(q);
			ev_fail(c, ack_id, ERR_INTERNAL, "out of memory");
			return -1;
		}
	}
	up->n++;
	q->up = up;
	if (bridge_query(b, st, n, params, done, q)) {
		ev_fail(c, ack_id, ERR_DB_UNAVAILABLE, "the database is unavailable, try again");
		return -1;
	}
	return 0;
}

/* Sends a frame (dropping our reference); NULL frames mean out of memory. */
static void send_frame(struct conn *c, struct frame *f)
{
	if (!f) {
		conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	conn_send(c, f);
	frame_unref(f);
}

/* Answers a failed event: as its ack, or as an `error` event without one. */
static void ev_fail(struct conn *c, long long ack_id, enum err_code code, const char *message)
{
	struct bridge *b = c->cs->ops.arg;

	if ((unsigned)code < ERR__COUNT)
		b->stats.errors[code]++;
	if (ack_id >= 0)
		send_frame(c, sio_ack_error(ack_id, err_name(code), message));
	else
		send_frame(c, sio_error_event(err_name(code), message));
}

/* Answers a successful event with {"ok":true, ...data}. */
static void ev_ok(struct conn *c, long long ack_id, const char *obj, size_t len)
{
	if (ack_id >= 0)
		send_frame(c, sio_ack_ok(ack_id, obj, len));
}

/*
 * Reads a (err, msg, field, retry, data) row. Returns 0 on success with
 * *data set; otherwise answers the event and returns -1.
 */
static int ev_result(struct conn *c, long long ack_id, enum pg_status st, const PGresult *res,
		     int row, const char **data, size_t *len)
{
	struct dbcall_row r;

	if (st == PG_UNAVAILABLE || (st == PG_OK && !res)) {
		ev_fail(c, ack_id, ERR_DB_UNAVAILABLE, "the database is unavailable, try again");
		return -1;
	}
	if (st == PG_UNKNOWN) {
		ev_fail(c, ack_id, ERR_OUTCOME_UNKNOWN,
			"the database connection broke: the event may have taken effect; retry it "
			"(a message with the same client_id)");
		return -1;
	}
	if (st != PG_OK || dbcall_row(&r, res, row)) {
		ev_fail(c, ack_id, ERR_INTERNAL, "internal error");
		return -1;
	}
	if (r.err) {
		ev_fail(c, ack_id, r.code, r.msg);
		return -1;
	}
	*data = r.data;
	*len = r.data_len;
	return 0;
}

/* ---- Socket.IO CONNECT ---------------------------------------------------- */

static void presence_close_now(struct bridge *b, const char *key);

/* Returns nonzero when a session_revoked for this token hash arrived lately. */
static int bridge_revoked(const struct bridge *b, const char *hash)
{
	if (!hash[0])
		return 0;
	for (unsigned i = 0; i < BRIDGE_REVOKED; i++)
		if (strcmp(b->revoked[i], hash) == 0)
			return 1;
	return 0;
}

static void on_connect_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct breq *q = arg;
	struct conn *c = breq_conn(q);
	json_t *data = NULL, *user;
	const char *code = "db_unavailable", *message = "the database is unavailable, try again";
	struct dbcall_row r;

	if (st == PG_OK && res && dbcall_row(&r, res, row))
		st = PG_FAILED;
	/* Its presence row may have been written: the connection goes on without. */
	if (st == PG_UNKNOWN)
		presence_close_now(q->b, q->key);
	if (!c || c->state != CONN_AUTHING) {
		/* Gone while its presence row was being written: take it back. */
		if (st == PG_OK && res && !r.err)
			presence_close_now(q->b, q->key);
		goto out;
	}
	/* Its session was revoked while the check was in flight. */
	if (st == PG_OK && res && !r.err && bridge_revoked(q->b, c->token_hash)) {
		q->b->stats.revoked_connects++;
		presence_close_now(q->b, q->key);
		log_info("connection %s: session revoked while connecting", c->key);
		c->state = CONN_OPEN;
		send_frame(c, sio_connect_error("/", 1, "unauthorized", "the session was revoked"));
		goto out;
	}
	if (st == PG_OK && res) {
		if (r.err) {
			code = r.err;
			message = r.msg;
		} else {
			data = json_loadb(r.data, r.data_len, 0, NULL);
		}
	} else if (st == PG_FAILED) {
		code = "internal_error";
		message = "internal error";
	}
	user = json_object_get(data, "user");
	if (!json_is_string(json_object_get(user, "id"))) {
		c->state = CONN_OPEN;
		send_frame(c, sio_connect_error("/", 1, code, message));
		goto out;
	}
	snprintf(c->user_id, sizeof(c->user_id), "%s", json_string_value(json_object_get(user, "id")));
	snprintf(c->username, sizeof(c->username), "%s",
		 json_string_value(json_object_get(user, "username")));
	conn_ready(c);
	send_frame(c, sio_connect_ok(c->sid));
	send_frame(c, sio_event("connected", r.data, r.data_len));
	log_debug("connection %s authenticated as '%s'", c->key, c->user_id);
out:
	json_decref(data);
	breq_free(q);
}

static void on_sio_connect(struct bridge *b, struct conn *c, const struct sio_packet *p)
{
	char hash[2 + TOK_HASH_HEX_LEN + 1], ttl[24];
	const char *token = c->token[0] ? c->token : NULL;
	size_t toklen = token ? strlen(token) : 0;
	json_t *auth = NULL;
	const char *params[4];
	struct breq *q;

	if (!sio_is_main_nsp(p)) {
		send_frame(c, sio_connect_error(p->nsp, p->nsp_len, "not_found", "Invalid namespace"));
		return;
	}
	if (c->state == CONN_READY) {
		send_frame(c, sio_connect_ok(c->sid));
		return;
	}
	if (c->state != CONN_OPEN)
		return;
	if (p->data_len) {
		auth = json_loadb(p->data, p->data_len, JSON_ALLOW_NUL, NULL);
		if (!json_is_object(auth)) {
			json_decref(auth);
			send_frame(c, sio_connect_error("/", 1, "invalid_json",
							"the CONNECT payload must be a JSON object"));
			return;
		}
		if (json_is_string(json_object_get(auth, "token"))) {
			/* By its length: a "\u0000" inside is no token, not its end. */
			token = json_string_value(json_object_get(auth, "token"));
			toklen = json_string_length(json_object_get(auth, "token"));
		}
	}
	if (!token || !tok_wellformed(token, toklen) || tok_hash_bytea(token, toklen, hash)) {
		json_decref(auth);
		send_frame(c, sio_connect_error("/", 1, "unauthorized",
						token ? "the session token is malformed"
						      : "a session token is required"));
		return;
	}
	json_decref(auth);
	snprintf(ttl, sizeof(ttl), "%ld", b->cfg->session_ttl);
	params[0] = hash;
	params[1] = ttl;
	params[2] = b->id;
	params[3] = c->key;
	q = breq_new(b, c, -1, NULL);
	if (!q) {
		send_frame(c, sio_connect_error("/", 1, "internal_error", "out of memory"));
		return;
	}
	/* Kept to close this connection when its session is revoked. */
	memcpy(c->token_hash, hash + 2, TOK_HASH_HEX_LEN + 1);
	c->state = CONN_AUTHING;
	if (bridge_query(b, BS_CONNECT, 4, params, on_connect_done, q)) {
		c->state = CONN_OPEN;
		send_frame(c, sio_connect_error("/", 1, "db_unavailable",
						"the database is unavailable, try again"));
	}
}

/* ---- client events ---------------------------------------------------------- */

/* Reads payload.room_id; answers and returns -1 when it is missing or cannot exist. */
static int ev_room_id(struct conn *c, long long ack_id, json_t *payload, const char **room)
{
	struct valid_err e;
	size_t len;

	if (valid_string_field(payload, "room_id", VALID_REQUIRED, room, &len, &e)) {
		ev_fail(c, ack_id, e.code, e.message);
		return -1;
	}
	if (!valid_room_id(*room, len)) {
		ev_fail(c, ack_id, ERR_NOT_FOUND, "room not found");
		return -1;
	}
	return 0;
}

static void on_enter_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct breq *q = arg;
	struct conn *c = breq_conn(q);
	struct sub *s;
	const char *data;
	size_t len;
	json_t *j;
	json_int_t last;
	uint64_t gen = 0;
	int gen_col;

	if (!c)
		goto out; /* its subscriptions went with it */
	if (c->state != CONN_READY || ev_result(c, q->ack_id, st, res, row, &data, &len)) {
		room_join_end(&q->b->rooms, c, q->room, 0, 0);
		goto out;
	}
	j = json_loadb(data, len, 0, NULL);
	last = json_integer_value(json_object_get(json_object_get(j, "room"), "last_seq"));
	json_decref(j);
	gen_col = PQfnumber(res, "member_gen");
	if (gen_col >= 0 && !PQgetisnull(res, row, gen_col))
		gen = strtoull(PQgetvalue(res, row, gen_col), NULL, 10);
	/* The ack goes first: what the subscription catches up comes after it. */
	ev_ok(c, q->ack_id, data, len);
	s = room_sub_of(c, q->room);
	if (s && s->pending && s->left_gen && gen <= s->left_gen) {
		/* A leave (elsewhere) ended this membership before the ack came. */
		room_join_end(&q->b->rooms, c, q->room, 0, 0);
		goto out;
	}
	s = room_join_end(&q->b->rooms, c, q->room, 1, (uint64_t)last);
	if (!s)
		ev_fail(c, -1, ERR_INTERNAL, "cannot subscribe to the room");
	else if (gen > s->gen)
		s->gen = gen;
out:
	breq_free(q);
}

static void ev_join_room(struct bridge *b, struct conn *c, long long ack_id, json_t *payload)
{
	const char *room;
	json_t *since = json_object_get(payload, "since_seq");
	char since_s[24], limit[16], rmax[16], mpage[16], bytes[24];
	const char *params[7];
	struct breq *q;

	if (ev_room_id(c, ack_id, payload, &room))
		return;
	if (since && !json_is_null(since) &&
	    (!json_is_integer(since) || json_integer_value(since) < 0 ||
	     json_integer_value(since) > BRIDGE_MAX_CURSOR)) {
		ev_fail(c, ack_id, ERR_VALIDATION, "since_seq must be a non-negative integer");
		return;
	}
	/* Joins on their way count: their subscriptions exist, pending. */
	if (!room_sub_of(c, room) && c->nsubs >= (unsigned)b->cfg->ws_max_rooms) {
		ev_fail(c, ack_id, ERR_FORBIDDEN, "too many rooms joined on this connection");
		return;
	}
	snprintf(since_s, sizeof(since_s), "%lld",
		 since && json_is_integer(since) ? (long long)json_integer_value(since) : 0LL);
	snprintf(limit, sizeof(limit), "%d", BRIDGE_PAGE);
	snprintf(rmax, sizeof(rmax), "%ld", b->cfg->ws_recovery_max);
	snprintf(mpage, sizeof(mpage), "%d", BRIDGE_MEMBERS_PAGE);
	/* The ack's messages take at most a quarter of the output queue. */
	snprintf(bytes, sizeof(bytes), "%ld", b->cfg->ws_queue_bytes / 4);
	params[0] = c->user_id;
	params[1] = room;
	params[2] = since && json_is_integer(since) ? since_s : NULL;
	params[3] = limit;
	params[4] = rmax;
	params[5] = mpage;
	params[6] = bytes;
	q = breq_new(b, c, ack_id, room);
	if (!q) {
		ev_fail(c, ack_id, ERR_INTERNAL, "out of memory");
		return;
	}
	/* Subscribed (pending) before the query: nothing announced meanwhile is lost. */
	if (!room_join_begin(&b->rooms, c, room)) {
		breq_free(q);
		ev_fail(c, ack_id, ERR_INTERNAL, "out of memory");
		return;
	}
	if (client_query(b, c, ack_id, BS_ENTER, 7, params, on_enter_done, q))
		room_join_end(&b->rooms, c, room, 0, 0);
}

static void typing_send(struct bridge *b, struct conn *c, const char *room, int is_typing);

static void on_leave_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct breq *q = arg;
	struct conn *c = breq_conn(q);
	struct sub *s;
	const char *data;
	size_t len;

	if (!c || c->state != CONN_READY || ev_result(c, q->ack_id, st, res, row, &data, &len))
		goto out;
	s = room_sub_of(c, q->room);
	if (s) {
		if (s->typing_sent)
			typing_send(q->b, c, q->room, 0);
		/* A join_room sent after this leave keeps the room, pending. */
		if (s->joins)
			room_sub_suspend(s);
		else
			room_unsubscribe(&q->b->rooms, s);
	}
	ev_ok(c, q->ack_id, data, len);
out:
	breq_free(q);
}

static void ev_leave_room(struct bridge *b, struct conn *c, long long ack_id, json_t *payload)
{
	const char *room;
	const char *params[2];
	struct breq *q;

	if (ev_room_id(c, ack_id, payload, &room))
		return;
	params[0] = c->user_id;
	params[1] = room;
	q = breq_new(b, c, ack_id, room);
	client_query(b, c, ack_id, BS_LEAVE, 2, params, on_leave_done, q);
}

static void on_send_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct breq *q = arg;
	struct conn *c = breq_conn(q);
	const char *data;
	size_t len;

	if (c && c->state == CONN_READY && !ev_result(c, q->ack_id, st, res, row, &data, &len))
		ev_ok(c, q->ack_id, data, len);
	breq_free(q);
}

static void ev_send_message(struct bridge *b, struct conn *c, long long ack_id, json_t *payload)
{
	const struct cfg *cfg = b->cfg;
	const char *room;
	struct valid_message m;
	struct valid_err e;
	struct dbcall_send send;
	const char *const *params;
	struct breq *q;

	if (ev_room_id(c, ack_id, payload, &room))
		return;
	if (valid_message_body(payload, cfg, &m, &e)) {
		ev_fail(c, ack_id, e.code, e.message);
		return;
	}
	params = dbcall_send_params(&send, c->user_id, room, m.content, m.client_id, cfg->msg_rate,
				    cfg->msg_rate_window);
	q = breq_new(b, c, ack_id, room);
	client_query(b, c, ack_id, BS_SEND, DBCALL_SEND_NPARAMS, params, on_send_done, q);
}

static void on_typing_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct breq *q = arg;
	struct conn *c = breq_conn(q);
	const char *data;
	size_t len;

	if (c && c->state == CONN_READY && q->ack_id >= 0 &&
	    !ev_result(c, q->ack_id, st, res, row, &data, &len))
		ev_ok(c, q->ack_id, data, len);
	breq_free(q);
}

/*
 * Tells the room (through the database, so every bridge hears it). A
 * client's own typing event (from_client) waits in its user's share of the
 * queue and is answered on failure; the bridge's own changes (a leave, a
 * close, the expiry, a change held back by the coalescing) are not.
 */
static void typing_tell(struct bridge *b, struct conn *c, const char *room, int is_typing,
			long long ack_id, int from_client)
{
	const char *params[3] = { c->user_id, room, is_typing ? "true" : "false" };
	struct breq *q = breq_new(b, c, ack_id, room);

	if (from_client) {
		client_query(b, c, ack_id, BS_TYPING, 3, params, on_typing_done, q);
		return;
	}
	if (!q || bridge_query(b, BS_TYPING, 3, params, on_typing_done, q)) {
		if (ack_id >= 0)
			ev_fail(c, ack_id, ERR_DB_UNAVAILABLE, "the database is unavailable, try again");
	}
}

/* The bridge's own "stopped typing" (a leave, a close, the expiry). */
static void typing_send(struct bridge *b, struct conn *c, const char *room, int is_typing)
{
	typing_tell(b, c, room, is_typing, -1, 0);
}

/*
 * Tells the room the subscription's typing state when it changed since it
 * was last told, at most once per BRIDGE_TYPING_GAP_MS: a change within
 * that waits for the sweep, and toggles meanwhile fold into the last state.
 * Returns 1 when a change went out (ack_id answered by it).
 */
static int typing_flush(struct bridge *b, struct sub *s, long long ack_id, int from_client)
{
	int64_t now = conn_now_ms();
	int want = s->typing_until_ms != 0;

	if (want == s->typing_sent ||
	    (s->typing_sent_ms && now - s->typing_sent_ms < BRIDGE_TYPING_GAP_MS))
		return 0;
	s->typing_sent = want;
	s->typing_sent_ms = now;
	typing_tell(b, s->conn, s->room->id, want, ack_id, from_client);
	return 1;
}

static void ev_typing(struct bridge *b, struct conn *c, long long ack_id, json_t *payload)
{
	const char *room;
	json_t *it = json_object_get(payload, "is_typing");
	struct sub *s;
	int on;

	if (ev_room_id(c, ack_id, payload, &room))
		return;
	if (!json_is_boolean(it)) {
		ev_fail(c, ack_id, ERR_VALIDATION, "is_typing must be a boolean");
		return;
	}
	s = room_sub_of(c, room);
	if (!s || s->pending) {
		ev_fail(c, ack_id, ERR_FORBIDDEN, "join the room first");
		return;
	}
	on = json_is_true(it);
	/* A refresh just moves the expiry. */
	s->typing_until_ms = on ? conn_now_ms() + b->cfg->typing_ttl : 0;
	if (!typing_flush(b, s, ack_id, 1))
		ev_ok(c, ack_id, "{}", 2);
}

/* Takes one token from the connection's event bucket; 0 when allowed. */
static int ev_rate_take(const struct cfg *cfg, struct conn *c)
{
	int64_t now = conn_now_ms();
	double cap = (double)cfg->ws_event_rate;

	if (cfg->ws_event_rate <= 0)
		return 0;
	c->ev_tokens += (double)(now - c->ev_at_ms) * cap / ((double)cfg->ws_event_window * 1000.0);
	if (c->ev_tokens > cap)
		c->ev_tokens = cap;
	c->ev_at_ms = now;
	if (c->ev_tokens < 1.0)
		return -1;
	c->ev_tokens -= 1.0;
	return 0;
}

static void on_sio_event(struct bridge *b, struct conn *c, const struct sio_packet *p)
{
	json_t *arr = NULL, *payload;
	const char *name;
	long long ack = p->ack_id;

	if (!sio_is_main_nsp(p)) {
		ev_fail(c, ack, ERR_NOT_FOUND, "unknown namespace");
		return;
	}
	if (c->state != CONN_READY) {
		ev_fail(c, ack, ERR_UNAUTHORIZED, "connect with a valid session first");
		return;
	}
	if (ev_rate_take(b->cfg, c)) {
		ev_fail(c, ack, ERR_RATE_LIMITED, "too many events, slow down");
		return;
	}
	/* "\u0000" is valid JSON: the validation of each field refuses it. */
	arr = json_loadb(p->data, p->data_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (!json_is_array(arr) || !json_is_string(json_array_get(arr, 0))) {
		ev_fail(c, ack, ERR_INVALID_JSON, "an event is a JSON array starting with its name");
		goto out;
	}
	name = json_string_value(json_array_get(arr, 0));
	if (strlen(name) != json_string_length(json_array_get(arr, 0)))
		name = ""; /* a NUL inside: no event of ours, whatever comes before it */
	payload = json_array_get(arr, 1);
	if (!json_is_object(payload)) {
		ev_fail(c, ack, ERR_VALIDATION, "the event payload must be a JSON object");
		goto out;
	}
	if (strcmp(name, "join_room") == 0) {
		b->stats.events[BE_JOIN]++;
		ev_join_room(b, c, ack, payload);
	} else if (strcmp(name, "leave_room") == 0) {
		b->stats.events[BE_LEAVE]++;
		ev_leave_room(b, c, ack, payload);
	} else if (strcmp(name, "send_message") == 0) {
		b->stats.events[BE_SEND]++;
		ev_send_message(b, c, ack, payload);
	} else if (strcmp(name, "typing") == 0) {
		b->stats.events[BE_TYPING]++;
		ev_typing(b, c, ack, payload);
	} else {
		b->stats.events[BE_OTHER]++;
		ev_fail(c, ack, ERR_VALIDATION, "unknown event");
	}
out:
	json_decref(arr);
}

static void bridge_on_message(void *arg, struct conn *c, char *buf, size_t len)
{
	struct bridge *b = arg;
	struct sio_packet p;

	if (sio_parse(buf, len, &p)) {
		conn_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "malformed packet");
		return;
	}
	switch (p.eio) {
	case SIO_EIO_PING: {
		/* A client ping gets its pong, within the event rate: past it,
		 * none (authenticated or not, pings cost the bridge output). */
		struct frame *f;

		if (ev_rate_take(b->cfg, c))
			return;
		f = frame_alloc(1 + p.data_len);

		if (f) {
			frame_payload(f)[0] = SIO_EIO_PONG;
			memcpy(frame_payload(f) + 1, p.data, p.data_len);
		}
		send_frame(c, f);
		return;
	}
	case SIO_EIO_PONG:
		c->pong_deadline_ms = 0;
		return;
	case SIO_EIO_CLOSE:
		conn_close(c, LWS_CLOSE_STATUS_NORMAL, "");
		return;
	case SIO_EIO_NOOP:
	case SIO_EIO_UPGRADE:
		return;
	case SIO_EIO_OPEN:
		conn_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "unexpected open packet");
		return;
	case SIO_EIO_MESSAGE:
		break;
	}
	switch (p.type) {
	case SIO_CONNECT:
		on_sio_connect(b, c, &p);
		break;
	case SIO_DISCONNECT:
		conn_close(c, LWS_CLOSE_STATUS_NORMAL, "");
		break;
	case SIO_EVENT:
		on_sio_event(b, c, &p);
		break;
	case SIO_BINARY_EVENT:
	case SIO_BINARY_ACK:
		ev_fail(c, p.type == SIO_BINARY_EVENT ? p.ack_id : -1, ERR_VALIDATION,
			"binary attachments are not supported");
		break;
	case SIO_ACK:
		break; /* the server asks for no acks */
	default:
		conn_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "unexpected packet type");
		break;
	}
}

static void bridge_on_open(void *arg, struct conn *c)
{
	struct bridge *b = arg;

	if (hmap_put(&b->by_key, c->key, strlen(c->key), c))
		conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
}

static void bridge_on_close(void *arg, struct conn *c)
{
	struct bridge *b = arg;

	hmap_del(&b->by_key, c->key, strlen(c->key));
	for (struct sub *s = c->subs; s; s = s->conn_next)
		if (s->typing_sent)
			typing_send(b, c, s->room->id, 0);
	room_unsubscribe_all(&b->rooms, c);
	if (c->state != CONN_READY && c->state != CONN_CLOSING)
		return;
	if (!c->user_id[0] || b->stopping)
		return;
	if (b->cfg->ws_grace <= 0) {
		presence_close_now(b, c->key);
		return;
	}
	struct grace *g = calloc(1, sizeof(*g));

	if (!g) {
		presence_close_now(b, c->key);
		return;
	}
	g->due_ms = conn_now_ms() + b->cfg->ws_grace;
	snprintf(g->key, sizeof(g->key), "%s", c->key);
	if (b->grace_tail)
		b->grace_tail->next = g;
	else
		b->grace_head = g;
	b->grace_tail = g;
}

/* The Prometheus text format page of this bridge. */
static char *bridge_metrics(void *arg, size_t *len)
{
	static const char *const evnames[BE__COUNT] = { "join_room", "leave_room", "send_message",
							 "typing", "other" };
	struct bridge *b = arg;
	const struct conn_set *cs = b->conns;
	const struct bridge_stats *st = &b->stats;
	struct pgloop_stats pg;
	size_t size = 16384, n = 0;
	unsigned ws = 0, polling = 0;
	char *buf = malloc(size);

	if (!buf)
		return NULL;
	for (const struct conn *c = cs->head; c; c = c->next)
		c->transport == CONN_WEBSOCKET ? ws++ : polling++;
	pgloop_get_stats(b->pg, &pg);
	textbuf_printf(buf, size, &n, "# HELP chat_ws_sessions Engine.IO sessions open now.\n"
			    "# TYPE chat_ws_sessions gauge\n"
			    "chat_ws_sessions{transport=\"websocket\"} %u\n"
			    "chat_ws_sessions{transport=\"polling\"} %u\n",
	     ws, polling);
	textbuf_printf(buf, size, &n, "# TYPE chat_ws_sessions_opened_total counter\n"
			    "chat_ws_sessions_opened_total %llu\n"
			    "# TYPE chat_ws_sessions_refused_total counter\n"
			    "chat_ws_sessions_refused_total %llu\n"
			    "# TYPE chat_ws_slow_clients_closed_total counter\n"
			    "chat_ws_slow_clients_closed_total %llu\n"
			    "# TYPE chat_ws_upgrades_total counter\n"
			    "chat_ws_upgrades_total %llu\n"
			    "# TYPE chat_ws_polls_total counter\n"
			    "chat_ws_polls_total{method=\"GET\"} %llu\n"
			    "chat_ws_polls_total{method=\"POST\"} %llu\n",
	     cs->opened, cs->refused, cs->slow_closed, cs->upgrades, cs->polls, cs->posts);
	textbuf_printf(buf, size, &n, "# HELP chat_ws_events_in_total Client events received.\n"
			    "# TYPE chat_ws_events_in_total counter\n");
	for (int i = 0; i < BE__COUNT; i++)
		textbuf_printf(buf, size, &n, "chat_ws_events_in_total{event=\"%s\"} %llu\n", evnames[i],
		     st->events[i]);
	textbuf_printf(buf, size, &n, "# HELP chat_ws_errors_total Events answered with an error, by code.\n"
			    "# TYPE chat_ws_errors_total counter\n");
	for (int i = ERR_NONE + 1; i < ERR__COUNT; i++)
		textbuf_printf(buf, size, &n, "chat_ws_errors_total{code=\"%s\"} %llu\n",
		     err_name((enum err_code)i), st->errors[i]);
	textbuf_printf(buf, size, &n, "# TYPE chat_ws_frames_out_total counter\n"
			    "chat_ws_frames_out_total %llu\n"
			    "# TYPE chat_ws_bytes_out_total counter\n"
			    "chat_ws_bytes_out_total %llu\n"
			    "# HELP chat_ws_queue_frames Frames waiting in output queues (sampled).\n"
			    "# TYPE chat_ws_queue_frames gauge\n"
			    "chat_ws_queue_frames %lu\n"
			    "# TYPE chat_ws_queue_frames_max gauge\n"
			    "chat_ws_queue_frames_max %lu\n",
	     cs->frames_out, cs->bytes_out, st->queue_frames, st->queue_max);
	textbuf_printf(buf, size, &n, "# TYPE chat_ws_notify_total counter\n"
			    "chat_ws_notify_total %llu\n"
			    "# HELP chat_ws_notify_lag_ms From the NOTIFY in the database to its arrival here.\n"
			    "# TYPE chat_ws_notify_lag_ms_sum counter\n"
			    "chat_ws_notify_lag_ms_sum %.3f\n"
			    "# TYPE chat_ws_notify_lag_ms_count counter\n"
			    "chat_ws_notify_lag_ms_count %llu\n"
			    "# TYPE chat_ws_notify_lag_ms_last gauge\n"
			    "chat_ws_notify_lag_ms_last %.3f\n"
			    "# TYPE chat_ws_gap_reads_total counter\n"
			    "chat_ws_gap_reads_total %llu\n"
			    "# HELP chat_ws_range_reads_total Pages of messages read back, for a room gap or one subscriber.\n"
			    "# TYPE chat_ws_range_reads_total counter\n"
			    "chat_ws_range_reads_total{for=\"room\"} %llu\n"
			    "chat_ws_range_reads_total{for=\"subscriber\"} %llu\n",
	     pg.notifies, st->notify_lag_ms_sum, st->notify_lag_n, st->notify_lag_ms_last,
	     st->gap_reads, st->range_reads[0], st->range_reads[1]);
	textbuf_printf(buf, size, &n, "# TYPE chat_ws_db_up gauge\n"
			    "chat_ws_db_up{conn=\"listen\"} %d\n"
			    "chat_ws_db_up{conn=\"query\"} %d\n"
			    "# TYPE chat_ws_db_pending gauge\n"
			    "chat_ws_db_pending %u\n"
			    "# HELP chat_ws_db_roundtrip_ms Send-to-commit time of pipeline segments.\n"
			    "# TYPE chat_ws_db_roundtrip_ms_sum counter\n"
			    "chat_ws_db_roundtrip_ms_sum %.3f\n"
			    "# TYPE chat_ws_db_roundtrip_ms_count counter\n"
			    "chat_ws_db_roundtrip_ms_count %llu\n"
			    "# TYPE chat_ws_db_roundtrip_ms_last gauge\n"
			    "chat_ws_db_roundtrip_ms_last %.3f\n"
			    "# TYPE chat_ws_db_statements_total counter\n"
			    "chat_ws_db_statements_total %llu\n"
			    "# HELP chat_ws_db_batches_total Batch calls (send_message, CONNECT) committed.\n"
			    "# TYPE chat_ws_db_batches_total counter\n"
			    "chat_ws_db_batches_total %llu\n"
			    "# TYPE chat_ws_db_batched_total counter\n"
			    "chat_ws_db_batched_total %llu\n"
			    "# TYPE chat_ws_db_failed_total counter\n"
			    "chat_ws_db_failed_total %llu\n"
			    "# TYPE chat_ws_db_rolled_back_total counter\n"
			    "chat_ws_db_rolled_back_total %llu\n"
			    "# HELP chat_ws_db_retried_total Requests run again after their segment rolled back.\n"
			    "# TYPE chat_ws_db_retried_total counter\n"
			    "chat_ws_db_retried_total %llu\n"
			    "# TYPE chat_ws_db_reconnects_total counter\n"
			    "chat_ws_db_reconnects_total %llu\n",
	     pg.listen_up, pg.query_up, pgloop_pending(b->pg), pg.segment_ms_sum, pg.segments,
	     pg.segment_ms_last, pg.statements, pg.batches, pg.batched, pg.failed, pg.rolled_back,
	     pg.retried, pg.reconnects);
	textbuf_printf(buf, size, &n,
		       "# HELP chat_ws_presence_reclose Presence rows whose close failed, waiting to be tried again.\n"
		       "# TYPE chat_ws_presence_reclose gauge\n"
		       "chat_ws_presence_reclose %u\n"
		       "# TYPE chat_ws_presence_reclosed_total counter\n"
		       "chat_ws_presence_reclosed_total %llu\n"
		       "# TYPE chat_ws_presence_reclose_dropped_total counter\n"
		       "chat_ws_presence_reclose_dropped_total %llu\n"
		       "# HELP chat_ws_revoked_connects_total CONNECTs refused: logged out while checked.\n"
		       "# TYPE chat_ws_revoked_connects_total counter\n"
		       "chat_ws_revoked_connects_total %llu\n",
		       b->reclose_n, st->reclosed, st->reclose_dropped, st->revoked_connects);
	if (n >= size) {
		log_warn("metrics page truncated at %zu bytes", size);
		n = size - 1;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

void bridge_conn_ops(struct bridge *b, struct conn_ops *ops)
{
	ops->on_open = bridge_on_open;
	ops->on_message = bridge_on_message;
	ops->on_close = bridge_on_close;
	ops->metrics = bridge_metrics;
	ops->arg = b;
}

/* ---- presence ------------------------------------------------------------------- */

static void on_ignore_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	(void)row;
	(void)st;
	(void)res;
	breq_free(arg);
}

/* Keeps a presence row to close later (bounded: past it, the row stays
 * until this bridge stops or is reaped). */
static void reclose_add(struct bridge *b, const char *key, size_t len)
{
	struct grace *g;

	if (b->stopping)
		return;
	if (b->reclose_n >= BRIDGE_RECLOSE_MAX || len >= sizeof(g->key) ||
	    !(g = calloc(1, sizeof(*g)))) {
		b->stats.reclose_dropped++;
		return;
	}
	memcpy(g->key, key, len);
	g->key[len] = '\0';
	g->due_ms = conn_now_ms() + BRIDGE_RECLOSE_MS;
	if (b->reclose_tail)
		b->reclose_tail->next = g;
	else
		b->reclose_head = g;
	b->reclose_tail = g;
	b->reclose_n++;
}

/* Every key of an array literal "{a,b}" goes back on the retry list. */
static void reclose_keys(struct bridge *b, const char *arr)
{
	const char *p = arr + 1;

	while (*p && *p != '}') {
		size_t n = strcspn(p, ",}");

		if (n)
			reclose_add(b, p, n);
		p += n;
		if (*p == ',')
			p++;
	}
}

static void on_close_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct breq *q = arg;

	(void)row;
	(void)res;
	/* Not done, or not known to be: closing again does no harm. */
	if (st == PG_UNAVAILABLE || st == PG_UNKNOWN)
		reclose_keys(q->b, q->keys);
	else if (st != PG_OK)
		log_err("cannot close presence rows %s", q->keys);
	breq_free(q);
}

/* Closes the presence rows of the connections in arr ("{a,b}"), or keeps them to retry. */
static void presence_close_keys(struct bridge *b, const char *arr)
{
	const char *params[2] = { b->id, arr };
	struct breq *q = breq_new(b, NULL, -1, NULL);

	if (q)
		q->keys = strdup(arr);
	if (!q || !q->keys) {
		if (q)
			breq_free(q);
		reclose_keys(b, arr);
		return;
	}
	if (pgloop_query(b->pg, BS_PRESENCE_CLOSE_MANY, 2, params, on_close_done, q)) {
		reclose_keys(b, arr);
		breq_free(q);
	}
}

static void presence_close_now(struct bridge *b, const char *key)
{
	char arr[sizeof(((struct grace *)0)->key) + 3];

	snprintf(arr, sizeof(arr), "{%s}", key);
	presence_close_keys(b, arr);
}

/*
 * Closes, BRIDGE_CLOSE_BATCH a statement, the presence rows of the list's
 * entries due by now (each freed).
 */
static void presence_close_due(struct bridge *b, struct grace **head, struct grace **tail,
			       unsigned *count, int64_t now)
{
	while (*head && (*head)->due_ms <= now) {
		size_t cap = BRIDGE_CLOSE_BATCH * 24 + 3, n = 0;
		char *arr = malloc(cap);
		int k = 0;

		if (!arr)
			break;
		arr[n++] = '{';
		while (*head && (*head)->due_ms <= now && k < BRIDGE_CLOSE_BATCH) {
			struct grace *g = *head;

			*head = g->next;
			if (!*head)
				*tail = NULL;
			if (count)
				(*count)--;
			n += (size_t)snprintf(arr + n, cap - n, "%s%s", k ? "," : "", g->key);
			k++;
			free(g);
		}
		arr[n++] = '}';
		arr[n] = '\0';
		presence_close_keys(b, arr);
		free(arr);
	}
}

/* The bridge row had to be created again: register every connection. */
static void presence_reopen_all(struct bridge *b)
{
	for (struct conn *c = b->conns->head; c; c = c->next) {
		const char *params[3] = { b->id, c->key, c->user_id };
		struct breq *q;

		if (c->state != CONN_READY)
			continue;
		q = breq_new(b, NULL, -1, NULL);
		if (q)
			bridge_query(b, BS_PRESENCE_OPEN, 3, params, on_ignore_done, q);
	}
}

static void on_heartbeat_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct breq *q = arg;
	struct bridge *b = q->b;

	(void)row;
	if (st == PG_OK && res && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		unsigned ready = 0;

		for (struct conn *c = b->conns->head; c; c = c->next)
			ready += c->state == CONN_READY;
		if (ready) {
			log_warn("bridge '%s' was missing from the presence table, registering %u connections again",
				 b->id, ready);
			presence_reopen_all(b);
		}
	}
	breq_free(q);
}

static void heartbeat(struct bridge *b)
{
	const char *params[1] = { b->id };
	struct breq *q;

	q = breq_new(b, NULL, -1, NULL);
	if (q)
		bridge_query(b, BS_HEARTBEAT, 1, params, on_heartbeat_done, q);
	/* Reap bridges that died without cleaning up (any bridge may do it). */
	q = breq_new(b, NULL, -1, NULL);
	if (q)
		bridge_query(b, BS_REAP, 0, NULL, on_ignore_done, q);
}

static void beat_cb(lws_sorted_usec_list_t *sul)
{
	struct bridge *b = lws_container_of(sul, struct bridge, beat_sul);
	long every = b->cfg->presence_ttl * 1000 / 3;

	if (!b->stopping && pgloop_ready(b->pg)) {
		heartbeat(b);
		/* Old sessions and idle rate buckets, about once a minute. */
		if (++b->beats * every >= 60000) {
			struct breq *q = breq_new(b, NULL, -1, NULL);

			b->beats = 0;
			if (q)
				bridge_query(b, BS_HOUSEKEEP, 0, NULL, on_ignore_done, q);
		}
	}
	lws_sul_schedule(b->ctx, 0, &b->beat_sul, beat_cb, (lws_usec_t)every * LWS_US_PER_MS);
}

/* ---- the periodic sweep: pings, timeouts, typing expiry, grace ------------------ */

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
	struct bridge *b = lws_container_of(sul, struct bridge, sweep_sul);
	const struct cfg *cfg = b->cfg;
	int64_t now = conn_now_ms();

	conn_expire(b->conns, now);
	b->stats.queue_frames = 0;
	b->stats.queue_max = 0;
	for (struct conn *c = b->conns->head; c; c = c->next) {
		b->stats.queue_frames += c->q.count;
		if (c->q.count > b->stats.queue_max)
			b->stats.queue_max = c->q.count;
		if (c->state == CONN_CLOSING)
			continue;
		if ((c->state == CONN_OPEN || c->state == CONN_AUTHING) && now > c->auth_deadline_ms) {
			conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "no Socket.IO CONNECT in time");
			continue;
		}
		if (c->pong_deadline_ms && now > c->pong_deadline_ms) {
			log_info("connection %s: ping timeout", c->key);
			conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "ping timeout");
			continue;
		}
		if (now >= c->next_ping_ms) {
			c->next_ping_ms = now + cfg->ws_ping_interval;
			if (!c->pong_deadline_ms)
				c->pong_deadline_ms = now + cfg->ws_ping_timeout;
			conn_send(c, b->conns->ping);
			continue;
		}
		for (struct sub *s = c->subs; s; s = s->conn_next) {
			if (s->typing_until_ms && now >= s->typing_until_ms)
				s->typing_until_ms = 0;
			typing_flush(b, s, -1, 0);
		}
	}
	/* Connections past their grace period: one statement per batch. Closes
	 * that failed wait for the database (a failure puts them back). */
	presence_close_due(b, &b->grace_head, &b->grace_tail, NULL, now);
	if (pgloop_ready(b->pg)) {
		unsigned before = b->reclose_n;

		presence_close_due(b, &b->reclose_head, &b->reclose_tail, &b->reclose_n, now);
		b->stats.reclosed += before - b->reclose_n;
	}
	lws_sul_schedule(b->ctx, 0, &b->sweep_sul, sweep_cb, BRIDGE_SWEEP_US);
}

/* ---- NOTIFY payloads ------------------------------------------------------------ */

/* Serializes obj (minus the bus-only members) as a `name` event frame. */
static struct frame *event_frame(const char *name, json_t *obj)
{
	char *s;
	struct frame *f;

	json_object_del(obj, "type");
	s = json_dumps(obj, JSON_COMPACT);
	if (!s)
		return NULL;
	f = sio_event(name, s, strlen(s));
	free(s);
	return f;
}

static void on_range_done(void *arg, enum pg_status st, const PGresult *res, int row);

static void range_request(struct bridge *b, struct breq *q)
{
	char after[24], upto[24], limit[16];
	const char *params[4] = { q->room, after, upto, limit };
	struct room *r;

	snprintf(after, sizeof(after), "%llu", (unsigned long long)q->after);
	snprintf(upto, sizeof(upto), "%llu", (unsigned long long)q->upto);
	snprintf(limit, sizeof(limit), "%d", BRIDGE_RANGE_PAGE);
	b->stats.range_reads[q->for_sub ? 1 : 0]++;
	if (pgloop_query(b->pg, BS_RANGE, 4, params, on_range_done, q) == 0)
		return;
	/* No database now: give up; the reconnect resyncs every room. */
	r = room_find(&b->rooms, q->room);
	if (r) {
		struct conn *c = q->for_sub ? breq_conn(q) : NULL;
		struct sub *s = c ? room_sub_of(c, q->room) : NULL;

		if (!q->for_sub || s)
			room_fill_done(&b->rooms, r, s, q->upto, 0);
	}
	breq_free(q);
}

static void on_range_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct breq *q = arg;
	struct bridge *b = q->b;
	struct room *r = room_find(&b->rooms, q->room);
	struct conn *c = q->for_sub ? breq_conn(q) : NULL;
	struct sub *s = c ? room_sub_of(c, q->room) : NULL;
	int rows = 0;

	(void)row;
	if (!r || (q->for_sub && !s))
		goto out;
	if (st != PG_OK || !res) {
		room_fill_done(&b->rooms, r, s, q->upto, 0);
		goto out;
	}
	rows = PQntuples(res);
	for (int i = 0; i < rows; i++) {
		uint64_t seq = strtoull(PQgetvalue(res, i, 0), NULL, 10);
		struct frame *f = sio_event("new_message", PQgetvalue(res, i, 1),
					    (size_t)PQgetlength(res, i, 1));

		if (!f)
			break;
		room_fill(&b->rooms, r, s, seq, f);
		frame_unref(f);
		q->after = seq;
	}
	if (rows == BRIDGE_RANGE_PAGE && q->after < q->upto) {
		range_request(b, q); /* the next page */
		return;
	}
	room_fill_done(&b->rooms, r, s, q->upto, 1);
out:
	breq_free(q);
}

static void bridge_need_range(void *arg, struct room *r, struct sub *s, uint64_t after,
			      uint64_t upto)
{
	struct bridge *b = arg;
	struct breq *q = breq_new(b, s ? s->conn : NULL, -1, r->id);

	b->stats.gap_reads++;
	if (!q) {
		room_fill_done(&b->rooms, r, s, upto, 0);
		return;
	}
	q->after = after;
	q->upto = upto;
	q->for_sub = s != NULL;
	range_request(b, q);
}

static void notify_message(struct bridge *b, json_t *ev)
{
	const char *room = json_string_value(json_object_get(ev, "room_id"));
	json_t *seqj = json_object_get(ev, "seq"), *msg = json_object_get(ev, "message");
	struct room *r = room ? room_find(&b->rooms, room) : NULL;
	struct frame *f = NULL;

	if (!r || !json_is_integer(seqj) || json_integer_value(seqj) <= 0)
		return;
	if (json_is_object(msg)) {
		char *s = json_dumps(msg, JSON_COMPACT);

		if (s)
			f = sio_event("new_message", s, strlen(s));
		free(s);
	}
	room_message(&b->rooms, r, (uint64_t)json_integer_value(seqj), f);
	frame_unref(f);
}

static void notify_to_room(struct bridge *b, json_t *ev, const char *name, const char *skip_user)
{
	const char *room = json_string_value(json_object_get(ev, "room_id"));
	struct room *r = room ? room_find(&b->rooms, room) : NULL;
	struct frame *f;

	if (!r)
		return;
	f = event_frame(name, ev);
	if (f)
		room_broadcast(r, f, skip_user, 0);
	frame_unref(f);
}

static void notify_user_left(struct bridge *b, json_t *ev)
{
	const char *room = json_string_value(json_object_get(ev, "room_id"));
	const char *uid = json_string_value(json_object_get(json_object_get(ev, "user"), "id"));
	json_t *genj = json_object_get(ev, "member_gen");
	/* Without a number (an older database) it ends every membership. */
	uint64_t gen = json_is_integer(genj) && json_integer_value(genj) >= 0
			       ? (uint64_t)json_integer_value(genj)
			       : UINT64_MAX;
	struct room *r;
	struct sub *s, *next;

	json_object_del(ev, "member_gen");
	notify_to_room(b, ev, "user_left", NULL);
	/*
	 * The user left on some connection: all of them stop receiving the
	 * room, except subscriptions of a later membership (a join_room whose
	 * ack came before this NOTIFY). A pending join learns of it when its
	 * ack comes.
	 */
	r = room && uid ? room_find(&b->rooms, room) : NULL;
	for (s = r ? r->subs : NULL; s; s = next) {
		next = s->room_next;
		if (strcmp(s->conn->user_id, uid) != 0)
			continue;
		if (s->pending) {
			if (gen > s->left_gen)
				s->left_gen = gen;
			continue;
		}
		if (s->gen > gen)
			continue;
		if (s->typing_sent)
			typing_send(b, s->conn, room, 0);
		/* The last subscription frees the room. */
		if (r->nsubs == 1) {
			room_unsubscribe(&b->rooms, s);
			break;
		}
		room_unsubscribe(&b->rooms, s);
	}
}

static void status_to_rooms(struct bridge *b, struct frame *f, const char *const *rooms, int n)
{
	unsigned epoch = ++b->epoch;

	if (!epoch)
		epoch = ++b->epoch;
	for (int i = 0; i < n; i++) {
		struct room *r = room_find(&b->rooms, rooms[i]);

		if (r)
			room_broadcast(r, f, NULL, epoch);
	}
}

static void on_user_rooms_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct breq *q = arg;

	(void)row;
	if (st == PG_OK && res && q->frame) {
		int n = PQntuples(res);
		const char **rooms = calloc((size_t)n + 1, sizeof(*rooms));

		if (rooms) {
			for (int i = 0; i < n; i++)
				rooms[i] = PQgetvalue(res, i, 0);
			status_to_rooms(q->b, q->frame, rooms, n);
			free(rooms);
		}
	}
	breq_free(q);
}

static void notify_status(struct bridge *b, json_t *ev)
{
	json_t *rooms = json_incref(json_object_get(ev, "rooms"));
	const char *uid = json_string_value(json_object_get(ev, "user_id"));
	struct frame *f;

	json_object_del(ev, "rooms");
	f = event_frame("user_status", ev);
	if (!f || !uid)
		goto out;
	if (json_is_array(rooms)) {
		size_t n = json_array_size(rooms);
		const char **ids = calloc(n + 1, sizeof(*ids));

		if (ids) {
			for (size_t i = 0; i < n; i++)
				ids[i] = json_string_value(json_array_get(rooms, i));
			for (size_t i = 0; i < n; i++)
				if (!ids[i])
					ids[i] = "";
			status_to_rooms(b, f, ids, (int)n);
			free(ids);
		}
	} else {
		/* Too many rooms for the payload: read them. */
		const char *params[1] = { uid };
		struct breq *q = breq_new(b, NULL, -1, NULL);

		if (q) {
			q->frame = frame_ref(f);
			bridge_query(b, BS_USER_ROOMS, 1, params, on_user_rooms_done, q);
		}
	}
out:
	frame_unref(f);
	json_decref(rooms);
}

static void notify_room_created(struct bridge *b, json_t *ev)
{
	struct frame *f = event_frame("room_created", ev);

	if (!f)
		return;
	for (struct conn *c = b->conns->head; c; c = c->next)
		if (c->state == CONN_READY)
			conn_send(c, f);
	frame_unref(f);
}

/* A logout: the connections opened with that session end (Socket.IO DISCONNECT). */
static void notify_revoked(struct bridge *b, json_t *ev)
{
	const char *uid = json_string_value(json_object_get(ev, "user_id"));
	const char *hash = json_string_value(json_object_get(ev, "token_hash"));

	if (!uid || !hash)
		return;
	/* A CONNECT of this session still in flight is refused when it returns. */
	snprintf(b->revoked[b->revoked_next], sizeof(b->revoked[0]), "%s", hash);
	b->revoked_next = (b->revoked_next + 1) % BRIDGE_REVOKED;
	for (struct conn *c = b->conns->head; c; c = c->next) {
		if (c->state != CONN_READY || strcmp(c->user_id, uid) != 0 ||
		    strcmp(c->token_hash, hash) != 0)
			continue;
		log_info("connection %s: session revoked, disconnecting", c->key);
		send_frame(c, frame_from("41", 2));
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "session revoked");
	}
}

static void bridge_on_notify(void *arg, const char *payload, size_t len)
{
	struct bridge *b = arg;
	json_t *ev = json_loadb(payload, len, 0, NULL);
	const char *type = json_string_value(json_object_get(ev, "type"));

	if (!type) {
		log_warn("ignored a malformed event on chat_events");
		json_decref(ev);
		return;
	}
	if (json_is_integer(json_object_get(ev, "ts"))) {
		struct timespec now;
		double lag;

		clock_gettime(CLOCK_REALTIME, &now);
		lag = (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6 -
		      (double)json_integer_value(json_object_get(ev, "ts"));
		b->stats.notify_lag_n++;
		b->stats.notify_lag_ms_sum += lag;
		b->stats.notify_lag_ms_last = lag;
		json_object_del(ev, "ts");
	}
	if (strcmp(type, "new_message") == 0)
		notify_message(b, ev);
	else if (strcmp(type, "typing") == 0)
		notify_to_room(b, ev, "typing",
			       json_string_value(json_object_get(ev, "user_id")));
	else if (strcmp(type, "user_joined") == 0)
		notify_to_room(b, ev, "user_joined", NULL);
	else if (strcmp(type, "user_left") == 0)
		notify_user_left(b, ev);
	else if (strcmp(type, "user_status") == 0)
		notify_status(b, ev);
	else if (strcmp(type, "room_created") == 0)
		notify_room_created(b, ev);
	else if (strcmp(type, "session_revoked") == 0)
		notify_revoked(b, ev);
	json_decref(ev);
}

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

	/* A bridge restarted under the same CHAT_BRIDGE_ID: its predecessor's
	 * connections are gone, so are their presence rows (users go offline). */
	if (!reconnected) {
		const char *params[1] = { b->id };
		struct breq *q = breq_new(b, NULL, -1, NULL);

		if (q)
			bridge_query(b, BS_REMOVE, 1, params, on_ignore_done, q);
	}
	heartbeat(b);
	if (reconnected)
		rooms_resync(&b->rooms);
}

/* ---- life cycle ------------------------------------------------------------------ */

int bridge_init(struct bridge *b, const struct cfg *cfg, struct lws_context *ctx,
		struct lws_vhost *vh, struct conn_set *conns)
{
	struct pgloop_ops pops = { bridge_on_notify, bridge_on_listen, bridge_on_query_ready, b };
	struct room_ops rops = { bridge_need_range, b };
	char host[64];

	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->ctx = ctx;
	b->conns = conns;
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
	if (!b->pg)
		return -1;
	lws_sul_schedule(ctx, 0, &b->sweep_sul, sweep_cb, BRIDGE_SWEEP_US);
	lws_sul_schedule(ctx, 0, &b->beat_sul, beat_cb,
			 (lws_usec_t)(cfg->presence_ttl * 1000 / 3) * LWS_US_PER_MS);
	log_info("bridge '%s' starting", b->id);
	return 0;
}

static void on_remove_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct breq *q = arg;

	(void)row;
	(void)res;
	if (st != PG_OK)
		log_warn("cannot remove this bridge's presence rows; other bridges will expire them");
	q->b->removed = 1;
	breq_free(q);
}

void bridge_stop(struct bridge *b)
{
	const char *params[1] = { b->id };
	struct breq *q;

	if (b->stopping)
		return;
	b->stopping = 1;
	b->conns->refusing = 1;
	log_info("stopping: closing %u connections", b->conns->count);
	for (struct conn *c = b->conns->head; c; c = c->next)
		conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
	q = breq_new(b, NULL, -1, NULL);
	if (!q || bridge_query(b, BS_REMOVE, 1, params, on_remove_done, q))
		b->removed = 1;
}

int bridge_stopped(const struct bridge *b)
{
	return b->stopping && b->removed && b->conns->count == 0;
}

void bridge_release(struct bridge *b)
{
	lws_sul_cancel(&b->sweep_sul);
	lws_sul_cancel(&b->beat_sul);
	while (b->grace_head) {
		struct grace *g = b->grace_head;

		b->grace_head = g->next;
		free(g);
	}
	b->grace_tail = NULL;
	b->stopping = 1; /* what pgloop_free fails is not kept to retry */
	pgloop_free(b->pg);
	b->pg = NULL;
	while (b->reclose_head) {
		struct grace *g = b->reclose_head;

		b->reclose_head = g->next;
		free(g);
	}
	b->reclose_tail = NULL;
	b->reclose_n = 0;
	rooms_release(&b->rooms);
	hmap_release(&b->by_key);
	hmap_release(&b->pending_by_user);
}

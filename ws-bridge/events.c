/* events.c -- the client events (join_room, leave_room, send_message, typing, delete_message, mark_read, edit_message), one table. */
#include "events.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "dbcall.h"
#include "dbreq.h"
#include "jsonpeek.h"
#include "reply.h"
#include "typing.h"
#include "valid.h"

#define EVENTS_PAGE 50          /* messages in a join_room ack without since_seq */
#define EVENTS_MEMBERS_PAGE 100 /* members in a join_room ack (the rest: GET /api/users) */
#define EVENTS_MAX_CURSOR 9007199254740991LL
#define EVENTS_MAX_PARAMS 7

/* One client event on its way to the database: what prepare fills. */
struct ev_call {
	struct bridge *b;
	struct conn *c;
	struct member *m; /* c's: READY, so there is a session */
	long long ack_id;
	json_t *payload;
	const char *room;                      /* payload.room_id, checked */
	const char *params[EVENTS_MAX_PARAMS]; /* the statement's parameters */
	char num[EVENTS_MAX_PARAMS][24];       /* room for numbers among them */
	struct dbcall_send send;               /* send_message's and edit_message's parameters */
};

/*
 * One client event. prepare validates the payload and fills the
 * statement's parameters: it returns 0 to run the statement, 1 when it
 * answered the event itself, -1 when it answered a refusal. undo takes
 * back what prepare did when the statement cannot be queued.
 */
struct ev_def {
	const char *name;
	enum bridge_event counter;
	int (*prepare)(struct ev_call *e);
	enum bstmt stmt;
	int nparams;
	const struct dbreq_kind *done;
	void (*undo)(struct ev_call *e);
};

/* Reads payload.room_id; answers and returns -1 when it is missing or cannot exist. */
static int ev_room_id(struct ev_call *e)
{
	struct valid_err ve;
	size_t len;

	if (valid_string_field(e->payload, "room_id", VALID_REQUIRED, &e->room, &len, &ve)) {
		reply_fail(e->c, e->ack_id, ve.code, ve.message);
		return -1;
	}
	if (!valid_room_id(e->room, len)) {
		reply_fail(e->c, e->ack_id, ERR_NOT_FOUND, "room not found");
		return -1;
	}
	return 0;
}

/* Writes a number parameter i. */
static void ev_num(struct ev_call *e, int i, long long v)
{
	snprintf(e->num[i], sizeof(e->num[i]), "%lld", v);
	e->params[i] = e->num[i];
}

/* ---- join_room ------------------------------------------------------------------ */

static int join_prepare(struct ev_call *e)
{
	json_t *since = json_object_get(e->payload, "since_seq");
	const struct cfg *cfg = e->b->cfg;

	if (ev_room_id(e))
		return -1;
	if (since && !json_is_null(since) &&
	    (!json_is_integer(since) || json_integer_value(since) < 0 ||
	     json_integer_value(since) > EVENTS_MAX_CURSOR)) {
		reply_fail(e->c, e->ack_id, ERR_VALIDATION,
			   "since_seq must be a non-negative integer");
		return -1;
	}
	/* Joins on their way count: their subscriptions exist, pending. */
	if (!room_sub_of(e->m, e->room) && e->m->nsubs >= (unsigned)cfg->ws_max_rooms) {
		reply_fail(e->c, e->ack_id, ERR_FORBIDDEN,
			   "too many rooms joined on this connection");
		return -1;
	}
	e->params[0] = e->m->user_id;
	e->params[1] = e->room;
	ev_num(e, 2, since && json_is_integer(since) ? (long long)json_integer_value(since) : 0LL);
	if (!(since && json_is_integer(since)))
		e->params[2] = NULL;
	ev_num(e, 3, EVENTS_PAGE);
	ev_num(e, 4, cfg->ws_recovery_max);
	ev_num(e, 5, EVENTS_MEMBERS_PAGE);
	/* The ack's messages take at most a quarter of the output queue. */
	ev_num(e, 6, cfg->ws_queue_bytes / 4);
	/* Subscribed (pending) before the query: nothing announced meanwhile is lost. */
	if (!room_join_begin(&e->b->rooms, e->m, e->room)) {
		reply_fail(e->c, e->ack_id, ERR_INTERNAL, "out of memory");
		return -1;
	}
	return 0;
}

static void join_undo(struct ev_call *e)
{
	room_join_end(&e->b->rooms, e->m, e->room, 0, 0);
}

/* c may not be READY: without a session it has no join to end. */
static void join_failed(struct dbreq *q, struct conn *c)
{
	struct member *m = session_member(c);

	if (m)
		room_join_end(&q->b->rooms, m, q->room, 0, 0);
}

/* The ack went out: the subscription starts, and catches up after it. */
static void join_done(struct dbreq *q, struct conn *c, const PGresult *res, int row)
{
	struct dbcall_row r;
	json_t *j = NULL;
	json_int_t last;
	long long last_peek;
	uint64_t gen = 0;
	int gen_col = PQfnumber(res, "member_gen");
	struct member *m = session_member(c);
	struct sub *s;

	int have = dbcall_row(&r, res, row) == 0;

	/* The ack's room.last_seq, read out of its text (jsonpeek.h). */
	if (have && jsonpeek_int(r.data, r.data_len, "room", "last_seq", &last_peek) == 0) {
		last = (json_int_t)last_peek;
	} else {
		/* Not a plain integer there: as jansson reads it (0 if none). */
		j = have ? json_loadb(r.data, r.data_len, 0, NULL) : NULL;
		last = json_integer_value(json_object_get(json_object_get(j, "room"), "last_seq"));
		json_decref(j);
	}
	if (gen_col >= 0 && !PQgetisnull(res, row, gen_col))
		gen = strtoull(PQgetvalue(res, row, gen_col), NULL, 10);
	s = room_sub_of(m, q->room);
	if (s && s->pending && s->left_gen && gen <= s->left_gen) {
		/* A leave (elsewhere) ended this membership before the ack came. */
		room_join_end(&q->b->rooms, m, q->room, 0, 0);
		return;
	}
	s = room_join_end(&q->b->rooms, m, q->room, 1, (uint64_t)last);
	if (!s)
		reply_fail(c, -1, ERR_INTERNAL, "cannot subscribe to the room");
	else if (gen > s->gen)
		s->gen = gen;
}

static const struct dbreq_kind join_kind = { join_done, join_failed, 0 };

/* ---- leave_room ----------------------------------------------------------------- */

static int leave_prepare(struct ev_call *e)
{
	if (ev_room_id(e))
		return -1;
	e->params[0] = e->m->user_id;
	e->params[1] = e->room;
	return 0;
}

static void leave_done(struct dbreq *q, struct conn *c, const PGresult *res, int row)
{
	struct sub *s = room_sub_of(session_member(c), q->room);

	(void)res;
	(void)row;
	if (!s)
		return;
	typing_stop(q->b, s);
	/* A join_room sent after this leave keeps the room, pending. */
	if (s->joins)
		room_sub_suspend(s);
	else
		room_unsubscribe(&q->b->rooms, s);
}

static const struct dbreq_kind leave_kind = { leave_done, NULL, 0 };

/* ---- send_message --------------------------------------------------------------- */

static int send_prepare(struct ev_call *e)
{
	const struct cfg *cfg = e->b->cfg;
	struct valid_message m;
	struct valid_err ve;
	const char *const *params;

	if (ev_room_id(e))
		return -1;
	if (valid_message_body(e->payload, cfg, &m, &ve)) {
		reply_fail(e->c, e->ack_id, ve.code, ve.message);
		return -1;
	}
	params = dbcall_send_params(&e->send, e->m->user_id, e->room, m.content, m.client_id,
				    cfg->msg_rate, cfg->msg_rate_window);
	for (int i = 0; i < DBCALL_SEND_NPARAMS; i++)
		e->params[i] = params[i];
	return 0;
}

/*
 * The message reaches the room by its NOTIFY (notify.c). Clients forget a
 * member's typing when a message of theirs arrives: so does the bridge, or
 * a "typing" right after the send would look like no change and never be
 * told.
 */
static void send_done(struct dbreq *q, struct conn *c, const PGresult *res, int row)
{
	struct sub *s = room_sub_of(session_member(c), q->room);

	(void)res;
	(void)row;
	if (s) {
		s->typing_until_ms = 0;
		s->typing_sent = 0;
	}
}

static const struct dbreq_kind send_kind = { send_done, NULL, 0 };

/* ---- typing --------------------------------------------------------------------- */

/* Coalesced by typing.c, which runs the statement (or not): answered here. */
static int typing_prepare(struct ev_call *e)
{
	json_t *it = json_object_get(e->payload, "is_typing");
	struct sub *s;
	int on;

	if (ev_room_id(e))
		return -1;
	if (!json_is_boolean(it)) {
		reply_fail(e->c, e->ack_id, ERR_VALIDATION, "is_typing must be a boolean");
		return -1;
	}
	s = room_sub_of(e->m, e->room);
	if (!s || s->pending) {
		reply_fail(e->c, e->ack_id, ERR_FORBIDDEN, "join the room first");
		return -1;
	}
	on = json_is_true(it);
	/* A refresh just moves the expiry. */
	s->typing_until_ms = on ? conn_now_ms() + e->b->cfg->typing_ttl : 0;
	/* The sweep expires it and sends what the coalescing holds back. */
	conn_due(e->c, conn_now_ms(), conn_now_ms());
	if (!typing_flush(e->b, s, e->ack_id, 1))
		reply_ok(e->c, e->ack_id, "{}", 2);
	return 1;
}

/* Reads payload.id; answers and returns -1 unless it is a message id (written as parameter i). */
static int ev_message_id(struct ev_call *e, int i)
{
	json_t *id = json_object_get(e->payload, "id");

	if (!json_is_integer(id) || json_integer_value(id) < 1 ||
	    json_integer_value(id) > EVENTS_MAX_CURSOR) {
		reply_fail(e->c, e->ack_id, ERR_VALIDATION, "id must be a positive integer");
		return -1;
	}
	ev_num(e, i, (long long)json_integer_value(id));
	return 0;
}

/* ---- delete_message ------------------------------------------------------------- */

/* The message reaches the room's tombstone by its NOTIFY (message_deleted, notify.c). */
static int delete_prepare(struct ev_call *e)
{
	if (ev_room_id(e) || ev_message_id(e, 2))
		return -1;
	e->params[0] = e->m->user_id;
	e->params[1] = e->room;
	return 0;
}

/* delete_message and edit_message: the ack is the statement's data. */
static const struct dbreq_kind delete_kind = { NULL, NULL, 0 };

/* ---- mark_read ------------------------------------------------------------------ */

/*
 * The ack is the statement's data {room_id, last_read_seq, unread}; the
 * user's connections on every bridge hear the move as `read` (notify.c).
 */
static int mark_read_prepare(struct ev_call *e)
{
	struct valid_err ve;
	long long seq;

	if (ev_room_id(e))
		return -1;
	if (valid_seq_field(e->payload, "seq", &seq, &ve)) {
		reply_fail(e->c, e->ack_id, ve.code, ve.message);
		return -1;
	}
	e->params[0] = e->m->user_id;
	e->params[1] = e->room;
	ev_num(e, 2, seq);
	return 0;
}

static const struct dbreq_kind mark_read_kind = { NULL, NULL, 0 };

/* ---- edit_message --------------------------------------------------------------- */

/* The room hears message_updated by its NOTIFY (notify.c); the ack is {ok, message}. */
static int edit_prepare(struct ev_call *e)
{
	const struct cfg *cfg = e->b->cfg;
	const char *content;
	struct valid_err ve;
	const char *const *params;

	if (ev_room_id(e) || ev_message_id(e, 0))
		return -1;
	if (valid_message_text(e->payload, cfg, &content, &ve)) {
		reply_fail(e->c, e->ack_id, ve.code, ve.message);
		return -1;
	}
	params = dbcall_send_params(&e->send, e->m->user_id, e->room, content, e->num[0],
				    cfg->msg_rate, cfg->msg_rate_window);
	for (int i = 0; i < DBCALL_SEND_NPARAMS; i++)
		e->params[i] = params[i];
	return 0;
}

/* ---- the table ------------------------------------------------------------------ */

static const struct ev_def ev_table[] = {
	{ "join_room", BE_JOIN, join_prepare, BS_ENTER, 7, &join_kind, join_undo },
	{ "leave_room", BE_LEAVE, leave_prepare, BS_LEAVE, 2, &leave_kind, NULL },
	{ "send_message", BE_SEND, send_prepare, BS_SEND, DBCALL_SEND_NPARAMS, &send_kind, NULL },
	{ "typing", BE_TYPING, typing_prepare, BS_TYPING, 3, NULL, NULL },
	{ "delete_message", BE_DELETE, delete_prepare, BS_DELETE, 3, &delete_kind, NULL },
	{ "mark_read", BE_MARK_READ, mark_read_prepare, BS_MARK_READ, 3, &mark_read_kind, NULL },
	{ "edit_message", BE_EDIT, edit_prepare, BS_EDIT, DBCALL_SEND_NPARAMS, &delete_kind, NULL },
};

static const struct ev_def *ev_find(const char *name)
{
	for (size_t i = 0; i < sizeof(ev_table) / sizeof(ev_table[0]); i++)
		if (strcmp(ev_table[i].name, name) == 0)
			return &ev_table[i];
	return NULL;
}

/* Runs one event of the table on its payload. */
static void ev_run(const struct ev_def *d, struct ev_call *e)
{
	e->b->stats.events[d->counter]++;
	if (d->prepare(e))
		return;
	if (dbreq_event(e->b, e->c, e->ack_id, e->room, d->done, d->stmt, d->nparams, e->params) &&
	    d->undo)
		d->undo(e);
}

void events_dispatch(struct bridge *b, struct conn *c, const struct sio_packet *p)
{
	struct ev_call e = { .b = b, .c = c, .m = session_member(c), .ack_id = p->ack_id };
	const struct ev_def *d;
	json_t *arr;
	const char *name;

	/* "\u0000" is valid JSON: the validation of each field refuses it. */
	arr = json_loadb(p->data, p->data_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (!json_is_array(arr) || !json_is_string(json_array_get(arr, 0))) {
		reply_fail(c, e.ack_id, ERR_INVALID_JSON,
			   "an event is a JSON array starting with its name");
		goto out;
	}
	name = json_string_value(json_array_get(arr, 0));
	if (strlen(name) != json_string_length(json_array_get(arr, 0)))
		name = ""; /* a NUL inside: no event of ours, whatever comes before it */
	e.payload = json_array_get(arr, 1);
	if (!json_is_object(e.payload)) {
		reply_fail(c, e.ack_id, ERR_VALIDATION, "the event payload must be a JSON object");
		goto out;
	}
	d = ev_find(name);
	if (d) {
		ev_run(d, &e);
	} else {
		b->stats.events[BE_OTHER]++;
		reply_fail(c, e.ack_id, ERR_VALIDATION, "unknown event");
	}
out:
	json_decref(arr);
}

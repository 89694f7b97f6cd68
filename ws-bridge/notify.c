/* notify.c -- the chat_events NOTIFY payloads, dispatched by type from one table. */
#include "notify.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "dbreq.h"
#include "log.h"
#include "session.h"
#include "sio.h"
#include "typing.h"

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

/* A message as a `name` event frame; NULL when it is no object or out of memory. */
static struct frame *message_frame(const char *name, json_t *msg)
{
	char *s;
	struct frame *f;

	if (!json_is_object(msg))
		return NULL;
	s = json_dumps(msg, JSON_COMPACT);
	if (!s)
		return NULL;
	f = sio_event(name, s, strlen(s));
	free(s);
	return f;
}

/* new_message: into the room's ordered delivery (room.c), gaps read back (range.c). */
static void notify_message(struct bridge *b, json_t *ev)
{
	const char *room = json_string_value(json_object_get(ev, "room_id"));
	json_t *seqj = json_object_get(ev, "seq"), *msg = json_object_get(ev, "message");
	struct room *r = room ? room_find(&b->rooms, room) : NULL;
	struct frame *f;

	if (!r || !json_is_integer(seqj) || json_integer_value(seqj) <= 0)
		return;
	f = message_frame("new_message", msg);
	room_message(&b->rooms, r, (uint64_t)json_integer_value(seqj), f);
	frame_unref(f);
}

/*
 * new_messages {room_id, messages: [...]} (migration 0023): one batch's
 * messages of one room, in seq order; each goes into the room's ordered
 * delivery as a new_message of its own would. A message without a
 * positive seq is skipped: the next one's gap reads it back.
 */
static void notify_messages(struct bridge *b, json_t *ev)
{
	const char *room = json_string_value(json_object_get(ev, "room_id"));
	json_t *msgs = json_object_get(ev, "messages"), *msg;
	struct room *r = room ? room_find(&b->rooms, room) : NULL;
	size_t i;

	if (!r || !json_is_array(msgs))
		return;
	json_array_foreach(msgs, i, msg)
	{
		json_t *seqj = json_object_get(msg, "seq");
		struct frame *f;

		if (!json_is_integer(seqj) || json_integer_value(seqj) <= 0)
			continue;
		f = message_frame("new_message", msg);
		/* The room may go (its last subscriber stuck and gone): look again. */
		room_message(&b->rooms, r, (uint64_t)json_integer_value(seqj), f);
		frame_unref(f);
		r = room_find(&b->rooms, room);
		if (!r)
			return;
	}
}

/* The change number of a change NOTIFY, 0 when it has none. */
static uint64_t change_seq_of(json_t *ev)
{
	json_t *c = json_object_get(ev, "change_seq");

	return json_is_integer(c) && json_integer_value(c) > 0 ? (uint64_t)json_integer_value(c)
							       : 0;
}

/*
 * message_updated with its message (an object, not deleted): the room's
 * subscribers get message_updated, the message plus change_seq, in their
 * order of the room, and the edited message replaces the old one in the
 * room's ring (room_message_changed).
 */
static void message_updated(struct room *r, uint64_t seq, uint64_t change_seq, json_t *msg)
{
	json_t *ev = json_deep_copy(msg);
	struct frame *cur = message_frame("new_message", msg), *upd = NULL;

	if (ev && !json_object_set_new(ev, "change_seq", json_integer((json_int_t)change_seq)))
		upd = message_frame("message_updated", ev);
	if (cur && upd)
		room_message_changed(r, seq, change_seq, cur, upd);
	frame_unref(cur);
	frame_unref(upd);
	json_decref(ev);
}

/* An edit too long for its NOTIFY, read back: as message_updated unless it was deleted since. */
static void on_updated_read(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct dbreq *q = arg;
	struct room *r = room_find(&q->b->rooms, q->room);
	json_t *msg = NULL;
	long long cs;

	if (st != PG_OK || !res || !r || row >= PQntuples(res) || PQnfields(res) != 2)
		goto out;
	cs = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	msg = json_loads(PQgetvalue(res, row, 1), 0, NULL);
	if (cs > 0 && json_is_false(json_object_get(msg, "deleted")))
		message_updated(r, q->upto, (uint64_t)cs, msg);
out:
	json_decref(msg);
	dbreq_free(q);
}

/*
 * message_updated {room_id, id, seq, change_seq, message}: see
 * message_updated(). Without message (too long for a NOTIFY) the message
 * is read back first; it then reaches the subscribers after whatever the
 * room delivered meanwhile (docs/notify.md).
 */
static void notify_message_updated(struct bridge *b, json_t *ev)
{
	const char *room = json_string_value(json_object_get(ev, "room_id"));
	json_t *seqj = json_object_get(ev, "seq"), *msg = json_object_get(ev, "message");
	struct room *r = room ? room_find(&b->rooms, room) : NULL;
	uint64_t cs = change_seq_of(ev);
	char seq[24];
	const char *params[2];
	struct dbreq *q;

	if (!r || !json_is_integer(seqj) || json_integer_value(seqj) <= 0 || !cs)
		return;
	if (json_is_object(msg)) {
		message_updated(r, (uint64_t)json_integer_value(seqj), cs, msg);
		return;
	}
	q = dbreq_new(b, NULL, -1, room);
	if (!q)
		return;
	q->upto = (uint64_t)json_integer_value(seqj);
	snprintf(seq, sizeof(seq), "%llu", (unsigned long long)q->upto);
	params[0] = q->room;
	params[1] = seq;
	dbreq_query(b, BS_MESSAGE_READ, 2, params, on_updated_read, q);
}

/*
 * message_deleted {room_id, id, seq, change_seq, message}: the room's
 * subscribers get message_deleted {room_id, id, seq, change_seq} in their
 * order of the room (room_message_changed); message, the tombstone,
 * replaces the text in the room's ring.
 */
static void notify_message_deleted(struct bridge *b, json_t *ev)
{
	const char *room = json_string_value(json_object_get(ev, "room_id"));
	json_t *seqj = json_object_get(ev, "seq"),
	       *msg = json_incref(json_object_get(ev, "message"));
	struct room *r = room ? room_find(&b->rooms, room) : NULL;
	struct frame *tomb = NULL, *del = NULL;

	if (!r || !json_is_integer(seqj) || json_integer_value(seqj) <= 0)
		goto out;
	tomb = message_frame("new_message", msg);
	json_object_del(ev, "message");
	del = event_frame("message_deleted", ev);
	room_message_changed(r, (uint64_t)json_integer_value(seqj), change_seq_of(ev), tomb, del);
out:
	frame_unref(tomb);
	frame_unref(del);
	json_decref(msg);
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

static void notify_typing(struct bridge *b, json_t *ev)
{
	notify_to_room(b, ev, "typing", json_string_value(json_object_get(ev, "user_id")));
}

/* A member of a small room read further (chat_mark_read): the room's "seen by" line. */
static void notify_read_receipt(struct bridge *b, json_t *ev)
{
	notify_to_room(b, ev, "read_receipt", NULL);
}

static void notify_user_joined(struct bridge *b, json_t *ev)
{
	notify_to_room(b, ev, "user_joined", NULL);
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
		if (strcmp(s->member->user_id, uid) != 0)
			continue;
		if (s->pending) {
			if (gen > s->left_gen)
				s->left_gen = gen;
			continue;
		}
		if (s->gen > gen)
			continue;
		typing_stop(b, s);
		/* The last one frees the room: next is NULL then. */
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
	struct dbreq *q = arg;

	(void)row;
	if (st == PG_OK && res && q->frame) {
		int n = PQntuples(res), col = PQfnumber(res, "room_id");
		const char **rooms = col >= 0 ? calloc((size_t)n + 1, sizeof(*rooms)) : NULL;

		if (rooms) {
			for (int i = 0; i < n; i++)
				rooms[i] = PQgetvalue(res, i, col);
			status_to_rooms(q->b, q->frame, rooms, n);
			free(rooms);
		}
	}
	dbreq_free(q);
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
		struct dbreq *q = dbreq_new(b, NULL, -1, NULL);

		if (q) {
			q->frame = frame_ref(f);
			dbreq_query(b, BS_USER_ROOMS, 1, params, on_user_rooms_done, q);
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

/*
 * An event for one user (room_added, room_removed, read): every READY connection
 * of user_id gets it, without user_id. A room_removed comes after the
 * room's user_left in the same transaction, which already ended the
 * user's subscriptions of the room here (notify_user_left).
 */
static void notify_to_user(struct bridge *b, json_t *ev, const char *name)
{
	char uid[64];
	const char *u = json_string_value(json_object_get(ev, "user_id"));
	struct frame *f;

	if (!u || strlen(u) >= sizeof(uid))
		return;
	memcpy(uid, u, strlen(u) + 1); /* ev's copy goes with the member */
	json_object_del(ev, "user_id");
	f = event_frame(name, ev);
	if (!f)
		return;
	for (struct conn *c = b->conns->head; c; c = c->next)
		if (c->state == CONN_READY && strcmp(session_user(c), uid) == 0)
			conn_send(c, f);
	frame_unref(f);
}

static void notify_room_added(struct bridge *b, json_t *ev)
{
	notify_to_user(b, ev, "room_added");
}

static void notify_room_removed(struct bridge *b, json_t *ev)
{
	notify_to_user(b, ev, "room_removed");
}

/* A read position moved (mark_read, POST /api/rooms/{id}/read): the user's tabs clear their badge. */
static void notify_read(struct bridge *b, json_t *ev)
{
	notify_to_user(b, ev, "read");
}

/* A logout: the connections opened with that session end (Socket.IO DISCONNECT). */
static void notify_revoked(struct bridge *b, json_t *ev)
{
	const char *uid = json_string_value(json_object_get(ev, "user_id"));
	const char *hash = json_string_value(json_object_get(ev, "token_hash"));

	if (uid && hash)
		session_revoke(b, uid, hash);
}

/* A site ban (chatctl ban): every connection of the user ends, site-token ones too. */
static void notify_banned(struct bridge *b, json_t *ev)
{
	const char *uid = json_string_value(json_object_get(ev, "user_id"));

	if (uid)
		session_ban(b, uid);
}

/* The NOTIFY types of chat_events and their handlers. */
static const struct {
	const char *type;
	void (*handle)(struct bridge *b, json_t *ev);
} notify_table[] = {
	{ "new_message", notify_message },
	{ "new_messages", notify_messages },
	{ "typing", notify_typing },
	{ "user_joined", notify_user_joined },
	{ "user_left", notify_user_left },
	{ "user_status", notify_status },
	{ "room_created", notify_room_created },
	{ "session_revoked", notify_revoked },
	{ "room_added", notify_room_added },
	{ "room_removed", notify_room_removed },
	{ "message_deleted", notify_message_deleted },
	{ "user_banned", notify_banned },
	{ "read", notify_read },
	{ "read_receipt", notify_read_receipt },
	{ "user_banned", notify_banned },
	{ "message_updated", notify_message_updated },
};

/* Records how long the NOTIFY took from the database (its "ts") to here. */
static void notify_lag(struct bridge *b, json_t *ev)
{
	struct timespec now;
	long long lag_us;

	if (!json_is_integer(json_object_get(ev, "ts")))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	lag_us = (long long)now.tv_sec * 1000000LL + now.tv_nsec / 1000 -
		(long long)json_integer_value(json_object_get(ev, "ts")) * 1000LL;
	/* Clocks of two hosts may disagree by a little: never below zero. */
	histo_observe(&b->stats.delivery, lag_us > 0 ? (unsigned long long)lag_us : 0);
	json_object_del(ev, "ts");
}

void notify_dispatch(void *arg, const char *payload, size_t len)
{
	struct bridge *b = arg;
	json_t *ev = json_loadb(payload, len, 0, NULL);
	const char *type = json_string_value(json_object_get(ev, "type"));

	if (!type) {
		log_warn("ignored a malformed event on chat_events");
		json_decref(ev);
		return;
	}
	notify_lag(b, ev);
	for (size_t i = 0; i < sizeof(notify_table) / sizeof(notify_table[0]); i++)
		if (strcmp(type, notify_table[i].type) == 0) {
			notify_table[i].handle(b, ev);
			break;
		}
	json_decref(ev);
}

/* room.c -- room subscriptions and ordered, gap-free fan-out of one frame to many. */
#include "room.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void rooms_init(struct rooms *rs, const struct room_ops *ops)
{
	hmap_init(&rs->map);
	rs->ops = *ops;
}

static void room_free(struct room *r)
{
	for (int i = 0; i < ROOM_RING; i++)
		frame_unref(r->ring[i].f);
	free(r);
}

static void rooms_free_one(void *value, void *arg)
{
	(void)arg;
	room_free(value);
}

void rooms_release(struct rooms *rs)
{
	hmap_each(&rs->map, rooms_free_one, NULL);
	hmap_release(&rs->map);
}

struct room *room_find(struct rooms *rs, const char *id)
{
	return hmap_get(&rs->map, id, strlen(id));
}

struct sub *room_sub_of(struct conn *c, const char *id)
{
	for (struct sub *s = c->subs; s; s = s->conn_next)
		if (strcmp(s->room->id, id) == 0)
			return s;
	return NULL;
}

static struct frame *room_ring_get(const struct room *r, uint64_t seq)
{
	const struct frame *f = NULL;

	if (r->ring[seq % ROOM_RING].seq == seq)
		f = r->ring[seq % ROOM_RING].f;
	return (struct frame *)(uintptr_t)f;
}

/* Brings one subscriber up to the room's last_seq from the ring, or asks. */
static void sub_catch_up(struct rooms *rs, struct sub *s)
{
	struct room *r = s->room;

	while (!s->catching && s->last < r->last_seq) {
		struct frame *f = room_ring_get(r, s->last + 1);

		if (!f) {
			s->catching = 1;
			rs->ops.need_range(rs->ops.arg, r, s, s->last, r->last_seq);
			return;
		}
		if (conn_send(s->conn, f))
			return;
		s->last++;
	}
}

struct sub *room_subscribe(struct rooms *rs, struct conn *c, const char *id, uint64_t snapshot)
{
	struct room *r;
	struct sub *s = room_sub_of(c, id);
	size_t idlen = strlen(id);

	if (s)
		return s;
	if (idlen >= sizeof(r->id))
		return NULL;
	r = room_find(rs, id);
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
		memcpy(r->id, id, idlen + 1);
		if (hmap_put(&rs->map, r->id, idlen, r)) {
			free(r);
			return NULL;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		if (!r->subs)
			room_free(hmap_del(&rs->map, r->id, idlen));
		return NULL;
	}
	if (!r->seq_known) {
		r->last_seq = snapshot;
		r->seq_known = 1;
	}
	s->room = r;
	s->conn = c;
	s->last = snapshot;
	s->room_next = r->subs;
	if (r->subs)
		r->subs->room_prev = s;
	r->subs = s;
	r->nsubs++;
	s->conn_next = c->subs;
	c->subs = s;
	c->nsubs++;
	/* Messages delivered here after the snapshot was taken: from the ring. */
	sub_catch_up(rs, s);
	return s;
}

void room_unsubscribe(struct rooms *rs, struct sub *s)
{
	struct room *r = s->room;
	struct conn *c = s->conn;
	struct sub **pp;

	for (pp = &c->subs; *pp; pp = &(*pp)->conn_next)
		if (*pp == s) {
			*pp = s->conn_next;
			c->nsubs--;
			break;
		}
	if (s->room_prev)
		s->room_prev->room_next = s->room_next;
	else
		r->subs = s->room_next;
	if (s->room_next)
		s->room_next->room_prev = s->room_prev;
	r->nsubs--;
	free(s);
	if (!r->subs)
		room_free(hmap_del(&rs->map, r->id, strlen(r->id)));
}

void room_unsubscribe_all(struct rooms *rs, struct conn *c)
{
	while (c->subs)
		room_unsubscribe(rs, c->subs);
}

/* Delivers the next message of the room to everyone who lacks only it. */
static void room_deliver(struct rooms *rs, struct room *r, uint64_t seq, struct frame *f)
{
	struct sub *s, *next;

	frame_unref(r->ring[seq % ROOM_RING].f);
	r->ring[seq % ROOM_RING].seq = seq;
	r->ring[seq % ROOM_RING].f = frame_ref(f);
	r->last_seq = seq;
	for (s = r->subs; s; s = next) {
		next = s->room_next;
		if (s->catching || s->last >= seq)
			continue;
		if (s->last + 1 == seq) {
			if (conn_send(s->conn, f) == 0)
				s->last = seq;
		} else {
			sub_catch_up(rs, s);
		}
	}
}

static void room_ask_gap(struct rooms *rs, struct room *r, uint64_t upto)
{
	r->filling = 1;
	if (upto > r->fill_want)
		r->fill_want = upto;
	rs->ops.need_range(rs->ops.arg, r, NULL, r->last_seq, upto);
}

void room_message(struct rooms *rs, struct room *r, uint64_t seq, struct frame *f)
{
	if (!r->seq_known || seq <= r->last_seq)
		return;
	if (r->filling) {
		if (seq > r->fill_want)
			r->fill_want = seq;
		return;
	}
	if (f && seq == r->last_seq + 1) {
		room_deliver(rs, r, seq, f);
		return;
	}
	log_info("room '%s': message %llu announced after %llu, reading the gap", r->id,
		 (unsigned long long)seq, (unsigned long long)r->last_seq);
	room_ask_gap(rs, r, seq);
}

void room_fill(struct rooms *rs, struct room *r, struct sub *s, uint64_t seq, struct frame *f)
{
	if (!s) {
		if (seq == r->last_seq + 1)
			room_deliver(rs, r, seq, f);
		return;
	}
	if (seq == s->last + 1 && conn_send(s->conn, f) == 0)
		s->last = seq;
}

void room_fill_done(struct rooms *rs, struct room *r, struct sub *s, uint64_t upto, int ok)
{
	(void)upto;
	if (s) {
		s->catching = 0;
		if (ok)
			sub_catch_up(rs, s);
		return;
	}
	r->filling = 0;
	if (ok && r->fill_want > r->last_seq)
		room_ask_gap(rs, r, r->fill_want);
}

static void room_resync_one(void *value, void *arg)
{
	struct room *r = value;
	struct rooms *rs = arg;

	/* Everything after last_seq, however much: the bridge pages through it. */
	if (r->seq_known && !r->filling) {
		r->filling = 1;
		rs->ops.need_range(rs->ops.arg, r, NULL, r->last_seq, INT64_MAX);
	}
}

void rooms_resync(struct rooms *rs)
{
	hmap_each(&rs->map, room_resync_one, rs);
}

void room_broadcast(struct room *r, struct frame *f, const char *skip_user, unsigned epoch)
{
	for (struct sub *s = r->subs; s; s = s->room_next) {
		struct conn *c = s->conn;

		if (skip_user && strcmp(c->user_id, skip_user) == 0)
			continue;
		if (epoch) {
			if (c->mark == epoch)
				continue;
			c->mark = epoch;
		}
		conn_send(c, f);
	}
}

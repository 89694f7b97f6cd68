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
	for (int i = 0; i < ROOM_CHANGED; i++)
		frame_unref(r->changed[i].f);
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

struct sub *room_sub_of(const struct member *m, const char *id)
{
	for (struct sub *s = m ? m->subs : NULL; s; s = s->member_next)
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

/* Keeps f as the ring's message seq. f may already be the ring's own (a current one stays so). */
static void room_ring_put(struct room *r, uint64_t seq, struct frame *f)
{
	struct frame *old = r->ring[seq % ROOM_RING].f;

	if (old != f || r->ring[seq % ROOM_RING].seq != seq)
		r->ring[seq % ROOM_RING].current = 0;
	r->ring[seq % ROOM_RING].seq = seq;
	r->ring[seq % ROOM_RING].f = frame_ref(f);
	frame_unref(old);
}

/* Empties the ring's slot of seq: a subscriber that lacks it reads it back. */
static void room_ring_forget(struct room *r, uint64_t seq)
{
	if (r->ring[seq % ROOM_RING].seq != seq)
		return;
	frame_unref(r->ring[seq % ROOM_RING].f);
	r->ring[seq % ROOM_RING].f = NULL;
	r->ring[seq % ROOM_RING].seq = 0;
	r->ring[seq % ROOM_RING].current = 0;
}

/* The latest change of seq the room remembers (its index), or -1. */
static int room_changed_get(const struct room *r, uint64_t seq)
{
	int best = -1;

	for (int i = 0; i < ROOM_CHANGED; i++)
		if (r->changed[i].f && r->changed[i].seq == seq &&
		    (best < 0 || r->changed[i].n > r->changed[best].n))
			best = i;
	return best;
}

/*
 * Queues f to a subscriber. A connection that takes no more is closing
 * (its queue overflowed, or it was closing already): the subscription is
 * stuck for good, so that nothing is read back for it again.
 */
static int sub_send(struct sub *s, struct frame *f)
{
	if (s->stuck || conn_send(s->member->conn, f)) {
		s->stuck = 1;
		return -1;
	}
	return 0;
}

/* Brings one subscriber up to the room's last_seq from the ring, or asks. */
static void sub_catch_up(struct rooms *rs, struct sub *s)
{
	struct room *r = s->room;

	if (s->member->conn->state == CONN_CLOSING)
		s->stuck = 1;
	while (!s->catching && !s->pending && !s->stuck && s->last < r->last_seq) {
		struct frame *f = room_ring_get(r, s->last + 1);

		if (!f) {
			s->catching = 1;
			rs->ops.need_range(rs->ops.arg, r, s, s->last, r->last_seq);
			return;
		}
		if (sub_send(s, f))
			return;
		s->last++;
	}
}

static void room_deliver(struct rooms *rs, struct room *r, uint64_t seq, struct frame *f);
static void room_ask_gap(struct rooms *rs, struct room *r, uint64_t upto);

/* A new subscription of m to room id (made with its room when needed), pending. */
static struct sub *sub_new(struct rooms *rs, struct member *m, const char *id)
{
	struct room *r;
	struct sub *s;
	size_t idlen = strlen(id);

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
	s->room = r;
	s->member = m;
	s->pending = 1;
	s->changed_mark = r->changed_n;
	s->room_next = r->subs;
	if (r->subs)
		r->subs->room_prev = s;
	r->subs = s;
	s->member_next = m->subs;
	m->subs = s;
	m->nsubs++;
	return s;
}

/*
 * The first live subscription of a room: the room starts at its snapshot
 * and delivers what was announced meanwhile, from the ring or read back.
 */
static void room_start(struct rooms *rs, struct room *r, uint64_t snapshot)
{
	uint64_t want = r->early_max;
	int resync = r->resync;

	r->last_seq = snapshot;
	r->seq_known = 1;
	r->early_max = 0;
	r->resync = 0;
	while (want > r->last_seq) {
		struct frame *f = room_ring_get(r, r->last_seq + 1);

		if (!f)
			break;
		room_deliver(rs, r, r->last_seq + 1, f);
	}
	if (resync) {
		/* The LISTEN connection was lost while the join was on its way. */
		r->filling = 1;
		rs->ops.need_range(rs->ops.arg, r, NULL, r->last_seq, INT64_MAX);
	} else if (want > r->last_seq) {
		room_ask_gap(rs, r, want);
	}
}

struct sub *room_subscribe(struct rooms *rs, struct member *m, const char *id, uint64_t snapshot)
{
	struct sub *s = room_sub_of(m, id);

	if (s && !s->pending)
		return s;
	if (!s) {
		s = sub_new(rs, m, id);
		if (!s)
			return NULL;
	}
	s->pending = 0;
	s->left_gen = 0;
	s->last = snapshot;
	/*
	 * Changes announced while the join was on its way, in their order: its
	 * messages may predate them.
	 */
	for (unsigned n = s->changed_mark + 1; n <= s->room->changed_n; n++) {
		const struct room *r = s->room;
		unsigned i = (n - 1) % ROOM_CHANGED;

		if (r->changed[i].n == n && r->changed[i].seq <= snapshot &&
		    sub_send(s, r->changed[i].f))
			break;
	}
	s->changed_mark = s->room->changed_n;
	if (!s->room->seq_known)
		room_start(rs, s->room, snapshot);
	/* Messages delivered here after the snapshot was taken: from the ring. */
	sub_catch_up(rs, s);
	return s;
}

struct sub *room_join_begin(struct rooms *rs, struct member *m, const char *id)
{
	struct sub *s = room_sub_of(m, id);

	if (!s)
		s = sub_new(rs, m, id);
	if (s)
		s->joins++;
	return s;
}

struct sub *room_join_end(struct rooms *rs, struct member *m, const char *id, int ok,
			  uint64_t snapshot)
{
	struct sub *s = room_sub_of(m, id);

	if (s && s->joins)
		s->joins--;
	if (ok)
		return room_subscribe(rs, m, id, snapshot);
	if (s && s->pending && !s->joins)
		room_unsubscribe(rs, s);
	return NULL;
}

void room_sub_suspend(struct sub *s)
{
	s->pending = 1;
	s->typing_until_ms = 0;
	s->typing_sent = 0;
}

void room_unsubscribe(struct rooms *rs, struct sub *s)
{
	struct room *r = s->room;
	struct member *m = s->member;
	struct sub **pp;

	for (pp = &m->subs; *pp; pp = &(*pp)->member_next)
		if (*pp == s) {
			*pp = s->member_next;
			m->nsubs--;
			break;
		}
	if (s->room_prev)
		s->room_prev->room_next = s->room_next;
	else
		r->subs = s->room_next;
	if (s->room_next)
		s->room_next->room_prev = s->room_prev;
	free(s);
	if (!r->subs)
		room_free(hmap_del(&rs->map, r->id, strlen(r->id)));
}

void room_unsubscribe_all(struct rooms *rs, struct member *m)
{
	while (m->subs)
		room_unsubscribe(rs, m->subs);
}

/* Delivers the next message of the room to everyone who lacks only it. */
static void room_deliver(struct rooms *rs, struct room *r, uint64_t seq, struct frame *f)
{
	struct sub *s, *next;

	/* f may be the ring's own (a message kept while the first join was on its way). */
	room_ring_put(r, seq, f);
	r->last_seq = seq;
	for (s = r->subs; s; s = next) {
		next = s->room_next;
		if (s->catching || s->pending || s->stuck || s->last >= seq)
			continue;
		if (s->last + 1 == seq) {
			if (sub_send(s, f) == 0)
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
	if (!r->seq_known) {
		/* Only pending joins here: keep it for the first snapshot. */
		if (f)
			room_ring_put(r, seq, f);
		if (seq > r->early_max)
			r->early_max = seq;
		return;
	}
	if (seq <= r->last_seq)
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

void room_message_changed(struct room *r, uint64_t seq, uint64_t change_seq, struct frame *cur,
			  struct frame *ev)
{
	unsigned k = r->changed_n % ROOM_CHANGED;
	int last = room_changed_get(r, seq);

	/* 0: a NOTIFY without the number (an older database) is never dropped. */
	if (change_seq && last >= 0 && r->changed[last].change_seq >= change_seq)
		return;
	if (r->ring[seq % ROOM_RING].seq == seq) {
		if (cur) {
			room_ring_put(r, seq, cur);
			r->ring[seq % ROOM_RING].current = 1;
		} else {
			room_ring_forget(r, seq);
		}
	}
	if (!ev)
		return;
	frame_unref(r->changed[k].f);
	r->changed[k].f = frame_ref(ev);
	r->changed[k].seq = seq;
	r->changed[k].change_seq = change_seq;
	r->changed[k].n = ++r->changed_n;
	for (struct sub *s = r->subs; s; s = s->room_next)
		if (!s->pending && !s->stuck && s->last >= seq)
			sub_send(s, ev);
}

/*
 * A message read back from the database for seq: when it changed since,
 * the ring's current frame replaces it, or (none there) *late is the
 * latest change event to send after it. Returns the frame to deliver.
 */
static struct frame *room_read_back(const struct room *r, uint64_t seq, struct frame *f,
				    struct frame **late)
{
	int i = room_changed_get(r, seq);

	*late = NULL;
	if (i < 0)
		return f;
	if (r->ring[seq % ROOM_RING].seq == seq && r->ring[seq % ROOM_RING].current)
		return r->ring[seq % ROOM_RING].f;
	*late = r->changed[i].f;
	return f;
}

void room_fill(struct rooms *rs, struct room *r, struct sub *s, uint64_t seq, struct frame *f)
{
	struct frame *late;

	f = room_read_back(r, seq, f, &late);
	if (!s) {
		if (seq != r->last_seq + 1)
			return;
		room_deliver(rs, r, seq, f);
		if (!late)
			return;
		/* The text may be stale: those who got it hear of the change,
		 * the others read the message back. */
		room_ring_forget(r, seq);
		for (s = r->subs; s; s = s->room_next)
			if (!s->pending && !s->stuck && s->last >= seq)
				sub_send(s, late);
		return;
	}
	if (!s->pending && seq == s->last + 1 && sub_send(s, f) == 0) {
		s->last = seq;
		if (late)
			sub_send(s, late);
	}
}

void room_fill_done(struct rooms *rs, struct room *r, struct sub *s, uint64_t upto, int ok)
{
	(void)upto;
	if (s) {
		s->catching = 0;
		if (ok && !s->stuck)
			sub_catch_up(rs, s);
		return;
	}
	r->filling = 0;
	if (r->resync) {
		/* Covers fill_want too: everything after last_seq. */
		r->resync = 0;
		r->filling = 1;
		rs->ops.need_range(rs->ops.arg, r, NULL, r->last_seq, INT64_MAX);
		return;
	}
	if (ok && r->fill_want > r->last_seq)
		room_ask_gap(rs, r, r->fill_want);
}

static void room_resync_one(void *value, void *arg)
{
	struct room *r = value;
	struct rooms *rs = arg;

	/* Everything after last_seq, however much: the bridge pages through it;
	 * after the snapshot or the gap read under way, when there is one. */
	if (!r->seq_known || r->filling) {
		r->resync = 1;
	} else {
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
		struct member *m = s->member;

		if (s->pending)
			continue;
		if (skip_user && strcmp(m->user_id, skip_user) == 0)
			continue;
		if (epoch) {
			if (m->mark == epoch)
				continue;
			m->mark = epoch;
		}
		conn_send(m->conn, f);
	}
}

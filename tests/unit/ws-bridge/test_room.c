/* test_room.c -- tests ws-bridge/room.c: ordered, gap-free fan-out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "room.h"

struct ask {
	int n;
	struct room *room;
	struct sub *sub;
	uint64_t after, upto;
};

static void need_range(void *arg, struct room *r, struct sub *s, uint64_t after, uint64_t upto)
{
	struct ask *a = arg;

	a->n++;
	a->room = r;
	a->sub = s;
	a->after = after;
	a->upto = upto;
}

static struct cfg cfg;
static struct conn_set cs;

/* A member of user on a connection of its own (as the session layer keeps one). */
static struct member *mkmember(const char *user)
{
	struct member *m = calloc(1, sizeof(*m));
	struct conn *c = calloc(1, sizeof(*c));

	c->cs = &cs;
	c->transport = CONN_WEBSOCKET; /* no lws connection: frames stay queued */
	c->state = CONN_READY;
	outq_init(&c->q, 1000, 1 << 20);
	m->conn = c;
	snprintf(m->user_id, sizeof(m->user_id), "%s", user);
	return m;
}

static void freemember(struct rooms *rs, struct member *m)
{
	room_unsubscribe_all(rs, m);
	outq_release(&m->conn->q);
	free(m->conn);
	free(m);
}

static struct frame *msg(uint64_t seq)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "m%llu", (unsigned long long)seq);

	return frame_from(buf, (size_t)n);
}

static void deliver(struct rooms *rs, struct room *r, uint64_t seq)
{
	struct frame *f = msg(seq);

	room_message(rs, r, seq, f);
	frame_unref(f);
}

static void fill(struct rooms *rs, struct room *r, struct sub *s, uint64_t seq)
{
	struct frame *f = msg(seq);

	room_fill(rs, r, s, seq, f);
	frame_unref(f);
}

/* Pops every queued frame of m and checks they are m<first>..m<last>. */
static void expect(struct member *m, uint64_t first, uint64_t last)
{
	struct conn *c = m->conn;
	char want[32];

	for (uint64_t s = first; s <= last; s++) {
		struct frame *f = outq_peek(&c->q);
		int n = snprintf(want, sizeof(want), "m%llu", (unsigned long long)s);

		assert_non_null(f);
		assert_int_equal(f->len, (size_t)n);
		assert_memory_equal(frame_payload(f), want, (size_t)n);
		outq_pop(&c->q);
	}
	assert_null(outq_peek(&c->q));
}

static void test_in_order_and_gaps(void **state)
{
	struct ask a = { 0 };
	struct room_ops ops = { need_range, &a };
	struct rooms rs;
	struct member *m1 = mkmember("u1");
	struct room *r;

	(void)state;
	rooms_init(&rs, &ops);
	assert_non_null(room_subscribe(&rs, m1, "r", 5));
	r = room_find(&rs, "r");
	assert_non_null(r);
	deliver(&rs, r, 6);
	deliver(&rs, r, 6); /* a repeat is dropped */
	deliver(&rs, r, 4); /* and an old one */
	expect(m1, 6, 6);
	deliver(&rs, r, 8); /* 7 is missing: read it first */
	assert_int_equal(a.n, 1);
	assert_null(a.sub);
	assert_int_equal(a.after, 6);
	assert_int_equal(a.upto, 8);
	expect(m1, 1, 0);
	deliver(&rs, r, 9); /* arrives while the gap is read */
	fill(&rs, r, NULL, 7);
	fill(&rs, r, NULL, 8);
	room_fill_done(&rs, r, NULL, 8, 1);
	expect(m1, 7, 8);
	assert_int_equal(a.n, 2); /* and asks for what came meanwhile */
	assert_int_equal(a.after, 8);
	assert_int_equal(a.upto, 9);
	fill(&rs, r, NULL, 9);
	room_fill_done(&rs, r, NULL, 9, 1);
	expect(m1, 9, 9);
	assert_int_equal(a.n, 2);
	/* A reference without the message is a gap of one. */
	room_message(&rs, r, 10, NULL);
	assert_int_equal(a.n, 3);
	assert_int_equal(a.after, 9);
	assert_int_equal(a.upto, 10);
	freemember(&rs, m1);
	assert_null(room_find(&rs, "r")); /* the last subscriber frees the room */
	rooms_release(&rs);
}

static void test_late_and_early_subscribers(void **state)
{
	struct ask a = { 0 };
	struct room_ops ops = { need_range, &a };
	struct rooms rs;
	struct member *m1 = mkmember("u1"), *m2 = mkmember("u2"), *m3 = mkmember("u3");
	struct room *r;

	(void)state;
	rooms_init(&rs, &ops);
	room_subscribe(&rs, m1, "r", 0);
	r = room_find(&rs, "r");
	for (uint64_t s = 1; s <= 8; s++)
		deliver(&rs, r, s);
	expect(m1, 1, 8);
	/* m2's snapshot was taken before 7 and 8 were delivered: from the ring. */
	room_subscribe(&rs, m2, "r", 6);
	expect(m2, 7, 8);
	/* m3's snapshot is ahead of the room (9 is still on its way): no repeat. */
	room_subscribe(&rs, m3, "r", 9);
	deliver(&rs, r, 9);
	deliver(&rs, r, 10);
	expect(m1, 9, 10);
	expect(m2, 9, 10);
	expect(m3, 10, 10);
	assert_int_equal(a.n, 0);
	freemember(&rs, m1);
	freemember(&rs, m2);
	freemember(&rs, m3);
	rooms_release(&rs);
}

static void test_catch_up_beyond_the_ring(void **state)
{
	struct ask a = { 0 };
	struct room_ops ops = { need_range, &a };
	struct rooms rs;
	struct member *m1 = mkmember("u1"), *m2 = mkmember("u2");
	struct room *r;
	struct sub *s2;

	(void)state;
	rooms_init(&rs, &ops);
	room_subscribe(&rs, m1, "r", 0);
	r = room_find(&rs, "r");
	for (uint64_t s = 1; s <= ROOM_RING + 10; s++)
		deliver(&rs, r, s);
	expect(m1, 1, ROOM_RING + 10);
	s2 = room_subscribe(&rs, m2, "r", 2);
	assert_int_equal(a.n, 1);
	assert_ptr_equal(a.sub, s2);
	assert_int_equal(a.after, 2);
	assert_int_equal(a.upto, ROOM_RING + 10);
	deliver(&rs, r, ROOM_RING + 11); /* m2 is catching up: held back */
	expect(m1, ROOM_RING + 11, ROOM_RING + 11);
	expect(m2, 1, 0);
	for (uint64_t s = 3; s <= ROOM_RING + 10; s++)
		fill(&rs, r, s2, s);
	room_fill_done(&rs, r, s2, ROOM_RING + 10, 1);
	expect(m2, 3, ROOM_RING + 11);
	freemember(&rs, m1);
	freemember(&rs, m2);
	rooms_release(&rs);
}

static void test_broadcast_skip_and_dedupe(void **state)
{
	struct ask a = { 0 };
	struct room_ops ops = { need_range, &a };
	struct rooms rs;
	struct member *m1 = mkmember("alice"), *m2 = mkmember("bob");
	struct frame *f = frame_from("t", 1);

	(void)state;
	rooms_init(&rs, &ops);
	room_subscribe(&rs, m1, "r1", 0);
	room_subscribe(&rs, m2, "r1", 0);
	room_subscribe(&rs, m2, "r2", 0);
	room_broadcast(room_find(&rs, "r1"), f, "alice", 0);
	assert_int_equal(m1->conn->q.count, 0);
	assert_int_equal(m2->conn->q.count, 1);
	/* One epoch: a connection in both rooms gets the frame once. */
	room_broadcast(room_find(&rs, "r1"), f, NULL, 7);
	room_broadcast(room_find(&rs, "r2"), f, NULL, 7);
	assert_int_equal(m1->conn->q.count, 1);
	assert_int_equal(m2->conn->q.count, 2);
	frame_unref(f);
	freemember(&rs, m1);
	freemember(&rs, m2);
	rooms_release(&rs);
}

/*
 * The first join of a room on this bridge: a message commits after the
 * join read last_seq = 2 and its NOTIFY arrives before the ack. It must
 * reach the connection once the ack is in, as must one announced only by
 * reference (read back), and nothing at or before the snapshot.
 */
static void test_first_join_keeps_what_is_announced_meanwhile(void **state)
{
	struct ask a = { 0 };
	struct room_ops ops = { need_range, &a };
	struct rooms rs;
	struct member *m1 = mkmember("u1");
	struct sub *s;
	struct room *r;

	(void)state;
	rooms_init(&rs, &ops);
	s = room_join_begin(&rs, m1, "r");
	assert_non_null(s);
	assert_true(s->pending);
	assert_int_equal(m1->nsubs, 1); /* counts against the room limit at once */
	r = room_find(&rs, "r");
	assert_non_null(r);
	deliver(&rs, r, 2); /* committed before the snapshot: a repeat */
	deliver(&rs, r, 3); /* committed after it, announced before the ack */
	expect(m1, 1, 0);   /* nothing before the ack */
	assert_ptr_equal(room_join_end(&rs, m1, "r", 1, 2), s);
	assert_false(s->pending);
	expect(m1, 3, 3);
	assert_int_equal(a.n, 0);
	deliver(&rs, r, 4);
	expect(m1, 4, 4);
	freemember(&rs, m1);

	/* The same with a message announced by reference only: read after the ack. */
	m1 = mkmember("u1");
	s = room_join_begin(&rs, m1, "q");
	r = room_find(&rs, "q");
	room_message(&rs, r, 6, NULL);
	deliver(&rs, r, 7);
	assert_int_equal(a.n, 0);
	room_join_end(&rs, m1, "q", 1, 5);
	assert_int_equal(a.n, 1);
	assert_null(a.sub);
	assert_int_equal(a.after, 5);
	assert_int_equal(a.upto, 7);
	fill(&rs, r, NULL, 6);
	fill(&rs, r, NULL, 7);
	room_fill_done(&rs, r, NULL, 7, 1);
	expect(m1, 6, 7);
	freemember(&rs, m1);

	/* And a LISTEN reconnect while the join was on its way: read everything after. */
	m1 = mkmember("u1");
	room_join_begin(&rs, m1, "p");
	rooms_resync(&rs);
	room_join_end(&rs, m1, "p", 1, 9);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.after, 9);
	assert_true(a.upto > 1000000);
	freemember(&rs, m1);
	assert_null(room_find(&rs, "p"));
	rooms_release(&rs);
}

/* A failed join drops its pending subscription (and the room with it). */
static void test_failed_and_overlapping_joins(void **state)
{
	struct ask a = { 0 };
	struct room_ops ops = { need_range, &a };
	struct rooms rs;
	struct member *m1 = mkmember("u1"), *m2 = mkmember("u2");
	struct frame *f = frame_from("t", 1);
	struct sub *s;

	(void)state;
	rooms_init(&rs, &ops);
	room_join_begin(&rs, m1, "r");
	assert_null(room_join_end(&rs, m1, "r", 0, 0));
	assert_null(room_find(&rs, "r"));
	assert_int_equal(m1->nsubs, 0);
	/* Two joins in flight: the first failing keeps the subscription for the second. */
	s = room_join_begin(&rs, m1, "r");
	assert_ptr_equal(room_join_begin(&rs, m1, "r"), s);
	assert_int_equal(m1->nsubs, 1);
	/* A pending subscriber gets no room events either. */
	room_subscribe(&rs, m2, "r", 0);
	room_broadcast(room_find(&rs, "r"), f, NULL, 0);
	assert_int_equal(m1->conn->q.count, 0);
	assert_int_equal(m2->conn->q.count, 1);
	assert_null(room_join_end(&rs, m1, "r", 0, 0));
	assert_ptr_equal(room_sub_of(m1, "r"), s);
	assert_ptr_equal(room_join_end(&rs, m1, "r", 1, 0), s);
	assert_int_equal(s->joins, 0);
	/* A leave answered while a join is on its way: pending again, then live. */
	s->joins++;
	room_sub_suspend(s);
	deliver(&rs, room_find(&rs, "r"), 1);
	assert_int_equal(m1->conn->q.count, 0);
	assert_ptr_equal(room_join_end(&rs, m1, "r", 1, 1), s);
	deliver(&rs, room_find(&rs, "r"), 2);
	expect(m1, 2, 2);
	frame_unref(f);
	freemember(&rs, m1);
	freemember(&rs, m2);
	rooms_release(&rs);
}

/*
 * A subscriber whose connection takes no more (closing, or its queue full)
 * is far behind the ring: it must not make the room read its range again
 * and again.
 */
static void test_stuck_subscriber_reads_nothing(void **state)
{
	struct ask a = { 0 };
	struct room_ops ops = { need_range, &a };
	struct rooms rs;
	struct member *m1 = mkmember("u1"), *m2 = mkmember("u2");
	struct room *r;
	struct sub *s2;

	(void)state;
	rooms_init(&rs, &ops);
	room_subscribe(&rs, m1, "r", 0);
	s2 = room_subscribe(&rs, m2, "r", 0);
	r = room_find(&rs, "r");
	deliver(&rs, r, 1);
	expect(m1, 1, 1);
	m2->conn->state = CONN_CLOSING; /* e.g. closed as too slow */
	for (uint64_t s = 2; s <= ROOM_RING + 20; s++)
		deliver(&rs, r, s);
	expect(m1, 2, ROOM_RING + 20);
	assert_true(s2->stuck);
	assert_int_equal(a.n, 0);

	/* Stuck while catching up: the answer of the read asks nothing more. */
	m2->conn->state = CONN_READY;
	s2->stuck = 0;
	deliver(&rs, r, ROOM_RING + 21);
	assert_int_equal(a.n, 1);
	assert_ptr_equal(a.sub, s2);
	m2->conn->state = CONN_CLOSING;
	for (uint64_t s = a.after + 1; s <= a.upto; s++)
		fill(&rs, r, s2, s);
	room_fill_done(&rs, r, s2, a.upto, 1);
	assert_int_equal(a.n, 1);
	deliver(&rs, r, ROOM_RING + 22);
	assert_int_equal(a.n, 1);
	m2->conn->state = CONN_READY;
	freemember(&rs, m1);
	freemember(&rs, m2);
	rooms_release(&rs);
}

/*
 * A LISTEN connection lost while a gap read is in flight: the read ends
 * normally, and then the room reads everything after it again (what
 * committed while LISTEN was down was announced to nobody).
 */
static void test_resync_while_filling(void **state)
{
	struct ask a = { 0 };
	struct room_ops ops = { need_range, &a };
	struct rooms rs;
	struct member *m1 = mkmember("u1");
	struct room *r;

	(void)state;
	rooms_init(&rs, &ops);
	assert_non_null(room_subscribe(&rs, m1, "r", 5));
	r = room_find(&rs, "r");
	deliver(&rs, r, 7); /* 6 is missing: a gap read starts */
	assert_int_equal(a.n, 1);
	assert_int_equal(a.upto, 7);
	rooms_resync(&rs); /* LISTEN lost and back while it runs */
	fill(&rs, r, NULL, 6);
	fill(&rs, r, NULL, 7);
	room_fill_done(&rs, r, NULL, 7, 1);
	expect(m1, 6, 7);
	assert_int_equal(a.n, 2); /* everything after 7, however much */
	assert_null(a.sub);
	assert_int_equal(a.after, 7);
	assert_true(a.upto == (uint64_t)INT64_MAX);
	fill(&rs, r, NULL, 8); /* committed while LISTEN was down */
	room_fill_done(&rs, r, NULL, 8, 1);
	expect(m1, 8, 8);
	assert_int_equal(a.n, 2); /* and no more */
	freemember(&rs, m1);
	rooms_release(&rs);
}

/* Pops one queued frame of m and checks it is want. */
static void expect_str(struct member *m, const char *want)
{
	struct frame *f = outq_peek(&m->conn->q);

	assert_non_null(f);
	assert_int_equal(f->len, strlen(want));
	assert_memory_equal(frame_payload(f), want, strlen(want));
	outq_pop(&m->conn->q);
}

/* A change (edit or deletion) of message seq: cur its new state, ev the event. */
static void change(struct room *r, uint64_t seq, uint64_t change_seq, const char *cur,
		   const char *ev)
{
	struct frame *c = cur ? frame_from(cur, strlen(cur)) : NULL;
	struct frame *e = frame_from(ev, strlen(ev));

	room_message_changed(r, seq, change_seq, c, e);
	frame_unref(c);
	frame_unref(e);
}

/*
 * Subscribers that have the message hear the change; the ring keeps the
 * new state, so one still behind gets it in the old one's place and no
 * event. A change no newer than the last one of the message is dropped.
 */
static void test_change_and_the_ring(void **state)
{
	struct ask a = { 0 };
	struct room_ops ops = { need_range, &a };
	struct rooms rs;
	struct member *m1 = mkmember("u1"), *m2 = mkmember("u2");
	struct room *r;

	(void)state;
	rooms_init(&rs, &ops);
	assert_non_null(room_subscribe(&rs, m1, "r", 5));
	r = room_find(&rs, "r");
	deliver(&rs, r, 6);
	deliver(&rs, r, 7);
	expect(m1, 6, 7);
	change(r, 6, 1, "e6", "u6");
	expect_str(m1, "u6");
	expect(m1, 1, 0);
	/* Behind (subscribed at 5): the ring's edited 6, no event. */
	assert_non_null(room_subscribe(&rs, m2, "r", 5));
	expect_str(m2, "e6");
	expect(m2, 7, 7);
	/* The same change again (a late read back of it), or an older one: dropped. */
	change(r, 6, 1, "x6", "x6");
	change(r, 6, 1, "y6", "y6");
	expect(m1, 1, 0);
	expect(m2, 1, 0);
	/* A newer one (the deletion) reaches both. */
	change(r, 6, 2, "t6", "d6");
	expect_str(m1, "d6");
	expect_str(m2, "d6");
	assert_int_equal(a.n, 0);
	freemember(&rs, m1);
	freemember(&rs, m2);
	rooms_release(&rs);
}

/*
 * A message read back by a gap read that predates its change: delivered,
 * then followed by the latest change event of it.
 */
static void test_read_back_predating_a_change(void **state)
{
	struct ask a = { 0 };
	struct room_ops ops = { need_range, &a };
	struct rooms rs;
	struct member *m1 = mkmember("u1");
	struct room *r;

	(void)state;
	rooms_init(&rs, &ops);
	assert_non_null(room_subscribe(&rs, m1, "r", 5));
	r = room_find(&rs, "r");
	room_message(&rs, r, 6, NULL); /* by reference: read it */
	assert_int_equal(a.n, 1);
	change(r, 6, 3, NULL, "u6a");
	change(r, 6, 4, NULL, "u6b");
	expect(m1, 1, 0);      /* nobody has 6 yet */
	fill(&rs, r, NULL, 6); /* the old text */
	room_fill_done(&rs, r, NULL, 6, 1);
	expect_str(m1, "m6");
	expect_str(m1, "u6b");
	expect(m1, 1, 0);
	freemember(&rs, m1);
	rooms_release(&rs);
}

/*
 * Changes announced while a join_room was on its way, in their order, for
 * its messages up to the snapshot; none for later ones (the ring has them).
 */
static void test_changes_while_joining(void **state)
{
	struct ask a = { 0 };
	struct room_ops ops = { need_range, &a };
	struct rooms rs;
	struct member *m1 = mkmember("u1"), *m2 = mkmember("u2");
	struct room *r;

	(void)state;
	rooms_init(&rs, &ops);
	assert_non_null(room_subscribe(&rs, m1, "r", 5));
	r = room_find(&rs, "r");
	change(r, 4, 1, NULL, "old"); /* before m2's join began: not m2's */
	expect_str(m1, "old");
	room_join_begin(&rs, m2, "r");
	change(r, 5, 2, NULL, "u5a");
	change(r, 3, 3, NULL, "d3");
	change(r, 5, 4, NULL, "u5b");
	expect_str(m1, "u5a");
	expect_str(m1, "d3");
	expect_str(m1, "u5b");
	room_join_end(&rs, m2, "r", 1, 5);
	expect_str(m2, "u5a");
	expect_str(m2, "d3");
	expect_str(m2, "u5b");
	expect(m2, 1, 0);
	freemember(&rs, m1);
	freemember(&rs, m2);
	rooms_release(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order_and_gaps),
		cmocka_unit_test(test_late_and_early_subscribers),
		cmocka_unit_test(test_catch_up_beyond_the_ring),
		cmocka_unit_test(test_broadcast_skip_and_dedupe),
		cmocka_unit_test(test_first_join_keeps_what_is_announced_meanwhile),
		cmocka_unit_test(test_failed_and_overlapping_joins),
		cmocka_unit_test(test_stuck_subscriber_reads_nothing),
		cmocka_unit_test(test_resync_while_filling),
		cmocka_unit_test(test_change_and_the_ring),
		cmocka_unit_test(test_read_back_predating_a_change),
		cmocka_unit_test(test_changes_while_joining),
	};

	cfg.ws_queue_frames = 1000;
	cs.cfg = &cfg;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

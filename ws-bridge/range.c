/* range.c -- reads back, page by page, the messages a room or one subscriber missed. */
#include "range.h"

#include <stdio.h>
#include <stdlib.h>

#include "bridge.h"
#include "dbreq.h"
#include "sio.h"

#define RANGE_PAGE 500 /* messages per gap read */

static void on_range_done(void *arg, enum pg_status st, const PGresult *res, int row);

static void range_request(struct bridge *b, struct dbreq *q)
{
	char after[24], upto[24], limit[16];
	const char *params[4] = { q->room, after, upto, limit };
	struct room *r;

	snprintf(after, sizeof(after), "%llu", (unsigned long long)q->after);
	snprintf(upto, sizeof(upto), "%llu", (unsigned long long)q->upto);
	snprintf(limit, sizeof(limit), "%d", RANGE_PAGE);
	b->stats.range_reads[q->for_sub ? 1 : 0]++;
	if (pgloop_query(b->pg, BS_RANGE, 4, params, on_range_done, q) == 0)
		return;
	/* No database now: give up; the reconnect resyncs every room. */
	r = room_find(&b->rooms, q->room);
	if (r) {
		struct conn *c = q->for_sub ? dbreq_conn(q) : NULL;
		struct sub *s = c ? room_sub_of(session_member(c), q->room) : NULL;

		if (!q->for_sub || s)
			room_fill_done(&b->rooms, r, s, q->upto, 0);
	}
	dbreq_free(q);
}

static void on_range_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct dbreq *q = arg;
	struct bridge *b = q->b;
	struct room *r = room_find(&b->rooms, q->room);
	struct conn *c = q->for_sub ? dbreq_conn(q) : NULL;
	struct sub *s = c ? room_sub_of(session_member(c), q->room) : NULL;
	int rows = 0, seq_col, msg_col;

	(void)row;
	if (!r || (q->for_sub && !s))
		goto out;
	if (st != PG_OK || !res) {
		room_fill_done(&b->rooms, r, s, q->upto, 0);
		goto out;
	}
	seq_col = PQfnumber(res, "seq");
	msg_col = PQfnumber(res, "message");
	if (seq_col < 0 || msg_col < 0) {
		room_fill_done(&b->rooms, r, s, q->upto, 0);
		goto out;
	}
	rows = PQntuples(res);
	for (int i = 0; i < rows; i++) {
		uint64_t seq = strtoull(PQgetvalue(res, i, seq_col), NULL, 10);
		struct frame *f = sio_event("new_message", PQgetvalue(res, i, msg_col),
					    (size_t)PQgetlength(res, i, msg_col));

		if (!f)
			break;
		room_fill(&b->rooms, r, s, seq, f);
		frame_unref(f);
		q->after = seq;
	}
	if (rows == RANGE_PAGE && q->after < q->upto) {
		range_request(b, q); /* the next page */
		return;
	}
	room_fill_done(&b->rooms, r, s, q->upto, 1);
out:
	dbreq_free(q);
}

void range_need(void *arg, struct room *r, struct sub *s, uint64_t after, uint64_t upto)
{
	struct bridge *b = arg;
	struct dbreq *q = dbreq_new(b, s ? s->member->conn : NULL, -1, r->id);

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

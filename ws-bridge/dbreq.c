/* dbreq.c -- one asynchronous database request of the bridge, and the client events' completion. */
#include "dbreq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "dbcall.h"
#include "reply.h"

/* Client events of one user waiting for the database, so that one user's
 * flood cannot fill the shared queue (PG_QUEUE_MAX) for everyone. */
#define DBREQ_USER_PENDING_MAX 256

/* A user's client events waiting for the database. */
struct upend {
	unsigned n;
	char user_id[40];
};

static int64_t dbreq_now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

struct dbreq *dbreq_new(struct bridge *b, const struct conn *c, long long ack_id, const char *room)
{
	struct dbreq *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->b = b;
	q->ack_id = ack_id;
	q->t0_us = dbreq_now_us();
	if (c)
		snprintf(q->key, sizeof(q->key), "%s", c->key);
	if (room)
		snprintf(q->room, sizeof(q->room), "%s", room);
	return q;
}

void dbreq_free(struct dbreq *q)
{
	if (q->up && --q->up->n == 0) {
		hmap_del(&q->b->pending_by_user, q->up->user_id, strlen(q->up->user_id));
		free(q->up);
	}
	frame_unref(q->frame);
	free(q->keys);
	free(q);
}

struct conn *dbreq_conn(const struct dbreq *q)
{
	return q->key[0] ? hmap_get(&q->b->by_key, q->key, strlen(q->key)) : NULL;
}

int dbreq_query(struct bridge *b, int st, int n, const char *const *params, pg_done_fn done,
		struct dbreq *q)
{
	if (pgloop_query(b->pg, st, n, params, done, q)) {
		dbreq_free(q);
		return -1;
	}
	return 0;
}

/*
 * Reads a (err, msg, field, retry, data) row. Returns 0 on success with
 * *data set; otherwise answers the event and returns -1.
 */
static int dbreq_result(struct conn *c, long long ack_id, enum pg_status st, const PGresult *res,
			int row, const char **data, size_t *len)
{
	struct dbcall_row r;

	if (st == PG_UNAVAILABLE || (st == PG_OK && !res)) {
		reply_fail(c, ack_id, ERR_DB_UNAVAILABLE, REPLY_DB_UNAVAILABLE);
		return -1;
	}
	if (st == PG_UNKNOWN) {
		reply_fail(
			c, ack_id, ERR_OUTCOME_UNKNOWN,
			"the database connection broke: the event may have taken effect; retry it "
			"(a message with the same client_id)");
		return -1;
	}
	if (st != PG_OK || dbcall_row(&r, res, row)) {
		reply_fail(c, ack_id, ERR_INTERNAL, "internal error");
		return -1;
	}
	if (r.err) {
		reply_fail(c, ack_id, r.code, r.msg);
		return -1;
	}
	*data = r.data;
	*len = r.data_len;
	return 0;
}

/* The completion of every client event's statement. */
static void dbreq_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct dbreq *q = arg;
	const struct dbreq_kind *kind = q->kind;
	struct conn *c = dbreq_conn(q);
	const char *data;
	size_t len;

	if (!c)
		goto out; /* what it had went with it */
	if (q->ack_id >= 0 && c->state == CONN_READY) {
		int64_t us = dbreq_now_us() - q->t0_us;

		histo_observe(&q->b->stats.ack, us > 0 ? (unsigned long long)us : 0);
	}
	if (c->state != CONN_READY || (kind->ack_only && q->ack_id < 0) ||
	    dbreq_result(c, q->ack_id, st, res, row, &data, &len)) {
		if (kind->fail)
			kind->fail(q, c);
		goto out;
	}
	/* The ack goes first: what the event sends after comes after it. */
	reply_ok(c, q->ack_id, data, len);
	if (kind->ok)
		kind->ok(q, c, res, row);
out:
	dbreq_free(q);
}

int dbreq_call(struct bridge *b, struct dbreq *q, const struct dbreq_kind *kind, int st, int n,
	       const char *const *params)
{
	q->kind = kind;
	return dbreq_query(b, st, n, params, dbreq_done, q);
}

/* Counts q against its user's share; answers and returns -1 past it. */
static int dbreq_share(struct bridge *b, struct conn *c, struct dbreq *q)
{
	const char *uid = session_user(c);
	size_t ulen = strlen(uid);
	struct upend *up = hmap_get(&b->pending_by_user, uid, ulen);

	if (up && up->n >= DBREQ_USER_PENDING_MAX) {
		reply_fail(c, q->ack_id, ERR_RATE_LIMITED,
			   "too many of your events are waiting for the database, slow down");
		return -1;
	}
	if (!up) {
		up = calloc(1, sizeof(*up));
		if (!up || ulen >= sizeof(up->user_id) ||
		    hmap_put(&b->pending_by_user, uid, ulen, up) != 0) {
			free(up);
			reply_fail(c, q->ack_id, ERR_INTERNAL, "out of memory");
			return -1;
		}
		memcpy(up->user_id, uid, ulen + 1);
	}
	up->n++;
	q->up = up;
	return 0;
}

int dbreq_event(struct bridge *b, struct conn *c, long long ack_id, const char *room,
		const struct dbreq_kind *kind, int st, int n, const char *const *params)
{
	struct dbreq *q = dbreq_new(b, c, ack_id, room);

	if (!q) {
		reply_fail(c, ack_id, ERR_INTERNAL, "out of memory");
		return -1;
	}
	if (dbreq_share(b, c, q)) {
		dbreq_free(q);
		return -1;
	}
	if (dbreq_call(b, q, kind, st, n, params)) {
		reply_fail(c, ack_id, ERR_DB_UNAVAILABLE, REPLY_DB_UNAVAILABLE);
		return -1;
	}
	return 0;
}

void dbreq_release(struct bridge *b)
{
	hmap_release(&b->pending_by_user);
}

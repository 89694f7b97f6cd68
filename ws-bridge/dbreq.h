/* dbreq.h -- one asynchronous database request of the bridge, and the client events' completion.
 *
 * Every statement the bridge sends goes through dbreq_query (raw: the
 * caller's own completion) or dbreq_call / dbreq_event (a client event's
 * statement: the generic completion below finds the connection again,
 * checks it is READY, decodes the (err, msg, field, retry, data) row and
 * answers ok or fail, then calls the event's hooks). */
#ifndef CHAT_DBREQ_H
#define CHAT_DBREQ_H

#include <stdint.h>

#include "conn.h"
#include "frame.h"
#include "pgloop.h"

struct bridge;
struct dbreq;

/* What an event does when its statement is done. */
struct dbreq_kind {
	/* After the ok ack went out: c is READY, the row is res[row]. May be NULL. */
	void (*ok)(struct dbreq *q, struct conn *c, const PGresult *res, int row);
	/* The connection is there but not READY, or the event failed (already
	 * answered). May be NULL. */
	void (*fail)(struct dbreq *q, struct conn *c);
	/* Answer only events that asked for an ack: failures without one are silent. */
	int ack_only;
};

/* What an asynchronous request needs to find its connection again. */
struct dbreq {
	struct bridge *b;
	char key[24];     /* connection key, "" for none */
	long long ack_id; /* -1 without an ack */
	char room[72];
	uint64_t after, upto;
	int for_sub;
	struct frame *frame;           /* a frame to send once the request is done */
	struct upend *up;              /* counts this request against its user */
	char *keys;                    /* presence closes: the connection keys, "{a,b}" */
	const struct dbreq_kind *kind; /* a client event's completion */
	int64_t t0_us; /* when it was made (CLOCK_MONOTONIC), for the ack histogram */
};

/*
 * A new request for connection c (NULL: none) and room (NULL: none).
 * Returns NULL when out of memory. The caller owns it until it is given
 * to dbreq_query/dbreq_call/dbreq_event, which free it in every case.
 */
struct dbreq *dbreq_new(struct bridge *b, const struct conn *c, long long ack_id, const char *room);

void dbreq_free(struct dbreq *q);

/* The connection of a request, if it is still there; NULL otherwise. */
struct conn *dbreq_conn(const struct dbreq *q);

/*
 * Queues statement st with done(q, ...) as its completion. Returns 0, or
 * -1 (q freed, done never called) when the queue refuses it.
 */
int dbreq_query(struct bridge *b, int st, int n, const char *const *params, pg_done_fn done,
		struct dbreq *q);

/*
 * Queues an event's statement with the generic completion of kind. Returns
 * 0, or -1 (q freed, nothing answered) when it cannot be queued.
 */
int dbreq_call(struct bridge *b, struct dbreq *q, const struct dbreq_kind *kind, int st, int n,
	       const char *const *params);

/*
 * A client's event on connection c (its ack, its room or NULL): as
 * dbreq_call, counted against its user's share of the queue. On failure
 * it answers the event (internal_error, rate_limited or db_unavailable)
 * and returns -1.
 */
int dbreq_event(struct bridge *b, struct conn *c, long long ack_id, const char *room,
		const struct dbreq_kind *kind, int st, int n, const char *const *params);

/* Frees what dbreq keeps (the per-user counts); call after the database loop is gone. */
void dbreq_release(struct bridge *b);

#endif

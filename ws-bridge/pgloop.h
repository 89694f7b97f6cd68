/* pgloop.h -- PostgreSQL inside the libwebsockets event loop, never blocking: the public API.
 *
 * Two connections: one LISTENs on chat_events and hands every payload up;
 * the other runs prepared statements in libpq's pipeline mode. Requests
 * queued while a segment is in flight go out together as the next segment,
 * which PostgreSQL runs as one implicit transaction: under load many
 * messages share one commit (group commit), when idle each goes alone.
 * A request's callback runs only after its segment committed. Both
 * connections reconnect by themselves with backoff.
 *
 * The parts, lowest first: pgconn.c (one connection in the lws loop),
 * pgreq.c (a request and its queues), pgbatch.c (the query connection's
 * segments, batches and retries), pgloop.c (this API and the LISTEN
 * connection). */
#ifndef CHAT_PGLOOP_H
#define CHAT_PGLOOP_H

#include <libwebsockets.h>

#include "cfg.h"
#include "pgbatch.h" /* struct pg_stmt_def; enum pg_status and pg_done_fn of pgreq.h */

struct pgloop_ops {
	/* A NOTIFY payload on chat_events (NUL-terminated). */
	void (*on_notify)(void *arg, const char *payload, size_t len);
	/* LISTEN is in place; reconnected says it was lost before (fill gaps now). */
	void (*on_listen)(void *arg, int reconnected);
	/* The query connection is ready (again). */
	void (*on_query_ready)(void *arg, int reconnected);
	void *arg;
};

struct pgloop;

/*
 * Creates the loop and starts connecting both connections. The statement
 * table and ops must outlive the loop. vh must carry the protocol named
 * PGLOOP_PROTOCOL with pgloop_callback. Returns NULL when out of memory.
 */
struct pgloop *pgloop_new(struct lws_context *ctx, struct lws_vhost *vh, const struct cfg *cfg,
			  const struct pg_stmt_def *stmts, int nstmts,
			  const struct pgloop_ops *ops);

/*
 * Closes both connections. Requests still queued get their callback with
 * PG_UNAVAILABLE first, those in flight with PG_UNKNOWN.
 */
void pgloop_free(struct pgloop *pl);

/*
 * Queues prepared statement stmt with nparams text parameters (copied;
 * NULL entries are SQL NULL). done(arg, …) runs exactly once, later, from
 * the event loop. Returns 0, or -1 without calling done when the query
 * connection is down or the queue is full: the caller answers
 * db_unavailable at once. An unknown stmt or a parameter count other than
 * the statement's is a programmer error: BUG(), the program stops.
 */
int pgloop_query(struct pgloop *pl, int stmt, int nparams, const char *const *params,
		 pg_done_fn done, void *arg) __attribute__((warn_unused_result));

/* Returns nonzero while the query connection is ready. */
int pgloop_ready(const struct pgloop *pl);

/* Requests queued or in flight, for metrics and shutdown. */
unsigned pgloop_pending(const struct pgloop *pl);

/* Counters since start, for the metrics page. */
struct pgloop_stats {
	unsigned long long segments;    /* pipeline segments (transactions) done */
	unsigned long long statements;  /* statements completed (a batch counts its requests) */
	unsigned long long batches;     /* batch calls committed */
	unsigned long long batched;     /* requests that ran in them */
	unsigned long long failed;      /* statements that failed (a batch counts its requests) */
	unsigned long long rolled_back; /* segments rolled back by a failure */
	unsigned long long retried;     /* requests run again after a rollback */
	unsigned long long reconnects;  /* connections re-established */
	unsigned long long notifies;    /* NOTIFY payloads received */
	double segment_ms_sum;          /* send-to-commit time of all segments */
	double segment_ms_last;
	int listen_up, query_up;
};

void pgloop_get_stats(const struct pgloop *pl, struct pgloop_stats *st);

#define PGLOOP_PROTOCOL PGCONN_PROTOCOL

/* The lws protocol callback for the adopted PostgreSQL sockets. */
int pgloop_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len);

#endif

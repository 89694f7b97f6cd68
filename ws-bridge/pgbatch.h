/* pgbatch.h -- the query connection: pipeline segments, batches, retries, order.
 *
 * Requests queued while a segment is in flight go out together as the
 * next segment, which PostgreSQL runs as one implicit transaction (group
 * commit). Consecutive requests of a statement with a batch form run as
 * one call of it. A segment that rolls back runs its innocent requests
 * again, ahead of anything queued later. */
#ifndef CHAT_PGBATCH_H
#define CHAT_PGBATCH_H

#include <libwebsockets.h>

#include "cfg.h"
#include "pgconn.h"
#include "pgreq.h"

/*
 * A prepared statement. With batch_sql set, consecutive requests of the
 * statement in one segment run as one call of batch_sql instead: its
 * parameter i is the array literal of every request's parameter i, and it
 * must return exactly one row per request, in their order.
 */
struct pg_stmt_def {
	const char *name;
	const char *sql;
	int nparams;
	const char *batch_name;
	const char *batch_sql;
	/*
	 * Runs in a transaction of its own (one request, or one batch): for
	 * statements that take several locks in a fixed order, which sharing
	 * a transaction with another such statement would break.
	 */
	int alone;
	/*
	 * Its requests keep their order: a segment holding such a request runs
	 * only if the ordered segment sent before it committed (pgbatch.c,
	 * chained segments), so a segment that rolls back and runs again
	 * cannot be overtaken by a later one (a sender's messages keep their
	 * order).
	 */
	int ordered;
};

/* Counters since start (struct pgloop_stats has their meaning). */
struct pgbatch_stats {
	unsigned long long segments, statements, batches, batched, failed, rolled_back, retried;
	unsigned long long reconnects;
	double segment_ms_sum, segment_ms_last;
};

struct pgbatch {
	struct pgconn conn;
	const struct pg_stmt_def *stmts;
	int nstmts;
	void (*on_ready)(void *arg, int reconnected);
	void *arg;
	struct pgreq_list pending;  /* queued, waiting for a segment */
	struct pgreq_list inflight; /* sent: statements and sync markers, in order */
	struct pgreq_list seg_done; /* statements of the current segment, results in */
	struct pgreq_list retry;    /* rolled back, to run again once nothing is in flight */
	int seg_failed;
	int segments;             /* sync markers in flight */
	int ordered_segments;     /* of them, segments holding ordered requests */
	unsigned long long chain; /* the latest ordered segment's number (chained segments) */
	lws_sorted_usec_list_t flush_sul;
	int flush_scheduled;
	struct pgbatch_stats stats;
};

/*
 * Starts connecting the query connection of b (zeroed by the caller),
 * which prepares stmts (nstmts of them). on_ready(arg, reconnected), which
 * may be NULL, runs each time it is ready. Everything passed must outlive b.
 */
void pgbatch_start(struct pgbatch *b, struct lws_context *ctx, struct lws_vhost *vh,
		   const struct cfg *cfg, const struct pg_stmt_def *stmts, int nstmts,
		   void (*on_ready)(void *arg, int reconnected), void *arg);

/* pgloop_query of pgloop.h, on the query connection b. */
int pgbatch_query(struct pgbatch *b, int stmt, int nparams, const char *const *params,
		  pg_done_fn done, void *arg) __attribute__((warn_unused_result));

/* Requests queued or in flight. */
unsigned pgbatch_pending(const struct pgbatch *b);

/* Closes the connection: queued requests get PG_UNAVAILABLE, sent ones PG_UNKNOWN. */
void pgbatch_close(struct pgbatch *b);

#endif

/* pgbatch.c -- the query connection: pipeline segments, batches, retries, order.
 *
 * Chained segments: a segment holding ordered requests may go out while
 * another such segment is in flight (PG_ORDERED_INFLIGHT) when enough
 * requests wait for it (PG_CHAIN_MIN), so that the
 * backend starts on it as soon as the one before commits instead of idling
 * for a round trip through the bridge. Order survives a rollback because
 * every ordered segment first runs chat_segment_chain(predecessor, itself)
 * (migration 0033): it marks the session with the segment's number, a mark
 * that a rollback takes back, and fails when the predecessor's mark is not
 * there. So when a segment rolls back, the ordered segment behind it fails
 * before doing anything; the requests of both run again, in their order,
 * once nothing is in flight (the retry list). */
#include "pgbatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bug.h"
#include "dbcall.h"
#include "dberr.h"
#include "log.h"
#include "pgarray.h"

#define PG_SEGMENT_MAX 256     /* statements per pipeline segment (transaction) */
#define PG_BATCH_MAX 256       /* requests in one batch call */
#define PG_SEGMENTS_INFLIGHT 3 /* segments sent before the first one's sync */
#define PG_ORDERED_INFLIGHT 2  /* of them, segments holding ordered requests */
#define PG_CHAIN_MIN 32        /* requests waiting before a second ordered segment goes */
#define PG_CHAIN_STMT "pgbatch_chain"
#define PG_QUEUE_MAX 20000 /* requests waiting for a segment */
#define PG_TRIES 3         /* runs of a request whose segment rolled back */

static void pgbatch_flush(struct pgbatch *b);

/* Queues a marker for one result of the set-up. */
static int pgbatch_expect(struct pgbatch *b, enum pgreq_kind kind)
{
	struct pgreq *r = pgreq_new(kind, -1, 0, NULL);

	if (!r)
		return -1;
	pgreq_push(&b->inflight, r);
	return 0;
}

/* pgconn_ops.setup: the session settings and the prepared statements, as one segment. */
static int pgbatch_setup(void *arg, PGconn *conn)
{
	struct pgbatch *b = arg;
	struct dbcall_conn dc;

	if (!PQenterPipelineMode(conn))
		return -1;
	dbcall_conn_init(&dc, b->conn.cfg, "chat-ws");
	for (int i = 0; i < DBCALL_NSETTINGS; i++) {
		if (!PQsendQueryParams(conn, dc.settings[i].sql, 1, NULL, &dc.settings[i].param,
				       NULL, NULL, 0))
			return -1;
		if (pgbatch_expect(b, PGREQ_SETUP))
			return -1;
	}
	if (!PQsendPrepare(conn, PG_CHAIN_STMT, "SELECT chat_segment_chain($1, $2)", 2, NULL) ||
	    pgbatch_expect(b, PGREQ_SETUP))
		return -1;
	for (int i = 0; i < b->nstmts; i++) {
		const struct pg_stmt_def *d = &b->stmts[i];

		for (int batch = 0; batch < (d->batch_sql ? 2 : 1); batch++) {
			if (!PQsendPrepare(conn, batch ? d->batch_name : d->name,
					   batch ? d->batch_sql : d->sql, d->nparams, NULL))
				return -1;
			if (pgbatch_expect(b, PGREQ_SETUP))
				return -1;
		}
	}
	if (!PQpipelineSync(conn))
		return -1;
	if (pgbatch_expect(b, PGREQ_SYNC))
		return -1;
	b->segments = 1;
	return 0;
}

/*
 * pgconn_ops.lost: fails everything queued or in flight. Collects first:
 * a callback may queue new requests (they fail at once). A request that
 * went out may have committed (PG_UNKNOWN), unless its segment is known to
 * roll back (one of it failed) or its sync was never sent (no commit
 * without it): those, and the requests never sent, did not
 * (PG_UNAVAILABLE). The current segment's requests are in seg_done, then
 * in inflight up to the first sync marker.
 */
static void pgbatch_lost(void *arg)
{
	struct pgbatch *b = arg;
	struct pgreq_list failed = { 0 };
	struct pgreq *r, *last_sync = NULL;
	int first = 1;

	for (r = b->inflight.head; r; r = r->next)
		if (r->kind == PGREQ_SYNC)
			last_sync = r;
	while ((r = pgreq_pop(&b->seg_done))) {
		r->unavailable = b->seg_failed || !last_sync;
		pgreq_push(&failed, r);
	}
	while ((r = pgreq_pop(&b->inflight))) {
		if (r->kind == PGREQ_SYNC) {
			first = 0;
			if (r == last_sync)
				last_sync = NULL;
		}
		r->unavailable = (first && b->seg_failed) || !last_sync;
		pgreq_push(&failed, r);
	}
	b->segments = 0;
	b->ordered_segments = 0;
	b->seg_failed = 0;
	while ((r = pgreq_pop(&b->retry))) {
		r->unavailable = 1; /* rolled back */
		pgreq_push(&failed, r);
	}
	while ((r = pgreq_pop(&b->pending))) {
		r->unavailable = 1;
		pgreq_push(&failed, r);
	}
	while ((r = pgreq_pop(&failed))) {
		if (r->kind == PGREQ_STMT)
			pgreq_finish(r, r->unavailable ? PG_UNAVAILABLE : PG_UNKNOWN);
		else
			pgreq_free(r);
	}
}

static void pgbatch_ready(struct pgbatch *b)
{
	int reconnected = pgconn_ready(&b->conn);

	if (reconnected)
		b->stats.reconnects++;
	if (b->on_ready)
		b->on_ready(b->arg, reconnected);
	pgbatch_flush(b);
}

/*
 * Settles one request of a segment that ended: completes it, or (rolled
 * back with the failing one, or by a race) queues it on retry to run again.
 */
static void pgbatch_settle(struct pgbatch *b, struct pgreq *r, int failed)
{
	unsigned n = r->nkids ? r->nkids : 1;

	if (r->kind == PGREQ_CHAIN) {
		pgreq_free(r);
	} else if (!failed) {
		b->stats.statements += n;
		if (r->nkids) {
			b->stats.batches++;
			b->stats.batched += r->nkids;
		}
		pgreq_finish(r, PG_OK);
	} else if (r->failed || ++r->tries >= PG_TRIES) {
		b->stats.failed += n;
		/* Rolled back: a race lost too often is "try again" too. */
		pgreq_finish(r, r->unavailable || r->raced ? PG_UNAVAILABLE : PG_FAILED);
	} else {
		if (r->res) {
			PQclear(r->res);
			r->res = NULL;
		}
		b->stats.retried += n;
		pgreq_push(&b->retry, r);
	}
}

/* The segment's sync arrived: it committed, or rolled back if one failed. */
static void pgbatch_segment_end(struct pgbatch *b, int64_t sent_us, int ordered)
{
	struct pgreq *r;
	int failed = b->seg_failed;

	b->seg_failed = 0;
	b->segments--;
	if (ordered)
		b->ordered_segments--;
	if (sent_us) {
		double ms = (double)(lws_now_usecs() - sent_us) / 1000.0;

		b->stats.segments++;
		b->stats.segment_ms_sum += ms;
		b->stats.segment_ms_last = ms;
		if (failed)
			b->stats.rolled_back++;
	}
	if (b->conn.state == PGCONN_SETUP) {
		while ((r = pgreq_pop(&b->seg_done)))
			pgreq_free(r);
		if (failed) {
			pgconn_lost(&b->conn, "cannot prepare the statements");
			return;
		}
		pgbatch_ready(b);
		return;
	}
	while ((r = pgreq_pop(&b->seg_done)))
		pgbatch_settle(b, r, failed);
	/*
	 * Retries go first, in their original order, once every segment sent
	 * after them has ended: an ordered one among those failed at its
	 * chain (its requests joined the retries behind these), and nothing
	 * goes out while retries wait (pgbatch_flush).
	 */
	if (!b->segments)
		pgreq_prepend(&b->pending, &b->retry);
	pgbatch_flush(b);
}

/* The result at a sync marker: the end of the segment, or its COMMIT failing. */
static void pgbatch_sync_result(struct pgbatch *b, PGresult *res)
{
	struct pgreq *sync;
	int64_t sent;
	int ordered;

	if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		/*
		 * An ERROR here is the COMMIT failing: the segment rolled back
		 * (its requests run again). A FATAL ends the connection, after a
		 * COMMIT that may have happened.
		 */
		const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

		if (PQresultStatus(res) == PGRES_FATAL_ERROR && sev && strcmp(sev, "ERROR") == 0) {
			log_warn("a pipeline segment failed to commit: %s",
				 PQresultErrorMessage(res));
			b->seg_failed = 1;
		}
		PQclear(res);
		return;
	}
	PQclear(res);
	sync = pgreq_pop(&b->inflight);
	sent = sync->sent_us;
	ordered = sync->ordered;
	pgreq_free(sync);
	pgbatch_segment_end(b, sent, ordered);
}

/* A result of statement (or set-up command) r: kept, or the segment fails. */
static void pgbatch_stmt_result(struct pgbatch *b, struct pgreq *r, PGresult *res)
{
	const char *state;

	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		if (!r->res) {
			r->res = res;
			return;
		}
		break;
	case PGRES_PIPELINE_ABORTED:
		break;
	default:
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		b->seg_failed = 1;
		if (r->kind == PGREQ_STMT && dberr_retry(state)) {
			/* A deadlock or serialization failure: runs again. */
			log_warn("statement '%s' rolled back, runs again: %s",
				 b->stmts[r->stmt].name, PQresultErrorMessage(res));
			r->raced = 1;
			break;
		}
		if (r->kind == PGREQ_CHAIN && state && strcmp(state, "40000") == 0) {
			/* The segment before this one rolled back: both run again. */
			log_info("a pipeline segment after one that rolled back runs again");
			break;
		}
		log_err("statement '%s' failed: %s",
			r->kind == PGREQ_STMT            ? b->stmts[r->stmt].name
				: r->kind == PGREQ_CHAIN ? PG_CHAIN_STMT
							 : "setup",
			PQresultErrorMessage(res));
		r->failed = 1;
		r->unavailable = dberr_unavailable(state);
		break;
	}
	PQclear(res);
}

/* pgconn_ops.input: reads every result that has arrived, in the order sent. */
static void pgbatch_input(void *arg)
{
	struct pgbatch *b = arg;

	while (b->inflight.head && b->conn.conn) {
		struct pgreq *r = b->inflight.head;
		PGresult *res;

		if (PQisBusy(b->conn.conn))
			return;
		res = PQgetResult(b->conn.conn);
		if (r->kind == PGREQ_SYNC) {
			if (res)
				pgbatch_sync_result(b, res);
		} else if (!res) {
			pgreq_push(&b->seg_done, pgreq_pop(&b->inflight));
		} else {
			pgbatch_stmt_result(b, r, res);
		}
	}
}

/*
 * Takes first and the requests of the same statement queued right behind
 * it (at most PG_BATCH_MAX) and returns one request that runs them all,
 * or first itself when it is alone or memory is short.
 */
static struct pgreq *pgbatch_combine(struct pgbatch *b, struct pgreq *first)
{
	struct pgreq *c, *r, **tail;
	const char **vals;
	unsigned n = 1;
	int np = first->nparams;

	for (r = b->pending.head;
	     r && n < PG_BATCH_MAX && r->stmt == first->stmt && r->kind == PGREQ_STMT && !r->nkids;
	     r = r->next)
		n++;
	if (n == 1)
		return first;
	c = pgreq_new(PGREQ_STMT, first->stmt, 0, NULL);
	vals = malloc(n * sizeof(*vals));
	if (c)
		c->params = calloc((size_t)np, sizeof(*c->params));
	if (!c || !vals || !c->params) {
		if (c)
			pgreq_free(c);
		free(vals);
		return first;
	}
	c->nparams = np;
	c->batch_params = 1;
	for (int i = 0; i < np; i++) {
		r = first;
		for (unsigned j = 0; j < n; j++) {
			vals[j] = r->params[i];
			r = j == 0 ? b->pending.head : r->next;
		}
		c->params[i] = pgarray_literal(vals, n);
		if (!c->params[i]) {
			free(vals);
			pgreq_free(c);
			return first;
		}
	}
	free(vals);
	/* Committed to the batch: move the requests into it. */
	tail = &c->kids;
	*tail = first;
	tail = &first->next;
	for (unsigned j = 1; j < n; j++) {
		*tail = pgreq_pop(&b->pending);
		tail = &(*tail)->next;
	}
	*tail = NULL;
	c->nkids = n;
	return c;
}

/*
 * Sends the chain statement of a new ordered segment: it runs only if the
 * ordered segment in flight before it (if any) committed.
 */
static int pgbatch_chain(struct pgbatch *b)
{
	char prev[24] = "", this[24];
	const char *params[2] = { prev, this };
	struct pgreq *r = pgreq_new(PGREQ_CHAIN, -1, 0, NULL);

	if (!r)
		return -1;
	if (b->ordered_segments > 0)
		snprintf(prev, sizeof(prev), "%llu", b->chain);
	snprintf(this, sizeof(this), "%llu", ++b->chain);
	if (!PQsendQueryPrepared(b->conn.conn, PG_CHAIN_STMT, 2, params, NULL, NULL, 0)) {
		pgreq_free(r);
		return -1;
	}
	pgreq_push(&b->inflight, r);
	return 0;
}

/* Sends pending requests as one segment, when the connection can take it. */
static void pgbatch_flush(struct pgbatch *b)
{
	struct pgconn *pc = &b->conn;
	struct pgreq *r;
	int n = 0, ordered = 0;

	/* Retries wait until nothing is in flight (pgbatch_segment_end). */
	if (pc->state != PGCONN_READY || !b->pending.head || b->retry.head ||
	    b->segments >= PG_SEGMENTS_INFLIGHT)
		return;
	while (n < PG_SEGMENT_MAX && (r = b->pending.head)) {
		const struct pg_stmt_def *d = &b->stmts[r->stmt];

		if (d->alone && n > 0)
			break; /* it starts the next segment */
		if (d->ordered && !ordered) {
			/*
			 * A second ordered segment only for a queue worth it: a
			 * few requests wait for the one in flight and go
			 * together, as one commit, instead of paying a
			 * transaction each (durable-if1, bench/README.md).
			 */
			if (b->ordered_segments >= PG_ORDERED_INFLIGHT ||
			    (b->ordered_segments > 0 && b->pending.n < PG_CHAIN_MIN))
				break; /* waits until a segment before it is done */
			if (pgbatch_chain(b)) {
				pgconn_lost(pc, "cannot start an ordered pipeline segment");
				return;
			}
			ordered = 1;
		}
		pgreq_pop(&b->pending);
		if (d->batch_sql && !r->nkids && r->kind == PGREQ_STMT)
			r = pgbatch_combine(b, r);
		if (!PQsendQueryPrepared(pc->conn, r->nkids ? d->batch_name : d->name, r->nparams,
					 (const char *const *)r->params, NULL, NULL, 0)) {
			pgreq_push_front(&b->pending, r);
			pgconn_lost(pc, PQerrorMessage(pc->conn));
			return;
		}
		pgreq_push(&b->inflight, r);
		n++;
		if (d->alone)
			break; /* nothing joins it */
	}
	if (!n)
		return;
	r = pgreq_new(PGREQ_SYNC, -1, 0, NULL);
	if (!r || !PQpipelineSync(pc->conn)) {
		free(r);
		pgconn_lost(pc, "cannot end a pipeline segment");
		return;
	}
	r->sent_us = lws_now_usecs();
	r->ordered = ordered;
	pgreq_push(&b->inflight, r);
	b->segments++;
	b->ordered_segments += ordered;
	pgconn_flush(pc);
}

static void pgbatch_flush_cb(lws_sorted_usec_list_t *sul)
{
	struct pgbatch *b = lws_container_of(sul, struct pgbatch, flush_sul);

	b->flush_scheduled = 0;
	pgbatch_flush(b);
}

int pgbatch_query(struct pgbatch *b, int stmt, int nparams, const char *const *params,
		  pg_done_fn done, void *arg)
{
	struct pgreq *r;

	/* A statement that does not exist, or the wrong count, is the caller's bug. */
	BUG_ON(stmt < 0 || stmt >= b->nstmts);
	BUG_ON(nparams != b->stmts[stmt].nparams);
	if (b->conn.state != PGCONN_READY || b->pending.n >= PG_QUEUE_MAX)
		return -1;
	r = pgreq_new(PGREQ_STMT, stmt, nparams, params);
	if (!r)
		return -1;
	r->done = done;
	r->arg = arg;
	pgreq_push(&b->pending, r);
	/* Flush on the next loop turn so requests of this turn share a segment. */
	if (!b->flush_scheduled) {
		b->flush_scheduled = 1;
		lws_sul_schedule(b->conn.ctx, 0, &b->flush_sul, pgbatch_flush_cb, 1);
	}
	return 0;
}

unsigned pgbatch_pending(const struct pgbatch *b)
{
	return b->pending.n + b->retry.n + b->inflight.n + b->seg_done.n;
}

void pgbatch_start(struct pgbatch *b, struct lws_context *ctx, struct lws_vhost *vh,
		   const struct cfg *cfg, const struct pg_stmt_def *stmts, int nstmts,
		   void (*on_ready)(void *arg, int reconnected), void *arg)
{
	const struct pgconn_ops ops = { pgbatch_setup, pgbatch_input, pgbatch_lost, b };

	b->stmts = stmts;
	b->nstmts = nstmts;
	b->on_ready = on_ready;
	b->arg = arg;
	pgconn_start(&b->conn, ctx, vh, cfg, "query", &ops);
}

void pgbatch_close(struct pgbatch *b)
{
	lws_sul_cancel(&b->flush_sul);
	pgconn_close(&b->conn);
}

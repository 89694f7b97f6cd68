/* pgloop.c -- PostgreSQL inside the libwebsockets event loop, never blocking. */
#include "pgloop.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbcall.h"
#include "dberr.h"
#include "log.h"
#include "pgarray.h"

#define PG_SEGMENT_MAX 256     /* statements per pipeline segment (transaction) */
#define PG_BATCH_MAX 256       /* requests in one batch call */
#define PG_SEGMENTS_INFLIGHT 2 /* segments sent before the first one's sync */
#define PG_QUEUE_MAX 20000     /* requests waiting for a segment */
#define PG_TRIES 3             /* runs of a request whose segment rolled back */
#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000
#define PG_POLL_US 5000 /* connect progress polling */

enum pgreq_kind { PGREQ_STMT, PGREQ_SYNC, PGREQ_SETUP };

struct pgreq {
	struct pgreq *next;
	enum pgreq_kind kind;
	int64_t sent_us; /* sync markers: when the segment went out */
	int ordered;     /* sync markers: the segment holds an ordered request */
	int stmt;
	int nparams;
	char **params; /* one allocation: pointers then strings */
	pg_done_fn done;
	void *arg;
	PGresult *res;
	int failed, tries;
	int unavailable;    /* failed for a reason of the database, not the request */
	int raced;          /* rolled back by a deadlock or serialization failure */
	struct pgreq *kids; /* a batch: the requests it runs, in order */
	unsigned nkids;
	int batch_params; /* params[i] are separate allocations */
};

struct pgq_list {
	struct pgreq *head, *tail;
	unsigned n;
};

enum pgc_state { PGC_DOWN, PGC_CONNECTING, PGC_SETUP, PGC_READY };

struct pgconn {
	struct pgloop *pl;
	int is_listen;
	PGconn *conn;
	struct lws *wsi;
	enum pgc_state state;
	lws_sorted_usec_list_t sul;
	unsigned backoff_ms;
	int ever_ready;
	/* query connection only */
	struct pgq_list inflight; /* sent: statements and sync markers, in order */
	struct pgq_list seg_done; /* statements of the current segment, results in */
	int seg_failed;
	int segments;         /* sync markers in flight */
	int ordered_segments; /* of them, segments holding ordered requests */
};

struct pgloop {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	const struct cfg *cfg;
	const struct pg_stmt_def *stmts;
	int nstmts;
	struct pgloop_ops ops;
	struct pgconn listen, query;
	struct pgq_list pending;
	lws_sorted_usec_list_t flush_sul;
	int flush_scheduled;
	int closing;
	struct pgloop_stats stats;
};

static void pgq_push(struct pgq_list *l, struct pgreq *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	l->n++;
}

static void pgq_push_front(struct pgq_list *l, struct pgreq *r)
{
	r->next = l->head;
	l->head = r;
	if (!l->tail)
		l->tail = r;
	l->n++;
}

static struct pgreq *pgq_pop(struct pgq_list *l)
{
	struct pgreq *r = l->head;

	if (!r)
		return NULL;
	l->head = r->next;
	if (!l->head)
		l->tail = NULL;
	l->n--;
	r->next = NULL;
	return r;
}

static void pgreq_free(struct pgreq *r)
{
	if (r->res)
		PQclear(r->res);
	if (r->batch_params)
		for (int i = 0; i < r->nparams; i++)
			free(r->params[i]);
	free(r->params);
	free(r);
}

/*
 * Completes a request: runs its callback (if any) and frees it. A batch
 * completes each of its requests with its own row, or all of them with
 * the batch's failure.
 */
static void pgreq_finish(struct pgreq *r, enum pg_status st)
{
	struct pgreq *k;
	int row = 0;

	if (r->done)
		r->done(r->arg, st, st == PG_OK ? r->res : NULL, 0);
	if (r->nkids && st == PG_OK && (!r->res || PQntuples(r->res) != (int)r->nkids)) {
		log_err("batch of %u got %d rows", r->nkids, r->res ? PQntuples(r->res) : -1);
		st = PG_FAILED;
	}
	while ((k = r->kids)) {
		r->kids = k->next;
		if (k->done)
			k->done(k->arg, st, st == PG_OK ? r->res : NULL, row);
		row++;
		pgreq_free(k);
	}
	pgreq_free(r);
}

static struct pgreq *pgreq_new(enum pgreq_kind kind, int stmt, int nparams,
			       const char *const *params)
{
	size_t bytes = (size_t)nparams * sizeof(char *);
	struct pgreq *r = calloc(1, sizeof(*r));
	char *p;

	if (!r)
		return NULL;
	r->kind = kind;
	r->stmt = stmt;
	r->nparams = nparams;
	if (nparams <= 0)
		return r;
	for (int i = 0; i < nparams; i++)
		if (params[i])
			bytes += strlen(params[i]) + 1;
	r->params = malloc(bytes);
	if (!r->params) {
		free(r);
		return NULL;
	}
	p = (char *)(r->params + nparams);
	for (int i = 0; i < nparams; i++) {
		if (!params[i]) {
			r->params[i] = NULL;
			continue;
		}
		size_t n = strlen(params[i]) + 1;

		memcpy(p, params[i], n);
		r->params[i] = p;
		p += n;
	}
	return r;
}

static void pgc_schedule(struct pgconn *pc, void (*cb)(lws_sorted_usec_list_t *), lws_usec_t us)
{
	lws_sul_schedule(pc->pl->ctx, 0, &pc->sul, cb, us);
}

static void pgc_connect_start(struct pgconn *pc);
static void pgc_connect_poll(lws_sorted_usec_list_t *sul);
static void pgloop_flush(struct pgloop *pl);

static void pgc_retry_cb(lws_sorted_usec_list_t *sul)
{
	struct pgconn *pc = lws_container_of(sul, struct pgconn, sul);

	pgc_connect_start(pc);
}

/* Fails everything the connection had in flight; schedules a reconnect. */
static void pgc_lost(struct pgconn *pc, const char *why)
{
	struct pgreq *r;
	struct pgq_list failed = { 0 };

	if (pc->state == PGC_DOWN)
		return;
	if (pc->pl->closing)
		log_info("database %s connection closed: %s", pc->is_listen ? "listen" : "query",
			 why);
	else
		log_warn("database %s connection lost: %s", pc->is_listen ? "listen" : "query",
			 why);
	pc->state = PGC_DOWN;
	if (pc->wsi) {
		struct lws *w = pc->wsi;

		pc->wsi = NULL;
		lws_set_opaque_user_data(w, NULL);
		lws_set_timeout(w, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
	}
	if (pc->conn) {
		PQfinish(pc->conn);
		pc->conn = NULL;
	}
	/*
	 * Collect first: a callback may queue new requests (they fail at once).
	 * A request that went out may have committed (PG_UNKNOWN), unless its
	 * segment is known to roll back (one of it failed) or its sync was
	 * never sent (no commit without it): those, and the requests never
	 * sent, did not (PG_UNAVAILABLE). The current segment's requests are
	 * in seg_done, then in inflight up to the first sync marker.
	 */
	{
		struct pgreq *last_sync = NULL;
		int first = 1;

		for (r = pc->inflight.head; r; r = r->next)
			if (r->kind == PGREQ_SYNC)
				last_sync = r;
		while ((r = pgq_pop(&pc->seg_done))) {
			r->unavailable = pc->seg_failed || !last_sync;
			pgq_push(&failed, r);
		}
		while ((r = pgq_pop(&pc->inflight))) {
			if (r->kind == PGREQ_SYNC) {
				first = 0;
				if (r == last_sync)
					last_sync = NULL;
			}
			r->unavailable = (first && pc->seg_failed) || !last_sync;
			pgq_push(&failed, r);
		}
	}
	pc->segments = 0;
	pc->ordered_segments = 0;
	pc->seg_failed = 0;
	if (!pc->is_listen) {
		while ((r = pgq_pop(&pc->pl->pending))) {
			r->unavailable = 1;
			pgq_push(&failed, r);
		}
	}
	while ((r = pgq_pop(&failed))) {
		if (r->kind == PGREQ_STMT)
			pgreq_finish(r, r->unavailable ? PG_UNAVAILABLE : PG_UNKNOWN);
		else
			pgreq_free(r);
	}
	if (pc->pl->closing)
		return;
	if (!pc->backoff_ms)
		pc->backoff_ms = PG_BACKOFF_MIN_MS;
	pgc_schedule(pc, pgc_retry_cb, (lws_usec_t)pc->backoff_ms * LWS_US_PER_MS);
	pc->backoff_ms *= 2;
	if (pc->backoff_ms > PG_BACKOFF_MAX_MS)
		pc->backoff_ms = PG_BACKOFF_MAX_MS;
}

static void pgc_connect_start(struct pgconn *pc)
{
	struct dbcall_conn dc;

	dbcall_conn_init(&dc, pc->pl->cfg, "chat-ws");
	pc->conn = PQconnectStartParams(dc.keys, dc.vals, dc.expand_dbname);
	if (!pc->conn || PQstatus(pc->conn) == CONNECTION_BAD) {
		pc->state = PGC_CONNECTING; /* so pgc_lost reschedules */
		pgc_lost(pc, pc->conn ? PQerrorMessage(pc->conn) : "out of memory");
		return;
	}
	pc->state = PGC_CONNECTING;
	pgc_schedule(pc, pgc_connect_poll, PG_POLL_US);
}

/* Sends the connection's set-up: settings, prepared statements or LISTEN. */
static int pgc_setup(struct pgconn *pc)
{
	struct pgloop *pl = pc->pl;
	struct dbcall_conn dc;
	struct pgreq *r;

	PQsetNoticeProcessor(pc->conn, dbcall_notice, NULL);
	if (PQsetnonblocking(pc->conn, 1))
		return -1;
	if (pc->is_listen)
		return PQsendQuery(pc->conn, "LISTEN chat_events") ? 0 : -1;
	if (!PQenterPipelineMode(pc->conn))
		return -1;
	dbcall_conn_init(&dc, pl->cfg, "chat-ws");
	for (int i = 0; i < DBCALL_NSETTINGS; i++) {
		if (!PQsendQueryParams(pc->conn, dc.settings[i].sql, 1, NULL, &dc.settings[i].param,
				       NULL, NULL, 0))
			return -1;
		r = pgreq_new(PGREQ_SETUP, -1, 0, NULL);
		if (!r)
			return -1;
		pgq_push(&pc->inflight, r);
	}
	for (int i = 0; i < pl->nstmts; i++) {
		const struct pg_stmt_def *d = &pl->stmts[i];

		for (int batch = 0; batch < (d->batch_sql ? 2 : 1); batch++) {
			if (!PQsendPrepare(pc->conn, batch ? d->batch_name : d->name,
					   batch ? d->batch_sql : d->sql, d->nparams, NULL))
				return -1;
			r = pgreq_new(PGREQ_SETUP, -1, 0, NULL);
			if (!r)
				return -1;
			pgq_push(&pc->inflight, r);
		}
	}
	if (!PQpipelineSync(pc->conn))
		return -1;
	r = pgreq_new(PGREQ_SYNC, -1, 0, NULL);
	if (!r)
		return -1;
	pgq_push(&pc->inflight, r);
	pc->segments = 1;
	return 0;
}

/* Puts a dup of libpq's socket into the lws loop (lws closes the dup). */
static int pgc_adopt(struct pgconn *pc)
{
	lws_sock_file_fd_type fd;
	int dupfd = dup(PQsocket(pc->conn));

	if (dupfd < 0)
		return -1;
	fd.filefd = dupfd;
	pc->wsi = lws_adopt_descriptor_vhost(pc->pl->vh, LWS_ADOPT_RAW_FILE_DESC, fd,
					     PGLOOP_PROTOCOL, NULL);
	if (!pc->wsi) {
		close(dupfd);
		return -1;
	}
	lws_set_opaque_user_data(pc->wsi, pc);
	return 0;
}

static void pgc_flush_out(struct pgconn *pc)
{
	int r = PQflush(pc->conn);

	if (r < 0) {
		pgc_lost(pc, PQerrorMessage(pc->conn));
		return;
	}
	if (r == 1 && pc->wsi)
		lws_callback_on_writable(pc->wsi);
}

static void pgc_connect_poll(lws_sorted_usec_list_t *sul)
{
	struct pgconn *pc = lws_container_of(sul, struct pgconn, sul);

	switch (PQconnectPoll(pc->conn)) {
	case PGRES_POLLING_OK:
		break;
	case PGRES_POLLING_FAILED:
		pgc_lost(pc, PQerrorMessage(pc->conn));
		return;
	default:
		pgc_schedule(pc, pgc_connect_poll, PG_POLL_US);
		return;
	}
	pc->state = PGC_SETUP;
	if (pgc_setup(pc) || pgc_adopt(pc)) {
		pgc_lost(pc, PQerrorMessage(pc->conn));
		return;
	}
	pgc_flush_out(pc);
}

static void pgc_ready(struct pgconn *pc)
{
	struct pgloop *pl = pc->pl;
	int reconnected = pc->ever_ready;

	pc->state = PGC_READY;
	if (pc->ever_ready)
		pl->stats.reconnects++;
	pc->ever_ready = 1;
	pc->backoff_ms = 0;
	log_info("database %s connection ready", pc->is_listen ? "listen" : "query");
	if (pc->is_listen) {
		if (pl->ops.on_listen)
			pl->ops.on_listen(pl->ops.arg, reconnected);
	} else {
		if (pl->ops.on_query_ready)
			pl->ops.on_query_ready(pl->ops.arg, reconnected);
		pgloop_flush(pl);
	}
}

/* The segment's sync arrived: it committed, or rolled back if one failed. */
static void pgc_segment_end(struct pgconn *pc, int64_t sent_us, int ordered)
{
	struct pgloop *pl = pc->pl;
	struct pgq_list retry = { 0 };
	struct pgreq *r;
	int failed = pc->seg_failed;

	pc->seg_failed = 0;
	pc->segments--;
	if (ordered)
		pc->ordered_segments--;
	if (sent_us) {
		double ms = (double)(lws_now_usecs() - sent_us) / 1000.0;

		pl->stats.segments++;
		pl->stats.segment_ms_sum += ms;
		pl->stats.segment_ms_last = ms;
		if (failed)
			pl->stats.rolled_back++;
	}
	if (pc->state == PGC_SETUP) {
		while ((r = pgq_pop(&pc->seg_done)))
			pgreq_free(r);
		if (failed) {
			pgc_lost(pc, "cannot prepare the statements");
			return;
		}
		pgc_ready(pc);
		return;
	}
	while ((r = pgq_pop(&pc->seg_done))) {
		if (!failed) {
			pl->stats.statements += r->nkids ? r->nkids : 1;
			if (r->nkids) {
				pl->stats.batches++;
				pl->stats.batched += r->nkids;
			}
			pgreq_finish(r, PG_OK);
		} else if (r->failed || ++r->tries >= PG_TRIES) {
			pl->stats.failed += r->nkids ? r->nkids : 1;
			/* Rolled back: a race lost too often is "try again" too. */
			pgreq_finish(r, r->unavailable || r->raced ? PG_UNAVAILABLE : PG_FAILED);
		} else {
			/* Rolled back with the failing one, or by a race: run it again. */
			if (r->res) {
				PQclear(r->res);
				r->res = NULL;
			}
			pl->stats.retried += r->nkids ? r->nkids : 1;
			pgq_push(&retry, r);
		}
	}
	/*
	 * Retries go first, in their original order. Nothing ordered went out
	 * after them (pgloop_flush), so they keep their place before it.
	 */
	if (retry.head) {
		retry.tail->next = pl->pending.head;
		pl->pending.head = retry.head;
		if (!pl->pending.tail)
			pl->pending.tail = retry.tail;
		pl->pending.n += retry.n;
	}
	pgloop_flush(pl);
}

/* Reads every result that has arrived; returns -1 when the connection broke. */
static int pgc_drain_query(struct pgconn *pc)
{
	while (pc->inflight.head && pc->conn) {
		struct pgreq *r = pc->inflight.head;
		PGresult *res;

		if (PQisBusy(pc->conn))
			return 0;
		res = PQgetResult(pc->conn);
		if (r->kind == PGREQ_SYNC) {
			if (!res)
				continue;
			if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
				/*
				 * An ERROR here is the COMMIT failing: the segment rolled
				 * back (its requests run again). A FATAL ends the
				 * connection, after a COMMIT that may have happened.
				 */
				const char *sev =
					PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

				if (PQresultStatus(res) == PGRES_FATAL_ERROR && sev &&
				    strcmp(sev, "ERROR") == 0) {
					log_warn("a pipeline segment failed to commit: %s",
						 PQresultErrorMessage(res));
					pc->seg_failed = 1;
				}
				PQclear(res);
				continue;
			}
			PQclear(res);
			{
				struct pgreq *sync = pgq_pop(&pc->inflight);
				int64_t sent = sync->sent_us;
				int ordered = sync->ordered;

				pgreq_free(sync);
				pgc_segment_end(pc, sent, ordered);
			}
			continue;
		}
		if (!res) {
			pgq_push(&pc->seg_done, pgq_pop(&pc->inflight));
			continue;
		}
		switch (PQresultStatus(res)) {
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
			if (!r->res) {
				r->res = res;
				res = NULL;
			}
			break;
		case PGRES_PIPELINE_ABORTED:
			break;
		default: {
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			pc->seg_failed = 1;
			if (r->kind == PGREQ_STMT && dberr_retry(state)) {
				/* A deadlock or serialization failure: runs again. */
				log_warn("statement '%s' rolled back, runs again: %s",
					 pc->pl->stmts[r->stmt].name, PQresultErrorMessage(res));
				r->raced = 1;
				break;
			}
			log_err("statement '%s' failed: %s",
				r->kind == PGREQ_STMT ? pc->pl->stmts[r->stmt].name : "setup",
				PQresultErrorMessage(res));
			r->failed = 1;
			r->unavailable = dberr_unavailable(state);
			break;
		}
		}
		if (res)
			PQclear(res);
	}
	return 0;
}

static void pgc_drain_listen(struct pgconn *pc)
{
	struct pgloop *pl = pc->pl;
	PGnotify *n;

	while (!PQisBusy(pc->conn)) {
		PGresult *res = PQgetResult(pc->conn);

		if (!res)
			break;
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			log_err("cannot LISTEN: %s", PQresultErrorMessage(res));
		else if (pc->state == PGC_SETUP)
			pgc_ready(pc);
		PQclear(res);
	}
	while ((n = PQnotifies(pc->conn))) {
		pl->stats.notifies++;
		if (pl->ops.on_notify && pc->state == PGC_READY)
			pl->ops.on_notify(pl->ops.arg, n->extra, strlen(n->extra));
		PQfreemem(n);
	}
}

int pgloop_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct pgconn *pc = lws_get_opaque_user_data(wsi);

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (!pc || !pc->conn)
			return -1;
		/* A failed read must close the descriptor: returning 0 here would
		 * have lws report it readable again at once, forever. */
		if (!PQconsumeInput(pc->conn) || PQstatus(pc->conn) != CONNECTION_OK) {
			pgc_lost(pc, PQerrorMessage(pc->conn));
			return 0; /* pgc_lost already asked lws to close this wsi */
		}
		if (pc->is_listen)
			pgc_drain_listen(pc);
		else
			pgc_drain_query(pc);
		if (pc->conn && pc->state != PGC_DOWN)
			pgc_flush_out(pc);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (pc && pc->conn)
			pgc_flush_out(pc);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (pc && pc->wsi == wsi) {
			pc->wsi = NULL;
			pgc_lost(pc, "socket closed");
		}
		return 0;
	default:
		return 0;
	}
}

/*
 * Takes first and the requests of the same statement queued right behind
 * it (at most PG_BATCH_MAX) and returns one request that runs them all,
 * or first itself when it is alone or memory is short.
 */
static struct pgreq *pgloop_batch(struct pgloop *pl, struct pgreq *first)
{
	struct pgreq *b, *r, **tail;
	const char **vals;
	unsigned n = 1;
	int np = first->nparams;

	for (r = pl->pending.head;
	     r && n < PG_BATCH_MAX && r->stmt == first->stmt && r->kind == PGREQ_STMT && !r->nkids;
	     r = r->next)
		n++;
	if (n == 1)
		return first;
	b = pgreq_new(PGREQ_STMT, first->stmt, 0, NULL);
	vals = malloc(n * sizeof(*vals));
	if (b)
		b->params = calloc((size_t)np, sizeof(*b->params));
	if (!b || !vals || !b->params) {
		if (b)
			pgreq_free(b);
		free(vals);
		return first;
	}
	b->nparams = np;
	b->batch_params = 1;
	for (int i = 0; i < np; i++) {
		r = first;
		for (unsigned j = 0; j < n; j++) {
			vals[j] = r->params[i];
			r = j == 0 ? pl->pending.head : r->next;
		}
		b->params[i] = pgarray_literal(vals, n);
		if (!b->params[i]) {
			free(vals);
			pgreq_free(b);
			return first;
		}
	}
	free(vals);
	/* Committed to the batch: move the requests into it. */
	tail = &b->kids;
	*tail = first;
	tail = &first->next;
	for (unsigned j = 1; j < n; j++) {
		*tail = pgq_pop(&pl->pending);
		tail = &(*tail)->next;
	}
	*tail = NULL;
	b->nkids = n;
	return b;
}

/* Sends pending requests as one segment, when the connection can take it. */
static void pgloop_flush(struct pgloop *pl)
{
	struct pgconn *pc = &pl->query;
	struct pgreq *r;
	int n = 0, ordered = 0;

	if (pc->state != PGC_READY || !pl->pending.head || pc->segments >= PG_SEGMENTS_INFLIGHT)
		return;
	while (n < PG_SEGMENT_MAX && (r = pl->pending.head)) {
		const struct pg_stmt_def *d = &pl->stmts[r->stmt];

		if (d->alone && n > 0)
			break; /* it starts the next segment */
		if (d->ordered && pc->ordered_segments > 0)
			break; /* waits until the segment before it is done */
		ordered |= d->ordered;
		pgq_pop(&pl->pending);
		if (d->batch_sql && !r->nkids && r->kind == PGREQ_STMT)
			r = pgloop_batch(pl, r);
		if (!PQsendQueryPrepared(pc->conn, r->nkids ? d->batch_name : d->name, r->nparams,
					 (const char *const *)r->params, NULL, NULL, 0)) {
			pgq_push_front(&pl->pending, r);
			pgc_lost(pc, PQerrorMessage(pc->conn));
			return;
		}
		pgq_push(&pc->inflight, r);
		n++;
		if (d->alone)
			break; /* nothing joins it */
	}
	if (!n)
		return;
	r = pgreq_new(PGREQ_SYNC, -1, 0, NULL);
	if (!r || !PQpipelineSync(pc->conn)) {
		free(r);
		pgc_lost(pc, "cannot end a pipeline segment");
		return;
	}
	r->sent_us = lws_now_usecs();
	r->ordered = ordered;
	pgq_push(&pc->inflight, r);
	pc->segments++;
	pc->ordered_segments += ordered;
	pgc_flush_out(pc);
}

static void pgloop_flush_cb(lws_sorted_usec_list_t *sul)
{
	struct pgloop *pl = lws_container_of(sul, struct pgloop, flush_sul);

	pl->flush_scheduled = 0;
	pgloop_flush(pl);
}

int pgloop_query(struct pgloop *pl, int stmt, int nparams, const char *const *params,
		 pg_done_fn done, void *arg)
{
	struct pgreq *r;

	if (pl->query.state != PGC_READY || pl->pending.n >= PG_QUEUE_MAX || stmt < 0 ||
	    stmt >= pl->nstmts || nparams != pl->stmts[stmt].nparams)
		return -1;
	r = pgreq_new(PGREQ_STMT, stmt, nparams, params);
	if (!r)
		return -1;
	r->done = done;
	r->arg = arg;
	pgq_push(&pl->pending, r);
	/* Flush on the next loop turn so requests of this turn share a segment. */
	if (!pl->flush_scheduled) {
		pl->flush_scheduled = 1;
		lws_sul_schedule(pl->ctx, 0, &pl->flush_sul, pgloop_flush_cb, 1);
	}
	return 0;
}

int pgloop_ready(const struct pgloop *pl)
{
	return pl->query.state == PGC_READY;
}

unsigned pgloop_pending(const struct pgloop *pl)
{
	return pl->pending.n + pl->query.inflight.n + pl->query.seg_done.n;
}

void pgloop_get_stats(const struct pgloop *pl, struct pgloop_stats *st)
{
	*st = pl->stats;
	st->listen_up = pl->listen.state == PGC_READY;
	st->query_up = pl->query.state == PGC_READY;
}

struct pgloop *pgloop_new(struct lws_context *ctx, struct lws_vhost *vh, const struct cfg *cfg,
			  const struct pg_stmt_def *stmts, int nstmts, const struct pgloop_ops *ops)
{
	struct pgloop *pl = calloc(1, sizeof(*pl));

	if (!pl)
		return NULL;
	pl->ctx = ctx;
	pl->vh = vh;
	pl->cfg = cfg;
	pl->stmts = stmts;
	pl->nstmts = nstmts;
	pl->ops = *ops;
	pl->listen.pl = pl;
	pl->listen.is_listen = 1;
	pl->query.pl = pl;
	pgc_connect_start(&pl->listen);
	pgc_connect_start(&pl->query);
	return pl;
}

void pgloop_free(struct pgloop *pl)
{
	if (!pl)
		return;
	pl->closing = 1;
	lws_sul_cancel(&pl->flush_sul);
	lws_sul_cancel(&pl->listen.sul);
	lws_sul_cancel(&pl->query.sul);
	if (pl->listen.state == PGC_DOWN && pl->listen.conn) {
		PQfinish(pl->listen.conn);
		pl->listen.conn = NULL;
	}
	if (pl->query.state == PGC_DOWN && pl->query.conn) {
		PQfinish(pl->query.conn);
		pl->query.conn = NULL;
	}
	pl->listen.state = pl->listen.state == PGC_DOWN ? PGC_DOWN : PGC_SETUP;
	pgc_lost(&pl->listen, "shutting down");
	pl->query.state = pl->query.state == PGC_DOWN ? PGC_DOWN : PGC_SETUP;
	pgc_lost(&pl->query, "shutting down");
	free(pl);
}

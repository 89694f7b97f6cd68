/* pgloop.c -- PostgreSQL in the lws loop: the public API and the LISTEN connection. */
#include "pgloop.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

struct pgloop {
	struct pgloop_ops ops;
	struct pgconn listen;
	struct pgbatch query;
	unsigned long long listen_reconnects;
	unsigned long long notifies;
};

/* pgconn_ops.setup of the LISTEN connection. */
static int pgloop_listen_setup(void *arg, PGconn *conn)
{
	(void)arg;
	return PQsendQuery(conn, "LISTEN chat_events") ? 0 : -1;
}

/* pgconn_ops.input of the LISTEN connection: LISTEN's answer, then payloads. */
static void pgloop_listen_input(void *arg)
{
	struct pgloop *pl = arg;
	struct pgconn *pc = &pl->listen;
	PGnotify *n;

	while (!PQisBusy(pc->conn)) {
		PGresult *res = PQgetResult(pc->conn);

		if (!res)
			break;
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			log_err("cannot LISTEN: %s", PQresultErrorMessage(res));
		} else if (pc->state == PGCONN_SETUP) {
			int reconnected = pgconn_ready(pc);

			if (reconnected)
				pl->listen_reconnects++;
			if (pl->ops.on_listen)
				pl->ops.on_listen(pl->ops.arg, reconnected);
		}
		PQclear(res);
	}
	while ((n = PQnotifies(pc->conn))) {
		pl->notifies++;
		if (pl->ops.on_notify && pc->state == PGCONN_READY)
			pl->ops.on_notify(pl->ops.arg, n->extra, strlen(n->extra));
		PQfreemem(n);
	}
}

int pgloop_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	(void)user;
	(void)in;
	(void)len;
	return pgconn_callback(wsi, reason);
}

int pgloop_query(struct pgloop *pl, int stmt, int nparams, const char *const *params,
		 pg_done_fn done, void *arg)
{
	return pgbatch_query(&pl->query, stmt, nparams, params, done, arg);
}

int pgloop_ready(const struct pgloop *pl)
{
	return pl->query.conn.state == PGCONN_READY;
}

unsigned pgloop_pending(const struct pgloop *pl)
{
	return pgbatch_pending(&pl->query);
}

void pgloop_get_stats(const struct pgloop *pl, struct pgloop_stats *st)
{
	const struct pgbatch_stats *q = &pl->query.stats;

	memset(st, 0, sizeof(*st));
	st->segments = q->segments;
	st->statements = q->statements;
	st->batches = q->batches;
	st->batched = q->batched;
	st->failed = q->failed;
	st->rolled_back = q->rolled_back;
	st->retried = q->retried;
	st->reconnects = q->reconnects + pl->listen_reconnects;
	st->notifies = pl->notifies;
	st->segment_ms_sum = q->segment_ms_sum;
	st->segment_ms_last = q->segment_ms_last;
	st->listen_up = pl->listen.state == PGCONN_READY;
	st->query_up = pl->query.conn.state == PGCONN_READY;
}

struct pgloop *pgloop_new(struct lws_context *ctx, struct lws_vhost *vh, const struct cfg *cfg,
			  const struct pg_stmt_def *stmts, int nstmts, const struct pgloop_ops *ops)
{
	struct pgloop *pl = calloc(1, sizeof(*pl));
	struct pgconn_ops lops = { pgloop_listen_setup, pgloop_listen_input, NULL, NULL };

	if (!pl)
		return NULL;
	pl->ops = *ops;
	lops.arg = pl;
	pgconn_start(&pl->listen, ctx, vh, cfg, "listen", &lops);
	pgbatch_start(&pl->query, ctx, vh, cfg, stmts, nstmts, pl->ops.on_query_ready, pl->ops.arg);
	return pl;
}

void pgloop_free(struct pgloop *pl)
{
	if (!pl)
		return;
	pgconn_close(&pl->listen);
	pgbatch_close(&pl->query);
	free(pl);
}

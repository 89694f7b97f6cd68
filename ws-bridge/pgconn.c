/* pgconn.c -- one non-blocking libpq connection in the lws loop, reconnecting. */
#include "pgconn.h"

#include <unistd.h>

#include "dbcall.h"
#include "log.h"

#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000
#define PG_POLL_US 5000 /* connect progress polling */

static void pgconn_connect(struct pgconn *pc);

static void pgconn_schedule(struct pgconn *pc, void (*cb)(lws_sorted_usec_list_t *), lws_usec_t us)
{
	lws_sul_schedule(pc->ctx, 0, &pc->sul, cb, us);
}

static void pgconn_retry_cb(lws_sorted_usec_list_t *sul)
{
	struct pgconn *pc = lws_container_of(sul, struct pgconn, sul);

	pgconn_connect(pc);
}

void pgconn_lost(struct pgconn *pc, const char *why)
{
	if (pc->state == PGCONN_DOWN)
		return;
	if (pc->closing)
		log_info("database %s connection closed: %s", pc->name, why);
	else
		log_warn("database %s connection lost: %s", pc->name, why);
	pc->state = PGCONN_DOWN;
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
	/* Down first: a request queued from what ops.lost calls fails at once. */
	if (pc->ops.lost)
		pc->ops.lost(pc->ops.arg);
	if (pc->closing)
		return;
	if (!pc->backoff_ms)
		pc->backoff_ms = PG_BACKOFF_MIN_MS;
	pgconn_schedule(pc, pgconn_retry_cb, (lws_usec_t)pc->backoff_ms * LWS_US_PER_MS);
	pc->backoff_ms *= 2;
	if (pc->backoff_ms > PG_BACKOFF_MAX_MS)
		pc->backoff_ms = PG_BACKOFF_MAX_MS;
}

/* Puts a dup of libpq's socket into the lws loop (lws closes the dup). */
static int pgconn_adopt(struct pgconn *pc)
{
	lws_sock_file_fd_type fd;
	int dupfd = dup(PQsocket(pc->conn));

	if (dupfd < 0)
		return -1;
	fd.filefd = dupfd;
	pc->wsi = lws_adopt_descriptor_vhost(pc->vh, LWS_ADOPT_RAW_FILE_DESC, fd, PGCONN_PROTOCOL,
					     NULL);
	if (!pc->wsi) {
		close(dupfd);
		return -1;
	}
	lws_set_opaque_user_data(pc->wsi, pc);
	return 0;
}

void pgconn_flush(struct pgconn *pc)
{
	int r = PQflush(pc->conn);

	if (r < 0) {
		pgconn_lost(pc, PQerrorMessage(pc->conn));
		return;
	}
	if (r == 1 && pc->wsi)
		lws_callback_on_writable(pc->wsi);
}

/* The settings every connection takes, then the user's set-up. */
static int pgconn_setup(struct pgconn *pc)
{
	PQsetNoticeProcessor(pc->conn, dbcall_notice, NULL);
	if (PQsetnonblocking(pc->conn, 1))
		return -1;
	return pc->ops.setup(pc->ops.arg, pc->conn);
}

static void pgconn_connect_poll(lws_sorted_usec_list_t *sul)
{
	struct pgconn *pc = lws_container_of(sul, struct pgconn, sul);

	switch (PQconnectPoll(pc->conn)) {
	case PGRES_POLLING_OK:
		break;
	case PGRES_POLLING_FAILED:
		pgconn_lost(pc, PQerrorMessage(pc->conn));
		return;
	default:
		pgconn_schedule(pc, pgconn_connect_poll, PG_POLL_US);
		return;
	}
	pc->state = PGCONN_SETUP;
	if (pgconn_setup(pc) || pgconn_adopt(pc)) {
		pgconn_lost(pc, PQerrorMessage(pc->conn));
		return;
	}
	pgconn_flush(pc);
}

static void pgconn_connect(struct pgconn *pc)
{
	struct dbcall_conn dc;

	dbcall_conn_init(&dc, pc->cfg, "chat-ws");
	pc->conn = PQconnectStartParams(dc.keys, dc.vals, dc.expand_dbname);
	if (!pc->conn || PQstatus(pc->conn) == CONNECTION_BAD) {
		pc->state = PGCONN_CONNECTING; /* so pgconn_lost reschedules */
		pgconn_lost(pc, pc->conn ? PQerrorMessage(pc->conn) : "out of memory");
		return;
	}
	pc->state = PGCONN_CONNECTING;
	pgconn_schedule(pc, pgconn_connect_poll, PG_POLL_US);
}

void pgconn_start(struct pgconn *pc, struct lws_context *ctx, struct lws_vhost *vh,
		  const struct cfg *cfg, const char *name, const struct pgconn_ops *ops)
{
	pc->ctx = ctx;
	pc->vh = vh;
	pc->cfg = cfg;
	pc->name = name;
	pc->ops = *ops;
	pgconn_connect(pc);
}

int pgconn_ready(struct pgconn *pc)
{
	int reconnected = pc->ever_ready;

	pc->state = PGCONN_READY;
	pc->ever_ready = 1;
	pc->backoff_ms = 0;
	log_info("database %s connection ready", pc->name);
	return reconnected;
}

void pgconn_close(struct pgconn *pc)
{
	pc->closing = 1;
	lws_sul_cancel(&pc->sul);
	if (pc->state == PGCONN_DOWN && pc->conn) {
		PQfinish(pc->conn);
		pc->conn = NULL;
	}
	/* Not down (unless it is), so that pgconn_lost fails what is in flight. */
	pc->state = pc->state == PGCONN_DOWN ? PGCONN_DOWN : PGCONN_SETUP;
	pgconn_lost(pc, "shutting down");
}

int pgconn_callback(struct lws *wsi, enum lws_callback_reasons reason)
{
	struct pgconn *pc = lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (!pc || !pc->conn)
			return -1;
		/* A failed read must close the descriptor: returning 0 here would
		 * have lws report it readable again at once, forever. */
		if (!PQconsumeInput(pc->conn) || PQstatus(pc->conn) != CONNECTION_OK) {
			pgconn_lost(pc, PQerrorMessage(pc->conn));
			return 0; /* pgconn_lost already asked lws to close this wsi */
		}
		pc->ops.input(pc->ops.arg);
		if (pc->conn && pc->state != PGCONN_DOWN)
			pgconn_flush(pc);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (pc && pc->conn)
			pgconn_flush(pc);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (pc && pc->wsi == wsi) {
			pc->wsi = NULL;
			pgconn_lost(pc, "socket closed");
		}
		return 0;
	default:
		return 0;
	}
}

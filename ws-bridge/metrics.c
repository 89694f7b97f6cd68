/* metrics.c -- the bridge's /metrics page, in the Prometheus text format. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "log.h"
#include "textbuf.h"
#include "version.h"

#define METRICS_PAGE_MAX 32768

/* Sessions open and opened, and the transports' counters (conn.c). */
static void metrics_sessions(const struct bridge *b, char *buf, size_t size, size_t *n)
{
	const struct conn_set *cs = b->conns;
	unsigned ws = 0, polling = 0;

	for (const struct conn *c = cs->head; c; c = c->next)
		c->transport == CONN_WEBSOCKET ? ws++ : polling++;
	textbuf_printf(buf, size, n,
		       "# HELP chat_ws_sessions Engine.IO sessions open now.\n"
		       "# TYPE chat_ws_sessions gauge\n"
		       "chat_ws_sessions{transport=\"websocket\"} %u\n"
		       "chat_ws_sessions{transport=\"polling\"} %u\n",
		       ws, polling);
	textbuf_printf(
		buf, size, n,
		"# HELP chat_ws_sessions_opened_total Sessions opened.\n"
		"# TYPE chat_ws_sessions_opened_total counter\n"
		"chat_ws_sessions_opened_total %llu\n"
		"# HELP chat_ws_sessions_refused_total Sessions refused by the connection caps.\n"
		"# TYPE chat_ws_sessions_refused_total counter\n"
		"chat_ws_sessions_refused_total %llu\n"
		"# HELP chat_ws_slow_clients_closed_total Connections closed because their output queue was full.\n"
		"# TYPE chat_ws_slow_clients_closed_total counter\n"
		"chat_ws_slow_clients_closed_total %llu\n"
		"# HELP chat_ws_upgrades_total Polling sessions upgraded to WebSocket.\n"
		"# TYPE chat_ws_upgrades_total counter\n"
		"chat_ws_upgrades_total %llu\n"
		"# HELP chat_ws_polls_total Long-polling requests, by method.\n"
		"# TYPE chat_ws_polls_total counter\n"
		"chat_ws_polls_total{method=\"GET\"} %llu\n"
		"chat_ws_polls_total{method=\"POST\"} %llu\n",
		cs->opened, cs->refused, cs->slow_closed, cs->upgrades, cs->polls, cs->posts);
}

/* Client events by name, and their errors by code. */
static void metrics_events(const struct bridge *b, char *buf, size_t size, size_t *n)
{
	static const char *const evnames[BE__COUNT] = { "join_room",      "leave_room",
							"send_message",   "typing",
							"delete_message", "mark_read",
							"edit_message",   "other" };
	const struct bridge_stats *st = &b->stats;

	textbuf_printf(buf, size, n,
		       "# HELP chat_ws_events_in_total Client events received.\n"
		       "# TYPE chat_ws_events_in_total counter\n");
	for (int i = 0; i < BE__COUNT; i++)
		textbuf_printf(buf, size, n, "chat_ws_events_in_total{event=\"%s\"} %llu\n",
			       evnames[i], st->events[i]);
	textbuf_printf(buf, size, n,
		       "# HELP chat_ws_errors_total Events answered with an error, by code.\n"
		       "# TYPE chat_ws_errors_total counter\n");
	for (int i = ERR_NONE + 1; i < ERR__COUNT; i++)
		textbuf_printf(buf, size, n, "chat_ws_errors_total{code=\"%s\"} %llu\n",
			       err_name((enum err_code)i), st->errors[i]);
}

/* Output queues and the NOTIFY path. */
static void metrics_flow(const struct bridge *b, const struct pgloop_stats *pg, char *buf,
			 size_t size, size_t *n)
{
	const struct conn_set *cs = b->conns;
	const struct bridge_stats *st = &b->stats;
	unsigned long queued = 0, longest = 0;

	/* Sampled now: the sweep no longer visits every session each second. */
	for (const struct conn *c = cs->head; c; c = c->next) {
		queued += c->q.count;
		if (c->q.count > longest)
			longest = c->q.count;
	}
	textbuf_printf(
		buf, size, n,
		"# HELP chat_ws_frames_out_total WebSocket frames written.\n"
		"# TYPE chat_ws_frames_out_total counter\n"
		"chat_ws_frames_out_total %llu\n"
		"# HELP chat_ws_bytes_out_total WebSocket bytes written.\n"
		"# TYPE chat_ws_bytes_out_total counter\n"
		"chat_ws_bytes_out_total %llu\n"
		"# HELP chat_ws_sends_total WebSocket sends (one or more frames each).\n"
		"# TYPE chat_ws_sends_total counter\n"
		"chat_ws_sends_total %llu\n"
		"# HELP chat_ws_send_waits_total Sends the socket did not take whole: the rest "
		"waited for it to be writable.\n"
		"# TYPE chat_ws_send_waits_total counter\n"
		"chat_ws_send_waits_total %llu\n"
		"# HELP chat_ws_ring_sends_total Of the sends, those made through io_uring.\n"
		"# TYPE chat_ws_ring_sends_total counter\n"
		"chat_ws_ring_sends_total %llu\n"
		"# HELP chat_ws_ring_submits_total io_uring submissions (system calls) that carried "
		"them.\n"
		"# TYPE chat_ws_ring_submits_total counter\n"
		"chat_ws_ring_submits_total %llu\n"
		"# HELP chat_ws_queue_frames Frames waiting in output queues now.\n"
		"# TYPE chat_ws_queue_frames gauge\n"
		"chat_ws_queue_frames %lu\n"
		"# HELP chat_ws_queue_frames_max The longest output queue now.\n"
		"# TYPE chat_ws_queue_frames_max gauge\n"
		"chat_ws_queue_frames_max %lu\n",
		cs->frames_out, cs->bytes_out, cs->ws_sends, cs->ws_send_waits, cs->ws_ring_sends,
		cs->ws_ring_submits, queued, longest);
	histo_render(&st->delivery, "chat_ws_delivery_seconds",
		     "From an event's NOTIFY in the database (its commit) to its arrival here.",
		     buf, size, n);
	histo_render(&st->ack, "chat_ws_ack_seconds",
		     "From a client event's arrival to its acknowledgement, for events answered "
		     "by the database.",
		     buf, size, n);
	textbuf_printf(
		buf, size, n,
		"# HELP chat_ws_notify_total NOTIFYs received on the LISTEN connection.\n"
		"# TYPE chat_ws_notify_total counter\n"
		"chat_ws_notify_total %llu\n"
		"# HELP chat_ws_gap_reads_total Reads of messages back from the table (gaps, large messages, recovery).\n"
		"# TYPE chat_ws_gap_reads_total counter\n"
		"chat_ws_gap_reads_total %llu\n"
		"# HELP chat_ws_range_reads_total Pages of messages read back, for a room gap or one subscriber.\n"
		"# TYPE chat_ws_range_reads_total counter\n"
		"chat_ws_range_reads_total{for=\"room\"} %llu\n"
		"chat_ws_range_reads_total{for=\"subscriber\"} %llu\n",
		pg->notifies, st->gap_reads, st->range_reads[0], st->range_reads[1]);
}

/* The database loop (pgloop.c). */
static void metrics_db(const struct bridge *b, const struct pgloop_stats *pg, char *buf,
		       size_t size, size_t *n)
{
	textbuf_printf(
		buf, size, n,
		"# HELP chat_ws_db_up 1 when that PostgreSQL connection is ready.\n"
		"# TYPE chat_ws_db_up gauge\n"
		"chat_ws_db_up{conn=\"listen\"} %d\n"
		"chat_ws_db_up{conn=\"query\"} %d\n"
		"# HELP chat_ws_db_pending Queries queued or in flight.\n"
		"# TYPE chat_ws_db_pending gauge\n"
		"chat_ws_db_pending %u\n"
		"# HELP chat_ws_db_roundtrip_seconds Send-to-commit time of pipeline segments.\n"
		"# TYPE chat_ws_db_roundtrip_seconds summary\n"
		"chat_ws_db_roundtrip_seconds_sum %.6f\n"
		"chat_ws_db_roundtrip_seconds_count %llu\n"
		"# HELP chat_ws_db_roundtrip_last_seconds The latest segment's send-to-commit time.\n"
		"# TYPE chat_ws_db_roundtrip_last_seconds gauge\n"
		"chat_ws_db_roundtrip_last_seconds %.6f\n"
		"# HELP chat_ws_db_statements_total Statements completed in committed segments.\n"
		"# TYPE chat_ws_db_statements_total counter\n"
		"chat_ws_db_statements_total %llu\n"
		"# HELP chat_ws_db_batches_total Batch calls (send_message, CONNECT) committed.\n"
		"# TYPE chat_ws_db_batches_total counter\n"
		"chat_ws_db_batches_total %llu\n"
		"# HELP chat_ws_db_batched_total Requests carried by batch calls.\n"
		"# TYPE chat_ws_db_batched_total counter\n"
		"chat_ws_db_batched_total %llu\n"
		"# HELP chat_ws_db_failed_total Statements that failed for good.\n"
		"# TYPE chat_ws_db_failed_total counter\n"
		"chat_ws_db_failed_total %llu\n"
		"# HELP chat_ws_db_rolled_back_total Segments rolled back because one of their statements failed.\n"
		"# TYPE chat_ws_db_rolled_back_total counter\n"
		"chat_ws_db_rolled_back_total %llu\n"
		"# HELP chat_ws_db_retried_total Requests run again after their segment rolled back.\n"
		"# TYPE chat_ws_db_retried_total counter\n"
		"chat_ws_db_retried_total %llu\n"
		"# HELP chat_ws_db_reconnects_total PostgreSQL connections re-established after a loss.\n"
		"# TYPE chat_ws_db_reconnects_total counter\n"
		"chat_ws_db_reconnects_total %llu\n",
		pg->listen_up, pg->query_up, pgloop_pending(b->pg), pg->segment_ms_sum / 1000.0,
		pg->segments, pg->segment_ms_last / 1000.0, pg->statements, pg->batches,
		pg->batched, pg->failed, pg->rolled_back, pg->retried, pg->reconnects);
}

/* Presence closes waiting, and CONNECTs refused after a logout. */
static void metrics_presence(const struct bridge *b, char *buf, size_t size, size_t *n)
{
	const struct bridge_stats *st = &b->stats;

	textbuf_printf(
		buf, size, n,
		"# HELP chat_ws_presence_reclose Presence rows whose close failed, waiting to be tried again.\n"
		"# TYPE chat_ws_presence_reclose gauge\n"
		"chat_ws_presence_reclose %u\n"
		"# HELP chat_ws_presence_reclosed_total Presence closes tried again.\n"
		"# TYPE chat_ws_presence_reclosed_total counter\n"
		"chat_ws_presence_reclosed_total %llu\n"
		"# HELP chat_ws_presence_reclose_dropped_total Presence closes given up because too many were waiting.\n"
		"# TYPE chat_ws_presence_reclose_dropped_total counter\n"
		"chat_ws_presence_reclose_dropped_total %llu\n"
		"# HELP chat_ws_revoked_connects_total CONNECTs refused: logged out while checked.\n"
		"# TYPE chat_ws_revoked_connects_total counter\n"
		"chat_ws_revoked_connects_total %llu\n",
		b->presence.reclose_n, st->reclosed, st->reclose_dropped, st->revoked_connects);
}

/* The whole Prometheus page, malloc'd; NULL when out of memory. */
static char *metrics_text(const struct bridge *b)
{
	struct pgloop_stats pg;
	size_t size = METRICS_PAGE_MAX, n = 0;
	char *buf = malloc(size);

	if (!buf)
		return NULL;
	pgloop_get_stats(b->pg, &pg);
	textbuf_printf(buf, size, &n,
		       "# HELP chat_build_info The release and the schema version of this build.\n"
		       "# TYPE chat_build_info gauge\n"
		       "chat_build_info{version=\"%s\",schema=\"%s\"} 1\n",
		       version_release(), version_schema());
	metrics_sessions(b, buf, size, &n);
	metrics_events(b, buf, size, &n);
	metrics_flow(b, &pg, buf, size, &n);
	metrics_db(b, &pg, buf, size, &n);
	metrics_presence(b, buf, size, &n);
	if (n >= size) {
		log_warn("metrics page truncated at %zu bytes", size);
		n = size - 1;
	}
	buf[n] = '\0';
	return buf;
}

/* /healthz: both database connections up, or which is not. */
static int metrics_health(const struct bridge *b, char **body)
{
	struct pgloop_stats pg;
	int up;

	pgloop_get_stats(b->pg, &pg);
	up = pg.listen_up && pg.query_up;
	*body = malloc(96);
	if (*body)
		snprintf(*body, 96, "%s: database listen connection %s, query connection %s\n",
			 up ? "ok" : "unavailable", pg.listen_up ? "up" : "down",
			 pg.query_up ? "up" : "down");
	return up ? 200 : 503;
}

int metrics_page(void *arg, const char *uri, const char *addr, char **body, const char **type)
{
	const struct bridge *b = arg;

	*body = NULL;
	*type = "text/plain; charset=UTF-8";
	if (strcmp(uri, "/healthz") == 0)
		return metrics_health(b, body);
	if (strcmp(uri, "/metrics") != 0)
		return 0;
	if (!allow_match(&b->cfg->metrics_allow, addr)) {
		log_warn("metrics refused to '%s' (CHAT_METRICS_ALLOW)", addr);
		*body = strdup("metrics are not served to this address\n");
		return 403;
	}
	*type = "text/plain; version=0.0.4";
	*body = metrics_text(b);
	return 200;
}

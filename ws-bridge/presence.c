/* presence.c -- this bridge's presence rows: open, close after a grace period, retry, heartbeat. */
#include "presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "dbreq.h"
#include "log.h"

#define PRESENCE_CLOSE_BATCH 1000   /* presence rows closed per statement */
#define PRESENCE_RECLOSE_MAX 100000 /* presence closes waiting to be tried again */
#define PRESENCE_RECLOSE_MS 1000    /* and how long they wait */

/* A closed connection whose presence row goes after the grace period. */
struct grace {
	struct grace *next;
	int64_t due_ms;
	char key[24];
};

static void on_ignore_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	(void)row;
	(void)st;
	(void)res;
	dbreq_free(arg);
}

/* Runs a statement of the bridge's own whose outcome does not matter. */
static void presence_fire(struct bridge *b, int st, int n, const char *const *params)
{
	struct dbreq *q = dbreq_new(b, NULL, -1, NULL);

	if (q)
		dbreq_query(b, st, n, params, on_ignore_done, q);
}

static void grace_append(struct grace **head, struct grace **tail, struct grace *g)
{
	if (*tail)
		(*tail)->next = g;
	else
		*head = g;
	*tail = g;
}

static void grace_free_all(struct grace **head, struct grace **tail)
{
	while (*head) {
		struct grace *g = *head;

		*head = g->next;
		free(g);
	}
	*tail = NULL;
}

/* ---- closing rows, and trying again ------------------------------------------ */

/* Keeps a presence row to close later (bounded: past it, the row stays
 * until this bridge stops or is reaped). */
static void reclose_add(struct bridge *b, const char *key, size_t len)
{
	struct presence *pr = &b->presence;
	struct grace *g;

	if (b->stopping)
		return;
	if (pr->reclose_n >= PRESENCE_RECLOSE_MAX || len >= sizeof(g->key) ||
	    !(g = calloc(1, sizeof(*g)))) {
		b->stats.reclose_dropped++;
		return;
	}
	memcpy(g->key, key, len);
	g->key[len] = '\0';
	g->due_ms = conn_now_ms() + PRESENCE_RECLOSE_MS;
	grace_append(&pr->reclose_head, &pr->reclose_tail, g);
	pr->reclose_n++;
}

/* Every key of an array literal "{a,b}" goes back on the retry list. */
static void reclose_keys(struct bridge *b, const char *arr)
{
	const char *p = arr + 1;

	while (*p && *p != '}') {
		size_t n = strcspn(p, ",}");

		if (n)
			reclose_add(b, p, n);
		p += n;
		if (*p == ',')
			p++;
	}
}

static void on_close_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct dbreq *q = arg;

	(void)row;
	(void)res;
	/* Not done, or not known to be: closing again does no harm. */
	if (st == PG_UNAVAILABLE || st == PG_UNKNOWN)
		reclose_keys(q->b, q->keys);
	else if (st != PG_OK)
		log_err("cannot close presence rows %s", q->keys);
	dbreq_free(q);
}

/* Closes the presence rows of the connections in arr ("{a,b}"), or keeps them to retry. */
static void presence_close_keys(struct bridge *b, const char *arr)
{
	const char *params[2] = { b->id, arr };
	struct dbreq *q = dbreq_new(b, NULL, -1, NULL);

	if (q)
		q->keys = strdup(arr);
	if (!q || !q->keys) {
		if (q)
			dbreq_free(q);
		reclose_keys(b, arr);
		return;
	}
	if (pgloop_query(b->pg, BS_PRESENCE_CLOSE_MANY, 2, params, on_close_done, q)) {
		reclose_keys(b, arr);
		dbreq_free(q);
	}
}

void presence_close_now(struct bridge *b, const char *key)
{
	char arr[sizeof(((struct grace *)0)->key) + 3];

	snprintf(arr, sizeof(arr), "{%s}", key);
	presence_close_keys(b, arr);
}

/*
 * Closes, PRESENCE_CLOSE_BATCH a statement, the presence rows of the list's
 * entries due by now (each freed).
 */
static void presence_close_due(struct bridge *b, struct grace **head, struct grace **tail,
			       unsigned *count, int64_t now)
{
	while (*head && (*head)->due_ms <= now) {
		size_t cap = PRESENCE_CLOSE_BATCH * 24 + 3, n = 0;
		char *arr = malloc(cap);
		int k = 0;

		if (!arr)
			break;
		arr[n++] = '{';
		while (*head && (*head)->due_ms <= now && k < PRESENCE_CLOSE_BATCH) {
			struct grace *g = *head;

			*head = g->next;
			if (!*head)
				*tail = NULL;
			if (count)
				(*count)--;
			n += (size_t)snprintf(arr + n, cap - n, "%s%s", k ? "," : "", g->key);
			k++;
			free(g);
		}
		arr[n++] = '}';
		arr[n] = '\0';
		presence_close_keys(b, arr);
		free(arr);
	}
}

void presence_conn_closed(struct bridge *b, struct conn *c)
{
	struct grace *g;

	if (b->cfg->ws_grace <= 0) {
		presence_close_now(b, c->key);
		return;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		presence_close_now(b, c->key);
		return;
	}
	g->due_ms = conn_now_ms() + b->cfg->ws_grace;
	snprintf(g->key, sizeof(g->key), "%s", c->key);
	grace_append(&b->presence.grace_head, &b->presence.grace_tail, g);
}

void presence_sweep(struct bridge *b, int64_t now)
{
	struct presence *pr = &b->presence;

	/* Connections past their grace period: one statement per batch. Closes
	 * that failed wait for the database (a failure puts them back). */
	presence_close_due(b, &pr->grace_head, &pr->grace_tail, NULL, now);
	if (pgloop_ready(b->pg)) {
		unsigned before = pr->reclose_n;

		presence_close_due(b, &pr->reclose_head, &pr->reclose_tail, &pr->reclose_n, now);
		b->stats.reclosed += before - pr->reclose_n;
	}
}

/* ---- the bridge's row: heartbeat, reap, housekeeping -------------------------- */

/* The bridge row had to be created again: register every connection. */
static void presence_reopen_all(struct bridge *b)
{
	for (struct conn *c = b->conns->head; c; c = c->next) {
		const char *params[3] = { b->id, c->key, session_user(c) };

		if (c->state == CONN_READY)
			presence_fire(b, BS_PRESENCE_OPEN, 3, params);
	}
}

static void on_heartbeat_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct dbreq *q = arg;
	struct bridge *b = q->b;

	(void)row;
	if (st == PG_OK && res && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		unsigned ready = 0;

		for (struct conn *c = b->conns->head; c; c = c->next)
			ready += c->state == CONN_READY;
		if (ready) {
			log_warn(
				"bridge '%s' was missing from the presence table, registering %u connections again",
				b->id, ready);
			presence_reopen_all(b);
		}
	}
	dbreq_free(q);
}

static void heartbeat(struct bridge *b)
{
	const char *params[1] = { b->id };
	struct dbreq *q = dbreq_new(b, NULL, -1, NULL);

	if (q)
		dbreq_query(b, BS_HEARTBEAT, 1, params, on_heartbeat_done, q);
	/* Reap bridges that died without cleaning up (any bridge may do it). */
	presence_fire(b, BS_REAP, 0, NULL);
}

static void beat_cb(lws_sorted_usec_list_t *sul)
{
	struct presence *pr = lws_container_of(sul, struct presence, beat_sul);
	struct bridge *b = lws_container_of(pr, struct bridge, presence);
	long every = b->cfg->presence_ttl * 1000 / 3;

	if (!b->stopping && pgloop_ready(b->pg)) {
		heartbeat(b);
		/* Old sessions and idle rate buckets, about once a minute. */
		if (++pr->beats * every >= 60000) {
			pr->beats = 0;
			presence_fire(b, BS_HOUSEKEEP, 0, NULL);
		}
	}
	lws_sul_schedule(b->ctx, 0, &pr->beat_sul, beat_cb, (lws_usec_t)every * LWS_US_PER_MS);
}

void presence_start(struct bridge *b)
{
	lws_sul_schedule(b->ctx, 0, &b->presence.beat_sul, beat_cb,
			 (lws_usec_t)(b->cfg->presence_ttl * 1000 / 3) * LWS_US_PER_MS);
}

void presence_on_query_ready(struct bridge *b, int reconnected)
{
	/* A bridge restarted under the same CHAT_BRIDGE_ID: its predecessor's
	 * connections are gone, so are their presence rows (users go offline). */
	if (!reconnected) {
		const char *params[1] = { b->id };

		presence_fire(b, BS_REMOVE, 1, params);
	}
	heartbeat(b);
}

static void on_remove_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct dbreq *q = arg;

	(void)row;
	(void)res;
	if (st != PG_OK)
		log_warn(
			"cannot remove this bridge's presence rows; other bridges will expire them");
	q->b->removed = 1;
	dbreq_free(q);
}

void presence_remove_all(struct bridge *b)
{
	const char *params[1] = { b->id };
	struct dbreq *q = dbreq_new(b, NULL, -1, NULL);

	if (!q || dbreq_query(b, BS_REMOVE, 1, params, on_remove_done, q))
		b->removed = 1;
}

void presence_stop_timers(struct bridge *b)
{
	lws_sul_cancel(&b->presence.beat_sul);
	grace_free_all(&b->presence.grace_head, &b->presence.grace_tail);
}

void presence_release(struct bridge *b)
{
	grace_free_all(&b->presence.reclose_head, &b->presence.reclose_tail);
	b->presence.reclose_n = 0;
}

/* pgconn.h -- one non-blocking libpq connection in the lws loop, reconnecting.
 *
 * The lowest part of the database loop: it knows no request. What to send
 * once connected, what to do with input and what to fail when the
 * connection is lost are callbacks of its user (pgbatch.c, pgloop.c). */
#ifndef CHAT_PGCONN_H
#define CHAT_PGCONN_H

#include <libpq-fe.h>
#include <libwebsockets.h>

#include "cfg.h"

enum pgconn_state { PGCONN_DOWN, PGCONN_CONNECTING, PGCONN_SETUP, PGCONN_READY };

struct pgconn_ops {
	/*
	 * Connected, non-blocking: sends the connection's set-up. Returns 0,
	 * or -1 and the connection is lost.
	 */
	int (*setup)(void *arg, PGconn *conn);
	/* Input was consumed: reads the results and notifications that arrived. */
	void (*input)(void *arg);
	/*
	 * The connection is gone (state already PGCONN_DOWN): fails what was
	 * in flight. May be NULL.
	 */
	void (*lost)(void *arg);
	void *arg;
};

struct pgconn {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	const struct cfg *cfg;
	const char *name; /* "listen" or "query", for the log */
	struct pgconn_ops ops;
	PGconn *conn;
	struct lws *wsi; /* the adopted dup of libpq's socket */
	enum pgconn_state state;
	lws_sorted_usec_list_t sul; /* connect polling, reconnect backoff */
	unsigned backoff_ms;
	int ever_ready;
	int closing;
};

/*
 * Fills pc and starts connecting; pgconn_lost retries with backoff when it
 * fails. vh must carry PGCONN_PROTOCOL.
 * ctx, vh, cfg, name and ops must outlive the connection.
 */
void pgconn_start(struct pgconn *pc, struct lws_context *ctx, struct lws_vhost *vh,
		  const struct cfg *cfg, const char *name, const struct pgconn_ops *ops);

/*
 * The set-up has completed: the connection is PGCONN_READY and its backoff
 * starts over. Returns nonzero when it had been ready before (a reconnect).
 */
int pgconn_ready(struct pgconn *pc);

/*
 * Closes the connection (logged with why), calls ops.lost and, unless it
 * is closing, schedules a reconnect. Does nothing when it is already down.
 */
void pgconn_lost(struct pgconn *pc, const char *why);

/* Sends what libpq has buffered; asks lws for writable when some is left. */
void pgconn_flush(struct pgconn *pc);

/*
 * Closes for good: cancels the timer, calls ops.lost for what was in
 * flight, never reconnects. pc itself stays the caller's.
 */
void pgconn_close(struct pgconn *pc);

/* The lws protocol the adopted sockets join (its callback calls pgconn_callback). */
#define PGCONN_PROTOCOL "chat-pg"

/* The lws callback of an adopted socket: input, writable, close. */
int pgconn_callback(struct lws *wsi, enum lws_callback_reasons reason);

#endif

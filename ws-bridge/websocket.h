/* websocket.h -- the WebSocket transport of Engine.IO sessions.
 *
 * Part of the connection layer, called by the endpoint's lws callback
 * (endpoint.c): the handshake, reassembly of messages, batched output, and
 * the probe that upgrades a polling session. */
#ifndef CHAT_WEBSOCKET_H
#define CHAT_WEBSOCKET_H

#include <libwebsockets.h>
#include <stddef.h>

#include "conn.h"
#include "request.h"

/*
 * The handshake (LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION): a new session,
 * one refused at once (closed with 1013 once upgraded), or the upgrade of
 * a polling session. Returns 0, or -1 to refuse the upgrade (answered).
 */
int websocket_filter(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi);

/* The WebSocket is up (LWS_CALLBACK_ESTABLISHED): the session starts, or the probe attaches. */
int websocket_established(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi);

/* A fragment arrived (LWS_CALLBACK_RECEIVE). Returns what the lws callback must return. */
int websocket_receive(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi, const char *in,
		      size_t len);

/* The WebSocket may be written (LWS_CALLBACK_SERVER_WRITEABLE). */
int websocket_writeable(struct conn_wsi *w, struct lws *wsi);

/* The WebSocket is gone (LWS_CALLBACK_CLOSED): its session ends with it, a probe does not. */
void websocket_closed(struct conn_wsi *w, struct lws *wsi);

#endif

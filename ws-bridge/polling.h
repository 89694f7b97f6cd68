/* polling.h -- the HTTP long-polling transport of Engine.IO sessions.
 *
 * Part of the connection layer, called by the endpoint's lws callback
 * (endpoint.c): the handshake GET, held GETs that take what is queued,
 * POSTs of packets, and the /metrics page. */
#ifndef CHAT_POLLING_H
#define CHAT_POLLING_H

#include <libwebsockets.h>
#include <stddef.h>

#include "conn.h"
#include "request.h"

/*
 * An HTTP request (LWS_CALLBACK_HTTP): a new polling session, a GET held
 * until there is something to send, the start of a POST, or an answer
 * owed at once. Returns what the lws callback must return.
 */
int polling_request(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi);

/* A piece of a POST body (LWS_CALLBACK_HTTP_BODY), bounded by CHAT_WS_MAX_PAYLOAD. */
int polling_body(struct conn_set *cs, struct conn_wsi *w, const char *in, size_t len);

/* The POST body is complete (LWS_CALLBACK_HTTP_BODY_COMPLETION): its packets go up. */
int polling_body_done(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi);

/* The request may be answered (LWS_CALLBACK_HTTP_WRITEABLE): an owed answer or the held GET's. */
int polling_writeable(struct conn_set *cs, struct conn_wsi *w, struct lws *wsi);

/*
 * Lets go of what one HTTP request held: its session link, body and
 * answer (lws may keep the user data of a kept-alive connection for the
 * next request). w may be NULL.
 */
void polling_reset(struct conn_wsi *w, struct lws *wsi);

#endif

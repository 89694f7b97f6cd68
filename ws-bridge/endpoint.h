/* endpoint.h -- the lws protocol of the Socket.IO endpoint: WebSockets and long-polling requests.
 *
 * The top of the connection layer: main.c gives lws this protocol, whose
 * callback hands each reason to the WebSocket (websocket.c) or the
 * long-polling (polling.c) transport. */
#ifndef CHAT_ENDPOINT_H
#define CHAT_ENDPOINT_H

#include <libwebsockets.h>

#include "request.h"

#define ENDPOINT_PROTOCOL "socketio"

/*
 * The lws protocol callback of the Socket.IO endpoint (must be
 * protocols[0]; the context's user data is the struct conn_set). Its
 * per-session data is struct conn_wsi (request.h).
 */
int endpoint_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		      size_t len);

#endif

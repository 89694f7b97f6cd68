/* endpoint.c -- the Socket.IO endpoint's lws protocol callback: each reason to its transport. */
#include "endpoint.h"

#include "conn.h"
#include "polling.h"
#include "websocket.h"

int endpoint_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		      size_t len)
{
	struct conn_set *cs = lws_context_user(lws_get_context(wsi));
	struct conn_wsi *w = user;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return w && websocket_filter(cs, w, wsi) == 0 ? 0 : 1;
	case LWS_CALLBACK_ESTABLISHED:
		return websocket_established(cs, w, wsi);
	case LWS_CALLBACK_RECEIVE:
		return websocket_receive(cs, w, wsi, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return websocket_writeable(w, wsi);
	case LWS_CALLBACK_CLOSED:
		websocket_closed(w, wsi);
		return 0;
	case LWS_CALLBACK_HTTP:
		/* lws may keep the user data of a kept-alive connection from the
		 * request before: this one starts clean. */
		polling_reset(w, wsi);
		return polling_request(cs, w, wsi);
	case LWS_CALLBACK_HTTP_BODY:
		return polling_body(cs, w, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return polling_body_done(cs, w, wsi);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return polling_writeable(cs, w, wsi);
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		/* The connection ends, or lws frees its user data before the next
		 * request of a kept-alive connection. */
		polling_reset(w, wsi);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

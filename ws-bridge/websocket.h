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
 * Queued frames of one session go out together, up to this many bytes per
 * send(): under fan-out a reader usually has several frames waiting, and
 * one send for all of them saves a system call per frame here, in nginx
 * and in the client. lws cuts every send at the protocol's tx_packet_size
 * (or at its rx_buffer_size when that is 0, 1 KB here), so main.c sets
 * tx_packet_size to this: a batch leaves in one send.
 */
#define CONN_BATCH_MAX (16 * 1024)

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

/*
 * Writes first (conn_flush()): what is queued for the session's WebSocket
 * goes out now, outside any lws callback, unless lws still holds the rest
 * of an earlier send (then a writable callback is already due). Whatever
 * the socket did not take waits for LWS_CALLBACK_SERVER_WRITEABLE: the
 * rest of a short send in lws (at most one batch), the other frames in
 * the session's bounded queue.
 */
void websocket_flush(struct conn *c);

/*
 * conn_flush() with a ring (conn.h): websocket_ring_add() prepares c's send
 * (or writes c the plain way when its frame is too big to batch) and
 * returns how many sends are prepared; at WSRING_MAX, or when the flush
 * list is empty, websocket_ring_go() submits them in one system call and
 * settles each session's queue with its result. Between the two nothing
 * else may touch a prepared session. Should the ring fail it is closed
 * (cs->ring NULL), and the sends it did not make wait for writable
 * callbacks.
 */
unsigned websocket_ring_add(struct conn *c);
void websocket_ring_go(struct conn_set *cs);

/* The WebSocket is gone (LWS_CALLBACK_CLOSED): its session ends with it, a probe does not. */
void websocket_closed(struct conn_wsi *w, struct lws *wsi);

#endif

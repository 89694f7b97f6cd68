/* request.h -- what an HTTP request or WebSocket handshake brings, and the HTTP answer to it.
 *
 * The lowest part of the connection layer: it reads lws headers and
 * writes answers, and knows no session. */
#ifndef CHAT_REQUEST_H
#define CHAT_REQUEST_H

#include <libwebsockets.h>
#include <stddef.h>

#include "cfg.h"

struct conn;

/* What one lws connection of the endpoint carries. */
enum conn_wsi_kind {
	CW_NONE = 0,
	CW_WS,      /* the WebSocket of a session */
	CW_PROBE,   /* a WebSocket probing the upgrade of a polling session */
	CW_GET,     /* a long-poll GET (or the handshake) */
	CW_POST,    /* a POST of packets */
	CW_REFUSED, /* a WebSocket refused once upgraded: closed with w->status */
};

/*
 * The user data lws keeps for each connection of the Socket.IO endpoint:
 * a WebSocket, or an HTTP request of a polling session.
 */
struct conn_wsi {
	struct conn *c;
	char sid[48]; /* the session a request or upgrade names */
	char *body;   /* a POST body being read */
	size_t body_len;
	int kind;             /* enum conn_wsi_kind */
	int status;           /* an HTTP answer owed: status code (CW_REFUSED: close code) */
	char addr[48];        /* the client address key of the request */
	const char *answer;   /* its body (static) */
	char *dyn_answer;     /* or a body to free after writing */
	const char *dyn_type; /* dyn_answer's Content-Type */
	char origin[128];     /* an allowed Origin to echo (CORS), or "" */
};

/*
 * Checks common to a WebSocket upgrade and a polling request: the path,
 * EIO=4, the transport, the Origin. Fills w->sid (from ?sid=, or "") and
 * w->origin. Returns 0, or -1 with the HTTP status and its body.
 */
int req_check(const struct cfg *cfg, struct lws *wsi, const char *transport, struct conn_wsi *w,
	      int *status, const char **answer);

/*
 * The key the per-address limits count the client under (addr.h): nginx's
 * X-Real-IP, else the last X-Forwarded-For hop, believed from a loopback
 * or unix-socket peer only; an IPv6 client by its /64.
 */
void req_client_addr(struct lws *wsi, char *out, size_t outlen);

/* Reads the token a client may bring with the request (?token= or the
 * cookie) to out (TOK_LEN + 1 bytes); "" when there is none. */
void req_token(struct lws *wsi, char *out);

/*
 * Writes one HTTP answer (with the CORS headers of w->origin) and
 * finishes the transaction. Returns what the lws callback must return.
 */
int req_reply(struct lws *wsi, const struct conn_wsi *w, unsigned status, const char *type,
	      const char *body, size_t len);

/*
 * Answers a refused WebSocket upgrade with an HTTP status and an Engine.IO
 * error body before lws drops the connection: the client sees why, and a
 * proxy sees an answer, not a failed upstream it would stop using.
 */
void req_refuse(struct lws *wsi, const struct conn_wsi *w, unsigned status, const char *answer);

#endif

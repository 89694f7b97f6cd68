/* session.h -- the Socket.IO session: CONNECT and auth, revoked tokens, event rate, its user. */
#ifndef CHAT_SESSION_H
#define CHAT_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "heartbeat.h"
#include "room.h"
#include "tok.h"

struct bridge;

/* Logouts remembered to refuse a CONNECT whose check was in flight. */
#define SESSION_REVOKED 1024

/* Site bans remembered to refuse a CONNECT whose check was in flight. */
#define SESSION_BANNED 256

/* The session layer's state in the bridge: recent logouts and bans. */
struct sessions {
	/* Recent session_revoked token hashes, a ring. */
	char revoked[SESSION_REVOKED][TOK_HASH_HEX_LEN + 1];
	unsigned revoked_next;
	/* Recent user_banned users and when the ban arrived, a ring. */
	struct {
		char user_id[40];
		int64_t at_ms;
	} banned[SESSION_BANNED];
	unsigned banned_next;
};

/*
 * One Socket.IO session's state, owned by this layer: conn.up points at
 * it from session_open() to session_close(). Its deadlines are the
 * heartbeat's (heartbeat.c); its subscriptions are the room layer's, in
 * member (whose user_id this layer sets once READY).
 */
struct session {
	struct member member;
	char token_hash[TOK_HASH_HEX_LEN + 1]; /* of the session's token, once AUTHING */
	char username[40];
	struct heartbeat_timer hb;
	int64_t connect_ms; /* when its CONNECT check was sent */
	double ev_tokens;   /* event rate bucket */
	int64_t ev_at_ms;
};

/*
 * A session began (conn_ops.on_open): its state, with the first ping and
 * the auth deadline from now. Returns 0, or -1 when out of memory (c
 * must then be closed; the other session_ functions accept it).
 */
int session_open(struct bridge *b, struct conn *c) __attribute__((warn_unused_result));

/*
 * The session is over (conn_ops.on_close): frees its state. Its member must
 * have no subscriptions left (room_unsubscribe_all).
 */
void session_close(struct conn *c);

/*
 * c as a room member (its user and subscriptions), or NULL when c has no
 * session state (session_open() failed, or after session_close()).
 */
struct member *session_member(struct conn *c);

/* The user c authenticated as: "" before READY, or without session state. */
const char *session_user(const struct conn *c);

/* One whole Engine.IO packet of c (conn_ops.on_message): answers or closes on bad input. */
void session_on_message(struct bridge *b, struct conn *c, char *buf, size_t len);

/*
 * A logout (the session_revoked NOTIFY): the READY sessions of that user
 * and token hash get a Socket.IO DISCONNECT and close; a CONNECT of it
 * still in flight is refused when it returns.
 */
void session_revoke(struct bridge *b, const char *user_id, const char *token_hash);

/*
 * A site ban (the user_banned NOTIFY): every READY session of that user,
 * whatever its token, gets a Socket.IO DISCONNECT and closes; a CONNECT of
 * the user whose check was sent before the ban arrived is refused
 * (CONNECT_ERROR forbidden) when it returns.
 */
void session_ban(struct bridge *b, const char *user_id);

/*
 * The sweep, for one connection: its heartbeat (heartbeat_sweep).
 * Returns 1 when it closed c (nothing else is due for it), 0 otherwise.
 */
int session_sweep(struct bridge *b, struct conn *c, int64_t now_ms);

/* When the sweep has something to do for c's heartbeat next (now_ms without a session). */
int64_t session_due(const struct conn *c, int64_t now_ms);

#endif

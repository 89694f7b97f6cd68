/* session.c -- the Socket.IO session: CONNECT and auth, revoked tokens, event rate, its user. */
#include "session.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "dbcall.h"
#include "dbreq.h"
#include "events.h"
#include "jwtauth.h"
#include "jsonpeek.h"
#include "log.h"
#include "presence.h"
#include "reply.h"
#include "sio.h"

/* The session state of c: set from session_open() on, NULL only if that failed. */
static struct session *sess(const struct conn *c)
{
	return c->up;
}

int session_open(struct bridge *b, struct conn *c)
{
	const struct cfg *cfg = b->cfg;
	int64_t now = conn_now_ms();
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	heartbeat_start(cfg, &s->hb, now);
	s->ev_tokens = (double)cfg->ws_event_rate;
	s->ev_at_ms = now;
	s->member.conn = c;
	c->up = s;
	return 0;
}

void session_close(struct conn *c)
{
	free(c->up);
	c->up = NULL;
}

struct member *session_member(struct conn *c)
{
	struct session *s = c->up;

	return s ? &s->member : NULL;
}

const char *session_user(const struct conn *c)
{
	const struct session *s = sess(c);

	return s ? s->member.user_id : "";
}

/* ---- Socket.IO CONNECT ---------------------------------------------------- */

/* Returns nonzero when a session_revoked for this token hash arrived lately. */
static int session_revoked(const struct bridge *b, const char *hash)
{
	if (!hash[0])
		return 0;
	for (unsigned i = 0; i < SESSION_REVOKED; i++)
		if (strcmp(b->sessions.revoked[i], hash) == 0)
			return 1;
	return 0;
}

/* Returns nonzero when user uid was banned after c's CONNECT check was sent. */
static int session_banned_since(const struct bridge *b, const char *uid, int64_t since_ms)
{
	for (unsigned i = 0; i < SESSION_BANNED; i++)
		if (b->sessions.banned[i].at_ms >= since_ms &&
		    strcmp(b->sessions.banned[i].user_id, uid) == 0)
			return 1;
	return 0;
}

/* Reads the CONNECT check's row: the user, or the refusal's code and message. */
static json_t *connect_user(enum pg_status st, const struct dbcall_row *r, const char **code,
			    const char **message)
{
	json_t *data = NULL;

	*code = "db_unavailable";
	*message = REPLY_DB_UNAVAILABLE;
	if (st == PG_OK) {
		if (r->err) {
			*code = r->err;
			*message = r->msg;
		} else {
			data = json_loadb(r->data, r->data_len, 0, NULL);
		}
	} else if (st == PG_FAILED) {
		*code = "internal_error";
		*message = "internal error";
	}
	return data;
}

/*
 * The user's id and name out of a CONNECT check's data ({"user": {...},
 * "rooms": [...]}): read out of its text (jsonpeek.h), or by parsing it whole
 * when that cannot (an escape in a name). Returns 0, or -1 when the data
 * holds no user id (the refusal's code and message are then set).
 */
static int connect_who(enum pg_status st, const struct dbcall_row *r, char *uid, size_t uidlen,
		       char *uname, size_t unamelen, const char **code, const char **message)
{
	json_t *data, *user;
	int rc = -1;

	if (st == PG_OK && !r->err &&
	    jsonpeek_string(r->data, r->data_len, "user", "id", uid, uidlen) == 0 &&
	    jsonpeek_string(r->data, r->data_len, "user", "username", uname, unamelen) == 0)
		return 0;
	data = connect_user(st, r, code, message);
	user = json_object_get(data, "user");
	if (json_is_string(json_object_get(user, "id"))) {
		const char *name = json_string_value(json_object_get(user, "username"));

		snprintf(uid, uidlen, "%s", json_string_value(json_object_get(user, "id")));
		snprintf(uname, unamelen, "%s", name ? name : "");
		rc = 0;
	}
	json_decref(data);
	return rc;
}

static void on_connect_done(void *arg, enum pg_status st, const PGresult *res, int row)
{
	struct dbreq *q = arg;
	struct conn *c = dbreq_conn(q);
	const char *code, *message;
	struct dbcall_row r;
	char uid[sizeof(sess(c)->member.user_id)], uname[sizeof(sess(c)->username)];

	if (st == PG_OK && (!res || dbcall_row(&r, res, row)))
		st = PG_FAILED;
	/* Its presence row may have been written: the connection goes on without. */
	if (st == PG_UNKNOWN)
		presence_close_now(q->b, q->key);
	if (!c || c->state != CONN_AUTHING) {
		/* Gone while its presence row was being written: take it back. */
		if (st == PG_OK && !r.err)
			presence_close_now(q->b, q->key);
		goto out;
	}
	/* Its session was revoked while the check was in flight. */
	if (st == PG_OK && !r.err && session_revoked(q->b, sess(c)->token_hash)) {
		q->b->stats.revoked_connects++;
		presence_close_now(q->b, q->key);
		log_info("connection %s: session revoked while connecting", c->key);
		c->state = CONN_OPEN;
		reply_frame(c,
			    sio_connect_error("/", 1, "unauthorized", "the session was revoked"));
		goto out;
	}
	if (connect_who(st, &r, uid, sizeof(uid), uname, sizeof(uname), &code, &message)) {
		c->state = CONN_OPEN;
		reply_frame(c, sio_connect_error("/", 1, code, message));
		goto out;
	}
	/* Its user was banned while the check was in flight. */
	if (session_banned_since(q->b, uid, sess(c)->connect_ms)) {
		presence_close_now(q->b, q->key);
		log_info("connection %s: user banned while connecting", c->key);
		c->state = CONN_OPEN;
		reply_frame(c,
			    sio_connect_error("/", 1, "forbidden",
					      "this user is banned from the site"));
		goto out;
	}
	snprintf(sess(c)->member.user_id, sizeof(sess(c)->member.user_id), "%s", uid);
	snprintf(sess(c)->username, sizeof(sess(c)->username), "%s", uname);
	conn_ready(c);
	reply_frame(c, sio_connect_ok(c->sid));
	reply_frame(c, sio_event("connected", r.data, r.data_len));
	log_debug("connection %s authenticated as '%s'", c->key, session_user(c));
out:
	dbreq_free(q);
}

/*
 * The token of a CONNECT: its payload's "token", else the cookie's or
 * the query's. Returns 0, or answers and returns -1 on a bad payload.
 */
static int connect_token(struct conn *c, const struct sio_packet *p, json_t **auth,
			 const char **token, size_t *toklen)
{
	*token = c->token[0] ? c->token : NULL;
	*toklen = *token ? strlen(*token) : 0;
	*auth = NULL;
	if (!p->data_len)
		return 0;
	*auth = json_loadb(p->data, p->data_len, JSON_ALLOW_NUL, NULL);
	if (!json_is_object(*auth)) {
		json_decref(*auth);
		*auth = NULL;
		reply_frame(c,
			    sio_connect_error("/", 1, "invalid_json",
					      "the CONNECT payload must be a JSON object"));
		return -1;
	}
	if (json_is_string(json_object_get(*auth, "token"))) {
		/* By its length: a "\u0000" inside is no token, not its end. */
		*token = json_string_value(json_object_get(*auth, "token"));
		*toklen = json_string_length(json_object_get(*auth, "token"));
	}
	return 0;
}

/*
 * Sends the CONNECT check stmt (4 params) for c, whose answer comes to
 * on_connect_done; c is AUTHING meanwhile. token_hash (hex, or "" for a
 * site token) is kept to close c when its session is revoked. Answers the
 * failure itself.
 */
static void connect_query(struct bridge *b, struct conn *c, int stmt, const char *const *params,
			  const char *token_hash)
{
	struct dbreq *q = dbreq_new(b, c, -1, NULL);

	if (!q) {
		reply_frame(c, sio_connect_error("/", 1, "internal_error", "out of memory"));
		return;
	}
	snprintf(sess(c)->token_hash, sizeof(sess(c)->token_hash), "%s", token_hash);
	sess(c)->connect_ms = conn_now_ms();
	c->state = CONN_AUTHING;
	if (dbreq_query(b, stmt, 4, params, on_connect_done, q)) {
		c->state = CONN_OPEN;
		reply_frame(c, sio_connect_error("/", 1, "db_unavailable", REPLY_DB_UNAVAILABLE));
	}
}

/*
 * A site's JWT as auth.token (CHAT_JWT_SECRET set): verified here, then its
 * user is created or renamed and connected in one statement. The session
 * has no token hash: a logout cannot revoke it, its exp bounds it. Neither
 * the token nor a claim is logged.
 */
static void connect_external(struct bridge *b, struct conn *c, const char *token, size_t toklen)
{
	struct jwtauth_claims claims;
	enum jwtauth_result jr = jwtauth_verify(b->cfg->jwt_secret, token, toklen,
						(double)time(NULL), b->cfg->username_max, &claims);
	const char *params[4];

	if (jr != JWTAUTH_OK) {
		reply_frame(c, sio_connect_error("/", 1, "unauthorized", jwtauth_reason(jr)));
		return;
	}
	params[0] = claims.sub;
	params[1] = claims.name;
	params[2] = b->id;
	params[3] = c->key;
	connect_query(b, c, BS_CONNECT_EXTERNAL, params, "");
}

static void on_sio_connect(struct bridge *b, struct conn *c, const struct sio_packet *p)
{
	char hash[2 + TOK_HASH_HEX_LEN + 1], ttl[24];
	const char *token;
	size_t toklen;
	json_t *auth;
	const char *params[4];

	if (!sio_is_main_nsp(p)) {
		reply_frame(
			c, sio_connect_error(p->nsp, p->nsp_len, "not_found", "Invalid namespace"));
		return;
	}
	if (c->state == CONN_READY) {
		reply_frame(c, sio_connect_ok(c->sid));
		return;
	}
	if (c->state != CONN_OPEN || connect_token(c, p, &auth, &token, &toklen))
		return;
	/* Only from the CONNECT payload: a JWT in ?token= would land in access logs. */
	if (b->cfg->jwt_secret[0] && auth && token && token != c->token &&
	    jwtauth_shaped(token, toklen)) {
		connect_external(b, c, token, toklen);
		json_decref(auth);
		return;
	}
	if (!token || !tok_wellformed(token, toklen) || tok_hash_bytea(token, toklen, hash)) {
		json_decref(auth);
		reply_frame(c,
			    sio_connect_error("/", 1, "unauthorized",
					      token ? "the session token is malformed"
						    : "a session token is required"));
		return;
	}
	json_decref(auth);
	snprintf(ttl, sizeof(ttl), "%ld", b->cfg->session_ttl);
	params[0] = hash;
	params[1] = ttl;
	params[2] = b->id;
	params[3] = c->key;
	connect_query(b, c, BS_CONNECT, params, hash + 2);
}

void session_revoke(struct bridge *b, const char *uid, const char *hash)
{
	struct sessions *ss = &b->sessions;

	/* A CONNECT of this session still in flight is refused when it returns. */
	snprintf(ss->revoked[ss->revoked_next], sizeof(ss->revoked[0]), "%s", hash);
	ss->revoked_next = (ss->revoked_next + 1) % SESSION_REVOKED;
	for (struct conn *c = b->conns->head; c; c = c->next) {
		if (c->state != CONN_READY || strcmp(session_user(c), uid) != 0 ||
		    strcmp(sess(c)->token_hash, hash) != 0)
			continue;
		log_info("connection %s: session revoked, disconnecting", c->key);
		reply_frame(c, frame_from("41", 2));
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "session revoked");
	}
}

void session_ban(struct bridge *b, const char *uid)
{
	struct sessions *ss = &b->sessions;
	unsigned k = ss->banned_next;

	snprintf(ss->banned[k].user_id, sizeof(ss->banned[k].user_id), "%s", uid);
	ss->banned[k].at_ms = conn_now_ms();
	ss->banned_next = (k + 1) % SESSION_BANNED;
	for (struct conn *c = b->conns->head; c; c = c->next) {
		if (c->state != CONN_READY || strcmp(session_user(c), uid) != 0)
			continue;
		log_info("connection %s: user banned, disconnecting", c->key);
		reply_frame(c, frame_from("41", 2));
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "user banned");
	}
}

/* ---- events and the rate limit ------------------------------------------------ */

/* Takes one token from the connection's event bucket; 0 when allowed. */
static int session_rate_take(const struct cfg *cfg, struct session *s)
{
	int64_t now = conn_now_ms();
	double cap = (double)cfg->ws_event_rate;

	if (cfg->ws_event_rate <= 0)
		return 0;
	s->ev_tokens += (double)(now - s->ev_at_ms) * cap / ((double)cfg->ws_event_window * 1000.0);
	if (s->ev_tokens > cap)
		s->ev_tokens = cap;
	s->ev_at_ms = now;
	if (s->ev_tokens < 1.0)
		return -1;
	s->ev_tokens -= 1.0;
	return 0;
}

static void on_sio_event(struct bridge *b, struct conn *c, const struct sio_packet *p)
{
	if (!sio_is_main_nsp(p)) {
		reply_fail(c, p->ack_id, ERR_NOT_FOUND, "unknown namespace");
		return;
	}
	if (c->state != CONN_READY) {
		reply_fail(c, p->ack_id, ERR_UNAUTHORIZED, "connect with a valid session first");
		return;
	}
	if (session_rate_take(b->cfg, sess(c))) {
		reply_fail(c, p->ack_id, ERR_RATE_LIMITED, "too many events, slow down");
		return;
	}
	events_dispatch(b, c, p);
}

/* ---- Engine.IO packets ------------------------------------------------------------ */

/*
 * A client ping gets its pong, within the event rate: past it, none
 * (authenticated or not, pings cost the bridge output).
 */
static void session_ping(struct bridge *b, struct conn *c, const struct sio_packet *p)
{
	struct frame *f;

	if (session_rate_take(b->cfg, sess(c)))
		return;
	f = frame_alloc(1 + p->data_len);
	if (f) {
		frame_payload(f)[0] = SIO_EIO_PONG;
		memcpy(frame_payload(f) + 1, p->data, p->data_len);
	}
	reply_frame(c, f);
}

/* A Socket.IO packet (in an Engine.IO message). */
static void session_on_sio(struct bridge *b, struct conn *c, const struct sio_packet *p)
{
	switch (p->type) {
	case SIO_CONNECT:
		on_sio_connect(b, c, p);
		break;
	case SIO_DISCONNECT:
		conn_close(c, LWS_CLOSE_STATUS_NORMAL, "");
		break;
	case SIO_EVENT:
		on_sio_event(b, c, p);
		break;
	case SIO_BINARY_EVENT:
	case SIO_BINARY_ACK:
		reply_fail(c, p->type == SIO_BINARY_EVENT ? p->ack_id : -1, ERR_VALIDATION,
			   "binary attachments are not supported");
		break;
	case SIO_ACK:
		break; /* the server asks for no acks */
	default:
		conn_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "unexpected packet type");
		break;
	}
}

void session_on_message(struct bridge *b, struct conn *c, char *buf, size_t len)
{
	struct sio_packet p;

	if (!c->up) {
		conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	if (sio_parse(buf, len, &p)) {
		conn_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "malformed packet");
		return;
	}
	switch (p.eio) {
	case SIO_EIO_PING:
		session_ping(b, c, &p);
		return;
	case SIO_EIO_PONG:
		heartbeat_pong(&sess(c)->hb);
		return;
	case SIO_EIO_CLOSE:
		conn_close(c, LWS_CLOSE_STATUS_NORMAL, "");
		return;
	case SIO_EIO_NOOP:
	case SIO_EIO_UPGRADE:
		return;
	case SIO_EIO_OPEN:
		conn_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "unexpected open packet");
		return;
	case SIO_EIO_MESSAGE:
		break;
	}
	session_on_sio(b, c, &p);
}

int64_t session_due(const struct conn *c, int64_t now_ms)
{
	const struct session *s = c->up;

	if (!s)
		return now_ms;
	return heartbeat_due(&s->hb, c->state == CONN_OPEN || c->state == CONN_AUTHING);
}

int session_sweep(struct bridge *b, struct conn *c, int64_t now)
{
	struct session *s = c->up;

	if (!s) {
		conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return 1;
	}
	return heartbeat_sweep(&b->heartbeat, b->cfg, c, &s->hb, now);
}

/* api_session.c -- the REST session: sign-in, the token's check, logout, /api/me. */
#include "api_handler.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "jwtauth.h"
#include "log.h"

/*
 * Writes the Set-Cookie header(s) of the session cookie into buf: the token
 * tok[0..len) for max_age seconds, or (tok NULL) an expired empty
 * one. With CHAT_COOKIE_SECURE the name is __Host-chat_token, which browsers
 * accept only with Secure, Path=/ and no Domain, so plain HTTP or a sibling
 * domain cannot plant or overwrite it; with expire_plain an old chat_token
 * cookie is expired alongside. Both names are read (tok_from_cookie).
 */
static void api_cookie(const struct cfg *cfg, char *buf, size_t buflen, const char *tok, size_t len,
		       long max_age, int expire_plain)
{
	int n = snprintf(buf, buflen,
			 "Set-Cookie: %s=%.*s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Lax%s\r\n",
			 cfg->cookie_secure ? TOK_COOKIE_HOST : TOK_COOKIE, tok ? (int)len : 0,
			 tok ? tok : "", tok ? max_age : 0L, cfg->cookie_secure ? "; Secure" : "");

	if (cfg->cookie_secure && expire_plain && n > 0 && (size_t)n < buflen)
		snprintf(buf + n, buflen - (size_t)n,
			 "Set-Cookie: " TOK_COOKIE
			 "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure\r\n");
}

/*
 * Takes user_id as the caller: the request's user, and the rooms version
 * its GET /api/rooms pages are kept under (sesscache_rooms_version).
 * Returns 0, or -1 when it does not fit (nothing is taken).
 */
static int api_auth_user(struct api_ctx *x, const char *user_id)
{
	if (strlen(user_id) >= sizeof(x->user_id)) {
		log_err("user id of %zu bytes is too long", strlen(user_id));
		return -1;
	}
	snprintf(x->user_id, sizeof(x->user_id), "%s", user_id);
	sesscache_rooms_version(&x->api->sessions, x->user_id, x->rooms_version,
				sizeof(x->rooms_version));
	log_context(x->req.id, x->user_id);
	return 0;
}

/* The user id column of r's first row, or NULL. */
static const char *api_user_col(enum db_stmt stmt, const PGresult *r)
{
	int col = PQfnumber(r, "user_id");

	if (col < 0 || PQntuples(r) < 1 || PQgetisnull(r, 0, col)) {
		log_err("statement %d lacks user_id", (int)stmt);
		return NULL;
	}
	return PQgetvalue(r, 0, col);
}

/*
 * A site's JWT in the Authorization header (CHAT_JWT_SECRET set): the
 * user of its sub, created or renamed to its name. No session row and no
 * cookie: the site's token is presented on every request. Returns as
 * api_auth. Neither the token nor a claim is logged.
 */
static int api_auth_external(struct api_ctx *x, int required, const char *tok, size_t len)
{
	const struct cfg *cfg = x->api->cfg;
	struct jwtauth_claims claims;
	enum jwtauth_result jr = jwtauth_verify(cfg->jwt_secret, tok, len, (double)time(NULL),
						cfg->username_max, &claims);
	const char *params[2], *user;
	PGresult *r = NULL;
	struct dbcall_row row;

	if (jr != JWTAUTH_OK) {
		if (!required)
			return 1;
		api_error(x, ERR_UNAUTHORIZED, jwtauth_reason(jr), NULL);
		return -1;
	}
	params[0] = claims.sub;
	params[1] = claims.name;
	if (api_db_call(x, DB_AUTH_EXTERNAL, params, &r, &row))
		return -1;
	user = api_user_col(DB_AUTH_EXTERNAL, r);
	if (!user || api_auth_user(x, user)) {
		PQclear(r);
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return -1;
	}
	PQclear(r);
	return 0;
}

static int64_t api_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Asks PostgreSQL about the session of x->token_hash (sliding it forward
 * when due) and remembers the answer. Returns 0 with the user taken and
 * *expires_s set, 1 when there is no such live session, -1 once a failure
 * has been answered.
 */
static int api_auth_check(struct api_ctx *x, int64_t now_ms, int64_t *expires_s)
{
	struct api *a = x->api;
	char ttl[24];
	const char *params[2] = { x->token_hash, ttl };
	const char *user;
	PGresult *r = NULL;
	enum db_status st;
	int col;

	snprintf(ttl, sizeof(ttl), "%ld", a->cfg->session_ttl);
	st = db_exec(&a->db, DB_AUTH, params, &r);
	/* Checking a session is safe to repeat: a broken connection is just unavailable. */
	if (api_db_status(x, st == DB_UNKNOWN ? DB_UNAVAILABLE : st))
		return -1;
	/* Remembered before the notifications that came with the answer are
	 * applied (the next request's api_db_sync): a change committed after
	 * this snapshot then invalidates what is remembered here. */
	api_sessions_check_conn(a);
	if (PQntuples(r) != 1) {
		PQclear(r);
		sesscache_put_refused(&a->sessions, x->token_hash, now_ms);
		return 1;
	}
	user = api_user_col(DB_AUTH, r);
	col = PQfnumber(r, "expires_s");
	if (!user || col < 0 || api_auth_user(x, user)) {
		PQclear(r);
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return -1;
	}
	*expires_s = strtoll(PQgetvalue(r, 0, col), NULL, 10);
	sesscache_put(&a->sessions, x->token_hash, x->user_id, *expires_s, now_ms);
	PQclear(r);
	return 0;
}

int api_auth(struct api_ctx *x, int required)
{
	const char *tok = NULL;
	size_t len = 0;
	enum tok_found found;
	const struct sesscache_entry *e;
	enum sesscache_result hit = SESSCACHE_MISS;
	int64_t now_ms, now_s, expires_s = 0;
	int rc;

	/* A JWT-shaped bearer goes the site-token way; anything else is a session token. */
	if (x->api->cfg->jwt_secret[0] && tok_bearer(x->req.authorization, &tok, &len) &&
	    jwtauth_shaped(tok, len))
		return api_auth_external(x, required, tok, len);
	found = tok_from_authorization(x->req.authorization, &tok, &len);
	if (found == TOK_ABSENT)
		found = tok_from_cookie(x->req.cookie, &tok, &len);
	if (found != TOK_FOUND) {
		if (!required)
			return 1;
		api_error(x, ERR_UNAUTHORIZED,
			  found == TOK_ABSENT ? "a session token is required"
					      : "the session token is malformed",
			  NULL);
		return -1;
	}
	if (tok_hash_bytea(tok, len, x->token_hash)) {
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return -1;
	}
	now_ms = api_mono_ms();
	now_s = (int64_t)time(NULL);
	/* Without a connection no notification arrives: nothing cached is trusted. */
	if (x->api->db.conn)
		hit = sesscache_get(&x->api->sessions, x->token_hash, now_ms, now_s, &e);
	if (hit == SESSCACHE_VALID) {
		expires_s = e->expires_s;
		rc = api_auth_user(x, e->user_id) ? -1 : 0;
		if (rc)
			api_error(x, ERR_INTERNAL, "internal error", NULL);
	} else {
		rc = hit == SESSCACHE_REFUSED ? 1 : api_auth_check(x, now_ms, &expires_s);
	}
	if (rc < 0)
		return -1;
	if (rc > 0) {
		x->token_hash[0] = '\0';
		if (!required)
			return 1;
		api_error(x, ERR_UNAUTHORIZED, "the session is invalid or has expired", NULL);
		return -1;
	}
	/* The session slides forward with use: so does a cookie that carried
	 * it, for as long as the session now lives (never longer). */
	if (!x->req.authorization)
		api_cookie(x->api->cfg, x->req.set_cookie, sizeof(x->req.set_cookie), tok, len,
			   expires_s > now_s ? (long)(expires_s - now_s) : 0L, 0);
	return 0;
}

const char *api_addr_key(const struct api_ctx *x, char *buf, size_t len)
{
	/* An IPv6 client counts by its /64 (as the bridge counts connections):
	 * not per address it can pick. */
	return x->req.remote_addr && addr_key(x->req.remote_addr, buf, len) == 0
		? buf
		: x->req.remote_addr;
}

int api_session_new(struct api_ctx *x, struct api_session *s)
{
	if (tok_new(s->token) || tok_hash_bytea(s->token, TOK_LEN, s->hash)) {
		api_error(x, ERR_INTERNAL, "cannot create a session token", NULL);
		return -1;
	}
	snprintf(s->ttl, sizeof(s->ttl), "%ld", x->api->cfg->session_ttl);
	return 0;
}

void api_session_answer(struct api_ctx *x, int status, const struct api_session *s,
			const struct dbcall_row *row)
{
	const char *data = row->data;
	size_t dlen = row->data_len;
	size_t tlen = sizeof("{\"token\":\"\",") - 1 + TOK_LEN;
	char headers[320];
	char *spliced;

	/* The token never reaches the database: splice it into the object. */
	spliced = dlen > 1 && data[0] == '{' ? malloc(tlen + dlen) : NULL;
	if (!spliced) {
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return;
	}
	snprintf(spliced, tlen + 1, "{\"token\":\"%s\",", s->token);
	memcpy(spliced + tlen, data + 1, dlen - 1);
	spliced[tlen + dlen - 1] = '\0';
	x->req.set_cookie[0] = '\0'; /* the new session's cookie replaces any other */
	api_cookie(x->api->cfg, headers, sizeof(headers), s->token, TOK_LEN,
		   x->api->cfg->session_ttl, 1);
	api_send_data(x, status, headers, spliced, tlen + dlen - 1);
	free(spliced);
}

void api_join(struct api_ctx *x)
{
	const struct cfg *cfg = x->api->cfg;
	const char *username, *room_id;
	size_t ulen, rlen;
	struct valid_err e;
	struct api_session sess;
	char rate[24], window[24], akey[ADDR_KEY_MAX];
	const char *params[8];
	PGresult *r;
	struct dbcall_row row;

	if (valid_string_field(x->body, "username", VALID_REQUIRED, &username, &ulen, &e) ||
	    valid_username(username, ulen, cfg->username_max, &e) ||
	    valid_string_field(x->body, "room_id", VALID_OPTIONAL, &room_id, &rlen, &e)) {
		api_valid_error(x, &e);
		return;
	}
	if (room_id && !valid_room_id(room_id, rlen)) {
		api_error(x, ERR_NOT_FOUND, "room not found", "room_id");
		return;
	}
	if (api_auth(x, 0) < 0)
		return;
	x->req.set_cookie[0] = '\0'; /* join sets the new session's cookie itself */
	if (api_session_new(x, &sess))
		return;
	snprintf(rate, sizeof(rate), "%ld", cfg->join_rate);
	snprintf(window, sizeof(window), "%ld", cfg->join_rate_window);
	params[0] = username;
	params[1] = room_id;
	params[2] = sess.hash;
	params[3] = sess.ttl;
	params[4] = x->user_id[0] ? x->user_id : NULL;
	/* New names are counted per client address. */
	params[5] = api_addr_key(x, akey, sizeof(akey));
	params[6] = rate;
	params[7] = window;
	if (api_db_call(x, DB_JOIN, params, &r, &row))
		return;
	api_session_answer(x, 201, &sess, &row);
	PQclear(r);
}

void api_logout(struct api_ctx *x)
{
	const char *params[1] = { x->token_hash };
	PGresult *r;
	struct dbcall_row row;
	char headers[256];

	if (api_db_call(x, DB_LOGOUT, params, &r, &row))
		return;
	x->req.set_cookie[0] = '\0';
	api_cookie(x->api->cfg, headers, sizeof(headers), NULL, 0, 0, 1);
	api_send_data(x, 200, headers, row.data, row.data_len);
	PQclear(r);
}

void api_me(struct api_ctx *x)
{
	const char *params[1] = { x->user_id };

	api_reply(x, DB_ME, params);
}

/* api_session.c -- the REST session: sign-in, the token's check, logout, /api/me. */
#include "api_handler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"

/*
 * Writes the Set-Cookie header(s) of the session cookie into buf: the token
 * tok[0..len) for CHAT_SESSION_TTL seconds, or (tok NULL) an expired empty
 * one. With CHAT_COOKIE_SECURE the name is __Host-chat_token, which browsers
 * accept only with Secure, Path=/ and no Domain, so plain HTTP or a sibling
 * domain cannot plant or overwrite it; with expire_plain an old chat_token
 * cookie is expired alongside. Both names are read (tok_from_cookie).
 */
static void api_cookie(const struct cfg *cfg, char *buf, size_t buflen, const char *tok, size_t len,
		       int expire_plain)
{
	int n = snprintf(buf, buflen,
			 "Set-Cookie: %s=%.*s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Lax%s\r\n",
			 cfg->cookie_secure ? TOK_COOKIE_HOST : TOK_COOKIE, tok ? (int)len : 0,
			 tok ? tok : "", tok ? cfg->session_ttl : 0L,
			 cfg->cookie_secure ? "; Secure" : "");

	if (cfg->cookie_secure && expire_plain && n > 0 && (size_t)n < buflen)
		snprintf(buf + n, buflen - (size_t)n,
			 "Set-Cookie: " TOK_COOKIE
			 "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure\r\n");
}

int api_auth(struct api_ctx *x, int required)
{
	const char *tok = NULL;
	size_t len = 0;
	enum tok_found found = tok_from_authorization(x->req.authorization, &tok, &len);
	char ttl[24];
	const char *params[2];
	PGresult *r = NULL;
	int user_col, version_col;
	enum db_status st;

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
	snprintf(ttl, sizeof(ttl), "%ld", x->api->cfg->session_ttl);
	params[0] = x->token_hash;
	params[1] = ttl;
	st = db_exec(&x->api->db, DB_AUTH, params, &r);
	/* Checking a session is safe to repeat: a broken connection is just unavailable. */
	if (api_db_status(x, st == DB_UNKNOWN ? DB_UNAVAILABLE : st))
		return -1;
	user_col = PQfnumber(r, "user_id");
	version_col = PQfnumber(r, "rooms_version");
	if (user_col < 0 || version_col < 0) {
		log_err("statement %d lacks user_id or rooms_version", (int)DB_AUTH);
		PQclear(r);
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return -1;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		x->token_hash[0] = '\0';
		if (!required)
			return 1;
		api_error(x, ERR_UNAUTHORIZED, "the session is invalid or has expired", NULL);
		return -1;
	}
	snprintf(x->user_id, sizeof(x->user_id), "%s", PQgetvalue(r, 0, user_col));
	/* A version that does not fit is no version: never a cut one, which could match another's. */
	if (strlen(PQgetvalue(r, 0, version_col)) < sizeof(x->rooms_version))
		snprintf(x->rooms_version, sizeof(x->rooms_version), "%s",
			 PQgetvalue(r, 0, version_col));
	log_context(x->req.id, x->user_id);
	PQclear(r);
	/* The session slides forward with use: so does a cookie that carried it. */
	if (!x->req.authorization)
		api_cookie(x->api->cfg, x->req.set_cookie, sizeof(x->req.set_cookie), tok, len, 0);
	return 0;
}

void api_join(struct api_ctx *x)
{
	const struct cfg *cfg = x->api->cfg;
	const char *username, *room_id;
	size_t ulen, rlen;
	struct valid_err e;
	char token[TOK_LEN + 1], hash[2 + TOK_HASH_HEX_LEN + 1];
	char ttl[24], rate[24], window[24], headers[320], akey[ADDR_KEY_MAX];
	const char *params[8];
	PGresult *r;
	struct dbcall_row row;
	const char *data;
	size_t dlen, tlen;
	char *spliced;

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
	if (tok_new(token) || tok_hash_bytea(token, TOK_LEN, hash)) {
		api_error(x, ERR_INTERNAL, "cannot create a session token", NULL);
		return;
	}
	snprintf(ttl, sizeof(ttl), "%ld", cfg->session_ttl);
	snprintf(rate, sizeof(rate), "%ld", cfg->join_rate);
	snprintf(window, sizeof(window), "%ld", cfg->join_rate_window);
	params[0] = username;
	params[1] = room_id;
	params[2] = hash;
	params[3] = ttl;
	params[4] = x->user_id[0] ? x->user_id : NULL;
	/* New names are counted per client address, an IPv6 client by its /64
	 * (as the bridge counts connections): not per address it can pick. */
	params[5] = x->req.remote_addr && addr_key(x->req.remote_addr, akey, sizeof(akey)) == 0
		? akey
		: x->req.remote_addr;
	params[6] = rate;
	params[7] = window;
	if (api_db_call(x, DB_JOIN, params, &r, &row))
		return;
	/* The token never reaches the database: splice it into the object. */
	data = row.data;
	dlen = row.data_len;
	tlen = sizeof("{\"token\":\"\",") - 1 + TOK_LEN;
	spliced = dlen > 1 && data[0] == '{' ? malloc(tlen + dlen) : NULL;
	if (!spliced) {
		PQclear(r);
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return;
	}
	snprintf(spliced, tlen + 1, "{\"token\":\"%s\",", token);
	memcpy(spliced + tlen, data + 1, dlen - 1);
	spliced[tlen + dlen - 1] = '\0';
	api_cookie(cfg, headers, sizeof(headers), token, TOK_LEN, 1);
	api_send_data(x, 201, headers, spliced, tlen + dlen - 1);
	free(spliced);
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
	api_cookie(x->api->cfg, headers, sizeof(headers), NULL, 0, 1);
	api_send_data(x, 200, headers, row.data, row.data_len);
	PQclear(r);
}

void api_me(struct api_ctx *x)
{
	const char *params[1] = { x->user_id };

	api_reply(x, DB_ME, params);
}

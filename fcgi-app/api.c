/* api.c -- the REST API of DESIGN.md section 2: one handler per resource and method. */
#include "api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbcall.h"
#include "envelope.h"
#include "http.h"
#include "log.h"
#include "route.h"
#include "tok.h"
#include "utf8.h"
#include "valid.h"

/* Cursors and offsets stay within what a JavaScript number holds exactly. */
#define API_MAX_CURSOR 9007199254740991L
#define API_PAGE_MAX 200
#define API_PAGE_DEFAULT 50

/* Everything one request owns; released at the end of api_handle. */
struct api_ctx {
	struct api *api;
	struct http_req req;
	struct route_match route;
	json_t *body;                              /* the parsed JSON object */
	char user_id[64];                          /* after a successful auth */
	char rooms_version[PAGECACHE_VERSION_MAX]; /* after a successful auth */
	char token_hash[2 + TOK_HASH_HEX_LEN + 1]; /* after a successful auth */
};

enum api_flags {
	API_AUTH = 1 << 0, /* requires a session */
	API_BODY = 1 << 1, /* takes a JSON object body */
};

typedef void (*api_fn)(struct api_ctx *x);

struct api_endpoint {
	enum route_id route;
	const char *method;
	api_fn fn;
	unsigned flags;
};

static void api_error(struct api_ctx *x, enum err_code code, const char *message, const char *field)
{
	http_send_error(&x->req, code, message, field, NULL);
}

static void api_valid_error(struct api_ctx *x, const struct valid_err *e)
{
	api_error(x, e->code, e->message, e->field);
}

static void api_send_data(struct api_ctx *x, int status, const char *headers, const char *data,
			  size_t len)
{
	size_t outlen = 0;
	char *out = envelope_success_raw(data, len, &outlen);

	if (!out) {
		api_error(x, ERR_INTERNAL, "out of memory", NULL);
		return;
	}
	http_send(&x->req, status, headers, out, outlen);
	free(out);
}

/*
 * Runs one of the (err, msg, field, retry, data) statements. Returns 0 with
 * the result in *res (the caller clears it) and its row decoded in *row
 * (pointing into *res), or -1 once the failure has been answered.
 */
static int api_db_call(struct api_ctx *x, enum db_stmt stmt, const char *const *params,
		       PGresult **res, struct dbcall_row *row)
{
	PGresult *r = NULL;
	char headers[64];

	*res = NULL;
	switch (db_exec(&x->api->db, stmt, params, &r)) {
	case DB_OK:
		break;
	case DB_UNAVAILABLE:
		api_error(x, ERR_DB_UNAVAILABLE, "the database is unavailable, try again", NULL);
		return -1;
	case DB_UNKNOWN:
		api_error(x, ERR_OUTCOME_UNKNOWN,
			  "the database connection broke: the request may have taken effect; "
			  "retry it (a message with the same client_id)",
			  NULL);
		return -1;
	case DB_FAILED:
	default:
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return -1;
	}
	if (PQntuples(r) != 1 || dbcall_row(row, r, 0)) {
		log_err("statement %d returned %d rows of %d fields, not one standard row",
			(int)stmt, PQntuples(r), PQnfields(r));
		PQclear(r);
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return -1;
	}
	if (!row->err) {
		*res = r;
		return 0;
	}
	headers[0] = '\0';
	if (row->code == ERR_RATE_LIMITED && row->retry)
		snprintf(headers, sizeof(headers), "Retry-After: %s\r\n", row->retry);
	http_send_error(&x->req, row->code, row->msg, row->field, headers[0] ? headers : NULL);
	PQclear(r);
	return -1;
}

/* Runs a statement and answers its data with status 200. */
static void api_reply(struct api_ctx *x, enum db_stmt stmt, const char *const *params)
{
	PGresult *r;
	struct dbcall_row row;

	if (api_db_call(x, stmt, params, &r, &row))
		return;
	api_send_data(x, 200, NULL, row.data, row.data_len);
	PQclear(r);
}

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

/*
 * Resolves the session from the Authorization header, or else the cookie.
 * Returns 0 when a live session was found, 1 when the request carries none
 * (or a bad one) and required is 0, -1 once a failure has been answered.
 */
static int api_auth(struct api_ctx *x, int required)
{
	const char *tok = NULL;
	size_t len = 0;
	enum tok_found found = tok_from_authorization(x->req.authorization, &tok, &len);
	char ttl[24];
	const char *params[2];
	PGresult *r = NULL;
	int user_col, version_col;

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
	switch (db_exec(&x->api->db, DB_AUTH, params, &r)) {
	case DB_OK:
		break;
	case DB_UNAVAILABLE:
		api_error(x, ERR_DB_UNAVAILABLE, "the database is unavailable, try again", NULL);
		return -1;
	case DB_FAILED:
	default:
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return -1;
	}
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
	snprintf(x->rooms_version, sizeof(x->rooms_version), "%s", PQgetvalue(r, 0, version_col));
	log_context(x->req.id, x->user_id);
	PQclear(r);
	/* The session slides forward with use: so does a cookie that carried it. */
	if (!x->req.authorization)
		api_cookie(x->api->cfg, x->req.set_cookie, sizeof(x->req.set_cookie), tok, len, 0);
	return 0;
}

/* Reads an optional room_id-like path segment; answers 404 when it cannot be one. */
static int api_room_param(struct api_ctx *x, char *out, size_t outlen)
{
	if (!valid_room_id(x->route.param, x->route.param_len) || x->route.param_len >= outlen) {
		api_error(x, ERR_NOT_FOUND, "room not found", "room_id");
		return -1;
	}
	memcpy(out, x->route.param, x->route.param_len);
	out[x->route.param_len] = '\0';
	return 0;
}

static void api_health(struct api_ctx *x)
{
	static const char ok[] = "{\"status\":\"ok\",\"db\":\"ok\"}";
	PGresult *r = NULL;

	if (db_exec(&x->api->db, DB_HEALTH, NULL, &r) != DB_OK) {
		api_error(x, ERR_DB_UNAVAILABLE, "the database is unavailable", NULL);
		return;
	}
	PQclear(r);
	api_send_data(x, 200, NULL, ok, sizeof(ok) - 1);
}

static void api_join(struct api_ctx *x)
{
	const struct cfg *cfg = x->api->cfg;
	const char *username, *room_id;
	size_t ulen, rlen;
	struct valid_err e;
	char token[TOK_LEN + 1], hash[2 + TOK_HASH_HEX_LEN + 1];
	char ttl[24], rate[24], window[24], headers[320];
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
	params[5] = x->req.remote_addr;
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

static void api_logout(struct api_ctx *x)
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

static void api_me(struct api_ctx *x)
{
	const char *params[1] = { x->user_id };

	api_reply(x, DB_ME, params);
}

static int64_t api_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void api_rooms_list(struct api_ctx *x)
{
	long limit = API_PAGE_DEFAULT, offset = 0;
	int has;
	struct valid_err e;
	char l[24], o[24];
	const char *params[2] = { l, o };
	const char *body;
	size_t len;
	int64_t now;
	PGresult *r;
	struct dbcall_row row;

	if (valid_query_long(x->req.query, "limit", 1, API_PAGE_MAX, &limit, &has, &e) ||
	    valid_query_long(x->req.query, "offset", 0, 1000000000L, &offset, &has, &e)) {
		api_valid_error(x, &e);
		return;
	}
	now = api_now_ms();
	body = pagecache_get(&x->api->rooms, limit, offset, x->rooms_version, now, &len);
	if (body) {
		api_send_data(x, 200, NULL, body, len);
		return;
	}
	snprintf(l, sizeof(l), "%ld", limit);
	snprintf(o, sizeof(o), "%ld", offset);
	if (api_db_call(x, DB_ROOMS_LIST, params, &r, &row))
		return;
	body = row.data;
	len = row.data_len;
	pagecache_put(&x->api->rooms, limit, offset, x->rooms_version, now, body, len);
	api_send_data(x, 200, NULL, body, len);
	PQclear(r);
}

static void api_rooms_create(struct api_ctx *x)
{
	const struct cfg *cfg = x->api->cfg;
	const char *field = json_object_get(x->body, "room_name") ? "room_name" : "name";
	const char *name, *desc;
	size_t nlen, dlen;
	struct valid_err e;
	char rate[24], window[24];
	const char *params[5];
	PGresult *r;
	struct dbcall_row row;

	if (valid_string_field(x->body, field, VALID_REQUIRED, &name, &nlen, &e) ||
	    valid_text(field, name, nlen, 1, cfg->room_name_max, 0, &e) ||
	    valid_string_field(x->body, "description", VALID_OPTIONAL, &desc, &dlen, &e) ||
	    (desc &&
	     valid_text("description", desc, dlen, 0, cfg->description_max,
			VALID_MULTILINE | VALID_ALLOW_BLANK, &e))) {
		if (strcmp(e.field, "name") == 0 && !json_object_get(x->body, "name"))
			e.field = "room_name";
		api_valid_error(x, &e);
		return;
	}
	snprintf(rate, sizeof(rate), "%ld", cfg->room_create_rate);
	snprintf(window, sizeof(window), "%ld", cfg->room_create_window);
	params[0] = x->user_id;
	params[1] = name;
	params[2] = desc;
	params[3] = rate;
	params[4] = window;
	if (api_db_call(x, DB_ROOM_CREATE, params, &r, &row))
		return;
	api_send_data(x, 201, NULL, row.data, row.data_len);
	PQclear(r);
}

static void api_room_get(struct api_ctx *x)
{
	char room[72];
	const char *params[1] = { room };

	if (api_room_param(x, room, sizeof(room)))
		return;
	api_reply(x, DB_ROOM_GET, params);
}

static void api_messages_get(struct api_ctx *x)
{
	char room[72], l[24], b[24], a[24];
	long limit = API_PAGE_DEFAULT, before = 0, after = 0;
	int has_limit, has_before, has_after;
	struct valid_err e;
	const char *params[4];

	if (api_room_param(x, room, sizeof(room)))
		return;
	if (valid_query_long(x->req.query, "limit", 1, API_PAGE_MAX, &limit, &has_limit, &e) ||
	    valid_query_long(x->req.query, "before", 0, API_MAX_CURSOR, &before, &has_before, &e) ||
	    valid_query_long(x->req.query, "after", 0, API_MAX_CURSOR, &after, &has_after, &e)) {
		api_valid_error(x, &e);
		return;
	}
	snprintf(l, sizeof(l), "%ld", limit);
	snprintf(b, sizeof(b), "%ld", before);
	snprintf(a, sizeof(a), "%ld", after);
	params[0] = room;
	params[1] = l;
	params[2] = has_before ? b : NULL;
	params[3] = has_after ? a : NULL;
	api_reply(x, DB_MESSAGES_PAGE, params);
}

static void api_messages_post(struct api_ctx *x)
{
	const struct cfg *cfg = x->api->cfg;
	char room[72];
	struct valid_message m;
	struct valid_err e;
	struct dbcall_send send;
	PGresult *r;
	struct dbcall_row row;
	json_t *data;
	int status = 201;

	if (api_room_param(x, room, sizeof(room)))
		return;
	if (valid_message_body(x->body, cfg, &m, &e)) {
		api_valid_error(x, &e);
		return;
	}
	if (api_db_call(x, DB_SEND_MESSAGE,
			dbcall_send_params(&send, x->user_id, room, m.content, m.client_id,
					   cfg->msg_rate, cfg->msg_rate_window),
			&r, &row))
		return;
	/* A replayed client_id answers 200 with the original message. */
	data = json_loadb(row.data, row.data_len, 0, NULL);
	if (data && json_is_true(json_object_get(data, "duplicate")))
		status = 200;
	json_decref(data);
	api_send_data(x, status, NULL, row.data, row.data_len);
	PQclear(r);
}

/* Members per GET /api/users page: the default is also the most. */
#define API_USERS_PAGE 1000

static void api_room_users(struct api_ctx *x)
{
	char room[72], l[24], o[24];
	const char *params[3] = { room, l, o };
	long limit = API_USERS_PAGE, offset = 0;
	int has;
	struct valid_err e;

	if (api_room_param(x, room, sizeof(room)))
		return;
	if (valid_query_long(x->req.query, "limit", 1, API_USERS_PAGE, &limit, &has, &e) ||
	    valid_query_long(x->req.query, "offset", 0, 1000000000L, &offset, &has, &e)) {
		api_valid_error(x, &e);
		return;
	}
	snprintf(l, sizeof(l), "%ld", limit);
	snprintf(o, sizeof(o), "%ld", offset);
	api_reply(x, DB_ROOM_USERS, params);
}

/* The pool's metrics page: loopback clients only (nginx also restricts it). */
static void api_metrics(struct api_ctx *x)
{
	const char *addr = x->req.remote_addr ? x->req.remote_addr : "";
	size_t len = 0;
	char *body;

	if (strcmp(addr, "127.0.0.1") != 0 && strcmp(addr, "::1") != 0) {
		api_error(x, ERR_NOT_FOUND, "no such endpoint", NULL);
		return;
	}
	body = metrics_render(x->api->metrics, &len);
	if (!body) {
		api_error(x, ERR_INTERNAL, "out of memory", NULL);
		return;
	}
	http_send_typed(&x->req, 200, "text/plain; version=0.0.4", NULL, body, len);
	free(body);
}

static const struct api_endpoint api_endpoints[] = {
	{ ROUTE_HEALTH, "GET", api_health, 0 },
	{ ROUTE_METRICS, "GET", api_metrics, 0 },
	{ ROUTE_JOIN, "POST", api_join, API_BODY },
	{ ROUTE_SESSION, "DELETE", api_logout, API_AUTH },
	{ ROUTE_ME, "GET", api_me, API_AUTH },
	{ ROUTE_ROOMS, "GET", api_rooms_list, API_AUTH },
	{ ROUTE_ROOMS, "POST", api_rooms_create, API_AUTH | API_BODY },
	{ ROUTE_ROOM, "GET", api_room_get, API_AUTH },
	{ ROUTE_MESSAGES, "GET", api_messages_get, API_AUTH },
	{ ROUTE_MESSAGES, "POST", api_messages_post, API_AUTH | API_BODY },
	{ ROUTE_USERS, "GET", api_room_users, API_AUTH },
};

#define API_NENDPOINTS (sizeof(api_endpoints) / sizeof(api_endpoints[0]))

/* Answers 405 with the methods the resource does take. */
static void api_method_not_allowed(struct api_ctx *x)
{
	char allow[96] = "Allow: ";
	size_t n = strlen(allow);

	for (size_t i = 0; i < API_NENDPOINTS; i++) {
		if (api_endpoints[i].route != x->route.id)
			continue;
		n += (size_t)snprintf(allow + n, sizeof(allow) - n, "%s%s",
				      n > sizeof("Allow: ") - 1 ? ", " : "",
				      api_endpoints[i].method);
	}
	snprintf(allow + n, sizeof(allow) - n, "\r\n");
	http_send_error(&x->req, ERR_METHOD_NOT_ALLOWED, "method not allowed for this resource",
			NULL, allow);
}

/* Reads and parses the JSON object body; answers and returns -1 on failure. */
static int api_read_json(struct api_ctx *x)
{
	json_error_t jerr;
	enum err_code code;

	if (!http_is_json(&x->req)) {
		api_error(x, ERR_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json",
			  NULL);
		return -1;
	}
	code = http_read_body(&x->req, x->api->cfg->max_body);
	if (code != ERR_NONE) {
		api_error(x, code,
			  code == ERR_PAYLOAD_TOO_LARGE ? "request body too large"
							: "internal error",
			  NULL);
		return -1;
	}
	/* "\u0000" is valid JSON: it parses, and valid_string_field refuses it
	 * as a validation_error naming the field. */
	x->body = json_loadb(x->req.body, x->req.body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
			     &jerr);
	if (!x->body) {
		char msg[200];

		/* jansson may quote half a character of the input: keep the whole ones. */
		snprintf(msg, sizeof(msg), "body is not valid JSON: %.*s",
			 (int)utf8_valid_prefix(jerr.text, strlen(jerr.text)), jerr.text);
		api_error(x, ERR_INVALID_JSON, msg, NULL);
		return -1;
	}
	if (!json_is_object(x->body)) {
		api_error(x, ERR_INVALID_JSON, "body must be a JSON object", NULL);
		return -1;
	}
	return 0;
}

void api_init(struct api *a, const struct cfg *cfg, const struct metrics *metrics,
	      struct metrics_slot *mine)
{
	a->cfg = cfg;
	a->seq = 0;
	a->metrics = metrics;
	a->mine = mine;
	pagecache_init(&a->rooms, cfg->rooms_cache_ms);
	db_init(&a->db, cfg);
}

void api_release(struct api *a)
{
	pagecache_free(&a->rooms);
	db_release(&a->db);
}

void api_handle(struct api *a, FCGX_Request *fcgi)
{
	struct api_ctx x;
	const struct api_endpoint *ep = NULL;

	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&x, 0, sizeof(x));
	x.api = a;
	http_req_init(&x.req, fcgi, ++a->seq);
	log_context(x.req.id, NULL);
	if (route_find(x.req.path, &x.route) == ROUTE_NONE) {
		api_error(&x, ERR_NOT_FOUND, "no such endpoint", NULL);
		goto out;
	}
	for (size_t i = 0; i < API_NENDPOINTS; i++)
		if (api_endpoints[i].route == x.route.id &&
		    strcmp(api_endpoints[i].method, x.req.method) == 0)
			ep = &api_endpoints[i];
	if (!ep) {
		api_method_not_allowed(&x);
		goto out;
	}
	if ((ep->flags & API_AUTH) && api_auth(&x, 1))
		goto out;
	if ((ep->flags & API_BODY) && api_read_json(&x))
		goto out;
	ep->fn(&x);
out:
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (a->mine) {
		metrics_request(a->mine, x.req.status,
				(unsigned long long)((t1.tv_sec - t0.tv_sec) * 1000000LL +
						     (t1.tv_nsec - t0.tv_nsec) / 1000));
		if (x.req.status == 503)
			a->mine->db_unavailable++;
	}
	if (x.req.status >= 500)
		log_warn("%s %s answered %d", x.req.method, x.req.path, x.req.status);
	else
		log_debug("%s %s answered %d", x.req.method, x.req.path, x.req.status);
	json_decref(x.body);
	http_req_release(&x.req);
	log_context(NULL, NULL);
}

/* api.c -- the REST API of DESIGN.md section 2: the endpoint table and the shared plumbing. */
#include "api.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_handler.h"
#include "envelope.h"
#include "log.h"
#include "utf8.h"

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

void api_error(struct api_ctx *x, enum err_code code, const char *message, const char *field)
{
	http_send_error(&x->req, code, message, field, NULL);
}

void api_valid_error(struct api_ctx *x, const struct valid_err *e)
{
	api_error(x, e->code, e->message, e->field);
}

void api_send_data(struct api_ctx *x, int status, const char *headers, const char *data, size_t len)
{
	/* envelope_success_raw's framing, sent around data without a copy of it. */
	static const char head[] = "{\"success\":true,\"data\":";
	struct iovec body[3] = {
		{ (void *)(uintptr_t)head, sizeof(head) - 1 },
		{ (void *)(uintptr_t)(data ? data : "null"), data ? len : 4 },
		{ (void *)(uintptr_t) "}", 1 },
	};

	http_send_parts(&x->req, status, "application/json; charset=utf-8", headers, body, 3);
}

int api_db_status(struct api_ctx *x, enum db_status st)
{
	switch (st) {
	case DB_OK:
		return 0;
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
}

/* Decodes r, the result of a DB_OK run of stmt: one standard row (r is given away). */
static int api_db_result(struct api_ctx *x, enum db_stmt stmt, PGresult *r, PGresult **res,
			 struct dbcall_row *row)
{
	char headers[64];

	*res = NULL;
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

int api_db_call(struct api_ctx *x, enum db_stmt stmt, const char *const *params, PGresult **res,
		struct dbcall_row *row)
{
	struct api *a = x->api;
	PGresult *r = NULL;

	*res = NULL;
	if (api_db_status(
		    x, replica_exec(&a->replica, &a->db, stmt, params, x->user_id, &x->want, &r)))
		return -1;
	if (api_db_result(x, stmt, r, res, row))
		return -1;
	/* Before the answer: the author's next read, on any worker, sees it. */
	if (db_stmt_fences(stmt))
		replica_wrote(&a->replica, &a->db, x->user_id);
	return 0;
}

int api_data_flag(const struct dbcall_row *row, const char *key)
{
	json_t *data = json_loadb(row->data, row->data_len, 0, NULL);
	int on = data && json_is_true(json_object_get(data, key));

	json_decref(data);
	return on;
}

void api_reply(struct api_ctx *x, enum db_stmt stmt, const char *const *params)
{
	PGresult *r;
	struct dbcall_row row;

	if (api_db_call(x, stmt, params, &r, &row))
		return;
	api_send_data(x, 200, NULL, row.data, row.data_len);
	PQclear(r);
}

int api_room_param(struct api_ctx *x, char *out, size_t outlen)
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

/* The workers' metrics page, for the addresses of CHAT_METRICS_ALLOW (REMOTE_ADDR). */
static void api_metrics(struct api_ctx *x)
{
	size_t len = 0;
	char *body;

	if (!allow_match(&x->api->cfg->metrics_allow, x->req.remote_addr)) {
		api_error(x, ERR_FORBIDDEN, "metrics are not served to this address", NULL);
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
	{ ROUTE_REGISTER, "POST", api_register, API_BODY },
	{ ROUTE_LOGIN, "POST", api_login, API_BODY },
	{ ROUTE_ME_PASSWORD, "POST", api_password, API_AUTH | API_BODY },
	{ ROUTE_SESSION, "DELETE", api_logout, API_AUTH },
	{ ROUTE_ME, "GET", api_me, API_AUTH },
	{ ROUTE_ROOMS, "GET", api_rooms_list, API_AUTH },
	{ ROUTE_ROOMS, "POST", api_rooms_create, API_AUTH | API_BODY },
	{ ROUTE_ROOM, "GET", api_room_get, API_AUTH },
	{ ROUTE_MESSAGES, "GET", api_messages_get, API_AUTH },
	{ ROUTE_MESSAGES, "POST", api_messages_post, API_AUTH | API_BODY },
	{ ROUTE_MESSAGE, "DELETE", api_message_delete, API_AUTH },
	{ ROUTE_MESSAGE, "PATCH", api_message_edit, API_AUTH | API_BODY },
	{ ROUTE_CHANGES, "GET", api_changes_get, API_AUTH },
	{ ROUTE_USERS, "GET", api_room_users, API_AUTH },
	{ ROUTE_ROOM_MEMBERS, "POST", api_member_add, API_AUTH | API_BODY },
	{ ROUTE_ROOM_MEMBER, "DELETE", api_member_remove, API_AUTH },
	{ ROUTE_ROOM_MEMBER, "PATCH", api_member_role, API_AUTH | API_BODY },
	{ ROUTE_DM, "POST", api_dm, API_AUTH | API_BODY },
	{ ROUTE_ROOM_READ, "POST", api_room_read, API_AUTH | API_BODY },
	{ ROUTE_ROOM_READS, "GET", api_room_reads, API_AUTH },
	{ ROUTE_SEARCH, "GET", api_search, API_AUTH },
};

#define API_NENDPOINTS (sizeof(api_endpoints) / sizeof(api_endpoints[0]))

/* Seconds a browser may reuse a preflight's answer (Chromium caps it at 7200). */
#define API_PREFLIGHT_MAX_AGE 600

/* Writes "<name>: GET, POST\r\n", the methods the resource takes, into buf. */
static void api_methods_header(const struct api_ctx *x, const char *name, char *buf, size_t len)
{
	size_t start = (size_t)snprintf(buf, len, "%s: ", name), n = start;

	for (size_t i = 0; i < API_NENDPOINTS && n < len; i++) {
		if (api_endpoints[i].route != x->route.id)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n > start ? ", " : "",
				      api_endpoints[i].method);
	}
	if (n < len)
		snprintf(buf + n, len - n, "\r\n");
}

/* Answers 405 with the methods the resource does take. */
static void api_method_not_allowed(struct api_ctx *x)
{
	char allow[96];

	api_methods_header(x, "Allow", allow, sizeof(allow));
	http_send_error(&x->req, ERR_METHOD_NOT_ALLOWED, "method not allowed for this resource",
			NULL, allow);
}

/*
 * A CORS preflight from an allowed origin: 204 with what the resource
 * takes. Allow-Credentials and Allow-Origin come with every answer to
 * that origin (http_cors).
 */
static void api_preflight(struct api_ctx *x)
{
	char headers[256];
	int n;

	api_methods_header(x, "Access-Control-Allow-Methods", headers, sizeof(headers));
	n = (int)strlen(headers);
	snprintf(headers + n, sizeof(headers) - (size_t)n,
		 "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"
		 "Access-Control-Max-Age: %d\r\n",
		 API_PREFLIGHT_MAX_AGE);
	http_send(&x->req, 204, headers, "", 0);
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

int api_init(struct api *a, const struct cfg *cfg, struct metrics *metrics,
	     const struct pwslot *slots)
{
	a->cfg = cfg;
	a->seq = 0;
	a->pid = (unsigned)getpid(); /* the worker's: api_init runs after the fork */
	a->metrics = metrics;
	a->slots = slots;
	if (pwhash_init(&a->pw, (unsigned long long)cfg->pwhash_opslimit,
			(size_t)cfg->pwhash_memlimit))
		return -1;
	if (sesscache_init(&a->sessions, cfg->session_cache_ms)) {
		log_err("cannot allocate the session cache");
		return -1;
	}
	a->connects = 0;
	pagecache_init(&a->rooms, cfg->rooms_cache_ms);
	db_init(&a->db, cfg);
	replica_init(&a->replica, cfg, metrics);
	return 0;
}

void api_release(struct api *a)
{
	pagecache_free(&a->rooms);
	replica_release(&a->replica);
	sesscache_free(&a->sessions);
	db_release(&a->db);
}

int api_db_fd(const struct api *a)
{
	return db_fd(&a->db);
}

static void api_on_notify(void *ctx, const char *payload)
{
	sesscache_notify(ctx, payload);
}

void api_sessions_check_conn(struct api *a)
{
	if (!a->db.conn || a->db.connects != a->connects) {
		sesscache_clear(&a->sessions);
		a->connects = a->db.connects;
	}
}

/* Applies the notifications received, reading the socket first with read. */
static void api_db_sync(struct api *a, int read)
{
	if (a->db.conn)
		(void)db_notifies(&a->db, read, api_on_notify, &a->sessions);
	api_sessions_check_conn(a);
}

void api_db_input(struct api *a)
{
	api_db_sync(a, 1);
}

int api_handle(struct api *a, FCGX_Request *fcgi)
{
	struct api_ctx x;
	const struct api_endpoint *ep = NULL;
	int cors;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* What libpq read meanwhile (the worker's poll reads the socket). */
	api_db_sync(a, 0);
	memset(&x, 0, sizeof(x));
	x.api = a;
	http_req_init(&x.req, fcgi, a->pid, ++a->seq);
	log_context(x.req.id, NULL);
	cors = http_cors(&x.req, a->cfg->allowed_origins);
	if (route_find(x.req.path, &x.route) == ROUTE_NONE) {
		api_error(&x, ERR_NOT_FOUND, "no such endpoint", NULL);
		goto out;
	}
	if (cors && strcmp(x.req.method, "OPTIONS") == 0) {
		api_preflight(&x);
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
	if (a->metrics)
		metrics_request(a->metrics, x.req.status,
				(unsigned long long)((t1.tv_sec - t0.tv_sec) * 1000000LL +
						     (t1.tv_nsec - t0.tv_nsec) / 1000));
	if (x.req.status >= 500)
		log_warn("%s %s answered %d", x.req.method, x.req.path, x.req.status);
	else
		log_debug("%s %s answered %d", x.req.method, x.req.path, x.req.status);
	json_decref(x.body);
	http_req_release(&x.req);
	log_context(NULL, NULL);
	return x.req.ended;
}

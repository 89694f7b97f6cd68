/* api_handler.h -- what the REST handlers share: the request context, the answer helpers.
 *
 * api.c holds the endpoint table and these helpers; api_session.c,
 * api_rooms.c, api_members.c, api_messages.c and api_read.c hold the
 * handlers the table names. Every
 * helper that answers the request says so: after it, the handler returns. */
#ifndef CHAT_API_HANDLER_H
#define CHAT_API_HANDLER_H

#include <jansson.h>
#include <stddef.h>

#include "api.h"
#include "dbcall.h"
#include "http.h"
#include "route.h"
#include "tok.h"
#include "valid.h"

/* Pages of GET /api/rooms and GET /api/messages. */
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
	struct replica_want want;                  /* what a read's caller has seen (replica.h) */
};

/* Answers an error envelope. */
void api_error(struct api_ctx *x, enum err_code code, const char *message, const char *field);

/* Answers the validation failure e. */
void api_valid_error(struct api_ctx *x, const struct valid_err *e);

/*
 * Answers a success envelope around the JSON data[0..len) with status and
 * the extra header lines headers (or NULL).
 */
void api_send_data(struct api_ctx *x, int status, const char *headers, const char *data,
		   size_t len);

/*
 * Answers a db_exec() status other than DB_OK (db_unavailable,
 * outcome_unknown, internal_error). Returns 0 for DB_OK, else -1.
 */
int api_db_status(struct api_ctx *x, enum db_status st);

/*
 * Runs one of the (err, msg, field, retry, data) statements. Returns 0 with
 * the result in *res (the caller clears it) and its row decoded in *row
 * (pointing into *res), or -1 once the failure has been answered.
 */
int api_db_call(struct api_ctx *x, enum db_stmt stmt, const char *const *params, PGresult **res,
		struct dbcall_row *row) __attribute__((warn_unused_result));

/* Returns nonzero when the data of row is an object whose member key is true. */
int api_data_flag(const struct dbcall_row *row, const char *key);

/* Runs a statement and answers its data with status 200. */
void api_reply(struct api_ctx *x, enum db_stmt stmt, const char *const *params);

/*
 * Copies the room_id-like path segment into out (NUL-terminated). Returns
 * 0, or -1 once 404 has been answered because it cannot be a room id.
 */
int api_room_param(struct api_ctx *x, char *out, size_t outlen) __attribute__((warn_unused_result));

/*
 * Resolves the session from the Authorization header, or else the cookie
 * (api_session.c). Returns 0 when a live session was found, 1 when the
 * request carries none (or a bad one) and required is 0, -1 once a
 * failure has been answered.
 */
int api_auth(struct api_ctx *x, int required) __attribute__((warn_unused_result));

/*
 * Empties the session cache when the database connection it was filled
 * under is gone or was replaced (api.c): call it after a statement, before
 * remembering what the statement said.
 */
void api_sessions_check_conn(struct api *a);

/* A new session's token, its hash (a bytea literal) and lifetime (text). */
struct api_session {
	char token[TOK_LEN + 1];
	char hash[2 + TOK_HASH_HEX_LEN + 1];
	char ttl[24];
};

/*
 * Makes a new session token (api_session.c). Returns 0, or -1 once 500
 * has been answered.
 */
int api_session_new(struct api_ctx *x, struct api_session *s) __attribute__((warn_unused_result));

/*
 * Answers a sign-in: row's data object (from chat_session_open) with the
 * token of s spliced in, and its cookie, with status.
 */
void api_session_answer(struct api_ctx *x, int status, const struct api_session *s,
			const struct dbcall_row *row);

/*
 * The key the rate limits count the client by: its address, an IPv6 one
 * by its /64 (written into buf[0..len), len >= ADDR_KEY_MAX), or NULL
 * when the request has no address.
 */
const char *api_addr_key(const struct api_ctx *x, char *buf, size_t len);

/* The handlers of api.c's endpoint table. They answer the request. */
void api_join(struct api_ctx *x);           /* POST /api/join (api_session.c) */
void api_logout(struct api_ctx *x);         /* DELETE /api/session */
void api_me(struct api_ctx *x);             /* GET /api/me */
void api_rooms_list(struct api_ctx *x);     /* GET /api/rooms (api_rooms.c) */
void api_rooms_create(struct api_ctx *x);   /* POST /api/rooms */
void api_room_get(struct api_ctx *x);       /* GET /api/rooms/{id} */
void api_room_users(struct api_ctx *x);     /* GET /api/users/{room_id} */
void api_messages_get(struct api_ctx *x);   /* GET /api/messages/{room_id} (api_messages.c) */
void api_messages_post(struct api_ctx *x);  /* POST /api/messages/{room_id} */
void api_message_delete(struct api_ctx *x); /* DELETE /api/messages/{room_id}/{id} */
void api_message_edit(struct api_ctx *x);   /* PATCH /api/messages/{room_id}/{id} */
void api_changes_get(struct api_ctx *x);    /* GET /api/messages/{room_id}/changes */
void api_register(struct api_ctx *x);       /* POST /api/register (api_account.c) */
void api_login(struct api_ctx *x);          /* POST /api/login */
void api_password(struct api_ctx *x);       /* POST /api/me/password */
void api_member_add(struct api_ctx *x);     /* POST /api/rooms/{id}/members (api_members.c) */
void api_member_remove(struct api_ctx *x);  /* DELETE /api/rooms/{id}/members/{user_id} */
void api_member_role(struct api_ctx *x);    /* PATCH /api/rooms/{id}/members/{user_id} */
void api_dm(struct api_ctx *x);             /* POST /api/dm */
void api_room_read(struct api_ctx *x);      /* POST /api/rooms/{id}/read (api_read.c) */
void api_room_reads(struct api_ctx *x);     /* GET /api/rooms/{id}/reads */
void api_search(struct api_ctx *x);         /* GET /api/messages/{room_id}/search */

#endif

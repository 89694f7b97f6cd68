/* api_members.c -- the REST memberships of DESIGN §7: adding, removing, banning, roles, DMs. */
#include "api_handler.h"

#include <stdio.h>
#include <string.h>

#include "qs.h"

/*
 * Reads body.username (a well-formed name). Returns 0, or -1 once the
 * failure has been answered.
 */
static int api_username_field(struct api_ctx *x, const char **name)
{
	size_t len;
	struct valid_err e;

	if (valid_string_field(x->body, "username", VALID_REQUIRED, name, &len, &e) ||
	    valid_username(*name, len, x->api->cfg->username_max, &e)) {
		api_valid_error(x, &e);
		return -1;
	}
	return 0;
}

/*
 * Copies the {user_id} path segment into out. Returns 0, or -1 once 404
 * has been answered because it cannot be a user id (the same shape as a
 * room id).
 */
static int api_user_param(struct api_ctx *x, char *out, size_t outlen)
{
	if (!valid_room_id(x->route.param2, x->route.param2_len) || x->route.param2_len >= outlen) {
		api_error(x, ERR_NOT_FOUND, "user not found", "user_id");
		return -1;
	}
	memcpy(out, x->route.param2, x->route.param2_len);
	out[x->route.param2_len] = '\0';
	return 0;
}

/* Runs stmt and answers its data with status. */
static void api_reply_status(struct api_ctx *x, enum db_stmt stmt, const char *const *params,
			     int status)
{
	PGresult *r;
	struct dbcall_row row;

	if (api_db_call(x, stmt, params, &r, &row))
		return;
	api_send_data(x, status, NULL, row.data, row.data_len);
	PQclear(r);
}

void api_member_add(struct api_ctx *x)
{
	char room[72];
	const char *name;
	const char *params[3];

	if (api_room_param(x, room, sizeof(room)) || api_username_field(x, &name))
		return;
	params[0] = x->user_id;
	params[1] = room;
	params[2] = name;
	api_reply_status(x, DB_MEMBER_ADD, params, 201);
}

void api_member_remove(struct api_ctx *x)
{
	char room[72], user[72], ban[8];
	const char *params[4];
	enum qs_result q;

	if (api_room_param(x, room, sizeof(room)) || api_user_param(x, user, sizeof(user)))
		return;
	q = qs_get(x->req.query, "ban", ban, sizeof(ban));
	if (q == QS_ABSENT)
		snprintf(ban, sizeof(ban), "false");
	if (q < 0 || (strcmp(ban, "true") != 0 && strcmp(ban, "false") != 0)) {
		api_error(x, ERR_VALIDATION, "ban must be true or false", "ban");
		return;
	}
	params[0] = x->user_id;
	params[1] = room;
	params[2] = user;
	params[3] = ban;
	api_reply_status(x, DB_MEMBER_REMOVE, params, 200);
}

void api_member_role(struct api_ctx *x)
{
	char room[72], user[72];
	const char *role;
	size_t len;
	struct valid_err e;
	const char *params[4];

	if (api_room_param(x, room, sizeof(room)) || api_user_param(x, user, sizeof(user)))
		return;
	if (valid_string_field(x->body, "role", VALID_REQUIRED, &role, &len, &e)) {
		api_valid_error(x, &e);
		return;
	}
	if (strcmp(role, "moderator") != 0 && strcmp(role, "member") != 0) {
		api_error(x, ERR_VALIDATION, "role must be \"moderator\" or \"member\"", "role");
		return;
	}
	params[0] = x->user_id;
	params[1] = room;
	params[2] = user;
	params[3] = role;
	api_reply_status(x, DB_MEMBER_ROLE, params, 200);
}

void api_dm(struct api_ctx *x)
{
	const struct cfg *cfg = x->api->cfg;
	const char *name;
	char rate[24], window[24];
	const char *params[4];
	PGresult *r;
	struct dbcall_row row;

	if (api_username_field(x, &name))
		return;
	snprintf(rate, sizeof(rate), "%ld", cfg->room_create_rate);
	snprintf(window, sizeof(window), "%ld", cfg->room_create_window);
	params[0] = x->user_id;
	params[1] = name;
	params[2] = rate;
	params[3] = window;
	if (api_db_call(x, DB_DM, params, &r, &row))
		return;
	/* 201 when the room was made now, 200 when it existed. */
	api_send_data(x, api_data_flag(&row, "created") ? 201 : 200, NULL, row.data, row.data_len);
	PQclear(r);
}

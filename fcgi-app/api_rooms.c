/* api_rooms.c -- the REST rooms: the list (cached per user), creation, one room, its members. */
#include "api_handler.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Members per GET /api/users page: the default is also the most. */
#define API_USERS_PAGE 1000

static int64_t api_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void api_rooms_list(struct api_ctx *x)
{
	long limit = API_PAGE_DEFAULT, offset = 0;
	int has;
	struct valid_err e;
	char l[24], o[24];
	const char *params[3] = { x->user_id, l, o };
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
	/* Keyed by the caller too (pagecache.h): no page is shown to another user. */
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

void api_rooms_create(struct api_ctx *x)
{
	const struct cfg *cfg = x->api->cfg;
	const char *field = json_object_get(x->body, "room_name") ? "room_name" : "name";
	const char *name, *desc, *vis;
	size_t nlen, dlen, vlen;
	struct valid_err e;
	char rate[24], window[24];
	const char *params[6];
	PGresult *r;
	struct dbcall_row row;

	if (valid_string_field(x->body, field, VALID_REQUIRED, &name, &nlen, &e) ||
	    valid_text(field, name, nlen, 1, cfg->room_name_max, 0, &e) ||
	    valid_string_field(x->body, "description", VALID_OPTIONAL, &desc, &dlen, &e) ||
	    (desc &&
	     valid_text("description", desc, dlen, 0, cfg->description_max,
			VALID_MULTILINE | VALID_ALLOW_BLANK, &e)) ||
	    valid_string_field(x->body, "visibility", VALID_OPTIONAL, &vis, &vlen, &e)) {
		if (strcmp(e.field, "name") == 0 && !json_object_get(x->body, "name"))
			e.field = "room_name";
		api_valid_error(x, &e);
		return;
	}
	if (vis && strcmp(vis, "public") != 0 && strcmp(vis, "private") != 0) {
		api_error(x, ERR_VALIDATION, "visibility must be \"public\" or \"private\"",
			  "visibility");
		return;
	}
	snprintf(rate, sizeof(rate), "%ld", cfg->room_create_rate);
	snprintf(window, sizeof(window), "%ld", cfg->room_create_window);
	params[0] = x->user_id;
	params[1] = name;
	params[2] = desc;
	params[3] = vis ? vis : "public";
	params[4] = rate;
	params[5] = window;
	if (api_db_call(x, DB_ROOM_CREATE, params, &r, &row))
		return;
	api_send_data(x, 201, NULL, row.data, row.data_len);
	PQclear(r);
}

void api_room_get(struct api_ctx *x)
{
	char room[72];
	const char *params[2] = { x->user_id, room };

	if (api_room_param(x, room, sizeof(room)))
		return;
	api_reply(x, DB_ROOM_GET, params);
}

void api_room_users(struct api_ctx *x)
{
	char room[72], l[24], o[24];
	const char *params[4] = { x->user_id, room, l, o };
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

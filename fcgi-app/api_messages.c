/* api_messages.c -- the REST messages of a room: a page of history, sending one. */
#include "api_handler.h"

#include <stdio.h>

/* Cursors and offsets stay within what a JavaScript number holds exactly. */
#define API_MAX_CURSOR 9007199254740991L

void api_messages_get(struct api_ctx *x)
{
	char room[72], l[24], b[24], a[24];
	long limit = API_PAGE_DEFAULT, before = 0, after = 0;
	int has_limit, has_before, has_after;
	struct valid_err e;
	const char *params[5];

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
	params[0] = x->user_id;
	params[1] = room;
	params[2] = l;
	params[3] = has_before ? b : NULL;
	params[4] = has_after ? a : NULL;
	api_reply(x, DB_MESSAGES_PAGE, params);
}

void api_messages_post(struct api_ctx *x)
{
	const struct cfg *cfg = x->api->cfg;
	char room[72];
	struct valid_message m;
	struct valid_err e;
	struct dbcall_send send;
	PGresult *r;
	struct dbcall_row row;

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
	api_send_data(x, api_data_flag(&row, "duplicate") ? 200 : 201, NULL, row.data,
		      row.data_len);
	PQclear(r);
}

/* api_messages.c -- the REST messages of a room: history, sending, deleting and editing one, changes. */
#include "api_handler.h"

#include <stdio.h>
#include <string.h>

/* Cursors and offsets stay within what a JavaScript number holds exactly. */
#define API_MAX_CURSOR 9007199254740991L

/* GET /api/messages/{room_id}/changes: at most this many (and by default). */
#define API_CHANGES_MAX 100

void api_messages_get(struct api_ctx *x)
{
	char room[72], l[24], b[24], a[24];
	long limit = API_PAGE_DEFAULT, before = 0, after = 0, seq = 0;
	int has_limit, has_before, has_after, has_seq;
	struct valid_err e;
	const char *params[5];

	if (api_room_param(x, room, sizeof(room)))
		return;
	if (valid_query_long(x->req.query, "limit", 1, API_PAGE_MAX, &limit, &has_limit, &e) ||
	    valid_query_long(x->req.query, "before", 0, API_MAX_CURSOR, &before, &has_before, &e) ||
	    valid_query_long(x->req.query, "after", 0, API_MAX_CURSOR, &after, &has_after, &e) ||
	    valid_query_long(x->req.query, "seq", 0, API_MAX_CURSOR, &seq, &has_seq, &e)) {
		api_valid_error(x, &e);
		return;
	}
	/* A client that has seen a seq reads an answer at least that new
	 * (from the primary while a replica has not replayed it). */
	x->want.room = room;
	x->want.seq = seq > after ? seq : after;
	if (before > x->want.seq)
		x->want.seq = before;
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

/*
 * Copies the {id} path segment into out when it is a message id: digits,
 * 1 to API_MAX_CURSOR, no sign or leading zero. Returns 0, or -1 once 400
 * has been answered.
 */
static int api_message_id_param(struct api_ctx *x, char *out, size_t outlen)
{
	const char *p = x->route.param2;
	size_t len = x->route.param2_len;
	long v = 0;

	if (len == 0 || len >= outlen || len > 16 || p[0] == '0')
		goto bad;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			goto bad;
		v = v * 10 + (p[i] - '0');
	}
	if (v > API_MAX_CURSOR)
		goto bad;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
bad:
	api_error(x, ERR_VALIDATION, "id must be a positive integer", "id");
	return -1;
}

void api_message_delete(struct api_ctx *x)
{
	char room[72], id[24];
	const char *params[3];

	if (api_room_param(x, room, sizeof(room)) || api_message_id_param(x, id, sizeof(id)))
		return;
	params[0] = x->user_id;
	params[1] = room;
	params[2] = id;
	api_reply(x, DB_MESSAGE_DELETE, params);
}

void api_message_edit(struct api_ctx *x)
{
	const struct cfg *cfg = x->api->cfg;
	char room[72], id[24];
	const char *content;
	struct valid_err e;
	struct dbcall_send edit;

	if (api_room_param(x, room, sizeof(room)) || api_message_id_param(x, id, sizeof(id)))
		return;
	if (valid_message_text(x->body, cfg, &content, &e)) {
		api_valid_error(x, &e);
		return;
	}
	api_reply(x, DB_MESSAGE_EDIT,
		  dbcall_send_params(&edit, x->user_id, room, content, id, cfg->msg_rate,
				     cfg->msg_rate_window));
}

void api_changes_get(struct api_ctx *x)
{
	char room[72], s[24], l[24];
	long since = 0, limit = API_CHANGES_MAX;
	int has_since, has_limit;
	struct valid_err e;
	const char *params[4];

	if (api_room_param(x, room, sizeof(room)))
		return;
	if (valid_query_long(x->req.query, "since", 0, API_MAX_CURSOR, &since, &has_since, &e) ||
	    valid_query_long(x->req.query, "limit", 1, API_CHANGES_MAX, &limit, &has_limit, &e)) {
		api_valid_error(x, &e);
		return;
	}
	x->want.room = room;
	x->want.change_seq = since;
	snprintf(s, sizeof(s), "%ld", since);
	snprintf(l, sizeof(l), "%ld", limit);
	params[0] = x->user_id;
	params[1] = room;
	params[2] = s;
	params[3] = l;
	api_reply(x, DB_MESSAGE_CHANGES, params);
}

/* api_read.c -- read state and search (DESIGN §8): mark read, read receipts, full-text search. */
#include "api_handler.h"

#include <stdio.h>
#include <string.h>

#include "qs.h"

/* Receipts per GET /api/rooms/{id}/reads page: the default is also the most. */
#define API_READS_PAGE 1000
/* Search: results per page and the query's length, in characters. */
#define API_SEARCH_MAX 100
#define API_SEARCH_DEFAULT 20
#define API_SEARCH_Q_MAX 256

void api_room_read(struct api_ctx *x)
{
	char room[72], seq[24];
	const char *params[3] = { x->user_id, room, seq };
	long long v;
	struct valid_err e;

	if (api_room_param(x, room, sizeof(room)))
		return;
	if (valid_seq_field(x->body, "seq", &v, &e)) {
		api_valid_error(x, &e);
		return;
	}
	snprintf(seq, sizeof(seq), "%lld", v);
	api_reply(x, DB_MARK_READ, params);
}

void api_room_reads(struct api_ctx *x)
{
	char room[72], l[24], o[24];
	const char *params[4] = { x->user_id, room, l, o };
	long limit = API_READS_PAGE, offset = 0;
	int has;
	struct valid_err e;

	if (api_room_param(x, room, sizeof(room)))
		return;
	if (valid_query_long(x->req.query, "limit", 1, API_READS_PAGE, &limit, &has, &e) ||
	    valid_query_long(x->req.query, "offset", 0, 1000000000L, &offset, &has, &e)) {
		api_valid_error(x, &e);
		return;
	}
	snprintf(l, sizeof(l), "%ld", limit);
	snprintf(o, sizeof(o), "%ld", offset);
	api_reply(x, DB_ROOM_READS, params);
}

void api_search(struct api_ctx *x)
{
	/* 256 characters of at most 4 bytes each, and the NUL. */
	char room[72], q[API_SEARCH_Q_MAX * 4 + 1], l[24];
	const char *params[4] = { x->user_id, room, q, l };
	long limit = API_SEARCH_DEFAULT;
	int has;
	struct valid_err e;

	if (api_room_param(x, room, sizeof(room)))
		return;
	if (valid_query_long(x->req.query, "limit", 1, API_SEARCH_MAX, &limit, &has, &e)) {
		api_valid_error(x, &e);
		return;
	}
	switch (qs_get(x->req.query, "q", q, sizeof(q))) {
	case QS_FOUND:
		break;
	case QS_ABSENT:
		api_error(x, ERR_VALIDATION, "q is required", "q");
		return;
	case QS_TOO_LONG:
		api_error(x, ERR_VALIDATION, "q must be at most 256 characters", "q");
		return;
	case QS_MALFORMED:
	default:
		api_error(x, ERR_VALIDATION, "q is not a well-formed query parameter", "q");
		return;
	}
	if (valid_text("q", q, strlen(q), 1, API_SEARCH_Q_MAX, 0, &e)) {
		api_valid_error(x, &e);
		return;
	}
	snprintf(l, sizeof(l), "%ld", limit);
	api_reply(x, DB_SEARCH, params);
}

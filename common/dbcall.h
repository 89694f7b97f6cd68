/* dbcall.h -- the database contract of both programs: statements, rows, connection set-up. */
#ifndef CHAT_DBCALL_H
#define CHAT_DBCALL_H

#include <libpq-fe.h>
#include <stddef.h>

#include "cfg.h"
#include "err.h"

/*
 * chat-fcgi and chat-ws call the same SQL functions and read the same
 * rows; what they share is written here once. Each program still owns
 * its statement table (names, batching, ordering), which takes the SQL
 * text of a shared statement from this header.
 */

/*
 * The functions of migrations/0002_functions.sql answer one row
 * (err, msg, field, retry, data): err NULL and data the result, or err an
 * error code's wire name (common/err.c) with msg, field and retry.
 */
#define DBCALL_SELECT "SELECT err, msg, field, retry, data FROM "

/* chat_send_message; its parameters come from dbcall_send_params. */
#define DBCALL_SEND_MESSAGE_SQL DBCALL_SELECT "chat_send_message($1, $2, $3, $4, $5::int, $6::int)"

/*
 * Its batch form (chat-ws): parameter i is the array literal of every
 * request's parameter i; one row per request, in their order. data comes
 * as text (migration 0037: chat_send_batch, its json form, stays for
 * bridges of the version before).
 */
#define DBCALL_SEND_BATCH_SQL \
	DBCALL_SELECT "chat_send_many($1::text[], $2::text[], $3::text[], $4::text[], " \
		      "$5::int[], $6::int[]) WITH ORDINALITY ORDER BY ordinality"

#define DBCALL_SEND_NPARAMS 6

/*
 * chat_message_edit (migration 0022): an edit spends a send's rate token,
 * so its parameters come from dbcall_send_params too, with the message id
 * (decimal text) in client_id's place.
 */
#define DBCALL_EDIT_SQL DBCALL_SELECT "chat_message_edit($1, $2, $4::bigint, $3, $5::int, $6::int)"

/* The parameters of one chat_send_message call. */
struct dbcall_send {
	char rate[24], window[24]; /* the numbers, as text */
	const char *params[DBCALL_SEND_NPARAMS];
};

/*
 * Fills s->params for chat_send_message, in its order: user_id, room_id,
 * content, client_id (may be NULL: SQL NULL), rate, window. Returns
 * s->params, which points at s's own number buffers and at the strings
 * passed in: it is valid while s and those strings are.
 */
const char *const *dbcall_send_params(struct dbcall_send *s, const char *user_id,
				      const char *room_id, const char *content,
				      const char *client_id, long rate, long window);

/* The positions of the standard row's columns in one result. */
struct dbcall_cols {
	int err, msg, field, retry, data;
};

/*
 * Looks up the columns by name (PQfnumber), once per result. Extra
 * columns and any order are fine. Returns 0, or -1 when res is NULL or
 * lacks one of the five.
 */
int dbcall_cols_find(struct dbcall_cols *cols, const PGresult *res)
	__attribute__((warn_unused_result));

/* One decoded standard row. Its strings point into the PGresult. */
struct dbcall_row {
	const char *err;    /* the error's wire name, NULL on success */
	enum err_code code; /* err_from_name(err), ERR_NONE on success */
	const char *msg;    /* "" when SQL NULL */
	const char *field;  /* NULL when SQL NULL */
	const char *retry;  /* seconds to wait, NULL when SQL NULL */
	const char *data;   /* "" when SQL NULL */
	size_t data_len;
};

/*
 * Decodes row of res with the columns cols found in it. Returns 0, or -1
 * when row is not one of res's rows (*out is then cleared). The strings
 * stay valid until res is cleared.
 */
int dbcall_row_read(struct dbcall_row *out, const PGresult *res, const struct dbcall_cols *cols,
		    int row) __attribute__((warn_unused_result));

/* dbcall_cols_find, then dbcall_row_read: for one row of a result. */
int dbcall_row(struct dbcall_row *out, const PGresult *res, int row)
	__attribute__((warn_unused_result));

/* The settings each session gets before its statements are prepared. */
#define DBCALL_NSETTINGS 3

struct dbcall_setting {
	const char *sql;   /* a constant statement with one parameter */
	const char *param; /* its value */
};

/*
 * How a program connects: the PQconnectdbParams / PQconnectStartParams
 * keywords and values (connect_timeout CHAT_DB_TIMEOUT, application_name,
 * DATABASE_URL as dbname, which may be a conninfo string or a URI and
 * overrides the defaults before it: expand_dbname), then the session's
 * settings (chat.presence_ttl, statement_timeout CHAT_DB_TIMEOUT), which
 * each program runs its own way.
 */
struct dbcall_conn {
	const char *keys[4], *vals[4];
	int expand_dbname;
	struct dbcall_setting settings[DBCALL_NSETTINGS];
	char timeout[24], ttl[24], stmt_ms[32];
};

/*
 * Fills *c from cfg for the program app ("chat-fcgi"). *c points into
 * itself and at cfg's strings: it is not copied, and lives no longer than
 * cfg.
 */
void dbcall_conn_init(struct dbcall_conn *c, const struct cfg *cfg, const char *app);

/*
 * The notice processor of both programs (PQsetNoticeProcessor): server
 * notices go to the log, not bare stderr. ending is NULL or an int the
 * processor sets to 1 on a FATAL or PANIC notice: one arriving while the
 * connection is idle (a shutdown, a terminated backend) means the server
 * is closing it.
 */
void dbcall_notice(void *ending, const char *message);

#endif

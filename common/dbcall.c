/* dbcall.c -- the database contract of both programs: statements, rows, connection set-up. */
#include "dbcall.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

const char *const *dbcall_send_params(struct dbcall_send *s, const char *user_id,
				      const char *room_id, const char *content,
				      const char *client_id, long rate, long window)
{
	snprintf(s->rate, sizeof(s->rate), "%ld", rate);
	snprintf(s->window, sizeof(s->window), "%ld", window);
	s->params[0] = user_id;
	s->params[1] = room_id;
	s->params[2] = content;
	s->params[3] = client_id;
	s->params[4] = s->rate;
	s->params[5] = s->window;
	return s->params;
}

int dbcall_cols_find(struct dbcall_cols *cols, const PGresult *res)
{
	if (!res)
		return -1;
	cols->err = PQfnumber(res, "err");
	cols->msg = PQfnumber(res, "msg");
	cols->field = PQfnumber(res, "field");
	cols->retry = PQfnumber(res, "retry");
	cols->data = PQfnumber(res, "data");
	return cols->err < 0 || cols->msg < 0 || cols->field < 0 || cols->retry < 0 ||
			cols->data < 0
		? -1
		: 0;
}

/* The value of a column, or NULL when it is SQL NULL. */
static const char *dbcall_value(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int dbcall_row_read(struct dbcall_row *out, const PGresult *res, const struct dbcall_cols *cols,
		    int row)
{
	memset(out, 0, sizeof(*out));
	if (!res || row < 0 || row >= PQntuples(res))
		return -1;
	out->err = dbcall_value(res, row, cols->err);
	out->code = out->err ? err_from_name(out->err) : ERR_NONE;
	out->msg = PQgetvalue(res, row, cols->msg);
	out->field = dbcall_value(res, row, cols->field);
	out->retry = dbcall_value(res, row, cols->retry);
	out->data = PQgetvalue(res, row, cols->data);
	out->data_len = (size_t)PQgetlength(res, row, cols->data);
	return 0;
}

int dbcall_row(struct dbcall_row *out, const PGresult *res, int row)
{
	struct dbcall_cols cols;

	if (dbcall_cols_find(&cols, res)) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return dbcall_row_read(out, res, &cols, row);
}

void dbcall_conn_init(struct dbcall_conn *c, const struct cfg *cfg, const char *app)
{
	snprintf(c->timeout, sizeof(c->timeout), "%ld", cfg->db_timeout);
	snprintf(c->ttl, sizeof(c->ttl), "%ld", cfg->presence_ttl);
	snprintf(c->stmt_ms, sizeof(c->stmt_ms), "%ld", cfg->db_timeout * 1000);
	c->keys[0] = "connect_timeout";
	c->vals[0] = c->timeout;
	c->keys[1] = "application_name";
	c->vals[1] = app;
	c->keys[2] = "dbname";
	c->vals[2] = cfg->database_url;
	c->keys[3] = NULL;
	c->vals[3] = NULL;
	c->expand_dbname = 1;
	c->settings[0].sql = "SELECT set_config('chat.presence_ttl', $1, false)";
	c->settings[0].param = c->ttl;
	c->settings[1].sql = "SELECT set_config('statement_timeout', $1, false)";
	c->settings[1].param = c->stmt_ms;
	/*
	 * CHAT_DB_PLANS: the plans of the prepared statements and of the
	 * functions' statements. Left to PostgreSQL (auto, the default), a
	 * statement whose parameters are arrays, or that runs an inlined SQL
	 * function, is planned again on every call. Plans made once (generic)
	 * halve a lone send and speed history up, but slow the CONNECT path's
	 * Room objects down (bench/README.md, "Issue 16, round 4"); the send
	 * functions take generic plans of their own (migration 0036).
	 */
	c->settings[2].sql = "SELECT set_config('plan_cache_mode', $1, false)";
	c->settings[2].param = strcmp(cfg->db_plans, "auto") == 0 ? "auto"
		: strcmp(cfg->db_plans, "custom") == 0            ? "force_custom_plan"
								  : "force_generic_plan";
}

void dbcall_notice(void *ending, const char *message)
{
	size_t n = strlen(message);

	while (n && message[n - 1] == '\n')
		n--;
	log_warn("database says: %.*s", (int)n, message);
	if (ending && (strncmp(message, "FATAL:", 6) == 0 || strncmp(message, "PANIC:", 6) == 0))
		*(int *)ending = 1;
}

/* test_dbcall.c -- tests common/dbcall.c: parameters, rows by column name, connection set-up. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dbcall.h"

/* ---- helpers: a result built without a server ---------------------------- */

/*
 * Builds a PGresult with the named text columns and rows of values
 * (NULL: SQL NULL); vals holds nrows * ncols entries, row by row.
 */
static PGresult *make_result(const char *const *names, int ncols, const char *const *vals,
			     int nrows)
{
	PGresAttDesc attrs[8];
	PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

	assert_non_null(r);
	assert_true(ncols <= 8);
	memset(attrs, 0, sizeof(attrs));
	for (int i = 0; i < ncols; i++) {
		attrs[i].name = (char *)names[i];
		attrs[i].typid = 25; /* text */
		attrs[i].typlen = -1;
		attrs[i].atttypmod = -1;
	}
	assert_true(PQsetResultAttrs(r, ncols, attrs));
	for (int row = 0; row < nrows; row++)
		for (int col = 0; col < ncols; col++) {
			const char *v = vals[row * ncols + col];

			assert_true(PQsetvalue(r, row, col, (char *)v, v ? (int)strlen(v) : -1));
		}
	return r;
}

static const char *const std_cols[] = { "err", "msg", "field", "retry", "data" };

/* ---- dbcall_send_params ---------------------------------------------------- */

static void test_send_params_order(void **state)
{
	struct dbcall_send s;
	const char *const *p;

	(void)state;
	p = dbcall_send_params(&s, "u1", "r1", "hello", "c-1", 30, 10);
	assert_ptr_equal(p, s.params);
	assert_string_equal(p[0], "u1");
	assert_string_equal(p[1], "r1");
	assert_string_equal(p[2], "hello");
	assert_string_equal(p[3], "c-1");
	assert_string_equal(p[4], "30");
	assert_string_equal(p[5], "10");
}

/* No client_id is SQL NULL; extreme numbers fit their buffers. */
static void test_send_params_null_and_extremes(void **state)
{
	struct dbcall_send s;
	const char *const *p;

	(void)state;
	p = dbcall_send_params(&s, "u", "r", "'; DROP TABLE messages; --", NULL, LONG_MIN,
			       LONG_MAX);
	assert_null(p[3]);
	assert_string_equal(p[2], "'; DROP TABLE messages; --");
	assert_int_equal(strtol(p[4], NULL, 10), LONG_MIN);
	assert_int_equal(strtol(p[5], NULL, 10), LONG_MAX);
	p = dbcall_send_params(&s, "u", "r", "x", NULL, 0, -1);
	assert_string_equal(p[4], "0");
	assert_string_equal(p[5], "-1");
}

/* The shared statement takes as many parameters as the builder fills. */
static void test_send_sql_shape(void **state)
{
	char want[8];

	(void)state;
	snprintf(want, sizeof(want), "$%d", DBCALL_SEND_NPARAMS);
	assert_non_null(strstr(DBCALL_SEND_MESSAGE_SQL, want));
	assert_non_null(strstr(DBCALL_SEND_BATCH_SQL, want));
	snprintf(want, sizeof(want), "$%d", DBCALL_SEND_NPARAMS + 1);
	assert_null(strstr(DBCALL_SEND_MESSAGE_SQL, want));
	assert_null(strstr(DBCALL_SEND_BATCH_SQL, want));
	assert_int_equal(strncmp(DBCALL_SEND_MESSAGE_SQL, DBCALL_SELECT, strlen(DBCALL_SELECT)), 0);
}

/* ---- the standard row ------------------------------------------------------ */

static void test_row_success(void **state)
{
	const char *vals[] = { NULL, NULL, NULL, NULL, "{\"ok\":1}" };
	PGresult *r = make_result(std_cols, 5, vals, 1);
	struct dbcall_row row;

	(void)state;
	assert_int_equal(dbcall_row(&row, r, 0), 0);
	assert_null(row.err);
	assert_int_equal(row.code, ERR_NONE);
	assert_string_equal(row.msg, "");
	assert_null(row.field);
	assert_null(row.retry);
	assert_string_equal(row.data, "{\"ok\":1}");
	assert_int_equal(row.data_len, 8);
	PQclear(r);
}

static void test_row_error(void **state)
{
	const char *vals[] = { "rate_limited", "slow down", "content", "7", NULL };
	PGresult *r = make_result(std_cols, 5, vals, 1);
	struct dbcall_row row;

	(void)state;
	assert_int_equal(dbcall_row(&row, r, 0), 0);
	assert_string_equal(row.err, "rate_limited");
	assert_int_equal(row.code, ERR_RATE_LIMITED);
	assert_string_equal(row.msg, "slow down");
	assert_string_equal(row.field, "content");
	assert_string_equal(row.retry, "7");
	assert_string_equal(row.data, "");
	assert_int_equal(row.data_len, 0);
	PQclear(r);
}

/* A code the program does not know is an internal error, never a success. */
static void test_row_unknown_code(void **state)
{
	const char *vals[] = { "no_such_code", "?", NULL, NULL, "{}" };
	PGresult *r = make_result(std_cols, 5, vals, 1);
	struct dbcall_row row;

	(void)state;
	assert_int_equal(dbcall_row(&row, r, 0), 0);
	assert_int_equal(row.code, ERR_INTERNAL);
	PQclear(r);
}

/* Columns are found by name: another order and extra columns read the same. */
static void test_row_by_name(void **state)
{
	const char *names[] = { "member_gen", "data", "retry", "err", "field", "msg" };
	const char *vals[] = { "42", "{\"d\":2}", NULL, "not_found", "room_id", "room not found" };
	PGresult *r = make_result(names, 6, vals, 1);
	struct dbcall_cols cols;
	struct dbcall_row row;

	(void)state;
	assert_int_equal(dbcall_cols_find(&cols, r), 0);
	assert_int_equal(cols.err, 3);
	assert_int_equal(cols.data, 1);
	assert_int_equal(dbcall_row_read(&row, r, &cols, 0), 0);
	assert_int_equal(row.code, ERR_NOT_FOUND);
	assert_string_equal(row.msg, "room not found");
	assert_string_equal(row.field, "room_id");
	assert_null(row.retry);
	assert_string_equal(row.data, "{\"d\":2}");
	PQclear(r);
}

/* A batch's rows, each read with the columns found once. */
static void test_row_batch(void **state)
{
	const char *vals[] = { NULL, NULL, NULL, NULL, "{\"n\":0}", "conflict", "dup",      NULL,
			       NULL, NULL, NULL, NULL, NULL,        NULL,       "{\"n\":2}" };
	PGresult *r = make_result(std_cols, 5, vals, 3);
	struct dbcall_cols cols;
	struct dbcall_row row;

	(void)state;
	assert_int_equal(dbcall_cols_find(&cols, r), 0);
	assert_int_equal(dbcall_row_read(&row, r, &cols, 0), 0);
	assert_string_equal(row.data, "{\"n\":0}");
	assert_int_equal(dbcall_row_read(&row, r, &cols, 1), 0);
	assert_int_equal(row.code, ERR_CONFLICT);
	assert_int_equal(dbcall_row_read(&row, r, &cols, 2), 0);
	assert_null(row.err);
	assert_string_equal(row.data, "{\"n\":2}");
	PQclear(r);
}

/* A missing column, a missing row, no result: -1, and nothing to read. */
static void test_row_refused(void **state)
{
	const char *names[] = { "err", "msg", "field", "retry" };
	const char *vals4[] = { NULL, NULL, NULL, NULL };
	const char *vals5[] = { NULL, NULL, NULL, NULL, "{}" };
	PGresult *r = make_result(names, 4, vals4, 1);
	PGresult *ok = make_result(std_cols, 5, vals5, 1);
	PGresult *empty = make_result(std_cols, 5, NULL, 0);
	struct dbcall_cols cols;
	struct dbcall_row row;

	(void)state;
	assert_int_equal(dbcall_cols_find(&cols, r), -1);
	assert_int_equal(dbcall_row(&row, r, 0), -1);
	assert_null(row.data);
	assert_int_equal(dbcall_cols_find(&cols, NULL), -1);
	assert_int_equal(dbcall_row(&row, NULL, 0), -1);
	assert_int_equal(dbcall_row(&row, ok, 1), -1);
	assert_int_equal(dbcall_row(&row, ok, -1), -1);
	assert_int_equal(dbcall_row(&row, empty, 0), -1);
	assert_int_equal(dbcall_row(&row, ok, 0), 0);
	PQclear(r);
	PQclear(ok);
	PQclear(empty);
}

/* ---- connection set-up ----------------------------------------------------- */

static void test_conn_params(void **state)
{
	struct cfg cfg;
	struct dbcall_conn c;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.database_url = "postgresql://chat_svc@127.0.0.1/chat";
	cfg.db_timeout = 5;
	cfg.presence_ttl = 90;
	cfg.db_plans = "generic";
	dbcall_conn_init(&c, &cfg, "chat-test");
	assert_string_equal(c.keys[0], "connect_timeout");
	assert_string_equal(c.vals[0], "5");
	assert_string_equal(c.keys[1], "application_name");
	assert_string_equal(c.vals[1], "chat-test");
	assert_string_equal(c.keys[2], "dbname");
	assert_string_equal(c.vals[2], cfg.database_url);
	assert_null(c.keys[3]);
	assert_null(c.vals[3]);
	assert_int_equal(c.expand_dbname, 1);
	assert_non_null(strstr(c.settings[0].sql, "'chat.presence_ttl', $1"));
	assert_string_equal(c.settings[0].param, "90");
	assert_non_null(strstr(c.settings[1].sql, "'statement_timeout', $1"));
	assert_string_equal(c.settings[1].param, "5000");
	assert_non_null(strstr(c.settings[2].sql, "'plan_cache_mode', $1"));
	assert_string_equal(c.settings[2].param, "force_generic_plan");
	cfg.db_plans = "auto";
	dbcall_conn_init(&c, &cfg, "chat-test");
	assert_string_equal(c.settings[2].param, "auto");
	cfg.db_plans = "custom";
	dbcall_conn_init(&c, &cfg, "chat-test");
	assert_string_equal(c.settings[2].param, "force_custom_plan");
}

/* FATAL and PANIC mark the connection as ending; other notices only log. */
static void test_notice(void **state)
{
	int ending = 0;

	(void)state;
	dbcall_notice(&ending, "WARNING:  something odd\n");
	assert_int_equal(ending, 0);
	dbcall_notice(&ending, "NOTICE:  FATAL: not at the start\n");
	assert_int_equal(ending, 0);
	dbcall_notice(&ending, "");
	assert_int_equal(ending, 0);
	dbcall_notice(&ending, "FATAL:  terminating connection due to administrator command\n");
	assert_int_equal(ending, 1);
	ending = 0;
	dbcall_notice(&ending, "PANIC:  could not write\n\n");
	assert_int_equal(ending, 1);
	/* No flag to set (chat-ws): it only logs. */
	dbcall_notice(NULL, "FATAL:  terminating connection\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_params_order),
		cmocka_unit_test(test_send_params_null_and_extremes),
		cmocka_unit_test(test_send_sql_shape),
		cmocka_unit_test(test_row_success),
		cmocka_unit_test(test_row_error),
		cmocka_unit_test(test_row_unknown_code),
		cmocka_unit_test(test_row_by_name),
		cmocka_unit_test(test_row_batch),
		cmocka_unit_test(test_row_refused),
		cmocka_unit_test(test_conn_params),
		cmocka_unit_test(test_notice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

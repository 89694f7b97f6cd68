/* test_cfg.c -- unit tests of common/cfg.c (configuration from the environment). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

extern char **environ;

/*
 * Every test starts from an environment without DATABASE_URL or any CHAT_*
 * variable, so that the caller's environment (make test exports some) and
 * variables added to cfg.c later cannot leak into the expectations.
 */
static int clear_env(void **state)
{
	(void)state;
	for (;;) {
		char name[128];
		const char *found = NULL;

		for (char **e = environ; *e; e++)
			if (strncmp(*e, "CHAT_", 5) == 0 || strncmp(*e, "DATABASE_URL=", 13) == 0) {
				found = *e;
				break;
			}
		if (!found)
			return 0;
		{
			size_t n = strcspn(found, "=");

			if (n >= sizeof(name))
				return -1;
			memcpy(name, found, n);
			name[n] = '\0';
		}
		if (unsetenv(name) != 0)
			return -1;
	}
}

static void test_defaults(void **state)
{
	struct cfg c;
	char err[256] = "untouched";

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(c.database_url, "dbname=chat");
	assert_string_equal(c.allowed_origins, "");
	assert_string_equal(c.log_level, "info");
	assert_string_equal(c.db_plans, "auto");
	assert_int_equal(c.port, 8080);
	assert_int_equal(c.max_body, 65536);
	assert_int_equal(c.username_max, 32);
	assert_int_equal(c.room_name_max, 64);
	assert_int_equal(c.description_max, 500);
	assert_int_equal(c.message_max, 4000);
	assert_int_equal(c.client_id_max, 64);
	assert_int_equal(c.msg_rate, 20);
	assert_int_equal(c.msg_rate_window, 10);
	assert_int_equal(c.join_rate, 60);
	assert_int_equal(c.join_rate_window, 3600);
	assert_int_equal(c.room_create_rate, 5);
	assert_int_equal(c.room_create_window, 60);
	assert_int_equal(c.session_ttl, 86400);
	assert_int_equal(c.cookie_secure, 0);
	assert_int_equal(c.presence_ttl, 30);
	assert_int_equal(c.db_timeout, 5);
	assert_int_equal(c.fcgi_workers, 0);
	assert_int_equal(c.fcgi_sched_batch, 1);
	assert_string_equal(c.ws_listen, "");
	assert_string_equal(c.bridge_id, "");
	assert_int_equal(c.ws_port, 8081);
	assert_int_equal(c.ws_io_uring, 1);
}

static void test_env_overrides(void **state)
{
	struct cfg c;
	char err[256];

	(void)state;
	setenv("DATABASE_URL", "host=/tmp dbname=x", 1);
	setenv("CHAT_ALLOWED_ORIGINS", "http://a,http://b", 1);
	setenv("CHAT_LOG_LEVEL", "debug", 1);
	setenv("CHAT_DB_PLANS", "generic", 1);
	setenv("CHAT_PORT", "18080", 1);
	setenv("CHAT_MAX_BODY", "1024", 1);
	setenv("CHAT_USERNAME_MAX", "128", 1);
	setenv("CHAT_MESSAGE_MAX", "100000", 1);
	setenv("CHAT_MSG_RATE", "0", 1);
	setenv("CHAT_JOIN_RATE", "100000", 1);
	setenv("CHAT_JOIN_RATE_WINDOW", "1", 1);
	setenv("CHAT_COOKIE_SECURE", "1", 1);
	setenv("CHAT_DESCRIPTION_MAX", "0", 1);
	setenv("CHAT_WS_IO_URING", "0", 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.database_url, "host=/tmp dbname=x");
	assert_string_equal(c.allowed_origins, "http://a,http://b");
	assert_string_equal(c.log_level, "debug");
	assert_string_equal(c.db_plans, "generic");
	assert_int_equal(c.port, 18080);
	assert_int_equal(c.max_body, 1024);
	assert_int_equal(c.username_max, 128);
	assert_int_equal(c.message_max, 100000);
	assert_int_equal(c.msg_rate, 0);
	assert_int_equal(c.join_rate, 100000);
	assert_int_equal(c.join_rate_window, 1);
	assert_int_equal(c.cookie_secure, 1);
	assert_int_equal(c.description_max, 0);
	assert_int_equal(c.ws_io_uring, 0);
	/* The others keep their defaults. */
	assert_int_equal(c.room_name_max, 64);
	assert_int_equal(c.session_ttl, 86400);
}

static void test_empty_values_mean_default(void **state)
{
	struct cfg c;
	char err[256];

	(void)state;
	setenv("DATABASE_URL", "", 1);
	setenv("CHAT_PORT", "", 1);
	setenv("CHAT_LOG_LEVEL", "", 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.database_url, "dbname=chat");
	assert_int_equal(c.port, 8080);
	assert_string_equal(c.log_level, "info");
}

static void test_every_log_level(void **state)
{
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	struct cfg c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		setenv("CHAT_LOG_LEVEL", levels[i], 1);
		assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
		assert_string_equal(c.log_level, levels[i]);
	}
}

/* Sets var=value, expects cfg_load to fail naming var, then unsets var. */
static void expect_rejected(const char *var, const char *value)
{
	struct cfg c;
	char err[256] = "untouched";

	setenv(var, value, 1);
	if (cfg_load(&c, err, sizeof(err)) != -1)
		fail_msg("%s='%s' should be rejected", var, value);
	if (!strstr(err, var))
		fail_msg("error for %s='%s' does not name the variable: %s", var, value, err);
	unsetenv(var);
}

static void test_bad_values_rejected(void **state)
{
	(void)state;
	expect_rejected("CHAT_LOG_LEVEL", "verbose");
	expect_rejected("CHAT_LOG_LEVEL", "INFO");
	expect_rejected("CHAT_DB_PLANS", "force_generic_plan");
	expect_rejected("CHAT_DB_PLANS", "Generic");
	expect_rejected("CHAT_PORT", "0");
	expect_rejected("CHAT_PORT", "65536");
	expect_rejected("CHAT_PORT", "-1");
	expect_rejected("CHAT_PORT", "abc");
	expect_rejected("CHAT_PORT", "80x");
	expect_rejected("CHAT_PORT", " 80");
	expect_rejected("CHAT_PORT", "80 ");
	expect_rejected("CHAT_PORT", "+80");
	expect_rejected("CHAT_PORT", "0x50");
	expect_rejected("CHAT_PORT", "8.0");
	expect_rejected("CHAT_PORT", "99999999999999999999999");
	expect_rejected("CHAT_MAX_BODY", "1023");
	expect_rejected("CHAT_USERNAME_MAX", "0");
	expect_rejected("CHAT_USERNAME_MAX", "129");
	expect_rejected("CHAT_MESSAGE_MAX", "100001");
	expect_rejected("CHAT_MSG_RATE", "-1");
	expect_rejected("CHAT_MSG_RATE_WINDOW", "0");
	expect_rejected("CHAT_JOIN_RATE", "lots");
	expect_rejected("CHAT_JOIN_RATE_WINDOW", "86401");
	expect_rejected("CHAT_ROOM_CREATE_RATE", "-1");
	expect_rejected("CHAT_ROOM_CREATE_WINDOW", "0");
	expect_rejected("CHAT_SESSION_TTL", "119");
	expect_rejected("CHAT_COOKIE_SECURE", "2");
	expect_rejected("CHAT_COOKIE_SECURE", "yes");
	expect_rejected("CHAT_PRESENCE_TTL", "1");
	expect_rejected("CHAT_DB_TIMEOUT", "0");
	expect_rejected("CHAT_ROOM_NAME_MAX", "257");
	expect_rejected("CHAT_DESCRIPTION_MAX", "-5");
	expect_rejected("CHAT_CLIENT_ID_MAX", "257");
	expect_rejected("CHAT_FCGI_WORKERS", "-1");
	expect_rejected("CHAT_FCGI_WORKERS", "257");
	expect_rejected("CHAT_FCGI_SCHED_BATCH", "2");
	expect_rejected("CHAT_FCGI_SCHED_BATCH", "batch");
	expect_rejected("CHAT_WS_PORT", "0");
	expect_rejected("CHAT_WS_PORT", "65536");
	expect_rejected("CHAT_WS_IO_URING", "2");
	expect_rejected("CHAT_WS_IO_URING", "yes");
}

/*
 * room_created carries the whole room in one NOTIFY, under PostgreSQL's
 * 8000 bytes: name + description may not exceed CFG_ROOM_TEXT_MAX
 * characters (4 bytes each), whichever of the two is raised.
 */
static void test_room_text_fits_a_notify(void **state)
{
	struct cfg c;
	char err[256] = "untouched";
	char v[16];

	(void)state;
	assert_true(4 * CFG_ROOM_TEXT_MAX + 346 < 8000);
	/* The defaults fit, and so does the largest sum. */
	snprintf(v, sizeof(v), "%d", CFG_ROOM_TEXT_MAX - 64);
	setenv("CHAT_DESCRIPTION_MAX", v, 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_int_equal(c.description_max, CFG_ROOM_TEXT_MAX - 64);
	setenv("CHAT_ROOM_NAME_MAX", "256", 1);
	snprintf(v, sizeof(v), "%d", CFG_ROOM_TEXT_MAX - 256);
	setenv("CHAT_DESCRIPTION_MAX", v, 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	/* One character more is refused at start-up, naming both variables. */
	snprintf(v, sizeof(v), "%d", CFG_ROOM_TEXT_MAX - 255);
	setenv("CHAT_DESCRIPTION_MAX", v, 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CHAT_ROOM_NAME_MAX"));
	assert_non_null(strstr(err, "CHAT_DESCRIPTION_MAX"));
	assert_non_null(strstr(err, "8000-byte NOTIFY"));
	unsetenv("CHAT_ROOM_NAME_MAX");
	expect_rejected("CHAT_DESCRIPTION_MAX", "10000");
	expect_rejected("CHAT_DESCRIPTION_MAX", "1808");
}

static void test_bad_value_small_err_buffer(void **state)
{
	struct cfg c;
	char err[8];

	(void)state;
	setenv("CHAT_PORT", "nope", 1);
	memset(err, 'Z', sizeof(err));
	assert_int_equal(cfg_load(&c, err, sizeof(err)), -1);
	/* Truncated but terminated. */
	assert_non_null(memchr(err, '\0', sizeof(err)));
	unsetenv("CHAT_PORT");
}

static void test_parse_long(void **state)
{
	long v = 42;

	(void)state;
	assert_int_equal(cfg_parse_long("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cfg_parse_long("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(cfg_parse_long("007", 0, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(cfg_parse_long("-10", -10, 10, &v), 0);
	assert_int_equal(v, -10);
	assert_int_equal(cfg_parse_long("9223372036854775807", 0, LONG_MAX, &v), 0);
	assert_true(v == LONG_MAX);
	assert_int_equal(cfg_parse_long("-9223372036854775808", LONG_MIN, 0, &v), 0);
	assert_true(v == LONG_MIN);

	v = 42;
	assert_int_equal(cfg_parse_long(NULL, 0, 10, &v), -1);
	assert_int_equal(cfg_parse_long("", 0, 10, &v), -1);
	assert_int_equal(cfg_parse_long("-", -10, 10, &v), -1);
	assert_int_equal(cfg_parse_long("+1", 0, 10, &v), -1);
	assert_int_equal(cfg_parse_long(" 1", 0, 10, &v), -1);
	assert_int_equal(cfg_parse_long("1 ", 0, 10, &v), -1);
	assert_int_equal(cfg_parse_long("1.0", 0, 10, &v), -1);
	assert_int_equal(cfg_parse_long("1e1", 0, 100, &v), -1);
	assert_int_equal(cfg_parse_long("11", 0, 10, &v), -1);
	assert_int_equal(cfg_parse_long("-11", -10, 10, &v), -1);
	assert_int_equal(cfg_parse_long("-1", 0, 10, &v), -1);
	assert_int_equal(cfg_parse_long("9223372036854775808", 0, LONG_MAX, &v), -1);
	assert_int_equal(cfg_parse_long("99999999999999999999", 0, LONG_MAX, &v), -1);
	assert_int_equal(cfg_parse_long("\t5", 0, 10, &v), -1);
	/* *out is untouched on failure. */
	assert_int_equal(v, 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clear_env),
		cmocka_unit_test_setup(test_env_overrides, clear_env),
		cmocka_unit_test_setup(test_empty_values_mean_default, clear_env),
		cmocka_unit_test_setup(test_every_log_level, clear_env),
		cmocka_unit_test_setup(test_bad_values_rejected, clear_env),
		cmocka_unit_test_setup(test_room_text_fits_a_notify, clear_env),
		cmocka_unit_test_setup(test_bad_value_small_err_buffer, clear_env),
		cmocka_unit_test_setup(test_parse_long, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

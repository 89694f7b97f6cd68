/* test_cli.c -- tests common/cli.c (the services' command line) and check.c's schema verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "cli.h"
#include "version.h"

/* argv holds char *: string literals are const under -Wwrite-strings. */
#define A(s) ((char *)(s))

static int parse(struct cli *c, int argc, char *const *argv, char *err, size_t errlen)
{
	c->prog = "chat-test";
	c->about = "";
	return cli_parse(c, argc, argv, err, errlen);
}

static void test_actions(void **state)
{
	static const struct {
		const char *arg;
		enum cli_action want;
	} cases[] = {
		{ "--help", CLI_HELP }, { "-h", CLI_HELP },       { "--version", CLI_VERSION },
		{ "-V", CLI_VERSION },  { "--check", CLI_CHECK },
	};
	struct cli c;
	char err[128];
	char *none[] = { A("prog") };

	(void)state;
	assert_int_equal(parse(&c, 1, none, err, sizeof(err)), 0);
	assert_int_equal(c.action, CLI_RUN);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = { A("prog"), (char *)cases[i].arg };

		assert_int_equal(parse(&c, 2, argv, err, sizeof(err)), 0);
		assert_int_equal(c.action, cases[i].want);
		assert_string_equal(err, "");
	}
	/* The same option twice is harmless. */
	{
		char *argv[] = { A("prog"), A("--check"), A("--check") };

		assert_int_equal(parse(&c, 3, argv, err, sizeof(err)), 0);
		assert_int_equal(c.action, CLI_CHECK);
	}
}

static void refused(int argc, char **argv, const char *want)
{
	struct cli c;
	char err[128];

	assert_int_equal(parse(&c, argc, argv, err, sizeof(err)), -1);
	assert_string_equal(err, want);
}

static void test_refusals(void **state)
{
	char *unknown[] = { A("prog"), A("--checks") };
	char *dash[] = { A("prog"), A("-") };
	char *empty[] = { A("prog"), A("") };
	char *arg[] = { A("prog"), A("start") };
	char *two[] = { A("prog"), A("--check"), A("-V") };
	char *eq[] = { A("prog"), A("--help=1") };

	(void)state;
	refused(2, unknown, "unknown option '--checks'");
	refused(2, dash, "unknown option '-'");
	refused(2, empty, "unexpected argument ''");
	refused(2, arg, "unexpected argument 'start'");
	refused(3, two, "'-V' cannot be combined with another option");
	refused(2, eq, "unknown option '--help=1'");
}

/* A long argument is cut to the error buffer, never past it. */
static void test_long_argument_truncated(void **state)
{
	char big[600], err[32];
	char *argv[] = { A("prog"), big };
	struct cli c;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse(&c, 2, argv, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
}

static void test_version_line(void **state)
{
	struct cli c = { "chat-test", "", CLI_RUN };
	char buf[256] = "", want[256];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	(void)state;
	assert_non_null(f);
	cli_version(&c, f);
	fclose(f);
	snprintf(want, sizeof(want), "chat-test %s (schema %s)\n", version_release(),
		 version_schema());
	assert_string_equal(buf, want);
	/* The Makefile compiles in four digits, the newest migration. */
	assert_int_equal(strlen(version_schema()), 4);
	assert_int_equal(strspn(version_schema(), "0123456789"), 4);
	assert_string_not_equal(version_release(), "unknown");
}

static void test_schema_verdict(void **state)
{
	(void)state;
	assert_int_equal(check_schema_verdict(0, 0), CHECK_SCHEMA_NONE);
	assert_int_equal(check_schema_verdict(0, 1), CHECK_SCHEMA_NONE);
	assert_int_equal(check_schema_verdict(1, 0), CHECK_SCHEMA_BEHIND);
	assert_int_equal(check_schema_verdict(1, 1), CHECK_SCHEMA_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_long_argument_truncated),
		cmocka_unit_test(test_version_line),
		cmocka_unit_test(test_schema_verdict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

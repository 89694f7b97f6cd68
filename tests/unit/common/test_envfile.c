/* test_envfile.c -- unit tests of common/envfile.c (systemd env files). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envfile.h"

static void expect_line(const char *in, const char *key, const char *value)
{
	char line[256], err[128];
	char *k, *v;

	snprintf(line, sizeof(line), "%s", in);
	assert_int_equal(envfile_parse_line(line, &k, &v, err, sizeof(err)), 0);
	if (!key) {
		assert_null(k);
		return;
	}
	assert_string_equal(k, key);
	assert_string_equal(v, value);
}

static void test_lines(void **state)
{
	(void)state;
	expect_line("A=1\n", "A", "1");
	expect_line("  CHAT_PORT=8080\r\n", "CHAT_PORT", "8080");
	expect_line("DATABASE_URL=host=/run/postgresql dbname=chat user=chat_svc", "DATABASE_URL",
		    "host=/run/postgresql dbname=chat user=chat_svc");
	expect_line("Q=\"quoted value\"", "Q", "quoted value");
	expect_line("Q='single'", "Q", "single");
	expect_line("Q=\"unbalanced'", "Q", "\"unbalanced'");
	expect_line("E=", "E", "");
	expect_line("D=$HOME", "D", "$HOME");
	expect_line("", NULL, NULL);
	expect_line("   \n", NULL, NULL);
	expect_line("# CHAT_PORT=1", NULL, NULL);
	expect_line("  ; note", NULL, NULL);
}

static void test_bad_lines(void **state)
{
	static const char *const bad[] = { "NOEQUALS", "=x",         "1A=2",  "A B=1",
					   "A-B=1",    "export A=1", "A=\xff" };
	char line[64], err[128];
	char *k, *v;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "%s", bad[i]);
		err[0] = '\0';
		assert_int_equal(envfile_parse_line(line, &k, &v, err, sizeof(err)), -1);
		assert_true(strlen(err) > 0);
	}
}

static void test_load(void **state)
{
	char path[] = "/tmp/test_envfile_XXXXXX", err[256];
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("# comment\nENVFILE_T_A=from file\nENVFILE_T_B=from file\n", f);
	fclose(f);
	unsetenv("ENVFILE_T_A");
	setenv("ENVFILE_T_B", "from env", 1);
	assert_int_equal(envfile_load(path, err, sizeof(err)), 0);
	assert_string_equal(getenv("ENVFILE_T_A"), "from file");
	/* The environment wins. */
	assert_string_equal(getenv("ENVFILE_T_B"), "from env");
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("OK=1\nbroken line\n", f);
	fclose(f);
	assert_int_equal(envfile_load(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 2"));
	unlink(path);
	assert_int_equal(envfile_load(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot read"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

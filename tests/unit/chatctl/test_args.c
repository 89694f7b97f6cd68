/* test_args.c -- unit tests of chatctl/args.c (the command line). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "args.h"

/* Parses the NULL-terminated argument list after "chatctl". */
static int parse(struct ctl_args *a, char *err, size_t errlen, ...)
{
	char *argv[16] = { (char *)"chatctl" };
	int argc = 1;
	va_list ap;
	char *s;

	va_start(ap, errlen);
	while ((s = va_arg(ap, char *)) != NULL && argc < 15)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	return ctl_args_parse(a, argc, argv, err, errlen);
}

#define P(a, err, ...) parse(a, err, sizeof(err), __VA_ARGS__, (char *)NULL)

static void test_subcommands(void **state)
{
	struct ctl_args a;
	char err[256];

	(void)state;
	assert_int_equal(P(&a, err, "users"), 0);
	assert_int_equal(a.cmd->id, CTL_USERS);
	assert_int_equal(a.limit, CTL_LIMIT_DEFAULT);
	assert_null(a.like);
	assert_int_equal(P(&a, err, "rooms", "--like", "gen%", "--limit=5"), 0);
	assert_string_equal(a.like, "gen%");
	assert_int_equal(a.limit, 5);
	assert_int_equal(P(&a, err, "ban", "alice", "--reason", "spam"), 0);
	assert_string_equal(a.pos[0], "alice");
	assert_string_equal(a.reason, "spam");
	assert_int_equal(P(&a, err, "ban", "--reason=spam", "alice"), 0);
	assert_string_equal(a.pos[0], "alice");
	assert_int_equal(P(&a, err, "delete-message", "general", "42"), 0);
	assert_int_equal(a.cmd->id, CTL_DELETE_MESSAGE);
	assert_int_equal(a.message_id, 42);
	/* "--" ends the options: a username may start with '-'. */
	assert_int_equal(P(&a, err, "unban", "--", "-bob"), 0);
	assert_string_equal(a.pos[0], "-bob");
	assert_int_equal(P(&a, err, "--env-file", "/x.env", "make-admin", "carol"), 0);
	assert_string_equal(a.env_file, "/x.env");
	assert_int_equal(P(&a, err, "--no-env-file", "revoke-admin", "carol"), 0);
	assert_int_equal(a.no_env_file, 1);
}

static void test_help_and_version(void **state)
{
	struct ctl_args a;
	char err[256];

	(void)state;
	assert_int_equal(P(&a, err, "--help"), 0);
	assert_true(a.help);
	assert_null(a.cmd);
	assert_int_equal(P(&a, err, "-h", "bogus"), 0);
	assert_true(a.help);
	assert_int_equal(P(&a, err, "ban", "--help"), 0);
	assert_true(a.help);
	assert_int_equal(a.cmd->id, CTL_BAN);
	/* --help after a missing argument still helps. */
	assert_int_equal(P(&a, err, "delete-message", "-h"), 0);
	assert_int_equal(P(&a, err, "--version"), 0);
	assert_true(a.version);
}

static void test_refusals(void **state)
{
	static const char *const bad[][4] = {
		{ "frobnicate" },
		{ "--bogus", "users" },
		{ "--env-file" },
		{ "--env-file", "" },
		{ "--env-file", "/x", "--no-env-file" },
		{ "ban" },
		{ "ban", "a", "b" },
		{ "ban", "" },
		{ "ban", "a\tb" },
		{ "ban", "\xff\xfe" },
		{ "ban", "a\xc3" },
		{ "ban", "x", "--reason" },
		{ "ban", "x", "--reason", "" },
		{ "ban", "x", "--like", "y" },
		{ "users", "x" },
		{ "users", "--limit", "0" },
		{ "users", "--limit", "10001" },
		{ "users", "--limit", "1x" },
		{ "users", "--like", "" },
		{ "users", "--like", "\xed\xa0\x80" },
		{ "users", "--reason", "x" },
		{ "users", "--limitless" },
		{ "delete-message", "general" },
		{ "delete-message", "general", "0" },
		{ "delete-message", "general", "-5" },
		{ "delete-message", "general", "+5" },
		{ "delete-message", "general", "99999999999999999999" },
		{ "delete-message", "gen eral", "5" },
		{ "delete-room", "x'; DROP TABLE rooms; --" },
		{ "delete-room", "" },
	};
	struct ctl_args a;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[6] = { (char *)"chatctl" };
		int argc = 1;

		for (int j = 0; j < 4 && bad[i][j]; j++)
			argv[argc++] = (char *)(uintptr_t)bad[i][j];
		argv[argc] = NULL;
		err[0] = 'Z';
		if (ctl_args_parse(&a, argc, argv, err, sizeof(err)) != -1)
			fail_msg("case %zu (%s %s) was accepted", i, bad[i][0],
				 bad[i][1] ? bad[i][1] : "");
		assert_true(strlen(err) > 0);
	}
	/* The longest USER is 255 bytes. */
	{
		char user[300];
		char *argv[] = { (char *)"chatctl", (char *)"ban", user, NULL };

		memset(user, 'u', sizeof(user));
		user[CTL_USER_MAX] = '\0';
		assert_int_equal(ctl_args_parse(&a, 3, argv, err, sizeof(err)), 0);
		user[CTL_USER_MAX] = 'u';
		user[CTL_USER_MAX + 1] = '\0';
		assert_int_equal(ctl_args_parse(&a, 3, argv, err, sizeof(err)), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subcommands),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

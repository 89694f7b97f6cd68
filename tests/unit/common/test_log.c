/* test_log.c -- unit tests of common/log.c (one-line structured logs). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/*
 * Runs between begin() and end() have stderr sent to a temporary file, so
 * that cmocka's own messages (also on stderr) stay visible outside them.
 */
static char log_path[] = "/tmp/test_log_XXXXXX";
static int saved_stderr = -1;

static void begin(void)
{
	int fd;

	memcpy(log_path, "/tmp/test_log_XXXXXX", sizeof(log_path));
	fd = mkstemp(log_path);
	assert_true(fd >= 0);
	fflush(stderr);
	saved_stderr = dup(2);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fd, 2) >= 0);
	close(fd);
}

/* Restores stderr and returns what was logged (malloc'd, caller frees). */
static char *end(void)
{
	FILE *f;
	long n;
	char *buf;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	f = fopen(log_path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	unlink(log_path);
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_line_format(void **state)
{
	char *out;

	(void)state;
	begin();
	log_init("fcgi", "info");
	log_context("req-1", "user-9");
	log_info("cannot connect to '%s': %s", "db", "refused");
	log_context(NULL, NULL);
	out = end();
	assert_int_equal(count_lines(out), 1);
	assert_memory_equal(out, "ts=", 3);
	assert_non_null(strstr(out, " level=info comp=fcgi req=req-1 user=user-9 "));
	assert_non_null(strstr(out, "msg=\"cannot connect to 'db': refused\"\n"));
	/* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
	assert_int_equal(out[3 + 4], '-');
	assert_int_equal(out[3 + 10], 'T');
	assert_int_equal(out[3 + 19], '.');
	assert_int_equal(out[3 + 23], 'Z');
	free(out);
}

static void test_no_context_fields_when_cleared(void **state)
{
	char *out;

	(void)state;
	begin();
	log_init("ws", "debug");
	log_context(NULL, NULL);
	log_debug("hello");
	out = end();
	assert_non_null(strstr(out, " level=debug comp=ws msg=\"hello\"\n"));
	assert_null(strstr(out, "req="));
	assert_null(strstr(out, "user="));
	free(out);
}

static void test_level_filter(void **state)
{
	char *out;

	(void)state;
	begin();
	log_init("fcgi", "warn");
	log_debug("d");
	log_info("i");
	log_warn("w");
	log_err("e");
	out = end();
	assert_int_equal(count_lines(out), 2);
	assert_null(strstr(out, "msg=\"d\""));
	assert_null(strstr(out, "msg=\"i\""));
	assert_non_null(strstr(out, "level=warn"));
	assert_non_null(strstr(out, "level=error"));
	free(out);
	/* An unknown level means info. */
	begin();
	log_init("fcgi", "loud");
	log_debug("d");
	log_info("i");
	out = end();
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, "msg=\"i\""));
	free(out);
}

static void test_client_string_cannot_forge_a_line(void **state)
{
	char *out;

	(void)state;
	begin();
	log_init("fcgi", "info");
	log_context(NULL, NULL);
	log_info(
		"user said '%s'",
		"x\"\nts=2026-01-01T00:00:00.000Z level=error comp=fcgi msg=\"forged\r\x1b[2J\x7f\\");
	out = end();
	assert_int_equal(count_lines(out), 1);
	assert_null(strchr(out, '\r'));
	assert_null(strchr(out, '\x1b'));
	assert_null(strchr(out, '\x7f'));
	assert_non_null(strstr(out, "x\\\"\\x0ats="));
	assert_non_null(strstr(out, "\\x0d\\x1b[2J\\x7f\\\\'\"\n"));
	free(out);
}

static void test_long_message_and_context_truncated(void **state)
{
	char big[4096], id[200], want[80];
	char *out;

	(void)state;
	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(id, 'r', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	memcpy(want, " req=", 5);
	memset(want + 5, 'r', 63);
	memcpy(want + 5 + 63, " msg=", 6);
	begin();
	log_init("fcgi", "info");
	log_context(id, NULL);
	log_info("%s", big);
	log_context(NULL, NULL);
	out = end();
	/* Still exactly one terminated line, and the request id is cut at 63. */
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, want));
	free(out);
}

/* Under systemd with stderr on the journal, each line carries its priority. */
static void test_journal_priorities(void **state)
{
	struct stat st;
	char js[64];
	char *out;

	(void)state;
	begin();
	assert_int_equal(fstat(2, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	assert_int_equal(setenv("JOURNAL_STREAM", js, 1), 0);
	log_init("ws", "debug");
	log_debug("d");
	log_info("i");
	log_warn("w");
	log_err("e");
	unsetenv("JOURNAL_STREAM");
	log_init("ws", "debug");
	log_err("plain");
	out = end();
	assert_non_null(strstr(out, "<7>ts="));
	assert_non_null(strstr(out, "\n<6>ts="));
	assert_non_null(strstr(out, "\n<4>ts="));
	assert_non_null(strstr(out, "level=warn comp=ws msg=\"w\""));
	assert_non_null(strstr(out, "\n<3>ts="));
	/* Without JOURNAL_STREAM, no prefix. */
	assert_non_null(strstr(out, "\nts="));
	assert_int_equal(count_lines(out), 5);
	free(out);
}

static void test_journal_stream_must_match(void **state)
{
	struct stat st;
	char js[64];

	(void)state;
	assert_int_equal(fstat(2, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	assert_true(log_journal_stream(js, 2));
	/* Another stream (stderr redirected after systemd set it): no prefix. */
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	assert_false(log_journal_stream(js, 2));
	assert_false(log_journal_stream(NULL, 2));
	assert_false(log_journal_stream("", 2));
	assert_false(log_journal_stream("12", 2));
	assert_false(log_journal_stream("1:2x", 2));
	assert_false(log_journal_stream("a:b", 2));
	assert_false(log_journal_stream("1:2", -1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_journal_priorities),
		cmocka_unit_test(test_journal_stream_must_match),
		cmocka_unit_test(test_no_context_fields_when_cleared),
		cmocka_unit_test(test_level_filter),
		cmocka_unit_test(test_client_string_cannot_forge_a_line),
		cmocka_unit_test(test_long_message_and_context_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

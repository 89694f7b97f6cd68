/* test_qs.c -- unit tests of common/qs.c (query string lookup). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "qs.h"

/* Runs qs_get into a buffer of outlen bytes prefilled with 'Z'. */
static enum qs_result get(const char *qs, const char *name, char *out, size_t outlen)
{
	memset(out, 'Z', outlen);
	return qs_get(qs, name, out, outlen);
}

static void test_found(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(get("a=1", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "1");
	assert_int_equal(get("a=1&b=two&c=3", "b", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "two");
	assert_int_equal(get("a=1&b=two&c=3", "c", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "3");
	/* A name without '=' or with an empty value is present and empty. */
	assert_int_equal(get("a&b=2", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "");
	assert_int_equal(get("a=&b=2", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "");
	/* The value runs to '&', and may contain '='. */
	assert_int_equal(get("a=x=y&b=2", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "x=y");
	/* Empty segments are skipped. */
	assert_int_equal(get("&&a=1&&", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "1");
}

static void test_absent(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(get(NULL, "a", out, sizeof(out)), QS_ABSENT);
	assert_string_equal(out, "");
	assert_int_equal(get("", "a", out, sizeof(out)), QS_ABSENT);
	assert_string_equal(out, "");
	assert_int_equal(get("b=1&c=2", "a", out, sizeof(out)), QS_ABSENT);
	assert_string_equal(out, "");
	/* Names match whole and exactly. */
	assert_int_equal(get("ab=1&ba=2&A=3", "a", out, sizeof(out)), QS_ABSENT);
	assert_int_equal(get("limit=1", "lim", out, sizeof(out)), QS_ABSENT);
	assert_int_equal(get("lim=1", "limit", out, sizeof(out)), QS_ABSENT);
	/* A name that only appears inside a value. */
	assert_int_equal(get("x=a=1", "a", out, sizeof(out)), QS_ABSENT);
}

static void test_first_wins(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(get("a=1&a=2", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "1");
	assert_int_equal(get("a=&a=2", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "");
	/* The first is taken even when it is malformed. */
	assert_int_equal(get("a=%zz&a=2", "a", out, sizeof(out)), QS_MALFORMED);
}

static void test_decoding(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(get("a=%41%62c", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "Abc");
	assert_int_equal(get("a=%2f%2F", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "//");
	assert_int_equal(get("a=x+y", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "x y");
	assert_int_equal(get("a=%2B", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "+");
	assert_int_equal(get("a=%26%3D", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "&=");
	assert_int_equal(get("a=%25", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "%");
	/* UTF-8 bytes pass through as bytes. */
	assert_int_equal(get("a=%C3%A9", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "\xc3\xa9");
	/* Decoding is not repeated: %2541 is "%41". */
	assert_int_equal(get("a=%2541", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "%41");
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"a=%",   "a=%4",  "a=x%4",   "a=%4&b=1", "a=%G1", "a=%1G",       "a=%%41",
		"a=% 1", "a=%00", "a=x%00y", "a=%-1",    "a=%+1", "a=%\xc3\xa9",
	};
	char out[16];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (get(bad[i], "a", out, sizeof(out)) != QS_MALFORMED)
			fail_msg("'%s' should be malformed", bad[i]);
		assert_string_equal(out, "");
	}
	/* A bad escape in another parameter does not matter. */
	assert_int_equal(get("b=%zz&a=1", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "1");
}

static void test_too_long(void **state)
{
	char out[4];

	(void)state;
	/* Three bytes and the NUL fit; four do not. */
	assert_int_equal(get("a=abc", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "abc");
	assert_int_equal(get("a=abcd", "a", out, sizeof(out)), QS_TOO_LONG);
	assert_string_equal(out, "");
	/* Length is counted after decoding. */
	assert_int_equal(get("a=%41%42%43", "a", out, sizeof(out)), QS_FOUND);
	assert_string_equal(out, "ABC");
	assert_int_equal(get("a=%41%42%43%44", "a", out, sizeof(out)), QS_TOO_LONG);
	assert_string_equal(out, "");
	/* One byte holds only the empty value. */
	assert_int_equal(get("a=", "a", out, 1), QS_FOUND);
	assert_int_equal(out[0], '\0');
	assert_int_equal(get("a=x", "a", out, 1), QS_TOO_LONG);
	assert_int_equal(out[0], '\0');
}

static void test_no_overrun(void **state)
{
	char buf[8];

	(void)state;
	/* Bytes past outlen are never written. */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(qs_get("a=abcdefgh", "a", buf, 4), QS_TOO_LONG);
	assert_memory_equal(buf + 4, "ZZZZ", 4);
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(qs_get("a=abc", "a", buf, 4), QS_FOUND);
	assert_memory_equal(buf, "abc\0ZZZZ", 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found),      cmocka_unit_test(test_absent),
		cmocka_unit_test(test_first_wins), cmocka_unit_test(test_decoding),
		cmocka_unit_test(test_malformed),  cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_no_overrun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

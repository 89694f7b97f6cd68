/* test_utf8.c -- unit tests of common/utf8.c (UTF-8 text checks). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "utf8.h"

/* Checks s (a C string literal, possibly with embedded bytes) with flags. */
static enum utf8_result check(const char *s, unsigned flags, size_t *chars)
{
	return utf8_check_text(s, strlen(s), flags, chars);
}

static void test_ascii_counts_bytes(void **state)
{
	size_t n = 99;

	(void)state;
	assert_int_equal(check("hello", 0, &n), UTF8_OK);
	assert_int_equal(n, 5);
	n = 99;
	assert_int_equal(utf8_check_text("", 0, 0, &n), UTF8_OK);
	assert_int_equal(n, 0);
	/* chars may be NULL. */
	assert_int_equal(check("hello", 0, NULL), UTF8_OK);
}

static void test_multibyte_counts_code_points(void **state)
{
	size_t n = 0;

	(void)state;
	/* é (2 bytes), € (3 bytes), 😀 U+1F600 (4 bytes). */
	assert_int_equal(check("\xc3\xa9", 0, &n), UTF8_OK);
	assert_int_equal(n, 1);
	assert_int_equal(check("\xe2\x82\xac", 0, &n), UTF8_OK);
	assert_int_equal(n, 1);
	assert_int_equal(check("\xf0\x9f\x98\x80", 0, &n), UTF8_OK);
	assert_int_equal(n, 1);
	/* "aé€😀z": 5 code points in 1+2+3+4+1 = 11 bytes. */
	assert_int_equal(check("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", 0, &n), UTF8_OK);
	assert_int_equal(n, 5);
	/* The extremes that are still valid: U+0080 is a C1 control, so use
	 * U+00A0, U+07FF, U+0800, U+FFFD, U+10000 and U+10FFFF. */
	assert_int_equal(check("\xc2\xa0\xdf\xbf\xe0\xa0\x80\xef\xbf\xbd\xf0\x90\x80\x80"
			       "\xf4\x8f\xbf\xbf",
			       0, &n),
			 UTF8_OK);
	assert_int_equal(n, 6);
	/* U+E000 right after the surrogate block is fine. */
	assert_int_equal(check("\xee\x80\x80", 0, &n), UTF8_OK);
	assert_int_equal(n, 1);
}

static void test_chars_untouched_on_failure(void **state)
{
	size_t n = 77;

	(void)state;
	assert_int_equal(check("ab\xff", 0, &n), UTF8_INVALID);
	assert_int_equal(n, 77);
	assert_int_equal(check("ab\x01", 0, &n), UTF8_CONTROL);
	assert_int_equal(n, 77);
}

static void test_overlong_encodings(void **state)
{
	(void)state;
	/* '/' as 2, 3 and 4 bytes; NUL as 2 bytes (modified UTF-8). */
	assert_int_equal(check("\xc0\xaf", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xe0\x80\xaf", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xf0\x80\x80\xaf", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xc0\x80", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xc1\xbf", 0, NULL), UTF8_INVALID);
	/* U+07FF as 3 bytes and U+FFFF as 4 bytes. */
	assert_int_equal(check("\xe0\x9f\xbf", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xf0\x8f\xbf\xbf", 0, NULL), UTF8_INVALID);
}

static void test_surrogates_rejected(void **state)
{
	(void)state;
	/* U+D800, U+DBFF, U+DC00, U+DFFF encoded directly (CESU-8 style). */
	assert_int_equal(check("\xed\xa0\x80", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xed\xaf\xbf", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xed\xb0\x80", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xed\xbf\xbf", 0, NULL), UTF8_INVALID);
	/* A surrogate pair for U+1F600 encoded as two 3-byte sequences. */
	assert_int_equal(check("\xed\xa0\xbd\xed\xb8\x80", 0, NULL), UTF8_INVALID);
	/* U+D7FF just below the block is valid. */
	assert_int_equal(check("\xed\x9f\xbf", 0, NULL), UTF8_OK);
}

static void test_beyond_unicode_rejected(void **state)
{
	(void)state;
	/* U+110000 and the old 5- and 6-byte forms. */
	assert_int_equal(check("\xf4\x90\x80\x80", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xf5\x80\x80\x80", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xf7\xbf\xbf\xbf", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xf8\x88\x80\x80\x80", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xfc\x84\x80\x80\x80\x80", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xfe", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xff", 0, NULL), UTF8_INVALID);
}

static void test_truncated_and_stray_bytes(void **state)
{
	const char four[] = "\xf0\x9f\x98\x80";

	(void)state;
	/* Every proper prefix of a multi-byte sequence is invalid... */
	for (size_t len = 1; len < 4; len++)
		assert_int_equal(utf8_check_text(four, len, 0, NULL), UTF8_INVALID);
	/* ...also when followed by more text. */
	assert_int_equal(check("\xe2\x82z", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("\xc3(", 0, NULL), UTF8_INVALID);
	/* A lone continuation byte, and a lead byte at the end. */
	assert_int_equal(check("a\x80z", 0, NULL), UTF8_INVALID);
	assert_int_equal(check("abc\xc3", 0, NULL), UTF8_INVALID);
	/* The length is honoured: a valid sequence cut by len is invalid, and
	 * bytes past len are not looked at. */
	assert_int_equal(utf8_check_text("\xc3\xa9", 1, 0, NULL), UTF8_INVALID);
	assert_int_equal(utf8_check_text("ab\xff", 2, 0, NULL), UTF8_OK);
}

/* U+0000 is well-formed UTF-8 (and JSON's "\u0000"): a control character. */
static void test_nul_is_a_control(void **state)
{
	static const char s[] = { 'a', '\0', 'b' };
	static const char only[] = { '\0' };
	size_t n = 5;

	(void)state;
	assert_int_equal(utf8_check_text(s, sizeof(s), 0, &n), UTF8_CONTROL);
	assert_int_equal(utf8_check_text(s, sizeof(s), UTF8_ALLOW_NEWLINE | UTF8_ALLOW_TAB, &n),
			 UTF8_CONTROL);
	assert_int_equal(utf8_check_text(only, sizeof(only), 0, &n), UTF8_CONTROL);
	assert_int_equal(n, 5);
	assert_int_equal(utf8_check_text(s, 1, 0, &n), UTF8_OK);
	assert_int_equal(n, 1);
}

static void test_controls_rejected(void **state)
{
	char buf[4];
	const unsigned all = UTF8_ALLOW_NEWLINE | UTF8_ALLOW_TAB;

	(void)state;
	/* Every C0 control except \t and \n, even with both flags. */
	for (int c = 0; c < 0x20; c++) {
		if (c == '\n' || c == '\t')
			continue;
		buf[0] = 'a';
		buf[1] = (char)c;
		buf[2] = 'b';
		assert_int_equal(utf8_check_text(buf, 3, all, NULL), UTF8_CONTROL);
		assert_int_equal(utf8_check_text(buf, 3, 0, NULL), UTF8_CONTROL);
	}
	/* DEL. */
	assert_int_equal(check("a\x7f", all, NULL), UTF8_CONTROL);
	/* Every C1 control U+0080..U+009F (C2 80 .. C2 9F). */
	for (int c = 0x80; c <= 0x9f; c++) {
		buf[0] = (char)0xc2;
		buf[1] = (char)c;
		assert_int_equal(utf8_check_text(buf, 2, all, NULL), UTF8_CONTROL);
	}
	/* The neighbours are printable. */
	assert_int_equal(check("\x20\x7e", 0, NULL), UTF8_OK);
	assert_int_equal(check("\xc2\xa0", 0, NULL), UTF8_OK);
	/* '\r' is a control even with both flags. */
	assert_int_equal(check("a\r\nb", all, NULL), UTF8_CONTROL);
}

static void test_newline_and_tab_flags(void **state)
{
	size_t n = 0;

	(void)state;
	assert_int_equal(check("a\nb", 0, NULL), UTF8_CONTROL);
	assert_int_equal(check("a\tb", 0, NULL), UTF8_CONTROL);
	assert_int_equal(check("a\nb", UTF8_ALLOW_NEWLINE, &n), UTF8_OK);
	assert_int_equal(n, 3);
	assert_int_equal(check("a\tb", UTF8_ALLOW_NEWLINE, NULL), UTF8_CONTROL);
	assert_int_equal(check("a\tb", UTF8_ALLOW_TAB, &n), UTF8_OK);
	assert_int_equal(n, 3);
	assert_int_equal(check("a\nb", UTF8_ALLOW_TAB, NULL), UTF8_CONTROL);
	assert_int_equal(check("a\n\tb\n", UTF8_ALLOW_NEWLINE | UTF8_ALLOW_TAB, &n), UTF8_OK);
	assert_int_equal(n, 5);
}

static void test_invalid_wins_over_control(void **state)
{
	(void)state;
	/* Malformed anywhere makes the whole text invalid. */
	assert_int_equal(check("\x01\xff", 0, NULL), UTF8_INVALID);
}

static void test_blank(void **state)
{
	(void)state;
	assert_true(utf8_is_blank("", 0));
	assert_true(utf8_is_blank(" ", 1));
	assert_true(utf8_is_blank(" \t\n\r ", 5));
	/* U+00A0 NO-BREAK SPACE, U+2003 EM SPACE, U+3000 IDEOGRAPHIC SPACE. */
	assert_true(utf8_is_blank("\xc2\xa0", 2));
	assert_true(utf8_is_blank("\xe2\x80\x83", 3));
	assert_true(utf8_is_blank("\xe3\x80\x80", 3));
	assert_true(utf8_is_blank(" \xe3\x80\x80\t", 5));
	assert_false(utf8_is_blank("a", 1));
	assert_false(utf8_is_blank("  a  ", 5));
	assert_false(utf8_is_blank(" \xe3\x80\x80x", 5));
	assert_false(utf8_is_blank("\xc3\xa9", 2));
	/* Invalid bytes are not white space. */
	assert_false(utf8_is_blank(" \xff", 2));
	assert_false(utf8_is_blank("\xe3\x80", 2));
	/* Only len bytes are looked at. */
	assert_true(utf8_is_blank("  x", 2));
}

static void test_valid_prefix(void **state)
{
	(void)state;
	assert_int_equal(utf8_valid_prefix("abc", 3), 3);
	assert_int_equal(utf8_valid_prefix("", 0), 0);
	/* "near '\xe6" : jansson cut a three-byte character after one byte. */
	assert_int_equal(utf8_valid_prefix("near '\xe6", 7), 6);
	assert_int_equal(utf8_valid_prefix("\xc3\xa9t\xc3", 4), 3);
	assert_int_equal(utf8_valid_prefix("\xff", 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_prefix),
		cmocka_unit_test(test_ascii_counts_bytes),
		cmocka_unit_test(test_multibyte_counts_code_points),
		cmocka_unit_test(test_chars_untouched_on_failure),
		cmocka_unit_test(test_overlong_encodings),
		cmocka_unit_test(test_surrogates_rejected),
		cmocka_unit_test(test_beyond_unicode_rejected),
		cmocka_unit_test(test_truncated_and_stray_bytes),
		cmocka_unit_test(test_nul_is_a_control),
		cmocka_unit_test(test_controls_rejected),
		cmocka_unit_test(test_newline_and_tab_flags),
		cmocka_unit_test(test_invalid_wins_over_control),
		cmocka_unit_test(test_blank),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

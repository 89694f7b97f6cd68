/* test_textbuf.c -- tests common/textbuf.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "textbuf.h"

static void test_appends_and_counts_past_the_end(void **state)
{
	char buf[16];
	size_t n = 0;

	(void)state;
	textbuf_printf(buf, sizeof(buf), &n, "a=%d ", 1);
	textbuf_printf(buf, sizeof(buf), &n, "b=%s", "xy");
	assert_string_equal(buf, "a=1 b=xy");
	assert_int_equal(n, 8);
	textbuf_printf(buf, sizeof(buf), &n, " %s", "0123456789");
	assert_true(n >= sizeof(buf)); /* truncated, and the caller can tell */
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	textbuf_printf(buf, sizeof(buf), &n, "more"); /* ignored once full */
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appends_and_counts_past_the_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

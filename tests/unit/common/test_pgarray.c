/* test_pgarray.c -- tests common/pgarray.c: text[] literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "pgarray.h"

static void check(const char *const *vals, size_t n, const char *want)
{
	char *got = pgarray_literal(vals, n);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_empty(void **state)
{
	(void)state;
	check(NULL, 0, "{}");
}

static void test_plain_and_null(void **state)
{
	const char *v[] = { "a", NULL, "", "12" };

	(void)state;
	check(v, 4, "{\"a\",NULL,\"\",\"12\"}");
}

/* Quotes and backslashes are escaped; separators, braces and NULL stay text. */
static void test_hostile(void **state)
{
	const char *v[] = { "x\"y", "back\\slash", "{a,b}", "NULL", " sp ", "'; DROP TABLE x; --" };

	(void)state;
	check(v, 6,
	      "{\"x\\\"y\",\"back\\\\slash\",\"{a,b}\",\"NULL\",\" sp \",\"'; DROP TABLE x; --\"}");
}

static void test_utf8_passes(void **state)
{
	const char *v[] = { "h\xc3\xa9llo \xf0\x9f\x98\x80" };

	(void)state;
	check(v, 1, "{\"h\xc3\xa9llo \xf0\x9f\x98\x80\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_plain_and_null),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_utf8_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

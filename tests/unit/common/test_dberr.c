/* test_dberr.c -- tests common/dberr.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dberr.h"

static void test_unavailable_classes(void **state)
{
	(void)state;
	assert_true(dberr_unavailable(NULL));
	assert_true(dberr_unavailable("08006")); /* connection failure */
	assert_true(dberr_unavailable("53100")); /* disk full */
	assert_true(dberr_unavailable("53300")); /* too many connections */
	assert_true(dberr_unavailable("57P01")); /* admin shutdown */
	assert_true(dberr_unavailable("58030")); /* io error */
	assert_true(dberr_unavailable("25006")); /* read-only transaction */
}

static void test_request_errors_are_not(void **state)
{
	(void)state;
	assert_false(dberr_unavailable("23505")); /* unique violation */
	assert_false(dberr_unavailable("22P02")); /* invalid text representation */
	assert_false(dberr_unavailable("42883")); /* undefined function */
	assert_false(dberr_unavailable("25001")); /* active transaction: not 25006 */
	assert_false(dberr_unavailable("40P01")); /* deadlock */
	assert_true(dberr_unavailable(""));       /* malformed: treated as broken */
	assert_true(dberr_unavailable("0800"));
}

static void test_retry(void **state)
{
	(void)state;
	assert_true(dberr_retry("40P01"));  /* deadlock */
	assert_true(dberr_retry("40001"));  /* serialization failure */
	assert_false(dberr_retry("40002")); /* integrity constraint: not a race */
	assert_false(dberr_retry("23505"));
	assert_false(dberr_retry("57P01"));
	assert_false(dberr_retry(NULL));
	assert_false(dberr_retry(""));
	assert_false(dberr_retry("40P0"));
	assert_false(dberr_retry("40P011"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unavailable_classes),
		cmocka_unit_test(test_request_errors_are_not),
		cmocka_unit_test(test_retry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

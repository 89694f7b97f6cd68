/* test_conn.c -- tests ws-bridge/conn.c: session ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conn.h"

/*
 * This definition takes the place of OpenSSL's for conn.c (the program's
 * own symbol wins over the shared library's): it fails on demand, and
 * otherwise gives distinct bytes.
 */
static int rand_fails;
static unsigned char rand_next;

int RAND_bytes(unsigned char *buf, int num);
int RAND_bytes(unsigned char *buf, int num)
{
	if (rand_fails)
		return 0;
	for (int i = 0; i < num; i++)
		buf[i] = rand_next++;
	return 1;
}

static void test_sid_has_prefix_and_20_chars(void **state)
{
	char a[48], b[48];

	(void)state;
	rand_fails = 0;
	assert_int_equal(conn_new_sid("b0_", a, sizeof(a)), 0);
	assert_int_equal(strlen(a), 3 + 20);
	assert_memory_equal(a, "b0_", 3);
	assert_int_equal(
		strspn(a + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
		20);
	assert_int_equal(conn_new_sid("", b, sizeof(b)), 0);
	assert_int_equal(strlen(b), 20);
	assert_string_not_equal(a + 3, b);
}

static void test_sid_refused_without_random_bytes(void **state)
{
	char out[48] = "stale";

	(void)state;
	rand_fails = 1;
	/* Never a predictable id (the old code used zero bytes): no id at all. */
	assert_int_equal(conn_new_sid("b0_", out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(conn_new_sid("", out, sizeof(out)), -1);
	rand_fails = 0;
}

static void test_sid_refused_when_too_long(void **state)
{
	char small[23];

	(void)state;
	rand_fails = 0;
	assert_int_equal(conn_new_sid("b0_", small, sizeof(small)), -1);
	assert_string_equal(small, "");
	assert_int_equal(conn_new_sid("", small, sizeof(small)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sid_has_prefix_and_20_chars),
		cmocka_unit_test(test_sid_refused_without_random_bytes),
		cmocka_unit_test(test_sid_refused_when_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

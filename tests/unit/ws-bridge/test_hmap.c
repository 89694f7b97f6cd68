/* test_hmap.c -- tests ws-bridge/hmap.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hmap.h"

static void count_one(void *value, void *arg)
{
	(void)value;
	(*(int *)arg)++;
}

static void test_put_get_del_grow(void **state)
{
	struct hmap m;
	char key[32];
	int n = 0;

	(void)state;
	hmap_init(&m);
	assert_null(hmap_get(&m, "x", 1));
	assert_null(hmap_del(&m, "x", 1));
	for (intptr_t i = 1; i <= 1000; i++) {
		int len = snprintf(key, sizeof(key), "k%ld", (long)i);

		assert_int_equal(hmap_put(&m, key, (size_t)len, (void *)i), 0);
	}
	assert_int_equal(m.count, 1000);
	for (intptr_t i = 1; i <= 1000; i++) {
		int len = snprintf(key, sizeof(key), "k%ld", (long)i);

		assert_int_equal((intptr_t)hmap_get(&m, key, (size_t)len), i);
	}
	assert_int_equal(hmap_put(&m, "k5", 2, (void *)7), 0); /* replace */
	assert_int_equal(m.count, 1000);
	assert_int_equal((intptr_t)hmap_get(&m, "k5", 2), 7);
	assert_int_equal((intptr_t)hmap_del(&m, "k5", 2), 7);
	assert_null(hmap_get(&m, "k5", 2));
	hmap_each(&m, count_one, &n);
	assert_int_equal(n, 999);
	/* Keys are bytes: a prefix is another key. */
	assert_null(hmap_get(&m, "k1", 1));
	hmap_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_del_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

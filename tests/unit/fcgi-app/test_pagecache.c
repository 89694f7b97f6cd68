/* test_pagecache.c -- tests fcgi-app/pagecache.c: version, age and bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pagecache.h"

static void test_hit_within_ttl_same_version(void **state)
{
	struct pagecache pc;
	size_t len = 0;
	const char *b;

	(void)state;
	pagecache_init(&pc, 1000);
	assert_null(pagecache_get(&pc, 50, 0, "v1", 100, &len));
	pagecache_put(&pc, 50, 0, "v1", 100, "{\"rooms\":[]}", 12);
	b = pagecache_get(&pc, 50, 0, "v1", 1099, &len);
	assert_non_null(b);
	assert_int_equal(len, 12);
	assert_memory_equal(b, "{\"rooms\":[]}", 12);
	/* Another page, another version, too old, or a clock that went back: miss. */
	assert_null(pagecache_get(&pc, 50, 10, "v1", 200, &len));
	assert_null(pagecache_get(&pc, 10, 0, "v1", 200, &len));
	assert_null(pagecache_get(&pc, 50, 0, "v2", 200, &len));
	assert_null(pagecache_get(&pc, 50, 0, "v1", 1100, &len));
	assert_null(pagecache_get(&pc, 50, 0, "v1", 99, &len));
	assert_null(pagecache_get(&pc, 50, 0, NULL, 200, &len));
	pagecache_free(&pc);
}

static void test_off_stores_nothing(void **state)
{
	struct pagecache pc;
	size_t len;

	(void)state;
	pagecache_init(&pc, 0);
	pagecache_put(&pc, 50, 0, "v1", 100, "x", 1);
	assert_null(pagecache_get(&pc, 50, 0, "v1", 100, &len));
	for (int i = 0; i < PAGECACHE_SLOTS; i++)
		assert_null(pc.slot[i].body);
	pagecache_free(&pc);
}

/* A page replaces its own slot; past PAGECACHE_SLOTS pages the oldest goes. */
static void test_bounded_oldest_replaced(void **state)
{
	struct pagecache pc;
	size_t len;
	const char *b;

	(void)state;
	pagecache_init(&pc, 100000);
	pagecache_put(&pc, 50, 0, "v1", 10, "old", 3);
	pagecache_put(&pc, 50, 0, "v2", 20, "new", 3);
	b = pagecache_get(&pc, 50, 0, "v2", 30, &len);
	assert_non_null(b);
	assert_memory_equal(b, "new", 3);
	for (long off = 1; off <= PAGECACHE_SLOTS; off++)
		pagecache_put(&pc, 50, off, "v2", 20 + off, "p", 1);
	/* The (50, 0) page was the oldest: it is gone, the others stay. */
	assert_null(pagecache_get(&pc, 50, 0, "v2", 40, &len));
	for (long off = 1; off <= PAGECACHE_SLOTS; off++)
		assert_non_null(pagecache_get(&pc, 50, off, "v2", 40, &len));
	pagecache_free(&pc);
}

static void test_long_version_not_stored(void **state)
{
	struct pagecache pc;
	char v[PAGECACHE_VERSION_MAX + 1];
	size_t len;

	(void)state;
	memset(v, 'x', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	pagecache_init(&pc, 1000);
	pagecache_put(&pc, 50, 0, v, 10, "x", 1);
	assert_null(pagecache_get(&pc, 50, 0, v, 10, &len));
	pagecache_free(&pc);
}

/* An empty version (one that did not fit) is never stored nor matched: two users would share it. */
static void test_empty_version_off(void **state)
{
	struct pagecache pc;
	size_t len;

	(void)state;
	pagecache_init(&pc, 100000);
	pagecache_put(&pc, 50, 0, "", 10, "alice's", 7);
	assert_null(pagecache_get(&pc, 50, 0, "", 20, &len));
	for (int i = 0; i < PAGECACHE_SLOTS; i++)
		assert_null(pc.slot[i].body);
	/* Versions that differ only in the user (db.c DB_AUTH) do not match. */
	pagecache_put(&pc, 50, 0, "u1/2026-01-01/3.7", 10, "u1's", 4);
	assert_null(pagecache_get(&pc, 50, 0, "u2/2026-01-01/3.7", 20, &len));
	assert_non_null(pagecache_get(&pc, 50, 0, "u1/2026-01-01/3.7", 20, &len));
	pagecache_free(&pc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_within_ttl_same_version),
		cmocka_unit_test(test_off_stores_nothing),
		cmocka_unit_test(test_bounded_oldest_replaced),
		cmocka_unit_test(test_long_version_not_stored),
		cmocka_unit_test(test_empty_version_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

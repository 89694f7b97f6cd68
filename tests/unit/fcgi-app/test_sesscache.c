/* test_sesscache.c -- tests fcgi-app/sesscache.c: validity, invalidation, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sesscache.h"

/* A token hash literal made from n ("\x" and 64 hex digits). */
static void key_of(unsigned long n, const char *salt, char out[SESSCACHE_KEY_MAX])
{
	snprintf(out, SESSCACHE_KEY_MAX, "\\x%s%056lx", salt, n);
}

static enum sesscache_result get(struct sesscache *c, const char *key, int64_t now_ms,
				 int64_t now_s)
{
	const struct sesscache_entry *e;

	return sesscache_get(c, key, now_ms, now_s, &e);
}

static void test_valid_until_ttl_or_expiry(void **state)
{
	struct sesscache c;
	const struct sesscache_entry *e;
	char k[SESSCACHE_KEY_MAX];

	(void)state;
	assert_int_equal(sesscache_init(&c, 2000), 0);
	key_of(1, "aaaaaaaa", k);
	assert_int_equal(get(&c, k, 100, 1000), SESSCACHE_MISS);
	sesscache_put(&c, k, "user-1", 1010, 100);
	assert_int_equal(sesscache_get(&c, k, 2099, 1009, &e), SESSCACHE_VALID);
	assert_string_equal(e->user_id, "user-1");
	assert_int_equal(e->expires_s, 1010);
	/* Older than the time limit, a clock that went back, an expired session: ask again. */
	assert_int_equal(get(&c, k, 2100, 1009), SESSCACHE_MISS);
	sesscache_put(&c, k, "user-1", 1010, 100);
	assert_int_equal(get(&c, k, 99, 1009), SESSCACHE_MISS);
	sesscache_put(&c, k, "user-1", 1010, 100);
	assert_int_equal(get(&c, k, 200, 1010), SESSCACHE_MISS);
	/* Once asked again, the stale entry is gone for good. */
	assert_int_equal(get(&c, k, 200, 1000), SESSCACHE_MISS);
	sesscache_free(&c);
}

static void test_off_remembers_nothing(void **state)
{
	struct sesscache c;
	char k[SESSCACHE_KEY_MAX];

	(void)state;
	assert_int_equal(sesscache_init(&c, 0), 0);
	key_of(1, "aaaaaaaa", k);
	sesscache_put(&c, k, "user-1", 1010, 100);
	sesscache_put_refused(&c, k, 100);
	assert_int_equal(get(&c, k, 100, 1000), SESSCACHE_MISS);
	sesscache_notify(&c, "s:user-1");
	sesscache_notify(&c, "garbage");
	sesscache_free(&c);
}

static void test_user_notification_invalidates_every_session_of_user(void **state)
{
	struct sesscache c;
	char k1[SESSCACHE_KEY_MAX], k2[SESSCACHE_KEY_MAX], k3[SESSCACHE_KEY_MAX];

	(void)state;
	assert_int_equal(sesscache_init(&c, 60000), 0);
	key_of(1, "aaaaaaaa", k1);
	key_of(2, "aaaaaaaa", k2);
	key_of(3, "aaaaaaaa", k3);
	sesscache_put(&c, k1, "alice", 5000, 10);
	sesscache_put(&c, k2, "alice", 5000, 10);
	sesscache_put(&c, k3, "bob", 5000, 10);
	sesscache_notify(&c, "s:alice");
	assert_int_equal(get(&c, k1, 20, 1000), SESSCACHE_MISS);
	assert_int_equal(get(&c, k2, 20, 1000), SESSCACHE_MISS);
	/* A session checked after the notification is good again. */
	sesscache_put(&c, k1, "alice", 5000, 30);
	assert_int_equal(get(&c, k1, 40, 1000), SESSCACHE_VALID);
	/* Rights ('u') and an empty-everything ('x') or unreadable notification. */
	sesscache_notify(&c, "u:alice");
	assert_int_equal(get(&c, k1, 40, 1000), SESSCACHE_MISS);
	sesscache_put(&c, k1, "alice", 5000, 50);
	sesscache_notify(&c, "x:");
	assert_int_equal(get(&c, k1, 60, 1000), SESSCACHE_MISS);
	assert_int_equal(get(&c, k3, 60, 1000), SESSCACHE_MISS);
	sesscache_put(&c, k1, "alice", 5000, 70);
	sesscache_notify(&c, "");
	assert_int_equal(get(&c, k1, 80, 1000), SESSCACHE_MISS);
	sesscache_put(&c, k1, "alice", 5000, 90);
	sesscache_notify(&c, "zz");
	assert_int_equal(get(&c, k1, 100, 1000), SESSCACHE_MISS);
	sesscache_free(&c);
}

static void test_refusals_forgotten_on_rights_change(void **state)
{
	struct sesscache c;
	char k[SESSCACHE_KEY_MAX];

	(void)state;
	assert_int_equal(sesscache_init(&c, 60000), 0);
	key_of(7, "bbbbbbbb", k);
	sesscache_put_refused(&c, k, 10);
	assert_int_equal(get(&c, k, 20, 1000), SESSCACHE_REFUSED);
	/* A logout does not make a refused token good: still refused. */
	sesscache_notify(&c, "s:somebody");
	assert_int_equal(get(&c, k, 20, 1000), SESSCACHE_REFUSED);
	/* An unban may: every refusal is asked again. */
	sesscache_notify(&c, "u:somebody");
	assert_int_equal(get(&c, k, 20, 1000), SESSCACHE_MISS);
	/* And the time limit bounds a refusal too. */
	sesscache_put_refused(&c, k, 10);
	assert_int_equal(get(&c, k, 60010, 1000), SESSCACHE_MISS);
	sesscache_free(&c);
}

/*
 * A flood of distinct random tokens (what an attacker can send) fills only
 * the refusals: every valid session stays, so that valid users keep being
 * answered without PostgreSQL.
 */
static void test_random_tokens_never_evict_sessions(void **state)
{
	struct sesscache c;
	char k[SESSCACHE_KEY_MAX];
	const int valid = SESSCACHE_SETS / 4; /* no set of ways overflows */

	(void)state;
	assert_int_equal(sesscache_init(&c, 60000), 0);
	for (int i = 0; i < valid; i++) {
		key_of((unsigned long)i, "cccccccc", k);
		sesscache_put(&c, k, "user", 5000, 10);
	}
	for (unsigned long i = 0; i < 100000; i++) {
		key_of(i, "dddddddd", k);
		assert_int_equal(get(&c, k, 20, 1000), SESSCACHE_MISS);
		sesscache_put_refused(&c, k, 20);
	}
	assert_int_equal(c.evictions, 0);
	for (int i = 0; i < valid; i++) {
		key_of((unsigned long)i, "cccccccc", k);
		assert_int_equal(get(&c, k, 30, 1000), SESSCACHE_VALID);
	}
	/* The newest refusals are still there; the table did not grow. */
	key_of(99999, "dddddddd", k);
	assert_int_equal(get(&c, k, 30, 1000), SESSCACHE_REFUSED);
	sesscache_free(&c);
}

/* More sessions than the table holds: bounded, the least recently checked go. */
static void test_bounded_least_recent_replaced(void **state)
{
	struct sesscache c;
	char k[SESSCACHE_KEY_MAX];
	const unsigned long n = 4UL * SESSCACHE_SETS * SESSCACHE_WAYS;
	int valid = 0;

	(void)state;
	assert_int_equal(sesscache_init(&c, 60000), 0);
	for (unsigned long i = 0; i < n; i++) {
		key_of(i, "eeeeeeee", k);
		sesscache_put(&c, k, "user", 5000, (int64_t)(10 + i));
	}
	for (unsigned long i = 0; i < n; i++) {
		key_of(i, "eeeeeeee", k);
		valid += get(&c, k, (int64_t)(10 + n), 1000) == SESSCACHE_VALID;
	}
	assert_true(valid <= SESSCACHE_SETS * SESSCACHE_WAYS);
	assert_true(c.evictions >= n - SESSCACHE_SETS * SESSCACHE_WAYS);
	/* The newest one is always kept. */
	key_of(n - 1, "eeeeeeee", k);
	sesscache_put(&c, k, "user", 5000, (int64_t)(20 + n));
	assert_int_equal(get(&c, k, (int64_t)(20 + n), 1000), SESSCACHE_VALID);
	sesscache_free(&c);
}

static void test_rooms_version_moves_with_its_notifications(void **state)
{
	struct sesscache c;
	char v0[160], v1[160], v2[160], other[160];

	(void)state;
	assert_int_equal(sesscache_init(&c, 0),
			 0); /* the room lists do not need the session cache */
	sesscache_rooms_version(&c, "alice", v0, sizeof(v0));
	sesscache_rooms_version(&c, "bob", other, sizeof(other));
	assert_string_not_equal(v0, other);
	sesscache_notify(&c, "s:alice"); /* a session: not the room list */
	sesscache_rooms_version(&c, "alice", v1, sizeof(v1));
	assert_string_equal(v0, v1);
	sesscache_notify(&c, "r:alice");
	sesscache_rooms_version(&c, "alice", v1, sizeof(v1));
	assert_string_not_equal(v0, v1);
	sesscache_notify(&c, "g:");
	sesscache_rooms_version(&c, "alice", v2, sizeof(v2));
	assert_string_not_equal(v1, v2);
	sesscache_clear(&c);
	sesscache_rooms_version(&c, "alice", v0, sizeof(v0));
	assert_string_not_equal(v0, v2);
	sesscache_free(&c);
}

static void test_too_long_not_remembered(void **state)
{
	struct sesscache c;
	char k[SESSCACHE_KEY_MAX], user[SESSCACHE_USER_MAX + 1];

	(void)state;
	assert_int_equal(sesscache_init(&c, 60000), 0);
	memset(user, 'u', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	key_of(1, "ffffffff", k);
	sesscache_put(&c, k, user, 5000, 10);
	assert_int_equal(get(&c, k, 20, 1000), SESSCACHE_MISS);
	sesscache_put(&c, "", "user", 5000, 10);
	assert_int_equal(get(&c, "", 20, 1000), SESSCACHE_MISS);
	sesscache_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_until_ttl_or_expiry),
		cmocka_unit_test(test_off_remembers_nothing),
		cmocka_unit_test(test_user_notification_invalidates_every_session_of_user),
		cmocka_unit_test(test_refusals_forgotten_on_rights_change),
		cmocka_unit_test(test_random_tokens_never_evict_sessions),
		cmocka_unit_test(test_bounded_least_recent_replaced),
		cmocka_unit_test(test_rooms_version_moves_with_its_notifications),
		cmocka_unit_test(test_too_long_not_remembered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

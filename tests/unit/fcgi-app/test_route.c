/* test_route.c -- tests fcgi-app/route.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static void test_routes(void **state)
{
	struct route_match m;

	(void)state;
	assert_int_equal(route_find("/api/health", &m), ROUTE_HEALTH);
	assert_int_equal(route_find("/api/join", &m), ROUTE_JOIN);
	assert_int_equal(route_find("/api/session", &m), ROUTE_SESSION);
	assert_int_equal(route_find("/api/me", &m), ROUTE_ME);
	assert_int_equal(route_find("/api/me/password", &m), ROUTE_ME_PASSWORD);
	assert_int_equal(route_find("/api/register", &m), ROUTE_REGISTER);
	assert_int_equal(route_find("/api/login", &m), ROUTE_LOGIN);
	assert_int_equal(route_find("/api/metrics", &m), ROUTE_METRICS);
	assert_int_equal(route_find("/api/rooms", &m), ROUTE_ROOMS);
	assert_int_equal(route_find("/api/rooms/general", &m), ROUTE_ROOM);
	assert_int_equal(m.param_len, 7);
	assert_memory_equal(m.param, "general", 7);
	assert_int_equal(route_find("/api/messages/abc-1", &m), ROUTE_MESSAGES);
	assert_int_equal(route_find("/api/users/x", &m), ROUTE_USERS);
	assert_int_equal(route_find("/api/dm", &m), ROUTE_DM);
	assert_int_equal(route_find("/api/rooms/r1/members", &m), ROUTE_ROOM_MEMBERS);
	assert_int_equal(m.param_len, 2);
	assert_memory_equal(m.param, "r1", 2);
	assert_null(m.param2);
	assert_int_equal(route_find("/api/rooms/r1/members/u-22", &m), ROUTE_ROOM_MEMBER);
	assert_memory_equal(m.param, "r1", 2);
	assert_int_equal(m.param2_len, 4);
	assert_memory_equal(m.param2, "u-22", 4);
	assert_int_equal(route_find("/api/messages/r1/42", &m), ROUTE_MESSAGE);
	assert_int_equal(m.param_len, 2);
	assert_memory_equal(m.param, "r1", 2);
	assert_int_equal(m.param2_len, 2);
	assert_memory_equal(m.param2, "42", 2);
	assert_int_equal(route_find("/api/rooms/r1/read", &m), ROUTE_ROOM_READ);
	assert_int_equal(m.param_len, 2);
	assert_memory_equal(m.param, "r1", 2);
	assert_int_equal(route_find("/api/rooms/r1/reads", &m), ROUTE_ROOM_READS);
	assert_memory_equal(m.param, "r1", 2);
	assert_int_equal(route_find("/api/messages/abc-1/search", &m), ROUTE_SEARCH);
	assert_int_equal(m.param_len, 5);
	assert_memory_equal(m.param, "abc-1", 5);
	assert_int_equal(route_find("/api/messages/r1/changes", &m), ROUTE_CHANGES);
	assert_int_equal(m.param_len, 2);
	assert_memory_equal(m.param, "r1", 2);
	assert_null(m.param2);
}

static void test_not_routes(void **state)
{
	struct route_match m;
	const char *bad[] = { NULL,
			      "",
			      "/",
			      "/api",
			      "/api/",
			      "/api/healthz",
			      "/api/health/",
			      "/api/rooms/",
			      "/api/rooms/a/b",
			      "/api/messages/",
			      "/api/mee",
			      "/API/health",
			      "/api/rooms//x",
			      "/api/users",
			      "/api/dm/",
			      "/api/rooms//members",
			      "/api/rooms/r1/members/",
			      "/api/rooms/r1/membersx",
			      "/api/rooms/r1/members/u/x",
			      "/api/rooms/r1/members//",
			      "/api/rooms/r1/x/members",
			      "/api/messages//1",
			      "/api/messages/r1/",
			      "/api/messages/r1/1/",
			      "/api/messages/r1/1/x",
			      "/api/messages/r1//",
			      "/api/rooms//read",
			      "/api/rooms/r1/read/",
			      "/api/rooms/r1/readx",
			      "/api/rooms/r1/reads/x",
			      "/api/messages/r1/search/",
			      "/api/messages//search",
			      "/api/rooms/r1/search",
			      "/api/messages//changes",
			      "/api/messages/r1/changes/",
			      "/api/messages/r1/changes/x",
			      "/api/messages/r1/changesx/1" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(route_find(bad[i], &m), ROUTE_NONE);
		assert_null(m.param);
		assert_null(m.param2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_not_routes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

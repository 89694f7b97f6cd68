/* test_session.c -- tests ws-bridge/session.c: the accessors of a session's member. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"

/* A connection whose session_open() failed has no state: callers get NULL and "". */
static void test_without_session_state(void **state)
{
	struct conn c = { 0 };

	(void)state;
	assert_null(session_member(&c));
	assert_string_equal(session_user(&c), "");
	assert_null(room_sub_of(session_member(&c), "r"));
	session_close(&c); /* nothing to free */
	assert_null(c.up);
}

static void test_member_of_session(void **state)
{
	struct conn c = { 0 };
	struct session s = { 0 };

	(void)state;
	s.member.conn = &c;
	c.up = &s;
	assert_ptr_equal(session_member(&c), &s.member);
	assert_string_equal(session_user(&c), ""); /* not READY yet */
	snprintf(s.member.user_id, sizeof(s.member.user_id), "%s", "alice");
	assert_string_equal(session_user(&c), "alice");
	assert_ptr_equal(session_member(&c)->conn, &c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_without_session_state),
		cmocka_unit_test(test_member_of_session),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

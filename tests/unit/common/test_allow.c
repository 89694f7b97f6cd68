/* test_allow.c -- tests common/allow.c (CHAT_METRICS_ALLOW). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "allow.h"
#include "cfg.h"

static void parse_ok(struct allow *a, const char *list)
{
	char err[160];

	assert_int_equal(allow_parse(a, list, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void parse_fails(const char *list, const char *want)
{
	struct allow a;
	char err[160];

	assert_int_equal(allow_parse(&a, list, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("'%s': got '%s', want '%s'", list, err, want);
}

static void test_default_is_loopback(void **state)
{
	struct allow a;

	(void)state;
	parse_ok(&a, CFG_METRICS_ALLOW);
	assert_true(allow_match(&a, "127.0.0.1"));
	assert_true(allow_match(&a, "127.255.0.9"));
	assert_true(allow_match(&a, "::1"));
	assert_true(allow_match(&a, "::ffff:127.0.0.1"));
	assert_false(allow_match(&a, "128.0.0.1"));
	assert_false(allow_match(&a, "10.0.0.1"));
	assert_false(allow_match(&a, "::2"));
	assert_false(allow_match(&a, "::ffff:10.0.0.1"));
	/* Not addresses: a unix socket peer, nothing, garbage. */
	assert_false(allow_match(&a, ""));
	assert_false(allow_match(&a, NULL));
	assert_false(allow_match(&a, "localhost"));
	assert_false(allow_match(&a, "127.0.0.1 "));
}

static void test_networks(void **state)
{
	struct allow a;

	(void)state;
	parse_ok(&a, " 10.1.2.0/23,2001:db8:ab00::/40  192.0.2.7\t198.51.100.9/32,");
	assert_int_equal(a.n, 4);
	assert_true(allow_match(&a, "10.1.2.0"));
	assert_true(allow_match(&a, "10.1.3.255"));
	assert_false(allow_match(&a, "10.1.4.0"));
	assert_false(allow_match(&a, "10.1.1.255"));
	assert_true(allow_match(&a, "2001:db8:abff::1"));
	assert_false(allow_match(&a, "2001:db8:ac00::1"));
	assert_true(allow_match(&a, "192.0.2.7"));
	assert_false(allow_match(&a, "192.0.2.8"));
	assert_true(allow_match(&a, "198.51.100.9"));
	/* Host bits past the prefix are ignored, as nginx's allow does. */
	parse_ok(&a, "10.9.9.9/8");
	assert_true(allow_match(&a, "10.200.0.1"));
	/* /0: everyone of the family (IPv4 here, IPv6 then). */
	parse_ok(&a, "0.0.0.0/0");
	assert_true(allow_match(&a, "203.0.113.1"));
	assert_false(allow_match(&a, "2001:db8::1"));
	parse_ok(&a, "::/0");
	assert_true(allow_match(&a, "2001:db8::1"));
	/* An IPv4 network given in IPv6 form covers the IPv4 addresses. */
	parse_ok(&a, "::ffff:10.0.0.0/104");
	assert_true(allow_match(&a, "10.3.4.5"));
	assert_false(allow_match(&a, "11.3.4.5"));
}

static void test_refusals(void **state)
{
	char many[64 * 12] = "";

	(void)state;
	parse_fails("", "no address");
	parse_fails(" , ,", "no address");
	parse_fails(NULL, "no address");
	parse_fails("foo", "'foo' is not an IPv4 or IPv6 address");
	parse_fails("127.0.0.1,foo", "'foo'");
	parse_fails("10.0.0.0/33", "from 0 to 32");
	parse_fails("::/129", "from 0 to 128");
	parse_fails("10.0.0.0/", "from 0 to 32");
	parse_fails("10.0.0.0/x", "from 0 to 32");
	parse_fails("10.0.0.0/-1", "from 0 to 32");
	parse_fails("10.0.0.0/ 8", "from 0 to 32");
	parse_fails("10.0.0.0/8/8", "from 0 to 32");
	parse_fails("127.0.0.1:9000", "not an IPv4 or IPv6");
	parse_fails("[::1]", "not an IPv4 or IPv6");
	parse_fails("256.0.0.1", "not an IPv4 or IPv6");
	parse_fails("10.0.0.0/8;rm", "from 0 to 32");
	parse_fails(
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		"is not an IPv4");
	for (int i = 0; i <= ALLOW_MAX; i++) {
		char one[32];

		snprintf(one, sizeof(one), "10.0.0.%d,", i);
		memcpy(many + strlen(many), one, strlen(one) + 1);
	}
	parse_fails(many, "more than 32 entries");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_is_loopback),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

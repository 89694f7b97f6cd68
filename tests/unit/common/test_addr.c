/* test_addr.c -- tests common/addr.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"

static void key_is(const char *ip, const char *want)
{
	char out[ADDR_KEY_MAX];

	assert_int_equal(addr_key(ip, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void key_fails(const char *ip)
{
	char out[ADDR_KEY_MAX] = "x";

	assert_int_equal(addr_key(ip, out, sizeof(out)), -1);
	assert_string_equal(out, "");
}

static void test_key_ipv4(void **state)
{
	(void)state;
	key_is("203.0.113.7", "203.0.113.7");
	key_is("127.0.0.1", "127.0.0.1");
	/* An IPv4-mapped IPv6 address is the IPv4 host, not a /64. */
	key_is("::ffff:203.0.113.7", "203.0.113.7");
	key_is("::FFFF:cb00:7107", "203.0.113.7");
}

static void test_key_ipv6_is_its_64(void **state)
{
	(void)state;
	key_is("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64");
	key_is("2001:db8:1:2::ffff", "2001:db8:1:2::/64");
	key_is("2001:DB8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64");
	key_is("2001:db8:1:3::1", "2001:db8:1:3::/64");
	key_is("::1", "::/64");
	key_is("fe80::1", "fe80::/64");
	key_is("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:ffff:ffff::/64");
}

static void test_key_refuses_non_addresses(void **state)
{
	char small[8];

	(void)state;
	key_fails("");
	key_fails(NULL);
	key_fails("unknown");
	key_fails("203.0.113.7:443");
	key_fails("[2001:db8::1]");
	key_fails(" 203.0.113.7");
	key_fails("203.0.113.256");
	key_fails("2001:db8::1%eth0");
	key_fails("2001:db8::1/64");
	key_fails("1.2.3.4, 5.6.7.8");
	/* Longer than any address. */
	key_fails(
		"0000000000000000000000000000000000000000000000000000000000000000000000001.2.3.4");
	/* Does not fit the caller's buffer. */
	assert_int_equal(addr_key("203.0.113.7", small, sizeof(small)), -1);
}

static void test_peer_trusted(void **state)
{
	(void)state;
	assert_true(addr_peer_trusted("127.0.0.1"));
	assert_true(addr_peer_trusted("127.1.2.3"));
	assert_true(addr_peer_trusted("::1"));
	assert_true(addr_peer_trusted("::ffff:127.0.0.1"));
	assert_true(addr_peer_trusted(""));
	assert_true(addr_peer_trusted(NULL));
	assert_false(addr_peer_trusted("10.0.0.1"));
	assert_false(addr_peer_trusted("128.0.0.1"));
	assert_false(addr_peer_trusted("::2"));
	assert_false(addr_peer_trusted("2001:db8::1"));
	assert_false(addr_peer_trusted("::ffff:10.0.0.1"));
	assert_false(addr_peer_trusted("localhost"));
}

static void test_xff_last(void **state)
{
	char out[64], tiny[4];

	(void)state;
	assert_int_equal(addr_xff_last("1.1.1.1", out, sizeof(out)), 0);
	assert_string_equal(out, "1.1.1.1");
	assert_int_equal(addr_xff_last("9.9.9.9, 8.8.8.8,  203.0.113.7 ", out, sizeof(out)), 0);
	assert_string_equal(out, "203.0.113.7");
	assert_int_equal(addr_xff_last("1.1.1.1,", out, sizeof(out)), -1);
	assert_int_equal(addr_xff_last("", out, sizeof(out)), -1);
	assert_int_equal(addr_xff_last(NULL, out, sizeof(out)), -1);
	assert_int_equal(addr_xff_last("203.0.113.7", tiny, sizeof(tiny)), -1);
	assert_string_equal(tiny, "");
}

static void client_is(const char *peer, const char *real_ip, const char *xff, const char *want)
{
	char out[ADDR_KEY_MAX];

	addr_client(peer, real_ip, xff, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_client(void **state)
{
	char longxff[2048];
	size_t n = 0;

	(void)state;
	/* X-Real-IP from the proxy wins over X-Forwarded-For. */
	client_is("127.0.0.1", "203.0.113.7", "1.1.1.1, 198.51.100.1", "203.0.113.7");
	client_is("127.0.0.1", "2001:db8:1:2::77", NULL, "2001:db8:1:2::/64");
	/* Without X-Real-IP: the last X-Forwarded-For hop. */
	client_is("127.0.0.1", NULL, "1.1.1.1, 198.51.100.1", "198.51.100.1");
	/* A long X-Forwarded-For still gives its last hop, not the proxy. */
	while (n + 16 < sizeof(longxff) - 32)
		n += (size_t)snprintf(longxff + n, sizeof(longxff) - n, "10.%u.%u.1, ",
				      (unsigned)(n % 200), (unsigned)(n % 250));
	snprintf(longxff + n, sizeof(longxff) - n, "198.51.100.9");
	client_is("127.0.0.1", NULL, longxff, "198.51.100.9");
	/* Garbage headers: the peer. */
	client_is("127.0.0.1", "not-an-ip", "also, garbage", "127.0.0.1");
	client_is("127.0.0.1", "", "", "127.0.0.1");
	/* An untrusted peer's headers are not believed. */
	client_is("192.0.2.5", "203.0.113.7", "203.0.113.8", "192.0.2.5");
	client_is("2001:db8:9:9::5", "203.0.113.7", NULL, "2001:db8:9:9::/64");
	/* A unix socket (no peer address) is the proxy. */
	client_is("", "203.0.113.7", NULL, "203.0.113.7");
	client_is("", NULL, NULL, "local");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_ipv4),
		cmocka_unit_test(test_key_ipv6_is_its_64),
		cmocka_unit_test(test_key_refuses_non_addresses),
		cmocka_unit_test(test_peer_trusted),
		cmocka_unit_test(test_xff_last),
		cmocka_unit_test(test_client),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

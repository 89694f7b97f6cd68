/* test_jwtauth.c -- unit tests of common/jwtauth.c (site-minted HS256 tokens). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "jwtauth.h"

#define SECRET "0123456789abcdef0123456789abcdef-test"
#define NOW 1800000000.0
#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define CLAIMS "{\"sub\":\"site-42\",\"name\":\"alice\",\"exp\":1800000600}"

static size_t b64url(const unsigned char *in, size_t len, char *out)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = 0, i;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned long v =
			(unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];

		out[n++] = abc[v >> 18 & 63];
		out[n++] = abc[v >> 12 & 63];
		out[n++] = abc[v >> 6 & 63];
		out[n++] = abc[v & 63];
	}
	if (len - i == 1) {
		out[n++] = abc[in[i] >> 2];
		out[n++] = abc[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		unsigned long v = (unsigned long)in[i] << 8 | in[i + 1];

		out[n++] = abc[v >> 10 & 63];
		out[n++] = abc[v >> 4 & 63];
		out[n++] = abc[(v & 15) << 2];
	}
	out[n] = '\0';
	return n;
}

/* Mints header.payload.signature into out (HMAC-SHA256 with key). */
static void mint(const char *key, const char *header, const char *payload, char *out, size_t cap)
{
	char *h = malloc(strlen(header) * 2 + 4), *p = malloc(strlen(payload) * 2 + 4);
	unsigned char mac[32];
	unsigned int maclen = 0;
	char sig[64];
	int n;

	assert_non_null(h);
	assert_non_null(p);
	b64url((const unsigned char *)header, strlen(header), h);
	b64url((const unsigned char *)payload, strlen(payload), p);
	n = snprintf(out, cap, "%s.%s", h, p);
	assert_true(n > 0 && (size_t)n < cap);
	assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)out,
			     (size_t)n, mac, &maclen));
	b64url(mac, maclen, sig);
	snprintf(out + n, cap - (size_t)n, ".%s", sig);
	free(h);
	free(p);
}

static enum jwtauth_result check(const char *tok, struct jwtauth_claims *c)
{
	return jwtauth_verify(SECRET, tok, strlen(tok), NOW, 32, c);
}

/* A payload signed with SECRET under HS256, and what verifying it gives. */
struct payload_case {
	const char *payload;
	enum jwtauth_result want;
};

static void check_cases(const struct payload_case *cases, size_t n)
{
	char tok[1024];
	struct jwtauth_claims c;

	for (size_t i = 0; i < n; i++) {
		mint(SECRET, HS256, cases[i].payload, tok, sizeof(tok));
		assert_int_equal(check(tok, &c), cases[i].want);
	}
}

static void test_good(void **state)
{
	char tok[1024];
	struct jwtauth_claims c;

	(void)state;
	mint(SECRET, HS256, CLAIMS, tok, sizeof(tok));
	assert_true(jwtauth_shaped(tok, strlen(tok)));
	assert_int_equal(check(tok, &c), JWTAUTH_OK);
	assert_string_equal(c.sub, "site-42");
	assert_string_equal(c.name, "alice");
	assert_true(c.exp == 1800000600.0);
	/* No typ is fine; a fractional exp is a NumericDate too. */
	mint(SECRET, "{\"alg\":\"HS256\"}",
	     "{\"sub\":\"x\",\"name\":\"bob\",\"exp\":1800000000.5,\"iat\":1}", tok, sizeof(tok));
	assert_int_equal(check(tok, &c), JWTAUTH_OK);
}

static void test_session_token_is_not_shaped(void **state)
{
	const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	(void)state;
	assert_false(jwtauth_shaped(hex, strlen(hex)));
	assert_false(jwtauth_shaped(NULL, 0));
}

static void test_other_algorithms(void **state)
{
	static const char *const headers[] = {
		"{\"alg\":\"none\"}",
		"{\"alg\":\"none\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS384\"}",
		"{\"alg\":\"RS256\"}",
		"{\"alg\":\"hs256\"}",
		"{\"typ\":\"JWT\"}",
		"{\"alg\":null}",
		"{\"alg\":[\"HS256\"]}",
		"{\"alg\":\"HS256\",\"alg\":\"none\"}",
		"{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}",
		"{\"alg\":\"HS256\",\"typ\":\"JWE\"}",
		"[\"HS256\"]",
		"not json",
	};
	char tok[1024];
	struct jwtauth_claims c;

	(void)state;
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		mint(SECRET, headers[i], CLAIMS, tok, sizeof(tok));
		assert_int_equal(check(tok, &c), JWTAUTH_INVALID);
		assert_string_equal(c.sub, "");
	}
}

static void test_alg_none_unsigned(void **state)
{
	char tok[1024];
	struct jwtauth_claims c;
	char *dot;

	(void)state;
	mint(SECRET, "{\"alg\":\"none\"}", CLAIMS, tok, sizeof(tok));
	dot = strrchr(tok, '.');
	dot[1] = '\0'; /* "h.p." as alg none sends it */
	assert_int_equal(check(tok, &c), JWTAUTH_INVALID);
	dot[0] = '\0'; /* "h.p" */
	assert_int_equal(check(tok, &c), JWTAUTH_INVALID);
}

static void test_bad_signature(void **state)
{
	char tok[1024], other[1100];
	struct jwtauth_claims c;
	char *dot;
	size_t len;

	(void)state;
	mint("another secret that is long enough!!", HS256, CLAIMS, tok, sizeof(tok));
	assert_int_equal(check(tok, &c), JWTAUTH_INVALID);
	/* The payload changed under the old signature. */
	mint(SECRET, HS256, CLAIMS, tok, sizeof(tok));
	mint(SECRET, HS256, "{\"sub\":\"site-1\",\"name\":\"root\",\"exp\":1800000600}", other,
	     sizeof(other));
	dot = strrchr(tok, '.');
	memcpy(strrchr(other, '.'), dot, strlen(dot) + 1);
	assert_int_equal(check(other, &c), JWTAUTH_INVALID);
	/* A flipped last character of the signature (also the non-canonical encodings). */
	len = strlen(tok);
	for (const char *s = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"; *s;
	     s++) {
		char save = tok[len - 1];

		if (*s == save)
			continue;
		tok[len - 1] = *s;
		assert_int_equal(check(tok, &c), JWTAUTH_INVALID);
		tok[len - 1] = save;
	}
	assert_int_equal(check(tok, &c), JWTAUTH_OK);
	/* Padding, a trailing dot, a fourth segment. */
	snprintf(other, sizeof(other), "%s=", tok);
	assert_int_equal(check(other, &c), JWTAUTH_INVALID);
	snprintf(other, sizeof(other), "%s.", tok);
	assert_int_equal(check(other, &c), JWTAUTH_INVALID);
	snprintf(other, sizeof(other), "%s.AAAA", tok);
	assert_int_equal(check(other, &c), JWTAUTH_INVALID);
	/* The right token with a weak or missing secret. */
	assert_int_equal(jwtauth_verify("short", tok, strlen(tok), NOW, 32, &c), JWTAUTH_INVALID);
	assert_int_equal(jwtauth_verify(NULL, tok, strlen(tok), NOW, 32, &c), JWTAUTH_INVALID);
}

static void test_exp(void **state)
{
	static const struct payload_case cases[] = {
		{ "{\"sub\":\"s\",\"name\":\"a\",\"exp\":1799999999}", JWTAUTH_EXPIRED },
		{ "{\"sub\":\"s\",\"name\":\"a\",\"exp\":1800000000}", JWTAUTH_EXPIRED },
		{ "{\"sub\":\"s\",\"name\":\"a\"}", JWTAUTH_INVALID },
		{ "{\"sub\":\"s\",\"name\":\"a\",\"exp\":\"1900000000\"}", JWTAUTH_INVALID },
		{ "{\"sub\":\"s\",\"name\":\"a\",\"exp\":null}", JWTAUTH_INVALID },
		{ "{\"sub\":\"s\",\"name\":\"a\",\"exp\":true}", JWTAUTH_INVALID },
		{ "{\"sub\":\"s\",\"name\":\"a\",\"exp\":1e999}", JWTAUTH_INVALID },
		{ "{\"sub\":\"s\",\"name\":\"a\",\"exp\":1900000000,\"nbf\":1800000100}",
		  JWTAUTH_EXPIRED },
		{ "{\"sub\":\"s\",\"name\":\"a\",\"exp\":1900000000,\"nbf\":\"0\"}",
		  JWTAUTH_INVALID },
		{ "{\"sub\":\"s\",\"name\":\"a\",\"exp\":1900000000,\"nbf\":1700000000}",
		  JWTAUTH_OK },
	};

	(void)state;
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_claims(void **state)
{
	static const struct payload_case cases[] = {
		{ "{\"name\":\"a\",\"exp\":1900000000}", JWTAUTH_INVALID },
		{ "{\"sub\":42,\"name\":\"a\",\"exp\":1900000000}", JWTAUTH_INVALID },
		{ "{\"sub\":\"\",\"name\":\"a\",\"exp\":1900000000}", JWTAUTH_INVALID },
		{ "{\"sub\":\"a\\nb\",\"name\":\"a\",\"exp\":1900000000}", JWTAUTH_INVALID },
		{ "{\"sub\":\"a\\u0000b\",\"name\":\"a\",\"exp\":1900000000}", JWTAUTH_INVALID },
		{ "{\"sub\":\"s\",\"exp\":1900000000}", JWTAUTH_INVALID },
		{ "{\"sub\":\"s\",\"name\":7,\"exp\":1900000000}", JWTAUTH_INVALID },
		{ "{\"sub\":\"s\",\"name\":[\"a\"],\"exp\":1900000000}", JWTAUTH_INVALID },
		{ "{\"sub\":\"s\",\"name\":\"\",\"exp\":1900000000}", JWTAUTH_BAD_NAME },
		{ "{\"sub\":\"s\",\"name\":\"a b\",\"exp\":1900000000}", JWTAUTH_BAD_NAME },
		{ "{\"sub\":\"s\",\"name\":\"x'; DROP TABLE users;--\",\"exp\":1900000000}",
		  JWTAUTH_BAD_NAME },
		{ "{\"sub\":\"s\",\"name\":\"\xc3\xa9t\xc3\xa9\",\"exp\":1900000000}",
		  JWTAUTH_BAD_NAME },
		{ "{\"sub\":\"s\",\"name\":\"abcdefghijabcdefghijabcdefghijabc\",\"exp\":1900000000}",
		  JWTAUTH_BAD_NAME },
		{ "{\"sub\":\"s\",\"sub\":\"t\",\"name\":\"a\",\"exp\":1900000000}",
		  JWTAUTH_INVALID },
		{ "{\"sub\":\"x'; DROP TABLE users;--\",\"name\":\"a\",\"exp\":1900000000}",
		  JWTAUTH_OK },
		{ "[1,2]", JWTAUTH_INVALID },
	};

	(void)state;
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_invalid_utf8_payload(void **state)
{
	char tok[1024];
	struct jwtauth_claims c;

	(void)state;
	mint(SECRET, HS256, "{\"sub\":\"s\",\"name\":\"a\xff\",\"exp\":1900000000}", tok,
	     sizeof(tok));
	assert_int_equal(check(tok, &c), JWTAUTH_INVALID);
	mint(SECRET, HS256, "{\"sub\":\"\xc0\xaf\",\"name\":\"a\",\"exp\":1900000000}", tok,
	     sizeof(tok));
	assert_int_equal(check(tok, &c), JWTAUTH_INVALID);
}

static void test_size_bound(void **state)
{
	size_t big = 100 * 1024;
	char *payload = malloc(big + 128), *tok = malloc(big * 2 + 512);
	struct jwtauth_claims c;
	int n;

	(void)state;
	assert_non_null(payload);
	assert_non_null(tok);
	n = snprintf(payload, 64, "{\"sub\":\"s\",\"exp\":1900000000,\"name\":\"");
	memset(payload + n, 'a', big);
	memcpy(payload + n + big, "\"}", 3);
	mint(SECRET, HS256, payload, tok, big * 2 + 512);
	assert_true(strlen(tok) > JWTAUTH_MAX);
	assert_int_equal(check(tok, &c), JWTAUTH_INVALID);
	/* Garbage of every kind. */
	assert_int_equal(jwtauth_verify(SECRET, "", 0, NOW, 32, &c), JWTAUTH_INVALID);
	assert_int_equal(check("..", &c), JWTAUTH_INVALID);
	assert_int_equal(check("a.b.c", &c), JWTAUTH_INVALID);
	assert_int_equal(check("e30.e30.", &c), JWTAUTH_INVALID);
	assert_int_equal(check("e30.e30.e30", &c), JWTAUTH_INVALID);
	assert_int_equal(check("!!!.@@@.###", &c), JWTAUTH_INVALID);
	/* A NUL inside: the length says where the token ends, not the NUL. */
	mint(SECRET, HS256, CLAIMS, tok, big);
	n = (int)strlen(tok);
	tok[5] = '\0';
	assert_int_equal(jwtauth_verify(SECRET, tok, (size_t)n, NOW, 32, &c), JWTAUTH_INVALID);
	free(payload);
	free(tok);
}

static void test_secret_length(void **state)
{
	struct cfg c;
	char err[256];

	(void)state;
	setenv("CHAT_JWT_SECRET", "0123456789abcdef0123456789abcde", 1); /* 31 bytes */
	assert_int_equal(cfg_load(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CHAT_JWT_SECRET"));
	assert_null(strstr(err, "0123456789"));
	setenv("CHAT_JWT_SECRET", SECRET, 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.jwt_secret, SECRET);
	unsetenv("CHAT_JWT_SECRET");
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.jwt_secret, "");
}

static void test_origin_listed(void **state)
{
	const char *list = " https://a.example , http://B.example:8080,,";

	(void)state;
	assert_true(cfg_origin_listed(list, "https://a.example", 17));
	assert_true(cfg_origin_listed(list, "http://b.example:8080", 21));
	assert_false(cfg_origin_listed(list, "http://b.example", 16));
	assert_false(cfg_origin_listed(list, "https://a.example.evil", 22));
	assert_false(cfg_origin_listed(list, "", 0));
	assert_false(cfg_origin_listed("", "null", 4));
	assert_false(cfg_origin_listed("*", "https://a.example", 17));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_session_token_is_not_shaped),
		cmocka_unit_test(test_other_algorithms),
		cmocka_unit_test(test_alg_none_unsigned),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_exp),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_invalid_utf8_payload),
		cmocka_unit_test(test_size_bound),
		cmocka_unit_test(test_secret_length),
		cmocka_unit_test(test_origin_listed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

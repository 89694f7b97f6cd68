/* test_tok.c -- unit tests of common/tok.c (session tokens). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "tok.h"

#define GOOD "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define OTHER "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static void test_new_shape(void **state)
{
	char t[TOK_LEN + 1];

	(void)state;
	assert_int_equal(TOK_LEN, 64);
	memset(t, 'X', sizeof(t));
	assert_int_equal(tok_new(t), 0);
	assert_int_equal(strlen(t), TOK_LEN);
	for (size_t i = 0; i < TOK_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", t[i]));
	assert_true(tok_wellformed(t, strlen(t)));
}

static void test_new_unique(void **state)
{
	char a[TOK_LEN + 1], b[TOK_LEN + 1];

	(void)state;
	assert_int_equal(tok_new(a), 0);
	assert_int_equal(tok_new(b), 0);
	assert_string_not_equal(a, b);
	/* Not a constant pattern either: at least 8 distinct hex digits. */
	{
		int seen[16] = { 0 }, distinct = 0;

		for (size_t i = 0; i < TOK_LEN; i++) {
			int d = a[i] <= '9' ? a[i] - '0' : a[i] - 'a' + 10;

			if (!seen[d]++)
				distinct++;
		}
		assert_true(distinct >= 8);
	}
}

static void test_hash_known_vectors(void **state)
{
	char h[2 + TOK_HASH_HEX_LEN + 1];

	(void)state;
	assert_int_equal(tok_hash_bytea("abc", 3, h), 0);
	assert_string_equal(h,
			    "\\xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(tok_hash_bytea("", 0, h), 0);
	assert_string_equal(h,
			    "\\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* Only len bytes are hashed. */
	assert_int_equal(tok_hash_bytea("abcdef", 3, h), 0);
	assert_string_equal(h,
			    "\\xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hash_deterministic(void **state)
{
	char t[TOK_LEN + 1], h1[2 + TOK_HASH_HEX_LEN + 1], h2[2 + TOK_HASH_HEX_LEN + 1];
	char h3[2 + TOK_HASH_HEX_LEN + 1];

	(void)state;
	assert_int_equal(tok_new(t), 0);
	assert_int_equal(tok_hash_bytea(t, TOK_LEN, h1), 0);
	assert_int_equal(tok_hash_bytea(t, TOK_LEN, h2), 0);
	assert_string_equal(h1, h2);
	assert_int_equal(strlen(h1), 2 + TOK_HASH_HEX_LEN);
	assert_memory_equal(h1, "\\x", 2);
	/* The hash is not the token, and another token hashes differently. */
	assert_string_not_equal(h1 + 2, t);
	assert_int_equal(tok_hash_bytea(GOOD, TOK_LEN, h3), 0);
	assert_string_not_equal(h1, h3);
}

static void test_wellformed(void **state)
{
	char s[TOK_LEN + 2];

	(void)state;
	assert_true(tok_wellformed(GOOD, 64));
	assert_false(tok_wellformed(GOOD, 63));
	assert_false(tok_wellformed(GOOD "0", 65));
	assert_false(tok_wellformed("", 0));
	assert_false(tok_wellformed(NULL, 64));
	/* Uppercase hex and non-hex characters are refused at any position. */
	for (size_t pos = 0; pos < TOK_LEN; pos += 21) {
		static const char bad[] = { 'A', 'F', 'g', 'z', ' ', '\0', '%', '"', ';' };

		for (size_t k = 0; k < sizeof(bad); k++) {
			memcpy(s, GOOD, TOK_LEN);
			s[pos] = bad[k];
			assert_false(tok_wellformed(s, TOK_LEN));
		}
	}
}

/* Runs tok_from_authorization and returns the result; *out gets a copy. */
static enum tok_found auth(const char *hdr, char out[TOK_LEN + 1])
{
	const char *t = (const char *)1;
	size_t len = 99;
	enum tok_found r = tok_from_authorization(hdr, &t, &len);

	out[0] = '\0';
	if (r == TOK_FOUND) {
		assert_non_null(t);
		assert_int_equal(len, TOK_LEN);
		memcpy(out, t, len);
		out[len] = '\0';
	} else {
		assert_null(t);
		assert_int_equal(len, 0);
	}
	return r;
}

static void test_authorization_bearer(void **state)
{
	char t[TOK_LEN + 1];

	(void)state;
	assert_int_equal(auth("Bearer " GOOD, t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	/* The scheme is case-insensitive. */
	assert_int_equal(auth("bearer " GOOD, t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	assert_int_equal(auth("BEARER " GOOD, t), TOK_FOUND);
	assert_int_equal(auth("bEaReR " GOOD, t), TOK_FOUND);
	/* Extra spaces and tabs around the token are tolerated. */
	assert_int_equal(auth("Bearer    " GOOD, t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	assert_int_equal(auth("Bearer\t" GOOD "  ", t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	assert_int_equal(auth("Bearer " GOOD " \t", t), TOK_FOUND);
	assert_string_equal(t, GOOD);
}

static void test_authorization_absent(void **state)
{
	char t[TOK_LEN + 1];

	(void)state;
	assert_int_equal(auth(NULL, t), TOK_ABSENT);
	assert_int_equal(auth("", t), TOK_ABSENT);
}

static void test_authorization_malformed(void **state)
{
	static const char *const bad[] = {
		"Basic " GOOD,
		"Basic YWxpY2U6c2VjcmV0",
		"Bearer",
		"Bearer ",
		"Bearer    ",
		"Bearer" GOOD,
		"Bearer:" GOOD,
		"Bearer " GOOD "0",
		"Bearer " GOOD " " GOOD,
		"Bearer " GOOD ",",
		"Bearer abc",
		"Bearer garbage-token-value",
		"Bearer 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		"Bear " GOOD,
		"Bearerx " GOOD,
		" Bearer " GOOD,
		GOOD,
		"Token " GOOD,
		"Bearer \"" GOOD "\"",
	};
	char t[TOK_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (auth(bad[i], t) != TOK_MALFORMED)
			fail_msg("Authorization '%s' should be malformed", bad[i]);
}

/* Runs tok_from_cookie and returns the result; *out gets a copy. */
static enum tok_found cookie(const char *hdr, char out[TOK_LEN + 1])
{
	const char *t = (const char *)1;
	size_t len = 99;
	enum tok_found r = tok_from_cookie(hdr, &t, &len);

	out[0] = '\0';
	if (r == TOK_FOUND) {
		assert_non_null(t);
		assert_int_equal(len, TOK_LEN);
		memcpy(out, t, len);
		out[len] = '\0';
	} else {
		assert_null(t);
		assert_int_equal(len, 0);
	}
	return r;
}

static void test_cookie_found(void **state)
{
	char t[TOK_LEN + 1];

	(void)state;
	assert_int_equal(cookie("chat_token=" GOOD, t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	/* Among other cookies, in any position, with or without spaces. */
	assert_int_equal(cookie("a=b; chat_token=" GOOD "; c=d", t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	assert_int_equal(cookie("a=b;chat_token=" GOOD, t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	assert_int_equal(cookie("theme=dark; lang=en;  chat_token=" GOOD "  ", t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	/* A quoted value. */
	assert_int_equal(cookie("chat_token=\"" GOOD "\"", t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	assert_int_equal(cookie("x=1; chat_token=\"" OTHER "\"; y=2", t), TOK_FOUND);
	assert_string_equal(t, OTHER);
}

/* CHAT_COOKIE_SECURE's __Host-chat_token: read, and it decides over chat_token. */
static void test_cookie_host_prefix(void **state)
{
	char t[TOK_LEN + 1];

	(void)state;
	assert_int_equal(cookie("__Host-chat_token=" GOOD, t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	assert_int_equal(cookie("a=b; __Host-chat_token=\"" GOOD "\"; c=d", t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	/* Both names, in either order: the prefixed one, which only this host set. */
	assert_int_equal(cookie("chat_token=" OTHER "; __Host-chat_token=" GOOD, t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	assert_int_equal(cookie("__Host-chat_token=" GOOD "; chat_token=" OTHER, t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	/* A malformed prefixed cookie decides too: no falling back to the other. */
	assert_int_equal(cookie("__Host-chat_token=zz; chat_token=" GOOD, t), TOK_MALFORMED);
	/* A malformed plain one does not matter when the prefixed one is good. */
	assert_int_equal(cookie("chat_token=zz; __Host-chat_token=" GOOD, t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	/* Other spellings are other cookies. */
	assert_int_equal(cookie("__host-chat_token=" GOOD, t), TOK_ABSENT);
	assert_int_equal(cookie("__Secure-chat_token=" GOOD, t), TOK_ABSENT);
	assert_int_equal(cookie("__Host-chat_tokens=" GOOD, t), TOK_ABSENT);
	assert_int_equal(cookie("x__Host-chat_token=" GOOD, t), TOK_ABSENT);
}

static void test_cookie_similar_names(void **state)
{
	char t[TOK_LEN + 1];

	(void)state;
	/* Similar names are other cookies, not ours. */
	assert_int_equal(cookie("xchat_token=" GOOD, t), TOK_ABSENT);
	assert_int_equal(cookie("chat_tokens=" GOOD, t), TOK_ABSENT);
	assert_int_equal(cookie("chat_token_old=" GOOD, t), TOK_ABSENT);
	assert_int_equal(cookie("CHAT_TOKEN=" GOOD, t), TOK_ABSENT);
	assert_int_equal(cookie("chat_token", t), TOK_ABSENT);
	/* ...and they do not hide the real one. */
	assert_int_equal(cookie("xchat_token=" OTHER "; chat_token=" GOOD, t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	assert_int_equal(cookie("chat_tokenx=" OTHER "; chat_token=" GOOD, t), TOK_FOUND);
	assert_string_equal(t, GOOD);
	/* A cookie whose value mentions chat_token= is not it. */
	assert_int_equal(cookie("a=chat_token=" GOOD, t), TOK_ABSENT);
}

static void test_cookie_absent(void **state)
{
	char t[TOK_LEN + 1];

	(void)state;
	assert_int_equal(cookie(NULL, t), TOK_ABSENT);
	assert_int_equal(cookie("", t), TOK_ABSENT);
	assert_int_equal(cookie(";;; ", t), TOK_ABSENT);
	assert_int_equal(cookie("a=b; c=d", t), TOK_ABSENT);
}

static void test_cookie_malformed(void **state)
{
	static const char *const bad[] = {
		"chat_token=",
		"chat_token=; a=b",
		"chat_token=abc",
		"chat_token=" GOOD "0",
		"chat_token=\"" GOOD,
		"chat_token=" GOOD "\"",
		"chat_token=\"\"",
		"chat_token=0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		"a=b; chat_token=not-a-token; c=d",
		"chat_token=" GOOD " x",
	};
	char t[TOK_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cookie(bad[i], t) != TOK_MALFORMED)
			fail_msg("Cookie '%s' should be malformed", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_shape),
		cmocka_unit_test(test_new_unique),
		cmocka_unit_test(test_hash_known_vectors),
		cmocka_unit_test(test_hash_deterministic),
		cmocka_unit_test(test_wellformed),
		cmocka_unit_test(test_authorization_bearer),
		cmocka_unit_test(test_authorization_absent),
		cmocka_unit_test(test_authorization_malformed),
		cmocka_unit_test(test_cookie_found),
		cmocka_unit_test(test_cookie_host_prefix),
		cmocka_unit_test(test_cookie_similar_names),
		cmocka_unit_test(test_cookie_absent),
		cmocka_unit_test(test_cookie_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

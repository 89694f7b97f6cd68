/* test_valid.c -- unit tests of common/valid.c (client input validation). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "valid.h"

/* A fresh error record, poisoned so a test sees what the call filled in. */
static struct valid_err fresh_err(void)
{
	struct valid_err e;

	memset(&e, 0, sizeof(e));
	e.code = ERR_NONE;
	e.field = NULL;
	snprintf(e.message, sizeof(e.message), "%s", "untouched");
	return e;
}

/* Asserts e describes a validation error of field with a non-empty message. */
static void assert_field_error(const struct valid_err *e, const char *field)
{
	assert_int_equal(e->code, ERR_VALIDATION);
	assert_non_null(e->field);
	assert_string_equal(e->field, field);
	assert_true(e->message[0] != '\0');
	assert_string_not_equal(e->message, "untouched");
	assert_non_null(memchr(e->message, '\0', sizeof(e->message)));
}

/* Returns a malloc'd string of n copies of unit (caller frees). */
static char *repeat(const char *unit, size_t n)
{
	size_t ul = strlen(unit);
	char *s = malloc(ul * n + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * n] = '\0';
	return s;
}

/* --- valid_string_field ------------------------------------------------ */

static void test_string_field_present(void **state)
{
	json_t *o = json_pack("{s:s}", "username", "alice");
	struct valid_err e = fresh_err();
	const char *out = (const char *)1;
	size_t len = 99;

	(void)state;
	assert_non_null(o);
	assert_int_equal(valid_string_field(o, "username", VALID_REQUIRED, &out, &len, &e), 0);
	assert_non_null(out);
	assert_string_equal(out, "alice");
	assert_int_equal(len, 5);
	/* The empty string is a string; length checks come later. */
	json_object_set_new(o, "empty", json_string(""));
	assert_int_equal(valid_string_field(o, "empty", VALID_REQUIRED, &out, &len, &e), 0);
	assert_non_null(out);
	assert_int_equal(len, 0);
	assert_string_equal(e.message, "untouched");
	json_decref(o);
}

/* JSON's "\u0000" (parsed with JSON_ALLOW_NUL) is a validation error naming the field. */
static void test_string_field_embedded_nul(void **state)
{
	json_t *o = json_pack("{s:s#, s:s#, s:s#}", "message", "a\0b", (size_t)3, "client_id", "\0",
			      (size_t)1, "room_id", "general\0", (size_t)8);
	static const char *const fields[] = { "message", "client_id", "room_id" };
	const char *out = (const char *)1;
	size_t len = 99;

	(void)state;
	assert_non_null(o);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		struct valid_err e = fresh_err();

		assert_int_equal(valid_string_field(o, fields[i], VALID_OPTIONAL, &out, &len, &e),
				 -1);
		assert_field_error(&e, fields[i]);
		assert_non_null(strstr(e.message, "control characters"));
		assert_null(out);
		assert_int_equal(len, 0);
	}
	json_decref(o);
}

static void test_string_field_absent_and_null(void **state)
{
	json_t *o = json_pack("{s:n}", "room_id");
	struct valid_err e = fresh_err();
	const char *out = (const char *)1;
	size_t len = 99;

	(void)state;
	assert_non_null(o);
	/* Optional: missing and null both mean absent. */
	assert_int_equal(valid_string_field(o, "room_id", VALID_OPTIONAL, &out, &len, &e), 0);
	assert_null(out);
	assert_int_equal(len, 0);
	out = (const char *)1;
	assert_int_equal(valid_string_field(o, "missing", VALID_OPTIONAL, &out, &len, &e), 0);
	assert_null(out);
	/* Required: both are errors naming the field. */
	assert_int_equal(valid_string_field(o, "room_id", VALID_REQUIRED, &out, &len, &e), -1);
	assert_field_error(&e, "room_id");
	assert_null(out);
	e = fresh_err();
	assert_int_equal(valid_string_field(o, "username", VALID_REQUIRED, &out, &len, &e), -1);
	assert_field_error(&e, "username");
	json_decref(o);
}

static void test_string_field_wrong_types(void **state)
{
	static const char *const bodies[] = {
		"{\"f\":123}",
		"{\"f\":1.5}",
		"{\"f\":-0}",
		"{\"f\":[]}",
		"{\"f\":[\"a\"]}",
		"{\"f\":{}}",
		"{\"f\":{\"a\":\"b\"}}",
		"{\"f\":true}",
		"{\"f\":false}",
		"{\"f\":1e300}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		json_error_t jerr;
		json_t *o = json_loads(bodies[i], 0, &jerr);
		const char *out = (const char *)1;
		size_t len = 99;

		assert_non_null(o);
		for (int need = VALID_OPTIONAL; need <= VALID_REQUIRED; need++) {
			struct valid_err e = fresh_err();

			assert_int_equal(
				valid_string_field(o, "f", (enum valid_need)need, &out, &len, &e),
				-1);
			assert_field_error(&e, "f");
			assert_null(out);
		}
		json_decref(o);
	}
}

static void test_string_field_not_an_object(void **state)
{
	json_t *a = json_array();
	struct valid_err e = fresh_err();
	const char *out;
	size_t len;

	(void)state;
	/* json_object_get on a non-object finds nothing: absent. */
	assert_int_equal(valid_string_field(a, "f", VALID_OPTIONAL, &out, &len, &e), 0);
	assert_null(out);
	assert_int_equal(valid_string_field(a, "f", VALID_REQUIRED, &out, &len, &e), -1);
	assert_field_error(&e, "f");
	json_decref(a);
}

/* --- valid_username ------------------------------------------------------ */

static int username_ok(const char *s)
{
	struct valid_err e = fresh_err();

	return valid_username(s, strlen(s), 32, &e) == 0;
}

static void test_username_charset(void **state)
{
	static const char *const good[] = { "a",       "Z",   "0",          "_",
					    "-",       ".",   "alice",      "Bob_99",
					    "a.b-c_d", "...", "0123456789", "ABCxyz" };
	static const char *const bad[] = {
		" alice",      "alice ",
		"al ice",      "al@ice",
		"al'ice",      "al\"ice",
		"a;b",         "a/b",
		"a\\b",        "a+b",
		"a%b",         "a\tb",
		"a\nb",        "\xc3\xa9",
		"caf\xc3\xa9", "\xff",
		"a=b",         "a,b",
		"a:b",         "<a>",
		"a*b",         "'; DROP TABLE users; --",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!username_ok(good[i]))
			fail_msg("username '%s' should be valid", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct valid_err e = fresh_err();

		if (valid_username(bad[i], strlen(bad[i]), 32, &e) != -1)
			fail_msg("username '%s' should be invalid", bad[i]);
		assert_field_error(&e, "username");
	}
}

static void test_username_embedded_nul(void **state)
{
	static const char s[] = { 'a', '\0', 'b' };
	struct valid_err e = fresh_err();

	(void)state;
	assert_int_equal(valid_username(s, sizeof(s), 32, &e), -1);
	assert_field_error(&e, "username");
}

static void test_username_length(void **state)
{
	char *s32 = repeat("a", 32);
	char *s33 = repeat("b", 33);
	struct valid_err e = fresh_err();

	(void)state;
	assert_int_equal(valid_username("", 0, 32, &e), -1);
	assert_field_error(&e, "username");
	e = fresh_err();
	assert_int_equal(valid_username(s32, 32, 32, &e), 0);
	assert_int_equal(valid_username(s33, 33, 32, &e), -1);
	assert_field_error(&e, "username");
	/* The limit is the argument, not a constant. */
	e = fresh_err();
	assert_int_equal(valid_username("abc", 3, 3, &e), 0);
	assert_int_equal(valid_username("abcd", 4, 3, &e), -1);
	assert_field_error(&e, "username");
	free(s32);
	free(s33);
}

/* --- valid_text ------------------------------------------------------------ */

static int text(const char *s, long min, long max, unsigned flags, struct valid_err *e)
{
	*e = fresh_err();
	return valid_text("message", s, strlen(s), min, max, flags, e);
}

static void test_text_plain(void **state)
{
	struct valid_err e;

	(void)state;
	assert_int_equal(text("hello", 1, 4000, 0, &e), 0);
	assert_string_equal(e.message, "untouched");
	assert_int_equal(text("  padded  ", 1, 4000, 0, &e), 0);
	assert_int_equal(text("\xe2\x82\xac 5", 1, 4000, 0, &e), 0);
	/* SQL metacharacters are just text. */
	assert_int_equal(text("'; DROP TABLE messages; --", 1, 4000, 0, &e), 0);
	assert_int_equal(text("\" OR 1=1 \\", 1, 4000, 0, &e), 0);
}

static void test_text_field_name_is_the_argument(void **state)
{
	struct valid_err e = fresh_err();

	(void)state;
	assert_int_equal(valid_text("room_name", "", 0, 1, 64, 0, &e), -1);
	assert_field_error(&e, "room_name");
	e = fresh_err();
	assert_int_equal(valid_text("description", "\x01", 1, 0, 500, VALID_MULTILINE, &e), -1);
	assert_field_error(&e, "description");
}

static void test_text_empty(void **state)
{
	struct valid_err e;

	(void)state;
	assert_int_equal(text("", 1, 4000, 0, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("", 1, 4000, VALID_ALLOW_BLANK, &e), -1);
	assert_field_error(&e, "message");
	/* With min 0, empty is fine with or without VALID_ALLOW_BLANK. */
	assert_int_equal(text("", 0, 500, 0, &e), 0);
	assert_int_equal(text("", 0, 500, VALID_ALLOW_BLANK | VALID_MULTILINE, &e), 0);
}

static void test_text_min_above_one(void **state)
{
	struct valid_err e;

	(void)state;
	assert_int_equal(text("ab", 3, 10, 0, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("abc", 3, 10, 0, &e), 0);
	/* Code points, not bytes: two 2-byte characters are 2, not 4. */
	assert_int_equal(text("\xc3\xa9\xc3\xa9", 3, 10, 0, &e), -1);
	assert_field_error(&e, "message");
}

static void test_text_blank(void **state)
{
	struct valid_err e;

	(void)state;
	assert_int_equal(text(" ", 1, 4000, 0, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("   ", 1, 4000, 0, &e), -1);
	assert_field_error(&e, "message");
	/* U+3000 IDEOGRAPHIC SPACE and U+00A0 are white space too. */
	assert_int_equal(text("\xe3\x80\x80", 1, 4000, 0, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text(" \xc2\xa0 ", 1, 4000, 0, &e), -1);
	assert_field_error(&e, "message");
	/* Newlines and tabs only: allowed characters, but blank. */
	assert_int_equal(text("\n\t\n", 1, 4000, VALID_MULTILINE, &e), -1);
	assert_field_error(&e, "message");
	/* VALID_ALLOW_BLANK lets white space through. */
	assert_int_equal(text("   ", 1, 4000, VALID_ALLOW_BLANK, &e), 0);
	assert_int_equal(text("\xe3\x80\x80", 1, 4000, VALID_ALLOW_BLANK, &e), 0);
	assert_int_equal(text("\n \t", 1, 4000, VALID_ALLOW_BLANK | VALID_MULTILINE, &e), 0);
}

static void test_text_multiline_flag(void **state)
{
	struct valid_err e;

	(void)state;
	assert_int_equal(text("a\nb", 1, 4000, 0, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("a\tb", 1, 4000, 0, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("a\nb", 1, 4000, VALID_MULTILINE, &e), 0);
	assert_int_equal(text("a\tb", 1, 4000, VALID_MULTILINE, &e), 0);
	assert_int_equal(text("line 1\n\tline 2\n", 1, 4000, VALID_MULTILINE, &e), 0);
	/* Other controls stay refused with every flag. */
	assert_int_equal(text("a\rb", 1, 4000, VALID_MULTILINE | VALID_ALLOW_BLANK, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("a\x01z", 1, 4000, VALID_MULTILINE | VALID_ALLOW_BLANK, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("a\x7f", 1, 4000, VALID_MULTILINE, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("a\xc2\x85z", 1, 4000, VALID_MULTILINE, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("\x1b[31mred", 1, 4000, VALID_MULTILINE, &e), -1);
	assert_field_error(&e, "message");
}

static void test_text_invalid_utf8(void **state)
{
	static const char nul[] = { 'h', 'i', '\0', '!' };
	struct valid_err e;

	(void)state;
	assert_int_equal(text("\xc3\x28", 1, 4000, VALID_MULTILINE, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("\xed\xa0\x80", 1, 4000, VALID_MULTILINE, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("\xc0\xaf", 1, 4000, VALID_MULTILINE, &e), -1);
	assert_field_error(&e, "message");
	assert_int_equal(text("\xf4\x90\x80\x80", 1, 4000, VALID_MULTILINE, &e), -1);
	assert_field_error(&e, "message");
	e = fresh_err();
	assert_int_equal(valid_text("message", nul, sizeof(nul), 1, 4000, VALID_MULTILINE, &e), -1);
	assert_field_error(&e, "message");
}

/* Boundary at exactly max and max+1 characters for units of 1..4 bytes. */
static void test_text_max_in_code_points(void **state)
{
	static const char *const units[] = { "a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };

	(void)state;
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		char *at = repeat(units[u], 4000);
		char *over = repeat(units[u], 4001);
		struct valid_err e;

		if (text(at, 1, 4000, VALID_MULTILINE, &e) != 0)
			fail_msg("4000 x unit %zu should pass: %s", u, e.message);
		assert_int_equal(text(over, 1, 4000, VALID_MULTILINE, &e), -1);
		assert_field_error(&e, "message");
		free(at);
		free(over);
	}
}

static void test_text_room_name_limits(void **state)
{
	char *n64 = repeat("\xe6\x97\xa5", 64); /* 64 x U+65E5, 192 bytes */
	char *n65 = repeat("x", 65);
	struct valid_err e = fresh_err();

	(void)state;
	assert_int_equal(valid_text("room_name", n64, strlen(n64), 1, 64, 0, &e), 0);
	assert_int_equal(valid_text("room_name", n65, strlen(n65), 1, 64, 0, &e), -1);
	assert_field_error(&e, "room_name");
	/* A room name is single-line. */
	e = fresh_err();
	assert_int_equal(valid_text("room_name", "a\nb", 3, 1, 64, 0, &e), -1);
	assert_field_error(&e, "room_name");
	free(n64);
	free(n65);
}

static void test_text_description_limits(void **state)
{
	char *d500 = repeat("\xc3\xa9", 500);
	char *d501 = repeat("\xc3\xa9", 501);
	struct valid_err e = fresh_err();

	(void)state;
	assert_int_equal(valid_text("description", d500, strlen(d500), 0, 500,
				    VALID_MULTILINE | VALID_ALLOW_BLANK, &e),
			 0);
	assert_int_equal(valid_text("description", d501, strlen(d501), 0, 500,
				    VALID_MULTILINE | VALID_ALLOW_BLANK, &e),
			 -1);
	assert_field_error(&e, "description");
	free(d500);
	free(d501);
}

/* --- valid_room_id ---------------------------------------------------------- */

static void test_room_id_shapes(void **state)
{
	static const char *const good[] = {
		"general", "a", "A",        "0",
		"_",       "-", "room_1-B", "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
	};
	static const char *const bad[] = {
		"",       " general", "general ",    "gen eral", "gen.eral", "../etc",
		"..%2f",  "a/b",      "a\\b",        "'",        "';--",     "\" OR 1=1",
		"1;DROP", "a%27",     "caf\xc3\xa9", "a\nb",     "a\x01",    "a?b",
		"a#b",    "a&b",      "*",
	};
	char *id64 = repeat("x", 64);
	char *id65 = repeat("x", 65);
	static const char nul[] = { 'a', '\0', 'b' };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!valid_room_id(good[i], strlen(good[i])))
			fail_msg("room id '%s' should be valid", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (valid_room_id(bad[i], strlen(bad[i])))
			fail_msg("room id '%s' should be invalid", bad[i]);
	assert_true(valid_room_id(id64, 64));
	assert_false(valid_room_id(id65, 65));
	assert_false(valid_room_id(nul, sizeof(nul)));
	assert_false(valid_room_id(NULL, 0));
	assert_false(valid_room_id(NULL, 5));
	/* Only len bytes count. */
	assert_true(valid_room_id("ab/", 2));
	free(id64);
	free(id65);
}

/* --- valid_query_long --------------------------------------------------- */

/* Runs valid_query_long for "limit" in 1..200 on qs. */
static int qlimit(const char *qs, long *out, int *present, struct valid_err *e)
{
	*e = fresh_err();
	*out = -777;
	*present = -1;
	return valid_query_long(qs, "limit", 1, 200, out, present, e);
}

static void test_query_long_absent(void **state)
{
	struct valid_err e;
	long v;
	int present;

	(void)state;
	assert_int_equal(qlimit(NULL, &v, &present, &e), 0);
	assert_int_equal(present, 0);
	assert_int_equal(qlimit("", &v, &present, &e), 0);
	assert_int_equal(present, 0);
	assert_int_equal(qlimit("offset=5&before=3", &v, &present, &e), 0);
	assert_int_equal(present, 0);
	/* Similar names are other parameters. */
	assert_int_equal(qlimit("limits=5&xlimit=6&Limit=7", &v, &present, &e), 0);
	assert_int_equal(present, 0);
	assert_string_equal(e.message, "untouched");
}

static void test_query_long_valid(void **state)
{
	static const struct {
		const char *qs;
		long want;
	} cases[] = {
		{ "limit=1", 1 },           { "limit=200", 200 },     { "limit=50", 50 },
		{ "a=b&limit=7&c=d", 7 },   { "limit=007", 7 },       { "limit=%31%30", 10 },
		{ "limit=3&limit=abc", 3 }, { "limit=3&limit=4", 3 }, { "&&limit=9&", 9 },
	};
	struct valid_err e;
	long v;
	int present;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (qlimit(cases[i].qs, &v, &present, &e) != 0)
			fail_msg("'%s' should be accepted: %s", cases[i].qs, e.message);
		assert_int_equal(present, 1);
		assert_int_equal(v, cases[i].want);
	}
}

static void test_query_long_invalid(void **state)
{
	static const char *const cases[] = {
		"limit",
		"limit=",
		"limit=abc",
		"limit=1.5",
		"limit=1e2",
		"limit=-1",
		"limit=-0",
		"limit=+1",
		"limit=%2B1",
		"limit= 1",
		"limit=%201",
		"limit=1 ",
		"limit=1+",
		"limit=1%20",
		"limit=0x10",
		"limit=0",
		"limit=201",
		"limit=99999999999999999999",
		"limit=999999999999999999999999999999999999999999",
		"limit=1e309",
		"limit=%",
		"limit=%3",
		"limit=%zz",
		"limit=1%00",
		"limit=abc&limit=3",
		"limit=NaN",
		"limit=Infinity",
		"limit=%EF%BC%91", /* FULLWIDTH DIGIT ONE */
	};
	struct valid_err e;
	long v;
	int present;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (qlimit(cases[i], &v, &present, &e) != -1)
			fail_msg("'%s' should be refused (got %ld)", cases[i], v);
		assert_field_error(&e, "limit");
		assert_int_equal(v, -777);
		assert_int_not_equal(present, 1);
	}
}

static void test_query_long_cursor_range(void **state)
{
	/* Cursors: 0..2^53-1 as the API allows. */
	const long max = 9007199254740991L;
	struct valid_err e = fresh_err();
	long v = 0;
	int present = 0;

	(void)state;
	assert_int_equal(
		valid_query_long("before=9007199254740991", "before", 0, max, &v, &present, &e), 0);
	assert_int_equal(present, 1);
	assert_int_equal(v, max);
	assert_int_equal(valid_query_long("before=0", "before", 0, max, &v, &present, &e), 0);
	assert_int_equal(v, 0);
	assert_int_equal(
		valid_query_long("before=9007199254740992", "before", 0, max, &v, &present, &e),
		-1);
	assert_field_error(&e, "before");
	e = fresh_err();
	assert_int_equal(valid_query_long("after=-5", "after", 0, max, &v, &present, &e), -1);
	assert_field_error(&e, "after");
	/* A negative minimum accepts a sign. */
	e = fresh_err();
	assert_int_equal(valid_query_long("x=-5", "x", -10, 10, &v, &present, &e), 0);
	assert_int_equal(v, -5);
	assert_int_equal(valid_query_long("x=-", "x", -10, 10, &v, &present, &e), -1);
	assert_field_error(&e, "x");
}

static void test_seq_field(void **state)
{
	const char *good[] = { "{\"seq\":0}", "{\"seq\":7}", "{\"seq\":9007199254740991}" };
	const long long want[] = { 0, 7, 9007199254740991LL };
	const char *bad[] = { "{}",
			      "{\"seq\":null}",
			      "{\"seq\":-1}",
			      "{\"seq\":9007199254740992}",
			      "{\"seq\":1.5}",
			      "{\"seq\":1e30}",
			      "{\"seq\":\"5\"}",
			      "{\"seq\":true}",
			      "{\"seq\":[1]}" };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_t *o = json_loads(good[i], 0, NULL);
		struct valid_err e = fresh_err();
		long long v = -1;

		assert_non_null(o);
		assert_int_equal(valid_seq_field(o, "seq", &v, &e), 0);
		assert_true(v == want[i]);
		json_decref(o);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = json_loads(bad[i], 0, NULL);
		struct valid_err e = fresh_err();
		long long v = -1;

		assert_non_null(o);
		assert_int_equal(valid_seq_field(o, "seq", &v, &e), -1);
		assert_int_equal(e.code, ERR_VALIDATION);
		assert_string_equal(e.field, "seq");
		json_decref(o);
	}
}

static void test_message_body(void **state)
{
	struct cfg cfg;
	struct valid_message m;
	struct valid_err e;
	char err[128];
	json_t *o;

	(void)state;
	assert_int_equal(cfg_load(&cfg, err, sizeof(err)), 0);
	o = json_pack("{s:s, s:s}", "message", "hi", "client_id", "c1");
	assert_int_equal(valid_message_body(o, &cfg, &m, &e), 0);
	assert_string_equal(m.content, "hi");
	assert_string_equal(m.client_id, "c1");
	json_decref(o);
	o = json_pack("{s:s}", "message", "line\nbreak");
	assert_int_equal(valid_message_body(o, &cfg, &m, &e), 0);
	assert_null(m.client_id);
	json_decref(o);
	o = json_pack("{s:s, s:i}", "message", "hi", "client_id", 5);
	assert_int_equal(valid_message_body(o, &cfg, &m, &e), -1);
	assert_string_equal(e.field, "client_id");
	json_decref(o);
	o = json_pack("{s:s}", "message", "   ");
	assert_int_equal(valid_message_body(o, &cfg, &m, &e), -1);
	assert_string_equal(e.field, "message");
	json_decref(o);
	o = json_pack("{s:s, s:s}", "message", "ok", "client_id", "");
	assert_int_equal(valid_message_body(o, &cfg, &m, &e), -1);
	assert_string_equal(e.field, "client_id");
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_body),
		cmocka_unit_test(test_seq_field),
		cmocka_unit_test(test_string_field_present),
		cmocka_unit_test(test_string_field_embedded_nul),
		cmocka_unit_test(test_string_field_absent_and_null),
		cmocka_unit_test(test_string_field_wrong_types),
		cmocka_unit_test(test_string_field_not_an_object),
		cmocka_unit_test(test_username_charset),
		cmocka_unit_test(test_username_embedded_nul),
		cmocka_unit_test(test_username_length),
		cmocka_unit_test(test_text_plain),
		cmocka_unit_test(test_text_field_name_is_the_argument),
		cmocka_unit_test(test_text_empty),
		cmocka_unit_test(test_text_min_above_one),
		cmocka_unit_test(test_text_blank),
		cmocka_unit_test(test_text_multiline_flag),
		cmocka_unit_test(test_text_invalid_utf8),
		cmocka_unit_test(test_text_max_in_code_points),
		cmocka_unit_test(test_text_room_name_limits),
		cmocka_unit_test(test_text_description_limits),
		cmocka_unit_test(test_room_id_shapes),
		cmocka_unit_test(test_query_long_absent),
		cmocka_unit_test(test_query_long_valid),
		cmocka_unit_test(test_query_long_invalid),
		cmocka_unit_test(test_query_long_cursor_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

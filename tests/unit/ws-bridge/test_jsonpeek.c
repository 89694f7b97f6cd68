/* test_jsonpeek.c -- tests ws-bridge/jsonpeek.c: a member read out of JSON text, as jansson reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jsonpeek.h"

static int peek_str(const char *s, const char *k1, const char *k2, char *out, size_t outlen)
{
	return jsonpeek_string(s, strlen(s), k1, k2, out, outlen);
}

static int peek_int(const char *s, const char *k1, const char *k2, long long *out)
{
	return jsonpeek_int(s, strlen(s), k1, k2, out);
}

/* A CONNECT's data as chat_connect_batch writes it (json_build_object's spacing). */
static void test_connect_data(void **state)
{
	const char *s = "{\"user\" : {\"id\" : \"3f0c-11\", \"username\" : \"ann\", \"online\" : "
			"true}, \"rooms\" : [{\"id\" : \"r1\", \"user\" : {\"id\" : \"no\"}}]}";
	char id[40], name[40];

	(void)state;
	assert_int_equal(peek_str(s, "user", "id", id, sizeof(id)), 0);
	assert_string_equal(id, "3f0c-11");
	assert_int_equal(peek_str(s, "user", "username", name, sizeof(name)), 0);
	assert_string_equal(name, "ann");
	/* Compact, as jansson writes it. */
	assert_int_equal(peek_str("{\"rooms\":[],\"user\":{\"username\":\"b\",\"id\":\"u2\"}}",
				  "user", "id", id, sizeof(id)),
			 0);
	assert_string_equal(id, "u2");
	/* Cut like snprintf. */
	assert_int_equal(peek_str(s, "user", "id", id, 4), 0);
	assert_string_equal(id, "3f0");
}

/* The same key inside a string or a nested value before the member is not it. */
static void test_nesting_and_strings(void **state)
{
	long long v = -1;

	(void)state;
	assert_int_equal(peek_int("{\"x\" : {\"room\" : {\"last_seq\" : 1}}, \"room\" : "
				  "{\"m\" : [1, {\"last_seq\" : 2}], \"last_seq\" : 7}}",
				  "room", "last_seq", &v),
			 0);
	assert_int_equal(v, 7);
	assert_int_equal(peek_int("{\"a\" : \"\\\"room\\\" : {\\\"last_seq\\\" : 5}\", \"b\" : "
				  "\"]}[{\\\\\", \"room\" : {\"last_seq\" : 3}}",
				  "room", "last_seq", &v),
			 0);
	assert_int_equal(v, 3);
	assert_int_equal(peek_int("{\"room\" : {\"last_seq\" : -12}}", "room", "last_seq", &v), 0);
	assert_int_equal(v, -12);
	assert_int_equal(peek_int("{\"room\":{\"last_seq\":0}}", "room", "last_seq", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(peek_int(" {\"last_seq\" : 9} ", "last_seq", NULL, &v), 0);
	assert_int_equal(v, 9);
}

/* Whatever it cannot read as asked is -1: the caller parses the text whole. */
static void test_refusals(void **state)
{
	static const char *const ints[] = {
		"",
		"{}",
		"[]",
		"{\"room\" : null}",
		"{\"room\" : {}}",
		"{\"room\" : {\"last_seq\" : null}}",
		"{\"room\" : {\"last_seq\" : 1.5}}",
		"{\"room\" : {\"last_seq\" : 1e3}}",
		"{\"room\" : {\"last_seq\" : \"4\"}}",
		"{\"room\" : {\"last_seq\" : -}}",
		"{\"room\" : {\"last_seq\" : 1234567890123456789}}",
		"{\"room\" : [{\"last_seq\" : 1}]}",
		"{\"room\" : {\"last_seq\" : 1",
		"{\"room\" : {\"last_seq\" ",
		"{\"room\" : {\"last_seq\"",
		"{\"room\" : {\"x\" : \"unterminated}}",
		"{\"room\" : {\"x\" : \"\\",
		"{\"room\" : {\"x\" : 1 \"last_seq\" : 2}}",
		"{\"room\" {\"last_seq\" : 2}}",
		"{room : {\"last_seq\" : 2}}",
		"{\"roo\\u006d\" : {\"last_seq\" : 2}}",
		"{\"x\" : [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]"
		"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], \"room\" : "
		"{\"last_seq\" : 2}}",
		"\"room\"",
	};
	long long v = 77;
	char out[8] = "keep";

	(void)state;
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		if (peek_int(ints[i], "room", "last_seq", &v) != -1)
			fail_msg("read an integer out of: %s", ints[i]);
	}
	assert_int_equal(v, 77);
	/* Strings: an escape, another type, absent. */
	assert_int_equal(
		peek_str("{\"user\" : {\"id\" : \"a\\\"b\"}}", "user", "id", out, sizeof(out)), -1);
	assert_int_equal(peek_str("{\"user\" : {\"id\" : 5}}", "user", "id", out, sizeof(out)), -1);
	assert_int_equal(peek_str("{\"user\" : {\"id\" : null}}", "user", "id", out, sizeof(out)),
			 -1);
	assert_int_equal(peek_str("{\"user\" : \"id\"}", "user", "id", out, sizeof(out)), -1);
	assert_int_equal(peek_str("{\"user\" : {}}", "user", "id", out, sizeof(out)), -1);
	assert_string_equal(out, "keep");
	/* A length that stops inside the text: nothing past it is read. */
	assert_int_equal(jsonpeek_string("{\"user\" : {\"id\" : \"abc\"}}", 20, "user", "id", out,
					 sizeof(out)),
			 -1);
}

/* Where it answers, it answers what jansson reads (first member of a name: ours have one). */
static void test_same_as_jansson(void **state)
{
	static const char *const texts[] = {
		"{\"room\" : {\"id\" : \"r\", \"last_seq\" : 41, \"members\" : []}, \"messages\" : "
		"[{\"room\" : {\"last_seq\" : 3}}]}",
		"{\"members\" : [{\"id\" : \"u\", \"name\" : \"}{\"}], \"room\" : {\"topic\" : "
		"\"a,b:c\\\\\", \"last_seq\" : 123456789012}}",
		"{\"room\":{\"last_seq\":8,\"x\":{\"last_seq\":9}}}",
		"{\"room\"\t:\n{\"last_seq\"\r: 2 }}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		json_t *j = json_loads(texts[i], 0, NULL);
		long long v;

		assert_non_null(j);
		assert_int_equal(peek_int(texts[i], "room", "last_seq", &v), 0);
		assert_int_equal(v,
				 json_integer_value(
					 json_object_get(json_object_get(j, "room"), "last_seq")));
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_data),
		cmocka_unit_test(test_nesting_and_strings),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_same_as_jansson),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

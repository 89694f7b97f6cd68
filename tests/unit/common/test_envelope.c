/* test_envelope.c -- unit tests of common/envelope.c (the JSON envelope). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "envelope.h"

/* Parses out (outlen bytes, NUL-terminated) strictly; the caller owns it. */
static json_t *parse(const char *out, size_t outlen)
{
	json_error_t jerr;
	json_t *j;

	assert_non_null(out);
	assert_int_equal(strlen(out), outlen);
	j = json_loadb(out, outlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		fail_msg("envelope is not JSON (%s): %s", jerr.text, out);
	assert_true(json_is_object(j));
	return j;
}

static void test_success_raw_object(void **state)
{
	static const char data[] = "{\"user\":{\"id\":\"u1\"},\"n\":[1,2]}";
	size_t len = 0;
	char *out = envelope_success_raw(data, strlen(data), &len);
	json_t *j = parse(out, len);
	json_t *d;

	(void)state;
	assert_int_equal(json_object_size(j), 2);
	assert_true(json_is_true(json_object_get(j, "success")));
	d = json_object_get(j, "data");
	assert_true(json_is_object(d));
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "user"), "id")),
			    "u1");
	assert_int_equal(json_array_size(json_object_get(d, "n")), 2);
	assert_null(json_object_get(j, "error"));
	json_decref(j);
	free(out);
}

static void test_success_raw_null_and_scalars(void **state)
{
	size_t len = 0;
	char *out = envelope_success_raw(NULL, 0, &len);
	json_t *j = parse(out, len);

	(void)state;
	assert_true(json_is_true(json_object_get(j, "success")));
	assert_true(json_is_null(json_object_get(j, "data")));
	/* "data":null is present, not missing. */
	assert_non_null(json_object_get(j, "data"));
	json_decref(j);
	free(out);

	out = envelope_success_raw("[]", 2, &len);
	j = parse(out, len);
	assert_true(json_is_array(json_object_get(j, "data")));
	json_decref(j);
	free(out);

	/* Only datalen bytes are spliced. */
	out = envelope_success_raw("123456", 3, &len);
	j = parse(out, len);
	assert_int_equal(json_integer_value(json_object_get(j, "data")), 123);
	json_decref(j);
	free(out);
}

static void test_success_raw_unicode_passthrough(void **state)
{
	static const char data[] = "{\"content\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}";
	size_t len = 0;
	char *out = envelope_success_raw(data, strlen(data), &len);
	json_t *j = parse(out, len);

	(void)state;
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(j, "data"), "content")),
		"caf\xc3\xa9 \xf0\x9f\x98\x80");
	json_decref(j);
	free(out);
}

/* Checks the error envelope for code and returns the error object's parent. */
static json_t *check_error(char *out, size_t len, const char *code, const char *message,
			   const char *field)
{
	json_t *j = parse(out, len);
	json_t *e;

	assert_int_equal(json_object_size(j), 2);
	assert_true(json_is_false(json_object_get(j, "success")));
	assert_null(json_object_get(j, "data"));
	e = json_object_get(j, "error");
	assert_true(json_is_object(e));
	assert_true(json_is_string(json_object_get(e, "code")));
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	assert_true(json_is_string(json_object_get(e, "message")));
	if (message)
		assert_string_equal(json_string_value(json_object_get(e, "message")), message);
	if (field) {
		const char *got = json_string_value(json_object_get(e, "field"));

		if (!got)
			fail_msg("error.field missing, want \"%s\": %s", field, out);
		assert_string_equal(got, field);
		assert_int_equal(json_object_size(e), 3);
	} else {
		assert_null(json_object_get(e, "field"));
		assert_int_equal(json_object_size(e), 2);
	}
	return j;
}

static void test_error_with_field(void **state)
{
	size_t len = 0;
	char *out = envelope_error(ERR_VALIDATION, "username must not be empty", "username", &len);
	json_t *j;

	(void)state;
	j = check_error(out, len, "validation_error", "username must not be empty", "username");
	json_decref(j);
	free(out);
}

static void test_error_without_field(void **state)
{
	size_t len = 0;
	char *out = envelope_error(ERR_UNAUTHORIZED, "sign in first", NULL, &len);
	json_t *j = check_error(out, len, "unauthorized", "sign in first", NULL);

	(void)state;
	json_decref(j);
	free(out);
}

static void test_error_null_message_uses_code(void **state)
{
	size_t len = 0;
	char *out = envelope_error(ERR_NOT_FOUND, NULL, NULL, &len);
	json_t *j = check_error(out, len, "not_found", "not_found", NULL);

	(void)state;
	json_decref(j);
	free(out);
}

static void test_error_escapes_message(void **state)
{
	static const char msg[] = "bad \"quote\" \\ back\nslash \x01 caf\xc3\xa9 </script>";
	size_t len = 0;
	char *out = envelope_error(ERR_INVALID_JSON, msg, NULL, &len);
	json_t *j = check_error(out, len, "invalid_json", msg, NULL);

	(void)state;
	/* No raw control byte reaches the wire. */
	for (size_t i = 0; i < len; i++)
		assert_true((unsigned char)out[i] >= 0x20);
	json_decref(j);
	free(out);
}

static void test_error_invalid_utf8_message_falls_back(void **state)
{
	size_t len = 0;
	char *out = envelope_error(ERR_INTERNAL, "broken \xc3\x28 bytes", NULL, &len);
	json_t *j = check_error(out, len, "internal_error", "internal_error", NULL);

	(void)state;
	json_decref(j);
	free(out);
}

/*
 * envelope.h: "a message that is not valid UTF-8 is replaced by the code
 * name" -- only the message, so the field must survive.
 */
static void test_error_invalid_utf8_message_keeps_field(void **state)
{
	size_t len = 0;
	char *out = envelope_error(ERR_VALIDATION, "bad \xff message", "message", &len);
	json_t *j = parse(out, len);
	json_t *e = json_object_get(j, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *field = json_string_value(json_object_get(e, "field"));
	int code_ok = code && strcmp(code, "validation_error") == 0;
	int msg_ok = msg && strcmp(msg, "validation_error") == 0;
	int field_ok = field && strcmp(field, "message") == 0;

	(void)state;
	/* Everything is released before asserting, so a failure leaks nothing. */
	if (!field_ok)
		print_error("error.field missing or wrong, want \"message\": %s\n", out);
	json_decref(j);
	free(out);
	assert_true(code_ok);
	assert_true(msg_ok);
	assert_true(field_ok);
}

static void test_error_every_code(void **state)
{
	(void)state;
	for (int c = ERR_INVALID_JSON; c < ERR__COUNT; c++) {
		size_t len = 0;
		char *out = envelope_error((enum err_code)c, "m", "f", &len);
		json_t *j = check_error(out, len, err_name((enum err_code)c), "m", "f");

		json_decref(j);
		free(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success_raw_object),
		cmocka_unit_test(test_success_raw_null_and_scalars),
		cmocka_unit_test(test_success_raw_unicode_passthrough),
		cmocka_unit_test(test_error_with_field),
		cmocka_unit_test(test_error_without_field),
		cmocka_unit_test(test_error_null_message_uses_code),
		cmocka_unit_test(test_error_escapes_message),
		cmocka_unit_test(test_error_invalid_utf8_message_falls_back),
		cmocka_unit_test(test_error_invalid_utf8_message_keeps_field),
		cmocka_unit_test(test_error_every_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_err.c -- unit tests of common/err.c (API error codes). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "err.h"

/* The table of DESIGN.md section 2, written out independently of err.c,
 * plus outcome_unknown (docs/api.md: a write whose commit is not known) and
 * section 7's invalid_credentials, with server_busy (docs/api.md: no
 * password-hashing slot). */
static const struct {
	enum err_code code;
	const char *name;
	int status;
} design[] = {
	{ ERR_INVALID_JSON, "invalid_json", 400 },
	{ ERR_VALIDATION, "validation_error", 400 },
	{ ERR_UNAUTHORIZED, "unauthorized", 401 },
	{ ERR_FORBIDDEN, "forbidden", 403 },
	{ ERR_NOT_FOUND, "not_found", 404 },
	{ ERR_METHOD_NOT_ALLOWED, "method_not_allowed", 405 },
	{ ERR_CONFLICT, "conflict", 409 },
	{ ERR_USERNAME_TAKEN, "username_taken", 409 },
	{ ERR_ROOM_EXISTS, "room_exists", 409 },
	{ ERR_PAYLOAD_TOO_LARGE, "payload_too_large", 413 },
	{ ERR_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 415 },
	{ ERR_RATE_LIMITED, "rate_limited", 429 },
	{ ERR_INTERNAL, "internal_error", 500 },
	{ ERR_DB_UNAVAILABLE, "db_unavailable", 503 },
	{ ERR_OUTCOME_UNKNOWN, "outcome_unknown", 503 },
	{ ERR_INVALID_CREDENTIALS, "invalid_credentials", 401 },
	{ ERR_SERVER_BUSY, "server_busy", 503 },
};

#define N_DESIGN (sizeof(design) / sizeof(design[0]))

static void test_every_code_is_in_design(void **state)
{
	(void)state;
	/* Every code but ERR_NONE is listed above exactly once. */
	assert_int_equal(N_DESIGN, ERR__COUNT - 1);
	for (int c = ERR_NONE + 1; c < ERR__COUNT; c++) {
		int found = 0;

		for (size_t i = 0; i < N_DESIGN; i++)
			found += design[i].code == (enum err_code)c;
		assert_int_equal(found, 1);
	}
}

static void test_names_and_statuses(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_DESIGN; i++) {
		assert_string_equal(err_name(design[i].code), design[i].name);
		assert_int_equal(err_http_status(design[i].code), design[i].status);
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	for (int c = ERR_NONE + 1; c < ERR__COUNT; c++)
		assert_int_equal(err_from_name(err_name((enum err_code)c)), c);
	for (size_t i = 0; i < N_DESIGN; i++)
		assert_int_equal(err_from_name(design[i].name), design[i].code);
}

static void test_names_unique(void **state)
{
	(void)state;
	for (int a = 0; a < ERR__COUNT; a++)
		for (int b = a + 1; b < ERR__COUNT; b++)
			assert_string_not_equal(err_name((enum err_code)a),
						err_name((enum err_code)b));
}

static void test_unknown_name_is_internal(void **state)
{
	(void)state;
	assert_int_equal(err_from_name(NULL), ERR_INTERNAL);
	assert_int_equal(err_from_name(""), ERR_INTERNAL);
	assert_int_equal(err_from_name("nope"), ERR_INTERNAL);
	assert_int_equal(err_from_name("NOT_FOUND"), ERR_INTERNAL);
	assert_int_equal(err_from_name("not_found "), ERR_INTERNAL);
	assert_int_equal(err_from_name("not_foun"), ERR_INTERNAL);
	/* "ok" must never turn a database failure into a success. */
	assert_int_equal(err_from_name("ok"), ERR_INTERNAL);
	assert_int_equal(err_from_name(err_name(ERR_NONE)), ERR_INTERNAL);
}

static void test_out_of_range_code(void **state)
{
	(void)state;
	assert_string_equal(err_name(ERR__COUNT), "internal_error");
	assert_int_equal(err_http_status(ERR__COUNT), 500);
	assert_string_equal(err_name((enum err_code)1000), "internal_error");
	assert_int_equal(err_http_status((enum err_code)1000), 500);
	assert_string_equal(err_name((enum err_code) - 1), "internal_error");
	assert_int_equal(err_http_status((enum err_code) - 1), 500);
}

static void test_object(void **state)
{
	json_t *o;

	(void)state;
	o = err_object(ERR_ROOM_EXISTS, "a room with this name already exists", "room_name");
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 3);
	assert_string_equal(json_string_value(json_object_get(o, "code")), "room_exists");
	assert_string_equal(json_string_value(json_object_get(o, "message")),
			    "a room with this name already exists");
	assert_string_equal(json_string_value(json_object_get(o, "field")), "room_name");
	json_decref(o);

	o = err_object(ERR_DB_UNAVAILABLE, NULL, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 2);
	assert_string_equal(json_string_value(json_object_get(o, "code")), "db_unavailable");
	assert_string_equal(json_string_value(json_object_get(o, "message")), "db_unavailable");
	assert_null(json_object_get(o, "field"));
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_is_in_design),
		cmocka_unit_test(test_names_and_statuses),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_names_unique),
		cmocka_unit_test(test_unknown_name_is_internal),
		cmocka_unit_test(test_out_of_range_code),
		cmocka_unit_test(test_object),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

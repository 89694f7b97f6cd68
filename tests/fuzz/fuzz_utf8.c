/* fuzz_utf8.c -- libFuzzer harness for common/utf8.c, valid_text and the error envelope. */
#include <jansson.h>
#include <unistr.h>

#include "envelope.h"
#include "err.h"
#include "fuzz.h"
#include "utf8.h"
#include "valid.h"

/* utf8_check_text under every flag combination, against the reference decoder. */
static void check_utf8(const uint8_t *data, size_t size, const struct fuzz_text *t)
{
	const char *s = (const char *)data;

	/* libunistring and the reference agree on what is well formed. */
	FUZZ_CHECK((u8_check(data, size) == NULL) == t->well_formed);
	for (unsigned flags = 0; flags <= (UTF8_ALLOW_NEWLINE | UTF8_ALLOW_TAB); flags++) {
		size_t chars = (size_t)-1;
		enum utf8_result r = utf8_check_text(s, size, flags, &chars);
		int control = t->has_control || (t->has_newline && !(flags & UTF8_ALLOW_NEWLINE)) ||
			(t->has_tab && !(flags & UTF8_ALLOW_TAB));

		FUZZ_CHECK(utf8_check_text(s, size, flags, NULL) == r);
		if (!t->well_formed) {
			FUZZ_CHECK(r == UTF8_INVALID);
		} else if (t->has_nul || control) {
			/* U+0000 is a control character like the others. */
			FUZZ_CHECK(r == UTF8_CONTROL);
		} else {
			FUZZ_CHECK(r == UTF8_OK);
			FUZZ_CHECK(chars == t->chars);
			FUZZ_CHECK(chars == u8_mbsnlen(data, size));
		}
		if (r != UTF8_OK)
			FUZZ_CHECK(chars == (size_t)-1);
	}
	/* Ill-formed bytes are never white space. */
	FUZZ_CHECK(!!utf8_is_blank(s, size) == (t->well_formed && t->all_white));
}

/* valid_text with the limits of every text field and a few tight ones. */
static void check_valid_text(const uint8_t *data, size_t size, const struct fuzz_text *t)
{
	static const struct {
		long min, max;
	} ranges[] = {
		{ 1, 4000 }, /* message (CHAT_MESSAGE_MAX) */
		{ 1, 64 },   /* room name, client_id */
		{ 0, 500 },  /* description */
		{ 0, 0 },    { 1, 1 }, { 2, 5 }, { 3, 2 },
	};
	const char *s = (const char *)data;

	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		for (unsigned flags = 0; flags <= (VALID_MULTILINE | VALID_ALLOW_BLANK); flags++) {
			long min = ranges[i].min, max = ranges[i].max;
			int expect = t->well_formed && !t->has_nul && !t->has_control &&
				((flags & VALID_MULTILINE) || (!t->has_newline && !t->has_tab)) &&
				(long)t->chars >= min && (long)t->chars <= max &&
				(t->chars == 0 || (flags & VALID_ALLOW_BLANK) || !t->all_white);
			struct valid_err e;
			int r;

			memset(&e, 0x5a, sizeof(e));
			r = valid_text("message", s, size, min, max, flags, &e);
			FUZZ_CHECK(r == 0 || r == -1);
			FUZZ_CHECK((r == 0) == expect);
			if (r == 0)
				continue;
			FUZZ_CHECK(e.code == ERR_VALIDATION);
			FUZZ_CHECK(e.field != NULL && strcmp(e.field, "message") == 0);
			FUZZ_CHECK(memchr(e.message, '\0', sizeof(e.message)) != NULL);
			FUZZ_CHECK(strncmp(e.message, "message ", 8) == 0);
		}
	}
}

/* The error envelope takes any text: what is not UTF-8 is replaced, never lost. */
static void check_envelope(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	size_t tl = strlen(text);
	int text_utf8 = u8_check((const uint8_t *)text, tl) == NULL;
	enum err_code code = size ? (enum err_code)(data[0] % (ERR__COUNT + 1)) : ERR_VALIDATION;
	const char *field = size && (data[0] & 0x80) ? text : "message";
	int field_utf8 = field == text ? text_utf8 : 1;
	size_t outlen = 0;
	char *out = envelope_error(code, text, field, &outlen);
	json_t *root, *err;
	json_error_t jerr;
	const char *msg;
	enum err_code back;

	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(outlen == strlen(out));
	root = json_loadb(out, outlen, JSON_REJECT_DUPLICATES, &jerr);
	FUZZ_CHECK(root != NULL);
	FUZZ_CHECK(json_is_false(json_object_get(root, "success")));
	err = json_object_get(root, "error");
	FUZZ_CHECK(json_is_object(err));
	FUZZ_CHECK(json_is_string(json_object_get(err, "code")));
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(err, "code")), err_name(code)) == 0);
	msg = json_string_value(json_object_get(err, "message"));
	FUZZ_CHECK(msg != NULL);
	if (text_utf8 && field_utf8) {
		FUZZ_CHECK(strcmp(msg, text) == 0);
		FUZZ_CHECK(json_is_string(json_object_get(err, "field")));
		FUZZ_CHECK(strcmp(json_string_value(json_object_get(err, "field")), field) == 0);
	} else {
		FUZZ_CHECK(strcmp(msg, text) == 0 || strcmp(msg, err_name(code)) == 0);
	}
	json_decref(root);
	free(out);

	out = envelope_success_raw((const char *)data, size, &outlen);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(outlen == sizeof("{\"success\":true,\"data\":") - 1 + size + 1);
	FUZZ_CHECK(memcmp(out + outlen - 1 - size, data, size) == 0);
	FUZZ_CHECK(out[outlen - 1] == '}' && out[outlen] == '\0');
	free(out);

	out = envelope_success_raw(NULL, 0, &outlen);
	FUZZ_CHECK(out != NULL && strcmp(out, "{\"success\":true,\"data\":null}") == 0);
	free(out);

	/* A wire name read back from the database. */
	back = err_from_name(text);
	FUZZ_CHECK(back > ERR_NONE && back < ERR__COUNT);
	FUZZ_CHECK(back == ERR_INTERNAL || strcmp(err_name(back), text) == 0);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_text t;

	fuzz_text_scan(data, size, &t);
	check_utf8(data, size, &t);
	check_valid_text(data, size, &t);
	check_envelope(data, size);
	return 0;
}

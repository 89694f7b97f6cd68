/* fuzz_json_payloads.c -- libFuzzer harness for the JSON bodies and event payloads clients send. */
#include <jansson.h>
#include <unistr.h>

#include "cfg.h"
#include "envelope.h"
#include "err.h"
#include "fuzz.h"
#include "sio.h"
#include "tok.h"
#include "utf8.h"
#include "valid.h"

/*
 * The input is one JSON text, read the way the server reads it: a REST
 * body and a Socket.IO event array with JSON_REJECT_DUPLICATES
 * (api_read_json, on_sio_event), a CONNECT payload with no flags
 * (on_sio_connect). Every object found at the top, or as an element of a
 * top-level array (an event's payload), goes through the validation calls
 * of every endpoint and event, with the limits of a default configuration.
 * The per-endpoint sequences live in the handlers of fcgi-app/api_*.c and
 * of ws-bridge/events.c and session.c; only the common/ functions they
 * call are exercised.
 */

static struct cfg fuzz_cfg;

extern char **environ;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	/* The defaults of cfg.c, whatever CHAT_* the shell has. */
	for (size_t i = 0; environ[i];) {
		char name[128];
		const char *eq = strchr(environ[i], '=');
		size_t n = eq ? (size_t)(eq - environ[i]) : 0;

		if (strncmp(environ[i], "CHAT_", 5) == 0 && n < sizeof(name)) {
			memcpy(name, environ[i], n);
			name[n] = '\0';
			unsetenv(name);
			continue;
		}
		i++;
	}
	FUZZ_CHECK(cfg_load(&fuzz_cfg, err, sizeof(err)) == 0);
	return 0;
}

/* A validation error must make a correct answer on both transports. */
static void check_answer(const struct valid_err *e, const char *field)
{
	size_t len = 0;
	char *out;
	json_t *root, *err;
	struct frame *f;

	FUZZ_CHECK(e->code == ERR_VALIDATION);
	FUZZ_CHECK(e->field != NULL && strcmp(e->field, field) == 0);
	FUZZ_CHECK(memchr(e->message, '\0', sizeof(e->message)) != NULL);
	FUZZ_CHECK(e->message[0] != '\0');
	/* REST: http_send_error's envelope keeps message and field. */
	out = envelope_error(e->code, e->message, e->field, &len);
	FUZZ_CHECK(out != NULL);
	root = json_loadb(out, len, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_CHECK(root != NULL);
	err = json_object_get(root, "error");
	FUZZ_CHECK(json_is_string(json_object_get(err, "message")));
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(err, "message")), e->message) == 0);
	FUZZ_CHECK(json_is_string(json_object_get(err, "field")));
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(err, "field")), field) == 0);
	json_decref(root);
	free(out);
	/* Socket.IO: ev_fail answers as the ack, or as an `error` event. */
	f = sio_ack_error(1, err_name(e->code), e->message);
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(u8_check((const uint8_t *)frame_payload(f), f->len) == NULL);
	frame_unref(f);
	f = sio_error_event(err_name(e->code), e->message);
	FUZZ_CHECK(f != NULL);
	frame_unref(f);
}

/*
 * valid_string_field, checked against the object. A string that passes
 * goes to libpq as a C string, so its length must be its strlen.
 * Returns 0 with *s (NULL when absent), or -1.
 */
static int string_field(const json_t *obj, const char *field, enum valid_need need, const char **s,
			size_t *len)
{
	const json_t *v = json_object_get(obj, field);
	struct valid_err e;
	int absent = !v || json_is_null(v);

	*s = (const char *)1;
	*len = 99;
	memset(&e, 0x5a, sizeof(e));
	if (valid_string_field(obj, field, need, s, len, &e)) {
		FUZZ_CHECK(*s == NULL && *len == 0);
		FUZZ_CHECK(absent ? need == VALID_REQUIRED
				  : !json_is_string(v) ||
					   strlen(json_string_value(v)) != json_string_length(v));
		check_answer(&e, field);
		return -1;
	}
	if (absent) {
		FUZZ_CHECK(need == VALID_OPTIONAL && *s == NULL && *len == 0);
		return 0;
	}
	FUZZ_CHECK(json_is_string(v));
	FUZZ_CHECK(*s == json_string_value(v));
	FUZZ_CHECK(*len == strlen(*s));
	FUZZ_CHECK(u8_check((const uint8_t *)*s, *len) == NULL);
	return 0;
}

/* valid_text against the reference scan; jansson strings are always UTF-8. */
static void text(const char *field, const char *s, size_t len, long min, long max, unsigned flags)
{
	struct fuzz_text t;
	struct valid_err e;
	int r, expect;

	fuzz_text_scan((const uint8_t *)s, len, &t);
	FUZZ_CHECK(t.well_formed && !t.has_nul);
	expect = !t.has_control && ((flags & VALID_MULTILINE) || (!t.has_newline && !t.has_tab)) &&
		(long)t.chars >= min && (long)t.chars <= max &&
		(t.chars == 0 || (flags & VALID_ALLOW_BLANK) || !t.all_white);
	memset(&e, 0x5a, sizeof(e));
	r = valid_text(field, s, len, min, max, flags, &e);
	FUZZ_CHECK((r == 0) == expect);
	if (r)
		check_answer(&e, field);
}

static void username(const char *s, size_t len)
{
	struct valid_err e;
	int expect = len >= 1 && (long)len <= fuzz_cfg.username_max;

	for (size_t i = 0; expect && i < len; i++)
		expect = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.';
	memset(&e, 0x5a, sizeof(e));
	if (valid_username(s, len, fuzz_cfg.username_max, &e)) {
		FUZZ_CHECK(!expect);
		check_answer(&e, "username");
	} else {
		FUZZ_CHECK(expect);
	}
}

static void room_id(const char *s, size_t len)
{
	int expect = len >= 1 && len <= 64;

	for (size_t i = 0; expect && i < len; i++)
		expect = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-';
	FUZZ_CHECK(!!valid_room_id(s, len) == expect);
}

/* The validation calls of every endpoint and event, on one object. */
static void check_object(const json_t *obj)
{
	const struct cfg *c = &fuzz_cfg;
	const char *s;
	size_t len;

	/* POST /api/join */
	if (string_field(obj, "username", VALID_REQUIRED, &s, &len) == 0)
		username(s, len);
	if (string_field(obj, "room_id", VALID_OPTIONAL, &s, &len) == 0 && s)
		room_id(s, len);
	/* POST /api/rooms: the name under either key. */
	if (string_field(obj, "room_name", VALID_REQUIRED, &s, &len) == 0)
		text("room_name", s, len, 1, c->room_name_max, 0);
	if (string_field(obj, "name", VALID_REQUIRED, &s, &len) == 0)
		text("name", s, len, 1, c->room_name_max, 0);
	if (string_field(obj, "description", VALID_OPTIONAL, &s, &len) == 0 && s)
		text("description", s, len, 0, c->description_max,
		     VALID_MULTILINE | VALID_ALLOW_BLANK);
	/* POST /api/messages/{room_id} and the send_message event. */
	if (string_field(obj, "message", VALID_REQUIRED, &s, &len) == 0)
		text("message", s, len, 1, c->message_max, VALID_MULTILINE);
	if (string_field(obj, "client_id", VALID_OPTIONAL, &s, &len) == 0 && s)
		text("client_id", s, len, 1, c->client_id_max, 0);
	/* join_room, leave_room, send_message, typing: ev_room_id. */
	if (string_field(obj, "room_id", VALID_REQUIRED, &s, &len) == 0)
		room_id(s, len);
}

/* on_sio_connect: the token of the CONNECT payload. */
static void check_connect(const json_t *auth)
{
	const char *token = json_string_value(json_object_get(auth, "token"));
	size_t len = json_string_length(json_object_get(auth, "token"));
	char hash[2 + TOK_HASH_HEX_LEN + 1];

	/* By its length, as the bridge reads it: "\u0000" is inside, not the end. */
	if (!token || !tok_wellformed(token, len))
		return;
	FUZZ_CHECK(len == TOK_LEN && strlen(token) == TOK_LEN);
	FUZZ_CHECK(tok_hash_bytea(token, len, hash) == 0);
	FUZZ_CHECK(strlen(hash) == 2 + TOK_HASH_HEX_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	/* As fcgi-app/api.c and ws-bridge/session.c and events.c parse: "\u0000" is let
	 * through to valid_string_field, which refuses it. */
	json_t *strict = json_loadb((const char *)data, size,
				    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	json_t *loose = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);

	if (!strict) {
		/* api_read_json's answer quotes jansson's error text. */
		char msg[200];
		size_t len = 0;
		char *out;
		json_t *env;
		const char *shown;

		FUZZ_CHECK(memchr(jerr.text, '\0', sizeof(jerr.text)) != NULL);
		/* As fcgi-app/api.c builds it: whole characters of jansson's text only. */
		snprintf(msg, sizeof(msg), "body is not valid JSON: %.*s",
			 (int)utf8_valid_prefix(jerr.text, strlen(jerr.text)), jerr.text);
		out = envelope_error(ERR_INVALID_JSON, msg, NULL, &len);
		FUZZ_CHECK(out != NULL);
		env = json_loadb(out, len, 0, NULL);
		shown = json_string_value(
			json_object_get(json_object_get(env, "error"), "message"));
		FUZZ_CHECK(shown != NULL);
		/*
		 * jansson quotes the bytes near the error and may cut a UTF-8
		 * character in two ("\\" then 0xe6 of a CJK character; corpus
		 * seed jansson-error-cuts-utf8): the message keeps the whole
		 * characters, so the client always sees the explanation.
		 */
		FUZZ_CHECK(u8_check((const uint8_t *)msg, strlen(msg)) == NULL);
		FUZZ_CHECK(strcmp(shown, msg) == 0);
		json_decref(env);
		free(out);
	} else {
		/* Rejecting duplicates only ever refuses more. */
		FUZZ_CHECK(loose != NULL && json_equal(strict, loose));
		if (json_is_object(strict))
			check_object(strict);
		for (size_t i = 0; i < json_array_size(strict); i++)
			if (json_is_object(json_array_get(strict, i)))
				check_object(json_array_get(strict, i));
	}
	if (json_is_object(loose))
		check_connect(loose);
	json_decref(strict);
	json_decref(loose);
	return 0;
}

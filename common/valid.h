/* valid.h -- validation of client input, with an error that names the field. */
#ifndef CHAT_VALID_H
#define CHAT_VALID_H

#include <jansson.h>
#include <stddef.h>

#include "cfg.h"
#include "err.h"

/* What went wrong, ready for the error envelope. */
struct valid_err {
	enum err_code code; /* ERR_VALIDATION unless noted */
	const char *field;  /* the field name as the client sent it */
	char message[192];
};

enum valid_need { VALID_OPTIONAL = 0, VALID_REQUIRED = 1 };

/*
 * Reads obj[field] as a string. A missing or null field is an error when
 * required and gives *out = NULL otherwise; any other JSON type is an
 * error, and so is a string holding U+0000 (JSON's "\u0000", which callers
 * parse with JSON_ALLOW_NUL so that it reaches this check): no field takes
 * one, and the C string handed on would end there. On success *out and
 * *len point into obj (valid while obj lives) and *len == strlen(*out).
 * Returns 0, or -1 with *e filled.
 */
int valid_string_field(const json_t *obj, const char *field, enum valid_need need, const char **out,
		       size_t *len, struct valid_err *e) __attribute__((warn_unused_result));

/* 1..max characters of letters, digits, '_', '-', '.'. Returns 0 or -1. */
int valid_username(const char *s, size_t len, long max, struct valid_err *e)
	__attribute__((warn_unused_result));

/* The bounds of a password, in bytes (DESIGN.md section 7). */
#define VALID_PASSWORD_MIN 8
#define VALID_PASSWORD_MAX 256

/*
 * A password: 8..256 bytes (not characters: the hash's input) of
 * well-formed UTF-8; valid_string_field already refused U+0000. Returns
 * 0 or -1 naming field.
 */
int valid_password(const char *field, const char *s, size_t len, struct valid_err *e)
	__attribute__((warn_unused_result));

enum valid_text_flags {
	VALID_MULTILINE = 1 << 0,   /* newline and tab allowed */
	VALID_ALLOW_BLANK = 1 << 1, /* white space only (or empty, if min is 0) allowed */
};

/*
 * Free text: well-formed UTF-8, min..max characters (code points), no
 * control characters other than newline and tab with VALID_MULTILINE, not
 * only white space unless VALID_ALLOW_BLANK. Returns 0 or -1.
 */
int valid_text(const char *field, const char *s, size_t len, long min, long max, unsigned flags,
	       struct valid_err *e) __attribute__((warn_unused_result));

/*
 * Returns nonzero when s[0..len) can be a room id: 1..64 characters of
 * letters, digits, '-' and '_'. Anything else cannot name a room.
 */
int valid_room_id(const char *s, size_t len);

/* The largest seq or cursor a client may send: what a JavaScript number holds exactly. */
#define VALID_SEQ_MAX 9007199254740991LL

/*
 * Reads obj[field] as a required JSON integer from 0 to VALID_SEQ_MAX
 * (a read position: mark_read and POST /api/rooms/{id}/read). Returns 0
 * with *out set, or -1 with *e filled.
 */
int valid_seq_field(const json_t *obj, const char *field, long long *out, struct valid_err *e)
	__attribute__((warn_unused_result));

/*
 * Reads the integer query parameter name from qs into *out when present
 * (*present says whether it was). A malformed, non-integer or out-of-range
 * value is an error naming the parameter. Returns 0 or -1.
 */
int valid_query_long(const char *qs, const char *name, long min, long max, long *out, int *present,
		     struct valid_err *e) __attribute__((warn_unused_result));

/* A message as POST /api/messages/{room} and the send_message event take it. */
struct valid_message {
	const char *content;   /* the text, NUL-terminated (points into the JSON) */
	const char *client_id; /* or NULL */
};

/*
 * Reads and checks "message" (required text, 1..message_max characters,
 * newlines and tabs allowed) and "client_id" (optional, 1..client_id_max
 * characters) of obj. Returns 0 with *m filled, or -1 with *e filled.
 */
int valid_message_body(const json_t *obj, const struct cfg *cfg, struct valid_message *m,
		       struct valid_err *e) __attribute__((warn_unused_result));

/*
 * Reads and checks "message" of obj as valid_message_body does (an edit's
 * new text). Returns 0 with *content pointing into obj, or -1 with *e
 * filled.
 */
int valid_message_text(const json_t *obj, const struct cfg *cfg, const char **content,
		       struct valid_err *e) __attribute__((warn_unused_result));

#endif

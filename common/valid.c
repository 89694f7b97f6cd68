/* valid.c -- validation of client input, with an error that names the field. */
#include "valid.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "qs.h"
#include "utf8.h"

static int valid_fail(struct valid_err *e, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int valid_fail(struct valid_err *e, const char *field, const char *fmt, ...)
{
	va_list ap;

	e->code = ERR_VALIDATION;
	e->field = field;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

int valid_string_field(const json_t *obj, const char *field, enum valid_need need, const char **out,
		       size_t *len, struct valid_err *e)
{
	const json_t *v = json_object_get(obj, field);

	*out = NULL;
	*len = 0;
	if (!v || json_is_null(v)) {
		if (need == VALID_REQUIRED)
			return valid_fail(e, field, "%s is required", field);
		return 0;
	}
	if (!json_is_string(v))
		return valid_fail(e, field, "%s must be a string", field);
	/* JSON may carry "\u0000" (the body is parsed with JSON_ALLOW_NUL): no
	 * field takes it, and a C string would silently end there. */
	if (memchr(json_string_value(v), '\0', json_string_length(v)))
		return valid_fail(e, field, "%s must not contain control characters", field);
	*out = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

int valid_password(const char *field, const char *s, size_t len, struct valid_err *e)
{
	if (len < VALID_PASSWORD_MIN || len > VALID_PASSWORD_MAX)
		return valid_fail(e, field, "%s must be %d to %d bytes", field, VALID_PASSWORD_MIN,
				  VALID_PASSWORD_MAX);
	if (utf8_valid_prefix(s, len) != len)
		return valid_fail(e, field, "%s must be valid UTF-8", field);
	return 0;
}

int valid_username(const char *s, size_t len, long max, struct valid_err *e)
{
	if (len == 0)
		return valid_fail(e, "username", "username must not be empty");
	if ((long)len > max)
		return valid_fail(e, "username", "username must be at most %ld characters", max);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return valid_fail(
				e, "username",
				"username may contain only letters, digits, '_', '-' and '.'");
	}
	return 0;
}

int valid_text(const char *field, const char *s, size_t len, long min, long max, unsigned flags,
	       struct valid_err *e)
{
	unsigned uflags = (flags & VALID_MULTILINE) ? UTF8_ALLOW_NEWLINE | UTF8_ALLOW_TAB : 0;
	size_t chars = 0;

	switch (utf8_check_text(s, len, uflags, &chars)) {
	case UTF8_OK:
		break;
	case UTF8_CONTROL:
		return valid_fail(e, field, "%s must not contain control characters", field);
	case UTF8_INVALID:
	default:
		return valid_fail(e, field, "%s must be valid UTF-8", field);
	}
	if ((long)chars < min)
		return valid_fail(e, field, min == 1 ? "%s must not be empty" : "%s is too short",
				  field);
	if ((long)chars > max)
		return valid_fail(e, field, "%s must be at most %ld characters", field, max);
	if (chars > 0 && !(flags & VALID_ALLOW_BLANK) && utf8_is_blank(s, len))
		return valid_fail(e, field, "%s must not be only white space", field);
	return 0;
}

int valid_room_id(const char *s, size_t len)
{
	if (!s || len == 0 || len > 64)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int valid_seq_field(const json_t *obj, const char *field, long long *out, struct valid_err *e)
{
	const json_t *v = json_object_get(obj, field);

	*out = 0;
	if (!v || json_is_null(v))
		return valid_fail(e, field, "%s is required", field);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > VALID_SEQ_MAX)
		return valid_fail(e, field, "%s must be an integer from 0 to %lld", field,
				  VALID_SEQ_MAX);
	*out = (long long)json_integer_value(v);
	return 0;
}

int valid_query_long(const char *qs, const char *name, long min, long max, long *out, int *present,
		     struct valid_err *e)
{
	char buf[32];

	*present = 0;
	switch (qs_get(qs, name, buf, sizeof(buf))) {
	case QS_ABSENT:
		return 0;
	case QS_FOUND:
		break;
	case QS_TOO_LONG:
	case QS_MALFORMED:
	default:
		return valid_fail(e, name, "%s must be an integer from %ld to %ld", name, min, max);
	}
	if (buf[0] == '-' && min >= 0)
		return valid_fail(e, name, "%s must be an integer from %ld to %ld", name, min, max);
	if (cfg_parse_long(buf, min, max, out))
		return valid_fail(e, name, "%s must be an integer from %ld to %ld", name, min, max);
	*present = 1;
	return 0;
}

int valid_message_text(const json_t *obj, const struct cfg *cfg, const char **content,
		       struct valid_err *e)
{
	size_t clen;

	*content = NULL;
	if (valid_string_field(obj, "message", VALID_REQUIRED, content, &clen, e) ||
	    valid_text("message", *content, clen, 1, cfg->message_max, VALID_MULTILINE, e)) {
		*content = NULL;
		return -1;
	}
	return 0;
}

int valid_message_body(const json_t *obj, const struct cfg *cfg, struct valid_message *m,
		       struct valid_err *e)
{
	size_t cidlen;

	m->content = NULL;
	m->client_id = NULL;
	if (valid_message_text(obj, cfg, &m->content, e) ||
	    valid_string_field(obj, "client_id", VALID_OPTIONAL, &m->client_id, &cidlen, e) ||
	    (m->client_id &&
	     valid_text("client_id", m->client_id, cidlen, 1, cfg->client_id_max, 0, e)))
		return -1;
	return 0;
}

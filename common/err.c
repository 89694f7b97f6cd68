/* err.c -- the API error codes shared by the REST API and the bridge. */
#include "err.h"

#include <string.h>

static const struct {
	const char *name;
	int status;
} err_table[ERR__COUNT] = {
	[ERR_NONE] = { "ok", 200 },
	[ERR_INVALID_JSON] = { "invalid_json", 400 },
	[ERR_VALIDATION] = { "validation_error", 400 },
	[ERR_UNAUTHORIZED] = { "unauthorized", 401 },
	[ERR_FORBIDDEN] = { "forbidden", 403 },
	[ERR_NOT_FOUND] = { "not_found", 404 },
	[ERR_METHOD_NOT_ALLOWED] = { "method_not_allowed", 405 },
	[ERR_CONFLICT] = { "conflict", 409 },
	[ERR_USERNAME_TAKEN] = { "username_taken", 409 },
	[ERR_ROOM_EXISTS] = { "room_exists", 409 },
	[ERR_PAYLOAD_TOO_LARGE] = { "payload_too_large", 413 },
	[ERR_UNSUPPORTED_MEDIA_TYPE] = { "unsupported_media_type", 415 },
	[ERR_RATE_LIMITED] = { "rate_limited", 429 },
	[ERR_INTERNAL] = { "internal_error", 500 },
	[ERR_DB_UNAVAILABLE] = { "db_unavailable", 503 },
	[ERR_OUTCOME_UNKNOWN] = { "outcome_unknown", 503 },
	[ERR_INVALID_CREDENTIALS] = { "invalid_credentials", 401 },
	[ERR_SERVER_BUSY] = { "server_busy", 503 },
};

const char *err_name(enum err_code code)
{
	if ((unsigned)code >= ERR__COUNT)
		code = ERR_INTERNAL;
	return err_table[code].name;
}

int err_http_status(enum err_code code)
{
	if ((unsigned)code >= ERR__COUNT)
		code = ERR_INTERNAL;
	return err_table[code].status;
}

enum err_code err_from_name(const char *name)
{
	if (!name)
		return ERR_INTERNAL;
	for (int i = ERR_NONE + 1; i < ERR__COUNT; i++)
		if (strcmp(err_table[i].name, name) == 0)
			return (enum err_code)i;
	return ERR_INTERNAL;
}

json_t *err_object(enum err_code code, const char *message, const char *field)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_object_set_new(o, "code", json_string(err_name(code))) ||
	    json_object_set_new(o, "message", json_string(message ? message : err_name(code))) ||
	    (field && json_object_set_new(o, "field", json_string(field)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

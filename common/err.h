/* err.h -- the API error codes shared by the REST API and the bridge. */
#ifndef CHAT_ERR_H
#define CHAT_ERR_H

#include <jansson.h>

enum err_code {
	ERR_NONE = 0,
	ERR_INVALID_JSON,
	ERR_VALIDATION,
	ERR_UNAUTHORIZED,
	ERR_FORBIDDEN,
	ERR_NOT_FOUND,
	ERR_METHOD_NOT_ALLOWED,
	ERR_CONFLICT,
	ERR_USERNAME_TAKEN,
	ERR_ROOM_EXISTS,
	ERR_PAYLOAD_TOO_LARGE,
	ERR_UNSUPPORTED_MEDIA_TYPE,
	ERR_RATE_LIMITED,
	ERR_INTERNAL,
	ERR_DB_UNAVAILABLE,
	ERR_OUTCOME_UNKNOWN,     /* the connection broke after a write was sent */
	ERR_INVALID_CREDENTIALS, /* a sign-in with an unknown name or a wrong password */
	ERR_SERVER_BUSY,         /* every password-hashing slot stayed busy */
	ERR__COUNT
};

/* Returns the wire name of the code ("validation_error"); never NULL. */
const char *err_name(enum err_code code);

/* Returns the HTTP status that goes with the code (400, 401, ...). */
int err_http_status(enum err_code code);

/*
 * Looks up a wire name as the database functions return it. Returns
 * ERR_INTERNAL for a name it does not know, so an unexpected value can
 * never turn into a success.
 */
enum err_code err_from_name(const char *name);

/*
 * Builds {"code","message"[,"field"]}. field may be NULL. Returns a new
 * reference the caller owns, or NULL when out of memory.
 */
json_t *err_object(enum err_code code, const char *message, const char *field);

#endif

/* envelope.h -- the JSON envelope of every API answer. */
#ifndef CHAT_ENVELOPE_H
#define CHAT_ENVELOPE_H

#include <stddef.h>

#include "err.h"

/*
 * Returns {"success":true,"data":<data>} where data is JSON text produced
 * by a trusted source (the database functions), spliced without reparsing.
 * NULL data gives "data":null. The caller owns the result (free(3));
 * *outlen gets its length. NULL when out of memory.
 */
char *envelope_success_raw(const char *data, size_t datalen, size_t *outlen);

/*
 * Returns {"success":false,"error":{"code","message"[,"field"]}}. message
 * and field may be NULL; a message that is not valid UTF-8 is replaced by
 * the code name. The caller owns the result (free(3)). NULL when out of
 * memory.
 */
char *envelope_error(enum err_code code, const char *message, const char *field, size_t *outlen);

#endif

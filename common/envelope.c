/* envelope.c -- the JSON envelope of every API answer. */
#include "envelope.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

char *envelope_success_raw(const char *data, size_t datalen, size_t *outlen)
{
	static const char head[] = "{\"success\":true,\"data\":";
	size_t hl = sizeof(head) - 1;
	char *out;

	if (!data) {
		data = "null";
		datalen = 4;
	}
	out = malloc(hl + datalen + 2);
	if (!out)
		return NULL;
	memcpy(out, head, hl);
	memcpy(out + hl, data, datalen);
	out[hl + datalen] = '}';
	out[hl + datalen + 1] = '\0';
	*outlen = hl + datalen + 1;
	return out;
}

char *envelope_error(enum err_code code, const char *message, const char *field, size_t *outlen)
{
	json_t *root, *err;
	char *out;

	/* jansson refuses strings that are not UTF-8: drop the message first,
	 * then the field too. */
	err = err_object(code, message, field);
	if (!err)
		err = err_object(code, NULL, field);
	if (!err)
		err = err_object(code, NULL, NULL);
	if (!err)
		return NULL;
	root = json_pack("{s:b, s:o}", "success", 0, "error", err);
	if (!root)
		return NULL;
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (out)
		*outlen = strlen(out);
	return out;
}

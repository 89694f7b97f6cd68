/* jsonpeek.h -- one member of a JSON object read out of its text without parsing the rest. */
#ifndef WS_JSONPEEK_H
#define WS_JSONPEEK_H

#include <stddef.h>

/*
 * The raw text of the value at obj[k1][k2] (k2 NULL: obj[k1]) in the JSON
 * object text s[0..len): its first byte in *val, its length in *vlen. The
 * first member of that name counts. For the answers of our own SQL
 * functions (valid JSON, keys without escapes): the bridge needs one or two
 * fields of a join ack or a CONNECT's "connected" payload, and parsing all
 * of it (rooms, members) into jansson objects was a fifth of chat-ws's CPU
 * per connect. Returns 0, or -1 when the value is not found or the text is
 * not what is expected (the caller parses it whole then).
 */
int jsonpeek(const char *s, size_t len, const char *k1, const char *k2, const char **val,
	     size_t *vlen);

/*
 * jsonpeek of a string value without escapes (the common case of an id or
 * a name), copied into out like snprintf("%s"). Returns 0, or -1 when not
 * found, not a string or holding an escape.
 */
int jsonpeek_string(const char *s, size_t len, const char *k1, const char *k2, char *out,
		    size_t outlen);

/*
 * jsonpeek of an integer value (an optional '-' and 1 to 18 digits) into
 * *out. Returns 0, or -1 when not found or not such an integer.
 */
int jsonpeek_int(const char *s, size_t len, const char *k1, const char *k2, long long *out);

#endif

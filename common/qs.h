/* qs.h -- application/x-www-form-urlencoded query string lookup. */
#ifndef CHAT_QS_H
#define CHAT_QS_H

#include <stddef.h>

enum qs_result { QS_ABSENT = 0, QS_FOUND = 1, QS_MALFORMED = -1, QS_TOO_LONG = -2 };

/*
 * Finds the first parameter called name in qs (no leading '?'; NULL means
 * empty) and writes its percent-decoded value ('+' is a space) with a NUL
 * into out[0..outlen). A bad %-escape or a decoded NUL gives QS_MALFORMED,
 * a value that does not fit QS_TOO_LONG; out is then empty.
 */
enum qs_result qs_get(const char *qs, const char *name, char *out, size_t outlen);

#endif

/* utf8.h -- UTF-8 text checks on top of GNU libunistring. */
#ifndef CHAT_UTF8_H
#define CHAT_UTF8_H

#include <stddef.h>

enum utf8_flags {
	UTF8_ALLOW_NEWLINE = 1 << 0, /* accept U+000A */
	UTF8_ALLOW_TAB = 1 << 1,     /* accept U+0009 */
};

enum utf8_result {
	UTF8_OK = 0,
	UTF8_INVALID = -1, /* not well-formed UTF-8 */
	UTF8_CONTROL = -2, /* a control character (U+0000 included) the flags do not allow */
};

/*
 * Checks that s[0..len) is well-formed UTF-8 without control characters
 * (C0, DEL, C1) other than those the flags allow, and counts its code
 * points into *chars (set only on UTF8_OK; chars may be NULL).
 */
enum utf8_result utf8_check_text(const char *s, size_t len, unsigned flags, size_t *chars);

/* Returns the length of the longest prefix of s[0..len) that is well-formed UTF-8. */
size_t utf8_valid_prefix(const char *s, size_t len);

/* Returns nonzero when s[0..len) is only white space (or empty). */
int utf8_is_blank(const char *s, size_t len);

#endif

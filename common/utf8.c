/* utf8.c -- UTF-8 text checks on top of GNU libunistring. */
#include "utf8.h"

#include <unictype.h>
#include <unistr.h>

enum utf8_result utf8_check_text(const char *s, size_t len, unsigned flags, size_t *chars)
{
	const uint8_t *p = (const uint8_t *)s;
	const uint8_t *end = p + len;
	size_t n = 0;

	if (u8_check(p, len) != NULL)
		return UTF8_INVALID;
	while (p < end) {
		ucs4_t uc;
		int step = u8_mbtouc(&uc, p, (size_t)(end - p));

		if (step <= 0)
			return UTF8_INVALID;
		if (uc == '\n') {
			if (!(flags & UTF8_ALLOW_NEWLINE))
				return UTF8_CONTROL;
		} else if (uc == '\t') {
			if (!(flags & UTF8_ALLOW_TAB))
				return UTF8_CONTROL;
		} else if (uc < 0x20 || (uc >= 0x7f && uc <= 0x9f)) {
			return UTF8_CONTROL;
		}
		p += step;
		n++;
	}
	if (chars)
		*chars = n;
	return UTF8_OK;
}

size_t utf8_valid_prefix(const char *s, size_t len)
{
	const uint8_t *bad = u8_check((const uint8_t *)s, len);

	return bad ? (size_t)(bad - (const uint8_t *)s) : len;
}

int utf8_is_blank(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	const uint8_t *end = p + len;

	while (p < end) {
		ucs4_t uc;
		int step = u8_mbtouc(&uc, p, (size_t)(end - p));

		if (step <= 0)
			return 0;
		if (!uc_is_property_white_space(uc))
			return 0;
		p += step;
	}
	return 1;
}

/* qs.c -- application/x-www-form-urlencoded query string lookup. */
#include "qs.h"

#include <string.h>

static int qs_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes src[0..n) into out; returns the decoded length or a qs_result. */
static long qs_decode(const char *src, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = src[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return QS_MALFORMED;
			hi = qs_hexval(src[i + 1]);
			lo = qs_hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return QS_MALFORMED;
			c = (char)(hi * 16 + lo);
			if (c == '\0')
				return QS_MALFORMED;
			i += 2;
		}
		if (o + 1 >= outlen)
			return QS_TOO_LONG;
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

enum qs_result qs_get(const char *qs, const char *name, char *out, size_t outlen)
{
	size_t namelen = strlen(name);
	const char *p = qs;

	if (outlen)
		out[0] = '\0';
	if (!qs || outlen == 0)
		return QS_ABSENT;
	while (*p) {
		const char *end = strchr(p, '&');
		const char *eq;
		size_t seglen;

		if (!end)
			end = p + strlen(p);
		seglen = (size_t)(end - p);
		eq = memchr(p, '=', seglen);
		if ((eq ? (size_t)(eq - p) : seglen) == namelen && memcmp(p, name, namelen) == 0) {
			long r = eq ? qs_decode(eq + 1, (size_t)(end - eq - 1), out, outlen)
				    : qs_decode("", 0, out, outlen);

			if (r < 0) {
				out[0] = '\0';
				return (enum qs_result)r;
			}
			return QS_FOUND;
		}
		p = *end ? end + 1 : end;
	}
	return QS_ABSENT;
}

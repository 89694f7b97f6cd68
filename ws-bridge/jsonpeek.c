/* jsonpeek.c -- one member of a JSON object read out of its text without parsing the rest. */
#include "jsonpeek.h"

#include <stdio.h>
#include <string.h>

/* Nesting deeper than this is not walked (the caller parses the text whole). */
#define PEEK_DEPTH 64

static const char *peek_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p at a '"': returns the byte after the closing quote, or NULL. */
static const char *peek_string_end(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\') {
			if (++p >= end)
				return NULL;
			continue;
		}
		if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* p at the first byte of a value: returns the byte after it, or NULL. */
static const char *peek_value_end(const char *p, const char *end)
{
	int depth = 0;

	if (p >= end)
		return NULL;
	if (*p == '"')
		return peek_string_end(p, end);
	if (*p != '{' && *p != '[') {
		/* A number, true, false or null: up to the next delimiter. */
		const char *q = p;

		while (q < end && *q != ',' && *q != '}' && *q != ']' && *q != ' ' && *q != '\t' &&
		       *q != '\n' && *q != '\r')
			q++;
		return q > p ? q : NULL;
	}
	while (p < end) {
		if (*p == '"') {
			p = peek_string_end(p, end);
			if (!p)
				return NULL;
			continue;
		}
		if (*p == '{' || *p == '[') {
			if (++depth > PEEK_DEPTH)
				return NULL;
		} else if (*p == '}' || *p == ']') {
			if (--depth == 0)
				return p + 1;
		}
		p++;
	}
	return NULL;
}

/*
 * p at a '{': the value of member key in that object, [*val, *val + *vlen).
 * Returns 0 or -1.
 */
static int peek_member(const char *p, const char *end, const char *key, const char **val,
		       size_t *vlen)
{
	size_t klen = strlen(key);

	if (p >= end || *p != '{')
		return -1;
	p = peek_ws(p + 1, end);
	while (p < end && *p == '"') {
		const char *ks = p + 1, *kend = peek_string_end(p, end), *v, *vend;

		if (!kend)
			return -1;
		p = peek_ws(kend, end);
		if (p >= end || *p != ':')
			return -1;
		v = peek_ws(p + 1, end);
		vend = peek_value_end(v, end);
		if (!vend)
			return -1;
		/* The key's text between its quotes, compared as is. */
		if ((size_t)(kend - 1 - ks) == klen && memcmp(ks, key, klen) == 0) {
			*val = v;
			*vlen = (size_t)(vend - v);
			return 0;
		}
		p = peek_ws(vend, end);
		if (p >= end || *p != ',')
			return -1;
		p = peek_ws(p + 1, end);
	}
	return -1;
}

int jsonpeek(const char *s, size_t len, const char *k1, const char *k2, const char **val,
	     size_t *vlen)
{
	const char *end = s + len, *v;
	size_t vl;

	if (peek_member(peek_ws(s, end), end, k1, &v, &vl))
		return -1;
	if (k2 && peek_member(v, v + vl, k2, &v, &vl))
		return -1;
	*val = v;
	*vlen = vl;
	return 0;
}

int jsonpeek_string(const char *s, size_t len, const char *k1, const char *k2, char *out,
		    size_t outlen)
{
	const char *v;
	size_t vl;

	if (jsonpeek(s, len, k1, k2, &v, &vl) || vl < 2 || v[0] != '"' ||
	    memchr(v + 1, '\\', vl - 2))
		return -1;
	snprintf(out, outlen, "%.*s", (int)(vl - 2), v + 1);
	return 0;
}

int jsonpeek_int(const char *s, size_t len, const char *k1, const char *k2, long long *out)
{
	const char *v;
	size_t vl, i;
	long long n = 0;
	int neg;

	if (jsonpeek(s, len, k1, k2, &v, &vl))
		return -1;
	neg = vl > 0 && v[0] == '-';
	i = (size_t)neg;
	if (vl == i || vl - i > 18)
		return -1;
	for (; i < vl; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	*out = neg ? -n : n;
	return 0;
}

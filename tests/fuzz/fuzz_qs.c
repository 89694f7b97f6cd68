/* fuzz_qs.c -- libFuzzer harness for qs_get, valid_query_long and cfg_parse_long. */
#include <limits.h>

#include "cfg.h"
#include "fuzz.h"
#include "qs.h"
#include "valid.h"

/*
 * The input is "query\0name\0number": the query string as QUERY_STRING
 * holds it, an extra parameter name to look up, and a string for
 * cfg_parse_long. Missing parts are empty.
 */

/* The integer ranges the server reads: the API's query parameters, then cfg.c's. */
static const struct {
	const char *name;
	long min, max;
} fuzz_ranges[] = {
	{ "limit", 1, 200 },                  /* GET /api/rooms, /api/messages */
	{ "offset", 0, 1000000000L },         /* GET /api/rooms */
	{ "before", 0, 9007199254740991L },   /* GET /api/messages cursor */
	{ "after", 0, 9007199254740991L },    /* GET /api/messages cursor */
	{ "port", 1, 65535 },                 /* CHAT_PORT */
	{ "content_length", 0, 65536 },       /* CONTENT_LENGTH against CHAT_MAX_BODY */
	{ "session_ttl", 120, 365L * 86400 }, /* CHAT_SESSION_TTL */
	{ "negative", -5, 5 },
	{ "any", LONG_MIN, LONG_MAX },
	{ "empty", 3, 2 },
};

/* Reference decoding of a value; returns its length, or -1 when malformed. */
static long ref_decode(const char *s, size_t n, char *out, size_t *before_error)
{
	size_t o = 0, i = 0;

	while (i < n) {
		if (s[i] == '%') {
			unsigned v = 0;

			for (size_t k = 1; k <= 2; k++) {
				char c = i + k < n ? s[i + k] : '\0';

				v <<= 4;
				if (c >= '0' && c <= '9')
					v |= (unsigned)(c - '0');
				else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
					v |= (unsigned)((c | 0x20) - 'a' + 10);
				else
					goto bad;
			}
			if (v == 0)
				goto bad;
			out[o++] = (char)v;
			i += 3;
		} else {
			out[o++] = s[i] == '+' ? ' ' : s[i];
			i++;
		}
	}
	out[o] = '\0';
	return (long)o;
bad:
	*before_error = o;
	return -1;
}

/*
 * Reference lookup: the first '&'-separated segment whose part before the
 * first '=' is exactly name. Returns 1 with the raw value, 0 when absent.
 */
static int ref_find(const char *qs, const char *name, const char **val, size_t *vlen)
{
	size_t nl = strlen(name), start = 0, len = strlen(qs);

	while (start <= len) {
		size_t stop = start, key;

		while (stop < len && qs[stop] != '&')
			stop++;
		key = start;
		while (key < stop && qs[key] != '=')
			key++;
		if (key - start == nl && strncmp(qs + start, name, nl) == 0) {
			*val = key < stop ? qs + key + 1 : qs + stop;
			*vlen = key < stop ? stop - key - 1 : 0;
			return 1;
		}
		if (stop == len)
			break;
		start = stop + 1;
	}
	return 0;
}

/* Reference for cfg_parse_long: a whole decimal number in [min, max]. */
static int ref_parse_long(const char *s, long min, long max, long *out)
{
	int neg = s[0] == '-';
	unsigned long mag = 0, limit = neg ? (unsigned long)LONG_MAX + 1 : (unsigned long)LONG_MAX;
	const char *p = s + neg;
	long v;

	if (!*p)
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (mag > (limit - (unsigned long)(*p - '0')) / 10)
			return -1;
		mag = mag * 10 + (unsigned long)(*p - '0');
	}
	v = neg ? (mag == (unsigned long)LONG_MAX + 1 ? LONG_MIN : -(long)mag) : (long)mag;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* qs_get into buffers of several sizes, each exactly as large as it says. */
static void check_get(const char *qs, const char *name)
{
	static const size_t outlens[] = { 0, 1, 2, 8, 32, 4096 };
	const char *val = NULL;
	size_t vlen = 0, before_error = 0;
	int found = ref_find(qs, name, &val, &vlen);
	char *want = malloc(vlen + 1);
	long wlen = found ? ref_decode(val, vlen, want, &before_error) : 0;

	FUZZ_CHECK(want != NULL);
	for (size_t i = 0; i < sizeof(outlens) / sizeof(outlens[0]); i++) {
		size_t outlen = outlens[i];
		char *out = malloc(outlen ? outlen : 1);
		enum qs_result r;

		FUZZ_CHECK(out != NULL);
		memset(out, 'Z', outlen ? outlen : 1);
		r = qs_get(qs, name, out, outlen);
		if (outlen == 0) {
			FUZZ_CHECK(r == QS_ABSENT);
			FUZZ_CHECK(out[0] == 'Z');
		} else if (!found) {
			FUZZ_CHECK(r == QS_ABSENT);
		} else if (wlen < 0) {
			/* A value too long before its bad escape may say either. */
			FUZZ_CHECK(r == QS_MALFORMED ||
				   (r == QS_TOO_LONG && before_error >= outlen));
		} else if ((size_t)wlen + 1 > outlen) {
			FUZZ_CHECK(r == QS_TOO_LONG);
		} else {
			FUZZ_CHECK(r == QS_FOUND);
			FUZZ_CHECK(strcmp(out, want) == 0);
		}
		if (outlen && r != QS_FOUND)
			FUZZ_CHECK(out[0] == '\0');
		free(out);
	}
	/* No query string at all. */
	FUZZ_CHECK(qs_get(NULL, name, want, 1) == QS_ABSENT);
	free(want);
}

/* valid_query_long as the GET handlers call it, against the references. */
static void check_query_long(const char *qs, const char *name, long min, long max)
{
	const char *val = NULL;
	size_t vlen = 0, before_error = 0;
	int found = ref_find(qs, name, &val, &vlen);
	char *want = malloc(vlen + 1);
	long wlen = found ? ref_decode(val, vlen, want, &before_error) : 0;
	long out = 12345, expect = 0;
	int present = -1, rc, ok;
	struct valid_err e;

	FUZZ_CHECK(want != NULL);
	memset(&e, 0x5a, sizeof(e));
	rc = valid_query_long(qs, name, min, max, &out, &present, &e);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (!found) {
		FUZZ_CHECK(rc == 0 && present == 0 && out == 12345);
	} else {
		/* The value goes through a 32-byte buffer: longer is malformed. */
		ok = wlen >= 0 && wlen < 32 && !(want[0] == '-' && min >= 0) &&
			ref_parse_long(want, min, max, &expect) == 0;
		if (ok) {
			FUZZ_CHECK(rc == 0 && present == 1 && out == expect);
			FUZZ_CHECK(out >= min && out <= max);
		} else {
			FUZZ_CHECK(rc == -1 && present == 0 && out == 12345);
			FUZZ_CHECK(e.code == ERR_VALIDATION);
			FUZZ_CHECK(e.field == name);
			FUZZ_CHECK(memchr(e.message, '\0', sizeof(e.message)) != NULL);
		}
	}
	free(want);
}

static void check_parse_long(const char *s)
{
	for (size_t i = 0; i < sizeof(fuzz_ranges) / sizeof(fuzz_ranges[0]); i++) {
		long min = fuzz_ranges[i].min, max = fuzz_ranges[i].max;
		long got = 777, want = 777;
		int rc = cfg_parse_long(s, min, max, &got);
		int ref = ref_parse_long(s, min, max, &want);

		FUZZ_CHECK(rc == ref);
		FUZZ_CHECK(got == want);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *qs = fuzz_cstr(data, size);
	size_t ql = strlen(qs);
	size_t nl = ql < size ? strlen(qs + ql + 1) : 0;
	const char *name = ql < size ? qs + ql + 1 : "";
	const char *number = ql + 1 + nl < size ? qs + ql + 1 + nl + 1 : "";

	for (size_t i = 0; i < sizeof(fuzz_ranges) / sizeof(fuzz_ranges[0]); i++) {
		check_get(qs, fuzz_ranges[i].name);
		check_query_long(qs, fuzz_ranges[i].name, fuzz_ranges[i].min, fuzz_ranges[i].max);
	}
	if (*name) {
		check_get(qs, name);
		for (size_t i = 0; i < sizeof(fuzz_ranges) / sizeof(fuzz_ranges[0]); i++)
			check_query_long(qs, name, fuzz_ranges[i].min, fuzz_ranges[i].max);
	} else {
		/* The server never asks for an empty name; whether an empty
		 * segment is one is left open. It must still be safe. */
		char out[8];

		(void)qs_get(qs, name, out, sizeof(out));
	}
	check_parse_long(qs);
	check_parse_long(number);
	free(qs);
	return 0;
}

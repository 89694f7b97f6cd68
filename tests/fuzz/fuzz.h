/* fuzz.h -- what every libFuzzer harness shares: the check macro and reference decoders. */
#ifndef CHAT_FUZZ_H
#define CHAT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The entry points libFuzzer calls; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * A broken invariant is a finding: say which one, where, and abort so that
 * libFuzzer saves the input and prints the stack.
 */
#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/*
 * Returns data[0..size) as a C string, the way a header or a query string
 * reaches the server: the bytes up to the first NUL. The caller frees it.
 */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_CHECK(s != NULL);
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * Decodes one code point from s[0..n) per Unicode table 3-7 (no overlong
 * forms, no surrogates, nothing past U+10FFFF). Returns the length of the
 * sequence (1..4) with *cp set, or 0 when the bytes are ill-formed. This is
 * written independently of libunistring so the two can be compared.
 */
static inline size_t fuzz_utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint8_t b0 = s[0];
	uint8_t lo = 0x80, hi = 0xbf;
	size_t len;
	uint32_t c;

	if (b0 < 0x80) {
		*cp = b0;
		return 1;
	}
	if (b0 >= 0xc2 && b0 <= 0xdf) {
		len = 2;
		c = b0 & 0x1f;
	} else if (b0 >= 0xe0 && b0 <= 0xef) {
		len = 3;
		c = b0 & 0x0f;
		if (b0 == 0xe0)
			lo = 0xa0; /* overlong */
		if (b0 == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (b0 >= 0xf0 && b0 <= 0xf4) {
		len = 4;
		c = b0 & 0x07;
		if (b0 == 0xf0)
			lo = 0x90; /* overlong */
		if (b0 == 0xf4)
			hi = 0x8f; /* past U+10FFFF */
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		uint8_t b = s[i];

		if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
			return 0;
		c = (c << 6) | (b & 0x3f);
	}
	*cp = c;
	return len;
}

/* Unicode's White_Space property (PropList.txt), for comparing with libunistring. */
static inline int fuzz_is_white_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
		(c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
		c == 0x205f || c == 0x3000;
}

/* What the reference decoder says about a whole string. */
struct fuzz_text {
	int well_formed; /* every sequence decodes */
	size_t chars;    /* code points, when well formed */
	int has_nul;     /* U+0000 */
	int has_newline; /* U+000A */
	int has_tab;     /* U+0009 */
	int has_control; /* C0 other than tab and newline, DEL, C1 */
	int all_white;   /* only White_Space (true when empty) */
};

static inline void fuzz_text_scan(const uint8_t *s, size_t n, struct fuzz_text *t)
{
	size_t i = 0;

	memset(t, 0, sizeof(*t));
	t->well_formed = 1;
	t->all_white = 1;
	while (i < n) {
		uint32_t c;
		size_t step = fuzz_utf8_next(s + i, n - i, &c);

		if (step == 0) {
			t->well_formed = 0;
			t->all_white = 0;
			return;
		}
		if (c == 0)
			t->has_nul = 1;
		else if (c == '\n')
			t->has_newline = 1;
		else if (c == '\t')
			t->has_tab = 1;
		else if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
			t->has_control = 1;
		if (!fuzz_is_white_space(c))
			t->all_white = 0;
		t->chars++;
		i += step;
	}
}

#endif

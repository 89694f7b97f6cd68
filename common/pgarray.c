/* pgarray.c -- PostgreSQL array literals for text parameters. */
#include "pgarray.h"

#include <stdlib.h>
#include <string.h>

char *pgarray_literal(const char *const *vals, size_t n)
{
	size_t need = 3; /* braces and NUL */
	char *out, *p;

	for (size_t i = 0; i < n; i++) {
		need += 1; /* comma */
		if (!vals[i]) {
			need += 4;
			continue;
		}
		need += 2;
		for (const char *s = vals[i]; *s; s++)
			need += (*s == '"' || *s == '\\') ? 2 : 1;
	}
	out = malloc(need);
	if (!out)
		return NULL;
	p = out;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		if (!vals[i]) {
			memcpy(p, "NULL", 4);
			p += 4;
			continue;
		}
		*p++ = '"';
		for (const char *s = vals[i]; *s; s++) {
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

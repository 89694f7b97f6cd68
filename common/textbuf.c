/* textbuf.c -- appending formatted text to a fixed buffer (metrics pages). */
#include "textbuf.h"

#include <stdarg.h>
#include <stdio.h>

void textbuf_printf(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*n >= size)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	if (w > 0)
		*n += (size_t)w;
}

/* textbuf.h -- appending formatted text to a fixed buffer (metrics pages). */
#ifndef CHAT_TEXTBUF_H
#define CHAT_TEXTBUF_H

#include <stddef.h>

/*
 * Appends the formatted text at buf + *n and advances *n by its length.
 * Output past size is dropped, but *n keeps counting, so *n >= size after
 * the last call tells the caller the text was truncated. buf stays
 * NUL-terminated while *n < size.
 */
void textbuf_printf(char *buf, size_t size, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif

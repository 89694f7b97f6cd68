/* pgarray.h -- PostgreSQL array literals for text parameters. */
#ifndef CHAT_PGARRAY_H
#define CHAT_PGARRAY_H

#include <stddef.h>

/*
 * Returns a malloc'd one-dimensional array literal holding vals[0..n), for
 * a text-format parameter cast to text[] or integer[]: {"a","b\"c",NULL}.
 * Every element is quoted with backslash escapes for '"' and '\', so any
 * text (commas, braces, blanks, the word NULL) comes back as it was; NULL
 * pointers become SQL NULL. Returns NULL when out of memory.
 */
char *pgarray_literal(const char *const *vals, size_t n);

#endif

/* jsonw.h -- a small streaming JSON writer for the one result line. */
#ifndef BENCH_JSONW_H
#define BENCH_JSONW_H

#include <stdint.h>
#include <stdio.h>

#define JW_DEPTH 16

/* Writes to a FILE; commas and nesting are tracked for the caller. */
struct jw {
	FILE *f;
	int depth;
	int count[JW_DEPTH];
};

void jw_init(struct jw *w, FILE *f);

/* Opens an object or array, as a member `key` (NULL inside arrays or at the top). */
void jw_obj(struct jw *w, const char *key);
void jw_arr(struct jw *w, const char *key);
/* Closes the innermost object or array. */
void jw_end(struct jw *w, char close);

void jw_str(struct jw *w, const char *key, const char *v);
void jw_int(struct jw *w, const char *key, long long v);
void jw_u64(struct jw *w, const char *key, uint64_t v);
/* Writes a number with `prec` decimals; NaN and infinities become null. */
void jw_num(struct jw *w, const char *key, double v, int prec);
void jw_bool(struct jw *w, const char *key, int v);
void jw_null(struct jw *w, const char *key);
/* Writes pre-formatted JSON text as the value. */
void jw_raw(struct jw *w, const char *key, const char *json);

#endif

/* plan.h -- who connects as whom to which room, for each scenario. */
#ifndef BENCH_PLAN_H
#define BENCH_PLAN_H

#include <stddef.h>

#include "bench.h"

/*
 * Sizes and fills b->plan from b->o (the ids and tokens stay empty until
 * the set-up fills them). Returns 0, or -1 with a message in err; on
 * failure nothing stays allocated.
 */
int plan_build(struct bench *b, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Frees what plan_build allocated. */
void plan_free(struct bench_plan *pl);

#endif

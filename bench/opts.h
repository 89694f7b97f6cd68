/* opts.h -- chat-bench's command line. */
#ifndef BENCH_OPTS_H
#define BENCH_OPTS_H

#include <stdio.h>

#include "bench.h"

/*
 * Fills *o from argv: defaults first, then the options, then the defaults
 * that depend on the scenario. Returns 0; 1 when --help was asked (usage
 * printed); -1 with a message in err on a bad option.
 */
int opt_parse(struct bench_opts *o, int argc, char **argv, char *err, size_t errlen)
	__attribute__((warn_unused_result));

void opt_usage(FILE *f);

/* The scenario's name ("durable", ...). */
const char *opt_scenario_name(enum scenario s);

#endif

/* run.h -- the parent's side of a run: set-up, workers, phases, samples, results. */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include "bench.h"

/*
 * Runs the scenario in b->o and reports it (JSON line on stdout, table on
 * stderr). Returns 0 when the run completed (even with errors, which the
 * report counts), 1 when it could not be run (set-up failed, a worker
 * crashed), with a message on stderr.
 */
int run_scenario(struct bench *b);

#endif

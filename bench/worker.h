/* worker.h -- one load-generating process: libwebsockets client connections speaking Socket.IO v5. */
#ifndef BENCH_WORKER_H
#define BENCH_WORKER_H

#include "bench.h"

/*
 * Runs worker `proc` of b->o.procs in the calling (forked) process: opens
 * the connections whose index is proc modulo the process count, joins
 * their rooms, follows the phases the parent sets in b->shm, and writes
 * its results to b->shm->procs[proc]. Returns 0, or -1 when the event
 * loop could not be created (the reason is in the error table).
 */
int worker_run(const struct bench *b, int proc);

#endif

/* worker.h -- one load-generating process: an epoll loop of plain sockets speaking Socket.IO v5 over WebSocket. */
#ifndef BENCH_WORKER_H
#define BENCH_WORKER_H

#include "bench.h"

/*
 * Runs worker `proc` of b->o.procs in the calling (forked) process: opens
 * the connections whose index is proc modulo the process count, joins
 * their rooms, follows the phases the parent sets in b->shm, and writes
 * its results to b->shm->procs[proc]. Does not return while the run
 * goes on: when the parent sets PH_CLOSE it marks itself done and exits
 * the process (the kernel closes the sockets). Returns -1 when it could
 * not start or its event loop failed (the reason is in the error table).
 */
int worker_run(const struct bench *b, int proc);

#endif

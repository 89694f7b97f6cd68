/* pool.h -- a prefork supervisor: N workers share the inherited FastCGI socket. */
#ifndef CHAT_POOL_H
#define CHAT_POOL_H

#include <signal.h>

/*
 * Runs worker(arg, slot) in `workers` child processes (slot 0..workers-1
 * stays with the process that replaces a child) and replaces any child
 * that exits or dies until *stop becomes nonzero (set by the caller's
 * SIGTERM/SIGINT handler, which the children inherit). Then asks every
 * child to stop with SIGTERM, waits for them (SIGKILL after grace_s
 * seconds) and returns 0. A worker that keeps dying is restarted at most
 * once a second. Returns -1 if no worker could be started at all.
 * The children exit with worker's return value. Each replacement adds one
 * to *restarts (NULL to not count).
 */
int pool_run(int workers, int grace_s, volatile sig_atomic_t *stop,
	     int (*worker)(void *arg, int slot), void *arg, unsigned long long *restarts)
	__attribute__((warn_unused_result));

#endif

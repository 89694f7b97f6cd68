/* pool.h -- a prefork supervisor: N workers share the inherited FastCGI socket. */
#ifndef CHAT_POOL_H
#define CHAT_POOL_H

#include <signal.h>
#include <stddef.h>

/* What a worker is told by the pool that started it. */
struct pool_worker {
	int slot;     /* 0..workers-1, kept by the worker that replaces this one */
	int ready_fd; /* written by pool_worker_ready(); -1 when nobody waits */
};

/* The signal flags of the program (set by its handlers, read by the pool). */
struct pool_flags {
	volatile sig_atomic_t *stop;   /* SIGTERM, SIGINT, SIGUSR1 */
	volatile sig_atomic_t *reload; /* SIGHUP */
};

/*
 * Blocks the signals the pool and its workers act on (TERM, INT, USR1, HUP,
 * CHLD) so that they arrive only where the program waits for them: in
 * pool_run()'s wait and in pool_accept_wait(). A signal that arrives while
 * a worker answers a request then interrupts nothing (a read of the request
 * or a write of the answer would fail with EINTR) and waits until the
 * worker is idle again. Call once, before pool_run() or serving in-process.
 */
void pool_signals_block(void);

/*
 * Runs worker(arg, w) in `workers` child processes and replaces any that
 * exits or dies until *f->stop becomes nonzero; a worker that keeps dying
 * at once is restarted at most once a second (each replacement adds one to
 * *restarts, NULL to not count). On *f->reload (SIGHUP) it starts a new set
 * of workers, waits until each has called pool_worker_ready(), and only
 * then asks the old ones to stop (SIGTERM): each finishes the request it
 * answers and exits, so no request fails and the socket stays. If the new
 * workers do not all get ready within grace_s seconds (say the database is
 * down), they are stopped and the old ones serve on. On stop it asks every
 * child to stop with SIGTERM, waits for them (SIGKILL after grace_s
 * seconds) and returns 0. Returns -1 if no worker could be started at all.
 * The children exit with worker's return value.
 */
int pool_run(int workers, int grace_s, const struct pool_flags *f,
	     int (*worker)(void *arg, const struct pool_worker *w), void *arg,
	     unsigned long long *restarts) __attribute__((warn_unused_result));

/*
 * Puts the calling process under SCHED_BATCH (sched(7)): when nginx's
 * connect wakes it, it does not preempt nginx, which goes on to write the
 * request and to wait for the answer, so the worker finds the request
 * whole at its first read. Under the default policy the woken worker took
 * the CPU at once, found nothing to read and slept again: about 2.6
 * context switches per request instead of 0.3, and twice the CPU per GET
 * /api/rooms (bench/README.md, "Issue 16, round 2"). Its cost: a woken
 * worker waits for the running task's time slice (milliseconds at most)
 * when the CPU is busy. Any user may choose it. Returns 0, or -1 (logged).
 */
int pool_sched_batch(void);

/* Tells the pool this worker accepts requests now (a no-op for w == NULL or the second time). */
void pool_worker_ready(struct pool_worker *w);

/*
 * Makes the listening socket fd non-blocking, so that a worker that lost the
 * race for a connection to another one gets EAGAIN from accept instead of
 * sleeping in it, deaf to signals (pool_signals_block). The flag belongs to
 * the socket, which every worker shares. Returns 0, or -1 (logged).
 */
int pool_listen_nonblock(int fd) __attribute__((warn_unused_result));

/*
 * Waits until the listening socket fd has a connection waiting or the
 * descriptor watch_fd (-1: none; the worker's database connection) has
 * something to read (returns 1 when a connection waits, 2 when only
 * watch_fd is readable; *watch_ready says whether it is), or one of the blocked signals arrives (returns 0: look at the
 * flags). Returns -1 on any other error (logged).
 */
int pool_accept_wait(int fd, int watch_fd, int *watch_ready) __attribute__((warn_unused_result));

/*
 * Writes the address of the listening socket fd into buf ("/run/chat/fcgi.sock",
 * "@abstract", "127.0.0.1:9000", "[::1]:9000"): what tells the workers of
 * one socket apart from another pool's. Returns 0, or -1 when fd is no
 * socket of those families (buf then holds "").
 */
int pool_socket_name(int fd, char *buf, size_t size);

#endif

/* pool.c -- a prefork supervisor: N workers share the inherited FastCGI socket.
 *
 * spawn-fcgi -F N forks N workers and leaves: nobody replaces a worker
 * that dies, and their stderr goes to /dev/null. Run under spawn-fcgi -n
 * (or systemd socket passing) instead, chat-fcgi keeps its own pool here:
 * logs stay on stderr and a killed worker is back within a second. */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define POOL_MAX 256

/* The workers of one pool_run: their pids (-1 when none runs) and start times. */
struct pool {
	int n;
	int (*worker)(void *arg, int slot);
	void *arg;
	pid_t pids[POOL_MAX];
	time_t born[POOL_MAX];
};

/* Forks the worker of slot; its pid is -1 when fork failed. */
static void pool_spawn(struct pool *p, int slot)
{
	pid_t pid = fork();

	if (pid == 0)
		exit(p->worker(p->arg, slot)); /* exit, not _exit: LeakSanitizer runs at exit */
	if (pid < 0)
		log_err("cannot fork a worker: %s", strerror(errno));
	p->pids[slot] = pid;
}

static int pool_slot(const struct pool *p, pid_t pid)
{
	for (int i = 0; i < p->n; i++)
		if (p->pids[i] == pid)
			return i;
	return -1;
}

/*
 * Waits for a worker to end and starts its successor. Returns 0 to go on,
 * -1 when the pool must stop (waitpid failed for good).
 */
static int pool_reap(struct pool *p, volatile sig_atomic_t *stop, unsigned long long *restarts)
{
	int status, slot;
	pid_t pid = waitpid(-1, &status, 0);

	if (pid < 0) {
		if (errno == EINTR)
			return 0;
		if (errno == ECHILD && !*stop) {
			/* Every spawn failed: try again shortly. */
			sleep(1);
			for (int i = 0; i < p->n; i++)
				if (p->pids[i] <= 0)
					pool_spawn(p, i);
			return 0;
		}
		return -1;
	}
	slot = pool_slot(p, pid);
	if (slot < 0)
		return 0;
	if (WIFSIGNALED(status))
		log_warn("worker %d killed by signal %d", (int)pid, WTERMSIG(status));
	else
		log_warn("worker %d exited with status %d", (int)pid, WEXITSTATUS(status));
	p->pids[slot] = -1;
	if (*stop)
		return -1;
	/* A worker that dies at once again and again must not spin the pool. */
	if (time(NULL) - p->born[slot] < 1)
		sleep(1);
	if (!*stop) {
		pool_spawn(p, slot);
		p->born[slot] = time(NULL);
		if (restarts)
			(*restarts)++;
	}
	return 0;
}

/* Asks every worker to stop, waits grace_s seconds for them, then kills the rest. */
static void pool_stop(struct pool *p, int grace_s)
{
	time_t deadline;

	for (int i = 0; i < p->n; i++)
		if (p->pids[i] > 0)
			kill(p->pids[i], SIGTERM);
	deadline = time(NULL) + grace_s;
	for (;;) {
		int left = 0;

		for (int i = 0; i < p->n; i++) {
			if (p->pids[i] <= 0)
				continue;
			if (waitpid(p->pids[i], NULL, WNOHANG) == p->pids[i])
				p->pids[i] = -1;
			else
				left++;
		}
		if (!left)
			return;
		if (time(NULL) >= deadline)
			break;
		usleep(20000);
	}
	for (int i = 0; i < p->n; i++)
		if (p->pids[i] > 0) {
			log_warn("worker %d did not stop, killing it", (int)p->pids[i]);
			kill(p->pids[i], SIGKILL);
			waitpid(p->pids[i], NULL, 0);
			p->pids[i] = -1;
		}
}

int pool_run(int workers, int grace_s, volatile sig_atomic_t *stop,
	     int (*worker)(void *arg, int slot), void *arg, unsigned long long *restarts)
{
	struct pool p;
	int alive = 0;

	if (workers < 1 || workers > POOL_MAX)
		return -1;
	p.n = workers;
	p.worker = worker;
	p.arg = arg;
	for (int i = 0; i < workers; i++) {
		pool_spawn(&p, i);
		p.born[i] = time(NULL);
		if (p.pids[i] > 0)
			alive++;
	}
	if (!alive)
		return -1;
	log_info("pool started %d workers", alive);
	while (!*stop)
		if (pool_reap(&p, stop, restarts))
			break;
	pool_stop(&p, grace_s);
	log_info("pool stopped");
	return 0;
}

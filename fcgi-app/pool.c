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

static pid_t pool_spawn(int (*worker)(void *, int), void *arg, int slot)
{
	pid_t pid = fork();

	if (pid == 0)
		exit(worker(arg, slot)); /* exit, not _exit: LeakSanitizer runs at exit */
	if (pid < 0)
		log_err("cannot fork a worker: %s", strerror(errno));
	return pid;
}

static int pool_slot(const pid_t *pids, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (pids[i] == pid)
			return i;
	return -1;
}

int pool_run(int workers, int grace_s, volatile sig_atomic_t *stop,
	     int (*worker)(void *arg, int slot), void *arg, unsigned long long *restarts)
{
	pid_t pids[POOL_MAX];
	time_t born[POOL_MAX];
	int alive = 0;
	time_t deadline;

	if (workers < 1 || workers > POOL_MAX)
		return -1;
	for (int i = 0; i < workers; i++) {
		pids[i] = pool_spawn(worker, arg, i);
		born[i] = time(NULL);
		if (pids[i] > 0)
			alive++;
	}
	if (!alive)
		return -1;
	log_info("pool started %d workers", alive);
	while (!*stop) {
		int status, slot;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD && !*stop) {
				/* Every spawn failed: try again shortly. */
				sleep(1);
				for (int i = 0; i < workers; i++)
					if (pids[i] <= 0)
						pids[i] = pool_spawn(worker, arg, i);
				continue;
			}
			break;
		}
		slot = pool_slot(pids, workers, pid);
		if (slot < 0)
			continue;
		if (WIFSIGNALED(status))
			log_warn("worker %d killed by signal %d", (int)pid, WTERMSIG(status));
		else
			log_warn("worker %d exited with status %d", (int)pid, WEXITSTATUS(status));
		pids[slot] = -1;
		if (*stop)
			break;
		/* A worker that dies at once again and again must not spin the pool. */
		if (time(NULL) - born[slot] < 1)
			sleep(1);
		if (!*stop) {
			pids[slot] = pool_spawn(worker, arg, slot);
			born[slot] = time(NULL);
			if (restarts)
				(*restarts)++;
		}
	}
	for (int i = 0; i < workers; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	deadline = time(NULL) + grace_s;
	for (;;) {
		int left = 0;

		for (int i = 0; i < workers; i++) {
			if (pids[i] <= 0)
				continue;
			if (waitpid(pids[i], NULL, WNOHANG) == pids[i])
				pids[i] = -1;
			else
				left++;
		}
		if (!left)
			break;
		if (time(NULL) >= deadline) {
			for (int i = 0; i < workers; i++)
				if (pids[i] > 0) {
					log_warn("worker %d did not stop, killing it",
						 (int)pids[i]);
					kill(pids[i], SIGKILL);
					waitpid(pids[i], NULL, 0);
					pids[i] = -1;
				}
			break;
		}
		usleep(20000);
	}
	log_info("pool stopped");
	return 0;
}

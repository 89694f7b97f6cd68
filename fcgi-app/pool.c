/* pool.c -- a prefork supervisor: N workers share the inherited FastCGI socket.
 *
 * spawn-fcgi -F N forks N workers and leaves: nobody replaces a worker
 * that dies, and their stderr goes to /dev/null. Run under spawn-fcgi -n
 * (or a systemd socket unit) instead, chat-fcgi keeps its own pool here:
 * logs stay on stderr, a killed worker is back within a second, and SIGHUP
 * replaces every worker without failing a request (docs/operations.md).
 *
 * Signals are blocked everywhere but in the two waits (pool_run's ppoll and
 * the workers' pool_accept_wait), so a handler never interrupts a system
 * call that is not ready for it: libfcgi treats EINTR on the request's
 * socket as a broken connection. */
#define _GNU_SOURCE /* ppoll */
#include "pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define POOL_MAX 256
#define POOL_OLD_MAX (2 * POOL_MAX)

/* A worker asked to stop, and since when. */
struct pool_old {
	pid_t pid;
	time_t since;
};

/*
 * The workers of one pool_run. cur[] serves; next[] is the set a reload
 * starts, which replaces cur[] once every one of them is ready (ready_rd
 * is the read end of the pipe they report on, -1 when no reload runs);
 * old[] were asked to stop and are waited for. A pid of -1 is no process.
 */
struct pool {
	int n, grace_s;
	int (*worker)(void *arg, const struct pool_worker *w);
	void *arg;
	pid_t cur[POOL_MAX];
	time_t born[POOL_MAX];
	pid_t next[POOL_MAX];
	struct pool_old old[POOL_OLD_MAX];
	int nold;
	int ready_rd, ready;
	time_t reload_deadline;
	unsigned long long *restarts;
};

static void pool_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGCHLD);
}

void pool_signals_block(void)
{
	sigset_t set;

	pool_sigset(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

/* The mask to wait with: the current one without the pool's signals. */
static void pool_waitmask(sigset_t *mask)
{
	sigset_t ours;

	sigprocmask(SIG_BLOCK, NULL, mask);
	pool_sigset(&ours);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&ours, sig) == 1)
			sigdelset(mask, sig);
}

/* Forks a worker for slot reporting on ready_wr (-1: none); returns its pid, -1 when fork failed. */
static pid_t pool_spawn(struct pool *p, int slot, int ready_wr)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct pool_worker w = { slot, ready_wr };

		if (p->ready_rd >= 0)
			close(p->ready_rd);
		exit(p->worker(p->arg, &w)); /* exit, not _exit: LeakSanitizer runs at exit */
	}
	if (pid < 0)
		log_err("cannot fork a worker: %s", strerror(errno));
	return pid;
}

void pool_worker_ready(struct pool_worker *w)
{
	ssize_t n;

	if (!w || w->ready_fd < 0)
		return;
	do
		n = write(w->ready_fd, "r", 1);
	while (n < 0 && errno == EINTR);
	close(w->ready_fd);
	w->ready_fd = -1;
}

/* Asks the worker pid to stop and remembers it until it has. */
static void pool_retire(struct pool *p, pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	if (p->nold < POOL_OLD_MAX) {
		p->old[p->nold].pid = pid;
		p->old[p->nold].since = time(NULL);
		p->nold++;
	}
	/* More than POOL_OLD_MAX stopping at once: still asked, reaped as strangers. */
}

static int pool_find(const pid_t *pids, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (pids[i] == pid)
			return i;
	return -1;
}

/* Collects every worker that ended. */
static void pool_reap(struct pool *p)
{
	int status, i;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < p->nold && p->old[i].pid != pid; i++)
			;
		if (i < p->nold) {
			p->old[i] = p->old[--p->nold];
			continue;
		}
		i = pool_find(p->cur, p->n, pid);
		if (i >= 0)
			p->cur[i] = -1;
		else if ((i = pool_find(p->next, p->n, pid)) >= 0)
			p->next[i] = -1;
		else
			continue;
		if (WIFSIGNALED(status))
			log_warn("worker %d killed by signal %d", (int)pid, WTERMSIG(status));
		else
			log_warn("worker %d exited with status %d", (int)pid, WEXITSTATUS(status));
	}
}

/* Starts a worker in every empty slot, each at most once a second. Returns the slots still empty. */
static int pool_fill(struct pool *p)
{
	time_t now = time(NULL);
	int empty = 0;

	for (int i = 0; i < p->n; i++) {
		if (p->cur[i] > 0)
			continue;
		/* A worker that dies at once again and again must not spin the pool. */
		if (now - p->born[i] < 1) {
			empty++;
			continue;
		}
		p->cur[i] = pool_spawn(p, i, -1);
		p->born[i] = now;
		if (p->cur[i] > 0 && p->restarts)
			(*p->restarts)++;
		if (p->cur[i] <= 0)
			empty++;
	}
	return empty;
}

/* SIGHUP: starts the next set of workers; they report on a pipe when ready. */
static void pool_reload_start(struct pool *p)
{
	int fds[2];

	if (p->ready_rd >= 0) {
		log_warn("reload: the previous reload still waits for its workers");
		return;
	}
	if (p->nold + p->n > POOL_OLD_MAX) {
		log_warn("reload: %d workers still stopping, try again later", p->nold);
		return;
	}
	if (pipe(fds) < 0) {
		log_err("reload: cannot make a pipe: %s", strerror(errno));
		return;
	}
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	log_info("reload: starting %d new workers", p->n);
	p->ready_rd = fds[0];
	p->ready = 0;
	for (int i = 0; i < p->n; i++)
		p->next[i] = pool_spawn(p, i, fds[1]);
	close(fds[1]);
	p->reload_deadline = time(NULL) + p->grace_s;
}

static void pool_reload_end(struct pool *p)
{
	close(p->ready_rd);
	p->ready_rd = -1;
	for (int i = 0; i < p->n; i++)
		p->next[i] = -1;
}

/* Counts the ready reports; swaps the sets once all are in, gives up on failure. */
static void pool_reload_step(struct pool *p)
{
	char buf[64];
	ssize_t got;
	int eof = 0;

	for (;;) {
		got = read(p->ready_rd, buf, sizeof(buf));
		if (got > 0) {
			p->ready += (int)got;
			continue;
		}
		if (got == 0)
			eof = 1;
		else if (errno == EINTR)
			continue;
		break;
	}
	if (p->ready >= p->n) {
		time_t now = time(NULL);

		for (int i = 0; i < p->n; i++) {
			pool_retire(p, p->cur[i]);
			p->cur[i] = p->next[i];
			p->born[i] = now;
		}
		log_info("reload: %d new workers ready, the old ones finish their requests", p->n);
		pool_reload_end(p);
		return;
	}
	if (eof || time(NULL) > p->reload_deadline) {
		log_err("reload failed: %d of %d new workers got ready; the old ones serve on",
			p->ready, p->n);
		for (int i = 0; i < p->n; i++)
			pool_retire(p, p->next[i]);
		pool_reload_end(p);
	}
}

/* Kills a stopping worker that outlived grace_s (a request that hangs). */
static void pool_old_deadline(struct pool *p)
{
	time_t now = time(NULL);

	for (int i = 0; i < p->nold; i++)
		if (now - p->old[i].since > p->grace_s) {
			log_warn("worker %d did not stop, killing it", (int)p->old[i].pid);
			kill(p->old[i].pid, SIGKILL);
			p->old[i].since = now; /* reaped by pool_reap */
		}
}

/* Waits up to ms for a signal or a ready report. */
static void pool_wait(struct pool *p, int ms)
{
	struct pollfd pfd = { p->ready_rd, POLLIN, 0 };
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	sigset_t mask;

	pool_waitmask(&mask);
	if (ppoll(&pfd, p->ready_rd >= 0 ? 1 : 0, &ts, &mask) < 0 && errno != EINTR)
		log_err("cannot wait for the workers: %s", strerror(errno));
}

/* Every pid of the pool, into pids (3 * POOL_MAX room); returns how many. */
static int pool_all(const struct pool *p, pid_t *pids)
{
	int n = 0;

	for (int i = 0; i < p->n; i++) {
		if (p->cur[i] > 0)
			pids[n++] = p->cur[i];
		if (p->next[i] > 0)
			pids[n++] = p->next[i];
	}
	for (int i = 0; i < p->nold; i++)
		pids[n++] = p->old[i].pid;
	return n;
}

/* Asks every worker to stop, waits grace_s seconds for them, then kills the rest. */
static void pool_stop(struct pool *p)
{
	pid_t pids[POOL_MAX * 2 + POOL_OLD_MAX];
	int n = pool_all(p, pids);
	time_t deadline;

	for (int i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	deadline = time(NULL) + p->grace_s;
	for (;;) {
		int left = 0;

		for (int i = 0; i < n; i++) {
			if (pids[i] <= 0)
				continue;
			if (waitpid(pids[i], NULL, WNOHANG) == pids[i])
				pids[i] = -1;
			else
				left++;
		}
		if (!left)
			return;
		if (time(NULL) >= deadline)
			break;
		usleep(20000);
	}
	for (int i = 0; i < n; i++)
		if (pids[i] > 0) {
			log_warn("worker %d did not stop, killing it", (int)pids[i]);
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
}

/* SIGCHLD only has to end the wait: the loop reaps. */
static void pool_on_child(int sig)
{
	(void)sig;
}

int pool_run(int workers, int grace_s, const struct pool_flags *f,
	     int (*worker)(void *arg, const struct pool_worker *w), void *arg,
	     unsigned long long *restarts)
{
	static struct pool p; /* 10 KB of pids: not on the stack */
	struct sigaction sa;
	int alive = 0;

	if (workers < 1 || workers > POOL_MAX)
		return -1;
	memset(&p, 0, sizeof(p));
	p.n = workers;
	p.grace_s = grace_s;
	p.worker = worker;
	p.arg = arg;
	p.ready_rd = -1;
	p.restarts = restarts;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pool_on_child;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	pool_signals_block();
	for (int i = 0; i < workers; i++) {
		p.next[i] = -1;
		p.cur[i] = pool_spawn(&p, i, -1);
		p.born[i] = time(NULL);
		if (p.cur[i] > 0)
			alive++;
	}
	if (!alive)
		return -1;
	log_info("pool started %d workers", alive);
	while (!*f->stop) {
		int empty;

		pool_reap(&p);
		if (*f->stop)
			break;
		if (*f->reload) {
			*f->reload = 0;
			pool_reload_start(&p);
		}
		if (p.ready_rd >= 0)
			pool_reload_step(&p);
		pool_old_deadline(&p);
		empty = pool_fill(&p);
		pool_wait(&p, empty ? 200 : 1000);
	}
	if (p.ready_rd >= 0)
		close(p.ready_rd); /* the workers of that reload are in next[]: stopped too */
	pool_stop(&p);
	log_info("pool stopped");
	return 0;
}

int pool_listen_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		log_err("cannot make the FastCGI socket non-blocking: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int pool_sched_batch(void)
{
	struct sched_param sp;

	memset(&sp, 0, sizeof(sp));
	if (sched_setscheduler(0, SCHED_BATCH, &sp) != 0) {
		log_warn("cannot run under SCHED_BATCH: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int pool_accept_wait(int fd, int watch_fd, int *watch_ready)
{
	struct pollfd pfd[2] = { { fd, POLLIN, 0 }, { watch_fd, POLLIN, 0 } };
	/* The mask is the worker's for its life (pool_signals_block runs
	 * before): read once, not a sigprocmask per request. */
	static sigset_t mask;
	static int have_mask;
	int rc;

	*watch_ready = 0;
	if (!have_mask) {
		pool_waitmask(&mask);
		have_mask = 1;
	}
	rc = ppoll(pfd, watch_fd >= 0 ? 2 : 1, NULL, &mask);
	if (rc > 0) {
		*watch_ready = watch_fd >= 0 && pfd[1].revents != 0;
		return pfd[0].revents ? 1 : 2;
	}
	if (rc < 0 && errno == EINTR)
		return 0;
	log_err("cannot wait for a connection: %s", rc < 0 ? strerror(errno) : "no event");
	return -1;
}

int pool_socket_name(int fd, char *buf, size_t size)
{
	union {
		struct sockaddr sa;
		struct sockaddr_un un;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} a;
	socklen_t len = sizeof(a);
	char ip[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	memset(&a, 0, sizeof(a));
	if (getsockname(fd, &a.sa, &len) < 0)
		return -1;
	switch (a.sa.sa_family) {
	case AF_UNIX:
		if (len <= offsetof(struct sockaddr_un, sun_path))
			return -1;
		if (a.un.sun_path[0])
			snprintf(buf, size, "%.*s", (int)sizeof(a.un.sun_path), a.un.sun_path);
		else
			snprintf(buf, size, "@%.*s",
				 (int)(len - offsetof(struct sockaddr_un, sun_path) - 1),
				 a.un.sun_path + 1);
		return 0;
	case AF_INET:
		inet_ntop(AF_INET, &a.in.sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(a.in.sin_port));
		return 0;
	case AF_INET6:
		inet_ntop(AF_INET6, &a.in6.sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(a.in6.sin6_port));
		return 0;
	default:
		return -1;
	}
}

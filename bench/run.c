/* run.c -- the parent's side of a run: set-up, workers, phases, samples, results. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostprobe.h"
#include "opts.h"
#include "plan.h"
#include "procstat.h"
#include "report.h"
#include "run.h"
#include "setup.h"
#include "worker.h"

#define POLL_NS (20 * 1000000LL)

struct parent {
	struct bench *b;
	struct ps_filter *filter;
	pid_t pids[BENCH_MAX_PROCS];
	int nprocs;
	int crashed;
	int64_t last_progress;
	struct hostprobe *probe; /* stepped while a window is measured */
	int probing;
};

static void nap_ns(int64_t ns)
{
	struct timespec ts;

	if (ns <= 0)
		return;
	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Notices a worker that exited before the end; returns -1 then. */
static int check_children(struct parent *p)
{
	int i, status;

	for (i = 0; i < p->nprocs; i++) {
		pid_t r;

		if (!p->pids[i])
			continue;
		r = waitpid(p->pids[i], &status, WNOHANG);
		if (r == p->pids[i]) {
			p->pids[i] = 0;
			if (!__atomic_load_n(&p->b->shm->procs[i].done, __ATOMIC_ACQUIRE)) {
				fprintf(stderr,
					"chat-bench: worker %d exited early (status 0x%x)\n", i,
					status);
				p->crashed = 1;
			}
		}
	}
	return p->crashed ? -1 : 0;
}

static void set_phase(struct bench *b, enum phase ph)
{
	__atomic_store_n(&b->shm->phase, (int)ph, __ATOMIC_RELEASE);
}

static uint64_t sum_ctr(const struct bench *b, enum ctr c)
{
	uint64_t s = 0;
	uint32_t i;

	for (i = 0; i < b->shm->nprocs; i++)
		s += __atomic_load_n(&b->shm->procs[i].ctr[c], __ATOMIC_RELAXED);
	return s;
}

static uint64_t sum_inflight(const struct bench *b)
{
	uint64_t s = 0;
	uint32_t i;

	for (i = 0; i < b->shm->nprocs; i++)
		s += __atomic_load_n(&b->shm->procs[i].inflight, __ATOMIC_RELAXED);
	return s;
}

static void progress(struct parent *p, const char *what)
{
	int64_t now = bench_now_ns();
	const struct bench *b = p->b;

	if (b->o.quiet || now - p->last_progress < 1000000000LL)
		return;
	p->last_progress = now;
	fprintf(stderr,
		"chat-bench: %s: %llu opened, %llu ready, %llu failed, %llu sent, %llu acked, %llu delivered\n",
		what, (unsigned long long)sum_ctr(b, CTR_OPENED),
		(unsigned long long)sum_ctr(b, CTR_READY),
		(unsigned long long)sum_ctr(b, CTR_CONNECT_FAIL),
		(unsigned long long)sum_ctr(b, CTR_SENT), (unsigned long long)sum_ctr(b, CTR_ACKED),
		(unsigned long long)sum_ctr(b, CTR_DELIV));
}

/* Sleeps a poll interval at most (not past `until`), stepping the host probe first while it is on. */
static void nap_step(struct parent *p, int64_t now, int64_t until)
{
	if (p->probing)
		hostprobe_tick(p->probe, now);
	nap_ns(until - now < POLL_NS ? until - now : POLL_NS);
}

/* Sleeps until the monotonic time `until`, watching the workers. */
static int wait_until(struct parent *p, int64_t until, const char *what)
{
	int64_t now;

	while ((now = bench_now_ns()) < until) {
		nap_step(p, now, until);
		if (check_children(p))
			return -1;
		progress(p, what);
	}
	return 0;
}

static void sample(struct parent *p, struct ps_sample *s)
{
	ps_sample(p->filter, p->pids, p->nprocs, s);
}

static int map_shared(struct bench *b)
{
	size_t nprocs = (size_t)b->o.procs, nrooms = b->plan.nrooms ? b->plan.nrooms : 1;
	size_t off_procs = (sizeof(struct shm) + 63) & ~(size_t)63;
	size_t off_local = off_procs + nprocs * sizeof(struct shm_proc);
	size_t off_total = off_local + nprocs * nrooms * sizeof(uint32_t);
	size_t size = off_total + nrooms * sizeof(uint32_t);
	char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return -1;
	b->shm = (struct shm *)(void *)m;
	b->shm_size = size;
	b->shm->nprocs = (uint32_t)nprocs;
	b->shm->nrooms = (uint32_t)nrooms;
	b->shm->procs = (struct shm_proc *)(void *)(m + off_procs);
	b->shm->room_local = (uint32_t *)(void *)(m + off_local);
	b->shm->room_total = (uint32_t *)(void *)(m + off_total);
	return 0;
}

static void wall_clock(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Users and rooms over REST. */
static int do_setup(struct bench *b, struct result *r)
{
	char err[512], prefix[32], owner[48], owner_id[BENCH_ID_LEN], owner_token[BENCH_TOKEN_LEN];
	int64_t t0 = bench_now_ns();

	snprintf(prefix, sizeof(prefix), "bm%s", b->run_id);
	snprintf(owner, sizeof(owner), "bm%s_owner", b->run_id);
	if (!b->o.quiet)
		fprintf(stderr, "chat-bench: set-up: %u rooms, %u users (run %s)\n", b->plan.nrooms,
			b->plan.nusers, b->run_id);
	if (setup_user(b->o.url, owner, NULL, owner_id, owner_token, err, sizeof(err)) ||
	    setup_rooms(b->o.url, owner_token, prefix, &b->plan, b->o.rest_concurrency, err,
			sizeof(err)) ||
	    setup_users(b->o.url, prefix, &b->plan, b->o.rest_concurrency, err, sizeof(err))) {
		fprintf(stderr, "chat-bench: set-up failed: %s\n", err);
		return -1;
	}
	r->rest_s = (double)(bench_now_ns() - t0) / 1e9;
	return 0;
}

static int fork_workers(struct parent *p)
{
	struct bench *b = p->b;
	int i;

	fflush(NULL);
	for (i = 0; i < b->o.procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("chat-bench: fork");
			return -1;
		}
		if (!pid)
			_exit(worker_run(b, i) ? 3 : 0);
		p->pids[i] = pid;
		p->nprocs = i + 1;
	}
	return 0;
}

/* Until every worker has settled its connections (or the connect timeout). */
static int wait_ready(struct parent *p, struct result *r)
{
	struct bench *b = p->b;
	int64_t t0 = bench_now_ns();
	int64_t deadline =
		t0 + (int64_t)((b->o.connect_timeout + (double)b->plan.nconns / b->o.ramp) * 1e9);

	for (;;) {
		int i, ready = 1;

		for (i = 0; i < p->nprocs; i++)
			ready &= __atomic_load_n(&b->shm->procs[i].ready, __ATOMIC_ACQUIRE);
		if (ready)
			break;
		if (bench_now_ns() > deadline) {
			fprintf(stderr,
				"chat-bench: connections still pending after %.0f s; going on\n",
				b->o.connect_timeout);
			break;
		}
		nap_ns(POLL_NS);
		if (check_children(p))
			return -1;
		progress(p, "connecting");
	}
	r->connect_s = (double)(bench_now_ns() - t0) / 1e9;
	return 0;
}

/* Room sizes every sender multiplies its acks by. */
static void total_rooms(struct bench *b)
{
	uint32_t i, k;

	for (k = 0; k < b->shm->nrooms; k++) {
		uint32_t s = 0;

		for (i = 0; i < b->shm->nprocs; i++)
			s += __atomic_load_n(&b->shm->room_local[(size_t)i * b->shm->nrooms + k],
					     __ATOMIC_RELAXED);
		b->shm->room_total[k] = s;
	}
}

static int drive_load(struct parent *p, struct result *r)
{
	struct bench *b = p->b;
	int64_t t0 = bench_now_ns() + 20000000LL, drain_end;

	b->shm->t_run = t0;
	b->shm->t_m0 = t0 + (int64_t)(b->o.warmup * 1e9);
	b->shm->t_m1 = b->shm->t_m0 + (int64_t)(b->o.duration * 1e9);
	set_phase(b, PH_RUN);
	if (wait_until(p, b->shm->t_m0, "warm-up"))
		return -1;
	sample(p, &r->w0);
	p->probing = 1;
	if (wait_until(p, b->shm->t_m1, "measuring"))
		return -1;
	p->probing = 0;
	sample(p, &r->w1);
	r->window_s = (double)(b->shm->t_m1 - b->shm->t_m0) / 1e9;
	set_phase(b, PH_DRAIN);
	drain_end = bench_now_ns() + (int64_t)(b->o.drain * 1e9);
	while (bench_now_ns() < drain_end) {
		if (!sum_inflight(b) && sum_ctr(b, CTR_DELIV) >= sum_ctr(b, CTR_EXPECTED))
			break;
		nap_ns(POLL_NS);
		if (check_children(p))
			return -1;
	}
	return 0;
}

static int hold_idle(struct parent *p, struct result *r)
{
	struct bench *b = p->b;
	int64_t t0 = bench_now_ns();

	set_phase(b, PH_RUN);
	if (wait_until(p, t0 + (int64_t)(b->o.warmup * 1e9), "settling"))
		return -1;
	sample(p, &r->w0);
	r->live_w0 = sum_ctr(b, CTR_READY) - sum_ctr(b, CTR_DISCONNECT);
	p->probing = 1;
	if (wait_until(p, r->w0.t_ns + (int64_t)(b->o.duration * 1e9), "holding"))
		return -1;
	p->probing = 0;
	sample(p, &r->w1);
	r->live_w1 = sum_ctr(b, CTR_READY) - sum_ctr(b, CTR_DISCONNECT);
	r->window_s = (double)(r->w1.t_ns - r->w0.t_ns) / 1e9;
	return 0;
}

/* Tells the workers to close and waits for them; SIGKILL after 60 s. */
static void stop_workers(struct parent *p)
{
	int64_t deadline = bench_now_ns() + 60 * 1000000000LL;
	int i, left;

	set_phase(p->b, PH_CLOSE);
	do {
		left = 0;
		check_children(p);
		for (i = 0; i < p->nprocs; i++)
			left += p->pids[i] != 0;
		if (left)
			nap_ns(POLL_NS);
	} while (left && bench_now_ns() < deadline);
	for (i = 0; i < p->nprocs; i++) {
		if (p->pids[i]) {
			kill(p->pids[i], SIGKILL);
			waitpid(p->pids[i], NULL, 0);
			p->pids[i] = 0;
		}
	}
}

static int run_watch(struct parent *p, struct result *r)
{
	int64_t t0 = bench_now_ns(), now, until;

	nap_ns((int64_t)(p->b->o.warmup * 1e9));
	sample(p, &r->w0);
	until = t0 + (int64_t)((p->b->o.warmup + p->b->o.duration) * 1e9);
	p->probing = 1;
	while ((now = bench_now_ns()) < until)
		nap_step(p, now, until);
	p->probing = 0;
	sample(p, &r->w1);
	r->window_s = (double)(r->w1.t_ns - r->w0.t_ns) / 1e9;
	return 0;
}

/* Whole-machine busy % over half a second; waits for calm with --quiet-wait. */
static void background(struct parent *p, struct result *r)
{
	int64_t until = bench_now_ns() + (int64_t)(p->b->o.quiet_wait * 1e9);
	struct ps_sample a, b;

	for (;;) {
		sample(p, &a);
		nap_ns(500000000LL);
		sample(p, &b);
		r->background_pct = ps_machine_pct(&a, &b);
		if (r->background_pct < p->b->o.quiet_pct || bench_now_ns() >= until)
			break;
		if (!p->b->o.quiet)
			fprintf(stderr, "chat-bench: machine %.0f %% busy, waiting for calm\n",
				r->background_pct);
	}
}

static int run_token(struct bench *b)
{
	char err[512], name[48], id[BENCH_ID_LEN], token[BENCH_TOKEN_LEN];

	snprintf(name, sizeof(name), "bm%s_%s", b->run_id, b->o.label[0] ? b->o.label : "t");
	if (setup_user(b->o.url, name, b->o.token_room, id, token, err, sizeof(err))) {
		fprintf(stderr, "chat-bench: %s\n", err);
		return 1;
	}
	printf("%s\n", token);
	return 0;
}

/* The host probe's figures for the report; frees its ring. */
static void probe_done(struct hostprobe *hp, struct result *r)
{
	r->probe_n = hp->nsamples;
	r->probe_p25 = hostprobe_quantile(hp, 0.25);
	r->probe_p50 = hostprobe_quantile(hp, 0.50);
	r->probe_p75 = hostprobe_quantile(hp, 0.75);
	hostprobe_free(hp);
}

int run_scenario(struct bench *b)
{
	static struct ps_filter filter;
	static struct hostprobe probe;
	struct parent p;
	struct result *r;
	char err[512];
	int rc = 1, i;

	if (setup_init()) {
		fprintf(stderr, "chat-bench: cannot initialise libcurl\n");
		return 1;
	}
	if (b->o.scenario == SC_TOKEN)
		return run_token(b);
	if (ps_filter_init(&filter, b->o.stack_dir, b->o.pid_of, err, sizeof(err))) {
		fprintf(stderr, "chat-bench: %s\n", err);
		return 1;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return 1;
	memset(&p, 0, sizeof(p));
	p.b = b;
	p.filter = &filter;
	p.probe = &probe;
	if (hostprobe_init(&probe, HOSTPROBE_BYTES / sizeof(*probe.ring)))
		fprintf(stderr, "chat-bench: no host probe (out of memory)\n");
	background(&p, r);
	wall_clock(r->started_at, sizeof(r->started_at));
	if (b->o.scenario == SC_WATCH) {
		run_watch(&p, r);
		probe_done(&probe, r);
		report_result(b, r);
		free(r);
		return 0;
	}
	if (plan_build(b, err, sizeof(err))) {
		fprintf(stderr, "chat-bench: %s\n", err);
		hostprobe_free(&probe);
		free(r);
		return 1;
	}
	if (do_setup(b, r) || map_shared(b))
		goto out;
	sample(&p, &r->base);
	if (fork_workers(&p) || wait_ready(&p, r))
		goto stop;
	sample(&p, &r->ready);
	total_rooms(b);
	if (b->o.scenario == SC_IDLE ? hold_idle(&p, r) : drive_load(&p, r))
		goto stop;
	rc = 0;
stop:
	stop_workers(&p);
	if (!p.crashed || rc == 0) {
		r->nbench = p.nprocs;
		for (i = 0; i < p.nprocs; i++)
			report_merge(r, &b->shm->procs[i]);
		probe_done(&probe, r);
		if (!rc)
			report_result(b, r);
	}
	if (p.crashed)
		rc = 1;
out:
	hostprobe_free(&probe);
	if (b->shm)
		munmap(b->shm, b->shm_size);
	plan_free(&b->plan);
	free(r);
	return rc;
}

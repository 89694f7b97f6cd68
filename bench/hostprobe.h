/* hostprobe.h -- how fast this machine's caches answer right now.
 *
 * On a shared virtual machine the same work costs more when the host's
 * other tenants press on the caches the guest shares with them, and the
 * guest sees none of it (no steal time). A pointer chase over a ring of
 * HOSTPROBE_BYTES, HOSTPROBE_STEPS steps, timed in the thread's own CPU
 * time every HOSTPROBE_PERIOD_NS during a run's window, tells a run made
 * while the host was slow from one made while it was fast: the sending
 * backend's CPU per message followed it run by run (bench/README.md,
 * "Issue 16, round 5"). A ring the chase mostly covers each time stays in
 * the caches, so the time measures how much of it the neighbours left
 * there; a cold walk over a larger ring measured only the memory's
 * latency and did not follow the host's state. It costs the parent about
 * 1.5 % of a core. */
#ifndef BENCH_HOSTPROBE_H
#define BENCH_HOSTPROBE_H

#include <stddef.h>
#include <stdint.h>

#define HOSTPROBE_BYTES (1u << 20) /* past L2, within L3 */
#define HOSTPROBE_STEPS 100000u    /* most of the ring: it stays warm; ~3 ms on a quiet host */
#define HOSTPROBE_PERIOD_NS (200 * 1000000LL)
#define HOSTPROBE_SAMPLES 4096u /* at most; later ones are dropped */

struct hostprobe {
	uint64_t *ring; /* ring[i] is the next index: one cycle through all n */
	size_t n;
	size_t at;       /* where the chase goes on from */
	int64_t next_ns; /* CLOCK_MONOTONIC of the next step, 0: at once */
	unsigned nsamples;
	float samples[HOSTPROBE_SAMPLES]; /* ns per step */
};

/* Builds a ring of n entries (a random single cycle, Sattolo's algorithm, fixed seed); 0 or -1. */
int hostprobe_init(struct hostprobe *hp, size_t n);

void hostprobe_free(struct hostprobe *hp);

/* One chase of steps steps; returns its thread CPU time in ns per step. */
double hostprobe_step(struct hostprobe *hp, unsigned steps);

/* At now (CLOCK_MONOTONIC ns): steps and records once when a period has passed. */
void hostprobe_tick(struct hostprobe *hp, int64_t now);

/* The q quantile (0..1) of the recorded samples, ns per step; 0 without samples. */
double hostprobe_quantile(struct hostprobe *hp, double q);

#endif

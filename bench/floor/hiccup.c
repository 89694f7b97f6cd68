/* hiccup.c -- how long this machine's CPUs stop running a busy process (bench/README.md, "Issue 16, round 5"). */
/*
 * One spinning process per CPU, pinned, reads CLOCK_MONOTONIC in a loop
 * and counts the gaps between two reads: time in which it did not run.
 * On an idle guest nothing of its own preempts it for long, so the long
 * gaps are the host's: the virtual CPU was descheduled. A latency target
 * of N milliseconds cannot hold for more of the messages than the share of
 * time the CPUs spend in gaps longer than N.
 *
 * Usage: hiccup [SECONDS]   (default 30; every CPU the process may run on)
 * Prints, per CPU, the longest gap and, for each threshold, how many gaps
 * reached it and what share of the time they took.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NTH 7

static const int64_t thresholds_ns[NTH] = { 200000,  500000,   1000000, 2000000,
					    5000000, 10000000, 20000000 };

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Spins for secs seconds on cpu; prints its line when done. */
static int spin(int cpu, double secs)
{
	cpu_set_t set;
	int64_t start, end, prev, t, max_gap = 0, lost[NTH] = { 0 };
	long count[NTH] = { 0 };

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		return 1;
	}
	start = prev = now_ns();
	end = start + (int64_t)(secs * 1e9);
	do {
		int64_t gap;

		t = now_ns();
		gap = t - prev; /* the last gap, across the end, counts too */
		prev = t;
		if (gap > max_gap)
			max_gap = gap;
		for (int i = 0; i < NTH && gap >= thresholds_ns[i]; i++) {
			count[i]++;
			lost[i] += gap;
		}
	} while (t < end);
	printf("cpu %d: %.0f s, longest gap %.2f ms\n", cpu, secs, (double)max_gap / 1e6);
	for (int i = 0; i < NTH; i++)
		printf("cpu %d:   gaps >= %5.1f ms: %6ld, %5.2f %% of the time\n", cpu,
		       (double)thresholds_ns[i] / 1e6, count[i],
		       (double)lost[i] / (secs * 1e9) * 100);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 30;
	cpu_set_t set;
	int rc = 0, status;

	if (!(secs > 0 && secs <= 3600)) { /* NaN too */
		fprintf(stderr, "usage: hiccup [SECONDS (0-3600]]\n");
		return 2;
	}
	if (sched_getaffinity(0, sizeof(set), &set)) {
		perror("sched_getaffinity");
		return 1;
	}
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		pid_t pid;

		if (!CPU_ISSET(cpu, &set))
			continue;
		pid = fork();
		if (pid < 0) {
			perror("fork");
			rc = 1;
			break;
		}
		if (pid == 0)
			_exit(spin(cpu, secs));
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			rc = 1;
	return rc;
}

/* report.h -- the result of a run: one JSON line on stdout, a table on stderr; tables of JSONL files. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include "bench.h"
#include "procstat.h"

#define REPORT_ERRS 32

/* Everything the workers counted, added up, and the parent's samples. */
struct result {
	uint64_t ctr[CTR_COUNT];
	uint64_t inflight_end;
	struct hist ack, e2e, connect, lag, ping_gap;
	struct err_kind errs[REPORT_ERRS];
	int nerrs;
	double rest_s;                          /* REST set-up */
	double connect_s;                       /* from fork until every connection settled */
	double window_s;                        /* measured window (idle: the hold) */
	int nbench;                             /* worker processes */
	struct ps_sample base;                  /* before connecting */
	struct ps_sample ready;                 /* every connection settled */
	struct ps_sample w0, w1;                /* the window */
	char started_at[32];                    /* wall clock, RFC 3339 */
	double background_pct;                  /* whole-machine busy % just before the run */
	uint64_t live_w0, live_w1;              /* connections ready and not closed, at w0 and w1 */
	unsigned probe_n;                       /* host probe (hostprobe.h) samples in the window */
	double probe_p25, probe_p50, probe_p75; /* their quartiles, ns per step */
};

/* Adds one worker's counters, histograms and errors into r. */
void report_merge(struct result *r, const struct shm_proc *sp);

/* Writes the JSON line to stdout and, unless quiet, the table to stderr. */
void report_result(const struct bench *b, const struct result *r);

/* Prints a table of every line of a JSONL results file to stdout; returns 0 or -1. */
int report_file(const char *path);

#endif

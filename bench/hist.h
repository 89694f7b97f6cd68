/* hist.h -- log-linear latency histogram in microseconds, mergeable across processes. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

/*
 * Below HIST_LINEAR microseconds every microsecond has its own bucket;
 * above it each power of two is cut into HIST_SUB buckets, so a value is
 * known to within 1/HIST_SUB (0.8 %). Values past 2^HIST_MAX_EXP µs (about
 * 25 days) land in the last bucket; max keeps the exact largest value.
 */
#define HIST_LINEAR 1024u
#define HIST_SUB_BITS 7u
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MIN_EXP 10u /* log2(HIST_LINEAR) */
#define HIST_MAX_EXP 41u
#define HIST_BUCKETS (HIST_LINEAR + (HIST_MAX_EXP - HIST_MIN_EXP + 1u) * HIST_SUB)

/* A histogram is plain data: zero it to start, copy it to share it. */
struct hist {
	uint64_t n;
	uint64_t sum;
	uint64_t max;
	uint64_t b[HIST_BUCKETS];
};

/* Counts one value in microseconds. */
void hist_add(struct hist *h, uint64_t us);

/* Adds every count of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/*
 * Returns the value at quantile q (0..1): the middle of the bucket that
 * holds it, never above max. Returns 0 for an empty histogram.
 */
uint64_t hist_quantile(const struct hist *h, double q);

/* Returns the mean in microseconds, 0 for an empty histogram. */
double hist_mean(const struct hist *h);

#endif

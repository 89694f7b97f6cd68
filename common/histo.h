/* histo.h -- latency histograms in the Prometheus text format (seconds, cumulative buckets). */
#ifndef CHAT_HISTO_H
#define CHAT_HISTO_H

#include <stdatomic.h>
#include <stddef.h>

/* Upper bounds in microseconds: 1 ms to 10 s, then +Inf. */
#define HISTO_BOUNDS 13

/*
 * Counts observations. Every field is atomic so that a histogram may sit
 * in memory shared by processes (the chat-fcgi workers' mapping) and be
 * added to by each without a lock; all-zero bytes are an empty histogram.
 */
struct histo {
	atomic_ullong bucket[HISTO_BOUNDS + 1]; /* per bucket, not cumulative; last: +Inf */
	atomic_ullong sum_us;
	atomic_ullong count;
};

/* The bucket bounds, microseconds, ascending. */
extern const unsigned long long histo_bounds_us[HISTO_BOUNDS];

/* Records one observation of us microseconds. */
void histo_observe(struct histo *h, unsigned long long us);

/*
 * Appends the histogram as name_bucket{le="..."} (cumulative, le in
 * seconds, ending with +Inf), name_sum (seconds) and name_count, after
 * its HELP and TYPE lines, with textbuf_printf's truncation rules.
 */
void histo_render(const struct histo *h, const char *name, const char *help, char *buf, size_t size,
		  size_t *n);

#endif

/* histo.c -- latency histograms in the Prometheus text format (seconds, cumulative buckets). */
#include "histo.h"

#include "textbuf.h"

const unsigned long long histo_bounds_us[HISTO_BOUNDS] = {
	1000,   2500,   5000,    10000,   25000,   50000,    100000,
	250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

void histo_observe(struct histo *h, unsigned long long us)
{
	int i = 0;

	while (i < HISTO_BOUNDS && us > histo_bounds_us[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void histo_render(const struct histo *h, const char *name, const char *help, char *buf, size_t size,
		  size_t *n)
{
	unsigned long long cum = 0, count;

	textbuf_printf(buf, size, n, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i <= HISTO_BOUNDS; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		if (i < HISTO_BOUNDS)
			textbuf_printf(buf, size, n, "%s_bucket{le=\"%g\"} %llu\n", name,
				       (double)histo_bounds_us[i] / 1e6, cum);
		else
			textbuf_printf(buf, size, n, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
	}
	/* Other processes may add between the loads: the count printed is the
	 * buckets' total, so that +Inf and _count always agree. */
	count = cum;
	textbuf_printf(buf, size, n, "%s_sum %.6f\n%s_count %llu\n", name,
		       (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6, name,
		       count);
}

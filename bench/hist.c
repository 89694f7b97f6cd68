/* hist.c -- log-linear latency histogram (1 µs below 1 ms, then 0.8 % buckets). */
#include "hist.h"

static unsigned bucket_of(uint64_t v)
{
	unsigned e;

	if (v < HIST_LINEAR)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	if (e > HIST_MAX_EXP)
		return HIST_BUCKETS - 1u;
	return HIST_LINEAR + (e - HIST_MIN_EXP) * HIST_SUB +
		(unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1u));
}

/* The middle of bucket i. */
static uint64_t value_of(unsigned i)
{
	unsigned e, m;
	uint64_t lo, width;

	if (i < HIST_LINEAR)
		return i;
	e = (i - HIST_LINEAR) / HIST_SUB + HIST_MIN_EXP;
	m = (i - HIST_LINEAR) % HIST_SUB;
	width = (uint64_t)1 << (e - HIST_SUB_BITS);
	lo = ((uint64_t)1 << e) + (uint64_t)m * width;
	return lo + width / 2;
}

void hist_add(struct hist *h, uint64_t us)
{
	h->n++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
	h->b[bucket_of(us)]++;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned i;

	dst->n += src->n;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
	for (i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t target, seen = 0, v;
	unsigned i;

	if (!h->n)
		return 0;
	if (q <= 0)
		q = 0;
	target = (uint64_t)(q * (double)h->n + 0.5);
	if (target < 1)
		target = 1;
	if (target > h->n)
		target = h->n;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= target) {
			v = value_of(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->n ? (double)h->sum / (double)h->n : 0.0;
}

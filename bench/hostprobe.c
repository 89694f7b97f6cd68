/* hostprobe.c -- how fast this machine's caches answer right now: a timed pointer chase. */
#include "hostprobe.h"

#include <stdlib.h>
#include <time.h>

static int64_t thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* xorshift64: a fixed sequence, so that every run chases the same ring. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int hostprobe_init(struct hostprobe *hp, size_t n)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL;

	hp->nsamples = 0;
	hp->at = 0;
	hp->next_ns = 0;
	hp->n = n;
	hp->ring =
		n >= 2 && n <= SIZE_MAX / sizeof(*hp->ring) ? malloc(n * sizeof(*hp->ring)) : NULL;
	if (!hp->ring)
		return -1;
	for (size_t i = 0; i < n; i++)
		hp->ring[i] = i;
	/* Sattolo: swapping each i with a j < i makes one cycle through every entry. */
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(next_rand(&seed) % i);
		uint64_t t = hp->ring[i];

		hp->ring[i] = hp->ring[j];
		hp->ring[j] = t;
	}
	return 0;
}

void hostprobe_free(struct hostprobe *hp)
{
	free(hp->ring);
	hp->ring = NULL;
	hp->n = 0;
}

double hostprobe_step(struct hostprobe *hp, unsigned steps)
{
	size_t at = hp->at;
	int64_t t0 = thread_ns(), t1;

	for (unsigned i = 0; i < steps; i++)
		at = (size_t)hp->ring[at];
	t1 = thread_ns();
	hp->at = at; /* the loads depend on each other; storing the end keeps them */
	return steps ? (double)(t1 - t0) / steps : 0;
}

void hostprobe_tick(struct hostprobe *hp, int64_t now)
{
	if (!hp->ring || now < hp->next_ns)
		return;
	hp->next_ns = now + HOSTPROBE_PERIOD_NS;
	if (hp->nsamples < HOSTPROBE_SAMPLES)
		hp->samples[hp->nsamples++] = (float)hostprobe_step(hp, HOSTPROBE_STEPS);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

double hostprobe_quantile(struct hostprobe *hp, double q)
{
	size_t i;

	if (!hp->nsamples)
		return 0;
	qsort(hp->samples, hp->nsamples, sizeof(hp->samples[0]), cmp_float);
	i = (size_t)(q * (hp->nsamples - 1) + 0.5);
	return hp->samples[i < hp->nsamples ? i : hp->nsamples - 1];
}

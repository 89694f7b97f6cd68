/* test_hostprobe.c -- tests bench/hostprobe.c: the ring is one cycle, the steps are timed, the quantiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hostprobe.h"

/* Following the ring from 0 comes back to 0 only after visiting every entry once. */
static void test_ring_is_one_cycle(void **state)
{
	static const size_t sizes[] = { 2, 3, 17, 1000, HOSTPROBE_BYTES / sizeof(uint64_t) };
	struct hostprobe *hp = calloc(1, sizeof(*hp));

	(void)state;
	assert_non_null(hp);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k], at = 0, steps = 0;
		unsigned char *seen = calloc(n, 1);

		assert_non_null(seen);
		assert_int_equal(hostprobe_init(hp, n), 0);
		do {
			assert_true(hp->ring[at] < n);
			assert_false(seen[at]);
			seen[at] = 1;
			at = hp->ring[at];
			steps++;
		} while (at != 0 && steps <= n);
		assert_int_equal(steps, n);
		/* No entry points at itself: a chase never stands still. */
		for (size_t i = 0; i < n; i++)
			assert_int_not_equal(hp->ring[i], i);
		hostprobe_free(hp);
		free(seen);
	}
	free(hp);
}

/* The same ring every run: figures of two runs chase the same addresses. */
static void test_ring_is_fixed(void **state)
{
	struct hostprobe *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(hostprobe_init(a, 4096), 0);
	assert_int_equal(hostprobe_init(b, 4096), 0);
	assert_memory_equal(a->ring, b->ring, 4096 * sizeof(uint64_t));
	hostprobe_free(a);
	hostprobe_free(b);
	free(a);
	free(b);
}

static void test_bad_sizes_refused(void **state)
{
	struct hostprobe *hp = calloc(1, sizeof(*hp));

	(void)state;
	assert_non_null(hp);
	assert_int_equal(hostprobe_init(hp, 0), -1);
	assert_int_equal(hostprobe_init(hp, 1), -1);
	assert_null(hp->ring);
	/* Without a ring a tick records nothing and the quantiles are 0. */
	hostprobe_tick(hp, 1);
	assert_int_equal(hp->nsamples, 0);
	assert_true(hostprobe_quantile(hp, 0.5) == 0);
	hostprobe_free(hp);
	free(hp);
}

/* A tick steps once per period; a step moves along the ring and takes time. */
static void test_tick_once_per_period(void **state)
{
	struct hostprobe *hp = calloc(1, sizeof(*hp));
	int64_t t = 1000000000LL;

	(void)state;
	assert_non_null(hp);
	assert_int_equal(hostprobe_init(hp, HOSTPROBE_BYTES / sizeof(uint64_t)), 0);
	hostprobe_tick(hp, t);
	assert_int_equal(hp->nsamples, 1);
	/* ns per step: a load from the caches takes more than 0.1 ns and, on a
	 * machine that runs at all, less than 100 us. */
	assert_true(hp->samples[0] > 0.1);
	assert_true(hp->samples[0] < 100000);
	assert_int_not_equal(hp->at, 0);
	hostprobe_tick(hp, t + HOSTPROBE_PERIOD_NS - 1);
	assert_int_equal(hp->nsamples, 1);
	hostprobe_tick(hp, t + HOSTPROBE_PERIOD_NS);
	assert_int_equal(hp->nsamples, 2);
	/* Recording stops at the bound. */
	hp->nsamples = HOSTPROBE_SAMPLES - 1;
	hp->next_ns = 0;
	hostprobe_tick(hp, t);
	assert_int_equal(hp->nsamples, HOSTPROBE_SAMPLES);
	hp->next_ns = 0;
	hostprobe_tick(hp, t);
	assert_int_equal(hp->nsamples, HOSTPROBE_SAMPLES);
	hostprobe_free(hp);
	free(hp);
}

static void test_quantiles(void **state)
{
	struct hostprobe *hp = calloc(1, sizeof(*hp));
	static const float v[] = { 9, 1, 5, 3, 7 };

	(void)state;
	assert_non_null(hp);
	memcpy(hp->samples, v, sizeof(v));
	hp->nsamples = 5;
	assert_true(hostprobe_quantile(hp, 0.0) == 1);
	assert_true(hostprobe_quantile(hp, 0.25) == 3);
	assert_true(hostprobe_quantile(hp, 0.5) == 5);
	assert_true(hostprobe_quantile(hp, 0.75) == 7);
	assert_true(hostprobe_quantile(hp, 1.0) == 9);
	hp->nsamples = 1;
	assert_true(hostprobe_quantile(hp, 0.75) == 1);
	free(hp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_is_one_cycle),
		cmocka_unit_test(test_ring_is_fixed),
		cmocka_unit_test(test_bad_sizes_refused),
		cmocka_unit_test(test_tick_once_per_period),
		cmocka_unit_test(test_quantiles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

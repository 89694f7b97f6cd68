/* test_histo.c -- tests common/histo.c (latency histograms, Prometheus text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "histo.h"

static void test_empty(void **state)
{
	struct histo h;
	char buf[2048];
	size_t n = 0;

	(void)state;
	memset(&h, 0, sizeof(h));
	histo_render(&h, "x_seconds", "What x is.", buf, sizeof(buf), &n);
	assert_true(n < sizeof(buf));
	assert_non_null(strstr(buf,
			       "# HELP x_seconds What x is.\n# TYPE x_seconds histogram\n"
			       "x_seconds_bucket{le=\"0.001\"} 0\n"));
	assert_non_null(strstr(buf,
			       "x_seconds_bucket{le=\"10\"} 0\n"
			       "x_seconds_bucket{le=\"+Inf\"} 0\n"
			       "x_seconds_sum 0.000000\nx_seconds_count 0\n"));
}

static void test_buckets_cumulative_le_inclusive(void **state)
{
	struct histo h;
	char buf[2048];
	size_t n = 0;

	(void)state;
	memset(&h, 0, sizeof(h));
	histo_observe(&h, 0);        /* <= 1 ms */
	histo_observe(&h, 1000);     /* exactly 1 ms: le is inclusive */
	histo_observe(&h, 1001);     /* <= 2.5 ms */
	histo_observe(&h, 250000);   /* <= 0.25 s */
	histo_observe(&h, 10000001); /* past 10 s: +Inf only */
	histo_render(&h, "y_seconds", "y.", buf, sizeof(buf), &n);
	assert_non_null(strstr(buf,
			       "y_seconds_bucket{le=\"0.001\"} 2\n"
			       "y_seconds_bucket{le=\"0.0025\"} 3\n"
			       "y_seconds_bucket{le=\"0.005\"} 3\n"));
	assert_non_null(strstr(buf,
			       "y_seconds_bucket{le=\"0.1\"} 3\n"
			       "y_seconds_bucket{le=\"0.25\"} 4\n"));
	assert_non_null(strstr(buf,
			       "y_seconds_bucket{le=\"10\"} 4\n"
			       "y_seconds_bucket{le=\"+Inf\"} 5\n"
			       "y_seconds_sum 10.252002\ny_seconds_count 5\n"));
}

static void test_bounds_ascending(void **state)
{
	(void)state;
	for (int i = 1; i < HISTO_BOUNDS; i++)
		assert_true(histo_bounds_us[i] > histo_bounds_us[i - 1]);
}

/* A page that does not fit is cut, and the caller can tell. */
static void test_truncation(void **state)
{
	struct histo h;
	char buf[64];
	size_t n = 0;

	(void)state;
	memset(&h, 0, sizeof(h));
	histo_render(&h, "z_seconds", "z.", buf, sizeof(buf), &n);
	assert_true(n >= sizeof(buf));
	assert_true(strlen(buf) < sizeof(buf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_buckets_cumulative_le_inclusive),
		cmocka_unit_test(test_bounds_ascending),
		cmocka_unit_test(test_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_frame.c -- tests ws-bridge/frame.c: shared frames and bounded queues. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"

static void test_refcount_shared(void **state)
{
	struct frame *f = frame_from("hello", 5);
	struct outq a, b;

	(void)state;
	outq_init(&a, 10, 1000);
	outq_init(&b, 10, 1000);
	assert_int_equal(outq_push(&a, f), 0);
	assert_int_equal(outq_push(&b, f), 0);
	assert_int_equal(f->refs, 3);
	frame_unref(f);
	assert_ptr_equal(outq_peek(&a), outq_peek(&b)); /* the same bytes */
	outq_pop(&a);
	assert_int_equal(f->refs, 1);
	outq_release(&b);
	outq_release(&a);
}

static void test_frame_bound(void **state)
{
	struct frame *f = frame_from("x", 1);
	struct outq q;

	(void)state;
	outq_init(&q, 5, 1000);
	for (int i = 0; i < 5; i++)
		assert_int_equal(outq_push(&q, f), 0);
	assert_int_equal(outq_push(&q, f), -1);
	assert_int_equal(q.count, 5);
	outq_pop(&q);
	assert_int_equal(outq_push(&q, f), 0);
	outq_release(&q);
	assert_int_equal(f->refs, 1);
	frame_unref(f);
}

static void test_byte_bound(void **state)
{
	struct frame *f = frame_alloc(400);
	struct outq q;

	(void)state;
	outq_init(&q, 100, 1000);
	assert_int_equal(outq_push(&q, f), 0);
	assert_int_equal(outq_push(&q, f), 0);
	assert_int_equal(outq_push(&q, f), -1); /* 1200 > 1000 bytes */
	assert_int_equal(q.bytes, 800);
	outq_release(&q);
	frame_unref(f);
}

static void test_fifo_order_across_growth(void **state)
{
	struct outq q;
	struct frame *f[40];
	char buf[8];

	(void)state;
	outq_init(&q, 64, 100000);
	for (int i = 0; i < 40; i++) {
		int n = snprintf(buf, sizeof(buf), "%d", i);

		f[i] = frame_from(buf, (size_t)n);
		assert_int_equal(outq_push(&q, f[i]), 0);
		if (i % 3 == 2)
			outq_pop(&q); /* wrap the ring while it grows */
	}
	for (int i = 13; i < 40; i++) {
		assert_ptr_equal(outq_peek(&q), f[i]);
		outq_pop(&q);
	}
	assert_null(outq_peek(&q));
	assert_int_equal(q.cap, 0); /* an idle queue gives its ring back */
	for (int i = 0; i < 40; i++)
		frame_unref(f[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refcount_shared),
		cmocka_unit_test(test_frame_bound),
		cmocka_unit_test(test_byte_bound),
		cmocka_unit_test(test_fifo_order_across_growth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

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

/* RFC 6455 5.2: 7-bit length below 126, then 16-bit, then 64-bit, big-endian. */
static void test_text_header(void **state)
{
	unsigned char h[WS_HEADER_MAX];
	static const unsigned char h125[] = { 0x81, 125 };
	static const unsigned char h126[] = { 0x81, 126, 0x00, 126 };
	static const unsigned char h65535[] = { 0x81, 126, 0xff, 0xff };
	static const unsigned char h65536[] = { 0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0 };

	(void)state;
	assert_int_equal(ws_text_header(h, 0), 2);
	assert_int_equal(h[0], 0x81);
	assert_int_equal(h[1], 0);
	assert_int_equal(ws_text_header(h, 125), 2);
	assert_memory_equal(h, h125, sizeof(h125));
	assert_int_equal(ws_text_header(h, 126), 4);
	assert_memory_equal(h, h126, sizeof(h126));
	assert_int_equal(ws_text_header(h, 65535), 4);
	assert_memory_equal(h, h65535, sizeof(h65535));
	assert_int_equal(ws_text_header(h, 65536), 10);
	assert_memory_equal(h, h65536, sizeof(h65536));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refcount_shared),
		cmocka_unit_test(test_frame_bound),
		cmocka_unit_test(test_byte_bound),
		cmocka_unit_test(test_fifo_order_across_growth),
		cmocka_unit_test(test_text_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

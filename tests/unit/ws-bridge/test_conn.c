/* test_conn.c -- tests ws-bridge/conn.c: session ids, the sweep's timer wheel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conn.h"

/*
 * This definition takes the place of OpenSSL's for conn.c (the program's
 * own symbol wins over the shared library's): it fails on demand, and
 * otherwise gives distinct bytes.
 */
static int rand_fails;
static unsigned char rand_next;

int RAND_bytes(unsigned char *buf, int num);
int RAND_bytes(unsigned char *buf, int num)
{
	if (rand_fails)
		return 0;
	for (int i = 0; i < num; i++)
		buf[i] = rand_next++;
	return 1;
}

static void test_sid_has_prefix_and_20_chars(void **state)
{
	char a[48], b[48];

	(void)state;
	rand_fails = 0;
	assert_int_equal(conn_new_sid("b0_", a, sizeof(a)), 0);
	assert_int_equal(strlen(a), 3 + 20);
	assert_memory_equal(a, "b0_", 3);
	assert_int_equal(
		strspn(a + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
		20);
	assert_int_equal(conn_new_sid("", b, sizeof(b)), 0);
	assert_int_equal(strlen(b), 20);
	assert_string_not_equal(a + 3, b);
}

static void test_sid_refused_without_random_bytes(void **state)
{
	char out[48] = "stale";

	(void)state;
	rand_fails = 1;
	/* Never a predictable id (the old code used zero bytes): no id at all. */
	assert_int_equal(conn_new_sid("b0_", out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(conn_new_sid("", out, sizeof(out)), -1);
	rand_fails = 0;
}

static void test_sid_refused_when_too_long(void **state)
{
	char small[23];

	(void)state;
	rand_fails = 0;
	assert_int_equal(conn_new_sid("b0_", small, sizeof(small)), -1);
	assert_string_equal(small, "");
	assert_int_equal(conn_new_sid("", small, sizeof(small)), 0);
}

/* The wheel's visits: which sessions, and when. */
struct visits {
	struct conn *seen[16];
	int n;
	int64_t again_ms; /* put each back this far ahead; 0: leave it off the wheel */
	int64_t now_ms;
};

static void visit(void *arg, struct conn *c)
{
	struct visits *v = arg;

	assert_int_equal(c->due_slot, -1);
	if (v->n < 16)
		v->seen[v->n] = c;
	v->n++;
	if (v->again_ms)
		conn_due(c, v->now_ms + v->again_ms, v->now_ms);
}

static int sweep_at(struct conn_set *cs, struct visits *v, int64_t now_ms)
{
	v->n = 0;
	v->now_ms = now_ms;
	conn_due_each(cs, now_ms, visit, v);
	return v->n;
}

/* An empty set and n sessions of it on no slot. */
static void wheel_setup(struct conn_set *cs, struct conn *c, int n)
{
	memset(cs, 0, sizeof(*cs));
	memset(c, 0, sizeof(*c) * (size_t)n);
	for (int i = 0; i < n; i++) {
		c[i].cs = cs;
		c[i].due_slot = -1;
	}
}

static void test_wheel_visits_only_the_due(void **state)
{
	static struct conn_set cs;
	static struct conn c[4];
	struct visits v = { .again_ms = 0 };
	int64_t t0 = 1000000; /* ms */

	(void)state;
	wheel_setup(&cs, c, 4);
	/* The first sweep sets the clock (and sees an empty wheel). */
	assert_int_equal(sweep_at(&cs, &v, t0), 0);
	conn_due(&c[0], t0 + 25400, t0);  /* a ping in 25.4 s */
	conn_due(&c[1], t0 - 5000, t0);   /* overdue: the next second, not this one */
	conn_due(&c[2], t0 + 100000, t0); /* past the wheel: after 63 s */
	conn_due(&c[3], t0 + 2500, t0);
	assert_int_equal(sweep_at(&cs, &v, t0 + 999), 0);
	assert_int_equal(sweep_at(&cs, &v, t0 + 1000), 1);
	assert_ptr_equal(v.seen[0], &c[1]);
	assert_int_equal(sweep_at(&cs, &v, t0 + 2000), 1);
	assert_ptr_equal(v.seen[0], &c[3]);
	/* Moved later before it came due: seen at the new time only. */
	conn_due(&c[0], t0 + 30000, t0 + 2000);
	/* A sweep late by 20 s does the seconds it missed, once each. */
	assert_int_equal(sweep_at(&cs, &v, t0 + 22000), 0);
	assert_int_equal(sweep_at(&cs, &v, t0 + 29999), 0);
	assert_int_equal(sweep_at(&cs, &v, t0 + 30000), 1);
	assert_ptr_equal(v.seen[0], &c[0]);
	assert_int_equal(sweep_at(&cs, &v, t0 + 62999), 0);
	assert_int_equal(sweep_at(&cs, &v, t0 + 63000), 1);
	assert_ptr_equal(v.seen[0], &c[2]);
	/* Put back each time: every second, and never twice in one sweep. */
	conn_due(&c[1], t0 + 63000, t0 + 63000);
	v.again_ms = 1;
	for (int64_t t = t0 + 64000; t < t0 + 70000; t += 1000)
		assert_int_equal(sweep_at(&cs, &v, t), 1);
	/* A sweep after more than a lap sees each session once. */
	conn_due(&c[2], t0 + 80000, t0 + 69000);
	v.again_ms = 0;
	assert_int_equal(sweep_at(&cs, &v, t0 + 500000), 2);
	for (int i = 0; i < CONN_WHEEL; i++)
		assert_null(cs.wheel[i]);
}

/* A sweep catching up on missed seconds ends, each session seen at most twice. */
static void test_wheel_catch_up_ends(void **state)
{
	static struct conn_set cs;
	static struct conn c[3];
	struct visits v = { .again_ms = 1 };
	int64_t t0 = 5000000;

	(void)state;
	wheel_setup(&cs, c, 3);
	/* Put before the first sweep (a bridge's first seconds), each put back
	 * at every visit into the next second: a slot of the lap being caught
	 * up. This looped for ever once. */
	conn_due(&c[0], t0, t0);
	conn_due(&c[1], t0 + 7000, t0);
	conn_due(&c[2], t0 + 40000, t0);
	assert_in_range(sweep_at(&cs, &v, t0), 3, 6);
	assert_int_equal(sweep_at(&cs, &v, t0 + 1000), 3);
	/* Late by 30 s, same. */
	assert_in_range(sweep_at(&cs, &v, t0 + 31000), 3, 6);
	assert_int_equal(sweep_at(&cs, &v, t0 + 32000), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sid_has_prefix_and_20_chars),
		cmocka_unit_test(test_sid_refused_without_random_bytes),
		cmocka_unit_test(test_sid_refused_when_too_long),
		cmocka_unit_test(test_wheel_visits_only_the_due),
		cmocka_unit_test(test_wheel_catch_up_ends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_replica.c -- tests fcgi-app/replica.c's pure parts: pg_lsn text, fence slots, the off switch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"
#include "replica.h"

static void test_lsn_parse(void **state)
{
	(void)state;
	assert_true(replica_lsn_parse("0/0") == 0);
	assert_true(replica_lsn_parse("0/16B3748") == 0x16B3748ULL);
	assert_true(replica_lsn_parse("16/B374D848") == ((0x16ULL << 32) | 0xB374D848ULL));
	assert_true(replica_lsn_parse("FFFFFFFF/FFFFFFFF") == UINT64_MAX);
	/* Malformed: 0, which no fence is below. */
	assert_true(replica_lsn_parse(NULL) == 0);
	assert_true(replica_lsn_parse("") == 0);
	assert_true(replica_lsn_parse("16") == 0);
	assert_true(replica_lsn_parse("/1") == 0);
	assert_true(replica_lsn_parse("1/") == 0);
	assert_true(replica_lsn_parse("1/2x") == 0);
	assert_true(replica_lsn_parse("-1/2") == 0);
	assert_true(replica_lsn_parse("1/+2") == 0);
	assert_true(replica_lsn_parse(" 1/2") == 0);
	assert_true(replica_lsn_parse("100000000/0") == 0);
	assert_true(replica_lsn_parse("0/100000000") == 0);
}

static void test_retry_delay_doubles_to_its_bound(void **state)
{
	int d = 0, n = 0;

	(void)state;
	assert_int_equal(replica_retry_delay(0), REPLICA_RETRY_MS);
	assert_int_equal(replica_retry_delay(-5), REPLICA_RETRY_MS);
	assert_int_equal(replica_retry_delay(REPLICA_RETRY_MS), 2 * REPLICA_RETRY_MS);
	while (d < REPLICA_RETRY_MAX_MS && n++ < 64)
		d = replica_retry_delay(d);
	assert_int_equal(d, REPLICA_RETRY_MAX_MS);
	assert_true(n < 10);
	assert_int_equal(replica_retry_delay(REPLICA_RETRY_MAX_MS), REPLICA_RETRY_MAX_MS);
	assert_int_equal(replica_retry_delay(REPLICA_RETRY_MAX_MS - 1), REPLICA_RETRY_MAX_MS);
}

static void test_fence_only_rises(void **state)
{
	atomic_ullong slot = 0;

	(void)state;
	replica_fence_raise(&slot, 10);
	assert_true(atomic_load(&slot) == 10);
	replica_fence_raise(&slot, 5); /* an older write, reported late */
	assert_true(atomic_load(&slot) == 10);
	replica_fence_raise(&slot, 11);
	assert_true(atomic_load(&slot) == 11);
}

static void test_slots(void **state)
{
	(void)state;
	assert_true(replica_slot("") < METRICS_FENCE_SLOTS);
	assert_true(replica_slot("3f2a9c4e-0000-4000-8000-000000000001") < METRICS_FENCE_SLOTS);
	assert_int_equal(replica_slot("u1"), replica_slot("u1"));
	assert_int_not_equal(replica_slot("u1"), replica_slot("u2"));
}

/* Without CHAT_DATABASE_READ_URL (or without the shared mapping) everything is on the primary. */
static void test_off(void **state)
{
	static struct metrics m;
	struct cfg cfg;
	struct replica r;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.database_url = "dbname=chat";
	cfg.database_read_url = "";
	replica_init(&r, &cfg, &m);
	assert_false(replica_on(&r));
	cfg.database_read_url = "dbname=replica";
	replica_init(&r, &cfg, NULL);
	assert_false(replica_on(&r));
	replica_init(&r, &cfg, &m);
	assert_true(replica_on(&r));
	assert_true(r.db.quiet);
	assert_string_equal(r.db.url, "dbname=replica");
	replica_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lsn_parse),
		cmocka_unit_test(test_retry_delay_doubles_to_its_bound),
		cmocka_unit_test(test_fence_only_rises),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_pool.c -- tests fcgi-app/pool.c: the scheduling policy a worker takes. */
#define _GNU_SOURCE /* SCHED_BATCH */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "pool.h"

/* In a child, so that this process keeps its policy: SCHED_BATCH, and its priority stays 0. */
static void test_sched_batch(void **state)
{
	int status = -1;
	pid_t pid;

	(void)state;
	assert_int_not_equal(sched_getscheduler(0), SCHED_BATCH);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sched_param sp;

		if (pool_sched_batch() != 0 || sched_getscheduler(0) != SCHED_BATCH ||
		    sched_getparam(0, &sp) != 0 || sp.sched_priority != 0)
			_exit(1);
		/* Twice is harmless. */
		_exit(pool_sched_batch() != 0 || sched_getscheduler(0) != SCHED_BATCH);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sched_batch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

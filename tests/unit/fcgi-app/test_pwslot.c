/* test_pwslot.c -- tests fcgi-app/pwslot.c: the bound, and no slot lost to a dying process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "pwslot.h"

static void test_bound(void **state)
{
	struct pwslot s;

	(void)state;
	assert_int_equal(pwslot_open(&s, 2), 0);
	assert_int_equal(pwslot_take(&s, 0), PWSLOT_TAKEN);
	assert_int_equal(pwslot_take(&s, 10), PWSLOT_TAKEN);
	/* Both are held: a third waits its bounded time, then is refused. */
	assert_int_equal(pwslot_take(&s, 0), PWSLOT_BUSY);
	assert_int_equal(pwslot_take(&s, 20), PWSLOT_BUSY);
	pwslot_give(&s);
	assert_int_equal(pwslot_take(&s, 0), PWSLOT_TAKEN);
	pwslot_give(&s);
	pwslot_give(&s);
	pwslot_close(&s);
	assert_int_equal(s.semid, -1);
}

/* A child that holds both slots dies (SIGKILL, no clean-up): the kernel
 * gives them back, so the parent takes both at once. */
static void test_dead_holder_leaks_nothing(void **state)
{
	struct pwslot s;
	int fds[2], status;
	char c;
	pid_t pid;

	(void)state;
	assert_int_equal(pwslot_open(&s, 2), 0);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (pwslot_take(&s, 0) != PWSLOT_TAKEN || pwslot_take(&s, 0) != PWSLOT_TAKEN)
			_exit(1);
		(void)!write(fds[1], "x", 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(fds[0], &c, 1), 1);
	assert_int_equal(pwslot_take(&s, 0), PWSLOT_BUSY);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(pwslot_take(&s, 0), PWSLOT_TAKEN);
	assert_int_equal(pwslot_take(&s, 0), PWSLOT_TAKEN);
	assert_int_equal(pwslot_take(&s, 0), PWSLOT_BUSY);
	pwslot_give(&s);
	pwslot_give(&s);
	/* A child's close leaves the semaphore to its creator. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pwslot_close(&s);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(pwslot_take(&s, 0), PWSLOT_TAKEN);
	pwslot_give(&s);
	close(fds[0]);
	close(fds[1]);
	pwslot_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_dead_holder_leaks_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

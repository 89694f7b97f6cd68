/* test_pwslot.c -- tests fcgi-app/pwslot.c: the bound, and no slot lost to a dying process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/sem.h>
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

/*
 * Takes one slot in a process of its own that opens the semaphore by
 * itself (as each worker under spawn-fcgi -F does): with `named`, by name;
 * else a private one. Returns what pwslot_take answered there.
 */
static int take_elsewhere(const char *name, int named)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct pwslot o;

		if (named ? pwslot_open_named(&o, 2, name) : pwslot_open(&o, 2))
			_exit(9);
		_exit(pwslot_take(&o, 0) == PWSLOT_TAKEN ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Workers that no common parent forked share the bound through the name. */
static void test_named_is_shared(void **state)
{
	struct pwslot s, again;
	char name[64];

	(void)state;
	snprintf(name, sizeof(name), "/tmp/test-pwslot-%d.sock", (int)getpid());
	assert_int_not_equal(pwslot_key(name), IPC_PRIVATE);
	assert_int_not_equal(pwslot_key(name), pwslot_key("/tmp/other.sock"));
	assert_int_equal(pwslot_open_named(&s, 2, name), 0);
	assert_int_equal(pwslot_take(&s, 0), PWSLOT_TAKEN);
	assert_int_equal(pwslot_take(&s, 0), PWSLOT_TAKEN);
	/* Both slots held here: another process of the same name gets none... */
	assert_int_equal(take_elsewhere(name, 1), 1);
	/* ...where a private semaphore per process (the old way) bounded nothing. */
	assert_int_equal(take_elsewhere(name, 0), 0);
	pwslot_give(&s);
	/* A slot free: the other process takes it, and gives it back by exiting. */
	assert_int_equal(take_elsewhere(name, 1), 0);
	assert_int_equal(pwslot_take(&s, 0), PWSLOT_TAKEN);
	pwslot_give(&s);
	pwslot_give(&s);
	/* Asking for another number gets the set's own. */
	assert_int_equal(pwslot_open_named(&again, 5, name), 0);
	assert_int_equal(again.semid, s.semid);
	assert_int_equal(again.slots, 2);
	/* Nobody owns it: close leaves it; the test removes it. */
	pwslot_close(&s);
	assert_int_equal(semctl(again.semid, 0, GETVAL), 2);
	assert_int_equal(semctl(again.semid, 0, IPC_RMID), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_dead_holder_leaks_nothing),
		cmocka_unit_test(test_named_is_shared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

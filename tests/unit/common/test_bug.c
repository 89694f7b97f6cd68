/* test_bug.c -- unit tests of common/bug.h (BUG_ON aborts with file and line). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bug.h"
#include "log.h"

/* Runs BUG_ON(cond) in a child with stderr in a pipe; returns its wait status and text. */
static int run_child(int cond, char *out, size_t outlen)
{
	int fds[2], status = 0;
	pid_t pid;
	ssize_t n;
	size_t got = 0;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		log_init("test", "info");
		BUG_ON(cond);
		_exit(0);
	}
	close(fds[1]);
	while (got + 1 < outlen && (n = read(fds[0], out + got, outlen - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_bug_on_false_goes_on(void **state)
{
	char out[1024];
	int st;

	(void)state;
	st = run_child(0, out, sizeof(out));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_string_equal(out, "");
}

static void test_bug_on_true_aborts_with_place(void **state)
{
	char out[1024];
	int st;

	(void)state;
	st = run_child(1, out, sizeof(out));
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	assert_non_null(strstr(out, "BUG at "));
	assert_non_null(strstr(out, "test_bug.c:"));
	assert_non_null(strstr(out, "cond"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bug_on_false_goes_on),
		cmocka_unit_test(test_bug_on_true_aborts_with_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

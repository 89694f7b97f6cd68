/* test_logsink.c -- tests fcgi-app/logsink.c: stderr lines as syslog datagrams when stderr is /dev/null. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "logsink.h"

/* Receives one datagram (waiting at most a second) into buf; returns its length. */
static ssize_t next(int fd, char *buf, size_t size)
{
	struct timeval tv = { 1, 0 };
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(fd, buf, size - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static void test_lines_become_datagrams(void **state)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char path[64], buf[8192], want[128], big[6000];
	int rx, saved, devnull;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/test-logsink-%d.sock", (int)getpid());
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	rx = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);

	/* stderr leads somewhere: nothing changes. */
	saved = dup(2);
	{
		int pipefd[2];

		assert_int_equal(pipe(pipefd), 0);
		dup2(pipefd[1], 2);
		assert_int_equal(logsink_syslog_if_lost(path, "t"), 0);
		close(pipefd[0]);
		close(pipefd[1]);
	}
	/* stderr is /dev/null: an unreachable socket is refused, the right one taken. */
	devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, 2);
	assert_int_equal(logsink_syslog_if_lost("/tmp/no-such-dir/x.sock", "t"), -1);
	assert_int_equal(logsink_syslog_if_lost(path, "t"), 1);

	fprintf(stderr, "ts=2026-01-01T00:00:00.000Z level=warn comp=fcgi msg=\"w\"\n");
	next(rx, buf, sizeof(buf));
	snprintf(want, sizeof(want), "<28>t[%d]: level=warn comp=fcgi msg=\"w\"", (int)getpid());
	assert_string_equal(buf, want);

	/* Two lines in one write, a journald prefix, an error. */
	fprintf(stderr, "<3>ts=x level=error comp=fcgi msg=\"e\"\nlevel=debug msg=\"d\"\n");
	next(rx, buf, sizeof(buf));
	snprintf(want, sizeof(want), "<27>t[%d]: level=error comp=fcgi msg=\"e\"", (int)getpid());
	assert_string_equal(buf, want);
	next(rx, buf, sizeof(buf));
	snprintf(want, sizeof(want), "<31>t[%d]: level=debug msg=\"d\"", (int)getpid());
	assert_string_equal(buf, want);

	/* No level (or a level= inside the message only): notice. A line in pieces is one datagram. */
	fprintf(stderr, "plain msg=\"level=errors\"");
	fprintf(stderr, " end\n");
	next(rx, buf, sizeof(buf));
	snprintf(want, sizeof(want), "<29>t[%d]: plain msg=\"level=errors\" end", (int)getpid());
	assert_string_equal(buf, want);

	/* A line longer than the buffer is cut into bounded datagrams, none lost or overrun. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fprintf(stderr, "level=info %s\n", big);
	assert_true(next(rx, buf, sizeof(buf)) > 4000);
	assert_true(next(rx, buf, sizeof(buf)) > 1000);

	dup2(saved, 2);
	close(saved);
	close(devnull);
	close(rx);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_become_datagrams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

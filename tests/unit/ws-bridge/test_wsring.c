/* test_wsring.c -- tests ws-bridge/wsring.c: the sends of a flush in one io_uring submission. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "wsring.h"

/* A unix stream pair with small buffers: sv[0] writes, sv[1] reads. */
static void pair(int sv[2])
{
	int small = 4096;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
}

static size_t drain(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = recv(fd, buf + got, cap - got, MSG_DONTWAIT)) > 0)
		got += (size_t)n;
	return got;
}

/* Every kind of outcome in one submission, each reported on its own send:
 * whole (one piece and several), short, no room, a broken pipe. Nothing
 * blocks, and what was sent arrives as given. */
static void test_outcomes(void **state)
{
	static char big[10000], got[20000];
	int ok1[2], ok2[2], part[2], full[2], gone[2];
	struct iovec v_ok1[1], v_ok2[3], v_part[1], v_full[1], v_gone[1];
	struct wsring_send s[5];
	struct wsring *r = wsring_open();
	char a[] = "hello", b[] = " ", cc[] = "world";
	ssize_t fill;

	(void)state;
	assert_non_null(r);
	memset(big, 'b', sizeof(big));
	pair(ok1);
	pair(ok2);
	pair(part);
	pair(full);
	pair(gone);
	/* No room at all in "full"; "gone" has no reader. */
	do
		fill = send(full[0], big, 2000, MSG_DONTWAIT);
	while (fill > 0);
	close(gone[1]);
	v_ok1[0] = (struct iovec){ a, 5 };
	v_ok2[0] = (struct iovec){ a, 5 };
	v_ok2[1] = (struct iovec){ b, 1 };
	v_ok2[2] = (struct iovec){ cc, 5 };
	v_part[0] = (struct iovec){ big, sizeof(big) };
	v_full[0] = (struct iovec){ a, 5 };
	v_gone[0] = (struct iovec){ a, 5 };
	memset(s, 0, sizeof(s));
	s[0] = (struct wsring_send){ .fd = ok1[0], .iov = v_ok1, .iovcnt = 1 };
	s[1] = (struct wsring_send){ .fd = ok2[0], .iov = v_ok2, .iovcnt = 3 };
	s[2] = (struct wsring_send){ .fd = part[0], .iov = v_part, .iovcnt = 1 };
	s[3] = (struct wsring_send){ .fd = full[0], .iov = v_full, .iovcnt = 1 };
	s[4] = (struct wsring_send){ .fd = gone[0], .iov = v_gone, .iovcnt = 1 };
	assert_int_equal(wsring_send(r, s, 5), 0);
	assert_int_equal(s[0].res, 5);
	assert_int_equal(s[1].res, 11);
	assert_true(s[2].res > 0 && s[2].res < (ssize_t)sizeof(big));
	assert_int_equal(s[3].res, -EAGAIN);
	assert_int_equal(s[4].res, -EPIPE);
	assert_int_equal(drain(ok1[1], got, sizeof(got)), 5);
	assert_memory_equal(got, "hello", 5);
	assert_int_equal(drain(ok2[1], got, sizeof(got)), 11);
	assert_memory_equal(got, "hello world", 11);
	assert_int_equal(drain(part[1], got, sizeof(got)), (size_t)s[2].res);
	/* The ring is empty again: a second round works the same. */
	assert_int_equal(wsring_send(r, s, 1), 0);
	assert_int_equal(s[0].res, 5);
	/* A bad descriptor fails its own send only. */
	s[0].fd = -1;
	s[1].fd = ok2[0];
	assert_int_equal(wsring_send(r, s, 2), 0);
	assert_int_equal(s[0].res, -EBADF);
	assert_int_equal(s[1].res, 11);
	wsring_close(r);
	{
		int *all[] = { ok1, ok2, part, full, gone };

		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
			close(all[i][0]);
			if (all[i] != gone)
				close(all[i][1]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outcomes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

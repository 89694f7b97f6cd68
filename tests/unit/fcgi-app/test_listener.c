/* test_listener.c -- tests fcgi-app/listener.c (a FastCGI socket on fd 0, or a clear refusal). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"

static void refused(int fd, const char *want)
{
	char why[128] = "x";

	assert_int_equal(listener_check(fd, why, sizeof(why)), -1);
	assert_non_null(strstr(why, want));
}

static void test_listening_socket(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char why[64];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	/* Bound but not listening yet: not what spawn-fcgi hands over. */
	refused(fd, "not listening");
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(listener_check(fd, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	close(fd);
}

static void test_not_sockets(void **state)
{
	int p[2], sp[2], dn, u;

	(void)state;
	assert_int_equal(pipe(p), 0);
	refused(p[0], "a pipe");
	close(p[0]);
	close(p[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	refused(sp[0], "not listening");
	close(sp[0]);
	close(sp[1]);
	u = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(u >= 0);
	refused(u, "not a stream socket");
	close(u);
	dn = open("/dev/null", O_RDONLY);
	assert_true(dn >= 0);
	refused(dn, "character device");
	close(dn);
	refused(dn, "closed");
	refused(-1, "closed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listening_socket),
		cmocka_unit_test(test_not_sockets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

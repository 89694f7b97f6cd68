/* logsink.c -- chat-fcgi's log lines to syslog when its stderr leads nowhere (spawn-fcgi -F).
 *
 * The log module writes one line per fprintf to stderr. glibc lets stderr be
 * replaced (it is a plain variable there), so stderr becomes a stream of our
 * own (fopencookie) whose write function cuts lines and sends each as a
 * datagram: the log module stays as it is, and so does whatever else writes
 * to stderr. */
#define _GNU_SOURCE /* fopencookie */
#include "logsink.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#define LOGSINK_LINE 4096
#define LOGSINK_FACILITY (3 << 3) /* LOG_DAEMON */

/* The one sink of the process: stderr is one per process as well. */
static struct logsink {
	int fd;
	struct sockaddr_un addr;
	const char *ident;
	size_t n;
	char line[LOGSINK_LINE];
} sink = { .fd = -1 };

/* True when writes to stderr go nowhere: /dev/null, or no descriptor 2. */
static int logsink_lost(void)
{
	struct stat st;

	if (fstat(2, &st) < 0)
		return errno == EBADF;
	return S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

static int logsink_connect(void)
{
	if (sink.fd >= 0)
		close(sink.fd);
	sink.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sink.fd < 0)
		return -1;
	if (connect(sink.fd, (const struct sockaddr *)&sink.addr, sizeof(sink.addr)) < 0) {
		close(sink.fd);
		sink.fd = -1;
		return -1;
	}
	return 0;
}

/* The syslog severity of a log line: its level= field, else notice. */
static int logsink_severity(const char *s, size_t n)
{
	static const struct {
		const char *field;
		int severity;
	} map[] = {
		{ "level=error", 3 }, { "level=warn", 4 }, { "level=info", 6 }, { "level=debug", 7 }
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t len = strlen(map[i].field);

		for (size_t at = 0; at + len <= n; at++)
			if (memcmp(s + at, map[i].field, len) == 0 &&
			    (at + len == n || s[at + len] == ' '))
				return map[i].severity;
	}
	return 5;
}

/* Sends line s (n bytes, no newline) as one datagram. */
static void logsink_send(const char *s, size_t n)
{
	char msg[LOGSINK_LINE + 128];
	int head;

	/* A journald-style "<N>" prefix, if the log module adds one, goes. */
	if (n >= 3 && s[0] == '<' && s[2] == '>') {
		s += 3;
		n -= 3;
	}
	/* So does the time stamp: syslog stamps its own. */
	if (n > 3 && memcmp(s, "ts=", 3) == 0) {
		const char *sp = memchr(s, ' ', n);

		if (sp) {
			n -= (size_t)(sp + 1 - s);
			s = sp + 1;
		}
	}
	head = snprintf(msg, sizeof(msg), "<%d>%s[%d]: ", LOGSINK_FACILITY | logsink_severity(s, n),
			sink.ident, (int)getpid());
	if (head < 0)
		return;
	if (n > sizeof(msg) - (size_t)head)
		n = sizeof(msg) - (size_t)head;
	memcpy(msg + head, s, n);
	/* The daemon restarted: connect again, once. A line it cannot take is dropped. */
	if (send(sink.fd, msg, (size_t)head + n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	    logsink_connect() == 0)
		(void)!send(sink.fd, msg, (size_t)head + n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static ssize_t logsink_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\n' || sink.n == sizeof(sink.line)) {
			logsink_send(sink.line, sink.n);
			sink.n = 0;
			if (buf[i] == '\n')
				continue;
		}
		sink.line[sink.n++] = buf[i];
	}
	return (ssize_t)size;
}

int logsink_syslog_if_lost(const char *path, const char *ident)
{
	cookie_io_functions_t io = { NULL, logsink_write, NULL, NULL };
	FILE *f;

	if (!logsink_lost())
		return 0;
	if (!path || strlen(path) >= sizeof(sink.addr.sun_path))
		return -1;
	memset(&sink.addr, 0, sizeof(sink.addr));
	sink.addr.sun_family = AF_UNIX;
	memcpy(sink.addr.sun_path, path, strlen(path));
	sink.ident = ident;
	if (logsink_connect() < 0)
		return -1;
	f = fopencookie(NULL, "w", io);
	if (!f) {
		close(sink.fd);
		sink.fd = -1;
		return -1;
	}
	setvbuf(f, NULL, _IONBF, 0);
	stderr = f;
	return 1;
}

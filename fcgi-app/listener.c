/* listener.c -- whether chat-fcgi was given a FastCGI socket to accept on. */
#include "listener.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int listener_check(int fd, char *why, size_t whylen)
{
	struct stat st;
	int listening = 0, type = 0;
	socklen_t len = sizeof(listening);

	if (whylen)
		why[0] = '\0';
	if (fstat(fd, &st) != 0) {
		snprintf(why, whylen, "closed");
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(why, whylen, "%s",
			 isatty(fd)                     ? "a terminal"
				 : S_ISFIFO(st.st_mode) ? "a pipe"
				 : S_ISCHR(st.st_mode)  ? "a character device (e.g. /dev/null)"
							: "a file, not a socket");
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) {
		snprintf(why, whylen, "a socket whose state cannot be read: %s", strerror(errno));
		return -1;
	}
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
		snprintf(why, whylen, "a socket that is not a stream socket");
		return -1;
	}
	if (!listening) {
		snprintf(why, whylen, "a socket that is not listening (a connection?)");
		return -1;
	}
	return 0;
}

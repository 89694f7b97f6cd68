/* listener.h -- whether chat-fcgi was given a FastCGI socket to accept on. */
#ifndef CHAT_LISTENER_H
#define CHAT_LISTENER_H

#include <stddef.h>

/*
 * Whether descriptor fd is a listening stream socket, as spawn-fcgi,
 * multiwatch and a systemd socket unit (StandardInput=socket) give
 * chat-fcgi on fd 0. Returns 0, or -1 with what fd is instead in why
 * (always NUL-terminated): "a terminal", "not a socket", "closed", ...
 * libfcgi would otherwise treat such a start as CGI and exit 0 at once.
 */
int listener_check(int fd, char *why, size_t whylen) __attribute__((warn_unused_result));

#endif

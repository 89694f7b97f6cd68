/* srcbind.c -- bind() for lws's client sockets without taking an ephemeral port early.
 *
 * To open more than ~28000 connections to one nginx port, the workers bind
 * their sockets to 127.0.0.2, .3, ... (the lws `iface` of the connect
 * info), and libwebsockets 4.1 does that with bind(addr, port 0) right
 * after socket(), with no hook in between. A plain bind() to port 0
 * reserves a port number for an explicit bind, and Linux then lets no
 * automatically bound connect() -- nginx's connections to the bridges,
 * other programs on this machine -- use that port number on any address:
 * at 100000 connections nginx ran out ("connect() ... failed (99: Cannot
 * assign requested address)"). With IP_BIND_ADDRESS_NO_PORT the port is
 * chosen at connect() time instead, unique per address pair, and shared
 * with everyone else.
 *
 * This definition takes the place of libc's bind() for the whole program:
 * the executable's symbol comes first for libwebsockets too. Only
 * IPv4 binds to a specific address and port 0 -- what lws does for
 * `iface` -- get the option; nothing else in chat-bench calls bind(). */
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (addr && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)addr;
		int one = 1;

		if (!sin->sin_port && sin->sin_addr.s_addr != htonl(INADDR_ANY))
			(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
					 sizeof(one));
	}
	return (int)syscall(SYS_bind, fd, addr, len);
}

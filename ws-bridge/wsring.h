/* wsring.h -- the sends of one flush pass, submitted to the kernel together through an io_uring. */
#ifndef CHAT_WSRING_H
#define CHAT_WSRING_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * Where system calls are dear (this project's benchmark machine is a PVM
 * guest: a send() costs as much again in the transition as in the TCP
 * stack, bench/README.md "Issue 16, round 3"), one io_uring_enter() for
 * the sends of a whole fan-out halves the CPU per delivery. Every send is
 * non-blocking (MSG_DONTWAIT): it completes, short or not, or fails with
 * -EAGAIN before wsring_send() returns, so the caller's buffers are free
 * again then and the result is known at once, as with send().
 */

/* The most sends one wsring_send() takes. */
#define WSRING_MAX 256

struct wsring;

/* One send: iov[0..iovcnt) to fd. res is set by wsring_send(). */
struct wsring_send {
	int fd;
	struct iovec *iov;
	int iovcnt;
	struct msghdr msg; /* wsring's, for sends of several pieces */
	ssize_t res;       /* bytes sent (maybe fewer than asked), or -errno */
};

/* A ring for WSRING_MAX sends, or NULL (errno set) where the kernel refuses one. */
struct wsring *wsring_open(void);

void wsring_close(struct wsring *r);

/*
 * Sends s[0..n) (n <= WSRING_MAX) with one submission and sets each res.
 * Returns 0, or -1 when the ring itself failed: every send it did not make
 * has res -EAGAIN (nothing of it was sent), and the ring must be closed.
 */
int wsring_send(struct wsring *r, struct wsring_send *s, unsigned n)
	__attribute__((warn_unused_result));

#endif

/* wsring.c -- the sends of one flush pass, submitted to the kernel together through an io_uring. */
#include "wsring.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

struct wsring {
	struct io_uring ring;
};

struct wsring *wsring_open(void)
{
	struct wsring *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return NULL;
	/* SUBMIT_ALL: a send that fails at preparation does not hold back the
	 * others (each gets its own completion). Older kernels lack it. */
	rc = io_uring_queue_init(WSRING_MAX, &r->ring, IORING_SETUP_SUBMIT_ALL);
	if (rc == -EINVAL)
		rc = io_uring_queue_init(WSRING_MAX, &r->ring, 0);
	if (rc < 0) {
		free(r);
		errno = -rc;
		return NULL;
	}
	return r;
}

void wsring_close(struct wsring *r)
{
	if (!r)
		return;
	io_uring_queue_exit(&r->ring);
	free(r);
}

/* Takes the completions there are; returns how many. */
static unsigned wsring_reap(struct wsring *r, struct wsring_send *s, unsigned n)
{
	struct io_uring_cqe *cqe;
	unsigned head, got = 0;

	io_uring_for_each_cqe(&r->ring, head, cqe)
	{
		if (cqe->user_data < n)
			s[cqe->user_data].res = cqe->res;
		got++;
	}
	io_uring_cq_advance(&r->ring, got);
	return got;
}

int wsring_send(struct wsring *r, struct wsring_send *s, unsigned n)
{
	const int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
	unsigned i, done = 0;
	int submitted, rc;

	if (n > WSRING_MAX)
		n = WSRING_MAX;
	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

		s[i].res = -EAGAIN;
		if (!sqe)
			break; /* cannot happen: the ring is emptied after each call */
		if (s[i].iovcnt == 1) {
			io_uring_prep_send(sqe, s[i].fd, s[i].iov[0].iov_base, s[i].iov[0].iov_len,
					   flags);
		} else {
			memset(&s[i].msg, 0, sizeof(s[i].msg));
			s[i].msg.msg_iov = s[i].iov;
			s[i].msg.msg_iovlen = (size_t)s[i].iovcnt;
			io_uring_prep_sendmsg(sqe, s[i].fd, &s[i].msg, (unsigned)flags);
		}
		io_uring_sqe_set_data64(sqe, i);
	}
	for (; i < n; i++)
		s[i].res = -EAGAIN;
	/* Non-blocking sends complete inside the submission; waiting for them
	 * all never waits on a peer. */
	submitted = io_uring_submit_and_wait(&r->ring, n);
	while (submitted == -EINTR)
		submitted = io_uring_submit_and_wait(&r->ring, n);
	if (submitted < 0)
		return -1; /* nothing taken: every res is still -EAGAIN */
	/* A submitted send whose completion is never reaped may have left: it
	 * must count as failed (its session closed), not as not sent, or its
	 * frames would go out again. Reaping overwrites this. */
	for (i = 0; i < (unsigned)submitted && i < n; i++)
		s[i].res = -ECANCELED;
	for (;;) {
		done += wsring_reap(r, s, n);
		if (done >= (unsigned)submitted)
			break;
		rc = io_uring_submit_and_wait(&r->ring, (unsigned)submitted - done);
		if (rc < 0 && rc != -EINTR)
			break;
	}
	return (unsigned)submitted == n && done >= n ? 0 : -1;
}

/* floor-fanout.c -- the bare cost of writing one frame to N loopback TCP sockets (bench/README.md, "Issue 16, round 3"). */
/*
 * The floor under chat-ws's CPU per delivery: a sender process that writes
 * the same WebSocket text frame to each of N connected loopback TCP sockets,
 * a message at a time, and a receiver process that reads them all with
 * epoll, as chat-bench does. Nothing else: no framing work, no queues, no
 * event loop in the sender. Reports the sender's CPU (getrusage) per
 * delivery, user and system apart, and the receiver's.
 *
 * Modes (--mode): "send" is one send() per socket per message (what chat-ws
 * does); "uring" queues the message's N sends on an io_uring and submits
 * them with one io_uring_enter() (the sockets registered, IOSQE_FIXED_FILE);
 * "both" runs send, uring, send, uring.
 *
 * Usage: floor-fanout [--conns N] [--rate MSGS_PER_S] [--seconds S]
 *                     [--size BYTES] [--mode send|uring|both]
 * Defaults: 200 sockets, 200 msg/s (bench/compare's fixed20: 40,000
 * deliveries/s), 5 s, 300-byte payloads (a new_message event), both.
 * --rate 0 writes as fast as the sender can (closed loop; a socket whose
 * buffer is full skips the message and counts it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 20000

struct opts {
	int conns;
	double rate;
	double seconds;
	size_t size;
	const char *mode;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(int who, double *user, double *sys)
{
	struct rusage ru;

	getrusage(who, &ru);
	*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	return *user + *sys;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* The receiver: connects n sockets to port, reads until the sender closes them all. */
static void receiver(int port, int n, int ready_fd)
{
	static char buf[65536];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct epoll_event evs[256];
	int ep = epoll_create1(0), open_n = n;
	double u, s, t0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS)
			die("connect");
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			die("epoll_ctl");
	}
	if (write(ready_fd, "r", 1) != 1)
		die("write");
	t0 = cpu_s(RUSAGE_SELF, &u, &s);
	while (open_n > 0) {
		int k = epoll_wait(ep, evs, 256, 5000);

		if (k < 0 && errno != EINTR)
			die("epoll_wait");
		if (k == 0)
			break;
		for (int i = 0; i < k; i++) {
			ssize_t r = recv(evs[i].data.fd, buf, sizeof(buf), 0);

			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				close(evs[i].data.fd);
				open_n--;
			}
		}
	}
	/* The parent reads the receiver's CPU from the pipe. */
	{
		char line[128];
		double c = cpu_s(RUSAGE_SELF, &u, &s) - t0;
		int len = snprintf(line, sizeof(line), "%.6f %.6f %.6f\n", c, u, s);

		if (write(ready_fd, line, (size_t)len) != len)
			die("write");
	}
	exit(0);
}

struct run {
	const struct opts *o;
	int *fds;
	char *frame;
	size_t flen;
	struct io_uring ring;
	unsigned long long deliveries, skipped, sends;
};

static void send_one(struct run *r, int i)
{
	ssize_t w = send(r->fds[i], r->frame, r->flen, MSG_DONTWAIT | MSG_NOSIGNAL);

	r->sends++;
	if (w == (ssize_t)r->flen)
		r->deliveries++;
	else if (w < 0 && errno == EAGAIN)
		r->skipped++;
	else
		die("send (short or failed; the floor does not keep rests)");
}

static void send_uring(struct run *r)
{
	struct io_uring_cqe *cqes[256];
	int n = r->o->conns;

	for (int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

		if (!sqe)
			die("io_uring_get_sqe");
		io_uring_prep_send(sqe, i, r->frame, r->flen, MSG_DONTWAIT | MSG_NOSIGNAL);
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	if (io_uring_submit(&r->ring) != n)
		die("io_uring_submit");
	r->sends++;
	for (int left = n; left > 0;) {
		unsigned k = io_uring_peek_batch_cqe(&r->ring, cqes, 256);

		if (k == 0) {
			struct io_uring_cqe *c;

			if (io_uring_wait_cqe(&r->ring, &c))
				die("io_uring_wait_cqe");
			continue;
		}
		for (unsigned j = 0; j < k; j++) {
			if (cqes[j]->res == (int)r->flen)
				r->deliveries++;
			else if (cqes[j]->res == -EAGAIN)
				r->skipped++;
			else {
				errno = -cqes[j]->res;
				die("io_uring send (short or failed)");
			}
		}
		io_uring_cq_advance(&r->ring, k);
		left -= (int)k;
	}
}

/* One timed run of a mode; prints its line. */
static void run_mode(struct run *r, const char *mode)
{
	const struct opts *o = r->o;
	int uring = !strcmp(mode, "uring");
	double t0, t1, c0, c1, u0, s0, u1, s1, next;
	unsigned long long msgs = 0;

	r->deliveries = r->skipped = r->sends = 0;
	t0 = now_s();
	c0 = cpu_s(RUSAGE_SELF, &u0, &s0);
	next = t0;
	while (now_s() - t0 < o->seconds) {
		if (o->rate > 0) {
			double d = next - now_s();

			if (d > 0) {
				struct timespec ts = { (time_t)d,
						       (long)((d - (double)(time_t)d) * 1e9) };

				nanosleep(&ts, NULL);
			}
			next += 1.0 / o->rate;
		}
		if (uring)
			send_uring(r);
		else
			for (int i = 0; i < o->conns; i++)
				send_one(r, i);
		msgs++;
	}
	t1 = now_s();
	c1 = cpu_s(RUSAGE_SELF, &u1, &s1);
	printf("mode %-5s conns %d msgs %llu deliveries %llu (%.0f/s) skipped %llu syscalls/delivery %.3f "
	       "sender %.2f us/delivery (user %.2f, sys %.2f)\n",
	       mode, o->conns, msgs, r->deliveries, (double)r->deliveries / (t1 - t0), r->skipped,
	       (double)r->sends / (double)(r->deliveries ? r->deliveries : 1),
	       (c1 - c0) * 1e6 / (double)(r->deliveries ? r->deliveries : 1),
	       (u1 - u0) * 1e6 / (double)(r->deliveries ? r->deliveries : 1),
	       (s1 - s0) * 1e6 / (double)(r->deliveries ? r->deliveries : 1));
	fflush(stdout);
}

static int parse(struct opts *o, int argc, char **argv)
{
	o->conns = 200;
	o->rate = 200;
	o->seconds = 5;
	o->size = 300;
	o->mode = "both";
	for (int i = 1; i + 1 < argc; i += 2) {
		char *end = NULL;
		double v = strtod(argv[i + 1], &end);

		if (!strcmp(argv[i], "--mode")) {
			o->mode = argv[i + 1];
			continue;
		}
		if (!*argv[i + 1] || *end)
			return -1;
		if (!strcmp(argv[i], "--conns"))
			o->conns = (int)v;
		else if (!strcmp(argv[i], "--rate"))
			o->rate = v;
		else if (!strcmp(argv[i], "--seconds"))
			o->seconds = v;
		else if (!strcmp(argv[i], "--size"))
			o->size = (size_t)v;
		else
			return -1;
	}
	if (argc % 2 == 0 || o->conns < 1 || o->conns > MAX_CONNS || o->seconds <= 0 ||
	    o->size < 1 || o->size > 65535 || o->rate < 0 ||
	    (strcmp(o->mode, "send") && strcmp(o->mode, "uring") && strcmp(o->mode, "both")))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct run r = { .o = &o };
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int lfd, one = 1, pipefd[2];
	pid_t child;
	char c, line[128];
	ssize_t n;

	if (parse(&o, argc, argv)) {
		fputs("usage: floor-fanout [--conns N] [--rate MSGS_PER_S] [--seconds S] [--size BYTES] "
		      "[--mode send|uring|both]\n",
		      stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&a, &al))
		die("listen");
	if (pipe(pipefd))
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(pipefd[0]);
		receiver(ntohs(a.sin_port), o.conns, pipefd[1]);
	}
	close(pipefd[1]);
	r.fds = calloc((size_t)o.conns, sizeof(int));
	if (!r.fds)
		die("calloc");
	for (int i = 0; i < o.conns; i++) {
		r.fds[i] = accept(lfd, NULL, NULL);
		if (r.fds[i] < 0)
			die("accept");
		/* As chat-ws (lws sets TCP_NODELAY on accepted sockets). */
		setsockopt(r.fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (read(pipefd[0], &c, 1) != 1)
		die("read");
	/* A frame as chat-ws writes it: a 2- or 4-byte header, then the payload. */
	r.frame = malloc(o.size + 4);
	if (!r.frame)
		die("malloc");
	r.flen = o.size < 126 ? 2 : 4;
	r.frame[0] = (char)0x81;
	if (o.size < 126) {
		r.frame[1] = (char)o.size;
	} else {
		r.frame[1] = 126;
		r.frame[2] = (char)(o.size >> 8);
		r.frame[3] = (char)o.size;
	}
	memset(r.frame + r.flen, 'x', o.size);
	r.flen += o.size;
	if (io_uring_queue_init((unsigned)o.conns, &r.ring, 0))
		die("io_uring_queue_init");
	if (io_uring_register_files(&r.ring, r.fds, (unsigned)o.conns))
		die("io_uring_register_files");
	if (!strcmp(o.mode, "both")) {
		run_mode(&r, "send");
		run_mode(&r, "uring");
		run_mode(&r, "send");
		run_mode(&r, "uring");
	} else {
		run_mode(&r, o.mode);
	}
	io_uring_queue_exit(&r.ring);
	for (int i = 0; i < o.conns; i++)
		close(r.fds[i]);
	n = read(pipefd[0], line, sizeof(line) - 1);
	if (n > 0) {
		double rc, ru, rs;

		line[n] = '\0';
		if (sscanf(line, "%lf %lf %lf", &rc, &ru, &rs) == 3)
			printf("receiver %.2f s of CPU over all runs (user %.2f, sys %.2f)\n", rc,
			       ru, rs);
	}
	waitpid(child, NULL, 0);
	return 0;
}

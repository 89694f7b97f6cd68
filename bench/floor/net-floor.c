/* net-floor.c -- the machine's and nginx's floors under chat-ws: CPU per round trip, per upgrade. */
/*
 * Usage (bench/floor/floor.sh runs them all, with an nginx of its own):
 *   net-floor pingpong [ROUNDS]
 *       A bare loopback TCP ping-pong between this process and a forked
 *       echo child (3-byte messages, TCP_NODELAY), twice: blocking
 *       send/recv, then an event loop per side (epoll_wait, recv, send,
 *       as nginx and lws do). CPU per round trip of each side.
 *   net-floor upstream PORT
 *       A trivial WebSocket upstream on 127.0.0.1:PORT: answers any
 *       request with 101 (a fixed Sec-WebSocket-Accept: nobody checks it),
 *       then a 3-byte text frame for every 7 bytes read (a masked 1-byte
 *       frame: the Engine.IO pong's size). Runs until killed.
 *   net-floor ws-ping PORT ROUNDS CONNS [NAME=PID,PID...]...
 *       CONNS WebSockets to 127.0.0.1:PORT (nginx, or the upstream
 *       directly), then ROUNDS rounds: a 7-byte masked frame on each, wait
 *       for every 3-byte answer. CPU per round trip of this process and of
 *       each named group of pids (/proc/PID/task/TID/schedstat, ns).
 *   net-floor ws-connect PORT COUNT INFLIGHT [NAME=PID,PID...]...
 *       COUNT WebSocket upgrades (GET /socket.io/..., 101), INFLIGHT at a
 *       time, each held open until all are done: connects/s and CPU per
 *       connect of each process; then all are closed: CPU per close.
 * Output: one line per figure, "figure key=value ...".
 */
#define _GNU_SOURCE /* accept4 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_GROUPS 8
#define MAX_PIDS 64
#define MAX_CONNS 30000
#define HDR_MAX 2048

static const char upgrade_req[] = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
				  "Host: 127.0.0.1\r\n"
				  "Upgrade: websocket\r\n"
				  "Connection: Upgrade\r\n"
				  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				  "Sec-WebSocket-Version: 13\r\n\r\n";
static const char upgrade_resp[] = "HTTP/1.1 101 Switching Protocols\r\n"
				   "Upgrade: websocket\r\n"
				   "Connection: Upgrade\r\n"
				   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
/* A client's masked text frame "3" (mask 0) and the server's text frame "2". */
static const unsigned char client_frame[7] = { 0x81, 0x81, 0, 0, 0, 0, '3' };
static const unsigned char server_frame[3] = { 0x81, 0x01, '2' };

struct group {
	char name[32];
	pid_t pids[MAX_PIDS];
	int n;
	uint64_t ns;
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Run time (ns) of every thread of pid, from schedstat. */
static uint64_t pid_ns(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	uint64_t sum = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char p[320];
		FILE *f;
		unsigned long long ns;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
		f = fopen(p, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		fclose(f);
	}
	closedir(d);
	return sum;
}

static int parse_groups(int argc, char **argv, struct group *g)
{
	int n = 0;

	g[n].n = 1;
	g[n].pids[0] = getpid();
	snprintf(g[n].name, sizeof(g[n].name), "self");
	n++;
	for (int i = 0; i < argc && n < MAX_GROUPS; i++) {
		char *eq = strchr(argv[i], '='), *p, *end;

		if (!eq || eq == argv[i]) {
			fprintf(stderr, "net-floor: expected NAME=PID,PID..., got '%s'\n", argv[i]);
			exit(2);
		}
		snprintf(g[n].name, sizeof(g[n].name), "%.*s", (int)(eq - argv[i]), argv[i]);
		g[n].n = 0;
		for (p = eq + 1; *p && g[n].n < MAX_PIDS; p = *end ? end + 1 : end) {
			long v = strtol(p, &end, 10);

			if (end == p || v <= 0 || (*end && *end != ',')) {
				fprintf(stderr, "net-floor: bad pid list '%s'\n", eq + 1);
				exit(2);
			}
			g[n].pids[g[n].n++] = (pid_t)v;
		}
		n++;
	}
	return n;
}

static void groups_sample(struct group *g, int n, uint64_t *out)
{
	for (int i = 0; i < n; i++) {
		out[i] = 0;
		for (int k = 0; k < g[i].n; k++)
			out[i] += pid_ns(g[i].pids[k]);
	}
}

/* Prints "figure units=N wall_s=... per_s=... <name>_us=..." per group. */
static void groups_report(const char *figure, struct group *g, int n, const uint64_t *a,
			  const uint64_t *b, long units, int64_t wall_ns)
{
	double all = 0;

	printf("%s units=%ld wall_s=%.3f per_s=%.0f", figure, units, (double)wall_ns / 1e9,
	       units / ((double)wall_ns / 1e9));
	for (int i = 0; i < n; i++) {
		double us = (double)(b[i] - a[i]) / 1e3 / (double)units;

		printf(" %s_us=%.2f", g[i].name, us);
		all += us;
	}
	printf(" all_us=%.2f\n", all);
	fflush(stdout);
}

static void nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		die("setsockopt");
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int listen_on(int port, int flags)
{
	int fd = socket(AF_INET, SOCK_STREAM | flags, 0), one = 1;
	struct sockaddr_in a = loopback(port);

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096))
		die("bind/listen");
	return fd;
}

/* Reads exactly len bytes (blocking). Returns 0, or -1 at EOF. */
static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = recv(fd, (char *)buf + got, len - got, 0);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/* One side of the ping-pong: with use_epoll, wait in epoll_wait before each recv. */
static int pp_step(int fd, int ep, int use_epoll, char *buf)
{
	if (use_epoll) {
		struct epoll_event ev;

		if (epoll_wait(ep, &ev, 1, -1) != 1)
			return -1;
	}
	return read_full(fd, buf, 3);
}

static void pp_echo(int lfd, int use_epoll)
{
	int fd = accept(lfd, NULL, NULL), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	char buf[3];

	if (fd < 0 || ep < 0)
		_exit(1);
	nodelay(fd);
	ev.data.fd = fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	while (pp_step(fd, ep, use_epoll, buf) == 0)
		if (send(fd, buf, 3, 0) != 3)
			break;
	_exit(0);
}

static void pingpong(long rounds, int use_epoll)
{
	int lfd = listen_on(0, 0), fd, ep;
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	struct epoll_event ev = { .events = EPOLLIN };
	struct group g[2];
	uint64_t s0[2], s1[2];
	int64_t t0 = 0;
	pid_t child;
	char buf[3] = { 'p', 'n', 'g' };

	if (getsockname(lfd, (struct sockaddr *)&a, &alen))
		die("getsockname");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0)
		pp_echo(lfd, use_epoll);
	close(lfd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	nodelay(fd);
	ep = epoll_create1(0);
	ev.data.fd = fd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		die("epoll");
	snprintf(g[0].name, sizeof(g[0].name), "client");
	g[0].pids[0] = getpid();
	snprintf(g[1].name, sizeof(g[1].name), "server");
	g[1].pids[0] = child;
	g[0].n = g[1].n = 1;
	for (long i = 0; i < rounds + rounds / 10; i++) {
		if (i == rounds / 10) {
			groups_sample(g, 2, s0);
			t0 = now_ns();
		}
		if (send(fd, buf, 3, 0) != 3 || pp_step(fd, ep, use_epoll, buf))
			die("ping-pong");
	}
	groups_sample(g, 2, s1);
	groups_report(use_epoll ? "pingpong-epoll" : "pingpong-blocking", g, 2, s0, s1, rounds,
		      now_ns() - t0);
	close(fd);
	waitpid(child, NULL, 0);
}

/* ---------------------------------------------------------------- upstream */

struct up_conn {
	int fd;
	int upgraded;
	size_t hlen; /* header bytes kept (before the upgrade) */
	unsigned rx; /* frame bytes read modulo 7 (after it) */
	char hdr[HDR_MAX];
};

static void up_close(int ep, struct up_conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Handles a readable connection. Returns -1 once it is closed. */
static int up_read(int ep, struct up_conn *c)
{
	char buf[4096];
	ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		up_close(ep, c);
		return -1;
	}
	if (!c->upgraded) {
		size_t take = (size_t)r < sizeof(c->hdr) - 1 - c->hlen
			? (size_t)r
			: sizeof(c->hdr) - 1 - c->hlen;

		memcpy(c->hdr + c->hlen, buf, take);
		c->hlen += take;
		c->hdr[c->hlen] = '\0';
		if (!strstr(c->hdr, "\r\n\r\n")) {
			if (c->hlen < sizeof(c->hdr) - 1)
				return 0;
			up_close(ep, c);
			return -1;
		}
		c->upgraded = 1;
		if (send(c->fd, upgrade_resp, sizeof(upgrade_resp) - 1, 0) < 0) {
			up_close(ep, c);
			return -1;
		}
		return 0;
	}
	/* One answer per complete 7-byte frame read (one at a time here). */
	for (ssize_t i = 0; i < r; i++)
		if (++c->rx == sizeof(client_frame)) {
			c->rx = 0;
			if (send(c->fd, server_frame, sizeof(server_frame), 0) < 0) {
				up_close(ep, c);
				return -1;
			}
		}
	return 0;
}

static void upstream(int port)
{
	int lfd = listen_on(port, SOCK_NONBLOCK), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event evs[256];

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev))
		die("epoll");
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			struct up_conn *c = evs[i].data.ptr;

			if (c) {
				up_read(ep, c);
				continue;
			}
			for (;;) {
				int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);

				if (fd < 0)
					break;
				c = calloc(1, sizeof(*c));
				if (!c) {
					close(fd);
					continue;
				}
				nodelay(fd);
				c->fd = fd;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
					close(fd);
					free(c);
				}
			}
		}
	}
}

/* ---------------------------------------------------------------- clients */

/* A connected, non-blocking socket to 127.0.0.1:port, request sent. */
static int ws_open_async(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = loopback(port);

	if (fd < 0)
		die("socket");
	nodelay(fd);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS)
		die("connect");
	return fd;
}

struct cl_conn {
	int fd;
	int sent;
	size_t hlen;
	char hdr[512];
};

/* Reads the answer to the upgrade. Returns 1 once it is a whole 101, 0 for more, -1 on error. */
static int cl_read_101(struct cl_conn *c)
{
	ssize_t r = recv(c->fd, c->hdr + c->hlen, sizeof(c->hdr) - 1 - c->hlen, 0);

	if (r < 0 && errno == EAGAIN)
		return 0;
	if (r <= 0)
		return -1;
	c->hlen += (size_t)r;
	c->hdr[c->hlen] = '\0';
	if (!strstr(c->hdr, "\r\n\r\n"))
		return c->hlen < sizeof(c->hdr) - 1 ? 0 : -1;
	return strncmp(c->hdr, "HTTP/1.1 101", 12) == 0 ? 1 : -1;
}

/* COUNT upgrades, INFLIGHT at a time; the sockets stay open in fds[]. */
static long ws_upgrade_all(int port, long count, int inflight, int *fds)
{
	int ep = epoll_create1(0);
	struct cl_conn *cs = calloc((size_t)inflight, sizeof(*cs));
	struct epoll_event evs[256];
	long started = 0, done = 0, failed = 0;
	int active = 0;

	if (ep < 0 || !cs)
		die("setup");
	for (;;) {
		while (active < inflight && started < count) {
			struct cl_conn *c = NULL;
			struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN };

			for (int k = 0; k < inflight; k++)
				if (!cs[k].fd) {
					c = &cs[k];
					break;
				}
			memset(c, 0, sizeof(*c));
			c->fd = ws_open_async(port);
			ev.data.ptr = c;
			if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
				die("epoll_ctl");
			started++;
			active++;
		}
		if (!active)
			break;
		int n = epoll_wait(ep, evs, 256, 10000);

		if (n <= 0)
			die("upgrade: no progress in 10 s");
		for (int i = 0; i < n; i++) {
			struct cl_conn *c = evs[i].data.ptr;
			int st;

			if (!c->sent && (evs[i].events & EPOLLOUT)) {
				struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

				if (send(c->fd, upgrade_req, sizeof(upgrade_req) - 1,
					 MSG_NOSIGNAL) != (ssize_t)sizeof(upgrade_req) - 1)
					die("send upgrade");
				c->sent = 1;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				continue;
			}
			if (!(evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				continue;
			st = cl_read_101(c);
			if (st == 0)
				continue;
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			if (st > 0) {
				fds[done++] = c->fd;
			} else {
				close(c->fd);
				failed++;
			}
			c->fd = 0;
			active--;
		}
	}
	free(cs);
	close(ep);
	if (failed)
		fprintf(stderr, "net-floor: %ld upgrades failed\n", failed);
	return done;
}

static long arg_long(const char *s, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < min || v > max) {
		fprintf(stderr, "net-floor: expected a number in %ld..%ld, got '%s'\n", min, max,
			s);
		exit(2);
	}
	return v;
}

static void ws_ping(int port, long rounds, int conns, struct group *g, int ng)
{
	int *fds = calloc((size_t)conns, sizeof(int)), ep = epoll_create1(0);
	struct epoll_event evs[256];
	uint64_t s0[MAX_GROUPS], s1[MAX_GROUPS];
	int64_t t0 = 0;
	char buf[4096];

	if (!fds || ep < 0)
		die("setup");
	if (ws_upgrade_all(port, conns, conns < 100 ? conns : 100, fds) != conns)
		die("ws-ping: not every upgrade succeeded");
	for (int k = 0; k < conns; k++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)k };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[k], &ev))
			die("epoll_ctl");
	}
	for (long r = 0; r < rounds + rounds / 10; r++) {
		long want = (long)conns * (long)sizeof(server_frame), got = 0;

		if (r == rounds / 10) {
			groups_sample(g, ng, s0);
			t0 = now_ns();
		}
		for (int k = 0; k < conns; k++)
			if (send(fds[k], client_frame, sizeof(client_frame), MSG_NOSIGNAL) !=
			    (ssize_t)sizeof(client_frame))
				die("send");
		while (got < want) {
			int n = epoll_wait(ep, evs, 256, 10000);

			if (n <= 0)
				die("ws-ping: no answer in 10 s");
			for (int i = 0; i < n; i++) {
				ssize_t rr = recv(fds[evs[i].data.u32], buf, sizeof(buf), 0);

				if (rr <= 0 && !(rr < 0 && errno == EAGAIN))
					die("ws-ping: closed");
				if (rr > 0)
					got += rr;
			}
		}
	}
	groups_sample(g, ng, s1);
	groups_report("ws-ping", g, ng, s0, s1, rounds * conns, now_ns() - t0);
	for (int k = 0; k < conns; k++)
		close(fds[k]);
	free(fds);
}

static void ws_connect(int port, long count, int inflight, struct group *g, int ng)
{
	int *fds = calloc((size_t)count, sizeof(int));
	uint64_t s0[MAX_GROUPS], s1[MAX_GROUPS];
	int64_t t0;
	long done;

	if (!fds)
		die("calloc");
	groups_sample(g, ng, s0);
	t0 = now_ns();
	done = ws_upgrade_all(port, count, inflight, fds);
	groups_sample(g, ng, s1);
	groups_report("ws-connect", g, ng, s0, s1, done, now_ns() - t0);
	/* The closes: nginx and the upstream see them after we return; wait a little. */
	groups_sample(g, ng, s0);
	t0 = now_ns();
	for (long k = 0; k < done; k++)
		close(fds[k]);
	usleep(500000);
	groups_sample(g, ng, s1);
	groups_report("ws-close", g, ng, s0, s1, done, now_ns() - t0);
	free(fds);
}

int main(int argc, char **argv)
{
	struct group g[MAX_GROUPS];
	int ng;

	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "pingpong") == 0) {
		long rounds = argc > 2 ? arg_long(argv[2], 1, 100000000) : 100000;

		pingpong(rounds, 0);
		pingpong(rounds, 1);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "upstream") == 0) {
		upstream((int)arg_long(argv[2], 1, 65535));
		return 0;
	}
	if (argc >= 5 && strcmp(argv[1], "ws-ping") == 0) {
		ng = parse_groups(argc - 5, argv + 5, g);
		ws_ping((int)arg_long(argv[2], 1, 65535), arg_long(argv[3], 1, 100000000),
			(int)arg_long(argv[4], 1, MAX_CONNS), g, ng);
		return 0;
	}
	if (argc >= 5 && strcmp(argv[1], "ws-connect") == 0) {
		ng = parse_groups(argc - 5, argv + 5, g);
		ws_connect((int)arg_long(argv[2], 1, 65535), arg_long(argv[3], 1, MAX_CONNS),
			   (int)arg_long(argv[4], 1, 4096), g, ng);
		return 0;
	}
	fprintf(stderr,
		"usage: net-floor pingpong [ROUNDS] | upstream PORT |\n"
		"       ws-ping PORT ROUNDS CONNS [NAME=PID,...]... |\n"
		"       ws-connect PORT COUNT INFLIGHT [NAME=PID,...]...\n");
	return 2;
}

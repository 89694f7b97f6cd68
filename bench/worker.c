/* worker.c -- one load-generating process: an epoll loop of plain sockets speaking Socket.IO v5 over WebSocket.
 *
 * Each connection does what socket.io-client does over the websocket
 * transport: the HTTP upgrade, then wait for the Engine.IO open packet,
 * send CONNECT with the token, answer every ping "2" with "3", then join
 * its room with an ack and, if it is a sender, emit send_message with
 * acks. The load generator has to cost far less per delivery than the
 * server it measures, so the receive path is bulk work: one read() takes
 * up to a whole socket buffer (RBUF_SIZE) into one buffer the process
 * shares, the frames in it are scanned in place (wsframe.c), and in each
 * Engine.IO packet only the event name, the seq and the send time in the
 * content are looked for, by hand. A frame cut by the end of a read is
 * kept in the connection's carry buffer for the next one. Outgoing frames
 * are appended to the connection's output buffer and written once per
 * loop round, writable interest only while the kernel buffer is full. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"
#include "wsframe.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define SIO_PATH "/socket.io/?EIO=4&transport=websocket"
#define RX_MAX (16u * 1024u * 1024u) /* largest message we reassemble */
#define RBUF_SIZE (256u * 1024u)     /* bytes one read() may take */
#define HS_MAX 8192u                 /* largest HTTP upgrade answer */
#define OPEN_LOOP_QUEUE_MAX 1000u    /* frames queued on one connection */
#define JOIN_ACK_ID 0u
#define MAX_EVENTS 512

/*
 * The upgrade key is fixed (RFC 6455's own example) so that the answer's
 * Sec-WebSocket-Accept can be checked against a constant without SHA-1:
 * the key only has to prove that the server speaks WebSocket.
 */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

enum cstate {
	CS_IDLE = 0,   /* not opened yet */
	CS_CONNECTING, /* TCP connect */
	CS_UPGRADING,  /* HTTP upgrade sent, waiting for 101 */
	CS_WS_OPEN,    /* waiting for the Engine.IO open packet */
	CS_SIO,        /* CONNECT sent */
	CS_JOINING,    /* join_room sent */
	CS_READY,
	CS_CLOSED, /* was ready, then closed */
	CS_FAILED, /* never became ready */
};

struct worker;

struct wconn {
	struct worker *w;
	int fd;
	uint32_t idx; /* global connection index */
	uint32_t user;
	uint32_t room;
	uint8_t state;
	uint8_t sender;
	uint8_t pollout;  /* EPOLLOUT is armed */
	uint8_t dirty;    /* on the worker's flush list */
	uint8_t frag_bin; /* the fragmented message being received is binary */
	uint8_t in_frag;  /* a fragmented message is being received */
	uint32_t inflight;
	uint32_t outq; /* frames queued since the output buffer was last empty */
	uint32_t mask; /* masking key of the next frame */
	uint64_t next_ack;
	uint64_t msgs;
	int64_t t_open;
	int64_t last_ping;   /* when the last Engine.IO ping (or the open packet) came */
	int64_t last_seq;    /* highest seq seen in the room, -1 before the join ack */
	size_t out_off;      /* bytes of out already written */
	struct ws_buf out;   /* framed bytes to write */
	struct ws_buf carry; /* the unfinished frame (or upgrade answer) of the last read */
	struct ws_buf frag;  /* a fragmented message being put together */
};

struct worker {
	const struct bench *b;
	const struct bench_opts *o;
	int proc;
	int ep; /* epoll descriptor */
	struct shm *shm;
	struct shm_proc *sp;
	struct wconn *conns;
	uint32_t nconns;
	uint32_t *senders; /* indexes into conns */
	uint32_t nsenders;
	uint32_t *dirty; /* connections with output to write this round */
	uint32_t ndirty;
	uint32_t rr;
	uint32_t next_open;
	uint32_t pending; /* opened, not settled */
	uint32_t settled;
	uint32_t max_pending;
	double ramp;        /* connections per second, this process */
	double rate;        /* messages per second, this process (0 = closed loop) */
	double rate_offset; /* fraction of a period this process is shifted by */
	uint64_t scheduled; /* open loop: messages scheduled so far */
	int64_t t_ramp0;
	int64_t t_run, t_m0, t_m1;
	int64_t ping_deadline; /* pingInterval + pingTimeout from the open packet, ns */
	int64_t next_sweep;
	int phase;
	int started;
	long dumped;
	uint64_t rng;
	struct sockaddr_in dst;
	struct sockaddr_in src[BENCH_MAX_SRC];
	unsigned nsrc;
	struct ws_buf rbuf; /* the read buffer of every connection */
	char request[512];  /* the HTTP upgrade request */
	size_t request_len;
	char pad[4096]; /* 'x' * msg_size */
};

int64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_err(struct shm_proc *sp, const char *fmt, ...)
{
	char buf[sizeof(sp->errs[0].what)];
	va_list ap;
	int i;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (i = 0; i < BENCH_ERR_KINDS; i++) {
		if (!sp->errs[i].n) {
			memcpy(sp->errs[i].what, buf, sizeof(buf));
			ctr_add(&sp->errs[i].n, 1);
			return;
		}
		if (!strcmp(sp->errs[i].what, buf)) {
			ctr_add(&sp->errs[i].n, 1);
			return;
		}
	}
	/* Table full: the last slot counts the rest under its first text. */
	ctr_add(&sp->errs[BENCH_ERR_KINDS - 1].n, 1);
}

static uint64_t rng_next(struct worker *w)
{
	/* xorshift64 */
	uint64_t x = w->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	w->rng = x;
	return x;
}

/* ---- parsing helpers ----------------------------------------------------- */

/* Returns the first occurrence of needle in [p, end), or NULL. */
static const char *find(const char *p, const char *end, const char *needle, size_t nlen)
{
	while (p + nlen <= end) {
		const char *q = memchr(p, needle[0], (size_t)(end - p - (ptrdiff_t)nlen + 1));

		if (!q)
			return NULL;
		if (!memcmp(q, needle, nlen))
			return q;
		p = q + 1;
	}
	return NULL;
}

/*
 * Finds the member "key" (given with its quotes) in [p, end) and returns
 * where its value starts, past the colon and any blanks: PostgreSQL's
 * json_build_object writes "key" : value, jansson writes "key":value.
 */
static const char *find_value(const char *p, const char *end, const char *qkey, size_t klen)
{
	const char *q;

	while ((q = find(p, end, qkey, klen))) {
		q += klen;
		while (q < end && *q == ' ')
			q++;
		if (q < end && *q == ':') {
			q++;
			while (q < end && *q == ' ')
				q++;
			return q;
		}
		p = q;
	}
	return NULL;
}

#define VALUE(p, end, lit) find_value((p), (end), (lit), sizeof(lit) - 1)

/* Reads decimal digits at *pp; returns the number of digits read. */
static int parse_u64(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	int n = 0;

	while (p < end && *p >= '0' && *p <= '9' && n < 19) {
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
		n++;
	}
	*pp = p;
	*out = v;
	return n;
}

/* Copies the string value of "code":"..." found in [p, end) into buf. */
static void error_code(const char *p, const char *end, char *buf, size_t len)
{
	const char *q = VALUE(p, end, "\"code\"");
	size_t n = 0;

	if (!q || q >= end || *q != '"') {
		snprintf(buf, len, "%.*s", (int)(end - p > 60 ? 60 : end - p), p);
		return;
	}
	q++;
	while (q + n < end && q[n] != '"' && n + 1 < len)
		n++;
	memcpy(buf, q, n);
	buf[n] = '\0';
}

/*
 * Finds our marker in the "content" of a message object in [p, end) and
 * returns the send time it carries (ns), or -1 when it is not ours.
 */
static int64_t content_time(const struct worker *w, const char *p, const char *end)
{
	const char *q = VALUE(p, end, "\"content\"");
	uint64_t t;

	if (!q || q >= end || *q != '"')
		return -1;
	q++;
	if (end - q < (ptrdiff_t)w->b->marker_len || memcmp(q, w->b->marker, w->b->marker_len))
		return -1;
	q += w->b->marker_len;
	if (!parse_u64(&q, end, &t))
		return -1;
	return (int64_t)t;
}

static int in_window(const struct worker *w, int64_t t)
{
	return w->started && t >= w->t_m0 && t < w->t_m1;
}

/* ---- output ---------------------------------------------------------------- */

static void mark_dirty(struct worker *w, struct wconn *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		w->dirty[w->ndirty++] = (uint32_t)(c - w->conns);
	}
}

/* Queues raw bytes (the upgrade request) or, with opcode, one masked frame. */
static int queue_raw(struct wconn *c, unsigned opcode, const void *s, size_t len)
{
	if (ws_buf_reserve(&c->out, len + WS_HDR_MAX)) {
		bench_err(c->w->sp, "out of memory");
		return -1;
	}
	if (opcode) {
		c->mask = c->mask * 1664525u + 1013904223u;
		c->out.len += ws_build_frame(c->out.p + c->out.len, opcode, s, len, c->mask);
		c->outq++;
	} else {
		memcpy(c->out.p + c->out.len, s, len);
		c->out.len += len;
	}
	mark_dirty(c->w, c);
	return 0;
}

/* Queues one text frame; returns 0 or -1 when out of memory. */
static int queue(struct wconn *c, const char *s, size_t len)
{
	return queue_raw(c, WS_OP_TEXT, s, len);
}

/* Emits send_message with the next ack id; the content carries the send time. */
static int send_message(struct worker *w, struct wconn *c, int64_t now)
{
	const struct bench *b = w->b;
	char frame[4096 + 512];
	char content[4096 + 128];
	int cl, fl;
	long pad;

	cl = snprintf(content, sizeof(content), "%s%lld %u %llu ", b->marker, (long long)now,
		      c->idx, (unsigned long long)c->msgs);
	pad = b->o.msg_size - cl;
	if (pad > 0 && (size_t)cl + (size_t)pad < sizeof(content)) {
		memcpy(content + cl, w->pad, (size_t)pad);
		cl += (int)pad;
		content[cl] = '\0';
	}
	fl = snprintf(frame, sizeof(frame),
		      "42%llu[\"send_message\",{\"room_id\":\"%s\",\"message\":\"%s\"}]",
		      (unsigned long long)c->next_ack, b->plan.room_id[c->room], content);
	if (fl < 0 || (size_t)fl >= sizeof(frame))
		return -1;
	if (queue(c, frame, (size_t)fl))
		return -1;
	c->next_ack++;
	c->msgs++;
	c->inflight++;
	ctr_add(&w->sp->inflight, 1);
	ctr_add(&w->sp->ctr[CTR_SENT], 1);
	if (in_window(w, now))
		ctr_add(&w->sp->ctr[CTR_SENT_W], 1);
	return 0;
}

/* ---- connection life ------------------------------------------------------- */

static void settle(struct worker *w, struct wconn *c, int ok, int64_t now)
{
	w->pending--;
	w->settled++;
	if (ok) {
		c->state = CS_READY;
		ctr_add(&w->sp->ctr[CTR_READY], 1);
		hist_add(&w->sp->connect, (uint64_t)(now - c->t_open) / 1000u);
		if (w->phase == PH_SETUP) {
			uint32_t *slot =
				&w->shm->room_local[(size_t)w->proc * w->shm->nrooms + c->room];

			__atomic_store_n(slot, *slot + 1, __ATOMIC_RELAXED);
		}
	} else {
		c->state = CS_FAILED;
		ctr_add(&w->sp->ctr[CTR_CONNECT_FAIL], 1);
	}
}

static void conn_close(struct worker *w, struct wconn *c, const char *why);

/* Sets whether the loop waits for c's socket to become writable. */
static void want_out(struct worker *w, struct wconn *c, int on)
{
	struct epoll_event ev;

	if (c->pollout == on)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
	ev.data.u32 = (uint32_t)(c - w->conns);
	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev)) {
		/* Queued bytes would never be written: the connection fails. */
		conn_close(w, c, "epoll_ctl failed");
		return;
	}
	c->pollout = (uint8_t)on;
}

static void open_conn(struct worker *w, struct wconn *c)
{
	struct epoll_event ev;
	const char *what;
	int fd, one = 1, e;

	c->state = CS_CONNECTING;
	c->t_open = bench_now_ns();
	w->pending++;
	ctr_add(&w->sp->ctr[CTR_OPENED], 1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		what = "socket";
		e = errno;
		goto fail;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (w->nsrc) {
		const struct sockaddr_in *src = &w->src[(c->idx / (uint32_t)w->o->procs) % w->nsrc];

		/*
		 * A plain bind() to port 0 reserves a port number for an
		 * explicit bind, and Linux then lets no automatically bound
		 * connect() -- nginx's connections to the bridges, other
		 * programs on this machine -- use that number on any address:
		 * at 100000 connections nginx ran out ("connect() ... failed
		 * (99: Cannot assign requested address)"). With
		 * IP_BIND_ADDRESS_NO_PORT the port is chosen at connect() time,
		 * unique per address pair, and shared with everyone else.
		 */
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)src, sizeof(*src))) {
			what = "bind";
			e = errno;
			goto fail_fd;
		}
	}
	if (connect(fd, (const struct sockaddr *)&w->dst, sizeof(w->dst)) && errno != EINPROGRESS) {
		what = "connect";
		e = errno;
		goto fail_fd;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.u32 = (uint32_t)(c - w->conns);
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev)) {
		what = "epoll_ctl";
		e = errno;
		goto fail_fd;
	}
	c->fd = fd;
	c->pollout = 1;
	return;
fail_fd:
	close(fd);
fail:
	bench_err(w->sp, "connect: %s: %s", what, strerror(e));
	settle(w, c, 0, c->t_open);
}

/*
 * A room's messages are numbered by seq, gapless, from the join ack's
 * last_seq on. The Node peer has no such number (its ids are global and
 * its emits are not in id order) and no last_seq, so its connections are
 * not checked (last_seq stays -1); their deliveries are still counted
 * against the expected total.
 */
static void on_new_message(struct worker *w, struct wconn *c, const char *p, const char *end,
			   int64_t now)
{
	const char *q = c->last_seq >= 0 ? VALUE(p, end, "\"seq\"") : NULL;
	uint64_t seq;
	int64_t t;

	if (q && parse_u64(&q, end, &seq)) {
		if ((int64_t)seq == c->last_seq + 1)
			c->last_seq = (int64_t)seq;
		else if ((int64_t)seq > c->last_seq + 1) {
			ctr_add(&w->sp->ctr[CTR_SEQ_GAP], seq - (uint64_t)c->last_seq - 1);
			c->last_seq = (int64_t)seq;
		} else {
			ctr_add(&w->sp->ctr[CTR_SEQ_DUP], 1);
		}
	}
	t = content_time(w, p, end);
	if (t < 0) {
		ctr_add(&w->sp->ctr[CTR_FOREIGN], 1);
		return;
	}
	ctr_add(&w->sp->ctr[CTR_DELIV], 1);
	if (in_window(w, now)) {
		ctr_add(&w->sp->ctr[CTR_DELIV_W], 1);
		hist_add(&w->sp->e2e, now > t ? (uint64_t)(now - t) / 1000u : 0);
	}
}

static void on_ack(struct worker *w, struct wconn *c, const char *p, const char *end, int64_t now)
{
	const char *q = p + 2;
	uint64_t id;
	int ok;
	char code[64];

	if (!parse_u64(&q, end, &id) || q >= end || *q != '[') {
		bench_err(w->sp, "malformed ack: %.40s", p);
		return;
	}
	q++;
	ok = end - q >= 10 && !memcmp(q, "{\"ok\":true", 10);
	if (id == JOIN_ACK_ID && c->state == CS_JOINING) {
		const char *ls = VALUE(q, end, "\"last_seq\"");
		uint64_t v = 0;

		if (!ok) {
			error_code(q, end, code, sizeof(code));
			bench_err(w->sp, "join_room: %s", code);
			settle(w, c, 0, now);
			conn_close(w, c, "join_room refused");
			return;
		}
		if (ls)
			parse_u64(&ls, end, &v);
		c->last_seq = ls ? (int64_t)v : -1;
		settle(w, c, 1, now);
		return;
	}
	if (!c->inflight) {
		bench_err(w->sp, "unexpected ack %llu", (unsigned long long)id);
		return;
	}
	c->inflight--;
	ctr_add(&w->sp->inflight, (uint64_t)-1);
	if (ok) {
		int64_t t = content_time(w, q, end);

		ctr_add(&w->sp->ctr[CTR_ACKED], 1);
		ctr_add(&w->sp->ctr[CTR_EXPECTED], w->shm->room_total[c->room]);
		if (in_window(w, now)) {
			ctr_add(&w->sp->ctr[CTR_ACKED_W], 1);
			if (t >= 0)
				hist_add(&w->sp->ack, now > t ? (uint64_t)(now - t) / 1000u : 0);
		}
	} else {
		error_code(q, end, code, sizeof(code));
		bench_err(w->sp, "send_message ack: %s", code);
		ctr_add(&w->sp->ctr[CTR_ACK_ERR], 1);
	}
	/* Closed loop: the next message replaces the acknowledged one. */
	if (w->rate <= 0 && c->sender && w->started && now < w->t_m1)
		send_message(w, c, now);
}

/* Handles one whole Engine.IO packet; returns -1 to close the connection. */
static int on_packet(struct worker *w, struct wconn *c, const char *p, size_t len)
{
	const char *end = p + len;
	int64_t now;
	char buf[BENCH_TOKEN_LEN + 32];
	int n;

	if (!len)
		return 0;
	if (w->dumped < w->o->dump && c == &w->conns[0]) {
		w->dumped++;
		fprintf(stderr, "chat-bench: conn %u << %.*s%s\n", c->idx,
			(int)(len > 400 ? 400 : len), p, len > 400 ? "..." : "");
	}
	switch (p[0]) {
	case '2': /* ping */
		now = bench_now_ns();
		ctr_add(&w->sp->ctr[CTR_PINGS], 1);
		if (c->last_ping && w->phase >= PH_RUN)
			hist_add(&w->sp->ping_gap, (uint64_t)(now - c->last_ping) / 1000u);
		c->last_ping = now;
		return queue(c, "3", 1);
	case '0': /* open */
		if (c->state != CS_WS_OPEN)
			return 0;
		c->last_ping = bench_now_ns();
		if (!w->ping_deadline) {
			const char *pi = VALUE(p, end, "\"pingInterval\""),
				   *pt = VALUE(p, end, "\"pingTimeout\"");
			uint64_t vi = 0, vt = 0;

			if (pi && pt && parse_u64(&pi, end, &vi) && parse_u64(&pt, end, &vt))
				w->ping_deadline = (int64_t)(vi + vt) * 1000000;
		}
		n = snprintf(buf, sizeof(buf), "40{\"token\":\"%s\"}",
			     w->b->plan.user_token[c->user]);
		c->state = CS_SIO;
		return queue(c, buf, (size_t)n);
	case '1': /* close */
		return -1;
	case '4':
		break;
	default:
		return 0;
	}
	if (len < 2)
		return 0;
	now = bench_now_ns();
	switch (p[1]) {
	case '2':
		if (len > 17 && !memcmp(p, "42[\"new_message\",", 17)) {
			on_new_message(w, c, p + 17, end, now);
		} else if (len > 15 && !memcmp(p, "42[\"connected\",", 15)) {
			/* expected after CONNECT */
		} else if (len > 11 && !memcmp(p, "42[\"error\",", 11)) {
			char code[64];

			error_code(p, end, code, sizeof(code));
			ctr_add(&w->sp->ctr[CTR_ERROR_EV], 1);
			bench_err(w->sp, "error event: %s", code);
		} else {
			ctr_add(&w->sp->ctr[CTR_OTHER_EV], 1);
		}
		return 0;
	case '3':
		on_ack(w, c, p, end, now);
		return 0;
	case '0': /* CONNECT accepted: join the room (the "connected" event follows) */
		if (c->state != CS_SIO)
			return 0;
		n = snprintf(buf, sizeof(buf), "42%u[\"join_room\",{\"room_id\":\"%s\"}]",
			     JOIN_ACK_ID, w->b->plan.room_id[c->room]);
		c->state = CS_JOINING;
		return queue(c, buf, (size_t)n);
	case '4': {
		char code[64];

		error_code(p, end, code, sizeof(code));
		bench_err(w->sp, "CONNECT refused: %s", code);
		ctr_add(&w->sp->ctr[CTR_REFUSED], 1);
		if (c->state < CS_READY)
			settle(w, c, 0, now);
		return -1;
	}
	case '1':
		bench_err(w->sp, "server sent DISCONNECT");
		return -1;
	default:
		return 0;
	}
}

static void on_closed(struct worker *w, struct wconn *c, const char *why)
{
	int64_t now = bench_now_ns();

	if (c->state >= CS_CONNECTING && c->state < CS_READY) {
		bench_err(w->sp, "connect: %s", why);
		settle(w, c, 0, now);
	} else if (c->state == CS_READY) {
		c->state = CS_CLOSED;
		if (w->phase < PH_CLOSE) {
			ctr_add(&w->sp->ctr[CTR_DISCONNECT], 1);
			bench_err(w->sp, "disconnected: %s", why);
		}
		if (w->phase == PH_SETUP) {
			uint32_t *slot =
				&w->shm->room_local[(size_t)w->proc * w->shm->nrooms + c->room];

			__atomic_store_n(slot, *slot - 1, __ATOMIC_RELAXED);
		}
	}
	if (c->inflight) {
		ctr_add(&w->sp->inflight, (uint64_t)0 - c->inflight);
		c->inflight = 0;
	}
}

/* Closes c's socket (once) and counts what its end means for the run. */
static void conn_close(struct worker *w, struct wconn *c, const char *why)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	c->pollout = 0;
	c->out_off = 0;
	c->outq = 0;
	c->in_frag = 0;
	ws_buf_free(&c->out);
	ws_buf_free(&c->carry);
	ws_buf_free(&c->frag);
	on_closed(w, c, why);
}

/* ---- input ----------------------------------------------------------------- */

/*
 * Takes the HTTP answer to the upgrade at the start of buf. Returns its
 * length, 0 when it is not complete yet, or 0 with c closed when it is
 * not a 101 with our accept value.
 */
static size_t upgrade_answer(struct worker *w, struct wconn *c, const unsigned char *buf, size_t n)
{
	const unsigned char *e = memmem(buf, n, "\r\n\r\n", 4);
	char why[96];

	if (!e) {
		if (n >= HS_MAX)
			conn_close(w, c, "upgrade answer too long");
		return 0;
	}
	if (n < 12 || memcmp(buf, "HTTP/1.1 101", 12)) {
		snprintf(why, sizeof(why), "upgrade refused: %.*s",
			 (int)strcspn((const char *)buf, "\r"), (const char *)buf);
		why[sizeof(why) - 1] = '\0';
		conn_close(w, c, why);
		return 0;
	}
	if (!memmem(buf, (size_t)(e - buf), WS_ACCEPT, sizeof(WS_ACCEPT) - 1)) {
		conn_close(w, c, "upgrade: wrong Sec-WebSocket-Accept");
		return 0;
	}
	c->state = CS_WS_OPEN;
	return (size_t)(e + 4 - buf);
}

/* Handles one whole frame; may close c. */
static void on_frame(struct worker *w, struct wconn *c, const struct ws_frame *f)
{
	char why[96];

	switch (f->opcode) {
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		if (c->in_frag) {
			conn_close(w, c, "protocol error: a message inside a fragmented one");
			return;
		}
		if (f->fin) {
			if (f->opcode == WS_OP_TEXT &&
			    on_packet(w, c, (const char *)f->payload, f->len))
				conn_close(w, c, "closed after an Engine.IO close or DISCONNECT");
			return;
		}
		c->in_frag = 1;
		c->frag_bin = f->opcode == WS_OP_BINARY;
		c->frag.len = 0;
		break;
	case WS_OP_CONT:
		if (!c->in_frag) {
			conn_close(w, c, "protocol error: continuation without a first frame");
			return;
		}
		break;
	case WS_OP_PING:
		(void)queue_raw(c, WS_OP_PONG, f->payload, f->len);
		return;
	case WS_OP_CLOSE:
		if (f->len >= 2)
			snprintf(why, sizeof(why), "server closed %u %.*s",
				 (unsigned)(f->payload[0] << 8 | f->payload[1]),
				 (int)(f->len - 2 > 60 ? 60 : f->len - 2),
				 (const char *)f->payload + 2);
		else
			snprintf(why, sizeof(why), "server closed");
		conn_close(w, c, why);
		return;
	default: /* pong */
		return;
	}
	if (c->frag.len + f->len > RX_MAX) {
		bench_err(w->sp, "message over %u bytes", RX_MAX);
		conn_close(w, c, "message too large");
		return;
	}
	if (ws_buf_reserve(&c->frag, f->len)) {
		conn_close(w, c, "out of memory");
		return;
	}
	memcpy(c->frag.p + c->frag.len, f->payload, f->len);
	c->frag.len += f->len;
	if (!f->fin)
		return;
	c->in_frag = 0;
	if (!c->frag_bin && on_packet(w, c, (const char *)c->frag.p, c->frag.len))
		conn_close(w, c, "closed after an Engine.IO close or DISCONNECT");
	else if (c->frag.cap > 65536)
		ws_buf_free(&c->frag);
	else
		c->frag.len = 0;
}

/*
 * ws_consume_fn: handles the upgrade answer and every whole frame in
 * buf[0, n); the rest is an unfinished frame. Returns -1 when c was closed.
 */
static int consume(void *ctx, const unsigned char *buf, size_t n, size_t *used)
{
	struct wconn *c = ctx;
	struct worker *w = c->w;
	size_t off = 0;

	if (c->state == CS_UPGRADING) {
		off = upgrade_answer(w, c, buf, n);
		if (!off) {
			*used = 0;
			return c->fd < 0 ? -1 : 0;
		}
	}
	while (off < n) {
		struct ws_frame f;
		const char *why = "?";
		size_t len;
		char msg[96];
		int rc = ws_scan_frame(buf + off, n - off, RX_MAX, &f, &len, &why);

		if (rc == WS_SCAN_MORE)
			break;
		if (rc == WS_SCAN_ERROR) {
			snprintf(msg, sizeof(msg), "protocol error: %s", why);
			conn_close(w, c, msg);
			return -1;
		}
		on_frame(w, c, &f);
		if (c->fd < 0)
			return -1;
		off += len;
	}
	*used = off;
	return 0;
}

static void on_readable(struct worker *w, struct wconn *c)
{
	switch (ws_rx_read(c->fd, &w->rbuf, &c->carry, RBUF_SIZE, 4, consume, c)) {
	case WS_RX_ERROR:
		conn_close(w, c, strerror(errno));
		break;
	case WS_RX_EOF:
		conn_close(w, c, "server closed the connection");
		break;
	case WS_RX_EOF_MID:
		conn_close(w, c, "server closed the connection mid-frame");
		break;
	case WS_RX_NOMEM:
		conn_close(w, c, "out of memory");
		break;
	default:
		break;
	}
}

/* The TCP connect finished: send the upgrade, or fail. */
static void on_connected(struct worker *w, struct wconn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		conn_close(w, c, strerror(err ? err : errno));
		return;
	}
	c->state = CS_UPGRADING;
	(void)queue_raw(c, 0, w->request, w->request_len);
}

/* Writes c's queued bytes; waits for writability only when the kernel buffer is full. */
static void flush(struct worker *w, struct wconn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t r =
			send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				want_out(w, c, 1);
			else
				conn_close(w, c, "write failed");
			return;
		}
		c->out_off += (size_t)r;
	}
	c->out.len = c->out_off = 0;
	c->outq = 0;
	if (c->out.cap > 65536)
		ws_buf_free(&c->out);
	want_out(w, c, 0);
}

static void flush_dirty(struct worker *w)
{
	uint32_t i;

	for (i = 0; i < w->ndirty; i++) {
		struct wconn *c = &w->conns[w->dirty[i]];

		c->dirty = 0;
		if (c->fd >= 0 && c->state != CS_CONNECTING)
			flush(w, c);
	}
	w->ndirty = 0;
}

/* ---- scheduling ------------------------------------------------------------ */

static void ramp(struct worker *w, int64_t now)
{
	double secs = (double)(now - w->t_ramp0) / 1e9;
	uint64_t allowed = (uint64_t)(secs * w->ramp) + 1;

	while (w->next_open < w->nconns && w->next_open < allowed && w->pending < w->max_pending)
		open_conn(w, &w->conns[w->next_open++]);
}

static struct wconn *pick_sender(struct worker *w)
{
	unsigned tries;

	for (tries = 0; tries < 8; tries++) {
		uint32_t i;
		struct wconn *c;

		if (w->o->scenario == SC_ROOMS)
			i = (uint32_t)(rng_next(w) % w->nsenders);
		else
			i = w->rr++ % w->nsenders;
		c = &w->conns[w->senders[i]];
		if (c->state == CS_READY && c->outq < OPEN_LOOP_QUEUE_MAX)
			return c;
	}
	return NULL;
}

/* Open loop: sends every message due by now; returns ns until the next one. */
static int64_t send_due(struct worker *w, int64_t now)
{
	double period = 1e9 / w->rate;
	double since = (double)(now - w->t_run);
	uint64_t due;

	if (since < w->rate_offset * period)
		return (int64_t)(w->rate_offset * period - since);
	due = (uint64_t)((since - w->rate_offset * period) / period) + 1;
	if (due > w->scheduled + (uint64_t)w->rate + 1) {
		/* More than a second behind: skip rather than burst. */
		uint64_t skip = due - w->scheduled - (uint64_t)w->rate - 1;

		ctr_add(&w->sp->ctr[CTR_SKIPPED], skip);
		w->scheduled += skip;
	}
	while (w->scheduled < due) {
		int64_t at = w->t_run + (int64_t)(((double)w->scheduled + w->rate_offset) * period);
		struct wconn *c;

		if (at >= w->t_m1)
			break;
		c = pick_sender(w);
		if (c) {
			if (in_window(w, now))
				hist_add(&w->sp->lag, now > at ? (uint64_t)(now - at) / 1000u : 0);
			send_message(w, c, now);
		} else {
			ctr_add(&w->sp->ctr[CTR_SKIPPED], 1);
		}
		w->scheduled++;
	}
	return (int64_t)(w->t_run + ((double)w->scheduled + w->rate_offset) * period) - now;
}

static void start_sending(struct worker *w)
{
	uint32_t i;
	long k;
	int64_t now = bench_now_ns();

	w->t_run = w->shm->t_run;
	w->t_m0 = w->shm->t_m0;
	w->t_m1 = w->shm->t_m1;
	w->started = 1;
	if (w->rate > 0 || !w->nsenders)
		return;
	for (i = 0; i < w->nsenders; i++) {
		struct wconn *c = &w->conns[w->senders[i]];

		if (c->state != CS_READY)
			continue;
		for (k = 0; k < w->o->inflight; k++)
			send_message(w, c, now);
	}
}

/*
 * Once a second: socket.io-client closes a connection that has heard no
 * ping for pingInterval + pingTimeout ("ping timeout"), and so do we; a
 * connection that is not ready --connect-timeout seconds after it was
 * opened fails.
 */
static void sweep(struct worker *w, int64_t now)
{
	char why[64];
	uint32_t i;

	if (now < w->next_sweep)
		return;
	w->next_sweep = now + 1000000000;
	for (i = 0; i < w->nconns; i++) {
		struct wconn *c = &w->conns[i];

		if (c->fd < 0)
			continue;
		if (c->state < CS_READY) {
			if (now - c->t_open > (int64_t)(w->o->connect_timeout * 1e9))
				conn_close(w, c, "timed out");
			continue;
		}
		if (c->state != CS_READY || !w->ping_deadline ||
		    now - c->last_ping <= w->ping_deadline)
			continue;
		/* on_closed() counts it as a disconnect, as for any other end. */
		snprintf(why, sizeof(why), "no ping for %lld s (client ping timeout)",
			 (long long)(w->ping_deadline / 1000000000));
		conn_close(w, c, why);
	}
}

/* Follows the parent's phases, opens and sends what is due; returns ns until the next call. */
static int64_t tick(struct worker *w, int64_t now)
{
	int64_t next = 10 * 1000000;
	int ph = __atomic_load_n(&w->shm->phase, __ATOMIC_ACQUIRE);

	w->phase = ph;
	if (ph == PH_SETUP && w->next_open < w->nconns) {
		ramp(w, now);
		next = 1000000;
	}
	sweep(w, now);
	if (!w->sp->ready && w->settled == w->nconns)
		__atomic_store_n(&w->sp->ready, 1, __ATOMIC_RELEASE);
	if (ph >= PH_RUN && !w->started && w->o->scenario != SC_IDLE)
		start_sending(w);
	if (ph == PH_RUN && w->started && w->rate > 0 && now < w->t_m1) {
		int64_t d = send_due(w, now);

		next = d < 100000 ? 100000 : d > 10000000 ? 10000000 : d;
	}
	if (ph >= PH_CLOSE) {
		/*
		 * Leave at once: the results are in shared memory, and the
		 * kernel closes 10^4..10^5 sockets faster than we would.
		 */
		__atomic_store_n(&w->sp->done, 1, __ATOMIC_RELEASE);
		_exit(0);
	}
	return next;
}

/* ---- set-up ------------------------------------------------------------------ */

static int worker_init(struct worker *w, const struct bench *b, int proc)
{
	const struct bench_plan *pl = &b->plan;
	struct addrinfo hints, *ai = NULL;
	int wsport;
	uint32_t i, n = 0, total_senders = 0;
	unsigned s;
	int rc;

	memset(w, 0, sizeof(*w));
	w->b = b;
	w->o = &b->o;
	w->proc = proc;
	w->ep = -1;
	w->shm = b->shm;
	w->sp = &b->shm->procs[proc];
	w->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)proc << 32) ^ (uint64_t)bench_now_ns();
	memset(w->pad, 'x', sizeof(w->pad));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(b->o.host, NULL, &hints, &ai);
	if (rc || !ai) {
		bench_err(w->sp, "cannot resolve %s: %s", b->o.host, gai_strerror(rc));
		return -1;
	}
	memcpy(&w->dst, ai->ai_addr, sizeof(w->dst));
	freeaddrinfo(ai);
	wsport = b->o.ws_port ? b->o.ws_port : b->o.port;
	w->dst.sin_port = htons((uint16_t)wsport);
	w->request_len = (size_t)snprintf(w->request, sizeof(w->request),
					  "GET " SIO_PATH " HTTP/1.1\r\n"
					  "Host: %s:%d\r\n"
					  "Upgrade: websocket\r\n"
					  "Connection: Upgrade\r\n"
					  "Sec-WebSocket-Key: " WS_KEY "\r\n"
					  "Sec-WebSocket-Version: 13\r\n\r\n",
					  b->o.host, wsport);
	w->nsrc = (unsigned)b->o.src_addrs;
	for (s = 0; s < w->nsrc; s++) {
		w->src[s].sin_family = AF_INET;
		w->src[s].sin_addr.s_addr = htonl(0x7f000002u + s);
	}
	for (i = (uint32_t)proc; i < pl->nconns; i += (uint32_t)b->o.procs)
		n++;
	w->conns = calloc(n ? n : 1, sizeof(*w->conns));
	w->senders = calloc(n ? n : 1, sizeof(*w->senders));
	w->dirty = calloc(n ? n : 1, sizeof(*w->dirty));
	if (!w->conns || !w->senders || !w->dirty || ws_buf_reserve(&w->rbuf, RBUF_SIZE)) {
		bench_err(w->sp, "out of memory");
		return -1;
	}
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0) {
		bench_err(w->sp, "epoll_create1: %s", strerror(errno));
		return -1;
	}
	for (i = (uint32_t)proc; i < pl->nconns; i += (uint32_t)b->o.procs) {
		struct wconn *c = &w->conns[w->nconns];

		c->w = w;
		c->fd = -1;
		c->idx = i;
		c->user = pl->conn_user[i];
		c->room = pl->user_room[c->user];
		c->sender = pl->conn_sender[i];
		c->last_seq = -1;
		c->next_ack = 1;
		c->mask = (uint32_t)rng_next(w);
		if (c->sender)
			w->senders[w->nsenders++] = w->nconns;
		w->nconns++;
	}
	total_senders = pl->nsenders;
	w->ramp = b->o.ramp / (double)b->o.procs;
	w->max_pending = (uint32_t)(b->o.connect_concurrency / b->o.procs);
	if (w->max_pending < 1)
		w->max_pending = 1;
	if (b->o.rate > 0 && total_senders && w->nsenders) {
		w->rate = b->o.rate * (double)w->nsenders / (double)total_senders;
		w->rate_offset = (double)proc / (double)b->o.procs;
	}
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int worker_run(const struct bench *b, int proc)
{
	static struct worker w; /* one per process; too large for the stack */
	struct epoll_event ev[MAX_EVENTS];
	struct timespec nap;
	int64_t next_tick;

	raise_nofile();
	if (worker_init(&w, b, proc)) {
		__atomic_store_n(&b->shm->procs[proc].ready, 1, __ATOMIC_RELEASE);
		return -1;
	}
	w.t_ramp0 = bench_now_ns();
	next_tick = w.t_ramp0;
	nap.tv_sec = 0;
	nap.tv_nsec = (long)(b->o.batch_ms * 1e6);
	for (;;) {
		int64_t now = bench_now_ns(), wait;
		struct timespec to;
		int n, i;

		if (now >= next_tick) {
			next_tick = now + tick(&w, now);
			flush_dirty(&w);
		}
		wait = next_tick - now > 0 ? next_tick - now : 0;
		to.tv_sec = (time_t)(wait / 1000000000);
		to.tv_nsec = (long)(wait % 1000000000);
		n = epoll_pwait2(w.ep, ev, MAX_EVENTS, &to, NULL);
		if (n < 0 && errno != EINTR) {
			bench_err(w.sp, "epoll_pwait2: %s", strerror(errno));
			return -1;
		}
		for (i = 0; i < n; i++) {
			struct wconn *c = &w.conns[ev[i].data.u32];

			if (c->fd < 0)
				continue;
			if (c->state == CS_CONNECTING) {
				if (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
					on_connected(&w, c);
				continue;
			}
			if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(&w, c);
			if (c->fd >= 0 && (ev[i].events & EPOLLOUT))
				flush(&w, c);
		}
		flush_dirty(&w);
		/*
		 * --batch-ms: let frames pile up a little so that one
		 * epoll_wait and one read serve many (idle: the pings).
		 */
		if (w.phase == PH_RUN && nap.tv_nsec > 0)
			nanosleep(&nap, NULL);
	}
}

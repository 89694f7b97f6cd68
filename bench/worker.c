/* worker.c -- one load-generating process: libwebsockets client connections speaking Socket.IO v5.
 *
 * Each connection does what socket.io-client does over the websocket
 * transport: wait for the Engine.IO open packet, send CONNECT with the
 * token, answer every ping "2" with "3", then join its room with an ack
 * and, if it is a sender, emit send_message with acks. Incoming frames
 * are recognised by their prefix and the few fields we need are found by
 * hand; nothing on this path allocates except the output queue. */
#include <errno.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

#define SIO_PATH "/socket.io/?EIO=4&transport=websocket"
#define RX_MAX (16u * 1024u * 1024u) /* largest message we reassemble */
#define OPEN_LOOP_QUEUE_MAX 1000u    /* frames queued on one connection */
#define JOIN_ACK_ID 0u

enum cstate {
	CS_IDLE = 0,   /* not opened yet */
	CS_CONNECTING, /* TCP + WebSocket handshake */
	CS_WS_OPEN,    /* waiting for the Engine.IO open packet */
	CS_SIO,        /* CONNECT sent */
	CS_JOINING,    /* join_room sent */
	CS_READY,
	CS_CLOSED, /* was ready, then closed */
	CS_FAILED, /* never became ready */
};

/* One queued outgoing text frame, with LWS_PRE bytes of headroom. */
struct outbuf {
	struct outbuf *next;
	size_t len;
	unsigned char data[];
};

struct worker;

struct wconn {
	struct worker *w;
	struct lws *wsi;
	uint32_t idx; /* global connection index */
	uint32_t user;
	uint32_t room;
	uint8_t state;
	uint8_t sender;
	uint32_t inflight;
	uint32_t outq;
	uint64_t next_ack;
	uint64_t msgs;
	int64_t t_open;
	int64_t last_ping; /* when the last Engine.IO ping (or the open packet) came */
	int64_t last_seq;  /* highest seq seen in the room, -1 before the join ack */
	struct outbuf *oh, *ot;
	char *rx;
	size_t rx_len, rx_cap;
};

struct worker {
	const struct bench *b;
	const struct bench_opts *o;
	int proc;
	struct shm *shm;
	struct shm_proc *sp;
	struct lws_context *ctx;
	lws_sorted_usec_list_t sul;
	struct wconn *conns;
	uint32_t nconns;
	uint32_t *senders; /* indexes into conns */
	uint32_t nsenders;
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
	int quit;
	long dumped;
	uint64_t rng;
	char src[BENCH_MAX_SRC][16];
	unsigned nsrc;
	char hosthdr[80];
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

/* Queues one text frame; returns 0 or -1 when out of memory. */
static int queue(struct wconn *c, const char *s, size_t len)
{
	struct outbuf *ob = malloc(sizeof(*ob) + LWS_PRE + len);

	if (!ob) {
		bench_err(c->w->sp, "out of memory");
		return -1;
	}
	ob->next = NULL;
	ob->len = len;
	memcpy(ob->data + LWS_PRE, s, len);
	if (c->ot)
		c->ot->next = ob;
	else
		c->oh = ob;
	c->ot = ob;
	c->outq++;
	if (c->outq == 1 && c->wsi)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static void queue_free(struct wconn *c)
{
	struct outbuf *ob;

	while ((ob = c->oh)) {
		c->oh = ob->next;
		free(ob);
	}
	c->ot = NULL;
	c->outq = 0;
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

static void open_conn(struct worker *w, struct wconn *c)
{
	/*
	 * No lws validity pings or hang-ups: like socket.io-client, a
	 * connection lives by the Engine.IO heartbeat alone (see sweep()).
	 */
	static const lws_retry_bo_t no_validity = { NULL, 0, 0, 0, 0, 0 };
	struct lws_client_connect_info ci;

	memset(&ci, 0, sizeof(ci));
	ci.context = w->ctx;
	ci.address = w->o->host;
	ci.port = w->o->port;
	ci.path = SIO_PATH;
	ci.host = w->hosthdr;
	ci.ietf_version_or_minus_one = -1;
	ci.userdata = c;
	ci.opaque_user_data = c;
	ci.pwsi = &c->wsi;
	ci.retry_and_idle_policy = &no_validity;
	if (w->nsrc)
		ci.iface = w->src[(c->idx / (uint32_t)w->o->procs) % w->nsrc];
	c->state = CS_CONNECTING;
	c->t_open = bench_now_ns();
	w->pending++;
	ctr_add(&w->sp->ctr[CTR_OPENED], 1);
	if (!lws_client_connect_via_info(&ci) && c->state == CS_CONNECTING) {
		c->wsi = NULL;
		bench_err(w->sp, "connect: lws_client_connect_via_info failed");
		settle(w, c, 0, c->t_open);
	}
}

static void on_new_message(struct worker *w, struct wconn *c, const char *p, const char *end,
			   int64_t now)
{
	const char *q = VALUE(p, end, "\"seq\"");
	uint64_t seq;
	int64_t t;

	if (q) {
		if (parse_u64(&q, end, &seq) && c->last_seq >= 0) {
			if ((int64_t)seq == c->last_seq + 1)
				c->last_seq = (int64_t)seq;
			else if ((int64_t)seq > c->last_seq + 1) {
				ctr_add(&w->sp->ctr[CTR_SEQ_GAP], seq - (uint64_t)c->last_seq - 1);
				c->last_seq = (int64_t)seq;
			} else {
				ctr_add(&w->sp->ctr[CTR_SEQ_DUP], 1);
			}
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
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
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

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct wconn *c = user ? user : wsi ? lws_get_opaque_user_data(wsi) : NULL;
	struct worker *w = c ? c->w : NULL;
	struct outbuf *ob;
	char why[96];

	if (!c)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(why, sizeof(why), "%s", in ? (const char *)in : "connection error");
		c->wsi = NULL;
		on_closed(w, c, why);
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->state = CS_WS_OPEN;
		if (c->oh)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_frame_is_binary(wsi))
			break;
		if (!c->rx_len && lws_is_final_fragment(wsi))
			return on_packet(w, c, in, len);
		if (c->rx_len + len > RX_MAX) {
			bench_err(w->sp, "message over %u bytes", RX_MAX);
			return -1;
		}
		if (c->rx_len + len > c->rx_cap) {
			size_t cap = c->rx_cap ? c->rx_cap : 8192;
			char *nb;

			while (cap < c->rx_len + len)
				cap *= 2;
			nb = realloc(c->rx, cap);
			if (!nb)
				return -1;
			c->rx = nb;
			c->rx_cap = cap;
		}
		memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
		if (lws_is_final_fragment(wsi)) {
			int rc = on_packet(w, c, c->rx, c->rx_len);

			c->rx_len = 0;
			if (c->rx_cap > 65536) {
				free(c->rx);
				c->rx = NULL;
				c->rx_cap = 0;
			}
			return rc;
		}
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		ob = c->oh;
		if (!ob)
			break;
		if (lws_write(wsi, ob->data + LWS_PRE, ob->len, LWS_WRITE_TEXT) < (int)ob->len) {
			bench_err(w->sp, "write failed");
			return -1;
		}
		c->oh = ob->next;
		if (!c->oh)
			c->ot = NULL;
		c->outq--;
		free(ob);
		if (c->oh)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			const unsigned char *b = in;

			snprintf(why, sizeof(why), "server closed %u %.*s",
				 (unsigned)(b[0] << 8 | b[1]), (int)(len - 2 > 60 ? 60 : len - 2),
				 (const char *)in + 2);
		} else {
			snprintf(why, sizeof(why), "server closed");
		}
		on_closed(w, c, why);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		on_closed(w, c, "closed");
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (c->state < CS_READY && c->state != CS_IDLE)
			on_closed(w, c, "connection destroyed");
		c->wsi = NULL;
		queue_free(c);
		free(c->rx);
		c->rx = NULL;
		c->rx_len = c->rx_cap = 0;
		break;
	default:
		break;
	}
	return 0;
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
 * socket.io-client closes a connection that has heard no ping for
 * pingInterval + pingTimeout ("ping timeout"); so do we, once a second.
 */
static void sweep(struct worker *w, int64_t now)
{
	uint32_t i;

	if (!w->ping_deadline || now < w->next_sweep)
		return;
	w->next_sweep = now + 1000000000;
	for (i = 0; i < w->nconns; i++) {
		struct wconn *c = &w->conns[i];

		if (c->state != CS_READY || !c->wsi || now - c->last_ping <= w->ping_deadline)
			continue;
		c->state = CS_CLOSED;
		if (w->phase < PH_CLOSE) {
			ctr_add(&w->sp->ctr[CTR_DISCONNECT], 1);
			bench_err(w->sp, "disconnected: no ping for %lld s (client ping timeout)",
				  (long long)(w->ping_deadline / 1000000000));
		}
		if (c->inflight) {
			ctr_add(&w->sp->inflight, (uint64_t)0 - c->inflight);
			c->inflight = 0;
		}
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
	}
}

static void tick(lws_sorted_usec_list_t *sul)
{
	struct worker *w = lws_container_of(sul, struct worker, sul);
	int64_t now = bench_now_ns(), next = 10 * 1000000;
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
		 * kernel closes 10^4..10^5 sockets faster than a context
		 * teardown (with the libev loop, lws_service() would not even
		 * return to let us tear down).
		 */
		__atomic_store_n(&w->sp->done, 1, __ATOMIC_RELEASE);
		_exit(0);
	}
	lws_sul_schedule(w->ctx, 0, &w->sul, tick, next / 1000);
}

/* ---- set-up ------------------------------------------------------------------ */

static int worker_init(struct worker *w, const struct bench *b, int proc)
{
	const struct bench_plan *pl = &b->plan;
	uint32_t i, n = 0, total_senders = 0;
	unsigned s;

	memset(w, 0, sizeof(*w));
	w->b = b;
	w->o = &b->o;
	w->proc = proc;
	w->shm = b->shm;
	w->sp = &b->shm->procs[proc];
	w->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)proc << 32) ^ (uint64_t)bench_now_ns();
	snprintf(w->hosthdr, sizeof(w->hosthdr), "%s:%d", b->o.host, b->o.port);
	memset(w->pad, 'x', sizeof(w->pad));
	w->nsrc = (unsigned)b->o.src_addrs;
	for (s = 0; s < w->nsrc; s++)
		snprintf(w->src[s], sizeof(w->src[s]), "127.0.0.%u", 2 + s);
	for (i = (uint32_t)proc; i < pl->nconns; i += (uint32_t)b->o.procs)
		n++;
	w->conns = calloc(n ? n : 1, sizeof(*w->conns));
	w->senders = calloc(n ? n : 1, sizeof(*w->senders));
	if (!w->conns || !w->senders)
		return -1;
	for (i = (uint32_t)proc; i < pl->nconns; i += (uint32_t)b->o.procs) {
		struct wconn *c = &w->conns[w->nconns];

		c->w = w;
		c->idx = i;
		c->user = pl->conn_user[i];
		c->room = pl->user_room[c->user];
		c->sender = pl->conn_sender[i];
		c->last_seq = -1;
		c->next_ack = 1;
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
	static const struct lws_protocols protocols[] = {
		{ "sio", callback, 0, 4096, 0, NULL, 0 },
		{ NULL, NULL, 0, 0, 0, NULL, 0 },
	};
	struct lws_context_creation_info info;
	struct worker w;
	struct rlimit rl;
	struct timespec nap;
	uint32_t i;

	raise_nofile();
	lws_set_log_level(b->o.quiet ? 0 : LLL_ERR, NULL);
	if (worker_init(&w, b, proc)) {
		bench_err(&b->shm->procs[proc], "out of memory");
		return -1;
	}
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.timeout_secs = 60;
	info.connect_timeout_secs = 30;
	info.pt_serv_buf_size = 32 * 1024;
	if (!getrlimit(RLIMIT_NOFILE, &rl))
		info.fd_limit_per_thread = (unsigned)rl.rlim_cur;
	if (b->o.evlib_ev)
		info.options |= LWS_SERVER_OPTION_LIBEV;
	/* info.extensions stays NULL: no permessage-deflate offered. */
	w.ctx = lws_create_context(&info);
	if (!w.ctx && (info.options & LWS_SERVER_OPTION_LIBEV)) {
		/* No libev plugin (libwebsockets-evlib-ev): fall back to poll(). */
		bench_err(w.sp, "libev event loop unavailable, using poll()");
		info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
		w.ctx = lws_create_context(&info);
	}
	if (!w.ctx) {
		bench_err(w.sp, "cannot create the lws context");
		__atomic_store_n(&w.sp->ready, 1, __ATOMIC_RELEASE);
		return -1;
	}
	w.t_ramp0 = bench_now_ns();
	lws_sul_schedule(w.ctx, 0, &w.sul, tick, 1);
	nap.tv_sec = 0;
	nap.tv_nsec = (long)(b->o.batch_ms * 1e6);
	while (!w.quit) {
		if (lws_service(w.ctx, 0) < 0)
			break;
		/* Idle hold: let pings pile up a little so one poll() serves many. */
		if (b->o.scenario == SC_IDLE && w.phase == PH_RUN && nap.tv_nsec > 0)
			nanosleep(&nap, NULL);
	}
	w.phase = PH_CLOSE;
	lws_sul_cancel(&w.sul);
	lws_context_destroy(w.ctx);
	for (i = 0; i < w.nconns; i++) {
		queue_free(&w.conns[i]);
		free(w.conns[i].rx);
	}
	free(w.conns);
	free(w.senders);
	__atomic_store_n(&w.sp->done, 1, __ATOMIC_RELEASE);
	return 0;
}

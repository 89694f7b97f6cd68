/* test_websocket.c -- tests the write-first output of ws-bridge/websocket.c and conn.c.
 *
 * The WebSocket is one end of a socketpair with small buffers; lws's write
 * path is replaced by a model of what lws 4.1.6 does (lib/core-net/output.c
 * lws_issue_raw): one send(), the rest of a short send kept by lws and a
 * writable callback asked for, later writes appended behind that rest. The
 * program's own definitions win over the shared library's for websocket.o
 * and conn.o, which are linked in.
 *
 * Each test runs twice: with the plain path (a lws_write() per send) and
 * with the io_uring path (CHAT_WS_IO_URING, wsring.h), whose sends go to
 * the socket itself and whose short sends hand their rest to lws_write().
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"
#include "websocket.h"

/* ---------------------------------------------------------------- fake lws */

static struct fake {
	int fd, peer;
	unsigned char *pend; /* lws's buflist_out: the rest of a short send */
	size_t pend_len;
	int armed;                /* writable callback asked for */
	unsigned writes, sends;   /* lws_write calls; send() calls */
	unsigned arms;            /* lws_callback_on_writable calls */
	int killed, close_reason; /* lws_set_timeout(KILL), lws_close_reason */
	int fail;                 /* send() fails (a reset peer) */
} fk;

/* Stands for the struct lws of the session's WebSocket: never looked into. */
static char fake_wsi;
#define WSI ((struct lws *)(void *)&fake_wsi)

static ssize_t fake_send(const unsigned char *buf, size_t len)
{
	ssize_t n;

	fk.sends++;
	if (fk.fail) {
		errno = ECONNRESET;
		return -1;
	}
	n = send(fk.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return n;
}

static int fake_keep(const unsigned char *buf, size_t len)
{
	unsigned char *n = realloc(fk.pend, fk.pend_len + len);

	if (!n)
		return -1;
	memcpy(n + fk.pend_len, buf, len);
	fk.pend = n;
	fk.pend_len += len;
	return 0;
}

int lws_callback_on_writable(struct lws *wsi);
int lws_callback_on_writable(struct lws *wsi)
{
	assert_ptr_equal(wsi, WSI);
	fk.arms++;
	fk.armed = 1;
	return 1;
}

/* lws_issue_raw: behind a kept rest, appended; else one send, the rest kept. */
static int fake_issue(const unsigned char *buf, size_t len)
{
	ssize_t n;

	if (fk.pend_len)
		return fake_keep(buf, len) ? -1 : (int)len;
	n = fake_send(buf, len);
	if (n < 0)
		return -1;
	if ((size_t)n < len) {
		if (fake_keep(buf + n, len - (size_t)n))
			return -1;
		lws_callback_on_writable(WSI);
	}
	return (int)len;
}

int lws_write(struct lws *wsi, unsigned char *buf, size_t len, enum lws_write_protocol wp)
{
	assert_ptr_equal(wsi, WSI);
	fk.writes++;
	if (wp == LWS_WRITE_TEXT) {
		/* lws builds the header in the LWS_PRE bytes before buf. */
		unsigned char hdr[WS_HEADER_MAX];
		size_t h = ws_text_header(hdr, len);

		memcpy(buf - h, hdr, h);
		return fake_issue(buf - h, len + h) < 0 ? -1 : (int)len;
	}
	assert_int_equal(wp, LWS_WRITE_RAW);
	return fake_issue(buf, len);
}

int lws_get_socket_fd(struct lws *wsi);
int lws_get_socket_fd(struct lws *wsi)
{
	assert_ptr_equal(wsi, WSI);
	return fk.fd;
}

int lws_partial_buffered(struct lws *wsi);
int lws_partial_buffered(struct lws *wsi)
{
	assert_ptr_equal(wsi, WSI);
	return fk.pend_len != 0;
}

int lws_send_pipe_choked(struct lws *wsi);
int lws_send_pipe_choked(struct lws *wsi)
{
	(void)wsi;
	fail_msg("lws_send_pipe_choked() costs a poll() per send");
	return 1;
}

void lws_set_timeout(struct lws *wsi, enum pending_timeout reason, int secs);
void lws_set_timeout(struct lws *wsi, enum pending_timeout reason, int secs)
{
	(void)secs;
	assert_ptr_equal(wsi, WSI);
	if (reason == PENDING_TIMEOUT_KILLED_BY_PARENT)
		fk.killed = 1;
}

void lws_close_reason(struct lws *wsi, enum lws_close_status status, unsigned char *buf,
		      size_t len);
void lws_close_reason(struct lws *wsi, enum lws_close_status status, unsigned char *buf, size_t len)
{
	(void)buf;
	(void)len;
	assert_ptr_equal(wsi, WSI);
	fk.close_reason = (int)status;
}

/*
 * One turn of lws's service for POLLOUT (lws_handle_POLLOUT_event): a kept
 * rest goes first and the callback stays asked for; else the interest is
 * dropped and the protocol's SERVER_WRITEABLE runs. Returns what it returned.
 */
static int fake_pollout(struct conn_wsi *w)
{
	if (!fk.armed)
		return 0;
	if (fk.pend_len) {
		ssize_t n = fake_send(fk.pend, fk.pend_len);

		assert_true(n >= 0);
		memmove(fk.pend, fk.pend + n, fk.pend_len - (size_t)n);
		fk.pend_len -= (size_t)n;
		return 0;
	}
	fk.armed = 0;
	return websocket_writeable(w, WSI);
}

/* ---------------------------------------------------------------- fixture */

static struct conn_set cs;
static struct cfg cfg;
static struct conn *c;
static struct conn_wsi w;

static const char *who(void *arg, const struct conn *cn)
{
	(void)arg;
	(void)cn;
	return "slow";
}

static int setup_with(int ring)
{
	struct conn_ops ops;
	int sv[2], small = 4096;

	memset(&fk, 0, sizeof(fk));
	memset(&ops, 0, sizeof(ops));
	ops.who = who;
	cfg.ws_io_uring = ring;
	conn_setup(&cs, &cfg, &ops);
	if (ring)
		assert_non_null(cs.ring);
	else
		assert_null(cs.ring);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* Small buffers: the socket fills after a few kilobytes. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	fk.fd = sv[0];
	fk.peer = sv[1];
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->cs = &cs;
	c->transport = CONN_WEBSOCKET;
	c->state = CONN_READY;
	c->ws = WSI;
	outq_init(&c->q, 64, 64 * 1024);
	memset(&w, 0, sizeof(w));
	w.c = c;
	w.kind = CW_WS;
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return setup_with(0);
}

static int setup_ring(void **state)
{
	(void)state;
	return setup_with(1);
}

/* Sends made on the socket: through lws (the fake's send()) or the ring. */
static unsigned nsends(void)
{
	return fk.sends + (unsigned)cs.ws_ring_sends;
}

static int teardown(void **state)
{
	(void)state;
	outq_release(&c->q);
	free(c);
	close(fk.fd);
	close(fk.peer);
	free(fk.pend);
	conn_teardown(&cs);
	return 0;
}

/* Queues frame "<i>:" padded with 'x' to len bytes. */
static int send_numbered(unsigned i, size_t len)
{
	static char buf[CONN_BATCH_MAX + 4096];
	struct frame *f;
	int rc, n = snprintf(buf, sizeof(buf), "%u:", i);

	assert_true(len >= (size_t)n && len <= sizeof(buf));
	memset(buf + n, 'x', len - (size_t)n);
	f = frame_from(buf, len);
	assert_non_null(f);
	rc = conn_send(c, f);
	frame_unref(f);
	return rc;
}

/* The reader: what the peer has received so far, parsed into frames. */
static struct reader {
	unsigned char buf[1 << 20];
	size_t len, off;
	unsigned next; /* the number the next frame must carry */
} rd;

/* Reads what is there and checks every whole frame: text, final, in order. */
static unsigned read_frames(void)
{
	unsigned got = 0;
	ssize_t n;

	while ((n = recv(fk.peer, rd.buf + rd.len, sizeof(rd.buf) - rd.len, MSG_DONTWAIT)) > 0)
		rd.len += (size_t)n;
	for (;;) {
		unsigned char *p = rd.buf + rd.off;
		size_t avail = rd.len - rd.off, h = 2, plen;
		unsigned num;

		if (avail < 2)
			break;
		assert_int_equal(p[0], 0x81);
		plen = p[1] & 0x7f;
		if (plen == 126) {
			if (avail < 4)
				break;
			plen = (size_t)p[2] << 8 | p[3];
			h = 4;
		}
		assert_true(plen < 65536);
		if (avail < h + plen)
			break;
		assert_int_equal(sscanf((char *)p + h, "%u:", &num), 1);
		assert_int_equal(num, rd.next);
		rd.next++;
		rd.off += h + plen;
		got++;
	}
	return got;
}

/* ---------------------------------------------------------------- tests */

/* Frames queued in one loop turn leave in one send, with no writable
 * interest armed and no poll(): write first, coalesced. */
static void test_write_first_one_send(void **state)
{
	(void)state;
	memset(&rd, 0, sizeof(rd));
	assert_int_equal(send_numbered(0, 100), 0);
	assert_int_equal(send_numbered(1, 100), 0);
	assert_int_equal(send_numbered(2, 300), 0);
	/* Nothing is written, nothing armed, until the loop turn ends. */
	assert_int_equal(fk.writes, 0);
	assert_int_equal(fk.arms, 0);
	assert_ptr_equal(cs.flush_head, c);
	conn_flush(&cs);
	assert_null(cs.flush_head);
	assert_int_equal(nsends(), 1);
	assert_int_equal(fk.arms, 0);
	assert_int_equal(c->q.count, 0);
	assert_int_equal(cs.ws_sends, 1);
	assert_int_equal(cs.ws_send_waits, 0);
	assert_int_equal(read_frames(), 3);
	/* The next turn: a single frame, one send again. */
	assert_int_equal(send_numbered(3, 50), 0);
	conn_flush(&cs);
	assert_int_equal(nsends(), 2);
	assert_int_equal(fk.arms, 0);
	assert_int_equal(read_frames(), 1);
}

/* A socket that fills: the short send's rest waits in lws, the frames
 * queued meanwhile wait in the queue (not written behind lws's back), and
 * once the reader reads everything arrives in order. */
static void test_full_socket_waits_in_order(void **state)
{
	unsigned i = 0, sends_then, queued_then, got = 0;

	(void)state;
	memset(&rd, 0, sizeof(rd));
	/* The plain path hands lws a short send's rest; the ring's send may
	 * also find no room at all, and the frames wait queued. */
	while (!lws_partial_buffered(WSI) && !fk.armed) {
		assert_true(i < 200);
		assert_int_equal(send_numbered(i++, 2000), 0);
		conn_flush(&cs);
	}
	assert_int_equal(fk.armed, 1);
	assert_int_equal(cs.ws_send_waits, 1);
	/* lws holds the rest of one send at most. */
	assert_true(fk.pend_len <= CONN_BATCH_MAX);
	sends_then = nsends();
	queued_then = c->q.count;
	for (unsigned k = 0; k < 10; k++) {
		assert_int_equal(send_numbered(i++, 2000), 0);
		conn_flush(&cs);
	}
	assert_int_equal(nsends(), sends_then);
	assert_int_equal(c->q.count, queued_then + 10);
	/* The reader catches up; writable callbacks drain lws, then the queue. */
	for (unsigned turn = 0; turn < 1000 && (c->q.count || fk.pend_len || got < i); turn++) {
		got += read_frames();
		assert_int_equal(fake_pollout(&w), 0);
	}
	got += read_frames();
	assert_int_equal(got, i);
	assert_int_equal(c->q.count, 0);
	assert_int_equal(fk.pend_len, 0);
	assert_int_equal(fk.killed, 0);
}

/* A reader that never reads: its queue stops at the bound, the session is
 * closed as too slow (1008) once the queue is flushed, nothing is dropped
 * from the middle and nothing more is written. */
static void test_slow_reader_hits_the_bound(void **state)
{
	unsigned i = 0, sends_then;

	(void)state;
	memset(&rd, 0, sizeof(rd));
	while (send_numbered(i, 1000) == 0) {
		assert_true(i < 1000);
		i++;
		conn_flush(&cs);
	}
	assert_int_equal(c->state, CONN_CLOSING);
	assert_int_equal(cs.slow_closed, 1);
	assert_int_equal(c->q.count, 0); /* released: the client is cut off */
	assert_true(fk.armed);
	/* The queue bound held: lws holds one send's rest at most. */
	assert_true(fk.pend_len <= CONN_BATCH_MAX);
	sends_then = nsends();
	assert_int_equal(send_numbered(i + 1, 10), -1);
	conn_flush(&cs);
	assert_int_equal(nsends(), sends_then);
	/* What reached the reader is a prefix, in order. */
	read_frames();
	assert_true(rd.next < i);
	/* Once lws has written its rest, the close frame goes (1008). */
	for (unsigned turn = 0; turn < 1000 && fk.armed; turn++) {
		read_frames();
		if (fake_pollout(&w) < 0)
			break;
	}
	assert_int_equal(fk.close_reason, LWS_CLOSE_STATUS_POLICY_VIOLATION);
	assert_int_equal(fk.pend_len, 0);
}

/* A send that fails (the peer reset): the session is killed through lws,
 * not written again. */
static void test_send_error_kills(void **state)
{
	(void)state;
	fk.fail = 1;
	/* The ring's send meets a real error: the peer is gone. */
	close(fk.peer);
	fk.peer = -1;
	assert_int_equal(send_numbered(0, 10), 0);
	conn_flush(&cs);
	assert_int_equal(fk.killed, 1);
	assert_int_equal(c->state, CONN_CLOSING);
	assert_int_equal(send_numbered(1, 10), -1);
	assert_null(cs.flush_head);
}

/* A session closed while on the flush list is not written by the flush:
 * its writable callback sends what is queued, then the close. */
static void test_closing_not_flushed(void **state)
{
	(void)state;
	assert_int_equal(send_numbered(0, 10), 0);
	assert_ptr_equal(cs.flush_head, c);
	c->state = CONN_CLOSING; /* not written: its writable callback closes it */
	conn_flush(&cs);
	assert_null(cs.flush_head);
	assert_int_equal(fk.writes, 0);
}

/* The ring: the frames of a flush in one submission, written to the socket
 * without lws; a frame too big to batch goes through lws_write(), and what
 * is queued behind its rest waits for it, in order. */
static void test_ring_one_submission(void **state)
{
	unsigned got = 0;

	(void)state;
	memset(&rd, 0, sizeof(rd));
	assert_int_equal(send_numbered(0, 100), 0);
	assert_int_equal(send_numbered(1, 200), 0);
	assert_int_equal(send_numbered(2, 130), 0); /* a 4-byte header */
	conn_flush(&cs);
	assert_int_equal(cs.ws_ring_submits, 1);
	assert_int_equal(cs.ws_ring_sends, 1);
	assert_int_equal(fk.writes, 0);
	assert_int_equal(fk.sends, 0);
	assert_int_equal(c->q.count, 0);
	assert_int_equal(cs.frames_out, 3);
	assert_int_equal(read_frames(), 3);
	/* Too big for a batch: lws frames it, and keeps the rest (small buffers). */
	assert_int_equal(send_numbered(3, CONN_BATCH_MAX + 100), 0);
	conn_flush(&cs);
	assert_int_equal(fk.writes, 1);
	assert_int_equal(cs.ws_ring_sends, 1);
	assert_true(lws_partial_buffered(WSI));
	assert_int_equal(send_numbered(4, 50), 0);
	conn_flush(&cs);
	assert_int_equal(cs.ws_ring_sends, 1); /* behind lws's rest: not written */
	assert_int_equal(c->q.count, 1);
	for (unsigned turn = 0; turn < 1000 && (c->q.count || fk.pend_len || got < 2); turn++) {
		got += read_frames();
		assert_int_equal(fake_pollout(&w), 0);
	}
	got += read_frames();
	assert_int_equal(got, 2);
	assert_int_equal(rd.next, 5);
	assert_int_equal(fk.killed, 0);
}

/* A short send through the ring (a unix socket takes 8064 of these 10 KB):
 * the frames it took leave the queue, the rest of the send goes to lws
 * (copied, one lws_write), which waits for the socket with it; the reader
 * gets every byte, in order. */
static void test_ring_short_send_rest_to_lws(void **state)
{
	unsigned got = 0;

	(void)state;
	memset(&rd, 0, sizeof(rd));
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(send_numbered(i, 2000), 0);
	conn_flush(&cs);
	assert_int_equal(cs.ws_ring_sends, 1);
	assert_int_equal(cs.ws_send_waits, 1);
	assert_int_equal(fk.writes, 1); /* the rest, LWS_WRITE_RAW */
	assert_true(fk.pend_len > 0 && fk.pend_len < 2002);
	assert_int_equal(c->q.count, 0);
	assert_int_equal(cs.frames_out, 5);
	assert_true(fk.armed);
	assert_int_equal(send_numbered(5, 10), 0);
	conn_flush(&cs);
	assert_int_equal(cs.ws_ring_sends, 1); /* waits behind lws's rest */
	for (unsigned turn = 0; turn < 1000 && (c->q.count || fk.pend_len || got < 6); turn++) {
		got += read_frames();
		assert_int_equal(fake_pollout(&w), 0);
	}
	got += read_frames();
	assert_int_equal(got, 6);
	assert_int_equal(rd.len, rd.off); /* nothing but whole frames */
	assert_int_equal(fk.killed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_first_one_send, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_socket_waits_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_reader_hits_the_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_error_kills, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closing_not_flushed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_first_one_send, setup_ring, teardown),
		cmocka_unit_test_setup_teardown(test_full_socket_waits_in_order, setup_ring,
						teardown),
		cmocka_unit_test_setup_teardown(test_slow_reader_hits_the_bound, setup_ring,
						teardown),
		cmocka_unit_test_setup_teardown(test_send_error_kills, setup_ring, teardown),
		cmocka_unit_test_setup_teardown(test_closing_not_flushed, setup_ring, teardown),
		cmocka_unit_test_setup_teardown(test_ring_one_submission, setup_ring, teardown),
		cmocka_unit_test_setup_teardown(test_ring_short_send_rest_to_lws, setup_ring,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

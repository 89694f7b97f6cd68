/* test_wsframe.c -- tests bench/wsframe.c: the load generator's frame scanner and bulk reader. */
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

#include "wsframe.h"

/* Writes an unmasked server frame; returns its length. */
static size_t server_frame(unsigned char *out, unsigned b0, const char *payload, size_t len)
{
	size_t h = 2;

	out[0] = (unsigned char)b0;
	if (len < 126) {
		out[1] = (unsigned char)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		h = 4;
	} else {
		out[1] = 127;
		memset(out + 2, 0, 8);
		out[6] = (unsigned char)(len >> 24);
		out[7] = (unsigned char)(len >> 16);
		out[8] = (unsigned char)(len >> 8);
		out[9] = (unsigned char)len;
		h = 10;
	}
	memcpy(out + h, payload, len);
	return h + len;
}

static void test_scan_every_length_form(void **state)
{
	static const size_t lens[] = { 0, 1, 125, 126, 65535, 65536, 200000 };
	unsigned char *buf = malloc(200000 + 16);
	char *payload = malloc(200000);
	size_t i;

	(void)state;
	assert_non_null(buf);
	assert_non_null(payload);
	memset(payload, 'p', 200000);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct ws_frame f;
		const char *why = NULL;
		size_t used = 0, n = server_frame(buf, 0x81, payload, lens[i]);

		assert_int_equal(ws_scan_frame(buf, n, 1u << 20, &f, &used, &why), WS_SCAN_FRAME);
		assert_int_equal(used, n);
		assert_int_equal(f.len, lens[i]);
		assert_int_equal(f.opcode, WS_OP_TEXT);
		assert_int_equal(f.fin, 1);
		assert_ptr_equal(f.payload, buf + n - lens[i]);
	}
	free(buf);
	free(payload);
}

/* Every cut of a frame short of its end is "more", never a frame or an error. */
static void test_scan_split_at_every_byte(void **state)
{
	unsigned char buf[400];
	char payload[300];
	size_t n, cut;

	(void)state;
	memset(payload, 'q', sizeof(payload));
	n = server_frame(buf, 0x81, payload, sizeof(payload));
	for (cut = 0; cut < n; cut++) {
		struct ws_frame f;
		const char *why = NULL;
		size_t used = 99;

		assert_int_equal(ws_scan_frame(buf, cut, 1u << 20, &f, &used, &why), WS_SCAN_MORE);
		/* Once the header is in, the whole frame's size is known. */
		assert_int_equal(used, cut >= 4 ? n : 0);
	}
}

static void test_scan_rejects_hostile_frames(void **state)
{
	static const unsigned char rsv[] = { 0xc1, 0x01, 'x' }; /* RSV1 without deflate */
	static const unsigned char masked[] = { 0x81, 0x81, 0, 0, 0, 0, 'x' };
	static const unsigned char opcode[] = { 0x83, 0x00 };          /* reserved opcode 3 */
	static const unsigned char ctl_frag[] = { 0x09, 0x00 };        /* ping without FIN */
	static const unsigned char ctl_long[] = { 0x89, 126, 0, 200 }; /* ping of 200 bytes */
	static const unsigned char top_bit[] = { 0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1 };
	static const unsigned char big[] = { 0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0 };
	const unsigned char *cases[] = { rsv, masked, opcode, ctl_frag, ctl_long, top_bit, big };
	const size_t lens[] = { sizeof(rsv),      sizeof(masked),  sizeof(opcode), sizeof(ctl_frag),
				sizeof(ctl_long), sizeof(top_bit), sizeof(big) };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ws_frame f;
		const char *why = NULL;
		size_t used;

		assert_int_equal(ws_scan_frame(cases[i], lens[i], 1u << 20, &f, &used, &why),
				 WS_SCAN_ERROR);
		assert_non_null(why);
	}
}

static void test_build_is_masked_and_round_trips(void **state)
{
	unsigned char out[WS_HDR_MAX + 300], key[4];
	char payload[300];
	size_t n, i;
	uint32_t mask = 0xa1b2c3d4u;

	(void)state;
	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (char)('a' + i % 26);
	n = ws_build_frame(out, WS_OP_TEXT, payload, sizeof(payload), mask);
	assert_int_equal(n, 4 + 4 + sizeof(payload));
	assert_int_equal(out[0], 0x81);
	assert_int_equal(out[1], 0x80 | 126);
	assert_int_equal(out[2] << 8 | out[3], sizeof(payload));
	memcpy(key, &mask, 4);
	assert_memory_equal(out + 4, key, 4);
	for (i = 0; i < sizeof(payload); i++)
		assert_int_equal(out[8 + i] ^ key[i & 3], (unsigned char)payload[i]);
}

/* What the reader hands on: every whole frame, once, in order. */
struct seen {
	int frames;
	size_t bytes;
	char last[64];
	int stop_after;
};

static int count_frames(void *ctx, const unsigned char *buf, size_t n, size_t *used)
{
	struct seen *s = ctx;
	size_t off = 0;

	for (;;) {
		struct ws_frame f;
		const char *why = NULL;
		size_t len;

		if (ws_scan_frame(buf + off, n - off, 1u << 20, &f, &len, &why) != WS_SCAN_FRAME)
			break;
		s->frames++;
		s->bytes += f.len;
		snprintf(s->last, sizeof(s->last), "%.*s", (int)f.len, (const char *)f.payload);
		off += len;
		if (s->stop_after && s->frames == s->stop_after)
			return -1;
	}
	*used = off;
	return 0;
}

static void test_rx_frame_split_across_reads(void **state)
{
	struct ws_buf rbuf = { 0 }, carry = { 0 };
	struct seen s = { 0 };
	unsigned char wire[256];
	size_t n1, n2;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	n1 = server_frame(wire, 0x81, "42[\"new_message\",{}]", 20);
	n2 = server_frame(wire + n1, 0x81, "2", 1);
	/* The first frame whole and the second's first header byte. */
	assert_int_equal(write(sv[1], wire, n1 + 1), (ssize_t)(n1 + 1));
	assert_int_equal(ws_rx_read(sv[0], &rbuf, &carry, 4096, 4, count_frames, &s), WS_RX_AGAIN);
	assert_int_equal(s.frames, 1);
	assert_int_equal(carry.len, 1);
	/* Nothing new to read: the carry stays. */
	assert_int_equal(ws_rx_read(sv[0], &rbuf, &carry, 4096, 4, count_frames, &s), WS_RX_AGAIN);
	assert_int_equal(carry.len, 1);
	assert_int_equal(write(sv[1], wire + n1 + 1, n2 - 1), (ssize_t)(n2 - 1));
	assert_int_equal(ws_rx_read(sv[0], &rbuf, &carry, 4096, 4, count_frames, &s), WS_RX_AGAIN);
	assert_int_equal(s.frames, 2);
	assert_string_equal(s.last, "2");
	assert_int_equal(carry.len, 0);
	close(sv[0]);
	close(sv[1]);
	ws_buf_free(&rbuf);
	ws_buf_free(&carry);
}

/* A frame larger than one read's chunk is put together over several reads. */
static void test_rx_frame_larger_than_a_read(void **state)
{
	struct ws_buf rbuf = { 0 }, carry = { 0 };
	struct seen s = { 0 };
	unsigned char *wire = malloc(5000);
	char payload[4000];
	size_t n;
	int sv[2], i;

	(void)state;
	assert_non_null(wire);
	memset(payload, 'z', sizeof(payload));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	n = server_frame(wire, 0x81, payload, sizeof(payload));
	assert_int_equal(write(sv[1], wire, n), (ssize_t)n);
	for (i = 0; i < 10 && !s.frames; i++)
		assert_int_equal(ws_rx_read(sv[0], &rbuf, &carry, 512, 2, count_frames, &s),
				 WS_RX_AGAIN);
	assert_int_equal(s.frames, 1);
	assert_int_equal(s.bytes, sizeof(payload));
	close(sv[0]);
	close(sv[1]);
	free(wire);
	ws_buf_free(&rbuf);
	ws_buf_free(&carry);
}

static void test_rx_server_closes_mid_frame(void **state)
{
	struct ws_buf rbuf = { 0 }, carry = { 0 };
	struct seen s = { 0 };
	unsigned char wire[64];
	size_t n;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	n = server_frame(wire, 0x81, "42[\"new_message\",{}]", 20);
	assert_int_equal(write(sv[1], wire, n - 5), (ssize_t)(n - 5));
	close(sv[1]);
	/* The first read keeps the unfinished frame; the next sees the end of the stream. */
	assert_int_equal(ws_rx_read(sv[0], &rbuf, &carry, 4096, 4, count_frames, &s), WS_RX_AGAIN);
	assert_int_equal(s.frames, 0);
	assert_int_equal(carry.len, n - 5);
	assert_int_equal(ws_rx_read(sv[0], &rbuf, &carry, 4096, 4, count_frames, &s),
			 WS_RX_EOF_MID);
	assert_int_equal(s.frames, 0);
	close(sv[0]);
	ws_buf_free(&rbuf);
	ws_buf_free(&carry);
}

static void test_rx_clean_eof_and_stop(void **state)
{
	struct ws_buf rbuf = { 0 }, carry = { 0 };
	struct seen s = { .stop_after = 1 };
	unsigned char wire[64];
	size_t n;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	n = server_frame(wire, 0x81, "2", 1);
	n += server_frame(wire + n, 0x81, "3", 1);
	assert_int_equal(write(sv[1], wire, n), (ssize_t)n);
	/* consume closed the connection after the first frame: stop there. */
	assert_int_equal(ws_rx_read(sv[0], &rbuf, &carry, 4096, 4, count_frames, &s),
			 WS_RX_STOPPED);
	assert_int_equal(s.frames, 1);
	close(sv[1]);
	s.stop_after = 0;
	assert_int_equal(ws_rx_read(sv[0], &rbuf, &carry, 4096, 4, count_frames, &s), WS_RX_EOF);
	close(sv[0]);
	ws_buf_free(&rbuf);
	ws_buf_free(&carry);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_every_length_form),
		cmocka_unit_test(test_scan_split_at_every_byte),
		cmocka_unit_test(test_scan_rejects_hostile_frames),
		cmocka_unit_test(test_build_is_masked_and_round_trips),
		cmocka_unit_test(test_rx_frame_split_across_reads),
		cmocka_unit_test(test_rx_frame_larger_than_a_read),
		cmocka_unit_test(test_rx_server_closes_mid_frame),
		cmocka_unit_test(test_rx_clean_eof_and_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
